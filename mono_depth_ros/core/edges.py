"""Flying-pixel removal: pixels whose depth lies *between* two surfaces, not pixels of a steep surface.

A network blends foreground and background where a depth step crosses its receptive field, and upsampling spreads
that blend over the upsampling factor: the blended pixels back-project to "flying pixels" floating in the empty
space between an object and what is behind it. A slanted surface seen at a grazing angle (far road, a wall along the
street) also changes depth fast from pixel to pixel, often by more than 10 % per row, but it is a real surface and
must stay. The two differ in inverse depth ``w = 1 / d``: a plane is *linear* in inverse depth along any image line
(``1/z = a·u + b·v + c`` for a plane seen by a pinhole camera), while a blended pixel sits between two flat runs.

Test per pixel ``c`` and per direction (left/right, up/down), with ``a``, ``b`` the inverse depths
of its two neighbours and ``a2``, ``b2`` of the pixels beyond them (all in inverse depth):

1. **a step runs across c**: ``max(a, b) > (1 + threshold) · min(a, b)`` (the depths on the two sides differ by more
   than ``threshold`` relative to the nearer);
2. **c lies strictly between the two sides**: in inverse depth more than ``m = MARGIN_SHARE · threshold``
   (relative) inside ``(min(a, b), max(a, b))``;
3. **c continues neither side's surface**: it is more than ``m · c`` away from each side's surface extended
   linearly to c (``2a - a2`` and ``2b - b2``; where the outer pixel is invalid or outside the image the side's
   surface is unknown and the pixel is kept).

A pixel is marked when one direction passes all three. On a plane every pixel continues both sides (exactly, in
inverse depth), so slanted surfaces are never marked, however steep; a surface pixel next to an object's edge
continues its own side, so it stays too. Pixels of a hard step (no blend) equal one side and stay. Speckles lie
outside their neighbours' range and are not marked (``core.cloud_outliers`` removes them).
Non-finite values: NaN never marks or supports a mark; +Inf (beyond range) is inverse depth 0, a valid far side
(the ground's inverse depth falls linearly to 0 at the horizon).

Where the depth was upsampled from a network's output, the blend is as wide as the upsampling made it: run the
test at the network's resolution (:func:`flying_pixel_mask`, pixel-centre subsampling, which recovers the network's
own values where the upsampling was edge-aware) and map the marks back to every pixel that comes from a marked one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ShapeError

MARGIN_SHARE = 0.5
"""Margins of tests 2 and 3 as a share of the threshold: 0.05 (5 %, relative) at the default threshold 0.1.

