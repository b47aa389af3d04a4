"""Calibration of a distilled student: one global scale and shift in inverse depth, folded into its depth range.

The scale-and-shift-invariant loss teaches the student depth structure but leaves its own scale and shift free. One
least-squares fit over many cached frames, ``target ≈ s · student_inverse + t`` (target: the teacher's label as
inverse depth, or the LiDAR's in 1/m), puts the student on the teacher's (or the LiDAR's metric) footing. The fit
costs nothing at run time: the unet maps its sigmoid output ``σ`` to inverse depth ``1/max + (1/min - 1/max) · σ``,
so ``s · that + t`` is the same map with

    1 / max' = s / max + t,      1 / min' = s / min + t,

i.e. the calibrated checkpoint is the same weights with ``min_depth_m`` / ``max_depth_m`` changed in its ModelSpec.
This needs ``s > 0`` and ``s / max + t > 0``; otherwise a scale-only fit (``t = 0``) is used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ScaleRecoveryError
from mono_depth_ros.models.spec import ModelSpec

_LOG = logging.getLogger(__name__)
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Calibration:
    """A fitted map ``inverse_depth' = scale · inverse_depth + shift``.

    Attributes:
        scale: s (> 0). shift: t (1/m for metric targets).
        target: what was fitted to: ``teacher`` or ``lidar``.
        pixels: pixels used by the final fit. scale_only: t was forced to 0.
    """

    scale: float
    shift: float
    target: str
    pixels: int
    scale_only: bool = False

    def as_dict(self) -> dict[str, float | int | str | bool]:
        """Plain dict (checkpoint metadata, reports)."""
        return {
            "scale": self.scale,
            "shift": self.shift,
            "target": self.target,
            "pixels": self.pixels,
            "scale_only": self.scale_only,
        }


def _trimmed(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64], scale_only: bool) -> tuple[float, float, int]:
    """Least squares, then twice more without residuals beyond 3 robust sigmas of their median."""
    keep = np.ones(x.size, dtype=bool)
    s, t = 1.0, 0.0
    for _ in range(3):
        if scale_only:
            s, t = float(x[keep] @ y[keep] / max(float(x[keep] @ x[keep]), 1e-300)), 0.0
        else:
            design = np.stack([x[keep], np.ones(int(keep.sum()))], axis=1)
            (s, t), *_ = np.linalg.lstsq(design, y[keep], rcond=None)
        residual = y - (s * x + t)
        centre = float(np.median(residual[keep]))
        spread = _MAD_TO_SIGMA * float(np.median(np.abs(residual[keep] - centre)))
        keep = np.abs(residual - centre) <= max(3.0 * spread, 1e-12)
        if keep.sum() < 2:
            keep = np.ones(x.size, dtype=bool)
            break
    return float(s), float(t), int(keep.sum())


def fit_calibration(
    student_inverse: npt.NDArray[np.floating],
    target_inverse: npt.NDArray[np.floating],
    min_inverse: float,
    target: str = "teacher",
) -> Calibration:
    """Fit ``target ≈ s · student + t`` over pixels finite in both.

    Args:
        student_inverse: the student's inverse depth (any shape).
        target_inverse: the target as inverse depth, same shape (NaN where none).
        min_inverse: the smallest inverse depth the student can output (1 / max_depth_m): the fit must keep it > 0.
        target: ``teacher`` or ``lidar`` (recorded).

    Raises:
        ScaleRecoveryError: fewer than 2 usable pixels, or no positive scale fits.
    """
    x = np.asarray(student_inverse, dtype=np.float64).ravel()
    y = np.asarray(target_inverse, dtype=np.float64).ravel()
    usable = np.isfinite(x) & np.isfinite(y)
    x, y = x[usable], y[usable]
    if x.size < 2:
        msg = f"calibration needs pixels with a {target} target; got {x.size}: label more frames (with LiDAR?)"
        raise ScaleRecoveryError(msg)
    s, t, pixels = _trimmed(x, y, scale_only=False)
    scale_only = not (s > 0 and s * min_inverse + t > 0)
    if scale_only:
        _LOG.warning("affine calibration (s=%.4g, t=%.4g) leaves no positive range; fitting a scale only", s, t)
        s, t, pixels = _trimmed(x, y, scale_only=True)
    if not s > 0:
        msg = f"calibration against the {target} gives a non-positive scale {s:.4g}: is the student inverted?"
        raise ScaleRecoveryError(msg)
    return Calibration(s, t, target, pixels, scale_only)


def fold_calibration(spec: ModelSpec, calibration: Calibration) -> ModelSpec:
    """The spec whose unet output is the calibrated depth (same weights; see the module docstring)."""
    min_inverse = calibration.scale / spec.max_depth_m + calibration.shift
    max_inverse = calibration.scale / spec.min_depth_m + calibration.shift
    return replace(spec, min_depth_m=1.0 / max_inverse, max_depth_m=1.0 / min_inverse)
