"""The text study's report: report.md, report.html and report.json from `train-text` run folders.

Sections: setup; per physical batch size, retrieval (MRR@10, Recall@1, Recall@10 on the test
split, mean +/- std over seeds) with the paired difference to MNRL at that batch (same seeds,
95% Student-t interval), then the cost (training seconds, pairs/s, peak memory) and the
similarity lens (negative mean and variance, their second moment against the Welch floor,
alignment, uniformity, RankMe) per arm; when MNRL ran at several batch sizes, the cost of
a small batch (MNRL at each batch with its lr, against the largest batch, paired over seeds
and test queries); the hyperparameter selection (runs scored on the
validation split appear there only); every run; environment and commands.

The cached arm is listed under its mini-batch size, the batch that sets its memory: a table
for physical batch 16 compares what fits in the memory of 16 rows. Runs at another MNRL scale
than the library's 20, or with more than one pass over the training pairs, get tables of their
own ("Physical batch 16, scale 5", "Physical batch 8, 2 passes"), compared with MNRL at that
scale and number of passes. The zero-shot model is listed under every table. Labels name the setting
that distinguishes an arm: λ (VRN), w (GOR), γ (the global loss), "+ masking" (in-batch
duplicates masked by the loss, not kept out by the sampler). When runs saved quantized
retrieval (eval "int8", "binary"), the retrieval table adds their MRR@10. Every number comes
from a run folder's JSON (config.json, meta.json, final.json); nothing is recomputed.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from contrastlens import runfolder as rf
from contrastlens.report.render import Block, code_state, pct, to_html, to_markdown
from contrastlens.report.stats import paired_difference, paired_difference_items, summarize
from contrastlens.text.text_config import TextConfig

RETRIEVAL = (("mrr@10", "MRR@10"), ("recall@1", "R@1"), ("recall@10", "R@10"))
LENS = (
    ("neg_mean", "neg. mean", 4),
    ("neg_var", "neg. variance", 5),
    ("neg_second_moment", "2nd moment", 5),
    ("welch_floor", "Welch floor", 5),
    ("alignment", "alignment", 3),
    ("uniformity", "uniformity", 3),
    ("rankme", "RankMe", 1),
)
ARM_ORDER = ("zero-shot", "mnrl", "mnrl-vrn", "mnrl-gor", "cached-mnrl", "global")
BASE = "mnrl"
QUANTIZED = (("int8", "int8 MRR@10 %"), ("binary", "binary MRR@10 %"))  # eval.<p>.mrr@10
DEFAULT_SCALE = TextConfig.scale  # MNRL's; tables of other scales are labelled
DEFAULT_PASSES = TextConfig.epochs  # one pass; tables of more passes are labelled


@dataclass
class TextRun:
    path: Path
    status: str
    config: dict
    meta: dict
    final: dict

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def arm(self) -> str:
        return self.config.get("arm", "?")

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    @property
    def memory_batch(self) -> int:
        """The rows held with a graph at once: the mini-batch of the cached arm, else the batch."""
        c = self.config
        return int(c.get("mini_batch_size") or c.get("batch_size", 0))

    @property
    def scale(self) -> float:
        return float(self.config.get("scale", DEFAULT_SCALE))

    @property
    def passes(self) -> float:
        """Passes over the training pairs (the config's "epochs")."""
        return float(self.config.get("epochs", DEFAULT_PASSES))

    @property
    def validation(self) -> bool:
        return self.config.get("eval_split") == "validation"

    @property
    def complete(self) -> bool:
        return self.status in rf.COMPLETE

    @property
    def ranks(self) -> list[int] | None:
        """Each test query's rank of its relevant document (text.retrieval), when saved."""
        ranks = (self.final.get("eval") or {}).get("ranks")
        return ranks if isinstance(ranks, list) else None

    def quantized(self, precision: str) -> float:
        """MRR@10 of the quantized retrieval (eval.json's "int8" / "binary"), NaN if absent."""
        v = ((self.final.get("eval") or {}).get(precision) or {}).get("mrr@10")
        return float(v) if isinstance(v, (int, float)) else math.nan

    def value(self, key: str) -> float:
        ev = self.final.get("eval") or {}
        v = ev.get(key, (ev.get("lens") or {}).get(key))
        if v is None:
            v = self.final.get(key)
        return float(v) if isinstance(v, (int, float)) else math.nan


def find_text_runs(directory: str | Path) -> list[TextRun]:
    """Every text run folder (a config.json with an "arm") under `directory`."""
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder of runs")
    runs = []
    for cfg_path in sorted(root.rglob(rf.CONFIG)):
        config = rf.try_read_json(cfg_path)
        if "arm" not in config:
            continue
        folder = cfg_path.parent
        runs.append(
            TextRun(
                folder,
                rf.run_status(folder),
                config,
                rf.try_read_json(folder / rf.META),
                rf.try_read_json(folder / rf.FINAL),
            )
        )
    return runs


def _arm_label(r: TextRun) -> str:
    masking = " + masking" if r.config.get("mask_duplicates") else ""
    if r.arm == "cached-mnrl":
        return f"cached-mnrl (batch {r.config.get('batch_size')}){masking}"
    if r.arm == "mnrl-vrn":
        return f"mnrl-vrn (λ {r.config.get('vrn_weight'):g}){masking}"
    if r.arm == "mnrl-gor":
        return f"mnrl-gor (w {r.config.get('gor_weight'):g})"
    if r.arm == "global":
        return f"global (γ {r.config.get('gamma', TextConfig.gamma):g}){masking}"
    return r.arm + masking


def _tables(
    runs: list[TextRun],
) -> dict[tuple[int, float, float], dict[str, dict[int, TextRun]]]:
    """(memory batch, scale, passes) -> arm label -> seed -> run (complete test runs; zero-shot
    in every table)."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    zero = [r for r in runs if r.arm == "zero-shot"]
    for r in runs:
        if r.arm != "zero-shot":
            out[(r.memory_batch, r.scale, r.passes)][_arm_label(r)][r.seed] = r
    for table in out:
        for r in zero:
            out[table][r.arm][r.seed] = r
    return out


def _table_name(table: tuple[int, float, float], sep: str = ", ") -> str:
    """ "16", "16, scale 5" for a scale other than MNRL's default, "8, 2 passes" for more than
    one pass."""
    batch, scale, passes = table
    name = f"{batch}"
    if scale != DEFAULT_SCALE:
        name += f"{sep}scale {scale:g}"
    if passes != DEFAULT_PASSES:
        name += f"{sep}{_passes(passes)}"
    return name


def _passes(passes: float) -> str:
    return f"{passes:g} pass" + "es" * (passes != 1)


def _order(label: str) -> tuple:
    arm = label.split(" ")[0]
    return (ARM_ORDER.index(arm) if arm in ARM_ORDER else len(ARM_ORDER), label)


def _fmt(s, scale=100.0, digits=2) -> str:
    return s.fmt(scale, digits)


def retrieval_rows(arms: dict[str, dict[int, TextRun]]) -> tuple[list[str], list[list[str]]]:
    every = [r for by_seed in arms.values() for r in by_seed.values()]
    quantized = [(p, h) for p, h in QUANTIZED if any(not math.isnan(r.quantized(p)) for r in every)]
    header = ["arm", "seeds"] + [f"{h} %" for _, h in RETRIEVAL] + [h for _, h in quantized]
    header += [f"Δ {h} vs MNRL (95% CI)" for _, h in RETRIEVAL[:2]]
    base = arms.get(BASE, {})
    rows = []
    for label in sorted(arms, key=_order):
        by_seed = arms[label]
        row = [label, str(len(by_seed))]
        row += [_fmt(summarize([r.value(k) for r in by_seed.values()])) for k, _ in RETRIEVAL]
        for p, _ in quantized:
            s = summarize([r.quantized(p) for r in by_seed.values()])
            row.append("–" if s.n == 0 else _fmt(s))
        for key, _ in RETRIEVAL[:2]:
            row.append("–" if label == BASE or not base else _delta(base, by_seed, key))
        rows.append(row)
    return header, rows


def _delta(base: dict[int, TextRun], arm: dict[int, TextRun], key: str) -> str:
    """arm − base of `key` (in points) with its 95% interval: over seeds and test queries when
    every run saved its per-query ranks (eval.ranks), else over the seeds alone, marked *. The
    zero-shot model is one deterministic model: it stands in for every seed of the base."""
    if next(iter(arm.values())).arm == "zero-shot":
        arm = {s: next(iter(arm.values())) for s in base}
    seeds = sorted(set(base) & set(arm))
    ranks = [(base[s].ranks, arm[s].ranks) for s in seeds]
    if seeds and all(a is not None and b is not None for a, b in ranks):
        a = {s: rf.scores_from_ranks(base[s].ranks)[key] for s in seeds}
        b = {s: rf.scores_from_ranks(arm[s].ranks)[key] for s in seeds}
        return paired_difference_items(a, b).fmt(100.0)
    out = paired_difference(
        {s: base[s].value(key) for s in seeds}, {s: arm[s].value(key) for s in seeds}
    )
    return out.fmt(100.0) + ("*" if out.n > 1 else "")


MASK_KEYS = ("pairs", "batches", "of_batches")  # final.json "masked_pairs" (masked_totals)


def _masked(runs: list[TextRun]) -> str:
    """The duplicates an arm with mask_duplicates masked, summed over its seeds (final.json
    "masked_pairs"): "2 pairs in 1 of 3,000 batches"; "–" for an arm that masks nothing."""
    counts = [r.final.get("masked_pairs") for r in runs]
    counts = [c for c in counts if isinstance(c, dict)]
    if not counts:
        return "–"
    pairs, batches, of = (sum(int(c.get(k, 0)) for c in counts) for k in MASK_KEYS)
    return f"{pairs:,} pairs in {batches:,} of {of:,} batches"


def cost_lens_rows(arms: dict[str, dict[int, TextRun]]) -> tuple[list[str], list[list[str]]]:
    header = ["arm", "train s", "pairs/s", "peak RSS MiB", "RSS before MiB"]
    header += [h for _, h, _ in LENS] + ["duplicates masked (all seeds)"]

    rows = []
    for label in sorted(arms, key=_order):
        runs = list(arms[label].values())
        rows.append(
            [
                label,
                _mean(runs, "train_time_s", 0),
                _mean(runs, "pairs_per_s", 1),
                _mean(runs, "peak_rss_train_mb", 0),
                _mean(runs, "rss_before_train_mb", 0),
            ]
            + [_mean(runs, k, d) for k, _, d in LENS]
            + [_masked(runs)]
        )
    return header, rows


def _mean(runs: list[TextRun], key: str, digits: int) -> str:
    s = summarize([r.value(key) for r in runs])
    return "–" if s.n == 0 else f"{s.mean:.{digits}f}"


def cost_curve_rows(tables) -> tuple[list[str], list[list[str]]] | None:
    """MNRL at every physical batch (the library's scale, one pass): its lr, retrieval, the paired
    difference to MNRL at the largest batch (same seeds and test queries), training time and
    peak memory. None when fewer than two batch sizes have MNRL runs."""
    curve = {
        batch: arms[BASE]
        for (batch, scale, passes), arms in tables.items()
        if scale == DEFAULT_SCALE and passes == DEFAULT_PASSES and BASE in arms
    }
    if len(curve) < 2:
        return None
    top = max(curve)
    header = ["batch", "seeds", "lr", "MRR@10 %", "R@1 %"]
    header += [f"Δ {h} vs batch {top} (95% CI)" for _, h in RETRIEVAL[:2]]
    header += ["train s", "peak RSS MiB"]
    rows = []
    for batch in sorted(curve):
        by_seed = curve[batch]
        runs = list(by_seed.values())
        lrs = sorted({float(r.config.get("lr", math.nan)) for r in runs})
        row = [str(batch), str(len(runs)), " / ".join(f"{lr:g}" for lr in lrs)]
        row += [_fmt(summarize([r.value(k) for r in runs])) for k, _ in RETRIEVAL[:2]]
        row += ["–" if batch == top else _delta(curve[top], by_seed, k) for k, _ in RETRIEVAL[:2]]
        row += [_mean(runs, "train_time_s", 0), _mean(runs, "peak_rss_train_mb", 0)]
        rows.append(row)
    return header, rows


def findings(tables) -> list[str]:
    """One line per (batch, arm other than MNRL): the MRR@10 and R@1 differences with their
    intervals and seed counts, and the negative variance against MNRL's; a cached arm also
    against MNRL at the batch it computes, and every trained arm at another scale or number of
    passes (MNRL too) against MNRL at the library's scale and passes."""
    out = []
    for table in sorted(tables):
        arms = tables[table]
        base = arms.get(BASE)
        if not base:
            continue
        _, rows = retrieval_rows(arms)
        var0 = summarize([r.value("neg_var") for r in base.values()]).mean
        for row in rows:
            label = row[0]
            if label == BASE:
                out += _against_default(tables, table, label)
                continue
            var = summarize([r.value("neg_var") for r in arms[label].values()]).mean
            out.append(
                f"batch {_table_name(table, ' ')}, {label}: MRR@10 {row[-2]}, R@1 {row[-1]} "
                "points vs MNRL "
                f"({len(base)} MNRL seed{'s' * (len(base) != 1)}); neg. variance "
                f"{var0:.5f} -> {var:.5f}"
            )
            out += _against_its_batch(tables, table, label)
            out += _against_default(tables, table, label)
    return out


def _against_default(tables, table: tuple[int, float, float], label: str) -> list[str]:
    """An arm at another scale (temperature) or number of passes against MNRL at the library's
    scale or passes, same batch: one line per setting that differs (and one against both
    defaults where both differ). Does it reach what the defaults give?"""
    if label == "zero-shot":  # not trained: no scale, no passes
        return []
    batch, scale, passes = table
    references = []
    if scale != DEFAULT_SCALE:
        references.append(((batch, DEFAULT_SCALE, passes), f"at scale {DEFAULT_SCALE:g}"))
    if passes != DEFAULT_PASSES:
        references.append(((batch, scale, DEFAULT_PASSES), f"in {_passes(DEFAULT_PASSES)}"))
    if len(references) == 2:
        where = f"at scale {DEFAULT_SCALE:g} in {_passes(DEFAULT_PASSES)}"
        references.append(((batch, DEFAULT_SCALE, DEFAULT_PASSES), where))
    out = []
    for reference, where in references:
        base = tables.get(reference, {}).get(BASE)
        if base:
            mrr, r1 = (_delta(base, tables[table][label], key) for key, _ in RETRIEVAL[:2])
            out.append(
                f"batch {_table_name(table, ' ')}, {label} vs MNRL {where}: "
                f"MRR@10 {mrr}, R@1 {r1} points"
            )
    return out


def _against_its_batch(tables, table: tuple[int, float, float], label: str) -> list[str]:
    """A cached arm against MNRL at the batch it computes (its effective batch, same scale and
    passes): does the cached batch match the large batch it stands in for?"""
    arm = tables[table][label]
    first = next(iter(arm.values()))
    if first.arm != "cached-mnrl":
        return []
    large = tables.get((int(first.config.get("batch_size", 0)), *table[1:]), {}).get(BASE)
    if not large:
        return []
    mrr, r1 = (_delta(large, arm, key) for key, _ in RETRIEVAL[:2])
    return [
        f"batch {_table_name(table, ' ')}, {label} vs MNRL at batch "
        f"{first.config.get('batch_size')}: MRR@10 {mrr}, R@1 {r1} points"
    ]


def _selection_rows(runs: list[TextRun], root: Path) -> tuple[list[str], list[list[str]]]:
    header = ["run", "status", "arm", "batch", "lr", "scale", "VRN λ", "GOR w", "γ"]
    header += ["validation MRR@10 %", "R@1 %", "neg. variance"]
    rows = []
    for r in sorted(runs, key=_grid_order):
        c = r.config
        batch = str(c.get("batch_size"))
        if r.arm == "cached-mnrl":
            batch += f" (mini {c.get('mini_batch_size')})"
        rows.append(
            [
                _run_name(r, root),
                r.status,
                r.arm,
                batch,
                f"{c.get('lr'):g}",
                f"{r.scale:g}",
                f"{c.get('vrn_weight'):g}" if r.arm == "mnrl-vrn" else "–",
                f"{c.get('gor_weight'):g}" if r.arm == "mnrl-gor" else "–",
                f"{c.get('gamma', TextConfig.gamma):g}" if r.arm == "global" else "–",
                pct(r.value("mrr@10")),
                pct(r.value("recall@1")),
                f"{r.value('neg_var'):.5f}",
            ]
        )
    return header, rows


def _grid_order(r: TextRun) -> tuple:
    """Runs of one sweep together, in the order of the value they try (5e-05 before 0.0001)."""
    c = r.config
    values = tuple(float(c.get(k) or 0) for k in ("lr", "vrn_weight", "gor_weight", "gamma"))
    return (str(r.path.parent.parent), r.arm, values, r.name)


def _run_name(r: TextRun, root: Path) -> str:
    """The run's folder under the study, without the "runs" level: "<sweep>/<run>" (run names
    repeat across sweeps)."""
    return "/".join(p for p in r.path.relative_to(root).parts if p != "runs")


def build_text_report(directory: str | Path, out_dir: str | Path | None = None) -> dict:
    """Write report.md, report.html and report.json for the text runs under `directory`.

    Returns {"md", "html", "headline": (header, rows) of the smallest batch's retrieval table,
    "findings": [lines], "runs": counts}."""
    root = Path(directory)
    out = Path(out_dir) if out_dir else root
    every = find_text_runs(root)
    out.mkdir(parents=True, exist_ok=True)
    selection = [r for r in every if r.validation]
    runs = [r for r in every if not r.validation]
    done = [r for r in runs if r.complete]
    failed = [r for r in runs if r.status == "failed"]
    meta = rf.try_read_json(root / rf.STUDY)
    blocks = [
        Block("h1", meta.get("title", f"contrastlens text report: {root.name}")),
        Block("h2", "Setup"),
        Block(
            "p",
            f"{len(runs)} test-split runs under {root}: {len(done)} complete, "
            f"{len(failed)} failed, {len(runs) - len(done) - len(failed)} "
            "unfinished. Retrieval: the definition of a test synset from one of "
            "its example sentences, among all test definitions (cosine). Numbers "
            "are mean ± sample std over seeds, in %; Δ is the paired difference "
            "to MNRL at the same physical batch (same seeds) with a 95% "
            "Student-t interval. The cached arm is listed under its mini-batch "
            "size (the memory it needs).",
        ),
    ]
    if meta.get("description"):
        blocks.append(Block("p", meta["description"]))
    tables = _tables(done)
    report_tables = {}
    headline = (["arm"], [])
    for table in sorted(tables):
        rh, rr = retrieval_rows(tables[table])
        ch, cr = cost_lens_rows(tables[table])
        if headline == (["arm"], []):
            headline = (rh, rr)
        report_tables[_table_name(table)] = {
            "retrieval": {"header": rh, "rows": rr},
            "cost_lens": {"header": ch, "rows": cr},
        }
        blocks += [
            Block("h2", f"Physical batch {_table_name(table)}"),
            Block("table", header=rh, rows=rr),
            Block(
                "p",
                "Cost (means over seeds; peak RSS is the process's peak "
                "resident memory up to the end of training, model and data "
                "included) and the similarity lens of the test pairs "
                "(one pair per distinct definition):",
            ),
            Block("table", header=ch, rows=cr),
        ]
    if not tables:
        blocks.append(Block("p", "No finished test-split runs."))
    curve = cost_curve_rows(tables)
    if curve:
        blocks += [
            Block("h2", "The cost of a small batch"),
            Block(
                "p",
                f"MNRL at every physical batch size (scale {DEFAULT_SCALE:g}, one pass), each "
                "with its own lr; Δ is the paired difference to the largest batch (same seeds "
                "and test queries).",
            ),
            Block("table", header=curve[0], rows=curve[1]),
        ]
    lines = findings(tables)
    if lines:
        blocks += [Block("h2", "Findings"), Block("pre", "\n".join(lines))]
    blocks.append(Block("h2", "Hyperparameter selection"))
    blocks.append(
        Block(
            "p",
            meta.get("selection", "No selection was recorded: every setting was fixed in advance."),
        )
    )
    if selection:
        sh, sr = _selection_rows(selection, root)
        blocks.append(Block("table", header=sh, rows=sr))
    blocks.append(Block("h2", "Runs"))
    run_rows = []
    for r in sorted(runs, key=lambda r: str(r.path)):
        precision = (r.meta.get("precision") or {}).get("amp", "–")
        run_rows.append(
            [
                _run_name(r, root),
                r.status,
                pct(r.value("mrr@10")),
                f"{r.value('train_time_s'):.0f}",
                f"{r.value('eval_time_s'):.0f}",
                "bf16" if precision == "bf16" else "fp32",
                code_state(r.meta),
            ]
        )
    blocks.append(
        Block(
            "table",
            header=["run", "status", "MRR@10 %", "train s", "eval s", "precision", "code"],
            rows=run_rows,
        )
    )
    blocks.append(Block("h2", "Environment and commands"))
    env = next(
        (
            {k: r.meta.get(k) for k in ("versions", "git", "hostname", "threads")}
            for r in done
            if r.meta
        ),
        None,
    )
    blocks.append(Block("pre", json.dumps(env or {"note": "not recorded"}, indent=1)))
    commands = (meta.get("commands") or []) + [f"contrastlens report {root}"]
    blocks.append(Block("pre", "\n".join(commands)))

    md_path, html_path = out / "report.md", out / "report.html"
    rf.write_text(to_markdown(blocks), md_path)
    rf.write_text(to_html(blocks, blocks[0].text), html_path)
    rf.write_text(
        json.dumps(
            {
                "batches": report_tables,
                "cost_curve": {"header": curve[0], "rows": curve[1]} if curve else None,
                "findings": lines,
            },
            indent=1,
        )
        + "\n",
        out / "report.json",
    )
    return {
        "md": md_path,
        "html": html_path,
        "headline": headline,
        "findings": lines,
        "runs": {"total": len(runs), "done": len(done), "failed": len(failed)},
    }
