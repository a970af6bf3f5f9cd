"""Large batches in bounded memory: the whole batch's loss, activations for M images at a time
(`train.micro_batch`; Gao et al., 2021, "Scaling Deep Contrastive Learning Batch Size under
Memory Limited Setup", GradCache).

    1. embed the batch in chunks of M rows without gradients (saving each chunk's RNG state),
    2. compute the loss of the whole batch on the cached embeddings and its gradient with
       respect to them (the loss, VRN, MoCo's queue and the all-gather see the whole batch),
    3. re-run each chunk with its saved RNG state and backpropagate the cached gradient.

The parameter gradients equal those of the plain step on the same batch, except that batch
norm sees each chunk as its own batch: the result equals the plain step whose BN statistics are
computed per micro-batch (tests/train/test_gradcache.py). Batch-norm running statistics are
updated once per chunk, by the second pass. MoCo's keys are computed in BN groups of the chunk
size, never in their query's group (shuffle-BN, models/momentum.py). Under several
processes every chunk but the last backpropagates without DDP's gradient all-reduce.

Legend: B per-process batch, M micro-batch, P projection dims.
"""

from __future__ import annotations

import contextlib

import torch


def _bn_buffers(module: torch.nn.Module) -> list[torch.Tensor]:
    return [
        b
        for m in module.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        for b in m.buffers()
    ]


def _encode(p, x1, x2):
    """(z1, z2) of one chunk by the query encoder, cast out of autocast (differentiably)."""
    M = x1.shape[0]
    with p.precision.autocast(p.device):
        _, z_2MP = p.model(torch.cat([p.precision.inputs(x1), p.precision.inputs(x2)]))
    return z_2MP[:M].to(p.dtype), z_2MP[M:].to(p.dtype)


def chunked_step(p, x1, x2, ids, *, micro_batch: int, stats: bool):
    """Forward and backward of one step in chunks of `micro_batch` rows (no optimizer step);
    returns (named terms, MoCo keys or None, the detached projections (z1_BP, z2_BP)). `p` is
    the loop's `Parts`. Raises FloatingPointError on a non-finite loss, before any parameter
    gradient is written."""
    B, M = x1.shape[0], micro_batch
    if B % M:
        raise ValueError(f"train.micro_batch={M} must divide the per-process batch {B}")
    starts = range(0, B, M)
    buffers = _bn_buffers(p.encoder)
    saved = [b.clone() for b in buffers]
    devices = [p.device.index] if p.device.type == "cuda" else []
    rng = []
    with torch.no_grad():  # 1. embed without gradients
        z1s, z2s = [], []
        for lo in starts:
            rng.append(
                (torch.get_rng_state(), torch.cuda.get_rng_state(p.device) if devices else None)
            )
            z1, z2 = _encode(p, x1[lo : lo + M], x2[lo : lo + M])
            z1s.append(z1)
            z2s.append(z2)
    for b, old in zip(buffers, saved):  # the second pass updates the running statistics
        b.copy_(old)
    z1_BP = torch.cat(z1s).requires_grad_()
    z2_BP = torch.cat(z2s).requires_grad_()

    # 2. the whole batch's loss and its gradient with respect to the cached embeddings
    keys = None
    if p.moco is None:
        terms = p.objective(z1_BP, z2_BP, ids=ids, stats=stats)
    else:
        with p.precision.autocast(p.device):
            keys = p.moco.keys(
                p.encoder, p.precision.inputs(x1), p.precision.inputs(x2), group_size=M
            )
        keys = tuple(k.to(p.dtype) for k in keys)
        terms = p.moco.terms(p.objective, z1_BP, z2_BP, *keys, ids, stats=stats)
    if not torch.isfinite(terms["loss"]).item():
        raise FloatingPointError(float(terms["loss"].detach()))
    (terms["loss"] * p.world if p.world > 1 else terms["loss"]).backward()
    # a view the loss does not use (one-directional MoCo without VRN/GOR) gets a zero gradient
    g1_BP, g2_BP = (z.grad if z.grad is not None else torch.zeros_like(z) for z in (z1_BP, z2_BP))

    # 3. re-run each chunk with its RNG state and backpropagate the cached gradient
    for i, lo in enumerate(starts):
        cpu_state, cuda_state = rng[i]
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(cpu_state)
            if cuda_state is not None:
                torch.cuda.set_rng_state(cuda_state, p.device)
            last = i == len(starts) - 1
            no_sync = getattr(p.model, "no_sync", None)
            with no_sync() if (no_sync is not None and not last) else contextlib.nullcontext():
                z1, z2 = _encode(p, x1[lo : lo + M], x2[lo : lo + M])
                torch.autograd.backward([z1, z2], [g1_BP[lo : lo + M], g2_BP[lo : lo + M]])
    return {k: v.detach() for k, v in terms.items()}, keys, (z1_BP.detach(), z2_BP.detach())
