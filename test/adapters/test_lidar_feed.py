"""adapters/lidar_feed.py: the node's LiDAR input (subscription, pairing, poll timer, the scan placed by tf2), run
with stand-ins for the rclpy node and the tf2 buffer (no ROS)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from mono_depth_ros.adapters.lidar import Paired
from mono_depth_ros.adapters.lidar_feed import PAIRING_POLL_S, LidarFeed
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.ros_msgs import make_header, pointcloud2_from_structured, transform_stamped_from_rigid
from mono_depth_ros.depth_config import DepthConfig
from test.core.ros_msg_support import rosbags_factory

from .support import MS, FakeClock, FakeNode

FACTORY = rosbags_factory("humble")
IMAGE_NS = 1_700_000_000_000_000_000
CAM_FROM_LIDAR = RigidTransform.from_translation_quaternion(
    (0.1, -0.2, 0.3), (0.5, -0.5, 0.5, -0.5), dst_frame="camera_optical", src_frame="velodyne"
)


class TfError(Exception):
    """Stands in for tf2's ``TransformException``."""


class TfLookupError(TfError):
    """Stands in for one of its subclasses (``LookupException``)."""


@dataclass
class FakeTf:
    """tf2_ros.Buffer as the feed asks it: ``can_transform`` (the pairing's ready check), ``lookup_transform``
    (the scan placed; raises ``error`` when set); records the timeouts it is given."""

    error: Exception | None = None
    timeouts: list[Any] = field(default_factory=list)

    def can_transform(self, target: str, source: str, stamp: Any) -> bool:
        return True

    def lookup_transform(self, target: str, source: str, stamp: Any, timeout: Any = None) -> Any:
        self.timeouts.append(timeout)
        if self.error is not None:
            raise self.error
        assert (target, source) == ("camera_optical", "velodyne")
        return transform_stamped_from_rigid(FACTORY, CAM_FROM_LIDAR, IMAGE_NS)


@dataclass
class Feed:
    """A LidarFeed over the stand-ins, with what it released and counted."""

    node: FakeNode
    tf: FakeTf
    clock: FakeClock
    feed: LidarFeed[Any]
    released: list[Paired[Any]]
    unused: list[tuple[str, str]]


def make_feed(wait_s: float = 0.2, max_age_s: float = 0.2) -> Feed:
    config = DepthConfig.from_params(
        {"lidar_topic": "/lidar/points", "lidar.message_type": "PointCloud2", "lidar.wait_s": wait_s,
         "lidar.max_age_s": max_age_s}
    )  # fmt: skip
    node, tf, clock = FakeNode(), FakeTf(), FakeClock()
    released: list[Paired[Any]] = []
    unused: list[tuple[str, str]] = []
    feed: LidarFeed[Any] = LidarFeed(
        node, config, "qos", (tf, FACTORY, (TfError,)), lambda frame: frame.header, release=released.extend,
        unused=lambda reason, text: unused.append((reason, text)), clock_ns=clock, steady="steady",
        shown="/ns/lidar/points", timeout="zero duration",
    )  # fmt: skip
    return Feed(node, tf, clock, feed, released, unused)


def frame(stamp_ns: int) -> Any:
    """An input set as the node holds it: the feed reads only its image header."""
    return SimpleNamespace(header=make_header(FACTORY, stamp_ns, "camera_optical"))


def cloud(stamp_ns: int, points: Any, times_s: Any | None = None) -> Any:
    """A PointCloud2 in ``velodyne`` (x y z float32; with ``times_s``, a velodyne_pointcloud ``time`` field: each
    point's time after the header stamp, s)."""
    names = ["x", "y", "z"] + (["time"] if times_s is not None else [])
    data = np.zeros(len(points), dtype=np.dtype({"names": names, "formats": ["<f4"] * len(names)}))
    for column, axis in enumerate("xyz"):
        data[axis] = np.asarray(points, np.float32)[:, column]
    if times_s is not None:
        data["time"] = times_s
    header = make_header(FACTORY, stamp_ns, "velodyne")
    return pointcloud2_from_structured(FACTORY, header, data, 1, len(points), is_dense=False)


POINTS = [[5.0, 0.0, 0.0], [6.0, 1.0, -0.5], [7.0, -1.0, 0.2]]
SWEEP_S = [-0.25, -0.125, 0.0]  # each point's time after the header stamp (s, exact in float32): middle 125 ms before


def test_the_feed_subscribes_the_topic_and_a_poll_timer_on_the_steady_clock_stopped_until_a_frame_is_held() -> None:
    run = make_feed()
    cloud_class = FACTORY.classes["sensor_msgs/msg/PointCloud2"]
    assert run.node.subscriptions == [(cloud_class, "/lidar/points", run.feed.add_scan, "qos")]
    ((period_s, callback, clock, timer),) = run.node.timers
    assert (period_s, callback, clock) == (PAIRING_POLL_S, run.feed.poll, "steady")
    assert timer.is_canceled() and run.feed.scans_seen == 0


