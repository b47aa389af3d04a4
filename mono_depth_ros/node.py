"""``mono_depth_node``: the rclpy shell around :class:`~mono_depth_ros.pipeline.DepthPipeline` (ROS 2 Humble and Jazzy).

The only module that imports rclpy, message_filters, tf2_ros or message packages: it wires topics, parameters, timers
and TF to the ROS-free :mod:`mono_depth_ros.adapters`, :mod:`mono_depth_ros.core.ros_msgs` and pipeline. Executor
callbacks only cache or enqueue; a worker thread decodes, looks up TF (timeout zero) and runs the pipeline, a second
one publishes (:class:`~.adapters.worker.TwoStageWorker`). A ``DepthError`` for one frame is logged (throttled),
counted per reason and the frame skipped; any other worker exception is a bug, logged with its traceback and
counted, and the node carries on. Topics, parameters, QoS, threading, errors: ``docs/ros2_node.md``.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from importlib import import_module
from typing import Any

import message_filters
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.clock import Clock, ClockType, JumpThreshold
from rclpy.duration import Duration
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, State, TransitionCallbackReturn
from rclpy.logging import get_logger
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan, PointCloud2
from tf2_ros import Buffer, TransformException, TransformListener

from mono_depth_ros.adapters import ground_tf, lifecycle_wait, messages
from mono_depth_ros.adapters.camera_cache import CameraModelCache, LatestCameraInfo, warn_about_calibration
from mono_depth_ros.adapters.cdr_input import RawInputs
from mono_depth_ros.adapters.diagnostics import (
    LastFrame,
    config_key_values,
    diagnostic_report,
    diagnostics_message,
    status_name,
)
from mono_depth_ros.adapters.input_watch import InputWatch, LatchedInfo, PeerFrames, node_inputs
from mono_depth_ros.adapters.lidar import Paired
from mono_depth_ros.adapters.lidar_feed import LidarFeed
from mono_depth_ros.adapters.lidar_subscription import taken
from mono_depth_ros.adapters.log_throttle import ReasonThrottle
from mono_depth_ros.adapters.model import build_pipeline
from mono_depth_ros.adapters.node_start import destroyed_on_failure
from mono_depth_ros.adapters.package_log import PackageLogBridge
from mono_depth_ros.adapters.parameter_sources import doubles_for_ints, init_failure_text, logger_name, warn_ignored
from mono_depth_ros.adapters.parameters import apply_changes, declare_failure, descriptor_fields, typed_as_declared
from mono_depth_ros.adapters.ros_clock import POLL_S, ClockSteps, ClockWentBack, PlayedClock, PlayedPeriod, in_turn
from mono_depth_ros.adapters.scan_frame import ScanFrameCheck
from mono_depth_ros.adapters.signals import StopSignals, context_released, exit_now, shut_down, spin_until_stopped
from mono_depth_ros.adapters.stats import RuntimeStats, diagnostics_window_s, drained, unused_warning
from mono_depth_ros.adapters.sync_watch import SYNC_POLL_S, MissingImages, SyncWatch, synchroniser_slop_s
from mono_depth_ros.adapters.tf_time_jump import ClearedOnJumpBack
from mono_depth_ros.adapters.topic_names import shown_topic, startup_text, subscribed_image_topic
from mono_depth_ros.adapters.worker import LatestSlot, TwoStageWorker, refused_while_busy, stopped
from mono_depth_ros.config import NODE_NAME, PARAMS
from mono_depth_ros.core import ros_msgs
from mono_depth_ros.core.errors import ConfigError, DepthError, ModelOutputError
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.pipeline import DepthPipeline, FrameInput, FrameOutput

OUTPUT_TOPICS = {
    "depth": "depth/image",
    "info": "depth/camera_info",
    "points": "depth/points",
    "clearing": "depth/points_clearing",
    "scan": "depth/scan",
}
DIAGNOSTICS_TOPIC = "/diagnostics"
STEADY_CLOCK = Clock(clock_type=ClockType.STEADY_TIME)  # of the timers polling monotonic waits: no /clock needed
PipelineFactory = Callable[[DepthConfig, Any], DepthPipeline]


def message_factory() -> ros_msgs.MessageFactory:
    """A MessageFactory over rclpy's generated classes (``array.array`` sequences)."""
    paths = {type_name: ros_msgs.ros_python_class_path(type_name) for type_name in messages.FACTORY_TYPES}
    classes = {type_name: getattr(import_module(module), name) for type_name, (module, name) in paths.items()}
    return ros_msgs.MessageFactory(classes, sequence_style="array.array")


