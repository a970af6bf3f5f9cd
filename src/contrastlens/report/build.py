"""`contrastlens report DIR`: report.md and a self-contained report.html from run folders only.

Sections: headline accuracy table (linear probe and kNN, mean +/- std over seeds, per method x
batch size x VRN weight) with the paired VRN gain and its 95% CI; every arm against SimCLR at
the same physical batch (paired, with training time and peak memory); the baselines against the
raw-pixel floor (the study's `floor.json`, same probes); the variance of negative
similarities per batch size with and without VRN (the paper's Table 1 on our data); histograms
of negative similarities; accuracy against batch size and against training time (the curve
probes); temperature robustness (when the grid has several temperatures); the simulator's
figures against the Thm 5.5 bounds; selection of hyperparameters (runs scored on a validation
split appear there only); failed runs; environment and exact commands (the study's sittings
from study.json, and any follow-up `contrastlens sweep` under the folder from its sweep.json).

Every number comes from a run folder's JSON (`final.json`, `config.json`) or from the study
folder's `simulate/simulate.json` and `floor.json`; nothing is recomputed from models.
"""

from __future__ import annotations

import json
import math
import shlex
from collections import defaultdict
from pathlib import Path

from contrastlens import runfolder as rf
from contrastlens.report.render import (
    Block,
    code_state,
    label_axes,
    pct,
    precision_label,
    pyplot,
    save_figure,
    to_html,
    to_markdown,
)
from contrastlens.report.runs import Run, dig, find_runs
from contrastlens.report.stats import (
    Summary,
    paired_difference,
    paired_difference_items,
    summarize,
    t975,
)

# Where each reported number lives in a run's final.json (see contrastlens.runfolder).
LINEAR = "eval.linear_top1"
KNN = "eval.knn_top1"
NEG_VAR = "eval.table1.neg_var"  # variance of negative sims, 5,000 augmented training pairs
NEG_MEAN = "eval.table1.neg_mean"
NEG_HIST = "eval.table1.neg_hist"  # {"edges": [...], "counts": [...]}
EXACT_NEG_VAR = "eval.full.neg_var"  # exact, all n(n-1) cross-view pairs of one augmentation
# the same pairs split by class (SimilarityAccumulator's labels): same-class (false negatives
# to the loss) and different-class negatives, mean and variance each
SAME_MEAN, SAME_VAR = "eval.full.by_label.same.mean", "eval.full.by_label.same.var"
DIFF_MEAN, DIFF_VAR = "eval.full.by_label.different.mean", "eval.full.by_label.different.var"
NEG_M2 = "eval.table1.neg_second_moment"  # variance + mean^2 of the same negatives
WELCH = "eval.table1.welch_floor"  # (n - d) / (d (n - 1)): no n unit vectors in R^d go below
ALIGN = "eval.table1.diagnostics.alignment"
UNIFORM = "eval.table1.diagnostics.uniformity"
RANKME = "eval.table1.diagnostics.rankme"
TRAIN_SECONDS = "train_time_s"
EVAL_SECONDS = "eval.eval_time_s"

# Which scored images each probe got right ("0"/"1" per image, runfolder.encode_flags)
# the same fitted probes on the validation split at the end of a run scored on test ("also")
VAL_LINEAR = "eval.also.linear_top1"
VAL_KNN = "eval.also.knn_top1"
CORRECT = {
    LINEAR: "eval.correct.linear",
    KNN: "eval.correct.knn",
    VAL_LINEAR: "eval.also.correct.linear",
    VAL_KNN: "eval.also.correct.knn",
}
KNN10 = "eval.knn_top1_k10"  # kNN at k = 10, the k of the raw-pixel floor
PEAK_RSS = "memory.peak_rss_mb"  # training's peak resident memory, probes left out
RSS_BEFORE = "memory.rss_before_mb"
CUDA_PEAK = "memory.cuda_peak_mb"  # allocated CUDA tensors (GPU runs)
BASELINE = "simclr"  # the arm every other arm is compared with at the same physical batch

SECTIONS = {  # id -> title, in the report's order
    "setup": "Setup",
    "headline": "Headline: accuracy and the VRN gain",
    "arms": "Arms at the same memory: each against SimCLR at its physical batch",
    "validation": "The end of training on the validation split",
    "floor": "Baseline against the raw-pixel floor",
    "variance": "Variance of negative similarities (Table 1 on our data)",
    "hists": "Histograms of negative similarities",
    "m2": "Second moment of negative similarities against batch size",
    "batch": "Accuracy against batch size",
    "time": "Accuracy against training time",
    "temperature": "Temperature robustness",
    "simulator": "Simulator: free embeddings against the theory",
    "selection": "Hyperparameter selection",
    "runs": "Runs",
    "environment": "Environment and commands",
}

