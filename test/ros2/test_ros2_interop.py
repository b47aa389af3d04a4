"""Real ROS 2 tools on the node's outputs: depth_image_proc rebuilds /depth/points live; ros2 bag reads our bags."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from mono_depth_ros.core import ros_msgs
from test.kitti_bag import LIDAR_OFFSET_NS, KittiFrame, write_kitti_bag

from .harness import (
    BEST_EFFORT,
    NODE_FQN,
    RELIABLE,
    KittiFeeder,
    Launched,
    Probe,
    depth_array,
    diagnostic_values,
    feed_images,
    param_value,
    ros2_run,
    running,
    settled_status,
    started,
    wait_until,
    write_params,
)

XY_ATOL_M = 1e-5  # depth_image_proc multiplies by float32 1/fx; our path precomputes (u - cx) / fx


@pytest.fixture
def plain_node(probe: Probe, ros_logs: Path) -> Iterator[Launched]:
    # half resolution (621 x 188): depth_image_proc republishes best effort, and a 7.5 MB full-size cloud is not
    # reliably delivered to a best-effort reader on loopback (see README, "Large messages")
    params = write_params(ros_logs / "plain.yaml", {"output.downscale": 2})
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / "plain.log")
    launched.wait_ready(probe)
    yield launched
    assert launched.stop() == 0, launched.log[-3000:]


def xyz_of(cloud: PointCloud2) -> np.ndarray:
    """(H, W, 3) float32 x, y, z from the offsets the message declares."""
    offsets = {f.name: f.offset for f in cloud.fields}
    rows = np.frombuffer(bytes(cloud.data), dtype=np.uint8).reshape(cloud.height, cloud.row_step)
    points = rows[:, : cloud.width * cloud.point_step].reshape(cloud.height, cloud.width, cloud.point_step)
    return np.stack(
        [points[..., offsets[a] : offsets[a] + 4].copy().view("<f4")[..., 0] for a in ("x", "y", "z")], axis=-1
    )


def test_depth_image_proc_rebuilds_our_cloud_from_our_depth_image(
    plain_node: Launched, probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    with ros2_run("depth_image_proc", "point_cloud_xyz_node", ros_logs / "depth_image_proc.log", "--ros-args",
                  "-r", "image_rect:=/depth/image", "-r", "camera_info:=/depth/camera_info",
                  "-r", "points:=/dip/points"):  # fmt: skip
        ours = probe.collect(PointCloud2, "/depth/points", RELIABLE)
        theirs = probe.collect(PointCloud2, "/dip/points", BEST_EFFORT)  # depth_image_proc publishes sensor-data QoS
        wait_until(lambda: probe.node.count_publishers("/dip/points") > 0, 30, "depth_image_proc's /dip/points")
        wait_until(lambda: probe.node.count_subscribers("/depth/image") > 0, 30, "depth_image_proc's subscription")
        stamps = feed_images(probe, kitti_frames, 3, period_s=1.5)
        wait_until(lambda: set(stamps) <= set(ours.by_stamp()), 30, "our clouds")
        wait_until(lambda: len(set(stamps) & set(theirs.by_stamp())) >= 2, 30, "depth_image_proc's clouds")
        compared = 0
        for stamp in set(stamps) & set(theirs.by_stamp()):
            a, b = ours.by_stamp()[stamp], theirs.by_stamp()[stamp]
            assert (a.height, a.width, a.is_dense, a.header.frame_id) == (b.height, b.width, b.is_dense,
                                                                         b.header.frame_id)  # fmt: skip
            xyz_a, xyz_b = xyz_of(a), xyz_of(b)
            np.testing.assert_array_equal(np.isnan(xyz_a), np.isnan(xyz_b))
            finite = np.isfinite(xyz_b[..., 2])
            assert finite.mean() > 0.5
            np.testing.assert_array_equal(xyz_a[..., 2][finite], xyz_b[..., 2][finite])  # z bit-identical
            np.testing.assert_allclose(xyz_a[finite][:, :2], xyz_b[finite][:, :2], rtol=0, atol=XY_ATOL_M)
            compared += 1
        assert compared >= 2


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_ros2_bag_reads_and_plays_the_bag_runner_output(
    storage: str, probe: Probe, kitti_frames: list[KittiFrame], tmp_path: Path
) -> None:
    written = write_kitti_bag(tmp_path / "in", kitti_frames, storage=storage)
    out = tmp_path / "out"
    # MCAP at camera resolution: the depth images (1.9 MB) and clouds (7.5 MB) are chunks of their own (over 1 MiB)
    full = ["--param", "output.downscale=1"] if storage == "mcap" else []
    run = subprocess.run(
        ["ros2", "run", "mono_depth_ros", "mono-depth", "bag", str(tmp_path / "in"), str(out), "--storage", storage,
         "--param", "device=cpu", "--param", "lidar_topic=/lidar/points", *full, "-q"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    info = subprocess.run(["ros2", "bag", "info", str(out)], capture_output=True, text=True, timeout=60, check=True)
    text = info.stdout
    assert f"Storage id:        {storage}" in text, text
    expected = {"/depth/image": "Image", "/depth/camera_info": "CameraInfo", "/depth/points": "PointCloud2"}
    for topic, type_name in ((t, f"sensor_msgs/msg/{n}") for t, n in expected.items()):
        match = re.search(rf"Topic: {re.escape(topic)} \| Type: {re.escape(type_name)} \| Count: (\d+)", text)
        assert match is not None and int(match.group(1)) == len(written), text

    depth = probe.collect(Image, "/depth/image", RELIABLE)
    time.sleep(0.5)
    play = subprocess.run(["ros2", "bag", "play", str(out), "--topics", "/depth/image"], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert play.returncode == 0, play.stdout + play.stderr
    try:
        stamps = {frame.stamp_ns for frame in written}
        wait_until(lambda: stamps <= set(depth.by_stamp()), 20, "the played depth images")
        for stamp, msg in depth.by_stamp().items():
            if stamp in stamps:
                assert msg.header.frame_id == "camera_optical" and msg.encoding == "32FC1"
                assert np.isfinite(depth_array(msg)).mean() > 0.5
                assert ros_msgs.stamp_to_ns(msg.header.stamp) == stamp
    finally:
        probe.drop(depth)


def test_ros2_bag_play_of_our_bag_delivers_tf_static_to_a_transform_listener(
    probe: Probe, kitti_frames: list[KittiFrame], tmp_path: Path
) -> None:
    """A bag written by our BagBuilder (demo and test input bags) played by ``ros2 bag play``: its /tf_static reaches a
    subscriber with tf2_ros TransformListener's QoS (transient local). Recorded without QoS it was offered volatile,
    an incompatible QoS: no static transform (camera <- LiDAR) ever reached the live node."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy
    from tf2_msgs.msg import TFMessage

    written = write_kitti_bag(tmp_path / "in", kitti_frames[:1])
    listener_qos = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL, history=HistoryPolicy.KEEP_LAST)
    static = probe.collect(TFMessage, "/tf_static", listener_qos)
    try:
        play = subprocess.run(["ros2", "bag", "play", str(tmp_path / "in")], capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        assert play.returncode == 0, play.stdout + play.stderr
        (message,) = static.wait_for(1, timeout_s=10)
        (transform,) = message.transforms
        assert (transform.header.frame_id, transform.child_frame_id) == ("camera_optical", "velodyne")
        assert ros_msgs.stamp_to_ns(transform.header.stamp) <= written[0].stamp_ns
    finally:
        probe.drop(static)


def _fields(message: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(np.asarray(getattr(message, n)).tolist() if n in ("k", "r", "p", "d") else getattr(message, n)
                 for n in names)  # fmt: skip


@pytest.mark.parametrize("live_road", ["host", "device"])
def test_the_node_and_the_bag_runner_publish_the_same_outputs(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, tmp_path: Path, live_road: str
) -> None:
    """One road: the same frames through ``mono-depth bag`` and the live node give the same messages and keys.

    ``device``: the node runs the steps after the network on the model's device (``output.device_postprocess: on``,
    here the CPU, torch) while the bag runner takes the host road: the messages must still be the same.
    """
    frames = [kitti_frames[0]] * 3  # one calibration: the node's static TF holds for every frame
    written = write_kitti_bag(tmp_path / "in", frames)
    run = subprocess.run(
        ["ros2", "run", "mono_depth_ros", "mono-depth", "bag", str(tmp_path / "in"), str(tmp_path / "out"),
         "--param", "device=cpu", "--param", "lidar_topic=/lidar/points", "--param", "diagnostics.period_s=0.05",
         "-q"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    from test.bag.support import read_bag

    offline = read_bag(tmp_path / "out")
    arguments = {"device": "cpu", "lidar": "/lidar/points"}
    if live_road == "device":
        road = {"output.device_postprocess": "on"}
        arguments["params_file"] = str(write_params(ros_logs / "device_road.yaml", road))
    launched = Launched(arguments, ros_logs / f"one_road_{live_road}.log")
    with running(launched):
        launched.wait_ready(probe)
        assert param_value(NODE_FQN, "output.device_postprocess") == ("on" if live_road == "device" else "auto")
        probe.send_static_tf(frames[0].cam_from_velo, written[0].stamp_ns)
        live = {
            "/depth/image": probe.collect(Image, "/depth/image", RELIABLE),
            "/depth/camera_info": probe.collect(CameraInfo, "/depth/camera_info", RELIABLE),
            "/depth/points": probe.collect(PointCloud2, "/depth/points", RELIABLE),
            "/diagnostics": probe.collect(DiagnosticArray, "/diagnostics", RELIABLE),
        }
        feeder = KittiFeeder(probe, frames)
        probe.wait_matched(feeder.pub_image, feeder.pub_info, feeder.pub_lidar, probe.static_tf.pub_tf)
        for index, frame in enumerate(written):  # as the drivers would: image, then its scan 30 ms stamped earlier
            feeder.publish_image(index, frame.stamp_ns)
            time.sleep(0.03)
            feeder.publish_scan(index, frame.stamp_ns + LIDAR_OFFSET_NS)
            time.sleep(1.0)
        stamps = [frame.stamp_ns for frame in written]
        wait_until(lambda: set(stamps) <= set(live["/depth/points"].by_stamp()), 30, "the live outputs")
        live_status = settled_status(live["/diagnostics"], probe.now_ns())  # counts the last frame (1.5 s: no bound)

    image_fields = ("height", "width", "encoding", "is_bigendian", "step")
    info_fields = ("height", "width", "distortion_model", "d", "k", "r", "p", "binning_x", "binning_y")
    cloud_fields = ("height", "width", "point_step", "row_step", "is_dense", "is_bigendian")
    for topic, fields in (("/depth/image", image_fields), ("/depth/camera_info", info_fields),
                          ("/depth/points", cloud_fields)):  # fmt: skip
        bag_by_stamp = {ros_msgs.stamp_to_ns(m.header.stamp): m for _, m in offline[topic]}
        live_by_stamp = live[topic].by_stamp()
        for stamp in stamps:
            ours, theirs = live_by_stamp[stamp], bag_by_stamp[stamp]
            assert ours.header.frame_id == theirs.header.frame_id
            assert _fields(ours, fields) == _fields(theirs, fields), topic
            if topic == "/depth/points":
                assert [(f.name, f.offset, f.datatype, f.count) for f in ours.fields] == [
                    (f.name, f.offset, f.datatype, f.count) for f in theirs.fields]  # fmt: skip
            if topic != "/depth/camera_info":
                a = np.frombuffer(bytes(ours.data), dtype="<f4")
                b = np.frombuffer(bytes(theirs.data), dtype="<f4")
                np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
                np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-5, atol=1e-6)

    bag_status = diagnostic_values(offline["/diagnostics"][-1][1])
    assert bag_status is not None
    assert set(bag_status) == set(live_status), set(bag_status) ^ set(live_status)
    same = (
        "_level",
        "scale_mode",
        "scale_health",
        "inliers",
        "backend",
        "encoding",
        "sync_mode",
        "lidar_topic",
        "scale_mode_requested",
        "frames_received",
        "frames_published",
        "frames_dropped_stale",
        "bad_messages",
        "worker_errors",
    )  # fps, latency, age and window counts differ by nature (wall vs bag time)
    for key in same:
        assert bag_status[key] == live_status[key], (key, bag_status[key], live_status[key])
    for key in ("scale", "shift", "inlier_ratio", "residual"):
        assert float(bag_status[key]) == pytest.approx(float(live_status[key]), rel=1e-4, abs=1e-6), key
    for probe_collector in live.values():
        probe.drop(probe_collector)


def test_ros2_bag_reads_a_bag_the_runner_closed_on_sigterm(tmp_path: Path) -> None:
    """rosbag2's own MCAP reader (the second decoder after rosbags) reads what a SIGTERM left."""
    from test.bag.support import signal_while_writing, write_tiny_bag

    frames = write_tiny_bag(tmp_path / "in", 5000, lidar=False, storage="mcap")
    out = tmp_path / "out"
    command = _bag_runner(tmp_path / "in", out, "mcap")
    process = started(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       start_new_session=True), command)  # fmt: skip
    stdout, stderr = signal_while_writing(process, out, signal.SIGTERM)  # to the runner, as systemd sends it
    assert process.returncode == 143, stdout + stderr
    written = int(re.search(r"frames in \d+, out (\d+),", stdout).group(1))  # type: ignore[union-attr]
    assert 0 < written < len(frames)
    info = subprocess.run(["ros2", "bag", "info", str(out)], capture_output=True, text=True, timeout=60, check=True)
    match = re.search(r"Topic: /depth/image \| Type: sensor_msgs/msg/Image \| Count: (\d+)", info.stdout)
    assert match is not None and int(match.group(1)) == written, info.stdout


def _bag_runner(source: Path, out: Path, storage: str) -> list[str]:
    """The installed ``mono-depth bag`` (what ``ros2 run`` starts) from ``source`` into ``out``, external metric."""
    prefix = subprocess.run(["ros2", "pkg", "prefix", "mono_depth_ros"], capture_output=True, text=True, check=True)
    executable = str(Path(prefix.stdout.strip()) / "lib" / "mono_depth_ros" / "mono-depth")
    return [executable, "bag", str(source), str(out), "--storage", storage, "-q", "--param",
            "model.backend=external", "--param", "model.output_kind=metric", "--param", "scale.mode=none"]  # fmt: skip


def _depth_images_listed(out: Path) -> int:
    info = subprocess.run(["ros2", "bag", "info", str(out)], capture_output=True, text=True, timeout=60, check=True)
    match = re.search(r"Topic: /depth/image \| Type: sensor_msgs/msg/Image \| Count: (\d+)", info.stdout)
    assert match is not None, info.stdout
    return int(match.group(1))


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_ros2_bag_reindex_rebuilds_the_metadata_of_a_killed_bag_runner_output(storage: str, tmp_path: Path) -> None:
    """A run killed outright (SIGKILL, the OOM killer) leaves no metadata.yaml; ``ros2 bag reindex`` is rosbag2's
    way to rebuild it, and it looks for ``<folder>_<n>.<ext>`` files, as ``ros2 bag record`` names them. Before,
    the runner wrote rosbags' ``<folder>.db3`` / ``<folder>.mcap``: "No database files found for reindexing. Abort",
    no metadata.yaml, and ``ros2 bag info`` / ``play`` could not open the bag. A sqlite3 file killed inside a
    transaction keeps its hot journal, which rosbag2 (opening it read-only) cannot roll back: any read-write open of
    the file does that first (docs/reliability.md)."""
    import sqlite3
    from contextlib import closing

    from test.bag.support import write_tiny_bag

    write_tiny_bag(tmp_path / "in", 3000, lidar=False, storage=storage)
    out = tmp_path / "out"
    command = _bag_runner(tmp_path / "in", out, storage)
    process = started(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True), command)  # fmt: skip
    # ~2 MB of output: a few committed sqlite3 batches (its schema alone is 7 pages of 16 KiB), some MCAP chunks
    wait_until(lambda: sum(p.stat().st_size for p in out.glob("*.*[3p]")) > 2_000_000 or process.poll() is not None,
               120, "the runner's output to pass 2 MB")  # fmt: skip
    process.kill()
    assert process.wait(30) == -signal.SIGKILL, "the run ended before it was killed: a bigger input is needed"
    assert not (out / "metadata.yaml").exists()
    for journal in out.glob("*.db3-journal"):
        # killed inside a batch's transaction: rosbag2 opens the file read-only, and SQLite cannot roll a hot journal
        # back read-only ("attempt to write a readonly database"); one read-write open does. Where the kill came
        # (timing) decides what is left: no journal (between batches), a hot one, or one SQLite does not take for
        # hot (0 bytes: created, its header not written yet), which stays and which a read-only open ignores
        hot = journal.read_bytes()[:1] not in (b"", b"\0")
        with closing(sqlite3.connect(journal.with_suffix(".db3"))) as db:
            db.execute("PRAGMA quick_check")
        assert not (hot and journal.exists())
    reindex = subprocess.run(["ros2", "bag", "reindex", str(out), "-s", storage], capture_output=True, text=True,
                             timeout=60, check=False)  # fmt: skip
    assert reindex.returncode == 0 and (out / "metadata.yaml").exists(), reindex.stdout + reindex.stderr
    listed = _depth_images_listed(out)
    assert listed > 0
    if storage == "sqlite3":
        (db3,) = out.glob("*.db3")
        with sqlite3.connect(f"file:{db3}?mode=ro", uri=True) as db:
            stored = db.execute("SELECT count(*) FROM messages JOIN topics ON topics.id = topic_id "
                                "WHERE name = '/depth/image'").fetchone()[0]  # fmt: skip
        assert listed == stored
    play = subprocess.run(["ros2", "bag", "play", str(out), "--topics", "/diagnostics", "--rate", "50"],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert play.returncode == 0, play.stdout + play.stderr


def test_a_split_message_compressed_recording_copied_without_metadata_runs_as_with_it(
    kitti_frames: list[KittiFrame], tmp_path: Path
) -> None:
    """Humble's own recorder (--compression-mode message, split by size); the .db3 files alone give the same run."""
    import os
    import shutil

    from mono_depth_ros.bag import BagRunOptions, run_bag

    write_kitti_bag(tmp_path / "in", kitti_frames, prediction="metric")
    rec = tmp_path / "rec"
    topics = ["/camera/image_raw", "/camera/camera_info", "/tf_static", "/depth_model/prediction"]
    record = ["ros2", "bag", "record", "-o", str(rec), "--compression-mode", "message", "--compression-format", "zstd",
              "-b", "1000000", *topics]  # fmt: skip
    recorder = started(subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True), record)  # fmt: skip
    try:
        wait_until(lambda: any(rec.glob("*.db3")), 20, "ros2 bag record to open its bag")
        # the recorder subscribes when it discovers the player's topics: --delay gives it that time
        subprocess.run(["ros2", "bag", "play", str(tmp_path / "in"), "--delay", "1.5"], capture_output=True,
                       timeout=60, check=True)  # fmt: skip
        time.sleep(1.0)
    finally:
        os.killpg(recorder.pid, signal.SIGINT)
        recorder.wait(timeout=30)
    files = sorted(rec.glob("*.db3"))
    assert len(files) > 1, files  # split
    copied = tmp_path / "copied"
    copied.mkdir()
    for path in files:
        shutil.copy(path, copied)  # the .db3 files only, as users copy them
    params = {"model.backend": "external", "model.output_kind": "metric", "scale.mode": "none"}
    options = BagRunOptions(progress=False)
    with_metadata = run_bag(rec, tmp_path / "out_rec", params, options)
    without = run_bag(copied, tmp_path / "out_copied", params, options)  # was: no metadata.yaml, nothing run
    assert with_metadata.frames_in >= 1 and with_metadata.frames_out >= 1
    for summary in (with_metadata, without):
        assert summary.accounted
    assert (without.frames_in, without.frames_out, without.skipped.counts, without.topic_counts) == (
        with_metadata.frames_in,
        with_metadata.frames_out,
        with_metadata.skipped.counts,
        with_metadata.topic_counts,
    )
    assert any("each payload is a zstd frame" in note for note in without.notes), without.notes
    assert any("has no metadata.yaml" in note for note in without.notes), without.notes
