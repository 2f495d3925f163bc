"""Batches: the device-resident path (the GPU path, run here on the CPU) and the Dataset in a
DataLoader agree."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from practical3.augment import AugmentSpec
from practical3.cache import DecodedArrays
from practical3.dataset import PngSource, SegmentationDataset
from practical3.loaders import DeviceBatches, batches

CPU = torch.device("cpu")


@pytest.fixture
def source() -> DecodedArrays:
    rng = np.random.default_rng(0)
    n = 10
    return DecodedArrays(
        images=rng.integers(0, 256, (n, 16, 16), dtype=np.uint8),
        masks=(rng.random((n, 2, 16, 16)) > 0.5).astype(np.uint8),
        targets=("lung", "infection"),
        records=pd.DataFrame({"name": [f"{i}.png" for i in range(n)]}),
    )


def test_evaluation_batches_are_identical_on_both_paths(source):
    device_path = list(DeviceBatches(source, 4, CPU, None, shuffle=False, drop_last=False))
    loader_path = list(DataLoader(SegmentationDataset(source), batch_size=4))
    assert [len(x) for x, _ in device_path] == [4, 4, 2]
    for (x1, y1), (x2, y2) in zip(device_path, loader_path, strict=True):
        torch.testing.assert_close(x1, x2)
        torch.testing.assert_close(y1, y2)
    assert device_path[0][0].shape == (4, 1, 16, 16) and device_path[0][1].shape == (4, 2, 16, 16)


def test_training_batches_cover_each_image_once_per_epoch(source):
    spec = AugmentSpec(rotation_deg=0, translate=0, scale=0, brightness=0, contrast=0)
    loader = DeviceBatches(source, 3, CPU, spec, shuffle=True, drop_last=True)
    torch.manual_seed(0)
    seen = torch.cat([x for x, _ in loader])
    assert len(loader) == 3 and len(seen) == 9
    expected = torch.from_numpy(source.images).float() / 255
    # a zero-range warp is the identity up to float rounding
    matches = [((expected - image[0]).abs() < 1e-5).all(dim=(1, 2)).nonzero().flatten().tolist()
               for image in seen]
    assert all(len(m) == 1 for m in matches) and len({m[0] for m in matches}) == 9


def test_augmented_device_batches_keep_masks_binary_and_images_in_range(source):
    loader = DeviceBatches(source, 5, CPU, AugmentSpec(), shuffle=True, drop_last=True)
    for images, masks in loader:
        assert images.min() >= 0 and images.max() <= 1
        assert set(masks.unique().tolist()) <= {0.0, 1.0}


def test_decoded_splits_are_served_from_the_device_and_png_sources_by_a_dataloader(source):
    assert isinstance(batches(source, 4, CPU, train=True), DeviceBatches)
    png_like = PngSource(pd.DataFrame(columns=["part", "split", "cls", "name", "image"]),
                         ("lung",), 16)
    assert isinstance(batches(png_like, 4, CPU, train=False), DataLoader)


def test_a_split_smaller_than_a_batch_still_trains(source):
    small = DecodedArrays(source.images[:3], source.masks[:3], source.targets,
                          source.records[:3])
    assert sum(len(x) for x, _ in batches(small, 8, CPU, train=True)) == 3
