"""The severity score: how much of the lung is infected, in percent of its area."""

from __future__ import annotations

import math

import numpy as np


def infected_percent(lung: np.ndarray, infection: np.ndarray) -> float:
    """100 x infected pixels / lung pixels of one image's masks; NaN when the lung mask is
    empty, as a share of no lung is undefined (not 0)."""
    lung_area = np.count_nonzero(lung)
    if lung_area == 0:
        return math.nan
    return 100 * np.count_nonzero(infection) / lung_area
