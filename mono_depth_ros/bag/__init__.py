"""Offline runner: rosbag2 in → :class:`~mono_depth_ros.pipeline.DepthPipeline` → rosbag2 out (``mono-depth bag``).

Modules: :mod:`.reader` (input bag; :mod:`.folder`: its storage files, with or without metadata.yaml;
:mod:`.compression`: per-message zstd), :mod:`.index` (first pass: stamps, calibration, TF), :mod:`.pairing` (which
camera_info / scan / prediction goes with each image), :mod:`.frames` (message conversions per frame),
:mod:`.runner` (second pass, :func:`run_bag`),
:mod:`.writer` (output bag, metadata version 8), :mod:`.summary` (what was written and skipped).
"""

from __future__ import annotations

from mono_depth_ros.bag.runner import BagRunOptions, run_bag
from mono_depth_ros.bag.summary import BagSummary

__all__ = ["BagRunOptions", "BagSummary", "run_bag"]
