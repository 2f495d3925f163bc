"""The segmentation networks: one registry of architectures (``MODELS``, ``build_model``).

- ``blocks``: DoubleConv, Down, Up (optionally attention-gated), the 1x1 head;
- ``unet``: the shared encoder, the report's U-Net and the Attention U-Net;
- ``unetpp``: UNet++, with or without deep supervision, on the same encoder and blocks;
- ``inspection``: parameters, block outputs and FLOPs, for notebook 02 and the report.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from practical3.base.errors import ConfigError
from practical3.models.unet import AttentionUNet, SegmentationNet, UNet
from practical3.models.unetpp import UNetPlusPlus, UNetPlusPlusDS

MODELS: dict[str, type[SegmentationNet]] = {
    "unet": UNet, "attention_unet": AttentionUNet, "unetpp": UNetPlusPlus,
    "unetpp_ds": UNetPlusPlusDS,
}


def build_model(name: str, in_channels: int = 1, out_channels: int = 2, base_channels: int = 64,
                depth: int = 4) -> SegmentationNet:
    """The architecture called ``name`` (a key of ``MODELS``)."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name](in_channels, out_channels, base_channels, depth)


def supervised_loss(
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    outputs: torch.Tensor | tuple[torch.Tensor, ...],
    target: torch.Tensor,
) -> torch.Tensor:
    """The training loss of a model's output: ``loss_fn`` on a tensor, its mean over a tuple.

    A deep-supervised model (UNet++ in training mode) returns one logit tensor per head.
    """
    if isinstance(outputs, tuple):
        return torch.stack([loss_fn(logits, target) for logits in outputs]).mean()
    return loss_fn(outputs, target)
