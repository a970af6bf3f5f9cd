"""Summary statistics for the report: mean +/- std over seeds and paired differences with CIs.

Pure Python on lists of floats, so the report needs neither torch nor scipy. Confidence
intervals use Student's t with n - 1 degrees of freedom (two-sided 95%); the quantiles below are
the standard table values t_{0.975, df}. `paired_difference` treats the seeds as the only
chance; `paired_difference_images` also counts the scored images as a sample (every seed of
both arms scored on the same images), with Welch-Satterthwaite's degrees of freedom.
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
        if math.isnan(self.low):
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


def paired_difference_images(a: dict[int, list[bool]], b: dict[int, list[bool]]) -> Paired:
    """Accuracy of `b` minus `a` over the seeds present in both (dicts seed -> whether each
    scored image was right, every list over the same images in the same order), with a 95%
    interval that counts two sources of chance: the seeds (training) and the images (a test
    split of 10,000 is a sample too, shared by every seed, so the seeds alone miss it).

    With d[s][i] = b[s][i] - a[s][i], the mean difference's variance is estimated as
    var_s(mean_i d) / S + var_i(mean_s d) / n (a crossed design: it counts the seed x image
    interaction twice, a conservative excess of order 1/(S n)); degrees of freedom by
    Welch-Satterthwaite. One seed gives the image part alone (a paired test over images, like
    McNemar's)."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return Paired(0, math.nan, math.nan, math.nan)
    n = len(a[seeds[0]])
    if n == 0 or any(len(x[s]) != n for s in seeds for x in (a, b)):
        lengths = sorted({len(x[s]) for s in seeds for x in (a, b)})
        raise ValueError(f"per-image results must cover the same images: lengths {lengths}")
    d = [[int(y) - int(x) for x, y in zip(a[s], b[s])] for s in seeds]
    S = len(seeds)
    per_seed = [sum(row) / n for row in d]
    per_image = [sum(col) / S for col in zip(*d)]
    mean = sum(per_seed) / S
    v_seed = summarize(per_seed).std ** 2 / S if S > 1 else 0.0
    v_image = summarize(per_image).std ** 2 / n if n > 1 else 0.0
    var = v_seed + v_image
    if var == 0.0:  # identical results: no spread from either source
        return Paired(S, mean, mean, mean)
    df = var**2 / ((v_seed**2 / (S - 1) if S > 1 else 0.0) + v_image**2 / max(n - 1, 1))
    half = t975(max(1, math.floor(df))) * math.sqrt(var)
    return Paired(S, mean, mean - half, mean + half)
