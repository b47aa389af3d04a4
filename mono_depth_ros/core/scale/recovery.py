"""``ScaleRecovery``: the one object the pipeline calls per frame to turn a prediction into metric depth.

Per frame, in order, the first source that works is used and reported as the result's ``mode``:

1. ``lidar``: project this frame's scan (occlusion-filtered), fit per output kind (:mod:`.fit`), then
   * depth_up_to_scale / metric: the log-scale goes through the gated Kalman filter (:mod:`.temporal`) and the
     *filtered* scale is applied; a gated-out frame falls through to 2; a filter whose last accepted scale is older
     than ``max_hold_ns`` (too old to be held) restarts at the fresh fit instead of gating it (ground plane too);
   * relative_inverse, affine_depth: the per-frame (s, t) is applied as is (these models re-normalise every frame,
     so an affine map is never *applied* to another frame). A fit is checked twice against the last accepted frame
     (the anchor): its metric depth against the anchor's metric depth at the same pixels (a continuous scene), and
     against the anchor's (s, t) applied to *this* prediction (a stable model, e.g. after a cut to a new scene).
     Only a fit that differs from both by more than ``consistency_gate`` in median (a wrong scan, or a new scene
     *and* a jump of the model's normalisation) is rejected, until ``reinit_after`` consecutive frames agree on the
     change; an accepted fit becomes the anchor.
2. ``last_good`` (LiDAR absent, late, too few points, poor fit or gated out): the filtered scale while the last
   accepted LiDAR fit is younger than ``max_hold_ns``; for relative_inverse / affine_depth, a fit of this frame's
   prediction to the last accepted *metric depth* (anchor) while it is younger than ``max_anchor_age_ns``.
3. ``ground_plane``: the prior from camera height and pitch (:mod:`.ground`), smoothed by its own filter. With
   ``scale.mode=ground_plane`` a frame without ground holds the filtered scale (depth kinds) or, for
   relative_inverse / affine_depth, anchors to the last ground-scaled metric depth (``last_good``), as 2 does for
   LiDAR. The filter restarts when TF's camera pose (``ground_pose``) returns after fits of the parameters' prior
   (``ground_pose_missing``) entered it: the parameters are not the camera's pose.
   A ``metric`` model skips it and is passed through uncorrected (mode ``none``, health ``degraded``).
4. ``fixed``: ``fixed_scale`` (and ``fixed_shift``); health ``lost``.

Health: ``ok`` when the configured source worked this frame, ``degraded`` for 2 and 3 as fallbacks (and for a
ground-plane scale held from an earlier frame, or gated out, with ``scale.mode=ground_plane``, or from a camera pose
TF gave more than :data:`~mono_depth_ros.core.scale.ground.POSE_CURRENT_NS` before the image, or from the parameters
where ``scale.ground_frame``'s TF gave none: ``ground_pose_missing``), ``lost`` for 4 as a fallback (or
``scale.mode=none`` with a non-metric model). ``reason`` says why a fallback was taken.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ConfigError, ScaleRecoveryError, ShapeError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.scale.extrinsic_check import ExtrinsicCheck, ExtrinsicCheckConfig, ExtrinsicVerdict
from mono_depth_ros.core.scale.fit import FitConfig, FitResult, apply_fit, fit_for_kind
from mono_depth_ros.core.scale.ground import POSE_CURRENT_NS, GroundPlaneConfig, GroundPose, ground_plane_fit
from mono_depth_ros.core.scale.lidar import (
    LidarScan,
    ProjectionConfig,
    ProjectionStats,
    ScratchBuffers,
    SparseDepth,
    project_scan,
)
from mono_depth_ros.core.scale.result import REQUESTABLE_MODES, Health, ScaleMode, ScaleResult
from mono_depth_ros.core.scale.temporal import FilterConfig, LogScaleFilter, UpdateOutcome

MODES = REQUESTABLE_MODES  # the one spelling: core.scale.result.ScaleMode
TIME_JUMP_BACK_NS = 1_000_000_000  # a stamp this far before the previous one: ROS time went back, state is reset
NEW_MOUNT_M, NEW_MOUNT_RAD = 0.05, math.radians(0.5)  # a LiDAR mounting moved / turned this much: recalibrated
NEW_CALIBRATION = 0.01  # a focal length this much longer or shorter (relative), or a principal point moved this
# fraction of the image's size, from the calibration the ground-plane state rests on: a new calibration (1 % of the
# ground scale, a sixth of its usual σ; float noise or an online calibration's refinements stay under it)


@dataclass(frozen=True)
class RecoveryConfig:
    """Scale recovery settings (ROS parameter names in brackets; see :meth:`from_params`).

    Attributes:
        mode: ``lidar`` | ``ground_plane`` | ``fixed`` | ``none`` [scale.mode].
        max_lidar_age_ns: scans further than this from the image stamp are not used [lidar.max_age_s].
        max_hold_ns: the last LiDAR scale is held this long (depth_up_to_scale / metric).
        max_anchor_age_ns: the last metric depth anchors relative_inverse / affine_depth frames this long.
        fixed_scale, fixed_shift: the fixed map (shift in metres⁻¹ for relative_inverse, metres for affine_depth;
            unused otherwise) [scale.fixed_scale].
        correct_metric: fit a scale correction to metric models too (False: pass metric depth through).
        ground: ground-plane prior [scale.camera_height_m, scale.camera_pitch_rad]; None disables it.
        projection, fit: LiDAR projection and fit settings [scale.min_points → fit.min_points].
        scale_filter: log-scale filter for depth_up_to_scale / metric (also used for the ground-plane scale).
        consistency_gate: relative_inverse: largest |median log(depth / anchor depth)| of a LiDAR fit against the
            last accepted metric depth (0.15 ≈ 16 %) ...
        consistency_gate_per_s: ... plus this much per second of anchor age (camera motion changes depths).
        anchor_stride_px: pixel stride of the anchor grid (relative_inverse).
        extrinsic_check: the LiDAR -> camera transform's plausibility check (:mod:`.extrinsic_check`); while it
            names a mistake, the LiDAR scale is not used (None: no check).
    """

    mode: str = "lidar"
    max_lidar_age_ns: int = 200_000_000
    max_hold_ns: int = 5_000_000_000
    max_anchor_age_ns: int = 500_000_000
    fixed_scale: float = 1.0
    fixed_shift: float = 0.0
    correct_metric: bool = True
    ground: GroundPlaneConfig | None = field(default_factory=GroundPlaneConfig)
    projection: ProjectionConfig = field(default_factory=ProjectionConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    scale_filter: FilterConfig = field(default_factory=FilterConfig)
    consistency_gate: float = 0.15
    consistency_gate_per_s: float = 0.5
    anchor_stride_px: int = 8
    extrinsic_check: ExtrinsicCheckConfig | None = field(default_factory=ExtrinsicCheckConfig)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            msg = f"scale.mode {self.mode!r} is not one of {', '.join(MODES)}"
            raise ConfigError(msg)
        if not (math.isfinite(self.fixed_scale) and self.fixed_scale > 0):
            msg = f"scale.fixed_scale must be finite and > 0, got {self.fixed_scale}"
            raise ConfigError(msg)
        if self.mode == "ground_plane" and self.ground is None:
            msg = "scale.mode=ground_plane needs a ground-plane prior (scale.camera_height_m > 0)"
            raise ConfigError(msg)
        if min(self.max_lidar_age_ns, self.max_hold_ns, self.max_anchor_age_ns) < 0 or self.anchor_stride_px < 1:
            msg = f"ages must be >= 0 and anchor_stride_px >= 1, got {self}"
            raise ConfigError(msg)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], **overrides: Any) -> RecoveryConfig:
        """Build from the dotted parameter table (``scale.*``, ``lidar.max_age_s``); missing names keep defaults."""
        kwargs: dict[str, Any] = {}
        if "scale.mode" in params:
            kwargs["mode"] = str(params["scale.mode"])
        if "scale.fixed_scale" in params:
            kwargs["fixed_scale"] = float(params["scale.fixed_scale"])
        if "lidar.max_age_s" in params:
            kwargs["max_lidar_age_ns"] = round(float(params["lidar.max_age_s"]) * 1e9)
        if "scale.min_points" in params:
            kwargs["fit"] = FitConfig(min_points=int(params["scale.min_points"]))
        height = float(params.get("scale.camera_height_m", GroundPlaneConfig.camera_height_m))
        pitch = float(params.get("scale.camera_pitch_rad", 0.0))
        kwargs["ground"] = GroundPlaneConfig(camera_height_m=height, pitch_rad=pitch) if height > 0 else None
        kwargs.update(overrides)
        return cls(**kwargs)


@dataclass
class _Anchor:
    """Metric depth of the last accepted relative_inverse frame, sampled on the anchor grid."""

    depth_m: npt.NDArray[np.float32]
    stamp_ns: int
    scale: float
    shift: float


@dataclass
class _Frame:
    """Per-call inputs and the notes gathered while falling back."""

    prediction: npt.NDArray[np.float32]
    kind: OutputKind
    stamp_ns: int
    intrinsics: PinholeIntrinsics
    reasons: list[str] = field(default_factory=list)
    projection: ProjectionStats | None = None
    lidar_lag_ns: int | None = None
    extrinsic: ExtrinsicVerdict | None = None
    ground_pose: GroundPose | None = None
    ground_pose_missing: str = ""


class ScaleRecovery:
    """Stateful metric-scale recovery for one camera stream (see the module docstring for the fallback order).

    Usage (the pipeline, once per frame)::

        recovery = ScaleRecovery(RecoveryConfig.from_params(params))
        result = recovery.update(prediction, spec.output_kind, stamp_ns, intrinsics, LidarScan(points, tf, t_ns))
        publish(result.depth_m); diagnostics.update(result.diagnostics())

    ``intrinsics`` describe the *prediction* image (resize camera intrinsics with ``PinholeIntrinsics.resized``
    when the network runs at another size). State resets when the output kind or the prediction size changes, and
    when a stamp is more than :data:`TIME_JUMP_BACK_NS` before the previous one (ROS time went back: a bag played
    with ``--loop``; a scale fitted "in the future" would otherwise be held as ``last_good`` for as long as the jump);
    the ground-plane and the LiDAR scale state also when the intrinsics change (a zoom, a recalibrated or another
    camera of the same size).
    """

    def __init__(self, config: RecoveryConfig | None = None) -> None:
        self.config = config or RecoveryConfig()
        self._scale_filter = LogScaleFilter(self.config.scale_filter)
        self._ground_filter = LogScaleFilter(self.config.scale_filter)
        self._inconsistent: list[float] = []  # median log ratios of consecutive rejected relative fits
        self._anchor: _Anchor | None = None
        self._key: tuple[OutputKind, tuple[int, int]] | None = None
        self._last_stamp_ns: int | None = None
        self._ground_intrinsics: PinholeIntrinsics | None = None  # the calibration the ground-plane state rests on
        self._lidar_intrinsics: PinholeIntrinsics | None = None  # the calibration the LiDAR scale state rests on
        self._ground_on_parameters = False  # the ground filter took a fit of the parameters' prior for a missing TF
        self._lidar_mount: RigidTransform | None = None  # the LiDAR mounting the LiDAR scale state rests on
        self._mount_memo: tuple[bytes, bytes, tuple[float, float]] | None = None  # values' keys, their change
        self._lidar_mount_moving = False  # the last mounting changed from the one before: a moving joint
        self._buffers = ScratchBuffers()
        check = self.config.extrinsic_check
        self._extrinsic = ExtrinsicCheck(check) if check is not None else None  # kept across resets: geometry
        # the last projection: (scan, intrinsics, image stamp) -> its sparse depth, shared with a LiDAR-prompted model
        self._projected: tuple[LidarScan, PinholeIntrinsics, int, SparseDepth] | None = None

    def project(self, lidar: LidarScan, intrinsics: PinholeIntrinsics, image_stamp_ns: int) -> SparseDepth:
        """The scan projected into the image of ``intrinsics`` the way the LiDAR fit projects it (projection config,
        occlusion filter, motion compensation to ``image_stamp_ns``). The last result is kept: a LiDAR-prompted model
        (pipeline hints) and the fit of the same frame share one projection."""
        last = self._projected
        if last is not None and last[0] is lidar and last[1] == intrinsics and last[2] == image_stamp_ns:
            return last[3]
        sparse = project_scan(lidar, intrinsics, self.config.projection, image_stamp_ns, self._buffers)
        self._projected = (lidar, intrinsics, image_stamp_ns, sparse)
        return sparse

    def reset(self) -> None:
        """Forget all temporal state (filters, anchor)."""
        for f in (self._scale_filter, self._ground_filter):
            f.reset()
        self._ground_on_parameters = False
        self._inconsistent.clear()
        self._anchor = None
        self._lidar_mount = None
        self._lidar_mount_moving = False
        self._key = None  # the projection memo stays: it is keyed by the scan itself, not by temporal state

    def update(
        self,
        prediction: npt.NDArray[np.floating],
        output_kind: OutputKind | str,
        stamp_ns: int,
        intrinsics: PinholeIntrinsics,
        lidar: LidarScan | None = None,
        ground_pose: GroundPose | None = None,
        ground_pose_missing: str = "",
    ) -> ScaleResult:
        """Metric depth for one frame.

        Args:
            prediction: (H, W) network output of ``output_kind`` (float, NaN invalid): depth up to scale, metric
                depth (m), or relative inverse depth (larger = closer).
            output_kind: what the prediction means (``OutputKind`` or its string value).
            stamp_ns: image capture stamp, int nanoseconds.
            intrinsics: pinhole intrinsics of the prediction image (width = W, height = H).
            lidar: this frame's scan with its extrinsic (and optional twist), or None.
            ground_pose: the camera above the ground from TF (``scale.ground_frame``): the ground-plane prior's
                height, pitch and roll this frame instead of ``config.ground``'s (which still decides whether there is
                a prior); None: ``config.ground``'s.
            ground_pose_missing: why TF gave no ``ground_pose`` though ``scale.ground_frame`` is set (the TF missing):
                the ground-plane scale from ``config.ground``'s height and pitch, which are not the camera's pose
                there, is ``degraded``, its reason this and the values used. Empty: none was asked for, or given.

        Raises:
            ShapeError / CalibrationError: prediction not 2-D or not the size the intrinsics describe.
        """
        kind = OutputKind(output_kind)
        pred = np.asarray(prediction)
        if pred.ndim != 2:
            msg = f"prediction must be (H, W), got shape {pred.shape}; squeeze batch/channel axes first"
            raise ShapeError(msg)
        intrinsics.check_image_size(pred.shape[1], pred.shape[0], what="prediction")
        went_back = self._last_stamp_ns is not None and int(stamp_ns) < self._last_stamp_ns - TIME_JUMP_BACK_NS
        if self._key != (kind, pred.shape) or went_back:
            self.reset()
            self._key = (kind, (int(pred.shape[0]), int(pred.shape[1])))
        self._last_stamp_ns = int(stamp_ns)
        self._forget_ground_of_another_calibration(intrinsics)
        frame = _Frame(
            pred.astype(np.float32, copy=False),
            kind,
            int(stamp_ns),
            intrinsics,
            ground_pose=ground_pose,
            ground_pose_missing=ground_pose_missing,
        )
        mode = self.config.mode
        if mode == "none" or (kind is OutputKind.METRIC and not self.config.correct_metric):
            return self._passthrough(frame)
        if mode == "fixed":
            return self._fixed(frame, Health.OK)
        if mode == "lidar":
            result = self._from_lidar(frame, lidar) or self._from_last_good(frame)
            if result is not None:
                return result
            if kind is OutputKind.METRIC:  # a metric model without a correction is still metric
                return self._passthrough(frame, Health.DEGRADED)
        result = self._from_ground(frame, primary=mode == "ground_plane")
        return result or self._fixed(frame, Health.LOST)

    def _forget_ground_of_another_calibration(self, intrinsics: PinholeIntrinsics) -> None:
        """A new calibration (camera_info's K / P changed at the same size: a recalibration, another camera): the
        ground-plane scale is measured through the intrinsics (the plane's height scales with the focal length), so
        its filter, and with ``scale.mode=ground_plane`` the ground-scaled anchor, start again. Held, the old
        calibration's scale gated the new one out for ``reinit_after`` - 1 frames (20 % short after a 25 % longer
        focal length, real KITTI). The LiDAR state: :meth:`_forget_lidar_scale_of_another_calibration`. A change
        under :data:`NEW_CALIBRATION` (float noise, an online calibration's refinements) keeps the state: compared
        exactly, each refined K started the filter again and nothing was gated."""
        rests_on = self._ground_intrinsics
        if rests_on is not None and _another_calibration(rests_on, intrinsics):
            self._ground_filter.reset()
            if self.config.mode == "ground_plane":
                self._anchor = None
        if rests_on is None or self._ground_filter.last_update_ns is None:
            self._ground_intrinsics = intrinsics  # kept while the state rests on it: a drift adds up to a change

    def _forget_lidar_scale_of_another_calibration(self, frame: _Frame) -> None:
        """A new calibration (camera_info's K / P changed at the same size by more than :data:`NEW_CALIBRATION`: a
        zoom, another camera on the topic): the LiDAR scale, the model's depth against the scan's, rests on what the
        model sees, and a model that reads distance off apparent size (a metric model not given the focal length,
        a depth_up_to_scale one) predicts depth 1.25 times shorter through a focal length 1.25 times longer. The
        LiDAR filter, the relative kinds' anchor and their pending rejections start again: kept, the old
        calibration's scale gated the new one out for ``reinit_after`` - 1 frames (2 frames 20 % off, 'last_good').
        Checked on every frame in ``scale.mode=lidar``, with a scan or not: a zoom on a frame without a fresh scan
        held the old calibration's scale ('last_good', 20 % off for up to ``max_hold_ns``). The calibration the state
        rests on is kept while it does (a drift of refinements adds up to a change)."""
        rests_on, intrinsics = self._lidar_intrinsics, frame.intrinsics
        if rests_on is not None and _another_calibration(rests_on, intrinsics):
            self._scale_filter.reset()
            self._inconsistent.clear()
            self._anchor = None
            focal = intrinsics.fx / rests_on.fx
            frame.reasons.append(
                f"camera calibration changed (fx {rests_on.fx:.6g} -> {intrinsics.fx:.6g} px, x{focal:.3g}): LiDAR "
                f"scale started afresh"
            )
        if rests_on is None or (self._scale_filter.last_update_ns is None and self._anchor is None):
            self._lidar_intrinsics = intrinsics

    def _forget_lidar_scale_of_another_mount(self, frame: _Frame, mount: RigidTransform | None) -> None:
        """A LiDAR mounting (``LidarScan.mount``: camera <- LiDAR, motion excluded) moved by :data:`NEW_MOUNT_M`
        or turned by :data:`NEW_MOUNT_RAD` from the one the LiDAR scale rests on: a recalibration (TF republished).
        The old transform's scale is no prior for the new one's: the LiDAR filter, the relative kinds' anchor and
        their pending rejections start again. Kept, the filter gated the new transform's scale out for
        ``reinit_after`` - 1 frames (KITTI 000001, 30 cm: the old scale held 10 % long or 18 % short) or drifted to it
        over 6+ frames (6-10 %: 4 %, 3 %, 2 % off). A mounting not given (None) is not compared.

        A recalibration is a step after a steady mounting: a mounting that changed from the frame before as well is a
        LiDAR (or camera) on a moving joint, whose TF is right at every instant, and keeps the filter (restarted
        every frame, it never smoothed and every frame's reason said "recalibrated"; only the change where the joint
        starts moving, not yet told from a recalibration, starts it again)."""
        if mount is None:
            return
        old = self._lidar_mount
        self._lidar_mount = mount
        if old is not None:
            moved_m, turned_rad = self._mount_change(old, mount)
            changed = moved_m >= NEW_MOUNT_M or turned_rad >= NEW_MOUNT_RAD
            was_moving, self._lidar_mount_moving = self._lidar_mount_moving, changed
            if not changed or was_moving:
                return
            self._scale_filter.reset()
            self._inconsistent.clear()
            self._anchor = None
            frame.reasons.append(
                f"LiDAR transform changed by {moved_m * 100:.0f} cm, {math.degrees(turned_rad):.1f}° "
                f"(recalibrated): LiDAR scale started afresh"
            )

    def _mount_change(self, old: RigidTransform, mount: RigidTransform) -> tuple[float, float]:
        """How far ``mount`` moved (metres) and turned (radians) from ``old``; computed once per pair of values
        (:attr:`RigidTransform.values_key`, not the objects: their arrays can be changed in place): a static mounting,
        the same values frame after frame (the bag runner's TF cache, tf2 in the node), is compared with itself once."""
        keys = (old.values_key, mount.values_key)
        memo = self._mount_memo
        if memo is not None and (memo[0], memo[1]) == keys:
            return memo[2]
        moved_m = float(np.linalg.norm(mount.translation - old.translation))
        cos = (float(np.trace(old.rotation.T @ mount.rotation)) - 1.0) / 2.0
        change = (moved_m, math.acos(min(1.0, max(-1.0, cos))))
        self._mount_memo = (*keys, change)
        return change

    # -- sources -------------------------------------------------------------------------------------------

    def _from_lidar(self, frame: _Frame, lidar: LidarScan | None) -> ScaleResult | None:
        self._forget_lidar_scale_of_another_calibration(frame)  # with or without a scan: nor held ('last_good')
        if lidar is None:
            frame.reasons.append("no LiDAR scan")
            return None
        frame.lidar_lag_ns = frame.stamp_ns - lidar.sweep_ns  # the sweep's middle: pairing's time for the scan
        if abs(frame.lidar_lag_ns) > self.config.max_lidar_age_ns:
            frame.reasons.append(
                f"LiDAR scan is {frame.lidar_lag_ns * 1e-6:+.0f} ms from the image "
                f"(limit {self.config.max_lidar_age_ns * 1e-6:.0f} ms)"
            )
            return None
        self._forget_lidar_scale_of_another_mount(frame, lidar.mount)
        sparse = self.project(lidar, frame.intrinsics, frame.stamp_ns)
        frame.projection = sparse.stats
        if self._extrinsic is not None:
            frame.extrinsic = self._extrinsic.observe(
                lidar.points_in_lidar, lidar.cam_from_lidar, frame.intrinsics, frame.prediction, frame.kind
            )
            if frame.extrinsic is not None:  # a wrong transform still gives a fit with inliers: not to be trusted
                frame.reasons.append(f"LiDAR: {frame.extrinsic.text}")
                return None
        samples = sparse.values_at(frame.prediction)
        try:
            fit = fit_for_kind(samples, sparse.depth_m, frame.kind, self.config.fit).usable(self.config.fit)
        except ScaleRecoveryError as err:  # no fit, or one not to trust
            frame.reasons.append(f"LiDAR: {err}")
            return None
        if frame.kind.has_shift:
            return self._accept_relative(frame, fit)
        self._expire(self._scale_filter, frame, "LiDAR")
        update = self._scale_filter.update(math.log(fit.scale), fit.log_scale_sigma, frame.stamp_ns)
        if not update.used:
            frame.reasons.append(
                f"LiDAR scale {fit.scale:.4g} is {math.expm1(update.innovation):+.0%} from the filtered "
                f"{math.exp(self._scale_filter.value):.4g} ({update.normalised_innovation:.1f}σ): rejected "
                f"({self._scale_filter.pending_rejections} of {self.config.scale_filter.reinit_after} to re-initialise)"
            )
            return None
        note = "" if update.outcome is UpdateOutcome.ACCEPTED else f"filter {update.outcome.value}"
        return self._scaled(frame, ScaleMode.LIDAR, Health.OK, self._scale_filter, 0, fit, note)

    def _accept_relative(self, frame: _Frame, fit: FitResult) -> ScaleResult | None:
        """Apply this frame's (s, t); reject it when its metric depth jumps away from the last accepted one."""
        depth = apply_fit(frame.prediction, frame.kind, fit.scale, fit.shift)
        stride = self.config.anchor_stride_px
        grid = depth[::stride, ::stride]
        if not np.any(np.isfinite(grid)):
            frame.reasons.append("LiDAR fit maps the whole prediction to non-positive depth")
            return None
        problem = self._inconsistency(frame, grid)
        if problem is not None:
            frame.reasons.append(problem)
            return None
        self._anchor = _Anchor(grid.copy(), frame.stamp_ns, fit.scale, fit.shift)
        return self._result(frame, depth, ScaleMode.LIDAR, Health.OK, fit, fit.log_scale_sigma, 0)

    def _inconsistency(self, frame: _Frame, grid: npt.NDArray[np.float32]) -> str | None:
        """Why a relative fit disagrees with the anchor (None: consistent, no anchor, or a confirmed change).

        The change is the smaller (in magnitude) of two median log ratios: to the anchor's metric depth (same
        pixels) and to the anchor's (s, t) applied to this frame's prediction. It must stay within the gate (which
        widens with the anchor's age); ``reinit_after`` consecutive rejected frames that agree are a real change.
        """
        stamp_ns = frame.stamp_ns
        anchor = self._anchor
        apart_ns = abs(stamp_ns - anchor.stamp_ns) if anchor is not None else 0  # out-of-order frames: the distance
        if anchor is None or apart_ns > self.config.max_anchor_age_ns:
            self._inconsistent.clear()
            return None
        stride = self.config.anchor_stride_px
        anchor_map = apply_fit(frame.prediction[::stride, ::stride], frame.kind, anchor.scale, anchor.shift)
        ratios = (_median_log_ratio(grid, anchor.depth_m), _median_log_ratio(grid, anchor_map))
        changes = [c for c in ratios if c is not None]
        if not changes:
            return None
        change = min(changes, key=abs)
        gate = self.config.consistency_gate + self.config.consistency_gate_per_s * apart_ns * 1e-9
        if abs(change) <= gate:
            self._inconsistent.clear()
            return None
        self._inconsistent.append(change)
        recent = self._inconsistent[-self.config.scale_filter.reinit_after :]
        confirmed = len(recent) >= self.config.scale_filter.reinit_after
        if confirmed and max(recent) - min(recent) <= self.config.scale_filter.reinit_spread:
            self._inconsistent.clear()
            return None
        return (
            f"LiDAR fit changes the metric depth by {math.expm1(change):+.0%} against the last accepted frame "
            f"(gate ±{math.expm1(gate):.0%}): rejected ({len(self._inconsistent)} of "
            f"{self.config.scale_filter.reinit_after} to accept a real change)"
        )

    def _from_last_good(self, frame: _Frame) -> ScaleResult | None:
        if frame.kind.has_shift:
            return self._from_anchor(frame)
        f = self._scale_filter
        if not f.initialised or f.last_update_ns is None:
            frame.reasons.append("no earlier LiDAR scale")
            return None
        age = frame.stamp_ns - f.last_update_ns
        if abs(age) > self.config.max_hold_ns:  # a scale from far ahead (the clock jumped back) is as stale
            hold_s = self.config.max_hold_ns * 1e-9
            frame.reasons.append(f"last LiDAR scale is {_age_text(age, 1)} (hold {hold_s:.1f} s)")
            return None
        f.predict(frame.stamp_ns)
        return self._scaled(frame, ScaleMode.LAST_GOOD, Health.DEGRADED, f, age, None, "")

    def _from_anchor(self, frame: _Frame, source: str = "LiDAR") -> ScaleResult | None:
        """relative_inverse / affine_depth: this frame's prediction fitted to the last accepted metric depth (scaled
        by ``source``)."""
        anchor = self._anchor
        if anchor is None:
            frame.reasons.append(f"no earlier {source}-scaled depth to anchor to")
            return None
        age = frame.stamp_ns - anchor.stamp_ns
        if abs(age) > self.config.max_anchor_age_ns:
            frame.reasons.append(f"last {source}-scaled depth is {_age_text(age, 2)}")
            return None
        stride = self.config.anchor_stride_px
        grid = frame.prediction[::stride, ::stride]
        try:
            fit = fit_for_kind(grid, anchor.depth_m, frame.kind, self.config.fit).usable(self.config.fit)
        except ScaleRecoveryError as err:  # no fit, or one not to trust
            frame.reasons.append(f"anchor: {err}")
            return None
        depth = apply_fit(frame.prediction, frame.kind, fit.scale, fit.shift)
        return self._result(frame, depth, ScaleMode.LAST_GOOD, Health.DEGRADED, fit, fit.log_scale_sigma, age)

    def _from_ground(self, frame: _Frame, primary: bool) -> ScaleResult | None:
        ground = self.config.ground
        if ground is None:
            frame.reasons.append("no ground-plane prior (scale.camera_height_m = 0)")
            return None
        health = Health.OK if primary else Health.DEGRADED
        if frame.ground_pose is not None:
            ground = ground.posed(frame.ground_pose)
            if abs(frame.ground_pose.age_ns) > POSE_CURRENT_NS:  # TF paused (or ahead): a pose held, not current
                pose_age = _age_text(frame.ground_pose.age_ns, 3)
                # old: TF stopped; ahead: an image stamped before TF's oldest pose (queued while the joint's TF starts)
                why = "TF paused?" if frame.ground_pose.age_ns > 0 else "an image from before TF's first pose?"
                frame.reasons.append(f"TF's camera pose (scale.ground_frame) is {pose_age} (held: {why})")
                health = Health.DEGRADED
        elif frame.ground_pose_missing:  # scale.ground_frame set, and TF gave no pose: the parameters are not it
            frame.reasons.append(
                f"{frame.ground_pose_missing}: the ground-plane prior uses scale.camera_height_m="
                f"{ground.camera_height_m:g} m and scale.camera_pitch_rad={ground.pitch_rad:g}"
            )
            health = Health.DEGRADED
        try:
            fit = ground_plane_fit(frame.prediction, frame.kind, frame.intrinsics, ground)
        except ScaleRecoveryError as err:  # no ground this frame: an earlier ground scale is held, as a fallback
            from_tf = "" if frame.ground_pose is None else " (this frame's height and pitch: TF's, scale.ground_frame)"
            frame.reasons.append(f"ground plane: {err}{from_tf}")
            fit, health = None, Health.DEGRADED
        if frame.kind.has_shift:  # scale.mode=ground_plane: anchors as LiDAR fits do
            if fit is None:
                return self._from_anchor(frame, "ground-plane") if primary else None
            depth = apply_fit(frame.prediction, frame.kind, fit.scale, fit.shift)
            if primary:
                stride = self.config.anchor_stride_px
                self._anchor = _Anchor(depth[::stride, ::stride].copy(), frame.stamp_ns, fit.scale, fit.shift)
            return self._result(frame, depth, ScaleMode.GROUND_PLANE, health, fit, fit.log_scale_sigma, 0)
        f = self._ground_filter
        age = 0
        if fit is not None:
            self._expire(f, frame, "ground-plane")
            self._forget_ground_of_the_parameters(frame)
            update = f.update(math.log(fit.scale), fit.log_scale_sigma, frame.stamp_ns)
            if not update.used:
                sigmas = update.normalised_innovation
                frame.reasons.append(f"ground-plane scale {fit.scale:.4g} gated out ({sigmas:.1f}σ)")
                fit, health = None, Health.DEGRADED  # the held scale is published: no fit of this frame made it
            elif frame.ground_pose_missing:
                self._ground_on_parameters = True
        if not f.initialised or f.last_update_ns is None:
            return None
        age = frame.stamp_ns - f.last_update_ns
        if abs(age) > self.config.max_hold_ns:
            frame.reasons.append(f"last ground-plane scale is {_age_text(age, 1)}")
            return None
        f.predict(frame.stamp_ns)
        return self._scaled(frame, ScaleMode.GROUND_PLANE, health, f, age, fit, "")

    def _forget_ground_of_the_parameters(self, frame: _Frame) -> None:
        """TF's camera pose back (``scale.ground_frame``) after fits of the parameters' prior entered the ground
        filter (TF gave no pose: ``ground_pose_missing``): the filter restarts at TF's fit. The parameters are not the
        camera's pose; kept, their scale was averaged into TF's for the frames after its return, reported ``ok``
        (real KITTI, parameters 10 % off the road: +7.9 % at the return, +1.2 % nine frames on)."""
        if frame.ground_pose is None or not self._ground_on_parameters:
            return
        self._ground_on_parameters = False
        if self._ground_filter.initialised:
            self._ground_filter.reset()
            frame.reasons.append(
                "ground-plane filter restarted: its scale came from the parameters' prior while TF gave no camera "
                "pose (scale.ground_frame)"
            )

    def _fixed(self, frame: _Frame, health: Health) -> ScaleResult:
        shift = self.config.fixed_shift if frame.kind.has_shift else 0.0
        depth = apply_fit(frame.prediction, frame.kind, self.config.fixed_scale, shift)
        return self._result(frame, depth, ScaleMode.FIXED, health, None, math.nan, 0, self.config.fixed_scale, shift)

    def _passthrough(self, frame: _Frame, health: Health = Health.OK) -> ScaleResult:
        if frame.kind is not OutputKind.METRIC:
            health = Health.LOST
            frame.reasons.append(f"scale.mode=none with a {frame.kind.value} model: depth is not metric")
        elif health is not Health.OK:
            frame.reasons.append("metric prediction used without a correction")
        depth = apply_fit(frame.prediction, frame.kind, 1.0, 0.0)
        return self._result(frame, depth, ScaleMode.NONE, health, None, math.nan, 0, 1.0, 0.0)

    # -- helpers -------------------------------------------------------------------------------------------

    def _expire(self, source: LogScaleFilter, frame: _Frame, name: str) -> None:
        """Forget a filter whose last accepted scale is further than ``max_hold_ns`` from the frame's stamp: a scale
        too old to be held is too old to gate (or pull) a fresh fit, which then starts the filter afresh. The frame's
        reason says so (the ``name``d scale's age and the hold)."""
        last = source.last_update_ns
        if last is not None and abs(frame.stamp_ns - last) > self.config.max_hold_ns:
            source.reset()
            age, hold_s = frame.stamp_ns - last, self.config.max_hold_ns * 1e-9
            frame.reasons.append(f"last {name} scale is {_age_text(age, 1)} (hold {hold_s:.1f} s): expired")

    def _scaled(
        self,
        frame: _Frame,
        mode: ScaleMode,
        health: Health,
        source: LogScaleFilter,
        age_ns: int,
        fit: FitResult | None,
        note: str,
    ) -> ScaleResult:
        scale = math.exp(source.value)
        if note:
            frame.reasons.append(note)
        depth = apply_fit(frame.prediction, frame.kind, scale, 0.0)
        return self._result(frame, depth, mode, health, fit, source.sigma, age_ns, scale, 0.0)

    def _result(
        self,
        frame: _Frame,
        depth: npt.NDArray[np.float32],
        mode: ScaleMode,
        health: Health,
        fit: FitResult | None,
        sigma: float,
        age_ns: int,
        scale: float | None = None,
        shift: float | None = None,
    ) -> ScaleResult:
        return ScaleResult(
            depth_m=depth,
            mode=mode,
            health=health,
            scale=float(scale) if scale is not None else (fit.scale if fit is not None else math.nan),
            shift=float(shift) if shift is not None else (fit.shift if fit is not None else 0.0),
            scale_sigma=float(sigma),
            stamp_ns=frame.stamp_ns,
            age_ns=int(age_ns),
            fit=fit,
            projection=frame.projection,
            lidar_lag_ns=frame.lidar_lag_ns,
            reason="; ".join(frame.reasons),
            extrinsic=frame.extrinsic,
        )


def _median_log_ratio(depth_m: npt.NDArray[np.float32], reference_m: npt.NDArray[np.float32]) -> float | None:
    """Median of ``log(depth / reference)`` over pixels finite in both (None when there are none)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(depth_m / reference_m)
    log_ratio = log_ratio[np.isfinite(log_ratio)]
    return float(np.median(log_ratio)) if log_ratio.size else None


def _another_calibration(old: PinholeIntrinsics, new: PinholeIntrinsics) -> bool:
    """Whether ``new`` is another calibration than ``old`` (same image size) for the ground-plane scale: a focal
    length more than :data:`NEW_CALIBRATION` longer or shorter, or a principal point moved more than that fraction of
    the image's width / height (pixels)."""
    focal = max(abs(math.log(new.fx / old.fx)), abs(math.log(new.fy / old.fy)))
    centre = max(abs(new.cx - old.cx) / old.width, abs(new.cy - old.cy) / old.height)
    return focal > NEW_CALIBRATION or centre > NEW_CALIBRATION


def _age_text(age_ns: int, digits: int) -> str:
    """``2.0 s old`` for a scale from before the frame, ``0.7 s ahead of this frame`` for one from after it (a frame
    stamped before the last scale: out of order, or the clock went back less than a time jump)."""
    if age_ns < 0:
        return f"{-age_ns * 1e-9:.{digits}f} s ahead of this frame"
    return f"{age_ns * 1e-9:.{digits}f} s old"
