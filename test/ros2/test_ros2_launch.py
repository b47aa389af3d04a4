"""``ros2 launch mono_depth_ros depth.launch.py``: its arguments, the params file, compressed input and shutdown.

Each test launches its own node (real ``ros2 launch``, its own process group) and reads the result through the
ROS graph, ``ros2 param get`` and real subscriptions.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan, PointCloud2

from mono_depth_ros.core import ros_msgs
from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.geometry import RigidTransform
from test.kitti_bag import CAMERA_FRAME, KittiFrame, kitti_camera_info

from .harness import (
    BEST_EFFORT,
    RELIABLE,
    KittiFeeder,
    Launched,
    Probe,
    accounted,
    depth_array,
    diagnostic_values,
    feed_images,
    node_statuses,
    param_value,
    ros2_cli,
    ros2_run,
    running,
    settled_status,
    transform_msg,
    wait_until,
    write_params,
)


def test_use_lidar_false_turns_lidar_off(probe: Probe, ros_logs: Path) -> None:
    launched = Launched({"device": "cpu", "lidar": "/lidar/points", "use_lidar": "false"}, ros_logs / "use_lidar.log")
    with running(launched):
        launched.wait_ready(probe)
        assert param_value("/mono_depth_node", "lidar_topic") == ""
        assert probe.node.count_subscribers("/lidar/points") == 0
        launched.said("LiDAR off")


def test_a_params_file_for_another_node_and_inputs_nobody_publishes_are_warned(probe: Probe, ros_logs: Path) -> None:
    # rclpy applies nothing from a file whose sections do not match the node, and a subscription to a topic nobody
    # publishes receives nothing: both used to be silent.
    wrong = write_params(ros_logs / "wrong_node.yaml", {"output.max_range": 30.0}, node_key="depth_node")
    args = {"device": "cpu", "params_file": str(wrong), "image": "/camera/nobody", "lidar": "/lidar/nobody"}
    launched = Launched(args, ros_logs / "ignored.log")
    with running(launched):
        launched.wait_ready(probe, topic="/camera/nobody")
        assert param_value("/mono_depth_node", "output.max_range") == "80.0"  # what rclpy did with the file: nothing
        silent = (r"no image received on /camera/nobody in [56] s: nothing publishes it",
                  r"no LiDAR scan received on /lidar/nobody in [56] s: nothing publishes it")  # fmt: skip
        wait_until(lambda: all(re.search(text, launched.log) for text in silent), 30, "the silent-input warnings")
        log = launched.log
        assert f"parameters file {wrong}: no section applies to this node /mono_depth_node (sections: depth_node)" in (
            log
        )
        assert log.count("parameters file") == 1  # the launch's own file of the given arguments matches the node
        assert "is not a parameter of this node" not in log


def test_a_reliable_camera_that_delivers_nothing_to_best_effort_is_not_called_a_qos_mismatch(
    probe: Probe, ros_logs: Path
) -> None:
    # A reliable 3840x2160 camera delivered 0 of 150 images to the node's default best-effort subscription on
    # Cyclone (each lost a UDP fragment): the warning blamed an 'incompatible QoS' that rclpy never logs (the two
    # match). The publisher here sends nothing; what is checked is the publisher's reliability read from the graph.
    camera = probe.publisher(Image, "/camera/big_reliable", RELIABLE)
    launched = Launched({"device": "cpu", "image": "/camera/big_reliable"}, ros_logs / "big_reliable.log")
    try:
        launched.wait_ready(probe, topic="/camera/big_reliable")
        text = r"no image received on /camera/big_reliable in [56] s: 1 publisher\(s\) of sensor_msgs/msg/Image"
        wait_until(lambda: re.search(text, launched.log) is not None, 30, "the silent-input warning")
        assert "not a QoS mismatch" in launched.log and "set input_qos: reliable (the publisher is reliable" in (
            launched.log
        )
        assert "incompatible QoS" not in launched.log
    finally:
        assert launched.stop() == 0
        probe.node.destroy_publisher(camera)


def test_an_image_topic_published_only_in_the_other_transport_is_named_with_image_transport(
    probe: Probe, ros_logs: Path
) -> None:
    # A compressed recording (or a camera driver with image_transport) publishes only <image>/compressed: the warning
    # said "nothing publishes it" and named image_topic, not the topic that was there nor image_transport. And the
    # other way round: image_transport compressed with only a raw Image publisher on the base topic.
    compressed = probe.publisher(CompressedImage, "/camera/only_compressed/compressed")
    raw = probe.publisher(Image, "/camera/only_raw")
    args = {"device": "cpu", "image_transport": "compressed", "image": "/camera/only_raw", "namespace": "only_raw"}
    try:  # both nodes at once (another namespace: not one node name twice): one wait for both warnings
        first = Launched({"device": "cpu", "image": "/camera/only_compressed"}, ros_logs / "only_compressed.log")
        second = Launched(args, ros_logs / "only_raw.log")
        with running(first), running(second):
            first.wait_ready(probe, topic="/camera/only_compressed")
            second.wait_ready(probe, topic="/camera/only_raw/compressed", output="/only_raw/depth/image")
            text = (  # (\d+ s: the poll is 1 s and a loaded machine runs it late)
                r"no image received on /camera/only_compressed in \d+ s: nothing publishes it, but "
                r"/camera/only_compressed/compressed is published as sensor_msgs/msg/CompressedImage \(.*\): set "
                r"image_transport: compressed \(launch: image_transport:=compressed; ros2 run: --ros-args -p "
                r"image_transport:=compressed\), image_topic stays /camera/only_compressed"
            )
            wait_until(lambda: re.search(text, first.log) is not None, 30, "the other-transport warning")
            text = (
                r"no image received on /camera/only_raw/compressed in \d+ s: nothing publishes it, but "
                r"/camera/only_raw is published as sensor_msgs/msg/Image: set image_transport: raw \(launch: "
                r"image_transport:=raw; ros2 run: --ros-args -p image_transport:=raw\), image_topic stays "
                r"/camera/only_raw"
            )
            wait_until(lambda: re.search(text, second.log) is not None, 30, "the other-transport warning")
    finally:
        probe.node.destroy_publisher(compressed)
        probe.node.destroy_publisher(raw)


def test_the_temporal_filter_takes_the_camera_pose_from_tf_and_counts_frames_without_it(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    fixed = "odom_temporal_test"
    values = {"temporal.enabled": True, "temporal.fixed_frame": fixed, "diagnostics.period_s": 0.25}
    params = write_params(ros_logs / "temporal_params.yaml", values)
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "temporal.log")
    with running(launched):
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames)
        feeder.wait_connected(lidar=False)
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
        wait_until(lambda: probe.node.count_publishers("/depth/image") > 0, 20, "the depth publisher")
        time.sleep(0.5)  # discovery

        for _ in range(3):  # no TF to the fixed frame yet: published as predicted, counted
            feeder.publish_image(0, probe.now_ns())
            time.sleep(0.4)
        depth.wait_for(3, timeout_s=60)
        blind = settled_status(diagnostics, probe.now_ns())  # one that counts the 3 frames (depth goes before that)
        assert blind["temporal_state"] == "no_motion" and int(blind["temporal_no_motion_frames"]) >= 3, blind
        # and said in the log, once, as the bag runner's summary says it (the node said nothing)
        warned = f"no TF from '{CAMERA_FRAME}' to temporal.fixed_frame '{fixed}' at "
        assert "frame published unfiltered (counted in temporal_no_motion_frames)" in launched.said(warned)
        assert launched.log.count(warned) == 1, launched.log[-3000:]

        probe.send_static_tf(RigidTransform(np.eye(3), np.zeros(3), fixed, CAMERA_FRAME), probe.now_ns())
        time.sleep(0.5)
        for _ in range(3):  # the same scene from a camera that stands still: filtered
            feeder.publish_image(0, probe.now_ns())
            time.sleep(0.4)
        depth.wait_for(6, timeout_s=60)
        seen = settled_status(diagnostics, probe.now_ns())
        assert seen["temporal_state"] == "filtered", seen
        assert int(seen["temporal_filtered_frames"]) >= 2 and float(seen["temporal_kept_share"]) > 0.5, seen


FRAME_PERIOD_NS = 250_000_000  # the drive's camera and LiDAR in the test below: 4 Hz


def test_external_relative_inverse_scaled_by_lidar_and_filtered_in_time_is_the_pipelines_output_bit_for_bit(
    probe: Probe, ros_logs: Path
) -> None:
    """``model.backend: external`` ``relative_inverse`` predictions of the synthetic drive
    (:mod:`mono_depth_ros.evaluation.temporal_sequence`: seed 3, 14 frames 320×96, a car, sky; noisy oracle
    predictions), its 16-beam scan for LiDAR scale recovery (refitted every frame), the camera's pose on /tf and
    ``temporal.enabled``: every frame and cloud published, nothing counted wrong and no WARN / ERROR line, no NaN or
    depth <= 0 where the input was valid, ``temporal_state: filtered`` on every frame after the first, and each
    published depth equal bit for bit to ``DepthPipeline``'s (``run_sequence``, same inputs and parameters) and to the
    unfiltered map put through :class:`TemporalFilter` with ``FrameChange.SHIFT_IN_INVERSE`` by the test (the change
    a refitted inverse-depth map makes: the pipeline passing ``SCALE`` fails here), which differs from the unfiltered
    output (the filter ran)."""
    from dataclasses import replace

    from mono_depth_ros.core.depth_codec import apply_range_limits
    from mono_depth_ros.core.depth_kind import OutputKind
    from mono_depth_ros.core.synthetic import kitti_like_intrinsics
    from mono_depth_ros.core.temporal_filter import FrameChange, TemporalFilter, TemporalFilterConfig
    from mono_depth_ros.depth_config import DepthConfig
    from mono_depth_ros.evaluation.temporal_sequence import (
        MovingCar,
        TemporalOracle,
        oracle_params,
        render_sequence,
        run_sequence,
    )
    from mono_depth_ros.pipeline import DepthPipeline
    from test.kitti_bag import velodyne_cloud

    kind, car = OutputKind.RELATIVE_INVERSE, MovingCar()
    rendered = render_sequence(3, 14, kitti_like_intrinsics(320, 96), car)
    # the scan as a PointCloud2 carries it: float32 (the renderer's points may be float64)
    frames = [
        replace(f, lidar=replace(f.lidar, points_in_lidar=f.lidar.points_in_lidar.astype(np.float32))) for f in rendered
    ]
    oracle = TemporalOracle(kind, seed=3)
    predictions = [oracle.predict(f.depth_m, f.intrinsics, f.world_from_cam).astype(np.float32) for f in frames]

    def bag_road(params: dict[str, Any]) -> list[np.ndarray]:
        scores = run_sequence(frames, DepthPipeline(params), lambda f: predictions[f.index], car.start_frame)
        return [score.depth_m for score in scores]

    # a frame waits for its own scan (published before its image, the node may take them in either order) up to
    # lidar.wait_s: 2 s, so that a loaded machine cannot send one on with the scale fallback
    params = oracle_params(kind, True, {"lidar.wait_s": 2.0})
    expected = bag_road(params)
    unfiltered = bag_road(oracle_params(kind, False))
    # the filter's input: the scaled map before the range limits (the pipeline filters there)
    scaled = bag_road(oracle_params(kind, False, {"output.min_range": 0.0, "output.max_range": 10000.0}))
    config = DepthConfig.from_params(params)
    by_hand = TemporalFilter(TemporalFilterConfig(config.temporal.agreement, config.temporal.max_weight))
    filtered = [
        apply_range_limits(
            by_hand.update(depth, f.intrinsics, f.world_from_cam, FrameChange.SHIFT_IN_INVERSE).depth_m,
            config.output.min_range, config.output.max_range,
        )
        for depth, f in zip(scaled, frames, strict=True)
    ]  # fmt: skip

    fixed, lidar_frame = "odom_drive_test", "drive_lidar"
    # each frame's messages are sent once and the next frame only after its depth (lockstep), frame 0 on publishers
    # made just before: a best-effort reader (the default input_qos) takes a writer's samples only once it has matched
    # that writer, which the writer's get_subscription_count() does not show (it counts its own side), so frame 0 got
    # no depth in 2 of 3 whole-tier runs (the node's log: "nothing arrived"); a single frame sent so, on a topic with
    # no other publisher, was lost in 14 of 48 tries, 0 of 24 to a reliable reader, which DDS repairs once matched
    values = {**params, "temporal.fixed_frame": fixed, "diagnostics.period_s": 0.2, "input_qos": "reliable"}
    lidar_topic = str(values.pop("lidar_topic"))  # the launch argument's
    node_params = write_params(ros_logs / "relative_inverse_filtered.yaml", values)
    launched = Launched(
        {"device": "cpu", "lidar": lidar_topic, "params_file": str(node_params)},
        ros_logs / "relative_inverse_filtered.log",
    )
    publishers: list[Any] = []
    try:
        with running(launched):
            launched.wait_ready(probe)
            pub_info = probe.publisher(CameraInfo, "/camera/camera_info", RELIABLE)
            pub_image = probe.publisher(Image, "/camera/image_raw", RELIABLE)
            pub_prediction = probe.publisher(Image, "/depth_model/prediction", RELIABLE)
            pub_lidar = probe.publisher(PointCloud2, lidar_topic, RELIABLE)
            publishers += [pub_info, pub_image, pub_prediction, pub_lidar]
            depth = probe.collect(Image, "/depth/image", RELIABLE)
            clouds = probe.collect(PointCloud2, "/depth/points", RELIABLE)
            diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
            inputs = (pub_info, pub_image, pub_prediction, pub_lidar, probe.tf.pub_tf)
            wait_until(lambda: all(p.get_subscription_count() > 0 for p in inputs), 30, "the node's subscriptions")
            cam_from_lidar = frames[0].lidar.cam_from_lidar
            probe.send_static_tf(
                RigidTransform(cam_from_lidar.rotation, cam_from_lidar.translation, CAMERA_FRAME, lidar_frame),
                probe.now_ns(),
            )
            wait_until(lambda: probe.node.count_publishers("/depth/points") > 0, 20, "the cloud publisher")
            # a camera and a LiDAR at 4 Hz: stamps a period apart, so that the node's pairing learns that rate and
            # waits for each frame's own scan (frames a test's speed apart make the next scan look a period away, and
            # a frame goes with the last one: lidar.nearer_later); a frame sent once the last one's depth came
            start = probe.now_ns()
            stamps = [start + i * FRAME_PERIOD_NS for i in range(len(frames))]
            first: dict[str, str] = {}
            for i, (frame, stamp) in enumerate(zip(frames, stamps, strict=True)):  # its pose and scan before its image
                wait_until(lambda s=stamp: probe.now_ns() >= s, 5, f"the time of frame {i}", poll_s=0.005)
                pose = frame.world_from_cam
                probe.tf.sendTransform(
                    transform_msg(RigidTransform(pose.rotation, pose.translation, fixed, CAMERA_FRAME), stamp)
                )
                scan = frame.lidar.points_in_lidar
                scan = np.concatenate([scan, np.zeros((len(scan), 1), np.float32)], axis=1)
                pub_lidar.publish(velodyne_cloud(probe.factory, scan, stamp, lidar_frame))
                header = ros_msgs.make_header(probe.factory, stamp, CAMERA_FRAME)
                pub_info.publish(ros_msgs.camera_info_from_intrinsics(probe.factory, frame.intrinsics, header))
                pub_prediction.publish(ros_msgs.image_from_array(probe.factory, predictions[i], "32FC1", header))
                pub_image.publish(ros_msgs.image_from_array(probe.factory, frame.rgb, "rgb8", header))
                wait_until(lambda s=stamp: s in depth.by_stamp(), 30, f"the depth of frame {i}")
                if i == 0:
                    first = settled_status(diagnostics, probe.now_ns())
            wait_until(lambda: set(stamps) <= set(clouds.by_stamp()), 30, "every frame's cloud")
            last = settled_status(diagnostics, probe.now_ns())
            published = [depth_array(depth.by_stamp()[s]) for s in stamps]
            for collector in (depth, clouds, diagnostics):
                probe.drop(collector)
    finally:  # the next tests must not find this test's inputs still published
        for publisher in publishers:
            probe.node.destroy_publisher(publisher)
    n = len(frames)
    assert first["temporal_state"] == "started", first
    assert last["temporal_state"] == "filtered", last
    assert (last["temporal_filtered_frames"], last["temporal_no_motion_frames"]) == (str(n - 1), "0"), last
    assert (last["frames_published"], last["worker_errors"], last["bad_messages"]) == (str(n), "0", "0"), last
    assert last["scale_mode"] == "lidar" and last["scale_health"] == "ok", last
    said_wrong = [line for line in launched.log.splitlines() if re.search(r"\[(?:WARN|ERROR)\]|Traceback", line)]
    assert not said_wrong, said_wrong
    for i, (ours, theirs, by_filter, before) in enumerate(zip(published, expected, filtered, unfiltered, strict=True)):
        valid = np.isfinite(predictions[i]) & (predictions[i] > 0)
        assert not np.isnan(ours[valid]).any() and not (ours[valid] <= 0).any(), f"frame {i}"
        np.testing.assert_array_equal(ours, theirs, err_msg=f"frame {i}: the node against DepthPipeline")
        np.testing.assert_array_equal(ours, by_filter, err_msg=f"frame {i}: against SHIFT_IN_INVERSE by hand")
        if i > 0:  # the filter changed the frame (a sixth of the pixels or more)
            assert (ours != before).mean() > 1 / 6, f"frame {i}: {(ours != before).mean():.3f} of the pixels filtered"


def test_the_ground_plane_prior_takes_the_camera_pose_from_a_static_transform_publisher(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """``scale.ground_frame: base_footprint`` with KITTI's nominal 1.65 m and 0° as parameters, no LiDAR and no
    temporal filter (the node listens to TF for the ground frame alone): before any TF the node warns once that it
    uses the parameters; ``ros2 run tf2_ros static_transform_publisher`` placing the camera 1.69 m up, pitched 1.4°
    down (frame 000000's scanned road), is looked up through tf2, and the disagreement is warned once naming both;
    ``ros2 param set`` of a wrong scale.camera_height_m (1.2 m) at run time is compared with TF again and warned.
    A frame without the TF pose is published: counted in ``inputs_unused``, not as an image outcome (``bad_messages``
    made received != published + dropped + bad), its scale ``degraded`` naming the missing TF (it was ``ok``)."""
    import math

    import transforms3d.quaternions as tq

    from mono_depth_ros.core.synthetic import SensorRig

    values = {
        "scale.mode": "ground_plane",
        "scale.ground_frame": "base_footprint",
        "scale.camera_height_m": 1.65,
        "scale.camera_pitch_rad": 0.0,
        "diagnostics.period_s": 0.25,
    }
    params = write_params(ros_logs / "ground_frame_params.yaml", values)
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "ground_frame.log")
    no_tf = f"no TF base_footprint <- {CAMERA_FRAME} for the camera's height above the ground"
    disagree = (
        f"TF base_footprint <- {CAMERA_FRAME} puts the camera 1.690 m above the ground, pitched 0.0244 rad (+1.40°) "
        "down, but scale.camera_height_m=1.65 m and scale.camera_pitch_rad=0 (+0.00°)"
    )
    changed = "down, but scale.camera_height_m=1.2 m and scale.camera_pitch_rad=0 (+0.00°)"
    with running(launched):
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames)
        feeder.wait_connected(lidar=False)
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
        time.sleep(0.5)  # discovery
        unused = "inputs_unused.ground_frame.no_transform"  # frames whose prior was the parameters'
        for _ in range(2):
            feeder.publish_image(0, probe.now_ns())
            time.sleep(0.4)
        depth.wait_for(2, timeout_s=60)
        wait_until(lambda: no_tf in launched.log, 10, "the warning that TF has no ground pose yet")
        # a status stamped after both depths arrived that counts both (the node publishes a frame's depth before it
        # counts it: one stamped after the depth arrived can still read the second frame received, not published)
        last = settled_status(diagnostics, probe.now_ns())
        assert accounted(last), last  # published: no image outcome besides
        assert last.get(unused) == "2", last  # both frames counted
        assert disagree not in launched.log  # nothing has published the TF it compares yet: not a line in flight
        assert last["scale_health"] == "degraded" and no_tf in last.get("scale_reason", ""), last  # was ok
        rig = SensorRig(camera_height_m=1.69, camera_pitch_rad=math.radians(1.4))
        qw, qx, qy, qz = tq.mat2quat(rig.base_from_cam.rotation)
        pose = {"--z": 1.69, "--qx": qx, "--qy": qy, "--qz": qz, "--qw": qw}
        args = [str(item) for key, value in pose.items() for item in (key, value)]
        args += ["--frame-id", "base_footprint", "--child-frame-id", CAMERA_FRAME]
        with ros2_run("tf2_ros", "static_transform_publisher", ros_logs / "ground_frame_tf.log", *args):
            # the tool's process starts (seconds on a loaded machine: a frame before it went without TF's pose and
            # was counted a third time), then the node's TransformListener gets /tf_static (transient local)
            wait_until(lambda: probe.node.count_publishers("/tf_static") > 0, 30, "static_transform_publisher")
            time.sleep(1.0)
            for _ in range(3):
                feeder.publish_image(0, probe.now_ns())
                time.sleep(0.4)
            depth.wait_for(5, timeout_s=60)
            wait_until(lambda: disagree in launched.log, 10, "the warning that TF and the parameters disagree")
            now = settled_status(diagnostics, probe.now_ns())  # one that counts the 5 frames (depth goes before that)
            assert accounted(now), now
            assert now.get(unused) == "2", now  # frames with TF's pose: not counted
            assert now["scale_health"] == "ok", now  # TF's pose
            set_height = ros2_cli("param", "set", "/mono_depth_node", "scale.camera_height_m", "1.2", check=False)
            assert "Set parameter successful" in set_height.stdout, set_height.stdout + set_height.stderr
            for _ in range(2):  # compared with TF again: was silent (once per camera frame for good)
                feeder.publish_image(0, probe.now_ns())
                time.sleep(0.4)
            depth.wait_for(7, timeout_s=60)
            wait_until(lambda: changed in launched.log, 10, "the warning that the height set at run time disagrees")
        log = launched.log
        assert log.count(no_tf) == 1 and log.count(disagree) == 1, log[-3000:]  # once each
        assert log.count(changed) == 1, log[-3000:]


def test_arguments_given_wrong_fail_the_launch(ros_logs: Path) -> None:
    """A node that cannot start, and a params_file that is not a file, made ``ros2 launch`` exit 0: the second even
    ran the node on its defaults (launch_ros only warns). A supervisor or script saw success."""
    for args, says in ((["device:=gpu"], "mono_depth_node exited with code 1 (its log above says why)"),
                       (["params_file:=/no/such.yaml"], "params_file '/no/such.yaml' is not a file")):  # fmt: skip
        command = ["ros2", "launch", "mono_depth_ros", "depth.launch.py", *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
        assert result.returncode == 1 and says in result.stdout + result.stderr, result.stdout[-3000:]


def test_a_failed_configure_is_retried_after_ros2_param_set(probe: Probe, ros_logs: Path) -> None:
    """``lifecycle:=true device:=gpu`` and a params file with ``output.max_range: -5.0`` (which rclpy refuses when the
    parameter is declared): the managed process died at construction; now configure fails, each parameter is set
    while unconfigured (device is a start-up one) and configure succeeds. ``use_sim_time:=true`` (undeclared before)
    is applied and a misspelt argument, which ``ros2 launch`` ignores, is warned about."""
    params = write_params(ros_logs / "out_of_range.yaml", {"output.max_range": -5.0})
    args = {"lifecycle": "true", "device": "gpu", "use_sim_time": "true", "imgae": "/cam/image"}
    launched = Launched({**args, "params_file": str(params)}, ros_logs / "lifecycle_retry.log")
    node = "/mono_depth_node"
    with running(launched):
        assert probe.lifecycle(node) == "unconfigured"
        assert "launch argument 'imgae' is not an argument of depth.launch.py and is ignored; did you mean image?" in (
            launched.log
        )
        assert param_value(node, "use_sim_time") == "True"
        for attempts, fix in enumerate((("output.max_range", "30.0"), ("device", "cpu"))):
            with pytest.raises(AssertionError, match="transition configure failed"):
                probe.lifecycle(node, "configure")
            failures = attempts + 1  # this attempt's line: the service answers before launch's pipe brings it
            wait_until(lambda n=failures: launched.log.count("configure failed: ") >= n, 10, "the failure's line")
            last_failure = launched.log.rsplit("configure failed: ", 1)[-1]
            assert last_failure.startswith(f"ConfigError: parameter {fix[0]}"), last_failure[:300]
            assert "Set parameter successful" in ros2_cli("param", "set", node, *fix).stdout
        assert probe.lifecycle(node, "configure") == "inactive"
        refused = ros2_cli("param", "set", node, "device", "auto", check=False)
        assert "to change it, clean up the node, set it, then configure" in refused.stdout + refused.stderr  # inactive


def test_an_unconfigured_lifecycle_node_says_it_waits_and_the_command_it_names_configures_it(
    probe: Probe, ros_logs: Path
) -> None:
    """``lifecycle:=true`` without a lifecycle manager: the node logged nothing at all (a silent node). Now one line
    at start names its resolved name and the commands; with a camera publishing and the node still unconfigured 10 s
    later, one warning; the ``ros2 service call`` it prints (for installs without the lifecycle CLI) configures it."""
    camera = probe.publisher(Image, "/camera/lifecycle_wait")
    args = {"lifecycle": "true", "namespace": "cam7", "device": "cpu", "image": "/camera/lifecycle_wait"}
    launched = Launched(args, ros_logs / "lifecycle_wait.log")
    node = "/cam7/mono_depth_node"
    try:
        with running(launched):
            assert probe.lifecycle(node) == "unconfigured"
            start = f"{node} is a managed (lifecycle) node and starts unconfigured"
            wait_until(lambda: start in launched.log, 20, "the unconfigured line")
            assert f"`ros2 lifecycle set {node} configure` then `ros2 lifecycle set {node} activate`" in launched.log
            waiting = f"1 publisher(s) on the image topic /camera/lifecycle_wait, but {node} is unconfigured"
            wait_until(lambda: waiting in launched.log, 30, "the images-but-unconfigured warning")
            assert launched.log.count(waiting) == 1
            call = re.search(r"without the lifecycle CLI: `ros2 (service call [^`]+)`", launched.log)
            assert call is not None, launched.log[-3000:]
            ros2_cli(*shlex.split(call.group(1)), timeout_s=120.0)  # the command as printed, id 1: configure
            assert probe.lifecycle(node) == "inactive"
    finally:
        probe.node.destroy_publisher(camera)


def test_a_param_dump_relaunches_the_same_namespaced_node(probe: Probe, ros_logs: Path) -> None:
    """``ros2 param dump /cam1/mono_depth_node`` (a fully qualified section) as params_file: the same parameters.
    The managed node declares them all without loading the model: quick."""
    dumps = []
    for run in range(2):
        args = {"lifecycle": "true", "namespace": "cam1", "device": "cpu", "use_sim_time": "true"}
        launched = Launched(args if run == 0 else {**args, "params_file": str(ros_logs / "dump0.yaml")},
                            ros_logs / f"dump{run}.log")  # fmt: skip
        with running(launched):
            assert probe.lifecycle("/cam1/mono_depth_node") == "unconfigured"
            dumps.append(ros2_cli("param", "dump", "/cam1/mono_depth_node").stdout)
            (ros_logs / f"dump{run}.yaml").write_text(dumps[-1])
        # the file's section matches the node; read once stopped: every line of the node is in the file then (and
        # launch's own warning that it was stopped, the one WARN expected)
        warned = [line for line in launched.log.splitlines() if "WARN" in line and "user interrupted" not in line]
        assert not warned, launched.log[-3000:]
    assert dumps[0].startswith("/cam1/mono_depth_node:\n  ros__parameters:") and "use_sim_time: true" in dumps[0]
    assert dumps[1] == dumps[0]


def test_a_dump_with_empty_strings_loads_back_at_start_where_humbles_ros2_param_load_fails(
    probe: Probe, ros_logs: Path
) -> None:
    """Humble's ``ros2 param load NODE DUMP`` dies on the dump's first empty string (``lidar_topic: ''``, which every
    dump of this node has) before it sends anything. The workaround docs/ros2_node.md gives, starting the node with
    the dump after its usual params file (``--ros-args --params-file USUAL --params-file DUMP``), brings every value
    back: a launch argument's, and an empty string set at run time over the usual file's non-empty one (the files
    swapped, the dump gave ``usual_link`` and 30.0 back). The managed node declares every parameter without loading
    the model: quick."""
    usual = write_params(ros_logs / "usual.yaml", {"scan.frame_id": "usual_link", "output.max_range": 30.0})
    node = "/dumped/mono_depth_node"
    args = {"lifecycle": "true", "namespace": "dumped", "device": "cpu", "params_file": str(usual)}
    with running(Launched({**args, "image": "/dumped/image"}, ros_logs / "dump_first.log")):
        assert probe.lifecycle(node) == "unconfigured"
        ros2_cli("param", "set", node, "scan.frame_id", "''")  # the empty string as Humble's ros2 param set takes it
        dumped = ros2_cli("param", "dump", node).stdout
        dump = ros_logs / "dumped.yaml"
        dump.write_text(dumped)
        lines = ("    image_topic: /dumped/image", "    lidar_topic: ''", "      frame_id: ''", "      max_range: 30.0")
        assert all(f"\n{line}\n" in dumped for line in lines), dumped
        loaded = ros2_cli("param", "load", node, str(dump), check=False)  # ros2cli's bug, as documented
        assert loaded.returncode != 0, loaded.stdout
        assert "The 'string_value' field must be of type 'str'" in loaded.stderr, loaded.stderr[-2000:]
    with ros2_run("mono_depth_ros", "mono_depth_lifecycle_node", ros_logs / "dump_again.log", "--ros-args", "-r",
                  "__ns:=/dumped", "--params-file", str(usual), "--params-file", str(dump)):  # fmt: skip
        assert probe.lifecycle(node) == "unconfigured"
        assert ros2_cli("param", "dump", node).stdout == dumped  # frame_id '' over the usual file's usual_link


def test_sigterm_to_ros2_launch_stops_the_node(probe: Probe, ros_logs: Path) -> None:
    """Humble's ``ros2 launch`` dies on SIGTERM without stopping its processes (``kill <pid>``, a supervisor that
    signals its main process): the node ran on, orphaned, and a new launch ran a second one beside it."""
    launched = Launched({"device": "cpu", "use_lidar": "false"}, ros_logs / "sigterm_launch.log")
    pid = 0

    def node_gone() -> bool:  # exited (a zombie until some reaper collects it, where PID 1 does not)
        return process_ended(pid)

    try:
        launched.wait_ready(probe)
        pid = node_pid(launched)
        os.kill(launched.process.pid, signal.SIGTERM)
        launched.process.wait(30)
        wait_until(node_gone, 20, f"the node (pid {pid}) to end with its launch")
        wait_until(lambda: probe.node.count_publishers("/depth/image") == 0, 10, "the node to leave the graph")
    finally:
        if pid and not node_gone():
            os.kill(pid, signal.SIGKILL)  # orphaned: it would stay in the graph for the tests after this one
        launched.stop(signal.SIGKILL if launched.alive() else signal.SIGINT)


def test_humble_rejects_an_empty_launch_argument(ros_logs: Path) -> None:
    """Why use_lidar exists: ``lidar:=''`` (an empty value) is refused by Humble's ros2 launch before anything runs."""
    result = subprocess.run(
        ["ros2", "launch", "mono_depth_ros", "depth.launch.py", "lidar:="],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "malformed launch argument 'lidar:='" in result.stdout + result.stderr


def red_scene(frame: KittiFrame) -> np.ndarray:
    """The frame's (H, W, 3) uint8 RGB made red (R at least 200, B a quarter): a colour swap shows in the cloud."""
    rgb = frame.rgb.copy()
    rgb[..., 0], rgb[..., 2] = np.maximum(rgb[..., 0], 200), rgb[..., 2] // 4
    return rgb


def cloud_red_and_blue(cloud: Any) -> tuple[float, float]:
    """The mean red and blue of an XYZRGB cloud (``cloud.rgb``: 0x00RRGGBB at offset 16, little endian)."""
    bgr = np.frombuffer(bytes(cloud.data), np.uint8).reshape(-1, cloud.point_step)[:, 16:19]
    return float(bgr[:, 2].mean()), float(bgr[:, 0].mean())


def red_left_blue_right(frame: KittiFrame) -> np.ndarray:
    """:func:`red_scene` left of the principal point (``cx = P[0, 2]``), its channels swapped right of it (blue): rows
    read from the wrong bytes (row padding taken for pixels) move the edge, a swap of R and B swaps the sides."""
    rgb, cx = red_scene(frame), round(float(frame.projection[0, 2]))
    rgb[:, cx:] = rgb[:, cx:, ::-1]
    return rgb


def cloud_sides_red_and_blue(cloud: Any) -> tuple[tuple[float, float], tuple[float, float]]:
    """The mean (red, blue) of the finite points of an XYZRGB cloud left (``x / z < -0.05``) and right
    (``x / z > 0.05``) of the optical axis (camera frame: x right, z ahead)."""
    offsets = {field.name: field.offset for field in cloud.fields}
    rows = np.frombuffer(bytes(cloud.data), np.uint8).reshape(-1, cloud.point_step)
    x, z = (rows[:, offsets[a] : offsets[a] + 4].copy().view("<f4")[:, 0] for a in ("x", "z"))
    bgr = rows[:, offsets["rgb"] : offsets["rgb"] + 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        across = np.where(np.isfinite(x) & (z > 0), x / z, np.nan)
    left, right = bgr[across < -0.05], bgr[across > 0.05]
    return (float(left[:, 2].mean()), float(left[:, 0].mean())), (float(right[:, 2].mean()), float(right[:, 0].mean()))


def cloud_of_one_image(probe: Probe, ros_logs: Path, name: str, transport: str, image: Any, info: Any) -> Any:
    """Launch the node (``cloud.rgb``, ``image_transport``: ``transport``), publish ``image`` on
    ``/camera/image_raw`` (``/compressed`` for a CompressedImage) and ``info`` best effort (what the node must take:
    usb_cam publishes reliable, ``QoS(100)``; v4l2_camera best effort with ``use_sensor_data_qos``), again with a new
    stamp every 2 s until a cloud comes (a best-effort sample sent before the node's reader has matched the writer is
    dropped; one publish once got no cloud in 30 s: 1 run of 9), and return the first cloud of one of those stamps."""
    params = write_params(ros_logs / f"{name}.yaml", {"image_transport": transport, "cloud.rgb": True})
    launched = Launched({"device": "cpu", "use_lidar": "false", "params_file": str(params)}, ros_logs / f"{name}.log")
    topic = "/camera/image_raw" + ("/compressed" if transport == "compressed" else "")
    with running(launched):
        launched.wait_ready(probe, topic=topic)
        points = probe.collect(PointCloud2, "/depth/points", RELIABLE)
        publishers = (
            probe.publisher(type(image), topic, BEST_EFFORT),
            probe.publisher(CameraInfo, "/camera/camera_info"),
        )
        wait_until(lambda: all(p.get_subscription_count() for p in publishers), 30, "the node's subscriptions")
        stamps: list[int] = []
        deadline, published_at = time.monotonic() + 30, -math.inf
        while not (clouds := [points.by_stamp()[s] for s in stamps if s in points.by_stamp()]):
            assert time.monotonic() < deadline, f"timed out after 30 s waiting for a cloud of the {name} image"
            if time.monotonic() - published_at >= 2.0:
                stamps.append(probe.now_ns())
                image.header = ros_msgs.make_header(probe.factory, stamps[-1], image.header.frame_id)
                info.header = ros_msgs.make_header(probe.factory, stamps[-1], info.header.frame_id)
                publishers[1].publish(info)
                publishers[0].publish(image)
                published_at = time.monotonic()
            time.sleep(0.05)
        for publisher in publishers:
            probe.node.destroy_publisher(publisher)
        probe.drop(points)
        return clouds[0]


def test_a_usb_cams_raw_mjpeg_stream_reaches_the_node_in_the_cameras_colours(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """usb_cam's raw-MJPEG road (``take_and_send_image_mjpeg``; its releases reach it only with the format name
    mended: the node checks for ``pixel_format`` "mjpeg", the format list names it "raw_mjpeg") publishes the
    camera's JPEG as it comes: ``format`` "jpeg" (no image_transport encodings), the whole V4L2 buffer as data (the
    JPEG, then the rest of the buffer), on ``image_raw/compressed`` and ``camera_info`` (``QoS(100)``, reliable; sent
    best effort here, which the node's subscription must take too). Through the real node
    (``image_transport: compressed``): depth and a cloud whose colours are the camera's (a red scene red, not blue: a
    bare codec name holds OpenCV's BGR order)."""
    import cv2

    rgb = red_scene(kitti_frames[0])
    ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]))  # OpenCV encodes BGR, as a camera's
    assert ok
    buffer = np.zeros(rgb.shape[0] * rgb.shape[1] * 2, np.uint8)  # a YUYV-sized V4L2 buffer
    buffer[: jpeg.size] = jpeg.reshape(-1)
    stamp = probe.now_ns()
    image = CompressedImage(header=ros_msgs.make_header(probe.factory, stamp, CAMERA_FRAME), format="jpeg")
    image.data = buffer.tobytes()
    info = kitti_camera_info(probe.factory, kitti_frames[0], stamp)
    red, blue = cloud_red_and_blue(cloud_of_one_image(probe, ros_logs, "mjpeg", "compressed", image, info))
    assert red > 180 and blue < 80, (red, blue)


