"""What a distilled student minimises, and how its input is perturbed (the labels come from clean images).

* **Scale-and-shift-invariant loss + multi-scale gradient matching** (MiDaS / Depth Anything) in inverse depth: the
  teacher's label becomes an inverse-depth target (a ``relative_inverse`` label as it is, a depth label inverted),
  normalised over its own frame (minus its median, over its mean absolute deviation, so the loss has no unit:
  :func:`normalised_target`, before CutMix, as Depth Anything compares the box with the teacher's prediction of
  the whole partner frame), and the student's inverse depth is aligned to it per image by least squares before the
  squared error and the gradient term (:func:`~mono_depth_ros.training.objectives.losses.ssi_loss`). After CutMix
  the pasted box and the rest of the image carry different scenes, hence different scales and shifts: the loss is
  fitted inside and outside the box apart.
* **Feature alignment** (Depth Anything's semantic-preservation term): the student's deepest encoder feature,
  through a small projection head, should point the same way as the teacher's encoder feature at each cell
  (1 - cosine similarity); cells already more similar than ``margin`` are left alone.
* **Sparse LiDAR** (optional, metric): L1 / berHu of the student's depth against the projected scan.

Perturbations (:func:`perturb_batch`): horizontal flip of everything image-shaped, strong colour jitter and Gaussian
noise of the student's input only, CutMix of image, labels, LiDAR and features with one box.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.data.augment import colour_jitter, gaussian_noise
from mono_depth_ros.training.data.cutmix import cutmix
from mono_depth_ros.training.data.sample import Sample, SampleBatch
from mono_depth_ros.training.distillation.config import DistillLossConfig
from mono_depth_ros.training.objectives.losses import ssi_loss


def inverse_target(label: Tensor, kind: OutputKind) -> tuple[Tensor, Tensor]:
    """A teacher label (B, 1, H, W) as an inverse-depth target and its validity mask.

    ``relative_inverse`` labels are disparities already (any finite value counts); depth labels (metric or up to
    scale) are inverted where finite and positive. Invalid target pixels hold 0.
    """
    if kind is OutputKind.RELATIVE_INVERSE:
        mask = torch.isfinite(label)
        return torch.where(mask, label, torch.zeros_like(label)), mask
    mask = torch.isfinite(label) & (label > 0)
    return torch.where(mask, 1.0 / torch.where(mask, label, torch.ones_like(label)), torch.zeros_like(label)), mask


def normalise_per_image(target: Tensor, mask: Tensor) -> Tensor:
    """(target - median) / mean |target - median| per image over ``mask`` (MiDaS); invalid pixels stay 0."""
    flat = torch.where(mask, target, torch.full_like(target, float("nan"))).flatten(1)
    median = flat.nanmedian(dim=1).values.nan_to_num(0.0).view(-1, 1, 1, 1)
    centred = torch.where(mask, target - median, torch.zeros_like(target))
    count = mask.flatten(1).sum(1).clamp_min(1).view(-1, 1, 1, 1)
    deviation = (centred.abs().flatten(1).sum(1).view(-1, 1, 1, 1) / count).clamp_min(1e-6)
    return centred / deviation


def normalised_target(label: Tensor, kind: OutputKind) -> Tensor:
    """Teacher labels (B, 1, H, W) as inverse-depth targets normalised per frame (:func:`inverse_target`, then
    :func:`normalise_per_image`); NaN where invalid. Made before CutMix, so a pasted box keeps its own frame's
    normalisation: the teacher's unit for that frame (a relative teacher's disparity has a scale per image) is gone."""
    target, mask = inverse_target(label, kind)
    return torch.where(mask, normalise_per_image(target, mask), torch.full_like(target, float("nan")))


def regional_ssi_loss(
    pred_inverse: Tensor, target: Tensor, mask: Tensor, region: Tensor | None, alpha: float, scales: int
) -> Tensor:
    """SSI + gradient matching, fitted separately inside and outside ``region`` (each weighted by its pixels).

    Args:
        pred_inverse: (B, 1, H, W) the student's inverse depth.
        target: (B, 1, H, W) inverse-depth target normalised per frame (:func:`normalised_target`, 0 where
            invalid); mask: (B, 1, H, W) bool valid target pixels.
        region: (B, 1, H, W) bool CutMix box, or None (one fit per image).
        alpha: gradient-matching weight; scales: its halvings.
    """
    if region is None:
        return ssi_loss(pred_inverse, target, mask, alpha, scales)
    inside, outside = mask & region, mask & ~region
    total = mask.sum().clamp_min(1).to(pred_inverse.dtype)
    loss_in = ssi_loss(pred_inverse, target, inside, alpha, scales)
    loss_out = ssi_loss(pred_inverse, target, outside, alpha, scales)
    return (loss_in * inside.sum() + loss_out * outside.sum()) / total


class ProjectionHead(nn.Module):
    """Maps student encoder features to the teacher's width: 1×1 conv, GELU, 1×1 conv."""

    def __init__(self, student_channels: int, teacher_channels: int) -> None:
        super().__init__()
        hidden = max(student_channels, teacher_channels)
        self.layers = nn.Sequential(
            nn.Conv2d(student_channels, hidden, 1), nn.GELU(), nn.Conv2d(hidden, teacher_channels, 1)
        )

    def forward(self, features: Tensor) -> Tensor:
        """(B, C_student, h, w) -> (B, C_teacher, h, w)."""
        out: Tensor = self.layers(features)
        return out


