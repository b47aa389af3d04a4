"""The node's ROS clock while a bag plays: PlayedClock, PlayedPeriod, ClockWentBack, ClockSteps."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from mono_depth_ros.adapters.ros_clock import (
    FIRST_STEP_WAIT_S,
    JUMP_LOG_PERIOD_S,
    LEAP_NS,
    POLL_S,
    RECENT_STEPS,
    STALL_NS,
    ClockSteps,
    ClockWentBack,
    PlayedClock,
    PlayedPeriod,
)
from mono_depth_ros.adapters.stats import CLOCK_STANDS
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS

S = 1_000_000_000
START_NS = 1_700_000_000 * S


class Clock:
    """``clock.now().nanoseconds`` of rclpy's Clock, set by hand (seconds after START_NS)."""

    def __init__(self) -> None:
        self.s = 0.0
        self.ros_time_is_active = False  # rclpy's ROSClock: True while the time is /clock's (use_sim_time)

    def now(self) -> SimpleNamespace:
        return SimpleNamespace(nanoseconds=START_NS + round(self.s * S))


class Steady:
    """A steady clock set by hand (seconds)."""

    def __init__(self) -> None:
        self.s = 0.0

    def __call__(self) -> int:
        return round(self.s * S)


def polled(period_s: float, times_s: list[float], poll_s: float = 0.05) -> list[float]:
    """The ROS times at which a period of ``period_s`` called its action, polled every ``poll_s`` of steady time
    with the ROS clock at ``times_s``."""
    clock, steady, calls = Clock(), Steady(), []
    clock.s = times_s[0]
    period = PlayedPeriod(period_s, clock, lambda: calls.append(clock.s), steady)
    for k, t in enumerate(times_s):
        clock.s, steady.s, before = t, (k + 1) * poll_s, len(calls)
        assert period.poll() == (len(calls) == before + 1)
    return calls


def test_a_moving_clock_gives_one_call_per_period_in_step() -> None:
    times = [k * 0.05 for k in range(61)]  # 3 s polled every 50 ms
    assert polled(1.0, times) == pytest.approx([1.0, 2.0, 3.0])


def test_a_bag_shorter_than_the_period_looped_adds_its_passes_up() -> None:
    """A 0.2 s bag played with --clock --loop: a ROS-time timer of 0.5 s, restarted by rcl at every jump back, never
    fired. Five passes of 0.2 s of played time give two calls."""
    passes = [[0.0, 0.05, 0.1, 0.15, 0.2] for _ in range(5)]
    calls = polled(0.5, [t for one in passes for t in one])
    assert len(calls) == 2


def test_time_going_back_and_leaps_forward_count_as_no_time() -> None:
    assert polled(1.0, [0.0, 0.9, 0.0, 0.05, 0.2]) == [0.2]  # 0.9 + 0.05 + 0.15
    assert polled(1.0, [0.0, 0.5, 3600.0, 3600.5, 3601.0]) == [3600.5]  # the first /clock: no burst of 3600 calls


def test_a_period_goes_on_with_the_steady_clock_once_the_ros_clock_stands_still() -> None:
    """A bag that ended or is paused, or use_sim_time without /clock: a ROS-time timer stopped, and the last status
    stayed the node's word. After STALL_NS of steady time, the steady time counts: 2.5 s polled, 2.25 s counted."""
    assert len(polled(0.5, [1.0] * 50)) == 4


def test_a_period_that_is_not_positive_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"period 0\.0 s must be > 0"):
        PlayedPeriod(0.0, Clock(), lambda: None)


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


