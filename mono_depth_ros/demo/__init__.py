"""``mono-depth demo``: the embedded default, end to end, on a machine with no internet, no ROS and no GPU.

Modules: :mod:`.synthetic_bag` (render a drive into an input rosbag2), :mod:`.kitti` (the same from real KITTI
frames), :mod:`.oracle` (the stand-in prediction while no model ships), :mod:`.outputs` (read the output bag back),
:mod:`.evaluate` (accuracy and the LiDAR-only baseline), :mod:`.colour` / :mod:`.plots` / :mod:`.pictures` (PNGs),
:mod:`.report` (tables), :mod:`.run` (:func:`run_demo`, the whole thing).
"""

from __future__ import annotations

from mono_depth_ros.demo.oracle import ORACLE_LABEL
from mono_depth_ros.demo.report import DemoReport
from mono_depth_ros.demo.run import run_demo

__all__ = ["ORACLE_LABEL", "DemoReport", "run_demo"]
