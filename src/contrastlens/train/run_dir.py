"""The run folder: everything a training run leaves, self-describing, read by sweeps and reports.

A run folder `<out_dir>/<name>/` holds (written by rank 0 only):

    config.json     the full resolved `Config` (nested dict; `config_from_dict` reloads it).
                    Every leaf has its final value; `vrn.n` may be null = training-set size,
                    the resolved value is in meta.json.
    meta.json       {"seed", "command" (argv), "started" (UTC ISO time), "hostname",
                     "git": {"revision", "dirty"}, "versions": {python, torch, torchvision,
                     numpy, kornia, contrastlens}, "world_size", "device", "amp", "dtype",
                     "train_size", "resolved": {"vrn_n", "vrn_delta", "peak_lr",
                     "steps_per_epoch", "total_steps", "warmup_steps", "within_view"},
                     "resumed": [UTC times of each --resume]}
    metrics.jsonl   one JSON object per logged step (every `train.log_every` steps and the last
                    step of each epoch): {"step" (1-based count of optimizer steps done),
                    "epoch" (0-based), "loss", "<method>" (e.g. "simclr", the method term),
                    "vrn" (the unweighted VRN term, when vrn.weight > 0), "pos_mean",
                    "neg_mean", "neg_var" (cross-view cosine similarities of the projector
                    outputs in this global batch; negatives = different instance ids),
                    "excess" (neg_mean + 1/(n-1), n = training-set size; < 0 = excessive
                    separation, Thm 5.2), "lr", "img_per_s" (training instances per second,
                    each instance = 2 views, since the previous line), "time_s" (training
                    seconds since the start, probes excluded)}. On --resume the lines after
                    the checkpoint's step are dropped, so the file equals an uninterrupted run.
    curve.jsonl     optional (eval.curve_epochs): {"epoch", "step", "train_s", "knn_top1",
                    "linear_top1", "linear_top5"} probes taken during training.
    checkpoint.pt   the latest checkpoint (every `train.checkpoint_every` epochs, atomic:
                    temp file + os.replace): model, key encoder + queue (MoCo), objective
                    (SigLIP t, b), optimizer, RNG states, {"epoch", "step"} position.
    final.json      written when the run ends: {"status": "finished" | "diverged" |
                    "stopped" (max_steps or max_minutes before the schedule's end),
                    "message", "epochs_done", "steps", "train_time_s",
                    "img_per_s", "last_loss", "eval": {...}}; "eval" (also eval.json, written
                    by `contrastlens eval RUN_DIR`) holds {"linear_top1", "linear_top5",
                    "knn_top1", "linear_epochs", "knn_k", "knn_temperature", "table1":
                    {"pairs", "pos_mean", "neg_mean", "neg_var", "excess"} (the paper's
                    Table 1 measurement: projector outputs of `eval.table1_pairs` augmented
                    training pairs), "full": {SimilarityMoments of one augmented pair of every
                    training image: "n", "pos_mean", "pos_var", "neg_mean", "neg_var",
                    "within_mean", "within_var", "optimum", "excess"}, "eval_time_s"}.
                    Accuracies are fractions in [0, 1]. No final.json = running or killed.
    tb/             TensorBoard events (train.tensorboard=true and tensorboard installed).

`read_run(path)` returns these as a dict, for sweep runners and reports.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

from contrastlens.train.checkpoint import write_text_atomic

CONFIG, META, METRICS, CURVE, CHECKPOINT, FINAL, EVAL = (
    "config.json", "meta.json", "metrics.jsonl", "curve.jsonl", "checkpoint.pt", "final.json",
    "eval.json",
)  # fmt: skip


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def git_revision() -> dict:
    """{"revision", "dirty"} of the checkout holding this package (None outside git)."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10).stdout.strip() or None  # fmt: skip
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                    cwd=here, capture_output=True, text=True,
                                    timeout=10).stdout.strip())  # fmt: skip
        return {"revision": rev, "dirty": dirty if rev else None}
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None}


def versions() -> dict:
    import numpy
    import torch
    import torchvision

    import contrastlens

    out = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "contrastlens": contrastlens.__version__,
    }
    try:
        import kornia

        out["kornia"] = kornia.__version__
    except ImportError:
        out["kornia"] = None
    return out


def base_meta(seed: int) -> dict:
    return {
        "seed": seed,
        "command": sys.argv,
        "started": utc_now(),
        "hostname": socket.gethostname(),
        "git": git_revision(),
        "versions": versions(),
        "resumed": [],
    }


def write_json(obj: dict, path: str | os.PathLike) -> None:
    write_text_atomic(json.dumps(obj, indent=2, sort_keys=False) + "\n", path)


def read_json(path: str | os.PathLike) -> dict:
    with open(path) as f:
        return json.load(f)


def append_jsonl(obj: dict, path: str | os.PathLike) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")
        f.flush()


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a torn last line after a kill
                break
    return out


def truncate_jsonl(path: str | os.PathLike, max_step: int) -> None:
    """Keep only complete lines with "step" <= max_step (resume after a kill)."""
    path = Path(path)
    if not path.exists():
        return
    keep = [r for r in read_jsonl(path) if r.get("step", 0) <= max_step]
    write_text_atomic("".join(json.dumps(r) + "\n" for r in keep), path)


def read_run(path: str | os.PathLike) -> dict:
    """Everything in a run folder: {"path", "config", "meta", "metrics", "curve", "final",
    "eval"} (missing files give None / [])."""
    path = Path(path)

    def opt(name: str):
        return read_json(path / name) if (path / name).exists() else None

    return {
        "path": str(path),
        "config": opt(CONFIG),
        "meta": opt(META),
        "metrics": read_jsonl(path / METRICS),
        "curve": read_jsonl(path / CURVE),
        "final": opt(FINAL),
        "eval": opt(EVAL),
    }
