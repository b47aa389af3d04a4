"""InputBag: folders and bare files, topic listing, recording order with ordinals, and clear BagErrors."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from mono_depth_ros.bag.payload import HEAD_BYTES, PayloadHead
from mono_depth_ros.bag.reader import InputBag, typestore_for
from mono_depth_ros.core.cdr_header import header_from_cdr
from mono_depth_ros.core.errors import BagError, EncodingError

from .support import write_tiny_bag

HUMBLE = typestore_for("humble")


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_reads_folder_and_bare_file(tmp_path: Path, storage: str) -> None:
    write_tiny_bag(tmp_path / "bag", 2, storage=storage)
    (storage_file,) = [p for p in (tmp_path / "bag").iterdir() if p.suffix in (".db3", ".mcap")]
    for path in (tmp_path / "bag", storage_file):
        with InputBag(path, HUMBLE) as bag:
            assert bag.topics["/camera/image_raw"] == "sensor_msgs/msg/Image"
            assert bag.message_counts["/camera/image_raw"] == 2
            images = list(bag.messages({"/camera/image_raw"}))
            assert [m.ordinal for m in images] == [0, 1]
            assert images[0].log_ns < images[1].log_ns
            decoded = bag.deserialize(images[1])
            assert (decoded.width, decoded.height, decoded.header.frame_id) == (64, 48, "camera_optical")
            assert list(bag.messages({"/no/such/topic"})) == []


def test_undecodable_message_is_an_encoding_error(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "bag", 1)
    with InputBag(tmp_path / "bag", HUMBLE) as bag:
        message = next(iter(bag.messages({"/camera/image_raw"})))
        broken = type(message)(message.topic, message.msgtype, 0, 0, bytes(message.raw)[:40], message.connection)
        with pytest.raises(EncodingError, match=r"cannot deserialise sensor_msgs/msg/Image #0 on /camera/image_raw"):
            bag.deserialize(broken)
        unknown = type(message)(message.topic, "my_msgs/msg/Thing", 0, 0, b"", message.connection)
        with pytest.raises(EncodingError, match="not in the typestore"):
            bag.deserialize(unknown)


def test_one_typestore_per_distro_and_process() -> None:
    """rosbags compiles a type's (de)serialisers once per typestore: each run_bag compiled them again (~100 ms)."""
    assert typestore_for("humble") is typestore_for("humble") is HUMBLE
    assert typestore_for("jazzy") is typestore_for("jazzy") is not HUMBLE


def test_missing_bag_and_bad_distro(tmp_path: Path) -> None:
    with pytest.raises(BagError, match="does not exist"):
        InputBag(tmp_path / "nope", HUMBLE)
    with pytest.raises(BagError, match="--distro 'rolling'"):
        typestore_for("rolling")


def _corrupt_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    rng = random.Random(1)
    start, stop = len(data) // 3, 2 * len(data) // 3
    data[start:stop] = rng.randbytes(stop - start)
    path.write_bytes(bytes(data))


def test_a_damaged_metadata_yaml_raises_a_bag_error_with_path_and_remedy(tmp_path: Path) -> None:
    bag_dir = tmp_path / "bag"
    write_tiny_bag(bag_dir, 3)  # a truncated bag is salvaged instead: see test_integrity / test_*_storage
    (bag_dir / "metadata.yaml").write_text("rosbag2_bagfile_information: [")  # a missing one: see test_folder
    expected = rf"cannot read bag {bag_dir}.*(reindex|recover)"
    with pytest.raises(BagError, match=expected), InputBag(bag_dir, HUMBLE) as bag:
        for _ in bag.messages():
            pass


def test_a_db3_sqlite_cannot_read_is_read_page_by_page_and_reported(tmp_path: Path) -> None:
    bag_dir = tmp_path / "bag"
    write_tiny_bag(bag_dir, 3)
    (storage_file,) = bag_dir.glob("*.db3")
    _corrupt_middle(storage_file)
    with InputBag(bag_dir, HUMBLE) as bag:
        images = list(bag.messages({"/camera/image_raw"}))
        (report,) = bag.integrity
    assert len(images) < 3
    assert any("SQLite cannot read it" in problem for problem in report.problems)
    assert report.lines()


