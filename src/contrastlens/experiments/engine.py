"""The engine that runs a study (`experiments.studies`): selections on validation, sweeps,
the raw-pixel floor, the simulator, then the report. Resumable: finished runs are skipped.

    result = reproduce("quick", "runs/reproduce-quick")     # {"out", "report", ...}
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from contrastlens import runfolder as rf
from contrastlens.experiments.studies import Selected, Selection, Study, get_study
from contrastlens.experiments.sweep import Sweep, expand, run_sweep, set_strings


def _substitute(sweep: Sweep, chosen: dict[Selected, Any]) -> Sweep:
    """`sweep` with the placeholders of the selections made so far replaced by their values."""

    def sub(v: Any) -> Any:
        return chosen[v] if isinstance(v, Selected) else v

    return replace(
        sweep,
        grid={k: [sub(v) for v in vals] for k, vals in sweep.grid.items()},
        overrides={k: sub(v) for k, v in sweep.overrides.items()},
    )


def _placeholders(sweep: Sweep) -> set[Selected]:
    values = [*sweep.overrides.values(), *(v for vals in sweep.grid.values() for v in vals)]
    return {v for v in values if isinstance(v, Selected)}


def _needed(study: Study) -> list[Selection]:
    """The selections whose choices the study's (remaining) sweeps use, with the selections
    those need in turn, in the study's order: a sitting runs only the selections it needs. A
    study of selections alone (no sweeps) runs them all."""
    if not study.sweeps:
        return list(study.selections)
    used = set().union(*(_placeholders(s) for s in study.sweeps))
    needed = []
    for sel in reversed(study.selections):
        if sel.placeholder in used:
            needed.append(sel)
            used |= _placeholders(sel.sweep)
    return needed[::-1]


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
        raise ValueError(
            f"{flag}: none of {keep} is in this study's grids; choose from "
            f"{', '.join(map(str, available))}"
        )
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
    floor = {
        "preset": sweep.preset,
        "overrides": sweep.overrides,
        **raw_pixel_floor(train, test, cfg.eval, seed=cfg.train.seed),
        "probe_split": split,
    }
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
    for key, flag, keep in (
        (f"{prefix}seed", "--seeds", seeds),
        (f"{prefix}batch_size", "--batches", batches),
    ):
        if keep is not None:
            _restrict(study, key, keep, flag)
    out = Path(out_dir or f"runs/reproduce-{preset}")
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    args = ["contrastlens", "reproduce", "--preset", preset, "--out", rf.portable(str(out))]
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
    meta = {
        "title": study.title,
        "description": study.description,
        "commands": commands,
        "study": asdict(study),
    }
    chosen: dict[Selected, Any] = {}  # the value each selection chose on validation
    texts = dict(old.get("selections", {}))  # every sitting's choices: {"selected:key": text}
    selected = dict(old.get("selected", {}))
    for sel in _needed(study):
        sel = replace(sel, sweep=_substitute(sel.sweep, chosen))
        best, text = _select(sel, out, log)
        chosen[sel.placeholder] = best
        texts[str(sel.placeholder)], selected[str(sel.placeholder)] = text, best
        log(text)
    if texts:
        meta["selections"], meta["selected"] = texts, selected
        meta["selection"] = " ".join(texts.values())
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
    return {
        "out": out,
        "report": report,
        "results": results,
        "minutes": minutes,
        "note": study.note,
    }


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
            a, b = (float(v.split(" ± ")[0]) for v in (v0, v1))  # the mean over seeds
            if a >= b:
                change = f"{a / b:.1f}x lower" if b > 0 else "x lower: to zero"
            else:
                change = f"{b / a:.1f}x higher" if a > 0 else "x higher: from zero"
            cut = f"neg. variance {a:.4f} -> {b:.4f} ({change}); "
        except (TypeError, ValueError):
            pass
        out.append(
            f"{r[0]}, batch {r[1]}, VRN lambda {r[3]}: {cut}linear {r[6]}, kNN {r[8]} "
            f"points vs VRN off ({r[4]} seed{'s' if r[4] != '1' else ''})"
        )
    return out


def headline_text(report: dict) -> str:
    header, rows = report["headline"]
    if not rows:
        return "(no finished runs)"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([line, "-" * len(line), *body])
