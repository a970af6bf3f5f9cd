"""Speed and memory of the losses: forward + backward, float32 on the CPU, D = 128.

    .venv/bin/python benchmarks/losses.py            # full run (a few minutes)
    .venv/bin/python benchmarks/losses.py --quick    # 2B = 256 and 1024 only
    .venv/bin/python benchmarks/losses.py --sizes 64 512 --no-memory   # batch 32 and 256

For 2B in {256, 1024, 4096} (B instances, two views) it times SimCLR, SimCLR + VRN, DCL, DHEL,
SigLIP, MoCo v2 (B queries against a queue of K = 4096 keys) and SogCLR's global contrastive loss
(`GlobalContrastiveLoss` with its per-sample state for n = 50,000 samples, the same B dataset
indices every step: the steady state of revisits, the state written each call; `sogclr_vs_dcl` is
its time over DCL's, the loss it extends) from `contrastlens.losses`
(plus the VRN term alone: its fwd+bwd, including its own batch preparation, bounds what it
adds to a loss, which `simclr+vrn` vs `simclr` measures directly but noisily),
and in the same run the baselines users would otherwise use:
  - `authors_simclr`: a mask-based SimCLR in the style of the papers' code (exp of the whole
    similarity matrix, a boolean mask, log of a ratio), and `authors_simclr+vrn` with the
    authors' VRN (masked select of the negatives, mean of (s - delta)^2); written below;
  - `lightly_ntxent`: lightly's NTXentLoss, when lightly is importable (`bench` extra).

Time: median over repeats of one forward + backward (inputs are leaf tensors requiring grad),
methods interleaved within each repeat so that load from other processes hits all of them alike.
One torch thread by default (--threads): on a small shared machine a 2-thread pool stalls at
every op barrier whenever the other core is busy (we measured 2 ms and 300 ms for the same op),
which makes multi-thread timings noise; the thread count is saved with the results.

Peak memory: the CPU has no allocator statistics like torch.cuda.max_memory_allocated, so each
(method, size) runs once more in a FRESH subprocess in which glibc is told to serve every
allocation of 64 KiB or more with mmap (MALLOC_MMAP_THRESHOLD_=65536: freed matrices go back to
the OS at once instead of staying in the heap). After one warm-up call the kernel's peak-RSS
counter is reset (/proc/self/clear_refs, "5"), one forward + backward runs, and the reported
peak is VmHWM - VmRSS before the call: the largest amount of memory simultaneously live during
the call (inputs excluded, gradients and every temporary included), at page granularity. It is
reported in units of one float32 (2B x 2B) matrix, the target being <= 3 (MoCo, whose
logits are (B, 1 + K), is also given in units of one (B, K) matrix).

Results: printed as a table with ratios, and written to benchmarks/results/losses.json
(with the machine, versions, threads and load average that made them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from contrastlens import losses

D = 128
K = 4096
TEMPERATURE = 0.2
VRN_WEIGHT, VRN_N = 30.0, 50_000  # the paper's lambda and CIFAR's dataset size
SIZES = (256, 1024, 4096)  # 2B
RESULTS = Path(__file__).resolve().parent / "results"


# ---- baselines ------------------------------------------------------------------------------


def authors_simclr(z1_BD: torch.Tensor, z2_BD: torch.Tensor, t: float) -> torch.Tensor:
    """SimCLR as commonly written in papers' code: exp, masks, log of a ratio."""
    B = z1_BD.shape[0]
    z_ND = F.normalize(torch.cat([z1_BD, z2_BD]), dim=1)  # (2B, D)
    sim_NN = torch.exp(z_ND @ z_ND.T / t)  # (2B, 2B)
    mask_NN = ~torch.eye(2 * B, dtype=torch.bool, device=z_ND.device)
    neg_N = sim_NN.masked_select(mask_NN).view(2 * B, -1).sum(dim=1)  # all but self
    pos_B = torch.exp((z_ND[:B] * z_ND[B:]).sum(dim=1) / t)
    pos_N = torch.cat([pos_B, pos_B])
    return -torch.log(pos_N / neg_N).mean()


