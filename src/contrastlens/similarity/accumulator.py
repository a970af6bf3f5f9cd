"""Exact full-dataset similarity moments without an n x n matrix (sums of outer products).

Shape legend:
    B  rows in one update (any size; the last batch may be smaller)
    D  embedding dimension
    N  total rows seen so far (the dataset size n)

For rows u_i, v_i (i = 1..N) the statistics over all pairs follow from D x D sums:

    sum_{i != j} u_i.v_j     = (sum u).(sum v) - sum_i u_i.v_i
    sum_{i != j} (u_i.v_j)^2 = <U^T U, V^T V>_F - sum_i (u_i.v_i)^2
    sum_{i != j} u_i.u_j     = ||sum u||^2 - sum_i ||u_i||^2
    sum_{i != j} (u_i.u_j)^2 = ||U^T U||_F^2 - sum_i ||u_i||^4

so one pass costs O(N D^2) time and O(D^2) memory, all in float64. Every row is taken to be a
distinct instance (no duplicate ids across updates).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from contrastlens.losses._checks import check_embeddings
from contrastlens.optimum import negative_optimum


@dataclass(frozen=True)
class SimilarityMoments:
    """Exact population moments over a whole dataset; see `SimilarityAccumulator`."""

    n: int
    pos_mean: float
    pos_var: float
    neg_count: int  # n(n-1) ordered cross-view pairs (u_i, v_j), i != j
    neg_mean: float
    neg_var: float
    within_count: int  # n(n-1) pairs: (u_i, u_j) and (v_i, v_j), i < j
    within_mean: float
    within_var: float
    optimum: float  # Thm 5.1: -1/(n-1)
    excess: float  # neg_mean - optimum (< 0: over-separated)

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


class SimilarityAccumulator:
    """Streams (z1, z2) batches; `result()` gives exact moments over all n instances.

    Example:
        acc = SimilarityAccumulator()
        for z1_BD, z2_BD in batches:
            acc.update(z1_BD, z2_BD)
        m = acc.result()   # m.neg_mean, m.neg_var over all n(n-1) cross-view negatives

    normalize: L2-normalize rows first (cosine similarities), as everywhere in contrastlens.
    Accumulation is float64 whatever the input dtype; the state lives on the first batch's
    device. `merge` adds another accumulator's state (e.g. one per process or per shard).
    """

    def __init__(self, *, normalize: bool = True) -> None:
        self.normalize = normalize
        self.n = 0
        self._sum_u_D: torch.Tensor | None = None
        self._sum_v_D: torch.Tensor | None = None
        self._gram_u_DD: torch.Tensor | None = None
        self._gram_v_DD: torch.Tensor | None = None
        # scalar float64 sums: pos, pos^2, ||u||^2, ||u||^4, ||v||^2, ||v||^4
        self._scalars: torch.Tensor | None = None

    @torch.no_grad()
    def update(self, z1_BD: torch.Tensor, z2_BD: torch.Tensor) -> SimilarityAccumulator:
        """Adds B instances: z1_BD, z2_BD are the two views, finite floating (B, D), D >= 1 (B = 0
        adds nothing). Returns self."""
        for z, name in ((z1_BD, "z1_BD"), (z2_BD, "z2_BD")):
            if not isinstance(z, torch.Tensor):
                check_embeddings(z, name)  # raises: not a tensor
        if z1_BD.ndim != 2 or z1_BD.shape != z2_BD.shape:
            raise ValueError(
                f"update needs two (B, D) views of equal shape, got {tuple(z1_BD.shape)} "
                f"and {tuple(z2_BD.shape)}"
            )
        check_embeddings(z1_BD, "z1_BD")  # floating, D >= 1, finite
        check_embeddings(z2_BD, "z2_BD")
        u_BD = z1_BD.detach().double()
        v_BD = z2_BD.detach().double()
        if self.normalize:
            u_BD = F.normalize(u_BD, dim=1)
            v_BD = F.normalize(v_BD, dim=1)
        D = u_BD.shape[1]
        if self._gram_u_DD is None:
            kw = {"dtype": torch.float64, "device": u_BD.device}
            self._sum_u_D = torch.zeros(D, **kw)
            self._sum_v_D = torch.zeros(D, **kw)
            self._gram_u_DD = torch.zeros(D, D, **kw)
            self._gram_v_DD = torch.zeros(D, D, **kw)
            self._scalars = torch.zeros(6, **kw)
        elif self._gram_u_DD.shape[0] != D:
            raise ValueError(f"dimension changed: accumulator has D = {self._gram_u_DD.shape[0]}")
        self._sum_u_D += u_BD.sum(0)
        self._sum_v_D += v_BD.sum(0)
        self._gram_u_DD.addmm_(u_BD.T, u_BD)  # += U^T U, in place
        self._gram_v_DD.addmm_(v_BD.T, v_BD)
        pos_B = (u_BD * v_BD).sum(1)
        su_B = (u_BD * u_BD).sum(1)
        sv_B = (v_BD * v_BD).sum(1)
        sums = [pos_B, pos_B**2, su_B, su_B**2, sv_B, sv_B**2]
        self._scalars += torch.stack([x.sum() for x in sums])
        self.n += u_BD.shape[0]
        return self

    def merge(self, other: SimilarityAccumulator) -> SimilarityAccumulator:
        """Adds the state of `other` (same D, disjoint instances). Returns self."""
        if other._gram_u_DD is None:
            return self
        if self._gram_u_DD is None:
            self._sum_u_D = other._sum_u_D.clone()
            self._sum_v_D = other._sum_v_D.clone()
            self._gram_u_DD = other._gram_u_DD.clone()
            self._gram_v_DD = other._gram_v_DD.clone()
            self._scalars = other._scalars.clone()
        else:
            if other._gram_u_DD.shape != self._gram_u_DD.shape:
                raise ValueError(
                    f"other has D = {other._gram_u_DD.shape[0]} but this accumulator has "
                    f"D = {self._gram_u_DD.shape[0]}: merge only accumulators of one dimension"
                )
            self._sum_u_D += other._sum_u_D
            self._sum_v_D += other._sum_v_D
            self._gram_u_DD += other._gram_u_DD
            self._gram_v_DD += other._gram_v_DD
            self._scalars += other._scalars
        self.n += other.n
        return self

    def result(self) -> SimilarityMoments:
        """Exact mean and population variance of positives, cross-view and within-view
        negatives over everything seen; needs n >= 2."""
        n = self.n
        if n < 2 or self._gram_u_DD is None:
            raise ValueError(f"need at least 2 instances for negative pairs, have n = {n}")
        pos, pos2, nu, nu2, nv, nv2 = (float(x) for x in self._scalars)
        pairs = n * (n - 1)
        neg1 = float(self._sum_u_D @ self._sum_v_D) - pos
        neg2 = float((self._gram_u_DD * self._gram_v_DD).sum()) - pos2
        w1 = float(self._sum_u_D @ self._sum_u_D) - nu + float(self._sum_v_D @ self._sum_v_D) - nv
        w2 = float((self._gram_u_DD**2).sum()) - nu2 + float((self._gram_v_DD**2).sum()) - nv2
        # within: ordered pairs of both views = 2 n(n-1) terms, the same moments as the
        # n(n-1) unordered pairs (i < j) of both views.
        pos_mean = pos / n
        neg_mean = neg1 / pairs
        within_mean = w1 / (2 * pairs)
        optimum = negative_optimum(n)
        return SimilarityMoments(
            n=n,
            pos_mean=pos_mean,
            pos_var=max(pos2 / n - pos_mean**2, 0.0),
            neg_count=pairs,
            neg_mean=neg_mean,
            neg_var=max(neg2 / pairs - neg_mean**2, 0.0),
            within_count=pairs,
            within_mean=within_mean,
            within_var=max(w2 / (2 * pairs) - within_mean**2, 0.0),
            optimum=optimum,
            excess=neg_mean - optimum,
        )