def feature_alignment_loss(projected: Tensor, teacher: Tensor, margin: float) -> Tensor:
    """Mean (1 - cos) between projected student and teacher features over cells with cos < ``margin``.

    Args:
        projected: (B, C, h, w) student features after the projection head (resized to the teacher grid here).
        teacher: (B, C, fh, fw) teacher features.
        margin: cells whose similarity already exceeds it do not contribute (Depth Anything's tolerance).
    """
    if projected.shape[-2:] != teacher.shape[-2:]:
        projected = F.interpolate(projected, size=teacher.shape[-2:], mode="bilinear", align_corners=False)
    cosine = F.cosine_similarity(projected, teacher, dim=1, eps=1e-6)
    keep = (cosine < margin).to(cosine.dtype)
    return ((1.0 - cosine) * keep).sum() / keep.sum().clamp_min(1.0)


@dataclass(frozen=True)
class PerturbedBatch:
    """A batch after :func:`perturb_batch`: tensors as in the dataset item, plus the CutMix box (None: no CutMix)."""

    rgb: Tensor
    label: Tensor
    lidar_depth: Tensor
    features: Tensor
    region: Tensor | None


def _chance(probability: float, generator: torch.Generator) -> bool:
    return probability > 0.0 and float(torch.rand((), generator=generator)) < probability


def perturb_batch(batch: dict[str, Tensor], config: DistillLossConfig, generator: torch.Generator) -> PerturbedBatch:
    """Flip, jitter, add noise and CutMix a batch of dataset items (see the module docstring).

    Args:
        batch: ``rgb`` (B, 3, H, W), ``label`` / ``lidar_depth`` (B, 1, H, W), ``k`` (B, 3, 3), ``features``
            (B, C, fh, fw) on the CPU.
        config: strengths and probabilities.
        generator: every random draw (so a resumed run repeats them exactly).
    """
    rgb, label, lidar, features = batch["rgb"], batch["label"], batch["lidar_depth"], batch["features"]
    flips = torch.rand(rgb.shape[0], generator=generator) < config.flip_probability
    if bool(flips.any()):
        where = flips.view(-1, 1, 1, 1)
        rgb, label, lidar = (torch.where(where, t.flip(-1), t) for t in (rgb, label, lidar))
        features = torch.where(where, features.flip(-1), features) if features.numel() else features
    images = []
    for i in range(rgb.shape[0]):
        sample = Sample(rgb=rgb[i], depth=lidar[i], sparse_depth=lidar[i], k=batch["k"][i])
        if _chance(config.jitter_probability, generator):
            strengths = (config.brightness, config.contrast, config.saturation, config.hue)
            sample = colour_jitter(sample, *strengths, generator=generator)
        images.append(gaussian_noise(sample, config.noise_std, generator).rgb)
    rgb = torch.stack(images)
    region = None
    if rgb.shape[0] > 1 and _chance(config.cutmix_probability, generator):
        area = (config.cutmix_area[0], config.cutmix_area[1])
        mixed = cutmix(_as_sample_batch(rgb, lidar, batch["k"]), area, generator)
        region, partner = mixed.mask, mixed.partner
        rgb, lidar = mixed.batch.rgb, mixed.batch.sparse_depth
        label = torch.where(region, label[partner], label)
        if features.numel():
            grid = (int(features.shape[-2]), int(features.shape[-1]))
            cells = F.adaptive_avg_pool2d(region.float(), grid) > 0.5
            features = torch.where(cells, features[partner], features)
    return PerturbedBatch(rgb, label, lidar, features, region)


def _as_sample_batch(rgb: Tensor, lidar: Tensor, k: Tensor) -> SampleBatch:
    size = rgb.shape[0]
    return SampleBatch(
        rgb=rgb,
        depth=lidar,
        sparse_depth=lidar,
        k=k,
        sources=rgb.new_zeros((size, 0, *rgb.shape[1:])),
        source_offsets=(),
        source_from_target=rgb.new_zeros((size, 0, 4, 4)),
        pose_known=torch.zeros((size, 0), dtype=torch.bool),
        names=tuple(str(i) for i in range(size)),
    )
