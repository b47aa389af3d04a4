"""An operator's actions on the live node while a camera streams real KITTI frames at 10 Hz: lifecycle transitions,
``ros2 param set`` of the run-time parameters, a camera_info of another size mid-stream, SIGINT / SIGTERM.

Invariants checked throughout: no traceback in the node's log, every service answered within a bound, every image
the node received accounted for in ``/diagnostics`` (published, dropped or a bad message with its reason).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, LaserScan, PointCloud2

from mono_depth_ros.config import PARAMS
from mono_depth_ros.core import ros_msgs
from test.kitti_bag import KittiFrame

from .harness import (
    NODE_FQN,
    RELIABLE,
    Collector,
    FrameStream,
    KittiFeeder,
    Launched,
    Probe,
    accounted,
    depth_array,
    graph_nodes,
    node_statuses,
    operating,
    param_value,
    ros2_cli,
    running,
    settled_status,
    started,
    wait_until,
    write_params,
)

ANSWER_S = 10.0  # the bound within which the node answers a service


def test_a_transition_the_state_does_not_offer_is_refused_and_the_node_answers_on(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A ChangeState request by id for a transition the current state does not have (activate while unconfigured,
    configure while active: a lifecycle manager out of step with the node) raised rclpy's RCLError "Transition is not
    registered" in the executor: the node died with a traceback. rclcpp answers success = false; so does the node,
    and it goes on in its state, publishing."""
    params = write_params(ros_logs / "wrong_transition.yaml", {"diagnostics.period_s": 0.25})
    launched = Launched({"device": "cpu", "lifecycle": "true", "params_file": str(params)}, ros_logs / "wrong_tr.log")
    with operating(probe, launched) as operated:
        operated.start_stream(kitti_frames)
        assert probe.lifecycle(NODE_FQN) == "unconfigured"
        with pytest.raises(AssertionError, match="transition activate failed"):
            probe.lifecycle(NODE_FQN, "activate", timeout_s=ANSWER_S)
        assert probe.lifecycle(NODE_FQN, timeout_s=ANSWER_S) == "unconfigured"
        assert probe.lifecycle(NODE_FQN, "configure") == "inactive"
        assert probe.lifecycle(NODE_FQN, "activate") == "active"
        depth = operated.collect(Image, "/depth/image")
        depth.wait_for(2, timeout_s=30)
        for wrong in ("configure", "cleanup", "unconfigured_shutdown"):
            with pytest.raises(AssertionError, match=f"transition {wrong} failed"):
                probe.lifecycle(NODE_FQN, wrong, timeout_s=ANSWER_S)
        assert probe.lifecycle(NODE_FQN, timeout_s=ANSWER_S) == "active"
        count = depth.count()
        depth.wait_for(count + 2, timeout_s=10)  # still publishing
        launched.said("transition configure (1) refused: the node is active; it offers: deactivate, shutdown")


def test_a_managed_node_without_its_lifecycle_services_is_made_and_driven_in_process(ros_context: None) -> None:
    """rclpy's ``LifecycleNode(enable_communication_interface=False)`` has no ``change_state`` service (a process
    that drives its nodes itself, with ``trigger_*``): the node's constructor wrapped a service that is not there and
    raised AttributeError ``'_service_change_state'``. Nothing to wrap then; the node is made and driven."""
    from rclpy.lifecycle import TransitionCallbackReturn

    from mono_depth_ros.node import MonoDepthLifecycleNode
    from mono_depth_ros.pipeline import DepthPipeline

    overrides = [Parameter("model.backend", value="external")]
    node = MonoDepthLifecycleNode(
        lambda config, logger: DepthPipeline(config, None),
        parameter_overrides=overrides,
        enable_communication_interface=False,
    )
    try:
        for trigger in (node.trigger_configure, node.trigger_activate, node.trigger_deactivate):
            assert trigger() == TransitionCallbackReturn.SUCCESS, trigger
        assert node._state_machine.current_state[1] == "inactive"
    finally:
        node.destroy_node()
        # rclpy's LifecycleNode.destroy_node leaves its state machine, and with it the node handle, to the garbage
        # collector: the node stayed in the graph as /mono_depth_node for the tests after (reported by the teardown)
        node._state_machine.destroy_when_not_in_use()


def status_after(diagnostics: Collector, after_ns: int, transition: str) -> dict[str, str]:
    """The node's last /diagnostics status that arrived after ``after_ns`` (monotonic), waited for up to 5 s."""

    def last_status() -> dict[str, str] | None:
        with diagnostics.lock:
            late = [msg for arrival, msg in diagnostics.items if arrival > after_ns]
        statuses = node_statuses(late)
        return statuses[-1] if statuses else None

    wait_until(lambda: last_status() is not None, 5, f"a /diagnostics status after {transition}")
    status = last_status()
    assert status is not None
    return status


