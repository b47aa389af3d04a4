"""Models of Nav2's obstacle and voxel layers, to check what the node's outputs do to a costmap (no Nav2 needed).

Ported from ros-navigation/navigation2, branches ``humble`` and ``jazzy`` (``nav2_costmap_2d``:
``src/observation_buffer.cpp``, ``plugins/obstacle_layer.cpp``, ``plugins/voxel_layer.cpp``,
``include/nav2_costmap_2d/costmap_2d.hpp`` ``raytraceLine``; ``nav2_voxel_grid``: ``voxel_grid.hpp``
``raytraceLine`` / ``bresenham3D`` / ``ClearVoxelInMap``), and ros-perception/laser_geometry ``projectLaser_``:

- ObservationBuffer::bufferCloud: each source keeps the points with
  ``min_obstacle_height <= z <= max_obstacle_height`` (global frame; NaN fails both); the sensor origin is the
  origin of ``sensor_frame`` or, when it is empty, of the cloud's header frame;
- updateBounds: every clearing observation is raytraced first, then every marking observation marks;
- ObstacleLayer (2-D): a point marks when the layer's ``min_obstacle_height <= z <= max_obstacle_height`` and its
  cell distance ``(unsigned) hypot(dx, dy)`` from the origin's cell is within ``ceil(range / resolution)`` cells
  (Jazzy also checks the 2-D world distance first); clearing runs Bresenham from the origin's cell to the point's
  cell, from ``raytrace_min_range`` to ``raytrace_max_range`` cells, the point's own cell included;
- VoxelLayer (3-D, at most 16 voxels a column): a point marks when ``z <= max_obstacle_height`` of the layer
  (Jazzy: also ``>= min_obstacle_height``) and its 3-D distance from the origin is within
  ``[obstacle_min_range, obstacle_max_range)``; clearing pulls each point back by two cells along its ray, clips
  the ray to the grid (above: to ``origin_z + (z_voxels - 0.5) * z_resolution - 0.01``; below: to ``origin_z``;
  Jazzy then moves a clipped end 1e-5 of the ray back) and clears the voxels of a 3-D Bresenham line (grid units:
  x, y in ``resolution``, z in ``z_resolution``); a column's cell turns free once none of its voxels is marked
  (``mark_threshold: 0``); nothing is raytraced when the sensor origin lies outside the grid (a camera above
  ``origin_z + z_voxels * z_resolution``);
- a LaserScan becomes points as laser_geometry projects it: ``range_min <= range < range_max``; with
  ``inf_is_valid: true`` the obstacle layer first turns each +Inf into ``range_max - 0.0001``.

The robot frame is the global frame here: x forward, y left, z up, the camera's optical centre at
(0, 0, ``camera_height_m``), level; the window is centred on the camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Source:
    """One observation source of the obstacle / voxel layer (the keys of the costmap YAML)."""

    marking: bool
    clearing: bool
    min_obstacle_height: float = 0.1
    max_obstacle_height: float = 1.6
    obstacle_min_range: float = 0.0
    obstacle_max_range: float = 4.0
    raytrace_min_range: float = 0.0
    raytrace_max_range: float = 5.0
    inf_is_valid: bool = False


def points_from_optical(xyz_optical: FloatArray, camera_height_m: float) -> FloatArray:
    """(N, 3) optical-frame points (x right, y down, z forward) → robot frame (x forward, y left, z up)."""
    return np.column_stack([xyz_optical[:, 2], -xyz_optical[:, 0], camera_height_m - xyz_optical[:, 1]])


def points_from_scan(scan: Any, camera_height_m: float, inf_is_valid: bool, pitch_rad: float = 0.0) -> FloatArray:
    """A ``sensor_msgs/LaserScan`` (scan frame = camera body frame, pitched down by ``pitch_rad``) → robot-frame
    points, as Nav2 projects it (in the scan's plane) and moves it with TF."""
    ranges = np.asarray(scan.ranges, dtype=np.float32)
    if inf_is_valid:  # ObstacleLayer::laserScanValidInfCallback: !isfinite(range) && range > 0
        ranges = np.where(np.isposinf(ranges), np.float32(scan.range_max) - np.float32(0.0001), ranges)
    ranges = ranges.astype(np.float64)
    bearings = scan.angle_min + scan.angle_increment * np.arange(ranges.size)
    with np.errstate(invalid="ignore"):
        keep = (ranges < scan.range_max) & (ranges >= scan.range_min)  # laser_geometry: NaN, ±Inf fail
    r, a = ranges[keep], bearings[keep]
    forward = r * np.cos(a)
    return np.column_stack([forward * np.cos(pitch_rad), r * np.sin(a), camera_height_m - forward * np.sin(pitch_rad)])


def _height_band(source: Source, points: FloatArray) -> FloatArray:
    """ObservationBuffer::bufferCloud: ``min <= z <= max`` (a NaN z fails)."""
    with np.errstate(invalid="ignore"):
        keep = (points[:, 2] <= source.max_obstacle_height) & (points[:, 2] >= source.min_obstacle_height)
    return points[keep]


def bresenham(start: IntArray, delta: IntArray, length: IntArray) -> tuple[IntArray, IntArray]:
    """The cells Nav2's ``bresenham2D`` / ``bresenham3D`` visit, for many lines at once.

    Args:
        start: (R, k) start cell of each line (k = 2 or 3 axes).
        delta: (R, k) end cell minus start cell.
        length: (R,) steps along the dominant axis (``min(max_length, abs_da)``); the loop visits ``length``
            cells and one more after it.

    Returns:
        ``(line, cells)``: (M,) index of a line of each visit (lines with the same start, delta and length are
        traced once, under the first one's index) and (M, k) the cell of each visit.
    """
    lines = np.column_stack([start, delta, length])
    lines, first = np.unique(lines, axis=0, return_index=True)  # many rays share their cells' line: trace it once
    start, delta, length = lines[:, : start.shape[1]], lines[:, start.shape[1] : -1], lines[:, -1]
    magnitude = np.abs(delta)
    dominant = np.zeros(len(delta), np.int64)  # the first axis wins ties (x, then y), as the C++ branches do
    for axis in range(1, delta.shape[1]):
        dominant = np.where(magnitude[:, axis] > magnitude[np.arange(len(delta)), dominant], axis, dominant)
    abs_da = magnitude[np.arange(len(delta)), dominant]
    steps = np.arange(int(length.max(initial=0)) + 1)
    visit = steps[None, :] <= length[:, None]  # (R, L): the loop's steps and the visit after it
    error = (abs_da // 2)[:, None]  # the error terms start at abs_da / 2
    da = np.maximum(abs_da, 1)[:, None]
    axes = []
    for axis in range(delta.shape[1]):
        moved = np.where(
            (dominant == axis)[:, None], steps[None, :], (error + steps[None, :] * magnitude[:, axis : axis + 1]) // da
        )
        axes.append((start[:, axis : axis + 1] + np.sign(delta[:, axis : axis + 1]) * moved)[visit])
    return first[np.nonzero(visit)[0]], np.column_stack(axes)


class ObstacleLayer:
    """nav2_costmap_2d::ObstacleLayer on a square window centred on the sensor: True = lethal (marked).

    Args:
        camera_height_m: the sensor origin's z (metres).
        size_m, resolution_m: window edge and cell size (metres).
        min_obstacle_height, max_obstacle_height: the layer's own height limits for marking (Nav2 defaults).
        distro: "humble" or "jazzy" (Jazzy also checks the world distance before the cell distance).
    """

    def __init__(
        self,
        camera_height_m: float,
        size_m: float = 12.0,
        resolution_m: float = 0.05,
        min_obstacle_height: float = 0.0,
        max_obstacle_height: float = 2.0,
        distro: str = "humble",
    ) -> None:
        self.camera_height_m = camera_height_m
        self.resolution_m = resolution_m
        self.cells = round(size_m / resolution_m)
        self.origin_m = -(self.cells // 2) * resolution_m  # the window's lower corner, x and y
        self.min_obstacle_height = min_obstacle_height
        self.max_obstacle_height = max_obstacle_height
        self.distro = distro
        self.marked = np.zeros((self.cells, self.cells), dtype=bool)

    def cell_distance(self, metres: float) -> int:
        """Costmap2D::cellDistance: ``ceil(metres / resolution)``."""
        return int(max(0.0, math.ceil(metres / self.resolution_m)))

    def cell(self, xy: FloatArray) -> tuple[IntArray, IntArray]:
        """Grid indices (row = x, column = y) of (N, 2) robot-frame positions (Costmap2D::worldToMap, unchecked)."""
        index = np.floor((xy - self.origin_m) / self.resolution_m).astype(np.int64)
        return index[:, 0], index[:, 1]

    def _inside(self, rows: IntArray, cols: IntArray) -> npt.NDArray[np.bool_]:
        return (rows >= 0) & (rows < self.cells) & (cols >= 0) & (cols < self.cells)

    def update(self, observations: list[tuple[Source, FloatArray]]) -> None:
        """One updateBounds: raytrace the clearing sources' points, then mark the marking sources' points."""
        kept = [(source, _height_band(source, points)) for source, points in observations]
        for source, points in kept:
            if source.clearing and len(points):
                self._raytrace(source, points)
        for source, points in kept:
            if source.marking and len(points):
                self._mark(source, points)

    def _mark(self, source: Source, points: FloatArray) -> None:
        z = points[:, 2]
        points = points[(z >= self.min_obstacle_height) & (z <= self.max_obstacle_height)]
        if self.distro == "jazzy":
            world = (points[:, :2] ** 2).sum(axis=1)
            points = points[(world <= source.obstacle_max_range**2) & (world >= source.obstacle_min_range**2)]
        rows, cols = self.cell(points[:, :2])
        inside = self._inside(rows, cols)
        rows, cols = rows[inside], cols[inside]
        (x0,), (y0,) = self.cell(np.zeros((1, 2)))
        dist = np.floor(np.hypot(rows - x0, cols - y0)).astype(np.int64)
        near = (dist <= self.cell_distance(source.obstacle_max_range)) & (
            dist >= self.cell_distance(source.obstacle_min_range)
        )
        self.marked[rows[near], cols[near]] = True

    def _raytrace(self, source: Source, points: FloatArray) -> None:
        wx, wy = points[:, 0].copy(), points[:, 1].copy()
        a, b = wx.copy(), wy.copy()  # the origin is (0, 0)
        low, high = self.origin_m, self.origin_m + self.cells * self.resolution_m
        with np.errstate(divide="ignore", invalid="ignore"):  # ObstacleLayer::raytraceFreespace's clipping
            t = (low - 0.0) / a
            wy = np.where(wx < low, b * t, wy)
            wx = np.where(wx < low, low, wx)
            t = (low - 0.0) / b
            wx = np.where(wy < low, a * t, wx)
            wy = np.where(wy < low, low, wy)
            t = (high - 0.0) / a
            wy = np.where(wx > high, b * t, wy)
            wx = np.where(wx > high, high - 0.001, wx)
            t = (high - 0.0) / b
            wx = np.where(wy > high, a * t, wx)
            wy = np.where(wy > high, high - 0.001, wy)
        rows, cols = self.cell(np.column_stack([wx, wy]))
        inside = self._inside(rows, cols)
        (x0,), (y0,) = self.cell(np.zeros((1, 2)))
        x1, y1 = rows[inside], cols[inside]
        max_cells = self.cell_distance(source.raytrace_max_range)
        min_cells = self.cell_distance(source.raytrace_min_range)
        dx_full, dy_full = x1 - x0, y1 - y0
        dist = np.hypot(dx_full, dy_full)
        lines = dist >= min_cells
        dist, dx_full, dy_full, x1, y1 = dist[lines], dx_full[lines], dy_full[lines], x1[lines], y1[lines]
        safe = np.where(dist > 0, dist, 1.0)
        sx = np.where(dist > 0, np.floor(x0 + dx_full / safe * min_cells), x0).astype(np.int64)
        sy = np.where(dist > 0, np.floor(y0 + dy_full / safe * min_cells), y0).astype(np.int64)
        delta = np.column_stack([x1 - sx, y1 - sy])
        scale = np.where(dist > 0, np.minimum(1.0, max_cells / safe), 1.0)
        abs_da = np.abs(delta).max(axis=1)
        length = np.minimum(np.floor(scale * abs_da).astype(np.int64), abs_da)
        _, visited = bresenham(np.column_stack([sx, sy]), delta, length)
        ok = self._inside(visited[:, 0], visited[:, 1])
        self.marked[visited[ok, 0], visited[ok, 1]] = False

    def marked_in(self, x_range: tuple[float, float], y_range: tuple[float, float]) -> int:
        """Marked cells whose centres lie in the robot-frame box ``x_range`` × ``y_range`` (metres)."""
        centres = self.origin_m + (np.arange(self.cells) + 0.5) * self.resolution_m
        rows = (centres >= x_range[0]) & (centres <= x_range[1])
        cols = (centres >= y_range[0]) & (centres <= y_range[1])
        return int(self.marked[np.ix_(rows, cols)].sum())


class VoxelLayer(ObstacleLayer):
    """nav2_costmap_2d::VoxelLayer: a voxel grid over the window; a cell is lethal while one of its voxels is marked.

    Args (beyond :class:`ObstacleLayer`'s): origin_z, z_resolution, z_voxels: the grid's height (metres; at most
    16 voxels). ``mark_threshold`` 0 and an ``unknown_threshold`` that makes a cleared column free are assumed.
    """

    def __init__(
        self, camera_height_m: float, origin_z: float = 0.0, z_resolution: float = 0.2, z_voxels: int = 10, **layer: Any
    ) -> None:
        super().__init__(camera_height_m, **layer)  # size_m, resolution_m, heights, distro: as ObstacleLayer
        self.origin_z = origin_z
        self.z_resolution = z_resolution
        self.z_voxels = min(z_voxels, 16)  # VoxelGrid::resize
        self.voxels = np.zeros((self.cells, self.cells, self.z_voxels), dtype=bool)
        self.raytraced = True  # False once the sensor origin fell outside the grid (Nav2 warns, clears nothing)

    def _grid(self, xyz: FloatArray) -> FloatArray:
        """worldToMap3DFloat without the bounds check: grid units (x, y in cells, z in voxels)."""
        return np.column_stack(
            [
                (xyz[:, 0] - self.origin_m) / self.resolution_m,
                (xyz[:, 1] - self.origin_m) / self.resolution_m,
                (xyz[:, 2] - self.origin_z) / self.z_resolution,
            ]
        )

    def _in_grid(self, grid: FloatArray) -> npt.NDArray[np.bool_]:
        return (
            (grid >= 0).all(axis=1)
            & (grid[:, 0] < self.cells)
            & (grid[:, 1] < self.cells)
            & (grid[:, 2] < self.z_voxels)
        )

    def _mark(self, source: Source, points: FloatArray) -> None:
        z = points[:, 2]
        keep = z <= self.max_obstacle_height
        if self.distro == "jazzy":
            keep &= z >= self.min_obstacle_height
        points = points[keep]
        offset = points - np.array([0.0, 0.0, self.camera_height_m])
        sq = (offset**2).sum(axis=1)
        points = points[(sq < source.obstacle_max_range**2) & (sq >= source.obstacle_min_range**2)]
        points = np.column_stack([points[:, :2], np.maximum(points[:, 2], self.origin_z)])  # below: the floor voxel
        grid = self._grid(points)
        grid = grid[self._in_grid(grid)].astype(np.int64)
        self.voxels[grid[:, 0], grid[:, 1], grid[:, 2]] = True
        self.marked[grid[:, 0], grid[:, 1]] = True

    def _raytrace(self, source: Source, points: FloatArray) -> None:
        origin = np.array([0.0, 0.0, self.camera_height_m])
        sensor = self._grid(origin[None, :])
        if not self._in_grid(sensor)[0]:
            self.raytraced = False
            return
        ray = points - origin
        distance = np.linalg.norm(ray, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            scaling = np.clip((distance - 2 * self.resolution_m) / distance, 0.0, 1.0)
        ray = ray * scaling[:, None]
        end = origin + ray
        a, b, c = ray[:, 0], ray[:, 1], ray[:, 2]
        t = np.ones(len(ray))
        low_xy = self.origin_m
        high_xy = self.origin_m + (self.cells - 1 + 0.5) * self.resolution_m  # getSizeInMetersX: half a cell in
        top = self.origin_z + (self.z_voxels - 1 + 0.5) * self.z_resolution  # getSizeInMetersZ
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(end[:, 2] > top, np.maximum(0.0, np.minimum(t, (top - 0.01 - origin[2]) / c)), t)
            t = np.where(
                (end[:, 2] <= top) & (end[:, 2] < self.origin_z), np.minimum(t, (self.origin_z - origin[2]) / c), t
            )
            t = np.where(end[:, 0] < low_xy, np.minimum(t, (low_xy - origin[0]) / a), t)
            t = np.where(end[:, 1] < low_xy, np.minimum(t, (low_xy - origin[1]) / b), t)
            t = np.where(end[:, 0] > high_xy, np.minimum(t, (high_xy - origin[0]) / a), t)
            t = np.where(end[:, 1] > high_xy, np.minimum(t, (high_xy - origin[1]) / b), t)
        if self.distro == "jazzy":  # wp_epsilon: a clipped end point moves 1e-5 of the ray back towards the sensor
            outside = (end[:, 2] > top) | (end[:, 2] < self.origin_z) | (end[:, :2] < low_xy).any(axis=1)
            outside |= (end[:, :2] > high_xy).any(axis=1)
            t = np.where(outside, t - 1e-5 * np.sign(t), t)
        end = origin + ray * t[:, None]
        grid = self._grid(end)
        grid = grid[self._in_grid(grid)]
        max_cells = self.cell_distance(source.raytrace_max_range)
        min_cells = self.cell_distance(source.raytrace_min_range)
        start = np.broadcast_to(sensor, grid.shape)
        dist = np.linalg.norm(start - grid, axis=1)  # VoxelGrid::raytraceLine: grid units, z in voxels
        lines = np.floor(dist) >= min_cells
        grid, start, dist = grid[lines], start[lines], dist[lines]
        safe = np.where(dist > 0, dist, 1.0)
        scale = np.where(dist > 0, np.minimum(1.0, max_cells / safe), 1.0)
        begin = np.where((dist > 0)[:, None], start + (grid - start) / safe[:, None] * min_cells, start)
        delta = np.floor(grid).astype(np.int64) - np.floor(begin).astype(np.int64)
        abs_da = np.abs(delta).max(axis=1)
        length = np.minimum(np.floor(scale * abs_da).astype(np.int64), abs_da)
        _, visited = bresenham(np.floor(begin).astype(np.int64), delta, length)
        ok = self._in_grid(visited.astype(np.float64))
        visited = visited[ok]
        self.voxels[visited[:, 0], visited[:, 1], visited[:, 2]] = False
        cleared = ~self.voxels[visited[:, 0], visited[:, 1]].any(axis=1)
        self.marked[visited[cleared, 0], visited[cleared, 1]] = False
