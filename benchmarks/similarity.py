"""Exact negative-similarity mean and variance over a whole dataset: SimilarityAccumulator
(sums of outer products, O(n d^2)) against a blocked brute-force n x n pass (O(n^2 d)).

    .venv/bin/python benchmarks/similarity.py [--n 60000] [--d 128] [--block 1024]

Both start from the same L2-normalized float32 embeddings on the CPU and accumulate in float64;
the brute force computes every u_i . v_j in float32 matmul blocks. Target: >= 100x faster,
relative difference <= 1e-6. Writes benchmarks/results/similarity.json.

Legend: N instances, D dimension, R rows per block.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from contrastlens.similarity import SimilarityAccumulator


def make_views(n: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Clustered embeddings with a shared direction, so the negative mean is far from 0 (a
    relative difference of a mean near 0 would measure nothing)."""
    g = torch.Generator().manual_seed(seed)
    centers_KD = torch.randn(100, d, generator=g)
    common_D = 1.5 * torch.randn(d, generator=g)
    labels_N = torch.randint(100, (n,), generator=g)
    base_ND = centers_KD[labels_N] + common_D + 0.8 * torch.randn(n, d, generator=g)
    u_ND = F.normalize(base_ND + 0.3 * torch.randn(n, d, generator=g), dim=1)
    v_ND = F.normalize(base_ND + 0.3 * torch.randn(n, d, generator=g), dim=1)
    return u_ND.float().contiguous(), v_ND.float().contiguous()


def accumulator_stats(u_ND: torch.Tensor, v_ND: torch.Tensor, batch: int = 16384):
    acc = SimilarityAccumulator(normalize=False)  # rows are already unit vectors
    for start in range(0, u_ND.shape[0], batch):
        acc.update(u_ND[start : start + batch], v_ND[start : start + batch])
    m = acc.result()
    return m.neg_mean, m.neg_var


def brute_force_stats(u_ND: torch.Tensor, v_ND: torch.Tensor, block: int = 1024):
    """Every cross-view pair i != j, by float32 blocks of R rows, float64 sums."""
    n = u_ND.shape[0]
    total = torch.zeros((), dtype=torch.float64)
    total_sq = torch.zeros((), dtype=torch.float64)
    for start in range(0, n, block):
        sim_RN = u_ND[start : start + block] @ v_ND.T  # (R, N) float32
        diag_R = sim_RN[:, start : start + block].diagonal()  # the positives u_i . v_i
        total += sim_RN.sum(dtype=torch.float64) - diag_R.sum(dtype=torch.float64)
        total_sq -= diag_R.double().square().sum()
        total_sq += sim_RN.square_().sum(dtype=torch.float64)
    pairs = n * (n - 1)
    mean = total / pairs
    return float(mean), float(total_sq / pairs - mean**2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--block", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=7, help="accumulator timing repeats")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "similarity.json"))
    args = parser.parse_args()

    u_ND, v_ND = make_views(args.n, args.d)
    accumulator_stats(u_ND[:4096], v_ND[:4096])  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        acc_mean, acc_var = accumulator_stats(u_ND, v_ND)
        times.append(time.perf_counter() - t0)
    t_acc = min(times)  # best of repeats: the machine may be shared
    t0 = time.perf_counter()
    bf_mean, bf_var = brute_force_stats(u_ND, v_ND, args.block)
    t_bf = time.perf_counter() - t0

    rel_mean = abs(acc_mean - bf_mean) / abs(bf_mean)
    rel_var = abs(acc_var - bf_var) / abs(bf_var)
    ratio = t_bf / t_acc
    ok = ratio >= 100 and max(rel_mean, rel_var) <= 1e-6
    result = {
        "benchmark": "exact negative-similarity mean/variance, all n(n-1) cross-view pairs",
        "n": args.n,
        "d": args.d,
        "dtype": "float32 input, float64 accumulation",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "accumulator_seconds": round(t_acc, 4),
        "accumulator_seconds_all_repeats": [round(t, 4) for t in times],
        "brute_force_seconds": round(t_bf, 3),
        "brute_force_block_rows": args.block,
        "speedup": round(ratio, 1),
        "accumulator": {"neg_mean": acc_mean, "neg_var": acc_var},
        "brute_force": {"neg_mean": bf_mean, "neg_var": bf_var},
        "rel_diff_mean": rel_mean,
        "rel_diff_var": rel_var,
        "target": "speedup >= 100, relative difference <= 1e-6",
        "target_met": ok,
        "torch": torch.__version__,
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"n = {args.n}, d = {args.d}, {torch.get_num_threads()} threads\n"
        f"SimilarityAccumulator  {t_acc:8.3f} s  mean {acc_mean:.10f}  var {acc_var:.10f}\n"
        f"brute force n x n      {t_bf:8.3f} s  mean {bf_mean:.10f}  var {bf_var:.10f}\n"
        f"speedup {ratio:.1f}x, relative diff mean {rel_mean:.2e}, var {rel_var:.2e} "
        f"-> target {'met' if ok else 'NOT met'}\nwrote {out}"
    )


if __name__ == "__main__":
    main()
