"""The InfoNCE-based family (Lee et al., ICML 2025, Def 3.1): InfoNCE, SimCLR, DCL, DHEL.

    L = 1/2 L(U, V) + 1/2 L(V, U)
    L(U, V) = 1/m sum_i psi( c1 sum_{j!=i} exp((v_j - v_i).u_i / t)
                             + c2 sum_{j!=i} exp((u_j - v_i).u_i / t) )

with psi(x) = log(1 + x) (positive in the denominator) or psi(x) = log(x) ("decoupled", positive
removed). Per anchor u_i this is  -s_ii/t + logsumexp(denominator logits), so the symmetrized
loss is the mean over all 2m anchors (both views), which is lightly's NTXentLoss value for SimCLR.

    name      c1 (cross_view)  c2 (within_view)  decoupled
    InfoNCE   1                0                 no      (CLIP's symmetric loss)
    SimCLR    1                1                 no      (NT-Xent)
    DCL       1                1                 yes     (Yeh et al., 2022)
    DHEL      0                1                 yes     (Koromilas et al., 2024)

Numerics: the logits are one matmul per view, (u_i / t) . columns, with the excluded pairs
filled with -inf in place, reduced by a max-shifted log-sum-exp (`negative_logsumexp`, a fused
autograd function holding one (B, K) buffer); the positive enters through `logaddexp`, never
through exp/log of a ratio, so large |s|/t cannot overflow. Instance ids: pairs with equal
ids are not negatives.

Shape legend: B local rows, G global rows (= B on one process), D dimension,
K = G * (number of column blocks: 1 or 2) columns of one view's logits.
"""

from __future__ import annotations

import torch

from contrastlens.checks import check_positive
from contrastlens.losses._fused import negative_logsumexp
from contrastlens.losses.pairs import ViewPairs, view_pairs
from contrastlens.losses.precision import full_precision

__all__ = [
    "dcl_loss",
    "dhel_loss",
    "infonce_family",
    "infonce_from_pairs",
    "infonce_loss",
    "simclr_loss",
]


def infonce_from_pairs(
    P: ViewPairs,
    *,
    temperature: float | torch.Tensor,
    cross_view: bool = True,
    within_view: bool = False,
    decoupled: bool = False,
) -> torch.Tensor:
    """Def 3.1 on a prepared batch (see `infonce_family`); returns a 0-d tensor."""
    check_positive(temperature, "temperature")
    if not (cross_view or within_view):
        raise ValueError("cross_view, within_view: at least one must be True (c1, c2 = 0, 0)")
    inv_t = 1.0 / temperature
    pos_B = (P.u_BD * P.v_BD).sum(dim=1) * inv_t  # s_ii / t
    # Same-instance (local row, global column) pairs are removed from every column block: the
    # positive (cross block; added back below unless decoupled), the anchor itself (within
    # block) and duplicates of the same id.
    excluded = P.excluded() if P.same_BG is None else P.same_BG
    # With both blocks, anchors of either view see the same columns [u_G; v_G] (block order
    # does not matter to a log-sum-exp, and the same pairs are excluded from each block).
    both_KD = torch.cat([P.u_GD, P.v_GD]) if cross_view and within_view else None
    total = pos_B.new_zeros(())
    # Anchors of view 1 (u_i; cross columns v, within columns u), then of view 2 (v_i).
    for a_BD, a_GD, b_GD in ((P.u_BD, P.u_GD, P.v_GD), (P.v_BD, P.v_GD, P.u_GD)):
        cols_KD = both_KD if both_KD is not None else (b_GD if cross_view else a_GD)
        blocks = 2 if both_KD is not None else 1
        # log sum_j exp(a_i . c_j / t) over the negatives, (B,)
        lse_B = negative_logsumexp(a_BD * inv_t, cols_KD, excluded, blocks, P.G)
        if not decoupled:  # psi = log(1 + x): the positive is in the denominator
            lse_B = torch.logaddexp(lse_B, pos_B)
        total = total + (lse_B - pos_B).sum()
    return P.global_sum(total / (2 * P.G))


