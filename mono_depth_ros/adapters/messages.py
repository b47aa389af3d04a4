"""Messages ⇄ the pipeline, for the node and the bag runner alike: decode inputs, build output messages.

Output topics (absolute names as the bag runner writes them; the node publishes them relative to its namespace):

===================  ===============================  ==========================================================
topic                type                             content
===================  ===============================  ==========================================================
/depth/image         sensor_msgs/Image                ``output.encoding`` (32FC1 metres, NaN / ±Inf per REP 117;
                                                      or 16UC1 mm, 0 invalid); header = the input image's
/depth/camera_info   sensor_msgs/CameraInfo           intrinsics of the depth image (same size), same header
/depth/points        sensor_msgs/PointCloud2          x, y, z float32 at 0/4/8 (+ rgb at 16), NaN invalid
/diagnostics         diagnostic_msgs/DiagnosticArray  :mod:`mono_depth_ros.adapters.diagnostics`
===================  ===============================  ==========================================================

Every function fills whatever message classes its :class:`~mono_depth_ros.core.msg_factory.MessageFactory` holds
(rclpy's in the node, rosbags' in the bag runner) and reads any flavour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.adapters.input_bits import SixteenBitInput as SixteenBitInput  # the node reads it here
from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.errors import EncodingError, ShapeError, TransformError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.msg_factory import FieldBuffer, MessageFactory
from mono_depth_ros.core.msg_image import SIXTEEN_BITS
from mono_depth_ros.core.msg_laser_scan import laser_sweep_middle_offset_ns, points_from_laser_scan
from mono_depth_ros.core.point_times import MAX_SPAN_NS
from mono_depth_ros.core.ros_msgs import (
    camera_info_from_intrinsics,
    compressed_image_to_rgb8,
    depth_image_to_metres,
    image_from_array,
    image_to_rgb8,
    laser_scan_message,
    make_header,
    pointcloud2_from_cloud,
    stamp_to_ns,
    xyz_and_times_from_pointcloud2,
)
from mono_depth_ros.core.ros_msgs import sweep_middle_offset_ns as cloud_sweep_middle_offset_ns
from mono_depth_ros.core.tf_buffer import normalize_frame_id
from mono_depth_ros.pipeline import FrameInput, FrameOutput, LidarInput

DEPTH_IMAGE_TOPIC = "/depth/image"
DEPTH_CAMERA_INFO_TOPIC = "/depth/camera_info"
DEPTH_POINTS_TOPIC = "/depth/points"
DEPTH_CLEARING_TOPIC = "/depth/points_clearing"
DEPTH_SCAN_TOPIC = "/depth/scan"
DIAGNOSTICS_TOPIC = "/diagnostics"
OUTPUT_TOPICS: tuple[str, ...] = (DEPTH_IMAGE_TOPIC, DEPTH_CAMERA_INFO_TOPIC, DEPTH_POINTS_TOPIC, DEPTH_CLEARING_TOPIC)
OUTPUT_TOPICS += (DEPTH_SCAN_TOPIC, DIAGNOSTICS_TOPIC)
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
LASER_SCAN = "sensor_msgs/msg/LaserScan"
DIAGNOSTIC_ARRAY = "diagnostic_msgs/msg/DiagnosticArray"
FACTORY_TYPES: tuple[str, ...] = (
    "builtin_interfaces/msg/Time",
    "std_msgs/msg/Header",
    "sensor_msgs/msg/Image",
    "sensor_msgs/msg/CameraInfo",
    "sensor_msgs/msg/RegionOfInterest",
    "sensor_msgs/msg/PointCloud2",
    "sensor_msgs/msg/PointField",
    "sensor_msgs/msg/LaserScan",
    "diagnostic_msgs/msg/DiagnosticArray",
    "diagnostic_msgs/msg/DiagnosticStatus",
    "diagnostic_msgs/msg/KeyValue",
)
"""The message types the node's :class:`~mono_depth_ros.core.msg_factory.MessageFactory` holds (rclpy's classes)."""


@dataclass(frozen=True)
class Scan:
    """A decoded LiDAR scan.

    Attributes:
        points_in_lidar: (N, 3) float32/float64 metres in ``frame_id``; NaN and (0, 0, 0) points already dropped.
        frame_id: the cloud's header frame. stamp_ns: its header stamp (int ns).
        point_dt_ns: (N,) int64 measurement time of each point, ns after ``stamp_ns``, from the driver's time field
            or a LaserScan's ``i * time_increment`` (None: the cloud has none; see
            :mod:`~mono_depth_ros.core.point_times`).
        sweep_middle_ns: the middle of the sweep after ``stamp_ns`` (int ns; 0 without times that span a sweep):
            :func:`sweep_middle_offset_ns`, the offset the scan is paired by (node and bag runner), from the time of
            every point or beam, no-returns included; not from ``point_dt_ns`` (the kept points): a sector without
            returns at one end of the sweep (an Ouster azimuth window, a rear blocked by the robot) moved that
            middle 12.5-25 ms from the one the scan was paired by, and the scale recovery measured its age from it.
    """

    points_in_lidar: npt.NDArray[np.floating]
    frame_id: str
    stamp_ns: int
    point_dt_ns: npt.NDArray[np.int64] | None = None
    sweep_middle_ns: int = 0


def decode_image(
    msg: Any, msgtype: str, *, copy: bool = True, significant_bits: int = SIXTEEN_BITS
) -> npt.NDArray[np.uint8]:
    """Image or CompressedImage → (H, W, 3) uint8 RGB (``copy=False``: see :func:`image_to_rgb8`; 16-bit pixels
    scaled by ``255 / (2**significant_bits - 1)``: :func:`~mono_depth_ros.core.msg_image.uint16_to_uint8`).

    Raises:
        EncodingError: unsupported encoding / format, undecodable data. ShapeError: inconsistent sizes.
    """
    if msgtype == "sensor_msgs/msg/CompressedImage":
        return compressed_image_to_rgb8(msg, significant_bits)
    return image_to_rgb8(msg, copy=copy, significant_bits=significant_bits)


def decode_scan(msg: Any, msgtype: str = POINTCLOUD2, *, paired_ns: int | None = None) -> Scan:
    """PointCloud2 (any layout with float x, y, z; per-point times when it has a time field) or LaserScan (a 2D
    LiDAR: its beams as :func:`~mono_depth_ros.core.msg_laser_scan.points_from_laser_scan` projects them, with their
    times) → :class:`Scan`, dated by the middle of its sweep as it is paired (:func:`sweep_middle_offset_ns`).

    ``paired_ns``: the stamp the scan was paired by (int ns: its header stamp plus :func:`sweep_middle_offset_ns`, as
    the node's ``LidarFeed.add_scan`` and the bag runner's first pass computed it): its sweep's middle is then that
    minus the header stamp, not read from every point's time again (0.2-0.4 ms a 128x1024 Ouster cloud,
    bench/bench_sweep_middle.py). None, or one further from the header stamp than any sweep's middle lies
    (:data:`~mono_depth_ros.core.point_times.MAX_SPAN_NS`: another scan's stamp, not this one's): computed here."""
    frame_id, stamp_ns = str(msg.header.frame_id), stamp_to_ns(msg.header.stamp)
    point_dt_ns: npt.NDArray[np.int64] | None
    if msgtype == LASER_SCAN:
        laser = points_from_laser_scan(msg)
        points, point_dt_ns = laser.points_in_laser, laser.point_dt_ns
    else:
        points, point_dt_ns = xyz_and_times_from_pointcloud2(msg)
    middle_ns = None if paired_ns is None else int(paired_ns) - stamp_ns
    if middle_ns is None or abs(middle_ns) > MAX_SPAN_NS:  # no sweep's middle: not this scan's pairing stamp
        middle_ns = sweep_middle_offset_ns(msg, msgtype)
    return Scan(points, frame_id, stamp_ns, point_dt_ns, middle_ns)  # as it is paired


def sweep_middle_offset_ns(msg: Any, msgtype: str = POINTCLOUD2) -> int:
    """Where the middle of a scan's sweep lies after its header stamp (int ns), for a PointCloud2 (its per-point
    times: :func:`~mono_depth_ros.core.msg_pointcloud2.sweep_middle_offset_ns`) or a LaserScan (its beams'
    :func:`~mono_depth_ros.core.msg_laser_scan.laser_sweep_middle_offset_ns`)."""
    return laser_sweep_middle_offset_ns(msg) if msgtype == LASER_SCAN else cloud_sweep_middle_offset_ns(msg)


def decode_prediction(msg: Any) -> npt.NDArray[np.float32]:
    """External prediction Image (``32FC1`` values as they are, ``16UC1`` / ``mono16`` / 1000) → (H, W) float32, NaN
    invalid.

    Raises:
        EncodingError: not a 32FC1 / 16UC1 / mono16 image (the text names all three, which each decode).
    """
    try:
        return depth_image_to_metres(msg)
    except EncodingError as err:
        msg_text = f"{err} (32FC1 in metres, 16UC1 or mono16 in millimetres): publish the external prediction in one"
        raise EncodingError(msg_text) from None


def output_messages(
    factory: MessageFactory, output: FrameOutput, cloud_buffer: FieldBuffer | None = None
) -> list[tuple[str, str, Any]]:
    """``(topic, type, message)`` for the depth image, its camera_info and (when built) the cloud, the clearing
    cloud and the scan of one frame.

    ``cloud_buffer``: the cloud publisher's reused ``data`` field (node and bag runner hand the messages over before
    the next frame; see :class:`~mono_depth_ros.core.msg_factory.FieldBuffer`).
    """
    header = make_header(factory, output.stamp_ns, output.frame_id)
    messages: list[tuple[str, str, Any]] = [
        (DEPTH_IMAGE_TOPIC, IMAGE, image_from_array(factory, output.depth_wire, output.encoding, header)),
        (DEPTH_CAMERA_INFO_TOPIC, CAMERA_INFO, camera_info_from_intrinsics(factory, output.intrinsics, header)),
    ]
    cloud = output.cloud
    if cloud is not None:
        message = pointcloud2_from_cloud(factory, header, cloud, cloud_buffer)
        messages.append((DEPTH_POINTS_TOPIC, POINTCLOUD2, message))
    if output.clearing is not None:
        messages.append((DEPTH_CLEARING_TOPIC, POINTCLOUD2, pointcloud2_from_cloud(factory, header, output.clearing)))
    if output.scan is not None:
        scan_header = make_header(factory, output.stamp_ns, output.scan_frame_id or output.frame_id)
        messages.append((DEPTH_SCAN_TOPIC, LASER_SCAN, laser_scan_message(factory, scan_header, output.scan)))
    return messages


def negative_stamp_text(what: str, stamp_ns: int) -> str:
    """The message for a ``what`` (image, camera_info, ...) stamped before 0 (``header.stamp.sec < 0``)."""
    return f"{what} stamped {stamp_ns / 1e9:.3f} s: a stamp before 0 is no ROS time; fix its clock"


def frame_input(
    image: Any,
    image_type: str,
    camera: CameraModel,
    image_is_rectified: bool,
    lidar: LidarInput | None = None,
    prediction: npt.NDArray[np.float32] | None = None,
    world_from_cam: RigidTransform | None = None,
    *,
    copy: bool = True,
    bits: SixteenBitInput | None = None,
) -> FrameInput:
    """The pipeline's input for one image message (``sensor_msgs/msg/Image`` or ``.../CompressedImage``).

    Stamp and frame id come from the image header (a ROS 1 style ``/camera_optical`` becomes ``camera_optical``,
    the id tf2 stores and looks up: outputs are published in it); ``prediction`` is an external prediction already
    decoded with :func:`decode_prediction` (or None); ``world_from_cam`` the camera pose for the temporal filter
    (:class:`~mono_depth_ros.adapters.motion.CameraPoses`, or None). ``copy=False``: the pixels may be a view of the
    message's buffer (a caller that owns the message, such as the bag runner; see
    :func:`~mono_depth_ros.core.msg_image.image_to_rgb8`). ``bits``: the stream's
    :class:`~mono_depth_ros.adapters.input_bits.SixteenBitInput` (node and bag runner): 16-bit pixels are scaled by
    its ``image_significant_bits`` and their peaks watched; None: 16 bits (cv_bridge's 255 / 65535), not watched.

    Raises:
        EncodingError, ShapeError: an undecodable or empty image. TransformError: an empty ``header.frame_id``
            (outputs that no TF consumer could place) or a stamp before 0 (``header.stamp.sec < 0``).
    """
    header = image.header
    frame_id = normalize_frame_id(str(header.frame_id))  # "/camera": tf2 stores "camera", refuses "/camera"
    if not frame_id:
        msg = (
            "image header.frame_id is empty: its depth, camera_info and cloud could not be placed in TF; "
            "set the camera driver's frame_id (its optical frame, e.g. camera_optical_frame)"
        )
        raise TransformError(msg)
    stamp_ns = stamp_to_ns(header.stamp)
    if stamp_ns < 0:
        raise TransformError(negative_stamp_text("image", stamp_ns))
    significant_bits = SIXTEEN_BITS if bits is None else bits.significant_bits
    rgb = decode_image(image, image_type, copy=copy, significant_bits=significant_bits)
    if rgb.size == 0:  # else the calibration size check would be blamed
        msg = f"image is {rgb.shape[1]}x{rgb.shape[0]}: no pixels; the camera driver published an empty image"
        raise ShapeError(msg)
    if bits is not None:
        bits.observe(image, image_type, significant_bits)
    return FrameInput(
        stamp_ns=stamp_ns,
        frame_id=frame_id,
        rgb=rgb,
        camera=camera,
        image_is_rectified=image_is_rectified,
        lidar=lidar,
        prediction=prediction,
        world_from_cam=world_from_cam,
    )
