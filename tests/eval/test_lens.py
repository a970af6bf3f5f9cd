"""`lens_statistics`: the lens every entry point shares, against the n x n matrix and the
closed forms (the simplex reaches the optimum; the Welch floor; VRN's definition).

Legend: N rows, D dimension.
"""

import pytest
import torch
import torch.nn.functional as F
from reference import simplex_etf

from contrastlens.eval.lens import lens_statistics
from contrastlens.theory import welch_bound

pytestmark = pytest.mark.usefixtures("one_thread")


def _views(N, D, seed):
    g = torch.Generator().manual_seed(seed)
    u_ND = torch.randn(N, D, generator=g, dtype=torch.float64) + 0.3
    return u_ND, u_ND + 0.6 * torch.randn(N, D, generator=g, dtype=torch.float64)


def test_pairs_match_the_matrix_and_the_evaluator_keys():
    u_ND, v_ND = _views(40, 6, seed=0)
    lens = lens_statistics(u_ND, v_ND, n=1000)
    s_NN = F.normalize(u_ND, dim=1) @ F.normalize(v_ND, dim=1).T
    neg = s_NN[~torch.eye(40, dtype=torch.bool)]
    assert lens.moments.neg_mean == pytest.approx(float(neg.mean()), rel=1e-10)
    assert lens.moments.neg_var == pytest.approx(float(neg.var(unbiased=False)), rel=1e-10)
    assert lens.vrn == pytest.approx(float(((neg + 1 / 999) ** 2).mean()), rel=1e-10)
    assert lens.welch_floor == welch_bound(1000, 6) and lens.optimum == -1 / 999
    uu = F.normalize(u_ND, dim=1) @ F.normalize(u_ND, dim=1).T
    vv = F.normalize(v_ND, dim=1) @ F.normalize(v_ND, dim=1).T
    off = ~torch.eye(40, dtype=torch.bool)
    want_aniso = float((uu[off].mean() + vv[off].mean()) / 2)
    assert lens.anisotropy == pytest.approx(want_aniso, rel=1e-10)
    assert list(lens.metrics()) == [
        "pos_mean",
        "neg_mean",
        "neg_var",
        "neg_second_moment",
        "welch_floor",
        "vrn",
        "alignment",
        "uniformity",
        "rankme",
        "gor_m1",
        "gor_m2",
        "gor_mean",
        "gor_second_moment",
    ]
    # without n: the dataset is the rows, and no VRN
    assert "vrn" not in lens_statistics(u_ND, v_ND).metrics()


def test_one_view_labels_and_spectrum():
    u_ND, _ = _views(30, 5, seed=1)
    y_N = torch.arange(30) % 3
    lens = lens_statistics(u_ND, labels=y_N, spectrum=True, pair_sums=True)
    s_NN = F.normalize(u_ND, dim=1) @ F.normalize(u_ND, dim=1).T
    off = ~torch.eye(30, dtype=torch.bool)
    same = (y_N[:, None] == y_N[None, :]) & off
    assert not lens.paired and "alignment" not in lens.diagnostics
    assert lens.moments.neg_mean == pytest.approx(float(s_NN[off].mean()), rel=1e-10)
    assert lens.moments.by_label.same_mean == pytest.approx(float(s_NN[same].mean()), rel=1e-10)
    # the covariance of unit rows has trace 1 - ||mean||^2
    mean_D = F.normalize(u_ND, dim=1).mean(0)
    assert sum(lens.spectrum) == pytest.approx(1 - float(mean_D @ mean_D), rel=1e-10)
    assert lens.pair_sums.n == 30


def test_the_simplex_sits_at_the_optimum_and_the_floor():
    z_ND = simplex_etf(8, 7)
    lens = lens_statistics(z_ND, z_ND)
    assert lens.moments.neg_mean == pytest.approx(-1 / 7, abs=1e-12)
    assert lens.moments.neg_var == pytest.approx(0.0, abs=1e-12)
    assert lens.neg_second_moment == pytest.approx(lens.welch_floor, abs=1e-12)  # n = d + 1


def test_bad_input_is_named():
    u_ND, v_ND = _views(5, 3, seed=2)
    zero = u_ND.clone()
    zero[3] = 0
    with pytest.raises(ValueError, match="all-zero row.*row 3"):
        lens_statistics(zero, v_ND)
    with pytest.raises(ValueError, match="same shape"):
        lens_statistics(u_ND, v_ND[:4])
    with pytest.raises(ValueError, match="N >= 2"):
        lens_statistics(u_ND[:1])
    with pytest.raises(ValueError, match=r"labels.*\(5,\)"):
        lens_statistics(u_ND, labels=torch.zeros(4, dtype=torch.long))
