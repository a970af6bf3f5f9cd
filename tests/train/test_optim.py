import math

import torch
from train.helpers import tiny_config

from contrastlens.runfolder import read_run
from contrastlens.train.config import OptimConfig
from contrastlens.train.loop import train
from contrastlens.train.optim import LARS, build_optimizer, lr_at, peak_lr


def test_warmup_then_cosine():
    assert peak_lr(0.3, 512) == 0.6
    lrs = [lr_at(s, peak=1.0, warmup_steps=4, total_steps=14) for s in range(15)]
    assert lrs[:4] == [0.25, 0.5, 0.75, 1.0] and lrs[4] == 1.0
    assert math.isclose(lrs[9], 0.5) and lrs[14] == 0.0
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))


def test_lars_and_no_decay_groups():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    opt = build_optimizer(net.named_parameters(), OptimConfig(name="lars", weight_decay=0.1), 0.1)
    assert isinstance(opt, LARS) and [g["lars"] for g in opt.param_groups] == [True, False]
    assert len(opt.param_groups[0]["params"]) == 1  # only the weight matrix is decayed / adapted
    w0 = net[0].weight.detach().clone()
    net(torch.randn(8, 4)).square().mean().backward()
    opt.step()
    step = (net[0].weight - w0).norm() / w0.norm()
    assert 0 < step <= 0.1 * 0.001 * 1.01  # lr * eta: the trust ratio bounds the relative step


def test_time_schedule_anneals_to_zero(tmp_path):
    cfg = tiny_config(epochs=10_000, max_minutes=0.03, time_schedule=True)
    final = train(cfg, tmp_path / "t")
    rows = read_run(tmp_path / "t")["metrics"]
    assert final["status"] == "finished" and final["train_time_s"] >= 1.8
    assert rows[-1]["lr"] < 0.1 * max(r["lr"] for r in rows)
