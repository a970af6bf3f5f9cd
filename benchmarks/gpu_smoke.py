"""GPU smoke test: the CUDA paths end to end in a few minutes, with throughput and memory.

    .venv/bin/python benchmarks/gpu_smoke.py results/gpu-smoke          # on one GPU
    .venv/bin/python benchmarks/gpu_smoke.py runs/gpu-smoke-cpu --cpu   # tiny sizes, on the CPU

Never a CI dependency: no test runs it. Each phase is its own `python -m contrastlens` process,
as a user would run it (so a resume really starts from the checkpoint file):

1. cifar-part    the cifar10-simclr preset (CIFAR-stem ResNet-18, SimCLR recipe) on synthetic
                 CIFAR-shaped data (3 x 32 x 32, 4 classes), the default precision
                 (train.amp=auto: bf16 autocast + channels-last on a GPU with native bf16),
                 cuDNN autotuning, a curve probe at epoch 1 (probes on the GPU); stopped
                 halfway by max_steps (checkpoint written, no evaluation).
2. cifar-resume  `--resume` of that run to the end of its schedule, then the end-of-run
                 evaluation (probes on the GPU, Table 1 statistics, full-dataset statistics).
3. cifar-eval    `contrastlens eval` of the same checkpoint in a fresh process.
4. folder        imagefolder-simclr (ResNet-50, ImageNet stem chosen by model.stem=auto at
                 224 px, DataLoader decoders from the cores) on a fake ImageNet-style folder of
                 random JPEGs, a few steps: the 224 px throughput with decoding included.

Checks (the script exits 1 if one fails, after writing the summary): every phase exits 0, the
resumed run finishes every step with an unbroken metrics.jsonl, the checkpoint's RNG states are
CPU byte tensors (one GPU's state, not a list), the evaluation is written twice with the same
scored images, the ResNet-50 got the ImageNet stem.

OUT_DIR receives summary.json (device, versions, settings, per phase: wall seconds, training
images per second, training's peak memory (CUDA allocated and CPU resident), the probes'
accuracies) and logs/, and the run folders without their checkpoints (hundreds of MB; keep them
with --keep-checkpoints). The images per second are training instances per second (2 views
each) from the run's own final.json: the training loop's wall time (probes excluded), so they
include data loading, augmentation, process warm-up and the first steps' cuDNN autotuning: a
smoke number, not a benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_SRC = Path(__file__).resolve().parents[1] / "src"  # the checkout is what gets tested
CIFAR_PRESET = "cifar10-simclr"
FOLDER_PRESET = "imagefolder-simclr"

# (GPU, --cpu) sizes
SIZES = {
    "gpu": dict(
        n=32768,
        batch=256,
        epochs=2,
        linear_epochs=10,
        knn_k=50,
        pairs=2048,
        folder_images=2560,
        folder_batch=128,
        folder_steps=20,
        folder_side=224,
    ),
    "cpu": dict(
        n=64,
        batch=16,
        epochs=2,
        linear_epochs=2,
        knn_k=10,
        pairs=64,
        folder_images=8,
        folder_batch=4,
        folder_steps=2,
        folder_side=128,
    ),
}


def contrastlens(args: list[str], log: Path, timeout: float) -> tuple[int, float]:
    """Run `python -m contrastlens ARGS`, output to `log`; (exit code, wall seconds)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if (REPO_SRC / "contrastlens").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_SRC), env.get("PYTHONPATH")]))
    t0 = time.perf_counter()
    with open(log, "w") as f:
        f.write("$ contrastlens " + " ".join(args) + "\n")
        f.flush()
        try:
            rc = subprocess.run(
                [sys.executable, "-m", "contrastlens", *args],
                stdout=f,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                env=env,
            ).returncode
        except subprocess.TimeoutExpired:
            f.write(f"\nsmoke: timed out after {timeout:.0f} s\n")
            rc = 124
    return rc, time.perf_counter() - t0


def sets(pairs: dict) -> list[str]:
    out = []
    for key, value in pairs.items():
        out += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    return out


