"""The independently additive family (Lee et al., ICML 2025, Def 3.2): SigLIP, Spectral CL.

    L = -1/m sum_i phi(u_i.v_i) + c1/(m(m-1)) sum_{i!=j} psi(u_i.v_j)
        + c2/(2m(m-1)) sum_{i!=j} [psi(u_i.u_j) + psi(v_i.v_j)]

    loss           phi(x)                 psi(x)                    c1  c2
    SigLIP         -log(1 + e^{-tx+b})    (m-1) log(1 + e^{tx-b})   1   0
    Spectral CL    x                      x^2                       1   0

The sums over i != j run over ordered pairs; with instance ids they run over the pairs with
different ids and m(m-1) becomes the number of such pairs (the same when ids are distinct).
Here m is the (global) batch size G. SigLIP uses logsigmoid and softplus(y) = logaddexp(y, 0)
(exact for every y, unlike F.softplus above its threshold 20), so large |t s - b| cannot
overflow.

Shape legend: B local rows, G global rows (= B on one process), D dimension.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from contrastlens.losses._checks import check_finite_scalar, check_positive
from contrastlens.losses.pairs import ViewPairs, view_pairs

__all__ = [
    "additive_from_pairs",
    "additive_loss",
    "sigmoid_from_pairs",
    "sigmoid_loss",
    "spectral_from_pairs",
    "spectral_loss",
]

Fn = Callable[[torch.Tensor], torch.Tensor]


def additive_from_pairs(P: ViewPairs, *, phi: Fn, psi: Fn, c1: float, c2: float) -> torch.Tensor:
    """Def 3.2 on a prepared batch (see `additive_loss`); returns a 0-d tensor."""
    for value, name in ((c1, "c1"), (c2, "c2")):
        check_finite_scalar(value, name)
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if c1 == 0 and c2 == 0:
        raise ValueError("c1, c2: at least one must be nonzero")
    pos_B = (P.u_BD * P.v_BD).sum(dim=1)
    total = -phi(pos_B).sum() / P.G
    excluded_BG = P.excluded_mask()
    num_neg = P.global_count(P.B * P.G - P.num_excluded())  # m(m-1) with distinct ids

    def pair_sum(a_BD: torch.Tensor, b_GD: torch.Tensor) -> torch.Tensor:
        psi_BG = psi(a_BD @ b_GD.T)  # (B, G)
        return psi_BG.masked_fill(excluded_BG, 0.0).sum()

    if c1:
        total = total + c1 * pair_sum(P.u_BD, P.v_GD) / num_neg
    if c2:
        within = pair_sum(P.u_BD, P.u_GD) + pair_sum(P.v_BD, P.v_GD)
        total = total + c2 * within / (2 * num_neg)
    return P.global_sum(total)


def additive_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    phi: Fn,
    psi: Fn,
    c1: float,
    c2: float,
    ids: torch.Tensor | None = None,
    gather: bool = False,
) -> torch.Tensor:
    """Any member of Def 3.2 (Lee et al., ICML 2025):

        L = -1/m sum_i phi(u_i.v_i) + c1 mean_{i!=j} psi(u_i.v_j)
            + c2/2 [mean_{i!=j} psi(u_i.u_j) + mean_{i!=j} psi(v_i.v_j)]

    z1, z2: (B, D) two views (normalized inside). phi, psi: elementwise functions of cosine
    similarities (tensors of any shape). c1, c2 >= 0 weigh cross- and within-view negatives.
    ids: (B,) instance ids; pairs with equal ids are not negatives. gather: local rows against
    all processes' columns (value and gradients equal the single-process global batch).
    Returns a 0-d tensor.
    """
    P = view_pairs(z1, z2, ids=ids, gather=gather)
    return additive_from_pairs(P, phi=phi, psi=psi, c1=c1, c2=c2)


def sigmoid_from_pairs(
    P: ViewPairs,
    *,
    t: float | torch.Tensor,
    b: float | torch.Tensor,
    cross_view: bool = True,
    within_view: bool = False,
) -> torch.Tensor:
    """SigLIP (Def 3.2) on a prepared batch; see `sigmoid_loss`."""
    check_positive(t, "t")
    check_finite_scalar(b, "b")
    if not (cross_view or within_view):
        raise ValueError("cross_view, within_view: at least one must be True")

    def phi(s: torch.Tensor) -> torch.Tensor:
        return F.logsigmoid(t * s - b)

    def psi(s: torch.Tensor) -> torch.Tensor:
        # softplus(y) = log(e^y + e^0), exact for every y and, like F.softplus, saving only y
        # for backward (-logsigmoid(-y) saves a second (B, G) buffer on the CPU). F.softplus
        # returns y itself above its threshold 20, dropping log1p(e^-y) <= 2e-9 per pair.
        y = t * s - b
        return torch.logaddexp(y, y.new_zeros(()))

    # psi of Def 3.2 is (m - 1) softplus(t s - b); the constant factor rides on c1 and c2 so the
    # (B, G) block sees one elementwise op fewer.
    scale = P.G - 1
    return additive_from_pairs(
        P, phi=phi, psi=psi, c1=scale * float(cross_view), c2=scale * float(within_view)
    )


def sigmoid_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    t: float | torch.Tensor,
    b: float | torch.Tensor,
    cross_view: bool = True,
    within_view: bool = False,
    ids: torch.Tensor | None = None,
    gather: bool = False,
) -> torch.Tensor:
    """SigLIP (Zhai et al., 2023) as Def 3.2: phi(x) = -log(1 + e^{-tx+b}),
    psi(x) = (m-1) log(1 + e^{tx-b}), c1 = cross_view, c2 = within_view. With c1 = 1, c2 = 0:

        L = 1/m [ sum_i softplus(b - t u_i.v_i) + sum_{i!=j} softplus(t u_i.v_j - b) ].

    Sign convention (the paper's): the logit of a pair is t s - b. open_clip's SigLipLoss uses
    logits = exp(logit_scale) s + logit_bias, so t = exp(logit_scale) and b = -logit_bias
    (open_clip's init logit_scale = log 10, logit_bias = -10 is t = 10, b = 10 here), and its
    value (sum over the m x m labels divided by m) equals this loss.

    z1, z2: (B, D) two views (normalized inside). t > 0, b: numbers or 0-d tensors (learnable in
    `SigLIPLoss`). ids, gather: as in `additive_loss`. Returns a 0-d tensor.
    """
    P = view_pairs(z1, z2, ids=ids, gather=gather)
    return sigmoid_from_pairs(P, t=t, b=b, cross_view=cross_view, within_view=within_view)


def _identity(s: torch.Tensor) -> torch.Tensor:
    return s


def _square(s: torch.Tensor) -> torch.Tensor:
    return s * s


def spectral_from_pairs(
    P: ViewPairs, *, cross_view: bool = True, within_view: bool = False
) -> torch.Tensor:
    """Spectral CL (Def 3.2) on a prepared batch; see `spectral_loss`."""
    return additive_from_pairs(
        P, phi=_identity, psi=_square, c1=float(cross_view), c2=float(within_view)
    )


def spectral_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    cross_view: bool = True,
    within_view: bool = False,
    ids: torch.Tensor | None = None,
    gather: bool = False,
) -> torch.Tensor:
    """Spectral contrastive loss (HaoChen et al., 2021) as Def 3.2: phi(x) = x, psi(x) = x^2:

        L = -1/m sum_i u_i.v_i + mean_{i!=j} (u_i.v_j)^2   (c1 = 1, c2 = 0).

    Outside the paper's theorems (psi is not increasing): its optimum puts negatives at 0.
    Arguments as in `additive_loss`. Returns a 0-d tensor.
    """
    P = view_pairs(z1, z2, ids=ids, gather=gather)
    return spectral_from_pairs(P, cross_view=cross_view, within_view=within_view)
