"""The sweep runner: grid expansion, resuming without redoing finished runs, failures recorded."""

import json

import pytest

from contrastlens import runfolder as rf
from contrastlens.errors import ConfigError
from contrastlens.experiments.sweep import Sweep, expand, run_sweep

FAST = {"train.max_steps": 2, "eval.at_end": False, "data.synthetic_n": 32}


def test_expand_is_the_cartesian_product_in_order():
    sweep = Sweep(
        "s",
        "smoke",
        {"method.name": ["simclr", "moco"], "vrn.weight": [0.0, 30.0]},
        exclude=[{"method.name": "moco", "vrn.weight": 30.0}],
    )
    ids = [r.run_id for r in expand(sweep)]
    assert ids == ["simclr_vrn0", "simclr_vrn30", "moco_vrn0"]
    assert expand(sweep)[1].overrides == {"method.name": "simclr", "vrn.weight": 30.0}
    with pytest.raises(ConfigError, match="non-empty list"):
        expand(Sweep("s", "smoke", {"vrn.weight": []}))


def test_interrupted_sweep_resumes_without_redoing_finished_runs(tmp_path):
    sweep = Sweep("s", "smoke", {"train.seed": [0, 1]}, overrides=FAST)
    lines = []

    def interrupt_before_second(msg):
        lines.append(msg)
        if msg.startswith("[2/2]") and "training" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, tmp_path, log=interrupt_before_second)
    first = tmp_path / "runs" / "seed0" / "final.json"
    # max_steps ended the run early on purpose: "stopped", a complete result
    assert rf.run_status(first.parent) == "stopped"
    assert rf.run_status(tmp_path / "runs" / "seed1") not in rf.COMPLETE
    stamp = first.stat().st_mtime_ns

    lines.clear()
    results = run_sweep(sweep, tmp_path, log=lines.append)
    assert results == {"seed0": "stopped", "seed1": "stopped"}
    assert "[1/2] seed0: stopped, skipped" in lines
    assert first.stat().st_mtime_ns == stamp  # not retrained


def test_failing_run_is_recorded_and_does_not_stop_the_others(tmp_path):
    sweep = Sweep("s", "smoke", {"model.proj_dim": [-1, 8]}, overrides=FAST)
    results = run_sweep(sweep, tmp_path, log=lambda m: None)
    assert results == {"proj_dim--1": "failed", "proj_dim-8": "stopped"}
    err = json.loads((tmp_path / "runs" / "proj_dim--1" / "error.json").read_text())
    assert err["returncode"] == 2
    assert any("model.proj_dim must be > 0" in line for line in err["log_tail"])
    assert not any("Traceback" in line for line in err["log_tail"])


def test_second_sweep_on_the_same_folder_refuses(tmp_path):
    from contrastlens.experiments.sweep import _lock

    held = _lock(tmp_path)  # a sweep in progress (another process holds the same kind of lock)
    try:
        sweep = Sweep("s", "smoke", {"train.seed": [0]}, overrides=FAST)
        with pytest.raises(ValueError, match="in use by another sweep"):
            run_sweep(sweep, tmp_path, log=lambda m: None)
        assert not (tmp_path / "runs").exists()  # nothing started, nothing clobbered
    finally:
        held.close()
    assert run_sweep(sweep, tmp_path, log=lambda m: None) == {"seed0": "stopped"}


def test_grid_floats_reach_the_runs_in_full():
    from contrastlens.experiments.sweep import set_strings

    spec = expand(Sweep("s", "smoke", {"optim.base_lr": [0.1234567], "train.seed": [0]}))[0]
    assert spec.run_id == "base_lr-0.123457_seed0"  # the id stays short
    assert set_strings(spec.overrides) == ["optim.base_lr=0.1234567", "train.seed=0"]


def test_recorded_commands_and_paths_hold_no_absolute_path(tmp_path, monkeypatch):
    import sys

    from contrastlens import runfolder as rf

    monkeypatch.chdir(tmp_path)
    inside = str(tmp_path / "results" / "x")
    main_py = "/somewhere/site-packages/contrastlens/__main__.py"
    argv = [main_py, "train", "--out-dir", inside, f"--out={inside}", "--set", f"out_dir={inside}"]
    assert rf.portable_argv(argv) == [
        "contrastlens",
        "train",
        "--out-dir",
        "results/x",
        "--out=results/x",
        "--set",
        "out_dir=results/x",
    ]
    assert rf.portable(sys.executable) == "python"
    assert rf.portable("/elsewhere/data") == "/elsewhere/data"  # outside: kept as given
    assert rf.portable("train.seed=3") == "train.seed=3"
