from __future__ import annotations

from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.bag.payload import HEAD_BYTES, PayloadHead, cloud_head_decodes

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
    assert cloud_head_decodes(store, _head(raw))
    assert not cloud_head_decodes(store, _head(raw[:3000]))  # cut: shorter than its data length
    assert not cloud_head_decodes(store, _head(raw, size=len(raw) - 1))  # a byte short
    assert not cloud_head_decodes(store, _head(raw, size=len(raw) + 8))  # longer than its data length
    assert not cloud_head_decodes(store, _head(raw, head_bytes=40))  # its fields reach past the head: undecided
