"""The node's LiDAR input, from ``lidar_topic`` to the :class:`~mono_depth_ros.core.scale.lidar.LidarScan` of a frame.

Executor side: the subscription (:class:`~.lidar_subscription.LidarSubscription`: PointCloud2 or LaserScan), each
scan stamped by the middle of its sweep (:func:`~.messages.sweep_middle_offset_ns`: any driver), frames held for the
scans that arrive after them (:class:`~.lidar.ScanPairing`, with :func:`~.lidar.tf_ready` and the
:class:`~.lidar.UnpairedLog`), and the timer that polls the pairing while it holds frames
(:class:`~.lidar.PairingPoll`).
Worker side: :meth:`LidarFeed.scan_input` decodes the chosen scan and places it for the image through tf2 (timeout
zero: never wait), a scan it cannot use counted and the frame going on without it. The bag runner pairs and places
its scans with the same rules (:mod:`mono_depth_ros.bag.pairing`, ``BagIndex.lidar_scan``).

ROS-free: :mod:`mono_depth_ros.node` passes itself (``create_subscription``, ``create_timer``,
``get_publishers_info_by_topic``, ``get_logger``), its ``tf2_ros.Buffer``, tf2's ``TransformException`` and a zero
``rclpy.duration.Duration``; tests pass stand-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from mono_depth_ros.adapters import messages
from mono_depth_ros.adapters.cdr_input import CdrDecoder
from mono_depth_ros.adapters.lidar import Paired, PairingPoll, ScanPairing, UnpairedLog, lidar_scan_from_tf, tf_ready
from mono_depth_ros.adapters.lidar_subscription import LidarSubscription, RosNode
from mono_depth_ros.adapters.stats import seconds_to_ns
from mono_depth_ros.core.errors import DepthError
from mono_depth_ros.core.msg_factory import MessageFactory, stamp_to_ns
from mono_depth_ros.core.scale.lidar import LidarScan
from mono_depth_ros.depth_config import DepthConfig

T = TypeVar("T")
PAIRING_POLL_S = 0.02  # how often frames waiting for their LiDAR scan are checked for the wait_s timeout


class LidarFeed(Generic[T]):
    """Subscribes ``lidar_topic`` and hands each frame (``T``: the node's input set) on with its scan.

    Args:
        node: the node (rclpy's, or a stand-in in tests): the subscription, the pairing's poll timer, the logger
            (a frame without a scan although scans are at hand: :class:`~.lidar.UnpairedLog`).
        config: the configuration in force (``lidar_topic``, ``lidar.*``); only ``lidar.wait_s`` changes at run time
            (:meth:`set_wait_s`).
        qos: the subscription's QoS.
        tf2: ``(tf_buffer, factory, errors)``: the ``tf2_ros.Buffer``, the node's message classes and tf2's
            exceptions (``(TransformException,)``), as :func:`~.ground_tf.tf2_frame_poses` takes them.
        image_header: the image header of a frame (its stamp and frame_id: the TF the pairing waits for).
        release: takes the frames the pairing lets go, in arrival order, each with its scan or None (together: none
            replaces another in the worker's slot).
        unused: ``(reason, text)``: a scan that cannot be used (``lidar.*``: counted and warned by the node).
        clock_ns: the pairing's waits (int ns; the node's :class:`~.ros_clock.PlayedClock`: played time).
        steady: the clock of the timers (a steady one: they run without ``/clock``).
        decoder: ``(type_name, topic) -> CdrDecoder``: subscribe raw (CDR bytes); None: rclpy's messages.
        shown: ``lidar_topic`` as the log names it (resolved, remapped).
        timeout: tf2's lookup timeout (an ``rclpy.duration.Duration``; zero: the worker never waits for TF).
    """

    def __init__(
        self,
        node: RosNode,
        config: DepthConfig,
        qos: Any,
        tf2: tuple[Any, MessageFactory, tuple[type[BaseException], ...]],
        image_header: Callable[[T], Any],
        *,
        release: Callable[[list[Paired[T]]], None],
        unused: Callable[[str, str], None],
        clock_ns: Callable[[], int],
        steady: Any = None,
        decoder: Callable[[str, str], CdrDecoder] | None = None,
        shown: str = "",
        timeout: Any = None,
    ) -> None:
        self._tf_buffer, self._factory, self._tf_errors = tf2
        self._release, self._unused, self._timeout = release, unused, timeout
        self._motion_frame = config.lidar.motion_frame
        unpaired = UnpairedLog(node.get_logger().warning, shown or config.topics.lidar, config.lidar.max_age_s)
        self.pairing: ScanPairing[T] = ScanPairing(
            max_age_ns=seconds_to_ns(config.lidar.max_age_s),  # the bag runner's ns
            wait_ns=seconds_to_ns(config.lidar.wait_s),
            ready=tf_ready(self._tf_buffer, self._motion_frame, image_header),
            on_unpaired=unpaired,
            on_late=unused,  # a scan after lidar.wait_s, a frame let go: counted, the wait to set
            clock_ns=clock_ns,
        )
        self.subscription = LidarSubscription(node, config, self.add_scan, qos, self._factory, steady, decoder)
        timer = node.create_timer(PAIRING_POLL_S, self.poll, clock=steady)
        self._poll = PairingPoll(timer, self.pairing)  # runs while frames wait for their scan

    @property
    def scans_seen(self) -> int:
        """Scans received so far (the input watch: is the LiDAR silent?)."""
        return self.pairing.scans_seen

    def add_scan(self, msg: Any) -> None:
        """The subscription's callback: the scan, paired by its sweep's middle (any driver)."""
        offset_ns = messages.sweep_middle_offset_ns(msg, self.subscription.type_name)
        self._released(self.pairing.add_scan(stamp_to_ns(msg.header.stamp) + offset_ns, msg))

    def add_frame(self, stamp_ns: int, item: T) -> None:
        """A frame (its image stamped ``stamp_ns``), held until its scan (which real sensors deliver after the image)
        is in, or ``lidar.wait_s``."""
        self._released(self.pairing.add_frame(stamp_ns, item))

    def poll(self) -> None:
        """The timer's callback: the frames whose wait ran out."""
        self._released(self.pairing.poll())

    def set_wait_s(self, wait_s: float) -> None:
        """``lidar.wait_s`` set at run time: for the frames held now and the next."""
        self.pairing.wait_ns = seconds_to_ns(wait_s)

    def drain(self) -> int:
        """Forget the frames held now (the subscriptions are going); returns how many."""
        return self.pairing.drain()

    def take(self) -> list[Any]:
        """The subscriptions made after the node's activation (``auto``), handed over once."""
        return self.subscription.take()

    def scan_input(self, stamp_ns: int, camera_frame: str, chosen: tuple[int, Any] | None) -> LidarScan | None:
        """Worker side: the scan ``chosen`` for the image stamped ``stamp_ns`` (int ns) in ``camera_frame``
        (``(paired_ns, message)``: stamped by its sweep's middle, as paired; None: no scan), decoded (per-point or
        per-beam times) and placed in the camera frame through tf2 (de-skewed with ``lidar.motion_frame``). None
        when it has no valid point, or tf2 or the decoder refuses it: counted as ``lidar.empty_scan``,
        ``lidar.TransformException`` (the class of ``tf2``'s errors caught) or ``lidar.<DepthError subclass>`` (the
        frame's scale falls back)."""
        if chosen is None:
            return None
        paired_ns, cloud = chosen  # paired by its sweep's middle (add_scan): not computed again
        try:
            scan = messages.decode_scan(cloud, self.subscription.type_name, paired_ns=paired_ns)
            if scan.points_in_lidar.shape[0] == 0:
                self._unused("lidar.empty_scan", f"scan on {cloud.header.frame_id!r} has no valid points")
                return None
            return lidar_scan_from_tf(  # a missing TF costs this frame's scale
                self._tf_buffer, self._factory, camera_frame, stamp_ns, scan, self._motion_frame, self._timeout
            )
        except self._tf_errors as err:  # named by the class caught (tf2's TransformException), not its subclass
            caught = next(error for error in self._tf_errors if isinstance(err, error))
            self._unused(f"lidar.{caught.__name__}", str(err))
        except DepthError as err:
            self._unused(f"lidar.{type(err).__name__}", str(err))
        return None

    def _released(self, paired: list[Paired[T]]) -> None:
        self._release(self._poll.after(paired))
