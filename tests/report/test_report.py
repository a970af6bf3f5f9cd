"""The report reads run folders only: every number in it comes from their JSON files."""

import json

from contrastlens import runfolder as rf
from contrastlens.report.build import SECTIONS, build_report
from contrastlens.report.runs import find_runs
from contrastlens.report.stats import paired_difference, paired_difference_items


def _run(
    root, name, method, batch, weight, seed, lin, knn, neg_var, status="finished", val=0, t=0.2
):
    d = root / "runs" / name
    d.mkdir(parents=True)
    cfg = {
        "method": {"name": method, "temperature": t},
        "train": {"batch_size": batch, "seed": seed},
        "vrn": {"weight": weight},
        "data": {"val_size": val},
    }
    (d / "config.json").write_text(json.dumps(cfg))
    hist = {"edges": [-1.0, -0.5, 0.0, 0.5, 1.0], "counts": [1, 5, 3, 1]}
    final = {
        "status": status,
        "message": "loss became nan at step 7" if status == "diverged" else "",
        "train_time_s": 12.0,
        "eval": {
            "linear_top1": lin,
            "knn_top1": knn,
            "table1": {"neg_mean": -0.01, "neg_var": neg_var, "neg_hist": hist},
            "full": {"neg_var": neg_var / 2},
        },
    }
    (d / "final.json").write_text(json.dumps(final))
    (d / "meta.json").write_text(json.dumps({"versions": {"torch": "x"}}))


def test_report_tables_come_from_run_folders(tmp_path):
    for seed, (l0, l1) in enumerate([(0.80, 0.82), (0.81, 0.84), (0.79, 0.80)]):
        # a run ended by train.max_steps ("stopped") is a complete result, as in the sweep
        status = "stopped" if seed == 1 else "finished"
        _run(tmp_path, f"a{seed}", "simclr", 32, 0.0, seed, l0, 0.7, 0.15, status=status)
        _run(tmp_path, f"b{seed}", "simclr", 32, 30.0, seed, l1, 0.71, 0.09)
    _run(tmp_path, "bad", "moco", 32, 0.0, 0, 0.1, 0.1, 0.1, status="diverged")
    # a selection run on the validation split: reported in its section, not in the headline
    _run(tmp_path, "sel", "simclr", 32, 10.0, 0, 0.555, 0.5, 0.1, val=1000)
    (tmp_path / "floor.json").write_text(
        json.dumps(
            {
                "linear_top1": 0.7712,
                "knn_top1": 0.6543,
                "knn_top1_k10": 0.7011,
                "knn_k": 200,
                "feature_dim": 784,
                "n_train": 100,
                "probe_split": "test",
            }
        )
    )
    (tmp_path / "runs" / "crashed").mkdir()
    (tmp_path / "runs" / "crashed" / "sweep_run.json").write_text(
        json.dumps({"values": {"method.name": "dcl", "train.batch_size": 16}})
    )
    (tmp_path / "runs" / "crashed" / "error.json").write_text(
        json.dumps({"returncode": 1, "log_tail": ["ValueError: boom"]})
    )

    # a follow-up sweep run into the same folder: its command is listed with the study's
    (tmp_path / "followup").mkdir()
    (tmp_path / "followup" / "sweep.json").write_text(
        json.dumps(
            {
                "argv": [
                    "/x/bin/contrastlens",
                    "sweep",
                    "--preset",
                    "p",
                    "--grid",
                    "vrn.weight=25",
                    "--out",
                    "some dir",
                ]
            }
        )
    )

    statuses = {r.name: r.status for r in find_runs(tmp_path)}
    assert statuses["bad"] == "diverged" and statuses["crashed"] == "failed"
    assert statuses["a0"] == "finished" and statuses["a1"] == "stopped"

    rep = build_report(tmp_path)
    md = rep["md"].read_text()
    for title in SECTIONS.values():
        assert f"## {title}" in md, title
    header, rows = rep["headline"]
    base = next(r for r in rows if r[3] == "0")
    vrn = next(r for r in rows if r[3] == "30")
    assert base[5] == "80.00 ± 1.00" and base[4] == "3"
    # paired differences 2, 3, 1 points: mean +2.00, t-interval 2 ± 4.303 * 1 / sqrt(3)
    # * marks an interval over the seeds alone: these runs saved no per-image results
    assert vrn[6] == "+2.00 [-0.48, +4.48]*"
    assert "0.1500" in md and "0.0900" in md and "0.0450" in md  # Table 1 and exact variance
    assert "ValueError: boom" in md and "diverged" in md  # failures are reported, not hidden
    assert rep["runs"] == {"total": 8, "done": 6, "failed": 2}
    assert not any(r[3] == "10" for r in rows)  # the selection run is not a test result
    assert "| sel | finished | simclr + VRN λ 10 | 55.50 | 50.00 | 0.1000 |" in md
    # the setup says how many runs were scored on test and how many on validation only
    assert "8 run folders under" in md and "for the test split (6 complete: finished" in md
    assert "2 failed, 0 unfinished) and 1 for the validation split only" in md
    assert "| raw pixels (the floor) | – | 77.12 | 65.43 | 70.11 |" in md
    assert "| simclr, batch 32, t 0.2, VRN off | 3 | 80.00 ± 1.00 | 70.00 ± 0.00 |" in md
    assert "contrastlens sweep --preset p --grid vrn.weight=25 --out 'some dir'" in md
    html = rep["html"].read_text()
    assert "Not shown: the grid has a single temperature." in md
    assert html.count("data:image/png;base64,") >= 1  # one batch: the histograms
    assert 'src="http' not in html
    assert (tmp_path / "neg_hist.png").is_file()


