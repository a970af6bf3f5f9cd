"""The report of `contrastlens inspect`: report.json (`InspectResult.to_dict`), report.md and a
self-contained report.html (figures inlined), built from blocks as the study reports are
(`contrastlens.report.render`). With a comparison, every table has one column (or one group of
rows) per subject and the figures overlay both.

    paths = write_report(result, "out/")   # {"json": ..., "md": ..., "html": ..., figures}
"""

from __future__ import annotations

import math
from pathlib import Path

from contrastlens import runfolder as rf
from contrastlens.inspect.findings import hist_quantile, mean_direction_share
from contrastlens.inspect.result import InspectResult
from contrastlens.report.render import Block, label_axes, pyplot, save_figure, to_html, to_markdown

__all__ = ["REPORT_FILES", "build_blocks", "write_report"]

REPORT_FILES = {"json": "report.json", "md": "report.md", "html": "report.html"}
FIGURES = {"similarities": "similarities.png", "spectrum": "spectrum.png"}
COLORS = ("tab:blue", "tab:orange")
PLOT_BINS = 100  # the figures' bins (the histograms have more: they set the threshold grid)


def _subjects(result: InspectResult) -> list[InspectResult]:
    return [result] if result.compare is None else [result, result.compare]


def _f(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _coarse(hist, bins: int = PLOT_BINS):
    """(centers, density) of a histogram re-binned to `bins` (its bins must be a multiple)."""
    import torch

    step = max(hist.bins // bins, 1)
    counts = hist.counts_H[: hist.bins // step * step].reshape(-1, step).sum(1).double()
    width = (hist.hi - hist.lo) / counts.numel()
    density = counts / max(float(counts.sum()), 1.0) / width
    centers = hist.lo + width * (torch.arange(counts.numel(), dtype=torch.float64) + 0.5)
    return centers.tolist(), density.tolist()


def _similarity_figure(subjects: list[InspectResult], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    for r, color in zip(subjects, COLORS):
        h = r.histograms
        tag = f"{r.name}: " if len(subjects) > 1 else ""
        if r.lens.paired:
            x, y = _coarse(h.pos)
            ax.plot(x, y, color=color, lw=2, label=f"{tag}positives")
        if h.same is not None and h.same.total and h.different.total:
            for part, style in ((h.same, ":"), (h.different, "--")):
                x, y = _coarse(part)
                name = "same-label" if part is h.same else "different-label"
                ax.plot(x, y, color=color, ls=style, lw=1.5, label=f"{tag}{name} negatives")
        else:
            x, y = _coarse(h.neg)
            ax.plot(x, y, color=color, ls="--", lw=1.5, label=f"{tag}negatives")
        if r.thresholds is not None:
            ax.axvline(r.thresholds.best.threshold, color=color, lw=0.8, alpha=0.6)
    ax.axvline(subjects[0].lens.optimum, color="k", lw=0.8, ls="-.", label="optimum -1/(n-1)")
    ax.set_xlim(-1, 1)
    label_axes(ax, "cosine similarity", "density")
    ax.set_title("Similarities (vertical lines: best-F1 threshold)", fontsize=10)
    save_figure(fig, path)


def _spectrum_figure(subjects: list[InspectResult], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for r, color in zip(subjects, COLORS):
        spectrum = [x for x in (r.lens.spectrum or ()) if x > 0]
        total = sum(spectrum) or 1.0
        ax.semilogy(
            range(1, len(spectrum) + 1),
            [x / total for x in spectrum],
            color=color,
            label=f"{r.name} (RankMe {r.lens.diagnostics['rankme']:.1f})",
        )
    label_axes(ax, "component", "share of the variance")
    ax.set_title(
        "Covariance spectrum of the unit rows (dimensional collapse: a fast drop)", fontsize=10
    )
    save_figure(fig, path)


def _table(header: list[str], rows: list[list[str]]) -> Block:
    return Block("table", header=header, rows=rows)


def _per_subject(subjects, label: str, rows: list[tuple[str, callable]]) -> Block:
    """A table with one column per subject: rows of (name, value of a result)."""
    return _table(
        [label, *(r.name for r in subjects)], [[n, *(f(r) for r in subjects)] for n, f in rows]
    )


def build_blocks(result: InspectResult, figures: dict[str, Path]) -> list[Block]:
    """The report's blocks (figures already written at `figures`)."""
    subjects = _subjects(result)
    names = " vs ".join(r.name for r in subjects)
    first = subjects[0]
    blocks = [Block("h1", f"Similarity lens: {names}")]
    for r in subjects:
        src = ", ".join(
            f"{k} {v}" for k, v in r.source.items() if v is not None and k not in ("rows", "dim")
        )
        what = "positive pairs (row i of each view)" if r.lens.paired else "one view"
        labels = f", {r.labels} labels" if r.labels else ""
        blocks.append(
            Block(
                "p",
                f"{r.name} ({r.kind}): {r.rows:,} rows of dimension {r.dim}, {what}{labels}; "
                f"dataset size n = {r.lens.dataset_size:,}. Read: {src}.",
            )
        )
    blocks.append(Block("h2", "Findings"))
    for r in subjects:
        for line in r.findings:
            blocks.append(Block("p", (f"[{r.name}] " if len(subjects) > 1 else "") + line))

    blocks += [
        Block("h2", "Similarities"),
        Block("img", "Similarity histograms", path=figures["similarities"]),
    ]
    quant = (0.05, 0.5, 0.95)
    rows = [
        ("positives: mean", lambda r: _f(r.lens.moments.pos_mean) if r.lens.paired else "–"),
        ("positives: variance", lambda r: _f(r.lens.moments.pos_var) if r.lens.paired else "–"),
        *(
            (
                f"positives: {int(100 * q)}th percentile",
                lambda r, q=q: _f(hist_quantile(r.histograms.pos, q), 3) if r.lens.paired else "–",
            )
            for q in quant
        ),
        ("negatives: mean", lambda r: _f(r.lens.moments.neg_mean)),
        ("negatives: variance", lambda r: _f(r.lens.moments.neg_var)),
        *(
            (
                f"negatives: {int(100 * q)}th percentile",
                lambda r, q=q: _f(hist_quantile(r.histograms.neg, q), 3),
            )
            for q in quant
        ),
        ("negative pairs", lambda r: f"{r.lens.moments.neg_count:,}"),
        (
            "histograms",
            lambda r: (
                "exact" if r.histograms.exact else f"{r.histograms.sample_size:,} sampled pairs"
            ),
        ),
        ("anisotropy: mean cosine of random pairs", lambda r: _f(r.lens.anisotropy)),
        (
            "mean direction's share of each unit vector",
            lambda r: _pct(mean_direction_share(r.lens.anisotropy, r.rows)),
        ),
    ]
    blocks.append(_per_subject(subjects, "statistic", rows))

    blocks.append(Block("h2", "Against the theory"))
    blocks.append(
        Block(
            "p",
            "The full-batch optimum puts every negative at -1/(n-1) (Thm 5.1, Lee et al., ICML "
            "2025, arXiv:2506.09781); for n > d unit vectors the mean of s^2 over the negatives "
            "is at least the Welch floor (n - d)/(d(n - 1)), about 1/d, so the variance at the "
            "optimum mean is at least floor - 1/(n-1)^2. VRN (Def 5.7) is var + (mean + "
            "1/(n-1))^2.",
        )
    )

    def vrn(r):
        m = r.lens.moments
        return m.neg_var + (m.neg_mean - r.lens.optimum) ** 2

    rows = [
        ("dataset size n", lambda r: f"{r.lens.dataset_size:,}"),
        ("optimum -1/(n-1)", lambda r: f"{r.lens.optimum:.3e}"),
        ("negatives: mean", lambda r: _f(r.lens.moments.neg_mean)),
        ("excess: mean - optimum", lambda r: _f(r.lens.moments.excess)),
        ("negatives: variance", lambda r: _f(r.lens.moments.neg_var)),
        ("negatives: second moment (var + mean^2)", lambda r: _f(r.lens.neg_second_moment)),
        ("Welch floor of the second moment", lambda r: _f(r.lens.welch_floor)),
        (
            "second moment / floor",
            lambda r: (
                _f(r.lens.neg_second_moment / r.lens.welch_floor, 2)
                if r.lens.welch_floor > 0
                else "–"
            ),
        ),
        ("VRN term (unweighted)", lambda r: _f(vrn(r))),
    ]
    blocks.append(_per_subject(subjects, "quantity", rows))

    if any(r.lens.moments.by_label is not None for r in subjects):
        blocks.append(Block("h2", "Same label vs different label"))
        blocks.append(
            Block(
                "p",
                "The negatives split exactly into pairs whose rows share a label (false "
                "negatives to a contrastive loss) and pairs that do not (no n x n matrix).",
            )
        )

        def part(name, key, fmt):
            def get(r):
                split = r.lens.moments.by_label
                return "–" if split is None else fmt(getattr(split, f"{name}_{key}"))

            return get

        rows = [("labels", lambda r: str(r.labels or "–"))]
        for name in ("same", "different"):
            rows += [
                (f"{name} label: pairs", part(name, "count", lambda x: f"{x:,}")),
                (f"{name} label: share", part(name, "share", _pct)),
                (f"{name} label: mean", part(name, "mean", _f)),
                (f"{name} label: variance", part(name, "var", _f)),
            ]
        blocks.append(_per_subject(subjects, "negatives", rows))

    blocks.append(Block("h2", "Geometry"))
    blocks.append(Block("img", "Covariance spectrum", path=figures["spectrum"]))
    rows = [
        ("alignment E||u - v||^2", lambda r: _f(r.lens.diagnostics.get("alignment"))),
        ("uniformity (t = 2)", lambda r: _f(r.lens.diagnostics["uniformity"])),
        ("uniformity rows", lambda r: f"{r.lens.uniformity_rows:,}"),
        ("RankMe / GOR / spectrum rows", lambda r: f"{r.lens.diagnostic_rows:,}"),
        ("RankMe (effective rank)", lambda r: _f(r.lens.diagnostics["rankme"], 1)),
        ("dimension", lambda r: str(r.dim)),
        ("GOR M1 (mean within-view similarity)", lambda r: _f(r.lens.diagnostics["gor_m1"])),
        ("GOR M2 (mean square)", lambda r: _f(r.lens.diagnostics["gor_m2"])),
    ]
    blocks.append(_per_subject(subjects, "diagnostic", rows))

    blocks.append(Block("h2", "Batch size"))
    blocks.append(
        Block(
            "p",
            "For a batch of B distinct rows drawn at random: the expected variance of its "
            "negatives (exact: E over batches of the population variance of the B(B-1) "
            "in-batch pairs, from the moments; the paper's Table 1 statistic on one batch), "
            "the in-batch optimum -1/(B-1) a batch's own negatives are pushed toward (Thm "
            "5.5), and the false negatives it holds: rows with the same text (duplicates) or "
            "the same label. The share of false pairs is the same at every B; the number per "
            "anchor, and the share of anchors that meet one, grow with B.",
        )
    )
    header = [
        "subject",
        "B",
        "E[var of negatives]",
        "in-batch optimum",
        "false pairs",
        "false per anchor",
        "anchors with one",
        "duplicate pairs",
        "same-label pairs",
    ]
    rows = []
    for r in subjects:
        for b in r.batches:
            fn = b.false_negatives
            rows.append(
                [
                    r.name,
                    f"{b.batch_size:,}" + (" (all)" if b is r.batches[-1] else ""),
                    _f(b.neg_var, 6),
                    f"{b.in_batch_optimum:.2e}",
                    _pct(fn.share) if fn else "–",
                    _f(fn.per_anchor, 3) if fn else "–",
                    _pct(fn.anchors_with_any) if fn else "–",
                    _pct(b.duplicates.share) if b.duplicates else "–",
                    _pct(b.same_label.share) if b.same_label else "–",
                ]
            )
    blocks.append(_table(header, rows))

    if any(r.retrieval for r in subjects):
        blocks.append(Block("h2", "Retrieval at lower precision"))
        blocks.append(
            Block(
                "p",
                "Each query's positive among every row's positive (with labels and one view: "
                "the nearest other row of its label), at float32 (cosine), int8 and binary "
                "(sentence-transformers' quantize_embeddings; int8 ranges calibrated on the "
                "corpus and scored by inner product of the codes, as its usearch search does; "
                "binary by hamming distance; no rescoring: its semantic_search_usearch rescores "
                "the top "
                "candidates with float32 queries by default, which recovers much of the loss). "
                "Recall@k: the share of queries with a relevant row in the top k.",
            )
        )
        header = [
            "subject",
            "precision",
            "bytes / vector",
            "MRR@10",
            "R@1",
            "R@10",
            "MRR@10 vs float32",
        ]
        rows = []
        for r in subjects:
            base = next((x.mrr_at_10 for x in r.retrieval if x.precision == "float32"), None)
            for x in r.retrieval:
                rows.append(
                    [
                        r.name,
                        x.precision,
                        f"{x.bytes_per_vector:g}",
                        _f(x.mrr_at_10, 3),
                        _f(x.recall_at_1, 3),
                        _f(x.recall_at_10, 3),
                        _pct(x.mrr_at_10 / base) if base else "–",
                    ]
                )
        blocks.append(_table(header, rows))
        blocks.append(
            Block(
                "p", "Queries: " + ", ".join(f"{r.name} {r.retrieval_queries:,}" for r in subjects)
            )
        )

    if any(r.thresholds is not None for r in subjects):
        blocks.append(Block("h2", "Thresholds"))
        blocks.append(
            Block(
                "p",
                f'Precision and recall of "similarity >= t means a pair" ({first.pair_kind}), '
                "over every pair of the set; the best cut maximizes F1.",
            )
        )
        header = ["subject", "threshold", "precision", "recall", "F1"]
        rows = []
        for r in subjects:
            if r.thresholds is None:
                continue
            for row in (*r.thresholds.rows, r.thresholds.best):
                best = row is r.thresholds.best
                rows.append(
                    [
                        r.name,
                        f"{row.threshold:.3f}" + (" (best F1)" if best else ""),
                        _pct(row.precision),
                        _pct(row.recall),
                        _f(row.f1, 3),
                    ]
                )
        blocks.append(_table(header, rows))

    blocks.append(Block("h2", "How this was computed"))
    lines = []
    for r in subjects:
        tag = f"{r.name}: " if len(subjects) > 1 else ""
        lines += [tag + note for note in r.notes]
        times = ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in r.timings.items())
        lines.append(f"{tag}time: {times}")
    lines.append(
        "Cosine similarities of L2-normalized rows. Moments, the label split and the batch "
        "table are exact over all pairs (sums of outer products, O(n d^2), no n x n matrix)."
    )
    blocks.append(Block("pre", "\n".join(lines)))
    return blocks


def write_report(result: InspectResult, out: str | Path) -> dict[str, Path]:
    """report.json, report.md, report.html and the figures in folder `out` (created)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    subjects = _subjects(result)
    figures = {key: folder / name for key, name in FIGURES.items()}
    _similarity_figure(subjects, figures["similarities"])
    _spectrum_figure(subjects, figures["spectrum"])
    blocks = build_blocks(result, figures)
    paths = {key: folder / name for key, name in REPORT_FILES.items()}
    rf.write_json(result.to_dict(), paths["json"])
    rf.write_text(to_markdown(blocks), paths["md"])
    title = "Similarity lens: " + " vs ".join(r.name for r in subjects)
    rf.write_text(to_html(blocks, title), paths["html"])
    return paths | figures
