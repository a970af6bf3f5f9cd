"""Generated property tests (hypothesis) for the similarity statistics: pair_stats,
SimilarityAccumulator, StreamingHistogram and similarity_histograms.

For random batches -- B in 2..64, D in 1..64, float32 and float64, ids with duplicates (all
equal included: no negatives), five shapes of data, rows of any scale, random splits of a
dataset into update batches and merged accumulators -- the statistics

  (a) are finite (NaN only where documented: no negative pairs);
  (b) equal the slow pair loops of tests/reference.py (`pair_statistics`,
      `histogram_counts`): float64 to 1e-12; float32 input (pair_stats and the histograms
      compute in float32) to C32 * eps32 * (1 + kappa), kappa = 4 for the uniformity (its
      logits are 4 s - 4), 1 elsewhere; the accumulator always sums in float64, so float32
      input matches the float64 reference of the same numbers to 1e-12 as well;
  (c) do not depend on the order of the rows, on swapping the views, on rescaling rows (they
      are normalized), nor on how a dataset is cut into batches or accumulators;
  (d) reject invalid combinations with a ValueError whose message names the problem.

Histogram bins are compared up to the values within a rounding error of a bin edge (which
may fall either side in float32). Shape legend: B (= N) rows, D dimension, H bins.
"""

from __future__ import annotations

import math
import re

import pytest
import reference as ref
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_profiles import STRUCTURES, given_settings, make_ids, make_views

from contrastlens.similarity import (
    SimilarityAccumulator,
    StreamingHistogram,
    pair_stats,
    similarity_histograms,
)

EPS32 = torch.finfo(torch.float32).eps
TOL64 = 1e-12
# float32 budget in units of eps32 * (1 + kappa); the worst measured over ~9,000 random cases
# was 1.5 (alignment), 1.0 (uniformity), 0.7 (quantiles), 0.5 (means, variances). float64: 1e-15.
C32 = 16.0
KAPPA = {"uniformity": 4.0}
LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


pytestmark = pytest.mark.usefixtures("one_thread")


@st.composite
def two_views(draw, *, ids: bool = True, max_rows: int = 64, scale_rows: bool = True):
    """(z1, z2, ids, seed): float64 or float32 (B, D) views, B in 2..max_rows (half the draws
    <= 8), D in 1..64; ids None or with duplicates (rarely all equal)."""
    B = draw(st.one_of(st.integers(2, 8), st.integers(2, max_rows)), label="B")
    D = draw(st.integers(1, 64), label="D")
    dtype = draw(st.sampled_from([torch.float64, torch.float32]), label="dtype")
    structure = draw(st.sampled_from(STRUCTURES), label="structure")
    seed = draw(st.integers(0, 2**31 - 1), label="seed")
    z1, z2, _ = make_views(seed, B, D, structure, scale_rows=scale_rows)
    ids_B = None
    if ids and draw(st.booleans(), label="with ids"):
        ids_B = make_ids(seed, B, draw(st.integers(1, B), label="distinct"), all_equal_ok=True)
    return z1.to(dtype), z2.to(dtype), ids_B, seed


def tolerance(dtype: torch.dtype, field: str = "") -> float:
    if dtype == torch.float64:
        return TOL64
    return C32 * EPS32 * (1.0 + KAPPA.get(field, 1.0))


def assert_number_close(got: float, want: float, tol: float, what: str) -> None:
    if math.isnan(want):
        assert math.isnan(got), f"{what}: {got}, expected nan (no pairs)"
        return
    assert math.isfinite(got), f"{what} is {got}"
    assert abs(got - want) <= tol * (1.0 + abs(want)), f"{what}: {got} != {want} (tol {tol})"


# ---------------------------------------------------------------------------------------------
# pair_stats
# ---------------------------------------------------------------------------------------------

FLOAT_FIELDS = (
    "pos_mean",
    "pos_var",
    "neg_mean",
    "neg_var",
    "within_mean",
    "within_var",
    "alignment",
    "uniformity",
)


def assert_stats_close(got, want: dict, dtype: torch.dtype) -> None:
    """A PairStats against the reference dict (or another PairStats' dict)."""
    for key in ("batch_size", "neg_count", "within_count"):
        assert getattr(got, key) == want[key], key
    for key in FLOAT_FIELDS:
        assert_number_close(getattr(got, key), want[key], tolerance(dtype, key), key)
    for key in ("pos_quantiles", "neg_quantiles"):
        assert len(getattr(got, key)) == len(want[key])
        for level, g, w in zip(LEVELS, getattr(got, key), want[key]):
            assert_number_close(g, w, tolerance(dtype), f"{key}[{level}]")


