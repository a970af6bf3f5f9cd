"""Closed forms and bounds of Lee et al. (ICML 2025), section 5, one small function each.

Shape legend:
    N  instances (full batch: the dataset size n)
    M  instances in one mini-batch (m)
    D  embedding dimension

    optimal_negative_similarity(n)      Thm 5.1   -1/(n-1)
    simplex_etf(n, d)                   Thm 5.1   the optimum's configuration (u_i = v_i)
    tradeoff_max_positive(neg, n)       Thm 5.2   E[s_pos] <= 1 + E[s_neg] + 1/(n-1)
    tradeoff_identity(u, v)             Thm 5.2   the corrected exact identity (docs/theory.md)
    minibatch_variance_bounds(n, m)     Thm 5.5   bounds on Var[s_neg] with fixed mini-batches
    minibatch_min_dim(n, m)             Thm 5.5   d >= b(m-1) needed to reach the lower bound
    infonce_negative_gradient(S, t)     Thm 5.6   dL/d(u_i.v_j) of symmetrized InfoNCE

The separation conditions of Thm 5.1(iii) / 5.3 / Example 5.4 and the 1-D reduction of Thm 5.3
live in `theory.conditions`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from contrastlens.optimum import negative_optimum


def _check_n(n: int, least: int = 2) -> None:
    if int(n) != n or n < least:
        raise ValueError(f"n (number of instances) must be an integer >= {least}, got n = {n}")


def optimal_negative_similarity(n: int) -> float:
    """Thm 5.1: at the full-batch optimum every negative similarity is -1/(n-1).

    For any loss of Def 3.1, Def 3.2 with c2 = 1, or Def 3.2 with (c1, c2) = (1, 0) under the
    condition of Thm 5.1 (iii) (`separation_condition`), and d >= n - 1, the optimum has
    s_pos = 1 and every negative at -1/(n-1): the embeddings form a simplex equiangular tight
    frame with u_i = v_i (`simplex_etf`). No n unit vectors can average below it, since
    0 <= ||sum_i u_i||^2 = n + n(n-1) mean_{i != j} u_i.u_j.

    Args:
        n: the number of instances (the dataset size), an integer >= 2.

    Returns:
        -1/(n-1).

    Examples:
        >>> from contrastlens.theory import optimal_negative_similarity
        >>> optimal_negative_similarity(8)
        -0.14285714285714285
        >>> optimal_negative_similarity(50_000)  # CIFAR: VRN's target delta
        -2.000040000800016e-05

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.1. <https://arxiv.org/abs/2506.09781>
    """
    _check_n(n)
    return negative_optimum(n)


def simplex_etf(
    n: int, d: int | None = None, *, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Thm 5.1's optimum: n unit vectors in R^d with pairwise similarity -1/(n-1).

    The regular simplex centred at the origin (a simplex equiangular tight frame), the
    configuration of u_i = v_i at the full-batch optimum of Thm 5.1.

    Args:
        n: the number of points, >= 2.
        d: the dimension; defaults to n - 1, the smallest that holds it; d < n - 1 is an
            error.
        dtype: the dtype of the result.

    Returns:
        (n, d) unit rows, every pairwise dot product -1/(n-1).

    Examples:
        >>> from contrastlens.theory import simplex_etf
        >>> x = simplex_etf(4)
        >>> x.shape
        torch.Size([4, 3])
        >>> x @ x.T
        tensor([[ 1.0000, -0.3333, -0.3333, -0.3333],
                [-0.3333,  1.0000, -0.3333, -0.3333],
                [-0.3333, -0.3333,  1.0000, -0.3333],
                [-0.3333, -0.3333, -0.3333,  1.0000]], dtype=torch.float64)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.1. <https://arxiv.org/abs/2506.09781>
    """
    _check_n(n)
    d = n - 1 if d is None else d
    if d < n - 1:
        raise ValueError(f"a simplex ETF of n = {n} points needs d >= n-1 = {n - 1}, got d = {d}")
    centered_NN = torch.eye(n, dtype=dtype) - 1.0 / n  # rows sum to 0, span an (n-1)-space
    # orthonormal basis of the centered space, (n, n-1): express rows in n-1 coordinates
    q_NK, _ = torch.linalg.qr(centered_NN[:, : n - 1])
    x_NK = centered_NN @ q_NK
    x_ND = torch.cat([x_NK, x_NK.new_zeros(n, d - (n - 1))], dim=1)
    return F.normalize(x_ND, dim=1)