# The paragraph under a table section (`_table_section`), by section id.
_INTERVALS = (
    "95% intervals of a Δ count two sources of chance: the seeds, and the scored images (every "
    "seed of both arms is scored on the same test images, a sample too, so the seeds alone "
    "miss it): `contrastlens.report.stats.paired_difference_items`, from which images each "
    "probe got right (final.json eval.correct). * marks an interval over the seeds alone "
    "(Student t): runs evaluated before the per-image results were saved."
)
_ARMS_NOTE = (
    "Each arm against plain SimCLR (no VRN, no GOR, not cached) at the same physical batch (the "
    "batch one process holds in memory: a cached large batch's micro-batch) and temperature: Δ "
    "is the paired difference (arm − SimCLR, same seed) with its 95% interval. Cost: "
    "training seconds (probes left out), their ratio to SimCLR's, and training's peak memory "
    "(contrastlens.memory): the resident set, with what training added to the resident set at "
    "its start, or on a GPU the allocated CUDA tensors."
)
_VARIANCE_NOTE = (
    "Projector outputs, L2-normalized; the paper's Table 1 measures the same statistic over "
    "5,000 augmented training pairs. The exact columns cover all n(n − 1) cross-view negatives "
    "of one augmented pair of every training image, split by class (same class: negatives to "
    "the loss that share the label; runs before this split was recorded show –). The "
    "full-batch optimum is −1/(n−1) with zero variance; with n > d no representation can bring "
    "the second moment (variance + mean²) below the Welch floor (n − d)/(d(n − 1)) ≈ 1/d "
    "(docs/theory.md). Alignment, uniformity (Wang & Isola) and RankMe are of the same pairs."
)
_NO_VALIDATION = (
    "Not recorded: these runs hold no validation split out, or were made before runs scored "
    "it at their end (final.json eval.also)."
)
_VALIDATION_NOTE = (
    "The encoders of the table above at the end of training, scored on the validation split "
    "held out from training by the same fitted probes (final.json eval.also), the split of "
    "every choice and of the curve probes. Δ: arm − SimCLR, paired by seed, its interval over "
    "the seeds and the validation images (* marks one over the seeds alone); compare it with "
    "the test Δ above to tell the split from the probe and the stage of training. An arm whose "
    "setting was chosen on this split is biased up there at the seed of the choice: that run "
    "is the best of its grid on these images."
)
NOTES = {
    "headline": _INTERVALS,
    "arms": f"{_ARMS_NOTE} {_INTERVALS}",
    "validation": _VALIDATION_NOTE,
    "variance": _VARIANCE_NOTE,
}


