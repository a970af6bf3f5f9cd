"""The small-batch study: named presets and `reproduce`, the README's main job.

A `Study` is a list of sweeps run in order into one folder, an optional selection step that
picks the VRN weight on a validation split held out from the training set (never on the test
set), and the simulator's figures. `reproduce(preset)` runs it, resumably (finished runs are
skipped), then writes the report.

Presets (functions returning a `Study`):
- `smoke`: seconds; synthetic data, SimCLR and MoCo with VRN off/on. Used by the test suite.
- `quick`: <= 15 minutes on 2 CPU cores; Fashion-MNIST, SimCLR and MoCo, VRN off/on, batch 32
  and 256, one seed, a short schedule, plus the simulator figures. `make demo` runs this.
- `full`: the study of the README (hours): lambda chosen on a validation split for SimCLR at
  batch 64; then (1) SimCLR and MoCo at batch 16, 64, 256, VRN off/on, 3 seeds; (2) DCL and DHEL
  at batch 32, 3 seeds; (3) SimCLR and MoCo at batch 32 and 128, 3 seeds.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from contrastlens import runfolder as rf
from contrastlens.experiments.sweep import Sweep, expand, run_sweep, set_strings

SELECTED = "selected"  # grid placeholder: the VRN weight chosen by the selection step


@dataclass
class Selection:
    """Choose `key` among `sweep`'s values by the mean validation linear top-1 over seeds."""

    sweep: Sweep
    key: str = "vrn.weight"
    metric: str = "linear_top1"


@dataclass
class Study:
    name: str
    title: str
    description: str
    sweeps: list[Sweep]
    selection: Selection | None = None
    simulate: dict[str, Any] = field(default_factory=dict)  # run_simulation_study kwargs
    floor: bool = True  # measure the raw-pixel floor with the first sweep's probes (floor.json)


def _smoke() -> Study:
    grid = {"method.name": ["simclr", "moco"], "vrn.weight": [0.0, 30.0], "train.seed": [0]}
    return Study(
        name="smoke",
        title="contrastlens smoke study (synthetic data)",
        description="A seconds-long end-to-end check of sweep -> runs -> report on synthetic "
        "images. Its accuracies mean nothing.",
        sweeps=[Sweep("smoke", "smoke", grid)],
        simulate={
            "loss": "infonce",
            "n": 8,
            "d": 8,
            "batch": 4,
            "vrn_weight": 30.0,
            "steps": 300,
        },  # fmt: skip
    )


def _quick() -> Study:
    grid = {
        "method.name": ["simclr", "moco"],
        "train.batch_size": [32, 256],
        "vrn.weight": [0.0, 100.0],
        "train.seed": [0],
    }
    return Study(
        name="quick",
        title="contrastlens quick study: Fashion-MNIST, SimCLR and MoCo v2, VRN off/on",
        description="One seed, a short schedule (preset fmnist-quick on 6,000 training "
        "images, 3 epochs, bf16 where the CPU has it), batch 32 and 256. VRN uses the "
        "full study's validated lambda = 100 at lr 0.075, scaled by 1/lr (vrn.lr_ref = 0.075: "
        "lambda 200 at batch 32, 25 at batch 256), the coupling that study found. A "
        "demonstration of the pipeline in minutes on 2 CPU cores; see `--preset full` for "
        "the study with seeds and confidence intervals.",
        sweeps=[
            Sweep(
                "quick", "fmnist-quick", grid, overrides={"data.subset": 6000, "vrn.lr_ref": 0.075}
            )
        ],  # fmt: skip
        simulate={"loss": "simclr", "n": 64, "d": 64, "batch": 8, "vrn_weight": 30.0},
    )


# The full study's per-run recipe: fmnist-quick on the whole training set (minus the validation
# images in the selection step), the same 3 epochs at every batch size, lr = 0.3 x B / 256.
STUDY = {"data.subset": 0, "train.epochs": 3, "eval.linear_epochs": 50}


