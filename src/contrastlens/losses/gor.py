"""Global Orthogonal Regularization (GOR), as sentence-transformers computes it.

GOR comes from Zhang, Yu, Kumar, Chang, "Learning Spread-out Local Feature Descriptors"
(ICCV 2017, eq. 4-6). This file follows sentence-transformers' `GlobalOrthogonalRegularizationLoss`
(v6), the version text-embedding users compare against. Per input column X (B rows, D dims),
with s_ij = cos(x_i, x_j) and the B(B-1) ordered off-diagonal pairs i != j:

    M1 = 1/(B(B-1)) sum_{i!=j} s_ij            M2 = 1/(B(B-1)) sum_{i!=j} s_ij^2
    mean term          = M1^2                   (pushes the mean similarity to 0)
    second-moment term = max(0, M2 - 1/D)       (pushes M2 down to 1/D, no further)

Over the C columns the terms are aggregated ("mean" or "sum") and weighted:

    gor_mean          = mean_weight          * agg_c M1(c)^2
    gor_second_moment = second_moment_weight * agg_c max(0, M2(c) - 1/D)

Differences from the 2017 paper: the paper's pairs are (anchor, non-matching descriptor), one pair
per row. sentence-transformers takes all pairs WITHIN one column (query vs query, document vs
document). VRN (vrn.py) takes the pairs ACROSS the two views (u_i, v_j), i != j, and pulls them
towards -1/(n-1), not 0. A batch of one row has no pairs: both terms are then a differentiable 0,
as in sentence-transformers 6.2 (the pair count is clamped at 1; 6.0 and 6.1 return NaN).

How it is computed: no (B, B) matrix. For unit rows u_i (zero rows stay zero, like
sentence-transformers' cos_sim),

    sum_{i!=j} s_ij   = ||sum_i u_i||^2 - sum_i ||u_i||^2
    sum_{i!=j} s_ij^2 = ||U^T U||_F^2 - sum_i ||u_i||^4

(one (D, D) Gram matrix, `pair_square_sum`), so the cost is O(B D^2). tests/losses/test_gor.py
checks value and gradient against sentence-transformers' code and a slow per-pair loop.

Shape legend: B rows of one column, D dimension, C columns.
"""

from __future__ import annotations

from typing import Literal

import torch

from contrastlens.checks import check_embeddings, check_finite_scalar
from contrastlens.losses._fused import pair_square_sum
from contrastlens.losses.pairs import normalize
from contrastlens.losses.precision import full_precision

__all__ = ["gor_loss", "gor_moments"]


