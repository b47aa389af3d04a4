"""mono_depth_node under ``ros2 launch`` on a real ROS 2 Humble, fed real KITTI frames by real rclpy publishers.

One node for the module (LiDAR on ``/lidar/points``, ``/diagnostics`` every 0.25 s); each test publishes frames as
a camera and a LiDAR driver would (image, camera_info, then the scan with the same stamp) and reads the outputs back
through real subscriptions.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from mono_depth_ros.core import ros_msgs
from test.kitti_bag import CAMERA_FRAME, LIDAR_FRAME, KittiFrame

from .harness import (
    BEST_EFFORT,
    NODE_FQN,
    RELIABLE,
    Collector,
    KittiFeeder,
    Launched,
    Probe,
    accounted,
    depth_array,
    diagnostic_values,
    param_value,
    ros2_cli,
    settled_status,
    status_since,
    transform_msg,
    wait_until,
    write_params,
)

DIAG_PERIOD_S = 0.25
MAX_RANGE_M = 80.0


@pytest.fixture(scope="module")
def node(probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path) -> Iterator[Launched]:
    params = write_params(ros_logs / "node_params.yaml", {"diagnostics.period_s": DIAG_PERIOD_S})
    launched = Launched({"device": "cpu", "lidar": "/lidar/points", "params_file": str(params)}, ros_logs / "node.log")
    launched.wait_ready(probe)
    probe.send_static_tf(kitti_frames[0].cam_from_velo, probe.now_ns())
    yield launched
    code = launched.stop()
    assert code == 0, launched.log[-3000:]


@pytest.fixture(scope="module")
def feeder(node: Launched, probe: Probe, kitti_frames: list[KittiFrame]) -> KittiFeeder:
    feed = KittiFeeder(probe, kitti_frames)
    feed.wait_connected()
    return feed


@pytest.fixture(scope="module")
def outputs(node: Launched, probe: Probe) -> dict[str, Collector]:
    collectors = {
        "depth": probe.collect(Image, "/depth/image", RELIABLE),
        "info": probe.collect(CameraInfo, "/depth/camera_info", RELIABLE),
        "points": probe.collect(PointCloud2, "/depth/points", RELIABLE),
        "diagnostics": probe.collect(DiagnosticArray, "/diagnostics", RELIABLE),
    }
    wait_until(lambda: all(probe.node.count_publishers(c.topic) > 0 for c in collectors.values()), 20, "outputs")
    time.sleep(0.5)  # discovery: our readers matched to the node's writers
    return collectors


def send_frames(
    feeder: KittiFeeder,
    count: int,
    rate_hz: float,
    scan_delay_s: float | None = 0.03,
    lidar_frame: str = LIDAR_FRAME,
    one_scene: bool = False,
) -> list[int]:
    """Publish ``count`` frames at ``rate_hz``: image + camera_info, then (after ``scan_delay_s``) the scan.

    Frames cycle through the KITTI scenes, or repeat the first one (``one_scene``: no scene cut for the scale filter).
    """
    stamps = []
    period = 1.0 / rate_hz
    start = time.monotonic()
    for step in range(count):
        index = 0 if one_scene else step
        stamp = feeder.probe.now_ns()
        feeder.publish_image(index, stamp)
        if scan_delay_s is not None:
            time.sleep(scan_delay_s)
            scan = feeder.scan_msg(index, stamp)
            scan.header.frame_id = lidar_frame
            feeder.pub_lidar.publish(scan)
        stamps.append(stamp)
        time.sleep(max(0.0, start + (step + 1) * period - time.monotonic()))
    return stamps


def diagnostics_after(collector: Collector, after_ns: int, timeout_s: float = 10.0) -> dict[str, str]:
    """The node's first /diagnostics status stamped after monotonic time ``after_ns`` (:func:`status_since`: one that
    merely arrived after it could have been stamped before what the test saw happen, and not count it)."""
    since_ns = time.time_ns() - (time.monotonic_ns() - after_ns)  # on the node's clock: ROS time, the system's
    return status_since(collector, since_ns, timeout_s)


def settled_after(collector: Collector, after_ns: int) -> dict[str, str]:
    """:func:`diagnostics_after` for a test that checks every image is accounted for (:func:`settled_status`): a
    status stamped after a frame's depth arrived can still read that frame received and not yet published."""
    return settled_status(collector, time.time_ns() - (time.monotonic_ns() - after_ns))


