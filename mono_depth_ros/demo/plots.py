"""Small plots drawn with numpy / OpenCV (no matplotlib): bird's-eye view of a cloud, scale over time.

Outputs are (H, W, 3) uint8 RGB. Points are binned in one vectorised pass (``np.bincount``); only axes, ticks and
per-frame markers are drawn one by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import pairwise

import cv2
import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.demo.colour import RGB, TEXT_RGB, fit_text

BEV_SIZE_PX = 480
BEV_LEGEND_PX = (42, 132)
"""Rows and columns of the legend box in the top-left corner of the bird's-eye view."""
PLOT_WIDTH_PX, PLOT_HEIGHT_PX = 640, 240
CLOUD_RGB = (90, 210, 255)
LIDAR_RGB = (255, 60, 60)
TRUTH_RGB = (255, 220, 60)
HEALTH_RGB = {"ok": (80, 220, 100), "degraded": (255, 170, 40), "lost": (255, 60, 60)}
_GRID_RGB = (60, 60, 70)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _bev_pixels(points_in_camera: npt.NDArray[np.floating], range_m: float, size_px: int) -> npt.NDArray[np.intp]:
    """Flat pixel indices of the points inside the view (x right → column, z forward → up from the bottom row)."""
    ppm = size_px / range_m
    finite = np.isfinite(points_in_camera).all(axis=1)
    x = np.where(finite, points_in_camera[:, 0], np.nan)
    z = np.where(finite, points_in_camera[:, 2], np.nan)
    with np.errstate(invalid="ignore"):
        cols = np.floor((x + range_m / 2.0) * ppm)
        rows = size_px - 1 - np.floor(z * ppm)
        inside = finite & (cols >= 0) & (cols < size_px) & (rows >= 0) & (rows < size_px) & (z >= 0)
    return np.asarray(rows[inside] * size_px + cols[inside], dtype=np.intp)


