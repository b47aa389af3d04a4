"""The LiDAR scan for an image: nearest within max_age, and pairing scans that arrive after their image."""

from __future__ import annotations

import math
import weakref
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.adapters.lidar import (
    DIFFERENT_CLOCKS,
    Paired,
    PairingPoll,
    ScanPairing,
    UnpairedLog,
    far_behind,
    held_full_text,
    late_scan_text,
    lidar_scan_from_tf,
    lookup_cam_from_scan,
    no_scan_text,
    select_scan,
    tf_ready,
)
from mono_depth_ros.adapters.messages import decode_scan
from mono_depth_ros.adapters.ros_clock import PlayedClock
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.ros_msgs import make_header, stamp_to_ns, transform_stamped_from_rigid
from mono_depth_ros.core.scale.lidar import LidarScan, project_scan
from test.core.ros_msg_support import rosbags_factory
from test.kitti_bag import load_kitti_frames
from test.lidar_sweep import skewed_sweep, sweep_cloud

from .support import MS, FakeClock, FakeTimer


class _RecordingBuffer:
    """Stands in for tf2_ros.Buffer: records the frames asked for (tf2 refuses ids with a leading '/')."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    def lookup_transform(self, target: str, source: str, stamp: object, timeout: object) -> str:
        self.asked.append((target, source))
        return "transform"

    def lookup_transform_full(
        self, target: str, target_stamp: object, source: str, source_stamp: object, fixed: str, timeout: object
    ) -> str:
        self.asked.append((target, source, fixed))
        return "transform"


def test_a_scan_frame_with_a_ros1_leading_slash_is_looked_up_as_tf2_stores_it() -> None:
    """A Velodyne driver bridged from ROS 1 stamps ``/velodyne``; tf2 stores its transforms as ``velodyne`` and
    refuses a lookup of ``/velodyne``: every scan was unused in the node, used in the bag runner."""
    buffer = _RecordingBuffer()
    header = SimpleNamespace(frame_id="/velodyne", stamp=None)
    lookup_cam_from_scan(buffer, "camera_optical", None, header, "", None)
    lookup_cam_from_scan(buffer, "camera_optical", None, header, "odom", None)
    assert buffer.asked == [("camera_optical", "velodyne"), ("camera_optical", "velodyne", "odom")]


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


def pairing(clock: FakeClock, max_age_ms: int = 200, wait_ms: int = 200) -> ScanPairing[str]:
    return ScanPairing(max_age_ms * MS, wait_ms * MS, clock_ns=clock)


@pytest.mark.parametrize(
    ("behind_ns", "period_ns", "wait_ns", "scans", "far"),
    [
        (1_300 * MS, 100 * MS, 500 * MS, 10, False),  # on the bound: 0.2 s + max(1 s, 0.5 s) + 0.1 s
        (1_300 * MS + 1, 100 * MS, 500 * MS, 10, True),
        (1_200 * MS + 1, None, 500 * MS, 1, False),  # no period known yet: never far behind (one scan at hand)
        (10_000 * MS, None, 500 * MS, 1, False),
        (1_200 * MS, None, 500 * MS, 2, False),  # two scans stamped alike: their stamps do not advance, no period
        (1_200 * MS + 1, None, 500 * MS, 2, True),
        (2_300 * MS, 100 * MS, 2_000 * MS, 10, False),  # a wait longer than 1 s: the wait
        (2_300 * MS + 1, 100 * MS, 2_000 * MS, 10, True),
    ],
)
def test_far_behind_is_past_max_age_plus_the_longer_of_1_s_and_the_wait_plus_a_period(
    behind_ns: int, period_ns: int | None, wait_ns: int, scans: int, far: bool
) -> None:
    """The one 'scans stamped far behind' rule the node's ScanPairing and the bag runner's lidar_sent_at_rate share
    (lidar.max_age_s 0.2 s); no scan at hand is never far behind."""
    assert far_behind(10**10 + behind_ns, 10**10, period_ns, 200 * MS, wait_ns, scans) is far
    assert far_behind(10**10 + behind_ns, None, period_ns, 200 * MS, wait_ns, scans) is False


def test_pairing_without_any_scan_delays_one_frame_only() -> None:
    clock = FakeClock()
    pair = pairing(clock, wait_ms=200)
    assert pair.add_frame(0, "first") == []
    clock.now_ns = 200 * MS
    (first,) = pair.poll()
    assert first.scan is None and first.timed_out
    (second,) = pair.add_frame(100 * MS, "second")  # no LiDAR at all: nothing more is held
    assert second.scan is None and not second.timed_out


def test_a_frame_10_s_after_the_only_scan_waits_for_its_own_scan_as_the_bag_runner_pairs_it() -> None:
    """KITTI object frames recorded 10 s apart (`mono-depth demo --kitti`'s input bag played into the node), each scan
    stamped as its image and coming 2 ms after it: with one scan at hand the scan period is unknown, so the second
    frame is held for its own scan; it went at once without it (taken as a LiDAR on another clock) and was warned as
    a LiDAR that stopped, where the bag runner paired that scan."""
    clock = FakeClock()
    pair = pairing(clock)
    assert pair.add_frame(0, "frame0") == []
    clock.now_ns = 2 * MS
    (first,) = pair.add_scan(0, "scan0")
    assert first.scan == (0, "scan0")
    clock.now_ns = 10_000 * MS
    assert pair.add_frame(10_000 * MS, "frame1") == []  # held: the scan period is not known yet
    clock.now_ns = 10_002 * MS
    (second,) = pair.add_scan(10_000 * MS, "scan1")
    assert (second.item, second.scan, second.timed_out) == ("frame1", (10_000 * MS, "scan1"), False)


def test_a_lidar_stamping_every_scan_alike_far_behind_does_not_hold_every_frame() -> None:
    """A 10 Hz LiDAR driver that stamps every scan 0 (its stamps left unset, or use_sim_time without /clock) and a
    30 Hz camera stamped from 1000 s: the scans' stamps do not advance, so no scan period is ever known. With
    "never far behind before the period is known" every frame was held lidar.wait_s (0.2 s) for a scan that cannot
    come, 59 of 60 timed out; the frames after the second scan go at once, each warned (on_unpaired)."""
    clock, warned = FakeClock(), list[Paired[int]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_unpaired=warned.append)
    released: list[Paired[int]] = []
    for now in range(2000):  # ms
        clock.now_ns = now * MS
        if now % 33 == 0:
            released += pair.add_frame(1_000_000 * MS + now * MS, now)
        if now % 100 == 30:
            released += pair.add_scan(0, f"scan at {now}")
        if now % 10 == 0:
            released += pair.poll()
    after_two = [p for p in released if p.item > 130]  # the second scan came at 130 ms
    assert len(released) == 61 and len(after_two) == 57, len(released)
    assert all(p.waited_ns == 0 and p.scan is None and not p.timed_out for p in after_two), after_two[:3]
    assert len(warned) == len(released)  # each frame without its scale is warned (throttled by UnpairedLog)


def test_a_lidar_that_published_one_scan_and_stopped_holds_one_wait_then_no_frame() -> None:
    """One scan (stamped 0), then none; a 30 Hz camera from 5 s on: with one scan at hand the frames are no longer
    sent at once as far behind (the scan period is unknown), so the first waits lidar.wait_s (0.2 s) and goes
    without a scan, timed out, warned with the scan's distance (on_unpaired); no scan came during its wait, so the
    LiDAR is taken as stopped and the frames after it go at once, each warned: none held past the wait, none lost."""
    clock, warned = FakeClock(), list[Paired[int]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_unpaired=warned.append)
    pair.add_scan(0, "the only scan")
    released: list[Paired[int]] = []
    for now in range(5_000, 6_000):  # ms
        clock.now_ns = now * MS
        if now % 33 == 0:
            released += pair.add_frame(now * MS, now)
        if now % 10 == 0:
            released += pair.poll()
    assert pair.waiting == 0 and len(released) == 30
    assert max(p.waited_ns for p in released) <= 210 * MS  # the wait, and the 10 ms poll
    assert released[0].timed_out and not any(p.timed_out for p in released[1:])
    assert [p.waited_ns for p in released[7:]] == [0] * 23  # after the first frame's wait: at once
    assert all(p.scan is None for p in released) and [p.nearest_ns for p in warned] == [0] * 30


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
    assert pair.scans_seen == 3  # what the node's input watch reads (a LiDAR topic with scans is not silent)


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


def test_pairing_after_time_went_back_waits_for_each_frames_own_scan_again() -> None:
    """A bag played with --loop: the scans cached before the jump are "newer" than every frame after it, which made
    each choice final at once (the next ten frames went out with the previous period's scan, the first with none)."""
    clock = FakeClock()
    pair = pairing(clock)

    def frame_then_scan(stamp: int) -> list[tuple[object, object]]:
        released = pair.add_frame(stamp, stamp)
        clock.now_ns += 30 * MS
        released += pair.add_scan(stamp, stamp)  # the scan with the image's stamp, 30 ms after it
        clock.now_ns += 70 * MS
        return [(r.item, r.scan) for r in released + pair.poll()]

    start = 100_000 * MS
    for k in range(20):  # 10 Hz
        assert frame_then_scan(start + k * 100 * MS) == [(start + k * 100 * MS, (start + k * 100 * MS,) * 2)]
    back = start - 60_000 * MS
    for k in range(12):
        stamp = back + k * 100 * MS
        assert frame_then_scan(stamp) == [(stamp, (stamp, stamp))]


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


def test_the_pairing_poll_runs_only_while_frames_wait_for_their_scan() -> None:
    """The node's 50 Hz pairing poll woke its executor five times per 10 Hz frame with nothing to do (each wake-up
    of rclpy's executor costs ~0.5 ms CPU: 30 ms per second of an idle node). It runs only while frames are held."""
    clock = FakeClock()
    pair = pairing(clock, wait_ms=200)
    timer = FakeTimer()
    poll = PairingPoll(timer, pair)
    assert timer.canceled  # nothing held
    pair.add_scan(0, "a")
    pair.add_scan(100 * MS, "b")
    poll.update()
    assert timer.canceled and timer.resets == 0
    assert pair.add_frame(200 * MS, "frame") == []  # its scan is due: held
    poll.update()
    assert not timer.canceled and timer.resets == 1  # armed: a full period from now
    assert pair.add_frame(260 * MS, "next") == []  # the scan due at 300 ms may be closer than the one at 200
    poll.update()
    assert timer.resets == 1  # already running: not restarted
    released = pair.add_scan(200 * MS, "c")
    poll.update()
    assert [r.item for r in released] == ["frame"] and not timer.canceled  # "next" still waits
    clock.now_ns = 200 * MS
    assert [r.item for r in pair.poll()] == ["next"]  # timed out, as with a timer that never stops
    poll.update()
    assert timer.canceled and timer.resets == 1


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


def stream(
    lag_ms: int, frames: int, stop_scans_at_ms: int | None = None, back_at_ms: int | None = None, wait_ms: int = 200
) -> Any:
    """A 10 Hz camera and a 10 Hz LiDAR stamped alike, each image arriving at its stamp and its scan ``lag_ms``
    later (none stamped from ``stop_scans_at_ms`` until ``back_at_ms``), lidar.wait_s ``wait_ms``, polled every 10 ms;
    returns the frames released and the ``on_late`` reports."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[str] = ScanPairing(200 * MS, wait_ms * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    released: list[Paired[str]] = []
    for now in range(0, frames * 100 + 1000, 10):
        clock.now_ns = now * MS
        if now % 100 == 0 and now < frames * 100:
            released += pair.add_frame(now * MS, f"image {now}")
        stamp = now - lag_ms
        stopped = stop_scans_at_ms is not None and stop_scans_at_ms <= stamp < (back_at_ms or 10**9)
        if stamp >= 0 and stamp % 100 == 0 and stamp < frames * 100 and not stopped:
            released += pair.add_scan(stamp * MS, f"scan {stamp}")
        released += pair.poll()
    return released, reports


def test_scans_that_come_later_than_the_wait_are_reported_with_the_wait_to_set() -> None:
    """Scans 300 ms after their image, lidar.wait_s 0.2 s: no frame got its own scan, and nothing said so."""
    released, reports = stream(lag_ms=300, frames=20)
    assert len(released) == 20 and not [p for p in released if p.scan is not None and p.scan[0] == p.stamp_ns]
    assert len(reports) >= 15, reports
    reason, text = reports[0]
    assert reason == "lidar.after_wait"
    assert "came 0.300 s after the image stamped" in text and "longer than lidar.wait_s=0.2 s" in text, text
    assert "set lidar.wait_s to 0.4 s or more" in text, text


@pytest.mark.parametrize("older_ms", [None, -190], ids=["no-scan-at-hand", "a-further-scan-at-hand"])
def test_a_frame_that_waited_in_vain_for_a_scan_stamped_ahead_of_it_is_counted_with_the_wait_to_set(
    older_ms: int | None,
) -> None:
    """A Velodyne sweep paired by its middle, 180 ms after the image's stamp (within lidar.max_age_s 0.2 s), reaches
    the node 233 ms after the image, lidar.wait_s 0.2 s: the frame waited its 0.2 s and went without the scan it
    would have paired. The late-scan check took off the scan's stamp lead (233 - 180 = 53 ms, "within the wait") and
    counted nothing: a frame gone without its scan, silently, where the bag runner warns (``scan after
    lidar.wait_s``, wait 0.3 s). A frame that waited the full wait is measured by how long after it the scan came."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[str] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    if older_ms is not None:
        pair.add_scan((1000 + older_ms) * MS, "older")  # further than the sweep to come: the choice is not final
    clock.now_ns = 1000 * MS
    assert pair.add_frame(1000 * MS, "image") == []
    clock.now_ns = 1200 * MS
    (gone,) = pair.poll()
    assert gone.timed_out and (gone.scan is None) == (older_ms is None)
    clock.now_ns = 1233 * MS
    assert pair.add_scan(1180 * MS, "sweep") == [] and len(reports) == 1, reports
    reason, text = reports[0]
    assert reason == "lidar.after_wait", reports
    assert "came 0.233 s after the image stamped 1.000 s" in text and "set lidar.wait_s to 0.3 s" in text, text


def test_one_late_scan_counts_every_frame_it_left_without_lidar_scale() -> None:
    """A 30 Hz camera (frames at 0, 33, 67 ms), a 10 Hz LiDAR whose one scan (stamped 0) comes 300 ms late, lidar.wait_s
    0.2 s: all three frames went without a scan (no LiDAR scale), and ``on_late`` was called once, for the scan: the
    node counted ``inputs_unused.lidar.after_wait`` 1 where the bag runner warned 3 times (once per frame that took the
    late scan) and the other ``inputs_unused.lidar.*`` keys count frames. One report per frame left without it."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    released: list[Paired[int]] = []
    for now in range(301):  # ms
        clock.now_ns = now * MS
        if now in (0, 33, 67):
            released += pair.add_frame(now * MS, now)
        if now == 300:
            released += pair.add_scan(0, "scan 0")
        released += pair.poll()
    assert [p.item for p in released] == [0, 33, 67] and all(p.scan is None for p in released), released
    assert [reason for reason, _ in reports] == ["lidar.after_wait"] * 3, reports
    stamps = sorted(text.split("after the image stamped ")[1].split(" s,")[0] for _, text in reports)
    assert stamps == ["0.000", "0.033", "0.067"], reports
    clock.now_ns = 400 * MS
    assert pair.add_scan(100 * MS, "scan 100") == [] and len(reports) == 3, reports  # each frame counted once


def _camera_and_late_lidar(
    pair: ScanPairing[int], clock: FakeClock, lag_ms: int, *, frames_before_ms: int, scans_until_ms: int
) -> list[Paired[int]]:
    """A 30 Hz camera (frames stamped every 33 ms before ``frames_before_ms``, each arriving at its stamp) and a 10 Hz
    LiDAR whose scans (stamped every 100 ms up to ``scans_until_ms``) arrive ``lag_ms`` after their stamp, polled
    every 10 ms, one ms at a time until the last scan's arrival + 100 ms: every pairing released."""
    released: list[Paired[int]] = []
    for now in range(scans_until_ms + 100 + lag_ms):  # ms
        clock.now_ns = now * MS
        if now % 33 == 0 and now < frames_before_ms:
            released += pair.add_frame(now * MS, now)
        if now >= lag_ms and (now - lag_ms) % 100 == 0 and now - lag_ms <= scans_until_ms:
            released += pair.add_scan((now - lag_ms) * MS, now - lag_ms)
        if now % 10 == 0:
            released += pair.poll()
    return released


@pytest.mark.parametrize("lag_ms", [300, 1000, 4000])
def test_a_lidar_later_than_the_wait_is_reported_once_per_frame_with_the_frames_own_scan(lag_ms: int) -> None:
    """A 30 Hz camera, a 10 Hz LiDAR whose scans all come 0.3, 1 or 4 s after their stamp, lidar.wait_s 0.2 s: every
    frame went without its scan; each is reported once, by its nearest scan (not by an earlier one within max_age_s
    that came sooner: its text would name a wait too short for the frame's own scan; the first scan, before the
    LiDAR's period is known, reports every frame within max_age_s). The frames gone were remembered 16 at a time:
    a LiDAR 1 s late left 30 frames without their scan and 16 were counted."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    released = _camera_and_late_lidar(pair, clock, lag_ms, frames_before_ms=990, scans_until_ms=1000)
    assert len(released) == 30
    lost = [p.stamp_ns // MS for p in released if p.scan is None or abs(p.scan[0] - p.stamp_ns) > 50 * MS]
    stamps = [int(float(text.split("after the image stamped ")[1].split(" s,")[0]) * 1000) for _, text in reports]
    assert sorted(stamps) == lost and len(lost) >= 25, (stamps, lost)
    for _, text in reports:
        scan_ms = float(text.split("the scan stamped ")[1].split(" s")[0]) * 1000
        image_ms = float(text.split("after the image stamped ")[1].split(" s,")[0]) * 1000
        assert scan_ms == 0 or abs(scan_ms - image_ms) <= 50, text  # the first scan: no period known yet


@pytest.mark.parametrize("lag_ms", [1500, 2500])
def test_a_lidar_late_past_the_other_clock_bound_counts_every_frame_it_left_without_its_scan(lag_ms: int) -> None:
    """A 30 Hz camera, a 10 Hz LiDAR whose scans all come 1.5 or 2.5 s after their stamp (same clock), lidar.wait_s
    0.2 s, for 3 s: once the newest scan at hand is more than max_age_s + 1 s + a period behind a frame, the frame goes
    at once (no scan can come in time: the LiDAR is taken as on another clock or stalled), and it was not remembered
    as gone without its scan, so its scan, when it came, counted nothing: 46 of 89 frames counted at 1.5 s, where the
    bag runner warns every frame ('scan after lidar.wait_s'). Each is counted once when its own scan comes."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    released = _camera_and_late_lidar(pair, clock, lag_ms, frames_before_ms=2950, scans_until_ms=3000)
    assert len(released) == 90
    lost = [p.stamp_ns // MS for p in released if p.scan is None or abs(p.scan[0] - p.stamp_ns) > 50 * MS]
    stamps = [round(float(text.split("after the image stamped ")[1].split(" s,")[0]) * 1000) for _, text in reports]
    assert sorted(stamps) == lost and len(lost) == 90, (len(stamps), len(lost), sorted(set(lost) - set(stamps)))


def test_frames_gone_before_lidar_wait_s_was_raised_count_their_late_scans_against_their_own_wait() -> None:
    """A 30 Hz camera, a 10 Hz LiDAR 300 ms late, lidar.wait_s 0.2 s, raised to 0.4 s at run time (as the warning
    advises: ``ros2 param set``; the node gives the new wait to its pairing) at 500 ms: the frames that had already
    gone after 0.2 s lost their scans, which then came 0.3 s after them. They were compared with the new wait
    (0.3 s < 0.4 s: in time) and not counted: frames without their LiDAR scale, silently. Each is counted, its text
    naming the wait it went under; the frames after the change wait 0.4 s and take their scans."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    released: list[Paired[int]] = []
    for now in range(1700):  # ms
        clock.now_ns = now * MS
        if now == 500:
            pair.wait_ns = 400 * MS
        if now % 33 == 0 and now < 990:
            released += pair.add_frame(now * MS, now)
        if now >= 300 and (now - 300) % 100 == 0 and now - 300 <= 1000:
            released += pair.add_scan((now - 300) * MS, now - 300)
        if now % 10 == 0:
            released += pair.poll()
    assert len(released) == 30
    lost = [p.stamp_ns // MS for p in released if p.scan is None or abs(p.scan[0] - p.stamp_ns) > 50 * MS]
    assert 5 <= len(lost) < 30, lost  # the frames gone under 0.2 s; the later ones waited for their scans
    stamps = [int(float(text.split("after the image stamped ")[1].split(" s,")[0]) * 1000) for _, text in reports]
    assert sorted(stamps) == lost, (stamps, lost)
    assert all("longer than lidar.wait_s=0.2 s" in text for _, text in reports), reports


@pytest.mark.parametrize(("lag_ms", "stop_ms", "back_ms"), [(30, None, None), (150, None, None), (30, 500, 1200)])
def test_scans_within_the_wait_or_a_lidar_coming_back_are_no_late_scans(
    lag_ms: int, stop_ms: int | None, back_ms: int | None
) -> None:
    """Scans 30 or 150 ms after their image each pair with their image; a LiDAR that stops and comes back (frames
    went at once meanwhile, the first scan after it within the wait of those frames) is no LiDAR later than the
    wait."""
    released, reports = stream(lag_ms, 20, stop_ms, back_ms)
    assert reports == []
    if stop_ms is None:
        assert all(p.scan is not None and p.scan[0] == p.stamp_ns for p in released)


@pytest.mark.parametrize("lag_ms", [10, 50, 150])
def test_with_lidar_wait_s_0_no_scan_is_reported_late(lag_ms: int) -> None:
    """lidar.wait_s 0 ("never wait"): every frame goes at once, so every scan of a LiDAR however prompt (10 ms after
    its image) came "after the wait" of 0 s: counted ``lidar.after_wait`` and warned "set lidar.wait_s to 0.1 s or
    more" at the LiDAR's rate forever, advice against the user's choice not to wait. With no wait, nothing is late."""
    released, reports = stream(lag_ms, 20, wait_ms=0)
    assert len(released) == 20 and all(p.waited_ns == 0 for p in released)
    assert reports == [], reports[:2]


@pytest.mark.parametrize("lag_ms", [250, 300])
def test_with_lidar_wait_s_0_frames_left_with_no_scan_at_all_are_told_the_wait_to_set(lag_ms: int) -> None:
    """lidar.wait_s 0 and a LiDAR whose scans come 250-300 ms after their image (``lidar.max_age_s`` 0.2 s): every
    frame goes with no scan at all (the newest at hand is older than ``max_age_s``, yet within ``max_age_s`` and a
    period, so not reported as a stopped LiDAR): each lost its LiDAR scale, which a wait would have kept, and nothing
    said so (only ``scale_reason``). A frame that took an older scan is not reported (never waiting was chosen)."""
    released, reports = stream(lag_ms, 20, wait_ms=0)
    assert len(released) == 20 and all(p.scan is None for p in released)
    assert {reason for reason, _ in reports} == {"lidar.after_wait"}
    assert len(reports) >= 15, reports
    assert f"set lidar.wait_s to {math.ceil(lag_ms * 1.2 / 100) / 10:g} s or more" in reports[-1][1], reports[-1]


def test_a_30_hz_camera_gets_each_scan_a_lidar_delivers_within_the_wait() -> None:
    """A 30 Hz camera, a 10 Hz LiDAR whose scans come 0.3 s after their stamp, lidar.wait_s 0.4 s (what the
    after_wait warning advises): 10-12 frames wait at once. The pairing held at most 8 and let the oldest go as more
    came, each without its scan: 18 of 91 frames got the scan nearest to them, the rest an older one, silently."""
    clock = FakeClock()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 400 * MS, clock_ns=clock)
    released: list[Paired[int]] = []
    for now in range(4000):  # ms
        clock.now_ns = now * MS
        if now % 33 == 0 and now < 3000:
            released += pair.add_frame(now * MS, now)
        if now >= 300 and (now - 300) % 100 == 0 and now - 300 <= 3000:
            released += pair.add_scan((now - 300) * MS, now - 300)
        if now % 10 == 0:
            released += pair.poll()
    assert len(released) == 91
    off_ms = [abs(p.scan[0] - p.stamp_ns) // MS if p.scan is not None else None for p in released]
    assert all(off is not None and off <= 50 for off in off_ms), off_ms


def test_a_camera_later_than_a_fast_lidar_still_gets_the_scan_stamped_with_it() -> None:
    """Images that reach the node 0.25 s after their stamp (a GigE camera, a rectification on the way) and a 50 Hz
    LiDAR delivered at once: the pairing kept the last 10 scans, 0.2 s of them, so each image's own scan was gone
    when it arrived and every frame took one 60 ms away, silently. Scans are kept by time (1 s)."""
    clock = FakeClock()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock)
    released: list[Paired[int]] = []
    for now in range(4000):  # ms
        clock.now_ns = now * MS
        if now >= 250 and (now - 250) % 100 == 0 and now - 250 < 3000:
            released += pair.add_frame((now - 250) * MS, now - 250)
        if now % 20 == 0 and now < 3500:
            released += pair.add_scan(now * MS, now)
        if now % 10 == 0:
            released += pair.poll()
    assert len(released) == 30
    assert [p.scan[0] - p.stamp_ns if p.scan is not None else None for p in released] == [0] * 30


def test_frames_let_go_because_too_many_are_held_are_counted_with_the_wait_to_set() -> None:
    """A 30 Hz camera, a 10 Hz LiDAR whose scans come 2.5 s after their stamp, lidar.wait_s 3 s (what the
    after_wait warning advises): 90 frames would wait, the pairing holds 64 and let the oldest go after 2.1 s, each
    without its scan (it came 0.4 s later, within the wait: no after_wait either), and nothing said so."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 3000 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    released: list[Paired[int]] = []
    for now in range(9000):  # ms
        clock.now_ns = now * MS
        if now % 33 == 0 and now < 6000:
            released += pair.add_frame(now * MS, now)
        if now >= 2500 and (now - 2500) % 100 == 0 and now - 2500 <= 6000:
            released += pair.add_scan((now - 2500) * MS, now - 2500)
        if now % 10 == 0:
            released += pair.poll()
    lost = [p for p in released if p.scan is None or abs(p.scan[0] - p.stamp_ns) > 50 * MS]
    assert len(released) == 182 and len(lost) > 100  # the bound, not the pairing, is what this test is about
    assert len(reports) == len(lost), (len(reports), len(lost))
    reason, text = reports[0]
    assert reason == "lidar.held_full"
    assert "64 images were held for their LiDAR scan" in text and "before lidar.wait_s=3 s" in text, text
    assert "set lidar.wait_s to 2.1 s or less, or lower the camera rate" in text, text


@pytest.mark.parametrize("hours_behind", [1, 0])
def test_frames_let_go_while_a_slow_lidar_stamps_on_another_clock_are_told_the_clocks_not_a_wait(
    hours_behind: int,
) -> None:
    """A 0.2 Hz LiDAR stamped an hour behind a 30 Hz camera, lidar.wait_s 5 s: with one scan at hand (its period not
    known yet) the frames wait for the second, the 64-frame bound lets them go after ~2.1 s, counted
    lidar.held_full, and each was told "set lidar.wait_s to 2.1 s or less, or lower the camera rate", which pairs
    none: the scans are stamped an hour behind, far more than they arrived before the frames. It names the clocks, as
    the "LiDAR scan not used" line (no_scan_text) does. On one clock (a healthy 0.2 Hz LiDAR, its newest scan up to
    ~3 s behind the frames let go, having arrived that much before them) the wait to set stays."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 5000 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    camera_ns = 100_000 * 1000 * MS  # the camera's clock; the LiDAR's is hours_behind behind it
    lidar_ns = camera_ns - hours_behind * 3600 * 1000 * MS
    for now in range(12_000):  # ms
        clock.now_ns = now * MS
        if now % 5000 == 10:  # 0.2 Hz, arriving 10 ms after its stamp
            pair.add_scan(lidar_ns + (now - 10) * MS, now)
        if now % 33 == 0:
            pair.add_frame(camera_ns + now * MS, now)
        if now % 10 == 0:
            pair.poll()
    held = [text for reason, text in reports if reason == "lidar.held_full"]
    assert held, reports
    clocks = "the LiDAR and the camera stamp on different clocks: compare their header stamps"
    if hours_behind:
        assert len(held) > 80, len(held)  # (the real node counted 89: its frames came from t = 0)
        assert all(clocks in text and "set lidar.wait_s" not in text for text in held), held[0]
        assert "the newest scan at hand is stamped 3600.0" in held[0] and "lower camera rate pairs them" in held[0]
        assert clocks in no_scan_text("/lidar", camera_ns, lidar_ns, 0.2)  # the bag runner's words for these frames
    else:
        assert all(clocks not in text and "set lidar.wait_s to 2.1 s or less" in text for text in held), held


@pytest.mark.parametrize(("play_rate", "wait_ms"), [(4, 1000), (8, 2000)])
def test_a_bag_played_faster_with_a_slow_lidar_on_one_clock_is_not_told_different_clocks(
    play_rate: int, wait_ms: int
) -> None:
    """`ros2 bag play --rate 4` without /clock: a 0.2 Hz LiDAR and a 30 Hz camera recorded on one clock, their stamps
    advancing 4x as fast as they arrive (120 images a second). The frames let go by the 64-frame bound are stamped up
    to ~2.3 s after the newest scan, which arrived a quarter of that before them: taken as stamped 1.2 s "more than
    the time between their arrivals", 165 of 213 held_full lines said "the LiDAR and the camera stamp on different
    clocks" (at --rate 8 with lidar.wait_s 2 s: 92). The arrivals are scaled by the held frames' stamp rate."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, wait_ms * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    base_ns = 100_000 * 1000 * MS
    events = sorted([(t, 0) for t in range(10, 40_000, 5000)] + [(t, 1) for t in range(0, 40_000, 33)])  # bag ms
    polled = 0
    for t, kind in events:
        arrival_ns = t * MS // play_rate
        while polled + 10 * MS < arrival_ns:  # the node's 10 ms poll
            polled += 10 * MS
            clock.now_ns = polled
            pair.poll()
        clock.now_ns = arrival_ns
        if kind == 0:
            pair.add_scan(base_ns + (t - 10) * MS, t)
        else:
            pair.add_frame(base_ns + t * MS, t)
    held = [text for reason, text in reports if reason == "lidar.held_full"]
    assert len(held) > 100, reports
    clocks = [text for text in held if "different clocks" in text]
    assert not clocks, (len(clocks), clocks[:1])


def _late_lidar_reports(latency_ms: int, wait_ms: int, camera_ms: int) -> list[tuple[str, str]]:
    """on_late's reports for 20 s of a 10 Hz LiDAR on the camera's clock whose scans arrive ``latency_ms`` after
    their stamps, a camera every ``camera_ms`` arriving 5 ms after its stamps, ``lidar.wait_s`` ``wait_ms``."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(50 * MS, wait_ms * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    base_ns = 100_000 * 1000 * MS
    scans = [(t + latency_ms, 0, t) for t in range(0, 20_000, 100)]
    events = sorted(scans + [(t + 5, 1, t) for t in range(0, 20_000, camera_ms)])  # (arrival ms, kind, stamp ms)
    polled = 0
    for arrival, kind, t in events:
        while polled + 10 < arrival:
            polled += 10
            clock.now_ns = polled * MS
            pair.poll()
        clock.now_ns = arrival * MS
        if kind == 0:
            pair.add_scan(base_ns + t * MS, t)
        else:
            pair.add_frame(base_ns + t * MS, t)
    return reports


def test_frames_let_go_while_a_lidar_on_the_cameras_clock_delivers_later_than_the_wait_are_told_the_wait_and_rate() -> (
    None
):
    """A 10 Hz LiDAR on the camera's clock whose scans arrive 3.2 s after their stamps, a 30 Hz camera, lidar.wait_s
    3 s: the frames the 64-frame bound let go were told "the LiDAR and the camera stamp on different clocks ...
    neither another lidar.wait_s nor a lower camera rate pairs them" (813 of 846), though a longer wait and a lower
    camera rate pair every frame. They are told that wait and rate, which then pair them all."""
    held = [text for reason, text in _late_lidar_reports(3200, 3000, 33) if reason == "lidar.held_full"]
    assert len(held) > 500, len(held)
    assert not [text for text in held if "different clocks" in text or "pairs them" in text], held[-1]
    told = [text for text in held if "the LiDAR delivers its scans that late" in text]
    assert len(told) > 500, held[-1]
    assert all("camera rate to 16 Hz or less (the node holds 64 images)" in text for text in told), told[-1]
    assert sum("set lidar.wait_s to 4 s or more" in text for text in told) > 500, told[-1]  # (3.9 s: one scan at hand)
    assert _late_lidar_reports(3200, 4000, 1000 // 16) == []  # the wait and rate told: every frame paired


def test_frames_let_go_in_a_burst_are_not_told_to_wait_0_s_or_less() -> None:
    """70 images delivered at once (an executor backlog), 1 us apart, ahead of their scans: the 64-frame bound let
    the oldest go 0.000 s after it came and the text advised "set lidar.wait_s to 0 s or less", i.e. never wait. Held
    under 0.1 s, no wait helps: it names the burst and the camera rate."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    pair.add_scan(900 * MS, "a")  # a LiDAR seen before: its period not known yet
    released = []
    for i in range(70):
        clock.now_ns = 5000 * MS + i * 1000
        released += pair.add_frame(1000 * MS + i * 33 * MS, i)
    assert len(released) == len(reports) == 6, reports
    reason, text = reports[0]
    assert reason == "lidar.held_full" and "went on 0.000 s after it came" in text, text
    assert "set lidar.wait_s" not in text, text
    assert "lower the camera rate" in text and "in a burst" in text, text
    text = held_full_text(0, 2_150 * MS, 64, 3000 * MS)  # held long enough: the wait to set stays
    assert "set lidar.wait_s to 2.1 s or less, or lower the camera rate" in text, text


class _Sweep:
    """A scan the pairing keeps (weakly referenced here: alive while the pairing keeps it)."""


def test_scans_are_kept_for_as_long_as_the_cameras_lateness_needs_not_a_second() -> None:
    """A dense LiDAR (a 128-beam Ouster at 20 Hz, ~6.3 MB a sweep) whose scans arrive 50 ms after their stamp and a
    camera whose images arrive 20 ms after theirs: each image's scan is the newest or still to come, yet the pairing
    kept every scan of the last second, 20 of them (~126 MB), where the last 10 (main's bound) serve as well."""
    clock = FakeClock()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock)
    alive: list[weakref.ref[_Sweep]] = []
    offsets: list[int | None] = []
    for now in range(3000):  # ms
        clock.now_ns = now * MS
        released = pair.poll()
        if now >= 20 and (now - 20) % 50 == 0:
            released += pair.add_frame((now - 20) * MS, now - 20)
        if now >= 50 and (now - 50) % 50 == 0:
            sweep = _Sweep()
            alive.append(weakref.ref(sweep))
            released += pair.add_scan((now - 50) * MS, sweep)
            del sweep
        offsets += [None if p.scan is None else p.scan[0] - p.stamp_ns for p in released]
        del released
    assert len(offsets) >= 55 and set(offsets) == {0}, offsets
    kept = sum(ref() is not None for ref in alive)
    assert kept <= 10, f"{kept} scans kept"


def test_the_late_scan_text_caps_the_wait_to_set_at_the_parameters_range() -> None:
    """Scans 4 s late: 4.8 s to set. At 4.2 s late 5.1 s would be needed, 7 s late 8.4 s: the text advised "set
    lidar.wait_s to 5 s or more", which the node's range (at most 5 s) refuses or which cannot help: it says the
    LiDAR is later than the node can wait, and that its driver / network latency is what to fix. Up to 5 s late
    the maximum does wait for it (without the 20 % margin): the text said "later than the node can wait" at 4.2 and
    4.9 s, false, and named no wait; it names 5 s, the maximum."""
    text = late_scan_text(9 * 10**9, 8 * 10**9, 4 * 10**9, 200 * MS)
    assert "set lidar.wait_s to 4.8 s or more" in text, text
    for late_ns in (4_200 * MS, 4_900 * MS, 5 * 10**9):
        text = late_scan_text(9 * 10**9, 8 * 10**9, late_ns, 200 * MS)
        assert "set lidar.wait_s to 5 s, its maximum" in text, text
        assert "later than the node can wait" not in text, text
    for late_ns in (5_001 * MS, 7 * 10**9):
        text = late_scan_text(9 * 10**9, 8 * 10**9, late_ns, 200 * MS)
        assert "set lidar.wait_s to" not in text, text
        assert "later than the node can wait (lidar.wait_s is 5 s at most)" in text, text
        assert "the LiDAR driver's or the network's latency" in text, text


def test_pairing_bounds_the_frames_it_holds() -> None:
    clock = FakeClock()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 10_000 * MS, max_waiting=2, clock_ns=clock)
    pair.add_scan(0, "a")
    pair.add_scan(100 * MS, "b")
    assert pair.add_frame(160 * MS, 1) == []  # nearer the scan expected at 200 ms than to the one at 100 ms
    assert pair.add_frame(170 * MS, 2) == []
    (oldest,) = pair.add_frame(180 * MS, 3)
    assert oldest.item == 1 and pair.waiting == 2


def test_pairing_does_not_hold_frames_for_scans_stamped_on_another_clock() -> None:
    """A LiDAR stamping on its own clock, an hour behind the camera's: no scan can ever come within max_age, yet
    every frame was held lidar.wait_s (scans kept arriving, so the 'LiDAR stopped' rule never fired): +200 ms of
    latency on every frame for nothing. The frames between the first scan and the second, before the scan period
    is known, wait for the second scan (not far behind with one scan at hand: see test_far_behind...)."""
    clock = FakeClock()
    pair = pairing(clock, max_age_ms=200, wait_ms=200)
    hour = 3_600_000 * MS
    everything: list[Paired[int]] = []
    for k in range(30):  # 30 Hz camera, 10 Hz LiDAR an hour behind; the scan of a frame comes 30 ms after it
        clock.now_ns = k * 33 * MS
        released = pair.add_frame(hour + k * 33 * MS, k)
        if k % 3 == 0:
            clock.now_ns += 30 * MS
            released += pair.add_scan(k * 33 * MS, f"scan{k}")
        if k == 3:  # the second scan (stamped 99 ms, came at 129 ms): the frames held so far go with this one
            assert [r.item for r in released] == [0, 1, 2, 3], released
        if k > 3:  # two scans at hand, the period known: every frame goes at once, as it comes
            assert [(r.item, r.scan, r.timed_out, r.waited_ns) for r in released] == [(k, None, False, 0)], released
        everything += released
    assert [(r.item, r.scan, r.timed_out) for r in everything] == [(k, None, False) for k in range(30)]
    assert max(r.waited_ns for r in everything) <= 130 * MS  # the frames before the second scan: until it came
    assert pair.waiting == 0


def test_pairing_still_waits_for_a_slow_lidar_a_period_behind() -> None:
    """The rule above must not give up on a 1 Hz LiDAR whose next scan can still be the frame's."""
    clock = FakeClock()
    pair = pairing(clock, max_age_ms=200, wait_ms=1500)
    pair.add_scan(0, "a")
    pair.add_scan(1000 * MS, "b")
    assert pair.add_frame(1900 * MS, "frame") == []  # the scan at 2000 ms is due
    clock.now_ns = 120 * MS
    (released,) = pair.add_scan(2000 * MS, "c")
    assert released.scan == (2000 * MS, "c")


class FakeTf:
    """``ready(item, scan)`` for ScanPairing: TF places a scan in a frame once it has data up to the frame's stamp."""

    def __init__(self) -> None:
        self.latest_ns = -1
        self.asked: list[object] = []

    def __call__(self, item: object, scan: tuple[int, object]) -> bool:
        self.asked.append(item)
        assert isinstance(item, int)
        return self.latest_ns >= item


def test_pairing_holds_a_frame_until_tf_can_place_its_scan() -> None:
    """TF (odom) lagging 30 ms behind the camera, lidar.motion_frame set: the frame's scan was in, it went to the
    worker at once, and tf2 (timeout zero) could not look up the image stamp yet: the frame lost its LiDAR scale
    (TransformException) although TF answered 30 ms later."""
    clock = FakeClock()
    tf = FakeTf()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, ready=tf)
    pair.add_scan(0, "a")
    pair.add_scan(100 * MS, "b")
    tf.latest_ns = 95 * MS
    (first,) = pair.add_frame(90 * MS, 90 * MS)  # its TF is in: not held
    assert first.scan == (100 * MS, "b") and not first.timed_out
    pair.add_scan(200 * MS, "c")
    clock.now_ns = 10 * MS
    assert pair.add_frame(210 * MS, 210 * MS) == []  # scan chosen (c), TF only up to 95 ms: held
    clock.now_ns = 30 * MS
    assert pair.poll() == []
    tf.latest_ns = 220 * MS
    clock.now_ns = 40 * MS
    (second,) = pair.poll()
    assert (second.item, second.scan, second.timed_out, second.waited_ns) == (210 * MS, (200 * MS, "c"), False, 30 * MS)


def test_pairing_stops_waiting_for_tf_that_does_not_come_until_it_answers_again() -> None:
    clock = FakeClock()
    tf = FakeTf()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, ready=tf)
    pair.add_scan(0, "a")
    pair.add_scan(100 * MS, "b")
    assert pair.add_frame(100 * MS, 100 * MS) == []  # no TF at all (a missing transform, odometry stopped)
    clock.now_ns = 200 * MS
    (timed_out,) = pair.poll()
    assert timed_out.timed_out and timed_out.scan == (100 * MS, "b")  # goes with its scan: the worker counts the miss
    pair.add_scan(200 * MS, "c")
    (at_once,) = pair.add_frame(200 * MS, 200 * MS)  # TF given up on: no wait
    assert not at_once.timed_out and at_once.scan == (200 * MS, "c")
    tf.latest_ns = 100 * MS  # TF is back (lagging): the frame that went without it could be placed now
    clock.now_ns = 300 * MS
    pair.add_scan(300 * MS, "d")
    assert pair.add_frame(300 * MS, 300 * MS) == []  # held for its TF again
    tf.latest_ns = 300 * MS
    (placed,) = pair.poll()
    assert placed.scan == (300 * MS, "d") and not placed.timed_out