def test_each_jump_back_is_warned_once_with_its_stamps_and_what_starts_again() -> None:
    """A node whose state restarts without a word: a user replaying a bag with --loop, or a simulator reset, saw the
    scale's health and the temporal filter restart with nothing in the log. One warning per jump (at its first frame),
    naming the stamps, the cause and what was forgotten; stamps going back by a few ms (a driver's resync) or frames of
    the old pass in flight say nothing."""
    warned: list[str] = []
    steady = Steady()
    watch = ClockWentBack(lambda: None, warn=warned.append, steady_s=lambda: steady.s)
    for stamp in stamps(10.0, 10.1, 10.2, 10.195, 10.3):  # 5 ms back: a driver's resync, no jump
        watch.frame(stamp)
    assert warned == []
    watch.on_jump(jump(-10.3))  # /clock back to the bag's start (--clock --loop)
    for stamp in stamps(10.4, 0.0, 0.1, 0.2):
        watch.frame(stamp)
    (text,) = warned
    assert "ROS time went back" in text and "image stamped 1700000000.000 s after one stamped 1700000010.400 s" in text
    assert "10.400 s back" in text and "the ROS clock went back too: use_sim_time" in text, text
    assert "scale recovery and the temporal filter start again; the TF, LiDAR scans and synchroniser" in text, text
    assert "queues whose stamps went back too are forgotten" in text and "check what publishes /clock" in text, text
    steady.s = 10.0
    for stamp in stamps(5.0, 5.1, 0.0, 0.1):  # a loop without --clock (stamps only, 5.1 s back): warned too
        watch.frame(stamp)
    assert len(warned) == 2 and "5.100 s back" in warned[1] and "ROS clock went back too" not in warned[1], warned
    assert "check the camera's clock" in warned[1] and "/clock" not in warned[1].split("otherwise")[1], warned


def test_a_short_looped_bag_warns_its_jumps_once_per_period_with_how_many_were_held_back() -> None:
    """A 0.2 s bag played with --clock --loop jumps back 5 times a second: one line per JUMP_LOG_PERIOD_S, counting
    the jumps held back, not five lines a second."""
    warned: list[str] = []
    steady = Steady()
    watch = ClockWentBack(lambda: None, warn=warned.append, steady_s=lambda: steady.s)
    for k in range(12):
        steady.s = k * 0.2
        watch.on_jump(jump(-0.2))
        for stamp in stamps(0.0, 0.1, 0.2):
            watch.frame(stamp)
    assert watch.new_passes == 11 and len(warned) == 1, warned  # 11 jumps within 2.2 s
    assert "(0.200 s back; the ROS clock went back too" in warned[0] and "TF" not in warned[0], warned  # under 1 s
    steady.s += JUMP_LOG_PERIOD_S
    watch.on_jump(jump(-0.2))
    watch.frame(stamps(0.0)[0])
    assert len(warned) == 2 and warned[-1].endswith(" (10 more since the last)"), warned


def test_attach_registers_a_post_callback_for_any_jump_back() -> None:
    registered: list[tuple[Any, Any]] = []

    class Threshold:
        def __init__(self, *, min_forward: Any, min_backward: Any, on_clock_change: bool) -> None:
            self.args = (min_forward, min_backward.nanoseconds, on_clock_change)

    clock = SimpleNamespace(create_jump_callback=lambda t, post_callback: registered.append((t, post_callback)))
    watch = ClockWentBack.attach(clock, Threshold, lambda nanoseconds: SimpleNamespace(nanoseconds=nanoseconds), print)
    ((threshold, callback),) = registered
    assert threshold.args == (None, -1, False) and callback == watch.on_jump


def test_clock_steps_are_the_largest_recent_step_forward_of_clock_not_its_first_or_leaps() -> None:
    """No jump: the system time (None). The first step forward is rclpy's ROS time leaving 0 at the first /clock
    (a bag's: 1.7e9 s), no step (0: /clock, step not known); then the largest of the recent steps; jumps back (a
    loop) and leaps over 1 h are none."""
    steps = ClockSteps()
    assert steps.step_ns() is None
    steps.on_jump(jump(START_NS / S))
    assert steps.step_ns() == 0
    for delta_s in (2.0, -0.4, 1.5, 7200.0):
        steps.on_jump(jump(delta_s))
    assert steps.step_ns() == 2 * S
    for _ in range(RECENT_STEPS):  # /clock now 40 Hz: the 2 s step forgotten
        steps.on_jump(jump(0.025))
    assert steps.step_ns() == round(0.025 * S)


def test_clock_steps_attach_registers_a_post_callback_for_any_step_forward() -> None:
    registered: list[tuple[Any, Any]] = []

    class Threshold:
        def __init__(self, *, min_forward: Any, min_backward: Any, on_clock_change: bool) -> None:
            self.args = (min_forward.nanoseconds, min_backward, on_clock_change)

    clock = SimpleNamespace(create_jump_callback=lambda t, post_callback: registered.append((t, post_callback)))
    steps = ClockSteps.attach(clock, Threshold, lambda nanoseconds: SimpleNamespace(nanoseconds=nanoseconds))
    ((threshold, callback),) = registered
    assert threshold.args == (1, None, True) and callback == steps.on_jump  # and use_sim_time set at run time


