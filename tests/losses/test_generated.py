"""Generated property tests (hypothesis) for every loss in contrastlens.losses.

For random batches -- B in 2..64, D in 1..64, float32 and float64, instance ids with
duplicates, temperatures log-uniform in [0.01, 10], the within-view / cross-view / decoupled
switches, MoCo and VRN queues, five shapes of data (independent, aligned, identical, collapsed
onto one point, sharing a mean direction), rows of any scale -- each loss

  (a) is finite, and so are its gradients;
  (b) equals its slow loop in tests/reference.py in value and in the gradient of both views;
  (c) is invariant to permuting the batch (rows of both views, ids and queue together), to
      swapping the two views and to rescaling every row by a positive number (rows are
      normalized inside), and its gradients follow: rows move with the permutation, and
      scale by 1/c with the row;
  (d) rejects invalid combinations with a ValueError whose message names the problem.

Tolerances. kappa is a loss's conditioning, the factor by which an error in a cosine
similarity is amplified in its logits: 1/t for the InfoNCE family and MoCo, t + |b| for SigLIP
(t = 1/temperature), p 2^p for VRN, 2 for spectral CL. Gradients are compared row by row in
units of (1 + kappa) / (B ||z_i||), the size of one entry of a mean over B anchors through the
normalization (times B - 1 for SigLIP, whose psi carries the factor m - 1). float64 matches the
reference to rtol = atol = 1e-12. float32 is compared with the float64 reference of the SAME
float32 numbers, so the difference is float32 rounding alone -- a few ulps of each similarity
times kappa: rtol = atol = C32 eps32 (1 + kappa), C32 = 16. At t = 0.01 that is 2e-4: one ulp
of a cosine (6e-8) is 6e-6 in a logit s/t.

Example counts (default profile) are in each test's `given_settings(n)`; see
tests/hypothesis_profiles.py for the long profile. Shape legend: B rows, D dimension,
K queue length.
"""

# ruff: noqa: N815  (the dataclass fields carry shape suffixes, the house style)
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pytest
import reference as ref
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis_profiles import STRUCTURES, given_settings, make_ids, make_views

from contrastlens import losses

EPS32 = torch.finfo(torch.float32).eps
TOL64 = 1e-12  # measured worst over ~20,000 random cases: 8e-15 (value), 4e-15 (gradient)
# float32 rounding budget in units of eps32 * (1 + kappa). Measured worst over ~20,000 random
# cases (values; gradients in grad_units): InfoNCE family 0.8; 3.2, MoCo 0.9; 0.5, VRN 0.3;
# 0.2, SigLIP / spectral / generic Def 3.2 0.7; 1.3.
C32 = 16.0


pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------------------------
# Generated batches
# ---------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """Two float64 master views (cast to `dtype` by the tests), ids and a queue."""

    z1_BD: torch.Tensor
    z2_BD: torch.Tensor
    dtype: torch.dtype
    ids_B: torch.Tensor | None
    queue_KD: torch.Tensor | None
    seed: int

    @property
    def B(self) -> int:
        return self.z1_BD.shape[0]


@st.composite
def batches(draw, *, ids: bool = True, queue: bool = False, max_rows: int = 64):
    """A Batch: B in 2..max_rows (half the draws <= 8), D in 1..64, dtype, structure, ids
    (None or with duplicates), queue K in 1..32 when asked."""
    B = draw(st.one_of(st.integers(2, 8), st.integers(2, max_rows)), label="B")
    D = draw(st.integers(1, 64), label="D")
    dtype = draw(st.sampled_from([torch.float64, torch.float32]), label="dtype")
    structure = draw(st.sampled_from(STRUCTURES), label="structure")
    K = draw(st.integers(1, 32), label="K") if queue else 0
    seed = draw(st.integers(0, 2**31 - 1), label="seed")
    z1, z2, queue_KD = make_views(seed, B, D, structure, K)
    ids_B = None
    if ids and draw(st.booleans(), label="with ids"):
        ids_B = make_ids(seed, B, draw(st.integers(1, B), label="distinct ids"))
    return Batch(z1, z2, dtype, ids_B, queue_KD, seed)


temperatures = st.floats(math.log(0.01), math.log(10.0)).map(math.exp)


