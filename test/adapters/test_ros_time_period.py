"""RosTimePeriod: one call per period of ROS time gone forward, across a bag's ``--loop``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mono_depth_ros.adapters.ros_time_period import RosTimePeriod
from mono_depth_ros.core.errors import ConfigError

S = 1_000_000_000
START_NS = 1_700_000_000 * S


class Clock:
    """``clock.now().nanoseconds`` of rclpy's Clock, set by hand (seconds after START_NS)."""

    def __init__(self) -> None:
        self.s = 0.0

    def now(self) -> SimpleNamespace:
        return SimpleNamespace(nanoseconds=START_NS + round(self.s * S))


def polled(period_s: float, times_s: list[float]) -> list[float]:
    """The times at which a period of ``period_s`` called its action, polled at ``times_s``."""
    clock, calls = Clock(), []
    period = RosTimePeriod(period_s, clock, lambda: calls.append(clock.s))
    for t in times_s:
        clock.s, before = t, len(calls)
        assert period.poll() == (len(calls) == before + 1)
    return calls


def test_a_steady_clock_gives_one_call_per_period_in_step() -> None:
    times = [k * 0.05 for k in range(61)]  # 3 s polled every 50 ms
    assert polled(1.0, times) == pytest.approx([1.0, 2.0, 3.0])


def test_a_bag_shorter_than_the_period_looped_adds_its_passes_up() -> None:
    """A 0.2 s bag played with --clock --loop: a ROS-time timer of 0.5 s, restarted by rcl at every jump back, never
    fired. Five passes of 0.2 s of played time give two calls."""
    passes = [[0.0, 0.05, 0.1, 0.15, 0.2] for _ in range(5)]
    calls = polled(0.5, [t for one in passes for t in one])
    assert len(calls) == 2


def test_time_going_back_counts_as_no_time_and_a_leap_forward_as_one_period() -> None:
    assert polled(1.0, [0.0, 0.9, 0.0, 0.05, 0.2]) == [0.2]  # 0.9 + 0.05 + 0.15
    assert polled(1.0, [0.0, 0.5, 3600.0, 3600.5, 3601.0]) == [3600.0, 3601.0]  # no burst of 3600 calls


def test_a_clock_standing_still_stops_it() -> None:
    """A paused player, or use_sim_time before the first /clock (time 0): no period passes, as with a ROS timer."""
    assert polled(0.5, [1.0] * 50) == []


def test_a_period_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"period 0\.0 s must be > 0"):
        RosTimePeriod(0.0, Clock(), lambda: None)
