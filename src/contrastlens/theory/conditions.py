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
    """Both sides of the Thm 5.1(iii) / 5.3 condition and the regime they imply.

    Attributes:
        n: the number of instances.
        lhs: phi'(1).
        rhs: (n-2)/(2(n-1)) psi'(-1/(n-1)).
        excessive: lhs < rhs: Thm 5.3, excessive separation.
        regime: "simplex-etf", "excessive-separation" or "boundary".
    """

    n: int
    lhs: float  # phi'(1)
    rhs: float  # (n-2)/(2(n-1)) psi'(-1/(n-1))
    excessive: bool  # lhs < rhs: Thm 5.3, excessive separation
    regime: str  # "simplex-etf", "excessive-separation" or "boundary"


def separation_condition(phi: Scalar, psi: Scalar, n: int) -> SeparationCondition:
    """Thm 5.1(iii) vs Thm 5.3: does a Def 3.2 loss reach the simplex or over-separate?

    For Def 3.2 with (c1, c2) = (1, 0) at full batch n:

        phi'(1) > (n-2)/(2(n-1)) psi'(-1/(n-1))  =>  the simplex ETF (Thm 5.1 (iii), d >= n-1)
        phi'(1) < (n-2)/(2(n-1)) psi'(-1/(n-1))  =>  s_pos < 1, s_neg < -1/(n-1) (Thm 5.3, d >= n)

    Adding within-view negatives (c2 = 1) always gives the simplex ETF (Thm 5.1 (ii)). The
    derivatives come from autograd.

    Args:
        phi: the loss's phi, elementwise on float64 tensors.
        psi: the loss's psi, elementwise on float64 tensors.
        n: the number of instances, >= 3.

    Returns:
        Both sides and the regime.

    Examples:
        >>> from contrastlens.theory import separation_condition, siglip_phi_psi
        >>> separation_condition(*siglip_phi_psi(5.0, -2.0, 8), 8).regime  # Example 5.4
        'excessive-separation'
        >>> separation_condition(*siglip_phi_psi(5.0, 3.0, 8), 8).regime
        'simplex-etf'

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.1 (iii) and Thm 5.3. <https://arxiv.org/abs/2506.09781>
    """
    _check_n(n)
    lhs = _derivative(phi, 1.0)
    rhs = (n - 2) / (2 * (n - 1)) * _derivative(psi, -1.0 / (n - 1))
    if math.isclose(lhs, rhs, rel_tol=1e-12, abs_tol=1e-15):
        regime = "boundary"
    else:
        regime = "excessive-separation" if lhs < rhs else "simplex-etf"
    return SeparationCondition(n, lhs, rhs, lhs < rhs and regime != "boundary", regime)


def siglip_phi_psi(t: float, b: float, n: int) -> tuple[Scalar, Scalar]:
    """SigLIP's phi and psi as Def 3.2 (paper's sign: b is minus open_clip's logit_bias).

    phi(x) = -log(1 + e^{-tx+b}),  psi(x) = (n-1) log(1 + e^{tx-b}).

    Args:
        t: the scale, > 0.
        b: the bias (the paper's sign).
        n: the batch size (full batch: the number of instances).

    Returns:
        (phi, psi), elementwise functions of tensors.

    Examples:
        >>> import torch
        >>> from contrastlens.theory import siglip_phi_psi
        >>> phi, psi = siglip_phi_psi(10.0, 10.0, 8)
        >>> x = torch.tensor(1.0)  # t x - b = 0: phi = -log 2, psi = 7 log 2
        >>> phi(x), psi(x)
        (tensor(-0.6931), tensor(4.8520))

    References:
        - Zhai, Mustafa, Kolesnikov, Beyer. Sigmoid Loss for Language Image Pre-Training.
          ICCV 2023. <https://arxiv.org/abs/2303.15343>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Example 5.4. <https://arxiv.org/abs/2506.09781>
    """

    def phi(x: torch.Tensor) -> torch.Tensor:
        return -F.softplus(-t * x + b)

    def psi(x: torch.Tensor) -> torch.Tensor:
        return (n - 1) * F.softplus(t * x - b)

    return phi, psi


@dataclass(frozen=True)
class SiglipCondition:
    """Example 5.4: excessive separation iff ratio < threshold.

    Attributes:
        t: the scale.
        b: the bias (the paper's sign).
        n: the number of instances.
        ratio: (1 + exp(t/(n-1) + b)) / (1 + exp(t - b)).
        threshold: (n-2)/2.
        excessive: ratio < threshold.
    """

    t: float
    b: float
    n: int
    ratio: float  # (1 + exp(t/(n-1) + b)) / (1 + exp(t - b))
    threshold: float  # (n-2)/2
    excessive: bool


