"""Training throughput and memory: the default pipeline against float32, against the usual
per-sample PIL pipeline, and large batches in bounded memory (train.micro_batch).

    .venv/bin/python benchmarks/training.py [--seconds 20] [--out benchmarks/results/training.json]

Both pipelines train the same model (the fmnist-simclr small CNN + projector) with the same
SimCLR objective and SGD on real Fashion-MNIST, in the same process, on the same CPU:

- ours: the uint8 dataset held as one tensor, two views augmented in batch
  (`contrastlens.data.views.TwoViewBatches`, the grayscale recipe);
- baseline ("the usual way"): a torchvision Dataset of PIL images with per-sample
  `transforms.Compose([RandomResizedCrop, RandomHorizontalFlip, ColorJitter, ToTensor,
  Normalize])` applied twice, in a DataLoader with 2 workers.

Reported per batch size (32, 128, 256): training instances per second (each = 2 views) of our
default pipeline (the precision `train.amp=auto`, `train.channels_last=auto` resolve to here: bf16
autocast + channels-last on a CPU with native bf16), of the same pipeline in float32 (target:
default >= 2x float32), and of the PIL baseline in float32 (target: default >= 3x), and the
share of our step time spent augmenting (target <= 15%). Then one training step at B = 1024 with
and without `train.micro_batch=64`: its time, and its peak memory measured in a fresh
subprocess (peak RSS during the step above the RSS before it; target: micro-batch <= 1/3).
A second table times the augmentation alone for the RGB SimCLR recipe (batch 256 of
32 x 32): ours vs kornia.augmentation vs torchvision.transforms.v2 with per-sample randomness
(a loop over images, since v2 draws one set of parameters per call), the measurement behind the
library choice in `contrastlens/data/augment.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from contrastlens.data.augment import augment, recipe
from contrastlens.data.datasets import load_dataset
from contrastlens.data.views import TwoViewBatches, normalization
from contrastlens.losses import build_objective
from contrastlens.models import build_encoder
from contrastlens.train.config import ModelConfig, TrainConfig
from contrastlens.train.precision import Precision, resolve_precision

BATCHES = (32, 128, 256)


def make_model(precision: Precision | None = None):
    torch.manual_seed(0)
    enc = build_encoder(ModelConfig(pool=7), 1)  # the fmnist-simclr encoder
    if precision is not None and precision.channels_last:
        enc = enc.to(memory_format=torch.channels_last)
    obj = build_objective("simclr", temperature=0.2)
    opt = torch.optim.SGD(enc.parameters(), lr=0.05, momentum=0.9)
    return enc, obj, opt


FP32 = Precision("off", False)


def step(enc, obj, opt, x1, x2, ids, precision: Precision = FP32):
    x = precision.inputs(torch.cat([x1, x2]))
    with precision.autocast(torch.device("cpu")):
        _, z = enc(x)
    z = z.float()
    B = x1.shape[0]
    loss = obj(z[:B], z[B:], ids=ids)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def bench_ours(images, batch, seconds, precision: Precision = FP32):
    enc, obj, opt = make_model(precision)
    mean, std = normalization("fashion-mnist", 1)
    views = TwoViewBatches(
        images, batch_size=batch, augment=recipe("grayscale"), mean=mean, std=std, seed=0
    )
    n, aug_s, t0 = 0, 0.0, None
    epoch = 0
    while True:
        it = views.epoch(epoch)
        while True:
            ta = time.perf_counter()
            try:
                x1, x2, ids = next(it)
            except StopIteration:
                break
            tb = time.perf_counter()
            step(enc, obj, opt, x1, x2, ids, precision)
            if t0 is None:  # first step is warmup
                t0 = time.perf_counter()
                continue
            aug_s += tb - ta
            n += 1
            if time.perf_counter() - t0 > seconds:
                total = time.perf_counter() - t0
                return {"img_per_s": n * batch / total, "aug_share": aug_s / total, "steps": n}
        epoch += 1


class PILDataset(torch.utils.data.Dataset):
    def __init__(self, images):
        from PIL import Image
        from torchvision import transforms as T

        self.pils = [Image.fromarray(im[0].numpy(), mode="L") for im in images]
        mean, std = normalization("fashion-mnist", 1)
        self.tf = T.Compose(
            [
                T.RandomResizedCrop(28, scale=(0.35, 1.0)),
                T.RandomHorizontalFlip(),
                T.RandomApply([T.ColorJitter(0.4, 0.4)], p=0.8),
                T.ToTensor(),
                T.Normalize(mean, std),
            ]
        )

    def __len__(self):
        return len(self.pils)

    def __getitem__(self, i):
        im = self.pils[i]
        return self.tf(im), self.tf(im), i


def bench_baseline(images, batch, seconds):
    enc, obj, opt = make_model()
    ds = PILDataset(images)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch, shuffle=True, num_workers=2, drop_last=True, persistent_workers=True
    )
    n, t0 = 0, None
    while True:
        for x1, x2, ids in loader:
            step(enc, obj, opt, x1, x2, ids)
            if t0 is None:
                t0 = time.perf_counter()
                continue
            n += 1
            if time.perf_counter() - t0 > seconds:
                total = time.perf_counter() - t0
                return {"img_per_s": n * batch / total, "steps": n}


def bench_augment_libraries(reps=5):
    """Augmentation alone, RGB SimCLR recipe, batch 256 of 32 x 32 uint8 -> float."""
    x = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
    out = {}

    def timed(fn):
        fn()
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - t) / reps * 1000  # ms per batch

    cfg, g = recipe("simclr"), torch.Generator().manual_seed(0)
    out["ours_ms"] = timed(lambda: augment(x, cfg, g))
    try:
        import kornia.augmentation as K

        kaug = torch.nn.Sequential(
            K.RandomResizedCrop((32, 32), scale=(0.08, 1.0)),
            K.RandomHorizontalFlip(),
            K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
            K.RandomGrayscale(p=0.2),
            K.RandomGaussianBlur((3, 3), (0.1, 2.0), p=0.5),
        )
        out["kornia_ms"] = timed(lambda: kaug(x.float() / 255))
    except Exception as err:  # noqa: BLE001 - report, do not fail the benchmark
        out["kornia_error"] = repr(err)
    from torchvision.transforms import v2

    tv = v2.Compose(
        [
            v2.RandomResizedCrop(32, scale=(0.08, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            v2.RandomGrayscale(0.2),
            v2.RandomApply([v2.GaussianBlur(3, (0.1, 2.0))], p=0.5),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )
    out["torchvision_v2_per_sample_ms"] = timed(lambda: torch.stack([tv(im) for im in x]))
    out["torchvision_v2_batched_one_draw_ms"] = timed(lambda: tv(x))
    return out


MICRO = {"batch": 1024, "micro_batch": 64}


def _micro_parts(micro_batch: int):
    """The fmnist-quick model, objective and optimizer at B = 1024 (synthetic 28 x 28 images)."""
    from contrastlens.data.views import synthetic_images
    from contrastlens.experiments import presets
    from contrastlens.train.loop import build
    from contrastlens.train.resolve import resolve

    cfg = presets.get("fmnist-quick")
    cfg.train.batch_size, cfg.train.micro_batch = MICRO["batch"], micro_batch
    torch.manual_seed(0)
    r = resolve(cfg, n_train=60000, world=1, steps_per_epoch=1)
    p = build(cfg, r, torch.device("cpu"), torch.float32, 1)
    images, _ = synthetic_images(MICRO["batch"], 1, 28)
    mean, std = normalization("fashion-mnist", 1)
    views = TwoViewBatches(
        images, batch_size=MICRO["batch"], augment=cfg.data.augment, mean=mean, std=std
    )
    return p, next(iter(views.epoch(0)))


def _status_kib(field: str) -> int:
    import re

    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", text).group(1))


def measure_step(micro_batch: int) -> dict:
    """Seconds of a second training step and its peak RSS above the RSS before it (bytes)."""
    from contrastlens.train.loop import train_step

    p, (x1, x2, ids) = _micro_parts(micro_batch)
    train_step(p, x1, x2, ids, lr=0.1, stats=False, micro_batch=micro_batch)  # warm-up
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmRSS")
    t0 = time.perf_counter()
    train_step(p, x1, x2, ids, lr=0.1, stats=False, micro_batch=micro_batch)
    return {"s": time.perf_counter() - t0, "peak": (_status_kib("VmHWM") - before) * 1024}


def _step_in_subprocess(micro_batch: int) -> dict:
    import subprocess
    import sys

    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    cmd = [sys.executable, __file__, "--step", str(micro_batch)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_micro_batch(rounds: int) -> dict:
    plain = [_step_in_subprocess(0) for _ in range(rounds)]
    micro = [_step_in_subprocess(MICRO["micro_batch"]) for _ in range(rounds)]

    def med(rs, key):
        return sorted(r[key] for r in rs)[len(rs) // 2]

    out = {
        **MICRO,
        "plain_s": med(plain, "s"),
        "micro_s": med(micro, "s"),
        "plain_peak_mib": med(plain, "peak") / 2**20,
        "micro_peak_mib": med(micro, "peak") / 2**20,
    }
    out["time_ratio"] = out["micro_s"] / out["plain_s"]
    out["memory_ratio"] = out["micro_peak_mib"] / out["plain_peak_mib"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="timed seconds per measurement")
    ap.add_argument("--out", default="benchmarks/results/training.json")
    ap.add_argument("--subset", type=int, default=20000, help="training images used")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--batches", default="32,128,256", help="comma-separated batch sizes")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per pipeline")
    ap.add_argument("--step", type=int, default=None, help=argparse.SUPPRESS)  # subprocess
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.step is not None:
        print(json.dumps(measure_step(args.step)))
        return
    images = load_dataset("fashion-mnist", "train").images[: args.subset].contiguous()
    rows = []
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "loadavg_start": os.getloadavg(),
        },
        "seconds_per_measurement": args.seconds,
        "threads": torch.get_num_threads(),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    default = resolve_precision(TrainConfig(), torch.device("cpu"), convolutional=True)
    result["default_precision"] = default.as_dict()
    print(f"default precision here: {default.as_dict()}")
    print(
        f"{'batch':>5} {'default img/s':>13} {'fp32 img/s':>10} {'PIL img/s':>9} "
        f"{'vs fp32':>7} {'vs PIL':>6} {'aug share':>9}"
    )
    for batch in [int(b) for b in args.batches.split(",")]:
        # Alternate the pipelines in short rounds and keep the median of each, so a burst of
        # load from other processes on the shared CPU does not land on one side only.
        runs = {"default": [], "fp32": [], "baseline": []}
        for _ in range(args.rounds):
            per = args.seconds / args.rounds
            runs["default"].append(bench_ours(images, batch, per, default))
            runs["fp32"].append(bench_ours(images, batch, per, FP32))
            runs["baseline"].append(bench_baseline(images, batch, per))
        med = {k: sorted(v, key=lambda r: r["img_per_s"])[len(v) // 2] for k, v in runs.items()}
        row = {
            "batch": batch,
            **med,
            "vs_fp32": med["default"]["img_per_s"] / med["fp32"]["img_per_s"],
            "vs_baseline": med["default"]["img_per_s"] / med["baseline"]["img_per_s"],
            "rounds": {k: [r["img_per_s"] for r in v] for k, v in runs.items()},
        }
        rows.append(row)
        print(
            f"{batch:5d} {med['default']['img_per_s']:13.0f} {med['fp32']['img_per_s']:10.0f} "
            f"{med['baseline']['img_per_s']:9.0f} {row['vs_fp32']:7.2f} "
            f"{row['vs_baseline']:6.2f} {med['default']['aug_share']:9.1%}",
            flush=True,
        )
        out.write_text(json.dumps(result, indent=2) + "\n")  # partial results survive
    result["micro_batch"] = bench_micro_batch(args.rounds)
    mb = result["micro_batch"]
    print(
        f"one step at B = {mb['batch']}: plain {mb['plain_s']:.2f} s, peak "
        f"{mb['plain_peak_mib']:.0f} MiB; micro_batch = {mb['micro_batch']}: "
        f"{mb['micro_s']:.2f} s ({mb['time_ratio']:.2f}x), peak {mb['micro_peak_mib']:.0f} MiB "
        f"({mb['memory_ratio']:.2f}x of plain)"
    )
    out.write_text(json.dumps(result, indent=2) + "\n")
    result["augment_only_rgb_b256"] = bench_augment_libraries()
    print("augmentation alone (RGB SimCLR recipe, 256 x 3 x 32 x 32, ms per batch):")
    for k, v in result["augment_only_rgb_b256"].items():
        print(f"  {k:36s} {v if isinstance(v, str) else f'{v:8.1f}'}")
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["targets"] = {
        "vs_fp32_min": 2.0,
        "vs_baseline_min": 3.0,
        "aug_share_max": 0.15,
        "micro_batch_memory_ratio_max": 1 / 3,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
