"""ClockWentBack: a jump back of the ROS clock makes the first frame stamped before the last one a new start."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from mono_depth_ros.adapters.clock_jump import ClockWentBack

S = 1_000_000_000
START_NS = 1_700_000_000 * S


def jump(delta_s: float) -> Any:
    """rclpy's ``TimeJump`` as a post-callback gets it."""
    return SimpleNamespace(clock_change=None, delta=SimpleNamespace(nanoseconds=round(delta_s * S)))


def stamps(*seconds: float) -> list[int]:
    return [START_NS + round(s * S) for s in seconds]


def test_after_a_jump_back_the_first_frame_stamped_before_the_last_one_starts_anew() -> None:
    """A 0.4 s bag looped: frames of the old pass still in flight when /clock went back are not the new start."""
    calls: list[int] = []
    watch = ClockWentBack(lambda: calls.append(1))
    for stamp in stamps(0.0, 0.1, 0.2):
        assert not watch.frame(stamp)
    watch.on_jump(jump(-0.35))  # /clock went back before the last frames of the pass were processed
    assert [watch.frame(stamp) for stamp in stamps(0.3, 0.4, 0.0, 0.1, 0.0)] == [False, False, True, False, False]
    assert calls == [1] and watch.new_passes == 1  # once a jump: a stamp going back without one is no new start


def test_stamps_going_back_without_the_clock_and_jumps_forward_are_no_new_start() -> None:
    """Without use_sim_time the clock never goes back: a late stamp alone is the scale filter's business (1 s)."""
    watch = ClockWentBack(lambda: pytest.fail("no new start"))
    for stamp in stamps(0.0, 0.5, 0.2):
        assert not watch.frame(stamp)
    watch.on_jump(jump(+3600.0))  # the first /clock of a simulation, a skipped stretch
    assert not watch.frame(START_NS)


def test_attach_registers_a_post_callback_for_any_jump_back() -> None:
    registered: list[tuple[Any, Any]] = []

    class Threshold:
        def __init__(self, *, min_forward: Any, min_backward: Any, on_clock_change: bool) -> None:
            self.args = (min_forward, min_backward.nanoseconds, on_clock_change)

    clock = SimpleNamespace(create_jump_callback=lambda t, post_callback: registered.append((t, post_callback)))
    watch = ClockWentBack.attach(clock, Threshold, lambda nanoseconds: SimpleNamespace(nanoseconds=nanoseconds), print)
    ((threshold, callback),) = registered
    assert threshold.args == (None, -1, False) and callback == watch.on_jump
