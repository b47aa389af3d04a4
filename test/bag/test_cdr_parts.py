"""cdr_parts: an Image's or PointCloud2's CDR bytes in parts are serialize_cdr's bytes; the writer stores them so."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from mono_depth_ros.adapters.messages import IMAGE, POINTCLOUD2
from mono_depth_ros.bag.cdr_parts import CdrParts, cdr_parts
from mono_depth_ros.bag.reader import typestore_for
from mono_depth_ros.bag.writer import OutputBag
from mono_depth_ros.core.msg_image import image_from_array
from mono_depth_ros.core.msg_pointcloud2 import pointcloud2_from_structured
from mono_depth_ros.core.ros_msgs import MessageFactory, camera_info_from_intrinsics, make_header
from test.bag.support import INTRINSICS

CAMERA_INFO = "sensor_msgs/msg/CameraInfo"


def _messages(distro: str, width: int) -> list[tuple[str, object]]:
    """An Image and a PointCloud2 of ``width`` pixels / points, with odd sizes, names and values throughout."""
    typestore = typestore_for(distro)
    factory = MessageFactory.for_rosbags(typestore)
    header = make_header(factory, 1_700_000_000_123_456_789, "cam_optical" + "x" * (width % 3))
    rng = np.random.default_rng(width)
    pixels = rng.random((3, width), dtype=np.float32)
    points = np.zeros((1, width), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("rgb", "u1")])
    points["x"] = rng.random((1, width))
    image = image_from_array(factory, pixels, "32FC1", header)
    cloud = pointcloud2_from_structured(factory, header, points, 1, width, width % 2 == 0)
    return [(IMAGE, image), (POINTCLOUD2, cloud)]


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
@pytest.mark.parametrize("width", [0, 1, 5, 1001])
def test_parts_join_to_the_bytes_serialize_cdr_gives(distro: str, width: int) -> None:
    typestore = typestore_for(distro)
    for msgtype, message in _messages(distro, width):
        parts = cdr_parts(typestore, message, msgtype)
        assert isinstance(parts, CdrParts)
        expected = bytes(typestore.serialize_cdr(message, msgtype))
        assert parts.joined() == expected
        assert parts.size == len(expected)
        data = message.data  # type: ignore[attr-defined]
        assert data.size == 0 or np.shares_memory(np.frombuffer(parts.data, np.uint8), data)  # not a copy


def test_other_messages_and_other_data_are_serialised_whole() -> None:
    typestore = typestore_for("humble")
    factory = MessageFactory.for_rosbags(typestore)
    info = camera_info_from_intrinsics(factory, INTRINSICS, make_header(factory, 1, "cam"))
    (_, image), _ = _messages("humble", 6)
    strided = replace(image, data=np.zeros(24, np.uint8)[::2])  # not contiguous: no view of it is handed over
    for msgtype, message in ((CAMERA_INFO, info), (IMAGE, strided)):
        out = cdr_parts(typestore, message, msgtype)
        assert not isinstance(out, CdrParts)
        assert bytes(out) == bytes(typestore.serialize_cdr(message, msgtype))


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_the_bag_holds_the_same_bytes_written_in_parts_or_whole(tmp_path: Path, storage: str) -> None:
    typestore = typestore_for("humble")
    written: list[bytes] = []
    with OutputBag(tmp_path / "out", typestore, storage) as out:
        for stamp, width in enumerate((0, 7, 100_003)):
            for msgtype, message in _messages("humble", width):
                parts = cdr_parts(typestore, message, msgtype)
                assert isinstance(parts, CdrParts)
                out.write_raw("/parts", msgtype, parts, stamp)
                out.write_raw("/whole", msgtype, typestore.serialize_cdr(message, msgtype), stamp)
                written.append(parts.joined())
        out.commit()
    with Reader(tmp_path / "out") as reader:
        rows = list(reader.messages())
    by_topic = {topic: [bytes(data) for c, _, data in rows if c.topic == topic] for topic in ("/parts", "/whole")}
    assert by_topic["/parts"] == by_topic["/whole"] == written
