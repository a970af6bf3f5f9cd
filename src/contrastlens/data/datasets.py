"""Datasets as uint8 image tensors `(N, C, H, W)` plus int64 labels, loaded once and cached.

In-memory datasets (Fashion-MNIST, CIFAR-10/100, STL-10) are parsed from the official files
(found by `sources.locate`), then cached as a `.pt` file under `$CONTRASTLENS_CACHE`
(default `~/.cache/contrastlens/tensors`) keyed by the source files' path, size and mtime; later
loads memory-map that file (Fashion-MNIST train: well under a second). ImageNet-style folders
are too large for memory: `open_imagefolder` returns a torch `Dataset` decoded by DataLoader
workers.

Legend: N images, C channels, H, W height and width.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from contrastlens.data import sources
from contrastlens.errors import DataError
from contrastlens.runfolder import atomic_write

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
SPLITS = {
    "fashion-mnist": ("train", "test"),
    "cifar10": ("train", "test"),
    "cifar100": ("train", "test"),
    "stl10": ("train", "test", "unlabeled", "train+unlabeled"),
}
# Training splits that hold unlabeled images (label -1): the labeled split the probes fit
# instead (data.splits.probe_fit_split). Self-supervised training may use every image; a
# probe needs classes.
PROBE_FIT = {("stl10", "unlabeled"): "train", ("stl10", "train+unlabeled"): "train"}
# STL-10's class_names.txt, for copies that hold only the .bin files (torchvision then sets no
# `classes`).
STL10_CLASSES = [
    "airplane",
    "bird",
    "car",
    "cat",
    "deer",
    "dog",
    "horse",
    "monkey",
    "ship",
    "truck",
]


@dataclass
class LabeledImages:
    """A dataset split held in memory. `labels` is -1 where unknown (STL-10 unlabeled)."""

    name: str
    split: str
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor  # (N,) int64
    classes: list[str]

    def __len__(self) -> int:
        return self.images.shape[0]


def cache_dir() -> Path:
    return Path(os.environ.get("CONTRASTLENS_CACHE", "~/.cache/contrastlens/tensors")).expanduser()


def load_dataset(
    name: str, split: str = "train", root: str | os.PathLike | None = None, cache: bool = True
) -> LabeledImages:
    """Load `split` of `name` as uint8 `(N, C, H, W)` images and int64 labels.

    `name` in fashion-mnist, cifar10, cifar100, stl10; `split` in `SPLITS[name]`. Raises
    `DataError` (missing, truncated or corrupt files, with the fix) and never returns partial data.
    """
    if name == "imagefolder":
        raise DataError("imagefolder is streamed, not loaded into memory: use open_imagefolder()")
    if name not in SPLITS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(SPLITS)}")
    if split not in SPLITS[name]:
        raise DataError(f"{name} has no split {split!r}; choose one of {', '.join(SPLITS[name])}")
    directory = sources.locate(name, root)
    files = sorted(p for p in directory.iterdir() if p.is_file())
    key = hashlib.sha1(
        repr([(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]).encode()
    ).hexdigest()[:16]
    path = cache_dir() / f"{name}-{split.replace('+', '_')}-{key}.pt"
    if cache and path.is_file():
        try:
            blob = torch.load(path, mmap=True, weights_only=True)
            cached = LabeledImages(
                name, split, blob["images"], blob["labels"], list(blob["classes"])
            )
            _check(name, split, cached.images, cached.labels)
            return cached
        except Exception as err:  # a stale or damaged cache is rebuilt, never trusted
            _note(
                f"the cached tensors {path} could not be read ({type(err).__name__}); "
                "rebuilding them from the dataset files"
            )
            path.unlink(missing_ok=True)
    images, labels, classes = _PARSERS[name](directory, split)
    _check(name, split, images, labels)
    if cache:
        _save_cache({"images": images, "labels": labels, "classes": classes}, path)
    return LabeledImages(name, split, images, labels, classes)


def _note(message: str) -> None:
    print(f"contrastlens: {message}", file=sys.stderr)


def _save_cache(obj: dict, path: Path) -> None:
    """Write the cache atomically (runfolder.atomic_write: a kill or a full disk never leaves a
    torn cache file). The cache only saves time: when it cannot be written (disk full,
    read-only or unwritable folder) the data is used uncached, with one line saying why."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: torch.save(obj, f), binary=True)
    except OSError as err:
        why = "disk full" if err.errno in (errno.ENOSPC, errno.EDQUOT) else err.strerror
        _note(
            f"could not write the dataset cache {path} ({why}); continuing without it. "
            "Fix: free space, or point $CONTRASTLENS_CACHE to a writable folder"
        )


