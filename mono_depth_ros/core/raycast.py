"""Vectorised ray–primitive intersection: ground plane, axis-aligned boxes, vertical cylinders, vertical walls.

Every kernel takes rays as ``origins`` ((3,) or (R, 3)) and ``directions`` ((R, 3), any non-zero length, float32
or float64) and returns the ray parameter ``t`` of the nearest hit in front of the origin (``t > 0``), so the hit
point is ``origins + t * directions``. With directions whose optical z component is 1 (camera rays built from
:func:`mono_depth_ros.core.geometry.pixel_rays`), ``t`` is the depth along the optical axis; with unit
directions it is the range. Misses are ``+inf``. Rays that start inside a primitive do not hit it.

The world frame is REP 103: x forward, y left, **z up**; the ground is the plane ``z = 0``. For precision, shift
primitives and origins close to zero (:meth:`Boxes.shifted` etc.) before casting to float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ShapeError

FloatArray = npt.NDArray[np.floating[Any]]
F64 = npt.NDArray[np.float64]
Index = npt.NDArray[np.intp] | npt.NDArray[np.bool_] | slice


def _column(values: npt.ArrayLike, name: str, count: int | None = None) -> F64:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if count is not None and array.shape != (count,):
        msg = f"{name} must have {count} values (one per primitive), got shape {array.shape}"
        raise ShapeError(msg)
    return array


def _points(values: npt.ArrayLike, name: str, dims: int) -> F64:
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, dims))
    if array.ndim != 2 or array.shape[1] != dims:
        msg = f"{name} must have shape (P, {dims}), got {array.shape}"
        raise ShapeError(msg)
    return array


@dataclass(frozen=True)
class Boxes:
    """Axis-aligned boxes in the world frame. ``min_xyz``, ``max_xyz``: (P, 3) float64 metres, min <= max."""

    min_xyz: F64
    max_xyz: F64

    def __post_init__(self) -> None:
        lo, hi = _points(self.min_xyz, "min_xyz", 3), _points(self.max_xyz, "max_xyz", 3)
        if lo.shape != hi.shape or np.any(lo > hi):
            msg = f"box corners must pair up with min <= max; got shapes {lo.shape} and {hi.shape}"
            raise ShapeError(msg)
        object.__setattr__(self, "min_xyz", lo)
        object.__setattr__(self, "max_xyz", hi)

    def __len__(self) -> int:
        return int(self.min_xyz.shape[0])

    def aabb(self) -> tuple[F64, F64]:
        """Axis-aligned bounds ((P, 3), (P, 3)) in metres."""
        return self.min_xyz, self.max_xyz

    def take(self, index: Index) -> Boxes:
        """The boxes at ``index`` (int array or slice-like), same order."""
        return Boxes(self.min_xyz[index], self.max_xyz[index])

    def shifted(self, offset_xyz: npt.ArrayLike) -> Boxes:
        """The same boxes in a frame whose origin is at ``offset_xyz`` (metres, world axes)."""
        offset = np.asarray(offset_xyz, dtype=np.float64)
        return Boxes(self.min_xyz - offset, self.max_xyz - offset)


@dataclass(frozen=True)
class Cylinders:
    """Vertical cylinders (poles): axis at ``center_xy`` (P, 2), ``radius`` (P,), from ``z_min`` to ``z_max`` (P,).

    Lateral surface and top cap are modelled; the bottom cap is not (cylinders stand on the ground).
    """

    center_xy: F64
    radius: F64
    z_min: F64
    z_max: F64

    def __post_init__(self) -> None:
        center = _points(self.center_xy, "center_xy", 2)
        count = center.shape[0]
        radius = _column(self.radius, "radius", count)
        z_min, z_max = _column(self.z_min, "z_min", count), _column(self.z_max, "z_max", count)
        if np.any(radius <= 0) or np.any(z_min > z_max):
            msg = "cylinders need radius > 0 and z_min <= z_max"
            raise ShapeError(msg)
        for name, value in (("center_xy", center), ("radius", radius), ("z_min", z_min), ("z_max", z_max)):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return int(self.center_xy.shape[0])

    def aabb(self) -> tuple[F64, F64]:
        """Axis-aligned bounds ((P, 3), (P, 3)) in metres."""
        r = self.radius[:, None]
        lo = np.column_stack([self.center_xy - r, self.z_min])
        hi = np.column_stack([self.center_xy + r, self.z_max])
        return lo, hi

    def take(self, index: Index) -> Cylinders:
        """The cylinders at ``index``."""
        return Cylinders(self.center_xy[index], self.radius[index], self.z_min[index], self.z_max[index])

    def shifted(self, offset_xyz: npt.ArrayLike) -> Cylinders:
        """The same cylinders in a frame whose origin is at ``offset_xyz``."""
        offset = np.asarray(offset_xyz, dtype=np.float64)
        return Cylinders(self.center_xy - offset[:2], self.radius, self.z_min - offset[2], self.z_max - offset[2])


@dataclass(frozen=True)
class Walls:
    """Vertical rectangles: segment ``start_xy`` → ``end_xy`` ((P, 2) metres) extruded from ``z_min`` to ``z_max``."""

    start_xy: F64
    end_xy: F64
    z_min: F64
    z_max: F64

    def __post_init__(self) -> None:
        start, end = _points(self.start_xy, "start_xy", 2), _points(self.end_xy, "end_xy", 2)
        count = start.shape[0]
        z_min, z_max = _column(self.z_min, "z_min", count), _column(self.z_max, "z_max", count)
        if end.shape != start.shape or np.any(np.linalg.norm(end - start, axis=1) <= 0) or np.any(z_min > z_max):
            msg = "walls need start/end of equal shape, non-zero length and z_min <= z_max"
            raise ShapeError(msg)
        for name, value in (("start_xy", start), ("end_xy", end), ("z_min", z_min), ("z_max", z_max)):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return int(self.start_xy.shape[0])

    @property
    def length_m(self) -> F64:
        """(P,) segment lengths in metres."""
        return np.asarray(np.linalg.norm(self.end_xy - self.start_xy, axis=1), dtype=np.float64)

    @property
    def tangent_xy(self) -> F64:
        """(P, 2) unit vectors from start to end."""
        return (self.end_xy - self.start_xy) / self.length_m[:, None]

    def aabb(self) -> tuple[F64, F64]:
        """Axis-aligned bounds ((P, 3), (P, 3)) in metres."""
        lo = np.column_stack([np.minimum(self.start_xy, self.end_xy), self.z_min])
        hi = np.column_stack([np.maximum(self.start_xy, self.end_xy), self.z_max])
        return lo, hi

    def take(self, index: Index) -> Walls:
        """The walls at ``index``."""
        return Walls(self.start_xy[index], self.end_xy[index], self.z_min[index], self.z_max[index])

    def shifted(self, offset_xyz: npt.ArrayLike) -> Walls:
        """The same walls in a frame whose origin is at ``offset_xyz``."""
        offset = np.asarray(offset_xyz, dtype=np.float64)
        start, end = self.start_xy - offset[:2], self.end_xy - offset[:2]
        return Walls(start, end, self.z_min - offset[2], self.z_max - offset[2])


def _rays(origins: npt.ArrayLike, directions: FloatArray) -> tuple[FloatArray, FloatArray]:
    d = np.asarray(directions)
    if d.ndim != 2 or d.shape[1] != 3 or not np.issubdtype(d.dtype, np.floating):
        msg = f"directions must be a float (R, 3) array, got {d.dtype} {d.shape}"
        raise ShapeError(msg)
    o = np.asarray(origins, dtype=d.dtype)
    if o.shape == (3,):
        o = o[None, :]
    if o.ndim != 2 or o.shape[1] != 3 or o.shape[0] not in (1, d.shape[0]):
        msg = f"origins must be (3,) or ({d.shape[0]}, 3), got {o.shape}"
        raise ShapeError(msg)
    return o, d


def _finite_positive(t: FloatArray, valid: npt.NDArray[np.bool_]) -> FloatArray:
    return np.where(valid & (t > 0), t, np.inf).astype(t.dtype, copy=False)


def intersect_ground(origins: npt.ArrayLike, directions: FloatArray, ground_z: float = 0.0) -> FloatArray:
    """``t`` (R,) of the plane ``z = ground_z`` (either side), ``+inf`` for rays parallel to it or pointing away."""
    o, d = _rays(origins, directions)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = (d.dtype.type(ground_z) - o[:, 2]) / d[:, 2]
    return _finite_positive(t, np.isfinite(t))


def intersect_boxes(origins: npt.ArrayLike, directions: FloatArray, boxes: Boxes) -> FloatArray:
    """``t`` (R, P) of every ray against every box (slab method; NaN-safe for axis-parallel rays)."""
    o, d = _rays(origins, directions)
    lo, hi = boxes.min_xyz.astype(d.dtype), boxes.max_xyz.astype(d.dtype)
    t_near = np.full((d.shape[0], len(boxes)), -np.inf, dtype=d.dtype)
    t_far = np.full((d.shape[0], len(boxes)), np.inf, dtype=d.dtype)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inv = 1.0 / d
        for axis in range(3):
            t1 = (lo[None, :, axis] - o[:, axis, None]) * inv[:, axis, None]
            t2 = (hi[None, :, axis] - o[:, axis, None]) * inv[:, axis, None]
            np.fmax(t_near, np.fmin(t1, t2), out=t_near)
            np.fmin(t_far, np.fmax(t1, t2), out=t_far)
    return _finite_positive(t_near, t_near <= t_far)


def intersect_cylinders(origins: npt.ArrayLike, directions: FloatArray, cylinders: Cylinders) -> FloatArray:
    """``t`` (R, P) of every ray against every vertical cylinder (lateral surface and top cap)."""
    o, d = _rays(origins, directions)
    dtype = d.dtype
    ox = o[:, 0, None] - cylinders.center_xy[None, :, 0].astype(dtype)
    oy = o[:, 1, None] - cylinders.center_xy[None, :, 1].astype(dtype)
    oz = o[:, 2, None]
    dx, dy, dz = d[:, 0, None], d[:, 1, None], d[:, 2, None]
    r2 = (cylinders.radius**2).astype(dtype)[None, :]
    z_min, z_max = cylinders.z_min.astype(dtype)[None, :], cylinders.z_max.astype(dtype)[None, :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = dx * dx + dy * dy
        t_closest = -(ox * dx + oy * dy) / a  # closest approach to the axis: stable in float32
        miss2 = (ox + t_closest * dx) ** 2 + (oy + t_closest * dy) ** 2
        t_side = t_closest - np.sqrt((r2 - miss2) / a)
        z_side = oz + t_side * dz
        side = (miss2 <= r2) & (z_side >= z_min) & (z_side <= z_max)
        t = _finite_positive(t_side, side)
        t_cap = (z_max - oz) / dz
        cap = ((ox + t_cap * dx) ** 2 + (oy + t_cap * dy) ** 2 <= r2) & np.isfinite(t_cap)
        np.fmin(t, _finite_positive(t_cap, cap), out=t)
    return t


def intersect_walls(origins: npt.ArrayLike, directions: FloatArray, walls: Walls) -> FloatArray:
    """``t`` (R, P) of every ray against every wall (both faces)."""
    o, d = _rays(origins, directions)
    dtype = d.dtype
    tangent = walls.tangent_xy.astype(dtype)
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    rel_x = walls.start_xy[None, :, 0].astype(dtype) - o[:, 0, None]
    rel_y = walls.start_xy[None, :, 1].astype(dtype) - o[:, 1, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        denom = d[:, 0, None] * normal[None, :, 0] + d[:, 1, None] * normal[None, :, 1]
        t = (rel_x * normal[None, :, 0] + rel_y * normal[None, :, 1]) / denom
        along = (t * d[:, 0, None] - rel_x) * tangent[None, :, 0] + (t * d[:, 1, None] - rel_y) * tangent[None, :, 1]
        z = o[:, 2, None] + t * d[:, 2, None]
        inside = (
            (along >= 0)
            & (along <= walls.length_m.astype(dtype)[None, :])
            & (z >= walls.z_min.astype(dtype)[None, :])
            & (z <= walls.z_max.astype(dtype)[None, :])
        )
    return _finite_positive(t, inside & np.isfinite(t))


def box_normals(points: FloatArray, boxes: Boxes) -> FloatArray:
    """Outward unit normals (M, 3) at hit ``points`` (M, 3) on ``boxes`` (M boxes, one per point).

    The face is the one the point lies closest to, which is robust to float32 round-off.
    """
    center = (0.5 * (boxes.min_xyz + boxes.max_xyz)).astype(points.dtype)
    half = (0.5 * (boxes.max_xyz - boxes.min_xyz)).astype(points.dtype)
    offset = points - center
    axis = np.argmin(half - np.abs(offset), axis=1)
    rows = np.arange(points.shape[0])
    normals = np.zeros_like(points)
    normals[rows, axis] = np.where(offset[rows, axis] >= 0, 1.0, -1.0)
    return normals


def cylinder_normals(points: FloatArray, cylinders: Cylinders) -> FloatArray:
    """Outward unit normals (M, 3) at hit ``points`` (M, 3) on ``cylinders`` (one per point): radial or +z (cap)."""
    radial = points[:, :2] - cylinders.center_xy.astype(points.dtype)
    distance = np.linalg.norm(radial, axis=1)
    to_side = np.abs(distance - cylinders.radius)
    to_cap = np.abs(points[:, 2] - cylinders.z_max)
    normals = np.zeros_like(points)
    on_cap = to_cap < to_side
    normals[on_cap, 2] = 1.0
    side = ~on_cap
    normals[side, :2] = radial[side] / np.maximum(distance[side], 1e-12)[:, None]
    return normals


def wall_normals(directions: FloatArray, walls: Walls) -> FloatArray:
    """Unit normals (M, 3) of ``walls`` (one per ray) on the side facing each ray's ``directions`` (M, 3)."""
    tangent = walls.tangent_xy.astype(directions.dtype)
    normals = np.column_stack([-tangent[:, 1], tangent[:, 0], np.zeros(len(walls), dtype=directions.dtype)])
    facing_away = np.einsum("ij,ij->i", normals, directions) > 0
    normals[facing_away] *= -1.0
    return normals
