"""Reading run folders into flat records: the report's only input.

A run folder is what `contrastlens train` writes (see `contrastlens.train.run_dir`): `config.json`
and, once finished, `final.json`; a sweep adds `sweep_run.json` and, for a failed run,
`error.json`. This module never imports the trainer: it reads JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
    status: str  # done | failed | partial
    config: dict
    final: dict = field(default_factory=dict)
    error: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

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


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def find_runs(directory: str | Path) -> list[Run]:
    """Every run folder under `directory` (any depth): a folder holding `config.json`."""
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory (expected a sweep or run folder)")
    folders = {p.parent for name in ("config.json", "sweep_run.json") for p in root.rglob(name)}
    runs = []
    for folder in sorted(folders):
        config = _read_json(folder / "config.json")
        if "method" not in config:  # crashed before writing its config: use the sweep's values
            values = _read_json(folder / "sweep_run.json").get("values", {})
            config = _nest(values)
            if not values:
                continue
        final = _read_json(folder / "final.json")
        error = _read_json(folder / "error.json")
        meta = _read_json(folder / "meta.json")
        if final and final.get("status", "finished") != "finished":
            error = error or {"log_tail": [f"{final.get('status')}: {final.get('message', '')}"]}
            status = "failed"
        else:
            status = "done" if final else ("failed" if error else "partial")
        runs.append(Run(folder, status, config, final, error, meta))
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
