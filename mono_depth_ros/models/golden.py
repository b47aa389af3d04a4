"""Golden self-test: compare what the chosen backend / precision produces with a stored fp32 reference.

A golden reference (:class:`~mono_depth_ros.models.checkpoint.GoldenReference`) is a small uint8 RGB image and the
(H, W) float32 map the fp32 eager model produced for it through the full inference path (resize, normalise, network,
edge-aware upsampling). At start-up the engine runs the same image through whatever it is about to use (fp16, bf16,
torch.compile, CUDA graphs, ONNX Runtime, TorchScript) and compares. This catches broken low-precision numerics
(overflowing fp16 attention, a bad TensorRT build) before the robot drives on them.

Metric: relative L1 error ``sum|out - ref| / sum|ref|`` over pixels finite in both (robust to the few pixels where
nearest-at-edges upsampling flips side), plus the fraction of pixels whose validity differs (must stay <= 1 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mono_depth_ros.core.errors import CheckpointError

DEFAULT_TOLERANCE: dict[str, float] = {"fp32": 1e-3, "fp16": 2e-2, "bf16": 5e-2}
"""Relative L1 tolerance per precision (fp32 leaves room for TF32 and kernel differences across devices)."""
MAX_VALIDITY_MISMATCH = 0.01
BROKEN_OUTPUT_SHARE = 0.5
"""Share of non-finite output pixels (where the reference is finite) above which the model is broken, not inexact:
refused even with ``golden_check: warn``."""


@dataclass(frozen=True)
class GoldenReport:
    """Outcome of one golden comparison.

    Attributes:
        rel_l1: relative L1 error (see the module docstring).
        max_abs_diff: largest absolute difference (output units).
        validity_mismatch: fraction of pixels finite in one map and not in the other.
        tolerance: the rel_l1 limit applied.
        passed: rel_l1 <= tolerance and validity_mismatch <= 1 %.
        non_finite_share: share of pixels that are NaN / Inf in the output but finite in the reference (of all
            pixels when the reference has no finite one: saved from broken weights).
    """

    rel_l1: float
    max_abs_diff: float
    validity_mismatch: float
    tolerance: float
    passed: bool
    non_finite_share: float = 0.0

    @property
    def broken(self) -> bool:
        """The output is NaN / Inf over most of the image: broken weights or numerics, not a precision matter."""
        return self.non_finite_share > BROKEN_OUTPUT_SHARE

    def describe(self) -> str:
        """One line for logs and error messages."""
        if self.broken:
            what = "all-NaN" if self.non_finite_share >= 1.0 else f"NaN / Inf at {100 * self.non_finite_share:.0f} %"
            return (
                f"golden self-test FAILED: the model output is {what} of the reference pixels "
                f"(broken weights or numerics: NaN / Inf in the checkpoint, an overflowing precision)"
            )
        verdict = "ok" if self.passed else "FAILED"
        return (
            f"golden self-test {verdict}: relative L1 {self.rel_l1:.2e} (tolerance {self.tolerance:.1e}), "
            f"max abs diff {self.max_abs_diff:.3g}, validity mismatch {100 * self.validity_mismatch:.2f} %"
        )


def compare_golden(output: np.ndarray, reference: np.ndarray, tolerance: float) -> GoldenReport:
    """Compare an output map with the stored reference.

    Args:
        output: (H, W) float map from the backend under test (NaN invalid).
        reference: the stored fp32 reference, same shape.
        tolerance: relative L1 limit.

    Raises:
        CheckpointError: the shapes differ (the reference was written for another inference path).
    """
    if output.shape != reference.shape:
        msg = (
            f"golden reference output has shape {reference.shape} but the model produced {output.shape} for the "
            f"stored input; re-save the checkpoint with a reference made by this version"
        )
        raise CheckpointError(msg)
    out = output.astype(np.float64)
    ref = reference.astype(np.float64)
    finite_out, finite_ref = np.isfinite(out), np.isfinite(ref)
    both = finite_out & finite_ref
    mismatch = float(np.mean(finite_out != finite_ref)) if out.size else 0.0
    diff = np.abs(out[both] - ref[both])
    scale = float(np.abs(ref[both]).sum())
    rel_l1 = float(diff.sum()) / scale if scale > 0 else float(diff.sum())
    max_abs = float(diff.max()) if diff.size else 0.0
    lost = float(np.mean(finite_ref & ~finite_out)) / max(float(np.mean(finite_ref)), 1e-12) if out.size else 0.0
    if out.size and not finite_ref.any():  # a reference made from broken weights: NaN alike is no agreement
        lost = float(np.mean(~finite_out))
    passed = rel_l1 <= tolerance and mismatch <= MAX_VALIDITY_MISMATCH and lost <= BROKEN_OUTPUT_SHARE
    return GoldenReport(rel_l1, max_abs, mismatch, tolerance, passed, lost)


def reference_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A deterministic, natural-ish test image: smooth gradients, a few flat blocks, fine texture.

    Args:
        height, width: size in pixels.
        seed: texture seed.

    Returns:
        (height, width, 3) uint8 RGB.
    """
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    cols = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    image = np.stack([0.2 + 0.6 * rows + 0 * cols, 0.3 + 0.5 * cols + 0 * rows, 0.8 - 0.5 * rows * cols], axis=-1)
    for _ in range(6):
        top, left = int(rng.integers(0, max(1, height - 4))), int(rng.integers(0, max(1, width - 4)))
        size_y, size_x = int(rng.integers(2, max(3, height // 3))), int(rng.integers(2, max(3, width // 3)))
        image[top : top + size_y, left : left + size_x] = rng.uniform(0.0, 1.0, size=3).astype(np.float32)
    image = image + np.asarray(rng.normal(0.0, 0.03, size=image.shape), dtype=np.float32)
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
