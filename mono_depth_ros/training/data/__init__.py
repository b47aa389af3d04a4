"""Training datasets: every one returns the same :class:`~.sample.Sample` record (torch tensors, metres, NaN invalid).

Modules: :mod:`.sample` (the record and batching), :mod:`.records` (the file-based loader the datasets share),
:mod:`.kitti_raw` (KITTI raw sequences + Velodyne, Eigen split files), :mod:`.kitti_depth` (KITTI annotated depth),
:mod:`.nyu` (NYU Depth V2), :mod:`.folder` (a generic rgb/ + depth/ folder), :mod:`.rosbag_sequence` (image sequences
from a rosbag2, for self-supervision on a robot's own recordings). Use ``collate_fn=collate_samples`` in DataLoaders.
"""

from __future__ import annotations

from mono_depth_ros.training.data.sample import Sample, SampleBatch, collate_samples

__all__ = ["Sample", "SampleBatch", "collate_samples"]
