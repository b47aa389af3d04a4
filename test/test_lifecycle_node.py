"""MonoDepthLifecycleNode (mono_depth_ros.node) on the rclpy stand-in: nothing flows before activate, deactivate
stops the flow, a bad configuration fails the transition instead of the process, cleanup releases publishers and
model."""

from __future__ import annotations

import gc
import threading
import weakref
from types import SimpleNamespace
from typing import Any

from mono_depth_ros.adapters import worker as worker_module
from mono_depth_ros.adapters.lifecycle_wait import InactiveWatch, waiting_text

from . import ros_standin, test_node
from .test_node import EXTERNAL, EchoPipeline, Ros, camera_info, prediction, rgb_image, send_frame

ros = test_node.ros  # the stand-in world of test_node (fixture)

LIFECYCLE = "MonoDepthLifecycleNode"


def flowing(node: Any) -> list[Any]:
    """The node's timers but the one of the start-up watch (``adapters.lifecycle_wait``), made at construction."""
    return [t for t in node.timers if not isinstance(getattr(t.callback, "__self__", None), InactiveWatch)]


def test_frames_flow_only_while_active(ros: Ros) -> None:
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    node = ros.make_node(EXTERNAL, EchoPipeline(), LIFECYCLE)
    assert node.lifecycle_state == "unconfigured" and not node.publishers and not node.subscriptions
    assert waiting_text("/mono_depth_node") in node.get_logger().messages("INFO")  # it said so (it said nothing)
    (start,) = node.timers  # the start-up watch: on a steady clock, done once the node was active
    assert start.clock is not None and start.clock.clock_type.name == "STEADY_TIME"
    assert node.trigger_configure() is results.SUCCESS
    assert "depth/image" in node.publishers and not node.subscriptions and not flowing(node)  # nothing flows yet
    assert node.trigger_activate() is results.SUCCESS
    assert node.subscriptions and flowing(node)
    send_frame(node)
    assert len(node.publishers["depth/image"].wait_for(1)) == 1
    start.callback()
    assert start.canceled

    assert node.trigger_deactivate() is results.SUCCESS
    assert not node.subscriptions and not flowing(node) and not node._worker.alive
    assert node.trigger_activate() is results.SUCCESS  # and back: a fresh worker and subscriptions
    send_frame(node, stamp_ns=2_000_000_000)
    assert len(node.publishers["depth/image"].wait_for(2)) == 2
    assert node.trigger_deactivate() is results.SUCCESS
    assert node.trigger_cleanup() is results.SUCCESS
    assert not node.publishers and not hasattr(node, "_pipeline")
    assert node.trigger_shutdown() is results.SUCCESS
    node.destroy_node()


def test_a_change_state_request_for_a_transition_the_state_does_not_offer_is_refused(ros: Ros) -> None:
    """rclpy raises rcl's "Transition is not registered" for such a request by id, in the executor: the node died
    (real Humble: test/ros2/test_ros2_operator.py). Now it answers success = false, warns, and stays as it was."""
    node = ros.make_node(EXTERNAL, EchoPipeline(), LIFECYCLE)
    change_state = node._service_change_state.callback

    def ask(transition_id: int) -> bool:
        request = SimpleNamespace(transition=SimpleNamespace(id=transition_id, label=""))
        return bool(change_state(request, SimpleNamespace(success=None)).success)

    assert not ask(3) and node.lifecycle_state == "unconfigured"  # activate
    warning = "transition activate (3) refused: the node is unconfigured; it offers: configure, shutdown"
    assert node.get_logger().messages("WARN")[-1] == warning
    assert ask(1) and ask(3) and node.lifecycle_state == "active"  # configure, activate: by id, as Nav2 asks
    assert not ask(2) and node.lifecycle_state == "active"  # cleanup
    assert ask(4) and node.lifecycle_state == "inactive"
    node.trigger_shutdown()
    node.destroy_node()


