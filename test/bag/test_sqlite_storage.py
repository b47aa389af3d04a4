"""SalvagingSqlite3Reader: intact .db3 files read exactly as rosbags reads them; cut files yield every complete message.

The ground truth for a cut file comes from SQLite itself (its ``dbstat`` table, on the intact file): a message is
recoverable exactly when its leaf page and all its overflow pages lie before the cut, and it is counted as skipped when
its leaf page survives but part of its overflow chain does not.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import apsw
import numpy as np
import pytest
from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import ReaderError, StoragePlugin, Writer
from rosbags.rosbag2.storage_sqlite3 import Sqlite3Reader
from rosbags.typesys import Stores, get_typestore

from mono_depth_ros.bag.payload import HEAD_BYTES, PayloadHead, whole
from mono_depth_ros.bag.sqlite_storage import SalvagingSqlite3Reader

from .support import VENDOR_TOPIC, VENDOR_TYPE, record_on_jazzy, write_tiny_bag

TYPESTORE = get_typestore(Stores.ROS2_HUMBLE)
START_NS = 1_700_000_000_000_000_000
TOTAL = 300  # messages: two of three on /chatter (tiny), one of three on /camera/image_raw (60-200 kB), none on /idle
Message = tuple[int, int, bytes]  # topic id, timestamp ns, raw CDR bytes


@dataclass(frozen=True)
class Bag:
    """An intact .db3 and what SQLite says about it."""

    db3: Path
    rows: dict[int, Message]  # rowid -> message
    pages: dict[int, tuple[int, int]]  # rowid -> (leaf page, last page the row needs: its leaf or an overflow page)
    page_size: int

    def expected(self, held: int) -> list[Message]:
        """The messages whose pages all lie within the first ``held`` pages, in rosbags' order (timestamp, rowid)."""
        ids = [rowid for rowid, (_, last) in self.pages.items() if last <= held]
        return [self.rows[rowid] for rowid in sorted(ids, key=lambda rowid: (self.rows[rowid][1], rowid))]

    def cut_chains(self, held: int) -> int:
        """Messages whose leaf page lies within the first ``held`` pages but whose overflow chain does not."""
        return sum(1 for leaf, last in self.pages.values() if leaf <= held < last)


