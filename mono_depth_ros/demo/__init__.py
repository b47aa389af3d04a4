"""``mono-depth demo``: the embedded default, end to end, on a machine with no internet, no ROS and no GPU.

Modules: :mod:`.synthetic_bag` (render a drive into an input rosbag2), :mod:`.kitti` (the same from real KITTI
frames), :mod:`.oracle` (the stand-in prediction while no model ships), :mod:`.outputs` (read the output bag back),
:mod:`.evaluate` (accuracy and the LiDAR-only baseline), :mod:`.colour` / :mod:`.plots` / :mod:`.pictures` (PNGs),
:mod:`.report` (tables), :mod:`.run` (:func:`run_demo`, the whole thing).

The names below are imported on first use (PEP 562): :mod:`.run` needs torch, while :mod:`.bag_builder` (numpy and
rosbags only; the bag tests and ``evaluation.scale_rigs`` write bags with it) imports without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mono_depth_ros.demo.oracle import ORACLE_LABEL
    from mono_depth_ros.demo.report import DemoReport
    from mono_depth_ros.demo.run import run_demo

__all__ = ["ORACLE_LABEL", "DemoReport", "run_demo"]

_HOMES = {"ORACLE_LABEL": "oracle", "DemoReport": "report", "run_demo": "run"}

if not TYPE_CHECKING:  # hidden from mypy: a module __getattr__ would make a misspelt name Any instead of an error

    def __getattr__(name: str) -> Any:
        """``mono_depth_ros.demo.NAME`` for the names in ``__all__``, imported from their module on first use."""
        if name not in _HOMES:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
