"""OutputBag: metadata version 8 (Humble plays it), sqlite3 / MCAP, both distros, copies keep bytes and QoS."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml
from rosbags.interfaces import (
    MessageDefinition,
    MessageDefinitionFormat,
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from mono_depth_ros.bag import writer as writer_module
from mono_depth_ros.bag.mcap_storage import ChecksummedMcapWriter
from mono_depth_ros.bag.reader import typestore_for
from mono_depth_ros.bag.writer import CommittingSqlite3Writer, OutputBag, definition_hash
from mono_depth_ros.core.errors import BagError
from mono_depth_ros.core.ros_msgs import MessageFactory, make_header

TIME = QosTime(0, 0)
LATCHED = Qos(
    QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, TIME, TIME,
    QosLiveliness.AUTOMATIC, TIME, False,
)  # fmt: skip


def _metadata(path: Path) -> dict[str, Any]:
    info: dict[str, Any] = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return info


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_writes_version_8_bags_that_read_back(tmp_path: Path, storage: str, distro: str) -> None:
    typestore = typestore_for(distro)
    factory = MessageFactory.for_rosbags(typestore)
    header = make_header(factory, 1_700_000_000_123_456_789, "camera_optical")
    message = header  # a std_msgs/Header is a message of its own: the smallest one with a stamp and a frame
    with OutputBag(tmp_path / "out", typestore, storage) as out:
        size = out.write("/header", "std_msgs/msg/Header", message, 42)
        out.write("/header", "std_msgs/msg/Header", message, 43)
    assert size > 0
    assert out.counts == {"/header": 2}
    metadata = _metadata(tmp_path / "out")
    assert metadata["version"] == 8
    assert metadata["storage_identifier"] == storage
    assert metadata["message_count"] == 2
    with Reader(tmp_path / "out") as reader:
        (connection,) = reader.connections
        assert connection.msgtype == "std_msgs/msg/Header"
        rows = list(reader.messages())
    assert [t for _, t, _ in rows] == [42, 43]
    decoded = typestore.deserialize_cdr(rows[0][2], "std_msgs/msg/Header")
    assert decoded.frame_id == "camera_optical"
    assert decoded.stamp.sec == 1_700_000_000 and decoded.stamp.nanosec == 123_456_789


def test_refuses_existing_path_and_unknown_storage(tmp_path: Path) -> None:
    typestore = typestore_for("humble")
    (tmp_path / "exists").mkdir()
    with pytest.raises(BagError, match="already exists; choose a new path"):
        OutputBag(tmp_path / "exists", typestore)
    with pytest.raises(BagError, match="--storage 'rosbag1'"):
        OutputBag(tmp_path / "x", typestore, "rosbag1")


def test_copy_keeps_bytes_and_qos_and_skips_types_without_definition(tmp_path: Path) -> None:
    typestore = typestore_for("humble")
    factory = MessageFactory.for_rosbags(typestore)
    source = tmp_path / "in"
    header_bytes = typestore.serialize_cdr(make_header(factory, 5, "map"), "std_msgs/msg/Header")
    with Writer(source, version=8) as writer:
        latched = writer.add_connection(
            "/tf_static_like", "std_msgs/msg/Header", typestore=typestore, offered_qos_profiles=[LATCHED]
        )
        custom = writer.add_connection("/custom", "my_msgs/msg/Thing", msgdef="int32 a", rihs01="RIHS01_" + "0" * 64)
        writer.write(latched, 1, header_bytes)
        writer.write(custom, 2, b"\x00\x01\x00\x00\x07\x00\x00\x00")
    with Reader(source) as reader:
        connections = {c.topic: c for c in reader.connections}
        rows = list(reader.messages())
    with OutputBag(tmp_path / "out", typestore) as out:
        for connection, log_ns, raw in rows:
            assert out.copy(connection, raw, log_ns)
        undefined = type(connections["/custom"])(
            99, "/undefined", "my_msgs/msg/Other", connections["/custom"].msgdef._replace(data=""), "", 0,
            connections["/custom"].ext, None,
        )  # fmt: skip
        assert not out.copy(undefined, b"", 3)
    with Reader(tmp_path / "out") as reader:
        copied = {c.topic: c for c in reader.connections}
        data = {c.topic: bytes(raw) for c, _, raw in reader.messages()}
    assert data["/tf_static_like"] == header_bytes
    assert copied["/tf_static_like"].ext.offered_qos_profiles[0].durability == QosDurability.TRANSIENT_LOCAL
    assert copied["/custom"].msgtype == "my_msgs/msg/Thing"
    assert "/undefined" not in copied


def test_tf_static_without_recorded_qos_is_written_transient_local(tmp_path: Path) -> None:
    """``ros2 bag play`` offers a topic with its recorded QoS, else volatile: a volatile /tf_static never reaches a
    tf2 TransformListener (transient local), so every bag we write (demo input bags, the runner's copies of them)
    records the static broadcaster's profile for it, as ``ros2 bag record`` does; other topics record none."""
    typestore = typestore_for("humble")
    factory = MessageFactory.for_rosbags(typestore)
    static = factory.new("tf2_msgs/msg/TFMessage", transforms=[])
    with OutputBag(tmp_path / "in", typestore) as bag:
        bag.write("/tf_static", "tf2_msgs/msg/TFMessage", static, 1)
        bag.write("/tf", "tf2_msgs/msg/TFMessage", static, 2)
    with Writer(tmp_path / "recorded", version=8) as writer:  # a /tf_static recorded without QoS (older tools)
        bare = writer.add_connection("/tf_static", "tf2_msgs/msg/TFMessage", typestore=typestore)
        writer.write(bare, 1, typestore.serialize_cdr(static, "tf2_msgs/msg/TFMessage"))
    with Reader(tmp_path / "recorded") as reader, OutputBag(tmp_path / "copied", typestore) as out:
        for connection, log_ns, raw in reader.messages():
            assert out.copy(connection, raw, log_ns)
    for bag_path in (tmp_path / "in", tmp_path / "copied"):
        with Reader(bag_path) as reader:
            offered = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
        (profile,) = offered["/tf_static"]
        assert (profile.reliability, profile.durability) == (QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL)
        assert offered.get("/tf", []) == []
    recorded = {
        t["topic_metadata"]["name"]: t["topic_metadata"]
        for t in _metadata(tmp_path / "in")["topics_with_message_count"]
    }
    assert "durability: 1" in recorded["/tf_static"]["offered_qos_profiles"]  # Humble's numbers: 1 = transient local


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_copy_of_a_type_with_a_definition_but_no_hash_computes_the_hash(tmp_path: Path, storage: str) -> None:
    """An MCAP file read without its metadata.yaml (a bare .mcap: rosbags does not read the channel's
    topic_type_hash), or a bag recorded on Humble (metadata without type_description_hash), holds a type's
    definition but not its hash: the copy was refused ("no message definition"). The hash is computed from the
    definition; here a Jazzy-only type (not in the humble typestore) gets the hash Jazzy's typestore gives it."""
    jazzy, humble = typestore_for("jazzy"), typestore_for("humble")
    msgtype = "geometry_msgs/msg/PolygonInstance"
    assert msgtype in jazzy.types and msgtype not in humble.types
    definition, _ = jazzy.generate_msgdef(msgtype, ros_version=2)
    with Writer(tmp_path / "in", version=8, storage_plugin=StoragePlugin[storage.upper()]) as writer:
        polygon = writer.add_connection("/polygon", msgtype, msgdef=definition, rihs01=jazzy.hash_rihs01(msgtype))
        message = jazzy.types[msgtype](jazzy.types["geometry_msgs/msg/Polygon"]([]), 7)
        writer.write(polygon, 1, jazzy.serialize_cdr(message, msgtype))
    with Reader(tmp_path / "in") as reader:
        (connection,) = reader.connections
        ((_, log_ns, raw),) = list(reader.messages())
    assert connection.msgdef.data
    unhashed = connection._replace(digest="")
    broken = unhashed._replace(topic="/broken", msgdef=unhashed.msgdef._replace(data="foo_msgs/Missing a"))
    with OutputBag(tmp_path / "out", humble, storage) as out:
        assert out.copy(unhashed, raw, log_ns)
        assert not out.copy(broken, raw, log_ns)  # a definition that does not parse: not copied, not raised
    (entry,) = _metadata(tmp_path / "out")["topics_with_message_count"]
    assert entry["topic_metadata"]["type_description_hash"] == jazzy.hash_rihs01(msgtype)
    with Reader(tmp_path / "out") as reader:
        assert [bytes(data) for _, _, data in reader.messages()] == [bytes(raw)]


def _decoded_by_its_definition(path: Path, topic: str) -> Any:
    """The first message of ``topic`` decoded by the definition stored in the bag (as rosbags' AnyReader, Foxglove
    and the mcap tools read a bag), not by a typestore."""
    with Reader(path) as reader:
        (connection,) = [c for c in reader.connections if c.topic == topic]
        ((_, _, raw),) = list(reader.messages([connection]))
    store = get_typestore(Stores.EMPTY)
    store.register(get_types_from_msg(connection.msgdef.data, connection.msgtype))
    return store.deserialize_cdr(raw, connection.msgtype)


@pytest.mark.parametrize(("recorded_on", "output_distro"), [("humble", "jazzy"), ("jazzy", "humble")])
def test_a_copy_keeps_the_definition_of_its_bytes_when_the_distros_differ(
    tmp_path: Path, recorded_on: str, output_distro: str
) -> None:
    """sensor_msgs/Range gained ``float32 variance`` in Jazzy. A copy was written with the output distro's definition
    whatever the input's: a Humble recording copied with --distro jazzy claimed a variance its bytes lack (every
    Range undecodable by the bag's own definition); a Jazzy one copied with --distro humble lost the variance. A bag
    that stores no definitions (sqlite3 before Iron: Humble's default) was recorded with Humble's."""
    recorded, msgtype = typestore_for(recorded_on), "sensor_msgs/msg/Range"
    factory = MessageFactory.for_rosbags(recorded)
    fields = {"radiation_type": 0, "field_of_view": 0.5, "min_range": 0.1, "max_range": 4.0, "range": 1.5}
    if recorded_on == "jazzy":
        fields["variance"] = 0.25
    raw = recorded.serialize_cdr(factory.new(msgtype, header=make_header(factory, 7, "sonar"), **fields), msgtype)
    with Writer(tmp_path / "in", version=8) as writer:
        sonar = writer.add_connection("/sonar", msgtype, typestore=recorded)
        writer.write(sonar, 7, raw)
    with Reader(tmp_path / "in") as reader:
        (connection,) = reader.connections
    if recorded_on == "humble":  # Humble's sqlite3 files store no definitions
        connection = connection._replace(msgdef=connection.msgdef._replace(data=""), digest="")
    with OutputBag(tmp_path / "out", typestore_for(output_distro)) as out:
        assert out.copy(connection, raw, 7)
    decoded = _decoded_by_its_definition(tmp_path / "out", "/sonar")
    assert (decoded.range, decoded.header.frame_id) == (1.5, "sonar")
    assert getattr(decoded, "variance", None) == fields.get("variance")
    (entry,) = _metadata(tmp_path / "out")["topics_with_message_count"]
    assert entry["topic_metadata"]["type_description_hash"] == recorded.hash_rihs01(msgtype)


_IDL_OUTER = """module my_msgs {
  module msg {
    struct Outer {
      my_msgs::msg::Inner inner;
      float value;
    };
  };
};
"""
_IDL_INNER = """module my_msgs {
  module msg {
    struct Inner {
      int32 count;
    };
  };
};
"""


def test_a_definition_in_rosbag2s_idl_sections_is_hashed() -> None:
    """rosbag2 stores a type known by its .idl (encoding ros2idl) as one section per type, each under a line of 80
    '=' and ``IDL: pkg/msg/Type`` (as rosbags' AnyReader splits them). Such a definition without a hash (a Humble
    MCAP recording) gave None: its topic was not copied. Its hash is the one of the same type written as .msg."""
    sep = "=" * 80 + "\n"
    idl = f"{sep}IDL: my_msgs/msg/Outer\n{_IDL_OUTER}{sep}IDL: my_msgs/msg/Inner\n{_IDL_INNER}"
    as_msg = f"my_msgs/Inner inner\nfloat32 value\n{sep}MSG: my_msgs/Inner\nint32 count\n"
    store = get_typestore(Stores.EMPTY)
    store.register(get_types_from_msg(as_msg, "my_msgs/msg/Outer"))
    expected = store.hash_rihs01("my_msgs/msg/Outer")
    sectioned = MessageDefinition(MessageDefinitionFormat.IDL, idl)
    assert definition_hash("my_msgs/msg/Outer", sectioned) == expected
    bare = MessageDefinition(MessageDefinitionFormat.IDL, _IDL_INNER + _IDL_OUTER)  # one IDL text, no sections
    assert definition_hash("my_msgs/msg/Outer", bare) == expected


def test_a_copy_without_a_definition_but_with_a_hash_takes_the_definition_of_that_hash(tmp_path: Path) -> None:
    """Jazzy's recorder stores a type whose definition it did not find with an empty definition, and still its
    hash; the copy took Humble's definition for any bag without one ("recorded before Iron"): a Jazzy Range copied
    into a Humble bag was described without its variance, undecodable by the definition beside it."""
    jazzy, msgtype = typestore_for("jazzy"), "sensor_msgs/msg/Range"
    factory = MessageFactory.for_rosbags(jazzy)
    fields = {"radiation_type": 0, "field_of_view": 0.5, "min_range": 0.1, "max_range": 4.0, "range": 1.5}
    message = factory.new(msgtype, header=make_header(factory, 7, "sonar"), variance=0.25, **fields)
    raw = jazzy.serialize_cdr(message, msgtype)
    with Writer(tmp_path / "in", version=8) as writer:
        writer.write(writer.add_connection("/sonar", msgtype, typestore=jazzy), 7, raw)
    with Reader(tmp_path / "in") as reader:
        (connection,) = reader.connections
    assert connection.digest == jazzy.hash_rihs01(msgtype)
    connection = connection._replace(msgdef=connection.msgdef._replace(data=""))  # as Jazzy stores an unfound one
    with OutputBag(tmp_path / "out", typestore_for("humble")) as out:
        assert out.copy(connection, raw, 7)
    decoded = _decoded_by_its_definition(tmp_path / "out", "/sonar")
    assert (decoded.range, decoded.variance) == (1.5, 0.25)
    (entry,) = _metadata(tmp_path / "out")["topics_with_message_count"]
    assert entry["topic_metadata"]["type_description_hash"] == jazzy.hash_rihs01(msgtype)


class _Interrupting:
    """A storage's SQLite connection that raises KeyboardInterrupt (a second Ctrl-C handled there) once while
    :attr:`armed`: in ``method`` (``commit`` or ``execute``; for ``execute`` only of the SQL ``statement`` when one
    is given), as it returns, or just before it runs (``before``). Everything else goes to the connection."""

    def __init__(self, conn: sqlite3.Connection, method: str, *, statement: str = "", before: bool = False) -> None:
        self.conn, self.method, self.statement, self.before = conn, method, statement, before
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    def commit(self) -> None:
        self._call("commit")

    def execute(self, statement: str, *args: Any) -> sqlite3.Cursor:
        cursor: sqlite3.Cursor = self._call("execute", statement, *args)
        return cursor

    def _call(self, name: str, *args: Any) -> Any:
        hit = self.armed and name == self.method and (not self.statement or args[0] == self.statement)
        if hit:
            self.armed = False
            if self.before:
                raise KeyboardInterrupt
        result = getattr(self.conn, name)(*args)
        if hit:
            raise KeyboardInterrupt
        return result


def _written(path: Path) -> dict[str, list[int]]:
    """Log times per topic as rosbags reads them, after checking that metadata.yaml counts the same messages."""
    with Reader(path) as reader:
        found: dict[str, list[int]] = {}
        for connection, log_ns, _ in reader.messages():
            found.setdefault(connection.topic, []).append(log_ns)
    metadata = _metadata(path)
    listed = {t["topic_metadata"]["name"]: t["message_count"] for t in metadata["topics_with_message_count"]}
    assert {topic: n for topic, n in listed.items() if n} == {topic: len(times) for topic, times in found.items()}
    assert metadata["message_count"] == sum(map(len, found.values()))
    return found


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_failed_write_closes_the_bag_with_what_was_committed(
    tmp_path: Path, storage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk: the messages after the last commit (and a topic first written there) are left out, metadata.yaml
    counts what the file holds, and the error names the cause and the remedy (it was a traceback, and a sqlite3
    metadata.yaml listing messages its file did not hold)."""
    monkeypatch.setattr(writer_module, "COMMIT_FRAMES", 1)  # sqlite3: every commit to the file (batches: below)
    typestore = typestore_for("humble")
    header = make_header(MessageFactory.for_rosbags(typestore), 5, "camera_optical")
    out = OutputBag(tmp_path / "out", typestore, storage)
    out.write("/a", "std_msgs/msg/Header", header, 10)
    out.write("/a", "std_msgs/msg/Header", header, 11)
    assert out.commit()
    out.write("/a", "std_msgs/msg/Header", header, 12)
    out.write("/b", "std_msgs/msg/Header", header, 13)
    storage_writer = out._writer.storage
    assert storage_writer is not None

    def disk_full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage_writer, "write", disk_full)
    with pytest.raises(BagError) as failed:
        out.write("/a", "std_msgs/msg/Header", header, 14)
    text = str(failed.value)
    assert f"cannot write the output bag {tmp_path / 'out'}" in text and "No space left on device" in text
    assert "closed with the messages written before" in text and "free space on its disk" in text
    assert out.counts == {"/a": 2}
    assert _written(tmp_path / "out") == {"/a": [10, 11]}
    assert _metadata(tmp_path / "out")["duration"]["nanoseconds"] == 1
    out.close()  # closed already: nothing more to do


def test_sqlite3_commits_frames_in_batches_and_a_failed_write_keeps_the_frames_of_the_last_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames go to the file in batches (COMMIT_FRAMES or COMMIT_BYTES, as rosbag2's recorder writes its cache):
    what a killed process or a failed write loses is the frames since the last batch; metadata.yaml and the
    counts then say what the file holds."""
    monkeypatch.setattr(writer_module, "COMMIT_FRAMES", 2)
    typestore = typestore_for("humble")
    header = make_header(MessageFactory.for_rosbags(typestore), 5, "camera_optical")
    out = OutputBag(tmp_path / "out", typestore, "sqlite3")
    filed = []
    for stamp in (10, 11, 12):
        out.write("/a", "std_msgs/msg/Header", header, stamp)
        filed.append(out.commit())
    storage_writer = out._writer.storage
    assert storage_writer is not None

    def disk_full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage_writer, "write", disk_full)
    with pytest.raises(BagError, match="closed with the messages written before"):
        out.write("/b", "std_msgs/msg/Header", header, 13)
    assert out.counts == {"/a": 2}
    assert _written(tmp_path / "out") == {"/a": [10, 11]}
    assert _metadata(tmp_path / "out")["duration"]["nanoseconds"] == 1
    assert filed == [False, True, False]


def test_sqlite3_commits_once_the_batch_holds_commit_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch ends at COMMIT_BYTES of messages however few frames it has (a camera-resolution cloud: one frame);
    until then the file holds none of its frames (what another reader, or a SIGKILL, sees)."""
    monkeypatch.setattr(writer_module, "COMMIT_BYTES", 3000)
    typestore = typestore_for("humble")
    out = OutputBag(tmp_path / "out", typestore, "sqlite3")
    filed, in_file = [], []
    for stamp in range(4):
        out.write_raw("/a", "std_msgs/msg/String", bytes(4) + (1000).to_bytes(4, "little") + bytes(1000), stamp)
        filed.append(out.commit())
        with closing(sqlite3.connect(f"file:{tmp_path / 'out' / 'out_0.db3'}?mode=ro", uri=True)) as db:
            in_file.append(db.execute("SELECT count(*) FROM messages").fetchone()[0])
    out.close()
    assert in_file == [0, 0, 3, 3]
    assert filed == [False, False, True, False]
    assert _written(tmp_path / "out") == {"/a": [0, 1, 2, 3]}


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_an_exception_inside_the_block_leaves_out_what_was_not_committed(tmp_path: Path, storage: str) -> None:
    """A second Ctrl-C (KeyboardInterrupt) in the middle of a frame: the bag keeps the committed frames, whole."""
    typestore = typestore_for("humble")
    header = make_header(MessageFactory.for_rosbags(typestore), 5, "camera_optical")
    with pytest.raises(KeyboardInterrupt), OutputBag(tmp_path / "out", typestore, storage) as out:
        for stamp in (10, 20):  # sqlite3: both frames inside one batch, not in the file yet
            out.write("/image", "std_msgs/msg/Header", header, stamp)
            out.write("/points", "std_msgs/msg/Header", header, stamp)
            assert out.commit() == (storage == "mcap")
        out.write("/image", "std_msgs/msg/Header", header, 30)
        raise KeyboardInterrupt
    assert _written(tmp_path / "out") == {"/image": [10, 20], "/points": [10, 20]}
    assert _metadata(tmp_path / "out")["message_count"] == 4


def test_a_second_ctrl_c_right_after_a_batch_is_committed_leaves_metadata_counting_what_the_file_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second Ctrl-C that arrives while SQLite commits a batch raises KeyboardInterrupt as the commit returns,
    before the bag has noted that the batch reached the file. The rollback went back to the batch before: the file
    held 4 messages under a metadata.yaml counting 2 (up to COMMIT_FRAMES frames fewer than the file holds)."""
    monkeypatch.setattr(writer_module, "COMMIT_FRAMES", 2)
    typestore = typestore_for("humble")
    with pytest.raises(KeyboardInterrupt), OutputBag(tmp_path / "out", typestore, "sqlite3") as out:
        storage = out._writer.storage
        assert isinstance(storage, CommittingSqlite3Writer)
        conn = _Interrupting(storage.conn, "commit")  # a signal handled as its commit returns
        monkeypatch.setattr(storage, "conn", conn)
        for stamp in range(4):
            out.write_raw("/a", "std_msgs/msg/String", bytes(4) + (3).to_bytes(4, "little") + b"abc", stamp)
            conn.armed = stamp == 3  # the second batch's commit
            out.commit()
    assert _written(tmp_path / "out") == {"/a": [0, 1, 2, 3]}
    assert _metadata(tmp_path / "out")["message_count"] == 4


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
@pytest.mark.parametrize("interrupted", [0, 2])
def test_a_second_ctrl_c_right_after_a_frame_s_savepoint_leaves_metadata_counting_what_the_file_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupted: int, storage: str
) -> None:
    """A second Ctrl-C handled once the storage has ended a frame inside a batch (its savepoint taken) and before
    the bag noted that frame: the rollback to the savepoint keeps the frame in the file, the counts went back to the
    frame before (seen: 3 messages in the file under a metadata.yaml counting 2; at the first frame, a file holding
    its message and its topic under a metadata.yaml listing neither). MCAP the same, its chunk written. The counts
    now come from the file."""
    typestore = typestore_for("humble")
    with pytest.raises(KeyboardInterrupt), OutputBag(tmp_path / "out", typestore, storage) as out:
        written = out._writer.storage
        assert isinstance(written, CommittingSqlite3Writer | ChecksummedMcapWriter)
        end_frame = written.commit

        def signalled_as_it_returns() -> bool:
            filed = end_frame()
            assert filed == (storage == "mcap")  # sqlite3, inside a batch: the frame ends at a savepoint
            raise KeyboardInterrupt

        for stamp in range(interrupted + 1):
            out.write_raw("/a", "std_msgs/msg/String", bytes(4) + (3).to_bytes(4, "little") + b"abc", stamp)
            if stamp == interrupted:
                monkeypatch.setattr(written, "commit", signalled_as_it_returns)
            out.commit()
    assert _written(tmp_path / "out") == {"/a": list(range(interrupted + 1))}
    info = _metadata(tmp_path / "out")
    assert info["message_count"] == interrupted + 1
    assert info["duration"]["nanoseconds"] == interrupted


