"""A synthetic twin of COVID-QU-Ex: chest-radiograph phantoms in the archive's exact layout.

It lets every command, test and notebook run without a Kaggle account. Each image comes from
its own seeded generator, so the same seed writes byte-identical files (on one platform and
numpy version; another CPU may round a few pixels differently).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from practical3.base.atomic import build_folder
from practical3.base.errors import ConfigError, DataError
from practical3.data import layout
from practical3.data.sources import SYNTHETIC_MARKER

GENERATOR_VERSION = 1
INFECTED_SHARE = (0.01, 0.6)  # share of the lung a COVID-19 phantom's infection covers
MIN_SIZE = 32
PNG_COMPRESS_LEVEL = 6


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, a smooth ramp between (``lo > hi`` ramps down)."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur in float32, truncated at 2.5 sigma: fast enough for a few per image."""
    return ndimage.gaussian_filter(a.astype(np.float32), sigma, mode="nearest", truncate=2.5)


def _smooth(a: np.ndarray, width: float) -> np.ndarray:
    """Two box filters of about ``width`` pixels: a cheap wide blur for shapes."""
    box = max(3, round(width) | 1)
    smoothed = ndimage.uniform_filter(a.astype(np.float32), box, mode="nearest")
    return ndimage.uniform_filter(smoothed, box, mode="nearest")


