"""Rigid transforms, back-projection and projection with a z-buffer.

Frames are named in every transform (``cam_from_lidar`` maps points *in lidar* to points *in cam*).
Quaternions are in ROS order ``(x, y, z, w)``; quaternion maths comes from transforms3d (which uses
``(w, x, y, z)``: the reorder happens here and nowhere else). Points are ``(..., N, 3)`` float arrays in
metres. Depth is ``(H, W)`` float32 metres along the optical z axis, NaN/±Inf invalid (see depth_codec).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import transforms3d.quaternions as tq

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ShapeError, TransformError

if TYPE_CHECKING:
    import torch

FloatArray = npt.NDArray[np.float64]
_QUAT_NORM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class RigidTransform:
    """``dst_from_src``: maps a point in ``src_frame`` to the same point in ``dst_frame`` (p_dst = R p_src + t).

    Attributes:
        rotation: (3, 3) float64 rotation matrix.
        translation: (3,) float64 metres.
        dst_frame, src_frame: frame ids (empty string = unnamed; unnamed frames chain with anything).
    """

    rotation: FloatArray
    translation: FloatArray
    dst_frame: str = ""
    src_frame: str = ""

    def __post_init__(self) -> None:
        rotation = np.asarray(self.rotation, dtype=np.float64)
        translation = np.asarray(self.translation, dtype=np.float64).reshape(-1)
        if rotation.shape != (3, 3) or translation.shape != (3,):
            msg = f"rotation must be 3x3 and translation 3-vector, got {rotation.shape} and {translation.shape}"
            raise TransformError(msg)
        if not (np.all(np.isfinite(rotation)) and np.all(np.isfinite(translation))):
            msg = f"transform {self.dst_frame}<-{self.src_frame} contains NaN or Inf"
            raise TransformError(msg)
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(self, "translation", translation)

    @classmethod
    def identity(cls, dst_frame: str = "", src_frame: str = "") -> RigidTransform:
        """The identity transform between two (possibly equal) frames."""
        return cls(np.eye(3), np.zeros(3), dst_frame, src_frame)

    @classmethod
    def from_translation_quaternion(
        cls,
        translation_xyz: npt.ArrayLike,
        quaternion_xyzw: npt.ArrayLike,
        dst_frame: str = "",
        src_frame: str = "",
    ) -> RigidTransform:
        """Build from a ROS ``geometry_msgs/Transform``: translation (m) and quaternion ``(x, y, z, w)``.

        Raises:
            TransformError: the quaternion is not unit length (tolerance 1e-3) or not finite.
        """
        q_xyzw = np.asarray(quaternion_xyzw, dtype=np.float64).reshape(-1)
        if q_xyzw.shape != (4,) or not np.all(np.isfinite(q_xyzw)):
            msg = f"quaternion must be 4 finite values (x, y, z, w), got {q_xyzw.tolist()}"
            raise TransformError(msg)
        norm = float(np.linalg.norm(q_xyzw))
        if abs(norm - 1.0) > _QUAT_NORM_TOLERANCE:
            msg = (
                f"quaternion (x, y, z, w) = {q_xyzw.tolist()} has norm {norm:.6f}, not 1; "
                f"check the TF publisher (x, y, z, w order, normalised)"
            )
            raise TransformError(msg)
        q_wxyz = np.array([q_xyzw[3], q_xyzw[0], q_xyzw[1], q_xyzw[2]]) / norm
        return cls(tq.quat2mat(q_wxyz), np.asarray(translation_xyz, dtype=np.float64), dst_frame, src_frame)

    @classmethod
    def from_matrix(cls, matrix: npt.ArrayLike, dst_frame: str = "", src_frame: str = "") -> RigidTransform:
        """Build from a 4×4 (or 3×4) homogeneous matrix."""
        m = np.asarray(matrix, dtype=np.float64)
        if m.shape not in ((4, 4), (3, 4)):
            msg = f"homogeneous matrix must be 4x4 or 3x4, got {m.shape}"
            raise TransformError(msg)
        return cls(m[:3, :3], m[:3, 3], dst_frame, src_frame)

    @property
    def quaternion_xyzw(self) -> FloatArray:
        """Rotation as a unit quaternion in ROS order ``(x, y, z, w)`` with ``w >= 0``."""
        w, x, y, z = tq.mat2quat(self.rotation)
        q = np.array([x, y, z, w])
        return -q if w < 0 else q

    @property
    def matrix(self) -> FloatArray:
        """4×4 homogeneous matrix (float64)."""
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.translation
        return m

    @property
    def values_key(self) -> bytes:
        """The rotation's and translation's float64 bits, frame names left out: the key of a result computed from
        the values alone. Read it each time: the transform is frozen but its numpy arrays are not (a caller may
        correct them in place), so the object's identity does not stand for its values."""
        return self.rotation.tobytes() + self.translation.tobytes()

    def inverse(self) -> RigidTransform:
        """``src_from_dst``."""
        r_inv = self.rotation.T
        return RigidTransform(r_inv, -r_inv @ self.translation, self.src_frame, self.dst_frame)

    def __matmul__(self, other: RigidTransform) -> RigidTransform:
        """Compose ``a_from_b @ b_from_c -> a_from_c``; raises if the frames do not chain."""
        if self.src_frame and other.dst_frame and self.src_frame != other.dst_frame:
            msg = (
                f"cannot compose {self.dst_frame}_from_{self.src_frame} with "
                f"{other.dst_frame}_from_{other.src_frame}: frames do not chain"
            )
            raise TransformError(msg)
        return RigidTransform(
            self.rotation @ other.rotation,
            self.rotation @ other.translation + self.translation,
            self.dst_frame,
            other.src_frame,
        )

    def interpolate(self, other: RigidTransform, fraction: float) -> RigidTransform:
        """The transform ``fraction`` of the way from ``self`` (0) to ``other`` (1), as tf2 interpolates samples.

        Translation is interpolated linearly, rotation by slerp along the shorter arc (transforms3d's
        quaternion power). Both must map between the same frames.

        Raises:
            TransformError: the frames differ, or ``fraction`` is not finite.
        """
        if (self.dst_frame, self.src_frame) != (other.dst_frame, other.src_frame):
            msg = (
                f"cannot interpolate {self.dst_frame}_from_{self.src_frame} towards "
                f"{other.dst_frame}_from_{other.src_frame}: frames differ"
            )
            raise TransformError(msg)
        if not np.isfinite(fraction):
            msg = f"interpolation fraction must be finite, got {fraction}"
            raise TransformError(msg)
        q_start = tq.mat2quat(self.rotation)  # (w, x, y, z)
        q_end = tq.mat2quat(other.rotation)
        if float(np.dot(q_start, q_end)) < 0.0:
            q_end = -q_end  # the same rotation; this sign takes the shorter arc
        q_delta = tq.qmult(tq.qinverse(q_start), q_end)
        q_delta = q_delta / tq.qnorm(q_delta)
        rotation = tq.quat2mat(tq.qmult(q_start, tq.qpow(q_delta, fraction)))
        translation = self.translation + fraction * (other.translation - self.translation)
        return RigidTransform(rotation, translation, self.dst_frame, self.src_frame)

    def apply(self, points_in_src: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]:
        """Transform ``(..., 3)`` points from ``src_frame`` to ``dst_frame``; keeps the input float dtype."""
        points = np.asarray(points_in_src)
        if points.shape[-1] != 3:
            msg = f"points must have shape (..., 3), got {points.shape}"
            raise ShapeError(msg)
        dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64
        rotation = self.rotation.astype(dtype)
        translation = self.translation.astype(dtype)
        transformed: npt.NDArray[np.floating] = points @ rotation.T + translation
        return transformed


