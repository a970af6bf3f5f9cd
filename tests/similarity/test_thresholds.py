"""`threshold_table` against counting the pairs at each threshold directly.

Legend: P positives, M negatives, H bins.
"""

import pytest
import torch

from contrastlens.similarity import StreamingHistogram, threshold_table


def _values(seed):
    g = torch.Generator().manual_seed(seed)
    pos_P = (0.6 + 0.2 * torch.randn(300, generator=g, dtype=torch.float64)).clamp(-1, 1)
    neg_M = (0.1 + 0.25 * torch.randn(5000, generator=g, dtype=torch.float64)).clamp(-1, 1)
    return pos_P, neg_M


def _direct(pos_P, neg_M, t):
    tp, fp = int((pos_P >= t).sum()), int((neg_M >= t).sum())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / pos_P.numel()
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@pytest.mark.parametrize("seed", [0, 1])
def test_rows_and_best_cut_count_the_pairs(seed):
    pos_P, neg_M = _values(seed)
    H = 400
    pos, neg = StreamingHistogram(H).update(pos_P), StreamingHistogram(H).update(neg_M)
    table = threshold_table(pos, neg, thresholds=(0.0, 0.25, 0.5, 0.9))
    assert table.exact and table.positives == 300 and table.negatives == 5000
    for row, t in zip(table.rows, (0.0, 0.25, 0.5, 0.9)):
        assert row.threshold == pytest.approx(t)
        precision, recall, f1 = _direct(pos_P, neg_M, row.threshold)
        assert (row.precision, row.recall, row.f1) == pytest.approx((precision, recall, f1))
    # the best cut: the maximum of F1 over every bin edge, counted directly
    edges = torch.linspace(-1, 1, H + 1, dtype=torch.float64)[:-1]
    f1s = [_direct(pos_P, neg_M, float(t))[2] for t in edges]
    assert table.best.f1 == pytest.approx(max(f1s))
    assert table.best.threshold == pytest.approx(float(edges[f1s.index(max(f1s))]))


def test_sampled_negatives_are_scaled_to_the_population():
    """A sample of the negatives with the population size: the same precision as the full set
    when the sample has the same distribution (here: every negative counted 4 times)."""
    pos_P, neg_M = _values(2)
    pos = StreamingHistogram(200).update(pos_P)
    full = threshold_table(pos, StreamingHistogram(200).update(neg_M))
    repeated = StreamingHistogram(200).update(neg_M.repeat(4))
    scaled = threshold_table(pos, repeated, negatives=neg_M.numel())
    assert not scaled.exact
    for a, b in zip(full.rows, scaled.rows):
        assert (a.precision, a.recall, a.false_pairs) == pytest.approx(
            (b.precision, b.recall, b.false_pairs)
        )


def test_threshold_table_rejects_mismatched_or_empty_histograms():
    with pytest.raises(ValueError, match="same bins"):
        threshold_table(StreamingHistogram(10), StreamingHistogram(20))
    with pytest.raises(ValueError, match="at least one"):
        threshold_table(StreamingHistogram(10), StreamingHistogram(10))
    pos = StreamingHistogram(10).update(torch.tensor([0.5]))
    with pytest.raises(ValueError, match="thresholds"):
        threshold_table(pos, pos, thresholds=(1.0,))
