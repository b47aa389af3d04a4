"""Evaluation protocol for metric scale recovery on real frames with oracle-perturbed predictions.

Per frame: the truth is split at random into a *fit* half and a held-out *eval* half. Sparse LiDARs with
64/32/16/8/4/1 beams are simulated from the fit half (elevation bins of a Velodyne scan, run through the same
projection and occlusion filter as live data; or image rows of annotated ground truth). A dense prediction is made
from the truth (nearest-neighbour densified), perturbed and hidden per output kind (:mod:`.evaluation`). Every
method is scored on the eval half only:

* ``no alignment``: the prediction read as metres (relative_inverse: 1 / disparity);
* ``global``: one map for all frames (pooled median ratio; pooled least squares in inverse depth for
  relative_inverse, in depth for affine_depth);
* ``median``: per-frame median ratio on the eval truth (monodepth2; uses the truth it is scored on);
* ``lidar N``: our robust fit on the N-beam points (a refused fit falls back to the ground plane, as live);
* ``ground plane``: our camera-height prior, no LiDAR (``estimated normal``: the plane-fit variant);
* ``oracle fit``: our robust fit on all held-out truth (the best our estimator can do);
* ``least squares (all truth)``: least squares on all held-out truth (depth for scale, inverse depth for
  relative_inverse's scale + shift, depth for affine_depth's): the reference the LiDAR fits are compared with. It
  minimises the squared error, not AbsRel, so it bounds nothing: the oracle fit (and, on the depth kinds, median
  scaling) scores a lower AbsRel in docs/scale_eval.md.

Samples where a method gives no output (its fit and its fallback refused) are left out of its averages and
counted in ``MethodScores.missing``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.densify import densify_nearest
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ScaleRecoveryError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.scale.fit import FitConfig, fit_for_kind
from mono_depth_ros.core.scale.ground import GroundPlaneConfig, ground_plane_fit
from mono_depth_ros.core.scale.lidar import LidarScan, ProjectionConfig, ProjectionStats, project_scan
from mono_depth_ros.evaluation.metrics import DepthMetrics, mean_metrics
from mono_depth_ros.evaluation.scale import (
    HiddenMap,
    PerturbationConfig,
    apply_map,
    as_depth,
    beam_rows,
    beam_selection,
    depth_metrics,
    elevation_bins,
    least_squares_map,
    median_scaling,
    perturb_prediction,
)

BEAMS = (64, 32, 16, 8, 4, 1)
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PixelDepths:
    """Depth samples at pixels: (M,) int rows ``v``, columns ``u`` and float64 metres ``depth_m``."""

    v: IntArray
    u: IntArray
    depth_m: FloatArray


@dataclass(frozen=True)
class EvalFrame:
    """One real frame prepared for the protocol.

    Attributes:
        name: identifier for the report.
        intrinsics: camera intrinsics.
        dense_depth_m: (H, W) float32 densified truth the prediction is made from.
        held_out: eval-half truth (never used for fitting).
        fit_sets: fit-half points per simulated beam count.
        projection: point counts of the full scan's projection (Velodyne frames), else None.
    """

    name: str
    intrinsics: PinholeIntrinsics
    dense_depth_m: npt.NDArray[np.float32]
    held_out: PixelDepths
    fit_sets: dict[int, PixelDepths]
    projection: ProjectionStats | None = None


def velodyne_frame(
    name: str,
    points_in_velo: npt.NDArray[np.floating],
    cam_from_velo: RigidTransform,
    intrinsics: PinholeIntrinsics,
    rng: np.random.Generator,
    beams: Sequence[int] = BEAMS,
    projection: ProjectionConfig | None = None,
) -> EvalFrame:
    """Prepare a frame from a full Velodyne scan: truth = the occlusion-filtered projection of the whole scan."""
    points = np.asarray(points_in_velo)[:, :3]
    full = project_scan(LidarScan(points, cam_from_velo, 0), intrinsics, projection)
    truth_image = full.to_image(intrinsics)
    in_eval = np.asarray(rng.random(points.shape[0]) < 0.5)
    held = in_eval[full.index]
    held_out = PixelDepths(
        full.v[held].astype(np.int64), full.u[held].astype(np.int64), full.depth_m[held].astype(np.float64)
    )
    bins = elevation_bins(points)
    fit_sets = {}
    for n_beams in beams:
        chosen = ~in_eval & np.isin(bins, beam_selection(n_beams))
        sparse = project_scan(LidarScan(points[chosen], cam_from_velo, 0), intrinsics, projection)
        fit_sets[n_beams] = PixelDepths(
            sparse.v.astype(np.int64), sparse.u.astype(np.int64), sparse.depth_m.astype(np.float64)
        )
    return EvalFrame(name, intrinsics, densify_nearest(truth_image), held_out, fit_sets, full.stats)


def ground_truth_frame(
    name: str,
    gt_depth_m: npt.NDArray[np.floating],
    intrinsics: PinholeIntrinsics,
    rng: np.random.Generator,
    beams: Sequence[int] = BEAMS,
) -> EvalFrame:
    """Prepare a frame from annotated ground truth (NaN = none): each simulated beam is one image row."""
    gt = np.asarray(gt_depth_m, dtype=np.float64)
    v, u = np.nonzero(np.isfinite(gt) & (gt > 0))
    depth = gt[v, u]
    in_eval = np.asarray(rng.random(v.size) < 0.5)
    held_out = PixelDepths(v[in_eval], u[in_eval], depth[in_eval])
    fit_sets = {}
    for n_beams in beams:
        rows = beam_rows(n_beams, intrinsics.fy, intrinsics.cy, intrinsics.height)
        chosen = ~in_eval & np.isin(v, rows)
        fit_sets[n_beams] = PixelDepths(v[chosen], u[chosen], depth[chosen])
    return EvalFrame(name, intrinsics, densify_nearest(gt.astype(np.float32)), held_out, fit_sets)


@dataclass
class MethodScores:
    """Per-sample metrics of one method, how often its fit was refused (fallback used) and gave no output."""

    metrics: list[DepthMetrics] = field(default_factory=list)
    refused: int = 0
    missing: int = 0

    def add(self, hidden: HiddenMap | None, raw: FloatArray, kind: OutputKind, truth_m: FloatArray) -> None:
        """Score one sample's map (None = no output)."""
        if hidden is None:
            self.missing += 1
        else:
            self.metrics.append(depth_metrics(apply_map(raw, kind, hidden), truth_m))

    def mean(self) -> DepthMetrics:
        """Average over samples with truth (``count`` = how many)."""
        return mean_metrics(self.metrics)


