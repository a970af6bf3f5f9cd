"""Training throughput: on-device batched augmentation vs the usual per-sample PIL pipeline.

    .venv/bin/python benchmarks/training.py [--seconds 20] [--out benchmarks/results/training.json]

Both pipelines train the same model (the fmnist-simclr small CNN + projector) with the same
SimCLR objective and SGD on real Fashion-MNIST, in the same process, on the same CPU:

- ours: the uint8 dataset held as one tensor, two views augmented in batch
  (`contrastlens.data.views.TwoViewBatches`, the grayscale recipe);
- baseline ("the usual way"): a torchvision Dataset of PIL images with per-sample
  `transforms.Compose([RandomResizedCrop, RandomHorizontalFlip, ColorJitter, ToTensor,
  Normalize])` applied twice, in a DataLoader with 2 workers.

Reported per batch size (32, 128, 256): training instances per second (each = 2 views), the
ratio ours / baseline (target >= 3), and the share of our step time spent augmenting (target
<= 15%). A second table times the augmentation alone for the RGB SimCLR recipe (batch 256 of
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
from contrastlens.train.config import ModelConfig

BATCHES = (32, 128, 256)


def make_model():
    torch.manual_seed(0)
    enc = build_encoder(ModelConfig(), 1)
    obj = build_objective("simclr", temperature=0.2)
    opt = torch.optim.SGD(enc.parameters(), lr=0.05, momentum=0.9)
    return enc, obj, opt


def step(enc, obj, opt, x1, x2, ids):
    _, z = enc(torch.cat([x1, x2]))
    B = x1.shape[0]
    loss = obj(z[:B], z[B:], ids=ids)["loss"]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def bench_ours(images, batch, seconds):
    enc, obj, opt = make_model()
    mean, std = normalization("fashion-mnist", 1)
    views = TwoViewBatches(images, batch_size=batch, augment=recipe("grayscale"), mean=mean,
                           std=std, seed=0)  # fmt: skip
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
            step(enc, obj, opt, x1, x2, ids)
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
        self.tf = T.Compose([
            T.RandomResizedCrop(28, scale=(0.35, 1.0)), T.RandomHorizontalFlip(),
            T.RandomApply([T.ColorJitter(0.4, 0.4)], p=0.8), T.ToTensor(), T.Normalize(mean, std),
        ])  # fmt: skip

    def __len__(self):
        return len(self.pils)

    def __getitem__(self, i):
        im = self.pils[i]
        return self.tf(im), self.tf(im), i


def bench_baseline(images, batch, seconds):
    enc, obj, opt = make_model()
    ds = PILDataset(images)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=2,
                                         drop_last=True, persistent_workers=True)  # fmt: skip
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
            K.RandomResizedCrop((32, 32), scale=(0.08, 1.0)), K.RandomHorizontalFlip(),
            K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8), K.RandomGrayscale(p=0.2),
            K.RandomGaussianBlur((3, 3), (0.1, 2.0), p=0.5),
        )  # fmt: skip
        out["kornia_ms"] = timed(lambda: kaug(x.float() / 255))
    except Exception as err:  # noqa: BLE001 - report, do not fail the benchmark
        out["kornia_error"] = repr(err)
    from torchvision.transforms import v2

    tv = v2.Compose([
        v2.RandomResizedCrop(32, scale=(0.08, 1.0), antialias=True), v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), v2.RandomGrayscale(0.2),
        v2.RandomApply([v2.GaussianBlur(3, (0.1, 2.0))], p=0.5),
        v2.ToDtype(torch.float32, scale=True),
    ])  # fmt: skip
    out["torchvision_v2_per_sample_ms"] = timed(lambda: torch.stack([tv(im) for im in x]))
    out["torchvision_v2_batched_one_draw_ms"] = timed(lambda: tv(x))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="timed seconds per measurement")
    ap.add_argument("--out", default="benchmarks/results/training.json")
    ap.add_argument("--subset", type=int, default=20000, help="training images used")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--batches", default="32,128,256", help="comma-separated batch sizes")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per pipeline")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    images = load_dataset("fashion-mnist", "train").images[: args.subset].contiguous()
    rows = []
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "loadavg_start": os.getloadavg(),
        },  # fmt: skip
        "seconds_per_measurement": args.seconds,
        "threads": torch.get_num_threads(),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"{'batch':>5} {'ours img/s':>11} {'baseline img/s':>15} {'ratio':>6} {'aug share':>9}")
    for batch in [int(b) for b in args.batches.split(",")]:
        # Alternate the two pipelines in short rounds and keep the median of each, so a burst
        # of load from other processes on the shared CPU does not land on one side only.
        ours_r, base_r = [], []
        for _ in range(args.rounds):
            ours_r.append(bench_ours(images, batch, args.seconds / args.rounds))
            base_r.append(bench_baseline(images, batch, args.seconds / args.rounds))
        ours = sorted(ours_r, key=lambda r: r["img_per_s"])[len(ours_r) // 2]
        base = sorted(base_r, key=lambda r: r["img_per_s"])[len(base_r) // 2]
        row = {"batch": batch, "ours": ours, "baseline": base,
               "ratio": ours["img_per_s"] / base["img_per_s"],
               "rounds": {"ours": [r["img_per_s"] for r in ours_r],
                          "baseline": [r["img_per_s"] for r in base_r]}}  # fmt: skip
        rows.append(row)
        print(f"{batch:5d} {ours['img_per_s']:11.0f} {base['img_per_s']:15.0f} "
              f"{row['ratio']:6.2f} {ours['aug_share']:9.1%}", flush=True)  # fmt: skip
        out.write_text(json.dumps(result, indent=2) + "\n")  # partial results survive
    result["augment_only_rgb_b256"] = bench_augment_libraries()
    print("augmentation alone (RGB SimCLR recipe, 256 x 3 x 32 x 32, ms per batch):")
    for k, v in result["augment_only_rgb_b256"].items():
        print(f"  {k:36s} {v if isinstance(v, str) else f'{v:8.1f}'}")
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["targets"] = {"ratio_min": 3.0, "aug_share_max": 0.15}
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
