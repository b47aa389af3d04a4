"""De-skewing a sweep through per-time transforms (core/scale/deskew.py)."""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt
import pytest

from mono_depth_ros.core.errors import TransformError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.scale.deskew import BIN_NS, KNOT_NS, deskewed_scan

# LiDAR axes (x forward, y left, z up) -> camera optical axes; LiDAR 0.2 m above the camera.
CAM_FROM_LIDAR = RigidTransform(
    np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), np.array([0.0, -0.2, 0.0]), "camera", "lidar"
)
SPEED_MPS, YAW_RPS = 15.0, 0.6  # a car turning at 34 deg/s


def _odom_from_lidar(t_s: float) -> RigidTransform:
    """The LiDAR's pose at ``t_s`` (s after the image stamp): driving forward while yawing left."""
    yaw = YAW_RPS * t_s
    c, s = np.cos(yaw), np.sin(yaw)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return RigidTransform(rotation, np.array([SPEED_MPS * t_s, 0.0, 0.0]), "odom", "lidar")


def _sweep(n: int, stamp_ns: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """World points (LiDAR frame at the image stamp 0), as measured over a 100 ms sweep, and their ns after stamp."""
    rng = np.random.default_rng(0)
    world = rng.uniform([-40.0, -40.0, -2.0], [40.0, 40.0, 3.0], (n, 3))
    point_ns = rng.integers(-50_000_000, 50_000_000, n)
    measured = np.empty_like(world)
    for i, t_ns in enumerate(point_ns):
        measured[i] = _odom_from_lidar(t_ns * 1e-9).inverse().apply(world[i][None])[0]
    return world, measured, (point_ns - stamp_ns).astype(np.int64)


def _at(t_ns: int) -> RigidTransform:
    """camera(image stamp 0) <- lidar(t_ns), as TF time travel through odom gives it."""
    return RigidTransform.from_matrix(CAM_FROM_LIDAR.matrix @ _odom_from_lidar(t_ns * 1e-9).matrix)


def test_each_point_is_moved_by_the_motion_at_its_own_time() -> None:
    stamp_ns = -50_000_000  # stamped at the sweep start (Ouster); the image at the sweep middle (0)
    world, measured, dt_ns = _sweep(2000, stamp_ns)
    scan, missing = deskewed_scan(measured.astype(np.float32), dt_ns, stamp_ns, _at(stamp_ns), _at)
    assert missing == 0 and scan.cam_from_lidar is not None and scan.stamp_ns == stamp_ns
    assert scan.sweep_ns == stamp_ns + (int(dt_ns.min()) + int(dt_ns.max())) // 2  # its age: from the sweep's middle
    in_camera = scan.cam_from_lidar.apply(np.asarray(scan.points_in_lidar, dtype=np.float64))
    error = np.linalg.norm(in_camera - CAM_FROM_LIDAR.apply(world), axis=1)
    # at most half a slice (1 ms) of motion: 15 m/s, and 0.6 rad/s at the farthest point (57 m): 4.9 cm
    reach_m = float(np.linalg.norm(world, axis=1).max())
    assert error.max() < 0.5 * BIN_NS * 1e-9 * (SPEED_MPS + YAW_RPS * reach_m) + 1e-4, error.max()
    assert np.median(error) < 0.02
    header_only = np.linalg.norm(_at(stamp_ns).apply(measured) - CAM_FROM_LIDAR.apply(world), axis=1)
    assert np.median(header_only) > 0.5  # what the header stamp alone gave: every point 50 ms of motion off


def test_slices_tf_cannot_place_yet_take_the_nearest_placed_slice() -> None:
    """The node looks TF up at once: for a sweep stamped at its start, TF may not reach its end yet. Those slices
    took the header stamp's transform (50-100 ms of motion off); they now take the newest placed slice's."""
    stamp_ns = -50_000_000
    world, measured, dt_ns = _sweep(2000, stamp_ns)
    late_ns = 20_000_000  # TF's newest time (image stamp 0 + 20 ms)

    def until_late(t_ns: int) -> RigidTransform | None:
        return _at(t_ns) if t_ns <= late_ns else None

    scan, missing = deskewed_scan(measured, dt_ns, stamp_ns, _at(stamp_ns), until_late)
    slots = np.unique((dt_ns - dt_ns.min()) // BIN_NS)
    right_knot = ((slots * BIN_NS + BIN_NS // 2) // KNOT_NS + 1) * KNOT_NS  # after the first point's time
    assert missing == int(np.count_nonzero(stamp_ns + dt_ns.min() + right_knot > late_ns)) > 0
    error = np.linalg.norm(scan.cam_from_lidar.apply(scan.points_in_lidar) - CAM_FROM_LIDAR.apply(world), axis=1)
    late = stamp_ns + dt_ns > late_ns - KNOT_NS
    # a point at most 50 ms after the newest placed time: 15 m/s and 0.6 rad/s at <= 57 m over 51 ms
    reach_m = float(np.linalg.norm(world, axis=1).max())
    assert error[late].max() < 0.051 * (SPEED_MPS + YAW_RPS * reach_m)
    assert np.median(error[~late]) < 0.02
    header_only = np.linalg.norm(_at(stamp_ns).apply(measured) - CAM_FROM_LIDAR.apply(world), axis=1)
    assert np.median(error[late]) < 0.25 * np.median(header_only[late])  # 65-100 ms after the stamp: >= 1 m off

    nothing, missing = deskewed_scan(measured, dt_ns, stamp_ns, _at(stamp_ns), lambda t_ns: None)
    assert missing == slots.size
    np.testing.assert_allclose(nothing.points_in_lidar, measured, atol=1e-9)  # the header stamp's, as before


def test_an_empty_scan() -> None:
    scan, missing = deskewed_scan(np.zeros((0, 3), np.float32), np.zeros(0, np.int64), 5, CAM_FROM_LIDAR, _at)
    assert scan.points_in_lidar.shape == (0, 3) and missing == 0


@pytest.mark.parametrize("corrupt", ["a_slice", "the_header_stamp"])
def test_a_transform_that_puts_the_sweep_past_float32_is_refused_unwarned(corrupt: str) -> None:
    """A corrupt odometry sample on /tf (a finite 1e300 m, which tf2 stores) at a slice's time, or at the header
    stamp: the slice transforms were cast to float32 with numpy's "overflow encountered in cast" RuntimeWarning, and
    with only a slice corrupt its points became Inf and were dropped unnoticed, the scan used. Refused as the
    extrinsic check refuses it (TransformError naming the translation), unwarned."""
    stamp_ns = -50_000_000
    _, measured, dt_ns = _sweep(500, stamp_ns)
    absurd = RigidTransform(CAM_FROM_LIDAR.rotation, np.array([1e300, 0.0, 0.0]), "camera", "lidar")

    def at(t_ns: int) -> RigidTransform:
        return absurd if corrupt == "a_slice" and t_ns > 0 else _at(t_ns)

    header = absurd if corrupt == "the_header_stamp" else _at(stamp_ns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TransformError, match=r"translation \[1e\+300, .*\] m .* past float32"):
            deskewed_scan(measured.astype(np.float32), dt_ns, stamp_ns, header, at)