def siglip_separation_condition(t: float, b: float, n: int) -> SiglipCondition:
    """Example 5.4: does full-batch SigLIP (cross-view negatives only) over-separate?

    SigLIP separates excessively iff

        (1 + exp(t/(n-1) + b)) / (1 + exp(t - b)) < (n-2)/2,

    computed in log space (softplus) so large t or |b| cannot overflow. Within-view negatives
    restore the simplex ETF.

    Args:
        t: the scale, > 0.
        b: the bias (the paper's sign: minus open_clip's logit_bias).
        n: the number of instances, >= 3.

    Returns:
        The ratio, the threshold and the verdict.

    Examples:
        >>> from contrastlens.theory import siglip_separation_condition
        >>> c = siglip_separation_condition(5.0, -2.0, 8)
        >>> round(c.ratio, 5), c.threshold, c.excessive
        (0.00116, 3.0, True)
        >>> siglip_separation_condition(5.0, 3.0, 8).excessive
        False

    References:
        - Zhai, Mustafa, Kolesnikov, Beyer. Sigmoid Loss for Language Image Pre-Training.
          ICCV 2023. <https://arxiv.org/abs/2303.15343>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Example 5.4. <https://arxiv.org/abs/2506.09781>
    """
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
    """Thm 5.3's 1-D reduction of the full-batch loss to the mean positive similarity x.

    h(x) = -phi(x) + psi(((n-2)x - n)/(2(n-1))), x = E[s_pos] in [-1, 1]; the negatives sit at
    ((n-2)x - n)/(2(n-1)) (-1 at x = -1, -1/(n-1) at x = 1).

    Args:
        phi: the loss's phi, elementwise.
        psi: the loss's psi, elementwise.
        n: the number of instances, >= 3.

    Returns:
        h, a function of a tensor of x values.

    Examples:
        >>> import torch
        >>> from contrastlens.theory import reduced_objective, siglip_phi_psi
        >>> h = reduced_objective(*siglip_phi_psi(5.0, -2.0, 8), 8)
        >>> x = torch.tensor([-0.3798, 1.0], dtype=torch.float64)
        >>> bool(h(x)[0] < h(x)[1])  # Example 5.4: misaligned beats aligned
        True

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.3. <https://arxiv.org/abs/2506.09781>
    """
    _check_n(n)

    def h(x: torch.Tensor) -> torch.Tensor:
        return -phi(x) + psi(negative_from_positive(x, n))

    return h


def negative_from_positive(x: float | torch.Tensor, n: int) -> float | torch.Tensor:
    """Thm 5.3: the negative similarity paired with mean positive x, ((n-2)x - n)/(2(n-1)).

    Args:
        x: the mean positive similarity (a number or a tensor).
        n: the number of instances.

    Returns:
        ((n-2)x - n)/(2(n-1)), of x's type.

    Examples:
        >>> from contrastlens.theory import negative_from_positive
        >>> negative_from_positive(1.0, 8), negative_from_positive(-1.0, 8)
        (-0.14285714285714285, -1.0)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.3. <https://arxiv.org/abs/2506.09781>
    """
    return ((n - 2) * x - n) / (2 * (n - 1))


@dataclass(frozen=True)
class OptimumPrediction:
    """The optimum predicted by the 1-D reduction of Thm 5.3.

    Attributes:
        n: the number of instances.
        pos: x*, the positive similarity at the optimum.
        neg: ((n-2)x* - n)/(2(n-1)), every cross-view negative.
        objective: h(x*).
        excessive: x* < 1, i.e. neg < -1/(n-1).
    """

    n: int
    pos: float  # x*, the positive similarity at the optimum
    neg: float  # ((n-2)x* - n)/(2(n-1)), every cross-view negative
    objective: float  # h(x*)
    excessive: bool  # x* < 1, i.e. neg < -1/(n-1)


def predict_optimum(phi: Scalar, psi: Scalar, n: int, *, tol: float = 1e-12) -> OptimumPrediction:
    """The full-batch optimum of a Def 3.2 loss with (c1, c2) = (1, 0), via Thm 5.3.

    Minimizes Thm 5.3's h(x) (`reduced_objective`) over [-1, 1]: a dense grid, then
    golden-section search in the best grid cell (h is convex for concave phi and convex psi,
    e.g. SigLIP). When the condition of Thm 5.1(iii) holds the minimum is x* = 1 and the
    negatives sit at -1/(n-1).

    Args:
        phi: the loss's phi, elementwise on float64 tensors.
        psi: the loss's psi, elementwise on float64 tensors.
        n: the number of instances, >= 3.
        tol: the width at which the golden-section search stops.

    Returns:
        x*, the negatives' similarity there, h(x*), and whether it over-separates.

    Examples:
        >>> from contrastlens.theory import predict_optimum, siglip_phi_psi
        >>> opt = predict_optimum(*siglip_phi_psi(5.0, -2.0, 8), 8)
        >>> round(opt.pos, 4), round(opt.neg, 4), opt.excessive
        (-0.3798, -0.7342, True)

    References:
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Thm 5.3 and Example 5.4. <https://arxiv.org/abs/2506.09781>
    """
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
    """Example 5.4 via Thm 5.3: SigLIP's full-batch optimum, cross-view negatives only.

    `predict_optimum` of `siglip_phi_psi(t, b, n)` (n = d = 8, (t, b) = (5, -2): pos -0.3798,
    neg -0.7342; free embeddings trained by `simulate` reach the same).

    Args:
        t: the scale, > 0.
        b: the bias (the paper's sign: minus open_clip's logit_bias).
        n: the number of instances, >= 3.

    Returns:
        The optimum's positive and negative similarity.

    Examples:
        >>> from contrastlens.theory import siglip_optimum
        >>> opt = siglip_optimum(5.0, -2.0, 8)
        >>> round(opt.pos, 4), round(opt.neg, 4)
        (-0.3798, -0.7342)
        >>> siglip_optimum(5.0, 3.0, 8).pos  # the simplex ETF: aligned
        1.0

    References:
        - Zhai, Mustafa, Kolesnikov, Beyer. Sigmoid Loss for Language Image Pre-Training.
          ICCV 2023. <https://arxiv.org/abs/2303.15343>
        - Lee, Lim, Lee, Sohn. On the Similarities of Embeddings in Contrastive Learning.
          ICML 2025, Example 5.4. <https://arxiv.org/abs/2506.09781>
    """
    return predict_optimum(*siglip_phi_psi(t, b, n), n)
