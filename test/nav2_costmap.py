"""A 2-D model of Nav2's obstacle layer, to check what the node's outputs do to a costmap (no Nav2 needed).

Semantics follow nav2_costmap_2d (ObservationBuffer + ObstacleLayer, Humble / Jazzy):
- each observation source keeps only points with ``min_obstacle_height <= z <= max_obstacle_height`` (both for
  marking and clearing);
- clearing sources first: every cell on the ray from the sensor origin to each point is cleared, the ray cut at
  ``raytrace_max_range``; the point's own cell is not cleared when the point lies within that range;
- then marking sources: a point within ``obstacle_max_range`` (3-D distance from the sensor) marks its cell;
- a LaserScan source with ``inf_is_valid: true`` turns each +Inf range into ``range_max - 0.0001`` (a ray to the
  edge of its range: it clears, it is too far to mark); other non-finite ranges make no point.

The robot frame here: x forward, y left, z up, the camera's optical centre at (0, 0, ``camera_height_m``), level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Source:
    """One observation source of the obstacle layer (the keys of the costmap YAML)."""

    marking: bool
    clearing: bool
    min_obstacle_height: float = 0.1
    max_obstacle_height: float = 1.6
    obstacle_max_range: float = 4.0
    raytrace_max_range: float = 5.0
    inf_is_valid: bool = False


def points_from_optical(xyz_optical: FloatArray, camera_height_m: float) -> FloatArray:
    """(N, 3) optical-frame points (x right, y down, z forward) → robot frame (x forward, y left, z up)."""
    return np.column_stack([xyz_optical[:, 2], -xyz_optical[:, 0], camera_height_m - xyz_optical[:, 1]])


def points_from_scan(scan: Any, camera_height_m: float, inf_is_valid: bool) -> FloatArray:
    """A ``sensor_msgs/LaserScan`` (scan frame = camera body frame) → robot-frame points, as Nav2 projects it."""
    ranges = np.asarray(scan.ranges, dtype=np.float64)
    if inf_is_valid:
        ranges = np.where(np.isposinf(ranges), scan.range_max - 0.0001, ranges)
    bearings = scan.angle_min + scan.angle_increment * np.arange(ranges.size)
    keep = np.isfinite(ranges) & (ranges >= scan.range_min) & (ranges <= scan.range_max)
    r, a = ranges[keep], bearings[keep]
    return np.column_stack([r * np.cos(a), r * np.sin(a), np.full(r.size, camera_height_m)])


class ObstacleLayer:
    """A square rolling window centred on the sensor: True = lethal (marked)."""

    def __init__(self, camera_height_m: float, size_m: float = 12.0, resolution_m: float = 0.05) -> None:
        self.camera_height_m = camera_height_m
        self.resolution_m = resolution_m
        self.cells = round(size_m / resolution_m)
        self.marked = np.zeros((self.cells, self.cells), dtype=bool)

    def cell(self, xy: FloatArray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Grid indices (row = x, column = y) of (N, 2) robot-frame positions."""
        index = np.floor(xy / self.resolution_m).astype(np.intp) + self.cells // 2
        return index[:, 0], index[:, 1]

    def _inside(self, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        return (rows >= 0) & (rows < self.cells) & (cols >= 0) & (cols < self.cells)

    def update(self, observations: list[tuple[Source, FloatArray]]) -> None:
        """One costmap update: clear along the clearing sources' rays, then mark the marking sources' points."""
        kept = [
            (source, p[(p[:, 2] >= source.min_obstacle_height) & (p[:, 2] <= source.max_obstacle_height)])
            for source, p in observations
        ]
        for source, points in kept:
            if source.clearing and len(points):
                self._clear(points[:, :2], source.raytrace_max_range)
        for source, points in kept:
            if source.marking and len(points):
                height = points[:, 2] - self.camera_height_m
                near = np.sqrt((points[:, :2] ** 2).sum(axis=1) + height**2) <= source.obstacle_max_range
                rows, cols = self.cell(points[near, :2])
                inside = self._inside(rows, cols)
                self.marked[rows[inside], cols[inside]] = True

    def _clear(self, xy: FloatArray, max_range_m: float) -> None:
        length = np.linalg.norm(xy, axis=1)
        reach = np.minimum(length, max_range_m)
        stop = np.where(length <= max_range_m, reach - self.resolution_m, reach)  # the endpoint's cell stays
        steps = np.arange(0.0, float(stop.max(initial=0.0)), self.resolution_m / 3)
        if steps.size == 0:
            return
        direction = xy / np.maximum(length, 1e-9)[:, None]
        along = steps[None, :] <= stop[:, None]
        samples = direction[:, None, :] * steps[None, :, None]
        rows, cols = self.cell(samples[along])
        inside = self._inside(rows, cols)
        self.marked[rows[inside], cols[inside]] = False

    def marked_in(self, x_range: tuple[float, float], y_range: tuple[float, float]) -> int:
        """Marked cells whose centres lie in the robot-frame box ``x_range`` × ``y_range`` (metres)."""
        centres = (np.arange(self.cells) - self.cells // 2 + 0.5) * self.resolution_m
        rows = (centres >= x_range[0]) & (centres <= x_range[1])
        cols = (centres >= y_range[0]) & (centres <= y_range[1])
        return int(self.marked[np.ix_(rows, cols)].sum())
