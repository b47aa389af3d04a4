"""run_bag on tiny synthetic bags: accounting, pairing, every reliability case (bad input never stops the run)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mono_depth_ros.adapters.signals import StopSignals
from mono_depth_ros.bag import BagRunOptions, BagSummary, run_bag
from mono_depth_ros.bag.summary import DAMAGED_INPUT
from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.densify import densify_nearest
from mono_depth_ros.core.errors import BagError
from mono_depth_ros.core.ros_msgs import (
    camera_info_from_model,
    depth_image_from_metres,
    depth_image_to_metres,
    image_from_array,
    make_header,
    pointcloud2_to_structured,
    stamp_to_ns,
    tf_message_from,
)
from mono_depth_ros.demo.bag_builder import BagBuilder
from mono_depth_ros.evaluation.scale_rigs import CAMERA_FRAME as KITTI_CAMERA_FRAME
from mono_depth_ros.evaluation.scale_rigs import LIDAR_FRAME as KITTI_LIDAR_FRAME
from test.kitti_bag import (
    KittiFrame,
    kitti_camera_info,
    load_kitti_frames,
    relative_inverse_prediction,
    write_static_correction_bag,
)
from test.lidar_sweep import (
    LAYOUTS,
    SWEEP_NS,
    Layout,
    driver_stamp,
    odom_from_camera,
    skewed_sweep,
    sweep_cloud,
    sweep_laser_scan,
)

from .support import (
    CAMERA_FRAME,
    HEIGHT,
    ODOM_FRAME,
    PERIOD_NS,
    START_NS,
    WIDTH,
    Mutate,
    add_recorded_clock,
    compress_files_whole,
    read_bag,
    recompress,
    split_bag,
    write_moving_bag,
    write_tiny_bag,
)

EXTERNAL_METRIC = {"model.backend": "external", "model.output_kind": "metric", "scale.mode": "none"}
EXTERNAL_RELATIVE = {
    "model.backend": "external",
    "model.output_kind": "relative_inverse",
    "scale.mode": "lidar",
    "lidar_topic": "/lidar/points",
}
QUIET = BagRunOptions(progress=False)


def _run(
    tmp_path: Path,
    params: Mapping[str, Any],
    options: BagRunOptions = QUIET,
    mutate: Mutate | None = None,
    **bag: Any,
) -> tuple[BagSummary, dict[str, list[tuple[int, Any]]]]:
    frames = write_tiny_bag(tmp_path / "in", mutate=mutate, **bag)
    summary = run_bag(tmp_path / "in", tmp_path / "out", dict(params), options)
    assert summary.accounted
    assert summary.frames_in == len(frames)
    return summary, read_bag(tmp_path / "out", options.distro)


def test_external_metric_outputs_carry_input_stamps_and_depth(tmp_path: Path) -> None:
    summary, out = _run(tmp_path, EXTERNAL_METRIC)
    assert summary.frames_out == 3 and summary.skipped.total == 0
    assert set(out) == {"/depth/image", "/depth/camera_info", "/depth/points", "/diagnostics"}
    frames = write_tiny_bag(tmp_path / "again", 3)
    for frame, (log_ns, image), (_, info), (_, cloud) in zip(
        frames, out["/depth/image"], out["/depth/camera_info"], out["/depth/points"], strict=True
    ):
        for message in (image, info, cloud):
            assert stamp_to_ns(message.header.stamp) == frame.stamp_ns
            assert message.header.frame_id == CAMERA_FRAME
        assert log_ns == frame.stamp_ns + 1  # written at the input image's bag time
        assert (image.encoding, image.width, image.height) == ("32FC1", WIDTH, HEIGHT)
        assert (info.width, info.height) == (WIDTH, HEIGHT)
        np.testing.assert_allclose(depth_image_to_metres(image), frame.depth_m, rtol=1e-6)
        assert (cloud.height, cloud.width) == (HEIGHT, WIDTH)
        points = pointcloud2_to_structured(cloud)
        np.testing.assert_allclose(points["z"], frame.depth_m, rtol=1e-6)
    assert summary.topic_counts["/depth/image"] == 3


def test_a_zoom_in_the_bag_keeps_the_undistortion_maps_of_the_last_models_kept_calibrations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A raw image (image_is_rectified false) whose camera_info, with a lens's distortion, zooms a little every frame
    (fx 50 + 0.5 per frame): each frame is undistorted with its own calibration and published with it, and the maps
    of at most MODELS_KEPT calibrations are held at once, as the node's CameraModelCache holds. The index keeps a
    model per calibration for the run: every frame's maps were kept to the end (10 of 10 here; ~14 MB a frame at
    1920x1200)."""
    import weakref

    from mono_depth_ros.adapters.camera_cache import MODELS_KEPT

    holders: dict[int, weakref.ref[CameraModel]] = {}
    most = [0]
    build = CameraModel._build_maps

    def counted(model: CameraModel, *args: Any) -> Any:
        maps = build(model, *args)
        holders[id(model)] = weakref.ref(model)
        held = [m for ref in holders.values() if (m := ref()) is not None and m._undistort_maps]
        most[0] = max(most[0], len(held) + all(m is not model for m in held))  # the one building now too
        return maps

    monkeypatch.setattr(CameraModel, "_build_maps", counted)

    def zoom(topic: str, index: int, msg: Any) -> Any:
        if topic == "/camera/camera_info":
            msg.k[0] = msg.p[0] = 50.0 + 0.5 * index
            msg.d = np.array([0.01, 0.0, 0.0, 0.0, 0.0])
        return msg

    summary, out = _run(tmp_path, {**EXTERNAL_METRIC, "image_is_rectified": False}, mutate=zoom, n_frames=10)
    assert summary.frames_out == 10 and summary.skipped.total == 0
    fx = [float(info.k[0]) for _, info in out["/depth/camera_info"]]
    np.testing.assert_allclose(fx, 50.0 + 0.5 * np.arange(10))  # each frame's own calibration
    assert len(holders) == 10 and most[0] <= MODELS_KEPT, (len(holders), most[0])


def test_on_frame_reports_every_image_as_it_is_done(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    options = BagRunOptions(progress=False, on_frame=lambda done, total: calls.append((done, total)))
    summary, _ = _run(tmp_path, EXTERNAL_METRIC, options)
    assert summary.frames_out == 3
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_relative_inverse_with_lidar_becomes_metric(tmp_path: Path) -> None:
    summary, out = _run(tmp_path, EXTERNAL_RELATIVE, prediction="relative_inverse")
    assert summary.frames_out == 3 and not summary.warnings.counts
    frames = write_tiny_bag(tmp_path / "again", 3)
    for frame, (_, image) in zip(frames, out["/depth/image"], strict=True):
        np.testing.assert_allclose(depth_image_to_metres(image), frame.depth_m, rtol=1e-3)


@pytest.mark.parametrize("motion_frame", ["", "odom"])
def test_lidar_motion_frame_moves_early_scans_to_the_image_stamp(tmp_path: Path, motion_frame: str) -> None:
    # 10 m/s and scans 45 ms early: the LiDAR sees the plane (~10 m away) from 0.45 m further back than the image.
    frames = write_moving_bag(tmp_path / "in", speed_mps=10.0)
    params = {**EXTERNAL_RELATIVE, "lidar.motion_frame": motion_frame}
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, QUIET)
    assert summary.frames_out == len(frames) and not summary.warnings.counts
    out = read_bag(tmp_path / "out")
    errors = [
        np.median(np.abs(depth_image_to_metres(image) / frame.depth_m - 1.0))
        for frame, (_, image) in zip(frames, out["/depth/image"], strict=True)
    ]
    if motion_frame:
        assert max(errors) < 1e-3  # exact up to float32
    else:
        assert min(errors) > 0.03  # the uncompensated scan is biased by the 0.45 m it lags (~4 %)


def test_lidar_motion_frame_in_a_bag_whose_clock_went_back_uses_the_tf_of_each_pass(tmp_path: Path) -> None:
    """A simulation reset while recording: the second pass drives at 4 m/s with the stamps of the first (10 m/s).
    The bag's TF was one timeline (the second pass's odom replaced the first's at equal stamps): the scans of one
    pass were moved with the other pass's motion (median depth errors 2 to 27 %). Each pass now gives the depth it
    gives recorded alone."""
    frames = write_moving_bag(tmp_path / "in", speed_mps=10.0, n_frames=12, replays=[4.0])
    write_moving_bag(tmp_path / "alone", speed_mps=4.0, n_frames=12)
    params = {**EXTERNAL_RELATIVE, "lidar.motion_frame": "odom"}
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, QUIET)
    assert summary.frames_out == len(frames) == 24 and not summary.warnings.counts
    run_bag(tmp_path / "alone", tmp_path / "alone_out", params, QUIET)
    depth = [depth_image_to_metres(image) for _, image in read_bag(tmp_path / "out")["/depth/image"]]
    errors = [np.median(np.abs(d / frame.depth_m - 1.0)) for frame, d in zip(frames, depth, strict=True)]
    assert max(errors[:12]) < 1e-3, " ".join(f"{e:.4f}" for e in errors)  # exact up to float32
    for second, (_, image) in zip(depth[12:], read_bag(tmp_path / "alone_out")["/depth/image"], strict=True):
        np.testing.assert_array_equal(second, depth_image_to_metres(image))


def test_a_slow_lidar_on_the_cameras_clock_is_not_told_it_stopped_or_stamps_on_another_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 10 Hz camera and a 0.2 Hz LiDAR on its clock (a scan with frames 0 and 50, each recorded just after its
    stamp): the frames between went without a scan, and those more than 1 s from one were told "the LiDAR stopped,
    or the LiDAR and the camera stamp on different clocks" (the nearest scan of the bag, the stamp gap alone). As the
    node has them at hand, the first scan is the only one: its rate is not known yet."""
    import mono_depth_ros.bag.runner as runner_module

    texts: list[str] = []
    words = runner_module.no_scan_text

    def spy(*args: Any, **kwargs: Any) -> str:  # every frame's text (the summary keeps the first)
        texts.append(words(*args, **kwargs))
        return texts[-1]

    monkeypatch.setattr(runner_module, "no_scan_text", spy)

    def slow(topic: str, index: int, msg: Any) -> Any:
        return None if topic == "/lidar/points" and index % 50 else msg  # a scan with frames 0 and 50 only

    summary, _ = _run(tmp_path, EXTERNAL_RELATIVE, mutate=slow, n_frames=51)
    assert summary.warnings.counts["lidar: no scan in time"] == len(texts) == 45, texts  # frames 3 to 47
    false = [text for text in texts if "stopped" in text or "different clocks" in text]
    assert not false, false[0]
    far = [text for text in texts if "(the only scan at hand: the LiDAR's rate is not known yet)" in text]
    assert len(far) == 37, texts  # frames 11 to 47: more than 1 s after the first scan


def test_frames_after_a_slow_lidars_second_scan_are_told_its_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 0.2 Hz LiDAR on the camera's clock of the test above, a scan with frames 0, 50 and 100: after its second
    scan the scans at hand give its period, and a frame more than 1 s from a scan but within lidar.max_age_s and one
    period of it is told the LiDAR's rate (the branch of no_scan_text no other test reached), not that it stopped."""
    import mono_depth_ros.bag.runner as runner_module

    texts: list[str] = []
    words = runner_module.no_scan_text

    def spy(*args: Any, **kwargs: Any) -> str:
        texts.append(words(*args, **kwargs))
        return texts[-1]

    monkeypatch.setattr(runner_module, "no_scan_text", spy)

    def slow(topic: str, index: int, msg: Any) -> Any:
        return None if topic == "/lidar/points" and index % 50 else msg  # a scan with frames 0, 50 and 100 only

    summary, _ = _run(tmp_path, EXTERNAL_RELATIVE, mutate=slow, n_frames=101)
    assert summary.warnings.counts["lidar: no scan in time"] == len(texts), texts
    assert not [text for text in texts if "stopped" in text or "different clocks" in text], texts
    rate = [text for text in texts if "(the LiDAR's rate: a scan every 5.000 s)" in text]
    assert len(rate) == 37, texts  # frames 61 to 97: more than 1 s from a scan, after the second


def test_scans_on_another_clock_are_explained_as_the_node_explains_them(tmp_path: Path) -> None:
    """The summary said only "no scan within lidar.max_age_s"; now, as the node's log: how far the nearest scan at
    hand is, and, the scan stamped an hour further behind the image than it was recorded before it, the clocks."""

    def hour_behind(topic: str, index: int, msg: Any) -> Any:
        if topic == "/lidar/points":
            msg.header.stamp.sec -= 3600
        return msg

    summary, _ = _run(tmp_path, EXTERNAL_RELATIVE, mutate=hour_behind)
    assert summary.frames_out == 3 and summary.warnings.counts["lidar: no scan in time"] == 3
    text = summary.warnings.examples["lidar: no scan in time"]
    assert "nearest scan is stamped 3599.900 s before it" in text and "different clocks" in text, text  # the scans
    # at hand when the node lets the first image go: held until the second scan gave the period (far_behind), the
    # nearest that one, 0.1 s on (it said 3600.000 s, the scan at hand when the node took the image in, which the
    # node's log does not: test_frames_held_for_the_second_scan_of_a_lidar_an_hour_behind_get_the_nodes_words);
    # the arrivals name the clocks


def test_camera_info_the_node_would_not_pair_is_used_and_warned(tmp_path: Path) -> None:
    """A driver that stamps camera_info 0: live, ApproximateTime never pairs an image with it (every frame counted
    no_camera_info); offline the latest camera_info before the image was used without a word, so the bag ran and the
    node on the same data did not."""

    def unstamped_info(topic: str, index: int, msg: Any) -> Any:
        if topic == "/camera/camera_info":
            msg.header.stamp.sec, msg.header.stamp.nanosec = 0, 0
        return msg

    summary, _ = _run(tmp_path, EXTERNAL_METRIC, mutate=unstamped_info)
    assert summary.frames_out == 3
    reason = "camera_info: not within sync.slop_s"
    assert summary.warnings.counts[reason] == 3, summary.warnings.counts
    text = summary.warnings.examples[reason]
    assert "nearest camera_info is stamped 0.000 s" in text and "no_camera_info" in text and "sync.mode: latest" in text
    latest, _ = _run(tmp_path / "latest", {**EXTERNAL_METRIC, "sync.mode": "latest"}, mutate=unstamped_info)
    assert reason not in latest.warnings.counts  # what the node does with sync.mode: latest


def _set(field: str, value: Any, topic: str, frame: int) -> Mutate:
    def mutate(t: str, index: int, msg: Any) -> Any:
        if t == topic and index == frame:
            setattr(msg, field, value)
            if field == "height" and value == 0:  # an image without pixels: no data either
                msg.data = msg.data[:0]
        return msg

    return mutate


def _drop(topic: str, frame: int | None = None) -> Mutate:
    return lambda t, index, msg: None if t == topic and frame in (None, index) else msg


