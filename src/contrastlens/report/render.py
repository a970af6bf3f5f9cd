"""Rendering for the reports: blocks of text, tables and figures to Markdown and to a
self-contained HTML page, and the small formatters the study and text reports share.

    blocks = [Block("h1", "Title"), Block("table", header=[...], rows=[[...]])]
    rf.write_text(to_markdown(blocks), path_md); rf.write_text(to_html(blocks, "Title"), path_html)
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path

from contrastlens import runfolder as rf


@dataclass
class Block:
    kind: str  # h1 | h2 | p | table | img | pre
    text: str = ""
    header: list[str] | None = None
    rows: list[list[str]] | None = None
    path: Path | None = None


def pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.2f}"


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def label_axes(ax, xlabel: str, ylabel: str, legend_size: int = 7) -> None:
    """Label a plot's axes, with a light grid and the legend (if anything is labelled; an
    empty panel says it has no data)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=legend_size)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)


def save_figure(fig, path: Path) -> None:
    """Lay out and save a PNG atomically (a full disk or a kill keeps the previous figure),
    then close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        rf.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110), binary=True)
    finally:
        plt.close(fig)


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b.kind in ("h1", "h2"):
            out.append(("# " if b.kind == "h1" else "## ") + b.text)
        elif b.kind == "p":
            out.append(b.text)
        elif b.kind == "pre":
            out.append("```\n" + b.text.rstrip() + "\n```")
        elif b.kind == "img":
            out.append(f"![{b.text}]({b.path.name})")
        elif b.kind == "table":
            lines = ["| " + " | ".join(b.header) + " |", "|" + "---|" * len(b.header)]
            lines += ["| " + " | ".join(r) + " |" for r in b.rows]
            out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def to_html(blocks: list[Block], title: str) -> str:
    body = []
    for b in blocks:
        if b.kind in ("h1", "h2"):
            body.append(f"<{b.kind}>{html.escape(b.text)}</{b.kind}>")
        elif b.kind == "p":
            body.append(f"<p>{html.escape(b.text)}</p>")
        elif b.kind == "pre":
            body.append(f"<pre>{html.escape(b.text)}</pre>")
        elif b.kind == "img":
            data = base64.b64encode(b.path.read_bytes()).decode()
            body.append(
                f'<figure><img alt="{html.escape(b.text)}" src="data:image/png;base64,'
                f'{data}"><figcaption>{html.escape(b.text)}</figcaption></figure>'
            )
        elif b.kind == "table":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in b.header)
            rows = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in b.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "th{background:#f3f3f3}img{max-width:100%}pre{background:#f6f6f6;padding:8px;"
        "overflow-x:auto}figcaption{font-size:12px;color:#555}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def precision_label(meta: dict) -> str:
    """How the run computed: "bf16+cl" (bf16 autocast, channels-last), "fp32", ... ; runs
    from before precision was recorded trained in float32 on the CPU."""
    p = meta.get("precision")
    if not isinstance(p, dict):
        return "fp32 (not recorded)" if meta else "–"
    name = "bf16" if p.get("amp") == "bf16" else meta.get("dtype", "float32").replace("float", "fp")
    return name + ("+cl" if p.get("channels_last") else "")


def code_state(meta: dict) -> str:
    """ "clean" when the run's code was committed, "DIRTY" when it had uncommitted changes."""
    dirty = (meta.get("git") or {}).get("dirty")
    return "–" if dirty is None else ("DIRTY" if dirty else "clean")