def test_pairing_does_not_ask_tf_for_a_frame_without_a_scan() -> None:
    clock = FakeClock()
    tf = FakeTf()
    pair: ScanPairing[int] = ScanPairing(100 * MS, 200 * MS, clock_ns=clock, ready=tf)
    pair.add_scan(0, "a")
    pair.add_scan(1000 * MS, "b")
    (released,) = pair.add_frame(1150 * MS, 1150 * MS)  # no scan within max_age can come: nothing to place
    assert released.scan is None and tf.asked == []


def test_a_frame_without_a_scan_is_explained_when_the_scans_are_not_a_matter_of_the_scan_rate() -> None:
    """A LiDAR on another clock (or stopped) gave frames without a scan and not a word in the log (scale_reason said
    "no LiDAR scan" while scans were arriving); a 1 Hz LiDAR between its scans is no problem to report."""
    clock = FakeClock()
    reported: list[Paired[int]] = []
    pair: ScanPairing[int] = ScanPairing(100 * MS, 200 * MS, clock_ns=clock, on_unpaired=reported.append)
    pair.add_scan(0, "a")
    pair.add_scan(1000 * MS, "b")  # 1 Hz
    (between,) = pair.add_frame(1150 * MS, 1)  # 150 ms from its nearest scan: the scan rate, not reported
    assert between.scan is None and between.nearest_ns == 1000 * MS and reported == []
    hour = 3_600_000 * MS
    (far,) = pair.add_frame(hour, 2)
    assert reported == [far] and far.nearest_ns == 1000 * MS
    text = no_scan_text("/lidar/points", far.stamp_ns, far.nearest_ns, 0.2)
    assert "nearest scan is stamped 3599.000 s before it" in text
    assert "the LiDAR stopped, or the LiDAR and the camera stamp on different clocks" in text
    ahead = no_scan_text("/lidar/points", 0, 5 * 10**9, 0.2)
    assert "5.000 s after it" in ahead and "stopped" not in ahead and "different clocks" in ahead
    assert no_scan_text("/lidar/points", 0, None, 0.2).endswith("of the image stamped 0.000 s")


