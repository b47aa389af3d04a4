"""Writing the demo's input rosbag2 with rosbags (no ROS install needed).

:class:`BagBuilder` is the bag runner's :class:`~mono_depth_ros.bag.writer.OutputBag` with a message factory:
``add(topic, msg, log_ns)`` serialises and writes (the tests build their bags with it too).
:func:`lidar_cloud` builds the scan message the demo records (Velodyne-like fields); :func:`add_camera` and
:func:`add_oracle` record a frame's camera topics and oracle prediction at the demo's latencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.bag.reader import typestore_for
from mono_depth_ros.bag.writer import OutputBag
from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.msg_factory import MessageFactory, make_header
from mono_depth_ros.core.ros_msgs import (
    camera_info_from_intrinsics,
    depth_image_from_metres,
    image_from_array,
    pointcloud2_from_structured,
)
from mono_depth_ros.core.synthetic import FRAME_CAMERA
from mono_depth_ros.demo.oracle import OracleStream
from mono_depth_ros.demo.scenario import CAMERA_INFO_TOPIC, IMAGE_TOPIC, PREDICTION_TOPIC

_MS = 1_000_000

# x, y, z, intensity float32 at 0/4/8/12, ring uint16 at 16; point_step 20 (2 padding bytes), as Velodyne drivers do.
LIDAR_DTYPE = np.dtype(
    {
        "names": ["x", "y", "z", "intensity", "ring"],
        "formats": ["<f4", "<f4", "<f4", "<f4", "<u2"],
        "offsets": [0, 4, 8, 12, 16],
        "itemsize": 20,
    }
)


class BagBuilder(OutputBag):
    """A rosbag2 being written (metadata version 8) with a message factory; use as a context manager.

    Args:
        path: bag folder to create (must not exist).
        distro: message definitions (``humble`` plays on Humble and Jazzy).
        storage: ``sqlite3`` or ``mcap``.
        custom_data: string key/values stored in ``metadata.yaml`` (``custom_data``).
    """

    def __init__(
        self,
        path: Path,
        distro: str = "humble",
        storage: str = "sqlite3",
        *,
        custom_data: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(path, typestore_for(distro), storage, custom_data)
        self.factory = MessageFactory.for_rosbags(self.typestore)

    def add(self, topic: str, msg: Any, log_ns: int, msgtype: str | None = None) -> None:
        """Write ``msg`` on ``topic`` at bag (receive) time ``log_ns`` (int ns); the type comes from the message."""
        self.write(topic, msgtype or str(msg.__msgtype__), msg, log_ns)


def lidar_cloud(
    factory: MessageFactory,
    points_in_lidar: npt.NDArray[np.floating],
    stamp_ns: int,
    frame_id: str,
    intensity: npt.NDArray[np.floating] | None = None,
    ring: npt.NDArray[np.integer] | None = None,
) -> Any:
    """An unorganized PointCloud2 of one scan (layout :data:`LIDAR_DTYPE`).

    Args:
        factory: message classes of the output flavour.
        points_in_lidar: (N, 3) metres in ``frame_id``.
        stamp_ns: header stamp (int ns).
        frame_id: the LiDAR frame.
        intensity: (N,) reflectance (default 0). ring: (N,) beam index (default 0).
    """
    count = int(points_in_lidar.shape[0])
    points = np.zeros(count, dtype=LIDAR_DTYPE)
    for column, name in enumerate(("x", "y", "z")):
        points[name] = points_in_lidar[:, column]
    if intensity is not None:
        points["intensity"] = intensity
    if ring is not None:
        points["ring"] = ring
    is_dense = bool(np.isfinite(points_in_lidar).all())
    return pointcloud2_from_structured(factory, make_header(factory, stamp_ns, frame_id), points, 1, count, is_dense)


def add_camera(bag: BagBuilder, stamp_ns: int, rgb: npt.NDArray[np.uint8], intrinsics: PinholeIntrinsics) -> Any:
    """Record one camera frame stamped ``stamp_ns`` (int ns) in ``camera_optical_frame``: camera_info 1 ms and the
    rgb8 image 2 ms after the stamp. Returns their header (the oracle prediction carries it too)."""
    factory = bag.factory
    header = make_header(factory, stamp_ns, FRAME_CAMERA)
    bag.add(CAMERA_INFO_TOPIC, camera_info_from_intrinsics(factory, intrinsics, header), stamp_ns + 1 * _MS)
    bag.add(IMAGE_TOPIC, image_from_array(factory, rgb, "rgb8", header), stamp_ns + 2 * _MS)
    return header


def add_oracle(
    bag: BagBuilder, stream: OracleStream, depth_m: npt.NDArray[np.float32], header: Any, stamp_ns: int
) -> tuple[float, float]:
    """Record the oracle's prediction from ``depth_m`` ((H, W) metres) as 32FC1 with the image's ``header``, 40 ms
    after the stamp (a network's latency). Returns its true (scale, shift), see :class:`OraclePrediction`."""
    predicted = stream.predict(depth_m)
    message = depth_image_from_metres(bag.factory, predicted.values, "32FC1", header)
    bag.add(PREDICTION_TOPIC, message, stamp_ns + 40 * _MS)
    return predicted.true_scale, predicted.true_shift
