from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mono_depth_ros.core.errors import ShapeError, TransformError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.scale.motion import CameraTwist, motion_compensate

vectors = hnp.arrays(np.float64, 3, elements=st.floats(-3, 3))
POINTS = np.random.default_rng(0).uniform(-20, 20, size=(50, 3))


def _exact(points: np.ndarray, linear: np.ndarray, angular: np.ndarray, dt: float) -> np.ndarray:
    """Reference: the camera pose exp(dt · twist) by torch's matrix exponential of the 4x4 twist, then its inverse."""
    wx, wy, wz = angular
    generator = np.zeros((4, 4))
    generator[:3, :3] = [[0.0, -wz, wy], [wz, 0.0, -wx], [-wy, wx, 0.0]]
    generator[:3, 3] = linear
    pose = torch.linalg.matrix_exp(torch.from_numpy(generator * dt)).numpy()  # camera(t) in camera(0)
    return RigidTransform(pose[:3, :3], pose[:3, 3]).inverse().apply(points)


def test_pure_translation_moves_points_by_minus_v_dt() -> None:
    twist = CameraTwist(np.array([1.0, 0.0, 10.0]), np.zeros(3))
    moved = motion_compensate(POINTS, twist, 0.1)
    np.testing.assert_allclose(moved, POINTS - [0.1, 0.0, 1.0], atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(vectors, vectors, st.floats(-0.2, 0.2))
def test_matches_integrated_constant_twist(linear: np.ndarray, angular: np.ndarray, dt: float) -> None:
    moved = motion_compensate(POINTS, CameraTwist(linear, angular), dt)
    np.testing.assert_allclose(moved, _exact(POINTS, linear, angular, dt), atol=1e-9)


def test_per_point_times_equal_scalar_times_and_zero_is_identity() -> None:
    twist = CameraTwist(np.array([0.5, 0.0, 8.0]), np.array([0.0, 0.3, 0.05]))
    dt = np.linspace(-0.05, 0.05, POINTS.shape[0])
    per_point = motion_compensate(POINTS, twist, dt)
    for i in (0, 17, 49):
        np.testing.assert_allclose(per_point[i], motion_compensate(POINTS[i : i + 1], twist, float(dt[i]))[0])
    np.testing.assert_allclose(motion_compensate(POINTS, twist, 0.0), POINTS, atol=1e-12)
    assert motion_compensate(POINTS.astype(np.float32), twist, 0.1).dtype == np.float32


def test_body_twist_is_re_expressed_at_the_camera() -> None:
    # Body turning left at 1 rad/s (z up) while standing still; camera 2 m ahead of the body origin, looking forward.
    cam_from_body = RigidTransform(np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), np.zeros(3))
    cam_from_body = RigidTransform(cam_from_body.rotation, -cam_from_body.rotation @ np.array([2.0, 0.0, 0.0]))
    twist = CameraTwist.from_body_twist([0.0, 0.0, 0.0], [0.0, 0.0, 1.0], cam_from_body)
    # The camera origin moves left (body +y) at 2 m/s = camera -x; the rotation is about camera -y.
    np.testing.assert_allclose(twist.linear_mps, [-2.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(twist.angular_rps, [0.0, -1.0, 0.0], atol=1e-12)


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ShapeError, match="3-vectors"):
        CameraTwist(np.zeros(2), np.zeros(3))
    with pytest.raises(TransformError, match="NaN"):
        CameraTwist(np.array([np.nan, 0, 0]), np.zeros(3))
    twist = CameraTwist(np.zeros(3), np.zeros(3))
    with pytest.raises(ShapeError, match="dt_s"):
        motion_compensate(POINTS, twist, np.zeros(3))
    with pytest.raises(ShapeError, match=r"\(N, 3\)"):
        motion_compensate(np.zeros((4, 2)), twist, 0.1)
