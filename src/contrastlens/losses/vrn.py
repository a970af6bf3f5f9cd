"""VRN, variance reduction for negative pairs (Lee et al., ICML 2025, Def 5.7), and batch
similarity statistics.

    L_VRN = 1/(m(m-1)) sum_{i!=j} (u_i.v_j - delta)^p,   delta = -1/(n-1),  p = 2

n is the DATASET size (not the batch size): the term pulls every in-batch cross-view negative
toward the full-batch optimum -1/(n-1) (Thm 5.1); it penalizes the second moment of the
negative similarities around delta (variance plus squared mean offset). Like the authors' code,
negatives are the pairs with different instance ids, local z1 rows against all-gathered z2
columns (with gradient).

Our extensions (not in the paper, documented as such): `within_view=True` adds the pairs
(u_i, u_j) and (v_i, v_j); `queue=` adds the pairs (q_i, queue_k) for MoCo. All pairs are
pooled into one mean. `false_negatives=` removes any further pairs (i, j) from the negatives
(duplicate texts, same group: `contrastlens.losses.masking`); the mean is then over the pairs
left, and a batch with none left gives 0.

How it is computed: for p = 2 no (B, G) matrix is needed. For a block of rows X and columns Y,

    sum_{i,j} (x_i.y_j - delta)^2
        = <X^T X, Y^T Y>_F - 2 delta (sum_i x_i).(sum_j y_j) + |X| |Y| delta^2

(two (D, D) Gram matrices), minus the same-instance pairs (i, j), evaluated one by one. This
is exact, O((B + G) D^2), and is why VRN adds little to the loss it rides on; the slow per-pair
reference in tests/reference.py checks value and gradient. Other p evaluate the block.

Shape legend: B local rows, G global rows (= B on one process), D dimension, K queue length,
N columns of a block (G or K), E excluded (same-instance) pairs.
"""

from __future__ import annotations

import dataclasses

import torch

from contrastlens import distributed
from contrastlens.checks import check_finite_scalar, resolve_delta
from contrastlens.losses._fused import pair_square_sum
from contrastlens.losses.pairs import ViewPairs, view_pairs
from contrastlens.losses.precision import full_precision

__all__ = ["similarity_stats", "similarity_stats_from_pairs", "vrn_from_pairs", "vrn_loss"]


def _power_sum(
    x_BD: torch.Tensor,
    y_ND: torch.Tensor,
    excluded: int | tuple[torch.Tensor, torch.Tensor] | None,
    excluded_BN: torch.Tensor | None,
    delta: float,
    p: float,
) -> torch.Tensor:
    """sum over the pairs (i, j) of the block, minus the excluded ones, of |x_i.y_j - delta|^p.
    excluded: (rows, cols) index pairs, or an int offset for the pairs (i, offset + i)."""
    if p == 2:
        gram = pair_square_sum(x_BD, y_ND)  # sum_ij (x_i.y_j)^2
        linear = x_BD.sum(dim=0) @ y_ND.sum(dim=0)  # sum_ij x_i.y_j
        total = gram - 2 * delta * linear + x_BD.shape[0] * y_ND.shape[0] * delta**2
        if isinstance(excluded, int):  # no ids: the pairs (i, offset + i), a slice
            s_E = (x_BD * y_ND[excluded : excluded + x_BD.shape[0]]).sum(dim=1)
            total = total - ((s_E - delta) ** 2).sum()
        elif excluded is not None:
            rows_E, cols_E = excluded
            s_E = (x_BD[rows_E] * y_ND[cols_E]).sum(dim=1)
            total = total - ((s_E - delta) ** 2).sum()
        return total
    dev_BN = (x_BD @ y_ND.T - delta).abs().pow(p)
    if excluded_BN is not None:
        dev_BN = dev_BN.masked_fill(excluded_BN, 0.0)
    return dev_BN.sum()


