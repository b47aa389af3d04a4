from __future__ import annotations

import math

import numpy as np
import pytest

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.raycast import Boxes
from mono_depth_ros.core.synthetic_scene import RoadCurve, Scene, generate_scene


def test_random_roads_turn_gently_and_are_reproducible() -> None:
    x = np.linspace(0, 2000, 20001)
    for seed in range(10):
        road = RoadCurve.random(np.random.default_rng(seed))
        assert np.max(np.abs(road.heading(x))) <= math.radians(15.0) + 1e-9
        assert np.ptp(road.center_y(x)) > 1.0  # it does turn
        assert road == RoadCurve.random(np.random.default_rng(seed))


def test_slope_is_the_derivative_of_the_centreline() -> None:
    road = RoadCurve.random(np.random.default_rng(3))
    x = np.linspace(-50, 500, 1000)
    numeric = (road.center_y(x + 1e-4) - road.center_y(x - 1e-4)) / 2e-4
    np.testing.assert_allclose(road.slope(x), numeric, atol=1e-6)


def test_point_at_and_lateral_offset_agree() -> None:
    road = RoadCurve.random(np.random.default_rng(5))
    x = np.linspace(0, 400, 200)
    for lateral in (-1.75, 3.5, -8.0):
        xy = road.point_at(x, np.full(x.shape, lateral))
        back = road.lateral_offset(xy[:, 0], xy[:, 1])
        np.testing.assert_allclose(back, lateral, atol=0.02 * abs(lateral))  # first-order in the curvature
    straight = RoadCurve()
    np.testing.assert_allclose(straight.lateral_offset([1.0, 2.0], [0.5, -3.0]), [0.5, -3.0])


def test_road_rejects_mismatched_terms() -> None:
    with pytest.raises(ConfigError, match="as many"):
        RoadCurve(amplitudes_m=(1.0,), wavelengths_m=(), phases_rad=())
    with pytest.raises(ConfigError, match="wavelengths"):
        RoadCurve(amplitudes_m=(1.0,), wavelengths_m=(0.0,), phases_rad=(0.0,))


def test_scene_defaults_and_albedo_checks() -> None:
    scene = Scene(boxes=Boxes([[0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0]]))
    assert len(scene.walls) == 0 and len(scene.cylinders) == 0 and scene.ground
    np.testing.assert_allclose(scene.box_albedo, [[0.6, 0.6, 0.6]])
    with pytest.raises(ShapeError, match="box_albedo"):
        Scene(boxes=Boxes([[0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0]]), box_albedo=np.array([[2.0, 0.0, 0.0]]))


def test_generated_scene_is_deterministic_and_populated() -> None:
    road = RoadCurve.random(np.random.default_rng(1))
    a = generate_scene(np.random.default_rng(2), road, 0.0, 300.0)
    b = generate_scene(np.random.default_rng(2), road, 0.0, 300.0)
    np.testing.assert_array_equal(a.boxes.min_xyz, b.boxes.min_xyz)
    np.testing.assert_array_equal(a.walls.start_xy, b.walls.start_xy)
    assert len(a.walls) >= 20 and len(a.boxes) >= 20 and len(a.cylinders) >= 10
    assert a.wall_albedo.shape == (len(a.walls), 3) and a.road is road


def test_the_driving_lane_is_kept_clear() -> None:
    road = RoadCurve.random(np.random.default_rng(4))
    scene = generate_scene(np.random.default_rng(4), road, 0.0, 400.0)
    x = np.arange(0.0, 400.0, 0.25)
    for lateral in (-2.6, -1.75, -0.9):  # the ego lane, with a vehicle half-width either side
        path = np.column_stack([road.point_at(x, np.full(x.shape, lateral)), np.full(x.shape, 1.0)])
        for prims in (scene.boxes, scene.cylinders, scene.walls):
            lo, hi = prims.aabb()
            inside = np.all((path[:, None, :] > lo[None]) & (path[:, None, :] < hi[None]), axis=-1)
            assert not inside.any(), type(prims).__name__
