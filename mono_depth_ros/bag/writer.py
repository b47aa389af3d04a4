"""Writing the output rosbag2: metadata version 8, sqlite3 (default) or MCAP storage, one distro's typestore.

Version 8 is deliberate: ``ros2 bag play`` on Humble refuses the version-9 metadata that rosbags writes by
default, while Jazzy reads both. Message definitions and type hashes of what is written here come from the chosen
distro's typestore (``--distro humble|jazzy``); copied input messages keep their bytes, the definition they were
recorded with (see :meth:`OutputBag.copy`) and their recorded QoS (so a copied ``/tf_static`` stays transient-local).
A ``/tf_static`` without recorded QoS (written here, or copied from a bag that has none) gets :data:`TF_STATIC_QOS`:
``ros2 bag play`` offers a topic with its recorded QoS, else volatile, and a volatile ``/tf_static`` reaches no tf2
``TransformListener`` (it subscribes transient local).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar, cast

from rosbags.interfaces import (
    ConnectionExtRosbag2,
    MessageDefinition,
    MessageDefinitionFormat,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
from rosbags.rosbag2.enums import CompressionMode
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Writer
from rosbags.typesys import Stores, TypesysError, get_types_from_idl, get_types_from_msg, get_typestore

from mono_depth_ros.bag.cdr_parts import CdrParts
from mono_depth_ros.bag.mcap_storage import ChecksummedMcapWriter
from mono_depth_ros.bag.reader import DISTROS
from mono_depth_ros.core.errors import BagError

if TYPE_CHECKING:
    from rosbags.interfaces import Connection
    from rosbags.typesys.store import Typestore

METADATA_VERSION: Literal[8] = 8
STORAGES: dict[str, StoragePlugin] = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
_Bag = TypeVar("_Bag", bound="OutputBag")
_DEFAULT_TIME = QosTime(0, 0)  # deadline, lifespan, lease: the rmw default (none)
TF_STATIC_QOS = Qos(
    QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, _DEFAULT_TIME, _DEFAULT_TIME,
    QosLiveliness.AUTOMATIC, _DEFAULT_TIME, False,
)  # fmt: skip
"""What tf2_ros' StaticTransformBroadcaster offers (and ``ros2 bag record`` records): reliable, transient local."""


def offered_qos(topic: str, recorded: Sequence[Qos] = ()) -> list[Qos]:
    """The offered QoS profiles to record for ``topic``: ``recorded`` when there are any, else
    :data:`TF_STATIC_QOS` for ``/tf_static`` and none (``ros2 bag play``'s default) for any other topic."""
    if recorded:
        return list(recorded)
    return [TF_STATIC_QOS] if topic == "/tf_static" else []


WRITE_ERRORS: tuple[type[Exception], ...] = (OSError, sqlite3.Error)
"""What a storage write raises when the output's disk is full or fails (EFBIG, ENOSPC, EIO; SQLite's "disk I/O
error", "database or disk is full")."""


PAGE_SIZE = 16384
"""Page size of the sqlite3 files written, bytes (SQLite's default: 4096; see :class:`CommittingSqlite3Writer`)."""


COMMIT_BYTES = 4 << 20
"""Messages a sqlite3 transaction of the output holds before it is committed, bytes (see
:class:`CommittingSqlite3Writer`): ~4 frames at 1242x375 with the default output policy, 1 at camera resolution."""

COMMIT_FRAMES = 8
"""Frames a sqlite3 transaction of the output holds at most (small frames: what a killed run may lose)."""


@dataclass(frozen=True)
class StoredMessages:
    """What a storage holds: its connections (topic ids), messages per connection and their time span (bag time,
    ns; rosbags' "no message yet" values, ``2**63 - 1`` and 0, when it holds none)."""

    connection_ids: frozenset[int]
    counts: Mapping[int, int]
    min_timestamp: int = 2**63 - 1
    max_timestamp: int = 0

    @classmethod
    def of(cls, ids: set[int], counts: dict[int, int], spans: Sequence[tuple[int, int]]) -> StoredMessages:
        """From the connection ids, counts per id, and (first, last) stamps of each connection with messages."""
        if not spans:
            return cls(frozenset(ids), counts)
        return cls(frozenset(ids), counts, min(lo for lo, _ in spans), max(hi for _, hi in spans))


