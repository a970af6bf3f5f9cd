"""The run-folder format: file names, how a run's status is read, one atomic writer.

Standard library only, so that the trainer, the sweep runner, the study runner and the report
(which must not import the trainer) all read and write run folders through this one module.

A run folder `<out_dir>/<name>/` holds (written by rank 0 only):

    config.json     the full resolved `Config` (nested dict; `config_from_dict` reloads it).
                    `vrn.n` may be null = training-set size; the resolved value is in meta.json.
    meta.json       {"seed", "command" (argv), "started" (UTC ISO time), "hostname",
                     "git": {"revision", "dirty"}, "versions": {python, torch, torchvision,
                     numpy, contrastlens}, "world_size", "device", "dtype", "precision":
                     {"amp", "channels_last", "tf32"}, "cuda": {"name", "capability",
                     "memory_gib", "cudnn_benchmark"} (null off CUDA), "train_size",
                     "resolved": {"vrn_n", "vrn_delta", "vrn_weight", "peak_lr",
                     "steps_per_epoch", "total_steps", "warmup_steps", "within_view", "stem"
                     (the ResNet stem in use, null for other backbones), "workers" (an image
                     folder's DataLoader workers, else null)}, "resumed": [UTC
                     times of each --resume],
                     "amended": [{"at", "changes": {key: [old, new]}}: settings changed on
                     --resume (optim.*, train.max_steps, ...; train/resume.py RESUME_SETTABLE),
                     present only when some were]}
    metrics.jsonl   one JSON object per logged step (every `train.log_every` steps and the last
                    step of each epoch): {"step" (1-based count of optimizer steps done),
                    "epoch" (0-based), "loss", "<method>" (the method term, e.g. "simclr"),
                    "vrn" / "gor" (the unweighted regularizer terms, when on), "pos_mean",
                    "neg_mean", "neg_var" (cross-view cosine similarities of the projector
                    outputs in this global batch; negatives = different instance ids),
                    "excess" (neg_mean + 1/(n-1), n = training-set size; < 0 = excessive
                    separation, Thm 5.2), "lr", "img_per_s" (training instances per second,
                    each instance = 2 views, since the previous line), "time_s" (training
                    seconds since the start, probes excluded)}. On --resume the lines after
                    the checkpoint's step and a torn last line are dropped, so the file equals
                    an uninterrupted run (bit for bit on the CPU; on CUDA to rounding,
                    train/checkpoint.py); a line damaged in the middle stops the resume with
                    its line number (`read_jsonl`) instead of dropping the lines after it.
    curve.jsonl     optional (eval.curve_epochs): {"epoch", "step", "train_s", "knn_top1",
                    "linear_top1", "linear_top5", "linear_epochs"} probes during training; truncated
                    to the checkpoint's step on --resume like metrics.jsonl.
    checkpoint.pt   the latest checkpoint (every `train.checkpoint_every` epochs, atomic):
                    "encoder", "objective" (SigLIP's t, b), "optimizer", "moco" (key encoder
                    and queue, MoCo only), "rng", "epoch", "step", "train_time_s", "memory",
                    "config".
    final.json      written when the run ends: {"status" (see `STATUSES`), "message",
                    "epochs_done", "steps", "train_time_s", "img_per_s", "last_loss",
                    "memory": training's peak memory, probes left out (`contrastlens.memory`:
                    {"rss_before_mb", "peak_rss_mb", "cuda_peak_mb", "scope"}),
                    "eval": the eval dict or null}.
    eval.json       the end-of-run evaluation (also written by `contrastlens eval RUN_DIR`):
                    {"linear_top1", "linear_top5", "knn_top1", "knn_top1_k10",
                    "linear_epochs", "knn_k", "knn_temperature", "feature_dim", "probe_split",
                    "probe_fit_split" (the split the probes fit: the training split, or its
                    labeled part, e.g. STL-10 "train" for "train+unlabeled"),
                    "table1": {"pairs", "pos_mean", "neg_mean", "neg_var", "excess",
                    "neg_hist"}, "full": {SimilarityMoments of one augmented pair of every
                    training image: "n", "pos_mean", "pos_var", "neg_mean", "neg_var",
                    "within_mean", "within_var", "optimum", "excess", "by_label": the same
                    negatives split by class label, {"labels" (number of classes), "same":
                    {"count", "mean", "var", "share"} over the pairs of one class (false
                    negatives to the loss), "different": {...} the rest; mean and var null for
                    no pairs, the two shares add up to 1}}, "eval_time_s",
                    "correct": {"linear", "knn"}: one character per scored image, in the
                    split's order, "1" where that probe's top-1 class is right, else "0"
                    (`encode_flags`; the kNN at knn_k), "evaluated": {"at", "git"} when
                    `contrastlens eval` wrote it after the run}.
                    Accuracies are fractions in [0, 1].
    tb/             TensorBoard events (train.tensorboard=true and tensorboard installed).

A sweep adds, per run: sweep_run.json (grid values and command), train.log, and error.json for
a failed attempt (return code and the tail of the log).

Status, one meaning everywhere (`run_status`):
    finished   final.json: the schedule ran to its end (or to its time budget when the cosine
               follows the clock).
    stopped    final.json: ended early on purpose by `train.max_steps` or `train.max_minutes`.
               A complete result of the run that was asked for: sweeps skip it, reports list
               it with its status.
    diverged   final.json: the loss became NaN/Inf. Deterministic: sweeps do not retry it.
    failed     no final.json, error.json: the process crashed or was killed by the runner.
    partial    started (the folder exists), no final.json: running, or killed.
    todo       no folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIG = "config.json"
META = "meta.json"
METRICS = "metrics.jsonl"
CURVE = "curve.jsonl"
CHECKPOINT = "checkpoint.pt"
FINAL = "final.json"
EVAL = "eval.json"
SWEEP_RUN = "sweep_run.json"
ERROR = "error.json"
LOG = "train.log"
SWEEP = "sweep.json"
STUDY = "study.json"

COMPLETE = ("finished", "stopped")  # a result to keep, report and never retrain
STATUSES = (*COMPLETE, "diverged", "failed", "partial", "todo")


# --------------------------------------------------------------------------- atomic writes


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], *, binary: bool) -> None:
    """Call `write(fileobj)` on a temporary file beside `path`, flush, fsync, then `os.replace`
    it over `path` (and fsync the folder): a reader, or a run resumed after SIGKILL or a full
    disk, sees the previous complete file or the new complete one, never a torn one. The
    temporary file is removed if anything fails; an OSError (disk full, read-only, permission)
    names `path` (a failed write names no file of its own). Permissions are what a plain `open`
    gives."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise named(err, path) from None
    umask = os.umask(0)
    os.umask(umask)
    proxy = None
    try:
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes it 0600
        with os.fdopen(fd, "wb" if binary else "w") as f:
            proxy = _WriteErrors(f)
            write(proxy)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if not isinstance(err, OSError) and proxy is not None and proxy.error is not None:
            err = proxy.error  # torch.save turns a full disk into "unexpected pos" RuntimeError
        if isinstance(err, OSError):
            raise named(err, path) from None
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


