"""Near-duplicate films across splits: a Test image that is (nearly) the same film as a Train or
Val image inflates the Test scores, and hints that one patient sits on both sides.

Each image is reduced to a small thumbnail hash (``HASH_SIDE`` x ``HASH_SIDE`` grey levels,
area-averaged, centred and scaled to unit norm), so two films match when the Pearson
correlation of their thumbnails is at least ``THRESHOLD``: robust to a re-encoding, a
brightness change or a resize, blind to what a thumbnail cannot see. A match is a candidate,
not proof of one patient: the report says how many were looked at.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from practical3.base.parallel import thread_map
from practical3.data.decode import read_png

HASH_SIDE = 8
THRESHOLD = 0.99
METHOD = (f"thumbnail hash: each image area-averaged to {HASH_SIDE} x {HASH_SIDE} grey levels, "
          f"centred and scaled; a pair matches at a Pearson correlation >= {THRESHOLD}")


def thumbnail_hash(path: str) -> np.ndarray:
    """The unit-norm, zero-mean ``HASH_SIDE``**2 vector of one image (a flat one: all zeros)."""
    image = Image.fromarray(read_png(path, mask=False))
    small = np.asarray(image.resize((HASH_SIDE, HASH_SIDE), Image.Resampling.BOX), np.float64)
    centred = small.ravel() - small.mean()
    norm = np.linalg.norm(centred)
    return centred / norm if norm > 0 else centred


def near_duplicates(index: pd.DataFrame, split: str = "Test",
                    threshold: float = THRESHOLD) -> dict[str, Any]:
    """Every image of ``split`` whose thumbnail correlates at ``threshold`` or more with an
    image of another split of the same index: its best match, that match's split and the
    correlation, with the method and the counts compared."""
    here = index[index["split"] == split].reset_index(drop=True)
    there = index[index["split"] != split].reset_index(drop=True)
    pairs: list[dict[str, Any]] = []
    if len(here) and len(there):
        a = np.stack(list(thread_map(thumbnail_hash, list(here["image"]))))
        b = np.stack(list(thread_map(thumbnail_hash, list(there["image"]))))
        correlation = a @ b.T
        best = correlation.argmax(axis=1)
        for i in np.flatnonzero(correlation[np.arange(len(here)), best] >= threshold):
            match = there.iloc[best[i]]
            pairs.append({"image": here.at[i, "name"], "cls": here.at[i, "cls"],
                          "match": match["name"], "match_split": match["split"],
                          "correlation": float(correlation[i, best[i]])})
    return {"method": METHOD, "threshold": threshold, "split": split,
            "n_compared": len(here), "n_against": len(there), "pairs": pairs}
