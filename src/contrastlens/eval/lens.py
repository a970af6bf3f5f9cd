"""The similarity lens of a set of embeddings: one call that every entry point shares
(`contrastlens inspect`, `contrastlens.inspect(...)`, sentence-transformers'
`SimilarityLensEvaluator`).

    lens = lens_statistics(anchors_ND, positives_ND, n=len(train_dataset))
    lens.moments.neg_var, lens.welch_floor, lens.diagnostics["rankme"], lens.metrics()

Shape legend: N rows (instances), D dimension.

Two forms. Pairs (z2_ND given): row i of z1_ND and z2_ND is a positive pair (u_i, v_i); the
negatives are the N(N-1) cross pairs (u_i, v_j), i != j, the paper's cross-view negatives. One
view (z2_ND=None): the negatives are all (u_i, u_j), i != j, and there are no positives.
Every similarity is the cosine of L2-normalized rows, and the moments are exact over all pairs
(`SimilarityAccumulator`, O(N D^2), no N x N matrix). It lives in eval/ (not similarity/)
because it compares the statistics with the theory's bounds (theory/ builds on similarity/).

Against what the paper's theory allows, at the dataset size n (`n`, else N):
    optimum      -1/(n-1), where every negative sits at the full-batch optimum (Thm 5.1)
    welch_floor  (n - d) / (d (n - 1)) for n > d: the least possible mean of s^2 over the
                 negatives of n unit vectors in R^d (`theory.welch_bound`); the negatives'
                 second moment, var + mean^2, cannot be lower once positives are aligned
    vrn          (with n) var + (mean - optimum)^2, the unweighted VRN term (Def 5.7)
    anisotropy   the mean similarity of random pairs of one view (within-view negatives):
                 about 0 for an isotropic embedding, large when every row shares a direction
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from contrastlens.checks import check_embeddings
from contrastlens.optimum import negative_optimum
from contrastlens.similarity import (
    PairSums,
    SimilarityAccumulator,
    SimilarityMoments,
    covariance_spectrum,
    embedding_diagnostics,
)
from contrastlens.theory.welch import welch_bound

__all__ = ["LensStatistics", "lens_statistics"]

# Rows per accumulator update: bounds the float64 copies at UPDATE_ROWS x D.
UPDATE_ROWS = 8192


@dataclass(frozen=True)
class LensStatistics:
    """What `lens_statistics` measures; `metrics()` is the flat dict of the evaluator."""

    rows: int  # N
    dim: int  # D
    paired: bool  # z2 given: positives (u_i, v_i), cross-view negatives
    dataset_size: int  # n of the optimum and the floor: the `n` given, else N
    moments: SimilarityMoments  # exact, over all pairs; by_label with labels
    optimum: float  # -1/(n-1)
    welch_floor: float
    neg_second_moment: float  # neg_var + neg_mean^2
    vrn: float | None  # with n: neg_var + (neg_mean - optimum)^2
    anisotropy: float  # mean similarity of random pairs of one view
    diagnostics: dict[str, float]  # alignment (pairs only), uniformity, rankme, gor_*
    uniformity_rows: int  # rows the uniformity was computed over (N: all)
    diagnostic_rows: int  # rows RankMe, GOR and the spectrum were computed over (N: all)
    pair_sums: PairSums | None = None  # with pair_sums=True (`expected_batch_variance`)
    spectrum: tuple[float, ...] | None = None  # with spectrum=True, descending

    def metrics(self) -> dict[str, float]:
        """pos_mean, neg_mean, neg_var, neg_second_moment, welch_floor, vrn (with n) and the
        diagnostics, as `SimilarityLensEvaluator` reports them (pairs only)."""
        m = self.moments
        out = {
            "pos_mean": m.pos_mean,
            "neg_mean": m.neg_mean,
            "neg_var": m.neg_var,
            "neg_second_moment": self.neg_second_moment,
            "welch_floor": self.welch_floor,
        }
        if self.vrn is not None:
            out["vrn"] = self.vrn
        return out | self.diagnostics


def _check_rows(z_ND: torch.Tensor, name: str) -> None:
    """A zero row has no direction: its cosine with anything is undefined (F.normalize would
    silently make it 0)."""
    zero_N = z_ND.detach().abs().amax(dim=1) == 0
    if bool(zero_N.any()):
        first = int(zero_N.nonzero()[0])
        raise ValueError(
            f"{name} has {int(zero_N.sum())} all-zero row(s) (first: row {first}), whose cosine "
            "similarity is undefined: drop those rows (or fix the model that produced them)"
        )


@torch.no_grad()
def lens_statistics(
    z1_ND: torch.Tensor,
    z2_ND: torch.Tensor | None = None,
    *,
    labels: torch.Tensor | None = None,
    n: int | None = None,
    uniformity_rows: int | None = None,
    diagnostic_rows: int | None = None,
    seed: int = 0,
    pair_sums: bool = False,
    spectrum: bool = False,
) -> LensStatistics:
    """The lens of (N, D) embeddings (module docstring).

    z1_ND: finite floating (N, D), N >= 2, no zero row; z2_ND: the positives, same shape, or
    None (one view). labels: (N,) integer class ids: `moments.by_label` splits the negatives
    into same-label and different-label pairs, exactly. n: the dataset size for the optimum,
    the Welch floor and VRN (e.g. the training-set size; default N, and then no VRN).
    uniformity_rows, seed: uniformity over a random subset of rows above that many
    (`embedding_diagnostics`). diagnostic_rows: RankMe, GOR's moments and the spectrum (an SVD
    each, O(N D^2)) over a random subset of that many rows when N is larger (drawn with
    `seed`; the moments stay exact, and alignment, 2 - 2 pos_mean, is taken from them).
    pair_sums: also the sums of `expected_batch_variance`.
    spectrum: also the covariance spectrum of z1's unit rows (`covariance_spectrum`).
    Returns `LensStatistics`."""
    check_embeddings(z1_ND, "z1_ND")
    if z2_ND is not None:
        check_embeddings(z2_ND, "z2_ND")
        if z2_ND.shape != z1_ND.shape:
            raise ValueError(
                f"z1_ND and z2_ND must have the same shape (N, D), got {tuple(z1_ND.shape)} "
                f"and {tuple(z2_ND.shape)}"
            )
    N, D = z1_ND.shape
    if N < 2:
        raise ValueError(f"the lens needs N >= 2 rows (negatives need a second row), got {N}")
    _check_rows(z1_ND, "z1_ND")
    if z2_ND is not None:
        _check_rows(z2_ND, "z2_ND")
    if n is not None:
        negative_optimum(n)  # an integer >= 2
    acc = SimilarityAccumulator(pair_sums=pair_sums)
    order_N = torch.arange(N)
    if labels is not None:  # one label's rows together: each update touches few label groups
        if not isinstance(labels, torch.Tensor) or labels.shape != (N,):
            got = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
            raise ValueError(f"labels must be a 1-D tensor of shape ({N},), got {got}")
        order_N = labels.cpu().argsort(stable=True)
    v_ND = z1_ND if z2_ND is None else z2_ND
    for start in range(0, N, UPDATE_ROWS):
        rows = order_N[start : start + UPDATE_ROWS].to(z1_ND.device)
        y = None if labels is None else labels[rows.to(labels.device)]
        acc.update(z1_ND[rows], v_ND[rows], labels=y)
    moments = acc.result()
    size = N if n is None else int(n)
    optimum = negative_optimum(size)
    d1_ND, d2_ND = z1_ND, z2_ND
    if diagnostic_rows is not None and N > diagnostic_rows:
        if diagnostic_rows < 2:
            raise ValueError(f"diagnostic_rows must be >= 2, got {diagnostic_rows}")
        gen = torch.Generator().manual_seed(seed + 1)
        rows_R = torch.randperm(N, generator=gen)[:diagnostic_rows].to(z1_ND.device)
        d1_ND = z1_ND[rows_R]
        d2_ND = None if z2_ND is None else z2_ND[rows_R]
    diagnostics = embedding_diagnostics(d1_ND, d2_ND, uniformity_rows=uniformity_rows, seed=seed)
    if z2_ND is not None and d1_ND is not z1_ND:  # exact over all pairs: E||u - v||^2 = 2 - 2 s
        diagnostics["alignment"] = 2.0 - 2.0 * moments.pos_mean
    return LensStatistics(
        rows=N,
        dim=D,
        paired=z2_ND is not None,
        dataset_size=size,
        moments=moments,
        optimum=optimum,
        welch_floor=welch_bound(size, D),
        neg_second_moment=moments.neg_var + moments.neg_mean**2,
        vrn=None if n is None else moments.neg_var + (moments.neg_mean - optimum) ** 2,
        anisotropy=moments.within_mean,
        diagnostics=diagnostics,
        uniformity_rows=d1_ND.shape[0]
        if uniformity_rows is None
        else min(d1_ND.shape[0], uniformity_rows),
        diagnostic_rows=d1_ND.shape[0],
        pair_sums=acc.pair_sums() if pair_sums else None,
        spectrum=tuple(covariance_spectrum(d1_ND, normalize_rows=True).tolist())
        if spectrum
        else None,
    )
