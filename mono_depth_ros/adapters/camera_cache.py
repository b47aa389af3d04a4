"""One :class:`~mono_depth_ros.core.camera.CameraModel` (and its undistortion maps) per calibration."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.ros_msgs import camera_model_from_camera_info


def calibration_key(info: Any) -> tuple[Any, ...]:
    """What makes two ``sensor_msgs/CameraInfo`` (any flavour) the same calibration: size, model, D, K, R, P,
    binning and ROI (the header is not part of it)."""
    roi = info.roi
    return (
        int(info.width),
        int(info.height),
        str(info.distortion_model),
        *(np.asarray(getattr(info, name), dtype=np.float64).tobytes() for name in ("d", "k", "r", "p")),
        int(info.binning_x),
        int(info.binning_y),
        (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)),
    )


class CameraModelCache:
    """Reuses one :class:`CameraModel` (and its undistortion maps) while the camera_info content stays the same."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._model: CameraModel | None = None

    def get(self, info: Any) -> CameraModel:
        """The model for a ``sensor_msgs/CameraInfo`` (any flavour); raises what the conversion raises."""
        key = calibration_key(info)
        with self._lock:
            if key != self._key or self._model is None:
                self._model = camera_model_from_camera_info(info)
                self._key = key
            return self._model