@pytest.mark.parametrize(("leave", "left"), [("deactivate", "inactive"), ("active_shutdown", "finalized")])
def test_frames_in_flight_when_active_ends_are_in_a_last_diagnostics_status(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, leave: str, left: str
) -> None:
    """Deactivate while frames stream in: the frames published or dropped since the last periodic status were in
    no status (the timer goes with deactivate, and cleanup + configure start the counts anew): a supervisor saw
    images received and never published. A status is published at deactivate, in which every image adds up (the
    period, 60 s, is longer than the test: no other status comes); twice, with a cleanup between. Shutdown straight
    from active (``ros2 lifecycle set NODE shutdown``: allowed; Nav2's manager deactivates first) published none: it
    publishes one too."""
    params = write_params(ros_logs / f"{leave}_count.yaml", {"diagnostics.period_s": 60.0})
    launched = Launched({"device": "cpu", "lifecycle": "true", "params_file": str(params)}, ros_logs / f"{leave}.log")
    with operating(probe, launched) as operated:
        diagnostics = operated.collect(DiagnosticArray, "/diagnostics")
        depth = operated.collect(Image, "/depth/image")
        operated.start_stream(kitti_frames)
        for cycle in range(2 if leave == "deactivate" else 1):
            before = depth.count()  # the counts start anew at each configure
            assert probe.lifecycle(NODE_FQN, "configure") == "inactive"
            assert probe.lifecycle(NODE_FQN, "activate") == "active"
            depth.wait_for(depth.count() + 4, timeout_s=30)
            ended = time.monotonic_ns()  # the status comes before the transition's answer
            assert probe.lifecycle(NODE_FQN, leave, timeout_s=ANSWER_S) == left
            published = depth.count() - before
            status = status_after(diagnostics, ended, f"{leave} ({cycle})")
            assert accounted(status) and int(status["frames_published"]) >= published >= 4, (status, published)
            if left == "inactive":
                assert probe.lifecycle(NODE_FQN, "cleanup", timeout_s=ANSWER_S) == "unconfigured"


CHANGES: dict[str, tuple[Any, Any]] = {  # every run-time parameter: (a valid value, then an invalid one)
    "scale.mode": ("ground_plane", "magic"), "scale.fixed_scale": (2.0, 0.0), "scale.camera_height_m": (1.65, -1.0),
    "scale.camera_pitch_rad": (0.05, 3.0), "scale.min_points": (50, 1), "output.min_range": (1.0, 2000.0),
    "output.max_range": (30.0, 0.5), "output.outlier_filter": (True, 1), "output.outlier_tolerance": (0.1, 0.95),
    "output.edge_filter": (False, 0), "output.edge_threshold": (0.2, 0.0), "output.device_postprocess": ("on", "yes"),
    "temporal.agreement": (0.1, 0.0), "temporal.max_weight": (4.0, 0.5), "cloud.enabled": (False, 1),
    "cloud.mode": ("strided", "sparse"), "cloud.stride": (8, 0), "cloud.voxel_size": (0.5, 0.0),
    "cloud.rgb": (True, 1), "cloud.clearing": (True, 1), "cloud.clearing_range": (4.0, 0.0),
    "cloud.clearing_stride": (4, 100), "scan.enabled": (True, 1), "scan.band_rows": (4, 0),
    "scan.frame_id": ("camera_link", "/camera_link"), "lidar.wait_s": (0.5, 6.0), "image_significant_bits": (12, 17),
}  # fmt: skip


def set_parameter(probe: Probe, name: str, value: Any) -> tuple[bool, str]:
    """``ros2 param set`` through the node's set_parameters service (what the CLI calls; without its 1 s start)."""
    client = probe.node.create_client(SetParameters, f"{NODE_FQN}/set_parameters")
    try:
        assert client.wait_for_service(timeout_sec=ANSWER_S)
        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        future = client.call_async(request)
        wait_until(future.done, ANSWER_S, f"set_parameters {name}")
        (result,) = future.result().results
        return bool(result.successful), str(result.reason)
    finally:
        probe.node.destroy_client(client)


def described_and_held_types(probe: Probe, names: list[str]) -> dict[str, tuple[int, int]]:
    """``ros2 param describe``'s type and the type of the value held (``ros2 param get``), per parameter."""
    described = probe.node.create_client(DescribeParameters, f"{NODE_FQN}/describe_parameters")
    held = probe.node.create_client(GetParameters, f"{NODE_FQN}/get_parameters")
    try:
        answers = []
        for client, kind in ((described, DescribeParameters), (held, GetParameters)):
            assert client.wait_for_service(timeout_sec=ANSWER_S)
            future = client.call_async(kind.Request(names=names))
            wait_until(future.done, ANSWER_S, kind.__name__)
            answers.append(future.result())
        pairs = zip(names, answers[0].descriptors, answers[1].values, strict=True)
        return {name: (int(descriptor.type), int(value.type)) for name, descriptor, value in pairs}
    finally:
        probe.node.destroy_client(described)
        probe.node.destroy_client(held)


def test_an_integer_for_a_float_parameter_is_held_as_a_double_from_the_params_file_and_ros2_param_set(
    probe: Probe, ros_logs: Path
) -> None:
    """``ros2 param set /mono_depth_node output.max_range 30`` (the CLI reads 30 as an integer) was taken and held
    as an INTEGER: ``ros2 param get`` said "Integer value is: 30", ``ros2 param describe`` "Type: integer" (what
    rqt_reconfigure picks its editor by), and so did ``max_range: 70`` in a params file. A float parameter now holds
    a double whatever number it is given: "Double value is: 30.0", and 30.5 after it is taken as before."""
    double = ParameterType.PARAMETER_DOUBLE
    params = write_params(ros_logs / "integers.yaml", {"output.max_range": 70, "scale.camera_height_m": 2})
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "integers.log")
    with running(launched, probe):
        launched.wait_ready(probe)
        names = ["output.max_range", "scale.camera_height_m"]
        assert described_and_held_types(probe, names) == dict.fromkeys(names, (double, double))
        assert param_value(NODE_FQN, "scale.camera_height_m") == "2.0"
        assert set_parameter(probe, "output.max_range", 30) == (True, "")
        assert described_and_held_types(probe, ["output.max_range"]) == {"output.max_range": (double, double)}
        assert param_value(NODE_FQN, "output.max_range") == "30.0"  # ros2 param get
        set_by_cli = ros2_cli("param", "set", NODE_FQN, "output.max_range", "40").stdout  # the CLI's own parsing
        assert "Set parameter successful" in set_by_cli and param_value(NODE_FQN, "output.max_range") == "40.0"
        assert set_parameter(probe, "output.max_range", 30.5) == (True, "")
        assert param_value(NODE_FQN, "output.max_range") == "30.5"
        refused, reason = set_parameter(probe, "output.max_range", "30")  # a string stays refused, naming the value
        assert not refused and "output.max_range='30' is not a valid float" in reason, reason
        assert param_value(NODE_FQN, "output.max_range") == "30.5"