@given_settings(250)
@given(views=two_views(), n=st.one_of(st.none(), st.integers(2, 10**7)))
def test_pair_stats_matches_reference(views, n):
    z1, z2, ids, _ = views
    got = pair_stats(z1, z2, ids=ids, n=n)
    want = ref.pair_statistics(z1, z2, ids=ids, levels=LEVELS)
    assert_stats_close(got, want, z1.dtype)
    assert got.quantile_levels == LEVELS and got.n == n
    if n is None:
        assert got.optimum is None and got.excess is None
    else:
        assert got.optimum == -1.0 / (n - 1)
        assert_number_close(got.excess, want["neg_mean"] + 1.0 / (n - 1), tolerance(z1.dtype), "x")
    if want["neg_count"]:  # (a): finite whenever there are negatives
        assert all(math.isfinite(v) for v in got.as_dict().values() if isinstance(v, float))
    flat = got.as_dict(prefix="sim/")
    assert flat["sim/batch_size"] == z1.shape[0]
    assert repr(flat["sim/neg_q50"]) == repr(got.neg_quantiles[2])  # nan included


@given_settings(150)
@given(views=two_views(max_rows=32), spread=st.floats(0.0, 3.0))
def test_pair_stats_invariant_to_order_view_swap_and_scale(views, spread):
    z1, z2, ids, seed = views
    base = pair_stats(z1, z2, ids=ids).as_dict()
    g = torch.Generator().manual_seed(seed + 2)
    perm = torch.randperm(z1.shape[0], generator=g)

    def factors():
        u = torch.rand(z1.shape[0], 1, generator=g, dtype=torch.float64)
        return torch.exp((2 * u - 1) * spread * math.log(10.0)).to(z1.dtype)

    variants = {
        "permuted rows": pair_stats(z1[perm], z2[perm], ids=None if ids is None else ids[perm]),
        "swapped views": pair_stats(z2, z1, ids=ids),
        "rescaled rows": pair_stats(z1 * factors(), z2 * factors(), ids=ids),
    }
    for what, stats in variants.items():
        for key, value in stats.as_dict().items():
            if isinstance(value, float):
                field = key.split("_q")[0] if "_q" in key else key
                assert_number_close(value, base[key], tolerance(z1.dtype, field), f"{what} {key}")
            else:
                assert value == base[key], f"{what} {key}"


# ---------------------------------------------------------------------------------------------
# SimilarityAccumulator
# ---------------------------------------------------------------------------------------------


@given_settings(200)
@given(
    views=two_views(ids=False, scale_rows=False),
    scale=st.floats(-2.0, 2.0).map(lambda e: 10.0**e),
    normalize=st.booleans(),
    cuts=st.lists(st.floats(0.0, 1.0), max_size=6),
    split=st.floats(0.0, 1.0),
)
def test_accumulator_matches_reference_for_any_batching(views, scale, normalize, cuts, split):
    """Exact float64 moments over all n(n-1) pairs, whatever the update batches (empty and
    single-row ones included), the merge point and the input dtype."""
    z1, z2, _, _ = views
    z1, z2 = z1 * scale, z2 * scale
    N = z1.shape[0]
    bounds = sorted({0, N, *(round(c * N) for c in cuts)})
    middle = round(split * (len(bounds) - 1))
    first, second = (
        SimilarityAccumulator(normalize=normalize),
        SimilarityAccumulator(normalize=normalize),
    )
    for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        (first if k < middle else second).update(z1[a:b], z2[a:b])
    got = first.merge(second).result()
    want = ref.pair_statistics(z1, z2, normalize=normalize)
    assert got.n == N and got.neg_count == N * (N - 1) and got.within_count == N * (N - 1)
    # unnormalized moments scale with the largest |x.y|; normalized ones are cosines
    size = 1.0
    if not normalize:
        norm1, norm2 = (float(z.double().norm(dim=1).max()) for z in (z1, z2))
        size = max(norm1 * norm2, norm1**2, norm2**2, 1.0)
    for key in ("pos", "neg", "within"):
        assert_number_close(
            getattr(got, f"{key}_mean") / size, want[f"{key}_mean"] / size, 1e-12, key
        )
        assert_number_close(
            getattr(got, f"{key}_var") / size**2, want[f"{key}_var"] / size**2, 1e-12, key
        )
    assert got.optimum == -1.0 / (N - 1)
    assert_number_close(got.excess, got.neg_mean - got.optimum, 1e-15, "excess")


