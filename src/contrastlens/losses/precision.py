"""`full_precision`: the losses run outside autocast, in float32 or wider.

Under `torch.autocast` a loss's matmuls would run in bf16 or fp16: a log-sum-exp or a variance
of similarities with 8 bits of mantissa, and the fused backward (`losses/_fused.py`) would meet
a bf16 Gram matrix next to float32 embeddings and stop with a dtype error. torch's autocast
keeps its own losses (softmax, cross-entropy, norms) in float32 for the same reason. So every
public loss turns autocast off for its own computation and upcasts bf16 / fp16 embeddings to
float32 (differentiably: their gradients come back in their own dtype); float32 and float64
inputs compute as they are. Calling a loss inside `with torch.autocast(...)`, the usual mixed
precision loop, then gives the float32 result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

__all__ = ["common_float", "full_precision", "outside_autocast"]

F = TypeVar("F", bound=Callable)
LOW = (torch.bfloat16, torch.float16)


def _wide(x: object) -> object:
    return x.float() if isinstance(x, torch.Tensor) and x.dtype in LOW else x


def full_precision(fn: F) -> F:
    """Decorate a loss of embeddings: autocast off on the device of its first tensor argument,
    bf16 / fp16 tensor arguments as float32."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        if first is None:  # no tensor: the loss's own checks name the problem
            return fn(*args, **kwargs)
        args = tuple(_wide(a) for a in args)
        kwargs = {k: _wide(v) for k, v in kwargs.items()}
        with outside_autocast(first):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def common_float(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The tensors in one floating dtype, float32 at least (float64 if any is): the fused
    functions' inputs, whatever path reached them."""
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return tuple(t.to(dtype) for t in tensors)


def outside_autocast(x: torch.Tensor):
    """A context with autocast off on x's device."""
    return torch.autocast(x.device.type, enabled=False)