@full_precision
def infonce_family(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    temperature: float | torch.Tensor,
    cross_view: bool = True,
    within_view: bool = False,
    decoupled: bool = False,
    ids: torch.Tensor | None = None,
    gather: bool = False,
) -> torch.Tensor:
    """Any InfoNCE-based loss of Def 3.1 (Lee et al., ICML 2025), symmetrized over the views.

    Def 3.1 with phi(x) = e^{x/t}, L = 1/2 L(U, V) + 1/2 L(V, U); per anchor u_i:

        -u_i.v_i / t + log( [e^{u_i.v_i/t}]  + c1 sum_{j: id_j != id_i} e^{u_i.v_j/t}
                                             + c2 sum_{j: id_j != id_i} e^{u_i.u_j/t} ),

    the bracketed positive term dropped when `decoupled` (psi = log instead of log(1 + x)); the
    loss is the mean of this over the 2B anchors u_1..u_B, v_1..v_B (v_i's columns are u_j
    cross-view and v_j within-view). The four named members are `infonce_loss` (c1 = 1, c2 = 0),
    `simclr_loss` (c1 = c2 = 1), `dcl_loss` (c1 = c2 = 1, decoupled) and `dhel_loss` (c1 = 0,
    c2 = 1, decoupled).

    Args:
        z1: (B, D) view 1 of B instances, any scale (normalized inside, see
            `pairs.normalize`); float16/bfloat16 are computed in float32.
        z2: (B, D) view 2 of the same B instances (row i of z1 and of z2: a positive pair).
        temperature: t > 0 (a number, or a 0-d tensor to learn it).
        cross_view: c1, the cross-view negatives v_j of anchor u_i.
        within_view: c2, the within-view negatives u_j of anchor u_i.
        decoupled: psi = log (the positive leaves the denominator) instead of log(1 + x).
        ids: (B,) instance ids; rows with equal ids are not negatives of each other (without
            ids only i = j is).
        gather: score the local rows against all processes' columns (with gradient); the value
            and every input's gradient equal one process holding the global batch.

    Returns:
        The loss, a 0-d tensor (float32 for half-precision inputs).

    Examples:
        >>> import torch
        >>> from contrastlens.losses import infonce_family
        >>> _ = torch.manual_seed(0)
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> infonce_family(z1, z2, temperature=0.5, within_view=True)  # SimCLR
        tensor(2.5932)
        >>> collapsed = torch.ones(4, 16)  # every similarity 1: log(2B - 1) = log 7
        >>> infonce_family(collapsed, collapsed, temperature=0.5, within_view=True)
        tensor(1.9459)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.1. <https://arxiv.org/abs/2506.09781>
    """
    P = view_pairs(z1, z2, ids=ids, gather=gather)
    return infonce_from_pairs(
        P,
        temperature=temperature,
        cross_view=cross_view,
        within_view=within_view,
        decoupled=decoupled,
    )


def infonce_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    temperature: float | torch.Tensor,
    ids: torch.Tensor | None = None,
    gather: bool = False,
) -> torch.Tensor:
    """InfoNCE / CLIP's symmetric loss: cross-view negatives only.

    Def 3.1 (Lee et al., ICML 2025) with c1 = 1, c2 = 0, psi(x) = log(1 + x); per anchor

        -u_i.v_i/t + log sum_j e^{u_i.v_j/t}

    (the positive j = i in the sum), averaged over the anchors of both views: the mean of the
    row-wise and the column-wise cross-entropy of the (B, B) logits U V^T / t, as CLIP computes
    it. Collapse (every similarity 1) gives log B.

    Args:
        z1: (B, D) view 1 (normalized inside).
        z2: (B, D) view 2; row i of z1 and of z2 are a positive pair.
        temperature: t > 0.
        ids: (B,) instance ids; equal ids are not negatives.
        gather: score local rows against all processes' columns (see `infonce_family`).

    Returns:
        The loss, a 0-d tensor.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import infonce_loss
        >>> collapsed = torch.ones(4, 16)  # log B = log 4
        >>> infonce_loss(collapsed, collapsed, temperature=0.5)
        tensor(1.3863)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.1. <https://arxiv.org/abs/2506.09781>
        - van den Oord, Li, Vinyals. Representation Learning with Contrastive Predictive
          Coding. 2018. <https://arxiv.org/abs/1807.03748>
        - Radford et al. Learning Transferable Visual Models From Natural Language
          Supervision (CLIP). ICML 2021. <https://arxiv.org/abs/2103.00020>
    """
    return infonce_family(z1, z2, temperature=temperature, ids=ids, gather=gather)


def simclr_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    temperature: float | torch.Tensor,
    ids: torch.Tensor | None = None,
    gather: bool = False,
) -> torch.Tensor:
    """SimCLR's NT-Xent loss: cross- and within-view negatives.

    Def 3.1 (Lee et al., ICML 2025) with c1 = c2 = 1, psi(x) = log(1 + x): the mean over the
    2B anchors of

        -u_i.v_i/t + log( sum_j e^{u_i.v_j/t} + sum_{j != i} e^{u_i.u_j/t} ),

    i.e. -log softmax of the positive among the other 2B - 1 embeddings (SimCLR's Eq. 1,
    lightly's `NTXentLoss` value). Collapse (every similarity 1) gives log(2B - 1).

    Args:
        z1: (B, D) view 1 (normalized inside).
        z2: (B, D) view 2; row i of z1 and of z2 are a positive pair.
        temperature: t > 0 (SimCLR's tau; lightly's default is 0.5).
        ids: (B,) instance ids; equal ids are not negatives.
        gather: score local rows against all processes' columns (see `infonce_family`).

    Returns:
        The loss, a 0-d tensor.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import simclr_loss
        >>> collapsed = torch.ones(4, 16)  # log(2B - 1) = log 7
        >>> simclr_loss(collapsed, collapsed, temperature=0.5)
        tensor(1.9459)
        >>> _ = torch.manual_seed(0)
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> simclr_loss(z1, z2, temperature=0.5)
        tensor(2.5932)
        >>> ids = torch.tensor([0, 0, 1, 2, 3, 4, 5, 6])  # rows 0 and 1: the same image
        >>> simclr_loss(z1, z2, temperature=0.5, ids=ids)  # not each other's negatives
        tensor(2.5565)

    References:
        - Chen, Kornblith, Norouzi, Hinton. A Simple Framework for Contrastive Learning of
          Visual Representations. ICML 2020. <https://arxiv.org/abs/2002.05709>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.1. <https://arxiv.org/abs/2506.09781>
    """
    return infonce_family(z1, z2, temperature=temperature, within_view=True, ids=ids, gather=gather)


