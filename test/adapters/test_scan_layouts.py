"""``decode_scan`` (adapters/messages.py) on the PointCloud2 layouts real LiDAR and depth-camera drivers publish,
filled with a real KITTI Velodyne scan, and the LiDAR scale recovered from each: it must equal the scale of the raw
points (no-return markers, padding, byte order, row padding and float64 coordinates change nothing).

Layouts, as the drivers declare them:
* velodyne_pointcloud: x y z (pad 4) intensity f4, ring u2, time f4; point_step 32; organized with NaN no-returns.
* ouster-ros: x y z (pad 4) intensity f4, t u4, reflectivity u2, ring u2, ambient u2, range u4; point_step 48;
  organized H x W, a no-return at (0, 0, 0) (older drivers) or NaN (current ``cartesianT`` with a NaN invalid value).
* livox_ros_driver2: x y z intensity f4, tag u1, line u1; point_step 18 (unaligned), shown big-endian here.
* HesaiLidar_ROS_2.0: x y z intensity f4, ring u2, timestamp f8 at offset 18 (unaligned); point_step 26.
* x, y, z as float64 (big- and little-endian), with +-Inf no-returns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from mono_depth_ros.adapters.messages import decode_scan
from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.scale.lidar import LidarScan, project_scan
from mono_depth_ros.core.scale.recovery import ScaleRecovery
from mono_depth_ros.core.scale.result import Health, ScaleMode
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.data.kitti_files import load_object_calibration, load_velodyne

from ..core.ros_msg_support import rosbags_factory
from ..core.test_msg_pointcloud2 import wire_cloud

TRUE_SCALE = 3.0
Kitti = tuple[npt.NDArray[np.float32], RigidTransform, PinholeIntrinsics, npt.NDArray[np.float32]]


def _layout(names: list[str], formats: list[str], offsets: list[int], itemsize: int, order: str) -> np.dtype:
    return np.dtype({"names": names, "formats": [order + f for f in formats], "offsets": offsets, "itemsize": itemsize})


def _velodyne(order: str) -> np.dtype:
    names = ["x", "y", "z", "intensity", "ring", "time"]
    return _layout(names, ["f4"] * 4 + ["u2", "f4"], [0, 4, 8, 16, 20, 24], 32, order)


def _ouster(order: str) -> np.dtype:
    names = ["x", "y", "z", "intensity", "t", "reflectivity", "ring", "ambient", "range"]
    formats = ["f4"] * 4 + ["u4", "u2", "u2", "u2", "u4"]
    return _layout(names, formats, [0, 4, 8, 16, 20, 24, 26, 28, 32], 48, order)


def _livox(order: str) -> np.dtype:
    names = ["x", "y", "z", "intensity", "tag", "line"]
    return _layout(names, ["f4"] * 4 + ["u1", "u1"], [0, 4, 8, 12, 16, 17], 18, order)


def _hesai(order: str) -> np.dtype:
    """HesaiLidar_ROS_2.0 PointXYZIRT: a float64 timestamp at offset 18, unaligned; point_step 26."""
    names = ["x", "y", "z", "intensity", "ring", "timestamp"]
    return _layout(names, ["f4"] * 4 + ["u2", "f8"], [0, 4, 8, 12, 16, 18], 26, order)


def _hesai_f64(order: str) -> np.dtype:
    names = ["x", "y", "z", "intensity", "timestamp", "ring"]
    return _layout(names, ["f8", "f8", "f8", "f4", "f8", "u2"], [0, 8, 16, 24, 28, 36], 40, order)


def _fill(
    dtype: np.dtype, xyz: npt.NDArray[np.float32], shape: tuple[int, int], invalid: float
) -> npt.NDArray[np.void]:
    """``shape`` points of ``dtype``: the scan first, then no-returns at ``(invalid,) * 3``; other fields non-zero."""
    points = np.zeros(shape[0] * shape[1], dtype=dtype)
    for axis in "xyz":
        points[axis] = invalid
    for i, axis in enumerate("xyz"):
        points[axis][: xyz.shape[0]] = xyz[:, i]
    for name in dtype.names or ():
        if name not in ("x", "y", "z"):
            points[name] = 7
    return points.reshape(shape)


@pytest.fixture(scope="module")
def kitti(kitti_object_dir: Path) -> Kitti:
    """Scan (N, 3), cam_from_velo, prediction intrinsics (1/3 size) and a prediction = true depth / TRUE_SCALE."""
    calib = load_object_calibration(kitti_object_dir / "calib" / "000000.txt", 1242, 375)
    intrinsics = calib.intrinsics.resized(414, 125)
    xyz = load_velodyne(kitti_object_dir / "velodyne" / "000000.bin")[:, :3]
    depth = project_scan(LidarScan(xyz, calib.cam_from_velo, 0), intrinsics).to_image(intrinsics)
    prediction = (np.where(np.isfinite(depth), depth, 20.0) / TRUE_SCALE).astype(np.float32)
    return xyz, calib.cam_from_velo, intrinsics, prediction


def _scale(points: npt.NDArray[np.floating], kitti: Kitti) -> tuple[float, int]:
    _, cam_from_velo, intrinsics, prediction = kitti
    result = ScaleRecovery().update(
        prediction, OutputKind.DEPTH_UP_TO_SCALE, 0, intrinsics, LidarScan(points, cam_from_velo, 0)
    )
    assert (result.mode, result.health) == (ScaleMode.LIDAR, Health.OK), result.reason
    assert result.projection is not None
    return result.scale, result.projection.n_kept


@pytest.mark.parametrize(
    ("layout", "order", "rows", "invalid", "row_pad"),
    [
        (_velodyne, "<", 64, np.nan, 0),
        (_velodyne, ">", 1, np.nan, 12),
        (_ouster, "<", 64, 0.0, 0),
        (_ouster, "<", 64, np.nan, 16),
        (_livox, ">", 1, 0.0, 5),
        (_hesai, "<", 1, np.nan, 0),
        (_hesai_f64, "<", 1, np.inf, 0),
        (_hesai_f64, ">", 8, -np.inf, 3),
    ],
    ids=[
        "velodyne-organized-nan",
        "velodyne-big-endian",
        "ouster-zeros",
        "ouster-nan",
        "livox-18-big",
        "hesai-26",
        "xyz-f64",
        "xyz-f64-big-organized",
    ],
)
def test_driver_layouts_give_the_scale_of_the_raw_points(
    layout: object, order: str, rows: int, invalid: float, row_pad: int, kitti: Kitti
) -> None:
    xyz = kitti[0]
    columns = -(-(xyz.shape[0] + 500) // rows)  # room for >= 500 no-returns
    points = _fill(layout(order), xyz, (rows, columns), invalid)  # type: ignore[operator]
    msg = wire_cloud(rosbags_factory("jazzy"), points, rows, columns, row_pad=row_pad, big_endian=order == ">")
    scan = decode_scan(msg)
    np.testing.assert_array_equal(scan.points_in_lidar, xyz)  # every no-return dropped, nothing else
    assert _scale(scan.points_in_lidar, kitti) == pytest.approx(_scale(xyz, kitti))
    scale, kept = _scale(scan.points_in_lidar, kitti)
    assert scale == pytest.approx(TRUE_SCALE, rel=1e-6) and kept > 10_000
