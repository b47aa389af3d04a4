"""Tests for training/distill_calibration.py: the fit, its fallback, and folding it into the unet's depth range."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.errors import ScaleRecoveryError
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.unet import disp_to_depth
from mono_depth_ros.training.distillation.calibration import Calibration, fit_calibration, fold_calibration
from test.models.tiny_models import tiny_unet


@settings(max_examples=40, deadline=None)
@given(scale=st.floats(0.05, 20.0), shift=st.floats(-0.01, 0.5), seed=st.integers(0, 100))
def test_exact_affine_is_recovered(scale: float, shift: float, seed: int) -> None:
    assume(scale * 0.02 + shift > 1e-3)  # an admissible map: the calibrated range stays positive (else: scale only)
    x = np.random.default_rng(seed).uniform(0.02, 2.0, 500)
    y = scale * x + shift
    y[::50] = np.nan
    calibration = fit_calibration(x, y, min_inverse=0.02)
    assert calibration.scale == pytest.approx(scale, rel=1e-6)
    assert calibration.shift == pytest.approx(shift, abs=1e-6 * max(1.0, scale))
    assert not calibration.scale_only and calibration.pixels == 490


def test_outliers_are_trimmed() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.02, 2.0, 2000)
    y = 3.0 * x + 0.1 + rng.normal(0, 0.001, x.size)
    y[:40] = 50.0  # 2 % wild targets
    calibration = fit_calibration(x, y, min_inverse=0.02)
    assert calibration.scale == pytest.approx(3.0, rel=1e-3) and calibration.pixels < 1970


def test_negative_range_falls_back_to_scale_only_and_errors() -> None:
    x = np.linspace(0.01, 1.0, 100)
    calibration = fit_calibration(2.0 * x - 0.5, x, min_inverse=0.01)  # target = 0.5 x' + 0.25: fine
    assert not calibration.scale_only
    shifted = fit_calibration(x, 2.0 * x - 0.5, min_inverse=0.01)  # s / max + t < 0 -> no positive range
    assert shifted.scale_only and shifted.shift == 0.0 and shifted.scale > 0
    with pytest.raises(ScaleRecoveryError, match="got 1"):
        fit_calibration(np.array([1.0, np.nan]), np.array([1.0, 2.0]), 0.01, "lidar")
    with pytest.raises(ScaleRecoveryError, match="non-positive scale"):
        fit_calibration(x, -x, 0.01)


def test_folded_spec_outputs_the_calibrated_depth() -> None:
    network, spec = tiny_unet(3)
    calibration = Calibration(scale=1.7, shift=0.05, target="teacher", pixels=1)
    folded = fold_calibration(spec, calibration)
    calibrated = build_model(folded).eval()
    calibrated.load_state_dict(network.state_dict())  # same weights, other range
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        before = network(x)
        after = calibrated(x)
    inverse, _ = disp_to_depth(before.disparities[0], spec.min_depth_m, spec.max_depth_m)
    expected = 1.0 / (calibration.scale * inverse + calibration.shift)
    torch.testing.assert_close(after.depth, expected, rtol=1e-5, atol=1e-6)
    assert folded.max_depth_m == pytest.approx(1.0 / (1.7 / spec.max_depth_m + 0.05))
    assert calibration.as_dict()["target"] == "teacher"
