"""The similarity lens of any model or embeddings: `contrastlens inspect` and
`contrastlens.inspect(...)`.

    import contrastlens
    result = contrastlens.inspect("E.npy", positives="P.npy", out="lens/")       # arrays
    result = contrastlens.inspect(model="minilm", pairs="pairs.tsv", out="lens/")
    result = contrastlens.inspect(run="runs/fmnist-simclr-1", out="lens/")      # a run folder
    result.findings, result.lens.moments.neg_var, result.batches[0].neg_var, result.to_dict()

Rooms: inputs.py reads what the user has into a `Subject`; analysis.py computes every section
(the math is `contrastlens.similarity` and `contrastlens.eval.lens`, shared with
sentence-transformers' `SimilarityLensEvaluator`); result.py holds the typed result;
findings.py says it in words; report.py writes report.json / .md / .html.

`contrastlens.inspect` is this package, and calling it calls `inspect` below (the module is
callable), so `contrastlens.inspect(...)` and `from contrastlens.inspect import inspect` are the
same function. `import contrastlens` does not import it (a lazy attribute), and this package
imports sentence-transformers only when a model is loaded or embeddings are quantized.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import types
from typing import Any

from contrastlens.inspect.analysis import analyze, check_batch_size
from contrastlens.inspect.inputs import Subject, from_embeddings, from_model, from_run, read_pairs
from contrastlens.inspect.report import write_report
from contrastlens.inspect.result import BatchRow, InspectResult, RetrievalRow, Settings

__all__ = [
    "BatchRow",
    "InspectResult",
    "RetrievalRow",
    "Settings",
    "Subject",
    "analyze",
    "from_embeddings",
    "from_model",
    "from_run",
    "inspect",
    "read_pairs",
    "write_report",
]


def _check_sources(embeddings, model, run, pairs, positives, labels) -> str:
    given = [
        n for n, v in (("embeddings", embeddings), ("model", model), ("run", run)) if v is not None
    ]
    if len(given) != 1:
        raise ValueError(
            "give exactly one input: embeddings (E.npy), model (with pairs) or run (a run "
            f"folder); got {', '.join(given) or 'none'}"
        )
    kind = given[0]
    if kind == "model" and pairs is None:
        raise ValueError("a model needs pairs: a .tsv, .csv or .jsonl file of anchor, positive")
    if kind != "model" and pairs is not None:
        raise ValueError("pairs go with a model (--model PATH --pairs FILE)")
    if kind != "embeddings" and (positives is not None or labels is not None):
        raise ValueError("positives and labels go with embeddings (--embeddings E.npy)")
    return kind


def inspect(
    embeddings: Any = None,
    *,
    positives: Any = None,
    labels: Any = None,
    model: str | os.PathLike | None = None,
    pairs: str | os.PathLike | None = None,
    run: str | os.PathLike | None = None,
    compare: Any = None,
    compare_positives: Any = None,
    out: str | os.PathLike | None = None,
    dataset_size: int | None = None,
    device: str = "auto",
    split: str = "train",
    limit: int | None = 10_000,
    encode_batch_size: int = 64,
    progress: bool = False,
    **settings: Any,
) -> InspectResult:
    """The similarity lens of one input (and, with `compare`, a second one beside it).

    One input: `embeddings` (a .npy / .pt path, an array or a tensor, (N, D)) with optional
    `positives` ((N, D), row i the positive of row i) and `labels` ((N,)); or `model` (a
    sentence-transformers folder, or "minilm") with `pairs` (.tsv / .csv / .jsonl: anchor,
    positive, optional label or group); or `run` (a contrastlens run folder: projector outputs
    of two augmented views of `limit` images of its `split`, with their classes).
    compare: a second input of the same kind (embeddings with `compare_positives`; a model on
    the same pairs; a run folder). out: also write report.json / .md / .html there.
    dataset_size: n of the optimum -1/(n-1) and the Welch floor (default: the rows; a run:
    its training-set size). device, encode_batch_size, progress: for encoding.
    settings: `Settings` fields (batch_size, seed, exact_pairs, sample_pairs, bins,
    retrieval_queries, precisions, thresholds, uniformity_rows, diagnostic_rows).
    Returns `InspectResult` (the second input's in `.compare`)."""
    kind = _check_sources(embeddings, model, run, pairs, positives, labels)
    if compare_positives is not None and (compare is None or positives is None):
        raise ValueError("compare_positives goes with compare and positives")
    if compare is not None and positives is not None and compare_positives is None:
        raise ValueError(
            "compare with positives needs compare_positives (the second set's positives)"
        )
    known = sorted(f.name for f in dataclasses.fields(Settings))
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}: choose from {known}")
    config = Settings(**settings).check()
    for name, value, low in (
        ("dataset_size", dataset_size, 2),
        ("limit", limit, 2),
        ("encode_batch_size", encode_batch_size, 1),
    ):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < low
        ):
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

    def load(source: Any, source_positives: Any) -> Subject:
        if kind == "embeddings":
            return from_embeddings(source, source_positives, labels, dataset_size=dataset_size)
        if kind == "model":
            return from_model(
                source,
                pairs,
                device=device,
                batch_size=encode_batch_size,
                progress=progress,
                dataset_size=dataset_size,
            )
        return from_run(
            source,
            split=split,
            limit=limit,
            device=device,
            seed=config.seed,
            progress=progress,
            dataset_size=dataset_size,
        )

    main_source = {"embeddings": embeddings, "model": model, "run": run}[kind]
    subject = load(main_source, positives)
    other = None if compare is None else load(compare, compare_positives)
    for s in (subject, other):
        if s is not None:
            check_batch_size(config, s.z1_ND.shape[0])
    result = analyze(subject, config)
    if other is not None:
        result = dataclasses.replace(result, compare=analyze(other, config))
    if out is not None:
        write_report(result, out)
    return result


class _CallableModule(types.ModuleType):
    """`contrastlens.inspect(...)` calls `inspect`, though contrastlens.inspect is a package."""

    def __call__(self, *args: Any, **kwargs: Any) -> InspectResult:
        return inspect(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
