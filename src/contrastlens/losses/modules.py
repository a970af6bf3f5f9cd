"""Thin `nn.Module` wrappers: each stores hyperparameters and calls one pure function.

Every module takes `gather: bool` (score local rows against all processes' columns; see
`contrastlens.distributed`). Shape legend: B rows, D dimension, K queue length.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from contrastlens.checks import check_dataset_size, check_positive, resolve_delta
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
    """InfoNCE / CLIP's symmetric loss as a module: `infonce_loss` with a fixed temperature.

    Def 3.1 (Lee et al., ICML 2025) with c1 = 1, c2 = 0, psi(x) = log(1 + x): cross-view
    negatives only.

    Args:
        temperature: t > 0.
        gather: score local rows against all processes' columns (see
            `contrastlens.distributed`).

    forward(z1_BD, z2_BD, ids_B=None): z1_BD, z2_BD are the (B, D) two views (normalized
    inside), ids_B the optional (B,) instance ids; it returns the 0-d loss.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import InfoNCELoss
        >>> loss_fn = InfoNCELoss(temperature=0.5)
        >>> collapsed = torch.ones(4, 16)  # log B = log 4
        >>> loss_fn(collapsed, collapsed)
        tensor(1.3863)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.1. <https://arxiv.org/abs/2506.09781>
        - van den Oord, Li, Vinyals. Representation Learning with Contrastive Predictive
          Coding. 2018. <https://arxiv.org/abs/1807.03748>
    """

    _fn = staticmethod(infonce_loss)


class SimCLRLoss(_TemperatureLoss):
    """SimCLR's NT-Xent loss as a module: `simclr_loss` with a fixed temperature.

    Def 3.1 (Lee et al., ICML 2025) with c1 = c2 = 1, psi(x) = log(1 + x): cross- and
    within-view negatives; the value of lightly's `NTXentLoss`.

    Args:
        temperature: t > 0.
        gather: score local rows against all processes' columns (see
            `contrastlens.distributed`).

    forward(z1_BD, z2_BD, ids_B=None): z1_BD, z2_BD are the (B, D) two views (normalized
    inside), ids_B the optional (B,) instance ids; it returns the 0-d loss.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import SimCLRLoss
        >>> loss_fn = SimCLRLoss(temperature=0.5)
        >>> loss_fn
        SimCLRLoss(temperature=0.5, gather=False)
        >>> collapsed = torch.ones(4, 16)  # log(2B - 1) = log 7
        >>> loss_fn(collapsed, collapsed)
        tensor(1.9459)

    References:
        - Chen, Kornblith, Norouzi, Hinton. A Simple Framework for Contrastive Learning of
          Visual Representations. ICML 2020. <https://arxiv.org/abs/2002.05709>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.1. <https://arxiv.org/abs/2506.09781>
    """

    _fn = staticmethod(simclr_loss)


class DCLLoss(_TemperatureLoss):
    """DCL as a module: `dcl_loss` (SimCLR without the positive in the denominator).

    Def 3.1 (Lee et al., ICML 2025) with c1 = c2 = 1, psi(x) = log(x).

    Args:
        temperature: t > 0.
        gather: score local rows against all processes' columns (see
            `contrastlens.distributed`).

    forward(z1_BD, z2_BD, ids_B=None): z1_BD, z2_BD are the (B, D) two views (normalized
    inside), ids_B the optional (B,) instance ids; it returns the 0-d loss.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import DCLLoss
        >>> collapsed = torch.ones(4, 16)  # log(2B - 2) = log 6
        >>> DCLLoss(temperature=0.5)(collapsed, collapsed)
        tensor(1.7918)

    References:
        - Yeh, Hong, Hsu, Liu, Chen, LeCun. Decoupled Contrastive Learning. ECCV 2022.
          <https://arxiv.org/abs/2110.06848>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.1. <https://arxiv.org/abs/2506.09781>
    """

    _fn = staticmethod(dcl_loss)


class DHELLoss(_TemperatureLoss):
    """DHEL as a module: `dhel_loss` (within-view negatives only, decoupled).

    Def 3.1 (Lee et al., ICML 2025) with c1 = 0, c2 = 1, psi(x) = log(x), the paper's form: the
    two views' log-denominators averaged (the DHEL authors' code adds them; see `dhel_loss`).

    Args:
        temperature: t > 0.
        gather: score local rows against all processes' columns (see
            `contrastlens.distributed`).

    forward(z1_BD, z2_BD, ids_B=None): z1_BD, z2_BD are the (B, D) two views (normalized
    inside), ids_B the optional (B,) instance ids; it returns the 0-d loss.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import DHELLoss
        >>> collapsed = torch.ones(4, 16)  # log(B - 1) = log 3
        >>> DHELLoss(temperature=0.5)(collapsed, collapsed)
        tensor(1.0986)

    References:
        - Koromilas, Bouritsas, Giannakopoulos, Nicolaou, Panagakis. Bridging Mini-Batch and
          Asymptotic Analysis in Contrastive Learning: From InfoNCE to Kernel-Based Losses.
          ICML 2024. <https://arxiv.org/abs/2405.18045>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.1. <https://arxiv.org/abs/2506.09781>
    """

    _fn = staticmethod(dhel_loss)


class GlobalContrastiveLoss(nn.Module):
    """SogCLR's global contrastive loss as a module that holds its per-sample state.

    `loss(z1, z2, ids)` returns the 0-d loss and, in training mode, moves the state.

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
        temperature: t > 0.
        gamma: in (0, 1], the weight of the new batch estimate (LibAUC's `gamma`; 1 = no
            memory, DCL's estimate of the full-data objective).
        within_view: within-view negatives too (the default); False is the cross-view-only
            (InfoNCE-shaped, c2 = 0) variant.
        gather: several processes hold one global batch (see `contrastlens.distributed`);
            every process then holds the same state.

    forward(z1_BD, z2_BD, ids_B):
        z1_BD, z2_BD: (B, D) two views of the same B samples (normalized inside).
        ids_B: (B,) integer dataset indices in [0, n), distinct in the (global) batch.

    `forward` returns the 0-d loss; `diagnostics()` gives {"sogclr_log_u_mean",
    "sogclr_visited"} of the state.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import GlobalContrastiveLoss
        >>> loss_fn = GlobalContrastiveLoss(1000, temperature=0.1, gamma=0.9)
        >>> z1 = torch.randn(32, 128, requires_grad=True)
        >>> z2 = torch.randn(32, 128, requires_grad=True)
        >>> ids = torch.randperm(1000)[:32]              # the samples' dataset indices
        >>> loss_fn(z1, z2, ids).backward()
        >>> loss_fn.diagnostics()["sogclr_visited"].item()  # 32 of the 1000 samples seen
        0.032

    References:
        - Yuan, Wu, Qiu, Du, Zhang, Zhou, Yang. Provable Stochastic Optimization for Global
          Contrastive Learning: Small Batch Does Not Harm Performance (SogCLR). ICML 2022.
          <https://arxiv.org/abs/2202.12387>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.1. <https://arxiv.org/abs/2506.09781>
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
    """SigLIP's sigmoid loss as a module: `sigmoid_loss` with t and b fixed or learnable.

    Def 3.2 (Lee et al., ICML 2025) with phi(x) = -log(1 + e^{-tx+b}),
    psi(x) = (m-1) log(1 + e^{tx-b}); the paper's sign for b (minus open_clip's logit_bias).
    None makes a value a parameter initialized as in SigLIP (Zhai et al., 2023): t is learned
    as log t (open_clip's logit_scale) from log 10, b from 10 (open_clip's logit_bias = -10).

    Args:
        t: the scale t > 0, or None to learn it (parameter `log_t`, from log 10).
        b: the bias b, or None to learn it (parameter `b`, from 10).
        cross_view: c1, the cross-view negatives.
        within_view: c2, the within-view negatives (with them the full-batch optimum is the
            simplex ETF whatever t and b: Thm 5.1 (ii)).
        gather: score local rows against all processes' columns.

    forward(z1_BD, z2_BD, ids_B=None): the (B, D) two views and optional (B,) ids; returns
    the 0-d loss.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import SigLIPLoss
        >>> learned = SigLIPLoss()  # t and b learned, from t = 10, b = 10
        >>> [name for name, _ in learned.named_parameters()]
        ['log_t', 'b']
        >>> collapsed = torch.ones(4, 16)  # t = b: every logit 0, m log 2 = 4 log 2
        >>> SigLIPLoss(t=10.0, b=10.0)(collapsed, collapsed)
        tensor(2.7726)

    References:
        - Zhai, Mustafa, Kolesnikov, Beyer. Sigmoid Loss for Language Image Pre-Training.
          ICCV 2023. <https://arxiv.org/abs/2303.15343>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.2 and Example 5.4. <https://arxiv.org/abs/2506.09781>
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
        """The scale t: the fixed number, or exp(log_t) when learned."""
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
    """The spectral contrastive loss as a module: `spectral_loss` (phi = x, psi = x^2).

    Def 3.2 (Lee et al., ICML 2025) with phi(x) = x, psi(x) = x^2; outside the paper's theorems
    (psi is not increasing): its optimum puts the negatives at 0.

    Args:
        cross_view: c1, the cross-view negatives.
        within_view: c2, the within-view negatives.
        gather: score local rows against all processes' columns.

    forward(z1_BD, z2_BD, ids_B=None): the (B, D) two views and optional (B,) ids; returns
    the 0-d loss.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import SpectralLoss
        >>> SpectralLoss()(torch.eye(4), torch.eye(4))  # aligned, negatives at 0: -1
        tensor(-1.)

    References:
        - HaoChen, Wei, Gaidon, Ma. Provable Guarantees for Self-Supervised Deep Learning
          with Spectral Contrastive Loss. NeurIPS 2021. <https://arxiv.org/abs/2106.04156>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.2. <https://arxiv.org/abs/2506.09781>
    """

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
    """MoCo v2's InfoNCE as a module: `moco_loss` with a fixed temperature.

    The queue, the key encoder and shuffle-BN are `contrastlens.models.MoCo`.

    Args:
        temperature: t > 0 (MoCo v2 uses 0.2).
        gather: average over all processes' queries.

    forward(q_BD, k_BD, queue): (B, D) queries and keys and the (K, D) queue of keys;
    returns the 0-d loss.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import MoCoLoss
        >>> q, queue = torch.ones(4, 16), torch.ones(7, 16)  # collapse: log(1 + K) = log 8
        >>> MoCoLoss(temperature=0.2)(q, q, queue)
        tensor(2.0794)

    References:
        - He, Fan, Wu, Xie, Girshick. Momentum Contrast for Unsupervised Visual
          Representation Learning. CVPR 2020, Eq. 1. <https://arxiv.org/abs/1911.05722>
        - Chen, Fan, Girshick, He. Improved Baselines with Momentum Contrastive Learning
          (MoCo v2). 2020. <https://arxiv.org/abs/2003.04297>
    """

    def __init__(self, temperature: float = 0.2, *, gather: bool = False) -> None:
        super().__init__()
        check_positive(temperature, "temperature")
        self.temperature = temperature
        self.gather = gather

    def forward(self, q_BD: torch.Tensor, k_BD: torch.Tensor, queue: torch.Tensor) -> torch.Tensor:
        return moco_loss(q_BD, k_BD, queue, temperature=self.temperature, gather=self.gather)


class VRN(nn.Module):
    """The VRN term as a module: weight * `vrn_loss` (Def 5.7).

    Def 5.7 (Lee et al., ICML 2025): lambda * 1/(m(m-1)) sum_{i!=j} (u_i.v_j + 1/(n-1))^2, the
    cross-view negatives pulled toward the full-batch optimum -1/(n-1) of the DATASET size n.
    `build_objective` uses the functional form and shows the sum.

    Args:
        n: the dataset size (delta = -1/(n-1)); or give delta; exactly one.
        delta: the target similarity of the negatives, instead of n.
        weight: lambda (the paper's default is 30).
        p: the power (2 in the paper).
        within_view: also the within-view pairs (our extension).
        gather: z1's local rows against all processes' z2.

    forward(z1_BD, z2_BD, ids_B=None, queue=None): the (B, D) two views, optional (B,) ids
    and (K, D) MoCo queue; returns the WEIGHTED 0-d term.

    Examples:
        >>> from contrastlens.losses import VRN
        >>> from contrastlens.theory import simplex_etf
        >>> vrn = VRN(n=5, weight=30.0)
        >>> vrn
        VRN(n=5, delta=-0.25, weight=30.0, p=2)
        >>> etf = simplex_etf(5)  # the full-batch optimum: nothing to reduce
        >>> round(float(vrn(etf, etf)), 6)
        0.0

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 5.7. <https://arxiv.org/abs/2506.09781>
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
