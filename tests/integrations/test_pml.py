"""contrastlens.integrations.pml against the real pytorch-metric-learning: label-aware negatives,
inside SelfSupervisedLoss (both modes) and MultipleLosses, a real optimizer step.

Shape legend: B rows, D dimension.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("pytorch_metric_learning")

from pytorch_metric_learning.distances import LpDistance  # noqa: E402
from pytorch_metric_learning.losses import MultipleLosses, NTXentLoss  # noqa: E402
from pytorch_metric_learning.regularizers import LpRegularizer  # noqa: E402

from contrastlens.integrations.pml import SelfSupervisedLoss, VRNLoss  # noqa: E402
from contrastlens.losses import vrn_loss  # noqa: E402


def _reference(emb, ref, labels, ref_labels, delta):
    """The definition: mean over (i, j) with labels[i] != ref_labels[j] of (cos - delta)^2."""
    u = torch.nn.functional.normalize(emb.double(), dim=1)
    v = torch.nn.functional.normalize(ref.double(), dim=1)
    terms = [
        (u[i] @ v[j] - delta) ** 2
        for i in range(len(u))
        for j in range(len(v))
        if labels[i] != ref_labels[j]
    ]
    return sum(terms) / len(terms)


def _embeddings(B=9, D=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, D, generator=g, dtype=torch.float64)


def test_negatives_are_the_different_label_pairs():
    emb = _embeddings()
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 0])
    got = VRNLoss(n=1000)(emb, labels)
    torch.testing.assert_close(got, _reference(emb, emb, labels, labels, -1 / 999))
    # with ref_emb (row-aligned, same labels): rows of emb against rows of ref
    ref = _embeddings(seed=1)
    got = VRNLoss(delta=0.1)(emb, labels, ref_emb=ref, ref_labels=labels.clone())
    torch.testing.assert_close(got, _reference(emb, ref, labels, labels, 0.1))
    # one class only: no negatives, pytorch-metric-learning's zero loss (still differentiable)
    zero = VRNLoss(n=1000)(emb.requires_grad_(), torch.zeros(9, dtype=torch.long))
    assert float(zero.detach()) == 0.0 and zero.requires_grad


def test_inside_self_supervised_loss():
    z1, z2 = _embeddings(B=7, seed=2), _embeddings(B=7, seed=3)
    ids = torch.arange(7)
    # symmetric=False: exactly the paper's cross-view VRN
    asym = SelfSupervisedLoss(VRNLoss(n=1000), symmetric=False)(z1, z2)
    torch.testing.assert_close(asym, vrn_loss(z1, z2, n=1000))
    # symmetric=True (the default): every pair of different rows of the stacked 2B rows
    sym = SelfSupervisedLoss(VRNLoss(n=1000))(z1, z2)
    stacked, both = torch.cat([z1, z2]), torch.cat([ids, ids])
    torch.testing.assert_close(sym, _reference(stacked, stacked, both, both, -1 / 999))
    # the wrapper still guards pytorch-metric-learning's own list
    with pytest.raises(Exception, match="not supported"):
        SelfSupervisedLoss(torch.nn.MSELoss())


def test_inside_multiple_losses_with_a_regularizer_and_a_step():
    torch.manual_seed(0)
    model = torch.nn.Linear(10, 6)
    x, labels = torch.randn(12, 10), torch.arange(12) % 4
    vrn = VRNLoss(n=500, embedding_regularizer=LpRegularizer(), embedding_reg_weight=0.1)
    loss_fn = MultipleLosses([NTXentLoss(temperature=0.1), vrn], weights=[1.0, 30.0])
    emb = model(x)
    total = loss_fn(emb, labels)
    want = (
        NTXentLoss(temperature=0.1)(emb, labels)
        + 30.0 * vrn_loss(emb, emb, n=500, ids=labels)
        + 30.0 * 0.1 * emb.norm(dim=1).mean()  # LpRegularizer: mean L2 norm of the rows
    )
    torch.testing.assert_close(total, want)
    before = VRNLoss(n=500)(model(x), labels).item()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(10):
        optimizer.zero_grad()
        VRNLoss(n=500)(model(x), labels).backward()
        optimizer.step()
    assert VRNLoss(n=500)(model(x), labels).item() < before


def test_rejections():
    emb, labels = _embeddings(), torch.arange(9) % 3
    with pytest.raises(ValueError, match="indices_tuple"):
        VRNLoss(n=100)(emb, labels, indices_tuple=(torch.tensor([0]),) * 3)
    with pytest.raises(ValueError, match="row-aligned"):
        VRNLoss(n=100)(emb, labels, ref_emb=emb[:4], ref_labels=labels[:4])
    with pytest.raises(ValueError, match="n, delta"):
        VRNLoss()
    with pytest.raises(AssertionError):
        VRNLoss(n=100, distance=LpDistance())