def _full() -> Study:
    seeds = [0, 1, 2]
    sel = Sweep(
        "select-lambda",
        "fmnist-quick",
        {"vrn.weight": [0.0, 3.0, 10.0, 30.0, 100.0], "train.seed": [0]},
        overrides={
            **STUDY,
            "method.name": "simclr",
            "train.batch_size": 64,
            "data.val_size": 10000,
        },
    )

    def sweep(name: str, methods: list[str], batches: list[int]) -> Sweep:
        grid = {
            "method.name": methods,
            "train.batch_size": batches,
            "vrn.weight": [0.0, SELECTED],
            "train.seed": seeds,
        }
        return Sweep(name, "fmnist-quick", grid, overrides=dict(STUDY))

    return Study(
        name="full",
        title="contrastlens small-batch study: Fashion-MNIST",
        description="Every run uses preset fmnist-quick on all 60,000 training images, 3 epochs "
        "at every batch size, lr = 0.3 x batch / 256. Lambda chosen on a 10,000-image "
        "validation split held out from the training set (SimCLR, batch 64); probes of the "
        "study runs score the test set. Sweeps run in priority order.",
        selection=Selection(sel),
        sweeps=[
            sweep("p1-simclr-moco", ["simclr", "moco"], [16, 64, 256]),
            sweep("p2-dcl-dhel", ["dcl", "dhel"], [32]),
            sweep("p3-simclr-moco", ["simclr", "moco"], [32, 128]),
        ],
        simulate={"loss": "simclr", "n": 64, "d": 64, "batch": 8, "vrn_weight": 30.0},
    )


def _precision_parity() -> Study:
    """bf16 autocast + channels-last against float32 at equal steps (issue 14): fmnist-quick on
    all 60,000 training images, SimCLR with and without VRN (lambda 100 scaled by 1/lr:
    25 at batch 256), seeds 0 and 1; the sweeps alternate precisions so pairs finish together."""
    base = {"data.subset": 0, "eval.linear_epochs": 50, "vrn.lr_ref": 0.075}
    fp32 = {**base, "train.amp": "off", "train.channels_last": "off"}
    sweeps = []
    for seed in (0, 1):
        grid = {"vrn.weight": [0.0, 100.0], "train.seed": [seed]}
        sweeps.append(Sweep(f"fp32-seed{seed}", "fmnist-quick", dict(grid), overrides=fp32))
        sweeps.append(Sweep(f"bf16-seed{seed}", "fmnist-quick", dict(grid), overrides=base))
    return Study(
        name="precision-parity",
        title="contrastlens precision parity: bf16 + channels-last vs float32",
        description="fmnist-quick (60,000 images, 3 epochs, batch 256), SimCLR, VRN off and "
        "lambda 100 x 0.075 / lr, seeds 0 and 1, float32 and the default precision (bf16 "
        "autocast + channels-last on this CPU), equal steps.",
        sweeps=sweeps,
        floor=False,
    )


STUDIES: dict[str, Callable[[], Study]] = {
    "smoke": _smoke,
    "quick": _quick,
    "full": _full,
    "precision-parity": _precision_parity,
}


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise ValueError(f"unknown study preset {name!r}; choose one of {', '.join(STUDIES)}")
    return STUDIES[name]()


