"""A metric model on a camera unlike the one it was trained on: the warning (node and bag runner alike).

A metric network reads scale from pixel cues (apparent size, the row of the horizon), so its metres belong to the
field of view of its training images. :attr:`ModelSpec.training_focal` records that camera as ``(fx / width,
fy / height)``; the network's input resize keeps those ratios, so a live camera compares by the same two numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.depth_kind import OutputKind

FOCAL_TOLERANCE = 0.1
"""Relative difference of ``fx / width`` or ``fy / height`` from the training camera's above which the warning is
given: metric depth is then off by roughly that factor."""

SCALE_SOURCES = ("lidar", "ground_plane")
"""``scale.mode`` values that measure the scale on line, so the model's own metres matter less."""


def median_focal(cameras: Iterable[tuple[Any, int, int]]) -> tuple[float, ...]:
    """Median ``(fx / width, fy / height)`` over ``(K, width, height)`` triples (K a (3, 3) array or tensor in
    pixels; triples whose K has a non-finite or non-positive focal length are skipped); empty when none is left.
    For :attr:`ModelSpec.training_focal`."""
    ratios = [
        (float(k[0][0]) / width, float(k[1][1]) / height)
        for k, width, height in cameras
        if math.isfinite(float(k[0][0])) and math.isfinite(float(k[1][1])) and float(k[0][0]) > 0 and float(k[1][1]) > 0
    ]
    if not ratios:
        return ()
    return tuple(statistics.median(axis) for axis in zip(*ratios, strict=True))


def focal_ratios(training_focal: tuple[float, ...], camera: PinholeIntrinsics) -> tuple[float, float] | None:
    """``(fx / width, fy / height)`` of ``camera`` over ``training_focal`` (1.0 = the training camera's field of
    view on that axis); None when the training camera is unknown (empty ``training_focal``)."""
    if len(training_focal) != 2:
        return None
    return (camera.fx / camera.width) / training_focal[0], (camera.fy / camera.height) / training_focal[1]


def training_camera_mismatch(
    training_focal: tuple[float, ...],
    output_kind: OutputKind,
    scale_mode: str,
    fixed_scale: float,
    camera: PinholeIntrinsics,
    tolerance: float = FOCAL_TOLERANCE,
) -> str | None:
    """The warning for a ``metric`` model whose published metres rest on its own scale (``scale.mode`` none, or
    fixed at 1.0) on a camera whose ``fx / width`` or ``fy / height`` differs from the training camera's by more
    than ``tolerance``; else None.

    Args:
        training_focal: :attr:`ModelSpec.training_focal` (empty: unknown, never warned).
        output_kind: what the model outputs (only ``metric`` is warned: the other kinds are scaled or take the
            focal length).
        scale_mode, fixed_scale: ``scale.mode`` and ``scale.fixed_scale`` in force (``lidar`` without a
            ``lidar_topic`` is ``none``: no scan corrects a metric model).
        camera: intrinsics of the image the model sees (rectified P, or the undistorted K), pixels.
    """
    ratios = focal_ratios(training_focal, camera)
    if ratios is None or output_kind is not OutputKind.METRIC or scale_mode in SCALE_SOURCES:
        return None
    if scale_mode == "fixed" and fixed_scale != 1.0:
        return None  # the user has corrected the scale
    if all(abs(ratio - 1.0) <= tolerance for ratio in ratios):
        return None
    fx_ratio, fy_ratio = ratios
    return (
        f"the model's metric scale belongs to its training camera (fx/width {training_focal[0]:.3g}, fy/height "
        f"{training_focal[1]:.3g}); this {camera.width}x{camera.height} camera has {camera.fx / camera.width:.3g}, "
        f"{camera.fy / camera.height:.3g} ({fx_ratio:.2f}x, {fy_ratio:.2f}x): its depth in metres is off by about "
        f"these factors; give it a scale source (a lidar_topic with scale.mode=lidar, or scale.mode=ground_plane), "
        f"or train / fine-tune on images of this camera"
    )
