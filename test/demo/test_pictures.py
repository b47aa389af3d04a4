"""Picture helpers: the error shown matches the scoring rules; sparse references stay visible."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mono_depth_ros.demo.pictures import relative_error, spread_sparse, write_png, zoom_pixels


def test_relative_error_is_signed_and_nan_where_either_side_is_missing() -> None:
    gt = np.array([[10.0, 10.0, np.nan, 10.0, 100.0]], dtype=np.float32)
    depth = np.array([[12.0, 8.0, 5.0, np.nan, 90.0]], dtype=np.float32)
    error = relative_error(depth, gt, 80.0)
    np.testing.assert_allclose(error[0, :2], [0.2, -0.2], rtol=1e-6)
    assert np.isnan(error[0, 2:]).all()  # no reference, no depth, reference beyond the range
    beyond = relative_error(np.array([[np.inf]], np.float32), np.array([[40.0]], np.float32), 80.0)
    assert beyond[0, 0] == pytest.approx(1.0)  # +Inf counts as the far limit, as in scoring


def test_spread_sparse_grows_dots_but_keeps_far_pixels_empty() -> None:
    values = np.full((9, 9), np.nan, dtype=np.float32)
    values[4, 4] = 0.3
    spread = spread_sparse(values, 1.5)
    assert spread[4, 4] == pytest.approx(0.3) and spread[3, 3] == pytest.approx(0.3)  # diagonal: 1.41 px
    assert np.isnan(spread[4, 6]) and np.isfinite(spread).sum() == 9
    assert np.isnan(spread_sparse(np.full((3, 3), np.nan), 2.0)).all()


def test_png_round_trip_keeps_rgb_order(tmp_path: Path) -> None:
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0] = 200  # red
    path = write_png(tmp_path / "red.png", rgb)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr.shape == (4, 5, 3) and (bgr[..., 2] == 200).all() and (bgr[..., 0] == 0).all()


def test_zoom_pixels_makes_blocks_without_blending() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    zoomed = zoom_pixels(image, 2)
    assert zoomed.shape == (4, 6, 3)
    np.testing.assert_array_equal(zoomed[::2, ::2], image)
    np.testing.assert_array_equal(zoomed[1::2, 1::2], image)
    assert zoom_pixels(image, 1) is image