def test_a_frame_waits_for_the_scan_that_comes_after_it_paired_by_its_sweeps_middle() -> None:
    """The scan, stamped at its sweep's end 125 ms after the image (velodyne_pointcloud), has its middle at the image
    stamp: the frame, held meanwhile (the poll timer running), goes with it, by the middle; the timer stops."""
    run = make_feed()
    (*_, timer) = run.node.timers[0]
    held = frame(IMAGE_NS)
    run.feed.add_frame(IMAGE_NS, held)
    assert run.released == [] and not timer.is_canceled() and run.feed.pairing.waiting == 1
    run.clock.now_ns = 30 * MS
    scan = cloud(IMAGE_NS + 125 * MS, POINTS, times_s=SWEEP_S)
    run.feed.add_scan(scan)
    ((paired),) = run.released
    assert paired.item is held and paired.scan == (IMAGE_NS, scan) and not paired.timed_out
    assert timer.is_canceled() and run.feed.scans_seen == 1 and run.unused == []


@pytest.mark.parametrize("set_wait_s", [None, 0.5])
def test_a_frame_goes_without_a_scan_when_the_wait_runs_out_and_a_wait_set_at_run_time_holds_it_longer(
    set_wait_s: float | None,
) -> None:
    run = make_feed(wait_s=0.2)
    if set_wait_s is not None:
        run.feed.set_wait_s(set_wait_s)  # lidar.wait_s set with ros2 param set
    wait_ns = round((set_wait_s or 0.2) * 1e9)
    run.feed.add_frame(IMAGE_NS, frame(IMAGE_NS))
    run.clock.now_ns = wait_ns - 1
    run.feed.poll()
    assert run.released == [] and run.feed.pairing.waiting == 1
    run.clock.now_ns = wait_ns
    run.feed.poll()
    ((gone),) = run.released
    assert gone.scan is None and gone.timed_out and gone.waited_ns == wait_ns


def test_drain_forgets_the_frames_held_and_says_how_many() -> None:
    run = make_feed()
    run.feed.add_frame(IMAGE_NS, frame(IMAGE_NS))
    run.feed.add_frame(IMAGE_NS + 100 * MS, frame(IMAGE_NS + 100 * MS))
    assert run.feed.drain() == 2 and run.feed.pairing.waiting == 0 and run.released == []


def test_the_chosen_scan_is_decoded_and_placed_in_the_camera_frame_through_tf2_with_the_timeout_given() -> None:
    run = make_feed()
    scan = cloud(IMAGE_NS + 125 * MS, POINTS, times_s=SWEEP_S)
    placed = run.feed.scan_input(IMAGE_NS, "camera_optical", (IMAGE_NS, scan))
    assert placed is not None and run.unused == []
    np.testing.assert_allclose(placed.points_in_lidar, POINTS)
    np.testing.assert_allclose(placed.cam_from_lidar.matrix, CAM_FROM_LIDAR.matrix, atol=1e-9)
    assert (placed.stamp_ns, placed.sweep_middle_ns) == (IMAGE_NS + 125 * MS, -125 * MS)  # dated as paired
    assert run.tf.timeouts == ["zero duration"]
    assert run.feed.scan_input(IMAGE_NS, "camera_optical", None) is None and run.unused == []  # no scan: no count


@pytest.mark.parametrize(
    ("case", "reason", "text"),
    [
        ("empty", "lidar.empty_scan", "scan on 'velodyne' has no valid points"),
        ("tf", "lidar.TfError", "no transform velodyne -> camera_optical"),  # named by the class caught
        ("layout", "lidar.EncodingError", "x"),
    ],
)
def test_a_scan_that_cannot_be_used_is_counted_by_reason_and_the_frame_goes_on_without_it(
    case: str, reason: str, text: str
) -> None:
    run = make_feed()
    scan = cloud(IMAGE_NS, [[np.nan, 0.0, 0.0]] if case == "empty" else POINTS)
    if case == "tf":
        run.tf.error = TfLookupError("no transform velodyne -> camera_optical")
    if case == "layout":
        scan.fields = [f for f in scan.fields if f.name != "x"]  # no float x, y, z: not a LiDAR cloud
    assert run.feed.scan_input(IMAGE_NS, "camera_optical", (IMAGE_NS, scan)) is None
    ((counted, said),) = run.unused
    assert counted == reason and text in said, said


def test_a_frame_left_without_a_scan_while_scans_are_at_hand_is_warned_with_the_topic_as_shown() -> None:
    """A LiDAR stamped an hour behind the camera: the UnpairedLog names the topic as subscribed (remapped)."""
    run = make_feed(wait_s=0.0)
    for k in range(3):
        run.feed.add_scan(cloud(IMAGE_NS - 3600 * 10**9 + k * 100 * MS, POINTS))
    run.feed.add_frame(IMAGE_NS, frame(IMAGE_NS))
    ((paired),) = run.released
    assert paired.scan is None
    assert run.node.warnings and "/ns/lidar/points" in run.node.warnings[0], run.node.warnings
