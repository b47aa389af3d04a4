"""Per-frame conversions of the bag runner: input messages → core arrays, a FrameOutput → output messages.

Output topics and what they carry (the node publishes the same):

===================  ===============================  ==========================================================
topic                type                             content
===================  ===============================  ==========================================================
/depth/image         sensor_msgs/Image                ``output.encoding`` (32FC1 metres, NaN / ±Inf per REP 117;
                                                      or 16UC1 mm, 0 invalid); header = the input image's
/depth/camera_info   sensor_msgs/CameraInfo           intrinsics of the depth image (same size), same header
/depth/points        sensor_msgs/PointCloud2          x, y, z float32 at 0/4/8 (+ rgb at 16), NaN invalid
/diagnostics         diagnostic_msgs/DiagnosticArray  run counters and scale health, every ``diagnostics.period_s``
===================  ===============================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import EncodingError
from mono_depth_ros.core.msg_factory import MessageFactory
from mono_depth_ros.core.ros_msgs import (
    camera_info_from_intrinsics,
    compressed_image_to_rgb8,
    depth_image_to_metres,
    image_from_array,
    image_to_rgb8,
    make_header,
    pointcloud2_from_cloud,
    stamp_to_ns,
    xyz_from_pointcloud2,
)
from mono_depth_ros.pipeline import FrameOutput

if TYPE_CHECKING:
    from mono_depth_ros.bag.summary import BagSummary

DEPTH_IMAGE_TOPIC = "/depth/image"
DEPTH_CAMERA_INFO_TOPIC = "/depth/camera_info"
DEPTH_POINTS_TOPIC = "/depth/points"
DIAGNOSTICS_TOPIC = "/diagnostics"
OUTPUT_TOPICS = (DEPTH_IMAGE_TOPIC, DEPTH_CAMERA_INFO_TOPIC, DEPTH_POINTS_TOPIC, DIAGNOSTICS_TOPIC)
IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
DIAGNOSTIC_ARRAY = "diagnostic_msgs/msg/DiagnosticArray"
DIAGNOSTIC_OK, DIAGNOSTIC_WARN = 0, 1


@dataclass(frozen=True)
class Scan:
    """A decoded LiDAR scan.

    Attributes:
        points_in_lidar: (N, 3) float32/float64 metres in ``frame_id``; NaN and (0, 0, 0) points already dropped.
        frame_id: the cloud's header frame. stamp_ns: its header stamp (int ns).
    """

    points_in_lidar: npt.NDArray[np.floating]
    frame_id: str
    stamp_ns: int


def decode_image(msg: Any, msgtype: str) -> npt.NDArray[np.uint8]:
    """Image or CompressedImage → (H, W, 3) uint8 RGB.

    Raises:
        EncodingError: unsupported encoding / format, undecodable data. ShapeError: inconsistent sizes.
    """
    if msgtype == "sensor_msgs/msg/CompressedImage":
        return compressed_image_to_rgb8(msg)
    return image_to_rgb8(msg)


def decode_scan(msg: Any) -> Scan:
    """PointCloud2 (any layout with float x, y, z) → :class:`Scan`."""
    return Scan(xyz_from_pointcloud2(msg), str(msg.header.frame_id), stamp_to_ns(msg.header.stamp))


def decode_prediction(msg: Any) -> npt.NDArray[np.float32]:
    """External prediction Image (``32FC1`` values as they are, ``16UC1`` / 1000) → (H, W) float32, NaN invalid.

    Raises:
        EncodingError: not a 32FC1 / 16UC1 / mono16 image.
    """
    try:
        return depth_image_to_metres(msg)
    except EncodingError as err:
        msg_text = f"{err}; the external prediction must be 32FC1 (or 16UC1)"
        raise EncodingError(msg_text) from None


def output_messages(factory: MessageFactory, output: FrameOutput) -> list[tuple[str, str, Any]]:
    """``(topic, type, message)`` for the depth image, its camera_info and (when built) the cloud of one frame."""
    header = make_header(factory, output.stamp_ns, output.frame_id)
    messages: list[tuple[str, str, Any]] = [
        (DEPTH_IMAGE_TOPIC, IMAGE, image_from_array(factory, output.depth_wire, output.encoding, header)),
        (DEPTH_CAMERA_INFO_TOPIC, CAMERA_INFO, camera_info_from_intrinsics(factory, output.intrinsics, header)),
    ]
    cloud = output.cloud
    if cloud is not None:
        message = pointcloud2_from_cloud(factory, header, cloud)
        messages.append((DEPTH_POINTS_TOPIC, POINTCLOUD2, message))
    return messages


def diagnostics_message(
    factory: MessageFactory, stamp_ns: int, hardware_id: str, values: dict[str, str], warn: str = ""
) -> Any:
    """A DiagnosticArray with one status ``mono_depth_ros: depth`` (level WARN with ``warn`` as message, else OK)."""
    status = factory.new(
        "diagnostic_msgs/msg/DiagnosticStatus",
        level=DIAGNOSTIC_WARN if warn else DIAGNOSTIC_OK,
        name="mono_depth_ros: depth",
        message=warn or "ok",
        hardware_id=hardware_id,
        values=[factory.new("diagnostic_msgs/msg/KeyValue", key=k, value=v) for k, v in values.items()],
    )
    return factory.new(DIAGNOSTIC_ARRAY, header=make_header(factory, stamp_ns, ""), status=[status])


@dataclass
class DiagnosticsTracker:
    """When to write ``/diagnostics`` (every ``period_ns`` of image stamps) and what it says.

    Attributes:
        period_ns: ``diagnostics.period_s`` in int ns.
        latencies_ms: pipeline latency per written frame (the last 100 give p50 / p95).
    """

    period_ns: int
    latencies_ms: list[float] = field(default_factory=list)
    _next_ns: int | None = None
    _skipped_before: int = 0

    def update(self, factory: MessageFactory, output: FrameOutput, summary: BagSummary) -> Any:
        """A DiagnosticArray when a period has passed since the last one (WARN when frames were skipped), else None."""
        if self._next_ns is not None and output.stamp_ns < self._next_ns:
            return None
        self._next_ns = output.stamp_ns + self.period_ns
        latencies = np.asarray(self.latencies_ms[-100:] or [np.nan], dtype=np.float64)
        skipped = summary.skipped.total
        values = {
            "frames_out": str(summary.frames_out),
            "frames_skipped": str(skipped),
            "latency_ms_p50": f"{np.nanpercentile(latencies, 50):.1f}" if np.isfinite(latencies).any() else "nan",
            "latency_ms_p95": f"{np.nanpercentile(latencies, 95):.1f}" if np.isfinite(latencies).any() else "nan",
            **dict(output.scale.key_values()),
        }
        new_skips = skipped - self._skipped_before
        self._skipped_before = skipped
        warn = f"{new_skips} frame(s) skipped" if new_skips > 0 else ""
        return diagnostics_message(factory, output.stamp_ns, output.frame_id, values, warn)
