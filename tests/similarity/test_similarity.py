"""contrastlens.similarity against slow, obvious n x n loops (float64 tight, float32 loose).

Legend: N instances, D dimension, B batch.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlens.similarity import (
    SimilarityAccumulator,
    StreamingHistogram,
    check_excessive_separation,
    pair_stats,
    similarity_histograms,
)


def _views(N, D, seed=0, dtype=torch.float64, shift=0.5):
    g = torch.Generator().manual_seed(seed)
    common_D = torch.randn(D, generator=g, dtype=dtype)
    u_ND = torch.randn(N, D, generator=g, dtype=dtype) + shift * common_D
    v_ND = u_ND + 0.7 * torch.randn(N, D, generator=g, dtype=dtype)
    return u_ND, v_ND


def _brute(u_ND, v_ND):
    """All pairs by plain Python-level masking (the reference)."""
    u_ND, v_ND = F.normalize(u_ND.double(), dim=1), F.normalize(v_ND.double(), dim=1)
    N = u_ND.shape[0]
    off = ~torch.eye(N, dtype=torch.bool)
    upper = torch.ones(N, N, dtype=torch.bool).triu(1)
    pos = (u_ND * v_ND).sum(1)
    neg = (u_ND @ v_ND.T)[off]
    within = torch.cat([(u_ND @ u_ND.T)[upper], (v_ND @ v_ND.T)[upper]])
    return {
        "pos": (pos.mean().item(), pos.var(unbiased=False).item()),
        "neg": (neg.mean().item(), neg.var(unbiased=False).item()),
        "within": (within.mean().item(), within.var(unbiased=False).item()),
    }


@pytest.mark.parametrize("N,D,B", [(37, 5, 8), (50, 16, 50), (101, 7, 13), (2, 3, 1)])
def test_accumulator_equals_brute_force(N, D, B):
    u_ND, v_ND = _views(N, D, seed=N)
    acc = SimilarityAccumulator()
    for start in range(0, N, B):  # uneven last batch whenever B does not divide N
        acc.update(u_ND[start : start + B], v_ND[start : start + B])
    got, ref = acc.result(), _brute(u_ND, v_ND)
    assert got.n == N and got.neg_count == N * (N - 1)
    for kind in ("pos", "neg", "within"):
        assert abs(getattr(got, f"{kind}_mean") - ref[kind][0]) < 1e-9
        assert abs(getattr(got, f"{kind}_var") - ref[kind][1]) < 1e-9
    assert got.optimum == pytest.approx(-1 / (N - 1))


def test_accumulator_unnormalized_and_merge():
    u_ND, v_ND = _views(30, 6, seed=3)
    a = SimilarityAccumulator(normalize=False).update(u_ND[:11], v_ND[:11])
    b = SimilarityAccumulator(normalize=False).update(u_ND[11:], v_ND[11:])
    got = a.merge(b).result()
    pairs = ~torch.eye(30, dtype=torch.bool)
    neg = (u_ND @ v_ND.T)[pairs]
    assert got.neg_mean == pytest.approx(neg.mean().item(), abs=1e-9)
    assert got.neg_var == pytest.approx(neg.var(unbiased=False).item(), abs=1e-9)


def test_accumulator_float32_input_close_and_errors():
    u_ND, v_ND = _views(64, 8, seed=4)
    got = SimilarityAccumulator().update(u_ND.float(), v_ND.float()).result()
    ref = _brute(u_ND, v_ND)
    assert got.neg_mean == pytest.approx(ref["neg"][0], abs=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        SimilarityAccumulator().update(u_ND[:1], v_ND[:1]).result()
    with pytest.raises(ValueError, match="dimension"):
        SimilarityAccumulator().update(u_ND, v_ND).update(u_ND[:, :3], v_ND[:, :3])


def test_pair_stats_matches_brute_force_and_simplex():
    u_ND, v_ND = _views(24, 10, seed=5)
    s, ref = pair_stats(u_ND, v_ND, n=1000), _brute(u_ND, v_ND)
    for kind in ("pos", "neg", "within"):
        assert getattr(s, f"{kind}_mean") == pytest.approx(ref[kind][0], abs=1e-12)
        assert getattr(s, f"{kind}_var") == pytest.approx(ref[kind][1], abs=1e-12)
    assert s.alignment == pytest.approx(2 - 2 * ref["pos"][0])
    assert s.optimum == pytest.approx(-1 / 999) and s.excess == pytest.approx(s.neg_mean + 1 / 999)
    assert s.neg_quantiles[2] <= s.neg_quantiles[4]
    flat = s.as_dict(prefix="sim/")
    assert "sim/neg_q50" in flat and flat["sim/neg_mean"] == s.neg_mean

    # a regular simplex (u = v): positives 1, every negative -1/(n-1), no spread
    N = 6
    e_NN = torch.eye(N, dtype=torch.float64) - 1 / N
    s = pair_stats(e_NN, e_NN, n=N)
    assert s.pos_mean == pytest.approx(1.0) and s.neg_mean == pytest.approx(-1 / (N - 1))
    assert s.neg_var < 1e-24 and abs(s.excess) < 1e-12 and s.alignment == pytest.approx(0.0)
    # Wang-Isola uniformity: log mean exp(-2 ||x - y||^2), ||x - y||^2 = 2 + 2/(N-1)
    assert s.uniformity == pytest.approx(-2 * (2 + 2 / (N - 1)))


def test_pair_stats_ids_exclude_duplicates():
    u_ND, v_ND = _views(8, 4, seed=6)
    ids = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3])
    s = pair_stats(u_ND, v_ND, ids=ids)
    keep = ids[:, None] != ids[None, :]
    u, v = F.normalize(u_ND, dim=1), F.normalize(v_ND, dim=1)
    assert s.neg_count == int(keep.sum()) == 48
    assert s.neg_mean == pytest.approx((u @ v.T)[keep].mean().item(), abs=1e-12)
    assert s.within_count == 48  # 24 unordered pairs per view


def test_pair_stats_bad_input_and_float32():
    with pytest.raises(ValueError, match="at least 2"):
        pair_stats(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match="equal shape"):
        pair_stats(torch.randn(3, 4), torch.randn(2, 4))
    with pytest.raises(ValueError, match="n must be >= 2"):
        pair_stats(torch.randn(3, 4), torch.randn(3, 4), n=1)
    s = pair_stats(torch.randn(16, 4), torch.randn(16, 4))
    assert math.isfinite(s.neg_mean) and s.n is None and s.excess is None


def test_histograms_exact_and_sampled():
    u_ND, v_ND = _views(45, 6, seed=7)
    h = similarity_histograms(u_ND, v_ND, bins=40, block=7)
    assert h.exact and h.pos.total == 45
    assert h.neg.total == 45 * 44 and h.within.total == 45 * 44
    u, v = F.normalize(u_ND, dim=1).float(), F.normalize(v_ND, dim=1).float()
    ref = StreamingHistogram(40).update((u @ v.T)[~torch.eye(45, dtype=torch.bool)])
    assert torch.equal(h.neg.counts_H, ref.counts_H)
    assert h.neg.density().sum().item() * (2 / 40) == pytest.approx(1.0)
    hs = similarity_histograms(u_ND, v_ND, bins=40, sample=5000, seed=1)
    assert not hs.exact and hs.sample_size == 5000 and hs.neg.total == 5000
    # the sampled histogram estimates the same distribution
    assert (hs.neg.density() - h.neg.density()).abs().mean() < 0.15
    edge = StreamingHistogram(4).update(torch.tensor([-1.0, 1.0, 1.5, 0.0]))
    assert edge.counts_H.tolist() == [1, 0, 1, 2]


def test_separation_check_messages():
    bad = check_excessive_separation(-0.3798, -0.7342, 8)
    assert bad.excessive and "EXCESSIVE SEPARATION" in str(bad)
    assert bad.max_pos_mean == pytest.approx(1 - 0.7342 + 1 / 7)
    assert bad.excess == pytest.approx(-0.7342 + 1 / 7)
    ok = check_excessive_separation(1.0, -1 / 7, 8)
    assert not ok.excessive and "no excessive separation" in ok.message
    with pytest.raises(ValueError):
        check_excessive_separation(1.0, -1.0, 1)


def test_pair_stats_float32_large_batch_close_to_float64():
    u_ND, v_ND = _views(300, 16, seed=8)  # 89,700 negatives: quantiles from evenly spaced rows
    s32, s64 = pair_stats(u_ND.float(), v_ND.float()), pair_stats(u_ND, v_ND)
    assert s32.neg_count == 300 * 299
    for key in ("pos_mean", "neg_mean", "neg_var", "within_mean", "within_var", "uniformity"):
        assert getattr(s32, key) == pytest.approx(getattr(s64, key), rel=1e-5, abs=1e-6)
    ref = _brute(u_ND, v_ND)
    assert s64.neg_var == pytest.approx(ref["neg"][1], abs=1e-12)
    u, v = F.normalize(u_ND, dim=1), F.normalize(v_ND, dim=1)
    exact_q = torch.quantile((u @ v.T)[~torch.eye(300, dtype=torch.bool)], 0.5).item()
    assert s64.neg_quantiles[2] == pytest.approx(exact_q, abs=0.02)
