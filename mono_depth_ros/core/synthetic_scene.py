"""Scene description for the synthetic world: a curved road, and walls, boxes and poles placed along it.

World frame (REP 103): x forward along the road, y left, z up, metres; the ground is ``z = 0``. A
:class:`Scene` holds geometry (:mod:`mono_depth_ros.core.raycast` primitives) and one albedo colour per
primitive; :func:`generate_scene` lays out a street deterministically from a ``np.random.Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.raycast import Boxes, Cylinders, Walls

F64 = npt.NDArray[np.float64]
FloatArray = npt.NDArray[np.floating[Any]]
MAX_ROAD_SLOPE = math.tan(math.radians(15.0))  # "gentle turns": heading stays within ±15°


@dataclass(frozen=True)
class RoadCurve:
    """Road centreline ``y(x) = Σ a_k sin(2π x / λ_k + φ_k)`` in the world frame, and the cross-section layout.

    Cross-section, by unsigned lateral offset from the centreline: two driving lanes (``lane_width_m`` each,
    dashed centre line, solid edge lines), a parking strip, then a sidewalk. Lateral offsets are positive to the
    left (+y side).
    """

    amplitudes_m: tuple[float, ...] = ()
    wavelengths_m: tuple[float, ...] = ()
    phases_rad: tuple[float, ...] = ()
    lane_width_m: float = 3.5
    parking_width_m: float = 2.2
    sidewalk_width_m: float = 3.0

    def __post_init__(self) -> None:
        if not len(self.amplitudes_m) == len(self.wavelengths_m) == len(self.phases_rad):
            msg = "RoadCurve needs as many amplitudes as wavelengths and phases"
            raise ConfigError(msg)
        if any(w <= 0 for w in self.wavelengths_m):
            msg = f"road wavelengths must be > 0 m, got {self.wavelengths_m}"
            raise ConfigError(msg)

    @classmethod
    def random(cls, rng: np.random.Generator) -> RoadCurve:
        """Two sinusoids with heading bounded by ±15° (gentle turns)."""
        wavelengths = (float(rng.uniform(160.0, 260.0)), float(rng.uniform(70.0, 110.0)))
        amplitudes = np.array([rng.uniform(3.0, 7.0), rng.uniform(0.5, 2.0)])
        max_slope = float(np.sum(amplitudes * 2.0 * np.pi / np.array(wavelengths)))
        amplitudes *= min(1.0, MAX_ROAD_SLOPE / max_slope)
        phases = (float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi)))
        return cls((float(amplitudes[0]), float(amplitudes[1])), wavelengths, phases)

    @property
    def road_half_width_m(self) -> float:
        """Distance from the centreline to the curb (lane + parking strip)."""
        return self.lane_width_m + self.parking_width_m

    def _terms(self, x_m: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        x = np.asarray(x_m)
        dtype = np.result_type(x.dtype, np.float32)  # float32 stays float32 (texture lookups); else float64
        a = np.asarray(self.amplitudes_m, dtype=dtype)
        wavenumber = (2.0 * np.pi / np.asarray(self.wavelengths_m, dtype=np.float64)).astype(dtype)
        return x.astype(dtype)[..., None], a, wavenumber, np.asarray(self.phases_rad, dtype=dtype)

    def center_y(self, x_m: npt.ArrayLike) -> F64:
        """Centreline y (m) at ``x_m`` (any shape)."""
        x, a, k, phi = self._terms(x_m)
        return np.asarray(np.sum(a * np.sin(k * x + phi), axis=-1), dtype=np.float64)

    def slope(self, x_m: npt.ArrayLike) -> F64:
        """dy/dx of the centreline at ``x_m``."""
        x, a, k, phi = self._terms(x_m)
        return np.asarray(np.sum(a * k * np.cos(k * x + phi), axis=-1), dtype=np.float64)

    def heading(self, x_m: npt.ArrayLike) -> F64:
        """Yaw of the centreline (rad, counter-clockwise from +x) at ``x_m``."""
        return np.arctan(self.slope(x_m))

    def lateral_offset(self, x_m: npt.ArrayLike, y_m: npt.ArrayLike) -> FloatArray:
        """Signed distance (m, left positive) of world points from the centreline (first-order, exact when straight).

        float32 inputs give float32 (fast, for textures); anything else float64.
        """
        x, a, k, phi = self._terms(x_m)
        phase = k * x + phi
        center_y = np.sum(a * np.sin(phase), axis=-1)
        slope = np.sum(a * k * np.cos(phase), axis=-1)
        return np.asarray((np.asarray(y_m) - center_y) / np.sqrt(1.0 + slope**2))

    def point_at(self, x_m: npt.ArrayLike, lateral_m: npt.ArrayLike) -> F64:
        """World xy (..., 2) of the point ``lateral_m`` to the left of the centreline point at ``x_m``."""
        x = np.asarray(x_m, dtype=np.float64)
        yaw = self.heading(x)
        lateral = np.asarray(lateral_m, dtype=np.float64)
        return np.stack([x - lateral * np.sin(yaw), self.center_y(x) + lateral * np.cos(yaw)], axis=-1)


def _albedo(values: npt.ArrayLike, count: int, name: str) -> F64:
    array = np.asarray(values, dtype=np.float64).reshape(-1, 3)
    if array.shape[0] == 0:
        return np.full((count, 3), 0.6)
    if array.shape != (count, 3) or np.any((array < 0) | (array > 1)):
        msg = f"{name} must be ({count}, 3) RGB in [0, 1], got shape {np.shape(values)}"
        raise ShapeError(msg)
    return array


def _no_walls() -> Walls:
    return Walls(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), np.zeros(0))


def _no_boxes() -> Boxes:
    return Boxes(np.zeros((0, 3)), np.zeros((0, 3)))


def _no_cylinders() -> Cylinders:
    return Cylinders(np.zeros((0, 2)), np.zeros(0), np.zeros(0), np.zeros(0))


def _no_albedo() -> F64:
    return np.zeros((0, 3))


@dataclass(frozen=True)
class Scene:
    """Static geometry in the world frame plus one linear-RGB albedo in [0, 1] per primitive ((P, 3) float64).

    ``road`` (optional) only drives the ground texture; ``ground`` switches the ``z = 0`` plane on or off.
    Albedos left empty default to mid grey (0.6).
    """

    walls: Walls = field(default_factory=_no_walls)
    boxes: Boxes = field(default_factory=_no_boxes)
    cylinders: Cylinders = field(default_factory=_no_cylinders)
    wall_albedo: F64 = field(default_factory=_no_albedo)
    box_albedo: F64 = field(default_factory=_no_albedo)
    cylinder_albedo: F64 = field(default_factory=_no_albedo)
    road: RoadCurve | None = None
    ground: bool = True

    def __post_init__(self) -> None:
        for name, count in (
            ("wall_albedo", len(self.walls)),
            ("box_albedo", len(self.boxes)),
            ("cylinder_albedo", len(self.cylinders)),
        ):
            object.__setattr__(self, name, _albedo(getattr(self, name), count, name))


def generate_scene(rng: np.random.Generator, road: RoadCurve, x_start_m: float, x_end_m: float) -> Scene:
    """Lay out a street between ``x_start_m`` and ``x_end_m``: facades, parked cars, crates, lamp posts, trees.

    Everything stays off the driving lanes (parked cars are axis-aligned boxes and may reach ~0.3 m into the
    outer lane where the road turns). Deterministic for a given generator state.
    """
    walls: list[list[float]] = []  # start x, y, end x, y, z_min, z_max, r, g, b
    boxes: list[list[float]] = []  # min x, y, z, max x, y, z, r, g, b
    poles: list[list[float]] = []  # centre x, y, radius, height, r, g, b
    for side in (1.0, -1.0):
        walls += _facades(rng, road, side, x_start_m, x_end_m)
        boxes += _parked_cars(rng, road, side, x_start_m, x_end_m)
        more_boxes, more_poles = _street_furniture(rng, road, side, x_start_m, x_end_m)
        boxes += more_boxes
        poles += more_poles
    wall_rows = np.array(walls, dtype=np.float64).reshape(-1, 9)
    box_rows = np.array(boxes, dtype=np.float64).reshape(-1, 9)
    pole_rows = np.array(poles, dtype=np.float64).reshape(-1, 7)
    return Scene(
        walls=Walls(wall_rows[:, 0:2], wall_rows[:, 2:4], wall_rows[:, 4], wall_rows[:, 5]),
        boxes=Boxes(box_rows[:, 0:3], box_rows[:, 3:6]),
        cylinders=Cylinders(pole_rows[:, 0:2], pole_rows[:, 2], np.zeros(len(pole_rows)), pole_rows[:, 3]),
        wall_albedo=np.clip(wall_rows[:, 6:9], 0, 1),
        box_albedo=np.clip(box_rows[:, 6:9], 0, 1),
        cylinder_albedo=np.clip(pole_rows[:, 4:7], 0, 1),
        road=road,
    )


def _facades(rng: np.random.Generator, road: RoadCurve, side: float, x_m: float, x_end_m: float) -> list[list[float]]:
    """Straight facade segments between centreline points at a fixed setback behind the sidewalk."""
    rows = []
    while x_m < x_end_m:
        length = rng.uniform(8.0, 25.0)
        setback = road.road_half_width_m + road.sidewalk_width_m + rng.uniform(0.0, 4.0)
        ends = road.point_at([x_m, x_m + length], [side * setback] * 2)
        colour = _FACADE_COLOURS[rng.integers(len(_FACADE_COLOURS))] + rng.normal(0, 0.04, 3)
        rows.append([*ends[0], *ends[1], 0.0, rng.uniform(4.0, 14.0), *colour])
        x_m += length + (rng.uniform(10.0, 20.0) if rng.random() < 0.15 else rng.uniform(1.0, 6.0))
    return rows


def _parked_cars(
    rng: np.random.Generator, road: RoadCurve, side: float, x_m: float, x_end_m: float
) -> list[list[float]]:
    """Cars in the parking strip: a body box and a narrower cabin box on top."""
    rows = []
    x_m += rng.uniform(0.0, 6.0)
    while x_m < x_end_m:
        if rng.random() < 0.55:
            centre = road.point_at(x_m, side * (road.lane_width_m + 0.5 * road.parking_width_m))
            half = np.array([rng.uniform(1.9, 2.3), rng.uniform(0.85, 0.95)])
            height = rng.uniform(1.35, 1.6)
            colour = rng.uniform(0.1, 0.9, 3)
            rows.append([*(centre - half), 0.0, *(centre + half), 0.55 * height, *colour])
            cabin = half * np.array([0.55, 0.9])
            rows.append([*(centre - cabin), 0.55 * height, *(centre + cabin), height, *(0.8 * colour)])
        x_m += rng.uniform(6.0, 12.0)
    return rows


def _street_furniture(
    rng: np.random.Generator, road: RoadCurve, side: float, x_m: float, x_end_m: float
) -> tuple[list[list[float]], list[list[float]]]:
    """Sidewalk objects: lamp posts, trees (trunk + canopy box) and crates. Returns (box rows, pole rows)."""
    boxes, poles = [], []
    x_m += rng.uniform(0.0, 10.0)
    while x_m < x_end_m:
        lateral = side * (road.road_half_width_m + rng.uniform(0.5, road.sidewalk_width_m - 0.5))
        centre = road.point_at(x_m, lateral)
        kind = rng.random()
        if kind < 0.45:
            poles.append([*centre, rng.uniform(0.08, 0.15), rng.uniform(5.0, 8.0), 0.3, 0.32, 0.35])
        elif kind < 0.75:
            trunk = rng.uniform(2.5, 3.5)
            poles.append([*centre, rng.uniform(0.15, 0.3), trunk, 0.35, 0.25, 0.15])
            half = rng.uniform(1.0, 1.6)
            top = trunk + rng.uniform(1.5, 3.0)
            boxes.append([*(centre - half), trunk, *(centre + half), top, 0.15, rng.uniform(0.35, 0.55), 0.12])
        else:
            size = rng.uniform(0.4, 1.2)
            boxes.append([*(centre - size / 2), 0.0, *(centre + size / 2), size, 0.55, 0.4, 0.25])
        x_m += rng.uniform(5.0, 15.0)
    return boxes, poles


_FACADE_COLOURS = np.array(
    [[0.62, 0.32, 0.25], [0.80, 0.74, 0.62], [0.55, 0.55, 0.57], [0.88, 0.86, 0.80], [0.45, 0.35, 0.30]]
)