At 0.25 a network-like prediction of the far road on real KITTI frames (LiDAR-interpolated, a few % of noise per
pixel at 40-50 m) lost 0.5-1 % of its LiDAR-validated pixels; at 0.5, 0.07-0.23 %."""

# (row, column) steps: left/right, up/down. The diagonals found no flying pixel these miss on the synthetic scenes
# (test/core/test_edges.py) but marked 3 × more real pixels, at corners where three surfaces meet (a diagonal's
# outer pixel lands on a third surface), and 2-5 × more LiDAR-validated pixels on the KITTI frames.
DIRECTIONS = ((0, 1), (1, 0))


def _check_image(depth_m: npt.NDArray[np.generic]) -> None:
    """Raise :class:`ShapeError` unless ``depth_m`` is an (H, W) map."""
    if depth_m.ndim != 2:
        msg = f"depth for the flying-pixel test must be (H, W), got shape {depth_m.shape}: pass one image's map"
        raise ShapeError(msg)


def depth_edge_mask(depth_m: npt.NDArray[np.floating], relative_threshold: float) -> npt.NDArray[np.bool_]:
    """(H, W) bool mask, True at flying pixels: between two surfaces whose depths differ by ``relative_threshold``.

    Only pixels two or more pixels inside the image along a direction can be marked in it (the test needs both
    neighbours and both outer pixels): the work runs on views of those, no shifted full-size copies. Each direction
    runs on contiguous runs of the flattened image (a neighbour is a fixed offset in it: one pixel, or one row): along
    the rows the pixels of the first and last two columns are tested too, with the row above's or below's pixels for
    their neighbours, and their marks dropped (strided (H, W - 4) views took 1.2-1.4 x as long: 96x320, 1242x375).

    Args:
        depth_m: (H, W) depth in metres (NaN invalid, +Inf beyond range, -Inf too close: never marked).
        relative_threshold: smallest relative depth step across a pixel that can make it flying (0.1 = 10 %).
    """
    d = np.asarray(depth_m, dtype=np.float32)
    _check_image(d)
    w = np.full(d.shape, np.nan, dtype=np.float32)  # inverse depth, NaN where the depth is not > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(np.float32(1.0), d, out=w, where=d > 0)
    mask = np.zeros(d.shape, dtype=bool)
    height, width = int(d.shape[0]), int(d.shape[1])
    flat_w, flat_mask, size = w.reshape(-1), mask.reshape(-1), w.size
    jump = np.float32(1.0 + relative_threshold)
    margin = np.float32(1.0 + MARGIN_SHARE * relative_threshold)
    marks = np.empty(size, dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):  # (over: a wrapped pixel's 2 · side; its mark is dropped)
        for dv, du in DIRECTIONS:
            if w.shape[0 if dv else 1] < 5:
                continue
            step = dv * width + du  # the next pixel along the direction, in the flat image
            count = size - 4 * step  # pixel 2 · step + i of the flat image for i < count

            def at(offset: int, step: int = step, count: int = count) -> npt.NDArray[np.float32]:
                """Inverse depth ``offset`` pixels along the direction from each tested pixel."""
                return flat_w[(2 + offset) * step : (2 + offset) * step + count]

            c, a, b = at(0), at(-1), at(1)  # the pixel and its two neighbours
            near, far = np.maximum(a, b), np.minimum(a, b)  # NaN on either side: no candidate
            candidate = marks[:count]
            np.greater(near, jump * far, out=candidate)
            candidate &= c * margin < near
            candidate &= c > margin * far
            if du:  # i = pixel - 2 along the rows: columns 0, 1, W - 2, W - 1 are i mod W >= W - 4 (wrapped)
                marks.reshape(height, width)[:, width - 4 :] = False
            if not candidate.any():
                continue
            tolerance = (margin - 1.0) * c
            for side, outer in ((a, at(-2)), (b, at(2))):
                continued = 2.0 * side - outer  # the side's surface extended to c (NaN: unknown, c may continue it)
                candidate &= np.abs(c - continued) > tolerance
            flat_mask[2 * step : 2 * step + count] |= candidate
    return mask


def flying_pixel_mask(
    depth_m: npt.NDArray[np.floating], relative_threshold: float, source_hw: SourceShape | None = None
) -> npt.NDArray[np.bool_]:
    """:func:`depth_edge_mask` of a depth image upsampled from a ``source_hw`` (height, width) map, run at that size.

    The source pixels are read at their centres (nearest output pixel); each output pixel takes the mark of the
    source pixel nearest to it. Sides the source does not make smaller (or ``source_hw`` None) are used as they are.
    """
    d = np.asarray(depth_m)
    _check_image(d)
    grid = source_grid((int(d.shape[0]), int(d.shape[1])), source_hw)
    if grid is None:
        return depth_edge_mask(d, relative_threshold)
    (rows, cols), (back_rows, back_cols) = grid
    small = depth_edge_mask(d.take(rows, axis=0).take(cols, axis=1), relative_threshold)  # a few times np.ix_'s speed
    return small.take(back_rows, axis=0).take(back_cols, axis=1)


Indices = tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]


@dataclass(frozen=True)
class SourceWindow:
    """A map an image was upsampled from that covers more than the image (ZoeDepth's map of its reflect-padded
    input): the image is read at a fractional window of it, output pixel centre ``i`` at
    ``top + (i + 0.5) · height / H - 0.5`` (``models.preprocess.upsample_edge_aware``'s ``window``).

    Attributes:
        map_hw: the map's (height, width) in pixels.
        window: ``(top, left, height, width)`` of the image in the map's pixels (fractions).
    """

    map_hw: tuple[int, int]
    window: tuple[float, float, float, float]


SourceShape = tuple[int, int] | SourceWindow
"""What an image was upsampled from: a map's (height, width) spanning the image, or a :class:`SourceWindow`."""


def source_grid(shape: tuple[int, int], source_hw: SourceShape | None) -> tuple[Indices, Indices] | None:
    """Where :func:`flying_pixel_mask` reads a ``source_hw`` map in an image of ``shape`` (height, width), and back.

    Returns ``((rows, cols), (back_rows, back_cols))``: the output pixels nearest to the source pixels' centres, and
    for each output row / column the source one whose value the upsampling gives it
    (:func:`upsampled_nearest_index`, :func:`window_nearest_index` for a :class:`SourceWindow`, counted from the
    first source pixel the window reaches); None when the source is not smaller on any side (or ``source_hw`` is
    None): the mask is then computed on the image itself.
    """
    if isinstance(source_hw, SourceWindow):
        return _window_grid((int(shape[0]), int(shape[1])), source_hw)
    if source_hw is None or (source_hw[0] >= shape[0] and source_hw[1] >= shape[1]):
        return None
    return _source_grid((int(shape[0]), int(shape[1])), (int(source_hw[0]), int(source_hw[1])))


def window_nearest_index(out_size: int, in_size: int, start: float, extent: float) -> npt.NDArray[np.intp]:
    """(out_size,) the source index whose value an upsampling of the window ``start`` .. ``start + extent`` of an
    ``in_size`` map gives each output pixel next to a depth step: ``models.preprocess``'s window arithmetic
    (float32; ties at half a pixel go to the upper neighbour)."""
    src = (np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * np.float32(extent / out_size) - np.float32(0.5)
    if start:
        src += np.float32(start)
    src = np.maximum(src, np.float32(0))
    low = np.minimum(np.floor(src).astype(np.intp), in_size - 1)
    weight = src - low.astype(np.float32)
    nearest: npt.NDArray[np.intp] = np.where(weight >= 0.5, np.minimum(low + 1, in_size - 1), low)
    return nearest


@functools.lru_cache(maxsize=16)
def _window_grid(shape: tuple[int, int], source: SourceWindow) -> tuple[Indices, Indices] | None:
    """:func:`source_grid` of a :class:`SourceWindow`: the source pixels the window reaches, made once per window."""
    sampled, nearest = [], []
    smaller = False
    for axis, out_size in enumerate(shape):
        start, extent = float(source.window[axis]), float(source.window[2 + axis])
        near = window_nearest_index(out_size, int(source.map_hw[axis]), start, extent)
        first = int(near[0])
        size = int(near[-1]) - first + 1
        if size >= out_size:  # not smaller on this side: the image itself
            sampled.append(np.arange(out_size, dtype=np.intp))
            nearest.append(np.arange(out_size, dtype=np.intp))
            continue
        smaller = True
        centres = np.rint((np.arange(first, first + size) - start + 0.5) * out_size / extent - 0.5)
        sampled.append(np.clip(centres, 0, out_size - 1).astype(np.intp))
        nearest.append((near - first).astype(np.intp))
    if not smaller:
        return None
    for index in (*sampled, *nearest):
        index.flags.writeable = False
    return (sampled[0], sampled[1]), (nearest[0], nearest[1])


@functools.lru_cache(maxsize=16)
def _source_grid(shape: tuple[int, int], source_hw: tuple[int, int]) -> tuple[Indices, Indices]:
    """:func:`source_grid` for a source smaller on a side, made once per pair of sizes (read-only arrays)."""
    sampled, nearest = [], []
    for out_size, in_size in zip(shape, source_hw, strict=True):
        size = min(int(in_size), out_size)
        centres = np.rint((np.arange(size) + 0.5) * out_size / size - 0.5)
        sampled.append(np.clip(centres, 0, out_size - 1).astype(np.intp))
        nearest.append(upsampled_nearest_index(out_size, size))
    for index in (*sampled, *nearest):
        index.flags.writeable = False  # shared by every caller of these sizes
    return (sampled[0], sampled[1]), (nearest[0], nearest[1])


def upsampled_nearest_index(out_size: int, in_size: int) -> npt.NDArray[np.intp]:
    """(out_size,) the source index whose value an upsampling from ``in_size`` gives each output pixel when it
    takes the nearest one (next to a depth step): ``F.interpolate(align_corners=False)``'s pixel-centre grid in its
    float32 arithmetic, as ``models.preprocess`` upsamples (ties at exactly half a pixel go to the upper neighbour).

    Exact (float64) arithmetic differs at ties, where ``(i + 0.5) * in_size / out_size`` is a whole number
    (published column 310 of 414 from 320: float32 gives 239, float64 240): a mark mapped back there would land
    one pixel beside the value it belongs to.
    """
    scale = np.float32(in_size / out_size)
    src = np.maximum((np.arange(out_size, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5), 0)
    low = np.minimum(np.floor(src).astype(np.intp), in_size - 1)
    nearest: npt.NDArray[np.intp] = np.where(src - low >= 0.5, np.minimum(low + 1, in_size - 1), low)
    return nearest
