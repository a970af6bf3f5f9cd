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

from contrastlens.checks import check_finite_scalar, check_positive
from contrastlens.losses.pairs import ViewPairs, view_pairs
from contrastlens.losses.precision import full_precision

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


@full_precision
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
    """Any independently additive loss of Def 3.2 (Lee et al., ICML 2025).

    Def 3.2, each pair contributing on its own:

        L = -1/m sum_i phi(u_i.v_i) + c1 mean_{i!=j} psi(u_i.v_j)
            + c2/2 [mean_{i!=j} psi(u_i.u_j) + mean_{i!=j} psi(v_i.v_j)]

    with m the (global) batch size and the means over the ordered pairs with different ids.
    `sigmoid_loss` (SigLIP) and `spectral_loss` are its named members.

    Args:
        z1: (B, D) view 1 (normalized inside).
        z2: (B, D) view 2; row i of z1 and of z2 are a positive pair.
        phi: elementwise function of the positive similarities (a tensor of any shape).
        psi: elementwise function of the negative similarities (a tensor of any shape).
        c1: weight >= 0 of the cross-view negatives (u_i, v_j).
        c2: weight >= 0 of the within-view negatives (u_i, u_j), (v_i, v_j).
        ids: (B,) instance ids; pairs with equal ids are not negatives.
        gather: local rows against all processes' columns (value and gradients equal the
            single-process global batch).

    Returns:
        The loss, a 0-d tensor.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import additive_loss, spectral_loss
        >>> _ = torch.manual_seed(0)
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> loss = additive_loss(z1, z2, phi=lambda s: s, psi=lambda s: s**2, c1=1.0, c2=0.0)
        >>> loss, spectral_loss(z1, z2)  # phi(x) = x, psi(x) = x^2: Spectral CL
        (tensor(-0.0433), tensor(-0.0433))

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.2. <https://arxiv.org/abs/2506.09781>
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


@full_precision
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
    """SigLIP's pairwise sigmoid loss, as a member of Def 3.2.

    Def 3.2 (Lee et al., ICML 2025) with phi(x) = -log(1 + e^{-tx+b}),
    psi(x) = (m-1) log(1 + e^{tx-b}), c1 = cross_view, c2 = within_view. With c1 = 1, c2 = 0
    this is SigLIP's loss (Zhai et al., 2023):

        L = 1/m [ sum_i softplus(b - t u_i.v_i) + sum_{i!=j} softplus(t u_i.v_j - b) ].

    Sign convention (the paper's): the logit of a pair is t s - b. open_clip's SigLipLoss uses
    logits = exp(logit_scale) s + logit_bias, so t = exp(logit_scale) and b = -logit_bias
    (open_clip's init logit_scale = log 10, logit_bias = -10 is t = 10, b = 10 here), and its
    value (sum over the m x m labels divided by m) equals this loss. With within-view negatives
    (c2 = 1) the full-batch optimum is the simplex ETF whatever t and b (Thm 5.1 (ii)); with
    cross-view negatives only it can separate excessively (Example 5.4,
    `contrastlens.theory.siglip_separation_condition`).

    Args:
        z1: (B, D) view 1, e.g. images (normalized inside).
        z2: (B, D) view 2, e.g. their texts; row i of z1 and of z2 are a positive pair.
        t: the scale t > 0, a number or a 0-d tensor (learnable in `SigLIPLoss`).
        b: the bias b (the paper's sign), a number or a 0-d tensor.
        cross_view: c1, the cross-view negatives (u_i, v_j).
        within_view: c2, the within-view negatives (u_i, u_j), (v_i, v_j).
        ids: (B,) instance ids; pairs with equal ids are not negatives.
        gather: local rows against all processes' columns (see `additive_loss`).

    Returns:
        The loss, a 0-d tensor.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import sigmoid_loss
        >>> collapsed = torch.ones(4, 16)  # t = b: every logit 0, m softplus(0) = 4 log 2
        >>> sigmoid_loss(collapsed, collapsed, t=10.0, b=10.0)
        tensor(2.7726)

    References:
        - Zhai, Mustafa, Kolesnikov, Beyer. Sigmoid Loss for Language Image Pre-Training.
          ICCV 2023. <https://arxiv.org/abs/2303.15343>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.2 and Example 5.4. <https://arxiv.org/abs/2506.09781>
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


@full_precision
def spectral_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    cross_view: bool = True,
    within_view: bool = False,
    ids: torch.Tensor | None = None,
    gather: bool = False,
) -> torch.Tensor:
    """The spectral contrastive loss, as a member of Def 3.2.

    Def 3.2 (Lee et al., ICML 2025) with phi(x) = x, psi(x) = x^2:

        L = -1/m sum_i u_i.v_i + mean_{i!=j} (u_i.v_j)^2   (c1 = 1, c2 = 0),

    HaoChen et al.'s loss on unit vectors, with the pair means of this library (their
    -2 E[f(x)^T f(x+)] + E[(f(x)^T f(x-))^2] up to the factor 2 on the positives). Outside the
    paper's theorems (psi is not increasing): its optimum puts the negatives at 0, not at
    -1/(n-1).

    Args:
        z1: (B, D) view 1 (normalized inside).
        z2: (B, D) view 2; row i of z1 and of z2 are a positive pair.
        cross_view: c1, the cross-view negatives (u_i, v_j).
        within_view: c2, the within-view negatives (u_i, u_j), (v_i, v_j).
        ids: (B,) instance ids; pairs with equal ids are not negatives.
        gather: local rows against all processes' columns (see `additive_loss`).

    Returns:
        The loss, a 0-d tensor.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import spectral_loss
        >>> from contrastlens.theory import simplex_etf
        >>> spectral_loss(torch.eye(4), torch.eye(4))  # negatives at 0: the minimum, -1
        tensor(-1.)
        >>> etf = simplex_etf(5)  # negatives at -1/4: -1 + 1/16
        >>> spectral_loss(etf, etf)
        tensor(-0.9375, dtype=torch.float64)

    References:
        - HaoChen, Wei, Gaidon, Ma. Provable Guarantees for Self-Supervised Deep Learning
          with Spectral Contrastive Loss. NeurIPS 2021. <https://arxiv.org/abs/2106.04156>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.2. <https://arxiv.org/abs/2506.09781>
    """
    P = view_pairs(z1, z2, ids=ids, gather=gather)
    return spectral_from_pairs(P, cross_view=cross_view, within_view=within_view)
