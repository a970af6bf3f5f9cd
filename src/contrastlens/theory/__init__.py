"""The theory of Lee et al. (ICML 2025), section 5, as code (docs/theory.md, "Theorems").

Closed forms (`closed_forms`):
    optimal_negative_similarity(n)        Thm 5.1
    simplex_etf(n, d)                     Thm 5.1's optimum
    tradeoff_max_positive(neg, n)         Thm 5.2 inequality
    tradeoff_identity(u, v)               Thm 5.2, corrected identity (docs/theory.md, erratum)
    minibatch_variance_bounds(n, m)       Thm 5.5
    minibatch_min_dim(n, m)               Thm 5.5
    infonce_negative_gradient(S, t)       Thm 5.6
    welch_bound(n, d)                     Welch (1974): floor of the mean squared similarity
Conditions (`conditions`):
    separation_condition(phi, psi, n)     Thm 5.1(iii) / Thm 5.3
    siglip_separation_condition(t, b, n)  Example 5.4
    predict_optimum(phi, psi, n)          Thm 5.3's 1-D reduction; siglip_optimum(t, b, n)
Simulator (`simulate`, `study`, `plots`):
    simulate(loss, n, d, ...)             free embeddings trained by contrastlens.losses
    run_simulation_study(...)             the figures and JSON of `contrastlens simulate`
"""

from contrastlens.theory.closed_forms import (
    TradeoffIdentity,
    infonce_negative_gradient,
    minibatch_min_dim,
    minibatch_variance_bounds,
    optimal_negative_similarity,
    simplex_etf,
    tradeoff_identity,
    tradeoff_max_positive,
)
from contrastlens.theory.conditions import (
    OptimumPrediction,
    SeparationCondition,
    SiglipCondition,
    negative_from_positive,
    predict_optimum,
    reduced_objective,
    separation_condition,
    siglip_optimum,
    siglip_phi_psi,
    siglip_separation_condition,
)
from contrastlens.theory.simulate import LOSSES, SimulationResult, simulate
from contrastlens.theory.simulation_study import format_table, run_simulation_study
from contrastlens.theory.welch import welch_bound

__all__ = [
    "LOSSES",
    "OptimumPrediction",
    "SeparationCondition",
    "SiglipCondition",
    "SimulationResult",
    "TradeoffIdentity",
    "format_table",
    "infonce_negative_gradient",
    "minibatch_min_dim",
    "minibatch_variance_bounds",
    "negative_from_positive",
    "optimal_negative_similarity",
    "predict_optimum",
    "reduced_objective",
    "run_simulation_study",
    "separation_condition",
    "siglip_optimum",
    "siglip_phi_psi",
    "siglip_separation_condition",
    "simplex_etf",
    "simulate",
    "tradeoff_identity",
    "tradeoff_max_positive",
    "welch_bound",
]
