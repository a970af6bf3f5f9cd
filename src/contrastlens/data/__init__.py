"""Datasets: finding and verifying files (`sources`), uint8 tensors in memory (`datasets`),
batched on-device augmentation and two-view batches (`augment`, `views`)."""

from contrastlens.data.datasets import (
    SPLITS,
    LabeledImages,
    load_dataset,
    open_imagefolder,
)
from contrastlens.data.sources import DATASETS, VerifyReport, fetch, locate, verify

__all__ = [
    "DATASETS",
    "SPLITS",
    "LabeledImages",
    "VerifyReport",
    "fetch",
    "load_dataset",
    "locate",
    "open_imagefolder",
    "verify",
]