def storage_file_name(folder: Path, suffix: str) -> str:
    """The name of the output's one storage file in the bag ``folder``: ``<folder>_0<suffix>``, as ``ros2 bag
    record`` names the first file of a recording. rosbags names it ``<folder><suffix>``, which Humble's ``ros2 bag
    reindex`` (the way to rebuild the metadata.yaml of a killed run) does not find: it looks for
    ``<folder>_<n>.<ext>`` ("No database files found for reindexing")."""
    return f"{folder.name}_0{suffix}"


class CommittingSqlite3Writer(Sqlite3Writer):
    """rosbags' sqlite3 writer that commits when asked: rosbags commits once, at close, so the whole run was one
    transaction, and a write that failed (a full disk) rolled every message back while metadata.yaml still listed
    them; a killed run left nothing.

    Commits do not wait for the disk (``synchronous = OFF``, as ``ros2 bag record`` writes sqlite3 by default): a
    process that dies keeps every committed message; only the last commit, at close, is synced.

    Frames are committed in batches (:meth:`commit`), as rosbag2's recorder writes its message cache in one
    transaction: a commit costs the kernel's taking of the transaction's pages plus a fixed part (standalone, ~1 MB
    frames: ~0.8 ms a frame committed one by one, ~0.55 four at a time), so a transaction ends once it holds
    :data:`COMMIT_BYTES` of messages or :data:`COMMIT_FRAMES` frames. Each frame inside it is a savepoint:
    :meth:`rollback` drops only the frame in hand (a second Ctrl-C) and closing commits the frames before it. A
    process killed outright (SIGKILL, the OOM killer) loses the frames of the unfinished transaction: at most
    :data:`COMMIT_FRAMES` frames or about :data:`COMMIT_BYTES` of output (4 frames at 1242x375 with the default
    output policy); a failed write (a full disk) rolls back to the last commit to the file as well.

    Pages are :data:`PAGE_SIZE` bytes, not SQLite's default 4 KiB: a depth image or cloud fills a chain of overflow
    pages, each handled (allocated, linked, written) on its own; four times fewer of them make inserting and
    committing a frame cost ~0.7 times as much (any SQLite reads any page size: it is in the file's header).
    """

    def __init__(self, path: Path, compression: CompressionMode) -> None:
        """rosbags' ``__init__`` (same schema), with the page size set before the first table and the file named as
        rosbag2 names it (:func:`storage_file_name`)."""
        if compression == CompressionMode.STORAGE:
            msg = "SQLITE3 writer does not support storage-side compression."
            raise WriterError(msg)
        self.path = path / storage_file_name(path, ".db3")
        self.conn = sqlite3.connect(f"file:{self.path}", uri=True)
        self.conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        self.conn.executescript(self.SQLITE_SCHEMA)
        self.cursor = self.conn.cursor()
        self.conn.execute("PRAGMA synchronous = OFF")
        self._pending_bytes = 0  # message bytes written since the last commit
        self._pending_frames = 0  # frames (commit calls) since the last commit
        self._in_frame_savepoint = False  # a savepoint marks the start of the frame in hand

    def write(self, connection: Connection, timestamp: int, data: bytes | memoryview | CdrParts) -> None:
        """Insert one message; :class:`~.cdr_parts.CdrParts` are copied once, each part straight into the row's pages.

        Binding a ``bytes`` copies it three times inside SQLite (the bound value, the record, the pages); a
        ``zeroblob`` row filled through incremental blob I/O is the same row, written with one copy.
        """
        self._pending_bytes += len(data) if not isinstance(data, CdrParts) else data.size
        if not isinstance(data, CdrParts):
            super().write(connection, timestamp, data)
            return
        self.cursor.execute(
            "INSERT INTO messages (topic_id, timestamp, data) VALUES(?, ?, zeroblob(?))",
            (connection.id, timestamp, data.size),
        )
        rowid = self.cursor.lastrowid
        assert rowid is not None  # an INSERT into a rowid table
        with self.conn.blobopen("messages", "data", rowid) as blob:
            for part in (data.head, data.data, data.tail):
                blob.write(part)

    def close(self, version: int, metadata: str) -> None:
        """Write the metadata row and commit the rest, synced to the disk (see rosbags' ``close``)."""
        self.conn.commit()  # the level cannot change inside a transaction
        self.conn.execute("PRAGMA synchronous = FULL")
        super().close(version, metadata)

    def commit(self) -> bool:
        """End a frame: every message written so far is kept by :meth:`rollback` and by :meth:`close`; committed to
        the file when the transaction holds :data:`COMMIT_BYTES` or :data:`COMMIT_FRAMES` (True), else the next frame
        starts at a savepoint (False)."""
        # an interrupt (a second Ctrl-C) may land on any statement here: _in_frame_savepoint is True only while the
        # savepoint is there (cleared before its release, set after it is taken), and :meth:`rollback` keeps the
        # frames ended in the open transaction when none is marked (the frame in hand is whole once this is called)
        if self._in_frame_savepoint:
            self._in_frame_savepoint = False
            self.conn.execute("RELEASE frame")
        self._pending_frames += 1
        if self._pending_bytes >= COMMIT_BYTES or self._pending_frames >= COMMIT_FRAMES:
            self.conn.commit()
            self._pending_bytes = self._pending_frames = 0
            return True
        if not self.conn.in_transaction:  # a savepoint outside a transaction would be one: its release commits
            self.conn.execute("BEGIN")
        self.conn.execute("SAVEPOINT frame")
        self._in_frame_savepoint = True
        return False

    def rollback(self) -> bool:
        """Drop what was written since the last :meth:`commit`: True when only that went; False when the transaction
        was rolled back whole (to the last commit to the file: no frame was ended since, or SQLite had rolled it
        back itself after a failed write).

        A :meth:`commit` cut short by an interrupt keeps its frame and those before: with no savepoint marked but
        frames ended in the open transaction, nothing of a next frame was written (the interrupt landed in
        :meth:`commit` after it unmarked the frame's savepoint and before it marked the next one), so nothing is
        dropped."""
        in_transaction = self.conn.in_transaction
        if self._in_frame_savepoint and in_transaction:
            self.conn.execute("ROLLBACK TO frame")
            return True
        if self._pending_frames and in_transaction:
            return True
        self.conn.rollback()
        self._pending_bytes = self._pending_frames = 0
        self._in_frame_savepoint = False
        return False

    def contents(self) -> StoredMessages:
        """What the file and the open transaction hold (one scan of the messages table's rows, not of their data)."""
        rows = self.conn.execute(
            "SELECT topic_id, count(*), min(timestamp), max(timestamp) FROM messages GROUP BY topic_id"
        ).fetchall()
        topics = {topic_id for (topic_id,) in self.conn.execute("SELECT id FROM topics")}
        return StoredMessages.of(topics, {tid: n for tid, n, _, _ in rows}, [(lo, hi) for _, _, lo, hi in rows])

    def rollback_to_file(self) -> None:
        """Drop everything since the last commit to the file (after a failed write, the transaction is not trusted)."""
        self.conn.rollback()
        self._pending_bytes = self._pending_frames = 0
        self._in_frame_savepoint = False


