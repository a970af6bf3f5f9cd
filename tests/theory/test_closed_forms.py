"""Closed forms, bounds and conditions of section 5 on tiny fixtures (milliseconds each).

Legend: N instances, M batch, D dimension.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from contrastlens.theory import (
    infonce_negative_gradient,
    minibatch_min_dim,
    minibatch_variance_bounds,
    optimal_negative_similarity,
    predict_optimum,
    separation_condition,
    siglip_optimum,
    siglip_phi_psi,
    siglip_separation_condition,
    simplex_etf,
    tradeoff_identity,
    tradeoff_max_positive,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_thm51_optimum_and_simplex_etf():
    assert optimal_negative_similarity(8) == pytest.approx(-0.142857, abs=1e-6)
    for n, d in [(2, 1), (5, 4), (8, 8), (7, 20)]:
        x_ND = simplex_etf(n, d)
        sim_NN = x_ND @ x_ND.T
        off = ~torch.eye(n, dtype=torch.bool)
        assert x_ND.shape == (n, d)
        assert torch.allclose(sim_NN.diagonal(), torch.ones(n, dtype=torch.float64))
        assert torch.allclose(sim_NN[off], torch.full((n * (n - 1),), -1 / (n - 1)).double())
    with pytest.raises(ValueError, match="d >= n-1"):
        simplex_etf(8, 6)
    with pytest.raises(ValueError, match="n"):
        optimal_negative_similarity(1)


def _configs():
    g = torch.Generator().manual_seed(0)
    for n in (3, 4, 8, 17):
        for d in (2, 5, 16):
            yield torch.randn(n, d, generator=g).double(), torch.randn(n, d, generator=g).double()
            etf = simplex_etf(n, max(d, n - 1))
            noise = 0.05 * torch.randn(etf.shape, generator=g, dtype=torch.float64)
            yield etf + noise, etf - noise  # a perturbed optimum
            yield etf, -etf + noise  # anti-aligned views
    e_D = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    yield e_D.repeat(5, 1), -e_D.repeat(5, 1)  # the erratum's counterexample to the equality case


def test_thm52_inequality_and_corrected_identity():
    for u_ND, v_ND in _configs():
        t = tradeoff_identity(u_ND, v_ND)
        # exact identity (docs/theory.md, "Theorems": the erratum) and the inequality of Thm 5.2
        assert t.pos_mean == pytest.approx(t.rhs, abs=1e-12)
        assert t.pos_mean <= t.bound + 1e-12
        assert t.pos_mean <= tradeoff_max_positive(t.neg_mean, t.n) + 1e-12
        # brute-force E[s_neg] over i != j
        u, v = F.normalize(u_ND, dim=1), F.normalize(v_ND, dim=1)
        neg = (u @ v.T)[~torch.eye(t.n, dtype=torch.bool)].mean().item()
        assert t.neg_mean == pytest.approx(neg, abs=1e-12)
    # the simplex ETF meets the inequality with equality
    etf = simplex_etf(8, 8)
    t = tradeoff_identity(etf, etf)
    assert t.pos_mean == pytest.approx(1.0) and t.bound == pytest.approx(1.0)
    with pytest.raises(ValueError):
        tradeoff_identity(etf[:2], etf[:2])  # n >= 3


def test_thm53_and_example54_conditions():
    c = siglip_separation_condition(5, -2, 8)
    assert c.excessive and c.threshold == 3.0 and c.ratio == pytest.approx(0.0011629, rel=1e-4)
    assert not siglip_separation_condition(5, 3, 8).excessive
    # Example 5.4 is the SigLIP case of the general condition (autograd derivatives)
    for t, b, n in [(5, -2, 8), (5, 3, 8), (10, 10, 32), (1, 0, 4), (20, -5, 16)]:
        general = separation_condition(*siglip_phi_psi(t, b, n), n)
        assert general.excessive == siglip_separation_condition(t, b, n).excessive
        assert general.lhs == pytest.approx(t / (1 + math.exp(t - b)))
    assert siglip_separation_condition(1000, -500, 8).excessive  # no overflow
    with pytest.raises(ValueError):
        siglip_separation_condition(-1, 0, 8)
    with pytest.raises(ValueError):
        siglip_separation_condition(5, 0, 2)


def test_thm53_one_dimensional_reduction():
    p = siglip_optimum(5, -2, 8)
    assert p.excessive
    assert p.pos == pytest.approx(-0.3798, abs=1e-4) and p.neg == pytest.approx(-0.7342, abs=1e-4)
    assert p.neg == pytest.approx((6 * p.pos - 8) / 14)
    p = siglip_optimum(5, 3, 8)
    assert not p.excessive and p.pos == 1.0 and p.neg == pytest.approx(-1 / 7)

    # any (phi, psi): spectral-like psi = x^2 is outside the theorem but h is still minimized
    def phi(x):
        return 0.1 * x

    def psi(x):
        return (x + 1) ** 2

    q = predict_optimum(phi, psi, 10)
    grid = torch.linspace(-1, 1, 200001, dtype=torch.float64)
    h = -phi(grid) + psi((8 * grid - 10) / 18)
    assert q.pos == pytest.approx(float(grid[h.argmin()]), abs=1e-4)


def test_thm55_bounds():
    lo, hi = minibatch_variance_bounds(8, 4)
    assert (round(lo, 4), round(hi, 4)) == (0.0272, 0.2177)
    assert minibatch_variance_bounds(4, 2) == pytest.approx((2 / 9, 8 / 9))
    assert minibatch_variance_bounds(8, 8) == (0.0, 0.0)
    # both fall with m
    prev = (math.inf, math.inf)
    for m in (2, 4, 8, 16, 32, 64):
        cur = minibatch_variance_bounds(64, m)
        assert cur[0] < prev[0] and cur[1] < prev[1]
        prev = cur
    assert minibatch_min_dim(8, 4) == 6
    for n, m, msg in [(8, 3, "divide"), (8, 16, "larger"), (8, 1, ">= 2"), (1, 1, "n")]:
        with pytest.raises(ValueError, match=msg):
            minibatch_variance_bounds(n, m)


def _sym_infonce_from_sim(sim_MM, t):
    """Reference: 1/2 CE(rows) + 1/2 CE(columns) on S / t."""
    labels = torch.arange(sim_MM.shape[0])
    return 0.5 * (F.cross_entropy(sim_MM / t, labels) + F.cross_entropy(sim_MM.T / t, labels))


@pytest.mark.parametrize("t", [0.1, 0.2, 0.5])
def test_thm56_gradient_nested_batches(t):
    g = torch.Generator().manual_seed(1)
    u_MD = F.normalize(torch.randn(12, 6, generator=g, dtype=torch.float64), dim=1)
    v_MD = F.normalize(torch.randn(12, 6, generator=g, dtype=torch.float64), dim=1)
    grads = {}
    for m in (3, 6, 12):  # nested batches: the first m instances
        S = (u_MD[:m] @ v_MD[:m].T).requires_grad_(True)
        (g_S,) = torch.autograd.grad(_sym_infonce_from_sim(S, t), S)
        assert torch.allclose(g_S, infonce_negative_gradient(S.detach(), t), atol=1e-14)
        grads[m] = g_S
    for m1, m2 in [(3, 6), (6, 12), (3, 12)]:
        off = ~torch.eye(m1, dtype=torch.bool)
        g1, g2 = grads[m1][:m1, :m1][off], grads[m2][:m1, :m1][off]
        assert (g2 >= 0).all() and (g2 < g1).all()  # strict: m1 < m2


def test_thm56_matches_real_infonce_loss():
    from contrastlens.losses import infonce_loss

    g = torch.Generator().manual_seed(2)
    u = F.normalize(torch.randn(7, 5, generator=g, dtype=torch.float64), dim=1)
    v = F.normalize(torch.randn(7, 5, generator=g, dtype=torch.float64), dim=1)
    z1 = u.clone().requires_grad_(True)
    (g_u,) = torch.autograd.grad(infonce_loss(z1, v, temperature=0.3), z1)
    # chain rule through S = U V^T and the normalization inside the loss (a projection)
    G = infonce_negative_gradient(u @ v.T, 0.3)
    raw = G @ v
    expected = raw - (raw * u).sum(1, keepdim=True) * u
    assert torch.allclose(g_u, expected, atol=1e-12)