@dataclass(frozen=True)
class ProtocolConfig:
    """Settings of one protocol run."""

    seeds: int = 10
    beams: tuple[int, ...] = BEAMS
    perturbation: PerturbationConfig = field(default_factory=PerturbationConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    ground: GroundPlaneConfig | None = field(default_factory=lambda: GroundPlaneConfig(camera_height_m=1.65))


def _our_fit(
    prediction: npt.NDArray[np.float32], frame: EvalFrame, kind: OutputKind, points: PixelDepths, config: ProtocolConfig
) -> tuple[HiddenMap | None, bool]:
    """Our LiDAR fit, or (refused) the ground-plane fallback; None when both fail."""
    try:
        fit = fit_for_kind(prediction[points.v, points.u], points.depth_m, kind, config.fit)
        if fit.problem(config.fit) is None:
            return HiddenMap(fit.scale, fit.shift), False
    except ScaleRecoveryError:
        pass
    return _ground_map(prediction, frame, kind, config.ground), True


def _ground_map(
    prediction: npt.NDArray[np.float32], frame: EvalFrame, kind: OutputKind, ground: GroundPlaneConfig | None
) -> HiddenMap | None:
    if ground is None:
        return None
    try:
        fit = ground_plane_fit(prediction, kind, frame.intrinsics, ground)
    except ScaleRecoveryError:
        return None
    return HiddenMap(fit.scale, fit.shift)


def _oracle_fit(raw: FloatArray, truth_m: FloatArray, kind: OutputKind, config: FitConfig) -> HiddenMap | None:
    try:
        fit = fit_for_kind(raw, truth_m, kind, config)
    except ScaleRecoveryError:
        return None
    return HiddenMap(fit.scale, fit.shift)


ALL_TRUTH_LEAST_SQUARES = "least squares (all truth)"
"""The label of the least-squares fit to all held-out truth (the reference of the ratio column)."""


def method_labels(kind: OutputKind, beams: Sequence[int] = BEAMS) -> list[str]:
    """Row labels in report order."""
    labels = ["no alignment", "global", "median", *[f"lidar {n}" for n in beams], "ground plane"]
    if not OutputKind(kind).has_shift:  # the ground plane estimates its normal for the depth kinds only
        labels.append("ground plane, estimated normal")
    return [*labels, "oracle fit", ALL_TRUTH_LEAST_SQUARES]


def evaluate_frames(
    frames: Sequence[EvalFrame], kind: OutputKind, config: ProtocolConfig | None = None
) -> dict[str, MethodScores]:
    """Run every method on every frame × seed; returns method label → scores (labels in report order)."""
    config = config or ProtocolConfig()
    kind = OutputKind(kind)
    scores = {label: MethodScores() for label in method_labels(kind, config.beams)}
    estimated = replace(config.ground, estimate_normal=True) if config.ground is not None else None
    pooled: list[tuple[FloatArray, FloatArray, FloatArray]] = []  # raw prediction, as-depth, truth per sample
    for frame_index, frame in enumerate(frames):
        truth = frame.held_out
        for seed in range(config.seeds):
            rng = np.random.default_rng(1000 * frame_index + seed)
            prediction, _hidden = perturb_prediction(frame.dense_depth_m, kind, rng, config.perturbation)
            raw = prediction[truth.v, truth.u].astype(np.float64)
            unaligned = as_depth(raw, kind)
            pooled.append((raw, unaligned, truth.depth_m))
            scores["no alignment"].metrics.append(depth_metrics(unaligned, truth.depth_m))
            median = median_scaling(unaligned, truth.depth_m)
            scores["median"].metrics.append(depth_metrics(unaligned * median, truth.depth_m))
            for n_beams in config.beams:
                hidden, refused = _our_fit(prediction, frame, kind, frame.fit_sets[n_beams], config)
                scores[f"lidar {n_beams}"].refused += int(refused)
                scores[f"lidar {n_beams}"].add(hidden, raw, kind, truth.depth_m)
            scores["ground plane"].add(_ground_map(prediction, frame, kind, config.ground), raw, kind, truth.depth_m)
            if "ground plane, estimated normal" in scores:
                ground = _ground_map(prediction, frame, kind, estimated)
                scores["ground plane, estimated normal"].add(ground, raw, kind, truth.depth_m)
            scores["oracle fit"].add(_oracle_fit(raw, truth.depth_m, kind, config.fit), raw, kind, truth.depth_m)
            scores[ALL_TRUTH_LEAST_SQUARES].add(least_squares_map(raw, truth.depth_m, kind), raw, kind, truth.depth_m)
    raw_all = np.concatenate([p[0] for p in pooled])
    depth_all = np.concatenate([p[1] for p in pooled])
    truth_all = np.concatenate([p[2] for p in pooled])
    if kind.has_shift:
        global_map = least_squares_map(raw_all, truth_all, kind)
    else:
        ok = np.isfinite(depth_all) & (depth_all > 0)
        global_map = HiddenMap(float(np.median(truth_all[ok] / depth_all[ok])), 0.0)
    for raw, _, truth_depth in pooled:
        scores["global"].add(global_map, raw, kind, truth_depth)
    return scores
