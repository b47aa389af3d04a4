"""What one call of :meth:`ScaleRecovery.update` returns: metric depth, the source used and its health."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.scale.extrinsic_check import ExtrinsicVerdict
from mono_depth_ros.core.scale.fit import FitResult
from mono_depth_ros.core.scale.lidar import ProjectionStats


class ScaleMode(str, Enum):
    """Which source produced this frame's metric depth."""

    LIDAR = "lidar"
    LAST_GOOD = "last_good"
    GROUND_PLANE = "ground_plane"
    FIXED = "fixed"
    NONE = "none"


REQUESTABLE_MODES: tuple[str, ...] = tuple(m.value for m in ScaleMode if m is not ScaleMode.LAST_GOOD)
"""The values of ``scale.mode`` (``last_good`` is a fallback the recovery reports, never a request)."""


class Health(str, Enum):
    """Diagnostic level of the scale (maps to diagnostic_msgs OK / WARN / ERROR)."""

    OK = "ok"
    DEGRADED = "degraded"
    LOST = "lost"


@dataclass(frozen=True)
class ScaleResult:
    """One frame's metric depth and how it was obtained.

    Attributes:
        depth_m: (H, W) float32 depth in metres along the optical axis, NaN invalid (no prediction, or a
            relative prediction mapping to non-positive inverse depth). Same size as the prediction.
        mode: the source used (:class:`ScaleMode`).
        health: ok / degraded / lost.
        scale: applied s (``depth = s · prediction``, or ``1/depth = s · prediction + shift``).
        shift: applied t in metres⁻¹ for relative_inverse, in metres for affine_depth, 0 otherwise.
        scale_sigma: 1σ of log(scale) (filter or fit), NaN when unknown (fixed / none).
        stamp_ns: the image stamp.
        age_ns: age of the scale source: 0 when fitted on this frame, else stamp minus the stamp of the fit used.
        fit: this frame's LiDAR (or ground / anchor) fit that the published scale comes from (applied, or fused into
            the filter whose scale is applied), None when none ran, it failed or it was rejected (gated out: the
            held scale is published, and ``reason`` gives the rejected fit's scale).
        projection: LiDAR point counts per step, None without a usable scan.
        lidar_lag_ns: image stamp minus scan stamp (its sweep's middle: ``LidarScan.sweep_ns``), None without a scan.
        reason: why this mode was used (fallback causes joined by "; "), "" when nominal.
        extrinsic: the LiDAR -> camera transform looks wrong (:mod:`.extrinsic_check`; its LiDAR scale was not
            used), None when it looks right or was not checked.
    """

    depth_m: npt.NDArray[np.float32]
    mode: ScaleMode
    health: Health
    scale: float
    shift: float
    scale_sigma: float
    stamp_ns: int
    age_ns: int
    fit: FitResult | None = None
    projection: ProjectionStats | None = None
    lidar_lag_ns: int | None = None
    reason: str = ""
    extrinsic: ExtrinsicVerdict | None = None

    @property
    def inliers(self) -> int:
        """Inliers of this frame's fit (0 without a fit)."""
        return self.fit.n_inliers if self.fit else 0

    @property
    def inlier_ratio(self) -> float:
        """Inlier ratio of this frame's fit (NaN without a fit)."""
        return self.fit.inlier_ratio if self.fit else math.nan

    @property
    def residual(self) -> float:
        """Median |relative error| of the fit's inliers (NaN without a fit)."""
        return self.fit.residual if self.fit else math.nan

    def diagnostics(self) -> dict[str, str]:
        """Key/value strings for a diagnostic_msgs/DiagnosticStatus."""
        values = {
            "scale.mode": self.mode.value,
            "scale.health": self.health.value,
            "scale.value": f"{self.scale:.6g}",
            "scale.shift": f"{self.shift:.6g}",
            "scale.sigma_log": f"{self.scale_sigma:.3g}",
            "scale.age_s": f"{self.age_ns * 1e-9:.3f}",
            "scale.inliers": str(self.inliers),
            "scale.inlier_ratio": f"{self.inlier_ratio:.3f}",
            "scale.residual": f"{self.residual:.4f}",
            "scale.reason": self.reason,
        }
        if self.projection is not None:
            values["lidar.points_in_image"] = str(self.projection.n_in_image)
            values["lidar.points_occluded"] = str(self.projection.n_occluded)
            values["lidar.points_used"] = str(self.projection.n_kept)
        if self.lidar_lag_ns is not None:
            values["lidar.lag_s"] = f"{self.lidar_lag_ns * 1e-9:.3f}"
        if self.extrinsic is not None:
            values["lidar.extrinsic"] = self.extrinsic.mistake
        return values
