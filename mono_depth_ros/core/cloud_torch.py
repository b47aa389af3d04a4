"""Organized XYZ / XYZRGB clouds with torch, on the device the depth already lives on (GPU inference path).

The result is an (H * W, 4 | 8) float32 tensor whose bytes are exactly those core.cloud writes for the same inputs
(same rays, same float32 products, same NaN bits, rgb as ``0x00RRGGBB`` bits, zero padding), so
``core.cloud.cloud_from_packed(t.cpu().numpy(), H, W, is_dense=False)`` wraps it for PointCloud2 without a copy.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mono_depth_ros.core.cloud_record import NAN_BITS, range_bounds
from mono_depth_ros.core.errors import EncodingError, ShapeError
from mono_depth_ros.core.point_fields import XYZ_POINT_STEP, XYZRGB_POINT_STEP

if TYPE_CHECKING:
    import torch


def organized_cloud_torch(
    depth_m: torch.Tensor,
    k_matrix: torch.Tensor,
    rgb: torch.Tensor | None = None,
    min_range_m: float = 0.0,
    max_range_m: float = math.inf,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Organized point cloud in the PointCloud2 byte layout, as a float32 tensor.

    Args:
        depth_m: (H, W) float metres along z, any device; NaN/±Inf/<=0 invalid.
        k_matrix: (3, 3) camera matrix in pixels (fx, fy, cx, cy from P for rectified images); pass float64 to get
            the same bits as the numpy path, which computes rays in float64.
        rgb: optional (H, W, 3) uint8 RGB on the same device.
        min_range_m, max_range_m: inclusive range limits in metres (compared in float32).
        out: optional (H * W, 8 | 4) float32 tensor on the depth's device to write the points into (e.g. a view of
            a larger buffer that goes to the host in one copy); it is returned.

    Returns:
        (H * W, 8) float32 ``[x, y, z, 0, rgb_bits, 0, 0, 0]`` rows (XYZRGB, 32-byte points) or (H * W, 4)
        ``[x, y, z, 0]`` without rgb (XYZ, 16-byte points), in image row order; x, y, z are NaN (0x7FC00000)
        where the depth is invalid or out of range. Camera optical frame, metres.
    """
    import torch

    if depth_m.ndim != 2 or not depth_m.is_floating_point():
        msg = f"depth must be a floating (H, W) tensor, got {tuple(depth_m.shape)} {depth_m.dtype}"
        raise ShapeError(msg)
    if tuple(k_matrix.shape) != (3, 3):
        msg = f"k_matrix must be (3, 3), got {tuple(k_matrix.shape)}"
        raise ShapeError(msg)
    lower, upper = range_bounds(min_range_m, max_range_m)  # float32 values, as the numpy path compares
    height, width = depth_m.shape
    device = depth_m.device
    k64 = k_matrix.to(device=device, dtype=torch.float64)
    ray_x = ((torch.arange(width, device=device, dtype=torch.float64) - k64[0, 2]) / k64[0, 0]).float()
    ray_y = ((torch.arange(height, device=device, dtype=torch.float64) - k64[1, 2]) / k64[1, 1]).float()

    depth32 = depth_m.float()
    valid = (depth32 >= lower) & (depth32 <= upper)  # NaN compares False
    # a fill on the device (torch.tensor(value, device=cuda) would copy from pageable memory and wait for the GPU)
    nan = torch.full((), NAN_BITS, dtype=torch.int32, device=device).view(torch.float32)
    z = torch.where(valid, depth32, nan)

    lanes = (XYZ_POINT_STEP if rgb is None else XYZRGB_POINT_STEP) // 4
    if out is None:
        out = torch.empty(height * width, lanes, dtype=torch.float32, device=device)
    elif tuple(out.shape) != (height * width, lanes) or out.dtype != torch.float32 or not _fits(out, device):
        msg = f"out must be a contiguous ({height * width}, {lanes}) float32 tensor on {device}, got {out.shape}"
        raise ShapeError(msg)
    points = out.view(height, width, lanes)
    points[..., 3] = 0.0  # the padding lanes (written, not the whole buffer cleared first: one pass less)
    points[..., 5:] = 0.0
    # NaN written by where, not propagated through a product: GPUs return their own NaN bits from arithmetic
    points[..., 0] = torch.where(valid, depth32 * ray_x[None, :], nan)
    points[..., 1] = torch.where(valid, depth32 * ray_y[:, None], nan)
    points[..., 2] = z
    if rgb is not None:
        if rgb.dtype != torch.uint8:
            msg = f"colour image must be uint8 RGB, got {rgb.dtype}"
            raise EncodingError(msg)
        if tuple(rgb.shape) != (height, width, 3):
            msg = f"colour image must be ({height}, {width}, 3) to match the depth, got {tuple(rgb.shape)}"
            raise ShapeError(msg)
        channels = rgb.to(device=device, dtype=torch.int32)
        packed = (channels[..., 0] << 16) | (channels[..., 1] << 8) | channels[..., 2]
        points[..., 4] = packed.view(torch.float32)
    return out


def _fits(out: torch.Tensor, device: torch.device) -> bool:
    """``out`` is contiguous and on ``device``."""
    return out.device == device and out.is_contiguous()
