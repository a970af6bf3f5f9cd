"""Every loss against its slow per-anchor loop in tests/reference.py: value and gradient of
both inputs, float64 to 1e-10 and float32 to 1e-5, odd batch sizes, D in {2, 7, 128},
temperatures {0.05, 0.2, 1, 5}, with and without duplicate instance ids.

Shape legend: B rows, D dimension, K queue length.
"""

from __future__ import annotations

import pytest
import reference as ref
import torch

from contrastlens import losses

pytestmark = pytest.mark.usefixtures("one_thread")


# (B, D, temperature, duplicate ids): every B odd, every D and temperature at least once,
# each with and without duplicates across the two dtypes.
CASES = [
    (5, 2, 0.05, False),
    (7, 7, 0.2, True),
    (3, 128, 1.0, False),
    (5, 128, 5.0, True),
    (7, 2, 1.0, True),
    (5, 7, 5.0, False),
    (3, 2, 0.2, False),
    (5, 128, 0.05, True),
]


def _ids(B: int, duplicates: bool) -> torch.Tensor | None:
    if not duplicates:
        return None
    return torch.arange(B) // 2  # rows (0, 1), (2, 3), ... share an instance id


def _infonce(cross, within, decoupled):
    def fast(z1, z2, t, ids, queue):
        return losses.infonce_family(
            z1,
            z2,
            temperature=t,
            cross_view=cross,
            within_view=within,
            decoupled=decoupled,
            ids=ids,
        )

    def slow(z1, z2, t, ids, queue):
        return ref.infonce_family(
            z1,
            z2,
            temperature=t,
            cross_view=cross,
            within_view=within,
            decoupled=decoupled,
            ids=ids,
        )

    return fast, slow


def _sigmoid(within):
    def fast(z1, z2, t, ids, queue):
        return losses.sigmoid_loss(z1, z2, t=1 / t, b=1.5, within_view=within, ids=ids)

    def slow(z1, z2, t, ids, queue):
        return ref.sigmoid(z1, z2, t=1 / t, b=1.5, within_view=within, ids=ids)

    return fast, slow


def _spectral(within):
    def fast(z1, z2, t, ids, queue):
        return losses.spectral_loss(z1, z2, within_view=within, ids=ids)

    def slow(z1, z2, t, ids, queue):
        return ref.spectral(z1, z2, within_view=within, ids=ids)

    return fast, slow


def _vrn(**kw):
    def fast(z1, z2, t, ids, queue):
        return losses.vrn_loss(
            z1,
            z2,
            ids=ids,
            queue=queue if kw.get("queue") else None,
            **{k: v for k, v in kw.items() if k != "queue"},
        )

    def slow(z1, z2, t, ids, queue):
        return ref.vrn(
            z1,
            z2,
            ids=ids,
            queue=queue if kw.get("queue") else None,
            **{k: v for k, v in kw.items() if k != "queue"},
        )

    return fast, slow


def _moco():
    def fast(z1, z2, t, ids, queue):
        return losses.moco_loss(z1, z2, queue, temperature=t)

    def slow(z1, z2, t, ids, queue):
        return ref.moco(z1, z2, queue, temperature=t)

    return fast, slow


LOSSES = {
    "infonce": _infonce(True, False, False),
    "simclr": _infonce(True, True, False),
    "dcl": _infonce(True, True, True),
    "dhel": _infonce(False, True, True),
    "infonce_decoupled": _infonce(True, False, True),
    "within_only": _infonce(False, True, False),
    "siglip": _sigmoid(False),
    "siglip_within": _sigmoid(True),
    "spectral": _spectral(False),
    "spectral_within": _spectral(True),
    "vrn": _vrn(n=50),
    "vrn_delta_within": _vrn(delta=-0.1, within_view=True),
    "vrn_queue": _vrn(n=1000, queue=True),
    "vrn_p3": _vrn(n=20, p=3),
    "moco": _moco(),
}


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("name", list(LOSSES))
def test_matches_reference(name, dtype):
    fast, slow = LOSSES[name]
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    for B, D, t, duplicates in CASES:
        ids = None if name == "moco" else _ids(B, duplicates)
        z1 = torch.randn(B, D, dtype=torch.float64, generator=g) * 3
        z2 = z1 + torch.randn(B, D, dtype=torch.float64, generator=g)
        queue = torch.randn(6, D, dtype=torch.float64, generator=g)

        x1, x2 = z1.to(dtype).requires_grad_(), z2.to(dtype).requires_grad_()
        value = fast(x1, x2, t, ids, queue.to(dtype))
        grads = torch.autograd.grad(value, (x1, x2))
        assert value.dtype == dtype

        r1, r2 = x1.detach().double().requires_grad_(), x2.detach().double().requires_grad_()
        expected = slow(r1, r2, t, ids, queue.to(dtype).double())
        expected_grads = torch.autograd.grad(expected, (r1, r2))

        where = f"{name} B={B} D={D} t={t} dup={duplicates} {dtype}"
        torch.testing.assert_close(value.double(), expected, rtol=tol, atol=tol, msg=where)
        for got, want in zip(grads, expected_grads):
            torch.testing.assert_close(got.double(), want, rtol=tol, atol=tol, msg=where)
