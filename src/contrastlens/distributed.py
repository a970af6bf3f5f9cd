"""Everything that talks to `torch.distributed`; the rest of the package imports only this file.

Every helper is the identity (or the obvious single-process value) when torch.distributed is not
available or not initialized, so the library runs unchanged on one process.

How the losses use it (see `contrastlens.losses.pairs`): each process scores its LOCAL rows
against the GLOBAL columns, gathered with `all_gather_with_grad`; it sums its rows' terms and
divides by the GLOBAL count; `sum_over_processes` then adds the processes' partial sums. The
returned value is the single-process loss of the global batch on every process, and after every
process calls `.backward()` the gradient of every input equals the single-process gradient of
the global loss with respect to that input's rows (tests/test_distributed.py checks both, float64,
to 1e-10, with a real 2-process gloo group).

    process r:   L = sum_over_processes(P_r),   P_r = (terms of local rows vs global columns) / N
    backward:    d/dx_r = dP_r/d(rows x_r) + sum_r' dP_r'/d(columns x_r)   (= dL_global/dx_r)
                 the second sum is the all-reduce inside `all_gather_with_grad`'s backward.

Note for DistributedDataParallel users: DDP AVERAGES parameter gradients over processes, and
here every process's gradient already is its exact share of the global gradient, so under DDP
multiply the loss by `world_size()` before `.backward()` to get the gradient of the global loss.

All processes must hold the same number of rows (torch's all_gather needs equal shapes) and must
all call the loss and its `.backward()` (both contain collectives).

Shape legend: B local rows, G = B * world_size() global rows, D embedding dimension.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

__all__ = [
    "all_gather_no_grad",
    "all_gather_with_grad",
    "all_reduce_mean",
    "all_reduce_sum",
    "is_distributed",
    "rank",
    "sum_over_processes",
    "world_size",
]


def is_distributed() -> bool:
    """True when torch.distributed is available and a process group is initialized."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes in the default group; 1 when not distributed."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """This process's rank in the default group; 0 when not distributed."""
    return dist.get_rank() if is_distributed() else 0


def _active() -> bool:
    return is_distributed() and dist.get_world_size() > 1


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenate every process's x_BD along dim 0; backward all-reduces (sums) the gradient
    of the gathered (G, D) tensor and returns this process's (B, D) slice of it."""

    @staticmethod
    def forward(ctx, x_BD: torch.Tensor) -> torch.Tensor:
        x_BD = x_BD.contiguous()
        parts = [torch.empty_like(x_BD) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x_BD)
        ctx.rows = x_BD.shape[0]
        return torch.cat(parts, dim=0)  # (G, D)

    @staticmethod
    def backward(ctx, grad_GD: torch.Tensor) -> torch.Tensor:
        grad_GD = grad_GD.contiguous().clone()
        dist.all_reduce(grad_GD, op=dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.rows
        return grad_GD[start : start + ctx.rows]  # (B, D)


def all_gather_with_grad(x_BD: torch.Tensor) -> torch.Tensor:
    """All-gather along dim 0 WITH gradient: (B, ...) -> (G, ...), process order.

    The gradient reaching the gathered tensor on every process is summed over processes and
    each process receives the slice for its own rows, so gradients flow back to every process's
    input. Identity on one process.
    """
    if not _active():
        return x_BD
    return _AllGatherWithGrad.apply(x_BD)


@torch.no_grad()
def all_gather_no_grad(x_B: torch.Tensor) -> torch.Tensor:
    """All-gather along dim 0 without gradient (ids, keys for a queue): (B, ...) -> (G, ...).
    Identity (detached) on one process."""
    x_B = x_B.detach()
    if not _active():
        return x_B
    x_B = x_B.contiguous()
    parts = [torch.empty_like(x_B) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x_B)
    return torch.cat(parts, dim=0)


@torch.no_grad()
def all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of x over processes, without gradient, as a new tensor (x is left unchanged)."""
    if not _active():
        return x.detach().clone()
    out = x.detach().reshape(-1).clone()  # gloo silently skips 0-d tensors: reduce a 1-d view
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.reshape(x.shape)


@torch.no_grad()
def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of x over processes, without gradient, as a new tensor (for logging)."""
    return all_reduce_sum(x) / world_size()


class _SumOverProcesses(torch.autograd.Function):
    """Forward: the sum of x over processes. Backward: the identity, because each process
    backpropagates its own summand (see the module docstring)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.detach().reshape(-1).clone()  # gloo silently skips 0-d tensors
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad


def sum_over_processes(partial: torch.Tensor) -> torch.Tensor:
    """Add the processes' partial sums of a loss; the gradient of the result with respect to
    `partial` is 1 on every process. Identity on one process."""
    if not _active():
        return partial
    return _SumOverProcesses.apply(partial)
