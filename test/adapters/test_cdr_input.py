"""adapters/cdr_input.py: the node's raw (CDR) inputs decoded as the bag runner decodes them; bad bytes dropped."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mono_depth_ros.adapters.cdr_input import BAD_CDR, CdrDecoder, DecodedFilter, RawInputs, node_typestore
from mono_depth_ros.core import ros_msgs
from mono_depth_ros.core.ros_msgs import image_to_rgb8, xyz_and_times_from_pointcloud2
from test.core.ros_msg_support import FAKE_RCLPY_CLASSES, TYPESTORES, rclpy_style_factory, rosbags_factory

IMAGE, CLOUD = "sensor_msgs/msg/Image", "sensor_msgs/msg/PointCloud2"
STAMP_NS = 1_700_000_000_123_456_789
HUMBLE = TYPESTORES["humble"]


def image_cdr(height: int = 6, width: int = 8, stamp_ns: int = STAMP_NS) -> tuple[bytes, np.ndarray]:
    rgb = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    factory = rosbags_factory("humble")
    msg = ros_msgs.image_from_array(factory, rgb, "rgb8", ros_msgs.make_header(factory, stamp_ns, "cam"))
    return bytes(HUMBLE.serialize_cdr(msg, IMAGE)), rgb


def cloud_cdr() -> tuple[bytes, np.ndarray]:
    points = np.array([[1.0, 2.0, 3.0], [4.0, -5.0, 6.5]], np.float32)
    structured = np.zeros(2, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    structured["x"], structured["y"], structured["z"] = points.T
    factory = rosbags_factory("humble")
    header = ros_msgs.make_header(factory, STAMP_NS, "velo")
    msg = ros_msgs.pointcloud2_from_structured(factory, header, structured, 1, 2, True)
    return bytes(HUMBLE.serialize_cdr(msg, CLOUD)), points


class Reports:
    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []

    def __call__(self, reason: str, text: str) -> None:
        self.got.append((reason, text))


def test_an_image_decodes_to_views_of_the_serialised_bytes_with_the_nodes_stamp_class() -> None:
    raw, rgb = image_cdr()
    reports = Reports()
    msg = CdrDecoder(IMAGE, "/camera/image_raw", reports, rclpy_style_factory()).decode(raw)
    assert msg is not None and reports.got == []
    assert np.shares_memory(msg.data, np.frombuffer(raw, np.uint8)) and not msg.data.flags.writeable  # no copy
    assert isinstance(msg.header.stamp, FAKE_RCLPY_CLASSES["builtin_interfaces/msg/Time"])  # message_filters' class
    assert ros_msgs.stamp_to_ns(msg.header.stamp) == STAMP_NS and msg.header.frame_id == "cam"
    np.testing.assert_array_equal(image_to_rgb8(msg, copy=False), rgb)  # read-only: a writable copy for the pipeline


def test_a_cloud_decodes_as_the_bag_runner_reads_it() -> None:
    raw, points = cloud_cdr()
    msg = CdrDecoder(CLOUD, "/lidar/points", Reports(), rclpy_style_factory()).decode(raw)
    xyz, times = xyz_and_times_from_pointcloud2(msg)
    np.testing.assert_array_equal(xyz, points)
    assert times is None


@pytest.mark.parametrize("cut", [0, 3, 10, 30, -1, -40])
def test_truncated_bytes_are_reported_and_dropped_never_raised(cut: int) -> None:
    raw, _ = image_cdr()
    reports, got = Reports(), []
    on_raw = CdrDecoder(IMAGE, "/camera/image_raw", reports, rclpy_style_factory()).into(got.append)
    on_raw(raw[:cut])
    assert got == []
    ((reason, text),) = reports.got
    assert reason == BAD_CDR
    assert f"{IMAGE} on /camera/image_raw ({len(raw[:cut])} bytes)" in text and "truncated or corrupt" in text
    on_raw(raw)  # the next good message goes through
    assert len(got) == 1 and len(reports.got) == 1


def test_another_types_bytes_are_reported() -> None:
    raw, _ = cloud_cdr()
    reports = Reports()
    assert CdrDecoder(IMAGE, "/camera/image_raw", reports).decode(raw) is None
    assert [reason for reason, _ in reports.got] == [BAD_CDR]


def test_a_type_outside_the_typestore_is_refused_when_subscribing() -> None:
    with pytest.raises(KeyError, match="not in the rosbags typestore"):
        CdrDecoder("my_msgs/msg/Nothing", "/x", Reports())


def test_the_typestore_follows_ros_distro(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROS_DISTRO", "jazzy")
    assert node_typestore() is node_typestore("jazzy") is not node_typestore("humble")
    monkeypatch.delenv("ROS_DISTRO")
    assert node_typestore() is node_typestore("humble")
    assert IMAGE in node_typestore("jazzy").types and IMAGE in node_typestore("humble").types


class Source:
    """A raw message_filters.Subscriber: registerCallback, and what the subscription hands it."""

    def __init__(self, node: Any, msg_class: Any, topic: str, *, qos_profile: Any, raw: bool) -> None:
        self.args = (node, msg_class, topic, qos_profile, raw)
        self.callbacks: list[Any] = []

    def registerCallback(self, cb: Any) -> None:  # message_filters' name
        self.callbacks.append(cb)

    def arrive(self, raw: bytes) -> None:
        for cb in self.callbacks:
            cb(raw)


class FakeNode:
    def __init__(self) -> None:
        self.made: list[tuple[Any, str, Any, Any, bool]] = []

    def create_subscription(self, msg_class: Any, topic: str, callback: Any, qos: Any, *, raw: bool = False) -> Any:
        self.made.append((msg_class, topic, callback, qos, raw))
        return len(self.made)


class Image:  # a class named as sensor_msgs' (the type name comes from it)
    pass


class CameraInfo:
    pass


def test_raw_inputs_subscribe_raw_and_filters_pass_on_only_decoded_messages() -> None:
    """Undecodable image bytes are an image received and bad (``bad_cdr``); another input's go to ``on_unused``
    under its kind (``lidar.``, ``camera_info.``, ``prediction.``): they are no image (a node counted them as bad
    images, and an undecodable image as bad but not received)."""
    node, reports, unused, received = FakeNode(), Reports(), Reports(), []
    inputs = RawInputs(node, reports, rclpy_style_factory(), unused, lambda: received.append(1))
    got: list[Any] = []
    inputs.subscribe(Image, "/camera/image_raw", got.append, "qos")
    ((msg_class, topic, callback, qos, raw),) = node.made
    assert (msg_class, topic, qos, raw) == (Image, "/camera/image_raw", "qos", True)
    good, _ = image_cdr()
    callback(good)
    callback(good[:20])
    assert len(got) == 1 and [r for r, _ in reports.got] == [BAD_CDR] and len(received) == 1
    inputs.subscribe(CameraInfo, "/camera/camera_info", got.append, "qos")
    node.made[-1][2](b"\x00\x01")
    assert [r for r, _ in unused.got] == [f"camera_info.{BAD_CDR}"] and len(reports.got) == len(received) == 1

    stages = inputs.filters(Source, [(Image, "/camera/image_raw"), (CameraInfo, "/info"), (Image, "/pred")], "qos")
    stage = stages[0]
    assert isinstance(stage, DecodedFilter) and stage.source.args == (node, Image, "/camera/image_raw", "qos", True)
    passed: list[Any] = []
    stage.registerCallback(passed.append)
    stage.source.arrive(good[:-8])
    stage.source.arrive(good)
    assert len(passed) == 1 and ros_msgs.stamp_to_ns(passed[0].header.stamp) == STAMP_NS
    assert len(reports.got) == len(received) == 2
    for other in stages[1:]:
        other.source.arrive(b"\x00\x01")
    assert [r for r, _ in unused.got[1:]] == [f"camera_info.{BAD_CDR}", f"prediction.{BAD_CDR}"]

    assert inputs.scan(CLOUD, "/lidar/points").decode(b"\x00\x01") is None  # a scan: unused, no image
    assert unused.got[-1][0] == f"lidar.{BAD_CDR}" and len(reports.got) == len(received) == 2


def test_without_a_factory_the_stamp_stays_rosbags() -> None:
    raw, _ = image_cdr()
    msg = CdrDecoder(IMAGE, "/camera/image_raw", Reports(), typestore=HUMBLE).decode(raw)
    assert isinstance(msg.header.stamp, HUMBLE.types["builtin_interfaces/msg/Time"])


def test_a_decoded_stage_shows_its_raw_subscriptions_remapped_topic_to_the_sync_watch() -> None:
    """The node's synchroniser sources are decoding stages after raw message_filters Subscribers (this module):
    the sync watch looked for the rclpy subscription in the stage's ``sub`` (a Subscriber's), found none, and under
    ``-r /depth_model/prediction:=/robot1/prediction`` said 'none on /depth_model/prediction', a topic the node did
    not subscribe (explore94's remapped names lost in the merge with the raw inputs)."""
    from types import SimpleNamespace

    from mono_depth_ros.adapters.sync_watch import SyncWatch
    from mono_depth_ros.depth_config import DepthConfig

    config = DepthConfig.from_params({"model.backend": "external", "sync.mode": "latest"})
    inputs = RawInputs(FakeNode(), Reports(), rclpy_style_factory())
    stages = inputs.filters(Source, [(Image, "/camera/image_raw"), (Image, "/depth_model/prediction")], "qos")
    for stage, resolved in zip(stages, ("/camera/image_raw", "/robot1/prediction"), strict=True):
        stage.source.sub = SimpleNamespace(topic_name=resolved)  # message_filters.Subscriber's rclpy subscription
    lost: list[Any] = []
    SyncWatch.attach(stages, config, lambda: None, lambda *a: lost.append(a))
    for stamp in range(config.sync.queue_size + 1):
        stages[0].source.arrive(image_cdr(stamp_ns=STAMP_NS + stamp * 1_000_000_000)[0])
    ((reason, text),) = lost
    assert reason == "no_prediction" and "none on /robot1/prediction (from /depth_model/prediction)" in text, text
