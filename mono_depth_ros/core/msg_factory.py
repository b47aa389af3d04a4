"""Message classes of one ROS flavour and how their fields are filled; stamps and headers (ROS-free).

Conversion functions (see :mod:`mono_depth_ros.core.ros_msgs`) are written against message *fields*. A
:class:`MessageFactory` supplies the classes to build and wraps arrays the way that flavour stores them:

=================  ===========================  ===============================
field kind         rosbags dataclasses           rclpy generated classes
=================  ===========================  ===============================
``uint8[]``        numpy uint8, 1-D              ``array.array('B')``
``float64[]``      numpy float64, 1-D            ``array.array('d')``
``float64[N]``     numpy float64, shape (N,)     numpy float64, shape (N,)
scalars            int / float / bool / str      same (never numpy scalars)
=================  ===========================  ===============================

Every field is always passed to the constructor (rosbags dataclasses have no defaults). Reading accepts
either flavour: :func:`uint8_buffer` wraps numpy arrays, ``array.array``, bytes and lists alike.

The rclpy node builds its factory from the generated classes, without this module importing them::

    from importlib import import_module
    classes = {}
    for name in MESSAGE_TYPES:
        module, class_name = ros_python_class_path(name)
        classes[name] = getattr(import_module(module), class_name)
    factory = MessageFactory(classes, sequence_style="array.array")
"""

from __future__ import annotations

import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ConfigError, EncodingError, ShapeError

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

SequenceStyle = Literal["numpy", "array.array"]

NS_PER_S = 1_000_000_000
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

MESSAGE_TYPES: tuple[str, ...] = (
    "builtin_interfaces/msg/Time",
    "std_msgs/msg/Header",
    "sensor_msgs/msg/Image",
    "sensor_msgs/msg/CompressedImage",
    "sensor_msgs/msg/CameraInfo",
    "sensor_msgs/msg/RegionOfInterest",
    "sensor_msgs/msg/PointCloud2",
    "sensor_msgs/msg/PointField",
    "sensor_msgs/msg/LaserScan",
    "geometry_msgs/msg/Vector3",
    "geometry_msgs/msg/Quaternion",
    "geometry_msgs/msg/Transform",
    "geometry_msgs/msg/TransformStamped",
    "tf2_msgs/msg/TFMessage",
)
"""Every message type the conversion functions build (ROS 2 names ``package/msg/Name``)."""


def ros_python_class_path(type_name: str) -> tuple[str, str]:
    """``"sensor_msgs/msg/Image"`` → ``("sensor_msgs.msg", "Image")``: where rclpy's generated class lives."""
    parts = type_name.split("/")
    if len(parts) != 3 or not all(parts):
        msg = f"message type {type_name!r} is not of the form 'package/msg/Name' (e.g. 'sensor_msgs/msg/Image')"
        raise ConfigError(msg)
    return f"{parts[0]}.{parts[1]}", parts[2]


@dataclass(frozen=True)
class MessageFactory:
    """The message classes of one flavour (rclpy or rosbags) and its array conventions.

    Attributes:
        classes: ROS 2 type name (``"sensor_msgs/msg/Image"``) → class called with every field as a keyword.
        sequence_style: ``"numpy"`` (rosbags) or ``"array.array"`` (rclpy) for variable-length numeric arrays.
    """

    classes: Mapping[str, Callable[..., Any]]
    sequence_style: SequenceStyle = "numpy"

    def __post_init__(self) -> None:
        if self.sequence_style not in get_args(SequenceStyle):
            msg = f"sequence_style {self.sequence_style!r} must be 'numpy' (rosbags) or 'array.array' (rclpy)"
            raise ConfigError(msg)
        for name in self.classes:
            ros_python_class_path(name)
        object.__setattr__(self, "classes", MappingProxyType(dict(self.classes)))

    @classmethod
    def for_rosbags(cls, typestore: Typestore) -> MessageFactory:
        """Factory over a rosbags typestore, e.g. ``get_typestore(Stores.ROS2_HUMBLE)`` or ``ROS2_JAZZY``."""
        return cls(dict(typestore.types), sequence_style="numpy")

    def new(self, type_name: str, **fields: Any) -> Any:
        """Construct a ``type_name`` message from keyword fields (pass every field: rosbags needs them all)."""
        message_class = self.classes.get(type_name)
        if message_class is None:
            msg = (
                f"no message class for {type_name!r} in this MessageFactory; add it to the classes mapping "
                f"(rclpy: {'.'.join(ros_python_class_path(type_name))})"
            )
            raise ConfigError(msg)
        return message_class(**fields)

    def byte(self, value: int) -> Any:
        """A ROS ``byte`` field value: one ``bytes`` character in rclpy, an int in rosbags."""
        return bytes([int(value)]) if self.sequence_style == "array.array" else int(value)

    def uint8_sequence(self, values: npt.NDArray[Any], copy: bool = True) -> Any:
        """A ``uint8[]`` field holding the raw bytes of ``values`` (C order; byte order as given).

        The field owns its bytes: a copy, except with ``copy=False`` for a numpy-style message (the caller hands
        over an array nobody else writes to). rclpy's ``array.array`` always takes one copy.
        """
        flat = np.ascontiguousarray(values).reshape(-1).view(np.uint8)
        if self.sequence_style == "numpy":
            return flat.copy() if copy else flat
        out = array.array("B")
        out.frombytes(flat.data)
        return out

    def field_buffer(self) -> FieldBuffer:
        """A :class:`FieldBuffer` for one publisher's ``uint8[]`` field in this factory's style."""
        return FieldBuffer(self.sequence_style)

    def float32_sequence(self, values: npt.ArrayLike) -> Any:
        """A variable-length ``float32[]`` field (e.g. ``LaserScan.ranges``) holding ``values`` (a copy)."""
        flat = np.array(values, dtype=np.float32).reshape(-1)
        if self.sequence_style == "numpy":
            return flat
        out = array.array("f")
        out.frombytes(flat.tobytes())
        return out

    def float64_sequence(self, values: npt.ArrayLike) -> Any:
        """A variable-length ``float64[]`` field (e.g. ``CameraInfo.d``) holding ``values`` (a copy)."""
        flat = np.array(values, dtype=np.float64).reshape(-1)
        if self.sequence_style == "numpy":
            return flat
        return array.array("d", flat.tolist())

    @staticmethod
    def float64_array(values: npt.ArrayLike, size: int, field: str) -> npt.NDArray[np.float64]:
        """A fixed ``float64[size]`` field (e.g. ``CameraInfo.k``): 1-D float64 numpy of exactly ``size`` values."""
        flat = np.array(values, dtype=np.float64).reshape(-1)
        if flat.size != size:
            msg = f"{field} needs exactly {size} values, got {flat.size}"
            raise ShapeError(msg)
        return flat


