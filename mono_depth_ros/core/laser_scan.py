"""A ``sensor_msgs/LaserScan`` from a band of depth-image rows (what Nav2's obstacle layer reads cheapest).

As ``depthimage_to_laserscan`` does: each column of the band becomes a bearing in the scan frame (x forward, y left,
z up: the camera's body frame, same origin as its optical frame), its range the horizontal distance
``depth * sqrt(1 + ((u - cx) / fx)^2)``, and each bearing keeps its nearest valid range. REP 117 for the rest: a
bearing whose pixels are all beyond ``range_max`` is +Inf (no return: with ``inf_is_valid: true`` the costmap
clears along it), all closer than ``range_min`` is -Inf, no measurement at all is NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError, ShapeError


@dataclass(frozen=True)
class ScanData:
    """One scan, ready for ``sensor_msgs/LaserScan``.

    Attributes:
        ranges: (N,) float32 metres, counter-clockwise from ``angle_min``; +Inf / -Inf / NaN per REP 117.
        angle_min, angle_max, angle_increment: radians in the scan frame (0 = straight ahead, positive = left).
        range_min, range_max: metres.
    """

    ranges: npt.NDArray[np.float32]
    angle_min: float
    angle_max: float
    angle_increment: float
    range_min: float
    range_max: float


def scan_frame_id(optical_frame: str, setting: str = "") -> str:
    """The scan's frame: ``setting`` when given, else the optical frame without its ``_optical`` suffix
    (``camera_optical`` → ``camera``, ``camera_color_optical_frame`` → ``camera_color_frame``)."""
    if setting:
        return setting
    for suffix, replacement in (("_optical_frame", "_frame"), ("_optical", "")):
        if optical_frame.endswith(suffix) and len(optical_frame) > len(suffix):
            return optical_frame[: -len(suffix)] + replacement
    return optical_frame


def scan_from_depth(
    depth_m: npt.NDArray[np.floating], intrinsics: PinholeIntrinsics, band_rows: int, range_min: float, range_max: float
) -> ScanData:
    """The nearest return per bearing over ``band_rows`` rows centred on the principal point's row.

    Args:
        depth_m: (H, W) depth in metres (optical frame z), NaN invalid, ±Inf out of range (REP 117).
        intrinsics: pinhole intrinsics of ``depth_m``.
        band_rows: rows of the band (>= 1; clipped to the image), centred on ``cy`` (the horizon of a level camera).
        range_min, range_max: metres; horizontal ranges outside them are not returns.

    Returns:
        A :class:`ScanData` with one bearing per image column, equally spaced from the rightmost column's bearing
        (``angle_min``) to the leftmost's.
    """
    if band_rows < 1:
        msg = f"scan band must be at least one row, got {band_rows}; set scan.band_rows"
        raise ConfigError(msg)
    if not 0 <= range_min < range_max:
        msg = f"scan ranges need 0 <= range_min < range_max, got {range_min}, {range_max}"
        raise ConfigError(msg)
    height, width = intrinsics.height, intrinsics.width
    if depth_m.shape != (height, width):
        msg = f"depth {depth_m.shape} does not match the intrinsics' {height}x{width}"
        raise ShapeError(msg)
    centre = round(intrinsics.cy)
    top = min(max(0, centre - band_rows // 2), max(0, height - band_rows))
    band = np.asarray(depth_m[top : top + band_rows], dtype=np.float32)
    slope = (np.arange(width, dtype=np.float32) - np.float32(intrinsics.cx)) / np.float32(intrinsics.fx)
    ranges = band * np.sqrt(np.float32(1.0) + slope * slope)[None, :]
    valid = np.isfinite(ranges) & (ranges >= range_min) & (ranges <= range_max)
    nearest = np.where(valid, ranges, np.inf).min(axis=0)  # per column, (W,)
    returned = np.asarray(valid.any(axis=0), dtype=bool)
    beyond = np.asarray((np.isposinf(band) | (np.isfinite(ranges) & (ranges > range_max))).any(axis=0), dtype=bool)
    closer = np.asarray((np.isneginf(band) | (np.isfinite(ranges) & (ranges < range_min))).any(axis=0), dtype=bool)

    bearing = np.arctan2(-slope, np.float32(1.0)).astype(np.float64)  # decreasing from the left column to the right
    angle_min, angle_max = float(bearing[-1]), float(bearing[0])
    increment = (angle_max - angle_min) / (width - 1) if width > 1 else 0.0
    # Columns bunch up towards the image edges (several per bearing: the nearest wins) and spread out at the centre
    # (a bearing between two columns takes the nearer one), so every bearing of the scan has a column.
    angles = angle_min + increment * np.arange(width)
    right_to_left = bearing[::-1]  # increasing
    above = np.clip(np.searchsorted(right_to_left, angles), 1, max(width - 1, 1))
    nearer = np.where(
        np.abs(right_to_left[above - 1] - angles) <= np.abs(right_to_left[above] - angles), above - 1, above
    )
    source = (width - 1) - nearer if width > 1 else np.zeros(width, np.intp)  # the column nearest each bearing
    bins = np.zeros(width, np.intp)
    if width > 1:
        bins = np.clip(np.rint((bearing - angle_min) / increment).astype(np.intp), 0, width - 1)
    out = nearest[source].astype(np.float32)
    np.minimum.at(out, bins, nearest)
    has_return = returned[source]
    np.logical_or.at(has_return, bins, returned)
    has_beyond = beyond[source]
    np.logical_or.at(has_beyond, bins, beyond)
    has_closer = closer[source]
    np.logical_or.at(has_closer, bins, closer)
    out[~has_return & ~has_beyond & has_closer] = -np.inf
    out[~has_return & ~has_beyond & ~has_closer] = np.nan
    return ScanData(out, angle_min, angle_max, increment, float(range_min), float(range_max))
