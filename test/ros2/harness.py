"""Real-ROS 2 harness: ``ros2 launch`` of the colcon-installed package, and an in-process rclpy probe node.

Used by the tests of ``test/ros2`` only (``scripts/ros2_tier.sh`` runs them with a real Humble sourced):

* :class:`Probe`: one rclpy node spun by a :class:`ProbeExecutor` in a background thread; it publishes test input
  and collects what the node under test publishes, with arrival times; :meth:`Probe.hears` checks that it still
  does (the tier's conftest asks before each test and revives a deaf probe).
* :class:`Launched`: ``ros2 launch mono_depth_ros depth.launch.py ARGS`` as its own process group (so Ctrl-C and
  SIGTERM reach it the way a terminal or systemd sends them), its log in a file, readiness from the ROS graph.
* :class:`KittiFeeder`: real KITTI frames (../shared/data) as rclpy messages: image, camera_info, Velodyne scan,
  static TF ``camera_optical <- velodyne``; stamps near "now", so latencies are real.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import rclpy
from geometry_msgs.msg import TransformStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import InvalidHandle
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from tf2_ros import StaticTransformBroadcaster, TransformBroadcaster

from mono_depth_ros.core import ros_msgs
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.msg_factory import MessageFactory
from test.kitti_bag import CAMERA_FRAME, LIDAR_FRAME, KittiFrame, kitti_camera_info, velodyne_cloud

NS_PER_S = 1_000_000_000
PACKAGE = "mono_depth_ros"
NODE_FQN = "/mono_depth_node"
RELIABLE = QoSProfile(depth=10)
BEST_EFFORT = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)


def rclpy_factory() -> MessageFactory:
    """MessageFactory over rclpy's generated message classes (the ones the node itself uses)."""
    from sensor_msgs.msg import CompressedImage

    from mono_depth_ros.node import message_factory

    factory = message_factory()
    return MessageFactory({**factory.classes, "sensor_msgs/msg/CompressedImage": CompressedImage}, "array.array")


DISCOVERY_SETTLE_S = 1.0
"""How long :meth:`Probe.wait_matched` waits, once a new publisher has matched every subscription of a node, before a
best-effort match may carry a message (explore120, real Humble + Cyclone DDS: a best-effort reader drops a new
writer's samples until the reader's side has matched that writer, which the writer's ``get_subscription_count()``
does not show; a single frame sent at once was lost 2-3 times in 8, none in 10 after 1 s)."""

