"""Check a trained pose network against true camera motion: translation direction and scale.

Self-supervision can only succeed if the warping maths is right, and then the pose network's translation must point
where the camera really moved (up to scale for monocular training, metric with LiDAR semi-supervision). This module
measures that on held-out drives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.synthetic import SyntheticDepthDataset
from mono_depth_ros.training.objectives.assemble import normalise
from mono_depth_ros.training.objectives.selfsup import PoseNet, estimate_pose


@dataclass(frozen=True)
class PoseDirectionReport:
    """Agreement of predicted and true ``source_from_target`` translations over frame pairs.

    Attributes:
        pairs: number of (target, source) pairs.
        mean_cosine: mean cosine between predicted and true translation directions (1 = same direction).
        median_angle_deg: median angle between them (degrees).
        median_norm_ratio: median |t_pred| / |t_true| (1 = metric; any constant for up-to-scale training).
    """

    pairs: int
    mean_cosine: float
    median_angle_deg: float
    median_norm_ratio: float


@torch.no_grad()
def evaluate_pose_direction(
    pose_net: PoseNet,
    dataset: SyntheticDepthDataset,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    batch_size: int = 8,
) -> PoseDirectionReport:
    """Run ``pose_net`` on every (target, temporal source) pair of ``dataset`` (no augmentation expected).

    Raises:
        ConfigError: the dataset has no temporal sources.
    """
    if not dataset.frame_offsets:
        msg = "pose evaluation needs a dataset with frame_offsets (temporal neighbours)"
        raise ConfigError(msg)
    device = next(pose_net.parameters()).device
    was_training = pose_net.training
    pose_net.eval()
    predicted, true = [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        target = normalise(batch["rgb"].to(device), mean, std)
        for j, offset in enumerate(dataset.frame_offsets):
            source = normalise(batch["sources"][:, j].to(device), mean, std)
            predicted.append(estimate_pose(pose_net, target, source, offset < 0)[:, :3, 3].cpu().double())
            true.append(batch["source_from_target"][:, j, :3, 3].double())
    pose_net.train(was_training)
    t_pred, t_true = torch.cat(predicted).numpy(), torch.cat(true).numpy()
    norm_pred = np.linalg.norm(t_pred, axis=1)
    norm_true = np.linalg.norm(t_true, axis=1)
    cosine = np.sum(t_pred * t_true, axis=1) / np.maximum(norm_pred * norm_true, 1e-12)
    angle = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))
    return PoseDirectionReport(
        pairs=int(cosine.size),
        mean_cosine=float(np.mean(cosine)),
        median_angle_deg=float(np.median(angle)),
        median_norm_ratio=float(np.median(norm_pred / np.maximum(norm_true, 1e-12))),
    )
