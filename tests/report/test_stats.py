"""Report statistics: mean/std and paired differences with Student-t intervals, by hand."""

import math

import pytest

from contrastlens.report.stats import paired_difference, summarize, t975


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
    half = 4.303 * sd / math.sqrt(3)
    assert p.n == 3 and p.mean == pytest.approx(0.02)
    assert (p.low, p.high) == (pytest.approx(0.02 - half), pytest.approx(0.02 + half))
    assert p.significant  # the interval excludes 0
    noisy = paired_difference({0: 0.8, 1: 0.8}, {0: 0.9, 1: 0.7})
    assert not noisy.significant
    assert "1 seed" in paired_difference({0: 0.5}, {0: 0.6}).fmt(100)


def test_t_table():
    assert t975(1) == 12.706 and t975(2) == 4.303 and t975(100) == 1.960
    with pytest.raises(ValueError):
        t975(0)
