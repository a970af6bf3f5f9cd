"""`contrastlens inspect` on 100,000 embeddings of dimension 384 (two views, 100 labels): the
whole command end to end, and its exact statistics against a brute force over the n x n matrix.

    .venv/bin/python benchmarks/lens.py [--n 100000] [--d 384] [--repeats 3] [--brute-repeats 1]

1. End to end: `contrastlens inspect --embeddings E.npy --positives P.npy --labels L.npy --out DIR`
   in a fresh process (imports, loading, the exact moments and label split, the batch table,
   histograms, thresholds, retrieval at float32 / int8 / binary on 1,000 queries, the report),
   `--repeats` times: median wall time, the stage times of report.json, peak RSS.
2. The exact statistics (negatives' mean and variance, same-label / different-label split, the
   pair sums behind the expected variance at batch 256), streamed as the lens streams them
   (`SimilarityAccumulator(pair_sums=True)`, rows sorted by label, 8,192 per update) against a
   brute force that forms every u_i . v_j (and u_j . v_i, for the swapped products) in float32
   blocks of `--block` rows with float64 sums: median times, their ratio, relative differences.

Target: end to end <= 60 s on the idle 2-core machine, memory bounded (O(n d) for the data,
O(d^2) for the statistics, no n x n matrix). Writes benchmarks/results/lens.json, with the
load average before and after (the machine may be shared: the times are then upper bounds).

Legend: N instances, D dimension, R rows per block.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from contrastlens.similarity import PairSums, SimilarityAccumulator, expected_batch_variance

BATCH = 256


def make_data(n: int, d: int, labels: int = 100, seed: int = 0):
    """Clustered views with a shared direction (anisotropic, as text embeddings are)."""
    g = torch.Generator().manual_seed(seed)
    centers_LD = torch.randn(labels, d, generator=g)
    common_D = 1.5 * torch.randn(d, generator=g)
    y_N = torch.randint(labels, (n,), generator=g)
    base_ND = centers_LD[y_N] + common_D + 0.8 * torch.randn(n, d, generator=g)
    u_ND = base_ND + 0.3 * torch.randn(n, d, generator=g)
    v_ND = base_ND + 0.3 * torch.randn(n, d, generator=g)
    return u_ND.contiguous(), v_ND.contiguous(), y_N


def streamed(u_ND, v_ND, y_N) -> dict:
    """The lens's way: sums of outer products, exact, O(N D^2)."""
    order_N = y_N.argsort(stable=True)
    acc = SimilarityAccumulator(pair_sums=True)
    for start in range(0, u_ND.shape[0], 8192):
        rows = order_N[start : start + 8192]
        acc.update(u_ND[rows], v_ND[rows], labels=y_N[rows])
    m = acc.result()
    split = m.by_label
    return {
        "neg_mean": m.neg_mean,
        "neg_var": m.neg_var,
        "same_mean": split.same_mean,
        "same_var": split.same_var,
        "different_mean": split.different_mean,
        "different_var": split.different_var,
        f"batch{BATCH}_neg_var": expected_batch_variance(acc.pair_sums(), BATCH),
    }


def brute_force(u_ND, v_ND, y_N, block: int) -> dict:
    """The same numbers from every pair: float32 blocks of the N x N matrix, float64 sums."""
    u_ND, v_ND = F.normalize(u_ND, dim=1), F.normalize(v_ND, dim=1)
    N = u_ND.shape[0]
    f64 = torch.float64
    total = square = swap = same1 = same2 = 0.0
    same_count = 0
    col_N = torch.zeros(N, dtype=f64)
    row_N = torch.zeros(N, dtype=f64)
    for start in range(0, N, block):
        stop = min(start + block, N)
        s_RN = u_ND[start:stop] @ v_ND.T  # s_ij = u_i . v_j
        t_RN = v_ND[start:stop] @ u_ND.T  # s_ji = u_j . v_i
        idx = torch.arange(start, stop)
        s_RN[idx - start, idx] = 0.0  # the positives are not negatives
        t_RN[idx - start, idx] = 0.0
        total += float(s_RN.sum(dtype=f64))
        square += float((s_RN * s_RN).sum(dtype=f64))
        swap += float((s_RN * t_RN).sum(dtype=f64))
        row_N[start:stop] = s_RN.sum(1, dtype=f64)
        col_N += s_RN.sum(0, dtype=f64)
        same_RN = y_N[start:stop, None] == y_N[None, :]
        same_RN[idx - start, idx] = False
        s_same = s_RN.masked_fill(~same_RN, 0.0)
        same1 += float(s_same.sum(dtype=f64))
        same2 += float((s_same * s_same).sum(dtype=f64))
        same_count += int(same_RN.sum())
        del s_RN, t_RN, same_RN, s_same
    row_square = float((row_N**2).sum())
    row_col = float((row_N * col_N).sum())
    sums = PairSums(N, total, square, swap, row_square, float((col_N**2).sum()), row_col)
    pairs = N * (N - 1)
    diff_count = pairs - same_count
    mean = total / pairs
    same_mean, diff_mean = same1 / same_count, (total - same1) / diff_count
    return {
        "neg_mean": mean,
        "neg_var": square / pairs - mean**2,
        "same_mean": same_mean,
        "same_var": same2 / same_count - same_mean**2,
        "different_mean": diff_mean,
        "different_var": (square - same2) / diff_count - diff_mean**2,
        f"batch{BATCH}_neg_var": expected_batch_variance(sums, BATCH),
    }


