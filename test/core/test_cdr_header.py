"""header_from_cdr: the Header of a serialised message without deserialising it, and None for anything else."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.core.cdr_header import header_from_cdr
from mono_depth_ros.core.msg_factory import MessageFactory
from mono_depth_ros.core.ros_msgs import image_from_array, make_header

STORE = get_typestore(Stores.ROS2_HUMBLE)


def test_reads_the_header_of_every_message_kind_the_index_skips() -> None:
    factory = MessageFactory.for_rosbags(STORE)
    stamp_ns = 1_700_000_123_456_789_012
    header = make_header(factory, stamp_ns, "camera_optical")
    image = image_from_array(factory, np.zeros((4, 6, 3), np.uint8), "rgb8", header)
    types = STORE.types
    cloud = types["sensor_msgs/msg/PointCloud2"](header, 1, 0, [], False, 16, 0, np.zeros(0, np.uint8), True)
    compressed = types["sensor_msgs/msg/CompressedImage"](header, "png", np.zeros(3, np.uint8))
    for message, msgtype in ((image, "sensor_msgs/msg/Image"), (cloud, "sensor_msgs/msg/PointCloud2"),
                             (compressed, "sensor_msgs/msg/CompressedImage")):  # fmt: skip
        raw = STORE.serialize_cdr(message, msgtype)
        assert header_from_cdr(raw) == (stamp_ns, "camera_optical")
        assert header_from_cdr(memoryview(raw)) == (stamp_ns, "camera_optical")
        big_endian = STORE.serialize_cdr(message, msgtype, little_endian=False)
        assert header_from_cdr(big_endian) == (stamp_ns, "camera_optical")


def test_bytes_that_cannot_be_a_header_give_none() -> None:
    raw = bytearray(STORE.serialize_cdr(STORE.types["std_msgs/msg/Header"](
        STORE.types["builtin_interfaces/msg/Time"](5, 7), "frame"), "std_msgs/msg/Header"))  # fmt: skip
    assert header_from_cdr(bytes(raw)) == (5_000_000_007, "frame")
    assert header_from_cdr(bytes(raw[:12])) is None  # short
    assert header_from_cdr(b"\x00\x07" + bytes(raw[2:])) is None  # not CDR
    bad_nanosec = bytearray(raw)
    bad_nanosec[8:12] = (2_000_000_000).to_bytes(4, "little")
    assert header_from_cdr(bytes(bad_nanosec)) is None
    no_nul = bytearray(raw)
    no_nul[16 + 5] = ord("x")
    assert header_from_cdr(bytes(no_nul)) is None
    huge = bytearray(raw)
    huge[12:16] = (10**6).to_bytes(4, "little")
    assert header_from_cdr(bytes(huge)) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_any_bytes_give_a_header_or_none_never_an_exception(raw: bytes) -> None:
    result = header_from_cdr(raw)
    assert result is None or (isinstance(result[0], int) and isinstance(result[1], str))


def test_a_clouds_fields_are_read_from_its_head_as_rosbags_deserialises_them() -> None:
    """``point_fields_from_cdr`` gives the fields rosbags decodes, in either byte order and for frame ids and names
    of every length mod 4 (the CDR padding); a head cut inside ``fields`` (or short of them) gives None."""
    from mono_depth_ros.core.cdr_header import point_fields_from_cdr
    from mono_depth_ros.core.msg_pointcloud2 import point_fields_from_msg
    from mono_depth_ros.core.ros_msgs import pointcloud2_from_structured

    factory = MessageFactory.for_rosbags(STORE)
    layouts = [
        [("x", "<f4"), ("y", "<f4"), ("z", "<f4")],
        [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("intensity", "<f4"), ("ring", "<u2"), ("time", "<f4")],
        [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("t", "<u4"), ("reflectivity", "<u2"), ("ab", "u1")],
        [("timestamp", "<f8"), ("x", "<f4"), ("y", "<f4"), ("z", "<f4")],
    ]
    for frame_id in ("t", "ab", "os1", "lidar", "velodyne_top"):
        for layout in layouts:
            points = np.zeros(7, dtype=layout)
            header = make_header(factory, 1_700_000_000_123_000_000, frame_id)
            cloud = pointcloud2_from_structured(factory, header, points, 1, 7, True)
            for little in (True, False):
                raw = bytes(STORE.serialize_cdr(cloud, "sensor_msgs/msg/PointCloud2", little_endian=little))
                decoded = STORE.deserialize_cdr(raw, "sensor_msgs/msg/PointCloud2")
                fields = point_fields_from_cdr(raw)
                assert fields == point_fields_from_msg(decoded), (frame_id, layout, little)
                assert point_fields_from_cdr(memoryview(raw)) == fields
                end_of_fields = len(raw) - 4 - 4 * 3 - points.nbytes - 1  # is_bigendian (padded), steps, data, is_dense
                assert point_fields_from_cdr(raw[: end_of_fields - 1]) is None  # the last count cut
                assert point_fields_from_cdr(raw[:end_of_fields]) == fields


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=96))
def test_any_bytes_give_point_fields_or_none_never_an_exception(raw: bytes) -> None:
    from mono_depth_ros.core.cdr_header import point_fields_from_cdr

    fields = point_fields_from_cdr(b"\x00\x01\x00\x00" + raw)
    assert fields is None or isinstance(fields, list)
