"""The usual-notebook Dataset (``practical3.data.dataset``; notebook 03's own loop and
``benchmarks/baseline.py`` use it): a per-sample Dataset with a v2 transform. It must feed the
same tensors as the project's path, or the benchmark compares two different things."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader
from torchvision import tv_tensors
from torchvision.transforms import v2

from practical3.data import layout
from practical3.data.augment import AugmentSpec
from practical3.data.batches import DeviceBatches
from practical3.data.cache import DecodedArrays, load_decoded
from practical3.data.dataset import CachedSource, JointAugment, PngSource, SegmentationDataset
from practical3.data.index import build_index, select_split
from practical3.data.synth import synthesize

TARGETS = layout.TARGETS["infection"]
SIZE = 64
CPU = torch.device("cpu")
# Wider than the default so that a warp surely moves the square by several pixels.
STRONG = AugmentSpec(rotation_deg=20, translate=0.1, scale=0.15, brightness=0.1, contrast=0.15)


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> pd.DataFrame:
    """The Test split of a small synthetic twin (2 images per class, 64x64)."""
    root = synthesize(tmp_path_factory.mktemp("twin") / "synthetic", per_class=2, size=SIZE,
                      parts=("infection",))
    return select_split(build_index(root), "infection", "Test")


def cached(index: pd.DataFrame, size: int, cache_dir) -> CachedSource:
    return CachedSource(load_decoded(index, TARGETS, size, cache_dir=cache_dir))


@pytest.mark.parametrize("size", [SIZE, 40])
def test_cached_and_png_sources_give_identical_tensors(index, tmp_path, size):
    from_cache = SegmentationDataset(cached(index, size, tmp_path))
    direct = SegmentationDataset(PngSource(index, TARGETS, size))
    assert len(from_cache) == len(direct) == len(index)
    for i in range(len(index)):
        for a, b in zip(from_cache[i], direct[i], strict=True):
            assert torch.equal(a, b)


def test_dataset_item_shapes_dtypes_and_ranges(index, tmp_path):
    image, masks = SegmentationDataset(cached(index, 32, tmp_path))[0]
    assert image.shape == (1, 32, 32) and image.dtype == torch.float32
    assert masks.shape == (2, 32, 32) and masks.dtype == torch.float32
    assert type(image) is torch.Tensor and type(masks) is torch.Tensor
    assert image.min() >= 0 and image.max() <= 1 and image.max() > image.min()
    assert set(masks.unique().tolist()) <= {0.0, 1.0}


def test_augmented_items_keep_binary_masks_and_range(index, tmp_path):
    torch.manual_seed(0)
    image, masks = SegmentationDataset(cached(index, 32, tmp_path), augment=AugmentSpec())[0]
    assert image.shape == (1, 32, 32) and masks.shape == (2, 32, 32)
    assert image.min() >= 0 and image.max() <= 1
    assert set(masks.unique().tolist()) <= {0.0, 1.0}


def test_evaluation_batches_are_identical_on_both_paths():
    rng = np.random.default_rng(0)
    source = DecodedArrays(
        images=rng.integers(0, 256, (10, 16, 16), dtype=np.uint8),
        masks=(rng.random((10, 2, 16, 16)) > 0.5).astype(np.uint8),
        targets=TARGETS, records=pd.DataFrame({"name": [f"{i}.png" for i in range(10)]}))
    device_path = list(DeviceBatches(source, 4, CPU, None, shuffle=False, drop_last=False))
    loader_path = list(DataLoader(SegmentationDataset(CachedSource(source)), batch_size=4))
    assert [len(x) for x, _ in device_path] == [4, 4, 2]
    for (x1, y1), (x2, y2) in zip(device_path, loader_path, strict=True):
        torch.testing.assert_close(x1, x2)
        torch.testing.assert_close(y1, y2)


def square(side: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """A bright square on black (1, H, W) and its two masks (2, H, W)."""
    image = torch.zeros(1, side, side)
    image[:, 20:44, 16:40] = 1.0
    masks = torch.cat([image, torch.zeros_like(image)])
    masks[1, 24:32, 20:28] = 1.0
    return image, masks


def overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    """Intersection over union of two boolean maps."""
    return ((a & b).sum() / (a | b).sum()).item()


def test_joint_augment_moves_image_and_masks_together_through_compose():
    torch.manual_seed(0)
    image, masks = square()
    transform = v2.Compose([JointAugment(STRONG)])
    for _ in range(8):
        out_image, out_masks = transform(tv_tensors.Image(image), tv_tensors.Mask(masks))
        assert not torch.equal(out_masks, masks)
        assert overlap(out_image[0] > 0.5, out_masks[0] > 0.5) > 0.95


def test_joint_augment_keeps_tv_tensor_types_and_dtypes():
    image, masks = square()
    out_image, out_mask = v2.Compose([JointAugment(STRONG)])(
        tv_tensors.Image(image), tv_tensors.Mask(masks.to(torch.uint8)))
    assert isinstance(out_image, tv_tensors.Image) and out_image.shape == image.shape
    assert isinstance(out_mask, tv_tensors.Mask) and out_mask.shape == masks.shape
    assert out_mask.dtype == torch.uint8
    assert set(out_mask.unique().tolist()) <= {0, 1}


def test_joint_augment_leaves_other_inputs_alone():
    image, masks = square()
    label = torch.tensor([2])
    _, _, out = JointAugment(STRONG)(tv_tensors.Image(image), tv_tensors.Mask(masks), label)
    assert torch.equal(out, label)
