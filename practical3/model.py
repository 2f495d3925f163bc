"""The U-Net of the report, and an Attention U-Net built from the same blocks.

Encoder: a DoubleConv at full resolution, then ``depth - 1`` Down blocks (MaxPool2d 2x2 stride 2,
then DoubleConv) doubling the channels; the bottleneck is one more Down to twice the deepest
encoder's channels. Decoder: Up blocks (ConvTranspose2d 2x2 stride 2 halving the channels,
concatenation with the encoder features of the same size, DoubleConv). Head: a 1x1 conv giving
one logit per target (``layout.TARGETS``: channel 0 lung, channel 1 infection).
"""

from __future__ import annotations

import copy

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
    """Double the resolution with a 2x2 transposed conv, concatenate the skip, then DoubleConv.

    With ``gated=True`` the skip first passes an AttentionGate driven by the upsampled signal.
    """

    def __init__(self, in_channels: int, out_channels: int, gated: bool = False) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.gate = (
            AttentionGate(in_channels // 2, out_channels, max(out_channels // 2, 1))
            if gated
            else None
        )
        self.conv = DoubleConv(in_channels // 2 + out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if self.gate is not None:
            skip = self.gate(x, skip)
        return self.conv(torch.cat([skip, x], dim=1))


class OutConv(nn.Conv2d):
    """1x1 conv from the last decoder features to one logit per target."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size=1)


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015) with padded convs: output size equals input size.

    Height and width must be multiples of ``2**depth``; other sizes raise ValueError rather
    than being padded silently, so a prediction always lines up pixel for pixel with its mask.
    """

    gated = False

    def __init__(
        self, in_channels: int = 1, out_channels: int = 2, base_channels: int = 64, depth: int = 4
    ) -> None:
        super().__init__()
        if depth < 1 or base_channels < 1:
            raise ValueError(
                f"UNet needs depth >= 1 and base_channels >= 1, got depth={depth}, "
                f"base_channels={base_channels}: fix the run config"
            )
        self.depth = depth
        widths = [base_channels * 2**level for level in range(depth + 1)]
        self.encoders = nn.ModuleList(
            [DoubleConv(in_channels, widths[0])]
            + [Down(widths[i - 1], widths[i]) for i in range(1, depth)]
        )
        self.bottleneck = Down(widths[depth - 1], widths[depth])
        self.decoders = nn.ModuleList(
            Up(widths[i + 1], widths[i], gated=self.gated) for i in reversed(range(depth))
        )
        self.head = OutConv(widths[0], out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_size(x)
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
        x = self.bottleneck(x)
        for decoder, skip in zip(self.decoders, reversed(skips), strict=True):
            x = decoder(x, skip)
        return self.head(x)

    def check_size(self, x: torch.Tensor) -> None:
        """Raise ValueError unless height and width are multiples of ``2**depth``."""
        multiple = 2**self.depth
        if x.ndim != 4 or x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(
                f"{type(self).__name__} of depth {self.depth} needs a (N, C, H, W) input with H "
                f"and W multiples of {multiple}, got shape {tuple(x.shape)}: resize or pad the "
                f"images to a multiple of {multiple} (config image_size)"
            )


class AttentionUNet(UNet):
    """U-Net whose skip connections pass attention gates (Oktay et al. 2018)."""

    gated = True


MODELS: dict[str, type[UNet]] = {"unet": UNet, "attention_unet": AttentionUNet}


def build_model(
    name: str, in_channels: int = 1, out_channels: int = 2, base_channels: int = 64, depth: int = 4
) -> UNet:
    """The model called ``name`` in a run config (``TrainConfig.model``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name](in_channels, out_channels, base_channels, depth)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (trainable or not) in ``module``."""
    return sum(p.numel() for p in module.parameters())


def named_blocks(model: UNet) -> dict[str, nn.Module]:
    """The blocks a reader walks through, in forward order: encoders, bottleneck, decoders, head."""
    return {
        **{f"encoders.{i}": block for i, block in enumerate(model.encoders)},
        "bottleneck": model.bottleneck,
        **{f"decoders.{i}": block for i, block in enumerate(model.decoders)},
        "head": model.head,
    }


def block_outputs(model: UNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
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


def block_shapes(model: UNet, x: torch.Tensor) -> list[tuple[str, tuple[int, ...], int]]:
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
