"""Evaluation of frozen representations: `LinearProbe` and `KNNProbe` (scikit-learn style),
feature extraction and the end-of-run measurements on tensors (`evaluate.evaluate_encoder`).
Evaluating a run folder is `contrastlens.experiments.evaluate_run`."""

from contrastlens.eval.evaluate import (
    evaluate_encoder,
    extract_features,
    probe_curve_point,
    raw_pixel_floor,
)
from contrastlens.eval.probes import KNNProbe, LinearProbe

__all__ = [
    "KNNProbe",
    "LinearProbe",
    "evaluate_encoder",
    "extract_features",
    "probe_curve_point",
    "raw_pixel_floor",
]
