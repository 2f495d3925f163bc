"""The U-Net of the report, an Attention U-Net built from the same blocks, and their shared base.

Encoder: a DoubleConv at full resolution, then ``depth - 1`` Down blocks (MaxPool2d 2x2 stride 2,
then DoubleConv) doubling the channels; the bottleneck is one more Down to twice the deepest
encoder's channels. Decoder: Up blocks (ConvTranspose2d 2x2 stride 2 halving the channels,
concatenation with the encoder features of the same size, DoubleConv). Head: a 1x1 conv giving
one logit per target (``layout.TARGETS``: channel 0 lung, channel 1 infection).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from practical3.base.errors import ConfigError
from practical3.base.text import first_paragraph
from practical3.models.blocks import DoubleConv, Down, OutConv, Up


class SegmentationNet(nn.Module):
    """The U-Net encoder every architecture here starts from, with its input-size check.

    Height and width must be multiples of ``2**depth``; other sizes raise ValueError rather
    than being padded silently, so a prediction always lines up pixel for pixel with its mask.
    """

    description: ClassVar[str]  # for the report: the first paragraph of the class's docstring

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.description = first_paragraph(cls.__doc__)

    def __init__(self, in_channels: int, base_channels: int, depth: int) -> None:
        super().__init__()
        if depth < 1 or base_channels < 1:
            raise ConfigError(
                f"{type(self).__name__} needs depth >= 1 and base_channels >= 1, got "
                f"depth={depth}, base_channels={base_channels}: fix the run config"
            )
        self.depth = depth
        self.widths = [base_channels * 2**level for level in range(depth + 1)]
        self.encoders = nn.ModuleList(
            [DoubleConv(in_channels, self.widths[0])]
            + [Down(self.widths[i - 1], self.widths[i]) for i in range(1, depth)]
        )
        self.bottleneck = Down(self.widths[depth - 1], self.widths[depth])

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The features of every encoder level after the size check, the bottleneck's last."""
        self.check_size(x)
        features = []
        for block in (*self.encoders, self.bottleneck):
            x = block(x)
            features.append(x)
        return features

    def check_size(self, x: torch.Tensor) -> None:
        """Raise ValueError unless height and width are multiples of ``2**depth``."""
        multiple = 2**self.depth
        if x.ndim != 4 or x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(
                f"{type(self).__name__} of depth {self.depth} needs a (N, C, H, W) input with H "
                f"and W multiples of {multiple}, got shape {tuple(x.shape)}: resize or pad the "
                f"images to a multiple of {multiple} (config image_size)"
            )

    def named_blocks(self) -> dict[str, nn.Module]:
        """The blocks a reader walks through, in forward order; subclasses append theirs."""
        return {
            **{f"encoders.{i}": block for i, block in enumerate(self.encoders)},
            "bottleneck": self.bottleneck,
        }


class UNet(SegmentationNet):
    """U-Net (Ronneberger et al. 2015) with padded convs: output size equals input size."""

    gated = False

    def __init__(
        self, in_channels: int = 1, out_channels: int = 2, base_channels: int = 64, depth: int = 4
    ) -> None:
        super().__init__(in_channels, base_channels, depth)
        self.decoders = nn.ModuleList(
            Up(self.widths[i + 1], self.widths[i], gated=self.gated) for i in reversed(range(depth))
        )
        self.head = OutConv(self.widths[0], out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *skips, x = self.encode(x)
        for decoder, skip in zip(self.decoders, reversed(skips), strict=True):
            x = decoder(x, skip)
        return self.head(x)

    def named_blocks(self) -> dict[str, nn.Module]:
        """Encoders, bottleneck, decoders (deepest first), head."""
        return {
            **super().named_blocks(),
            **{f"decoders.{i}": block for i, block in enumerate(self.decoders)},
            "head": self.head,
        }


class AttentionUNet(UNet):
    """U-Net whose skip connections pass attention gates (Oktay et al. 2018)."""

    gated = True