def test_a_clock_that_has_not_stepped_since_its_first_message_for_a_while_stands() -> None:
    """One /clock, then none that moves it (a paused simulator or bag): its step is not known for
    FIRST_STEP_WAIT_S of wall time (0: any stamp up to 1 h ahead a capture since), then it stands (CLOCK_STANDS:
    the 1 s rule again); a step after that is known as ever."""
    steady = Steady()
    steps = ClockSteps(steady)
    steady.s = 5.0
    steps.on_jump(jump(START_NS / S))
    steady.s = 5.0 + FIRST_STEP_WAIT_S
    assert steps.step_ns() == 0
    steady.s += 0.1
    assert steps.step_ns() == CLOCK_STANDS
    steps.on_jump(jump(0.5))
    assert steps.step_ns() == round(0.5 * S)


@pytest.mark.parametrize("change", ["ROS_TIME_DEACTIVATED", "ROS_TIME_ACTIVATED"])
def test_clock_steps_are_forgotten_when_use_sim_time_is_set_at_run_time(change: str) -> None:
    """use_sim_time set false at run time: the clock is the system time, which has no step (it kept /clock's 2 s,
    and a camera 3 s ahead of the system time passed as a capture since the last /clock). Set true again: the
    first /clock is a leap from the last one (or from 0), no step either."""
    steps = ClockSteps()
    for delta_s in (START_NS / S, 2.0):
        steps.on_jump(jump(delta_s))
    assert steps.step_ns() == 2 * S
    assert steps.changes() == 0
    steps.on_jump(SimpleNamespace(clock_change=SimpleNamespace(name=change), delta=SimpleNamespace(nanoseconds=0)))
    assert steps.step_ns() is None and steps.changes() == 1  # RuntimeStats: the clock before is another clock
    steps.on_jump(jump(600.0))  # the first /clock since
    assert steps.step_ns() == 0


def played(steps: list[tuple[float, float]]) -> list[float]:
    """PlayedClock read at (steady s, ROS s after START_NS) steps: the played seconds at each."""
    ros, steady = Clock(), Steady()
    clock = PlayedClock(ros, steady)
    readings = []
    for steady.s, ros.s in steps:
        readings.append(clock.now_ns() / S)
    return readings


def test_played_time_follows_a_slowed_ros_clock() -> None:
    """--rate 0.1 with /clock at 40 Hz: 2.5 ms of played time every 25 ms; a 0.2 s wait lasts 2 s of wall time."""
    steps = [(k * 0.025, k * 0.0025) for k in range(81)]
    assert played(steps)[-1] == pytest.approx(0.2)
    between_ticks = played([(0.0, 0.0), (0.01, 0.0), (0.02, 0.0), (0.025, 0.0025)])
    assert between_ticks == pytest.approx([0.0, 0.0, 0.0, 0.0025])


def test_a_clock_that_stands_still_gives_way_to_the_steady_clock() -> None:
    """No /clock (use_sim_time, time 0) or a paused player: after STALL_NS the steady time counts (a frame waiting
    for a dead LiDAR still goes out)."""
    stall = STALL_NS / S
    readings = played([(0.0, 0.0), (0.1, 0.0), (stall, 0.0), (stall + 0.2, 0.0), (stall + 0.3, 0.05)])
    assert readings == pytest.approx([0.0, 0.0, 0.0, 0.2, 0.25])


def test_steps_back_and_leaps_forward_count_as_no_time() -> None:
    leap = LEAP_NS / S
    readings = played([(0.0, 0.0), (0.02, 0.1), (0.04, -1.9), (0.06, -1.8), (0.08, 3600.0), (0.1, 3600.0 + leap)])
    assert readings == pytest.approx([0.0, 0.1, 0.1, 0.2, 0.2, 0.2 + leap])


def test_a_fast_played_bag_counts_its_long_steps() -> None:
    """--rate 50 read every 50 ms: 2.5 s steps, a played clock, not a leap (counted as none: frames waited for good,
    and /diagnostics stopped)."""
    assert played([(k * 0.05, k * 2.5) for k in range(5)]) == pytest.approx([0.0, 2.5, 5.0, 7.5, 10.0])


