"""The lens of one `Subject`: every section of the report, computed from its embeddings.

    result = analyze(subject, Settings(batch_size=128))

Shape legend: N rows, D dimension, Q retrieval queries.

Exact over all pairs (streamed, O(N D^2), no N x N matrix): the moments, the label split, the
expected batch statistics. Counted pair by pair, so exact only up to `Settings.exact_pairs`
negatives and sampled beyond (the report says which): the histograms and with them the
threshold table. Retrieval scores `Settings.retrieval_queries` random queries against the whole
corpus. Uniformity (O(N^2)) uses `Settings.uniformity_rows` random rows above that many.
"""

from __future__ import annotations

import dataclasses
import time

import torch
import torch.nn.functional as F

from contrastlens.eval.lens import lens_statistics
from contrastlens.inspect.findings import findings
from contrastlens.inspect.inputs import Subject
from contrastlens.inspect.result import (
    BatchRow,
    InspectResult,
    RetrievalRow,
    Settings,
)
from contrastlens.optimum import negative_optimum
from contrastlens.similarity import (
    PRECISION_BYTES,
    batch_false_negatives,
    expected_batch_variance,
    false_negative_partners,
    first_relevant_rank,
    retrieval_scores,
    similarity_histograms,
    threshold_table,
)

__all__ = ["analyze", "batch_sizes", "check_batch_size"]

DEFAULT_BATCH = 256


def batch_sizes(first: int, n: int, rows: int = 6) -> list[int]:
    """first, 2 first, 4 first, ... below n (at most `rows` of them), then n itself."""
    out = []
    b = first
    while b < n and len(out) < rows:
        out.append(b)
        b *= 2
    return out + [n]


def check_batch_size(s: Settings, N: int) -> int:
    """The batch size of the batch table: the one set, else min(256, N); in [2, N]."""
    B = s.check().batch_size or min(DEFAULT_BATCH, N)
    if not 2 <= B <= N:
        raise ValueError(
            f"batch size {B} is outside [2, {N}] (the {N} rows are the population a batch is "
            f"drawn from): choose --batch-size between 2 and {N}"
        )
    return B


def _retrieval(
    subject: Subject, settings: Settings, notes: list[str]
) -> tuple[tuple[RetrievalRow, ...], int]:
    """MRR@10, Recall@1/10 of Q random queries at each precision (module docstring)."""
    z1_ND = F.normalize(subject.z1_ND, dim=1)
    N = z1_ND.shape[0]
    if subject.z2_ND is not None:  # the anchor's positive (and any duplicate of it)
        corpus_ND = F.normalize(subject.z2_ND, dim=1)
        keys_N = subject.duplicates_N if subject.duplicates_N is not None else torch.arange(N)
        exclude = False
    elif subject.labels_N is not None:  # the nearest other row with the same label
        corpus_ND, keys_N, exclude = z1_ND, subject.labels_N, True
    else:
        notes.append("Retrieval: skipped (no positives and no labels: nothing is relevant).")
        return (), 0
    Q = min(settings.retrieval_queries, N)
    gen = torch.Generator().manual_seed(settings.seed)
    rows_Q = torch.arange(N) if Q == N else torch.randperm(N, generator=gen)[:Q].sort()[0]
    if Q < N:
        notes.append(f"Retrieval: {Q:,} random queries (seed {settings.seed}) against all {N:,}.")
    try:
        from contrastlens.integrations.sentence_transformers import quantized_codes
    except ImportError as err:
        quantized_codes = None
        if set(settings.precisions) - {"float32"}:
            notes.append(
                f"Retrieval: int8 and binary need sentence-transformers ({err}); pip install "
                "'contrastlens[sentence-transformers]'."
            )
    out = []
    for precision in settings.precisions:
        if quantized_codes is None:
            if precision != "float32":
                continue
            q_QD, c_ND = z1_ND[rows_Q], corpus_ND
        else:
            q_QD, c_ND = quantized_codes(z1_ND[rows_Q], corpus_ND, precision)
        ranks_Q = first_relevant_rank(
            q_QD, c_ND, keys_N[rows_Q], keys_N, exclude_Q=rows_Q if exclude else None
        )
        scores = retrieval_scores(ranks_Q)
        out.append(
            RetrievalRow(
                precision=precision,
                bytes_per_vector=PRECISION_BYTES[precision] * z1_ND.shape[1],
                mrr_at_10=scores["mrr@10"],
                recall_at_1=scores["recall@1"],
                recall_at_10=scores["recall@10"],
            )
        )
    return tuple(out), Q