def _check(name: str, split: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    if images.dtype != torch.uint8 or images.ndim != 4:
        raise DataError(
            f"{name}/{split}: parsed images have shape {tuple(images.shape)} and "
            f"dtype {images.dtype}, expected uint8 (N, C, H, W); the files are corrupt"
        )
    if labels.shape != (images.shape[0],):
        raise DataError(
            f"{name}/{split}: {images.shape[0]} images but {labels.shape[0]} labels; "
            "the files are corrupt or from different releases"
        )


# ----------------------------------------------------------------------------- parsers
def _read_idx(path: Path, expected_ndim: int) -> np.ndarray:
    """Parse an idx(.gz) file (MNIST format: magic, dims, big-endian uint8 payload)."""
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (EOFError, OSError, gzip.BadGzipFile) as err:
        raise DataError(
            f"{path} is truncated or corrupt ({type(err).__name__}: {err}). Fix: delete it and run "
            "`contrastlens data fetch fashion-mnist`, or `apt-get install --reinstall "
            "dataset-fashion-mnist`."
        ) from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != expected_ndim:
        raise DataError(
            f"{path} is not an idx file of uint8 with {expected_ndim} dimensions "
            "(bad magic number). Fix: replace it with the official file."
        )
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(expected_ndim)]
    offset = 4 + 4 * expected_ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise DataError(
            f"{path} holds {len(raw) - offset} bytes of data, its header promises "
            f"{int(np.prod(dims))}: the file is incomplete. Fix: replace it."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _fashion_mnist(directory: Path, split: str):
    prefix = "train" if split == "train" else "t10k"
    images = _read_idx(directory / f"{prefix}-images-idx3-ubyte.gz", 3)
    labels = _read_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", 1)
    images_NCHW = torch.from_numpy(images.copy()).unsqueeze(1)
    return images_NCHW, torch.from_numpy(labels.astype(np.int64)), list(FASHION_MNIST_CLASSES)


def _cifar(directory: Path, split: str, cls_name: str):
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        ds = cls(str(directory.parent), train=(split == "train"), download=False)
    except Exception as err:  # torchvision raises RuntimeError / pickle errors for bad files
        raise DataError(
            f"{directory} could not be read ({err}). Fix: run "
            f"`contrastlens data verify {cls_name.lower()}` to find the bad file."
        ) from err
    images_NCHW = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
    return images_NCHW, torch.as_tensor(ds.targets, dtype=torch.int64), list(ds.classes)


def _stl10(directory: Path, split: str):
    import torchvision.datasets as tvd

    try:
        ds = tvd.STL10(str(directory.parent), split=split, download=False)
    except Exception as err:
        raise DataError(
            f"{directory} could not be read ({err}). Fix: run "
            "`contrastlens data verify stl10` to find the bad file."
        ) from err
    images_NCHW = torch.from_numpy(np.ascontiguousarray(ds.data))  # already (N, 3, 96, 96)
    classes = list(getattr(ds, "classes", STL10_CLASSES))  # no class_names.txt: the official
    return images_NCHW, torch.as_tensor(ds.labels, dtype=torch.int64), classes


_PARSERS = {
    "fashion-mnist": _fashion_mnist,
    "cifar10": lambda d, s: _cifar(d, s, "CIFAR10"),
    "cifar100": lambda d, s: _cifar(d, s, "CIFAR100"),
    "stl10": _stl10,
}


# ----------------------------------------------------------------------------- image folders
class ImageFolderUint8(torch.utils.data.Dataset):
    """An ImageNet-style folder `PATH/<split>/<class>/*.jpg` decoded to uint8 `(3, S, S)`.

    Decoding happens in DataLoader workers; images are resized (shorter side) and center
    cropped to `image_size` so batches stack. Augmentation then runs batched on the device.
    """

    def __init__(self, path: str | os.PathLike, split: str = "train", image_size: int = 224):
        import torchvision.datasets as tvd
        from torchvision.transforms import v2

        directory = sources.locate("imagefolder", path) / split
        if not directory.is_dir():
            raise DataError(
                f"imagefolder: {directory} does not exist (expected {path}/{split}/<class>/*.jpg)"
            )
        self.transform = v2.Compose(
            [
                v2.PILToTensor(),
                v2.Resize(image_size, antialias=True),
                v2.CenterCrop(image_size),
            ]
        )
        self.folder = tvd.ImageFolder(str(directory))
        self.classes = list(self.folder.classes)

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, index: int):
        image, label = self.folder[index]
        return self.transform(image.convert("RGB")), label


def open_imagefolder(
    path: str | os.PathLike, split: str = "train", image_size: int = 224
) -> ImageFolderUint8:
    """A streamed ImageNet-style folder dataset yielding `(uint8 (3, S, S), label)`."""
    return ImageFolderUint8(path, split, image_size)