@pytest.mark.parametrize(
    ("mutate", "reason", "example"),
    [
        (_set("encoding", "nv24", "/camera/image_raw", 1), "image: EncodingError", "'nv24' is not a colour"),
        (_set("width", 80, "/camera/camera_info", 1), "pipeline: CalibrationError", "64x48 but the camera"),
        (_set("k", np.zeros(9), "/camera/camera_info", 1), None, None),  # P still has the focal length
        (_drop("/depth_model/prediction", 1), "no prediction", "must copy the image header stamp"),
        (_set("encoding", "rgb8", "/depth_model/prediction", 1), "prediction: undecodable", "16UC1 or mono16 in"),
        (_set("height", 0, "/camera/image_raw", 1), "image: ShapeError", "no pixels"),  # data emptied by _set below
    ],
)
def test_one_bad_frame_is_skipped_with_a_reason(
    tmp_path: Path, mutate: Mutate, reason: str | None, example: str | None
) -> None:
    summary, out = _run(tmp_path, EXTERNAL_METRIC, mutate=mutate)
    if reason is None:
        assert summary.frames_out == 3
        return
    assert summary.frames_out == 2
    assert dict(summary.skipped.counts) == {reason: 1}
    assert example is not None and example in summary.skipped.examples[reason]
    assert len(out["/depth/image"]) == 2
    assert reason in summary.format()


def test_a_camera_info_roi_past_the_calibrated_image_is_skipped_with_the_reason(tmp_path: Path) -> None:
    def roi_past(topic: str, index: int, msg: Any) -> Any:
        if topic == "/camera/camera_info" and index == 2:
            msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = 100, 100, 64, 48
        return msg

    summary, _ = _run(tmp_path, EXTERNAL_METRIC, mutate=roi_past)
    assert dict(summary.skipped.counts) == {"camera_info: CalibrationError": 1}
    assert "roi 64x48 at (100, 100) does not fit" in summary.skipped.examples["camera_info: CalibrationError"]


def test_zero_focal_length_camera_info_is_skipped(tmp_path: Path) -> None:
    def zero_focal(topic: str, index: int, msg: Any) -> Any:
        if topic == "/camera/camera_info" and index == 2:
            msg.k = np.zeros(9)
            msg.p = np.zeros(12)
        return msg

    summary, _ = _run(tmp_path, EXTERNAL_METRIC, mutate=zero_focal)
    assert dict(summary.skipped.counts) == {"camera_info: CalibrationError": 1}
    assert "zero focal length" in summary.skipped.examples["camera_info: CalibrationError"]


def test_camera_info_pairing_falls_back_to_latest(tmp_path: Path) -> None:
    summary, _ = _run(tmp_path, EXTERNAL_METRIC, mutate=_drop("/camera/camera_info", 1))
    assert summary.frames_out == 3  # frame 1 uses frame 0's camera_info (latest before it)
    summary, _ = _run(tmp_path / "first", EXTERNAL_METRIC, mutate=_drop("/camera/camera_info", 0))
    assert dict(summary.skipped.counts) == {"no camera_info": 1}  # nothing at or before frame 0, next is 100 ms later


def test_empty_and_all_nan_scans_and_missing_tf_are_warnings(tmp_path: Path) -> None:
    def bad_scans(topic: str, index: int, msg: Any) -> Any:
        if topic == "/lidar/points" and index == 0:
            msg.width, msg.row_step, msg.data = 0, 0, np.zeros(0, dtype=np.uint8)
        if topic == "/lidar/points" and index == 1:
            msg.data = np.full(msg.data.size // 4, np.nan, dtype=np.float32).view(np.uint8)
        return msg

    summary, _out = _run(tmp_path, EXTERNAL_RELATIVE, mutate=bad_scans, prediction="relative_inverse")
    assert summary.frames_out == 3
    assert summary.warnings.counts["lidar.empty_scan"] == 2  # the node's inputs_unused names
    summary, _ = _run(tmp_path / "no_tf", EXTERNAL_RELATIVE, tf_static=False, prediction="relative_inverse")
    assert summary.frames_out == 3
    assert summary.warnings.counts["lidar.TransformException"] == 3  # TF cannot answer: tf2's exception
    assert "static_transform_publisher" in summary.warnings.examples["lidar.TransformException"]


def test_missing_topics_raise_bag_errors_before_writing(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 1, mutate=lambda t, i, m: None if t == "/camera/camera_info" else m)
    with pytest.raises(BagError, match=r"no topic '/camera/camera_info' \(camera_info_topic\)"):
        run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, QUIET)
    assert not (tmp_path / "out").exists()
    with pytest.raises(BagError, match=r"no topic '/cam' \(image_topic\).*/camera/image_raw"):
        run_bag(tmp_path / "in", tmp_path / "out", {**EXTERNAL_METRIC, "image_topic": "/cam"}, QUIET)
    write_tiny_bag(tmp_path / "nopred", 1, prediction="none")
    with pytest.raises(BagError, match=r"prediction_topic"):
        run_bag(tmp_path / "nopred", tmp_path / "out", EXTERNAL_METRIC, QUIET)


def test_a_bag_without_any_image_topic_names_what_it_holds_not_a_topic_to_set(tmp_path: Path) -> None:
    """A bag of /clock only (recorded with --use-sim-time, the camera topic left out): was "topics of type ... in
    it: none; set --param image_topic=TOPIC", a remedy that cannot work; a topic of another type had no remedy."""
    from rosbags.rosbag2 import Writer

    from mono_depth_ros.bag.reader import typestore_for

    typestore = typestore_for("humble")
    clock_type = typestore.types["rosgraph_msgs/msg/Clock"]
    stamp = typestore.types["builtin_interfaces/msg/Time"](sec=1, nanosec=0)
    with Writer(tmp_path / "clock", version=8) as writer:
        connection = writer.add_connection("/clock", "rosgraph_msgs/msg/Clock", typestore=typestore)
        writer.write(connection, 1, typestore.serialize_cdr(clock_type(stamp), "rosgraph_msgs/msg/Clock"))
    with pytest.raises(BagError) as err:
        run_bag(tmp_path / "clock", tmp_path / "out", EXTERNAL_METRIC, QUIET)
    assert str(err.value) == (
        f"bag {tmp_path / 'clock'} has no topic '/camera/image_raw' (image_topic) and none of type "
        "sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage: it holds /clock (rosgraph_msgs/msg/Clock); "
        "record the camera's topic with the others (ros2 bag record TOPIC ... or -a)"
    )
    write_tiny_bag(tmp_path / "in", 1)
    with pytest.raises(BagError) as err:
        run_bag(tmp_path / "in", tmp_path / "out", {**EXTERNAL_METRIC, "image_topic": "/lidar/points"}, QUIET)
    assert str(err.value).endswith(
        "is sensor_msgs/msg/PointCloud2, expected sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage; topics "
        "of those types in it: /camera/image_raw, /depth_model/prediction; set --param image_topic=TOPIC"
    )
    assert not (tmp_path / "out").exists()


def test_a_bag_without_its_prediction_topic_does_not_say_it_has_no_image(tmp_path: Path) -> None:
    """Was: "... and none of type sensor_msgs/msg/Image: it holds ..., /camera/image_raw (sensor_msgs/msg/Image)":
    the image topic is left out of the prediction's candidates, and the line said the bag had no image at all."""
    write_tiny_bag(tmp_path / "nopred", 1, prediction="none")
    with pytest.raises(BagError) as err:
        run_bag(tmp_path / "nopred", tmp_path / "out", EXTERNAL_METRIC, QUIET)
    assert (
        "has no topic '/depth_model/prediction' (prediction_topic) and none of type sensor_msgs/msg/Image other than "
        "/camera/image_raw (the image topic): it holds" in str(err.value)
    )


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_options_copy_inputs_storage_distro_and_no_diagnostics(tmp_path: Path, storage: str) -> None:
    options = BagRunOptions(storage=storage, distro="jazzy", copy_inputs=True, diagnostics=False, progress=False)
    summary, out = _run(tmp_path, EXTERNAL_METRIC, options, distro="jazzy")
    assert summary.frames_out == 3
    assert "/diagnostics" not in out
    for topic in ("/camera/image_raw", "/camera/camera_info", "/lidar/points", "/tf_static", "/depth_model/prediction"):
        assert topic in out, topic
    assert (tmp_path / "out" / "metadata.yaml").read_text().count("version: 8") == 1