def _select(study: Study, out: Path, log: Callable[[str], None]) -> tuple[Any, str]:
    sel = study.selection
    folder = out / "selection"
    run_sweep(sel.sweep, folder, log=log)
    scores: dict[Any, list[float]] = {}
    for spec in expand(sel.sweep):
        run = folder / "runs" / spec.run_id
        if rf.run_status(run) in rf.COMPLETE:
            value = (rf.try_read_json(run / rf.FINAL).get("eval") or {}).get(sel.metric)
            if isinstance(value, (int, float)):
                scores.setdefault(spec.values[sel.key], []).append(float(value))
    if not scores:
        raise RuntimeError(f"selection of {sel.key} failed: no finished run in {folder}")
    means = {k: sum(v) / len(v) for k, v in scores.items()}
    best = max(means, key=lambda k: means[k])
    table = ", ".join(f"{sel.key}={k:g}: {100 * m:.2f}%" for k, m in sorted(means.items()))
    edge = ""
    if len(means) > 1 and best in (min(means), max(means)):
        edge = " It lies at the edge of the grid: values beyond it were not tried."
    text = (
        f"{sel.key} = {best:g} was chosen by the validation {sel.metric} "
        f"(validation split held out from the training set; overrides {sel.sweep.overrides}): "
        f"{table}. The test set was not used for this choice.{edge}"
    )
    return best, text


def _restrict(study: Study, key: str, keep: list, flag: str) -> None:
    """Keep only the grid values of `key` in `keep`; sweeps left with none are dropped."""
    available = sorted({v for s in study.sweeps for v in s.grid.get(key, [])})
    if not set(keep) & set(available):
        raise ValueError(f"{flag}: none of {keep} is in this study's grids; choose from "
                         f"{', '.join(map(str, available))}")  # fmt: skip
    for s in study.sweeps:
        if key in s.grid:
            s.grid[key] = [v for v in s.grid[key] if v in keep]
    study.sweeps = [s for s in study.sweeps if s.grid.get(key, [None])]


def measure_floor(sweep: Sweep, path: Path, log: Callable[[str], None]) -> dict:
    """The raw-pixel floor with `sweep`'s data and probes, written to `path` (skipped when it
    is already there: the study is resumable)."""
    from contrastlens.data.splits import load_split, probe_split
    from contrastlens.eval import raw_pixel_floor
    from contrastlens.experiments import presets
    from contrastlens.train.config import apply_overrides

    if path.is_file():
        return rf.read_json(path)
    cfg = apply_overrides(presets.get(sweep.preset), set_strings(sweep.overrides))
    log(f"== raw-pixel floor ({cfg.data.dataset}, probes of sweep {sweep.name})")
    train = load_split(cfg.data, cfg.data.train_split)
    test = load_split(cfg.data, probe_split(cfg.data))
    floor = {"preset": sweep.preset, "overrides": sweep.overrides,
             **raw_pixel_floor(train, test, cfg.eval, seed=cfg.train.seed),
             "probe_split": probe_split(cfg.data)}  # fmt: skip
    rf.write_json(floor, path)
    return floor


