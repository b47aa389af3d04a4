from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ShapeError, TransformError
from mono_depth_ros.core.geometry import (
    RigidTransform,
    backproject_depth,
    backproject_depth_torch,
    project_points,
    zbuffer_depth,
)

INTR = PinholeIntrinsics(500.0, 480.0, 317.3, 241.8, width=640, height=480)

unit_quaternions = hnp.arrays(np.float64, 4, elements=st.floats(-1, 1)).filter(lambda q: np.linalg.norm(q) > 0.1)
translations = hnp.arrays(np.float64, 3, elements=st.floats(-50, 50))


def _transform(q: np.ndarray, t: np.ndarray, dst: str = "a", src: str = "b") -> RigidTransform:
    return RigidTransform.from_translation_quaternion(t, q / np.linalg.norm(q), dst, src)


def test_quaternion_order_is_ros_xyzw() -> None:
    # 90 degrees about z in ROS order (x, y, z, w): x axis -> y axis.
    s = np.sqrt(0.5)
    z90 = RigidTransform.from_translation_quaternion([1.0, 2.0, 3.0], [0.0, 0.0, s, s])
    np.testing.assert_allclose(z90.apply(np.array([1.0, 0.0, 0.0])), [1.0, 3.0, 3.0], atol=1e-12)
    np.testing.assert_allclose(z90.quaternion_xyzw, [0.0, 0.0, s, s], atol=1e-12)


def test_non_unit_quaternion_is_rejected_with_the_values() -> None:
    with pytest.raises(TransformError, match=r"norm 2\.0"):
        RigidTransform.from_translation_quaternion([0, 0, 0], [0.0, 0.0, 0.0, 2.0])
    with pytest.raises(TransformError, match="finite"):
        RigidTransform.from_translation_quaternion([0, 0, 0], [np.nan, 0.0, 0.0, 1.0])


@given(unit_quaternions, translations, hnp.arrays(np.float64, (5, 3), elements=st.floats(-100, 100)))
def test_transform_then_inverse_is_identity(q: np.ndarray, t: np.ndarray, points: np.ndarray) -> None:
    a_from_b = _transform(q, t)
    back = a_from_b.inverse().apply(a_from_b.apply(points))
    np.testing.assert_allclose(back, points, atol=1e-8)
    identity = a_from_b.inverse() @ a_from_b
    np.testing.assert_allclose(identity.matrix, np.eye(4), atol=1e-9)
    assert (identity.dst_frame, identity.src_frame) == ("b", "b")


@given(unit_quaternions, translations)
def test_quaternion_round_trip(q: np.ndarray, t: np.ndarray) -> None:
    tf = _transform(q, t)
    again = RigidTransform.from_translation_quaternion(tf.translation, tf.quaternion_xyzw)
    np.testing.assert_allclose(again.matrix, tf.matrix, atol=1e-9)


def test_composition_checks_frames() -> None:
    cam_from_base = RigidTransform.identity("cam", "base")
    base_from_lidar = RigidTransform(np.eye(3), [1.0, 0.0, 0.0], "base", "lidar")
    cam_from_lidar = cam_from_base @ base_from_lidar
    assert (cam_from_lidar.dst_frame, cam_from_lidar.src_frame) == ("cam", "lidar")
    with pytest.raises(TransformError, match="do not chain"):
        base_from_lidar @ cam_from_base


@settings(max_examples=50, deadline=None)
@given(unit_quaternions, translations, unit_quaternions, translations, st.floats(0.0, 1.0))
def test_interpolation_ends_at_both_samples_and_moves_at_a_constant_rate(
    q0: np.ndarray, t0: np.ndarray, q1: np.ndarray, t1: np.ndarray, fraction: float
) -> None:
    start, end = _transform(q0, t0), _transform(q1, t1)
    np.testing.assert_allclose(start.interpolate(end, 0.0).matrix, start.matrix, atol=1e-7)  # mat2quat near pi
    np.testing.assert_allclose(start.interpolate(end, 1.0).matrix, end.matrix, atol=1e-7)
    middle = start.interpolate(end, fraction)
    # slerp: the rotation angle from start grows linearly, along the shorter arc (<= pi in all)
    total = _rotation_angle(start.rotation.T @ end.rotation)
    assert _rotation_angle(start.rotation.T @ middle.rotation) == pytest.approx(fraction * total, abs=1e-6)
    np.testing.assert_allclose(middle.translation, (1 - fraction) * t0 + fraction * t1, atol=1e-9)
    assert (middle.dst_frame, middle.src_frame) == ("a", "b")


