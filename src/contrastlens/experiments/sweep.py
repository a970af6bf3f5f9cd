"""The resumable sweep runner: a grid of training runs, one folder each.

A `Sweep` is a base preset, fixed overrides and a grid of dotted config keys to lists of values.
`expand` turns it into `RunSpec`s (the Cartesian product, in grid order); `run_sweep` trains each
in its own subprocess (`python -m contrastlens train`, or `train-text`) so that a crash, an
out-of-memory kill or a NaN in one run cannot take the others down, and so that each run is
exactly what a user gets from the CLI.

Sweep folder layout (read by `contrastlens report`):

    DIR/sweep.json            the sweep definition and the command that started it
    DIR/runs/<run_id>/        one run folder (see contrastlens.runfolder), plus
        sweep_run.json        the run's grid values and its train command line
        error.json            only for a failed run: return code and the tail of its log
        train.log             the run's stdout/stderr

A run whose status is complete (finished, or stopped by a limit it was given) or diverged is
skipped on the next `run_sweep`; a failed or partial run is retried (resumed from its
checkpoint when it has one; `error.json` removed) unless `retry_failed=False`. A sweep holds an
exclusive lock on DIR (`.sweep.lock`) while it runs: a second sweep on the same folder refuses
with a message instead of training the same runs twice.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contrastlens import runfolder as rf
from contrastlens.errors import ConfigError

# Prefixes used in run ids (simclr_bs32_vrn30_t0.2_seed0); other keys use their last component.
SHORT = {
    "method.name": "",
    "train.batch_size": "bs",
    "vrn.weight": "vrn",
    "method.temperature": "t",
    "train.seed": "seed",
    # text runs (contrastlens.text.text_config: flat keys)
    "arm": "",
    "batch_size": "bs",
    "vrn_weight": "vrn",
    "gor_weight": "gor",
    "seed": "seed",
}


@dataclass
class Sweep:
    """A grid of runs: `grid` maps config keys to the values to try. `command` is the CLI
    subcommand that trains one run: `train` (images; dotted keys of `train.config.Config`) or
    `train-text` (flat keys of `text.text_config.TextConfig`); `preset` is one of its presets."""

    name: str
    preset: str
    grid: dict[str, list[Any]]
    overrides: dict[str, Any] = field(default_factory=dict)
    # Grid points to leave out, each a dict of key -> value that must all match (e.g. the
    # full study's priority groups are separate sweeps; this prunes inside one).
    exclude: list[dict[str, Any]] = field(default_factory=list)
    command: str = "train"


@dataclass
class RunSpec:
    run_id: str
    values: dict[str, Any]  # grid values of this run
    overrides: dict[str, Any]  # everything passed with --set (fixed overrides + grid values)


def _fmt(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def run_id(values: dict[str, Any]) -> str:
    parts = [f"{SHORT.get(k, k.rsplit('.', 1)[-1] + '-')}{_fmt(v)}" for k, v in values.items()]
    return "_".join(p.replace("/", "-") for p in parts)


def expand(sweep: Sweep) -> list[RunSpec]:
    """The grid's runs in order (the last key varies fastest)."""
    for key, values in sweep.grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep grid key {key!r} needs a non-empty list of values")
    keys = list(sweep.grid)
    runs = []
    for combo in itertools.product(*(sweep.grid[k] for k in keys)):
        values = dict(zip(keys, combo))
        if any(all(values.get(k) == v for k, v in ex.items()) for ex in sweep.exclude):
            continue
        runs.append(RunSpec(run_id(values), values, {**sweep.overrides, **values}))
    return runs


def set_strings(overrides: dict[str, Any]) -> list[str]:
    """`key=value` strings (as `--set` and `apply_overrides` take them) for a dict. Floats are
    written in full (repr), so a run trains exactly the value of the grid; run ids keep the
    short form (`_fmt`)."""
    return [f"{k}={repr(v) if isinstance(v, float) else v}" for k, v in overrides.items()]


