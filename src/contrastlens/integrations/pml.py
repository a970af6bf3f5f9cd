"""VRN as a pytorch-metric-learning loss: `VRNLoss`, label-aware, and a `SelfSupervisedLoss`
that accepts it.

    from pytorch_metric_learning.losses import MultipleLosses, NTXentLoss
    from contrastlens.integrations.pml import SelfSupervisedLoss, VRNLoss

    loss_fn = MultipleLosses([NTXentLoss(0.1), VRNLoss(n=len(dataset))], weights=[1, 30])
    loss = loss_fn(embeddings, labels)             # supervised: labels are classes
    ssl = SelfSupervisedLoss(VRNLoss(n=len(dataset)), symmetric=False)
    loss = ssl(embeddings, ref_emb)                # two views of the same rows

`VRNLoss` is a `BaseMetricLossFunction`: `forward(embeddings, labels, indices_tuple=None,
ref_emb=None, ref_labels=None)`, cosine similarity as its distance, the loss dict reduced by the
reducer, embedding regularizers through the usual kwargs. Negatives are the pairs (i, j) with
labels[i] != ref_labels[j], embeddings against ref_emb (itself when not given):

    L = 1/|neg| sum_{(i,j) in neg} (cos(e_i, r_j) - delta)^p,   delta = -1/(n-1),

n the size of the training set (Lee et al., ICML 2025, Def 5.7; `contrastlens.losses.vrn_loss`
with the labels as instance ids). Inside `SelfSupervisedLoss(..., symmetric=False)` the labels
are the row indices and this is exactly the paper's cross-view VRN; with the default
symmetric=True the wrapper stacks the two views (2B rows, labels repeated), so the negatives
are every pair of different rows, within-view pairs included.

pytorch-metric-learning's own `SelfSupervisedLoss` (2.9) refuses any loss whose class name is
not in its `supported_losses()` list, so it refuses VRNLoss; `SelfSupervisedLoss` here is that
class with "VRNLoss" added to the list, nothing else changed.

Shape legend: B rows (embeddings), M rows of ref_emb (= B), D dimension.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from contrastlens.checks import resolve_delta
from contrastlens.integrations import missing_extra
from contrastlens.losses import vrn_loss

try:
    from pytorch_metric_learning.distances import CosineSimilarity
    from pytorch_metric_learning.losses import BaseMetricLossFunction
    from pytorch_metric_learning.losses import SelfSupervisedLoss as _PMLSelfSupervisedLoss
    from pytorch_metric_learning.utils import common_functions as c_f
except ImportError as error:
    raise ImportError(missing_extra("pml", "pytorch-metric-learning", "pml", error)) from error

__all__ = ["SelfSupervisedLoss", "VRNLoss"]


class VRNLoss(BaseMetricLossFunction):
    """VRN as a pytorch-metric-learning loss, over the pairs with different labels.

    Def 5.7 (Lee et al., ICML 2025) with the labels as instance ids:

        L = 1/|neg| sum_{(i,j) in neg} (cos(e_i, r_j) - delta)^p,   delta = -1/(n-1),

    over the pairs (i, j) with labels[i] != ref_labels[j], embeddings against ref_emb
    (embeddings itself when not given). Labels are required; miners (indices_tuple) are not
    supported: VRN is a mean over all negatives. A batch whose labels are all equal has no
    negatives and gives pytorch-metric-learning's zero loss. Inside
    `SelfSupervisedLoss(..., symmetric=False)` it is the paper's cross-view VRN.

    Args:
        n: training-set size (delta = -1/(n-1)); or delta directly; exactly one.
        delta: the target similarity of the negatives, instead of n.
        p: the power (2 in the paper).
        **kwargs: BaseMetricLossFunction's (reducer, embedding_regularizer, ...); the distance
            must be CosineSimilarity (the default).

    Examples:
        >>> import torch
        >>> from contrastlens.integrations.pml import VRNLoss
        >>> from contrastlens.theory import simplex_etf
        >>> loss_fn = VRNLoss(n=5)
        >>> etf = simplex_etf(5).float()  # five classes at the optimum -1/(n-1) = -1/4
        >>> round(float(loss_fn(etf, torch.arange(5))), 4)
        0.0
        >>> _ = torch.manual_seed(0)
        >>> embeddings = torch.randn(8, 16)
        >>> labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])  # same-label pairs left out
        >>> VRNLoss(n=50_000)(embeddings, labels)
        tensor(0.0575)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 5.7. <https://arxiv.org/abs/2506.09781>
    """

    def __init__(
        self, n: int | None = None, delta: float | None = None, p: float = 2.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        c_f.assert_distance_type(self, CosineSimilarity)
        self.delta = resolve_delta(n, delta)  # the target similarity, -1/(n-1) from n
        self.n = n
        self.p = p
        self.add_to_recordable_attributes(list_of_names=["delta", "p"], is_stat=False)

    def compute_loss(
        self,
        embeddings: Tensor,
        labels: Tensor | None,
        indices_tuple: tuple[Tensor, ...] | None,
        ref_emb: Tensor,
        ref_labels: Tensor | None,
    ) -> dict:
        if indices_tuple is not None:
            raise ValueError(
                "VRNLoss does not take indices_tuple (miners): it averages over every pair "
                "with different labels"
            )
        c_f.labels_required(labels)
        if ref_emb is not embeddings and (
            ref_emb.shape != embeddings.shape
            or ref_labels is None
            or not (ref_labels == labels).all()
        ):
            raise ValueError(
                "VRNLoss needs ref_emb row-aligned with embeddings (the same shape, "
                f"ref_labels equal to labels), got shapes {tuple(embeddings.shape)} and "
                f"{tuple(ref_emb.shape)}"
            )
        if bool((labels == labels[0]).all()):  # no pair has different labels
            return self.zero_losses()
        loss = vrn_loss(embeddings, ref_emb, delta=self.delta, p=self.p, ids=labels)
        return {"loss": {"losses": loss, "indices": None, "reduction_type": "already_reduced"}}

    def get_default_distance(self) -> CosineSimilarity:
        """Cosine similarity, the only distance VRN is defined with."""
        return CosineSimilarity()


class SelfSupervisedLoss(_PMLSelfSupervisedLoss):
    """pytorch-metric-learning's `SelfSupervisedLoss`, also accepting `VRNLoss`.

    `SelfSupervisedLoss(VRNLoss(n=...), symmetric=False)(embeddings, ref_emb)`: the labels are
    the row indices, so row i of the two views is a positive pair and every (i, j != i) a
    negative: the paper's cross-view VRN (Def 5.7). With the default symmetric=True the two
    views are stacked (2B rows), within-view pairs included. Arguments: pytorch-metric-
    learning's (`loss`, `symmetric`, ...).

    Examples:
        >>> import torch
        >>> from contrastlens.integrations.pml import SelfSupervisedLoss, VRNLoss
        >>> from contrastlens.theory import simplex_etf
        >>> ssl = SelfSupervisedLoss(VRNLoss(n=5), symmetric=False)
        >>> etf = simplex_etf(5).float()  # aligned views at the optimum of n = 5
        >>> round(float(ssl(etf, etf)), 4)
        0.0

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 5.7. <https://arxiv.org/abs/2506.09781>
    """

    @staticmethod
    def supported_losses() -> list[str]:
        """pytorch-metric-learning's list of supported losses, plus "VRNLoss"."""
        return [*_PMLSelfSupervisedLoss.supported_losses(), "VRNLoss"]
