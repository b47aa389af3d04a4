"""A tiny synthetic scene as a rosbag2 (fast bag-runner tests); faults are injected through a ``mutate`` hook.

Per frame (10 Hz): a 64x48 rgb8 image, its CameraInfo (fx = fy = 50, principal point at the centre), a LiDAR
scan of 300 points of the true depth surface in a ``lidar`` frame (x forward, REP 103), ``/tf_static``
``camera_optical`` <- ``lidar`` once, and an external prediction (metric depth, or ``0.5 / depth + 0.1``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.geometry import RigidTransform, backproject_depth
from mono_depth_ros.core.ros_msgs import (
    camera_info_from_model,
    depth_image_from_metres,
    image_from_array,
    make_header,
    tf_message_from,
)
from mono_depth_ros.demo.bag_builder import BagBuilder
from test.kitti_bag import Distro, velodyne_cloud

WIDTH, HEIGHT = 64, 48
INTRINSICS = PinholeIntrinsics(50.0, 50.0, 31.5, 23.5, width=WIDTH, height=HEIGHT)
START_NS = 1_700_000_000_000_000_000
PERIOD_NS = 100_000_000
CAMERA_FRAME, LIDAR_FRAME = "camera_optical", "lidar"
# lidar x forward, y left, z up; camera optical z forward, x right, y down; the LiDAR sits 0.1 m above the camera
CAM_FROM_LIDAR = RigidTransform(
    np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]),
    np.array([0.0, -0.1, 0.0]),
    CAMERA_FRAME,
    LIDAR_FRAME,
)
Mutate = Callable[[str, int, Any], Any]


@dataclass(frozen=True)
class TinyFrame:
    """One synthetic frame: stamp, RGB, true depth (metres) and the scan (N, 4) in the lidar frame."""

    stamp_ns: int
    rgb: npt.NDArray[np.uint8]
    depth_m: npt.NDArray[np.float32]
    scan: npt.NDArray[np.float32]


def tiny_frame(index: int) -> TinyFrame:
    """A slanted plane (4 m at the top to 8 m at the bottom, changing a little per frame) with a random texture."""
    rng = np.random.default_rng(index)
    rows = np.linspace(4.0, 8.0, HEIGHT, dtype=np.float32)[:, None] + np.float32(0.1 * index)
    depth_m = np.repeat(rows, WIDTH, axis=1).astype(np.float32)
    rgb = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    points_in_camera = backproject_depth(depth_m, INTRINSICS).reshape(-1, 3)
    chosen = rng.choice(points_in_camera.shape[0], 300, replace=False)
    points_in_lidar = CAM_FROM_LIDAR.inverse().apply(points_in_camera[chosen].astype(np.float64))
    scan = np.column_stack([points_in_lidar, np.ones(300)]).astype(np.float32)
    return TinyFrame(START_NS + index * PERIOD_NS, rgb, depth_m, scan)


def write_tiny_bag(
    path: Path,
    n_frames: int = 3,
    *,
    prediction: str = "metric",
    lidar: bool = True,
    tf_static: bool = True,
    mutate: Mutate | None = None,
    distro: Distro = "humble",
    storage: str = "sqlite3",
) -> list[TinyFrame]:
    """Write the frames; ``mutate(topic, frame_index, msg)`` may change a message or return None to drop it."""
    frames = [tiny_frame(i) for i in range(n_frames)]
    with BagBuilder(path, distro, storage) as bag:
        factory = bag.factory

        def add(topic: str, index: int, msg: Any, log_ns: int) -> None:
            msg = mutate(topic, index, msg) if mutate is not None else msg
            if msg is not None:
                bag.add(topic, msg, log_ns)

        if tf_static:
            add(
                "/tf_static", -1, tf_message_from(factory, [CAM_FROM_LIDAR], START_NS - PERIOD_NS), START_NS - PERIOD_NS
            )
        for index, frame in enumerate(frames):
            header = make_header(factory, frame.stamp_ns, CAMERA_FRAME)
            info = camera_info_from_model(factory, CameraModel.from_intrinsics(INTRINSICS), header)
            add("/camera/camera_info", index, info, frame.stamp_ns)
            add("/camera/image_raw", index, image_from_array(factory, frame.rgb, "rgb8", header), frame.stamp_ns + 1)
            if lidar:
                add(
                    "/lidar/points",
                    index,
                    velodyne_cloud(factory, frame.scan, frame.stamp_ns, LIDAR_FRAME),
                    frame.stamp_ns + 2,
                )
            if prediction != "none":
                values = frame.depth_m if prediction == "metric" else (0.5 / frame.depth_m + 0.1).astype(np.float32)
                add(
                    "/depth_model/prediction",
                    index,
                    depth_image_from_metres(factory, values, "32FC1", header),
                    frame.stamp_ns + 3,
                )
    return frames


SCAN_LEAD_NS = 45_000_000  # moving bag: each scan is stamped 45 ms before its image
ODOM_FRAME = "odom"
_PLANE_NORMAL = np.array([0.0, 0.3, 1.0])  # a slanted plane n . p = 12 m, static in odom


def moving_depth(camera_z_m: float) -> npt.NDArray[np.float32]:
    """Depth (metres) of the static plane seen by the camera after driving ``camera_z_m`` along its optical axis."""
    ray_y = (np.arange(HEIGHT) - INTRINSICS.cy) / INTRINSICS.fy
    rows = (12.0 - _PLANE_NORMAL[2] * camera_z_m) / (_PLANE_NORMAL[1] * ray_y + _PLANE_NORMAL[2])
    return np.repeat(rows[:, None], WIDTH, axis=1).astype(np.float32)


def write_moving_bag(
    path: Path, speed_mps: float, n_frames: int = 4, *, replays: Sequence[float] = (), tf_end_ns: int | None = None
) -> list[TinyFrame]:
    """A camera driving at ``speed_mps`` along its optical axis towards a static slanted plane, LiDAR 45 ms early.

    Frames: ``odom`` (axes of the camera at the first stamp) <- ``camera_optical`` on /tf every 20 ms, and
    ``camera_optical`` <- ``lidar`` on /tf_static. Each scan samples the plane from where the camera was at the
    scan stamp, so only TF time travel puts it where the camera is at the image stamp. The prediction is the exact
    relative inverse depth ``0.5 / depth + 0.1`` at the image stamp.

    ``replays``: the speeds of further passes recorded after the first with the same stamps (a simulation reset);
    the frames of every pass are returned in recording order. ``tf_end_ns``: /tf stops after this stamp (odometry
    that ended before the camera).
    """
    frames = []
    start_tf_ns = START_NS - PERIOD_NS
    with BagBuilder(path) as bag:
        factory = bag.factory
        bag.add("/tf_static", tf_message_from(factory, [CAM_FROM_LIDAR], start_tf_ns), start_tf_ns)
        for replay, speed in enumerate([speed_mps, *replays]):
            log_offset = replay * (n_frames + 3) * PERIOD_NS  # bag time goes on, the stamps start again
            for stamp_ns in range(start_tf_ns, START_NS + (n_frames + 1) * PERIOD_NS, 20_000_000):
                if tf_end_ns is not None and stamp_ns > tf_end_ns:
                    break
                travelled_m = speed * (stamp_ns - START_NS) / 1e9
                odom_from_cam = RigidTransform(np.eye(3), np.array([0.0, 0.0, travelled_m]), ODOM_FRAME, CAMERA_FRAME)
                bag.add("/tf", tf_message_from(factory, [odom_from_cam], stamp_ns), stamp_ns + log_offset)
            rng = np.random.default_rng(7)
            for index in range(n_frames):
                stamp_ns = START_NS + index * PERIOD_NS
                log_ns = stamp_ns + log_offset
                scan_ns = stamp_ns - SCAN_LEAD_NS
                depth_m = moving_depth(speed * (stamp_ns - START_NS) / 1e9)
                depth_at_scan_m = moving_depth(speed * (scan_ns - START_NS) / 1e9)
                points_in_camera = backproject_depth(depth_at_scan_m, INTRINSICS).reshape(-1, 3)
                chosen = rng.choice(points_in_camera.shape[0], 300, replace=False)
                points_in_lidar = CAM_FROM_LIDAR.inverse().apply(points_in_camera[chosen].astype(np.float64))
                scan = np.column_stack([points_in_lidar, np.ones(300)]).astype(np.float32)
                bag.add("/lidar/points", velodyne_cloud(factory, scan, scan_ns, LIDAR_FRAME), log_ns - SCAN_LEAD_NS)
                header = make_header(factory, stamp_ns, CAMERA_FRAME)
                info = camera_info_from_model(factory, CameraModel.from_intrinsics(INTRINSICS), header)
                rgb = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
                bag.add("/camera/camera_info", info, log_ns)
                bag.add("/camera/image_raw", image_from_array(factory, rgb, "rgb8", header), log_ns + 1)
                inverse = (0.5 / depth_m + 0.1).astype(np.float32)
                bag.add(
                    "/depth_model/prediction", depth_image_from_metres(factory, inverse, "32FC1", header), log_ns + 3
                )
                frames.append(TinyFrame(stamp_ns, rgb, depth_m, scan))
    return frames


def read_bag(path: Path, distro: Distro = "humble") -> dict[str, list[tuple[int, Any]]]:
    """Every message of a bag, decoded: topic -> [(log_ns, message), ...] in recording order."""
    from rosbags.rosbag2 import Reader

    from mono_depth_ros.bag.reader import typestore_for

    typestore = typestore_for(distro)
    out: dict[str, list[tuple[int, Any]]] = {}
    with Reader(path) as reader:
        for connection, log_ns, raw in reader.messages():
            out.setdefault(connection.topic, []).append((log_ns, typestore.deserialize_cdr(raw, connection.msgtype)))
    return out


def add_recorded_clock(plain: Path, path: Path, behind_ns: int) -> dict[str, int]:
    """Write ``path``: the bag ``plain`` (Humble's types) with a recorded /clock message beside each of its messages,
    its time ``behind_ns`` behind the message's bag (log) time (0: the bag's own time; a simulator's: behind it), as
    ``ros2 bag record`` of a simulated clock leaves it. Returns the message count of each topic of ``path``."""
    from rosbags.rosbag2 import Reader, Writer

    from mono_depth_ros.bag.reader import typestore_for

    typestore = typestore_for("humble")
    clock_type = "rosgraph_msgs/msg/Clock"
    Clock, Time = typestore.types[clock_type], typestore.types["builtin_interfaces/msg/Time"]
    with Reader(plain) as reader, Writer(path, version=8) as writer:
        made = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=typestore) for c in reader.connections}
        clock = writer.add_connection("/clock", clock_type, typestore=typestore)
        for connection, log_ns, raw in reader.messages():
            writer.write(made[connection.id], log_ns, raw)
            clock_ns = log_ns - behind_ns
            message = Clock(clock=Time(sec=clock_ns // 10**9, nanosec=clock_ns % 10**9))
            writer.write(clock, log_ns, typestore.serialize_cdr(message, clock_type))
    with Reader(path) as reader:
        return {c.topic: c.msgcount for c in reader.connections}


SCHEMA_BYTES = 128 * 1024
"""More than a fresh output bag's storage file holds before its first frame (sqlite3 tables, MCAP header)."""


def signal_while_writing(process: Any, out: Path, sig: int, timeout_s: float = 120.0) -> tuple[str, str]:
    """Send ``sig`` to a running ``mono-depth bag`` once it writes ``out`` (its second pass); its stdout, stderr."""
    import time

    deadline = time.monotonic() + timeout_s
    while not out.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # the output bag appears when the second pass (the writing) starts

    def committed_bytes() -> int:
        """The storage files' bytes while no sqlite3 transaction is open (0 while one is: its pages, spilled into the
        file before the commit, and its journal are no frame yet; a first frame on a loaded machine was caught there,
        signalled, rolled back: 0 frames written)."""
        total = 0
        for path in sorted(out.glob("*")) if out.is_dir() else ():  # the .db3 before its -journal
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
            if path.name.endswith("-journal"):
                return 0
        return total

    # a frame is in once the storage file holds more than its schema and header, committed (sqlite3 writes ~100 KiB
    # of tables before the first frame and commits frames in batches): a loaded machine can take longer than any
    # fixed wait to get there
    while committed_bytes() <= SCHEMA_BYTES and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(0.05)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=timeout_s)
    return str(stdout), str(stderr)


