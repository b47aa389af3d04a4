"""The frame of ``/depth/scan`` when ``scan.frame_id`` is empty: warned about when it may not have x forward.

A ``sensor_msgs/LaserScan`` lies in a frame with x forward (bearing 0), y left, z up. With ``scan.frame_id`` empty,
:func:`~mono_depth_ros.core.laser_scan.scan_frame_id` takes the image frame without its ``_optical`` suffix (the
camera's body frame, by the REP 103 / 105 naming convention). An image frame without that suffix (kitti2bag's
``camera_color_left``, many drivers' ``camera``) is taken as it is, and its axes may well be the optical frame's
(z forward, x right): a costmap would then place every bearing wrong, and nothing in the messages shows it.
:class:`ScanFrameCheck` warns once per such image frame_id, for the node's log and the bag runner's summary alike.

It also warns once per finding when the LiDAR -> camera transform looks wrong
(:mod:`~mono_depth_ros.core.scale.extrinsic_check`: rolled 180°, a LiDAR upside down, a body frame as optical, parent
and child swapped): every frame's ``scale_reason`` carries it too, but a log line per frame would bury it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mono_depth_ros.core.laser_scan import scan_frame_id
from mono_depth_ros.pipeline import FrameOutput


class ScanFrameCheck:
    """Warns once per image frame_id whose scan falls back to that frame unchanged (not thread-safe: one caller).

    Args:
        warn: called with the warning (the frame, why, the remedy).
        warn_extrinsic: called with a LiDAR -> camera transform finding (None: ``warn``).
    """

    def __init__(self, warn: Callable[[str], Any], warn_extrinsic: Callable[[str], Any] | None = None) -> None:
        self._warn = warn
        self._warn_extrinsic = warn_extrinsic or warn
        self._warned: set[str] = set()
        self._extrinsic_warned: set[str] = set()

    def check(self, output: FrameOutput, setting: str) -> None:
        """``output``: a frame about to be published; ``setting``: ``scan.frame_id`` (non-empty: the user's choice)."""
        self._check_extrinsic(output)
        frame = output.frame_id
        if output.scan is None or setting or frame in self._warned or scan_frame_id(frame) != frame:
            return
        self._warned.add(frame)
        self._warn(
            f"/depth/scan is stamped in the image frame {frame!r} as it is: scan.frame_id is empty and {frame!r} has "
            "no _optical suffix to strip, so its axes may be the optical frame's (z forward) where a LaserScan needs "
            "x forward; set scan.frame_id to a frame with x forward, y left, z up at the camera's optical centre and "
            f"publish its TF (when {frame!r} is optical: ros2 run tf2_ros static_transform_publisher --roll -1.5708 "
            f"--yaw -1.5708 --frame-id {frame}_scan --child-frame-id {frame}, and scan.frame_id: {frame}_scan)"
        )

    def _check_extrinsic(self, output: FrameOutput) -> None:
        """Warn once per finding (its mistake and frame) that the LiDAR -> camera transform looks wrong."""
        mistake, text = output.scale.lidar_extrinsic, output.scale.lidar_extrinsic_text
        key = f"{mistake} {output.frame_id}"
        if mistake and key not in self._extrinsic_warned:
            self._extrinsic_warned.add(key)
            self._warn_extrinsic(f"image frame {output.frame_id!r}: {text}")