def test_report_of_a_missing_folder_is_an_error_and_creates_nothing(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="not a directory"):
        build_report(tmp_path / "nope")
    assert not (tmp_path / "nope").exists()


def test_a_floor_on_validation_is_compared_with_the_validation_runs(tmp_path):
    # a pilot: every run scored on validation, and the floor measured on the same split
    _run(tmp_path, "pilot", "simclr", 32, 0.0, 0, 0.8765, 0.8123, 0.1, val=1000)
    floor = {"linear_top1": 0.80, "knn_top1": 0.78, "knn_top1_k10": 0.84, "probe_split": "val"}
    (tmp_path / "floor.json").write_text(json.dumps(floor))
    md = build_report(tmp_path)["md"].read_text()
    row = next(ln for ln in md.splitlines() if ln.startswith("| simclr, batch 32"))
    assert "87.65" in row and "81.23" in row and "scored on the val split" in md


def _arm(root, name, seed, lin, *, batch=32, micro=0, gor=0.0, secs=100.0, peak=1000.0, end=True):
    """A v2-style run: GOR and micro-batches in its config, memory and a curve in its folder
    (its one point at the end of training unless `end` is False: runs older than that mark)."""
    _run(root, name, "simclr", batch, 0.0, seed, lin, lin - 0.1, 0.01)
    d = root / "runs" / name
    cfg = json.loads((d / "config.json").read_text())
    cfg["train"]["micro_batch"], cfg["gor"] = micro, {"weight": gor}
    (d / "config.json").write_text(json.dumps(cfg))
    final = json.loads((d / "final.json").read_text())
    final["train_time_s"] = secs
    final["memory"] = {"rss_before_mb": 800.0, "peak_rss_mb": peak}
    (d / "final.json").write_text(json.dumps(final))
    point = {"epoch": 2, "train_s": secs / 2, "linear_top1": lin - 0.05, "knn_top1": 0.5}
    curve = [point | ({"end": True} if end else {})]
    (d / "curve.jsonl").write_text("".join(json.dumps(p) + "\n" for p in curve))


def test_arms_are_compared_with_simclr_at_the_same_physical_batch(tmp_path):
    for seed, (base, gor, cached) in enumerate([(0.80, 0.81, 0.83), (0.82, 0.84, 0.86)]):
        _arm(tmp_path, f"simclr{seed}", seed, base)
        _arm(tmp_path, f"gor{seed}", seed, gor, gor=1.0, end=False)  # same batch, method, VRN
        _arm(tmp_path, f"cached{seed}", seed, cached, batch=512, micro=32, secs=300.0)
        _arm(tmp_path, f"big{seed}", seed, 0.9, batch=512, peak=3000.0)  # not a baseline at 32
        # two processes with 32 each: 32 in memory, but not the same arm as one process's 32
        _arm(tmp_path, f"ddp{seed}", seed, 0.85, batch=64, micro=32)
        meta = tmp_path / "runs" / f"ddp{seed}" / "meta.json"
        meta.write_text(json.dumps({"world_size": 2}))
    rep = build_report(tmp_path)
    rows = {(r[0], r[2]): r for r in rep["arms"][1]}
    assert set(rows) == {
        ("32", "simclr"),
        ("32", "simclr + GOR 1"),
        ("32", "simclr, cached batch 512"),
        ("512", "simclr"),
        ("32", "simclr, batch 64 over 2 processes"),
    }
    assert rows[("32", "simclr")][5] == "(baseline)"
    assert rows[("32", "simclr")][4] == "81.00 ± 1.41"
    # GOR: differences 1 and 2 points; cached: 3 and 4 points, at 3x the time, same memory
    assert rows[("32", "simclr + GOR 1")][5] == "+1.50 [-4.85, +7.85]*"
    cached = rows[("32", "simclr, cached batch 512")]
    assert cached[5] == "+3.50 [-2.85, +9.85]*" and cached[10] == "3.00"
    assert cached[11] == "1,000 (+200)" and rows[("512", "simclr")][11] == "3,000 (+2,200)"
    # the headline keeps GOR apart from plain SimCLR (it used to overwrite it, seed by seed)
    head = {(r[0], r[1]): r for r in rep["headline"][1]}
    assert head[("simclr", "32")][5] == "81.00 ± 1.41"
    assert head[("simclr + GOR 1", "32")][5] == "82.50 ± 2.12"
    md = rep["md"].read_text()
    assert (tmp_path / "acc_vs_time.png").is_file()
    # the curve's end: the arm minus SimCLR at the same physical batch, paired by seed
    cached_curve = "| 32 | 0.2 | simclr, cached batch 512 | 2 | 79.50 (50.00) at 150 s |"
    assert f"{cached_curve} +3.50 [-2.85, +9.85] |" in md
    assert "| 512 | 0.2 | simclr | 2 | 85.00 (50.00) at 50 s | (baseline) |" in md
    assert "| simclr + GOR 1 | 2 | 77.50 (50.00) at 50 s | – |" in md  # no end point
    assert "Δ: each arm minus SimCLR" in md
    assert "| cached1 | finished | 86.00 | 76.00 | 300 | – | 1000 |" in md  # with its memory


