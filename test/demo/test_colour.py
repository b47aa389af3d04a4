"""Depth / error colours keep REP 117 meanings visible; colour bars and banners have the documented sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.demo.colour import (
    BANNER_HEIGHT,
    BAR_STRIP_COLUMNS,
    BAR_WIDTH,
    DEPTH_LUT,
    FAR_RGB,
    NAN_RGB,
    NEAR_RGB,
    banner,
    bar_strip_rows,
    colourise_depth,
    colourise_error,
    depth_colour_bar,
    depth_to_index,
    error_colour_bar,
    percent_label,
    with_banner,
)


def test_invalid_depths_get_their_own_colours() -> None:
    depth = np.array([[np.nan, np.inf, -np.inf, 1.0, 80.0]], dtype=np.float32)
    rgb = colourise_depth(depth, 1.0, 80.0)
    assert rgb.shape == (1, 5, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == NAN_RGB and tuple(rgb[0, 1]) == FAR_RGB and tuple(rgb[0, 2]) == NEAR_RGB
    assert tuple(rgb[0, 3]) == tuple(DEPTH_LUT[0]) and tuple(rgb[0, 4]) == tuple(DEPTH_LUT[255])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.01, 1000.0), min_size=2, max_size=30))
def test_colour_index_grows_with_depth_and_stays_in_range(values: list[float]) -> None:
    depth = np.sort(np.asarray(values, dtype=np.float64))
    index = depth_to_index(depth, 0.5, 100.0).astype(int)
    assert np.all(np.diff(index) >= 0)
    assert index[depth <= 0.5].max(initial=0) == 0 and index[depth >= 100.0].min(initial=255) == 255


def test_bad_colour_ranges_are_refused() -> None:
    with pytest.raises(ConfigError, match="0 < min_m"):
        colourise_depth(np.ones((2, 2)), 5.0, 5.0)
    with pytest.raises(ConfigError, match="limit"):
        colourise_error(np.zeros((2, 2)), 0.0)


def test_error_colours_are_diverging_and_nan_shows_the_dimmed_background() -> None:
    error = np.array([[-1.0, 0.0, 1.0, np.nan]])
    background = np.full((1, 4, 3), 240, dtype=np.uint8)
    rgb = colourise_error(error, 0.25, background).astype(int)
    too_near, exact, too_far, missing = rgb[0]
    assert too_near[2] > too_near[0] + 100  # blue
    assert too_far[0] > too_far[2] + 100  # red
    assert exact.min() > 230  # white
    assert tuple(missing) == (80, 80, 80)  # 240 // 3, grey


@pytest.mark.parametrize("height", [20, 64, 375])
def test_colour_bars_have_the_documented_size_and_far_at_the_top(height: int) -> None:
    bar = depth_colour_bar(height, 1.0, 80.0)
    assert bar.shape == (height, BAR_WIDTH, 3) and bar.dtype == np.uint8
    top, bottom = bar_strip_rows(height)
    column = bar[:, BAR_STRIP_COLUMNS[0]]
    assert np.array_equal(column[top], DEPTH_LUT[255]) and np.array_equal(column[bottom - 1], DEPTH_LUT[0])
    assert 0 <= top < bottom <= height
    assert error_colour_bar(height, 0.25).shape == (height, BAR_WIDTH, 3)


def test_banners_fit_any_width_and_stack_on_top() -> None:
    for width in (40, 96, 640):
        strip = banner(width, "a long title " * 10, "oracle prediction, not a network", warn=True)
        assert strip.shape == (BANNER_HEIGHT, width, 3)
    image = np.zeros((10, 30, 3), dtype=np.uint8)
    stacked = with_banner(image, "t", "s", warn=False)
    assert stacked.shape == (BANNER_HEIGHT + 10, 30, 3)
    assert np.array_equal(stacked[BANNER_HEIGHT:], image)
    warned = banner(300, "t", "source", warn=True).astype(int)
    assert (warned[20:, :, 0] - warned[20:, :, 2] > 100).any()  # the oracle line is drawn in red


def test_error_ticks_read_as_the_error_they_mark() -> None:
    # the bar's quarter ticks of a ±25 % scale are ±12.5 %, not a rounded ±12 %
    assert [percent_label(v) for v in (0.25, 0.125, 0.0, -0.125, -0.25)] == ["+25%", "+12.5%", "0", "-12.5%", "-25%"]