def test_passing_metadata_yaml_names_the_folder_instead(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "bag", 1)
    with pytest.raises(BagError, match=r"is a bag's metadata file; give its folder"):
        InputBag(tmp_path / "bag" / "metadata.yaml", typestore_for("humble"))


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_heads_decide_the_header_as_the_whole_message_and_deserialise_whole(tmp_path: Path, storage: str) -> None:
    write_tiny_bag(tmp_path / "bag", 2, storage=storage)
    image = "/camera/image_raw"
    with InputBag(tmp_path / "bag", HUMBLE) as bag:
        whole = list(bag.messages())
        heads = list(bag.messages(heads={image}))
        assert [(m.topic, m.ordinal, m.log_ns) for m in heads] == [(m.topic, m.ordinal, m.log_ns) for m in whole]
        for head, message in zip(heads, whole, strict=True):
            assert header_from_cdr(head.raw) == header_from_cdr(message.raw)
            assert bag.payload(head) == message.raw
        short = [len(m.raw) for m in heads if m.topic == image]
        assert short == ([HEAD_BYTES] * 2 if storage == "sqlite3" else [len(m.raw) for m in whole if m.topic == image])
        last_image = next(m for m in reversed(heads) if m.topic == image)
        decoded = bag.deserialize(last_image)
        reference = HUMBLE.deserialize_cdr(bytes(bag.payload(last_image)), last_image.msgtype)
        assert (decoded.width, decoded.height) == (64, 48) and np.array_equal(decoded.data, reference.data)
        image_message = next(m for m in whole if m.topic == image)
        pixels = bag.deserialize(image_message).data  # a view of the message's own buffer: no copy, writable
        assert np.shares_memory(pixels, np.frombuffer(image_message.raw, np.uint8)) and pixels.flags.writeable
        assert [m.raw for m in bag.messages()] == [m.raw for m in whole]  # the heads were for that pass only


def test_an_undecodable_message_read_by_its_head_names_its_whole_size(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "bag", 1)
    with InputBag(tmp_path / "bag", HUMBLE) as bag:
        (image,) = bag.messages({"/camera/image_raw"}, heads={"/camera/image_raw"})
        assert isinstance(image.raw, PayloadHead)  # the first pass holds the head only
        cut = bytes(bag.payload(image))[:-100]  # its pixels end early
        broken = type(image)(
            image.topic, image.msgtype, 0, 0, PayloadHead(bytes(image.raw), len(cut), lambda: cut), image.connection
        )
        with pytest.raises(EncodingError, match=rf"Image #0 on /camera/image_raw \({len(cut)} bytes\)"):
            bag.deserialize(broken)  # was the head's length, 4112 bytes


def _respell_types(source: Path, target: Path, storage: str) -> None:
    """The bag ``source`` rewritten with its type names spelled ``pkg/Type`` (no ``/msg/``): rosbag2's tools take
    that spelling too (Humble's typesupport lookup reads ``pkg/Type`` as ``pkg/msg/Type``)."""
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer

    with Reader(source) as reader, Writer(target, version=8, storage_plugin=StoragePlugin[storage.upper()]) as writer:
        made = {
            c.id: writer.add_connection(
                c.topic,
                c.msgtype.replace("/msg/", "/"),
                msgdef=c.msgdef.data,
                rihs01=c.digest,
                offered_qos_profiles=c.ext.offered_qos_profiles,
            )
            for c in reader.connections
        }
        for connection, log_ns, raw in reader.messages():
            writer.write(made[connection.id], log_ns, raw)


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_type_names_spelled_without_msg_are_read_as_their_types(tmp_path: Path, storage: str) -> None:
    """Was: "topic /camera/image_raw (image_topic) in ... is sensor_msgs/Image, expected sensor_msgs/msg/Image or
    sensor_msgs/msg/CompressedImage" (exit 2)."""
    from mono_depth_ros.bag.runner import BagRunOptions, run_bag

    write_tiny_bag(tmp_path / "in", 2, storage=storage)
    _respell_types(tmp_path / "in", tmp_path / "spelled", storage)
    (storage_file,) = [p for p in (tmp_path / "spelled").iterdir() if p.suffix in (".db3", ".mcap")]
    for path in (tmp_path / "spelled", storage_file):
        with InputBag(path, HUMBLE) as bag:
            assert bag.topics["/camera/image_raw"] == "sensor_msgs/msg/Image"
            assert bag.topics["/tf_static"] == "tf2_msgs/msg/TFMessage"
            (image,) = [m for m in bag.messages({"/camera/image_raw"}) if m.ordinal == 1]
            assert bag.deserialize(image).width == 64
            assert [note for note in bag.notes if "spelled" in note] == [
                "message types spelled pkg/Type (sensor_msgs/CameraInfo, sensor_msgs/Image, sensor_msgs/PointCloud2, "
                "tf2_msgs/TFMessage) are read as pkg/msg/Type, the same types (rosbag2 takes either spelling)"
            ]
    params = {"model.backend": "external", "model.output_kind": "metric", "scale.mode": "none"}
    summary = run_bag(tmp_path / "spelled", tmp_path / "out", params, BagRunOptions(progress=False, copy_inputs=True))
    assert (summary.frames_in, summary.frames_out) == (2, 2)
    with InputBag(tmp_path / "out", HUMBLE) as out:
        assert out.topics["/camera/image_raw"] == "sensor_msgs/msg/Image"  # copied under the type's own name