def test_unpaired_log_warns_once_per_kind_with_how_many_were_held_back() -> None:
    warnings: list[str] = []
    log = UnpairedLog(warnings.append, "/lidar/points", 0.2, period_s=3600.0)
    for k in range(3):
        log(Paired(k, 10**13 + k, None, 0, False, nearest_ns=k))
    (warning,) = warnings
    assert warning.startswith("LiDAR scan not used: no scan on /lidar/points within lidar.max_age_s=0.2 s")
    assert warning.endswith("this frame's scale falls back")


def test_pairing_does_not_hold_frames_for_scans_stamped_on_a_clock_ahead_of_the_camera() -> None:
    """Scans stamped an hour ahead: every frame looked like ROS time going back and cleared the cached scans, so it
    waited for the next scan (up to a LiDAR period of latency on every frame) and no period was ever known. Only a
    stream whose own stamps go back is a jump."""
    clock = FakeClock()
    reported: list[Paired[int]] = []
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_unpaired=reported.append)
    hour = 3_600_000 * MS
    for k in range(3):
        pair.add_scan(hour + k * 100 * MS, k)
    for k in range(5):
        clock.now_ns = k * 33 * MS
        (released,) = pair.add_frame(300 * MS + k * 33 * MS, k)
        assert released.scan is None and not released.timed_out and released.waited_ns == 0
    assert len(reported) == 5 and pair.scan_period_ns() == 100 * MS