def gor_moments(z_BD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GOR's two moments of one column: mean and mean square of its cosine similarities.

    M1 = 1/(B(B-1)) sum_{i!=j} s_ij and M2 = 1/(B(B-1)) sum_{i!=j} s_ij^2 over the ordered pairs
    of rows of z_BD (Zhang et al., ICCV 2017, eq. 4-6; see `gor_loss`), from one (D, D) Gram
    matrix.

    Args:
        z_BD: (B, D) one embedding column (normalized here).

    Returns:
        (M1, M2), differentiable 0-d tensors; both 0 for B = 1 (the pair count is clamped at
        1, as in sentence-transformers).

    Examples:
        >>> from contrastlens.losses.gor import gor_moments
        >>> from contrastlens.theory import simplex_etf
        >>> [round(float(m), 4) for m in gor_moments(simplex_etf(5))]  # -1/4 and 1/16
        [-0.25, 0.0625]
    """
    check_embeddings(z_BD, "z")
    u_BD = normalize(z_BD)
    B = u_BD.shape[0]
    pairs = max(B * (B - 1), 1)
    norm2_B = (u_BD * u_BD).sum(dim=1)  # 1, or 0 for a zero row
    sum_D = u_BD.sum(dim=0)
    m1 = (sum_D @ sum_D - norm2_B.sum()) / pairs
    m2 = (pair_square_sum(u_BD, u_BD) - (norm2_B * norm2_B).sum()) / pairs
    return m1, m2


@full_precision
def gor_loss(
    *columns_BD: torch.Tensor,
    mean_weight: float | None = 1.0,
    second_moment_weight: float | None = 1.0,
    aggregation: Literal["mean", "sum"] = "mean",
) -> dict[str, torch.Tensor]:
    """Global Orthogonal Regularization, exactly as sentence-transformers computes it.

    GOR (Zhang et al., ICCV 2017, eq. 4-6) in the form of sentence-transformers'
    `GlobalOrthogonalRegularizationLoss` (same terms, names, defaults, normalization):

        gor_mean          = mean_weight          * agg_c M1(c)^2
        gor_second_moment = second_moment_weight * agg_c max(0, M2(c) - 1/D)

    with M1(c), M2(c) the mean and mean square of the within-column cosine similarities of
    column c (`gor_moments`) and agg the mean (default) or sum over columns. The target 1/D of
    M2 is (about) the Welch bound (`contrastlens.theory.welch_bound`); VRN (`vrn_loss`) pulls
    the cross-view pairs toward -1/(n-1) instead.

    Args:
        *columns_BD: one or more (B, D) embedding columns, e.g. `gor_loss(z1_BD, z2_BD)` for
            two views (normalized inside).
        mean_weight: weight of the mean term; None or 0 drops it (its key is then absent, as
            in sentence-transformers).
        second_moment_weight: weight of the second-moment term; None or 0 drops it. At least
            one of the two weights must be nonzero.
        aggregation: "mean" or "sum" over the columns.

    Returns:
        {"gor_mean", "gor_second_moment", "gor"}: 0-d tensors, "gor" their sum.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import gor_loss
        >>> gor_loss(torch.eye(4))  # orthonormal rows: M1 = M2 = 0
        {'gor_mean': tensor(0.), 'gor_second_moment': tensor(0.), 'gor': tensor(0.)}
        >>> gor_loss(torch.ones(4, 4))  # collapse: M1 = M2 = 1, 1 - 1/D = 0.75
        {'gor_mean': tensor(1.), 'gor_second_moment': tensor(0.7500), 'gor': tensor(1.7500)}

    References:
        - Zhang, Yu, Kumar, Chang. Learning Spread-out Local Feature Descriptors. ICCV 2017.
          <https://arxiv.org/abs/1708.06320>
    """
    if not columns_BD:
        raise ValueError("gor_loss needs at least one (B, D) embedding column")
    if not mean_weight and not second_moment_weight:
        raise ValueError("mean_weight, second_moment_weight: at least one must be nonzero")
    for weight, name in (
        (mean_weight, "mean_weight"),
        (second_moment_weight, "second_moment_weight"),
    ):
        if weight is not None:
            check_finite_scalar(weight, name)
    if aggregation not in ("mean", "sum"):
        raise ValueError(f"aggregation must be 'mean' or 'sum', got {aggregation!r}")

    mean_terms, second_terms = [], []
    for c, z_BD in enumerate(columns_BD):
        check_embeddings(z_BD, f"columns_BD[{c}]")
        m1, m2 = gor_moments(z_BD)
        mean_terms.append(m1 * m1)
        second_terms.append(torch.relu(m2 - 1.0 / z_BD.shape[1]))

    def aggregate(terms: list[torch.Tensor]) -> torch.Tensor:
        stacked_C = torch.stack(terms)
        return stacked_C.sum() if aggregation == "sum" else stacked_C.mean()

    out: dict[str, torch.Tensor] = {}
    if mean_weight:
        out["gor_mean"] = mean_weight * aggregate(mean_terms)
    if second_moment_weight:
        out["gor_second_moment"] = second_moment_weight * aggregate(second_terms)
    out["gor"] = sum(out.values())
    return out