class _WriteErrors:
    """A file object that remembers the OSError its `write` raised: writers that wrap the
    error in their own (torch.save: RuntimeError "unexpected pos ...") still report a full
    disk as one."""

    def __init__(self, f) -> None:
        self._f, self.error = f, None

    def write(self, data):
        try:
            return self._f.write(data)
        except OSError as err:
            self.error = err
            raise

    def __getattr__(self, name: str):
        return getattr(self._f, name)


def named(err: OSError, path: str | os.PathLike) -> OSError:
    """`err` naming `path` when it names no file or only a temporary one (ENOSPC from a write
    names none), so the message says which file could not be written."""
    if err.filename is None or str(err.filename).endswith(".tmp"):
        err.filename = str(path)
    return err


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write `text` to `path` atomically."""
    atomic_write(path, lambda f: f.write(text), binary=False)


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write `obj` as indented JSON to `path` atomically, creating the parent folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text(json.dumps(obj, indent=2, default=str) + "\n", path)


def remove_stale_temps(folder: str | os.PathLike) -> None:
    """Delete temporary files of writes cut short by a kill (never renamed into place)."""
    for stale in Path(folder).glob(".*.tmp"):
        stale.unlink(missing_ok=True)


# --------------------------------------------------------------------------- reading


def read_json(path: str | os.PathLike) -> Any:
    """The JSON in `path`; a torn, invalid or binary file raises ValueError naming the file
    (a missing or unreadable one raises the OSError, which names it too)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path} is not valid JSON ({err}); it is damaged. Fix: restore it, or delete the "
            "run folder and train it again."
        ) from None


