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
    correct = KNNProbe(k=200, chunk_size=50).fit(X, y).correct_at(Xt, yt, ks=(200, 10))
    for k in (200, 10):
        assert torch.equal(correct[k], KNNProbe(k=k).fit(X, y).predict(Xt) == yt), k


def test_linear_probe_equals_torch_sgd_with_autograd():
    # The closed-form SGD of LinearProbe against the obvious version: nn.Linear, cross-entropy,
    # torch.optim.SGD(momentum) and the same cosine lr per step, same init and same batches.
    X, y = _separable(n=300, d=12, k=3, seed=1)
    probe = LinearProbe(epochs=3, lr=0.1, batch_size=64, seed=5).fit(X, y)

    Xn = torch.nn.functional.normalize(X, dim=1)
    g = torch.Generator().manual_seed(5)
    W = torch.nn.Parameter(torch.randn(3, 12, generator=g) * 0.01)
    b = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.SGD([W, b], lr=0.1, momentum=0.9)
    steps, step = 3 * 5, 0  # ceil(300 / 64) = 5 steps per epoch
    for _ in range(3):
        perm = torch.randperm(300, generator=g)
        for start in range(0, 300, 64):
            idx = perm[start : start + 64]
            for group in opt.param_groups:
                group["lr"] = 0.1 * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * step / steps)))
            opt.zero_grad()
            torch.nn.functional.cross_entropy(Xn[idx] @ W.T + b, y[idx]).backward()
            opt.step()
            step += 1
    torch.testing.assert_close(probe.coef_, W.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(probe.intercept_, b.detach(), rtol=1e-5, atol=1e-6)


def test_knn_in_bf16_agrees_with_float32():
    X, y = _separable(n=600, d=32, k=5, seed=2)
    Xt, yt = _separable(n=200, d=32, k=5, seed=3)
    fp32 = KNNProbe(k=20).fit(X, y).decision_function(Xt)
    bf16 = KNNProbe(k=20, compute_dtype=torch.bfloat16).fit(X, y).decision_function(Xt)
    assert (fp32.argmax(1) == bf16.argmax(1)).float().mean() > 0.98
    assert KNNProbe(k=20, compute_dtype=torch.bfloat16).fit(X, y).X_.dtype == torch.bfloat16


def test_probes_refuse_negative_labels():
    # -1 marks an unlabeled image (STL-10): a probe fitted on it crashed deep inside (kNN's
    # scatter_add_, the linear probe's one_hot) or would score it as always wrong
    import pytest

    X, y = _separable(n=40)
    unlabeled = y.clone()
    unlabeled[-5:] = -1
    for probe in (KNNProbe(k=5), LinearProbe(epochs=1)):
        with pytest.raises(ValueError, match="5 of 40 labels are negative .* labeled split"):
            probe.fit(X, unlabeled)
        probe.fit(X, y)
        with pytest.raises(ValueError, match="labels are negative"):
            probe.scores(X, unlabeled)
    with pytest.raises(ValueError, match="labels are negative"):
        KNNProbe(k=5).fit(X, y).top1_at(X, unlabeled, ks=(1, 5))
