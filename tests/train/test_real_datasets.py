"""The real datasets' code paths, end to end, on small fake copies (tests/data/fakes.py): STL-10
trained on train+unlabeled and evaluated, STL-10 without class_names.txt, an ImageFolder."""

import dataclasses
import os

import pytest
import torch
from data.fakes import fake_imagefolder, fake_stl10, stl10_checksums_pass

from contrastlens import runfolder as rf
from contrastlens.data import load_dataset
from contrastlens.data.datasets import STL10_CLASSES
from contrastlens.data.splits import load_split, probe_fit_split
from contrastlens.data.views import auto_workers
from contrastlens.errors import ConfigError
from contrastlens.experiments import presets
from contrastlens.experiments.evaluate_run import evaluate_run
from contrastlens.train.config import EvalConfig, ModelConfig, apply_overrides, validate
from contrastlens.train.loop import train


@pytest.fixture
def stl_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CONTRASTLENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CONTRASTLENS_OFFLINE", "1")
    stl10_checksums_pass(monkeypatch)
    return fake_stl10(tmp_path / "data", n_train=20, n_unlabeled=30, n_test=20)


def _tiny_model() -> ModelConfig:
    return ModelConfig(backbone="small_cnn", widths=(4, 8, 8), pool=1, proj_hidden=16, proj_dim=8)


def stl_config(root, **train):
    """The stl10-simclr preset (train+unlabeled) with a tiny CNN and tiny probes."""
    cfg = presets.get("stl10-simclr")
    cfg.data.root = str(root)
    cfg.model = _tiny_model()
    cfg.train = dataclasses.replace(
        cfg.train, epochs=1, batch_size=10, log_every=1, progress=False, device="cpu", **train
    )
    cfg.optim.warmup_epochs = 0
    cfg.eval = EvalConfig(linear_epochs=2, knn_k=5, table1_pairs=16)
    return cfg


def test_stl10_without_class_names_loads_every_split(stl_root):
    sizes = {"train": 20, "test": 20, "unlabeled": 30, "train+unlabeled": 50}
    for split, n in sizes.items():
        ds = load_dataset("stl10", split, root=stl_root)
        assert ds.images.shape == (n, 3, 96, 96) and ds.classes == STL10_CLASSES
    assert (ds.labels[:20] == torch.arange(20) % 10).all() and (ds.labels[20:] == -1).all()
    (stl_root / "stl10_binary" / "class_names.txt").write_text("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n")
    assert load_dataset("stl10", "test", root=stl_root, cache=False).classes[:2] == ["a", "b"]


def test_probes_fit_the_labeled_part_of_train_plus_unlabeled(stl_root):
    cfg = stl_config(stl_root)
    assert probe_fit_split(cfg.data) == "train"
    fit = load_split(cfg.data, "train")
    assert fit[0].shape[0] == 20 and int(fit[1].min()) == 0
    cfg.data.train_split = "train"
    assert probe_fit_split(cfg.data) == "train"
    cfg.data.dataset, cfg.data.train_split = "cifar10", "train"
    assert probe_fit_split(cfg.data) == "train"


def test_stl10_simclr_trains_and_evaluates_on_train_plus_unlabeled(stl_root, tmp_path):
    # Before: the probes were fitted on train+unlabeled, whose 30 unlabeled images have label
    # -1: "index -1 is out of bounds" in the kNN, and final.json was never written.
    final = train(stl_config(stl_root), tmp_path / "run")
    assert final["status"] == "finished" and final["steps"] == 5  # 50 images, batch 10
    ev = final["eval"]
    assert ev["probe_fit_split"] == "train" and ev["probe_split"] == "test"
    assert len(ev["correct"]["knn"]) == len(ev["correct"]["linear"]) == 20  # the test split
    assert ev["full"]["n"] == 50 and ev["table1"]["pairs"] == 16  # statistics: training split
    assert rf.read_json(tmp_path / "run" / rf.META)["train_size"] == 50
    again = evaluate_run(str(tmp_path / "run"), device="cpu")  # `contrastlens eval`
    assert again["probe_fit_split"] == "train"
    assert again["correct"] == ev["correct"]  # same checkpoint, same probes


def test_a_validation_split_of_unlabeled_images_is_refused(stl_root):
    cfg = apply_overrides(stl_config(stl_root), ["data.val_size=5"])
    with pytest.raises(ConfigError, match="data.val_size=5 with data.train_split='train\\+unl"):
        validate(cfg)
    validate(apply_overrides(cfg, ["data.train_split=train"]))  # labeled: fine


def test_imagefolder_simclr_trains_on_a_fake_folder(tmp_path):
    root = fake_imagefolder(tmp_path / "folder", classes=2, per_class=4, size=(40, 30))
    cfg = presets.get("imagefolder-simclr")
    assert cfg.data.workers == -1  # auto: from the cores (was a fixed 2)
    cfg.data.root, cfg.data.image_size = str(root), 32
    cfg.model = _tiny_model()
    cfg.train = dataclasses.replace(
        cfg.train, epochs=1, batch_size=4, log_every=1, progress=False, device="cpu"
    )
    final = train(cfg, tmp_path / "run")
    assert final["status"] == "finished" and final["steps"] == 2 and final["eval"] is None
    resolved = rf.read_json(tmp_path / "run" / rf.META)["resolved"]
    assert resolved["workers"] == auto_workers() >= 1 and resolved["stem"] is None


@pytest.mark.parametrize(
    "cores,local,expected",
    [(16, None, 15), (64, None, 16), (2, None, 1), (1, None, 1), (16, "4", 3), (8, "8", 1)],
)
def test_auto_workers_scale_with_the_cores(monkeypatch, cores, local, expected):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    if local is None:
        monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("LOCAL_WORLD_SIZE", local)
    assert auto_workers() == expected


def test_workers_setting_is_checked():
    cfg = presets.get("imagefolder-simclr")
    cfg.data.root = "/nonexistent"
    for ok in (-1, 0, 8):
        validate(apply_overrides(cfg, [f"data.workers={ok}"]))
    with pytest.raises(ConfigError, match="data.workers must be >= -1, got -2"):
        validate(apply_overrides(cfg, ["data.workers=-2"]))


def test_cifar_shaped_synthetic_data(tmp_path):
    # what benchmarks/gpu_smoke.py trains the cifar10-simclr ResNet-18 on: 3 x 32 x 32
    cfg = apply_overrides(presets.get("smoke"), ["data.synthetic_channels=3", "data.image_size=32"])
    images, labels = load_split(cfg.data, "train")
    assert images.shape == (64, 3, 32, 32) and images.dtype == torch.uint8
    assert not torch.equal(images, load_split(cfg.data, "test")[0])
    cfg.train = dataclasses.replace(cfg.train, epochs=1, max_steps=1, device="cpu")
    cfg.eval.at_end = False
    train(cfg, tmp_path / "rgb")
    assert rf.read_json(tmp_path / "rgb" / rf.CONFIG)["data"]["synthetic_channels"] == 3