def test_drain_forgets_the_held_frames_and_counts_them() -> None:
    clock = FakeClock()
    pair = pairing(clock, wait_ms=1000)
    pair.add_scan(0, "scan0")
    pair.add_scan(100 * MS, "scan1")
    assert pair.add_frame(200 * MS, "a") == [] and pair.add_frame(300 * MS, "b") == []
    assert pair.drain() == 2 and pair.waiting == 0 and pair.drain() == 0
    clock.now_ns = 2000 * MS
    assert pair.poll() == []  # nothing released after the drain


class _LookupException(Exception):
    """tf2's LookupException: one text argument."""


class _TreeBuffer:
    """Stands in for tf2_ros.Buffer holding one robot's namespaced tree: lookups of other frames fail as tf2's do."""

    FRAMES_YAML = (
        "robot1/velodyne: {parent: 'robot1/base_link', broadcaster: 'default_authority', rate: 10000.0}\n"
        "robot1/camera_link: {parent: 'robot1/base_link', broadcaster: 'default_authority', rate: 10000.0}\n"
    )

    def all_frames_as_yaml(self) -> str:
        return self.FRAMES_YAML

    def lookup_transform(self, target: str, source: str, stamp: object, timeout: object) -> str:
        missing = source if source not in self.FRAMES_YAML else target
        raise _LookupException(f'"{missing}" passed to lookupTransform argument does not exist. ')


