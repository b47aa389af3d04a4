"""Self-supervision geometry: the pose network and view synthesis (back-project, transform, project, sample).

Conventions: images are (B, 3, H, W) float RGB in [0, 1]; depth is (B, 1, H, W) metres (or scaled units) along the
optical z axis of the **target** camera; ``k`` is (B, 3, 3) in pixels; poses are (B, 4, 4) homogeneous
``source_from_target`` (a point in the target camera frame -> the same point in the source camera frame; optical
frames, x right, y down, z forward). Warping samples the source image at the pixels where the target's 3-D points
land in the source camera, giving the source "as seen from" the target.

The pose network follows monodepth2 / SfMLearner: two stacked frames in, 6 numbers out (axis-angle rotation and
translation), scaled by 0.01 so that a fresh network predicts near-identity motion, turned into a matrix with the
Rodrigues formula. The LiDAR term of Guizilini et al. (CoRL 2019, "Robust semi-supervised monocular depth estimation
with reprojected distances") compares where a pixel lands in the source view with the predicted depth and with the
LiDAR depth: a pixel distance, which fixes the metric scale of depth and pose together.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.core.geometry import backproject_depth_torch

POSE_SCALE = 0.01  # monodepth2: raw pose outputs are multiplied by 0.01 (near-identity start)
MIN_PROJECTION_DEPTH = 1e-3  # points with source-camera z at or below this (metres) are not projected
_SMALL_ANGLE = 1e-4  # below this rotation angle (rad) Rodrigues uses its Taylor expansion


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rodrigues: rotation vector (axis × angle, radians) -> rotation matrix.

    ``R = I + a [w]x + b [w]x²`` with ``a = sin θ / θ``, ``b = (1 - cos θ) / θ²`` (Taylor series near θ = 0, so the
    gradient is finite at the identity).

    Args:
        axis_angle: (..., 3) float.

    Returns:
        (..., 3, 3) rotation matrices, same dtype and device.
    """
    if axis_angle.shape[-1] != 3:
        msg = f"axis-angle must be (..., 3), got {tuple(axis_angle.shape)}"
        raise ShapeError(msg)
    theta2 = (axis_angle**2).sum(-1, keepdim=True)
    theta = theta2.clamp_min(_SMALL_ANGLE**2).sqrt()
    small = theta2 < _SMALL_ANGLE**2
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta**2)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + a[..., None] * skew + b[..., None] * (skew @ skew)


def pose_to_matrix(axis_angle: Tensor, translation: Tensor) -> Tensor:
    """(B, 3) rotation vector + (B, 3) translation -> (B, 4, 4) homogeneous transform ``[R t; 0 1]``."""
    batch = axis_angle.shape[0]
    matrix = torch.zeros(batch, 4, 4, dtype=axis_angle.dtype, device=axis_angle.device)
    matrix[:, :3, :3] = axis_angle_to_matrix(axis_angle)
    matrix[:, :3, 3] = translation
    matrix[:, 3, 3] = 1.0
    return matrix


class PoseOutput(NamedTuple):
    """What :class:`PoseNet` returns.

    Attributes:
        axis_angle: (B, 3) rotation vector of ``source_from_target`` (radians).
        translation: (B, 3) translation of ``source_from_target`` (units of the depth it is trained with).
        source_from_target: (B, 4, 4) the homogeneous transform.
    """

    axis_angle: Tensor
    translation: Tensor
    source_from_target: Tensor


