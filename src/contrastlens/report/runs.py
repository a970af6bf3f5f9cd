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
    def vrn_weight(self) -> float:
        return float(dig(self.config, "vrn.weight", 0.0))

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
        runs.append(Run(folder, status, config, final, error, rf.try_read_json(folder / rf.META)))
    return runs


def _nest(flat: dict[str, Any]) -> dict:
    out: dict = {}
    for key, value in flat.items():
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out
