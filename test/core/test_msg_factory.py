from __future__ import annotations

import array

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mono_depth_ros.adapters.messages import FACTORY_TYPES
from mono_depth_ros.core.errors import ConfigError, EncodingError, ShapeError
from mono_depth_ros.core.msg_factory import (
    MESSAGE_TYPES,
    NS_PER_S,
    MessageFactory,
    header_from,
    make_header,
    ros_python_class_path,
    stamp_to_ns,
    time_from_ns,
    uint8_buffer,
)

from .ros_msg_support import (
    DISTROS,
    FRAME_ID,
    STAMP_NS,
    TYPESTORES,
    cdr_round_trip,
    rclpy_style_factory,
    rosbags_factory,
)

_INT32_NS_RANGE = st.integers(min_value=-(2**31) * NS_PER_S, max_value=(2**31 - 1) * NS_PER_S + NS_PER_S - 1)


@pytest.mark.parametrize("distro", DISTROS)
def test_every_message_type_exists_in_both_typestores(distro: str) -> None:
    for name in MESSAGE_TYPES:
        assert name in TYPESTORES[distro].types, name


def test_ros_python_class_path() -> None:
    assert ros_python_class_path("sensor_msgs/msg/Image") == ("sensor_msgs.msg", "Image")
    assert ros_python_class_path("tf2_msgs/msg/TFMessage") == ("tf2_msgs.msg", "TFMessage")
    with pytest.raises(ConfigError, match=r"'sensor_msgs/Image' is not of the form 'package/msg/Name'"):
        ros_python_class_path("sensor_msgs/Image")


@given(stamp_ns=_INT32_NS_RANGE)
def test_stamp_ns_round_trip_is_exact(stamp_ns: int) -> None:
    time_msg = time_from_ns(rosbags_factory("humble"), stamp_ns)
    assert 0 <= time_msg.nanosec < NS_PER_S
    assert type(time_msg.sec) is int and type(time_msg.nanosec) is int
    assert stamp_to_ns(time_msg) == stamp_ns


@pytest.mark.parametrize("distro", DISTROS)
def test_header_survives_cdr(distro: str) -> None:
    factory = rosbags_factory(distro)
    header = cdr_round_trip(make_header(factory, STAMP_NS, FRAME_ID), distro)
    assert stamp_to_ns(header.stamp) == STAMP_NS
    assert header.frame_id == FRAME_ID
    assert (header.stamp.sec, header.stamp.nanosec) == divmod(STAMP_NS, NS_PER_S)


def test_header_from_copies_across_flavours_without_sharing() -> None:
    source = make_header(rosbags_factory("jazzy"), STAMP_NS, FRAME_ID)
    copy = header_from(rclpy_style_factory(), source)
    assert type(copy).__name__ == "Header" and copy is not source and copy.stamp is not source.stamp
    assert (stamp_to_ns(copy.stamp), copy.frame_id) == (STAMP_NS, FRAME_ID)
    same_flavour = header_from(rosbags_factory("jazzy"), source)
    assert same_flavour == source and same_flavour is not source


def test_stamp_outside_int32_seconds_is_rejected() -> None:
    with pytest.raises(EncodingError, match="outside builtin_interfaces/Time's int32 seconds range"):
        time_from_ns(rosbags_factory("humble"), 2**31 * NS_PER_S)


def test_factory_errors_name_the_problem() -> None:
    with pytest.raises(ConfigError, match="sequence_style 'list' must be 'numpy'"):
        MessageFactory({}, sequence_style="list")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'Image' is not of the form"):
        MessageFactory({"Image": object})
    empty = MessageFactory({})
    with pytest.raises(ConfigError, match=r"no message class for 'sensor_msgs/msg/Image'.*sensor_msgs\.msg\.Image"):
        empty.new("sensor_msgs/msg/Image")
    with pytest.raises(ShapeError, match=r"CameraInfo\.k needs exactly 9 values, got 8"):
        MessageFactory.float64_array(np.zeros(8), 9, "CameraInfo.k")


def test_classes_mapping_is_frozen() -> None:
    classes = {"builtin_interfaces/msg/Time": TYPESTORES["humble"].types["builtin_interfaces/msg/Time"]}
    factory = MessageFactory(classes)
    classes.clear()
    assert "builtin_interfaces/msg/Time" in factory.classes


