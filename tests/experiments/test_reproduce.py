"""`contrastlens reproduce --preset smoke` end to end: sweeps, simulator, report."""

import json

import pytest

from contrastlens.cli import main
from contrastlens.experiments.studies import STUDIES
from contrastlens.report.build import SECTIONS


def test_reproduce_smoke_end_to_end(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["reproduce", "--preset", "smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out / "report.md") in printed and "linear top-1 %" in printed
    # the finding: the variance cut and the accuracy differences, with their seed count
    for method in ("simclr", "moco"):
        line = next(ln for ln in printed.splitlines() if ln.startswith(f"{method}, batch 16"))
        assert "neg. variance" in line and ("x lower" in line or "x higher" in line)
        assert "(1 seed)" in line

    md = (out / "report.md").read_text()
    for title in SECTIONS.values():
        assert f"## {title}" in md, title
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3  # histograms, 2 simulator
    # one batch size in the grid: no figure against batch size, and the report says why
    assert not (out / "neg_m2_vs_batch.png").exists() and not (out / "acc_vs_batch.png").exists()
    assert md.count("Not shown: no arm ran at more than one batch size.") == 2
    ev = json.loads(next((out / "smoke" / "runs").glob("*/final.json")).read_text())["eval"]
    floor = ev["table1"]["welch_floor"]  # n = 64 synthetic images, d = 8 projector dims
    assert floor == (64 - 8) / (8 * 63) and f"{floor:.4f}" in md

    finals = sorted((out / "smoke" / "runs").glob("*/final.json"))
    assert len(finals) == 4
    for path in finals:  # each run's own numbers appear in its row of the runs table
        ev = json.loads(path.read_text())["eval"]
        name = f"smoke/{path.parent.name}"  # named by its folder under the study's
        row = next(ln for ln in md.splitlines() if ln.startswith(f"| {name} |"))
        assert f"| {100 * ev['linear_top1']:.2f} | {100 * ev['knn_top1']:.2f} |" in row
    sim = json.loads((out / "simulate" / "simulate.json").read_text())
    assert f"{sim['runs']['mini_batch']['neg_var']:.4f}" in md
    floor = json.loads((out / "floor.json").read_text())  # raw pixels, the runs' probes
    row = next(ln for ln in md.splitlines() if ln.startswith("| raw pixels (the floor) |"))
    assert f"| {100 * floor['linear_top1']:.2f} | {100 * floor['knn_top1']:.2f} |" in row
    assert floor["feature_dim"] == 28 * 28 and floor["probe_split"] == "test"

    # a second sitting (finished runs are skipped); the report lists both commands
    assert main(["reproduce", "--preset", "smoke", "--out", str(out), "--seeds", "0"]) == 0
    commands = json.loads((out / "study.json").read_text())["commands"]
    assert commands == [
        f"contrastlens reproduce --preset smoke --out {out}",
        f"contrastlens reproduce --preset smoke --out {out} --seeds 0",
    ]
    md = (out / "report.md").read_text()
    assert all(c in md for c in commands)


def test_sittings_restrict_grids_by_seed_and_batch():
    from contrastlens.experiments.engine import _restrict
    from contrastlens.experiments.studies import get_study

    study = get_study("full")
    _restrict(study, "train.batch_size", [16, 128], "--batches")
    assert [(s.name, s.grid["train.batch_size"]) for s in study.sweeps] == [
        ("p1-simclr-moco", [16]),
        ("p3-simclr-moco", [128]),
    ]  # p2 (batch 32 only) is dropped, not run with an empty grid
    with pytest.raises(ValueError, match=r"--seeds: none of \[7\] .* choose from 0, 1, 2"):
        _restrict(get_study("full"), "train.seed", [7], "--seeds")


def test_reproduce_rejects_bad_sitting_flags(tmp_path, capsys):
    assert main(["reproduce", "--preset", "full", "--batches", "sixteen"]) == 2
    assert "--batches expects integers" in capsys.readouterr().err


def test_a_study_refuses_uncommitted_code(tmp_path, monkeypatch, capsys):
    from contrastlens import runfolder

    monkeypatch.setattr(runfolder, "git_revision", lambda: {"revision": "x", "dirty": True})
    assert main(["reproduce", "--preset", "quick", "--out", str(tmp_path / "q")]) == 2
    err = capsys.readouterr().err
    assert "uncommitted changes" in err and "--allow-dirty" in err
    assert not (tmp_path / "q" / "quick").exists()  # nothing trained


@pytest.mark.parametrize("name", [n for n in STUDIES if n not in ("smoke", "text-smoke")])
def test_every_run_of_a_study_is_a_valid_config(name):
    """Each run of the preset (placeholders replaced by a value of their selection's grid)
    builds a valid config, so a sitting cannot fail hours in on a typo."""
    from contrastlens.experiments import presets
    from contrastlens.experiments.engine import _substitute
    from contrastlens.experiments.studies import get_study
    from contrastlens.experiments.sweep import expand, set_strings
    from contrastlens.text import text_config
    from contrastlens.train.config import apply_overrides, validate

    study = get_study(name)
    chosen = {sel.placeholder: sel.sweep.grid[sel.key][-1] for sel in study.selections}
    sweeps = [_substitute(s, chosen) for s in [*(x.sweep for x in study.selections), *study.sweeps]]
    ids = []
    for sweep in sweeps:
        for spec in expand(sweep):
            ids.append((sweep.name, spec.run_id))
            if sweep.command == "train-text":
                text_config.apply_overrides(
                    presets.get_text(sweep.preset), set_strings(spec.overrides)
                )
            else:
                validate(apply_overrides(presets.get(sweep.preset), set_strings(spec.overrides)))
    assert len(ids) == len(set(ids)) and ids  # run ids are unique within their sweep


def test_the_floor_scores_the_split_of_the_runs_final_probes(tmp_path):
    from contrastlens.experiments.engine import measure_floor
    from contrastlens.experiments.sweep import Sweep

    held_out = {"data.val_size": 16, "eval.linear_epochs": 2}
    for final, split in (("auto", "val"), ("test", "test")):
        sweep = Sweep("s", "smoke", {}, overrides={**held_out, "eval.final_split": final})
        floor = measure_floor(sweep, tmp_path / f"{final}.json", log=lambda _: None)
        assert floor["probe_split"] == split


def test_a_sitting_runs_only_the_selections_its_sweeps_need():
    from contrastlens.experiments.engine import _needed
    from contrastlens.experiments.studies import get_study

    def needed(name, only):
        study = get_study(name)
        study.sweeps = [s for s in study.sweeps if s.name in only]
        return [sel.folder for sel in _needed(study)]

    assert needed("v2", ["b32-dcl-dhel"]) == []  # no placeholder: no selection to wait for
    assert needed("v2", ["b32-gor"]) == ["select-gor"]
    assert needed("v2", ["b32-simclr", "b128-gor"]) == ["select-vrn", "select-gor"]
    # the text study's VRN and GOR weights are chosen at the lr its first selection chose
    assert needed("text-full", ["b16"]) == ["select-lr", "select-vrn", "select-gor"]
    assert needed("quick-select", []) == ["select-vrn"]  # selections alone: all of them
    # the temperature study chooses VRN's weight and the global loss's gamma at each t
    assert needed("temperature", ["global-t0.5"]) == ["select-gamma-t0.5"]
    assert needed("temperature", ["simclr-t1", "global-t1"]) == [
        "select-vrn-t1",
        "select-gamma-t1",
    ]
