"""The pieces the similarity lens adds to existing functions: label-split and single-view
histograms, one-view and subsampled-uniformity diagnostics.

Legend: N instances, D dimension.
"""

import pytest
import torch
import torch.nn.functional as F
from reference import histogram_counts

from contrastlens.similarity import embedding_diagnostics, similarity_histograms, uniformity

pytestmark = pytest.mark.usefixtures("one_thread")


def _views(N, D, seed):
    g = torch.Generator().manual_seed(seed)
    u_ND = torch.randn(N, D, generator=g, dtype=torch.float64) + 0.4
    return u_ND, u_ND + 0.9 * torch.randn(N, D, generator=g, dtype=torch.float64)


def test_histograms_split_by_label_exact_and_sampled():
    u_ND, v_ND = _views(37, 5, seed=1)
    y_N = torch.arange(37) % 4
    h = similarity_histograms(u_ND, v_ND, bins=30, block=8, labels=y_N, within=False)
    assert h.within.total == 0 and h.same.total + h.different.total == h.neg.total == 37 * 36
    s_NN = (F.normalize(u_ND, dim=1) @ F.normalize(v_ND, dim=1).T).float()
    off_NN = ~torch.eye(37, dtype=torch.bool)
    same_NN = (y_N[:, None] == y_N[None, :]) & off_NN
    assert h.same.counts_H.tolist() == histogram_counts(s_NN[same_NN].tolist(), 30)
    assert h.different.counts_H.tolist() == histogram_counts(s_NN[off_NN & ~same_NN].tolist(), 30)
    # sampled: the labels of each sampled pair decide its histogram; same pairs as unlabeled
    hs = similarity_histograms(u_ND, v_ND, bins=30, sample=3000, seed=2, labels=y_N, block=16)
    plain = similarity_histograms(u_ND, v_ND, bins=30, sample=3000, seed=2, block=16)
    assert torch.equal(hs.neg.counts_H, plain.neg.counts_H)
    assert torch.equal(hs.within.counts_H, plain.within.counts_H)
    assert torch.equal(hs.same.counts_H + hs.different.counts_H, hs.neg.counts_H)
    assert 0.15 < hs.same.total / 3000 < 0.35  # about 8/36 of the pairs share a label
    with pytest.raises(ValueError, match="integer class ids"):
        similarity_histograms(u_ND, v_ND, labels=y_N.double())


def test_one_view_diagnostics_and_subsampled_uniformity():
    u_ND, v_ND = _views(60, 7, seed=3)
    one = embedding_diagnostics(u_ND)
    both = embedding_diagnostics(u_ND, u_ND)
    assert "alignment" not in one
    assert {k: both[k] for k in one} == pytest.approx(one)
    sub = embedding_diagnostics(u_ND, v_ND, uniformity_rows=20, seed=4)
    rows = torch.randperm(60, generator=torch.Generator().manual_seed(4))[:20]
    want = (float(uniformity(u_ND[rows])) + float(uniformity(v_ND[rows]))) / 2
    assert sub["uniformity"] == pytest.approx(want, rel=1e-12)
    full = embedding_diagnostics(u_ND, v_ND, uniformity_rows=60)  # not above: all rows
    assert full == embedding_diagnostics(u_ND, v_ND)


def test_grid_sample_is_unbiased_and_split_by_label():
    """A grid of random rows x random columns: every ordered pair i != j equally likely, so the
    average of many grids' histograms is the exact histogram (up to sampling noise)."""
    u_ND, v_ND = _views(25, 4, seed=5)
    y_N = torch.arange(25) % 3
    exact = similarity_histograms(u_ND, v_ND, bins=8, labels=y_N)
    total = torch.zeros(8, dtype=torch.float64)
    for seed in range(300):
        h = similarity_histograms(u_ND, v_ND, bins=8, sample=100, seed=seed, grid=True, labels=y_N)
        assert h.neg.total == h.sample_size and h.within.total == 2 * h.sample_size
        assert torch.equal(h.same.counts_H + h.different.counts_H, h.neg.counts_H)
        total += h.neg.counts_H.double() / h.neg.total
    want = exact.neg.counts_H.double() / exact.neg.total
    assert (total / 300 - want).abs().max() < 0.01
    again = similarity_histograms(u_ND, v_ND, bins=8, sample=100, seed=7, grid=True)
    assert torch.equal(
        again.neg.counts_H,
        similarity_histograms(u_ND, v_ND, bins=8, sample=100, seed=7, grid=True).neg.counts_H,
    )
