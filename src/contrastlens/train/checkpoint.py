"""Checkpoints (written atomically, read with a clear error) and the random-number state a
resume continues from.

A resume replays the same data order, augmentations and schedule. On the CPU it is bit for bit
the uninterrupted run (tests/train/test_loop.py); on CUDA it is not: cuDNN picks its
convolution algorithms by timing (`train.cudnn_benchmark`) and several GPU kernels accumulate
with atomics, so the numbers agree only to rounding.

RNG states are kept on the CPU (torch's setters accept only a CPU byte tensor, whatever
`map_location` the checkpoint was loaded with), and only the current CUDA device's state is
saved, so a checkpoint resumes with any number of visible GPUs."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from contrastlens.runfolder import atomic_write


def save_checkpoint(state: dict, path: str | os.PathLike) -> None:
    """torch.save `state` to `path` atomically: a kill or a full disk leaves the previous
    checkpoint in place (see `runfolder.atomic_write`)."""
    atomic_write(path, lambda f: torch.save(state, f), binary=True)


def load_checkpoint(path: str | os.PathLike, map_location=None) -> dict:
    """The checkpoint at `path`; a truncated or corrupt file raises ValueError naming it."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError:
        raise
    except Exception as err:  # torch's zip reader, pickle, EOF: all mean a damaged file
        raise ValueError(
            f"{path} is truncated or corrupt and cannot be loaded ({type(err).__name__}). "
            "Fix: restore it from a copy, or train the run again in a new folder (checkpoints "
            "are replaced atomically, so this file was damaged after it was written)."
        ) from None
    if not isinstance(state, dict) or "encoder" not in state or "step" not in state:
        raise ValueError(f"{path} is not a contrastlens checkpoint (no encoder/step entries)")
    return state


def rng_state() -> dict:
    """torch (CPU, and the current CUDA device's), numpy and python random states; the torch
    states are CPU byte tensors."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()  # this process's device (set_device)
    return state


def set_rng_state(state: dict) -> None:
    """Restore `rng_state()`'s states, also from a checkpoint loaded onto a GPU (its tensors
    are brought back to the CPU) and from older checkpoints that saved every visible GPU's
    state as a list (the current device's entry is used, when there is one)."""
    torch.set_rng_state(_cpu_bytes(state["torch"]))
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    cuda = state.get("cuda")
    if cuda is None or not torch.cuda.is_available():
        return
    if isinstance(cuda, (list, tuple)):  # before: torch.cuda.get_rng_state_all()
        index = torch.cuda.current_device()
        if index >= len(cuda):
            return  # saved with fewer GPUs visible: this device's stream starts afresh
        cuda = cuda[index]
    torch.cuda.set_rng_state(_cpu_bytes(cuda))


def _cpu_bytes(t) -> torch.Tensor:
    return t.to(device="cpu", dtype=torch.uint8)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