def tradeoff_max_positive(neg_mean: float, n: int) -> float:
    """Thm 5.2: the ceiling on the mean positive similarity, 1 + E[s_neg] + 1/(n-1).

    For every encoder, E[s_pos] <= 1 + E[s_neg] + 1/(n-1) (E[s_neg] over the cross-view
    negatives i != j): negatives over-separated below -1/(n-1) make perfect alignment
    impossible. The paper's equality condition is wrong (docs/theory.md, "Theorems"); not used
    here (see `tradeoff_identity`).

    Args:
        neg_mean: E[s_neg], the mean cross-view negative similarity.
        n: the number of instances, >= 2.

    Returns:
        min(1, 1 + neg_mean + 1/(n-1)).

    Examples:
        >>> from contrastlens.theory import tradeoff_max_positive
        >>> round(tradeoff_max_positive(-0.7342, 8), 4)  # Example 5.4's negatives
        0.4087
        >>> tradeoff_max_positive(-1 / 7, 8)  # at the optimum -1/(n-1): no constraint
        1.0

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.2. <https://arxiv.org/abs/2506.09781>
    """
    _check_n(n)
    return min(1.0, 1.0 + neg_mean + 1.0 / (n - 1))


@dataclass(frozen=True)
class TradeoffIdentity:
    """Both sides of the corrected Thm 5.2 identity on a concrete configuration.

    Attributes:
        n: the number of instances.
        pos_mean: E[s_pos], the left side.
        neg_mean: E[s_neg] over the cross-view pairs i != j.
        trace_var_diff: tr Var[u - v].
        mean_sum_sq: ||E[u + v]||^2.
        rhs: n/(n-2) + 2(n-1)/(n-2) E[s_neg] - n/(2(n-2)) (tr Var[u-v] + ||E[u+v]||^2).
        bound: Thm 5.2's ceiling 1 + E[s_neg] + 1/(n-1).
    """

    n: int
    pos_mean: float  # E[s_pos], the left side
    neg_mean: float  # E[s_neg] over cross-view pairs i != j
    trace_var_diff: float  # tr Var[u - v]
    mean_sum_sq: float  # ||E[u + v]||^2
    rhs: float  # n/(n-2) + 2(n-1)/(n-2) E[s_neg] - n/(2(n-2)) (tr Var[u-v] + ||E[u+v]||^2)
    bound: float  # Thm 5.2's ceiling 1 + E[s_neg] + 1/(n-1)


def tradeoff_identity(u_ND: torch.Tensor, v_ND: torch.Tensor) -> TradeoffIdentity:
    """Thm 5.2, corrected (docs/theory.md, "Theorems"; exact for n >= 3, unit u_i and v_i):

        E[s_pos] = n/(n-2) + 2(n-1)/(n-2) E[s_neg] - n/(2(n-2)) (tr Var[u-v] + ||E[u+v]||^2)

    Expectations are over the n instances (population variance). Since the bracket is >= 0
    the identity also gives the inequality; the paper's equality condition (its Lemma C.3 drops
    a factor 2) is not used.

    Args:
        u_ND: (N, D) view 1, N >= 3; rows are normalized here.
        v_ND: (N, D) view 2; row i of u_ND and of v_ND are a positive pair.

    Returns:
        Both sides of the identity, its terms and Thm 5.2's bound.

    Examples:
        >>> import torch
        >>> from contrastlens.theory import tradeoff_identity
        >>> _ = torch.manual_seed(0)
        >>> t = tradeoff_identity(torch.randn(6, 3), torch.randn(6, 3))
        >>> abs(t.pos_mean - t.rhs) < 1e-12, t.pos_mean <= t.bound
        (True, True)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.2 (corrected; docs/theory.md). <https://arxiv.org/abs/2506.09781>
    """
    n = u_ND.shape[0]
    _check_n(n, least=3)
    u_ND = F.normalize(u_ND.double(), dim=1)
    v_ND = F.normalize(v_ND.double(), dim=1)
    pos = float((u_ND * v_ND).sum(1).mean())
    neg = float((u_ND.sum(0) @ v_ND.sum(0) - n * pos) / (n * (n - 1)))
    diff_ND = u_ND - v_ND
    trace_var = float(((diff_ND - diff_ND.mean(0)) ** 2).sum(1).mean())
    mean_sum_sq = float(((u_ND + v_ND).mean(0) ** 2).sum())
    rhs = n / (n - 2) + 2 * (n - 1) / (n - 2) * neg - n / (2 * (n - 2)) * (trace_var + mean_sum_sq)
    return TradeoffIdentity(n, pos, neg, trace_var, mean_sum_sq, rhs, 1 + neg + 1 / (n - 1))


