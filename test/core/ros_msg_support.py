"""Shared pieces of the ROS message tests: rosbags typestores, real CDR round trips, fake rclpy classes.

The fake classes imitate what rclpy's generated classes enforce on Humble (ros2_api_notes §11): keyword-only
constructors that reject unknown keywords, ``uint8[]`` as ``array.array('B')``, ``float64[]`` as
``array.array('d')``, fixed ``float64[N]`` as 1-D float64 numpy of exact size, scalars as plain Python
``int``/``float``/``bool``/``str`` (never numpy scalars), sub-messages of the right class.
"""

from __future__ import annotations

import array
from collections.abc import Callable
from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from mono_depth_ros.core.msg_factory import MessageFactory, make_header

DISTROS = ("humble", "jazzy")
TYPESTORES: dict[str, Typestore] = {
    "humble": get_typestore(Stores.ROS2_HUMBLE),
    "jazzy": get_typestore(Stores.ROS2_JAZZY),
}
STAMP_NS = 1_700_000_123_456_789_012
FRAME_ID = "camera_optical_frame"


def rosbags_factory(distro: str) -> MessageFactory:
    return MessageFactory.for_rosbags(TYPESTORES[distro])


def input_header(factory: MessageFactory) -> Any:
    """The header of an imaginary input message (what outputs must copy)."""
    return make_header(factory, STAMP_NS, FRAME_ID)


def cdr_round_trip(msg: Any, distro: str) -> Any:
    """Serialize ``msg`` to CDR with the distro's typestore and deserialize it again."""
    typestore = TYPESTORES[distro]
    raw = typestore.serialize_cdr(msg, msg.__msgtype__)
    return typestore.deserialize_cdr(raw, msg.__msgtype__)


# ---------------------------------------------------------------------------------------------- fake rclpy


Checker = Callable[[Any], bool]


def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_float(v: Any) -> bool:
    return type(v) is float


def _is_bool(v: Any) -> bool:
    return type(v) is bool


def _is_str(v: Any) -> bool:
    return type(v) is str


def _is_u8_seq(v: Any) -> bool:
    return isinstance(v, array.array) and v.typecode == "B"


def _is_f64_seq(v: Any) -> bool:
    return isinstance(v, array.array) and v.typecode == "d"


def _is_f32_seq(v: Any) -> bool:
    return isinstance(v, array.array) and v.typecode == "f"


def _fixed(size: int) -> Checker:
    def check(v: Any) -> bool:
        return isinstance(v, np.ndarray) and v.dtype == np.float64 and v.ndim == 1 and v.size == size

    return check


def _msg(type_name: str) -> Checker:
    def check(v: Any) -> bool:
        return isinstance(v, FakeRclpyMessage) and type_name == v.TYPE_NAME

    return check


def _msg_list(type_name: str) -> Checker:
    def check(v: Any) -> bool:
        return isinstance(v, list) and all(_msg(type_name)(item) for item in v)

    return check


class FakeRclpyMessage:
    """Base of the fake generated classes: strict keyword constructor, every field required."""

    TYPE_NAME = ""
    SPEC: dict[str, Checker] = {}  # noqa: RUF012 (overridden per class, never mutated)

    def __init__(self, **fields: Any) -> None:
        unknown = set(fields) - set(self.SPEC)
        missing = set(self.SPEC) - set(fields)
        if unknown or missing:
            msg = f"{self.TYPE_NAME}: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}"
            raise TypeError(msg)
        for name, check in self.SPEC.items():
            value = fields[name]
            if not check(value):
                msg = f"{self.TYPE_NAME}.{name} rejects {type(value).__name__} {value!r:.80}"
                raise TypeError(msg)
            setattr(self, name, value)