# ---------------------------------------------------------------------------------------------
# Histograms
# ---------------------------------------------------------------------------------------------


def ambiguous(values: list[float], bins: int, slack: float, lo=-1.0, hi=1.0) -> int:
    """How many values lie within `slack` of an interior bin edge (either side is right)."""
    width = (hi - lo) / bins
    count = 0
    for x in values:
        k = round((x - lo) / width)
        if 0 < k < bins and abs(x - (lo + k * width)) <= slack:
            count += 1
    return count


def assert_counts_close(got: torch.Tensor, want: list[int], values, bins, slack, what):
    assert int(got.sum()) == sum(want), f"{what}: total {int(got.sum())} != {sum(want)}"
    moved = int((got - torch.tensor(want)).abs().sum())
    assert moved <= 2 * ambiguous(values, bins, slack), f"{what}: counts differ by {moved}"


def pair_values(z1, z2):
    """Float64 positives, ordered cross-view negatives, within-view pairs i < j (lists)."""
    U, V = ref.unit(z1.double()), ref.unit(z2.double())
    N = U.shape[0]
    cross, uu, vv = (U @ V.T).tolist(), (U @ U.T).tolist(), (V @ V.T).tolist()
    pos = [cross[i][i] for i in range(N)]
    neg = [cross[i][j] for i in range(N) for j in range(N) if i != j]
    within = [m[i][j] for m in (uu, vv) for i in range(N) for j in range(i + 1, N)]
    return pos, neg, within


@given_settings(120)
@given(
    views=two_views(ids=False, max_rows=40),
    bins=st.integers(1, 100),
    block=st.integers(1, 48),
)
def test_exact_histograms_match_reference_for_any_block(views, bins, block):
    z1, z2, _, _ = views
    N, D = z1.shape
    h = similarity_histograms(z1, z2, bins=bins, block=block)
    assert h.exact and h.sample_size is None
    slack = 4 * (D + 4) * EPS32  # computed in float32: a few ulps per term of the dot product
    for name, values in zip(("pos", "neg", "within"), pair_values(z1, z2)):
        hist = getattr(h, name)
        assert hist.bins == bins and hist.total == len(values)
        want = ref.histogram_counts(values, bins)
        assert_counts_close(hist.counts_H, want, values, bins, slack, name)
        assert hist.density().sum().item() * 2.0 / bins == pytest.approx(1.0)


@given_settings(80)
@given(
    views=two_views(ids=False, max_rows=40),
    bins=st.integers(1, 60),
    sample=st.integers(1, 3000),
    seed=st.integers(0, 2**31 - 1),
)
def test_sampled_histograms_count_sample_pairs_of_the_data(views, bins, sample, seed):
    z1, z2, _, _ = views
    h = similarity_histograms(z1, z2, bins=bins, sample=sample, seed=seed)
    again = similarity_histograms(z1, z2, bins=bins, sample=sample, seed=seed)
    assert not h.exact and h.sample_size == sample
    assert h.neg.total == sample and h.within.total == sample and h.pos.total == z1.shape[0]
    assert torch.equal(h.neg.counts_H, again.neg.counts_H)  # deterministic given the seed
    exact = similarity_histograms(z1, z2, bins=bins)
    for name in ("neg", "within"):  # sampled pairs are real pairs: inside the exact support
        support = getattr(exact, name).counts_H > 0
        near = support | torch.roll(support, 1) | torch.roll(support, -1)  # +- one bin
        outside = getattr(h, name).counts_H[~near]
        assert int(outside.sum()) == 0, f"{name}: sampled values where no pair lies"


@given_settings(120)
@given(
    values=st.lists(st.floats(-3.0, 3.0), max_size=200),
    bins=st.integers(1, 50),
    lo=st.floats(-2.0, 1.0),
    width=st.floats(0.01, 3.0),
    cut=st.integers(0, 200),
)
def test_streaming_histogram_matches_reference_and_chunking(values, bins, lo, width, cut):
    hi = lo + width
    x = torch.tensor(values, dtype=torch.float64)
    whole = StreamingHistogram(bins, lo, hi).update(x)
    chunks = StreamingHistogram(bins, lo, hi).update(x[:cut]).update(x[cut:])
    assert torch.equal(whole.counts_H, chunks.counts_H) and whole.total == len(values)
    want = ref.histogram_counts(values, bins, lo, hi)
    slack = 1e-12 * (1.0 + abs(lo) + abs(hi))
    assert_counts_close(whole.counts_H, want, values, bins, slack, "counts")
    assert whole.edges[0].item() == lo and whole.edges[-1].item() == pytest.approx(hi)
    if values:
        assert whole.density().sum().item() * width / bins == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# (d) invalid combinations
