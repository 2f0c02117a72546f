"""Procedurally generated fine-grained classification dataset ("synthetic").

Each RGB scene contains exactly one object: a rounded, rotated silhouette filled with one of
``SYNTHETIC_CLASSES`` two-colour texture patterns. The class is the *pattern*, never the colour: both
pattern colours are drawn from the same distribution for every class. The object sits at a random
position, scale (its tight box covers at most 25% of the image) and rotation, on a textured random
background with clutter (thin lines and small solid blobs, which are no class's pattern). Downscaled as a
whole, the object is small among clutter and its texture partly washes out; a crop of its box keeps the
texture sharp, so object-detection crops help classification.

Everything is numpy + PIL and deterministic given ``(seed, split)``; ~1000 scenes of 128 px take a few seconds.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["SYNTHETIC_CLASSES", "SyntheticSample", "iter_synthetic", "render_scene", "split_seed_sequence"]

SYNTHETIC_CLASSES: tuple[str, ...] = ("stripes", "zigzag", "checker", "dots", "grid", "rings")

_SUPERSAMPLE = 2  # anti-aliasing factor for the object
_MIN_SIZE_PX = 32
_RADIUS_FRAC = (0.16, 0.25)  # object half-extent / image side; 0.25 keeps the box area <= 25%
_PERIODS = (3.5, 5.5)  # pattern periods across the object's diameter
_MIN_COLOUR_DIST = 120.0  # minimum RGB distance between the two pattern colours


@dataclass(frozen=True)
class SyntheticSample:
    """One scene: ``image`` HxWx3 uint8 RGB, class ``label`` and the object's tight ``box`` (x0, y0, x1, y1 px)."""

    image: np.ndarray
    label: int
    box: tuple[float, float, float, float]


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """A random RGB colour (float32, 0..255), identically distributed for every use and class."""
    return rng.uniform(0.0, 255.0, size=3).astype(np.float32)


def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two random colours at least ``_MIN_COLOUR_DIST`` apart, so the pattern stays visible."""
    a = _random_colour(rng)
    while True:
        b = _random_colour(rng)
        if float(np.linalg.norm(a - b)) >= _MIN_COLOUR_DIST:
            return a, b


@lru_cache(maxsize=8)
def _noise_bank(size: int) -> np.ndarray:
    """Fixed standard-normal noise (2*size square, 3 channels); scenes take random windows of it (fast grain)."""
    bank = np.random.default_rng(0x5EED).standard_normal((2 * size, 2 * size, 3), dtype=np.float32)
    bank.flags.writeable = False
    return bank


def _frac(x: np.ndarray) -> np.ndarray:
    """Fractional part (faster than ``np.mod`` for float arrays)."""
    return x - np.floor(x)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Textured random background: smooth colour blotches + mid-frequency mottling (uint8 HxWx3).

    Built on a coarse grid (one cell = 6..12 px) and bicubically upsampled once, which keeps it cheap.
    """
    grid = max(4, size // int(rng.integers(6, 13)))
    coarse = int(rng.integers(2, 5))
    blotches = Image.fromarray(rng.integers(0, 256, size=(coarse, coarse, 3), dtype=np.uint8))
    blotches = np.asarray(blotches.resize((grid, grid), Image.Resampling.BICUBIC), dtype=np.float32)
    mix = rng.uniform(0.3, 0.8)
    mottle = rng.uniform(-1.0, 1.0, size=(grid, grid, 1)) * rng.uniform(10.0, 40.0)
    low = mix * blotches + (1.0 - mix) * _random_colour(rng) + mottle
    low_img = Image.fromarray(np.clip(low, 0, 255).astype(np.uint8))
    return np.asarray(low_img.resize((size, size), Image.Resampling.BICUBIC))


def _draw_clutter(rng: np.random.Generator, img: Image.Image, count: int) -> None:
    """Distractors that are no class's pattern: thin straight lines and small solid blobs."""
    size = img.size[0]
    scale = size / 128.0
    draw = ImageDraw.Draw(img)
    for _ in range(count):
        colour = tuple(int(c) for c in _random_colour(rng))
        if rng.random() < 0.5:
            x0, y0 = rng.uniform(0, size, 2)
            length = rng.uniform(0.1, 0.45) * size
            angle = rng.uniform(0, np.pi)
            x1, y1 = x0 + length * np.cos(angle), y0 + length * np.sin(angle)
            width = max(1, round(rng.uniform(1.0, 2.5) * scale))
            draw.line([(x0, y0), (x1, y1)], fill=colour, width=width)
        else:
            cx, cy = rng.uniform(0, size, 2)
            rx, ry = rng.uniform(1.5, 6.0, 2) * scale
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=colour)


