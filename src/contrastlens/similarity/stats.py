"""Per-batch statistics of positive and negative similarities, for logging (docs/theory.md,
"Notation").

Shape legend:
    B  pairs in the batch (instances seen twice, once per view)
    D  embedding dimension
    K  number of negative pairs kept by the mask
    Q  number of quantile levels

Rows are L2-normalized here, so every similarity is a cosine in [-1, 1]. Positive pairs are
(u_i, v_i); cross-view negatives (u_i, v_j), i != j; within-view negatives (u_i, u_j) and
(v_i, v_j), i != j. With `ids`, pairs of rows that share an id are not negatives (the same
instance seen twice in one batch). Means and variances are population moments over the pairs
(the paper's E[s] and Var[s] over the empirical distribution).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from contrastlens.checks import check_dataset_size, check_embeddings, check_ids
from contrastlens.optimum import negative_optimum

QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
# Quantiles need a sort: above this many negatives they come from evenly spaced rows (cheap).
MAX_QUANTILE_VALUES = 1 << 16


@dataclass(frozen=True)
class PairStats:
    """Similarity statistics of one batch; see `pair_stats`. Floats, ready for a JSON log.

    Attributes:
        batch_size: B, the pairs in the batch.
        pos_mean: E[s_pos] over the B positive pairs (u_i, v_i).
        pos_var: Var[s_pos] (population variance).
        pos_quantiles: quantiles of s_pos at `quantile_levels`.
        neg_count: the cross-view negatives (u_i, v_j), i != j (different ids), ordered.
        neg_mean: E[s_neg] over them.
        neg_var: Var[s_neg] over them (population variance).
        neg_quantiles: quantiles of s_neg at `quantile_levels`.
        within_count: the within-view negative pairs of one view (the same pairs as neg).
        within_mean: mean of u_i.u_j and v_i.v_j over them, both views.
        within_var: their population variance.
        alignment: Wang & Isola's E||u - v||^2 = 2 - 2 E[s_pos].
        uniformity: Wang & Isola's log E exp(-2 ||x - y||^2) over within-view negatives,
            averaged over the two views.
        quantile_levels: the levels of the quantiles.
        n: the dataset size, when given.
        optimum: -1/(n-1), Thm 5.1's full-batch optimum of every negative (n given).
        excess: neg_mean - optimum; negative = over-separated (n given).
    """

    batch_size: int
    pos_mean: float
    pos_var: float
    pos_quantiles: tuple[float, ...]
    neg_count: int
    neg_mean: float
    neg_var: float
    neg_quantiles: tuple[float, ...]
    within_count: int
    within_mean: float
    within_var: float
    alignment: float
    uniformity: float
    quantile_levels: tuple[float, ...] = QUANTILE_LEVELS
    n: int | None = None
    optimum: float | None = None
    excess: float | None = None

    def as_dict(self, prefix: str = "") -> dict[str, float | int | None]:
        """Flat `{name: number}` view for a metrics log; quantiles become `neg_q50`, ...

        Args:
            prefix: put before every name (e.g. "train/").

        Returns:
            {name: number or None}, one entry per quantile level.
        """
        out: dict[str, float | int | None] = {}
        for key, value in asdict(self).items():
            if key == "quantile_levels":
                continue
            if key.endswith("_quantiles"):
                stem = key.removesuffix("_quantiles")
                for level, q in zip(self.quantile_levels, value):
                    out[f"{prefix}{stem}_q{round(100 * level):02d}"] = q
            else:
                out[f"{prefix}{key}"] = value
        return out


def _check_levels(levels: object) -> tuple[float, ...]:
    """quantile_levels: a sequence of numbers in [0, 1] -> a tuple of floats."""
    try:
        values = tuple(levels)
    except TypeError:
        raise ValueError(
            f"quantile_levels must be a sequence of numbers in [0, 1], got {levels!r}"
        ) from None
    for q in values:
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile_levels must lie in [0, 1], got {q!r} in {levels!r}")
    return tuple(float(q) for q in values)


def _quantiles(x_K: torch.Tensor, levels: tuple[float, ...]) -> tuple[float, ...]:
    if x_K.numel() == 0:
        return tuple(math.nan for _ in levels)
    q_Q = torch.quantile(x_K.double(), torch.tensor(levels, dtype=torch.float64, device=x_K.device))
    return tuple(float(q) for q in q_Q.cpu())


def _masked_mean_var(x_BB: torch.Tensor, w_BB: torch.Tensor, count: int) -> tuple[float, float]:
    """Population mean and variance of the entries where w_BB = 1 (two passes; torch's
    reductions sum pairwise, so float32 stays accurate to ~1e-7 for logging)."""
    if count == 0:
        return math.nan, math.nan
    mean = (x_BB * w_BB).sum() / count
    var = ((x_BB - mean) ** 2 * w_BB).sum() / count
    return float(mean), float(var)


@torch.no_grad()
def pair_stats(
    z1_BD: torch.Tensor,
    z2_BD: torch.Tensor,
    *,
    ids: torch.Tensor | None = None,
    n: int | None = None,
    quantile_levels: tuple[float, ...] = QUANTILE_LEVELS,
) -> PairStats:
    """Positive / negative similarity statistics of one two-view batch (docs/theory.md, "Notation").

    The paper's quantities (Lee et al., ICML 2025) on one batch: E[s_pos], E[s_neg], Var[s_neg]
    over the cross-view negatives, the within-view negatives, and, given the dataset size n,
    the distance of E[s_neg] from Thm 5.1's optimum -1/(n-1). Alignment is Wang & Isola's
    E||u - v||^2 = 2 - 2 E[s_pos]; uniformity (t = 2) is log E exp(-2 ||x - y||^2) over
    within-view negative pairs, averaged over the two views. Cost: three (B, B) matmuls and a
    few elementwise passes (float32 unless the input is float64); quantiles are exact up to
    2**16 negatives, else taken over all negatives of evenly spaced rows. Exact statistics
    over a whole dataset, without a (B, B) matrix: `SimilarityAccumulator`.

    Args:
        z1_BD: (B, D) view 1, finite floating, B >= 2, D >= 1; normalized here.
        z2_BD: (B, D) view 2; row i of z1_BD and of z2_BD are a positive pair.
        ids: (B,) instance ids (finite); rows with equal ids are never negatives of each other.
        n: the dataset size (an integer > 1, as for `vrn_loss`); when given, the result carries
            the full-batch optimum -1/(n-1) of Thm 5.1 and the excess E[s_neg] + 1/(n-1)
            (negative = over-separated).
        quantile_levels: levels in [0, 1] of the positive and negative quantiles.

    Returns:
        The statistics as Python floats.

    Examples:
        >>> from contrastlens.similarity import pair_stats
        >>> from contrastlens.theory import simplex_etf
        >>> etf = simplex_etf(5)  # Thm 5.1's optimum for n = 5: aligned, negatives at -1/4
        >>> stats = pair_stats(etf, etf, n=5)
        >>> stats.pos_mean, stats.neg_mean, round(stats.neg_var, 12), stats.excess
        (1.0, -0.25, 0.0, 0.0)
        >>> stats.alignment, stats.uniformity  # uniformity's minimum: -4 (1 + 1/(B - 1))
        (0.0, -5.0)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025. <https://arxiv.org/abs/2506.09781>
        - Wang, Isola. Understanding Contrastive Representation Learning through Alignment
          and Uniformity on the Hypersphere. ICML 2020. <https://arxiv.org/abs/2005.10242>
    """
    for z, name in ((z1_BD, "z1_BD"), (z2_BD, "z2_BD")):
        if not isinstance(z, torch.Tensor):
            check_embeddings(z, name)  # raises: not a tensor
    if z1_BD.ndim != 2 or z1_BD.shape != z2_BD.shape:
        raise ValueError(
            f"pair_stats needs two (B, D) views of equal shape, got {tuple(z1_BD.shape)} "
            f"and {tuple(z2_BD.shape)}"
        )
    B = z1_BD.shape[0]
    if B < 2:
        raise ValueError(f"pair_stats needs at least 2 pairs to have negatives, got B = {B}")
    check_embeddings(z1_BD, "z1_BD")  # floating, D >= 1, finite
    check_embeddings(z2_BD, "z2_BD")
    if ids is not None:
        check_ids(ids, B)  # a 1-D (B,) tensor, finite (a NaN id would make a positive negative)
    if n is not None:
        n = check_dataset_size(n)  # the same rule as vrn_loss's n
    quantile_levels = _check_levels(quantile_levels)
    # float64 stays float64 (exact tests); lower precisions compute in float32
    dtype = torch.float64 if z1_BD.dtype == torch.float64 else torch.float32
    u_BD = F.normalize(z1_BD.detach().to(dtype), dim=1)
    v_BD = F.normalize(z2_BD.detach().to(dtype), dim=1)

    eye_BB = torch.eye(B, dtype=torch.bool, device=u_BD.device)
    if ids is None:
        neg_BB = ~eye_BB
    else:
        ids_B = ids.to(u_BD.device)
        neg_BB = ids_B[:, None] != ids_B[None, :]
    w_BB = neg_BB.to(dtype)
    count = int(neg_BB.sum())  # ordered pairs; within-view: the same pairs in each view

    cross_BB = u_BD @ v_BD.T  # (B, B): u_i . v_j
    uu_BB = u_BD @ u_BD.T  # (B, B): u_i . u_j (symmetric: ordered pairs = 2 x unordered)
    vv_BB = v_BD @ v_BD.T
    pos_B = cross_BB.diagonal()

    pos_mean, pos_var = float(pos_B.double().mean()), float(pos_B.double().var(unbiased=False))
    neg_mean, neg_var = _masked_mean_var(cross_BB, w_BB, count)
    within_mean, within_var = _masked_mean_var(torch.stack([uu_BB, vv_BB]), w_BB, 2 * count)

    # Wang & Isola (2020) uniformity with t = 2: ||x - y||^2 = 2 - 2 s on the unit sphere.
    def _uniformity(s_BB: torch.Tensor) -> float:
        if count == 0:
            return math.nan
        logits_BB = torch.where(neg_BB, 4.0 * s_BB - 4.0, float("-inf")).double()
        return float(torch.logsumexp(logits_BB.reshape(-1), 0) - math.log(count))

    uniformity = 0.5 * (_uniformity(uu_BB) + _uniformity(vv_BB))

    # quantiles of negatives: all of them, or all negatives of evenly spaced rows (> 2**16)
    rows_R = torch.arange(0, B, max(1, -(-B * B // MAX_QUANTILE_VALUES)), device=u_BD.device)
    neg_K = cross_BB[rows_R][neg_BB[rows_R]]
    optimum = None if n is None else negative_optimum(n)  # Thm 5.1
    return PairStats(
        batch_size=B,
        pos_mean=pos_mean,
        pos_var=pos_var,
        pos_quantiles=_quantiles(pos_B, quantile_levels),
        neg_count=count,
        neg_mean=neg_mean,
        neg_var=neg_var,
        neg_quantiles=_quantiles(neg_K, quantile_levels),
        within_count=count,
        within_mean=within_mean,
        within_var=within_var,
        alignment=2.0 - 2.0 * pos_mean,
        uniformity=uniformity,
        quantile_levels=quantile_levels,
        n=n,
        optimum=optimum,
        excess=None if optimum is None else neg_mean - optimum,
    )