# ---------------------------------------------------------------------------------------------


@st.composite
def invalid_calls(draw):
    """(fault, thunk, message regex): one fault on an otherwise valid call."""
    B = draw(st.integers(2, 12), label="B")
    D = draw(st.integers(1, 12), label="D")
    k = draw(st.integers(1, 4), label="k")
    dtype = draw(st.sampled_from([torch.float64, torch.float32]), label="dtype")
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1), label="seed"))
    z1, z2 = (
        torch.randn(B, D, generator=g, dtype=dtype),
        torch.randn(B, D, generator=g, dtype=dtype),
    )
    odd_shape = draw(
        st.sampled_from([(B + k, D), (B, D + k), (D,), (1, B, D), (max(B - k, 1), D)]),
        label="other shape",
    )
    other = torch.randn(*odd_shape, dtype=dtype)
    fault = draw(
        st.sampled_from(
            [
                "pair_stats shape",
                "pair_stats one row",
                "pair_stats n",
                "pair_stats ids",
                "update shape",
                "update dimension",
                "result too few",
                "histograms shape",
                "histograms one row",
                "histograms bins",
                "histograms sample",
                "streaming range",
            ]
        )
    )
    swap = draw(st.booleans(), label="bad view first")
    pair = (other, z2) if swap else (z1, other)
    if fault == "pair_stats shape":
        message = re.escape("pair_stats needs two (B, D) views of equal shape")
        return fault, lambda: pair_stats(*pair), message
    if fault == "pair_stats one row":
        return fault, lambda: pair_stats(z1[:1], z2[:1]), "at least 2 pairs"
    if fault == "pair_stats n":
        n = draw(st.integers(-(10**6), 1), label="n")
        return fault, lambda: pair_stats(z1, z2, n=n), "dataset size n must be >= 2"
    if fault == "pair_stats ids":
        shape = draw(st.sampled_from([(B + k,), (B - 1,), (B, 1), (0,)]), label="ids shape")
        ids = torch.zeros(shape, dtype=torch.long)
        return fault, lambda: pair_stats(z1, z2, ids=ids), re.escape(f"ids must have shape ({B},)")
    if fault == "update shape":
        return fault, lambda: SimilarityAccumulator().update(*pair), r"update needs two \(B, D\)"
    if fault == "update dimension":
        acc = SimilarityAccumulator().update(z1, z2)
        w = torch.randn(B, D + k, dtype=dtype)
        return fault, lambda: acc.update(w, w), f"dimension changed: accumulator has D = {D}"
    if fault == "result too few":
        rows = draw(st.integers(0, 1), label="rows")
        acc = SimilarityAccumulator().update(z1[:rows], z2[:rows]) if rows else None
        acc = acc or SimilarityAccumulator()
        return fault, acc.result, f"need at least 2 instances for negative pairs, have n = {rows}"
    if fault == "histograms shape":
        return fault, lambda: similarity_histograms(*pair), r"need two \(N, D\) views with N >= 2"
    if fault == "histograms one row":
        return fault, lambda: similarity_histograms(z1[:1], z2[:1]), "need two .N, D. views"
    if fault == "histograms bins":
        bins = draw(st.integers(-5, 0), label="bins")
        return fault, lambda: similarity_histograms(z1, z2, bins=bins), "need bins >= 1"
    if fault == "histograms sample":
        sample = draw(st.integers(-5, 0), label="sample")
        return (
            fault,
            lambda: similarity_histograms(z1, z2, sample=sample),
            "sample must be a positive number of pairs",
        )
    lo = draw(st.floats(-2.0, 2.0), label="lo")
    hi = lo - draw(st.floats(0.0, 2.0), label="hi below lo")
    return fault, lambda: StreamingHistogram(10, lo, hi), "need bins >= 1 and hi > lo"


@given_settings(250)
@given(case=invalid_calls())
def test_invalid_combinations_raise_value_error(case):
    fault, thunk, message = case
    with pytest.raises(ValueError, match=message):
        thunk()


# ---------------------------------------------------------------------------------------------
# Library bugs found by the generated tests, now fixed: minimal repros kept as regression
# tests.
# ---------------------------------------------------------------------------------------------


