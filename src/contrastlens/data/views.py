"""Two-view batches with instance ids, sharded over processes, augmented on the device.

    batches = TwoViewBatches(images_NCHW, batch_size=256, augment=cfg, mean=..., std=...,
                             seed=0, rank=rank(), world_size=world_size())
    for step, (x1_BCHW, x2_BCHW, ids_B) in enumerate(batches.epoch(epoch, start_step=0)):
        ...

Sampling (random batches, as in the paper): epoch e draws a permutation of the N instances from
a generator seeded by (seed, e), identical on every process, and cuts it into global batches of
`batch_size` (the last partial batch is dropped so every step has the same size). Process r
takes rows [r B, (r + 1) B) of each global batch, B = batch_size / world_size: the union over
processes is exactly the one-process batch (a DistributedSampler that shards each batch, not the
dataset). Augmentation randomness comes from a generator seeded by (seed, epoch, step, rank),
so any step can be replayed from its coordinates alone: `--resume` only needs (epoch, step).

`synthetic_images` makes a tiny labeled dataset for dry runs and tests (no files needed).
`ImageFolderBatches` is the same interface for ImageNet-style folders decoded by DataLoader
workers (uint8 crops of a fixed size), augmented on the device after transfer.

Legend: N dataset size, B per-process batch, C channels, H, W height and width.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch

from contrastlens.data.augment import AugmentConfig, augment, normalize

# Per-channel mean / std of the training images (in [0, 1]); used after augmentation.
NORMALIZATION = {
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "stl10": ((0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "synthetic": ((0.5,), (0.25,)),
}


def normalization(dataset: str, channels: int) -> tuple[tuple, tuple]:
    mean, std = NORMALIZATION.get(dataset, ((0.5,) * channels, (0.25,) * channels))
    if len(mean) != channels:
        mean, std = (sum(mean) / len(mean),) * channels, (sum(std) / len(std),) * channels
    return mean, std


def step_generator(seed: int, epoch: int, step: int, rank: int) -> torch.Generator:
    """The augmentation generator of one (epoch, step, process): replayable from coordinates."""
    key = ((seed * 1_000_003 + epoch) * 1_000_033 + step) * 1_009 + rank
    return torch.Generator().manual_seed(key % (2**63 - 1))


def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The epoch's order of the N instances, identical on every process: (N,) int64."""
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 7_919 + 17)
    return torch.randperm(n, generator=g)


class TwoViewBatches:
    """Epochs of (x1, x2, ids) from uint8 images held on the device."""

    def __init__(
        self,
        images_NCHW: torch.Tensor,
        *,
        batch_size: int,
        augment: AugmentConfig,
        mean: tuple,
        std: tuple,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        dtype: torch.dtype = torch.float32,
    ):
        if batch_size % world_size:
            raise ValueError(
                f"batch_size {batch_size} must be divisible by the number of processes {world_size}"
            )
        if batch_size > images_NCHW.shape[0]:
            raise ValueError(
                f"batch_size {batch_size} exceeds the dataset size {images_NCHW.shape[0]}"
            )
        self.images_NCHW = images_NCHW
        self.batch_size = batch_size
        self.local_batch = batch_size // world_size
        self.augment_cfg = augment
        self.mean, self.std = mean, std
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.dtype = dtype

    def __len__(self) -> int:
        """Steps per epoch."""
        return self.images_NCHW.shape[0] // self.batch_size

    def views(self, x_BCHW: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independently augmented, normalized views of a uint8 batch."""
        x1 = normalize(augment(x_BCHW, self.augment_cfg, g), self.mean, self.std)
        x2 = normalize(augment(x_BCHW, self.augment_cfg, g), self.mean, self.std)
        return x1.to(self.dtype), x2.to(self.dtype)

    def epoch(
        self, epoch: int, start_step: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        perm_N = epoch_permutation(self.images_NCHW.shape[0], self.seed, epoch)
        dev = self.images_NCHW.device
        for step in range(start_step, len(self)):
            lo = step * self.batch_size + self.rank * self.local_batch
            ids_B = perm_N[lo : lo + self.local_batch]
            x_BCHW = self.images_NCHW[ids_B.to(dev)]
            x1, x2 = self.views(x_BCHW, step_generator(self.seed, epoch, step, self.rank))
            yield x1, x2, ids_B.to(dev)


MAX_WORKERS = 16  # beyond this, decoding rarely speeds up and the workers' memory adds up


def auto_workers() -> int:
    """DataLoader workers for `data.workers=-1`: this process's share of the CPU cores it may
    run on (divided among torchrun's LOCAL_WORLD_SIZE processes), less one for the process
    itself, from 1 to MAX_WORKERS. Decoding and resizing 224 px JPEGs takes a few ms per
    image per core, so a GPU training at thousands of images per second needs all of them."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    share = cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(MAX_WORKERS, share - 1))


def resolve_workers(workers: int) -> int:
    """`data.workers` in use: itself, or `auto_workers()` for -1."""
    return auto_workers() if workers < 0 else workers


class ImageFolderBatches(TwoViewBatches):
    """The same interface over a torch Dataset of (uint8 (C, H, W), label) decoded by workers.

    Each process reads its shard of each global batch through a DataLoader (the index order is
    the same `epoch_permutation`); decoded uint8 crops go to the device and are augmented there.
    """

    def __init__(self, dataset, *, workers: int = -1, device: torch.device | str = "cpu", **kw):
        self.dataset = dataset
        self.workers = resolve_workers(workers)
        self.device = torch.device(device)
        n = len(dataset)
        probe = torch.zeros(n, 1, 1, 1, dtype=torch.uint8)  # only its length is used
        super().__init__(probe, **kw)

    def epoch(self, epoch: int, start_step: int = 0):
        from torch.utils.data import DataLoader

        perm_N = epoch_permutation(len(self.dataset), self.seed, epoch)
        order = []
        for step in range(start_step, len(self)):
            lo = step * self.batch_size + self.rank * self.local_batch
            order.append(perm_N[lo : lo + self.local_batch].tolist())
        loader = DataLoader(
            self.dataset,
            batch_sampler=order,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
        for i, (x_BCHW, _) in enumerate(loader):
            step = start_step + i
            ids_B = torch.tensor(order[i], device=self.device)
            x_BCHW = x_BCHW.to(self.device, non_blocking=True)
            x1, x2 = self.views(x_BCHW, step_generator(self.seed, epoch, step, self.rank))
            yield x1, x2, ids_B


def synthetic_images(
    n: int = 64, channels: int = 1, side: int = 28, classes: int = 4, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A tiny labeled dataset: class c is a bright square in quadrant-ish position c plus noise.

    Returns uint8 images (n, channels, side, side) and int64 labels (n,).
    """
    g = torch.Generator().manual_seed(seed)
    labels_N = torch.arange(n) % classes
    x = torch.rand(n, channels, side, side, generator=g) * 60
    s = side // 3
    for c in range(classes):
        r0 = (c * s) % (side - s)
        c0 = ((c * 7) * s // 3) % (side - s)
        x[labels_N == c, :, r0 : r0 + s, c0 : c0 + s] += 180
    return x.clamp(0, 255).to(torch.uint8), labels_N
