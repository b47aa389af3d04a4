"""Scoring counts REP 117 values as documented; the LiDAR baseline is the scan itself, filled."""

from __future__ import annotations

import numpy as np
import pytest

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.geometry import backproject_depth
from mono_depth_ros.demo.evaluate import densify_nearest, lidar_only_depth, mean_row, resize_nearest, score_frame
from mono_depth_ros.demo.pictures import relative_error
from mono_depth_ros.pipeline import _downscale_depth

INTRINSICS = PinholeIntrinsics(40.0, 40.0, 15.5, 11.5, width=32, height=24)


def test_a_perfect_depth_scores_zero_error_and_full_coverage() -> None:
    gt = np.linspace(2.0, 30.0, 32 * 24, dtype=np.float32).reshape(24, 32)
    metrics, reference, covered = score_frame(gt.copy(), gt, 0.1, 80.0)
    assert metrics.abs_rel == pytest.approx(0.0, abs=1e-7) and metrics.a1 == 1.0
    assert reference == covered == gt.size


def test_nan_is_not_scored_but_costs_coverage_and_inf_is_the_far_limit() -> None:
    gt = np.full((4, 4), 10.0, dtype=np.float32)
    gt[0, 0] = np.nan  # no reference here
    depth = gt.copy()
    depth[1, :] = np.nan
    metrics, reference, covered = score_frame(depth, gt, 0.1, 80.0)
    assert metrics.abs_rel == pytest.approx(0.0, abs=1e-7)
    assert (reference, covered) == (15, 11)
    depth[2, 0] = np.inf  # beyond range: scored as 80 m against 10 m
    metrics, _, _ = score_frame(depth, gt, 0.1, 80.0)
    assert metrics.abs_rel == pytest.approx(7.0 / 11.0, rel=1e-6)


def test_a_smaller_published_depth_is_scored_against_the_subsampled_truth() -> None:
    gt = np.arange(1, 65, dtype=np.float32).reshape(8, 8)
    half = resize_nearest(gt, 4, 4)
    assert half.shape == (4, 4) and set(half.ravel()) <= set(gt.ravel())
    metrics, reference, _ = score_frame(half, gt, 0.1, 80.0)
    assert reference == 16 and metrics.abs_rel == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_the_truth_is_taken_at_the_camera_pixel_each_published_pixel_is(factor: int) -> None:
    # output.downscale publishes camera pixel rint((i + 0.5) * factor - 0.5) as pixel i (one pixel right and down of
    # a plain nearest resize for odd factors): a published depth equal to the truth there scores zero error
    gt = np.arange(1, 12 * 24 + 1, dtype=np.float32).reshape(12, 24)
    published = _downscale_depth(gt, factor, 24 // factor, 12 // factor)
    metrics, reference, covered = score_frame(published, gt, 0.1, 1000.0)
    assert reference == covered == published.size
    assert metrics.abs_rel == pytest.approx(0.0, abs=1e-7)
    assert np.isnan(relative_error(published, gt, 1000.0)).sum() == 0
    assert np.abs(relative_error(published, gt, 1000.0)).max() == pytest.approx(0.0, abs=1e-7)


def test_rows_average_frames_and_pool_coverage() -> None:
    gt = np.full((2, 2), 5.0, dtype=np.float32)
    half_missing = gt.copy()
    half_missing[0] = np.nan
    row = mean_row("x", [score_frame(gt, gt, 0.1, 80.0), score_frame(half_missing, gt, 0.1, 80.0)])
    assert row.metrics.count == 2 and row.coverage == pytest.approx(6 / 8)


def test_nearest_fill_keeps_measured_pixels_and_fills_the_rest() -> None:
    sparse = np.full((5, 5), np.nan, dtype=np.float32)
    sparse[0, 0], sparse[4, 4] = 2.0, 9.0
    dense = densify_nearest(sparse)
    assert dense[0, 0] == 2.0 and dense[4, 4] == 9.0 and dense[1, 0] == 2.0 and dense[4, 3] == 9.0
    assert np.isnan(densify_nearest(np.full((3, 3), np.nan))).all()


def test_the_lidar_baseline_reproduces_a_plane_the_scan_samples() -> None:
    depth = np.full((24, 32), 7.0, dtype=np.float32)
    points = backproject_depth(depth, INTRINSICS)[::3, ::3].reshape(-1, 3)
    baseline = lidar_only_depth(points, INTRINSICS)
    np.testing.assert_allclose(baseline, 7.0, rtol=1e-5)
