"""The Welch bound: random and optimized unit vectors never go below it; tight frames reach it.

Legend: N vectors, D dimension.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from contrastlens.theory import simplex_etf, welch_bound

pytestmark = pytest.mark.usefixtures("one_thread")


def _mean_square_off_diagonal(x_ND: torch.Tensor) -> float:
    """Slow and plain: mean over the ordered pairs i != j of (x_i.x_j)^2 of the unit rows."""
    u = F.normalize(x_ND.double(), dim=1)
    N = u.shape[0]
    total = sum(float(u[i] @ u[j]) ** 2 for i in range(N) for j in range(N) if i != j)
    return total / (N * (N - 1))


def test_closed_form_values():
    assert welch_bound(2, 1) == 1.0  # two unit vectors on a line: s = +-1
    assert welch_bound(5, 5) == 0.0 and welch_bound(3, 10) == 0.0  # n <= d: orthonormal
    assert welch_bound(16, 8) == pytest.approx(8 / (8 * 15))
    assert welch_bound(60_000, 128) == pytest.approx((60_000 - 128) / (128 * 59_999))
    assert welch_bound(60_000, 128) < 1 / 128  # below GOR's target 1/d, close to it
    # the regular simplex of n = d + 1 vectors is a tight frame: every s = -1/d, mean square 1/d^2
    for d in (1, 3, 7):
        assert welch_bound(d + 1, d) == pytest.approx(1 / d**2)
        assert _mean_square_off_diagonal(simplex_etf(d + 1, d)) == pytest.approx(1 / d**2)


@pytest.mark.parametrize("n, d", [(2, 3), (5, 5), (20, 3), (64, 8), (33, 16), (10, 32)])
def test_random_vectors_stay_above(n, d):
    g = torch.Generator().manual_seed(n * 100 + d)
    for _ in range(5):
        x_ND = torch.randn(n, d, generator=g, dtype=torch.float64)
        assert _mean_square_off_diagonal(x_ND) >= welch_bound(n, d) - 1e-12


@pytest.mark.parametrize("n, d", [(12, 4), (24, 8), (9, 2)])
def test_optimized_vectors_approach_but_never_cross(n, d):
    """Adam on the sum of squared off-diagonal similarities: the floor is approached (so the bound
    is not loose) and never crossed (so it is not too high)."""
    g = torch.Generator().manual_seed(n + d)
    x_ND = torch.randn(n, d, generator=g, dtype=torch.float64).requires_grad_()
    opt = torch.optim.Adam([x_ND], lr=0.05)
    off_NN = ~torch.eye(n, dtype=torch.bool)
    bound = welch_bound(n, d)
    for _ in range(300):
        u_ND = F.normalize(x_ND, dim=1)
        loss = (u_ND @ u_ND.T)[off_NN].pow(2).mean()
        assert float(loss.detach()) >= bound - 1e-12
        opt.zero_grad()
        loss.backward()
        opt.step()
    final = _mean_square_off_diagonal(x_ND.detach())
    assert bound - 1e-12 <= final <= bound * (1 + 1e-3)


@pytest.mark.parametrize("d", [2, 5, 16])
def test_two_orthonormal_bases_reach_it(d):
    """n = 2d: the identity and a random orthogonal matrix stacked, X^T X = 2 I (a tight frame)."""
    g = torch.Generator().manual_seed(d)
    q_DD, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    x_ND = torch.cat([torch.eye(d, dtype=torch.float64), q_DD])
    got = _mean_square_off_diagonal(x_ND)
    assert abs(got - welch_bound(2 * d, d)) < 1e-10
    assert welch_bound(2 * d, d) == pytest.approx(1 / (2 * d - 1))


@pytest.mark.parametrize("n, d", [(1, 3), (0, 1), (4, 0), (2.5, 2), (True, 2), ("8", 2)])
def test_rejects_bad_arguments(n, d):
    with pytest.raises(ValueError, match="must be an integer"):
        welch_bound(n, d)
