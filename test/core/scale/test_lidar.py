from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError, ShapeError, TransformError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.scale.lidar import (
    LidarScan,
    ProjectionConfig,
    ScratchBuffers,
    beam_gap_px,
    project_points_in_camera,
    project_scan,
)
from mono_depth_ros.core.scale.motion import CameraTwist
from mono_depth_ros.training.data.kitti_files import load_object_calibration, load_velodyne

INTR = PinholeIntrinsics(500.0, 500.0, 320.0, 240.0, width=640, height=480)
# LiDAR axes (x forward, y left, z up) -> camera optical axes (x right, y down, z forward), LiDAR 0.2 m above.
CAM_FROM_LIDAR = RigidTransform(
    np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), np.array([0.0, -0.2, 0.0]), "camera", "lidar"
)


def _grid_points(depth: float, x_range: tuple[float, float], y_range: tuple[float, float], step: float) -> np.ndarray:
    xs = np.arange(x_range[0], x_range[1], step)
    ys = np.arange(y_range[0], y_range[1], step)
    xx, yy = np.meshgrid(xs, ys)
    return np.stack([xx.ravel(), yy.ravel(), np.full(xx.size, depth)], axis=1)


def test_projection_matches_the_pinhole_model_and_drops_nan_zero_and_behind() -> None:
    points_in_camera = np.array(
        [[1.0, 0.5, 5.0], [np.nan, 0.0, 5.0], [0.0, 0.0, 0.0], [0.0, 0.0, -3.0], [100.0, 0.0, 1.0], [0.0, 0.0, 300.0]]
    )
    sparse = project_points_in_camera(points_in_camera, INTR, ProjectionConfig(occlusion_filter=False))
    assert sparse.index.tolist() == [0]
    assert (sparse.u[0], sparse.v[0]) == (320 + 100, 240 + 50)
    assert sparse.depth_m[0] == pytest.approx(5.0)
    assert sparse.stats.n_input == 6
    assert sparse.stats.n_valid == 2  # the first point and the 100 m-wide one (outside the image)
    assert sparse.stats.n_in_image == 1


def test_scan_projection_equals_transform_then_project() -> None:
    rng = np.random.default_rng(0)
    points_in_lidar = rng.uniform([-5, -20, -2], [60, 20, 3], size=(5000, 3)).astype(np.float32)
    points_in_lidar[:50] = 0.0  # "no return"
    points_in_lidar[50:60, 1] = np.nan
    config = ProjectionConfig(occlusion_filter=False)
    direct = project_scan(LidarScan(points_in_lidar, CAM_FROM_LIDAR, 0), INTR, config)
    reference = project_points_in_camera(CAM_FROM_LIDAR.apply(points_in_lidar.astype(np.float64)), INTR, config)
    reference_order = np.argsort(reference.index)
    direct_order = np.argsort(direct.index)
    assert direct.index[direct_order].tolist() == reference.index[reference_order].tolist()
    np.testing.assert_array_equal(direct.u[direct_order], reference.u[reference_order])
    np.testing.assert_array_equal(direct.v[direct_order], reference.v[reference_order])
    np.testing.assert_allclose(direct.depth_m[direct_order], reference.depth_m[reference_order], rtol=1e-5)
    assert not np.isin(np.arange(60), direct.index).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_return_points_are_dropped_when_the_lidar_origin_is_in_view(dtype: type) -> None:
    """A LiDAR 3 m in front of the camera (its origin in view): the all-zero rows, which compute as that origin, are
    dropped by the per-point test; a real return 1 cm from the origin is kept."""
    cam_from_lidar = RigidTransform(CAM_FROM_LIDAR.rotation, np.array([0.0, 0.0, 3.0]), "camera", "lidar")
    points = np.zeros((5, 3), dtype)
    points[3] = (0.01, 0.0, 0.0)
    sparse = project_scan(LidarScan(points, cam_from_lidar, 0), INTR, ProjectionConfig(occlusion_filter=False))
    assert sparse.index.tolist() == [3]
    assert sparse.stats.n_valid == 5 and sparse.stats.n_in_image == 1