def _rotation_angle(rotation: np.ndarray) -> float:
    """Angle in [0, pi] of a rotation matrix (from its trace)."""
    return float(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)))


def test_interpolation_checks_frames_and_fraction() -> None:
    a = RigidTransform.identity("odom", "base")
    with pytest.raises(TransformError, match="frames differ"):
        a.interpolate(RigidTransform.identity("map", "base"), 0.5)
    with pytest.raises(TransformError, match="finite"):
        a.interpolate(a, float("nan"))


def test_matrix_composition_matches_numpy() -> None:
    a = _transform(np.array([0.1, 0.2, 0.3, 0.9]), np.array([1.0, -2.0, 0.5]), "a", "b")
    b = _transform(np.array([-0.4, 0.1, 0.0, 0.7]), np.array([0.0, 3.0, -1.0]), "b", "c")
    np.testing.assert_allclose((a @ b).matrix, a.matrix @ b.matrix, atol=1e-12)


def test_apply_rejects_wrong_shape_and_keeps_float32() -> None:
    tf = RigidTransform.identity()
    with pytest.raises(ShapeError):
        tf.apply(np.zeros((4, 2)))
    assert tf.apply(np.zeros((4, 3), dtype=np.float32)).dtype == np.float32


def test_backprojection_of_a_fronto_parallel_plane_is_exact() -> None:
    depth = np.full((480, 640), 2.0, dtype=np.float32)
    points = backproject_depth(depth, INTR)
    assert points.shape == (480, 640, 3) and points.dtype == np.float32
    assert np.all(points[..., 2] == 2.0)
    v, u = 100, 37
    np.testing.assert_allclose(points[v, u, 0], (u - INTR.cx) * 2.0 / INTR.fx, rtol=1e-6)
    np.testing.assert_allclose(points[v, u, 1], (v - INTR.cy) * 2.0 / INTR.fy, rtol=1e-6)


def test_backprojection_marks_invalid_as_nan() -> None:
    depth = np.full((480, 640), 3.0, dtype=np.float32)
    depth[0, 0], depth[0, 1], depth[0, 2], depth[0, 3] = np.nan, np.inf, -np.inf, 0.0
    points = backproject_depth(depth, INTR)
    assert np.all(np.isnan(points[0, :4])) and np.all(np.isfinite(points[0, 4:]))
    with pytest.raises(ShapeError):
        backproject_depth(depth[None], INTR)


@settings(max_examples=40)
@given(hnp.arrays(np.float32, (12, 16), elements=st.floats(0.25, 80.0, width=32)))
def test_backproject_then_project_is_identity(depth: np.ndarray) -> None:
    intr = PinholeIntrinsics(20.0, 21.0, 7.3, 5.9, width=16, height=12)
    points = backproject_depth(depth, intr).reshape(-1, 3)
    uv, z, in_image = project_points(points, intr)
    assert in_image.all()
    v, u = np.mgrid[0:12, 0:16]
    np.testing.assert_allclose(uv[:, 0], u.reshape(-1), atol=1e-3)
    np.testing.assert_allclose(uv[:, 1], v.reshape(-1), atol=1e-3)
    np.testing.assert_allclose(z, depth.reshape(-1), rtol=1e-6)


def test_torch_backprojection_matches_numpy() -> None:
    torch = pytest.importorskip("torch")  # the module's other tests run without torch (scripts/jazzy_python_tier.sh)
    rng = np.random.default_rng(0)
    depth = rng.uniform(1, 50, size=(480, 640)).astype(np.float32)
    k = torch.tensor(INTR.matrix, dtype=torch.float32)[None]
    torch_points = backproject_depth_torch(torch.from_numpy(depth)[None, None], k)[0].numpy()
    np.testing.assert_allclose(torch_points, backproject_depth(depth, INTR), rtol=1e-5, atol=1e-5)


def test_zbuffer_keeps_the_nearest_point() -> None:
    far = np.array([[0.0, 0.0, 10.0]])
    near = np.array([[0.0, 0.0, 4.0]])
    behind = np.array([[0.0, 0.0, -4.0]])
    points = np.concatenate([far, near, behind, far * 2])
    depth, winners = zbuffer_depth(points, INTR)
    v, u = round(INTR.cy), round(INTR.cx)
    assert depth[v, u] == 4.0
    assert winners.tolist() == [1]
    assert np.isfinite(depth).sum() == 1