_SPECS: dict[str, dict[str, Checker]] = {
    "builtin_interfaces/msg/Time": {"sec": _is_int, "nanosec": _is_int},
    "std_msgs/msg/Header": {"stamp": _msg("builtin_interfaces/msg/Time"), "frame_id": _is_str},
    "sensor_msgs/msg/Image": {
        "header": _msg("std_msgs/msg/Header"),
        "height": _is_int,
        "width": _is_int,
        "encoding": _is_str,
        "is_bigendian": _is_int,
        "step": _is_int,
        "data": _is_u8_seq,
    },
    "sensor_msgs/msg/CompressedImage": {"header": _msg("std_msgs/msg/Header"), "format": _is_str, "data": _is_u8_seq},
    "sensor_msgs/msg/RegionOfInterest": {
        "x_offset": _is_int,
        "y_offset": _is_int,
        "height": _is_int,
        "width": _is_int,
        "do_rectify": _is_bool,
    },
    "sensor_msgs/msg/CameraInfo": {
        "header": _msg("std_msgs/msg/Header"),
        "height": _is_int,
        "width": _is_int,
        "distortion_model": _is_str,
        "d": _is_f64_seq,
        "k": _fixed(9),
        "r": _fixed(9),
        "p": _fixed(12),
        "binning_x": _is_int,
        "binning_y": _is_int,
        "roi": _msg("sensor_msgs/msg/RegionOfInterest"),
    },
    "sensor_msgs/msg/PointField": {"name": _is_str, "offset": _is_int, "datatype": _is_int, "count": _is_int},
    "sensor_msgs/msg/PointCloud2": {
        "header": _msg("std_msgs/msg/Header"),
        "height": _is_int,
        "width": _is_int,
        "fields": _msg_list("sensor_msgs/msg/PointField"),
        "is_bigendian": _is_bool,
        "point_step": _is_int,
        "row_step": _is_int,
        "data": _is_u8_seq,
        "is_dense": _is_bool,
    },
    "sensor_msgs/msg/LaserScan": {
        "header": _msg("std_msgs/msg/Header"),
        "angle_min": _is_float,
        "angle_max": _is_float,
        "angle_increment": _is_float,
        "time_increment": _is_float,
        "scan_time": _is_float,
        "range_min": _is_float,
        "range_max": _is_float,
        "ranges": _is_f32_seq,
        "intensities": _is_f32_seq,
    },
    "geometry_msgs/msg/Vector3": {"x": _is_float, "y": _is_float, "z": _is_float},
    "geometry_msgs/msg/Quaternion": {"x": _is_float, "y": _is_float, "z": _is_float, "w": _is_float},
    "geometry_msgs/msg/Transform": {
        "translation": _msg("geometry_msgs/msg/Vector3"),
        "rotation": _msg("geometry_msgs/msg/Quaternion"),
    },
    "geometry_msgs/msg/TransformStamped": {
        "header": _msg("std_msgs/msg/Header"),
        "child_frame_id": _is_str,
        "transform": _msg("geometry_msgs/msg/Transform"),
    },
    "tf2_msgs/msg/TFMessage": {"transforms": _msg_list("geometry_msgs/msg/TransformStamped")},
}

FAKE_RCLPY_CLASSES: dict[str, type[FakeRclpyMessage]] = {
    name: type(name.rsplit("/", 1)[1], (FakeRclpyMessage,), {"TYPE_NAME": name, "SPEC": spec})
    for name, spec in _SPECS.items()
}


def rclpy_style_factory() -> MessageFactory:
    """The factory the rclpy node builds, over the fake generated classes."""
    return MessageFactory(FAKE_RCLPY_CLASSES, sequence_style="array.array")


def fake_to_rosbags(value: Any, distro: str) -> Any:
    """Copy a fake rclpy message into the distro's rosbags dataclasses (array.array → numpy), recursively."""
    if isinstance(value, FakeRclpyMessage):
        cls = TYPESTORES[distro].types[value.TYPE_NAME]
        return cls(**{name: fake_to_rosbags(getattr(value, name), distro) for name in value.SPEC})
    if isinstance(value, array.array):
        return np.array(value, dtype={"B": np.uint8, "d": np.float64, "f": np.float32}[value.typecode])
    if isinstance(value, list):
        return [fake_to_rosbags(item, distro) for item in value]
    return value


def cdr_bytes(msg: Any, distro: str) -> bytes:
    return bytes(TYPESTORES[distro].serialize_cdr(msg, msg.__msgtype__))
