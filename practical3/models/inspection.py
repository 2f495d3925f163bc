"""Looking inside a model: parameters, the output of every block, and FLOPs per image."""

from __future__ import annotations

import copy

import torch
from torch import nn

from practical3.models.unet import SegmentationNet


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (trainable or not) in ``module``."""
    return sum(p.numel() for p in module.parameters())


def named_blocks(model: SegmentationNet) -> dict[str, nn.Module]:
    """The blocks a reader walks through, in forward order, as the architecture lists them."""
    return model.named_blocks()


def block_outputs(model: SegmentationNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The output of every named block for input ``x``, caught by forward hooks.

    Runs in eval mode without gradients (BatchNorm statistics untouched), then restores the mode.
    """
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        block.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out))
        for name, block in named_blocks(model).items()
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return outputs


def block_shapes(model: SegmentationNet, x: torch.Tensor) -> list[tuple[str, tuple[int, ...], int]]:
    """(block name, output shape, parameter count) of every named block, for a summary table."""
    blocks = named_blocks(model)
    return [
        (name, tuple(out.shape), count_parameters(blocks[name]))
        for name, out in block_outputs(model, x).items()
    ]


def _conv_flops(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> int:
    """FLOPs (2 per multiply-add, bias ignored) of one conv call, for the whole batch."""
    kernel = module.weight.shape[2] * module.weight.shape[3]
    if isinstance(module, nn.ConvTranspose2d):
        # Every input pixel is spread by the kernel onto out_channels / groups outputs.
        return 2 * inputs[0].numel() * module.weight.shape[1] * kernel
    return 2 * out.numel() * module.weight.shape[1] * kernel


def forward_flops(model: nn.Module, image_size: int, in_channels: int = 1) -> float:
    """FLOPs of one forward pass on one ``image_size`` square image, counting the convolutions.

    Runs a copy of ``model`` on the meta device (shapes only, no arithmetic): fast at any size.
    """
    meta_model = copy.deepcopy(model).to("meta").eval()
    flops: list[int] = []
    for module in meta_model.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            module.register_forward_hook(lambda m, i, out: flops.append(_conv_flops(m, i, out)))
    with torch.no_grad():
        meta_model(torch.empty(1, in_channels, image_size, image_size, device="meta"))
    return float(sum(flops))


def cost_table(base_channels: int = 64, depth: int = 4, image_size: int = 256,
               out_channels: int = 2) -> list[tuple[str, int, float]]:
    """(architecture, parameters, forward GFLOP per ``image_size`` image) of every registered
    model at the same settings; built on the meta device, so no memory or arithmetic."""
    from practical3.models import MODELS, build_model

    rows = []
    for name in MODELS:
        with torch.device("meta"):
            model = build_model(name, 1, out_channels, base_channels, depth)
        rows.append((name, count_parameters(model), forward_flops(model, image_size) / 1e9))
    return rows
