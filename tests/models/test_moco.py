import torch
from torch import nn

from contrastlens.losses import Queue
from contrastlens.models import build_encoder, make_key_encoder, momentum_update
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
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    queue.enqueue(a)
    assert torch.allclose(queue.keys[:3], torch.tensor([[1.0, 0], [0, 1], [1, 0]]))
    queue.enqueue(torch.tensor([[0.0, -1.0], [-1.0, 0.0], [0.0, 5.0]]))
    keys = queue.keys
    assert torch.allclose(keys[3:], torch.tensor([[0.0, -1.0], [-1.0, 0.0]]))
    assert torch.allclose(keys[0], torch.tensor([0.0, 1.0])) and int(queue.ptr) == 1
    state = queue.state_dict()
    other = Queue(5, 2)
    other.load_state_dict(state)
    assert torch.equal(other.keys, keys)


def test_encoders_shapes():
    enc = build_encoder(ModelConfig(widths=(4, 8, 8), pool=2, proj_hidden=16, proj_dim=8), 1)
    h, z = enc(torch.randn(3, 1, 28, 28))
    assert h.shape == (3, 32) and z.shape == (3, 8)
    enc = build_encoder(ModelConfig(backbone="resnet18", proj_hidden=16, proj_dim=8), 3)
    assert enc.backbone.net.conv1.stride == (1, 1)
    assert isinstance(enc.backbone.net.maxpool, nn.Identity)
    h, z = enc(torch.randn(2, 3, 32, 32))
    assert h.shape == (2, 512) and z.shape == (2, 8)