def test_a_tf2_lookup_of_a_missing_frame_names_its_namesake_or_its_body_frame() -> None:
    """The node logged tf2's 'does not exist' alone: the namespaced namesake or the body frame beside it went unsaid."""
    import pytest

    header = SimpleNamespace(frame_id="velodyne", stamp=None)
    with pytest.raises(_LookupException, match=r"does not exist.*TF has 'robot1/velodyne'.*one TF tree"):
        lookup_cam_from_scan(_TreeBuffer(), "robot1/camera_link", None, header, "", None)
    header = SimpleNamespace(frame_id="robot1/velodyne", stamp=None)
    with pytest.raises(_LookupException, match=r"its body frame 'robot1/camera_link' is: publish it"):
        lookup_cam_from_scan(_TreeBuffer(), "robot1/camera_optical_frame", None, header, "", None)


def test_a_tf2_failure_without_a_like_named_frame_is_tf2s_own() -> None:
    import pytest

    buffer = _TreeBuffer()
    buffer.FRAMES_YAML = ""  # tf2 knows nothing yet (start-up): nothing to add
    header = SimpleNamespace(frame_id="velodyne", stamp=None)
    with pytest.raises(_LookupException) as raised:
        lookup_cam_from_scan(buffer, "camera_optical", None, header, "", None)
    assert str(raised.value) == '"velodyne" passed to lookupTransform argument does not exist. '


def test_a_tf2_lookup_of_a_frame_tf_does_not_hold_names_the_frames_it_holds_and_the_transform_to_publish() -> None:
    """The scan's frame is not in TF and no frame there is like it (the driver says ``velodyne``, the URDF
    ``velo_link``): the node logged tf2's '"velodyne" passed to lookupTransform argument source_frame does not exist'
    alone (seen on real Humble), where the bag runner names the frames TF holds and the transform to publish."""
    import pytest

    buffer = _TreeBuffer()
    buffer.FRAMES_YAML = "velo_link: {parent: 'camera_optical', broadcaster: 'default_authority', rate: 10000.0}\n"
    header = SimpleNamespace(frame_id="velodyne", stamp=None)
    with pytest.raises(_LookupException) as raised:
        lookup_cam_from_scan(buffer, "camera_optical", None, header, "", None)
    said = str(raised.value)
    assert said.startswith('"velodyne" passed to lookupTransform argument does not exist.'), said
    assert "Frame 'velodyne' is not in /tf or /tf_static; known frames: camera_optical, velo_link" in said, said
    remedy = "ros2 run tf2_ros static_transform_publisher --frame-id camera_optical --child-frame-id velodyne"
    assert remedy in said and "or set the LiDAR driver's frame_id to the frame TF has" in said, said


class _TreeBufferFull(_TreeBuffer):
    """:class:`_TreeBuffer` with tf2's ``lookup_transform_full`` (``lidar.motion_frame`` set)."""

    def lookup_transform_full(
        self, target: str, target_stamp: object, source: str, source_stamp: object, fixed: str, timeout: object
    ) -> str:
        missing = next(frame for frame in (target, source, fixed) if frame not in self.FRAMES_YAML)
        raise _LookupException(f'"{missing}" passed to lookupTransform argument does not exist. ')


def test_a_missing_camera_or_motion_frame_names_its_own_remedy_not_the_lidar_drivers() -> None:
    """The remedy for a frame TF lacks was the LiDAR's whichever frame it was: an ``odom`` that nothing publishes
    (``lidar.motion_frame: odom`` on a robot without odometry TF) or the image's frame said "publish the camera ->
    LiDAR transform, or set the LiDAR driver's frame_id", which changes nothing; each names its own setting now."""
    import pytest

    buffer = _TreeBufferFull()
    buffer.FRAMES_YAML = "velodyne: {parent: 'camera_optical', broadcaster: 'default_authority', rate: 10000.0}\n"
    header = SimpleNamespace(frame_id="velodyne", stamp=None)
    with pytest.raises(_LookupException) as raised:
        lookup_cam_from_scan(buffer, "camera_optical", None, header, "odom", None)
    said = str(raised.value)
    assert "Frame 'odom' is not in /tf or /tf_static; known frames: camera_optical, velodyne" in said, said
    assert "lidar.motion_frame 'odom' is the fixed frame the scans are moved in" in said, said
    assert "set lidar.motion_frame to a fixed frame TF has (empty: no motion compensation)" in said, said
    assert "static_transform_publisher" not in said and "driver's frame_id" not in said, said
    with pytest.raises(_LookupException) as raised:
        lookup_cam_from_scan(buffer, "camera_color_optical_frame", None, header, "", None)
    said = str(raised.value)
    assert "frame 'camera_color_optical_frame' is not in /tf or /tf_static" in said.lower(), said
    remedy = "static_transform_publisher --frame-id camera_color_optical_frame --child-frame-id velodyne"
    assert remedy in said and "or set the camera driver's frame_id to the frame TF has" in said, said
    assert "LiDAR driver" not in said, said


