"""Closed forms, invariants and numerics of the losses on tiny seeded fixtures (docs/theory.md,
"The loss family" and "VRN"; Def 5.7). Shape legend: B rows, D dimension.
"""

from __future__ import annotations

import math

import pytest
import reference as ref
import torch
import torch.nn.functional as F

from contrastlens import losses

pytestmark = pytest.mark.usefixtures("one_thread")


def _views(B=6, D=5, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(B, D, dtype=dtype, generator=g)
    return z1, z1 + 0.5 * torch.randn(B, D, dtype=dtype, generator=g)


ALL = {
    "infonce": lambda a, b: losses.infonce_loss(a, b, temperature=0.2),
    "simclr": lambda a, b: losses.simclr_loss(a, b, temperature=0.2),
    "dcl": lambda a, b: losses.dcl_loss(a, b, temperature=0.2),
    "dhel": lambda a, b: losses.dhel_loss(a, b, temperature=0.2),
    "siglip": lambda a, b: losses.sigmoid_loss(a, b, t=10.0, b=10.0),
    "spectral": lambda a, b: losses.spectral_loss(a, b, within_view=True),
    "vrn": lambda a, b: losses.vrn_loss(a, b, n=100, within_view=True),
}


@pytest.mark.parametrize("B", [2, 5, 8])
def test_collapse_closed_forms(B):
    """All embeddings equal: SimCLR log(2B-1), InfoNCE log B, DCL log(2B-2), DHEL log(B-1)."""
    z = torch.ones(B, 3, dtype=torch.float64)
    for t in (0.05, 1.0):
        assert losses.simclr_loss(z, z, temperature=t).item() == pytest.approx(math.log(2 * B - 1))
        assert losses.infonce_loss(z, z, temperature=t).item() == pytest.approx(math.log(B))
        assert losses.dcl_loss(z, z, temperature=t).item() == pytest.approx(math.log(2 * B - 2))
        assert losses.dhel_loss(z, z, temperature=t).item() == pytest.approx(math.log(B - 1))


@pytest.mark.parametrize("B, D", [(4, 3), (7, 6), (8, 20)])
def test_simplex_gives_vrn_zero(B, D):
    """u_i = v_i forming a regular simplex (D >= B-1): every negative is -1/(B-1), VRN(n=B) = 0."""
    u = ref.simplex_etf(B, D)
    s = u @ u.T
    assert torch.allclose(s[~torch.eye(B, dtype=torch.bool)], torch.tensor(-1.0 / (B - 1)).double())
    assert losses.vrn_loss(u, u, n=B).item() == pytest.approx(0.0, abs=1e-12)
    assert losses.vrn_loss(u, u, n=B, within_view=True).item() == pytest.approx(0.0, abs=1e-12)
    assert losses.vrn_loss(u, u, n=10 * B).item() > 1e-4
    stats = losses.similarity_stats(u, u)
    assert stats["pos_mean"].item() == pytest.approx(1.0)
    assert stats["neg_mean"].item() == pytest.approx(-1.0 / (B - 1))
    assert stats["neg_var"].item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", list(ALL))
def test_symmetric_in_views_and_invariant_to_scale_and_order(name):
    z1, z2 = _views()
    value = ALL[name](z1, z2)
    torch.testing.assert_close(ALL[name](z2, z1), value, rtol=1e-12, atol=1e-12)
    scale = torch.rand(6, 1, dtype=torch.float64) + 0.5  # normalization happens inside
    torch.testing.assert_close(ALL[name](z1 * scale, z2 * 3), value, rtol=1e-12, atol=1e-12)
    perm = torch.randperm(6)
    torch.testing.assert_close(ALL[name](z1[perm], z2[perm]), value, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", list(ALL))
def test_half_precision_computes_in_float32(name, dtype):
    z1, z2 = _views(dtype=torch.float32)
    x1, x2 = z1.to(dtype).requires_grad_(), z2.to(dtype).requires_grad_()
    value = ALL[name](x1, x2)
    assert value.dtype == torch.float32 and torch.isfinite(value)
    expected = ALL[name](x1.detach().float(), x2.detach().float())
    torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-6)
    value.backward()
    assert x1.grad.dtype == dtype and torch.isfinite(x1.grad.float()).all()


def test_large_similarity_over_temperature_does_not_overflow():
    z1, z2 = _views(dtype=torch.float32)
    z1.requires_grad_()
    for value in (
        losses.simclr_loss(z1, z2, temperature=1e-4),
        losses.dcl_loss(z1, z2, temperature=1e-4),
        losses.dhel_loss(z1, z2, temperature=1e-4),
        losses.infonce_loss(z1, z2, temperature=1e-4),
        losses.sigmoid_loss(z1, z2, t=1e5, b=-1e4),
        losses.moco_loss(z1, z2, torch.randn(9, 5), temperature=1e-4),
    ):
        (grad,) = torch.autograd.grad(value, z1)
        assert torch.isfinite(value) and torch.isfinite(grad).all()
    # the value itself: float64 logsumexp of the same (float32) similarities; float32 rounding
    # of s (~1e-7) is amplified by 1/t = 1e4
    u, v = F.normalize(z1.detach(), dim=1).double(), F.normalize(z2, dim=1).double()
    s = u @ v.T / 1e-4
    expected = 0.5 * (s.logsumexp(1) + s.logsumexp(0)).mean() - s.diag().mean()
    value = losses.infonce_loss(z1.detach(), z2, temperature=1e-4)
    assert value.item() == pytest.approx(expected.item(), abs=5e-3)


def test_simclr_equals_lightly_ntxent():
    lightly_loss = pytest.importorskip("lightly.loss")
    z1, z2 = _views(B=9, D=16)
    for t in (0.1, 0.5):
        expected = lightly_loss.NTXentLoss(temperature=t)(z1, z2)
        assert losses.simclr_loss(z1, z2, temperature=t).item() == pytest.approx(expected.item())


def test_simclr_equals_mean_cross_entropy_over_2b_anchors():
    z1, z2 = _views(B=5)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T / 0.3).fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(5, 10), torch.arange(5)])
    expected = F.cross_entropy(logits, target)
    assert losses.simclr_loss(z1, z2, temperature=0.3).item() == pytest.approx(expected.item())