def try_read_json(path: str | os.PathLike) -> dict:
    """The JSON object in `path`, or {} when it is missing or unreadable (reports, status)."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def append_jsonl(obj: dict, path: str | os.PathLike) -> None:
    """Append one line. A kill or a full disk can leave a torn last line: readers drop it and
    `truncate_jsonl` (on --resume) removes it."""
    try:
        with open(path, "a") as f:
            f.write(json.dumps(obj) + "\n")
            f.flush()
    except OSError as err:
        raise named(err, path) from None


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """The complete lines of a JSON-lines file ([] when missing). A torn LAST line (a kill or
    a full disk in the middle of an append) is dropped; an invalid line with valid lines after
    it is damage, not a torn write, and raises ValueError naming the file and the line (so
    that `truncate_jsonl` never silently drops the rows after it)."""
    path = Path(path)
    if not path.exists():
        return []
    text = path.read_text(errors="replace")
    lines = [(i, line.strip()) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    out = []
    for k, (i, line) in enumerate(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict):
            if k == len(lines) - 1:
                break  # a torn last line
            raise ValueError(
                f"{path} line {i} is not a JSON object but more lines follow: the file is "
                f"damaged in the middle. Fix: delete line {i} (or restore the file); the other "
                "lines are kept as they are."
            )
        out.append(row)
    return out


def truncate_jsonl(path: str | os.PathLike, max_step: int) -> None:
    """Keep only complete lines with "step" <= max_step (resume after a kill); a file damaged
    in the middle raises (see `read_jsonl`) and is left as it is."""
    path = Path(path)
    if path.exists():
        keep = [r for r in read_jsonl(path) if r.get("step", 0) <= max_step]
        write_text("".join(json.dumps(r) + "\n" for r in keep), path)


def run_status(folder: str | os.PathLike) -> str:
    """One of `STATUSES` (see the module docstring)."""
    folder = Path(folder)
    if (folder / FINAL).is_file():
        status = try_read_json(folder / FINAL).get("status")
        return status if status in ("finished", "stopped", "diverged") else "partial"
    if (folder / ERROR).is_file():
        return "failed"
    return "partial" if folder.is_dir() else "todo"


def read_run(path: str | os.PathLike) -> dict:
    """Everything in a run folder: {"path", "status", "config", "meta", "metrics", "curve",
    "final", "eval"} (missing files give None / [])."""
    path = Path(path)

    def opt(name: str):
        return read_json(path / name) if (path / name).exists() else None

    return {
        "path": str(path),
        "status": run_status(path),
        "config": opt(CONFIG),
        "meta": opt(META),
        "metrics": read_jsonl(path / METRICS),
        "curve": read_jsonl(path / CURVE),
        "final": opt(FINAL),
        "eval": opt(EVAL),
    }


# --------------------------------------------------------------------------- per-image flags


def encode_flags(flags) -> str:
    """Booleans (e.g. whether a probe got each test image right) as a string of "0"/"1"."""
    return "".join("1" if f else "0" for f in flags)


def decode_flags(text: str) -> list[bool]:
    """The inverse of `encode_flags`; a ValueError names any other character."""
    bad = set(text) - {"0", "1"}
    if bad:
        raise ValueError(f"per-image flags must be '0'/'1' characters, found {sorted(bad)}")
    return [c == "1" for c in text]


RANK_K = 10  # a text run's eval.json "ranks": each query's rank 1..RANK_K, 0 when lower


def scores_from_ranks(ranks: list[int]) -> dict[str, list[float]]:
    """Per-query scores from a text run's saved ranks: reciprocal rank at RANK_K ("mrr@10") and
    hit at 1 ("recall@1"); their means are the run's MRR@10 and Recall@1 (one relevant
    document per query)."""
    if any(not isinstance(r, int) or not 0 <= r <= RANK_K for r in ranks):
        raise ValueError(f"per-query ranks must be integers in [0, {RANK_K}]")
    return {
        "mrr@10": [1.0 / r if r else 0.0 for r in ranks],
        "recall@1": [1.0 if r == 1 else 0.0 for r in ranks],
    }


# --------------------------------------------------------------------------- provenance


def portable(arg: str) -> str:
    """`arg` as a committed file may hold it: a path inside the working directory relative to
    it, the Python interpreter as "python", the package's __main__ as "contrastlens"; other
    text unchanged. Run folders and study records hold no absolute path of the machine."""
    import sys

    if arg == sys.executable:
        return "python"
    path = Path(arg)
    if not path.is_absolute():
        return arg
    if path.name == "__main__.py" and path.parent.name == "contrastlens":
        return "contrastlens"
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return arg


def portable_argv(argv: list[str]) -> list[str]:
    """A command line with `portable` arguments (also the value of `--flag=/abs/path` and of
    `key=/abs/path` settings)."""
    out = []
    for a in argv:
        head, sep, tail = a.rpartition("=")
        out.append(head + sep + portable(tail) if sep and tail.startswith("/") else portable(a))
    return out


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def git_revision(where: str | os.PathLike | None = None) -> dict:
    """{"revision", "dirty"} of the checkout holding `where` (default: this package); dirty =
    uncommitted changes or new files that are not ignored, outside `results/`, `runs/` and
    `benchmarks/results/` (the folders studies and benchmarks write into). None outside git."""
    here = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        rev = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or None
        )
        changed = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--",
                ":(top)",
                ":(top,exclude)results",
                ":(top,exclude)runs",
                ":(top,exclude)benchmarks/results",
            ],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return {"revision": rev, "dirty": bool(changed) if rev else None}
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None}