def test_output_parameters_reach_the_messages(tmp_path: Path) -> None:
    params = {**EXTERNAL_METRIC, "output.encoding": "16UC1", "cloud.mode": "voxel", "output.downscale": 2}
    _, out = _run(tmp_path, params)
    _, image = out["/depth/image"][0]
    _, info = out["/depth/camera_info"][0]
    _, cloud = out["/depth/points"][0]
    assert (image.encoding, image.width, image.height) == ("16UC1", WIDTH // 2, HEIGHT // 2)
    assert (info.width, info.height) == (WIDTH // 2, HEIGHT // 2)
    assert cloud.height == 1 and cloud.is_dense
    _, out = _run(tmp_path / "nocloud", {**EXTERNAL_METRIC, "cloud.enabled": False})
    assert "/depth/points" not in out


def test_diagnostics_report_counters(tmp_path: Path) -> None:
    params = {**EXTERNAL_METRIC, "diagnostics.period_s": 0.15}
    _, out = _run(tmp_path, params, mutate=_drop("/depth_model/prediction", 0))
    (status,) = out["/diagnostics"][0][1].status
    values = {kv.key: kv.value for kv in status.values}
    assert values["bad_messages"] == "1" and values["frames_published"] == "1"  # the node's keys
    assert status.level == 1 and "bad message" in status.message
    # the frames at 0.1 s and 0.2 s: one period of 0.15 s, then a last status that counts the frame at 0.2 s too
    assert len(out["/diagnostics"]) == 2
    values = {kv.key: kv.value for kv in out["/diagnostics"][-1][1].status[0].values}
    assert (values["frames_received"], values["frames_published"], values["bad_messages"]) == ("3", "2", "1")


def test_a_bag_stamped_0_throughout_gets_a_status_every_period_of_its_bag_time(tmp_path: Path) -> None:
    """A driver that does not stamp (every header 0), 20 frames at 10 Hz of bag time, ``period_s`` 0.5: the node's
    timer publishes every 0.5 s whatever the stamps. The runner's schedule ran on the stamps: one status at the first
    frame and the final one (2 in 1.9 s); now on each image's bag time where it is stamped 0."""

    def unstamped(_topic: str, _index: int, msg: Any) -> Any:
        if hasattr(msg, "header"):
            msg.header.stamp.sec, msg.header.stamp.nanosec = 0, 0
        return msg

    params = {**EXTERNAL_METRIC, "diagnostics.period_s": 0.5}
    summary, out = _run(tmp_path, params, mutate=unstamped, n_frames=20, lidar=False)
    assert summary.frames_out == 20
    statuses = out["/diagnostics"]
    expected_s = [0.0, 0.5, 1.0, 1.5, 1.9]  # the image's bag time (START_NS + 1 ns on): every period, then the final
    assert [round((log_ns - START_NS) / 1e9, 3) for log_ns, _ in statuses] == expected_s
    assert [stamp_to_ns(m.header.stamp) - START_NS for _, m in statuses] == [round(t * 1e9) + 1 for t in expected_s]
    published = [{kv.key: kv.value for kv in m.status[0].values}["frames_published"] for _, m in statuses]
    assert published == ["1", "6", "11", "16", "20"]


def test_a_few_images_stamped_0_among_sim_time_stamps_keep_the_statuses_on_the_stamps_clock(tmp_path: Path) -> None:
    """A simulator's camera stamped on sim time (100 s on), recorded on wall time (1.7e9 s), 20 frames at 10 Hz, the
    first and 3 more stamped 0, ``period_s`` 0.5. Their bag time alone is another clock: statuses stamped 1.7e9 s
    among 100 s ones, the schedule restarted at the next real stamp (8 statuses, not 5, out of order). Each stamp 0
    is placed on the stamps' clock by the recording delay of the images stamped around it: the statuses of a bag
    stamped throughout."""
    sim_ns, unstamped = 100 * 10**9, {0, 5, 10, 15}

    def sim_time(_topic: str, index: int, msg: Any) -> Any:
        if hasattr(msg, "header") and index >= 0:
            stamp_ns = 0 if index in unstamped else sim_ns + index * 100_000_000
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        return msg

    params = {**EXTERNAL_METRIC, "diagnostics.period_s": 0.5}
    summary, out = _run(tmp_path, params, mutate=sim_time, n_frames=20, lidar=False)
    assert summary.frames_out == 20
    statuses = out["/diagnostics"]
    expected_s = [0.0, 0.5, 1.0, 1.5, 1.9]  # as a bag stamped throughout: every period, then the final
    assert [round((log_ns - START_NS) / 1e9, 3) for log_ns, _ in statuses] == expected_s
    assert [stamp_to_ns(m.header.stamp) - sim_ns for _, m in statuses] == [round(t * 1e9) for t in expected_s]
    values = [{kv.key: kv.value for kv in m.status[0].values} for _, m in statuses]
    assert [v["frames_published"] for v in values] == ["1", "6", "11", "16", "20"]
    assert [v["fps"] for v in values[1:]] == ["10.00"] * 4


def test_cuda_without_cuda_runs_on_the_cpu_with_a_warning_as_the_node_does(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: nothing to fall back from")
    params = {"device": "cuda", "scale.mode": "none", "model.threads": 1}  # the shipped model, on a tiny bag
    summary, out = _run(tmp_path, params)
    assert summary.frames_out == 3 and len(out["/depth/image"]) == 3
    assert "CUDA is not available; running on the CPU" in summary.warnings.examples["device"]


def test_the_shipped_metric_model_on_a_camera_unlike_its_training_camera_is_warned_once(tmp_path: Path) -> None:
    """The tiny bag's 64x48 camera (fx/width 0.78, fy/height 1.04) is not the shipped model's KITTI-like training
    camera (0.58, 1.93): with scale.mode none its metres are off, and the summary says so once per calibration."""
    reason = "metric model on another camera"
    summary, _ = _run(tmp_path, {"scale.mode": "none", "model.threads": 1})
    assert summary.frames_out == 3 and summary.warnings.counts[reason] == 1
    assert "(1.35x, 0.54x)" in summary.warnings.examples[reason]
    external, _ = _run(tmp_path / "external", EXTERNAL_METRIC)  # no network: nothing to compare
    assert reason not in external.warnings.counts


def test_the_metric_model_warning_on_a_camera_info_without_a_size_takes_the_images_size(tmp_path: Path) -> None:
    """camera_info with width = height = 0 (and the tiny bag's K / P): the frames run at the image's size, and so
    does the training-camera check; it was skipped without a word (the sizeless calibration has no intrinsics)."""
    reason = "metric model on another camera"

    def sizeless(topic: str, index: int, msg: Any) -> Any:
        if topic == "/camera/camera_info":
            msg.width, msg.height = 0, 0
        return msg

    summary, _ = _run(tmp_path, {"scale.mode": "none", "model.threads": 1}, mutate=sizeless)
    assert summary.frames_out == 3 and summary.warnings.counts[reason] == 1
    assert "(1.35x, 0.54x)" in summary.warnings.examples[reason]  # the sized camera_info's figures


def test_the_default_scale_mode_without_a_lidar_topic_is_no_scale_source_for_the_warning(tmp_path: Path) -> None:
    """scale.mode lidar (the default) with lidar_topic empty (the default) publishes the metric model's own metres
    ("metric prediction used without a correction"): the camera warning was silent there, as if LiDAR measured the
    scale. Its remedy names lidar_topic; with it set, the LiDAR corrects the scale and the warning is not given."""
    reason = "metric model on another camera"
    summary, _ = _run(tmp_path, {"model.threads": 1})
    assert summary.warnings.counts[reason] == 1
    assert "lidar_topic with scale.mode=lidar" in summary.warnings.examples[reason]
    with_lidar, _ = _run(tmp_path / "lidar", {"model.threads": 1, "lidar_topic": "/lidar/points"})
    assert reason not in with_lidar.warnings.counts


@pytest.mark.parametrize("fixed_frame", ["odom", "map"])
def test_temporal_filter_takes_the_camera_motion_from_the_bags_tf(tmp_path: Path, fixed_frame: str) -> None:
    frames = write_moving_bag(tmp_path / "in", speed_mps=10.0)
    params = {**EXTERNAL_RELATIVE, "lidar.motion_frame": "odom", "temporal.enabled": True, "diagnostics.period_s": 0.05}
    summary = run_bag(tmp_path / "in", tmp_path / "out", {**params, "temporal.fixed_frame": fixed_frame}, QUIET)
    assert summary.frames_out == len(frames)
    out = read_bag(tmp_path / "out")
    for frame, (_, image) in zip(frames, out["/depth/image"], strict=True):  # exact frames stay exact when blended
        error = np.abs(depth_image_to_metres(image) / frame.depth_m - 1.0)
        assert np.median(error) < 1e-3 and np.max(error) < 2e-3  # the scale fit's own error: ~1e-3 at the top
    values = {kv.key: kv.value for kv in out["/diagnostics"][-1][1].status[0].values}
    if fixed_frame == "odom":  # the bag's odometry frame: every frame after the first is filtered
        assert not summary.warnings.counts
        assert values["temporal_state"] == "filtered"
        assert values["temporal_filtered_frames"] == str(len(frames) - 1)
        assert float(values["temporal_kept_share"]) > 0.9
    else:  # no such frame in the bag: every frame passes through, counted and warned about
        assert summary.warnings.counts == {"temporal: no camera pose": len(frames)}
        assert values["temporal_no_motion_frames"] == str(len(frames))


def test_frames_without_a_temporal_pose_are_warned_as_many_times_as_the_pipeline_counts_them(tmp_path: Path) -> None:
    """``temporal.fixed_frame`` not in the bag's TF, the second of three images undecodable: two frames are
    published unfiltered, and the summary's ``temporal: no camera pose`` (each "frame published unfiltered") says 2,
    as /diagnostics ``temporal_no_motion_frames`` does; it said 3, counting the skipped image too (the pose was
    looked up before the image was decoded)."""
    params = {**EXTERNAL_METRIC, "temporal.enabled": True, "temporal.fixed_frame": "no_odometry"}
    summary, out = _run(tmp_path, params, mutate=_set("encoding", "nv24", "/camera/image_raw", 1))
    assert (summary.frames_out, dict(summary.skipped.counts)) == (2, {"image: EncodingError": 1})
    values = {kv.key: kv.value for kv in out["/diagnostics"][-1][1].status[0].values}
    assert values["temporal_no_motion_frames"] == "2", values
    assert summary.warnings.counts["temporal: no camera pose"] == 2, summary.warnings.counts


def test_temporal_poses_after_tf_ends_are_extrapolated_as_the_node_does_then_counted(tmp_path: Path) -> None:
    """/tf (the odometry) ends after the third image of a camera driving at 10 m/s. The node's tf2 has no pose past
    the end: it extrapolates at constant velocity up to temporal.max_extrapolation_s (0.25 s here) and then passes
    the frame through unfiltered, counted. The runner held the last pose instead (the camera taken as standing
    still while it moves 1 m a frame) and said nothing: every frame was 'filtered'."""
    frames = write_moving_bag(tmp_path / "in", speed_mps=10.0, n_frames=8, tf_end_ns=START_NS + 2 * PERIOD_NS)
    params = {
        **EXTERNAL_RELATIVE, "lidar.motion_frame": "odom", "temporal.enabled": True,
        "temporal.max_extrapolation_s": 0.25, "diagnostics.period_s": 0.05,
    }  # fmt: skip
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, QUIET)
    assert summary.frames_out == len(frames)
    assert summary.warnings.counts["temporal: no camera pose"] == 3, summary.warnings.counts  # 0.3, 0.4, 0.5 s past
    out = read_bag(tmp_path / "out")
    for frame, (_, image) in zip(frames[:3], out["/depth/image"], strict=False):  # posed from /tf: exact stays exact
        assert np.median(np.abs(depth_image_to_metres(image) / frame.depth_m - 1.0)) < 1e-3
    values = {kv.key: kv.value for kv in out["/diagnostics"][-1][1].status[0].values}
    # frames 1 and 2 posed from /tf, 3 and 4 (0.1, 0.2 s past its end) extrapolated; held, all 7 were 'filtered'
    assert (values["temporal_filtered_frames"], values["temporal_no_motion_frames"]) == ("4", "3"), values
    # (the LiDAR placement past the end of /tf holds, as documented, and is counted: one per frame 3 to 7)
    assert summary.warnings.counts["tf: held after /tf ended"] == 5


def test_payloads_no_frame_needs_are_never_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Image 1 is missing: its scan and prediction are read only as far as their headers; the rest whole, once."""
    from mono_depth_ros.bag.payload import HEAD_BYTES
    from mono_depth_ros.bag.sqlite_storage import SalvagingSqlite3Reader

    write_tiny_bag(tmp_path / "in", 3, prediction="relative_inverse", mutate=_drop_image(1))
    whole_reads: list[int] = []
    payload = SalvagingSqlite3Reader._payload

    def counting(self: SalvagingSqlite3Reader, rowid: int, *, head: bool = False) -> bytes | bytearray:
        data = payload(self, rowid, head=head)
        if len(data) > HEAD_BYTES:
            whole_reads.append(len(data))
        return data

    monkeypatch.setattr(SalvagingSqlite3Reader, "_payload", counting)
    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_RELATIVE, QUIET)
    assert (summary.frames_in, summary.frames_out) == (2, 2)
    assert len(whole_reads) == 6  # images, scans and predictions of frames 0 and 2
    monkeypatch.undo()  # copy_inputs reads every payload whole as it comes: the same outputs
    copying = BagRunOptions(progress=False, copy_inputs=True)
    assert run_bag(tmp_path / "in", tmp_path / "again", EXTERNAL_RELATIVE, copying).frames_out == 2
    out, again = read_bag(tmp_path / "out"), read_bag(tmp_path / "again")
    for (_, image), (_, same) in zip(out["/depth/image"], again["/depth/image"], strict=True):
        np.testing.assert_array_equal(depth_image_to_metres(image), depth_image_to_metres(same))
    clouds = [bytes(cloud.data) for _, cloud in out["/depth/points"]]
    assert clouds == [bytes(cloud.data) for _, cloud in again["/depth/points"]]


def _drop_image(index: int) -> Mutate:
    def mutate(topic: str, frame: int, msg: Any) -> Any:
        return None if topic == "/camera/image_raw" and frame == index else msg

    return mutate


def test_a_distorted_camera_read_as_rectified_from_image_raw_is_warned_about(tmp_path: Path) -> None:
    """image_is_rectified (the default) on /camera/image_raw whose camera_info has distortion: the depth is computed
    as if the image were P's pinhole image (plausible, but metres off towards the edges); the summary says so."""
    distorted = _set("d", np.array([-0.28, 0.08, 0.001, -0.001, 0.0]), "/camera/camera_info", 0)
    reason = "image_is_rectified: raw image with distortion"
    summary, _ = _run(tmp_path, EXTERNAL_METRIC, mutate=distorted)
    assert summary.frames_out == 3 and summary.warnings.counts[reason] == 1
    assert "--param image_is_rectified=false for mono-depth bag" in summary.warnings.examples[reason]
    raw, _ = _run(tmp_path / "raw", {**EXTERNAL_METRIC, "image_is_rectified": False}, mutate=distorted)
    assert raw.frames_out == 3 and reason not in raw.warnings.counts


def _write_kitti_rect_bag(path: Path, frame: KittiFrame, camera: CameraModel) -> tuple[str, str]:
    """One KITTI frame on a rectified image topic with ``camera`` as its camera_info and its densified LiDAR depth as
    the external metric prediction; returns the image and camera_info topics."""
    image_topic, info_topic = "/kitti/camera_color_left/image_rect", "/kitti/camera_color_left/camera_info"
    with BagBuilder(path, "humble", "sqlite3") as bag:
        header = make_header(bag.factory, START_NS, KITTI_CAMERA_FRAME)
        bag.add(info_topic, camera_info_from_model(bag.factory, camera, header), START_NS)
        bag.add(image_topic, image_from_array(bag.factory, frame.rgb, "rgb8", header), START_NS + 1)
        metric = depth_image_from_metres(bag.factory, densify_nearest(frame.lidar_depth_m), "32FC1", header)
        bag.add("/depth_model/prediction", metric, START_NS + 2)
    return image_topic, info_topic


def test_a_rectified_kitti_topic_undistorted_again_is_warned_about(tmp_path: Path, kitti_object_dir: Path) -> None:
    """image_is_rectified: false on a real KITTI frame recorded as .../image_rect (rectified upstream) with its raw
    camera's camera_info (strong barrel D): the runner undistorts it a second time; the summary says so under its
    own reason, as the node logs it (the same check). Read as rectified, nothing is said."""
    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    height, width = frame.rgb.shape[:2]
    d = (-0.369, 0.197, 0.00135, 0.00057, -0.0677)
    camera = CameraModel(width, height, "plumb_bob", d, frame.projection[:, :3], np.eye(3), frame.projection)
    image_topic, info_topic = _write_kitti_rect_bag(tmp_path / "in", frame, camera)
    reason = "image_is_rectified: rectified image undistorted again"
    params = {**EXTERNAL_METRIC, "image_topic": image_topic, "camera_info_topic": info_topic}
    twice = run_bag(tmp_path / "in", tmp_path / "twice", {**params, "image_is_rectified": False}, QUIET)
    assert twice.frames_out == 1 and twice.warnings.counts[reason] == 1
    assert f"{image_topic} names a rectified image but image_is_rectified=false" in twice.warnings.examples[reason]
    assert "--param image_is_rectified=true for mono-depth bag" in twice.warnings.examples[reason]
    once = run_bag(tmp_path / "in", tmp_path / "once", params, QUIET)
    assert once.frames_out == 1 and not once.warnings.counts


def test_a_rectified_topic_rotated_again_is_warned_about_as_rotated_not_undistorted(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """D all zero and an R that turns rays 2 degrees (a stereo pair's rectifying rotation): image_is_rectified:
    false on .../image_rect rotates the rectified image a second time. The summary's reason said 'undistorted again'
    for it too; there is no distortion, the text says 'rotates it again'."""
    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    height, width = frame.rgb.shape[:2]
    turn = math.radians(2.0)
    r = np.array([[math.cos(turn), 0.0, math.sin(turn)], [0.0, 1.0, 0.0], [-math.sin(turn), 0.0, math.cos(turn)]])
    camera = CameraModel(width, height, "plumb_bob", (0.0,) * 5, frame.projection[:, :3], r, frame.projection)
    assert camera.rotates_rays and not camera.has_distortion
    image_topic, info_topic = _write_kitti_rect_bag(tmp_path / "in", frame, camera)
    params = {**EXTERNAL_METRIC, "image_topic": image_topic, "camera_info_topic": info_topic}
    twice = run_bag(tmp_path / "in", tmp_path / "twice", {**params, "image_is_rectified": False}, QUIET)
    reason = "image_is_rectified: rectified image rotated again"
    assert twice.frames_out == 1 and set(twice.warnings.counts) == {reason}, twice.warnings.counts
    assert "rotates it again" in twice.warnings.examples[reason]


@pytest.mark.parametrize(
    ("image_format", "ext"), [("16UC1; png compressed ", ".png"), ("32FC1; tiff compressed ", ".tiff")]
)
def test_a_depth_cameras_compressed_image_is_skipped_as_no_camera_picture(
    tmp_path: Path, kitti_object_dir: Path, image_format: str, ext: str
) -> None:
    """The bag runner's road of the node's refusal: a KITTI frame's Velodyne depth as a depth camera's
    compressed_image_transport image (millimetres in png, metres in a float tiff) on the image topic, read with
    image_transport: compressed; it was decoded as a grey picture and written as depth (16UC1), or refused as float
    pixels without naming the topic (32FC1). Now skipped as the raw depth Image is, the remedy named."""
    import cv2

    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    depth_mm = np.nan_to_num(frame.lidar_depth_m * 1000.0, nan=0.0).astype(np.uint16)
    assert np.count_nonzero(depth_mm) > 10_000
    pixels = depth_mm if image_format.startswith("16UC1") else (depth_mm / np.float32(1000.0)).astype(np.float32)
    ok, encoded = cv2.imencode(ext, pixels)
    assert ok
    with BagBuilder(tmp_path / "in", "humble", "sqlite3") as bag:
        header = make_header(bag.factory, START_NS, KITTI_CAMERA_FRAME)
        bag.add("/cam/camera_info", kitti_camera_info(bag.factory, frame, START_NS), START_NS)
        compressed = bag.factory.new(
            "sensor_msgs/msg/CompressedImage", header=header, format=image_format, data=encoded.reshape(-1)
        )
        bag.add("/cam/image_raw/compressed", compressed, START_NS + 1)
        metric = depth_image_from_metres(bag.factory, densify_nearest(frame.lidar_depth_m), "32FC1", header)
        bag.add("/depth_model/prediction", metric, START_NS + 2)
    params = {**EXTERNAL_METRIC, "image_topic": "/cam/image_raw", "camera_info_topic": "/cam/camera_info"}
    summary = run_bag(tmp_path / "in", tmp_path / "out", {**params, "image_transport": "compressed"}, QUIET)
    assert summary.accounted and summary.frames_out == 0
    assert summary.skipped.counts == {"image: EncodingError": 1}
    encoding = image_format.split(";")[0]
    assert (
        f"'{encoding}' is not a colour encoding: a depth image; set image_topic"
        in summary.skipped.examples["image: EncodingError"]
    )


@pytest.mark.parametrize("scan_frame", ["", "base_scan"])
def test_a_scan_in_an_image_frame_without_optical_suffix_is_a_warning(tmp_path: Path, scan_frame: str) -> None:
    """kitti2bag's camera_color_left: no _optical suffix to strip, so the scan would be stamped in a frame whose
    axes may be the optical frame's (z forward); the summary says so once, unless scan.frame_id is set."""

    def kitti2bag_frames(topic: str, index: int, msg: Any) -> Any:
        if hasattr(msg, "header") and msg.header.frame_id == CAMERA_FRAME:
            msg.header.frame_id = "camera_color_left"
        return msg

    params = {**EXTERNAL_METRIC, "scan.enabled": True, "scan.frame_id": scan_frame}
    summary, out = _run(tmp_path, params, mutate=kitti2bag_frames, lidar=False)
    assert summary.frames_out == 3
    assert {scan.header.frame_id for _, scan in out["/depth/scan"]} == {scan_frame or "camera_color_left"}
    warned = {reason: text for reason, text in summary.warnings.examples.items() if "scan" in reason}
    if scan_frame:
        assert warned == {}
    else:
        ((reason, text),) = warned.items()
        assert summary.warnings.counts[reason] == 1 and "'camera_color_left'" in text and "scan.frame_id" in text


def _truncate_payload(db3: Path, topic: str, ordinal: int) -> None:
    """Cut one stored payload of ``topic`` in half (a message damaged in the file, the file itself intact)."""
    import sqlite3

    with sqlite3.connect(db3) as db:
        (topic_id,) = db.execute("SELECT id FROM topics WHERE name = ?", (topic,)).fetchone()
        rowid, data = db.execute(
            "SELECT id, data FROM messages WHERE topic_id = ? ORDER BY timestamp LIMIT 1 OFFSET ?", (topic_id, ordinal)
        ).fetchone()
        db.execute("UPDATE messages SET data = ? WHERE id = ?", (data[: len(data) // 2], rowid))


def test_a_damaged_payload_of_a_message_compressed_bag_costs_that_frame_only(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "plain", 3)
    bag = recompress(tmp_path / "plain", tmp_path / "in", "message")  # ros2 bag record --compression-mode message
    (db3,) = bag.glob("*.db3")
    _truncate_payload(db3, "/camera/image_raw", 1)
    options = BagRunOptions(copy_inputs=True, progress=False)
    summary = run_bag(bag, tmp_path / "out", EXTERNAL_METRIC, options)  # rosbags raised out of the whole run here
    assert summary.accounted and (summary.frames_in, summary.frames_out) == (3, 2)
    assert summary.skipped.counts == {"image: EncodingError": 1}
    assert (
        "cannot decompress sensor_msgs/msg/Image #1 on /camera/image_raw"
        in summary.skipped.examples["image: EncodingError"]
    )
    assert summary.warnings.counts["not copied: /camera/image_raw"] == 1
    out = read_bag(tmp_path / "out")
    assert len(out["/camera/image_raw"]) == 2 and len(out["/depth/image"]) == 2


def test_a_zstd_bomb_in_a_message_compressed_bag_costs_that_frame_not_the_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from mono_depth_ros.bag import compression

    monkeypatch.setattr(compression, "MESSAGE_BYTES_MAX", 2**20)  # 512 MiB in a real run
    write_tiny_bag(tmp_path / "plain", 3)
    bag = recompress(tmp_path / "plain", tmp_path / "in", "message")
    (db3,) = bag.glob("*.db3")
    with sqlite3.connect(db3) as db:  # image #1: its own message, then 3 MiB of zeros, in a few hundred bytes
        (topic_id,) = db.execute("SELECT id FROM topics WHERE name = '/camera/image_raw'").fetchone()
        rowid, data = db.execute(
            "SELECT id, data FROM messages WHERE topic_id = ? ORDER BY timestamp LIMIT 1 OFFSET 1", (topic_id,)
        ).fetchone()
        bomb = compression.zstd.compress(compression.zstd.decompress(data) + bytes(3 * 2**20))
        db.execute("UPDATE messages SET data = ? WHERE id = ?", (bomb, rowid))
    summary = run_bag(bag, tmp_path / "out", EXTERNAL_METRIC, BagRunOptions(copy_inputs=True, progress=False))
    assert summary.accounted and (summary.frames_in, summary.frames_out) == (3, 2)
    assert summary.skipped.counts == {"image: EncodingError": 1}
    example = summary.skipped.examples["image: EncodingError"]
    assert "cannot decompress sensor_msgs/msg/Image #1 on /camera/image_raw" in example
    assert "decompresses to more than 1 MiB" in example and "zstd bomb" in example
    assert len(read_bag(tmp_path / "out")["/depth/image"]) == 2


def test_a_split_bag_copied_without_its_metadata_yaml_runs_whole(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "plain", 4, prediction="relative_inverse")
    split_bag(tmp_path / "plain", tmp_path / "in", 2)
    (tmp_path / "in" / "metadata.yaml").unlink()  # was: "Expected metadata file ... does not exist", nothing run
    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_RELATIVE, QUIET)
    assert summary.accounted and summary.frames_out == 4
    assert summary.scale_health == {"ok": 4} and not summary.warnings.counts  # /tf_static is in the first file only
    assert any("has no metadata.yaml" in note for note in summary.notes)


def test_mcap_files_without_checksums_get_one_true_note(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "plain", 3, storage="mcap")  # rosbags writes no chunk CRCs, nor does Humble's recorder
    split_bag(tmp_path / "plain", tmp_path / "in", 2)
    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, QUIET)
    notes = [note for note in summary.notes if "checksums" in note]
    assert notes == [
        "in_0.mcap, in_1.mcap store no chunk checksums (as rosbags and ros2 bag record -s mcap on Humble and Jazzy "
        "write MCAP by default): corruption inside a message cannot be detected; this tool's own MCAP output "
        "(--storage mcap) carries them"
    ]  # was one note per file, saying that ros2 bag record's files carry them


def test_a_split_file_compressed_bag_whose_last_file_was_cut_short_gives_what_is_left(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "plain", 40)
    split_bag(tmp_path / "plain", tmp_path / "in", 2)
    last = compress_files_whole(tmp_path / "in")[-1]  # ros2 bag record -d ... --compression-mode file
    last.write_bytes(last.read_bytes()[: last.stat().st_size * 2 // 3])  # a copy that stopped
    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, QUIET)  # was refused whole
    assert summary.accounted and summary.frames_in == 40  # the metadata.yaml's count: the lost ones are counted
    assert 20 <= summary.frames_out < 40 and summary.skipped.counts[DAMAGED_INPUT] > 0
    assert any("in_1.db3.zstd does not decompress to its end" in note for note in summary.notes)
    assert any(line.startswith("in_1.db3 is truncated: recovered") for line in summary.input_damage)


def test_undecodable_scan_layouts_are_counted_warnings_not_a_crash(tmp_path: Path) -> None:
    def bad_layouts(topic: str, index: int, msg: Any) -> Any:
        if topic == "/lidar/points" and index == 0:
            msg.point_step = 2**31  # corrupt: more than numpy can hold (was a ValueError that ended the run)
        if topic == "/lidar/points" and index == 1:
            msg.fields = [f for f in msg.fields if f.name != "z"]  # a 2-D cloud
        return msg

    summary, _ = _run(tmp_path, EXTERNAL_RELATIVE, mutate=bad_layouts, prediction="relative_inverse")
    assert summary.frames_out == 3
    counts = {"lidar.ShapeError": 1, "lidar.EncodingError": 1}  # the node's names: its worker's error classes
    assert dict(summary.warnings.counts) == counts, summary.warnings.counts
    example = summary.warnings.examples["lidar.ShapeError"]  # the first one
    assert example.startswith("PointCloud2 point_step 2147483648 is larger than 2147483647 bytes")


def _with_diagnostics(
    source: Path, target: Path, statuses: list[str], values: dict[str, list[tuple[str, str]]] | None = None
) -> Path:
    """The bag ``source`` plus one /diagnostics message per image, each with a status of every name in ``statuses``
    (as a robot's drivers, or a recorded mono_depth_node, publish them), with the key/values ``values`` gives its
    name (none by default); returns ``target``."""
    from rosbags.rosbag2 import Reader, Writer

    from mono_depth_ros.adapters.messages import DIAGNOSTIC_ARRAY
    from mono_depth_ros.bag.reader import typestore_for
    from mono_depth_ros.core.msg_factory import MessageFactory
    from mono_depth_ros.core.ros_msgs import make_header

    typestore = typestore_for("humble")
    factory = MessageFactory.for_rosbags(typestore)
    with Reader(source) as reader, Writer(target, version=8) as writer:
        made = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=typestore) for c in reader.connections}
        diagnostics = writer.add_connection("/diagnostics", DIAGNOSTIC_ARRAY, typestore=typestore)
        for connection, log_ns, raw in reader.messages():
            writer.write(made[connection.id], log_ns, raw)
            if connection.topic == "/camera/image_raw":
                status = [
                    factory.new("diagnostic_msgs/msg/DiagnosticStatus", level=factory.byte(0), name=name,
                                message="OK", hardware_id="hw",
                                values=[factory.new("diagnostic_msgs/msg/KeyValue", key=key, value=value)
                                        for key, value in (values or {}).get(name, [])])
                    for name in statuses
                ]  # fmt: skip
                array = factory.new(DIAGNOSTIC_ARRAY, header=make_header(factory, log_ns, ""), status=status)
                writer.write(diagnostics, log_ns, typestore.serialize_cdr(array, DIAGNOSTIC_ARRAY))
    return target


def test_copy_inputs_keeps_the_robots_diagnostics_and_names_what_it_replaces(tmp_path: Path) -> None:
    """--copy-inputs "also copy every input topic": /diagnostics was left out whole, so a robot's driver and battery
    statuses were lost without a word. Now they are copied; statuses of a mono_depth_node (recorded live, or a bag
    this runner wrote) are left out as this run writes its own, and the summary says what was not copied."""
    write_tiny_bag(tmp_path / "plain", 3, lidar=False)
    _with_diagnostics(tmp_path / "plain", tmp_path / "in", ["battery", "front/mono_depth_node: depth"])
    options = BagRunOptions(progress=False, copy_inputs=True)
    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, options)
    assert summary.frames_out == 3
    names = [[s.name for s in m.status] for _, m in read_bag(tmp_path / "out")["/diagnostics"]]
    assert names.count(["battery"]) == 3
    assert names.count(["mono_depth_node: depth"]) == summary.topic_counts["/diagnostics"] - 3 >= 1
    assert any(
        "/diagnostics: the statuses of mono_depth_node (front/mono_depth_node: depth) in 3 message(s) are not copied"
        in note
        for note in summary.notes
    ), summary.notes

    again = run_bag(tmp_path / "out", tmp_path / "again", EXTERNAL_METRIC, options)  # the output replayed
    assert again.frames_out == 3
    replayed = [[s.name for s in m.status] for _, m in read_bag(tmp_path / "again")["/diagnostics"]]
    assert replayed.count(["battery"]) == 3 and replayed.count(["mono_depth_node: depth"]) == len(replayed) - 3
    assert any("/depth/image 3" in note and "this run writes its own" in note for note in again.notes), again.notes

    options = BagRunOptions(progress=False, copy_inputs=True, diagnostics=False)  # none written: all copied
    run_bag(tmp_path / "in", tmp_path / "none", EXTERNAL_METRIC, options)
    copied = [[s.name for s in m.status] for _, m in read_bag(tmp_path / "none")["/diagnostics"]]
    assert copied == [["battery", "front/mono_depth_node: depth"]] * 3


def test_copy_inputs_leaves_out_the_status_of_a_node_a_users_launch_file_named(tmp_path: Path) -> None:
    """A live recording of a node that a user's launch file named (``Node(name="depth_left", namespace="left")``):
    its status 'left/depth_left: depth' was copied beside the run's own 'mono_depth_node: depth' (the runner knew
    only the name 'mono_depth_node: depth'), two depth statuses for one camera. It is left out as this run writes its
    own, by the rule PeerFrames uses (is_depth_status); another package's 'rgbd/driver: depth' is still copied."""
    write_tiny_bag(tmp_path / "plain", 3, lidar=False)
    depth_keys = [("frames_received", "3"), ("frames_published", "3"), ("backend", "unet")]
    robot = ["battery", "left/depth_left: depth", "rgbd/driver: depth"]
    values = {"left/depth_left: depth": depth_keys, "rgbd/driver: depth": [("temperature", "41")]}
    _with_diagnostics(tmp_path / "plain", tmp_path / "in", robot, values)
    summary = run_bag(
        tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, BagRunOptions(progress=False, copy_inputs=True)
    )
    names = [[s.name for s in m.status] for _, m in read_bag(tmp_path / "out")["/diagnostics"]]
    assert names.count(["battery", "rgbd/driver: depth"]) == 3
    assert names.count(["mono_depth_node: depth"]) == len(names) - 3 >= 1
    assert any("(left/depth_left: depth) in 3 message(s) are not copied" in note for note in summary.notes)


def test_a_run_for_a_namespaced_node_writes_its_outputs_and_status_as_that_node_publishes_them(tmp_path: Path) -> None:
    """``--node /front/mono_depth_node`` (one camera of a robot): the run wrote /depth/* and 'mono_depth_node: depth'
    where the live node publishes /front/depth/* and 'front/mono_depth_node: depth', and with --copy-inputs it left
    out the other camera's status ('left/...') as its own while copying the recorded /front/depth/* beside its own."""
    write_tiny_bag(tmp_path / "plain", 3, lidar=False)
    robot = ["battery", "front/mono_depth_node: depth", "left/mono_depth_node: depth"]
    _with_diagnostics(tmp_path / "plain", tmp_path / "in", robot)
    options = BagRunOptions(progress=False, copy_inputs=True, node="/front/mono_depth_node")
    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, options)
    written = read_bag(tmp_path / "out")
    assert summary.frames_out == 3 and not {"/depth/image", "/depth/points"} & set(written)
    assert [len(written[f"/front{topic}"]) for topic in ("/depth/image", "/depth/camera_info", "/depth/points")] == [
        3
    ] * 3
    names = [[s.name for s in m.status] for _, m in written["/diagnostics"]]
    assert names.count(["battery", "left/mono_depth_node: depth"]) == 3  # the other camera's status is kept
    assert names.count(["front/mono_depth_node: depth"]) == len(names) - 3 >= 1
    again = run_bag(tmp_path / "out", tmp_path / "again", EXTERNAL_METRIC, options)  # its recorded outputs: replaced
    assert len(read_bag(tmp_path / "again")["/front/depth/image"]) == again.frames_out == 3
    left = BagRunOptions(progress=False, copy_inputs=True, node="/left/mono_depth_node")  # chained: one bag, 2 cameras
    run_bag(tmp_path / "out", tmp_path / "both", EXTERNAL_METRIC, left)
    both = read_bag(tmp_path / "both")
    assert len(both["/front/depth/image"]) == len(both["/left/depth/image"]) == 3
    statuses = {s.name for _, m in both["/diagnostics"] for s in m.status}
    assert statuses == {"battery", "front/mono_depth_node: depth", "left/mono_depth_node: depth"}


def test_an_output_that_cannot_be_created_is_refused_before_the_bag_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OUT under a file (``mono-depth bag rec.db3 rec.db3/depth``): refused at once; it was refused only after the
    whole first pass and the model load, when the output bag was created."""
    from mono_depth_ros.bag import runner

    write_tiny_bag(tmp_path / "in", 2, lidar=False)
    (db3,) = (tmp_path / "in").glob("*.db3")
    monkeypatch.setattr(runner, "index_bag", lambda *args: pytest.fail("the bag was read"))
    with pytest.raises(BagError, match=f"cannot create output bag {db3 / 'depth'}: {db3} is a file, not a folder"):
        run_bag(db3, db3 / "depth", EXTERNAL_METRIC, QUIET)


def test_a_run_that_fails_before_its_first_frame_leaves_no_output_bag_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mono-depth bag IN OUT` on a machine without OpenCV stops at the first image ("needs cv2 ... pip install
    'mono_depth_ros[cv]'"); it left an empty OUT behind, so the same command after the install was refused ("output
    bag OUT already exists"). Nothing written: nothing left. A run that wrote frames keeps them (the disk-full case)."""
    from mono_depth_ros.bag import runner

    write_tiny_bag(tmp_path / "in", 2, lidar=False)

    def no_opencv(*args: Any) -> None:
        raise ModuleNotFoundError("No module named 'cv2'", name="cv2")

    monkeypatch.setattr(runner._SecondPass, "run", no_opencv)
    with pytest.raises(ModuleNotFoundError):
        run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, QUIET)
    assert not (tmp_path / "out").exists()
    monkeypatch.undo()
    assert run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, QUIET).frames_out == 2  # the same command again


