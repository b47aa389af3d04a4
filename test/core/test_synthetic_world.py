from __future__ import annotations

import numpy as np
import pytest

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.geometry import RigidTransform, zbuffer_depth
from mono_depth_ros.core.raycast import Walls
from mono_depth_ros.core.synthetic import SensorRig, drive_poses, kitti_like_intrinsics, vehicle_pose
from mono_depth_ros.core.synthetic_scene import Scene
from mono_depth_ros.core.synthetic_world import SurfaceKind, SyntheticWorld

INTR = PinholeIntrinsics(200.0, 190.0, 161.3, 45.2, width=320, height=96)
LEVEL = SensorRig(camera_height_m=1.5, camera_pitch_rad=0.0)


def _level_camera(x_m: float = 0.0) -> RigidTransform:
    return vehicle_pose(x_m, 0.0, 0.0) @ LEVEL.base_from_cam


@pytest.fixture(scope="module")
def street() -> SyntheticWorld:
    return SyntheticWorld(11, length_m=120.0)


def test_wall_at_5_m_has_depth_5_wherever_visible() -> None:
    wall = Walls([[5.0, -20.0]], [[5.0, 20.0]], [0.0], [3.0])
    frame = SyntheticWorld(0, scene=Scene(walls=wall, ground=False)).render(_level_camera(), INTR)
    finite = np.isfinite(frame.depth_m)
    np.testing.assert_allclose(frame.depth_m[finite], 5.0, rtol=1e-6)
    # Rows whose ray meets x = 5 between z = 0 and z = 3 (camera at 1.5 m): |v - cy| <= 1.5 fy / 5.
    rows = np.abs(np.arange(INTR.height) - INTR.cy) <= 1.5 * INTR.fy / 5.0
    np.testing.assert_array_equal(finite.any(axis=1), rows)
    assert finite[rows].all()  # 40 m wide: fills every column
    assert np.isposinf(frame.depth_m[~finite]).all()  # sky is +inf, never NaN


def test_ground_depth_of_a_level_camera_is_h_fy_over_v_minus_cy() -> None:
    frame = SyntheticWorld(0, scene=Scene()).render(_level_camera(), INTR, max_depth_m=1e6)
    v = np.arange(INTR.height, dtype=np.float64)
    expected = np.where(v > INTR.cy, 1.5 * INTR.fy / (v - INTR.cy), np.inf)
    np.testing.assert_allclose(frame.depth_m, np.broadcast_to(expected[:, None], frame.depth_m.shape), rtol=1e-5)
    assert frame.depth_m.dtype == np.float32


def test_max_depth_turns_far_ground_into_inf_but_keeps_its_colour() -> None:
    near = SyntheticWorld(0, scene=Scene()).render(_level_camera(), INTR, max_depth_m=20.0)
    v_far = int(np.ceil(INTR.cy + 1.5 * INTR.fy / 20.0)) - 2  # ground farther than 20 m
    assert np.isposinf(near.depth_m[v_far]).all()
    sky = near.rgb[0].astype(int)
    assert np.abs(near.rgb[v_far].astype(int) - sky).sum(axis=1).min() > 30  # still ground-coloured, not sky
    with pytest.raises(ConfigError, match="max_depth_m"):
        SyntheticWorld(0, scene=Scene()).render(_level_camera(), INTR, max_depth_m=0.0)


def test_render_matches_all_rays_against_all_primitives(street: SyntheticWorld) -> None:
    # The renderer only tests each primitive inside its projected box; that must not change the answer.
    world_from_cam = drive_poses(street.road, 3, 10.0, 1.0)[2] @ SensorRig().base_from_cam
    frame = street.render(world_from_cam, INTR, max_depth_m=1e4)
    rays = np.stack(
        np.meshgrid((np.arange(INTR.width) - INTR.cx) / INTR.fx, (np.arange(INTR.height) - INTR.cy) / INTR.fy), -1
    )
    dirs_in_cam = np.concatenate([rays, np.ones((*rays.shape[:2], 1))], -1).reshape(-1, 3).astype(np.float32)
    dirs_in_world = dirs_in_cam @ world_from_cam.rotation.astype(np.float32).T
    hits = street.cast_rays(world_from_cam.translation, dirs_in_world)
    np.testing.assert_allclose(frame.depth_m.reshape(-1), hits.t, rtol=1e-6)
    kinds = set(np.unique(hits.kind).tolist())
    assert {SurfaceKind.NONE, SurfaceKind.GROUND, SurfaceKind.WALL, SurfaceKind.BOX} <= kinds