def dcl_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    temperature: float | torch.Tensor,
    ids: torch.Tensor | None = None,
    gather: bool = False,
) -> torch.Tensor:
    """DCL, the decoupled contrastive loss: SimCLR without the positive in the denominator.

    Def 3.1 (Lee et al., ICML 2025) with c1 = c2 = 1, psi(x) = log(x); the mean over the 2B
    anchors of

        -u_i.v_i/t + log( sum_{j != i} e^{u_i.v_j/t} + sum_{j != i} e^{u_i.u_j/t} )

    (Yeh et al., Eq. 6, unweighted). Collapse (every similarity 1) gives log(2B - 2).

    Args:
        z1: (B, D) view 1 (normalized inside).
        z2: (B, D) view 2; row i of z1 and of z2 are a positive pair.
        temperature: t > 0.
        ids: (B,) instance ids; equal ids are not negatives.
        gather: score local rows against all processes' columns (see `infonce_family`).

    Returns:
        The loss, a 0-d tensor (it can be negative: nothing bounds it below by 0).

    Examples:
        >>> import torch
        >>> from contrastlens.losses import dcl_loss
        >>> collapsed = torch.ones(4, 16)  # log(2B - 2) = log 6
        >>> dcl_loss(collapsed, collapsed, temperature=0.5)
        tensor(1.7918)

    References:
        - Yeh, Hong, Hsu, Liu, Chen, LeCun. Decoupled Contrastive Learning. ECCV 2022.
          <https://arxiv.org/abs/2110.06848>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.1. <https://arxiv.org/abs/2506.09781>
    """
    return infonce_family(
        z1, z2, temperature=temperature, within_view=True, decoupled=True, ids=ids, gather=gather
    )


def dhel_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    *,
    temperature: float | torch.Tensor,
    ids: torch.Tensor | None = None,
    gather: bool = False,
) -> torch.Tensor:
    """DHEL, the decoupled hyperspherical energy loss: within-view negatives only.

    The paper's form, Def 3.1 (Lee et al., ICML 2025) with c1 = 0, c2 = 1, psi(x) = log(x):

        L = 1/B sum_i [ -u_i.v_i/t + 1/2 log sum_{j!=i} e^{u_i.u_j/t}
                                   + 1/2 log sum_{j!=i} e^{v_i.v_j/t} ]

    i.e. the two views' log-denominators are AVERAGED. The DHEL authors' code ADDS them:
    L_code = 1/B sum_i [ -u_i.v_i/t + log sum e^{u_i.u_j/t} + log sum e^{v_i.v_j/t} ]
           = 2 L + mean_i(u_i.v_i)/t,
    which weighs uniformity twice as much relative to alignment (same minimizers over the
    simplex ETF, different training dynamics). Collapse (every similarity 1) gives log(B - 1).

    Args:
        z1: (B, D) view 1 (normalized inside).
        z2: (B, D) view 2; row i of z1 and of z2 are a positive pair.
        temperature: t > 0.
        ids: (B,) instance ids; equal ids are not negatives.
        gather: score local rows against all processes' columns (see `infonce_family`).

    Returns:
        The loss, a 0-d tensor.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import dhel_loss
        >>> collapsed = torch.ones(4, 16)  # log(B - 1) = log 3
        >>> dhel_loss(collapsed, collapsed, temperature=0.5)
        tensor(1.0986)

    References:
        - Koromilas, Bouritsas, Giannakopoulos, Nicolaou, Panagakis. Bridging Mini-Batch and
          Asymptotic Analysis in Contrastive Learning: From InfoNCE to Kernel-Based Losses.
          ICML 2024. <https://arxiv.org/abs/2405.18045>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 3.1. <https://arxiv.org/abs/2506.09781>
    """
    return infonce_family(
        z1,
        z2,
        temperature=temperature,
        cross_view=False,
        within_view=True,
        decoupled=True,
        ids=ids,
        gather=gather,
    )