def authors_vrn(z1_BD: torch.Tensor, z2_BD: torch.Tensor, n: int) -> torch.Tensor:
    """The authors' VRN: cross-view similarity, masked select of the negatives, mean of squares."""
    u_BD, v_BD = F.normalize(z1_BD, dim=1), F.normalize(z2_BD, dim=1)
    sim_BB = u_BD @ v_BD.T
    neg_BB = ~torch.eye(u_BD.shape[0], dtype=torch.bool, device=u_BD.device)
    return ((sim_BB[neg_BB] - (-1.0 / (n - 1))) ** 2).mean()


def methods(B: int) -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """name -> f(z1_BD, z2_BD) -> 0-d loss."""
    g = torch.Generator().manual_seed(1)
    queue_KD = F.normalize(torch.randn(K, D, generator=g), dim=1)
    simclr_vrn = losses.build_objective(
        "simclr", temperature=TEMPERATURE, vrn_weight=VRN_WEIGHT, vrn_n=VRN_N
    )
    sogclr = losses.GlobalContrastiveLoss(VRN_N, temperature=TEMPERATURE)
    ids_B = torch.randperm(VRN_N, generator=g)[:B]  # dataset indices, revisited every call
    out = {
        "simclr": lambda a, b: losses.simclr_loss(a, b, temperature=TEMPERATURE),
        "simclr+vrn": lambda a, b: simclr_vrn(a, b)["loss"],
        "vrn": lambda a, b: losses.vrn_loss(a, b, n=VRN_N),  # the term alone, for reference
        "dcl": lambda a, b: losses.dcl_loss(a, b, temperature=TEMPERATURE),
        "sogclr": lambda a, b: sogclr(a, b, ids_B),
        "dhel": lambda a, b: losses.dhel_loss(a, b, temperature=TEMPERATURE),
        "siglip": lambda a, b: losses.sigmoid_loss(a, b, t=10.0, b=10.0),
        "moco": lambda a, b: losses.moco_loss(a, b.detach(), queue_KD, temperature=TEMPERATURE),
        "authors_simclr": lambda a, b: authors_simclr(a, b, TEMPERATURE),
        "authors_simclr+vrn": lambda a, b: (
            authors_simclr(a, b, TEMPERATURE) + VRN_WEIGHT * authors_vrn(a, b, VRN_N)
        ),
    }
    try:
        from lightly.loss import NTXentLoss
    except ImportError:
        return out
    ntxent = NTXentLoss(temperature=TEMPERATURE)
    out["lightly_ntxent"] = lambda a, b: ntxent(a, b)
    return out


