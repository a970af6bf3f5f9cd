"""Figures of the simulation study (matplotlib, Agg backend, PNG files).

plot_negative_histograms(runs, n, path)    negatives of full batch / mini-batch / + VRN
plot_variance_vs_batch(sweep, n, path)     Var[s_neg] against m with the Thm 5.5 bounds
"""

from __future__ import annotations

from pathlib import Path

import torch

from contrastlens.optimum import negative_optimum


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_negative_histograms(
    runs: list[tuple[str, torch.Tensor]],
    n: int,
    path: str | Path,
    *,
    batch: int | None = None,
    bins: int = 80,
) -> Path:
    """One panel per run: the histogram of all n(n-1) cross-view negative similarities.

    runs: [(label, neg_K)], neg_K the flat tensor of negative similarities of that run.
    Vertical lines: the full-batch optimum -1/(n-1) (Thm 5.1) and, when `batch` is given, the
    within-batch value -1/(m-1) that fixed mini-batches reach (Thm 5.5).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.4), sharey=True)
    axes = [axes] if len(runs) == 1 else list(axes)
    for ax, (label, neg_K) in zip(axes, runs):
        values = neg_K.detach().double().cpu().numpy()
        ax.hist(values, bins=bins, range=(-1, 1), color="tab:blue", alpha=0.8)
        ax.axvline(negative_optimum(n), color="tab:red", ls="--", lw=1.2, label="-1/(n-1)")
        if batch is not None and batch < n:
            ax.axvline(
                negative_optimum(batch), color="tab:orange", ls=":", lw=1.2, label="-1/(m-1)"
            )
        ax.set_title(f"{label}\nmean {values.mean():.4f}, var {values.var():.4f}", fontsize=9)
        ax.set_xlabel("negative similarity u_i . v_j")
    axes[0].set_ylabel("pairs")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_variance_vs_batch(sweep: list[dict], n: int, path: str | Path) -> Path:
    """Measured Var[s_neg] (all n(n-1) cross-view pairs) against the batch size m, with the
    Thm 5.5 lower/upper bounds (n-m)/((m-1)(n-1)^2) and n(n-m)/((m-1)(n-1)^2).

    sweep: dicts with keys m, neg_var, lower, upper and optionally neg_var_vrn.
    """
    plt = _pyplot()
    ms = [row["m"] for row in sweep]
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    dense = [m for m in range(min(ms), n + 1) if n % m == 0]
    lo = [(n - m) / ((m - 1) * (n - 1) ** 2) for m in dense]
    hi = [n * (n - m) / ((m - 1) * (n - 1) ** 2) for m in dense]
    ax.fill_between(dense, lo, hi, color="tab:gray", alpha=0.2, label="Thm 5.5 range")
    ax.plot(dense, hi, color="tab:gray", lw=1, ls="--")
    ax.plot(dense, lo, color="tab:gray", lw=1, ls="--")
    ax.plot(ms, [row["neg_var"] for row in sweep], "o-", color="tab:blue", label="measured")
    vrn = [(row["m"], row["neg_var_vrn"]) for row in sweep if row.get("neg_var_vrn") is not None]
    if vrn:
        ax.plot(*zip(*vrn), "s", color="tab:green", label="measured + VRN")
    ax.set_xscale("log", base=2)
    # symlog: the bounds span decades and reach 0 at m = n
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("mini-batch size m (fixed partition)")
    ax.set_ylabel("Var of negative similarities")
    ax.set_title(f"n = {n}: variance of negatives vs batch size", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
