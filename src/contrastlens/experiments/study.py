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
- `precision-parity`: bf16 + channels-last against float32 at equal steps (issue 14).
- `v2`: the head-to-head image study (issue 17): VRN, GOR, the cached large batch, DCL, DHEL
  and MoCo at physical batch 32 and 128; choices on validation, test scored once per run.
- `v2-pilot`: the run on validation that sets v2's epochs (the baseline against the floor).
- `text-smoke`, `text-quick`, `text-full`: the text study (issue 16), `train-text` runs of
  all-MiniLM-L6-v2 on WordNet (contrastlens.text), reported by `report.text`.
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
    """Choose `key` among `sweep`'s values by the mean validation `metric` over seeds (in the
    runs' eval dict; greater is better). Later sweeps and selections name the choice by
    `placeholder` in their grids and overrides; its runs go to `<study>/<folder>/`."""

    sweep: Sweep
    key: str = "vrn.weight"
    metric: str = "linear_top1"
    placeholder: str = SELECTED
    folder: str = "selection"


@dataclass
class Study:
    name: str
    title: str
    description: str
    sweeps: list[Sweep]
    selections: list[Selection] = field(default_factory=list)  # made in order
    simulate: dict[str, Any] = field(default_factory=dict)  # run_simulation_study kwargs
    floor: bool = True  # measure the raw-pixel floor with the first sweep's probes (floor.json)
    kind: str = "image"  # "text": runs of `train-text`, reported by report.text


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
        selections=[Selection(sel)],
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


# Study v2 (issue 17): the recipe's encoder on Fashion-MNIST, 50,000 training images (10,000
# held out for every choice and for the curves), the same epochs for every arm, the test split
# scored once per run at its end.
V2_EPOCHS = 8
V2 = {"data.subset": 0, "data.val_size": 10000, "eval.final_split": "test",
      "train.time_schedule": False, "train.max_minutes": 0.0, "train.epochs": V2_EPOCHS,
      "eval.curve_epochs": "2,4,6", "vrn.lr_ref": 0.075}  # fmt: skip
V2_GOR = "selected:gor.weight"
# The pilot that sets V2_EPOCHS, on validation only: the baseline (SimCLR, batch 32, seed 0) for
# PILOT_EPOCHS with probes every 2 epochs, its cost, and the raw-pixel floor of the same split.
PILOT_EPOCHS = 8


def _v2_pilot() -> Study:
    val = {**V2, "eval.final_split": "auto", "train.epochs": PILOT_EPOCHS,
           "eval.curve_epochs": ",".join(str(e) for e in range(2, PILOT_EPOCHS, 2))}  # fmt: skip
    return Study(
        name="v2-pilot",
        title="contrastlens study v2, pilot: epochs and cost of the baseline (validation)",
        description=f"SimCLR at batch 32, seed 0, {PILOT_EPOCHS} epochs on the v2 data "
        "(50,000 training images), probed every 2 epochs and at the end on the 10,000 "
        "held-out validation images, against the raw-pixel floor on the same split. It sets "
        "the v2 study's epochs: the baseline has to clear the floor on every probe, and a run "
        "has to fit in about 12 minutes with its evaluation. The test split is not scored.",
        sweeps=[Sweep("pilot", "fmnist-simclr", {"train.batch_size": [32], "train.seed": [0]},
                      overrides=val)],
    )  # fmt: skip


