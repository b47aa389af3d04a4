"""/depth/points equals what depth_image_proc's point_cloud_xyz(rgb) builds from /depth/image + /depth/camera_info.

The reference below is written from image_pipeline's depth_image_proc ``conversions.hpp`` (convertDepth, convertRgb)
and ``point_cloud_xyzrgb.cpp``, not from our cloud code: geometry from P (``image_geometry`` fx = P[0], fy = P[5],
cx = P[2], cy = P[6]), float32 arithmetic ``(u - center_x) * depth * constant_x`` with ``constant_x = 1 / fx``
(float), NaN for non-finite depth, organized H × W, is_dense false, rgb bytes r/g/b at +2/+1/+0 of the rgb field.
Our path precomputes ``(u - cx) / fx`` per column, so x and y may differ from it by float32 rounding only.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mono_depth_ros.cli import main
from test.bag.support import read_bag
from test.kitti_bag import load_kitti_frames, write_kitti_bag

# depth_image_proc rounds cx and 1/fx to float32 and multiplies in another order: x, y agree to a few float32 ulps
# of the operands, i.e. within 10 micrometres at KITTI ranges; z is bit-identical.
FLOAT32_RTOL, XY_ATOL_M = 4e-7, 1e-5


def depth_image_proc_xyz(depth_msg: Any, info_msg: Any) -> np.ndarray:
    """(H, W, 3) float32 points exactly as depth_image_proc::convertDepth computes them (32FC1 input)."""
    assert depth_msg.encoding == "32FC1"
    depth = np.frombuffer(bytes(depth_msg.data), dtype="<f4").reshape(depth_msg.height, depth_msg.step // 4)
    depth = depth[:, : depth_msg.width]
    p = np.asarray(info_msg.p, dtype=np.float64)
    center_x, center_y = np.float32(p[2]), np.float32(p[6])
    constant_x, constant_y = np.float32(1.0 / p[0]), np.float32(1.0 / p[5])
    u = np.arange(depth_msg.width, dtype=np.float32)[None, :]
    v = np.arange(depth_msg.height, dtype=np.float32)[:, None]
    with np.errstate(invalid="ignore"):
        x = (u - center_x) * depth * constant_x
        y = (v - center_y) * depth * constant_y
    z = depth.copy()
    bad = ~np.isfinite(depth)
    for a in (x, y, z):
        a[bad] = np.nan
    return np.stack([x, y, z], axis=-1).astype(np.float32)


def read_cloud_bytes(cloud_msg: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode x, y, z (and rgb bytes) with struct, from the offsets the message declares."""
    offsets = {f.name: f.offset for f in cloud_msg.fields}
    raw = bytes(cloud_msg.data)
    n = cloud_msg.width * cloud_msg.height
    xyz = np.empty((n, 3), dtype=np.float32)
    rgb = np.empty((n, 3), dtype=np.uint8) if "rgb" in offsets else None
    for i in range(n):
        base = i * cloud_msg.point_step
        xyz[i] = struct.unpack_from("<3f", raw, base + offsets["x"])
        if rgb is not None:
            b, g, r, alpha = struct.unpack_from("<4B", raw, base + offsets["rgb"])
            assert alpha == 0
            rgb[i] = (r, g, b)
    return xyz.reshape(cloud_msg.height, cloud_msg.width, 3), (
        None if rgb is None else rgb.reshape(cloud_msg.height, cloud_msg.width, 3)
    )


@pytest.mark.parametrize("with_rgb", [False, True])
def test_points_equal_depth_image_proc(tmp_path: Path, kitti_object_dir: Path, with_rgb: bool) -> None:
    frames = load_kitti_frames(kitti_object_dir)[1:2]
    write_kitti_bag(tmp_path / "in", frames, prediction="relative_inverse")
    args = ["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet"]
    params = ["model.backend=external", "model.output_kind=relative_inverse", "lidar_topic=/lidar/points"]
    params += [
        "prediction_topic=/depth_model/prediction",
        "output.max_range=60.0",
        f"cloud.rgb={str(with_rgb).lower()}",
    ]
    for param in params:
        args += ["--param", param]
    assert main(args) == 0
    out = read_bag(tmp_path / "out")
    (_, depth_msg), (_, info_msg), (_, cloud_msg) = (
        out["/depth/image"][0],
        out["/depth/camera_info"][0],
        out["/depth/points"][0],
    )
    assert (cloud_msg.height, cloud_msg.width) == (depth_msg.height, depth_msg.width)
    assert cloud_msg.is_dense is False and cloud_msg.header.stamp == depth_msg.header.stamp
    assert cloud_msg.header.frame_id == depth_msg.header.frame_id == info_msg.header.frame_id
    expected = depth_image_proc_xyz(depth_msg, info_msg)
    got, rgb = read_cloud_bytes(cloud_msg)
    # the depth image holds +Inf beyond output.max_range (REP 117); depth_image_proc turns those into NaN, as we do
    depth = np.frombuffer(bytes(depth_msg.data), dtype="<f4").reshape(depth_msg.height, depth_msg.width)
    assert np.isposinf(depth).any() and np.isfinite(depth).sum() > 100_000
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_array_equal(got[..., 2], expected[..., 2])
    np.testing.assert_allclose(got, expected, rtol=FLOAT32_RTOL, atol=XY_ATOL_M)
    if with_rgb:
        assert rgb is not None
        np.testing.assert_array_equal(rgb, frames[0].rgb)  # point_cloud_xyzrgb copies the colour image's pixels