def test_a_planar_laser_scan_on_real_kitti_gives_the_full_scans_scale(tmp_path: Path, kitti_object_dir: Path) -> None:
    """A 2D LiDAR (sensor_msgs/LaserScan) on lidar_topic: the bag's recorded type picks the decoder; the Velodyne's
    points near 0° elevation as a level LaserScan (~230-360 fitted points instead of ~6 000-8 000) recover the same
    metric depth as the full 64-beam scan, through TF, projection and the scale + shift fit of a relative_inverse
    prediction (disparity of the densified scan with an unknown scale and shift). A beam angle off (mirrored,
    shifted by a beam) would put the points on other pixels and the fit would fail or drift."""
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    frames = load_kitti_frames(kitti_object_dir)
    depth: dict[bool, list[np.ndarray]] = {}
    for planar in (False, True):
        write_kitti_bag(tmp_path / f"in{planar}", frames, laser_scan=planar, prediction="relative_inverse")
        params = {**EXTERNAL_RELATIVE, "cloud.enabled": False}  # the depth image is compared
        summary = run_bag(tmp_path / f"in{planar}", tmp_path / f"out{planar}", params, QUIET)
        assert summary.frames_out == 3 and summary.scale_health == {"ok": 3}, summary.warnings.examples
        depth[planar] = [depth_image_to_metres(m) for _, m in read_bag(tmp_path / f"out{planar}")["/depth/image"]]
    for planar_m, full_m in zip(depth[True], depth[False], strict=True):
        ratio = planar_m / full_m
        print(f"planar / full scan depth: median {np.nanmedian(ratio):.4f}, 5-95 %: {np.nanpercentile(ratio, [5, 95])}")
        assert abs(float(np.nanmedian(ratio)) - 1.0) < 0.03
        assert np.nanpercentile(ratio, 5) > 0.9 and np.nanpercentile(ratio, 95) < 1.1