def fake_folder(root: Path, n: int, side: int) -> Path:
    """root/train/c<k>/<i>.jpg: n random JPEGs a bit larger than `side` (resized on load)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / "train" / f"c{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, size=(side + 32, side + 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
    return root


def read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def phase_record(run: Path, rc: int, wall: float) -> dict:
    final, meta = read(run / "final.json") or {}, read(run / "meta.json") or {}
    memory = final.get("memory") or {}
    ev = final.get("eval") or {}
    return {
        "exit_code": rc,
        "wall_s": round(wall, 1),
        "status": final.get("status"),
        "steps": final.get("steps"),
        "train_time_s": final.get("train_time_s"),
        "img_per_s": final.get("img_per_s"),
        "cuda_peak_mb": memory.get("cuda_peak_mb"),
        "peak_rss_mb": memory.get("peak_rss_mb"),
        "precision": meta.get("precision"),
        "linear_top1": ev.get("linear_top1"),
        "knn_top1": ev.get("knn_top1"),
        "eval_time_s": ev.get("eval_time_s"),
    }


def check_checkpoint(path: Path) -> list[str]:
    """The RNG states of a checkpoint, as the resume fix keeps them."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    rng, problems = ckpt["rng"], []
    if not (isinstance(rng["torch"], torch.Tensor) and rng["torch"].dtype == torch.uint8):
        problems.append("checkpoint rng.torch is not a byte tensor")
    cuda = rng.get("cuda")
    if torch.cuda.is_available() and not isinstance(cuda, torch.Tensor):
        problems.append(f"checkpoint rng.cuda is {type(cuda).__name__}, not one device's state")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", type=Path, help="where summary.json, logs/ and the runs go")
    ap.add_argument("--cpu", action="store_true", help="tiny sizes on the CPU (minutes)")
    ap.add_argument("--keep-checkpoints", action="store_true")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per phase")
    args = ap.parse_args(argv)

    import torch

    if not args.cpu and not torch.cuda.is_available():
        print("gpu_smoke: no CUDA device here; run with --cpu for the tiny CPU version")
        return 2
    size = SIZES["cpu" if args.cpu else "gpu"]
    out = args.out_dir.resolve()
    if out.exists() and any(out.iterdir()):
        print(f"gpu_smoke: {out} is not empty; give a new folder")
        return 2
    out.mkdir(parents=True, exist_ok=True)
    logs, runs = out / "logs", out / "runs"
    device = "cpu" if args.cpu else "cuda"
    summary: dict = {
        "command": ["benchmarks/gpu_smoke.py", *(argv if argv is not None else sys.argv[1:])],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "device": torch.cuda.get_device_name(0)
        if device == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpus": len(os.sched_getaffinity(0)),
        "sizes": size,
        "phases": {},
        "problems": [],
    }
    problems = summary["problems"]

    # ---- 1-3: the CIFAR-shaped preset, stopped, resumed, evaluated again
    cifar = runs / "cifar"
    steps_per_epoch = size["n"] // size["batch"]
    total = size["epochs"] * steps_per_epoch
    common = sets(
        {
            "data.dataset": "synthetic",
            "data.synthetic_n": size["n"],
            "data.synthetic_channels": 3,
            "data.image_size": 32,
            "train.device": device,
            "train.epochs": size["epochs"],
            "train.batch_size": size["batch"],
            "train.log_every": max(1, steps_per_epoch // 4),
            "train.progress": False,
            "optim.warmup_epochs": 0.5,
            "eval.linear_epochs": size["linear_epochs"],
            "eval.curve_linear_epochs": 2,
            "eval.knn_k": size["knn_k"],
            "eval.table1_pairs": size["pairs"],
            "eval.curve_epochs": [1],
        }
    )
    part = [
        "train",
        "--preset",
        CIFAR_PRESET,
        "--out-dir",
        str(runs),
        "--name",
        "cifar",
        "--no-eval",  # the resumed run evaluates at its end
        *common,
        "--set",
        f"train.max_steps={total // 2}",
    ]
    rc, wall = contrastlens(part, logs / "1-cifar-part.log", args.timeout)
    summary["phases"]["cifar-part"] = phase_record(cifar, rc, wall)
    if rc == 0 and (cifar / "checkpoint.pt").is_file():
        problems += check_checkpoint(cifar / "checkpoint.pt")
        resume = ["train", "--resume", str(cifar), "--set", "train.max_steps=0"]
        rc, wall = contrastlens(resume, logs / "2-cifar-resume.log", args.timeout)
        summary["phases"]["cifar-resume"] = phase_record(cifar, rc, wall)
        steps = [r["step"] for r in map(json.loads, (cifar / "metrics.jsonl").open())]
        if rc == 0 and (steps != sorted(set(steps)) or steps[-1] != total):
            problems.append(f"metrics.jsonl steps {steps[:3]}...{steps[-3:]} != 1..{total}")
        curve = [json.loads(line) for line in (cifar / "curve.jsonl").open()]
        if [c["epoch"] for c in curve] != [1]:
            problems.append(f"curve.jsonl holds epochs {[c['epoch'] for c in curve]}, not [1]")
        first_eval = read(cifar / "eval.json")
        rc, wall = contrastlens(
            ["eval", str(cifar), "--device", device], logs / "3-cifar-eval.log", args.timeout
        )
        second = read(cifar / "eval.json") or {}
        summary["phases"]["cifar-eval"] = {
            "exit_code": rc,
            "wall_s": round(wall, 1),
            "linear_top1": second.get("linear_top1"),
            "knn_top1": second.get("knn_top1"),
            "eval_time_s": second.get("eval_time_s"),
        }
        if (
            rc == 0
            and first_eval
            and len(second["correct"]["knn"]) != len(first_eval["correct"]["knn"])
        ):
            problems.append("contrastlens eval scored a different number of images")
    else:
        problems.append("cifar-part failed; see logs/1-cifar-part.log")
    meta = read(cifar / "meta.json") or {}
    summary["settings"] = {k: meta.get(k) for k in ("device", "precision", "cuda")}
    final = read(cifar / "final.json") or {}
    if final.get("status") != "finished" or final.get("steps") != total:
        problems.append(
            f"cifar run: status {final.get('status')}, {final.get('steps')} of {total} steps"
        )
    if not (final.get("eval") or {}).get("correct"):
        problems.append("cifar run: no end-of-run evaluation in final.json")

    # ---- 4: imagefolder-simclr at 224 px on a fake folder
    with tempfile.TemporaryDirectory(prefix="gpu-smoke-folder-") as tmp:
        t0 = time.perf_counter()
        root = fake_folder(Path(tmp), size["folder_images"], size["folder_side"])
        summary["folder_images_written_s"] = round(time.perf_counter() - t0, 1)
        folder = [
            "train",
            "--preset",
            FOLDER_PRESET,
            "--out-dir",
            str(runs),
            "--name",
            "folder",
            *sets(
                {
                    "data.root": str(root),
                    "data.image_size": size["folder_side"],
                    "train.device": device,
                    "train.batch_size": size["folder_batch"],
                    "train.epochs": 1,
                    "train.max_steps": size["folder_steps"],
                    "train.log_every": 1,
                    "train.progress": False,
                    "optim.warmup_epochs": 0,
                }
            ),
        ]
        rc, wall = contrastlens(folder, logs / "4-folder.log", args.timeout)
    record = phase_record(runs / "folder", rc, wall)
    fmeta = read(runs / "folder" / "meta.json") or {}
    record.update({k: (fmeta.get("resolved") or {}).get(k) for k in ("stem", "workers")})
    summary["phases"]["folder"] = record
    if record["stem"] != "imagenet":
        problems.append(f"imagefolder-simclr ran with stem {record['stem']!r}, not imagenet")
    if rc != 0:
        problems.append("folder phase failed; see logs/4-folder.log")

    if not args.keep_checkpoints:
        for ckpt in runs.glob("*/checkpoint.pt"):
            ckpt.unlink()
    summary["ok"] = not problems
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _print(summary)
    return 0 if summary["ok"] else 1


def _print(s: dict) -> None:
    print(f"gpu_smoke on {s['device']} (torch {s['torch']}, CUDA {s['cuda']}, {s['cpus']} CPUs)")
    print(f"settings: {json.dumps(s.get('settings'))}")
    print(
        f"{'phase':14} {'rc':>3} {'wall s':>7} {'img/s':>8} {'CUDA MiB':>9} {'RSS MiB':>8} "
        f"{'linear':>7} {'kNN':>6}"
    )

    def f(x, spec):
        width = int(spec.split(".")[0])
        return format(x, spec) if isinstance(x, (int, float)) else "-".rjust(width)

    for name, p in s["phases"].items():
        print(
            f"{name:14} {p['exit_code']:>3} {f(p['wall_s'], '7.1f')} "
            f"{f(p.get('img_per_s'), '8.0f')} {f(p.get('cuda_peak_mb'), '9.0f')} "
            f"{f(p.get('peak_rss_mb'), '8.0f')} {f(p.get('linear_top1'), '7.3f')} "
            f"{f(p.get('knn_top1'), '6.3f')}"
        )
    print("OK" if s["ok"] else "PROBLEMS:\n  " + "\n  ".join(s["problems"]))


if __name__ == "__main__":
    sys.exit(main())
