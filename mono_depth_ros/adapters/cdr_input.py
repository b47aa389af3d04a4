"""The node's inputs taken as serialised (CDR) bytes and decoded ROS-free, as the bag runner decodes its messages.

rclpy converts every message it takes into its generated Python class on the executor's thread: the C message the
middleware deserialised, then a ``bytes`` object and an ``array.array`` per ``uint8[]`` field (``deserialize_message``
alone: 0.9 ms per KITTI image, 1.3 ms per 120k-point sweep). Subscribed with ``raw=True`` (rclpy Humble and Jazzy)
the callback gets the serialised message as ``bytes`` (one copy); :class:`CdrDecoder` reads it with the rosbags
typestore the bag runner uses (5-50 us: its ``uint8[]`` and numeric arrays are numpy views of those bytes, read-only,
no copy), so the node hands :mod:`~mono_depth_ros.adapters.messages` the same kind of message as the bag runner. An
rgb8 image is copied once, in the worker, into the writable array the pipeline takes (``image_to_rgb8``). Measured
in ``bench/RESULTS-session-notes.md`` ("raw subscriptions").

The decoded header stamp is made an instance of the node's ``builtin_interfaces/msg/Time`` class (its
:class:`~mono_depth_ros.core.msg_factory.MessageFactory`'s): message_filters' ApproximateTimeSynchronizer takes no
other (``rclpy.time.Time.from_msg`` checks the class). Bytes that are not a message of the subscription's type
(truncated, corrupt) are counted under :data:`BAD_CDR` and dropped with a log naming topic, type, size and error;
they never reach the synchroniser, the pairing or the worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any

from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from mono_depth_ros.core.msg_factory import MessageFactory

BAD_CDR = "bad_cdr"
"""``bad_messages.<reason>`` of an input message whose bytes cannot be decoded."""
TIME = "builtin_interfaces/msg/Time"


def node_typestore(distro: str | None = None) -> Typestore:
    """The rosbags typestore of ``distro`` or the running ROS 2 distro (``ROS_DISTRO``): ``jazzy``'s, else Humble's
    (the message types the node takes are the same in both)."""
    return _typestore(distro if distro is not None else os.environ.get("ROS_DISTRO", "humble"))


@cache
def _typestore(distro: str) -> Typestore:
    return get_typestore(Stores.ROS2_JAZZY if distro == "jazzy" else Stores.ROS2_HUMBLE)


class CdrDecoder:
    """Decodes the serialised messages of one raw subscription.

    rosbags generates and compiles a type's deserialiser at its first use in a typestore (2-70 ms, the first type
    of a process most): made here, as the node subscribes (activate), not as the first message arrives, where it
    delayed the first frames after start-up on the executor's thread. Once per process (the store is cached).

    Args:
        type_name: the subscription's ROS type (``sensor_msgs/msg/Image``...). topic: its topic (for the log).
        on_bad: ``(reason, text)`` for a message that cannot be decoded (:data:`BAD_CDR`; the node counts and logs
            it, throttled). factory: the node's message classes (the stamp's class; None: the stamp stays rosbags').
        typestore: the decoding typestore (default :func:`node_typestore`).
    """

    def __init__(
        self,
        type_name: str,
        topic: str,
        on_bad: Callable[[str, str], Any],
        factory: MessageFactory | None = None,
        typestore: Typestore | None = None,
    ) -> None:
        self.type_name, self._topic, self._on_bad = type_name, topic, on_bad
        self._store = typestore if typestore is not None else node_typestore()
        if type_name not in self._store.types:
            raise KeyError(f"{type_name} is not in the rosbags typestore; it cannot be subscribed raw")
        self._store.get_msgdef(type_name)  # its decoder generated now (subscribing), not in the first frame's callback
        self._time = factory.classes.get(TIME) if factory is not None else None

    def decode(self, raw: bytes | bytearray | memoryview) -> Any | None:
        """The message (rosbags dataclass; arrays are views of ``raw``), or None when ``raw`` is not one (reported)."""
        try:
            msg = self._store.deserialize_cdr(memoryview(raw), self.type_name)
        except Exception as err:  # rosbags' SerdeError, or whatever a malformed buffer makes its decoder raise
            text = (
                f"cannot deserialise {self.type_name} on {self._topic} ({len(raw)} bytes): {type(err).__name__}: "
                f"{err}; the message is truncated or corrupt (dropped)"
            )
            self._on_bad(BAD_CDR, text)
            return None
        header = getattr(msg, "header", None)
        if self._time is not None and header is not None:
            header.stamp = self._time(sec=int(header.stamp.sec), nanosec=int(header.stamp.nanosec))
        return msg

    def into(self, callback: Callable[[Any], Any]) -> Callable[[bytes], None]:
        """A raw subscription's callback: ``callback(message)`` for each message decoded."""

        def on_raw(raw: bytes) -> None:
            msg = self.decode(raw)
            if msg is not None:
                callback(msg)

        return on_raw


class Relay:
    """A message_filters stage (``registerCallback`` / ``signalMessage``, as ``message_filters.SimpleFilter``)."""

    def __init__(self) -> None:
        self.callbacks: dict[int, tuple[Callable[..., Any], tuple[Any, ...]]] = {}

    def registerCallback(self, cb: Callable[..., Any], *args: Any) -> int:
        """Call ``cb(msg, *args)`` for each message passed on."""
        self.callbacks[len(self.callbacks)] = (cb, args)
        return len(self.callbacks) - 1

    def signalMessage(self, *msg: Any) -> None:
        """Pass a message on to every callback."""
        for cb, args in list(self.callbacks.values()):
            cb(*(msg + args))