def test_a_gap_in_tf_longer_than_tf2s_cache_costs_the_frame_in_it_its_lidar_scale(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """Real KITTI frames 6 s apart, the LiDAR on a moving mount (its extrinsic on /tf at 10 Hz around frames 0 and 2
    only: 11.6 s without /tf around frame 1). The node's tf2 (10 s cache) has no transform for frame 1's scan, which
    loses its LiDAR scale (counted); the runner interpolated across the gap and frame 1 was 'ok', silently. The
    frames with /tf around them keep their scale."""
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    frames = load_kitti_frames(kitti_object_dir)
    write_kitti_bag(tmp_path / "in", frames, prediction="relative_inverse", period_ns=6 * 10**9, tf_around=[0, 2])
    params = {**EXTERNAL_RELATIVE, "cloud.enabled": False}
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, QUIET)
    assert summary.frames_out == 3 and summary.scale_health == {"ok": 2, "degraded": 1}, summary.warnings.examples
    assert summary.warnings.counts == {"lidar.TransformException": 1}  # what the node's tf2 raises for the gap
    text = summary.warnings.examples["lidar.TransformException"]
    assert "/tf for 'velodyne' has no sample from" in text and "11.6 s" in text and "10 s cache" in text, text


def test_frames_after_tf_ends_keep_the_last_transform_and_are_counted(tmp_path: Path, kitti_object_dir: Path) -> None:
    """Real KITTI frames 6 s apart, the LiDAR extrinsic on /tf around frame 0 only: /tf ends 5.8 s before frame 1.
    The runner holds the last transform (documented: a bag's final frames keep theirs), where the node's tf2 would
    refuse to extrapolate and the frame would lose its LiDAR scale; the hold was silent. Each held frame is now
    counted, with the frame, how far past the end of /tf and why."""
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    frames = load_kitti_frames(kitti_object_dir)
    write_kitti_bag(tmp_path / "in", frames, prediction="relative_inverse", period_ns=6 * 10**9, tf_around=[0])
    params = {**EXTERNAL_RELATIVE, "cloud.enabled": False}
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, QUIET)
    assert summary.frames_out == 3 and summary.scale_health == {"ok": 3}, summary.warnings.examples
    assert summary.warnings.counts == {"tf: held after /tf ended": 2}
    text = summary.warnings.examples["tf: held after /tf ended"]
    assert "/tf for 'velodyne' ends at" in text and "5.770 s" in text and "tf2" in text, text


def _write_kitti_sweep_bag(
    path: Path,
    frame: KittiFrame,
    layout: Layout,
    speed_mps: float,
    sweep_offsets_ns: tuple[int, ...] = (0,),
    laser_time_increment: float | None = None,
) -> int:
    """One KITTI frame, its scan re-measured as ``layout``'s driver publishes a sweep on a car at ``speed_mps``
    (test/lidar_sweep.py; one sweep per ``sweep_offsets_ns``, centred that far from the image stamp), odom <- camera
    on /tf every 10 ms, and the exact relative inverse depth as the external prediction. Returns the image stamp.
    ``laser_time_increment``: a 2D LiDAR's LaserScan of the sweep (:func:`sweep_laser_scan`) with that
    ``time_increment`` (NaN: the sweep's own) instead of the cloud."""
    image_ns = START_NS + 1_000_000_000
    with BagBuilder(path) as bag:
        factory = bag.factory
        static_ns = image_ns - 500_000_000
        bag.add("/tf_static", tf_message_from(factory, [frame.cam_from_velo], static_ns), static_ns)
        for stamp_ns in range(image_ns - 400_000_000, image_ns + 400_000_001, 10_000_000):
            pose = odom_from_camera(speed_mps, image_ns, stamp_ns, ODOM_FRAME, KITTI_CAMERA_FRAME)
            bag.add("/tf", tf_message_from(factory, [pose], stamp_ns), stamp_ns)
        header = make_header(factory, image_ns, KITTI_CAMERA_FRAME)
        bag.add("/camera/camera_info", kitti_camera_info(factory, frame, image_ns), image_ns + 1_000_000)
        bag.add("/camera/image_raw", image_from_array(factory, frame.rgb, "rgb8", header), image_ns + 2_000_000)
        prediction = relative_inverse_prediction(densify_nearest(frame.lidar_depth_m))
        bag.add("/depth_model/prediction", depth_image_from_metres(factory, prediction, "32FC1", header), image_ns + 3)
        for offset_ns in sweep_offsets_ns:
            stamp = driver_stamp(layout) if laser_time_increment is None else "start"
            sweep = skewed_sweep(frame, image_ns, speed_mps, stamp, offset_ns)
            if laser_time_increment is None:
                cloud = sweep_cloud(factory, sweep, layout, KITTI_LIDAR_FRAME)
            else:
                cloud = sweep_laser_scan(factory, sweep, KITTI_LIDAR_FRAME)
                if not np.isnan(laser_time_increment):
                    cloud.time_increment = laser_time_increment
            bag.add("/lidar/points", cloud, image_ns + offset_ns + SWEEP_NS // 2 + 5_000_000)  # sent at its end
    return image_ns


@pytest.mark.parametrize("layout", LAYOUTS)
def test_lidar_motion_frame_de_skews_a_sweep_by_its_drivers_point_times(
    tmp_path: Path, kitti_object_dir: Path, layout: Layout
) -> None:
    """A 10 Hz sweep on a car at 10 m/s, camera triggered as the LiDAR faces forward (KITTI): the points in view
    were measured within 11 ms of the image stamp, the header says 50 ms before (Ouster, Hesai, Livox: sweep start)
    or after (Velodyne: sweep end). TF time travel from the header stamp moved them all by the 0.5 m driven in those
    50 ms: median depth error 2.2-2.3 % on KITTI 000000 (0.2-0.3 % on 000001, whose view is mostly road, whose
    depth per pixel does not change along the road). Each point now travels from its own time (the driver's ``t``,
    ``time`` or ``timestamp``): 0.00 %."""
    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    _write_kitti_sweep_bag(tmp_path / "in", frame, layout, speed_mps=10.0)
    params = {**EXTERNAL_RELATIVE, "lidar.motion_frame": ODOM_FRAME}
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, QUIET)
    assert summary.frames_out == 1 and not summary.warnings.counts, summary.warnings.examples
    ((_, image),) = read_bag(tmp_path / "out")["/depth/image"]
    truth = frame.lidar_depth_m
    depth = depth_image_to_metres(image)
    seen = np.isfinite(truth)
    assert np.isfinite(depth[seen]).mean() > 0.99
    error = float(np.nanmedian(np.abs(depth[seen] / truth[seen] - 1.0)))
    assert error < 0.003, f"{layout}: median depth error {error:.4f}"


@pytest.mark.parametrize("per_beam_times", [True, False])
def test_lidar_motion_frame_de_skews_a_2d_lidars_laser_scan_by_its_beam_times(
    tmp_path: Path, kitti_object_dir: Path, per_beam_times: bool
) -> None:
    """The same sweep as a level 2D LiDAR's LaserScan (the 0° slice, stamped at its first beam, behind the car):
    beam i measured i * time_increment after the stamp. With those times each beam travels from its own time
    (the slice's depth within 0.3 %); with time_increment 0 every beam is dated at the stamp, 50 ms before the
    ones in view, and moved by the 0.5 m driven meanwhile: 4.0 % off on KITTI 000000 (with them: 0.02 %)."""
    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    _write_kitti_sweep_bag(
        tmp_path / "in", frame, "ouster", 10.0, laser_time_increment=np.nan if per_beam_times else 0.0
    )
    params = {**EXTERNAL_RELATIVE, "lidar.motion_frame": ODOM_FRAME, "cloud.enabled": False}
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, QUIET)
    assert summary.frames_out == 1 and summary.scale_health == {"ok": 1}, summary.warnings.examples
    ((_, image),) = read_bag(tmp_path / "out")["/depth/image"]
    truth, depth = frame.lidar_depth_m, depth_image_to_metres(image)
    seen = np.isfinite(truth)
    error = float(np.nanmedian(np.abs(depth[seen] / truth[seen] - 1.0)))
    print(f"per-beam times {per_beam_times}: median depth error {error:.4f}")
    assert error < 0.003 if per_beam_times else error > 0.01


@pytest.mark.parametrize("layout", ["velodyne", "ouster"])
@pytest.mark.parametrize("image_lead_ms", [0, 20, -20])
def test_a_scan_is_paired_by_its_sweeps_middle_not_by_the_drivers_stamp(
    tmp_path: Path, kitti_object_dir: Path, layout: Layout, image_lead_ms: int
) -> None:
    """Three 10 Hz sweeps around an image, no motion frame, a car at 10 m/s. The image was taken as the LiDAR faced
    forward in the middle sweep (or 20 ms before or after). Paired by header stamps the image took the sweep whose
    start (Ouster) or end (Velodyne, the driver's default) was nearest: the one before or after whenever the image
    was on that side of the sweep's middle (a tie at the middle went to the earlier: Velodyne's previous sweep),
    its view measured 80-100 ms from the image: 3.5-4.6 % median depth error on KITTI 000000. A cloud with
    per-point times is now paired by the middle of its sweep, whichever end its driver stamps: the sweep that saw
    the view within 20 ms of the image (1.1-1.2 %, what 20 ms at 10 m/s costs without lidar.motion_frame)."""
    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    lead_ns = image_lead_ms * 1_000_000
    offsets = (-SWEEP_NS + lead_ns, lead_ns, SWEEP_NS + lead_ns)  # the sweeps' middles relative to the image
    _write_kitti_sweep_bag(tmp_path / "in", frame, layout, 10.0, offsets)
    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_RELATIVE, QUIET)
    assert summary.frames_out == 1 and not summary.warnings.counts, summary.warnings.examples
    out = read_bag(tmp_path / "out")
    ((_, image),) = out["/depth/image"]
    truth = frame.lidar_depth_m
    seen = np.isfinite(truth)
    error = float(np.nanmedian(np.abs(depth_image_to_metres(image)[seen] / truth[seen] - 1.0)))
    assert error < 0.02, f"{layout}, image {image_lead_ms} ms off the sweep's middle: median depth error {error:.4f}"


@pytest.mark.parametrize(("layout", "middle_ms"), [("ouster", -180), ("velodyne", 180)])
def test_a_scan_paired_by_its_sweeps_middle_is_not_then_refused_as_late(
    tmp_path: Path, kitti_object_dir: Path, layout: Layout, middle_ms: int
) -> None:
    """A sweep whose middle is 180 ms from the image (within lidar.max_age_s 0.2 s) is paired with it; its header,
    at the sweep's start (Ouster, 180 ms before) or end (Velodyne, after), is 230 ms away: scale recovery measured
    the age from the header and refused the scan it had been given ("LiDAR scan is +230 ms from the image"). The
    age and lidar_lag_s are now the sweep's middle's, as pairing measures them. (The Velodyne sweep is recorded
    233 ms after the image: lidar.wait_s 0.3 s, as the node needs to pair it, else warned ``lidar: scan after
    lidar.wait_s``.)"""
    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    _write_kitti_sweep_bag(tmp_path / "in", frame, layout, 0.0, (middle_ms * 1_000_000,))
    params = {**EXTERNAL_RELATIVE, "lidar.wait_s": 0.3}
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, QUIET)
    assert summary.frames_out == 1 and not summary.warnings.counts, summary.warnings.examples
    values = {v.key: v.value for _, m in read_bag(tmp_path / "out")["/diagnostics"] for s in m.status for v in s.values}
    assert values["scale_mode"] == "lidar", values.get("scale_reason")
    assert values["lidar_lag_s"] == f"{-middle_ms / 1000:.3f}"