def _in_field_of_view(
    points_in_camera: npt.NDArray[np.floating], intrinsics: PinholeIntrinsics
) -> npt.NDArray[np.floating]:
    """The points in front of the camera between the image's left and right edges (any height)."""
    x, z = points_in_camera[:, 0], points_in_camera[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = x / z
        keep = (
            (z > 0)
            & (slope >= -intrinsics.cx / intrinsics.fx)
            & (slope <= (intrinsics.width - intrinsics.cx) / intrinsics.fx)
        )
    return points_in_camera[keep]


def birds_eye_view(
    cloud_in_camera: npt.NDArray[np.floating],
    lidar_in_camera: npt.NDArray[np.floating],
    intrinsics: PinholeIntrinsics,
    range_m: float = 60.0,
    size_px: int = BEV_SIZE_PX,
) -> RGB:
    """Top view of the depth cloud (cyan, brighter = more points) with the LiDAR points in the field of view (red).

    Args:
        cloud_in_camera: (N, 3) metres in the camera optical frame (x right, y down, z forward); NaN rows ignored.
        lidar_in_camera: (M, 3) metres, same frame.
        intrinsics: draws the camera's field of view.
        range_m: metres from the camera to the top edge; the view spans ±range_m / 2 sideways.
        size_px: the square's side.

    Returns:
        (size_px, size_px, 3) uint8 RGB; the camera sits at the bottom centre, grid lines every 10 m.
    """
    if not range_m > 0 or size_px < 32:
        msg = f"bird's-eye view needs range_m > 0 and size_px >= 32, got {range_m}, {size_px}"
        raise ConfigError(msg)
    canvas = np.full((size_px, size_px, 3), 12, dtype=np.uint8)
    ppm = size_px / range_m
    bottom = size_px - 1
    for metres in np.arange(10.0, range_m + 1e-6, 10.0):
        row = round(bottom - metres * ppm)
        cv2.line(canvas, (0, row), (size_px - 1, row), _GRID_RGB, 1)
        cv2.putText(canvas, f"{metres:g} m", (4, row - 3), _FONT, 0.35, TEXT_RGB, 1, cv2.LINE_AA)
    for metres in np.arange(-math.floor(range_m / 20.0) * 10.0, range_m / 2.0 + 1e-6, 10.0):
        col = round((metres + range_m / 2.0) * ppm)
        cv2.line(canvas, (col, 0), (col, bottom), _GRID_RGB, 1)
    counts = np.bincount(_bev_pixels(cloud_in_camera, range_m, size_px), minlength=size_px * size_px)
    counts = counts.reshape(size_px, size_px)
    occupied = counts > 0
    if occupied.any():
        brightness = 0.35 + 0.65 * np.log1p(counts) / math.log1p(float(counts.max()))
        canvas[occupied] = (brightness[occupied, None] * np.array(CLOUD_RGB)).astype(np.uint8)
    lidar_pixels = _bev_pixels(_in_field_of_view(lidar_in_camera, intrinsics), range_m, size_px)
    flat_mask = np.zeros(size_px * size_px, dtype=np.uint8)
    flat_mask[lidar_pixels] = 1
    lidar_mask = flat_mask.reshape(size_px, size_px)
    if lidar_pixels.size < size_px * size_px // 20:  # a sparse scan: thicker dots stay visible
        lidar_mask = np.asarray(cv2.dilate(lidar_mask, np.ones((2, 2), np.uint8)), dtype=np.uint8)
    canvas[lidar_mask.astype(bool)] = LIDAR_RGB
    origin = (round(range_m / 2.0 * ppm), bottom)
    for u in (0.0, float(intrinsics.width)):  # field of view: the image's left and right edges
        slope = (u - intrinsics.cx) / intrinsics.fx
        far = (round((range_m * slope + range_m / 2.0) * ppm), round(bottom - range_m * ppm))
        cv2.line(canvas, origin, far, (200, 200, 200), 1, cv2.LINE_AA)
    cv2.circle(canvas, origin, 4, (255, 255, 255), -1)
    canvas[: BEV_LEGEND_PX[0], : BEV_LEGEND_PX[1]] //= 3  # a dark box keeps the legend readable over the points
    fit_text(canvas, "/depth/points", (8, 16), CLOUD_RGB, 0.45)
    fit_text(canvas, "LiDAR scan", (8, 34), LIDAR_RGB, 0.45)
    return canvas


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2, 5 × 10^k steps) covering [low, high]."""
    span = high - low
    if not (math.isfinite(span) and span > 0):
        return [low] if math.isfinite(low) else []
    raw = span / max(count - 1, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1.0, 2.0, 5.0, 10.0)), key=lambda c: abs(math.log(c / raw)))
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Tick values as text with just enough decimals to tell neighbours apart (``1.005, 1.010`` not ``1, 1.01``)."""
    if len(ticks) < 2:
        return [f"{value:.3g}" for value in ticks]
    step = min(abs(b - a) for a, b in pairwise(ticks))
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 3
    return [f"{value:.{decimals}f}" for value in ticks]


def dashed_polyline(
    canvas: RGB, points: npt.NDArray[np.int32], colour: tuple[int, int, int], dash_px: float = 8.0
) -> None:
    """A dashed polyline: resample at dash_px spacing and draw every other piece."""
    steps = np.linalg.norm(np.diff(points.astype(np.float64), axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    if arc[-1] <= 0:
        return
    samples = np.arange(0.0, arc[-1] + dash_px, dash_px)
    xs = np.interp(samples, arc, points[:, 0])
    ys = np.interp(samples, arc, points[:, 1])
    for i in range(0, len(samples) - 1, 2):
        start = (round(xs[i]), round(ys[i]))
        cv2.line(canvas, start, (round(xs[i + 1]), round(ys[i + 1])), colour, 2, cv2.LINE_AA)


PixelMap = Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64]], npt.NDArray[np.int32]]


