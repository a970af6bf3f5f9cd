"""Backbones (CIFAR-stem ResNets, a small CNN for 28 x 28), the projection head, MoCo (key
encoder, queue, shuffle-BN), and `build_encoder` that makes an encoder from a `ModelConfig`."""

from __future__ import annotations

from torch import nn

from contrastlens.models.heads import Encoder, Projector
from contrastlens.models.momentum import MoCo, Queue, make_key_encoder, momentum_update
from contrastlens.models.resnet import CifarResNet
from contrastlens.models.small_cnn import SmallCNN

BACKBONES = ("small_cnn", "resnet18", "resnet50")


def build_encoder(model_cfg, in_channels: int) -> Encoder:
    """Backbone + projector from a `train.config.ModelConfig`."""
    if model_cfg.backbone == "small_cnn":
        backbone: nn.Module = SmallCNN(
            in_channels,
            tuple(model_cfg.widths),
            model_cfg.depth,
            model_cfg.pool,
            model_cfg.norm,
            model_cfg.mid_pool,
        )
    elif model_cfg.backbone in ("resnet18", "resnet50"):
        backbone = CifarResNet(model_cfg.backbone, in_channels)
    else:
        raise ValueError(f"unknown backbone {model_cfg.backbone!r}; choose one of {BACKBONES}")
    projector = Projector(
        backbone.out_dim, model_cfg.proj_hidden, model_cfg.proj_dim, norm=model_cfg.norm == "bn"
    )
    return Encoder(backbone, projector)


__all__ = [
    "BACKBONES",
    "CifarResNet",
    "Encoder",
    "MoCo",
    "Projector",
    "Queue",
    "SmallCNN",
    "build_encoder",
    "make_key_encoder",
    "momentum_update",
]
