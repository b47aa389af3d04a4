"""Sparser and displaced LiDAR rigs built from the real KITTI HDL-64E scans, and the surface they scanned as truth.

The KITTI ``.bin`` scans store each laser's sweep in turn, each starting at azimuth 0 and turning counter-clockwise:
the ring of a point is the count of azimuth steps from negative back to non-negative before it (64 on every frame;
ring 0 is the highest beam). Keeping every 2nd / 4th ring gives a 32- / 16-beam LiDAR with the real beam pattern.

:func:`surface_depth` renders the surface the full scan describes (:func:`scanned_surface`: neighbouring points of
adjacent rings joined into quads where their ranges differ by < 25 %, each quad sampled on a grid) into any camera:
the truth for a camera that does not sit where the LiDAR is (a LiDAR 1-2 m from the camera sees surfaces the camera
cannot see, and the reverse).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.geometry import RigidTransform

AZIMUTH_BIN_DEG = 0.18  # about the HDL-64E's horizontal step at 10 Hz: one point per ring and bin


def rings_by_scan_order(points_in_velo: npt.NDArray[np.floating]) -> npt.NDArray[np.int64]:
    """(N,) ring index (0 = first stored laser) of a KITTI scan's points, from their order in the file."""
    azimuth = np.arctan2(points_in_velo[:, 1], points_in_velo[:, 0])
    starts = np.flatnonzero((azimuth[:-1] < 0) & (azimuth[1:] >= 0)) + 1
    ring = np.zeros(points_in_velo.shape[0], dtype=np.int64)
    ring[starts] = 1
    return np.cumsum(ring)


def scanned_surface(
    points_in_velo: npt.NDArray[np.floating], samples: int = 4, max_range_ratio: float = 1.25
) -> npt.NDArray[np.float32]:
    """(M, 3) float32 points (metres, Velodyne frame) densely sampling the surface a full KITTI scan describes:
    neighbouring points of adjacent rings joined into quads where their ranges differ by < 25 %, each quad sampled
    on a ``samples`` x ``samples`` grid (only quads in front of the LiDAR, x > 0)."""
    points = np.asarray(points_in_velo, dtype=np.float32)[:, :3]
    ring = rings_by_scan_order(points)
    azimuth = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    column = np.floor((azimuth + 180.0) / AZIMUTH_BIN_DEG).astype(np.int64)
    grid = np.full((int(ring.max()) + 1, int(360.0 / AZIMUTH_BIN_DEG) + 2, 3), np.nan, dtype=np.float32)
    grid[ring, column] = points
    corners = (grid[:-1, :-1], grid[1:, :-1], grid[:-1, 1:], grid[1:, 1:])
    ranges = np.stack([np.linalg.norm(c, axis=-1) for c in corners])
    with np.errstate(invalid="ignore"):
        surface = np.isfinite(ranges).all(axis=0) & (grid[:-1, :-1, 0] > 0)
        surface[surface] &= ranges[:, surface].max(axis=0) < max_range_ratio * ranges[:, surface].min(axis=0)
    a, b, c, d = (corner[surface] for corner in corners)
    steps = (np.arange(samples, dtype=np.float32) + 0.5) / samples
    return np.concatenate(
        [(1 - s) * (1 - t) * a + s * (1 - t) * b + (1 - s) * t * c + s * t * d for s in steps for t in steps]
    )


def surface_depth(
    surface_in_velo: npt.NDArray[np.floating], cam_from_velo: RigidTransform, intrinsics: PinholeIntrinsics
) -> npt.NDArray[np.float32]:
    """(H, W) float32 depth (metres, optical axis) of the :func:`scanned_surface` points seen by a camera at
    ``cam_from_velo`` (nearest per pixel); NaN where the scan does not describe a surface (sky, gaps, depth edges)."""
    camera = cam_from_velo.apply(np.asarray(surface_in_velo, dtype=np.float64))
    camera = camera[camera[:, 2] > 0.5]
    u = np.rint(camera[:, 0] / camera[:, 2] * intrinsics.fx + intrinsics.cx).astype(np.int64)
    v = np.rint(camera[:, 1] / camera[:, 2] * intrinsics.fy + intrinsics.cy).astype(np.int64)
    inside = (u >= 0) & (u < intrinsics.width) & (v >= 0) & (v < intrinsics.height)
    depth = np.full(intrinsics.height * intrinsics.width, np.inf, dtype=np.float32)
    np.minimum.at(depth, v[inside] * intrinsics.width + u[inside], camera[inside, 2].astype(np.float32))
    depth[np.isinf(depth)] = np.nan
    return depth.reshape(intrinsics.height, intrinsics.width)
