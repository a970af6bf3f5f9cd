"""MoCo v2's momentum (key) encoder (He et al., 2020; Chen et al., 2020), after moco/builder.py.

The key encoder is a copy of the query encoder (backbone + projector) updated by an exponential
moving average, never by gradients:  theta_k <- m * theta_k + (1 - m) * theta_q.
BN buffers (running mean/var) are copied the same way. The queue of keys is
`contrastlens.losses.Queue`; the loop does:

    momentum_update(key_enc, query_enc, m)          # before computing keys, as in MoCo
    with torch.no_grad(): _, k_BP = key_enc(x2)     # keys: (B, P), no gradient
    terms = objective(q_BP, k_BP, ids=ids_B, queue=queue)
    queue.enqueue(k_BP, gather=True)                # after the loss: the current keys are not
                                                    # their own negatives

Differences from the reference code, documented: no shuffle-BN (one process sees its whole
batch; across processes we rely on per-process BN statistics, which is what shuffle-BN emulates
for the key encoder only); the symmetric loss (q1 vs k2 and q2 vs k1, averaged) is the default
(`method.moco_symmetric`), as in MoCo v3 and most CIFAR reproductions; False gives MoCo v2's
one-directional loss.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_key_encoder(query_encoder: nn.Module) -> nn.Module:
    """A frozen deep copy of the query encoder (no gradients)."""
    key = copy.deepcopy(query_encoder)
    for p in key.parameters():
        p.requires_grad_(False)
    return key


@torch.no_grad()
def momentum_update(key_encoder: nn.Module, query_encoder: nn.Module, m: float) -> None:
    """theta_k <- m theta_k + (1 - m) theta_q for parameters; floating buffers likewise."""
    for pk, pq in zip(key_encoder.parameters(), query_encoder.parameters()):
        pk.mul_(m).add_(pq.detach(), alpha=1 - m)
    for bk, bq in zip(key_encoder.buffers(), query_encoder.buffers()):
        if bk.dtype.is_floating_point:
            bk.mul_(m).add_(bq, alpha=1 - m)
        else:
            bk.copy_(bq)
