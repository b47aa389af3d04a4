"""Bird's-eye view puts points where their metres say; ticks are round; the scale plot marks health."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.demo.plots import (
    BEV_LEGEND_PX,
    BEV_SIZE_PX,
    CLOUD_RGB,
    HEALTH_RGB,
    LIDAR_RGB,
    PLOT_HEIGHT_PX,
    PLOT_WIDTH_PX,
    birds_eye_view,
    nice_ticks,
    scale_plot,
    tick_labels,
)

INTRINSICS = PinholeIntrinsics(100.0, 100.0, 63.5, 31.5, width=128, height=64)


def _pixel(x_m: float, z_m: float, range_m: float = 60.0, size: int = BEV_SIZE_PX) -> tuple[int, int]:
    ppm = size / range_m
    return size - 1 - math.floor(z_m * ppm), math.floor((x_m + range_m / 2) * ppm)


def test_points_land_at_their_metric_position() -> None:
    cloud = np.array([[0.3, 1.0, 25.3], [0.0, 0.0, -5.0], [np.nan, 0.0, 10.0]], dtype=np.float32)
    lidar = np.array([[-4.1, 1.2, 37.7], [30.0, 0.0, 10.0]], dtype=np.float32)  # the second is outside the FOV
    image = birds_eye_view(cloud, lidar, INTRINSICS)
    assert image.shape == (BEV_SIZE_PX, BEV_SIZE_PX, 3) and image.dtype == np.uint8
    row, col = _pixel(0.3, 25.3)
    assert np.array_equal(image[row, col], np.array(CLOUD_RGB))  # the only cloud point: full brightness
    row, col = _pixel(-4.1, 37.7)
    assert np.array_equal(image[row, col], np.array(LIDAR_RGB))
    lidar_pixels = np.all(image == np.array(LIDAR_RGB), axis=2)
    lidar_pixels[: BEV_LEGEND_PX[0], : BEV_LEGEND_PX[1]] = False  # the legend's own red text
    assert lidar_pixels.sum() <= 4  # one point, dilated to 2x2; the point outside the field of view is not drawn


def test_bad_view_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="range_m"):
        birds_eye_view(np.zeros((0, 3)), np.zeros((0, 3)), INTRINSICS, range_m=0.0)


@settings(max_examples=80, deadline=None)
@given(low=st.floats(-1e4, 1e4), span=st.floats(1e-6, 1e4))
def test_ticks_are_round_evenly_spaced_and_inside(low: float, span: float) -> None:
    assume(span >= 1e-3 * max(1.0, abs(low)))  # plot ranges: the scale plot pads by 5 % of the mean at least
    high = low + span
    ticks = nice_ticks(low, high)
    assert len(ticks) >= 2
    tolerance = 1e-9 * max(1.0, abs(low), abs(high))
    assert all(low - tolerance <= t <= high + tolerance for t in ticks)
    if len(ticks) >= 2:
        steps = np.diff(ticks)
        np.testing.assert_allclose(steps, steps[0], rtol=1e-6)
        mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
        assert min(abs(mantissa - m) for m in (1.0, 2.0, 5.0, 10.0)) < 1e-6


@settings(max_examples=80, deadline=None)
@given(low=st.floats(-1e4, 1e4), span=st.floats(1e-6, 1e4))
def test_tick_labels_tell_neighbours_apart_and_read_back_as_the_ticks(low: float, span: float) -> None:
    assume(span >= 1e-3 * max(1.0, abs(low)))
    ticks = nice_ticks(low, low + span)
    labels = tick_labels(ticks)
    assert len(set(labels)) == len(ticks)
    step = ticks[1] - ticks[0]
    for tick, label in zip(ticks, labels, strict=True):
        assert float(label) == pytest.approx(tick, abs=step * 1e-6)


def test_narrow_scale_ticks_keep_their_decimals() -> None:
    ticks = nice_ticks(1.003, 1.013)
    assert tick_labels(ticks) == ["1.004", "1.006", "1.008", "1.010", "1.012"]
    assert tick_labels([0.0, 5.0, 10.0]) == ["0", "5", "10"]
    assert tick_labels([2.5]) == ["2.5"]


def test_scale_plot_draws_health_markers_and_checks_lengths() -> None:
    plot = scale_plot([0.0, 0.1, 0.2], [1.0, 1.1, 1.05], ["ok", "degraded", "lost"], [1.0, 1.05, 1.1])
    assert plot.shape == (PLOT_HEIGHT_PX, PLOT_WIDTH_PX, 3) and plot.dtype == np.uint8
    for colour in HEALTH_RGB.values():
        assert np.all(plot == np.array(colour), axis=2).any()
    assert np.all(plot == np.array((255, 220, 60)), axis=2).any()  # the dashed truth
    with pytest.raises(ConfigError, match="differ in length"):
        scale_plot([0.0], [1.0, 2.0], ["ok"])
    empty = scale_plot([], [], [], width=200, height=100)
    assert empty.shape == (100, 200, 3)
