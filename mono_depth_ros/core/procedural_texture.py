"""Procedural surface textures for the synthetic world, as functions of world coordinates.

A texture is a pure function of where a point lies on a surface (never of the frame or the viewpoint), so a
surface looks the same in every frame: what self-supervised photometric losses need. All colours are RGB
float32 in [0, 1] (albedo before shading). Noise comes from one periodic tile per world, built from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.synthetic_scene import RoadCurve

F32 = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.floating]

_ASPHALT = np.array([0.30, 0.30, 0.32], dtype=np.float32)
_PARKING = np.array([0.36, 0.35, 0.35], dtype=np.float32)
_PAINT = np.array([0.90, 0.90, 0.86], dtype=np.float32)
_PAVING = np.array([0.62, 0.60, 0.56], dtype=np.float32)
_GRASS = np.array([0.24, 0.42, 0.16], dtype=np.float32)
_GLASS = np.array([0.16, 0.20, 0.25], dtype=np.float32)
_MORTAR = np.array([0.72, 0.70, 0.66], dtype=np.float32)
_SKY_HORIZON = np.array([0.80, 0.86, 0.93], dtype=np.float32)
_SKY_ZENITH = np.array([0.32, 0.52, 0.85], dtype=np.float32)


FRACTAL_OCTAVES = 4  # octaves baked into NoiseTile.fractal
_FRACTAL_UPSAMPLE = 4  # fractal tile texels per smooth texel (keeps the finest octave above 2 texels)


def _bilinear(tile: F32, u: FloatArray, v: FloatArray) -> F32:
    """Bilinear, wrapping lookup of a square power-of-two ``tile`` at texel coordinates ``u`` (column), ``v`` (row)."""
    size = tile.shape[0]
    mask = size - 1
    u = np.asarray(u, dtype=np.float32)
    v = np.asarray(v, dtype=np.float32)
    u0, v0 = np.floor(u), np.floor(v)
    fu, fv = u - u0, v - v0
    i0 = u0.astype(np.int32) & mask
    i1 = (i0 + 1) & mask
    row0 = (v0.astype(np.int32) & mask) * size
    row1 = (row0 + size) & (size * size - 1)
    flat = tile.reshape(-1)
    a, b = flat.take(row0 + i0), flat.take(row0 + i1)
    c, d = flat.take(row1 + i0), flat.take(row1 + i1)
    top = a + (b - a) * fu
    bottom = c + (d - c) * fu
    return np.asarray(top + (bottom - top) * fv, dtype=np.float32)


def _upsample_periodic(tile: F32, factor: int) -> F32:
    """Linear interpolation of a periodic tile at ``factor``× the resolution (texel m ↔ coordinate m / factor)."""
    steps = np.arange(factor, dtype=np.float32) / np.float32(factor)
    result = tile
    for axis in (1, 0):
        moved = np.moveaxis(result, axis, -1)
        following = np.roll(moved, -1, axis=-1)
        upsampled = moved[..., None] * (1 - steps) + following[..., None] * steps
        result = np.moveaxis(upsampled.reshape(*moved.shape[:-1], -1), -1, axis)
    return np.ascontiguousarray(result, dtype=np.float32)


@dataclass(frozen=True)
class NoiseTile:
    """Periodic float32 noise tiles in [0, 1], all with a period of N texels of ``smooth``.

    Attributes:
        smooth: (N, N) band-limited noise, features ~4 texels.
        white: (N, N) independent uniform values, one per integer cell.
        fractal: (4N, 4N) the sum of :data:`FRACTAL_OCTAVES` octaves of ``smooth`` (each twice the frequency and
            half the weight of the previous), baked once so that :meth:`fbm` costs a single lookup.
    """

    smooth: F32
    white: F32
    fractal: F32

    @classmethod
    def from_rng(cls, rng: np.random.Generator, size: int = 256) -> NoiseTile:
        """Build the tiles from ``rng`` (``size`` must be a power of two)."""
        if size < 8 or size & (size - 1):
            msg = f"noise tile size must be a power of two >= 8, got {size}"
            raise ConfigError(msg)
        white = rng.random((size, size)).astype(np.float32)
        freq = np.fft.fftfreq(size)
        low_pass = np.exp(-((freq[:, None] ** 2 + freq[None, :] ** 2) / (2 * 0.06**2)))
        smooth = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((size, size))) * low_pass))
        smooth = ((smooth - smooth.min()) / max(float(np.ptp(smooth)), 1e-12)).astype(np.float32)
        # Octave k at fractal texel i is smooth at 2^k * i / 4 + offset_k: an integer index into ``smooth``
        # linearly upsampled 4x (exactly what bilinear lookups would give, without per-texel interpolation).
        fine = _upsample_periodic(smooth, _FRACTAL_UPSAMPLE)
        index = np.arange(size * _FRACTAL_UPSAMPLE)
        fractal = np.zeros_like(fine)
        weights = 0.5 ** np.arange(FRACTAL_OCTAVES)
        for octave, weight in enumerate(weights):
            cols = (2**octave * index + _FRACTAL_UPSAMPLE * 37 * octave) % fine.shape[1]
            rows = (2**octave * index + _FRACTAL_UPSAMPLE * 71 * octave) % fine.shape[0]
            fractal += np.float32(weight) * fine[np.ix_(rows, cols)]
        return cls(smooth, white, (fractal / np.float32(weights.sum())).astype(np.float32))

    def sample(self, u: FloatArray, v: FloatArray) -> F32:
        """Bilinear, wrapping lookup of ``smooth`` at texel coordinates ``u`` (column), ``v`` (row); any shape."""
        return _bilinear(self.smooth, u, v)

    def fbm(self, u: FloatArray, v: FloatArray) -> F32:
        """Fractal noise in [0, 1] at ``smooth`` texel coordinates: features from ~4 down to ~0.5 texels."""
        return _bilinear(self.fractal, np.asarray(u) * _FRACTAL_UPSAMPLE, np.asarray(v) * _FRACTAL_UPSAMPLE)

    def cell(self, i: npt.NDArray[np.integer], j: npt.NDArray[np.integer]) -> F32:
        """Uniform [0, 1) value per integer cell ``(i, j)`` (wraps every N cells)."""
        mask = self.white.shape[0] - 1
        return np.asarray(self.white[np.asarray(j) & mask, np.asarray(i) & mask], dtype=np.float32)


def _mix(base: F32, other: npt.NDArray[np.float32], where: npt.NDArray[np.bool_]) -> F32:
    base[where] = other if other.ndim == 1 else other[where]
    return base


def ground_albedo(points_in_world: FloatArray, noise: NoiseTile, road: RoadCurve | None) -> F32:
    """Albedo (M, 3) of ground points (M, 3): road with lane marks, parking strip, paved sidewalk, grass.

    Without a road the ground is a 1 m checkerboard of two greys, modulated by noise.
    """
    x, y = points_in_world[:, 0], points_in_world[:, 1]
    grain = noise.fbm(x * 3.0, y * 3.0)[:, None]  # features from ~1.3 m down to ~17 cm
    speckle = 0.5 * (noise.sample(x * 40.0 + 11.0, y * 40.0) + noise.sample(x * 97.0, y * 97.0 + 5.0))[:, None]
    grain = np.clip(grain + 0.8 * (speckle - 0.5), 0.0, 1.0)  # plus ~10 cm and ~4 cm grit for photometric losses
    if road is None:
        checker = ((np.floor(x) + np.floor(y)) % 2).astype(np.float32)[:, None]
        return np.asarray((0.35 + 0.25 * checker) * (0.6 + 0.8 * grain), dtype=np.float32)
    lateral = np.abs(road.lateral_offset(x, y)).astype(np.float32)
    colour = _ASPHALT[None, :] * (0.7 + 0.6 * grain)
    parking = (lateral > road.lane_width_m) & (lateral <= road.road_half_width_m)
    colour = _mix(colour, _PARKING[None, :] * (0.7 + 0.6 * grain), parking)
    centre_dash = (lateral < 0.08) & (np.mod(x, 9.0) < 3.0)
    edge_line = np.abs(lateral - road.lane_width_m) < 0.08
    colour = _mix(colour, _PAINT * (0.9 + 0.2 * grain), centre_dash | edge_line)
    sidewalk_from = road.road_half_width_m
    sidewalk = (lateral > sidewalk_from) & (lateral <= sidewalk_from + road.sidewalk_width_m)
    i, j = np.floor(x / 0.6).astype(np.int64), np.floor(y / 0.6).astype(np.int64)
    slab = 0.85 + 0.3 * noise.cell(i, j)[:, None]
    grout = ((np.mod(x, 0.6) < 0.03) | (np.mod(y, 0.6) < 0.03))[:, None]
    paving = _PAVING[None, :] * slab * np.where(grout, 0.6, 1.0).astype(np.float32) * (0.85 + 0.3 * grain)
    colour = _mix(colour, paving.astype(np.float32), sidewalk)
    grass = _GRASS[None, :] * (0.5 + 1.0 * grain)
    return np.clip(_mix(colour, grass.astype(np.float32), lateral > sidewalk_from + road.sidewalk_width_m), 0, 1)


def wall_albedo(
    along_m: FloatArray, z_m: FloatArray, base_rgb: FloatArray, wall_id: npt.NDArray[np.integer], noise: NoiseTile
) -> F32:
    """Brick facade with windows.

    Args:
        along_m: (M,) distance of each point from its wall's start, metres.
        z_m: (M,) height above ground, metres.
        base_rgb: (M, 3) brick colour of each point's wall.
        wall_id: (M,) index of each point's wall (decorrelates the bricks of different walls).
        noise: the world's noise tiles.
    """
    row = np.floor(z_m / 0.25).astype(np.int64)
    shifted = along_m + 0.3 * (row % 2)
    col = np.floor(shifted / 0.6).astype(np.int64)
    brick = base_rgb * (0.75 + 0.5 * noise.cell(col + 97 * wall_id, row + 31 * wall_id))[:, None]
    mortar = (np.mod(z_m, 0.25) < 0.025) | (np.mod(shifted, 0.6) < 0.03)
    colour = _mix(brick.astype(np.float32), _MORTAR, mortar)
    window = (np.mod(along_m, 3.5) > 1.0) & (np.mod(along_m, 3.5) < 2.6) & (np.mod(z_m, 3.0) > 1.0) & (z_m > 2.5)
    glass = _GLASS[None, :] * (0.7 + 0.6 * noise.fbm(along_m * 2.0, z_m * 2.0))[:, None]
    return np.clip(_mix(colour, glass.astype(np.float32), window), 0, 1)


def box_albedo(points_in_world: FloatArray, normals: FloatArray, base_rgb: FloatArray, noise: NoiseTile) -> F32:
    """Noisy paint with a faint 0.5 m checker on each face. ``points``/``normals``/``base_rgb``: (M, 3)."""
    axis = np.argmax(np.abs(normals), axis=1)
    u = np.where(axis == 0, points_in_world[:, 1], points_in_world[:, 0])
    v = np.where(axis == 2, points_in_world[:, 1], points_in_world[:, 2])
    checker = ((np.floor(u / 0.5) + np.floor(v / 0.5)) % 2).astype(np.float32)
    shade = (0.65 + 0.5 * noise.fbm(u * 4.0, v * 4.0)) * (0.9 + 0.15 * checker)
    return np.clip(base_rgb * shade[:, None], 0, 1).astype(np.float32)


def cylinder_albedo(points_in_world: FloatArray, centre_xy: FloatArray, base_rgb: FloatArray, noise: NoiseTile) -> F32:
    """Bark/paint noise wrapped around the axis with 0.5 m bands. ``centre_xy`` (M, 2) is each hit's axis."""
    angle = np.arctan2(points_in_world[:, 1] - centre_xy[:, 1], points_in_world[:, 0] - centre_xy[:, 0])
    z = points_in_world[:, 2]
    bands = np.where(np.floor(z / 0.5) % 2 == 0, 1.0, 0.85).astype(np.float32)
    shade = (0.7 + 0.5 * noise.fbm(angle * 4.0, z * 6.0)) * bands
    return np.clip(base_rgb * shade[:, None], 0, 1).astype(np.float32)


def sky_colour(directions_in_world: FloatArray) -> F32:
    """Sky (M, 3) for ray ``directions_in_world`` (M, 3, any length, z up): pale at the horizon, blue at the zenith."""
    norm = np.linalg.norm(directions_in_world, axis=1)
    elevation = np.clip(directions_in_world[:, 2] / np.maximum(norm, 1e-12), 0.0, 1.0)
    blend = np.sqrt(np.clip(elevation / 0.6, 0.0, 1.0)).astype(np.float32)[:, None]
    return np.asarray(_SKY_HORIZON * (1 - blend) + _SKY_ZENITH * blend, dtype=np.float32)