# ----------------------------------------------------------------------------- grouping
def _groups(runs: list[Run]) -> dict[tuple, dict[float, dict[int, Run]]]:
    """(family, batch, temperature) -> vrn weight -> seed -> run (finished runs only); the
    family is the method with GOR's weight and a cached run's micro-batches (`Run.family`)."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    for r in runs:
        if r.complete:
            out[(r.family, r.batch_size, r.temperature)][r.vrn_weight][r.seed] = r
    return out


def _vrn_cell(w: float, seeds: dict[int, Run]) -> str:
    """The VRN weight in use, with how it was set when that differs (vrn.lr_ref:
    "60 (30 x 0.075/lr)")."""
    setting = next(iter(seeds.values())).vrn_setting if seeds else f"{w:g}"
    return f"{w:g}" if setting == f"{w:g}" else f"{w:g} ({setting})"


def _by_seed(runs: dict[int, Run], path: str) -> dict[int, float]:
    return {s: r.metric(path) for s, r in runs.items() if not math.isnan(r.metric(path))}


def _delta(base: dict[int, Run], arm: dict[int, Run], metric: str) -> str:
    """The paired difference arm − base of `metric` (in points) with its 95% interval: over
    seeds and scored images when every paired run saved its per-image results (`CORRECT`),
    else over the seeds alone, marked *."""
    seeds = sorted(set(base) & set(arm))
    path = CORRECT.get(metric)
    pairs = [(base[s], arm[s]) for s in seeds]
    if path and pairs and all(dig(r.final, path) for pair in pairs for r in pair):
        flags = [
            {s: rf.decode_flags(dig(runs[s].final, path)) for s in seeds} for runs in (base, arm)
        ]
        return paired_difference_items(*flags).fmt(100)
    out = paired_difference(_by_seed(base, metric), _by_seed(arm, metric))
    return out.fmt(100) + ("*" if out.n > 1 else "")


def headline_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    header = [
        "method",
        "batch",
        "t",
        "VRN λ",
        "seeds",
        "linear top-1 %",
        "Δ linear (paired, 95% CI)",
        "kNN top-1 %",
        "Δ kNN (paired, 95% CI)",
    ]
    rows = []
    for (method, batch, t), by_w in sorted(_groups(runs).items()):
        base = by_w.get(0.0, {})
        for w in sorted(by_w):
            seeds = by_w[w]
            lin, knn = _by_seed(seeds, LINEAR), _by_seed(seeds, KNN)
            if w == 0.0:
                d_lin = d_knn = "(baseline)"
            else:
                d_lin, d_knn = _delta(base, seeds, LINEAR), _delta(base, seeds, KNN)
            rows.append(
                [
                    method,
                    str(batch),
                    f"{t:g}",
                    _vrn_cell(w, seeds),
                    str(len(seeds)),
                    summarize(list(lin.values())).fmt(100),
                    d_lin,
                    summarize(list(knn.values())).fmt(100),
                    d_knn,
                ]
            )
    return header, rows


def floor_rows(runs: list[Run], floor: dict) -> tuple[list[str], list[list[str]]]:
    """The raw-pixel floor (floor.json) and every baseline (VRN off), with the same probes."""
    header = [
        "representation",
        "seeds",
        "linear top-1 %",
        f"kNN top-1 % (k = {floor.get('knn_k', 200)})",
        "kNN top-1 % (k = 10)",
    ]
    rows = [
        [
            "raw pixels (the floor)",
            "–",
            pct(floor.get("linear_top1", math.nan)),
            pct(floor.get("knn_top1", math.nan)),
            pct(floor.get("knn_top1_k10", math.nan)),
        ]
    ]
    for (method, batch, t), by_w in sorted(_groups(runs).items()):
        base = by_w.get(0.0, {})
        if base:
            rows.append(
                [f"{method}, batch {batch}, t {t:g}, VRN off", str(len(base))]
                + [
                    summarize(list(_by_seed(base, path).values())).fmt(100)
                    for path in (LINEAR, KNN, KNN10)
                ]
            )
    return header, rows


def variance_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    header = [
        "method",
        "batch",
        "t",
        "VRN λ",
        "neg. mean",
        "neg. variance (5,000 aug. pairs)",
        "exact neg. variance (all pairs)",
        "same-class neg. mean / variance",
        "different-class neg. mean / variance",
        "second moment",
        "Welch floor",
        "alignment",
        "uniformity",
        "RankMe",
    ]
    rows = []
    for (method, batch, t), by_w in sorted(_groups(runs).items()):
        for w in sorted(by_w):
            seeds = by_w[w]
            rows.append(
                [
                    method,
                    str(batch),
                    f"{t:g}",
                    _vrn_cell(w, seeds),
                    summarize(list(_by_seed(seeds, NEG_MEAN).values())).fmt(1, 4),
                    summarize(list(_by_seed(seeds, NEG_VAR).values())).fmt(1, 4),
                    summarize(list(_by_seed(seeds, EXACT_NEG_VAR).values())).fmt(1, 4),
                    _mean_var(seeds, SAME_MEAN, SAME_VAR),
                    _mean_var(seeds, DIFF_MEAN, DIFF_VAR),
                    *(
                        summarize(list(_by_seed(seeds, key).values())).fmt(1, 4)
                        for key in (NEG_M2, WELCH, ALIGN, UNIFORM)
                    ),
                    summarize(list(_by_seed(seeds, RANKME).values())).fmt(1, 1),
                ]
            )
    return header, rows


def _mean_var(seeds: dict[int, Run], mean: str, var: str) -> str:
    """ "mean / variance" over seeds (means), "–" for runs that did not record them."""
    m = summarize(list(_by_seed(seeds, mean).values()))
    v = summarize(list(_by_seed(seeds, var).values()))
    return "–" if not (m.n and v.n) else f"{m.mean:.4f} / {v.mean:.4f}"


def _arms(runs: list[Run]) -> dict[tuple, dict[int, Run]]:
    """(physical batch, temperature, arm) -> seed -> run (finished runs only)."""
    out: dict = defaultdict(dict)
    for r in runs:
        if r.complete:
            out[(r.physical_batch, r.temperature, r.arm)][r.seed] = r
    return out


def _arm_order(key: tuple) -> tuple:
    physical, t, arm = key
    return physical, t, arm != BASELINE, arm


def _memory(seeds: dict[int, Run]) -> str:
    """Training's mean peak memory over seeds: allocated CUDA tensors on a GPU, else the
    resident set with what training added to the resident set at its start; "(process)"
    marks a peak over the whole process (where the phase's own could not be measured)."""
    cuda = summarize(list(_by_seed(seeds, CUDA_PEAK).values()))
    if cuda.n:
        return f"{cuda.mean:,.0f} CUDA"
    peak = summarize(list(_by_seed(seeds, PEAK_RSS).values()))
    if not peak.n:
        return "–"
    before = summarize(list(_by_seed(seeds, RSS_BEFORE).values()))
    out = f"{peak.mean:,.0f}" + (f" ({peak.mean - before.mean:+,.0f})" if before.n else "")
    scopes = {dig(r.final, "memory.scope") for r in seeds.values()}
    return out + (" (process)" if "process" in scopes else "")


def arm_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """Every arm against plain SimCLR (no VRN, no GOR, not cached) at the same physical batch
    and temperature, paired by seed, with its cost: training seconds, their ratio to SimCLR's,
    and training's peak memory (`_memory`)."""
    header = [
        "physical batch",
        "t",
        "arm",
        "seeds",
        "linear top-1 %",
        "Δ linear vs SimCLR (95% CI)",
        "kNN top-1 %",
        "Δ kNN vs SimCLR (95% CI)",
        "kNN@10 %",
        "train s",
        "time / SimCLR's",
        "peak memory MiB (+ added by training)",
    ]
    arms = _arms(runs)
    rows = []
    for key in sorted(arms, key=_arm_order):
        physical, t, arm = key
        seeds, base = arms[key], arms.get((physical, t, BASELINE), {})
        lin, knn = _by_seed(seeds, LINEAR), _by_seed(seeds, KNN)
        secs = summarize(list(_by_seed(seeds, TRAIN_SECONDS).values()))
        base_secs = summarize(list(_by_seed(base, TRAIN_SECONDS).values()))
        if arm == BASELINE:
            d_lin = d_knn = "(baseline)"
        else:
            d_lin, d_knn = _delta(base, seeds, LINEAR), _delta(base, seeds, KNN)
        ratio = secs.mean / base_secs.mean if secs.n and base_secs.n else math.nan
        rows.append(
            [
                str(physical),
                f"{t:g}",
                arm,
                str(len(seeds)),
                summarize(list(lin.values())).fmt(100),
                d_lin,
                summarize(list(knn.values())).fmt(100),
                d_knn,
                summarize(list(_by_seed(seeds, KNN10).values())).fmt(100),
                secs.fmt(1, 0),
                "–" if math.isnan(ratio) else f"{ratio:.2f}",
                _memory(seeds),
            ]
        )
    return header, rows


def validation_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """Each arm at the end of training on the validation split (eval.also), against SimCLR at
    the same physical batch and temperature, paired by seed; arms without it are left out."""
    header = [
        "physical batch",
        "t",
        "arm",
        "seeds",
        "validation linear top-1 %",
        "Δ linear vs SimCLR (95% CI)",
        "validation kNN top-1 %",
        "Δ kNN vs SimCLR (95% CI)",
    ]
    arms = _arms(runs)
    rows = []
    for key in sorted(arms, key=_arm_order):
        physical, t, arm = key
        lin, knn = _by_seed(arms[key], VAL_LINEAR), _by_seed(arms[key], VAL_KNN)
        if not lin:
            continue
        base = arms.get((physical, t, BASELINE), {})
        d_lin = d_knn = "(baseline)"
        if arm != BASELINE:
            d_lin, d_knn = _delta(base, arms[key], VAL_LINEAR), _delta(base, arms[key], VAL_KNN)
        rows.append(
            [
                str(physical),
                f"{t:g}",
                arm,
                str(len(lin)),
                summarize(list(lin.values())).fmt(100),
                d_lin,
                summarize(list(knn.values())).fmt(100),
                d_knn,
            ]
        )
    return header, rows


def _curve_points(seeds: dict[int, Run]) -> list[tuple[int, Summary, Summary, Summary]]:
    """(epoch, training seconds, linear top-1, kNN top-1) per curve epoch, over seeds."""
    by_epoch: dict = defaultdict(lambda: ([], [], []))
    for run in seeds.values():
        for point in run.curve:
            if "epoch" in point:
                s, lin, knn = by_epoch[int(point["epoch"])]
                s.append(point.get("train_s", math.nan))
                lin.append(point.get("linear_top1", math.nan))
                knn.append(point.get("knn_top1", math.nan))
    return [(e, *(summarize(v) for v in by_epoch[e])) for e in sorted(by_epoch)]


def _curve_end(seeds: dict[int, Run], key: str) -> dict[int, float]:
    """seed -> the curve probe's `key` at the end of training (the point marked "end"; runs
    made before the trainer added it have none)."""
    out = {}
    for seed, run in seeds.items():
        for point in run.curve:
            if point.get("end") and key in point:
                out[seed] = point[key]
    return out


def curve_rows(runs: list[Run]) -> tuple[list[str], list[list[str]]]:
    """The curve probes (curve.jsonl) per arm and epoch: "linear % (kNN %) at s" seconds of
    training, means over seeds; and each arm's paired difference to SimCLR at the same physical
    batch and temperature in the curve's shorter linear probe at the end of training (the point
    marked "end"), over seeds. (kNN has no probe to train: its value at the end is the one of
    `validation_rows`, with an interval over images too.)"""
    arms = {k: v for k, v in _arms(runs).items() if any(r.curve for r in v.values())}
    epochs = sorted({e for seeds in arms.values() for e, *_ in _curve_points(seeds)})
    header = [
        "physical batch",
        "t",
        "arm",
        "seeds",
        *(f"epoch {e}" for e in epochs),
    ]
    ends = any(p.get("end") for seeds in arms.values() for r in seeds.values() for p in r.curve)
    if ends:  # runs made before the trainer marked the end of training have no such point
        header.append("Δ linear at the end vs SimCLR (95% CI, seeds)")
    rows = []
    for key in sorted(arms, key=_arm_order):
        cells = {
            e: f"{100 * lin.mean:.2f} ({100 * knn.mean:.2f}) at {secs.mean:.0f} s"
            for e, secs, lin, knn in _curve_points(arms[key])
        }
        base = arms.get((key[0], key[1], BASELINE))
        delta = "(baseline)" if key[2] == BASELINE else "–"
        if base is not None and key[2] != BASELINE:
            ends_of = (_curve_end(seeds, "linear_top1") for seeds in (base, arms[key]))
            delta = paired_difference(*ends_of).fmt(100)
        rows.append(
            [
                str(key[0]),
                f"{key[1]:g}",
                key[2],
                str(len(arms[key])),
                *(cells.get(e, "–") for e in epochs),
                *([delta] if ends else []),
            ]
        )
    return header, rows


# ----------------------------------------------------------------------------- plots
def _series_vs_batch(runs: list[Run], metric: str) -> dict:
    """(method, t, VRN setting) -> [(batch, mean, std over seeds)] sorted by batch; the setting
    is how the weight was set (`Run.vrn_setting`), so that a weight scaled by 1/lr is one line
    across batch sizes."""
    series: dict = defaultdict(list)
    for (method, batch, t), by_w in _groups(runs).items():
        for seeds in by_w.values():
            s = summarize(list(_by_seed(seeds, metric).values()))
            if s.n:
                w = next(iter(seeds.values())).vrn_setting
                series[(method, t, w)].append((batch, s.mean, 0.0 if s.n < 2 else s.std))
    return {k: sorted(v) for k, v in sorted(series.items())}


def _several_batches(series: dict) -> bool:
    """Whether any line of a figure against batch size (`_series_vs_batch`) has two points."""
    return any(len(points) > 1 for points in series.values())


def plot_accuracy_vs_batch(runs: list[Run], path: Path, metric: str = LINEAR) -> Path | None:
    series = _series_vs_batch(runs, metric)
    if not _several_batches(series):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (method, t, w), pts in series.items():
        xs, ys, es = zip(*pts)
        label = f"{method} t={t:g}" + (f" +VRN λ={w}" if w != "0" else "")
        ax.errorbar(
            xs,
            [100 * y for y in ys],
            yerr=[100 * e for e in es],
            marker="o",
            linestyle="--" if w != "0" else "-",
            capsize=3,
            label=label,
        )
    ax.set_xscale("log", base=2)
    label_axes(ax, "batch size", f"{'linear' if metric == LINEAR else 'kNN'} top-1 (%)")
    save_figure(fig, path)
    return path


def plot_accuracy_vs_time(runs: list[Run], path: Path) -> Path | None:
    """Linear top-1 of the curve probes (curve.jsonl, on the split held out from training)
    against training seconds, mean over seeds, one panel per physical batch and temperature:
    arms compared at equal time."""
    arms = {k: pts for k, v in _arms(runs).items() if (pts := _curve_points(v))}
    if not arms:
        return None
    panels = sorted({k[:2] for k in arms})
    several_t = len({t for _, t in panels}) > 1
    cols = min(len(panels), 4)
    rows = math.ceil(len(panels) / cols)
    plt = pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.2 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        for (pb, t, arm), pts in sorted(arms.items(), key=lambda kv: _arm_order(kv[0])):
            if (pb, t) == panel:
                xs = [secs.mean for _, secs, _, _ in pts]
                ys = [100 * lin.mean for _, _, lin, _ in pts]
                ax.plot(xs, ys, marker="o", lw=2 if arm == BASELINE else 1, label=arm)
        title = f"physical batch {panel[0]}" + (f", t = {panel[1]:g}" if several_t else "")
        ax.set_title(title, fontsize=9)
        label_axes(ax, "training seconds", "linear top-1 of the curve probes (%)", legend_size=6)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    save_figure(fig, path)
    return path


def plot_second_moment_vs_batch(runs: list[Run], path: Path) -> Path | None:
    """Second moment (variance + mean^2) of the negatives against batch size, per method and
    VRN weight, with the Welch floor (n, d) that no representation can go below."""
    series = _series_vs_batch(runs, NEG_M2)
    floors = {v for r in runs if r.complete and not math.isnan(v := r.metric(WELCH))}
    if not _several_batches(series):
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (method, t, w), pts in series.items():
        xs, ys, _ = zip(*pts)
        ax.plot(
            xs,
            ys,
            marker="o",
            linestyle="--" if w != "0" else "-",
            label=f"{method}, t={t:g}, VRN λ={w}",
        )
    for floor in sorted(floors):
        ax.axhline(floor, color="black", lw=1, ls=":", label=f"Welch floor {floor:.4f}")
    ax.set_xscale("log", base=2)
    label_axes(ax, "batch size", "E[s_neg^2] (5,000 augmented pairs)")
    save_figure(fig, path)
    return path


def plot_neg_hists(runs: list[Run], path: Path) -> Path | None:
    """One panel per (method, batch): negative-similarity histograms, VRN off vs on (seed 0)."""
    panels = []
    for (method, batch, t), by_w in sorted(_groups(runs).items()):
        curves = []
        for w in sorted(by_w):
            run = by_w[w][min(by_w[w])]
            hist = dig(run.final, NEG_HIST)
            if isinstance(hist, dict) and hist.get("counts"):
                curves.append((w, hist["edges"], hist["counts"]))
        if curves:
            panels.append((f"{method}, batch {batch}, t={t:g}", curves))
    if not panels:
        return None
    plt = pyplot()
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), squeeze=False)
    for ax, (title, curves) in zip(axes.flat, panels):
        for w, edges, counts in curves:
            total = sum(counts) or 1
            width = [b - a for a, b in zip(edges[:-1], edges[1:])]
            dens = [c / total / wd for c, wd in zip(counts, width)]
            ax.stairs(dens, edges, label=f"λ={w:g}", fill=w == 0.0, alpha=0.5 if w == 0 else 1)
        ax.set_title(title, fontsize=8)
        ax.set_xlim(-1, 1)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.supxlabel("cosine similarity of negative pairs (projector outputs)", fontsize=8)
    save_figure(fig, path)
    return path