def _v2() -> Study:
    seeds = [0, 1, 2]
    val = {**V2, "eval.final_split": "auto", "train.batch_size": 32, "train.seed": 0}
    selections = [
        # 10 was added after 30 won at the edge of {30, 100, 300} (results/fmnist-study-v2)
        Selection(Sweep("select-vrn", "fmnist-simclr",
                        {"vrn.weight": [10.0, 30.0, 100.0, 300.0]}, overrides=val),
                  folder="select-vrn"),
        # 100 was added after 10 won at the edge of {0.1, 1, 10} (within 0.04 points of both)
        Selection(Sweep("select-gor", "fmnist-simclr",
                        {"gor.weight": [0.1, 1.0, 10.0, 100.0]}, overrides=val),
                  key="gor.weight", placeholder=V2_GOR, folder="select-gor"),
    ]  # fmt: skip

    def arms(name: str, batch: int, priority: str) -> list[Sweep]:
        grid = {"train.batch_size": [batch], "train.seed": seeds}
        if priority == "p1":
            return [
                Sweep(f"{name}-simclr", "fmnist-simclr",
                      {**grid, "vrn.weight": [0.0, SELECTED]}, overrides=dict(V2)),
                Sweep(f"{name}-gor", "fmnist-simclr", dict(grid),
                      overrides={**V2, "gor.weight": V2_GOR}),
                Sweep(f"{name}-cached", "fmnist-simclr",
                      {"train.batch_size": [512, 2048], "train.seed": seeds},
                      overrides={**V2, "train.micro_batch": batch}),
            ]  # fmt: skip
        return [
            Sweep(f"{name}-dcl-dhel", "fmnist-simclr", {"method.name": ["dcl", "dhel"], **grid},
                  overrides=dict(V2)),
            Sweep(f"{name}-moco", "fmnist-simclr", {"method.name": ["moco"], **grid,
                                                     "vrn.weight": [0.0, SELECTED]},
                  overrides=dict(V2)),
        ]  # fmt: skip

    return Study(
        name="v2",
        title="contrastlens study v2: what should a memory-limited user do? (Fashion-MNIST)",
        description=f"The fmnist-simclr encoder on 50,000 training images, {V2_EPOCHS} epochs "
        "for every arm (step-based cosine), bf16 + channels-last on this CPU; 10,000 training "
        "images held out for every choice (VRN's lambda and GOR's weight, at batch 32, seed "
        "0) and for the accuracy curves; the test split scored once per run, at its end. "
        "Arms at physical batch 32 and 128: SimCLR, SimCLR + VRN (lambda x 0.075 / lr), "
        "SimCLR + GOR, the cached large batch (train.micro_batch = the physical batch, "
        "effective batch 512 and 2048), DCL, DHEL, MoCo v2 with shuffle-BN with and without "
        "VRN; 3 seeds. Sweeps run in priority order: VRN, GOR and cached first.",
        selections=selections,
        sweeps=[*arms("b32", 32, "p1"), *arms("b128", 128, "p1")[:2], *arms("b32", 32, "p2"),
                *arms("b128", 128, "p2"), arms("b128", 128, "p1")[2]],  # the costliest last
    )  # fmt: skip


def _text(name: str, preset: str, grid: dict, overrides: dict | None = None) -> Sweep:
    return Sweep(name, preset, grid, overrides=dict(overrides or {}), command="train-text")


# The text study's hyperparameters chosen on validation (text-full's selection steps; the
# quick preset reuses them): see results/wordnet-study/.
TEXT_LR = "selected:lr"
TEXT_VRN = "selected:vrn_weight"
TEXT_GOR = "selected:gor_weight"


def _text_smoke() -> Study:
    return Study(
        name="text-smoke",
        title="contrastlens text smoke study (WordNet, a few steps)",
        description="Seconds per run: 64 training pairs, scored on 64 test synsets. A test of the "
        "pipeline (train-text runs, the sweep, the report); its scores mean nothing.",
        sweeps=[
            _text(
                "smoke",
                "wordnet-smoke",
                {"arm": ["zero-shot", "mnrl", "mnrl-vrn"], "seed": [0]},
                {"vrn_weight": 10.0},
            ),
            _text(
                "smoke-cached",
                "wordnet-smoke",
                {"arm": ["cached-mnrl"], "seed": [0]},
                {"batch_size": 32, "mini_batch_size": 16},
            ),
        ],  # fmt: skip
        floor=False,
        kind="text",
    )


TEXT_QUICK_PAIRS = 4000


def _text_quick() -> Study:
    # text-full's validated choices (results/wordnet-study/study.json): lr 2e-4, lambda 1
    fixed = {"train_pairs": TEXT_QUICK_PAIRS, "lr": 2e-4, "vrn_weight": 1.0}
    return Study(
        name="text-quick",
        title="contrastlens text quick study: all-MiniLM-L6-v2 on WordNet, MNRL vs MNRL + VRN",
        description=f"One seed, batch 16, one pass over {TEXT_QUICK_PAIRS:,} training pairs, "
        "scored on the 4,000 test synsets; the zero-shot model for reference. lr = 2e-4 and "
        "lambda = 1 are text-full's choices on the validation synsets (batch 16, 8,000 pairs). "
        "A demonstration in minutes; see --preset text-full for seeds, batch 64, GOR and the "
        "cached large batch.",
        sweeps=[
            _text(
                "quick",
                "wordnet",
                {"arm": ["zero-shot", "mnrl", "mnrl-vrn"], "batch_size": [16], "seed": [0]},
                fixed,
            )
        ],
        floor=False,
        kind="text",
    )


