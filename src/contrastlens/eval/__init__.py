"""Evaluation of frozen representations: `LinearProbe` and `KNNProbe` (scikit-learn style),
feature extraction and the end-of-run measurements on tensors (`evaluate.evaluate_encoder`),
and the similarity lens of any embeddings (`lens.lens_statistics`).
Evaluating a run folder is `contrastlens.experiments.evaluate_run`."""

from contrastlens.eval.evaluate import (
    evaluate_encoder,
    extract_features,
    probe_curve_point,
    raw_pixel_floor,
)
from contrastlens.eval.lens import LensStatistics, lens_statistics
from contrastlens.eval.probes import KNNProbe, LinearProbe

__all__ = [
    "KNNProbe",
    "LensStatistics",
    "LinearProbe",
    "evaluate_encoder",
    "extract_features",
    "lens_statistics",
    "probe_curve_point",
    "raw_pixel_floor",
]
