"""Splits of a dataset as a run sees them, and the two-view batcher of its training split.

    images_NCHW, labels_N = load_split(cfg.data, "train")   # minus val_size, first `subset`
    images_NCHW, labels_N = load_split(cfg.data, "val")     # the held-out validation images
    fit = load_split(cfg.data, probe_fit_split(cfg.data))   # what the probes fit (labeled)
    batches, n, channels = two_view_batches(cfg.data, batch_size=256, seed=0, device=dev)

`data` is a `DataConfig` (contrastlens.train.config); only its fields are read, so this module
does not import the trainer. The validation split is a fixed permutation (seed 0, not the run's
seed): every run holds out the same images.

Legend: N images, C channels, H, W height and width.
"""

from __future__ import annotations

import torch

from contrastlens.data.sources import DATASETS as FILE_DATASETS
from contrastlens.data.views import (
    ImageFolderBatches,
    TwoViewBatches,
    normalization,
    synthetic_images,
)

# Every name `data.dataset` accepts: the datasets read from files, and generated test images.
DATASETS = (*FILE_DATASETS, "synthetic")
FOLDER_SIDE = 224  # an image folder's crops when data.image_size is 0


def image_side(data, images: tuple[torch.Tensor, torch.Tensor] | None) -> int:
    """The side of the training images: the loaded split's (`images`, from `load_split`), or
    an image folder's crops (data.image_size, else FOLDER_SIDE)."""
    return images[0].shape[-1] if images is not None else data.image_size or FOLDER_SIDE


def probe_split(data, final_split: str = "auto") -> str:
    """The split the probes score: the held-out validation split when data.val_size > 0, else
    the test split. final_split (`eval.final_split`, for the end-of-run evaluation): "auto" is
    that rule; "test" scores the test split even when a validation split is held out (the
    curve probes choose on validation, the test split is scored once, at the end)."""
    if final_split == "test":
        return data.test_split
    return "val" if data.val_size else data.test_split


def probe_fit_split(data) -> str:
    """The split the probes fit: the training split, or its labeled part when it holds
    unlabeled images (STL-10's "train+unlabeled" and "unlabeled" -> "train"; datasets.PROBE_FIT).
    """
    from contrastlens.data.datasets import PROBE_FIT

    return PROBE_FIT.get((data.dataset, data.train_split), data.train_split)


def load_split(data, split: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(images uint8 (N, C, H, W), labels (N,)) of `split` held in memory, or None for an
    imagefolder (streamed). Split "val" is the `data.val_size` images held out from the
    training split; the training split then excludes them and keeps its first `data.subset`."""
    if data.dataset == "synthetic":
        seed = 0 if split == data.train_split else 1
        side = data.image_size or 28
        return synthetic_images(data.synthetic_n, data.synthetic_channels, side, seed=seed)
    if data.dataset == "imagefolder":
        return None
    from contrastlens.data.datasets import load_dataset

    if split == "val" and not data.val_size:
        raise ValueError("split 'val' needs data.val_size > 0 (images held out from training)")
    ds = load_dataset(data.dataset, data.train_split if split == "val" else split, root=data.root)
    images, labels = ds.images, ds.labels
    if data.val_size and split in ("val", data.train_split):
        if not 0 < data.val_size < images.shape[0]:
            raise ValueError(f"data.val_size={data.val_size} must be in (0, {images.shape[0]})")
        perm = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(0))
        keep = perm[: data.val_size] if split == "val" else perm[data.val_size :].sort().values
        images, labels = images[keep], labels[keep]
    if split == data.train_split and data.subset:
        images, labels = images[: data.subset], labels[: data.subset]
    return images, labels


def two_view_batches(
    data,
    *,
    batch_size: int,
    seed: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    rank: int = 0,
    world_size: int = 1,
    images: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[TwoViewBatches, int, int]:
    """The two-view batcher of the training split, the training-set size and the channel
    count. `images`: the training split if the caller already holds it (else loaded)."""
    common = dict(
        batch_size=batch_size,
        augment=data.augment,
        seed=seed,
        rank=rank,
        world_size=world_size,
        dtype=dtype,
    )
    if data.dataset == "imagefolder":
        from contrastlens.data.datasets import open_imagefolder

        if not data.root:
            raise ValueError("data.root: the image folder path is required for imagefolder")
        ds = open_imagefolder(data.root, data.train_split, image_side(data, None))
        mean, std = normalization("imagefolder", 3)
        b = ImageFolderBatches(
            ds, workers=data.workers, device=device, mean=mean, std=std, **common
        )
        return b, len(ds), 3
    x_NCHW, _ = images if images is not None else load_split(data, data.train_split)
    mean, std = normalization(data.dataset, x_NCHW.shape[1])
    return TwoViewBatches(x_NCHW.to(device), mean=mean, std=std, **common), *x_NCHW.shape[:2]
