"""``mono-depth bag`` stopped by SIGTERM / SIGINT: a valid bag with every frame written so far, a summary, 143 / 130.

A real subprocess is signalled while it writes (what ``timeout``, systemd, docker and CI cancellation do); the partial
bag is read back with rosbags (and, in the real-ROS tier, with ``ros2 bag info``: rosbag2's own reader).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mono_depth_ros.bag import BagRunOptions, run_bag
from mono_depth_ros.bag.runner import StopRequest
from mono_depth_ros.core.ros_msgs import stamp_to_ns
from test.bag.support import read_bag, write_tiny_bag

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
    deadline = time.monotonic() + 120
    while not out.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # the output bag appears when the second pass (the writing) starts
    time.sleep(0.2)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == code, stdout + stderr
    assert f"interrupted by {sig.name}" in stdout and sig.name in stderr
    written = assert_complete_up_to_where_it_stopped(out, len(frames))
    assert 0 < written < len(frames), written
    assert f"out {written}," in stdout


def test_a_stop_request_ends_the_run_cleanly_after_the_frame_in_hand(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 20, lidar=False)

    class StopAfter(StopRequest):
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
