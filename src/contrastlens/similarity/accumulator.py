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

With class labels y_i (`update(z1, z2, labels=y)`), the cross-view negatives split exactly into
same-label pairs (y_i = y_j, i != j: false negatives to a contrastive loss) and different-label
pairs. For each label c with rows U_c, V_c (n_c of them) the same sums restricted to the class
give the same-label part, minus the positives (every (i, i) lies in its own class):

    sum_{i != j, y_i = y_j} u_i.v_j     = sum_c (sum U_c).(sum V_c) - sum_i u_i.v_i
    sum_{i != j, y_i = y_j} (u_i.v_j)^2 = sum_c <U_c^T U_c, V_c^T V_c>_F - sum_i (u_i.v_i)^2

and the different-label part is the total minus the same-label part. A class keeps its rows
while it has at most D of them (then ||U_c V_c^T||_F^2 is the cheaper form) and its two D x D
Gram matrices after that, so memory is O(D * min(N, L D)) for L labels, never an N x N matrix.

Legend (labels): L distinct labels, M rows of one label in one update.

With `pair_sums=True` it also keeps M = U^T V = sum_i u_i v_i^T (D x D) and the vectors
w_u = sum_i (u_i.v_i) u_i, w_v = sum_i (u_i.v_i) v_i, from which `pair_sums()` gives the
population sums that the expected variance of negatives in a random batch needs
(`contrastlens.similarity.batches`), with row sums r_i = sum_{j!=i} u_i.v_j = u_i.(sum v) - u_i.v_i
and column sums c_j = v_j.(sum u) - u_j.v_j:

    sum_{i != j} u_i.v_j u_j.v_i = tr(M M) - sum_i (u_i.v_i)^2
    sum_i r_i^2   = (sum v)^T U^T U (sum v) - 2 (sum v).w_u + sum_i (u_i.v_i)^2
    sum_j c_j^2   = (sum u)^T V^T V (sum u) - 2 (sum u).w_v + sum_i (u_i.v_i)^2
    sum_i r_i c_i = (sum v)^T M (sum u) - (sum v).w_u - (sum u).w_v + sum_i (u_i.v_i)^2
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from contrastlens.checks import check_embeddings
from contrastlens.optimum import negative_optimum
from contrastlens.similarity.batches import PairSums


@dataclass(frozen=True)
class SimilarityMoments:
    """Exact population moments over a whole dataset; see `SimilarityAccumulator`.

    Attributes:
        n: the instances seen (the dataset size).
        pos_mean: E[s_pos] over the n positive pairs (u_i, v_i).
        pos_var: Var[s_pos] (population variance).
        neg_count: n(n-1), the ordered cross-view pairs (u_i, v_j), i != j.
        neg_mean: E[s_neg] over them.
        neg_var: Var[s_neg] over them (population variance).
        within_count: n(n-1), the pairs (u_i, u_j) and (v_i, v_j), i < j.
        within_mean: their mean.
        within_var: their population variance.
        optimum: Thm 5.1's full-batch optimum -1/(n-1).
        excess: neg_mean - optimum (< 0: over-separated).
        by_label: the negatives split by label, when labels were given.
    """

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
    by_label: LabelSplit | None = None  # when labels were given

    def as_dict(self) -> dict:
        """Flat numbers, plus "by_label" (`LabelSplit.as_dict`) when labels were given.

        Returns:
            {name: number}, and "by_label": {...} when labels were given.
        """
        out = {k: v for k, v in asdict(self).items() if k != "by_label"}
        if self.by_label is not None:
            out["by_label"] = self.by_label.as_dict()
        return out


@dataclass(frozen=True)
class LabelSplit:
    """The n(n-1) cross-view negatives (u_i, v_j), i != j, split by label.

    "same" (y_i = y_j, false negatives to the loss) and "different" (y_i != y_j): mean and
    population variance of each part (None when it has no pairs) and its share of all
    negatives (the two shares add up to 1). With L balanced classes the same-label share is
    (n/L - 1)/(n - 1), about 1/L.

    Attributes:
        labels: the distinct labels seen.
        same_count: sum_c n_c (n_c - 1), the same-label pairs.
        same_mean: their mean similarity.
        same_var: their population variance.
        same_share: same_count / (n(n-1)).
        different_count: the different-label pairs.
        different_mean: their mean similarity.
        different_var: their population variance.
        different_share: different_count / (n(n-1)).
    """

    labels: int  # distinct labels seen
    same_count: int  # sum_c n_c (n_c - 1)
    same_mean: float | None
    same_var: float | None
    same_share: float
    different_count: int
    different_mean: float | None
    different_var: float | None
    different_share: float

    def as_dict(self) -> dict:
        """{"labels", "same": {"count", "mean", "var", "share"}, "different": {...}}."""
        return {
            "labels": self.labels,
            **{
                part: {
                    key: getattr(self, f"{part}_{key}") for key in ("count", "mean", "var", "share")
                }
                for part in ("same", "different")
            },
        }


