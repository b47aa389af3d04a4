"""adapters/lidar_subscription.py: lidar_topic subscribed as PointCloud2 or LaserScan (named, or as published)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from mono_depth_ros.adapters.lidar_subscription import LidarSubscription, accepted_types, taken
from mono_depth_ros.core.msg_factory import MessageFactory
from mono_depth_ros.depth_config import DepthConfig

CLOUD, SCAN = "sensor_msgs/msg/PointCloud2", "sensor_msgs/msg/LaserScan"
FACTORY = MessageFactory({CLOUD: lambda **_: "cloud class", SCAN: lambda **_: "scan class"})


@dataclass
class Info:
    topic_type: str


@dataclass
class Timer:
    period_s: float
    callback: Callable[[], None]
    clock: Any
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class Logger:
    lines: list[str] = field(default_factory=list)

    def info(self, text: str) -> None:
        self.lines.append(text)


@dataclass
class FakeNode:
    """What the adapter uses of an rclpy node: the topic's publishers, subscriptions and timers made, log lines."""

    publishers: list[str] = field(default_factory=list)
    made: list[tuple[Any, str, Any, Any]] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    logger: Logger = field(default_factory=Logger)
    destroyed: list[str] = field(default_factory=list)

    def create_subscription(self, msg_type: Any, topic: str, callback: Callable[[Any], None], qos: Any) -> str:
        self.made.append((FACTORY_NAMES[msg_type], topic, callback, qos))
        return f"subscription {len(self.made)}"

    def destroy_subscription(self, subscription: str) -> bool:
        self.destroyed.append(subscription)
        return True

    def create_timer(self, period_s: float, callback: Callable[[], None], *, clock: Any) -> Timer:
        self.timers.append(Timer(period_s, callback, clock))
        return self.timers[-1]

    def get_publishers_info_by_topic(self, topic: str) -> list[Info]:
        assert topic == "/scan"
        return [Info(t) for t in self.publishers]

    def get_logger(self) -> Logger:
        return self.logger

    def lidar(self, choice: str) -> LidarSubscription:
        config = DepthConfig.from_params({"lidar_topic": "/scan", "lidar.message_type": choice})
        return LidarSubscription(self, config, on_scan, "qos", FACTORY, clock="steady")

    def types(self) -> list[str]:
        return [type_name for type_name, *_ in self.made]


FACTORY_NAMES = {cls: name for name, cls in FACTORY.classes.items()}


def on_scan(msg: Any) -> None:
    """The node's LiDAR callback (the subscriptions must carry it)."""


@pytest.mark.parametrize(("choice", "type_name"), [("PointCloud2", CLOUD), ("LaserScan", SCAN)])
def test_a_named_type_is_subscribed_at_once_whatever_the_graph_shows(choice: str, type_name: str) -> None:
    node = FakeNode(publishers=[CLOUD, SCAN])
    lidar = node.lidar(choice)
    assert node.made == [(type_name, "/scan", on_scan, "qos")] and lidar.type_name == type_name
    assert node.timers == [] and lidar.take() == [] and node.logger.lines == []


@pytest.mark.parametrize("published", [CLOUD, SCAN])
def test_auto_subscribes_the_type_the_topic_is_published_as(published: str) -> None:
    node = FakeNode(publishers=[published])
    lidar = node.lidar("auto")
    assert (node.types(), lidar.type_name, node.timers) == ([published], published, [])
    assert lidar.take() == []  # made at activation: the lifecycle node's activate tracks it
    assert node.logger.lines == [
        f"lidar_topic /scan is published as {published} (lidar.message_type: auto): subscribed"
    ]


def test_auto_names_the_topic_as_its_subscription_resolved_it() -> None:
    """Under ``-r /scan:=/robot1/scan`` the line named /scan, which the node did not subscribe."""
    from types import SimpleNamespace

    class RemappingNode(FakeNode):
        def create_subscription(self, msg_type: Any, topic: str, callback: Callable[[Any], None], qos: Any) -> Any:
            super().create_subscription(msg_type, topic, callback, qos)
            return SimpleNamespace(topic_name="/robot1" + topic)  # rclpy's Subscription.topic_name: resolved

    node = RemappingNode(publishers=[SCAN])
    node.lidar("auto")
    assert node.logger.lines == [
        "lidar_topic /robot1/scan (from /scan) is published as sensor_msgs/msg/LaserScan (lidar.message_type: auto): "
        "subscribed"
    ]