def qos_for(choice: str) -> Any:
    """``sensor_data`` → best effort, keep last 5; ``reliable`` → reliable, keep last 10 (rclpy's default)."""
    return qos_profile_sensor_data if choice == "sensor_data" else QoSProfile(depth=10)


@dataclass(frozen=True)
class _Frame:
    """One synchronised input set, as received (decoded in the worker)."""

    image: Any
    info: Any
    prediction: Any
    scan: tuple[int, Any] | None = None  # (stamp ns, PointCloud2 / LaserScan) chosen by adapters.lidar_feed.LidarFeed


@dataclass(frozen=True)
class _Computed:
    """One frame's outputs, from the worker's compute thread to its publish thread, with the configuration the
    pipeline made them with: the publish stage's checks read it, not the node's config in force, which a run-time
    parameter change may have replaced while the frame waited (``scan.frame_id``)."""

    output: FrameOutput
    config: DepthConfig


class MonoDepthNode(Node):  # type: ignore[misc]  # rclpy is untyped
    """Image (+ camera_info, LiDAR, external prediction) in → depth image, camera_info, cloud, diagnostics out.

    Args:
        make_pipeline: builds the pipeline from the resolved parameters and the node's logger
            (default :func:`adapters.model.build_pipeline`; tests pass a stand-in).
        **node_kwargs: passed to ``rclpy.node.Node`` (``parameter_overrides``, ``namespace``, ...).

    Raises:
        ConfigError, CheckpointError: bad parameters, missing weights (start-up only).
    """

    _autostart = True  # False in MonoDepthLifecycleNode: configure and activate on request
    load_guard: Callable[[], Any] = nullcontext  # main's StopSignals.interrupting: a signal ends the model load
    _worker: TwoStageWorker[_Frame, _Computed] | None = None  # set in _activate (destroy_node: none before)
    worker_join_s = 5.0  # how long a stop waits for a frame in flight (seconds)
    process_ending = False  # set by main as the process ends: a stop joins a frame EXIT_JOIN_S, gives no remedy

    def __init__(self, make_pipeline: PipelineFactory | None = None, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        self._package_log = PackageLogBridge.attach(self.get_logger())  # the model layer's records: the node's log
        with destroyed_on_failure(self):  # a bad parameter: no node (services, publishers) left behind
            self._refused: dict[str, str] = {}  # name -> why rclpy refused its override (managed: until it is set)
            self._declare_parameters()
            warn_ignored(self)  # a misspelt name, a params file section for another node: said
            self._make_pipeline = make_pipeline or (lambda config, logger: build_pipeline(config, logger.warning))
            self._config = DepthConfig.from_params()  # defaults until _configure reads the parameters in force
            self._pending: DepthConfig | None = None  # a validated run-time change not yet given to the pipeline
            self._pending_lock = threading.Lock()
            self.add_on_set_parameters_callback(typed_as_declared(self._on_set_parameters, self))  # rclpy's types
            jumps = JumpThreshold, Duration  # any jump back of the ROS clock (a bag's --loop): the next frame anew
            tf, scale = lambda: self._tf_buffer and self._tf_buffer.new_pass(), lambda: self._pipeline.time_went_back()
            anew, warn = in_turn(tf, scale), self.get_logger().warning  # each jump: warned once; static TF kept
            self._went_back = ClockWentBack.attach(self.get_clock(), *jumps, anew, warn)
            self._clock_steps = ClockSteps.attach(self.get_clock(), *jumps)  # and forward: /clock's step (RuntimeStats)
            if self._autostart:
                self._configure()
                self._activate()

    def _configure(self) -> None:
        """The parameters in force → the pipeline (model loaded, golden self-test) and the publishers."""
        if self._refused:
            raise ConfigError("; ".join(self._refused.values()))
        self._config = DepthConfig.from_params({s.name: self.get_parameter(s.name).value for s in PARAMS})
        self._factory = message_factory()
        self._cloud_buffer = self._factory.field_buffer()  # /depth/points data, refilled frame after frame
        self._pipeline = self._make_pipeline(self._config, self.get_logger())
        window_s = diagnostics_window_s(self._config.diagnostics.period_s)
        self._stats = RuntimeStats(window_s, warn=self.get_logger().warning, clock_steps=self._clock_steps)
        self._log_throttle = ReasonThrottle(2.0)
        self._bits = messages.SixteenBitInput(lambda: self._config, self._stats.sixteen_bit_frame)  # peaks watched
        topics, check = self._config.topics, self._pipeline.training_camera_warning  # warned per calibration, scale:
        warn = warn_about_calibration(  # the same distortion text (a zoom: a new K, one lens) once per throttle period
            topics.image, topics.image_is_rectified, self.get_logger().warning, check, same_text=self._log_throttle
        )
        self._cameras = CameraModelCache(warn, lambda: self._pipeline.config.scale)  # raw as rectified, metric model
        self._scan_frames = ScanFrameCheck(self.get_logger().warning)  # a scan.frame_id that may not be x forward
        self._pending = None  # the pipeline was built from the config in force
        self._last = LastFrame()  # replaced whole by the publish thread, read by the diagnostics timer
        self._latest_info = LatestCameraInfo()  # sync.mode latest: the bag runner's rule
        self._lidar: LidarFeed[_Frame] | None = None  # set in _subscribe when LiDAR is on
        out_qos = qos_for(self._config.topics.output_qos)
        types = {"depth": Image, "info": CameraInfo, "points": PointCloud2, "clearing": PointCloud2, "scan": LaserScan}
        self._publishers_by_topic = {  # keyed as adapters.messages names the outputs (absolute)
            "/" + topic: self.create_publisher(types[key], topic, out_qos) for key, topic in OUTPUT_TOPICS.items()
        }
        self._pub_diag = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, QoSProfile(depth=10))

    def _activate(self) -> None:
        """Subscriptions, timers and the worker thread: frames flow."""
        slot, stages = LatestSlot[_Frame](), (self._process, self._publish)  # frames a stop drops: counted too
        self._slot, self._worker = slot, TwoStageWorker(slot, *stages, self._on_worker_error, self._stats.frame_dropped)
        diag = PlayedPeriod(self._config.diagnostics.period_s, self.get_clock(), self._publish_diagnostics)
        self._diag_poll = diag.polled_by(self.create_timer(POLL_S, diag.poll, clock=STEADY_CLOCK))  # played time
        self._subscribe(qos_for(self._config.topics.input_qos))
        self._worker.start()

    # ------------------------------------------------------------------------------------------------ wiring

    def _declare_parameters(self) -> None:
        doubles_for_ints(getattr(self, "_parameter_overrides", {}))  # max_range: 80 held as 80.0, not 80
        for spec in PARAMS:
            fields = descriptor_fields(spec, managed=not self._autostart)
            descriptor = ParameterDescriptor(name=spec.name, **fields.message_fields())
            if (span := fields.float_range) is not None:
                descriptor.floating_point_range = [FloatingPointRange(from_value=span[0], to_value=span[1], step=0.0)]
            if (steps := fields.int_range) is not None:
                descriptor.integer_range = [IntegerRange(from_value=steps[0], to_value=steps[1], step=0)]
            try:
                self.declare_parameter(spec.name, spec.default, descriptor)
            except (InvalidParameterTypeException, InvalidParameterValueException) as err:
                if self._autostart:
                    raise ConfigError(declare_failure(spec, err)) from None
                self._refused[spec.name] = declare_failure(spec, err)  # managed: configure fails until it is set
                self.declare_parameter(spec.name, spec.default, descriptor, ignore_override=True)

    def _subscribe(self, in_qos: Any) -> None:
        config, resolve = self._config, self.resolve_topic_name  # resolve: the names shown, as remapped (-r, SetRemap)
        compressed = self._compressed = config.topics.image_transport == "compressed"
        image_topic = subscribed_image_topic(config.topics.image, config.topics.image_transport, resolve)  # as remapped
        image_type = CompressedImage if compressed else Image
        self._approximate, self._external = config.sync.mode == "approximate", config.model.backend == "external"
        info_topic = config.topics.camera_info
        raw = RawInputs(self, self._bad, self._factory, self._unused, self._stats.frame_received)  # CDR read ROS-free
        if self._approximate or self._external:
            sources = [(image_type, image_topic)] + [(CameraInfo, info_topic)] * self._approximate
            sources += [(Image, config.topics.prediction)] * self._external
            filters = raw.filters(message_filters.Subscriber, sources, in_qos)
            self._filters, sync, slop_s = filters, config.sync, synchroniser_slop_s(config.sync.slop_s)  # 0: equal
            got, late = self._stats.frame_received, self._stats.bad_message_withdrawn  # late: lost, paired after all
            lost = MissingImages(self._stats.images_missing, self.get_logger().warning, config.topics.input_qos)
            watch = self._sync_watch = SyncWatch.attach(filters, config, got, self._bad, late, lost, self._unused)
            synchroniser = message_filters.ApproximateTimeSynchronizer(watch.outputs, sync.queue_size, slop_s)
            self._sync = watch.follow(synchroniser)  # drops what time going back (a bag's --loop) left in its queues
            self._sync.registerCallback(self._on_synced)
            self._sync_timer = watch.polled_by(self.create_timer(SYNC_POLL_S, watch.poll, clock=STEADY_CLOCK))
        else:
            raw.subscribe(image_type, image_topic, self._on_image, in_qos)
        subscribe = lambda qos: raw.subscribe(CameraInfo, info_topic, self._latest_info.add, qos)  # noqa: E731
        graph, shown = self.get_publishers_info_by_topic, shown_topic(info_topic, resolve)
        self._latched = LatchedInfo(info_topic, subscribe, graph, in_qos, self._approximate, shown=shown)
        self._tf_buffer: Any = None
        lidar_topic = config.topics.lidar
        if lidar_topic or config.temporal.enabled or config.scale.ground_frame:
            self._tf_buffer = ClearedOnJumpBack(Buffer(), lambda: self._went_back.back_ns)  # --loop: no TF_OLD_DATA
            self._tf_listener = TransformListener(self._tf_buffer, self)  # no spin_thread: our executor spins it
        tf2 = (self._tf_buffer, self._factory, (TransformException,))  # temporal.fixed_frame's, scale.ground_frame's
        self._poses = ground_tf.tf2_frame_poses(config, *tf2, self.get_logger().warning, self._stats.input_unused)
        if lidar_topic:  # the waits: played time while /clock moves; tf2 never waited for (timeout zero)
            played, shown = PlayedClock(self.get_clock()).now_ns, shown_topic(lidar_topic, resolve)
            self._lidar = LidarFeed(
                self, config, in_qos, tf2, lambda frame: frame.image.header, release=self._release,
                unused=self._unused, clock_ns=played, steady=STEADY_CLOCK, decoder=raw.scan, shown=shown,
                timeout=Duration(),
            )  # fmt: skip
        scans = lambda: self._lidar.scans_seen if self._lidar else 0  # noqa: E731
        inputs = node_inputs(config, image_topic, lambda: self._stats.snapshot().received, scans, resolve)
        depth = self._publishers_by_topic[messages.DEPTH_IMAGE_TOPIC]
        self._input_watch = InputWatch(inputs, graph, self.get_logger().warning, outputs=[depth.topic_name])
        self.create_timer(1.0, self._input_watch.poll, clock=STEADY_CLOCK)  # an input silent for 5 s: warned
        peers = PeerFrames(self.get_fully_qualified_name(), lambda: self._last.frame_id, self.get_logger().warning)
        self.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, peers.check, QoSProfile(depth=10))  # frame twice
        outputs = [*OUTPUT_TOPICS.values(), DIAGNOSTICS_TOPIC]
        self.get_logger().info(startup_text(config, image_topic, image_type.__name__, resolve, outputs))

    # ----------------------------------------------------------------------------------- executor callbacks

    def _on_synced(self, *msgs: Any) -> None:
        image, rest = msgs[0], list(msgs[1:])
        self._sync_watch.paired(image)
        info = rest.pop(0) if self._approximate else self._latest_info.for_image(image)
        prediction = rest.pop(0) if self._external else None
        self._enqueue(image, info, prediction)

    def _on_image(self, msg: Any) -> None:
        self._stats.frame_received()  # (with ApproximateTime: by the SyncWatch, as the image arrives)
        self._enqueue(msg, self._latest_info.for_image(msg), None)

    def _enqueue(self, image: Any, info: Any, prediction: Any) -> None:
        if info is None:
            self._bad("no_camera_info", self._latched.missing())  # or a transient-local publisher's, subscribed now
            return
        frame = _Frame(image, info, prediction)
        if self._lidar is None:
            self._hand_off(frame)
        else:  # held until its LiDAR scan (which real sensors deliver after the image) is in, or lidar.wait_s
            self._lidar.add_frame(ros_msgs.stamp_to_ns(image.header.stamp), frame)

    def _release(self, paired: list[Paired[_Frame]]) -> None:  # together: none replaces another
        self._hand_off(*(replace(entry.item, scan=entry.scan) for entry in paired))

    def _hand_off(self, *frames: _Frame) -> None:
        """Into the worker's latest-frame slot; frames replaced there before the worker took them are counted."""
        if replaced := self._slot.put_all(frames):
            self._stats.frame_dropped(replaced)

    def _on_set_parameters(self, parameters: list[Any]) -> Any:
        try:  # a managed node takes start-up parameters while unconfigured (no pipeline): _configure reads them
            changes, active = {p.name: p.value for p in parameters}, any(getattr(self, "_active", ()))
            changed = apply_changes(self._config, changes, hasattr(self, "_pipeline"), not self._autostart, active)
            self._refused = {name: why for name, why in self._refused.items() if name not in changes}
        except ConfigError as err:
            return SetParametersResult(successful=False, reason=str(err))
        if changed is not self._config:
            self._config = changed
            if lidar := getattr(self, "_lidar", None):  # lidar.wait_s: for the frames held now and the next
                lidar.set_wait_s(changed.lidar.wait_s)
            with self._pending_lock:
                self._pending = changed  # the worker hands it to the pipeline before its next frame
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        """One status (executor thread): the last frame's values (one :class:`LastFrame`, read before the counts,
        which ``_publish`` updates before it: a status counts every frame whose values it shows) and their age."""
        last, stats = self._last, self._stats.snapshot()
        extra = config_key_values(self._config, self.resolve_topic_name)  # lidar_topic as subscribed (remapped)
        stamp_ns, name = int(self.get_clock().now().nanoseconds), status_name(self.get_fully_qualified_name())
        silence_ns = stamp_ns - last.published_ns  # the camera silent: the held values' ages grow
        report = diagnostic_report(stats, last.scale, extra, last.temporal, silence_ns)
        self._pub_diag.publish(diagnostics_message(self._factory, report, stamp_ns, name, last.frame_id))

    # ------------------------------------------------------------------------------------------- worker side

    def _process(self, frame: _Frame) -> _Computed:
        with self._pending_lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self._pipeline.set_config(pending)
        config = self._pipeline.config  # what this frame is made with (a change now goes to the next)
        return _Computed(self._pipeline.process_frame(self._frame_input(frame)), config)  # published by the 2nd thread

    def _frame_input(self, frame: _Frame) -> FrameInput:
        image_type = "sensor_msgs/msg/CompressedImage" if self._compressed else "sensor_msgs/msg/Image"
        prediction = None if frame.prediction is None else messages.decode_prediction(frame.prediction)
        camera, rectified = self._cameras.get(frame.info), self._config.topics.image_is_rectified
        decoded = messages.frame_input(frame.image, image_type, camera, rectified, copy=False, bits=self._bits)
        decoded = self._cameras.checked(decoded)
        self._went_back.frame(decoded.stamp_ns)  # the first frame after the ROS clock went back: a new start
        lidar = None if self._lidar is None else self._lidar.scan_input(decoded.stamp_ns, decoded.frame_id, frame.scan)
        decoded = replace(decoded, lidar=lidar, prediction=prediction)  # checked and decoded first
        return self._poses.add_to(decoded, self._pipeline.config.scale)  # the camera's poses from TF

    def _unused(self, reason: str, text: str) -> None:
        """Count a scan (camera_info, prediction) that cannot be used: no image outcome (a scan's image goes on)."""
        self._stats.input_unused(reason)
        if (held := self._log_throttle.allow(reason, text)) is not None:
            self.get_logger().warning(unused_warning(reason, text) + held)

    def _publish(self, computed: _Computed) -> None:  # a stop joins this thread before any publisher goes away
        out = computed.output
        # the bag runner's messages too; the cloud's bytes go into one reused buffer (published before the next frame)
        for topic, _, message in messages.output_messages(self._factory, out, self._cloud_buffer):
            self._publishers_by_topic[topic].publish(message)
        self._scan_frames.check(out, computed.config.scan.frame_id)  # the frame's setting, not the one set since
        self._bits.published(out.stamp_ns)  # frames_high_bits_unused / _above_significant_bits: published ones only
        published_ns = int(self.get_clock().now().nanoseconds)  # /diagnostics: how old the values are
        self._stats.frame_published_at(out.stamp_ns, published_ns)  # counted first, then the values shown:
        self._last = LastFrame(out.scale, out.temporal, out.frame_id, published_ns)  # one assignment, read whole

    def _on_worker_error(self, err: Exception) -> None:
        if isinstance(err, DepthError):  # an unusable model output makes /diagnostics ERROR, other bad frames WARN
            self._bad(type(err).__name__, str(err), severe=isinstance(err, ModelOutputError))
            return
        if not rclpy.ok():
            return  # Ctrl-C shut the context down while a frame was in flight: not a bug
        self._stats.worker_error()
        trace = "".join(traceback.format_exception(type(err), err, err.__traceback__))
        self.get_logger().error(f"bug in the depth worker (the node carries on): {trace}", throttle_duration_sec=5.0)

    def _bad(self, reason: str, text: str, severe: bool = False) -> None:
        self._stats.bad_message(reason, severe=severe)
        if (held := self._log_throttle.allow(reason, text)) is not None:  # per problem: one must not hide another
            self.get_logger().warning(f"frame skipped ({reason}): {text}{held}")

    def _stop_worker(self) -> None:
        stopped(self._worker, self.get_logger().warning, self.worker_join_s, self.process_ending)  # past it: abandoned
        if held := drained(getattr(self, "_lidar", None), getattr(self, "_sync_watch", None)):
            self._stats.frame_dropped(held)  # images held for their LiDAR scan or camera_info: with the subscriptions

    def destroy_node(self) -> Any:
        """Stop and join the worker thread, then destroy the node."""
        self._stop_worker()
        if (bridge := getattr(self, "_package_log", None)) is not None:
            bridge.detach()
        return super().destroy_node()


