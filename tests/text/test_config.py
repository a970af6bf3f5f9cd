"""TextConfig: presets, key=value overrides, JSON configs, and the messages bad input gets."""

import json

import pytest

from contrastlens.cli import main
from contrastlens.errors import ConfigError
from contrastlens.experiments import presets
from contrastlens.text import text_config as config


def test_overrides_are_typed_and_validated():
    cfg = config.apply_overrides(
        presets.get_text("wordnet"), ["arm=mnrl-vrn", "lr=1e-4", "batch_size=64", "vrn_weight=10"]
    )
    assert (cfg.arm, cfg.lr, cfg.batch_size, cfg.vrn_weight) == ("mnrl-vrn", 1e-4, 64, 10.0)
    assert isinstance(cfg.vrn_weight, float) and cfg.run_name() == "mnrl-vrn_bs64_seed0"
    cached = config.apply_overrides(
        presets.get_text("wordnet"), ["arm=cached-mnrl", "batch_size=256", "mini_batch_size=16"]
    )
    assert cached.mini_batch() == 16
    assert presets.get_text("wordnet").mini_batch() == 16  # plain arms: the batch itself


@pytest.mark.parametrize(
    "item, message",
    [
        ("arm=simclr", "arm must be one of"),
        ("batch_size=1", "batch_size must be >= 2"),
        ("batch_size=abc", "batch_size must be a finite int"),
        ("lr=nan", "lr must be a finite float"),
        ("lr=0", "lr must be > 0"),
        ("mini_batch_size=8", "mini_batch_size is cached-mnrl's setting"),
        ("train_pairs=8", "less than one batch"),
        ("eval_split=train", "eval_split must be validation or test"),
        ("amp=fp16", "amp must be one of"),
        ("warmup_ratio=1", "warmup_ratio must be in [0, 1)"),
        ("eval_synsets=1", "eval_synsets must be 0 (all) or >= 2"),
        ("name=a/b", "plain folder name"),
        ("temperature=0.1", "unknown text setting 'temperature'"),
        ("gamma=0", "gamma must be in (0, 1]"),
        ("gamma=1.5", "gamma must be in (0, 1]"),
        ("mask_duplicates=maybe", "mask_duplicates must be true or false"),
        ("lr", "expects key=value"),
    ],
)
def test_bad_overrides_name_the_problem(item, message):
    with pytest.raises(
        ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        config.apply_overrides(presets.get_text("wordnet"), [item])


def test_json_config_merges_and_checks_types(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"arm": "mnrl-gor", "gor_weight": 2, "seed": 3}))
    cfg = config.merge(presets.get_text("wordnet"), config.read(good), where=str(good))
    assert (cfg.arm, cfg.gor_weight, cfg.seed, cfg.train_pairs) == ("mnrl-gor", 2.0, 3, 8000)
    for bad, message in (
        ({"seed": 1.5}, "seed must be a int"),
        ({"lr": "fast"}, "lr must be a finite float"),
        ({"batch_size": True}, "batch_size must be a int"),
        ({"wat": 1}, "unknown text setting 'wat'"),
    ):
        with pytest.raises(ConfigError, match=message):
            config.merge(presets.get_text("wordnet"), bad)
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ConfigError, match="JSON object"):
        config.read(tmp_path / "list.json")
    with pytest.raises(ConfigError, match="not a readable JSON"):
        config.read(tmp_path / "missing.json")


def test_cli_prints_config_and_refuses_bad_input(tmp_path, capsys):
    assert (
        main(
            [
                "train-text",
                "--preset",
                "wordnet-smoke",
                "--set",
                "arm=mnrl-vrn",
                "--name",
                "x",
                "--print-config",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["arm"] == "mnrl-vrn" and printed["name"] == "x" and printed["train_pairs"] == 64
    assert main(["train-text", "--set", "batch_size=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch_size must be >= 2" in err[0]


def test_overrides_return_a_new_config():
    base = presets.get_text("wordnet")
    cfg = config.apply_overrides(base, ["batch_size=64"])
    merged = config.merge(base, {"lr": 1e-4})
    assert (cfg.batch_size, merged.lr) == (64, 1e-4)
    assert (base.batch_size, base.lr) == (16, 5e-5)  # the preset it started from is unchanged


def test_global_arm_and_duplicate_masking_settings():
    cfg = config.apply_overrides(
        presets.get_text("wordnet"), ["arm=global", "gamma=0.5", "mask_duplicates=true"]
    )
    assert (cfg.arm, cfg.gamma, cfg.mask_duplicates) == ("global", 0.5, True)
    assert cfg.run_name() == "global-masked_bs16_seed0"
    plain = presets.get_text("wordnet")
    assert (plain.gamma, plain.mask_duplicates, plain.run_name()) == (0.9, False, "mnrl_bs16_seed0")
    for arm in config.MASKABLE:
        assert config.apply_overrides(plain, [f"arm={arm}", "mask_duplicates=True"]).mask_duplicates
    for arm in ("mnrl-gor", "zero-shot"):
        with pytest.raises(ConfigError, match="mask_duplicates applies to mnrl, mnrl-vrn"):
            config.apply_overrides(plain, [f"arm={arm}", "mask_duplicates=1"])
    assert not config.apply_overrides(plain, ["mask_duplicates=False"]).mask_duplicates
    merged = config.merge(plain, {"arm": "global", "mask_duplicates": True, "gamma": 1})
    assert merged.mask_duplicates is True and merged.gamma == 1.0
    with pytest.raises(ConfigError, match="mask_duplicates must be a bool"):
        config.merge(plain, {"mask_duplicates": 1})
