"""The U-Net matches the report: blocks, kernels, channels, skips, head, and sizes it refuses."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from practical3.base.errors import ConfigError
from practical3.models import MODELS, build_model
from practical3.models.blocks import AttentionGate, DoubleConv, Up
from practical3.models.inspection import (
    block_outputs,
    block_shapes,
    count_parameters,
    forward_flops,
)
from practical3.models.unet import AttentionUNet, UNet


def meta_model(name: str = "unet", **kwargs) -> UNet:
    """A model with shapes but no storage: the base-64 architecture checked without memory."""
    with torch.device("meta"):
        return build_model(name, **kwargs)


def convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if type(m) is nn.Conv2d]


def double_conv_params(c_in: int, c_out: int) -> int:
    """Two bias-free 3x3 convs plus two BatchNorms (weight and bias each)."""
    return 9 * c_in * c_out + 9 * c_out * c_out + 2 * 2 * c_out


def unet_params(c_in: int, c_out: int, base: int, depth: int, gated: bool = False) -> int:
    widths = [base * 2**level for level in range(depth + 1)]
    total = double_conv_params(c_in, widths[0])
    total += sum(double_conv_params(widths[i - 1], widths[i]) for i in range(1, depth + 1))
    for i in range(depth):
        wide, narrow = widths[i + 1], widths[i]
        total += wide * narrow * 2 * 2 + narrow  # ConvTranspose2d 2x2 with bias
        total += double_conv_params(2 * narrow, narrow)
        if gated:  # W_g (bias), W_x (no bias), psi (bias) at narrow // 2 inner channels
            inner = narrow // 2
            total += (narrow * inner + inner) + narrow * inner + (inner + 1)
    return total + widths[0] * c_out + c_out  # 1x1 head with bias


def test_double_conv_layer_order_and_kernels():
    block = DoubleConv(3, 5)
    assert [type(m) for m in block] == [
        nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Conv2d, nn.BatchNorm2d, nn.ReLU
    ]
    for conv in (block[0], block[3]):
        assert conv.kernel_size == (3, 3)
        assert conv.padding == (1, 1)
        assert conv.bias is None
    assert (block[0].in_channels, block[0].out_channels, block[3].out_channels) == (3, 5, 5)


def test_encoder_channels_per_level_for_base_64_depth_4():
    model = meta_model()
    assert [convs(e)[-1].out_channels for e in model.encoders] == [64, 128, 256, 512]
    assert convs(model.bottleneck)[-1].out_channels == 1024


def test_every_downsampling_is_maxpool_2x2_stride_2():
    pools = [m for m in meta_model().modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 4
    assert all((p.kernel_size, p.stride) == (2, 2) for p in pools)
    assert not any(isinstance(m, nn.MaxPool2d) for m in meta_model().encoders[0].modules())


def test_decoder_upsamples_with_transposed_conv_halving_channels():
    ups = [d.up for d in meta_model().decoders]
    assert all(isinstance(u, nn.ConvTranspose2d) for u in ups)
    assert all((u.kernel_size, u.stride) == ((2, 2), (2, 2)) for u in ups)
    assert [(u.in_channels, u.out_channels) for u in ups] == [
        (1024, 512), (512, 256), (256, 128), (128, 64)
    ]


def test_decoder_double_conv_takes_skip_concatenated():
    for decoder in meta_model().decoders:
        first, last = convs(decoder.conv)[0], convs(decoder.conv)[-1]
        assert first.in_channels == 2 * last.out_channels


def test_head_is_1x1_conv_to_one_logit_per_target():
    head = meta_model().head
    assert isinstance(head, nn.Conv2d)
    assert (head.kernel_size, head.in_channels, head.out_channels) == ((1, 1), 64, 2)


def test_parameter_count_of_base_64_model_matches_formula():
    assert count_parameters(meta_model()) == unet_params(1, 2, 64, 4)


def test_parameter_count_of_attention_model_matches_formula():
    model = meta_model("attention_unet")
    assert count_parameters(model) == unet_params(1, 2, 64, 4, gated=True)


@pytest.mark.parametrize("name", ["unet", "attention_unet"])
def test_output_shape_equals_input_size_with_one_channel_per_target(name):
    model = build_model(name, base_channels=8)
    assert model(torch.zeros(2, 1, 64, 64)).shape == (2, 2, 64, 64)


def test_attention_gate_scales_skip_by_a_factor_in_0_1():
    gate = AttentionGate(gate_channels=4, skip_channels=3, inter_channels=2)
    rng = torch.Generator().manual_seed(0)
    skip = torch.randn(1, 3, 8, 8, generator=rng)
    gated = gate(torch.randn(1, 4, 8, 8, generator=rng), skip)
    ratio = gated / skip
    assert torch.all((ratio > 0) & (ratio < 1))
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio))  # one map for all channels


def test_attention_unet_shares_up_block_with_a_gate():
    model = AttentionUNet(base_channels=4, depth=2)
    assert all(isinstance(d, Up) and isinstance(d.gate, AttentionGate) for d in model.decoders)
    assert all(d.gate is None for d in UNet(base_channels=4, depth=2).decoders)


def test_indivisible_size_raises_with_shape_and_fix():
    model = UNet(base_channels=4, depth=4)
    with pytest.raises(ValueError, match=r"multiples of 16.*\(1, 1, 64, 60\).*resize or pad"):
        model(torch.zeros(1, 1, 64, 60))


def test_build_model_names_and_unknown_name():
    assert type(build_model("unet", base_channels=4)) is UNet
    assert type(build_model("attention_unet", base_channels=4)) is AttentionUNet
    with pytest.raises(ConfigError, match="unet, attention_unet"):
        build_model("segformer")


def test_block_shapes_walk_encoders_bottleneck_decoders_head():
    model = UNet(base_channels=8, depth=2)
    rows = block_shapes(model, torch.zeros(1, 1, 32, 32))
    assert [(name, shape) for name, shape, _ in rows] == [
        ("encoders.0", (1, 8, 32, 32)),
        ("encoders.1", (1, 16, 16, 16)),
        ("bottleneck", (1, 32, 8, 8)),
        ("decoders.0", (1, 16, 16, 16)),
        ("decoders.1", (1, 8, 32, 32)),
        ("head", (1, 2, 32, 32)),
    ]
    assert sum(params for *_, params in rows) == count_parameters(model)


def test_block_outputs_leave_training_mode_and_batchnorm_stats_alone():
    model = UNet(base_channels=4, depth=1)
    before = model.encoders[0][1].running_mean.clone()
    block_outputs(model, torch.ones(1, 1, 8, 8))
    assert model.training
    assert torch.equal(model.encoders[0][1].running_mean, before)


def test_forward_flops_of_report_model_is_about_96_gflop():
    # The report's figure: about 96 GFLOP (2 per multiply-add) per 256x256 image.
    assert forward_flops(meta_model(), 256) / 1e9 == pytest.approx(96.19, abs=0.01)


@pytest.mark.parametrize("name", ["unet", "attention_unet"])
def test_forward_flops_agree_with_torch_flop_counter(name):
    model = build_model(name, base_channels=4, depth=3).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 1, 32, 32))
    assert forward_flops(model, 32) == counter.get_total_flops()


def test_each_models_report_sentence_is_its_docstrings_first_paragraph():
    assert MODELS["unet"].description == (
        "U-Net (Ronneberger et al. 2015) with padded convs: output size equals input size.")
    assert MODELS["unet"].__doc__.startswith(MODELS["unet"].description)
