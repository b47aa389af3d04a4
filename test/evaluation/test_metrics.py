from __future__ import annotations

import math

import numpy as np
import pytest

from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.evaluation.metrics import (
    NAN_METRICS,
    compute_metrics,
    eigen_crop_mask_nyu,
    garg_crop_mask,
    mean_metrics,
    median_scale,
)


def test_hand_computed_case() -> None:
    gt = np.array([[2.0, 4.0], [10.0, np.nan]])
    pred = np.array([[1.0, 5.0], [10.0, 3.0]])
    m = compute_metrics(pred, gt)
    # |1-2|/2 = 0.5, |5-4|/4 = 0.25, 0  -> mean 0.25
    assert m.abs_rel == pytest.approx(0.25)
    # (1/2 + 1/4 + 0) / 3
    assert m.sq_rel == pytest.approx(0.25)
    assert m.rmse == pytest.approx(math.sqrt(2 / 3))
    assert m.rmse_log == pytest.approx(math.sqrt((math.log(0.5) ** 2 + math.log(1.25) ** 2) / 3))
    assert m.log10 == pytest.approx((abs(math.log10(0.5)) + math.log10(1.25)) / 3)
    # ratios 2, 1.25, 1 -> only "1" is < 1.25; 1.25 and 1 are < 1.5625; all three < 1.953125 ... 2 is not
    assert m.a1 == pytest.approx(1 / 3)
    assert m.a2 == pytest.approx(2 / 3)
    assert m.a3 == pytest.approx(2 / 3)
    # KITTI depth benchmark / ZoeDepth SILog: 100 sqrt(mean g² - (mean g)²), g = ln pred - ln gt
    g = np.array([math.log(0.5), math.log(1.25), 0.0])
    assert m.silog == pytest.approx(100 * math.sqrt(np.mean(g**2) - np.mean(g) ** 2))
    # devkit iRMSE in 1/km: 1000/1 - 1000/2 = 500, 1000/5 - 1000/4 = -50, 0
    assert m.irmse == pytest.approx(math.sqrt((500**2 + 50**2) / 3))
    assert np.isnan(NAN_METRICS.silog) and np.isnan(NAN_METRICS.irmse)


def test_silog_ignores_a_global_scale_and_irmse_is_per_kilometre() -> None:
    rng = np.random.default_rng(2)
    gt = rng.uniform(2, 30, size=(30, 40))  # x 1.3 stays below the 80 m clip
    pred = gt * np.exp(rng.normal(0, 0.1, gt.shape))
    m, scaled = compute_metrics(pred, gt), compute_metrics(pred * 1.3, gt)
    assert scaled.silog == pytest.approx(m.silog) and scaled.abs_rel != pytest.approx(m.abs_rel)
    assert compute_metrics(np.full((2, 2), 500.0), np.full((2, 2), 250.0), max_depth_m=1000.0).irmse == (
        pytest.approx(2.0)  # 1 / 0.5 km - 1 / 0.25 km = -2 per km
    )
    mean = mean_metrics([m, scaled])
    assert mean.silog == pytest.approx(m.silog) and mean.irmse == pytest.approx((m.irmse + scaled.irmse) / 2)


def test_median_scaling_removes_a_global_scale() -> None:
    rng = np.random.default_rng(1)
    gt = rng.uniform(2, 50, size=(40, 60))
    pred = gt / 7.3
    assert compute_metrics(pred, gt).abs_rel > 0.8
    assert compute_metrics(pred, gt, median_scaling=True).abs_rel == pytest.approx(0.0, abs=1e-12)
    assert median_scale(pred, gt, np.ones_like(gt, dtype=bool)) == pytest.approx(7.3)


def test_median_scaling_pairs_ground_truth_and_prediction_pixels() -> None:
    """monodepth2 takes both medians over the same pixels: a prediction with no value (NaN, or a sky head's +Inf) at
    some GT pixels leaves those out of the GT median too (else the far GT there biased it: 9.625 instead of 7)."""
    gt = np.arange(1.0, 11.0).reshape(2, 5)  # 1 .. 10 m
    pred = gt / 7.0
    pred[1, 2:] = [np.nan, np.inf, -1.0]  # no usable prediction at the three farthest GT pixels (8, 9, 10 m)
    mask = np.ones_like(gt, dtype=bool)
    assert median_scale(pred, gt, mask) == pytest.approx(7.0)  # median(1..7) / median((1..7) / 7)
    m = compute_metrics(pred, gt, median_scaling=True)
    far = np.array([8.0, 9.0, 10.0])  # NaN -> 1e-3 m, +Inf -> the 80 m cap, -1 -> 1e-3 m (BTS); exact elsewhere
    errors = np.concatenate([np.zeros(7), np.abs([1e-3, 80.0, 1e-3] - far) / far])
    assert m.abs_rel == pytest.approx(errors.mean())


def test_range_and_crop() -> None:
    gt = np.full((375, 1242), 90.0)
    gt[200, 600] = 10.0
    pred = np.full_like(gt, 10.0)
    m = compute_metrics(pred, gt, max_depth_m=80.0, crop=garg_crop_mask(375, 1242))
    assert m.abs_rel == 0.0 and m.count == 1
    assert garg_crop_mask(375, 1242)[:150].sum() == 0
    assert eigen_crop_mask_nyu(480, 640).sum() == (471 - 45) * (601 - 41)


def test_no_valid_pixels_is_not_averaged_in() -> None:
    gt = np.full((4, 4), np.nan)
    assert compute_metrics(np.ones((4, 4)), gt) == NAN_METRICS
    good = compute_metrics(np.full((4, 4), 2.0), np.full((4, 4), 1.0))
    mean = mean_metrics([good, NAN_METRICS, good])
    assert mean.count == 2 and mean.abs_rel == pytest.approx(1.0)
    assert mean_metrics([NAN_METRICS]).count == 0
    with pytest.raises(ShapeError):
        compute_metrics(np.ones((2, 2)), np.ones((3, 3)))


def test_garg_crop_of_the_kb_crop() -> None:
    """ZoeDepth's KITTI pixels: Garg fractions of the bottom-centre 352×1216 (rows 23+143:23+349, cols 13+43:13+1172
    of 375×1242); a frame already cut to 352×1216 gets the plain Garg crop; a smaller frame has no KB crop."""
    from mono_depth_ros.evaluation.metrics import garg_kb_crop_mask

    rows, cols = np.nonzero(garg_kb_crop_mask(375, 1242))
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (166, 372, 56, 1185)
    np.testing.assert_array_equal(garg_kb_crop_mask(352, 1216), garg_crop_mask(352, 1216))
    with pytest.raises(ShapeError, match=r"352x1216.*192x640"):
        garg_kb_crop_mask(192, 640)
