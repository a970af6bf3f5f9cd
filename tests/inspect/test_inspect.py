"""`contrastlens.inspect(...)` end to end on small arrays: every section against a direct
computation over the n x n matrix (thresholds, retrieval at each precision, the batch table,
the label split), the one-view forms, the comparison, sampling, a run folder, and bad input.

Legend: N rows, D dimension.
"""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference import first_relevant_rank

import contrastlens
from contrastlens.inspect import Settings, from_embeddings
from contrastlens.similarity import expected_batch_variance

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(N=60, D=8, seed=0, labels=5):
    g = torch.Generator().manual_seed(seed)
    y_N = torch.randint(0, labels, (N,), generator=g)
    base_ND = 2 * torch.randn(labels, D, generator=g)[y_N] + torch.randn(N, D, generator=g) + 1
    E = base_ND + 0.7 * torch.randn(N, D, generator=g)
    P = base_ND + 0.7 * torch.randn(N, D, generator=g)
    return E, P, y_N


def _cos(a, b):
    return F.normalize(a.double(), dim=1) @ F.normalize(b.double(), dim=1).T


def _mrr(ranks):
    return float(np.mean([1 / r if 1 <= r <= 10 else 0.0 for r in ranks]))


def test_pairs_with_labels_against_the_matrix(tmp_path):
    E, P, y = _data()
    N = E.shape[0]
    r = contrastlens.inspect(
        E, positives=P, labels=y, out=tmp_path, batch_size=8, precisions=("float32",)
    )
    s_NN = _cos(E, P)
    off_NN = ~torch.eye(N, dtype=torch.bool)
    neg = s_NN[off_NN]
    assert r.lens.moments.neg_var == pytest.approx(float(neg.var(unbiased=False)), rel=1e-9)
    # thresholds: the best F1 over the bin edges, counting every pair
    best = r.thresholds.best
    tp = int((s_NN.diagonal() >= best.threshold).sum())
    fp = int((neg >= best.threshold).sum())
    assert r.thresholds.exact
    assert best.precision == pytest.approx(tp / (tp + fp)) and best.recall == pytest.approx(tp / N)
    # retrieval: every anchor against every positive, by sorting
    ranks = first_relevant_rank(s_NN.tolist(), torch.eye(N, dtype=torch.bool).tolist())
    (row,) = r.retrieval
    assert row.mrr_at_10 == pytest.approx(_mrr(ranks)) and r.retrieval_queries == N
    assert row.recall_at_1 == pytest.approx(np.mean([k == 1 for k in ranks]))
    # the batch table: 8, 16, 32, then all; the last row is the variance of all negatives
    assert [b.batch_size for b in r.batches] == [8, 16, 32, N]
    assert r.batches[-1].neg_var == pytest.approx(r.lens.moments.neg_var, rel=1e-9)
    assert r.batches[0].neg_var == expected_batch_variance(r.lens.pair_sums, 8)
    same = (y[:, None] == y[None, :]) & off_NN
    fn = r.batches[0].same_label
    assert fn.share == pytest.approx(float(same.sum()) / (N * (N - 1)))
    assert r.batches[0].duplicates is None and r.batches[0].false_negatives == fn
    # the files
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["rows"] == N and data["moments"]["by_label"]["labels"] == r.labels
    assert data["batches"][0]["batch_size"] == 8 and len(data["findings"]) == len(r.findings)
    md = (tmp_path / "report.md").read_text()
    for heading in (
        "## Findings",
        "## Against the theory",
        "## Same label vs different label",
        "## Batch size",
        "## Retrieval at lower precision",
        "## Thresholds",
    ):
        assert heading in md
    html = (tmp_path / "report.html").read_text()
    assert html.count("<table>") == md.count("\n|---|") == 7 and html.count("<img") == 2