class _Writer(Writer):
    """rosbags' writer whose MCAP chunks carry their CRC-32 (readers can then detect corruption), and whose storage
    commits and rolls back (see :meth:`OutputBag.commit`)."""

    STORAGE_PLUGINS = MappingProxyType(
        {StoragePlugin.SQLITE3: CommittingSqlite3Writer, StoragePlugin.MCAP: ChecksummedMcapWriter}
    )

    def write(self, connection: Connection, timestamp: int, data: bytes | memoryview | CdrParts) -> None:
        """rosbags' ``write``; :class:`~.cdr_parts.CdrParts` go to the sqlite3 storage as they are (joined for
        MCAP, and for message compression)."""
        sqlite = isinstance(self.storage, CommittingSqlite3Writer) and self.compression_mode == CompressionMode.NONE
        if isinstance(data, CdrParts) and not sqlite:
            data = data.joined()
        super().write(connection, timestamp, data)  # type: ignore[arg-type]  # parts: only to the sqlite3 storage


_Storage = CommittingSqlite3Writer | ChecksummedMcapWriter


class OutputBag:
    """A new rosbag2 being written (use as a context manager; an exception inside the block still closes it).

    Args:
        path: folder to create; must not exist.
        typestore: message definitions of the target distro.
        storage: ``sqlite3`` or ``mcap``.
        custom_data: string key/values for ``metadata.yaml`` (``custom_data``).

    Raises:
        BagError: ``path`` exists, cannot be created, or the storage is unknown.
    """

    def __init__(
        self, path: Path, typestore: Typestore, storage: str = "sqlite3", custom_data: Mapping[str, str] | None = None
    ) -> None:
        self.path = Path(path)
        self.typestore = typestore
        plugin = STORAGES.get(storage)
        if plugin is None:
            msg = f"--storage {storage!r} is not supported; use one of {', '.join(STORAGES)}"
            raise BagError(msg)
        if self.path.exists():
            msg = f"output bag {self.path} already exists; choose a new path or remove the old bag first"
            raise BagError(msg)
        try:
            self._writer = _Writer(self.path, version=METADATA_VERSION, storage_plugin=plugin)
            for key, value in (custom_data or {}).items():
                self._writer.set_custom_data(key, value)
            self._writer.open()
        except (WriterError, OSError, sqlite3.Error) as err:
            msg = f"cannot create output bag {self.path}: {err}"
            raise BagError(msg) from None
        self._by_topic: dict[tuple[str, str], Connection] = {}
        self._copied: dict[tuple[str, str], Connection | None] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self: _Bag) -> _Bag:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is not None and self._writer.storage is not None:  # a frame cut off (a second Ctrl-C): left out
            with suppress(*WRITE_ERRORS):
                self._rollback()
        self.close()

    def close(self) -> None:
        """Write the index and metadata.yaml (idempotent); what was written so far stays readable.

        Raises:
            BagError: the output's disk failed (see :meth:`commit`); the bag is closed with what was committed.
        """
        if self._writer.storage is not None:
            try:
                self._writer.close()
            except WRITE_ERRORS as err:
                self._fail(err)

    def commit(self) -> bool:
        """Make everything written so far part of the bag (the runner commits after each frame): an exception before
        the next commit (a second Ctrl-C) drops only what came after this one. Returns whether it reached the file:
        MCAP writes a chunk per commit; sqlite3 commits frames in batches
        (:class:`CommittingSqlite3Writer`), and a process killed outright loses the frames since the last batch.

        A write that fails later (a full disk) drops what came after the last commit that reached the file: the bag
        is then closed with those messages, its metadata.yaml counting exactly those, so that every frame in it is
        whole.

        Raises:
            BagError: the output's disk failed; the bag is closed with what was committed to the file before.
        """
        storage = self._writer.storage
        if storage is None:
            return False
        try:
            filed = cast("_Storage", storage).commit()
        except WRITE_ERRORS as err:
            self._fail(err)
        return filed

    def _rollback(self, *, to_file: bool = False) -> None:
        """Drop what was written since the last commit (``to_file``: since the last commit that reached the file,
        after a failed write), and take the connections, counts and time span from what the storage then holds.

        They are not restored from a note taken at each commit: a second Ctrl-C handled between the storage's ending
        of a frame and that note (a savepoint taken, a batch committed) kept the frame in the file under counts
        without it."""
        writer, storage = self._writer, cast("_Storage", self._writer.storage)
        if isinstance(storage, CommittingSqlite3Writer) and to_file:
            storage.rollback_to_file()
        else:
            storage.rollback()
        held = storage.contents()
        writer.connections = [c for c in writer.connections if c.id in held.connection_ids]
        writer.counts = {c.id: held.counts.get(c.id, 0) for c in writer.connections}
        writer.added_types = {c.msgtype for c in writer.connections}
        writer.min_timestamp, writer.max_timestamp = held.min_timestamp, held.max_timestamp
        self.counts = {}
        for connection in writer.connections:
            if writer.counts[connection.id]:
                self.counts[connection.topic] = self.counts.get(connection.topic, 0) + writer.counts[connection.id]
        known = {connection.id for connection in writer.connections}
        self._by_topic = {key: c for key, c in self._by_topic.items() if c.id in known}
        self._copied = {key: c for key, c in self._copied.items() if c is None or c.id in known}

    def _fail(self, err: BaseException) -> NoReturn:
        """Roll back to the last commit, close the bag with what it holds then, and raise a BagError naming both."""
        writer, kept = self._writer, "it is closed with the messages written before"
        try:
            if writer.storage is None:
                raise err
            self._rollback(to_file=True)
            writer.close()
        except Exception as again:  # the disk is gone for good: say what is left
            with suppress(Exception):
                writer.abort()
            kept = (
                f"it could not be closed ({type(again).__name__}: {again}), so it lacks its index or metadata.yaml "
                "(mono-depth bag reads it without; `ros2 bag reindex` rebuilds the metadata.yaml)"
            )
        writer.storage = None
        msg = (
            f"cannot write the output bag {self.path} ({type(err).__name__}: {err}); {kept}; free space on its disk "
            "or write to another one"
        )
        raise BagError(msg) from None

    def _connection(self, topic: str, msgtype: str) -> Connection:
        connection = self._by_topic.get((topic, msgtype))
        if connection is None:
            qos = offered_qos(topic)
            connection = self._add(topic, msgtype, typestore=self.typestore, offered_qos_profiles=qos)
            self._by_topic[(topic, msgtype)] = connection
        return connection

    def write(self, topic: str, msgtype: str, message: Any, log_ns: int) -> int:
        """Serialise ``message`` (a rosbags dataclass of ``msgtype``) and write it at bag time ``log_ns``.

        Returns:
            The number of bytes written.
        """
        data = self.typestore.serialize_cdr(message, msgtype)
        self.write_raw(topic, msgtype, data, log_ns)
        return len(data)

    def write_raw(self, topic: str, msgtype: str, data: bytes | memoryview | CdrParts, log_ns: int) -> None:
        """Write already-serialised CDR bytes of ``msgtype`` on ``topic`` (:class:`~.cdr_parts.CdrParts`: the same
        bytes in parts, the large one copied only into the storage).

        Raises:
            BagError: the output's disk failed (see :meth:`commit`).
        """
        try:
            self._writer.write(self._connection(topic, msgtype), int(log_ns), data)
        except WRITE_ERRORS as err:
            self._fail(err)
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def copy(self, input_connection: Connection, data: bytes | bytearray | memoryview, log_ns: int) -> bool:
        """Copy one input message unchanged (same topic, type, bytes and offered QoS).

        The definition written is the one the bytes were recorded with: the input bag's (with its hash, or
        :func:`definition_hash` where the bag has none), else, for a bag that stores no definitions (recorded before
        Iron), Humble's, else the output typestore's; a type recorded with a hash but without a definition gets the
        definition of the typestore that has that hash first. A type whose definition changed between distros
        (``sensor_msgs/Range`` gained ``variance`` in Jazzy) thus stays decodable by the definition beside it,
        whatever ``--distro`` the output has. Returns False (and copies nothing of that topic) when there is no
        definition, or the bag's does not parse.
        """
        key = (input_connection.topic, input_connection.msgtype)
        try:
            if key not in self._copied:
                self._copied[key] = self._copy_connection(input_connection)
            connection = self._copied[key]
            if connection is None:
                return False
            self._writer.write(connection, int(log_ns), memoryview(data) if isinstance(data, bytearray) else data)
        except WRITE_ERRORS as err:
            self._fail(err)
        self.counts[input_connection.topic] = self.counts.get(input_connection.topic, 0) + 1
        return True

    def _copy_connection(self, input_connection: Connection) -> Connection | None:
        topic, msgtype = input_connection.topic, input_connection.msgtype
        qos = offered_qos(topic, getattr(input_connection.ext, "offered_qos_profiles", []) or [])
        definition = input_connection.msgdef.data
        if definition:  # the definition the bytes were recorded with (a type may differ between distros)
            digest = input_connection.digest or definition_hash(msgtype, input_connection.msgdef)
            if not digest:
                return None
            return self._add(topic, msgtype, msgdef=definition, rihs01=digest, offered_qos_profiles=qos)
        stores = [_pre_iron_typestore(), self.typestore]  # a bag without definitions was recorded before Iron,
        if input_connection.digest:  # unless it has a hash (Jazzy's recorder, definition not found): that store first
            stores = [*_hashed_typestores(), *stores]
            stores.sort(
                key=lambda store: msgtype not in store.types or store.hash_rihs01(msgtype) != input_connection.digest
            )
        for store in stores:
            if msgtype in store.types:
                return self._add(topic, msgtype, typestore=store, offered_qos_profiles=qos)
        return None

    def _add(self, topic: str, msgtype: str, **kwargs: Any) -> Connection:
        """A new connection, or the one already there with the same topic, type and QoS (rosbags refuses a second:
        the input's copied ``/diagnostics`` and this run's own)."""
        try:
            return self._writer.add_connection(topic, msgtype, **kwargs)
        except WriterError:
            ext = ConnectionExtRosbag2("cdr", list(kwargs.get("offered_qos_profiles", ())))
            same = [c for c in self._writer.connections if (c.topic, c.msgtype, c.ext) == (topic, msgtype, ext)]
            if not same:
                raise
            return same[0]