def test_zbuffer_of_empty_and_all_behind() -> None:
    depth, winners = zbuffer_depth(np.zeros((0, 3)), INTR)
    assert np.isnan(depth).all() and winners.size == 0
    depth, winners = zbuffer_depth(np.array([[1.0, 1.0, -1.0]]), INTR)
    assert np.isnan(depth).all() and winners.size == 0


def test_kitti_velodyne_projects_inside_the_image_with_plausible_depth(kitti_object_dir) -> None:  # type: ignore[no-untyped-def]
    from mono_depth_ros.training.data.kitti_files import load_object_calibration, load_rgb, load_velodyne

    for frame in ("000000", "000001", "000002"):
        image = load_rgb(kitti_object_dir / "image_2" / f"{frame}.png")
        calib = load_object_calibration(kitti_object_dir / "calib" / f"{frame}.txt", image.shape[1], image.shape[0])
        scan = load_velodyne(kitti_object_dir / "velodyne" / f"{frame}.bin")
        assert scan.shape[0] > 100_000
        points_in_camera = calib.cam_from_velo.apply(scan[:, :3].astype(np.float64))
        uv, z, in_image = project_points(points_in_camera, calib.intrinsics)
        # ~18-20k of ~120k points land in the image (data README)
        assert 15_000 < in_image.sum() < 25_000
        assert np.all(uv[in_image, 0] >= -0.5) and np.all(uv[in_image, 0] < image.shape[1] - 0.5)
        depths = z[in_image]
        assert np.percentile(depths, 1) > 1.0 and np.percentile(depths, 99) < 85.0
        # the lower image rows see the road close by, the rows near the horizon see far
        rows = uv[in_image, 1]
        assert np.median(depths[rows > 300]) < np.median(depths[rows < 200])
        # the road surface is about 1.65 m below the camera (KITTI camera height), y points down
        road = points_in_camera[in_image][(rows > 330)]
        assert 1.3 < np.median(road[:, 1]) < 2.0


def _matrix_of_quaternion(q_xyzw: np.ndarray) -> np.ndarray:
    """The rotation of a unit Hamilton quaternion (x, y, z, w), written out (tf2's Matrix3x3::setRotation)."""
    x, y, z, w = q_xyzw / np.linalg.norm(q_xyzw)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _slerp_xyzw(q0: np.ndarray, q1: np.ndarray, fraction: float) -> np.ndarray:
    """tf2's Quaternion::slerp, written out: along the shorter arc (q1 negated when the dot product is negative)."""
    q0, q1 = q0 / np.linalg.norm(q0), q1 / np.linalg.norm(q1)
    if np.dot(q0, q1) < 0.0:
        q1 = -q1
    theta = float(np.arccos(np.clip(np.dot(q0, q1), -1.0, 1.0)))
    if theta < 1e-9:
        return q0
    return np.asarray((math.sin((1.0 - fraction) * theta) * q0 + math.sin(fraction * theta) * q1) / math.sin(theta))


@given(unit_quaternions, translations, st.floats(0.9995, 1.0005))
def test_quaternion_xyzw_is_the_written_out_hamilton_rotation_whatever_its_sign_and_near_unit_norm(
    q: np.ndarray, t: np.ndarray, norm: float
) -> None:
    """ROS order (x, y, z, w), Hamilton product (tf2): q and -q (negative w) give the same rotation, a norm within
    1e-3 of 1 is used normalised, and quaternion_xyzw gives back q up to its sign, with w >= 0."""
    q_unit = q / np.linalg.norm(q)
    for given_q in (q_unit * norm, -q_unit * norm):
        tf = RigidTransform.from_translation_quaternion(t, given_q)
        np.testing.assert_allclose(tf.rotation, _matrix_of_quaternion(q_unit), atol=1e-12)
        np.testing.assert_allclose(tf.translation, t, atol=0)
    back = tf.quaternion_xyzw
    assert back[3] >= 0.0
    assert abs(float(np.dot(back, q_unit))) == pytest.approx(1.0, abs=1e-12)  # +q or -q (both when w = 0)