def test_quantized_retrieval_against_numpy(tmp_path):
    """int8 and binary as sentence-transformers quantizes them, recomputed with numpy from the
    library's definition: per-dimension ranges of the corpus into 256 buckets (codes - 128,
    inner product); the sign bits (hamming distance)."""
    pytest.importorskip("sentence_transformers")
    E, P, _ = _data(N=50, D=16, seed=1)
    r = contrastlens.inspect(E, positives=P, batch_size=4)
    u = F.normalize(E, dim=1).numpy()
    v = F.normalize(P, dim=1).numpy()
    lo, hi = v.min(0), v.max(0)
    step = (hi - lo) / 255

    def codes(x):
        return np.clip(np.floor((x - lo) / step), 0, 255) - 128

    relevant = np.eye(50, dtype=bool).tolist()
    int8 = first_relevant_rank((codes(u) @ codes(v).T).tolist(), relevant)
    hamming = ((u > 0)[:, None, :] != (v > 0)[None, :, :]).sum(-1)
    binary = first_relevant_rank((-hamming).astype(float).tolist(), relevant)
    rows = {row.precision: row for row in r.retrieval}
    assert rows["int8"].mrr_at_10 == pytest.approx(_mrr(int8))
    assert rows["binary"].mrr_at_10 == pytest.approx(_mrr(binary))
    assert rows["binary"].bytes_per_vector == 2 and rows["int8"].bytes_per_vector == 16


def test_one_view_with_and_without_labels(tmp_path):
    E, _, y = _data(N=40, seed=2)
    r = contrastlens.inspect(E, labels=y, batch_size=4, precisions=("float32",))
    s_NN = _cos(E, E)
    off = ~torch.eye(40, dtype=torch.bool)
    same = (y[:, None] == y[None, :]) & off
    assert not r.lens.paired and r.thresholds.positives == int(same.sum())
    # retrieval: the nearest other row of the same label
    scores = s_NN.masked_fill(~off, -math.inf).tolist()
    ranks = first_relevant_rank(scores, same.tolist())
    assert r.retrieval[0].mrr_at_10 == pytest.approx(_mrr(ranks))
    bare = contrastlens.inspect(E, out=tmp_path, batch_size=4)
    assert bare.thresholds is None and bare.retrieval == () and bare.batches[0].same_label is None
    assert any("Thresholds: skipped" in n for n in bare.notes)
    assert (tmp_path / "report.html").is_file()


def test_compare_and_sampled_histograms(tmp_path):
    E, P, y = _data(N=80, seed=3)
    E2, P2, _ = _data(N=80, seed=4)
    r = contrastlens.inspect(
        E,
        positives=P,
        labels=y,
        compare=E2,
        compare_positives=P2,
        out=tmp_path,
        exact_pairs=100,
        sample_pairs=5000,
        precisions=("float32",),
    )
    assert r.compare is not None and r.compare.rows == 80
    h = r.histograms
    assert not h.exact and h.neg.total == h.sample_size and 4900 <= h.sample_size <= 5041
    assert not r.thresholds.exact and r.thresholds.negatives == 80 * 79
    assert any(f"{h.sample_size:,} random pairs" in n for n in r.notes)
    md = (tmp_path / "report.md").read_text()
    assert "| statistic | embeddings | embeddings |" in md  # one column per subject
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["compare"]["rows"] == 80


def test_run_folder(tmp_path):
    from train.helpers import tiny_config

    from contrastlens.train.loop import train

    train(tiny_config(epochs=1), tmp_path / "run")
    r = contrastlens.inspect(
        run=tmp_path / "run", out=tmp_path / "lens", limit=40, precisions=("float32",), batch_size=8
    )
    assert r.kind == "run" and r.rows == 40 and r.lens.dataset_size == 64 and r.labels
    assert r.source["checkpoint_step"] == 4 and (tmp_path / "lens" / "report.html").is_file()


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"batch_size": 100}, r"batch size 100 is outside \[2, 60\]"),
        ({"batch_size": 1}, "batch_size must be an integer >= 2"),
        ({"bogus": 1}, r"unknown setting\(s\) \['bogus'\]"),
        ({"precisions": ("int4",)}, "precisions must be among"),
        ({"model": "x"}, "exactly one input"),
        ({"pairs": "p.tsv"}, "pairs go with a model"),
        ({"compare": "x"}, "needs compare_positives"),
        ({"dataset_size": 1}, "dataset_size must be an integer >= 2"),
    ],
)
def test_bad_arguments(kwargs, match):
    E, P, _ = _data()
    with pytest.raises(ValueError, match=match):
        contrastlens.inspect(E, positives=P, **kwargs)


def test_settings_are_recorded():
    s = Settings(batch_size=4, seed=3)
    assert s.check() is s and s.as_dict()["seed"] == 3
    subject = from_embeddings(*_data(N=10)[:2])
    assert subject.z2_ND.shape == (10, 8)
