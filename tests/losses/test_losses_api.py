"""Input validation, the modules, the Queue and the `build_objective` contract.
Shape legend: B rows, D dimension, K queue length.
"""

from __future__ import annotations

import math

import pytest
import torch

from contrastlens import losses

pytestmark = pytest.mark.usefixtures("one_thread")


def _views(B=6, D=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, D, generator=g), torch.randn(B, D, generator=g)


Z1, Z2 = _views()
NAN = Z1.clone()
NAN[0, 0] = float("nan")
INF = Z1.clone()
INF[1, 1] = float("inf")
SIMCLR = losses.simclr_loss
BAD_INPUTS = [
    (lambda: SIMCLR(Z1, Z2[:, :3], temperature=0.2), "z1 and z2"),
    (lambda: SIMCLR(Z1[:5], Z2, temperature=0.2), "z1 and z2"),
    (lambda: SIMCLR(Z1[0], Z2[0], temperature=0.2), "z1 must be 2-D"),
    (lambda: SIMCLR(Z1[:1], Z2[:1], temperature=0.2), "B >= 2"),
    (lambda: losses.vrn_loss(Z1[:1], Z2[:1], n=10), "B >= 2"),
    (lambda: SIMCLR(NAN, Z2, temperature=0.2), "z1 contains NaN or Inf"),
    (lambda: losses.sigmoid_loss(Z1, INF, t=1.0, b=0.0), "z2 contains NaN or Inf"),
    (lambda: SIMCLR(Z1, Z2, temperature=0.0), "temperature must be > 0"),
    (lambda: losses.infonce_loss(Z1, Z2, temperature=-1.0), "temperature must be > 0"),
    (lambda: losses.moco_loss(Z1, Z2, Z2, temperature=float("inf")), "temperature"),
    (lambda: losses.sigmoid_loss(Z1, Z2, t=0.0, b=0.0), "t must be > 0"),
    (lambda: losses.vrn_loss(Z1, Z2, n=1), "n must be > 1"),
    (lambda: losses.vrn_loss(Z1, Z2, n=10, delta=-0.1), "n, delta"),
    (lambda: losses.vrn_loss(Z1, Z2), "n, delta"),
    (lambda: losses.vrn_loss(Z1, Z2, n=10, p=0), "p must be > 0"),
    (lambda: SIMCLR(Z1, Z2, temperature=0.2, ids=torch.arange(5)), r"ids must have shape \(6,\)"),
    (lambda: losses.dcl_loss(Z1, Z2, temperature=0.2, ids=torch.zeros(6)), "ids"),
    (lambda: losses.moco_loss(Z1, Z2, torch.randn(8, 3), temperature=0.2), "queue has D = 3"),
    (lambda: losses.vrn_loss(Z1, Z2, n=10, queue=torch.randn(8, 5)), "queue has D = 5"),
    (lambda: losses.infonce_family(Z1, Z2, temperature=0.2, cross_view=False), "cross_view"),
    (lambda: losses.additive_loss(Z1, Z2, phi=abs, psi=abs, c1=0, c2=0), "c1, c2"),
    (lambda: losses.build_objective("byol"), "method must be one of"),
    (lambda: losses.build_objective("simclr", vrn_weight=1.0), "n, delta"),
    (lambda: losses.build_objective("simclr", vrn_weight=-1.0), "vrn_weight"),
    (lambda: losses.build_objective("dhel", within_view=False), "within_view"),
    (lambda: losses.build_objective("moco", within_view=True), "within_view"),
    (lambda: losses.build_objective("moco")(Z1, Z2), "queue is required"),
    (lambda: losses.build_objective("simclr")(Z1, Z2, queue=Z1), "queue is only used"),
]


@pytest.mark.parametrize("call, message", BAD_INPUTS)
def test_bad_input_raises_value_error_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_modules_equal_functions():
    ids = torch.tensor([0, 1, 2, 2, 3, 4])
    for module, fn in (
        (losses.InfoNCELoss(0.3), losses.infonce_loss),
        (losses.SimCLRLoss(0.3), losses.simclr_loss),
        (losses.DCLLoss(0.3), losses.dcl_loss),
        (losses.DHELLoss(0.3), losses.dhel_loss),
    ):
        assert torch.equal(module(Z1, Z2, ids), fn(Z1, Z2, temperature=0.3, ids=ids))
    assert torch.equal(
        losses.SigLIPLoss(5.0, 3.0)(Z1, Z2), losses.sigmoid_loss(Z1, Z2, t=5.0, b=3.0)
    )
    assert torch.equal(losses.SpectralLoss()(Z1, Z2), losses.spectral_loss(Z1, Z2))
    queue = torch.nn.functional.normalize(torch.randn(8, 4), dim=1)
    assert torch.equal(
        losses.MoCoLoss(0.2)(Z1, Z2, queue), losses.moco_loss(Z1, Z2, queue, temperature=0.2)
    )
    vrn = losses.VRN(n=100, weight=30.0)
    assert torch.equal(vrn(Z1, Z2, ids), 30.0 * losses.vrn_loss(Z1, Z2, n=100, ids=ids))


def test_siglip_module_learns_t_and_b():
    module = losses.SigLIPLoss()
    names = {name for name, _ in module.named_parameters()}
    assert names == {"log_t", "b"}
    assert module.t.item() == pytest.approx(10.0) and module.b.item() == pytest.approx(10.0)
    module(Z1, Z2).backward()
    assert module.log_t.grad is not None and module.b.grad is not None
    assert list(losses.SigLIPLoss(5.0, 1.0).parameters()) == []