@settings(max_examples=60, deadline=None)
@given(unit_quaternions, translations, unit_quaternions, translations, st.floats(0.0, 1.0))
def test_interpolation_is_tf2s_slerp_written_out(
    q0: np.ndarray, t0: np.ndarray, q1: np.ndarray, t1: np.ndarray, fraction: float
) -> None:
    """Translation linear, rotation tf2's slerp along the shorter arc (away from a half turn, where both are)."""
    assume(abs(float(np.dot(q0, q1))) > 1e-3 * np.linalg.norm(q0) * np.linalg.norm(q1))
    start, end = _transform(q0, t0), _transform(q1, t1)
    middle = start.interpolate(end, fraction)
    np.testing.assert_allclose(middle.rotation, _matrix_of_quaternion(_slerp_xyzw(q0, q1, fraction)), atol=1e-7)
    np.testing.assert_allclose(middle.translation, t0 + fraction * (t1 - t0), atol=1e-9)


@given(
    unit_quaternions,
    translations,
    unit_quaternions,
    translations,
    hnp.arrays(np.float64, (6, 3), elements=st.floats(-100, 100)),
)
def test_compose_and_inverse_act_on_points_as_their_matrices(
    q0: np.ndarray, t0: np.ndarray, q1: np.ndarray, t1: np.ndarray, points: np.ndarray
) -> None:
    """a_from_b @ b_from_c applies b_from_c first; inverse() is the 4x4 matrix inverse (numpy, written out)."""
    a_from_b, b_from_c = _transform(q0, t0, "a", "b"), _transform(q1, t1, "b", "c")
    homogeneous = np.hstack([points, np.ones((6, 1))])
    expected = (a_from_b.matrix @ b_from_c.matrix @ homogeneous.T).T[:, :3]
    np.testing.assert_allclose((a_from_b @ b_from_c).apply(points), expected, atol=1e-9)
    np.testing.assert_allclose(a_from_b.apply(b_from_c.apply(points)), expected, atol=1e-9)
    np.testing.assert_allclose(a_from_b.inverse().matrix, np.linalg.inv(a_from_b.matrix), atol=1e-12)
    assert (a_from_b.inverse().dst_frame, a_from_b.inverse().src_frame) == ("b", "a")


@settings(max_examples=60, deadline=None)
@given(
    st.floats(100.0, 1500.0),
    st.floats(0.8, 1.2),
    st.floats(-50.0, 700.0),
    st.floats(-50.0, 400.0),
    hnp.arrays(np.float64, (40, 3), elements=st.floats(-30.0, 30.0)),
)
def test_project_points_is_opencvs_pinhole_projection_and_in_image_its_rounded_pixel(
    fx: float, aspect: float, cx: float, cy: float, points: np.ndarray
) -> None:
    """cv2.projectPoints without distortion gives the same pixels for points in front (z > min_depth_m); behind the
    camera (or nearer) is NaN and never in the image; in_image is the rounded pixel inside the W x H grid."""
    import cv2

    intr = PinholeIntrinsics(fx, fx * aspect, cx, cy, width=640, height=360)
    uv, z, in_image = project_points(points, intr)
    ahead = points[:, 2] > 1e-3
    np.testing.assert_array_equal(z, points[:, 2])
    assert np.isnan(uv[~ahead]).all() and not in_image[~ahead].any()
    if ahead.any():
        cv_uv, _ = cv2.projectPoints(points[ahead].reshape(-1, 1, 3), np.zeros(3), np.zeros(3), intr.matrix, None)
        np.testing.assert_allclose(uv[ahead], cv_uv.reshape(-1, 2), rtol=1e-9, atol=1e-6)
        pixel = np.rint(uv[ahead])
        inside = (pixel[:, 0] >= 0) & (pixel[:, 0] <= 639) & (pixel[:, 1] >= 0) & (pixel[:, 1] <= 359)
        np.testing.assert_array_equal(in_image[ahead], inside)


def test_values_key_follows_the_values_not_the_object_or_its_frames() -> None:
    """Equal for a copy of the same values (other frame names too), different after an in-place correction of the
    rotation or the translation (the arrays are writable) and for -0.0 against 0.0 (its bits: a new key, never a
    wrong hit)."""
    t = RigidTransform(np.eye(3), np.array([0.1, 0.0, 0.0]), "camera", "lidar")
    key = t.values_key
    assert RigidTransform(np.eye(3), np.array([0.1, 0.0, 0.0]), "a", "b").values_key == key
    t.translation[1] = 0.3
    assert t.values_key != key
    t.translation[1] = 0.0
    assert t.values_key == key
    t.rotation[:] = np.diag([-1.0, -1.0, 1.0])
    assert t.values_key != key
    assert RigidTransform(np.eye(3), np.array([0.1, -0.0, 0.0])).values_key != key
