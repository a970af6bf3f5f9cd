"""`contrastlens report DIR`: report.md + self-contained report.html from run folders."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="build report.md and report.html from the run folders under DIR",
        description="Tables (accuracy mean ± std over seeds, paired VRN gain with a 95% CI, "
        "negative-similarity variance) and plots, built only from the run folders under DIR.",
    )
    p.add_argument("directory", help="a sweep, study or runs folder")
    p.add_argument("--out", help="where to write the report (default: DIR)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from contrastlens import runfolder as rf
    from contrastlens.experiments.engine import headline_text
    from contrastlens.report.build import build_report
    from contrastlens.report.text import build_text_report, find_text_runs

    kind = (rf.try_read_json(Path(args.directory) / rf.STUDY).get("study") or {}).get("kind")
    text = kind == "text" or (kind is None and bool(find_text_runs(args.directory)))
    report = (build_text_report if text else build_report)(args.directory, args.out)
    print(headline_text(report))
    for line in report.get("findings", []):
        print(line)
    print(f"\nruns: {report['runs']}\nreport: {report['md']}\n        {report['html']}")
    return 0
