"""The node's ROS-free run-time pieces: latest-frame slot, worker, statistics, diagnostics, scans, camera cache."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import CalibrationError, ConfigError, EncodingError
from mono_depth_ros.core.ros_msgs import camera_info_from_intrinsics, make_header
from mono_depth_ros.pipeline import ScaleStatus
from mono_depth_ros.runtime import (
    LEVELS,
    CameraModelCache,
    FrameWorker,
    LatestSlot,
    RuntimeStats,
    ScanPairing,
    StatsSnapshot,
    StopSignals,
    diagnostic_report,
    select_scan,
)

from .core.ros_msg_support import rclpy_style_factory

MS = 1_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns


# ---------------------------------------------------------------------------------------------- slot and worker


@given(st.lists(st.integers(), min_size=1, max_size=50))
def test_slot_keeps_only_the_newest_and_counts_each_replacement(items: list[int]) -> None:
    slot: LatestSlot[int] = LatestSlot()
    replaced = [slot.put(item) for item in items]
    assert replaced == [False] + [True] * (len(items) - 1)
    assert slot.take(timeout_s=0) == items[-1]
    assert slot.take(timeout_s=0) is None  # taken: empty again
    assert slot.put(0) is False


def test_slot_close_wakes_a_waiting_taker_and_ignores_later_puts() -> None:
    slot: LatestSlot[str] = LatestSlot()
    got: list[Any] = []
    taker = threading.Thread(target=lambda: got.append(slot.take()))
    taker.start()
    slot.close()
    taker.join(30)
    assert not taker.is_alive() and got == [None]
    assert slot.closed and slot.put("late") is False and slot.take(timeout_s=0) is None


def test_worker_processes_items_survives_exceptions_and_stops() -> None:
    slot: LatestSlot[int] = LatestSlot()
    handled: list[int] = []
    errors: list[Exception] = []
    seen = threading.Semaphore(0)

    def handle(item: int) -> None:
        seen.release()
        if item == 1:
            raise EncodingError("bad frame")
        if item == 2:
            raise KeyError("a bug")
        handled.append(item)

    worker = FrameWorker(slot, handle, errors.append)
    worker.start()
    for item in (1, 2, 3):
        slot.put(item)
        assert seen.acquire(timeout=30)  # one item at a time: nothing is replaced
    assert worker.stop(timeout_s=30) and not worker.alive
    assert handled == [3]
    assert [type(e) for e in errors] == [EncodingError, KeyError]


# ---------------------------------------------------------------------------------------------- statistics


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


# ---------------------------------------------------------------------------------------------- diagnostics


def snapshot(**changes: Any) -> StatsSnapshot:
    base: dict[str, Any] = {
        "received": 10, "published": 9, "dropped": 1, "bad": {}, "worker_errors": 0, "fps": 9.5,
        "latency_p50_ms": 50.0, "latency_p95_ms": 80.0, "published_in_window": 9, "bad_in_window": 0,
        "errors_in_window": 0, "window_s": 5.0,
    }  # fmt: skip
    return StatsSnapshot(**{**base, **changes})


SCALE_OK = ScaleStatus(mode="lidar", health="ok", scale=1.25, inliers=120, inlier_ratio=0.8)


def test_report_values_and_ok_level() -> None:
    report = diagnostic_report(snapshot(bad={"EncodingError": 2}), SCALE_OK, {"backend": "unet"})
    values = dict(report.values)
    assert report.level == "OK" and "9.5 fps" in report.message
    assert values["fps"] == "9.50" and values["latency_p95_ms"] == "80.0"
    assert values["frames_dropped_stale"] == "1" and values["bad_messages"] == "2"
    assert values["bad_messages.EncodingError"] == "2"
    assert (values["scale"], values["scale_mode"], values["scale_health"]) == ("1.25", "lidar", "ok")
    assert (values["inliers"], values["inlier_ratio"], values["backend"]) == ("120", "0.800", "unet")
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in report.values)


@pytest.mark.parametrize(
    ("changes", "scale", "level", "words"),
    [
        ({"errors_in_window": 1}, SCALE_OK, "ERROR", "worker error"),
        ({"published_in_window": 0}, None, "WARN", "no depth published"),
        ({"bad_in_window": 3}, SCALE_OK, "WARN", "bad message"),
        ({}, ScaleStatus(mode="ground_plane", health="degraded", scale=1.0), "WARN", "degraded"),
        ({}, ScaleStatus(mode="fixed", health="lost", scale=1.0), "ERROR", "scale lost"),
    ],
)
def test_report_levels(changes: dict[str, Any], scale: Any, level: str, words: str) -> None:
    report = diagnostic_report(snapshot(**changes), scale)
    assert report.level == level and report.level in LEVELS
    assert words in report.message


def test_report_carries_the_fit_quality_and_the_age_of_the_scale() -> None:
    scale = ScaleStatus(mode="last_good", health="degraded", scale=2.0, shift=0.05, inliers=80, inlier_ratio=0.5,
                        residual=0.0423, age_ns=1_500_000_000, reason="no LiDAR scan")  # fmt: skip
    values = dict(diagnostic_report(snapshot(), scale).values)
    assert (values["shift"], values["residual"], values["age_s"]) == ("0.05", "0.0423", "1.500")
    assert values["scale_reason"] == "no LiDAR scan"


def test_report_reads_enum_health_and_mode() -> None:
    from mono_depth_ros.core.scale import Health, ScaleMode

    scale = ScaleStatus(mode=ScaleMode.LAST_GOOD, health=Health.DEGRADED, scale=2.0)  # type: ignore[arg-type]
    values = dict(diagnostic_report(snapshot(), scale).values)
    assert (values["scale_mode"], values["scale_health"]) == ("last_good", "degraded")


# ---------------------------------------------------------------------------------------------- scans, camera


@settings(max_examples=50)
@given(st.lists(st.integers(-(10**9), 10**9), max_size=12), st.integers(0, 5 * 10**8))
def test_select_scan_picks_the_closest_within_max_age(offsets: list[int], max_age_ns: int) -> None:
    stamp = 10**18
    scans = [(stamp + off, f"scan{k}") for k, off in enumerate(offsets)]
    chosen = select_scan(scans, stamp, max_age_ns)
    in_range = [s for s in scans if abs(s[0] - stamp) <= max_age_ns]
    if not in_range:
        assert chosen is None
    else:
        assert chosen in in_range
        assert abs(chosen[0] - stamp) == min(abs(s[0] - stamp) for s in in_range)


def test_camera_model_cache_reuses_the_model_until_the_calibration_changes() -> None:
    factory = rclpy_style_factory()
    intrinsics = PinholeIntrinsics(fx=500.0, fy=500.0, cx=319.5, cy=239.5, width=640, height=480)
    info_a = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 1, "cam"))
    info_b = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 2, "cam"))  # same calibration
    cache = CameraModelCache()
    model = cache.get(info_a)
    assert cache.get(info_b) is model
    changed = camera_info_from_intrinsics(
        factory, PinholeIntrinsics(510.0, 500.0, 319.5, 239.5, 640, 480), make_header(factory, 3, "cam")
    )
    assert cache.get(changed) is not model and cache.get(changed).rectified_intrinsics().fx == 510.0
    uncalibrated = camera_info_from_intrinsics(factory, intrinsics, make_header(factory, 4, "cam"))
    uncalibrated.k = np.zeros(9)
    uncalibrated.p = np.zeros(12)
    with pytest.raises(CalibrationError):
        cache.get(uncalibrated)


def pairing(clock: FakeClock, max_age_ms: int = 200, wait_ms: int = 200) -> ScanPairing[str]:
    return ScanPairing(max_age_ms * MS, wait_ms * MS, clock_ns=clock)


def test_pairing_without_any_scan_delays_one_frame_only() -> None:
    clock = FakeClock()
    pair = pairing(clock, wait_ms=200)
    assert pair.add_frame(0, "first") == []
    clock.now_ns = 200 * MS
    (first,) = pair.poll()
    assert first.scan is None and first.timed_out
    (second,) = pair.add_frame(100 * MS, "second")  # no LiDAR at all: nothing more is held
    assert second.scan is None and not second.timed_out


def test_pairing_holds_a_frame_until_the_scan_stamped_with_it_arrives() -> None:
    clock = FakeClock()
    pair = pairing(clock)
    assert pair.add_scan(0, "scan0") == []
    assert pair.add_scan(1000 * MS, "scan1") == []  # a 1 Hz LiDAR
    clock.now_ns = 10 * MS
    assert pair.add_frame(2000 * MS, "frame") == []  # its scan (stamp 2000 ms) is due: held
    clock.now_ns = 60 * MS
    assert pair.poll() == []
    (released,) = pair.add_scan(2000 * MS, "scan2")
    assert (released.item, released.scan, released.timed_out) == ("frame", (2000 * MS, "scan2"), False)
    assert released.waited_ns == 50 * MS
    assert pair.waiting == 0


def test_pairing_releases_at_once_when_no_future_scan_can_be_closer() -> None:
    clock = FakeClock()
    pair = pairing(clock)
    for stamp in (0, 100, 200):  # 10 Hz
        pair.add_scan(stamp * MS, stamp)
    (at_scan,) = pair.add_frame(190 * MS, "covered")  # a scan at or after the frame is in: final
    assert at_scan.scan == (200 * MS, 200)
    (close,) = pair.add_frame(210 * MS, "close")  # 10 ms from scan 200, the next (300) would be 90 ms away
    assert close.scan == (200 * MS, 200)
    assert pair.add_frame(260 * MS, "nearer to the next") == []  # 60 ms from 200, 40 ms from the expected 300


def test_pairing_does_not_wait_for_a_scan_that_cannot_be_within_max_age() -> None:
    clock = FakeClock()
    pair = pairing(clock, max_age_ms=100)
    pair.add_scan(0, "a")
    pair.add_scan(1000 * MS, "b")  # 1 Hz: the next scan is expected at 2000 ms, at 1500 ms if its phase jumped
    (released,) = pair.add_frame(1150 * MS, "between")
    assert released.scan is None and not released.timed_out
    assert pair.add_frame(1450 * MS, "a phase jump would bring its scan") == []


def test_pairing_times_out_and_keeps_frames_in_order() -> None:
    clock = FakeClock()
    pair = pairing(clock, wait_ms=200)
    pair.add_scan(0, "a")
    pair.add_scan(100 * MS, "b")
    assert pair.add_frame(180 * MS, "first") == []
    clock.now_ns = 50 * MS
    assert pair.add_frame(185 * MS, "second") == []
    clock.now_ns = 150 * MS
    assert pair.poll() == []
    clock.now_ns = 200 * MS
    first, second = pair.poll()  # the first waited 200 ms: released with the best scan at hand, then the second
    assert (first.item, first.scan, first.timed_out) == ("first", (100 * MS, "b"), True)
    assert (second.item, second.scan, second.timed_out) == ("second", (100 * MS, "b"), False)  # no LiDAR: no wait


def test_pairing_stops_holding_frames_when_the_lidar_stops() -> None:
    clock = FakeClock()
    pair = pairing(clock, wait_ms=200)
    assert pair.add_frame(0, "first") == []  # start-up: the first scan may be on its way
    clock.now_ns = 5 * MS
    (first,) = pair.add_scan(0, "a")
    assert first.scan == (0, "a")
    clock.now_ns = 0
    pair.add_scan(100 * MS, "b")
    assert pair.add_frame(190 * MS, "waits") == []
    clock.now_ns = 200 * MS
    (timed_out,) = pair.poll()  # the LiDAR stopped: no scan came while it waited
    assert timed_out.timed_out
    (at_once,) = pair.add_frame(350 * MS, "not held")
    assert at_once.scan is None and not at_once.timed_out
    pair.add_scan(400 * MS, "back")  # the LiDAR is back: frames wait for their scans again
    assert pair.add_frame(590 * MS, "held again") == []  # 190 ms from 400; the next (600) may be closer


def test_pairing_bounds_the_frames_it_holds() -> None:
    clock = FakeClock()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 10_000 * MS, max_waiting=2, clock_ns=clock)
    pair.add_scan(0, "a")
    pair.add_scan(100 * MS, "b")
    assert pair.add_frame(160 * MS, 1) == []  # nearer the scan expected at 200 ms than to the one at 100 ms
    assert pair.add_frame(170 * MS, 2) == []
    (oldest,) = pair.add_frame(180 * MS, 3)
    assert oldest.item == 1 and pair.waiting == 2


def test_stop_signals_set_a_flag_instead_of_raising() -> None:
    import os
    import signal as signal_module

    previous = {s: signal_module.getsignal(s) for s in (signal_module.SIGINT, signal_module.SIGTERM)}
    try:
        stop = StopSignals.install()
        assert not stop.received
        os.kill(os.getpid(), signal_module.SIGTERM)  # would end the process with the default handler
        for _ in range(100):
            if stop.received:
                break
        assert stop.received
        os.kill(os.getpid(), signal_module.SIGINT)  # no KeyboardInterrupt
        stop.ignore_further()
        assert signal_module.getsignal(signal_module.SIGINT) == signal_module.SIG_IGN
    finally:
        for signum, handler in previous.items():
            signal_module.signal(signum, handler)