# ---------------------------------------------------------------------------------------------
# Comparing a loss with its reference
# ---------------------------------------------------------------------------------------------


def tolerance(dtype: torch.dtype, kappa: float) -> float:
    return TOL64 if dtype == torch.float64 else C32 * EPS32 * (1.0 + kappa)


def value_and_grads(fn, z1_BD, z2_BD):
    """fn(x1, x2) with fresh leaves; returns (value, grad of x1, grad of x2)."""
    x1 = z1_BD.detach().clone().requires_grad_()
    x2 = z2_BD.detach().clone().requires_grad_()
    value = fn(x1, x2)
    g1, g2 = torch.autograd.grad(value, (x1, x2))
    return value, g1, g2


def grad_units(z_BD: torch.Tensor, kappa: float, terms: int = 1) -> torch.Tensor:
    """(B, 1) size of one gradient entry of a mean over B anchors, each a mean (terms = 1) or a
    sum of `terms` pair terms: (1 + kappa) terms / (B ||z_i||)."""
    return (1.0 + kappa) * terms / (z_BD.shape[0] * z_BD.double().norm(dim=1, keepdim=True))


def assert_finite(value, g1, g2):
    assert torch.isfinite(value), f"loss is {value.item()}"
    assert torch.isfinite(g1).all() and torch.isfinite(g2).all(), "gradient is not finite"


def assert_matches_reference(fast, slow, batch: Batch, kappa: float, terms: int = 1) -> None:
    """(a) finite; (b) value and both gradients (in `grad_units`) equal the float64 reference,
    to `tolerance`."""
    x1, x2 = batch.z1_BD.to(batch.dtype), batch.z2_BD.to(batch.dtype)
    value, g1, g2 = value_and_grads(fast, x1, x2)
    assert value.dtype == batch.dtype and value.dim() == 0
    assert_finite(value, g1, g2)
    want, w1, w2 = value_and_grads(slow, x1.double(), x2.double())
    tol = tolerance(batch.dtype, kappa)
    torch.testing.assert_close(value.double(), want, rtol=tol, atol=tol, msg="value")
    for got, exp, x in ((g1, w1, x1), (g2, w2, x2)):
        unit = grad_units(x, kappa, terms)
        torch.testing.assert_close(got.double() / unit, exp / unit, rtol=tol, atol=tol)


