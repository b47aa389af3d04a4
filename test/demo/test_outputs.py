"""Reading an output bag back: depth with REP 117 values, one scale sample per /diagnostics, clouds by stamp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mono_depth_ros.adapters.diagnostics import DiagnosticReport, diagnostics_message
from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.cloud import organized_cloud
from mono_depth_ros.core.errors import BagError
from mono_depth_ros.core.msg_factory import make_header
from mono_depth_ros.core.ros_msgs import depth_image_from_metres, image_from_array, pointcloud2_from_structured
from mono_depth_ros.demo.bag_builder import BagBuilder
from mono_depth_ros.demo.outputs import read_cloud_at, read_image_at, read_output_bag

INTRINSICS = PinholeIntrinsics(10.0, 10.0, 3.5, 2.5, width=8, height=6)


@pytest.fixture
def output_bag(tmp_path: Path) -> Path:
    depth = np.full((6, 8), 5.0, dtype=np.float32)
    depth[0, 0], depth[0, 1] = np.nan, np.inf
    with BagBuilder(tmp_path / "out") as bag:
        factory = bag.factory
        for index, stamp_ns in enumerate((100, 200)):
            header = make_header(factory, stamp_ns, "cam")
            bag.add("/depth/image", depth_image_from_metres(factory, depth + index, "32FC1", header), stamp_ns)
            cloud = organized_cloud(depth + index, INTRINSICS)
            message = pointcloud2_from_structured(factory, header, cloud.points, cloud.height, cloud.width, False)
            bag.add("/depth/points", message, stamp_ns)
            values = {"scale": f"{1.5 + index}", "shift": "0", "scale_health": "ok", "scale_mode": "lidar"}
            report = DiagnosticReport("OK", "ok", tuple((values | {"inliers": "42"}).items()))
            bag.add("/diagnostics", diagnostics_message(factory, report, stamp_ns, "node: depth", "cam"), stamp_ns)
            rgb = np.full((6, 8, 3), index * 50, dtype=np.uint8)
            bag.add("/camera/image_raw", image_from_array(factory, rgb, "rgb8", header), stamp_ns)
    return tmp_path / "out"


def test_depth_and_scale_come_back_per_stamp(output_bag: Path) -> None:
    contents = read_output_bag(output_bag)
    assert sorted(contents.depth_by_stamp) == [100, 200]
    depth = contents.depth_by_stamp[200]
    assert np.isnan(depth[0, 0]) and np.isposinf(depth[0, 1]) and depth[3, 3] == 6.0
    assert [(s.stamp_ns, s.scale, s.health, s.mode, s.inliers) for s in contents.scale_track] == [
        (100, 1.5, "ok", "lidar", 42),
        (200, 2.5, "ok", "lidar", 42),
    ]


def test_one_cloud_or_image_by_stamp(output_bag: Path) -> None:
    cloud = read_cloud_at(output_bag, 100)
    assert cloud.shape == (6 * 8 - 2, 3)  # NaN and +Inf pixels give no point
    np.testing.assert_allclose(cloud[:, 2], 5.0)
    assert read_image_at(output_bag, "/camera/image_raw", 200)[0, 0, 0] == 50
    with pytest.raises(BagError, match="stamped 300 ns"):
        read_cloud_at(output_bag, 300)
