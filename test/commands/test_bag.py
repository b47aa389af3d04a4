"""``mono-depth bag`` stopped by SIGTERM / SIGINT: a valid bag with every frame written so far, a summary, 143 / 130.

A real subprocess is signalled while it writes (what ``timeout``, systemd, docker and CI cancellation do); the partial
bag is read back with rosbags (and, in the real-ROS tier, with ``ros2 bag info``: rosbag2's own reader).
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mono_depth_ros.adapters.signals import StopSignals
from mono_depth_ros.bag import BagRunOptions, run_bag
from mono_depth_ros.core.ros_msgs import stamp_to_ns
from test.bag.support import read_bag, signal_while_writing, write_tiny_bag

EXTERNAL_METRIC = ["--param", "model.backend=external", "--param", "model.output_kind=metric",
                   "--param", "scale.mode=none"]  # fmt: skip


def assert_complete_up_to_where_it_stopped(out: Path, frames_in: int) -> int:
    """Every written frame has its depth, camera_info and cloud; returns how many frames were written."""
    messages = read_bag(out)
    stamps = {
        topic: [stamp_to_ns(m.header.stamp) for _, m in messages.get(topic, [])]
        for topic in ("/depth/image", "/depth/camera_info", "/depth/points")
    }
    assert stamps["/depth/image"] == stamps["/depth/camera_info"] == stamps["/depth/points"]
    assert (out / "metadata.yaml").is_file()
    return len(stamps["/depth/image"])


@pytest.mark.parametrize(("storage", "sig", "code"), [("sqlite3", signal.SIGTERM, 143), ("mcap", signal.SIGINT, 130)])
def test_a_signal_mid_run_leaves_a_valid_bag_and_a_summary(
    tmp_path: Path, storage: str, sig: signal.Signals, code: int
) -> None:
    frames = write_tiny_bag(tmp_path / "in", 5000, lidar=False, storage=storage)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "mono_depth_ros.cli", "bag", str(tmp_path / "in"), str(out), "--storage", storage,
         "-q", *EXTERNAL_METRIC],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stdout, stderr = signal_while_writing(process, out, sig)
    assert process.returncode == code, stdout + stderr
    assert f"interrupted by {sig.name}" in stdout and sig.name in stderr
    written = assert_complete_up_to_where_it_stopped(out, len(frames))
    assert 0 < written < len(frames), written
    assert f"out {written}," in stdout


def test_a_stop_request_ends_the_run_cleanly_after_the_frame_in_hand(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 20, lidar=False)

    class StopAfter(StopSignals):
        calls = 0

        def __call__(self) -> bool:
            self.calls += 1
            if self.calls == 30:  # messages, not frames: a few frames are in by then
                self.request("SIGTERM")
            return super().__call__()

    params = {"model.backend": "external", "model.output_kind": "metric", "scale.mode": "none"}
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, BagRunOptions(progress=False), stop=StopAfter())
    assert summary.interrupted == "SIGTERM" and summary.accounted
    written = assert_complete_up_to_where_it_stopped(tmp_path / "out", 20)
    assert written == summary.frames_out and 0 < written < 20
    assert summary.not_processed == 20 - written - summary.skipped.total
    assert "interrupted by SIGTERM" in summary.format()
    # the bag's last /diagnostics status counts every frame processed before the stop, as the summary does
    values = {kv.key: kv.value for kv in read_bag(tmp_path / "out")["/diagnostics"][-1][1].status[0].values}
    processed = summary.frames_out + summary.skipped.total
    assert (int(values["frames_received"]), int(values["frames_published"])) == (processed, written), values


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mono_depth_ros.cli", "bag", *args], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip


def test_exit_codes_scripts_can_trust_on_a_real_kitti_bag(tmp_path: Path, kitti_object_dir: Path) -> None:
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    frames = load_kitti_frames(kitti_object_dir)
    write_kitti_bag(tmp_path / "in", frames, prediction="metric")  # with its Velodyne scans on /lidar/points
    ok = _cli(str(tmp_path / "in"), str(tmp_path / "ok"), *EXTERNAL_METRIC)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # the LiDAR in the bag is named, not silently ignored
    assert "LiDAR not used: the bag has PointCloud2 /lidar/points but lidar_topic is empty" in ok.stdout


def test_nothing_written_and_too_much_skipped_exit_1_with_the_reason(tmp_path: Path) -> None:
    from test.bag.support import write_tiny_bag

    def no_prediction(topic: str, index: int, msg: Any) -> Any:
        if topic == "/depth_model/prediction":
            msg.header.stamp.sec += 1000  # no prediction with the image's stamp: every frame skipped
        return msg

    write_tiny_bag(tmp_path / "all", 3, mutate=no_prediction, lidar=False)
    result = _cli(str(tmp_path / "all"), str(tmp_path / "all_out"), *EXTERNAL_METRIC)
    assert result.returncode == 1
    assert "no frame was written: all 3 image(s) were skipped (3 x no prediction)" in result.stderr

    def two_of_three(topic: str, index: int, msg: Any) -> Any:
        if topic == "/depth_model/prediction" and index < 2:
            msg.header.stamp.sec += 1000
        return msg

    write_tiny_bag(tmp_path / "most", 3, mutate=two_of_three, lidar=False)
    most = _cli(str(tmp_path / "most"), str(tmp_path / "most_out"), *EXTERNAL_METRIC)
    assert most.returncode == 1 and "2 of 3 image(s) skipped (67% > --max-skipped 0.5)" in most.stderr
    lenient = _cli(str(tmp_path / "most"), str(tmp_path / "lenient_out"), *EXTERNAL_METRIC, "--max-skipped", "0.9")
    assert lenient.returncode == 0, lenient.stderr


def test_the_summary_says_why_the_scale_was_not_ok_on_a_real_kitti_bag(tmp_path: Path, kitti_object_dir: Path) -> None:
    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    write_kitti_bag(tmp_path / "in", load_kitti_frames(kitti_object_dir), prediction="relative_inverse",
                    tf_static=False)  # fmt: skip  # scans, but no TF to place them: no LiDAR scale
    params = {"model.backend": "external", "model.output_kind": "relative_inverse", "scale.mode": "lidar",
              "lidar_topic": "/lidar/points"}  # fmt: skip
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, BagRunOptions(progress=False))
    assert summary.frames_out == 3 and sum(summary.scale_reasons.values()) >= 1
    text = summary.format()
    (reason, _), *_ = summary.scale_reasons.most_common(1)
    assert "scale health:" in text and reason in text


def test_a_lidar_outage_on_a_real_kitti_bag_is_one_reason_in_the_summary(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """A relative_inverse model on a real KITTI frame; after three frames the LiDAR sees only behind the car (its
    in-view points gone). Each frame past the anchor's 0.5 s says how old the anchor is: counted by exact text, each
    was its own "1 x" line and the report's top three covered 7 of the 9 degraded frames."""
    import dataclasses

    from test.kitti_bag import load_kitti_frames, write_kitti_bag

    (frame,) = load_kitti_frames(kitti_object_dir, names=("000001",))
    blind = dataclasses.replace(frame, scan=np.ascontiguousarray(frame.scan[frame.scan[:, 0] < 0]))
    write_kitti_bag(tmp_path / "in", [frame] * 3 + [blind] * 9, prediction="relative_inverse")
    params = {"model.backend": "external", "model.output_kind": "relative_inverse", "scale.mode": "lidar",
              "lidar_topic": "/lidar/points", "scale.camera_height_m": 1.65}  # fmt: skip
    summary = run_bag(tmp_path / "in", tmp_path / "out", params, BagRunOptions(progress=False))
    assert summary.scale_health == {"ok": 3, "degraded": 9}
    assert sum(summary.scale_reasons.values()) == 9 and len(summary.scale_reasons) == 2, summary.scale_reasons
    _, (expired, count) = summary.scale_reasons.most_common(2)
    assert count == 4 and "last LiDAR-scaled depth is 0.60 s old" in expired
    assert f"    4 x {expired} (3 of them with other figures)" in summary.format()