class _MovingCarTf:
    """Stands in for tf2_ros.Buffer on a car driving along the camera's optical axis: ``camera(image stamp) <-
    lidar(scan stamp)`` through ``odom`` (as tf2's lookup_transform_full), TF known up to ``newest_ns``."""

    def __init__(self, factory: Any, cam_from_velo: RigidTransform, speed_mps: float, newest_ns: int) -> None:
        self.factory, self.cam_from_velo, self.speed_mps, self.newest_ns = factory, cam_from_velo, speed_mps, newest_ns
        self.looked_up = 0

    def lookup_transform_full(
        self, target: str, target_stamp: Any, source: str, source_stamp: Any, fixed: str, timeout: object
    ) -> Any:
        image_ns, lidar_ns = stamp_to_ns(target_stamp), stamp_to_ns(source_stamp)
        if max(image_ns, lidar_ns) > self.newest_ns:
            raise LookupError(f"extrapolation into the future: {lidar_ns}")  # tf2's ExtrapolationException
        self.looked_up += 1
        travelled = self.speed_mps * (lidar_ns - image_ns) * 1e-9
        shift = RigidTransform(np.eye(3), np.array([0.0, 0.0, travelled]), target, target)
        moved = RigidTransform.from_matrix(shift.matrix @ self.cam_from_velo.matrix, target, source)
        return transform_stamped_from_rigid(self.factory, moved, image_ns)

    def lookup_transform(self, target: str, source: str, stamp: Any, timeout: object) -> Any:
        return transform_stamped_from_rigid(self.factory, self.cam_from_velo, stamp_to_ns(stamp))


def test_the_node_de_skews_a_sweep_through_tf2_with_its_drivers_point_times(kitti_object_dir: Path) -> None:
    """The node's path (tf2 buffer, timeout zero): an Ouster sweep stamped at its start on a car at 10 m/s, KITTI
    000000. With ``lidar.motion_frame`` each 2 ms slice is looked up at its own time: the in-view points land where
    the camera sees them at the image stamp (moved from the header stamp alone they were 0.5 m off: the same scan
    projected 3.7 % short). TF not yet at the sweep's end (20 ms after the image) costs nothing in view."""
    factory = rosbags_factory("humble")
    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    image_ns = 1_700_000_000_000_000_000
    sweep = skewed_sweep(frame, image_ns, 10.0, "start")
    scan = decode_scan(sweep_cloud(factory, sweep, "ouster", "velodyne"))
    assert scan.point_dt_ns is not None
    tf = _MovingCarTf(factory, frame.cam_from_velo, 10.0, newest_ns=image_ns + 20_000_000)

    def depth_error(placed: LidarScan) -> float:
        sparse = project_scan(placed, frame.intrinsics)
        truth = frame.lidar_depth_m[sparse.v, sparse.u]
        seen = np.isfinite(truth)
        return float(np.median(sparse.depth_m[seen] / truth[seen] - 1.0))

    deskewed = lidar_scan_from_tf(tf, factory, "camera_optical", image_ns, scan, "odom", None)
    assert tf.looked_up == 1 + 7  # the stamp, and a knot every 10 ms of the sweep up to TF's newest (+20 ms)
    assert abs(depth_error(deskewed)) < 0.001
    header_only = lidar_scan_from_tf(
        tf, factory, "camera_optical", image_ns, replace(scan, point_dt_ns=None), "odom", None
    )
    assert depth_error(header_only) < -0.03
    static = lidar_scan_from_tf(tf, factory, "camera_optical", image_ns, scan, "", None)  # no motion frame: as is
    np.testing.assert_array_equal(static.points_in_lidar, scan.points_in_lidar)
    # dated as it was paired (Scan.sweep_middle_ns: every point's time), not by the de-skewed points' own times
    paired = replace(scan, sweep_middle_ns=scan.sweep_middle_ns + 12_500_000)  # a sector without returns at the end
    for motion_frame in ("odom", ""):
        placed = lidar_scan_from_tf(tf, factory, "camera_optical", image_ns, paired, motion_frame, None)
        assert placed.sweep_middle_ns == paired.sweep_middle_ns, motion_frame
    # the mounting (a recalibration restarts the LiDAR scale) is camera <- LiDAR without the car's motion
    for placed in (deskewed, header_only, static):
        assert placed.mount is not None
        np.testing.assert_allclose(placed.mount.matrix, frame.cam_from_velo.matrix, atol=1e-6)


class _RecordingReadiness:
    """Stands in for tf2_ros.Buffer's ``can_transform_full``: TF known up to ``newest_ns``; records the scan times."""

    def __init__(self, newest_ns: int) -> None:
        self.newest_ns = newest_ns
        self.asked: list[int] = []

    def can_transform_full(
        self, target: str, target_stamp: Any, source: str, source_stamp: Any, fixed: str, timeout: object = None
    ) -> bool:
        self.asked.append(stamp_to_ns(source_stamp))
        return max(stamp_to_ns(target_stamp), stamp_to_ns(source_stamp)) <= self.newest_ns


def test_a_frame_waits_for_tf_over_its_whole_sweep_before_the_de_skew() -> None:
    """An ouster-ros sweep stamped at its start, paired by its middle (the image's stamp) with lidar.motion_frame:
    tf2 could place the header stamp and the image, so the frame went, and the de-skew found no TF for the sweep's
    second half: its slices took the image's transform (up to 50 ms of motion off). The sweep's end is checked too."""
    factory = rosbags_factory("humble")
    image_ns, start_ns = 1_700_000_000_000_000_000, 1_699_999_999_950_000_000
    image = make_header(factory, image_ns, "camera_optical")
    cloud = SimpleNamespace(header=make_header(factory, start_ns, "os_lidar"))
    tf = _RecordingReadiness(newest_ns=image_ns + 20_000_000)
    ready = tf_ready(tf, "odom", lambda item: image)
    assert not ready("frame", (image_ns, cloud))  # the sweep's middle is the image's stamp: its end is 50 ms later
    assert tf.asked == [start_ns, start_ns + 100_000_000]
    tf.newest_ns = image_ns + 50_000_000
    assert ready("frame", (image_ns, cloud))
    assert ready("frame", (start_ns, cloud))  # no per-point times: the header stamp alone, as before
    assert tf.asked[-1] == start_ns


def test_frames_held_when_a_looped_bag_starts_again_go_with_the_scans_of_their_pass() -> None:
    """``ros2 bag play --loop``, 30 Hz camera, 10 Hz LiDAR whose scans arrive 30 ms after their stamp: the last frame
    of a pass (2966 ms) waits for the scan at 3000 ms, which the bag does not hold. The first frame of the next pass
    cleared the scans, the 2900 ms one (66 ms from it, within max_age) with them, and the next pass's first scan
    released it without a scan and with a warning that the LiDAR stopped or stamps on another clock: at every loop,
    one frame lost its LiDAR scale and the log blamed the LiDAR. Held frames now go with the scans of their pass."""
    clock, unpaired = FakeClock(), list[Paired[tuple[int, int]]]()
    pair: ScanPairing[tuple[int, int]] = ScanPairing(100 * MS, 200 * MS, clock_ns=clock, on_unpaired=unpaired.append)
    frame_ns, base = 33_333_333, 10**12
    events = sorted([(k * frame_ns + 5 * MS, "frame", base + k * frame_ns) for k in range(90)]
                    + [(j * 100 * MS + 30 * MS, "scan", base + j * 100 * MS) for j in range(30)])  # fmt: skip
    released: list[Paired[tuple[int, int]]] = []
    for loop in range(2):
        for at, kind, stamp in events:
            clock.now_ns = loop * 3000 * MS + at
            released += pair.poll()
            released += pair.add_frame(stamp, (loop, stamp)) if kind == "frame" else pair.add_scan(stamp, stamp)
    clock.now_ns += 1000 * MS
    released += pair.poll()
    frames = [stamp for _, kind, stamp in events if kind == "frame"]
    assert [entry.item for entry in released] == [(n, stamp) for n in range(2) for stamp in frames]  # all, in order
    last_of_pass = released[89]  # held for the scan at 3000 ms when the next pass began
    assert last_of_pass.item == (0, base + 89 * frame_ns) and last_of_pass.scan == (base + 2900 * MS,) * 2
    assert not last_of_pass.timed_out and unpaired == []
    assert all(entry.scan is not None for entry in released)  # the second pass's last frame too, at its time-out