def _check_labels(labels: object, rows: int) -> torch.Tensor:
    """labels: a 1-D integer (or bool) tensor with one class id per row."""
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.shape[0] != rows:
        got = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(
            f"labels must be a 1-D tensor of shape ({rows},), one class id per row, got {got}"
        )
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError(
            f"labels must be integer class ids, got dtype {labels.dtype} (e.g. labels.long() "
            "for integral values)"
        )
    return labels


class _Group:
    """One label's running sums: sum u, sum v, and the rows themselves while there are at most D
    of them, their D x D Gram matrices after that (float64)."""

    def __init__(self, D: int, device: torch.device) -> None:
        kw = {"dtype": torch.float64, "device": device}
        self.n = 0
        self.sum_u_D = torch.zeros(D, **kw)
        self.sum_v_D = torch.zeros(D, **kw)
        self.u_MD: torch.Tensor | None = torch.zeros(0, D, **kw)
        self.v_MD: torch.Tensor | None = torch.zeros(0, D, **kw)
        self.gram_u_DD: torch.Tensor | None = None
        self.gram_v_DD: torch.Tensor | None = None

    def add(self, u_MD: torch.Tensor, v_MD: torch.Tensor) -> None:
        self.n += u_MD.shape[0]
        self.sum_u_D += u_MD.sum(0)
        self.sum_v_D += v_MD.sum(0)
        if self.gram_u_DD is not None:
            self.gram_u_DD.addmm_(u_MD.T, u_MD)
            self.gram_v_DD.addmm_(v_MD.T, v_MD)
            return
        self.u_MD = torch.cat([self.u_MD, u_MD])
        self.v_MD = torch.cat([self.v_MD, v_MD])
        if self.n > self.u_MD.shape[1]:  # more rows than D: the Gram matrices are smaller
            self._to_gram()

    def _to_gram(self) -> None:
        if self.gram_u_DD is None:
            self.gram_u_DD, self.gram_v_DD = self.u_MD.T @ self.u_MD, self.v_MD.T @ self.v_MD
            self.u_MD = self.v_MD = None

    def merge(self, other: _Group) -> None:
        if other.gram_u_DD is None:
            self.add(other.u_MD, other.v_MD)
            return
        self._to_gram()
        self.n += other.n
        self.sum_u_D += other.sum_u_D
        self.sum_v_D += other.sum_v_D
        self.gram_u_DD += other.gram_u_DD
        self.gram_v_DD += other.gram_v_DD

    def pair_sums(self) -> tuple[float, float]:
        """(sum u_i.v_j, sum (u_i.v_j)^2) over all pairs (i, j) of the class, i = j included."""
        linear = float(self.sum_u_D @ self.sum_v_D)
        if self.gram_u_DD is not None:
            return linear, float((self.gram_u_DD * self.gram_v_DD).sum())
        return linear, float((self.u_MD @ self.v_MD.T).pow(2).sum())


