"""rosbags storage reader for rosbag2 sqlite3 files (``.db3``) that salvages every complete message of a cut file.

An intact file is read by rosbags' own :class:`Sqlite3Reader` (apsw), except that a type Jazzy's recorder stored without
a definition (``message_definitions`` encoding ``''`` or ``'unknown'``) is read without one rather than failing the
file, and a file whose write-ahead log is still beside it (the ``resilient`` preset, recorder killed) is read with the
messages in the log; a file left with a hot rollback journal (its writer killed inside a transaction, its commit
included) is read as last committed, the journal rolled back on a private copy. A file that ends part-way (a copy cut
short, a disk that filled up), or one SQLite calls malformed, is parsed here by the SQLite file format
(https://www.sqlite.org/fileformat.html): ``sqlite_master`` on page 1 names the tables' root pages; the small tables
(``topics``, ``message_definitions``, ``schema``, ``metadata``) are walked from their roots; the ``messages`` rows are
found by scanning every complete page for table-leaf cells, since the interior pages near the root often point past the
cut. Only a light index (timestamp, rowid, topic id, page, cell offset) stays in memory; the payloads are read again
from the memory-mapped file when :meth:`SalvagingSqlite3Reader.messages` yields them.

``integrity.expected`` is this file's ``message_count`` in the bag's metadata.yaml text, which rosbag2 (≥ Jazzy) and
rosbags store in the ``metadata`` table when the writer closes. Without that text the count is unknown (None): rosbag2
numbers the rows 1..n, so the highest id found is only a lower bound (the lost tail may hold any number more); it is
named in ``integrity.problems`` rather than reported as the total. ``integrity.truncated`` is set only when the file
ends short of what its header declares; a full-length file that SQLite calls malformed is salvaged the same way and
its recovered count is reported in ``integrity.problems``.

What a cut cannot leave: a row lives in a leaf page, and SQLite allocates a new leaf (or moves the root's rows into
one) after the overflow pages of the rows before it, so the rows of a leaf page past the cut are lost even when their
overflow chains lie before it (their rowid, topic, timestamp and first payload bytes were in that page).
"""

from __future__ import annotations

import mmap
import shutil
import struct
import tempfile
from bisect import bisect_left
from collections import Counter
from collections.abc import Collection, Generator
from itertools import accumulate, islice
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import apsw
import yaml
from rosbags.interfaces import Connection, ConnectionExtRosbag2, MessageDefinition, MessageDefinitionFormat
from rosbags.rosbag2 import ReaderError
from rosbags.rosbag2.metadata import ReaderMetadata, parse_qos
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Reader

from mono_depth_ros.bag.integrity import StorageIntegrity
from mono_depth_ros.bag.payload import HEAD_BYTES, PayloadHead

if TYPE_CHECKING:
    from rosbags.interfaces.typing import RPath

Value = int | float | str | bytes | None
_MAGIC = b"SQLite format 3\x00"
_LEAF, _INTERIOR = 0x0D, 0x05
_INT_TYPES = frozenset({1, 2, 3, 4, 5, 6, 8, 9})
_WIDTHS = (0, 1, 2, 3, 4, 6, 8, 8, 0, 0)
_FMTMAP = {"ros2msg": MessageDefinitionFormat.MSG, "ros2idl": MessageDefinitionFormat.IDL}
_NO_METADATA = ReaderMetadata(0, 2**63 - 1, 0, 0, None, None, None, None)
_REMEDY = "copy the bag again from its source"
_SMALL_TABLES = ("topics", "schema", "message_definitions", "metadata")
_MSGTYPE_COLUMNS = {
    "name": "topic_type",
    "encoding": "encoding",
    "msgdef": "encoded_message_definition",
    "digest": "type_description_hash",
}


class _Damaged(Exception):
    """A page, cell or record that does not decode."""


class _PastEnd(_Damaged):
    """A page that lies beyond the last complete page of the file."""


class _Geometry(NamedTuple):
    """Page layout from the 100-byte SQLite header; sizes in bytes."""

    size: int  # file size
    page_size: int
    usable: int  # page size less the reserved bytes at each page's end (U)
    declared: int | None  # pages the header declares; None when its count is stale
    encoding: str  # text encoding of the database

    @property
    def held(self) -> int:
        """Complete pages in the file."""
        return self.size // self.page_size

    @property
    def truncated(self) -> bool:
        """The file ends part-way through a page, or holds fewer pages than its header declares."""
        return self.size % self.page_size != 0 or (self.declared is not None and self.declared > self.held)


class _Table(NamedTuple):
    """A table's root page and columns, from ``sqlite_master``."""

    root: int  # root page number
    columns: list[str]
    alias: int | None  # index of the INTEGER PRIMARY KEY column (stored as NULL: its value is the rowid)


