"""MoCo v2's loss (He et al., 2020; Chen et al., 2020). The queue of keys, the key encoder and
shuffle-BN are `contrastlens.models.MoCo`.

    L = 1/B sum_i [ -q_i.k_i/t + log( e^{q_i.k_i/t} + sum_k e^{q_i.queue_k/t} ) ]

i.e. cross-entropy over the logits (B, 1+K) = [q.k | q.queue] with target 0, computed as
logaddexp(positive, logsumexp(negatives)) without materializing the concatenation. The queue
is detached (keys carry no gradient); k is used as given (MoCo computes it without gradient).

Shape legend: B local rows (queries/keys), D dimension, K queue length.
"""

from __future__ import annotations

import torch

from contrastlens.checks import check_positive
from contrastlens.losses._fused import negative_logsumexp
from contrastlens.losses.pairs import ViewPairs, view_pairs
from contrastlens.losses.precision import full_precision

__all__ = ["moco_from_pairs", "moco_loss"]


def moco_from_pairs(P: ViewPairs, *, temperature: float | torch.Tensor) -> torch.Tensor:
    """MoCo v2's loss on a prepared batch (u = q, v = k, queue_KD); see `moco_loss`."""
    check_positive(temperature, "temperature")
    if P.queue_KD is None:
        raise ValueError("queue is required for the MoCo loss")
    inv_t = 1.0 / temperature
    pos_B = (P.u_BD * P.v_BD).sum(dim=1) * inv_t  # q.k / t         (B,)
    neg_B = negative_logsumexp(P.u_BD * inv_t, P.queue_KD)  # log sum_k e^{q.queue_k / t}  (B,)
    lse_B = torch.logaddexp(pos_B, neg_B)  # log of the (1 + K) terms
    total = (lse_B - pos_B).sum() / P.G  # G = B times the number of processes when gathered
    return P.global_sum(total)


@full_precision
def moco_loss(
    q: torch.Tensor,
    k: torch.Tensor,
    queue: torch.Tensor,
    *,
    temperature: float | torch.Tensor,
    gather: bool = False,
) -> torch.Tensor:
    """MoCo v2's InfoNCE: positive q_i.k_i, negatives the queue of keys.

    He et al., 2020, Eq. 1, with MoCo v2's settings (Chen et al., 2020); per query q_i:

        -q_i.k_i/t + log( e^{q_i.k_i/t} + sum_k e^{q_i.queue_k/t} ),

    averaged over the B queries: the cross-entropy of the (B, 1 + K) logits [q.k | q.queue] / t
    with target 0. In the terms of Lee et al. (ICML 2025) it is InfoNCE (Def 3.1, c1 = 1,
    c2 = 0) with the queue as its negatives, in one direction; contrastlens' `MoCo` model
    symmetrizes it over the two views. Collapse (queries, keys and queue all equal) gives
    log(1 + K).

    Args:
        q: (B, D) queries, from the query encoder (normalized inside).
        k: (B, D) keys of the same B images, from the key encoder, of q's dtype (used as given:
            MoCo computes them without gradient).
        queue: (K, D) keys of earlier batches, K >= 1 (detached and normalized inside;
            `contrastlens.models.MoCo`'s `queue.keys_KD`).
        temperature: t > 0 (MoCo v2 uses 0.2).
        gather: average over all processes' queries (the value and every input's gradient
            equal one process holding the global batch).

    Returns:
        The loss, a 0-d tensor.

    Examples:
        >>> import torch
        >>> from contrastlens.losses import moco_loss
        >>> q, queue = torch.ones(4, 16), torch.ones(7, 16)  # collapse: log(1 + K) = log 8
        >>> moco_loss(q, q, queue, temperature=0.2)
        tensor(2.0794)

    References:
        - He, Fan, Wu, Xie, Girshick. Momentum Contrast for Unsupervised Visual
          Representation Learning. CVPR 2020, Eq. 1. <https://arxiv.org/abs/1911.05722>
        - Chen, Fan, Girshick, He. Improved Baselines with Momentum Contrastive Learning
          (MoCo v2). 2020. <https://arxiv.org/abs/2003.04297>
    """
    P = view_pairs(q, k, gather=gather, queue=queue, names=("q", "k"), need_negatives=False)
    return moco_from_pairs(P, temperature=temperature)