def test_a_curve_without_an_end_point_has_no_difference_at_the_end(tmp_path):
    """Runs made before the trainer marked the end of training: no Δ column, no Δ sentence."""
    for seed, lin in enumerate((0.80, 0.82)):
        _arm(tmp_path, f"simclr{seed}", seed, lin, end=False)
        _arm(tmp_path, f"gor{seed}", seed, lin + 0.01, gor=1.0, end=False)
    md = build_report(tmp_path)["md"].read_text()
    assert "| simclr + GOR 1 | 2 | 77.00 (50.00) at 50 s |" in md
    assert "Δ linear at the end" not in md and "Δ: each arm minus SimCLR" not in md


def test_deltas_count_the_scored_images_where_runs_saved_them(tmp_path):
    # 2 seeds x 8 scored images per arm: which images each probe got right (eval.correct)
    flags = {
        "a0": "11110000",
        "a1": "11100000",
        "b0": "11111000",
        "b1": "11110100",
        "c0": "11111100",
        "c1": "11111100",
    }
    for name, bits in flags.items():
        weight = {"a": 0.0, "b": 30.0, "c": 100.0}[name[0]]
        _run(tmp_path, name, "simclr", 32, weight, int(name[1]), bits.count("1") / 8, 0.5, 0.1)
        if name != "c1":  # one run without per-image results: its arm falls back to the seeds
            final = json.loads((tmp_path / "runs" / name / "final.json").read_text())
            final["eval"]["correct"] = {"linear": bits, "knn": bits}
            (tmp_path / "runs" / name / "final.json").write_text(json.dumps(final))
    rows = {r[3]: r for r in build_report(tmp_path)["headline"][1]}
    a = {s: rf.decode_flags(flags[f"a{s}"]) for s in (0, 1)}
    b = {s: rf.decode_flags(flags[f"b{s}"]) for s in (0, 1)}
    assert rows["30"][6] == paired_difference_items(a, b).fmt(100)  # not the seeds-only interval:
    assert rows["30"][6] != paired_difference({0: 4 / 8, 1: 3 / 8}, {0: 5 / 8, 1: 5 / 8}).fmt(100)
    assert "*" not in rows["30"][6] and rows["100"][6].endswith("*")


def test_each_arm_is_one_line_across_temperatures_whatever_its_weight(tmp_path):
    """VRN's weight is chosen per temperature: the temperature figure joins an arm's points by
    VRN on/off, not by weight, with 95% intervals over seeds."""
    from contrastlens.report.build import KNN, LINEAR, _series_vs_temperature
    from contrastlens.report.runs import find_runs

    weights = {1.0: 10.0, 0.5: 30.0, 0.2: 100.0}
    for t, w in weights.items():
        for seed in range(3):
            lin = 0.80 + 0.01 * seed - 0.05 * t
            _run(tmp_path, f"s{t}_{seed}", "simclr", 32, 0.0, seed, lin, 0.7, 0.1, t=t)
            _run(tmp_path, f"v{t}_{seed}", "simclr", 32, w, seed, lin + 0.02, 0.7, 0.05, t=t)
            _run(tmp_path, f"g{t}_{seed}", "sogclr", 32, 0.0, seed, lin + 0.01, 0.7, 0.1, t=t)
    series = _series_vs_temperature(find_runs(tmp_path), LINEAR)
    assert set(series) == {("simclr", 32, False), ("simclr", 32, True), ("sogclr", 32, False)}
    vrn = series[("simclr", 32, True)]
    assert [t for t, _ in vrn] == [0.2, 0.5, 1.0]
    assert vrn[0][1].n == 3 and abs(vrn[0][1].mean - (0.81 - 0.01 + 0.02)) < 1e-9
    assert _series_vs_temperature(find_runs(tmp_path), KNN)  # kNN too
    (tmp_path / "acc_vs_batch.png").write_bytes(b"left by an earlier report")
    out = build_report(tmp_path)
    assert (tmp_path / "temperature.png").is_file()
    md = out["md"].read_text()
    assert SECTIONS["temperature"] in md and "temperature.png" in md
    # one batch size: no figures against batch size (the stale one is gone), and why
    assert md.count("Not shown: no arm ran at more than one batch size.") == 2
    assert not (tmp_path / "acc_vs_batch.png").exists()
    _run(tmp_path, "b64", "simclr", 64, 0.0, 0, 0.8, 0.7, 0.1, t=1.0)
    md = build_report(tmp_path)["md"].read_text()
    assert (tmp_path / "acc_vs_batch.png").is_file()  # (these runs store no second moment)
    assert "more than one batch size" not in md


