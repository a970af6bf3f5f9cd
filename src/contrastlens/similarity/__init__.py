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
expected_batch_variance(acc.pair_sums(), B)                E[Var of in-batch negatives], random
                                                           batches of size B, exact
false_negative_partners(labels, dups),                     expected false negatives per batch
batch_false_negatives(partners, B)
threshold_table(hists.pos, hists.neg)                      precision / recall / F1 of "s >= t"
first_relevant_rank(q, corpus, keys...), retrieval_scores  MRR@10, Recall@1 by inner product
"""

from contrastlens.similarity.accumulator import (
    LabelSplit,
    SimilarityAccumulator,
    SimilarityMoments,
)
from contrastlens.similarity.batches import (
    FalseNegatives,
    PairSums,
    batch_false_negatives,
    expected_batch_variance,
    false_negative_partners,
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
from contrastlens.similarity.retrieval import (
    PRECISION_BYTES,
    first_relevant_rank,
    retrieval_scores,
)
from contrastlens.similarity.separation import SeparationCheck, check_excessive_separation
from contrastlens.similarity.stats import PairStats, pair_stats
from contrastlens.similarity.thresholds import ThresholdRow, ThresholdTable, threshold_table

__all__ = [
    "PRECISION_BYTES",
    "FalseNegatives",
    "LabelSplit",
    "PairStats",
    "PairSums",
    "SeparationCheck",
    "SimilarityAccumulator",
    "SimilarityHistograms",
    "SimilarityMoments",
    "StreamingHistogram",
    "ThresholdRow",
    "ThresholdTable",
    "alignment",
    "batch_false_negatives",
    "check_excessive_separation",
    "covariance_spectrum",
    "embedding_diagnostics",
    "expected_batch_variance",
    "false_negative_partners",
    "first_relevant_rank",
    "pair_stats",
    "rankme",
    "retrieval_scores",
    "similarity_histograms",
    "threshold_table",
    "uniformity",
]