def test_outputs_follow_rep118_with_the_input_stamp_and_optical_frame(
    feeder: KittiFeeder, outputs: dict[str, Collector], kitti_frames: list[KittiFrame]
) -> None:
    for collector in outputs.values():
        collector.clear()
    stamps = send_frames(feeder, 3, rate_hz=1.0)
    outputs["points"].wait_for(3, timeout_s=30)
    depth, info, points = (outputs[k].by_stamp() for k in ("depth", "info", "points"))
    assert set(stamps) <= set(depth) and set(stamps) <= set(info) and set(stamps) <= set(points)
    for index, stamp in enumerate(stamps):
        image, camera, cloud = depth[stamp], info[stamp], points[stamp]
        for msg in (image, camera, cloud):
            assert msg.header.frame_id == CAMERA_FRAME
        assert image.encoding == "32FC1" and image.is_bigendian == 0 and image.step >= 4 * image.width
        metres = depth_array(image)
        finite = np.isfinite(metres)
        assert finite.mean() > 0.5
        assert metres[finite].min() >= 0.1 and metres[finite].max() <= MAX_RANGE_M  # output.{min,max}_range
        assert np.isnan(metres).sum() + np.isinf(metres).sum() + finite.sum() == metres.size
        # camera_info: the intrinsics of the published depth image, rectified (no distortion), P used by consumers
        assert (camera.width, camera.height) == (image.width, image.height)
        p = np.asarray(camera.p).reshape(3, 4)
        frame = kitti_frames[index % len(kitti_frames)]
        scale = image.width / frame.rgb.shape[1]
        assert p[0, 0] == pytest.approx(frame.projection[0, 0] * scale, rel=1e-3)
        assert np.allclose(np.asarray(camera.d), 0.0) and np.allclose(np.asarray(camera.r).reshape(3, 3), np.eye(3))
        # organized cloud as depth_image_proc builds it: H x W, NaN invalid, z = depth
        assert (cloud.height, cloud.width, cloud.is_dense) == (image.height, image.width, False)
        assert [f.name for f in cloud.fields][:3] == ["x", "y", "z"]
        xyz = np.frombuffer(bytes(cloud.data), dtype=np.float32).reshape(cloud.height, cloud.width, -1)[..., :3]
        np.testing.assert_array_equal(np.isfinite(xyz[..., 2]), finite)
        np.testing.assert_array_equal(xyz[..., 2][finite], metres[finite])


def test_diagnostics_carry_the_documented_keys(feeder: KittiFeeder, outputs: dict[str, Collector]) -> None:
    send_frames(feeder, 1, rate_hz=2.0)
    outputs["depth"].wait_for(1, timeout_s=30)
    values = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    documented = {"fps", "latency_p50_ms", "latency_p95_ms", "frames_received", "frames_published",
                  "frames_dropped_stale", "bad_messages", "worker_errors", "scale", "shift", "scale_mode",
                  "scale_health", "inliers", "inlier_ratio", "residual", "age_s", "backend", "encoding",
                  "sync_mode", "lidar_topic", "scale_mode_requested", "frames_unstamped", "images_missing"}  # fmt: skip
    assert documented <= set(values), documented - set(values)
    assert values["lidar_topic"] == "/lidar/points" and values["backend"] == "unet"
    assert int(values["frames_published"]) >= 1 and int(values["worker_errors"]) == 0
    assert float(values["latency_p50_ms"]) > 0


