"""SogCLR's global contrastive loss (losses/global_contrastive.py, `GlobalContrastiveLoss`):
LibAUC 2.0.1's GCLoss_v1 over steps that revisit samples (state and gradient), the slow
reference of tests/reference.py (value, gradient, state), closed forms, the state in the
state_dict, the objective, and bad input.

Shape legend: B rows, D dimension, N = n training samples.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib.metadata
import importlib.util
import io
import math
from pathlib import Path

import pytest
import reference as ref
import torch

from contrastlens import losses
from contrastlens.losses import global_contrastive as gc
from contrastlens.losses import modules
from contrastlens.losses._fused import negative_logsumexp, self_negative_logsumexp

pytestmark = pytest.mark.usefixtures("one_thread")
F64 = torch.float64


def _views(B, D=6, *, seed, dtype=F64, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(B, D, dtype=F64, generator=g) * scale
    z2 = z1 + torch.randn(B, D, dtype=F64, generator=g)
    return z1.to(dtype).requires_grad_(), z2.to(dtype).requires_grad_()


def _schedule(n, B, epochs, seed=0):
    """Batches of dataset indices as data/views.py draws them: one permutation per epoch, cut
    into n // B batches. Epoch 0 visits every sample once (all new), later epochs revisit."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        out += [perm[k * B : (k + 1) * B] for k in range(n // B)]
    return out


