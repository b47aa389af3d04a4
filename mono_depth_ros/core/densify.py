"""Dense depth from sparse depth: every empty pixel takes its nearest valid depth (L2).

Used where a sparse LiDAR depth image must become a map: a Prompt Depth Anything prompt (models/frame_inputs), the
LiDAR-only baseline and the truth maps of the evaluations.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ShapeError


def densify_nearest(sparse_depth_m: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Fill every pixel of a sparse (H, W) depth image (NaN = empty) with its nearest valid value (L2)."""
    import cv2

    depth = np.asarray(sparse_depth_m, dtype=np.float32)
    valid = np.isfinite(depth) & (depth > 0)
    if not np.any(valid):
        msg = "cannot densify a depth image without valid pixels"
        raise ShapeError(msg)
    # distanceTransformWithLabels labels each pixel with the nearest zero pixel of its input.
    _, labels = cv2.distanceTransformWithLabels(
        (~valid).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    label_values = np.zeros(int(labels.max()) + 1, dtype=np.float32)
    label_values[labels[valid]] = depth[valid]
    dense: npt.NDArray[np.float32] = label_values[labels]
    return dense
