"""Procedural textures in world (or object) coordinates, with a per-pixel level of detail against aliasing.

Every pattern is a function of surface coordinates in metres, never of pixels, so a surface point keeps its colour
from frame to frame: that photometric consistency is what self-supervised depth learns from (`method.md` §2.2).
Detail finer than ~2 pixels is faded to its mean (`lod`), because aliased high frequencies would change
between frames and break that consistency.
"""

from __future__ import annotations

import numpy as np

EDGE_PIXELS = 1.5  # pattern edges are ramps this many pixels wide: sharp, yet resampled almost exactly
_M1, _M2, _M3 = np.uint32(0x27D4EB2D), np.uint32(0x165667B1), np.uint32(0x9E3779B1)


def _hash(ix: np.ndarray, iy: np.ndarray, seed: np.ndarray | int) -> np.ndarray:
    """Integer lattice -> uniform [0, 1) (a small multiply-xorshift hash, deterministic across platforms)."""
    h = ix.astype(np.uint32) * _M1 ^ iy.astype(np.uint32) * _M2 ^ np.asarray(seed).astype(np.uint32) * _M3
    h ^= h >> np.uint32(15)
    h *= _M1
    h ^= h >> np.uint32(13)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


def value_noise(x: np.ndarray, y: np.ndarray, seed: np.ndarray | int = 0) -> np.ndarray:
    """Smooth 2D value noise with unit lattice spacing, in [-1, 1]."""
    fx, fy = np.floor(x), np.floor(y)
    ix, iy = fx.astype(np.int64), fy.astype(np.int64)
    tx, ty = (x - fx).astype(np.float32), (y - fy).astype(np.float32)
    tx, ty = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty)  # smoothstep: no creases at lattice lines
    a, b = _hash(ix, iy, seed), _hash(ix + 1, iy, seed)
    c, d = _hash(ix, iy + 1, seed), _hash(ix + 1, iy + 1, seed)
    top, bot = a + (b - a) * tx, c + (d - c) * tx
    return (top + (bot - top) * ty) * 2 - 1


def lod(period: float | np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Weight in [0, 1] of a feature with this period (metres) at this pixel footprint (metres per pixel).

    1 when the period spans ≥ 4 pixels, 0 below 2 pixels (then the feature is replaced by its mean).
    """
    return np.clip(np.asarray(period, dtype=np.float32) / footprint * 0.5 - 1.0, 0.0, 1.0)


def fbm(
    x: np.ndarray, y: np.ndarray, footprint: np.ndarray, seed: np.ndarray | int, base: float, octaves: int = 3
) -> np.ndarray:
    """Fractal noise (≈[-1, 1]) with lattice spacing `base` metres halving per octave, each faded by `lod`."""
    total = np.zeros(np.shape(x), dtype=np.float32)
    amp, norm, scale = 1.0, 0.0, base
    for o in range(octaves):
        w = lod(scale, footprint)
        total += amp * w * value_noise(x / scale, y / scale, np.asarray(seed) + 1013 * o)
        norm += amp
        amp *= 0.6
        scale *= 0.5
    return total / norm


def _band(coord: np.ndarray, period, width, footprint: np.ndarray) -> np.ndarray:
    """Coverage in [0, 1] of a pixel of size `footprint` by bands of `width` centred in cells of `period`.

    A box filter one footprint wide (analytic antialiasing): hard pattern edges would alias, and aliasing
    differs from frame to frame.
    """
    y = np.mod(coord, period) - 0.5 * period
    dist = 0.5 * width - np.abs(y)  # > 0 inside the band
    return np.clip(0.5 + dist / np.maximum(EDGE_PIXELS * footprint, 1e-6), 0.0, 1.0).astype(np.float32)


def stripes(coord: np.ndarray, period, width, footprint: np.ndarray) -> np.ndarray:
    """Antialiased bands of `width` repeating every `period` (metres), starting at coord = 0 mod period."""
    return _band(np.asarray(coord) - 0.5 * np.asarray(width), period, width, footprint)


def grid_mask(a: np.ndarray, b: np.ndarray, pa, pb, fa, fb, footprint: np.ndarray) -> np.ndarray:
    """Antialiased rectangles of relative size (fa, fb) centred in cells (pa, pb): windows, tiles."""
    return _band(a, pa, fa * pa, footprint) * _band(b, pb, fb * pb, footprint)


def soft_inside(dist: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """Antialiased indicator of `dist > 0` (dist = signed distance in metres to a shape's edge, > 0 inside)."""
    return np.clip(0.5 + dist / np.maximum(EDGE_PIXELS * footprint, 1e-6), 0.0, 1.0).astype(np.float32)