def test_the_no_return_test_is_skipped_only_where_it_cannot_drop_a_point(
    kitti_object_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KITTI's LiDAR sits behind the camera: its origin (what an all-zero row computes as) is out of the depth
    range, so the per-point "no return" test is skipped, and running it anyway keeps the same points."""
    import mono_depth_ros.core.scale.lidar as lidar

    calib = load_object_calibration(kitti_object_dir / "calib" / "000001.txt", 1242, 375)
    points = np.asfortranarray(load_velodyne(kitti_object_dir / "velodyne" / "000001.bin")[:, :3])
    points[::97] = 0.0  # drivers' "no return" rows
    scan = LidarScan(points, calib.cam_from_velo, 0)
    rows = (calib.intrinsics.matrix @ calib.cam_from_velo.matrix[:3]).astype(np.float32)
    assert not lidar._origin_projects(rows, calib.intrinsics, ProjectionConfig())
    for intrinsics in (calib.intrinsics, calib.intrinsics.resized(414, 125)):
        skipped = project_scan(scan, intrinsics)
        monkeypatch.setattr(lidar, "_origin_projects", lambda *args: True)
        tested = project_scan(scan, intrinsics)
        monkeypatch.undo()
        assert skipped.stats == tested.stats and skipped.stats.n_kept > 10_000
        for name in ("u", "v", "depth_m", "index"):
            np.testing.assert_array_equal(getattr(skipped, name), getattr(tested, name))
        assert not np.isin(np.arange(0, points.shape[0], 97), skipped.index).any()


def test_zbuffer_keeps_the_nearest_point_per_pixel() -> None:
    points = np.array([[0.0, 0.0, 10.0], [0.0, 0.0, 4.0], [0.0, 0.0, 7.0]])
    sparse = project_points_in_camera(points, INTR, ProjectionConfig(occlusion_filter=False))
    assert sparse.index.tolist() == [1]
    assert sparse.stats.n_in_image == 3
    assert sparse.stats.n_zbuffer == 1
    image = sparse.to_image(INTR)
    assert image[240, 320] == pytest.approx(4.0)
    assert np.isnan(image).sum() == image.size - 1
    copies = project_points_in_camera(np.vstack([points, np.tile(points[1], (1000, 1))]), INTR)
    assert copies.stats.n_zbuffer == copies.stats.n_kept == 1 and copies.stats.n_in_image == 1003  # one per pixel
    assert copies.depth_m.tolist() == [4.0] and copies.index[0] in (1, *range(3, 1003))


def test_background_seen_between_foreground_scan_lines_is_removed() -> None:
    # A wall 5 m away scanned by lines 0.1 m apart; background points at 20 m project between its lines.
    wall = _grid_points(5.0, (-1.0, 1.0), (-1.0, 1.0), 0.1)
    background = _grid_points(20.0, (-3.0, 3.0), (-3.0, 3.0), 0.35)
    points = np.vstack([wall, background])
    sparse = project_points_in_camera(points, INTR, ProjectionConfig(window_deg=(0.6, 1.2)))
    kept = set(sparse.index.tolist())
    n_wall = wall.shape[0]
    assert set(range(n_wall)) <= kept  # the wall stays
    behind_wall = [
        n_wall + i for i, p in enumerate(background) if abs(p[0] / 20.0) < 0.95 / 5.0 and abs(p[1] / 20.0) < 0.95 / 5.0
    ]
    assert behind_wall and not kept & set(behind_wall)  # background inside the wall's silhouette is gone
    outside = [n_wall + i for i, p in enumerate(background) if abs(p[0] / 20.0) > 1.3 / 5.0]
    assert set(outside) <= kept  # background beside the wall stays
    stats = sparse.stats
    assert stats.n_occluded + (stats.n_in_image - stats.n_zbuffer) == len(behind_wall)  # some lost the z-buffer


def test_the_vertical_window_covers_the_scans_own_gap_between_beams() -> None:
    """Rings 0.33° apart (an HDL-64's upper block) keep the 0.6° window; 1.6° apart (a 16-beam LiDAR) widen it to
    1.5 gaps, capped at ``max_window_deg``; a scan too sparse to measure a gap keeps the window as set."""
    config = ProjectionConfig()
    for spacing_deg, expected_rows in ((0.33, 5), (1.6, 21)):
        elevations = np.radians(np.arange(-10.0, 0.0, spacing_deg))
        u, v = np.meshgrid(np.arange(100, 540, 2), np.rint(240 - 500 * np.tan(elevations)).astype(int))
        gap = beam_gap_px(u.ravel(), v.ravel(), config.window_px(INTR)[0])
        assert gap == pytest.approx(500 * np.tan(np.radians(spacing_deg)), abs=1.0)
        assert config.window_px(INTR, gap) == (3, expected_rows)
    assert config.window_px(INTR, 1000.0)[1] == round(500 * np.tan(np.radians(4.0)))  # max_window_deg
    assert beam_gap_px(np.array([1, 1, 1]), np.array([1, 5, 9]), 3) == 0.0
    assert ProjectionConfig(gap_factor=0.0).window_px(INTR, 20.0) == config.window_px(INTR)
    with pytest.raises(ConfigError):
        ProjectionConfig(gap_factor=-1.0)


def _reference_beam_gap_px(u: np.ndarray, v: np.ndarray, half_u: int) -> float:
    """:func:`beam_gap_px` written out: the distinct (column, row) keys of the picked columns by ``np.unique``, the
    steps between neighbours in one column, their median."""
    if u.size < 2:
        return 0.0
    column = u // (2 * half_u + 1)
    picked = np.flatnonzero(column % 8 == 0)
    if picked.size < 200:
        picked = np.arange(column.size)
    rows = v[picked].astype(np.int64)
    stride = int(rows.max()) + 2
    key = np.unique(column[picked].astype(np.int64) * stride + rows)
    gaps = np.diff(key)[key[1:] // stride == key[:-1] // stride]
    return float(np.median(gaps)) if gaps.size >= 20 else 0.0


@pytest.mark.parametrize("name", ["000000", "000001", "000002"])
def test_the_beam_gap_of_kitti_scans_is_the_median_step_between_distinct_pixels(
    kitti_object_dir: Path, name: str
) -> None:
    """On the in-image pixels of real scans (at the camera's size and a network's output size, several points per
    pixel among them) and on random pixels (repeated, negative columns and rows, sparse, wide, int16 to int64), the
    gap is that of the distinct (column, row) keys, exactly (keys marked in a table where they span a small one, else
    sorted)."""
    calib = load_object_calibration(kitti_object_dir / "calib" / f"{name}.txt", 1242, 375)
    points = np.asfortranarray(load_velodyne(kitti_object_dir / "velodyne" / f"{name}.bin")[:, :3])
    config = ProjectionConfig(occlusion_filter=False)
    for intrinsics in (calib.intrinsics, calib.intrinsics.resized(414, 125), calib.intrinsics.resized(160, 48)):
        # every in-image point (shared pixels too): the rows and columns before the z-buffer
        rows = (intrinsics.matrix @ calib.cam_from_velo.matrix[:3]).astype(np.float32)
        u_all, v_all, z_all = (points[:, 0] * r[0] + points[:, 1] * r[1] + points[:, 2] * r[2] + r[3] for r in rows)
        inverse = np.float32(1.0) / z_all
        u, v = np.rint(u_all * inverse).astype(np.int32), np.rint(v_all * inverse).astype(np.int32)
        inside = (z_all > 0.5) & (u >= 0) & (u < intrinsics.width) & (v >= 0) & (v < intrinsics.height)
        u, v = u[inside], v[inside]
        assert u.size > 10_000 and np.unique(u.astype(np.int64) * 10_000 + v).size < u.size  # shared pixels
        sparse = project_scan(LidarScan(points, calib.cam_from_velo, 0), intrinsics, config)
        for half_u in (0, 1, 3, config.window_px(intrinsics)[0]):
            for pixel_u, pixel_v in ((u, v), (sparse.u, sparse.v)):
                expected = _reference_beam_gap_px(pixel_u, pixel_v, half_u)
                assert expected > 0
                assert beam_gap_px(pixel_u, pixel_v, half_u) == expected
    rng = np.random.default_rng(int(name))
    for i in range(300):
        n = int(rng.integers(0, 3000))
        dtype = (np.int16, np.int32, np.int64)[i % 3]
        u = rng.integers(-40 if i % 4 == 0 else 0, int(rng.integers(1, 2000)), n).astype(dtype)
        v = (rng.integers(-3 if i % 6 == 0 else 0, int(rng.integers(1, 1000)), n) // (1 + i % 5)).astype(dtype)
        if i % 2:  # points sharing pixels
            u, v = u.repeat(2), v.repeat(2)
        half_u = int(rng.integers(0, 5))
        assert beam_gap_px(u, v, half_u) == _reference_beam_gap_px(u, v, half_u)


@pytest.mark.parametrize("name", ["000000", "000001", "000002"])
def test_kitti_scans_keep_one_nearest_point_per_pixel_with_and_without_ties(kitti_object_dir: Path, name: str) -> None:
    """A real scan (no two nearest points share a pixel), the same scan with a third of its points sent twice
    (every such pixel's nearest point tied with its copy) and with one in-image point sent twice (a single tie): the
    z-buffer keeps, per pixel, the nearest point, of tied ones the last in the scan, as the z-buffer written out on the
    full image (a sort by pixel, depth, index)."""
    calib = load_object_calibration(kitti_object_dir / "calib" / f"{name}.txt", 1242, 375)
    points = load_velodyne(kitti_object_dir / "velodyne" / f"{name}.bin")[:, :3]
    config = ProjectionConfig(occlusion_filter=False)
    # 3840x2160: the z-buffer's box holds ~300 pixels per point, so the pass runs without the count
    for intrinsics in (calib.intrinsics, calib.intrinsics.resized(414, 125), calib.intrinsics.resized(3840, 2160)):
        one = int(project_scan(LidarScan(np.asfortranarray(points), calib.cam_from_velo, 0), intrinsics).index[100])
        for scan_points in (points, np.vstack([points, points[::3]]), np.vstack([points, points[one : one + 1]])):
            scan = np.asfortranarray(scan_points)
            every = project_scan(LidarScan(scan, calib.cam_from_velo, 0), intrinsics, config)  # the in-image points
            rows = (intrinsics.matrix @ calib.cam_from_velo.matrix[:3]).astype(np.float32)
            u_all, v_all, z_all = (scan[:, 0] * r[0] + scan[:, 1] * r[1] + scan[:, 2] * r[2] + r[3] for r in rows)
            inverse = np.float32(1.0) / z_all
            u, v = np.rint(u_all * inverse).astype(np.int64), np.rint(v_all * inverse).astype(np.int64)
            inside = (z_all > config.min_depth_m) & (z_all < config.max_depth_m)
            inside &= (u >= 0) & (u < intrinsics.width) & (v >= 0) & (v < intrinsics.height)
            candidates = np.flatnonzero(inside)
            assert every.stats.n_in_image == candidates.size
            pixel = v[candidates] * intrinsics.width + u[candidates]
            order = np.lexsort((-candidates, z_all[candidates], pixel))  # per pixel: nearest, then the last one
            first = np.ones(order.size, bool)
            first[1:] = pixel[order][1:] != pixel[order][:-1]
            expected = np.sort(candidates[order][first])
            np.testing.assert_array_equal(every.index, expected)
            assert every.stats.n_zbuffer == expected.size == np.unique(pixel).size
            np.testing.assert_array_equal(every.depth_m, z_all[expected])


def test_distant_ground_is_not_removed_by_the_two_sided_test() -> None:
    # Rings of a LiDAR 1.7 m above flat ground: each lower ring is much closer, yet nothing is occluded.
    elevations = np.radians(np.arange(-15.0, -1.0, 0.4))
    azimuths = np.radians(np.arange(-30.0, 30.0, 0.2))
    el, az = np.meshgrid(elevations, azimuths)
    ranges = 1.7 / np.sin(-el)
    points_in_lidar = np.stack([ranges * np.cos(el) * np.cos(az), ranges * np.cos(el) * np.sin(az), -1.7 + 0 * el], -1)
    scan = LidarScan(points_in_lidar.reshape(-1, 3), CAM_FROM_LIDAR, 0)
    sparse = project_scan(scan, INTR, ProjectionConfig(margin_rel=0.05, margin_m=0.0))
    assert sparse.stats.n_zbuffer > 1000
    assert sparse.stats.n_occluded == 0
    one_sided = project_scan(scan, INTR, ProjectionConfig(margin_rel=0.05, margin_m=0.0, two_sided=False))
    assert one_sided.stats.n_occluded > 0.1 * one_sided.stats.n_zbuffer  # the far rings would be lost


@settings(max_examples=25, deadline=None)
@given(st.permutations(list(range(40))))
def test_result_does_not_depend_on_point_order(order: list[int]) -> None:
    rng = np.random.default_rng(3)
    grid = _grid_points(4.0, (-0.5, 0.5), (-0.5, 0.5), 0.25)  # 16 points
    points = np.vstack([grid, rng.uniform([-2, -2, 8], [2, 2, 12], (40 - grid.shape[0], 3))])
    base = project_points_in_camera(points, INTR)
    permuted = project_points_in_camera(points[order], INTR)
    assert sorted(np.asarray(order)[permuted.index].tolist()) == sorted(base.index.tolist())


def test_motion_compensated_scan_lands_where_the_camera_sees_it_at_image_time() -> None:
    # The camera drives forward at 10 m/s; the scan is 0.1 s older than the image: everything is 1 m closer.
    points_in_camera = _grid_points(10.0, (-1.0, 1.0), (-1.0, 1.0), 0.25)
    points_in_lidar = CAM_FROM_LIDAR.inverse().apply(points_in_camera)
    twist = CameraTwist(np.array([0.0, 0.0, 10.0]), np.zeros(3))
    scan = LidarScan(points_in_lidar, CAM_FROM_LIDAR, stamp_ns=1_000_000_000, twist=twist)
    config = ProjectionConfig(occlusion_filter=False)
    moved = project_scan(scan, INTR, config, image_stamp_ns=1_100_000_000)
    np.testing.assert_allclose(moved.depth_m, 9.0, rtol=1e-5)
    static = project_scan(scan, INTR, config)  # no image stamp: no compensation
    np.testing.assert_allclose(static.depth_m, 10.0, rtol=1e-5)


def test_config_validation_and_shape_errors() -> None:
    with pytest.raises(ConfigError, match="min_depth_m"):
        ProjectionConfig(min_depth_m=5.0, max_depth_m=1.0)
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        LidarScan(np.zeros((10, 4)), CAM_FROM_LIDAR, 0)
    assert ProjectionConfig(window_deg=(0.3, 0.6)).window_px(INTR) == (3, 5)


@pytest.mark.parametrize(
    ("translation", "scale"),
    [((1e300, 0.0, 0.0), 1.0), ((0.0, -3.5e38, 0.0), 1.0), ((0.0, 0.0, 3.3e38), 1e37)],
)
def test_an_extrinsic_that_puts_the_scan_past_float32_is_refused_unwarned(
    translation: tuple[float, float, float], scale: float
) -> None:
    """A finite translation tf2 stores (1e300 m, float32's largest), or one that with the scan's coordinates leaves
    float32: the scan was accepted and projected with numpy's "overflow encountered in cast" RuntimeWarning, every
    point out of view. It is refused as a TransformError naming the translation and the remedy, unwarned."""
    points = (_grid_points(20.0, (-5, 5), (-2, 2), 0.5) * scale).astype(np.float32)
    points[0] = np.nan  # a "no return" does not hide the reach
    points[1, 0] = np.inf
    cam_from_lidar = RigidTransform(CAM_FROM_LIDAR.rotation, np.array(translation), "camera", "lidar")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TransformError, match=r"translation \[.*\] m .* past float32.*TF publisher's translation"):
            project_scan(LidarScan(points, cam_from_lidar, 0), INTR)


@pytest.mark.parametrize("twist", [None, CameraTwist(np.zeros(3), np.zeros(3))])
def test_an_extrinsic_whose_pixels_leave_float32_projects_no_point_unwarned(twist: CameraTwist | None) -> None:
    """1e36 m sideways keeps the camera-frame points in float32 but not their pixel coordinates (fx · x): the cast
    of K · [R | t] overflowed with a RuntimeWarning; those points lie out of view and are dropped, unwarned."""
    points = _grid_points(20.0, (-5, 5), (-2, 2), 0.5).astype(np.float32)
    cam_from_lidar = RigidTransform(CAM_FROM_LIDAR.rotation, np.array([1e36, 0.0, 0.0]), "camera", "lidar")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sparse = project_scan(LidarScan(points, cam_from_lidar, 0, twist=twist), INTR, image_stamp_ns=0)
    assert sparse.stats.n_input == points.shape[0] and sparse.stats.n_in_image == 0


def test_kitti_frame_occlusion_filter_removes_a_few_percent(kitti_object_dir: Path) -> None:
    calib = load_object_calibration(kitti_object_dir / "calib" / "000000.txt", 1242, 375)
    points = load_velodyne(kitti_object_dir / "velodyne" / "000000.bin")[:, :3]
    sparse = project_scan(LidarScan(points, calib.cam_from_velo, 0), calib.intrinsics)
    stats = sparse.stats
    assert stats.n_input == points.shape[0]
    assert 15_000 < stats.n_in_image < 25_000  # README: ~18-20k of ~120k points land in the image
    assert 0.005 < stats.n_occluded / stats.n_zbuffer < 0.08
    assert sparse.u.min() >= 0 and sparse.u.max() < 1242 and sparse.v.max() < 375
    assert np.all(sparse.depth_m > 0)


def test_scratch_buffers_reuse_memory_and_give_the_same_result() -> None:
    buffers = ScratchBuffers()
    first = buffers.get("a", (4, 5), np.float32)
    again = buffers.get("a", (2, 3), np.float32)
    assert np.shares_memory(first, again) and again.shape == (2, 3) and again.flags.c_contiguous
    assert not np.shares_memory(first, buffers.get("a", (100,), np.float32))  # grown
    assert buffers.get("a", (3,), np.int32).dtype == np.int32
    rng = np.random.default_rng(1)
    points = np.vstack(
        [_grid_points(5.0, (-1.0, 1.0), (-1.0, 1.0), 0.1), rng.uniform([-3, -3, 8], [3, 3, 30], (400, 3))]
    )
    scan = LidarScan(CAM_FROM_LIDAR.inverse().apply(points).astype(np.float32), CAM_FROM_LIDAR, 0)
    fresh = project_scan(scan, INTR)
    for _ in range(2):  # the second call reuses every buffer
        reused = project_scan(scan, INTR, buffers=buffers)
        np.testing.assert_array_equal(reused.index, fresh.index)
        np.testing.assert_array_equal(reused.depth_m, fresh.depth_m)
    assert fresh.stats.n_occluded > 0


def test_empty_and_all_invalid_scans_give_no_points() -> None:
    for points in (np.zeros((0, 3), np.float32), np.zeros((5, 3), np.float32), np.full((5, 3), np.nan)):
        sparse = project_scan(LidarScan(points, CAM_FROM_LIDAR, 0), INTR)
        assert sparse.depth_m.size == 0 and sparse.stats.n_kept == 0 and sparse.stats.n_input == points.shape[0]


def _reference_zbuffer_and_occlusion(
    u: np.ndarray, v: np.ndarray, z: np.ndarray, intrinsics: PinholeIntrinsics, config: ProjectionConfig
) -> np.ndarray:
    """Which in-image points survive, written out directly: the nearest per pixel (a full-image z-buffer), then
    dropped when a clearly closer z-buffer pixel lies in the window above and another in the window below."""
    import cv2

    zbuffer = np.full((intrinsics.height, intrinsics.width), np.inf, np.float32)
    np.minimum.at(zbuffer, (v, u), z)
    keep = z <= zbuffer[v, u]
    half_u = config.window_px(intrinsics)[0]
    half_v = config.window_px(intrinsics, beam_gap_px(u, v, half_u))[1]  # the rows cover the scan's beam gap
    kernel = np.ones((half_v + 1, 2 * half_u + 1), np.uint8)
    threshold = z - (np.float32(config.margin_m) + np.float32(config.margin_rel) * z)
    occluded = np.ones(z.shape, bool)
    for anchor in ((half_u, half_v), (half_u, 0)):
        window = cv2.erode(zbuffer, kernel, anchor=anchor, borderType=cv2.BORDER_CONSTANT, borderValue=float("inf"))
        occluded &= window[v, u] < threshold
    return keep & ~occluded


@pytest.mark.parametrize("name", ["000000", "000001", "000002"])
def test_kitti_scans_keep_the_points_of_the_direct_zbuffer_and_occlusion_test(
    kitti_object_dir: Path, name: str
) -> None:
    """On real scans, at the camera's size and at a network's output size, the projection (a z-buffer cropped to the
    points, gathers by index) keeps exactly the points of the test written out on the full image, with their
    pixels, depths and scan indices, in scan order and with the documented dtypes."""
    calib = load_object_calibration(kitti_object_dir / "calib" / f"{name}.txt", 1242, 375)
    points = np.asfortranarray(load_velodyne(kitti_object_dir / "velodyne" / f"{name}.bin")[:, :3])
    config = ProjectionConfig()
    for intrinsics in (calib.intrinsics, calib.intrinsics.resized(414, 125)):
        unfiltered = project_scan(
            LidarScan(points, calib.cam_from_velo, 0), intrinsics, ProjectionConfig(occlusion_filter=False)
        )
        unfiltered_all = unfiltered.stats.n_in_image
        sparse = project_scan(LidarScan(points, calib.cam_from_velo, 0), intrinsics, config, buffers=ScratchBuffers())
        assert sparse.stats.n_in_image == unfiltered_all > 10_000
        # the pixel-homogeneous rows (K folded into the extrinsic), each a float32 multiply-add per axis in turn
        rows = (intrinsics.matrix @ calib.cam_from_velo.matrix[:3]).astype(np.float32)
        u_all, v_all, z_all = (points[:, 0] * r[0] + points[:, 1] * r[1] + points[:, 2] * r[2] + r[3] for r in rows)
        assert unfiltered.index.size < unfiltered_all  # some points lose at a shared pixel
        keep = _reference_zbuffer_and_occlusion(
            unfiltered.u, unfiltered.v, unfiltered.depth_m, intrinsics, config
        )  # on the winners: a loser never survives, a winner's fate depends on the z-buffer only
        assert sparse.u.dtype == np.int32 and sparse.v.dtype == np.int32
        assert sparse.depth_m.dtype == np.float32 and sparse.index.dtype == np.int64
        np.testing.assert_array_equal(sparse.index, unfiltered.index[keep])
        np.testing.assert_array_equal(sparse.u, unfiltered.u[keep])
        np.testing.assert_array_equal(sparse.v, unfiltered.v[keep])
        np.testing.assert_array_equal(sparse.depth_m, unfiltered.depth_m[keep])
        assert np.all(np.diff(sparse.index) > 0)  # scan order
        np.testing.assert_array_equal(sparse.depth_m, z_all[sparse.index])  # bit for bit
        inverse = np.float32(1.0) / z_all[sparse.index]
        np.testing.assert_array_equal(sparse.u, np.rint(u_all[sparse.index] * inverse))
        np.testing.assert_array_equal(sparse.v, np.rint(v_all[sparse.index] * inverse))


@pytest.mark.parametrize("camera", [2, 3])
@pytest.mark.parametrize("frame", ["000000", "000001", "000002"])
def test_kitti_scans_project_as_the_devkits_p2_r0_rect_tr_velo_to_cam(
    kitti_object_dir: Path, frame: str, camera: int
) -> None:
    """KITTI's devkit formula, written out in float64 from the calib file: pixel = P · R0_rect · Tr_velo_to_cam ·
    (x, y, z, 1) for the left (P2) and right (P3, the other sign of Tx) colour cameras. project_scan (cam_from_lidar
    with P's baseline K⁻¹ P[:, 3], and P's left 3x3) keeps exactly the points in front (0.5 m < z < 250 m) whose
    rounded pixel is in the image (the ~100k behind the camera or outside its view are dropped), at the same pixels
    (a float32 rounding tie may go one pixel the other way) and depths; so do the points already in the camera
    (project_points_in_camera)."""
    import cv2

    from mono_depth_ros.training.data.kitti_files import read_object_calibration

    image = cv2.imread(str(kitti_object_dir / "image_2" / f"{frame}.png"), cv2.IMREAD_GRAYSCALE)
    assert image is not None
    height, width = image.shape
    calib_path = kitti_object_dir / "calib" / f"{frame}.txt"
    projection, r0_rect, velo_to_cam = read_object_calibration(calib_path, camera)
    points = load_velodyne(kitti_object_dir / "velodyne" / f"{frame}.bin")[:, :3]
    r0 = np.eye(4)
    r0[:3, :3] = r0_rect
    image_h = (
        projection @ r0 @ np.vstack([velo_to_cam, [0.0, 0.0, 0.0, 1.0]]) @ np.c_[points, np.ones(len(points))].T
    ).T
    z = image_h[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u, v = np.rint(image_h[:, 0] / z), np.rint(image_h[:, 1] / z)
    expected = np.flatnonzero((z > 0.5) & (z < 250.0) & (u >= 0) & (u < width) & (v >= 0) & (v < height))
    assert np.count_nonzero(z <= 0.5) > 50_000  # the scan is 360 degrees: half of it behind the camera

    calib = load_object_calibration(calib_path, width, height, camera)  # image_3 has image_2's size
    config = ProjectionConfig(occlusion_filter=False)
    projected = project_scan(LidarScan(points, calib.cam_from_velo, 0), calib.intrinsics, config)
    assert projected.stats.n_in_image == expected.size
    in_camera = project_points_in_camera(calib.cam_from_velo.apply(points.astype(np.float64)), calib.intrinsics, config)
    assert in_camera.stats.n_in_image == expected.size
    for sparse in (projected, in_camera):
        np.testing.assert_array_equal(np.isin(sparse.index, expected), True)  # z-buffer winners of those points
        assert np.abs(sparse.u - u[sparse.index]).max() <= 1 and np.abs(sparse.v - v[sparse.index]).max() <= 1
        assert np.mean((sparse.u == u[sparse.index]) & (sparse.v == v[sparse.index])) > 0.999
        np.testing.assert_allclose(sparse.depth_m, z[sparse.index], rtol=2e-5)


@pytest.mark.parametrize("camera", [2, 3])
def test_the_documented_rectified_child_frame_puts_a_tf_to_the_unrectified_camera_on_kittis_pixels(
    kitti_object_dir: Path, camera: int
) -> None:
    """docs/ros2_node.md's remedy for a TF to the physical (unrectified) camera, on KITTI's, where Tr_velo_to_cam
    names camera 0 and the image is camera 2's or 3's: a static child ``camera_rect_optical`` of that frame whose
    quaternion is R's with x, y, z negated (the rotation Rᵀ) and whose translation is -Rᵀ · K⁻¹ · P[:, 3] (the
    rectified camera's centre; zero where P has no Tx, Ty), the images stamped with it. What tf2 then hands the node
    (camera_rect_optical <- velodyne: the child's transform inverted, then the TF) puts every scan point, through P's
    left 3x3, on the pixel of the devkit's ``P · R0_rect · Tr_velo_to_cam`` (within the rounding) at its depth. The
    rotation alone (the translation left out, as the docs first said) lands the scan off by a median 3.4 pixels
    (camera 2, 6 cm beside camera 0) or 27 (camera 3, 47 cm) on frame 000001."""
    from mono_depth_ros.training.data.kitti_files import read_object_calibration

    frame = "000001"
    projection, r0_rect, velo_to_cam = read_object_calibration(kitti_object_dir / "calib" / f"{frame}.txt", camera)
    points = load_velodyne(kitti_object_dir / "velodyne" / f"{frame}.bin")[:, :3]
    k = projection[:, :3]
    intrinsics = PinholeIntrinsics(k[0, 0], k[1, 1], k[0, 2], k[1, 2], width=1242, height=375)
    r_quaternion = RigidTransform(r0_rect, np.zeros(3)).quaternion_xyzw
    child_quaternion = r_quaternion * [-1.0, -1.0, -1.0, 1.0]  # what the docs tell static_transform_publisher
    devkit = (
        projection @ np.vstack([r0_rect @ velo_to_cam, [0.0, 0.0, 0.0, 1.0]]) @ np.c_[points, np.ones(len(points))].T
    ).T
    devkit_uv = devkit[:, :2] / devkit[:, 2:]
    cam_from_velo = RigidTransform.from_matrix(velo_to_cam, "camera_optical", "velodyne")  # the TF to camera 0
    median_off: dict[str, float] = {}
    for label, translation in (("documented", -r0_rect.T @ np.linalg.solve(k, projection[:, 3])), ("R alone", 0.0)):
        child = RigidTransform.from_translation_quaternion(
            np.zeros(3) + translation, child_quaternion, "camera_optical", "camera_rect_optical"
        )
        np.testing.assert_allclose(child.rotation, r0_rect.T, atol=1e-12)
        scan = LidarScan(points, child.inverse() @ cam_from_velo, 0)
        sparse = project_scan(scan, intrinsics, ProjectionConfig(occlusion_filter=False, max_depth_m=200.0))
        off = np.abs(np.stack([sparse.u, sparse.v], axis=1) - devkit_uv[sparse.index]).max(axis=1)
        median_off[label] = float(np.median(off))
        if label == "documented":
            assert sparse.index.size > 15_000 and off.max() <= 0.5 + 1e-3, float(off.max())
            np.testing.assert_allclose(sparse.depth_m, devkit[sparse.index, 2], rtol=1e-5)
    assert median_off["R alone"] > 3.0, median_off  # what the translation does: camera 0 is not camera 2 or 3


def test_a_16_beam_lidar_1_to_1_5_m_from_the_camera_loses_its_background_points_seen_past_foreground(
    kitti_object_dir: Path,
) -> None:
    """Every 4th ring of the real KITTI scans (a 16-beam LiDAR, beams 1.3-2° apart), the camera 1 m below or 1.5 m
    beside the LiDAR (frames 000000, 000001): the LiDAR sees background past the cars' edges that the camera cannot.
    Truth: the surface the full scan describes, rendered into the displaced camera (``test/kitti_rigs.py``). A point
    leaks when it is more than 10 % + 0.3 m behind that surface. With the fixed 0.6° window (an HDL-64's beam
    spacing) the filter removed 11 % of the 16-beam LiDAR's leaks (7.5 % of its points leaked, 6.7 % after the
    filter; the full 64 rings: 6.2 % -> 1.5 %); the rows now cover the scan's own gap between beams (1.5x): 38 %
    removed (4.7 %), losing 1.7 % of the points on the surface (the 64-ring filter: 3.1 %). The HDL-64's own window
    is unchanged."""
    from test.kitti_bag import load_kitti_frames
    from test.kitti_rigs import rings_by_scan_order, scanned_surface, surface_depth

    counts = {"filtered": np.zeros(3), "unfiltered": np.zeros(3)}  # leaked, on the surface (5 %), with truth
    for frame in load_kitti_frames(kitti_object_dir, ("000000", "000001")):
        points = frame.scan[:, :3]
        sixteen = points[rings_by_scan_order(points) % 4 == 0]
        surface = scanned_surface(points)
        for camera_at in ((0.0, 1.0, 0.0), (1.5, 0.0, 0.0), (-1.5, 0.0, 0.0)):  # optical frame: y down, x right
            moved = RigidTransform(np.eye(3), -np.asarray(camera_at), "camera_moved", frame.cam_from_velo.dst_frame)
            cam_from_lidar = moved @ frame.cam_from_velo
            truth = surface_depth(surface, cam_from_lidar, frame.intrinsics)
            configs = (("filtered", ProjectionConfig()), ("unfiltered", ProjectionConfig(occlusion_filter=False)))
            for name, config in configs:
                sparse = project_scan(LidarScan(sixteen, cam_from_lidar, 0), frame.intrinsics, config)
                behind = truth[sparse.v, sparse.u]
                known = np.isfinite(behind)
                leaked = known & (sparse.depth_m > 1.1 * behind + 0.3)
                on_surface = known & (np.abs(sparse.depth_m / behind - 1.0) < 0.05)
                counts[name] += [np.count_nonzero(leaked), np.count_nonzero(on_surface), np.count_nonzero(known)]
    leak_before, leak_after = (counts[name][0] / counts[name][2] for name in ("unfiltered", "filtered"))
    assert leak_before > 0.05  # the rig does see past the foreground
    assert leak_after < 0.7 * leak_before, (leak_before, leak_after)
    assert counts["filtered"][1] > 0.97 * counts["unfiltered"][1]  # the surface itself stays


@pytest.mark.parametrize("name", ["000000", "000001", "000002"])
def test_values_at_the_points_pixels_are_fancy_indexings_bit_for_bit_on_kitti_scans(
    kitti_object_dir: Path, name: str
) -> None:
    """``SparseDepth.values_at`` (the scale fit's samples, one flat gather) gives ``map[v, u]``'s values bit for bit:
    KITTI scans projected at the camera's size and the default output's (414x125), maps of float32 (NaN, +-Inf, 0
    sprinkled), float64 and a non-contiguous view; a map that is not (H, W) is refused."""
    calib = load_object_calibration(kitti_object_dir / "calib" / f"{name}.txt", 1242, 375)
    points = np.asfortranarray(load_velodyne(kitti_object_dir / "velodyne" / f"{name}.bin")[:, :3])
    rng = np.random.default_rng(int(name))
    for intrinsics in (calib.intrinsics, calib.intrinsics.resized(414, 125)):
        sparse = project_scan(LidarScan(points, calib.cam_from_velo, 0), intrinsics)
        assert sparse.u.size > 5000
        shape = (intrinsics.height, intrinsics.width)
        values = rng.normal(10.0, 5.0, shape).astype(np.float32)
        for special, share in ((np.nan, 0.05), (np.inf, 0.01), (-np.inf, 0.01), (0.0, 0.01)):
            values[rng.random(shape) < share] = special
        wide = np.zeros((shape[0], 2 * shape[1]), np.float64)
        wide[:, ::2] = values
        for image in (values, values.astype(np.float64), wide[:, ::2]):
            assert sparse.values_at(image).tobytes() == image[sparse.v, sparse.u].tobytes()
            assert sparse.values_at(image).dtype == image.dtype
    with pytest.raises(ShapeError, match="values_at needs an"):
        sparse.values_at(values[None])


coordinate = st.one_of(
    st.floats(-1e30, 1e30).map(lambda c: float(np.float32(c))), st.sampled_from([1e-30, -1e-30, 1e30, -1e30, 0.0])
)


@settings(max_examples=40, deadline=None)
@given(
    points=st.lists(st.tuples(coordinate, coordinate, coordinate), min_size=1, max_size=8),
    compensated=st.booleans(),
)
@example(points=[(1e30, 0.0, 1e-30)], compensated=False)  # u / z past float32
@example(points=[(0.0, 0.0, 1e-45)], compensated=False)  # 1 / z past float32
def test_any_finite_float32_scan_projects_unwarned_inside_the_image(
    points: list[tuple[float, float, float]], compensated: bool
) -> None:
    """A point far to the side and just in front of the lens (x 1e30 m, z 1e-30 m: float32 both, and so is its pixel
    row fx · x) overflowed ``u / z`` with numpy's "overflow encountered in multiply" RuntimeWarning (the point is out
    of view either way); every point kept lands inside the image."""
    scan = LidarScan(
        np.array(points, dtype=np.float32),
        RigidTransform.identity("camera", "lidar"),
        0,
        twist=CameraTwist(np.zeros(3), np.zeros(3)) if compensated else None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sparse = project_scan(scan, INTR, image_stamp_ns=0)
    assert (sparse.u >= 0).all() and (sparse.u < INTR.width).all()
    assert (sparse.v >= 0).all() and (sparse.v < INTR.height).all()
    assert np.isfinite(sparse.depth_m).all() and (sparse.depth_m > 0).all()