def test_a_camera_info_without_a_size_gives_the_depth_and_cloud_of_the_sized_one(
    tmp_path: Path, kitti_object_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real KITTI frames whose camera_info has width = height = 0 and KITTI's K and P (a driver that leaves the size
    unset; depth_image_proc makes its cloud from such camera_info with the image's size): every frame was skipped as
    an uncalibrated camera; now the depth image and the cloud are those of the camera_info with the size."""
    import test.kitti_bag as kitti_bag

    frames = load_kitti_frames(kitti_object_dir)
    sized_info = kitti_bag.kitti_camera_info

    def sizeless_info(*args: Any, **kwargs: Any) -> Any:
        info = sized_info(*args, **kwargs)
        info.width, info.height = 0, 0
        return info

    out: dict[str, dict[str, list[tuple[int, Any]]]] = {}
    for name in ("sized", "sizeless"):
        if name == "sizeless":
            monkeypatch.setattr(kitti_bag, "kitti_camera_info", sizeless_info)
        kitti_bag.write_kitti_bag(tmp_path / f"in_{name}", frames, prediction="metric")
        summary = run_bag(tmp_path / f"in_{name}", tmp_path / f"out_{name}", EXTERNAL_METRIC, QUIET)
        assert summary.frames_out == 3, (name, summary.skipped.examples)
        out[name] = read_bag(tmp_path / f"out_{name}")
    for topic in ("/depth/image", "/depth/points"):
        assert len(out["sized"][topic]) == len(out["sizeless"][topic]) == 3
        for (_, sized), (_, sizeless) in zip(out["sized"][topic], out["sizeless"][topic], strict=True):
            assert bytes(sized.data) == bytes(sizeless.data), topic


@pytest.mark.parametrize("model", ["plumb_bob", "equidistant"])
def test_a_raw_camera_gives_the_metric_cloud_of_the_rectified_one(
    tmp_path: Path, kitti_object_dir: Path, model: str
) -> None:
    """Real KITTI frames seen through a raw (distorted) camera in KITTI's view (plumb_bob barrel, or the equidistant
    fisheye model; P keeps every raw pixel), the external prediction in the raw pixels, the real Velodyne scan: with
    image_is_rectified false the bag runner undistorts image and prediction, fits the LiDAR in P's image and puts
    the cloud where the rectified KITTI bag (the same scans and prediction) puts it: each raw-path point, projected
    into the KITTI image, has the depth the rectified path gives that pixel."""
    from test.kitti_bag import relative_inverse_prediction, write_kitti_bag
    from test.raw_kitti_bag import raw_frames, raw_view, write_raw_bag

    kitti = load_kitti_frames(kitti_object_dir, ("000001", "000002"))
    raws = raw_frames(kitti, model, (310, 94))  # type: ignore[arg-type]
    predictions = [
        raw_view(r.camera, r.kitti, relative_inverse_prediction(densify_nearest(r.kitti.lidar_depth_m)), nearest=True)
        for r in raws
    ]
    write_raw_bag(tmp_path / "raw_in", raws, predictions=predictions)
    write_kitti_bag(tmp_path / "rect_in", kitti, prediction="relative_inverse")
    out = {}
    for name, rectified in (("rect", True), ("raw", False)):
        params = {**EXTERNAL_RELATIVE, "image_is_rectified": rectified}
        summary = run_bag(tmp_path / f"{name}_in", tmp_path / f"{name}_out", params, QUIET)
        assert summary.frames_out == 2 and summary.scale_health == {"ok": 2}, (name, summary.warnings.examples)
        out[name] = read_bag(tmp_path / f"{name}_out")
    for frame, (_, cloud), (_, rect_depth) in zip(
        kitti, out["raw"]["/depth/points"], out["rect"]["/depth/image"], strict=True
    ):
        points = pointcloud2_to_structured(cloud).reshape(-1)
        xyz = np.stack([points["x"], points["y"], points["z"]], axis=-1).astype(np.float64)
        xyz = xyz[np.isfinite(xyz).all(axis=1) & (xyz[:, 2] > 0)]
        k = frame.intrinsics
        u = np.rint(k.fx * xyz[:, 0] / xyz[:, 2] + k.cx).astype(int)
        v = np.rint(k.fy * xyz[:, 1] / xyz[:, 2] + k.cy).astype(int)
        inside = (u >= 0) & (u < k.width) & (v >= 0) & (v < k.height)
        reference = depth_image_to_metres(rect_depth)[v[inside], u[inside]]
        ratio = xyz[inside, 2] / reference
        ratio = ratio[np.isfinite(ratio)]
        assert ratio.size > 0.5 * len(xyz), f"{ratio.size} of {len(xyz)} raw-path points land on rectified depth"
        print(f"{model} {frame.name}: raw / rectified depth median {np.median(ratio):.4f}, 10-90 %: "
              f"{np.percentile(ratio, [10, 90])}")  # fmt: skip
        assert abs(float(np.median(ratio)) - 1.0) < 0.01
        assert np.percentile(ratio, 10) > 0.95 and np.percentile(ratio, 90) < 1.05


def test_mutated_real_inputs_in_a_bag_are_each_skipped_or_warned_with_a_reason(tmp_path: Path) -> None:
    """The node test's mutations (test_cdr_fuzz.one_mutation_per_frame: KITTI 000000, one input changed per frame,
    as CDR bytes) recorded in a bag: every frame the node counts is skipped here with its reason, except a cut
    camera_info (the latest one before is used, warned); every refused scan is warned and its frame written."""
    from test.adapters import test_cdr_fuzz as fuzz

    frame = fuzz.real_frame("humble")
    mutations = fuzz.one_mutation_per_frame(frame)
    topics = {"image": ("/camera/image_raw", fuzz.IMAGE), "info": ("/camera/camera_info", fuzz.INFO),
              "prediction": ("/depth_model/prediction", fuzz.IMAGE),
              "cloud": ("/lidar/points", fuzz.CLOUD)}  # fmt: skip
    with BagBuilder(tmp_path / "in", "humble") as bag:
        bag.add("/tf_static", frame.tf, fuzz.STAMP_NS - 1_000_000_000)
        for index, mutation in enumerate(mutations):
            stamp_ns = fuzz.STAMP_NS + index * 1_000_000_000
            raw = fuzz.frame_bytes(frame, mutation, stamp_ns)
            for latency_ms, key in enumerate(("cloud", "info", "image", "prediction")):
                bag.write_raw(*topics[key], raw[key], stamp_ns + latency_ms * 1_000_000)
    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_RELATIVE, QUIET)
    assert summary.accounted and summary.frames_in == len(mutations)
    assert dict(summary.skipped.counts) == {
        "image: EncodingError": 1, "image: ShapeError": 2, "camera_info: CalibrationError": 2,
        "pipeline: ShapeError": 1, "prediction: undecodable": 1,
    }  # fmt: skip
    assert summary.frames_out == sum(m.reason == fuzz.PUBLISHED for m in mutations) + 1  # + the cut camera_info's
    warnings = dict(summary.warnings.counts)
    assert warnings["camera_info.bad_cdr"] == warnings["camera_info: not within sync.slop_s"] == 1
    assert warnings["lidar.bad_cdr"] == warnings["lidar.ShapeError"] == warnings["lidar.EncodingError"] == 1
    assert warnings["lidar.empty_scan"] == 1
    assert "on /lidar/points (3000 bytes)" in summary.warnings.examples["lidar.bad_cdr"]
    # its last /diagnostics status, as the node's: the images add up, the scans and camera_info not used apart
    values = {kv.key: kv.value for kv in read_bag(tmp_path / "out")["/diagnostics"][-1][1].status[0].values}
    assert (
        int(values["frames_received"])
        == len(mutations)
        == int(values["frames_published"]) + int(values["bad_messages"])
    ), values
    prefix = "inputs_unused."
    unused = {key.removeprefix(prefix): int(value) for key, value in values.items() if key.startswith(prefix)}
    inputs = {"camera_info.bad_cdr", "lidar.bad_cdr", "lidar.ShapeError", "lidar.EncodingError", "lidar.empty_scan"}
    assert unused == {reason: warnings[reason] for reason in inputs}, values  # not "not within sync.slop_s": used
    assert int(values["inputs_unused"]) == sum(unused.values()), values


@pytest.mark.parametrize(
    "correction_stamp_ns",
    [START_NS - 200_000_000, START_NS - 100_000_000, START_NS + 100 * 1_000_000_000],
    ids=["older", "same", "after_every_image"],
)
def test_a_tf_static_correction_recorded_later_with_an_older_stamp_applies_from_where_it_was_recorded(
    tmp_path: Path, kitti_object_dir: Path, correction_stamp_ns: int
) -> None:
    """/tf_static re-published with another extrinsic whose stamp is older than the first value's (a calibration
    tool stamping 0 or its start time, a second static publisher for the same child), the same (both stamped 0, or
    by publishers started before the sim clock ran), or later than every image (a publisher on another clock): tf2
    keeps the value received last, whatever its stamp, so the node uses the correction from the frame after it
    arrived. Six real KITTI frames, the first extrinsic 3 m off, the correction recorded before the fourth image: the
    first three frames are fitted to the wrong LiDAR depth (as the node fits them), the last three to the right one
    (each frame's relative inverse prediction is fitted anew, so AbsRel against the LiDAR says which extrinsic placed
    the scan). With the same stamp the correction replaced the first value for every frame (frames 1-3 right, the
    node's wrong); stamped after every image it never applied (frames 4-6 AbsRel 0.12)."""
    (frame,) = load_kitti_frames(kitti_object_dir, ["000000"])
    write_static_correction_bag(
        tmp_path / "in", frame, n_frames=6, corrected_at=3, correction_stamp_ns=correction_stamp_ns
    )
    params = {**EXTERNAL_RELATIVE, "cloud.enabled": False}
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, QUIET)
    assert summary.frames_out == 6 and summary.accounted
    abs_rel = []
    for _, image in read_bag(tmp_path / "out")["/depth/image"]:
        depth_m = depth_image_to_metres(image)
        valid = np.isfinite(depth_m) & np.isfinite(frame.lidar_depth_m)
        abs_rel.append(
            float(np.median(np.abs(depth_m[valid] - frame.lidar_depth_m[valid]) / frame.lidar_depth_m[valid]))
        )
    assert min(abs_rel[:3]) > 0.05, abs_rel  # the node had only the wrong extrinsic then
    assert max(abs_rel[3:]) < 0.005, abs_rel  # and the correction from its arrival on


def test_a_run_that_writes_nothing_leaves_no_output_bag_so_the_same_command_runs_once_fixed(tmp_path: Path) -> None:
    """Every image skipped (camera_info recorded on another clock: none at or before any image) or no image on the
    topic: the run ends with nothing written ('no frame was written'), and it left an empty OUT behind, so the same
    command once the cause was fixed was refused ("output bag OUT already exists"). Nothing written: nothing left.
    With --copy-inputs the copied messages are output and stay."""

    def later_clock(topic: str, index: int, msg: Any) -> Any:
        if topic == "/camera/camera_info":
            msg.header.stamp.sec += 1000
        return msg

    write_tiny_bag(tmp_path / "in", 3, mutate=later_clock, lidar=False)
    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, QUIET)
    assert (summary.frames_in, summary.frames_out, summary.skipped.counts) == (3, 0, {"no camera_info": 3})
    assert not (tmp_path / "out").exists()
    assert any("nothing was written" in note and "out" in note for note in summary.notes), summary.notes
    copied = run_bag(
        tmp_path / "in", tmp_path / "copy", EXTERNAL_METRIC, BagRunOptions(progress=False, copy_inputs=True)
    )
    assert copied.frames_out == 0 and set(read_bag(tmp_path / "copy")) >= {"/camera/image_raw", "/camera/camera_info"}
    shutil.rmtree(tmp_path / "in")
    write_tiny_bag(tmp_path / "in", 3, lidar=False)  # recorded again, camera_info on the camera's clock
    assert run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, QUIET).frames_out == 3