def inputs(B: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    z1_BD = torch.randn(B, D, generator=g)
    z2_BD = (z1_BD + 0.5 * torch.randn(B, D, generator=g)).requires_grad_()
    return z1_BD.requires_grad_(), z2_BD


def step(fn, z1_BD: torch.Tensor, z2_BD: torch.Tensor) -> None:
    z1_BD.grad = z2_BD.grad = None
    fn(z1_BD, z2_BD).backward()


# ---- time -----------------------------------------------------------------------------------


def time_all(B: int, repeats: int) -> dict[str, list[float]]:
    fns = methods(B)
    z1_BD, z2_BD = inputs(B)
    for fn in fns.values():  # warm-up
        step(fn, z1_BD, z2_BD)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            step(fn, z1_BD, z2_BD)
            times[name].append(time.perf_counter() - start)
    return times


# ---- memory ---------------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def measure_peak_in_this_process(name: str, B: int) -> int:
    """Bytes: peak RSS during one forward + backward above the RSS just before it."""
    fn = methods(B)[name]
    z1_BD, z2_BD = inputs(B)
    step(fn, z1_BD, z2_BD)  # warm-up: one-time buffers, thread pools
    z1_BD.grad = z2_BD.grad = None
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmRSS")
    step(fn, z1_BD, z2_BD)
    return (_status_kib("VmHWM") - before) * 1024


def peak_memory(name: str, B: int) -> int | None:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", PYTHONHASHSEED="0")
    cmd = [
        sys.executable,
        __file__,
        "--peak",
        name,
        str(B),
        "--threads",
        str(torch.get_num_threads()),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"  memory of {name} at B={B} failed: {done.stderr.strip()[-300:]}")
        return None
    return int(done.stdout.strip().splitlines()[-1])


# ---- report ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2B = 256 and 1024 only")
    parser.add_argument("--sizes", type=int, nargs="+", help="2B values (default 256 1024 4096)")
    parser.add_argument("--repeats", type=int, default=0, help="0: 9 / 7 / 5 by size")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--peak", nargs=2, metavar=("METHOD", "B"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=RESULTS / "losses.json")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.peak:
        print(measure_peak_in_this_process(args.peak[0], int(args.peak[1])))
        return

    sizes = args.sizes or (SIZES[:2] if args.quick else SIZES)
    report = {
        "config": {
            "D": D,
            "K": K,
            "temperature": TEMPERATURE,
            "vrn_weight": VRN_WEIGHT,
            "vrn_n": VRN_N,
            "dtype": "float32",
            "device": "cpu",
            "sizes_2B": list(sizes),
        },
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average": os.getloadavg(),
            "lightly": _version("lightly"),
        },
        "results": {},
    }
    for two_b in sizes:
        B = two_b // 2
        repeats = args.repeats or {256: 9, 1024: 7}.get(two_b, 9 if two_b < 256 else 5)
        times = time_all(B, repeats)
        matrix_bytes = two_b * two_b * 4
        rows = {}
        for name, ts in times.items():
            peak = None if args.no_memory else peak_memory(name, B)
            rows[name] = {
                "median_s": statistics.median(ts),
                "times_s": ts,
                "peak_bytes": peak,
                "peak_in_2Bx2B_float32": None if peak is None else peak / matrix_bytes,
            }
            if name == "moco" and peak is not None:  # its natural unit: one (B, K) matrix
                rows[name]["peak_in_BxK_float32"] = peak / (B * K * 4)
        report["results"][str(two_b)] = {"B": B, "repeats": repeats, "methods": rows}
        _print_size(two_b, rows)
    report["ratios"] = _ratios(report["results"])
    report["machine"]["load_average_end"] = os.getloadavg()
    print("\nratios:", json.dumps(report["ratios"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


def _version(package: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(package)
    except Exception:
        return None


def _print_size(two_b: int, rows: dict) -> None:
    base = rows["simclr"]["median_s"]
    print(f"\n2B = {two_b}, D = {D}, float32 CPU, fwd+bwd")
    print(f"  {'method':<20} {'median ms':>10} {'x simclr':>9} {'peak (2Bx2B f32)':>17}")
    for name, row in rows.items():
        peak = row["peak_in_2Bx2B_float32"]
        peak_s = "-" if peak is None else f"{peak:.2f}"
        ms, ratio = row["median_s"] * 1e3, row["median_s"] / base
        print(f"  {name:<20} {ms:>10.1f} {ratio:>9.2f} {peak_s:>17}")


def _ratios(results: dict) -> dict:
    out = {}
    for two_b, res in results.items():
        m = {name: row["median_s"] for name, row in res["methods"].items()}
        r = {
            "simclr_vs_authors": m["simclr"] / m["authors_simclr"],
            "vrn_overhead": m["simclr+vrn"] / m["simclr"] - 1.0,
            "vrn_alone_vs_simclr": m["vrn"] / m["simclr"],  # upper bound on the overhead
            "authors_vrn_overhead": m["authors_simclr+vrn"] / m["authors_simclr"] - 1.0,
            "sogclr_vs_dcl": m["sogclr"] / m["dcl"],
        }
        if "lightly_ntxent" in m:
            r["simclr_vs_lightly"] = m["simclr"] / m["lightly_ntxent"]
        peaks = {
            name: row["peak_in_2Bx2B_float32"]
            for name, row in res["methods"].items()
            if row["peak_in_2Bx2B_float32"] is not None
        }
        if peaks:
            r["peak_in_2Bx2B_float32"] = peaks
        out[two_b] = r
    return out


if __name__ == "__main__":
    main()
