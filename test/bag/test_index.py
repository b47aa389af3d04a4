"""First pass: topic resolution (with clear BagErrors), stamps by topic, CameraInfo models, TF, undecodable messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mono_depth_ros.bag.index import index_bag, resolve_topics
from mono_depth_ros.bag.reader import InputBag, typestore_for
from mono_depth_ros.bag.summary import BagSummary
from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.errors import BagError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.ros_msgs import camera_info_from_model, image_from_array, make_header, tf_message_from
from mono_depth_ros.demo.bag_builder import BagBuilder
from mono_depth_ros.depth_config import DepthConfig

from .support import (
    CAM_FROM_LIDAR,
    CAMERA_FRAME,
    INTRINSICS,
    LIDAR_FRAME,
    START_NS,
    tiny_frame,
    write_mixed_type_bag,
    write_tiny_bag,
)

HUMBLE = typestore_for("humble")


def _index(path: Path, **params: Any) -> tuple[Any, BagSummary]:
    summary = BagSummary(path, path)
    with InputBag(path, HUMBLE) as bag:
        topics = resolve_topics(DepthConfig.from_params(params), bag, summary)
        return index_bag(bag, topics, summary, topics.all), summary


def test_indexes_stamps_calibration_and_tf(tmp_path: Path) -> None:
    frames = write_tiny_bag(tmp_path / "in", 3)
    index, summary = _index(tmp_path / "in", **{"lidar_topic": "/lidar/points", "model.backend": "external"})
    assert [e.stamp_ns for e in index.images] == [f.stamp_ns for f in frames]
    assert {e.frame_id for e in index.images} == {CAMERA_FRAME}
    assert index.camera_info_stamps.stamps_ns == tuple(f.stamp_ns for f in frames)
    assert all(e.model is not None and e.model.width == 64 for e in index.camera_infos)
    assert index.lidar_stamps.stamps_ns == tuple(f.stamp_ns for f in frames)
    assert set(index.lidar_frames.values()) == {LIDAR_FRAME}
    assert len(index.prediction_stamps) == 3
    cam_from_lidar = index.tf.lookup(CAMERA_FRAME, LIDAR_FRAME, START_NS)
    assert cam_from_lidar.matrix == pytest.approx(CAM_FROM_LIDAR.matrix)
    assert not summary.warnings.counts and not summary.notes


def test_one_camera_model_per_calibration(tmp_path: Path) -> None:
    """A CameraInfo per frame, one of them recalibrated: two models (so two sets of undistortion maps), not five."""

    def recalibrate(topic: str, index: int, msg: Any) -> Any:
        if topic == "/camera/camera_info" and index == 3:
            msg.k[0] += 1.0
        return msg

    write_tiny_bag(tmp_path / "in", 5, mutate=recalibrate)
    index, _ = _index(tmp_path / "in", **{"model.backend": "external"})
    models = [entry.model for entry in index.camera_infos]
    assert len(models) == 5 and len(index.calibrations) == 2
    assert all(model is models[0] for i, model in enumerate(models) if i != 3)
    assert models[3] is not None and models[3] is not models[0]


def test_no_lidar_or_prediction_topics_unless_asked(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 1)
    index, _ = _index(tmp_path / "in")
    assert (index.topics.lidar, index.topics.prediction) == ("", "")
    assert len(index.lidar_stamps) == 0 and len(index.prediction_stamps) == 0


def test_missing_lidar_topic_is_a_note_and_wrong_types_are_errors(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 1)
    _, summary = _index(tmp_path / "in", lidar_topic="/velodyne_points")
    note = "lidar_topic /velodyne_points is not in the bag (PointCloud2 / LaserScan topics: /lidar/points)"
    assert summary.notes == [note]
    laser = r"/lidar/points \(lidar_topic\).*is sensor_msgs/msg/PointCloud2, expected sensor_msgs/msg/LaserScan"
    laser += r".*; set --param lidar.message_type=PointCloud2 \(or auto"  # the remedy: the topic is right
    with pytest.raises(BagError, match=laser):  # lidar.message_type names the type: the recorded one must match
        _index(tmp_path / "in", lidar_topic="/lidar/points", **{"lidar.message_type": "LaserScan"})
    with pytest.raises(BagError, match=r"/lidar/points \(image_topic\).*is sensor_msgs/msg/PointCloud2"):
        _index(tmp_path / "in", image_topic="/lidar/points")
    raw_only = r"reads /camera/image_raw/compressed, which .* lacks; .* set --param image_transport=raw"
    with pytest.raises(BagError, match=raw_only):
        _index(tmp_path / "in", image_transport="compressed")
    with pytest.raises(BagError, match=r"no topic '/camera/other/compressed'"):
        _index(tmp_path / "in", image_transport="compressed", image_topic="/camera/other")


def test_a_recorded_2d_lidar_not_used_is_named_with_the_parameter_to_set(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    write_kitti_bag(tmp_path / "in", load_kitti_frames(kitti_object_dir, ["000001"]), laser_scan=True)
    _, summary = _index(tmp_path / "in")
    assert summary.notes == [
        "LiDAR not used: the bag has LaserScan /lidar/points but lidar_topic is empty; "
        "pass --param lidar_topic=/lidar/points for a metric scale from it"
    ]


def test_compressed_sibling_is_used_when_the_raw_topic_is_absent(tmp_path: Path, kitti_object_dir: Path) -> None:
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    write_kitti_bag(tmp_path / "in", load_kitti_frames(kitti_object_dir, ["000001"]), compressed=True)
    index, summary = _index(tmp_path / "in")
    assert index.topics.image == "/camera/image_raw/compressed"
    assert index.topics.image_type == "sensor_msgs/msg/CompressedImage"
    assert "reading /camera/image_raw/compressed instead" in summary.notes[0]


def test_undecodable_and_bad_messages(tmp_path: Path) -> None:
    def damage(topic: str, index: int, msg: Any) -> Any:
        if topic == "/tf_static":
            msg.transforms[0].transform.rotation.w = 5.0  # not a unit quaternion: used normalised (tf2), reported
        if topic == "/camera/camera_info" and index == 1:
            msg.width = 0
        return msg

    write_tiny_bag(tmp_path / "in", 2, mutate=damage)
    index, summary = _index(tmp_path / "in", lidar_topic="/lidar/points")
    assert summary.warnings.counts["/tf_static: TransformError"] == 1
    assert index.camera_infos[0].model is not None
    bad = index.camera_infos[1]
    assert bad.model is None and bad.error_reason == "camera_info: CalibrationError" and "not calibrated" in bad.error


def test_tf_of_a_bag_whose_clock_went_back_is_kept_per_pass(tmp_path: Path) -> None:
    """A simulation reset while recording: odom <- camera starts again with the same stamps at another place. The
    bag's TF was one timeline, so the second pass's samples replaced the first's (and interleaved between them):
    lidar.motion_frame and the temporal filter placed first-pass frames with second-pass poses. The node clears its
    TF buffer when /tf goes back (adapters.tf_time_jump); offline each pass keeps its own TF (statics are shared)."""
    period, back = 100_000_000, 1_500_000_000
    with BagBuilder(tmp_path / "in", "humble") as bag:
        bag.add("/tf_static", tf_message_from(bag.factory, [CAM_FROM_LIDAR], START_NS), START_NS)
        for k in range(24):  # frames 15..23 repeat the stamps of frames 0..8, the camera 100 m further along x
            bag_pass = int(k >= 15)
            stamp, log = START_NS + k * period - bag_pass * back, START_NS + k * period + 1
            header = make_header(bag.factory, stamp, CAMERA_FRAME)
            camera = CameraModel.from_intrinsics(INTRINSICS)
            bag.add("/camera/camera_info", camera_info_from_model(bag.factory, camera, header), log)
            bag.add("/camera/image_raw", image_from_array(bag.factory, tiny_frame(0).rgb, "rgb8", header), log + 1)
            odom_from_camera = RigidTransform(np.eye(3), np.array([100.0 * bag_pass + k, 0, 0]), "odom", CAMERA_FRAME)
            bag.add("/tf", tf_message_from(bag.factory, [odom_from_camera], stamp), log + 2)
    index, summary = _index(tmp_path / "in")
    stamp = START_NS + 2 * period  # frame 2 (first pass) and frame 17 (second pass) share it
    assert index.tf.lookup("odom", CAMERA_FRAME, stamp).translation[0] == pytest.approx(2.0)  # was 117
    assert index.tf_for(1).lookup("odom", CAMERA_FRAME, stamp).translation[0] == pytest.approx(117.0)
    assert index.tf_for(1).lookup(CAMERA_FRAME, LIDAR_FRAME, stamp).matrix == pytest.approx(CAM_FROM_LIDAR.matrix)
    # lidar.motion_frame: a scan 100 ms older than the image, in the second pass: the camera moved 1 m along x
    moved = index.cam_from_scan(CAMERA_FRAME, stamp, LIDAR_FRAME, stamp - period, "odom", bag_pass=1)
    assert moved.translation == pytest.approx(CAM_FROM_LIDAR.translation + np.array([-1.0, 0.0, 0.0]))
    assert [e.bag_pass for e in index.images] == [0] * 15 + [1] * 9
    (note,) = [n for n in summary.notes if "went back" in n]
    assert "/camera/image_raw went back 1 time(s)" in note


def test_a_missing_prediction_topic_lists_the_image_topics_but_the_camera(tmp_path: Path) -> None:
    """The candidates for prediction_topic listed the camera's own image topic; given as the remedy says, every
    frame was then skipped with "no external prediction"."""
    write_tiny_bag(tmp_path / "in", 1)
    with pytest.raises(BagError, match=r"in it: /depth_model/prediction; set --param prediction_topic=TOPIC") as err:
        _index(tmp_path / "in", **{"model.backend": "external", "prediction_topic": "/nope"})
    assert "/camera/image_raw" not in str(err.value)


def test_a_bag_of_two_cameras_names_them_and_one_camera_per_run(tmp_path: Path) -> None:
    """A robot's bag with /front and /left cameras and the default image_topic: the error listed the Image topics and
    'set --param image_topic=TOPIC', after which the run failed again on camera_info_topic, and said nothing about
    running each camera on its own or writing its outputs apart."""
    frame = tiny_frame(0)
    with BagBuilder(tmp_path / "in", "humble", "sqlite3") as bag:
        for camera in ("front", "left"):
            header = make_header(bag.factory, frame.stamp_ns, f"{camera}_optical")
            info = camera_info_from_model(bag.factory, CameraModel.from_intrinsics(INTRINSICS), header)
            bag.add(f"/{camera}/camera_info", info, frame.stamp_ns)
            bag.add(f"/{camera}/image_raw", image_from_array(bag.factory, frame.rgb, "rgb8", header), frame.stamp_ns)
    with pytest.raises(BagError) as refused:
        _index(tmp_path / "in")
    assert str(refused.value).endswith(
        "; the bag holds several cameras (camera_info: /front/camera_info, /left/camera_info): one run takes one "
        "camera: --param image_topic=IMAGE --param camera_info_topic=CAMERA_INFO, and --node "
        "/NAMESPACE/mono_depth_node writes its outputs under that namespace"
    )
    index, _ = _index(tmp_path / "in", image_topic="/left/image_raw", camera_info_topic="/left/camera_info")
    assert {e.frame_id for e in index.images} == {"left_optical"}


def test_a_static_extrinsic_is_looked_up_once_and_a_moving_one_at_each_scan(tmp_path: Path) -> None:
    """cam_from_scan without lidar.motion_frame: /tf_static only (the camera and LiDAR bolted on) gives one transform
    for every scan, made once and shared read-only; a LiDAR on /tf (a gimbal) is looked up at each scan's stamp."""
    period = 100_000_000
    with BagBuilder(tmp_path / "in", "humble") as bag:
        bag.add("/tf_static", tf_message_from(bag.factory, [CAM_FROM_LIDAR], START_NS), START_NS)
        for k in range(3):
            stamp = START_NS + k * period
            header = make_header(bag.factory, stamp, CAMERA_FRAME)
            bag.add("/camera/camera_info", camera_info_from_model(bag.factory, CameraModel.from_intrinsics(INTRINSICS),
                                                                  header), stamp)  # fmt: skip
            bag.add("/camera/image_raw", image_from_array(bag.factory, tiny_frame(0).rgb, "rgb8", header), stamp + 1)
            gimbal = RigidTransform(np.eye(3), np.array([float(k), 0.0, 0.0]), CAMERA_FRAME, "gimbal_lidar")
            bag.add("/tf", tf_message_from(bag.factory, [gimbal], stamp), stamp + 2)
    index, _ = _index(tmp_path / "in")
    first = index.cam_from_scan(CAMERA_FRAME, None, LIDAR_FRAME, START_NS)
    again = index.cam_from_scan(CAMERA_FRAME, None, LIDAR_FRAME, START_NS + 2 * period)
    assert again is first
    assert first.matrix == pytest.approx(index.tf.lookup(CAMERA_FRAME, LIDAR_FRAME, START_NS).matrix)
    assert first.matrix == pytest.approx(CAM_FROM_LIDAR.matrix)
    assert not first.rotation.flags.writeable and not first.translation.flags.writeable
    moving = [index.cam_from_scan(CAMERA_FRAME, None, "gimbal_lidar", START_NS + k * period) for k in (0, 2, 1)]
    assert [m.translation[0] for m in moving] == pytest.approx([0.0, 2.0, 1.0])


