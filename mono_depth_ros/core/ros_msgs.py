"""ROS message ⇄ core conversions, written against message fields (fills any message class; ROS-free).

The one import path for the node and the bag runner. Messages of any flavour are read (rclpy's generated
classes, rosbags' dataclasses); new messages are built through a :class:`MessageFactory`, which knows the classes
and array conventions of the output flavour. Every output copies the header of its input (capture stamp and
frame_id), never "now".

This module holds CameraInfo ⇄ :class:`CameraModel` and TF ⇄ :class:`RigidTransform`, and re-exports
Image / CompressedImage / PointCloud2 conversions from :mod:`.msg_image`, :mod:`.msg_compressed` and
:mod:`.msg_pointcloud2`, and stamps and headers from :mod:`.msg_factory`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.cloud_record import PointCloud
from mono_depth_ros.core.errors import ShapeError, TransformError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.laser_scan import ScanData
from mono_depth_ros.core.msg_compressed import (
    compressed_codec,
    compressed_image_from_array,
    compressed_image_to_array,
    compressed_image_to_rgb8,
)
from mono_depth_ros.core.msg_factory import (
    MESSAGE_TYPES,
    FieldBuffer,
    MessageFactory,
    SequenceStyle,
    header_from,
    make_header,
    ros_python_class_path,
    stamp_to_ns,
    time_from_ns,
    uint8_buffer,
)
from mono_depth_ros.core.msg_image import (
    COLOUR_ENCODINGS,
    IMAGE_ENCODINGS,
    depth_image_from_metres,
    depth_image_to_metres,
    image_from_array,
    image_to_array,
    image_to_rgb8,
)
from mono_depth_ros.core.msg_pointcloud2 import (
    point_fields_from_msg,
    pointcloud2_from_structured,
    pointcloud2_to_structured,
    sweep_middle_offset_ns,
    xyz_and_times_from_pointcloud2,
    xyz_from_pointcloud2,
)

__all__ = [
    "COLOUR_ENCODINGS",
    "IMAGE_ENCODINGS",
    "MESSAGE_TYPES",
    "MessageFactory",
    "SequenceStyle",
    "camera_info_from_intrinsics",
    "camera_info_from_model",
    "camera_model_from_camera_info",
    "compressed_codec",
    "compressed_image_from_array",
    "compressed_image_to_array",
    "compressed_image_to_rgb8",
    "depth_image_from_metres",
    "depth_image_to_metres",
    "header_from",
    "image_from_array",
    "image_to_array",
    "image_to_rgb8",
    "make_header",
    "point_fields_from_msg",
    "pointcloud2_from_cloud",
    "pointcloud2_from_structured",
    "pointcloud2_to_structured",
    "rigid_transform_from_msg",
    "rigid_transforms_from_tf_message",
    "ros_python_class_path",
    "stamp_to_ns",
    "sweep_middle_offset_ns",
    "tf_message_from",
    "time_from_ns",
    "transform_stamped_from_rigid",
    "uint8_buffer",
    "xyz_and_times_from_pointcloud2",
    "xyz_from_pointcloud2",
]


def _fixed_float64(values: Any, size: int, field: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    if flat.size != size:
        msg = f"CameraInfo.{field} has {flat.size} values, expected {size}; malformed camera_info message"
        raise ShapeError(msg)
    return flat


def camera_model_from_camera_info(msg: Any) -> CameraModel:
    """``sensor_msgs/CameraInfo`` (lower-case ``k, d, r, p``; any flavour) → :class:`CameraModel`.

    ``roi`` becomes ``(x_offset, y_offset, width, height)``; ``roi.do_rectify`` is not kept.

    Raises:
        ShapeError: ``k``/``r`` without 9 or ``p`` without 12 values.
        CalibrationError: an uncalibrated camera (zero size, zero focal length in both K and P) or an
            unsupported distortion model (see :class:`CameraModel`).
    """
    roi = msg.roi
    return CameraModel(
        width=int(msg.width),
        height=int(msg.height),
        distortion_model=str(msg.distortion_model),
        d=tuple(float(c) for c in np.asarray(msg.d, dtype=np.float64).reshape(-1)),
        k=_fixed_float64(msg.k, 9, "k"),
        r=_fixed_float64(msg.r, 9, "r"),
        p=_fixed_float64(msg.p, 12, "p"),
        binning_x=int(msg.binning_x),
        binning_y=int(msg.binning_y),
        roi=(int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)),
    )


def camera_info_from_model(factory: MessageFactory, model: CameraModel, header: Any) -> Any:
    """:class:`CameraModel` → a new CameraInfo with a copy of ``header`` (``roi.do_rectify`` False)."""
    x_offset, y_offset, roi_width, roi_height = model.roi
    roi = factory.new(
        "sensor_msgs/msg/RegionOfInterest",
        x_offset=int(x_offset),
        y_offset=int(y_offset),
        height=int(roi_height),
        width=int(roi_width),
        do_rectify=False,
    )
    return factory.new(
        "sensor_msgs/msg/CameraInfo",
        header=header_from(factory, header),
        height=int(model.height),
        width=int(model.width),
        distortion_model=str(model.distortion_model),
        d=factory.float64_sequence(model.d),
        k=factory.float64_array(model.k, 9, "CameraInfo.k"),
        r=factory.float64_array(model.r, 9, "CameraInfo.r"),
        p=factory.float64_array(model.p, 12, "CameraInfo.p"),
        binning_x=int(model.binning_x),
        binning_y=int(model.binning_y),
        roi=roi,
    )


def camera_info_from_intrinsics(factory: MessageFactory, intrinsics: PinholeIntrinsics, header: Any) -> Any:
    """CameraInfo of a published (rectified, distortion-free) image such as the depth output.

    ``plumb_bob`` with ``d`` = 5 zeros, ``k`` = the intrinsics, ``r`` = identity, ``p`` = ``[k | 0]``,
    size = the intrinsics' image size, no binning, full-image roi.
    """
    signs = (math.copysign(1.0, intrinsics.cx), math.copysign(1.0, intrinsics.cy))  # -0.0 == 0.0, not its bits
    return camera_info_from_model(factory, _distortion_free_model(intrinsics, signs), header)


@functools.lru_cache(maxsize=8)
def _distortion_free_model(intrinsics: PinholeIntrinsics, signs: tuple[float, float]) -> CameraModel:
    """:meth:`CameraModel.from_intrinsics`, made once per calibration (and signs of ``cx``, ``cy``: the key compares
    values): the published depth's camera_info, every frame of a stream the same (~50 us a frame). Only read:
    :func:`camera_info_from_model` copies its arrays into each message."""
    return CameraModel.from_intrinsics(intrinsics)


def rigid_transform_from_msg(msg: Any) -> RigidTransform:
    """``geometry_msgs/TransformStamped`` → :class:`RigidTransform` ``header.frame_id``\\ _from_\\ ``child_frame_id``.

    A TF entry with parent ``header.frame_id`` and child ``child_frame_id`` maps points in the child frame to the
    parent frame, so e.g. parent ``camera_optical``, child ``lidar`` gives ``camera_optical_from_lidar``.

    Raises:
        TransformError: empty frame ids, a non-unit or non-finite quaternion, a non-finite translation.
    """
    dst_frame, src_frame = str(msg.header.frame_id), str(msg.child_frame_id)
    if not dst_frame or not src_frame:
        text = f"TransformStamped has an empty frame id (header.frame_id={dst_frame!r}, child={src_frame!r})"
        raise TransformError(text)
    translation, rotation = msg.transform.translation, msg.transform.rotation
    return RigidTransform.from_translation_quaternion(
        (float(translation.x), float(translation.y), float(translation.z)),
        (float(rotation.x), float(rotation.y), float(rotation.z), float(rotation.w)),
        dst_frame=dst_frame,
        src_frame=src_frame,
    )


def rigid_transforms_from_tf_message(msg: Any) -> list[RigidTransform]:
    """Every entry of a ``tf2_msgs/TFMessage`` (``/tf`` or ``/tf_static``) as a :class:`RigidTransform`."""
    return [rigid_transform_from_msg(entry) for entry in msg.transforms]


def transform_stamped_from_rigid(factory: MessageFactory, dst_from_src: RigidTransform, stamp_ns: int) -> Any:
    """:class:`RigidTransform` → TransformStamped (parent ``dst_frame``, child ``src_frame``) at ``stamp_ns``."""
    if not dst_from_src.dst_frame or not dst_from_src.src_frame:
        msg = f"a TF entry needs both frame ids, got dst={dst_from_src.dst_frame!r} src={dst_from_src.src_frame!r}"
        raise TransformError(msg)
    tx, ty, tz = (float(v) for v in dst_from_src.translation)
    qx, qy, qz, qw = (float(v) for v in dst_from_src.quaternion_xyzw)
    transform = factory.new(
        "geometry_msgs/msg/Transform",
        translation=factory.new("geometry_msgs/msg/Vector3", x=tx, y=ty, z=tz),
        rotation=factory.new("geometry_msgs/msg/Quaternion", x=qx, y=qy, z=qz, w=qw),
    )
    return factory.new(
        "geometry_msgs/msg/TransformStamped",
        header=make_header(factory, stamp_ns, dst_from_src.dst_frame),
        child_frame_id=dst_from_src.src_frame,
        transform=transform,
    )


def tf_message_from(factory: MessageFactory, transforms: Sequence[RigidTransform], stamp_ns: int) -> Any:
    """A ``tf2_msgs/TFMessage`` holding every transform at ``stamp_ns`` (for ``/tf`` or ``/tf_static``)."""
    entries = [transform_stamped_from_rigid(factory, t, stamp_ns) for t in transforms]
    return factory.new("tf2_msgs/msg/TFMessage", transforms=entries)


def laser_scan_message(factory: MessageFactory, header: Any, scan: ScanData) -> Any:
    """The ``sensor_msgs/LaserScan`` of a :class:`~mono_depth_ros.core.laser_scan.ScanData` (``/depth/scan``);
    no intensities, no per-ray timing (one camera exposure)."""
    return factory.new(
        "sensor_msgs/msg/LaserScan",
        header=header_from(factory, header),
        angle_min=float(scan.angle_min),
        angle_max=float(scan.angle_max),
        angle_increment=float(scan.angle_increment),
        time_increment=0.0,
        scan_time=0.0,
        range_min=float(scan.range_min),
        range_max=float(scan.range_max),
        ranges=factory.float32_sequence(scan.ranges),
        intensities=factory.float32_sequence(np.zeros(0, np.float32)),
    )


def pointcloud2_from_cloud(
    factory: MessageFactory, header: Any, cloud: PointCloud, data_buffer: FieldBuffer | None = None
) -> Any:
    """The ``sensor_msgs/PointCloud2`` of a :class:`PointCloud` (``/depth/points``); its bytes are copied once
    (into ``data_buffer``, a publisher's reused field, when given)."""
    return pointcloud2_from_structured(
        factory,
        header,
        cloud.points,
        cloud.height,
        cloud.width,
        cloud.is_dense,
        padding_is_zero=True,
        data_buffer=data_buffer,
    )
