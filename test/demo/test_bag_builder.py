"""The demo's bag writer: Velodyne-like scan layout, camera and oracle topics, custom metadata, plain rosbags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from rosbags.rosbag2 import Reader

from mono_depth_ros.bag.reader import typestore_for
from mono_depth_ros.core.msg_factory import MessageFactory, stamp_to_ns
from mono_depth_ros.core.ros_msgs import (
    camera_model_from_camera_info,
    depth_image_to_metres,
    image_to_array,
    pointcloud2_to_structured,
    xyz_from_pointcloud2,
)
from mono_depth_ros.core.synthetic import FRAME_CAMERA, kitti_like_intrinsics
from mono_depth_ros.demo.bag_builder import LIDAR_DTYPE, BagBuilder, add_camera, add_oracle, lidar_cloud
from mono_depth_ros.demo.oracle import OracleConfig, OracleStream
from mono_depth_ros.demo.scenario import CAMERA_INFO_TOPIC, IMAGE_TOPIC, PREDICTION_TOPIC


def test_lidar_cloud_keeps_every_field(tmp_path: Path) -> None:
    points = np.array([[1.0, 2.0, 3.0], [4.0, -5.0, 0.5]], dtype=np.float32)
    with BagBuilder(tmp_path / "bag", custom_data={"who": "demo"}) as bag:
        factory: MessageFactory = bag.factory
        message = lidar_cloud(factory, points, 123, "lidar", np.array([0.5, 1.0]), np.array([3, 7]))
        bag.add("/lidar/points", message, 456)
    assert (message.point_step, message.width, message.height, message.is_dense) == (20, 2, 1, True)
    assert LIDAR_DTYPE.itemsize == 20
    structured = pointcloud2_to_structured(message)
    np.testing.assert_array_equal(structured["ring"].ravel(), [3, 7])
    np.testing.assert_allclose(structured["intensity"].ravel(), [0.5, 1.0])
    np.testing.assert_array_equal(xyz_from_pointcloud2(message), points)
    assert message.header.frame_id == "lidar" and message.header.stamp.nanosec == 123
    with Reader(tmp_path / "bag") as reader:
        assert [(c.topic, c.msgtype, c.msgcount) for c in reader.connections] == [
            ("/lidar/points", "sensor_msgs/msg/PointCloud2", 1)
        ]
        assert [t for _, t, _ in reader.messages()] == [456]
    metadata = yaml.safe_load((tmp_path / "bag" / "metadata.yaml").read_text())
    assert metadata["rosbag2_bagfile_information"]["custom_data"] == {"who": "demo"}


def test_camera_and_oracle_topics_at_the_demo_latencies(tmp_path: Path) -> None:
    intrinsics = kitti_like_intrinsics(16, 8)
    rgb = np.arange(8 * 16 * 3, dtype=np.uint8).reshape(8, 16, 3)
    depth = np.full((8, 16), 4.0, dtype=np.float32)
    stamp_ns = 5_000_000_000
    expected = OracleStream(7, OracleConfig()).predict(depth)
    with BagBuilder(tmp_path / "bag") as bag:
        header = add_camera(bag, stamp_ns, rgb, intrinsics)
        scale, shift = add_oracle(bag, OracleStream(7, OracleConfig()), depth, header, stamp_ns)
    assert (scale, shift) == (expected.true_scale, expected.true_shift)
    assert header.frame_id == FRAME_CAMERA and stamp_to_ns(header.stamp) == stamp_ns
    typestore = typestore_for("humble")
    with Reader(tmp_path / "bag") as reader:
        read = {c.topic: (t, typestore.deserialize_cdr(raw, c.msgtype)) for c, t, raw in reader.messages()}
    assert {topic: t - stamp_ns for topic, (t, _) in read.items()} == {
        CAMERA_INFO_TOPIC: 1_000_000,
        IMAGE_TOPIC: 2_000_000,
        PREDICTION_TOPIC: 40_000_000,
    }
    assert all(m.header.frame_id == FRAME_CAMERA and stamp_to_ns(m.header.stamp) == stamp_ns for _, m in read.values())
    assert camera_model_from_camera_info(read[CAMERA_INFO_TOPIC][1]).rectified_intrinsics() == intrinsics
    np.testing.assert_array_equal(image_to_array(read[IMAGE_TOPIC][1]), rgb)
    prediction = read[PREDICTION_TOPIC][1]
    assert prediction.encoding == "32FC1"
    np.testing.assert_array_equal(depth_image_to_metres(prediction), expected.values)
