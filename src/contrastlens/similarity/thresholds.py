"""Which similarity threshold separates pairs from non-pairs: precision, recall and F1 of the
rule "s >= t means a pair", from the histograms of the positives' and negatives' similarities.

    table = threshold_table(hists.pos, hists.neg)            # exact histograms
    table.best                                               # the cut that maximizes F1

Shape legend: H bins.

At a bin edge t, the values >= t are exactly those in the bins from t up (a value in a bin lies
at or above its lower edge), so the counts are exact at every edge of exact histograms (the
resolution is the bin width: 2 / H on [-1, 1]). With P positives and M negatives in all,

    recall(t)    = TP(t) / P
    precision(t) = TP(t) / (TP(t) + FP(t))    (1 when nothing is predicted: no false pair)
    F1(t)        = 2 precision recall / (precision + recall)

A histogram of sampled pairs counts `total` of them; `positives` / `negatives` give the
population sizes, and the counts are scaled by population / sampled (an estimate, noisy in the
tails: a negative tail of share 1e-6 is about one count in a million sampled pairs).
Precision depends on how many negatives there are per positive: here every positive pair
against every negative pair of the set (n(n-1) cross pairs for n positive pairs), the
"is this pair a pair?" question over all pairs of the set.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from contrastlens.similarity.histograms import StreamingHistogram

__all__ = ["DEFAULT_THRESHOLDS", "ThresholdRow", "ThresholdTable", "threshold_table"]

DEFAULT_THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class ThresholdRow:
    """Precision, recall and F1 of "s >= threshold is a pair" (threshold: a bin edge)."""

    threshold: float
    precision: float
    recall: float
    f1: float
    true_pairs: float  # TP: positives at or above (scaled when sampled)
    false_pairs: float  # FP: negatives at or above (scaled when sampled)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ThresholdTable:
    """`threshold_table`'s rows at the asked thresholds, and the best-F1 cut over all edges."""

    rows: tuple[ThresholdRow, ...]
    best: ThresholdRow
    positives: int
    negatives: int
    exact: bool  # both histograms counted every pair
    resolution: float  # the bin width

    def as_dict(self) -> dict:
        return {
            "rows": [r.as_dict() for r in self.rows],
            "best": self.best.as_dict(),
            "positives": self.positives,
            "negatives": self.negatives,
            "exact": self.exact,
            "resolution": self.resolution,
        }


def _at_or_above(hist: StreamingHistogram) -> torch.Tensor:
    """(H,) float64: how many values lie at or above each lower bin edge."""
    return hist.counts_H.double().flip(0).cumsum(0).flip(0)


def threshold_table(
    pos: StreamingHistogram,
    neg: StreamingHistogram,
    *,
    positives: int | None = None,
    negatives: int | None = None,
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS,
) -> ThresholdTable:
    """Precision, recall and F1 of "s >= t is a pair" at the bin edges nearest `thresholds`, and
    the edge that maximizes F1 (module docstring).

    pos, neg: histograms of the positives' and the negatives' similarities, with the same bins.
    positives, negatives: the population sizes when a histogram counts a sample of pairs
    (None: the histogram counted them all). thresholds: values in [lo, hi).
    Returns a `ThresholdTable` (F1 ties: the lowest threshold).

    Example:
        >>> import torch
        >>> pos = StreamingHistogram(20).update(torch.tensor([0.8, 0.9]))
        >>> neg = StreamingHistogram(20).update(torch.tensor([0.1, 0.2, 0.85]))
        >>> row = threshold_table(pos, neg, thresholds=(0.5,)).rows[0]
        >>> row.threshold, round(row.precision, 3), row.recall
        (0.5, 0.667, 1.0)
    """
    if (pos.bins, pos.lo, pos.hi) != (neg.bins, neg.lo, neg.hi):
        raise ValueError(
            f"pos and neg need the same bins, got {pos.bins} on [{pos.lo}, {pos.hi}] and "
            f"{neg.bins} on [{neg.lo}, {neg.hi}]"
        )
    if pos.total == 0 or neg.total == 0:
        raise ValueError("threshold_table needs at least one positive and one negative value")
    P = pos.total if positives is None else positives
    M = neg.total if negatives is None else negatives
    tp_H = _at_or_above(pos) * (P / pos.total)
    fp_H = _at_or_above(neg) * (M / neg.total)
    recall_H = tp_H / P
    predicted_H = tp_H + fp_H
    precision_H = torch.where(predicted_H > 0, tp_H / predicted_H.clamp_min(1e-300), 1.0)
    both_H = precision_H + recall_H
    f1_H = torch.where(both_H > 0, 2 * precision_H * recall_H / both_H.clamp_min(1e-300), 0.0)
    edges_H = pos.edges[:-1]
    width = (pos.hi - pos.lo) / pos.bins

    def row(k: int) -> ThresholdRow:
        return ThresholdRow(
            threshold=round(float(edges_H[k]), 12) + 0.0,  # the edge, without -0.0 and 1e-17
            precision=float(precision_H[k]),
            recall=float(recall_H[k]),
            f1=float(f1_H[k]),
            true_pairs=float(tp_H[k]),
            false_pairs=float(fp_H[k]),
        )

    rows = []
    for t in thresholds:
        if not pos.lo <= t < pos.hi:
            raise ValueError(f"thresholds must lie in [{pos.lo}, {pos.hi}), got {t!r}")
        rows.append(row(min(round((t - pos.lo) / width), pos.bins - 1)))
    best = int(torch.nonzero(f1_H == f1_H.max())[0])  # the lowest edge among ties
    return ThresholdTable(
        rows=tuple(rows),
        best=row(best),
        positives=int(P),
        negatives=int(M),
        exact=P == pos.total and M == neg.total,
        resolution=width,
    )
