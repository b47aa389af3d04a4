"""Reading the input rosbag2 with rosbags: a directory (sqlite3 or MCAP) or a bare ``.mcap`` / ``.db3`` file.

Every failure of the bag itself (missing, truncated, corrupt, unreadable metadata) becomes a :class:`BagError`
naming the path and a remedy; a single message that cannot be deserialised becomes an :class:`EncodingError`, which
the runner counts against that message only.
"""

from __future__ import annotations

import re
import sqlite3
import struct
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rosbags.rosbag2 import Reader, ReaderError
from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.bag.compression import ZSTD_ERROR, FrameTooLarge, decompressed
from mono_depth_ros.bag.folder import BagFolderReader, Listing, NotABagError, StorageFilesReader
from mono_depth_ros.bag.integrity import StorageIntegrity
from mono_depth_ros.bag.mcap_storage import VerifyingMcapReader
from mono_depth_ros.bag.payload import whole
from mono_depth_ros.bag.sqlite_storage import SalvagingSqlite3Reader
from mono_depth_ros.core.errors import BagError, EncodingError

if TYPE_CHECKING:
    from rosbags.interfaces import Connection
    from rosbags.typesys.store import Typestore

DISTROS: dict[str, Stores] = {"humble": Stores.ROS2_HUMBLE, "jazzy": Stores.ROS2_JAZZY}
_REMEDY = (
    "if the recording was interrupted, `ros2 bag reindex` rebuilds a missing metadata.yaml (or pass the .db3 / .mcap "
    "file itself) and `mcap recover` salvages a truncated .mcap; otherwise re-record or re-copy the bag"
)


def _storage_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [ReaderError, sqlite3.Error, OSError, struct.error, EOFError, ValueError]
    errors += [KeyError, IndexError]
    try:
        import apsw  # rosbags' sqlite3 storage
    except ImportError:  # pragma: no cover - depends on the rosbags version
        return tuple(errors)
    return (*errors, apsw.Error)


_STORAGE_ERRORS = _storage_errors()
_OPEN_ERRORS: tuple[type[BaseException], ...] = (FileNotFoundError, *_STORAGE_ERRORS)


class _Reader(Reader):
    """rosbags' reader over the verifying / salvaging storages (:mod:`.folder`): a rosbag2 folder, a folder without
    its metadata.yaml, or a bare ``.db3`` / ``.mcap`` (also ``.zstd``-compressed) file."""

    def __init__(self, path: Path) -> None:
        """Choose the reader for ``path`` (which exists); nothing is read before :meth:`open`."""
        self.path = path
        self.is_open = False
        with_metadata = path.is_dir() and (path / "metadata.yaml").exists()
        listing = Listing.of(path) if with_metadata else Listing()
        why = listing.why()  # files it lists are not there, or the recording's last ones are not listed yet
        if with_metadata and not why:
            self.folder: BagFolderReader = BagFolderReader(path)
            self.folder.notes = listing.notes(path)
        else:
            self.folder = StorageFilesReader(path, why, listing)
        self.storage = self.folder

    def open(self) -> None:
        """Open the input; a folder whose files compressed whole do not decompress to their end (a copy cut short) is
        read as its storage files without the metadata.yaml, which counts messages that are no longer there."""
        try:
            super().open()
        except (EOFError, ZSTD_ERROR) as err:  # raised only by decompressing --compression-mode file files
            if isinstance(self.folder, StorageFilesReader):
                raise
            why = f"holds a file compressed whole that does not decompress to its end ({err})"
            self.folder = StorageFilesReader(Path(str(self.path)), why, Listing.of(Path(str(self.path))))
            self.storage = self.folder
            super().open()
        self.respelled = _canonical_types(self.folder)

    respelled: Sequence[str] = ()
    """The type names the bag spells ``pkg/Type``, read as ``pkg/msg/Type`` (set by :meth:`open`)."""


_SHORT_TYPE = re.compile(r"([A-Za-z]\w*)/([A-Za-z]\w*)")


