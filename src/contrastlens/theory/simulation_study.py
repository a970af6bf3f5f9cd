"""The simulation study behind `contrastlens simulate` and the report: full batch vs fixed
mini-batches vs mini-batches + VRN on free embeddings, and Var[s_neg] against the batch size
with the bounds of Thm 5.5. Writes simulate_hist.png, simulate_variance.png, simulate.json.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import torch

from contrastlens.optimum import negative_optimum
from contrastlens.theory.closed_forms import minibatch_variance_bounds, optimal_negative_similarity
from contrastlens.theory.simulate import SimulationResult, check_setup, resolve_loss, simulate

FIGURE_HIST = "simulate_hist.png"
FIGURE_VARIANCE = "simulate_variance.png"
SUMMARY = "simulate.json"


def _negatives(result: SimulationResult) -> torch.Tensor:
    """(n(n-1),) all cross-view negative similarities u_i . v_j, i != j."""
    sim_NN = result.u @ result.v.T
    return sim_NN[~torch.eye(sim_NN.shape[0], dtype=torch.bool)]


def sweep_batch_sizes(n: int, batch: int, limit: int = 6) -> list[int]:
    """Batch sizes for the variance-vs-m curve: divisors of n that are powers of two from 4
    (m = 2 converges slowly and its bounds span [~0, ~1]), plus `batch` and n, at most `limit`
    of them (the smallest and largest kept)."""
    sizes = {m for m in range(min(4, batch), n + 1) if n % m == 0 and (m & (m - 1)) == 0}
    sizes |= {batch, n}
    ordered = sorted(sizes)
    while len(ordered) > limit:
        # drop the interior size farthest from `batch` on a log scale
        interior = [m for m in ordered[1:-1] if m != batch]
        if not interior:
            break
        ordered.remove(max(interior, key=lambda m: abs(m.bit_length() - batch.bit_length())))
    return ordered


def run_simulation_study(
    loss: str = "simclr",
    n: int = 64,
    d: int = 64,
    batch: int = 8,
    vrn_weight: float = 30.0,
    out_dir: str | Path = "simulate-out",
    steps: int = 150,
    seed: int = 0,
    *,
    min_steps: int = 1000,
    loss_kwargs: dict | None = None,
    lr: float = 0.1,
    sweep: bool = True,
) -> dict:
    """Runs the study and writes its figures and JSON summary into out_dir.

    steps: epochs, i.e. updates per batch: a run with batch size m takes
        max(steps * n/m, min_steps) optimizer steps (so every instance sees at least `steps`
        updates; the full batch still gets `min_steps` to settle on the simplex ETF).
    Runs (all fixed partitions, Adam, float64, seeded): full batch (m = n), mini-batch m =
    `batch`, mini-batch + lambda VRN with delta = -1/(n-1); and, when `sweep`, one run per
    batch size of `sweep_batch_sizes` for the variance figure. Returns the summary dict (also
    written to out_dir/simulate.json) with the paths of the two PNG figures.
    """
    start = time.perf_counter()
    name, _ = resolve_loss(loss, loss_kwargs)
    notes = check_setup(n, d, batch, "fixed", name)
    if batch >= n:
        raise ValueError(
            f"the study compares mini-batches with the full batch: need batch < n, "
            f"got batch = {batch}, n = {n}"
        )
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def run(m: int, weight: float = 0.0) -> SimulationResult:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # collected into `notes` instead, once each
            res = simulate(
                loss,
                n,
                d,
                loss_kwargs=loss_kwargs,
                batch_size=m,
                partition="fixed",
                vrn_weight=weight,
                steps=max(steps * (n // m), min_steps),
                lr=lr,
                seed=seed,
                log_every=0,
            )
        notes.extend(note for note in res.warnings if note not in notes)
        return res

    full, mini = run(n), run(batch)
    mini_vrn = run(batch, vrn_weight) if vrn_weight > 0 else None
    runs = {"full_batch": full, "mini_batch": mini}
    if mini_vrn is not None:
        runs["mini_batch_vrn"] = mini_vrn

    rows = []
    sizes = sweep_batch_sizes(n, batch) if sweep else sorted({batch, n})
    for m in sizes:
        res = full if m == n else mini if m == batch else run(m)
        lower, upper = minibatch_variance_bounds(n, m)
        rows.append(
            {
                "m": m,
                "neg_mean": res.final["neg_mean"],
                "neg_var": res.final["neg_var"],
                "pos_mean": res.final["pos_mean"],
                "lower": lower,
                "upper": upper,
                "within_bounds": lower - 1e-3 <= res.final["neg_var"] <= upper + 1e-3,
                "neg_var_vrn": mini_vrn.final["neg_var"] if m == batch and mini_vrn else None,
            }
        )

    from contrastlens.theory.plots import plot_negative_histograms, plot_variance_vs_batch

    labels = {
        "full_batch": f"full batch (m = n = {n})",
        "mini_batch": f"fixed mini-batches, m = {batch}",
        "mini_batch_vrn": f"m = {batch} + VRN (lambda = {vrn_weight:g})",
    }
    hist_path = plot_negative_histograms(
        [(labels[key], _negatives(res)) for key, res in runs.items()],
        n,
        out / FIGURE_HIST,
        batch=batch,
    )
    var_path = plot_variance_vs_batch(rows, n, out / FIGURE_VARIANCE)
    lower, upper = minibatch_variance_bounds(n, batch)
    summary = {
        "config": {
            "loss": name,
            "loss_kwargs": full.config["loss_kwargs"],
            "n": n,
            "d": d,
            "batch": batch,
            "vrn_weight": vrn_weight,
            "steps_per_batch": steps,
            "min_steps": min_steps,
            "lr": lr,
            "seed": seed,
            "optimizer": "adam, cosine decay to 1% of lr, float64",
        },
        "theory": {
            "optimum_neg": optimal_negative_similarity(n),
            "within_batch_neg": negative_optimum(batch),
            "thm55_bounds": [lower, upper],
        },
        "runs": {key: res.final for key, res in runs.items()},
        "variance_vs_batch": rows,
        "warnings": notes,
        "figures": {"hist": str(hist_path), "variance": str(var_path)},
        "seconds": round(time.perf_counter() - start, 2),
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    summary["summary_path"] = str(out / SUMMARY)
    return summary


def format_table(summary: dict) -> str:
    """The study as a plain-text table (what `contrastlens simulate` prints)."""
    cfg, th = summary["config"], summary["theory"]
    lines = [
        f"loss {cfg['loss']} {cfg['loss_kwargs']}  n = {cfg['n']}  d = {cfg['d']}  "
        f"batch = {cfg['batch']}  VRN lambda = {cfg['vrn_weight']:g}  "
        f"steps/batch = {cfg['steps_per_batch']}",
        f"full-batch optimum -1/(n-1) = {th['optimum_neg']:.4f}; within a batch -1/(m-1) = "
        f"{th['within_batch_neg']:.4f}; Thm 5.5 Var bounds at m = {cfg['batch']}: "
        f"[{th['thm55_bounds'][0]:.4f}, {th['thm55_bounds'][1]:.4f}]",
        "",
        f"{'run':<16}{'pos mean':>10}{'neg mean':>10}{'neg var':>10}{'loss':>11}",
    ]
    for key, final in summary["runs"].items():
        lines.append(
            f"{key:<16}{final['pos_mean']:>10.4f}{final['neg_mean']:>10.4f}"
            f"{final['neg_var']:>10.4f}{final['loss']:>11.4f}"
        )
    lines += ["", f"{'m':>5}{'neg var':>10}{'lower':>10}{'upper':>10}  in bounds"]
    for row in summary["variance_vs_batch"]:
        lines.append(
            f"{row['m']:>5}{row['neg_var']:>10.4f}{row['lower']:>10.4f}{row['upper']:>10.4f}"
            f"  {'yes' if row['within_bounds'] else 'NO'}"
        )
    lines += summary["warnings"]
    return "\n".join(lines)