def test_nan_weights_on_a_real_kitti_bag_fail_loudly(tmp_path: Path, kitti_object_dir: Path) -> None:
    from mono_depth_ros.models.depth_source import default_weights
    from test.kitti_bag import load_kitti_frames, write_kitti_bag
    from test.models.test_inference import nan_weights_copy

    write_kitti_bag(tmp_path / "in", load_kitti_frames(kitti_object_dir))
    broken = str(nan_weights_copy(default_weights(), tmp_path / "nan.safetensors"))
    model = ["--param", f"model.weights={broken}", "--param", "device=cpu", "--param", "scale.mode=none"]
    refused = _cli(str(tmp_path / "in"), str(tmp_path / "refused"), *model)  # the default golden_check: warn
    assert refused.returncode == 2 and "all-NaN" in refused.stderr, refused.stderr
    unchecked = _cli(str(tmp_path / "in"), str(tmp_path / "unchecked"), *model, "--param", "model.golden_check=off")
    assert unchecked.returncode == 1  # before: 100 % NaN depth written, exit 0
    assert "no frame was written: all 3 image(s) were skipped (3 x pipeline: ModelOutputError)" in unchecked.stderr


def _file_size_limit(limit_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` that caps the size of any file the child writes: a disk that fills up mid-run (the write that
    crosses it fails with EFBIG; Python ignores SIGXFSZ)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return cap


def _metadata_agrees_with_storage(out: Path) -> dict[str, int]:
    """metadata.yaml's message counts, start and duration are those of the messages rosbags reads from the storage
    file; returns the counts per topic."""
    import yaml
    from rosbags.rosbag2 import Reader

    info = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    listed = {t["topic_metadata"]["name"]: t["message_count"] for t in info["topics_with_message_count"]}
    with Reader(out) as reader:
        stamps: dict[str, list[int]] = {}
        for connection, log_ns, _ in reader.messages():
            stamps.setdefault(connection.topic, []).append(log_ns)
    stored = {topic: len(times) for topic, times in stamps.items()}
    assert {topic: count for topic, count in listed.items() if count} == stored
    assert info["message_count"] == sum(stored.values()) == sum(f["message_count"] for f in info["files"])
    every = [t for times in stamps.values() for t in times]
    assert info["starting_time"]["nanoseconds_since_epoch"] == min(every)
    assert info["duration"]["nanoseconds"] == max(every) - min(every)
    return stored


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_disk_that_fills_up_mid_run_exits_2_with_a_bag_of_the_frames_written_before(
    tmp_path: Path, storage: str
) -> None:
    """Before: a traceback and exit 1 (the code of "too many frames skipped"); sqlite3's metadata.yaml listed 185
    messages over a storage file that held none (the run was one transaction, rolled back by the failed write), and
    the MCAP file had no footer and no metadata.yaml (rosbags could not open it). sqlite3 commits frames in batches
    (bag.writer.CommittingSqlite3Writer): the failed write rolls back to the last batch, and "N of M" counts the
    frames of the batches in the file (a commit per frame kept 13 here). The 1 MB limit holds ~14 of these frames
    (~62 KB each): a batch of more (COMMIT_FRAMES >= 15) would leave no frame, whatever the code does right."""
    from mono_depth_ros.bag.writer import COMMIT_FRAMES

    write_tiny_bag(tmp_path / "in", 60, lidar=False)
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "mono_depth_ros.cli", "bag", str(tmp_path / "in"), str(out), "--storage", storage,
         "-q", *EXTERNAL_METRIC],
        capture_output=True, text=True, timeout=300, check=False, preexec_fn=_file_size_limit(1_000_000),
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"mono-depth bag: error: cannot write the output bag {out}")
    written = assert_complete_up_to_where_it_stopped(out, 60)
    assert 0 < written < 60, f"{written} frames written: does a batch of {COMMIT_FRAMES} frames fit under 1 MB?"
    if storage == "sqlite3":
        assert written % COMMIT_FRAMES == 0, written
    assert f"{written} of 60 frames were written to {out}" in line
    stored = _metadata_agrees_with_storage(out)
    assert stored["/depth/image"] == written


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_killed_run_leaves_the_frames_written_before_whole(tmp_path: Path, storage: str) -> None:
    """SIGKILL (the OOM killer, ``timeout -s KILL``, a CI job cancelled hard) while writing: no metadata.yaml, but the
    storage file holds every frame up to a recent one, each whole, and the project's reader reads them. Before,
    sqlite3 was one transaction until the end: the killed run left a large .db3 and a hot journal holding nothing.
    An MCAP chunk the kill cut gives back its whole messages before the cut (bag.mcap_storage): the last frame may
    then lack the messages written after its image (its camera_info, its cloud), never one before it. sqlite3 commits
    frames in batches (bag.writer.CommittingSqlite3Writer): the kill loses the frames of the unfinished one."""
    from mono_depth_ros.bag.reader import InputBag, typestore_for
    from mono_depth_ros.bag.writer import COMMIT_FRAMES

    write_tiny_bag(tmp_path / "in", 2000, lidar=False, storage=storage)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "mono_depth_ros.cli", "bag", str(tmp_path / "in"), str(out), "--storage", storage,
         "-q", *EXTERNAL_METRIC],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:  # killed once frames are being written
        if sum(f.stat().st_size for f in out.glob("out_0.*") if f.is_file()) > 2_000_000:
            break
        time.sleep(0.01)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    with InputBag(out, typestore_for("humble")) as bag:
        counts = bag.message_counts
        stamps = {topic: [m.log_ns for m in bag.messages({topic})] for topic in OUTPUT_IMAGE_TOPICS}
    assert 0 < counts.get("/depth/image", 0) < 2000, counts
    if storage == "sqlite3":  # committed in batches of COMMIT_FRAMES small frames: the kill lost the unfinished one
        assert counts["/depth/image"] % COMMIT_FRAMES == 0, counts
    images = stamps["/depth/image"]  # written first of each frame's three
    for topic in ("/depth/camera_info", "/depth/points"):
        assert stamps[topic] == images[: len(stamps[topic])] and len(images) - len(stamps[topic]) <= 1, topic
    assert stamps["/depth/points"] == stamps["/depth/camera_info"][: len(stamps["/depth/points"])]


OUTPUT_IMAGE_TOPICS = ("/depth/image", "/depth/camera_info", "/depth/points")


def test_paths_starting_with_a_tilde_are_in_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--config=~/depth.yaml`` (no shell expands a ``~`` after ``=``), and IN / OUT quoted or from a script's
    variable: before, the config was "cannot read parameters file ~/depth.yaml" (exit 2), the input "does not exist",
    and the output went to a new folder named ``~`` in the working directory (exit 0)."""
    import yaml

    from mono_depth_ros.cli import main

    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    write_tiny_bag(home / "in", 2, lidar=False)
    parameters = {"model": {"backend": "external", "output_kind": "metric"}, "scale": {"mode": "none"}}
    (home / "depth.yaml").write_text(yaml.safe_dump({"/**": {"ros__parameters": parameters}}))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    assert main(["bag", "~/in", "~/out", "-q", "--config=~/depth.yaml"]) == 0, capsys.readouterr().err
    assert f"bag {home / 'in'} -> {home / 'out'}" in capsys.readouterr().out
    assert len(read_bag(home / "out")["/depth/image"]) == 2
    assert not (work / "~").exists()


@pytest.mark.parametrize("share", ["50", "-0.1", "nan"])
def test_max_skipped_outside_0_to_1_is_refused_before_the_run(share: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``--max-skipped 50`` (read as per cent) or ``nan``: no share of skipped images is above it, so a run that
    skipped every second image exited 0; refused by argparse (exit 2) naming the range."""
    from mono_depth_ros.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["bag", "in", "out", "--max-skipped", share])
    assert refused.value.code == 2
    assert f"--max-skipped: {share} is not a share between 0 and 1 (0.1 = 10 %)" in capsys.readouterr().err


def test_a_signal_before_the_writing_starts_stops_at_once_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C while the first pass reads the bag (minutes on a long one) or the model loads: before, the flag waited
    for the second pass, so the whole index and the model load ran on, and then an empty output bag was created
    (which the next run refused: "already exists"). Now the run stops there, exit 130, and OUT is not created."""
    from mono_depth_ros.bag import runner
    from mono_depth_ros.cli import main

    write_tiny_bag(tmp_path / "in", 3, lidar=False)
    indexed: list[int] = []
    index_bag = runner.index_bag

    def signalled_while_indexing(*args: Any, **kwargs: Any) -> Any:
        signal.raise_signal(signal.SIGINT)
        indexed.append(1)  # not reached when the signal stops the run at once
        return index_bag(*args, **kwargs)

    monkeypatch.setattr(runner, "index_bag", signalled_while_indexing)
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "-q", *EXTERNAL_METRIC]) == 130
    assert not indexed and not (tmp_path / "out").exists()
    err = capsys.readouterr().err
    assert f"interrupted by SIGINT: nothing written ({tmp_path / 'out'} not created)" in err
    assert "SIGINT: stopping before anything is written" in err and "finishing the frame in hand" not in err


def test_a_second_signal_in_the_middle_of_a_frame_leaves_the_bag_with_whole_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second Ctrl-C stops at once (KeyboardInterrupt), here between a frame's depth image and its camera_info:
    before, closing the bag kept that frame's depth image without its camera_info and cloud (a consumer pairing
    them by stamp found a depth image it could not project), and metadata.yaml counted it."""
    from mono_depth_ros.bag.writer import OutputBag
    from mono_depth_ros.cli import main

    write_tiny_bag(tmp_path / "in", 4, lidar=False)
    write_raw = OutputBag.write_raw
    calls: list[str] = []

    def second_ctrl_c(self: OutputBag, topic: str, *args: Any) -> None:
        calls.append(topic)
        if calls.count("/depth/image") == 3 and topic == "/depth/camera_info":
            raise KeyboardInterrupt
        write_raw(self, topic, *args)

    monkeypatch.setattr(OutputBag, "write_raw", second_ctrl_c)
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "-q", *EXTERNAL_METRIC]) == 130
    assert f"interrupted by SIGINT: {tmp_path / 'out'} closed with the frames written before" in capsys.readouterr().err
    assert assert_complete_up_to_where_it_stopped(tmp_path / "out", 4) == 2
    assert _metadata_agrees_with_storage(tmp_path / "out")["/depth/image"] == 2


def test_a_robots_params_file_with_a_section_per_camera_runs_the_camera_named_by_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The params file of a two-camera robot (``/**`` + ``/front/mono_depth_node`` + ``/left/mono_depth_node``): the
    runner applied ``/**`` alone and ran on the default topics with the shared values; now one camera per run,
    named by ``--node`` (its section applied as rclpy applies it), and without ``--node`` refused with that remedy."""
    import yaml

    from mono_depth_ros.cli import main

    write_tiny_bag(tmp_path / "in", 2, lidar=False)
    shared = {"model": {"backend": "external", "output_kind": "metric"}, "scale": {"mode": "none"}}
    robot = {"/**": {"ros__parameters": shared},
             "/front/mono_depth_node": {"ros__parameters": {"image_topic": "/camera/image_raw"}},
             "/left/mono_depth_node": {"ros__parameters": {"image_topic": "/left/image_raw"}}}  # fmt: skip
    config = tmp_path / "robot.yaml"
    config.write_text(yaml.safe_dump(robot, sort_keys=False))
    run = ["bag", str(tmp_path / "in"), "-q", "--config", str(config)]
    assert main([*run, str(tmp_path / "out")]) == 2
    assert "one run takes one camera; name its node, e.g. --node /front/mono_depth_node" in capsys.readouterr().err
    assert main([*run, str(tmp_path / "left"), "--node", "/left/mono_depth_node"]) == 2
    assert "has no topic '/left/image_raw' (image_topic)" in capsys.readouterr().err  # its section applied
    assert main([*run, str(tmp_path / "front"), "--node", "/front/mono_depth_node"]) == 0, capsys.readouterr().err
    assert len(read_bag(tmp_path / "front")["/front/depth/image"]) == 2  # as /front/mono_depth_node publishes it


@pytest.mark.parametrize(
    ("given", "meant"), [("front", "/front/mono_depth_node"), ("/robot1/front/", "/robot1/front/mono_depth_node")]
)
def test_a_namespace_given_as_node_is_refused_naming_the_node(
    given: str, meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--node front`` (a camera's namespace): its sections never matched (no section for /front) and its outputs
    went to /depth/* with a status named 'front: depth'."""
    from mono_depth_ros.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["bag", "in", "out", "--node", given])
    assert refused.value.code == 2
    assert f"is not a node name ending in /mono_depth_node; the camera's node, e.g. {meant}" in capsys.readouterr().err


def test_a_max_skipped_share_beside_strict_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--strict`` is ``--max-skipped 0``: ``--strict --max-skipped 0.2`` ran with no skipped image allowed, the 0.2
    dropped without a word. Refused naming both, before the input is opened (no OUT); ``--max-skipped 0.5`` (the
    default) beside ``--strict`` is taken."""
    from mono_depth_ros.cli import main

    write_tiny_bag(tmp_path / "in", 3, lidar=False)
    args = ["bag", str(tmp_path / "in"), "--strict", "-q", *EXTERNAL_METRIC]
    assert main([*args[:2], str(tmp_path / "out"), *args[2:], "--max-skipped", "0.2"]) == 2
    assert "--max-skipped 0.2 is not read with --strict" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main([*args[:2], str(tmp_path / "ok"), *args[2:], "--max-skipped", "0.5"]) == 0