def _pattern(label: int, u: np.ndarray, v: np.ndarray, periods: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean texture of class ``label`` in object coordinates ``u, v`` in [-1, 1]."""
    f = np.float32(periods / 2.0)  # cycles per unit length
    pu, pv = (np.float32(p) for p in rng.uniform(0.0, 1.0, 2))
    name = SYNTHETIC_CLASSES[label]
    if name == "stripes":
        return _frac(f * u + pu) < 0.5
    if name == "zigzag":
        tri = np.abs(_frac(f * v + pv) - 0.5)  # triangle wave along v
        return _frac(f * u + 1.2 * tri + pu) < 0.5
    if name == "checker":
        return (_frac(f * u + pu) < 0.5) ^ (_frac(f * v + pv) < 0.5)
    if name == "dots":
        du, dv = _frac(f * u + pu) - 0.5, _frac(f * v + pv) - 0.5
        return du * du + dv * dv < 0.27**2  # dot radius 0.27 period: ~23% coverage
    if name == "grid":
        du, dv = np.abs(_frac(f * u + pu) - 0.5), np.abs(_frac(f * v + pv) - 0.5)
        return (du > 0.4) | (dv > 0.4)  # line width 0.2 period: ~36% coverage
    if name == "rings":
        return _frac(f * np.sqrt(u * u + v * v) + pu) < 0.5
    raise ValueError(f"label {label} out of range")


def _block_mean(x: np.ndarray, ss: int) -> np.ndarray:
    """Mean over ``ss``x``ss`` blocks of a 2-D array."""
    acc = np.zeros((x.shape[0] // ss, x.shape[1] // ss), dtype=np.float32)
    for i in range(ss):
        for j in range(ss):
            acc += x[i::ss, j::ss]
    return acc * np.float32(1.0 / (ss * ss))


def _render_object(
    rng: np.random.Generator, label: int, size: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int], tuple[float, float, float, float]]:
    """Render the object on its own patch.

    Returns premultiplied colour (hxwx3), alpha (hxw), the patch's top-left pixel and the object's tight box.
    """
    ss = _SUPERSAMPLE
    radius = rng.uniform(*_RADIUS_FRAC) * size
    cx = rng.uniform(radius, size - radius)
    cy = rng.uniform(radius, size - radius)
    px0, py0 = max(0, int(np.floor(cx - radius))), max(0, int(np.floor(cy - radius)))
    px1, py1 = min(size, int(np.ceil(cx + radius))), min(size, int(np.ceil(cy + radius)))
    h, w = py1 - py0, px1 - px0
    # supersampled pixel centres, relative to the object centre, in units of the radius
    dx = ((px0 + (np.arange(w * ss, dtype=np.float32) + 0.5) / ss - cx) / radius)[None, :]
    dy = ((py0 + (np.arange(h * ss, dtype=np.float32) + 0.5) / ss - cy) / radius)[:, None]
    theta = rng.uniform(0.0, 2.0 * np.pi)
    c, s = np.float32(np.cos(theta)), np.float32(np.sin(theta))
    u = c * dx + s * dy
    v = c * dy - s * dx
    # silhouette: rotated superellipse (ellipse .. rounded square) whose farthest point stays inside the radius
    power = int(rng.integers(2, 5))
    aspect = rng.uniform(0.7, 1.0)
    semi = 0.999 * 2.0 ** (1.0 / power - 0.5)
    su, sv = np.abs(u * np.float32(1.0 / semi)), np.abs(v * np.float32(1.0 / (semi * aspect)))
    mask = su**power + sv**power <= 1.0
    texture = _pattern(label, u * np.float32(1.0 / semi), v * np.float32(1.0 / semi), rng.uniform(*_PERIODS), rng)
    col_a, col_b = _colour_pair(rng)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    box = (
        float(px0 + cols[0] / ss),
        float(py0 + rows[0] / ss),
        float(px0 + (cols[-1] + 1) / ss),
        float(py0 + (rows[-1] + 1) / ss),
    )
    alpha = _block_mean(mask.astype(np.float32), ss)
    cover_a = _block_mean((mask & texture).astype(np.float32), ss)
    premult = alpha[..., None] * col_b + cover_a[..., None] * (col_a - col_b)
    return premult, alpha, (px0, py0), box


def render_scene(rng: np.random.Generator, label: int, size_px: int) -> SyntheticSample:
    """Render one ``size_px`` square scene of class ``label`` using ``rng``."""
    if not 0 <= label < len(SYNTHETIC_CLASSES):
        raise ValueError(f"label must be in [0, {len(SYNTHETIC_CLASSES)}), got {label}")
    if size_px < _MIN_SIZE_PX:
        raise ValueError(f"size_px must be >= {_MIN_SIZE_PX}, got {size_px}")
    canvas = Image.fromarray(_background(rng, size_px))
    _draw_clutter(rng, canvas, int(rng.integers(6, 14)))
    img = np.asarray(canvas, dtype=np.float32).copy()
    premult, alpha, (x0, y0), box = _render_object(rng, label, size_px)
    h, w = alpha.shape
    region = img[y0 : y0 + h, x0 : x0 + w]
    region *= 1.0 - alpha[..., None]
    region += premult
    ox, oy = rng.integers(0, size_px, 2)
    grain = _noise_bank(size_px)[oy : oy + size_px, ox : ox + size_px]
    img += grain * np.float32(rng.uniform(2.0, 6.0)) + np.float32(0.5)
    canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    _draw_clutter(rng, canvas, int(rng.integers(0, 3)))  # a few distractors may occlude the object
    return SyntheticSample(image=np.asarray(canvas).copy(), label=label, box=box)


def split_seed_sequence(split: str, seed: int = 0) -> np.random.SeedSequence:
    """The root seed sequence of ``split`` (CRC32 of the name: stable across runs, unlike ``hash()``)."""
    return np.random.SeedSequence([int(seed), zlib.crc32(split.encode("utf-8"))])


def iter_synthetic(split: str, per_class: int, size_px: int = 128, seed: int = 0) -> Iterator[SyntheticSample]:
    """Deterministic by (seed, split): per_class images of every class, interleaved (class order shuffled).

    Sample ``i`` only depends on ``(seed, split, per_class, size_px, i)``; splits use independent streams.
    Arguments are checked at call time, not at the first ``next()``.
    """
    if per_class < 0:
        raise ValueError(f"per_class must be >= 0, got {per_class}")
    if size_px < _MIN_SIZE_PX:
        raise ValueError(f"size_px must be >= {_MIN_SIZE_PX}, got {size_px}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    order_seq, scenes_seq = split_seed_sequence(split, seed).spawn(2)
    labels = np.random.default_rng(order_seq).permutation(np.repeat(np.arange(len(SYNTHETIC_CLASSES)), per_class))
    children = scenes_seq.spawn(len(labels))
    return (
        render_scene(np.random.default_rng(child), int(label), size_px)
        for label, child in zip(labels, children, strict=True)
    )
