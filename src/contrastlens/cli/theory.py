"""`contrastlens theory {siglip,minibatch-variance,optimum,tradeoff}`: the paper's calculators.

contrastlens theory siglip --t 5 --b -2 --n 8          Example 5.4 + Thm 5.3 prediction
contrastlens theory minibatch-variance --n 8 --m 4     Thm 5.5 bounds
contrastlens theory optimum --n 50000                  Thm 5.1: -1/(n-1)
contrastlens theory tradeoff --n 8 --neg -0.7342       Thm 5.2 ceiling on E[s_pos]
"""

from __future__ import annotations

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "theory",
        help="closed forms, bounds and conditions of the paper's theorems",
        description="Calculators for Lee et al. (ICML 2025), section 5.",
    )
    sub = p.add_subparsers(dest="calc", required=True, metavar="CALC")

    s = sub.add_parser(
        "siglip",
        help="Example 5.4: does SigLIP separate excessively? predicted optimum (Thm 5.3)",
    )
    s.add_argument("--t", type=float, required=True, help="SigLIP scale t > 0")
    s.add_argument("--b", type=float, required=True, help="bias b (paper sign: -logit_bias)")
    s.add_argument("--n", type=int, required=True, help="number of instances (full batch)")
    s.add_argument("--d", type=int, help="embedding dimension (warns when d < n)")

    s = sub.add_parser("minibatch-variance", help="Thm 5.5 bounds on Var[s_neg], fixed batches")
    s.add_argument("--n", type=int, required=True, help="dataset size")
    s.add_argument("--m", type=int, required=True, help="mini-batch size (divides n)")
    s.add_argument("--d", type=int, help="embedding dimension (warns when d < m-1)")

    s = sub.add_parser("optimum", help="Thm 5.1: the optimal negative similarity -1/(n-1)")
    s.add_argument("--n", type=int, required=True, help="dataset size")

    s = sub.add_parser("tradeoff", help="Thm 5.2: the ceiling on E[s_pos] given E[s_neg]")
    s.add_argument("--n", type=int, required=True, help="dataset size")
    s.add_argument("--neg", type=float, required=True, help="mean negative similarity")
    s.add_argument("--pos", type=float, help="mean positive similarity (runs the check)")

    for action in sub.choices.values():
        action.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def _siglip(args) -> tuple[list[str], dict]:
    from contrastlens.theory import siglip_optimum, siglip_separation_condition

    cond = siglip_separation_condition(args.t, args.b, args.n)
    pred = siglip_optimum(args.t, args.b, args.n)
    lines = [
        f"SigLIP t = {args.t:g}, b = {args.b:g}, n = {args.n} (full batch, cross-view negatives)",
        f"Example 5.4: (1 + exp(t/(n-1) + b)) / (1 + exp(t - b)) = {cond.ratio:.6g} "
        f"{'<' if cond.excessive else '>='} (n-2)/2 = {cond.threshold:g}",
    ]
    if cond.excessive:
        lines.append(
            "=> EXCESSIVE SEPARATION (Thm 5.3): positives cannot align; negatives fall below "
            f"-1/(n-1) = {-1 / (args.n - 1):.4f}"
        )
    else:
        lines.append("=> no excessive separation: the optimum is the simplex ETF (Thm 5.1)")
    lines.append(
        f"predicted optimum (Thm 5.3 1-D reduction): positive {pred.pos:.4f}, "
        f"negative {pred.neg:.4f}"
    )
    if cond.excessive:
        lines.append(
            "fix: adding within-view negatives (c2 = 1) restores the simplex ETF (Thm 5.1 (ii))"
        )
    if args.d is not None and args.d < args.n:
        lines.append(f"WARNING: d = {args.d} < n = {args.n}: Thm 5.3 assumes d >= n")
    data = {
        "t": args.t,
        "b": args.b,
        "n": args.n,
        "ratio": cond.ratio,
        "threshold": cond.threshold,
        "excessive": cond.excessive,
        "pos": pred.pos,
        "neg": pred.neg,
    }
    return lines, data


