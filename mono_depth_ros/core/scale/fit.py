"""Robust fits of a depth prediction to metric target depths, one model per output kind.

* ``depth_up_to_scale`` (and ``metric``, as a correction): ``depth = s · prediction``. The fit is a Huber
  M-estimate of ``log(target / prediction)`` started at the median and iterated (IRLS) over the points within
  ``inlier_threshold``: scale errors are multiplicative, so the log domain weighs near and far points alike.
* ``relative_inverse`` (MiDaS / Depth Anything disparity): ``1 / depth = s · prediction + t``. RANSAC over
  2-point samples (MSAC score, ``s > 0`` only), then IRLS with Huber weights on the *relative* residual
  ``r = target · (s · prediction + t) - 1`` (the relative depth error to first order), i.e. a weighted linear
  least-squares problem in (s, t) each iteration. Pixels whose fitted inverse depth is not positive are invalid.
* ``affine_depth`` (Marigold, Prompt Depth Anything without its prompt): ``depth = s · prediction + t``, the same
  RANSAC + IRLS in depth, on the relative residual ``r = (s · prediction + t) / target - 1``. Pixels whose fitted
  depth is not positive are invalid.

Every fit reports the inlier count and ratio and the median relative residual of its inliers. A fit with too few
points, or (for scale + shift) targets whose inverse depths barely differ, raises :class:`ScaleRecoveryError`; so
does a prediction that runs against the targets' order (log prediction vs log depth, or disparity vs inverse depth,
correlation <= -0.3) while the targets span enough distances to tell: an inverse depth read as depth or the
reverse (``model.output_kind`` wrong). Such a fit was accepted as ``ok`` when 30 % of the points happened to fit:
disparity read as depth on the KITTI frames gave 26-41 % median error with near and far swapped. So is one that does
not follow the targets (correlation below ``FitConfig.min_correlation``, 0.1): noise for a prediction passed the
inlier ratio on 4 of 9 KITTI frames x kinds (16-42 % median error), an affine fit with a scale near 0 keeping the
points near the scan's median depth.
Sums are element-wise products, not ``np.dot``: a threaded BLAS ``ddot`` on a busy CPU took 15 ms instead of 3 µs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ConfigError, PredictionOrderError, ScaleRecoveryError, ShapeError

_MAD_TO_SIGMA = 1.4826
_SIGMA_FLOOR = 1e-3
_REVERSED = -0.3  # correlation at or below which a prediction runs against its targets' order (output kind wrong)


@dataclass(frozen=True)
class FitConfig:
    """Robust fit settings.

    Attributes:
        min_points: fewest valid (prediction, target) pairs for a fit.
        inlier_threshold: |relative residual| (log-ratio for scale fits) below which a point is an inlier.
            It must admit the prediction's own error: 0.25 suits networks with AbsRel around 0.1-0.15.
        min_inlier_ratio: fits with fewer inliers are reported as unusable (see :meth:`FitResult.problem`).
        huber_k: Huber threshold in robust standard deviations.
        iterations: IRLS iterations (each one a weighted least-squares solve).
        ransac_hypotheses: 2-point hypotheses for the scale + shift fit.
        ransac_sample: points each hypothesis is scored on (a fixed random subset).
        min_inverse_spread: ``(q90 - q10) / q50`` of the target inverse depths needed to separate scale from
            shift; below it the scale + shift fit is degenerate and refused.
        max_points: fits use at most this many pairs (every k-th valid pair, so the sample keeps the scan's spatial
            spread, in input order; where a whole k would keep fewer than ``min_points``, this many evenly spaced
            ones); 8192 points bound the statistical error far below the systematic one
            (0.15 / sqrt(8192) < 0.2 %).
        scale_max_points: the one-parameter fit (:func:`fit_scale`: depth_up_to_scale, metric) uses at most this
            many (at least ``min_points``, at most ``max_points``): one parameter needs fewer pairs than the scale +
            shift fits' two, and the fit on 8192 pairs was a fifth to a quarter of the LiDAR scale's CPU per frame.
            4096 instead of 8192 moved the shipped model's scale by at most 0.28 % on real KITTI scans (3 frames at
            414x125 and 1242x375) and the synthetic drive (16 and 64 beams), its AbsRel against the scan or the
            ground truth by at most 0.0006 either way; the 8192-pair fit itself is up to 0.15 % from the fit over
            every pair (``test_fit.py``).
        seed: RANSAC random seed (fits are deterministic).
        min_correlation: a prediction that correlates with the targets (log prediction vs log depth, disparity vs
            inverse depth, depth vs depth) below this, while they span ``min_inverse_spread``, does not follow the
            scene and is refused: noise for a prediction correlates at 0.00-0.01 on the KITTI scans yet passed the
            inlier ratio; a real prediction with 30 % smooth error, 10 % noise and 10 % outliers correlates at
            0.56-0.85 (one elevation band of a scan, 15 % error: 1 of 30 fits below 0.1, 3 below 0.2).
    """

    min_points: int = 30
    inlier_threshold: float = 0.25
    min_inlier_ratio: float = 0.3
    huber_k: float = 1.345
    iterations: int = 10
    ransac_hypotheses: int = 64
    ransac_sample: int = 1024
    min_inverse_spread: float = 0.2
    max_points: int = 8192
    scale_max_points: int = 4096
    seed: int = 0
    min_correlation: float = 0.1

    def __post_init__(self) -> None:
        if (
            self.min_points < 3
            or self.max_points < self.min_points
            or self.inlier_threshold <= 0
            or not 0 <= self.min_inlier_ratio <= 1
        ):
            msg = (
                f"fit needs 3 <= min_points ({self.min_points}) <= max_points ({self.max_points}), "
                f"inlier_threshold > 0 ({self.inlier_threshold}) "
                f"and 0 <= min_inlier_ratio <= 1 ({self.min_inlier_ratio})"
            )
            raise ConfigError(msg)
        if self.scale_max_points < 1:
            msg = f"fit needs scale_max_points >= 1, got {self.scale_max_points}"
            raise ConfigError(msg)
        if not _REVERSED < self.min_correlation < 1.0:
            msg = f"fit needs {_REVERSED} < min_correlation < 1, got {self.min_correlation}"
            raise ConfigError(msg)


@dataclass(frozen=True)
class FitResult:
    """Outcome of one fit.

    Attributes:
        scale: s (unitless for depth kinds; metres⁻¹ per prediction unit for relative_inverse; metres per
            prediction unit for affine_depth).
        shift: t in metres⁻¹ (inverse depth) for relative_inverse, in metres for affine_depth, 0 otherwise.
        n_points: valid pairs used (at most ``FitConfig.max_points``).
        n_inliers: pairs within the inlier threshold at the solution.
        residual: median |relative residual| of the inliers (log ratio for scale fits, inverse-depth relative
            residual for scale + shift; both ≈ the relative depth error).
        log_scale_sigma: statistical 1σ of ``log(scale)`` (robust sigma / sqrt(inliers)).
    """

    scale: float
    shift: float
    n_points: int
    n_inliers: int
    residual: float
    log_scale_sigma: float

    @property
    def inlier_ratio(self) -> float:
        """Inliers / points (0 when there are no points)."""
        return self.n_inliers / self.n_points if self.n_points else 0.0

    def problem(self, config: FitConfig) -> str | None:
        """Why this fit should not be trusted, or None when it is usable."""
        if self.inlier_ratio < config.min_inlier_ratio:
            return f"fit inlier ratio {self.inlier_ratio:.2f} < {config.min_inlier_ratio:.2f} ({self.n_points} points)"
        if not (np.isfinite(self.scale) and self.scale > 0 and np.isfinite(self.shift)):
            return f"fit gave scale {self.scale} shift {self.shift}"
        return None

    def usable(self, config: FitConfig) -> FitResult:
        """This fit, when it can be trusted.

        Raises:
            ScaleRecoveryError: :meth:`problem` is not None (it is the message).
        """
        problem = self.problem(config)
        if problem is not None:
            raise ScaleRecoveryError(problem)
        return self


def _valid_pairs(
    prediction: npt.NDArray[np.floating],
    target_depth_m: npt.NDArray[np.floating],
    positive_prediction: bool,
    max_points: int,
    min_points: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Finite pairs with positive target (and prediction, for depth kinds), thinned to at most ``max_points``.

    Every k-th valid pair (the smallest whole k that fits ``max_points``), which can keep barely more than half of
    ``max_points``; where that would be fewer than ``min_points`` (<= ``max_points``), ``max_points`` pairs evenly
    spaced in input order instead, so that a scan with enough valid pairs is never refused for the thinning's sake
    (``scale.min_points`` 3500 refused every 5th of KITTI 000002's 16,754 pairs at 414x125: 3351 kept of a 4096 cap).
    """
    pred = np.asarray(prediction, dtype=np.float64).reshape(-1)
    target = np.asarray(target_depth_m, dtype=np.float64).reshape(-1)
    if pred.shape != target.shape:
        msg = f"prediction samples {pred.shape} and target depths {target.shape} differ in length"
        raise ShapeError(msg)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(pred) & np.isfinite(target) & (target > 0)
        if positive_prediction:
            ok &= pred > 0
    index = np.flatnonzero(ok)
    if index.size > max_points:
        step = -(-index.size // max_points)
        if -(-index.size // step) >= min_points:
            index = index[::step]
        else:
            index = index[np.arange(max_points) * index.size // max_points]
    return pred[index], target[index]


def fit_scale(
    prediction: npt.NDArray[np.floating], target_depth_m: npt.NDArray[np.floating], config: FitConfig | None = None
) -> FitResult:
    """Robust ``s`` in ``target ≈ s · prediction`` (depth_up_to_scale; metric correction).

    Args:
        prediction: (N,) predicted depth at the target pixels (any positive unit); NaN / <= 0 ignored.
        target_depth_m: (N,) metric depth (LiDAR), metres; NaN / <= 0 ignored.
        config: fit settings.

    Raises:
        ScaleRecoveryError: fewer than ``config.min_points`` valid pairs.
    """
    config = config or FitConfig()
    pairs = min(config.max_points, max(config.scale_max_points, config.min_points))
    pred, target = _valid_pairs(prediction, target_depth_m, True, pairs, config.min_points)
    if pred.size < config.min_points:
        msg = f"{pred.size} valid LiDAR/prediction pairs, need {config.min_points} for a scale fit"
        raise ScaleRecoveryError(msg)
    log_pred, log_target = np.log(pred), np.log(target)
    _check_order(log_pred, log_target, target, config, "depth (depth_up_to_scale / metric)", "relative_inverse")
    log_ratio = log_target - log_pred
    mu = float(np.median(log_ratio))
    thr = config.inlier_threshold
    sigma = _robust_sigma(log_ratio - mu, thr)
    bound = config.huber_k * sigma
    for _ in range(config.iterations):
        r = log_ratio - mu
        w = _huber_weights(r, bound, thr)
        total = float(np.sum(w))
        if total <= 0:
            break
        step = float(np.sum(w * r)) / total
        mu += step
        if abs(step) < 1e-7:
            break
    return _result(math.exp(mu), 0.0, log_ratio - mu, thr)


def _check_order(
    values: npt.NDArray[np.float64],
    truth: npt.NDArray[np.float64],
    target: npt.NDArray[np.float64],
    config: FitConfig,
    read_as: str,
    other_kind: str,
) -> None:
    """Refuse a prediction whose ``values`` fall as ``truth`` rises (Pearson correlation <= -0.3), or do not follow it
    (correlation below ``min_correlation``: noise), when the targets' inverse depths span at least
    ``min_inverse_spread`` of their median (a wall at one distance tells nothing)."""
    vc, tc = values - float(np.mean(values)), truth - float(np.mean(truth))
    denominator = math.sqrt(float(np.sum(vc * vc)) * float(np.sum(tc * tc)))
    if not denominator > 0:
        return  # a constant prediction: the fit itself refuses it
    correlation = float(np.sum(vc * tc)) / denominator
    if correlation >= config.min_correlation:
        return
    q10, q50, q90 = np.percentile(1.0 / target, [10, 50, 90])
    spread = float((q90 - q10) / q50)
    if spread < config.min_inverse_spread:
        return
    if correlation > _REVERSED:
        msg = (
            f"the prediction read as {read_as} does not follow the depths it is fitted to (correlation "
            f"{correlation:+.2f} over {values.size} points whose inverse depths span {spread:.0%}; need "
            f"{config.min_correlation:+.2f}): a scale fitted to it would be no metric depth. Is the model's output "
            "sane (weights loaded, input normalisation, trained for this kind of scene), and is it the prediction of "
            "this image?"
        )
        raise PredictionOrderError(msg, correlation, values.size, runs_against=False)
    msg = (
        f"the prediction read as {read_as} runs against the depths it is fitted to (correlation "
        f"{correlation:+.2f} over {values.size} points): is the model's output kind right "
        f"(model.output_kind={other_kind}?), or is the LiDAR -> camera transform wrong (the image not stamped in the "
        "optical frame, parent and child swapped, a camera or LiDAR upside down in TF)?"
    )
    raise PredictionOrderError(msg, correlation, values.size, runs_against=True)


def _robust_sigma(residual: npt.NDArray[np.float64], threshold: float) -> float:
    """1.4826 · median |r| over |r| < threshold (floored); the IRLS scale, fixed during the iterations."""
    inside = np.abs(residual[np.abs(residual) < threshold])
    return max(_MAD_TO_SIGMA * float(np.median(inside)), _SIGMA_FLOOR) if inside.size else threshold


def _huber_weights(residual: npt.NDArray[np.float64], bound: float, threshold: float) -> npt.NDArray[np.float64]:
    """Huber weights ``min(1, bound / |r|)``, zero beyond the inlier threshold."""
    magnitude = np.abs(residual)
    weights = np.minimum(1.0, bound / np.maximum(magnitude, 1e-12))
    weights[magnitude >= threshold] = 0.0
    return weights


def _result(scale: float, shift: float, residual: npt.NDArray[np.float64], threshold: float) -> FitResult:
    """Inlier count, median |residual| of the inliers and the log-scale sigma at the solution."""
    inside = np.abs(residual[np.abs(residual) < threshold])
    n_inliers = int(inside.size)
    if n_inliers == 0:
        return FitResult(scale, shift, int(residual.size), 0, math.nan, math.inf)
    median = float(np.median(inside))
    sigma = max(_MAD_TO_SIGMA * median, _SIGMA_FLOOR)
    return FitResult(scale, shift, int(residual.size), n_inliers, median, sigma / math.sqrt(n_inliers))


def _weighted_affine(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64], w: npt.NDArray[np.float64]
) -> tuple[float, float] | None:
    """Solve min Σ w (a s + b t - 1)² (2×2 normal equations); None when singular."""
    wa, wb = w * a, w * b
    waa, wab, wbb = float(np.sum(wa * a)), float(np.sum(wa * b)), float(np.sum(wb * b))
    wa1, wb1 = float(np.sum(wa)), float(np.sum(wb))
    det = waa * wbb - wab * wab
    if not np.isfinite(det) or abs(det) <= 1e-12 * max(waa * wbb, 1e-300):
        return None
    return float((wa1 * wbb - wb1 * wab) / det), float((waa * wb1 - wab * wa1) / det)


def fit_scale_shift_inverse(
    disparity: npt.NDArray[np.floating], target_depth_m: npt.NDArray[np.floating], config: FitConfig | None = None
) -> FitResult:
    """Robust ``(s, t)`` in ``1 / target ≈ s · disparity + t`` (relative_inverse outputs).

    Args:
        disparity: (N,) relative inverse depth predicted at the target pixels (larger = closer); NaN ignored.
        target_depth_m: (N,) metric depth (LiDAR), metres; NaN / <= 0 ignored.
        config: fit settings.

    Raises:
        ScaleRecoveryError: too few pairs, target inverse depths too similar to separate scale from shift, or
            no hypothesis with ``s > 0``.
    """
    config = config or FitConfig()
    disp, target = _valid_pairs(disparity, target_depth_m, False, config.max_points, config.min_points)
    names = ("inverse depth (relative_inverse)", "depth_up_to_scale or metric", "inverse depths")
    return _fit_scale_shift(disp, 1.0 / target, target, config, names)


def fit_scale_shift_depth(
    prediction: npt.NDArray[np.floating], target_depth_m: npt.NDArray[np.floating], config: FitConfig | None = None
) -> FitResult:
    """Robust ``(s, t)`` in ``target ≈ s · prediction + t`` (affine_depth outputs; ``t`` in metres).

    Args:
        prediction: (N,) depth up to scale and shift at the target pixels (larger = farther, any finite value);
            NaN ignored.
        target_depth_m: (N,) metric depth (LiDAR), metres; NaN / <= 0 ignored.
        config: fit settings.

    Raises:
        ScaleRecoveryError: too few pairs, target depths too similar to separate scale from shift, or no
            hypothesis with ``s > 0``.
    """
    config = config or FitConfig()
    pred, target = _valid_pairs(prediction, target_depth_m, False, config.max_points, config.min_points)
    names = ("depth up to scale and shift (affine_depth)", "relative_inverse", "depths")
    return _fit_scale_shift(pred, target, target, config, names)


def _fit_scale_shift(
    values: npt.NDArray[np.float64],
    truth: npt.NDArray[np.float64],
    target: npt.NDArray[np.float64],
    config: FitConfig,
    names: tuple[str, str, str],
) -> FitResult:
    """Robust ``(s, t)`` in ``truth ≈ s · values + t`` (``truth``: the targets' inverse depth or depth), by RANSAC
    over 2-point samples (MSAC score, ``s > 0``) and IRLS on the relative residual ``(s · values + t) / truth - 1``.

    ``names``: what ``values`` are read as, the kind to suggest when their order runs against the targets', and
    what ``truth`` is (for the messages).
    """
    read_as, other_kind, truth_name = names
    n = values.size
    if n < config.min_points:
        msg = f"{n} valid LiDAR/prediction pairs, need {config.min_points} for a scale + shift fit"
        raise ScaleRecoveryError(msg)
    q10, q50, q90 = np.percentile(truth, [10, 50, 90])
    spread = float((q90 - q10) / q50)
    if spread < config.min_inverse_spread:
        typical_m = float(np.median(target))
        msg = (
            f"LiDAR {truth_name} span only {spread:.0%} of their median (need {config.min_inverse_spread:.0%}) "
            f"to separate scale from shift; points all at about {typical_m:.1f} m"
        )
        raise ScaleRecoveryError(msg)
    _check_order(values, truth, target, config, read_as, other_kind)
    rng = np.random.default_rng(config.seed)
    pairs = rng.integers(0, n, size=(config.ransac_hypotheses, 2))
    v_i, v_j = values[pairs[:, 0]], values[pairs[:, 1]]
    with np.errstate(divide="ignore", invalid="ignore"):  # equal predictions: inf / NaN hypotheses, dropped below
        s_hyp = (truth[pairs[:, 0]] - truth[pairs[:, 1]]) / (v_i - v_j)
        t_hyp = truth[pairs[:, 0]] - s_hyp * v_i
    good = np.isfinite(s_hyp) & np.isfinite(t_hyp) & (s_hyp > 0)
    if not np.any(good):
        msg = f"no scale + shift hypothesis with positive scale among {config.ransac_hypotheses} samples of {n} points"
        raise ScaleRecoveryError(msg)
    s_hyp, t_hyp = s_hyp[good], t_hyp[good]
    sample = rng.choice(n, size=min(n, config.ransac_sample), replace=False)
    r_hyp = (s_hyp[:, None] * values[sample][None, :] + t_hyp[:, None]) / truth[sample][None, :] - 1.0
    cost = np.minimum(r_hyp * r_hyp, config.inlier_threshold**2).sum(axis=1)  # MSAC
    best = int(np.argmin(cost))
    s, t = float(s_hyp[best]), float(t_hyp[best])
    a, b = values / truth, 1.0 / truth  # residual = a s + b t - 1
    thr = config.inlier_threshold
    bound = config.huber_k * _robust_sigma(a * s + b * t - 1.0, thr)
    v_ref = float(np.median(values[sample]))  # convergence is judged on the fitted value at a typical prediction
    for _ in range(config.iterations):
        w = _huber_weights(a * s + b * t - 1.0, bound, thr)
        solved = _weighted_affine(a, b, w)
        if solved is None:
            break
        change = (abs(solved[0] - s) * abs(v_ref) + abs(solved[1] - t)) / max(abs(s * v_ref + t), 1e-12)
        s, t = solved
        if change < 1e-7:
            break
    return _result(s, t, a * s + b * t - 1.0, thr)


def fit_for_kind(
    prediction: npt.NDArray[np.floating],
    target_depth_m: npt.NDArray[np.floating],
    kind: OutputKind,
    config: FitConfig | None = None,
) -> FitResult:
    """Dispatch on the output kind: scale for depth kinds, scale + shift in inverse depth for relative_inverse, in
    depth for affine_depth."""
    if OutputKind(kind) is OutputKind.RELATIVE_INVERSE:
        return fit_scale_shift_inverse(prediction, target_depth_m, config)
    if OutputKind(kind) is OutputKind.AFFINE_DEPTH:
        return fit_scale_shift_depth(prediction, target_depth_m, config)
    return fit_scale(prediction, target_depth_m, config)


def apply_fit(
    prediction: npt.NDArray[np.floating], kind: OutputKind, scale: float, shift: float = 0.0
) -> npt.NDArray[np.float32]:
    """Metric depth from a prediction and a fit.

    Args:
        prediction: (H, W) prediction of the given kind (any float dtype); NaN invalid.
        kind: what the prediction means.
        scale, shift: from a fit (``shift`` is used for relative_inverse, in metres⁻¹, and affine_depth, in metres).

    Returns:
        (H, W) float32 depth in metres; +Inf (REP 117 beyond range) where the prediction is +Inf (far: a sky
        output's mark, whatever the kind, or a depth kind's beyond range; an inverse kind's own +/-Inf, 1/0, were
        made NaN where the map entered the pipeline: ``OutputKind.infinity_is_invalid``) or, for relative_inverse, a
        finite value the fit maps to a non-positive inverse depth (farther than any depth: the sky of a relative
        model when the fitted shift is negative); -Inf where a
        depth kind's prediction is -Inf (REP 117 too close, as an external depth says it); NaN where it is otherwise
        invalid or the depth is not positive (depth kinds; affine_depth after its shift).
    """
    pred = np.asarray(prediction, dtype=np.float32)
    out = np.empty(pred.shape, dtype=np.float32)
    inverse = OutputKind(kind) is OutputKind.RELATIVE_INVERSE
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        np.multiply(pred, np.float32(scale), out=out)
        if OutputKind(kind).has_shift:
            out += np.float32(shift)
        if inverse:
            np.reciprocal(out, out=out)
        bad = ~(out > 0)  # catches NaN too; an inverse depth of +Inf (sky) or <= 0 leaves no positive depth
        bad |= ~np.isfinite(out)
        index = np.flatnonzero(bad)  # few pixels: the marks are read there only (full-frame masks cost 1 ms)
        # the marks where they were: a view (a cropped prediction) is read at those pixels, not copied whole
        held = pred.reshape(-1)[index] if pred.flags.c_contiguous else pred[np.unravel_index(index, pred.shape)]
        fill = np.full(index.size, np.nan, dtype=np.float32)
        if inverse:  # a finite disparity at or past inverse depth 0: farther than any depth
            fill[np.isfinite(held) & ~(held * np.float32(scale) + np.float32(shift) > 0)] = np.inf
        else:
            fill[np.isneginf(held)] = -np.inf  # REP 117 too close (an external depth's mark) stays so
    fill[np.isposinf(held)] = np.inf  # sky (models/inference.py marks it +Inf for every kind): beyond any range
    out.reshape(-1)[index] = fill
    return out