def test_a_fast_played_bag_read_at_every_message_counts_its_steps() -> None:
    """--rate 50 with /clock at 40 Hz (1.25 s every 25 ms), read at every message of a 10 Hz camera and LiDAR (every
    1 ms): each step was over 100 times the 1 ms since the read before, a leap, and the played time stood at 0 (the
    node's LiDAR waits never ended). A step is judged by the time since the clock last moved, however often read."""
    steps = [(k * 0.001, (k // 25) * 1.25) for k in range(1001)]
    assert played(steps)[-1] == pytest.approx(50.0)


def test_the_steps_of_a_slow_clock_count_alike_however_often_it_is_read() -> None:
    """A simulator's /clock at 0.5 Hz in step with the wall time: between its 2 s steps the steady time counts (it
    stands), so each step, a leap after that standing, adds nothing more. Read every 50 ms (PlayedPeriod's poll) the
    steps counted on top of the standing (18.5 s in 10 s), read every 1 ms (the LiDAR waits) they did not (8.7 s)."""
    for read_ms in (1, 50):
        steps = [(k * 0.001, 2.0 * (k // 2000)) for k in range(0, 10_001, read_ms)]
        assert played(steps)[-1] == pytest.approx(10.0 - 5 * STALL_NS / S, abs=0.3), read_ms


def test_the_system_time_read_seldom_counts_in_full() -> None:
    """Without use_sim_time the ROS clock is the system time, which moves at every read: read every 2 s (the
    diagnostics timer of a 2 s period waits for the time left), each 2 s step is played time, no leap after a stand."""
    assert played([(k * 2.0, k * 2.0) for k in range(6)]) == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0, 10.0])


class SteadyTimer:
    """rclpy's ``Timer`` on the steady clock as rcl runs it: each call moves the next call one period on (before the
    callback); ``reset`` makes it one period from now; ``timer_period_ns`` can be changed."""

    def __init__(self, steady: Steady, period_s: float) -> None:
        self.steady, self.timer_period_ns = steady, round(period_s * S)
        self.next_ns = steady() + self.timer_period_ns

    def reset(self) -> None:
        self.next_ns = self.steady() + self.timer_period_ns


def run_polled_by(ros_s: Callable[[float], float], steady_s: float, sim_time: bool) -> tuple[int, list[float]]:
    """Wake-ups of the diagnostics timer (period 0.5 s) and the steady times of its calls over ``steady_s`` of steady
    time, the ROS clock at ``ros_s(steady)``; ``sim_time``: it is ``/clock`` (rclpy's ``ros_time_is_active``)."""
    clock, steady, calls = Clock(), Steady(), []
    clock.ros_time_is_active = sim_time
    clock.s = ros_s(0.0)
    period = PlayedPeriod(0.5, clock, lambda: calls.append(steady.s), steady)
    timer = period.polled_by(SteadyTimer(steady, POLL_S))
    wakeups = 0
    while True:
        steady.s = timer.next_ns / S
        if steady.s > steady_s:
            return wakeups, calls
        clock.s = ros_s(steady.s)
        timer.next_ns += timer.timer_period_ns  # rcl_timer_call, before the callback
        wakeups += 1
        period.poll()


def test_without_sim_time_the_diagnostics_timer_wakes_once_per_period_not_every_poll() -> None:
    """Each executor wake-up costs ~0.6 ms CPU in rclpy: a steady 50 ms poll is 20 a second, in an idle node the CPU
    that adapters.lidar.PairingPoll and SyncWatch.polled_by had saved. Without /clock the ROS clock is the system
    time: the timer waits for the time left to the next call; the calls stay one per period, 10 ms late at most."""
    wakeups, calls = run_polled_by(lambda t: 1000.0 + t, 10.0, sim_time=False)
    assert wakeups <= 21
    assert calls == pytest.approx([0.5 * k for k in range(1, 20)], abs=0.011)


def test_with_sim_time_the_diagnostics_timer_polls_often_enough_to_count_a_short_looped_bag() -> None:
    """A 0.2 s bag played with --clock --loop (/clock every 25 ms): played time is counted from the clock's reads,
    so the poll stays at 50 ms (read once a period, the sawtooth gave next to no played time: no /diagnostics)."""

    def looped(t: float) -> float:
        return 100.0 + math.floor((t % 0.2) / 0.025) * 0.025

    wakeups, calls = run_polled_by(looped, 10.0, sim_time=True)
    assert wakeups >= 199
    assert len(calls) >= 14  # 10 s of it: 7/8 of it played (each wrap back counts no time), a call per 0.5 s


def test_a_new_pass_whose_first_frame_came_before_the_clock_jump_starts_at_the_next_frame_not_at_a_resync() -> None:
    """``ros2 bag play --clock --loop`` publishes /clock from a 40 Hz wall timer: the new pass's first image can be
    processed before its jump is heard. The jump waited for the next frame stamped back, a driver's resync 5 ms back
    mid-pass, which reset the pipeline there and warned of 0.005 s back. The clock's time after the jump (100.0 s) is
    at or after that first frame's stamp: the next frame starts the pass anew, warned with the pass's own stamps."""
    calls: list[int] = []
    warned: list[str] = []
    clock = Clock()
    watch = ClockWentBack(lambda: calls.append(1), warn=warned.append, clock=clock)
    resets = [watch.frame(stamp) for stamp in stamps(100.0, 100.1, 100.2, 100.3, 100.0)]
    clock.s = 100.0  # the first /clock of the new pass: rcl calls the jump back with the clock already there
    watch.on_jump(jump(-0.3))
    resets += [watch.frame(stamp) for stamp in stamps(100.1, 100.2, 100.195, 100.3)]
    assert resets == [False] * 5 + [True, False, False, False] and calls == [1], resets
    (text,) = warned
    assert "image stamped 1700000100.000 s after one stamped 1700000100.300 s (0.300 s back; the ROS clock" in text


def test_a_jump_of_the_clock_is_no_new_pass_of_a_camera_stamping_another_clock() -> None:
    """use_sim_time with a camera stamping the wall time (1.7e9 s) while the simulator's clock reads 50 s: a jump
    of the clock back to 0 waited for the camera's stamps to go back and reset the pipeline at a driver's resync
    (5 ms back) whenever it came. Those stamps are after the time the clock left: no new pass."""
    clock = Clock()
    clock.s = 50.0 - START_NS / S  # the simulator's clock, 50 s
    watch = ClockWentBack(lambda: pytest.fail("no new pass"), clock=clock)
    for stamp in stamps(0.0, 0.1):
        watch.frame(stamp)
    clock.s = -START_NS / S  # a simulator reset: its clock back to 0
    watch.on_jump(jump(-50.0))
    assert [watch.frame(stamp) for stamp in stamps(0.2, 0.195, 0.3)] == [False, False, False]


def test_with_the_clock_a_jump_heard_first_still_starts_the_pass_at_its_first_frame() -> None:
    """The usual order (the jump heard before the new pass's first frame): a simulator reset to 0 s from 50 s, its
    first frame stamped 0.033 s (after the clock's time at the jump, before the time it left) starts the pass; the
    old pass's frames in flight do not; a frame that went back before an earlier jump was none of this one's."""
    calls: list[int] = []
    clock = Clock()
    watch = ClockWentBack(lambda: calls.append(1), clock=clock)
    for stamp in stamps(49.8, 49.9, 49.895):  # a resync 5 ms back, before the reset
        watch.frame(stamp)
    clock.s = 0.0
    watch.on_jump(jump(-50.0))
    assert [watch.frame(stamp) for stamp in stamps(49.95, 0.033, 0.066, 0.061, 0.1)] == [False, True] + [False] * 3
    assert calls == [1]


def test_a_resync_of_the_old_pass_before_the_time_the_clock_went_back_to_is_no_late_new_pass() -> None:
    """A seek back (or a simulator reset to a saved state) 0.8 s from 50.0 s to 49.2 s; a driver's resync at 48.8 s in
    the old pass is at or before the clock's time after the jump, by less than the jump: it was taken for a new pass
    begun before its jump was heard, and the old pass's frame still in flight (49.95 s) reset the pipeline, warned
    '0.005 s back'; the new pass's first frame (0.72 s back, under the stamps' 1 s) then carried that frame's state.
    The frames after the resync went past the clock's time: the new pass starts at its own first frame."""
    calls: list[int] = []
    warned: list[str] = []
    clock = Clock()
    watch = ClockWentBack(lambda: calls.append(1), warn=warned.append, clock=clock)
    resets = [watch.frame(stamp) for stamp in stamps(48.7, 48.8, 48.795, 48.9, 49.9)]
    clock.s = 49.2
    watch.on_jump(jump(-0.8))
    resets += [watch.frame(stamp) for stamp in stamps(49.95, 49.233, 49.266)]
    assert resets == [False] * 6 + [True, False] and calls == [1], resets
    (text,) = warned
    assert "image stamped 1700000049.233 s after one stamped 1700000049.950 s (0.717 s back; the ROS clock" in text


def _played(rng: random.Random) -> tuple[list[tuple[str, int, int]], set[int]]:
    """A random play of 2-5 passes (a loop, a simulator reset to 0, a seek back), 33-100 ms frames, drivers' resyncs
    5 ms back (none in the old pass's frames in flight), each jump heard before the new pass's first frame (after 0-2
    frames of the old pass in flight) or after it (rosbag2's 40 Hz /clock timer); the clock's time after a jump is
    0-6 ms past the pass's start, at or after a first frame already processed. Events: ('frame', stamp ns, 0) and
    ('jump', delta ns, clock ns after). Returns them and the frames (0-based) where the pipeline must start anew:
    a new pass's first frame; its second where the jump came after the first and it went back 1 s or less (more: the
    stamps' own rule restarts at the first)."""
    ms = 1_000_000
    period, span = rng.choice((33, 50, 100)) * ms, rng.choice((200, 400, 900, 1500, 5000)) * ms
    kind, rate, start = (
        rng.choice(("loop", "reset", "seek")),
        rng.choice((0.01, 0.05, 0.2)),
        rng.randint(0, 60) * 100 * ms,
    )
    events: list[tuple[str, int, int]] = []
    expected: set[int] = set()
    frames, last = 0, 0
    for k in range(rng.randint(2, 5)):
        stamps_ns: list[int] = []
        for i in range(span // period + 1):
            if i >= 2 and rng.random() < rate:
                stamps_ns.append(stamps_ns[-1] - 5 * ms)
            stamps_ns.append(start + i * period)
        if k:
            before, after = last + rng.randint(0, 3 * period // ms) * ms, start + rng.randint(0, 6) * ms
            if rng.random() < 1 / 3:  # heard after the new pass's first frame
                events.append(("frame", stamps_ns[0], 0))
                expected.add(frames if last - stamps_ns[0] > TIME_JUMP_BACK_NS else frames + 1)
                frames, last, stamps_ns = frames + 1, stamps_ns[0], stamps_ns[1:]
                events.append(("jump", after - before, after))
            else:
                events.append(("jump", after - before, after))
                in_flight = [s for s in (last + period, last + 2 * period)[: rng.randint(0, 2)] if s <= before]
                events += [("frame", stamp, 0) for stamp in in_flight]
                frames += len(in_flight)
                expected.add(frames)
        events += [("frame", stamp, 0) for stamp in stamps_ns]
        frames, last = frames + len(stamps_ns), stamps_ns[-1]
        start = {"loop": start, "reset": 0, "seek": rng.randint(0, max(0, last // ms - 50)) * ms}[kind]
    return events, expected


@pytest.mark.parametrize("seed", range(4))
def test_random_plays_start_anew_exactly_at_each_new_passs_first_frame_or_after_a_late_jump(
    seed: int,
) -> None:
    """Against an oracle (``_played``) over 500 random plays each: where the pipeline starts anew (ClockWentBack's new
    pass, or stamps more than 1 s back) is exactly each new pass's start; no resync, no frame of the old pass in
    flight. explore145's watch as merged (3232e145) failed each seed: an old pass's resync before the time a seek went
    back to was taken for a late new pass, and a frame of the old pass in flight started it."""
    rng = random.Random(seed)
    for _ in range(500):
        events, expected = _played(rng)
        clock = Clock()
        watch = ClockWentBack(lambda: None, clock=clock)
        anew: set[int] = set()
        frame, last = 0, None
        for what, value, after in events:
            if what == "jump":
                clock.s = after / S
                watch.on_jump(jump(value / S))
                continue
            if watch.frame(START_NS + value) or (last is not None and value < last - TIME_JUMP_BACK_NS):
                anew.add(frame)
            frame, last = frame + 1, value
        assert anew == expected, (events, sorted(anew), sorted(expected))
