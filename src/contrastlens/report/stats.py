"""Summary statistics for the report: mean +/- std over seeds and paired differences with CIs.

Pure Python on lists of floats, so the report needs neither torch nor scipy. Confidence
intervals use Student's t (two-sided 95%), with quantiles computed exactly for any degrees of
freedom, fractional ones included (`t_quantile`: the t distribution's CDF through the
regularized incomplete beta function, inverted by bisection). `paired_difference` treats the
seeds as the only chance; `paired_difference_items` also counts the scored items (test images,
queries) as a sample (every seed of both arms scored on the same items), with
Welch-Satterthwaite's degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz), convergent for
    x < (a + 1) / (a + b + 2)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    out = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            out *= c * d
        if abs(c * d - 1.0) < eps:
            break
    return out


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), a, b > 0, x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` > 0 degrees of freedom."""
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))  # P(T > |t|)
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The `p` quantile of Student's t with `df` > 0 (real) degrees of freedom, to ~1e-12."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if not df > 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, 2.0 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


def t975(df: float) -> float:
    """t_{0.975, df}: the half-width factor of a two-sided 95% interval."""
    if not df >= 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    return t_quantile(0.975, df)


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


def paired_difference_items(a: dict[int, list[float]], b: dict[int, list[float]]) -> Paired:
    """The mean per-item score of `b` minus `a` over the seeds present in both (dicts seed ->
    one score per scored item, every list over the same items in the same order: whether each
    test image was right, or each query's reciprocal rank), with a 95% interval that counts two
    sources of chance: the seeds (training) and the items (a test split of 10,000 images is a
    sample too, shared by every seed, so the seeds alone miss it).

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
    d = [[float(y) - float(x) for x, y in zip(a[s], b[s])] for s in seeds]
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
    half = t975(max(1.0, df)) * math.sqrt(var)
    return Paired(S, mean, mean - half, mean + half)
