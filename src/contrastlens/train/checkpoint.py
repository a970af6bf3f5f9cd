"""Checkpoints (written atomically, read with a clear error) and the random-number state needed
to resume bit for bit."""

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
    """torch (CPU and CUDA), numpy and python random states."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