def test_dhel_authors_code_relation():
    """The DHEL authors' code adds the two log-denominators: L_code = 2 L_paper + mean(s_ii)/t."""
    z1, z2 = _views()
    t = 0.3
    u, v = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    eye = torch.eye(6, dtype=torch.bool)
    lse_u = torch.logsumexp((u @ u.T / t).masked_fill(eye, float("-inf")), dim=1)
    lse_v = torch.logsumexp((v @ v.T / t).masked_fill(eye, float("-inf")), dim=1)
    pos = (u * v).sum(1) / t
    authors = (-pos + lse_u + lse_v).mean()
    paper = losses.dhel_loss(z1, z2, temperature=t)
    assert authors.item() == pytest.approx((2 * paper + pos.mean()).item())


def test_siglip_matches_open_clip_convention():
    """open_clip: logits = exp(logit_scale) s + logit_bias, loss = -sum logsigmoid(labels *
    logits) / B with labels 2I - 1. Ours: t = exp(logit_scale), b = -logit_bias."""
    z1, z2 = _views(B=7)
    logit_scale, logit_bias = math.log(10.0), -10.0
    u, v = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    logits = math.exp(logit_scale) * u @ v.T + logit_bias
    labels = 2 * torch.eye(7, dtype=torch.float64) - 1
    open_clip = -F.logsigmoid(labels * logits).sum() / 7
    ours = losses.sigmoid_loss(z1, z2, t=math.exp(logit_scale), b=-logit_bias)
    assert ours.item() == pytest.approx(open_clip.item())


def test_duplicate_ids_remove_negatives_only():
    """With ids that are all distinct the loss is unchanged; a duplicate pair is not a negative."""
    z1, z2 = _views()
    base = losses.simclr_loss(z1, z2, temperature=0.2)
    distinct = losses.simclr_loss(z1, z2, temperature=0.2, ids=torch.arange(6) * 7)
    torch.testing.assert_close(distinct, base)
    dup = losses.simclr_loss(z1, z2, temperature=0.2, ids=torch.tensor([0, 1, 2, 3, 4, 4]))
    assert dup.item() < base.item()


def test_loss_falls_under_gradient_descent():
    z1, z2 = _views(B=8, D=8)
    z1.requires_grad_()
    z2.requires_grad_()
    opt = torch.optim.SGD([z1, z2], lr=0.5)
    objective = losses.build_objective("simclr", vrn_weight=1.0, vrn_n=8)
    first = None
    for _ in range(20):
        terms = objective(z1, z2)
        first = terms["loss"].item() if first is None else first
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    assert terms["loss"].item() < first - 0.1


def test_fused_logsumexp_supports_retain_graph():
    z1, z2 = _views()
    z1.requires_grad_()
    value = losses.simclr_loss(z1, z2, temperature=0.2)
    (first,) = torch.autograd.grad(value, z1, retain_graph=True)
    (second,) = torch.autograd.grad(value, z1)
    assert torch.equal(first, second)