class _SecondPassStarted(StopSignals):
    """Never stops the run; ``asked``: the second pass has begun (run_bag asks once before it opens the output,
    then the second pass before every message)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return False

    @property
    def asked(self) -> bool:
        return self.calls > 1


def _record_generation(monkeypatch: pytest.MonkeyPatch, runs: list[_SecondPassStarted]) -> list[tuple[int, bool, str]]:
    """``(run, in the second pass, type)`` of every (de)serialiser rosbags generates from here on in run_bag's runs
    (``runs[-1]``: the run under way; none before the first: the input bag being written)."""
    from rosbags.typesys.store import Typestore

    generated: list[tuple[int, bool, str]] = []
    original = Typestore.get_msgdef

    def recording(self: Typestore, typename: str) -> Any:
        if runs and typename not in self.cache:
            generated.append((len(runs) - 1, runs[-1].asked, typename))
        return original(self, typename)

    monkeypatch.setattr(Typestore, "get_msgdef", recording)
    return generated


def _fresh_typestores(monkeypatch: pytest.MonkeyPatch) -> None:
    """run_bag gets a new typestore of its distro, as in a process that runs one bag (the process's own store has
    the types of every run before, in the test session: the second pass would generate none with or without its
    preparation)."""
    from rosbags.typesys import get_typestore

    from mono_depth_ros.bag import runner
    from mono_depth_ros.bag.reader import DISTROS

    monkeypatch.setattr(runner, "typestore_for", lambda distro: get_typestore(DISTROS[distro]))


def test_the_second_pass_generates_no_message_code_and_a_second_run_none_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """rosbags generates each type's (de)serialisers at its first use in a typestore (3-11 ms a type). The second pass
    generated those of the image, the scan, the prediction and every output type inside its first frames (30-45 ms,
    1-2 ms a frame of a 24-frame run's steady CPU), and every run did it again in a fresh typestore. They are made
    before the first frame, once per process; the outputs are the same messages."""
    from mono_depth_ros.bag.reader import typestore_for

    runs: list[_SecondPassStarted] = []
    generated = _record_generation(monkeypatch, runs)
    write_tiny_bag(tmp_path / "in", prediction="relative_inverse")
    with monkeypatch.context() as fresh:  # a one-run process: every type is new to run_bag's store
        _fresh_typestores(fresh)
        runs.append(signals := _SecondPassStarted())
        summary = run_bag(tmp_path / "in", tmp_path / "fresh", EXTERNAL_RELATIVE, QUIET, stop=signals)
        assert summary.frames_out == 3 and signals.asked and summary.topic_counts["/diagnostics"] > 0
    assert [name for _, inside, name in generated if inside] == []  # none once the second pass has begun
    made = {name for _, inside, name in generated if not inside}  # before it (the check above can fail)
    assert {"sensor_msgs/msg/Image", "sensor_msgs/msg/PointCloud2", "diagnostic_msgs/msg/DiagnosticArray"} <= made
    for run in (1, 2):  # the process's typestore: none at all in the run after the first
        runs.append(signals := _SecondPassStarted())
        summary = run_bag(tmp_path / "in", tmp_path / f"out{run}", EXTERNAL_RELATIVE, QUIET, stop=signals)
        assert summary.frames_out == 3 and signals.asked
    assert [name for run, _, name in generated if run == 2] == []
    assert "diagnostic_msgs/msg/DiagnosticArray" in typestore_for("humble").cache  # (the bag writer made the rest)


def test_the_second_pass_generates_no_message_code_for_compressed_images_laser_scans_on_jazzy_in_mcap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kitti_object_dir: Path
) -> None:
    """The types the second pass reads and writes with another image transport, a 2D LiDAR, /depth/scan, the input
    copied (its /diagnostics decoded and written again) and Jazzy's definitions in an MCAP bag: all generated before
    its first frame, in a store new to them."""
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    runs: list[_SecondPassStarted] = []
    generated = _record_generation(monkeypatch, runs)
    _fresh_typestores(monkeypatch)
    write_kitti_bag(
        tmp_path / "in", load_kitti_frames(kitti_object_dir)[:2], distro="jazzy", storage="mcap", compressed=True,
        laser_scan=True, prediction="relative_inverse",
    )  # fmt: skip
    params: dict[str, Any] = {**EXTERNAL_RELATIVE, "image_transport": "compressed", "scan.enabled": True}
    options = BagRunOptions(progress=False, distro="jazzy", storage="mcap", copy_inputs=True)
    runs.append(signals := _SecondPassStarted())
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, options, stop=signals)
    assert summary.frames_out == 2 and signals.asked and summary.topic_counts["/depth/scan"] == 2
    assert [name for _, inside, name in generated if inside] == []
    made = {name for _, inside, name in generated if not inside}
    assert {"sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/LaserScan", "sensor_msgs/msg/Image"} <= made


def test_a_scan_that_is_no_message_is_counted_once_and_a_refused_one_per_frame_as_the_node_counts_them(
    tmp_path: Path,
) -> None:
    """A 30 Hz camera and a 10 Hz LiDAR (KITTI 000000 cut-outs): the scan at 0 ms cut to 3000 bytes (no
    PointCloud2), the one at 200 ms without a z field (refused by the decoder), each the nearest scan of three
    frames. The node counts the cut one once, at its subscription (``inputs_unused.lidar.bad_cdr``: it never reaches
    the pairing), the refused one for each frame its worker pairs it with (``lidar.<error>`` x 3):
    ``test_node.py::test_a_scan_that_is_no_message_is_counted_once_and_a_refused_one_per_frame``. The bag runner
    counted the cut one for each of its three frames too: ``inputs_unused`` 6 where the node says 4.
    ``lidar.max_age_s`` 0.1 s: frames 0-2 have no other scan within it (with 0.2 s they take the refused one at
    200 ms instead of the cut one, as the node takes the nearest scan it received)."""
    from dataclasses import replace

    from test.adapters import test_cdr_fuzz as fuzz

    frame = fuzz.real_frame("humble")
    topics = {"image": ("/camera/image_raw", fuzz.IMAGE), "info": ("/camera/camera_info", fuzz.INFO),
              "prediction": ("/depth_model/prediction", fuzz.IMAGE)}  # fmt: skip
    no_z = replace(frame.cloud, fields=[f for f in frame.cloud.fields if f.name != "z"])
    with BagBuilder(tmp_path / "in", "humble") as bag:
        bag.add("/tf_static", frame.tf, fuzz.STAMP_NS - 1_000_000_000)
        for index in (0, 1, 2, 5, 6, 7):  # 33 ms apart; frames 0-2 nearest the cut scan, 5-7 the refused one
            stamp_ns = fuzz.STAMP_NS + index * 33_333_333
            if index in (0, 6):
                cloud = frame.cdr(fuzz.restamped(frame.cloud if index == 0 else no_z, stamp_ns))
                bag.write_raw("/lidar/points", fuzz.CLOUD, cloud[:3000] if index == 0 else cloud, stamp_ns)
            for latency_ms, key in enumerate(("info", "image", "prediction")):
                message = {"image": frame.image, "info": frame.info, "prediction": frame.prediction}[key]
                bag.write_raw(*topics[key], frame.cdr(fuzz.restamped(message, stamp_ns)), stamp_ns + latency_ms + 1)
    summary = run_bag(tmp_path / "in", tmp_path / "out", {**EXTERNAL_RELATIVE, "lidar.max_age_s": 0.1}, QUIET)
    assert summary.accounted and summary.frames_out == 6
    values = {kv.key: kv.value for kv in read_bag(tmp_path / "out")["/diagnostics"][-1][1].status[0].values}
    assert (values["inputs_unused.lidar.bad_cdr"], values["inputs_unused.lidar.EncodingError"]) == ("1", "3"), values
    assert values["inputs_unused"] == "4" and summary.warnings.counts["lidar.EncodingError"] == 3


def test_a_frame_whose_nearest_scan_is_cut_takes_the_next_readable_scan_as_the_node_does(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """KITTI 000001 four times at 10 Hz, each scan 30 ms before its image, the scan of frame 1 cut to 3000 bytes
    (its header readable, no PointCloud2). The node never pairs it (its subscription drops it, ``lidar.bad_cdr``)
    and takes the nearest scan it has within ``lidar.max_age_s``: frame 2's, 70 ms later. The bag runner paired
    frame 1 with the cut scan (the first pass reads headers only) and the frame lost its LiDAR scale (``degraded``,
    the last good one held). Now its outputs are those of the same bag without that scan (what the node saw)."""
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    frame = load_kitti_frames(kitti_object_dir, ("000001",))[0]
    params: dict[str, bool | int | float | str] = {**EXTERNAL_RELATIVE, "cloud.enabled": False}
    outputs = {}
    for name, cut, dropped in (("cut", (1,), ()), ("node", (), (1,))):
        write_kitti_bag(tmp_path / name, [frame] * 4, prediction="relative_inverse", cut_scans=cut, drop_scans=dropped)
        summary = run_bag(tmp_path / name, tmp_path / f"{name}_out", params, QUIET)
        assert summary.frames_out == 4 and summary.scale_health == {"ok": 4}, (name, summary.format())
        assert dict(summary.unused) == ({"lidar.bad_cdr": 1} if cut else {}), summary.unused
        outputs[name] = read_bag(tmp_path / f"{name}_out")
    images = {name: [(t, bytes(np.asarray(m.data))) for t, m in out["/depth/image"]] for name, out in outputs.items()}
    assert len(images["cut"]) == 4 and images["cut"] == images["node"]  # frame 1's depth: frame 2's scan's scale


def test_a_turning_tilt_joint_whose_tf_ends_is_extrapolated_by_the_bag_runner_on_a_real_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """End to end through the bag runner's TF (``scale.ground_frame``): real KITTI frame 000000 seen from a tilt
    joint turning down at 30°/s (each 30 Hz image's external prediction: the scan seen from its stamp's pitch, at
    half scale), the joint's /tf (100 Hz) ending just before the fourth image. The images after it are extrapolated
    from the last two poses found at image stamps up to 0.2 s (``ground_tf.LAG_NS``), within 3 % of the true depth;
    then TF's last pose is held, 7-9° behind (the last frame +56 %), and those frames' scale is ``degraded`` (it was
    ``ok``). Held from the end (before c5a23ba) the pitch fell 1° further behind each frame from the fourth on."""
    from test.adapters.test_ground_tf import ROAD_PLANES, footprint_from_cam, pitched_prediction

    (frame,) = load_kitti_frames(kitti_object_dir, ("000000",))
    height_m, road_deg = ROAD_PLANES[frame.name]
    start_ns, period_ns = 1_000_000_000, 33_333_333
    tf_end_ns = start_ns + 3 * period_ns

    def pitch_deg(stamp_ns: int) -> float:
        return road_deg + 30.0 * (stamp_ns - start_ns) / 1e9

    stamps = [start_ns + k * period_ns for k in range(12)]
    predictions = [pitched_prediction(frame, pitch_deg(stamp)) for stamp in stamps]
    messages: list[tuple[int, str, Any]] = []
    with BagBuilder(tmp_path / "in") as bag:
        factory = bag.factory
        for tf_ns in range(start_ns - 100_000_000, tf_end_ns + 1, 10_000_000):
            transform = footprint_from_cam(height_m, pitch_deg(tf_ns))
            messages.append((tf_ns, "/tf", tf_message_from(factory, [transform], tf_ns)))
        for stamp, prediction in zip(stamps, predictions, strict=True):
            header = make_header(factory, stamp, KITTI_CAMERA_FRAME)
            messages.append((stamp + 1_000_000, "/camera/camera_info", kitti_camera_info(factory, frame, stamp)))
            messages.append(
                (stamp + 2_000_000, "/camera/image_raw", image_from_array(factory, frame.rgb, "rgb8", header))
            )
            depth = depth_image_from_metres(factory, prediction, "32FC1", header)
            messages.append((stamp + 3_000_000, "/depth_model/prediction", depth))
        for at_ns, topic, message in sorted(messages, key=lambda m: m[0]):
            bag.add(topic, message, at_ns)
    params = {
        "model.backend": "external",
        "model.output_kind": "depth_up_to_scale",
        "prediction_topic": "/depth_model/prediction",
        "lidar_topic": "",
        "scale.mode": "ground_plane",
        "scale.ground_frame": "base_footprint",
    }
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, QUIET)
    assert summary.frames_out == len(stamps), summary
    errors = []
    for (_, image), prediction in zip(read_bag(tmp_path / "out")["/depth/image"], predictions, strict=True):
        depth, truth = depth_image_to_metres(image), 2.0 * prediction
        valid = np.isfinite(depth) & np.isfinite(truth) & (truth > 0)
        errors.append(float(np.median(depth[valid] / truth[valid])) - 1.0)
    assert max(abs(error) for error in errors[:9]) < 0.03, errors  # TF's, then extrapolated up to 0.2 s
    assert summary.warnings.counts == {"ground_frame.held": 3}, summary.warnings.counts  # 0.233-0.3 s
    assert summary.scale_health == {"ok": 9, "degraded": 3}, summary.scale_health  # TF's pose held: not current
    assert errors[11] > 0.3, errors  # held 9° behind: +56 %


def test_frames_past_the_hold_of_a_lost_ground_frame_tf_have_their_scale_degraded_on_a_real_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """The bag runner with ``scale.ground_frame`` (real KITTI frame 000000, external prediction: its Velodyne depth,
    densified, at half scale; the parameters at KITTI's nominal 1.65 m and 0°, 10 % off this frame's road): the
    joint's /tf (base_footprint <- camera: the road plane) ends after the second image, the third and fourth come
    2.4 s later, past the 2 s hold. Those took the parameters' prior with their scale ``ok`` (only the summary's
    ``ground_frame.no_transform`` said so), +10 %; now ``degraded``, the output's /diagnostics ``scale_reason``
    naming the missing TF and the values used, as the node's (test_ground_tf.py). Within the 2.4 s without an image
    the statuses due every 0.05 s go at their due times, the second frame's values aged, as the node's timer publishes
    them (``bag.diagnostics.BagDiagnostics.silent``); one status at each image's stamp."""
    from test.adapters.test_ground_tf import ROAD_PLANES, footprint_from_cam

    (frame,) = load_kitti_frames(kitti_object_dir, ("000000",))
    prediction = 0.5 * densify_nearest(frame.lidar_depth_m)
    stamps = [1_000_000_000, 1_100_000_000, 3_500_000_000, 3_600_000_000]
    with BagBuilder(tmp_path / "in") as bag:
        factory = bag.factory
        for tf_ns in range(900_000_000, 1_150_000_001, 10_000_000):
            transform = footprint_from_cam(*ROAD_PLANES[frame.name])
            bag.add("/tf", tf_message_from(factory, [transform], tf_ns), tf_ns)
        for stamp in stamps:
            header = make_header(factory, stamp, KITTI_CAMERA_FRAME)
            bag.add("/camera/camera_info", kitti_camera_info(factory, frame, stamp), stamp + 1_000_000)
            bag.add("/camera/image_raw", image_from_array(factory, frame.rgb, "rgb8", header), stamp + 2_000_000)
            depth = depth_image_from_metres(factory, prediction, "32FC1", header)
            bag.add("/depth_model/prediction", depth, stamp + 3_000_000)
    params: dict[str, bool | int | float | str] = {
        "model.backend": "external",
        "model.output_kind": "depth_up_to_scale",
        "prediction_topic": "/depth_model/prediction",
        "lidar_topic": "",
        "scale.mode": "ground_plane",
        "scale.camera_height_m": 1.65,
        "scale.ground_frame": "base_footprint",
        "diagnostics.period_s": 0.05,
    }
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, QUIET)
    assert summary.frames_out == len(stamps), summary.format()
    counts = summary.warnings.counts
    assert counts == {"ground_frame.disagrees": 1, "ground_frame.no_transform": 2}, counts  # 1.65 m, 0° against TF
    assert summary.scale_health == {"ok": 2, "degraded": 2}, summary.scale_health  # TF's pose lost past the hold
    written = [(stamp_to_ns(status.header.stamp), status) for _, status in read_bag(tmp_path / "out")["/diagnostics"]]
    statuses = [(stamp, status) for stamp, status in written if stamp in stamps]
    assert len(statuses) == len(stamps), statuses
    silent = [{kv.key: kv.value for kv in status.status[0].values} for stamp, status in written if stamp not in stamps]
    ages = [values["last_frame_age_s"] for values in silent]  # the 2.4 s without an image, every 0.05 s, as the node
    # (and, a 10 Hz camera slower than the 0.05 s period, at 1.05 and 3.55 s between its frames, as the node's timer)
    assert ages == ["0.050", *(f"{0.05 * k:.3f}" for k in range(1, 48)), "0.050"], ages
    assert {values.get("scale_reason", "") for values in silent[:-1]} == {""}, silent  # the second frame's, aged
    assert "TF's last pose is 2.400 s older" in silent[-1]["scale_reason"], silent[-1]  # 3.55 s: the third frame's
    reasons = [{kv.key: kv.value for kv in status.status[0].values}.get("scale_reason", "") for _, status in statuses]
    assert reasons[:2] == ["", ""], reasons
    for reason in reasons[2:]:
        assert f"no TF base_footprint <- {KITTI_CAMERA_FRAME} for the camera's height" in reason, reason
        assert "the ground-plane prior uses scale.camera_height_m=1.65 m and scale.camera_pitch_rad=0" in reason
    assert "TF's last pose is 2.400 s older (held up to 2 s)" in reasons[2], reasons[2]


def test_a_cut_scan_no_frame_takes_first_is_counted_as_the_node_counts_every_cut_scan(tmp_path: Path) -> None:
    """A 10 Hz camera and a 20 Hz LiDAR (KITTI 000000 cut-outs): the scan between frames 0 and 1 cut to 3000 bytes
    (each frame takes its own scan first, stamped with its image), one 1 s after the last image cut to 3000 bytes
    too (no frame within ``lidar.max_age_s``), and two cut after and inside their header (40, 12 bytes). The node's
    subscription counts each scan whose bytes are no message (``inputs_unused.lidar.bad_cdr``: 4;
    ``test_node.py::test_a_scan_that_is_no_message_is_counted_once_and_a_refused_one_per_frame``). The bag runner
    decoded only the scans a frame takes and counted none of the three cut after their header, the one cut inside it
    as ``undecodable /lidar/points``, a key the node has not."""
    from test.adapters import test_cdr_fuzz as fuzz

    frame = fuzz.real_frame("humble")
    topics = {"image": ("/camera/image_raw", fuzz.IMAGE), "info": ("/camera/camera_info", fuzz.INFO),
              "prediction": ("/depth_model/prediction", fuzz.IMAGE)}  # fmt: skip
    with BagBuilder(tmp_path / "in", "humble") as bag:
        bag.add("/tf_static", frame.tf, fuzz.STAMP_NS - 1_000_000_000)
        for index in range(9):  # scans every 50 ms; images with the even ones, up to 300 ms
            stamp_ns = fuzz.STAMP_NS + index * 50_000_000
            cloud = frame.cdr(fuzz.restamped(frame.cloud, stamp_ns))
            if index <= 6:
                bag.write_raw("/lidar/points", fuzz.CLOUD, cloud[:3000] if index == 1 else cloud, stamp_ns)
            if index % 2 == 0 and index <= 6:
                for latency_ms, key in enumerate(("info", "image", "prediction")):
                    message = {"image": frame.image, "info": frame.info, "prediction": frame.prediction}[key]
                    bag.write_raw(*topics[key], frame.cdr(fuzz.restamped(message, stamp_ns)), stamp_ns + latency_ms + 1)
        late_ns = fuzz.STAMP_NS + 1_300_000_000
        bag.write_raw("/lidar/points", fuzz.CLOUD, frame.cdr(fuzz.restamped(frame.cloud, late_ns))[:3000], late_ns)
        bag.write_raw("/lidar/points", fuzz.CLOUD, frame.cdr(fuzz.restamped(frame.cloud, late_ns))[:40], late_ns + 1)
        bag.write_raw("/lidar/points", fuzz.CLOUD, frame.cdr(fuzz.restamped(frame.cloud, late_ns))[:12], late_ns + 2)
    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_RELATIVE, QUIET)
    assert summary.accounted and summary.frames_out == 4 and summary.scale_health == {"ok": 4}, summary.format()
    values = {kv.key: kv.value for kv in read_bag(tmp_path / "out")["/diagnostics"][-1][1].status[0].values}
    unused = {key: value for key, value in values.items() if key.startswith("inputs_unused")}
    assert unused == {"inputs_unused": "4", "inputs_unused.lidar.bad_cdr": "4"}, unused
    assert "PointCloud2 #9 on /lidar/points (12 bytes)" in summary.warnings.examples["lidar.bad_cdr"]  # the first pass