def test_a_usb_cams_yuyv_webcam_with_padded_rows_reaches_the_node_in_the_cameras_colours(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """usb_cam's default ``pixel_format: yuyv`` publishes the V4L2 buffer as it is: ``yuv422_yuy2`` (Y0 U Y1 V, two
    bytes a pixel), ``step`` the driver's bytesperline (rows padded on some hardware; v4l2_camera's ``step`` is
    V4L2's ``bytes_per_line`` too), in its default frame ``default_cam`` (sent best effort here; usb_cam's
    ``QoS(100)`` is reliable). Through the real node's serialised road: depth and a cloud in the camera's colours, in
    the image's frame, each on its side (red left, blue right): the row padding skipped, not read as pixels."""
    import cv2

    rgb = red_left_blue_right(kitti_frames[0])
    height, width = rgb.shape[:2]
    yuv = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV)
    yuyv = np.empty((height, width, 2), np.uint8)
    yuyv[..., 0], yuyv[:, 0::2, 1], yuyv[:, 1::2, 1] = yuv[..., 0], yuv[:, 0::2, 1], yuv[:, 0::2, 2]
    rows = np.concatenate([yuyv.reshape(height, -1), np.zeros((height, 64), np.uint8)], 1)  # 64 bytes of padding
    stamp = probe.now_ns()
    header = ros_msgs.make_header(probe.factory, stamp, "default_cam")
    image = Image(header=header, height=height, width=width, encoding="yuv422_yuy2", is_bigendian=0, step=rows.shape[1])
    image.data = rows.tobytes()
    info = kitti_camera_info(probe.factory, kitti_frames[0], stamp)
    cloud = cloud_of_one_image(probe, ros_logs, "yuyv", "raw", image, info)
    left, right = cloud_sides_red_and_blue(cloud)  # (red, blue) each
    assert cloud.header.frame_id == "default_cam", cloud.header.frame_id
    assert left[0] > 180 and left[1] < 80 and right[0] < 80 and right[1] > 180, (left, right)


