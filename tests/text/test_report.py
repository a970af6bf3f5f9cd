"""The text study's report from run folders: tables per memory batch, paired differences to
MNRL, the zero-shot row, the selection section, the findings."""

import json

import pytest

from contrastlens import runfolder as rf
from contrastlens.report.text import build_text_report


def _run(
    root,
    name,
    *,
    arm,
    seed,
    mrr,
    r1,
    batch=16,
    mini=0,
    split="test",
    neg_var=0.01,
    train_s=100.0,
    status="finished",
    ranks=None,
):
    folder = root / "runs" / name
    folder.mkdir(parents=True)
    cfg = {
        "arm": arm,
        "batch_size": batch,
        "mini_batch_size": mini,
        "seed": seed,
        "lr": 1e-4,
        "vrn_weight": 10.0,
        "gor_weight": 1.0,
        "eval_split": split,
    }
    rf.write_json(cfg, folder / rf.CONFIG)
    rf.write_json(
        {"git": {"revision": "abc", "dirty": False}, "precision": {"amp": "bf16"}}, folder / rf.META
    )
    ev = {
        "mrr@10": mrr,
        "recall@1": r1,
        "recall@10": 0.9,
        "eval_time_s": 5.0,
        "split": split,
        "lens": {"neg_mean": 0.1, "neg_var": neg_var, "rankme": 300.0},
    }
    if ranks is not None:
        ev["ranks"] = ranks
    rf.write_json(
        {
            "status": status,
            "train_time_s": train_s,
            "pairs_per_s": 20.0,
            "peak_rss_train_mb": 900.0,
            "rss_before_train_mb": 700.0,
            "eval": ev,
        },
        folder / rf.FINAL,
    )


def test_tables_paired_differences_and_findings(tmp_path):
    for seed, (base, vrn) in enumerate([(0.50, 0.52), (0.40, 0.43), (0.45, 0.46)]):
        _run(tmp_path, f"mnrl_{seed}", arm="mnrl", seed=seed, mrr=base, r1=base - 0.1)
        _run(
            tmp_path, f"vrn_{seed}", arm="mnrl-vrn", seed=seed, mrr=vrn, r1=vrn - 0.1, neg_var=0.004
        )
        _run(
            tmp_path,
            f"cached_{seed}",
            arm="cached-mnrl",
            seed=seed,
            mrr=base + 0.01,
            r1=base,
            batch=256,
            mini=16,
            train_s=150.0,
        )
    _run(tmp_path, "zero", arm="zero-shot", seed=0, mrr=0.30, r1=0.2, train_s=0.0)
    _run(tmp_path, "sel", arm="mnrl", seed=0, mrr=0.99, r1=0.99, split="validation")
    _run(tmp_path, "broken", arm="mnrl", seed=5, mrr=0.0, r1=0.0, status="partial")
    report = build_text_report(tmp_path)
    header, rows = report["headline"]
    by_arm = {r[0]: r for r in rows}
    assert set(by_arm) == {"zero-shot", "mnrl", "mnrl-vrn (λ 10)", "cached-mnrl (batch 256)"}
    assert by_arm["mnrl"][2] == "45.00 ± 5.00"  # mean ± sample std in %
    # VRN - MNRL per seed: +2, +3, +1 points: mean +2, 95% t interval 2 ± 4.303 * 1 / sqrt(3)
    # no per-query ranks saved: an interval over the seeds alone, marked *
    assert by_arm["mnrl-vrn (λ 10)"][5] == "+2.00 [-0.48, +4.48]*"
    assert by_arm["zero-shot"][1] == "1" and by_arm["zero-shot"][5].startswith("-15.00 [")
    md = report["md"].read_text()
    assert "Physical batch 16" in md and "Physical batch 256" not in md  # cached: its memory
    assert "| sel | finished | mnrl |" in md  # the validation run: the selection section only
    assert "99.00" not in md.split("## Hyperparameter selection")[0]
    assert report["runs"] == {"total": 11, "done": 10, "failed": 0}
    line = next(ln for ln in report["findings"] if "mnrl-vrn" in ln)
    assert "MRR@10 +2.00 [-0.48, +4.48]" in line and "0.01000 -> 0.00400" in line
    tables = json.loads((tmp_path / "report.json").read_text())["batches"]["16"]
    assert tables["cost_lens"]["rows"][0][0] == "zero-shot"


def test_not_a_folder_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        build_text_report(tmp_path / "nope")


