"""Inputs as real ROS 2 tools make them: image_transport's republisher (compressed_image_transport) and cv_bridge."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from mono_depth_ros.core import ros_msgs
from test.kitti_bag import CAMERA_FRAME, KittiFrame, kitti_camera_info

from .harness import RELIABLE, Launched, Probe, depth_array, wait_until, write_params


@pytest.fixture
def republished_tiff(probe: Probe, ros_logs: Path) -> Iterator[None]:
    """``ros2 run image_transport republish raw compressed`` with ``out.format:=tiff``: /cam/raw → the node's input."""
    log = open(ros_logs / "republish_tiff.log", "wb")  # noqa: SIM115 - closed below
    republish = subprocess.Popen(
        ["ros2", "run", "image_transport", "republish", "raw", "compressed", "--ros-args", "-r", "in:=/cam/raw",
         "-r", "out/compressed:=/camera/image_raw/compressed", "-p", "out.format:=tiff"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        yield
    finally:
        os.killpg(republish.pid, signal.SIGINT)
        republish.wait(20)
        log.close()


def test_tiff_from_the_real_republisher_gives_the_same_depth_for_rgb8_and_bgr8(
    republished_tiff: None, probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """compressed_image_transport's tiff keeps the message's pixel order (``"bgr8; tiff compressed "`` holds BGR):
    the same picture sent as rgb8 and as bgr8 must give the same depth (it was refused as an unknown format)."""
    params = {"image_transport": "compressed", "scale.mode": "fixed", "output.downscale": 4}
    launched = Launched(
        {"device": "cpu", "params_file": str(write_params(ros_logs / "tiff.yaml", params))}, ros_logs / "tiff.log"
    )
    try:
        launched.wait_ready(probe, topic="/camera/image_raw/compressed")
        depth = probe.collect(Image, "/depth/image", RELIABLE)
        compressed = probe.collect(CompressedImage, "/camera/image_raw/compressed", RELIABLE)
        pub_image = probe.publisher(Image, "/cam/raw", RELIABLE)  # the republisher subscribes reliable
        pub_info = probe.publisher(CameraInfo, "/camera/camera_info", RELIABLE)
        wait_until(lambda: pub_image.get_subscription_count() > 0, 30, "the republisher's subscription")
        wait_until(lambda: probe.node.count_publishers("/camera/image_raw/compressed") > 0, 30, "its publisher")
        time.sleep(1.0)
        frame, factory = kitti_frames[0], probe.factory
        stamps = {}
        for encoding, pixels in (("rgb8", frame.rgb), ("bgr8", np.ascontiguousarray(frame.rgb[..., ::-1]))):
            stamp = probe.now_ns()
            pub_info.publish(kitti_camera_info(factory, frame, stamp))
            header = ros_msgs.make_header(factory, stamp, CAMERA_FRAME)
            pub_image.publish(ros_msgs.image_from_array(factory, pixels, encoding, header))
            stamps[encoding] = stamp
            time.sleep(1.0)
        wait_until(lambda: set(stamps.values()) <= set(depth.by_stamp()), 30, "depth of both frames")
        formats = {stamp: m.format for stamp, m in compressed.by_stamp().items()}
        assert [formats[stamps[e]] for e in ("rgb8", "bgr8")] == ["rgb8; tiff compressed ", "bgr8; tiff compressed "]
        from_rgb, from_bgr = (depth_array(depth.by_stamp()[stamps[e]]) for e in ("rgb8", "bgr8"))
        assert np.isfinite(from_rgb).mean() > 0.5
        np.testing.assert_array_equal(from_rgb, from_bgr)
    finally:
        assert launched.stop() == 0, launched.log[-3000:]
