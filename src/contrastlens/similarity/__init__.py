"""Statistics of positive and negative similarities (docs/theory.md, "Notation").

pair_stats(z1, z2, *, ids=None, n=None) -> PairStats      per-batch, for logging
SimilarityAccumulator().update(z1, z2).result()            exact full-dataset moments,
                                                           O(n d^2) time, O(d^2) memory
    .update(z1, z2, labels=y) ... .result().by_label       the negatives split exactly into
                                                           same-label / different-label pairs
StreamingHistogram, similarity_histograms(z1, z2, ...)     fixed-bin histograms on [-1, 1]
check_excessive_separation(pos_mean, neg_mean, n)          Thm 5.2 / 5.3 check + message
alignment, uniformity, rankme, covariance_spectrum,        Wang & Isola, Garrido et al., Jing et al.
embedding_diagnostics(z1, z2)                              all scalar diagnostics as floats
"""

from contrastlens.similarity.accumulator import (
    LabelSplit,
    SimilarityAccumulator,
    SimilarityMoments,
)
from contrastlens.similarity.diagnostics import (
    alignment,
    covariance_spectrum,
    embedding_diagnostics,
    rankme,
    uniformity,
)
from contrastlens.similarity.histograms import (
    SimilarityHistograms,
    StreamingHistogram,
    similarity_histograms,
)
from contrastlens.similarity.separation import SeparationCheck, check_excessive_separation
from contrastlens.similarity.stats import PairStats, pair_stats

__all__ = [
    "LabelSplit",
    "PairStats",
    "SeparationCheck",
    "SimilarityAccumulator",
    "SimilarityHistograms",
    "SimilarityMoments",
    "StreamingHistogram",
    "alignment",
    "check_excessive_separation",
    "covariance_spectrum",
    "embedding_diagnostics",
    "pair_stats",
    "rankme",
    "similarity_histograms",
    "uniformity",
]