class DecodedFilter(Relay):
    """A message_filters stage after a raw ``message_filters.Subscriber``: passes on each message decoded.

    Args:
        source: the raw subscriber (``registerCallback``). decoder: its :class:`CdrDecoder`.
    """

    def __init__(self, source: Any, decoder: CdrDecoder) -> None:
        super().__init__()
        self.source = source
        source.registerCallback(decoder.into(self.signalMessage))

    @property
    def sub(self) -> Any:
        """The raw Subscriber's rclpy subscription (None without one), where a ``message_filters.Subscriber`` keeps
        it: its ``topic_name`` is the topic as subscribed (remapped), which the sync watch's messages name."""
        return getattr(self.source, "sub", None)

    def publishers(self) -> list[Any] | None:
        """The endpoint infos (``topic_type``, ``qos_profile``) of the publishers of the raw Subscriber's topic:
        rclpy's ``get_publishers_info_by_topic`` on the Subscriber's ``node``, given the topic as subscribed (rclpy
        expands and remaps it as the subscription did); None where there is no node to ask."""
        node, topic = getattr(self.source, "node", None), getattr(self.source, "topic", None)
        if node is None or not isinstance(topic, str):
            return None
        return list(node.get_publishers_info_by_topic(topic))


def sensor_type_name(msg_class: Any) -> str:
    """``sensor_msgs/msg/<class name>``: the ROS type of a ``sensor_msgs`` class (every input the node takes)."""
    return f"sensor_msgs/msg/{msg_class.__name__}"


INPUT_KINDS = {"CameraInfo": "camera_info", "PointCloud2": "lidar", "LaserScan": "lidar"}
"""The ``inputs_unused.<kind>.`` prefix of an input other than the camera image, by its message class name (an
``Image`` besides the camera image is the external prediction)."""


class RawInputs:
    """Makes the node's raw input subscriptions, each with its :class:`CdrDecoder`.

    Undecodable bytes on the image topic are an image received and bad: ``on_received()`` then
    ``on_bad(BAD_CDR, text)`` (``received == published + dropped + bad`` holds); on another input they go to
    ``on_unused(f"{kind}.{BAD_CDR}", text)`` with its :data:`INPUT_KINDS` kind (``camera_info``, ``lidar``,
    ``prediction``): no image outcome (the image left without it is counted as such: ``no_camera_info``...).

    Args:
        node: the rclpy node (``create_subscription(..., raw=True)``). on_bad, factory: as :class:`CdrDecoder`'s.
        on_unused: ``(reason, text)`` of another input's bytes (default ``on_bad``).
        on_received: called for each undecodable image, before ``on_bad`` (default: nothing).
    """

    def __init__(
        self,
        node: Any,
        on_bad: Callable[[str, str], Any],
        factory: MessageFactory,
        on_unused: Callable[[str, str], Any] | None = None,
        on_received: Callable[[], Any] | None = None,
    ) -> None:
        self._node, self._on_bad, self._factory = node, on_bad, factory
        self._on_unused = on_unused or on_bad
        self._on_received = on_received

    def _decoder(self, type_name: str, topic: str, image: bool) -> CdrDecoder:
        if image:
            return CdrDecoder(type_name, topic, self._bad_image, self._factory)
        kind = INPUT_KINDS.get(type_name.rpartition("/")[2], "prediction")
        unused = lambda reason, text: self._on_unused(f"{kind}.{reason}", text)  # noqa: E731
        return CdrDecoder(type_name, topic, unused, self._factory)

    def _bad_image(self, reason: str, text: str) -> None:
        if self._on_received is not None:
            self._on_received()
        self._on_bad(reason, text)

    def scan(self, type_name: str, topic: str) -> CdrDecoder:
        """The decoder of a LiDAR subscription (:class:`~.lidar_subscription.LidarSubscription`'s ``decoder``)."""
        return self._decoder(type_name, topic, image=False)

    def subscribe(self, msg_class: Any, topic: str, callback: Callable[[Any], Any], qos: Any) -> Any:
        """``create_subscription`` of ``msg_class`` (sensor_msgs: the camera image, or its CameraInfo) on ``topic``:
        ``callback`` gets decoded messages."""
        decoder = self._decoder(sensor_type_name(msg_class), topic, msg_class.__name__ not in INPUT_KINDS)
        return self._node.create_subscription(msg_class, topic, decoder.into(callback), qos, raw=True)

    def filters(self, subscriber: Callable[..., Any], inputs: list[tuple[Any, str]], qos: Any) -> list[DecodedFilter]:
        """A decoding message_filters stage per ``(msg_class, topic)``, the camera image first, after a raw
        ``subscriber`` (the class ``message_filters.Subscriber``) of each."""
        return [
            DecodedFilter(
                subscriber(self._node, msg_class, topic, qos_profile=qos, raw=True),
                self._decoder(sensor_type_name(msg_class), topic, image=index == 0),
            )
            for index, (msg_class, topic) in enumerate(inputs)
        ]