class PoseNet(nn.Module):
    """Small convolutional pose network (SfMLearner / monodepth2 "posecnn" layout).

    Seven stride-2 conv + ReLU layers (kernels 7, 5, then 3; widths ``width × (1, 2, 4, 8, 16, 16, 16)``; He
    initialisation, zero biases), a 1×1 conv to 6 channels, spatial mean, times :data:`POSE_SCALE`.

    Args:
        width: channels of the first layer.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        widths = [width * m for m in (1, 2, 4, 8, 16, 16, 16)]
        layers: list[nn.Module] = []
        in_ch = 6
        for index, out_ch in enumerate(widths):
            kernel = 7 if index == 0 else 5 if index == 1 else 3
            layers += [nn.Conv2d(in_ch, out_ch, kernel, stride=2, padding=kernel // 2), nn.ReLU(inplace=True)]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(in_ch, 6, 1)
        # He init and zero biases: under PyTorch's default init the 7-layer stack shrinks its input until the
        # output is the last bias alone, the same for every frame pair, and the pose network never starts learning.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, target: Tensor, source: Tensor) -> PoseOutput:
        """Predict ``source_from_target``.

        Args:
            target, source: (B, 3, H, W) normalised images (same normalisation as the depth network's input).

        Returns:
            A fresh :class:`PoseOutput`.
        """
        if target.shape != source.shape or target.dim() != 4 or target.shape[1] != 3:
            msg = (
                f"PoseNet needs two (B, 3, H, W) images of one shape, got {tuple(target.shape)}, {tuple(source.shape)}"
            )
            raise ShapeError(msg)
        out = POSE_SCALE * self.head(self.features(torch.cat([target, source], dim=1))).mean(dim=(2, 3))
        axis_angle, translation = out[:, :3], out[:, 3:]
        return PoseOutput(axis_angle, translation, pose_to_matrix(axis_angle, translation))


def invert_pose(matrix: Tensor) -> Tensor:
    """Inverse of (B, 4, 4) rigid transforms: ``[R t; 0 1]⁻¹ = [Rᵀ  -Rᵀt; 0 1]``."""
    rotation_t = matrix[:, :3, :3].transpose(1, 2)
    inverse = torch.zeros_like(matrix)
    inverse[:, :3, :3] = rotation_t
    inverse[:, :3, 3] = -(rotation_t @ matrix[:, :3, 3:4])[..., 0]
    inverse[:, 3, 3] = 1.0
    return inverse


def estimate_pose(pose_net: PoseNet, target: Tensor, source: Tensor, source_is_earlier: bool) -> Tensor:
    """``source_from_target`` (B, 4, 4) from the pose network, always fed in temporal order (monodepth2).

    The network sees (earlier frame, later frame) and predicts ``later_from_earlier``; for an earlier source that is
    ``target_from_source`` and is inverted. Fed in temporal order, the network never has to learn which of its two
    inputs came first, and the previous and next frames push its weights the same way (fed as (target, source),
    their gradients cancel at the start, when it cannot yet tell the two orders apart).

    Args:
        target, source: (B, 3, H, W) normalised images.
        source_is_earlier: the source precedes the target in time (negative frame offset).
    """
    if source_is_earlier:
        target_from_source: Tensor = pose_net(source, target).source_from_target
        return invert_pose(target_from_source)
    source_from_target: Tensor = pose_net(target, source).source_from_target
    return source_from_target


class Projection(NamedTuple):
    """Where the target pixels land in the source camera.

    Attributes:
        uv: (B, H, W, 2) source pixel coordinates (u right, v down).
        depth: (B, 1, H, W) z of the points in the source camera frame.
        valid: (B, 1, H, W) bool: in front of the source camera and inside the source image.
    """

    uv: Tensor
    depth: Tensor
    valid: Tensor


def project_to_source(depth_target: Tensor, k: Tensor, source_from_target: Tensor) -> Projection:
    """Back-project the target depth, move the points into the source camera, project them.

    Args:
        depth_target: (B, 1, H, W) target depth (> 0; non-finite pixels come out invalid).
        k: (B, 3, 3) intrinsics in pixels (shared by both cameras).
        source_from_target: (B, 4, 4).

    Returns:
        A :class:`Projection`; the source image is assumed to have the target's size.
    """
    batch, _, height, width = depth_target.shape
    if source_from_target.shape != (batch, 4, 4):
        msg = f"source_from_target must be ({batch}, 4, 4), got {tuple(source_from_target.shape)}"
        raise ShapeError(msg)
    points_in_target = backproject_depth_torch(depth_target, k)  # (B, H, W, 3)
    rotation = source_from_target[:, :3, :3].to(points_in_target.dtype)
    translation = source_from_target[:, None, None, :3, 3].to(points_in_target.dtype)
    points_in_source = torch.einsum("bij,bhwj->bhwi", rotation, points_in_target) + translation
    z = points_in_source[..., 2]
    z_safe = z.clamp_min(MIN_PROJECTION_DEPTH)
    k = k.to(points_in_target.dtype)
    u = k[:, 0, 0, None, None] * points_in_source[..., 0] / z_safe + k[:, 0, 2, None, None]
    v = k[:, 1, 1, None, None] * points_in_source[..., 1] / z_safe + k[:, 1, 2, None, None]
    valid = (z > MIN_PROJECTION_DEPTH) & (u >= 0) & (u <= width - 1) & (v >= 0) & (v <= height - 1)
    valid &= torch.isfinite(u) & torch.isfinite(v)
    return Projection(torch.stack([u, v], dim=-1), z[:, None], valid[:, None])


class Warp(NamedTuple):
    """A source image resampled into the target view.

    Attributes:
        image: (B, C, H, W) the warped source.
        valid: (B, 1, H, W) bool: the sample came from inside the source image (not border padding).
    """

    image: Tensor
    valid: Tensor


def warp_to_target(
    source_image: Tensor, depth_target: Tensor, k: Tensor, source_from_target: Tensor, padding_mode: str = "border"
) -> Warp:
    """Synthesise the target view from a source image, the target depth and the relative pose.

    Bilinear ``grid_sample`` with ``align_corners=True`` (pixel centres at integer coordinates, as ``k`` assumes);
    samples outside the source use ``padding_mode`` (``border``: monodepth2; ``zeros``).

    Args:
        source_image: (B, C, H, W) float.
        depth_target: (B, 1, H, W) target depth.
        k: (B, 3, 3) intrinsics.
        source_from_target: (B, 4, 4).
        padding_mode: ``border`` | ``zeros`` | ``reflection``.

    Returns:
        A :class:`Warp`.
    """
    if source_image.shape[0] != depth_target.shape[0] or source_image.shape[-2:] != depth_target.shape[-2:]:
        msg = f"source image {tuple(source_image.shape)} and target depth {tuple(depth_target.shape)} do not match"
        raise ShapeError(msg)
    height, width = depth_target.shape[-2:]
    projection = project_to_source(depth_target, k, source_from_target)
    scale = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], device=source_image.device)
    grid = projection.uv.to(source_image.dtype) * scale.to(source_image.dtype) - 1.0
    grid = torch.nan_to_num(grid, nan=-2.0, posinf=-2.0, neginf=-2.0)  # invalid points sample the padding
    image = F.grid_sample(source_image, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)
    return Warp(image, projection.valid)


def reprojected_distance_loss(
    pred_depth: Tensor, lidar_depth: Tensor, k: Tensor, source_from_target: Tensor, max_pixels: float = 50.0
) -> Tensor:
    """Guizilini et al. (CoRL 2019) reprojected distance: mean |uv(pred) - uv(LiDAR)|₁ in the source image (pixels).

    Each pixel with a LiDAR depth is projected into the source camera twice, once with the predicted depth and once
    with the LiDAR depth, through the same pose; the L1 distance between the two pixel positions is averaged over
    pixels valid in both (clipped at ``max_pixels`` against outliers). Unlike a plain depth L1 it weighs errors by
    their effect on the image. It fixes the metric scale of depth; the objective passes the pose detached (through the
    pose the term would shrink the translation instead), and the photometric loss then carries that scale to the pose.

    Args:
        pred_depth: (B, 1, H, W) predicted target depth, metres.
        lidar_depth: (B, 1, H, W) projected LiDAR depth, metres; NaN / 0 = no return.
        k: (B, 3, 3); source_from_target: (B, 4, 4).
        max_pixels: per-pixel clip of the distance.

    Returns:
        Scalar; 0 (with a graph) when no pixel has LiDAR.
    """
    has_lidar = torch.isfinite(lidar_depth) & (lidar_depth > 0)
    lidar_safe = torch.where(has_lidar, lidar_depth, torch.ones_like(lidar_depth))
    predicted = project_to_source(pred_depth, k, source_from_target)
    measured = project_to_source(lidar_safe, k, source_from_target)
    mask = (has_lidar & predicted.valid & measured.valid)[:, 0]
    distance = (predicted.uv - measured.uv).abs().sum(-1).clamp_max(max_pixels)
    weight = mask.to(distance.dtype)
    return (torch.nan_to_num(distance) * weight).sum() / weight.sum().clamp_min(1.0)
