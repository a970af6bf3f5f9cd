"""Summary statistics for the report: mean +/- std over seeds and paired differences with CIs.

Pure Python on lists of floats, so the report needs neither torch nor scipy. Confidence
intervals use Student's t with n - 1 degrees of freedom (two-sided 95%); the quantiles below are
the standard table values t_{0.975, df}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Two-sided 95% Student-t critical values t_{0.975, df}, df = 1..30; beyond 30 the normal 1.960
# is within 2% (and the report never has that many seeds).
T975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip


def t975(df: int) -> float:
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return T975[df - 1] if df <= len(T975) else 1.960


@dataclass
class Summary:
    n: int
    mean: float
    std: float  # sample standard deviation (ddof = 1); nan for n = 1

    def fmt(self, scale: float = 1.0, digits: int = 2) -> str:
        if self.n == 0:
            return "–"
        if self.n == 1 or math.isnan(self.std):
            return f"{self.mean * scale:.{digits}f}"
        return f"{self.mean * scale:.{digits}f} ± {self.std * scale:.{digits}f}"


def summarize(values: list[float]) -> Summary:
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        return Summary(0, math.nan, math.nan)
    mean = sum(xs) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1)) if n > 1 else math.nan
    return Summary(n, mean, std)


@dataclass
class Paired:
    """The paired difference b - a over matched seeds, with a 95% t confidence interval."""

    n: int
    mean: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.n > 1 and (self.low > 0 or self.high < 0)

    def fmt(self, scale: float = 1.0, digits: int = 2) -> str:
        if self.n == 0:
            return "–"
        if self.n == 1:
            return f"{self.mean * scale:+.{digits}f} (1 seed, no CI)"
        return (
            f"{self.mean * scale:+.{digits}f} [{self.low * scale:+.{digits}f}, "
            f"{self.high * scale:+.{digits}f}]"
        )


def paired_difference(a: dict[int, float], b: dict[int, float]) -> Paired:
    """`b - a` over the seeds present in both (dicts seed -> value)."""
    seeds = sorted(set(a) & set(b))
    diffs = [b[s] - a[s] for s in seeds]
    s = summarize(diffs)
    if s.n == 0:
        return Paired(0, math.nan, math.nan, math.nan)
    if s.n == 1:
        return Paired(1, s.mean, math.nan, math.nan)
    half = t975(s.n - 1) * s.std / math.sqrt(s.n)
    return Paired(s.n, s.mean, s.mean - half, s.mean + half)
