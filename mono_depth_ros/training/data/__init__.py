"""Training datasets: every one returns the same :class:`~.sample.Sample` record (torch tensors, metres, NaN invalid).

Modules: :mod:`.sample` (the record and batching), :mod:`.records` (the file-based loader the datasets share),
:mod:`.kitti_raw` (KITTI raw sequences + Velodyne, Eigen split files), :mod:`.kitti_depth` (KITTI annotated depth),
:mod:`.nyu` (NYU Depth V2), :mod:`.folder` (a generic rgb/ + depth/ folder), :mod:`.rosbag_sequence` (image sequences
from a rosbag2, for self-supervision on a robot's own recordings). Use ``collate_fn=collate_samples`` in DataLoaders.

The names below are imported from :mod:`.sample` on first use (PEP 562): it needs torch, while :mod:`.kitti_files`
(numpy and OpenCV only; ``mono-depth demo --kitti``, the evaluation and the LiDAR tests read KITTI files with it)
imports without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mono_depth_ros.training.data.sample import Sample, SampleBatch, collate_samples

__all__ = ["Sample", "SampleBatch", "collate_samples"]

if not TYPE_CHECKING:  # hidden from mypy: a module __getattr__ would make a misspelt name Any instead of an error

    def __getattr__(name: str) -> Any:
        """``mono_depth_ros.training.data.NAME`` for the names in ``__all__``, imported from :mod:`.sample` on first
        use."""
        if name not in __all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{__name__}.sample"), name)