def canonical_msgtype(msgtype: str) -> str:
    """``pkg/msg/Type`` for a message type spelled ``pkg/Type`` (rosbag2 takes both; typestores know the first),
    any other name unchanged."""
    found = _SHORT_TYPE.fullmatch(msgtype)
    return f"{found[1]}/msg/{found[2]}" if found else msgtype


def _canonical_types(folder: BagFolderReader) -> list[str]:
    """Give the connections of ``folder`` and of its storages their types' ``pkg/msg/Type`` names; returns the names
    that were spelled otherwise (sorted). Both lists change alike: the folder matches its storages' connections to
    its own by topic, type and QoS."""
    respelled: set[str] = set()
    for holder in (folder, *folder.storages):
        connections = list(holder.connections)
        respelled.update(c.msgtype for c in connections if canonical_msgtype(c.msgtype) != c.msgtype)
        holder.connections = [c._replace(msgtype=canonical_msgtype(c.msgtype)) for c in connections]
    return sorted(respelled)


@cache
def typestore_for(distro: str) -> Typestore:
    """rosbags typestore of a ROS 2 distro (``humble`` or ``jazzy``), one per process.

    rosbags generates and compiles each type's (de)serialisers at its first use in a typestore (3-11 ms a type,
    ~100 ms for a run's types): a process that reads or writes several bags (the benchmarks, the tests, training's
    bag datasets) compiles them once. Nothing here registers types into it (a bag's own definitions are read into a
    store of their own, :func:`~.writer.definition_hash`)."""
    store = DISTROS.get(distro)
    if store is None:
        msg = f"--distro {distro!r} is not supported; use one of {', '.join(DISTROS)}"
        raise BagError(msg)
    return get_typestore(store)


@dataclass(frozen=True)
class BagMessage:
    """One raw message in recording order.

    Attributes:
        topic: topic name. msgtype: ROS 2 type (``sensor_msgs/msg/Image``).
        ordinal: position of this message among the messages of its topic (0, 1, 2, ...).
        log_ns: bag (receive) time in int ns. raw: CDR bytes (the sqlite3 and MCAP readers give each message a
        ``bytearray`` of its own). connection: the rosbags connection.
    """

    topic: str
    msgtype: str
    ordinal: int
    log_ns: int
    raw: bytes | bytearray | memoryview
    connection: Connection


