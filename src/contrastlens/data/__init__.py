"""Datasets: finding and verifying files (`sources`), uint8 tensors in memory (`datasets`),
batched on-device augmentation and two-view batches (`augment`, `views`)."""

from contrastlens.data.augment import AugmentConfig, augment, recipe
from contrastlens.data.datasets import (
    SPLITS,
    LabeledImages,
    load_dataset,
    open_imagefolder,
)
from contrastlens.data.sources import DATASETS, VerifyReport, fetch, locate, verify
from contrastlens.data.views import TwoViewBatches, synthetic_images

__all__ = [
    "AugmentConfig",
    "DATASETS",
    "SPLITS",
    "LabeledImages",
    "TwoViewBatches",
    "VerifyReport",
    "augment",
    "fetch",
    "load_dataset",
    "locate",
    "open_imagefolder",
    "recipe",
    "synthetic_images",
    "verify",
]