class _Row(NamedTuple):
    """One recovered ``messages`` row: sorts by (timestamp ns, rowid)."""

    timestamp: int
    rowid: int
    topic_id: int
    page: int
    offset: int  # of the cell within its page, bytes


def _geometry(head: bytes, size: int) -> _Geometry | None:
    """Page layout from the file's first 100 bytes; None when they are no SQLite header."""
    if len(head) < 100 or not head.startswith(_MAGIC):
        return None
    raw = int.from_bytes(head[16:18], "big")
    page_size = 65536 if raw == 1 else raw
    usable = page_size - head[20]
    if page_size < 512 or page_size & (page_size - 1) or usable < 480:
        return None
    counter, pages, valid_for = (int.from_bytes(head[at : at + 4], "big") for at in (24, 28, 92))
    encoding = {2: "utf-16-le", 3: "utf-16-be"}.get(int.from_bytes(head[56:60], "big"), "utf-8")
    return _Geometry(size, page_size, usable, pages if pages and counter == valid_for else None, encoding)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """The SQLite varint at ``pos`` (1-9 bytes, big-endian) and the position after it."""
    value = 0
    for i in range(9):
        if pos + i >= len(buf):
            raise _Damaged("varint runs past its buffer")
        byte = buf[pos + i]
        if i == 8:
            return (value << 8) | byte, pos + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    raise AssertionError("unreachable")  # pragma: no cover


def _width(serial: int) -> int:
    """Body bytes of a record value of serial type ``serial``."""
    if serial < 10:
        return _WIDTHS[serial]
    if serial < 12:
        raise _Damaged(f"reserved serial type {serial}")
    return (serial - 12) // 2


def _value(serial: int, raw: bytes, encoding: str) -> Value:
    """Decode one record value of serial type ``serial`` from its body bytes."""
    if serial in (0, 8, 9):
        return None if serial == 0 else serial - 8
    if serial == 7:
        return float(struct.unpack(">d", raw)[0])
    if serial < 7:
        return int.from_bytes(raw, "big", signed=True)
    return raw if serial % 2 == 0 else raw.decode(encoding, errors="replace")


def _serials(payload: bytes) -> tuple[list[int], int]:
    """Serial types of a record and the size of its header (where the body starts), bytes."""
    header, pos = _varint(payload, 0)
    serials: list[int] = []
    while pos < header:
        serial, pos = _varint(payload, pos)
        serials.append(serial)
    if pos != header:
        raise _Damaged("record header overruns its size")
    return serials, header


def _record(payload: bytes, encoding: str) -> list[Value]:
    """All values of a complete record."""
    serials, pos = _serials(payload)
    values: list[Value] = []
    for serial in serials:
        width = _width(serial)
        if pos + width > len(payload):
            raise _Damaged("record body overruns its payload")
        values.append(_value(serial, payload[pos : pos + width], encoding))
        pos += width
    return values


def _columns(sql: str) -> _Table:
    """Column names of a ``CREATE TABLE`` statement (root page left 0)."""
    parts, depth, start = [], 0, sql.find("(") + 1
    for i, char in enumerate(sql[start : sql.rfind(")")], start):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(sql[start:i])
            start = i + 1
    parts.append(sql[start : sql.rfind(")")])
    columns: list[str] = []
    alias = None
    for words in (part.split() for part in parts):
        if not words or words[0].upper() in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"):
            continue
        if [word.upper() for word in words[1:2]] == ["INTEGER"] and "PRIMARY KEY" in " ".join(words).upper():
            alias = len(columns)
        columns.append(words[0].strip('"`[]'))
    return _Table(0, columns, alias)


