"""The point cloud record that core.cloud builds and ros_msgs turns into ``sensor_msgs/PointCloud2`` (ROS-free).

A :class:`PointCloud` holds little-endian points in one of two ``setPointCloud2FieldsByString`` layouts
(core.point_fields), x, y, z in metres in the camera optical frame, NaN for invalid points:

* XYZ: ``x, y, z`` float32 at 0/4/8, 4 bytes of padding, ``point_step = 16``;
* XYZRGB: the same plus ``rgb`` at 16, a FLOAT32 field holding the bits of ``0x00RRGGBB`` (alpha byte 0, so the
  float is never NaN, even for red >= 128), 12 bytes of padding, ``point_step = 32``. Padding bytes are zero.

This module also settles which depths become points (:func:`range_bounds`, :func:`valid_depth_mask`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.point_fields import (
    XYZ_FIELDS,
    XYZ_POINT_STEP,
    XYZRGB_FIELDS,
    XYZRGB_POINT_STEP,
    PointField,
    dtype_from_fields,
)

XYZ_DTYPE = dtype_from_fields(XYZ_FIELDS, XYZ_POINT_STEP)
XYZRGB_DTYPE = dtype_from_fields(XYZRGB_FIELDS, XYZRGB_POINT_STEP)
NAN_BITS = 0x7FC00000  # float32 quiet NaN, as numpy, torch and std::numeric_limits<float>::quiet_NaN() write it
RGB_SLOT = 4  # the rgb field sits at byte 16 = float32 slot 4 of an XYZRGB point
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # smallest normal float32: the lowest depth that counts as > 0
_SLOTS_XYZ = XYZ_POINT_STEP // 4  # float32 slots per point
_SLOTS_XYZRGB = XYZRGB_POINT_STEP // 4


@dataclass(frozen=True, eq=False)  # eq on arrays is ambiguous: compare .tobytes() instead
class PointCloud:
    """A point cloud ready for ``sensor_msgs/PointCloud2`` (the header comes from the depth image, not from here).

    Attributes:
        points: (height * width,) structured array in image row order whose dtype is ``dtype_from_fields(fields,
            point_step)`` (exact offsets, itemsize ``point_step``); read-only; ``points.reshape(height, width)``
            for an organized cloud. x, y, z in metres, optical frame, NaN for invalid points.
        height: rows (1 for an unorganized cloud).
        width: points per row.
        fields: the PointField layout (XYZ_FIELDS or XYZRGB_FIELDS).
        point_step: bytes per point (16 or 32).
        is_dense: True only when no point is invalid (unorganized clouds); organized clouds are never dense.
        is_bigendian: always False (little-endian bytes).

    Invariant: the padding bytes between fields are zero (every builder writes field bytes into zeroed buffers),
    so the message encoder copies the points once, without clearing them.
    """

    points: npt.NDArray[np.void]
    height: int
    width: int
    fields: tuple[PointField, ...]
    point_step: int
    is_dense: bool
    is_bigendian: bool = False

    def __post_init__(self) -> None:
        if self.points.shape != (self.height * self.width,) or self.points.dtype.itemsize != self.point_step:
            msg = (
                f"points {self.points.shape} of itemsize {self.points.dtype.itemsize} do not match "
                f"{self.height}x{self.width} points of point_step {self.point_step}"
            )
            raise ShapeError(msg)
        points = np.ascontiguousarray(self.points).view()  # a view, so the caller's own array stays writeable
        points.flags.writeable = False
        object.__setattr__(self, "points", points)

    @property
    def row_step(self) -> int:
        """Bytes per row (``point_step * width``)."""
        return self.point_step * self.width

    @property
    def data(self) -> memoryview:
        """Read-only 1-D uint8 view of the ``row_step * height`` bytes, no copy (``msg.data.frombytes(cloud.data)``)."""
        return self.points.view(np.uint8).reshape(-1).data

    def tobytes(self) -> bytes:
        """The PointCloud2 ``data`` bytes (a copy)."""
        return self.points.tobytes()

    @property
    def has_rgb(self) -> bool:
        """True when the layout has an ``rgb`` field."""
        return any(f.name == "rgb" for f in self.fields)

    def xyz(self) -> npt.NDArray[np.float32]:
        """(N, 3) float32 x, y, z in metres (a copy; NaN rows for invalid points)."""
        return np.stack([self.points["x"], self.points["y"], self.points["z"]], axis=-1)

    def rgb(self) -> npt.NDArray[np.uint8]:
        """(N, 3) uint8 r, g, b unpacked from the ``rgb`` field; raises ShapeError if the cloud has none."""
        if not self.has_rgb:
            msg = "this cloud has no rgb field; build it with an rgb image"
            raise ShapeError(msg)
        return unpack_rgb(self.points["rgb"].view(np.uint32))


def range_bounds(min_range_m: float = 0.0, max_range_m: float = math.inf) -> tuple[float, float]:
    """The inclusive float32 bounds ``(lower, upper)`` a depth must lie in to become a point.

    ``lower`` is ``min_range_m`` rounded to float32 but at least the smallest normal float32 (1.2e-38 m), so 0 and
    negative depths are out; ``upper`` is ``max_range_m`` rounded to float32 but at most the largest finite float32,
    so +Inf is out. NaN compares False with both. Raises :class:`ConfigError` unless ``0 <= min < max``.
    """
    if not (0.0 <= min_range_m < max_range_m) or math.isnan(max_range_m):
        msg = f"range limits need 0 <= min_range ({min_range_m}) < max_range ({max_range_m}) metres"
        raise ConfigError(msg)
    lower = max(float(np.float32(min_range_m)), _FLOAT32_TINY)
    upper = float(np.float32(min(max_range_m, _FLOAT32_MAX)))
    return lower, upper


def valid_depth_mask(
    depth_m: npt.NDArray[np.floating], min_range_m: float = 0.0, max_range_m: float = math.inf
) -> npt.NDArray[np.bool_]:
    """True where the depth is finite, > 0 and inside ``[min_range_m, max_range_m]`` (see :func:`range_bounds`).

    Args:
        depth_m: (H, W) float32 metres along z.
        min_range_m, max_range_m: inclusive range limits in metres; ``0 <= min < max`` (max may be inf).

    Returns:
        (H, W) bool mask of the pixels that become points.
    """
    lower, upper = range_bounds(min_range_m, max_range_m)
    depth32 = np.asarray(depth_m, dtype=np.float32)
    valid = depth32 >= np.float32(lower)
    valid &= depth32 <= np.float32(upper)
    return valid


def unpack_rgb(rgb_packed: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint8]:
    """(...,) uint32 ``0x00RRGGBB`` → (..., 3) uint8 r, g, b."""
    packed = np.asarray(rgb_packed, dtype=np.uint32)
    return np.stack([(packed >> 16) & 0xFF, (packed >> 8) & 0xFF, packed & 0xFF], axis=-1).astype(np.uint8)


def unorganized_cloud(
    points_in_camera: npt.NDArray[np.floating], rgb_packed: npt.NDArray[np.uint32] | None = None
) -> PointCloud:
    """Dense (height 1) cloud from (N, 3) metres and optional (N,) ``0x00RRGGBB`` colours (no validity check)."""
    xyz = np.asarray(points_in_camera, dtype=np.float32)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        msg = f"points must be (N, 3), got {xyz.shape}"
        raise ShapeError(msg)
    lanes = _SLOTS_XYZ if rgb_packed is None else _SLOTS_XYZRGB
    packed = np.zeros((xyz.shape[0], lanes), dtype=np.float32)
    packed[:, :3] = xyz
    if rgb_packed is not None:
        if rgb_packed.shape != (xyz.shape[0],):
            msg = f"rgb_packed must be ({xyz.shape[0]},) to match the points, got {rgb_packed.shape}"
            raise ShapeError(msg)
        packed[:, RGB_SLOT] = np.asarray(rgb_packed, dtype=np.uint32).view(np.float32)
    return cloud_from_packed(packed, 1, xyz.shape[0], is_dense=True)


def cloud_from_packed(packed: npt.NDArray[np.float32], height: int, width: int, is_dense: bool) -> PointCloud:
    """Wrap an (height * width, 4|8) float32 array already in the XYZ | XYZRGB byte layout (no copy if contiguous).

    This is how a tensor from :func:`organized_cloud_torch` becomes a cloud: ``cloud_from_packed(t.cpu().numpy(),
    H, W, is_dense=False)``.
    """
    lanes = packed.shape[1] if packed.ndim == 2 else -1
    if packed.dtype != np.float32 or lanes not in (_SLOTS_XYZ, _SLOTS_XYZRGB) or packed.shape[0] != height * width:
        msg = f"packed points must be ({height * width}, 4 or 8) float32, got {packed.shape} {packed.dtype}"
        raise ShapeError(msg)
    if lanes == _SLOTS_XYZ:
        points = np.ascontiguousarray(packed).reshape(-1).view(XYZ_DTYPE)
        return PointCloud(points, height, width, XYZ_FIELDS, XYZ_POINT_STEP, is_dense)
    points = np.ascontiguousarray(packed).reshape(-1).view(XYZRGB_DTYPE)
    return PointCloud(points, height, width, XYZRGB_FIELDS, XYZRGB_POINT_STEP, is_dense)
