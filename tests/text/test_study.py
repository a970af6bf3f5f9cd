"""The text study end to end on real data (WordNet, all-MiniLM-L6-v2): `reproduce --preset
text-smoke` (train-text runs in subprocesses, the sweep, the report), and the retrieval scores
against a direct computation."""

import json
import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: never reach the hub
pytest.importorskip("sentence_transformers")

from contrastlens import runfolder as rf  # noqa: E402
from contrastlens.cli import main  # noqa: E402
from contrastlens.data import wordnet  # noqa: E402
from contrastlens.errors import DataError  # noqa: E402

try:
    from contrastlens.integrations.sentence_transformers import minilm_path

    wordnet.locate()
    MODEL = minilm_path()
except DataError as error:
    pytest.skip(f"text study data missing: {error}", allow_module_level=True)


def test_text_smoke_study_end_to_end(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["reproduce", "--preset", "text-smoke", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    finals = {p.parent.name: json.loads(p.read_text()) for p in out.rglob(rf.FINAL)}
    assert set(finals) == {"zero-shot_seed0", "mnrl_seed0", "mnrl-vrn_seed0", "cached-mnrl_seed0"}
    steps = {name: f["steps"] for name, f in finals.items()}
    # 64 pairs: 4 steps of 16, 2 of the cached arm's 32; the zero-shot model is not trained
    assert steps == {
        "zero-shot_seed0": 0,
        "mnrl_seed0": 4,
        "mnrl-vrn_seed0": 4,
        "cached-mnrl_seed0": 2,
    }
    for f in finals.values():
        ev = f["eval"]
        assert ev["split"] == "test" and ev["documents"] == 64 and ev["lens_pairs"] == 64
        assert 0 < ev["recall@1"] <= ev["recall@10"] <= 1 and 0 < ev["mrr@10"] <= 1
        assert ev["lens"]["neg_var"] > 0
        assert ev["lens"]["welch_floor"] == 0  # n = 64 pairs <= d = 384: orthogonal is possible
    vrn_lines = rf.read_jsonl(out / "smoke" / "runs" / "mnrl-vrn_seed0" / rf.METRICS)
    assert any("vrn" in row and "mnrl" in row for row in vrn_lines)  # both terms were logged
    meta = json.loads((out / "smoke" / "runs" / "mnrl_seed0" / rf.META).read_text())
    assert meta["train_size"] == 64 and meta["git"]["revision"]
    md = (out / "report.md").read_text()
    assert "## Physical batch 16" in md and "cached-mnrl (batch 32)" in md
    assert any(ln.startswith("batch 16, mnrl-vrn (λ 10): MRR@10") for ln in printed.splitlines())


def test_global_arm_with_masking_end_to_end(tmp_path, capsys):
    """`train-text --set arm=global --set mask_duplicates=true`: the `label` column reaches the
    loss (every pair visited), the masked-pair counts and the state land in final.json, the
    quantized retrieval in eval.json."""
    argv = [
        "train-text",
        "--preset",
        "wordnet-smoke",
        "--set",
        "arm=global",
        "--set",
        "mask_duplicates=true",
        "--set",
        "train_pairs=32",
        "--set",
        "eval_synsets=16",
        "--out-dir",
        str(tmp_path),
    ]
    assert main(argv) == 0
    assert "global-masked_bs16_seed0: test MRR@10" in capsys.readouterr().out
    folder = tmp_path / "global-masked_bs16_seed0"
    final = json.loads((folder / rf.FINAL).read_text())
    assert final["steps"] == 2 and final["status"] == "finished"
    masked = final["masked_pairs"]
    assert masked["of_batches"] == 2 and 0 <= masked["batches"] <= 2 and masked["pairs"] >= 0
    assert final["global_state"]["sogclr_visited"] == 1.0
    ev = json.loads((folder / rf.EVAL).read_text())
    for precision in ("int8", "binary"):
        assert 0 <= ev[precision]["mrr@10"] <= 1 and len(ev[precision]["ranks"]) == ev["queries"]
    assert ev["int8"]["calibration"] == "64 calibration texts"  # the 32 pairs' two texts
    lines = rf.read_jsonl(folder / rf.METRICS)
    assert sum("masked_pairs" in row for row in lines) == 2  # MaskedPairsCallback, log_every 1


def test_retrieval_scores_match_a_direct_computation():
    import torch
    from sentence_transformers import SentenceTransformer

    from contrastlens.text.retrieval import evaluate_model

    synsets = wordnet.split_synsets(wordnet.load_synsets()).validation[:40]
    model = SentenceTransformer(str(MODEL), local_files_only=True, device="cpu")
    scores = evaluate_model(model, synsets, n_train=1000)
    task = wordnet.retrieval_task(synsets)
    docs = list(task.corpus)
    q = model.encode(list(task.queries.values()), convert_to_tensor=True, normalize_embeddings=True)
    d = model.encode(
        [task.corpus[k] for k in docs], convert_to_tensor=True, normalize_embeddings=True
    )
    order = (q @ d.T).argsort(dim=1, descending=True)
    ranks = []
    for i, qid in enumerate(task.queries):
        target = docs.index(next(iter(task.relevant[qid])))
        ranks.append(int((order[i] == target).nonzero()) + 1)
    ranks = torch.tensor(ranks, dtype=torch.float64)
    assert scores["recall@1"] == pytest.approx(float((ranks == 1).double().mean()))
    assert scores["recall@10"] == pytest.approx(float((ranks <= 10).double().mean()))
    mrr = torch.where(ranks <= 10, 1 / ranks, torch.zeros_like(ranks)).mean()
    assert scores["mrr@10"] == pytest.approx(float(mrr))
    # the saved per-query ranks are these ranks (0 beyond the top 10) and give the same means
    assert scores["ranks"] == [int(r) if r <= 10 else 0 for r in ranks.tolist()]
    per_query = rf.scores_from_ranks(scores["ranks"])
    for key in ("mrr@10", "recall@1"):
        assert sum(per_query[key]) / len(ranks) == pytest.approx(scores[key], abs=1e-12)
    # int8 and binary, from the formulas: ranges from the evaluated texts (no calibration
    # given), 256 buckets shifted by -128, int8 inner product; sign bits, Hamming distance;
    # ranked by score, then document id, as the float32 path
    cal = torch.cat([q, d])
    lo, hi = cal.min(dim=0).values, cal.max(dim=0).values
    step = (hi - lo) / 255

    def int8(x):
        return (torch.floor((x - lo) / step).clamp(0, 255) - 128).double()

    quantized = {
        "int8": int8(q) @ int8(d).T,
        "binary": -((q > 0)[:, None, :] != (d > 0)[None, :, :]).sum(-1).double(),
    }
    for precision, s_QC in quantized.items():
        want = []
        for i, qid in enumerate(task.queries):
            order = sorted(range(len(docs)), key=lambda c: (-float(s_QC[i, c]), docs[c]))
            rank = order.index(docs.index(next(iter(task.relevant[qid])))) + 1
            want.append(rank if rank <= 10 else 0)
        got = scores[precision]
        assert got["ranks"] == want, precision
        assert got["mrr@10"] == pytest.approx(sum(1 / r for r in want if r) / len(want))
        assert got["recall@1"] == pytest.approx(want.count(1) / len(want))
        assert got["recall@10"] == pytest.approx(sum(r > 0 for r in want) / len(want))
    assert scores["int8"]["calibration"] == "the evaluated texts"
    # the lens negatives split by lexicographer file, against the (N, N) matrix
    examples, definitions = wordnet.lens_pairs(synsets)
    lex = torch.tensor([s.lex_filenum for s in wordnet.lens_synsets(synsets)])
    a = model.encode(examples, convert_to_tensor=True, normalize_embeddings=True).double()
    p = model.encode(definitions, convert_to_tensor=True, normalize_embeddings=True).double()
    same = (lex[:, None] == lex[None, :]) & ~torch.eye(len(lex), dtype=torch.bool)
    by = scores["lens"]["by_label"]
    assert by["label"] == "lexicographer file" and by["same"]["count"] == int(same.sum()) > 0
    assert by["same"]["mean"] == pytest.approx(float((a @ p.T)[same].mean()), abs=1e-5)
    assert by["different"]["var"] == pytest.approx(
        float((a @ p.T)[~same & ~torch.eye(len(lex), dtype=torch.bool)].var(unbiased=False)),
        abs=1e-5,
    )
