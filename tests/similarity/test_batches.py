"""`expected_batch_variance` and `batch_false_negatives` against the average over every batch
of small populations (tests/reference.py), and `SimilarityAccumulator.pair_sums` against the
n x n matrix.

Legend: N instances, D dimension, B batch size.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from reference import batch_variance_by_enumeration, false_negatives_by_enumeration

from contrastlens.similarity import (
    PairSums,
    SimilarityAccumulator,
    batch_false_negatives,
    expected_batch_variance,
    false_negative_partners,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _views(N, D, seed, shift=0.5):
    g = torch.Generator().manual_seed(seed)
    common_D = torch.randn(D, generator=g, dtype=torch.float64)
    u_ND = torch.randn(N, D, generator=g, dtype=torch.float64) + shift * common_D
    v_ND = u_ND + 0.8 * torch.randn(N, D, generator=g, dtype=torch.float64)
    return u_ND, v_ND


def _sums_from_matrix(s_NN: torch.Tensor) -> PairSums:
    """The PairSums definitions, straight from an n x n matrix."""
    N = s_NN.shape[0]
    off = s_NN.masked_fill(torch.eye(N, dtype=torch.bool), 0.0)
    r_N, c_N = off.sum(1), off.sum(0)
    return PairSums(
        n=N,
        total=float(off.sum()),
        square=float((off**2).sum()),
        swap=float((off * off.T).sum()),
        row_square=float((r_N**2).sum()),
        col_square=float((c_N**2).sum()),
        row_col=float((r_N * c_N).sum()),
    )


@pytest.mark.parametrize("N,D,rows", [(9, 4, 4), (13, 20, 13), (30, 3, 7)])
def test_pair_sums_match_the_matrix(N, D, rows):
    u_ND, v_ND = _views(N, D, seed=N)
    acc = SimilarityAccumulator(pair_sums=True)
    for start in range(0, N, rows):
        acc.update(u_ND[start : start + rows], v_ND[start : start + rows])
    got = acc.pair_sums()
    want = _sums_from_matrix(F.normalize(u_ND, dim=1) @ F.normalize(v_ND, dim=1).T)
    for key, value in want.as_dict().items():
        assert getattr(got, key) == pytest.approx(value, rel=1e-10, abs=1e-9), key
    # merged halves give the same sums
    a = SimilarityAccumulator(pair_sums=True).update(u_ND[:5], v_ND[:5])
    b = SimilarityAccumulator(pair_sums=True).update(u_ND[5:], v_ND[5:])
    merged = a.merge(b).pair_sums()
    for key, value in want.as_dict().items():
        assert getattr(merged, key) == pytest.approx(value, rel=1e-10, abs=1e-9), key


@pytest.mark.parametrize("one_view", [False, True])
@pytest.mark.parametrize("N,D,seed", [(6, 3, 0), (7, 5, 1), (8, 2, 2)])
def test_expected_batch_variance_is_the_mean_over_every_batch(N, D, seed, one_view):
    u_ND, v_ND = _views(N, D, seed)
    if one_view:
        v_ND = u_ND
    s_NN = F.normalize(u_ND, dim=1) @ F.normalize(v_ND, dim=1).T
    acc = SimilarityAccumulator(pair_sums=True).update(u_ND, v_ND)
    sums = acc.pair_sums()
    for B in range(2, N + 1):
        want = batch_variance_by_enumeration(s_NN, B)
        assert expected_batch_variance(sums, B) == pytest.approx(want, rel=1e-9, abs=1e-13)
    # B = n: the variance over all negatives
    assert expected_batch_variance(sums, N) == pytest.approx(acc.result().neg_var, rel=1e-9)
    if one_view:  # s symmetric: every batch of two has s_ij = s_ji, variance 0
        assert expected_batch_variance(sums, 2) == pytest.approx(0.0, abs=1e-14)


def test_expected_batch_variance_rejects_bad_batch_sizes():
    sums = SimilarityAccumulator(pair_sums=True).update(*_views(5, 3, 0)).pair_sums()
    for B in (1, 0, 6, 2.0, True):
        with pytest.raises(ValueError, match="batch size"):
            expected_batch_variance(sums, B)
    with pytest.raises(ValueError, match="pair_sums=True"):
        SimilarityAccumulator().update(*_views(5, 3, 0)).pair_sums()


@pytest.mark.parametrize(
    "labels,dups",
    [
        ([0, 0, 1, 1, 1, 2, 3, 3], None),
        ([0, 1, 2, 3, 4, 5, 6, 7], [0, 0, 1, 2, 2, 2, 3, 4]),
        ([0, 0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 2, 3, 3, 4, 5]),  # overlapping keys
        ([5, 5, 5, 5, 5, 5, 5, 5], None),  # every pair is a false negative
    ],
)
def test_false_negatives_are_the_mean_over_every_batch(labels, dups):
    keys = [labels] + ([dups] if dups is not None else [])
    partners_N = false_negative_partners(*(torch.tensor(k) for k in keys))
    brute = [
        sum(any(k[i] == k[j] for k in keys) for j in range(len(labels)) if j != i)
        for i in range(len(labels))
    ]
    assert partners_N.tolist() == brute
    for B in range(2, len(labels) + 1):
        got = batch_false_negatives(partners_N, B)
        want = false_negatives_by_enumeration(keys, B)
        assert got.share == pytest.approx(want["share"], rel=1e-12)
        assert got.per_anchor == pytest.approx(want["per_anchor"], rel=1e-12)
        assert got.anchors_with_any == pytest.approx(want["anchors_with_any"], rel=1e-12, abs=1e-15)


def test_false_negatives_closed_form_at_scale():
    """L balanced classes of n/L: share (n/L - 1)/(n - 1); at B = 2 an anchor has one other,
    a false negative with probability that share."""
    n, L = 10_000, 100
    partners_N = false_negative_partners(torch.arange(n) % L)
    share = (n / L - 1) / (n - 1)
    two = batch_false_negatives(partners_N, 2)
    assert two.share == pytest.approx(share) and two.anchors_with_any == pytest.approx(share)
    big = batch_false_negatives(partners_N, 512)
    # P(no false negative among 511 draws without replacement from 9999 with 99 partners)
    none = math.comb(n - 1 - 99, 511) / math.comb(n - 1, 511)
    assert big.anchors_with_any == pytest.approx(1 - none, rel=1e-9)
    assert big.per_anchor == pytest.approx(511 * share)


def test_false_negative_partners_rejects_bad_keys():
    with pytest.raises(ValueError, match="at least one"):
        false_negative_partners()
    with pytest.raises(ValueError, match="integer"):
        false_negative_partners(torch.zeros(4))
    with pytest.raises(ValueError, match=r"\(4,\)"):
        false_negative_partners(torch.zeros(4, dtype=torch.long), torch.zeros(3, dtype=torch.long))