def recompress(source: Path, target: Path, mode: str) -> Path:
    """Copy the bag folder ``source`` to ``target`` as ``ros2 bag record --compression-mode MODE --compression-format
    zstd`` writes it (``message``: each payload one zstd frame; ``file``: each storage file compressed whole, named
    ``*.db3.zstd`` / ``*.mcap.zstd``), with rosbags' writer (humble definitions); returns ``target``."""
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer
    from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

    from mono_depth_ros.bag.reader import typestore_for

    typestore = typestore_for("humble")
    mcap = any(p.suffix == ".mcap" for p in source.iterdir())
    writer = Writer(target, version=8, storage_plugin=StoragePlugin.MCAP if mcap else StoragePlugin.SQLITE3)
    writer.set_compression(CompressionMode[mode.upper()], CompressionFormat.ZSTD)
    with Reader(source) as reader, writer:
        connections = {
            c.id: writer.add_connection(
                c.topic, c.msgtype, typestore=typestore, offered_qos_profiles=getattr(c.ext, "offered_qos_profiles", [])
            )
            for c in reader.connections
        }
        for connection, log_ns, raw in reader.messages():
            writer.write(connections[connection.id], log_ns, raw)
    return target


def split_bag(source: Path, target: Path, parts: int) -> list[Path]:
    """The bag folder ``source`` cut in time into ``parts`` storage files in the folder ``target``, named and cut as
    ``ros2 bag record --max-bag-duration`` names them (``target_0.db3``, ``target_1.db3``, ...), with a metadata.yaml
    listing them (per-file counts summed, as rosbag2 writes it); returns the files."""
    import shutil

    import yaml
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer

    from mono_depth_ros.bag.reader import typestore_for

    typestore = typestore_for("humble")
    mcap = any(p.suffix == ".mcap" for p in source.iterdir())
    with Reader(source) as reader:
        messages = list(reader.messages())
        connections = list(reader.connections)
    target.mkdir()
    files, infos = [], []
    for part in range(parts):
        name = f"{target.name}_{part}"
        writer = Writer(target / name, version=8, storage_plugin=StoragePlugin.MCAP if mcap else StoragePlugin.SQLITE3)
        with writer:
            made = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=typestore) for c in connections}
            chunk = messages[part * len(messages) // parts : (part + 1) * len(messages) // parts]
            for connection, log_ns, raw in chunk:
                writer.write(made[connection.id], log_ns, raw)
        (stored,) = [p for p in (target / name).iterdir() if p.suffix in (".db3", ".mcap")]
        info = yaml.safe_load((target / name / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        infos.append(info)
        files.append(stored.rename(target / stored.name))
        shutil.rmtree(target / name)
    merged = infos[0]
    merged["relative_file_paths"] = [f.name for f in files]
    merged["files"] = [file for info in infos for file in info["files"]]
    merged["message_count"] = sum(info["message_count"] for info in infos)
    counts: dict[str, int] = {}
    for info in infos:
        for entry in info["topics_with_message_count"]:
            counts[entry["topic_metadata"]["name"]] = (
                counts.get(entry["topic_metadata"]["name"], 0) + entry["message_count"]
            )
    topics = {e["topic_metadata"]["name"]: e for info in infos for e in info["topics_with_message_count"]}
    merged["topics_with_message_count"] = [{**entry, "message_count": counts[name]} for name, entry in topics.items()]
    last = infos[-1]
    end = last["starting_time"]["nanoseconds_since_epoch"] + last["duration"]["nanoseconds"]
    merged["duration"] = {"nanoseconds": end - merged["starting_time"]["nanoseconds_since_epoch"]}
    (target / "metadata.yaml").write_text(yaml.safe_dump({"rosbag2_bagfile_information": merged}))
    return files


def compress_files_whole(folder: Path) -> list[Path]:
    """Compress each storage file of the bag ``folder`` whole, as ``ros2 bag record --compression-mode file`` leaves
    a split recording (``name_0.db3.zstd``, ...; metadata.yaml updated); returns the compressed files."""
    import yaml

    from mono_depth_ros.bag.compression import zstd

    info = yaml.safe_load((folder / "metadata.yaml").read_text())
    meta = info["rosbag2_bagfile_information"]
    packed = []
    for name in meta["relative_file_paths"]:
        source = folder / name
        packed.append(folder / f"{name}.zstd")
        packed[-1].write_bytes(zstd.compress(source.read_bytes()))
        source.unlink()
    meta["relative_file_paths"] = [p.name for p in packed]
    for entry in meta.get("files") or []:
        entry["path"] += ".zstd"
    meta["compression_mode"], meta["compression_format"] = "FILE", "zstd"
    (folder / "metadata.yaml").write_text(yaml.safe_dump(info))
    return packed


VENDOR_TOPIC, VENDOR_TYPE = "/vendor/status", "vendor_msgs/msg/Status"
VENDOR_CDR = b"\x00\x01\x00\x00\x05"  # one uint8; its definition is not in the bag (nor in any typestore)


def record_on_jazzy(source: Path, target: Path, storage: str, undefined_encoding: str = "") -> Path:
    """The bag folder ``source`` as ``ros2 bag record`` writes it on Jazzy (rosbag2 0.26), with rosbags' writer and
    jazzy definitions; returns ``target`` (a folder with its metadata.yaml, version 9).

    - metadata.yaml version 9: ``offered_qos_profiles`` a YAML list with policy names, ``type_description_hash``.
    - one more topic, :data:`VENDOR_TOPIC` of :data:`VENDOR_TYPE` (one message), whose definition the recorder did
      not find: its ``message_definitions`` row (sqlite3) or schema (MCAP) has encoding ``undefined_encoding`` (``''``
      when no definition file was found, ``'unknown'`` when a type name in it could not be parsed) and no text.
    - ``storage="mcap"``: as the ``fastwrite`` storage preset writes it: no chunks, the message records at the top
      level in the order the recorder's callbacks wrote them, which is not log-time order on Jazzy (the log time is
      the middleware's receive time, taken before the executor runs the callback): here every second message is
      written before the one received just before it. The summary has the schemas, channels and statistics.
    """
    import sqlite3
    from contextlib import closing

    from rosbags.rosbag2 import Reader, StoragePlugin, Writer

    from mono_depth_ros.bag.reader import typestore_for

    typestore = typestore_for("jazzy")
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Reader(source) as reader, Writer(target, version=9, storage_plugin=plugin) as writer:
        made = {
            c.id: writer.add_connection(
                c.topic, c.msgtype, typestore=typestore, offered_qos_profiles=c.ext.offered_qos_profiles
            )
            for c in reader.connections
        }
        vendor = writer.add_connection(VENDOR_TOPIC, VENDOR_TYPE, msgdef="uint8 level", rihs01="RIHS01_" + "0" * 64)
        messages = [(made[c.id], log_ns, bytes(raw)) for c, log_ns, raw in reader.messages()]
        for connection, log_ns, raw in [*messages, (vendor, messages[0][1], VENDOR_CDR)]:
            writer.write(connection, log_ns, raw)
    if storage == "sqlite3":
        (db3,) = target.glob("*.db3")
        with closing(sqlite3.connect(db3)) as db, db:
            db.execute(
                "UPDATE message_definitions SET encoding = ?, encoded_message_definition = '' WHERE topic_type = ?",
                (undefined_encoding, VENDOR_TYPE),
            )
        return target
    (mcap,) = target.glob("*.mcap")
    _write_unchunked_mcap(mcap, undefined_encoding)
    return target


def _write_unchunked_mcap(path: Path, undefined_encoding: str) -> None:
    """Rewrite the .mcap ``path`` unchunked, every second message before its predecessor (see record_on_jazzy)."""
    from io import BytesIO

    from rosbags.rosbag2.storage_mcap import (
        McapReader,
        write_channel,
        write_record,
        write_schema,
        write_string,
        write_uint16,
        write_uint32,
        write_uint64,
    )

    reader = McapReader(path)
    reader.open()
    try:
        schemas = [
            s._replace(encoding=undefined_encoding, data="") if s.name == VENDOR_TYPE else s
            for s in reader.schemas.values()
        ]
        channels = list(reader.channels.values())
        messages = [(c.id, log_ns, bytes(raw)) for c, log_ns, raw in reader.messages(reader.connections)]
    finally:
        reader.close()
    callback_order = [m for pair in zip(messages[1::2], messages[0::2], strict=False) for m in pair]
    callback_order += messages[len(callback_order) :]
    assert sorted(callback_order, key=lambda m: m[1]) != callback_order
    with path.open("wb") as out:
        out.write(b"\x89MCAP0\r\n")
        record = BytesIO()
        write_string(record, "ros2")
        write_string(record, "libmcap 1.4.0")
        write_record(out, 0x01, record)  # header
        for schema in schemas:
            write_schema(out, schema)
        for channel in channels:
            write_channel(out, channel, schemas)
        for channel_id, log_ns, raw in callback_order:
            record = BytesIO()
            write_uint16(record, channel_id)
            write_uint32(record, 0)  # sequence
            write_uint64(record, log_ns)
            write_uint64(record, log_ns)  # publish time
            record.write(raw)
            write_record(out, 0x05, record)  # message
        record = BytesIO()
        write_uint32(record, 0)
        write_record(out, 0x0F, record)  # data end
        summary_start = out.tell()
        for schema in schemas:
            write_schema(out, schema)
        for channel in channels:
            write_channel(out, channel, schemas)
        counts: dict[int, int] = {}
        for channel_id, _, _ in messages:
            counts[channel_id] = counts.get(channel_id, 0) + 1
        record = BytesIO()
        write_uint64(record, len(messages))
        write_uint16(record, len(schemas))
        for count in (len(channels), 0, 0, 0):  # channels, attachments, metadata, chunks
            write_uint32(record, count)
        write_uint64(record, min(m[1] for m in messages))
        write_uint64(record, max(m[1] for m in messages))
        write_uint32(record, 10 * len(counts))
        for channel_id, count in sorted(counts.items()):
            write_uint16(record, channel_id)
            write_uint64(record, count)
        write_record(out, 0x0B, record)  # statistics
        record = BytesIO()
        write_uint64(record, summary_start)
        write_uint64(record, 0)  # no summary offsets
        write_uint32(record, 0)  # no summary CRC (fastwrite)
        write_record(out, 0x02, record)  # footer
        out.write(b"\x89MCAP0\r\n")


def write_mixed_type_bag(path: Path, image_topic: str, image_type: str) -> list[int]:
    """Three tiny frames whose image (on ``image_topic``, as ``image_type``), PointCloud2 and prediction are each
    outnumbered on their topic by five messages of another type (a second publisher; bags merged): CompressedImage
    (or Image) on the image topic, LaserScan on the LiDAR's, a CompressedImage on the prediction's, an Image on the
    camera_info's, all recorded before the frames (so that a reader taking every type gives them the first
    ordinals). Returns the frames' stamps (the extras are stamped 1 ms later and their images are negatives, so their
    stamps and pixels tell them)."""
    from mono_depth_ros.core.msg_compressed import compressed_image_from_array
    from test.kitti_bag import velodyne_planar_scan

    frames = [tiny_frame(i) for i in range(3)]
    with BagBuilder(path, "humble") as bag:
        factory = bag.factory
        bag.add("/tf_static", tf_message_from(factory, [CAM_FROM_LIDAR], START_NS - 1), START_NS - 1)
        for i, frame in enumerate(tiny_frame(i) for i in range(5)):
            stamp_ns = frame.stamp_ns + 1_000_000
            header = make_header(factory, stamp_ns, CAMERA_FRAME)
            negative = 255 - frame.rgb  # pixels that tell them too
            other = (
                image_from_array(factory, negative, "rgb8", header)
                if image_type == "sensor_msgs/msg/CompressedImage"
                else compressed_image_from_array(factory, negative, header, "png")
            )
            log_ns = START_NS - 10**9 + i
            bag.add(image_topic, other, log_ns)
            bag.add("/lidar/points", velodyne_planar_scan(factory, frame.scan, stamp_ns, LIDAR_FRAME), log_ns)
            bag.add("/depth_model/prediction", compressed_image_from_array(factory, frame.rgb, header, "png"), log_ns)
            bag.add("/camera/camera_info", image_from_array(factory, frame.rgb, "rgb8", header), log_ns)
        for frame in frames:
            header = make_header(factory, frame.stamp_ns, CAMERA_FRAME)
            bag.add(
                "/camera/camera_info",
                camera_info_from_model(factory, CameraModel.from_intrinsics(INTRINSICS), header),
                frame.stamp_ns,
            )
            own = (
                compressed_image_from_array(factory, frame.rgb, header, "png")
                if image_type == "sensor_msgs/msg/CompressedImage"
                else image_from_array(factory, frame.rgb, "rgb8", header)
            )
            bag.add(image_topic, own, frame.stamp_ns + 1)
            bag.add(
                "/lidar/points", velodyne_cloud(factory, frame.scan, frame.stamp_ns, LIDAR_FRAME), frame.stamp_ns + 2
            )
            bag.add(
                "/depth_model/prediction",
                depth_image_from_metres(factory, frame.depth_m, "32FC1", header),
                frame.stamp_ns + 3,
            )
    return [frame.stamp_ns for frame in frames]