def test_every_run_time_parameter_changes_mid_stream_and_a_wrong_value_is_refused_by_name(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """Each parameter docs/ros2_node.md calls changeable, set while frames flow: a valid value is taken and shows in
    the outputs, a wrong one is refused naming the parameter and the value (a bool or int given another type got
    rclpy's "Wrong parameter type, expected 'Type.BOOL' got 'Type.INTEGER'", which names neither: ``ros2 param set
    NODE cloud.rgb 1``), and the valid value stays. No frame is lost on the way, no worker error."""
    assert set(CHANGES) == {spec.name for spec in PARAMS if spec.dynamic}  # the table: no parameter left out
    params = write_params(ros_logs / "changes.yaml", {"diagnostics.period_s": 0.25})
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "changes.log")
    with operating(probe, launched) as operated:
        launched.wait_ready(probe)
        outputs = {topic: operated.collect(kind, topic) for kind, topic in (
            (Image, "/depth/image"), (PointCloud2, "/depth/points"), (LaserScan, "/depth/scan"),
            (PointCloud2, "/depth/points_clearing"), (DiagnosticArray, "/diagnostics"))}  # fmt: skip
        stream = operated.start_stream(kitti_frames)
        outputs["/depth/image"].wait_for(2, timeout_s=30)
        refusals = {}
        for name, (valid, invalid) in CHANGES.items():
            assert set_parameter(probe, name, valid) == (True, ""), name
            refusals[name] = set_parameter(probe, name, invalid)
        named = {name: not ok and name in why and str(CHANGES[name][1]) in why for name, (ok, why) in refusals.items()}
        assert all(named.values()), {name: refusals[name] for name, good in named.items() if not good}
        types = described_and_held_types(probe, list(CHANGES))  # rclpy had typed them as the refused values
        assert all(kinds[0] == kinds[1] for kinds in types.values()), types
        points_before = outputs["/depth/points"].count()
        time.sleep(1.0)  # frames under the new values
        assert outputs["/depth/points"].count() <= points_before + 1  # cloud.enabled false (one may be in flight)
        assert set_parameter(probe, "cloud.enabled", True) == (True, "")
        depth = outputs["/depth/image"].wait_for(outputs["/depth/image"].count() + 3, timeout_s=10)[-1]
        metres = depth_array(depth)
        finite = metres[np.isfinite(metres)]
        assert finite.size and finite.min() >= 1.0 and finite.max() <= 30.0  # output.min_range, output.max_range
        cloud = outputs["/depth/points"].wait_for(points_before + 1, timeout_s=10)[-1]
        assert cloud.height == 1 and cloud.point_step == 32  # strided, rgb
        scan = outputs["/depth/scan"].wait_for(1, timeout_s=10)[-1]
        assert scan.header.frame_id == "camera_link" and outputs["/depth/points_clearing"].count() > 0
        stream.stop()
        time.sleep(1.0)  # the frames sent reach the node
        status = settled_status(outputs["/diagnostics"], probe.now_ns())  # and their outcomes are counted
        assert accounted(status) and status["worker_errors"] == "0" and status["scale_mode"] == "ground_plane", status
        assert int(status["frames_published"]) >= stream.sent - 2, (status, stream.sent)  # best effort: ~all


WRONG_TYPES: dict[str, Any] = {  # start-up parameters of each static type, each given another type
    "image_is_rectified": 1, "model.compile": 1, "sync.queue_size": "ten", "model.threads": 2.5,
    "output.downscale": True, "image_topic": 5, "device": False,
}  # fmt: skip


def test_an_unconfigured_managed_node_refuses_a_wrong_type_by_name(probe: Probe, ros_logs: Path) -> None:
    """The managed node's start-up parameters, which can be set while it is unconfigured, were statically typed:
    ``ros2 param set NODE image_is_rectified 1`` got rclpy's "Wrong parameter type, expected 'Type.BOOL' got
    'Type.INTEGER'", naming neither the parameter nor the value (the plain node and the configured managed node name
    both). Refused by name and value now, the described type kept. A params file's wrong type (``model.threads:
    two``), taken at start-up as dynamically typed, fails configure naming it; set right, configure runs with it."""
    params = write_params(ros_logs / "wrong_type.yaml", {"model.threads": "two"})
    launched = Launched({"device": "cpu", "lifecycle": "true", "params_file": str(params)}, ros_logs / "types.log")
    with operating(probe, launched):
        assert probe.lifecycle(NODE_FQN, timeout_s=30) == "unconfigured"
        refusals = {name: set_parameter(probe, name, value) for name, value in WRONG_TYPES.items()}
        named = {name: not ok and name in why and str(WRONG_TYPES[name]) in why for name, (ok, why) in refusals.items()}
        assert all(named.values()), {name: refusals[name] for name, good in named.items() if not good}
        types = described_and_held_types(probe, [name for name in WRONG_TYPES if name != "model.threads"])
        assert all(kinds[0] == kinds[1] for kinds in types.values()), types
        with pytest.raises(AssertionError, match="transition configure failed"):
            probe.lifecycle(NODE_FQN, "configure", timeout_s=ANSWER_S)
        launched.said("configure failed: ConfigError: parameter model.threads")
        assert set_parameter(probe, "model.threads", 1) == (True, "")
        assert probe.lifecycle(NODE_FQN, "configure") == "inactive"


