"""The node's LiDAR subscription: ``sensor_msgs/PointCloud2`` (3D LiDAR) or ``sensor_msgs/LaserScan`` (2D LiDAR).

A ROS subscription has one message type, fixed when it is made; a subscription of the wrong type receives nothing
(and rclpy says nothing). ``lidar.message_type`` names the type of ``lidar_topic``: ``PointCloud2``, ``LaserScan``,
or ``auto`` (the default): the type the topic's publishers have in the ROS graph. With ``auto`` and no publisher in
the graph yet (the LiDAR driver starts after the node, or discovery has not shown it), the topic is subscribed as
``PointCloud2`` (what a 3D LiDAR publishes: such users see no change), and a timer looks at the graph once a second
until a publisher appears: one that publishes only ``LaserScan`` there gets the subscription re-made as
``LaserScan`` (logged); then the timer stops. The type then stays: restart the node to change it.

The bag runner needs none of this: it reads each message as the bag recorded its topic's type
(:func:`accepted_types` says which types ``lidar.message_type`` admits, the node's first: of a topic recorded with
both, ``auto`` reads the PointCloud2s, as :meth:`LidarSubscription.poll` takes them of both publishers).
ROS-free: :mod:`mono_depth_ros.node` passes itself (``create_subscription``, ``create_timer``,
``get_publishers_info_by_topic``, ``get_logger``) and its message classes
(:class:`~mono_depth_ros.core.msg_factory.MessageFactory`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from mono_depth_ros.adapters.cdr_input import CdrDecoder
from mono_depth_ros.adapters.topic_names import shown_topic
from mono_depth_ros.core.msg_factory import MessageFactory
from mono_depth_ros.core.msg_laser_scan import LASER_SCAN
from mono_depth_ros.depth_config import DepthConfig

POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
MESSAGE_TYPES: dict[str, str] = {"PointCloud2": POINTCLOUD2, "LaserScan": LASER_SCAN}
"""``lidar.message_type`` choices (besides ``auto``) → ROS type names."""
LOOK_EVERY_S = 1.0  # auto, no publisher yet: how often the graph is looked at


def accepted_types(choice: str) -> tuple[str, ...]:
    """The ROS type names ``lidar.message_type`` = ``choice`` admits on ``lidar_topic`` (``auto``: both)."""
    return (MESSAGE_TYPES[choice],) if choice in MESSAGE_TYPES else tuple(MESSAGE_TYPES.values())


class RosNode(Protocol):
    """What :class:`LidarSubscription` uses of an rclpy node."""

    def create_subscription(
        self, msg_type: Any, topic: str, callback: Callable[[Any], None], qos: Any, *, raw: bool = False
    ) -> Any: ...
    def destroy_subscription(self, subscription: Any) -> bool: ...
    def create_timer(self, period_s: float, callback: Callable[[], None], *, clock: Any) -> Any: ...
    def get_publishers_info_by_topic(self, topic: str) -> Sequence[Any]: ...
    def get_logger(self) -> Any: ...


class LidarSubscription:
    """Subscribes ``lidar_topic`` with the type ``lidar.message_type`` names, or (``auto``) its publishers' type.

    Args:
        node: the node (rclpy's, or a stand-in in tests). config: its configuration (``lidar_topic``,
            ``lidar.message_type``). callback, qos: the subscription's. factory: the node's message classes by type
            name. clock: the clock of the ``auto`` timer that looks at the graph (a steady one: no ``/clock`` needed).
            decoder: ``(type_name, topic) -> CdrDecoder``: subscribe raw (CDR bytes) and give ``callback`` what it
            decodes (:mod:`~mono_depth_ros.adapters.cdr_input`); None: rclpy's messages.
    """

    def __init__(
        self,
        node: RosNode,
        config: DepthConfig,
        callback: Callable[[Any], None],
        qos: Any,
        factory: MessageFactory,
        clock: Any = None,
        decoder: Callable[[str, str], CdrDecoder] | None = None,
    ) -> None:
        self._node, self._topic, self._callback, self._qos = node, config.topics.lidar, callback, qos
        self._decoder = decoder
        self._classes = factory.classes
        self._made: list[Any] = []  # subscriptions made by the timer (after the node's activation)
        self._timer: Any = None
        self._subscription: Any = None
        self.type_name = ""  # the type subscribed
        choice = config.lidar.message_type
        if choice in MESSAGE_TYPES:
            self._subscribe(MESSAGE_TYPES[choice])
        elif not self.poll():
            self._subscribe(POINTCLOUD2)  # until a publisher shows the type
            self._timer = node.create_timer(LOOK_EVERY_S, self._on_timer, clock=clock)

    def poll(self) -> bool:
        """``auto``: (re-)subscribe with the type of the topic's publishers when one is in the graph; True if so."""
        types = {str(getattr(info, "topic_type", "")) for info in self._node.get_publishers_info_by_topic(self._topic)}
        usable = [name for name in MESSAGE_TYPES.values() if name in types]  # PointCloud2 first
        if not usable:
            return False  # nothing (usable) publishes yet: the input watch says so after a while
        if usable[0] != self.type_name:
            if self._subscription is not None:
                self._node.destroy_subscription(self._subscription)
            self._subscribe(usable[0])
            subscribed = getattr(self._subscription, "topic_name", None)  # rclpy's: expanded and remapped
            shown = shown_topic(self._topic, lambda name: subscribed if isinstance(subscribed, str) else name)
            self._node.get_logger().info(
                f"lidar_topic {shown} is published as {self.type_name} (lidar.message_type: auto): subscribed"
            )
        return True

    def take(self) -> list[Any]:
        """The subscriptions the timer made, handed over once (a managed node's deactivate destroys them)."""
        made, self._made = self._made, []
        return made

    def _on_timer(self) -> None:
        before = self._subscription
        if self.poll():
            self._timer.cancel()
            if self._subscription is not before:
                self._made.append(self._subscription)

    def _subscribe(self, type_name: str) -> None:
        self.type_name = type_name
        msg_class, topic = self._classes[type_name], self._topic
        if self._decoder is None:
            self._subscription = self._node.create_subscription(msg_class, topic, self._callback, self._qos)
        else:
            callback = self._decoder(type_name, topic).into(self._callback)
            self._subscription = self._node.create_subscription(msg_class, topic, callback, self._qos, raw=True)


def taken(*holders: LidarSubscription | Any | None) -> list[Any]:
    """The subscriptions each holder (:class:`LidarSubscription`, ``LatchedInfo``; None skipped) made after the
    node's activation, handed over (a managed node's deactivate destroys them with its own)."""
    return [subscription for holder in holders if holder is not None for subscription in holder.take()]
