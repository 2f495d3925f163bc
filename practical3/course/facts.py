"""Sentences about the data, computed from the data they describe, each naming it: what a
notebook says of the copy in view (``area_facts``) and of real COVID-QU-Ex (``real_area_facts``,
from the committed real report), so no sentence holds for one and is false for the other."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from practical3.evaluation.results import Results

ALL_OF_IT = 0.99  # an infected share of the lung at least this counts as "all of it"


def area_facts(areas: pd.DataFrame, label: str) -> str:
    """The lungs' and the infection's shares on the copy in view (``plots.eda.area_table``),
    under its ``label`` (a figure's stamp: its first line)."""
    covid = areas[areas["cls"] == "COVID-19"]
    name = label.splitlines()[0].removeprefix("Data: ")
    lines = [f"{name} ({len(areas):,} images measured):",
             f"- the lungs cover a median {areas['lung_area'].median():.0%} of an image;"]
    if covid["infection_area"].notna().any():
        share = covid["infection_of_lung"]
        lines += [f"- in COVID-19 images the infection covers a median {share.median():.0%} of "
                  f"the lung (all of it in {(share >= ALL_OF_IT).mean():.0%} of them), that is "
                  f"{covid['infection_area'].median():.0%} of the image;",
                  "- Non-COVID and Normal images have none."]
    return "\n".join(lines)


def real_area_facts(results: Results) -> str:
    """The infection's share of the lung in the committed real report's COVID-19 Test images
    (``per_image.csv``'s true severity, at each image's native size)."""
    covid = results.per_image[results.per_image["cls"] == "COVID-19"]
    share = covid["severity_true_percent"].dropna() / 100
    return (f"{results.label.removeprefix('Data: ')}, the committed report's {len(share)} "
            f"COVID-19 Test images: the infection covers a median {share.median():.0%} of the "
            f"lung, all of it in {(share >= ALL_OF_IT).mean():.0%} of them.")


ARCHIVE_GB = 1.0  # the archive's size, about, as Kaggle lists it (docs/data.md)


def download_note(target: Path) -> str:
    """What the optional download costs and where it goes: the archive's size, the minutes it
    takes at two line speeds, and the folder."""
    minutes = {mbit: ARCHIVE_GB * 8000 / mbit / 60 for mbit in (100, 20)}
    speeds = " or ".join(f"{m:.0f} min at {mbit} Mbit/s" for mbit, m in minutes.items())
    return (f"COVID-QU-Ex, about {ARCHIVE_GB:g} GB: {speeds}, then a few minutes to unpack; "
            f"into {target.resolve()}")
