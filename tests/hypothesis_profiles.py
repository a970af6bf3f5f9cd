"""Hypothesis settings for the generated tests, chosen by an environment variable:

    CONTRASTLENS_HYPOTHESIS_PROFILE=default   (or unset) the CI size: deterministic, runs in
                                              `make test` (>= 2,000 generated cases, <= 30 s)
    CONTRASTLENS_HYPOTHESIS_PROFILE=long      20x the examples, fresh random inputs each run:
        CONTRASTLENS_HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest -q \
            tests/losses/test_generated.py tests/similarity/test_generated.py \
            --hypothesis-show-statistics

The profiles are registered as "contrastlens-default" and "contrastlens-long" and applied per
test through `given_settings(n)` rather than loaded globally, so hypothesis' own "default"
profile (and any other test module using hypothesis) is left alone. Each test states its
example count `n` for the default profile; the long profile multiplies it by LONG_FACTOR.

Also here: the batch generators shared by tests/losses/ and tests/similarity/ (`make_views`,
`make_ids`). A test draws a seed and a few sizes; the tensors come from a torch.Generator.
"""

from __future__ import annotations

import math
import os

import torch
from hypothesis import HealthCheck, settings

ENV = "CONTRASTLENS_HYPOTHESIS_PROFILE"
LONG_FACTOR = 20

settings.register_profile(
    "contrastlens-default",
    derandomize=True,  # the same cases on every run and machine: a CI failure reproduces
    deadline=None,  # a shared 2-core machine: timing is not a property
    database=None,  # nothing written to .hypothesis/
    max_examples=100,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "contrastlens-long",
    parent=settings.get_profile("contrastlens-default"),
    derandomize=False,  # new random cases each run; a failure prints its reproduce blob
    max_examples=100 * LONG_FACTOR,
)

NAME = os.environ.get(ENV, "default").strip() or "default"
if NAME not in ("default", "long"):
    raise ValueError(f"{ENV} must be 'default' or 'long', got {NAME!r}")
PROFILE = settings.get_profile(f"contrastlens-{NAME}")
FACTOR = LONG_FACTOR if NAME == "long" else 1


def given_settings(examples: int) -> settings:
    """The active profile with `examples` generated cases (times LONG_FACTOR under "long")."""
    return settings(PROFILE, max_examples=examples * FACTOR)


STRUCTURES = ("independent", "aligned", "identical", "collapsed", "shared_mean")


def make_views(
    seed: int, B: int, D: int, structure: str, K: int = 0, *, scale_rows: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Two (B, D) float64 views of one of STRUCTURES, each row scaled by 10^U(-2, 2) (unless
    scale_rows=False), and a (K, D) queue (None when K = 0)."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    def log_uniform(lo, hi, *shape):
        u = torch.rand(*shape, generator=g, dtype=torch.float64)
        return torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))

    if structure == "independent":
        z1, z2 = randn(B, D), randn(B, D)
    elif structure == "aligned":  # positives close: small noise of a random size
        z1 = randn(B, D)
        z2 = z1 + log_uniform(1e-3, 1.0, 1) * randn(B, D)
    elif structure == "identical":
        z1 = randn(B, D)
        z2 = z1.clone()
    elif structure == "collapsed":  # every row near one point: near-ties, hard negatives
        center = randn(1, D)
        z1 = center + log_uniform(1e-3, 1e-1, 1) * randn(B, D)
        z2 = center + log_uniform(1e-3, 1e-1, 1) * randn(B, D)
    else:  # "shared_mean": a common direction, as trained embeddings have
        common = randn(1, D)
        z1 = randn(B, D) + 2.0 * common
        z2 = z1 + 0.7 * randn(B, D)
    if scale_rows:
        z1 = z1 * log_uniform(1e-2, 1e2, B, 1)
        z2 = z2 * log_uniform(1e-2, 1e2, B, 1)
    queue = randn(K, D) * log_uniform(1e-2, 1e2, K, 1) if K else None
    return z1, z2, queue


def make_ids(seed: int, B: int, distinct: int, *, all_equal_ok: bool = False) -> torch.Tensor:
    """(B,) ids from `distinct` values, with duplicates; never all equal (every row keeps a
    negative) unless all_equal_ok; sparse, negative-including values so that only equality
    can matter."""
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(distinct, (B,), generator=g)
    if not all_equal_ok and bool((ids == ids[0]).all()):
        ids[-1] = ids[0] + 1
    return ids * 1_000_003 - 17