def half_size(image: Any, info: Any) -> tuple[Any, Any]:
    """The camera switched to half resolution: every second pixel, and camera_info's K and P for it."""
    rows = np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.step)
    rgb = np.ascontiguousarray(rows[::2, : image.width * 3].reshape(-1, image.width, 3)[:, ::2])
    image.height, image.width, image.step = rgb.shape[0], rgb.shape[1], rgb.shape[1] * 3
    image.data = rgb.tobytes()
    info.height, info.width = rgb.shape[:2]
    k, p = np.array(info.k).reshape(3, 3), np.array(info.p).reshape(3, 4)
    for matrix in (k, p):  # pixel centres: u' = (u + 0.5) / 2 - 0.5
        matrix[:2] /= 2.0
        matrix[:2, 2] -= 0.25
    info.k, info.p = k.ravel().tolist(), p.ravel().tolist()
    return image, info


def test_a_camera_info_of_another_size_mid_stream_and_back_is_followed_frame_by_frame(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """The camera changes resolution while streaming (a driver reconfigured), then back: each depth image has the
    size of its own camera_info, the new size within a few frames, nothing refused or lost. The camera streams
    from when the node's image and camera_info subscriptions are both matched, reliably (``input_qos: reliable``):
    it streamed best effort as soon as the image subscription was seen, and under load the first image reached
    the node while its camera_info, sent before the camera_info reader had matched, did not (the node's log:
    "image stamped ...041.680 s not paired", the stream's first frame): one ``no_camera_info`` in 3 runs of 23,
    no fault of the node's, which bad_messages == 0 cannot tell from one at a change of size."""
    params = write_params(ros_logs / "resize.yaml", {"diagnostics.period_s": 0.25, "input_qos": "reliable"})
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "resize.log")
    with operating(probe, launched) as operated:
        launched.wait_ready(probe)
        depth = operated.collect(Image, "/depth/image")
        infos = operated.collect(CameraInfo, "/depth/camera_info")
        diagnostics = operated.collect(DiagnosticArray, "/diagnostics")
        stream = operated.start_stream(kitti_frames, reliable=True)
        depth.wait_for(2, timeout_s=30)
        # output.downscale auto: 1242 px wide at 1/3 (414 px), 621 px at 1/1 (a third is below the network's input)
        for reshape in (half_size, None, half_size, None):
            stream.reshape, seen = reshape, depth.count()
            wait_until(lambda: depth.count() >= seen + 3, 10, f"depth after {reshape}")  # noqa: B023
            assert (depth.messages[-1].width > 500) is (reshape is not None), depth.messages[-1].width
        stream.stop()
        time.sleep(1.0)
        by_stamp = infos.by_stamp()
        for image in depth.messages:  # depth and its camera_info agree, frame by frame
            info = by_stamp[ros_msgs.stamp_to_ns(image.header.stamp)]
            assert (info.height, info.width) == (image.height, image.width)
        status = settled_status(diagnostics, probe.now_ns())  # every frame sent counted (the worker may be on one)
        counts = {k: v for k, v in status.items() if k.startswith(("frames_", "bad_", "worker_", "images_"))}
        assert accounted(status) and status["bad_messages"] == "0" and status["worker_errors"] == "0", counts


def recalibrated(image: Any, info: Any) -> tuple[Any, Any]:
    """The camera recalibrated (camera_calibration's new K, P written by the driver after a restart): focal lengths
    25 % longer, the same image size."""
    k, p = np.array(info.k).reshape(3, 3), np.array(info.p).reshape(3, 4)
    k[0, 0] *= 1.25
    k[1, 1] *= 1.25
    p[0, 0] *= 1.25
    p[1, 1] *= 1.25
    info.k, info.p = k.ravel().tolist(), p.ravel().tolist()
    return image, info


def test_a_recalibrated_camera_gets_the_ground_plane_scale_of_its_new_calibration_at_once(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """``scale.mode: ground_plane`` while one real KITTI scene streams; the camera_info changes to a new calibration
    (focal lengths 25 % longer, the same size). The ground-plane scale is a function of the calibration (the plane's
    height is measured through K): under the new one a fresh node measures 1.25 times the old scale. The first depth
    image published with the new camera_info must carry it; the node kept the old calibration's scale in its filter
    and gated the new one out (seen: the first two frames after the change at the old scale, 20 % short, with
    'ground-plane scale 1.648 gated out (3.7σ)'), nothing counted. Every image accounted for."""
    params = write_params(ros_logs / "recalibrated.yaml", {"diagnostics.period_s": 0.25, "input_qos": "reliable",
                          "scale.mode": "ground_plane"})  # fmt: skip
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "recalibrated.log")
    with operating(probe, launched) as operated:
        launched.wait_ready(probe)
        depth = operated.collect(Image, "/depth/image")
        infos = operated.collect(CameraInfo, "/depth/camera_info")
        diagnostics = operated.collect(DiagnosticArray, "/diagnostics")
        stream = operated.start_stream(kitti_frames[:1], reliable=True)  # one scene: the scale stays
        depth.wait_for(5, timeout_s=30)
        stream.reshape, seen = recalibrated, depth.count()
        wait_until(lambda: depth.count() >= seen + 4, 15, "depth under the new calibration")
        stream.stop()
        time.sleep(1.0)
        by_stamp = infos.by_stamp()
        focal = {ros_msgs.stamp_to_ns(image.header.stamp): by_stamp[ros_msgs.stamp_to_ns(image.header.stamp)].k[0]
                 for image in depth.messages}  # fmt: skip
        old_fx, new_fx = min(focal.values()), max(focal.values())
        assert new_fx == pytest.approx(1.25 * old_fx, rel=1e-3), (old_fx, new_fx)  # camera_info follows at once
        medians = {ros_msgs.stamp_to_ns(image.header.stamp): float(np.nanmedian(depth_array(image)))
                   for image in depth.messages}  # fmt: skip
        stamps = sorted(medians)
        first_new = next(i for i, stamp in enumerate(stamps) if focal[stamp] == new_fx)
        ratios = [medians[stamp] / medians[stamps[first_new - 1]] for stamp in stamps[first_new:]]
        assert all(ratio == pytest.approx(1.25, rel=0.03) for ratio in ratios), ratios
        status = settled_status(diagnostics, probe.now_ns())  # every frame sent counted (the worker may be on one)
        assert accounted(status) and status["bad_messages"] == "0" and status["worker_errors"] == "0", status