def test_a_second_recorded_lidar_left_unused_by_lidar_topic_is_named(tmp_path: Path, kitti_object_dir: Path) -> None:
    """Two LiDARs recorded (a roof Velodyne and a second one), lidar_topic names one: the other is named in the
    summary with the parameter that would take it, as a recorded LiDAR is when lidar_topic is empty."""
    from test.kitti_bag import kitti_camera_info, load_kitti_frames, velodyne_cloud

    (frame,) = load_kitti_frames(kitti_object_dir, ["000001"])
    with BagBuilder(tmp_path / "in") as bag:
        factory = bag.factory
        header = make_header(factory, START_NS, "camera_optical")
        bag.add("/camera/camera_info", kitti_camera_info(factory, frame, START_NS), START_NS)
        bag.add("/camera/image_raw", image_from_array(factory, frame.rgb, "rgb8", header), START_NS + 1)
        for topic, lidar_frame in (("/lidar/points", "velodyne"), ("/rear/points", "rear_velodyne")):
            bag.add(topic, velodyne_cloud(factory, frame.scan, START_NS, lidar_frame), START_NS + 2)
    _, summary = _index(tmp_path / "in", lidar_topic="/lidar/points")
    assert summary.notes == [
        "LiDAR not used: the bag also has PointCloud2 /rear/points; one run takes one lidar_topic (as the node "
        "subscribes one): pass --param lidar_topic=/rear/points for the scale from it instead"
    ]
    _, summary = _index(tmp_path / "in", lidar_topic="/rear/points")
    assert summary.notes[0].startswith("LiDAR not used: the bag also has PointCloud2 /lidar/points;")


