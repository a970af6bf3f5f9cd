"""When independently additive losses (Def 3.2) separate negatives too far: Thm 5.1(iii),
Thm 5.3, Example 5.4 (SigLIP), and the 1-D reduction of Thm 5.3 that predicts the optimum.

Def 3.2 with (c1, c2) = (1, 0), full batch (m = n):

    L = -1/n sum_i phi(u_i.v_i) + 1/(n(n-1)) sum_{i != j} psi(u_i.v_j)

    phi'(1) > (n-2)/(2(n-1)) psi'(-1/(n-1))  =>  simplex ETF optimum (Thm 5.1 (iii))
    phi'(1) < (n-2)/(2(n-1)) psi'(-1/(n-1))  =>  s_pos < 1, s_neg < -1/(n-1) (Thm 5.3, d >= n)

phi and psi are callables on float64 tensors (elementwise); derivatives come from autograd.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

Scalar = Callable[[torch.Tensor], torch.Tensor]


def _check_n(n: int) -> None:
    if int(n) != n or n < 3:
        raise ValueError(f"the separation conditions need n >= 3 instances, got n = {n}")


def _derivative(f: Scalar, x: float) -> float:
    x_ = torch.tensor(float(x), dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(x_), x_)
    return float(g)


@dataclass(frozen=True)
class SeparationCondition:
    """Both sides of the Thm 5.1(iii) / 5.3 condition and the regime they imply."""

    n: int
    lhs: float  # phi'(1)
    rhs: float  # (n-2)/(2(n-1)) psi'(-1/(n-1))
    excessive: bool  # lhs < rhs: Thm 5.3, excessive separation
    regime: str  # "simplex-etf", "excessive-separation" or "boundary"


def separation_condition(phi: Scalar, psi: Scalar, n: int) -> SeparationCondition:
    """Thm 5.1(iii) vs Thm 5.3 for Def 3.2 with (c1, c2) = (1, 0) at full batch n:
    phi'(1) > (n-2)/(2(n-1)) psi'(-1/(n-1)) gives the simplex ETF (needs d >= n-1);
    phi'(1) < ... gives excessive separation (needs d >= n). Adding within-view negatives
    (c2 = 1) always gives the simplex ETF (Thm 5.1 (ii))."""
    _check_n(n)
    lhs = _derivative(phi, 1.0)
    rhs = (n - 2) / (2 * (n - 1)) * _derivative(psi, -1.0 / (n - 1))
    if math.isclose(lhs, rhs, rel_tol=1e-12, abs_tol=1e-15):
        regime = "boundary"
    else:
        regime = "excessive-separation" if lhs < rhs else "simplex-etf"
    return SeparationCondition(n, lhs, rhs, lhs < rhs and regime != "boundary", regime)


def siglip_phi_psi(t: float, b: float, n: int) -> tuple[Scalar, Scalar]:
    """SigLIP as Def 3.2 (paper's sign: b is minus open_clip's logit_bias):
    phi(x) = -log(1 + e^{-tx+b}),  psi(x) = (n-1) log(1 + e^{tx-b})."""

    def phi(x: torch.Tensor) -> torch.Tensor:
        return -F.softplus(-t * x + b)

    def psi(x: torch.Tensor) -> torch.Tensor:
        return (n - 1) * F.softplus(t * x - b)

    return phi, psi


@dataclass(frozen=True)
class SiglipCondition:
    """Example 5.4: excessive separation iff ratio < threshold."""

    t: float
    b: float
    n: int
    ratio: float  # (1 + exp(t/(n-1) + b)) / (1 + exp(t - b))
    threshold: float  # (n-2)/2
    excessive: bool


def siglip_separation_condition(t: float, b: float, n: int) -> SiglipCondition:
    """Example 5.4: SigLIP (full batch, cross-view negatives only) separates excessively iff

        (1 + exp(t/(n-1) + b)) / (1 + exp(t - b)) < (n-2)/2.

    Computed in log space (softplus) so large t or |b| cannot overflow."""
    _check_n(n)
    if not t > 0:
        raise ValueError(f"SigLIP temperature scale t must be > 0, got t = {t}")
    log_ratio = F.softplus(torch.tensor(t / (n - 1) + b, dtype=torch.float64)) - F.softplus(
        torch.tensor(t - b, dtype=torch.float64)
    )
    threshold = (n - 2) / 2
    ratio = math.exp(float(log_ratio))
    return SiglipCondition(t, b, n, ratio, threshold, float(log_ratio) < math.log(threshold))


def reduced_objective(phi: Scalar, psi: Scalar, n: int) -> Scalar:
    """Thm 5.3's 1-D reduction: h(x) = -phi(x) + psi(((n-2)x - n)/(2(n-1))), x = E[s_pos]
    in [-1, 1]; the negatives sit at ((n-2)x - n)/(2(n-1)) (-1 at x = -1, -1/(n-1) at x = 1)."""
    _check_n(n)

    def h(x: torch.Tensor) -> torch.Tensor:
        return -phi(x) + psi(negative_from_positive(x, n))

    return h


def negative_from_positive(x, n: int):
    """Thm 5.3: the negative similarity paired with mean positive x, ((n-2)x - n)/(2(n-1))."""
    return ((n - 2) * x - n) / (2 * (n - 1))


@dataclass(frozen=True)
class OptimumPrediction:
    """The optimum predicted by the 1-D reduction of Thm 5.3."""

    n: int
    pos: float  # x*, the positive similarity at the optimum
    neg: float  # ((n-2)x* - n)/(2(n-1)), every cross-view negative
    objective: float  # h(x*)
    excessive: bool  # x* < 1, i.e. neg < -1/(n-1)


def predict_optimum(phi: Scalar, psi: Scalar, n: int, *, tol: float = 1e-12) -> OptimumPrediction:
    """Minimizes Thm 5.3's h(x) over [-1, 1]: a dense grid, then golden-section search in the
    best grid cell (h is convex for concave phi and convex psi, e.g. SigLIP). When the
    condition of Thm 5.1(iii) holds the minimum is x* = 1 and the negatives sit at -1/(n-1)."""
    h = reduced_objective(phi, psi, n)
    grid_G = torch.linspace(-1.0, 1.0, 4001, dtype=torch.float64)
    with torch.no_grad():
        k = int(torch.argmin(h(grid_G)))
        lo, hi = float(grid_G[max(k - 1, 0)]), float(grid_G[min(k + 1, grid_G.numel() - 1)])

        def f(x: float) -> float:
            return float(h(torch.tensor(x, dtype=torch.float64)))

        ratio = (math.sqrt(5) - 1) / 2
        a, c = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        fa, fc = f(a), f(c)
        while hi - lo > tol:
            if fa < fc:
                hi, c, fc = c, a, fa
                a = hi - ratio * (hi - lo)
                fa = f(a)
            else:
                lo, a, fa = a, c, fc
                c = lo + ratio * (hi - lo)
                fc = f(c)
        x = 0.5 * (lo + hi)
        # the boundary x = 1 (simplex ETF) is a candidate in its own right
        if f(1.0) <= f(x):
            x = 1.0
    neg = negative_from_positive(x, n)
    return OptimumPrediction(n, x, neg, f(x), x < 1.0 - 1e-9)


def siglip_optimum(t: float, b: float, n: int) -> OptimumPrediction:
    """Example 5.4 via Thm 5.3: the SigLIP full-batch optimum's positive and negative
    similarity (n = d = 8, (t, b) = (5, -2): pos -0.3798, neg -0.7342)."""
    return predict_optimum(*siglip_phi_psi(t, b, n), n)