def vrn_from_pairs(
    P: ViewPairs,
    *,
    delta: float,
    p: float = 2,
    within_view: bool = False,
    use_queue: bool = False,
) -> torch.Tensor:
    """Def 5.7 on a prepared batch (see `vrn_loss`); delta is the target similarity."""
    check_finite_scalar(p, "p")
    if p <= 0:
        raise ValueError(f"p must be > 0, got {p}")
    if use_queue and P.queue_KD is None:
        raise ValueError("queue is required when use_queue=True")
    excluded = P.offset if P.same_BG is None else P.excluded()
    excluded_BG = None if p == 2 else P.excluded_mask()
    pairs_per_block = P.B * P.G - P.num_excluded()

    total = _power_sum(P.u_BD, P.v_GD, excluded, excluded_BG, delta, p)  # u_i . v_j
    count = pairs_per_block
    if within_view:  # extension: u_i . u_j and v_i . v_j
        total = total + _power_sum(P.u_BD, P.u_GD, excluded, excluded_BG, delta, p)
        total = total + _power_sum(P.v_BD, P.v_GD, excluded, excluded_BG, delta, p)
        count += 2 * pairs_per_block
    if use_queue:  # extension: q_i . queue_k, all negatives
        total = total + _power_sum(P.u_BD, P.queue_KD, None, None, delta, p)
        count += P.B * P.queue_KD.shape[0]
    if count == 0 and not P.gathered:  # every pair masked (false_negatives): nothing to reduce
        return total * 0.0
    # only masks can leave a process (or every process) without pairs: then it adds 0
    return P.global_sum(total / P.global_count(count).clamp_min(1))


@full_precision
def vrn_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    n: int | None = None,
    delta: float | None = None,
    p: float = 2,
    ids: torch.Tensor | None = None,
    within_view: bool = False,
    queue: torch.Tensor | None = None,
    gather: bool = False,
    false_negatives: torch.Tensor | None = None,
) -> torch.Tensor:
    """VRN, the paper's variance reduction for negative pairs: mean of |u_i.v_j - delta|^p.

    Def 5.7 (Lee et al., ICML 2025):

        L_VRN = 1/(m(m-1)) sum_{i!=j} (u_i.v_j - delta)^p,   delta = -1/(n-1),  p = 2,

    added to a contrastive loss L as L + lambda L_VRN. n is the DATASET size: every in-batch
    cross-view negative is pulled toward the full-batch optimum -1/(n-1) of Thm 5.1, which
    removes the spread that small batches leave among the negatives (Thm 5.5). For p = 2 it is
    the second moment around delta, Var[s_neg] + (E[s_neg] - delta)^2 over the batch. When
    d < n - 1 (every real dataset) it cannot reach 0: see `contrastlens.theory.welch_bound`.

    Args:
        z1: (B, D) view 1 (normalized inside; for MoCo pass q).
        z2: (B, D) view 2 (for MoCo pass k); row i of z1 and of z2 are a positive pair.
        n: the dataset size, an integer > 1 (int, NumPy integer or integral float), giving
            delta = -1/(n-1) (the paper: 50,000 for CIFAR); or give delta; exactly one.
        delta: the target similarity of the negatives, instead of n.
        p: the power (2 in the paper; 2 costs two (D, D) Gram matrices, no (B, B) matrix).
        ids: (B,) instance ids; equal ids are not negatives.
        within_view: also the within-view pairs (u_i, u_j), (v_i, v_j) (our extension).
        queue: (K, D) keys: also the pairs (u_i, queue_k) (our extension, for MoCo).
        gather: z1's local rows against all processes' z2 (with gradient), as the authors
            do; the value and every input's gradient equal one process holding the global
            batch.
        false_negatives: (B, G) boolean, True where global row j is a false negative of local
            row i (`contrastlens.losses.masking`): the pair (i, j) is not a negative, in every
            view combination (like equal ids, for any relation); VRN is then the mean over
            the pairs left (0 if none is left).

    Returns:
        The unweighted term, a 0-d tensor (add it with a weight lambda: the paper's default
        is 30).

    Examples:
        >>> import torch
        >>> from contrastlens.losses import vrn_loss
        >>> from contrastlens.theory import simplex_etf
        >>> etf = simplex_etf(5)  # the full-batch optimum of n = 5: every negative at -1/4
        >>> round(float(vrn_loss(etf, etf, n=5)), 6)
        0.0
        >>> _ = torch.manual_seed(0)
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> vrn_loss(z1, z2, n=50_000)  # about Var[s_neg], 1/16 for random directions
        tensor(0.0586)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 5.7. <https://arxiv.org/abs/2506.09781>
    """
    target = resolve_delta(n, delta)
    P = view_pairs(z1, z2, ids=ids, gather=gather, queue=queue)
    if false_negatives is not None:
        if not isinstance(false_negatives, torch.Tensor) or false_negatives.dtype != torch.bool:
            raise ValueError("false_negatives must be a boolean (B, G) tensor")
        if false_negatives.shape != (P.B, P.G):
            raise ValueError(
                f"false_negatives must have shape ({P.B}, {P.G}) (local rows, global columns), "
                f"got {tuple(false_negatives.shape)}"
            )
        same_BG = P.excluded_mask() | false_negatives.to(P.u_BD.device)
        P = dataclasses.replace(P, same_BG=same_BG)
    return vrn_from_pairs(
        P, delta=target, p=p, within_view=within_view, use_queue=queue is not None
    )


