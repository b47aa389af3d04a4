"""MCAP integrity: stored chunk CRCs, damaged chunks skipped and counted, truncated files read up to the cut."""

from __future__ import annotations

import random
import struct
from binascii import crc32
from pathlib import Path

import pytest
from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer
from rosbags.rosbag2.storage_mcap import McapReader, decompress
from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.bag.mcap_storage import VerifyingMcapReader
from mono_depth_ros.bag.writer import OutputBag

from .support import VENDOR_CDR, VENDOR_TOPIC, record_on_jazzy, write_tiny_bag

STORE = get_typestore(Stores.ROS2_HUMBLE)
TOPICS = {"/big": "std_msgs/msg/String", "/small": "std_msgs/msg/UInt32"}
Message = tuple[str, int, bytes]  # topic, log time (ns), CDR bytes


def _messages(count: int) -> list[Message]:
    """Interleaved big (~150 kB, several per 1 MiB chunk) and small messages with distinct payloads."""
    rng = random.Random(7)
    out: list[Message] = []
    for i in range(count):
        text = rng.randbytes(75_000).hex()
        out.append(
            ("/big", 1_000 + 10 * i, STORE.serialize_cdr(STORE.types["std_msgs/msg/String"](text), TOPICS["/big"]))
        )
        small = STORE.types["std_msgs/msg/UInt32"](i)
        out.append(("/small", 1_005 + 10 * i, STORE.serialize_cdr(small, TOPICS["/small"])))
    return out


def _write(path: Path, messages: list[Message], *, checksummed: bool = True) -> Path:
    if checksummed:
        with OutputBag(path, STORE, "mcap") as bag:
            for topic, log_ns, data in messages:
                bag.write_raw(topic, TOPICS[topic], data, log_ns)
    else:  # rosbags' own writer: chunk CRCs 0 ("not computed")
        with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
            connections = {t: writer.add_connection(t, m, typestore=STORE) for t, m in TOPICS.items()}
            for topic, log_ns, data in messages:
                writer.write(connections[topic], log_ns, data)
    return next(path.glob("*.mcap"))


def _read(path: Path) -> tuple[list[Message], VerifyingMcapReader]:
    """Every message, and the reader (closed; its ``integrity`` and ``topics`` kept)."""
    reader = VerifyingMcapReader(path)
    reader.open()
    try:
        got = [(c.topic, t, bytes(d)) for c, t, d in reader.messages(reader.connections)]
        reader.topics = {c.topic for c in reader.connections}  # type: ignore[attr-defined]
    finally:
        reader.close()
    return got, reader


def _chunks(path: Path) -> list[tuple[int, int]]:
    """(offset, record length) of every chunk record, from rosbags' index."""
    reader = McapReader(path)
    reader.open()
    chunks = [(c.chunk_start_offset, c.chunk_length) for c in reader.chunks]
    reader.close()
    return chunks


def test_written_chunks_carry_their_crc_and_rosbags_verifies_them(tmp_path: Path) -> None:
    messages = _messages(30)
    path = _write(tmp_path / "bag", messages)
    chunks = _chunks(path)
    assert len(chunks) >= 4
    data = path.read_bytes()
    for offset, length in chunks:
        body = data[offset + 9 : offset + length]
        _, _, size, crc = struct.unpack_from("<QQQI", body)
        (clen,) = struct.unpack_from("<I", body, 28)
        compression = body[32 : 32 + clen].decode()
        (csize,) = struct.unpack_from("<Q", body, 32 + clen)
        raw = decompress(body[40 + clen : 40 + clen + csize], compression, size, 0)
        assert crc == crc32(raw) != 0
    with Reader(path) as plain:  # rosbags checks a stored CRC: it would raise on a wrong one
        assert sum(1 for _ in plain.messages()) == len(messages)
    got, reader = _read(path)
    assert got == messages
    assert not reader.integrity.damaged
    assert not reader.integrity.unverified


