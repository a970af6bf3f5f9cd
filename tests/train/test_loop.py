import json
import math
import os
import stat
import time

import pytest
import torch
from train.helpers import tiny_config

from contrastlens import runfolder as rf
from contrastlens.cli import main
from contrastlens.train import loop
from contrastlens.train.checkpoint import save_checkpoint as save_atomic
from contrastlens.train.loop import TrainingDivergedError, train

TIMING = ("img_per_s", "time_s")


def _rows(path):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rf.read_jsonl(path)]


def test_dry_run_end_to_end(tmp_path, capsys):
    assert main(["train", "--dry-run", "--out-dir", str(tmp_path), "--name", "d"]) == 0
    run = rf.read_run(tmp_path / "d")
    assert run["config"]["data"]["dataset"] == "synthetic"
    assert run["meta"]["versions"]["torch"] == torch.__version__
    assert "revision" in run["meta"]["git"] and run["meta"]["train_size"] == 64
    assert [r["step"] for r in run["metrics"]] == [1, 2]
    for key in (
        "loss",
        "simclr",
        "pos_mean",
        "neg_mean",
        "neg_var",
        "excess",
        "lr",
        "alignment",
        "uniformity",
        "rankme",
        "gor_m2",
    ):
        assert key in run["metrics"][0]
    ev = run["final"]["eval"]
    assert run["final"]["status"] == "stopped" and 0 <= ev["linear_top1"] <= 1
    assert ev["table1"]["pairs"] == 64 and ev["full"]["n"] == 64
    assert "run folder" in capsys.readouterr().out


def test_resume_is_bit_identical(tmp_path):
    full = train(tiny_config(epochs=2), tmp_path / "full")
    part = train(tiny_config(epochs=2, max_steps=4), tmp_path / "part")
    assert part["status"] == "stopped" and part["steps"] == 4
    resumed = train(tiny_config(epochs=2), tmp_path / "part", resume=True)
    assert resumed["status"] == "finished" and resumed["steps"] == full["steps"] == 8
    a = torch.load(tmp_path / "full" / rf.CHECKPOINT, weights_only=False)
    b = torch.load(tmp_path / "part" / rf.CHECKPOINT, weights_only=False)
    for key, value in a["encoder"].items():
        assert torch.equal(value, b["encoder"][key]), key
    assert _rows(tmp_path / "full" / rf.METRICS) == _rows(tmp_path / "part" / rf.METRICS)
    assert len(rf.read_json(tmp_path / "part" / rf.META)["resumed"]) == 1
    # training's peak memory is recorded, and a resume carries the first stretch's peak on
    memory = resumed["memory"]
    assert memory["peak_rss_mb"] >= part["memory"]["peak_rss_mb"] > 0
    assert memory["rss_before_mb"] == part["memory"]["rss_before_mb"]


def test_sogclr_trains_logs_its_state_and_resumes_bit_identically(tmp_path):
    """The per-sample state is in the objective's state_dict, so a run stopped mid-epoch and
    resumed equals the uninterrupted run: weights, state and every metrics row."""

    def cfg(**train):
        c = tiny_config(epochs=2, **train)
        c.method.name, c.method.sogclr_gamma, c.train.log_every = "sogclr", 0.8, 1
        return c

    train(cfg(), tmp_path / "full")
    assert train(cfg(max_steps=6), tmp_path / "part")["steps"] == 6
    assert train(cfg(), tmp_path / "part", resume=True)["steps"] == 8
    a = torch.load(tmp_path / "full" / rf.CHECKPOINT, weights_only=False)
    b = torch.load(tmp_path / "part" / rf.CHECKPOINT, weights_only=False)
    for part in ("encoder", "objective"):
        assert a[part].keys() == b[part].keys()
        for key, value in a[part].items():
            assert torch.equal(value, b[part][key]), (part, key)
    state = a["objective"]["sogclr.log_u_N"]
    assert state.shape == (64,) and bool(torch.isfinite(state).all())  # 64 training images
    rows = _rows(tmp_path / "full" / rf.METRICS)
    assert rows == _rows(tmp_path / "part" / rf.METRICS)
    assert [r["sogclr_visited"] for r in rows[:5]] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert all(math.isfinite(r["sogclr_log_u_mean"]) and "sogclr" in r for r in rows)


def test_sogclr_refuses_a_checkpoint_of_another_training_set(tmp_path):
    c = tiny_config(epochs=2, max_steps=2)
    c.method.name = "sogclr"
    train(c, tmp_path / "r")
    c.data.synthetic_n, c.train.max_steps = 80, 0
    # refused by the resume rules before the state's size check (tests/losses) is reached
    with pytest.raises(ValueError, match=r"resume cannot change data\.synthetic_n \(64 -> 80\)"):
        train(c, tmp_path / "r", resume=True)


