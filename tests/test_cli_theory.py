"""`contrastlens theory ...` and `contrastlens simulate ...` end to end (tiny sizes)."""

import json

import pytest

from contrastlens.cli import main


def test_theory_siglip_excessive_and_not(capsys):
    assert main(["theory", "siglip", "--t", "5", "--b", "-2", "--n", "8"]) == 0
    out = capsys.readouterr().out
    assert "EXCESSIVE SEPARATION" in out and "positive -0.3798, negative -0.7342" in out
    assert main(["theory", "siglip", "--t", "5", "--b", "3", "--n", "8", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["excessive"] is False and data["pos"] == 1.0
    assert data["neg"] == pytest.approx(-1 / 7)
    assert main(["theory", "siglip", "--t", "5", "--b", "-2", "--n", "8", "--d", "4"]) == 0
    assert "WARNING: d = 4 < n = 8" in capsys.readouterr().out


def test_theory_minibatch_variance_optimum_tradeoff(capsys):
    assert main(["theory", "minibatch-variance", "--n", "8", "--m", "4"]) == 0
    assert "[0.0272, 0.2177]" in capsys.readouterr().out
    assert main(["theory", "minibatch-variance", "--n", "4", "--m", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["lower"] == pytest.approx(2 / 9) and data["upper"] == pytest.approx(8 / 9)
    assert main(["theory", "optimum", "--n", "50000"]) == 0
    assert "-2.00004e-05" in capsys.readouterr().out
    assert main(["theory", "tradeoff", "--n", "8", "--neg", "-0.7342", "--pos", "-0.3798"]) == 0
    out = capsys.readouterr().out
    assert "ceiling 0.4087" in out and "EXCESSIVE SEPARATION" in out


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["theory", "minibatch-variance", "--n", "8", "--m", "3"], "must divide n"),
        (["theory", "minibatch-variance", "--n", "8", "--m", "16"], "larger than"),
        (["theory", "optimum", "--n", "1"], ">= 2"),
        (["theory", "siglip", "--t", "0", "--b", "1", "--n", "8"], "t must be > 0"),
        (["theory", "tradeoff", "--n", "8", "--neg", "-3"], "in [-1, 1]"),
        (["simulate", "--n", "10", "--batch", "4", "--out", "unused"], "divide n"),
        (["simulate", "--n", "8", "--batch", "16", "--out", "unused"], "larger than"),
        (["simulate", "--n", "1", "--batch", "1", "--out", "unused"], ">= 2"),
        (["simulate", "--loss", "siglip", "--temperature", "0.5", "--out", "unused"], "does not"),
    ],
)
def test_bad_input_is_a_clear_error(argv, msg, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_simulate_writes_table_figures_and_json(tmp_path, capsys):
    out = tmp_path / "sim"
    argv = ["simulate", "--loss", "simclr", "--n", "8", "--d", "8", "--batch", "4"]
    argv += ["--vrn-weight", "30", "--steps", "100", "--min-steps", "300", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "full_batch" in text and "mini_batch_vrn" in text and "in bounds" in text
    for name in ("simulate_hist.png", "simulate_variance.png", "simulate.json"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "simulate.json").read_text())
    assert summary["config"]["n"] == 8 and summary["theory"]["thm55_bounds"][1] == pytest.approx(
        32 / 147
    )
    assert set(summary["runs"]) == {"full_batch", "mini_batch", "mini_batch_vrn"}
    assert [row["m"] for row in summary["variance_vs_batch"]] == [4, 8]
    assert summary["runs"]["full_batch"]["neg_mean"] == pytest.approx(-1 / 7, abs=1e-3)


def test_simulate_warns_when_dimension_too_small(tmp_path, capsys):
    argv = ["simulate", "--n", "8", "--d", "4", "--batch", "4", "--vrn-weight", "0"]
    argv += ["--steps", "5", "--min-steps", "5", "--no-sweep", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert "WARNING: d = 4 < n-1 = 7" in capsys.readouterr().out
