"""Reading back what the bag runner wrote (the demo scores and draws the *output bag*, not in-memory results).

Per image stamp: the published depth (``/depth/image``, REP 117 values kept), the scale the pipeline reported
(``/diagnostics``, written every frame in the demo), and on request one cloud (``/depth/points``) or one input image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mono_depth_ros.adapters.messages import DEPTH_IMAGE_TOPIC, DEPTH_POINTS_TOPIC, DIAGNOSTICS_TOPIC
from mono_depth_ros.bag.reader import InputBag, typestore_for
from mono_depth_ros.core.errors import BagError
from mono_depth_ros.core.ros_msgs import depth_image_to_metres, image_to_rgb8, stamp_to_ns, xyz_from_pointcloud2


@dataclass(frozen=True)
class ScaleSample:
    """The scale the pipeline reported for one frame (from its /diagnostics status).

    Attributes:
        stamp_ns: image stamp (int ns). scale, shift: the applied map (shift in m⁻¹, relative_inverse only).
        health: ``ok`` / ``degraded`` / ``lost``. mode: where the scale came from (``lidar``, ``last_good``, ...).
        inliers: LiDAR points that agreed with the fit.
    """

    stamp_ns: int
    scale: float
    shift: float
    health: str
    mode: str
    inliers: int


@dataclass
class OutputBagContents:
    """Depth images and scale samples of an output bag.

    Attributes:
        depth_by_stamp: image stamp → (h, w) float32 metres (NaN no depth, +Inf beyond range, -Inf too close).
        scale_track: one sample per /diagnostics message, in recording order.
    """

    depth_by_stamp: dict[int, npt.NDArray[np.float32]] = field(default_factory=dict)
    scale_track: list[ScaleSample] = field(default_factory=list)


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_output_bag(path: Path, distro: str = "humble") -> OutputBagContents:
    """Every depth image and scale sample of an output bag written by ``run_bag``.

    Raises:
        BagError: the bag cannot be read.
    """
    contents = OutputBagContents()
    with InputBag(Path(path), typestore_for(distro)) as bag:
        for message in bag.messages({DEPTH_IMAGE_TOPIC, DIAGNOSTICS_TOPIC}):
            decoded = bag.deserialize(message)
            if message.topic == DEPTH_IMAGE_TOPIC:
                contents.depth_by_stamp[stamp_to_ns(decoded.header.stamp)] = depth_image_to_metres(decoded)
                continue
            for status in decoded.status:
                values = {kv.key: kv.value for kv in status.values}
                if "scale" not in values:
                    continue
                contents.scale_track.append(
                    ScaleSample(
                        stamp_ns=stamp_to_ns(decoded.header.stamp),
                        scale=_float(values["scale"]),
                        shift=_float(values.get("shift", "nan")),
                        health=values.get("scale_health", ""),
                        mode=values.get("scale_mode", ""),
                        inliers=int(values["inliers"]) if values.get("inliers", "").isdigit() else 0,
                    )
                )
    return contents


def _message_at(path: Path, topic: str, stamp_ns: int, distro: str) -> object:
    with InputBag(Path(path), typestore_for(distro)) as bag:
        for message in bag.messages({topic}):
            decoded = bag.deserialize(message)
            if stamp_to_ns(decoded.header.stamp) == stamp_ns:
                return decoded
    msg = f"bag {path} has no message on {topic} stamped {stamp_ns} ns; was the run interrupted?"
    raise BagError(msg)


def read_cloud_at(path: Path, stamp_ns: int, distro: str = "humble") -> npt.NDArray[np.floating]:
    """The valid points (N, 3) of the ``/depth/points`` cloud stamped ``stamp_ns``, metres, camera optical frame.

    Raises:
        BagError: no cloud with that stamp.
    """
    return xyz_from_pointcloud2(_message_at(path, DEPTH_POINTS_TOPIC, stamp_ns, distro))


def read_image_at(path: Path, topic: str, stamp_ns: int, distro: str = "humble") -> npt.NDArray[np.uint8]:
    """The (H, W, 3) uint8 RGB image on ``topic`` stamped ``stamp_ns``.

    Raises:
        BagError: no image with that stamp.
    """
    return image_to_rgb8(_message_at(path, topic, stamp_ns, distro))