def _text(value: Value) -> str:
    """A text column's value ('' for NULL)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else "" if value is None else str(value)


class _PageFile:
    """Read-only, memory-mapped view of the complete pages of a (possibly truncated) SQLite file."""

    def __init__(self, path: Path, geometry: _Geometry) -> None:
        with path.open("rb") as stream:
            self.data = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
        self.geo = geometry
        self.problems: list[str] = []

    def page(self, number: int) -> bytes:
        """Usable bytes of page ``number`` (1-based)."""
        if number < 1:
            raise _Damaged(f"page number {number}")
        if number > self.geo.held:
            raise _PastEnd(f"page {number} lies past the end of the file")
        start = (number - 1) * self.geo.page_size
        return self.data[start : start + self.geo.usable]

    def cells(self, number: int) -> tuple[int, bytes, tuple[int, ...], int]:
        """Page type, page bytes, cell offsets and right-most child (interior pages; else 0) of a table b-tree page."""
        page = self.page(number)
        base = 100 if number == 1 else 0
        kind = page[base]
        if kind not in (_LEAF, _INTERIOR):
            raise _Damaged(f"page {number} is no table b-tree page (type {kind:#04x})")
        pointers = base + (8 if kind == _LEAF else 12)
        count = int.from_bytes(page[base + 3 : base + 5], "big")
        if pointers + 2 * count > len(page):
            raise _Damaged(f"page {number} declares {count} cells, more than fit")
        right = int.from_bytes(page[base + 8 : base + 12], "big") if kind == _INTERIOR else 0
        return kind, page, struct.unpack_from(f">{count}H", page, pointers), right

    def leaf_cell(self, page: bytes, offset: int) -> tuple[int, int, bytes, int]:
        """Rowid, payload size (bytes), payload bytes held on the page, first overflow page (0: none) of a cell."""
        size, pos = _varint(page, offset)
        rowid, pos = _varint(page, pos)
        usable = self.geo.usable
        local = size
        if size > usable - 35:  # the file format's local-size rule for table leaf cells
            least = (usable - 12) * 32 // 255 - 23
            most = least + (size - least) % (usable - 4)
            local = most if most <= usable - 35 else least
        end = pos + local + (4 if local < size else 0)
        if offset < 8 or end > len(page):
            raise _Damaged("cell overruns its page")
        first = int.from_bytes(page[end - 4 : end], "big") if local < size else 0
        return rowid - (1 << 64) if rowid >= 1 << 63 else rowid, size, page[pos : pos + local], first

    def overflow(self, first: int, remaining: int, keep: bool) -> bytes:
        """Follow the overflow chain from page ``first`` for ``remaining`` payload bytes; the bytes when ``keep``."""
        chunks: list[bytes] = []
        number, step = first, self.geo.usable - 4
        while remaining > 0:
            if number < 2:
                raise _Damaged("overflow chain ends before its payload does")
            if number > self.geo.held:
                raise _PastEnd(f"overflow page {number} lies past the end of the file")
            start = (number - 1) * self.geo.page_size
            take = min(step, remaining)
            if keep:
                chunks.append(self.data[start + 4 : start + 4 + take])
            remaining -= take
            number = int.from_bytes(self.data[start : start + 4], "big")
        if number != 0:
            raise _Damaged("overflow chain runs on past its payload")
        return b"".join(chunks)

    def payload(self, page: bytes, offset: int) -> tuple[int, bytes]:
        """Rowid and complete payload of a leaf cell."""
        rowid, size, local, first = self.leaf_cell(page, offset)
        return rowid, local + self.overflow(first, size - len(local), keep=True)

    def rows(self, table: _Table, name: str) -> list[dict[str, Value]]:
        """Rows of a small table by a tolerant b-tree walk from its root (damaged pages skipped and recorded)."""
        found: dict[int, list[Value]] = {}
        stack, seen = [table.root], set()
        while stack:
            number = stack.pop()
            if number in seen:
                continue
            seen.add(number)
            try:
                kind, page, offsets, right = self.cells(number)
            except _Damaged as err:
                self.problems.append(f"table {name}: {err}; skipped it")
                continue
            if kind == _INTERIOR:
                stack += [right, *(int.from_bytes(page[at : at + 4], "big") for at in offsets)]
                continue
            for offset in offsets:
                try:
                    rowid, payload = self.payload(page, offset)
                    found[rowid] = _record(payload, self.geo.encoding)
                except _Damaged as err:
                    self.problems.append(f"table {name}: a row on page {number}: {err}; skipped it")
        rows = []
        for rowid, values in sorted(found.items()):
            values += [None] * (len(table.columns) - len(values))
            if table.alias is not None and values[table.alias] is None:
                values[table.alias] = rowid
            rows.append(dict(zip(table.columns, values, strict=False)))
        return rows

    def leaf_pages(self) -> Generator[int, None, None]:
        """Numbers of the complete pages after page 1 that begin like a table leaf page."""
        size = self.geo.page_size
        yield from (n for n in range(2, self.geo.held + 1) if self.data[(n - 1) * size] == _LEAF)


def _message_key(local: bytes, size: int, table: _Table, topic_at: int, stamp_at: int) -> tuple[int, int]:
    """(topic id, timestamp ns) of a cell whose payload (``size`` bytes, ``local`` held on the page) is a messages row.

    Raises _Damaged when the cell is no messages row: its record must have the table's columns, NULL for the rowid
    alias, integers for topic_id and timestamp, a blob last, and serial types that add up to the payload size.
    """
    serials, header = _serials(local)
    last = len(table.columns) - 1
    if len(serials) != len(table.columns) or table.alias is None or serials[table.alias] != 0:
        raise _Damaged("not a messages row")
    if serials[last] < 12 or serials[last] % 2 or {serials[topic_at], serials[stamp_at]} - _INT_TYPES:
        raise _Damaged("not a messages row")
    starts = list(accumulate((_width(serial) for serial in serials), initial=header))
    if starts[-1] != size or starts[last] > len(local):
        raise _Damaged("not a messages row")
    topic, stamp = (
        serials[at] - 8 if serials[at] >= 8 else int.from_bytes(local[starts[at] : starts[at + 1]], "big", signed=True)
        for at in (topic_at, stamp_at)
    )
    return topic, stamp


def _int(value: Value) -> int | None:
    """An integer column's value (None for anything else)."""
    return value if isinstance(value, int) else None


