"""MoCo v2's loss and its queue of keys (He et al., 2020; Chen et al., 2020).

    L = 1/B sum_i [ -q_i.k_i/t + log( e^{q_i.k_i/t} + sum_k e^{q_i.queue_k/t} ) ]

i.e. cross-entropy over the logits (B, 1+K) = [q.k | q.queue] with target 0, computed as
logaddexp(positive, logsumexp(negatives)) without materializing the concatenation. The queue
is detached (keys carry no gradient); k is used as given (MoCo computes it without gradient).

Shape legend: B local rows (queries/keys), D dimension, K queue length.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from contrastlens import distributed
from contrastlens.losses._checks import check_embeddings, check_positive
from contrastlens.losses._fused import negative_logsumexp
from contrastlens.losses.pairs import ViewPairs, normalize, view_pairs

__all__ = ["Queue", "moco_from_pairs", "moco_loss"]


class Queue(nn.Module):
    """A ring buffer of K keys (MoCo's dictionary), saved in `state_dict` (buffers `keys_KD`
    and `ptr`) so a training checkpoint resumes with the same negatives.

    Keys are stored L2-normalized, detached, in float32 (float64 when given float64 at
    construction via `dtype`). The initial content is random unit vectors, as in MoCo.
    `tensor()` / `keys` return a detached clone, never the live buffer.
    """

    def __init__(
        self,
        size: int,
        dim: int,
        *,
        dtype: torch.dtype = torch.float32,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        init_KD = normalize(torch.randn(size, dim, generator=generator, dtype=dtype))
        self.register_buffer("keys_KD", init_KD)
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @property
    def size(self) -> int:
        return self.keys_KD.shape[0]

    @property
    def dim(self) -> int:
        return self.keys_KD.shape[1]

    def __len__(self) -> int:
        return self.size

    @torch.no_grad()
    def enqueue(self, keys_BD: torch.Tensor, *, gather: bool = False) -> Queue:
        """Replace the oldest B keys by `keys_BD` (normalized, detached); returns self.
        gather: first all-gather the keys of every process (MoCo's concat_all_gather)."""
        check_embeddings(keys_BD, "keys_BD")
        if keys_BD.shape[1] != self.dim:
            raise ValueError(
                f"keys_BD has D = {keys_BD.shape[1]} but the queue holds D = {self.dim}"
            )
        if gather:
            keys_BD = distributed.all_gather_no_grad(keys_BD)
        new_ND = normalize(keys_BD.detach()).to(self.keys_KD)[-self.size :]  # keep the newest K
        rows_N = (int(self.ptr) + torch.arange(new_ND.shape[0])) % self.size
        self.keys_KD[rows_N.to(self.keys_KD.device)] = new_ND
        self.ptr.fill_((int(self.ptr) + new_ND.shape[0]) % self.size)
        return self

    dequeue_and_enqueue = enqueue  # MoCo's name: the ring buffer drops the oldest keys

    def tensor(self) -> torch.Tensor:
        """A detached clone of the (K, D) keys."""
        return self.keys_KD.detach().clone()

    @property
    def keys(self) -> torch.Tensor:
        return self.tensor()

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}"


def _queue_tensor(queue: torch.Tensor | Queue) -> torch.Tensor:
    # The live buffer is read without cloning: it is detached inside `view_pairs`, and nothing
    # here writes to it.
    return queue.keys_KD if isinstance(queue, Queue) else queue


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
    queue: torch.Tensor | Queue,
    *,
    temperature: float | torch.Tensor,
    gather: bool = False,
) -> torch.Tensor:
    """MoCo v2 InfoNCE: positive q_i.k_i, negatives q_i.queue (He et al., 2020, Eq. 1).

    q, k: (B, D) queries and keys (normalized inside). queue: (K, D) keys or a `Queue`
    (detached, normalized inside). temperature: t > 0 (MoCo v2 uses 0.2). gather: average over
    all processes' queries (the value and every input's gradient equal one process holding the
    global batch). Returns a 0-d tensor.
    """
    P = view_pairs(
        q, k, gather=gather, queue=_queue_tensor(queue), names=("q", "k"), need_negatives=False
    )
    return moco_from_pairs(P, temperature=temperature)
