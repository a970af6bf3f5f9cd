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

from contrastlens.losses._checks import check_positive
from contrastlens.losses._fused import negative_logsumexp
from contrastlens.losses.pairs import ViewPairs, view_pairs

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


def moco_loss(
    q: torch.Tensor,
    k: torch.Tensor,
    queue: torch.Tensor,
    *,
    temperature: float | torch.Tensor,
    gather: bool = False,
) -> torch.Tensor:
    """MoCo v2 InfoNCE: positive q_i.k_i, negatives q_i.queue (He et al., 2020, Eq. 1).

    q, k: (B, D) queries and keys of one dtype (normalized inside). queue: (K, D) keys, K >= 1
    (detached, normalized inside; `MoCo.queue.keys_KD`). temperature: t > 0 (MoCo v2 uses 0.2).
    gather: average over all processes' queries (the value and every input's gradient equal one
    process holding the global batch). Returns a 0-d tensor.
    """
    P = view_pairs(q, k, gather=gather, queue=queue, names=("q", "k"), need_negatives=False)
    return moco_from_pairs(P, temperature=temperature)