def cast(t: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    return None if t is None else t.to(dtype)


# ---------------------------------------------------------------------------------------------
# (a) + (b): every loss against tests/reference.py
# ---------------------------------------------------------------------------------------------

# name -> (cross_view, within_view, decoupled); "family" draws its own switches
NAMED_INFONCE = {
    "infonce": (losses.infonce_loss, (True, False, False)),
    "simclr": (losses.simclr_loss, (True, True, False)),
    "dcl": (losses.dcl_loss, (True, True, True)),
    "dhel": (losses.dhel_loss, (False, True, True)),
}
SWITCHES = [
    (c, w, d) for c in (True, False) for w in (True, False) for d in (True, False) if c or w
]


@given_settings(200)
@given(
    batch=batches(),
    t=temperatures,
    method=st.sampled_from([*NAMED_INFONCE, "family"]),
    switches=st.sampled_from(SWITCHES),
)
def test_infonce_family_matches_reference(batch, t, method, switches):
    if method == "family":
        cross, within, decoupled = switches

        def fast(z1, z2):
            return losses.infonce_family(
                z1,
                z2,
                temperature=t,
                cross_view=cross,
                within_view=within,
                decoupled=decoupled,
                ids=batch.ids_B,
            )
    else:
        fn, (cross, within, decoupled) = NAMED_INFONCE[method]

        def fast(z1, z2):
            return fn(z1, z2, temperature=t, ids=batch.ids_B)

    def slow(z1, z2):
        return ref.infonce_family(
            z1,
            z2,
            temperature=t,
            cross_view=cross,
            within_view=within,
            decoupled=decoupled,
            ids=batch.ids_B,
        )

    assert_matches_reference(fast, slow, batch, kappa=1.0 / t)


# phi, psi pairs for the generic additive_loss (Def 3.2): smooth, increasing psi or not
ADDITIVE_FUNCTIONS = {
    "linear-square": (lambda x: x, lambda x: x * x),
    "log-exp": (lambda x: torch.log(2.0 + x), lambda x: torch.exp(2.0 * x)),
    "tanh-cube": (lambda x: torch.tanh(3.0 * x), lambda x: (x + 1.0) ** 3),
}


@given_settings(200)
@given(
    batch=batches(),
    kind=st.sampled_from(["siglip", "spectral", "additive"]),
    t=temperatures,
    b=st.floats(-20.0, 20.0),
    views=st.sampled_from([(True, False), (False, True), (True, True)]),
    functions=st.sampled_from(sorted(ADDITIVE_FUNCTIONS)),
    c=st.tuples(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 3.0)).map(
        lambda c: (c[0], c[1]) if c[0] + c[1] > 0 else (c[0], 1.0)
    ),
)
def test_additive_family_matches_reference(batch, kind, t, b, views, functions, c):
    """SigLIP (t_sig = 1/t, bias b), spectral CL and a generic Def 3.2 member."""
    cross, within = views
    ids = batch.ids_B
    terms = 1
    if kind == "siglip":
        t_sig = 1.0 / t

        def fast(z1, z2):
            return losses.sigmoid_loss(
                z1, z2, t=t_sig, b=b, cross_view=cross, within_view=within, ids=ids
            )

        def slow(z1, z2):
            return ref.sigmoid(z1, z2, t=t_sig, b=b, cross_view=cross, within_view=within, ids=ids)

        kappa = t_sig + abs(b)
        terms = batch.B - 1  # psi carries (m - 1): a sum over the negatives, not a mean
        # float64 to TOL64 also beyond F.softplus's threshold (y > 20, where it returns y):
        # the library computes softplus exactly, see
        # test_siglip_float64_is_exact_beyond_the_softplus_threshold.
    elif kind == "spectral":

        def fast(z1, z2):
            return losses.spectral_loss(z1, z2, cross_view=cross, within_view=within, ids=ids)

        def slow(z1, z2):
            return ref.spectral(z1, z2, cross_view=cross, within_view=within, ids=ids)

        kappa = 2.0
    else:
        phi, psi = ADDITIVE_FUNCTIONS[functions]
        c1, c2 = c

        def fast(z1, z2):
            return losses.additive_loss(z1, z2, phi=phi, psi=psi, c1=c1, c2=c2, ids=ids)

        def slow(z1, z2):
            return ref.additive(z1, z2, phi=phi, psi=psi, c1=c1, c2=c2, ids=ids)

        kappa = 12.0 * (1.0 + c1 + c2)  # |psi'| <= 12 on [-1, 1] (the cube)
    assert_matches_reference(fast, slow, batch, kappa=kappa, terms=terms)


@given_settings(200)
@given(batch=batches(ids=False, queue=True), t=temperatures)
def test_moco_matches_reference(batch, t):
    """MoCo v2 with a (K, D) queue, K in 1..32; B = 2.. (MoCo's negatives are the queue)."""
    queue = batch.queue_KD.to(batch.dtype)

    def fast(q, k):
        return losses.moco_loss(q, k, queue, temperature=t)

    def slow(q, k):
        return ref.moco(q, k, queue.double(), temperature=t)

    assert_matches_reference(fast, slow, batch, kappa=1.0 / t)


@given_settings(250)
@given(
    batch=batches(queue=True),
    target=st.one_of(
        st.integers(2, 10**7).map(lambda n: {"n": n}),
        st.floats(-1.0, 1.0).map(lambda d: {"delta": d}),
    ),
    p=st.sampled_from([2, 2.0, 1.5, 3, 4]),
    within_view=st.booleans(),
    with_queue=st.booleans(),
)
def test_vrn_matches_reference(batch, target, p, within_view, with_queue):
    """VRN (Def 5.7): n or delta, p (2 uses the Gram-matrix path), ids, within_view, queue."""
    queue = batch.queue_KD.to(batch.dtype) if with_queue else None
    kw = dict(p=p, ids=batch.ids_B, within_view=within_view, **target)

    def fast(z1, z2):
        return losses.vrn_loss(z1, z2, queue=queue, **kw)

    def slow(z1, z2):
        return ref.vrn(z1, z2, queue=cast(queue, torch.float64), **kw)

    assert_matches_reference(fast, slow, batch, kappa=p * 2.0**p)


