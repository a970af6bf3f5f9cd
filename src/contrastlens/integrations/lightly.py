"""VRN as a lightly regularizer: `VRNRegularizer`, used beside `lightly.loss.NTXentLoss`.

    from lightly.loss import NTXentLoss
    from contrastlens.integrations.lightly import VRNRegularizer

    criterion = NTXentLoss(temperature=0.5)
    vrn = VRNRegularizer(n=len(dataset), weight=30.0)
    out0, out1 = model(x0), model(x1)          # (B, D) projections of two views
    loss = criterion(out0, out1) + vrn(out0, out1)

Like lightly's regularizers (`lightly.loss.regularizer.CO2Regularizer`), it is an `nn.Module`
whose `forward(out0, out1)` returns the weighted term, to be added to the loss. Unlike
CO2Regularizer (lightly 1.6), whose forward wraps its result in `torch.tensor(...)` and so
returns a constant, the term here carries its gradient. The math is
`contrastlens.losses.vrn_loss` (Lee et al., ICML 2025, Def 5.7).

Shape legend: B rows (images), D projection dimension.
"""

from __future__ import annotations

from torch import Tensor, nn

from contrastlens.checks import resolve_delta
from contrastlens.integrations import missing_extra
from contrastlens.losses import vrn_loss

try:
    import lightly.loss  # noqa: F401  (the host library: this module is used beside it)
except ImportError as error:
    raise ImportError(missing_extra("lightly", "lightly", "lightly", error)) from error

__all__ = ["VRNRegularizer"]


class VRNRegularizer(nn.Module):
    """VRN as a lightly regularizer: add `vrn(out0, out1)` to lightly's `NTXentLoss`.

    VRN (Lee et al., ICML 2025, Def 5.7) for two views, in lightly's regularizer convention:

        forward(out0, out1) = weight * 1/(B(B-1)) sum_{i!=j} (cos(out0_i, out1_j) - delta)^p

    delta = -1/(n-1) with n the size of the TRAINING SET (not the batch): the full-batch optimum
    of every negative similarity (Thm 5.1). The paper uses weight 30; scale it with 1/lr when the
    learning rate is scaled with the batch size (README, "Measured numbers").

    Args:
        n: training-set size (delta = -1/(n-1)); or give delta directly; exactly one.
        delta: the target similarity of the negatives.
        weight: the regularization weight (lambda in the paper).
        p: the power (2 in the paper).
        within_view: also regularize the pairs (out0_i, out0_j) and (out1_i, out1_j)
            (a contrastlens extension, not the paper's).
        gather_distributed: score local rows against the other view's rows of every process,
            as lightly's `NTXentLoss(gather_distributed=True)`; the value and gradients equal
            one process holding the global batch.

    Examples:
        >>> import torch
        >>> from lightly.loss import NTXentLoss
        >>> from contrastlens.integrations.lightly import VRNRegularizer
        >>> criterion = NTXentLoss(temperature=0.5)
        >>> vrn = VRNRegularizer(n=50_000, weight=30.0)
        >>> _ = torch.manual_seed(0)
        >>> out0, out1 = torch.randn(8, 16), torch.randn(8, 16)  # (B, D) projections
        >>> criterion(out0, out1), vrn(out0, out1)
        (tensor(2.5932), tensor(1.7575))
        >>> loss = criterion(out0, out1) + vrn(out0, out1)

        At the full-batch optimum of n = 5 instances (the simplex ETF) there is nothing to
        reduce:

        >>> from contrastlens.theory import simplex_etf
        >>> etf = simplex_etf(5).float()
        >>> round(float(VRNRegularizer(n=5, weight=30.0)(etf, etf)), 4)
        0.0

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 5.7. <https://arxiv.org/abs/2506.09781>
    """

    def __init__(
        self,
        n: int | None = None,
        delta: float | None = None,
        weight: float = 1.0,
        p: float = 2.0,
        within_view: bool = False,
        gather_distributed: bool = False,
    ) -> None:
        super().__init__()
        resolve_delta(n, delta)  # fail at construction, not at the first step
        self.n = n
        self.delta = delta
        self.weight = weight
        self.p = p
        self.within_view = within_view
        self.gather_distributed = gather_distributed

    def forward(self, out0: Tensor, out1: Tensor) -> Tensor:
        """out0, out1: (B, D) projections of the two views (normalized inside). Returns the
        weighted regularization term, a 0-d tensor."""
        return self.weight * vrn_loss(
            out0,
            out1,
            n=self.n,
            delta=self.delta,
            p=self.p,
            within_view=self.within_view,
            gather=self.gather_distributed,
        )

    def extra_repr(self) -> str:
        target = resolve_delta(self.n, self.delta)
        return f"delta={target:.6g}, weight={self.weight}, p={self.p}"
