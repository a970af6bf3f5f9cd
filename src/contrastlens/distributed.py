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

Process setup lives here too: `resolve_device`, `init_distributed` (joins the torchrun group:
nccl on CUDA, gloo on CPUs, with a timeout so that a dead peer ends the others with an error
instead of a hang), `barrier`, `wrap_ddp`, and `convert_sync_batchnorm`, which swaps every batch
norm for `GlobalBatchNorm`: batch statistics all-reduced over processes, on CPUs (gloo) and GPUs
alike (torch's SyncBatchNorm is CUDA-only).

Shape legend: B local rows, G = B * world_size() global rows, D embedding dimension.
"""

from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = [
    "GlobalBatchNorm",
    "all_gather_no_grad",
    "all_gather_with_grad",
    "all_reduce_mean",
    "all_reduce_sum",
    "all_reduce_sum_with_grad",
    "barrier",
    "convert_sync_batchnorm",
    "init_distributed",
    "is_distributed",
    "rank",
    "resolve_device",
    "shutdown",
    "sum_over_processes",
    "wait_for_rank0",
    "world_size",
    "wrap_ddp",
]

# A collective that waits longer than this raises instead of hanging (a peer died mid-run).
TIMEOUT_S = float(os.environ.get("CONTRASTLENS_DIST_TIMEOUT_S", 300))


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


class _AllReduceSumWithGrad(torch.autograd.Function):
    """Forward: the sum over processes. Backward: the sum over processes of the incoming
    gradients, because every process's loss depends on every process's summand."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x.detach().reshape(-1).clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.contiguous().reshape(-1).clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out.reshape(grad.shape)


def all_reduce_sum_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Sum of x over processes, differentiable (batch statistics of `GlobalBatchNorm`).
    Identity on one process."""
    if not _active():
        return x
    return _AllReduceSumWithGrad.apply(x)


# --------------------------------------------------------------------------- process setup


def resolve_device(name: str = "auto") -> torch.device:
    """ "auto": this process's GPU (LOCAL_RANK) when CUDA is available, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return dev


_PATIENT_GROUP = None  # a gloo group with a long timeout, for waiting on rank 0's evaluation


def init_distributed(device: torch.device) -> None:
    """Make a CUDA `device` this process's current device, then join the torchrun process group
    when WORLD_SIZE > 1 (nccl on CUDA, gloo on CPU). The current device is what torch.cuda's
    defaults mean (the RNG state a checkpoint saves, bf16 support, new tensors): without it a
    one-process `train.device=cuda:1` would ask those of GPU 0."""
    global _PATIENT_GROUP
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not is_distributed():
        dist.init_process_group(
            "nccl" if device.type == "cuda" else "gloo",
            timeout=datetime.timedelta(seconds=TIMEOUT_S),
        )
        _PATIENT_GROUP = dist.new_group(backend="gloo", timeout=datetime.timedelta(hours=12))


def barrier() -> None:
    if _active():
        dist.barrier()


def wait_for_rank0() -> None:
    """Every process waits here while rank 0 alone evaluates (minutes): a barrier on a group
    whose timeout is hours, not the `TIMEOUT_S` that catches dead peers in training."""
    if _active():
        dist.barrier(group=_PATIENT_GROUP)


def shutdown() -> None:
    """Wait for every process, then leave the process group (end of a torchrun job), so that
    no process exits while a peer still talks to it."""
    if is_distributed():
        dist.barrier()
        dist.destroy_process_group()


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `module` when there are several processes, else itself."""
    if not _active():
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        module, device_ids=[device.index] if device.type == "cuda" else None
    )


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training-mode statistics are those of the global batch: per-channel
    sums of x and x^2 and the row count are all-reduced (with gradient) over processes. On one
    process it equals `nn.BatchNorm{1,2}d`. Works with gloo (CPU) and nccl (GPU).

    Legend: N rows, C channels, S spatial positions (1 for BatchNorm1d)."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 3, 4, 5):
            raise ValueError(f"expected a 2-D to 5-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not (self.training and _active()):
            return F.batch_norm(
                x,
                self.running_mean,
                self.running_var,
                self.weight,
                self.bias,
                self.training or not self.track_running_stats,
                self.momentum or 0.0,
                self.eps,
            )
        out_dtype = x.dtype
        if x.dtype in (torch.float16, torch.bfloat16):  # statistics in float32 under autocast
            x = x.float()
        dims = [0, *range(2, x.dim())]
        count = x.new_tensor([x.numel() / x.shape[1]])
        stats_2C1 = torch.cat([x.sum(dims), (x * x).sum(dims), count])  # sums, squares, count
        stats_2C1 = all_reduce_sum_with_grad(stats_2C1)
        C = x.shape[1]
        n = stats_2C1[-1]
        mean_C = stats_2C1[:C] / n
        var_C = (stats_2C1[C : 2 * C] / n - mean_C * mean_C).clamp(min=0)  # biased, as BN uses
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (
                    self.momentum
                    if self.momentum is not None
                    else 1.0 / int(self.num_batches_tracked)
                )
                unbiased_C = var_C.detach() * (n / (n - 1)).clamp(min=0)
                self.running_mean.mul_(1 - m).add_(mean_C.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased_C, alpha=m)
        shape = [1, C] + [1] * (x.dim() - 2)
        y = (x - mean_C.view(shape)) * torch.rsqrt(var_C.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape).to(y) + self.bias.view(shape).to(y)
        return y.to(out_dtype)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every `nn.BatchNorm{1,2,3}d` in `module` (in place where possible) by a
    `GlobalBatchNorm` with the same parameters and running statistics; returns the module."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
        module, GlobalBatchNorm
    ):
        new = GlobalBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
        )
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child))
    return module