# ---------------------------------------------------------------------------------------------
# (c) invariance to permuting the batch, swapping the views and rescaling rows
# ---------------------------------------------------------------------------------------------


def _loss_for(name: str, t: float, b: float, p: float):
    """name -> (fn(z1, z2, ids, queue), kappa, sums over the negatives, symmetric in views)."""
    fns = {
        "infonce": (lambda z1, z2, i, q: losses.infonce_loss(z1, z2, temperature=t, ids=i), 1 / t),
        "simclr": (lambda z1, z2, i, q: losses.simclr_loss(z1, z2, temperature=t, ids=i), 1 / t),
        "dcl": (lambda z1, z2, i, q: losses.dcl_loss(z1, z2, temperature=t, ids=i), 1 / t),
        "dhel": (lambda z1, z2, i, q: losses.dhel_loss(z1, z2, temperature=t, ids=i), 1 / t),
        "infonce_decoupled": (
            lambda z1, z2, i, q: losses.infonce_family(
                z1, z2, temperature=t, decoupled=True, ids=i
            ),
            1 / t,
        ),
        "siglip_within": (
            lambda z1, z2, i, q: losses.sigmoid_loss(z1, z2, t=1 / t, b=b, within_view=True, ids=i),
            1 / t + abs(b),
        ),
        "siglip": (
            lambda z1, z2, i, q: losses.sigmoid_loss(z1, z2, t=1 / t, b=b, ids=i),
            1 / t + abs(b),
        ),
        "spectral_within": (
            lambda z1, z2, i, q: losses.spectral_loss(z1, z2, within_view=True, ids=i),
            2.0,
        ),
        "moco": (lambda z1, z2, i, q: losses.moco_loss(z1, z2, q, temperature=t), 1 / t),
        "vrn": (
            lambda z1, z2, i, q: losses.vrn_loss(z1, z2, n=1000, p=p, ids=i, within_view=True),
            p * 2.0**p,
        ),
        "vrn_queue": (
            lambda z1, z2, i, q: losses.vrn_loss(z1, z2, delta=-0.05, p=p, ids=i, queue=q),
            p * 2.0**p,
        ),
    }
    fn, kappa = fns[name]
    sums = name.startswith("siglip")  # psi carries (m - 1): a sum over negatives, not a mean
    symmetric = name not in ("moco", "vrn_queue")  # MoCo / the queue pairs single out q
    return fn, kappa, sums, symmetric


INVARIANCE_LOSSES = [
    "infonce",
    "simclr",
    "dcl",
    "dhel",
    "infonce_decoupled",
    "siglip",
    "siglip_within",
    "spectral_within",
    "moco",
    "vrn",
    "vrn_queue",
]


