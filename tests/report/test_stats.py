"""Report statistics: mean/std and paired differences with Student-t intervals, by hand."""

import math
import random

import pytest

from contrastlens.report.stats import (
    paired_difference,
    paired_difference_items,
    summarize,
    t975,
    t_cdf,
    t_quantile,
)


def test_summarize_matches_hand_computation():
    s = summarize([0.80, 0.82, 0.90])
    mean = (0.80 + 0.82 + 0.90) / 3
    std = math.sqrt(((0.80 - mean) ** 2 + (0.82 - mean) ** 2 + (0.90 - mean) ** 2) / 2)
    assert s.n == 3 and s.mean == pytest.approx(mean) and s.std == pytest.approx(std)
    assert s.fmt(100) == f"{100 * mean:.2f} ± {100 * std:.2f}"
    one = summarize([0.5])
    assert one.n == 1 and math.isnan(one.std) and one.fmt(100) == "50.00"
    assert summarize([]).fmt() == "–"


def test_paired_difference_uses_matched_seeds_and_t_interval():
    a = {0: 0.80, 1: 0.81, 2: 0.79, 3: 0.5}
    b = {0: 0.82, 1: 0.835, 2: 0.805}  # seed 3 unmatched: ignored
    p = paired_difference(a, b)
    diffs = [0.02, 0.025, 0.015]
    sd = math.sqrt(sum((d - 0.02) ** 2 for d in diffs) / 2)
    half = 4.302652729749464 * sd / math.sqrt(3)  # t_{0.975, 2} = 2 q / sqrt(1 - q^2), q = 0.95
    assert p.n == 3 and p.mean == pytest.approx(0.02)
    assert (p.low, p.high) == (pytest.approx(0.02 - half), pytest.approx(0.02 + half))
    assert p.significant  # the interval excludes 0
    noisy = paired_difference({0: 0.8, 1: 0.8}, {0: 0.9, 1: 0.7})
    assert not noisy.significant
    assert "1 seed" in paired_difference({0: 0.5}, {0: 0.6}).fmt(100)


def test_t_quantiles_are_exact():
    # closed forms: df 1 (Cauchy) tan(pi (p - 1/2)); df 2: (2p - 1) / sqrt(2 p (1 - p))
    for p in (0.6, 0.9, 0.975, 0.999):
        assert t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-10)
        assert t_quantile(p, 2) == pytest.approx(
            (2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-10
        )
    assert t_quantile(0.025, 7) == pytest.approx(-t_quantile(0.975, 7), rel=1e-12)
    # large df: the normal quantile (1.959963984540054), approached from above like 1 + a/df
    assert 1.959963984540054 < t975(10**6) < 1.959963984540054 + 1e-5
    assert t975(30) > t975(31) > t975(100) > 1.96  # no jump to 1.960 beyond df = 30
    # the CDF of the quantile is the probability, for fractional df too (Welch-Satterthwaite)
    for df in (1.5, 3.7, 12.25, 250.0):
        assert t_cdf(t975(df), df) == pytest.approx(0.975, abs=1e-12)
    with pytest.raises(ValueError):
        t975(0)


def test_t_quantiles_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 4, 9, 29, 30, 31, 60, 1000, 2.5, 17.3):
        for p in (0.55, 0.9, 0.975, 0.995):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9, abs=1e-12)


def test_paired_difference_items_by_hand():
    # 2 seeds x 4 images: d = b - a per image
    a = {0: [1, 1, 0, 0], 1: [1, 0, 0, 1], 5: [0, 0, 0, 0]}
    b = {0: [1, 1, 1, 0], 1: [1, 1, 1, 0]}  # seed 5 unmatched: ignored
    p = paired_difference_items(a, b)
    # d: seed 0 [0, 0, 1, 0] (mean 0.25), seed 1 [0, 1, 1, -1] (mean 0.25)
    per_image = [0.0, 0.5, 1.0, -0.5]
    m = sum(per_image) / 4
    v_image = sum((x - m) ** 2 for x in per_image) / 3 / 4  # seed means are equal: v_seed = 0
    df = v_image**2 / (v_image**2 / 3)  # = n - 1 = 3
    assert p.n == 2 and p.mean == pytest.approx(0.25) and df == pytest.approx(3)
    half = t975(3) * math.sqrt(v_image)
    assert (p.low, p.high) == (pytest.approx(0.25 - half), pytest.approx(0.25 + half))
    # one seed: the image part alone, still an interval
    one = paired_difference_items({0: a[0]}, {0: b[0]})
    v = (0.25 * 0.75**2 + 0.75 * 0.25**2) * 4 / 3 / 4
    assert one.n == 1 and one.high - one.mean == pytest.approx(t975(3) * math.sqrt(v))
    assert "[" in one.fmt(100)
    same = paired_difference_items({0: a[0]}, {0: a[0]})
    assert (same.mean, same.low, same.high) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="same images"):
        paired_difference_items({0: [1, 0]}, {0: [1, 0, 1]})
    assert paired_difference_items({0: [1]}, {1: [1]}).fmt() == "–"


def test_image_sampling_is_what_seed_only_intervals_miss():
    # Two arms with no difference on the population of images: a tenth of the images favour
    # one arm or the other whatever the seed (half each way), and each seed flips a few
    # answers at random. Every seed is scored on the same sample of images, so the sample's
    # imbalance is shared by the seeds: the seed-only interval misses 0 far more often than
    # 5%; the interval that also counts the images holds its 95%.
    rng = random.Random(0)
    n, seeds, trials = 400, 3, 200
    covered = {"seeds": 0, "images": 0}
    for _ in range(trials):
        kind = [rng.choices((1, -1, 0), (0.05, 0.05, 0.9))[0] for _ in range(n)]
        base = [rng.random() < 0.85 for _ in range(n)]
        a, b = {}, {}
        for s in range(seeds):
            flip = lambda x: x != (rng.random() < 0.01)  # noqa: E731
            a[s] = [flip(k == -1 or (k == 0 and r)) for k, r in zip(kind, base)]
            b[s] = [flip(k == 1 or (k == 0 and r)) for k, r in zip(kind, base)]
        acc = {s: (sum(a[s]) / n, sum(b[s]) / n) for s in range(seeds)}
        only = paired_difference(
            {s: v[0] for s, v in acc.items()}, {s: v[1] for s, v in acc.items()}
        )
        both = paired_difference_items(a, b)
        assert both.mean == pytest.approx(only.mean)
        covered["seeds"] += only.low <= 0 <= only.high
        covered["images"] += both.low <= 0 <= both.high
    assert covered["images"] / trials >= 0.9
    assert covered["seeds"] / trials <= 0.75