def _ci95(s: Summary) -> float:
    """Half-width of the 95% Student-t interval of a mean over seeds (0 for one seed)."""
    return t975(s.n - 1) * s.std / math.sqrt(s.n) if s.n > 1 else 0.0


def _series_vs_temperature(runs: list[Run], metric: str) -> dict:
    """(family, batch, VRN on) -> [(t, Summary over seeds)] sorted by t: one line per arm
    across temperatures, whatever weight each temperature chose for VRN."""
    series: dict = defaultdict(list)
    for (family, batch, t), by_w in _groups(runs).items():
        for w, seeds in by_w.items():
            s = summarize(list(_by_seed(seeds, metric).values()))
            if s.n:
                series[(family, batch, bool(w))].append((t, s))
    return {k: sorted(v, key=lambda p: p[0]) for k, v in sorted(series.items()) if len(v) > 1}


TEMPERATURE_PANELS = (  # (metric, y label, scale) of plot_temperature's panels
    (LINEAR, "linear top-1 (%)", 100.0),
    (KNN, "kNN top-1 (%)", 100.0),
    (NEG_VAR, "variance of negative similarities", 1.0),
    (NEG_M2, "second moment of negative similarities", 1.0),
)


def plot_temperature(runs: list[Run], path: Path) -> Path | None:
    """Each arm (method, batch, VRN on/off: the weight may differ per t) against temperature,
    the paper's Figure 3 shape: linear and kNN top-1 with 95% intervals over seeds, and the
    negatives' variance and second moment (5,000 augmented pairs) with the Welch floor."""
    if len({r.temperature for r in runs if r.complete}) < 2:
        return None
    panels = [(_series_vs_temperature(runs, m), label, k) for m, label, k in TEMPERATURE_PANELS]
    if not panels[0][0]:
        return None
    floors = {v for r in runs if r.complete and not math.isnan(v := r.metric(WELCH))}
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.6))
    for ax, (series, ylabel, scale) in zip(axes.flat, panels):
        for i, ((family, batch, vrn), pts) in enumerate(series.items()):
            dodge = 10 ** (0.008 * (i - (len(series) - 1) / 2))  # apart, so bars do not hide
            ax.errorbar(
                [t * dodge for t, _ in pts],
                [scale * s.mean for _, s in pts],
                yerr=[scale * _ci95(s) for _, s in pts],
                marker="o",
                capsize=3,
                linestyle="--" if vrn else "-",
                label=f"{family} bs={batch}" + (" + VRN (λ per t)" if vrn else ""),
            )
        if ylabel.startswith("second moment"):
            for floor in sorted(floors):
                ax.axhline(floor, color="black", lw=1, ls=":", label=f"Welch floor {floor:.4f}")
        ax.set_xscale("log")  # ticks at the temperatures that ran, written plainly
        temps = sorted({t for pts in series.values() for t, _ in pts})
        ax.set_xticks(temps, [f"{t:g}" for t in temps])
        ax.set_xticks([], minor=True)
        label_axes(ax, "temperature t", ylabel, legend_size=6)
    save_figure(fig, path)
    return path