@pytest.mark.parametrize("sql", ["RELEASE frame", "SAVEPOINT frame"])
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_second_ctrl_c_anywhere_in_a_frame_s_commit_keeps_the_frames_of_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sql: str, when: str
) -> None:
    """A second Ctrl-C handled inside the storage's end of a frame, before or as one of its statements returns:
    between ``RELEASE frame`` and ``SAVEPOINT frame`` (or as the savepoint's call returns) no savepoint was marked, so
    the rollback rolled back the whole transaction: the 5 frames before, which the bag had reported kept, were
    dropped (seen: a file holding 0 messages; below COMMIT_FRAMES frames the runner then removes the output); just
    before ``RELEASE``, the frame in hand was dropped (5 messages). The frame whose commit was called is whole: it is
    kept, with the frames before it, wherever the interrupt lands."""
    typestore = typestore_for("humble")
    with pytest.raises(KeyboardInterrupt), OutputBag(tmp_path / "out", typestore, "sqlite3") as out:
        storage = out._writer.storage
        assert isinstance(storage, CommittingSqlite3Writer)
        conn = _Interrupting(storage.conn, "execute", statement=sql, before=when == "before")
        monkeypatch.setattr(storage, "conn", conn)
        for stamp in range(6):
            out.write_raw("/a", "std_msgs/msg/String", bytes(4) + (3).to_bytes(4, "little") + b"abc", stamp)
            conn.armed = stamp == 5  # inside the batch (COMMIT_FRAMES 8): frames 0-4 ended at savepoints
            out.commit()
        pytest.fail(f"no {sql} ran in the last frame's commit")
    assert _written(tmp_path / "out") == {"/a": list(range(6))}
    assert _metadata(tmp_path / "out")["message_count"] == 6


