from contrastlens.cli import main


def test_unknown_key_is_a_clear_error(capsys):
    assert main(["train", "--preset", "smoke", "--set", "train.bach_size=3"]) == 2
    err = capsys.readouterr().err
    assert "train.bach_size" in err and "batch_size" in err and "Traceback" not in err


def test_bad_preset_and_type(capsys):
    assert main(["train", "--preset", "nope"]) == 2
    assert "fmnist-simclr" in capsys.readouterr().err
    assert main(["train", "--preset", "smoke", "--set", "train.epochs=many"]) == 2
    assert "train.epochs" in capsys.readouterr().err


def test_config_file_and_print(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text('{"method": {"name": "dcl"}, "train": {"batch_size": 32}}')
    assert main(["train", "--preset", "smoke", "--config", str(path), "--print-config"]) == 0
    out = capsys.readouterr().out
    assert '"dcl"' in out and '"batch_size": 32' in out
    path.write_text('{"train": {"batch": 32}}')
    assert main(["train", "--config", str(path)]) == 2
    assert "train.batch" in capsys.readouterr().err
    assert main(["train", "--list-presets"]) == 0
    assert "fmnist-quick" in capsys.readouterr().out


def test_run_folders_older_than_a_setting_resume_as_they_ran(tmp_path, capsys):
    # model.stem, data.synthetic_channels, train.cudnn_benchmark and train.tf32 are newer than
    # the run folders already on disk: --resume refused them ("cannot change model.stem
    # (None -> 'auto')"); they now take the value the run ran with, and nothing is "amended".
    import json

    from contrastlens import runfolder as rf
    from contrastlens.train.config import PREDATING, config_from_dict, with_predating

    args = ["train", "--dry-run", "--out-dir", str(tmp_path), "--name", "old"]
    assert main(args) == 0
    config = tmp_path / "old" / rf.CONFIG
    stored = json.loads(config.read_text())
    for section, key in PREDATING:
        del stored[section][key]
    config.write_text(json.dumps(stored))
    cfg = config_from_dict(with_predating(stored))
    assert (cfg.model.stem, cfg.train.tf32, cfg.train.cudnn_benchmark) == ("cifar", True, False)
    assert main(["train", "--resume", str(tmp_path / "old"), "--set", "train.max_steps=3"]) == 0
    (amended,) = rf.read_json(tmp_path / "old" / rf.META)["amended"]
    assert list(amended["changes"]) == ["train.max_steps"]
    assert main(["eval", str(tmp_path / "old"), "--device", "cpu"]) == 0
    capsys.readouterr()
