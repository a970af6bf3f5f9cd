"""torchvision ResNets with the stem chosen for the image size, returning pooled features.

Two stems (`model.stem`):
- "cifar" (docs/theory.md, "Protocol"): a 3x3 stride-1 first conv and no max-pool, so a 32 x 32
  image keeps 32 x 32 into the first block (the ImageNet stem would shrink it to 8 x 8);
- "imagenet": torchvision's 7x7 stride-2 conv + 3x3 stride-2 max-pool, the standard ResNet the
  paper trains on ImageNet-100 at 224 px. At 224 px the CIFAR stem keeps 16x the pixels through
  every block: ResNet-50 costs 127 GFLOPs per image forward instead of 8
  (tests/models/test_resnet.py counts them).
"auto" (`resolve_stem`) picks "imagenet" from IMAGENET_STEM_MIN_SIDE px up, else "cifar"
(CIFAR's 32 and STL-10's 96 keep the CIFAR stem).

The classifier is replaced by the identity, so the model returns the pooled features (512 for
ResNet-18, 2048 for ResNet-50).

Legend: B batch, C channels, H, W height and width, F feature dims.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

STEMS = ("auto", "cifar", "imagenet")
IMAGENET_STEM_MIN_SIDE = 128  # "auto": images this large or larger get the ImageNet stem


def resolve_stem(stem: str, image_size: int) -> str:
    """ "cifar" or "imagenet": `stem` itself, or for "auto" the one for `image_size` px."""
    if stem not in STEMS:
        raise ValueError(f"stem must be one of {', '.join(STEMS)}, got {stem!r}")
    if stem != "auto":
        return stem
    return "imagenet" if image_size >= IMAGENET_STEM_MIN_SIDE else "cifar"


class ResNet(nn.Module):
    """(B, C, H, W) float -> (B, F) pooled features. `stem`: "cifar" or "imagenet"."""

    def __init__(self, arch: str = "resnet18", in_channels: int = 3, stem: str = "cifar"):
        super().__init__()
        if arch not in ("resnet18", "resnet50"):
            raise ValueError(f"arch must be resnet18 or resnet50, got {arch!r}")
        if stem not in ("cifar", "imagenet"):
            raise ValueError(f"stem must be cifar or imagenet, got {stem!r}")
        net = getattr(torchvision.models, arch)(weights=None)
        if stem == "cifar":
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.stem = stem
        self.out_dim = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.net(x_BCHW)  # (B, F)


CifarResNet = ResNet  # the name before the ImageNet stem existed (stem="cifar" is the default)
