"""The full-batch optimum of every negative similarity, -1/(n-1) (Thm 5.1), in one place.

n unit vectors whose pairwise similarities are all equal can do no better than -1/(n-1) (their
sum has a non-negative squared norm: n + n(n-1)s >= 0); the regular simplex reaches it.
Everything that needs the number (VRN's target, the excess statistic, the separation check,
the theory module, the CLI) calls `negative_optimum`.
"""

from __future__ import annotations


def negative_optimum(n: int) -> float:
    """-1/(n-1) for a dataset of n >= 2 instances."""
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2 (a dataset size), got {n!r}")
    return -1.0 / (int(n) - 1)