@pytest.mark.parametrize("arrives_ms", [1050, 2000], ids=["within-the-wait", "after-the-wait"])
def test_a_nearer_scan_after_a_frame_went_at_the_scan_rate_counts_whenever_it_comes(arrives_ms: int) -> None:
    """A 10 Hz LiDAR (scans 760, 860, 960 ms, each on time) and a frame stamped 1000 ms: the next scan, expected at
    1060 ms, cannot be nearer than the one at 960, so the frame went at once with it. The next scan is stamped 1010
    (its sweep's middle 50 ms early: a driver whose phase jumped). Come 1 s after the image (lidar.wait_s 0.2 s) it
    was counted ``lidar.after_wait`` with a wait to set that changes nothing (the frame did not wait); come within the
    wait, by neither road (the bag runner paired it, silently). Whenever it comes it is ``lidar.nearer_later`` now,
    once, and the bag runner pairs the frame as the node did (``PairingRules.lidar_sent_at_rate``)."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[str] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    for stamp_ms in (760, 860, 960):
        clock.now_ns = stamp_ms * MS
        assert pair.add_scan(stamp_ms * MS, f"scan {stamp_ms}") == []
    clock.now_ns = 1000 * MS
    (went,) = pair.add_frame(1000 * MS, "image")
    assert went.scan == (960 * MS, "scan 960") and not went.timed_out
    clock.now_ns = arrives_ms * MS
    assert pair.add_scan(1010 * MS, "scan 1010") == []
    ((reason, text),) = reports
    assert reason == "lidar.nearer_later" and "stamped 1.010 s came after the image stamped 1.000 s" in text, text
    assert "with the scan 40.0 ms from it, 10.0 ms from it" in text and "set lidar.wait_s" not in text, text
    clock.now_ns = arrives_ms * MS + 100 * MS
    assert pair.add_scan(1110 * MS, "scan 1110") == [] and len(reports) == 1, reports  # the frame counted once


def test_a_frame_sent_at_the_scan_rate_without_a_scan_counts_a_scan_that_comes_within_lidar_max_age_s() -> None:
    """A 1 Hz LiDAR (scans at 0 and 1000 ms), ``lidar.max_age_s`` 0.2 s: a frame stamped 1250 ms goes at once with no
    scan (the next, expected at 2000 ms, cannot be within 0.2 s even half a period early). The next scan stamped
    1300 ms (the LiDAR's phase jumped) is within 0.2 s of it: ``lidar.nearer_later`` (counted by neither road: the
    bag runner paired it), once a frame."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[str] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    for stamp_ms in (0, 1000):
        clock.now_ns = stamp_ms * MS
        pair.add_scan(stamp_ms * MS, f"scan {stamp_ms}")
    for stamp_ms in (1250, 1260):
        clock.now_ns = stamp_ms * MS
        (went,) = pair.add_frame(stamp_ms * MS, "image")
        assert went.scan is None and not went.timed_out
    clock.now_ns = 1350 * MS
    pair.add_scan(1300 * MS, "scan 1300")
    assert [reason for reason, _ in reports] == ["lidar.nearer_later"] * 2, reports
    assert "image stamped 1.250 s had gone on with no scan, 50.0 ms from it" in reports[0][1], reports
    assert len(pair._gone) == 0, pair._gone  # each counted once


def test_frames_gone_at_once_with_an_earlier_scan_are_forgotten_once_no_scan_can_be_nearer() -> None:
    """A 30 Hz camera and an on-time 10 Hz LiDAR for 60 s: many frames go at once with an earlier scan (none expected
    nearer) and are remembered for a nearer scan that might come late; the next scan, stamped as far or farther, ends
    that (scans come in stamp order). Kept all, the 512 remembered frames were looped over at every scan (the
    pairing's CPU time +50 % in an ad-hoc run); no report either way."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    released, remembered = 0, 0
    for now in range(60_000):  # ms
        clock.now_ns = now * MS
        if now % 33 == 7:
            released += len(pair.add_frame(now * MS, now))
        if now % 100 == 0:
            released += len(pair.add_scan(now * MS, now))
            remembered = max(remembered, len(pair._gone))
        if now % 20 == 0:
            released += len(pair.poll())
    assert released >= 1800 and reports == [], (released, reports[:3])
    assert remembered <= 4, remembered  # 2 measured: the frames of the last scan periods (one scan out of order)


def test_frames_gone_without_a_scan_while_the_lidar_stopped_are_forgotten_once_it_is_back() -> None:
    """A 10 Hz camera and LiDAR (each scan stamped 20 ms after its image, arriving 20 ms after its stamp) whose LiDAR
    stops for 30 s: the 300 frames sent on without a scan meanwhile are remembered for a late scan within
    lidar.max_age_s. Once the LiDAR is back, its scans are stamped seconds past them (scans come in stamp order), so
    none can come: they were still remembered 20 s later (a live soak on ROS 2 Humble: 299 of them, looped over at
    every scan, until 512 later frames pushed them out). No report either way, as before."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    released: list[Paired[int]] = []
    remembered: dict[str, int] = {}
    for now in range(60_000):  # ms; the LiDAR stamps nothing from 10 s to 40 s
        clock.now_ns = now * MS
        if now % 100 == 0:
            released += pair.add_frame(now * MS, now)
        if (stamp := now - 20) >= 0 and stamp % 100 == 20 and not 10_000 <= stamp < 40_000:
            released += pair.add_scan(stamp * MS, stamp)
        if now % 20 == 0:
            released += pair.poll()
        if now in (39_990, 41_000, 59_990):
            remembered[f"{now} ms"] = len(pair._gone)
    assert len(released) == 600 and sum(p.scan is None for p in released) == 299 and reports == []
    assert remembered["39990 ms"] >= 290, remembered  # the stop's frames, while a scan within max_age may come late
    assert remembered["41000 ms"] <= 4 and remembered["59990 ms"] <= 4, remembered  # 0 measured


def test_frames_gone_without_a_scan_before_the_scan_period_is_known_keep_their_late_scan_report() -> None:
    """A 10 Hz camera and a 2 Hz LiDAR 600 ms late (wait 0.1 s: every frame goes on without its scan), its first two
    scans arriving swapped: the one stamped 1.0 s before the one stamped 0.5 s (one out of order, as the pairing
    allows). The first scan to come is stamped past lidar.max_age_s + a period of the frames 0.3-0.7 s, but with one
    scan at hand the period is not known: they are not forgotten, and the 0.5 s scan is reported late for each of
    them (explore143's pruning forgot them: 15 reports, none of the 0.5 s scan; main and now: 20)."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 100 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    events = [(ms, 0, "frame", ms) for ms in range(0, 3000, 100)] + [(ms, 2, "poll", 0) for ms in range(0, 4000, 20)]
    scans = {500: 1600, 1000: 1100}  # stamp -> arrival (ms): swapped
    events += [(scans.get(ms, ms + 600), 1, "scan", ms) for ms in range(500, 3000, 500)]
    for now, _, kind, stamp in sorted(events):
        clock.now_ns = now * MS
        if kind == "frame":
            pair.add_frame(stamp * MS, stamp)
        elif kind == "scan":
            pair.add_scan(stamp * MS, stamp)
        else:
            pair.poll()
    of_first = [text for _, text in reports if text.startswith("the scan stamped 0.500 s")]
    assert [text.split("after the image stamped ")[1][:7] for text in of_first] == [
        "0.300 s", "0.400 s", "0.500 s", "0.600 s", "0.700 s"
    ], reports  # fmt: skip
    assert len(reports) == 20 and {reason for reason, _ in reports} == {"lidar.after_wait"}, reports


@pytest.mark.parametrize(
    ("frame_ms", "reordered_ms", "nearer_ms"),
    [(1000, 1065, 1010), (1020, 1085, 1040)],
    ids=["went-at-once-by-the-scan-rate", "went-at-its-time-out"],
)
def test_a_nearer_scan_that_comes_after_the_next_one_still_counts(
    frame_ms: int, reordered_ms: int, nearer_ms: int
) -> None:
    """A 10 Hz LiDAR (760, 860, 960 ms on time) whose driver once hands two scans over out of stamp order (two
    LiDARs merged on one topic, a reorder in a driver's queue): the frame went with the scan at 960 (at once, the next
    expected no nearer; or at its time-out), the scan after the next (``reordered_ms``) comes first, then the nearer
    one (``nearer_ms``), 300 ms after the image, ``lidar.wait_s`` 0.2 s. The bag runner pairs the nearer scan and warns
    ``scan after lidar.wait_s``; the node forgot the frame at the first scan stamped past its mirror point, and
    counted nothing. One scan out of order now still counts (the frame is forgotten a scan period later): the frame
    gone at once by the scan rate as ``lidar.nearer_later``, the one gone at its time-out as ``lidar.after_wait``."""
    clock, reports = FakeClock(), list[tuple[str, str]]()
    pair: ScanPairing[str] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_late=lambda *r: reports.append(r))
    for stamp_ms in (760, 860, 960):
        clock.now_ns = stamp_ms * MS
        assert pair.add_scan(stamp_ms * MS, f"scan {stamp_ms}") == []
    clock.now_ns = frame_ms * MS
    went = pair.add_frame(frame_ms * MS, "image")
    clock.now_ns = (frame_ms + 210) * MS
    went += pair.poll()
    assert [(entry.item, entry.scan) for entry in went] == [("image", (960 * MS, "scan 960"))]
    clock.now_ns = (frame_ms + 290) * MS
    assert pair.add_scan(reordered_ms * MS, "the scan after the next") == [] and reports == []
    clock.now_ns = (frame_ms + 300) * MS
    assert pair.add_scan(nearer_ms * MS, "the nearer scan") == []
    at_rate = frame_ms == 1000  # at once by the scan rate: lidar.nearer_later (the bag runner pairs as the node)
    assert [reason for reason, _ in reports] == ["lidar.nearer_later" if at_rate else "lidar.after_wait"], reports
    clock.now_ns = (frame_ms + 400) * MS
    assert pair.add_scan((reordered_ms + 100) * MS, "the next") == [] and len(reports) == 1  # counted once
    assert len(pair._gone) == 0, pair._gone  # forgotten: a scan stamped a period past its mirror point came


def test_a_lidar_slower_than_lidar_wait_s_is_not_taken_as_stopped_between_its_scans() -> None:
    """A healthy 1 Hz LiDAR (scans stamped each second, each 5 ms late) and a 30 Hz camera (10 ms late),
    ``lidar.wait_s`` and ``lidar.max_age_s`` 0.2 s: a frame 300-800 ms after a scan waits its 0.2 s (a phase jump could
    bring a scan within 0.2 s) and no scan comes, as none is due. That took the LiDAR as stopped: every later frame
    went at once, those stamped within 0.2 s before the next scan too, without it (6 frames a second of 30 lost
    their LiDAR scale, with nothing counted; the bag runner paired them with that scan). A wait without a scan takes
    the LiDAR as stopped only once no scan has come for one and a half of its periods; a dead LiDAR still does so."""
    clock, unpaired = FakeClock(), list[Paired[int]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_unpaired=unpaired.append)
    scans = {stamp_ms + 5: stamp_ms for stamp_ms in range(0, 5000, 1000)}
    images = {round(k * 1000 / 30) + 10: round(k * 1000 / 30) for k in range(240)}  # 8 s: the LiDAR dies at 4 s
    went: list[Paired[int]] = []
    for now_ms in range(8300):
        clock.now_ns = now_ms * MS
        if now_ms in scans:
            went += pair.add_scan(scans[now_ms] * MS, scans[now_ms])
        if now_ms in images:
            went += pair.add_frame(images[now_ms] * MS, images[now_ms])
        if now_ms % 10 == 0:
            went += pair.poll()
    assert [paired.item for paired in went] == sorted(images.values())
    for paired in went:
        due = round(paired.item / 1000) * 1000  # the scan nearest to the frame
        if paired.item >= 1000 and abs(paired.item - due) <= 200 and due < 5000:
            assert paired.scan is not None and paired.scan[1] == due, (paired.item, paired.scan)
    # the LiDAR dead after its scan at 4 s: taken as stopped 1.5 s after that scan came, frames go at once again
    dead = [paired for paired in went if paired.item > 4200]
    assert all(paired.scan is None for paired in dead)
    assert all(paired.waited_ns == 0 for paired in dead if paired.item > 5800), [p.item for p in dead if p.waited_ns]


def _slow_lidar_on_one_clock(lidar_behind_s: float = 0.0, until_ms: int = 7000) -> list[Paired[int]]:
    """A 30 Hz camera and a 0.2 Hz LiDAR, lidar.max_age_s 0.2 s, lidar.wait_s 0.2 s, each message arriving 10 ms
    after its stamp (the LiDAR's stamps ``lidar_behind_s`` behind the camera's clock): the frames released without a
    scan while scans were at hand, as ``on_unpaired`` gets them."""
    clock, unpaired = FakeClock(), list[Paired[int]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_unpaired=unpaired.append)
    behind_ms = int(lidar_behind_s * 1000)
    for now in range(until_ms):  # ms, on the camera's clock
        clock.now_ns = now * MS
        if now % 5000 == 10:
            pair.add_scan((now - 10 - behind_ms) * MS, now)
        if now % 33 == 10:
            pair.add_frame((now - 10) * MS, now)
        if now % 10 == 0:
            pair.poll()
    return unpaired


def test_frames_between_a_slow_lidars_first_two_scans_are_not_told_it_stopped_or_stamps_on_another_clock() -> None:
    """A healthy 0.2 Hz LiDAR on the camera's clock: with one scan at hand (its rate not known yet) every frame more
    than lidar.max_age_s after it went without a scan, and those more than 1 s after it were logged "the LiDAR
    stopped, or the LiDAR and the camera stamp on different clocks". The scan arrived as long before them as it is
    stamped: the line says it is the only scan at hand and the LiDAR's rate is not known yet. Stamped an hour
    behind (another clock), the arrivals show it, and the line names the clocks."""
    warnings: list[str] = []
    unpaired = _slow_lidar_on_one_clock()
    for paired in unpaired:
        UnpairedLog(warnings.append, "/lidar", 0.2)(paired)  # a fresh throttle: every frame's words
    far = [
        text
        for paired, text in zip(unpaired, warnings, strict=True)
        if paired.stamp_ns - (paired.nearest_ns or 0) > 10**9
    ]
    assert len(far) > 100, len(far)  # 1 s to 5 s after the first scan, at 30 Hz
    assert not [text for text in warnings if "stopped" in text or "different clocks" in text], far[0]
    assert all("(the only scan at hand: the LiDAR's rate is not known yet)" in text for text in far), far[0]
    assert all(paired.nearest_ns == 0 for paired in unpaired)  # after the second scan its rate explains the rest
    other = _slow_lidar_on_one_clock(lidar_behind_s=3600.0, until_ms=4000)  # before its second scan
    assert other, "the frames of a LiDAR an hour behind went without a scan"
    texts = [no_scan_text("/lidar", p.stamp_ns, p.nearest_ns, 0.2, one_scan=p.one_scan, behind=p.behind) for p in other]
    assert all(DIFFERENT_CLOCKS in text and "rate is not known yet" in text for text in texts), texts[0]


def _lidar_words(lidar_behind_s: float, scans_until_ms: int, until_ms: int = 6000) -> list[tuple[int, str]]:
    """The "LiDAR scan not used" words of a 30 Hz camera and a 10 Hz LiDAR (lidar.max_age_s and lidar.wait_s 0.2 s)
    on the node's :class:`ScanPairing`, each message arriving 10 ms after its stamp, the scans stamped
    ``lidar_behind_s`` behind the camera's clock and sent until ``scans_until_ms`` (ms on the camera's clock), each
    frame's stamp (ns) and words with a fresh throttle, for the frames more than 1 s from their nearest scan."""
    clock, unpaired = FakeClock(), list[Paired[int]]()
    pair: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_unpaired=unpaired.append)
    behind_ms = int(lidar_behind_s * 1000)
    for now in range(until_ms):
        clock.now_ns = now * MS
        if now % 100 == 10 and now < scans_until_ms:
            pair.add_scan((now - 10 - behind_ms) * MS, now)
        if now % 33 == 10:
            pair.add_frame((now - 10) * MS, now)
        if now % 10 == 0:
            pair.poll()
    words: list[tuple[int, str]] = []
    for paired in unpaired:
        if paired.stamp_ns - (paired.nearest_ns or 0) > 10**9:
            UnpairedLog(lambda text, stamp=paired.stamp_ns: words.append((stamp, text)), "/lidar", 0.2)(paired)
    return words


