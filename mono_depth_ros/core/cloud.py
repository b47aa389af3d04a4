"""Depth (+ colour) → point clouds laid out as depth_image_proc and rviz2 expect (ROS-free).

Geometry is depth_image_proc's ``convertDepth``: ``X = (u - cx) Z / fx``, ``Y = (v - cy) Z / fy``, ``Z = depth``,
in the camera optical frame (x right, y down, z forward), metres, with the calibrated principal point (from P for a
rectified image). The result is a :class:`~mono_depth_ros.core.cloud_record.PointCloud` in the XYZ (16-byte) or
XYZRGB (32-byte, rgb ``0x00RRGGBB`` at offset 16) layout; see core.cloud_record, re-exported here.

Invalid depth (NaN, ±Inf, <= 0) and depth outside ``[min_range_m, max_range_m]`` (compared in float32, both ends
inclusive) give NaN ``x, y, z`` in an organized cloud and are dropped from an unorganized one. Depth *images* mark
out-of-range pixels with ±Inf per REP 117 (core.depth_codec.apply_range_limits); a cloud has no such marks, so
those points are NaN here, like depth_image_proc's.

Clouds are little-endian. Colour images are uint8 RGB (or RGBA, or mono) in the core's RGB order, not OpenCV BGR.
OpenCV, when installed, speeds up the organized path (transpose, colour packing); without it numpy does the same.
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.cloud_record import (
    NAN_BITS,
    RGB_SLOT,
    XYZ_DTYPE,
    XYZRGB_DTYPE,
    PointCloud,
    cloud_from_packed,
    range_bounds,
    unorganized_cloud,
    unpack_rgb,
    valid_depth_mask,
)
from mono_depth_ros.core.deferred_signals import signals_deferred
from mono_depth_ros.core.errors import ConfigError, EncodingError, ShapeError
from mono_depth_ros.core.geometry import pixel_rays

__all__ = [
    "NAN_BITS",
    "XYZRGB_DTYPE",
    "XYZ_DTYPE",
    "CloudBuilder",
    "PointCloud",
    "cloud_from_packed",
    "organized_cloud",
    "pack_rgb",
    "range_bounds",
    "strided_cloud",
    "unorganized_cloud",
    "unpack_rgb",
    "valid_depth_mask",
    "voxel_cloud",
]

_BAND_PIXELS = 65536  # pixels per band of the organized path (scratch 1.3 MB); the best of 8k..128k measured
_OUTPUT_POOL = 3  # output buffers a CloudBuilder keeps for recycling (the caller may hold a couple of clouds)


def _load_cv2() -> Any:
    try:
        with signals_deferred():  # OpenCV's init clears a Ctrl-C's KeyboardInterrupt: the node started anyway
            import cv2
    except ImportError:  # pragma: no cover - depends on the install
        return None
    return cv2


_CV2: Any = _load_cv2()  # None = numpy-only path (tests switch it off with monkeypatch)


def pack_rgb(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """(H, W, 3|4) RGB(A) or (H, W) mono uint8 → (H, W) uint32 ``0x00RRGGBB`` (alpha byte 0)."""
    _check_rgb(rgb, rgb.shape[:2])
    out = np.empty(rgb.shape[:2], dtype=np.uint32)
    _pack_rgb_into(np.ascontiguousarray(rgb), out)
    return out


class CloudBuilder:
    """Organized clouds at camera rate, with scratch and output buffers kept between frames.

    The image is processed in bands of rows small enough to stay in cache: x, y, z (and rgb) are computed into
    contiguous scratch rows (x, y, z, a zero padding row, rgb), then transposes interleave the band into the
    output (slots 0-3, then slot 4; the padding slots 5-7 are zeroed once, when a buffer is made).

    Output buffers are recycled, but only once nothing refers to them any more (no cloud, view, memoryview or
    array made from them is alive: CPython reference counts tell), so a cloud the caller keeps is never
    overwritten; recycling saves the page faults of a fresh 15 MB buffer per frame. Not thread-safe: use one
    builder per thread.
    """

    def __init__(self, band_pixels: int = _BAND_PIXELS) -> None:
        """Scratch for bands of about ``band_pixels`` pixels (whole rows, at least one)."""
        self._band_pixels = band_pixels
        self._scratch_pixels = 0
        self._lanes = np.empty((0, 0), dtype=np.float32)
        self._mask = np.empty(0, dtype=np.uint8)
        self._outputs: list[npt.NDArray[np.float32]] = []
        probe = [np.empty(1, dtype=np.float32)]
        self._unreferenced = _refcount(probe, 0)  # the count of a buffer only this pool holds

    def organized(
        self,
        depth_m: npt.NDArray[np.floating],
        intrinsics: PinholeIntrinsics,
        rgb: npt.NDArray[np.uint8] | None = None,
        min_range_m: float = 0.0,
        max_range_m: float = math.inf,
    ) -> PointCloud:
        """Organized cloud (height × width of the depth image, ``is_dense=False``), see :func:`organized_cloud`."""
        depth32 = _check_inputs(depth_m, intrinsics, rgb)
        lower, upper = range_bounds(min_range_m, max_range_m)
        colour = None if rgb is None else np.ascontiguousarray(rgb)
        height, width = depth32.shape
        lanes = 4 if rgb is None else 8  # float32 slots per point
        band_rows = max(1, self._band_pixels // width)
        scratch = self._scratch(band_rows * width)  # rows x, y, z, 0, rgb
        ray_x, ray_y = _rays(intrinsics)
        out = self._output(height * width, lanes)
        for row0 in range(0, height, band_rows):
            row1 = min(row0 + band_rows, height)
            rows = scratch[:, : (row1 - row0) * width]
            z = rows[2].reshape(row1 - row0, width)
            self._nan_invalid(depth32[row0:row1], lower, upper, z)
            np.multiply(z, ray_x, out=rows[0].reshape(z.shape))
            np.multiply(z, ray_y[row0:row1], out=rows[1].reshape(z.shape))
            band = out[row0 * width : row1 * width]
            _transpose_into(rows[:4], band[:, :4])  # x, y, z, padding
            if colour is not None:
                _pack_rgb_into(colour[row0:row1], rows[4].view(np.uint32).reshape(z.shape))
                _transpose_into(rows[4:], band[:, RGB_SLOT : RGB_SLOT + 1])  # slots 5-7 stay zero (see _output)
        return cloud_from_packed(out, height, width, is_dense=False)

    def _nan_invalid(
        self, depth32: npt.NDArray[np.float32], lower: float, upper: float, z: npt.NDArray[np.float32]
    ) -> None:
        """``z = depth`` where ``lower <= depth <= upper``, else NaN (0x7FC00000); all (h, W) float32."""
        if _CV2 is not None:
            mask = _CV2.inRange(depth32, lower, upper, dst=self._mask[: depth32.size].reshape(depth32.shape))
            z.fill(np.nan)  # then depth where the mask is 255 (inside), NaN where it is 0 (outside or NaN)
            _written_to(_CV2.copyTo(depth32, mask, dst=z), z)
            return
        # numpy: select with bit operations (np.where and boolean indexing branch per pixel, ~10x slower here)
        keep = (depth32 >= np.float32(lower)) & (depth32 <= np.float32(upper))
        bits = np.negative(keep.astype(np.uint32))  # 0xFFFFFFFF where kept, 0 elsewhere
        z_bits = z.view(np.uint32)
        np.bitwise_and(depth32.view(np.uint32), bits, out=z_bits)
        np.invert(bits, out=bits)
        np.bitwise_and(bits, np.uint32(NAN_BITS), out=bits)
        np.bitwise_or(z_bits, bits, out=z_bits)

    def _output(self, points: int, lanes: int) -> npt.NDArray[np.float32]:
        """A (points, lanes) float32 buffer nobody else references (recycled), else a new zeroed one (pooled).

        Only slots 0-4 are ever written, so the padding slots 5-7 of an XYZRGB buffer stay zero.
        """
        for i in range(len(self._outputs)):
            if self._outputs[i].shape == (points, lanes) and _refcount(self._outputs, i) <= self._unreferenced:
                return self._outputs[i]
        out = np.zeros((points, lanes), dtype=np.float32)
        self._outputs = [*self._outputs[1 - _OUTPUT_POOL :], out]  # keep the newest _OUTPUT_POOL
        return out

    def _scratch(self, pixels: int) -> npt.NDArray[np.float32]:
        if pixels != self._scratch_pixels:  # row 3 (padding) stays zero: only rows x, y, z and rgb are written
            self._lanes = np.zeros((5, pixels), dtype=np.float32)
            self._mask = np.empty(pixels, dtype=np.uint8)
            self._scratch_pixels = pixels
        return self._lanes


def organized_cloud(
    depth_m: npt.NDArray[np.floating],
    intrinsics: PinholeIntrinsics,
    rgb: npt.NDArray[np.uint8] | None = None,
    min_range_m: float = 0.0,
    max_range_m: float = math.inf,
) -> PointCloud:
    """Organized cloud as depth_image_proc ``point_cloud_xyz`` / ``point_cloud_xyzrgb`` publish it.

    Args:
        depth_m: (H, W) float metres along z (float32 preferred); NaN/±Inf/<=0 invalid.
        intrinsics: pinhole intrinsics of the depth image (P for rectified images), W × H.
        rgb: optional (H, W, 3) RGB, (H, W, 4) RGBA or (H, W) mono uint8, registered to the depth image.
        min_range_m, max_range_m: inclusive range limits in metres; depths outside become NaN points.

    Returns:
        :class:`PointCloud` with height H, width W, ``is_dense=False``, XYZ (16-byte) or XYZRGB (32-byte) layout;
        x, y, z NaN where the depth is invalid or out of range (the colour is kept there).

    For a stream of frames, :class:`CloudBuilder` reuses its scratch and output buffers and is faster.
    """
    return CloudBuilder().organized(depth_m, intrinsics, rgb, min_range_m, max_range_m)


def strided_cloud(
    depth_m: npt.NDArray[np.floating],
    intrinsics: PinholeIntrinsics,
    stride: int,
    rgb: npt.NDArray[np.uint8] | None = None,
    min_range_m: float = 0.0,
    max_range_m: float = math.inf,
) -> PointCloud:
    """Unorganized cloud of pixels ``(u, v)`` with ``u % stride == 0`` and ``v % stride == 0``, invalid dropped.

    Args are as :func:`organized_cloud`; ``stride`` >= 1 (1 keeps every valid pixel).

    Returns:
        :class:`PointCloud` with height 1, ``is_dense=True``, points in image row order.
    """
    if isinstance(stride, bool) or not isinstance(stride, int | np.integer) or stride < 1:
        msg = f"cloud stride must be an integer >= 1, got {stride!r}; set cloud.stride to 1 (all pixels) or more"
        raise ConfigError(msg)
    depth32 = _check_inputs(depth_m, intrinsics, rgb)
    ray_x, ray_y = _rays(intrinsics)
    sub = depth32[::stride, ::stride]
    v_idx, u_idx = np.nonzero(valid_depth_mask(sub, min_range_m, max_range_m))
    z = sub[v_idx, u_idx]
    xyz = np.stack([z * ray_x[0, ::stride][u_idx], z * ray_y[::stride, 0][v_idx], z], axis=-1)
    rgb_u32 = None if rgb is None else pack_rgb(rgb[::stride, ::stride])[v_idx, u_idx]
    return unorganized_cloud(xyz, rgb_u32)


def voxel_cloud(
    depth_m: npt.NDArray[np.floating],
    intrinsics: PinholeIntrinsics,
    voxel_size_m: float,
    rgb: npt.NDArray[np.uint8] | None = None,
    min_range_m: float = 0.0,
    max_range_m: float = math.inf,
) -> PointCloud:
    """Unorganized cloud with one point per occupied voxel: the centroid of the valid points inside it.

    Voxels are axis-aligned cubes of ``voxel_size_m`` in the camera optical frame with corners at integer
    multiples of the size (voxel index ``floor(p / size)``). The colour is the per-channel **mean** of the
    voxel's points, rounded to nearest (as PCL's VoxelGrid). Points come out sorted by voxel index (x, y, z).

    Args are as :func:`organized_cloud`; ``voxel_size_m`` > 0, finite.

    Returns:
        :class:`PointCloud` with height 1, ``is_dense=True``.
    """
    if not (math.isfinite(voxel_size_m) and voxel_size_m > 0):
        msg = f"voxel size {voxel_size_m!r} m must be finite and > 0; try 0.05-0.2 m"
        raise ConfigError(msg)
    depth32 = _check_inputs(depth_m, intrinsics, rgb)
    ray_x, ray_y = _rays(intrinsics)
    valid = valid_depth_mask(depth32, min_range_m, max_range_m)
    z = depth32[valid]
    x = z * np.broadcast_to(ray_x, depth32.shape)[valid]  # the organized cloud's float32 points ...
    y = z * np.broadcast_to(ray_y, depth32.shape)[valid]
    coords = (x.astype(np.float64), y.astype(np.float64), z.astype(np.float64))  # ... in float64 for keys and sums
    if z.size == 0:
        return unorganized_cloud(np.zeros((0, 3), np.float32), None if rgb is None else np.zeros(0, np.uint32))
    flat = np.zeros(z.size, dtype=np.int64)  # voxel index (kx, ky, kz) as one integer, kx most significant
    extents = []
    for coord in coords:
        key = np.floor(coord / voxel_size_m).astype(np.int64)
        key -= key.min()
        extents.append(int(key.max()) + 1)
        if math.prod(extents) >= 2**62:
            msg = f"voxel size {voxel_size_m} m is too small for a cloud spanning {extents} voxels; use larger"
            raise ConfigError(msg)
        flat *= extents[-1]
        flat += key
    order = np.argsort(flat, kind="stable")  # stable sorts are fastest here: image order is partly voxel order
    sorted_keys = flat[order]
    first = np.ones(z.size, dtype=bool)
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, z.size))
    centroid = np.stack([np.add.reduceat(coord[order], starts) / counts for coord in coords], axis=-1)
    rgb_u32 = None
    if rgb is not None:
        packed = pack_rgb(rgb)[valid][order]
        rgb_u32 = np.zeros(counts.shape, dtype=np.uint32)
        for shift in (16, 8, 0):
            total = np.add.reduceat((packed >> shift) & 0xFF, starts, dtype=np.int64)
            rgb_u32 |= ((total * 2 + counts) // (counts * 2)).astype(np.uint32) << shift  # mean, half rounds up
    return unorganized_cloud(centroid.astype(np.float32), rgb_u32)


@functools.lru_cache(maxsize=16)
def _rays(intrinsics: PinholeIntrinsics) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Cached read-only ``(u - cx) / fx`` as (1, W) and ``(v - cy) / fy`` as (H, 1), float32 (core.geometry)."""
    ray_x, ray_y = pixel_rays(intrinsics)
    ray_x = ray_x.reshape(1, -1)
    ray_y = ray_y.reshape(-1, 1)
    ray_x.flags.writeable = False
    ray_y.flags.writeable = False
    return ray_x, ray_y


