"""adapters.log_throttle: one message per reason per period, the held-back ones counted in the next."""

from __future__ import annotations

import threading

import pytest

from mono_depth_ros.adapters.log_throttle import ReasonThrottle


def test_each_reason_has_its_own_period_and_the_next_message_counts_the_held_back() -> None:
    now = [0.0]
    throttle = ReasonThrottle(2.0, lambda: now[0])
    assert throttle.allow("EncodingError") == ""
    assert throttle.allow("CalibrationError") == ""  # another reason is not held back by the first
    assert throttle.allow("EncodingError") is None
    now[0] = 1.9
    assert throttle.allow("EncodingError") is None
    now[0] = 2.0
    assert throttle.allow("EncodingError") == " (2 more since the last)"
    assert throttle.allow("CalibrationError") == ""  # 2 s after its last: through, nothing held back
    assert throttle.allow("EncodingError") is None


def test_the_kind_of_problem_is_the_reason_and_the_message_without_its_numbers() -> None:
    throttle = ReasonThrottle(2.0, lambda: 0.0)
    assert throttle.allow("TransformError", "image stamped -5.000000 s: a stamp before 0 is no ROS time") == ""
    assert throttle.allow("TransformError", "header.frame_id is empty") == ""  # same reason, another problem
    assert throttle.allow("TransformError", "image stamped -7.250000 s: a stamp before 0 is no ROS time") is None


def test_concurrent_reporters_let_one_message_through_per_period() -> None:
    throttle = ReasonThrottle(60.0)
    allowed: list[str | None] = []
    threads = [threading.Thread(target=lambda: allowed.append(throttle.allow("TransformError"))) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count("") == 1 and allowed.count(None) == 15


def test_a_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="period"):
        ReasonThrottle(0.0)
