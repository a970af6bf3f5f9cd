"""MoCo v2 as one module: key encoder, momentum update, queue, shuffle-BN (He et al., 2020;
Chen et al., 2020), after facebookresearch/moco's builder.

    moco = MoCo(encoder, queue_size=4096, dim=128, momentum=0.99)
    z1_BP, z2_BP = moco.queries(model, x1_BCHW, x2_BCHW)     # query encoder, with gradient
    k1_BP, k2_BP = moco.keys(encoder, x1_BCHW, x2_BCHW)      # momentum update, then keys
    terms = moco.terms(objective, z1_BP, z2_BP, k1_BP, k2_BP, ids_B)
    ...backward, optimizer step...
    moco.enqueue(k1_BP, k2_BP)                                # after backward: never their
                                                              # own negatives
`moco.state_dict()` holds the key encoder and the queue, so a checkpoint resumes with the same
negatives.

The key encoder is a frozen copy of the query encoder (backbone + projector) updated by an
exponential moving average:  theta_k <- m theta_k + (1 - m) theta_q  (floating buffers too).

Shuffle-BN. Batch norm computes statistics over a batch; if a query and its positive key come
from the same batch of samples, the model can find the key through those statistics, which is
the leak MoCo's shuffle-BN blocks. Here the S samples of a step are cut into G BN groups
(G = `bn_groups` on one process; one group per process on several, since DDP allows one
forward of the query encoder per step; `train.micro_batch` makes each chunk a group): query
group g holds the
consecutive samples [g S/G, (g + 1) S/G), both views; key group j holds the strided samples
j, j + G, j + 2G, ... So the set of samples whose statistics a key is normalized with is never
the set its query is normalized with (as MoCo's shuffle across GPUs, without its chance of a
key landing on its query's GPU). Across processes the images are all-gathered (without
gradient), each process computes its key groups, and the keys are gathered back. With one
group (bn_groups = 1 on one process) queries and keys share statistics: the behaviour of the
committed MoCo numbers measured before shuffle-BN.

Loss: symmetric by default (q1 vs k2 and q2 vs k1, averaged; MoCo v3 and most CIFAR
reproductions); `symmetric=False` is MoCo v2's q1 vs k2. VRN (our extension) regularizes the
query encoder's own two views (q1, q2), both with gradient: applied to query-key pairs, whose
keys carry no gradient, it let the queries collapse (README "Conventions").

Legend: B per-process batch, P projection dims, K queue length, G BN groups.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from contrastlens import distributed
from contrastlens.losses.pairs import normalize


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


class Queue(nn.Module):
    """A ring buffer of K keys (MoCo's dictionary): buffers `keys_KD` (L2-normalized, detached;
    random unit vectors at the start, as in MoCo) and `ptr`, saved in `state_dict`."""

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

    def __len__(self) -> int:
        return self.keys_KD.shape[0]

    @torch.no_grad()
    def enqueue(self, keys_BD: torch.Tensor, *, gather: bool = False) -> Queue:
        """Replace the oldest B keys by `keys_BD` (normalized, detached); returns self.
        gather: first all-gather the keys of every process (MoCo's concat_all_gather)."""
        if keys_BD.dim() != 2 or keys_BD.shape[1] != self.keys_KD.shape[1]:
            raise ValueError(
                f"keys_BD has shape {tuple(keys_BD.shape)}; the queue holds (K, D) = "
                f"{tuple(self.keys_KD.shape)}: give (B, {self.keys_KD.shape[1]}) keys"
            )
        if gather:
            keys_BD = distributed.all_gather_no_grad(keys_BD)
        K = len(self)
        new_ND = normalize(keys_BD.detach()).to(self.keys_KD)[-K:]  # keep the newest K
        rows_N = (int(self.ptr) + torch.arange(new_ND.shape[0])) % K
        self.keys_KD[rows_N.to(self.keys_KD.device)] = new_ND
        self.ptr.fill_((int(self.ptr) + new_ND.shape[0]) % K)
        return self

    def extra_repr(self) -> str:
        return f"size={len(self)}, dim={self.keys_KD.shape[1]}"


def check_group_size(rows: int) -> int:
    """Shuffle-BN needs at least 2 samples per BN group: with one, key group j (samples j,
    j + G, ...) is query group j itself, so a key would be normalized with its own query's
    statistics, silently. ValueError naming the settings that fix it."""
    if rows < 2:
        raise ValueError(
            "MoCo's shuffle-BN groups would hold one sample each (method.moco_bn_groups equal to "
            "the batch, train.micro_batch=1, or one sample per process), so keys would share "
            "their queries' BN statistics; use groups of >= 2 samples (e.g. moco_bn_groups=2), "
            "or moco_bn_groups=1 for no shuffle-BN"
        )
    return rows


class MoCo(nn.Module):
    """MoCo v2's momentum key encoder, queue and shuffle-BN around a query encoder."""

    def __init__(
        self,
        encoder: nn.Module,
        *,
        queue_size: int = 4096,
        dim: int = 128,
        momentum: float = 0.99,
        symmetric: bool = True,
        bn_groups: int = 2,
        dtype: torch.dtype = torch.float32,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if bn_groups < 1:
            raise ValueError(f"bn_groups must be >= 1, got {bn_groups}")
        self.key_encoder = make_key_encoder(encoder)
        self.queue = Queue(queue_size, dim, dtype=dtype, generator=generator)
        self.momentum, self.symmetric, self.bn_groups = momentum, symmetric, bn_groups

    def group_size(self, batch: int) -> int:
        """Rows per BN group on this process: batch / `bn_groups` on one process; the whole
        local batch on several (the query encoder is then called once per step, as
        DistributedDataParallel requires)."""
        groups = self.bn_groups if distributed.world_size() == 1 else 1
        if batch % groups:
            raise ValueError(
                f"a batch of {batch} cannot be cut into {groups} MoCo BN groups; "
                "choose method.moco_bn_groups dividing the batch size"
            )
        return check_group_size(batch // groups)

    def queries(self, model: nn.Module, x1: torch.Tensor, x2: torch.Tensor):
        """Projections of both views by the query encoder (`model`, maybe DDP-wrapped), each
        BN group in its own forward: (z1_BP, z2_BP), with gradient."""
        c = self.group_size(x1.shape[0])
        z1, z2 = [], []
        for lo in range(0, x1.shape[0], c):
            _, z_2cP = model(torch.cat([x1[lo : lo + c], x2[lo : lo + c]]))
            z1.append(z_2cP[:c])
            z2.append(z_2cP[c:])
        return torch.cat(z1), torch.cat(z2)

    @torch.no_grad()
    def keys(
        self, encoder: nn.Module, x1: torch.Tensor, x2: torch.Tensor, group_size: int | None = None
    ):
        """Momentum update from the query `encoder`, then keys of both views, each key in a BN
        group other than its query's: (k1_BP, k2_BP), no gradient. group_size: rows per query
        BN group (default `self.group_size`; `train.micro_batch` passes its chunk size)."""
        momentum_update(self.key_encoder, encoder, self.momentum)
        B, r = x1.shape[0], distributed.rank()
        c = check_group_size(group_size) if group_size else self.group_size(B)
        G = B // c
        x1_S = distributed.all_gather_no_grad(x1)  # (S = B * world, ...); identity on one
        x2_S = distributed.all_gather_no_grad(x2)
        S, Gt = x1_S.shape[0], G * distributed.world_size()
        # Key group j holds the samples j, j + Gt, j + 2 Gt, ... (strided), query group g the
        # consecutive samples [g c, (g + 1) c): no key group equals its query's group. This
        # process computes key groups r G .. r G + G - 1.
        k1, k2 = [], []
        for j in range(r * G, (r + 1) * G):
            rows = torch.arange(j, S, Gt, device=x1.device)
            _, k_2cP = self.key_encoder(torch.cat([x1_S[rows], x2_S[rows]]))
            k1.append(k_2cP[:c])
            k2.append(k_2cP[c:])
        k1_S = distributed.all_gather_no_grad(torch.cat(k1))  # in key-group order
        k2_S = distributed.all_gather_no_grad(torch.cat(k2))
        i_S = torch.arange(S, device=x1.device)
        back = (i_S % Gt) * c + i_S // Gt  # the key row of sample i
        mine = back[r * B : (r + 1) * B]
        return k1_S[mine], k2_S[mine]

    def terms(self, objective, z1, z2, k1, k2, ids, *, stats: bool = False) -> dict:
        """The objective's named terms on (q1, k2) [and (q2, k1), averaged]; VRN on (q1, q2)."""
        queue_KD = self.queue.keys_KD
        t = objective(z1, k2.to(z1.dtype), ids=ids, queue=queue_KD, stats=stats, vrn_views=(z1, z2))
        if self.symmetric:
            t2 = objective(
                z2, k1.to(z2.dtype), ids=ids, queue=queue_KD, stats=stats, vrn_views=(z2, z1)
            )
            t = {k: (v + t2[k]) / 2 for k, v in t.items()}
        return t

    @torch.no_grad()
    def enqueue(self, k1: torch.Tensor, k2: torch.Tensor) -> None:
        """Add this step's keys (every process's, in global-batch order: the same queue as one
        process holding the whole batch) to the queue; call after backward."""
        k2 = distributed.all_gather_no_grad(k2)
        keys = torch.cat([k2, distributed.all_gather_no_grad(k1)]) if self.symmetric else k2
        self.queue.enqueue(keys)