def _big_and_small(count: int) -> list[Message]:
    """Small messages with, every third one, a message bigger than a chunk (1.5-3 MiB: a cloud's size)."""
    rng = random.Random(11)
    out: list[Message] = []
    for i in range(count):
        small = STORE.types["std_msgs/msg/UInt32"](i)
        out.append(("/small", 2_000 + 10 * i, STORE.serialize_cdr(small, TOPICS["/small"])))
        if i % 3 == 1:
            text = rng.randbytes(rng.randrange(800_000, 1_600_000)).hex()  # 1.6-3.2 MB of text
            big = STORE.serialize_cdr(STORE.types["std_msgs/msg/String"](text), TOPICS["/big"])
            out.append(("/big", 2_003 + 10 * i, big))
    return out


def test_a_message_bigger_than_a_chunk_closes_it_from_the_callers_bytes(tmp_path: Path) -> None:
    """A message over 1 MiB ends its chunk, written from the caller's bytes (a memoryview here, as the runner passes
    clouds), the first one in a chunk that also holds the schemas and channels written before it; every chunk has
    messages, a message index per channel and consistent times (what real rosbag2's MCAP reader needs to read in
    time order); rosbags (which checks the stored CRCs) and the verifying reader read back the same messages."""
    messages = _big_and_small(10)
    path = tmp_path / "bag"
    with OutputBag(path, STORE, "mcap") as bag:
        for topic, log_ns, data in messages:
            bag.write_raw(topic, TOPICS[topic], memoryview(data), log_ns)
    file = next(path.glob("*.mcap"))
    reader = McapReader(file)
    reader.open()
    chunks = list(reader.chunks)
    reader.close()
    bigs = [(len(data), log_ns) for topic, log_ns, data in messages if topic == "/big"]
    assert len(chunks) == len(bigs) + 1  # each big message closed one chunk; the small ones after it, the last
    for chunk in chunks:
        assert chunk.message_index_offsets and sum(chunk.channel_count.values()) >= 1
        assert chunk.message_start_time <= chunk.message_end_time
    for chunk, (size, log_ns) in zip(chunks, bigs, strict=False):
        assert chunk.message_end_time == log_ns
        assert chunk.uncompressed_size > size + 31  # the record's 31-byte head and the message, after other records
    with Reader(path) as plain:  # checks every stored CRC
        assert [(c.topic, t, bytes(d)) for c, t, d in plain.messages()] == messages
    got, verifying = _read(file)
    assert got == messages and not verifying.integrity.damaged and not verifying.integrity.unverified


def test_a_compressed_bag_keeps_its_crcs_and_messages(tmp_path: Path) -> None:
    messages = _big_and_small(6)
    path = tmp_path / "bag"
    file = _write_zstd(path, messages)
    reader = McapReader(file)
    reader.open()
    assert {c.compression for c in reader.chunks} == {"zstd"}
    reader.close()
    with Reader(path) as plain:
        assert [(c.topic, t, bytes(d)) for c, t, d in plain.messages()] == messages
    got, verifying = _read(file)
    assert got == messages and not verifying.integrity.unverified


def test_a_file_without_crcs_is_read_and_reported_unverified(tmp_path: Path) -> None:
    messages = _messages(12)
    got, reader = _read(_write(tmp_path / "bag", messages, checksummed=False))
    assert got == messages
    assert reader.integrity.unverified


def test_random_bytes_in_one_chunk_skip_and_count_exactly_its_messages(tmp_path: Path) -> None:
    messages = _messages(30)
    path = _write(tmp_path / "bag", messages)
    offset, length = _chunks(path)[1]
    data = bytearray(path.read_bytes())
    at = offset + length // 2
    data[at : at + 4096] = random.Random(3).randbytes(4096)
    path.write_bytes(bytes(data))
    with pytest.raises(ReaderError, match="checksum"), Reader(path) as plain:  # rosbags refuses the whole bag
        list(plain.messages())

    got, reader = _read(path)
    lost = [m for m in messages if m not in got]
    assert got == [m for m in messages if m not in lost]
    assert 0 < len(lost) < len(messages) // 2
    expected_skips = {topic: sum(1 for m in lost if m[0] == topic) for topic in TOPICS}
    assert reader.integrity.skipped == {t: n for t, n in expected_skips.items() if n}
    (problem,) = reader.integrity.problems
    assert f"chunk at byte {offset}" in problem
    assert "Chunk checksum mismatch" in problem
    assert f"{len(lost)} messages skipped" in problem


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.9])
def test_truncated_file_recovers_every_complete_chunk(tmp_path: Path, fraction: float) -> None:
    messages = _messages(30)
    path = _write(tmp_path / "bag", messages)
    chunks = _chunks(path)
    cut = int(path.stat().st_size * fraction)
    path.write_bytes(path.read_bytes()[:cut])
    complete = sum(1 for offset, length in chunks if offset + length <= cut)
    assert complete >= 1

    got, reader = _read(path)
    assert got == messages[: len(got)]  # the recovered messages are the first ones, byte for byte
    assert reader.integrity.truncated
    assert reader.integrity.recovered == len(got)
    # every message of every complete chunk is back: the next one started in the chunk that was cut
    per_chunk = len(messages) / len(chunks)
    assert len(got) >= (complete - 1) * per_chunk
    assert "read record by record" in reader.integrity.problems[0]
    assert reader.topics == set(TOPICS)  # type: ignore[attr-defined]


