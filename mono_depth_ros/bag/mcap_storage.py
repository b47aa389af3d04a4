"""MCAP storage that verifies chunk checksums and salvages truncated files (rosbags' reader and writer, extended).

rosbags refuses a whole bag when one chunk's CRC-32 does not match, and cannot open a file without its footer (a
recording cut short, a copy that stopped). :class:`VerifyingMcapReader` reads every chunk it can: a damaged chunk
(checksum mismatch, undecodable compression, records that do not parse or disagree with the chunk's message index)
is skipped and its messages counted per topic; a file without a usable index is scanned record by record up to its
last complete record. What was lost is kept in :attr:`VerifyingMcapReader.integrity`. Two things rosbags refuses in
files Jazzy's recorder writes are read too: an unchunked file (the ``fastwrite`` preset) whose messages are not in
log-time order, and a schema of encoding ``unknown`` (its channel then has no definition).

:class:`ChecksummedMcapWriter` stores each chunk's CRC-32 (rosbags writes 0, "not computed"; so does ``ros2 bag
record -s mcap`` on Humble, seen with its default and ``zstd_small`` presets), so the bags this package writes can
be verified downstream.
"""

from __future__ import annotations

import heapq
import os
import struct
from binascii import crc32
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Collection, Generator
from contextlib import suppress
from io import BytesIO
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, cast

from rosbags.interfaces import Connection, ConnectionExtRosbag2
from rosbags.rosbag2 import storage_mcap as rosbags_mcap
from rosbags.rosbag2.enums import CompressionMode
from rosbags.rosbag2.errors import ReaderError
from rosbags.rosbag2.storage_mcap import (
    MAXSIZE,
    Channel,
    ChunkInfo,
    McapReader,
    McapWriter,
    Msg,
    PendingChunk,
    Schema,
    Statistics,
    get_msgdef,
    get_qos,
)

from mono_depth_ros.bag.compression import MESSAGE_BYTES_MAX, FrameTooLarge, bounded_zstd
from mono_depth_ros.bag.integrity import StorageIntegrity

if TYPE_CHECKING:
    from mono_depth_ros.bag.writer import StoredMessages

MAGIC = b"\x89MCAP0\r\n"
_HEADER, _SCHEMA, _CHANNEL, _MESSAGE, _CHUNK, _MESSAGE_INDEX, _DATA_END = 0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0F
_CRC_OFFSET = 1 + 8 + 24  # opcode, record length, message start / end time, uncompressed size
_RECORD = struct.Struct("<BQ")
_CHUNK_HEAD = struct.Struct("<QQQI")
_MESSAGE_HEAD = struct.Struct("<BQHIQQ")  # opcode, record length, channel id, sequence, log time, publish time
_MESSAGE_TAIL = struct.Struct("<HIQ")  # a message record's channel id, sequence, log time
CHUNK_BYTES = 2**20  # a chunk is closed once its records pass this size (rosbags' choice)
# what a damaged chunk raises while it is decompressed and parsed
_ZSTD_ERROR: type[Exception] = rosbags_mcap.zstd.ZstdError  # type: ignore[attr-defined]  # the zstd rosbags uses
_CHUNK_ERRORS = (ReaderError, struct.error, ValueError, RuntimeError, EOFError, IndexError, TypeError, _ZSTD_ERROR)


CHUNK_BYTES_MAX = 2 * MESSAGE_BYTES_MAX
"""Bytes one decompressed chunk may declare: a chunk holds whole messages (:data:`MESSAGE_BYTES_MAX` each), and
recorders close one after a few MiB (rosbags 1 MiB, this writer one frame)."""


def _lz4(data: bytes, max_length: int) -> bytes:
    """An lz4 frame's first ``max_length`` decompressed bytes (all it holds when fewer; a frame cut short gives its
    whole blocks). Raises RuntimeError for bytes that are no lz4 frame."""
    from lz4.frame import LZ4FrameDecompressor  # type: ignore[import-untyped]  # rosbags' lz4

    return bytes(LZ4FrameDecompressor().decompress(bytes(data), max_length=max_length))