@pytest.mark.parametrize("rate_hz", [1.0, 10.0])
def test_live_lidar_scale_is_used_when_the_scan_arrives_after_its_image(
    rate_hz: float, feeder: KittiFeeder, outputs: dict[str, Collector]
) -> None:
    """The defect this tier found: every frame went out with scale_mode last_good when scans came after images."""
    count = 4 if rate_hz < 2 else 20
    diagnostics, depth = outputs["diagnostics"], outputs["depth"]
    stamps = send_frames(feeder, count, rate_hz=rate_hz, scan_delay_s=0.03, one_scene=True)
    wait_until(lambda: stamps[-1] in depth.by_stamp(), 30, "the last frame's depth")
    with depth.lock:
        first_output = min(t for t, m in depth.items if ros_msgs.stamp_to_ns(m.header.stamp) in stamps)
    time.sleep(2 * DIAG_PERIOD_S)
    with diagnostics.lock:
        seen = [diagnostic_values(m) for t, m in diagnostics.items if t > first_output]
    modes = [(v["scale_mode"], v.get("scale_reason", "")) for v in seen if v is not None and "scale_mode" in v]
    assert modes, "no /diagnostics with a scale during the run"
    assert not [reason for _, reason in modes if "no LiDAR scan" in reason], f"unpaired at {rate_hz} Hz: {modes}"
    share = [mode for mode, _ in modes].count("lidar") / len(modes)
    assert share >= 0.9, f"scale modes at {rate_hz} Hz: {modes}"
    last = diagnostics_after(diagnostics, time.monotonic_ns())
    assert last["scale_mode"] == "lidar" and last["scale_health"] == "ok", last
    # age_s: the scale's age at its frame plus the time since that frame was published (the camera silent since,
    # 2 periods and more); the scale itself is fresh: its age at the frame, age_s - last_frame_age_s, under 0.2 s
    assert float(last["age_s"]) - float(last["last_frame_age_s"]) < 0.2, last
    assert float(last["last_frame_age_s"]) > DIAG_PERIOD_S, last  # the status came 2 periods after the frame
    assert 0 < int(last["lidar_points_used"]) <= int(last["lidar_points_in_image"]), last
    assert last["lidar_lag_s"] == "0.000", last  # each scan carries its image's stamp (sent 30 ms after it)


def test_a_late_transform_costs_only_those_frames_scale(
    feeder: KittiFeeder, outputs: dict[str, Collector], probe: Probe, kitti_frames: list[KittiFrame]
) -> None:
    """Scans in a frame whose TF is not there yet: frames still go out, each scan counted unused
    (``inputs_unused.lidar.TransformException``) and no image bad; once TF arrives, LiDAR scale. Every image adds up
    in ``/diagnostics`` (it counted the scans under ``bad_messages.TransformException``: received < published +
    bad)."""
    late_frame, unused = "velodyne_late", "inputs_unused.lidar.TransformException"
    before = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    tf_errors_before, bad_before = int(before.get(unused, "0")), int(before["bad_messages"])
    stamps = send_frames(feeder, 4, rate_hz=2.0, lidar_frame=late_frame)
    wait_until(lambda: set(stamps) <= set(outputs["depth"].by_stamp()), 30, "depth for frames without TF")
    without_tf = settled_after(outputs["diagnostics"], time.monotonic_ns())
    # every frame whose scan was paired (all but possibly the first: the LiDAR had been silent) counts a TF miss
    assert int(without_tf[unused]) >= tf_errors_before + 3 and int(without_tf["bad_messages"]) == bad_before
    assert accounted(without_tf) and without_tf["scale_mode"] != "lidar", without_tf

    late = kitti_frames[0].cam_from_velo
    probe.send_static_tf(type(late)(late.rotation, late.translation, CAMERA_FRAME, late_frame), probe.now_ns())
    time.sleep(0.5)
    stamps = send_frames(feeder, 3, rate_hz=2.0, lidar_frame=late_frame)
    wait_until(lambda: stamps[-1] in outputs["depth"].by_stamp(), 30, "depth after TF arrived")
    with_tf = settled_after(outputs["diagnostics"], time.monotonic_ns())
    assert with_tf["scale_mode"] == "lidar", with_tf
    assert int(with_tf[unused]) == int(without_tf[unused]) and accounted(with_tf), with_tf