class MonoDepthLifecycleNode(MonoDepthNode, LifecycleNode):  # type: ignore[misc]  # rclpy is untyped
    """The node as a managed (lifecycle) node, for Nav2's lifecycle manager (``mono_depth_lifecycle_node``).

    configure: parameters validated, model loaded and self-tested, publishers made; activate: subscriptions, timers,
    worker; deactivate: those destroyed, the worker joined; cleanup: publishers and model released. An exception in
    configure or activate fails that transition and undoes it (fix a parameter, retry); elsewhere: on_error. A
    transition the current state does not offer is refused (``adapters.lifecycle_requests``).
    """

    _autostart = False
    _OK, _FAIL = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE

    def __init__(self, make_pipeline: PipelineFactory | None = None, **node_kwargs: Any) -> None:
        self._active: tuple[list[Any], list[Any]] = ([], [])  # subscriptions, timers made by activate
        super().__init__(make_pipeline, **node_kwargs)
        with destroyed_on_failure(self):  # unoffered transitions refused; says it waits for configure
            lifecycle_wait.managed_start(self, STEADY_CLOCK)

    def on_configure(self, state: State) -> Any:
        if refused_while_busy(self._worker, "configure", self.get_logger().error):
            return self._FAIL
        try:
            with self.load_guard():
                self._configure()
        except Exception as err:  # a failed transition, not a dead process (DepthError or any other)
            self.get_logger().error(f"configure failed: {type(err).__name__}: {err}")
            self._free()
            return self._FAIL
        return self._OK

    def on_activate(self, state: State) -> Any:
        if refused_while_busy(self._worker, "activate", self.get_logger().error):
            return self._FAIL
        before = [*self.subscriptions, *self.timers]
        result = self._OK
        try:
            self._activate()
        except Exception as err:  # undo what was made, stay inactive
            self.get_logger().error(f"activate failed: {type(err).__name__}: {err}")
            result = self._FAIL
        self._active = ([s for s in self.subscriptions if s not in before], [t for t in self.timers if t not in before])
        if result is self._FAIL:
            self._deactivate()
        return result

    def on_deactivate(self, state: State) -> Any:
        self._deactivate(last_status=True)
        return self._OK

    def on_cleanup(self, state: State) -> Any:
        if refused_while_busy(self._worker, "cleanup", self.get_logger().error):
            return self._FAIL
        self._free()
        return self._OK

    def on_error(self, state: State) -> Any:
        """Release everything: back to unconfigured (shutdown too; from active with a last status, as deactivate)."""
        self._deactivate(last_status=self._active != ([], []))
        self._free()
        return self._OK

    on_shutdown = on_error

    def _deactivate(self, last_status: bool = False) -> None:
        self._stop_worker()
        for subscription in self._active[0] + taken(getattr(self, "_latched", None), getattr(self, "_lidar", None)):
            self.destroy_subscription(subscription)
        for timer in self._active[1]:
            self.destroy_timer(timer)
        self._active = ([], [])
        if last_status:  # its timer is gone: the frames since the last status, those dropped now too
            self._publish_diagnostics()

    def _free(self) -> None:
        """Destroy the publishers and drop the model (whatever a configure, complete or not, made)."""
        for publisher in [*getattr(self, "_publishers_by_topic", {}).values(), getattr(self, "_pub_diag", None)]:
            if publisher is not None:
                self.destroy_publisher(publisher)
        for name in ("_publishers_by_topic", "_pub_diag", "_pipeline", "_cameras"):  # the model goes with the last two
            if hasattr(self, name):
                delattr(self, name)


