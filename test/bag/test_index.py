"""First pass: topic resolution (with clear BagErrors), stamps by topic, CameraInfo models, TF, undecodable messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mono_depth_ros.bag.index import index_bag, resolve_topics
from mono_depth_ros.bag.reader import InputBag, typestore_for
from mono_depth_ros.bag.summary import BagSummary
from mono_depth_ros.core.errors import BagError
from mono_depth_ros.depth_config import DepthConfig

from .support import CAM_FROM_LIDAR, CAMERA_FRAME, LIDAR_FRAME, START_NS, write_tiny_bag

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
    assert summary.notes == ["lidar_topic /velodyne_points is not in the bag (PointCloud2 topics: /lidar/points)"]
    with pytest.raises(BagError, match=r"/lidar/points \(image_topic\).*is sensor_msgs/msg/PointCloud2"):
        _index(tmp_path / "in", image_topic="/lidar/points")
    raw_only = r"reads /camera/image_raw/compressed, which .* lacks; .* set --param image_transport=raw"
    with pytest.raises(BagError, match=raw_only):
        _index(tmp_path / "in", image_transport="compressed")
    with pytest.raises(BagError, match=r"no topic '/camera/other/compressed'"):
        _index(tmp_path / "in", image_transport="compressed", image_topic="/camera/other")


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
    assert bad.model is None and bad.error_reason == "camera_info: CalibrationError" and "uncalibrated" in bad.error
