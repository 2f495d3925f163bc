"""The U-Net's building blocks: DoubleConv, Down, Up (optionally gated), the 1x1 head.

Each block is a few lines; ``unet``, ``unetpp`` and the other architectures only assemble them.
"""

from __future__ import annotations

import torch
from torch import nn


class DoubleConv(nn.Sequential):
    """Two (3x3 conv, BatchNorm, ReLU); the conv has no bias because BatchNorm adds one."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Down(nn.Sequential):
    """Halve the resolution with a 2x2 max pool (stride 2), then a DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.MaxPool2d(kernel_size=2, stride=2), DoubleConv(in_channels, out_channels)
        )


class AttentionGate(nn.Module):
    """Oktay et al. (2018): weight the skip features by a [0, 1] map from skip and decoder signal.

    Additive attention, sigmoid(psi(ReLU(W_x skip + W_g gate))) * skip, at the skip's resolution
    (the gate is the upsampled decoder signal; the paper gates one level coarser and resamples).
    """

    def __init__(self, gate_channels: int, skip_channels: int, inter_channels: int) -> None:
        super().__init__()
        self.w_gate = nn.Conv2d(gate_channels, inter_channels, kernel_size=1)
        self.w_skip = nn.Conv2d(skip_channels, inter_channels, kernel_size=1, bias=False)
        self.psi = nn.Conv2d(inter_channels, 1, kernel_size=1)

    def forward(self, gate: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        alpha = torch.sigmoid(self.psi(torch.relu(self.w_gate(gate) + self.w_skip(skip))))
        return skip * alpha


class Up(nn.Module):
    """Double the resolution with a 2x2 transposed conv, concatenate the skips, then DoubleConv.

    A U-Net decoder takes one skip, a UNet++ node ``n_skips`` of them (each ``out_channels`` wide).
    With ``gated=True`` each skip first passes an AttentionGate driven by the upsampled signal.
    """

    def __init__(
        self, in_channels: int, out_channels: int, gated: bool = False, n_skips: int = 1
    ) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.gate = (
            AttentionGate(in_channels // 2, out_channels, max(out_channels // 2, 1))
            if gated
            else None
        )
        self.conv = DoubleConv(in_channels // 2 + n_skips * out_channels, out_channels)

    def forward(self, x: torch.Tensor, *skips: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if self.gate is not None:
            skips = tuple(self.gate(x, skip) for skip in skips)
        return self.conv(torch.cat([*skips, x], dim=1))


class OutConv(nn.Conv2d):
    """1x1 conv from the last decoder features to one logit per target."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size=1)