# ----------------------------------------------------------------------------- rendering
def _simulator_blocks(sim_dir: Path) -> list[Block]:
    summary = sim_dir / "simulate.json"
    if not summary.is_file():
        return [
            Block(
                "p",
                "No simulator output in this folder (`contrastlens simulate --out "
                f"{sim_dir}` writes it).",
            )
        ]
    blocks = []
    data = json.loads(summary.read_text())
    cfg, theory, sim_runs = data.get("config", {}), data.get("theory", {}), data.get("runs", {})
    if cfg:
        blocks.append(
            Block(
                "p",
                "Free unit embeddings (n = {n}, d = {d}) trained by the "
                "library's {loss} loss in float64; mini-batches of {batch} "
                "(fixed partition); VRN weight {vrn_weight}.".format(
                    **{k: cfg.get(k, "?") for k in ("n", "d", "loss", "batch", "vrn_weight")}
                ),
            )
        )
    if theory:
        bounds = theory.get("thm55_bounds") or [math.nan, math.nan]
        opt, within = theory.get("optimum_neg", math.nan), theory.get("within_batch_neg", math.nan)
        text = (
            f"Theory: full-batch optimum −1/(n−1) = {opt:.4f}; within-batch negatives "
            f"−1/(m−1) = {within:.4f}; Thm 5.5 bounds on Var[s_neg] at this m: "
            f"[{bounds[0]:.4f}, {bounds[1]:.4f}]."
        )
        blocks.append(Block("p", text))
    keys = ["pos_mean", "neg_mean", "neg_var", "excess"]
    rows = [
        [name] + [f"{r.get(k, math.nan):.4f}" for k in keys]
        for name, r in sim_runs.items()
        if isinstance(r, dict)
    ]
    if rows:
        blocks.append(Block("table", header=["run", *keys], rows=rows))
    for png in sorted(sim_dir.glob("*.png")):
        blocks.append(Block("img", f"simulator: {png.stem}", path=png))
    return blocks


