"""`contrastlens train`: train one run into a run folder (see contrastlens.runfolder).

contrastlens train --preset fmnist-simclr --set train.batch_size=32 --set vrn.weight=30
contrastlens train --config my.json --set method.name=dcl --name dcl-b32
contrastlens train --resume runs/dcl-b32   # bit-identical on the CPU (on CUDA: to rounding)
contrastlens train --resume runs/dcl-b32 --set optim.base_lr=0.1   # e.g. after a divergence
contrastlens train --dry-run                      # 2 steps on synthetic data, seconds
torchrun --nproc_per_node=2 -m contrastlens train --preset smoke

On --resume, --set and --config may change only the settings in train/resume.py's
RESUME_SETTABLE (optim.*, the stopping limits, logging, eval.*, the device, precision, cuDNN/TF32
and decoding workers): what the checkpoint already learned stays valid under them. The changes
are written to the run's config.json and recorded in meta.json's "amended". Changing anything
else (the model, data, method, batch size, seed, schedule length) would make the checkpoint a
different run: start a new one instead.
Exit codes: 0 done, 2 bad input (one line naming the problem and the fix), 3 the loss diverged.
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
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, e.g. train.batch_size=32 (repeatable)",
    )
    p.add_argument("--name", default=None, help="run folder name (under out_dir)")
    p.add_argument("--out-dir", default=None, help="parent folder of the run (default: runs)")
    p.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its checkpoint",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="2 steps on synthetic data (smoke, or --preset)"
    )
    p.add_argument("--no-eval", action="store_true", help="skip the end-of-run evaluation")
    p.add_argument("--list-presets", action="store_true", help="print the presets and exit")
    p.add_argument("--print-config", action="store_true", help="print the config and exit")
    p.set_defaults(func=run)


def _read_config_file(path: str):
    import json

    from contrastlens.errors import ConfigError

    try:
        with open(path, "rb") as f:
            raw = f.read()
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            f"--config {path}: not a UTF-8 text file (binary data?); give a JSON config file, "
            "e.g. one written by `contrastlens train --print-config`"
        ) from None
    except (json.JSONDecodeError, RecursionError) as err:
        why = "the file is empty" if not raw.strip() else f"not valid JSON ({err})"
        raise ConfigError(
            f"--config {path}: {why}; give a JSON object such as "
            '{"train": {"batch_size": 32}} (`contrastlens train --print-config` prints one)'
        ) from None


def build_config(args):
    """The Config from --resume / --preset / --config / --set (in that order)."""
    from pathlib import Path

    from contrastlens import runfolder as rf
    from contrastlens.errors import ConfigError
    from contrastlens.experiments import presets
    from contrastlens.train.config import (
        Config,
        apply_overrides,
        config_from_dict,
        validate,
        with_predating,
    )

    stored = None
    if args.resume:
        path = Path(args.resume) / rf.CONFIG
        if not path.is_file():
            raise FileNotFoundError(
                f"--resume: {args.resume} is not a run folder (no {rf.CONFIG}); give the folder "
                "of a run started by `contrastlens train`"
            )
        stored = with_predating(rf.read_json(path))  # keys newer than the run: as it ran
        try:
            cfg = config_from_dict(stored)
        except ConfigError as err:
            raise ConfigError(
                f"{path}: {err}; the run's config is damaged or from another "
                "version. Fix: restore it, or start a new run"
            ) from None
    elif args.preset:
        cfg = presets.get(args.preset)
    elif args.dry_run:
        cfg = presets.get("smoke")
    else:
        cfg = Config()
    if args.config:
        try:
            cfg = config_from_dict(_read_config_file(args.config), base=cfg)
        except ConfigError as err:
            msg = str(err)
            raise ConfigError(
                msg if msg.startswith("--config") else f"--config {args.config}: {msg}"
            ) from None
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
    if stored is not None:  # refused here, before anything starts (train() checks it too)
        from contrastlens.train.resume import resume_changes

        resume_changes(stored, cfg)
    return cfg


def run(args) -> int:
    import json
    import sys
    import tempfile

    from contrastlens.experiments import presets

    if args.list_presets:
        for name, fn in presets.IMAGE.items():
            print(f"{name:20s} {(fn.__doc__ or '').strip().splitlines()[0] if fn.__doc__ else ''}")
        return 0
    cfg = build_config(args)
    from contrastlens.train.config import config_to_dict

    if args.print_config:
        print(json.dumps(config_to_dict(cfg), indent=2))
        return 0

    from pathlib import Path

    from contrastlens.train.loop import TrainingDivergedError, new_run_dir, train

    if args.dry_run and not args.out_dir and not args.name:
        cfg.out_dir = tempfile.mkdtemp(prefix="contrastlens-dry-run-")
    run_dir = args.resume or new_run_dir(cfg)
    if not args.resume:  # an out_dir that cannot be made fails here, before any work
        Path(run_dir).parent.mkdir(parents=True, exist_ok=True)
    try:  # locks the folder; on --resume checks what may change and records it (train.resume)
        final = train(
            cfg, run_dir, resume=bool(args.resume), eval_at_end=False if args.no_eval else None
        )
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