@pytest.mark.parametrize(
    ("image_topic", "image_type", "params"),
    [
        ("/camera/image_raw", "sensor_msgs/msg/Image", {}),
        (
            "/cam/compressed",
            "sensor_msgs/msg/CompressedImage",
            {"image_transport": "compressed", "image_topic": "/cam/compressed"},
        ),
        ("/camera/image_raw/compressed", "sensor_msgs/msg/CompressedImage", {}),  # raw absent: its sibling read
    ],
    ids=["raw", "compressed", "compressed-sibling"],
)
def test_of_a_topic_recorded_with_several_types_the_type_the_node_subscribes_is_read(
    tmp_path: Path, image_topic: str, image_type: str, params: dict[str, Any]
) -> None:
    """Every input topic holds the node's three messages and five of another type (a second publisher, bags
    merged). The node subscribes each with the type its parameters name (Image, or CompressedImage with
    image_transport: compressed; CameraInfo; PointCloud2 for lidar.message_type auto when both publish; an Image
    prediction) and never receives the others: the runner reads those three on each, whatever type has more
    messages (it read the type with the most: the other camera's CompressedImages, the LaserScans, refused the
    camera_info topic as sensor_msgs/msg/Image), and notes what it left out."""
    stamps = write_mixed_type_bag(tmp_path / "in", image_topic, image_type)
    params = {**params, "lidar_topic": "/lidar/points", "model.backend": "external"}
    index, summary = _index(tmp_path / "in", **params)
    assert (index.topics.image, index.topics.image_type) == (image_topic, image_type)
    assert [entry.stamp_ns for entry in index.images] == stamps
    assert index.camera_info_stamps.stamps_ns == tuple(stamps)
    assert all(entry.model is not None for entry in index.camera_infos)
    assert index.lidar_stamps.stamps_ns == tuple(stamps)
    assert index.prediction_stamps.stamps_ns == tuple(stamps)
    other = {image_type} ^ {"sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage"}
    left_out = {
        image_topic: other.pop(),
        "/lidar/points": "sensor_msgs/msg/LaserScan",
        "/depth_model/prediction": "sensor_msgs/msg/CompressedImage",
        "/camera/camera_info": "sensor_msgs/msg/Image",
    }
    for topic, msgtype in left_out.items():
        assert any(note.startswith(f"{topic} also holds 5 message(s) of {msgtype}") for note in summary.notes), (
            topic,
            summary.notes,
        )
    # lidar.message_type names the LaserScans: those are read (the node subscribes LaserScan; indexed at the middle
    # of their sweep, 50 ms after the stamp)
    index, _ = _index(tmp_path / "in", **params, **{"lidar.message_type": "LaserScan"})
    assert len(index.lidar_stamps) == 5 and not set(index.lidar_stamps.stamps_ns) & set(stamps)