@given_settings(350)
@given(
    batch=batches(queue=True, max_rows=32),
    name=st.sampled_from(INVARIANCE_LOSSES),
    t=temperatures,
    b=st.floats(-10.0, 10.0),
    p=st.sampled_from([2, 3]),
    scale_range=st.floats(0.0, 3.0),
)
def test_invariant_to_permutation_view_swap_and_row_scale(batch, name, t, b, p, scale_range):
    fn, kappa, sums, symmetric = _loss_for(name, t, b, p)
    terms = batch.B - 1 if sums else 1
    ids = None if name == "moco" else batch.ids_B
    queue = batch.queue_KD.to(batch.dtype)
    x1, x2 = batch.z1_BD.to(batch.dtype), batch.z2_BD.to(batch.dtype)
    tol = tolerance(batch.dtype, kappa)
    value, g1, g2 = value_and_grads(lambda a, c: fn(a, c, ids, queue), x1, x2)
    assert_finite(value, g1, g2)

    def close_value(other, what):
        torch.testing.assert_close(other, value, rtol=tol, atol=tol, msg=what)

    def close_grad(got, want, z, what):
        unit = grad_units(z, kappa, terms).to(got.dtype)
        torch.testing.assert_close(got / unit, want / unit, rtol=tol, atol=tol, msg=what)

    g = torch.Generator().manual_seed(batch.seed + 2)
    # permutation of the batch (ids with it) and of the queue
    perm = torch.randperm(batch.B, generator=g)
    perm_q = torch.randperm(queue.shape[0], generator=g)
    ids_p = None if ids is None else ids[perm]
    v, h1, h2 = value_and_grads(lambda a, c: fn(a, c, ids_p, queue[perm_q]), x1[perm], x2[perm])
    close_value(v, "permuted batch")
    close_grad(h1, g1[perm], x1[perm], "gradient of z1 under permutation")
    close_grad(h2, g2[perm], x2[perm], "gradient of z2 under permutation")

    # rescaling every row (and every queue row) by a positive factor in 10^[-r, r]
    def factors(rows):
        u = torch.rand(rows, 1, generator=g, dtype=torch.float64)
        return torch.exp((2 * u - 1) * scale_range * math.log(10.0)).to(batch.dtype)

    c1, c2, cq = factors(batch.B), factors(batch.B), factors(queue.shape[0])
    y1, y2 = x1 * c1, x2 * c2
    v, h1, h2 = value_and_grads(lambda a, c: fn(a, c, ids, queue * cq), y1, y2)
    close_value(v, "rescaled rows")
    close_grad(h1, g1 / c1, y1, "gradient of z1 under rescaling: scales by 1/c")
    close_grad(h2, g2 / c2, y2, "gradient of z2 under rescaling: scales by 1/c")

    if symmetric:
        v, h2, h1 = value_and_grads(lambda a, c: fn(a, c, ids, queue), x2, x1)
        close_value(v, "swapped views")
        close_grad(h1, g1, x1, "gradient of z1 with the views swapped")
        close_grad(h2, g2, x2, "gradient of z2 with the views swapped")


# ---------------------------------------------------------------------------------------------
# (d) invalid combinations: ValueError with a message naming the problem
# ---------------------------------------------------------------------------------------------

TEMPERATURE_LOSSES = {
    "infonce": losses.infonce_loss,
    "simclr": losses.simclr_loss,
    "dcl": losses.dcl_loss,
    "dhel": losses.dhel_loss,
}


def _call(name: str, z1, z2, default_queue, **kw):
    """A valid call of loss `name`, with `kw` overriding (or adding) arguments."""
    if name in TEMPERATURE_LOSSES:
        return TEMPERATURE_LOSSES[name](z1, z2, **{"temperature": 0.2, **kw})
    if name == "family":
        return losses.infonce_family(z1, z2, **{"temperature": 0.2, **kw})
    if name == "siglip":
        return losses.sigmoid_loss(z1, z2, **{"t": 10.0, "b": 10.0, **kw})
    if name == "spectral":
        return losses.spectral_loss(z1, z2, **kw)
    if name == "additive":
        args = {"phi": lambda x: x, "psi": lambda x: x * x, "c1": 1.0, "c2": 0.0, **kw}
        return losses.additive_loss(z1, z2, **args)
    if name == "moco":
        return losses.moco_loss(
            z1, z2, kw.pop("queue", default_queue), **{"temperature": 0.2, **kw}
        )
    assert name == "vrn", name
    if "n" not in kw and "delta" not in kw:
        kw["n"] = 1000
    return losses.vrn_loss(z1, z2, **kw)


ALL_LOSSES = [*TEMPERATURE_LOSSES, "family", "siglip", "spectral", "additive", "moco", "vrn"]
BAD_NUMBERS = [0.0, -0.0, -1e-3, -1.0, -1e9, float("nan"), float("inf"), float("-inf")]


