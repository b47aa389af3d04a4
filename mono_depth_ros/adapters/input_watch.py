"""A warning when an input topic delivers nothing, saying why: no publisher, another message type, or QoS.

A subscription to a topic nobody publishes, or publishes with another type (a ``CompressedImage`` topic read as
``Image``), receives nothing and rclpy says nothing: the node would sit silent. :class:`InputWatch` is polled on a
steady timer; an input that has received nothing ``after_s`` seconds after the subscriptions were made is warned
about, then again every ``repeat_s`` while it stays silent, with what the ROS graph says about the topic. Once a
message arrived the input is no longer watched (a stream that stops later shows in ``/diagnostics``).

The same poll watches the node's own output topics: another publisher on its ``depth/image`` (a second camera's
node launched without a namespace of its own: two ``ros2 launch``, two systemd units) interleaves two cameras'
depth on one topic, which ROS accepts without a word; it is warned about, again whenever the publishers change.
:class:`PeerFrames` reads the other nodes' ``/diagnostics`` statuses, whose ``hardware_id`` is their camera frame:
two cameras whose drivers stamp one ``frame_id`` (two USB cameras left at the driver's default, ``camera``) make two
nodes publish depth and clouds in one frame, and TF (one transform per frame) puts one camera's obstacles where the
other looks, without an error anywhere; warned once per peer, whatever the peer node is named (a user's launch file
names it ``depth_left``: :func:`~mono_depth_ros.adapters.diagnostics.is_depth_status`). ROS-free:
:mod:`mono_depth_ros.node` passes ``get_publishers_info_by_topic`` (endpoint infos with ``topic_type``, ``node_name``,
``node_namespace``) and subscribes ``/diagnostics`` for :class:`PeerFrames`.

:class:`LatchedInfo`: the camera_info subscription of ``sync.mode: latest``, which also reads a camera_info that
a transient-local publisher stored before the node subscribed (see there).

With a LiDAR input it also watches the publishers of ``/tf_static``: one that offers volatile durability sends
nothing to tf2's TransformListener, which subscribes transient local. ``ros2 bag play`` offers a topic recorded
without QoS (a bag converted from ROS 1, a tool that records none) so: the LiDAR -> camera transform never came,
every frame lost its LiDAR scale to "frame does not exist", and rclpy's "incompatible QoS" named no remedy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from mono_depth_ros.adapters.diagnostics import is_depth_status, status_name
from mono_depth_ros.adapters.lidar_subscription import MESSAGE_TYPES, accepted_types
from mono_depth_ros.adapters.topic_names import shown_topic
from mono_depth_ros.depth_config import DepthConfig

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
WARN_AFTER_S = 5.0
REPEAT_S = 60.0
STATIC_TF_TOPIC = "/tf_static"
LIDAR_ROLE = "LiDAR scan"


@dataclass(frozen=True)
class WatchedInput:
    """One subscription: what it is, its topic and message type, how many messages it got, what to set."""

    role: str  # "image", "LiDAR scan" (one input per role)
    topic: str
    type_name: str  # e.g. sensor_msgs/msg/Image ("A or B": either, as lidar.message_type auto takes)
    count: Callable[[], int]  # messages received so far
    remedy: str  # the parameter / launch argument that names the topic, and for a type mismatch what to change
    qos: str = "sensor_data"  # the input_qos parameter, named when a publisher of the right type sends nothing
    shown: str = ""  # the topic as subscribed, for the messages (topic_names.shown_topic; empty: ``topic``)
    other_types: tuple[tuple[str, str], ...] = ()  # (type name, remedy) of a publisher type the node could subscribe
    sibling: tuple[str, str, str] = ("", "", "")  # the other image transport's (topic, type name, reason)


def silence_reason(watched: WatchedInput, publisher_types: Sequence[str], reliable: Sequence[bool] = ()) -> str:
    """Why ``watched`` received nothing, from the type names of the topic's publishers and, when known, whether each
    of them is reliable (``reliable``, in the same order; empty: unknown)."""
    if not publisher_types:
        return f"nothing publishes it (`ros2 topic list -t` lists the topics); {watched.remedy}"
    ours = [i for i, t in enumerate(publisher_types) if t in watched.type_name.split(" or ")]  # of the type subscribed
    if not ours:
        others = ", ".join(sorted(set(publisher_types)))
        remedies = [remedy for name, remedy in watched.other_types if name in publisher_types]  # the topic is right
        remedy = remedies[0] if remedies else watched.remedy
        return f"it is published as {others}, this node subscribes {watched.type_name}; {remedy}"
    head = f"{len(ours)} publisher(s) of {watched.type_name} but nothing arrived: "
    if watched.qos == "sensor_data" and len(reliable) == len(publisher_types):  # best effort matches any publisher
        remedy = (
            "set input_qos: reliable (the publisher is reliable: every message is repaired and arrives)"
            if any(reliable[i] for i in ours)
            else "make the publisher reliable and set input_qos: reliable, "
            + ("publish it compressed, " if watched.role == "image" else "")  # (the one input with a compressed form)
            + "or raise the socket receive buffer (net.core.rmem_max and the DDS's, e.g. Cyclone's "
            "SocketReceiveBufferSize)"
        )
        return head + (
            f"not a QoS mismatch (input_qos: {watched.qos} is best effort, which takes any publisher): a publisher "
            f"that sends nothing yet, or messages too large to arrive whole: DDS sends a large message as UDP "
            f"fragments (a 3840x2160 rgb8 image is 25 MB) and a best-effort reader drops the whole message when one "
            f"fragment is lost, which a socket buffer smaller than a message makes the rule; {remedy}"
        )
    if len(reliable) == len(publisher_types) and all(reliable[i] for i in ours):  # reliable from reliable: matched
        return head + (
            f"the QoS matches (input_qos: {watched.qos}, reliable publishers): a publisher that sends nothing yet, or "
            f"messages so large that the first has not arrived whole yet (a 3840x2160 rgb8 image is 25 MB)"
        )
    return head + (
        f"a QoS the subscription cannot match (input_qos: {watched.qos}; rclpy logs 'incompatible QoS'), or a "
        f"publisher that sends nothing yet"
    )


class InputWatch:
    """Warns, through ``warn``, about each watched input that has received nothing (see the module docstring).

    Args:
        inputs: the subscriptions to watch.
        publishers: topic → its publishers' endpoint infos (rclpy ``TopicEndpointInfo``: ``.topic_type``,
            ``.node_name``, ``.node_namespace``).
        warn: the node's logger.warning.
        now: monotonic clock in seconds (injectable for tests); the watch starts at construction.
        outputs: the node's own output topics (resolved names) that no other node should publish.
    """

    def __init__(
        self,
        inputs: Sequence[WatchedInput],
        publishers: Callable[[str], Sequence[Any]],
        warn: Callable[[str], object],
        now: Callable[[], float] = time.monotonic,
        after_s: float = WARN_AFTER_S,
        repeat_s: float = REPEAT_S,
        outputs: Sequence[str] = (),
    ) -> None:
        self._publishers = publishers
        self._warn = warn
        self._now = now
        self._start = now()
        self._after_s = after_s
        self._repeat_s = repeat_s
        self._next_warning = {item.role: self._start + after_s for item in inputs}
        self._inputs = list(inputs)
        self._outputs = {topic: [""] for topic in outputs}  # topic -> the publishers last warned about

        self._static_tf = any(item.role == LIDAR_ROLE for item in inputs)  # the LiDAR's extrinsic comes on it
        self._volatile_warned = ""  # the /tf_static warning in force ("" none)

    def poll(self) -> None:
        """Warn about the inputs still silent whose warning is due; forget those that received something; warn
        about an output topic with publishers besides this node (once per set of publishers)."""
        now = self._now()
        if now >= self._start + self._after_s:  # (discovery of the graph takes a moment)
            for topic, warned in self._outputs.items():
                self._check_output(topic, warned)
        for item in list(self._inputs):
            if item.count() > 0:
                self._inputs.remove(item)
            elif now >= self._next_warning[item.role]:
                self._next_warning[item.role] = now + self._repeat_s
                infos = list(self._publishers(item.topic))
                reason = silence_reason(item, [str(info.topic_type) for info in infos], publisher_reliability(infos))
                reason = (not infos and self._sibling_reason(item)) or reason  # one more look-up, when silent only
                shown = item.shown or item.topic  # (looked up by its parameter's name: rclpy remaps that itself)
                self._warn(f"no {item.role} received on {shown} in {now - self._start:.0f} s: {reason}")
        if self._static_tf:  # each volatile /tf_static publisher once (again when it comes back after going)
            text = volatile_static_tf_text(self._publishers(STATIC_TF_TOPIC)) or ""
            if text and text != self._volatile_warned:
                self._warn(text)
            self._volatile_warned = text

    def _sibling_reason(self, item: WatchedInput) -> str:
        """``item.sibling``'s reason when a publisher of its type is on its topic (nothing publishes ``item.topic``:
        the camera publishes the other image transport), else ``""``."""
        topic, type_name, reason = item.sibling
        found = topic and type_name in (str(info.topic_type) for info in self._publishers(topic))
        return reason if found else ""

    def _check_output(self, topic: str, warned: list[str]) -> None:
        names = sorted(f"{info.node_namespace.rstrip('/')}/{info.node_name}" for info in self._publishers(topic))
        if len(names) < 2 or names == warned:
            return
        warned[:] = names
        listed = ", ".join(f"{n} x{names.count(n)}" if names.count(n) > 1 else n for n in dict.fromkeys(names))
        self._warn(
            f"{len(names)} publishers on {topic} ({listed}): another node publishes this node's depth topic, so its "
            "readers get two cameras' depth interleaved; give each camera's node its own namespace (launch: "
            "namespace:=front, namespace:=left)"
        )


def _policy(info: Any, name: str) -> str | None:
    """The name of a publisher endpoint info's ``qos_profile.<name>`` policy (rclpy's enums), or None."""
    policy = getattr(getattr(info, "qos_profile", None), name, None)
    return getattr(policy, "name", None)


def volatile_static_tf_text(infos: Sequence[Any]) -> str | None:
    """The warning for the ``/tf_static`` publishers among ``infos`` (endpoint infos: ``qos_profile.durability``,
    rclpy's ``DurabilityPolicy`` or its name, ``node_name``) that offer volatile durability; None when none does."""
    names = [_policy(info, "durability") for info in infos]
    volatile = [info for info, name in zip(infos, names, strict=True) if name == "VOLATILE"]
    if not volatile:
        return None
    who = ", ".join(sorted({str(getattr(info, "node_name", "") or "?") for info in volatile}))
    return (
        f"{len(volatile)} publisher(s) of {STATIC_TF_TOPIC} ({who}) offer volatile durability: tf2's "
        "TransformListener subscribes transient local and receives nothing from them (rclpy: 'incompatible QoS', "
        "DURABILITY), so no static transform from them (LiDAR -> camera: 'frame does not exist', the LiDAR scale "
        "falls back). ros2 bag play offers a topic recorded without QoS (a bag converted from ROS 1) so: play it "
        "with --qos-profile-overrides-path FILE, FILE holding '/tf_static: {durability: transient_local, history: "
        "keep_all}'"
    )


def publisher_reliability(infos: Sequence[Any]) -> list[bool]:
    """Whether each endpoint info's ``qos_profile.reliability`` is RELIABLE (rclpy's ``ReliabilityPolicy``, or its
    name); empty when any info does not say (then :func:`silence_reason` cannot tell)."""
    names = [_policy(info, "reliability") for info in infos]
    return [name == "RELIABLE" for name in names] if all(isinstance(name, str) for name in names) else []


def node_inputs(
    config: DepthConfig,
    image_topic: str,
    images: Callable[[], int],
    scans: Callable[[], int],
    resolve: Callable[[str], str] = str,
) -> list[WatchedInput]:
    """The node's watched inputs: ``image_topic`` as subscribed (:func:`~.topic_names.subscribed_image_topic`:
    ``<resolved base>/compressed`` with compressed transport) and the LiDAR topic when one is set (of a type
    ``lidar.message_type`` admits: with ``auto`` either). camera_info and an external prediction need no watch: an
    image that arrives without them is already counted and warned about (``no_camera_info`` / ``no_prediction``).
    ``resolve``: rclpy's ``resolve_topic_name``, for the names shown. A silent image topic whose other transport's
    topic is published says so (``sibling``): compressed appends to the resolved base, so raw's ``BASE/compressed``
    is what image_transport: compressed subscribes with image_topic as it is."""
    topics = config.topics
    switch = "set image_transport: {0} (launch: image_transport:={0}; ros2 run: --ros-args -p image_transport:={0}), "
    switch += "image_topic"
    resolved = resolve(image_topic)  # as subscribed: the other transport's topic is named after it, not the parameter
    if topics.image_transport == "compressed":
        image_type = COMPRESSED
        remedy = "set image_topic to the camera's base topic (launch: image:=; /compressed is appended), or "
        remedy += "image_transport: raw for a sensor_msgs/msg/Image topic"
        other, other_type = resolved.removesuffix("/compressed"), IMAGE
        # raw subscribes image_topic itself: it stays unless it ends in /compressed or a rule remapped the whole
        # compressed name (-r /cam/image/compressed:=/robot1/cam/compressed: that rule does not follow the base)
        kept = resolve(topics.image) == other
        lookup = topics.image if kept else other  # (rclpy's graph look-up remaps a parameter's name itself)
        how = ": " + switch.format("raw") + (f" stays {topics.image}" if kept else f": {other}")
        how += "" if kept else f" (unchanged it would subscribe {resolve(topics.image)})"
    else:
        image_type = IMAGE
        remedy = "set image_topic (launch: image:=); for a sensor_msgs/msg/CompressedImage topic BASE/compressed "
        remedy += "(image_transport's naming) set image_transport: compressed and image_topic: BASE"
        other = lookup = resolved if resolved.endswith("/compressed") else f"{resolved}/compressed"  # (silence_reason)
        other_type = COMPRESSED  # compressed would subscribe ``lookup`` (the base resolved, then /compressed)
        how = " (a compressed recording, or a camera driver's image_transport): " + switch.format("compressed")
        how += f" stays {image_topic} (/compressed is appended)"
    image = WatchedInput("image", image_topic, image_type, images, remedy, topics.input_qos)
    if other != resolved:  # nothing on the topic, the other transport's publisher on its topic: that is said
        reason = f"nothing publishes it, but {shown_topic(lookup, resolve)} is published as {other_type}{how}"
        image = replace(image, sibling=(lookup, other_type, reason))
    inputs = [image]
    if topics.lidar:
        remedy = "set lidar_topic (launch: lidar:=), or turn LiDAR off (use_lidar:=false); scale falls back meanwhile"
        accepted = accepted_types(config.lidar.message_type)
        other_types = tuple(  # a LiDAR type lidar.message_type leaves out: the topic is right, the type setting not
            (type_name, f"set lidar.message_type: {choice} (or auto: the type the topic's publishers have)")
            for choice, type_name in MESSAGE_TYPES.items()
            if type_name not in accepted
        )
        lidar = WatchedInput(LIDAR_ROLE, topics.lidar, " or ".join(accepted), scans, remedy, topics.input_qos)
        inputs.append(replace(lidar, other_types=other_types))
    return [replace(item, shown=shown_topic(item.topic, resolve)) for item in inputs]


CAMERA_INFO = "sensor_msgs/msg/CameraInfo"


class LatchedInfo:
    """The node's camera_info subscription (``sync.mode: latest``), and one more for a transient-local publisher.

    A driver that publishes camera_info once with transient-local durability (``rclcpp::QoS(1).transient_local()``,
    as OAK-D and RealSense streamers do) keeps it for late subscriptions that are transient local themselves. The
    node's subscription is volatile (``input_qos``, what camera drivers offer, and the only durability a volatile
    publisher matches), so a camera_info published before the node subscribed never arrived: every image was counted
    ``no_camera_info``, for ever. One transient-local subscription from the start would not match the volatile
    publishers of every other camera (both sides log 'incompatible QoS'); so :meth:`missing`, called for each image
    that comes without camera_info, looks at the topic's publishers (once every ``every_s`` at most) and, for a
    transient-local one, subscribes once more (once) with its durability and reliability, depth 1: the stored
    camera_info arrives. With ``sync.mode: approximate`` (``synchronised``) the synchroniser subscribes camera_info:
    nothing is made here.

    Args:
        topic: the camera_info topic. subscribe: ``qos -> subscription`` (the node's ``create_subscription`` with
            its camera_info callback). publishers: ``get_publishers_info_by_topic``. qos: ``input_qos``'s profile,
            subscribed at once (unless ``synchronised``). shown: the topic as subscribed, for the messages
            (:func:`~.topic_names.shown_topic`; empty: ``topic``, which the graph is asked about).
    """

    def __init__(
        self,
        topic: str,
        subscribe: Callable[[Any], Any],
        publishers: Callable[[str], Sequence[Any]],
        qos: Any,
        synchronised: bool,
        now: Callable[[], float] = time.monotonic,
        every_s: float = 1.0,
        shown: str = "",
    ) -> None:
        self._topic, self._subscribe, self._publishers, self._now = topic, subscribe, publishers, now
        self._shown = shown or topic
        self._every_s, self._next_look = every_s, now()
        self._synchronised, self._latched = synchronised, False
        self._why = ""  # what the graph showed at the last look, when it explains the silence
        self._made: list[Any] = []  # subscriptions made after the start: a managed node's deactivate destroys them
        if not synchronised:
            subscribe(qos)

    def missing(self) -> str:
        """The text for an image that came without camera_info, with what the graph shows when that explains it
        (nothing publishes the topic, or publishes another type); subscribes the stored camera_info of a
        transient-local publisher of the topic when there is one (see the class docstring)."""
        if self._synchronised or self._latched or self._now() < self._next_look:
            return f"no camera_info yet on {self._shown}{self._why}"
        self._next_look = self._now() + self._every_s
        infos = [(str(getattr(info, "topic_type", "")), info) for info in self._publishers(self._topic)]
        types = sorted({type_name for type_name, _ in infos})
        self._why = ""
        if not infos:
            self._why = ": nothing publishes it (`ros2 topic list -t` lists the topics); set camera_info_topic"
        elif CAMERA_INFO not in types:
            self._why = f": it is published as {', '.join(types)}; set camera_info_topic to the camera's camera_info"
        text = f"no camera_info yet on {self._shown}{self._why}"
        ours = [info for type_name, info in infos if type_name == CAMERA_INFO]
        latched = [info for info in ours if _policy(info, "durability") == "TRANSIENT_LOCAL"]
        if not latched:
            return text
        profile = latched[0].qos_profile  # rclpy's QoSProfile: its class makes ours, no ROS import here
        qos = type(profile)(depth=1, reliability=profile.reliability, durability=profile.durability)
        self._made.append(self._subscribe(qos))
        self._latched = True
        return (
            f"{text}: a transient-local publisher offers it (it may have published once, before this node subscribed); "
            f"subscribed with its durability to read the camera_info it stored"
        )

    def take(self) -> list[Any]:
        """The subscriptions :meth:`missing` made, handed over once (a managed node's deactivate destroys them)."""
        made, self._made = self._made, []
        return made


class PeerFrames:
    """Checks ``/diagnostics`` arrays for another mono_depth_node's status in this node's camera frame.

    Args:
        node_fqn: this node's fully qualified name (its own status is skipped).
        own_frame: the camera frame of this node's last published frame (``""`` before the first one).
        warn: the node's logger.warning.
    """

    def __init__(self, node_fqn: str, own_frame: Callable[[], str], warn: Callable[[str], object]) -> None:
        self._name = status_name(node_fqn)
        self._own_frame = own_frame
        self._warn = warn
        self._warned: set[tuple[str, str]] = set()  # (peer status name, frame) already warned about

    def check(self, array: Any) -> None:
        """The subscription callback: ``array`` is a ``diagnostic_msgs/DiagnosticArray``."""
        frame = self._own_frame()
        if not frame:
            return
        for status in array.status:
            name, hardware_id = str(status.name), str(status.hardware_id)
            if name == self._name or hardware_id != frame or not is_depth_status(status):
                continue
            if (name, frame) in self._warned:
                continue
            self._warned.add((name, frame))
            peer = name.removesuffix(": depth")
            self._warn(
                f"{peer} publishes its depth in this node's camera frame {frame!r} too: the two cameras' images carry "
                "one frame_id, so TF (one transform per frame) puts both depth images and clouds at one camera's pose; "
                "give each camera driver its own frame_id and publish its TF"
            )