class InputBag:
    """An open input bag (use as a context manager).

    Args:
        path: rosbag2 directory, or a ``.mcap`` / ``.db3`` file.
        typestore: message definitions used to deserialise (the chosen distro's).

    Raises:
        BagError: the bag is missing, unreadable, truncated or corrupt.
    """

    def __init__(self, path: Path, typestore: Typestore) -> None:
        self.path = Path(path)
        self.typestore = typestore
        if not self.path.exists():
            msg = f"input bag {self.path} does not exist; give a rosbag2 folder or a .mcap / .db3 file"
            raise BagError(msg)
        if self.path.name == "metadata.yaml":
            msg = f"{self.path} is a bag's metadata file; give its folder ({self.path.parent}) or the .db3 / .mcap file"
            raise BagError(msg)
        try:
            self._reader = _Reader(self.path)
            self._reader.open()
        except NotABagError as err:
            raise BagError(f"cannot read bag {self.path}: {err}") from None
        except _OPEN_ERRORS as err:
            raise BagError(self._describe(err)) from None
        self.message_compressed = self._reader.folder.message_compressed
        """Each payload is a zstd frame (recorded with ``--compression-mode message``), decompressed as it is read."""
        self.notes: list[str] = list(self._reader.folder.notes)
        """What reading the input assumed (no metadata.yaml, a decompressed file, ...), for the summary."""
        if self._reader.respelled:
            self.notes.append(
                f"message types spelled pkg/Type ({', '.join(self._reader.respelled)}) are read as pkg/msg/Type, the "
                "same types (rosbag2 takes either spelling)"
            )
        self._types: dict[str, str] = {}  # topic -> the one type read of it (:meth:`read_as`)

    def _describe(self, err: BaseException) -> str:
        detail = " ".join(str(err).split())  # one line: YAML and SQLite errors span several
        return f"cannot read bag {self.path}: {detail}; the bag is truncated or corrupt: {_REMEDY}"

    def __enter__(self) -> InputBag:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the bag (idempotent)."""
        if self._reader.is_open:
            self._reader.close()

    def _storages(self) -> list[object]:
        """The storage readers behind the bag (one per file of a folder)."""
        return list(self._reader.folder.storages)

    @property
    def integrity(self) -> list[StorageIntegrity]:
        """Per storage file: what was skipped or salvaged so far (filled while messages are read).

        A truncated file's ``expected`` count comes from the folder's metadata.yaml when it lists the file; a file it
        lists that is not there has a report of its own (``missing``), first.
        """
        folder = self._reader.folder
        storages = folder.storages
        listed = {Path(f["path"]).name.removesuffix(".zstd"): int(f["message_count"]) for f in folder.files}
        reports = [s.integrity for s in storages if isinstance(s, (VerifyingMcapReader, SalvagingSqlite3Reader))]
        for report in reports:
            if report.truncated and report.expected is None:
                report.expected = listed.get(report.path.name)
        missing = getattr(folder, "missing", ())  # files the metadata.yaml lists that are not there
        gone = [
            StorageIntegrity(folder.path / name, expected=listed.get(name.removesuffix(".zstd")), missing=True)
            for name in missing
        ]
        return gone + reports

    @property
    def topic_types(self) -> dict[str, dict[str, int]]:
        """Topic name → each message type recorded on it → its number of messages (from the bag's metadata), in
        recording order; a topic holds several types when publishers of different types shared it (bags merged)."""
        types: dict[str, dict[str, int]] = {}
        for connection in self._reader.connections:
            per_type = types.setdefault(connection.topic, {})
            per_type[connection.msgtype] = per_type.get(connection.msgtype, 0) + int(connection.msgcount)
        return types

    @property
    def topics(self) -> dict[str, str]:
        """Topic name → message type of every topic in the bag: the one :meth:`read_as` chose, else the first
        recorded (a topic no input reads: all its types are read, e.g. to be copied)."""
        return {topic: self._types.get(topic, next(iter(types))) for topic, types in self.topic_types.items()}

    def read_as(self, topic: str, msgtype: str) -> list[str]:
        """Read ``topic``'s messages of ``msgtype`` only: the type the node subscribes it with (a subscription has
        one type and never receives another's messages); each other type recorded on it is left out: the notes
        returned (for the summary) name each with its count. Every connection was read before, each decoded as its
        own type (a second publisher's CompressedImage on a raw image topic was written as a second depth frame)."""
        self._types[topic] = msgtype
        per_type = self.topic_types.get(topic, {})
        return [
            f"{topic} also holds {count} message(s) of {other} beside {per_type.get(msgtype, 0)} of {msgtype}: not "
            f"read nor copied (the node subscribes it as {msgtype} and never receives them); move them to a topic "
            "of their own (e.g. with rosbags) to process them"
            for other, count in per_type.items()
            if other != msgtype and count
        ]

    @property
    def message_counts(self) -> dict[str, int]:
        """Topic name → number of messages read of it (from the bag's metadata; of the type :meth:`read_as` chose)."""
        counts: dict[str, int] = {}
        for connection in self._read_connections():
            counts[connection.topic] = counts.get(connection.topic, 0) + int(connection.msgcount)
        return counts

    def _read_connections(self) -> list[Connection]:
        """The connections whose messages are read: of a topic :meth:`read_as` named, those of its type."""
        return [c for c in self._reader.connections if self._types.get(c.topic, c.msgtype) == c.msgtype]

    @property
    def connections(self) -> list[Connection]:
        """The rosbags connections (one or more per topic)."""
        return list(self._reader.connections)

    def messages(
        self,
        topics: set[str] | None = None,
        heads: Collection[str] = (),
        *,
        start_ns: int | None = None,
        stop_ns: int | None = None,
    ) -> Iterator[BagMessage]:
        """Raw messages in recording order, optionally only those of ``topics``, bag time ``start_ns <= t < stop_ns``
        (with a window, ordinals count from its first message).

        ``heads``: topics whose payloads are wanted only for their header: where the storage can (an intact sqlite3
        file), their ``raw`` is a :class:`~.payload.PayloadHead` (the first bytes; :meth:`deserialize` and
        :meth:`payload` read the rest). Compressed payloads (:attr:`message_compressed`) always come as their
        decompressed head, whatever ``heads`` says (:func:`~.compression.decompressed`).

        Raises:
            BagError: the storage fails part-way (a truncated or corrupt file).
        """
        selected = [c for c in self._read_connections() if topics is None or c.topic in topics]
        if not selected:
            return
        sqlite = [s for s in self._storages() if isinstance(s, SalvagingSqlite3Reader)]
        compressed = self.message_compressed
        if compressed:  # each payload is one zstd frame: the storage gives it whole, its head is decompressed here
            heads = ()
        for storage in sqlite:
            storage.head_topics = frozenset(heads)
        ordinals: dict[str, int] = {}
        iterator = self._reader.messages(connections=selected, start=start_ns, stop=stop_ns)
        try:
            while True:
                try:
                    connection, log_ns, raw = next(iterator)
                except StopIteration:
                    return
                except _STORAGE_ERRORS as err:
                    raise BagError(self._describe(err)) from None
                ordinal = ordinals.get(connection.topic, 0)
                ordinals[connection.topic] = ordinal + 1
                if compressed:
                    raw = decompressed(raw)
                yield BagMessage(connection.topic, connection.msgtype, ordinal, int(log_ns), raw, connection)
        finally:
            for storage in sqlite:
                storage.head_topics = frozenset()

    def payload(self, message: BagMessage) -> bytes | bytearray | memoryview:
        """The whole serialised message (read now when the first pass holds only its head).

        Raises:
            BagError: the storage cannot read it any more.
            EncodingError: its compressed payload is truncated or corrupt, or decompresses past
                :data:`~.compression.MESSAGE_BYTES_MAX` (that message only).
        """
        try:
            return whole(message.raw)
        except ZSTD_ERROR as err:
            why = (
                "no message holds that much: a corrupt or hostile frame (a zstd bomb), not decompressed further"
                if isinstance(err, FrameTooLarge)
                else "the message is truncated or corrupt"
            )
            msg = (
                f"cannot decompress {message.msgtype} #{message.ordinal} on {message.topic} (zstd, "
                f"--compression-mode message): {err}; {why}"
            )
            raise EncodingError(msg) from None
        except _STORAGE_ERRORS as err:
            raise BagError(self._describe(err)) from None

    def deserialize(self, message: BagMessage) -> Any:
        """The message as a rosbags dataclass of the chosen distro.

        Raises:
            EncodingError: an unknown type or bytes that are not a valid CDR message of that type.
        """
        if message.msgtype not in self.typestore.types:
            msg = f"message type {message.msgtype} on {message.topic} is not in the typestore; cannot decode it"
            raise EncodingError(msg)
        raw = self.payload(message)
        # The message's arrays (image pixels, cloud points) are views of the payload, never copies of it: read-only
        # for bytes, writable for the bytearray a storage reads each payload into (that message's own buffer). A
        # memoryview from a storage may be of a buffer it reuses: copied.
        view = bytes(raw) if isinstance(raw, memoryview) else memoryview(raw)
        try:
            return self.typestore.deserialize_cdr(view, message.msgtype)
        except Exception as err:
            msg = (
                f"cannot deserialise {message.msgtype} #{message.ordinal} on {message.topic} "
                f"({len(raw)} bytes): {type(err).__name__}: {err}; the message is truncated or corrupt"
            )
            raise EncodingError(msg) from None