def reproduce(
    preset: str,
    out_dir: str | Path | None = None,
    *,
    log: Callable[[str], None] = print,
    skip_simulate: bool = False,
    only: list[str] | None = None,
    seeds: list[int] | None = None,
    batches: list[int] | None = None,
    allow_dirty: bool = False,
) -> dict:
    """Run the study `preset` into `out_dir` (resumable), then write its report.

    only: run just these sweeps (by name; the selection step still runs when they need it).
    seeds: restrict every grid to these seeds (e.g. [0] first, the others in later sittings).
    batches: restrict every grid to these batch sizes (sweeps without them are skipped).
    allow_dirty: run although tracked code has uncommitted changes. Committed results must come
    from committed code, so by default a study refuses a dirty checkout (the smoke preset, a
    test of the pipeline, excepted); every run records its commit and `git.dirty` either way.
    """
    from contrastlens.report.build import build_report

    study = get_study(preset)
    if preset != "smoke" and not allow_dirty and rf.git_revision()["dirty"]:
        raise ValueError(
            "the code has uncommitted changes (git status), so the study's runs could not be "
            "traced to a commit; commit them first, or pass --allow-dirty (runs are flagged)"
        )
    if only:
        unknown = set(only) - {s.name for s in study.sweeps}
        if unknown:
            names = ", ".join(s.name for s in study.sweeps)
            raise ValueError(f"--only: unknown sweep {sorted(unknown)[0]!r}; choose from {names}")
        study.sweeps = [s for s in study.sweeps if s.name in only]
    for key, flag, keep in (("train.seed", "--seeds", seeds), ("train.batch_size", "--batches",
                                                                 batches)):  # fmt: skip
        if keep is not None:
            _restrict(study, key, keep, flag)
    out = Path(out_dir or f"runs/reproduce-{preset}")
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    args = ["contrastlens", "reproduce", "--preset", preset, "--out", str(out)]
    if only:
        args += ["--only", ",".join(only)]
    if seeds is not None:
        args += ["--seeds", ",".join(str(x) for x in seeds)]
    if batches is not None:
        args += ["--batches", ",".join(str(x) for x in batches)]
    # Every sitting's command, in order (a study is often run in several).
    old = rf.try_read_json(out / rf.STUDY)
    commands = [c for c in old.get("commands", []) if c != shlex.join(args)]
    commands.append(shlex.join(args))
    meta = {"title": study.title, "description": study.description, "commands": commands,
            "study": asdict(study)}  # fmt: skip
    sweeps = study.sweeps
    if study.selection is not None:
        best, text = _select(study, out, log)
        meta["selection"] = text
        meta["selected"] = best
        log(text)
        sweeps = [
            replace(s, grid={k: [best if v == SELECTED else v for v in vals]
                             for k, vals in s.grid.items()})
            for s in sweeps
        ]  # fmt: skip
    rf.write_json(meta, out / rf.STUDY)
    if study.floor and sweeps:
        measure_floor(sweeps[0], out / "floor.json", log)
    results: dict[str, str] = {}
    for sweep in sweeps:
        log(f"== sweep {sweep.name} ({len(expand(sweep))} runs, preset {sweep.preset})")
        results.update(run_sweep(sweep, out / sweep.name, log=log))
    if study.simulate and not skip_simulate:
        from contrastlens.theory import run_simulation_study

        log("== simulator (free embeddings, float64)")
        run_simulation_study(out_dir=out / "simulate", **study.simulate)
    minutes = (time.time() - start) / 60
    meta["wall_minutes_last_invocation"] = round(minutes, 2)
    rf.write_json(meta, out / rf.STUDY)
    report = build_report(out)
    return {"out": out, "report": report, "results": results, "minutes": minutes}


def finding_lines(report: dict) -> list[str]:
    """One line per (method, batch): the variance cut and the accuracy differences VRN made,
    with the number of seeds they rest on (from the report's headline and variance tables)."""
    _, rows = report["headline"]
    _, var_rows = report.get("variance", (None, []))
    variance = {tuple(r[:4]): r[5] for r in var_rows}
    base = {tuple(r[:3]): r for r in rows if r[3] == "0"}
    out = []
    for r in rows:
        off = base.get(tuple(r[:3]))
        if r[3] == "0" or off is None:
            continue
        v0, v1 = variance.get(tuple(off[:4])), variance.get(tuple(r[:4]))
        cut = ""
        try:
            a, b = float(v0), float(v1)
            if a >= b:
                change = f"{a / b:.1f}x lower" if b > 0 else "x lower: to zero"
            else:
                change = f"{b / a:.1f}x higher" if a > 0 else "x higher: from zero"
            cut = f"neg. variance {v0} -> {v1} ({change}); "
        except (TypeError, ValueError):
            pass
        out.append(f"{r[0]}, batch {r[1]}, VRN lambda {r[3]}: {cut}linear {r[6]}, kNN {r[8]} "
                   f"points vs VRN off ({r[4]} seed{'s' if r[4] != '1' else ''})")  # fmt: skip
    return out


def headline_text(report: dict) -> str:
    header, rows = report["headline"]
    if not rows:
        return "(no finished runs)"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([line, "-" * len(line), *body])
