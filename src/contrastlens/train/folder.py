"""`RunFolder`: what the training loop does to its run folder (format: contrastlens.runfolder).

    folder = RunFolder(path, is_main=rank == 0)
    folder.create(config_dict, meta)  or  ckpt = folder.resume(device)
    folder.log(row)                   # metrics.jsonl (+ TensorBoard, + the progress bar)
    folder.save_checkpoint(state)     # atomic
    folder.finish(final)              # final.json

Only rank 0 writes (`is_main`); on the other processes every method but `resume` does nothing.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import time
from pathlib import Path

from contrastlens import runfolder as rf
from contrastlens.train.checkpoint import load_checkpoint, save_checkpoint


def versions() -> dict:
    import numpy
    import torch
    import torchvision

    import contrastlens

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "contrastlens": contrastlens.__version__,
    }


def base_meta(seed: int) -> dict:
    """Provenance of a new run: seed, command, start time, host, git revision, versions."""
    return {
        "seed": seed,
        "command": rf.portable_argv(sys.argv),
        "started": rf.utc_now(),
        "hostname": socket.gethostname(),
        "git": rf.git_revision(),
        "versions": versions(),
        "resumed": [],
    }


class RunFolder:
    """A run folder as the training loop writes it."""

    def __init__(self, path: str | os.PathLike, *, is_main: bool = True) -> None:
        self.path = Path(path)
        self.is_main = is_main
        self.checkpoint_path = self.path / rf.CHECKPOINT
        self._writer = None
        self._progress = None

    def _file(self, name: str) -> Path:
        return self.path / name

    def check_new(self) -> None:
        if self.checkpoint_path.exists():
            raise ValueError(f"{self.path} already holds a run; pass --resume or another name")

    def create(self, config: dict, meta: dict) -> None:
        """A new run: config.json, meta.json and an empty metrics.jsonl."""
        self.check_new()
        if not self.is_main:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        rf.remove_stale_temps(self.path)  # a new run in a folder whose first start was killed
        rf.write_json(config, self._file(rf.CONFIG))
        rf.write_json(meta, self._file(rf.META))
        rf.write_text("", self._file(rf.METRICS))

    def resume(self, map_location) -> dict:
        """Load the checkpoint; rank 0 also drops metrics after its step, records the resume
        in meta.json, and removes final.json and temporary files of writes cut short."""
        if not self.checkpoint_path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {self.checkpoint_path}")
        ckpt = load_checkpoint(self.checkpoint_path, map_location)
        if self.is_main:
            rf.truncate_jsonl(self._file(rf.METRICS), ckpt["step"])
            rf.truncate_jsonl(self._file(rf.CURVE), ckpt["step"])
            meta = rf.read_json(self._file(rf.META))
            meta["resumed"].append(rf.utc_now())
            rf.write_json(meta, self._file(rf.META))
            self._file(rf.FINAL).unlink(missing_ok=True)
            rf.remove_stale_temps(self.path)
        return ckpt

    def amend(self, config: dict, changes: dict) -> None:
        """Settings changed on --resume (e.g. a lower optim.base_lr after a divergence): the
        new config.json, and {"at", "changes": {key: [old, new]}} appended to meta.json's
        "amended", so that the folder says what the rest of the run used."""
        if not self.is_main or not changes:
            return
        meta = rf.read_json(self._file(rf.META))
        meta.setdefault("amended", []).append({"at": rf.utc_now(), "changes": changes})
        rf.write_json(config, self._file(rf.CONFIG))
        rf.write_json(meta, self._file(rf.META))

    def open_logs(self, *, tensorboard: bool, progress: bool, total: int, initial: int) -> None:
        """TensorBoard (when installed) and a tqdm progress bar, both optional."""
        if not self.is_main:
            return
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(self._file("tb")))
            except ImportError:
                print("train.tensorboard: tensorboard is not installed; metrics.jsonl only")
        if progress:
            from tqdm import tqdm

            self._progress = tqdm(
                total=total, initial=initial, unit="step", dynamic_ncols=True, desc=self.path.name
            )

    def tick(self) -> None:
        """One optimizer step done (the progress bar)."""
        if self._progress is not None:
            self._progress.update(1)

    def log(self, row: dict, *, minutes_left: float | None = None) -> None:
        """Append a metrics row (see runfolder.py for its keys)."""
        if not self.is_main:
            return
        rf.append_jsonl(row, self._file(rf.METRICS))
        if self._writer is not None:
            for k, v in row.items():
                if k not in ("step", "epoch"):
                    self._writer.add_scalar(f"train/{k}", v, row["step"])
        if self._progress is not None:
            post = {"loss": f"{row['loss']:.3f}", "img_s": f"{row['img_per_s']:.0f}"}
            if minutes_left is not None:  # the step ETA is an upper bound then
                post["left"] = f"{minutes_left:.1f}min"
            self._progress.set_postfix(post, refresh=False)

    def log_curve(self, point: dict) -> None:
        if self.is_main:
            rf.append_jsonl(point, self._file(rf.CURVE))

    def save_checkpoint(self, state: dict) -> None:
        if self.is_main:
            save_checkpoint(state, self.checkpoint_path)

    def write_eval(self, result: dict) -> None:
        if self.is_main:
            rf.write_json(result, self._file(rf.EVAL))

    def finish(self, final: dict) -> dict:
        """Close the logs and write final.json; returns `final`."""
        if self._progress is not None:
            self._progress.close()
            self._progress = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.is_main:
            rf.write_json(final, self._file(rf.FINAL))
        return final


def lock_run_folder(path: str | os.PathLike):
    """An exclusive, non-blocking lock on the run folder itself (flock on the directory, no
    lock file left behind), held until the returned file descriptor is closed or the process
    ends: a second trainer on the same folder (a rerun sweep while an orphaned run still
    trains, a double --resume) refuses instead of writing the same files."""
    import fcntl

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ValueError(
            f"{path} is in use by another training process; wait for it to end (or stop it), "
            "then run this command again"
        ) from None
    return fd


def new_run_path(out_dir: str, name: str | None, fallback: str) -> Path:
    """out_dir/name, or out_dir/<fallback>-<timestamp> when no name is given."""
    return Path(out_dir) / (name or f"{fallback}-{time.strftime('%Y%m%d-%H%M%S')}")