def test_a_frame_waits_for_tf_that_lags_behind_its_scan(
    feeder: KittiFeeder, outputs: dict[str, Collector], probe: Probe, kitti_frames: list[KittiFrame]
) -> None:
    """A LiDAR on a moving mount (TF camera <- LiDAR on /tf, stamped with the scan) whose TF is published 60 ms after
    the scan: the frame went to the worker when its scan came, real tf2 (timeout zero) had no data at the scan stamp
    yet (extrapolation into the future) and every frame lost its LiDAR scale. Held until TF answers: scale lidar."""
    moving = "velodyne_on_a_mount"
    extrinsic = kitti_frames[0].cam_from_velo
    cam_from_moving = type(extrinsic)(extrinsic.rotation, extrinsic.translation, CAMERA_FRAME, moving)
    probe.tf.sendTransform(transform_msg(cam_from_moving, probe.now_ns() - 1_000_000_000))  # TF knows the frame
    before = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    tf_errors_before = int(before.get("inputs_unused.lidar.TransformException", "0"))
    stamps = []
    for _ in range(4):  # 2 Hz: image, its scan 30 ms later, TF at the scan stamp 60 ms after that
        stamp = probe.now_ns()
        feeder.publish_image(0, stamp)
        time.sleep(0.03)
        scan = feeder.scan_msg(0, stamp)
        scan.header.frame_id = moving
        feeder.pub_lidar.publish(scan)
        time.sleep(0.06)
        probe.tf.sendTransform(transform_msg(cam_from_moving, stamp))
        stamps.append(stamp)
        time.sleep(0.41)
    wait_until(lambda: set(stamps) <= set(outputs["depth"].by_stamp()), 30, "depth of the frames whose TF lagged")
    after = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    assert int(after.get("inputs_unused.lidar.TransformException", "0")) == tf_errors_before, after
    assert after["scale_mode"] == "lidar", after


@pytest.mark.parametrize("input_qos", ["best_effort", "reliable"])
def test_qos_matrix_inputs_and_outputs(
    input_qos: str, probe: Probe, kitti_frames: list[KittiFrame], outputs: dict[str, Collector]
) -> None:
    """Best-effort and reliable camera drivers are both accepted; reliable and best-effort readers both get output."""
    feed = KittiFeeder(probe, kitti_frames, qos=BEST_EFFORT if input_qos == "best_effort" else RELIABLE)
    feed.wait_connected()
    time.sleep(0.5)
    best_effort = {
        "depth": probe.collect(Image, "/depth/image", BEST_EFFORT),
        "info": probe.collect(CameraInfo, "/depth/camera_info", BEST_EFFORT),
        "points": probe.collect(PointCloud2, "/depth/points", BEST_EFFORT),
    }
    time.sleep(1.0)
    try:
        count = 4
        stamps = send_frames(feed, count, rate_hz=1.0)
        wait_until(lambda: stamps[-1] in outputs["points"].by_stamp(), 30, "the reliable cloud of the last frame")

        def arrived() -> bool:  # the outputs in flight beside the last reliable cloud (1 s was no bound)
            return all(
                set(stamps) <= set(outputs[name].by_stamp())
                and len(set(stamps) & set(best_effort[name].by_stamp())) >= count - 1
                for name in ("depth", "info", "points")
            )

        with contextlib.suppress(AssertionError):
            wait_until(arrived, 10, "the outputs of every frame")
        for name in ("depth", "info", "points"):
            assert set(stamps) <= set(outputs[name].by_stamp()), f"reliable {name}"
            received = set(stamps) & set(best_effort[name].by_stamp())
            # best effort: no repair of lost samples on a loaded machine; nearly all must still arrive
            assert len(received) >= count - 1, f"best-effort {name}: {len(received)} of {count}"
    finally:
        for collector in best_effort.values():
            probe.drop(collector)


def param_set(name: str, value: str) -> str:
    """``ros2 param set`` on the node; its stdout + stderr (a refusal prints to stderr with exit code 0)."""
    result = ros2_cli("param", "set", NODE_FQN, name, value, check=False)
    return result.stdout + result.stderr


def test_parameters_change_at_run_time_and_bad_values_are_refused(
    feeder: KittiFeeder, outputs: dict[str, Collector]
) -> None:
    result = param_set("output.max_range", "30")  # an integer for a float parameter: accepted
    try:
        assert "Set parameter successful" in result, result
        got = ros2_cli("param", "get", NODE_FQN, "output.max_range").stdout
        assert "30" in got
        (stamp,) = send_frames(feeder, 1, rate_hz=2.0)
        wait_until(lambda: stamp in outputs["depth"].by_stamp(), 30, "depth after the change")
        metres = depth_array(outputs["depth"].by_stamp()[stamp])
        assert metres[np.isfinite(metres)].max() <= 30.0 and np.isposinf(metres).any()  # beyond range: +Inf (REP 117)

        for name, value, reason in [
            ("output.max_range", "-5.0", "output.max_range"),
            ("output.max_range", "nan", "output.max_range"),
            ("cloud.mode", "sparse", "cloud.mode"),
            ("output.device_postprocess", "off", "\"'off'\""),  # YAML's bool: rclpy said only "Wrong parameter type"
            ("model.backend", "onnx", "read"),
        ]:
            refused = param_set(name, value)
            assert "Setting parameter failed" in refused, (name, value, refused)
            assert reason in refused, refused
        deleted = ros2_cli("param", "delete", NODE_FQN, "output.max_range", check=False)
        assert "cannot be deleted (the node reads it); set a value instead" in deleted.stdout + deleted.stderr, deleted
        assert "30" in ros2_cli("param", "get", NODE_FQN, "output.max_range").stdout  # unchanged by the refusals
    finally:  # the module's node is shared: the tests after it expect the default range
        assert "Set parameter successful" in param_set("output.max_range", "80.0")