def decompress(data: bytes, compression: str, size: int, crc: int) -> bytes:
    """A chunk's records, as rosbags' ``decompress`` gives them, but never more than the ``size`` the chunk declares
    (at most :data:`CHUNK_BYTES_MAX`) held while decompressing: rosbags decompressed the whole chunk first and
    compared sizes after, so a hostile chunk of a few kilobytes could expand to gigabytes.

    Raises:
        ReaderError: an unknown compression, a declared size over the limit, or records of another size or CRC.
        _ZSTD_ERROR / RuntimeError: a damaged zstd / lz4 stream (a damaged chunk, as for rosbags).
    """
    if size > CHUNK_BYTES_MAX:
        msg = f"Chunk declares {size} bytes, more than any chunk of messages holds ({CHUNK_BYTES_MAX} bytes)."
        raise ReaderError(msg)
    if compression == "":
        raw = bytes(data)
    elif compression == "zstd":
        try:
            raw = bounded_zstd(bytes(data), size)
        except FrameTooLarge:
            msg = f"Chunk size mismatch: expected {size} bytes, got more (not decompressed further)."
            raise ReaderError(msg) from None
    elif compression == "lz4":
        raw = _lz4(data, size + 1)
    else:
        msg = f"Unsupported chunk compression {compression!r}."
        raise ReaderError(msg)
    if len(raw) != size:
        more = " or more (not decompressed further)" if len(raw) > size else ""
        msg = f"Chunk size mismatch: expected {size} bytes, got {len(raw)}{more}."
        raise ReaderError(msg)
    if crc and crc32(raw) != crc:
        raise ReaderError("Chunk checksum mismatch.")
    return raw


def decompressed_prefix(data: bytes, compression: str, size: int) -> bytes:
    """What the first bytes of a chunk's compressed records give (a chunk cut off by the end of the file): at most
    ``size`` bytes (the size the chunk declares, at most :data:`CHUNK_BYTES_MAX`), ending anywhere in a record.

    Raises:
        ReaderError: an unknown compression or a declared size over the limit. _ZSTD_ERROR / RuntimeError: the bytes
            there are no zstd / lz4 stream.
    """
    if size > CHUNK_BYTES_MAX:
        msg = f"Chunk declares {size} bytes, more than any chunk of messages holds ({CHUNK_BYTES_MAX} bytes)."
        raise ReaderError(msg)
    if compression == "":
        return bytes(data[:size])
    if compression == "zstd":
        decompressor = rosbags_mcap.zstd.ZstdDecompressor()  # type: ignore[attr-defined]  # the zstd rosbags uses
        return bytes(decompressor.decompress(bytes(data), max_length=size))
    if compression == "lz4":
        return _lz4(data, size)
    msg = f"Unsupported chunk compression {compression!r}."
    raise ReaderError(msg)


class _McapMark(NamedTuple):
    """What :class:`ChecksummedMcapWriter` had written at its last commit (file position in bytes, list lengths)."""

    position: int
    chunks: int
    schemas: int
    channels: int
    channel_stats: dict[int, int]
    message_start_time: int
    message_end_time: int