def _write_zstd(path: Path, messages: list[Message]) -> Path:
    """The messages as ``ros2 bag record -s mcap`` writes them by default: chunks compressed with zstd."""
    from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

    from mono_depth_ros.bag.writer import _Writer

    writer = _Writer(path, version=8, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        connections = {t: writer.add_connection(t, m, typestore=STORE) for t, m in TOPICS.items()}
        for topic, log_ns, data in messages:
            writer.write(connections[topic], log_ns, data)
    return next(path.glob("*.mcap"))


def _as_lz4(data: bytes, end: int) -> tuple[bytes, list[int]]:
    """The records of an MCAP file up to byte ``end`` (the end of a record), every chunk's records compressed as one
    lz4 frame (``ros2 bag record -s mcap`` with ``compression: Lz4`` in its storage config; rosbags writes no lz4), and
    the chunks' new offsets."""
    import lz4.frame  # type: ignore[import-untyped]

    out, offsets, at = bytearray(data[:8]), [], 8
    while at < end:
        opcode, length = struct.unpack_from("<BQ", data, at)
        body = data[at + 9 : at + 9 + length]
        if opcode == 0x06:  # start, end, uncompressed size, crc; compression "" (4 bytes); compressed size; records
            assert struct.unpack_from("<I", body, 28) == (0,)
            packed = lz4.frame.compress(body[40:])
            body = body[:28] + struct.pack("<I", 3) + b"lz4" + struct.pack("<Q", len(packed)) + packed
            offsets.append(len(out))
        out += struct.pack("<BQ", opcode, len(body)) + body
        at += 9 + length
    return bytes(out), offsets


@pytest.mark.parametrize("compression", ["", "zstd", "lz4"])
def test_a_cut_inside_a_chunk_gives_back_the_whole_messages_before_it(tmp_path: Path, compression: str) -> None:
    """A copy that stopped inside a chunk: the message records whole before the cut are read (the chunk was dropped
    whole); of an uncompressed chunk exactly those, of a zstd / lz4 one those in the blocks that decompress."""
    messages = _messages(30)
    path = _write_zstd(tmp_path / "bag", messages) if compression == "zstd" else _write(tmp_path / "bag", messages)
    reader = McapReader(path)
    reader.open()
    *before, cut_chunk, _ = reader.chunks
    assert cut_chunk.compression == ("zstd" if compression == "zstd" else "")
    reader.close()
    data = path.read_bytes()
    start, length = cut_chunk.chunk_start_offset, cut_chunk.chunk_length
    if compression == "lz4":
        data, offsets = _as_lz4(data, start + length)
        start, length = offsets[-1], len(data) - offsets[-1]
    cut = start + length * 9 // 10
    path.write_bytes(data[:cut])
    complete = sum(sum(chunk.channel_count.values()) for chunk in before)

    got, verifying = _read(path)
    assert got == messages[: len(got)]
    assert verifying.integrity.recovered == len(got) > complete
    assert "whole message(s) read from the chunk cut off" in verifying.integrity.problems[0]
    if not compression:  # records start after the chunk's 49-byte head; those ending before the cut are whole
        at, whole = start + 49, 0
        while True:
            opcode, length = struct.unpack_from("<BQ", data, at)
            if at + 9 + length > cut:
                break
            whole += opcode == 0x05
            at += 9 + length
        assert len(got) == complete + whole and whole >= 1


@pytest.mark.parametrize("compression", ["", "lz4"])
def test_a_cut_inside_a_chunks_head_gives_back_the_chunks_before_it(tmp_path: Path, compression: str) -> None:
    """A copy that stopped inside a chunk's head (its times, sizes, compression name) or just after it: the chunks
    before are read, the cut one gives nothing and raises nothing."""
    messages = _messages(30)
    path = _write(tmp_path / "bag", messages)
    reader = McapReader(path)
    reader.open()
    *before, cut_chunk, _ = reader.chunks
    reader.close()
    data, start = path.read_bytes(), cut_chunk.chunk_start_offset
    if compression:
        data, offsets = _as_lz4(data, start + cut_chunk.chunk_length)
        start = offsets[-1]
    complete = sum(sum(chunk.channel_count.values()) for chunk in before)
    for head in (9, 20, 33, 37, 40, 45, 49, 52):  # opcode + length: 9; compression name at 37; sizes to 49 (+3)
        path.write_bytes(data[: start + head])
        got, verifying = _read(path)
        assert got == messages[:complete], head
        assert verifying.integrity.recovered == complete and verifying.integrity.truncated


def test_a_cut_inside_the_header_or_a_foreign_file_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "bag", _messages(2))
    path.write_bytes(path.read_bytes()[:12])
    with pytest.raises(ReaderError):
        reader = VerifyingMcapReader(path)
        reader.open()
    other = tmp_path / "x.mcap"
    other.write_bytes(b"not an mcap file at all" * 10)
    with pytest.raises(ReaderError, match="magic"):
        VerifyingMcapReader(other).open()


