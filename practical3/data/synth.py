"""A synthetic twin of COVID-QU-Ex: chest-radiograph phantoms in the archive's exact layout.

It lets every command, test and notebook run without a Kaggle account. The same settings write
the same bytes on every machine: each image draws raw 64-bit integers from its own PCG64
stream, every value is computed with IEEE-exact float64 steps (+, -, *, /, sqrt, floor) in a
fixed order (exp and cos as short series here, filters as shifted sums: no libm, BLAS, SIMD
kernel, scipy or PIL resampling whose last bit could differ), and the PNGs are written here
with stored deflate blocks, since zlib builds compress differently.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from practical3.base.atomic import build_folder
from practical3.base.errors import ConfigError, DataError
from practical3.data import layout
from practical3.data.sources import SYNTHETIC_MARKER

GENERATOR_VERSION = 2  # 2: the same bytes on every machine
INFECTED_SHARE = (0.01, 0.6)  # share of the lung a COVID-19 phantom's infection covers
LOG_SHARE_RATIO = 4.0943445622221  # ln(0.6 / 0.01), written out: no libm call
MIN_SIZE = 32
PNG_BLOCK = 65535  # the largest stored deflate block


def _uniform(rng: np.random.Generator, lo: float = 0.0, hi: float = 1.0,
             shape: tuple[int, ...] | None = None) -> float | np.ndarray:
    """Uniform draws in [lo, hi) from the raw 64-bit outputs of ``rng``'s bit generator: the
    top 53 bits, scaled exactly, so no numpy sampling algorithm is involved."""
    count = 1 if shape is None else math.prod(shape)
    raw = rng.bit_generator.random_raw(count) >> np.uint64(11)
    unit = raw.astype(np.float64) * 2.0**-53
    values = lo + (hi - lo) * unit
    return float(values[0]) if shape is None else values.reshape(shape)


def _normal(rng: np.random.Generator, sd: float = 1.0,
            shape: tuple[int, ...] | None = None) -> float | np.ndarray:
    """About normal draws with mean 0 and standard deviation ``sd``: the sum of four uniforms,
    centred and scaled (Irwin-Hall), so only exact arithmetic is involved."""
    total = sum(_uniform(rng, shape=shape) for _ in range(4))
    return (total - 2.0) * (math.sqrt(3.0) * sd)


def _exp(x: np.ndarray | float) -> np.ndarray | float:
    """exp(x) for x <= 0 (clipped to [-64, 0]): a Taylor series of x / 1024, squared ten
    times; relative error below 1e-9, and every step exact IEEE arithmetic."""
    y = np.clip(x, -64.0, 0.0) / 1024.0
    result = 1.0 + y / 6.0
    for k in (5.0, 4.0, 3.0, 2.0, 1.0):
        result = 1.0 + y / k * result
    for _ in range(10):
        result = result * result
    return result


def _cos(x: np.ndarray | float) -> np.ndarray | float:
    """cos(x): reduced to [-pi, pi], a Taylor series of x / 16, then four double angles."""
    turn = 2.0 * math.pi
    a = (x - turn * np.floor(x / turn + 0.5)) / 16.0
    a2 = a * a
    c = 1.0 - a2 / 2.0 * (1.0 - a2 / 12.0 * (1.0 - a2 / 30.0 * (1.0 - a2 / 56.0)))
    for _ in range(4):
        c = 2.0 * c * c - 1.0
    return c


def _sin(x: np.ndarray | float) -> np.ndarray | float:
    """sin(x) as cos(x - pi / 2)."""
    return _cos(x - math.pi / 2.0)


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, a smooth ramp between (``lo > hi`` ramps down)."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _filter(a: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """``a`` filtered along both axes by the odd-length kernel ``weights``, edges repeated:
    a sum of shifted copies in a fixed order, the same on every machine."""
    out, half = np.asarray(a, dtype=np.float64), len(weights) // 2
    for _ in range(2):  # down the columns, then (transposed) along the rows
        padded, n = np.pad(out, ((half, half), (0, 0)), "edge"), out.shape[0]
        out = sum(w * padded[j:j + n] for j, w in enumerate(weights)).T
    return out


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur, truncated at 2.5 sigma."""
    half = math.ceil(2.5 * sigma)
    taps = [float(_exp(-0.5 * (j / sigma) ** 2)) for j in range(-half, half + 1)]
    total = math.fsum(taps)
    return _filter(a, [t / total for t in taps])


def _smooth(a: np.ndarray, width: float) -> np.ndarray:
    """Two box filters of about ``width`` pixels: a cheap wide blur for shapes."""
    box = max(3, round(width) | 1)
    return _filter(_filter(a, [1.0 / box] * box), [1.0 / box] * box)


