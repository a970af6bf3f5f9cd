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
