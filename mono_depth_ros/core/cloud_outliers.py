"""Speckle removal for the marking cloud: isolated depth outliers, found in the image before a cloud is built.

Monocular networks leave speckles: one pixel, or a clump of two by two, whose depth is far from every neighbour's.
Back-projected, each becomes a point floating in free space, and Nav2 marks it as an obstacle (a phantom). This
module flags such pixels in the depth image at the published resolution, so the mask composes with the edge filter
(core.edges) and with every cloud mode (organized, strided, voxel): set the flagged depths to NaN before the cloud.
Where the published image was upsampled from the network's map, the test runs at the network's resolution
(:func:`speckle_mask`, as the edge filter does): upsampled more than twice, a network's one-pixel speckle is a blob
the test at the published size keeps.

Method (planar consistency, not a neighbour count). Write ``w = 1 / depth`` (inverse depth, 1/m) and let ``d`` be
one of the 8 pixel steps ``(±1, 0), (0, ±1), (±1, ±1)``. Pixel ``p`` is *supported* from direction ``d`` when its
inverse depth continues the line through its two neighbours on that side::

    |w(p) - 2 w(p + d) + w(p + 2d)| <= tolerance * w(p)

and it is an outlier when fewer than ``min_support`` of the 8 directions support it. In 3-D (camera optical frame,
metres): the back-projections of ``p + d`` and ``p + 2d`` define a line, and ``p`` is supported when its point lies
within ``tolerance * z_line`` metres of depth of where that line crosses ``p``'s ray (``z_line`` = the depth there).
On any plane, ``1 / depth`` is an affine function of the pixel coordinates (``n·X = c`` and ``X = z K⁻¹ (u, v, 1)``
give ``1 / z = n·K⁻¹ (u, v, 1) / c``), so every pixel of a planar surface is supported *exactly*, whatever its
slant and the camera's roll or pitch, and without the intrinsics (they cancel; any rectified pinhole image works).
The test is scale-invariant (depth in mm or in unknown units gives the same mask), O(pixels) and vectorised: 4
second differences and 8 comparisons, about 40 array operations per frame.

Why not a radius-outlier count (PCL RadiusOutlierRemoval in a k×k window, radius a fraction of depth)? The ground
seen at a grazing angle is sampled sparsely: on a 414×125 image from a KITTI camera adjacent rows of the road 40 m
ahead are 4 m apart, so a 5×5 window holds only the few pixels along the iso-depth line, and a rolled camera puts
that line between pixel centres. Measured on synthetic scenes with exact depth at 414×125 (bench/bench_outliers.py),
a 5×5 radius test keeping pixels with 4 neighbours within 5 % of the depth lost 5.0 % of the real points of the
ground under a rolled camera (0.6 % at 10 %), this test none; it removed more speckles (99.9 % against 99.7 %) in
about a fifth of the time (0.5 ms against 2.2 ms per frame).

What it removes and keeps:

* removed: any blob up to two pixels thick in every direction (single pixels, 2×2 clumps, diagonal pairs) whose
  depth is off the surrounding surface by more than ``tolerance`` (relative); a lone valid pixel among invalid ones.
* kept: planar and gently curved surfaces at any slant, both sides of a depth discontinuity (a box's edge pixel
  continues the box in the direction away from the edge), thin structures one pixel wide along their length (poles:
  vertical support), image borders and corners (directions pointing out of the image simply do not support).
* not removed: speckles whose wrong depth happens to continue a neighbouring surface (a 2×2 clump on an object's
  edge at the depth of the background behind it lies on the background in 3-D: the edge moves by a pixel or two),
  blobs three or more pixels thick (their middle pixels support each other), streaks one pixel thick
  (indistinguishable from a wire or a pole).

Invalid pixels (NaN, ±Inf per REP 117, zero, negative: anything core.cloud_record.valid_depth_mask rejects) are
never flagged and never support a neighbour. Run the filter before core.depth_codec.apply_range_limits (as the edge
filter is), so that a point just inside ``max_range`` keeps the support of its neighbours just beyond it, and before
the edge filter. (The edge filter, core.edges, marks only pixels whose depth lies between their neighbours': it
takes neither speckles nor their real neighbours, so the two filters do not overlap.)
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.cloud_record import valid_depth_mask
from mono_depth_ros.core.edges import SourceShape, source_grid
from mono_depth_ros.core.errors import ConfigError, ShapeError

__all__ = ["AXES", "DEFAULT_OUTLIER_FILTER", "OutlierFilter", "outlier_mask", "remove_outliers", "speckle_mask"]

AXES = ((0, 1), (1, 0), (1, 1), (1, -1))
"""One (dy, dx) step per line through a pixel; each gives the two opposite directions +d and -d."""
_DIRECTIONS = 2 * len(AXES)


@dataclass(frozen=True)
class OutlierFilter:
    """Settings of :func:`outlier_mask` (validated on construction; raises :class:`ConfigError`).

    Attributes:
        tolerance: how far (relative, a fraction of the depth) a pixel may lie from the surface its neighbours
            continue and still be supported; ``0 < tolerance < 1``. 0.05 = 5 %: 0.5 m at 10 m. Smaller removes
            subtler speckles but needs depth noise well below it: per-pixel noise of 1 % costs ~0.01 % of the real
            points at 0.05 (~0.05 % at 0.03), 2 % noise ~0.25 % at 0.05; see bench/bench_outliers.py.
        min_support: how many of the 8 directions must support a pixel for it to stay; 1 to 8. 1 keeps every pixel
            that continues a surface on at least one side (corners, pole tips); higher values also drop real
            points at corners and under noise.
    """

    tolerance: float = 0.05
    min_support: int = 1

    def __post_init__(self) -> None:
        tolerance = self.tolerance
        if isinstance(tolerance, bool) or not isinstance(tolerance, Real) or not 0.0 < float(tolerance) < 1.0:
            msg = (
                f"outlier tolerance must be a number in (0, 1) (a fraction of the depth), got {tolerance!r}; "
                f"0.05 allows 5 % (0.5 m at 10 m)"
            )
            raise ConfigError(msg)
        object.__setattr__(self, "tolerance", float(tolerance))
        support = self.min_support
        if isinstance(support, bool) or not isinstance(support, Integral) or not 1 <= int(support) <= _DIRECTIONS:
            msg = (
                f"outlier min_support must be an integer from 1 to {_DIRECTIONS} (directions of the 8 that must "
                f"support a pixel), got {support!r}; 1 keeps corners and pole tips"
            )
            raise ConfigError(msg)
        object.__setattr__(self, "min_support", int(support))

    def mask(self, depth_m: npt.NDArray[np.floating]) -> npt.NDArray[np.bool_]:
        """:func:`outlier_mask` with these settings."""
        return outlier_mask(depth_m, self)


DEFAULT_OUTLIER_FILTER = OutlierFilter()


def outlier_mask(
    depth_m: npt.NDArray[np.floating], config: OutlierFilter = DEFAULT_OUTLIER_FILTER
) -> npt.NDArray[np.bool_]:
    """(H, W) bool mask, True at valid pixels that fewer than ``config.min_support`` directions support.

    See the module docstring for the test. Neighbours are the pixels one and two steps away along the 8 directions
    (all inside the 5×5 window around the pixel); neighbours outside the image or with invalid depth give no support.

    Args:
        depth_m: (H, W) float depth in metres along the optical z axis (float32 preferred; any float dtype is read
            as float32), e.g. the depth image at the published resolution. NaN, ±Inf, zero and negative depths are
            invalid. Not modified.
        config: the settings (:data:`DEFAULT_OUTLIER_FILTER`: tolerance 0.05, min_support 1).

    Returns:
        (H, W) bool, True = drop the pixel (``depth[mask] = np.nan``); always False where the depth is invalid.

    Raises:
        ShapeError: ``depth_m`` is not 2-D.
    """
    depth = np.asarray(depth_m)
    if depth.ndim != 2:
        msg = f"depth must be (H, W), got shape {depth.shape}"
        raise ShapeError(msg)
    height, width = depth.shape
    depth32 = depth.astype(np.float32, copy=False)
    valid = valid_depth_mask(depth32)  # finite and >= the smallest normal float32, so 1 / depth is finite
    inverse = np.full((height + 4, width + 4), np.nan, dtype=np.float32)  # 1 / depth, NaN = invalid or outside
    inverse_px = inverse[2 : height + 2, 2 : width + 2]
    np.divide(np.float32(1.0), depth32, out=inverse_px, where=valid)
    allowed = inverse_px * np.float32(config.tolerance)
    support = np.zeros((height, width), dtype=np.uint8)
    agrees = np.empty((height, width), dtype=bool)
    # Second difference of the inverse depth at every pixel q of the image grown by one pixel on each side:
    # curvature(q) = |w(q - d) - 2 w(q) + w(q + d)|. For pixel p it is the residual of direction +d at q = p + d
    # and of direction -d at q = p - d, so one pass per axis serves both directions.
    curvature = np.empty((height + 2, width + 2), dtype=np.float32)
    centre = inverse[1 : height + 3, 1 : width + 3]
    with np.errstate(invalid="ignore", over="ignore"):  # NaN arithmetic is the point; nothing here overflows
        for dy, dx in AXES:
            before = inverse[1 - dy : height + 3 - dy, 1 - dx : width + 3 - dx]
            after = inverse[1 + dy : height + 3 + dy, 1 + dx : width + 3 + dx]
            np.add(before, after, out=curvature)
            curvature -= centre
            curvature -= centre
            np.abs(curvature, out=curvature)
            for step_y, step_x in ((dy, dx), (-dy, -dx)):
                residual = curvature[1 + step_y : height + 1 + step_y, 1 + step_x : width + 1 + step_x]
                np.less_equal(residual, allowed, out=agrees)  # False where anything involved is NaN
                support += agrees.view(np.uint8)
    mask = support < config.min_support
    mask &= valid
    return mask


def speckle_mask(
    depth_m: npt.NDArray[np.floating],
    config: OutlierFilter = DEFAULT_OUTLIER_FILTER,
    source_hw: SourceShape | None = None,
) -> npt.NDArray[np.bool_]:
    """:func:`outlier_mask` of a depth image upsampled from a ``source_hw`` (height, width) map, run at that size.

    A network's speckle is a pixel of its own map; upsampled (edge-aware: nearest next to a depth step) by a factor
    above 2 it becomes a blob three or more pixels tall or wide, whose middle pixels support each other: at the
    published size the test keeps it (a 640x480 camera published at 240x320 from a 96x320 network: 40 % of the
    speckle pixels on real NYU frames; at camera resolution nearly all). The test reads the map at the source pixels'
    centres and each output pixel takes the mark of the source pixel nearest to it, as
    :func:`core.edges.flying_pixel_mask` does (:func:`core.edges.source_grid`). Sides the source does not make
    smaller (or ``source_hw`` None) are used as they are.
    """
    d = np.asarray(depth_m)
    if d.ndim != 2:
        msg = f"depth must be (H, W), got shape {d.shape}"
        raise ShapeError(msg)
    grid = source_grid((int(d.shape[0]), int(d.shape[1])), source_hw)
    if grid is None:
        return outlier_mask(d, config)
    (rows, cols), (back_rows, back_cols) = grid
    small = outlier_mask(d.take(rows, axis=0).take(cols, axis=1), config)
    return small.take(back_rows, axis=0).take(back_cols, axis=1)


def remove_outliers(
    depth_m: npt.NDArray[np.floating], config: OutlierFilter = DEFAULT_OUTLIER_FILTER
) -> npt.NDArray[np.float32]:
    """Copy of ``depth_m`` (float32) with NaN at the pixels :func:`outlier_mask` flags."""
    out = np.array(depth_m, dtype=np.float32, copy=True)
    out[outlier_mask(out, config)] = np.nan
    return out