def _libauc_contrastive():
    """LibAUC 2.0.1's losses/contrastive.py, loaded by path: the package's __init__ would
    import its heavy dependencies (the Makefile installs libauc with --no-deps)."""
    spec = importlib.util.find_spec("libauc")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("libauc is not installed (make install: pip install --no-deps libauc==2.0.1)")
    version = importlib.metadata.version("libauc")
    if version != "2.0.1":
        pytest.skip(f"the comparison is written for libauc 2.0.1, found {version}")
    path = Path(spec.submodule_search_locations[0]) / "losses" / "contrastive.py"
    module_spec = importlib.util.spec_from_file_location("libauc_contrastive", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _gcloss_v1(lib, n, t, gamma):
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its gamma schedule
        loss = lib.GCLoss_v1(
            N=n, tau=t, gamma=gamma, gamma_schedule="constant", device=torch.device("cpu")
        )
    loss.u = torch.zeros(n, 1, dtype=F64)  # float64 state (LibAUC allocates float32)
    return loss


# ---------------------------------------------------------------------------------- LibAUC


@pytest.mark.parametrize("t, gamma, n, B", [(0.1, 0.9, 15, 5), (0.5, 0.3, 12, 4), (0.2, 1.0, 9, 3)])
def test_state_and_gradient_move_as_libauc_gcloss_v1(t, gamma, n, B):
    """Contrastlens GlobalContrastiveLoss(n, t, gamma) vs LibAUC GCLoss_v1(N=n, tau=t,
    gamma=gamma, constant schedule), float64, three epochs (the first all new, then revisits):
    the same u after every step (ours exp(log_u_N)), and LibAUC's gradient = 2 t ours."""
    lib = _libauc_contrastive()
    theirs = _gcloss_v1(lib, n, t, gamma)
    ours = losses.GlobalContrastiveLoss(n, temperature=t, gamma=gamma).double()
    for step, ids in enumerate(_schedule(n, B, epochs=3)):
        z1, z2 = _views(B, seed=step)
        g_theirs = torch.autograd.grad(theirs(z1, z2, ids), (z1, z2))
        g_ours = torch.autograd.grad(ours(z1, z2, ids), (z1, z2))
        for a, b in zip(g_theirs, g_ours):
            torch.testing.assert_close(a, 2 * t * b, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(ours.log_u_N.exp(), theirs.u.view(-1), rtol=1e-12, atol=0)
    assert bool(torch.isfinite(ours.log_u_N).all())  # every sample visited, revisited


def test_first_visit_among_revisits_sets_g_where_libauc_sets_gamma_g():
    """The documented difference: LibAUC gives a batch gamma = 1 only when all its samples
    are new, so a new sample among revisits gets u = gamma g; here it gets g."""
    lib = _libauc_contrastive()
    t, gamma, n = 0.2, 0.6, 8
    theirs = _gcloss_v1(lib, n, t, gamma)
    ours = losses.GlobalContrastiveLoss(n, temperature=t, gamma=gamma).double()
    first, mixed = torch.tensor([0, 1, 2, 3]), torch.tensor([2, 3, 4, 5])  # 4, 5 are new
    for step, ids in enumerate((first, mixed)):
        z1, z2 = _views(4, seed=step)
        theirs(z1, z2, ids)
        ours(z1, z2, ids)
    u_theirs, u_ours = theirs.u.view(-1), ours.log_u_N.exp()
    torch.testing.assert_close(u_ours[:4], u_theirs[:4], rtol=1e-12, atol=0)  # revisits
    torch.testing.assert_close(gamma * u_ours[4:6], u_theirs[4:6], rtol=1e-12, atol=0)


# ------------------------------------------------------------------------- slow reference


@pytest.mark.parametrize("dtype", [F64, torch.float32])
@pytest.mark.parametrize("within_view", [True, False])
@pytest.mark.parametrize("t, gamma, n, B", [(0.1, 0.9, 6, 2), (0.5, 0.5, 9, 3), (1.0, 0.7, 10, 5)])
def test_matches_slow_reference_over_steps(dtype, within_view, t, gamma, n, B):
    tol = 1e-10 if dtype == F64 else 1e-5
    log_u_N = gc.new_state(n, dtype=dtype)
    u = {}
    for step, ids in enumerate(_schedule(n, B, epochs=3, seed=B)):
        z1, z2 = _views(B, seed=100 + step, dtype=dtype)
        out = losses.global_contrastive_loss(
            z1, z2, ids, log_u_N, temperature=t, gamma=gamma, within_view=within_view
        )
        assert out.loss.dtype == dtype and out.log_u_G.dtype == dtype
        grads = torch.autograd.grad(out.loss, (z1, z2))
        r1, r2 = z1.detach().double().requires_grad_(), z2.detach().double().requires_grad_()
        expected, u = ref.global_contrastive(
            r1, r2, ids, u, n=n, temperature=t, gamma=gamma, within_view=within_view
        )
        expected_grads = torch.autograd.grad(expected, (r1, r2))
        torch.testing.assert_close(out.loss.double(), expected, rtol=tol, atol=tol)
        for a, b in zip(grads, expected_grads):
            torch.testing.assert_close(a.double(), b, rtol=tol, atol=tol)
        log_u_N[out.ids_G] = out.log_u_G
        for key, value in u.items():
            torch.testing.assert_close(log_u_N[key].double().exp(), value, rtol=tol, atol=0)


def _false_negatives(B, seed, share=0.3):
    """A random (B, B) mask of false negatives, no diagonal, every row keeping a negative."""
    g = torch.Generator().manual_seed(seed)
    mask = (torch.rand(B, B, generator=g) < share) & ~torch.eye(B, dtype=torch.bool)
    full = (mask.sum(1) == B - 1).nonzero().flatten()
    mask[full, (full + 1) % B] = False  # a row that lost every negative keeps one
    return mask


@pytest.mark.parametrize("dtype", [F64, torch.float32])
@pytest.mark.parametrize("within_view", [True, False])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("t, gamma, n, B", [(0.1, 0.9, 9, 3), (0.5, 0.6, 10, 5)])
def test_one_direction_and_false_negatives_match_slow_reference(
    dtype, within_view, symmetric, masked, t, gamma, n, B
):
    """symmetric=False (MNRL's one direction) and false_negatives (pairs masked out of g_a),
    alone and together, against the slow reference over steps: value, gradient, state."""
    tol = 1e-10 if dtype == F64 else 1e-5
    log_u_N = gc.new_state(n, dtype=dtype)
    u = {}
    for step, ids in enumerate(_schedule(n, B, epochs=3, seed=B)):
        z1, z2 = _views(B, seed=200 + step, dtype=dtype)
        mask = _false_negatives(B, seed=step) if masked else None
        kw = dict(temperature=t, gamma=gamma, within_view=within_view, symmetric=symmetric)
        out = losses.global_contrastive_loss(z1, z2, ids, log_u_N, false_negatives=mask, **kw)
        grads = torch.autograd.grad(out.loss, (z1, z2))
        r1, r2 = z1.detach().double().requires_grad_(), z2.detach().double().requires_grad_()
        expected, u = ref.global_contrastive(r1, r2, ids, u, n=n, false_negatives=mask, **kw)
        expected_grads = torch.autograd.grad(expected, (r1, r2))
        torch.testing.assert_close(out.loss.double(), expected, rtol=tol, atol=tol)
        for a, b in zip(grads, expected_grads):
            torch.testing.assert_close(a.double(), b, rtol=tol, atol=tol)
        log_u_N[out.ids_G] = out.log_u_G
        for key, value in u.items():
            torch.testing.assert_close(log_u_N[key].double().exp(), value, rtol=tol, atol=0)


def test_an_empty_mask_changes_nothing():
    """false_negatives with nothing masked: the unmasked step, value, gradient and state."""
    for symmetric in (True, False):
        for within_view in (True, False):
            z1, z2 = _views(5, seed=3)
            log_u_N = gc.new_state(12, dtype=F64)
            log_u_N[:3] = torch.tensor([2.0, 1.0, 3.0], dtype=F64)  # revisits and first visits
            kw = dict(temperature=0.2, gamma=0.7, within_view=within_view, symmetric=symmetric)
            ids = torch.tensor([0, 4, 1, 7, 2])
            plain = losses.global_contrastive_loss(z1, z2, ids, log_u_N, **kw)
            none = torch.zeros(5, 5, dtype=torch.bool)
            masked = losses.global_contrastive_loss(
                z1, z2, ids, log_u_N, false_negatives=none, **kw
            )
            torch.testing.assert_close(masked.loss, plain.loss, rtol=1e-13, atol=1e-13)
            torch.testing.assert_close(masked.log_u_G, plain.log_u_G, rtol=1e-13, atol=1e-13)
            want = torch.autograd.grad(plain.loss, (z1, z2))
            for a, b in zip(torch.autograd.grad(masked.loss, (z1, z2)), want):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_one_direction_whole_data_set_is_decoupled_infonce():
    """symmetric=False, cross-view, the batch = the data set, gamma = 1: the one-direction
    decoupled InfoNCE 1/n sum_i [-s_ii/t + log sum_{j != i} e^{s_ij/t}] (MNRL without the
    positive in its denominator), value and gradient; the state is each anchor's mean."""
    n, t = 6, 0.25
    z1, z2 = _views(n, seed=4)
    ids = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    kw = dict(temperature=t, gamma=1.0, within_view=False, symmetric=False)
    out = losses.global_contrastive_loss(z1, z2, ids, gc.new_state(n, dtype=F64), **kw)
    s = ref.unit(z1) @ ref.unit(z2).T / t
    off = ~torch.eye(n, dtype=torch.bool)
    lse = torch.logsumexp(s.masked_fill(~off, float("-inf")), dim=1)
    want = (lse - s.diagonal()).mean()
    torch.testing.assert_close(out.loss, want, rtol=1e-12, atol=1e-12)
    for a, b in zip(torch.autograd.grad(out.loss, (z1, z2)), torch.autograd.grad(want, (z1, z2))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out.log_u_G, (lse - math.log(n - 1)).detach())


def test_false_negatives_errors():
    z1, z2 = _views(3, seed=0, dtype=torch.float32)
    kw = dict(temperature=0.2, within_view=False, symmetric=False)
    state = gc.new_state(10)
    with pytest.raises(ValueError, match=r"boolean \(3, 3\) mask"):
        losses.global_contrastive_loss(
            z1, z2, IDS[:3], state, false_negatives=torch.zeros(3, 3), **kw
        )
    everything = ~torch.eye(3, dtype=torch.bool)
    everything[1] = False
    with pytest.raises(ValueError, match="2 anchor\\(s\\) have no negative left"):
        losses.global_contrastive_loss(z1, z2, IDS[:3], state, false_negatives=everything, **kw)


def test_self_logsumexp_equals_the_general_one():
    """The one-process fast path (anchors = columns, one matmul in backward) against
    `negative_logsumexp` with the same pairs excluded, value and gradient, float64."""
    g = torch.Generator().manual_seed(0)
    B, t = 5, 0.3
    x = torch.randn(2 * B, 4, dtype=F64, generator=g)
    rows = torch.arange(2 * B)
    square = (rows.repeat(2), torch.cat([rows, (rows + B) % (2 * B)]))
    weights = torch.rand(2 * B, dtype=F64, generator=g)
    a = x.clone().requires_grad_()
    fast = self_negative_logsumexp(a, 1 / t, square)
    (fast_grad,) = torch.autograd.grad((fast * weights).sum(), a)
    b = x.clone().requires_grad_()
    slow = negative_logsumexp(b / t, b, (rows, rows % B), 2, B)
    (slow_grad,) = torch.autograd.grad((slow * weights).sum(), b)
    torch.testing.assert_close(fast, slow, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(fast_grad, slow_grad, rtol=1e-12, atol=1e-13)


# -------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("gamma", [1.0, 0.4])
@pytest.mark.parametrize("within_view", [True, False])
def test_whole_data_set_as_one_batch_equals_dcl(gamma, within_view):
    """With the batch = the data set, the first visit (any gamma) and every visit with
    gamma = 1 give exactly DCL (within-view) or decoupled InfoNCE (cross-view only): the
    global objective with its inner sum computed, value and gradient, no constant."""
    n, t = 7, 0.3
    loss_fn = losses.GlobalContrastiveLoss(n, t, gamma, within_view=within_view).double()
    ids = torch.randperm(n)
    for step in range(2 if gamma == 1.0 else 1):
        z1, z2 = _views(n, seed=step)
        value = loss_fn(z1, z2, ids)
        grads = torch.autograd.grad(value, (z1, z2))
        dcl = losses.infonce_family(z1, z2, temperature=t, within_view=within_view, decoupled=True)
        torch.testing.assert_close(value, dcl, rtol=1e-12, atol=1e-12)
        for a, b in zip(grads, torch.autograd.grad(dcl, (z1, z2))):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("within_view", [True, False])
def test_collapse_gives_log_of_the_full_negative_count(within_view):
    """All embeddings equal: every similarity is 1, g = u = e^{1/t}, so the loss is
    log(K_n) = log(2(n - 1)) (cross-view only: log(n - 1)) at every visit, any gamma."""
    n, B, t = 50, 4, 0.05
    loss_fn = losses.GlobalContrastiveLoss(n, t, 0.7, within_view=within_view)
    z = torch.ones(B, 3)
    for ids in (torch.arange(B), torch.arange(B), torch.arange(2, B + 2)):
        value = loss_fn(z, z, ids)
        negatives = 2 * (n - 1) if within_view else n - 1
        torch.testing.assert_close(value, torch.tensor(math.log(negatives)))
    torch.testing.assert_close(loss_fn.log_u_N[: B + 2], torch.full((B + 2,), 1 / t))


def test_symmetric_in_the_views():
    a = losses.GlobalContrastiveLoss(20, 0.2, 0.8).double()
    b = losses.GlobalContrastiveLoss(20, 0.2, 0.8).double()
    for step, ids in enumerate(_schedule(20, 5, epochs=2)):
        z1, z2 = _views(5, seed=step)
        torch.testing.assert_close(a(z1, z2, ids), b(z2, z1, ids), rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(a.log_u_N, b.log_u_N, rtol=1e-13, atol=0)


def test_small_temperature_and_large_state_changes_stay_finite():
    """Log-space state: e^{1/t} at t = 0.01 overflows float32, and a revisit after the
    similarities moved by 2/t must not overflow either."""
    n, B, t = 10, 4, 0.01
    loss_fn = losses.GlobalContrastiveLoss(n, t, 0.9)
    ids = torch.arange(B)
    loss_fn(torch.ones(B, 3), torch.ones(B, 3), ids)  # collapse: u = e^{100}
    z1 = torch.eye(B, 3, requires_grad=True)
    z2 = (-torch.eye(B, 3)).requires_grad_()
    value = loss_fn(z1, z2, ids)  # now g is about e^{-100}
    grads = torch.autograd.grad(value, (z1, z2))
    assert torch.isfinite(value) and all(bool(torch.isfinite(g).all()) for g in grads)
    assert bool(torch.isfinite(loss_fn.log_u_N[:B]).all())


def test_loss_falls_under_gradient_descent():
    n, B = 32, 8
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, 5, generator=g, requires_grad=True)
    loss_fn = losses.GlobalContrastiveLoss(n, 0.5, 0.9)
    opt = torch.optim.SGD([z], lr=0.5)
    values = []
    for ids in _schedule(n, B, epochs=6):
        opt.zero_grad()
        value = loss_fn(z[ids], z[ids] + 0.05 * torch.randn(B, 5, generator=g), ids)
        value.backward()
        opt.step()
        values.append(value.item())
    assert sum(values[-4:]) < sum(values[:4])


# ------------------------------------------------------------------------ the state


def test_state_is_in_state_dict_and_a_reload_continues_identically():
    a = losses.GlobalContrastiveLoss(12, 0.2, 0.9).double()
    batches = _schedule(12, 4, epochs=2)
    for step, ids in enumerate(batches[:4]):
        a(*_views(4, seed=step), ids)
    assert list(a.state_dict()) == ["log_u_N"]
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b = losses.GlobalContrastiveLoss(12, 0.2, 0.9).double()
    b.load_state_dict(torch.load(buffer))
    assert torch.equal(a.log_u_N, b.log_u_N)
    for step, ids in enumerate(batches[4:], 4):
        z1, z2 = _views(4, seed=step)
        assert torch.equal(a(z1, z2, ids), b(z1, z2, ids))
    assert torch.equal(a.log_u_N, b.log_u_N)


def test_a_state_of_another_size_is_refused():
    saved = losses.GlobalContrastiveLoss(12).state_dict()
    with pytest.raises(ValueError, match="holds 12 samples but this loss has n = 13"):
        losses.GlobalContrastiveLoss(13).load_state_dict(saved)


def test_eval_mode_reads_the_state_without_writing_it():
    loss_fn = losses.GlobalContrastiveLoss(10, 0.2, 0.5)
    ids = torch.arange(4)
    loss_fn(*_views(4, seed=0, dtype=torch.float32), ids)
    before = loss_fn.log_u_N.clone()
    z1, z2 = _views(4, seed=1, dtype=torch.float32)
    value = loss_fn.eval()(z1, z2, ids)
    assert torch.equal(loss_fn.log_u_N, before)
    assert torch.equal(loss_fn.train()(z1, z2, ids), value)  # the same value, now written
    assert not torch.equal(loss_fn.log_u_N, before)


def test_diagnostics():
    loss_fn = losses.GlobalContrastiveLoss(10, 0.2)
    assert math.isnan(loss_fn.diagnostics()["sogclr_log_u_mean"])
    loss_fn(*_views(4, seed=0, dtype=torch.float32), torch.tensor([1, 3, 5, 7]))
    diag = loss_fn.diagnostics()
    assert diag["sogclr_visited"].item() == 0.4
    expected = loss_fn.log_u_N[[1, 3, 5, 7]].double().mean()
    torch.testing.assert_close(diag["sogclr_log_u_mean"], expected)


def test_functional_core_is_pure():
    log_u_N = gc.new_state(10)
    before = log_u_N.clone()
    z1, z2 = _views(4, seed=0, dtype=torch.float32)
    out = losses.global_contrastive_loss(z1, z2, torch.arange(4), log_u_N)
    assert torch.equal(log_u_N, before) and out.ids_G.tolist() == [0, 1, 2, 3]


# ------------------------------------------------------------------------ the objective


def test_objective_sogclr_with_vrn_and_gor():
    z1, z2 = _views(6, seed=0)
    ids = torch.tensor([9, 2, 4, 0, 7, 5])
    objective = losses.build_objective(
        "sogclr",
        temperature=0.25,
        vrn_weight=3.0,
        vrn_n=10,
        gor_weight=2.0,
        sogclr_n=10,
        sogclr_gamma=0.5,
    ).double()
    assert objective.within_view is True
    terms = objective(z1, z2, ids=ids, stats=True)
    standalone = losses.GlobalContrastiveLoss(10, 0.25, 0.5).double()
    torch.testing.assert_close(terms["sogclr"], standalone(z1, z2, ids))
    torch.testing.assert_close(objective.sogclr.log_u_N, standalone.log_u_N)
    torch.testing.assert_close(
        terms["loss"], terms["sogclr"] + 3.0 * terms["vrn"] + 2.0 * terms["gor"]
    )
    assert terms["sogclr_visited"].item() == 0.6 and torch.isfinite(terms["sogclr_log_u_mean"])
    assert "sogclr.log_u_N" in objective.state_dict()
    cross = losses.build_objective("sogclr", within_view=False, sogclr_n=10)
    assert cross.sogclr.within_view is False


def test_objective_refuses_moco_parts_and_missing_sizes():
    z1, z2 = _views(4, seed=0, dtype=torch.float32)
    objective = losses.build_objective("sogclr", sogclr_n=10)
    with pytest.raises(ValueError, match="MoCo's key encoder and queue do not combine"):
        objective(z1, z2, ids=torch.arange(4), queue=torch.randn(8, 6))
    with pytest.raises(ValueError, match="ids are required"):
        objective(z1, z2)
    with pytest.raises(ValueError, match="sogclr_n: method 'sogclr' needs"):
        losses.build_objective("sogclr")
    with pytest.raises(ValueError, match="sogclr_n is only used by method 'sogclr'"):
        losses.build_objective("dcl", sogclr_n=10)
    with pytest.raises(ValueError, match="gamma must be in"):
        losses.build_objective("sogclr", sogclr_n=10, sogclr_gamma=1.5)


# ------------------------------------------------------------------------ bad input

Z1, Z2 = _views(4, seed=0, dtype=torch.float32)
STATE = gc.new_state(10)


IDS = torch.arange(4)


def _call(ids=IDS, state=STATE, **kw):
    return lambda: losses.global_contrastive_loss(Z1, Z2, ids, state, **kw)


BAD = [
    (_call(ids=None), "ids are required"),
    (_call(ids=torch.arange(4.0)), "ids must be integer dataset indices"),
    (_call(ids=torch.arange(5)), r"ids must have shape \(4,\)"),
    (_call(ids=torch.tensor([0, 1, 2, 10])), r"dataset indices in \[0, n = 10\).*got values in"),
    (_call(ids=torch.tensor([-1, 1, 2, 3])), r"dataset indices in \[0, n = 10\)"),
    (_call(ids=torch.tensor([0, 1, 1, 3])), "dataset index 1 appears twice"),
    (_call(state=torch.zeros(10, 1)), "log_u_N must be the"),
    (_call(gamma=0.0), "gamma must be > 0"),
    (_call(gamma=1.01), r"gamma must be in \(0, 1\]"),
    (_call(gamma=float("nan")), "gamma must be finite"),
    (_call(temperature=0.0), "temperature must be > 0"),
    (_call(temperature=torch.tensor(0.2, requires_grad=True)), "fixed number"),
    (lambda: losses.GlobalContrastiveLoss(1), "n must be > 1"),
    (lambda: losses.GlobalContrastiveLoss(10.5), "integer dataset size"),
    (lambda: losses.GlobalContrastiveLoss(10)(Z1, Z2), "ids are required"),
]


@pytest.mark.parametrize("call, message", BAD)
def test_bad_input_is_a_one_line_value_error(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


def test_examples_run():
    for module in (gc, modules):
        assert doctest.testmod(module, raise_on_error=True).failed == 0
