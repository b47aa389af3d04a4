from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.scale.temporal import FilterConfig, LogScaleFilter, UpdateOutcome

STEP_NS = 100_000_000


def _settled(value: float = 0.0, frames: int = 30) -> LogScaleFilter:
    f = LogScaleFilter()
    for i in range(frames):
        f.update(value, 0.01, i * STEP_NS)
    return f


def test_first_measurement_initialises_then_measurements_average() -> None:
    f = LogScaleFilter()
    assert not f.initialised and math.isnan(f.value) and f.sigma == math.inf
    assert f.update(1.0, 0.01, 0).outcome is UpdateOutcome.INITIALISED
    assert f.value == 1.0 and f.sigma == pytest.approx(0.05)  # initial sigma floor
    update = f.update(1.06, 0.01, STEP_NS)
    assert update.outcome is UpdateOutcome.ACCEPTED
    assert 1.0 < f.value < 1.06
    assert f.last_update_ns == STEP_NS


def test_single_outlier_is_rejected_and_leaves_the_state_unchanged() -> None:
    f = _settled()
    value, sigma = f.value, f.sigma
    update = f.update(math.log(1.5), 0.01, 30 * STEP_NS)
    assert update.outcome is UpdateOutcome.REJECTED and not update.used
    assert update.normalised_innovation > f.config.gate_sigma
    assert f.value == value and f.pending_rejections == 1
    assert f.sigma > sigma  # only the prediction step happened
    assert f.update(0.0, 0.01, 31 * STEP_NS).used
    assert f.pending_rejections == 0


def test_consistent_jump_reinitialises_after_three_frames() -> None:
    f = _settled()
    outcomes = [f.update(math.log(1.3) + 0.01 * i, 0.01, (30 + i) * STEP_NS).outcome for i in range(3)]
    assert outcomes == [UpdateOutcome.REJECTED, UpdateOutcome.REJECTED, UpdateOutcome.REINITIALISED]
    assert f.value == pytest.approx(math.log(1.3) + 0.01)


def test_inconsistent_rejections_do_not_reinitialise() -> None:
    f = _settled()
    for i, jump in enumerate((0.5, -0.5, 0.5, -0.5)):
        assert f.update(jump, 0.01, (30 + i) * STEP_NS).outcome is UpdateOutcome.REJECTED
    assert f.value == pytest.approx(0.0, abs=1e-9)


def test_a_scale_that_keeps_changing_faster_than_the_gate_is_followed() -> None:
    # A zoom or a drifting model: +8 % per frame. Three rejections span 16 % > reinit_spread, so before the trend
    # rule every measurement was rejected for as long as the change went on (the filter stayed at its frame-2 value).
    f = LogScaleFilter()
    step = math.log(1.08)
    outcomes = [f.update(i * step, 0.01, i * STEP_NS).outcome for i in range(30)]
    assert outcomes[3:6] == [UpdateOutcome.REJECTED, UpdateOutcome.REJECTED, UpdateOutcome.REINITIALISED]
    assert f.value == pytest.approx(29 * step, abs=4 * step)  # within 4 frames of the change (was 26 behind)
    assert outcomes.count(UpdateOutcome.REINITIALISED) >= 5 and outcomes.count(UpdateOutcome.ACCEPTED) >= 10


def test_rejections_moving_one_way_in_large_steps_or_across_the_estimate_do_not_restart() -> None:
    for values in ((0.3, 0.6, 0.9), (-0.2, 0.3, 0.3), (0.5, 0.4, 0.55, 0.3)):  # steps > 10 %, crossing, or not one way
        f = _settled()
        assert [f.update(v, 0.01, (30 + i) * STEP_NS).outcome for i, v in enumerate(values)] == [
            UpdateOutcome.REJECTED
        ] * len(values)


def test_small_real_change_is_followed_within_a_few_frames() -> None:
    f = _settled()
    target = math.log(1.08)  # inside the gate: tracked by the Kalman gain
    for i in range(8):
        f.update(target, 0.01, (30 + i) * STEP_NS)
    assert abs(f.value - target) < 0.01


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 10_000_000_000))
def test_variance_grows_with_time_without_measurements(dt_ns: int) -> None:
    f = _settled()
    before = f.sigma**2
    f.predict(30 * STEP_NS + dt_ns)
    assert f.sigma**2 == pytest.approx(before + f.config.process_noise_per_s * (dt_ns + STEP_NS) * 1e-9)


def test_out_of_order_stamp_adds_no_noise_and_reset_forgets() -> None:
    f = _settled()
    variance = f.sigma**2
    f.predict(0)
    assert f.sigma**2 == variance
    f.reset()
    assert not f.initialised and f.last_update_ns is None
    with pytest.raises(ConfigError):
        FilterConfig(reinit_after=0)