def test_a_truncated_file_whose_first_chunk_is_damaged_reports_rather_than_recovers(tmp_path: Path) -> None:
    """The channel definitions live in the first chunk (and the lost summary): messages of later chunks on those
    channels cannot be read, so they count as skipped, never as recovered; reading them does not raise."""
    messages = _messages(30)
    path = _write(tmp_path / "bag", messages)
    chunks = _chunks(path)
    data = bytearray(path.read_bytes())
    offset, length = chunks[0]
    data[offset + length // 2 : offset + length // 2 + 256] = bytes(256)
    last_offset, last_length = chunks[-1]
    path.write_bytes(bytes(data[: last_offset + last_length // 2]))

    got, reader = _read(path)
    assert got == [] and reader.integrity.recovered == 0
    assert sum(reader.integrity.skipped.values()) > 0
    assert any("definition is lost" in problem for problem in reader.integrity.problems)


def test_a_salvaged_file_without_good_chunks_reads_without_raising(tmp_path: Path) -> None:
    path = _write(tmp_path / "bag", _messages(2))  # one chunk
    ((offset, length),) = _chunks(path)
    data = bytearray(path.read_bytes())
    data[offset + length // 2 : offset + length // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data[: offset + length + 20]))  # the chunk complete but damaged, the rest cut
    reader = VerifyingMcapReader(path)
    reader.open()
    try:
        assert list(reader.messages(reader.connections)) == []
        assert reader.integrity.truncated and reader.integrity.recovered == 0
    finally:
        reader.close()


def _recorded_on_jazzy(tmp_path: Path, undefined_encoding: str) -> tuple[Path, list[Message]]:
    """A tiny bag as Jazzy's ``fastwrite`` preset records it (see support.record_on_jazzy), and its messages as
    the source bag holds them (log-time order), plus the vendor topic's one message."""
    write_tiny_bag(tmp_path / "tiny", 2, distro="jazzy")
    with Reader(tmp_path / "tiny") as source:
        expected = [(c.topic, t, bytes(d)) for c, t, d in source.messages()]
    (file,) = record_on_jazzy(tmp_path / "tiny", tmp_path / "jazzy", "mcap", undefined_encoding).glob("*.mcap")
    expected.insert(1, (VENDOR_TOPIC, expected[0][1], VENDOR_CDR))  # written at the first message's time
    return file, expected


def test_a_schema_of_unknown_encoding_is_read_without_a_definition(tmp_path: Path) -> None:
    """Jazzy writes a type whose definition holds a name it cannot parse with the schema encoding 'unknown'; rosbags
    raises KeyError for the whole file. Its channel is read without a definition, the others as recorded."""
    file, expected = _recorded_on_jazzy(tmp_path, "unknown")
    with pytest.raises(KeyError):  # what a Jazzy user got (as "the bag is truncated or corrupt")
        McapReader(file).open()
    reader = VerifyingMcapReader(file)
    reader.open()
    try:
        formats = {c.topic: c.msgdef.format for c in reader.connections}
    finally:
        reader.close()
    assert formats.pop(VENDOR_TOPIC) == MessageDefinitionFormat.NONE
    assert set(formats.values()) == {MessageDefinitionFormat.MSG} and len(formats) == 5
    got, reader = _read(file)
    assert sorted(got, key=lambda m: m[1]) == got and sorted(got) == sorted(expected)
    assert not reader.integrity.damaged


def test_an_unchunked_file_out_of_log_time_order_reads_in_log_time_order(tmp_path: Path) -> None:
    """``fastwrite`` MCAP files hold their messages unchunked in the order the recorder wrote them, which on Jazzy is
    not log-time order (the log time is the middleware's receive time); rosbags refuses to read them."""
    file, expected = _recorded_on_jazzy(tmp_path, "")
    plain = McapReader(file)
    plain.open()
    try:
        with pytest.raises(ReaderError, match="not in timestamp order"):
            list(plain.messages(plain.connections))
    finally:
        plain.close()
    got, reader = _read(file)
    assert [m[1] for m in got] == sorted(m[1] for m in expected)
    assert sorted(got) == sorted(expected) and not reader.integrity.damaged
    reader = VerifyingMcapReader(file)
    reader.open()
    try:  # a window and a topic: only those messages, still in log-time order
        images = [c for c in reader.connections if c.topic == "/camera/image_raw"]
        start, stop = expected[0][1] + 1, expected[-1][1]
        window = [(c.topic, t, bytes(d)) for c, t, d in reader.messages(images, start, stop)]
    finally:
        reader.close()
    assert window == [m for m in expected if m[0] == "/camera/image_raw" and start <= m[1] < stop]
    assert len(window) == 2


@pytest.mark.parametrize("compression", ["zstd", "lz4"])
def test_a_chunk_that_expands_past_its_declared_size_is_not_decompressed_whole(compression: str) -> None:
    """rosbags decompressed a whole chunk before comparing its size with the declared one: 100 kB of a hostile chunk
    (here 64 MiB of zeros declaring 1 kB) expanded fully first. Here no more than the declared size (+1) is made."""
    import tracemalloc
    from binascii import crc32

    from lz4.frame import compress as lz4_compress  # type: ignore[import-untyped]
    from rosbags.rosbag2.errors import ReaderError

    from mono_depth_ros.bag.compression import zstd
    from mono_depth_ros.bag.mcap_storage import decompress

    records = bytes(range(256)) * 40
    pack = {"zstd": zstd.compress, "lz4": lz4_compress}[compression]
    assert decompress(pack(records), compression, len(records), crc32(records)) == records  # as rosbags reads it
    bomb = pack(b"\0" * 2**26)
    tracemalloc.start()
    try:
        with pytest.raises(ReaderError, match=r"expected 1000 bytes, got .*more"):
            decompress(bomb, compression, 1000, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**22, peak  # rosbags: 64 MiB


def test_a_file_cut_after_its_data_end_says_its_data_is_whole(tmp_path: Path) -> None:
    """A cut in the summary (a copy stopped near its end): every message is back, and the problem line said
    "read record by record: " with nothing after the colon."""
    messages = _messages(4)
    path = _write(tmp_path / "bag", messages)
    data = path.read_bytes()
    at = 8
    while data[at] != 0x0F:  # the data end record
        at += 9 + struct.unpack_from("<Q", data, at + 1)[0]
    path.write_bytes(data[: at + 9 + 4 + 20])  # the data end record (crc: 4 bytes) and a bit of the summary
    got, reader = _read(path)
    assert got == messages
    assert reader.integrity.problems == [
        "index unreadable (File end magic is invalid); read record by record: the data is whole up to its data end "
        f"record at byte {at}, the summary and footer after it are cut off"
    ]
