from __future__ import annotations

import numpy as np
import pytest

from mono_depth_ros.core.depth_kind import SCALE_KINDS
from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.evaluation.scale import (
    HiddenMap,
    PerturbationConfig,
    apply_map,
    as_depth,
    beam_rows,
    beam_selection,
    depth_metrics,
    elevation_bins,
    least_squares_map,
    low_frequency_field,
    median_scaling,
    perturb_prediction,
)
from mono_depth_ros.models.spec import OutputKind

DEPTH = np.random.default_rng(0).uniform(3.0, 70.0, size=(60, 90)).astype(np.float32)
EXACT = PerturbationConfig(low_freq_sigma=0.0, noise_sigma=0.0, outlier_fraction=0.0, frame_scale_jitter=0.0)


def test_low_frequency_field_is_smooth_with_the_requested_std() -> None:
    field = low_frequency_field(120, 400, (3, 8), 0.15, np.random.default_rng(1))
    assert field.shape == (120, 400) and field.dtype == np.float32
    assert field.std() == pytest.approx(0.15, rel=1e-3) and abs(field.mean()) < 1e-6
    assert np.abs(np.diff(field, axis=1)).max() < 0.05  # no pixel-to-pixel jumps


@pytest.mark.parametrize("kind", SCALE_KINDS)
def test_perturbation_hides_a_map_that_recovers_the_depth(kind: OutputKind) -> None:
    prediction, hidden = perturb_prediction(DEPTH, kind, np.random.default_rng(2), EXACT, base_scale=2.5)
    np.testing.assert_allclose(apply_map(prediction, kind, hidden), DEPTH, rtol=1e-4)
    if kind is OutputKind.DEPTH_UP_TO_SCALE:
        assert hidden.scale == pytest.approx(2.5)
    if kind.has_shift:  # a shift is hidden and the least-squares map finds it again
        assert abs(hidden.shift) > 0
        best = least_squares_map(prediction, DEPTH, kind)
        assert (best.scale, best.shift) == pytest.approx((hidden.scale, hidden.shift), rel=1e-3)
    noisy, _ = perturb_prediction(DEPTH, kind, np.random.default_rng(2))
    assert not np.allclose(noisy, prediction)


def test_default_perturbation_has_the_stated_error_size() -> None:
    prediction, hidden = perturb_prediction(DEPTH, OutputKind.DEPTH_UP_TO_SCALE, np.random.default_rng(3))
    log_error = np.log(apply_map(prediction, OutputKind.DEPTH_UP_TO_SCALE, hidden) / DEPTH)
    assert 0.12 < np.median(np.abs(log_error - np.median(log_error))) / 0.6745 < 0.2


def test_elevation_bins_and_beam_selection() -> None:
    elevations = np.radians([-24.8, -11.5, 1.9, 5.0])
    points = np.stack([10 * np.cos(elevations), np.zeros(4), 10 * np.sin(elevations)], axis=1)
    assert elevation_bins(points).tolist() == [0, 31, 63, -1]
    assert beam_selection(64).tolist() == list(range(64))
    assert beam_selection(4).tolist() == [8, 24, 40, 56]
    assert beam_selection(1).tolist() == [32]
    with pytest.raises(ShapeError):
        beam_selection(3)
    rows = beam_rows(4, fy=700.0, cy=180.0, height=375)
    assert rows.tolist() == sorted(rows.tolist(), reverse=True) and len(rows) == 3  # -21° is below the image


def test_metrics_by_hand() -> None:
    gt = np.array([10.0, 20.0, 40.0, np.nan, 100.0])
    pred = np.array([11.0, 20.0, 20.0, 5.0, 50.0])
    m = depth_metrics(pred, gt)
    assert m.count == 1  # one frame; NaN and >= 80 m truth are left out (the means below are over 3 pixels)
    assert m.abs_rel == pytest.approx((0.1 + 0.0 + 0.5) / 3)
    assert m.rmse == pytest.approx(np.sqrt((1 + 0 + 400) / 3))
    assert m.a1 == pytest.approx(2 / 3)  # the one DepthMetrics record: a1 = δ < 1.25
    invalid = depth_metrics(np.array([np.nan]), np.array([40.0]))  # no prediction -> 1e-3 m (BTS / ZoeDepth)
    assert invalid.abs_rel == pytest.approx((40.0 - 1e-3) / 40.0)
    assert depth_metrics(np.array([np.inf]), np.array([40.0])).abs_rel == pytest.approx(1.0)  # too far -> 80 m


def test_baselines() -> None:
    gt = DEPTH.ravel().astype(np.float64)
    assert median_scaling(gt / 3.0, gt) == pytest.approx(3.0)
    assert least_squares_map(gt / 3.0, gt, OutputKind.DEPTH_UP_TO_SCALE).scale == pytest.approx(3.0)
    disparity = (1.0 / gt - 0.01) / 0.2
    best = least_squares_map(disparity, gt, OutputKind.RELATIVE_INVERSE)
    assert (best.scale, best.shift) == pytest.approx((0.2, 0.01))
    assert np.isposinf(as_depth(np.array([-1.0, 0.0]), OutputKind.RELATIVE_INVERSE)).all()  # beyond infinity: far
    normalised = (gt - 4.0) / 60.0  # an affine_depth output (Marigold): depth = 60 · prediction + 4 m
    best = least_squares_map(normalised, gt, OutputKind.AFFINE_DEPTH)
    assert (best.scale, best.shift) == pytest.approx((60.0, 4.0))
    np.testing.assert_allclose(apply_map(normalised, OutputKind.AFFINE_DEPTH, best), gt, rtol=1e-9)
    assert np.isposinf(apply_map(np.array([-1.0]), OutputKind.RELATIVE_INVERSE, HiddenMap(1.0, 0.0))).all()


def test_affine_depth_hides_a_shift_in_depth_and_its_non_positive_values_are_no_depth() -> None:
    """An affine_depth prediction is ``(depth - shift) / scale``: not proportional to the depth, and its values <= 0
    (the nearest pixels when the shift is positive) read as no depth without alignment, or after a map that leaves
    them at or below 0 m."""
    kind = OutputKind.AFFINE_DEPTH
    prediction, hidden = perturb_prediction(DEPTH, kind, np.random.default_rng(5), EXACT, base_scale=2.5)
    ratio = DEPTH / prediction
    assert np.ptp(ratio[np.isfinite(ratio)]) > 0.1  # a scale alone does not recover it
    np.testing.assert_allclose(hidden.scale * prediction.astype(np.float64) + hidden.shift, DEPTH, rtol=1e-4)
    values = np.array([-0.5, 0.0, 2.0])
    assert np.isnan(as_depth(values, kind)[:2]).all() and as_depth(values, kind)[2] == 2.0
    mapped = apply_map(values, kind, HiddenMap(2.0, 1.0))
    assert np.isnan(mapped[0]) and mapped[1:].tolist() == [1.0, 5.0]
