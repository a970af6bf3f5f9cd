"""The theorems of section 5 checked by the free-embedding simulator with the real losses
(docs/theory.md, "Theorems": the paper's sizes; fewer steps, Adam + cosine decay, same tolerances).

Legend: N instances, D dimension.
"""

import pytest
import torch

from contrastlens.theory import (
    minibatch_variance_bounds,
    siglip_optimum,
    simulate,
    tradeoff_identity,
)

pytestmark = pytest.mark.usefixtures("one_thread")

N = 8


def _within_batch_negatives(res, m):
    sim_NN = res.u @ res.v.T
    same = torch.arange(N)[:, None] // m == torch.arange(N)[None, :] // m
    return sim_NN[same & ~torch.eye(N, dtype=torch.bool)]


@pytest.mark.parametrize(
    "loss,kw",
    [
        ("infonce", {"temperature": 0.2}),
        ("infonce", {"temperature": 0.5}),
        ("simclr", {"temperature": 0.2}),
        ("simclr", {"temperature": 0.5}),
        ("dcl", {"temperature": 0.2}),
        ("dcl", {"temperature": 0.5}),
        ("dhel", {"temperature": 0.2}),
        ("dhel", {"temperature": 0.5}),
        ("siglip", {"t": 5.0, "b": 3.0}),
    ],
)
def test_thm51_full_batch_reaches_simplex_etf(loss, kw):
    steps = 1000 if kw.get("temperature") == 0.2 else 500  # t = 0.2 settles more slowly
    res = simulate(loss, N, N, loss_kwargs=kw, steps=steps, lr=0.3, log_every=0, seed=1)
    f = res.final
    assert f["pos_min"] > 1 - 1e-4
    assert f["neg_mean"] == pytest.approx(-1 / (N - 1), abs=1e-4)
    assert f["neg_var"] < 1e-6 and abs(f["excess"]) < 1e-4
    assert res.u.shape == (N, N) and torch.allclose(res.u.norm(dim=1), torch.ones(N).double())
    # Thm 5.2 on the trained configuration: the identity and the inequality (tight here)
    t = tradeoff_identity(res.u, res.v)
    assert t.pos_mean == pytest.approx(t.rhs, abs=1e-10) and t.pos_mean <= t.bound + 1e-12


def test_example54_siglip_excessive_separation_and_within_view_fix():
    res = simulate("siglip", N, N, loss_kwargs={"t": 5.0, "b": -2.0}, steps=600, lr=0.3)
    f = res.final
    assert f["pos_mean"] == pytest.approx(-0.3798, abs=1e-3)
    assert f["neg_mean"] == pytest.approx(-0.7342, abs=1e-3)
    pred = siglip_optimum(5.0, -2.0, N)  # Thm 5.3's 1-D reduction predicts the same
    assert f["pos_mean"] == pytest.approx(pred.pos, abs=1e-3)
    assert f["neg_mean"] == pytest.approx(pred.neg, abs=1e-3)
    # the trajectory logs exact all-pairs statistics along the way
    assert res.trajectory[0]["step"] == 0 and res.trajectory[-1]["step"] == 599
    assert res.trajectory[-1]["neg_mean"] == pytest.approx(f["neg_mean"])
    # within-view negatives, (c1, c2) = (1, 1), restore the simplex ETF
    kw = {"t": 5.0, "b": -2.0, "within_view": True, "cross_view": True}
    f = simulate("siglip", N, N, loss_kwargs=kw, steps=600, lr=0.3, log_every=0).final
    assert f["pos_min"] > 1 - 1e-4
    assert f["neg_mean"] == pytest.approx(-1 / (N - 1), abs=1e-4) and f["neg_var"] < 1e-6
    # (c1, c2) = (0, 1): each view is a simplex at once; aligning the two simplices is slow
    # (the positive term's gradient is ~ t e^{-(t + b)}), so we check the direction of travel:
    # no excessive separation, within-view negatives at -1/(n-1), positives nearly aligned.
    kw = {"t": 5.0, "b": -2.0, "within_view": True, "cross_view": False}
    res = simulate("siglip", N, N, loss_kwargs=kw, steps=2000, lr=0.3, final_lr_frac=0.1)
    f = res.final
    assert f["within_mean"] == pytest.approx(-1 / (N - 1), abs=1e-6)
    assert f["pos_mean"] > 0.95 and f["pos_mean"] > res.trajectory[5]["pos_mean"]
    assert f["neg_mean"] > -1 / (N - 1) - 5e-3


