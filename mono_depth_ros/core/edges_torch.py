"""Flying-pixel mask with torch, on the device the depth already lives on (the GPU post-processing path).

The same test as :mod:`core.edges` (see there), written with the same float32 operations in the same order, so the
mask is identical to :func:`core.edges.flying_pixel_mask` for the same depth (tested on the CPU). No step waits for
the device: there is no early exit, and the sampling indices are made once per image size.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from mono_depth_ros.core.edges import DIRECTIONS, MARGIN_SHARE, SourceShape, source_grid
from mono_depth_ros.core.errors import ShapeError

_PAD = 2  # the test reads two pixels beyond each side


def depth_edge_mask_torch(depth_m: torch.Tensor, relative_threshold: float) -> torch.Tensor:
    """(H, W) bool tensor, True at flying pixels: :func:`core.edges.depth_edge_mask` on ``depth_m``'s device.

    Args:
        depth_m: (H, W) floating depth in metres (NaN invalid, +Inf beyond range, -Inf too close: never marked).
        relative_threshold: smallest relative depth step across a pixel that can make it flying (0.1 = 10 %).
    """
    if depth_m.ndim != 2 or not depth_m.is_floating_point():
        msg = f"depth must be a floating (H, W) tensor, got {tuple(depth_m.shape)} {depth_m.dtype}"
        raise ShapeError(msg)
    d = depth_m.float()
    height, width = d.shape
    w = torch.where(d > 0, torch.reciprocal(d), torch.nan)  # inverse depth, float32 as numpy's 1 / d
    padded = F.pad(w[None, None], (_PAD, _PAD, _PAD, _PAD), value=float("nan"))[0, 0]  # NaN outside the image

    def shifted(dv: int, du: int) -> torch.Tensor:  # out[v, u] = w[v + dv, u + du] (a view)
        return padded[_PAD + dv : _PAD + dv + height, _PAD + du : _PAD + du + width]

    jump = float(np.float32(1.0 + relative_threshold))  # the float32 constants of the numpy test
    margin32 = np.float32(1.0 + MARGIN_SHARE * relative_threshold)
    margin, margin_less_one = float(margin32), float(margin32 - np.float32(1.0))
    mask = torch.zeros(d.shape, dtype=torch.bool, device=d.device)
    for dv, du in DIRECTIONS:
        a, b = shifted(-dv, -du), shifted(dv, du)
        near, far = torch.maximum(a, b), torch.minimum(a, b)  # NaN on either side: no candidate
        candidate = (near > far * jump) & (w * margin < near) & (w > far * margin)
        for side, outer in ((a, shifted(-2 * dv, -2 * du)), (b, shifted(2 * dv, 2 * du))):
            continued = side * 2.0 - outer  # the side's surface extended to c (NaN: unknown, c may continue it)
            candidate &= (w - continued).abs() > w * margin_less_one
        mask |= candidate
    return mask


def flying_pixel_mask_torch(
    depth_m: torch.Tensor, relative_threshold: float, source_hw: SourceShape | None = None
) -> torch.Tensor:
    """:func:`core.edges.flying_pixel_mask` on ``depth_m``'s device: the test at the ``source_hw`` (height, width)
    resolution the depth was upsampled from (None: at its own), marks mapped back to every pixel that comes from a
    marked one. (H, W) bool tensor."""
    if depth_m.ndim != 2:
        msg = f"depth must be a floating (H, W) tensor, got {tuple(depth_m.shape)} {depth_m.dtype}"
        raise ShapeError(msg)
    shape = (int(depth_m.shape[0]), int(depth_m.shape[1]))
    grid = source_index_tensors(shape, source_hw, depth_m.device)
    if grid is None:
        return depth_edge_mask_torch(depth_m, relative_threshold)
    rows, cols, back_rows, back_cols = grid
    small = depth_edge_mask_torch(depth_m.index_select(0, rows).index_select(1, cols), relative_threshold)
    return small.index_select(0, back_rows).index_select(1, back_cols)


@functools.lru_cache(maxsize=16)
def source_index_tensors(
    shape: tuple[int, int], source_hw: SourceShape | None, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """:func:`core.edges.source_grid` as index tensors on ``device`` (made once per size)."""
    grid = source_grid(shape, source_hw)
    if grid is None:
        return None
    (rows, cols), (back_rows, back_cols) = grid
    return tuple(torch.from_numpy(i.astype(np.int64)).to(device) for i in (rows, cols, back_rows, back_cols))  # type: ignore[return-value]