def _text_full() -> Study:
    seeds = [0, 1, 2]
    val = {"eval_split": "validation", "batch_size": 16, "seed": 0}
    selections = [
        Selection(_text("select-lr", "wordnet", {"arm": ["mnrl"], "lr": [2e-5, 5e-5, 1e-4,
                                                                          2e-4]}, val),
                  key="lr", metric="mrr@10", placeholder=TEXT_LR, folder="select-lr"),
        Selection(_text("select-vrn", "wordnet", {"arm": ["mnrl-vrn"],
                                                  "vrn_weight": [1.0, 10.0, 100.0]},
                        {**val, "lr": TEXT_LR}),
                  key="vrn_weight", metric="mrr@10", placeholder=TEXT_VRN,
                  folder="select-vrn"),
        Selection(_text("select-gor", "wordnet", {"arm": ["mnrl-gor"],
                                                  "gor_weight": [1.0, 10.0, 100.0]},
                        {**val, "lr": TEXT_LR}),
                  key="gor_weight", metric="mrr@10", placeholder=TEXT_GOR,
                  folder="select-gor"),
    ]  # fmt: skip
    tuned = {"lr": TEXT_LR, "vrn_weight": TEXT_VRN, "gor_weight": TEXT_GOR}

    def sweep(name: str, batch: int) -> list[Sweep]:
        arms = {"arm": ["mnrl", "mnrl-vrn", "mnrl-gor"], "batch_size": [batch], "seed": seeds}
        cached = {"arm": ["cached-mnrl"], "batch_size": [256], "seed": seeds}
        return [
            _text(name, "wordnet", arms, tuned),
            _text(f"{name}-cached", "wordnet", cached, {**tuned, "mini_batch_size": batch}),
        ]

    return Study(
        name="text-full",
        title="contrastlens text study: all-MiniLM-L6-v2 on WordNet at small batch",
        description="Fine-tuning all-MiniLM-L6-v2 with sentence-transformers' trainer to retrieve "
        "a WordNet definition from an example sentence: one pass over the same 8,000 training "
        "pairs for every arm (bf16 autocast on this CPU), 3 seeds, scored once on the 4,000 "
        "test synsets. lr (for MNRL), then lambda (VRN) and the GOR weight at that lr, were "
        "chosen on the 2,000 validation synsets (batch 16, seed 0); MNRL's scale is the "
        "library's 20, not tuned. The cached arm trains batch 256 with the memory of the "
        "physical batch (GradCache).",
        selections=selections,
        sweeps=[
            _text("zero-shot", "wordnet", {"arm": ["zero-shot"]}),
            *sweep("b16", 16),
            *sweep("b64", 64),
        ],
        floor=False,
        kind="text",
    )


STUDIES: dict[str, Callable[[], Study]] = {
    "smoke": _smoke,
    "quick": _quick,
    "full": _full,
    "precision-parity": _precision_parity,
    "v2": _v2,
    "v2-pilot": _v2_pilot,
    "text-smoke": _text_smoke,
    "text-quick": _text_quick,
    "text-full": _text_full,
}


def get_study(name: str) -> Study:
    if name not in STUDIES:
        raise ValueError(f"unknown study preset {name!r}; choose one of {', '.join(STUDIES)}")
    return STUDIES[name]()


def _substitute(sweep: Sweep, chosen: dict[str, Any]) -> Sweep:
    """`sweep` with the placeholders of the selections made so far replaced by their values."""

    def sub(v: Any) -> Any:
        return chosen.get(v, v) if isinstance(v, str) else v

    return replace(sweep, grid={k: [sub(v) for v in vals] for k, vals in sweep.grid.items()},
                   overrides={k: sub(v) for k, v in sweep.overrides.items()})  # fmt: skip


def _select(sel: Selection, out: Path, log: Callable[[str], None]) -> tuple[Any, str]:
    folder = out / sel.folder
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
    from contrastlens.data.splits import load_split, probe_fit_split, probe_split
    from contrastlens.eval import raw_pixel_floor
    from contrastlens.experiments import presets
    from contrastlens.train.config import apply_overrides

    if path.is_file():
        return rf.read_json(path)
    cfg = apply_overrides(presets.get(sweep.preset), set_strings(sweep.overrides))
    log(f"== raw-pixel floor ({cfg.data.dataset}, probes of sweep {sweep.name})")
    split = probe_split(cfg.data, cfg.eval.final_split)  # the split the runs' final probes score
    train = load_split(cfg.data, probe_fit_split(cfg.data))  # labeled (STL-10: train)
    test = load_split(cfg.data, split)
    floor = {"preset": sweep.preset, "overrides": sweep.overrides,
             **raw_pixel_floor(train, test, cfg.eval, seed=cfg.train.seed),
             "probe_split": split}  # fmt: skip
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
    from contrastlens.report.text import build_text_report

    study = get_study(preset)
    if preset not in ("smoke", "text-smoke") and not allow_dirty and rf.git_revision()["dirty"]:
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
    prefix = "" if study.kind == "text" else "train."  # text configs have flat keys
    for key, flag, keep in ((f"{prefix}seed", "--seeds", seeds),
                            (f"{prefix}batch_size", "--batches", batches)):  # fmt: skip
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
    chosen: dict[str, Any] = {}  # placeholder -> the value selected on validation
    texts = []
    for sel in study.selections:
        sel = replace(sel, sweep=_substitute(sel.sweep, chosen))
        best, text = _select(sel, out, log)
        chosen[sel.placeholder] = best
        texts.append(text)
        log(text)
    if texts:
        meta["selection"] = " ".join(texts)
        meta["selected"] = chosen  # {placeholder: value}
    sweeps = [_substitute(s, chosen) for s in study.sweeps]
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
    report = build_text_report(out) if study.kind == "text" else build_report(out)
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
