"""Input validation shared by the losses, the similarity statistics and the integrations: every
problem is a `ValueError` that names the argument (and, where there is one, the fix).

Shape legend: B rows, D embedding dimension, K queue length.
"""

from __future__ import annotations

import math
import numbers
import operator

import torch

from contrastlens.optimum import negative_optimum


def check_embeddings(z: object, name: str, *, finite: bool = True) -> None:
    """z must be a floating (B, D) tensor, finite unless `finite=False` (the finiteness check
    reads the values: a device-to-host synchronization)."""
    if not isinstance(z, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, D), got {type(z).__name__}")
    if z.dim() != 2:
        raise ValueError(f"{name} must be 2-D (B, D), got shape {tuple(z.shape)}")
    if not z.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {z.dtype}")
    if z.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column, got shape {tuple(z.shape)}")
    if finite and not bool(torch.isfinite(z.detach()).all()):
        raise ValueError(f"{name} contains NaN or Inf")


def check_views(
    z1: object, z2: object, names: tuple[str, str] = ("z1", "z2"), *, finite: bool = True
) -> None:
    """Two (B, D) tensors of the same shape, dtype and device (finite unless `finite=False`)."""
    check_embeddings(z1, names[0], finite=finite)
    check_embeddings(z2, names[1], finite=finite)
    if z1.shape != z2.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (B, D), "
            f"got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    if z1.dtype != z2.dtype:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same dtype, got {z1.dtype} and {z2.dtype} "
            f"(cast one, e.g. {names[1]}.to({names[0]}.dtype))"
        )
    if z1.device != z2.device:
        raise ValueError(f"{names[0]} and {names[1]} must be on the same device")


def check_global_rows(rows: int, names: tuple[str, str] = ("z1", "z2")) -> None:
    """Negatives need at least two instances in the (global) batch."""
    if rows < 2:
        raise ValueError(
            f"{names[0]} and {names[1]} need B >= 2 rows (negatives need a second instance), "
            f"got B = {rows}"
        )


def check_positive(x: object, name: str) -> None:
    """x (a number or a 0-d tensor) must be finite and > 0."""
    value = _scalar(x, name)
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def check_finite_scalar(x: object, name: str) -> None:
    _scalar(x, name)


def _scalar(x: object, name: str) -> float:
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(x.shape)}")
        value = float(x.detach())
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        value = float(x)
    else:
        raise ValueError(f"{name} must be a number, got {type(x).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_ids(ids: object, rows: int, name: str = "ids", *, finite: bool = True) -> None:
    """ids must be a 1-D tensor with one entry per row; floating ids must also be finite unless
    `finite=False` (a NaN id never equals itself, so its row would be its own negative; the
    check reads the values: a device-to-host synchronization, integer ids need none)."""
    if not isinstance(ids, torch.Tensor):
        raise ValueError(f"{name} must be a 1-D torch.Tensor, got {type(ids).__name__}")
    if ids.dim() != 1 or ids.shape[0] != rows:
        raise ValueError(
            f"{name} must have shape ({rows},) (one id per row), got {tuple(ids.shape)}"
        )
    if finite and ids.is_floating_point() and not bool(torch.isfinite(ids).all()):
        raise ValueError(
            f"{name} contains NaN or Inf (a NaN id never equals itself); use finite or integer ids"
        )


def check_queue(queue: object, dim: int, name: str = "queue") -> None:
    """queue must be a finite (K, D) tensor with K >= 1 and the embeddings' D."""
    check_embeddings(queue, name)
    if queue.shape[0] < 1:
        raise ValueError(
            f"{name} must have at least one row (K >= 1 keys), got shape {tuple(queue.shape)}"
        )
    if queue.shape[1] != dim:
        raise ValueError(
            f"{name} has D = {queue.shape[1]} but the embeddings have D = {dim} "
            f"(shape {tuple(queue.shape)})"
        )


def check_dataset_size(n: object, name: str = "n") -> int:
    """n: a dataset size, an integer > 1 (any integral number: int, NumPy integer, or a float
    with an integer value). Returns it as an int."""
    if isinstance(n, bool):
        raise ValueError(f"{name} must be an integer dataset size > 1, got {n!r}")
    if isinstance(n, numbers.Integral):
        value = operator.index(n)
    elif isinstance(n, numbers.Real):
        if not math.isfinite(n):
            raise ValueError(f"{name} must be finite (an integer dataset size > 1), got {n!r}")
        if n != int(n):
            raise ValueError(f"{name} must be an integer dataset size > 1, got {n!r}")
        value = int(n)
    else:
        try:
            value = operator.index(n)
        except TypeError:
            raise ValueError(f"{name} must be an integer dataset size > 1, got {n!r}") from None
    if value <= 1:
        raise ValueError(
            f"dataset size {name} must be >= 2 ({name} must be > 1 for the optimum -1/(n-1)), "
            f"got {value}"
        )
    return value


def resolve_delta(n: object, delta: object) -> float:
    """Def 5.7's target similarity: exactly one of n (dataset size, delta = -1/(n-1)) or delta."""
    if (n is None) == (delta is None):
        raise ValueError(
            "n, delta: give exactly one of n (dataset size; delta = -1/(n-1)) or delta, "
            f"got n={n!r}, delta={delta!r}"
        )
    if n is not None:
        return negative_optimum(check_dataset_size(n))
    value = _scalar(delta, "delta")
    if not -1.0 <= value <= 1.0:
        raise ValueError(f"delta must lie in [-1, 1] (a cosine similarity), got {value}")
    return value


def check_sample_ids(ids: object, rows: int, name: str = "ids") -> torch.Tensor:
    """Dataset indices of a batch (SogCLR's state index): a (rows,) integer tensor. Returns it.
    Reads no values (see `check_sample_id_values`)."""
    if ids is None:
        raise ValueError(
            f"{name} are required: pass the samples' dataset indices in [0, n), shape ({rows},) "
            "(the training loop's batches yield them as their third item)"
        )
    check_ids(ids, rows, name, finite=False)
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise ValueError(
            f"{name} must be integer dataset indices, got dtype {ids.dtype} (pass {name}.long())"
        )
    return ids


def check_sample_id_values(
    ids_G: torch.Tensor,
    n: int,
    *,
    name: str = "ids",
    unit: str = "dataset index",
    fix: str = "build the loss with n = the training-set size, and draw each batch without "
    "replacement",
) -> None:
    """Every id in [0, n) and no id twice in the (global) batch (reads the values: one
    device-to-host copy). name: what holds the ids, unit: what one id is, fix: how to mend it
    (both name the user's own terms in the message)."""
    values = ids_G.tolist()
    lo, hi = min(values), max(values)
    units = unit.replace("index", "indices")
    if lo < 0 or hi >= n:
        raise ValueError(
            f"{name} must hold {units} in [0, n = {n}) (n: the samples the state holds), got "
            f"values in [{lo}, {hi}]: {fix}"
        )
    if len(set(values)) < len(values):
        seen: set[int] = set()
        repeated = next(v for v in values if v in seen or seen.add(v))
        raise ValueError(
            f"{unit} {repeated} appears twice in one (global) batch: {name} must hold distinct "
            f"{units}, one state value per sample ({fix})"
        )