def test_a_float_in_e_notation_from_ros2_param_set_names_the_spelling_that_ros2_param_set_takes(node: Launched) -> None:
    """``ros2 param set NODE lidar.wait_s 5e-2``: ros2 param set parses with YAML 1.1, which reads 5e-2 as text; the
    refusal said "write it unquoted: 5e-2", what the user had written. It names 0.05, and 0.05 is taken."""
    try:
        refused = param_set("lidar.wait_s", "5e-2")
        assert "Setting parameter failed" in refused and "write it unquoted as 0.05: YAML 1.1" in refused, refused
        assert param_value(NODE_FQN, "lidar.wait_s") == "0.2"  # unchanged
        assert "Set parameter successful" in param_set("lidar.wait_s", "0.05")
        assert param_value(NODE_FQN, "lidar.wait_s") == "0.05"
    finally:  # the module's node is shared: the tests after it expect the default wait
        assert "Set parameter successful" in param_set("lidar.wait_s", "0.2")


def test_images_never_paired_with_camera_info_or_without_frame_id_are_counted_not_lost_silently(
    feeder: KittiFeeder, outputs: dict[str, Collector]
) -> None:
    """A driver that stamps camera_info 0 (ApproximateTime never pairs it) and one without frame_id: each image is
    counted in /diagnostics (it was dropped without a trace) and the node goes on publishing good frames."""
    before = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    lost = []
    for index in range(3):
        stamp = feeder.probe.now_ns()
        image, info = feeder.image_msgs(index, stamp)
        info.header.stamp.sec, info.header.stamp.nanosec = 0, 0
        feeder.pub_info.publish(info)
        feeder.pub_image.publish(image)
        feeder.publish_scan(index, stamp)
        lost.append(stamp)
        time.sleep(0.1)
    stamp = feeder.probe.now_ns()
    image, info = feeder.image_msgs(0, stamp)
    image.header.frame_id = info.header.frame_id = ""
    feeder.pub_info.publish(info)
    feeder.pub_image.publish(image)
    feeder.publish_scan(0, stamp)
    lost.append(stamp)

    def count(values: dict[str, str], key: str) -> int:
        return int(values.get(f"bad_messages.{key}", "0"))

    def counted() -> bool:
        now = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
        return (
            count(now, "no_camera_info") >= count(before, "no_camera_info") + 3
            and count(now, "TransformError") >= count(before, "TransformError") + 1
        )

    wait_until(counted, 10, "the unpaired images and the one without frame_id in /diagnostics")
    after = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    assert int(after["frames_received"]) >= int(before["frames_received"]) + 4
    assert not set(lost) & set(outputs["depth"].by_stamp())
    assert all(m.header.frame_id for m in outputs["depth"].messages)
    (good,) = send_frames(feeder, 1, rate_hz=2.0)
    wait_until(lambda: good in outputs["depth"].by_stamp(), 30, "depth of a good frame after the bad ones")


def test_images_lost_before_the_node_are_counted_missing_from_their_camera_info(
    node: Launched, feeder: KittiFeeder, outputs: dict[str, Collector]
) -> None:
    """A best-effort reader of a 1920x1200 rgb8 camera at 30 Hz got 35% of the images (Humble + Cyclone, measured):
    the rest vanished in transport with no trace in /diagnostics while their camera_infos arrived. Here 2 of 6
    images are not sent (deterministic stand-in for the transport loss): images_missing counts them, and the log
    names the remedy."""
    time.sleep(1.5)  # camera_infos of the tests before: decided
    before = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    skipped = (1, 3)
    for index in range(6):
        stamp = feeder.probe.now_ns()
        image, info = feeder.image_msgs(index % 3, stamp)
        feeder.pub_info.publish(info)
        if index not in skipped:
            feeder.pub_image.publish(image)
        feeder.publish_scan(index % 3, stamp)
        time.sleep(0.2)

    def missing() -> int:
        return int(diagnostics_after(outputs["diagnostics"], time.monotonic_ns()).get("images_missing", "-1"))

    wait_until(lambda: missing() >= int(before["images_missing"]) + len(skipped), 10, "images_missing in /diagnostics")
    assert missing() == int(before["images_missing"]) + len(skipped)
    assert "input_qos: reliable" in node.said("image(s) never arrived (images_missing in /diagnostics)")