def test_the_end_of_training_on_validation_is_its_own_table(tmp_path):
    """A run scored on test also scores validation with the same probes (eval.also): the report
    compares the arms there too, its interval over seeds and validation images."""
    flags = {"a0": "11110000", "a1": "11100000", "b0": "11111100", "b1": "11111000"}
    # SimCLR at another temperature: not the baseline of the arms at t = 0.2
    flags |= {"c0": "00000000", "c1": "00000001"}
    for name, bits in flags.items():
        weight = 30.0 if name[0] == "b" else 0.0
        t = 0.5 if name[0] == "c" else 0.2
        _run(tmp_path, name, "simclr", 32, weight, int(name[1]), 0.8, 0.7, 0.1, t=t)
        path = tmp_path / "runs" / name / "final.json"
        final = json.loads(path.read_text())
        knn_bits = bits[::-1]  # kNN got other images right than the linear probe
        final["eval"]["also"] = {
            "split": "val",
            "linear_top1": bits.count("1") / 8,
            "knn_top1": knn_bits.count("1") / 8 - 0.25,  # and fewer: the columns differ
            "correct": {"linear": bits, "knn": knn_bits},
        }
        path.write_text(json.dumps(final))
    rep = build_report(tmp_path)
    rows = {(r[1], r[2]): r for r in rep["validation"][1]}
    assert set(rows) == {("0.2", "simclr"), ("0.2", "simclr + VRN λ 30"), ("0.5", "simclr")}
    base, vrn = rows[("0.2", "simclr")], rows[("0.2", "simclr + VRN λ 30")]
    assert base[4] == "43.75 ± 8.84" and base[5] == base[7] == "(baseline)"
    assert base[6] == "18.75 ± 8.84"  # kNN: its own column
    flag = {n: rf.decode_flags(b) for n, b in flags.items()}
    flag_knn = {n: rf.decode_flags(b[::-1]) for n, b in flags.items()}
    for col, f in ((5, flag), (7, flag_knn)):  # paired with SimCLR at t = 0.2, not at 0.5
        a, b = ({s: f[f"{arm}{s}"] for s in (0, 1)} for arm in "ab")
        assert vrn[col] == paired_difference_items(a, b).fmt(100)
    assert vrn[4] == "68.75 ± 8.84" and vrn[6] == "43.75 ± 8.84"
    md = rep["md"].read_text()
    assert (
        f"## {SECTIONS['validation']}" in md and "| 32 | 0.2 | simclr + VRN λ 30 | 2 | 68.75" in md
    )
    # runs without it: the section says so instead of an empty table
    for d in (tmp_path / "runs").iterdir():
        final = json.loads((d / "final.json").read_text())
        del final["eval"]["also"]
        (d / "final.json").write_text(json.dumps(final))
    rep = build_report(tmp_path)
    assert rep["validation"][1] == [] and "Not recorded:" in rep["md"].read_text()


def test_a_pilot_of_validation_runs_only_says_why_it_has_no_figures(tmp_path):
    _run(tmp_path, "sel0", "simclr", 32, 0.0, 0, 0.9, 0.8, 0.1, val=1000)
    _run(tmp_path, "sel1", "simclr", 32, 30.0, 0, 0.91, 0.8, 0.05, val=1000)
    md = build_report(tmp_path)["md"].read_text()
    why = "Not shown: no finished run scored on the test split (runs on the validation split "
    assert md.count(why + f"only are under {SECTIONS['selection']}).") == 5
    section = md.split(f"## {SECTIONS['validation']}")[1].split("## ")[0]
    assert "No runs." in section and "Not recorded" not in section