def test_curve_probes_are_neither_training_time_nor_training_memory(tmp_path, monkeypatch):
    def plain(name):
        cfg = tiny_config(epochs=2)
        cfg.eval.curve_epochs, cfg.data.val_size = (1,), 16
        return train(cfg, tmp_path / name)

    monkeypatch.setattr(loop.ProbeData, "curve_point", lambda self, p: {"linear_top1": 0.5})
    light = plain("light")
    kept = []

    def slow_heavy_probe(self, p):
        kept.append(b"\x01" * (120 * 2**20))  # the probe's data, kept after it
        transient = b"\x01" * (120 * 2**20)
        del transient
        time.sleep(2.0)
        return {"linear_top1": 0.5}

    monkeypatch.setattr(loop.ProbeData, "curve_point", slow_heavy_probe)
    heavy = plain("heavy")
    point = rf.read_jsonl(tmp_path / "heavy" / rf.CURVE)[0]
    # the point's time is the training before it, not the probe's two seconds
    assert point["train_s"] < heavy["train_time_s"] < 2.0 + light["train_time_s"]
    added = [r["memory"]["peak_rss_mb"] - r["memory"]["rss_before_mb"] for r in (light, heavy)]
    if heavy["memory"]["scope"] == "phase":  # the probe's 240 MiB are not training's
        assert added[1] < added[0] + 60, added


def test_moco_and_vrn_train_and_resume(tmp_path):
    cfg = tiny_config(epochs=2, max_steps=4)
    cfg.method.name, cfg.method.moco_queue, cfg.vrn.weight = "moco", 32, 30.0
    train(cfg, tmp_path / "m")
    cfg.train.max_steps = 0
    out = train(cfg, tmp_path / "m", resume=True)
    rows = rf.read_jsonl(tmp_path / "m" / rf.METRICS)
    assert out["status"] == "finished" and {"moco", "vrn", "loss"} <= set(rows[-1])
    ref = tiny_config(epochs=2)
    ref.method.name, ref.method.moco_queue, ref.vrn.weight = "moco", 32, 30.0
    train(ref, tmp_path / "ref")
    assert _rows(tmp_path / "ref" / rf.METRICS) == _rows(tmp_path / "m" / rf.METRICS)


@pytest.mark.parametrize("method", ["dcl", "dhel", "siglip", "infonce", "sogclr"])
def test_methods_run(tmp_path, method):
    cfg = tiny_config(epochs=1, max_steps=2)
    cfg.method.name = method
    assert train(cfg, tmp_path / method)["steps"] == 2


def test_nan_loss_stops_and_keeps_checkpoint(tmp_path, monkeypatch):
    train(tiny_config(epochs=3, max_steps=4), tmp_path / "r")  # a good checkpoint at step 4
    before = torch.load(tmp_path / "r" / rf.CHECKPOINT, weights_only=False)["step"]
    real = loop.build_objective

    def poisoned(*args, **kwargs):
        obj = real(*args, **kwargs)
        forward = obj.forward

        def nan_forward(*a, **k):
            terms = forward(*a, **k)
            terms["loss"] = terms["loss"] * float("nan")
            return terms

        obj.forward = nan_forward
        return obj

    monkeypatch.setattr(loop, "build_objective", poisoned)
    with pytest.raises(TrainingDivergedError, match="step 5.*checkpoint.pt"):
        train(tiny_config(epochs=3), tmp_path / "r", resume=True)
    final = rf.read_json(tmp_path / "r" / rf.FINAL)
    assert final["status"] == "diverged" and "NaN" in final["message"].replace("nan", "NaN")
    assert torch.load(tmp_path / "r" / rf.CHECKPOINT, weights_only=False)["step"] == before


