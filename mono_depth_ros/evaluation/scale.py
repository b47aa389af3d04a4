"""Evaluation helpers for scale recovery without network weights: oracle-perturbed predictions, simulated sparse
LiDARs, baselines and depth metrics (used by ``scripts/eval_scale.py`` and its test).

An *oracle-perturbed prediction* starts from real ground-truth depth, applies a realistic error (a smooth,
low-frequency multiplicative field, per-pixel noise and a few gross outliers), then hides the metric scale the
way each output kind does: an unknown scale for ``depth_up_to_scale``, an unknown scale and shift in inverse
depth for ``relative_inverse``, an unknown scale and shift in depth for ``affine_depth``, a slightly wrong scale for
``metric``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.evaluation.metrics import DepthMetrics, compute_metrics, median_scale

FloatArray = npt.NDArray[np.float64]
HDL64_FOV_DEG = (-24.9, 2.0)  # Velodyne HDL-64E vertical field of view (data sheet)
EVAL_MAX_DEPTH_M = 80.0  # KITTI protocol (Eigen split): predictions clamped to, and truth limited to, 80 m
EVAL_MIN_DEPTH_M = 1e-3


@dataclass(frozen=True)
class PerturbationConfig:
    """How an oracle prediction is degraded.

    Attributes:
        low_freq_sigma: std of the log of the smooth multiplicative error (0.15 ≈ 15 %).
        low_freq_cells: (rows, cols) of the coarse random grid the smooth field is interpolated from.
        noise_sigma: std of the per-pixel log noise.
        outlier_fraction: fraction of pixels given a gross error (factor 1/3 to 3).
        metric_scale_error: metric predictions are off by a factor in ``[1 - e, 1 + e]``.
        frame_scale_jitter: std of the per-frame log scale drift of depth_up_to_scale models.
    """

    low_freq_sigma: float = 0.15
    low_freq_cells: tuple[int, int] = (3, 8)
    noise_sigma: float = 0.03
    outlier_fraction: float = 0.02
    metric_scale_error: float = 0.15
    frame_scale_jitter: float = 0.1


@dataclass(frozen=True)
class HiddenMap:
    """The map an oracle prediction hides: ``depth = scale · prediction`` (metric, depth_up_to_scale; shift 0),
    ``1 / depth = scale · prediction + shift`` (relative_inverse) or ``depth = scale · prediction + shift``
    (affine_depth; shift in metres)."""

    scale: float
    shift: float


def low_frequency_field(
    height: int, width: int, cells: tuple[int, int], sigma: float, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """(H, W) float32 smooth random field with std ``sigma`` (bilinear interpolation of a coarse grid)."""
    grid = rng.standard_normal((cells[0] + 1, cells[1] + 1))
    rows = np.linspace(0, cells[0], height)
    cols = np.linspace(0, cells[1], width)
    r0 = np.minimum(rows.astype(int), cells[0] - 1)
    c0 = np.minimum(cols.astype(int), cells[1] - 1)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    field = (
        grid[r0][:, c0] * (1 - fr) * (1 - fc)
        + grid[r0 + 1][:, c0] * fr * (1 - fc)
        + grid[r0][:, c0 + 1] * (1 - fr) * fc
        + grid[r0 + 1][:, c0 + 1] * fr * fc
    )
    std = float(field.std())
    normalised: npt.NDArray[np.float32] = ((field - field.mean()) * (sigma / std if std > 0 else 0.0)).astype(
        np.float32
    )
    return normalised


def perturb_prediction(
    depth_m: npt.NDArray[np.floating],
    kind: OutputKind,
    rng: np.random.Generator,
    config: PerturbationConfig | None = None,
    base_scale: float = 1.0,
) -> tuple[npt.NDArray[np.float32], HiddenMap]:
    """Oracle-perturbed prediction of ``kind`` from dense true depth.

    Args:
        depth_m: (H, W) true depth in metres (NaN where unknown stays NaN).
        kind: output kind to imitate.
        rng: random generator (seeded by the caller).
        config: error model.
        base_scale: the model's nominal scale (depth_up_to_scale, affine_depth: jittered by
            ``frame_scale_jitter``; metric: times a factor within ``metric_scale_error``). affine_depth also hides a
            shift of up to ±50 % of the median perturbed depth, so its nearest values may be 0 or below.

    Returns:
        ``(prediction, hidden)``: (H, W) float32 prediction and the map that recovers the perturbed depth.
    """
    config = config or PerturbationConfig()
    depth = np.asarray(depth_m, dtype=np.float64)
    if depth.ndim != 2:
        msg = f"depth must be (H, W), got {depth.shape}"
        raise ShapeError(msg)
    h, w = depth.shape
    log_error = low_frequency_field(h, w, config.low_freq_cells, config.low_freq_sigma, rng).astype(np.float64)
    log_error += rng.normal(0.0, config.noise_sigma, size=(h, w))
    outliers = rng.random((h, w)) < config.outlier_fraction
    log_error[outliers] += rng.choice([-1.0, 1.0], size=int(outliers.sum())) * rng.uniform(
        math.log(1.5), math.log(3.0), size=int(outliers.sum())
    )
    perturbed = depth * np.exp(log_error)
    kind = OutputKind(kind)
    if kind is OutputKind.RELATIVE_INVERSE:
        inverse = 1.0 / perturbed
        scale = float(math.exp(rng.uniform(math.log(0.01), math.log(0.5))))  # metres⁻¹ per unit of disparity
        shift = float(rng.uniform(-0.5, 0.5) * np.nanmedian(inverse))
        return ((inverse - shift) / scale).astype(np.float32), HiddenMap(scale, shift)
    if kind is OutputKind.METRIC:
        scale = base_scale * float(rng.uniform(1 - config.metric_scale_error, 1 + config.metric_scale_error))
    else:
        scale = base_scale * float(math.exp(rng.normal(0.0, config.frame_scale_jitter)))
    if kind is OutputKind.AFFINE_DEPTH:
        shift = float(rng.uniform(-0.5, 0.5) * np.nanmedian(perturbed))  # metres
        return ((perturbed - shift) / scale).astype(np.float32), HiddenMap(scale, shift)
    return (perturbed / scale).astype(np.float32), HiddenMap(scale, 0.0)


def elevation_bins(
    points_in_lidar: npt.NDArray[np.floating], n_bins: int = 64, fov_deg: tuple[float, float] = HDL64_FOV_DEG
) -> npt.NDArray[np.int64]:
    """(N,) beam index from the elevation angle: equal-width bins over the LiDAR's vertical FOV, -1 outside.

    The scans do not store the ring; equal-width bins of the HDL-64E's 26.9° FOV are ~0.42°, about its beam
    spacing, so each bin holds about one beam.
    """
    points = np.asarray(points_in_lidar, dtype=np.float64)
    elevation = np.degrees(np.arctan2(points[:, 2], np.hypot(points[:, 0], points[:, 1])))
    width = (fov_deg[1] - fov_deg[0]) / n_bins
    index = np.floor((elevation - fov_deg[0]) / width).astype(np.int64)
    index[(index < 0) | (index >= n_bins)] = -1
    return index


def beam_selection(n_beams: int, n_bins: int = 64) -> npt.NDArray[np.int64]:
    """Bins of an ``n_beams`` LiDAR among ``n_bins``: every ``n_bins / n_beams``-th, centred (1 beam = middle)."""
    if n_beams < 1 or n_bins % n_beams:
        msg = f"n_beams must divide {n_bins}, got {n_beams}"
        raise ShapeError(msg)
    step = n_bins // n_beams
    return np.arange(step // 2, n_bins, step, dtype=np.int64)


def beam_rows(
    n_beams: int, fy: float, cy: float, height: int, n_bins: int = 64, fov_deg: tuple[float, float] = HDL64_FOV_DEG
) -> npt.NDArray[np.int64]:
    """Image rows a level ``n_beams`` LiDAR at the camera would scan (bin centres), limited to the image."""
    width = (fov_deg[1] - fov_deg[0]) / n_bins
    centres = fov_deg[0] + (beam_selection(n_beams, n_bins) + 0.5) * width
    rows: npt.NDArray[np.int64] = np.rint(cy - fy * np.tan(np.radians(centres))).astype(np.int64)
    return rows[(rows >= 0) & (rows < height)]


def depth_metrics(pred_m: npt.NDArray[np.floating], gt_m: npt.NDArray[np.floating]) -> DepthMetrics:
    """Metrics over pixels with ``EVAL_MIN_DEPTH_M < gt < EVAL_MAX_DEPTH_M``; predictions clamped to that range, NaN
    and -Inf ones counted as ``EVAL_MIN_DEPTH_M`` and +Inf as ``EVAL_MAX_DEPTH_M`` (:func:`.metrics.compute_metrics`,
    BTS / ZoeDepth).

    The one metrics record (:class:`~mono_depth_ros.evaluation.metrics.DepthMetrics`, ``count`` 1 per frame).
    """
    pred = np.asarray(pred_m, dtype=np.float64).reshape(-1)
    return compute_metrics(pred, np.asarray(gt_m, dtype=np.float64).reshape(-1), EVAL_MIN_DEPTH_M, EVAL_MAX_DEPTH_M)


def as_depth(prediction: npt.NDArray[np.floating], kind: OutputKind) -> npt.NDArray[np.float64]:
    """The prediction read as depth without alignment (relative_inverse: 1 / disparity, +Inf where <= 0: at or beyond
    infinity, scored as the far cap; affine_depth: its values, NaN where <= 0: scored as the near cap)."""
    pred = np.asarray(prediction, dtype=np.float64)
    kind = OutputKind(kind)
    if kind is OutputKind.RELATIVE_INVERSE:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pred > 0, 1.0 / pred, np.where(np.isnan(pred), np.nan, np.inf))
    if kind is OutputKind.AFFINE_DEPTH:
        with np.errstate(invalid="ignore"):
            return np.where(pred > 0, pred, np.nan)
    return pred


def median_scaling(pred_depth: FloatArray, gt_m: FloatArray) -> float:
    """monodepth2's per-frame median ratio ``median(gt) / median(pred)`` over valid pairs (NaN without any).

    The one median scaling (:func:`~mono_depth_ros.evaluation.metrics.median_scale`) over the pairs where both are
    finite and positive.
    """
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(pred_depth) & np.isfinite(gt_m) & (pred_depth > 0) & (gt_m > 0)
    return median_scale(np.asarray(pred_depth, np.float64), np.asarray(gt_m, np.float64), ok)


def least_squares_map(prediction: FloatArray, gt_m: FloatArray, kind: OutputKind) -> HiddenMap:
    """Least-squares alignment on all given truth: scale in depth (metric, depth_up_to_scale), (scale, shift) in
    inverse depth (relative_inverse) or in depth (affine_depth)."""
    pred = np.asarray(prediction, dtype=np.float64)
    gt = np.asarray(gt_m, dtype=np.float64)
    ok = np.isfinite(pred) & np.isfinite(gt) & (gt > 0)
    pred, gt = pred[ok], gt[ok]
    kind = OutputKind(kind)
    if kind.has_shift:
        design = np.stack([pred, np.ones_like(pred)], axis=1)
        target = 1.0 / gt if kind is OutputKind.RELATIVE_INVERSE else gt
        solution = np.linalg.lstsq(design, target, rcond=None)[0]
        return HiddenMap(float(solution[0]), float(solution[1]))
    return HiddenMap(float(np.sum(pred * gt) / np.sum(pred * pred)), 0.0)


def apply_map(prediction: FloatArray, kind: OutputKind, hidden: HiddenMap) -> FloatArray:
    """Depth from a prediction under a map (+Inf where the inverse depth is not positive: the far cap; NaN where an
    affine_depth's mapped depth is not positive: the near cap, as the metrics score NaN)."""
    pred = np.asarray(prediction, dtype=np.float64)
    kind = OutputKind(kind)
    if kind is OutputKind.RELATIVE_INVERSE:
        inverse = hidden.scale * pred + hidden.shift
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(inverse > 0, 1.0 / inverse, np.where(np.isnan(inverse), np.nan, np.inf))
    if kind is OutputKind.AFFINE_DEPTH:
        depth = hidden.scale * pred + hidden.shift
        with np.errstate(invalid="ignore"):
            return np.where(depth > 0, depth, np.nan)
    return hidden.scale * pred