def test_a_lidar_whose_scans_stopped_arriving_is_told_stopped_not_another_clock() -> None:
    """A 10 Hz LiDAR on the camera's clock whose driver stops at 2 s while the camera goes on: the frames more than
    1 s after its last scan were logged "the LiDAR stopped, or the LiDAR and the camera stamp on different clocks",
    though the arrivals tell which: no scan has arrived for as long as its last one is stamped before the frame (one
    clock), more than 1 s and three scan periods (the camera_info's stop rule). The line says it stopped and for how
    long, and not the clocks."""
    words = [text for _, text in _lidar_words(0.0, scans_until_ms=2000)]
    assert len(words) > 50, len(words)  # 3 s to 6 s at 30 Hz
    assert all("(the LiDAR stopped: no scan arrived on /lidar for " in text for text in words), words[0]
    assert not [text for text in words if DIFFERENT_CLOCKS in text], words[0]
    assert "for 1.1 s before the image" in words[0] or "for 1.0 s before the image" in words[0], words[0]


def test_a_lidar_whose_scans_arrive_stamped_an_hour_behind_is_told_the_clocks_not_that_it_stopped() -> None:
    """A 10 Hz LiDAR stamped an hour behind the camera, its scans arriving all along: every frame was logged "the
    LiDAR stopped, or the LiDAR and the camera stamp on different clocks", though scans kept arriving at its rate.
    The line says its scans still arrive and names the clocks (or a LiDAR that late), not that it stopped."""
    words = [text for _, text in _lidar_words(3600.0, scans_until_ms=6000, until_ms=3000)]
    assert len(words) > 50, len(words)
    arriving = "its scans still arrive, one every 0.100 s"
    assert all(DIFFERENT_CLOCKS in text and arriving in text for text in words), words[0]
    assert not [text for text in words if "stopped" in text], words[0]


def test_a_lidar_that_stopped_with_stamps_far_behind_its_silence_is_told_both_causes() -> None:
    """A 10 Hz LiDAR stamped an hour behind that also stops at 1 s: while its scans arrive the line names the clocks;
    from 1 s and three scan periods after its last scan on, its silence (a stop) and its stamps (an hour further
    behind than the silence: another clock) say both, and the line names both, as before."""
    words = _lidar_words(3600.0, scans_until_ms=1000, until_ms=4000)
    arriving = [text for stamp, text in words if stamp < 1000 * MS]
    stopped = [text for stamp, text in words if stamp > 2000 * MS]
    assert len(arriving) > 20 and all("its scans still arrive" in text for text in arriving), arriving[0]
    assert len(stopped) > 20, len(stopped)
    assert all("the LiDAR stopped, or " + DIFFERENT_CLOCKS in text for text in stopped), stopped[0]


def test_a_lidar_stamped_ahead_that_stopped_is_told_both_causes_not_stamped_as_it_arrived() -> None:
    """A 10 Hz LiDAR stamped 10 s ahead of the camera that stops at 2 s: once the frames pass its last scan's stamp
    (11.9 s) by 1 s, its last scan is stamped 1 s before a frame that came 11 s after it. That is no LiDAR "stamped as
    they arrived" (``behind`` looks only at scans stamped further behind): the frames were logged "the LiDAR stopped:
    no scan arrived on /lidar for 11.0 s before the image, its scans stamped as they arrived" beside "the nearest
    scan is stamped 1.003 s before it". They name both causes, as before the arrivals were kept."""
    words = [text for _, text in _lidar_words(-10.0, scans_until_ms=2000, until_ms=16_000)]
    assert len(words) > 50, len(words)  # 12.9 s to 16 s at 30 Hz
    assert not [text for text in words if "stamped as they arrived" in text], words[0]
    assert all("the LiDAR stopped, or " + DIFFERENT_CLOCKS in text for text in words), words[0]


def test_a_lidar_that_stops_in_a_bag_played_at_rate_50_is_waited_for_and_told_stopped() -> None:
    """``ros2 bag play --clock --rate 50`` into the node (use_sim_time): the waits run on :class:`PlayedClock` of the
    node clock, /clock stepping 1.25 s every 25 ms of wall time, read at every message (a 10 Hz camera and LiDAR:
    every 2 ms). The LiDAR stops at 2 s: each step was taken as a leap, the played time stood at 0, and the frames went
    on only as 64 were held ("went on 0.000 s after it came", ``lidar.held_full``), never told the LiDAR stopped. They
    go with ``lidar.wait_s`` or the scan rate, told it stopped, for how long in played time."""
    ros, steady = [0], [0]
    played = PlayedClock(SimpleNamespace(now=lambda: SimpleNamespace(nanoseconds=ros[0])), lambda: steady[0])
    unpaired: list[Paired[int]] = []
    reasons: list[str] = []
    pair: ScanPairing[int] = ScanPairing(
        200 * MS,
        200 * MS,
        clock_ns=played.now_ns,
        on_unpaired=unpaired.append,
        on_late=lambda key, _: reasons.append(key),  # the reason key of each frame let go (lidar.held_full)
    )
    start_ns = 100_000 * MS
    for bag_ms in range(20_000):
        steady[0] = bag_ms * MS // 50
        if bag_ms % 1250 == 0:  # /clock: 40 Hz of wall time
            ros[0] = start_ns + bag_ms * MS
        if bag_ms % 100 == 10:
            if bag_ms < 2000:
                pair.add_scan(start_ns + (bag_ms - 10) * MS, bag_ms)
            pair.add_frame(start_ns + (bag_ms - 10) * MS, bag_ms)
        if bag_ms % 2500 == 0:  # the node's poll: every 50 ms of wall time
            pair.poll()
    assert "lidar.held_full" not in reasons, reasons[:1]
    words: list[str] = []
    for paired in unpaired[-3:]:
        UnpairedLog(words.append, "/lidar", 0.2)(paired)
    assert len(unpaired) > 150 and "(the LiDAR stopped: no scan arrived on /lidar for " in words[-1], words[-1:]
