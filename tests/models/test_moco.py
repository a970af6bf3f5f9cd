import pytest
import torch
from torch import nn

from contrastlens.losses import build_objective
from contrastlens.models import MoCo, Queue, build_encoder, make_key_encoder, momentum_update
from contrastlens.train.config import ModelConfig


def test_momentum_update_is_ema_and_key_has_no_grad():
    torch.manual_seed(0)
    q = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    k = make_key_encoder(q)
    assert all(not p.requires_grad for p in k.parameters())
    old = [p.clone() for p in k.parameters()]
    with torch.no_grad():
        for p in q.parameters():
            p.add_(1.0)
    q[1].running_mean.fill_(2.0)
    momentum_update(k, q, 0.9)
    for pk, pq, p0 in zip(k.parameters(), q.parameters(), old):
        assert torch.allclose(pk, 0.9 * p0 + 0.1 * pq)
    assert torch.allclose(k[1].running_mean, torch.full((2,), 0.2))
    assert k[1].num_batches_tracked == q[1].num_batches_tracked


def test_queue_ring_buffer_contents():
    queue = Queue(5, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(queue.keys_KD.norm(dim=1), torch.ones(5))
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]], requires_grad=True)
    queue.enqueue(a)
    assert torch.allclose(queue.keys_KD[:3], torch.tensor([[1.0, 0], [0, 1], [1, 0]]))
    assert not queue.keys_KD.requires_grad
    queue.enqueue(torch.tensor([[0.0, -1.0], [-1.0, 0.0], [0.0, 5.0]]))  # wraps: rows 3, 4, 0
    keys = queue.keys_KD.clone()
    assert torch.allclose(keys[3:], torch.tensor([[0.0, -1.0], [-1.0, 0.0]]))
    assert torch.allclose(keys[0], torch.tensor([0.0, 1.0])) and int(queue.ptr) == 1
    other = Queue(5, 2)
    other.load_state_dict(queue.state_dict())
    assert torch.equal(other.keys_KD, keys) and int(other.ptr) == 1
    queue.enqueue(torch.randn(12, 2))  # more than K keys: the newest K remain
    assert int(queue.ptr) == 1
    with pytest.raises(ValueError, match="the queue holds"):
        queue.enqueue(torch.randn(2, 3))


class _BatchStats(nn.Module):
    """A probe 'encoder': z = [the sample's own value, the mean of its batch] (what batch
    norm's statistics see)."""

    def forward(self, x):
        flat = x.flatten(1)
        return flat, torch.cat([flat, flat.mean(dim=0, keepdim=True).expand_as(flat)], dim=1)


def test_shuffle_bn_no_key_shares_its_querys_group():
    B = 8
    x1 = torch.arange(B, dtype=torch.float64).view(B, 1)  # each image is its index
    x2 = x1 + 100
    enc = _BatchStats()
    moco = MoCo(nn.Linear(1, 1), queue_size=4, dim=2, bn_groups=2)
    moco.key_encoder = _BatchStats()  # the same probe on the key side
    z1, z2 = moco.queries(enc, x1, x2)
    k1, k2 = moco.keys(nn.Identity(), x1, x2)
    # every sample gets its own key, in its own row
    assert torch.equal(k1[:, 0], x1[:, 0]) and torch.equal(k2[:, 0], x2[:, 0])
    assert torch.equal(z1[:, 0], x1[:, 0])
    assert z1[:, 1].unique().numel() == 2 and k1[:, 1].unique().numel() == 2  # two groups
    assert (z1[:, 1] != k1[:, 1]).all() and (z2[:, 1] != k2[:, 1]).all()  # never the same set
    one = MoCo(nn.Linear(1, 1), queue_size=4, dim=2, bn_groups=1)  # no shuffle-BN: shared
    one.key_encoder = _BatchStats()
    assert torch.equal(one.keys(nn.Identity(), x1, x2)[0], one.queries(enc, x1, x2)[0])
    with pytest.raises(ValueError, match="moco_bn_groups"):
        MoCo(nn.Linear(1, 1), queue_size=4, dim=2, bn_groups=3).queries(enc, x1, x2)


def test_moco_state_dict_holds_key_encoder_and_queue():
    enc = build_encoder(ModelConfig(widths=(4, 8, 8), pool=1, proj_hidden=16, proj_dim=8), 1)
    moco = MoCo(enc, queue_size=16, dim=8, generator=torch.Generator().manual_seed(0))
    keys = set(moco.state_dict())
    assert "queue.keys_KD" in keys and "queue.ptr" in keys
    assert any(k.startswith("key_encoder.backbone") for k in keys)
    x = torch.randn(4, 1, 28, 28)
    k1, k2 = moco.keys(enc, x, x.flip(-1))
    z1, z2 = moco.queries(enc, x, x.flip(-1))
    obj = build_objective("moco", temperature=0.2, vrn_weight=1.0, vrn_n=100)
    terms = moco.terms(obj, z1, z2, k1, k2, torch.arange(4))
    terms["loss"].backward()
    moco.enqueue(k1, k2)
    assert int(moco.queue.ptr) == 8 and {"moco", "vrn", "loss"} <= set(terms)


def test_encoders_shapes():
    enc = build_encoder(ModelConfig(widths=(4, 8, 8), pool=2, proj_hidden=16, proj_dim=8), 1)
    h, z = enc(torch.randn(3, 1, 28, 28))
    assert h.shape == (3, 32) and z.shape == (3, 8)
    enc = build_encoder(ModelConfig(backbone="resnet18", proj_hidden=16, proj_dim=8), 3)
    assert enc.backbone.net.conv1.stride == (1, 1)
    assert isinstance(enc.backbone.net.maxpool, nn.Identity)
    h, z = enc(torch.randn(2, 3, 32, 32))
    assert h.shape == (2, 512) and z.shape == (2, 8)


def test_one_sample_bn_groups_are_refused():
    """Groups of one sample make key group j equal query group j: shuffle-BN's guarantee is
    gone, so it is an error, in the config and in the module."""
    from contrastlens.errors import ConfigError
    from contrastlens.experiments import presets
    from contrastlens.models.momentum import check_group_size
    from contrastlens.train.config import validate

    cfg = presets.get("smoke")
    cfg.method.name, cfg.train.batch_size = "moco", 16
    cfg.method.moco_bn_groups = 16
    with pytest.raises(ConfigError, match="BN groups of one sample"):
        validate(cfg)
    cfg.method.moco_bn_groups, cfg.train.micro_batch = 2, 1
    with pytest.raises(ConfigError, match="BN groups of one sample"):
        validate(cfg)
    cfg.method.moco_bn_groups, cfg.train.micro_batch = 8, 0  # groups of 2: allowed
    validate(cfg)
    cfg.method.moco_bn_groups = 1  # no shuffle-BN at all: allowed, documented
    validate(cfg)
    with pytest.raises(ValueError, match="one sample each"):
        check_group_size(1)
    assert check_group_size(2) == 2
