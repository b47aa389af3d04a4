"""Metric scale recovery (ROS-free): LiDAR projection with occlusion filter, robust fits per output kind,
a gated log-scale filter, a ground-plane prior and the :class:`ScaleRecovery` object that chains them.

Modules: ``lidar`` (scan → sparse depth), ``motion`` (scan → image time), ``fit`` (robust fits), ``ground``
(camera-height prior), ``temporal`` (log-scale Kalman filter), ``recovery`` (the per-frame entry point),
``result`` (what it returns); for evaluation only: ``evaluation`` (oracle-perturbed predictions, simulated sparse
LiDARs, metrics), ``protocol`` (the KITTI protocol) and ``sequence`` (a synthetic sequence for temporal tests).
The pipeline needs only ``ScaleRecovery``, ``RecoveryConfig``, ``LidarScan`` (and ``CameraTwist``) and
``ScaleResult``; see docs/scale_recovery.md.
"""

from __future__ import annotations

from mono_depth_ros.core.scale.fit import FitConfig, FitResult, apply_fit, fit_for_kind
from mono_depth_ros.core.scale.ground import GroundPlaneConfig, ground_plane_fit
from mono_depth_ros.core.scale.lidar import (
    LidarScan,
    ProjectionConfig,
    ProjectionStats,
    ScratchBuffers,
    SparseDepth,
    project_scan,
)
from mono_depth_ros.core.scale.motion import CameraTwist, motion_compensate
from mono_depth_ros.core.scale.recovery import RecoveryConfig, ScaleRecovery
from mono_depth_ros.core.scale.result import Health, ScaleMode, ScaleResult
from mono_depth_ros.core.scale.temporal import FilterConfig, LogScaleFilter

__all__ = [
    "CameraTwist",
    "FilterConfig",
    "FitConfig",
    "FitResult",
    "GroundPlaneConfig",
    "Health",
    "LidarScan",
    "LogScaleFilter",
    "ProjectionConfig",
    "ProjectionStats",
    "RecoveryConfig",
    "ScaleMode",
    "ScaleRecovery",
    "ScaleResult",
    "ScratchBuffers",
    "SparseDepth",
    "apply_fit",
    "fit_for_kind",
    "ground_plane_fit",
    "motion_compensate",
    "project_scan",
]
