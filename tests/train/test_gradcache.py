"""train.micro_batch (GradCache): the whole batch's loss with activations for M images at a
time equals the plain step in loss and every parameter gradient (float64), for every method,
with VRN, GOR and MoCo's queue; with batch norm it equals the plain step whose BN statistics
are computed per micro-batch."""

import copy

import pytest
import torch
from train.helpers import exact_config

from contrastlens.data.splits import load_split, two_view_batches
from contrastlens.train.checkpoint import seed_everything
from contrastlens.train.gradcache import chunked_step
from contrastlens.train.loop import build, forward_terms
from contrastlens.train.resolve import resolve

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")


def _setup(method="simclr", norm="none", vrn=3.0, gor=0.0, batch=16):
    cfg = exact_config(epochs=1)
    cfg.method.name, cfg.model.norm, cfg.vrn.weight, cfg.gor.weight = method, norm, vrn, gor
    cfg.train.batch_size, cfg.method.moco_queue = batch, 32
    seed_everything(0)
    split = load_split(cfg.data, "train")
    batches, n, channels = two_view_batches(
        cfg.data, batch_size=batch, seed=0, device=CPU, dtype=torch.float64, images=split
    )
    r = resolve(cfg, n_train=n, world=1, steps_per_epoch=len(batches))
    p = build(cfg, r, CPU, torch.float64, channels)
    x1, x2, ids = next(iter(batches.epoch(0)))
    return p, x1, x2, ids


def _grads(p):
    return {n: q.grad.clone() for n, q in p.encoder.named_parameters() if q.grad is not None}


