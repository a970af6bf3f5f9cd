"""`contrastlens train`: train one run into a run folder (see contrastlens.runfolder).

contrastlens train --preset fmnist-simclr --set train.batch_size=32 --set vrn.weight=30
contrastlens train --config my.json --set method.name=dcl --name dcl-b32
contrastlens train --resume runs/dcl-b32
contrastlens train --dry-run                      # 2 steps on synthetic data, seconds
torchrun --nproc_per_node=2 -m contrastlens train --preset smoke
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a contrastive model (SimCLR, MoCo v2, DCL, DHEL, SigLIP, InfoNCE +/- VRN)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", default=None, help="start from a named preset (--list-presets)")
    p.add_argument("--config", default=None, help="a JSON config file (partial is fine)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one key, e.g. train.batch_size=32 (repeatable)")  # fmt: skip
    p.add_argument("--name", default=None, help="run folder name (under out_dir)")
    p.add_argument("--out-dir", default=None, help="parent folder of the run (default: runs)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its checkpoint")  # fmt: skip
    p.add_argument(
        "--dry-run", action="store_true", help="2 steps on synthetic data (smoke, or --preset)"
    )
    p.add_argument("--no-eval", action="store_true", help="skip the end-of-run evaluation")
    p.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    p.add_argument("--print-config", action="store_true", help="print the config and exit")
    p.set_defaults(func=run)


def build_config(args):
    """The Config from --resume / --preset / --config / --set (in that order)."""
    import json
    from pathlib import Path

    from contrastlens import runfolder as rf
    from contrastlens.errors import ConfigError
    from contrastlens.experiments import presets
    from contrastlens.train.config import Config, apply_overrides, config_from_dict, validate

    if args.resume:
        path = Path(args.resume) / rf.CONFIG
        if not path.is_file():
            raise FileNotFoundError(f"--resume: {args.resume} has no {rf.CONFIG}")
        cfg = config_from_dict(rf.read_json(path))
    elif args.preset:
        cfg = presets.get(args.preset)
    elif args.dry_run:
        cfg = presets.get("smoke")
    else:
        cfg = Config()
    if args.config:
        try:
            with open(args.config) as f:
                data = json.load(f)
        except json.JSONDecodeError as err:
            raise ConfigError(f"--config {args.config}: not valid JSON ({err})") from None
        cfg = config_from_dict(data, base=cfg)
    cfg = apply_overrides(cfg, args.overrides)
    if args.name:
        cfg.name = args.name
    if args.out_dir:
        cfg.out_dir = args.out_dir
    if args.dry_run:
        if not args.preset and not args.config:
            cfg.data.dataset = "synthetic"
        cfg.train.max_steps = 2
        cfg.train.progress = False
    validate(cfg)
    return cfg


def run(args) -> int:
    import json
    import sys
    import tempfile

    from contrastlens.experiments import presets

    if args.list_presets:
        for name, fn in presets.PRESETS.items():
            print(f"{name:20s} {(fn.__doc__ or '').strip().splitlines()[0] if fn.__doc__ else ''}")
        return 0
    cfg = build_config(args)
    if args.print_config:
        from contrastlens.train.config import config_to_dict

        print(json.dumps(config_to_dict(cfg), indent=2))
        return 0

    from contrastlens.train.loop import TrainingDivergedError, train

    if args.dry_run and not args.out_dir and not args.name:
        cfg.out_dir = tempfile.mkdtemp(prefix="contrastlens-dry-run-")
    run_dir = args.resume
    if run_dir is None:
        from contrastlens.train.loop import new_run_dir

        run_dir = new_run_dir(cfg)
    try:
        final = train(cfg, run_dir, resume=bool(args.resume),
                      eval_at_end=False if args.no_eval else None)  # fmt: skip
    except TrainingDivergedError as err:
        print(f"contrastlens train: {err}", file=sys.stderr)
        return 3
    from contrastlens import distributed

    if distributed.rank() == 0:
        ev = final.get("eval") or {}
        summary = {k: final[k] for k in ("status", "steps", "train_time_s", "img_per_s")}
        summary.update({k: ev[k] for k in ("linear_top1", "knn_top1") if k in ev})
        print(f"run folder: {run_dir}")
        print(json.dumps(summary))
    distributed.shutdown()
    return 0