STATIC_TF_LINGER_S = 1.5
"""How long a destroyed /tf_static writer of the probe may still serve its latched message (Cyclone DDS's
WriterLingerDuration, 1 s, and a margin): :meth:`Probe.forget_static_tf` waits it out."""


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.05) -> None:
    """Poll ``predicate`` until it is true; AssertionError naming ``what`` after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


@dataclass
class Collector:
    """Messages received on one subscription, with their arrival time (monotonic ns)."""

    topic: str
    items: list[tuple[int, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, msg: Any) -> None:
        with self.lock:
            self.items.append((time.monotonic_ns(), msg))

    @property
    def messages(self) -> list[Any]:
        with self.lock:
            return [msg for _, msg in self.items]

    def count(self) -> int:
        with self.lock:
            return len(self.items)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()

    def by_stamp(self) -> dict[int, Any]:
        """Last message per header stamp (ns)."""
        return {ros_msgs.stamp_to_ns(m.header.stamp): m for m in self.messages}

    def wait_for(self, count: int, timeout_s: float) -> list[Any]:
        wait_until(lambda: self.count() >= count, timeout_s, f"{count} message(s) on {self.topic}")
        return self.messages


class ProbeExecutor(MultiThreadedExecutor):  # type: ignore[misc]  # rclpy is untyped
    """Humble's MultiThreadedExecutor without its execution-vs-destruction race (ros2/rclpy#1147, fixed by #1150 from
    Iron on, not in Humble): a subscription or client destroyed after the wait set found it ready and before its task
    took the message made ``take`` raise InvalidHandle outside the ``try`` that releases the callback group, so the
    group stayed held for good (no callback of it ran again: with the node's one default group, the probe heard
    nothing more) and the task's exception, once ``spin_once`` looked at it, ended ``spin``. As upstream:
    a destroyed entity (subscription, client, service, timer or QoS-event waitable) gives nothing to take, and its
    task ends normally."""

    def _make_handler(self, entity: Any, node: Any, take_from_wait_list: Any, call_coroutine: Any) -> Any:
        def take(entity: Any) -> Any:
            try:
                return take_from_wait_list(entity)
            except InvalidHandle:  # destroyed since the wait: nothing to take
                return _DESTROYED

        async def call(entity: Any, taken: Any) -> None:
            if taken is not _DESTROYED:
                await call_coroutine(entity, taken)

        return super()._make_handler(entity, node, take, call)


_DESTROYED = object()


class Probe:
    """An rclpy node in the test process: publishers for input, collectors for output (spun in a thread).

    Each collector and service client has a callback group of its own (one topic's messages stay in order; an entity
    that cannot run holds no other), the spin loop outlives a callback that raises (kept in :attr:`errors`), and
    :meth:`hears` / :meth:`revive` let the tier check and restore it between tests."""

    def __init__(self, name: str = "mono_depth_probe") -> None:
        from std_msgs.msg import String

        self.node: Node = rclpy.create_node(name)
        self.factory = rclpy_factory()
        self.errors: list[str] = []
        self._start_executor()
        self._static_tf: StaticTransformBroadcaster | None = None  # made on first use: static_tf
        self.tf = TransformBroadcaster(self.node)
        self._subscriptions: list[Any] = []
        echo_topic = f"/_{name}_{os.getpid()}_echo"
        # in the node's default callback group, which tests' own subscriptions, clients and timers share: a default
        # group held for good (a callback of it that never returns) leaves the probe deaf to all of them
        self._echo = Collector(echo_topic)
        self._echo_subscription = self.node.create_subscription(String, echo_topic, self._echo, RELIABLE)
        self._echo_pub = self.publisher(String, echo_topic, RELIABLE)
        self._echo_sent = 0
        self._own = self.held()  # the echo's subscription and publisher, /tf's publisher: never dropped

    def _start_executor(self) -> None:
        self._executor = ProbeExecutor(num_threads=2)
        self._executor.add_node(self.node)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._spin, args=(self._executor, self._closing), daemon=True)
        self._thread.start()

    def _spin(self, executor: ProbeExecutor, closing: threading.Event) -> None:
        """``executor.spin()`` that goes on after a callback raised (Humble's ends there, and the probe hears nothing
        more): the exception is kept in :attr:`errors` and printed."""
        while not closing.is_set() and self.node.context.ok():
            try:
                executor.spin_once(timeout_sec=0.2)
            except Exception as err:
                self.errors.append(f"{type(err).__name__}: {err}")
                print(f"probe {self.node.get_name()}: a callback raised {err!r}; spinning on", file=sys.stderr)

    def hears(self, timeout_s: float = 5.0) -> bool:
        """Whether a message the probe publishes to itself comes back through its executor and its node's default
        callback group within ``timeout_s`` (a probe whose executor stopped taking messages fails the tests after it
        with timeouts on every topic; one whose default group is held, on every subscription, client or timer a test
        creates without a group of its own)."""
        from std_msgs.msg import String

        self._echo_sent += 1
        token = str(self._echo_sent)
        deadline = time.monotonic() + timeout_s
        while self._echo_pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        self._echo_pub.publish(String(data=token))
        while time.monotonic() < deadline:
            if any(msg.data == token for msg in self._echo.messages):
                self._echo.clear()
                return True
            time.sleep(0.005)
        return False

    def revive(self) -> None:
        """A fresh executor and spin thread for the same node (its publishers, collectors and clients stay), with the
        callback groups a task never released set free: what :meth:`hears` failing calls for."""
        self._closing.set()
        self._executor.shutdown(timeout_sec=2.0)
        self._thread.join(2.0)
        node = self.node
        entities = (*node.subscriptions, *node.clients, *node.services, *node.timers, *node.waitables)
        for group in {node.default_callback_group, *(entity.callback_group for entity in entities)}:
            if isinstance(group, MutuallyExclusiveCallbackGroup):
                group._active_entity = None
        for entity in entities:
            entity._executor_event = False
        self._start_executor()

    def now_ns(self) -> int:
        return int(self.node.get_clock().now().nanoseconds)

    def publisher(self, msg_type: Any, topic: str, qos: QoSProfile = BEST_EFFORT) -> Any:
        return self.node.create_publisher(msg_type, topic, qos)

    def wait_matched(self, *publishers: Any, timeout_s: float = 30.0, settle_s: float = DISCOVERY_SETTLE_S) -> None:
        """Wait until each of ``publishers`` has matched a subscription, then, where a match may be best effort (the
        publisher's reliability, a subscription's in the graph, such as the node's default ``input_qos``, or a
        matched subscription the graph does not list yet), ``settle_s`` more: the publisher's side matches first, and
        a best-effort reader drops what a writer sends before the reader's side has matched it (nothing the probe can
        see: :data:`DISCOVERY_SETTLE_S`); a reliable pair resends it once both sides have matched. Then a message
        sent once reaches the node (a test about a lost message or a best-effort stream needs no wait)."""
        names = ", ".join(sorted({p.topic_name for p in publishers}))
        wait_until(
            lambda: all(p.get_subscription_count() > 0 for p in publishers), timeout_s, f"a subscription of {names}"
        )
        if any(self._best_effort_match(p) for p in publishers):
            time.sleep(settle_s)

    def _best_effort_match(self, publisher: Any) -> bool:
        """Whether ``publisher``'s matches may be best effort: its reliability, a best-effort subscription in the
        graph, or fewer subscriptions in the graph than it has matched (rmw lists a subscription discovered after the
        publisher a moment after the match: unseen, it may be best effort)."""
        best_effort = ReliabilityPolicy.BEST_EFFORT
        listed = self.node.get_subscriptions_info_by_topic(publisher.topic_name)
        return (
            publisher.qos_profile.reliability == best_effort
            or len(listed) < publisher.get_subscription_count()
            or any(s.qos_profile.reliability == best_effort for s in listed)
        )

    def collect(self, msg_type: Any, topic: str, qos: QoSProfile = RELIABLE) -> Collector:
        collector = Collector(topic)
        group = MutuallyExclusiveCallbackGroup()
        self._subscriptions.append(self.node.create_subscription(msg_type, topic, collector, qos, callback_group=group))
        return collector

    def drop(self, collector: Collector) -> None:
        """Destroy the subscription of ``collector``."""
        for sub in list(self._subscriptions):
            if sub.callback is collector:
                self.node.destroy_subscription(sub)
                self._subscriptions.remove(sub)

    def collectors(self) -> list[Collector]:
        """The collectors :meth:`collect` made and :meth:`drop` has not dropped, oldest first."""
        return [sub.callback for sub in self._subscriptions]

    def held(self) -> list[Any]:
        """The publishers, subscriptions, service clients, services and timers the probe's node holds now (what
        :meth:`drop_since` is given before a test or module)."""
        node = self.node
        return [*node.publishers, *node.subscriptions, *node.clients, *node.services, *node.timers]

    def drop_since(self, held: Iterable[Any]) -> list[str]:
        """Destroy every publisher, subscription (a collector's too), client, service and timer of the node that is
        not in ``held`` (what :meth:`held` said before a test or module) and not the probe's own; returns what was
        destroyed ("publisher /camera/image_raw"). One left behind stays in the graph for the rest of the session: a
        collector takes every later message on its topic (the depth images and clouds of every later node held in
        memory, each deserialised by the probe's two executor threads); a publisher is one more writer on a topic
        that a later test's node subscribes (a best-effort camera another test left beside the test's own on
        /camera/image_raw; a /clock publisher counted with the player's), each of them discovered by every node a
        later test starts."""
        keep = {id(entity) for entity in (*held, *self._own)}
        node = self.node
        destroyers = (
            ("publisher", node.publishers, node.destroy_publisher),
            ("subscription", node.subscriptions, node.destroy_subscription),
            ("client", node.clients, node.destroy_client),
            ("service", node.services, node.destroy_service),
            ("timer", node.timers, node.destroy_timer),
        )
        dropped = []
        for kind, entities, destroy in destroyers:
            for entity in [entity for entity in entities if id(entity) not in keep]:
                name = getattr(entity, "topic_name", None) or getattr(entity, "srv_name", "")
                dropped.append(f"{kind} {name}".rstrip())
                if self._static_tf is not None and entity is self._static_tf.pub_tf:
                    self._static_tf = None  # made again on next use (forget_static_tf: what waits out its linger)
                if entity in self._subscriptions:
                    self._subscriptions.remove(entity)
                destroy(entity)
        return dropped

    def send_static_tf(self, cam_from_lidar: RigidTransform, stamp_ns: int) -> None:
        self.static_tf.sendTransform(transform_msg(cam_from_lidar, stamp_ns))

    @property
    def static_tf(self) -> StaticTransformBroadcaster:
        """The probe's /tf_static broadcaster, made when a test first uses it (:meth:`forget_static_tf` ends it)."""
        if self._static_tf is None:
            self._static_tf = StaticTransformBroadcaster(self.node)
        return self._static_tf

    def forget_static_tf(self) -> None:
        """The /tf_static publisher of this test's static transforms destroyed (if it sent any): its last message,
        latched (transient local, depth 1), reached every node started after, in any later test, which then ran with
        another test's transform: the tests depended on their order. The nodes that received it keep it (tf2 keeps
        static transforms). Cyclone DDS lets a deleted writer linger while readers of it have not acknowledged its
        data (a node killed in the test), up to its WriterLingerDuration (1 s): a subscriber made at once still got
        the transform (seen in the tier), hence the wait. An empty message latched instead reached every later
        /tf_static subscriber (test_ros2_interop's, which counts what ``ros2 bag play`` sends)."""
        if self._static_tf is None:
            return
        self.node.destroy_publisher(self._static_tf.pub_tf)
        self._static_tf = None
        time.sleep(STATIC_TF_LINGER_S)

    def lifecycle(self, node: str, transition: str = "", timeout_s: float = 60.0) -> str:
        """The lifecycle state label of ``node`` after ``transition`` (``configure``, ``activate``, ... or none),
        through its ``get_state`` / ``change_state`` services (what ``ros2 lifecycle`` and Nav2's manager call)."""
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState, GetState

        def call(service_type: Any, name: str, request: Any) -> Any:
            group = MutuallyExclusiveCallbackGroup()
            client = self.node.create_client(service_type, f"{node}/{name}", callback_group=group)
            try:
                if not client.wait_for_service(timeout_sec=timeout_s):
                    raise AssertionError(f"no service {node}/{name} after {timeout_s} s")
                future = client.call_async(request)
                wait_until(future.done, timeout_s, f"{node}/{name}")
                return future.result()
            finally:
                self.node.destroy_client(client)

        if transition:
            request = ChangeState.Request()  # by id, as Nav2's lifecycle manager asks (ros2 lifecycle: by label)
            request.transition.id = getattr(Transition, f"TRANSITION_{transition.upper()}")
            if not call(ChangeState, "change_state", request).success:
                raise AssertionError(f"{node}: transition {transition} failed")
        return str(call(GetState, "get_state", GetState.Request()).current_state.label)

    def close(self) -> None:
        self._closing.set()
        self._executor.shutdown(timeout_sec=2.0)
        self._thread.join(2.0)
        self.node.destroy_node()


def start_probe(name: str) -> Probe:
    """rclpy initialised and a :class:`Probe` spinning, for a script outside the tier (``bench/bench_node.py``, which
    stays free of ROS imports: the ROS side of a measurement lives here)."""
    rclpy.init()
    return Probe(name)


def stop_probe(probe: Probe) -> None:
    """Close ``probe`` and shut rclpy down (the end of :func:`start_probe`)."""
    probe.close()
    rclpy.try_shutdown()


def transform_msg(dst_from_src: RigidTransform, stamp_ns: int) -> TransformStamped:
    """geometry_msgs/TransformStamped: ``header.frame_id`` = destination, ``child_frame_id`` = source."""
    msg = TransformStamped()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(int(stamp_ns), NS_PER_S)
    msg.header.frame_id = dst_from_src.dst_frame
    msg.child_frame_id = dst_from_src.src_frame
    t = dst_from_src.translation
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = (float(v) for v in t)
    x, y, z, w = (float(v) for v in dst_from_src.quaternion_xyzw)
    msg.transform.rotation.x, msg.transform.rotation.y = x, y
    msg.transform.rotation.z, msg.transform.rotation.w = z, w
    return msg


class KittiFeeder:
    """Publishes real KITTI frames as a camera driver and a LiDAR driver would: image, camera_info, then the scan."""

    def __init__(
        self,
        probe: Probe,
        frames: Sequence[KittiFrame],
        *,
        image_topic: str = "/camera/image_raw",
        info_topic: str = "/camera/camera_info",
        lidar_topic: str = "/lidar/points",
        qos: QoSProfile = BEST_EFFORT,
        compressed: bool = False,
    ) -> None:
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

        self.probe = probe
        self.frames = list(frames)
        self.compressed = compressed
        self.image_topic = image_topic + "/compressed" if compressed else image_topic
        self.pub_image = probe.publisher(CompressedImage if compressed else Image, self.image_topic, qos)
        self.pub_info = probe.publisher(CameraInfo, info_topic, qos)
        self.pub_lidar = probe.publisher(PointCloud2, lidar_topic, qos)

    def wait_connected(self, timeout_s: float = 30.0, lidar: bool = True) -> None:
        """Wait until the node under test subscribes to the image, camera_info (and LiDAR) topics and a frame (a scan)
        sent once reaches it (:meth:`Probe.wait_matched`)."""
        pubs = [self.pub_image, self.pub_info] + ([self.pub_lidar] if lidar else [])
        self.probe.wait_matched(*pubs, timeout_s=timeout_s)

    def image_msgs(self, index: int, stamp_ns: int) -> tuple[Any, Any]:
        frame = self.frames[index % len(self.frames)]
        factory = self.probe.factory
        header = ros_msgs.make_header(factory, stamp_ns, CAMERA_FRAME)
        if self.compressed:
            image = ros_msgs.compressed_image_from_array(factory, frame.rgb, header, codec="jpeg")
        else:
            image = ros_msgs.image_from_array(factory, frame.rgb, "rgb8", header)
        return image, kitti_camera_info(factory, frame, stamp_ns)

    def scan_msg(self, index: int, stamp_ns: int) -> Any:
        frame = self.frames[index % len(self.frames)]
        return velodyne_cloud(self.probe.factory, frame.scan, stamp_ns, LIDAR_FRAME)

    def publish_image(self, index: int, stamp_ns: int) -> None:
        image, info = self.image_msgs(index, stamp_ns)
        self.pub_info.publish(info)
        self.pub_image.publish(image)

    def publish_images(self, count: int, period_s: float) -> list[int]:
        """Image + camera_info ``count`` times, ``period_s`` apart, stamped "now"; returns the stamps (ns)."""
        stamps = []
        for index in range(count):
            stamps.append(self.probe.now_ns())
            self.publish_image(index, stamps[-1])
            time.sleep(period_s)
        return stamps

    def publish_scan(self, index: int, stamp_ns: int) -> None:
        self.pub_lidar.publish(self.scan_msg(index, stamp_ns))


def feed_images(
    probe: Probe, frames: Sequence[KittiFrame], count: int, period_s: float, qos: QoSProfile = BEST_EFFORT
) -> list[int]:
    """:meth:`KittiFeeder.publish_images` (``count`` images + camera_infos, ``period_s`` apart) once the node's image
    and camera_info subscriptions are matched (:meth:`KittiFeeder.wait_connected`); returns the stamps (ns)."""
    feeder = KittiFeeder(probe, frames, qos=qos)
    feeder.wait_connected(lidar=False)
    return feeder.publish_images(count, period_s=period_s)


class FrameStream:
    """A camera streaming: :meth:`KittiFeeder.publish_image` every ``1 / rate_hz`` s from a thread, stamped "now",
    until :meth:`stop`; ``reshape`` (settable while it runs) rewrites each (image, camera_info) pair before sending."""

    def __init__(self, feeder: KittiFeeder, rate_hz: float = 10.0) -> None:
        self.feeder, self.period_s, self.sent = feeder, 1.0 / rate_hz, 0
        self.reshape: Callable[[Any, Any], tuple[Any, Any]] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            image, info = self.feeder.image_msgs(self.sent, self.feeder.probe.now_ns())
            if self.reshape is not None:
                image, info = self.reshape(image, info)
            self.feeder.pub_info.publish(info)
            self.feeder.pub_image.publish(image)
            self.sent += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)


def depth_array(msg: Any) -> np.ndarray:
    """(H, W) float32 metres of a 32FC1 depth image (row padding removed)."""
    assert msg.encoding == "32FC1", msg.encoding
    rows = np.frombuffer(bytes(msg.data), dtype="<f4").reshape(msg.height, msg.step // 4)
    return rows[:, : msg.width]


def diagnostic_values(array_msg: Any, name_suffix: str = ": depth") -> dict[str, str] | None:
    """Key/values of the node's status in a DiagnosticArray, None when it is not in there."""
    for status in array_msg.status:
        if status.name.endswith(name_suffix):
            values = {kv.key: kv.value for kv in status.values}
            values["_level"] = str(
                int.from_bytes(status.level, "little") if isinstance(status.level, bytes) else status.level
            )
            values["_message"] = status.message
            return values
    return None


def node_statuses(array_msgs: Iterable[Any], name_suffix: str = ": depth") -> list[dict[str, str]]:
    """:func:`diagnostic_values` of each DiagnosticArray that holds the node's status, in order."""
    return [v for v in (diagnostic_values(m, name_suffix) for m in array_msgs) if v is not None]


def status_since(
    collector: Collector, since_ns: int, timeout_s: float = 10.0, name_suffix: str = ": depth"
) -> dict[str, str]:
    """The node's first status in ``collector`` (of /diagnostics) stamped at ``since_ns`` or later (ROS time, ns:
    :meth:`Probe.now_ns` once the test saw what the status must count; both the system clock: not for a node with
    ``use_sim_time``). The node stamps a status as it publishes it, so one stamped then counts what the node counted
    before: a bad message it took. Not a frame whose depth arrived: the node publishes a frame's outputs before it
    counts it published and keeps its scale, temporal state and bit counts (``_publish``), so a status stamped after
    the depth arrived can still read the frame received and not published: :func:`settled_status` waits for every
    image to be accounted for. The last status received can be a period older (several on a loaded machine, whose
    timer runs late) and not count it yet: a fixed sleep before reading the last one was no bound."""

    def found() -> dict[str, str] | None:
        for msg in collector.messages:
            if ros_msgs.stamp_to_ns(msg.header.stamp) >= since_ns:
                values = diagnostic_values(msg, name_suffix)
                if values is not None:
                    return values
        return None

    what = f"a /diagnostics status stamped at {since_ns / 1e9:.3f} s or later"
    wait_until(lambda: found() is not None, timeout_s, what)
    result = found()
    assert result is not None
    return result


def settled_status(collector: Collector, since_ns: int, timeout_s: float = 30.0) -> dict[str, str]:
    """The node's first status in ``collector`` stamped at ``since_ns`` or later (:func:`status_since`) in which every
    image it received is accounted for (:func:`accounted`): once the input stopped, the worker may still run the last
    frame (received, not yet published) for longer than a fixed sleep on a loaded machine. When none is within
    ``timeout_s``, the latest stamped then: the test's own assertion on it shows what the node counted."""

    def stamped() -> list[dict[str, str]]:
        late = [msg for msg in collector.messages if ros_msgs.stamp_to_ns(msg.header.stamp) >= since_ns]
        return node_statuses(late)

    with contextlib.suppress(AssertionError):
        wait_until(lambda: any(accounted(v) for v in stamped()), timeout_s, "an accounted /diagnostics status")
    settled = [v for v in stamped() if accounted(v)]
    if settled:
        return settled[0]
    late = stamped()
    return late[-1] if late else status_since(collector, since_ns, 1.0)


_STARTED: list[tuple[subprocess.Popen[Any], str]] = []
_Process = TypeVar("_Process", bound="subprocess.Popen[Any]")


def started(process: _Process, command: Sequence[str]) -> _Process:
    """Note ``process`` (the leader of a process group of its own) for :func:`reap_since`; returns it."""
    _STARTED.append((process, " ".join(command)))
    return process


def started_count() -> int:
    """How many process groups :func:`started` has noted (the index to give :func:`reap_since` later)."""
    return len(_STARTED)


def group_members(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` that are not zombies (from /proc: orphans of a launch included)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]  # after "(comm)": state, ppid, pgrp
        if int(pgrp) == pgid and state != "Z":
            members.append(int(entry))
    return members


def reap_since(index: int, grace_s: float = 5.0, timeout_s: float = 10.0) -> list[str]:
    """Stop each process group noted since ``index`` (:func:`started_count`) that still has a process: SIGINT (what
    the tests send), SIGKILL after ``grace_s``, then wait up to ``timeout_s`` until it is gone; returns their commands
    (empty: nothing was left running). A node left running (hung, SIGSTOPped, or never stopped by a test that failed)
    stays in the domain and answers for the next test's node. AssertionError when a group outlives SIGKILL."""

    def alive(process: subprocess.Popen[Any]) -> bool:
        """Whether group ``process.pid`` still has a process of the tier's. Once its leader has been reaped the number
        is free when the group empties, and PIDs wrap (pid_max 32768): a process whose PID is the group's number then
        leads another session's group (another tier's ``ros2 launch``), never this one's (a group keeps its number
        reserved while it has a member, and a new group always starts with a leader of that PID)."""
        reaped = process.poll() is not None  # reaps the leader when it has ended
        members = group_members(process.pid)
        if reaped and process.pid in members:
            return False
        # an unreaped leader is the tier's and not gone yet: a multi-threaded one (rclpy, DDS) shows Z in /proc as
        # soon as its main thread has exited, and can be waited for only once all its threads have
        return bool(members) or process.poll() is None

    left = [(process, command) for process, command in _STARTED[index:] if alive(process)]
    for signum, wait_s in ((signal.SIGINT, grace_s), (signal.SIGKILL, timeout_s)):
        for process, _ in left:
            if alive(process):  # a group that ended since has a free number: never signal it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signum)
        deadline = time.monotonic() + wait_s
        while any(alive(process) for process, _ in left) and time.monotonic() < deadline:
            time.sleep(0.05)
    for process, command in left:
        if alive(process):
            raise AssertionError(f"{command}: process group {process.pid} alive {timeout_s} s after SIGKILL")
    del _STARTED[index:]
    return [command for _, command in left]


def graph_nodes(probe: Probe) -> set[str]:
    """The fully qualified names of the nodes in the probe's graph (the ``ros2`` CLI's own left out)."""
    names = probe.node.get_node_names_and_namespaces()
    return {f"{ns.rstrip('/')}/{name}" for name, ns in names if not name.startswith("_ros2cli")}


def wait_until_gone_from_graph(probe: Probe, known: set[str], timeout_s: float = 15.0) -> set[str]:
    """Wait up to ``timeout_s`` until the graph holds no node but ``known`` (a node killed without leaving the graph
    stays in it until its DDS lease runs out); returns the nodes still there."""
    deadline = time.monotonic() + timeout_s
    while (extra := graph_nodes(probe) - known) and time.monotonic() < deadline:
        time.sleep(0.1)
    return extra


def module_leftovers(probe: Probe | None, known: set[str] | None, graph_timeout_s: float = 15.0) -> list[str]:
    """The module teardown's graph check (conftest's ``contained_module``, once the module's process groups are
    reaped): the nodes not in ``known`` (the graph when the module began; None: the probe was not made yet, only it
    is known), the garbage collected first, waited for up to ``graph_timeout_s``; returns the problems to report
    (empty: none). Each test's teardown checks the graph, but a module-scoped fixture's node (a node shared by the
    module's tests) outlives them: one left in the graph answered for the next module's node unreported."""
    if probe is None:
        return []
    known = known if known is not None else {probe.node.get_fully_qualified_name()}
    if graph_nodes(probe) - known:
        gc.collect()  # a node of this process held by a reference cycle only
    stayed = wait_until_gone_from_graph(probe, known, graph_timeout_s)
    if not stayed:
        return []
    return [
        f"still in the graph {graph_timeout_s:g} s after the module: {', '.join(sorted(stayed))} (a module-scoped "
        "fixture's node or process not stopped at its end: stop it in the fixture's teardown)"
    ]


def contain_teardown(
    index: int,
    probe: Probe | None,
    known: set[str],
    passed: bool,
    graph_timeout_s: float = 15.0,
    held: Iterable[Any] | None = None,
) -> list[str]:
    """The per-test teardown (conftest's ``contained``): destroys the probe's publishers, collectors, clients,
    services and timers not in ``held`` (what :meth:`Probe.held` said before the test, a module-scoped fixture's
    among them; None: none destroyed) once its static transform is forgotten, stops the process groups noted since
    ``index`` (:func:`reap_since`), collects the garbage where the graph holds a node not in ``known`` (the graph
    before the test), then waits the graph clear of those nodes (:func:`wait_until_gone_from_graph`, up to
    ``graph_timeout_s``), whether or not a group was left; returns the problems to report (empty: none): a test that
    ``passed`` but left groups running; nodes still in the graph after the wait (they answer for the next test's
    node: a process outside the groups noted, such as a launch's double-forked child or a component container, a
    node the test process still holds, or a DDS lease longer than the wait)."""
    if probe is not None:
        probe.forget_static_tf()  # this test's latched static transform is not the next test's
    if probe is not None and held is not None:
        probe.drop_since(held)
    left = reap_since(index)
    if probe is not None and graph_nodes(probe) - known:
        gc.collect()  # a node of this process held by a reference cycle only (its constructor raised) goes
    problems = [f"the test passed but left running (stopped now): {'; '.join(left)}"] if left and passed else []
    stayed = wait_until_gone_from_graph(probe, known, graph_timeout_s) if probe is not None else set()
    if stayed:
        after = "what the test left running was stopped" if left else "the test"
        problems.append(
            f"still in the graph {graph_timeout_s:g} s after {after}: {', '.join(sorted(stayed))} "
            "(a process not started through harness.started() or not stopped by its group's signal, or a node of "
            "the test process still held: destroy_node() it, a LifecycleNode's state machine with it)"
        )
    return problems


class Launched:
    """``ros2 launch mono_depth_ros depth.launch.py ARGS`` in its own process group; log in ``log_path``
    (``launch_file``: one of the package, or the path of a user's launch file)."""

    def __init__(self, args: dict[str, str], log_path: Path, launch_file: str = "depth.launch.py") -> None:
        self.args = dict(args)
        self.log_path = log_path
        where = [launch_file] if Path(launch_file).is_absolute() else [PACKAGE, launch_file]
        command = ["ros2", "launch", *where, *(f"{k}:={v}" for k, v in self.args.items())]
        self.command = command
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.process = started(
            subprocess.Popen(
                command, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy()
            ),
            command,
        )

    @property
    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def said(self, text: str | re.Pattern[str], timeout_s: float = 10.0) -> str:
        """Wait until ``text`` (or a match of the pattern) is in the log; returns the first line that has it. The
        node's line reaches the file through launch's pipe some time after the graph, a topic, a service's answer or
        /diagnostics shows what the line is about (a subscription matched, a message published, a transition refused,
        a message counted), so a test that saw the effect waits for the line instead of reading the log at once."""

        def found(line: str) -> bool:
            return text in line if isinstance(text, str) else text.search(line) is not None

        shown = text if isinstance(text, str) else text.pattern
        try:
            wait_until(lambda: any(map(found, self.log.splitlines())), timeout_s, f"{shown!r} in the launch log")
        except AssertionError as err:
            raise AssertionError(f"{err}\nlaunch log:\n{self.log[-3000:]}") from None
        return next(line for line in self.log.splitlines() if found(line))

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(
        self, probe: Probe, topic: str = "/camera/image_raw", output: str = "/depth/image", timeout_s: float = 90.0
    ) -> float:
        """Wait until the node subscribes ``topic`` and publishes ``output``; returns the seconds since launch."""

        def ready() -> bool:
            if not self.alive():
                raise AssertionError(f"ros2 launch exited with {self.process.returncode}:\n{self.log[-4000:]}")
            return probe.node.count_subscribers(topic) > 0 and probe.node.count_publishers(output) > 0

        try:
            wait_until(ready, timeout_s, f"{NODE_FQN} to subscribe {topic}", poll_s=0.1)
        except AssertionError as err:
            raise AssertionError(f"{err}\nlaunch log:\n{self.log[-4000:]}") from None
        return time.monotonic() - self.started

    def stop(self, sig: int = signal.SIGINT, timeout_s: float = 30.0) -> int:
        """Send ``sig`` to the whole process group (what Ctrl-C in a terminal does); returns launch's exit code."""
        try:
            if self.alive():
                os.killpg(self.process.pid, sig)
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            raise AssertionError(f"{' '.join(self.command)} still running {timeout_s} s after {sig!r}") from None
        finally:
            self._log.close()


@contextlib.contextmanager
def ros2_run(package: str, executable: str, log_path: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``ros2 run PACKAGE EXECUTABLE ARGS`` in its own process group, stopped with SIGINT."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    command = ["ros2", "run", package, executable, *args]
    process = started(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True), command)
    try:
        yield process
    finally:
        try:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGINT)
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
            raise AssertionError(f"{' '.join(command)} still running 20 s after SIGINT") from None
        finally:
            log.close()


def ros2_cli(*args: str, timeout_s: float = 60.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a ``ros2`` verb (``--no-daemon`` where it applies is up to the caller); returns the completed process."""
    result = subprocess.run(["ros2", *args], capture_output=True, text=True, timeout=timeout_s, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"ros2 {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def param_value(node: str, name: str) -> str:
    """The value part of ``ros2 param get NODE NAME`` ("String value is: x" → "x")."""
    out = ros2_cli("param", "get", node, name).stdout
    assert " value is:" in out, out
    return out.split(" value is:", 1)[1].strip()


def write_params(path: Path, params: dict[str, Any], node_key: str = "/**") -> Path:
    """A ROS params YAML with dotted names (``{"output.max_range": 50.0}``) under ``node_key``."""
    import yaml

    path.write_text(yaml.safe_dump({node_key: {"ros__parameters": params}}, sort_keys=True))
    return path


@contextlib.contextmanager
def running(launched: Launched, probe: Probe | None = None, *collectors: Collector) -> Iterator[Launched]:
    """``launched`` under a test's actions: at the end, also after a failure, it is stopped (SIGINT to its launch) and
    its exit code must be 0 (the log's tail in the message); then ``probe`` drops ``collectors``."""
    try:
        yield launched
    finally:
        code = launched.stop()
        assert code == 0, launched.log[-3000:]
        for collector in collectors:
            assert probe is not None
            probe.drop(collector)


@dataclass
class Operated:
    """What a test starts on a launched node: collectors (dropped at the end) and the camera stream (stopped)."""

    probe: Probe
    collectors: list[Collector] = field(default_factory=list)
    stream: FrameStream | None = None

    def collect(self, msg_type: Any, topic: str) -> Collector:
        collector = self.probe.collect(msg_type, topic, RELIABLE)
        self.collectors.append(collector)
        return collector

    def start_stream(self, kitti_frames: list[KittiFrame], reliable: bool = False) -> FrameStream:
        """A camera streaming the KITTI frames at 10 Hz (:class:`FrameStream`), best effort as drivers publish; or
        ``reliable`` (for a node with ``input_qos: reliable``), from when the node's image and camera_info
        subscriptions are matched (a writer does not send again what it sent before a reader matched)."""
        feeder = KittiFeeder(self.probe, kitti_frames, qos=RELIABLE if reliable else BEST_EFFORT)
        if reliable:
            feeder.wait_connected(lidar=False)
        self.stream = FrameStream(feeder)
        return self.stream


@contextlib.contextmanager
def operating(probe: Probe, launched: Launched) -> Iterator[Operated]:
    """The launched node under a test's actions. At the end, also after a failure, the camera stream stops, the node
    is stopped (SIGINT to its launch) and the collectors are dropped; after success launch's exit code must be 0 and
    the node's log free of tracebacks."""
    operated = Operated(probe)
    try:
        yield operated
    finally:
        if operated.stream is not None:
            operated.stream.stop()
        code = launched.stop()
        for collector in operated.collectors:
            probe.drop(collector)
    assert code == 0 and "Traceback" not in launched.log, launched.log[-3000:]


def accounted(status: dict[str, str]) -> bool:
    """Every image received is published, dropped (stale or at a stop), a counted bad message (an image counted
    ``no_camera_info`` too: counted received as it arrived, by the SyncWatch or ``_on_image``) or a worker error;
    the scans, camera_infos and predictions not used (``inputs_unused``) are no image and no part of the sum."""
    outcomes = ("frames_published", "frames_dropped_stale", "bad_messages", "worker_errors")
    return int(status["frames_received"]) == sum(int(status[key]) for key in outcomes)
