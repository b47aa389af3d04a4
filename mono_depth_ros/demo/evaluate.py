"""Accuracy of the demo run: the published depth against the scenario's truth, and a LiDAR-only baseline.

Published depth keeps REP 117 values, so scoring says how each is counted: NaN (no depth: edge filter, invalid fit)
is *not* scored but lowers the coverage; +Inf (beyond ``output.max_range``) counts as the far limit and -Inf (too
close) as the near limit, like any clipped prediction. Metrics are the standard ones
(:func:`~mono_depth_ros.evaluation.metrics.compute_metrics`, evaluated inside ``(min_depth_m, max_depth_m)``),
averaged over frames.

The baseline densifies the recorded scan (the same points the scale fit saw) by nearest-neighbour fill: what a
depth map from the LiDAR alone gives, without any image.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.densify import densify_nearest as scale_densify_nearest
from mono_depth_ros.core.geometry import zbuffer_depth
from mono_depth_ros.evaluation.metrics import DepthMetrics, compute_metrics, mean_metrics, valid_mask
from mono_depth_ros.evaluation.temporal_sequence import subsample

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AccuracyRow:
    """Mean metrics of one depth source over the frames.

    Attributes:
        name: what was scored. metrics: mean over frames with reference pixels (``metrics.count`` frames).
        coverage: fraction of reference pixels that got a depth (not NaN), over all frames.
    """

    name: str
    metrics: DepthMetrics
    coverage: float


def resize_nearest(image: npt.NDArray[np.floating], width: int, height: int) -> F32:
    """(H, W) → (height, width): the camera pixels a depth published at that size shows (``output.downscale``).

    Pixel ``i`` is camera pixel ``rint((i + 0.5) · N − 0.5)`` with ``N`` the whole factor, the pipeline's rule
    (:func:`~mono_depth_ros.evaluation.temporal_sequence.subsample`); a plain nearest resize takes ``N · i``, one or
    more camera pixels away for N >= 3. Never blends a depth with NaN or with another surface.
    """
    if image.shape == (height, width):
        return np.asarray(image, dtype=np.float32)
    return np.asarray(subsample(np.asarray(image, dtype=np.float32), (height, width)), dtype=np.float32)


def score_frame(
    depth_m: npt.NDArray[np.floating], gt_m: npt.NDArray[np.floating], min_depth_m: float, max_depth_m: float
) -> tuple[DepthMetrics, int, int]:
    """Metrics of one published depth image against the truth (resized to the depth's size if they differ).

    Returns:
        (metrics, reference pixels, reference pixels with a depth).
    """
    gt = resize_nearest(gt_m, depth_m.shape[1], depth_m.shape[0])
    reference = valid_mask(gt, min_depth_m, max_depth_m)
    has_depth = ~np.isnan(depth_m)
    scored = np.clip(np.where(has_depth, depth_m, max_depth_m), min_depth_m, max_depth_m)
    metrics = compute_metrics(scored, gt, min_depth_m, max_depth_m, crop=has_depth)
    return metrics, int(reference.sum()), int((reference & has_depth).sum())


def densify_nearest(sparse_depth_m: npt.NDArray[np.floating]) -> F32:
    """Fill every NaN pixel with the depth of the nearest valid pixel (L2); all-NaN input stays NaN."""
    if not np.isfinite(sparse_depth_m).any():
        return np.full(sparse_depth_m.shape, np.nan, dtype=np.float32)
    return scale_densify_nearest(sparse_depth_m)


def lidar_only_depth(lidar_in_camera: npt.NDArray[np.floating], intrinsics: PinholeIntrinsics) -> F32:
    """The LiDAR baseline: the scan projected with a z-buffer, then nearest-neighbour filled. (H, W) metres."""
    sparse, _ = zbuffer_depth(np.asarray(lidar_in_camera, dtype=np.float64), intrinsics)
    return densify_nearest(sparse)


def mean_row(name: str, scores: Iterable[tuple[DepthMetrics, int, int]]) -> AccuracyRow:
    """Average per-frame scores (from :func:`score_frame`) into one row."""
    listed = list(scores)
    reference = sum(s[1] for s in listed)
    covered = sum(s[2] for s in listed)
    return AccuracyRow(name, mean_metrics(s[0] for s in listed), covered / reference if reference else float("nan"))
