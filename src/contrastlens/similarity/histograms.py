"""Fixed-bin histograms of similarities over [-1, 1]: streaming, exact by blocks, or sampled.

Shape legend:
    N  instances (rows of each view)
    D  embedding dimension
    R  rows in one block of the blocked pass
    K  values added in one update / sampled pairs
    H  bins
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from contrastlens.checks import check_embeddings


class StreamingHistogram:
    """Counts of values in H equal bins over [lo, hi]; values outside are clamped to the ends.

    `update(values)` adds any tensor of values; `counts_H` is int64, `edges` has H + 1 floats.
    Memory O(H) whatever the number of values.

    Args:
        bins: H >= 1.
        lo: the left end.
        hi: the right end, > lo.

    Examples:
        >>> import torch
        >>> from contrastlens.similarity import StreamingHistogram
        >>> hist = StreamingHistogram(bins=4).update(torch.tensor([-0.9, -0.2, 0.1, 0.3, 0.99]))
        >>> hist.counts_H, hist.total
        (tensor([1, 1, 2, 1]), 5)
    """

    def __init__(self, bins: int = 100, lo: float = -1.0, hi: float = 1.0) -> None:
        if bins < 1 or not hi > lo:
            raise ValueError(f"need bins >= 1 and hi > lo, got bins={bins}, [{lo}, {hi}]")
        self.bins, self.lo, self.hi = bins, float(lo), float(hi)
        self.counts_H = torch.zeros(bins, dtype=torch.int64)

    @torch.no_grad()
    def update(self, values: torch.Tensor) -> StreamingHistogram:
        """Adds any tensor of values (detached, flattened); returns self."""
        x_K = values.detach().reshape(-1).double()
        idx_K = ((x_K - self.lo) * (self.bins / (self.hi - self.lo))).floor().long()
        idx_K = idx_K.clamp_(0, self.bins - 1)
        self.counts_H += torch.bincount(idx_K, minlength=self.bins).cpu()
        return self

    @property
    def total(self) -> int:
        """The number of values counted."""
        return int(self.counts_H.sum())

    @property
    def edges(self) -> torch.Tensor:
        """(H + 1,) float64 bin edges from lo to hi."""
        return torch.linspace(self.lo, self.hi, self.bins + 1, dtype=torch.float64)

    def density(self) -> torch.Tensor:
        """(H,) probability density (integrates to 1 over [lo, hi])."""
        width = (self.hi - self.lo) / self.bins
        return self.counts_H.double() / max(self.total, 1) / width

    def to_dict(self) -> dict:
        """{"lo", "hi", "counts"} for a JSON file."""
        return {"lo": self.lo, "hi": self.hi, "counts": self.counts_H.tolist()}


@dataclass
class SimilarityHistograms:
    """Histograms of positives, cross-view negatives and within-view negatives.

    Attributes:
        pos: the positives u_i.v_i.
        neg: the cross-view negatives u_i.v_j, i != j.
        within: the within-view negatives u_i.u_j and v_i.v_j, i < j.
        exact: True when every pair was counted; otherwise `sample_size` random pairs per kind.
        sample_size: the sampled pairs per kind, or None when exact.
        same: with labels, the cross-view negatives of same-label pairs (with `different`,
            they add up to `neg`); None without labels.
        different: with labels, the cross-view negatives of different-label pairs.
    """

    pos: StreamingHistogram
    neg: StreamingHistogram
    within: StreamingHistogram
    exact: bool
    sample_size: int | None = None
    same: StreamingHistogram | None = None
    different: StreamingHistogram | None = None

    def to_dict(self) -> dict:
        """{"exact", "sample_size", "pos", "neg", "within"[, "same", "different"]} for JSON."""
        out = {
            "exact": self.exact,
            "sample_size": self.sample_size,
            "pos": self.pos.to_dict(),
            "neg": self.neg.to_dict(),
            "within": self.within.to_dict(),
        }
        if self.same is not None:
            out.update(same=self.same.to_dict(), different=self.different.to_dict())
        return out


@torch.no_grad()
def similarity_histograms(
    z1_ND: torch.Tensor,
    z2_ND: torch.Tensor,
    *,
    bins: int = 100,
    block: int = 2048,
    sample: int | None = None,
    seed: int = 0,
    labels: torch.Tensor | None = None,
    within: bool = True,
    grid: bool = False,
) -> SimilarityHistograms:
    """Histograms over [-1, 1] of the positive and negative similarities of a dataset.

    All positives (u_i.v_i), cross-view negatives (u_i.v_j, i != j, ordered) and within-view
    negatives (u_i.u_j and v_i.v_j, i < j): the distributions whose mean and variance the paper
    studies (Lee et al., ICML 2025; Thm 5.5 bounds the spread of the negatives).

    Args:
        z1_ND: (N, D) view 1 of the whole dataset, finite floating, N >= 2, D >= 1; rows are
            normalized here.
        z2_ND: (N, D) view 2; row i of z1_ND and of z2_ND are a positive pair.
        bins: H, equal bins over [-1, 1].
        block: rows per block of the exact pass, a positive integer (memory O(block * N)).
        sample: None: exact, every pair. K: K uniformly random pairs (i != j, with
            replacement) per negative kind, for N too large for N^2 work; the result says so
            (`exact=False`, `sample_size=K`). Drawn in chunks of `block` * 32 pairs, so memory
            stays O(block D) however large K is.
        seed: the sampling seed.
        labels: (N,) integer class ids: also split the cross-view negatives into `same`
            (y_i = y_j) and `different` histograms (of the same pairs, exact or sampled).
        within: False skips the within-view negatives (their histogram stays empty), e.g.
            when z2_ND is z1_ND and the cross-view pairs are already the within-view ones.
        grid: with sample=K, the pairs of a grid instead: R = ceil(sqrt(K)) random rows
            (without replacement) and R random columns, every (row, column) with row !=
            column counted. Each ordered pair i != j is equally likely to be in it (unbiased;
            its pairs share rows), and one (R, R) matrix product replaces K gathered rows.
            `sample_size` is the pairs counted.

    Returns:
        The three histograms (`pos`, `neg`, `within`) and whether they are exact.

    Examples:
        >>> from contrastlens.similarity import similarity_histograms
        >>> from contrastlens.theory import simplex_etf
        >>> hists = similarity_histograms(simplex_etf(5), simplex_etf(5), bins=10)
        >>> hists.pos.total, hists.neg.total, hists.within.total, hists.exact
        (5, 20, 20, True)
        >>> hists.neg.counts_H  # every negative at -1/4, in the bin [-0.4, -0.2)
        tensor([ 0,  0,  0, 20,  0,  0,  0,  0,  0,  0])

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025. <https://arxiv.org/abs/2506.09781>
    """
    for z, name in ((z1_ND, "z1_ND"), (z2_ND, "z2_ND")):
        if not isinstance(z, torch.Tensor):
            check_embeddings(z, name)  # raises: not a tensor
    if z1_ND.ndim != 2 or z1_ND.shape != z2_ND.shape or z1_ND.shape[0] < 2:
        raise ValueError(f"need two (N, D) views with N >= 2, got {tuple(z1_ND.shape)}")
    check_embeddings(z1_ND, "z1_ND")  # floating, D >= 1, finite: NaN would land in bin 0
    check_embeddings(z2_ND, "z2_ND")
    if isinstance(block, bool) or not isinstance(block, numbers.Integral) or block < 1:
        raise ValueError(f"block must be a positive integer (rows per block), got {block!r}")
    N = z1_ND.shape[0]
    if labels is not None and (
        not isinstance(labels, torch.Tensor)
        or labels.shape != (N,)
        or labels.is_floating_point()
        or labels.is_complex()
    ):
        got = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be ({N},) integer class ids, one per row, got {got}")
    u_ND = F.normalize(z1_ND.detach().float(), dim=1)
    v_ND = F.normalize(z2_ND.detach().float(), dim=1)
    y_N = None if labels is None else labels.to(u_ND.device)
    pos = StreamingHistogram(bins).update((u_ND * v_ND).sum(1))
    neg, within_hist = StreamingHistogram(bins), StreamingHistogram(bins)
    same = different = None
    if labels is not None:
        same, different = StreamingHistogram(bins), StreamingHistogram(bins)

    def add_negatives(s_K: torch.Tensor, same_K: torch.Tensor | None) -> None:
        neg.update(s_K)
        if same_K is not None:
            same.update(s_K[same_K])
            different.update(s_K[~same_K])

    if sample is None:
        cols_N = torch.arange(N, device=u_ND.device)
        for start in range(0, N, block):
            stop = min(start + block, N)
            rows_R = torch.arange(start, stop, device=u_ND.device)
            off_RN = rows_R[:, None] != cols_N[None, :]
            s_K = (u_ND[start:stop] @ v_ND.T)[off_RN]
            same_K = None if y_N is None else (y_N[start:stop, None] == y_N[None, :])[off_RN]
            add_negatives(s_K, same_K)
            if within:
                upper_RN = rows_R[:, None] < cols_N[None, :]
                within_hist.update((u_ND[start:stop] @ u_ND.T)[upper_RN])
                within_hist.update((v_ND[start:stop] @ v_ND.T)[upper_RN])
        return SimilarityHistograms(
            pos, neg, within_hist, exact=True, same=same, different=different
        )
    if isinstance(sample, bool) or not isinstance(sample, numbers.Integral) or sample < 1:
        raise ValueError(f"sample must be a positive number of pairs, got {sample!r}")
    gen = torch.Generator().manual_seed(seed)
    if grid:
        R = min(N, max(2, math.ceil(math.sqrt(sample))))
        rows_R = torch.randperm(N, generator=gen)[:R].to(u_ND.device)
        cols_R = torch.randperm(N, generator=gen)[:R].to(u_ND.device)
        off_RR = rows_R[:, None] != cols_R[None, :]
        same_K = None if y_N is None else (y_N[rows_R][:, None] == y_N[cols_R][None, :])[off_RR]
        add_negatives((u_ND[rows_R] @ v_ND[cols_R].T)[off_RR], same_K)
        if within:
            within_hist.update((u_ND[rows_R] @ u_ND[cols_R].T)[off_RR])
            within_hist.update((v_ND[rows_R] @ v_ND[cols_R].T)[off_RR])
        return SimilarityHistograms(
            pos,
            neg,
            within_hist,
            exact=False,
            sample_size=int(off_RR.sum()),
            same=same,
            different=different,
        )
    i_K = torch.randint(N, (sample,), generator=gen)
    j_K = (i_K + torch.randint(1, N, (sample,), generator=gen)) % N  # uniform over j != i
    i_K, j_K = i_K.to(u_ND.device), j_K.to(u_ND.device)
    half = sample // 2
    chunk = 32 * block
    for start in range(0, sample, chunk):
        i_C, j_C = i_K[start : start + chunk], j_K[start : start + chunk]
        same_C = None if y_N is None else y_N[i_C] == y_N[j_C]
        add_negatives((u_ND[i_C] * v_ND[j_C]).sum(1), same_C)
        if within:  # the first half of the sampled pairs in view 1, the rest in view 2
            first = max(0, min(half - start, i_C.shape[0]))
            within_hist.update((u_ND[i_C[:first]] * u_ND[j_C[:first]]).sum(1))
            within_hist.update((v_ND[i_C[first:]] * v_ND[j_C[first:]]).sum(1))
    return SimilarityHistograms(
        pos, neg, within_hist, exact=False, sample_size=sample, same=same, different=different
    )
