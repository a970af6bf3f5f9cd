"""`SimilarityAccumulator(...).update(z1, z2, labels=y).result().by_label` against a brute-force
n x n reference in float64: the cross-view negatives (u_i, v_j), i != j, split by y_i == y_j.

Legend: N instances, D dimension, B rows per update, L labels.
"""

import pytest
import torch
import torch.nn.functional as F

from contrastlens.similarity import LabelSplit, SimilarityAccumulator


def _views(N, D, seed):
    g = torch.Generator().manual_seed(seed)
    common_D = torch.randn(D, generator=g, dtype=torch.float64)
    u_ND = torch.randn(N, D, generator=g, dtype=torch.float64) + 0.5 * common_D
    v_ND = u_ND + 0.7 * torch.randn(N, D, generator=g, dtype=torch.float64)
    return u_ND, v_ND


def _brute(u_ND, v_ND, y_N):
    """Every ordered pair i != j of the (N, N) cosine matrix, masked by label equality."""
    u_ND, v_ND = F.normalize(u_ND, dim=1), F.normalize(v_ND, dim=1)
    N = u_ND.shape[0]
    s_NN = u_ND @ v_ND.T
    off_NN = ~torch.eye(N, dtype=torch.bool)
    same_NN = (y_N[:, None] == y_N[None, :]) & off_NN
    out = {}
    for part, mask_NN in (("same", same_NN), ("different", off_NN & ~same_NN)):
        x = s_NN[mask_NN]
        count = int(mask_NN.sum())
        out[part] = {
            "count": count,
            "mean": x.mean().item() if count else None,
            "var": x.var(unbiased=False).item() if count else None,
            "share": count / (N * (N - 1)),
        }
    return out


