"""The oracle: an exact affine truth when its errors are off, bounded errors when on, deterministic from the seed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.demo.oracle import ORACLE_LABEL, OracleConfig, OracleStream

EXACT = OracleConfig(smooth_error=0.0, pixel_noise=0.0, additive_noise=0.0, blur_px=0.0)


def _depth(seed: int, height: int = 24, width: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    depth = rng.uniform(2.0, 60.0, (height, width)).astype(np.float32)
    depth[:3] = np.inf  # sky rows
    return depth


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), frames=st.integers(1, 6))
def test_without_errors_the_true_scale_and_shift_invert_the_prediction(seed: int, frames: int) -> None:
    stream = OracleStream(seed, EXACT)
    depth = _depth(seed)
    for _ in range(frames):
        predicted = stream.predict(depth)
    inverse = predicted.true_scale * predicted.values.astype(np.float64) + predicted.true_shift
    finite = np.isfinite(depth)
    np.testing.assert_allclose(inverse[finite], 1.0 / depth[finite], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(inverse[~finite], 0.0, atol=1e-6)  # sky: inverse depth 0
    assert predicted.true_scale > 0 and predicted.true_shift < 0


def test_the_scale_and_shift_drift_from_frame_to_frame_around_the_configured_means() -> None:
    stream = OracleStream(3)
    affines = [stream.affine(i) for i in range(24)]
    scales = np.array([a for a, _ in affines])
    shifts = np.array([b for _, b in affines])
    config = stream.config
    assert scales.max() / scales.min() > 1.3  # visibly drifting (drift 0.2 → e^±0.2)
    assert np.all(scales <= config.scale * np.exp(config.drift) + 1e-9)
    assert np.all((shifts >= config.shift * (1 - config.drift) - 1e-9) & (shifts <= config.shift * (1 + config.drift)))


def test_default_errors_are_smooth_and_small_but_not_zero() -> None:
    rows = np.linspace(60.0, 3.0, 64, dtype=np.float32)[:, None]  # a road-like ramp: far at the top
    depth = np.repeat(rows, 96, axis=1)
    predicted = OracleStream(1).predict(depth)
    inverse = predicted.true_scale * predicted.values.astype(np.float64) + predicted.true_shift
    finite = np.isfinite(depth)
    relative = depth[finite] * inverse[finite] - 1.0
    assert predicted.values.dtype == np.float32 and np.isfinite(predicted.values).all()
    assert 0.005 < np.median(np.abs(relative)) < 0.15


def test_same_seed_same_predictions_other_seed_others() -> None:
    depth = _depth(2)
    first = [OracleStream(7).predict(depth).values for _ in range(2)]
    again = OracleStream(7).predict(depth).values
    other = OracleStream(8).predict(depth).values
    np.testing.assert_array_equal(first[0], again)
    assert not np.array_equal(first[0], other)


def test_bad_settings_and_shapes_are_refused() -> None:
    with pytest.raises(ConfigError, match="scale > 0"):
        OracleConfig(scale=0.0)
    with pytest.raises(ConfigError, match="smooth_cells"):
        OracleConfig(smooth_cells=(0, 4))
    with pytest.raises(ShapeError, match=r"\(H, W\)"):
        OracleStream(0).predict(np.ones((2, 3, 4), dtype=np.float32))
    assert "not a network" in ORACLE_LABEL