@pytest.mark.parametrize("d", [3, 6, 16])
def test_thm55_fixed_minibatch_variance_within_bounds(d):
    m = 4
    lo, hi = minibatch_variance_bounds(N, m)
    res = simulate(
        "infonce",
        N,
        d,
        loss_kwargs={"temperature": 0.2},
        batch_size=m,
        partition="fixed",
        steps=1500,
        lr=0.2,
        log_every=0,
    )
    f = res.final
    assert f["pos_mean"] > 0.999
    assert f["neg_mean"] == pytest.approx(-1 / (N - 1), abs=2e-3)
    assert _within_batch_negatives(res, m).mean().item() == pytest.approx(-1 / 3, abs=2e-3)
    assert lo - 1e-3 <= f["neg_var"] <= hi + 1e-3
    if d == 3:  # d = m-1: the maximum is reached
        assert f["neg_var"] == pytest.approx(hi, abs=3e-3)


def test_vrn_lowers_all_pairs_negative_variance():
    m, d = 4, 16
    common = dict(
        loss_kwargs={"temperature": 0.2},
        batch_size=m,
        partition="fixed",
        steps=1000,
        lr=0.1,
        log_every=0,
        seed=3,
    )
    plain = simulate("infonce", N, d, **common)
    vrn = simulate("infonce", N, d, vrn_weight=30.0, **common)
    assert vrn.config["vrn_n"] == N
    assert vrn.final["neg_var"] < plain.final["neg_var"] - 0.005
    # within-batch negatives move from -1/(m-1) toward -1/(n-1)
    w_plain = _within_batch_negatives(plain, m).mean().item()
    w_vrn = _within_batch_negatives(vrn, m).mean().item()
    assert w_plain == pytest.approx(-1 / 3, abs=5e-3)
    assert abs(w_vrn + 1 / (N - 1)) < abs(w_plain + 1 / (N - 1)) / 2


def test_spectral_outside_the_theorems_puts_negatives_at_zero():
    # psi = x^2 is not increasing: the optimum has negatives at 0 (d >= n; docs/theory.md)
    f = simulate("spectral", N, N, steps=500, lr=0.3, log_every=0).final
    assert f["pos_min"] > 1 - 1e-6 and abs(f["neg_mean"]) < 1e-6 and f["neg_var"] < 1e-9


def test_reshuffled_minibatches_run_and_uneven_last_batch():
    res = simulate("simclr", 10, 12, batch_size=4, partition="reshuffle", steps=60, log_every=20)
    assert res.config["partition"] == "reshuffle" and len(res.trajectory) == 4
    assert res.trajectory[-1]["epoch"] == 19  # 3 batches (4, 4, 2) per epoch


def test_custom_callable_loss_and_gd():
    def align_only(z1, z2, scale=1.0):
        z1, z2 = torch.nn.functional.normalize(z1, dim=1), torch.nn.functional.normalize(z2, dim=1)
        return -scale * (z1 * z2).sum(1).mean()

    res = simulate(
        align_only,
        4,
        3,
        loss_kwargs={"scale": 2.0},
        optimizer="gd",
        lr=0.5,
        steps=300,
        final_lr_frac=1.0,
        log_every=0,
    )
    assert res.final["pos_min"] > 0.999 and res.config["loss"] == "align_only"


def test_bad_input_errors_and_warnings():
    with pytest.raises(ValueError, match="n .* >= 2"):
        simulate("infonce", 1, 4, steps=1)
    with pytest.raises(ValueError, match="larger than the dataset size"):
        simulate("infonce", 8, 8, batch_size=16, steps=1)
    with pytest.raises(ValueError, match="divide n"):
        simulate("infonce", 8, 8, batch_size=3, partition="fixed", steps=1)
    with pytest.raises(ValueError, match="unknown loss"):
        simulate("moco", 8, 8, steps=1)
    with pytest.raises(ValueError, match="partition"):
        simulate("infonce", 8, 8, batch_size=4, partition="random", steps=1)
    with pytest.warns(UserWarning, match="d = 3 < n-1 = 7"):
        res = simulate("infonce", 8, 3, steps=2, log_every=0)
    assert res.warnings and "Thm 5.1" in res.warnings[0]
    with pytest.warns(UserWarning, match="Thm 5.5"):
        simulate("infonce", 8, 2, batch_size=4, steps=2, log_every=0)
    with pytest.warns(UserWarning, match="Thm 5.3"):
        simulate("siglip", 8, 7, steps=2, log_every=0)
    # reshuffled batches need not divide n; no warning when assumptions hold
    simulate("infonce", 9, 8, batch_size=4, partition="reshuffle", steps=2, log_every=0)
