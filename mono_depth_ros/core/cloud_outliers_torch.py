"""Speckle mask with torch, on the device the depth already lives on (``output.device_postprocess``).

The same planar-consistency test as :mod:`core.cloud_outliers` (see there: a pixel is a speckle when its inverse
depth continues the line through its two neighbours in fewer than ``min_support`` of the 8 directions), with the
same float32 operations in the same order, so the mask is identical to :func:`core.cloud_outliers.outlier_mask` for
the same depth (tested on the CPU). No step waits for the device.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mono_depth_ros.core.cloud_outliers import AXES, OutlierFilter
from mono_depth_ros.core.cloud_record import range_bounds
from mono_depth_ros.core.edges import SourceShape
from mono_depth_ros.core.edges_torch import source_index_tensors
from mono_depth_ros.core.errors import ShapeError

_PAD = 2  # the test reads two pixels beyond each side


def outlier_mask_torch(depth_m: torch.Tensor, config: OutlierFilter) -> torch.Tensor:
    """(H, W) bool tensor on ``depth_m``'s device, True at valid pixels too few directions support.

    Args:
        depth_m: (H, W) floating depth in metres (read as float32); NaN, ±Inf, zero and negative depths are invalid
            (never flagged, never support a neighbour). Not modified.
        config: tolerance and minimum support (:class:`core.cloud_outliers.OutlierFilter`).

    Raises:
        ShapeError: ``depth_m`` is not a floating (H, W) tensor.
    """
    if depth_m.ndim != 2 or not depth_m.is_floating_point():
        msg = f"depth must be a floating (H, W) tensor, got {tuple(depth_m.shape)} {depth_m.dtype}"
        raise ShapeError(msg)
    depth = depth_m.float()
    height, width = depth.shape
    lower, upper = range_bounds()  # valid_depth_mask's: finite and at least the smallest normal float32
    valid = (depth >= lower) & (depth <= upper)
    inverse_px = torch.where(valid, torch.reciprocal(depth), torch.nan)  # 1 / depth, NaN = invalid
    inverse = F.pad(inverse_px[None, None], (_PAD, _PAD, _PAD, _PAD), value=float("nan"))[0, 0]  # NaN outside
    allowed = inverse_px * float(np.float32(config.tolerance))
    support = torch.zeros((height, width), dtype=torch.uint8, device=depth.device)
    centre = inverse[1 : height + 3, 1 : width + 3]
    for dy, dx in AXES:
        before = inverse[1 - dy : height + 3 - dy, 1 - dx : width + 3 - dx]
        after = inverse[1 + dy : height + 3 + dy, 1 + dx : width + 3 + dx]
        curvature = ((before + after) - centre - centre).abs()  # numpy's order: add, subtract twice, abs
        for step_y, step_x in ((dy, dx), (-dy, -dx)):
            residual = curvature[1 + step_y : height + 1 + step_y, 1 + step_x : width + 1 + step_x]
            support += (residual <= allowed).to(torch.uint8)  # False where anything involved is NaN
    return (support < config.min_support) & valid


def speckle_mask_torch(
    depth_m: torch.Tensor, config: OutlierFilter, source_hw: SourceShape | None = None
) -> torch.Tensor:
    """:func:`core.cloud_outliers.speckle_mask` on ``depth_m``'s device: the test at the ``source_hw`` (height,
    width) resolution the depth was upsampled from (None: at its own), marks mapped back to every pixel that comes
    from a marked one. (H, W) bool tensor."""
    if depth_m.ndim != 2:
        msg = f"depth must be a floating (H, W) tensor, got {tuple(depth_m.shape)} {depth_m.dtype}"
        raise ShapeError(msg)
    grid = source_index_tensors((int(depth_m.shape[0]), int(depth_m.shape[1])), source_hw, depth_m.device)
    if grid is None:
        return outlier_mask_torch(depth_m, config)
    rows, cols, back_rows, back_cols = grid
    small = outlier_mask_torch(depth_m.index_select(0, rows).index_select(1, cols), config)
    return small.index_select(0, back_rows).index_select(1, back_cols)
