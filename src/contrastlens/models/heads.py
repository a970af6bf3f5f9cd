"""The projection head of SimCLR (docs/theory.md, "Protocol"): Linear - BN - ReLU - Linear, out 128.

Legend: B batch, F backbone feature dims, P projection dims.
"""

from __future__ import annotations

import torch
from torch import nn


class Projector(nn.Module):
    """(B, F) -> (B, P). `norm=False` drops the batch norm (the DDP equality test)."""

    def __init__(self, in_dim: int, hidden: int = 512, out_dim: int = 128, norm: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(in_dim, hidden, bias=not norm)]
        if norm:
            layers.append(nn.BatchNorm1d(hidden))
        layers += [nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)]
        self.net = nn.Sequential(*layers)

    def forward(self, h_BF: torch.Tensor) -> torch.Tensor:
        return self.net(h_BF)  # (B, P)


class Encoder(nn.Module):
    """Backbone + projector. `forward` returns (features (B, F), projections (B, P))."""

    def __init__(self, backbone: nn.Module, projector: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.projector = projector

    def forward(self, x_BCHW: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h_BF = self.backbone(x_BCHW)
        return h_BF, self.projector(h_BF)