def node_executable(name: str) -> list[str]:
    """The installed console script (a signal to ``ros2 run``, a wrapper, kills the wrapper only)."""
    prefix = subprocess.run(["ros2", "pkg", "prefix", "mono_depth_ros"], capture_output=True, text=True, check=True)
    return [f"{prefix.stdout.strip()}/lib/mono_depth_ros/{name}", "--ros-args", "-p", "device:=cpu"]


def configure_unanswered(probe: Probe) -> None:
    """Ask for configure; the node is ended by a signal before it answers (a late answer is no failure either)."""
    with contextlib.suppress(AssertionError):
        probe.lifecycle(NODE_FQN, "configure", timeout_s=10)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_configure_or_a_frame_ends_the_node_at_once_and_cleanly(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, sig: signal.Signals
) -> None:
    """SIGINT / SIGTERM to the managed node while configure loads the model (at three moments: torch's import is
    one of them), and to the node while frames are in its worker: exit 0 within 5 s, no traceback. A signal in
    torch's import (its native init runs Python modules from C++) raised the load guard's KeyboardInterrupt through
    pybind11: "terminate called after throwing an instance of 'pybind11::error_already_set'", SIGABRT (exit -6)."""
    stream = FrameStream(KittiFeeder(probe, kitti_frames))
    try:
        for name, moment in [("mono_depth_lifecycle_node", delay) for delay in (0.3, 0.6, 1.0)] + [
            ("mono_depth_node", "frames")
        ]:
            log_path = ros_logs / f"signal_{sig.name}_{moment}.log"
            with open(log_path, "wb") as log:
                command = node_executable(name)
                process = started(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True), command)  # fmt: skip
                try:
                    if isinstance(moment, float):
                        assert probe.lifecycle(NODE_FQN, timeout_s=30) == "unconfigured"
                        threading.Thread(target=configure_unanswered, args=(probe,), daemon=True).start()
                        time.sleep(moment)  # within the model load (about 4 s on a 2-core computer)
                    else:
                        depth = probe.collect(Image, "/depth/image", RELIABLE)
                        depth.wait_for(2, timeout_s=30)
                        probe.drop(depth)
                    process.send_signal(sig)
                    code = process.wait(5.0)
                finally:
                    if process.poll() is None:
                        process.kill()
            text = log_path.read_text(errors="replace")
            assert code == 0 and "Traceback" not in text and "terminate" not in text, (moment, code, text[-3000:])
            wait_until(lambda: probe.node.count_publishers("/diagnostics") == 0, 10, "the node gone from the graph")
    finally:
        stream.stop()


SLOW_TORCH_SITE = """
import importlib.abc, pathlib, sys, time


class SlowTorch(importlib.abc.MetaPathFinder):  # torch's import as on a loaded computer: 15-18 s at load 11
    def find_spec(self, fullname, path, target=None):
        if fullname == "torch":
            sys.meta_path.remove(self)
            pathlib.Path({marker!r}).touch()
            time.sleep(20.0)
        return None


sys.meta_path.insert(0, SlowTorch())
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_a_slow_torch_import_in_configure_ends_the_node_at_once(
    probe: Probe, ros_logs: Path, sig: signal.Signals
) -> None:
    """The managed node's configure imports torch (the inference engine); on a loaded 2-core computer (load 11) that
    took 15-18 s, and the node held SIGINT / SIGTERM until the import was in (a signal inside torch's native init had
    aborted it): it exited 1.8-12.8 s after the signal (load 9-10), past ``ros2 launch``'s 5 s before it escalates
    (and this file's signal test failed under load). Here a ``sitecustomize`` makes the import 20 s long (a load made
    to order): the signal in it ends the node within 5 s, exit 0, no traceback; the import is not interrupted (no
    SIGABRT)."""
    site, marker = ros_logs / f"slow_torch_{sig.name}", ros_logs / f"slow_torch_{sig.name}.started"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_TORCH_SITE.format(marker=str(marker)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    log_path = ros_logs / f"slow_torch_{sig.name}.log"
    with open(log_path, "wb") as log:
        command = node_executable("mono_depth_lifecycle_node")
        process = started(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                           start_new_session=True), command)  # fmt: skip
        try:
            assert probe.lifecycle(NODE_FQN, timeout_s=30) == "unconfigured"
            threading.Thread(target=configure_unanswered, args=(probe,), daemon=True).start()
            wait_until(marker.exists, 30, "configure in torch's import")
            process.send_signal(sig)
            code = process.wait(5.0)
        finally:
            if process.poll() is None:
                process.kill()
    text = log_path.read_text(errors="replace")
    assert code == 0 and "Traceback" not in text and "terminate" not in text, (code, text[-3000:])
    wait_until(lambda: probe.node.count_publishers("/diagnostics") == 0, 10, "the node gone from the graph")


STOP_BEFORE_RCLPY_SCRIPT = """
import rclpy
from rclpy.node import Node
from mono_depth_ros import node as node_module


class InterruptedInConfigure(Node):
    load_guard = None

    def __init__(self):
        super().__init__("interrupted_in_configure")
        self.create_timer(0.2, self.configure)

    def configure(self):  # the load guard's KeyboardInterrupt, before rclpy's signal thread shut the context down
        raise KeyboardInterrupt


