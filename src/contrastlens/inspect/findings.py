"""The answers in words: what an `InspectResult` says about the questions practitioners ask
("why are my similarities all between 0.6 and 0.9?", "is my batch too small?", "which
threshold?", "how much do I lose with binary embeddings?").
"""

from __future__ import annotations

import math

import torch

from contrastlens.inspect.result import InspectResult
from contrastlens.similarity import StreamingHistogram

__all__ = ["findings", "hist_quantile"]


def hist_quantile(hist: StreamingHistogram, q: float) -> float:
    """The q-quantile of a histogram's values, linear within its bin (resolution: one bin)."""
    counts = hist.counts_H.double()
    total = float(counts.sum())
    if total == 0:
        return math.nan
    cum = counts.cumsum(0)
    k = int(torch.searchsorted(cum, q * total).clamp_max(hist.bins - 1))
    before = float(cum[k] - counts[k])
    inside = (q * total - before) / float(counts[k]) if counts[k] > 0 else 0.0
    width = (hist.hi - hist.lo) / hist.bins
    return hist.lo + (k + min(max(inside, 0.0), 1.0)) * width


def mean_direction_share(anisotropy: float, n: int) -> float:
    """||mean of the unit rows||^2 = (1 + (n - 1) a) / n for mean pair similarity a: the share
    of every unit vector's squared length that is the common direction."""
    return (1 + (n - 1) * anisotropy) / n


def findings(r: InspectResult) -> list[str]:
    """A few sentences, each answering one question with this subject's numbers."""
    lens, m = r.lens, r.lens.moments
    h = r.histograms
    out = []
    neg_lo, neg_hi = hist_quantile(h.neg, 0.05), hist_quantile(h.neg, 0.95)
    if lens.paired:
        pos_lo, pos_hi = hist_quantile(h.pos, 0.05), hist_quantile(h.pos, 0.95)
        out.append(
            f"Range: positives {pos_lo:.2f} to {pos_hi:.2f}, negatives {neg_lo:.2f} to "
            f"{neg_hi:.2f} (5th to 95th percentile of the cosine similarities)."
        )
    else:
        out.append(f"Range: pairs of rows {neg_lo:.2f} to {neg_hi:.2f} (5th to 95th percentile).")
    a = lens.anisotropy
    share = mean_direction_share(a, lens.rows)
    spread = 1 / math.sqrt(lens.dim)
    text = (
        f"Anisotropy: random pairs have mean cosine {a:.3f} (an isotropic embedding in "
        f"R^{lens.dim}: 0 +- {spread:.3f}); the mean direction holds {share:.0%} of every unit "
        "vector's squared length"
    )
    if a > 3 * spread:
        text += (
            ", so every similarity is lifted by about that much: compare similarities with each "
            "other (ranks, thresholds), or subtract the mean embedding before reading raw values"
        )
    out.append(text + ".")
    text = (
        f"Theory: negatives have mean {m.neg_mean:+.4f} against the full-batch optimum "
        f"-1/(n-1) = {lens.optimum:+.2e} (Thm 5.1, n = {lens.dataset_size:,}) and variance "
        f"{m.neg_var:.4f}; their second moment var + mean^2 = {lens.neg_second_moment:.4f}"
    )
    if lens.welch_floor > 0:
        text += (
            f" is {lens.neg_second_moment / lens.welch_floor:.1f}x the Welch floor "
            f"{lens.welch_floor:.4f}, the least any {lens.dataset_size:,} unit vectors in "
            f"R^{lens.dim} can reach."
        )
    else:
        text += (
            f", where the Welch floor is 0: n = {lens.dataset_size:,} <= d = {lens.dim}, so "
            "the simplex of Thm 5.1 (every negative at -1/(n-1), variance 0) fits."
        )
    out.append(text)
    split = m.by_label
    if split is not None and split.same_mean is not None and split.different_mean is not None:
        out.append(
            f"Labels: same-label negatives ({split.same_share:.1%} of all) have mean "
            f"{split.same_mean:.3f}, different-label ones {split.different_mean:.3f}: "
            + (
                "the embedding groups the labels."
                if split.same_mean > split.different_mean + math.sqrt(split.different_var or 0)
                else "the labels are not well separated."
            )
        )
    first = r.batches[0]
    full = r.batches[-1]
    text = (
        f"Batch {first.batch_size}: the in-batch negatives' variance is {first.neg_var:.4f} in "
        f"expectation ({full.neg_var:.4f} over all {full.batch_size:,} rows)"
    )
    fn = first.false_negatives
    if fn is not None and fn.share > 0:
        kinds = (("duplicate", first.duplicates), ("same label", first.same_label))
        text += (
            f"; {fn.anchors_with_any:.1%} of anchors meet at least one false negative "
            f"({' or '.join(k for k, v in kinds if v is not None)}), {fn.per_anchor:.2f} on "
            "average"
        )
        bigger = next((b for b in r.batches[1:-1]), None)
        if bigger is not None:
            text += (
                f" ({bigger.false_negatives.anchors_with_any:.1%} of anchors at batch "
                f"{bigger.batch_size})"
            )
    out.append(text + ".")
    if r.thresholds is not None:
        best = r.thresholds.best
        out.append(
            f"Threshold: s >= {best.threshold:.3f} separates pairs best (F1 {best.f1:.3f}: "
            f"precision {best.precision:.1%}, recall {best.recall:.1%})."
        )
    by_precision = {row.precision: row for row in r.retrieval}
    base = by_precision.get("float32")
    if base is not None and base.mrr_at_10 > 0:
        parts = [
            f"{p} ({4 * lens.dim / row.bytes_per_vector:.0f}x smaller) keeps "
            f"{row.mrr_at_10 / base.mrr_at_10:.0%} of it ({row.mrr_at_10:.3f})"
            for p, row in by_precision.items()
            if p != "float32"
        ]
        if parts:
            out.append(
                f"Precision: float32 retrieval has MRR@10 {base.mrr_at_10:.3f}; "
                + "; ".join(parts)
                + "."
            )
    return out