@torch.no_grad()
def similarity_stats_from_pairs(P: ViewPairs) -> dict[str, torch.Tensor]:
    """Batch statistics of the cross-view similarities, detached, float64, over the global batch:
    pos_mean = mean_i u_i.v_i, neg_mean and neg_var over the pairs (u_i, v_j) with different
    ids (the population variance). Costs two (D, D) Gram matrices, no (B, G) matrix."""
    u_BD, v_BD, v_GD = P.u_BD.double(), P.v_BD.double(), P.v_GD.double()
    rows_E, cols_E = P.excluded()
    s_E = (u_BD[rows_E] * v_GD[cols_E]).sum(dim=1)
    sums = torch.stack(
        [
            (u_BD * v_BD).sum(),  # positives
            u_BD.sum(dim=0) @ v_GD.sum(dim=0) - s_E.sum(),  # negatives
            ((u_BD.T @ u_BD) * (v_GD.T @ v_GD)).sum() - (s_E**2).sum(),  # negatives squared
            torch.tensor(float(P.B), dtype=torch.float64, device=u_BD.device),
            torch.tensor(
                float(P.B * P.G - P.num_excluded()), dtype=torch.float64, device=u_BD.device
            ),
        ]
    )
    if P.gathered:
        sums = distributed.all_reduce_sum(sums)
    pos_sum, neg_sum, neg_sq_sum, num_pos, num_neg = sums.unbind()
    neg_mean = neg_sum / num_neg
    return {
        "pos_mean": pos_sum / num_pos,
        "neg_mean": neg_mean,
        "neg_var": (neg_sq_sum / num_neg - neg_mean**2).clamp_min(0.0),
    }


@full_precision
def similarity_stats(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    ids: torch.Tensor | None = None,
    gather: bool = False,
) -> dict[str, torch.Tensor]:
    """Detached batch statistics of the cosine similarities, for logging.

    pos_mean = E[s_pos] over the pairs (u_i, v_i); neg_mean = E[s_neg] and neg_var = Var[s_neg]
    (population variance) over the cross-view pairs (u_i, v_j) with different ids, VRN's
    default set (Lee et al., ICML 2025: VRN of Def 5.7 is neg_var + (neg_mean - delta)^2).
    Computed from two (D, D) Gram matrices, no (B, B) matrix, in float64. Exact statistics
    over a whole dataset: `contrastlens.similarity`.

    Args:
        z1: (B, D) view 1 (normalized inside).
        z2: (B, D) view 2; row i of z1 and of z2 are a positive pair.
        ids: (B,) instance ids; equal ids are not negatives.
        gather: statistics of the global batch across processes.

    Returns:
        {"pos_mean", "neg_mean", "neg_var"}: detached float64 0-d tensors.

    Examples:
        >>> from contrastlens.losses import similarity_stats
        >>> from contrastlens.theory import simplex_etf
        >>> etf = simplex_etf(5)  # aligned, negatives all at -1/(n-1)
        >>> {k: round(float(v), 4) for k, v in similarity_stats(etf, etf).items()}
        {'pos_mean': 1.0, 'neg_mean': -0.25, 'neg_var': 0.0}

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025. <https://arxiv.org/abs/2506.09781>
    """
    return similarity_stats_from_pairs(view_pairs(z1, z2, ids=ids, gather=gather))