def _labels(kind, N, seed):
    g = torch.Generator().manual_seed(seed)
    if kind == "balanced":
        return torch.arange(N) % 5
    if kind == "unbalanced":  # one big class, small ones, and a label with a single member
        y = torch.randint(1, 4, (N,), generator=g)
        y[: N // 2] = 7
        y[N - 1] = 99
        return y[torch.randperm(N, generator=g)]
    if kind == "equal":
        return torch.full((N,), 3)
    if kind == "distinct":
        return torch.randperm(N, generator=g) * 10 - 7  # negative ids too
    raise ValueError(kind)


# D = 3: big classes pass D members and switch to Gram matrices; D = 40: classes keep their rows
@pytest.mark.parametrize("kind", ["balanced", "unbalanced", "equal", "distinct"])
@pytest.mark.parametrize("N,D,B", [(37, 3, 8), (41, 40, 5), (23, 6, 23)])
def test_label_split_equals_brute_force(kind, N, D, B):
    u_ND, v_ND = _views(N, D, seed=N + D)
    y_N = _labels(kind, N, seed=N)
    acc = SimilarityAccumulator()
    for start in range(0, N, B):  # uneven last batch
        acc.update(u_ND[start : start + B], v_ND[start : start + B], labels=y_N[start : start + B])
    got = acc.result()
    split = got.by_label.as_dict()
    ref = _brute(u_ND, v_ND, y_N)
    assert split["labels"] == len(set(y_N.tolist()))
    for part in ("same", "different"):
        assert split[part]["count"] == ref[part]["count"]
        assert split[part]["share"] == pytest.approx(ref[part]["share"], abs=1e-15)
        for key in ("mean", "var"):
            if ref[part][key] is None:
                assert split[part][key] is None
            else:
                assert abs(split[part][key] - ref[part][key]) < 1e-9, (part, key)
    assert split["same"]["share"] + split["different"]["share"] == pytest.approx(1.0)
    # the labels change nothing else
    plain = SimilarityAccumulator().update(u_ND, v_ND).result()
    assert plain.by_label is None and "by_label" not in plain.as_dict()
    assert got.neg_mean == pytest.approx(plain.neg_mean, abs=1e-12)


def test_counts_on_the_named_fixtures():
    u_ND, v_ND = _views(9, 4, seed=1)
    equal = SimilarityAccumulator().update(u_ND, v_ND, labels=torch.zeros(9, dtype=torch.long))
    s = equal.result().by_label
    assert s.same_count == 72 and s.same_share == 1.0
    assert s.different_count == 0 and s.different_mean is None and s.different_var is None
    distinct = SimilarityAccumulator().update(u_ND, v_ND, labels=torch.arange(9)).result()
    d = distinct.by_label
    assert d.same_count == 0 and d.same_mean is None and d.different_share == 1.0
    assert d.different_mean == pytest.approx(distinct.neg_mean, abs=1e-12)
    assert d.different_var == pytest.approx(distinct.neg_var, abs=1e-12)


def test_share_of_ten_balanced_classes_is_about_a_tenth():
    """Fashion-MNIST has 10 balanced classes: same-label pairs are (n/10 - 1)/(n - 1) of the
    negatives, ~0.1 (0.0999 for its 10,000 test images). Closed form, any embeddings."""
    N = 200
    u_ND, v_ND = _views(N, 5, seed=2)
    y_N = torch.arange(N) % 10
    s = SimilarityAccumulator().update(u_ND, v_ND, labels=y_N).result().by_label
    assert s.same_share == pytest.approx((N / 10 - 1) / (N - 1), abs=1e-15)
    assert abs(s.same_share - 0.1) < 0.005 and s.labels == 10
    assert s.same_count == 10 * 20 * 19


def test_same_label_pairs_closer_when_classes_cluster():
    """Embeddings clustered by class: same-label negatives are more similar than the others."""
    g = torch.Generator().manual_seed(3)
    y_N = torch.randint(0, 4, (120,), generator=g)
    centers_LD = torch.randn(4, 16, generator=g, dtype=torch.float64) * 3
    u_ND = centers_LD[y_N] + torch.randn(120, 16, generator=g, dtype=torch.float64)
    v_ND = centers_LD[y_N] + torch.randn(120, 16, generator=g, dtype=torch.float64)
    s = SimilarityAccumulator().update(u_ND, v_ND, labels=y_N).result().by_label
    assert s.same_mean > s.different_mean + 0.3


def test_merge_and_float32_and_devices_of_labels():
    u_ND, v_ND = _views(50, 7, seed=4)
    y_N = _labels("unbalanced", 50, seed=4)
    whole = SimilarityAccumulator().update(u_ND, v_ND, labels=y_N).result().by_label
    a = SimilarityAccumulator().update(u_ND[:13], v_ND[:13], labels=y_N[:13])
    b = SimilarityAccumulator().update(u_ND[13:], v_ND[13:], labels=y_N[13:].int())
    merged = a.merge(b).result().by_label
    for key in ("same_mean", "same_var", "different_mean", "different_var"):
        assert getattr(merged, key) == pytest.approx(getattr(whole, key), abs=1e-12)
    assert merged.same_count == whole.same_count
    # merging into an empty accumulator, and an unlabeled one with nothing in it
    empty = SimilarityAccumulator().merge(SimilarityAccumulator().update(u_ND, v_ND, labels=y_N))
    assert empty.result().by_label.same_count == whole.same_count
    f32 = SimilarityAccumulator().update(u_ND.float(), v_ND.float(), labels=y_N).result()
    assert f32.by_label.same_var == pytest.approx(whole.same_var, abs=1e-6)
    assert isinstance(whole, LabelSplit)


def test_bad_labels_are_named():
    u_ND, v_ND = _views(6, 3, seed=5)
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        SimilarityAccumulator().update(u_ND, v_ND, labels=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="shape"):
        SimilarityAccumulator().update(u_ND, v_ND, labels=[0, 1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="integer class ids"):
        SimilarityAccumulator().update(u_ND, v_ND, labels=torch.zeros(6))
    y = torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="to every update"):
        SimilarityAccumulator().update(u_ND[:3], v_ND[:3], labels=y).update(u_ND[3:], v_ND[3:])
    with pytest.raises(ValueError, match="to every update"):
        SimilarityAccumulator().update(u_ND[:3], v_ND[:3]).update(u_ND[3:], v_ND[3:], labels=y)
    labeled = SimilarityAccumulator().update(u_ND[:3], v_ND[:3], labels=y)
    with pytest.raises(ValueError, match="has labels and the other has none"):
        SimilarityAccumulator().update(u_ND[3:], v_ND[3:]).merge(labeled)
