"""CIFAR-stem ResNets from torchvision: 3x3 stride-1 first conv, no max-pool
(docs/theory.md, "Protocol").

The ImageNet stem (7x7 stride 2 + max-pool) shrinks a 32 x 32 image to 8 x 8 before the first
block; the CIFAR stem keeps 32 x 32. The classifier is replaced by the identity, so the model
returns the pooled features (512 for ResNet-18, 2048 for ResNet-50).

Legend: B batch, C channels, H, W height and width, F feature dims.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn


class CifarResNet(nn.Module):
    """(B, C, H, W) float -> (B, F) pooled features."""

    def __init__(self, arch: str = "resnet18", in_channels: int = 3):
        super().__init__()
        if arch not in ("resnet18", "resnet50"):
            raise ValueError(f"arch must be resnet18 or resnet50, got {arch!r}")
        net = getattr(torchvision.models, arch)(weights=None)
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        self.out_dim = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.net(x_BCHW)  # (B, F)
