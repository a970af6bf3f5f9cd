"""Datasets: finding and verifying files (`sources`), uint8 tensors in memory (`datasets`),
batched on-device augmentation and two-view batches (`augment`, `views`), WordNet 3.0's
(example, definition) pairs for the text study (`wordnet`)."""

from contrastlens.data.augment import AugmentConfig, augment, recipe
from contrastlens.data.datasets import (
    SPLITS,
    LabeledImages,
    load_dataset,
    open_imagefolder,
)
from contrastlens.data.sources import DATASETS, VerifyReport, fetch, locate, verify
from contrastlens.data.views import TwoViewBatches, synthetic_images
from contrastlens.data.wordnet import Synset, WordNetSplit, load_synsets, split_synsets

__all__ = [
    "AugmentConfig",
    "DATASETS",
    "SPLITS",
    "LabeledImages",
    "Synset",
    "TwoViewBatches",
    "VerifyReport",
    "WordNetSplit",
    "augment",
    "fetch",
    "load_dataset",
    "load_synsets",
    "locate",
    "open_imagefolder",
    "recipe",
    "split_synsets",
    "synthetic_images",
    "verify",
]
