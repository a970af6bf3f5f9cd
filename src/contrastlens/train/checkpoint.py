"""Atomic checkpoints and the random-number state needed to resume bit for bit.

`save_atomic` writes to a temporary file in the same folder, flushes and fsyncs it, then
`os.replace`s it over the target: a reader (or a resumed run after SIGKILL) sees either the
previous complete checkpoint or the new complete one, never a half-written file.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch


def _temp_beside(path: Path) -> tuple[int, str]:
    """A temporary file next to `path`, with the permissions a plain `open` would give it
    (mkstemp makes it 0600, which would leave every result readable by its owner only)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def _replace_atomic(path: str | os.PathLike, mode: str, write) -> None:
    path = Path(path)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_atomic(obj, path: str | os.PathLike) -> None:
    """torch.save `obj` to `path` atomically (temp file + fsync + os.replace)."""
    _replace_atomic(path, "wb", lambda f: torch.save(obj, f))


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    """Write `text` to `path` atomically (temp file + fsync + os.replace)."""
    _replace_atomic(path, "w", lambda f: f.write(text))


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
