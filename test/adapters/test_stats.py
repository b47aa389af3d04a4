"""RuntimeStats: counters, fps, latency percentiles over a window."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

from mono_depth_ros.adapters.ros_clock import FIRST_STEP_WAIT_S, ClockSteps
from mono_depth_ros.adapters.stats import RuntimeStats, drained, unused_warning
from mono_depth_ros.core.errors import ConfigError

from .support import MS, FakeClock


def test_stats_counts_and_latency_percentiles() -> None:
    clock = FakeClock()
    stats = RuntimeStats(window_s=5.0, clock_ns=clock)
    latencies_ms = [10, 20, 30, 40, 1000]
    for k, latency in enumerate(latencies_ms):
        clock.now_ns = k * 100 * MS
        stats.frame_received()
        stats.frame_published(latency * MS)
    stats.frame_dropped(3)
    stats.bad_message("EncodingError")
    stats.bad_message("EncodingError")
    stats.bad_message("no_camera_info")
    stats.worker_error()
    snap = stats.snapshot()
    assert (snap.received, snap.published, snap.dropped, snap.worker_errors) == (5, 5, 3, 1)
    assert snap.bad == {"EncodingError": 2, "no_camera_info": 1}
    assert snap.latency_p50_ms == pytest.approx(np.percentile(latencies_ms, 50))
    assert snap.latency_p95_ms == pytest.approx(np.percentile(latencies_ms, 95))
    assert snap.fps == pytest.approx(10.0)  # 5 frames 100 ms apart, before a full window has passed
    assert (snap.bad_in_window, snap.errors_in_window, snap.published_in_window) == (3, 1, 5)


def test_the_fps_of_the_first_window_falls_when_the_stream_stops() -> None:
    """Before a whole window has passed since the start, fps was the rate between the first and the last frame
    published: a camera that stopped 2 s after the node started was reported at 10.0 fps, /diagnostics OK, until the
    window was full (real Humble: 2.4 s of silence at '10.0 fps'). The silence beyond one mean gap counts now; a
    snapshot between two frames of a stream keeps its rate."""
    clock = FakeClock()
    stats = RuntimeStats(window_s=5.0, clock_ns=clock)
    for k in range(11):  # 10 fps for 1 s
        clock.now_ns = k * 100 * MS
        stats.frame_published(5 * MS)
    clock.now_ns = 1090 * MS  # between two frames of the stream
    assert stats.snapshot().fps == pytest.approx(10.0)
    clock.now_ns = 3100 * MS  # 2.1 s without a frame
    assert stats.snapshot().fps == pytest.approx(10 / 3.0)
    clock.now_ns = 6100 * MS  # a whole window since the start, none in it
    assert stats.snapshot().fps == pytest.approx(0.0)


def test_stats_window_forgets_old_frames_but_keeps_totals() -> None:
    clock = FakeClock()
    stats = RuntimeStats(window_s=2.0, clock_ns=clock)
    for k in range(40):  # 20 fps for 2 s
        clock.now_ns = k * 50 * MS
        stats.frame_published(5 * MS)
    clock.now_ns = 2000 * MS
    assert stats.snapshot().fps == pytest.approx(20.0)
    stats.bad_message("ShapeError")
    clock.now_ns = 10_000 * MS  # 8 s later, nothing new
    snap = stats.snapshot()
    assert snap.fps == 0.0 and snap.published_in_window == 0 and np.isnan(snap.latency_p50_ms)
    assert snap.published == 40 and snap.bad == {"ShapeError": 1} and snap.bad_in_window == 0
    with pytest.raises(ConfigError, match="window"):
        RuntimeStats(window_s=0.0)


def test_stats_are_thread_safe() -> None:
    stats = RuntimeStats()

    def hammer() -> None:
        for _ in range(2000):
            stats.frame_received()
            stats.frame_published(MS)
            stats.bad_message("x")

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snap = stats.snapshot()
    assert (snap.received, snap.published, snap.bad["x"]) == (8000, 8000, 8000)


def test_a_withdrawn_bad_message_leaves_the_counts_and_the_window() -> None:
    stats = RuntimeStats(window_s=5.0, clock_ns=FakeClock())
    stats.bad_message("no_camera_info")
    stats.bad_message("no_camera_info")
    stats.bad_message("unsynced")
    stats.bad_message_withdrawn("no_camera_info")
    stats.bad_message_withdrawn("unsynced")
    stats.bad_message_withdrawn("never_counted")  # nothing to take back: no negative counts
    snap = stats.snapshot()
    assert snap.bad == {"no_camera_info": 1} and snap.bad_in_window == 1


def test_implausible_capture_stamps_count_as_unstamped_and_stay_out_of_the_latency() -> None:
    """Stamp 0 (a driver that does not stamp) or more than 1 h from the node clock: no capture latency to measure."""
    warnings: list[str] = []
    stats = RuntimeStats(window_s=5.0, clock_ns=FakeClock(), warn=warnings.append)
    now_ns, hour_ns = 1_700_000_000 * 1000 * MS, 3600 * 1000 * MS
    stats.frame_published_at(now_ns - 40 * MS, now_ns)
    stats.frame_published_at(0, now_ns)
    stats.frame_published_at(now_ns - hour_ns - 1, now_ns)  # another clock (use_sim_time without /clock, ...)
    stats.frame_published_at(now_ns + hour_ns + 1, now_ns)
    stats.frame_published_at(now_ns - hour_ns, now_ns)  # 1 h exactly: still a latency
    snap = stats.snapshot()
    assert (snap.published, snap.published_in_window, snap.frames_unstamped) == (5, 5, 3)
    assert snap.latency_p50_ms == pytest.approx(np.percentile([40.0, 3600e3], 50))
    (warning,) = warnings  # once, however many follow
    assert "stamped 0.000 s" in warning and "1 h" in warning and "frames_unstamped" in warning


def test_frames_captured_before_the_clock_went_back_have_no_latency() -> None:
    """A 0.5 s bag played with --clock --loop: the last frames of a pass went out after /clock had gone back, at
    "now - stamp" < 0 (seen: latency_p50_ms -63.8 in /diagnostics). They are published, not unstamped; no latency."""
    stats = RuntimeStats(window_s=5.0, clock_ns=FakeClock())
    start_ns = 1_700_000_000 * 1000 * MS
    for k in range(2):  # the first pass, 60 ms after each capture
        stats.frame_published_at(start_ns + k * 100 * MS, start_ns + k * 100 * MS + 60 * MS)
    for k in range(2, 5):  # its last three, processed after the clock went back to the start
        stats.frame_published_at(start_ns + k * 100 * MS, start_ns + (k - 1) * 20 * MS)
    stats.frame_published_at(start_ns, start_ns + 60 * MS)  # the second pass
    snap = stats.snapshot()
    assert (snap.published, snap.frames_unstamped) == (6, 0)
    assert (snap.latency_p50_ms, snap.latency_p95_ms) == pytest.approx((60.0, 60.0))
    skewed = RuntimeStats(window_s=5.0, clock_ns=FakeClock())  # a camera clock 5 ms ahead, no jump: as it is
    skewed.frame_published_at(start_ns + 5 * MS, start_ns)
    assert skewed.snapshot().latency_p50_ms == pytest.approx(-5.0)


def test_a_camera_clock_minutes_ahead_of_the_node_is_unstamped_not_a_negative_latency() -> None:
    """A camera whose clock runs 59 min ahead of the node's (no NTP / PTP between the camera's computer and the
    node's): real Humble published latency_p50_ms -3599974.5 in /diagnostics, no warning (only stamps more than 1 h
    off were unstamped). A stamp more than 1 s after the node clock is no capture time on it: unstamped, warned
    naming how far ahead and the clock synchronisation; a camera clock 5 ms ahead keeps its (negative) latency."""
    warnings: list[str] = []
    stats = RuntimeStats(window_s=5.0, clock_ns=FakeClock(), warn=warnings.append)
    now_ns = 1_700_000_000 * 1000 * MS
    stats.frame_published_at(now_ns - 40 * MS, now_ns)
    stats.frame_published_at(now_ns + 3540 * 1000 * MS, now_ns)  # 59 min ahead
    stats.frame_published_at(now_ns + 1001 * MS, now_ns)
    stats.frame_published_at(now_ns + 5 * MS, now_ns)  # a small skew: as it is
    snap = stats.snapshot()
    assert (snap.published, snap.frames_unstamped) == (4, 2)
    assert (snap.latency_p50_ms, snap.latency_p95_ms) == pytest.approx(np.percentile([40.0, -5.0], [50, 95]))
    (warning,) = warnings
    assert "3540.000 s ahead of the node clock" in warning and "chrony or PTP" in warning, warning
    assert "frames_unstamped" in warning


def test_a_node_clock_still_at_zero_is_warned_as_sim_time_without_clock_not_an_unsynchronised_camera() -> None:
    """use_sim_time with no /clock yet (rclpy's ROS time is 0 until the first one): a simulator 30 s into its run
    stamps its images 30 s. Those frames are unstamped (no latency on a clock at 0), but they were warned as a camera
    clock '30.000 s ahead of the node clock' with chrony / PTP as the remedy, which changes nothing there: the warning
    names /clock."""
    warnings: list[str] = []
    stats = RuntimeStats(window_s=5.0, clock_ns=FakeClock(), warn=warnings.append)
    stats.frame_published_at(30 * 1000 * MS, 0)
    assert stats.snapshot().frames_unstamped == 1
    (warning,) = warnings
    assert "node clock 0.000 s" in warning and "/clock" in warning, warning
    assert "chrony" not in warning and "ahead" not in warning, warning


def on_a_stepping_clock(
    stats: RuntimeStats, steps: ClockSteps, step_s: float, frames: int, period_s: float, delay_s: float
) -> list[float]:
    """A camera at ``1 / period_s`` Hz of sim time, each image stamped at its capture and published ``delay_s`` of
    sim time later, with the node clock the last ``/clock``: one every ``step_s`` of sim time from 100 s (rclpy's
    ROS time 0 before it), each heard by ``steps`` as rcl's jump callback would. Returns how far each stamp was
    after the node clock (s; what the old rule counted unstamped above 1 s)."""
    start_s, clock_s, ticks, ahead = 100.0, 0.0, 0, []
    for k in range(frames):
        stamp_s = start_s + k * period_s
        while start_s + ticks * step_s <= stamp_s + delay_s:  # the /clock messages until the publish
            new_s = start_s + ticks * step_s
            steps.on_jump(
                SimpleNamespace(clock_change=None, delta=SimpleNamespace(nanoseconds=round((new_s - clock_s) * 1e9)))
            )
            clock_s, ticks = new_s, ticks + 1
        stats.frame_published_at(round(stamp_s * 1e9), round(clock_s * 1e9))
        ahead.append(stamp_s - clock_s)
    return ahead


@pytest.mark.parametrize(
    ("step_s", "delay_s", "ahead_1_s"),
    [
        (2.0, 0.05, 45),  # a simulator publishing /clock at 0.5 Hz, a model taking 50 ms
        (1.25, 0.1, 8),  # ros2 bag play --clock (40 Hz of wall time) --rate 50, an external model: 2 ms of wall time
    ],
)
def test_images_stamped_since_the_last_clock_of_a_stepping_sim_clock_are_not_unstamped(
    step_s: float, delay_s: float, ahead_1_s: int
) -> None:
    """use_sim_time: the node clock is the last /clock, which steps. An image captured since then is stamped after
    it by up to one step: the frames more than 1 s after it were counted unstamped and warned as a camera clock ahead,
    with chrony / PTP as the remedy (a 0.5 Hz /clock: 45 of 100 frames). They are published with no latency (none on
    the clock before its next step), not unstamped, unwarned; the frames published after the clock passed their stamp
    keep theirs, short by up to one step."""
    warnings: list[str] = []
    steps = ClockSteps()
    stats = RuntimeStats(window_s=60.0, clock_ns=FakeClock(), warn=warnings.append, clock_steps=steps)
    ahead = on_a_stepping_clock(stats, steps, step_s, frames=100, period_s=0.1, delay_s=delay_s)
    assert sum(a > 1.0 for a in ahead) == ahead_1_s  # what the 1 s rule counted unstamped
    snap = stats.snapshot()
    assert (snap.published, snap.frames_unstamped, warnings) == (100, 0, [])
    assert 0.0 <= snap.latency_p50_ms <= step_s * 1000.0, snap  # behind the clock, by up to one step
    assert steps.step_ns() == round(step_s * 1e9)


def test_a_stamp_further_ahead_of_a_stepping_sim_clock_is_unstamped_and_warned_naming_clock_not_chrony() -> None:
    """More than two of /clock's recent steps (and 1 s) after it, a stamp is no capture since the last /clock:
    unstamped, warned naming /clock, its step and how to publish it more often, not the camera's clock sync."""
    warnings: list[str] = []
    steps = ClockSteps()
    stats = RuntimeStats(window_s=60.0, clock_ns=FakeClock(), warn=warnings.append, clock_steps=steps)
    on_a_stepping_clock(stats, steps, 0.5, frames=20, period_s=0.1, delay_s=0.05)  # /clock at 0.5 s steps
    now_ns = 102 * 1000 * MS
    stats.frame_published_at(now_ns + 999 * MS, now_ns)  # within 1 s: no latency, no fault
    stats.frame_published_at(now_ns + 1100 * MS, now_ns)
    assert stats.snapshot().frames_unstamped == 1
    (warning,) = warnings
    assert "1.100 s ahead of the node clock, /clock (use_sim_time), which steps by up to 0.500 s" in warning, warning
    assert "ros2 bag play --clock HZ" in warning and "chrony" not in warning, warning


def test_a_stamp_many_steps_ahead_of_clock_is_warned_to_stamp_with_its_time_not_to_publish_it_more_often() -> None:
    """A live camera stamping the wall time beside a bag recorded 20 min ago, played with --clock (25 ms steps): its
    stamps, 1200 s ahead, were warned with "publish /clock more often" first, which no /clock rate mends. Beyond
    CLOCK_FAR_STEPS of the clock's steps the warning says no /clock rate explains it and its remedy is to stamp the
    images with the time on /clock (or use_sim_time false for a live camera); a few steps ahead of a 0.5 Hz /clock
    it still names publishing /clock more often first."""
    warnings: list[str] = []
    steps = ClockSteps()
    stats = RuntimeStats(window_s=60.0, clock_ns=FakeClock(), warn=warnings.append, clock_steps=steps)
    on_a_stepping_clock(stats, steps, 0.025, frames=20, period_s=0.1, delay_s=0.05)
    now_ns = 102 * 1000 * MS
    stats.frame_published_at(now_ns + 1200 * 1000 * MS, now_ns)
    assert stats.snapshot().frames_unstamped == 1
    (warning,) = warnings
    assert "1200.000 s ahead of the node clock, /clock (use_sim_time), which steps by up to 0.025 s" in warning
    assert "which no /clock rate explains" in warning and "more often" not in warning, warning
    assert warning.endswith(
        "; stamp the images with the time on /clock (a live camera stamps the wall time: set use_sim_time false for it)"
    ), warning
    warnings.clear()
    steps = ClockSteps()
    slow = RuntimeStats(window_s=60.0, clock_ns=FakeClock(), warn=warnings.append, clock_steps=steps)
    on_a_stepping_clock(slow, steps, 2.0, frames=30, period_s=0.1, delay_s=0.05)  # a 0.5 Hz /clock
    for ahead_s in (5.0, 25.0):  # 2.5 of its steps: its rate may; 12.5: no rate explains it
        slow.frame_published_at(now_ns + round(ahead_s * 1000) * MS, now_ns)
    assert slow.snapshot().frames_unstamped == 2 and len(warnings) == 2, warnings
    assert "; publish /clock more often" in warnings[0] and "; stamp the images" in warnings[1], warnings


def test_a_camera_on_the_wall_time_ahead_of_a_clock_that_stands_after_its_first_message_is_warned() -> None:
    """use_sim_time, a bag recorded 20 min ago played with --clock but paused after its first /clock (its step never
    known), and a live camera stamping the wall time, 20 min ahead: every frame passed as a capture since the last
    /clock (up to 1 h ahead), unwarned, for as long as the clock stood (300 frames: 0 unstamped). Once it has stood
    FIRST_STEP_WAIT_S of wall time they are unstamped, warned naming /clock that does not move, not chrony."""
    warnings: list[str] = []
    steady = FakeClock()
    steps = ClockSteps(steady)
    stats = RuntimeStats(window_s=600.0, clock_ns=steady, warn=warnings.append, clock_steps=steps)
    now_ns = 1_765_000_000 * 1000 * MS
    steps.on_jump(SimpleNamespace(clock_change=None, delta=SimpleNamespace(nanoseconds=now_ns)))
    for k in range(300):  # 30 s at 10 Hz
        steady.now_ns = k * 100 * MS
        stats.frame_published_at(now_ns + (1200 * 1000 + k * 100) * MS, now_ns)
    assert (stats.snapshot().frames_unstamped, warnings) == (0, [])  # the clock's first wait: it may yet step far
    steady.now_ns = round((FIRST_STEP_WAIT_S + 1.0) * 1000) * MS
    stats.frame_published_at(now_ns + 1231 * 1000 * MS, now_ns)
    assert stats.snapshot().frames_unstamped == 1
    (warning,) = warnings
    assert "1231.000 s ahead of the node clock, /clock (use_sim_time), which has not moved" in warning, warning
    assert "set use_sim_time false" in warning and "chrony" not in warning, warning


def clock_change(name: str) -> SimpleNamespace:
    """rcl's clock change as rclpy's post-callback gets it (``use_sim_time`` set at run time: delta 0)."""
    return SimpleNamespace(clock_change=SimpleNamespace(name=name), delta=SimpleNamespace(nanoseconds=0))


class _ChangingWhileRead(ClockSteps):
    """ClockSteps whose next :meth:`changes` read first hears ``use_sim_time`` set true (rclpy's post-callback):
    the node read its clock (the system time) just before the change, RuntimeStats reads the count just after."""

    def __init__(self) -> None:
        super().__init__()
        self.change_on_read = False

    def changes(self) -> int:
        if self.change_on_read:
            self.change_on_read = False
            self.on_jump(clock_change("ROS_TIME_ACTIVATED"))
        return super().changes()


@pytest.mark.parametrize("changed_while_read", [False, True], ids=["between_frames", "between_clock_and_count_reads"])
def test_a_camera_ahead_of_the_sim_clock_after_use_sim_time_is_set_true_at_run_time_is_warned(
    changed_while_read: bool,
) -> None:
    """The node on the system time, then use_sim_time set true at run time (ros2 param set) with a simulator's
    /clock from 100 s, 25 ms steps, beside a live camera stamping the wall time: the latest node clock seen was the
    wall time, so every stamp after the sim clock was taken as captured before the clock went back (a looped bag):
    published with no latency, never unstamped, never warned (20 of 20). The clock change starts that history afresh:
    they are unstamped and warned; a bag looped on the new clock still passes its pass-before frames. The change may
    come between the node's clock read and RuntimeStats' count read: the system time read before it was the new
    history's first time, and every stamp after /clock passed unwarned again (0 of 20): the publish that first sees
    a change adds no history."""
    warnings: list[str] = []
    steps = _ChangingWhileRead()
    stats = RuntimeStats(window_s=60.0, clock_ns=FakeClock(), warn=warnings.append, clock_steps=steps)
    wall_ns = 1_765_000_000 * 1000 * MS
    for k in range(11):  # the system time: 40 ms of latency
        steps.change_on_read = changed_while_read and k == 10  # the node read the system time, then it changed
        stats.frame_published_at(wall_ns + k * 100 * MS, wall_ns + k * 100 * MS + 40 * MS)
    if not changed_while_read:
        steps.on_jump(clock_change("ROS_TIME_ACTIVATED"))
    sim_ns = 100 * 1000 * MS
    steps.on_jump(SimpleNamespace(clock_change=None, delta=SimpleNamespace(nanoseconds=sim_ns)))  # the first /clock
    for k in range(20):
        steps.on_jump(SimpleNamespace(clock_change=None, delta=SimpleNamespace(nanoseconds=25 * MS)))
        stats.frame_published_at(wall_ns + (1100 + k * 100) * MS, sim_ns + (k + 1) * 25 * MS)
    snap = stats.snapshot()
    assert (steps.changes(), snap.published, snap.frames_unstamped) == (1, 31, 20), snap
    (warning,) = warnings
    assert "node clock 100.025 s" in warning and "1 h off" in warning, warning
    stats.frame_published_at(sim_ns + 600 * MS, sim_ns + 600 * MS)  # a bag on /clock played on, then looped:
    stats.frame_published_at(sim_ns + 700 * MS, sim_ns + 50 * MS)  # a frame of the pass before, after the jump
    assert stats.snapshot().frames_unstamped == 20 and len(warnings) == 1


def test_a_camera_clock_59_min_ahead_of_a_node_on_the_system_time_is_still_warned_with_chrony_or_ptp() -> None:
    """Without use_sim_time rcl calls no jump callback: the clock has no step, a stamp 1 s ahead is a camera clock
    ahead, as before; a node clock still at 0 (use_sim_time before the first /clock) is still named /clock."""
    warnings: list[str] = []
    steps = ClockSteps()
    stats = RuntimeStats(window_s=5.0, clock_ns=FakeClock(), warn=warnings.append, clock_steps=steps)
    stats.frame_published_at(30 * 1000 * MS, 0)  # a node clock at 0
    now_ns = 1_700_000_000 * 1000 * MS
    stats.frame_published_at(now_ns + 3540 * 1000 * MS, now_ns)  # 59 min ahead
    stats.frame_published_at(now_ns + 1001 * MS, now_ns)
    stats.frame_published_at(now_ns + 5 * MS, now_ns)  # a small skew: as it is
    snap = stats.snapshot()
    assert (snap.frames_unstamped, snap.latency_p50_ms) == (3, pytest.approx(-5.0))
    assert steps.step_ns() is None and len(warnings) == 2, warnings
    assert "node clock 0.000 s" in warnings[0] and "/clock" in warnings[0] and "chrony" not in warnings[0]
    assert "3540.000 s ahead of the node clock (more than 1 s)" in warnings[1] and "chrony or PTP" in warnings[1]


def test_unstamped_frames_of_another_cause_after_the_first_are_warned_with_their_own_remedy() -> None:
    """use_sim_time: images before the first /clock (node clock 0) are warned naming /clock; once /clock runs, a
    driver that stamps wall time (1.7e9 s against a sim clock at 30 s) or a camera clock 30 s ahead leaves every
    frame unstamped still, but nothing said so: the one warning named /clock, which is published by then. Each cause
    is warned once, with its remedy."""
    warnings: list[str] = []
    stats = RuntimeStats(window_s=5.0, clock_ns=FakeClock(), warn=warnings.append)
    wall_ns, sim_ns = 1_700_000_000 * 1000 * MS, 30 * 1000 * MS
    stats.frame_published_at(wall_ns, 0)  # before the first /clock
    stats.frame_published_at(wall_ns + 100 * MS, 0)
    stats.frame_published_at(wall_ns + 200 * MS, sim_ns)  # /clock runs: the driver's wall-time stamp is 1.7e9 s off
    stats.frame_published_at(wall_ns + 300 * MS, sim_ns + 100 * MS)
    stats.frame_published_at(sim_ns + 30 * 1000 * MS, sim_ns + 200 * MS)  # a camera clock 30 s ahead
    assert stats.snapshot().frames_unstamped == 5
    assert len(warnings) == 3, warnings
    assert "/clock" in warnings[0] and "1 h off" in warnings[1] and "chrony or PTP" in warnings[2], warnings


def test_stamp_zero_is_unstamped_on_a_node_clock_near_zero_too() -> None:
    stats = RuntimeStats(window_s=5.0, clock_ns=FakeClock())
    stats.frame_published_at(0, 30 * MS)  # use_sim_time, /clock just started
    snap = stats.snapshot()
    assert snap.frames_unstamped == 1 and np.isnan(snap.latency_p95_ms) and snap.published == 1


def test_images_missing_add_up_apart_from_the_frames_received() -> None:
    stats = RuntimeStats(window_s=5.0)
    stats.frame_received()
    stats.images_missing(3)
    stats.images_missing(2)
    snap = stats.snapshot()
    assert (snap.images_missing, snap.received, sum(snap.bad.values()), snap.dropped) == (5, 1, 0, 0)


def test_other_inputs_unused_are_counted_apart_from_the_images_and_warn_within_the_window() -> None:
    """A scan or camera_info not used is no image outcome: ``bad`` (images) stays the images' own, so that
    received == published + dropped + bad; it still makes the window's problems (``bad_in_window``: WARN)."""
    clock = FakeClock()
    stats = RuntimeStats(window_s=5.0, clock_ns=clock)
    for _ in range(2):
        stats.frame_received()
    stats.frame_published(10 * MS)
    stats.input_unused("lidar.TransformException")
    stats.input_unused("lidar.TransformException")
    stats.input_unused("camera_info.bad_cdr")
    stats.bad_message("no_camera_info")  # the image that camera_info was for
    stats.bad_message_withdrawn("lidar.TransformException")  # not an image reason: takes nothing back
    snap = stats.snapshot()
    assert snap.unused == {"lidar.TransformException": 2, "camera_info.bad_cdr": 1} and snap.bad_in_window == 4
    assert snap.received == snap.published + snap.dropped + sum(snap.bad.values()) + snap.worker_errors == 2
    clock.now_ns += 6 * 1_000_000_000
    assert stats.snapshot().bad_in_window == 0 and stats.snapshot().unused == snap.unused  # totals kept
    assert unused_warning("lidar.empty_scan", "no points").startswith("LiDAR scan not used (lidar.empty_scan): no")
    assert "counted in bad_messages" in unused_warning("camera_info.bad_cdr", "cut")


def test_16_bit_frames_scaled_wrongly_are_counted_under_their_own_keys_not_as_inputs_unused() -> None:
    """adapters.input_bits' reports are frames published with a suspect scaling, as frames_unstamped are frames
    published without a capture stamp: they were counted in ``inputs_unused.image.*``, the count of other inputs'
    messages not used. Now each key counts on its own (no image outcome, not ``unused``, not ``bad_in_window``),
    WARNs within the window (``sixteen_bit_in_window``) and is logged throttled, naming the key."""
    clock, warnings = FakeClock(), list[str]()
    stats = RuntimeStats(window_s=5.0, clock_ns=clock, warn=warnings.append)
    for index in range(3):
        clock.now_ns = index * 100 * MS
        stats.frame_received()
        stats.sixteen_bit_frame("frames_high_bits_unused", "mono16 images peak at 4095 over their first 30 frames")
        stats.frame_published(10 * MS)
    stats.sixteen_bit_frame("frames_above_significant_bits", "mono16 pixel value 65520 exceeds 4095")
    snap = stats.snapshot()
    assert snap.sixteen_bit == {"frames_high_bits_unused": 3, "frames_above_significant_bits": 1}
    assert (snap.sixteen_bit_in_window, snap.unused, snap.bad_in_window, snap.bad) == (4, {}, 0, {})
    assert snap.received == snap.published == 3
    assert warnings == [  # once per key within the log period (2 s), then with how many were held back
        "16-bit image scaled wrongly? (counted in frames_high_bits_unused): mono16 images peak at 4095 over their "
        "first 30 frames",
        "16-bit image scaled wrongly? (counted in frames_above_significant_bits): mono16 pixel value 65520 exceeds "
        "4095",
    ]
    clock.now_ns += 3 * 1_000_000_000
    stats.sixteen_bit_frame("frames_high_bits_unused", "mono16 images peak at 4095 over their first 30 frames")
    assert warnings[-1].endswith("first 30 frames (2 more since the last)"), warnings[-1]
    clock.now_ns += 6 * 1_000_000_000
    later = stats.snapshot()
    assert later.sixteen_bit_in_window == 0 and later.sixteen_bit["frames_high_bits_unused"] == 4  # totals kept
    with pytest.raises(ValueError, match=r"image\.high_bits_unused"):  # the old name: no key of /diagnostics
        stats.sixteen_bit_frame("image.high_bits_unused", "mono16 images peak at 4095")


class _Holder:
    """A ScanPairing / SyncWatch stand-in: ``drain()`` forgets the images held and returns how many."""

    def __init__(self, held: int) -> None:
        self.held = held

    def drain(self) -> int:
        count, self.held = self.held, 0
        return count


def test_images_held_at_a_stop_are_drained_once() -> None:
    pairing, sync_watch = _Holder(2), _Holder(3)
    assert drained(pairing, None, sync_watch) == 5
    assert drained(pairing, sync_watch) == 0 and pairing.held == sync_watch.held == 0  # nothing twice


def test_seconds_to_ns_rounds_where_a_float_falls_short() -> None:
    """2.01 s is 2_009_999_999.9999998 ns as a float: ``int`` gave one ns less than the bag runner's bound."""
    from mono_depth_ros.adapters.stats import seconds_to_ns

    assert int(2.01 * 1e9) == 2_009_999_999
    assert [seconds_to_ns(s) for s in (2.01, 1.001, 0.2, 0.0)] == [2_010_000_000, 1_001_000_000, 200_000_000, 0]


def test_an_unstamped_cause_warned_once_is_warned_again_after_use_sim_time_changes_at_run_time() -> None:
    """Each cause of unstamped frames is warned once, and was once per node lifetime: a camera 1 h off the system
    time warned, then use_sim_time set true at run time (ros2 param set) with the camera still off the new clock,
    nothing said (the frames counted unstamped in silence), nor after it was set false again. A clock change
    (ClockSteps' changes) makes the causes new: each is warned once more on the new clock; without a change, once."""
    warnings: list[str] = []
    steps = ClockSteps()
    stats = RuntimeStats(window_s=60.0, clock_ns=FakeClock(), warn=warnings.append, clock_steps=steps)
    now_ns, off_ns = 1_700_000_000 * 1000 * MS, 2 * 3600 * 1000 * MS  # the camera stamps 2 h behind

    def frames(count: int) -> None:
        for k in range(count):
            stats.frame_published_at(now_ns + k * 100 * MS - off_ns, now_ns + k * 100 * MS)

    frames(5)
    assert stats.snapshot().frames_unstamped == 5 and len(warnings) == 1, warnings  # once per cause
    for k, change in enumerate(("ROS_TIME_ACTIVATED", "ROS_TIME_DEACTIVATED")):
        steps.on_jump(clock_change(change))
        frames(5)
        assert stats.snapshot().frames_unstamped == 10 + 5 * k and len(warnings) == 2 + k, (change, warnings)
    assert all("1 h off" in warning and "warned once per cause and clock" in warning for warning in warnings)
