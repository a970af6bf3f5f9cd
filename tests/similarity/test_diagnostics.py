"""contrastlens.similarity.diagnostics against direct, slow formulas (Python loops over pairs,
an explicit covariance matrix, numpy's SVD), value and gradient, float64 tight and float32 loose.

Legend: N rows, B pairs, D dimension.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from contrastlens.similarity import (
    alignment,
    covariance_spectrum,
    embedding_diagnostics,
    pair_stats,
    rankme,
    uniformity,
)
from contrastlens.similarity import diagnostics as diag

TOL = {torch.float64: dict(rtol=1e-10, atol=1e-12), torch.float32: dict(rtol=1e-5, atol=1e-6)}


pytestmark = pytest.mark.usefixtures("one_thread")


def _views(N, D, seed=0, dtype=torch.float64, noise=0.5):
    g = torch.Generator().manual_seed(seed)
    common_D = torch.randn(D, generator=g, dtype=torch.float64)
    z1 = torch.randn(N, D, generator=g, dtype=torch.float64) + 0.5 * common_D
    z2 = z1 + noise * torch.randn(N, D, generator=g, dtype=torch.float64)
    return z1.to(dtype), z2.to(dtype)


def _unit(z):
    return [z[i] / z[i].pow(2).sum().sqrt() for i in range(z.shape[0])]


def ref_alignment(z1, z2, alpha):
    u, v = _unit(z1), _unit(z2)
    return sum((u[i] - v[i]).pow(2).sum().sqrt() ** alpha for i in range(len(u))) / len(u)


def ref_uniformity(z, t):
    u = _unit(z)
    N = len(u)
    terms = [torch.exp(-t * (u[i] - u[j]).pow(2).sum()) for i in range(N) for j in range(i + 1, N)]
    return torch.log(sum(terms) / len(terms))


def ref_rankme(z, center, eps):
    x = z.detach().double().numpy()
    if center:
        x = x - x.mean(axis=0, keepdims=True)
    sigma = np.linalg.svd(x, compute_uv=False)
    p = [s / sigma.sum() + eps for s in sigma]
    return math.exp(-sum(pk * math.log(pk) for pk in p))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("N, D, alpha", [(5, 3, 2.0), (7, 16, 1.0), (3, 2, 0.5), (9, 8, 3.0)])
def test_alignment_equals_reference(N, D, alpha, dtype):
    z1, z2 = _views(N, D, seed=N + D, dtype=dtype)
    a1, a2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    b1, b2 = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    got, want = alignment(a1, a2, alpha=alpha), ref_alignment(b1, b2, alpha)
    torch.testing.assert_close(got, want, **TOL[dtype])
    for g, w in zip(torch.autograd.grad(got, (a1, a2)), torch.autograd.grad(want, (b1, b2))):
        torch.testing.assert_close(g, w, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("N, D, t, block", [(6, 3, 2.0, 2048), (11, 5, 1.0, 3), (9, 16, 5.0, 4)])
def test_uniformity_equals_reference(N, D, t, block, dtype, monkeypatch):
    monkeypatch.setattr(diag, "UNIFORMITY_BLOCK", block)  # small blocks: the streamed path
    z, _ = _views(N, D, seed=3 * N + D, dtype=dtype)
    a, b = z.clone().requires_grad_(), z.clone().requires_grad_()
    got, want = uniformity(a, t=t), ref_uniformity(b, t)
    torch.testing.assert_close(got, want, **TOL[dtype])
    torch.testing.assert_close(
        torch.autograd.grad(got, a)[0], torch.autograd.grad(want, b)[0], **TOL[dtype]
    )
    # Wang & Isola's own one-liner (torch.pdist) gives the same number
    u = torch.nn.functional.normalize(z.double(), dim=1)
    wang_isola = torch.pdist(u, p=2).pow(2).mul(-t).exp().mean().log()
    assert float(got.detach()) == pytest.approx(float(wang_isola), rel=1e-5)


def test_uniformity_closed_forms():
    from contrastlens.theory import simplex_etf

    # collapse: every distance 0 -> log 1 = 0; the simplex: every squared distance 2 + 2/(N-1)
    assert float(uniformity(torch.ones(5, 3))) == pytest.approx(0.0, abs=1e-6)
    N, t = 6, 2.0
    assert float(uniformity(simplex_etf(N, N - 1), t=t)) == pytest.approx(
        -t * (2 + 2 / (N - 1)), abs=1e-10
    )


@pytest.mark.parametrize("center", [False, True])
@pytest.mark.parametrize("N, D, eps", [(40, 6, 1e-7), (5, 12, 1e-7), (12, 12, 1e-3), (30, 4, 0.0)])
def test_rankme_equals_reference(N, D, eps, center):
    z, _ = _views(N, D, seed=N * D)
    cap = min(N - 1 if center else N, D)
    want = min(ref_rankme(z, center, eps), cap)
    got = rankme(z, center=center, eps=eps)
    assert got.dtype == torch.float64
    assert float(got) == pytest.approx(want, rel=1e-10)
    assert float(rankme(7.5 * z, center=center, eps=eps)) == pytest.approx(want, rel=1e-10)


def test_rankme_is_capped_at_the_rank():
    # N <= D orthonormal rows: N equal singular values; eps lifts exp(entropy) just above N
    N, D = 4, 10
    q_DD, _ = torch.linalg.qr(torch.randn(D, D, dtype=torch.float64))
    rows_ND = q_DD[:N]
    assert ref_rankme(rows_ND, False, 1e-7) > N  # the uncapped formula overshoots
    assert float(rankme(rows_ND)) == N
    # centered, they span N - 1 directions (a simplex); never min(N, D) = N, never D
    assert ref_rankme(rows_ND, True, 1e-7) > N - 1
    assert float(rankme(rows_ND, center=True)) == N - 1
    # rank one (collapse): about 1; isotropic Gaussian with N >> D: about D
    collapsed = torch.randn(50, 1, dtype=torch.float64) * torch.randn(1, 8, dtype=torch.float64)
    assert float(rankme(collapsed)) == pytest.approx(1.0, abs=1e-3)
    g = torch.Generator().manual_seed(0)
    assert float(rankme(torch.randn(4000, 8, generator=g, dtype=torch.float64))) > 7.9
    # nothing to measure: all zeros, or one centered row
    assert float(rankme(torch.zeros(3, 4))) == 0.0
    assert float(rankme(torch.randn(1, 4), center=True)) == 0.0


@pytest.mark.parametrize("normalize_rows", [False, True])
@pytest.mark.parametrize("N, D", [(30, 5), (4, 9), (9, 9)])
def test_covariance_spectrum_equals_explicit_covariance(N, D, normalize_rows):
    z, _ = _views(N, D, seed=N + 2 * D)
    x = torch.nn.functional.normalize(z, dim=1) if normalize_rows else z
    mean_D = sum(x[i] for i in range(N)) / N
    cov_DD = sum(torch.outer(x[i] - mean_D, x[i] - mean_D) for i in range(N)) / N
    want_D = torch.linalg.eigvalsh(cov_DD).flip(0).clamp_min(0)
    got_D = covariance_spectrum(z, normalize_rows=normalize_rows)
    assert got_D.shape == (D,)
    torch.testing.assert_close(got_D, want_D, rtol=1e-9, atol=1e-12)
    assert bool((got_D[:-1] >= got_D[1:]).all())
    assert float(got_D.sum()) == pytest.approx(float(torch.trace(cov_DD)), rel=1e-12)
    if N <= D:  # centered N rows span at most N - 1 directions
        assert bool((got_D[N - 1 :] < 1e-12).all())


def test_embedding_diagnostics_matches_the_parts():
    z1, z2 = _views(24, 8, seed=5)
    out = embedding_diagnostics(z1.float(), z2.float())
    assert set(out) == {
        "alignment",
        "uniformity",
        "rankme",
        "gor_m1",
        "gor_m2",
        "gor_mean",
        "gor_second_moment",
    }
    assert all(isinstance(v, float) for v in out.values())
    assert out["alignment"] == pytest.approx(float(ref_alignment(z1, z2, 2.0)), rel=1e-6)
    want_unif = (float(ref_uniformity(z1, 2.0)) + float(ref_uniformity(z2, 2.0))) / 2
    assert out["uniformity"] == pytest.approx(want_unif, rel=1e-6)
    # an independent implementation of both: pair_stats (2 - 2 E[s_pos]; masked log-sum-exp)
    stats = pair_stats(z1, z2)
    assert out["alignment"] == pytest.approx(stats.alignment, rel=1e-6)
    assert out["uniformity"] == pytest.approx(stats.uniformity, rel=1e-6)
    assert out["rankme"] == pytest.approx(
        (ref_rankme(z1, False, 1e-7) + ref_rankme(z2, False, 1e-7)) / 2, rel=1e-6
    )
    # GOR's moments from the explicit within-view similarity matrices
    m1s, m2s = [], []
    for z in (z1, z2):
        u = torch.nn.functional.normalize(z, dim=1)
        s = (u @ u.T)[~torch.eye(24, dtype=torch.bool)]
        m1s.append(float(s.mean()))
        m2s.append(float(s.pow(2).mean()))
    assert out["gor_m1"] == pytest.approx(sum(m1s) / 2, rel=1e-5)
    assert out["gor_m2"] == pytest.approx(sum(m2s) / 2, rel=1e-5)
    assert out["gor_mean"] == pytest.approx(sum(m * m for m in m1s) / 2, rel=1e-5)
    want_second = sum(max(m - 1 / 8, 0.0) for m in m2s) / 2
    assert out["gor_second_moment"] == pytest.approx(want_second, rel=1e-5, abs=1e-9)
    assert want_second > 0  # the common direction turns the hinge on


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: alignment(torch.randn(3, 2), torch.randn(3, 2), alpha=0), "alpha"),
        (lambda: alignment(torch.randn(3, 2), torch.randn(4, 2)), "same shape"),
        (lambda: uniformity(torch.randn(3, 2), t=-1.0), "t must be > 0"),
        (lambda: uniformity(torch.randn(1, 2)), "N >= 2"),
        (lambda: rankme(torch.randn(3, 2), eps=-1.0), "eps"),
        (lambda: embedding_diagnostics(torch.randn(1, 2), torch.randn(1, 2)), "B >= 2"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