def build_report(directory: str | Path, out_dir: str | Path | None = None) -> dict:
    """Write report.md, report.html and report.json (the tables) for the runs under `directory`.

    Returns {"md": path, "html": path, "headline": (header, rows), "variance", "arms",
    "runs": counts}.
    """
    root = Path(directory)
    out = Path(out_dir) if out_dir else root
    runs = find_runs(root)  # a folder that does not exist is an error, not an empty report
    out.mkdir(parents=True, exist_ok=True)
    # Runs scored on a validation split (the selection step) are reported in their section
    # only: their accuracies are not test accuracies.
    selection = [r for r in runs if _scored_on_validation(r)]
    runs = [r for r in runs if r not in selection]
    meta = rf.try_read_json(root / rf.STUDY)
    tables = {
        "headline": headline_rows(runs),
        "arms": arm_rows(runs),
        "validation": validation_rows(runs),
        "variance": variance_rows(runs),
    }
    blocks = [Block("h1", meta.get("title", f"contrastlens report: {root.name}"))]
    blocks += _setup_blocks(root, runs, selection, meta)
    blocks += _table_section("headline", *tables["headline"])
    blocks += _table_section("arms", *tables["arms"])
    if tables["validation"][1] or not any(r.complete for r in runs):  # "No runs." if none
        blocks += _table_section("validation", *tables["validation"])
    else:
        blocks += [Block("h2", SECTIONS["validation"]), Block("p", _NO_VALIDATION)]
    blocks += _floor_blocks(root, runs, selection)
    blocks += _table_section("variance", *tables["variance"])
    blocks += _figure_blocks(runs, out, bool(selection))
    blocks += [Block("h2", SECTIONS["simulator"]), *_simulator_blocks(root / "simulate")]
    blocks += _selection_blocks(root, selection, meta)
    blocks += _runs_blocks(root, runs)
    blocks += _environment_blocks(root, runs, meta)

    md_path, html_path = out / "report.md", out / "report.html"
    rf.write_text(to_markdown(blocks), md_path)
    rf.write_text(to_html(blocks, blocks[0].text), html_path)
    as_json = {k: {"header": h, "rows": r} for k, (h, r) in tables.items()}
    rf.write_text(json.dumps(as_json, indent=1) + "\n", out / "report.json")
    done = sum(r.complete for r in runs)
    failed = sum(r.failed for r in runs)
    return {
        "md": md_path,
        "html": html_path,
        **tables,
        "runs": {"total": len(runs), "done": done, "failed": failed},
    }


