from train.helpers import tiny_config

from contrastlens import runfolder as rf
from contrastlens.cli import main
from contrastlens.data.splits import load_split
from contrastlens.eval import evaluate
from contrastlens.train.loop import train


def test_eval_cli_writes_into_run_folder(tmp_path, capsys, monkeypatch):
    train(tiny_config(epochs=1), tmp_path / "r")
    args = ["eval", str(tmp_path / "r"), "--set", "eval.linear_epochs=2"]
    seen = []  # the lr of every linear probe the evaluation fits
    real_fit = evaluate.LinearProbe.fit
    monkeypatch.setattr(
        evaluate.LinearProbe, "fit", lambda p, *a: seen.append(p.lr) or real_fit(p, *a)
    )
    assert main([*args, "--set", "eval.linear_lr=0.7"]) == 0
    assert seen == [0.7] and rf.read_json(tmp_path / "r" / rf.EVAL)["linear_lr"] == 0.7
    assert main(args) == 0
    ev = rf.read_json(tmp_path / "r" / rf.EVAL)
    final = rf.read_json(tmp_path / "r" / rf.FINAL)
    assert final["eval"] == ev and ev["linear_epochs"] == 2 and ev["checkpoint_step"] == 4
    assert ev["linear_lr"] == seen[-1] == 0.1  # the paper's protocol by default
    assert {"linear_top1", "linear_top5", "knn_top1", "table1", "full"} <= set(ev)
    assert ev["full"]["n"] == 64 and ev["table1"]["neg_var"] >= 0
    # the exact negatives split by the training labels: same-class share from the labels alone
    _, ytr = load_split(tiny_config().data, tiny_config().data.train_split)
    same = sum(c * (c - 1) for c in ytr.bincount().tolist())
    by = ev["full"]["by_label"]
    assert by["same"]["count"] == same and by["different"]["count"] == 64 * 63 - same
    assert by["same"]["share"] == same / (64 * 63) and by["labels"] == len(set(ytr.tolist()))
    assert by["same"]["var"] >= 0 and by["different"]["var"] >= 0
    t1 = ev["table1"]  # second moment >= the Welch floor of n = 64 unit vectors in R^8
    assert t1["welch_floor"] == (64 - 8) / (8 * 63) and t1["neg_second_moment"] >= 0
    assert {"alignment", "uniformity", "rankme"} <= set(t1["diagnostics"])
    assert "linear_top1" in capsys.readouterr().out
    # which scored images each probe got right: as many as the split has, and they average to
    # the accuracies (a paired difference over the same images rests on them)
    flags = {k: rf.decode_flags(v) for k, v in ev["correct"].items()}
    assert len(flags["linear"]) == len(flags["knn"]) == 64  # the tiny config's test split
    assert sum(flags["linear"]) / 64 == ev["linear_top1"]
    assert sum(flags["knn"]) / 64 == ev["knn_top1"]
    assert ev["evaluated"]["git"].keys() == {"revision", "dirty"}


def test_eval_errors(tmp_path, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["eval", str(tmp_path), "--set", "train.epochs=3"]) == 2
    assert "only changes eval.* keys" in capsys.readouterr().err
