"""Shared tiny configurations for the training tests (synthetic data, seconds)."""

from __future__ import annotations

import dataclasses

from contrastlens.data.augment import recipe
from contrastlens.experiments import presets
from contrastlens.train.config import Config


def tiny_config(**train) -> Config:
    """The smoke preset: 64 synthetic 28 x 28 images, batch 16 (4 steps per epoch)."""
    cfg = presets.get("smoke")
    cfg.train = dataclasses.replace(cfg.train, **train)
    cfg.eval.at_end = False
    return cfg


def exact_config(**train) -> Config:
    """No batch norm, float64, no augmentation: every process count gives the same math."""
    cfg = tiny_config(dtype="float64", **train)
    cfg.model.norm = "none"
    cfg.data.augment = recipe("none")
    return cfg
