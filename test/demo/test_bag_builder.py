"""The demo's bag writer: Velodyne-like scan layout, custom metadata, readable by plain rosbags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from rosbags.rosbag2 import Reader

from mono_depth_ros.core.msg_factory import MessageFactory
from mono_depth_ros.core.ros_msgs import pointcloud2_to_structured, xyz_from_pointcloud2
from mono_depth_ros.demo.bag_builder import LIDAR_DTYPE, BagBuilder, lidar_cloud


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
