"""The LaserScan's frame: an image frame without an ``_optical`` suffix is warned about once per frame_id."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mono_depth_ros.adapters.scan_frame import ScanFrameCheck
from mono_depth_ros.core.laser_scan import ScanData
from test.adapters.test_messages import _output

SCAN = ScanData(np.ones(4, np.float32), -0.5, 0.5, 1.0 / 3.0, 0.1, 10.0)


def test_an_image_frame_without_optical_suffix_is_warned_once_per_frame_id_with_the_remedy() -> None:
    warnings: list[str] = []
    check = ScanFrameCheck(warnings.append)
    for frame_id in ("camera_color_left", "camera_color_left", "camera", "camera_color_left"):
        check.check(replace(_output(cloud=False), frame_id=frame_id, scan=SCAN, scan_frame_id=frame_id), "")
    assert len(warnings) == 2
    assert "'camera_color_left'" in warnings[0] and "'camera'" in warnings[1]
    assert "x forward" in warnings[0] and "set scan.frame_id" in warnings[0] and "TF" in warnings[0]


def test_no_warning_with_an_optical_frame_a_scan_frame_id_or_no_scan() -> None:
    warnings: list[str] = []
    check = ScanFrameCheck(warnings.append)
    optical = replace(_output(cloud=False), frame_id="camera_optical", scan=SCAN, scan_frame_id="camera")
    check.check(optical, "")  # camera_optical -> camera: the body frame, x forward
    check.check(replace(optical, frame_id="camera", scan_frame_id="base_scan"), "base_scan")  # set by the user
    check.check(replace(optical, frame_id="camera", scan=None), "")  # scan.enabled false
    assert warnings == []


def test_a_wrong_lidar_transform_is_warned_once_per_finding_and_image_frame() -> None:
    warnings: list[str] = []
    extrinsic: list[str] = []
    check = ScanFrameCheck(warnings.append, extrinsic.append)
    quiet = replace(_output(cloud=False), frame_id="camera_optical")
    found = replace(quiet.scale, lidar_extrinsic="roll_180", lidar_extrinsic_text="... Remedy: fix the roll")
    for output in (quiet, replace(quiet, scale=found), replace(quiet, scale=found), quiet):
        check.check(output, "")
    check.check(replace(quiet, frame_id="camera2_optical", scale=found), "")
    assert extrinsic == [
        "image frame 'camera_optical': ... Remedy: fix the roll",
        "image frame 'camera2_optical': ... Remedy: fix the roll",
    ]
    assert warnings == []  # the scan-frame warnings go their own way (the bag summary files them apart)
