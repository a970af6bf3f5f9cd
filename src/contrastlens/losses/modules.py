"""Thin `nn.Module` wrappers: each stores hyperparameters and calls one pure function.

Every module takes `gather: bool` (score local rows against all processes' columns; see
`contrastlens.distributed`). Shape legend: B rows, D dimension, K queue length.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from contrastlens.losses._checks import check_dataset_size, check_positive, resolve_delta
from contrastlens.losses.additive import sigmoid_loss, spectral_loss
from contrastlens.losses.global_contrastive import (
    check_gamma,
    global_contrastive_from_pairs,
    new_state,
    state_diagnostics,
)
from contrastlens.losses.infonce import dcl_loss, dhel_loss, infonce_loss, simclr_loss
from contrastlens.losses.moco import moco_loss
from contrastlens.losses.pairs import ViewPairs, view_pairs
from contrastlens.losses.vrn import vrn_loss

__all__ = [
    "DCLLoss",
    "DHELLoss",
    "GlobalContrastiveLoss",
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


class GlobalContrastiveLoss(nn.Module):
    """SogCLR's global contrastive loss with its per-sample state: `loss(z1, z2, ids)`.

    Yuan et al., ICML 2022, arXiv:2202.12387: DCL whose inner sum runs over all n training
    samples (Lee et al. Def 3.1, psi = log, c1 = c2 = 1), each sample's mean exp-similarity
    g_a estimated by a moving average u_i across steps (Algorithm 1). Per anchor a (u_i, v_i):

        loss = 1/(2B) sum_a [ -u_i.v_i/t + log(2(n-1) u_a) ],  u_a = (1-gamma) u_i + gamma g_a(B)
        grad = 1/(2B) sum_a [ -grad(u_i.v_i)/t + grad(g_a(B)) / u_a ]

    (`losses.global_contrastive` has the derivation and the conventions.)

    State: the buffer `log_u_N` ((n,), log u_i, -inf = not visited yet) is in `state_dict`, so
    checkpoints and resumes keep it; it has the module's dtype (`.double()` for float64 work)
    and device. In training mode every call writes the batch's rows (a sample's first visit
    sets u_i = g_a(B), later visits u_i <- (1 - gamma) u_i + gamma g_a(B), averaged over the
    two views); in eval mode the loss is the same and the state is left alone. Call it once
    per optimizer step.

    LibAUC 2.0.1: `GCLoss_v1(N=n, tau=temperature, gamma=gamma, gamma_schedule="constant")`
    holds exp(log_u_N) as its `u` after the same steps (for batches that are all new or all
    revisits; a new sample among revisits gets g here and gamma g there), and
    `2 * temperature * loss` has its gradient.

    Args:
        n: the training-set size (the state's length); ids must lie in [0, n).
        temperature: t > 0. gamma: in (0, 1], the weight of the new batch estimate
            (LibAUC's `gamma`; 1 = no memory, DCL's estimate of the full-data objective).
        within_view: within-view negatives too (the default); False is the cross-view-only
            (InfoNCE-shaped, c2 = 0) variant.
        gather: several processes hold one global batch (see `contrastlens.distributed`);
            every process then holds the same state.

    forward(z1_BD, z2_BD, ids_B):
        z1_BD, z2_BD: (B, D) two views of the same B samples (normalized inside).
        ids_B: (B,) integer dataset indices in [0, n), distinct in the (global) batch.

    `forward` returns the 0-d loss; `diagnostics()` gives {"sogclr_log_u_mean",
    "sogclr_visited"} of the state.

    Example:
        >>> import torch
        >>> from contrastlens.losses import GlobalContrastiveLoss
        >>> loss_fn = GlobalContrastiveLoss(1000, temperature=0.1, gamma=0.9)
        >>> z1 = torch.randn(32, 128, requires_grad=True)
        >>> z2 = torch.randn(32, 128, requires_grad=True)
        >>> ids = torch.randperm(1000)[:32]              # the samples' dataset indices
        >>> loss_fn(z1, z2, ids).backward()
        >>> loss_fn.diagnostics()["sogclr_visited"].item()
        0.032
    """

    def __init__(
        self,
        n: int,
        temperature: float = 0.1,
        gamma: float = 0.9,
        *,
        within_view: bool = True,
        gather: bool = False,
    ) -> None:
        super().__init__()
        self.n = check_dataset_size(n)
        check_positive(temperature, "temperature")
        self.temperature = temperature
        self.gamma = check_gamma(gamma)
        self.within_view = bool(within_view)
        self.gather = gather
        self.register_buffer("log_u_N", new_state(self.n))

    def forward(
        self, z1_BD: torch.Tensor, z2_BD: torch.Tensor, ids_B: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.from_pairs(view_pairs(z1_BD, z2_BD, gather=self.gather), ids_B)

    def from_pairs(self, P: ViewPairs, ids_B: torch.Tensor | None) -> torch.Tensor:
        """The loss on a prepared batch; writes the state rows in training mode."""
        step = global_contrastive_from_pairs(
            P,
            ids_B,
            self.log_u_N,
            temperature=self.temperature,
            gamma=self.gamma,
            within_view=self.within_view,
        )
        if self.training:
            with torch.no_grad():
                self.log_u_N[step.ids_G] = step.log_u_G
        return step.loss

    def diagnostics(self) -> dict[str, torch.Tensor]:
        """{"sogclr_log_u_mean", "sogclr_visited"}: see `global_contrastive.state_diagnostics`."""
        return state_diagnostics(self.log_u_N)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        saved = state_dict.get(prefix + "log_u_N")
        if saved is not None and saved.shape != self.log_u_N.shape:
            raise ValueError(
                f"sogclr state: the checkpoint holds {tuple(saved.shape)[0]} samples but this "
                f"loss has n = {self.n}; resume on the same training set (data.subset, "
                "data.val_size) or start a new run"
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"n={self.n}, temperature={self.temperature}, gamma={self.gamma}, "
            f"within_view={self.within_view}, gather={self.gather}"
        )


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