def _scored_on_validation(r: Run) -> bool:
    return bool(dig(r.config, "data.val_size", 0)) and (
        dig(r.config, "eval.final_split", "auto") != "test"
    )


def _setup_blocks(root: Path, runs: list[Run], selection: list[Run], meta: dict) -> list[Block]:
    done = sum(r.complete for r in runs)
    failed = sum(r.failed for r in runs)
    validation = (
        f" and {len(selection)} for the validation split only (selections and pilots, listed "
        f"under '{SECTIONS['selection']}')"
        if selection
        else ""
    )
    text = (
        f"{_count(len(runs), 'run folder')} under {root} for the test split ({done} complete: "
        f"finished, or stopped by a limit they were given; {failed} failed, "
        f"{len(runs) - done - failed} unfinished){validation}. Numbers are mean ± sample std "
        "over seeds; Δ is the paired difference (VRN on − off, same seed) with a 95% Student-t "
        "interval. VRN λ is the weight each run trained with (meta.json resolved.vrn_weight); "
        '"60 (30 x 0.075/lr)" marks a weight set by vrn.lr_ref, scaled by the run\'s peak lr.'
    )
    blocks = [Block("h2", SECTIONS["setup"]), Block("p", text)]
    if meta.get("description"):
        blocks.append(Block("p", meta["description"]))
    return blocks


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + "s" * (n != 1)


def _floor_blocks(root: Path, runs: list[Run], selection: list[Run]) -> list[Block]:
    """The raw-pixel floor (floor.json) against the runs scored on the floor's split."""
    blocks = [Block("h2", SECTIONS["floor"])]
    path = root / "floor.json"
    floor = json.loads(path.read_text()) if path.is_file() else {}
    if not floor:
        return blocks + [Block("p", "Not measured: this folder has no floor.json.")]
    compared = selection if floor.get("probe_split") == "val" else runs  # a pilot: validation
    fh, fr = floor_rows(compared, floor)
    text = (
        f"The same probes on raw pixels ({floor.get('feature_dim')}-d, {floor.get('n_train')} "
        f"training images, scored on the {floor.get('probe_split')} split): a representation "
        "has to beat these numbers to be worth learning."
    )
    return blocks + [Block("p", text), Block("table", header=fh, rows=fr)]


