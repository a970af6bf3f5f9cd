"""`contrastlens simulate --loss simclr --n 64 --d 64 --batch 8 --vrn-weight 30 --out DIR`:
free-embedding study (full batch vs fixed mini-batches vs + VRN), table + PNG figures + JSON."""

from __future__ import annotations

import argparse

LOSS_NAMES = ("infonce", "simclr", "dcl", "dhel", "siglip", "spectral")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="train free embeddings with a real loss; compare full batch, mini-batch, + VRN",
        description="Free unit embeddings U, V (n x d, float64, Adam) trained by a loss from "
        "contrastlens.losses: full batch, fixed mini-batches of --batch, and mini-batches + "
        "VRN; then Var[s_neg] against the batch size with the Thm 5.5 bounds. Writes "
        "simulate_hist.png, simulate_variance.png and simulate.json into --out.",
    )
    p.add_argument("--loss", choices=LOSS_NAMES, default="simclr")
    p.add_argument("--n", type=int, default=64, help="number of instances (default 64)")
    p.add_argument("--d", type=int, default=64, help="embedding dimension (default 64)")
    p.add_argument("--batch", type=int, default=8, help="mini-batch size m, divides n (8)")
    p.add_argument("--vrn-weight", type=float, default=30.0, help="VRN lambda (30; 0: off)")
    p.add_argument("--temperature", type=float, help="InfoNCE-family temperature (0.2)")
    p.add_argument("--t", type=float, help="SigLIP t (5)")
    p.add_argument("--b", type=float, help="SigLIP b (3)")
    p.add_argument("--steps", type=int, default=150, help="updates per batch (epochs); default 150")
    p.add_argument("--min-steps", type=int, default=1000, help="optimizer steps per run, min")
    p.add_argument("--lr", type=float, default=0.1, help="peak Adam learning rate (0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-sweep", action="store_true", help="skip the batch-size sweep")
    p.add_argument("--out", default="simulate-out", help="output folder (simulate-out)")
    p.set_defaults(func=run)


def check(args: argparse.Namespace) -> None:
    """The numeric flags, checked before any embedding is trained (ValueError naming the flag);
    the study itself checks how n, d and --batch fit together."""
    import math

    floats = {
        "--vrn-weight": args.vrn_weight,
        "--temperature": args.temperature,
        "--t": args.t,
        "--b": args.b,
        "--lr": args.lr,
    }
    for flag, value in floats.items():
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{flag} must be a finite number, got {value}")
    for flag, value in {"--temperature": args.temperature, "--t": args.t, "--lr": args.lr}.items():
        if value is not None and value <= 0:
            raise ValueError(f"{flag} must be > 0, got {value}")
    ints = {
        "--n": args.n,
        "--d": args.d,
        "--batch": args.batch,
        "--steps": args.steps,
        "--min-steps": args.min_steps,
        "--seed": args.seed,
    }
    for flag, value in ints.items():
        if value >= 2**31:
            raise ValueError(f"{flag}={value} is too large (the limit is {2**31:,})")
    for flag, value in {
        "--vrn-weight": args.vrn_weight,
        "--min-steps": args.min_steps,
        "--seed": args.seed,
    }.items():
        if value < 0:
            raise ValueError(f"{flag} must be >= 0, got {value}")


def run(args: argparse.Namespace) -> int:
    import torch

    from contrastlens.theory import format_table, run_simulation_study

    # n x d matrices of a few hundred entries: more threads only add synchronization
    torch.set_num_threads(1)
    check(args)
    loss_kwargs = {}
    if args.temperature is not None:
        if args.loss in ("siglip", "spectral"):
            raise ValueError(f"--temperature does not apply to --loss {args.loss}")
        loss_kwargs["temperature"] = args.temperature
    for key in ("t", "b"):
        if getattr(args, key) is not None:
            if args.loss != "siglip":
                raise ValueError(f"--{key} applies to --loss siglip only")
            loss_kwargs[key] = getattr(args, key)
    summary = run_simulation_study(
        args.loss,
        args.n,
        args.d,
        args.batch,
        args.vrn_weight,
        args.out,
        args.steps,
        args.seed,
        loss_kwargs=loss_kwargs or None,
        lr=args.lr,
        min_steps=args.min_steps,
        sweep=not args.no_sweep,
    )
    print(format_table(summary))
    print(
        f"\nwrote {summary['figures']['hist']}, {summary['figures']['variance']}, "
        f"{summary['summary_path']} ({summary['seconds']:.1f} s)"
    )
    return 0