def _file_count(info: dict[str, Any], name: str) -> int | None:
    """This file's message count in a bag's metadata.yaml mapping (None when it does not say)."""
    files = [entry for entry in info.get("files") or [] if isinstance(entry, dict)]
    mine = [entry for entry in files if Path(str(entry.get("path", ""))).name == name] or files[:1] * (len(files) == 1)
    if mine:
        count = mine[0].get("message_count")
    else:  # metadata before version 5 has no per-file counts: the total is this file's only for a one-file bag
        count = info.get("message_count") if len(info.get("relative_file_paths") or []) == 1 else None
    return count if isinstance(count, int) else None


def _topic_counts(info: dict[str, Any]) -> dict[str, int]:
    """Topic → message count in a bag's metadata.yaml mapping, when the bag is one file (empty otherwise: a split
    recording's counts are summed over its files, and each file's share is not stored). A topic listed more than once
    (rosbags records one topic on several connections: another type or QoS) is left out: which count is whose cannot
    be told from the name."""
    files = [entry for entry in info.get("files") or [] if isinstance(entry, dict)]
    if max(len(files), len(info.get("relative_file_paths") or [])) != 1:
        return {}
    counts: dict[str, int] = {}
    listed: Counter[str] = Counter()
    for entry in info.get("topics_with_message_count") or []:
        topic = entry.get("topic_metadata") if isinstance(entry, dict) else None
        name, count = (topic.get("name"), entry.get("message_count")) if isinstance(topic, dict) else (None, None)
        if isinstance(name, str):
            listed[name] += 1
            if isinstance(count, int):
                counts[name] = count
    return {name: count for name, count in counts.items() if listed[name] == 1}


def _metadata_info(row: dict[str, Value]) -> dict[str, Any] | None:
    """The bag's metadata.yaml mapping stored in one ``metadata`` row (None when it does not parse as one)."""
    try:
        info = yaml.safe_load(_text(row.get("metadata")))
    except yaml.YAMLError:
        return None
    if isinstance(info, dict):
        info = info.get("rosbag2_bagfile_information", info)
    return info if isinstance(info, dict) else None


MMAP_BYTES = 1 << 40
"""How much of an intact input file SQLite reads through a memory map (SQLite caps it at its build's maximum, 2 GiB
by default; pages past it are read as usual)."""


def _journal_of(path: Path) -> Path:
    """The rollback journal SQLite keeps beside ``path`` during a transaction (``name.db3-journal``)."""
    return path.with_name(path.name + "-journal")


def _grown_since(journal: Path, geometry: _Geometry) -> bool:
    """Whether a file shorter than its header declares holds every page it had when the journal's transaction began
    (the journal header's initial page count, bytes 16-19): its writer was killed inside the commit, after the
    header and before the pages past the old end, and rolling the journal back gives the last committed file. A
    file cut shorter than that (a copy cut short) is salvaged instead."""
    try:
        with journal.open("rb") as stream:
            head = stream.read(28)
    except OSError:
        return False
    if len(head) < 28 or head[:8] != bytes.fromhex("d9d505f920a163d7"):
        return False
    return geometry.size >= int.from_bytes(head[16:20], "big") * geometry.page_size