node_module.main(None, InterruptedInConfigure)
"""


def test_a_stop_that_ends_spin_before_rclpy_shut_the_context_down_is_finalised_cleanly() -> None:
    """A signal during a managed node's configure raises the load guard's KeyboardInterrupt in the main thread while
    rclpy's own handler shuts the context down from its signal thread: under load main came first, so
    ``rclpy.try_shutdown`` shut the context down itself, its on_shutdown dropped rclpy's global executor, and the
    finaliser's ``get_global_executor()`` built a new one on the new, uninitialised default context: "finalising
    before the exit failed (TypeError: 'NoneType' object does not support the context manager protocol)" and the
    executor's ``__del__`` traceback (``_sigint_gc``), the context never destroyed (seen twice in
    ``test_a_signal_during_configure_or_a_frame_ends_the_node_at_once_and_cleanly``). Forced here: spin ends in a
    KeyboardInterrupt with the context up."""
    done = subprocess.run([sys.executable, "-c", STOP_BEFORE_RCLPY_SCRIPT], capture_output=True, text=True, timeout=60)
    text = done.stdout + done.stderr
    assert done.returncode == 0 and "finalising before the exit failed" not in text and "Traceback" not in text, text


LOST_RACE_SCRIPT = """
import signal, sys, threading, time
import rclpy
from mono_depth_ros import node as node_module


class LostRace(node_module.MonoDepthLifecycleNode):
    def __init__(self):
        super().__init__()
        threading.Thread(target=self.after_shutdown, daemon=True).start()

    def after_shutdown(self):  # rclpy's signal thread on SIGINT, lost by it: the order that left the node running
        while self._state_machine.current_state[1] != "finalized":
            time.sleep(0.05)
        time.sleep(0.5)  # main waits in spin, nothing left to wake it
        # 1. the guard conditions triggered: main woke, ran the node's handler (the stop flag) and found the context
        #    up: it waits again (the wake-up is what rclpy does; the handler is called here as main would)
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
        # 2. then the context shut down from C, as rclpy's signal thread does it: rcl_shutdown, no Python callback
        context = rclpy.get_default_context()
        with context.handle:
            context.handle.shutdown()
        print("context shut down", flush=True)