@cache
def _pre_iron_typestore() -> Typestore:
    """Humble's definitions: what a bag that stores none was recorded with (rosbag2 stores them from Iron on)."""
    return get_typestore(Stores.ROS2_HUMBLE)


@cache
def _hashed_typestores() -> tuple[Typestore, ...]:
    """The definitions of every distro read here (:data:`~mono_depth_ros.bag.reader.DISTROS`): a bag that records
    type hashes (Iron on) names by them which one it was recorded with."""
    return tuple(get_typestore(store) for store in DISTROS.values())


def definition_hash(msgtype: str, msgdef: MessageDefinition) -> str | None:
    """The RIHS01 type hash of ``msgtype`` computed from its definition in a bag (None when it does not parse).

    What rosbag2 records as ``type_description_hash`` from Jazzy on; a bag recorded on Humble, or an MCAP file read
    without its metadata.yaml, holds the definition without the hash.
    """
    store = get_typestore(Stores.EMPTY)
    try:
        if msgdef.format == MessageDefinitionFormat.IDL:
            for idl in idl_sections(msgdef.data):
                store.register(get_types_from_idl(idl))
        else:
            store.register(get_types_from_msg(msgdef.data, msgtype))
        return store.hash_rihs01(msgtype)
    except (TypesysError, KeyError, ValueError):  # a syntax error, a nested type the definition lacks
        return None


_IDL_SEPARATOR = "=" * 80 + "\n"


def idl_sections(data: str) -> list[str]:
    """The IDL texts of a ``ros2idl`` definition: rosbag2 writes one section per type, each after a line of 80 ``=``
    and a line ``IDL: pkg/msg/Type`` (rosbags' AnyReader splits them the same way); a text without them is one IDL."""
    if not data.startswith(_IDL_SEPARATOR + "IDL: "):
        return [data]
    return [section.partition("\n")[2] for section in data.split(_IDL_SEPARATOR)[1:]]
