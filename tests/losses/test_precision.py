"""Every public loss called inside torch.autocast (the usual mixed-precision loop) computes as
in float32 and backpropagates; bf16 embeddings are upcast. Without the guard, VRN's fused
backward met a bf16 Gram matrix next to float32 embeddings and raised a dtype error."""

import pytest
import torch

from contrastlens import losses

B, D, N = 8, 16, 100


def _calls():
    ids = torch.arange(B)
    state = torch.full((N,), float("-inf"))
    return {
        "simclr": lambda a, b: losses.simclr_loss(a, b, temperature=0.5),
        "infonce": lambda a, b: losses.infonce_loss(a, b, temperature=0.5),
        "dcl": lambda a, b: losses.dcl_loss(a, b, temperature=0.5),
        "dhel": lambda a, b: losses.dhel_loss(a, b, temperature=0.5),
        "siglip": lambda a, b: losses.sigmoid_loss(a, b, t=5.0, b=-2.0),
        "spectral": lambda a, b: losses.spectral_loss(a, b),
        "moco": lambda a, b: losses.moco_loss(a, b, b.detach().flip(0), temperature=0.2),
        "vrn": lambda a, b: losses.vrn_loss(a, b, n=N),
        "gor": lambda a, b: sum(losses.gor_loss(a, b).values()),
        "global": lambda a, b: losses.global_contrastive_loss(a, b, ids, state).loss,
        "ranking": lambda a, b: losses.ranking_loss(a[:, :B], ids) + 0 * b.sum(),  # a: the scores
    }


@pytest.mark.parametrize("name", sorted(_calls()))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_inside_autocast_as_in_float32(name, dtype):
    fn = _calls()[name]
    g = torch.Generator().manual_seed(0)
    z1, z2 = (torch.randn(B, D, generator=g).to(dtype) for _ in range(2))
    ref1, ref2 = (z.detach().float().requires_grad_() for z in (z1, z2))
    expected = fn(ref1, ref2)
    expected.backward()
    a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        value = fn(a, b)
    value.backward()  # outside autocast, as torch's AMP recipe does
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-6)
    assert a.grad.dtype == dtype
    torch.testing.assert_close(a.grad, ref1.grad.to(dtype), rtol=1e-6, atol=1e-6)
