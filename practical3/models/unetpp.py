"""UNet++ (Zhou et al. 2018): the U-Net encoder joined to the decoder by nested, dense skips.

Node X[i][j] sits at level i (resolution 1 / 2**i) and column j. Column 0 is our U-Net's encoder
(X[depth][0] its bottleneck); for j >= 1, X[i][j] = DoubleConv(concat(X[i][0], ..., X[i][j-1],
up(X[i+1][j-1]))). The paper upsamples; ``up`` here is the U-Net's own ConvTranspose2d 2x2
stride 2 (the ``Up`` block), so that a comparison with our U-Net isolates the nested skips.
"""

from __future__ import annotations

import torch
from torch import nn

from practical3.models.blocks import OutConv, Up
from practical3.models.unet import SegmentationNet


class UNetPlusPlus(SegmentationNet):
    """UNet++ (Zhou et al. 2018): the U-Net encoder joined to its decoder by nested, densely
    connected skip pathways.

    Without deep supervision: one 1x1 head on the last top-row node X[0][depth]. Nodes are built
    and run column by column (j = 1..depth, level 0 first within a column).
    """

    deep_supervision = False

    def __init__(
        self, in_channels: int = 1, out_channels: int = 2, base_channels: int = 64, depth: int = 4
    ) -> None:
        super().__init__(in_channels, base_channels, depth)
        w = self.widths
        self.nodes = nn.ModuleDict({
            f"x{i}_{j}": Up(w[i + 1], w[i], n_skips=j)
            for j in range(1, depth + 1) for i in range(depth + 1 - j)
        })
        side = depth - 1 if self.deep_supervision else 0
        self.side_heads = nn.ModuleList(OutConv(w[0], out_channels) for _ in range(side))
        self.head = OutConv(w[0], out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """Logits (N, T, H, W); deep-supervised in training, the tuple of every top-row head's."""
        grid = [[features] for features in self.encode(x)]  # grid[i][j] is X[i][j]
        for j in range(1, self.depth + 1):
            for i in range(self.depth + 1 - j):
                grid[i].append(self.nodes[f"x{i}_{j}"](grid[i + 1][j - 1], *grid[i]))
        top = grid[0][1:]
        if not self.deep_supervision:
            return self.head(top[-1])
        logits = (*(h(node) for h, node in zip(self.side_heads, top[:-1], strict=True)),
                  self.head(top[-1]))
        return logits if self.training else torch.stack(logits).mean(dim=0)

    def named_blocks(self) -> dict[str, nn.Module]:
        """Encoders, bottleneck, nodes column by column, side heads, head."""
        return {
            **super().named_blocks(),
            **{f"nodes.{name}": block for name, block in self.nodes.items()},
            **{f"side_heads.{i}": block for i, block in enumerate(self.side_heads)},
            "head": self.head,
        }


class UNetPlusPlusDS(UNetPlusPlus):
    """UNet++ (Zhou et al. 2018) with deep supervision: a 1x1 head on every top-row node,
    trained on their mean loss, their logits averaged at inference.

    The heads sit on X[0][1..depth]. In training mode forward returns the tuple of their logits
    (``models.supervised_loss`` averages the loss over it); in eval mode the mean of those logits.
    """

    deep_supervision = True