def test_an_image_whose_camera_info_comes_after_the_give_up_time_is_published_and_counted_once(
    feeder: KittiFeeder, outputs: dict[str, Collector]
) -> None:
    """ApproximateTime still holds an image whose camera_info comes 1.5 s late, after the SyncWatch counted it lost
    (1 s): it is published, and /diagnostics takes that no_camera_info back (it said a published frame was lost)."""
    before = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    stamp = feeder.probe.now_ns()
    image, info = feeder.image_msgs(0, stamp)
    feeder.pub_image.publish(image)
    feeder.publish_scan(0, stamp)
    time.sleep(1.5)
    feeder.pub_info.publish(info)
    wait_until(lambda: stamp in outputs["depth"].by_stamp(), 30, "depth of the image paired late")
    after = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    lost_before = int(before.get("bad_messages.no_camera_info", "0"))
    assert int(after.get("bad_messages.no_camera_info", "0")) == lost_before, after


def test_messages_stamped_before_zero_are_counted_and_do_not_end_the_node(
    node: Launched, feeder: KittiFeeder, outputs: dict[str, Collector]
) -> None:
    """message_filters raised ValueError on an image or camera_info with header.stamp.sec < 0 in the executor: the
    node process died (exit code 1). Now each such message is counted and the next good frame goes out: the image in
    ``bad_messages.TransformError``, its camera_info (no image) in ``inputs_unused.camera_info.TransformError`` (it
    was a second bad message for one image: received != published + dropped + bad)."""
    before = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    image, info = feeder.image_msgs(0, feeder.probe.now_ns())
    image.header.stamp.sec = info.header.stamp.sec = -5
    feeder.pub_info.publish(info)
    feeder.pub_image.publish(image)
    (good,) = send_frames(feeder, 1, rate_hz=2.0)
    wait_until(lambda: good in outputs["depth"].by_stamp(), 30, "depth of a good frame after the negative stamps")
    assert node.alive(), node.log[-3000:]
    after = settled_after(outputs["diagnostics"], time.monotonic_ns())
    keys = ("bad_messages.TransformError", "inputs_unused.camera_info.TransformError")
    assert [int(after.get(key, "0")) - int(before.get(key, "0")) for key in keys] == [1, 1], after
    assert accounted(after), after
    node.said("a stamp before 0 is no ROS time")


def test_truncated_serialised_inputs_are_counted_logged_and_do_not_end_the_node(
    node: Launched, feeder: KittiFeeder, outputs: dict[str, Collector]
) -> None:
    """The node subscribes raw (CDR bytes) and decodes its inputs itself (adapters.cdr_input): an image, a
    camera_info and a Velodyne scan cut short, published as serialised bytes through real DDS, are each counted (the
    image received and ``bad_messages.bad_cdr``, the others ``inputs_unused.camera_info.bad_cdr`` /
    ``inputs_unused.lidar.bad_cdr``: no image) and logged; the process lives on and the next good frame goes out."""
    from rclpy.serialization import serialize_message

    before = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    stamp_ns = feeder.probe.now_ns()
    image, info = feeder.image_msgs(0, stamp_ns)
    feeder.pub_lidar.publish(serialize_message(feeder.scan_msg(0, stamp_ns))[:5000])
    feeder.pub_info.publish(serialize_message(info)[:60])
    feeder.pub_image.publish(serialize_message(image)[:100_000])
    (good,) = send_frames(feeder, 1, rate_hz=2.0)
    wait_until(lambda: good in outputs["depth"].by_stamp(), 30, "depth of a good frame after the truncated messages")
    assert node.alive(), node.log[-3000:]
    after = settled_after(outputs["diagnostics"], time.monotonic_ns())
    keys = ("bad_messages.bad_cdr", "inputs_unused.camera_info.bad_cdr", "inputs_unused.lidar.bad_cdr")
    assert [int(after.get(key, "0")) - int(before.get(key, "0")) for key in keys] == [1, 1, 1], after
    assert accounted(after), after
    for text in ("Image on /camera/image_raw (100000 bytes)", "CameraInfo on /camera/camera_info (60 bytes)"):
        node.said(f"cannot deserialise sensor_msgs/msg/{text}")
    node.said("LiDAR scan not used (lidar.bad_cdr): cannot deserialise sensor_msgs/msg/PointCloud2")


