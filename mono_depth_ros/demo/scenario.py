"""What the demo runs on: an input bag it wrote, the parameters to run it with, and the truth to score it against.

A :class:`Scenario` comes from :mod:`.synthetic_bag` (rendered drive, exact depth) or :mod:`.kitti` (real KITTI
frames, held-out LiDAR as truth). Everything after it (bag runner, evaluation, pictures, report) is shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mono_depth_ros.config import ParamValue
from mono_depth_ros.core.camera import PinholeIntrinsics

# Topic names: the node's defaults (config/depth.yaml), so the recorded bag runs with the stock parameters.
IMAGE_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
LIDAR_TOPIC = "/lidar/points"
PREDICTION_TOPIC = "/depth_model/prediction"

BASE_PARAMS: dict[str, ParamValue] = {"lidar_topic": LIDAR_TOPIC, "diagnostics.period_s": 0.05}
"""What every demo run sets: the LiDAR topic, and /diagnostics every frame (the scale plot reads it)."""

ProgressFn = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as work advances (``done`` of ``total`` items of ``stage``)."""


def no_progress(stage: str, done: int, total: int) -> None:
    """A :data:`ProgressFn` that reports nothing."""


@dataclass(frozen=True)
class FrameTruth:
    """The reference for one recorded frame.

    Attributes:
        stamp_ns: header stamp of the image (int ns); the outputs carry it.
        intrinsics: camera intrinsics of the recorded image (its size is the image size).
        gt_depth_m: (H, W) float32 metres along the optical axis at the image size; NaN = no reference here,
            +inf = sky / beyond range (synthetic). Dense for the synthetic drive, sparse for KITTI.
        lidar_in_camera: (N, 3) float32 metres, the recorded scan in the camera optical frame (x right, y down,
            z forward), every point of it (also those outside the image).
        true_scale, true_shift: the oracle's exact ``1 / depth = s · values + t`` (None without an oracle).
    """

    stamp_ns: int
    intrinsics: PinholeIntrinsics
    gt_depth_m: npt.NDArray[np.float32]
    lidar_in_camera: npt.NDArray[np.float32]
    true_scale: float | None = None
    true_shift: float | None = None


@dataclass(frozen=True)
class Scenario:
    """A recorded input bag with everything needed to run and score it.

    Attributes:
        name: ``synthetic`` or ``kitti``.
        description: one line about the data (frames, size, seed).
        input_bag: the rosbag2 folder written.
        frames: truth per recorded image, in recording order.
        params: parameter overrides the run needs (topics, backend); the user's ``--param`` apply on top.
        truth_label: what the accuracy is measured against, in words.
        notes: lines the report shows about the data.
    """

    name: str
    description: str
    input_bag: Path
    frames: list[FrameTruth]
    params: dict[str, ParamValue]
    truth_label: str
    notes: list[str] = field(default_factory=list)

    def truth_at(self, stamp_ns: int) -> FrameTruth | None:
        """The truth of the image stamped ``stamp_ns`` (None when no such image was recorded)."""
        for frame in self.frames:
            if frame.stamp_ns == stamp_ns:
                return frame
        return None
