"""The typed result of `contrastlens.inspect(...)`: one `InspectResult` per inspected subject
(a second one in `.compare`), every number the report shows, and `to_dict()` for report.json.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from contrastlens.eval.lens import LensStatistics
from contrastlens.similarity import (
    PRECISION_BYTES,
    FalseNegatives,
    SimilarityHistograms,
    ThresholdTable,
)

__all__ = ["BatchRow", "InspectResult", "RetrievalRow", "Settings"]


@dataclass(frozen=True)
class Settings:
    """How the numbers were computed (defaults of `contrastlens.inspect`)."""

    batch_size: int | None = None  # B of the batch table; None: min(256, N)
    seed: int = 0  # every sample (histogram pairs, retrieval queries, uniformity rows)
    exact_pairs: int = 1 << 24  # histograms count every pair up to this many negatives...
    sample_pairs: int = 1 << 22  # ...else about this many random pairs (a grid)
    bins: int = 2000  # histogram bins on [-1, 1]: the threshold resolution is 2 / bins
    retrieval_queries: int = 1000  # queries scored against the whole corpus (all when fewer)
    precisions: tuple[str, ...] = ("float32", "int8", "binary")
    thresholds: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    uniformity_rows: int = 4096  # uniformity (O(N^2)) over a random subset above this many
    diagnostic_rows: int = 20_000  # RankMe, GOR, spectrum (an SVD each) over a subset above

    def as_dict(self) -> dict:
        return asdict(self)

    def check(self) -> Settings:
        """Every value in range (a one-line ValueError naming the setting); returns self."""
        B = self.batch_size
        if B is not None and (isinstance(B, bool) or not isinstance(B, int) or B < 2):
            raise ValueError(f"batch_size must be an integer >= 2, got {B!r}")
        for name, low in (
            ("exact_pairs", 0),
            ("sample_pairs", 1),
            ("bins", 10),
            ("retrieval_queries", 1),
            ("uniformity_rows", 2),
            ("seed", 0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        unknown = [p for p in self.precisions if p not in PRECISION_BYTES]
        if unknown or not self.precisions:
            raise ValueError(
                f"precisions must be among {list(PRECISION_BYTES)}, got {list(self.precisions)}"
            )
        for t in self.thresholds:
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not -1.0 <= t < 1.0:
                raise ValueError(f"thresholds must lie in [-1, 1), got {t!r}")
        return self


@dataclass(frozen=True)
class BatchRow:
    """What a random batch of `batch_size` distinct rows sees (`similarity.batches`)."""

    batch_size: int
    neg_var: float  # expected variance of the in-batch negatives (exact, from the moments)
    in_batch_optimum: float  # -1/(B-1): where a batch's own negatives go at its optimum
    duplicates: FalseNegatives | None  # rows with the same text (or identical embeddings)
    same_label: FalseNegatives | None  # rows with the same label
    false_negatives: FalseNegatives | None  # either: duplicates or same label

    def as_dict(self) -> dict:
        out = {
            "batch_size": self.batch_size,
            "neg_var": self.neg_var,
            "in_batch_optimum": self.in_batch_optimum,
        }
        for key in ("duplicates", "same_label", "false_negatives"):
            value = getattr(self, key)
            out[key] = None if value is None else value.as_dict()
        return out


@dataclass(frozen=True)
class RetrievalRow:
    """Retrieval of each query's positive at one precision (`similarity.retrieval`)."""

    precision: str  # float32 | int8 | binary (sentence-transformers' quantize_embeddings)
    bytes_per_vector: float
    mrr_at_10: float
    recall_at_1: float
    recall_at_10: float

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class InspectResult:
    """Everything `contrastlens.inspect` measured on one subject (see the report's sections)."""

    name: str
    kind: str  # embeddings | model | run
    source: dict[str, Any]
    settings: Settings
    lens: LensStatistics  # exact moments (by_label), floor, optimum, diagnostics, spectrum
    histograms: SimilarityHistograms  # positives and negatives (same / different label)
    thresholds: ThresholdTable | None  # None: nothing counts as a pair (one view, no labels)
    pair_kind: str  # what a "pair" is in the threshold table and the retrieval
    batch_size: int
    batches: tuple[BatchRow, ...]  # batch_size, 2x, 4x, ... and N
    retrieval: tuple[RetrievalRow, ...]  # empty: no positives and no labels
    retrieval_queries: int
    duplicate_rows: int  # rows that have a duplicate
    labels: int | None  # distinct labels (None: no labels)
    findings: tuple[str, ...]  # the answers, in words
    notes: tuple[str, ...]  # what was sampled or skipped, and why
    timings: dict[str, float] = field(default_factory=dict)
    compare: InspectResult | None = None

    @property
    def rows(self) -> int:
        return self.lens.rows

    @property
    def dim(self) -> int:
        return self.lens.dim

    def to_dict(self) -> dict:
        """report.json: plain JSON types (NaN as null)."""
        lens = self.lens
        out = {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "settings": self.settings.as_dict(),
            "rows": lens.rows,
            "dim": lens.dim,
            "paired": lens.paired,
            "dataset_size": lens.dataset_size,
            "labels": self.labels,
            "duplicate_rows": self.duplicate_rows,
            "moments": lens.moments.as_dict(),
            "optimum": lens.optimum,
            "welch_floor": lens.welch_floor,
            "neg_second_moment": lens.neg_second_moment,
            "vrn": lens.vrn,
            "anisotropy": lens.anisotropy,
            "diagnostics": lens.diagnostics,
            "uniformity_rows": lens.uniformity_rows,
            "diagnostic_rows": lens.diagnostic_rows,
            "spectrum": list(lens.spectrum) if lens.spectrum is not None else None,
            "histograms": self.histograms.to_dict(),
            "pair_kind": self.pair_kind,
            "thresholds": None if self.thresholds is None else self.thresholds.as_dict(),
            "batch_size": self.batch_size,
            "batches": [b.as_dict() for b in self.batches],
            "retrieval": [r.as_dict() for r in self.retrieval],
            "retrieval_queries": self.retrieval_queries,
            "findings": list(self.findings),
            "notes": list(self.notes),
            "timings": self.timings,
            "compare": None if self.compare is None else self.compare.to_dict(),
        }
        return _finite(out)


def _finite(value: Any) -> Any:
    """NaN / Inf -> None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