def _small_views(B=5, D=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, D, generator=g, dtype=dtype), torch.randn(B, D, generator=g, dtype=dtype)


def _with(z: torch.Tensor, value: float) -> torch.Tensor:
    z = z.clone()
    z[1, 0] = value
    return z


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("which", ["z1_ND", "z2_ND"])
def test_histograms_reject_non_finite_embeddings(bad, which):
    # was: floor(NaN).long() = INT64_MIN, clamped into the first bin: NaN counted as -1
    z1, z2 = _small_views()
    args = {"z1_ND": z1, "z2_ND": z2}
    args[which] = _with(args[which], float(bad))
    with pytest.raises(ValueError, match=f"{which} contains NaN or Inf"):
        similarity_histograms(args["z1_ND"], args["z2_ND"], bins=10)


@pytest.mark.parametrize("what", ["pair_stats", "accumulator"])
@pytest.mark.parametrize("bad", ["nan", "inf", "no columns"])
def test_statistics_reject_non_finite_or_empty_embeddings(what, bad):
    # was: NaN statistics for NaN / Inf input, zeros for D = 0
    z1, z2 = _small_views()
    z1 = z1[:, :0] if bad == "no columns" else _with(z1, float(bad))
    z2 = z2[:, :0] if bad == "no columns" else z2
    message = "z1_BD must have at least one column" if bad == "no columns" else "z1_BD contains"
    with pytest.raises(ValueError, match=message):
        if what == "pair_stats":
            pair_stats(z1, z2)
        else:
            SimilarityAccumulator().update(z1, z2).result()


def test_accumulator_merge_of_another_dimension_is_a_value_error():
    # was: torch's RuntimeError 'The size of tensor a (3) must match ...'
    z1, z2 = _small_views()
    other = SimilarityAccumulator().update(torch.randn(3, 4), torch.randn(3, 4))
    acc = SimilarityAccumulator().update(z1, z2)
    with pytest.raises(ValueError, match="other has D = 4 but this accumulator has D = 3"):
        acc.merge(other)
    assert acc.n == 5  # left unchanged


@pytest.mark.parametrize("block", [0, -1, 2.0, True])
def test_histograms_reject_a_block_that_is_not_a_positive_integer(block):
    # was: range()'s 'arg 3 must not be zero' (0), silently empty histograms (-1)
    z1, z2 = _small_views()
    with pytest.raises(ValueError, match="block must be a positive integer"):
        similarity_histograms(z1, z2, block=block)


@pytest.mark.parametrize(
    "bad, message",
    [
        ("ids list", "ids must be a 1-D torch.Tensor"),
        ("quantile 1.5", r"quantile_levels must lie in \[0, 1\]"),
        ("quantile nan", r"quantile_levels must lie in \[0, 1\]"),
        ("quantile str", r"quantile_levels must lie in \[0, 1\]"),
        ("n nan", "n must be finite"),
        ("n inf", "n must be finite"),
        ("n 2.5", "n must be an integer dataset size > 1"),
    ],
)
def test_pair_stats_rejects_bad_arguments(bad, message):
    # was: AttributeError (ids list), torch's RuntimeError (quantile 1.5), accepted (n)
    z1, z2 = _small_views()
    kw = {
        "ids list": {"ids": [0, 1, 2, 3, 4]},
        "quantile 1.5": {"quantile_levels": (0.5, 1.5)},
        "quantile nan": {"quantile_levels": (float("nan"),)},
        "quantile str": {"quantile_levels": ("0.5",)},
        "n nan": {"n": float("nan")},
        "n inf": {"n": float("inf")},
        "n 2.5": {"n": 2.5},
    }[bad]
    with pytest.raises(ValueError, match=message):
        pair_stats(z1, z2, **kw)


def test_pair_stats_accepts_an_integral_n_like_vrn_loss():
    np = pytest.importorskip("numpy")
    z1, z2 = _small_views()
    want = pair_stats(z1, z2, n=1000)
    for n in (np.int64(1000), 1000.0):
        got = pair_stats(z1, z2, n=n)
        assert got.n == 1000 and type(got.n) is int and got.optimum == want.optimum


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_pair_stats_rejects_non_finite_ids(bad):
    # was: a NaN id differs from itself, so its positive u_i.v_i counted as a negative
    z1, z2 = _small_views()
    ids = torch.tensor([0.0, 1.0, 2.0, 3.0, bad])
    with pytest.raises(ValueError, match="ids contains NaN or Inf"):
        pair_stats(z1, z2, ids=ids)
