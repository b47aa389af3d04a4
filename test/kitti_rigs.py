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

from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
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


def raw_pixels(points_in_camera: npt.NDArray[np.floating], camera: CameraModel) -> npt.NDArray[np.float64]:
    """(N, 2) float pixel coordinates (u, v) in the published raw image of ``camera`` (K and D with its binning and
    roi, as image_geometry reads them) of points in its optical frame (metres, z > 0; R = identity: a monocular raw
    camera): OpenCV's forward model, ``projectPoints`` or ``fisheye.projectPoints`` for ``equidistant``."""
    import cv2

    points = np.ascontiguousarray(np.asarray(points_in_camera, dtype=np.float64).reshape(-1, 1, 3))
    k = camera.raw_intrinsics().matrix
    d = np.asarray(camera.d, dtype=np.float64)
    zero = np.zeros(3)
    if camera.distortion_model == "equidistant":
        pixels, _ = cv2.fisheye.projectPoints(points, zero, zero, k, d[:4])
    else:
        pixels, _ = cv2.projectPoints(points, zero, zero, k, d)
    return np.asarray(pixels, dtype=np.float64).reshape(-1, 2)


def raw_scan_depth(points_in_camera: npt.NDArray[np.floating], camera: CameraModel) -> npt.NDArray[np.float32]:
    """(H, W) float32 depth (metres, z) of a LiDAR scan (points in the camera's optical frame) as the raw, distorted
    ``camera`` sees it: each point at its :func:`raw_pixels` rounded to the nearest raw pixel, the nearest point per
    pixel; NaN where no point lands. An external prediction whose every value is one real point's z."""
    raw = camera.raw_intrinsics()
    points = np.asarray(points_in_camera, dtype=np.float64)
    points = points[points[:, 2] > 0.5]
    # a wide lens's polynomial folds rays past its image circle back in: only rays within the raw image's view
    limit = 1.2 * max(raw.width / raw.fx, raw.height / raw.fy)
    points = points[np.hypot(points[:, 0], points[:, 1]) < limit * points[:, 2]]
    uv = np.rint(raw_pixels(points, camera)).astype(np.int64)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < raw.width) & (uv[:, 1] >= 0) & (uv[:, 1] < raw.height)
    depth = np.full(raw.height * raw.width, np.inf, dtype=np.float32)
    np.minimum.at(depth, uv[inside, 1] * raw.width + uv[inside, 0], points[inside, 2].astype(np.float32))
    depth[np.isinf(depth)] = np.nan
    return depth.reshape(raw.height, raw.width)


def undistort_points_iterated(
    pixels: npt.NDArray[Any],
    k: npt.NDArray[Any],
    d: npt.NDArray[Any],
    r: npt.NDArray[Any],
    p: npt.NDArray[Any],
    criteria: tuple[int, int, float],
) -> npt.NDArray[Any]:
    """OpenCV's ``undistortPoints`` of the plumb_bob / rational_polynomial ``pixels`` (N, 1, 2) with ``R`` and ``P``,
    iterated until ``criteria``: ``undistortPointsIter`` on OpenCV 4 (ROS's python3-opencv, 4.6 on Humble and Jazzy),
    whose ``undistortPoints`` takes no ``criteria``; ``undistortPoints(..., criteria=)`` on OpenCV 5, which has no
    ``undistortPointsIter``."""
    import cv2

    if hasattr(cv2, "undistortPointsIter"):
        return cv2.undistortPointsIter(pixels, k, d, r, p, criteria)  # type: ignore[no-any-return]  # (not in OpenCV 5's stubs)
    return cv2.undistortPoints(pixels, k, d, R=r, P=p, criteria=criteria)


def raw_image(rectified: npt.NDArray[Any], intrinsics: PinholeIntrinsics, camera: CameraModel) -> npt.NDArray[Any]:
    """A rectified image of ``intrinsics`` (the KITTI RGB) as the raw ``camera`` at the same place sees it: every
    raw pixel's ray (K + D undone: OpenCV's fisheye inverse, or the plumb_bob / rational_polynomial model inverted by
    fixed-point iteration to convergence) looked up in it, bilinear, border replicated."""
    import cv2

    raw = camera.raw_intrinsics()
    u, v = np.meshgrid(np.arange(raw.width, dtype=np.float64), np.arange(raw.height, dtype=np.float64))
    d = np.asarray(camera.d, dtype=np.float64)
    if camera.distortion_model == "equidistant":
        pixels = np.stack([u, v], axis=-1).reshape(-1, 1, 2)
        rays = cv2.fisheye.undistortPoints(pixels, raw.matrix, d[:4]).reshape(raw.height, raw.width, 2)
        x, y = rays[..., 0], rays[..., 1]
    else:  # (OpenCV 4.6's undistortPoints takes no criteria, 5.0 has no undistortPointsIter)
        k1, k2, p1, p2, k3, k4, k5, k6 = np.concatenate([d, np.zeros(8)])[:8]
        x_d, y_d = (u - raw.cx) / raw.fx, (v - raw.cy) / raw.fy
        x, y = x_d.copy(), y_d.copy()
        for _ in range(200):
            r2 = x * x + y * y
            radial = (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1.0 + r2 * (k4 + r2 * (k5 + r2 * k6)))
            x, y = (
                (x_d - 2.0 * p1 * x * y - p2 * (r2 + 2.0 * x * x)) / radial,
                (y_d - p1 * (r2 + 2.0 * y * y) - 2.0 * p2 * x * y) / radial,
            )
    map_u = (intrinsics.fx * x + intrinsics.cx).astype(np.float32)
    map_v = (intrinsics.fy * y + intrinsics.cy).astype(np.float32)
    return np.ascontiguousarray(cv2.remap(rectified, map_u, map_v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
