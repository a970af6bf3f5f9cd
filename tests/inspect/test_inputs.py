"""What `contrastlens inspect` reads: pairs files, arrays, labels, duplicates, and the one-line
errors for bad input (each names the file, the row or column, and the fix).

Legend: N rows, D dimension.
"""

import json

import numpy as np
import pytest
import torch

from contrastlens.inspect.inputs import (
    from_embeddings,
    label_ids,
    load_model,
    read_pairs,
)


def _write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_pairs_files_in_three_formats(tmp_path):
    tsv = _write(
        tmp_path / "p.tsv", "Anchor\tpositive\tgroup\na dog\tthe dog\tx\ncat\tthe cat\t7\n"
    )
    csv_ = _write(tmp_path / "p.csv", 'positive,anchor\n"the dog, brown",a dog\nthe cat,cat\n')
    jsonl = _write(
        tmp_path / "p.jsonl",
        '{"anchor": "a dog", "positive": "the dog", "label": 1}\n\n'
        '{"anchor": "cat", "positive": "the cat", "label": "x"}\n',
    )
    p = read_pairs(tsv)
    assert (p.anchors, p.positives, p.labels) == (
        ["a dog", "cat"],
        ["the dog", "the cat"],
        ["x", "7"],
    )
    assert p.label_column == "group"
    p = read_pairs(csv_)
    assert p.anchors == ["a dog", "cat"] and p.positives[0] == "the dog, brown" and p.labels is None
    p = read_pairs(jsonl)
    assert p.labels == ["1", "x"] and p.label_column == "label"


@pytest.mark.parametrize(
    "name,text,match",
    [
        ("e.tsv", "", "is empty"),
        ("e.tsv", "anchor\tpositive\n", "0 pair"),
        ("m.tsv", "query\tdoc\na\tb\nc\td\n", "needs anchor and positive"),
        ("m.jsonl", '{"anchor": "a"}\n{"anchor": "b"}\n', "needs anchor and positive"),
        ("f.tsv", "anchor\tpositive\na\tb\tc\nd\te\n", "line 2 has 3 fields"),
        ("b.tsv", "anchor\tpositive\na\t \nc\td\n", "line 2: the positive is empty"),
        ("l.tsv", "anchor\tpositive\tlabel\na\tb\t\nc\td\t1\n", "line 2: empty label"),
        ("j.jsonl", '{"anchor": "a", "positive": "b"}\nnot json\n', "line 2 is not valid JSON"),
        ("k.jsonl", '["a", "b"]\n', "not a JSON object"),
        ("x.txt", "anchor\tpositive\n", "must end in .tsv, .csv or .jsonl"),
    ],
)
def test_bad_pairs_files_name_the_problem(tmp_path, name, text, match):
    with pytest.raises(ValueError, match=match) as info:
        read_pairs(_write(tmp_path / name, text))
    assert "\n" not in str(info.value)


def test_binary_and_missing_pairs_files(tmp_path):
    (tmp_path / "bin.tsv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="not UTF-8"):
        read_pairs(tmp_path / "bin.tsv")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_pairs(tmp_path / "nope.tsv")


def test_arrays_labels_and_duplicates(tmp_path):
    g = np.random.default_rng(0)
    E = g.normal(size=(6, 3)).astype(np.float32)
    E[4] = E[1]  # an identical row: a duplicate
    P = g.normal(size=(6, 3)).astype(np.float32)
    P[5] = P[0]
    np.save(tmp_path / "E.npy", E)
    torch.save(torch.from_numpy(P), tmp_path / "P.pt")
    np.save(tmp_path / "L.npy", np.array(["b", "a", "b", "c", "a", "b"]))
    s = from_embeddings(tmp_path / "E.npy", tmp_path / "P.pt", tmp_path / "L.npy")
    assert s.name == "E" and s.z1_ND.dtype == torch.float32 and s.z2_ND.shape == (6, 3)
    assert s.labels_N.tolist() == [1, 0, 1, 2, 0, 1] and s.label_names == ("a", "b", "c")
    d = s.duplicates_N.tolist()
    assert d[1] == d[4] and d[0] == d[5] and len(set(d)) == 4
    ids, names = label_ids(np.array([3.0, 1.0, 3.0]), "y")
    assert ids.tolist() == [1, 0, 1] and names == ("1", "3")


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda E, P: (E, P[:5]), "has 6 rows but .* has 5"),
        (lambda E, P: (E, P[:, :2]), "dimension 3 but .* has 2"),
        (
            lambda E, P: (np.where(np.arange(6)[:, None] == 2, np.nan, E), P),
            "NaN or Inf in 1 row.*row 2",
        ),
        (lambda E, P: (np.where(np.arange(6)[:, None] == 4, 0.0, E), P), "all-zero row.*row 4"),
        (lambda E, P: (E[:1], None), "at least 2 rows"),
        (lambda E, P: (E[0], None), "must be 2-D"),
        (lambda E, P: (E.astype(complex), None), "real numbers"),
    ],
)
def test_bad_arrays_name_the_problem(tmp_path, make, match):
    g = np.random.default_rng(1)
    E, P = make(g.normal(size=(6, 3)), g.normal(size=(6, 3)))
    np.save(tmp_path / "E.npy", E)
    positives = None
    if P is not None:
        np.save(tmp_path / "P.npy", P)
        positives = tmp_path / "P.npy"
    with pytest.raises(ValueError, match=match):
        from_embeddings(tmp_path / "E.npy", positives)


def test_bad_files_and_labels(tmp_path):
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        from_embeddings(tmp_path / "empty.npy")
    (tmp_path / "junk.npy").write_bytes(b"not an array at all")
    with pytest.raises(ValueError, match="could not be read"):
        from_embeddings(tmp_path / "junk.npy")
    torch.save({"a": 1}, tmp_path / "d.pt")
    with pytest.raises(ValueError, match="holds a dict, not a tensor"):
        from_embeddings(tmp_path / "d.pt")
    with pytest.raises(FileNotFoundError, match="no such file"):
        from_embeddings(tmp_path / "missing.npy")
    E = np.ones((4, 2)) + np.eye(4, 2)
    with pytest.raises(ValueError, match="3 labels but .* has 4 rows"):
        from_embeddings(E, labels=np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="non-integer"):
        from_embeddings(E, labels=np.array([0.5, 1, 2, 3]))


def test_model_paths_that_do_not_load(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder.*minilm"):
        load_model(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        load_model(tmp_path / "file")
    pytest.importorskip("sentence_transformers")
    bad = tmp_path / "bad-model"
    bad.mkdir()
    (bad / "modules.json").write_text(
        json.dumps([{"idx": 0, "name": "0", "path": "", "type": "nope.Module"}])
    )
    with pytest.raises(ValueError, match="did not load as a sentence-transformers model") as info:
        load_model(bad)
    assert "\n" not in str(info.value)
