"""Faults of a robot's drivers in the middle of a stream, on real ROS 2 Humble with real KITTI frames: what the node
logs, counts and publishes while the fault lasts, and that it carries on when the fault ends, without a restart.

Invariants checked: no traceback in the node's log, every image the node received accounted for in ``/diagnostics``
(published, dropped or a bad message with its reason), the outputs after the fault as before it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import Image

from test.kitti_bag import KittiFrame

from .harness import (
    RELIABLE,
    KittiFeeder,
    Launched,
    Probe,
    accounted,
    operating,
    settled_status,
    wait_until,
    write_params,
)


@dataclass
class Fed:
    """What a node fed by :func:`fed` showed: its last ``/diagnostics`` status, its log, and the depth images
    published before each step (then at the end)."""

    status: dict[str, str]
    log: str
    depth_before: list[int]


def fed(
    probe: Probe,
    kitti_frames: list[KittiFrame],
    ros_logs: Path,
    name: str,
    steps: int,
    fault: Callable[[int, Any, Any], tuple[Any, Any | None]],
) -> Fed:
    """Launch the node (``input_qos: reliable``), then publish one real KITTI frame ``steps`` times at 10 Hz, each
    stamped now and passed through ``fault(step, image, camera_info)``, which returns the image and the camera_info
    to publish (None: none this step); 2 s later the node's last status. The node must stop cleanly, no traceback."""
    params = write_params(ros_logs / f"{name}.yaml", {"diagnostics.period_s": 0.25, "input_qos": "reliable"})
    launched = Launched({"device": "cpu", "params_file": str(params)}, ros_logs / f"{name}.log")
    with operating(probe, launched) as operated:
        launched.wait_ready(probe)
        depth = operated.collect(Image, "/depth/image")
        diagnostics = operated.collect(DiagnosticArray, "/diagnostics")
        feeder = KittiFeeder(probe, kitti_frames[:1], qos=RELIABLE)
        feeder.wait_connected(lidar=False)
        depth_before = []
        for step in range(steps):
            depth_before.append(depth.count())
            image, info = fault(step, *feeder.image_msgs(0, probe.now_ns()))
            if info is not None:
                feeder.pub_info.publish(info)
            feeder.pub_image.publish(image)
            time.sleep(0.1)
        time.sleep(2.0)
        # every image's outcome counted (a worker still on the last frames of a loaded machine is not a fault), and
        # the depth of every published frame here (it can arrive after the status that counts it)
        status = settled_status(diagnostics, probe.now_ns())
        published = int(status["frames_published"])
        with contextlib.suppress(AssertionError):
            wait_until(lambda: depth.count() >= published, 10, f"{published} depth images")
        depth_before.append(depth.count())
    return Fed(status, launched.log, depth_before)  # read once stopped: every line of the node is in


def handed_on(status: dict[str, str]) -> int:
    """Images the node handed on to its worker: published, or dropped stale by a busy worker (seen: 16 of 17)."""
    return int(status["frames_published"]) + int(status["frames_dropped_stale"])


def test_a_camera_info_that_stops_while_images_go_on_is_named_stopped_and_pairs_again_when_back(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """The camera_info publisher stops for 3 s while the images go on at 10 Hz (a camera_info_manager that died, a
    driver restarted without it), then comes back. Each image without its camera_info is counted ``no_camera_info``;
    the warning said "no camera_info within sync.slop_s=0.05 s of it (latest camera_info stamped <3 s before>);
    publish it with the image's stamp, or use sync.mode: latest": stamps were never the matter, and sync.mode: latest
    would run on with the calibration of a dead publisher. It now says the camera_info stopped, since when, and what to
    look at. Once it is back the images pair and are published again; every image is accounted for."""
    gap = range(20, 50)  # 2 s with camera_info, 3 s without, 2 s with again
    run = fed(probe, kitti_frames, ros_logs, "info_stops", 70, lambda k, im, ci: (im, None if k in gap else ci))
    status, log = run.status, run.log
    assert accounted(status) and status["worker_errors"] == "0", status
    assert int(status["bad_messages.no_camera_info"]) == len(gap), status
    resumed = run.depth_before[gap.stop]
    assert handed_on(status) == 70 - len(gap) and run.depth_before[-1] >= resumed + 15, (status, resumed)  # 20 sent
    assert "camera_info stopped" in log and "/camera/camera_info" in log, log[-3000:]
    assert "publish it with the image's stamp" not in log, log[-3000:]


def test_images_before_the_first_camera_info_say_it_started_after_them(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A camera whose camera_info starts 0.3 s after its images (a driver that sends it once calibrated; what a
    lifecycle activate did too, its camera_info subscription matched after the image's: seen once in three cycles):
    the three images before it are counted ``no_camera_info`` and were warned 'no camera_info within
    sync.slop_s=0.05 s of it (latest camera_info stamped <after it>); publish it with the image's stamp, or use
    sync.mode: latest', though every stamp was right. The warning says the camera_info started after them; the
    images since pair, every image accounted for."""
    run = fed(probe, kitti_frames, ros_logs, "info_late", 20, lambda k, image, info: (image, info if k >= 3 else None))
    status, log = run.status, run.log
    assert accounted(status) and status["bad_messages.no_camera_info"] == "3", status
    assert handed_on(status) == 17, status
    assert "camera_info started after the images" in log and "sync.mode: latest" not in log, log[-3000:]


def unstamped_at_10(step: int, image: Any, info: Any) -> tuple[Any, Any]:
    """The image of step 10 stamped 0 (its camera_info stamped)."""
    if step == 10:
        image.header.stamp.sec, image.header.stamp.nanosec = 0, 0
    return image, info


def test_one_unstamped_image_amid_the_stream_is_counted_with_the_stamp_remedy_and_the_rest_go_on(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A driver that leaves one image's stamp 0 amid a 10 Hz stream with stamped camera_infos: that image is counted
    ``no_camera_info`` with the stamp remedy (this branch's 'started after' text had called it an image before the
    camera_info started, stamped 1.7e9 s after it), the others are published, every image accounted for."""
    run = fed(probe, kitti_frames, ros_logs, "stamp_zero", 20, unstamped_at_10)
    status, log = run.status, run.log
    assert accounted(status) and status["bad_messages.no_camera_info"] == "1", status
    assert handed_on(status) == 19, status
    assert "image stamped 0.000 s not paired" in log and "started after" not in log, log[-3000:]
