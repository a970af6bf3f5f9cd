"""gor_loss against a slow per-pair loop and against sentence-transformers' own
`GlobalOrthogonalRegularizationLoss` (value and gradient of every column; float64 to 1e-10,
float32 to 1e-5; odd batch sizes, one-row batches, both aggregations, disabled terms).

Shape legend: B rows of a column, D dimension, C columns.
"""

from __future__ import annotations

import math

import pytest
import torch

from contrastlens.losses import gor_loss
from contrastlens.losses.gor import gor_moments

pytestmark = pytest.mark.usefixtures("one_thread")


def _reference(columns, mean_weight=1.0, second_moment_weight=1.0, aggregation="mean"):
    """Straight from the formula: per column, loop over the ordered pairs i != j of unit rows."""
    means, seconds = [], []
    for z in columns:
        B, D = z.shape
        u = [z[i] / z[i].pow(2).sum().sqrt() for i in range(B)]
        s = [u[i] @ u[j] for i in range(B) for j in range(B) if i != j]
        count = max(len(s), 1)
        zero = 0 * z.sum()  # one row: no pairs, a 0 that still depends on z
        m1 = sum(s, zero) / count
        m2 = sum((x * x for x in s), zero) / count
        means.append(m1**2)
        seconds.append(torch.clamp(m2 - 1.0 / D, min=0.0))
    agg = sum if aggregation == "sum" else (lambda xs: sum(xs) / len(xs))
    out = {}
    if mean_weight:
        out["gor_mean"] = mean_weight * agg(means)
    if second_moment_weight:
        out["gor_second_moment"] = second_moment_weight * agg(seconds)
    return out


def _columns(C, B, D, dtype, seed, shift):
    """C columns sharing a common direction (shift > 0 makes M1 and M2 large: both terms on)."""
    g = torch.Generator().manual_seed(seed)
    common_D = torch.randn(D, generator=g, dtype=torch.float64)
    return [
        (torch.randn(B, D, generator=g, dtype=torch.float64) + shift * common_D).to(dtype)
        for _ in range(C)
    ]


# (C, B, D, shift, mean_weight, second_moment_weight, aggregation)
CASES = [
    (2, 5, 7, 1.0, 1.0, 1.0, "mean"),
    (2, 3, 64, 0.0, 1.0, 1.0, "mean"),  # second moment below 1/D: its hinge is off
    (3, 7, 2, 0.5, 0.5, 2.0, "sum"),
    (1, 9, 16, 2.0, None, 1.0, "mean"),
    (2, 5, 16, 0.3, 3.0, 0.0, "sum"),
    (2, 1, 8, 1.0, 1.0, 1.0, "mean"),  # one row: no pairs, both terms a differentiable 0
]
TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}


def _value_and_grads(fn, columns):
    leaves = [z.clone().requires_grad_() for z in columns]
    terms = fn(leaves)
    total = sum(terms.values())
    grads = torch.autograd.grad(total, leaves, allow_unused=True)
    grads = [torch.zeros_like(z) if g is None else g for z, g in zip(leaves, grads)]
    return {k: v.detach() for k, v in terms.items()}, grads


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", CASES)
def test_gor_equals_slow_reference(case, dtype):
    C, B, D, shift, wm, ws, agg = case
    columns = _columns(C, B, D, dtype, seed=B * 31 + D, shift=shift)
    kw = dict(mean_weight=wm, second_moment_weight=ws, aggregation=agg)

    def ours(zs):
        return {k: v for k, v in gor_loss(*zs, **kw).items() if k != "gor"}

    got, got_grads = _value_and_grads(ours, columns)
    want, want_grads = _value_and_grads(lambda zs: _reference(zs, **kw), columns)
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], **TOL[dtype])
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, **TOL[dtype])
    # the total is the sum of the named terms
    terms = gor_loss(*columns, **kw)
    torch.testing.assert_close(terms["gor"], sum(v for k, v in terms.items() if k != "gor"))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("case", CASES)
def test_gor_equals_sentence_transformers(case, dtype):
    st_losses = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
    C, B, D, shift, wm, ws, agg = case
    columns = _columns(C, B, D, dtype, seed=7 * B + D, shift=shift)
    kw = dict(mean_weight=wm, second_moment_weight=ws, aggregation=agg)
    # compute_loss_from_embeddings never touches the model
    theirs = st_losses.GlobalOrthogonalRegularizationLoss(None, **kw)

    def ours(zs):
        return {k: v for k, v in gor_loss(*zs, **kw).items() if k != "gor"}

    got, got_grads = _value_and_grads(ours, columns)
    want, want_grads = _value_and_grads(theirs.compute_loss_from_embeddings, columns)
    assert got.keys() == want.keys()  # same names, same terms dropped
    for key in want:
        torch.testing.assert_close(got[key], want[key], **TOL[dtype])
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, **TOL[dtype])


def test_gor_closed_forms():
    D = 6
    # orthonormal rows (B <= D): every similarity 0, both terms 0
    q_DD, _ = torch.linalg.qr(torch.randn(D, D, dtype=torch.float64))
    terms = gor_loss(q_DD[:4], q_DD[2:])
    assert float(terms["gor_mean"]) == pytest.approx(0.0, abs=1e-14)
    assert float(terms["gor_second_moment"]) == 0.0
    # collapse: every similarity 1, so M1 = M2 = 1 (rows scaled differently: cosines)
    collapsed = torch.randn(1, D, dtype=torch.float64) * torch.arange(1, 6).double()[:, None]
    terms = gor_loss(collapsed)
    assert float(terms["gor_mean"]) == pytest.approx(1.0, abs=1e-12)
    assert float(terms["gor_second_moment"]) == pytest.approx(1.0 - 1.0 / D, abs=1e-12)
    # the regular simplex of B = D + 1 rows: M1 = -1/D, M2 = 1/D^2 (below 1/D: hinge off)
    from contrastlens.theory import simplex_etf

    m1, m2 = gor_moments(simplex_etf(D + 1, D))
    assert float(m1) == pytest.approx(-1.0 / D, abs=1e-12)
    assert float(m2) == pytest.approx(1.0 / D**2, abs=1e-12)
    # "sum" over C identical columns is C times "mean"
    z = _columns(1, 5, 3, torch.float64, seed=3, shift=1.0)[0]
    mean = gor_loss(z, z, z)["gor"]
    total = gor_loss(z, z, z, aggregation="sum")["gor"]
    assert float(total) == pytest.approx(3 * float(mean), rel=1e-12)
    assert math.isfinite(float(total))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gor_loss(), "at least one"),
        (lambda: gor_loss(torch.randn(3, 2), mean_weight=0, second_moment_weight=None), "nonzero"),
        (lambda: gor_loss(torch.randn(3, 2), aggregation="max"), "aggregation"),
        (lambda: gor_loss(torch.randn(3)), "2-D"),
        (lambda: gor_loss(torch.randn(3, 2), torch.full((3, 2), float("nan"))), "NaN"),
    ],
)
def test_gor_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