class ChecksummedMcapWriter(McapWriter):
    """rosbags' MCAP writer with each chunk's CRC-32 of its uncompressed records stored in the chunk record, and one
    copy of a message's bytes on their way to the file.

    rosbags builds each message record in a buffer of its own, copies it into the chunk, copies the chunk out for the
    compressor and once more into the chunk record: five copies of a camera-size cloud (33 MB at 1080p) per frame,
    each into fresh memory. Here a message record goes straight into the chunk buffer, and an uncompressed chunk goes
    to the file from that buffer; a message over the chunk size (1 MiB, at which rosbags closes a chunk) closes the
    pending chunk with itself as its last record, written to the file from the caller's bytes, with no copy at
    all. The file has the same records and chunks as rosbags writes, and every chunk its CRC.
    """

    def __init__(self, path: Path, compression: CompressionMode) -> None:
        """rosbags' ``__init__``, the file renamed as rosbag2 names it (``<folder>_0.mcap``: see
        :func:`mono_depth_ros.bag.writer.storage_file_name`) before anything but its header is written."""
        super().__init__(path, compression)
        named = path / f"{path.name}_0.mcap"
        self.path.rename(named)  # the open file follows its name
        self.path = named
        self._mark = self._marked()

    def _marked(self) -> _McapMark:
        return _McapMark(
            self.bio.tell(), len(self.chunks), len(self.schemas), len(self.channels), dict(self.channel_stats),
            self.message_start_time, self.message_end_time,
        )  # fmt: skip

    def commit(self) -> bool:
        """Write the pending messages to the file as a chunk (one per commit: per frame for the bag runner); True: it
        reached the file (the sqlite3 writer's answer may be no)."""
        if self.chunk.msgs:
            self.close_chunk()
        self.bio.flush()
        self._mark = self._marked()
        return True

    def rollback(self) -> bool:
        """Cut the file back to the end of the last :meth:`commit` and forget what came after it (a write that failed,
        a full disk, left a part of a chunk at the end of the file; the file then closes as if the run stopped at
        that commit); True: back to the last commit, which reached the file."""
        mark = self._mark
        with suppress(OSError):  # what the failed write left in the buffer fails again: it is cut off below
            self.bio.close()
        os.truncate(self.path, mark.position)
        self.bio = self.path.open("ab")
        del self.chunks[mark.chunks :]
        del self.schemas[mark.schemas :]
        del self.channels[mark.channels :]
        self.channel_stats = dict(mark.channel_stats)
        self.message_start_time, self.message_end_time = mark.message_start_time, mark.message_end_time
        self.chunk = PendingChunk(2**63 - 1, 0, BytesIO(), defaultdict(list))
        return True

    def contents(self) -> StoredMessages:
        """What the file holds after the last :meth:`commit` or :meth:`rollback` (and the pending chunk)."""
        from mono_depth_ros.bag.writer import StoredMessages  # here: the writer imports this module

        return StoredMessages(
            frozenset(channel.id for channel in self.channels), dict(self.channel_stats), self.message_start_time,
            self.message_end_time,
        )  # fmt: skip

    def write(self, connection: Connection, timestamp: int, data: bytes | memoryview) -> None:
        """Write one message (``data``: its serialised bytes) stamped ``timestamp`` (ns)."""
        self.message_start_time = min(timestamp, self.message_start_time)
        self.message_end_time = max(timestamp, self.message_end_time)
        self.channel_stats[connection.id] += 1
        payload = memoryview(data).cast("B")
        head = _MESSAGE_HEAD.pack(
            _MESSAGE, _MESSAGE_HEAD.size - _RECORD.size + payload.nbytes, connection.id, 0, timestamp, timestamp
        )
        chunk = self.chunk
        chunk.message_start_time = min(timestamp, chunk.message_start_time)
        chunk.message_end_time = max(timestamp, chunk.message_end_time)
        chunk.msgs[connection.id].append((timestamp, chunk.bio.tell()))
        if payload.nbytes > CHUNK_BYTES and not self.compression:  # it closes the chunk: written from ``data``
            records = chunk.bio.getbuffer()  # the chunk's earlier records (schemas, channels, messages)
            try:
                self._write_chunk((records, head, payload))
            finally:
                records.release()
            return
        chunk.bio.write(head)
        chunk.bio.write(payload)
        if chunk.bio.tell() > CHUNK_BYTES:
            self.close_chunk()

    def close_chunk(self) -> None:
        """Close the pending chunk: its records, compressed when the bag asks for it, with their CRC-32."""
        records = self.chunk.bio.getbuffer()
        try:
            self._write_chunk((records,))
        finally:
            records.release()  # the buffer is replaced below only once nothing refers to it

    def _write_chunk(self, parts: tuple[bytes | memoryview, ...]) -> None:
        """The chunk record of the pending chunk's messages, whose records are ``parts`` in order, then its message
        indexes and its chunk index entry (rosbags' layout); a new pending chunk."""
        size = sum(memoryview(part).nbytes for part in parts)
        crc = 0
        for part in parts:
            crc = crc32(part, crc)
        body = parts if not self.compression else (self.compressor(b"".join(parts)),)
        stored = sum(memoryview(part).nbytes for part in body)
        chunk = self.chunk
        compression = self.compression.encode()
        head = _CHUNK_HEAD.pack(chunk.message_start_time, chunk.message_end_time, size, crc)
        head += struct.pack("<I", len(compression)) + compression + struct.pack("<Q", stored)
        chunk_start = self.bio.tell()
        self.bio.write(_RECORD.pack(_CHUNK, len(head) + stored))
        self.bio.write(head)
        for part in body:
            self.bio.write(part)
        chunk_end = self.bio.tell()
        offsets: list[tuple[int, int]] = []
        for cid, msgs in chunk.msgs.items():
            offsets.append((cid, self.bio.tell()))
            index = struct.pack("<HI", cid, len(msgs) * 16) + b"".join(struct.pack("<QQ", *m) for m in msgs)
            self.bio.write(_RECORD.pack(_MESSAGE_INDEX, len(index)) + index)
        entry = BytesIO()
        entry.write(struct.pack("<QQQQI", chunk.message_start_time, chunk.message_end_time, chunk_start,
                                chunk_end - chunk_start, len(offsets) * 10))  # fmt: skip
        for cid, offset in offsets:
            entry.write(struct.pack("<HQ", cid, offset))
        entry.write(struct.pack("<QI", self.bio.tell() - chunk_end, len(compression)) + compression)
        entry.write(struct.pack("<QQ", stored, size))
        self.chunks.append(entry)
        self.chunk = PendingChunk(2**63 - 1, 0, BytesIO(), defaultdict(list))