def _cubic_weights(size: int, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``size`` pixels, the four coarse-grid indices (edges repeated) and Keys
    cubic weights (a = -0.5) that enlarge ``cells`` values to ``size``."""
    x = (np.arange(size) + 0.5) * (cells / size) - 0.5
    base = np.floor(x)
    index = np.clip(base.astype(int)[:, None] + np.arange(-1, 3), 0, cells - 1)
    d = np.abs(x[:, None] - (base[:, None] + np.arange(-1, 3)))
    near = (1.5 * d - 2.5) * d * d + 1.0
    far = ((-0.5 * d + 2.5) * d - 4.0) * d + 2.0
    return index, np.where(d <= 1.0, near, far)


def _mottle(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise in [-1, 1] with about ``cells`` blobs across: random values on a coarse
    grid, enlarged bicubically."""
    coarse = _uniform(rng, -1.0, 1.0, (cells, cells))
    index, weight = _cubic_weights(size, cells)
    rows = sum(weight[:, i, None] * coarse[index[:, i], :] for i in range(4))  # (size, cells)
    fine = sum(rows[:, index[:, j]] * weight[None, :, j] for j in range(4))
    return fine / np.abs(fine).max()


def _profile(x: np.ndarray) -> np.ndarray:
    """Cross-section of a rib over one rib period: a band with bright cortical edges."""
    bone = _smoothstep(0.0, 0.08, x) * _smoothstep(0.45, 0.37, x)
    cortex = _exp(-(((x - 0.05) / 0.04) ** 2)) + _exp(-(((x - 0.41) / 0.04) ** 2))
    return 0.6 * bone + 0.4 * cortex


_RIB_PROFILE = _profile((np.arange(64) + 0.5) / 64)  # looked up: far cheaper than per pixel


def _pose(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Body coordinates of the pixels for a random patient shift and scale: ``u`` across, a
    (1, size) row, and ``v`` down, a (size, 1) column, both about [0, 1].

    Kept separable so that anything depending on one of them alone costs a row, not an image.
    """
    centred = (np.arange(size) + 0.5) / size - 0.5
    scale = _uniform(rng, 0.93, 1.05)
    u = centred / scale + 0.5 - _normal(rng, 0.02)
    v = centred / scale + 0.5 - _normal(rng, 0.02)
    return u[None, :], v[:, None]


def _heart(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The cardiac silhouette: a tilted ellipse left of the patient's midline (image right)."""
    cu, cv = 0.5 + _uniform(rng, 0.05, 0.08), _uniform(rng, 0.61, 0.66)
    ru, rv = _uniform(rng, 0.18, 0.21), _uniform(rng, 0.14, 0.17)
    tilt = _uniform(rng, 0.3, 0.6)
    a = _cos(tilt) * (u - cu) - _sin(tilt) * (v - cv)
    b = _sin(tilt) * (u - cu) + _cos(tilt) * (v - cv)
    return (a / ru) ** 2 + (b / rv) ** 2 < 1.0


def _mediastinum(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The central shadow: mediastinum (with the aortic knob on the patient's left) and heart,
    smoothed so the heart borders run on into the mediastinal ones."""
    width = _uniform(rng, 0.05, 0.07) + 0.03 * _smoothstep(0.2, 0.5, v)
    knob = _uniform(rng, 0.02, 0.04) * _exp(-(((v - 0.3) / 0.06) ** 2))
    band = (u > 0.5 - width) & (u < 0.5 + width + knob) & (v < 0.8)
    return _smooth(band | _heart(u, v, rng), 0.05 * u.size) > 0.45


def _lung(u: np.ndarray, v: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """One lung field (``side`` -1: image left, the patient's right) before the mediastinum
    cuts it: a sheared, wobbly ellipse that widens downward, above its diaphragm dome."""
    narrow = 0.93 if side > 0 else 1.0  # the patient's left lung is the smaller one
    cu, cv = 0.5 + side * _uniform(rng, 0.2, 0.23), _uniform(rng, 0.48, 0.52)
    r_lat, r_med = _uniform(rng, 0.15, 0.18) * narrow, 0.24
    rv = _uniform(rng, 0.36, 0.4)
    du = side * (u - cu) - _uniform(rng, 0.18, 0.28) * (v - cv)  # lateral edge leans out below
    dv = (v - cv) / rv
    wobble = 1.0 + sum(
        _uniform(rng, 0.0, 0.04) * _cos(k * math.pi * dv + _uniform(rng, 0.0, 2.0 * math.pi))
        for k in (1, 2)
    )
    radius = np.sqrt((du / (r_med + (r_lat - r_med) * (du > 0))) ** 2 + dv**2)
    dome_top = _uniform(rng, 0.7, 0.76) + (0.03 if side > 0 else 0.0)
    dome = dome_top + _uniform(rng, 2.0, 3.2) * (u - (cu + side * 0.02)) ** 2
    return (radius < wobble) & (v < dome) & (side * (u - 0.5) > 0)


def _ribs(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Posterior ribs (arcs from the spine that curve down laterally, bright at their edges),
    fainter anterior ribs and the clavicles, as a density of about [0, 1]."""
    d = np.abs(u - 0.5)
    d2 = d * d
    count, top, span = 10, _uniform(rng, 0.08, 0.12), _uniform(rng, 0.7, 0.78)
    arc = v + 0.1 * d - (_uniform(rng, 0.5, 0.8) + _uniform(rng, 2.0, 3.5) * d2) * d2 - top
    t = np.clip(arc / span, 0.0, None)
    phase = count * t * (1.15 - 0.15 * t)  # ribs spread out downward
    posterior = _rib_bands(phase) * (phase < count)
    anterior_phase = 6 * np.clip((v - 0.22 - 0.5 * (0.45 - d)) / 0.45, 0.0, None)
    anterior = _rib_bands(anterior_phase) * (anterior_phase < 6) * _smoothstep(0.12, 0.25, d)
    chest = _smoothstep(0.03, 0.07, d) * _smoothstep(0.48, 0.43, d)
    clavicle_v = _uniform(rng, 0.14, 0.18) - 0.25 * d + 0.2 * d**2
    clavicle = _smoothstep(0.03, 0.0, np.abs(v - clavicle_v)) * _smoothstep(0.36, 0.3, d)
    return chest * (posterior + 0.3 * anterior) + 1.5 * clavicle * _smoothstep(0.03, 0.06, d)


def _rib_bands(phase: np.ndarray) -> np.ndarray:
    """``_RIB_PROFILE`` repeated once per unit of ``phase``."""
    frac = phase - np.floor(phase)  # exact, so below 1 and the index below 64
    return _RIB_PROFILE[(frac * len(_RIB_PROFILE)).astype(np.intp)]


def _pseudo_angle(du: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """The direction of (``du`` >= 0, ``dv``) in [-pi/2, pi/2], monotone like atan2 and exact
    arithmetic (pi/2 times dv / (du + |dv|)), so streaks fan out the same everywhere."""
    return (math.pi / 2.0) * dv / np.maximum(du + np.abs(dv), 1e-12)


def _vessels(u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Vascular markings: bent streaks fanning out from each hilum, fading toward the periphery,
    plus the hilar shadows themselves."""
    size = u.size
    du = np.abs(u - (0.4 + 0.2 * (u >= 0.5)))
    dv = v - _uniform(rng, 0.42, 0.47)
    theta = _pseudo_angle(du, dv) + 0.3 * _mottle(rng, size, 6)
    bins = 80
    profile = 2.8 * _uniform(rng, shape=(bins + 1,)) ** 3  # skewed: a few bright streaks
    profile[-1] = profile[0]
    position = (theta + math.pi) * (bins / (2.0 * math.pi))
    i = np.clip(np.floor(position), 0, bins - 1).astype(np.intp)
    streak = profile[i] + (position - i) * (profile[i + 1] - profile[i])
    r2 = du**2 + dv**2
    fade = _exp(-r2 / 0.04) - _exp(-r2 / 0.003)  # zero at the hilum and far out
    hilum = _exp(-((du / 0.05) ** 2)) * _exp(-((dv / 0.09) ** 2))
    return streak * (0.6 + 0.4 * _mottle(rng, size, 20)) * fade + 1.5 * hilum


def _covid_opacities(
    u: np.ndarray, v: np.ndarray, lung: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Ground-glass opacities (peripheral, lower zones, more patches when more extensive) and
    their mask, which covers a share of the lung drawn log-uniformly from ``INFECTED_SHARE``."""
    size = lung.shape[0]
    area = int(lung.sum())
    share = INFECTED_SHARE[1] * _exp(-_uniform(rng) * LOG_SHARE_RATIO)
    n = 1 + int(_uniform(rng, 0.0, 2 + round(8 * share)))
    weight = np.round(lung * (0.2 + np.abs(u - 0.5)) * (0.3 + v) * 2.0**20).astype(np.int64)
    cumulative = np.cumsum(weight.ravel())  # integers: exact, so the picks are too
    centres = np.searchsorted(cumulative, _uniform(rng, 0.0, cumulative[-1], (n,)), "right")
    sigma = math.sqrt(share * area / n / 4.4) / size
    field = np.zeros(lung.shape)
    for centre in centres:
        su, sv = sigma * _uniform(rng, 0.6, 1.5), sigma * _uniform(rng, 0.6, 1.5)
        tilt = _uniform(rng, 0.0, math.pi)
        row, col = divmod(int(centre), size)
        du, dv = u - u[0, col], v - v[row, 0]
        a = _cos(tilt) * du + _sin(tilt) * dv
        b = _cos(tilt) * dv - _sin(tilt) * du
        field += _uniform(rng, 0.6, 1.0) * _exp(-0.5 * ((a / su) ** 2 + (b / sv) ** 2))
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
    if _uniform(rng) < 0.6:
        side = -1 if _uniform(rng) < 0.5 else 1
        fissure = v - _uniform(rng, 0.45, 0.6) - _uniform(rng, 0.2, 0.6) * side * (u - 0.5)
        lobe = lung & (side * (u - 0.5) > 0) & ((fissure > 0) == (_uniform(rng) < 0.65))
        patch = _blur(lobe, 0.012 * size) * (0.75 + 0.25 * _mottle(rng, size, 12))
        return _smoothstep(0.2, 0.6, patch)
    r = np.sqrt(((np.abs(u - 0.5) - 0.12) / 1.3) ** 2 + (v - _uniform(rng, 0.45, 0.55)) ** 2)
    return _uniform(rng, 0.5, 0.8) * _exp(-((r / 0.14) ** 2)) * (0.8 + 0.2 * _mottle(rng, size, 16))


def _body(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Soft-tissue thickness of the trunk, neck and sloping shoulders: a cylinder, thickest
    at the mid-line, in [0, 1]."""
    d = np.abs(u - 0.5)
    trunk = np.sqrt(np.clip(1.0 - (d / 0.47) ** 2, 0.0, 1.0))
    slope = np.clip((d - 0.1) / 0.37, 0.0, 1.0)
    shoulder_top = 0.16 * slope * np.sqrt(slope) - 0.05
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
    air = lung.astype(np.float64)
    d = np.abs(u - 0.5)
    tissue = np.sqrt(_body(u, v))
    neck = _smoothstep(0.12, 0.06, d) * _smoothstep(0.25, 0.1, v)
    dense = np.maximum(np.maximum(centre, _smoothstep(0.7, 0.82, v)), neck)  # + abdomen
    density = 0.04 + (0.36 + 0.25 * dense) * tissue
    vertebrae = 0.8 + 0.2 * _cos(2.0 * math.pi * v / _uniform(rng, 0.06, 0.07))
    density += 0.06 * _smoothstep(0.045, 0.03, d) * vertebrae * _smoothstep(0.3, 0.1, v)
    density -= _uniform(rng, 0.21, 0.27) * air * (0.75 + 0.25 * _smoothstep(0.85, 0.45, v))
    density += 0.07 * _ribs(u, v, rng) * (0.4 + 0.6 * air)
    density += 0.06 * _vessels(u, v, rng) * air
    infection = np.zeros_like(lung)
    if cls == "COVID-19":
        opacity, infection = _covid_opacities(u, v, lung, rng)
        density += _uniform(rng, 0.2, 0.32) * opacity * air
    elif cls == "Non-COVID":
        density += _uniform(rng, 0.25, 0.35) * _other_opacities(u, v, lung, rng) * air
    density += 0.03 * _mottle(rng, size, 8)
    image = _blur(density, max(0.6, 0.003 * size))
    contrast, bend = _uniform(rng, 0.85, 1.2), _uniform(rng, -0.35, 0.35)
    image = np.clip((image - 0.4) * contrast + 0.42 + _normal(rng, 0.04), 0.0, 1.0)
    image += bend * image * (1.0 - image)  # a tone curve: brighter or darker mid-tones
    image += _normal(rng, 0.015, image.shape)  # quantum noise
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


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data and the CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(array: np.ndarray) -> bytes:
    """An 8-bit grayscale PNG of ``array``: no filter, stored (uncompressed) deflate blocks and
    no metadata, so the bytes depend on the pixels alone, never on the zlib build."""
    height, width = array.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), array.astype(np.uint8)], 1)
    raw = rows.tobytes()  # each row after its filter byte 0
    blocks = [raw[i:i + PNG_BLOCK] for i in range(0, len(raw), PNG_BLOCK)]
    deflate = b"".join(
        struct.pack("<BHH", i == len(blocks) - 1, len(block), len(block) ^ 0xFFFF) + block
        for i, block in enumerate(blocks))
    stream = b"\x78\x01" + deflate + struct.pack(">I", zlib.adler32(raw))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", stream)
            + _chunk(b"IEND", b""))


def _save_png(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as the PNG ``png_bytes`` makes."""
    path.write_bytes(png_bytes(array))


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
                rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))
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