def test_params_file_namespace_argument_override_and_compressed_input(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A user's params file (under ``/**``), a namespace, an argument that overrides the file, JPEG input."""
    params = write_params(
        ros_logs / "user_params.yaml",
        {
            "image_topic": "/cam2/image_raw",
            "camera_info_topic": "/cam2/camera_info_from_file",
            "image_transport": "compressed",
            "output.max_range": 40,  # an integer for a float parameter, as users write it
            "model.threads": 1,
            "cloud.mode": "strided",
        },
    )
    launched = Launched(
        {"params_file": str(params), "namespace": "robot1", "camera_info": "/cam2/camera_info", "device": "cpu"},
        ros_logs / "user_params.log",
    )
    with running(launched):
        launched.wait_ready(probe, topic="/cam2/image_raw/compressed", output="/robot1/depth/image")
        node = "/robot1/mono_depth_node"
        assert param_value(node, "image_topic") == "/cam2/image_raw"  # from the file
        assert param_value(node, "camera_info_topic") == "/cam2/camera_info"  # the argument wins over the file
        assert float(param_value(node, "output.max_range")) == 40.0
        assert param_value(node, "cloud.mode") == "strided"
        assert param_value(node, "device") == "cpu"
        depth = probe.collect(Image, "/robot1/depth/image", RELIABLE)
        feeder = KittiFeeder(
            probe, kitti_frames, image_topic="/cam2/image_raw", info_topic="/cam2/camera_info", compressed=True
        )
        feeder.wait_connected(lidar=False)
        time.sleep(0.5)
        stamp = probe.now_ns()
        feeder.publish_image(0, stamp)
        wait_until(lambda: stamp in depth.by_stamp(), 30, "depth from the compressed image")
        image = depth.by_stamp()[stamp]
        height, width = kitti_frames[0].rgb.shape[:2]
        # output.downscale auto: the shipped 96x320 network on a 375x1242 camera publishes 125x414
        assert (image.height, image.width) == (height // 3, width // 3)
        metres = depth_array(image)
        finite = np.isfinite(metres)
        assert finite.any() and metres[finite].max() <= 40.0
        probe.drop(depth)
        statuses = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)  # named apart from another camera's
        named = lambda: {s.name for m in statuses.messages for s in m.status}  # noqa: E731
        wait_until(lambda: "robot1/mono_depth_node: depth" in named(), 10, "the namespaced /diagnostics status")
        probe.drop(statuses)


def node_pid(launched: Launched) -> int:
    """PID of the mono_depth_node process started by this launch (same process group)."""
    out = subprocess.run(["pgrep", "-g", str(launched.process.pid), "-f", "mono_depth_node"], capture_output=True,
                         text=True, check=False).stdout.split()  # fmt: skip
    pids = [int(p) for p in out if int(p) != launched.process.pid]
    assert pids, f"no mono_depth_node process in group {launched.process.pid}"
    return pids[0]


def process_ended(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie not yet reaped counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("how", ["ctrl_c_on_launch", "sigterm_to_node"])
def test_the_node_stops_cleanly_while_frames_flow(
    how: str, probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    launched = Launched({"device": "cpu"}, ros_logs / f"stop_{how}.log")
    depth = probe.collect(Image, "/depth/image", RELIABLE)
    stop_feeding, thread = threading.Event(), None
    try:
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames)
        feeder.wait_connected(lidar=False)

        def feed() -> None:
            index = 0
            while not stop_feeding.is_set():
                feeder.publish_image(index, probe.now_ns())
                index += 1
                time.sleep(0.1)

        thread = threading.Thread(target=feed, daemon=True)
        thread.start()
        depth.wait_for(2, timeout_s=30)  # frames are in flight when the signal comes
        pid, node_s = node_pid(launched), list[float]()
        started = time.monotonic()

        def watch_node() -> None:  # the seconds from the signal until the node exits (a zombie until launch reaps it)
            while not process_ended(pid):
                time.sleep(0.01)
            node_s.append(time.monotonic() - started)

        watcher = threading.Thread(target=watch_node, daemon=True)
        watcher.start()
        if how == "ctrl_c_on_launch":
            code = launched.stop(signal.SIGINT, timeout_s=30)
            assert code == 0, launched.log[-3000:]
        else:  # what systemd / docker / kill send to the node itself; launch then reports its exit code
            subprocess.run(["kill", "-TERM", str(pid)], check=True)
            code = launched.process.wait(30)  # the node's exit ends the launch (on_exit=Shutdown)
            assert code == 0, launched.log[-3000:]
        elapsed = time.monotonic() - started
        watcher.join(10)
        # the process ended 2-3.6 s after the signal, nearly all of it Python's teardown with torch loaded (now skipped)
        assert node_s and node_s[0] < 2.0, f"the node ended {node_s} s after the signal"
        log = launched.log
        assert "Traceback" not in log, log[-3000:]
        assert "process has finished cleanly" in log, log[-3000:]
        assert elapsed < 15.0, f"took {elapsed:.1f} s to stop"
    finally:
        stop_feeding.set()
        if thread is not None:  # its last publish ends before the teardown destroys the feeder's publishers
            thread.join(5)
        probe.drop(depth)
        if launched.alive():
            launched.stop(signal.SIGKILL)


def test_the_nav2_preset_cloud_reaches_best_effort_readers(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """``nav2:=true``: Nav2's observation sources read best effort: the preset's cloud, clearing cloud and scan must
    arrive there at camera rate."""
    launched = Launched({"device": "cpu", "nav2": "true"}, ros_logs / "nav2_preset.log")
    with running(launched):
        launched.wait_ready(probe)
        assert param_value("/mono_depth_node", "cloud.mode") == "strided"
        assert param_value("/mono_depth_node", "scan.enabled") == "True"
        reliable = probe.collect(PointCloud2, "/depth/points", RELIABLE)
        best_effort = probe.collect(PointCloud2, "/depth/points", BEST_EFFORT)
        clearing = probe.collect(PointCloud2, "/depth/points_clearing", BEST_EFFORT)
        scans = probe.collect(LaserScan, "/depth/scan", BEST_EFFORT)
        feed_images(
            probe, kitti_frames, 20, period_s=0.2
        )  # 5 Hz: faster than this CPU node runs: some dropped as stale

        def caught_up() -> bool:  # best-effort readers have (nearly) every cloud the reliable one has (2 s: no bound)
            published = set(reliable.by_stamp())
            got = [len(published & set(c.by_stamp())) for c in (best_effort, clearing)]
            return len(published) >= 5 and min(got) >= 0.9 * len(published)

        with contextlib.suppress(AssertionError):
            wait_until(caught_up, 15, "the clouds of the frames fed")
        published = set(reliable.by_stamp())
        received = published & set(best_effort.by_stamp())
        assert len(published) >= 5
        assert len(received) >= 0.9 * len(published), f"best effort got {len(received)} of {len(published)} clouds"
        cloud = next(iter(best_effort.messages))
        assert cloud.height == 1 and cloud.width * cloud.point_step < 600_000  # unorganized, under 0.6 MB
        assert len(set(clearing.by_stamp()) & published) >= 0.9 * len(published)
        assert param_value("/mono_depth_node", "cloud.clearing_stride") == "2"  # finer than cloud.stride 4
        stamp = next(iter(set(clearing.by_stamp()) & set(best_effort.by_stamp())))
        assert clearing.by_stamp()[stamp].width > 3 * best_effort.by_stamp()[stamp].width
        scan = scans.by_stamp()[next(iter(published & set(scans.by_stamp())))]
        assert scan.header.frame_id == "camera" and scan.angle_min < 0 < scan.angle_max  # camera_optical's body frame
        assert np.isposinf(np.asarray(scan.ranges)).any()  # KITTI's open road beyond max_range: clears in Nav2
        for collected in (reliable, best_effort, clearing, scans):
            probe.drop(collected)


def test_the_lifecycle_node_publishes_only_when_configured_and_active(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """``lifecycle:=true``: no publisher before configure, no subscription before activate; the lifecycle services
    (what ``ros2 lifecycle`` and Nav2's lifecycle manager call) bring it up, frames flow; deactivate stops them;
    SIGINT ends it cleanly (exit 0)."""
    launched = Launched({"device": "cpu", "lifecycle": "true"}, ros_logs / "lifecycle.log")
    node = "/mono_depth_node"
    with running(launched):
        assert probe.lifecycle(node) == "unconfigured"
        assert probe.node.count_publishers("/depth/image") == probe.node.count_subscribers("/camera/image_raw") == 0
        assert probe.lifecycle(node, "configure") == "inactive"  # the model is loaded and self-tested here
        wait_until(lambda: probe.node.count_publishers("/depth/image") == 1, 10, "the publishers of configure")
        assert probe.node.count_subscribers("/camera/image_raw") == 0
        assert probe.lifecycle(node, "activate") == "active"
        launched.wait_ready(probe)
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        feeder = KittiFeeder(probe, kitti_frames)
        feeder.wait_connected(lidar=False)

        def fed_and_answered() -> bool:  # best-effort input: the first images after discovery may be lost
            feeder.publish_image(0, probe.now_ns())
            time.sleep(0.5)
            return depth.count() > 0

        wait_until(fed_and_answered, 60, "depth while active")
        assert probe.lifecycle(node, "deactivate") == "inactive"
        wait_until(lambda: probe.node.count_subscribers("/camera/image_raw") == 0, 10, "subscriptions gone")
        time.sleep(1.0)  # a frame still in flight at deactivate is published
        count = depth.count()
        for index in range(4):
            feeder.publish_image(index % len(kitti_frames), probe.now_ns())
            time.sleep(0.5)
        assert depth.count() == count  # nothing flows while inactive
        probe.drop(depth)


def test_best_effort_outputs_reach_best_effort_readers_and_not_reliable_ones(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """``output_qos: sensor_data``: the other half of the QoS matrix (a reliable reader gets nothing, as DDS rules)."""
    params = write_params(ros_logs / "best_effort_out.yaml", {"output_qos": "sensor_data", "output.downscale": 2})
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "best_effort_out.log")
    with running(launched):
        launched.wait_ready(probe)
        best_effort = probe.collect(Image, "/depth/image", BEST_EFFORT)
        reliable = probe.collect(Image, "/depth/image", RELIABLE)
        stamps = feed_images(probe, kitti_frames, 3, period_s=1.0)
        wait_until(lambda: len(set(stamps) & set(best_effort.by_stamp())) >= 2, 30, "best-effort depth images")
        assert reliable.count() == 0  # a reliable reader does not match a best-effort writer
        probe.drop(best_effort)
        probe.drop(reliable)


def test_a_lidar_prompted_transformers_model_runs_in_the_node(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, tmp_path: Path
) -> None:
    """A local Hugging Face directory (tiny Prompt Depth Anything) in the real node: with its scan the frame is
    metric and within the LiDAR's range (the scan reached the model as its prompt); an image whose scan never comes
    runs unprompted after lidar.wait_s and is reported as depth up to scale and shift (affine_depth)."""
    pytest.importorskip("transformers")
    from test.models.hf_tiny import write_tiny_family

    model = write_tiny_family("prompt_depth_anything", tmp_path / "prompt_depth_anything")
    max_age_s = 0.2
    values = {
        "model.backend": "transformers", "model.weights": str(model), "model.golden_check": "off",
        "diagnostics.period_s": 0.25, "output.edge_filter": False, "lidar.max_age_s": max_age_s,
    }  # fmt: skip
    params = write_params(ros_logs / "prompt_params.yaml", values)
    launched = Launched(
        {"device": "cpu", "lidar": "/lidar/points", "params_file": str(params)}, ros_logs / "prompt_depth.log"
    )
    with running(launched):
        launched.wait_ready(probe)
        probe.send_static_tf(kitti_frames[0].cam_from_velo, probe.now_ns())
        feeder = KittiFeeder(probe, kitti_frames)
        feeder.wait_connected()
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
        wait_until(lambda: probe.node.count_publishers("/depth/image") > 0, 20, "the depth publisher")
        time.sleep(0.5)  # discovery

        def kinds() -> list[str]:
            statuses = [diagnostic_values(m) for m in diagnostics.messages]
            return [v["output_kind"] for v in statuses if v is not None and "output_kind" in v]

        stamp = probe.now_ns()
        feeder.publish_image(0, stamp)
        time.sleep(0.05)
        feeder.publish_scan(0, stamp)
        depth.wait_for(1, timeout_s=60)
        wait_until(lambda: "metric" in kinds(), 10, "output_kind metric in /diagnostics")
        metres = depth_array(depth.messages[0])
        lidar = kitti_frames[0].lidar_depth_m[np.isfinite(kitti_frames[0].lidar_depth_m)]
        finite = metres[np.isfinite(metres)]
        assert finite.size and lidar.min() * 0.9 < finite.min() and finite.max() < lidar.max() * 1.1

        # no scan follows: unprompted after lidar.wait_s, if stamped beyond lidar.max_age_s of scan 0 (within it,
        # scan 0 is its scan and the frame is metric: a fast start published it 0.17 s after the first)
        time.sleep(max(0.0, (stamp - probe.now_ns()) / 1e9 + 2 * max_age_s))
        feeder.publish_image(1, probe.now_ns())
        depth.wait_for(2, timeout_s=60)
        wait_until(lambda: kinds()[-1:] == ["affine_depth"], 10, "output_kind affine_depth")


def test_a_model_whose_map_is_its_patch_grid_publishes_every_frame_in_the_node(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, tmp_path: Path
) -> None:
    """A TorchScript module whose depth output is its 26x88 patch grid (a ViT's linear depth head; DORN's map is 1/8
    too) in the real node: every KITTI frame is published at the camera's size (the coarse map upsampled), the log says
    what the map is once, and /diagnostics keeps it (model_map). Refused per frame, the node published nothing."""
    import warnings

    import torch
    from torch.nn import functional

    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind

    class PatchGrid(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return functional.avg_pool2d(x.abs().sum(1, keepdim=True), 14) + 1.0

    path = tmp_path / "grid.pt"  # TorchScript: the tier's Python has no onnx package to export with
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation
        torch.jit.save(torch.jit.trace(PatchGrid(), torch.zeros(1, 3, 375, 1242)), str(path))  # type: ignore[no-untyped-call]
    spec = ModelSpec("patch_grid", {}, InputPolicy(375, 1242), output_kind=OutputKind.METRIC, backend="torchscript")
    write_sidecars(path, spec)
    values = {
        "model.backend": "torchscript", "model.weights": str(path), "model.golden_check": "off", "scale.mode": "none",
        "diagnostics.period_s": 0.25,
    }  # fmt: skip
    params = write_params(ros_logs / "patch_grid_params.yaml", values)
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "patch_grid.log")
    with running(launched):
        launched.wait_ready(probe)
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
        stamps = feed_images(probe, kitti_frames, 3, period_s=1.0)
        wait_until(lambda: set(stamps) <= set(depth.by_stamp()), 60, "every frame's depth")
        note = "26x88 for a 375x1242 input, one value per 14x14 pixels"

        def notes() -> list[str]:
            statuses = [diagnostic_values(m) for m in diagnostics.messages]
            return [v["model_map"] for v in statuses if v is not None and "model_map" in v]

        wait_until(lambda: note in notes(), 10, "model_map in /diagnostics")
        image = depth.by_stamp()[stamps[0]]
        assert (image.height, image.width) == kitti_frames[0].rgb.shape[:2]
        launched.said(note)
        assert launched.log.count(note) == 1, launched.log[-3000:]  # said once, not per frame
        probe.drop(depth)
        probe.drop(diagnostics)


def test_a_raw_distorted_camera_gets_matching_camera_info_and_unusable_d_or_r_are_counted(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """``image_is_rectified: false``: a 640x360 raw camera (plumb_bob k1 = -0.3, equidistant, equidistant with k1..k4
    all zero: the ideal f-theta fisheye) whose P differs from K gets depth with the camera_info of the published
    image (P's); a D with 3 coefficients (was a cv2.error: a worker "bug") and an all-zero R (was a black image turned
    into depth and published) are counted CalibrationErrors."""
    values = {"image_is_rectified": False, "diagnostics.period_s": 0.25}
    params = write_params(ros_logs / "raw_camera.yaml", values)
    launched = Launched({"device": "cpu", "use_lidar": "false", "params_file": str(params)}, ros_logs / "raw.log")
    with running(launched):
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames)
        feeder.wait_connected(lidar=False)
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        info = probe.collect(CameraInfo, "/depth/camera_info", RELIABLE)
        diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
        time.sleep(1.0)
        rgb = np.ascontiguousarray(kitti_frames[0].rgb[:360, 300:940])
        k = np.array([[500.0, 0, 322.5], [0, 505.0, 181.0], [0, 0, 1]])
        p = np.hstack([np.array([[420.0, 0, 330.0], [0, 420.0, 170.0], [0, 0, 1]]), np.zeros((3, 1))])

        def publish(model: str, d: tuple[float, ...], r: np.ndarray) -> int:
            stamp = probe.now_ns()
            header = ros_msgs.make_header(probe.factory, stamp, CAMERA_FRAME)
            camera = CameraModel(640, 360, model, d, k, r, p)
            feeder.pub_info.publish(ros_msgs.camera_info_from_model(probe.factory, camera, header))
            feeder.pub_image.publish(ros_msgs.image_from_array(probe.factory, rgb, "rgb8", header))
            return stamp

        good = [publish("plumb_bob", (-0.3, 0.1, 0.001, -0.001, 0.0), np.eye(3))]
        time.sleep(0.5)
        good.append(publish("equidistant", (0.1, 0.01, 0.0, 0.0), np.eye(3)))
        time.sleep(0.5)
        good.append(publish("equidistant", (0.0, 0.0, 0.0, 0.0), np.eye(3)))  # the ideal f-theta fisheye: P too
        wait_until(lambda: set(good) <= set(info.by_stamp()), 30, "depth of the raw camera")
        for stamp in good:
            image, camera = depth.by_stamp()[stamp], info.by_stamp()[stamp]
            assert (camera.width, camera.height) == (image.width, image.height)
            assert not any(camera.d) and np.allclose(np.asarray(camera.r).reshape(3, 3), np.eye(3))
            scale = image.width / 640
            projection = np.asarray(camera.p).reshape(3, 4)
            assert projection[0, 0] == pytest.approx(420.0 * scale) and projection[1, 1] == pytest.approx(420.0 * scale)
            assert projection[0, 2] == pytest.approx((330.0 + 0.5) * scale - 0.5)
            assert np.isfinite(depth_array(image)).mean() > 0.5
        bad = [publish("plumb_bob", (-0.3, 0.1, 0.001), np.eye(3))]
        time.sleep(0.5)
        bad.append(publish("plumb_bob", (-0.3, 0.1, 0.001, -0.001, 0.0), np.zeros((3, 3))))
        time.sleep(0.5)
        good.append(publish("plumb_bob", (-0.3, 0.1, 0.001, -0.001, 0.0), np.eye(3)))
        wait_until(lambda: good[-1] in depth.by_stamp(), 30, "depth of a good frame after the bad ones")
        time.sleep(0.5)

        def last_values() -> dict[str, str]:
            found = node_statuses(diagnostics.messages)
            return found[-1] if found else {}

        wait_until(lambda: last_values().get("bad_messages.CalibrationError") == "2", 10, "2 CalibrationErrors")
        assert last_values()["worker_errors"] == "0"
        assert not set(bad) & set(depth.by_stamp())
        launched.said("needs 4, 5, 8, 12, 14 coefficients in d, got 3")
        for collector in (depth, info, diagnostics):
            probe.drop(collector)


def test_with_use_sim_time_and_no_clock_a_frame_waiting_for_a_dead_lidar_still_goes_out(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A bag played without ``--clock`` to a node with use_sim_time: ROS-time timers never fire. The LiDAR pairing
    (and the watch on ApproximateTime) poll monotonic waits, so their timers run on the steady clock: a frame held for
    a scan that never comes was held until the next image (for good when it was the last one)."""
    params = write_params(ros_logs / "sim_time.yaml", {"use_sim_time": True})
    launched = Launched({"device": "cpu", "lidar": "/lidar/points", "params_file": str(params)}, ros_logs / "sim.log")
    with running(launched):
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames)
        feeder.wait_connected()
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        time.sleep(1.0)
        (stamp,) = feeder.publish_images(1, period_s=0.0)  # no scan: the LiDAR is silent
        wait_until(lambda: stamp in depth.by_stamp(), 15, "the frame after lidar.wait_s, with no /clock")
        image, _ = feeder.image_msgs(1, probe.now_ns())
        feeder.pub_image.publish(image)  # and no camera_info: ApproximateTime drops it, the node says so
        wait_until(lambda: "not paired: no camera_info" in launched.log, 10, "the unpaired image in the log")
        probe.drop(depth)