def _write_bag(folder: Path) -> None:
    string, image = TYPESTORE.types["std_msgs/msg/String"], TYPESTORE.types["sensor_msgs/msg/Image"]
    header = TYPESTORE.types["std_msgs/msg/Header"]
    stamp = TYPESTORE.types["builtin_interfaces/msg/Time"](sec=0, nanosec=0)
    rng = np.random.default_rng(7)
    with Writer(folder, version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        chatter = writer.add_connection("/chatter", string.__msgtype__, typestore=TYPESTORE)
        camera = writer.add_connection("/camera/image_raw", image.__msgtype__, typestore=TYPESTORE)
        writer.add_connection("/idle", string.__msgtype__, typestore=TYPESTORE)
        for i in range(TOTAL):
            # recorded out of timestamp order (jitter of ±25 ms at 10 ms steps), with ties across topics
            t_ns = START_NS + i * 10_000_000 + int(rng.integers(-25, 26)) * 1_000_000 * (i % 10 != 9)
            if i % 3 == 0:
                width = int(rng.integers(100, 334))  # 60-200 kB of rgb8 in 200 rows
                pixels = rng.integers(0, 256, 200 * width * 3, dtype=np.uint8)
                msg = image(header(stamp, "camera"), 200, width, "rgb8", 0, width * 3, pixels)
                writer.write(camera, t_ns, TYPESTORE.serialize_cdr(msg, image.__msgtype__).tobytes())
            else:
                writer.write(chatter, t_ns, TYPESTORE.serialize_cdr(string(f"hello {i}"), string.__msgtype__).tobytes())


def _message_pages(db3: Path) -> dict[int, tuple[int, int]]:
    """rowid -> (leaf page, last page of the row) of the messages table, from SQLite's dbstat virtual table."""
    conn = apsw.Connection(str(db3), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        stat = list(conn.execute("SELECT path, pageno, pagetype, ncell FROM dbstat WHERE name = 'messages'"))
        rowids = [rowid for (rowid,) in conn.execute("SELECT id FROM messages ORDER BY id")]
    except apsw.SQLError as err:  # pragma: no cover - an SQLite built without dbstat
        pytest.skip(f"SQLite has no dbstat table: {err}")
    finally:
        conn.close()
    chain_end: dict[str, int] = {}  # overflow paths read "<leaf path><cell, 3 hex digits>+<index>"
    for path, pageno, kind, _ in stat:
        if kind == "overflow":
            cell = path.split("+")[0]
            chain_end[cell] = max(chain_end.get(cell, 0), pageno)
    cells = [
        (pageno, max(pageno, chain_end.get(f"{path}{cell:03x}", 0)))
        for path, pageno, kind, ncell in sorted(stat)
        if kind == "leaf"
        for cell in range(ncell)
    ]
    assert len(cells) == len(rowids)  # leaves in path order hold the rows in rowid order
    return dict(zip(rowids, cells, strict=True))


def _bag_of(db3: Path) -> Bag:
    with sqlite3.connect(db3) as conn:
        rows = {rowid: (topic, t_ns, data) for rowid, topic, t_ns, data in conn.execute("SELECT * FROM messages")}
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    return Bag(db3, rows, _message_pages(db3), page_size)


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> Bag:
    folder = tmp_path_factory.mktemp("sqlite") / "bag"
    _write_bag(folder)
    return _bag_of(folder / "bag.db3")


def _read(reader: Sqlite3Reader, start: int | None = None, stop: int | None = None) -> list[Message]:
    return [(conn.id, t_ns, data) for conn, t_ns, data in reader.messages(reader.connections, start, stop)]


def _fields(reader: Sqlite3Reader) -> list[tuple[object, ...]]:
    return [tuple(conn)[:-1] for conn in reader.connections]  # all but the owner


def _cut(bag: Bag, tmp_path: Path, size: int, name: str = "cut.db3") -> Path:
    path = tmp_path / name
    path.write_bytes(bag.db3.read_bytes()[:size])
    return path


@pytest.mark.parametrize("encoding", ["", "unknown"])
def test_a_type_jazzy_recorded_without_a_definition_is_read_without_one(tmp_path: Path, encoding: str) -> None:
    """Jazzy's recorder stores a message_definitions row with encoding '' (no definition found) or 'unknown' (a type
    name it could not parse); rosbags raises KeyError for the whole file. Read as rosbags reads the same file without
    that row: the type has no definition, everything else is as recorded."""
    write_tiny_bag(tmp_path / "tiny", 2, distro="jazzy")
    (db3,) = record_on_jazzy(tmp_path / "tiny", tmp_path / "jazzy", "sqlite3", encoding).glob("*.db3")
    with pytest.raises(KeyError):  # what a Jazzy user got (as "the bag is truncated or corrupt")
        Sqlite3Reader(db3).open()
    without_row = tmp_path / "without_row.db3"
    without_row.write_bytes(db3.read_bytes())
    with closing(sqlite3.connect(without_row)) as db, db:
        db.execute("DELETE FROM message_definitions WHERE topic_type = ?", (VENDOR_TYPE,))
    reference = Sqlite3Reader(without_row)
    reference.open()
    reader = SalvagingSqlite3Reader(db3)
    reader.open()
    try:
        assert _fields(reader) == _fields(reference)
        assert reader.metadata == reference.metadata
        assert _read(reader) == _read(reference)
        (vendor,) = [c for c in reader.connections if c.topic == VENDOR_TOPIC]
        assert (vendor.msgtype, vendor.msgdef.format, vendor.msgcount) == (VENDOR_TYPE, MessageDefinitionFormat.NONE, 1)
        image = next(c for c in reader.connections if c.topic == "/camera/image_raw")
        assert image.msgdef.format == MessageDefinitionFormat.MSG and image.msgcount == 2
        assert image.ext.offered_qos_profiles == reference.connections[image.id - 1].ext.offered_qos_profiles
        assert not reader.integrity.damaged
    finally:
        reader.close()
        reference.close()


def test_intact_file_reads_as_rosbags_does(bag: Bag) -> None:
    reference = Sqlite3Reader(bag.db3)
    reference.open()
    reader = SalvagingSqlite3Reader(bag.db3)
    reader.open()
    assert _fields(reader) == _fields(reference)
    assert reader.metadata == reference.metadata
    assert _read(reader) == _read(reference) == bag.expected(len(bag.db3.read_bytes()) // bag.page_size)
    assert [c.msgcount for c in reader.connections] == [200, 100, 0]
    assert not reader.integrity.truncated and not reader.integrity.damaged
    reader.close()
    reference.close()


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("mid_page", [False, True])
def test_cut_file_yields_every_complete_message(bag: Bag, tmp_path: Path, fraction: float, mid_page: bool) -> None:
    size = bag.db3.stat().st_size
    cut = int(size * fraction) // bag.page_size * bag.page_size + (1234 if mid_page else 0)
    held = cut // bag.page_size
    reader = SalvagingSqlite3Reader(_cut(bag, tmp_path, cut))
    reader.open()
    got = _read(reader)
    expected = bag.expected(held)
    assert got == expected  # byte for byte, in (timestamp, rowid) order, nothing more and nothing less
    # the light index costs the rows whose leaf page lies past the cut: at most a page of tiny rows, so >= 90 %
    assert len(expected) >= 0.9 * fraction * TOTAL
    integrity = reader.integrity
    assert integrity.truncated and integrity.recovered == len(got)
    assert integrity.expected == TOTAL  # from the metadata table's YAML (written when the bag closed)
    assert sum(integrity.skipped.values()) == bag.cut_chains(held)
    assert set(integrity.skipped) <= {"/camera/image_raw"}
    assert integrity.problems[0].startswith(f"the file ends at byte {cut}: {held} complete pages of {bag.page_size}")
    assert f"recovered {len(got)} of {TOTAL} messages" in integrity.lines()[0]
    # a topic's count is what the file listed when it was closed (the metadata table), so that a reader sees how
    # many of its messages the cut lost; what was found is integrity.recovered
    assert [(c.topic, c.msgcount) for c in reader.connections] == [
        ("/chatter", 2 * TOTAL // 3),
        ("/camera/image_raw", TOTAL // 3),
        ("/idle", 0),
    ]
    stamps = [t_ns for _, t_ns, _ in got]
    assert reader.metadata.message_count == len(got)
    assert (reader.metadata.start_time, reader.metadata.end_time) == (min(stamps), max(stamps) + 1)
    reader.close()
    assert reader.connections == []


def test_salvage_reads_a_malformed_file_like_rosbags(bag: Bag, tmp_path: Path) -> None:
    """SQLite refuses a file whose messages root page is broken; the page scan does not need that page."""
    with sqlite3.connect(bag.db3) as conn:
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'messages'").fetchone()
    conn.close()
    data = bytearray(bag.db3.read_bytes())
    data[(root - 1) * bag.page_size] = 0x02  # an index interior page: not what the table's root must be
    broken = tmp_path / "broken.db3"
    broken.write_bytes(bytes(data))
    reference = Sqlite3Reader(bag.db3)
    reference.open()
    reader = SalvagingSqlite3Reader(broken)
    reader.open()
    assert _fields(reader) == _fields(reference) and reader.metadata == reference.metadata
    assert _read(reader) == _read(reference)
    assert not reader.integrity.truncated
    assert reader.integrity.problems[0].startswith("SQLite cannot read it (Cannot open database")
    assert f"recovered {TOTAL} of {TOTAL} messages page by page" in reader.integrity.problems[0]
    reader.close()
    reference.close()


def test_filters_by_time_and_connection_in_salvage_mode(bag: Bag, tmp_path: Path) -> None:
    size = bag.db3.stat().st_size
    reader = SalvagingSqlite3Reader(_cut(bag, tmp_path, size * 4 // 5 + 77))
    reader.open()
    everything = _read(reader)
    start, stop = everything[40][1], everything[150][1]
    assert _read(reader, start, stop) == [m for m in everything if start <= m[1] < stop]
    assert _read(reader, start=start) == [m for m in everything if m[1] >= start]
    camera = [c for c in reader.connections if c.topic == "/camera/image_raw"]
    got = [(c.topic, t_ns) for c, t_ns, _ in reader.messages(camera, stop=stop)]
    assert got == [("/camera/image_raw", m[1]) for m in everything if m[0] == 2 and m[1] < stop]
    assert list(reader.messages([])) == []  # as rosbags' storage: no connections, no messages
    reader.close()


def test_unknown_total_without_the_metadata_row(bag: Bag, tmp_path: Path) -> None:
    """A writer that died never wrote the metadata row: the total is unknown, the highest id only a lower bound."""
    crashed = tmp_path / "crashed.db3"
    crashed.write_bytes(bag.db3.read_bytes())
    with sqlite3.connect(crashed) as conn:
        conn.execute("DELETE FROM metadata")
    conn.close()
    data = crashed.read_bytes()
    crashed.write_bytes(data[: len(data) // 2 + 5])
    reader = SalvagingSqlite3Reader(crashed)
    reader.open()
    integrity = reader.integrity
    assert integrity.truncated and integrity.expected is None and integrity.recovered > 0
    highest = max(rowid for rowid, (_, last) in bag.pages.items() if last <= (len(data) // 2) // bag.page_size)
    assert integrity.problems[0].endswith(f"message ids found run to {highest} (at least that many written)")
    assert "an unknown number" in integrity.lines()[0]
    recovered = Counter(c.topic for c, _, _ in reader.messages(reader.connections))
    assert {c.topic: c.msgcount for c in reader.connections} == {"/idle": 0, **recovered}  # nothing listed them
    reader.close()


def test_unreadable_files_name_the_file(bag: Bag, tmp_path: Path) -> None:
    not_sqlite = tmp_path / "notes.db3"
    not_sqlite.write_bytes(b"just some text, not a database\n" * 200)
    first_page = _cut(bag, tmp_path, bag.page_size - 1, "first_page.db3")
    no_topics = _cut(bag, tmp_path, 3 * bag.page_size + 99, "no_topics.db3")  # the topics table's root is page 4
    other = tmp_path / "other.db3"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO things (name) VALUES (?)", [("x" * 500,)] * 50)
    conn.close()
    other.write_bytes(other.read_bytes()[:-100])
    cases = [
        (not_sqlite, "no SQLite database"),
        (first_page, "inside its first page"),
        (other, "no messages or topics table can be recovered"),
        (no_topics, r"no topics row can be recovered \(table topics: page 4 lies past the end of the file"),
        (tmp_path / "empty.db3", "no SQLite database"),
    ]
    (tmp_path / "empty.db3").write_bytes(b"")
    for path, reason in cases:
        with pytest.raises(ReaderError, match=reason) as caught:
            SalvagingSqlite3Reader(path).open()
        assert str(path) in str(caught.value)


def test_cut_kitti_bag(tmp_path: Path, kitti_object_dir: Path) -> None:
    """Three real KITTI frames (1.4 MB images, 2 MB LiDAR clouds, tf_static, camera info) cut at 60 %."""
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    write_kitti_bag(tmp_path / "in", load_kitti_frames(kitti_object_dir), prediction="metric")
    (db3,) = (tmp_path / "in").glob("*.db3")
    kitti = _bag_of(db3)
    cut = int(db3.stat().st_size * 0.6)
    reader = SalvagingSqlite3Reader(_cut(kitti, tmp_path, cut))
    reader.open()
    got = _read(reader)
    assert got == kitti.expected(cut // kitti.page_size) and len(got) >= 0.5 * len(kitti.rows)
    assert reader.integrity.expected == len(kitti.rows) and reader.integrity.recovered == len(got)
    reader.close()


def test_head_topics_read_only_the_head_and_the_rest_on_demand(bag: Bag, tmp_path: Path) -> None:
    """Images on a head topic come as their first HEAD_BYTES (and the whole payload on request); the rest whole."""
    reader = SalvagingSqlite3Reader(bag.db3)
    reader.open()
    reader.head_topics = frozenset({"/camera/image_raw"})
    got = list(reader.messages(reader.connections))
    reference = bag.expected(len(bag.db3.read_bytes()) // bag.page_size)
    assert [(c.id, t_ns) for c, t_ns, _ in got] == [(topic, t_ns) for topic, t_ns, _ in reference]
    heads = [(raw, data) for (_, _, raw), (topic, _, data) in zip(got, reference, strict=True) if topic == 2]
    assert heads and all(isinstance(raw, PayloadHead) for raw, _ in heads)
    for raw, data in heads:
        assert isinstance(raw, PayloadHead)
        assert (bytes(raw), raw.size, raw.full(), whole(raw)) == (data[:HEAD_BYTES], len(data), data, data)
    assert all(raw == data for (_, _, raw), (topic, _, data) in zip(got, reference, strict=True) if topic != 2)
    reader.close()
    with pytest.raises(ReaderError, match="is closed"):
        heads[0][0].full()


def test_a_payload_that_is_no_blob_reads_as_select_does(bag: Bag, tmp_path: Path) -> None:
    odd = tmp_path / "odd.db3"
    odd.write_bytes(bag.db3.read_bytes())
    with sqlite3.connect(odd) as conn:
        conn.execute("UPDATE messages SET data = 7 WHERE id = 1")
    conn.close()
    reader = SalvagingSqlite3Reader(odd)
    reader.open()
    by_time = {t_ns: raw for _, t_ns, raw in reader.messages(reader.connections)}
    assert by_time[bag.rows[1][1]] == b""
    assert by_time[bag.rows[2][1]] == bag.rows[2][2]
    reader.close()


def test_a_file_left_with_its_write_ahead_log_is_read_with_it(tmp_path: Path) -> None:
    """The ``resilient`` storage preset records in WAL mode; a recorder killed before it closed the file leaves the
    last messages (and topics first seen since the last checkpoint) in ``name.db3-wal``. rosbags opens the file
    ``immutable`` and ignores the log: those messages were left out without a word."""
    write_tiny_bag(tmp_path / "tiny", 2, distro="jazzy")
    (source,) = (tmp_path / "tiny").glob("*.db3")
    recording, crashed = tmp_path / "recording", tmp_path / "crashed"
    recording.mkdir()
    crashed.mkdir()
    (recording / "bag.db3").write_bytes(source.read_bytes())
    db = sqlite3.connect(recording / "bag.db3")
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA wal_autocheckpoint = 0")  # nothing reaches bag.db3 itself before the "crash"
        before = db.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY timestamp, id").fetchall()
        late_id = db.execute(
            "INSERT INTO topics (name, type, serialization_format, offered_qos_profiles, type_description_hash) "
            "SELECT '/late', type, serialization_format, offered_qos_profiles, type_description_hash FROM topics "
            "WHERE name = '/camera/camera_info'"
        ).lastrowid
        added = [(topic, stamp + 10**9, data) for topic, stamp, data in before] + [(late_id, 2 * 10**18, b"\0\1\0\0")]
        db.executemany("INSERT INTO messages (topic_id, timestamp, data) VALUES (?, ?, ?)", added)
        db.commit()
        for file in recording.iterdir():  # the files as the killed recorder left them
            (crashed / file.name).write_bytes(file.read_bytes())
    finally:
        db.close()
    assert {p.name for p in crashed.iterdir()} == {"bag.db3", "bag.db3-wal", "bag.db3-shm"}
    stored = {name: (crashed / name).read_bytes() for name in ("bag.db3", "bag.db3-wal")}
    reader = SalvagingSqlite3Reader(crashed / "bag.db3")
    reader.open()
    try:
        got = _read(reader)
        counts = {c.topic: c.msgcount for c in reader.connections}
        metadata = reader.metadata
    finally:
        reader.close()
    assert got == [(topic, stamp, bytes(data)) for topic, stamp, data in [*before, *added]]
    assert counts["/late"] == 1 and counts["/camera/image_raw"] == 4
    assert (metadata.message_count, metadata.end_time) == (len(before) + len(added), 2 * 10**18 + 1)
    assert {name: (crashed / name).read_bytes() for name in stored} == stored  # read-only: nothing written back


def test_a_file_left_inside_a_transaction_reads_as_it_was_last_committed(tmp_path: Path) -> None:
    """A writer killed inside a transaction (``mono-depth bag`` commits frame by frame; SIGKILL, the OOM killer) leaves
    ``name.db3-journal`` and pages of the unfinished transaction in the file. rosbags opens the file ``immutable`` and
    read them (here: half the messages gone, a row never committed there); SQLite refuses it read-only. The journal is
    rolled back on a private copy: every committed message, nothing else; the files are left as they are."""
    import signal
    import subprocess
    import sys

    write_tiny_bag(tmp_path / "tiny", 40, lidar=False)
    (source,) = (tmp_path / "tiny").glob("*.db3")
    with closing(sqlite3.connect(source)) as db:
        before = db.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY timestamp, id").fetchall()
    killed = (
        "import os, signal, sqlite3, sys\n"
        "db = sqlite3.connect(sys.argv[1])\n"
        "db.execute('PRAGMA cache_size = 1')\n"  # every changed page spills into the file before any commit
        "db.execute('BEGIN')\n"
        "db.execute('DELETE FROM messages WHERE id % 2 = 0')\n"
        "db.execute('INSERT INTO messages (topic_id, timestamp, data) VALUES (1, 5, zeroblob(100000))')\n"
        "db.execute('INSERT INTO metadata (metadata_version, metadata) VALUES (0, zeroblob(2000000))')\n"  # spills all
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    assert subprocess.run([sys.executable, "-c", killed, str(source)]).returncode == -signal.SIGKILL
    journal = source.with_name(source.name + "-journal")
    assert journal.stat().st_size > 0
    stored = {path: path.read_bytes() for path in (source, journal)}
    with closing(
        apsw.Connection(f"file:{source}?immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    ) as db:
        assert next(iter(db.execute("SELECT count(*) FROM messages")))[0] != len(before)  # what rosbags would read
    reader = SalvagingSqlite3Reader(source)
    reader.open()
    try:
        got = _read(reader)
        copy = getattr(reader, "_rollback_copy", None)
    finally:
        reader.close()
    assert got == [(topic, stamp, bytes(data)) for topic, stamp, data in before]
    assert {path: path.read_bytes() for path in stored} == stored
    assert copy is not None and not copy.exists()  # the private copy is gone with the reader


_KILLED_AFTER_THE_HEADER = """
import os, sys, apsw

class File(apsw.VFSFile):
    def __init__(self, vfs, name, flags):
        super().__init__("", name, flags)
        self.main = (name.filename() if hasattr(name, "filename") else str(name)).endswith(".db3")

    def xWrite(self, data, offset):
        super().xWrite(data, offset)
        if self.main and offset == 0:  # the header, with the new page count: the commit's first write
            os._exit(9)  # as a SIGKILL: nothing of SQLite's runs after it

class VFS(apsw.VFS):
    def __init__(self):
        super().__init__("killed_after_the_header", "")

    def xOpen(self, name, flags):
        return File(self, name, flags)

vfs = VFS()
db = apsw.Connection(sys.argv[1], vfs="killed_after_the_header")
db.execute("PRAGMA synchronous = OFF")  # as mono-depth bag writes
db.execute("PRAGMA cache_size = 1")  # every changed page spills into the file before the commit
db.execute("BEGIN")
for stamp in range(5, 10):  # the frames of an unfinished batch
    db.execute("INSERT INTO messages (topic_id, timestamp, data) VALUES (1, ?, zeroblob(600000))", (stamp,))
db.execute("COMMIT")  # the header is written first, with the new page count
"""


def test_a_file_killed_while_its_commit_grew_it_reads_as_it_was_last_committed(tmp_path: Path) -> None:
    """A writer killed inside its commit (SIGKILL, the OOM killer, while ``mono-depth bag`` commits a batch of frames)
    after SQLite wrote the file's header, with the new page count, and before the pages past the file's old end: the
    file then holds fewer pages than its header declares, and a hot journal. It was read as a truncated file, page by
    page, without the journal: messages of the unfinished transaction came back (a real SIGKILLed run: 820 depth
    images, 819 clouds and camera_infos, where the journal rolled back gives 815 whole frames). Now the journal is
    rolled back on a private copy first, as for a file of full length."""
    import subprocess
    import sys

    write_tiny_bag(tmp_path / "tiny", 40, lidar=False)
    (source,) = (tmp_path / "tiny").glob("*.db3")
    with closing(sqlite3.connect(source)) as db:
        before = db.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY timestamp, id").fetchall()
    killed = subprocess.run([sys.executable, "-c", _KILLED_AFTER_THE_HEADER, str(source)], check=False)
    assert killed.returncode == 9
    journal = source.with_name(source.name + "-journal")
    assert journal.stat().st_size > 0
    head = source.read_bytes()[:100]
    page_size, declared = int.from_bytes(head[16:18], "big"), int.from_bytes(head[28:32], "big")
    assert declared * page_size > source.stat().st_size  # the header is ahead of the file
    stored = {path: path.read_bytes() for path in (source, journal)}
    reader = SalvagingSqlite3Reader(source)
    reader.open()
    try:
        got = _read(reader)
        problems = list(reader.integrity.problems)
    finally:
        reader.close()
    assert [(topic, stamp) for topic, stamp, _ in got] == [(topic, stamp) for topic, stamp, _ in before]
    assert got == [(topic, stamp, bytes(data)) for topic, stamp, data in before]
    assert problems == []
    assert {path: path.read_bytes() for path in stored} == stored  # read-only: nothing written back
    cut = tmp_path / "cut" / source.name  # the same files cut short of the last commit (a copy that stopped):
    cut.parent.mkdir()  # the journal cannot give it back; salvaged page by page, as before
    cut.write_bytes(stored[source][: int.from_bytes(stored[journal][16:20], "big") * page_size - page_size])
    cut.with_name(journal.name).write_bytes(stored[journal])
    reader = SalvagingSqlite3Reader(cut)
    reader.open()
    try:
        assert getattr(reader, "_rollback_copy", None) is None
        assert reader.integrity.truncated
    finally:
        reader.close()


def test_an_intact_file_is_read_through_a_memory_map_with_the_bytes_sqlite_selects(tmp_path: Path) -> None:
    """Payloads come from the map, byte for byte what ``SELECT data`` gives."""
    write_tiny_bag(tmp_path / "tiny", 6)
    (source,) = (tmp_path / "tiny").glob("*.db3")
    with closing(sqlite3.connect(source)) as db:
        expected = db.execute("SELECT topic_id, timestamp, data FROM messages ORDER BY timestamp, id").fetchall()
    reader = SalvagingSqlite3Reader(source)
    reader.open()
    try:
        assert reader.dbconn is not None
        (mapped,) = next(iter(reader.dbconn.execute("PRAGMA mmap_size")))
        got = [(topic, stamp, bytes(data)) for topic, stamp, data in _read(reader)]
    finally:
        reader.close()
    assert mapped > source.stat().st_size
    assert got == expected


def test_a_topic_recorded_on_two_connections_is_not_counted_twice_from_the_metadata_table(tmp_path: Path) -> None:
    """rosbags records one topic on two connections (another type, or another QoS: a ROS 1 bag converted with two
    publishers); the file's ``metadata`` table lists each with its own count. A cut copy read alone gave each
    connection the sum of both (80 messages on /x listed as 160: phantom lost messages); as for metadata.yaml
    (:meth:`~mono_depth_ros.bag.folder.StorageFilesReader._expect`) a topic on several connections keeps what was
    found."""
    string, uint = TYPESTORE.types["std_msgs/msg/String"], TYPESTORE.types["std_msgs/msg/UInt32"]
    rng = np.random.default_rng(1)
    with Writer(tmp_path / "bag", version=8, storage_plugin=StoragePlugin.SQLITE3) as writer:
        text = writer.add_connection("/x", string.__msgtype__, typestore=TYPESTORE)
        number = writer.add_connection("/x", uint.__msgtype__, typestore=TYPESTORE)
        for i in range(40):
            writer.write(
                text, START_NS + 2 * i, TYPESTORE.serialize_cdr(string(rng.bytes(20_000).hex()), "std_msgs/msg/String")
            )
            writer.write(number, START_NS + 2 * i + 1, TYPESTORE.serialize_cdr(uint(i), "std_msgs/msg/UInt32"))
    db3 = tmp_path / "bag" / "bag.db3"
    cut = tmp_path / "cut.db3"
    cut.write_bytes(db3.read_bytes()[: db3.stat().st_size * 6 // 10])
    reader = SalvagingSqlite3Reader(cut)
    reader.open()
    try:
        assert reader.integrity.truncated and reader.integrity.expected == 80
        found = Counter(c.msgtype for c, _, _ in reader.messages(reader.connections))
        assert 0 < sum(found.values()) < 80
        assert {c.msgtype: c.msgcount for c in reader.connections} == found
    finally:
        reader.close()
