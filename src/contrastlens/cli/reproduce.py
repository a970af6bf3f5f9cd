"""`contrastlens reproduce --preset NAME`: a study end to end, then its report."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="run a study preset (sweeps + simulator) and write its report",
        description="smoke: seconds, synthetic data. quick: the demo (`make demo`), minutes on 2 "
        "CPU cores: Fashion-MNIST, SimCLR with and without VRN at batch 64, 2 seeds, lambda from "
        "quick-select (its validation runs). full: the small-batch image study (hours; "
        "resumable: rerun to continue). v2, v2-pilot: Study v2 on images. precision-parity: "
        "bf16 against float32. text-smoke, text-quick (<= 10 min), text-full: the text study, "
        "all-MiniLM-L6-v2 fine-tuned on WordNet (needs the sentence-transformers extra).",
    )
    from contrastlens.experiments.studies import STUDIES  # light: no torch

    p.add_argument("--preset", default="quick", choices=tuple(STUDIES))
    p.add_argument("--out", help="study folder (default runs/reproduce-<preset>)")
    p.add_argument("--only", help="comma-separated sweep names to run (default: all)")
    p.add_argument("--seeds", help="comma-separated seeds to run now (default: all)")
    p.add_argument("--batches", help="comma-separated batch sizes to run now (default: all)")
    p.add_argument(
        "--allow-dirty",
        action="store_true",
        help="run although tracked code has uncommitted changes (runs are flagged)",
    )
    p.set_defaults(func=run)


def _ints(text: str | None, flag: str) -> list[int] | None:
    try:
        return [int(x) for x in text.split(",")] if text else None
    except ValueError:
        raise ValueError(f"{flag} expects integers like 0,1,2, got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    from contrastlens.experiments.engine import finding_lines, headline_text, reproduce

    only = args.only.split(",") if args.only else None
    seeds, batches = _ints(args.seeds, "--seeds"), _ints(args.batches, "--batches")
    result = reproduce(
        args.preset, args.out, only=only, seeds=seeds, batches=batches, allow_dirty=args.allow_dirty
    )
    report = result["report"]
    print(f"\n{headline_text(report)}\n")
    for line in report["findings"] if "findings" in report else finding_lines(report):
        print(line)
    if result.get("note"):
        print(result["note"])
    print(f"runs: {report['runs']}  ({result['minutes']:.1f} min)")
    print(f"report: {report['md']}\n        {report['html']}")
    return 0 if report["runs"]["failed"] == 0 else 1
