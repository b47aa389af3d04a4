"""Ground-plane prior: metric scale from a known camera height (and pitch) when no LiDAR is usable.

For a plane ``n · X = h`` (unit normal ``n`` pointing to the ground, camera at height ``h`` above it), the true
inverse depth of a pixel on it is *linear* in normalised image coordinates ``x = (u - cx) / fx``,
``y = (v - cy) / fy``: ``1 / z = (n_x x + n_y y + n_z) / h``. A prediction is affine in inverse depth
(``1 / prediction`` for depth kinds, the disparity itself for relative_inverse), so the road or floor is a plane
``q = a x + b y + c`` in (x, y, q). Samples are a strided grid of pixels where the prior plane lies between
``min_range_m`` and ``max_range_m`` (by default within a range that shrinks with the camera height, see
:attr:`GroundPlaneConfig.range_m`). Two estimators:

* prior normal (default, any output kind): the prior plane's depth ``h / (n · ray)`` at each sample is a
  pseudo-LiDAR target, and the robust fit of :mod:`.fit` for the output kind finds s (and t), treating non-ground
  pixels (cars, walls) as outliers. The inliers must span a range of distances, otherwise a fronto-parallel object
  could match the prior at one distance; for the kinds with a shift they must also deepen down the image as the
  prior does (:func:`_slope_problem`: a scale and a shift can put a vehicle close ahead onto a band of road rows).
* estimated normal (``estimate_normal=True``, depth kinds): RANSAC plane in (x, y, q) (3-point samples, tilt within
  ``max_tilt_deg`` of the prior), refined by least squares; ``(a, b, c) = s · n / h`` gives ``s = h · |(a, b, c)|``.
  This is "fit the road plane in the back-projected prediction and scale it to the camera height"; it follows pitch
  changes but a smooth error in the prediction tilts the fitted plane, so on KITTI it was less accurate (see
  docs/scale_eval.md). relative_inverse and affine_depth always use the prior normal: with an unknown shift the
  plane's distance is not observable without it (and a shifted depth is no plane in (x, y, 1 / prediction)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ConfigError, PredictionOrderError, ScaleRecoveryError, ShapeError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.scale.fit import FitConfig, FitResult, fit_for_kind

_PRIOR_LOG_SIGMA = 0.05  # ground-plane scales are trusted to about 5 % (height, pitch and flatness errors)
_MIN_SLOPE = 0.8  # scale + shift kinds: least fitted / prior inverse-depth slope down the columns (_slope_problem)


@dataclass(frozen=True)
class GroundPlaneConfig:
    """Ground-plane prior.

    Attributes:
        camera_height_m: height of the camera optical centre above the ground plane, metres (> 0).
        pitch_rad: camera pitch, positive looking down (rotation about the optical x axis).
        roll_rad: camera roll about the optical axis, positive when the ground normal tilts towards +x.
        min_range_m, max_range_m: only pixels where the prior plane lies within this depth range are used; None
            (default): ``min(2 m, 4/3 h)`` and ``min(30 m, 20 h)`` for a camera at height ``h`` (see
            :attr:`range_m`).
        stride_px: pixel stride of the sample grid.
        estimate_normal: depth kinds: estimate the plane's normal (True) instead of using the prior's (False).
        max_tilt_deg: largest angle between the estimated and the prior ground normal.
        inlier_threshold: |relative residual| to the plane for an inlier.
        min_inlier_ratio: fewer inliers than this fraction of the samples → no ground found.
        min_points: fewest valid samples.
        hypotheses: RANSAC samples.
        seed: RANSAC random seed.
    """

    camera_height_m: float = 1.5
    pitch_rad: float = 0.0
    roll_rad: float = 0.0
    min_range_m: float | None = None
    max_range_m: float | None = None
    stride_px: int = 8
    estimate_normal: bool = False
    max_tilt_deg: float = 10.0
    inlier_threshold: float = 0.15
    min_inlier_ratio: float = 0.3
    min_points: int = 50
    hypotheses: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.camera_height_m) and self.camera_height_m > 0):
            msg = f"ground plane needs camera_height_m > 0, got {self.camera_height_m}; measure it or disable it"
            raise ConfigError(msg)
        low, high = self.range_m
        if not 0 < low < high or self.stride_px < 1:
            msg = f"ground plane needs 0 < min_range_m ({low}) < max_range_m ({high}) and stride_px >= 1, got {self}"
            raise ConfigError(msg)

    @property
    def range_m(self) -> tuple[float, float]:
        """(nearest, farthest) prior-plane depth sampled, metres.

        A pitch error δ (rad) misplaces the ground at depth z by about δ · z / h in relative terms, so the ground
        worth using lies within some camera heights: by default 2-30 m for cameras at 1.5 m and above (cars), and
        4/3 h to 20 h below (a camera 0.3 m up: 0.4-6 m). Fixed at 2-30 m, a 0.3 m camera with a 1° pitch error got
        its scale 17-23 % wrong, or none, from ground seen within 9° of the horizon; 5.5 % with its near ground.
        """
        h = self.camera_height_m
        low = self.min_range_m if self.min_range_m is not None else min(2.0, 4.0 / 3.0 * h)
        high = self.max_range_m if self.max_range_m is not None else min(30.0, 20.0 * h)
        return low, high

    def posed(self, pose: GroundPose) -> GroundPlaneConfig:
        """This prior with the camera's height, pitch and roll taken from ``pose`` (TF's); the range stays as set
        (None: from the new height)."""
        return replace(self, camera_height_m=pose.height_m, pitch_rad=pose.pitch_rad, roll_rad=pose.roll_rad)

    def remedy(self) -> str:
        """Where this prior puts the ground and what to check when none is found there (ends a refusal's message)."""
        low, high = self.range_m
        return (
            f"; the prior puts the ground {self.camera_height_m:.2f} m below the camera, pitched "
            f"{math.degrees(self.pitch_rad):+.1f}° down, {low:g}-{high:g} m ahead: is the ground in view there "
            "(no wall or vehicle close ahead, the image not cropped above the horizon), and are "
            "scale.camera_height_m and scale.camera_pitch_rad (positive looking down) right?"
        )

    def normal_in_camera(self) -> npt.NDArray[np.float64]:
        """(3,) unit normal of the ground (pointing down, towards the ground) in the camera optical frame."""
        cp, sp = math.cos(self.pitch_rad), math.sin(self.pitch_rad)
        cr, sr = math.cos(self.roll_rad), math.sin(self.roll_rad)
        return np.array([sr * cp, cr * cp, sp])


POSE_CURRENT_NS = 200_000_000
"""A :class:`GroundPose` from TF at most this long (int ns) before the image is current (a 10 Hz joint state and its
delivery: TF steadily behind the images); an older one (TF paused, the pose held), or one from further after the
image (TF's newest held for an image stamped before TF's oldest pose), is not: the frame's ground-plane scale is
``degraded`` (a joint turning at 30°/s through a 0.3 s pause: 9°, a third of the scale)."""


class GroundPose(NamedTuple):
    """The camera above the ground as :class:`GroundPlaneConfig` takes it: ``height_m`` (optical centre above the
    ground plane, metres), ``pitch_rad`` (optical axis below the horizontal, positive looking down) and ``roll_rad``
    (about the optical axis, positive when the ground normal tilts towards the optical +x). ``age_ns``: how long
    before the image stamp TF's pose was (int ns; 0: TF's answer at the stamp; extrapolated: from its newer pose;
    negative: a pose from after the image; :data:`POSE_CURRENT_NS`)."""

    height_m: float
    pitch_rad: float
    roll_rad: float
    age_ns: int = 0


def ground_pose(ground_from_cam: RigidTransform) -> GroundPose:
    """The camera's :class:`GroundPose` from TF's ``ground_frame <- camera optical frame``.

    The ground frame lies on the ground with z up (REP 120's ``base_footprint``, REP 103); the camera frame is an
    optical frame (z forward, x right, y down). The height is the camera origin's z in the ground frame; the ground's
    downward normal ``-z`` in the camera frame is ``(sin r cos p, cos r cos p, sin p)`` (:meth:`GroundPlaneConfig.
    normal_in_camera`), which gives pitch and roll. A height <= 0 (a ground frame that is not on the ground, or
    above the camera) is returned as it is: the caller refuses it.
    """
    normal = -ground_from_cam.rotation[2, :]  # the ground frame's -z in camera coordinates (R^T @ (0, 0, -1))
    pitch = math.asin(min(1.0, max(-1.0, float(normal[2]))))
    roll = math.atan2(float(normal[0]), float(normal[1]))
    return GroundPose(float(ground_from_cam.translation[2]), pitch, roll)


class _Samples(NamedTuple):
    """The usable grid pixels: normalised ``x``, ``y``; ``q`` (1 / prediction for depth kinds, the prediction itself,
    any finite value, for the kinds with a shift); the prior plane's inverse depth ``prior_inverse`` (1/m); their
    flat indices ``cells`` into the sample grid of ``grid_shape`` (rows, cols)."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    q: npt.NDArray[np.float64]
    prior_inverse: npt.NDArray[np.float64]
    cells: npt.NDArray[np.intp]
    grid_shape: tuple[int, int]


def _plane_samples(
    prediction: npt.NDArray[np.floating], kind: OutputKind, intrinsics: PinholeIntrinsics, config: GroundPlaneConfig
) -> _Samples:
    """The grid pixels where the prior plane lies in range and the prediction is usable."""
    normal = config.normal_in_camera()
    h = config.camera_height_m
    x = (np.arange(0, intrinsics.width, config.stride_px) - intrinsics.cx) / intrinsics.fx
    rows = np.arange(0, intrinsics.height, config.stride_px)
    y = (rows - intrinsics.cy) / intrinsics.fy
    prior_inverse = (normal[0] * x[None, :] + normal[1] * y[:, None] + normal[2]) / h
    low, high = config.range_m
    in_range = (prior_inverse > 1.0 / high) & (prior_inverse < 1.0 / low)
    sampled = np.asarray(prediction, dtype=np.float64)[:: config.stride_px, :: config.stride_px]
    relative = kind.has_shift
    with np.errstate(divide="ignore", invalid="ignore"):
        q = sampled if relative else 1.0 / sampled
        ok = in_range & np.isfinite(q) & (relative | (q > 0))  # an affine output: any sign (as the LiDAR fit)
    xx = np.broadcast_to(x[None, :], ok.shape)[ok]
    yy = np.broadcast_to(y[:, None], ok.shape)[ok]
    return _Samples(xx, yy, q[ok], prior_inverse[ok], np.flatnonzero(ok), (ok.shape[0], ok.shape[1]))


def ground_plane_fit(
    prediction: npt.NDArray[np.floating],
    kind: OutputKind,
    intrinsics: PinholeIntrinsics,
    config: GroundPlaneConfig,
) -> FitResult:
    """Scale (and shift) that put the predicted ground plane at the known camera height.

    Args:
        prediction: (H, W) prediction of ``kind`` (depth up to scale, metric, or relative disparity); NaN invalid.
        kind: what the prediction means.
        intrinsics: intrinsics of the prediction image.
        config: camera height, pitch and RANSAC settings.

    Returns:
        A :class:`FitResult` (``n_points`` = grid samples, ``log_scale_sigma`` floored at 5 %).

    Raises:
        ScaleRecoveryError: too few samples, no plane with enough inliers, or the plane tilts too far from the prior.
    """
    kind = OutputKind(kind)
    if prediction.shape != (intrinsics.height, intrinsics.width):
        msg = f"prediction is {prediction.shape} but intrinsics are for {intrinsics.height}x{intrinsics.width}"
        raise ShapeError(msg)
    samples = _plane_samples(prediction, kind, intrinsics, config)
    x, y, q, prior_inverse = samples.x, samples.y, samples.q, samples.prior_inverse
    n = q.size
    if n < config.min_points:
        msg = f"no ground plane: {n} valid prediction samples where the ground should be (need {config.min_points})"
        raise ScaleRecoveryError(msg + config.remedy())
    if config.estimate_normal and not kind.has_shift:
        return _estimated_plane_fit(x, y, q, config)
    fit = _prior_normal_fit(q if kind.has_shift else 1.0 / q, prior_inverse, kind, config)
    if kind.has_shift:
        problem = _slope_problem(samples, kind, fit, config)
        if problem is not None:
            raise ScaleRecoveryError(f"no ground plane: {problem}{config.remedy()}")
    return fit


def _estimated_plane_fit(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], q: npt.NDArray[np.float64], config: GroundPlaneConfig
) -> FitResult:
    """RANSAC + least-squares plane ``q = a x + b y + c`` (depth kinds); ``s = h · |(a, b, c)|``."""
    n = q.size
    plane, r = _estimated_plane(x, y, q, config)
    inliers = np.abs(r) < config.inlier_threshold
    n_inliers = int(np.count_nonzero(inliers))
    if n_inliers < config.min_inlier_ratio * n or not _tilt_ok(plane[None, :], config)[0]:
        msg = (
            f"no ground plane: {n_inliers} of {n} samples fit a plane within {config.max_tilt_deg}° of the prior "
            f"(need {config.min_inlier_ratio:.0%})"
        )
        raise ScaleRecoveryError(msg + config.remedy())
    scale = float(config.camera_height_m * np.linalg.norm(plane))
    residual_in = float(np.median(np.abs(r[inliers])))
    return FitResult(scale, 0.0, n, n_inliers, residual_in, max(_PRIOR_LOG_SIGMA, residual_in / math.sqrt(n_inliers)))


def _estimated_plane(
    x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], q: npt.NDArray[np.float64], config: GroundPlaneConfig
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The RANSAC + least-squares plane ``(a, b, c)`` (∝ normal / h) and each sample's relative residual to it."""
    n = q.size
    rng = np.random.default_rng(config.seed)
    triples = rng.integers(0, n, size=(config.hypotheses, 3))
    systems = np.stack([x[triples], y[triples], np.ones(triples.shape)], axis=2)  # (K, 3, 3)
    det = np.linalg.det(systems)
    usable = np.abs(det) > 1e-9
    if not np.any(usable):
        msg = "no ground plane: its RANSAC found no non-degenerate sample"
        raise ScaleRecoveryError(msg + config.remedy())
    planes = np.linalg.solve(systems[usable], q[triples[usable]][..., None])[..., 0]  # (K, 3) a, b, c
    planes = planes[_tilt_ok(planes, config)]
    if planes.shape[0] == 0:
        msg = f"no ground plane: no hypothesis within {config.max_tilt_deg}° of the prior normal"
        raise ScaleRecoveryError(msg + config.remedy())
    inv_q = 1.0 / q
    # Relative residual of every sample under every plane, (N, K), element-wise (no threaded BLAS gemm).
    residual = (x[:, None] * planes[:, 0] + y[:, None] * planes[:, 1] + planes[:, 2]) * inv_q[:, None] - 1.0
    cost = np.minimum(residual * residual, config.inlier_threshold**2).sum(axis=0)
    plane = planes[int(np.argmin(cost))]
    design = np.stack([x * inv_q, y * inv_q, inv_q], axis=1)  # relative residual = design · plane - 1
    for _ in range(3):
        r = (design * plane).sum(axis=1) - 1.0
        inliers = np.abs(r) < config.inlier_threshold
        if np.count_nonzero(inliers) < 3:
            break
        plane = np.linalg.lstsq(design[inliers], np.ones(int(np.count_nonzero(inliers))), rcond=None)[0]
    return plane, (design * plane).sum(axis=1) - 1.0


def _prior_normal_fit(
    values: npt.NDArray[np.float64],
    prior_inverse: npt.NDArray[np.float64],
    kind: OutputKind,
    config: GroundPlaneConfig,
) -> FitResult:
    """Robust fit of the prediction ``values`` to the prior plane's depth (non-ground pixels are outliers)."""
    fit_config = FitConfig(
        min_points=config.min_points,
        inlier_threshold=config.inlier_threshold,
        min_inlier_ratio=config.min_inlier_ratio,
        ransac_hypotheses=config.hypotheses,
        seed=config.seed,
        scale_max_points=FitConfig.max_points,  # the LiDAR fit's 4096 was measured on LiDAR pairs, not these samples
    )
    try:
        fit = fit_for_kind(values, 1.0 / prior_inverse, kind, fit_config)
    except PredictionOrderError as err:  # its remedies are a LiDAR's (transform) or a model's: the ground's first
        how = "runs against" if err.runs_against else "does not follow"
        model = (
            "is model.output_kind right (an inverse depth read as depth, or the reverse)?"
            if err.runs_against
            else "is the model's output sane (weights loaded, input normalisation)?"
        )
        msg = (
            f"no ground plane: the prediction {how} the depths of the ground the prior expects (correlation "
            f"{err.correlation:+.2f} over {err.n_points} samples; a ground's depth grows towards the horizon)"
            f"{config.remedy()} If so, {model}"
        )
        raise ScaleRecoveryError(msg) from None
    except ScaleRecoveryError as err:
        msg = f"no ground plane: {err}"
        raise ScaleRecoveryError(msg + config.remedy()) from None
    problem = fit.problem(fit_config)
    if problem is not None:
        msg = f"no ground plane: {problem}"
        raise ScaleRecoveryError(msg + config.remedy())
    # Inliers must be ground seen over a range of distances: a fronto-parallel object (constant prediction) can
    # match the prior at a single distance.
    if kind.has_shift:
        inliers = _fitted_inverse(values, prior_inverse, kind, fit, config)[1]
    else:
        inliers = np.abs(np.log(fit.scale * values * prior_inverse)) < config.inlier_threshold
    q_all = np.percentile(prior_inverse, [10, 90])
    q_in = np.percentile(prior_inverse[inliers], [10, 90])
    if q_in[1] - q_in[0] < 0.5 * (q_all[1] - q_all[0]):
        msg = "no ground plane: the pixels that fit the prior cover too narrow a band of distances"
        raise ScaleRecoveryError(msg + config.remedy())
    sigma = max(_PRIOR_LOG_SIGMA, fit.log_scale_sigma)
    return FitResult(fit.scale, fit.shift, fit.n_points, fit.n_inliers, fit.residual, sigma)


def _slope_problem(samples: _Samples, kind: OutputKind, fit: FitResult, config: GroundPlaneConfig) -> str | None:
    """Why the inliers of a scale + shift fit are no ground (None: they are).

    A scale and a shift can map a surface facing the camera (a vehicle close ahead: one predicted value down its
    rows) to the depth of a band of the prior's ground rows, and with some real ground beside it pass as a ground
    seen over many distances. A ground's inverse depth changes down a column as the prior's does, a facing surface's
    hardly at all: the least-squares slope of the fitted inverse depth against the prior's, within each sample
    column over all its inliers (pooled: ``Σ cov / Σ var`` over the columns), must be at least ``_MIN_SLOPE``. A
    facing surface's inliers pull it towards 0 by their share of the prior's variation down the columns; the
    prediction's noise averages out over a column instead of deciding single pixel pairs.
    """
    slope, n_inliers = _column_slope(samples, kind, fit, config)
    if slope >= _MIN_SLOPE:
        return None
    return (
        f"the pixels that fit the prior do not deepen down the image as a ground does (their inverse depth changes "
        f"down a column by {slope:.2f}x the prior's change, least squares over {n_inliers} inliers; need "
        f"{_MIN_SLOPE:g}): a surface facing the camera took the ground's place"
    )


def _column_slope(samples: _Samples, kind: OutputKind, fit: FitResult, config: GroundPlaneConfig) -> tuple[float, int]:
    """The pooled column slope of :func:`_slope_problem` (dimensionless; 1: as the prior's ground) and its inliers."""
    fitted_inverse, inliers = _fitted_inverse(samples.q, samples.prior_inverse, kind, fit, config)
    column = samples.cells[inliers] % samples.grid_shape[1]
    fitted, prior = fitted_inverse[inliers], samples.prior_inverse[inliers]
    count = np.maximum(np.bincount(column, minlength=samples.grid_shape[1]), 1)
    prior_off = prior - (np.bincount(column, prior, count.size) / count)[column]
    fitted_off = fitted - (np.bincount(column, fitted, count.size) / count)[column]
    variation = float(np.dot(prior_off, prior_off))
    return (float(np.dot(prior_off, fitted_off)) / variation if variation > 0 else 0.0), int(fitted.size)


def _fitted_inverse(
    q: npt.NDArray[np.float64],
    prior_inverse: npt.NDArray[np.float64],
    kind: OutputKind,
    fit: FitResult,
    config: GroundPlaneConfig,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """A scale + shift fit's inverse depth (1/m) at the samples and its inliers to the prior, the residual taken
    as the fit of :mod:`.fit` takes it (relative in inverse depth for relative_inverse, in depth for affine_depth)."""
    values = fit.scale * q + fit.shift
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind is OutputKind.RELATIVE_INVERSE:
            fitted_inverse, relative = values, values / prior_inverse - 1.0
        else:
            fitted_inverse, relative = 1.0 / values, values * prior_inverse - 1.0
        inliers = np.abs(relative) < config.inlier_threshold
    return fitted_inverse, inliers


def _tilt_ok(planes: npt.NDArray[np.float64], config: GroundPlaneConfig) -> npt.NDArray[np.bool_]:
    """Which (K, 3) planes (a, b, c) ∝ normal / h are within ``max_tilt_deg`` of the prior normal."""
    cos_max = math.cos(math.radians(config.max_tilt_deg))
    norms = np.linalg.norm(planes, axis=1)
    return np.asarray((planes * config.normal_in_camera()).sum(axis=1) > cos_max * np.maximum(norms, 1e-300))