def test_saved_ranks_give_intervals_over_seeds_and_queries(tmp_path):
    from contrastlens.report.stats import paired_difference_items

    base = {0: [1, 2, 0, 1, 3, 0], 1: [1, 0, 0, 2, 3, 1]}
    vrn = {0: [1, 1, 0, 1, 2, 5], 1: [1, 1, 4, 2, 1, 1]}
    for seed in base:
        for arm, ranks in (("mnrl", base[seed]), ("mnrl-vrn", vrn[seed])):
            scores = rf.scores_from_ranks(ranks)
            mrr, r1 = (sum(scores[k]) / len(ranks) for k in ("mrr@10", "recall@1"))
            _run(tmp_path, f"{arm}_{seed}", arm=arm, seed=seed, mrr=mrr, r1=r1, ranks=ranks)
    _, rows = build_text_report(tmp_path)["headline"]
    row = next(r for r in rows if r[0].startswith("mnrl-vrn"))
    # reciprocal ranks by hand: 1, 1/2, 0, ...; the interval counts seeds and queries
    rr = {
        a: {s: [1 / r if r else 0.0 for r in x[s]] for s in x} for a, x in (("b", base), ("v", vrn))
    }
    assert row[5] == paired_difference_items(rr["b"], rr["v"]).fmt(100.0)
    assert not row[5].endswith("*")
    hit = {a: {s: [float(r == 1) for r in x[s]] for s in x} for a, x in (("b", base), ("v", vrn))}
    assert row[6] == paired_difference_items(hit["b"], hit["v"]).fmt(100.0)


def test_new_arms_scales_and_quantized_columns(tmp_path):
    """The global arm (γ), masking, a second MNRL scale (its own table, compared with MNRL at
    that scale) and the int8 / binary MRR@10 columns when runs saved them."""
    extra = {"int8": {"mrr@10": 0.40}, "binary": {"mrr@10": 0.30}}
    for seed in (0, 1):
        for scale in (20.0, 5.0):
            for arm, more, mrr in (
                ("mnrl", {}, 0.50),
                ("global", {"gamma": 0.8}, 0.52),
                ("mnrl", {"mask_duplicates": True}, 0.51),
            ):
                name = f"{arm}_{scale:g}_{seed}_{len(more)}_{'mask_duplicates' in more}"
                _run(tmp_path, name, arm=arm, seed=seed, mrr=mrr + seed / 100, r1=0.3)
                folder = tmp_path / "runs" / name
                cfg = json.loads((folder / rf.CONFIG).read_text())
                rf.write_json({**cfg, "scale": scale, **more}, folder / rf.CONFIG)
                final = json.loads((folder / rf.FINAL).read_text())
                final["eval"].update(extra)
                if "mask_duplicates" in more:  # what the loss masked (masked_totals)
                    final["masked_pairs"] = {"pairs": 2 - seed, "batches": 1, "of_batches": 500}
                rf.write_json(final, folder / rf.FINAL)
    report = build_text_report(tmp_path)
    header, rows = report["headline"]
    assert header[5:7] == ["int8 MRR@10 %", "binary MRR@10 %"]
    assert header[-2].startswith("Δ MRR@10")
    by_arm = {r[0]: r for r in rows}
    assert set(by_arm) == {"mnrl", "global (γ 0.8)", "mnrl + masking"}
    assert by_arm["global (γ 0.8)"][5] == "40.00 ± 0.00" and by_arm["mnrl"][6] == "30.00 ± 0.00"
    assert by_arm["global (γ 0.8)"][-2].startswith("+2.00")  # vs MNRL of its own scale
    md = report["md"].read_text()
    assert "## Physical batch 16\n" in md and "## Physical batch 16, scale 5\n" in md
    tables = json.loads((tmp_path / "report.json").read_text())["batches"]
    assert set(tables) == {"16", "16, scale 5"}
    cost = {r[0]: r[-1] for r in tables["16"]["cost_lens"]["rows"]}
    assert cost["mnrl + masking"] == "3 pairs in 2 of 1,000 batches" and cost["mnrl"] == "–"
    assert any(
        ln.startswith("batch 16 scale 5, global (γ 0.8): MRR@10") for ln in report["findings"]
    )
    # an arm at another scale is also compared with MNRL at the library's scale
    line = "batch 16 scale 5, global (γ 0.8) vs MNRL at scale 20: MRR@10 +2.00 [+2.00, +2.00]*"
    assert any(ln.startswith(line) for ln in report["findings"])
    line = "batch 16 scale 5, mnrl vs MNRL at scale 20: MRR@10 +0.00 [+0.00, +0.00]*"
    assert any(ln.startswith(line) for ln in report["findings"])
    assert not any(" 16, mnrl vs" in ln or "zero-shot vs" in ln for ln in report["findings"])


