"""Thin `nn.Module` wrappers: each stores hyperparameters and calls one pure function.

Every module takes `gather: bool` (score local rows against all processes' columns; see
`contrastlens.distributed`). Shape legend: B rows, D dimension, K queue length.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from contrastlens.losses._checks import check_positive, resolve_delta
from contrastlens.losses.additive import sigmoid_loss, spectral_loss
from contrastlens.losses.infonce import dcl_loss, dhel_loss, infonce_loss, simclr_loss
from contrastlens.losses.moco import moco_loss
from contrastlens.losses.vrn import vrn_loss

__all__ = [
    "DCLLoss",
    "DHELLoss",
    "InfoNCELoss",
    "MoCoLoss",
    "SigLIPLoss",
    "SimCLRLoss",
    "SpectralLoss",
    "VRN",
]


class _TemperatureLoss(nn.Module):
    _fn = staticmethod(simclr_loss)

    def __init__(self, temperature: float = 0.2, *, gather: bool = False) -> None:
        super().__init__()
        check_positive(temperature, "temperature")
        self.temperature = temperature
        self.gather = gather

    def forward(
        self, z1_BD: torch.Tensor, z2_BD: torch.Tensor, ids_B: torch.Tensor | None = None
    ) -> torch.Tensor:
        return type(self)._fn(
            z1_BD, z2_BD, temperature=self.temperature, ids=ids_B, gather=self.gather
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, gather={self.gather}"


class InfoNCELoss(_TemperatureLoss):
    """`infonce_loss` (cross-view negatives only; CLIP's symmetric loss)."""

    _fn = staticmethod(infonce_loss)


class SimCLRLoss(_TemperatureLoss):
    """`simclr_loss` (NT-Xent: cross- and within-view negatives)."""

    _fn = staticmethod(simclr_loss)


class DCLLoss(_TemperatureLoss):
    """`dcl_loss` (SimCLR without the positive in the denominator)."""

    _fn = staticmethod(dcl_loss)


class DHELLoss(_TemperatureLoss):
    """`dhel_loss` (within-view negatives only, decoupled; the paper's averaged form)."""

    _fn = staticmethod(dhel_loss)


class SigLIPLoss(nn.Module):
    """`sigmoid_loss` with t and b fixed (numbers) or learnable (None).

    None makes the value a parameter initialized as in SigLIP (Zhai et al., 2023): t is learned
    as log t (open_clip's logit_scale) from log 10, b from 10 (open_clip's logit_bias = -10).
    """

    def __init__(
        self,
        t: float | None = None,
        b: float | None = None,
        *,
        cross_view: bool = True,
        within_view: bool = False,
        gather: bool = False,
    ) -> None:
        super().__init__()
        if t is None:
            self.log_t = nn.Parameter(torch.tensor(math.log(10.0)))
        else:
            check_positive(t, "t")
            self.log_t = None
            self.t_fixed = float(t)
        self.b = nn.Parameter(torch.tensor(10.0)) if b is None else float(b)
        self.cross_view = cross_view
        self.within_view = within_view
        self.gather = gather

    @property
    def t(self) -> torch.Tensor | float:
        return self.t_fixed if self.log_t is None else self.log_t.exp()

    def forward(
        self, z1_BD: torch.Tensor, z2_BD: torch.Tensor, ids_B: torch.Tensor | None = None
    ) -> torch.Tensor:
        return sigmoid_loss(
            z1_BD,
            z2_BD,
            t=self.t,
            b=self.b,
            cross_view=self.cross_view,
            within_view=self.within_view,
            ids=ids_B,
            gather=self.gather,
        )


class SpectralLoss(nn.Module):
    """`spectral_loss` (phi = x, psi = x^2)."""

    def __init__(
        self, *, cross_view: bool = True, within_view: bool = False, gather: bool = False
    ) -> None:
        super().__init__()
        self.cross_view = cross_view
        self.within_view = within_view
        self.gather = gather

    def forward(
        self, z1_BD: torch.Tensor, z2_BD: torch.Tensor, ids_B: torch.Tensor | None = None
    ) -> torch.Tensor:
        return spectral_loss(
            z1_BD,
            z2_BD,
            cross_view=self.cross_view,
            within_view=self.within_view,
            ids=ids_B,
            gather=self.gather,
        )


class MoCoLoss(nn.Module):
    """`moco_loss`: forward(q_BD, k_BD, queue_KD) with the (K, D) queue of keys."""

    def __init__(self, temperature: float = 0.2, *, gather: bool = False) -> None:
        super().__init__()
        check_positive(temperature, "temperature")
        self.temperature = temperature
        self.gather = gather

    def forward(self, q_BD: torch.Tensor, k_BD: torch.Tensor, queue: torch.Tensor) -> torch.Tensor:
        return moco_loss(q_BD, k_BD, queue, temperature=self.temperature, gather=self.gather)


class VRN(nn.Module):
    """weight * `vrn_loss` (Def 5.7). Give exactly one of n (dataset size) or delta.

    forward(z1_BD, z2_BD, ids_B=None, queue=None) returns the WEIGHTED term; the paper's default
    weight (lambda) is 30. `build_objective` uses the functional form and shows the sum.
    """

    def __init__(
        self,
        n: int | None = None,
        *,
        delta: float | None = None,
        weight: float = 1.0,
        p: float = 2,
        within_view: bool = False,
        gather: bool = False,
    ) -> None:
        super().__init__()
        self.delta = resolve_delta(n, delta)
        self.n = n
        self.weight = weight
        self.p = p
        self.within_view = within_view
        self.gather = gather

    def forward(
        self,
        z1_BD: torch.Tensor,
        z2_BD: torch.Tensor,
        ids_B: torch.Tensor | None = None,
        queue: torch.Tensor | None = None,
    ) -> torch.Tensor:
        term = vrn_loss(
            z1_BD,
            z2_BD,
            delta=self.delta,
            p=self.p,
            ids=ids_B,
            within_view=self.within_view,
            queue=queue,
            gather=self.gather,
        )
        return self.weight * term

    def extra_repr(self) -> str:
        return f"n={self.n}, delta={self.delta:.3g}, weight={self.weight}, p={self.p}"
