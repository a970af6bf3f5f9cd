"""`contrastlens eval RUN_DIR`: probes and similarity measurements of a run's checkpoint.

Writes RUN_DIR/eval.json and updates final.json's "eval" (format: contrastlens.runfolder).

    contrastlens eval runs/fmnist-simclr-1 --set eval.linear_epochs=200
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="evaluate a run folder (linear probe, kNN, similarity statistics)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", help="a run folder written by `contrastlens train`")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override eval settings, e.g. eval.linear_epochs=200",
    )
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.set_defaults(func=run)


def check(args) -> None:
    """The run folder, its config with the --set values and --device, validated before any
    data is loaded."""
    from pathlib import Path

    from contrastlens import runfolder as rf
    from contrastlens.errors import ConfigError
    from contrastlens.train.config import (
        apply_overrides,
        config_from_dict,
        validate,
        with_predating,
    )

    folder = Path(args.run_dir)
    if not (folder / rf.CONFIG).is_file():
        raise FileNotFoundError(
            f"{folder} is not a run folder (no {rf.CONFIG}); give a folder written by "
            "`contrastlens train`"
        )
    stored = with_predating(rf.read_json(folder / rf.CONFIG))
    cfg = apply_overrides(config_from_dict(stored), args.overrides)
    cfg.train.device = args.device
    try:
        validate(cfg)
    except ConfigError as err:
        raise ConfigError(str(err).replace("train.device", "--device", 1)) from None


def run(args) -> int:
    import json

    from contrastlens.errors import ConfigError
    from contrastlens.experiments.evaluate_run import evaluate_run

    for item in args.overrides:
        if not item.strip().startswith("eval."):
            raise ConfigError(f"eval --set only changes eval.* keys, got {item!r}")
    check(args)
    result = evaluate_run(args.run_dir, device=args.device, overrides=args.overrides)
    keys = ("linear_top1", "linear_top5", "knn_top1")
    print(
        json.dumps({k: result[k] for k in keys} | {"table1_neg_var": result["table1"]["neg_var"]})
    )
    return 0