def test_sequences_per_style() -> None:
    values = np.array([[1, 2], [3, 258]], dtype="<u2")
    numpy_seq = rosbags_factory("humble").uint8_sequence(values)
    array_seq = rclpy_style_factory().uint8_sequence(values)
    assert isinstance(numpy_seq, np.ndarray) and numpy_seq.dtype == np.uint8
    assert isinstance(array_seq, array.array) and array_seq.typecode == "B"
    assert numpy_seq.tobytes() == array_seq.tobytes() == values.tobytes()
    assert not np.shares_memory(numpy_seq, values)
    d_numpy = rosbags_factory("humble").float64_sequence((0.1, -2.0))
    d_array = rclpy_style_factory().float64_sequence((0.1, -2.0))
    assert d_numpy.dtype == np.float64 and d_numpy.tolist() == [0.1, -2.0]
    assert isinstance(d_array, array.array) and d_array.typecode == "d" and d_array.tolist() == [0.1, -2.0]
    fixed = MessageFactory.float64_array(np.eye(3, dtype=np.float32), 9, "k")
    assert fixed.shape == (9,) and fixed.dtype == np.float64


@pytest.mark.parametrize(
    "data",
    [
        np.array([1, 2, 255], dtype=np.uint8),
        array.array("B", [1, 2, 255]),
        bytes([1, 2, 255]),
        memoryview(bytes([1, 2, 255])),
        [1, 2, 255],
    ],
    ids=["numpy", "array.array", "bytes", "memoryview", "list"],
)
def test_uint8_buffer_reads_every_flavour(data: object) -> None:
    view = uint8_buffer(data)
    assert view.dtype == np.uint8 and view.tolist() == [1, 2, 255]


def test_uint8_buffer_rejects_wide_numpy() -> None:
    with pytest.raises(EncodingError, match="holds dtype uint16"):
        uint8_buffer(np.zeros(3, dtype=np.uint16))


def test_a_field_buffer_is_refilled_in_place_for_rclpy_and_borrowed_for_rosbags() -> None:
    from mono_depth_ros.core.camera import PinholeIntrinsics
    from mono_depth_ros.core.cloud import CloudBuilder
    from mono_depth_ros.core.ros_msgs import pointcloud2_from_cloud

    intrinsics = PinholeIntrinsics(50.0, 50.0, 15.5, 11.5, width=32, height=24)
    builder = CloudBuilder()
    rclpy_factory = rclpy_style_factory()
    buffer = rclpy_factory.field_buffer()
    header = make_header(rclpy_factory, 1, "camera")
    datas = []
    for depth in (2.0, 3.0):
        cloud = builder.organized(np.full((24, 32), depth, np.float32), intrinsics, None)
        message = pointcloud2_from_cloud(rclpy_factory, header, cloud, buffer)
        fresh = pointcloud2_from_cloud(rclpy_factory, header, cloud)
        assert message.data == fresh.data  # the same bytes as an owned copy
        datas.append(message.data)
    assert datas[0] is datas[1]  # one array.array, refilled: no allocation per frame
    smaller = builder.organized(np.full((12, 16), 1.0, np.float32), intrinsics.resized(16, 12), None)
    resized = pointcloud2_from_cloud(rclpy_factory, header, smaller, buffer)
    assert resized.data is not datas[0] and len(resized.data) == 12 * 16 * 16

    numpy_factory = rosbags_factory("humble")
    cloud = builder.organized(np.full((24, 32), 2.0, np.float32), intrinsics, None)
    borrowed = pointcloud2_from_cloud(
        numpy_factory, make_header(numpy_factory, 1, "c"), cloud, numpy_factory.field_buffer()
    )
    assert np.shares_memory(borrowed.data, cloud.points)  # rosbags: no copy before the CDR serialiser's


def test_every_message_type_is_the_same_in_humble_and_jazzy() -> None:
    """What a bag written with Humble's definitions (the default ``--distro humble``) and the node build is what Jazzy
    defines: the same definition text and type hash (RIHS01, which Jazzy's rosbag2 and rclpy compare). Humble and Jazzy
    differ elsewhere (``sensor_msgs/Range`` gained ``variance``; ``NavSatStatus``, ``BatteryState`` constants); a type
    of this list that came to differ would need a definition per distro."""
    humble, jazzy = TYPESTORES["humble"], TYPESTORES["jazzy"]
    for name in sorted(set(MESSAGE_TYPES) | set(FACTORY_TYPES)):
        assert humble.generate_msgdef(name, ros_version=2) == jazzy.generate_msgdef(name, ros_version=2), name
        assert humble.hash_rihs01(name) == jazzy.hash_rihs01(name), name
    assert humble.hash_rihs01("sensor_msgs/msg/Range") != jazzy.hash_rihs01("sensor_msgs/msg/Range")  # it can tell
