"""`contrastlens sweep`: a resumable grid of training runs, one folder each."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="run a grid of trainings (resumable; failures recorded, not fatal)",
        description="Train every point of a grid over config keys, each run in its own folder "
        "under OUT/runs/. Finished runs are skipped, so an interrupted sweep resumes. Example: "
        "contrastlens sweep --preset fmnist-quick --grid method.name=simclr,moco "
        "--grid train.batch_size=32,256 --grid vrn.weight=0,30 --grid train.seed=0,1,2 "
        "--out runs/my-sweep",
    )
    p.add_argument("--preset", required=True, help="training preset every run starts from")
    p.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2,...",
        help="a grid axis (repeatable); values are JSON numbers/booleans or strings",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="a fixed override applied to every run (repeatable)",
    )
    p.add_argument("--out", required=True, help="sweep folder")
    p.add_argument("--no-retry", action="store_true", help="leave failed runs failed")
    p.add_argument("--report", action="store_true", help="write the report when done")
    p.set_defaults(func=run)


def _value(text: str):
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def check(sweep) -> None:
    """Build and validate every run's config here, before anything starts, so that a typo in a
    key, a value of the wrong type or an unknown preset is one error now, not N failed runs."""
    from contrastlens.errors import ConfigError
    from contrastlens.experiments import presets
    from contrastlens.experiments.sweep import expand, set_strings
    from contrastlens.train.config import apply_overrides, validate

    base = presets.get(sweep.preset)
    for spec in expand(sweep):
        try:
            validate(apply_overrides(base, set_strings(spec.overrides)))
        except ValueError as err:
            raise ConfigError(f"grid point {spec.run_id}: {err}") from None


def run(args: argparse.Namespace) -> int:
    from contrastlens.errors import ConfigError
    from contrastlens.experiments.sweep import Sweep, run_sweep

    grid = {}
    for item in args.grid:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise ConfigError(f"--grid expects KEY=V1,V2,..., got {item!r}")
        if key.strip() in grid:
            raise ConfigError(
                f"--grid {key.strip()} is given twice; list all its values in one "
                "--grid KEY=V1,V2,..."
            )
        grid[key.strip()] = [_value(v) for v in values.split(",")]
    if not grid:
        raise ConfigError("give at least one --grid KEY=V1,V2,...")
    overrides = {}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = _value(value)
    both = sorted(set(grid) & set(overrides))
    if both:
        raise ConfigError(
            f"{both[0]} is given both as --grid and as --set (the grid would win); give it once"
        )
    sweep = Sweep(name=args.out, preset=args.preset, grid=grid, overrides=overrides)
    check(sweep)
    Path(args.out).mkdir(parents=True, exist_ok=True)  # an unwritable --out fails here
    results = run_sweep(sweep, args.out, retry_failed=not args.no_retry)
    counts = {s: list(results.values()).count(s) for s in sorted(set(results.values()))}
    print(f"sweep {args.out}: {counts}")
    if args.report:
        from contrastlens.report.build import build_report

        print(f"report: {build_report(args.out)['html']}")
    from contrastlens.runfolder import COMPLETE

    return 0 if all(s in COMPLETE for s in results.values()) else 1