sys.argv[1:] = ["--ros-args", "-p", "device:=cpu"]
node_module.main(None, LostRace)
"""


def test_ctrl_c_ends_a_managed_node_after_its_shutdown_transition_when_rclpy_s_thread_shuts_the_context_late(
    probe: Probe, ros_logs: Path
) -> None:
    """On SIGINT / SIGTERM rclpy's signal thread (Humble) triggers the executors' guard conditions, then shuts the
    context down. A main thread woken in between found the context up and waited again; a managed node after its
    shutdown transition has no timer or subscription left to wake it: Ctrl-C left it running, ``ros2 launch`` did
    not exit (3 of 16 real runs of configure, activate, frames, shutdown, SIGINT). Forced here in that order: the
    node's stop handler has run and the context is shut down from C while spin waits: the node exits 0 within 5 s
    (it waited for good)."""
    log_path = ros_logs / "lost_race.log"
    with open(log_path, "wb") as log:
        command = [sys.executable, "-c", LOST_RACE_SCRIPT]
        process = started(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True), command)  # fmt: skip
        try:
            assert probe.lifecycle(NODE_FQN, timeout_s=60) == "unconfigured"
            assert probe.lifecycle(NODE_FQN, "configure", timeout_s=60) == "inactive"
            assert probe.lifecycle(NODE_FQN, "activate") == "active"
            assert probe.lifecycle(NODE_FQN, "active_shutdown") == "finalized"
            wait_until(lambda: "context shut down" in log_path.read_text(errors="replace"), 10, "the lost race")
            try:
                code: int | None = process.wait(5.0)
            except subprocess.TimeoutExpired:
                code = None  # still running 5 s later: it waits in spin for good
        finally:
            if process.poll() is None:
                process.kill()
    text = log_path.read_text(errors="replace")
    assert code == 0 and "Traceback" not in text, (code, text[-3000:])
    wait_until(lambda: NODE_FQN not in graph_nodes(probe), 10, "the node gone from the graph")


def test_a_pitch_in_degrees_at_start_up_is_refused_in_radians_by_the_real_node(ros_context: None) -> None:
    """``scale.camera_pitch_rad: 5.0`` (a camera tilted 5° down, written in degrees) given to the real node: rclpy's
    declared range refuses the float before any check of ours ('out of range. Min: -1.6, Max: 1.6, value: 5.0'); the
    node's ConfigError names the parameter, rclpy's reason and now the unit (radians, the factor from degrees)."""
    from mono_depth_ros.core.errors import ConfigError
    from mono_depth_ros.node import MonoDepthNode
    from mono_depth_ros.pipeline import DepthPipeline

    overrides = [Parameter("model.backend", value="external"), Parameter("scale.camera_pitch_rad", value=5.0)]
    with pytest.raises(ConfigError) as refused:
        MonoDepthNode(lambda config, logger: DepthPipeline(config, None), parameter_overrides=overrides)
    text = str(refused.value)
    assert text.startswith("parameter scale.camera_pitch_rad: ") and "value: 5.0" in text, text
    assert "it is in radians: a value in degrees times 0.01745" in text, text
    assert "('" not in text and "quote strings" not in text, text  # rclpy's text, not its args' tuple; no YAML remedy


@pytest.mark.parametrize(
    ("name", "value"), [("scale.camera_pitch_rad", 5.0), ("output.min_range", 90.0)], ids=["declare", "configure"]
)
def test_a_node_that_cannot_start_is_destroyed_before_its_error_reaches_the_caller(
    probe: Probe, name: str, value: float
) -> None:
    """A bad parameter at start-up (refused by rclpy's declared range, or by the config's check once every parameter
    is read): the exception's traceback holds the constructor's frame and the node, whose rcl node, parameter
    services and publishers stayed, and the node in the graph as /mono_depth_node, until the garbage collector met
    the cycle. The node is destroyed before the error goes on."""
    import gc
    import traceback

    from mono_depth_ros.core.errors import ConfigError
    from mono_depth_ros.node import MonoDepthNode
    from mono_depth_ros.pipeline import DepthPipeline

    known = graph_nodes(probe)
    overrides = [Parameter("model.backend", value="external"), Parameter(name, value=value)]
    gc.disable()  # no collection of the cycle while the error is held
    try:
        with pytest.raises(ConfigError, match=name) as refused:
            MonoDepthNode(lambda config, logger: DepthPipeline(config, None), parameter_overrides=overrides)
        frames = [frame.f_locals.get("self") for frame, _ in traceback.walk_tb(refused.tb)]
        node = next(held for held in frames if isinstance(held, MonoDepthNode))  # what the traceback holds
        deadline, seen = time.monotonic() + 2.0, set()
        while time.monotonic() < deadline and not seen:  # a node held alive shows in the graph within milliseconds
            seen = graph_nodes(probe) - known
            time.sleep(0.05)
        assert not seen, seen
        assert [*node.publishers, *node.services, *node.timers, *node.subscriptions] == []
    finally:
        gc.enable()


def test_ros2_run_with_a_bad_parameter_exits_1_naming_the_values_and_the_remedy() -> None:
    """``ros2 run`` of the node with ``output.min_range`` above ``output.max_range``: one fatal line naming both
    values and what to do, exit code 1, no traceback."""
    command = ["ros2", "run", "mono_depth_ros", "mono_depth_node", "--ros-args", "-p", "model.backend:=external"]
    command += ["-p", "output.min_range:=90.0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    said = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in said, said[-3000:]
    assert "cannot start: output.min_range (90.0) must be below output.max_range (80.0)" in said, said[-3000:]
    assert "set both at once" in said, said[-3000:]


class TwelveBitCamera(KittiFeeder):
    """KITTI frames as a 12-bit camera's driver publishes them: rgb16, the sensor's values right-aligned (0..4095)."""

    def image_msgs(self, index: int, stamp_ns: int) -> tuple[Any, Any]:
        image, info = super().image_msgs(index, stamp_ns)
        rgb = self.frames[index % len(self.frames)].rgb
        twelve = np.rint(rgb.astype(np.float64) * (4095.0 / 255.0)).astype(np.uint16)
        return ros_msgs.image_from_array(self.probe.factory, twelve, "rgb16", image.header), info


def test_a_12_bit_camera_is_warned_naming_image_significant_bits_and_counted_until_it_is_set(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A 12-bit camera's rgb16 (0..4095) reached the network 16x too dark (cv_bridge's 255 / 65535) without a word.
    The launched node, after its watched frames, warns naming ``image_significant_bits: 12`` and counts each later
    frame in ``frames_high_bits_unused`` (WARN; not in ``inputs_unused``, where it was counted as
    ``inputs_unused.image.high_bits_unused``: the frames are published); ``ros2 param set`` to 12 stops the counting."""
    from mono_depth_ros.adapters.input_bits import DIM_KEY, WATCH_FRAMES

    params = write_params(ros_logs / "twelve_bit.yaml", {"diagnostics.period_s": 0.25, "input_qos": "reliable"})
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "twelve_bit.log")
    with operating(probe, launched) as operated:
        launched.wait_ready(probe)
        depth, diagnostics = operated.collect(Image, "/depth/image"), operated.collect(DiagnosticArray, "/diagnostics")
        camera = TwelveBitCamera(probe, kitti_frames, qos=RELIABLE)
        camera.wait_connected(lidar=False)

        def one_frame_at_a_time(count: int) -> None:
            for _ in range(count):
                published = depth.count()
                camera.publish_image(published, probe.now_ns())
                depth.wait_for(published + 1, timeout_s=30)

        def counted() -> dict[str, str]:
            status = settled_status(diagnostics, probe.now_ns())  # counts the last frame (its depth goes before that)
            assert status["inputs_unused"] == "0" and not [k for k in status if k.startswith("inputs_unused.")]
            return status

        one_frame_at_a_time(WATCH_FRAMES + 2)
        wait_until(lambda: "needs image_significant_bits: 12" in launched.log, 10, "the warning")
        assert DIM_KEY in launched.log and "16x too dark" in launched.log, launched.log[-3000:]
        status = counted()
        before = int(status[DIM_KEY])
        assert before >= 3, status  # the deciding frame and the two after it
        assert status["_level"] == "1" and DIM_KEY in status["_message"], status  # WARN while it is counted
        assert set_parameter(probe, "image_significant_bits", 12) == (True, "")
        one_frame_at_a_time(3)
        status = counted()
        assert int(status[DIM_KEY]) == before, status


