"""Batches from a split held on the device (the GPU path, run here on the CPU)."""

import numpy as np
import pandas as pd
import pytest
import torch

from practical3.data.augment import AugmentSpec
from practical3.data.batches import DeviceBatches, batches
from practical3.data.cache import DecodedArrays

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


def test_training_batches_drop_a_ragged_last_batch_and_evaluation_keeps_it(source):
    assert [len(x) for x, _ in batches(source, 4, CPU, train=True)] == [4, 4]
    assert [len(x) for x, _ in batches(source, 4, CPU, train=False)] == [4, 4, 2]


def test_a_split_smaller_than_a_batch_still_trains(source):
    small = DecodedArrays(source.images[:3], source.masks[:3], source.targets,
                          source.records[:3])
    assert sum(len(x) for x, _ in batches(small, 8, CPU, train=True)) == 3