def test_lidar_points_agree_with_rendered_depth(street: SyntheticWorld) -> None:
    rig = SensorRig()
    intr = kitti_like_intrinsics(640, 192)
    world_from_base = drive_poses(street.road, 2, 15.0, 1.0)[1]
    frame = street.render(world_from_base @ rig.base_from_cam, intr)
    scan = street.lidar_scan(world_from_base @ rig.base_from_lidar, beams=32, azimuth_step_deg=0.1)
    sparse, _ = zbuffer_depth(rig.cam_from_lidar.apply(scan.points_in_lidar), intr)
    depth = frame.depth_m
    padded = np.pad(depth, 1, constant_values=np.inf)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3))
    smooth = np.isfinite(windows).all(axis=(-1, -2)) & (windows.max(axis=(-1, -2)) <= 1.02 * windows.min(axis=(-1, -2)))
    compare = np.isfinite(sparse) & smooth  # exclude depth edges and sky
    assert compare.sum() > 1000
    relative = np.abs(sparse[compare] - depth[compare]) / depth[compare]
    assert np.median(relative) < 0.005
    assert np.percentile(relative, 98) < 0.02


def test_lidar_rings_sky_and_ground_height() -> None:
    world = SyntheticWorld(0, scene=Scene())
    world_from_lidar = RigidTransform(np.eye(3), np.array([0.0, 0.0, 1.8]), "map", "lidar")
    scan = world.lidar_scan(world_from_lidar, vertical_fov_deg=(-15.0, 15.0), azimuth_step_deg=1.0, max_range_m=1e3)
    assert scan.points_in_lidar.dtype == np.float32 and scan.ring.dtype == np.uint16
    # Elevations -15..15 in 2 degree steps: the 8 downward beams hit the ground, the upward ones see sky.
    assert sorted(set(scan.ring.tolist())) == list(range(8))
    assert len(scan.points_in_lidar) == 8 * 360
    np.testing.assert_allclose(scan.points_in_lidar[:, 2], -1.8, atol=1e-5)
    ranges = np.linalg.norm(scan.points_in_lidar, axis=1)
    np.testing.assert_allclose(ranges[scan.ring == 0], 1.8 / np.sin(np.radians(15.0)), rtol=1e-5)
    assert np.all((scan.intensity >= 0) & (scan.intensity <= 1))


def test_generated_street_scan_has_every_ring_and_respects_range(street: SyntheticWorld) -> None:
    world_from_lidar = drive_poses(street.road, 1, 0.0, 1.0)[0] @ SensorRig().base_from_lidar
    scan = street.lidar_scan(world_from_lidar, beams=16, azimuth_step_deg=0.5, min_range_m=1.0, max_range_m=40.0)
    assert sorted(set(scan.ring.tolist())) == list(range(16))
    ranges = np.linalg.norm(scan.points_in_lidar, axis=1)
    assert ranges.min() >= 1.0 - 1e-4 and ranges.max() <= 40.0 + 1e-4
    noisy = street.lidar_scan(world_from_lidar, beams=16, azimuth_step_deg=0.5, range_noise_m=0.05,
                              rng=np.random.default_rng(0))  # fmt: skip
    assert 0.0 < np.abs(np.linalg.norm(noisy.points_in_lidar[:100], axis=1) - ranges[:100]).max() < 0.5


def test_bad_lidar_settings_are_rejected() -> None:
    world = SyntheticWorld(0, scene=Scene())
    pose = RigidTransform.identity("map", "lidar")
    for kwargs in ({"beams": 0}, {"vertical_fov_deg": (10.0, -10.0)}, {"azimuth_step_deg": 0.0}, {"max_range_m": 0.1}):
        with pytest.raises(ConfigError, match="invalid LiDAR"):
            world.lidar_scan(pose, **kwargs)  # type: ignore[arg-type]


def test_worlds_are_deterministic_from_the_seed() -> None:
    pose = _level_camera(3.0)
    a = SyntheticWorld(5, length_m=60.0).render(pose, INTR)
    b = SyntheticWorld(5, length_m=60.0).render(pose, INTR)
    c = SyntheticWorld(6, length_m=60.0).render(pose, INTR)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth_m, b.depth_m)
    assert not np.array_equal(a.rgb, c.rgb)
    assert a.rgb.dtype == np.uint8 and a.rgb.shape == (96, 320, 3)
    with pytest.raises(ConfigError, match="length_m"):
        SyntheticWorld(0, length_m=0.0)


def test_rgb_is_textured_for_photometric_losses(street: SyntheticWorld) -> None:
    frame = street.render(drive_poses(street.road, 1, 0.0, 1.0)[0] @ SensorRig().base_from_cam, INTR)
    road_patch = frame.rgb[-20:, 140:180].astype(np.float32).mean(axis=2)
    assert road_patch.std() > 2.0  # asphalt grain, not a flat colour
    assert np.abs(np.diff(road_patch, axis=1)).mean() > 0.5