def _refcount(buffers: list[npt.NDArray[np.float32]], index: int) -> int:
    """Reference count of ``buffers[index]``, always measured through this one call shape (see CloudBuilder)."""
    return sys.getrefcount(buffers[index])


def _transpose_into(rows: npt.NDArray[np.float32], target: npt.NDArray[np.float32]) -> None:
    """``target[i, k] = rows[k, i]``: (k, n) scratch rows into an (n, k) slice of the interleaved output."""
    if _CV2 is None:
        np.copyto(target, rows.T)
        return
    _written_to(_CV2.transpose(rows, dst=target), target)


def _written_to(result: npt.NDArray[Any], target: npt.NDArray[Any]) -> None:
    """Make sure an OpenCV ``dst=target`` call landed in ``target`` (a binding may return a copy for a view)."""
    if result is not target:
        np.copyto(target, result.reshape(target.shape))


def _pack_rgb_into(rgb: npt.NDArray[np.uint8], out: npt.NDArray[np.uint32]) -> None:
    """Write ``0x00RRGGBB`` of a contiguous (H, W[, 3|4]) uint8 image into a contiguous (H, W) uint32 array."""
    channels = 1 if rgb.ndim == 2 else rgb.shape[2]
    if _CV2 is not None:
        codes = {1: _CV2.COLOR_GRAY2BGRA, 3: _CV2.COLOR_RGB2BGRA, 4: _CV2.COLOR_RGBA2BGRA}
        bgra = out.view(np.uint8).reshape(*out.shape, 4)  # little-endian bytes B, G, R, A = 0x AARRGGBB
        _written_to(_CV2.cvtColor(rgb if channels != 1 else rgb.reshape(out.shape), codes[channels], dst=bgra), bgra)
        np.bitwise_and(out, np.uint32(0x00FFFFFF), out=out)  # alpha byte 0
        return
    if channels == 1:
        gray = rgb.reshape(out.shape)
        red, green, blue = gray, gray, gray
    else:
        red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    np.left_shift(red, 16, out=out, dtype=np.uint32)
    out |= np.left_shift(green, 8, dtype=np.uint32)
    out |= blue


def _check_rgb(rgb: npt.NDArray[np.uint8], shape: tuple[int, ...]) -> None:
    if rgb.dtype != np.uint8:
        msg = f"colour image must be uint8 (rgb8/rgba8/mono8), got {rgb.dtype}; convert it in the ROS layer"
        raise EncodingError(msg)
    if rgb.shape[:2] != shape or not (rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] in (1, 3, 4))):
        msg = f"colour image must be (H, W), (H, W, 3) or (H, W, 4) with H, W = {shape}, got {rgb.shape}"
        raise ShapeError(msg)


def _check_inputs(
    depth_m: npt.NDArray[np.floating], intrinsics: PinholeIntrinsics, rgb: npt.NDArray[np.uint8] | None
) -> npt.NDArray[np.float32]:
    """Validate shapes; return the depth as a C-contiguous float32 (H, W) array (no copy when it already is)."""
    if depth_m.ndim != 2:
        msg = f"depth must be (H, W), got shape {depth_m.shape}"
        raise ShapeError(msg)
    intrinsics.check_image_size(depth_m.shape[1], depth_m.shape[0], what="depth image")
    if rgb is not None:
        _check_rgb(rgb, depth_m.shape)
    return np.ascontiguousarray(depth_m, dtype=np.float32)
