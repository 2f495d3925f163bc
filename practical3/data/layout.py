"""The COVID-QU-Ex folder layout: the one place that spells its folder and file names.

The Kaggle archive nests each part twice (``Lung Segmentation Data/Lung Segmentation Data``);
the synthetic twin, the index, the download and the decoded cache all take their names
from here.
"""

from __future__ import annotations

KAGGLE_HANDLE = "anasmohammedtahir/covidqu"
KAGGLE_VERSION = 7

PARTS: dict[str, str] = {
    "infection": "Infection Segmentation Data",
    "lung": "Lung Segmentation Data",
}
SPLITS: tuple[str, ...] = ("Train", "Val", "Test")
CLASSES: tuple[str, ...] = ("COVID-19", "Non-COVID", "Normal")

IMAGES_DIR = "images"
LUNG_MASKS_DIR = "lung masks"
INFECTION_MASKS_DIR = "infection masks"

# Every target any model predicts, and the targets of each part's model, in channel order.
ALL_TARGETS: tuple[str, ...] = ("lung", "infection")
TARGETS: dict[str, tuple[str, ...]] = {
    "infection": ("lung", "infection"),
    "lung": ("lung",),
}
MASK_DIRS: dict[str, str] = {"lung": LUNG_MASKS_DIR, "infection": INFECTION_MASKS_DIR}

# File-name style of each class, as in the archive: covid_1579.png, non_COVID (11905).png, ...
FILE_NAME_FORMATS: dict[str, str] = {
    "COVID-19": "covid_{n}.png",
    "Non-COVID": "non_COVID ({n}).png",
    "Normal": "Normal ({n}).png",
}


def mask_dirs(part: str) -> tuple[str, ...]:
    """Mask folder names that sit beside ``images`` in a class folder of ``part``."""
    return tuple(MASK_DIRS[target] for target in TARGETS[part])


def file_name(cls: str, n: int) -> str:
    """The archive's file name for image number ``n`` of class ``cls``."""
    return FILE_NAME_FORMATS[cls].format(n=n)
