"""The resumable sweep runner: a grid of training runs, one folder each.

A `Sweep` is a base preset, fixed overrides and a grid of dotted config keys to lists of values.
`expand` turns it into `RunSpec`s (the Cartesian product, in grid order); `run_sweep` trains each
in its own subprocess (`python -m contrastlens train`) so that a crash, an out-of-memory kill or
a NaN in one run cannot take the others down, and so that each run is exactly what a user gets
from the CLI.

Sweep folder layout (read by `contrastlens report`):

    DIR/sweep.json            the sweep definition and the command that started it
    DIR/runs/<run_id>/        one run folder (see contrastlens.train.run_dir), plus
        sweep_run.json        the run's grid values and its train command line
        error.json            only for a failed run: return code and the tail of its log
        train.log             the run's stdout/stderr

A run whose folder has `final.json` is finished and skipped on the next `run_sweep`; a failed run
is retried (its `error.json` removed) unless `retry_failed=False`.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from contrastlens.errors import ConfigError
from contrastlens.train.checkpoint import write_text_atomic

# Prefixes used in run ids (simclr_bs32_vrn30_t0.2_seed0); other keys use their last component.
SHORT = {
    "method.name": "",
    "train.batch_size": "bs",
    "vrn.weight": "vrn",
    "method.temperature": "t",
    "train.seed": "seed",
}


@dataclass
class Sweep:
    """A grid of runs: `grid` maps dotted config keys to the values to try."""

    name: str
    preset: str
    grid: dict[str, list[Any]]
    overrides: dict[str, Any] = field(default_factory=dict)
    # Grid points to leave out, each a dict of key -> value that must all match (e.g. the
    # full study's priority groups are separate sweeps; this prunes inside one).
    exclude: list[dict[str, Any]] = field(default_factory=list)


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
    """`key=value` strings (as `--set` and `apply_overrides` take them) for a dict."""
    return [f"{k}={_fmt(v) if not isinstance(v, bool) else v}" for k, v in overrides.items()]


def train_command(sweep: Sweep, spec: RunSpec, run_dir: Path) -> list[str]:
    cmd = [sys.executable, "-m", "contrastlens", "train", "--preset", sweep.preset]
    cmd += ["--set", "train.progress=false"]  # the log is a file: no progress bar redraws
    for item in set_strings(spec.overrides):
        cmd += ["--set", item]
    return cmd + ["--set", f"out_dir={run_dir.parent}", "--set", f"name={run_dir.name}"]


def status(run_dir: Path) -> str:
    """'done' (final.json, finished), 'diverged' (final.json says so: a deterministic failure,
    not retried), 'failed' (error.json), 'partial' (started) or 'todo'."""
    if (run_dir / "final.json").is_file():
        try:
            state = json.loads((run_dir / "final.json").read_text()).get("status", "finished")
        except (OSError, json.JSONDecodeError):
            return "partial"
        return "done" if state in ("finished", "stopped") else "diverged"
    if (run_dir / "error.json").is_file():
        return "failed"
    return "partial" if run_dir.is_dir() else "todo"


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(json.dumps(obj, indent=2, default=str) + "\n", path)


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
    write_json_atomic(
        out / "sweep.json",
        {"sweep": asdict(sweep), "runs": [r.run_id for r in runs], "argv": sys.argv},
    )
    results: dict[str, str] = {}
    for i, spec in enumerate(runs, 1):
        run_dir = out / "runs" / spec.run_id
        state = status(run_dir)
        if state in ("done", "diverged") or (state == "failed" and not retry_failed):
            log(f"[{i}/{len(runs)}] {spec.run_id}: {state}, skipped")
            results[spec.run_id] = state
            continue
        (run_dir / "error.json").unlink(missing_ok=True)
        cmd = train_command(sweep, spec, run_dir)
        if (run_dir / "checkpoint.pt").is_file() and (run_dir / "config.json").is_file():
            cmd = [sys.executable, "-m", "contrastlens", "train", "--resume", str(run_dir)]
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(
            run_dir / "sweep_run.json",
            {"run_id": spec.run_id, "values": spec.values, "command": shlex.join(cmd)},
        )
        log(f"[{i}/{len(runs)}] {spec.run_id}: training ...")
        start = time.time()
        with open(run_dir / "train.log", "ab") as fh:
            try:
                proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
        elapsed = time.time() - start
        if code == 0 and status(run_dir) == "done":
            results[spec.run_id] = "done"
            log(f"[{i}/{len(runs)}] {spec.run_id}: done in {elapsed:.0f} s")
            continue
        tail = (run_dir / "train.log").read_text(errors="replace").splitlines()[-25:]
        write_json_atomic(
            run_dir / "error.json",
            {"returncode": code, "seconds": elapsed, "command": shlex.join(cmd), "log_tail": tail},
        )
        results[spec.run_id] = "failed"
        last = next((ln for ln in reversed(tail) if ln.strip()), "")
        log(f"[{i}/{len(runs)}] {spec.run_id}: FAILED ({code}): {last}")
    return results
