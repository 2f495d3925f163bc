"""Exploratory figures of an indexed COVID-QU-Ex copy: counts, examples, mask areas,
intensities, and an augmented batch as the model sees it.

Area and intensity statistics decode a seeded random subset (at most ``PER_CLASS`` images per
class, through ``index.read_sample``), so the full 33,920 images take seconds; each figure's
title says how many images it shows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from torch import Tensor

from practical3.base.errors import DataError
from practical3.base.parallel import thread_map
from practical3.data import layout
from practical3.data.decode import read_sample
from practical3.data.fingerprint import data_fingerprint
from practical3.data.index import build_index, count_table
from practical3.data.sources import describe, showable
from practical3.plots.common import fixed_jitter, legend_below, mask_legend, save_figure
from practical3.plots.overlay import overlay

PER_CLASS = 300
SEED = 0
STYLE = "whitegrid"
CLASS_COLOURS = dict(zip(layout.CLASSES, sns.color_palette("colorblind", 3), strict=True))
HIST_BINS = 64  # 4 gray levels a bin: smooth curves from a few hundred images


def sample_rows(index: pd.DataFrame, part: str = "infection", per_class: int = PER_CLASS,
                seed: int = SEED) -> pd.DataFrame:
    """At most ``per_class`` rows of each class of ``part``: a seeded random subset, index order."""
    rows = index[index["part"] == part]
    if rows.empty:
        raise DataError([f"no {part!r} images in this index (parts present: "
                         f"{sorted(index['part'].unique())})"], "pass part= one of those")
    picked = [group.sample(n=min(per_class, len(group)), random_state=seed)
              for _, group in rows.groupby("cls", sort=False)]
    return pd.concat(picked).sort_index()


def _decoded(rows: pd.DataFrame, part: str) -> Iterator[tuple[pd.Series, np.ndarray, np.ndarray]]:
    """(row, image, masks) for each row, decoded in a few threads."""
    targets = layout.TARGETS[part]
    records = [row for _, row in rows.iterrows()]
    decoded = thread_map(lambda r: read_sample(r, targets), records)
    for row, (image, masks) in zip(records, decoded, strict=True):
        yield row, image, masks


def _subsample_note(rows: pd.DataFrame, index: pd.DataFrame, part: str) -> str:
    """'all 24 images' or 'random 900 of 5,826 images' (for titles)."""
    total = int((index["part"] == part).sum())
    return f"all {total:,} images" if len(rows) == total else f"random {len(rows):,} of {total:,}"


def _subplots(nrows: int, ncols: int, **kwargs) -> tuple[plt.Figure, np.ndarray]:
    with sns.axes_style(STYLE):
        return plt.subplots(nrows, ncols, squeeze=False, layout="constrained", **kwargs)


def _label_bars(ax: plt.Axes, fmt: str, fontsize: float = 8) -> None:
    for bars in ax.containers:
        ax.bar_label(bars, fmt=fmt, fontsize=fontsize, padding=1)


def plot_counts(table: pd.DataFrame) -> plt.Figure:
    """Images per split and class, one panel per part (``index.count_table`` output)."""
    parts = list(dict.fromkeys(table.index.get_level_values("part")))
    fig, axes = _subplots(1, len(parts), figsize=(4.8 * len(parts), 3.6))
    for ax, part in zip(axes[0], parts, strict=True):
        long = (table.loc[part, list(layout.CLASSES)].rename_axis("split").reset_index()
                .melt(id_vars="split", var_name="class", value_name="images"))
        sns.barplot(long, x="split", y="images", hue="class", palette=CLASS_COLOURS, ax=ax)
        _label_bars(ax, "{:,.0f}", fontsize=7)
        ax.set_title(f"{layout.PARTS[part]} ({int(table.loc[part, 'total'].sum()):,} images)")
        ax.set_xlabel("")
        ax.margins(y=0.12)
        handles = ax.get_legend().legend_handles
        ax.get_legend().remove()
    legend_below(fig, handles)
    fig.suptitle("Images per split and class")
    return fig


def plot_examples(index: pd.DataFrame, per_class: int = 2, part: str = "infection",
                  seed: int = SEED) -> plt.Figure:
    """``per_class`` random images of each class with their masks (``overlay``),
    drawn only from images whose licence allows sharing them (``sources.showable``)."""
    shareable = index[[showable(Path(row.image), row.name) for row in index.itertuples()]]
    rows = sample_rows(shareable, part, per_class, seed)
    classes = [c for c in layout.CLASSES if c in set(rows["cls"])]
    fig, axes = _subplots(len(classes), per_class, figsize=(2.6 * per_class, 2.8 * len(classes)))
    for ax in axes.flat:
        ax.axis("off")
    filled = {c: 0 for c in classes}
    targets = layout.TARGETS[part]
    for row, image, masks in _decoded(rows, part):
        ax = axes[classes.index(row["cls"]), filled[row["cls"]]]
        filled[row["cls"]] += 1
        ax.imshow(overlay(image, masks, targets), interpolation="nearest")
        caption = row["name"]
        if "infection" in targets:
            lung, infection = masks[targets.index("lung")], masks[targets.index("infection")]
            share = infection.sum() / max(lung.sum(), 1)
            caption += f"\ninfection {share:.0%} of lung" if share else "\nno infection"
        ax.set_title(f"{row['cls']}: {caption}", fontsize=8)
    mask_legend(fig, targets)
    fig.suptitle(f"Examples, {layout.PARTS[part]}")
    return fig


def area_table(index: pd.DataFrame, part: str = "infection", per_class: int = PER_CLASS,
               seed: int = SEED) -> pd.DataFrame:
    """Per image: lung and infection area as fractions of the image, infection share of lung.

    Infection columns are NaN for a part without infection masks; ``class_total`` counts the
    class's images in the whole part (the subset is at most ``per_class`` of them).
    """
    rows = sample_rows(index, part, per_class, seed)
    totals = index[index["part"] == part].groupby("cls").size()
    records = []
    for row, _, masks in _decoded(rows, part):
        lung = masks[0].mean()
        infection = masks[1].mean() if len(masks) > 1 else np.nan
        records.append({"part": part, "split": row["split"], "cls": row["cls"],
                        "name": row["name"], "lung_area": lung, "infection_area": infection,
                        "infection_of_lung": infection / lung if lung > 0 else np.nan,
                        "class_total": int(totals[row["cls"]])})
    return pd.DataFrame.from_records(records)


def plot_area_distributions(areas: pd.DataFrame) -> plt.Figure:
    """Class balance, lung area, infection share of the lung, and images with any infection."""
    classes = [c for c in layout.CLASSES if c in set(areas["cls"])]
    per_class = areas.groupby("cls").agg(total=("class_total", "first"),
                                         shown=("name", "size"),
                                         infected=("infection_area", lambda s: (s > 0).mean()))
    per_class = per_class.reindex(classes).rename_axis("cls").reset_index()
    has_infection = areas["infection_area"].notna().any()
    fig, axes = _subplots(1, 4 if has_infection else 2, figsize=(14 if has_infection else 7, 3.6))
    axes = axes[0]
    style = {"x": "cls", "hue": "cls", "order": classes, "palette": CLASS_COLOURS}

    sns.barplot(per_class, y="total", ax=axes[0], **style)
    _label_bars(axes[0], "{:,.0f}")
    axes[0].set(title="Images per class", ylabel="images")

    def spread(column: str, ax: plt.Axes) -> None:
        sns.boxplot(areas, y=column, ax=ax, showfliers=False, boxprops={"alpha": 0.4}, **style)
        with fixed_jitter():
            sns.stripplot(areas, y=column, ax=ax, size=2, alpha=0.5, jitter=0.25, **style)
        ax.yaxis.set_major_formatter("{x:.0%}")

    spread("lung_area", axes[1])
    axes[1].set(title="Lung area", ylabel="share of the image")
    if has_infection:
        spread("infection_of_lung", axes[2])
        axes[2].set(title="Infection area", ylabel="share of the lung")
        sns.barplot(per_class, y="infected", ax=axes[3], **style)
        _label_bars(axes[3], "{:.0%}")
        axes[3].yaxis.set_major_formatter("{x:.0%}")
        axes[3].set(title="Images with any infection", ylabel="share of images", ylim=(0, 1.1))
    for ax in axes:
        ax.set_xlabel("")
    shown = ", ".join(f"{r.cls} {r.shown:,}/{r.total:,}" for r in per_class.itertuples())
    part = layout.PARTS[areas["part"].iloc[0]]
    fig.suptitle(f"Mask areas, {part} (images measured: {shown})")
    return fig


SHARE_BINS = np.linspace(0, 1, 11)  # tenths of the lung; "none" (exactly 0) is a bin of its own


def share_bins(share: pd.Series) -> pd.Categorical:
    """Each image's infected share of the lung as a named bin: "none", then "0-10 %" (above 0)
    to "90-100 %"."""
    names = ["none"] + [f"{a:.0%}-{b:.0%}".replace("%-", "-") for a, b in
                        zip(SHARE_BINS[:-1], SHARE_BINS[1:], strict=True)]
    binned = pd.cut(share, SHARE_BINS, labels=names[1:], include_lowest=False)
    named = binned.astype(object).where(share > 0, "none")
    return pd.Categorical(named, categories=names, ordered=True)


def plot_infected_share(areas: pd.DataFrame) -> plt.Figure:
    """How much of the lung is infected, per class: the severity a model must learn to read.
    Images without infection have a bar of their own, "none"; then bins of 10 points."""
    classes = [c for c in layout.CLASSES if c in set(areas["cls"])]
    shares = areas.assign(bin=share_bins(areas["infection_of_lung"].fillna(0)))
    counts = shares.groupby(["cls", "bin"], observed=False).size().rename("images").reset_index()
    counts["percent"] = 100 * counts["images"] / counts.groupby("cls")["images"].transform("sum")
    fig, ax = plt.subplots(figsize=(8, 3.6), layout="constrained")
    sns.barplot(counts[counts["cls"].isin(classes)], x="bin", y="percent", hue="cls",
                hue_order=classes, palette=CLASS_COLOURS, ax=ax)
    ax.set(xlabel="infected share of the lung", ylabel="% of the class's images",
           title="Infected share of the lung, per class")
    ax.tick_params(axis="x", labelsize=8)
    handles = ax.get_legend().legend_handles
    ax.get_legend().remove()
    legend_below(fig, handles, title="class")
    shown = ", ".join(f"{c} {n:,}" for c, n in areas.groupby("cls").size().reindex(classes)
                      .items())
    fig.suptitle(f"{layout.PARTS[areas['part'].iloc[0]]} (images measured: {shown})",
                 fontsize=9)
    return fig


def plot_intensity_histograms(index: pd.DataFrame, part: str = "infection",
                              per_class: int = PER_CLASS, seed: int = SEED) -> plt.Figure:
    """Pixel-intensity distributions per class inside and outside the lung (and in infection)."""
    rows = sample_rows(index, part, per_class, seed)
    regions = ["inside the lung", "outside the lung"]
    if len(layout.TARGETS[part]) > 1:
        regions.append("inside infection masks")
    counts = {(cls, r): np.zeros(256, np.int64) for cls in layout.CLASSES for r in regions}
    for row, image, masks in _decoded(rows, part):
        lung = masks[0].astype(bool)
        selections = [lung, ~lung] + ([masks[1].astype(bool)] if len(masks) > 1 else [])
        for region, where in zip(regions, selections, strict=True):
            counts[row["cls"], region] += np.bincount(image[where], minlength=256)
    fig, axes = _subplots(1, len(regions), figsize=(4.6 * len(regions), 3.4))
    centres = np.arange(HIST_BINS) * (256 / HIST_BINS) + 256 / HIST_BINS / 2
    for ax, region in zip(axes[0], regions, strict=True):
        for cls in layout.CLASSES:
            hist = counts[cls, region].reshape(HIST_BINS, -1).sum(axis=1)
            if hist.sum() == 0:
                continue
            ax.plot(centres, hist / hist.sum(), color=CLASS_COLOURS[cls], label=cls, lw=1.4)
        ax.set(title=region, xlabel="pixel value (0 black, 255 white)", xlim=(0, 255),
               ylabel=f"share of pixels per {256 // HIST_BINS} levels")
    by_label = {line.get_label(): line for ax in axes[0] for line in ax.get_lines()}
    legend_below(fig, list(by_label.values()))
    note = _subsample_note(rows, index, part)
    fig.suptitle(f"Pixel intensities by class, {layout.PARTS[part]} ({note})")
    return fig


def draw_all(data_root: str | Path, part: str = "infection", seed: int = SEED, *,
             out_dir: str | Path | None = None, data_label: str | None = None) -> list[Path]:
    """Write every EDA figure of the copy at ``data_root`` (the figures notebook 01 shows),
    stamped with ``data_label`` when given (``sources.describe``)."""
    index = build_index(data_root)
    stamp = describe(data_root, data_label).stamp
    inputs = data_fingerprint(index, data_root)
    table: list[pd.DataFrame] = []

    def areas() -> pd.DataFrame:  # measured once, drawn twice
        if not table:
            table.append(area_table(index, part=part, seed=seed))
        return table[0]

    figures = {
        "01_counts": lambda: plot_counts(count_table(index)),
        "01_examples": lambda: plot_examples(index, per_class=2, part=part, seed=seed),
        "01_areas": lambda: plot_area_distributions(areas()),
        "01_intensity": lambda: plot_intensity_histograms(index, part=part, seed=seed),
    }
    if part == "infection":
        figures["01_infected_share"] = lambda: plot_infected_share(areas())
    written = []
    for name, draw in figures.items():
        fig = draw()
        written.append(save_figure(fig, name, stamp, out_dir, inputs_sha256=inputs))
        plt.close(fig)
    return written


def plot_batch(images: Tensor, masks: Tensor, targets: Sequence[str], count: int = 8
               ) -> plt.Figure:
    """What the model is fed: the first ``count`` images of a (N, 1, H, W) batch with their
    (N, T, H, W) masks (``overlay``), as augmentation left them."""
    count = min(count, len(images))
    fig, axes = _subplots(1, count, figsize=(1.9 * count, 2.2))
    for ax, image, mask in zip(axes[0], images[:count], masks[:count], strict=True):
        gray = np.rint(image[0].cpu().numpy() * 255).clip(0, 255).astype(np.uint8)
        ax.imshow(overlay(gray, mask.cpu().numpy() > 0.5, targets), interpolation="nearest")
        ax.axis("off")
    mask_legend(fig, targets)
    fig.suptitle(f"An augmented training batch ({count} of {len(images)} images, "
                 f"{images.shape[-1]} px)")
    return fig