def _check_minibatch(n: int, m: int) -> None:
    _check_n(n)
    if int(m) != m or m < 2:
        raise ValueError(f"mini-batch size m must be an integer >= 2, got m = {m}")
    if m > n:
        raise ValueError(f"mini-batch size m = {m} is larger than the dataset size n = {n}")
    if n % m:
        raise ValueError(f"Thm 5.5 needs a fixed partition: m = {m} must divide n = {n}")


def minibatch_variance_bounds(n: int, m: int) -> tuple[float, float]:
    """Thm 5.5: the bounds on Var[s_neg] at the optimum of fixed mini-batches of size m.

    With fixed mini-batches of size m (m divides n, d >= m-1), at the optimum s_pos = 1 and
    E[s_neg] = -1/(n-1), but the variance of the n(n-1) cross-view negatives is

        (n-m) / ((m-1)(n-1)^2)  <=  Var[s_neg]  <=  n(n-m) / ((m-1)(n-1)^2).

    Each batch becomes its own (m-1)-simplex; both bounds fall with m and are 0 at m = n. The
    lower one needs d >= b(m-1) (`minibatch_min_dim`).

    Args:
        n: the dataset size.
        m: the mini-batch size, 2 <= m <= n, dividing n.

    Returns:
        (lower, upper).

    Examples:
        >>> from contrastlens.theory import minibatch_variance_bounds
        >>> [round(x, 4) for x in minibatch_variance_bounds(8, 4)]
        [0.0272, 0.2177]
        >>> minibatch_variance_bounds(8, 8)  # full batch: no spread
        (0.0, 0.0)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.5. <https://arxiv.org/abs/2506.09781>
    """
    _check_minibatch(n, m)
    scale = (n - m) / ((m - 1) * (n - 1) ** 2)
    return scale, n * scale


def minibatch_min_dim(n: int, m: int) -> int:
    """Thm 5.5: the dimension the lower variance bound needs, d >= b(m-1), b = n/m batches.

    Each batch its own (m-1)-simplex, the simplices mutually orthogonal.

    Args:
        n: the dataset size.
        m: the mini-batch size, 2 <= m <= n, dividing n.

    Returns:
        b(m - 1).

    Examples:
        >>> from contrastlens.theory import minibatch_min_dim
        >>> minibatch_min_dim(8, 4)  # two 3-simplices in orthogonal 3-spaces
        6

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.5. <https://arxiv.org/abs/2506.09781>
    """
    _check_minibatch(n, m)
    return (n // m) * (m - 1)


def infonce_negative_gradient(sim_MM: torch.Tensor, temperature: float) -> torch.Tensor:
    """Thm 5.6: the gradient of symmetric InfoNCE in each similarity, dL/d(u_i.v_j).

    For L = 1/2 L(U,V) + 1/2 L(V,U), L(U,V) = 1/m sum_i [-s_ii/t + log sum_j exp(s_ij/t)]:

        dL/ds_ij = (softmax_row_i(j) + softmax_col_j(i)) / (2 m t)      (i != j)

    the paper states (row + col)/(m t), the derivative of the summed (not averaged) two directions;
    the factor 2 does not affect the theorem. For nested batches m1 <= m2 and i != j in [m1],
    0 <= g_{m2}(i, j) <= g_{m1}(i, j), equal only when m1 = m2.

    Args:
        sim_MM: (M, M) S = U V^T of unit rows.
        temperature: t > 0.

    Returns:
        (M, M): the off-diagonal gradients dL/ds_ij (the diagonal holds the positive-pair
        gradient (row_i(i) + col_i(i) - 2) / (2 m t)).

    Examples:
        >>> import torch
        >>> import torch.nn.functional as F
        >>> from contrastlens.theory import infonce_negative_gradient
        >>> _ = torch.manual_seed(0)
        >>> u, v = F.normalize(torch.randn(6, 4), dim=1), F.normalize(torch.randn(6, 4), dim=1)
        >>> S = u @ v.T
        >>> g6 = infonce_negative_gradient(S, 0.2)  # batch of 6
        >>> g3 = infonce_negative_gradient(S[:3, :3], 0.2)  # its first 3 rows alone
        >>> off = ~torch.eye(3, dtype=torch.bool)
        >>> bool((g3[off] >= g6[:3, :3][off]).all())  # the small batch pushes harder
        True

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.6. <https://arxiv.org/abs/2506.09781>
    """
    m = sim_MM.shape[0]
    logits_MM = sim_MM / temperature
    row_MM = torch.softmax(logits_MM, dim=1)
    col_MM = torch.softmax(logits_MM, dim=0)
    eye_MM = torch.eye(m, dtype=sim_MM.dtype, device=sim_MM.device)
    return (row_MM + col_MM - 2 * eye_MM) / (2 * m * temperature)