def test_auto_without_a_publisher_subscribes_point_cloud2_then_re_subscribes_a_laser_scan_when_one_appears() -> None:
    node = FakeNode()
    lidar = node.lidar("auto")
    assert (node.types(), lidar.type_name) == ([CLOUD], CLOUD)  # a 3D LiDAR's type meanwhile: no change for them
    (timer,) = node.timers
    assert (timer.period_s, timer.clock) == (1.0, "steady")
    node.publishers = ["sensor_msgs/msg/Range"]  # another type: nothing to do
    timer.callback()
    assert node.types() == [CLOUD] and not timer.cancelled and node.destroyed == []
    node.publishers = [SCAN]  # the 2D LiDAR driver starts
    timer.callback()
    assert (node.types(), lidar.type_name, node.destroyed, timer.cancelled) == (
        [CLOUD, SCAN],
        SCAN,
        ["subscription 1"],
        True,
    )
    assert node.logger.lines == [
        "lidar_topic /scan is published as sensor_msgs/msg/LaserScan (lidar.message_type: auto): subscribed"
    ]
    assert taken(None, lidar) == ["subscription 2"] and lidar.take() == []  # a managed node's deactivate destroys it


def test_auto_keeps_the_point_cloud2_subscription_when_a_point_cloud2_publisher_appears() -> None:
    node = FakeNode()
    lidar = node.lidar("auto")
    node.publishers = [CLOUD]
    node.timers[0].callback()
    assert (node.types(), node.destroyed, node.timers[0].cancelled, lidar.take()) == ([CLOUD], [], True, [])
    assert node.logger.lines == []


def test_auto_prefers_point_cloud2_when_both_types_publish_and_the_bag_accepts_per_choice() -> None:
    assert FakeNode(publishers=[SCAN, CLOUD]).lidar("auto").type_name == CLOUD
    assert accepted_types("auto") == (CLOUD, SCAN)
    assert accepted_types("LaserScan") == (SCAN,) and accepted_types("PointCloud2") == (CLOUD,)


class RawNode(FakeNode):
    """A node whose subscriptions record ``raw``."""

    def create_subscription(  # type: ignore[override]
        self, msg_type: Any, topic: str, callback: Callable[[Any], None], qos: Any, *, raw: bool = False
    ) -> str:
        self.raw_flags = [*getattr(self, "raw_flags", []), raw]
        return super().create_subscription(msg_type, topic, callback, qos)


def test_with_a_decoder_each_type_is_subscribed_raw_and_the_callback_gets_what_its_decoder_decodes() -> None:
    """The node subscribes LiDAR as CDR bytes (adapters.cdr_input): the re-subscription as LaserScan too, with a
    decoder of that type; the bytes the decoder refuses never reach the node's callback."""
    from mono_depth_ros.adapters.cdr_input import CdrDecoder

    node, reports, got = RawNode(), [], []
    config = DepthConfig.from_params({"lidar_topic": "/scan", "lidar.message_type": "auto"})
    decoder = lambda type_name, topic: CdrDecoder(type_name, topic, lambda *report: reports.append(report))  # noqa: E731
    lidar = LidarSubscription(node, config, got.append, "qos", FACTORY, clock="steady", decoder=decoder)
    node.publishers = [SCAN]
    node.timers[0].callback()
    assert (node.types(), node.raw_flags, lidar.type_name) == ([CLOUD, SCAN], [True, True], SCAN)
    callback = node.made[-1][2]
    callback(b"\x00\x01\x00\x00")  # not a LaserScan
    assert got == [] and [reason for reason, _ in reports] == ["bad_cdr"] and "LaserScan on /scan" in reports[0][1]