@pytest.mark.parametrize("method", ["simclr", "infonce", "dcl", "dhel", "siglip", "spectral"])
def test_objective_terms_and_visible_sum(method):
    ids = torch.tensor([0, 1, 2, 3, 3, 5])
    objective = losses.build_objective(
        method, temperature=0.25, vrn_weight=30.0, vrn_n=1000, siglip_t=5.0, siglip_b=2.0
    )
    terms = objective(Z1, Z2, ids=ids)
    assert set(terms) == {method, "vrn", "loss"}
    torch.testing.assert_close(terms["loss"], terms[method] + 30.0 * terms["vrn"])
    torch.testing.assert_close(terms["vrn"], losses.vrn_loss(Z1, Z2, n=1000, ids=ids))
    standalone = {
        "simclr": lambda: losses.simclr_loss(Z1, Z2, temperature=0.25, ids=ids),
        "infonce": lambda: losses.infonce_loss(Z1, Z2, temperature=0.25, ids=ids),
        "dcl": lambda: losses.dcl_loss(Z1, Z2, temperature=0.25, ids=ids),
        "dhel": lambda: losses.dhel_loss(Z1, Z2, temperature=0.25, ids=ids),
        "siglip": lambda: losses.sigmoid_loss(Z1, Z2, t=5.0, b=2.0, ids=ids),
        "spectral": lambda: losses.spectral_loss(Z1, Z2, ids=ids),
    }[method]()
    torch.testing.assert_close(terms[method], standalone)
    plain = losses.build_objective(method, temperature=0.25, siglip_t=5.0, siglip_b=2.0)
    assert set(plain(Z1, Z2)) == {method, "loss"}


def test_objective_defaults_and_within_view_override():
    assert losses.build_objective("simclr").within_view is True
    assert losses.build_objective("infonce").within_view is False
    assert losses.build_objective("dhel").within_view is True
    simclr_without_within = losses.build_objective("simclr", within_view=False)(Z1, Z2)["simclr"]
    torch.testing.assert_close(simclr_without_within, losses.infonce_loss(Z1, Z2, temperature=0.2))
    siglip = losses.build_objective("siglip")
    assert {name for name, _ in siglip.named_parameters()} == {"siglip.log_t", "siglip.b"}


def test_objective_moco_with_queue_and_stats():
    queue = torch.nn.functional.normalize(torch.randn(16, 4), dim=1)
    objective = losses.build_objective("moco", temperature=0.2, vrn_weight=2.0, vrn_delta=-0.01)
    terms = objective(Z1, Z2, queue=queue, stats=True)
    assert set(terms) == {"moco", "vrn", "loss", "pos_mean", "neg_mean", "neg_var"}
    torch.testing.assert_close(terms["moco"], losses.moco_loss(Z1, Z2, queue, temperature=0.2))
    torch.testing.assert_close(terms["vrn"], losses.vrn_loss(Z1, Z2, delta=-0.01, queue=queue))
    torch.testing.assert_close(terms["loss"], terms["moco"] + 2.0 * terms["vrn"])


def test_objective_moco_vrn_on_query_views():
    # MoCo's VRN on the query encoder's two views (both with gradient), not on the keys
    queue = torch.nn.functional.normalize(torch.randn(16, 4), dim=1)
    q1, q2 = Z1.clone().requires_grad_(), Z2.clone().requires_grad_()
    keys = torch.randn_like(Z2)
    objective = losses.build_objective("moco", temperature=0.2, vrn_weight=2.0, vrn_delta=-0.01)
    terms = objective(q1, keys, queue=queue, vrn_views=(q1, q2))
    torch.testing.assert_close(terms["moco"], losses.moco_loss(q1, keys, queue, temperature=0.2))
    torch.testing.assert_close(terms["vrn"], losses.vrn_loss(q1, q2, delta=-0.01))
    terms["loss"].backward()
    assert q2.grad is not None and q2.grad.abs().sum() > 0  # VRN reaches the second view
    with pytest.raises(ValueError, match="vrn_views is only used by method 'moco'"):
        losses.build_objective("simclr", vrn_weight=1.0, vrn_n=10)(Z1, Z2, vrn_views=(Z1, Z2))


def test_similarity_stats_match_explicit_masked_statistics():
    ids = torch.tensor([0, 1, 1, 2, 3, 4])
    u = Z1 / Z1.norm(dim=1, keepdim=True)
    v = Z2 / Z2.norm(dim=1, keepdim=True)
    s = (u @ v.T).double()
    negative = ids[:, None] != ids[None, :]
    stats = losses.similarity_stats(Z1, Z2, ids=ids)
    assert stats["pos_mean"].item() == pytest.approx(s.diag().mean().item(), abs=1e-6)
    assert stats["neg_mean"].item() == pytest.approx(s[negative].mean().item(), abs=1e-6)
    var = s[negative].var(unbiased=False).item()
    assert stats["neg_var"].item() == pytest.approx(var, abs=1e-6)
    terms = losses.build_objective("simclr")(Z1, Z2, ids=ids, stats=True)
    assert all(not terms[k].requires_grad for k in ("pos_mean", "neg_mean", "neg_var"))
    assert terms["neg_var"].item() == pytest.approx(var, abs=1e-6)
    assert math.isfinite(terms["loss"].item())