def feed_late_lidar(feeder: KittiFeeder, count: int, late_ns: int = 300_000_000) -> list[int]:
    """``count`` images of frame 0 at 10 Hz stamped now, each scan published once it is ``late_ns`` behind its image's
    stamp (a LiDAR driver that publishes a sweep once it is processed, a busy network); returns the stamps (ns)."""
    stamps: list[int] = []
    pending: list[int] = []
    for _ in range(count):
        stamps.append(feeder.probe.now_ns())
        pending.append(stamps[-1])
        feeder.publish_image(0, stamps[-1])
        time.sleep(0.1)
        while pending and feeder.probe.now_ns() - pending[0] >= late_ns:
            feeder.publish_scan(0, pending.pop(0))
    time.sleep(late_ns / 1e9)
    for stamp in pending:
        feeder.publish_scan(0, stamp)
    return stamps


def test_a_lidar_whose_scans_come_later_than_lidar_wait_s_is_named_with_the_wait_to_set(
    node: Launched, feeder: KittiFeeder, outputs: dict[str, Collector]
) -> None:
    """A LiDAR whose scans reach the node 0.3 s after their image's stamp (a driver that publishes a sweep once it is
    processed, a busy network), past ``lidar.wait_s`` (0.2 s): every frame went on without its scan, the scans came
    for frames already gone, and every depth image lost its LiDAR scale (``scale_reason: no LiDAR scan``) with
    nothing in the log (the scans at hand were within ``max_age_s`` plus a period: no "not used" warning). Each scan
    that comes for a frame gone after the wait is counted (``inputs_unused.lidar.after_wait``) and logged with how
    late it came and the ``lidar.wait_s`` to set."""
    before = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
    stamps = feed_late_lidar(feeder, 15)
    wait_until(lambda: stamps[-1] in outputs["depth"].by_stamp(), 30, "depth of the frames whose scan was late")
    after = settled_after(outputs["diagnostics"], time.monotonic_ns())
    late = int(after.get("inputs_unused.lidar.after_wait", "0")) - int(
        before.get("inputs_unused.lidar.after_wait", "0")
    )
    assert late >= 5, after
    assert accounted(after), after
    node.said("LiDAR scan not used (lidar.after_wait): the scan stamped")
    advice = r"longer than lidar.wait_s=0.2 s; set lidar.wait_s to (0\.[4-9]|[1-5](\.\d)?) s or more"  # 0.3 s + load
    node.said(re.compile(advice))


def test_lidar_wait_s_set_at_run_time_lets_frames_wait_for_a_late_lidar(
    node: Launched, feeder: KittiFeeder, outputs: dict[str, Collector]
) -> None:
    """The late-scan warning says "set lidar.wait_s to 0.4 s or more", but ``ros2 param set NODE lidar.wait_s 0.6``
    was refused (read-only: read at start-up), so following it meant restarting the node. Set at run time, it applies
    to the next frames: a LiDAR 0.3 s late, its scans no longer counted ``inputs_unused.lidar.after_wait``."""
    result = param_set("lidar.wait_s", "0.6")
    try:
        assert "Set parameter successful" in result, result
        time.sleep(1.0)  # late scans of the previous test's frames, if any, are in
        before = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
        stamps = feed_late_lidar(feeder, 10)
        wait_until(lambda: stamps[-1] in outputs["depth"].by_stamp(), 30, "depth of the frames that waited")
        time.sleep(0.5)
        after = diagnostics_after(outputs["diagnostics"], time.monotonic_ns())
        key = "inputs_unused.lidar.after_wait"
        assert int(after.get(key, "0")) == int(before.get(key, "0")), (before, after)
        assert int(after["frames_published"]) - int(before["frames_published"]) >= 9, (before, after)
    finally:
        assert "Set parameter successful" in param_set("lidar.wait_s", "0.2") or "read-only" in result