@st.composite
def invalid_calls(draw):
    """(description, thunk, message regex): one fault on an otherwise valid call."""
    name = draw(st.sampled_from(ALL_LOSSES), label="loss")
    B = draw(st.integers(2, 16), label="B")
    D = draw(st.integers(1, 16), label="D")
    dtype = draw(st.sampled_from([torch.float64, torch.float32]), label="dtype")
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1), label="seed"))
    z1, z2 = (
        torch.randn(B, D, generator=g, dtype=dtype),
        torch.randn(B, D, generator=g, dtype=dtype),
    )
    faults = [
        "d_mismatch",
        "b_mismatch",
        "not_2d",
        "non_finite",
        "integer_dtype",
        "no_columns",
        "not_a_tensor",
    ]
    if name != "moco":  # MoCo takes one query (its negatives are the queue) and no ids
        faults += ["batch_of_one", "ids_length", "ids_2d", "ids_all_equal", "ids_not_tensor"]
    if name in TEMPERATURE_LOSSES or name in ("family", "moco"):
        faults += ["temperature"]
    if name == "family":
        faults += ["no_views"]
    if name == "siglip":
        faults += ["siglip_t", "siglip_b", "no_views"]
    if name == "spectral":
        faults += ["no_views_spectral"]
    if name == "additive":
        faults += ["c_negative", "c_zero", "c_non_finite"]
    if name in ("moco", "vrn"):
        faults += ["queue_d", "queue_non_finite", "queue_1d"]
    if name == "vrn":
        faults += ["n_small", "n_fraction", "n_and_delta", "neither", "delta_range", "p"]
    fault = draw(st.sampled_from(faults), label="fault")
    bad = draw(st.sampled_from(BAD_NUMBERS), label="bad number")
    k = draw(st.integers(1, 5), label="k")
    where = (draw(st.integers(0, B - 1)), draw(st.integers(0, D - 1)))
    which = draw(st.sampled_from(["z1", "z2"]), label="which view")
    first, other = ("z1", "z2") if name != "moco" else ("q", "k")
    ids_ok = torch.arange(B)

    queue = torch.randn(5, D, generator=g, dtype=dtype)

    def call(**kw):
        args = {"z1": z1, "z2": z2, **kw}
        return lambda: _call(name, args.pop("z1"), args.pop("z2"), queue, **args)

    if fault == "d_mismatch":
        return fault, call(z2=torch.randn(B, D + k, dtype=dtype)), f"{first} and {other} must"
    if fault == "b_mismatch":
        return fault, call(z2=torch.randn(B + k, D, dtype=dtype)), f"{first} and {other} must"
    if fault == "not_2d":
        shape = draw(st.sampled_from([(D,), (1, B, D), (B, D, 1)]), label="shape")
        zz = torch.randn(*shape, dtype=dtype)
        return fault, call(z1=zz, z2=zz.clone()), f"{first} must be 2-D"
    if fault == "non_finite":
        zz = (z1 if which == "z1" else z2).clone()
        zz[where] = draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))
        label = {"z1": first, "z2": other}[which]
        return fault, call(**{which: zz}), f"{label} contains NaN or Inf"
    if fault == "integer_dtype":
        return fault, call(z1=z1.long(), z2=z2.long()), "must be a floating-point tensor"
    if fault == "no_columns":
        return fault, call(z1=z1[:, :0], z2=z2[:, :0]), "must have at least one column"
    if fault == "not_a_tensor":
        return fault, call(z1=z1.tolist()), f"{first} must be a torch.Tensor"
    if fault == "batch_of_one":
        return fault, call(z1=z1[:1], z2=z2[:1]), r"need B >= 2 rows"
    if fault == "ids_length":
        n_ids = draw(st.sampled_from([B - 1, B + k, 0]))
        return fault, call(ids=torch.arange(n_ids)), re.escape(f"ids must have shape ({B},)")
    if fault == "ids_2d":
        return fault, call(ids=ids_ok[:, None]), re.escape(f"ids must have shape ({B},)")
    if fault == "ids_all_equal":
        return fault, call(ids=torch.full((B,), k)), "ids: some row shares its id with every row"
    if fault == "ids_not_tensor":
        return fault, call(ids=ids_ok.tolist()), "ids must be a 1-D torch.Tensor"
    if fault == "temperature":
        expect = "temperature must be > 0" if math.isfinite(bad) else "temperature must be finite"
        return fault, call(temperature=bad), expect
    if fault == "siglip_t":
        expect = "t must be > 0" if math.isfinite(bad) else "t must be finite"
        return fault, call(t=bad), expect
    if fault == "siglip_b":
        b = draw(st.sampled_from([float("nan"), float("inf"), float("-inf")]))
        return fault, call(b=b), "b must be finite"
    if fault == "no_views":
        return fault, call(cross_view=False, within_view=False), "cross_view, within_view"
    if fault == "no_views_spectral":
        return fault, call(cross_view=False, within_view=False), "c1, c2: at least one"
    if fault == "c_negative":
        arg = draw(st.sampled_from(["c1", "c2"]))
        return fault, call(**{arg: -abs(bad) if bad else -1.0}), f"{arg} must be"
    if fault == "c_zero":
        return fault, call(c1=0.0, c2=0), "c1, c2: at least one must be nonzero"
    if fault == "c_non_finite":
        arg = draw(st.sampled_from(["c1", "c2"]))
        return fault, call(**{arg: float("nan")}), f"{arg} must be finite"
    if fault == "queue_d":
        return fault, call(queue=torch.randn(4, D + k, dtype=dtype)), f"queue has D = {D + k}"
    if fault == "queue_non_finite":
        q = torch.randn(4, D, dtype=dtype)
        q[0, where[1]] = float("nan")
        return fault, call(queue=q), "queue contains NaN or Inf"
    if fault == "queue_1d":
        return fault, call(queue=torch.randn(D, dtype=dtype)), "queue must be 2-D"
    if fault == "n_small":
        n = draw(st.integers(-(10**6), 1), label="n")
        return fault, call(n=n), "n must be > 1"
    if fault == "n_fraction":
        n = draw(st.floats(1.01, 1e6).filter(lambda x: x != int(x)), label="n")
        return fault, call(n=n), "n must be an integer dataset size"
    if fault == "n_and_delta":
        return fault, call(n=100, delta=-0.01), "give exactly one of n"
    if fault == "neither":
        return fault, call(n=None), "give exactly one of n"
    if fault == "delta_range":
        delta = draw(st.one_of(st.floats(1.0001, 1e6), st.floats(-1e6, -1.0001)), label="delta")
        return fault, call(delta=delta), r"delta must lie in \[-1, 1\]"
    assert fault == "p"
    expect = "p must be > 0" if math.isfinite(bad) else "p must be finite"
    return fault, call(p=bad), expect