@pytest.mark.parametrize(
    "method, vrn, gor",
    [
        ("simclr", 3.0, 0.0),
        ("dcl", 0.0, 0.0),
        ("dhel", 3.0, 0.0),
        ("siglip", 3.0, 0.0),
        ("infonce", 0.0, 2.0),
        ("moco", 3.0, 0.0),
    ],
)
def test_chunked_step_equals_plain_step(method, vrn, gor):
    p, x1, x2, ids = _setup(method, vrn=vrn, gor=gor)
    moco_state = copy.deepcopy(p.moco.state_dict()) if p.moco is not None else None
    terms, _, _ = forward_terms(p, x1, x2, ids, stats=False)
    terms["loss"].backward()
    plain = _grads(p)
    p.optimizer.zero_grad(set_to_none=True)
    if p.moco is not None:
        p.moco.load_state_dict(moco_state)  # keys() did a momentum update: undo it
    chunked, _, _ = chunked_step(p, x1, x2, ids, micro_batch=4, stats=False)
    torch.testing.assert_close(chunked["loss"], terms["loss"].detach(), rtol=1e-12, atol=1e-12)
    grads = _grads(p)
    assert plain.keys() == grads.keys() and len(plain) > 4
    for name, g in plain.items():
        torch.testing.assert_close(grads[name], g, rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize("vrn", [0.0, 3.0])
def test_sogclr_chunked_step_equals_plain_step_with_its_state(vrn):
    """SogCLR under GradCache: the loss is computed once on the whole batch's cached
    embeddings, so the state moves once per step, as in the plain step: the same loss, every
    parameter gradient and the same state (from the same state before: a revisit)."""
    p, x1, x2, ids = _setup("sogclr", vrn=vrn)
    forward_terms(p, x1, x2, ids, stats=False)  # a first visit: the state holds these rows
    p.optimizer.zero_grad(set_to_none=True)
    before = copy.deepcopy(p.objective.state_dict())
    terms, _, _ = forward_terms(p, x1, x2, ids, stats=True)
    terms["loss"].backward()
    plain, plain_state = _grads(p), p.objective.sogclr.log_u_N.clone()
    p.optimizer.zero_grad(set_to_none=True)
    p.objective.load_state_dict(before)
    chunked, _, _ = chunked_step(p, x1, x2, ids, micro_batch=4, stats=True)
    torch.testing.assert_close(chunked["loss"], terms["loss"].detach(), rtol=1e-12, atol=1e-12)
    assert torch.equal(p.objective.sogclr.log_u_N, plain_state)
    assert chunked["sogclr_visited"] == terms["sogclr_visited"] == 16 / 64
    grads = _grads(p)
    assert plain.keys() == grads.keys() and len(plain) > 4
    for name, g in plain.items():
        torch.testing.assert_close(grads[name], g, rtol=1e-9, atol=1e-12, msg=name)


def test_chunked_step_with_batch_norm_equals_per_micro_batch_statistics():
    p, x1, x2, ids = _setup("simclr", norm="bn", vrn=3.0)
    running = {k: v.clone() for k, v in p.encoder.state_dict().items() if "running" in k}
    # the reference: the plain step whose BN sees each micro-batch (both views) on its own
    z1, z2 = [], []
    for lo in range(0, 16, 4):
        _, z = p.model(torch.cat([x1[lo : lo + 4], x2[lo : lo + 4]]))
        z1.append(z[:4])
        z2.append(z[4:])
    ref = p.objective(torch.cat(z1), torch.cat(z2), ids=ids)["loss"]
    ref.backward()
    plain = _grads(p)
    ref_running = {k: v.clone() for k, v in p.encoder.state_dict().items() if "running" in k}
    p.optimizer.zero_grad(set_to_none=True)
    p.encoder.load_state_dict({**p.encoder.state_dict(), **running})
    terms, _, _ = chunked_step(p, x1, x2, ids, micro_batch=4, stats=True)
    torch.testing.assert_close(terms["loss"], ref.detach(), rtol=1e-12, atol=1e-12)
    for name, g in plain.items():
        torch.testing.assert_close(_grads(p)[name], g, rtol=1e-9, atol=1e-12, msg=name)
    for k, v in ref_running.items():  # running statistics updated once per chunk, not twice
        torch.testing.assert_close(p.encoder.state_dict()[k], v, msg=k)
    assert "neg_var" in terms  # the batch statistics of the whole batch


def test_micro_batch_must_divide_the_batch():
    p, x1, x2, ids = _setup()
    with pytest.raises(ValueError, match="micro_batch=5 must divide"):
        chunked_step(p, x1, x2, ids, micro_batch=5, stats=False)


def test_vrn_lr_ref_scales_lambda_by_one_over_lr():
    cfg = exact_config()
    cfg.vrn.weight, cfg.optim.base_lr, cfg.train.batch_size = 100.0, 0.3, 256

    def vrn_weight(cfg):
        return resolve(cfg, n_train=1000, world=1, steps_per_epoch=3).vrn_weight

    assert vrn_weight(cfg) == 100.0  # no lr_ref: the weight as given
    cfg.vrn.lr_ref = 0.075  # selected with lr 0.075; at lr 0.3 the weight in use is 25
    assert vrn_weight(cfg) == pytest.approx(25.0)
    cfg.train.batch_size = 64  # lr 0.075: the selected weight itself
    assert vrn_weight(cfg) == pytest.approx(100.0)
    p, *_ = _setup()
    assert p.objective.vrn_weight == 3.0


def test_one_directional_moco_without_regularizers():
    # z2 does not enter MoCo v2's one-directional loss: its cached gradient is zero, not None
    p, x1, x2, ids = _setup("moco", vrn=0.0)
    p.moco.symmetric = False
    state = copy.deepcopy(p.moco.state_dict())
    terms, _, _ = forward_terms(p, x1, x2, ids, stats=False)
    terms["loss"].backward()
    plain = _grads(p)
    p.optimizer.zero_grad(set_to_none=True)
    p.moco.load_state_dict(state)
    chunked_step(p, x1, x2, ids, micro_batch=4, stats=False)
    for name, g in plain.items():
        torch.testing.assert_close(_grads(p)[name], g, rtol=1e-9, atol=1e-12, msg=name)


def _chunkwise_reference(p, x1, x2, ids, M):
    """The step whose forward runs chunk by chunk with gradient (each chunk's own BN statistics
    and, from the same starting RNG state, the same random draws in the same order)."""
    z1, z2 = [], []
    for lo in range(0, x1.shape[0], M):
        with p.precision.autocast(p.device):
            _, z = p.model(
                torch.cat(
                    [p.precision.inputs(x1[lo : lo + M]), p.precision.inputs(x2[lo : lo + M])]
                )
            )
        z1.append(z[:M].to(p.dtype))
        z2.append(z[M:].to(p.dtype))
    loss = p.objective(torch.cat(z1), torch.cat(z2), ids=ids)["loss"]
    loss.backward()
    return loss.detach()


def test_chunked_step_replays_dropout_masks(monkeypatch):
    """Each chunk's second pass replays the RNG state of its first: the same dropout masks, so
    the gradient is the one of the embeddings the loss saw (without the replay it is not)."""
    p, x1, x2, ids = _setup("simclr", vrn=3.0)
    net = p.encoder.projector.net
    p.encoder.projector.net = torch.nn.Sequential(net[0], torch.nn.Dropout(0.5), *net[1:])
    torch.manual_seed(123)
    ref = _chunkwise_reference(p, x1, x2, ids, M=4)
    plain = _grads(p)
    p.optimizer.zero_grad(set_to_none=True)
    torch.manual_seed(123)
    terms, _, _ = chunked_step(p, x1, x2, ids, micro_batch=4, stats=False)
    torch.testing.assert_close(terms["loss"], ref, rtol=1e-12, atol=1e-12)
    for name, g in plain.items():
        torch.testing.assert_close(_grads(p)[name], g, rtol=1e-9, atol=1e-12, msg=name)
    # the test can fail: without the replay, the second pass draws other masks
    p.optimizer.zero_grad(set_to_none=True)
    torch.manual_seed(123)
    monkeypatch.setattr(torch, "set_rng_state", lambda state: None)
    chunked_step(p, x1, x2, ids, micro_batch=4, stats=False)
    diff = max((_grads(p)[n] - g).abs().max().item() for n, g in plain.items())
    assert diff > 1e-6


def test_chunked_step_under_bf16_autocast_matches_the_chunkwise_step():
    """bf16 autocast (the CPU's default here): the cached step equals the chunk-by-chunk step
    run under the same autocast, to bf16 rounding."""
    from contrastlens.train.precision import Precision

    cfg = exact_config(epochs=1)
    cfg.train.dtype, cfg.vrn.weight, cfg.train.batch_size = "float32", 3.0, 16
    seed_everything(0)
    split = load_split(cfg.data, "train")
    batches, n, channels = two_view_batches(
        cfg.data, batch_size=16, seed=0, device=CPU, images=split
    )
    r = resolve(cfg, n_train=n, world=1, steps_per_epoch=len(batches))
    p = build(cfg, r, CPU, torch.float32, channels)
    p.precision = Precision(amp="bf16", channels_last=False)
    x1, x2, ids = next(iter(batches.epoch(0)))
    ref = _chunkwise_reference(p, x1, x2, ids, M=4)
    plain = _grads(p)
    p.optimizer.zero_grad(set_to_none=True)
    terms, _, _ = chunked_step(p, x1, x2, ids, micro_batch=4, stats=False)
    torch.testing.assert_close(terms["loss"], ref, rtol=1e-6, atol=1e-6)
    for name, g in plain.items():
        torch.testing.assert_close(_grads(p)[name], g, rtol=1e-4, atol=1e-6, msg=name)