class SimilarityAccumulator:
    """Exact similarity moments over a whole dataset, streamed batch by batch.

    `update(z1, z2)` per batch, then `result()`: E[s_pos], Var[s_pos], and E[s_neg], Var[s_neg]
    over all n(n-1) cross-view negatives of the dataset (the paper's quantities, Lee et al.,
    ICML 2025), from sums of D x D outer products: O(n D^2) time, O(D^2) memory, never an
    n x n matrix. This is the measurement behind Thm 5.5 (the spread of the negatives) and
    Def 5.7 (VRN). Accumulation is float64 whatever the input dtype; the state lives on the
    first batch's device. `merge` adds another accumulator's state (e.g. one per process or per
    shard).

    With labels (give them to every update, or to none), `result().by_label` splits the
    cross-view negatives into same-label and different-label pairs (`LabelSplit`), exactly.

    Args:
        normalize: L2-normalize rows first (cosine similarities), as everywhere in
            contrastlens.
        pair_sums: also keep U^T V and two vectors (one more D x D product per update) for
            `pair_sums()`, the sums behind `expected_batch_variance`
            (`contrastlens.similarity.batches`).

    Examples:
        >>> import torch
        >>> from contrastlens.similarity import SimilarityAccumulator
        >>> from contrastlens.theory import simplex_etf
        >>> etf = simplex_etf(5)  # n = 5 instances, streamed in batches of 2, 2 and 1
        >>> acc = SimilarityAccumulator()
        >>> for batch in etf.split(2):
        ...     _ = acc.update(batch, batch)
        >>> m = acc.result()
        >>> m.n, round(m.neg_mean, 12), round(m.neg_var, 12)  # all 20 negatives at -1/4
        (5, -0.25, 0.0)

        Same-label negatives (false negatives to a contrastive loss) apart:

        >>> _ = torch.manual_seed(0)
        >>> z1 = torch.randn(6, 8)
        >>> z2 = z1 + 0.1 * torch.randn(6, 8)
        >>> y = torch.tensor([0, 0, 0, 1, 1, 1])
        >>> split = SimilarityAccumulator().update(z1, z2, labels=y).result().by_label
        >>> split.same_count, split.different_count, split.same_share
        (12, 18, 0.4)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025. <https://arxiv.org/abs/2506.09781>
    """

    def __init__(self, *, normalize: bool = True, pair_sums: bool = False) -> None:
        self.normalize = normalize
        self.keeps_pair_sums = pair_sums
        self.n = 0
        # with pair_sums: M = U^T V (D, D), w_u = sum pos_i u_i, w_v = sum pos_i v_i (D,)
        self._cross_DD: torch.Tensor | None = None
        self._w_u_D: torch.Tensor | None = None
        self._w_v_D: torch.Tensor | None = None
        self._sum_u_D: torch.Tensor | None = None
        self._sum_v_D: torch.Tensor | None = None
        self._gram_u_DD: torch.Tensor | None = None
        self._gram_v_DD: torch.Tensor | None = None
        # scalar float64 sums: pos, pos^2, ||u||^2, ||u||^4, ||v||^2, ||v||^4
        self._scalars: torch.Tensor | None = None
        # label -> _Group when labels are given (None: no labels, or nothing seen yet)
        self._groups: dict[int, _Group] | None = None

    @torch.no_grad()
    def update(
        self,
        z1_BD: torch.Tensor,
        z2_BD: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> SimilarityAccumulator:
        """Adds B instances (B = 0 adds nothing).

        Args:
            z1_BD: (B, D) view 1, finite floating, D >= 1.
            z2_BD: (B, D) view 2; row i of z1_BD and of z2_BD are a positive pair.
            labels: (B,) integer class ids of the instances (both views share them), for
                `result().by_label`; give them to every update or to none.

        Returns:
            self.
        """
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
        if labels is not None:
            labels = _check_labels(labels, z1_BD.shape[0])
        if self.n > 0 and (labels is None) != (self._groups is None):
            raise ValueError(
                "labels were given to "
                + ("earlier updates but not to this one" if labels is None else "this update only")
                + ": give labels to every update of an accumulator, or to none"
            )
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
            if self.keeps_pair_sums:
                self._cross_DD = torch.zeros(D, D, **kw)
                self._w_u_D = torch.zeros(D, **kw)
                self._w_v_D = torch.zeros(D, **kw)
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
        if self.keeps_pair_sums:
            self._cross_DD.addmm_(u_BD.T, v_BD)  # += U^T V
            self._w_u_D += pos_B @ u_BD
            self._w_v_D += pos_B @ v_BD
        if labels is not None:
            self._add_labeled(u_BD, v_BD, labels.to(u_BD.device))
        self.n += u_BD.shape[0]
        return self

    def _add_labeled(self, u_BD: torch.Tensor, v_BD: torch.Tensor, y_B: torch.Tensor) -> None:
        """Each label's rows of this batch into its group (rows sorted by label, then split)."""
        if y_B.numel() == 0:
            return
        if self._groups is None:
            self._groups = {}
        keys_L, inverse_B, counts_L = torch.unique(y_B, return_inverse=True, return_counts=True)
        order_B = inverse_B.argsort(stable=True)
        sizes = counts_L.tolist()
        for key, u_MD, v_MD in zip(
            keys_L.tolist(), u_BD[order_B].split(sizes), v_BD[order_B].split(sizes)
        ):
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(u_BD.shape[1], u_BD.device)
            group.add(u_MD, v_MD)

    def merge(self, other: SimilarityAccumulator) -> SimilarityAccumulator:
        """Adds the state of `other` (e.g. another process's or shard's).

        Args:
            other: an accumulator of the same D over disjoint instances, both labeled or
                neither.

        Returns:
            self.
        """
        if other._gram_u_DD is None:
            return self
        if self.keeps_pair_sums and not other.keeps_pair_sums:
            raise ValueError(
                "this accumulator keeps pair sums and the other does not: make both with "
                "SimilarityAccumulator(pair_sums=True)"
            )
        if self._gram_u_DD is not None and (self._groups is None) != (other._groups is None):
            raise ValueError(
                "one accumulator has labels and the other has none: merge only accumulators "
                "updated the same way (labels for every update, or for none)"
            )
        if self._gram_u_DD is None:
            self._sum_u_D = other._sum_u_D.clone()
            self._sum_v_D = other._sum_v_D.clone()
            self._gram_u_DD = other._gram_u_DD.clone()
            self._gram_v_DD = other._gram_v_DD.clone()
            self._scalars = other._scalars.clone()
            if self.keeps_pair_sums:
                self._cross_DD = other._cross_DD.clone()
                self._w_u_D = other._w_u_D.clone()
                self._w_v_D = other._w_v_D.clone()
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
            if self.keeps_pair_sums:
                self._cross_DD += other._cross_DD
                self._w_u_D += other._w_u_D
                self._w_v_D += other._w_v_D
        if other._groups is not None:
            if self._groups is None:
                self._groups = {}
            for key, theirs in other._groups.items():
                ours = self._groups.get(key)
                if ours is None:
                    ours = self._groups[key] = _Group(
                        theirs.sum_u_D.shape[0], theirs.sum_u_D.device
                    )
                ours.merge(theirs)
        self.n += other.n
        return self

    def result(self) -> SimilarityMoments:
        """Exact mean and population variance over everything seen; needs n >= 2.

        Returns:
            The moments of the positives, the cross-view and the within-view negatives, the
            optimum -1/(n-1) and the excess, and the label split when labels were given.
        """
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
        by_label = None if self._groups is None else self._label_split(pos, pos2, neg1, neg2)
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
            by_label=by_label,
        )

    def pair_sums(self) -> PairSums:
        """The population sums over the n(n-1) cross-view negatives (u_i, v_j), i != j, that
        `expected_batch_variance` needs (module docstring); needs `pair_sums=True` and n >= 2."""
        if not self.keeps_pair_sums:
            raise ValueError(
                "pair_sums() needs the extra sums: make the accumulator with "
                "SimilarityAccumulator(pair_sums=True)"
            )
        if self.n < 2:
            raise ValueError(f"need at least 2 instances for negative pairs, have n = {self.n}")
        pos, pos2 = (float(x) for x in self._scalars[:2])
        su_D, sv_D = self._sum_u_D, self._sum_v_D
        cross_DD = self._cross_DD
        su_wv = float(su_D @ self._w_v_D)
        sv_wu = float(sv_D @ self._w_u_D)
        return PairSums(
            n=self.n,
            total=float(su_D @ sv_D) - pos,
            square=float((self._gram_u_DD * self._gram_v_DD).sum()) - pos2,
            swap=float((cross_DD * cross_DD.T).sum()) - pos2,
            row_square=float(sv_D @ self._gram_u_DD @ sv_D) - 2 * sv_wu + pos2,
            col_square=float(su_D @ self._gram_v_DD @ su_D) - 2 * su_wv + pos2,
            row_col=float(sv_D @ cross_DD @ su_D) - sv_wu - su_wv + pos2,
        )

    def _label_split(self, pos: float, pos2: float, neg1: float, neg2: float) -> LabelSplit:
        """Same-label sums from each label's group (minus the positives), different = total -
        same; pos, pos2, neg1, neg2 are the sums of s and s^2 over positives and all negatives."""
        pairs = self.n * (self.n - 1)
        same1, same2, same_count = -pos, -pos2, 0
        for group in self._groups.values():
            linear, square = group.pair_sums()
            same1 += linear
            same2 += square
            same_count += group.n * (group.n - 1)
        parts = {}
        for part, count, s1, s2 in (
            ("same", same_count, same1, same2),
            ("different", pairs - same_count, neg1 - same1, neg2 - same2),
        ):
            mean = s1 / count if count else None
            var = max(s2 / count - mean**2, 0.0) if count else None
            parts.update(
                {
                    f"{part}_count": count,
                    f"{part}_mean": mean,
                    f"{part}_var": var,
                    f"{part}_share": count / pairs,
                }
            )
        return LabelSplit(labels=len(self._groups), **parts)