def timed(f, repeats: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return times, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--d", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=3, help="end-to-end and streamed runs")
    parser.add_argument("--brute-repeats", type=int, default=1, help="brute-force runs")
    parser.add_argument("--block", type=int, default=512, help="brute-force rows per block")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "lens.json"))
    args = parser.parse_args()
    load_before = os.getloadavg()

    u_ND, v_ND, y_N = make_data(args.n, args.d)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {name: Path(tmp) / f"{name}.npy" for name in ("E", "P", "L")}
        for name, x in zip(paths, (u_ND, v_ND, y_N)):
            np.save(paths[name], x.numpy())
        argv = [
            sys.executable,
            "-m",
            "contrastlens",
            "inspect",
            "--embeddings",
            str(paths["E"]),
            "--positives",
            str(paths["P"]),
            "--labels",
            str(paths["L"]),
            "--out",
            str(Path(tmp) / "lens"),
            "--no-progress",
        ]
        wall, stages = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, text=True)
            wall.append(time.perf_counter() - t0)
            stages.append(json.loads((Path(tmp) / "lens" / "report.json").read_text())["timings"])
        peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    t_stream, ours = timed(lambda: streamed(u_ND, v_ND, y_N), args.repeats)
    t_brute, brute = timed(lambda: brute_force(u_ND, v_ND, y_N, args.block), args.brute_repeats)
    load_after = os.getloadavg()
    rel = {k: abs(ours[k] - brute[k]) / abs(brute[k]) for k in ours}
    median_wall = statistics.median(wall)
    ratio = statistics.median(t_brute) / statistics.median(t_stream)
    result = {
        "benchmark": "contrastlens inspect end to end; exact statistics streamed vs brute force",
        "n": args.n,
        "d": args.d,
        "labels": 100,
        "end_to_end_seconds": [round(t, 2) for t in wall],
        "end_to_end_median_seconds": round(median_wall, 2),
        "stage_median_seconds": {
            k: round(statistics.median(s[k] for s in stages), 2) for k in stages[0]
        },
        "peak_rss_mb": round(peak_rss_mb),
        "streamed_exact_seconds": [round(t, 2) for t in t_stream],
        "brute_force_seconds": [round(t, 1) for t in t_brute],
        "brute_force_block_rows": args.block,
        "brute_over_streamed": round(ratio, 1),
        "streamed": ours,
        "brute_force": brute,
        "relative_difference": rel,
        "target": "end to end <= 60 s on the idle 2-core machine",
        "target_met_here": median_wall <= 60,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"n = {args.n}, d = {args.d}, {torch.get_num_threads()} threads, load average "
        f"{load_before[0]:.1f} before / {load_after[0]:.1f} after (2 cores; > 0.5: shared)\n"
        f"contrastlens inspect end to end  median {median_wall:6.1f} s  "
        f"(runs {', '.join(f'{t:.1f}' for t in wall)}), peak RSS {peak_rss_mb:.0f} MB\n"
        f"  stages (median s): {result['stage_median_seconds']}\n"
        f"exact statistics streamed        median {statistics.median(t_stream):6.2f} s\n"
        f"exact statistics brute force     median {statistics.median(t_brute):6.1f} s "
        f"({len(t_brute)} run(s), blocks of {args.block} rows)\n"
        f"brute force / streamed: {ratio:.1f}x; end-to-end / brute force: "
        f"{median_wall / statistics.median(t_brute):.2f}\n"
        f"largest relative difference: {max(rel.values()):.1e} ({max(rel, key=rel.get)})\n"
        f"target (<= 60 s end to end on the idle machine): "
        f"{'met' if median_wall <= 60 else 'NOT met'} here\nwrote {out}"
    )


if __name__ == "__main__":
    main()
