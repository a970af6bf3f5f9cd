"""The training objective: one method's loss plus the optional VRN term, as named terms.

    obj = build_objective("simclr", temperature=0.2, vrn_weight=30.0, vrn_n=50_000)
    terms = obj(z1_BD, z2_BD, ids=ids_B)                # {"simclr": ..., "vrn": ..., "loss": ...}
    terms["loss"].backward()                           # "loss" = simclr + 30 * vrn
    terms = obj(q_BD, k_BD, ids=ids_B, queue=queue)    # method "moco": {"moco", "vrn", "loss"}
    terms = obj(z1_BD, z2_BD, ids=ids_B, stats=True)   # + detached pos_mean, neg_mean, neg_var
    obj = build_objective("sogclr", sogclr_n=60_000)   # SogCLR: ids = dataset indices, required;
    terms = obj(z1_BD, z2_BD, ids=ids_B)                # its state is obj.sogclr.log_u_N

The batch is prepared once (`view_pairs`: validation, normalization, the all-gather, the id
mask) and the same `ViewPairs` goes to the loss term and to the VRN term, so nothing is computed
twice. With `stats=True` the terms also hold detached float64 statistics of the cross-view
similarities (mean positive, mean and variance of the negatives, global over processes), at the
cost of two (D, D) Gram matrices: cheap enough for every step.

Shape legend: B rows, D dimension, K queue length.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from contrastlens.checks import check_finite_scalar, check_positive, resolve_delta
from contrastlens.losses.additive import sigmoid_from_pairs, spectral_from_pairs
from contrastlens.losses.gor import gor_loss
from contrastlens.losses.infonce import infonce_from_pairs
from contrastlens.losses.moco import moco_from_pairs
from contrastlens.losses.modules import GlobalContrastiveLoss, SigLIPLoss
from contrastlens.losses.pairs import ViewPairs, view_pairs
from contrastlens.losses.vrn import similarity_stats_from_pairs, vrn_from_pairs

__all__ = ["METHODS", "Objective", "build_objective", "default_within_view"]

# method -> (cross_view, default within_view, decoupled); None for the additive/MoCo methods.
_INFONCE = {
    "infonce": (True, False, False),
    "simclr": (True, True, False),
    "dcl": (True, True, True),
    "dhel": (False, True, True),
}
METHODS = ("simclr", "infonce", "dcl", "dhel", "siglip", "spectral", "moco", "sogclr")


def default_within_view(method: str) -> bool:
    """Whether `method` has within-view negatives (c2 of Def 3.1) unless told otherwise.

    Args:
        method: one of METHODS.

    Returns:
        True for simclr, dcl, dhel, sogclr; False for infonce, siglip, spectral, moco.
    """
    return _INFONCE[method][1] if method in _INFONCE else method == "sogclr"


class Objective(nn.Module):
    """A method's loss plus the optional VRN and GOR terms, as named terms.

    Calling it returns {method: term, ["vrn": term], ["gor": term], "loss": method term +
    vrn_weight * vrn term + gor_weight * gor term}. Build it with `build_objective` (which
    validates the settings and documents them); SigLIP's learnable t and b are its parameters,
    SogCLR's per-sample state a buffer (`sogclr.log_u_N`, in its state_dict).
    """

    def __init__(
        self,
        method: str,
        *,
        temperature: float,
        within_view: bool,
        vrn_weight: float,
        vrn_delta: float | None,
        vrn_within_view: bool,
        siglip: SigLIPLoss | None,
        gather: bool,
        check_values: bool = True,
        gor_weight: float = 0.0,
        sogclr: GlobalContrastiveLoss | None = None,
    ) -> None:
        super().__init__()
        self.method = method
        self.temperature = temperature
        self.within_view = within_view
        self.vrn_weight = vrn_weight
        self.vrn_delta = vrn_delta
        self.vrn_within_view = vrn_within_view
        self.siglip = siglip
        self.gather = gather
        self.check_values = check_values
        self.gor_weight = gor_weight
        self.sogclr = sogclr

    def method_term(self, P: ViewPairs, ids: torch.Tensor | None = None) -> torch.Tensor:
        """The method's loss on a prepared batch (SogCLR also writes its state rows)."""
        if self.method == "sogclr":
            return self.sogclr.from_pairs(P, ids)
        if self.method in _INFONCE:
            cross_view, _, decoupled = _INFONCE[self.method]
            return infonce_from_pairs(
                P,
                temperature=self.temperature,
                cross_view=cross_view,
                within_view=self.within_view,
                decoupled=decoupled,
            )
        if self.method == "siglip":
            return sigmoid_from_pairs(
                P, t=self.siglip.t, b=self.siglip.b, within_view=self.within_view
            )
        if self.method == "spectral":
            return spectral_from_pairs(P, within_view=self.within_view)
        return moco_from_pairs(P, temperature=self.temperature)

    def forward(
        self,
        z1_BD: torch.Tensor,
        z2_BD: torch.Tensor,
        *,
        ids: torch.Tensor | None = None,
        queue: torch.Tensor | None = None,
        vrn_views: tuple[torch.Tensor, torch.Tensor] | None = None,
        stats: bool = False,
    ) -> dict[str, torch.Tensor]:
        """The named terms of one batch.

        SogCLR needs ids (dataset indices in [0, n)) and moves its state on every call in
        training mode: call it once per optimizer step.

        Args:
            z1_BD: (B, D) view 1 (MoCo: the queries q).
            z2_BD: (B, D) view 2 (MoCo: the keys k).
            ids: (B,) instance ids (equal ids are not negatives).
            queue: (K, D) keys, required for "moco".
            vrn_views: MoCo only, our extension: the query encoder's two views (q1, q2), both
                with gradient; VRN then regularizes their cross-view negatives. Without it,
                MoCo's VRN pulls the query-key and query-queue pairs, whose keys carry no
                gradient: the queries can then collapse onto one direction orthogonal to the
                lagging keys (measured: negative mean 0.14 -> 0.54, MoCo loss -> log(K+1),
                README "MoCo + VRN"), so the training loop passes vrn_views.
            stats: add detached "pos_mean", "neg_mean", "neg_var" (of z1, z2), and for SogCLR
                "sogclr_log_u_mean" and "sogclr_visited" (its state after this step).

        Returns:
            The dict of named 0-d terms, "loss" their weighted sum.
        """
        is_moco = self.method == "moco"
        if self.method == "sogclr" and (queue is not None or vrn_views is not None):
            raise ValueError(
                "queue, vrn_views: MoCo's key encoder and queue do not combine with method "
                "'sogclr' (its state averages in-batch negatives per sample); use one method"
            )
        if is_moco and queue is None:
            raise ValueError("queue is required for method 'moco'")
        if not is_moco and queue is not None:
            raise ValueError(f"queue is only used by method 'moco', not {self.method!r}")
        if not is_moco and vrn_views is not None:
            raise ValueError(f"vrn_views is only used by method 'moco', not {self.method!r}")
        P = view_pairs(
            z1_BD,
            z2_BD,
            ids=ids,
            gather=self.gather,
            queue=queue,
            need_negatives=not is_moco or self.vrn_weight > 0,
            check_values=self.check_values,
        )
        terms = {self.method: self.method_term(P, ids)}
        loss = terms[self.method]
        # The regularizers see the two views that carry gradient: MoCo's query views.
        Q = P
        if vrn_views is not None and (self.vrn_weight > 0 or self.gor_weight > 0):
            Q = view_pairs(*vrn_views, ids=ids, gather=self.gather, check_values=self.check_values)
        if self.vrn_weight > 0:
            terms["vrn"] = vrn_from_pairs(
                Q,
                delta=self.vrn_delta,
                within_view=self.vrn_within_view,
                use_queue=is_moco and vrn_views is None,
            )
            loss = loss + self.vrn_weight * terms["vrn"]
        if self.gor_weight > 0:
            # GOR of the global batch's two columns; each process adds 1/world of it and the
            # all-gather's backward sums the shares (see contrastlens.distributed)
            share = gor_loss(Q.u_GD, Q.v_GD)["gor"] / (Q.G // Q.B if Q.gathered else 1)
            terms["gor"] = Q.global_sum(share)
            loss = loss + self.gor_weight * terms["gor"]
        terms["loss"] = loss
        if stats:
            terms.update(similarity_stats_from_pairs(P))
            if self.sogclr is not None:
                terms.update(self.sogclr.diagnostics())
        return terms

    def extra_repr(self) -> str:
        return (
            f"method={self.method!r}, temperature={self.temperature}, "
            f"within_view={self.within_view}, vrn_weight={self.vrn_weight}, "
            f"vrn_delta={self.vrn_delta}, vrn_within_view={self.vrn_within_view}, "
            f"gor_weight={self.gor_weight}, gather={self.gather}"
        )


def build_objective(
    method: str,
    *,
    temperature: float = 0.2,
    within_view: bool | None = None,
    vrn_weight: float = 0.0,
    vrn_n: int | None = None,
    vrn_delta: float | None = None,
    vrn_within_view: bool = False,
    siglip_t: float | None = None,
    siglip_b: float | None = None,
    gather: bool = False,
    check_values: bool = True,
    gor_weight: float = 0.0,
    sogclr_n: int | None = None,
    sogclr_gamma: float = 0.9,
) -> Objective:
    """The loop-facing objective: `method`'s loss + vrn_weight * VRN (Def 5.7), as named terms.

    L_total = L + lambda L_VRN (Lee et al., ICML 2025, Def 5.7), with L one of the losses of
    Def 3.1 / 3.2, MoCo v2 or SogCLR, and optionally + gor_weight * GOR. The batch is prepared
    once (`view_pairs`) and shared by the terms; the returned module maps two views to
    {method: term, "vrn": term, "loss": the weighted sum}.

    Args:
        method: one of METHODS ("simclr", "infonce", "dcl", "dhel", "siglip", "spectral",
            "moco", "sogclr").
        temperature: t > 0 of the InfoNCE family, MoCo and SogCLR.
        within_view: within-view negatives (c2); None takes the method's own (simclr, dcl,
            dhel, sogclr: True; infonce, siglip, spectral: False; dhel needs True, moco has
            none).
        vrn_weight: lambda >= 0 (0: no VRN term; the paper uses 30).
        vrn_n: the DATASET size n of delta = -1/(n-1); exactly one of vrn_n and vrn_delta
            when vrn_weight > 0.
        vrn_delta: VRN's target similarity, instead of vrn_n.
        vrn_within_view: VRN on within-view pairs too (extension).
        siglip_t: SigLIP's fixed t, or None for a learnable one (init t = 10, i.e. open_clip's
            logit_scale = log 10).
        siglip_b: SigLIP's fixed b, or None for a learnable one (init b = 10, i.e. open_clip's
            logit_bias = -10).
        gather: local rows against all processes' columns.
        check_values: validate the embeddings' values on every call (a device-to-host sync;
            the training loop checks the loss instead).
        gor_weight: weight of GOR (`gor_loss` of the two views, sentence-transformers' form)
            added to the loss, 0 = off.
        sogclr_n: method "sogclr" only: the training-set size (the length of the per-sample
            state, required).
        sogclr_gamma: method "sogclr" only: the moving-average weight of the new estimate, in
            (0, 1] (see `GlobalContrastiveLoss`).

    Returns:
        The objective, an `nn.Module` (SigLIP's learnable t and b are its parameters, SogCLR's
        state a buffer).

    Examples:
        >>> import torch
        >>> from contrastlens.losses import build_objective
        >>> objective = build_objective("simclr", temperature=0.5, vrn_weight=30.0, vrn_n=50_000)
        >>> _ = torch.manual_seed(0)
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> terms = objective(z1, z2)
        >>> terms
        {'simclr': tensor(2.5932), 'vrn': tensor(0.0586), 'loss': tensor(4.3507)}
        >>> bool(torch.allclose(terms["loss"], terms["simclr"] + 30.0 * terms["vrn"]))
        True
        >>> sorted(objective(z1, z2, stats=True))  # + detached similarity statistics
        ['loss', 'neg_mean', 'neg_var', 'pos_mean', 'simclr', 'vrn']

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.1, 3.2 and 5.7. <https://arxiv.org/abs/2506.09781>
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_positive(temperature, "temperature")
    within = default_within_view(method) if within_view is None else bool(within_view)
    if method == "dhel" and not within:
        raise ValueError("within_view: DHEL has only within-view negatives; leave it None/True")
    if method == "moco" and within:
        raise ValueError("within_view: MoCo has no within-view negatives; leave it None/False")
    for value, name in ((vrn_weight, "vrn_weight"), (gor_weight, "gor_weight")):
        check_finite_scalar(value, name)
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    delta = None
    if vrn_weight > 0:
        delta = resolve_delta(vrn_n, vrn_delta)
    elif vrn_n is not None or vrn_delta is not None:
        resolve_delta(vrn_n, vrn_delta)  # still validate what was given
    siglip = None
    if method == "siglip":
        siglip = SigLIPLoss(siglip_t, siglip_b, within_view=within, gather=gather)
    sogclr = None
    if method == "sogclr":
        if sogclr_n is None:
            raise ValueError("sogclr_n: method 'sogclr' needs the training-set size (its state)")
        sogclr = GlobalContrastiveLoss(
            sogclr_n, temperature, sogclr_gamma, within_view=within, gather=gather
        )
    elif sogclr_n is not None:
        raise ValueError(f"sogclr_n is only used by method 'sogclr', not {method!r}")
    return Objective(
        method,
        temperature=temperature,
        within_view=within,
        vrn_weight=float(vrn_weight),
        vrn_delta=delta,
        vrn_within_view=vrn_within_view,
        siglip=siglip,
        gather=gather,
        check_values=check_values,
        gor_weight=float(gor_weight),
        sogclr=sogclr,
    )