def test_atomic_save_never_leaves_half_files(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_atomic({"v": 1}, path)

    def broken(obj, f):
        f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError):
        save_atomic({"v": 2}, path)
    monkeypatch.undo()
    assert torch.load(path)["v"] == 1 and [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_atomic_writes_keep_the_usual_permissions(tmp_path):
    # mkstemp creates 0600 files; results must get what a plain open() gives under the umask
    umask = os.umask(0o022)
    try:
        save_atomic({"v": 1}, tmp_path / "c.pt")
        rf.write_text("{}", tmp_path / "r.json")
    finally:
        os.umask(umask)
    for name in ("c.pt", "r.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_atomic_text_write_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "r.json"
    rf.write_text("old", path)
    with pytest.raises(TypeError):
        rf.write_text(None, path)  # type: ignore[arg-type]
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_existing_run_needs_resume(tmp_path):
    train(tiny_config(epochs=1, max_steps=1), tmp_path / "r")
    with pytest.raises(ValueError, match="--resume"):
        train(tiny_config(epochs=1), tmp_path / "r")
    final = json.loads((tmp_path / "r" / rf.FINAL).read_text())
    assert final["steps"] == 1


def test_micro_batch_gor_and_precision_are_recorded(tmp_path):
    cfg = tiny_config(epochs=1, max_steps=2, micro_batch=4)
    cfg.gor.weight, cfg.vrn.weight, cfg.vrn.lr_ref = 1.0, 30.0, 0.3 * 16 / 256 / 2
    train(cfg, tmp_path / "g")
    run = rf.read_run(tmp_path / "g")
    assert {"gor", "vrn", "loss"} <= set(run["metrics"][0])
    assert run["meta"]["resolved"]["vrn_weight"] == pytest.approx(15.0)  # 30 x lr_ref / lr
    assert set(run["meta"]["precision"]) == {"amp", "channels_last", "tf32"}
    assert run["meta"]["cuda"] is None  # the GPU and its cuDNN setting, on CUDA only
    off = tiny_config(epochs=1, max_steps=1, amp="off", channels_last="off")
    train(off, tmp_path / "off")
    assert rf.read_run(tmp_path / "off")["meta"]["precision"] == {
        "amp": "off",
        "channels_last": False,
        "tf32": False,
    }


def test_resume_from_python_applies_the_resume_rules(tmp_path):
    from contrastlens.errors import ConfigError

    train(tiny_config(epochs=2, max_steps=4), tmp_path / "r")
    changed = tiny_config(epochs=2)
    changed.model.proj_dim = 4  # the checkpoint's head has another shape
    with pytest.raises(ConfigError, match=r"resume cannot change model\.proj_dim \(8 -> 4\)"):
        train(changed, tmp_path / "r", resume=True)
    assert rf.read_json(tmp_path / "r" / rf.CONFIG)["model"]["proj_dim"] == 8  # untouched
    lower = tiny_config(epochs=2)
    lower.optim.base_lr = 0.1  # settable: recorded, then used for the rest of the run
    final = train(lower, tmp_path / "r", resume=True)
    meta = rf.read_json(tmp_path / "r" / rf.META)
    assert final["status"] == "finished" and final["steps"] == 8
    assert meta["amended"][0]["changes"]["optim.base_lr"] == [0.3, 0.1]
    assert meta["amended"][0]["changes"]["train.max_steps"] == [4, 0]
    assert rf.read_json(tmp_path / "r" / rf.CONFIG)["optim"]["base_lr"] == 0.1


def test_resume_from_python_takes_the_folder_lock(tmp_path):
    from contrastlens.train.folder import lock_run_folder

    train(tiny_config(epochs=2, max_steps=4), tmp_path / "r")
    held = lock_run_folder(tmp_path / "r")  # another trainer is still on this folder
    try:
        with pytest.raises(ValueError, match="in use by another training process"):
            train(tiny_config(epochs=2), tmp_path / "r", resume=True)
        with pytest.raises(ValueError, match="in use by another training process"):
            train(tiny_config(epochs=2), tmp_path / "r")
    finally:
        os.close(held)
    assert rf.read_json(tmp_path / "r" / rf.FINAL)["steps"] == 4  # nothing was overwritten


def test_resume_needs_a_run_with_a_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        train(tiny_config(epochs=1), tmp_path / "none", resume=True)
    assert not (tmp_path / "none").exists()  # the failed call leaves no empty folder behind


def test_curve_probes_score_validation_and_the_end(tmp_path):
    from contrastlens.errors import ConfigError

    cfg = tiny_config(epochs=3)
    cfg.eval.curve_epochs = (1,)
    with pytest.raises(ConfigError, match="data.val_size"):
        train(cfg, tmp_path / "no-val")  # curves choose on validation: never the test split
    cfg.data.val_size, cfg.eval.curve_linear_epochs = 16, 2
    cfg.eval.at_end, cfg.eval.final_split = True, "test"
    final = train(cfg, tmp_path / "c")
    points = rf.read_jsonl(tmp_path / "c" / rf.CURVE)
    assert [p["epoch"] for p in points] == [1, 3] and points[-1]["end"] is True
    assert {p["split"] for p in points} == {"val"}
    ev = final["eval"]  # test once, at the end; validation too (synthetic: 64 images)
    assert ev["probe_split"] == "test" and ev["also"]["split"] == "val"
    assert len(ev["also"]["correct"]["linear"]) == 64 and 0 <= ev["also"]["linear_top1"] <= 1