def test_each_scan_is_indexed_by_the_middle_of_its_own_sweep(tmp_path: Path) -> None:
    """The node pairs each scan by the middle of its own sweep (``messages.sweep_middle_offset_ns`` in
    ``LidarFeed.add_scan``); the first pass read the first scan whole and gave its offset to every scan. Here the first
    scan has no time field (a driver that adds it once running; KITTI's Velodyne files have none), then a Velodyne
    sweep stamped at its end (``time`` -125..0 ms, a slower spin: middle 62.5 ms before the stamp), a partial one
    (-15.6..0 ms: dropped packets), and one stamped at its start (``t`` 0..100 ms, a merged cloud): all were indexed
    at their
    header stamps (the first scan's 0); now each at its stamp plus its own middle, the node's offset."""
    from mono_depth_ros.adapters.messages import sweep_middle_offset_ns
    from mono_depth_ros.core.ros_msgs import pointcloud2_from_structured
    from test.core.ros_msg_support import rosbags_factory

    factory = rosbags_factory("humble")
    times: list[tuple[str, str, list[float]] | None] = [
        None,
        ("time", "<f4", [-0.125, -0.0625, 0.0]),
        ("time", "<f4", [-0.015625, -0.0078125, 0.0]),
        ("t", "<u4", [0, 50_000_000, 100_000_000]),
    ]
    clouds: dict[int, Any] = {}

    def with_times(topic: str, index: int, msg: Any) -> Any:
        if topic != "/lidar/points":
            return msg
        extra = times[index]
        fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")] + ([] if extra is None else [extra[:2]])
        points = np.zeros(3, dtype=fields)
        points["x"] = [10.0, 11.0, 12.0]
        if extra is not None:
            points[extra[0]] = extra[2]
        clouds[index] = pointcloud2_from_structured(factory, msg.header, points, 1, 3, True)
        return clouds[index]

    frames = write_tiny_bag(tmp_path / "in", 4, mutate=with_times)
    index, _ = _index(tmp_path / "in", **{"lidar_topic": "/lidar/points", "model.backend": "external"})
    offsets = [sweep_middle_offset_ns(clouds[i]) for i in range(4)]
    assert offsets == [0, -62_500_000, -7_812_500, 50_000_000]  # the node's offset of each scan
    assert index.lidar_stamps.stamps_ns == tuple(sorted(f.stamp_ns + o for f, o in zip(frames, offsets, strict=True)))


