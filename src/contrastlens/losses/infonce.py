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

from contrastlens.losses._checks import check_positive
from contrastlens.losses._fused import negative_logsumexp
from contrastlens.losses.pairs import ViewPairs, view_pairs

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
    """Def 3.1 (Lee et al., ICML 2025), symmetrized over the two views.

    Per anchor u_i:

        -u_i.v_i / t + log( [e^{u_i.v_i/t}]  + c1 sum_{j: id_j != id_i} e^{u_i.v_j/t}
                                             + c2 sum_{j: id_j != id_i} e^{u_i.u_j/t} ),

    the bracketed positive term dropped when `decoupled` (psi = log instead of log(1 + x)); the
    loss is the mean of this over the 2B anchors u_1..u_B, v_1..v_B (v_i's columns are u_j
    cross-view and v_j within-view).

    z1, z2: (B, D) two views of the same B instances, any scale (normalized inside, see
    `pairs.normalize`); float16/bfloat16 are computed in float32. temperature: t > 0.
    cross_view: c1 (negatives v_j for anchor u_i). within_view: c2 (negatives u_j).
    ids: (B,) instance ids; rows with equal ids are not negatives of each other (without ids
    only i = j is). gather: score the local rows against all processes' columns (with gradient);
    the value and every input's gradient equal one process holding the global batch.
    Returns a 0-d tensor.
    """
    P = view_pairs(z1, z2, ids=ids, gather=gather)
    return infonce_from_pairs(
        P,
        temperature=temperature,
        cross_view=cross_view,
        within_view=within_view,
        decoupled=decoupled,
    )


def infonce_loss(z1, z2, *, temperature, ids=None, gather=False) -> torch.Tensor:
    """InfoNCE / CLIP (Def 3.1 with c1 = 1, c2 = 0, psi = log(1 + x)): per anchor
    -s_ii/t + log sum_j e^{u_i.v_j/t}, averaged over both views. Collapse gives log B.
    Arguments as in `infonce_family`."""
    return infonce_family(z1, z2, temperature=temperature, ids=ids, gather=gather)


def simclr_loss(z1, z2, *, temperature, ids=None, gather=False) -> torch.Tensor:
    """SimCLR / NT-Xent (Def 3.1 with c1 = c2 = 1, psi = log(1 + x)): the mean over the 2B
    anchors of -log softmax of the positive among the other 2B - 1 embeddings (lightly's
    NTXentLoss value). Collapse gives log(2B - 1). Arguments as in `infonce_family`."""
    return infonce_family(z1, z2, temperature=temperature, within_view=True, ids=ids, gather=gather)


def dcl_loss(z1, z2, *, temperature, ids=None, gather=False) -> torch.Tensor:
    """DCL, decoupled contrastive loss (Yeh et al., 2022; Def 3.1 with c1 = c2 = 1, psi = log):
    SimCLR without the positive in the denominator. Arguments as in `infonce_family`."""
    return infonce_family(
        z1, z2, temperature=temperature, within_view=True, decoupled=True, ids=ids, gather=gather
    )


def dhel_loss(z1, z2, *, temperature, ids=None, gather=False) -> torch.Tensor:
    """DHEL (Koromilas et al., 2024) in the paper's form (Def 3.1 with c1 = 0, c2 = 1, psi = log):

        L = 1/B sum_i [ -u_i.v_i/t + 1/2 log sum_{j!=i} e^{u_i.u_j/t}
                                   + 1/2 log sum_{j!=i} e^{v_i.v_j/t} ]

    i.e. the two views' log-denominators are AVERAGED. The DHEL authors' code ADDS them:
    L_code = 1/B sum_i [ -u_i.v_i/t + log sum e^{u_i.u_j/t} + log sum e^{v_i.v_j/t} ]
           = 2 L + mean_i(u_i.v_i)/t,
    which weighs uniformity twice as much relative to alignment (same minimizers over the
    simplex ETF, different training dynamics). Arguments as in `infonce_family`.
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