def main(args: list[str] | None = None, node_class: type[MonoDepthNode] | None = None) -> int:
    """Console script ``mono_depth_node``: exit code 0 after Ctrl-C / SIGTERM / external shutdown, 1 when the node
    can't start (logged); returned for ``args``, without (the script) the process ends with it (``exit_now``)."""
    stop = StopSignals.install(with_parent=True)  # before rclpy.init, which chains its handlers to these
    try:
        rclpy.init(args=args)
    except Exception as err:  # rcl refuses the command line: a params file it cannot parse (no ros__parameters)
        get_logger(logger_name(args)).fatal(f"cannot start: {init_failure_text(err)}")
        return 1
    node, code, executor = None, 0, None
    try:
        with stop.interrupting(asked_before=True):  # a signal (or a parent gone) ends the model load now
            node = (node_class or MonoDepthNode)()
        node.load_guard = stop.interrupting  # a managed node loads its model in configure, within spin
        executor = rclpy.get_global_executor()  # kept for exit_now's finaliser: rclpy.try_shutdown drops the
        spin_until_stopped(executor, node, stop)  # global one if it shuts the context down before rclpy's thread
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except DepthError as err:
        get_logger(logger_name(args)).fatal(f"cannot start: {err}")
        code = 1
    except Exception:
        if rclpy.ok() and not stop.received:  # else a signal shut rclpy down mid-call (Humble: RCLError / RuntimeError)
            raise
    finally:
        stop.ignore_further()  # ros2 launch forwards a Ctrl-C the terminal already sent: shutting down now
        if node is not None:
            node.process_ending = True  # a frame stalled in the network must not outlast launch's 5 s grace
            node.destroy_node()
        shut_down(rclpy.try_shutdown, stop)  # after a stop, its 'rcl_shutdown already called' is the shutdown done
    return exit_now(code, context_released(lambda: executor, node)) if args is None and executor else code


def lifecycle_main(args: list[str] | None = None) -> int:
    """Console script ``mono_depth_lifecycle_node``; exit codes as :func:`main`'s."""
    return main(args, MonoDepthLifecycleNode)
