"""The three training objectives, assembled from :mod:`.losses` and :mod:`.selfsup`.

* ``supervised``: a depth loss (SILog by default) against exact depth, on every disparity scale upsampled to full
  resolution (monodepth2-style multi-scale).
* ``selfsup``: monodepth2 — per-pixel minimum photometric reprojection error (0.85 SSIM + 0.15 L1) over the source
  frames with auto-masking (over the batch's ``seen`` pixels when it has them: a raw camera's black fill, and warps
  that sample it, are no error), plus edge-aware smoothness of mean-normalised disparity (weight / 2^scale), over
  the seen pixels too. Temporal sources take their pose from the pose network (or the true pose with
  ``pose_source: ground_truth``); stereo sources always use the rig's pose. Output depth is up to an unknown
  scale, unless a source's pose is metric (a stereo baseline, true poses): then it is metres
  (:attr:`~..trainer.config.TrainConfig.metric_sources`). ``photometric_resolution: full`` warps at full
  resolution with every disparity upsampled (monodepth2);
  ``pyramid`` compares each scale at its own resolution with downsampled images and intrinsics (SfMLearner /
  monodepth1): the coarse scales see the large image motion of near pixels as a few pixels, which widens the basin
  of convergence on high-frequency textures.
* ``lidar_semi``: ``selfsup`` plus a sparse LiDAR term (Guizilini et al. 2019 reprojected distance, or L1 / berHu on
  depth), which makes depth — and the pose network's translation — metric.

Batches are the dicts of :class:`~mono_depth_ros.training.data.synthetic.SyntheticDepthDataset` (any dataset with
the same keys works): ``rgb``, ``depth``, ``lidar_depth``, ``k``, ``sources``, ``source_from_target``,
``pose_known``, ``source_offset``; optionally ``loss_rgb`` / ``loss_sources``: the same frames before colour jitter
and noise, which the photometric and smoothness terms then compare (monodepth2: the depth and pose networks get
``color_aug``, the loss ``color``; noise drawn per frame would otherwise put the photometric minimum off the true
motion).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.unet import UNetOutput, disp_to_depth
from mono_depth_ros.training.objectives import losses
from mono_depth_ros.training.objectives.selfsup import PoseNet, estimate_pose, reprojected_distance_loss, warp_to_target
from mono_depth_ros.training.trainer.config import LossConfig

_SUPERVISED = {
    "l1": losses.l1_loss,
    "l2": losses.l2_loss,
    "inverse_l2": losses.inverse_depth_weighted_l2,
    "berhu": losses.berhu_loss,
}


def supervised_loss_fn(config: LossConfig, max_depth_m: float) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    """``loss(pred, target, mask)`` of ``loss.supervised_loss`` (+ ``gradient_weight`` x gradient matching)."""
    name = config.supervised_loss
    base: Callable[[Tensor, Tensor, Tensor], Tensor]
    if name == "silog":
        base = partial(losses.silog_loss, variance_focus=config.silog_lambda)
    elif name == "densedepth":
        base = partial(losses.densedepth_loss, max_depth=max_depth_m)
    else:
        base = _SUPERVISED[name]
    if config.gradient_weight <= 0:
        return base
    weight = config.gradient_weight
    return lambda pred, target, mask: (
        base(pred, target, mask) + weight * losses.gradient_matching_loss(pred, target, mask)
    )


class LossResult(NamedTuple):
    """A scalar to minimise and its named parts (detached floats, for logs)."""

    total: Tensor
    parts: dict[str, float]


def scale_depths(output: UNetOutput, size: tuple[int, int], min_depth_m: float, max_depth_m: float) -> list[Tensor]:
    """Depth of every disparity scale, upsampled (bilinear, on disparity) to ``size``: list of (B, 1, H, W)."""
    depths = []
    for disp in output.disparities:
        up = disp if disp.shape[-2:] == size else F.interpolate(disp, size=size, mode="bilinear", align_corners=False)
        depths.append(disp_to_depth(up, min_depth_m, max_depth_m)[1])
    return depths


def normalise(images: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """(..., 3, H, W) RGB in [0, 1] -> ``(rgb - mean) / std`` (the networks' input)."""
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(3, 1, 1)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(3, 1, 1)
    return (images - m) / s


def downsample(images: Tensor, size: tuple[int, int]) -> Tensor:
    """Area-average (B, C, H, W) images to ``size`` (exact box filter for integer factors)."""
    return F.interpolate(images, size=size, mode="area")


def scale_intrinsics(k: Tensor, full_size: tuple[int, int], size: tuple[int, int]) -> Tensor:
    """(B, 3, 3) intrinsics of an image resized from ``full_size`` to ``size`` (H, W): pixel centres map as
    ``u' = (u + 0.5) · w' / w - 0.5`` (as :meth:`PinholeIntrinsics.resized`)."""
    sy, sx = size[0] / full_size[0], size[1] / full_size[1]
    scaled = k.clone()
    scaled[:, 0, 0] = k[:, 0, 0] * sx
    scaled[:, 1, 1] = k[:, 1, 1] * sy
    scaled[:, 0, 2] = (k[:, 0, 2] + 0.5) * sx - 0.5
    scaled[:, 1, 2] = (k[:, 1, 2] + 0.5) * sy - 0.5
    return scaled


def min_reprojection(
    warped_sources: list[Tensor],
    target: Tensor,
    identity: Tensor | None,
    seen: Tensor | None = None,
    warped_seen: list[Tensor] | None = None,
) -> Tensor:
    """monodepth2 per-pixel minimum of the reprojection errors (and, for auto-masking, of the identity errors).

    Same as :func:`losses.min_reprojection_loss`, with the (B, S, H, W) identity errors of the un-warped sources
    passed in, so that a multi-scale loss computes them once instead of once per scale. ``seen`` (B, 1, H, W) bool:
    only those target pixels count; ``warped_seen``: per source, (B, 1, H, W) bool, whether the warp sampled seen
    source pixels (a sample of a raw camera's black fill is no candidate for the minimum).
    """
    reprojection = torch.cat([losses.photometric_error(w, target) for w in warped_sources], dim=1)
    if warped_seen is not None:
        reprojection = torch.where(torch.cat(warped_seen, dim=1), reprojection, torch.inf)
    if identity is not None:
        noisy = identity + torch.randn_like(identity) * 1e-5  # break ties as monodepth2
        reprojection = torch.cat([noisy, reprojection], dim=1)
    best = reprojection.min(dim=1).values
    if seen is None and warped_seen is None:
        return best.mean()
    valid = torch.isfinite(best) if seen is None else seen[:, 0] & torch.isfinite(best)
    return torch.where(valid, best, 0.0).sum() / valid.sum().clamp_min(1)


def _warp(source: Tensor, seen: Tensor | None, depth: Tensor, k: Tensor, pose: Tensor) -> tuple[Tensor, Tensor | None]:
    """The source warped into the target view and, with ``seen`` (the camera's, the same for every frame), whether
    each sample came from seen source pixels (warped with the image: bilinear, so a blend with fill is unseen)."""
    if seen is None:
        return warp_to_target(source, depth, k, pose).image, None
    warped = warp_to_target(torch.cat([source, seen.to(source.dtype)], dim=1), depth, k, pose).image
    return warped[:, :-1], warped[:, -1:] >= 1.0 - 1e-3


def given_pose(batch: dict[str, Tensor], source: int) -> Tensor:
    """The batch's own ``source_from_target`` (B, 4, 4) of source ``source`` (the rig's, or the true pose).

    Raises:
        ConfigError: it is unknown (NaN: temporal neighbours of recorded data), where ``loss.pose_source:
            ground_truth`` put it in the pose network's place: the warp would sample padding only, with NaN gradients.
    """
    pose = batch["source_from_target"][:, source]
    if not bool(torch.isfinite(pose).all()):
        offset = int(batch["source_offset"][0, source])
        msg = (
            f"loss.pose_source=ground_truth, but the pose of the source frame at offset {offset} is unknown (NaN) in "
            "this data (recorded frames carry no temporal poses): use loss.pose_source=predicted (the pose network)"
        )
        raise ConfigError(msg)
    return pose


class Objective(nn.Module):
    """Computes the configured loss; owns the pose network when one is needed (so DDP and checkpoints see it).

    Args:
        config: the ``loss`` section.
        min_depth_m, max_depth_m: the depth network's output range.
        mean, std: input normalisation (the pose network sees the same input as the depth network).
        temporal_sources: whether batches hold temporal neighbours (whose pose the pose network estimates);
            without them (stereo only, or supervised) no pose network is built.
    """

    def __init__(
        self,
        config: LossConfig,
        min_depth_m: float,
        max_depth_m: float,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
        temporal_sources: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.min_depth_m, self.max_depth_m = min_depth_m, max_depth_m
        self.mean, self.std = mean, std
        needs_pose = config.objective != "supervised" and config.pose_source == "predicted" and temporal_sources
        self.pose_net: PoseNet | None = PoseNet(config.pose_width) if needs_pose else None

    def forward(self, output: UNetOutput, batch: dict[str, Tensor]) -> LossResult:
        """The loss of one batch (``output`` = the depth network's prediction for ``batch['rgb']``)."""
        size = (batch["rgb"].shape[-2], batch["rgb"].shape[-1])
        depths = scale_depths(output, size, self.min_depth_m, self.max_depth_m)[: self.config.scales]
        if self.config.objective == "supervised":
            target = batch["depth"]
            mask = losses.valid_depth_mask(target) & (target < self.max_depth_m)
            loss_fn = supervised_loss_fn(self.config, self.max_depth_m)
            total = torch.stack([loss_fn(d, target, mask) for d in depths]).mean()
            return LossResult(total, {"depth": float(total.detach())})
        return self._selfsup(output, depths, batch)

    def source_poses(self, batch: dict[str, Tensor]) -> list[Tensor]:
        """``source_from_target`` (B, 4, 4) for each source: rig / true pose where known, else the pose network's
        (fed in temporal order, see :func:`~.selfsup.estimate_pose`)."""
        poses = []
        target = normalise(batch["rgb"], self.mean, self.std)
        for j in range(batch["sources"].shape[1]):
            if self.pose_net is None or bool(batch["pose_known"][:, j].all()):
                poses.append(given_pose(batch, j))
                continue
            source = normalise(batch["sources"][:, j], self.mean, self.std)
            earlier = bool((batch["source_offset"][:, j] < 0).all())
            poses.append(estimate_pose(self.pose_net, target, source, earlier))
        return poses

    def _selfsup(self, output: UNetOutput, depths: list[Tensor], batch: dict[str, Tensor]) -> LossResult:
        if batch["sources"].shape[1] == 0:
            msg = "self-supervision needs source frames: set data.frame_offsets or data.stereo_baseline_m"
            raise ConfigError(msg)
        # monodepth2: the networks see the colour-augmented frames, the loss compares them without (loss_*)
        target, k = batch.get("loss_rgb", batch["rgb"]), batch["k"]
        sources = list(batch.get("loss_sources", batch["sources"]).unbind(1))
        poses = self.source_poses(batch)
        seen = batch.get("seen")  # a raw camera's black fill: no photometric error there (None: all seen)
        if seen is not None and bool(seen.all()):
            seen = None
        pyramid = self.config.photometric_resolution == "pyramid"
        photometric = smoothness = lidar = target.new_zeros(())
        identity = None
        if self.config.automask and not pyramid:  # full resolution: the same for every scale, computed once
            identity = torch.cat([losses.photometric_error(src, target) for src in sources], dim=1)
        for scale, depth in enumerate(depths):
            disp = output.disparities[scale]
            size = (disp.shape[-2], disp.shape[-1])
            image = target if size == target.shape[-2:] else downsample(target, size)
            seen_here = seen
            if seen is not None and size != seen.shape[-2:]:  # seen where the whole footprint is
                seen_here = downsample(seen.to(target.dtype), size) >= 1.0 - 1e-4
            if pyramid:  # SfMLearner / monodepth1: the loss at this scale's own resolution (wider basin)
                scaled = [src if size == src.shape[-2:] else downsample(src, size) for src in sources]
                scaled_k = scale_intrinsics(k, (target.shape[-2], target.shape[-1]), size)
                depth_here = disp_to_depth(disp, self.min_depth_m, self.max_depth_m)[1]
                pairs = [_warp(s, seen_here, depth_here, scaled_k, p) for s, p in zip(scaled, poses, strict=True)]
                if self.config.automask:
                    identity = torch.cat([losses.photometric_error(s, image) for s in scaled], dim=1)
                photometric = photometric + self._photometric(pairs, image, identity, seen_here)
            else:  # monodepth2: every disparity upsampled to full resolution
                pairs = [_warp(s, seen, depth, k, p) for s, p in zip(sources, poses, strict=True)]
                photometric = photometric + self._photometric(pairs, target, identity, seen)
            smoothness = smoothness + losses.edge_aware_smoothness(disp, image, seen_here) / 2**scale
            if self.config.objective == "lidar_semi":
                lidar = lidar + self._lidar_term(depth, batch, poses)
        count = len(depths)
        parts = {"photometric": photometric / count, "smoothness": smoothness / count}
        total = parts["photometric"] + self.config.smoothness_weight * parts["smoothness"]
        if self.config.objective == "lidar_semi":
            parts["lidar"] = lidar / count
            total = total + self.config.lidar_weight * parts["lidar"]
        return LossResult(total, {name: float(value.detach()) for name, value in parts.items()})

    @staticmethod
    def _photometric(
        pairs: list[tuple[Tensor, Tensor | None]], target: Tensor, identity: Tensor | None, seen: Tensor | None
    ) -> Tensor:
        warped = [image for image, _ in pairs]
        if seen is None:
            return min_reprojection(warped, target, identity)
        return min_reprojection(warped, target, identity, seen, [s for _, s in pairs if s is not None])

    def _lidar_term(self, depth: Tensor, batch: dict[str, Tensor], poses: list[Tensor]) -> Tensor:
        """The sparse LiDAR term on the returns the network can reach: as the supervised objective's target, a return
        at or beyond ``max_depth_m`` is none (a long-range LiDAR under a short range would pull those pixels to
        saturation and, for berHu, set its threshold)."""
        lidar_depth = batch["lidar_depth"]
        lidar_depth = torch.where(lidar_depth < self.max_depth_m, lidar_depth, torch.nan)
        if self.config.lidar_loss == "reprojected":  # poses detached: through them the term would shrink the
            # translation towards zero (where every depth reprojects alike) instead of correcting the depth
            terms = [reprojected_distance_loss(depth, lidar_depth, batch["k"], pose.detach()) for pose in poses]
            return torch.stack(terms).mean()
        return losses.sparse_lidar_loss(depth, lidar_depth, self.config.lidar_loss)