def _figure_blocks(runs: list[Run], out: Path, validation_runs: bool) -> list[Block]:
    figures = [  # (section, plot, file, caption)
        ("hists", plot_neg_hists, "neg_hist.png", "negative similarities"),
        (
            "m2",
            plot_second_moment_vs_batch,
            "neg_m2_vs_batch.png",
            "second moment of negative similarities, with the Welch floor",
        ),
        ("batch", plot_accuracy_vs_batch, "acc_vs_batch.png", "linear top-1"),
        (
            "time",
            plot_accuracy_vs_time,
            "acc_vs_time.png",
            "linear top-1 of the curve probes against training seconds",
        ),
        (
            "temperature",
            plot_temperature,
            "temperature.png",
            "each arm against temperature: linear and kNN top-1 (95% intervals over seeds), "
            "the negatives' variance and second moment with the Welch floor",
        ),
    ]
    done = [r for r in runs if r.complete]
    blocks = []
    for key, plot, name, caption in figures:
        blocks.append(Block("h2", SECTIONS[key]))
        path = plot(runs, out / name)
        if path is None:
            (out / name).unlink(missing_ok=True)  # a figure an earlier report left behind
            why = "no finished runs with this data"
            if not done:
                why = "no finished run scored on the test split"
                if validation_runs:
                    why += f" (runs on the validation split only are under {SECTIONS['selection']})"
            elif key == "temperature" and len({r.temperature for r in done}) < 2:
                why = "the grid has a single temperature"
            elif key in ("m2", "batch") and not _several_batches(_series_vs_batch(runs, LINEAR)):
                why = "no arm ran at more than one batch size"
            blocks.append(Block("p", f"Not shown: {why}."))
            continue
        blocks.append(Block("img", caption, path=path))
        if key == "time":
            ch, cr = curve_rows(runs)
            delta = (
                "Δ: each arm minus SimCLR at the same physical batch and temperature, paired by "
                "seed, at the end of training (this split and this probe; the interval counts "
                "the seeds only). "
            )
            text = (
                "Probes during training (eval.curve_epochs) and at the end of training, on the "
                "validation split held out from training, with the shorter probe of the curve: "
                "linear top-1 % (kNN top-1 %) at the mean training seconds, mean over seeds. "
                + (delta if any(h.startswith("Δ") for h in ch) else "")
                + "The test split is scored once, at the end, with the full probe (tables above)."
            )
            blocks += [Block("p", text), Block("table", header=ch, rows=cr)]
    return blocks


def _selection_blocks(root: Path, selection: list[Run], meta: dict) -> list[Block]:
    default = (
        "No hyperparameter selection was recorded for this folder: the values in each run's "
        "config.json were fixed in advance."
    )
    blocks = [Block("h2", SECTIONS["selection"]), Block("p", meta.get("selection", default))]
    if selection:
        header = ["selection run", "status", "arm", "validation linear %", "validation kNN %"]
        rows = [
            [
                _where(r, root),
                r.status,
                r.arm,
                pct(r.metric(LINEAR)),
                pct(r.metric(KNN)),
                f"{r.metric(NEG_VAR):.4f}",
            ]
            for r in sorted(selection, key=lambda r: (r.gor_weight, r.vrn_weight, r.seed))
        ]
        blocks.append(Block("table", header=[*header, "neg. variance"], rows=rows))
    return blocks


def _runs_blocks(root: Path, runs: list[Run]) -> list[Block]:
    header = ["run", "status", "linear %", "kNN %", "train s", "eval s", "peak RSS MiB"]
    rows = []
    for r in runs:
        err = ""
        if r.failed:
            tail = r.error.get("log_tail") or [""]
            err = next((ln for ln in reversed(tail) if ln.strip()), "")[:160]
        numbers = [r.metric(TRAIN_SECONDS), r.metric(EVAL_SECONDS), r.metric(PEAK_RSS)]
        rows.append(
            [
                _where(r, root),
                r.status,
                pct(r.metric(LINEAR)),
                pct(r.metric(KNN)),
                *("–" if math.isnan(x) else f"{x:.0f}" for x in numbers),
                precision_label(r.meta),
                code_state(r.meta),
                err,
            ]
        )
    header += ["precision", "code", "error"]
    return [Block("h2", SECTIONS["runs"]), Block("table", header=header, rows=rows)]


def _environment_blocks(root: Path, runs: list[Run], meta: dict) -> list[Block]:
    keys = ("versions", "git", "hostname", "device", "world_size", "precision")
    env = next(({k: r.meta.get(k) for k in keys} for r in runs if r.complete and r.meta), None)
    commands = (meta.get("commands") or []) + _sweep_commands(root)
    commands += [f"contrastlens report {root}"]
    return [
        Block("h2", SECTIONS["environment"]),
        Block("pre", json.dumps(env or {"note": "not recorded"}, indent=1)),
        Block("pre", "\n".join(commands)),
    ]


def _where(run: Run, root: Path) -> str:
    """The run folder under the report's folder, without the sweeps' "runs/" level (run names
    repeat across sweeps: bs512_seed0 in b32-cached and in b128-cached)."""
    try:
        parts = run.path.relative_to(root).parts
    except ValueError:
        return run.name
    return "/".join(p for p in parts if p != "runs") or run.name


def _table_section(key: str, header: list[str], rows: list[list[str]]) -> list[Block]:
    """A section of SECTIONS[key]: its heading, its paragraph in NOTES if any, its table."""
    out = [Block("h2", SECTIONS[key])] + ([Block("p", NOTES[key])] if key in NOTES else [])
    return out + [Block("table", header=header, rows=rows) if rows else Block("p", "No runs.")]


def _sweep_commands(root: Path) -> list[str]:
    """The command of every `contrastlens sweep` folder under root (its sweep.json argv).

    Studies list their own sittings in study.json; a follow-up sweep run into the same folder
    has its runs in the tables, so its command belongs in the report too.
    """
    out = []
    for path in sorted(root.rglob("sweep.json")):
        try:
            argv = json.loads(path.read_text()).get("argv") or []
        except (OSError, ValueError):
            continue
        if len(argv) > 1 and argv[1] == "sweep":
            out.append(shlex.join(["contrastlens", *argv[1:]]))
    return out