@given_settings(500)
@given(case=invalid_calls())
def test_invalid_combinations_raise_value_error(case):
    fault, thunk, message = case
    with pytest.raises(ValueError, match=message):
        thunk()


@given_settings(60)
@given(
    method=st.sampled_from(["dhel", "moco"]),
    temperature=st.sampled_from([*BAD_NUMBERS, 0.2]),
    impossible_within=st.booleans(),
    vrn=st.sampled_from(["off", "n", "delta", "both"]),
)
def test_objective_rejects_impossible_methods(method, temperature, impossible_within, vrn):
    """build_objective: DHEL without within-view negatives, MoCo with them, bad temperatures,
    VRN with both n and delta: a ValueError naming the argument, before anything runs."""
    kw = {"off": {}, "n": {"vrn_n": 100}, "delta": {"vrn_delta": -0.01}}.get(
        vrn, {"vrn_n": 100, "vrn_delta": -0.01}
    )
    weight = 0.0 if vrn == "off" else 1.0
    within = (method == "moco") == impossible_within  # DHEL needs True, MoCo needs False
    if not (math.isfinite(temperature) and temperature > 0):
        expected = "temperature must be"
    elif impossible_within:
        expected = "within_view: DHEL" if method == "dhel" else "within_view: MoCo"
    elif vrn == "both":
        expected = "give exactly one of n"
    else:
        objective = losses.build_objective(
            method, temperature=temperature, within_view=within, vrn_weight=weight, **kw
        )
        assert objective.within_view is within
        return
    with pytest.raises(ValueError, match=expected):
        losses.build_objective(
            method, temperature=temperature, within_view=within, vrn_weight=weight, **kw
        )


# ---------------------------------------------------------------------------------------------
# Library bugs found by the generated tests, now fixed: minimal repros kept as regression
# tests.
# ---------------------------------------------------------------------------------------------


