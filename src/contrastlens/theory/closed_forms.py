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
    """Thm 5.1: at the full-batch optimum every negative similarity is -1/(n-1) (needs
    d >= n-1); the embeddings form a simplex equiangular tight frame with u_i = v_i."""
    _check_n(n)
    return negative_optimum(n)


def simplex_etf(
    n: int, d: int | None = None, *, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Thm 5.1's optimum: n unit vectors in R^d with pairwise similarity -1/(n-1), (n, d).

    d defaults to n - 1, the smallest dimension that holds it; d < n - 1 is an error.
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
    """Thm 5.2: for every encoder, E[s_pos] <= 1 + E[s_neg] + 1/(n-1) (E[s_neg] over the
    cross-view negatives i != j). Returns the ceiling on the mean positive similarity (which is
    also at most 1). The paper's equality condition is wrong (docs/theory.md, "Theorems"); not
    used here."""
    _check_n(n)
    return min(1.0, 1.0 + neg_mean + 1.0 / (n - 1))


@dataclass(frozen=True)
class TradeoffIdentity:
    """Both sides of the corrected Thm 5.2 identity on a concrete configuration."""

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

    u_ND, v_ND: the two views, (N, D); rows are normalized here. Expectations are over the n
    instances (population variance). Since the bracket is >= 0 the identity also gives the
    inequality; the paper's equality condition (its Lemma C.3 drops a factor 2) is not used.
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
    """Thm 5.5: with fixed mini-batches of size m (m divides n, d >= m-1), at the optimum
    s_pos = 1 and E[s_neg] = -1/(n-1), but the variance of the n(n-1) cross-view negatives is

        (n-m) / ((m-1)(n-1)^2)  <=  Var[s_neg]  <=  n(n-m) / ((m-1)(n-1)^2).

    Both fall with m and are 0 at m = n. Returns (lower, upper).
    """
    _check_minibatch(n, m)
    scale = (n - m) / ((m - 1) * (n - 1) ** 2)
    return scale, n * scale


def minibatch_min_dim(n: int, m: int) -> int:
    """Thm 5.5: the lower variance bound needs d >= b(m-1), b = n/m batches (each batch its own
    (m-1)-simplex, the simplices mutually orthogonal)."""
    _check_minibatch(n, m)
    return (n // m) * (m - 1)


def infonce_negative_gradient(sim_MM: torch.Tensor, temperature: float) -> torch.Tensor:
    """Thm 5.6: dL/d(u_i.v_j) of the symmetrized InfoNCE loss
    L = 1/2 L(U,V) + 1/2 L(V,U), L(U,V) = 1/m sum_i [-s_ii/t + log sum_j exp(s_ij/t)]:

        dL/ds_ij = (softmax_row_i(j) + softmax_col_j(i)) / (2 m t)      (i != j)

    the paper states (row + col)/(m t), the derivative of the summed (not averaged) two directions;
    the factor 2 does not affect the theorem. For nested batches m1 <= m2 and i != j in [m1],
    0 <= g_{m2}(i, j) <= g_{m1}(i, j), equal only when m1 = m2.

    sim_MM: S = U V^T, (M, M). Returns (M, M) with the off-diagonal gradients (the diagonal
    holds the positive-pair gradient (row_i(i) + col_i(i) - 2) / (2 m t)).
    """
    m = sim_MM.shape[0]
    logits_MM = sim_MM / temperature
    row_MM = torch.softmax(logits_MM, dim=1)
    col_MM = torch.softmax(logits_MM, dim=0)
    eye_MM = torch.eye(m, dtype=sim_MM.dtype, device=sim_MM.device)
    return (row_MM + col_MM - 2 * eye_MM) / (2 * m * temperature)