def test_more_passes_compared_with_one_pass(tmp_path):
    """Runs of two passes get their own table (Δ against MNRL of two passes), and each of its
    arms is also compared with MNRL in the default one pass at the same batch; an arm whose
    scale and passes both differ, with each default on its own and with both at once."""
    for seed in (0, 1):
        for passes, scale, arm, mrr in (
            (1, 20.0, "mnrl", 0.40),
            (2, 20.0, "mnrl", 0.43),
            (2, 20.0, "global", 0.44),
            (2, 5.0, "mnrl", 0.38),  # both settings differ: no MNRL at scale 5 in one pass
        ):
            name = f"{arm}_{passes}_{scale:g}_{seed}"
            _run(tmp_path, name, arm=arm, seed=seed, mrr=mrr, r1=0.3, batch=8)
            folder = tmp_path / "runs" / name
            cfg = json.loads((folder / rf.CONFIG).read_text())
            more = {"epochs": passes, "gamma": 0.1, "scale": scale}
            rf.write_json({**cfg, **more}, folder / rf.CONFIG)
    report = build_text_report(tmp_path)
    lines = report["findings"]
    assert any(ln.startswith("batch 8 2 passes, global (γ 0.1): MRR@10 +1.00") for ln in lines)
    line = "batch 8 2 passes, global (γ 0.1) vs MNRL in 1 pass: MRR@10 +4.00 [+4.00, +4.00]"
    assert any(ln.startswith(line) for ln in lines)
    line = "batch 8 2 passes, mnrl vs MNRL in 1 pass: MRR@10 +3.00 [+3.00, +3.00]"
    assert any(ln.startswith(line) for ln in lines)
    assert not any(ln.startswith("batch 8, mnrl vs") for ln in lines)
    hot = "batch 8 scale 5 2 passes, mnrl vs MNRL"
    assert any(ln.startswith(f"{hot} at scale 20: MRR@10 -5.00") for ln in lines)
    assert any(ln.startswith(f"{hot} at scale 20 in 1 pass: MRR@10 -2.00") for ln in lines)
    assert not any(ln.startswith(f"{hot} in 1 pass") for ln in lines)


def test_cost_curve_over_batch_sizes(tmp_path):
    """MNRL at each batch size (scale 20 and one pass only; cached arms stay out), each with its
    lr, compared with MNRL at the largest batch over the same seeds. Runs of another scale or
    more passes get tables of their own."""
    for seed in (0, 1, 2):
        for batch, mrr in ((8, 0.40 + seed / 100), (32, 0.45 + 2 * seed / 100)):
            _run(tmp_path, f"b{batch}_{seed}", arm="mnrl", seed=seed, mrr=mrr, r1=0.3, batch=batch)
        _run(
            tmp_path,
            f"cached_{seed}",
            arm="cached-mnrl",
            seed=seed,
            mrr=0.9,
            r1=0.9,
            batch=32,
            mini=8,
        )
        for name, more in (("hot", {"scale": 5.0}), ("twice", {"epochs": 2.0})):
            _run(tmp_path, f"{name}_{seed}", arm="mnrl", seed=seed, mrr=0.9, r1=0.9, batch=8)
            cfg = json.loads((tmp_path / "runs" / f"{name}_{seed}" / rf.CONFIG).read_text())
            rf.write_json({**cfg, **more}, tmp_path / "runs" / f"{name}_{seed}" / rf.CONFIG)
    report = build_text_report(tmp_path)
    curve = json.loads((tmp_path / "report.json").read_text())["cost_curve"]
    assert curve["header"][5] == "Δ MRR@10 vs batch 32 (95% CI)"
    b8, b32 = curve["rows"]
    assert b8[:4] == ["8", "3", "0.0001", "41.00 ± 1.00"]
    # batch 8 - batch 32 per seed: -5, -6, -7 points: mean -6, t interval 6 ± 4.303 / sqrt(3)
    assert b8[5] == "-6.00 [-8.48, -3.52]*" and b32[5] == "–"
    md = report["md"].read_text()
    assert "## The cost of a small batch" in md
    assert "## Physical batch 8, 2 passes\n" in md and "## Physical batch 8, scale 5\n" in md
    # the cached arm against MNRL at the batch it computes (32): 45, 43, 41 points per seed
    line = "batch 8, cached-mnrl (batch 32) vs MNRL at batch 32: MRR@10 +43.00 [+38.03, +47.97]*"
    assert any(ln.startswith(line) for ln in report["findings"])


def test_one_batch_size_has_no_cost_curve(tmp_path):
    _run(tmp_path, "mnrl_0", arm="mnrl", seed=0, mrr=0.4, r1=0.3)
    report = build_text_report(tmp_path)
    assert "cost of a small batch" not in report["md"].read_text()
    assert json.loads((tmp_path / "report.json").read_text())["cost_curve"] is None