def _mottle(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise in [-1, 1] with about ``cells`` blobs across: random values on a coarse
    grid, enlarged bicubically (PIL: fast and deterministic)."""
    coarse = Image.fromarray(rng.uniform(-1.0, 1.0, (cells, cells)).astype(np.float32))
    fine = np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC))
    return fine / np.abs(fine).max()


def _profile(x: np.ndarray) -> np.ndarray:
    """Cross-section of a rib over one rib period: a band with bright cortical edges."""
    bone = _smoothstep(0.0, 0.08, x) * _smoothstep(0.45, 0.37, x)
    cortex = np.exp(-(((x - 0.05) / 0.04) ** 2)) + np.exp(-(((x - 0.41) / 0.04) ** 2))
    return (0.6 * bone + 0.4 * cortex).astype(np.float32)


_RIB_PROFILE = _profile((np.arange(64) + 0.5) / 64)  # looked up: far cheaper than per pixel


def _pose(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Body coordinates of the pixels for a random patient shift and scale: ``u`` across, a
    (1, size) row, and ``v`` down, a (size, 1) column, both about [0, 1].

    Kept separable so that anything depending on one of them alone costs a row, not an image.
    """
    centred = ((np.arange(size) + 0.5) / size - 0.5).astype(np.float32)
    scale = rng.uniform(0.93, 1.05)
    u = centred / scale + 0.5 - rng.normal(0.0, 0.02)
    v = centred / scale + 0.5 - rng.normal(0.0, 0.02)
    return u[None, :], v[:, None]


def _heart(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The cardiac silhouette: a tilted ellipse left of the patient's midline (image right)."""
    cu, cv = 0.5 + rng.uniform(0.05, 0.08), rng.uniform(0.61, 0.66)
    ru, rv = rng.uniform(0.18, 0.21), rng.uniform(0.14, 0.17)
    tilt = rng.uniform(0.3, 0.6)
    a = math.cos(tilt) * (u - cu) - math.sin(tilt) * (v - cv)
    b = math.sin(tilt) * (u - cu) + math.cos(tilt) * (v - cv)
    return (a / ru) ** 2 + (b / rv) ** 2 < 1.0


def _mediastinum(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The central shadow: mediastinum (with the aortic knob on the patient's left) and heart,
    smoothed so the heart borders run on into the mediastinal ones."""
    width = rng.uniform(0.05, 0.07) + 0.03 * _smoothstep(0.2, 0.5, v)
    knob = rng.uniform(0.02, 0.04) * np.exp(-(((v - 0.3) / 0.06) ** 2))
    band = (u > 0.5 - width) & (u < 0.5 + width + knob) & (v < 0.8)
    return _smooth(band | _heart(u, v, rng), 0.05 * u.size) > 0.45


def _lung(u: np.ndarray, v: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """One lung field (``side`` -1: image left, the patient's right) before the mediastinum
    cuts it: a sheared, wobbly ellipse that widens downward, above its diaphragm dome."""
    narrow = 0.93 if side > 0 else 1.0  # the patient's left lung is the smaller one
    cu, cv = 0.5 + side * rng.uniform(0.2, 0.23), rng.uniform(0.48, 0.52)
    r_lat, r_med = rng.uniform(0.15, 0.18) * narrow, 0.24
    rv = rng.uniform(0.36, 0.4)
    du = side * (u - cu) - rng.uniform(0.18, 0.28) * (v - cv)  # lateral edge leans out below
    dv = (v - cv) / rv
    wobble = 1.0 + sum(
        rng.uniform(0.0, 0.04) * np.cos(k * np.pi * dv + rng.uniform(0.0, 2 * np.pi))
        for k in (1, 2)
    )
    radius = np.sqrt((du / (r_med + (r_lat - r_med) * (du > 0))) ** 2 + dv**2)
    dome_top = rng.uniform(0.7, 0.76) + (0.03 if side > 0 else 0.0)
    dome = dome_top + rng.uniform(2.0, 3.2) * (u - (cu + side * 0.02)) ** 2
    return (radius < wobble) & (v < dome) & (side * (u - 0.5) > 0)


def _ribs(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Posterior ribs (arcs from the spine that curve down laterally, bright at their edges),
    fainter anterior ribs and the clavicles, as a density of about [0, 1]."""
    d = np.abs(u - 0.5)
    d2 = d * d
    count, top, span = 10, rng.uniform(0.08, 0.12), rng.uniform(0.7, 0.78)
    arc = v + 0.1 * d - (rng.uniform(0.5, 0.8) + rng.uniform(2.0, 3.5) * d2) * d2 - top
    t = np.clip(arc / span, 0.0, None)
    phase = count * t * (1.15 - 0.15 * t)  # ribs spread out downward
    posterior = _rib_bands(phase) * (phase < count)
    anterior_phase = 6 * np.clip((v - 0.22 - 0.5 * (0.45 - d)) / 0.45, 0.0, None)
    anterior = _rib_bands(anterior_phase) * (anterior_phase < 6) * _smoothstep(0.12, 0.25, d)
    chest = _smoothstep(0.03, 0.07, d) * _smoothstep(0.48, 0.43, d)
    clavicle_v = rng.uniform(0.14, 0.18) - 0.25 * d + 0.2 * d**2
    clavicle = _smoothstep(0.03, 0.0, np.abs(v - clavicle_v)) * _smoothstep(0.36, 0.3, d)
    return chest * (posterior + 0.3 * anterior) + 1.5 * clavicle * _smoothstep(0.03, 0.06, d)


def _rib_bands(phase: np.ndarray) -> np.ndarray:
    """``_RIB_PROFILE`` repeated once per unit of ``phase``."""
    frac = phase - np.floor(phase)  # exact, so below 1 and the index below 64
    return _RIB_PROFILE[(frac * len(_RIB_PROFILE)).astype(np.intp)]


def _vessels(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vascular markings: bent streaks fanning out from each hilum, fading toward the periphery,
    plus the hilar shadows themselves."""
    size = u.size
    du = np.abs(u - (np.float32(0.4) + np.float32(0.2) * (u >= 0.5)))
    dv = v - rng.uniform(0.42, 0.47)
    theta = np.arctan2(dv, du) + 0.3 * _mottle(rng, size, 6)
    bins = 80
    profile = rng.gamma(0.7, 1.0, bins + 1)
    profile[-1] = profile[0]
    streak = np.interp(theta, np.linspace(-np.pi, np.pi, bins + 1), profile).astype(np.float32)
    r2 = du**2 + dv**2
    fade = np.exp(-r2 / 0.04) - np.exp(-r2 / 0.003)  # zero at the hilum and far out
    hilum = np.exp(-((du / 0.05) ** 2)) * np.exp(-((dv / 0.09) ** 2))
    return streak * (0.6 + 0.4 * _mottle(rng, size, 20)) * fade + 1.5 * hilum


def _covid_opacities(
    u: np.ndarray, v: np.ndarray, lung: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ground-glass opacities (peripheral, lower zones, more patches when more extensive) and
    their mask, which covers a share of the lung drawn log-uniformly from ``INFECTED_SHARE``."""
    size = lung.shape[0]
    area = int(lung.sum())
    share = math.exp(rng.uniform(*np.log(INFECTED_SHARE)))
    n = 1 + int(rng.integers(0, 2 + round(8 * share)))
    weight = (lung * (0.2 + np.abs(u - 0.5)) * (0.3 + v)).ravel().astype(np.float64)
    centres = rng.choice(weight.size, size=n, p=weight / weight.sum())
    sigma = math.sqrt(share * area / n / 4.4) / size
    field = np.zeros(lung.shape, np.float32)
    for centre in centres:
        su, sv = sigma * rng.uniform(0.6, 1.5), sigma * rng.uniform(0.6, 1.5)
        tilt = rng.uniform(0.0, np.pi)
        row, col = divmod(int(centre), size)
        du, dv = u - u[0, col], v - v[row, 0]
        a = math.cos(tilt) * du + math.sin(tilt) * dv
        b = math.cos(tilt) * dv - math.sin(tilt) * du
        field += rng.uniform(0.6, 1.0) * np.exp(-0.5 * ((a / su) ** 2 + (b / sv) ** 2))
    field *= 1.0 + 0.45 * _mottle(rng, size, 10)
    inside = field[lung]
    k = inside.size - max(1, round(share * area))
    threshold = np.partition(inside, k)[k]
    mask = lung & (field >= threshold)
    haze = _blur(_smoothstep(0.3, 1.6, field / threshold), 0.008 * size)
    return haze * (0.8 + 0.2 * _mottle(rng, size, 28)), mask


def _other_opacities(
    u: np.ndarray, v: np.ndarray, lung: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Non-COVID findings: a lobar consolidation bounded by a fissure, or perihilar haze."""
    size = lung.shape[0]
    if rng.random() < 0.6:
        side = rng.choice((-1, 1))
        fissure = v - rng.uniform(0.45, 0.6) - rng.uniform(0.2, 0.6) * side * (u - 0.5)
        lobe = lung & (side * (u - 0.5) > 0) & ((fissure > 0) == (rng.random() < 0.65))
        patch = _blur(lobe, 0.012 * size) * (0.75 + 0.25 * _mottle(rng, size, 12))
        return _smoothstep(0.2, 0.6, patch)
    r = np.sqrt(((np.abs(u - 0.5) - 0.12) / 1.3) ** 2 + (v - rng.uniform(0.45, 0.55)) ** 2)
    return rng.uniform(0.5, 0.8) * np.exp(-((r / 0.14) ** 2)) * (0.8 + 0.2 * _mottle(rng, size, 16))


def _body(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Soft-tissue thickness of the trunk, neck and sloping shoulders: a cylinder, thickest
    at the mid-line, in [0, 1]."""
    d = np.abs(u - 0.5)
    trunk = np.sqrt(np.clip(1.0 - (d / 0.47) ** 2, 0.0, 1.0))
    shoulder_top = 0.16 * np.clip((d - 0.1) / 0.37, 0.0, 1.0) ** 1.5 - 0.05
    return trunk * _smoothstep(-0.02, 0.03, v - shoulder_top)


def phantom(
    rng: np.random.Generator, size: int, cls: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One chest-radiograph phantom of class ``cls``: (image, lung mask, infection mask).

    All three are ``size x size`` uint8; masks hold 0/255. The infection mask is non-empty
    and inside the lung for COVID-19, all zero for Non-COVID and Normal (as in the archive).
    """
    if cls not in layout.CLASSES:
        raise ConfigError(f"unknown class {cls!r}: choose one of {', '.join(layout.CLASSES)}")
    u, v = _pose(rng, size)
    centre = _mediastinum(u, v, rng)
    lung = (_lung(u, v, -1, rng) | _lung(u, v, 1, rng)) & ~centre
    air = lung.astype(np.float32)
    d = np.abs(u - 0.5)
    tissue = np.sqrt(_body(u, v))
    neck = _smoothstep(0.12, 0.06, d) * _smoothstep(0.25, 0.1, v)
    dense = np.maximum(np.maximum(centre, _smoothstep(0.7, 0.82, v)), neck)  # + abdomen
    density = 0.04 + (0.36 + 0.25 * dense) * tissue
    vertebrae = 0.8 + 0.2 * np.cos(2 * np.pi * v / rng.uniform(0.06, 0.07))
    density += 0.06 * _smoothstep(0.045, 0.03, d) * vertebrae * _smoothstep(0.3, 0.1, v)
    density -= rng.uniform(0.21, 0.27) * air * (0.75 + 0.25 * _smoothstep(0.85, 0.45, v))
    density += 0.07 * _ribs(u, v, rng) * (0.4 + 0.6 * air)
    density += 0.06 * _vessels(u, v, rng) * air
    infection = np.zeros_like(lung)
    if cls == "COVID-19":
        opacity, infection = _covid_opacities(u, v, lung, rng)
        density += rng.uniform(0.2, 0.32) * opacity * air
    elif cls == "Non-COVID":
        density += rng.uniform(0.25, 0.35) * _other_opacities(u, v, lung, rng) * air
    density += 0.03 * _mottle(rng, size, 8)
    image = _blur(density, max(0.6, 0.003 * size))
    contrast, gamma = rng.uniform(0.85, 1.2), math.exp(rng.normal(0.0, 0.15))
    image = np.clip((image - 0.4) * contrast + 0.42 + rng.normal(0.0, 0.04), 0.0, 1.0) ** gamma
    image += 0.015 * rng.standard_normal(image.shape, dtype=np.float32)  # quantum noise
    image = np.clip(image * 255.0 + 0.5, 0.0, 255.0).astype(np.uint8)
    return image, lung.astype(np.uint8) * 255, infection.astype(np.uint8) * 255


def split_counts(per_class: int) -> dict[str, int]:
    """Images per class in each split: ``per_class`` in Train, ``max(2, per_class // 4)`` in
    Val and Test (enough to score every class)."""
    held_out = max(2, per_class // 4)
    return {"Train": per_class, "Val": held_out, "Test": held_out}


def _file_numbers(per_class: int) -> dict[tuple[str, str], int]:
    """First file number of each (part, split); numbering runs through every part and split so
    names never clash, whichever parts are written."""
    counts, numbers, n = split_counts(per_class), {}, 1
    for part in layout.PARTS:
        for split in layout.SPLITS:
            numbers[part, split] = n
            n += counts[split]
    return numbers


def _save_png(path: Path, array: np.ndarray) -> None:
    """Write a grayscale PNG with fixed settings and no metadata, so bytes are reproducible."""
    Image.fromarray(array).save(path, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


def _write_part(root: Path, part: str, per_class: int, size: int, seed: int) -> None:
    """Every image and mask of one part; each phantom seeded by (seed, part, split, class, i)."""
    counts, first = split_counts(per_class), _file_numbers(per_class)
    part_id = list(layout.PARTS).index(part)
    for split_id, split in enumerate(layout.SPLITS):
        for class_id, cls in enumerate(layout.CLASSES):
            folder = root / layout.PARTS[part] / layout.PARTS[part] / split / cls
            for name in (layout.IMAGES_DIR, *layout.mask_dirs(part)):
                (folder / name).mkdir(parents=True)
            for i in range(counts[split]):
                entropy = [seed, part_id, split_id, class_id, i]
                rng = np.random.default_rng(np.random.SeedSequence(entropy))
                image, lung, infection = phantom(rng, size, cls)
                masks = {"lung": lung, "infection": infection}
                file = layout.file_name(cls, first[part, split] + i)
                _save_png(folder / layout.IMAGES_DIR / file, image)
                for target in layout.TARGETS[part]:
                    _save_png(folder / layout.MASK_DIRS[target] / file, masks[target])


def _spec(per_class: int, size: int, seed: int, parts: Sequence[str]) -> dict:
    """What the marker records, and what a second call must match to reuse a folder."""
    unknown = sorted(set(parts) - set(layout.PARTS))
    if unknown or not parts:
        raise ConfigError(f"parts={list(parts)!r}: choose from {', '.join(layout.PARTS)}")
    if per_class < 1 or size < MIN_SIZE or seed < 0:
        raise ConfigError(
            f"per_class={per_class}, size={size}, seed={seed}: "
            f"need per_class >= 1, size >= {MIN_SIZE}, seed >= 0"
        )
    return {
        "generator": "practical3.synth",
        "version": GENERATOR_VERSION,
        "per_class": per_class,
        "size": size,
        "seed": seed,
        "parts": [part for part in layout.PARTS if part in parts],
    }


def _existing_matches(out_dir: Path, spec: dict) -> bool:
    """True when ``out_dir`` already holds this twin; False when it is free (absent or empty)."""
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        return False
    marker = out_dir / SYNTHETIC_MARKER
    found = json.loads(marker.read_text()) if marker.is_file() else None
    if found == spec:
        return True
    holds = f"a synthetic twin made with {found}" if found else f"no {SYNTHETIC_MARKER}"
    raise DataError([f"{out_dir} exists and holds {holds}, not the one asked for ({spec})"],
                    "delete that folder or choose another --dest")


def synthesize(
    out_dir: str | Path,
    per_class: int,
    size: int = 256,
    seed: int = 0,
    parts: Sequence[str] = ("infection", "lung"),
) -> Path:
    """Write a synthetic COVID-QU-Ex into ``out_dir`` in the archive's double-nested layout.

    Train gets ``per_class`` images per class, Val and Test ``max(2, per_class // 4)``, in
    every part. Built in a hidden sibling folder and renamed into place with the marker
    written last; a second call with the same settings returns at once.
    """
    out_dir = Path(out_dir)
    spec = _spec(per_class, size, seed, parts)
    if _existing_matches(out_dir, spec):
        return out_dir

    def write(tmp: Path) -> None:
        for part in spec["parts"]:
            _write_part(tmp, part, per_class, size, seed)
        (tmp / SYNTHETIC_MARKER).write_text(json.dumps(spec, indent=2) + "\n")

    return build_folder(out_dir, write)
