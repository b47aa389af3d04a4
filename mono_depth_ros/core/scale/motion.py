"""Motion compensation of a LiDAR scan for the time between the scan and the image (constant twist).

A scan stamped ``t_scan`` and an image stamped ``t_image`` see the world from different camera poses when the
robot moves. Given the camera's twist (linear and angular velocity, both expressed in the camera optical frame,
as odometry or TF provides after rotation into that frame), the points are moved from the camera frame at
``t_scan`` to the camera frame at ``t_image`` with the exact SE(3) exponential of the constant twist.
The time difference can be one value for the whole scan, or one per point (``(N,)``) to de-skew a spinning
LiDAR whose points were measured over a revolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ShapeError, TransformError
from mono_depth_ros.core.geometry import RigidTransform

_SMALL_ANGLE_RAD = 1e-9


@dataclass(frozen=True)
class CameraTwist:
    """Velocity of the camera, expressed in the camera optical frame (x right, y down, z forward).

    Attributes:
        linear_mps: (3,) float64 velocity of the camera origin, metres per second.
        angular_rps: (3,) float64 angular velocity, radians per second (right-hand rule about each axis).
    """

    linear_mps: npt.NDArray[np.float64]
    angular_rps: npt.NDArray[np.float64]

    def __post_init__(self) -> None:
        linear = np.asarray(self.linear_mps, dtype=np.float64).reshape(-1)
        angular = np.asarray(self.angular_rps, dtype=np.float64).reshape(-1)
        if linear.shape != (3,) or angular.shape != (3,):
            msg = f"twist needs 3-vectors, got linear {linear.shape} and angular {angular.shape}"
            raise ShapeError(msg)
        if not (np.all(np.isfinite(linear)) and np.all(np.isfinite(angular))):
            msg = f"twist has NaN/Inf: linear {linear.tolist()} angular {angular.tolist()}; check the odometry source"
            raise TransformError(msg)
        object.__setattr__(self, "linear_mps", linear)
        object.__setattr__(self, "angular_rps", angular)

    @classmethod
    def from_body_twist(
        cls, linear_mps: npt.ArrayLike, angular_rps: npt.ArrayLike, cam_from_body: RigidTransform
    ) -> CameraTwist:
        """Re-express a rigid-body twist given in a body frame (e.g. ``base_link`` odometry) at the camera.

        Args:
            linear_mps: (3,) velocity of the body-frame origin, in the body frame (nav_msgs/Odometry twist).
            angular_rps: (3,) angular velocity in the body frame.
            cam_from_body: transform from the body frame to the camera optical frame (TF extrinsic).
        """
        v_body = np.asarray(linear_mps, dtype=np.float64).reshape(3)
        w_body = np.asarray(angular_rps, dtype=np.float64).reshape(3)
        camera_in_body = cam_from_body.inverse().translation
        v_camera_in_body = v_body + np.cross(w_body, camera_in_body)
        return cls(cam_from_body.rotation @ v_camera_in_body, cam_from_body.rotation @ w_body)


def motion_compensate(
    points_in_camera_at_scan: npt.NDArray[np.floating],
    twist: CameraTwist,
    dt_s: float | npt.NDArray[np.floating],
) -> npt.NDArray[np.floating]:
    """Move static-world points from the camera frame at scan time to the camera frame at image time.

    The camera pose at image time, seen from the camera at scan time, is ``exp(dt · twist)`` (SE(3) exponential
    of a constant twist); points are mapped with its inverse. ``dt_s = t_image - t_scan``: positive when the
    scan is older than the image.

    Args:
        points_in_camera_at_scan: (N, 3) float points in the camera optical frame at scan time, metres.
        twist: camera velocity in the camera optical frame.
        dt_s: scalar seconds, or (N,) per-point seconds (de-skewing a spinning LiDAR).

    Returns:
        (N, 3) points in the camera optical frame at image time, same float dtype as the input.
    """
    points = np.asarray(points_in_camera_at_scan)
    if points.ndim != 2 or points.shape[1] != 3:
        msg = f"points must be (N, 3), got {points.shape}"
        raise ShapeError(msg)
    dt = np.asarray(dt_s, dtype=np.float64)
    if dt.ndim not in (0, 1) or (dt.ndim == 1 and dt.shape[0] != points.shape[0]):
        msg = f"dt_s must be a scalar or ({points.shape[0]},), got shape {dt.shape}"
        raise ShapeError(msg)
    dt_col = dt.reshape(-1, 1) if dt.ndim == 1 else dt.reshape(1, 1)
    omega = twist.angular_rps
    rate = float(np.linalg.norm(omega))
    tau = twist.linear_mps[None, :] * dt_col  # first-order translation v·dt, (N or 1, 3)
    p = points.astype(np.float64)
    if rate < _SMALL_ANGLE_RAD:
        moved = p - tau
        return moved.astype(points.dtype, copy=False)
    axis = omega / rate
    theta = rate * dt_col  # (N or 1, 1) rotation angle of the camera over dt
    sin_t, cos_t = np.sin(theta), np.cos(theta)
    small = np.abs(theta) < _SMALL_ANGLE_RAD
    safe_theta = np.where(small, 1.0, theta)
    c1 = np.where(small, 0.0, (1.0 - cos_t) / safe_theta)
    c2 = np.where(small, 0.0, (theta - sin_t) / safe_theta)
    axis_x_tau = np.cross(axis, tau)
    translation = tau + c1 * axis_x_tau + c2 * np.cross(axis, axis_x_tau)  # V(θ) · v dt
    q = p - translation
    # Rotate by -theta about the axis (R^T q), Rodrigues' formula with a shared axis and per-point angle.
    axis_x_q = np.cross(axis, q)
    axis_dot_q = q[:, 0] * axis[0] + q[:, 1] * axis[1] + q[:, 2] * axis[2]
    rotated: npt.NDArray[np.float64] = (
        q * cos_t - axis_x_q * sin_t + axis[None, :] * (axis_dot_q[:, None] * (1.0 - cos_t))
    )
    return rotated.astype(points.dtype, copy=False)