def pixel_rays(intrinsics: PinholeIntrinsics) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per-column ``(u - cx) / fx`` (W,) and per-row ``(v - cy) / fy`` (H,) as float32.

    ``x = depth * ray_x[u]``, ``y = depth * ray_y[v]``: the separable form of depth_image_proc's back-projection.
    """
    ray_x = (np.arange(intrinsics.width, dtype=np.float64) - intrinsics.cx) / intrinsics.fx
    ray_y = (np.arange(intrinsics.height, dtype=np.float64) - intrinsics.cy) / intrinsics.fy
    return ray_x.astype(np.float32), ray_y.astype(np.float32)


def backproject_depth(depth_m: npt.NDArray[np.floating], intrinsics: PinholeIntrinsics) -> npt.NDArray[np.float32]:
    """Depth image → organized points in the camera optical frame (depth_image_proc ``convertDepth``).

    Args:
        depth_m: (H, W) float metres along z; NaN/±Inf/<=0 are invalid.
        intrinsics: pinhole intrinsics of that image (from P for rectified images).

    Returns:
        (H, W, 3) float32 ``x, y, z`` in metres, optical frame (x right, y down, z forward);
        all three are NaN where the depth is invalid.
    """
    if depth_m.ndim != 2:
        msg = f"depth must be (H, W), got shape {depth_m.shape}"
        raise ShapeError(msg)
    intrinsics.check_image_size(depth_m.shape[1], depth_m.shape[0], what="depth image")
    ray_x, ray_y = pixel_rays(intrinsics)
    z = depth_m.astype(np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        z[~(np.isfinite(z) & (z > 0))] = np.nan
    points = np.empty((*z.shape, 3), dtype=np.float32)
    np.multiply(z, ray_x[None, :], out=points[..., 0])
    np.multiply(z, ray_y[:, None], out=points[..., 1])
    points[..., 2] = z
    return points


def backproject_depth_torch(depth_m: torch.Tensor, k_matrix: torch.Tensor) -> torch.Tensor:
    """Batched torch back-projection (differentiable; used by training and the GPU path).

    Args:
        depth_m: (B, 1, H, W) depth in metres (any float dtype, any device).
        k_matrix: (B, 3, 3) camera matrices in pixels, same device.

    Returns:
        (B, H, W, 3) points in the camera optical frame. Invalid depths are not masked (callers mask).
    """
    import torch

    if depth_m.ndim != 4 or depth_m.shape[1] != 1:
        msg = f"depth must be (B, 1, H, W), got {tuple(depth_m.shape)}"
        raise ShapeError(msg)
    batch, _, height, width = depth_m.shape
    if k_matrix.shape != (batch, 3, 3):
        msg = f"k_matrix must be ({batch}, 3, 3), got {tuple(k_matrix.shape)}"
        raise ShapeError(msg)
    dtype = depth_m.dtype
    v, u = torch.meshgrid(
        torch.arange(height, device=depth_m.device, dtype=dtype),
        torch.arange(width, device=depth_m.device, dtype=dtype),
        indexing="ij",
    )
    fx = k_matrix[:, 0, 0].to(dtype).view(batch, 1, 1)
    fy = k_matrix[:, 1, 1].to(dtype).view(batch, 1, 1)
    cx = k_matrix[:, 0, 2].to(dtype).view(batch, 1, 1)
    cy = k_matrix[:, 1, 2].to(dtype).view(batch, 1, 1)
    z = depth_m[:, 0]
    x = (u - cx) / fx * z
    y = (v - cy) / fy * z
    return torch.stack([x, y, z], dim=-1)


def project_points(
    points_in_camera: npt.NDArray[np.floating], intrinsics: PinholeIntrinsics, min_depth_m: float = 1e-3
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """Project (N, 3) optical-frame points to pixels.

    Returns:
        ``(uv, depth_m, in_image)``: (N, 2) float64 pixel coordinates (NaN for z <= ``min_depth_m``),
        (N,) float64 depth z, and (N,) bool mask of points in front of the camera whose rounded pixel
        lies inside the image.
    """
    points = np.asarray(points_in_camera, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        msg = f"points must be (N, 3), got {points.shape}"
        raise ShapeError(msg)
    z = points[:, 2]
    in_front = z > min_depth_m
    uv = np.full((points.shape[0], 2), np.nan)
    zf = z[in_front]
    uv[in_front, 0] = intrinsics.fx * points[in_front, 0] / zf + intrinsics.cx
    uv[in_front, 1] = intrinsics.fy * points[in_front, 1] / zf + intrinsics.cy
    with np.errstate(invalid="ignore"):
        u_round = np.rint(uv[:, 0])
        v_round = np.rint(uv[:, 1])
        in_image = (
            in_front & (u_round >= 0) & (u_round < intrinsics.width) & (v_round >= 0) & (v_round < intrinsics.height)
        )
    return uv, z, in_image


def zbuffer_depth(
    points_in_camera: npt.NDArray[np.floating], intrinsics: PinholeIntrinsics, min_depth_m: float = 1e-3
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.intp]]:
    """Render points into a sparse depth image; the nearest point wins per pixel.

    Args:
        points_in_camera: (N, 3) points in the camera optical frame, metres.
        intrinsics: target image intrinsics.
        min_depth_m: points with z at or below this are behind the camera and dropped.

    Returns:
        ``(depth_m, winner_index)``: (H, W) float32 depth with NaN where no point landed, and (M,) indices
        into ``points_in_camera`` of the points that won a pixel (in flat pixel order).
    """
    uv, z, in_image = project_points(points_in_camera, intrinsics, min_depth_m)
    candidates = np.flatnonzero(in_image)
    depth = np.full((intrinsics.height, intrinsics.width), np.nan, dtype=np.float32)
    if candidates.size == 0:
        return depth, candidates
    u = np.rint(uv[candidates, 0]).astype(np.intp)
    v = np.rint(uv[candidates, 1]).astype(np.intp)
    flat = v * intrinsics.width + u
    order = np.lexsort((z[candidates], flat))  # by pixel, then nearest first
    flat_sorted = flat[order]
    first = np.ones(flat_sorted.size, dtype=bool)
    first[1:] = flat_sorted[1:] != flat_sorted[:-1]
    winners = candidates[order[first]]
    depth.reshape(-1)[flat_sorted[first]] = z[winners].astype(np.float32)
    return depth, winners