def test_a_cut_laser_scan_after_the_first_does_not_stop_the_first_pass(tmp_path: Path, kitti_object_dir: Path) -> None:
    """Each scan's sweep middle is asked of every scan now (not only the first): a LaserScan whose header reads but
    whose beams are cut (3000 bytes) raised EncodingError out of ``index_bag``, ending the run. It is indexed at its
    header stamp (the node drops it as ``lidar.bad_cdr``; the second pass counts it so), the others at their
    sweep's middle."""
    from test.kitti_bag import LIDAR_OFFSET_NS, load_kitti_frames, write_kitti_bag

    frames = load_kitti_frames(kitti_object_dir, ["000001"]) * 3
    written = write_kitti_bag(tmp_path / "in", frames, laser_scan=True, cut_scans=[1])
    index, _ = _index(tmp_path / "in", **{"lidar_topic": "/lidar/points", "lidar.message_type": "LaserScan"})
    stamps = index.lidar_stamps.stamps_ns
    assert len(stamps) == 3 and stamps[1] == written[1].stamp_ns + LIDAR_OFFSET_NS, stamps
    assert stamps[0] - written[0].stamp_ns == stamps[2] - written[2].stamp_ns > LIDAR_OFFSET_NS  # sweep middles


def test_a_cloud_read_whole_only_when_its_fields_hold_a_time_field_the_node_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first pass reads a cloud whole (for its sweep's middle) only when its ``fields``, parsed from its head,
    hold a time field the node reads (``point_times.time_field``). The helper's check matched a CDR string anywhere in
    the head: a LiDAR frame id ``t`` (or ``time``), or a ``time`` field of a type no driver uses, made every scan of the
    bag be read whole and deserialised for an offset of 0. Here: frame id ``t``, then a ``uint8 time`` field: none
    is deserialised, and each is indexed at its stamp (the node's offset, 0)."""
    from mono_depth_ros.adapters.messages import sweep_middle_offset_ns
    from mono_depth_ros.core.ros_msgs import pointcloud2_from_structured
    from test.core.ros_msg_support import rosbags_factory

    factory = rosbags_factory("humble")
    clouds: dict[int, Any] = {}

    def renamed(topic: str, index: int, msg: Any) -> Any:
        if topic != "/lidar/points":
            return msg
        layout = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")] + ([("time", "u1")] if index % 2 else [])
        points = np.zeros(3, dtype=layout)
        header = make_header(factory, msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, "t")
        clouds[index] = pointcloud2_from_structured(factory, header, points, 1, 3, True)
        return clouds[index]

    frames = write_tiny_bag(tmp_path / "in", 4, mutate=renamed)
    decoded: list[str] = []
    deserialize = InputBag.deserialize

    def counted(bag: InputBag, message: Any) -> Any:
        decoded.append(message.topic)
        return deserialize(bag, message)

    monkeypatch.setattr(InputBag, "deserialize", counted)
    index, _ = _index(tmp_path / "in", **{"lidar_topic": "/lidar/points", "model.backend": "external"})
    assert "/lidar/points" not in decoded, decoded
    assert [sweep_middle_offset_ns(clouds[i]) for i in range(4)] == [0] * 4
    assert index.lidar_stamps.stamps_ns == tuple(f.stamp_ns for f in frames)


def test_a_scan_placed_for_an_image_keeps_the_sweep_middle_it_was_paired_by() -> None:
    """``BagIndex.lidar_scan`` with ``lidar.motion_frame`` de-skews a sweep with per-point times; the placed scan took
    its middle from the de-skewed points' times (the kept points), not the one the scan was paired by
    (``Scan.sweep_middle_ns``: every point's time): a sector without returns at the sweep's end dated it 12.5 ms
    off, and the scale recovery measured its age (``lidar_lag_ns``, ``lidar.max_age_s``) from it. Both kept now."""
    from mono_depth_ros.adapters.messages import Scan
    from mono_depth_ros.bag.index import BagIndex, TopicPlan

    index = BagIndex(TopicPlan("/image", "sensor_msgs/msg/Image", "/camera_info", "/lidar", ""))
    for stamp_ns in (0, 1_000_000_000):
        for parent, child, x in (("odom", "camera", 0.0), ("odom", "lidar", 0.5)):
            moved = RigidTransform(np.eye(3), np.array([x + stamp_ns * 1e-9, 0.0, 0.0]), parent, child)
            index.tf.set_transform(moved, stamp_ns, static=False)
    points = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [-5.0, 0.0, 0.0]], np.float32)
    dt_ns = np.array([0, 25_000_000, 50_000_000], np.int64)  # kept points: 0-50 ms; the sweep ran 0-100 ms
    scan = Scan(points, "lidar", 400_000_000, dt_ns, sweep_middle_ns=50_000_000)
    for motion_frame in ("odom", ""):
        placed, missing = index.lidar_scan("camera", 450_000_000, scan, motion_frame)
        assert (placed.sweep_middle_ns, placed.sweep_ns, missing) == (50_000_000, 450_000_000, 0), motion_frame


def test_equal_bag_times_are_taken_in_recording_order() -> None:
    """``RecordingOrder``: a run of equal bag times goes 1 ns apart in recording order (the pairing rules compare
    bag times: a camera_info recorded after its image at its bag time counted as received before it), a later time
    is kept, and so is one that went back further than a run can carry (a clock that went back)."""
    from mono_depth_ros.bag.index import TIE_RUN_NS, RecordingOrder
    from mono_depth_ros.bag.reader import BagMessage

    order = RecordingOrder()
    recorded = [5_000, 5_000, 5_000, 5_001, 9_000, 9_000, 9_000 - TIE_RUN_NS - 1]
    given = [order.of(BagMessage("/t", "x", i, log_ns, b"", None)).log_ns for i, log_ns in enumerate(recorded)]  # type: ignore[arg-type]
    assert given == [5_000, 5_001, 5_002, 5_003, 9_000, 9_001, 9_000 - TIE_RUN_NS - 1]