def _minibatch(args) -> tuple[list[str], dict]:
    from contrastlens.theory import minibatch_min_dim, minibatch_variance_bounds

    lo, hi = minibatch_variance_bounds(args.n, args.m)
    need = minibatch_min_dim(args.n, args.m)
    lines = [
        f"Thm 5.5, n = {args.n}, fixed mini-batches of m = {args.m} ({args.n // args.m} batches):",
        "at the optimum s_pos = 1 and E[s_neg] = -1/(n-1) = " + f"{-1 / (args.n - 1):.4f}, "
        f"within-batch negatives -1/(m-1) = {-1 / (args.m - 1):.4f}",
        f"Var[s_neg] in [{lo:.4f}, {hi:.4f}]  (lower = (n-m)/((m-1)(n-1)^2), upper = n x lower)",
        f"the lower bound needs d >= b(m-1) = {need}; the theorem needs d >= m-1 = {args.m - 1}",
    ]
    if args.d is not None and args.d < args.m - 1:
        lines.append(f"WARNING: d = {args.d} < m-1 = {args.m - 1}: Thm 5.5 does not apply")
    return lines, {"n": args.n, "m": args.m, "lower": lo, "upper": hi, "min_dim_lower": need}


def _optimum(args) -> tuple[list[str], dict]:
    from contrastlens.theory import optimal_negative_similarity

    opt = optimal_negative_similarity(args.n)
    lines = [
        f"Thm 5.1: n = {args.n}: at the full-batch optimum (d >= n-1) every positive is 1 and "
        f"every negative is -1/(n-1) = {opt:.6g} (simplex ETF)"
    ]
    return lines, {"n": args.n, "optimum_neg": opt}


def _tradeoff(args) -> tuple[list[str], dict]:
    from contrastlens.similarity import check_excessive_separation
    from contrastlens.theory import tradeoff_max_positive

    if not -1.0 <= args.neg <= 1.0:
        raise ValueError(f"--neg is a mean cosine similarity in [-1, 1], got {args.neg}")
    ceiling = tradeoff_max_positive(args.neg, args.n)
    lines = [
        f"Thm 5.2: E[s_pos] <= 1 + E[s_neg] + 1/(n-1) = {1 + args.neg + 1 / (args.n - 1):.4f}"
        f" -> ceiling {ceiling:.4f}"
    ]
    data = {"n": args.n, "neg": args.neg, "max_pos": ceiling}
    if args.pos is not None:
        check = check_excessive_separation(args.pos, args.neg, args.n)
        lines.append(check.message)
        data["excessive"] = check.excessive
    return lines, data


def check(args: argparse.Namespace) -> None:
    """Flags the closed forms cannot take (ValueError naming the flag); the theory functions
    check the rest (n >= 2, m divides n, t > 0)."""
    import math

    for flag in ("t", "b", "neg", "pos"):
        value = getattr(args, flag, None)
        if value is not None and not math.isfinite(value):
            raise ValueError(f"--{flag} must be a finite number, got {value}")
    if getattr(args, "pos", None) is not None and not -1.0 <= args.pos <= 1.0:
        raise ValueError(f"--pos is a mean cosine similarity in [-1, 1], got {args.pos}")
    if getattr(args, "d", None) is not None and args.d < 1:
        raise ValueError(f"--d is an embedding dimension >= 1, got {args.d}")
    for flag in ("n", "m", "d"):
        value = getattr(args, flag, None)
        if value is not None and value >= 2**53:  # beyond exact float arithmetic
            raise ValueError(f"--{flag}={value} is too large (the limit is 2^53)")


def run(args: argparse.Namespace) -> int:
    check(args)
    handlers = {
        "siglip": _siglip,
        "minibatch-variance": _minibatch,
        "optimum": _optimum,
        "tradeoff": _tradeoff,
    }
    lines, data = handlers[args.calc](args)
    print(json.dumps(data, indent=2) if args.json else "\n".join(lines))
    return 0
