import torch

from contrastlens.eval.probes import KNNProbe, LinearProbe


def _separable(n=400, d=16, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers_KD = torch.randn(k, d, generator=g) * 3
    y_N = torch.arange(n) % k
    return centers_KD[y_N] + 0.3 * torch.randn(n, d, generator=g), y_N


def test_probes_on_separable_features():
    X, y = _separable()
    X2, y2 = X[:200], y[:200]
    knn = KNNProbe(k=20, temperature=0.1).fit(X, y)
    assert knn.score(X2, y2) > 0.99
    lin = LinearProbe(epochs=30, batch_size=64).fit(X, y)
    assert lin.score(X2, y2) > 0.99
    s = lin.scores(X2, y2)
    assert s["top5"] == 1.0 and lin.coef_.shape == (4, 16) and lin.n_classes_ == 4


def test_held_out_generalization():
    g = torch.Generator().manual_seed(3)
    centers = torch.randn(5, 8, generator=g) * 3
    y, yt = torch.arange(500) % 5, torch.arange(250) % 5
    X = centers[y] + 0.3 * torch.randn(500, 8, generator=g)
    Xt = centers[yt] + 0.3 * torch.randn(250, 8, generator=g)
    assert KNNProbe(k=50).fit(X, y).score(Xt, yt) > 0.99
    assert LinearProbe(epochs=20, batch_size=50).fit(X, y).score(Xt, yt) > 0.99


def test_sklearn_contract():
    p = LinearProbe(epochs=3, lr=0.5)
    assert p.epochs == 3 and p.lr == 0.5 and not hasattr(p, "coef_")
    X, y = _separable(n=40)
    assert p.fit(X, y) is p
    assert KNNProbe(k=5).fit(X, y).predict(X).shape == (40,)


def test_knn_top1_at_several_k_equals_one_probe_per_k():
    g = torch.Generator().manual_seed(5)
    centers = torch.randn(4, 8, generator=g)
    y, yt = torch.arange(300) % 4, torch.arange(120) % 4
    X = centers[y] + 0.9 * torch.randn(300, 8, generator=g)  # overlapping: k matters
    Xt = centers[yt] + 0.9 * torch.randn(120, 8, generator=g)
    at = KNNProbe(k=200, chunk_size=50).fit(X, y).top1_at(Xt, yt, ks=(200, 10, 1))
    for k in (200, 10, 1):
        assert at[k] == KNNProbe(k=k).fit(X, y).score(Xt, yt), k
    assert len(set(at.values())) > 1  # the ks give different answers here
