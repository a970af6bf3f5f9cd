import json

import pytest

from contrastlens.errors import ConfigError
from contrastlens.experiments import presets
from contrastlens.train.config import (
    Config,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    validate,
)


@pytest.mark.parametrize("name", list(presets.IMAGE))
def test_presets_validate_and_round_trip(name):
    cfg = presets.get(name)
    validate(cfg)
    assert config_from_dict(json.loads(json.dumps(config_to_dict(cfg)))) == cfg


def test_overrides_typed():
    cfg = apply_overrides(
        presets.get("fmnist-simclr"),
        [
            "train.batch_size=32",
            "vrn.weight=30",
            "method.within_view=false",
            "vrn.n=null",
            "data.augment.crop_scale=[0.5, 1]",
            "model.widths=16,32,64",
            "method.name=dcl",
        ],
    )
    assert cfg.train.batch_size == 32 and cfg.vrn.weight == 30.0
    assert cfg.method.within_view is False and cfg.vrn.n is None and cfg.method.name == "dcl"
    assert cfg.data.augment.crop_scale == (0.5, 1.0) and cfg.model.widths == (16, 32, 64)


@pytest.mark.parametrize(
    "item, words",
    [
        ("train.batchsize=3", ["train.batchsize", "batch_size"]),
        ("nope.x=1", ["nope", "data", "model"]),
        ("train.batch_size=abc", ["train.batch_size", "integer"]),
        ("train.batch_size=2.5", ["train.batch_size", "integer"]),
        ("method.within_view=3", ["method.within_view"]),
        ("train=3", ["section"]),
        ("train.batch_size", ["key=value"]),
    ],
)
def test_override_errors_name_the_key(item, words):
    with pytest.raises(ConfigError) as err:
        apply_overrides(Config(), [item])
    for w in words:
        assert w in str(err.value)


def test_config_file_errors():
    with pytest.raises(ConfigError, match="unknown config key optim.lr.*base_lr"):
        config_from_dict({"optim": {"lr": 0.1}})
    with pytest.raises(ConfigError, match="train.epochs: expected an integer"):
        config_from_dict({"train": {"epochs": "10"}})
    partial = config_from_dict({"method": {"name": "moco"}})
    assert partial.method.name == "moco" and partial.train.batch_size == 256


def test_value_errors():
    with pytest.raises(ConfigError, match="method.name"):
        validate(apply_overrides(Config(), ["method.name=byol"]))
    with pytest.raises(ConfigError, match="vrn.n or vrn.delta"):
        validate(apply_overrides(Config(), ["vrn.n=100", "vrn.delta=-0.01"]))


def test_one_registry_names_each_preset_kind():
    from contrastlens.errors import ConfigError
    from contrastlens.text.text_config import TextConfig

    assert set(presets.PRESETS) == set(presets.IMAGE) | set(presets.TEXT)
    assert isinstance(presets.get_text("wordnet"), TextConfig)
    with pytest.raises(ConfigError, match="text preset: contrastlens train-text"):
        presets.get("wordnet")
    with pytest.raises(ConfigError, match="image preset: contrastlens train --preset smoke"):
        presets.get_text("smoke")


@pytest.mark.parametrize("gamma", ["0", "-0.5", "1.5"])
def test_sogclr_gamma_must_be_in_zero_one(gamma):
    with pytest.raises(ConfigError, match=r"method.sogclr_gamma must be in \(0, 1\]"):
        validate(apply_overrides(Config(), ["method.name=sogclr", f"method.sogclr_gamma={gamma}"]))
    validate(apply_overrides(Config(), ["method.name=sogclr", "method.sogclr_gamma=1"]))