def test_a_disk_full_at_close_says_what_the_file_lacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every message committed, but no room left for the MCAP summary: the error says the index and metadata.yaml
    are missing and how the bag can still be read (the file keeps its messages: it is read as a truncated one)."""
    from mono_depth_ros.bag.reader import InputBag

    typestore = typestore_for("humble")
    header = make_header(MessageFactory.for_rosbags(typestore), 5, "camera_optical")
    out = OutputBag(tmp_path / "out", typestore, "mcap")
    out.write("/a", "std_msgs/msg/Header", header, 10)
    out.commit()
    storage_writer = out._writer.storage
    assert storage_writer is not None

    def disk_full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage_writer, "close", disk_full)
    with pytest.raises(
        BagError, match=r"could not be closed .*lacks its index or metadata.yaml .*mono-depth bag reads"
    ):
        out.close()
    assert not (tmp_path / "out" / "metadata.yaml").exists()
    with InputBag(tmp_path / "out", typestore) as bag:
        assert bag.message_counts == {"/a": 1}


def test_sqlite3_files_have_the_larger_page_size(tmp_path: Path) -> None:
    """A frame's image and cloud fill four times fewer overflow pages; rosbags (and any SQLite) reads the file."""
    import sqlite3

    from mono_depth_ros.bag.writer import PAGE_SIZE

    typestore = typestore_for("humble")
    factory = MessageFactory.for_rosbags(typestore)
    with OutputBag(tmp_path / "out", typestore) as out:
        out.write("/header", "std_msgs/msg/Header", make_header(factory, 5, "cam"), 5)
    connection = sqlite3.connect(tmp_path / "out" / "out_0.db3")
    try:
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
        (schema,) = connection.execute("SELECT schema_version FROM schema").fetchone()
    finally:
        connection.close()
    assert (page_size, schema) == (PAGE_SIZE, 4)
    assert PAGE_SIZE > 4096
    with Reader(tmp_path / "out") as reader:
        assert [t for _, t, _ in reader.messages()] == [5]
