"""Backbones (ResNets with a CIFAR or ImageNet stem, a small CNN for 28 x 28), the projection
head, MoCo (key encoder, queue, shuffle-BN), and `build_encoder` that makes an encoder from a
`ModelConfig`."""

from __future__ import annotations

from torch import nn

from contrastlens.models.heads import Encoder, Projector
from contrastlens.models.momentum import MoCo, Queue, make_key_encoder, momentum_update
from contrastlens.models.resnet import STEMS, CifarResNet, ResNet, resolve_stem
from contrastlens.models.small_cnn import SmallCNN

BACKBONES = ("small_cnn", "resnet18", "resnet50")


def build_encoder(model_cfg, in_channels: int, image_size: int = 32) -> Encoder:
    """Backbone + projector from a `train.config.ModelConfig`; `image_size` (the training
    images' side) chooses the ResNet stem when model.stem is "auto" (`encoder_stem`)."""
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
        backbone = ResNet(model_cfg.backbone, in_channels, encoder_stem(model_cfg, image_size))
    else:
        raise ValueError(f"unknown backbone {model_cfg.backbone!r}; choose one of {BACKBONES}")
    projector = Projector(
        backbone.out_dim, model_cfg.proj_hidden, model_cfg.proj_dim, norm=model_cfg.norm == "bn"
    )
    return Encoder(backbone, projector)


def encoder_stem(model_cfg, image_size: int) -> str | None:
    """The stem `build_encoder` gives a ResNet for images of side `image_size` ("cifar" or
    "imagenet"; recorded in meta.json's "resolved"), None for backbones without one."""
    if model_cfg.backbone not in ("resnet18", "resnet50"):
        return None
    return resolve_stem(model_cfg.stem, image_size)


__all__ = [
    "BACKBONES",
    "CifarResNet",
    "Encoder",
    "MoCo",
    "Projector",
    "Queue",
    "ResNet",
    "STEMS",
    "SmallCNN",
    "build_encoder",
    "encoder_stem",
    "make_key_encoder",
    "momentum_update",
]
