"""What a random batch of size B sees: the expected variance of its negatives, exactly, and its
expected false negatives (duplicates, same-label pairs).

    sums = SimilarityAccumulator(pair_sums=True).update(z1, z2).pair_sums()
    expected_batch_variance(sums, 256)           # E over random batches of Var[in-batch s_neg]
    partners_N = false_negative_partners(labels_N, duplicates_N)
    batch_false_negatives(partners_N, 256)       # share, per anchor, anchors with at least one

Shape legend:
    N  instances (the population a batch is drawn from)
    K  keys (label, duplicate group, ...) of one instance

Setting. A batch S is B distinct instances drawn uniformly without replacement from the n of
the population, as a shuffled data loader draws them. Its negatives are the B(B-1) ordered pairs
(i, j), i != j, both in S, with similarity s_ij: cross-view u_i.v_j (the paper's negatives), or
u_i.u_j for one view. Their population variance inside the batch is

    V_S = Q_S / P - (T_S / P)^2,    P = B(B-1),  T_S = sum_{i!=j in S} s_ij,  Q_S = sum s_ij^2,

the statistic of the paper's Table 1 measured on one batch of size B.

The formula (exact; derived from population moments, no sampling). With p_k the probability
that k given instances all lie in S, p_k = B(B-1)..(B-k+1) / (n(n-1)..(n-k+1)), and the sums
over the whole population (ordered pairs i != j; row sums r_i = sum_{j!=i} s_ij, column sums
c_j = sum_{i!=j} s_ij):

    T = sum s_ij     Q = sum s_ij^2     X = sum s_ij s_ji
    R2 = sum_i r_i^2    C2 = sum_j c_j^2    RC = sum_i r_i c_i

E[Q_S] = p_2 Q, and E[T_S^2] sums s_ab s_cd over pairs of pairs by how many distinct
instances they touch: two ((a,b) = (c,d) or (d,c)), three (one shared instance), four:

    A2 = Q + X,   A3 = R2 + C2 + 2 RC - 2 Q - 2 X,   A4 = T^2 - A2 - A3
    E[T_S^2] = p_2 A2 + p_3 A3 + p_4 A4

    E[V_S] = Q / (n(n-1)) - E[T_S^2] / P^2.

At B = n this is the population variance of all n(n-1) negatives; at B = 2 it is
E[(s_ij - s_ji)^2] / 4 over pairs (0 for one symmetric view). tests/similarity/test_batches.py
checks it against the average over every batch of small populations.

False negatives. An instance's partners are the other instances that share a key with it (the
same label, or the same text: duplicates); k_i of them (`false_negative_partners`). In a random
batch, anchor i meets B - 1 others drawn from the n - 1, so

    expected share of in-batch negatives that are false  = sum_i k_i / (n(n-1))  (any B)
    expected false negatives per anchor                  = (B - 1) mean_i k_i / (n - 1)
    anchors with at least one false negative in a batch  = mean_i [1 - C(n-1-k_i, B-1)
                                                                      / C(n-1, B-1)]

The share does not depend on B; the number per anchor, and the chance that an anchor has one,
grow with B (the reason sentence-transformers' no-duplicates sampler exists).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

import torch

__all__ = [
    "FalseNegatives",
    "PairSums",
    "batch_false_negatives",
    "expected_batch_variance",
    "false_negative_partners",
]


@dataclass(frozen=True)
class PairSums:
    """Population sums over the n(n-1) ordered pairs i != j of a similarity s_ij (module
    docstring): what `expected_batch_variance` needs. `SimilarityAccumulator(pair_sums=True)`
    streams them in O(n D^2) without an n x n matrix."""

    n: int
    total: float  # T = sum s_ij
    square: float  # Q = sum s_ij^2
    swap: float  # X = sum s_ij s_ji
    row_square: float  # R2 = sum_i r_i^2
    col_square: float  # C2 = sum_j c_j^2
    row_col: float  # RC = sum_i r_i c_i

    def as_dict(self) -> dict:
        return asdict(self)


def _check_batch(batch_size: object, n: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise ValueError(f"batch size must be an integer, got {batch_size!r}")
    if not 2 <= batch_size <= n:
        raise ValueError(
            f"batch size must lie in [2, n] = [2, {n}] (a batch of distinct instances with at "
            f"least one negative), got {batch_size}"
        )
    return int(batch_size)


def _falling(a: int, k: int) -> float:
    """a (a-1) ... (a-k+1) as a float (0 when a < k)."""
    out = 1.0
    for t in range(k):
        out *= a - t
    return out


def expected_batch_variance(sums: PairSums, batch_size: int) -> float:
    """E over batches S of B distinct instances drawn uniformly without replacement of the
    population variance of the B(B-1) in-batch negatives (module docstring, exact):

        E[V_S] = Q / (n(n-1)) - (p_2 A2 + p_3 A3 + p_4 A4) / (B(B-1))^2.

    sums: the population's `PairSums` (n >= 2). batch_size: B, an integer in [2, n].
    Returns a float >= 0 (rounding below 0 is clipped).

    Example (v_j = u_{j+1}: half of the negatives are 1, the others 0; every batch of two
    holds one of each):
        >>> import torch
        >>> from contrastlens.similarity import SimilarityAccumulator
        >>> u = torch.eye(3, dtype=torch.float64)
        >>> sums = SimilarityAccumulator(pair_sums=True).update(u, u.roll(1, 0)).pair_sums()
        >>> expected_batch_variance(sums, 2), expected_batch_variance(sums, 3)
        (0.25, 0.25)
    """
    n = sums.n
    B = _check_batch(batch_size, n)
    p2, p3, p4 = (_falling(B, k) / _falling(n, k) if n >= k else 0.0 for k in (2, 3, 4))
    a2 = sums.square + sums.swap
    a3 = sums.row_square + sums.col_square + 2 * sums.row_col - 2 * sums.square - 2 * sums.swap
    a4 = sums.total**2 - a2 - a3
    pairs = B * (B - 1)
    mean_square = (p2 * a2 + p3 * a3 + p4 * a4) / pairs**2
    return max(sums.square / (n * (n - 1)) - mean_square, 0.0)


def false_negative_partners(*keys_N: torch.Tensor) -> torch.Tensor:
    """k_i: how many other instances share at least one key with instance i (a false negative
    to a contrastive loss: same label, same text, ...). Each key is a (N,) integer tensor, one id
    per instance (e.g. labels, duplicate-group ids); by inclusion-exclusion over the keys, so
    the count is exact for any number of keys. Returns (N,) int64."""
    if not keys_N:
        raise ValueError("false_negative_partners needs at least one (N,) key tensor")
    N = keys_N[0].shape[0] if isinstance(keys_N[0], torch.Tensor) else -1
    for key in keys_N:
        if not isinstance(key, torch.Tensor) or key.dim() != 1 or key.shape[0] != N:
            got = tuple(key.shape) if isinstance(key, torch.Tensor) else type(key).__name__
            raise ValueError(f"every key must be a 1-D tensor of shape ({N},), got {got}")
        if key.is_floating_point() or key.is_complex():
            raise ValueError(f"keys must be integer ids, got dtype {key.dtype}")
    partners_N = torch.zeros(N, dtype=torch.int64)
    K = len(keys_N)
    for mask in range(1, 1 << K):  # every nonempty subset of the keys
        chosen = [keys_N[t].long().cpu() for t in range(K) if mask >> t & 1]
        _, inverse_N, counts = torch.unique(
            torch.stack(chosen, dim=1), dim=0, return_inverse=True, return_counts=True
        )
        sign = 1 if len(chosen) % 2 else -1
        partners_N += sign * (counts[inverse_N] - 1)
    return partners_N


@dataclass(frozen=True)
class FalseNegatives:
    """`batch_false_negatives` at one batch size."""

    batch_size: int
    share: float  # expected share of in-batch negatives that are false (the same for every B)
    per_anchor: float  # expected false negatives per anchor
    anchors_with_any: float  # expected share of anchors with at least one in their batch

    def as_dict(self) -> dict:
        return asdict(self)


def batch_false_negatives(partners_N: torch.Tensor, batch_size: int) -> FalseNegatives:
    """Expected false negatives in a random batch of B distinct instances (module docstring).

    partners_N: (N,) k_i from `false_negative_partners` (0 <= k_i <= N - 1).
    batch_size: B in [2, N]. Returns `FalseNegatives`: share = sum k_i / (N(N-1)),
    per_anchor = (B-1) mean k_i / (N-1), anchors_with_any = mean_i of
    1 - C(N-1-k_i, B-1) / C(N-1, B-1) (log-gamma, exact up to rounding)."""
    if not isinstance(partners_N, torch.Tensor) or partners_N.dim() != 1:
        raise ValueError("partners_N must be a 1-D tensor of partner counts, one per instance")
    N = partners_N.shape[0]
    if N < 2:
        raise ValueError(f"need N >= 2 instances, got N = {N}")
    B = _check_batch(batch_size, N)
    k_N = partners_N.long().cpu()
    if k_N.numel() and (int(k_N.min()) < 0 or int(k_N.max()) > N - 1):
        raise ValueError(f"partner counts must lie in [0, N - 1] = [0, {N - 1}]")
    values_U, counts_U = torch.unique(k_N, return_counts=True)
    none = 0.0  # sum over anchors of P(no false negative in the batch)
    draws = B - 1

    def log_choose(a: int, b: int) -> float:
        return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)

    for k, count in zip(values_U.tolist(), counts_U.tolist()):
        free = N - 1 - k  # the others that are true negatives of this anchor
        if free >= draws:
            none += count * math.exp(log_choose(free, draws) - log_choose(N - 1, draws))
    total = float(k_N.sum())
    return FalseNegatives(
        batch_size=B,
        share=total / (N * (N - 1)),
        per_anchor=draws * total / (N * (N - 1)),
        anchors_with_any=1.0 - none / N,
    )
