"""Free-space clearing points for costmaps: where the depth says "nothing within range", say where the ray is free.

A costmap clears the cells along the ray from the sensor to every point it receives. Pixels beyond
``output.max_range`` (sky, open space) are +Inf in the depth image (REP 117) and carry no point in ``/depth/points``,
so nothing clears there: an obstacle that moved away stays in the costmap. Floor points clear nothing either once
the marking source's ``min_obstacle_height`` (which keeps the floor from being marked) has dropped them.
:func:`clearing_cloud` gives every ray: a point at the surface for a valid depth, one ``distance_m`` along the ray
for a beyond-range pixel, for an observation source with ``marking: false, clearing: true`` and a height band that
keeps floor points.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.cloud_record import PointCloud, unorganized_cloud
from mono_depth_ros.core.errors import ConfigError, ShapeError


def clearing_cloud(
    depth_m: npt.NDArray[np.floating], intrinsics: PinholeIntrinsics, distance_m: float, stride: int = 1
) -> PointCloud:
    """One point per ray of the depth image, camera optical frame: at the surface for a finite depth, ``distance_m``
    along the ray for a beyond-range pixel (+Inf).

    Args:
        depth_m: (H, W) published depth in metres: +Inf beyond ``output.max_range`` (REP 117); NaN (invalid,
            flying pixel) and -Inf (too close) make no point.
        intrinsics: pinhole intrinsics of ``depth_m``.
        distance_m: Euclidean distance of each point from the optical centre (> 0); set it at or beyond the
            costmap's ``raytrace_max_range`` so that the whole ray clears.
        stride: keep pixels with ``u % stride == 0`` and ``v % stride == 0`` (``cloud.clearing_stride``: finer than
            the marking cloud, as a voxel layer clears only the voxels a ray's line crosses).

    Returns:
        Unorganized XYZ :class:`PointCloud` (height 1, dense), points in image row order, metres.

    Raises:
        ConfigError: ``distance_m`` not > 0 or ``stride`` < 1. ShapeError: ``depth_m`` not (H, W) of the intrinsics.
    """
    if not distance_m > 0 or not np.isfinite(distance_m):
        msg = f"clearing distance must be a positive number of metres, got {distance_m}; set cloud.clearing_range"
        raise ConfigError(msg)
    if stride < 1:
        msg = f"clearing stride must be >= 1, got {stride}"
        raise ConfigError(msg)
    if depth_m.shape != (intrinsics.height, intrinsics.width):
        msg = f"depth {depth_m.shape} does not match the intrinsics' {intrinsics.height}x{intrinsics.width}"
        raise ShapeError(msg)
    sub = depth_m[::stride, ::stride]
    rows, cols = np.nonzero(np.isfinite(sub) | np.isposinf(sub))
    u = (cols * stride).astype(np.float32)
    v = (rows * stride).astype(np.float32)
    rays = np.stack(
        [(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy, np.ones_like(u)], axis=-1
    )
    depth = sub[rows, cols].astype(np.float32)
    beyond = np.isposinf(depth)
    depth[beyond] = np.float32(distance_m) / np.linalg.norm(rays[beyond], axis=-1)  # z of a point distance_m away
    return unorganized_cloud(rays * depth[:, None], None)
