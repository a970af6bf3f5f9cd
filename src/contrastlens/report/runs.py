"""Reading run folders into flat records: the report's only input.

A run folder is what `contrastlens train` writes (format and status rules:
`contrastlens.runfolder`, standard library only): `config.json` and, once ended, `final.json`; a
sweep adds `sweep_run.json` and, for a failed run, `error.json`. This module never imports the
trainer: it reads JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contrastlens import runfolder as rf


def dig(d: Any, path: str, default: Any = None) -> Any:
    """`d["a"]["b"]` for path "a.b"; `default` when any step is missing."""
    for part in path.split("."):
        if not isinstance(d, dict) or part not in d:
            return default
        d = d[part]
    return d


@dataclass
class Run:
    """One run folder, flattened to what the report groups and averages."""

    path: Path
    status: str  # one of runfolder.STATUSES
    config: dict
    final: dict = field(default_factory=dict)
    error: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    curve: list[dict] = field(default_factory=list)  # curve.jsonl: probes during training

    @property
    def complete(self) -> bool:
        """Finished, or stopped by a limit it was given: a result to report."""
        return self.status in rf.COMPLETE

    @property
    def failed(self) -> bool:
        return self.status in ("failed", "diverged")

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def method(self) -> str:
        return dig(self.config, "method.name", "?")

    @property
    def batch_size(self) -> int:
        return int(dig(self.config, "train.batch_size", 0))

    @property
    def micro_batch(self) -> int:
        """The chunk size of `train.micro_batch` (0 = the batch in one piece)."""
        return int(dig(self.config, "train.micro_batch", 0) or 0)

    @property
    def processes(self) -> int:
        return max(1, int(self.meta.get("world_size") or 1))

    @property
    def process_batch(self) -> int:
        """Each process's share of the batch (train.batch_size / the number of processes)."""
        return self.batch_size // self.processes

    @property
    def cached(self) -> bool:
        """A large batch computed in micro-batches (`train.micro_batch`, GradCache)."""
        return 0 < self.micro_batch < self.process_batch

    @property
    def physical_batch(self) -> int:
        """The batch one process holds in memory at once: the micro-batch of a cached run,
        else the process's share of the batch."""
        return self.micro_batch if self.cached else self.process_batch

    @property
    def gor_weight(self) -> float:
        return float(dig(self.config, "gor.weight", 0.0) or 0.0)

    @property
    def _objective(self) -> str:
        return self.method + (f" + GOR {self.gor_weight:g}" if self.gor_weight else "")

    @property
    def family(self) -> str:
        """The arm apart from its batch and VRN weight: the method, GOR's weight, and the
        micro-batches a cached large batch is computed in (e.g. "simclr + GOR 1")."""
        if not self.cached:
            return self._objective
        return f"{self._objective} (micro-batches of {self.physical_batch})"

    @property
    def arm(self) -> str:
        """The objective with its VRN weight and the batch it saw when that is not the one
        held in memory (e.g. "simclr + VRN λ 30", "simclr, cached batch 512")."""
        out = self._objective + (f" + VRN λ {self.vrn_weight:g}" if self.vrn_weight else "")
        if self.cached:
            out += f", cached batch {self.batch_size}"
        if self.processes > 1:
            out += f", batch {self.batch_size} over {self.processes} processes"
        return out

    @property
    def vrn_weight(self) -> float:
        """The VRN weight the run trained with: meta.json's "resolved" (train.resolve), which
        differs from config.json's `vrn.weight` when `vrn.lr_ref` scales it by 1/lr. Runs from
        before the weight in use was recorded: the config's weight when no lr_ref scaled it,
        else NaN (unknown), never the nominal value."""
        used = dig(self.meta, "resolved.vrn_weight")
        if isinstance(used, (int, float)):
            return float(used)
        if dig(self.config, "vrn.lr_ref") is None:
            return float(dig(self.config, "vrn.weight", 0.0))
        return math.nan

    @property
    def vrn_setting(self) -> str:
        """How the weight was set, for labels that span batch sizes: "30" or, with
        `vrn.lr_ref`, "30 x 0.075/lr" (the weight in use then depends on the batch's lr)."""
        weight = float(dig(self.config, "vrn.weight", 0.0))
        lr_ref = dig(self.config, "vrn.lr_ref")
        if not weight or lr_ref is None:
            return f"{weight:g}"
        return f"{weight:g} x {lr_ref:g}/lr"

    @property
    def temperature(self) -> float:
        return float(dig(self.config, "method.temperature", math.nan))

    @property
    def seed(self) -> int:
        return int(dig(self.config, "train.seed", 0))

    def metric(self, path: str) -> float:
        value = dig(self.final, path)
        return float(value) if isinstance(value, (int, float)) else math.nan


def find_runs(directory: str | Path) -> list[Run]:
    """Every run folder under `directory` (any depth): a folder holding `config.json`."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory (expected a sweep or run folder)")
    folders = {p.parent for name in (rf.CONFIG, rf.SWEEP_RUN) for p in root.rglob(name)}
    runs = []
    for folder in sorted(folders):
        config = rf.try_read_json(folder / rf.CONFIG)
        if "method" not in config:  # crashed before writing its config: use the sweep's values
            values = rf.try_read_json(folder / rf.SWEEP_RUN).get("values", {})
            config = _nest(values)
            if not values:
                continue
        final = rf.try_read_json(folder / rf.FINAL)
        error = rf.try_read_json(folder / rf.ERROR)
        status = rf.run_status(folder)
        if status == "diverged" and not error:
            error = {"log_tail": [f"diverged: {final.get('message', '')}"]}
        meta, curve = rf.try_read_json(folder / rf.META), _curve(folder / rf.CURVE)
        runs.append(Run(folder, status, config, final, error, meta, curve))
    return runs


def _curve(path: Path) -> list[dict]:
    """curve.jsonl's points, or none when the file is missing or unreadable."""
    try:
        return rf.read_jsonl(path) if path.is_file() else []
    except (OSError, ValueError):
        return []


def _nest(flat: dict[str, Any]) -> dict:
    out: dict = {}
    for key, value in flat.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out