def _small_views(B=4, D=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    return torch.randn(B, D, generator=g, dtype=dtype), torch.randn(B, D, generator=g, dtype=dtype)


def test_moco_with_an_empty_queue_is_a_value_error():
    # was: IndexError from amax() deep in _fused.negative_logsumexp
    q, k = _small_views()
    empty = torch.empty(0, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"queue must have at least one row"):
        losses.moco_loss(q, k, empty, temperature=0.2)
    with pytest.raises(ValueError, match=r"queue must have at least one row"):
        losses.vrn_loss(q, k, n=10, queue=empty)


@pytest.mark.parametrize("name", ["simclr", "siglip", "spectral", "vrn", "moco"])
def test_views_of_different_dtypes_are_a_value_error(name):
    # was: RuntimeError 'expected m1 and m2 to have the same dtype' from the matmul
    z1, z2 = _small_views()
    call = {
        "simclr": lambda a, b: losses.simclr_loss(a, b, temperature=0.2),
        "siglip": lambda a, b: losses.sigmoid_loss(a, b, t=10.0, b=10.0),
        "spectral": lambda a, b: losses.spectral_loss(a, b),
        "vrn": lambda a, b: losses.vrn_loss(a, b, n=100),
        "moco": lambda a, b: losses.moco_loss(a, b, b, temperature=0.2),
    }[name]
    first, other = ("q", "k") if name == "moco" else ("z1", "z2")
    message = f"{first} and {other} must have the same dtype, got torch.float32 and torch.float64"
    with pytest.raises(ValueError, match=re.escape(message)):
        call(z1.float(), z2)


@pytest.mark.parametrize("n", [float("inf"), float("-inf"), float("nan")])
def test_vrn_non_finite_n_is_a_value_error_naming_n(n):
    # was: OverflowError (inf) or 'cannot convert float NaN to integer' (nan)
    z1, z2 = _small_views()
    with pytest.raises(ValueError, match="n must be finite"):
        losses.vrn_loss(z1, z2, n=n)


def test_vrn_accepts_any_integral_dataset_size():
    # was: 'n must be an integer dataset size > 1, got np.int64(50000)'
    np = pytest.importorskip("numpy")
    z1, z2 = _small_views()
    want = losses.vrn_loss(z1, z2, n=50_000).item()
    for n in (np.int64(50_000), np.int32(50_000), 50_000.0, np.float64(50_000.0)):
        assert losses.vrn_loss(z1, z2, n=n).item() == want, repr(n)
    for n in (True, "50000", np.float32(2.5), torch.tensor(5.0)):
        with pytest.raises(ValueError, match="n must be an integer dataset size > 1"):
            losses.vrn_loss(z1, z2, n=n)


def test_siglip_float64_is_exact_beyond_the_softplus_threshold():
    # u = v = e_1, e_2: positives s = 1, negatives s = 0, so the negative logits t s - b = 21
    z = torch.eye(2, dtype=torch.float64)
    value, g1, _ = value_and_grads(lambda a, c: losses.sigmoid_loss(a, c, t=1.0, b=-21.0), z, z)
    want, w1, _ = value_and_grads(lambda a, c: ref.sigmoid(a, c, t=1.0, b=-21.0), z, z)
    # was (F.softplus): value 21.00000000027895 vs 21.000000001037204, gradient off by 3.8e-10
    torch.testing.assert_close(value, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g1, w1, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["simclr", "infonce", "siglip", "vrn"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_ids_are_a_value_error(name, bad):
    # was: a NaN id never equals itself, so that row's positive and its self-similarity were
    # scored as negatives (simclr: 3.19664 against 3.03465)
    z1, z2 = _small_views()
    ids = torch.tensor([0.0, 1.0, 2.0, bad])
    call = {
        "simclr": lambda: losses.simclr_loss(z1, z2, temperature=0.5, ids=ids),
        "infonce": lambda: losses.infonce_loss(z1, z2, temperature=0.5, ids=ids),
        "siglip": lambda: losses.sigmoid_loss(z1, z2, t=10.0, b=10.0, ids=ids),
        "vrn": lambda: losses.vrn_loss(z1, z2, n=10, ids=ids),
    }[name]
    with pytest.raises(ValueError, match="ids contains NaN or Inf"):
        call()


def test_view_pairs_checks_ids_values_only_with_check_values():
    """The NaN-id check reads values (a device sync): it follows check_values, like the
    finiteness of the embeddings; integer ids are never read."""
    z1, z2 = _small_views()
    ids = torch.tensor([0.0, 1.0, 2.0, float("nan")])
    with pytest.raises(ValueError, match="ids contains NaN or Inf"):
        losses.view_pairs(z1, z2, ids=ids)
    P = losses.view_pairs(z1, z2, ids=ids, check_values=False)
    assert P.same_BG is not None
    losses.view_pairs(z1, z2, ids=torch.arange(4))