def train_command(sweep: Sweep, spec: RunSpec, run_dir: Path) -> list[str]:
    cmd = [sys.executable, "-m", "contrastlens", sweep.command, "--preset", sweep.preset]
    if sweep.command == "train":
        cmd += ["--set", "train.progress=false"]  # the log is a file: no progress bar redraws
    for item in set_strings(spec.overrides):
        cmd += ["--set", item]
    out_dir = rf.portable(str(run_dir.parent))  # config.json records no absolute path inside
    return cmd + ["--set", f"out_dir={out_dir}", "--set", f"name={run_dir.name}"]


def _lock(out: Path):
    """An exclusive, non-blocking lock on out/.sweep.lock, released when the process ends."""
    out.mkdir(parents=True, exist_ok=True)
    fh = open(out / ".sweep.lock", "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise ValueError(
            f"{out} is in use by another sweep (lock {out / '.sweep.lock'}); wait for it to end, "
            "or run this sweep into another folder"
        ) from None
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def run_sweep(
    sweep: Sweep,
    out_dir: str | os.PathLike,
    *,
    retry_failed: bool = True,
    timeout_s: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """Train every run of `sweep` under `out_dir/runs/`, skipping finished ones.

    Returns {run_id: final status}. A failing run is recorded in its `error.json` and the sweep
    goes on. Interrupting (Ctrl-C, SIGKILL) loses at most the run in progress, which resumes
    from its last checkpoint (`--resume`) next time.
    """
    out = Path(out_dir)
    runs = expand(sweep)
    lock = _lock(out)
    try:
        return _run(sweep, out, runs, retry_failed, timeout_s, log)
    finally:
        lock.close()


def _run(sweep, out, runs, retry_failed, timeout_s, log) -> dict[str, str]:
    rf.write_json(
        {
            "sweep": asdict(sweep),
            "runs": [r.run_id for r in runs],
            "argv": rf.portable_argv(sys.argv),
        },
        out / rf.SWEEP,
    )
    results: dict[str, str] = {}
    for i, spec in enumerate(runs, 1):
        run_dir = out / "runs" / spec.run_id
        state = rf.run_status(run_dir)
        if state in (*rf.COMPLETE, "diverged") or (state == "failed" and not retry_failed):
            log(f"[{i}/{len(runs)}] {spec.run_id}: {state}, skipped")
            results[spec.run_id] = state
            continue
        (run_dir / rf.ERROR).unlink(missing_ok=True)
        cmd = train_command(sweep, spec, run_dir)
        if (run_dir / rf.CHECKPOINT).is_file() and (run_dir / rf.CONFIG).is_file():
            cmd = [sys.executable, "-m", "contrastlens", "train", "--resume", str(run_dir)]
        run_dir.mkdir(parents=True, exist_ok=True)
        rf.write_json(
            {
                "run_id": spec.run_id,
                "values": spec.values,
                "command": shlex.join(rf.portable_argv(cmd)),
            },
            run_dir / rf.SWEEP_RUN,
        )
        log(f"[{i}/{len(runs)}] {spec.run_id}: training ...")
        start = time.time()
        with open(run_dir / rf.LOG, "ab") as fh:
            try:
                proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
        elapsed = time.time() - start
        state = rf.run_status(run_dir)
        if (code == 0 and state in rf.COMPLETE) or state == "diverged":
            results[spec.run_id] = state
            log(f"[{i}/{len(runs)}] {spec.run_id}: {state} in {elapsed:.0f} s")
            continue
        tail = (run_dir / rf.LOG).read_text(errors="replace").splitlines()[-25:]
        rf.write_json(
            {
                "returncode": code,
                "seconds": elapsed,
                "command": shlex.join(rf.portable_argv(cmd)),
                "log_tail": tail,
            },
            run_dir / rf.ERROR,
        )
        results[spec.run_id] = "failed"
        last = next((ln for ln in reversed(tail) if ln.strip()), "")
        log(f"[{i}/{len(runs)}] {spec.run_id}: FAILED ({code}): {last}")
    return results
