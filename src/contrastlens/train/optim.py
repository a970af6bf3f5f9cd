"""Optimizers and the learning-rate schedule: SGD or LARS, linear warmup then cosine decay.

lr(step) = peak * min(1, (step + 1) / warmup_steps) * [r + (1 - r) (1 + cos(pi p)) / 2],
p = (step - warmup_steps) / (total - warmup_steps) clipped to [0, 1], r = `min_lr_ratio`,
peak = base_lr * batch_size / 256 (the linear scaling rule of SimCLR / the paper).

Biases and normalization parameters (1-D tensors) get no weight decay and, under LARS, no
trust-ratio adaptation (as in SimCLR's and BYOL's LARS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


def peak_lr(base_lr: float, batch_size: int) -> float:
    """The linear scaling rule of SimCLR and the paper (train.resolve reads it once per run)."""
    return base_lr * batch_size / 256


def lr_at(step: int, *, peak: float, warmup_steps: int, total_steps: int, min_ratio: float = 0.0):
    """The scheduled lr at 0-based `step`."""
    if warmup_steps > 0 and step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    p = min(1.0, max(0.0, (step - warmup_steps) / span))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


@dataclass(frozen=True)
class LRSchedule:
    """The run's schedule: `lr(step, elapsed_s)`. With `max_s` set (train.time_schedule), the
    cosine follows elapsed / max_s after the warmup instead of step / total steps, so a
    fixed-time recipe anneals fully however fast a shared CPU runs (not bit-reproducible)."""

    peak: float
    warmup_steps: int
    total_steps: int
    min_ratio: float = 0.0
    max_s: float = 0.0  # > 0: time-based cosine

    @classmethod
    def from_config(cls, cfg, resolved) -> LRSchedule:
        """The schedule of `cfg` with its derived sizes (`train.resolve.Resolved`)."""
        t = cfg.train
        return cls(
            peak=resolved.peak_lr,
            warmup_steps=resolved.warmup_steps,
            total_steps=resolved.total_steps,
            min_ratio=cfg.optim.min_lr_ratio,
            max_s=t.max_minutes * 60 if t.time_schedule else 0.0,
        )

    def lr(self, step: int, elapsed_s: float = 0.0) -> float:
        at, total = step, self.total_steps
        if self.max_s > 0 and step >= self.warmup_steps:
            frac = min(1.0, elapsed_s / self.max_s)
            at, total = self.warmup_steps + round(frac * 10**6), self.warmup_steps + 10**6
        return lr_at(
            at,
            peak=self.peak,
            warmup_steps=self.warmup_steps,
            total_steps=total,
            min_ratio=self.min_ratio,
        )


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise trust ratio eta ||w|| / ||g + wd w|| (You et al., 2017).

    Parameter groups with `lars=False` (biases, norms) take plain SGD steps without decay.
    """

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 0.001,
    ):
        super().__init__(
            params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, lars=True)
        )

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                if group["lars"]:
                    d_p = d_p.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.norm(p), torch.norm(d_p)
                    trust = torch.where(
                        (w_norm > 0) & (g_norm > 0),
                        group["eta"] * w_norm / g_norm,
                        torch.ones_like(w_norm),
                    )
                    d_p = d_p.mul(trust)
                buf = self.state[p].get("momentum_buffer")
                if buf is None:
                    buf = self.state[p]["momentum_buffer"] = d_p.clone()
                else:
                    buf.mul_(group["momentum"]).add_(d_p)
                p.add_(buf, alpha=-group["lr"])


def build_optimizer(params_named, optim_cfg, lr: float) -> torch.optim.Optimizer:
    """SGD or LARS over named parameters; 1-D tensors (biases, norms) skip decay (and LARS)."""
    decay, no_decay = [], []
    for _name, p in params_named:
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    if optim_cfg.name == "sgd":
        groups = [
            {"params": decay, "weight_decay": optim_cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        return torch.optim.SGD(groups, lr=lr, momentum=optim_cfg.momentum)
    if optim_cfg.name == "lars":
        groups = [
            {"params": decay, "weight_decay": optim_cfg.weight_decay, "lars": True},
            {"params": no_decay, "weight_decay": 0.0, "lars": False},
        ]
        return LARS(groups, lr=lr, momentum=optim_cfg.momentum)
    raise ValueError(f"unknown optimizer {optim_cfg.name!r}; choose sgd or lars")


def named_trainable(*modules: nn.Module):
    for i, m in enumerate(modules):
        for name, p in m.named_parameters():
            yield f"{i}.{name}", p
