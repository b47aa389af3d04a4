"""The Nav2 layer models (test/nav2_costmap.py) against behaviours read in navigation2's humble / jazzy source."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from test.nav2_costmap import ObstacleLayer, Source, VoxelLayer, bresenham, points_from_scan

CLEAR = Source(marking=False, clearing=True, min_obstacle_height=-1.0, max_obstacle_height=20.0)
MARK = Source(marking=True, clearing=False, min_obstacle_height=0.0, max_obstacle_height=2.0)


def _voxel(camera_height_m: float = 1.0) -> VoxelLayer:
    """The example's grid: 16 voxels of 0.1 m from the floor; the window not aligned on the camera."""
    layer = VoxelLayer(camera_height_m, max_obstacle_height=1.6, origin_z=0.0, z_resolution=0.1, z_voxels=16)
    layer.origin_m += 0.013
    return layer


def test_bresenham_visits_every_step_and_the_end_cell() -> None:
    line, cells = bresenham(np.array([[0, 0]]), np.array([[4, 2]]), np.array([4]))
    assert line.tolist() == [0] * 5  # bresenham2D: `end` cells in the loop, then at(offset) once more
    assert cells.tolist() == [[0, 0], [1, 1], [2, 1], [3, 2], [4, 2]]  # error starts at abs_da / 2
    _, cut = bresenham(np.array([[5, 5, 3]]), np.array([[-2, 0, 6]]), np.array([3]))  # z dominant, cut short
    assert cut.tolist() == [[5, 5, 3], [5, 5, 4], [4, 5, 5], [4, 5, 6]]


def test_a_voxel_column_clears_only_where_a_ray_crosses_it() -> None:
    layer = _voxel()
    layer.update([(MARK, np.array([[2.0, 0.0, 0.35], [2.0, 0.0, 0.45], [2.0, 0.0, 1.02]]))])
    assert layer.marked_in((1.9, 2.1), (-0.05, 0.05)) == 1
    layer.update([(CLEAR, np.array([[4.0, 0.0, 1.02]]))])  # a scan ray at the camera's height
    assert layer.voxels.sum() == 2 and layer.marked_in((1.9, 2.1), (-0.05, 0.05)) == 1  # held by the low voxels
    layer.update([(CLEAR, np.array([[4.0, 0.0, -0.3]]))])  # down through (2.0, 0.35) to the floor
    # the line runs from the sensor's voxel corner, not the sensor: it crosses x = 2 m in the voxel above 0.35 m
    assert layer.voxels.sum() == 1 and layer.marked_in((1.9, 2.1), (-0.05, 0.05)) == 1
    layer.update([(CLEAR, np.array([[4.0, 0.0, -0.5]]))])
    assert layer.voxels.sum() == 0 and layer.marked_in((1.9, 2.1), (-0.05, 0.05)) == 0
    flat = ObstacleLayer(1.0)  # a 2-D layer has no heights: the scan ray alone clears it
    flat.update([(MARK, np.array([[2.0, 0.0, 0.35]]))])
    flat.update([(CLEAR, np.array([[4.0, 0.0, 1.02]]))])
    assert flat.marked.sum() == 0


def test_voxel_rays_stop_two_cells_short_and_at_the_grid_top() -> None:
    layer = _voxel()
    layer.update([(MARK, np.array([[2.03, 0.0, 1.02]]))])  # the cell from 2.013 to 2.063 m
    layer.update([(CLEAR, np.array([[2.1, 0.0, 1.02]]))])  # pulled back 0.1 m: ends in the cell before
    assert layer.marked.sum() == 1
    layer.update([(CLEAR, np.array([[2.25, 0.0, 1.02]]))])
    assert layer.marked.sum() == 0
    layer.update([(MARK, np.array([[1.0, 0.0, 1.5]]))])  # 0.5 m above the camera, 1 m ahead
    layer.update([(CLEAR, np.array([[1.6, 0.0, 1.8]]))])  # the ray leaves the grid (1.55 m) after it
    assert layer.marked.sum() == 0
    high = _voxel(camera_height_m=1.7)  # above origin_z + z_voxels * z_resolution: nothing is raytraced
    high.update([(MARK, np.array([[2.0, 0.0, 1.02]]))])
    high.update([(CLEAR, np.array([[4.0, 0.0, 0.5]]))])
    assert high.marked.sum() == 1 and not high.raytraced


def test_heights_and_ranges_of_marking() -> None:
    source = Source(marking=True, clearing=False, min_obstacle_height=0.1, obstacle_min_range=0.3)
    for layer in (_voxel(), ObstacleLayer(1.0)):
        points = np.array([[2.0, 0.0, 0.05], [2.0, 0.5, np.nan], [0.2, 0.0, 1.0], [4.5, 0.0, 1.0], [2.0, -0.5, 1.0]])
        layer.update([(source, points)])  # below the band, NaN, too close, too far: only the last one marks
        assert layer.marked.sum() == 1 and layer.marked_in((1.9, 2.1), (-0.6, -0.4)) == 1
    voxel = _voxel()
    voxel.update([(MARK, np.array([[2.0, 0.0, 1.7]]))])  # within the source's band, above the layer's 1.6 m
    assert voxel.marked.sum() == 0


def test_a_scan_becomes_points_as_laser_geometry_and_inf_is_valid_make_them() -> None:
    scan = SimpleNamespace(
        ranges=[2.0, np.inf, -np.inf, np.nan, 8.0, 0.05],
        angle_min=-0.5,
        angle_increment=0.2,
        range_min=0.1,
        range_max=8.0,
    )
    plain = points_from_scan(scan, 1.0, inf_is_valid=False)
    assert len(plain) == 1  # range == range_max and range < range_min are not returns
    np.testing.assert_allclose(plain[0], [2.0 * np.cos(-0.5), 2.0 * np.sin(-0.5), 1.0])
    valid_inf = points_from_scan(scan, 1.0, inf_is_valid=True)
    assert len(valid_inf) == 2
    np.testing.assert_allclose(np.hypot(valid_inf[1, 0], valid_inf[1, 1]), 8.0 - 0.0001, atol=1e-6)
