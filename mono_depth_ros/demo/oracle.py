"""The oracle prediction the demo uses when no network ships: exact depth made to look like a relative network.

**This is not a network.** It lets the demo show everything downstream of the model (LiDAR scale recovery,
REP 117 outputs, clouds, the bag runner) while no trained model is available. Starting from the exact synthetic
depth it produces what Depth Anything / MiDaS return, a ``relative_inverse`` map (larger = nearer), with the
errors such a network has:

* an unknown scale ``a`` and shift ``b`` that drift from frame to frame (these models re-normalise every frame):
  ``values = a · (1 / depth) · E + b + noise``, so the truth the pipeline should recover is
  ``1 / depth = s · values + t`` with ``s = 1 / a`` and ``t = -b / a``;
* a smooth multiplicative error field ``E = exp(e)``, ``e`` interpolated from a coarse random grid;
* blurred object edges (a Gaussian on the inverse depth) and per-pixel noise.

Sky (+inf depth) has inverse depth 0, i.e. ``values ≈ b``. Deterministic from the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ConfigError, ShapeError

ORACLE_LABEL = "oracle prediction, not a network"


@dataclass(frozen=True)
class OracleConfig:
    """How far the oracle is from the truth (defaults: a good relative-depth network on easy frames).

    Attributes:
        smooth_error: standard deviation of the smooth log error ``e`` (0.05 ≈ ±5 % depth error, low frequency).
        smooth_cells: (rows, cols) of the coarse random grid ``e`` is interpolated from.
        pixel_noise: standard deviation of the per-pixel multiplicative noise on the inverse depth.
        additive_noise: standard deviation of additive noise on the output values (output units).
        blur_px: Gaussian sigma (pixels) applied to the inverse depth; 0 disables it.
        scale: mean ``a`` (output units per m⁻¹). shift: mean ``b`` (output units).
        drift: relative amplitude of the slow frame-to-frame drift of ``a`` and ``b``.
        drift_period_frames: period of that drift in frames.
    """

    smooth_error: float = 0.05
    smooth_cells: tuple[int, int] = (3, 8)
    pixel_noise: float = 0.01
    additive_noise: float = 0.002
    blur_px: float = 0.8
    scale: float = 10.0
    shift: float = 0.2
    drift: float = 0.2
    drift_period_frames: float = 24.0

    def __post_init__(self) -> None:
        values = (self.smooth_error, self.pixel_noise, self.additive_noise, self.blur_px, self.drift)
        if min(values) < 0 or not self.scale > 0 or self.shift < 0 or not self.drift_period_frames > 0:
            msg = f"oracle settings must be non-negative with scale > 0 and drift_period_frames > 0, got {self}"
            raise ConfigError(msg)
        if min(self.smooth_cells) < 1:
            msg = f"oracle smooth_cells {self.smooth_cells} must both be >= 1"
            raise ConfigError(msg)


@dataclass(frozen=True)
class OraclePrediction:
    """One oracle frame.

    Attributes:
        values: (H, W) float32 relative inverse depth (larger = nearer); finite everywhere.
        true_scale: s in ``1 / depth = s · values + t`` (m⁻¹ per output unit) that undoes this frame's ``a``.
        true_shift: t in m⁻¹.
    """

    values: npt.NDArray[np.float32]
    true_scale: float
    true_shift: float


class OracleStream:
    """Oracle predictions for consecutive frames of one sequence (the scale and shift drift with the index).

    Args:
        seed: every random draw derives from it.
        config: error model.
    """

    def __init__(self, seed: int, config: OracleConfig | None = None) -> None:
        self.config = config or OracleConfig()
        self._rng = np.random.default_rng([seed, 0x0AC1E])
        self._phase = float(self._rng.uniform(0.0, 2.0 * math.pi))
        self._index = 0

    def affine(self, index: int) -> tuple[float, float]:
        """(a, b) of frame ``index``: a smooth drift around (scale, shift)."""
        c = self.config
        angle = 2.0 * math.pi * index / c.drift_period_frames + self._phase
        a = c.scale * math.exp(c.drift * math.sin(angle))
        b = c.shift * (1.0 + c.drift * math.cos(angle))
        return a, b

    def predict(self, depth_m: npt.NDArray[np.floating]) -> OraclePrediction:
        """The next frame's prediction from its exact depth.

        Args:
            depth_m: (H, W) metres along the optical axis, +inf = sky / beyond range; NaN is treated as sky.

        Raises:
            ShapeError: ``depth_m`` is not 2-D.
        """
        if depth_m.ndim != 2:
            msg = f"exact depth must be (H, W), got shape {depth_m.shape}"
            raise ShapeError(msg)
        import cv2

        c = self.config
        height, width = depth_m.shape
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = np.where(np.isfinite(depth_m) & (depth_m > 0), 1.0 / depth_m, 0.0).astype(np.float32)
        if c.blur_px > 0:
            inverse = np.asarray(cv2.GaussianBlur(inverse, (0, 0), c.blur_px, borderType=cv2.BORDER_REPLICATE))
        coarse = self._rng.standard_normal(c.smooth_cells).astype(np.float32)
        field = np.asarray(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC), dtype=np.float32)
        field *= np.float32(c.smooth_error / max(float(np.std(field)), 1e-6))
        noise = self._rng.standard_normal((height, width)).astype(np.float32)
        inverse *= np.exp(field + np.float32(c.pixel_noise) * noise)
        a, b = self.affine(self._index)
        self._index += 1
        additive = self._rng.standard_normal((height, width)).astype(np.float32) * np.float32(c.additive_noise)
        values = (np.float32(a) * inverse + np.float32(b) + additive).astype(np.float32)
        return OraclePrediction(values, true_scale=1.0 / a, true_shift=-b / a)