def time_axes(
    canvas: RGB,
    box: tuple[int, int, int, int],
    t_range: tuple[float, float],
    v_range: tuple[float, float],
    unit: str = "",
) -> PixelMap:
    """Draw a plot frame with value grid lines and labels (``unit`` appended) and time labels in seconds.

    Args:
        canvas: (H, W, 3) uint8 picture drawn on in place.
        box: (left, right, top, bottom) of the plot area in pixels.
        t_range, v_range: (low, high) of the time (s) and value axes; high > low.

    Returns:
        (times, values) → (N, 2) int32 pixel (x, y) in the box.
    """
    left, right, top, bottom = box
    t_low, t_high = t_range
    v_low, v_high = v_range

    def to_px(tt: npt.NDArray[np.float64], vv: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
        x = left + (tt - t_low) / (t_high - t_low) * (right - left)
        y = bottom - (vv - v_low) / (v_high - v_low) * (bottom - top)
        return np.rint(np.column_stack([x, y])).astype(np.int32)

    cv2.rectangle(canvas, (left, top), (right, bottom), _GRID_RGB, 1)
    value_ticks = nice_ticks(v_low, v_high)
    for value, label in zip(value_ticks, tick_labels(value_ticks), strict=True):
        row = int(to_px(np.array([t_low]), np.array([value]))[0, 1])
        cv2.line(canvas, (left, row), (right, row), _GRID_RGB, 1)
        cv2.putText(canvas, label + unit, (2, row + 4), _FONT, 0.35, TEXT_RGB, 1, cv2.LINE_AA)
    time_ticks = nice_ticks(t_low, t_high)
    for value, label in zip(time_ticks, tick_labels(time_ticks), strict=True):
        col = int(to_px(np.array([value]), np.array([v_low]))[0, 0])
        cv2.putText(canvas, f"{label} s", (col - 10, bottom + 16), _FONT, 0.35, TEXT_RGB, 1, cv2.LINE_AA)
    return to_px


def scale_plot(
    times_s: Sequence[float],
    scales: Sequence[float],
    healths: Sequence[str],
    true_scales: Sequence[float] | None = None,
    y_label: str = "scale",
    width: int = PLOT_WIDTH_PX,
    height: int = PLOT_HEIGHT_PX,
) -> RGB:
    """Recovered scale per frame (white line, markers coloured by health) and, when known, the true one (dashed).

    Args:
        times_s: frame times in seconds from the first frame.
        scales: recovered scale per frame (NaN points are left out).
        healths: per frame ``ok`` / ``degraded`` / ``lost`` (marker colours :data:`HEALTH_RGB`).
        true_scales: the oracle's exact scale per frame, or None.
        y_label: axis title.
        width, height: picture size in pixels.
    """
    if not len(times_s) == len(scales) == len(healths) or (true_scales is not None and len(true_scales) != len(scales)):
        msg = f"scale plot series differ in length: {len(times_s)}, {len(scales)}, {len(healths)}"
        raise ConfigError(msg)
    canvas = np.full((height, width, 3), 12, dtype=np.uint8)
    left, right, top, bottom = 64, width - 12, 26, height - 28
    t = np.asarray(times_s, dtype=np.float64)
    series = [np.asarray(scales, dtype=np.float64)]
    if true_scales is not None:
        series.append(np.asarray(true_scales, dtype=np.float64))
    values = np.concatenate(series)
    values = values[np.isfinite(values)]
    if t.size == 0 or values.size == 0:
        fit_text(canvas, "no scale reported", (left, height // 2), TEXT_RGB)
        return canvas
    t_low, t_high = float(t.min()), float(max(t.max(), t.min() + 0.1))
    pad = 0.1 * max(float(values.max() - values.min()), 0.05 * abs(float(values.mean())), 1e-9)
    v_low, v_high = float(values.min()) - pad, float(values.max()) + pad

    to_px = time_axes(canvas, (left, right, top, bottom), (t_low, t_high), (v_low, v_high))
    if true_scales is not None:
        truth = series[1]
        keep = np.isfinite(truth)
        if keep.sum() >= 2:
            dashed_polyline(canvas, to_px(t[keep], truth[keep]), TRUTH_RGB)
    recovered = series[0]
    keep = np.isfinite(recovered)
    pixels = to_px(t[keep], recovered[keep])
    if len(pixels) >= 2:
        cv2.polylines(canvas, [pixels.reshape(-1, 1, 2)], False, (240, 240, 240), 1, cv2.LINE_AA)
    for (x, y), health in zip(pixels, np.asarray(healths)[keep], strict=True):
        cv2.circle(canvas, (int(x), int(y)), 3, HEALTH_RGB.get(str(health), (180, 180, 180)), -1, cv2.LINE_AA)
    legend = f"{y_label}: recovered (markers: green ok, orange degraded, red lost)"
    fit_text(canvas, legend + (", dashed: true" if true_scales is not None else ""), (left, 16), TEXT_RGB, 0.4)
    return canvas