@pytest.mark.parametrize("stage", ["compute", "publish"])
def test_a_shutdown_with_a_frame_past_the_stop_abandons_it_without_a_bug_or_a_second_wait(
    ros_context: None, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    """``trigger_shutdown`` (as ``ros2 lifecycle set NODE shutdown``) on the real rclpy while a frame runs past the
    stop's 5 s, in the network (``compute``) or inside a ``publish`` (``publish``): the shutdown destroys the real
    publishers and drops the model under it. The frame is abandoned: counted dropped (at the stop, or when its next
    publish meets the destroyed publisher: rclpy's InvalidHandle), no worker error, destroy_node does not join it
    again (it waited another 5 s)."""
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.publisher import Publisher as RclpyPublisher

    from mono_depth_ros.adapters import worker as worker_module
    from mono_depth_ros.core.camera import PinholeIntrinsics
    from mono_depth_ros.node import MonoDepthLifecycleNode, _Frame
    from mono_depth_ros.pipeline import DepthPipeline

    from .harness import rclpy_factory

    held, release, waits = threading.Event(), threading.Event(), []
    stop, publish = worker_module.TwoStageWorker.stop, RclpyPublisher.publish

    def recorded(self: Any, timeout_s: float = 5.0) -> bool:
        waits.append(timeout_s)
        return stop(self, timeout_s)

    def first_stalls(self: Any, msg: Any) -> None:  # the worker's first message waits inside publish
        if stage == "publish" and threading.current_thread().name.endswith("_publish") and not held.is_set():
            held.set()
            assert release.wait(60)
        publish(self, msg)

    class Slow:  # the network past the stop (a GPU stalled, a CPU overloaded)
        def __init__(self, config: Any) -> None:
            self.pipeline = DepthPipeline(config, None)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.pipeline, name)

        def process_frame(self, frame: Any) -> Any:
            if stage == "compute":
                held.set()
                assert release.wait(60)
            return self.pipeline.process_frame(frame)

    monkeypatch.setattr(worker_module.TwoStageWorker, "stop", recorded)
    monkeypatch.setattr(RclpyPublisher, "publish", first_stalls)
    node = MonoDepthLifecycleNode(
        lambda config, logger: Slow(config), parameter_overrides=[Parameter("model.backend", value="external")]
    )
    destroyed = False
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        factory, stamp_ns = rclpy_factory(), 1_000_000_000
        header = ros_msgs.make_header(factory, stamp_ns, "camera")
        rgb = np.zeros((24, 32, 3), np.uint8)
        info = PinholeIntrinsics(fx=40.0, fy=40.0, cx=15.5, cy=11.5, width=32, height=24)
        node._hand_off(
            _Frame(
                ros_msgs.image_from_array(factory, rgb, "rgb8", header),
                ros_msgs.camera_info_from_intrinsics(factory, info, header),
                ros_msgs.depth_image_from_metres(factory, np.full((24, 32), 5.0, np.float32), "32FC1", header),
            )
        )
        assert held.wait(30)
        assert node.trigger_shutdown() == TransitionCallbackReturn.SUCCESS
        assert node._worker.abandoned == (stage,) and not hasattr(node, "_pipeline")
        node.destroy_node()
        destroyed = True
        release.set()
        wait_until(lambda: not node._worker.alive, 30, "the abandoned frame's threads to end")
        snapshot = node._stats.snapshot()
        assert (snapshot.published, snapshot.dropped, snapshot.worker_errors) == (0, 1, 0), snapshot
        assert waits == [5.0, 0.0], waits  # no second join
    finally:
        release.set()
        if not destroyed:
            node.destroy_node()
        node._state_machine.destroy_when_not_in_use()


SLOW_FRAME_SCRIPT = """
import pathlib, sys, time
import numpy as np
from rclpy.parameter import Parameter
from mono_depth_ros import node as node_module
from mono_depth_ros.core import ros_msgs
from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.pipeline import DepthPipeline


class Slow:  # a network stalled for 60 s (a GPU hung, a CPU overloaded)
    def __init__(self, config):
        self.pipeline = DepthPipeline(config, None)

    def __getattr__(self, name):
        return getattr(self.pipeline, name)

    def process_frame(self, frame):
        pathlib.Path(sys.argv[1]).touch()
        time.sleep(60.0)
        return self.pipeline.process_frame(frame)


class SlowNode(node_module.MonoDepthNode):
    def __init__(self):
        external = [Parameter("model.backend", value="external")]
        super().__init__(lambda config, logger: Slow(config), parameter_overrides=external)
        factory, rgb = node_module.message_factory(), np.zeros((24, 32, 3), np.uint8)
        header = ros_msgs.make_header(factory, 1_000_000_000, "camera")
        camera = PinholeIntrinsics(fx=40.0, fy=40.0, cx=15.5, cy=11.5, width=32, height=24)
        depth = np.full((24, 32), 5.0, np.float32)
        self._hand_off(node_module._Frame(ros_msgs.image_from_array(factory, rgb, "rgb8", header),
                                          ros_msgs.camera_info_from_intrinsics(factory, camera, header),
                                          ros_msgs.depth_image_from_metres(factory, depth, "32FC1", header)))


node_module.main(None, SlowNode)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_a_frame_is_stalled_in_the_network_ends_the_node_within_launch_s_grace(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """A signal (``ros2 launch``'s SIGINT, systemd's SIGTERM) while a frame is stalled in the network: the node's
    ``main`` joined the worker for the lifecycle's 5 s, the whole of launch's grace before it escalates to SIGTERM,
    and exited after 5.09 / 5.06 s. It now waits ``EXIT_JOIN_S`` for the frame, says it abandoned it, and exits 0
    within launch's grace, without a traceback."""
    marker = tmp_path / "in_network"
    command = [sys.executable, "-c", SLOW_FRAME_SCRIPT, str(marker)]
    process = started(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       start_new_session=True), command)  # fmt: skip
    try:
        wait_until(marker.exists, 60, "the frame in the network")
        start = time.monotonic()
        process.send_signal(sig)
        out, _ = process.communicate(timeout=30)
        took_s = time.monotonic() - start
    finally:
        if process.poll() is None:
            process.kill()
    print(f"{sig.name}: exit {process.returncode} after {took_s:.2f} s")
    assert process.returncode == 0 and "Traceback" not in out, out[-3000:]
    assert "depth worker still busy after 1 s (compute stage)" in out and "abandoned" in out, out[-3000:]
    assert took_s < 5.0, (took_s, out[-3000:])  # launch: SIGTERM after 5 s
