"""The synthetic input bag: topics, types, stamps, TF tree and the oracle prediction, read back with plain rosbags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.core.ros_msgs import depth_image_to_metres, image_to_rgb8, stamp_to_ns, xyz_from_pointcloud2
from mono_depth_ros.core.synthetic import FRAME_CAMERA, FRAME_LIDAR, SensorRig, kitti_like_intrinsics
from mono_depth_ros.core.tf_buffer import TfBuffer
from mono_depth_ros.demo.oracle import OracleConfig
from mono_depth_ros.demo.synthetic_bag import write_synthetic_bag

INTRINSICS = kitti_like_intrinsics(96, 64)
TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)


def _read(path: Path) -> dict[str, list[tuple[int, Any]]]:
    by_topic: dict[str, list[tuple[int, Any]]] = {}
    with Reader(path) as reader:
        for connection, log_ns, raw in reader.messages():
            message = TYPESTORE.deserialize_cdr(raw, connection.msgtype)
            by_topic.setdefault(connection.topic, []).append((log_ns, message))
    return by_topic


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    path = tmp_path_factory.mktemp("synthetic") / "bag"
    calls: list[tuple[str, int, int]] = []
    truths = write_synthetic_bag(
        path, 5, 3, INTRINSICS, beams=6, oracle=OracleConfig(), progress=lambda *a: calls.append(a)
    )
    assert calls == [("render", 1, 3), ("render", 2, 3), ("render", 3, 3)]
    return path, truths


def test_every_topic_is_there_with_the_image_stamps(recorded: tuple[Path, list[Any]]) -> None:
    path, truths = recorded
    topics = _read(path)
    counts = {topic: len(messages) for topic, messages in topics.items()}
    assert counts == {
        "/tf_static": 1,
        "/tf": 3,
        "/lidar/points": 3,
        "/camera/camera_info": 3,
        "/camera/image_raw": 3,
        "/depth_model/prediction": 3,
    }
    stamps = [t.stamp_ns for t in truths]
    assert np.all(np.diff(stamps) == 100_000_000)
    for topic in ("/lidar/points", "/camera/camera_info", "/camera/image_raw", "/depth_model/prediction"):
        assert [stamp_to_ns(m.header.stamp) for _, m in topics[topic]] == stamps
        assert all(log_ns >= stamp for (log_ns, _), stamp in zip(topics[topic], stamps, strict=True))
    image = image_to_rgb8(topics["/camera/image_raw"][0][1])
    assert image.shape == (64, 96, 3) and topics["/camera/image_raw"][0][1].header.frame_id == FRAME_CAMERA
    info = topics["/camera/camera_info"][0][1]
    assert (info.width, info.height) == (96, 64) and info.k[0] == pytest.approx(INTRINSICS.fx)


def test_the_tf_tree_chains_camera_lidar_and_odometry(recorded: tuple[Path, list[Any]]) -> None:
    path, truths = recorded
    buffer = TfBuffer()
    for topic, static in (("/tf_static", True), ("/tf", False)):
        for _, message in _read(path)[topic]:
            buffer.add_tf_message(message, static=static)
    cam_from_lidar = buffer.lookup(FRAME_CAMERA, FRAME_LIDAR, truths[1].stamp_ns)
    np.testing.assert_allclose(cam_from_lidar.matrix, SensorRig().cam_from_lidar.matrix, atol=1e-9)
    start, end = (buffer.lookup("map", FRAME_CAMERA, truths[i].stamp_ns).translation for i in (0, 2))
    assert np.linalg.norm(end - start) == pytest.approx(1.6, abs=0.05)  # 8 m/s for 0.2 s along the road


def test_the_scan_and_the_prediction_agree_with_the_truth(recorded: tuple[Path, list[Any]]) -> None:
    path, truths = recorded
    topics = _read(path)
    scan = topics["/lidar/points"][0][1]
    assert [f.name for f in scan.fields] == ["x", "y", "z", "intensity", "ring"] and scan.point_step == 20
    points = SensorRig().cam_from_lidar.apply(xyz_from_pointcloud2(scan).astype(np.float64))
    np.testing.assert_allclose(points, truths[0].lidar_in_camera, atol=1e-4)
    prediction = depth_image_to_metres(topics["/depth_model/prediction"][1][1])
    truth = truths[1]
    inverse = truth.true_scale * prediction.astype(np.float64) + truth.true_shift
    finite = np.isfinite(truth.gt_depth_m)
    ratio = truth.gt_depth_m[finite] * inverse[finite]
    assert abs(np.median(ratio) - 1.0) < 0.1  # the oracle is the truth up to its stated errors


def test_the_oracle_is_declared_in_the_bag_metadata(recorded: tuple[Path, list[Any]]) -> None:
    path, _ = recorded
    metadata = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert metadata["version"] == 8
    assert "not a network" in metadata["custom_data"]["mono_depth_ros.demo.prediction"]


def test_without_an_oracle_there_is_no_prediction_topic(tmp_path: Path) -> None:
    truths = write_synthetic_bag(tmp_path / "bag", 1, 1, kitti_like_intrinsics(64, 32), beams=2)
    assert "/depth_model/prediction" not in _read(tmp_path / "bag")
    assert truths[0].true_scale is None and truths[0].gt_depth_m.shape == (32, 64)
