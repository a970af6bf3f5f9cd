"""Evaluation of frozen representations: `LinearProbe` and `KNNProbe` (scikit-learn style),
feature extraction and the end-of-run measurements (`evaluate.evaluate_run`)."""

from contrastlens.eval.evaluate import (
    evaluate_encoder,
    evaluate_run,
    extract_features,
    raw_pixel_floor,
)
from contrastlens.eval.probes import KNNProbe, LinearProbe

__all__ = [
    "KNNProbe",
    "LinearProbe",
    "evaluate_encoder",
    "evaluate_run",
    "extract_features",
    "raw_pixel_floor",
]