def analyze(subject: Subject, settings: Settings | None = None) -> InspectResult:
    """Every section of the report for one subject (module docstring). Returns
    `InspectResult` (without `.compare`)."""
    settings = settings or Settings()
    z1_ND, z2_ND, y_N = subject.z1_ND, subject.z2_ND, subject.labels_N
    N, D = z1_ND.shape
    B = check_batch_size(settings, N)
    paired = z2_ND is not None
    timings: dict[str, float] = {}
    notes: list[str] = []

    t0 = time.perf_counter()
    lens = lens_statistics(
        z1_ND,
        z2_ND,
        labels=y_N,
        n=subject.dataset_size,
        uniformity_rows=settings.uniformity_rows,
        diagnostic_rows=settings.diagnostic_rows,
        seed=settings.seed,
        pair_sums=True,
        spectrum=True,
    )
    timings["moments_s"] = time.perf_counter() - t0
    if lens.diagnostic_rows < N:
        notes.append(
            f"RankMe, GOR and the covariance spectrum: over {lens.diagnostic_rows:,} random rows "
            f"(seed {settings.seed}; an SVD each); alignment is exact (2 - 2 mean positive)."
        )
    if lens.uniformity_rows < N:
        notes.append(
            f"Uniformity: over {lens.uniformity_rows:,} random rows (seed {settings.seed}); it "
            "costs O(N^2)."
        )

    t0 = time.perf_counter()
    negatives = N * (N - 1)
    sample = None if negatives <= settings.exact_pairs else settings.sample_pairs
    hists = similarity_histograms(
        z1_ND,
        z1_ND if z2_ND is None else z2_ND,
        bins=settings.bins,
        sample=sample,
        seed=settings.seed,
        labels=y_N,
        within=False,
        grid=True,
    )
    if sample is not None:
        notes.append(
            f"Histograms and thresholds: {hists.sample_size:,} random pairs (a grid of random "
            f"rows and columns, seed {settings.seed}) of the {negatives:,} negatives; the "
            "moments and the batch table are exact over all of them."
        )
    timings["histograms_s"] = time.perf_counter() - t0

    by_label = lens.moments.by_label
    thresholds, pair_kind = None, "none"
    if paired:
        pair_kind = "anchor i with its positive i; negatives: anchor i with positive j != i"
        thresholds = threshold_table(
            hists.pos, hists.neg, positives=N, negatives=negatives, thresholds=settings.thresholds
        )
    elif by_label is not None and by_label.same_count and by_label.different_count:
        pair_kind = "two rows with the same label; negatives: rows with different labels"
        if hists.same.total and hists.different.total:
            thresholds = threshold_table(
                hists.same,
                hists.different,
                positives=by_label.same_count,
                negatives=by_label.different_count,
                thresholds=settings.thresholds,
            )
        else:
            notes.append("Thresholds: the sampled pairs hold no same-label pair.")
    else:
        notes.append("Thresholds: skipped (no positives and no labels: no pair is a pair).")

    t0 = time.perf_counter()
    keys = {}
    duplicate_rows = 0
    if subject.duplicates_N is not None:
        partners = false_negative_partners(subject.duplicates_N)
        duplicate_rows = int((partners > 0).sum())
        if duplicate_rows:
            keys["duplicates"] = (subject.duplicates_N,)
    if y_N is not None:
        keys["same_label"] = (y_N,)
    if len(keys) == 2:
        keys["false_negatives"] = keys["duplicates"] + keys["same_label"]
    elif keys:
        keys["false_negatives"] = next(iter(keys.values()))
    partners = {name: false_negative_partners(*k) for name, k in keys.items()}
    batches = []
    for b in batch_sizes(B, N):
        batches.append(
            BatchRow(
                batch_size=b,
                neg_var=expected_batch_variance(lens.pair_sums, b),
                in_batch_optimum=negative_optimum(b),
                **{
                    name: batch_false_negatives(partners[name], b) if name in partners else None
                    for name in ("duplicates", "same_label", "false_negatives")
                },
            )
        )
    timings["batches_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    retrieval, queries = _retrieval(subject, settings, notes)
    timings["retrieval_s"] = time.perf_counter() - t0

    result = InspectResult(
        name=subject.name,
        kind=subject.kind,
        source=subject.source | {"rows": N, "dim": D},
        settings=settings,
        lens=lens,
        histograms=hists,
        thresholds=thresholds,
        pair_kind=pair_kind,
        batch_size=B,
        batches=tuple(batches),
        retrieval=retrieval,
        retrieval_queries=queries,
        duplicate_rows=duplicate_rows,
        labels=None if y_N is None else int(y_N.unique().numel()),
        findings=(),
        notes=tuple(notes),
        timings=timings | {"encode_s": subject.encode_seconds},
    )
    return dataclasses.replace(result, findings=tuple(findings(result)))
