"""`contrastlens inspect`: the similarity lens of any model or embeddings.

    contrastlens inspect --embeddings E.npy [--positives P.npy] [--labels L.npy] --out DIR
    contrastlens inspect --model PATH --pairs pairs.tsv --out DIR   (PATH: a saved
                         sentence-transformers folder, or `minilm`, the packaged all-MiniLM-L6-v2)
    contrastlens inspect RUN_DIR --out DIR                          (a contrastlens run folder)
    ... --compare OTHER        a second input of the same kind beside the first: another model
                               on the same pairs, another run folder, or other embeddings
                               (with --compare-positives when --positives is given)

Writes DIR/report.json, DIR/report.md and DIR/report.html (with DIR/*.png): positive and
negative similarity histograms, the negatives against the optimum -1/(n-1) and the Welch floor,
anisotropy, alignment, uniformity, RankMe and the covariance spectrum, the label split, what a
batch of --batch-size sees (expected variance of its negatives, false negatives), retrieval at
float32 / int8 / binary precision and a threshold table. The same as `contrastlens.inspect(...)`.
"""

from __future__ import annotations

import argparse

PRECISIONS = ("float32", "int8", "binary")  # contrastlens.similarity.PRECISION_BYTES's keys


def _integer(low: int):
    """An argparse type: an integer >= low (argparse names the flag in its error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    return parse


def _precisions(text: str) -> tuple[str, ...]:
    names = tuple(p.strip() for p in text.split(",") if p.strip())
    bad = [p for p in names if p not in PRECISIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"must be a comma-separated list of {', '.join(PRECISIONS)}, got {text!r}"
        )
    return names


def _device(text: str) -> str:
    if text in ("auto", "cpu", "cuda", "mps") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda, cuda:N or mps, got {text!r}")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "inspect",
        help="the similarity lens of any model or embeddings (HTML, Markdown and JSON report)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", nargs="?", help="a run folder written by `contrastlens train`")
    src = p.add_argument_group("inputs (one of RUN_DIR, --embeddings, --model)")
    src.add_argument("--embeddings", metavar="E", help=".npy / .pt, shape (n, d)")
    src.add_argument("--positives", metavar="P", help="(n, d): row i the positive of row i of E")
    src.add_argument("--labels", metavar="L", help="(n,) integer or string labels, one per row")
    src.add_argument("--model", metavar="PATH", help="a sentence-transformers folder, or minilm")
    src.add_argument("--pairs", metavar="FILE", help=".tsv/.csv/.jsonl: anchor, positive[, label]")
    src.add_argument("--compare", metavar="OTHER", help="a second input of the same kind")
    src.add_argument("--compare-positives", metavar="P2", help="the positives of --compare")
    p.add_argument("--out", required=True, metavar="DIR", help="the report's folder (created)")
    p.add_argument(
        "--batch-size",
        type=_integer(2),
        default=None,
        metavar="B",
        help="the batch size of the batch table (default: min(256, n))",
    )
    p.add_argument(
        "--dataset-size",
        type=_integer(2),
        default=None,
        metavar="N",
        help="n of the optimum -1/(n-1) and the Welch floor (default: the rows; a "
        "run: its training-set size)",
    )
    p.add_argument("--queries", type=_integer(1), default=1000, help="retrieval queries (random)")
    p.add_argument(
        "--precisions",
        type=_precisions,
        default=PRECISIONS,
        help="comma-separated: float32, int8, binary",
    )
    p.add_argument("--seed", type=_integer(0), default=0, help="every random sample (default 0)")
    p.add_argument("--device", type=_device, default="auto", help="auto | cpu | cuda (encoding)")
    p.add_argument("--split", default="train", choices=["train", "test"], help="RUN_DIR's images")
    p.add_argument(
        "--limit",
        type=_integer(0),
        default=10_000,
        help="RUN_DIR: a random subset of this many images (0: all)",
    )
    p.add_argument(
        "--encode-batch-size", type=_integer(1), default=64, help="--model's encode batch"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar while encoding")
    p.set_defaults(func=run)


def run(args) -> int:
    import os
    from pathlib import Path

    from contrastlens.inspect import inspect
    from contrastlens.inspect.report import REPORT_FILES

    if args.no_progress:  # this process only: the libraries' own bars (loading weights) too
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails here, before any work
    result = inspect(
        args.embeddings,
        positives=args.positives,
        labels=args.labels,
        model=args.model,
        pairs=args.pairs,
        run=args.run_dir,
        compare=args.compare,
        compare_positives=args.compare_positives,
        out=out,
        dataset_size=args.dataset_size,
        device=args.device,
        split=args.split,
        limit=args.limit or None,
        encode_batch_size=args.encode_batch_size,
        progress=not args.no_progress,
        batch_size=args.batch_size,
        retrieval_queries=args.queries,
        precisions=args.precisions,
        seed=args.seed,
    )
    for r in (result, result.compare):
        if r is not None:
            print(f"{r.name}:")
            print("\n".join(f"  {line}" for line in r.findings))
    print("wrote " + ", ".join(str(out / name) for name in REPORT_FILES.values()))
    return 0