def test_a_damaged_compressed_scan_no_frame_takes_is_counted_and_a_bomb_does_not_end_the_run(tmp_path: Path) -> None:
    """A message-compressed bag (``ros2 bag record --compression-mode message``) of KITTI 000000 cut-outs, images
    and scans at 10 Hz, then two scans 1 s after the last image (no frame within ``lidar.max_age_s``): the first's
    zstd frame cut in half, the second a frame whose header declares 2**62 bytes (its first block whole). A
    compressed payload's head is decompressed from the frame's start and its size is the size the frame *declares*:
    the check from the head (``bag.payload.head_decodes``) took the cut scan for whole (not counted, where a
    frame taking it counts ``lidar.bad_cdr``) and allocated the declared 2**62 bytes (MemoryError: the run ended).
    Both are now read whole (bounded by ``MESSAGE_BYTES_MAX``) and counted under ``lidar.bad_cdr``."""
    import sqlite3
    import struct

    from mono_depth_ros.bag.compression import zstd
    from test.adapters import test_cdr_fuzz as fuzz

    frame = fuzz.real_frame("humble")
    others = (("/camera/camera_info", fuzz.INFO, frame.info), ("/camera/image_raw", fuzz.IMAGE, frame.image),
              ("/depth_model/prediction", fuzz.IMAGE, frame.prediction))  # fmt: skip
    late_ns = fuzz.STAMP_NS + 1_300_000_000
    with BagBuilder(tmp_path / "plain", "humble") as bag:
        bag.add("/tf_static", frame.tf, fuzz.STAMP_NS - 1_000_000_000)
        for index in range(4):
            stamp_ns = fuzz.STAMP_NS + index * 100_000_000
            bag.write_raw("/lidar/points", fuzz.CLOUD, frame.cdr(fuzz.restamped(frame.cloud, stamp_ns)), stamp_ns)
            for latency_ns, (topic, msgtype, message) in enumerate(others, 1):
                bag.write_raw(topic, msgtype, frame.cdr(fuzz.restamped(message, stamp_ns)), stamp_ns + latency_ns)
        for extra_ns in (0, 1):
            cloud = frame.cdr(fuzz.restamped(frame.cloud, late_ns + extra_ns))
            bag.write_raw("/lidar/points", fuzz.CLOUD, cloud, late_ns + extra_ns)
    compressed = recompress(tmp_path / "plain", tmp_path / "in", "message")
    (db3,) = compressed.glob("*.db3")
    with sqlite3.connect(db3) as db:
        (topic_id,) = db.execute("SELECT id FROM topics WHERE name = '/lidar/points'").fetchone()
        (cut_id, cut), (bomb_id, whole) = db.execute(
            "SELECT id, data FROM messages WHERE topic_id = ? ORDER BY timestamp LIMIT 2 OFFSET 4", (topic_id,)
        ).fetchall()
        block = zstd.decompress(whole)[:8000]  # a raw block, not the last: the frame header's size 2**62 stands
        window_and_size = bytes([0xC0, 0x38]) + struct.pack("<Q", 2**62)  # a 128 KiB window; an 8-byte content size
        bomb = b"\x28\xb5\x2f\xfd" + window_and_size + struct.pack("<I", len(block) << 3)[:3] + block
        db.execute("UPDATE messages SET data = ? WHERE id = ?", (cut[: len(cut) // 2], cut_id))
        db.execute("UPDATE messages SET data = ? WHERE id = ?", (bomb, bomb_id))
    summary = run_bag(compressed, tmp_path / "out", EXTERNAL_RELATIVE, QUIET)
    assert summary.accounted and summary.frames_out == 4 and summary.scale_health == {"ok": 4}, summary.format()
    values = {kv.key: kv.value for kv in read_bag(tmp_path / "out")["/diagnostics"][-1][1].status[0].values}
    unused = {key: value for key, value in values.items() if key.startswith("inputs_unused")}
    assert unused == {"inputs_unused": "2", "inputs_unused.lidar.bad_cdr": "2"}, unused


def test_a_second_type_recorded_on_the_image_topic_is_not_read_as_images(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """Real KITTI frames; on /camera/image_raw a second publisher's sensor_msgs/CompressedImage (a JPEG of frame
    0, with its stamp) beside the three Images, as a bag merged from two recordings (or written by rosbags) holds
    it. The node subscribes with one type and never receives the other's messages: 3 images, 3 outputs. The bag
    runner read every connection of the topic, decoding each as its own type: 4 images, the JPEG written as a second
    depth frame with frame 0's stamp. Only the type the node subscribes (Image: image_transport raw) is read now,
    and the summary notes the messages left out."""
    import cv2
    from rosbags.rosbag2 import Reader, Writer

    from mono_depth_ros.bag.reader import typestore_for
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    frames = load_kitti_frames(kitti_object_dir)
    write_kitti_bag(tmp_path / "in", frames, prediction="metric")
    typestore = typestore_for("humble")
    types = typestore.types
    with Reader(tmp_path / "in") as reader, Writer(tmp_path / "mixed", version=8) as writer:
        connections = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=typestore) for c in reader.connections}
        jpeg = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/CompressedImage", typestore=typestore)
        written = False
        for connection, log_ns, raw in reader.messages():
            writer.write(connections[connection.id], log_ns, raw)
            if connection.topic == "/camera/image_raw" and not written:
                image: Any = typestore.deserialize_cdr(raw, connection.msgtype)
                ok, data = cv2.imencode(".jpg", cv2.cvtColor(frames[0].rgb, cv2.COLOR_RGB2BGR))
                assert ok
                compressed = types["sensor_msgs/msg/CompressedImage"](header=image.header, format="jpeg", data=data)
                writer.write(jpeg, log_ns + 1, typestore.serialize_cdr(compressed, "sensor_msgs/msg/CompressedImage"))
                written = True
    summary = run_bag(tmp_path / "mixed", tmp_path / "out", EXTERNAL_METRIC, QUIET)
    assert (summary.frames_in, summary.frames_out, dict(summary.skipped.counts)) == (3, 3, {}), summary.format()
    stamps = [stamp for stamp, _ in read_bag(tmp_path / "out")["/depth/image"]]
    assert len(set(stamps)) == 3, stamps
    assert any("1 message(s) of sensor_msgs/msg/CompressedImage" in note for note in summary.notes), summary.notes


def test_frames_held_for_the_second_scan_of_a_lidar_an_hour_behind_get_the_nodes_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 10 Hz LiDAR stamped an hour behind the 10 Hz camera, each scan recorded just after its image: the node holds
    the first frame until the second scan gives the scan period (one scan at hand is no clock: ``far_behind``), and
    logs it with the scans at hand then ("its scans still arrive ... different clocks", the nearest the second scan,
    3599.900 s before it); the bag runner judged it by the scans recorded when the node took it in, other words
    ("the only scan at hand: the LiDAR's rate is not known yet ...", 3600.000 s). Every frame's words are now the
    node's: its :class:`~mono_depth_ros.adapters.lidar_feed.LidarFeed` fed the bag's messages at their bag times,
    each image when its prediction completes the set."""
    import mono_depth_ros.bag.runner as runner_module
    from mono_depth_ros.adapters.lidar import Paired, UnpairedLog
    from mono_depth_ros.adapters.lidar_feed import LidarFeed
    from mono_depth_ros.depth_config import DepthConfig
    from test.adapters.support import FakeClock, FakeNode
    from test.core.ros_msg_support import rosbags_factory

    bag_words: list[str] = []
    words = runner_module.no_scan_text

    def spy(*args: Any, **kwargs: Any) -> str:
        bag_words.append(words(*args, **kwargs))
        return bag_words[-1]

    monkeypatch.setattr(runner_module, "no_scan_text", spy)

    def hour_behind(topic: str, index: int, msg: Any) -> Any:
        if topic == "/lidar/points":
            msg.header.stamp.sec -= 3600
        return msg

    summary, _ = _run(tmp_path, EXTERNAL_RELATIVE, mutate=hour_behind, n_frames=5)
    assert summary.warnings.counts["lidar: no scan in time"] == len(bag_words) == 5, bag_words
    config = DepthConfig.from_params(EXTERNAL_RELATIVE)
    clock, released = FakeClock(), list[Paired[Any]]()
    tf2 = (None, rosbags_factory("humble"), ())  # no TF asked: no scan is chosen
    feed: LidarFeed[Any] = LidarFeed(
        FakeNode(), config, "qos", tf2, lambda image: image.header, release=released.extend,
        unused=lambda reason, text: None, clock_ns=clock,
    )  # fmt: skip
    recorded = read_bag(tmp_path / "in")
    images, predictions = recorded["/camera/image_raw"], recorded["/depth_model/prediction"]
    events = [(log_ns, "image", image) for (_, image), (log_ns, _) in zip(images, predictions, strict=True)]
    events += [(log_ns, "scan", scan) for log_ns, scan in recorded["/lidar/points"]]  # an image is taken in when its
    events.sort(key=lambda event: event[0])  # prediction completes the set
    for log_ns, kind, msg in events:
        clock.now_ns = log_ns
        if kind == "scan":
            feed.add_scan(msg)
        else:
            feed.add_frame(stamp_to_ns(msg.header.stamp), msg)
        feed.poll()
    clock.now_ns += round(config.lidar.wait_s * 1e9)
    feed.poll()
    node_words: list[str] = []
    for paired in released:  # each frame's words (UnpairedLog throttles repeats in the log)
        UnpairedLog(node_words.append, config.topics.lidar, config.lidar.max_age_s)(paired)
    assert [paired.scan for paired in released] == [None] * 5
    for k, (node, bag) in enumerate(zip(node_words, bag_words, strict=True)):
        assert node == f"LiDAR scan not used: {bag}; this frame's scale falls back", (k, node, bag)


@pytest.mark.parametrize(("params", "kind"), [(EXTERNAL_RELATIVE, "relative_inverse"), (EXTERNAL_METRIC, "metric")])
def test_an_external_prediction_with_no_depth_is_skipped_with_the_reason_or_written_as_a_sensors_frame(
    tmp_path: Path, params: Mapping[str, Any], kind: str
) -> None:
    """An all-NaN prediction on frame 1: of a network's dense kind (relative_inverse) it is skipped with the node's
    reason (``pipeline: ModelOutputError``, /diagnostics ERROR counting it, every image accounted for: it was
    written as a depth image of nothing); of a depth kind (metric: a projected LiDAR, a depth camera with no return)
    it is written, one depth image per image, as the node publishes it."""

    def all_nan(topic: str, index: int, msg: Any) -> Any:
        if topic == "/depth_model/prediction" and index == 1:
            msg.data = np.full(msg.data.size // 4, np.nan, np.float32).view(np.uint8)
        return msg

    summary, out = _run(tmp_path, params, mutate=all_nan, prediction=kind)
    if kind == "metric":
        assert summary.frames_out == 3 and not summary.skipped.counts
        assert np.isnan(depth_image_to_metres(out["/depth/image"][1][1])).all()
        return
    assert summary.frames_out == 2 and dict(summary.skipped.counts) == {"pipeline: ModelOutputError": 1}
    assert "no depth at any of its 64x48 pixels (all NaN" in summary.skipped.examples["pipeline: ModelOutputError"]
    last = {value.key: value.value for value in out["/diagnostics"][-1][1].status[0].values}
    assert (last["frames_received"], last["frames_published"], last["bad_messages.ModelOutputError"]) == ("3", "2", "1")


def _write_bag_with_recorded_clock(tmp_path: Path, behind_ns: int) -> dict[str, int]:
    """Write ``tmp_path / "in"``: a tiny camera bag (no LiDAR) with a recorded /clock message beside each message,
    its time ``behind_ns`` behind the message's bag (log) time (0: the bag's own time; a simulator's: behind it).
    Returns the message count of each topic."""
    write_tiny_bag(tmp_path / "plain", 3, lidar=False)
    return add_recorded_clock(tmp_path / "plain", tmp_path / "in", behind_ns)


def test_copy_inputs_leaves_out_a_recorded_clock_and_says_to_play_with_clock(tmp_path: Path) -> None:
    """A recorded /clock was copied into OUT: ``ros2 bag play OUT --clock`` then had two publishers on /clock (the
    player's and the recorded one; Humble's rosbag2 plays both, ros2/rosbag2#1645), the time jumping between them.
    It is left out now, every other input topic still copied, and the summary says why and how to play OUT."""
    counts = _write_bag_with_recorded_clock(tmp_path, behind_ns=0)
    summary = run_bag(
        tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, BagRunOptions(progress=False, copy_inputs=True)
    )
    out = read_bag(tmp_path / "out")
    assert summary.frames_out == 3
    assert "/clock" not in out, sorted(out)
    assert len(out["/camera/image_raw"]) == counts["/camera/image_raw"] == 3  # the other inputs still copied
    note = f"not copied: /clock {counts['/clock']} message(s) of the input: play the output with `ros2 bag play OUT"
    assert any(n.startswith(note) for n in summary.notes), summary.notes


@pytest.mark.parametrize("version", [1, 2, 3])
def test_a_pre_foxy_metadata_without_qos_keeps_tf_static(tmp_path: Path, version: int) -> None:
    """A metadata.yaml of version 1-3 names no offered_qos_profiles (rosbag2's yaml.hpp reads them from version 4 on)
    while the .db3 holds the recorded ones; rosbags pairs the two only when the QoS agree, so /tf_static (recorded
    transient local) was read as empty without a word and the LiDAR had no transform. Its messages are read now,
    and a copy keeps the recorded transient-local QoS."""
    import yaml
    from rosbags.rosbag2 import Reader

    write_tiny_bag(tmp_path / "v8", 3)
    shutil.copytree(tmp_path / "v8", tmp_path / "in")
    metadata = tmp_path / "in" / "metadata.yaml"
    info = yaml.safe_load(metadata.read_text())["rosbag2_bagfile_information"]
    info["version"] = version
    for key in ("files", "custom_data", "ros_distro", *(("compression_format", "compression_mode") * (version < 3))):
        del info[key]
    for topic in info["topics_with_message_count"]:
        del topic["topic_metadata"]["offered_qos_profiles"], topic["topic_metadata"]["type_description_hash"]
    metadata.write_text(yaml.safe_dump({"rosbag2_bagfile_information": info}))

    options = BagRunOptions(progress=False, copy_inputs=True)
    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_RELATIVE, options)
    reference = run_bag(tmp_path / "v8", tmp_path / "reference", EXTERNAL_RELATIVE, options)
    assert summary.frames_out == reference.frames_out == 3
    assert dict(summary.warnings.counts) == dict(reference.warnings.counts) == {}, summary.warnings.examples
    assert len(read_bag(tmp_path / "out")["/tf_static"]) == 1
    with Reader(tmp_path / "out") as reader:
        (tf_static,) = [c for c in reader.connections if c.topic == "/tf_static"]
    (qos,) = tf_static.ext.offered_qos_profiles  # type: ignore[union-attr]
    assert qos.durability.name == "TRANSIENT_LOCAL"


def test_copy_inputs_keeps_a_recorded_simulators_clock_and_says_to_play_without_clock(tmp_path: Path) -> None:
    """A simulator's /clock recorded by Humble's ``ros2 bag record`` (bag time: the wall clock; the recorded /clock
    and the header stamps: the simulator's time, here 1000 s behind) is the only record of that timeline. It was left
    out: OUT played without --clock had no /clock at all (use_sim_time nodes wait at time 0), and with --clock the
    bag's wall time, not the stamps'. It is copied now, every message, and the summary says to play OUT as IN was."""
    behind_ns = 1000 * 10**9
    counts = _write_bag_with_recorded_clock(tmp_path, behind_ns)
    summary = run_bag(
        tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, BagRunOptions(progress=False, copy_inputs=True)
    )
    out = read_bag(tmp_path / "out")
    assert summary.frames_out == 3
    assert len(out["/clock"]) == counts["/clock"] > 0, sorted(out)
    assert [m.clock.sec * 10**9 + m.clock.nanosec for _, m in out["/clock"]] == [
        log_ns - behind_ns for log_ns, _ in out["/clock"]
    ]  # the simulator's timeline, as recorded
    note = f"copied: the input's recorded /clock ({counts['/clock']} message(s), -1000.000 s from the bag's time"
    assert any(n.startswith(note) and "without --clock" in n for n in summary.notes), summary.notes
    assert not any(n.startswith("not copied: /clock") for n in summary.notes), summary.notes