def uint8_buffer(data: Any) -> npt.NDArray[np.uint8]:
    """A received ``uint8[]`` field as a 1-D uint8 array (a read-only view where possible, never modify it).

    Accepts numpy arrays (rosbags), ``array.array('B')`` (rclpy), ``bytes``/``memoryview`` and lists of ints.
    """
    if isinstance(data, np.ndarray):
        if data.dtype.itemsize != 1:
            msg = f"a uint8[] field holds dtype {data.dtype}; expected uint8 bytes"
            raise EncodingError(msg)
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def stamp_to_ns(stamp: Any) -> int:
    """``builtin_interfaces/Time`` (``sec``, ``nanosec``) → int nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def time_from_ns(factory: MessageFactory, stamp_ns: int) -> Any:
    """Int nanoseconds → ``builtin_interfaces/Time`` (``nanosec`` in ``[0, 1e9)``, ``sec`` an int32)."""
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    if not _INT32_MIN <= sec <= _INT32_MAX:
        msg = f"stamp {stamp_ns} ns is outside builtin_interfaces/Time's int32 seconds range"
        raise EncodingError(msg)
    return factory.new("builtin_interfaces/msg/Time", sec=sec, nanosec=nanosec)


def make_header(factory: MessageFactory, stamp_ns: int, frame_id: str) -> Any:
    """A new ``std_msgs/Header`` with the given stamp (int ns) and ``frame_id``."""
    return factory.new("std_msgs/msg/Header", stamp=time_from_ns(factory, stamp_ns), frame_id=str(frame_id))


def header_from(factory: MessageFactory, header: Any) -> Any:
    """A fresh copy of ``header`` (any flavour) as ``factory``'s Header: same stamp and ``frame_id``.

    Outputs are stamped with the capture stamp of their input, never "now"; copying (instead of sharing the
    input's Header object) keeps later edits of one message from changing another.
    """
    return make_header(factory, stamp_to_ns(header.stamp), str(header.frame_id))


class FieldBuffer:
    """One publisher's ``uint8[]`` field (a cloud's ``data``), reused message after message.

    Only for messages handed over before the next one is built: the node publishes synchronously from its one worker
    (rclpy copies the bytes into its own message while publishing), the bag runner serialises each frame's messages
    before the next frame. rclpy style: one ``array.array`` refilled in place (a new one only when the size changes),
    so a 33 MB cloud at 1080p costs a copy, not an allocation that page-faults every frame. numpy style (rosbags):
    the bytes themselves, not copied (the serialiser copies them once into the CDR buffer).
    """

    def __init__(self, sequence_style: SequenceStyle) -> None:
        self.sequence_style = sequence_style
        self._array: array.array[int] | None = None

    def hold(self, values: npt.NDArray[Any]) -> Any:
        """The field value for the raw bytes of ``values`` (valid until the next call)."""
        flat = np.ascontiguousarray(values).reshape(-1).view(np.uint8)
        if self.sequence_style == "numpy":
            return flat
        if self._array is None or len(self._array) != flat.size:
            self._array = array.array("B")
            self._array.frombytes(flat.data)
        else:
            np.frombuffer(self._array, dtype=np.uint8)[:] = flat
        return self._array