class SalvagingSqlite3Reader(Sqlite3Reader):
    """rosbags' sqlite3 reader, but a truncated or malformed file yields every complete message it still holds."""

    def __init__(self, path: RPath) -> None:
        """Set up the reader for one ``.db3`` file (nothing is read before :meth:`open`)."""
        super().__init__(path)
        self.integrity = StorageIntegrity(Path(str(path)), unverified=True)
        self._file: _PageFile | None = None
        self._index: list[_Row] = []
        self._topics: dict[int, str] = {}
        self._rollback_copy: Path | None = None  # the private copy a hot journal was rolled back on (see open)
        self.head_topics: frozenset[str] = frozenset()
        """Topics whose messages are read only as far as their header (:mod:`.payload`); set by the bag reader."""

    def open(self) -> None:
        """Open the file: by SQLite when intact, else salvage it page by page (ReaderError when nothing is usable)."""
        self.integrity = StorageIntegrity(Path(str(self.path)), unverified=True)
        if not isinstance(self.path, Path):  # a remote path: no header check, no salvage
            super().open()
            return
        try:
            with self.path.open("rb") as stream:
                geometry = _geometry(stream.read(100), self.path.stat().st_size)
        except OSError as err:
            raise ReaderError(f"Cannot open database {self.path}: {err}") from err
        if geometry is None:
            raise ReaderError(f"{self.path} is no SQLite database (no 'SQLite format 3' header); {_REMEDY}")
        if not geometry.truncated and self._open_with_wal():
            return
        killed_in_commit = geometry.truncated and _grown_since(_journal_of(self.path), geometry)
        if (not geometry.truncated or killed_in_commit) and self._open_rolled_back():
            return
        reason = None
        if not geometry.truncated:
            try:
                super().open()
                return
            except ReaderError as err:
                reason = f"SQLite cannot read it ({err})"
        self._salvage(self.path, geometry, reason)

    def _open_with_wal(self) -> bool:
        """Open a file whose write-ahead log is still beside it (``name.db3-wal``), with the messages held there.

        The ``resilient`` storage preset records in WAL mode; a recorder that did not close the file (killed, a power
        cut: what the preset is for) leaves the last messages, and topics first seen since the last checkpoint, in
        the ``-wal`` file. rosbags opens a file ``immutable``, which ignores the log: those messages were left out
        without a word. Here SQLite reads the file with its log, read-only: the file and the log are left as they
        are (SQLite creates the log's index, ``name.db3-shm``, when the recorder's is not beside them). Returns False
        (the caller opens it as rosbags does) when there is no log, and when SQLite cannot use it (then what it holds
        is reported as not read).
        """
        path = self.path
        if not isinstance(path, Path):
            return False
        wal = path.with_name(path.name + "-wal")
        if not wal.is_file() or wal.stat().st_size == 0:
            return False
        try:
            self.dbconn = apsw.Connection(
                f"file:{self.path}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
            )
            self._read_tables()
        except (apsw.Error, ReaderError) as err:
            if self.dbconn is not None:
                self.dbconn.close()
                self.dbconn = None
            self.integrity.problems.append(
                f"{wal.name}: the recorder did not close {path.name}; SQLite cannot read its write-ahead log "
                f"({type(err).__name__}: {err}): the messages written last ({wal.stat().st_size} bytes) are not read"
            )
            return False
        return True

    def _open_rolled_back(self) -> bool:
        """Open a file left with a hot rollback journal (``name.db3-journal``): its writer was killed inside a
        transaction (a SIGKILLed or out-of-memory-killed ``mono-depth bag``, which commits frames in batches).

        The file may then hold pages of the unfinished transaction, which only the journal can undo: rosbags opens it
        ``immutable`` and reads them (a depth image without its camera_info and cloud), and SQLite refuses to open it
        read-only. A writer killed inside its commit, after the header with the new page count and before the pages
        past the file's old end, leaves a file shorter than its header declares: it is rolled back the same way (it
        was salvaged page by page as a truncated file, with the unfinished transaction's messages). Here SQLite rolls
        the journal back on a private copy of both files (in ``TMPDIR``, removed at :meth:`close`), so every
        committed message is read and nothing of the last transaction; the file and the journal are left as they
        are. Returns False when there is no journal, or when the copy cannot be made or read (reported; the caller
        then opens the file as rosbags does).
        """
        path = self.path
        if not isinstance(path, Path):
            return False
        journal = _journal_of(path)
        if not journal.is_file() or journal.stat().st_size == 0:
            return False
        folder = Path(tempfile.mkdtemp(prefix="mono_depth_rollback_"))
        try:
            shutil.copyfile(path, folder / path.name)
            shutil.copyfile(journal, folder / journal.name)
            self.dbconn = apsw.Connection(str(folder / path.name))  # read-write: the first read rolls it back
            self._read_tables()
        except (OSError, apsw.Error, ReaderError) as err:
            if self.dbconn is not None:
                self.dbconn.close()
                self.dbconn = None
            shutil.rmtree(folder, ignore_errors=True)
            self.integrity.problems.append(
                f"{journal.name}: {path.name} was left inside a transaction and it could not be rolled back on a copy "
                f"({type(err).__name__}: {err}); messages of that last transaction may be read part-written"
            )
            return False
        self._rollback_copy = folder
        return True

    def _open(self) -> None:
        """rosbags' ``_open``, but a type whose definition Jazzy's recorder did not find is read without one.

        rosbag2 (Jazzy and later) stores a ``message_definitions`` row for every recorded type, with encoding ``''``
        when it finds no definition for the type and ``'unknown'`` when it cannot parse a name in it. rosbags knows
        only ``ros2msg`` and ``ros2idl`` and raises KeyError for the whole file; here the topics, counts and times are
        read by the same queries, and such a type gets no definition (as a type without a row gets in rosbags).

        The file is read through a memory map (:data:`MMAP_BYTES`): a payload's overflow pages are copied straight
        from the map into its buffer, not read into SQLite's page cache one ``pread`` per page first (rosbags opens
        the file ``immutable``: it does not change while it is read).
        """
        assert self.dbconn is not None
        self.dbconn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        try:
            super()._open()
        except KeyError:
            self._read_tables()

    def _read_tables(self) -> None:
        """Fill schema, msgtypes, connections and metadata through :attr:`dbconn` by rosbags' queries.

        Raises:
            ReaderError: the file lacks the messages or topics table.
        """
        db = self.dbconn
        assert db is not None
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if missing := {"messages", "topics"} - tables:
            raise ReaderError(f"Cannot open database {self.path}: no {' or '.join(sorted(missing))} table")
        topic_columns = {row[1] for row in db.execute("PRAGMA table_info(topics)")}
        if "schema" in tables:
            self.schema = int(next(iter(db.execute("SELECT schema_version FROM schema")), (-1,))[0])
        else:
            self.schema = 2 if "offered_qos_profiles" in topic_columns else 1
        self.msgtypes = []
        if self.schema >= 4 and "message_definitions" in tables:
            self.msgtypes = [
                {key: _text(value) for key, value in zip(_MSGTYPE_COLUMNS, row, strict=True)}
                for row in db.execute(
                    f"SELECT {', '.join(_MSGTYPE_COLUMNS.values())} FROM message_definitions ORDER BY id"
                )
            ]
        wanted = ("id", "name", "type", "serialization_format", "offered_qos_profiles", "type_description_hash")
        columns = tuple(column for column in wanted if column in topic_columns)
        query = (
            f"SELECT {', '.join('topics.' + column for column in columns)}, count(messages.id) FROM topics "
            "LEFT JOIN messages ON topics.id == messages.topic_id GROUP BY topics.id ORDER BY topics.id"
        )
        self.connections = [
            self._connection(dict(zip(columns, row[:-1], strict=True)), row[-1]) for row in db.execute(query)
        ]
        ((start, end, count),) = db.execute("SELECT MIN(timestamp), MAX(timestamp) + 1, COUNT(*) FROM messages")
        self.metadata = _NO_METADATA
        if count:
            self.metadata = ReaderMetadata(end - start, start, end, count, None, None, None, None)

    def _salvage(self, path: Path, geometry: _Geometry, reason: str | None) -> None:
        """Read what the file holds without SQLite; fills connections, metadata and integrity."""
        why = f" ({reason})" if reason else ""
        if geometry.held < 1:
            raise ReaderError(f"{path} ends at byte {geometry.size}, inside its first page{why}; {_REMEDY}")
        self._file = file = _PageFile(path, geometry)
        try:
            master = {
                _text(row["name"]): _columns(_text(row["sql"]))._replace(root=_int(row["rootpage"]) or 0)
                for row in file.rows(_Table(1, ["type", "name", "tbl_name", "rootpage", "sql"], None), "sqlite_master")
                if row["type"] == "table"
            }
            if missing := {"topics", "messages"} - set(master):
                raise ReaderError(f"{path}: no {' or '.join(sorted(missing))} table can be recovered{why}; {_REMEDY}")
            small = {name: file.rows(master[name], name) for name in _SMALL_TABLES if name in master}
            if not (topics := [row for row in small["topics"] if _int(row.get("id")) is not None]):
                lost = "; ".join(file.problems) or "the table is empty"
                raise ReaderError(f"{path}: no topics row can be recovered ({lost}){why}; {_REMEDY}")
            self._topics = {_int(row["id"]) or 0: _text(row.get("name")) for row in topics}
            if "schema" in master:
                self.schema = (_int(small["schema"][0].get("schema_version")) or 0) if small["schema"] else -1
            else:
                self.schema = 2 if "offered_qos_profiles" in master["topics"].columns else 1
            self.msgtypes = [
                {key: _text(row.get(column)) for key, column in _MSGTYPE_COLUMNS.items()}
                for row in (small.get("message_definitions", []) if self.schema >= 4 else [])
            ]
            self._scan(path, master["messages"])
            counts = Counter(row.topic_id for row in self._index)
            listed = next(filter(None, map(self._listed, reversed(small.get("metadata", [])))), {})
            rows_of = Counter(_text(row.get("name")) for row in topics)  # a topic on one connection only (as above)
            listed = {name: count for name, count in listed.items() if rows_of[name] == 1}
            self.connections = [  # a topic's count is the larger of what was found and what the file listed
                self._connection(row, max(counts[_int(row["id"]) or 0], listed.get(_text(row.get("name")), 0)))
                for row in topics
            ]
            stamps = (self._index[0].timestamp, max(row.timestamp for row in self._index) + 1) if self._index else None
            self.metadata = _NO_METADATA
            if stamps:
                self.metadata = ReaderMetadata(stamps[1] - stamps[0], *stamps, len(self._index), None, None, None, None)
            self._report(geometry, reason, small.get("metadata", []))
        except BaseException:
            self.close()
            raise

    def _scan(self, path: Path, table: _Table) -> None:
        """Index every complete messages row of the file's table-leaf pages; count incomplete ones as skipped."""
        assert self._file
        file = self._file
        if not {"topic_id", "timestamp"} <= set(table.columns):
            raise ReaderError(f"{path}: its messages table lacks topic_id/timestamp columns; {_REMEDY}")
        topic_at, stamp_at = table.columns.index("topic_id"), table.columns.index("timestamp")
        found: dict[int, _Row] = {}
        lost: dict[int, int] = {}  # rowid -> topic id of rows whose overflow chain is cut or broken
        for number in file.leaf_pages():
            try:
                _, page, offsets, _ = file.cells(number)
            except _Damaged:
                continue
            for offset in offsets:
                try:
                    rowid, size, local, first = file.leaf_cell(page, offset)
                    topic, stamp = _message_key(local, size, table, topic_at, stamp_at)
                except _Damaged:
                    continue
                if topic not in self._topics or rowid in found:
                    continue  # another table's row, or a second copy (a stale page on the free list)
                try:
                    file.overflow(first, size - len(local), keep=False)
                except _Damaged:
                    lost[rowid] = topic
                    continue
                found[rowid] = _Row(stamp, rowid, topic, number, offset)
        for rowid, topic in lost.items():
            if rowid not in found:
                self.integrity.skip(self._topics[topic], 1)
        self._index = sorted(found.values())

    def _connection(self, row: dict[str, Value], count: int) -> Connection:
        """The rosbags connection of one topics row with ``count`` recovered messages."""
        msgtype = _text(row.get("type"))
        definition = next((x for x in self.msgtypes if x["name"] == msgtype), None)
        msgdef = MessageDefinition(MessageDefinitionFormat.NONE, "")
        if definition and definition["encoding"] in _FMTMAP:
            msgdef = MessageDefinition(_FMTMAP[definition["encoding"]], definition["msgdef"])
        try:
            qos = parse_qos(_text(row.get("offered_qos_profiles")) if self.schema >= 2 else "")
        except ReaderError as err:
            self.integrity.problems.append(f"topic {_text(row.get('name'))}: {err}; QoS left empty")
            qos = []
        digest = _text(row.get("type_description_hash")) if self.schema >= 4 else ""
        ext = ConnectionExtRosbag2(_text(row.get("serialization_format")), qos)
        return Connection(_int(row["id"]) or 0, _text(row.get("name")), msgtype, msgdef, digest, count, ext, self)

    def _report(self, geometry: _Geometry, reason: str | None, metadata: list[dict[str, Value]]) -> None:
        """Fill integrity: recovered and expected counts, where the file ends, what SQLite said."""
        assert self._file
        integrity = self.integrity
        integrity.truncated, integrity.recovered = geometry.truncated, len(self._index)
        integrity.expected = next((n for n in map(self._expected, reversed(metadata)) if n is not None), None)
        line = (
            f"the file ends at byte {geometry.size}: {geometry.held} complete pages of {geometry.page_size} bytes,"
            f" {'an unknown number' if geometry.declared is None else geometry.declared} declared by its header"
        )
        if integrity.expected is None and self._index:
            line += f"; message ids found run to {max(row.rowid for row in self._index)} (at least that many written)"
        if reason:
            total = "an unknown number" if integrity.expected is None else integrity.expected
            line = f"{reason}: recovered {integrity.recovered} of {total} messages page by page; {line}"
        integrity.problems += [line, *self._file.problems]

    def _expected(self, row: dict[str, Value]) -> int | None:
        """This file's message count in one metadata row's YAML (None when it does not say)."""
        info = _metadata_info(row)
        return _file_count(info, Path(str(self.path)).name) if info is not None else None

    @staticmethod
    def _listed(row: dict[str, Value]) -> dict[str, int]:
        """Topic → message count in one metadata row's YAML (empty when it does not say for this file alone)."""
        info = _metadata_info(row)
        return _topic_counts(info) if info is not None else {}

    def messages(
        self,
        connections: Collection[Connection],
        start: int | None = None,
        stop: int | None = None,
    ) -> Generator[tuple[Connection, int, bytes], None, None]:
        """Yield (connection, timestamp ns, raw bytes) of the given connections, start <= t < stop, by time.

        Messages on :attr:`head_topics` longer than :data:`~.payload.HEAD_BYTES` come as a
        :class:`~.payload.PayloadHead` from an intact file (a salvaged one always yields whole payloads).
        """
        if self._file is None:
            yield from self._blob_messages(connections, start, stop)
            return
        file, ids = self._file, {x.id for x in connections}
        connmap = {x.id: x for x in self.connections}
        first = 0 if start is None else bisect_left(self._index, start, key=attrgetter("timestamp"))
        for row in islice(self._index, first, None):
            if stop is not None and row.timestamp >= stop:
                break
            if row.topic_id not in ids:
                continue
            try:
                _, payload = file.payload(file.page(row.page), row.offset)
                data = _record(payload, file.geo.encoding)[-1]
            except _Damaged as err:
                raise ReaderError(
                    f"{self.path}: message {row.rowid} no longer decodes ({err}); was it changed?"
                ) from err
            yield connmap[row.topic_id], row.timestamp, data if isinstance(data, bytes) else b""

    def _blob_messages(
        self, connections: Collection[Connection], start: int | None, stop: int | None
    ) -> Generator[tuple[Connection, int, bytes], None, None]:
        """rosbags' query and order (timestamp, then rowid), each payload read through SQLite's incremental blob I/O.

        ``SELECT data`` makes SQLite assemble every payload in a buffer of its own before apsw copies it into a new
        ``bytes``: two fresh multi-megabyte allocations per image or scan. A blob handle reads the pages straight into
        the one buffer returned, and reads only the head of a message whose topic asks for no more.
        """
        db = self.dbconn
        assert db
        ids = tuple({x.id for x in connections})
        query = [
            "SELECT topics.id, messages.timestamp, messages.id",
            "FROM messages JOIN topics ON messages.topic_id=topics.id",
            f"WHERE topics.id IN ({','.join('?' for _ in ids)})",
        ]
        args: list[int] = list(ids)
        if start is not None:
            query.append("AND messages.timestamp >= ?")
            args.append(start)
        if stop is not None:
            query.append("AND messages.timestamp < ?")
            args.append(stop)
        query.append("ORDER BY messages.timestamp, messages.id")
        connmap = {x.id: x for x in self.connections}
        heads = {x.id for x in self.connections if x.topic in self.head_topics}
        for cid, timestamp, rowid in db.execute(" ".join(query), args):
            # a bytearray where rosbags' protocol says bytes: every reader here takes any bytes-like payload
            yield connmap[cid], timestamp, cast("bytes", self._payload(rowid, head=cid in heads))

    def _payload(self, rowid: int, *, head: bool = False) -> bytes | bytearray:
        """The ``data`` of messages row ``rowid`` (a :class:`PayloadHead` when ``head`` and it is longer).

        A new ``bytearray``: the message's own buffer, so that arrays decoded from it may be writable views.
        """
        db = self.dbconn
        if db is None:
            raise ReaderError(f"{self.path} is closed; message {rowid} can no longer be read")
        try:
            blob = db.blob_open("main", "messages", "data", rowid, False)
        except apsw.Error:  # not a blob (NULL or an integer): as SELECT returns it
            (data,) = next(db.execute("SELECT data FROM messages WHERE id = ?", (rowid,)))
            return data if isinstance(data, bytes) else b""
        with blob:
            size = blob.length()
            if head and size > HEAD_BYTES:
                payload: bytes | bytearray = PayloadHead(blob.read(HEAD_BYTES), size, lambda: self._payload(rowid))
            else:
                payload = bytearray(size)
                blob.read_into(payload)
        return payload

    def close(self) -> None:
        """Close the file (SQLite connection or memory map; a rolled-back copy is removed)."""
        file, self._file = self._file, None
        if file is None:
            super().close()
            copy, self._rollback_copy = self._rollback_copy, None
            if copy is not None:
                shutil.rmtree(copy, ignore_errors=True)
            return
        file.data.close()
        self._index, self._topics = [], {}
        self.schema = 0
        self.msgtypes.clear()
        self.connections.clear()
        self.metadata = _NO_METADATA