def _string(data: bytes, at: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", data, at)
    end = at + 4 + size
    if end > len(data):
        msg = f"string of {size} bytes runs past its record"
        raise ReaderError(msg)
    return data[at + 4 : end].decode(), end


def _schema(record: bytes) -> Schema:
    (key,) = struct.unpack_from("<H", record, 0)
    name, at = _string(record, 2)
    encoding, at = _string(record, at)
    (size,) = struct.unpack_from("<I", record, at)
    return Schema(key, name, encoding, record[at + 4 : at + 4 + size].decode())


def _channel(record: bytes, schemas: dict[int, Schema]) -> tuple[Channel, int]:
    key, schema_id = struct.unpack_from("<HH", record, 0)
    topic, at = _string(record, 4)
    encoding, at = _string(record, at)
    (size,) = struct.unpack_from("<I", record, at)
    name = schemas.get(schema_id, Schema(0, "__schemaless__", "cdr", "")).name
    return Channel(key, name, topic, encoding, record[at + 4 : at + 4 + size]), schema_id


class _Records:
    """The records of one byte range (a chunk's uncompressed data): opcode, body."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self) -> Generator[tuple[int, memoryview], None, None]:
        view, at = memoryview(self.data), 0
        while at < len(self.data):
            opcode, size = _RECORD.unpack_from(self.data, at)
            body_end = at + 9 + size
            if body_end > len(self.data):
                msg = f"record 0x{opcode:02x} of {size} bytes at {at} runs past the chunk's {len(self.data)} bytes"
                raise ReaderError(msg)
            yield opcode, view[at + 9 : body_end]
            at = body_end


_DEFINITION_ENCODINGS = frozenset({"ros2msg", "ros2idl", "omgidl", ""})  # the schema encodings rosbags reads


class _Schemas(dict[int, Schema]):
    """Schemas by id whose ``get`` gives a schema of an encoding rosbags does not read as one without a definition.

    rosbag2 (Jazzy and later) writes a type whose definition it cannot parse with the schema encoding ``unknown``;
    rosbags' reader looks every channel's schema up with ``get`` and raises KeyError for the whole file on that
    encoding. A channel of such a type is read without a definition instead (as one with an empty schema).
    """

    def get(self, key: int, default: Schema | None = None) -> Schema | None:  # type: ignore[override]
        schema = super().get(key, default)
        if schema is None or schema.encoding in _DEFINITION_ENCODINGS or key not in self:
            return schema
        return schema._replace(encoding="", data="")


class VerifyingMcapReader(McapReader):
    """rosbags' MCAP reader that skips and counts damaged chunks and reads truncated files up to the cut.

    Attributes:
        integrity: what was skipped or salvaged (set by :meth:`open`, filled while messages are read).
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.schemas = _Schemas()
        self.integrity = StorageIntegrity(Path(path))
        self._damaged: set[int] = set()
        self._span = (MAXSIZE, 0)  # first and last log time seen by a salvage scan (ns)
        self._top: list[tuple[int, int, int]] | Literal[False] | None = None  # see _top_level_index; False: chunked
        self._cut: list[tuple[int, int, bytes]] = []  # (log time, channel, payload) of the chunk the end cut off
        self._cut_offset = 0  # where that chunk starts (bytes)

    def open(self) -> None:
        """Open the file; one without a readable footer or index is scanned record by record instead.

        Raises:
            ReaderError: not an MCAP file of the ros2 profile, or nothing in it can be read.
        """
        try:
            super().open()
        except ReaderError as err:
            self.bio = self.path.open("rb")  # held until close(), as rosbags does
            try:
                self._salvage(str(err))
            except BaseException:
                self.bio.close()
                self.bio = None
                raise
            return
        self.integrity.unverified = any(self._stored_crc(chunk) == 0 for chunk in self.chunks)

    def _stored_crc(self, chunk: ChunkInfo) -> int:
        assert self.bio
        self.bio.seek(chunk.chunk_start_offset + _CRC_OFFSET)
        return int(struct.unpack("<I", self.bio.read(4))[0])

    # -- salvage: a linear scan of the top-level records ----------------------------------------------------------
    def _salvage(self, reason: str) -> None:
        """Rebuild schemas, channels, chunk list and statistics from every complete record before the cut."""
        bio = self.bio
        assert bio
        size = bio.seek(0, 2)
        bio.seek(0)
        if bio.read(8) != MAGIC:
            msg = "File magic is invalid."
            raise ReaderError(msg)
        head = bio.read(9)
        opcode, length = _RECORD.unpack(head) if len(head) == 9 else (0, 0)
        if opcode != _HEADER or 17 + length > size:
            msg = f"{self.path} ends inside its MCAP header record ({size} bytes): nothing in it can be read"
            raise ReaderError(msg)
        profile, _ = _string(bio.read(length), 0)
        if profile != "ros2":
            msg = "Profile is not ros2."
            raise ReaderError(msg)
        at = self.data_start = 17 + length
        last_chunk: ChunkInfo | None = None
        counts: dict[int, int] = defaultdict(int)
        cut = ""
        while at < size:
            head = bio.read(9)
            if len(head) < 9:
                cut = f"a record header at byte {at} is cut off"
                break
            opcode, length = _RECORD.unpack(head)
            if at + 9 + length > size:
                cut = f"record 0x{opcode:02x} at byte {at} needs {length} bytes, the file ends after {size - at - 9}"
                if opcode == _CHUNK:
                    cut += self._salvage_cut_chunk(at, bio.read(size - at - 9), counts)
                break
            if opcode in {_DATA_END, 0x02}:  # every message came before: only the summary (and footer) are lost
                what = "data end" if opcode == _DATA_END else "footer"
                after = "the summary and footer after it are" if opcode == _DATA_END else "what follows it is"
                cut = f"the data is whole up to its {what} record at byte {at}, {after} cut off"
                break
            body = bio.read(length)
            if opcode == _CHUNK:
                last_chunk = self._salvage_chunk(at, 9 + length, body, counts)
            elif opcode == _MESSAGE_INDEX and last_chunk is not None and last_chunk.chunk_start_offset in self._damaged:
                (channel_id,) = struct.unpack_from("<H", body, 0)
                (records,) = struct.unpack_from("<I", body, 2)
                self.integrity.skip(self._topic_of(channel_id), records // 16)
            elif opcode == _MESSAGE:
                channel_id, _, log_time = struct.unpack_from("<HIQ", body, 0)
                counts[channel_id] += 1
                self._stretch(log_time)
            else:
                self._define(opcode, body)
            at += 9 + length
        self.data_end = at
        if not cut and at >= size:
            cut = "the file has no footer"
        self.integrity.truncated = True
        self.integrity.problems.append(f"index unreadable ({reason.rstrip('.')}); read record by record: {cut}")
        self._finish(counts)

    def _stretch(self, log_time: int) -> None:
        self._span = (min(self._span[0], log_time), max(self._span[1], log_time))

    def _define(self, opcode: int, body: bytes | memoryview) -> None:
        """Record a schema or channel (top level or inside a chunk)."""
        if opcode == _SCHEMA:
            schema = _schema(bytes(body))
            self.schemas[schema.id] = schema
        elif opcode == _CHANNEL:
            channel, schema_id = _channel(bytes(body), self.schemas)
            self.channels[channel.id] = channel
            if all(c.id != channel.id for c in self.connections):
                ext = ConnectionExtRosbag2(channel.message_encoding, get_qos(channel.metadata))
                msgdef = get_msgdef(self.schemas.get(schema_id))
                self.connections.append(Connection(channel.id, channel.topic, channel.schema, msgdef, "", 0, ext, self))

    def _salvage_chunk(self, offset: int, length: int, body: bytes, counts: dict[int, int]) -> ChunkInfo:
        start_time, end_time, uncompressed_size, crc = _CHUNK_HEAD.unpack_from(body, 0)
        chunk = ChunkInfo(start_time, end_time, offset, length, {}, 0, "", 0, uncompressed_size, {})
        try:
            compression, at = _string(body, 28)
            (compressed_size,) = struct.unpack_from("<Q", body, at)
            data = decompress(body[at + 8 : at + 8 + compressed_size], compression, uncompressed_size, crc)
            per_channel: dict[int, int] = defaultdict(int)
            for opcode, record in _Records(data):
                if opcode == _MESSAGE:
                    per_channel[struct.unpack_from("<H", record, 0)[0]] += 1
                else:
                    self._define(opcode, record)
        except _CHUNK_ERRORS as err:
            self._damaged.add(offset)
            self.integrity.problems.append(self._damage_line(chunk, err))
            return chunk
        if crc == 0:
            self.integrity.unverified = True
        chunk = chunk._replace(
            compression=compression, compressed_size=compressed_size, channel_count=dict(per_channel)
        )
        self.chunks.append(chunk)
        for channel_id, count in per_channel.items():
            counts[channel_id] += count
        self._stretch(start_time)
        self._stretch(end_time)
        return chunk

    def _salvage_cut_chunk(self, offset: int, body: bytes, counts: dict[int, int]) -> str:
        """The whole message records at the start of a chunk the end of the file cut off (a copy that stopped in
        it): kept for :meth:`messages`; returns the words for the summary ("" when none can be read)."""
        try:
            _, _, uncompressed_size, _ = _CHUNK_HEAD.unpack_from(body, 0)
            compression, at = _string(body, 28)
            (compressed_size,) = struct.unpack_from("<Q", body, at)
            data = decompressed_prefix(body[at + 8 : at + 8 + compressed_size], compression, uncompressed_size)
        except _CHUNK_ERRORS:
            return ""
        found: list[tuple[int, int, bytes]] = []
        view, at = memoryview(data), 0
        try:
            while at + 9 <= len(data):
                opcode, length = _RECORD.unpack_from(data, at)
                if at + 9 + length > len(data):
                    break  # the record the cut ran through
                record = view[at + 9 : at + 9 + length]
                if opcode == _MESSAGE:
                    channel_id, _, log_time = _MESSAGE_TAIL.unpack_from(record, 0)
                    found.append((log_time, channel_id, bytes(record[22:])))
                else:
                    self._define(opcode, record)
                at += 9 + length
        except _CHUNK_ERRORS:
            pass  # a record that does not parse: the ones before it stand
        if not found:
            return ""
        self._cut, self._cut_offset = sorted(found, key=itemgetter(0)), offset
        for log_time, channel_id, _ in found:
            counts[channel_id] += 1
            self._stretch(log_time)
        return (
            f"; {len(found)} whole message(s) read from the chunk cut off (its checksum cannot be verified without "
            "its end)"
        )

    def _cut_source(self, channel_map: dict[int, Connection], start: int, stop: int) -> Generator[Msg, None, None]:
        """The messages read from the chunk the end of the file cut off, as :meth:`_chunk_source` gives a chunk's."""
        yield Msg(self._cut[0][0], 0, None, None)
        for log_time, channel_id, payload in self._cut:
            if start <= log_time < stop and channel_id in channel_map:
                yield Msg(log_time, self._cut_offset, channel_map[channel_id], cast("bytes", bytearray(payload)))

    def _finish(self, counts: dict[int, int]) -> None:
        """Statistics, connection counts and metadata as rosbags' ``_open`` sets them.

        Messages on a channel whose definition was lost (in a damaged chunk, or in the lost summary) cannot be
        read: they are counted as skipped, not recovered. A connection's count includes its topic's skipped
        messages, so that the runner sees how many of them the file held.
        """
        undefined = {channel: n for channel, n in counts.items() if channel not in self.channels}
        for channel, n in undefined.items():
            self.integrity.skip(f"(channel {channel})", n)
        if undefined:
            self.integrity.problems.append(
                f"{sum(undefined.values())} messages on channel(s) {sorted(undefined)} whose definition is lost"
            )
        counts = {channel: n for channel, n in counts.items() if channel in self.channels}
        self.integrity.recovered = sum(counts.values())
        start, end = self._span
        total = sum(counts.values())
        self.statistics = Statistics(
            total, len(self.schemas), len(self.channels), 0, 0, len(self.chunks), start, end, {}
        )
        skipped = self.integrity.skipped
        self.connections = [
            c._replace(msgcount=counts.get(c.id, 0) + skipped.get(c.topic, 0)) for c in self.connections
        ]
        self.metadata = self.metadata._replace(
            duration=end - start + 1 if total else 0,
            start_time=start if total else MAXSIZE,
            end_time=end + 1 if total else 0,
            message_count=total,
        )

    # -- reading messages ---------------------------------------------------------------------------------------
    def _topic_of(self, channel_id: int) -> str:
        channel = self.channels.get(channel_id)
        return channel.topic if channel else f"(channel {channel_id})"

    def _damage_line(self, chunk: ChunkInfo, err: BaseException) -> str:
        messages = sum(chunk.channel_count.values())
        what = f"{messages} messages" if chunk.channel_count else "its messages"
        return (
            f"chunk at byte {chunk.chunk_start_offset} (log time {chunk.message_start_time}..{chunk.message_end_time} "
            f"ns) is damaged ({type(err).__name__}: {err}); {what} skipped"
        )

    def _chunk_records(self, chunk: ChunkInfo) -> bytes:
        """The chunk's uncompressed records, checked against its CRC-32 and size."""
        bio = self.bio
        assert bio
        bio.seek(chunk.chunk_start_offset + 9)
        body = bio.read(chunk.chunk_length - 9)
        _, _, uncompressed_size, crc = _CHUNK_HEAD.unpack_from(body, 0)
        compression, at = _string(body, 28)
        (compressed_size,) = struct.unpack_from("<Q", body, at)
        return decompress(body[at + 8 : at + 8 + compressed_size], compression, uncompressed_size, crc)

    def _chunk_source(
        self, chunk: ChunkInfo, channel_map: dict[int, Connection], start: int, stop: int
    ) -> Generator[Msg, None, None]:
        """One chunk's selected messages in log-time order (after a marker, so that merging reads chunks lazily)."""
        yield Msg(chunk.message_start_time, 0, None, None)
        try:
            found: dict[int, int] = defaultdict(int)
            messages: list[Msg] = []
            for opcode, record in _Records(self._chunk_records(chunk)):
                if opcode != _MESSAGE:
                    continue
                channel_id, _, log_time = struct.unpack_from("<HIQ", record, 0)
                found[channel_id] += 1
                if start <= log_time < stop and channel_id in channel_map:
                    payload = cast("bytes", bytearray(record[22:]))  # the message's own buffer (see the sqlite3 reader)
                    messages.append(Msg(log_time, chunk.chunk_start_offset, channel_map[channel_id], payload))
            if chunk.channel_count and dict(found) != chunk.channel_count:
                msg = f"its records hold {dict(found)} messages per channel, its index {chunk.channel_count}"
                raise ReaderError(msg)
        except _CHUNK_ERRORS as err:
            self._damaged_chunk(chunk, err)
            return
        messages.sort(key=lambda m: m.timestamp)
        yield from messages

    def _damaged_chunk(self, chunk: ChunkInfo, err: BaseException) -> None:
        if chunk.chunk_start_offset in self._damaged:
            return
        self._damaged.add(chunk.chunk_start_offset)
        self.integrity.problems.append(self._damage_line(chunk, err))
        for channel_id, count in chunk.channel_count.items():
            self.integrity.skip(self._topic_of(channel_id), count)

    def _top_level_index(self) -> list[tuple[int, int, int]] | None:
        """(log time, offset, channel id) of every message record outside chunks, in log-time order (file order among
        equal times), built on first use; None when the data section of an intact file holds a chunk after all (a file
        written without a chunk index: rosbags reads it). A salvaged file's chunks are passed over (see messages)."""
        if self._top is None:
            self._top = self._scan_top_level()
        return None if self._top is False else self._top

    def _scan_top_level(self) -> list[tuple[int, int, int]] | Literal[False]:
        bio = self.bio
        assert bio
        found: list[tuple[int, int, int]] = []
        at = self.data_start
        while at < self.data_end:
            bio.seek(at)
            opcode, length = _RECORD.unpack(bio.read(9))
            if opcode == _MESSAGE:
                channel_id, _, log_time = _MESSAGE_TAIL.unpack(bio.read(_MESSAGE_TAIL.size))
                found.append((log_time, at, channel_id))
            elif opcode == _CHUNK and not self.integrity.truncated:
                return False
            at += 9 + length
        found.sort(key=itemgetter(0))  # stable: file order among equal times
        return found

    def _top_level_messages(
        self, connections: Collection[Connection], start: int | None, stop: int | None
    ) -> Generator[tuple[Connection, int, bytes], None, None]:
        """Message records outside chunks in log-time order, up to the last complete record of a salvaged file.

        An unchunked file (``ros2 bag record -s mcap --storage-preset-profile fastwrite``) holds its messages in the
        order they were written, which on Jazzy is not their log-time order: the log time is the middleware's receive
        time, taken before the recorder's executor runs the topic's callback. rosbags refuses such a file ("not in
        timestamp order"); here the records are indexed once (time, offset, channel) and read in time order.
        """
        index = self._top_level_index()
        if index is None:
            yield from super().messages(connections, start, stop)
            return
        bio = self.bio
        assert bio
        channel_map = {connection.id: connection for connection in connections}
        first = 0 if start is None else bisect_left(index, start, key=itemgetter(0))
        for log_time, at, channel_id in islice(index, first, None):
            if stop is not None and log_time >= stop:
                return
            if channel_id in channel_map:
                bio.seek(at)
                _, length = _RECORD.unpack(bio.read(9))
                yield channel_map[channel_id], log_time, bio.read(length)[22:]

    def close(self) -> None:
        """Close the file (and forget its index of unchunked messages)."""
        self._top = None
        self._cut = []
        super().close()

    def messages(
        self, connections: Collection[Connection], start: int | None = None, stop: int | None = None
    ) -> Generator[tuple[Connection, int, bytes], None, None]:
        """Messages of ``connections`` in log-time order, ``start <= t < stop`` (ns); damaged chunks are skipped."""
        if not self.chunks and not self._cut:  # unchunked, or salvaged without a good chunk (rosbags would re-read
            yield from self._top_level_messages(connections, start, stop)  # the bad ones)
            return
        channel_map = {connection.id: connection for connection in connections}
        sources = [
            self._chunk_source(
                chunk,
                channel_map,
                chunk.message_start_time if start is None else start,
                chunk.message_end_time + 1 if stop is None else stop,
            )
            for chunk in self.chunks
            if (start is None or start <= chunk.message_end_time)
            and (stop is None or chunk.message_start_time < stop)
            and (not chunk.channel_count or any(chunk.channel_count.get(cid, 0) for cid in channel_map))
        ]
        if self._cut:
            sources.append(self._cut_source(channel_map, start or 0, MAXSIZE if stop is None else stop))
        for timestamp, offset, connection, data in heapq.merge(*sources):
            if offset and connection is not None and data is not None:
                yield connection, timestamp, data