def test_a_node_made_without_its_lifecycle_services_is_made_and_driven(ros: Ros) -> None:
    """``enable_communication_interface=False`` (rclpy: no change_state service, the process triggers transitions
    itself): the constructor wrapped the missing service and raised AttributeError (real Humble:
    test/ros2/test_ros2_operator.py)."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    parameter = ros.fake["rclpy.parameter"].Parameter
    if not ros.fake["rclpy"].ok():
        ros.fake["rclpy"].init()
    node = ros.node_module.MonoDepthLifecycleNode(
        make_pipeline=lambda params, logger: EchoPipeline().bind(params),
        parameter_overrides=[parameter(name, value=value) for name, value in EXTERNAL.items()],
        enable_communication_interface=False,
    )
    assert not hasattr(node, "_service_change_state")
    assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
    assert node.lifecycle_state == "active"
    node.destroy_node()


def test_a_bad_configuration_fails_the_transition_not_the_process(ros: Ros) -> None:
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    overrides = {**EXTERNAL, "model.backend": "unet", "model.weights": "/no/such/weights.safetensors"}
    node = ros.make_node(overrides, None, LIFECYCLE)
    assert node.trigger_configure() is results.FAILURE  # the real pipeline factory: missing weights
    assert node.lifecycle_state == "unconfigured"
    assert "configure failed" in node.get_logger().messages("ERROR")[-1]
    assert node.trigger_shutdown() is results.SUCCESS
    node.destroy_node()


def test_a_bad_start_up_parameter_fails_configure_and_can_be_fixed_before_a_retry(ros: Ros) -> None:
    """``device: gpu`` ended the managed process at construction (README: "a bad parameter fails the transition, not
    the process"), and a start-up parameter such as model.weights was read-only: a failed configure could not be
    retried without a restart."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    parameter = ros.fake["rclpy.parameter"].Parameter
    node = ros.make_node({**EXTERNAL, "device": "gpu"}, EchoPipeline(), LIFECYCLE)  # constructed: unconfigured
    assert node.trigger_configure() is results.FAILURE
    assert "configure failed: ConfigError: parameter device='gpu' must be" in node.get_logger().messages("ERROR")[-1]
    (wrong_type,) = node.set_parameters([parameter("output.encoding", value=3)])  # still checked value by value
    assert not wrong_type.successful
    (fixed,) = node.set_parameters([parameter("device", value="cpu")])  # a start-up parameter, while unconfigured
    assert fixed.successful
    assert node.trigger_configure() is results.SUCCESS and node._config.model.device == "cpu"
    (refused,) = node.set_parameters([parameter("device", value="auto")])
    assert not refused.successful  # configured: it would not take effect
    # inactive: the remedy began with "deactivate", a transition an inactive node does not have
    assert (
        refused.reason
        == "parameter device is read at configure; to change it, clean up the node, set it, then configure"
    )
    assert node.trigger_activate() is results.SUCCESS
    (refused,) = node.set_parameters([parameter("device", value="auto")])
    assert refused.reason == (
        "parameter device is read at configure; to change it, deactivate and clean up the node, set it, then "
        "configure and activate"
    )
    assert node.trigger_deactivate() is results.SUCCESS
    assert "to change it, clean up the node" in node.set_parameters([parameter("device", value="auto")])[0].reason
    assert node.trigger_cleanup() is results.SUCCESS
    assert node.set_parameters([parameter("device", value="auto")])[0].successful
    node.destroy_node()


def test_an_override_rclpy_refuses_at_declaration_fails_configure_until_it_is_set(ros: Ros) -> None:
    """An out-of-range or mistyped value (``output.max_range: -5.0``) is refused by rclpy when the parameter is
    declared: that ended the managed process too. (A run-time parameter is dynamically typed, so a wrong type,
    ``cloud.stride: "4"``, is configure's to refuse, with the value.)"""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    parameter = ros.fake["rclpy.parameter"].Parameter
    node = ros.make_node({**EXTERNAL, "output.max_range": -5.0, "cloud.stride": "4"}, EchoPipeline(), LIFECYCLE)
    assert node.trigger_configure() is results.FAILURE
    error = node.get_logger().messages("ERROR")[-1]
    assert "parameter output.max_range:" in error, error
    assert node.set_parameters([parameter("output.max_range", value=30.0)])[0].successful
    assert node.trigger_configure() is results.FAILURE  # cloud.stride still refused
    error = node.get_logger().messages("ERROR")[-1]
    assert "output.max_range" not in error and "parameter cloud.stride='4' is not a valid int" in error, error
    assert node.set_parameters([parameter("cloud.stride", value=4)])[0].successful
    assert node.trigger_configure() is results.SUCCESS and node._config.output.max_range == 30.0
    node.destroy_node()


def test_parameters_before_configure_and_a_failed_activate_undo_cleanly(ros: Ros) -> None:
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    parameter = ros.fake["rclpy.parameter"].Parameter
    node = ros.make_node(EXTERNAL, EchoPipeline(), LIFECYCLE)
    (result,) = node.set_parameters([parameter("scale.fixed_scale", value=2.0)])  # unconfigured: no crash
    assert result.successful
    assert node.trigger_configure() is results.SUCCESS
    assert node._config.scale.fixed_scale == 2.0  # configure reads the parameters in force

    def broken(qos: Any) -> None:
        node.create_subscription(object, "/half/made", lambda msg: None, 10)
        raise RuntimeError("subscription failed")

    node._subscribe = broken
    assert node.trigger_activate() is results.FAILURE
    assert node.lifecycle_state == "inactive" and not node.subscriptions and not flowing(node)  # undone
    assert "activate failed: RuntimeError" in node.get_logger().messages("ERROR")[-1]
    assert node.on_error(None) is results.SUCCESS and not node.publishers  # on_error releases everything
    node.destroy_node()


def test_frames_in_flight_at_deactivate_are_counted_dropped(ros: Ros) -> None:
    """The frame being computed and the one waiting in the slot were lost without a count: /diagnostics showed
    frames_received above published + dropped + bad for good after a deactivate. Counted, they were in no status
    until the next activate (never, when cleanup followed): deactivate publishes one."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    computing = threading.Event()
    node: Any = None

    def until_deactivated(frame: Any) -> None:
        if frame.stamp_ns == 1_000_000_000:
            computing.set()
            assert test_node.wait_until(lambda: node._slot.closed)  # finishes while deactivate stops the worker

    node = ros.make_node(EXTERNAL, EchoPipeline(before=until_deactivated), LIFECYCLE)
    assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
    send_frame(node, stamp_ns=1_000_000_000)
    assert computing.wait(30)
    send_frame(node, stamp_ns=2_000_000_000)  # waits in the slot
    statuses = node.publishers["/diagnostics"].messages
    before = len(statuses)
    assert node.trigger_deactivate() is results.SUCCESS
    snapshot = test_node.stats(node)
    assert (snapshot.received, snapshot.published, snapshot.dropped) == (2, 0, 2)
    # and a status says so: the timer goes with deactivate (a cleanup next starts the counts anew)
    assert len(statuses) == before + 1
    (status,) = statuses[-1].status
    values = {kv.key: kv.value for kv in status.values}
    assert (values["frames_received"], values["frames_published"], values["frames_dropped_stale"]) == ("2", "0", "2")
    assert node.trigger_activate() is results.SUCCESS
    send_frame(node, stamp_ns=3_000_000_000)
    assert len(node.publishers["depth/image"].wait_for(1)) == 1
    assert test_node.wait_until(lambda: test_node.stats(node).published == 1)
    snapshot = test_node.stats(node)
    assert snapshot.received == snapshot.published + snapshot.dropped + sum(snapshot.bad.values())
    node.destroy_node()


def test_a_frame_the_publish_stage_took_as_deactivate_began_is_published(ros: Ros, monkeypatch: Any) -> None:
    """The publish thread took frame 1's output from the hand-off, then the deactivate closed the worker: _publish
    saw the slot closed and returned, and the frame was neither published nor counted (frames_received 1,
    published + dropped + bad 0 in the last status). The stop waits for the publish thread, so the publishers are
    still there: the output it holds is published."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    taken, node_box = threading.Event(), SimpleNamespace(node=None)
    take = worker_module.HandOff.take

    def take_then_stall(self: Any, timeout_s: float | None = None) -> Any:  # the interleaving, forced
        item = take(self, timeout_s)
        if item is not None:
            taken.set()
            assert test_node.wait_until(lambda: node_box.node._slot.closed)  # the stop lands here
        return item

    monkeypatch.setattr(worker_module.HandOff, "take", take_then_stall)
    node = node_box.node = ros.make_node(EXTERNAL, EchoPipeline(), LIFECYCLE)
    assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
    send_frame(node, stamp_ns=1_000_000_000)
    assert taken.wait(30)  # frame 1's output is in the publish thread, not yet published
    assert node.trigger_deactivate() is results.SUCCESS
    snapshot = test_node.stats(node)
    assert (snapshot.received, snapshot.published, snapshot.dropped, snapshot.bad) == (1, 1, 0, {})
    assert [test_node.stamp_ns_of(m) for m in node.publishers["depth/image"].messages] == [1_000_000_000]
    (status,) = node.publishers["/diagnostics"].messages[-1].status
    values = {kv.key: kv.value for kv in status.values}
    assert (values["frames_received"], values["frames_published"]) == ("1", "1")
    node.destroy_node()


def test_a_shutdown_from_active_publishes_a_last_status_and_from_inactive_none_again(ros: Ros) -> None:
    """``ros2 lifecycle set NODE shutdown`` from active released everything without a /diagnostics status: the
    frames since the last periodic one were in none. It publishes one, as deactivate does; a shutdown after a
    deactivate (whose status is out already) publishes no second."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    for deactivate_first in (False, True):
        node = ros.make_node(EXTERNAL, EchoPipeline(), LIFECYCLE)
        assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
        send_frame(node, stamp_ns=1_000_000_000)
        assert len(node.publishers["depth/image"].wait_for(1)) == 1
        statuses = node.publishers["/diagnostics"].messages
        if deactivate_first:
            assert node.trigger_deactivate() is results.SUCCESS
        before = len(statuses)
        assert node.trigger_shutdown() is results.SUCCESS
        assert len(statuses) == before + (0 if deactivate_first else 1), deactivate_first
        (status,) = statuses[-1].status
        values = {kv.key: kv.value for kv in status.values}
        assert (values["frames_received"], values["frames_published"]) == ("1", "1"), values
        node.destroy_node()


def test_frames_held_for_their_scan_or_camera_info_at_deactivate_are_counted_dropped(ros: Ros) -> None:
    """Images held for their LiDAR scan (lidar.wait_s) or, with ApproximateTime, for their camera_info were lost
    uncounted at deactivate: frames_received stayed above published + dropped + bad for good."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    overrides = {**EXTERNAL, "lidar_topic": "/lidar/points", "lidar.wait_s": 5.0}
    node = ros.make_node(overrides, EchoPipeline(), LIFECYCLE)
    assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
    send_frame(node, stamp_ns=1_000_000_000)  # paired with its camera_info and prediction, waits for a scan
    node.deliver("/camera/image_raw", test_node.rgb_image(2_000_000_000))  # waits for its camera_info
    assert node._lidar.pairing.waiting == 1 and node._sync_watch.waiting == 1
    assert node.trigger_deactivate() is results.SUCCESS
    snapshot = test_node.stats(node)
    assert (snapshot.received, snapshot.published, snapshot.dropped, snapshot.bad) == (2, 0, 2, {})
    assert node.trigger_activate() is results.SUCCESS and node.trigger_deactivate() is results.SUCCESS
    assert test_node.stats(node).dropped == 2  # counted once
    node.destroy_node()
    assert test_node.stats(node).dropped == 2


def test_cleanup_releases_the_model(ros: Ros) -> None:
    """The camera cache kept the pipeline's training-camera check (a bound method), so the model (and its GPU
    memory) outlived cleanup until the next configure."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    parameter = ros.fake["rclpy.parameter"].Parameter
    built: list[weakref.ref[EchoPipeline]] = []

    def make(params: Any, logger: Any) -> EchoPipeline:
        pipeline = EchoPipeline().bind(params)
        built.append(weakref.ref(pipeline))
        return pipeline

    ros.fake["rclpy"].init()
    node = ros.node_module.MonoDepthLifecycleNode(
        make_pipeline=make, parameter_overrides=[parameter("model.backend", value="external")]
    )
    ros.nodes.append(node)
    assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
    send_frame(node)
    assert len(node.publishers["depth/image"].wait_for(1)) == 1
    assert node.trigger_deactivate() is results.SUCCESS and node.trigger_cleanup() is results.SUCCESS
    gc.collect()
    assert built and built[0]() is None
    node.destroy_node()


def test_the_subscription_made_for_a_transient_local_camera_info_goes_with_deactivate(ros: Ros) -> None:
    """The camera_info subscription made while active for a transient-local publisher (adapters.input_watch.
    LatchedInfo: a camera_info published once before the node subscribed) is destroyed with the others."""
    results, qos = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn, ros.fake["rclpy.qos"]
    ros_standin.STATE.graph["/camera/camera_info"] = ["sensor_msgs/msg/CameraInfo"]
    latched = qos.QoSProfile(depth=1, durability=qos.DurabilityPolicy.TRANSIENT_LOCAL)
    ros_standin.STATE.graph_qos["/camera/camera_info"] = latched
    node = ros.make_node({**EXTERNAL, "sync.mode": "latest"}, EchoPipeline(), LIFECYCLE)
    assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
    node.deliver("/depth_model/prediction", prediction(1_000))
    node.deliver("/camera/image_raw", rgb_image(1_000))  # no camera_info came: the publisher's stored one is asked
    infos = [s for s in node.subscriptions if s.topic == "/camera/camera_info"]
    assert [s.qos.durability for s in infos] == [qos.DurabilityPolicy.VOLATILE, latched.durability]
    infos[1].receive(camera_info(2_000))  # the stored camera_info arrives on it
    node.deliver("/depth_model/prediction", prediction(2_000))
    node.deliver("/camera/image_raw", rgb_image(2_000))
    assert len(node.publishers["depth/image"].wait_for(1)) == 1
    assert node.trigger_deactivate() is results.SUCCESS
    assert not node.subscriptions and not flowing(node)
    assert node.trigger_shutdown() is results.SUCCESS
    node.destroy_node()


def test_the_laser_scan_subscription_made_when_a_2d_lidar_appeared_goes_with_deactivate(ros: Ros) -> None:
    """lidar.message_type auto, no publisher at activate: /scan is subscribed as PointCloud2; the LaserScan driver
    appears, the look at the graph re-subscribes it as LaserScan. Deactivate destroys that one too (and the
    PointCloud2 one, already gone, is no error); activate again subscribes LaserScan at once."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    node = ros.make_node({**EXTERNAL, "lidar_topic": "/scan"}, EchoPipeline(), LIFECYCLE)
    assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
    assert node.subscription("/scan").msg_type.__name__ == "PointCloud2"
    ros_standin.STATE.graph["/scan"] = ["sensor_msgs/msg/LaserScan"]
    (look,) = [t for t in node.timers if t.callback == node._lidar.subscription._on_timer]
    look.callback()
    assert node.subscription("/scan").msg_type.__name__ == "LaserScan"
    assert node.trigger_deactivate() is results.SUCCESS
    assert not node.subscriptions and not flowing(node)
    assert node.trigger_activate() is results.SUCCESS
    assert node.subscription("/scan").msg_type.__name__ == "LaserScan"
    assert node.trigger_shutdown() is results.SUCCESS
    node.destroy_node()


def test_a_lifecycle_node_whose_start_up_watch_fails_is_destroyed_before_its_error_propagates(
    ros: Ros, monkeypatch: Any
) -> None:
    """The managed node's last constructor step (``lifecycle_wait.managed_start``: the transition guard, the waiting
    line, the start-up watch's timer) ran after the base constructor's ``destroyed_on_failure``: an error there (or
    a Ctrl-C) left the node, its lifecycle services and publishers to the garbage collector, as a bad parameter did
    before ``adapters.node_start``."""
    import pytest

    def fails(node: Any, clock: Any = None) -> None:
        raise RuntimeError("timer refused")

    monkeypatch.setattr(ros.node_module.lifecycle_wait, "managed_start", fails)
    with pytest.raises(RuntimeError, match="timer refused"):
        ros.make_node(EXTERNAL, EchoPipeline(), LIFECYCLE)
    node = ros_standin.state().nodes[-1]
    assert node.get_name() == "mono_depth_node" and node.destroyed


def test_cleanup_and_configure_wait_for_a_frame_that_ran_past_the_stop(ros: Ros, monkeypatch: Any) -> None:
    """A frame running past deactivate's 5 s join: activate refused (a second worker), but cleanup dropped the model
    and publishers from under it, and a configure after an error loaded a second model beside the one it held. Both
    are now refused as activate is, naming the remedy, and go through once the frame returns."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    computing, release = threading.Event(), threading.Event()

    def blocked(frame: Any) -> None:
        computing.set()
        assert release.wait(30)

    stop = worker_module.TwoStageWorker.stop  # while the frame blocks on the event, a join of 0 s finds it running

    def no_wait_while_blocked(self: Any, timeout_s: float = 5.0) -> bool:
        return stop(self, timeout_s if release.is_set() else 0.0)

    monkeypatch.setattr(worker_module.TwoStageWorker, "stop", no_wait_while_blocked)
    pipeline = EchoPipeline(before=blocked)
    node = ros.make_node(EXTERNAL, pipeline, LIFECYCLE)
    assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
    send_frame(node, stamp_ns=1_000_000_000)
    assert computing.wait(30)
    assert node.trigger_deactivate() is results.SUCCESS and node._worker.alive  # went on without it
    assert node.trigger_cleanup() is results.FAILURE and node.lifecycle_state == "inactive"
    assert node._pipeline is pipeline and "depth/image" in node.publishers  # still there for the frame
    errors = node.get_logger().messages("ERROR")
    assert any("cleanup refused" in e and "try cleanup again once that frame returns" in e for e in errors), errors
    node.on_error(None)  # as rclpy calls it on an error in a transition: everything released, then unconfigured
    node.lifecycle_state = "unconfigured"
    assert node.trigger_configure() is results.FAILURE and not hasattr(node, "_pipeline")
    assert "configure refused" in node.get_logger().messages("ERROR")[-1]
    release.set()
    assert test_node.wait_until(lambda: not node._worker.alive)
    assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
    send_frame(node, stamp_ns=2_000_000_000)
    assert len(node.publishers["depth/image"].wait_for(1)) == 1
    assert node.trigger_deactivate() is results.SUCCESS and node.trigger_cleanup() is results.SUCCESS
    node.destroy_node()


def _stalled_in_the_network(monkeypatch: Any) -> tuple[threading.Event, threading.Event, list[float], Any]:
    """A frame stalled in the network past the stop: ``(computing, release, waits, blocked)``, ``blocked`` the
    pipeline's ``before`` hook (sets ``computing``, waits for ``release``); every ``TwoStageWorker.stop`` records its
    timeout in ``waits`` and, while the frame blocks, joins for 0 s (it finds the frame running, as past 5 s)."""
    computing, release = threading.Event(), threading.Event()
    waits: list[float] = []

    def blocked(frame: Any) -> None:
        computing.set()
        assert release.wait(30)

    stop = worker_module.TwoStageWorker.stop

    def recorded(self: Any, timeout_s: float = 5.0) -> bool:
        waits.append(timeout_s)
        return stop(self, timeout_s if release.is_set() else 0.0)

    monkeypatch.setattr(worker_module.TwoStageWorker, "stop", recorded)
    return computing, release, waits, blocked


def test_a_shutdown_while_a_frame_runs_past_the_stop_abandons_it_once_and_says_so(ros: Ros, monkeypatch: Any) -> None:
    """``ros2 lifecycle set NODE shutdown`` (or on_error) with a frame in the network past the stop's 5 s: the
    transition cannot be refused, so it goes on and drops the model and publishers. The frame was in no status (the
    last one showed received 2, dropped 1: counted only when it returned, after the node had said its last), and
    destroying the node waited another 5 s for it and warned a second time. It is now abandoned once: counted in the
    last status, said in one warning naming the stage, never published when it returns, no error, no second wait."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    computing, release, waits, blocked = _stalled_in_the_network(monkeypatch)
    node = ros.make_node(EXTERNAL, EchoPipeline(before=blocked), LIFECYCLE)
    assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
    depth, statuses = node.publishers["depth/image"], node.publishers["/diagnostics"].messages
    send_frame(node, stamp_ns=1_000_000_000)
    assert computing.wait(30)
    send_frame(node, stamp_ns=2_000_000_000)  # waits in the slot
    assert node.trigger_shutdown() is results.SUCCESS and not hasattr(node, "_pipeline") and not node.publishers
    (status,) = statuses[-1].status
    values = {kv.key: kv.value for kv in status.values}
    assert (values["frames_received"], values["frames_published"], values["frames_dropped_stale"]) == ("2", "0", "2")
    node.destroy_node()  # no second wait for the frame, no second warning
    assert waits == [5.0, 0.0], waits
    (warning,) = [w for w in node.get_logger().messages("WARN") if "still busy" in w]
    assert "(compute stage)" in warning and "abandoned" in warning and "restart the node" in warning, warning
    release.set()
    assert test_node.wait_until(lambda: not node._worker.alive)
    assert depth.messages == [] and node.get_logger().messages("ERROR") == []
    snapshot = test_node.stats(node)
    assert (snapshot.received, snapshot.published, snapshot.dropped, snapshot.worker_errors) == (2, 0, 2, 0)


def test_an_error_transition_while_a_frame_is_mid_publish_counts_it_without_a_bug_trace(
    ros: Ros, monkeypatch: Any
) -> None:
    """A frame's publication ran past the stop's 5 s; on_error (shutdown alike) destroyed the publishers under it: its
    next message met no publisher and the node logged "bug in the depth worker" with a traceback, counted a worker
    error, and the frame was in no count. Now the frame abandoned mid-publish is counted dropped, silently."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    publishing, release = threading.Event(), threading.Event()
    publish = ros_standin.Publisher.publish

    def first_stalls(self: Any, msg: Any) -> None:  # the worker's first message stalls until released
        if threading.current_thread().name.endswith("_publish") and not publishing.is_set():
            publishing.set()
            assert release.wait(30)
        publish(self, msg)

    stop = worker_module.TwoStageWorker.stop

    def no_wait_while_stalled(self: Any, timeout_s: float = 5.0) -> bool:
        return stop(self, timeout_s if release.is_set() else 0.0)

    monkeypatch.setattr(ros_standin.Publisher, "publish", first_stalls)
    monkeypatch.setattr(worker_module.TwoStageWorker, "stop", no_wait_while_stalled)
    node = ros.make_node(EXTERNAL, EchoPipeline(), LIFECYCLE)
    assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
    send_frame(node, stamp_ns=1_000_000_000)
    assert publishing.wait(30)
    assert node.on_error(None) is results.SUCCESS and not node.publishers  # as rclpy calls it
    release.set()
    assert test_node.wait_until(lambda: not node._worker.alive)
    assert node.get_logger().messages("ERROR") == []
    snapshot = test_node.stats(node)
    assert (snapshot.received, snapshot.published, snapshot.dropped, snapshot.worker_errors) == (1, 0, 1, 0)
    (warning,) = [w for w in node.get_logger().messages("WARN") if "still busy" in w]
    assert "(publish stage)" in warning, warning
    node.destroy_node()


def test_a_deactivate_with_a_one_second_join_still_gives_the_remedy_for_a_frame_past_it(
    ros: Ros, monkeypatch: Any
) -> None:
    """A node whose stop waits 1 s (``worker_join_s``, set for a quick deactivate) deactivated with a frame stalled
    in the network: the node lives on, so the warning names the remedy. The stop took a join of EXIT_JOIN_S (1 s) for
    main ending the process and told it "it ends with the process", without the remedy: the exit was read from the
    join's length. Only main's own stop says so (test_node -k stalled_in_the_network_only_briefly)."""
    results = ros.fake["rclpy.lifecycle"].TransitionCallbackReturn
    computing, release, waits, blocked = _stalled_in_the_network(monkeypatch)
    node = ros.make_node(EXTERNAL, EchoPipeline(before=blocked), LIFECYCLE)
    node.worker_join_s = 1.0
    try:
        assert node.trigger_configure() is results.SUCCESS and node.trigger_activate() is results.SUCCESS
        send_frame(node, stamp_ns=1_000_000_000)
        assert computing.wait(30)
        assert node.trigger_deactivate() is results.SUCCESS and waits == [1.0], waits
        (warning,) = [w for w in node.get_logger().messages("WARN") if "still busy after 1 s (compute stage)" in w]
        assert "restart the node" in warning and "ends with the process" not in warning, warning
    finally:
        release.set()
    assert test_node.wait_until(lambda: not node._worker.alive)
    node.destroy_node()
