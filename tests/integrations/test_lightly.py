"""contrastlens.integrations.lightly against the real lightly: VRNRegularizer beside NTXentLoss in
a real training step, and our alignment/uniformity against lightly's HypersphereLoss.

Shape legend: B images, D projection dimension.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("lightly")

from lightly.loss import NTXentLoss  # noqa: E402
from lightly.loss.hypersphere_loss import HypersphereLoss  # noqa: E402
from lightly.models.modules import SimCLRProjectionHead  # noqa: E402

from contrastlens.integrations.lightly import VRNRegularizer  # noqa: E402
from contrastlens.losses import simclr_loss, vrn_loss  # noqa: E402
from contrastlens.similarity import alignment, uniformity  # noqa: E402


def _views(B=8, D=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    out0 = torch.randn(B, D, generator=g)
    return out0, out0 + 0.5 * torch.randn(B, D, generator=g)


def test_value_is_the_weighted_vrn_term():
    out0, out1 = _views()
    reg = VRNRegularizer(n=50_000, weight=30.0)
    torch.testing.assert_close(reg(out0, out1), 30.0 * vrn_loss(out0, out1, n=50_000))
    # the definition, by hand: out0_i against out1_j, i != j, target -1/(n-1)
    u, v = torch.nn.functional.normalize(out0, dim=1), torch.nn.functional.normalize(out1, dim=1)
    s = u @ v.T
    neg = s[~torch.eye(8, dtype=torch.bool)]
    torch.testing.assert_close(reg(out0, out1), 30.0 * ((neg + 1 / 49_999) ** 2).mean())
    within = VRNRegularizer(delta=0.0, within_view=True)(out0, out1)
    torch.testing.assert_close(within, vrn_loss(out0, out1, delta=0.0, within_view=True))
    assert "delta=-2.00004e-05, weight=30.0" in repr(reg)
    with pytest.raises(ValueError, match="n, delta"):
        VRNRegularizer()


def test_beside_ntxent_in_a_training_step():
    """The README snippet: lightly's projection head and NTXentLoss, plus the regularizer."""
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 32))
    head = SimCLRProjectionHead(input_dim=32, hidden_dim=32, output_dim=16)
    model = torch.nn.Sequential(backbone, head)
    criterion = NTXentLoss(temperature=0.5)
    vrn = VRNRegularizer(n=50_000, weight=30.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    x0 = torch.randn(8, 3, 8, 8)
    x1 = x0 + 0.1 * torch.randn(8, 3, 8, 8)
    out0, out1 = model(x0), model(x1)
    ntxent = criterion(out0, out1)
    loss = ntxent + vrn(out0, out1)
    # lightly's NT-Xent is our SimCLR loss at the same temperature
    torch.testing.assert_close(ntxent, simclr_loss(out0, out1, temperature=0.5))

    optimizer.zero_grad()
    loss.backward()
    grad_with_vrn = [p.grad.clone() for p in model.parameters()]
    optimizer.zero_grad()
    criterion(model(x0), model(x1)).backward()
    grad_without = [p.grad.clone() for p in model.parameters()]
    # the regularizer carries a gradient (lightly's CO2Regularizer returns a constant)
    assert any(not torch.allclose(a, b) for a, b in zip(grad_with_vrn, grad_without))
    before = vrn(model(x0), model(x1)).item()
    for _ in range(20):
        optimizer.zero_grad()
        vrn(model(x0), model(x1)).backward()
        optimizer.step()
    assert vrn(model(x0), model(x1)).item() < before


@pytest.mark.parametrize("t, alpha", [(2.0, 2.0), (1.0, 1.0), (5.0, 3.0)])
def test_alignment_uniformity_equal_lightly_hypersphere_loss(t, alpha):
    """HypersphereLoss = alignment + lam * (uniformity(z0) + uniformity(z1)) / 2 (Wang & Isola)."""
    out0, out1 = (z.double() for z in _views(B=9, D=5, seed=3))
    theirs = HypersphereLoss(t=t, lam=0.7, alpha=alpha)(out0, out1)
    ours = (
        alignment(out0, out1, alpha=alpha)
        + 0.7 * (uniformity(out0, t=t) + uniformity(out1, t=t)) / 2
    )
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)
