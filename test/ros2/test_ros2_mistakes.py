"""A newcomer's mistakes on real ROS 2: each gets a log line that names the value and the remedy.

Each test launches its own node (real ``ros2 launch``) with one mistake made as a new user makes it, feeds real
KITTI frames, and reads the node's log: the warning must send the user to the setting that fixes it.
"""

from __future__ import annotations

import time
from pathlib import Path

from test.kitti_bag import KittiFrame

from .harness import KittiFeeder, Launched, Probe, wait_until


def test_a_camera_info_published_in_another_namespace_names_the_parameter_that_sets_the_topic(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """The driver publishes camera_info on /cam2/camera_info, the node listens on /camera/camera_info: every image is
    counted ``no_camera_info``, and the warning said "publish it with the image's stamp, or use sync.mode: latest",
    neither of which makes a camera_info arrive."""
    launched = Launched({"device": "cpu"}, ros_logs / "camera_info_elsewhere.log")
    try:
        launched.wait_ready(probe)
        feeder = KittiFeeder(probe, kitti_frames, info_topic="/cam2/camera_info")
        wait_until(lambda: feeder.pub_image.get_subscription_count() > 0, 30, "the node's image subscription")
        for index in range(3):
            feeder.publish_image(index, probe.now_ns())
            time.sleep(0.2)
        said = "nothing has arrived on /camera/camera_info since the node started: set camera_info_topic (launch: "
        wait_until(lambda: said in launched.log, 20, "the no_camera_info warning")
        line = next(line for line in launched.log.splitlines() if said in line)
        assert "camera_info:=)" in line and "sync.mode" not in line, line
    finally:
        assert launched.stop() == 0
