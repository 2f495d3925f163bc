"""UNet++ matches Zhou et al. (2018): nested nodes, deep supervision, sizes it refuses, registry."""

from __future__ import annotations

import pytest
import torch
from test_model import double_conv_params
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from practical3.models import MODELS, build_model, supervised_loss
from practical3.models.inspection import block_shapes, count_parameters, forward_flops
from practical3.models.unet import UNet
from practical3.models.unetpp import UNetPlusPlus, UNetPlusPlusDS


def unetpp_params(c_in: int, c_out: int, base: int, depth: int, deep_supervision: bool) -> int:
    widths = [base * 2**level for level in range(depth + 1)]
    total = double_conv_params(c_in, widths[0])  # X[0][0]
    total += sum(double_conv_params(widths[i - 1], widths[i]) for i in range(1, depth + 1))
    for j in range(1, depth + 1):
        for i in range(depth + 1 - j):  # X[i][j]
            total += widths[i + 1] * widths[i] * 2 * 2 + widths[i]  # ConvTranspose2d 2x2, bias
            total += double_conv_params((j + 1) * widths[i], widths[i])  # j skips + upsampled
    heads = depth if deep_supervision else 1
    return total + heads * (widths[0] * c_out + c_out)  # 1x1 heads with bias


def squares() -> tuple[torch.Tensor, torch.Tensor]:
    """Four 32x32 images, each a bright 10x10 square somewhere, and the square as the mask."""
    images = torch.zeros(4, 1, 32, 32)
    for k, (row, col) in enumerate([(2, 4), (10, 16), (18, 6), (14, 20)]):
        images[k, 0, row:row + 10, col:col + 10] = 1
    return images, images.clone()


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("size", [(16, 16), (32, 48)])
def test_output_has_input_size_and_one_channel_per_target(depth, size):
    x = torch.zeros(2, 1, *size)
    assert UNetPlusPlus(1, 3, 2, depth)(x).shape == (2, 3, *size)
    model = UNetPlusPlusDS(1, 3, 2, depth)
    assert [logits.shape for logits in model(x)] == [(2, 3, *size)] * depth
    assert model.eval()(x).shape == (2, 3, *size)


def test_without_deep_supervision_training_mode_returns_one_tensor():
    assert isinstance(UNetPlusPlus(base_channels=2, depth=2).train()(torch.zeros(2, 1, 8, 8)),
                      torch.Tensor)


def test_deep_supervised_eval_output_is_mean_of_training_heads():
    torch.manual_seed(0)
    model = UNetPlusPlusDS(base_channels=4, depth=3)
    x = torch.randn(2, 1, 16, 16)
    for module in model.modules():  # training-mode forward, BatchNorm on its running statistics
        if isinstance(module, nn.BatchNorm2d):
            module.eval()
    heads = model(x)
    assert model.training and len(heads) == 3
    assert torch.equal(model.eval()(x), torch.stack(heads).mean(dim=0))


def test_parameter_count_of_base_8_depth_2_by_hand():
    # X00 680, X10 3,520, X20 13,952; X01 520 + 1,760, X11 2,064 + 6,976, X02 520 + 2,336;
    # one head 8 * 2 + 2 = 18 (two with deep supervision)
    assert unetpp_params(1, 2, 8, 2, False) == 32_346
    assert count_parameters(UNetPlusPlus(1, 2, 8, 2)) == 32_346
    assert count_parameters(UNetPlusPlusDS(1, 2, 8, 2)) == 32_364


@pytest.mark.parametrize("name, deep_supervision", [("unetpp", False), ("unetpp_ds", True)])
def test_parameter_count_of_base_64_depth_4_matches_formula(name, deep_supervision):
    with torch.device("meta"):
        model = build_model(name)
    assert count_parameters(model) == unetpp_params(1, 2, 64, 4, deep_supervision)


def test_backbone_is_the_unet_encoder():
    with torch.device("meta"):
        unet, unetpp = UNet(), UNetPlusPlus()

    def encoder_shapes(model: nn.Module) -> dict[str, torch.Size]:
        return {k: v.shape for k, v in model.state_dict().items()
                if k.startswith(("encoders.", "bottleneck."))}

    assert encoder_shapes(unetpp) == encoder_shapes(unet)


def test_node_takes_every_earlier_node_of_its_level_and_the_upsampled_one_below():
    node = UNetPlusPlus(base_channels=8, depth=3).nodes["x1_2"]  # width 16, from level 2 (32)
    assert (node.up.in_channels, node.up.out_channels) == (32, 16)
    assert (node.up.kernel_size, node.up.stride) == ((2, 2), (2, 2))
    assert node.conv[0].in_channels == 3 * 16  # X[1][0], X[1][1], up(X[2][1])


@pytest.mark.parametrize("name", ["unetpp", "unetpp_ds"])
def test_indivisible_size_raises_with_shape_and_fix(name):
    model = build_model(name, base_channels=2, depth=3)
    with pytest.raises(ValueError, match=r"multiples of 8.*\(1, 1, 16, 12\).*resize or pad"):
        model(torch.zeros(1, 1, 16, 12))


@pytest.mark.parametrize("name", ["unetpp", "unetpp_ds"])
def test_overfits_one_batch_of_squares(name):
    torch.manual_seed(0)
    images, masks = squares()
    model = build_model(name, 1, 1, base_channels=8, depth=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    bce = nn.BCEWithLogitsLoss()
    for _ in range(30):
        loss = supervised_loss(bce, model(images), masks)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        assert bce(model.eval()(images), masks) < 0.25  # about 0.69 untrained


def test_registry_names_and_build_model():
    assert [name for name, cls in MODELS.items() if issubclass(cls, UNetPlusPlus)] == [
        "unetpp", "unetpp_ds"
    ]
    assert type(build_model("unetpp", base_channels=2)) is UNetPlusPlus
    assert type(build_model("unetpp_ds", base_channels=2)) is UNetPlusPlusDS
    assert MODELS["unetpp"].description != MODELS["unetpp_ds"].description


def test_supervised_loss_of_tuple_is_mean_of_per_output_losses():
    def l1(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (logits - target).abs().mean()

    target = torch.zeros(1, 1, 2, 2)
    outputs = (torch.full((1, 1, 2, 2), 1.0), torch.full((1, 1, 2, 2), 4.0))
    assert supervised_loss(l1, outputs, target).item() == 2.5  # (1 + 4) / 2
    assert supervised_loss(l1, outputs[1], target).item() == 4.0


def test_block_shapes_walk_encoders_nodes_column_by_column_then_heads():
    model = UNetPlusPlusDS(base_channels=8, depth=2)
    rows = block_shapes(model, torch.zeros(1, 1, 32, 32))
    assert [(name, shape) for name, shape, _ in rows] == [
        ("encoders.0", (1, 8, 32, 32)),
        ("encoders.1", (1, 16, 16, 16)),
        ("bottleneck", (1, 32, 8, 8)),
        ("nodes.x0_1", (1, 8, 32, 32)),
        ("nodes.x1_1", (1, 16, 16, 16)),
        ("nodes.x0_2", (1, 8, 32, 32)),
        ("side_heads.0", (1, 2, 32, 32)),
        ("head", (1, 2, 32, 32)),
    ]
    assert sum(params for *_, params in rows) == count_parameters(model)


@pytest.mark.parametrize("name", ["unetpp", "unetpp_ds"])
def test_forward_flops_agree_with_torch_flop_counter(name):
    model = build_model(name, base_channels=4, depth=3).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 1, 32, 32))
    assert forward_flops(model, 32) == counter.get_total_flops()
