from __future__ import annotations

import doctest
import itertools
import math

import numpy as np
import pytest

from mono_depth_ros.core import synthetic
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.geometry import backproject_depth, zbuffer_depth
from mono_depth_ros.core.synthetic import (
    FRAME_CAMERA,
    FRAME_LIDAR,
    FRAME_WORLD,
    SensorRig,
    SequenceFrame,
    drive_poses,
    iter_sequence,
    kitti_like_intrinsics,
    make_sequence,
)
from mono_depth_ros.core.synthetic_scene import RoadCurve

INTR = kitti_like_intrinsics(256, 80)


@pytest.fixture(scope="module")
def sequence() -> list[SequenceFrame]:
    return make_sequence(seed=2, n_frames=4, intrinsics=INTR, beams=16, azimuth_step_deg=0.4)


def test_frames_carry_stamps_shapes_and_frames(sequence: list[SequenceFrame]) -> None:
    assert [f.index for f in sequence] == [0, 1, 2, 3]
    assert np.all(np.diff([f.stamp_ns for f in sequence]) == 100_000_000)
    assert all(isinstance(f.stamp_ns, int) for f in sequence)
    for f in sequence:
        assert f.rgb.shape == (80, 256, 3) and f.rgb.dtype == np.uint8
        assert f.depth_m.shape == (80, 256) and f.depth_m.dtype == np.float32
        assert not np.isnan(f.depth_m).any() and np.all(f.depth_m > 0)
        assert f.points_in_lidar.dtype == np.float32 and f.points_in_lidar.shape[1] == 3
        assert f.lidar_ring.shape == f.lidar_intensity.shape == (len(f.points_in_lidar),)
        assert sorted(set(f.lidar_ring.tolist())) == list(range(16))  # ring count equals beams
        assert (f.world_from_cam.dst_frame, f.world_from_cam.src_frame) == (FRAME_WORLD, FRAME_CAMERA)
        assert (f.cam_from_lidar.dst_frame, f.cam_from_lidar.src_frame) == (FRAME_CAMERA, FRAME_LIDAR)


def test_camera_moves_forward_at_the_set_speed(sequence: list[SequenceFrame]) -> None:
    for previous, current in itertools.pairwise(sequence):
        prev_from_cur = previous.world_from_cam.inverse() @ current.world_from_cam
        step = prev_from_cur.translation
        assert step[2] > 0.75  # optical z is forward: 8 m/s at 10 Hz = 0.8 m
        assert abs(step[0]) < 0.1  # gentle turns
        assert step[1] == pytest.approx(-np.linalg.norm(step) * math.sin(0.05), abs=1e-3)  # level drive, pitched camera
        base_step = np.linalg.norm(current.world_from_base.translation - previous.world_from_base.translation)
        assert base_step == pytest.approx(0.8, rel=1e-3)
        angle = math.degrees(math.acos(np.clip((np.trace(prev_from_cur.rotation) - 1) / 2, -1, 1)))
        assert angle < 2.0


def test_camera_height_and_pitch_are_as_mounted(sequence: list[SequenceFrame]) -> None:
    for f in sequence:
        assert f.world_from_cam.translation[2] == pytest.approx(1.5)
        optical_axis_in_world = f.world_from_cam.rotation[:, 2]
        assert optical_axis_in_world[2] == pytest.approx(-math.sin(0.05))  # pitched down 0.05 rad
        np.testing.assert_allclose(f.world_from_cam.matrix, (f.world_from_base @ SensorRig().base_from_cam).matrix)


def test_bottom_centre_pixels_back_project_onto_the_ground(sequence: list[SequenceFrame]) -> None:
    for f in sequence:
        points_in_cam = backproject_depth(f.depth_m, f.intrinsics)[-5:, 100:156].reshape(-1, 3)
        points_in_world = f.world_from_cam.apply(points_in_cam)
        np.testing.assert_allclose(points_in_world[:, 2], 0.0, atol=1e-4)


def test_lidar_of_one_frame_lands_on_the_depth_of_the_next(sequence: list[SequenceFrame]) -> None:
    # Static world + exact poses: frame k's LiDAR points, moved into frame k+1's camera, match its depth.
    for previous, current in itertools.pairwise(sequence):
        cur_from_lidar_prev = current.world_from_cam.inverse() @ previous.world_from_cam @ previous.cam_from_lidar
        sparse, _ = zbuffer_depth(cur_from_lidar_prev.apply(previous.points_in_lidar), INTR)
        both = np.isfinite(sparse) & np.isfinite(current.depth_m)
        relative = np.abs(sparse[both] - current.depth_m[both]) / current.depth_m[both]
        assert both.sum() > 300 and np.median(relative) < 0.01


def test_rig_extrinsic_for_a_level_camera() -> None:
    rig = SensorRig(camera_height_m=1.6, camera_pitch_rad=0.0, lidar_offset_m=(-0.3, 0.1, 0.3))
    # LiDAR 0.3 m behind, 0.1 m left of and 0.3 m above the camera: optical x right, y down, z forward.
    np.testing.assert_allclose(rig.cam_from_lidar.translation, [-0.1, -0.3, -0.3], atol=1e-12)
    np.testing.assert_allclose(rig.cam_from_lidar.apply(np.array([1.0, 0.0, 0.0])), [-0.1, -0.3, 0.7], atol=1e-12)
    with pytest.raises(ConfigError, match="camera_height_m"):
        SensorRig(camera_height_m=0.0)


def test_drive_poses_follow_the_road_at_constant_path_speed() -> None:
    straight = drive_poses(None, 3, 5.0, 2.0)
    np.testing.assert_allclose([p.translation[0] for p in straight], [0.0, 2.5, 5.0])
    road = RoadCurve.random(np.random.default_rng(0))
    poses = drive_poses(road, 200, 10.0, 10.0)
    xy = np.array([p.translation[:2] for p in poses])
    np.testing.assert_allclose(np.linalg.norm(np.diff(xy, axis=0), axis=1), 1.0, rtol=1e-3)
    np.testing.assert_allclose(road.lateral_offset(xy[:, 0], xy[:, 1]), -1.75, atol=0.05)
    with pytest.raises(ConfigError, match="n_frames"):
        drive_poses(road, 0, 1.0, 1.0)


def test_sequences_are_deterministic_and_iterable_lazily() -> None:
    kwargs = {"intrinsics": kitti_like_intrinsics(64, 24), "beams": 4, "azimuth_step_deg": 2.0, "range_noise_m": 0.02}
    a = make_sequence(4, 2, **kwargs)  # type: ignore[arg-type]
    b = list(iter_sequence(4, 2, **kwargs))  # type: ignore[arg-type]
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa.rgb, fb.rgb)
        np.testing.assert_array_equal(fa.points_in_lidar, fb.points_in_lidar)
    c = make_sequence(5, 2, **kwargs)  # type: ignore[arg-type]
    assert not np.array_equal(a[0].rgb, c[0].rgb)


def test_kitti_like_intrinsics_are_off_centre() -> None:
    intr = kitti_like_intrinsics(1242, 375)
    assert intr.fx == pytest.approx(720.36) and intr.fx == intr.fy
    assert intr.cx != (intr.width - 1) / 2 and intr.cy != (intr.height - 1) / 2


def test_module_docstring_example_runs() -> None:
    assert doctest.testmod(synthetic, raise_on_error=True).failed == 0
