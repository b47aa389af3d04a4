from __future__ import annotations

import random
from typing import Any

import numpy as np
from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.bag.payload import HEAD_BYTES, PayloadHead, head_decodes

CLOUD = "sensor_msgs/msg/PointCloud2"


def _head(raw: bytes, size: int | None = None, head_bytes: int = HEAD_BYTES) -> PayloadHead:
    def load() -> bytes:
        raise AssertionError("read whole")  # the check decides from the head alone

    return PayloadHead(raw[:head_bytes], len(raw) if size is None else size, load)


def test_a_cloud_is_decided_from_its_head_a_cut_or_undecidable_one_is_not() -> None:
    """KITTI 000000's real cloud (test_cdr_fuzz's cut-out): whole, its head decides it deserialises (True) without
    reading the rest; cut to 3000 bytes, or with a data length past its size, it does not (False: read it whole);
    a head too short to hold ``data``'s length cannot decide (False), though the cloud is whole."""
    from test.adapters import test_cdr_fuzz as fuzz

    frame = fuzz.real_frame("humble")
    store = get_typestore(Stores.ROS2_HUMBLE)
    raw = bytes(frame.cdr(frame.cloud))
    assert len(raw) > HEAD_BYTES
    store.deserialize_cdr(raw, CLOUD)  # whole: the node decodes it
    assert head_decodes(store, _head(raw))
    assert not head_decodes(store, _head(raw[:3000]))  # cut: shorter than its data length
    assert not head_decodes(store, _head(raw, size=len(raw) - 1))  # a byte short
    assert not head_decodes(store, _head(raw, size=len(raw) + 8))  # longer than its data length
    assert not head_decodes(store, _head(raw, head_bytes=40))  # its fields reach past the head: undecided


def test_an_image_is_decided_from_its_head_as_a_cloud_is() -> None:
    """KITTI 000000's external prediction (an Image, ``data`` its last field): whole, its head decides it
    deserialises; cut to half its bytes (the bag runner's check of a prediction no frame takes), a byte short, or 8
    bytes longer than its data (1 to 3 are CDR padding, which the whole payload deserialises with), it does not."""
    from test.adapters import test_cdr_fuzz as fuzz

    frame = fuzz.real_frame("humble")
    store = get_typestore(Stores.ROS2_HUMBLE)
    raw = bytes(frame.cdr(frame.prediction))
    image = "sensor_msgs/msg/Image"
    assert len(raw) > HEAD_BYTES
    store.deserialize_cdr(raw, image)
    assert head_decodes(store, _head(raw), image)
    assert not head_decodes(store, _head(raw[: len(raw) // 2]), image)
    assert not head_decodes(store, _head(raw, size=len(raw) - 1), image)
    assert not head_decodes(store, _head(raw, size=len(raw) + 8), image)  # longer than its data length


def _cloud(store: Any, height: int, width: int, point_step: int, names: str) -> Any:
    """A PointCloud2 of float32 fields ``names`` (4 bytes each from offset 0), ``point_step`` bytes a point."""
    types = store.types
    fields = [
        types["sensor_msgs/msg/PointField"](name=n, offset=4 * i, datatype=7, count=1) for i, n in enumerate(names)
    ]
    stamp = types["builtin_interfaces/msg/Time"](sec=1, nanosec=2)
    header = types["std_msgs/msg/Header"](stamp=stamp, frame_id="velodyne")
    data = np.random.default_rng(height * width).integers(0, 256, height * width * point_step, dtype=np.uint8)
    return types[CLOUD](header=header, height=height, width=width, fields=fields, is_bigendian=False,
                        point_step=point_step, row_step=width * point_step, data=data, is_dense=True)  # fmt: skip


def test_a_cloud_decided_from_its_head_deserialises_whole_in_either_byte_order_and_any_layout() -> None:
    """The check's claim (its head with zeros answers as the whole payload): for clouds in both CDR byte orders,
    unorganised and organised (64 rows), with padded points (``point_step`` past the fields), a single point, with
    0-3 bytes of trailing alignment, the head decides ``True`` without reading the rest; cut anywhere, lengthened,
    or with a byte of the header, ``fields``, the lengths or the points changed (a data length past the payload,
    ``width * height * point_step`` past the data: a decoder's error, not a deserialiser's), it answers ``True`` only
    where the whole payload deserialises (False: read whole), with heads of 40 to ``HEAD_BYTES`` bytes."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    rng = random.Random(84)
    decided = 0
    for little_endian in (True, False):
        for height, width, point_step, names in ((1, 5000, 16, "xyzi"), (64, 100, 32, "xyzi"), (16, 300, 22, "xyzir"),
                                                 (1, 1400, 48, "xyzirt")):  # fmt: skip
            cloud = _cloud(store, height, width, point_step, names)
            raw = bytes(store.serialize_cdr(cloud, CLOUD, little_endian=little_endian))
            for padding in range(4):
                assert head_decodes(store, _head(raw + bytes(padding))), (little_endian, height, padding)
            for _ in range(150):
                damaged = bytearray(raw)
                at = rng.randrange(len(damaged))
                if rng.random() < 0.5:
                    damaged[rng.randrange(min(len(damaged), 400))] = rng.randrange(256)  # header, fields, lengths
                damaged[at] = rng.randrange(256)
                length = rng.choice(("cut", "lengthened", "kept"))
                if length == "cut":
                    damaged = damaged[: rng.randrange(len(damaged) + 1)]
                elif length == "lengthened":
                    damaged += bytes(rng.randrange(1, 9))
                if len(damaged) <= HEAD_BYTES:
                    continue
                try:
                    store.deserialize_cdr(bytes(damaged), CLOUD)
                    whole = True
                except Exception:  # rosbags raises several kinds, as the bag reader sees
                    whole = False
                for head_bytes in (40, 120, 400, HEAD_BYTES):
                    answer = head_decodes(store, _head(bytes(damaged), head_bytes=head_bytes))
                    assert whole or not answer, (little_endian, height, at, len(damaged), head_bytes)
                    decided += answer
    assert decided > 0  # some damaged payloads that still deserialise (a changed point byte) are decided too
