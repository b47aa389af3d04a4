"""What a depth model may take besides the image: the camera's focal length and the paired LiDAR depth.

Most models read the image alone. Depth Pro turns its output into metres with the focal length, Depth Anything 3
metric (``metric_focal``) needs it too, and Prompt Depth Anything takes a metric depth prompt from the LiDAR. The
pipeline hands every model the same :class:`FrameHints`; each takes what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ShapeError

FOCAL_RATIO = "focal_ratio"
"""Model input name: the camera's fx / image width (Depth Pro's conversion of canonical inverse depth to metres)."""
PROMPT_DEPTH = "prompt_depth"
"""Model input name: a low-resolution metric depth prompt (Prompt Depth Anything), from the paired LiDAR scan."""


@dataclass(frozen=True)
class FrameHints:
    """Per-frame inputs besides the image.

    Attributes:
        focal_px: (fx, fy) of the image handed to the model, pixels (from camera_info: P when rectified, the
            undistorted K otherwise).
        sparse_depth_m: (h, w) float32 LiDAR depth along the optical axis in metres at any resolution with the
            image's aspect (the projection scale recovery uses), NaN where no point landed; None when no scan was
            paired with this image.
    """

    focal_px: tuple[float, float] | None = None
    sparse_depth_m: npt.NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        if self.focal_px is not None and not all(np.isfinite(f) and f > 0 for f in self.focal_px):
            msg = f"focal length {self.focal_px} px must be finite and positive; check the camera_info K / P"
            raise ShapeError(msg)
        if self.sparse_depth_m is not None and np.ndim(self.sparse_depth_m) != 2:
            msg = f"sparse LiDAR depth must be (h, w), got shape {np.shape(self.sparse_depth_m)}"
            raise ShapeError(msg)
