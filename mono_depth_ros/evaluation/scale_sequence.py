"""Synthetic driving sequence for the temporal behaviour of scale recovery (dropouts, outliers, scale steps).

Each frame is a road scene (flat ground at the camera height, a far wall, a few boxes standing on the ground)
with exact depth, a 16-beam LiDAR scan of it and an oracle-perturbed prediction whose hidden scale follows a
schedule. Events per frame: ``normal``, ``dropout`` (no scan), ``late`` (scan 0.5 s old), ``outlier`` (every
LiDAR range × 1.5: a consistent but wrong scan, e.g. a wrong extrinsic or unit), ``step`` (the scene changes and,
except for metric models, the hidden scale changes by ×1.3: the model re-normalised or drifted).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.geometry import RigidTransform, backproject_depth
from mono_depth_ros.core.scale.lidar import LidarScan
from mono_depth_ros.core.scale.recovery import ScaleRecovery
from mono_depth_ros.core.scale.result import Health, ScaleMode
from mono_depth_ros.evaluation.scale import PerturbationConfig, perturb_prediction

SEQUENCE_INTRINSICS = PinholeIntrinsics(300.0, 300.0, 207.5, 50.0, width=416, height=128)
CAMERA_HEIGHT_M = 1.5
FRAME_PERIOD_NS = 100_000_000  # 10 Hz
# LiDAR 0.3 m behind and 0.1 m above the camera (x forward, y left, z up), as on a car roof.
CAM_FROM_LIDAR = RigidTransform(
    np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), np.array([0.0, -0.1, -0.3]), "camera", "lidar"
)


@dataclass(frozen=True)
class SequenceFrame:
    """One synthetic frame.

    Attributes:
        index: frame number.
        stamp_ns: image stamp.
        event: what happens to the LiDAR / the model in this frame (see the module docstring).
        depth_m: (H, W) float32 true depth, metres.
        prediction: (H, W) float32 prediction of the sequence's output kind.
        lidar: the scan (None on dropout frames).
    """

    index: int
    stamp_ns: int
    event: str
    depth_m: npt.NDArray[np.float32]
    prediction: npt.NDArray[np.float32]
    lidar: LidarScan | None


@dataclass(frozen=True)
class FrameRecord:
    """What the recovery did with one frame: ``error`` = median(output / truth) - 1 over valid pixels."""

    index: int
    event: str
    mode: ScaleMode
    health: Health
    error: float
    age_ns: int


def default_schedule(n_frames: int = 200) -> list[str]:
    """Events for ``n_frames`` at 10 Hz: a 1 s dropout (frames 30-39), single outliers (45, 60, 61), late scans
    (70-72), a scale step (100) and, from frame 130 on, a dropout longer than the default 5 s hold."""
    events = ["normal"] * n_frames
    special = {45: "outlier", 60: "outlier", 61: "outlier", 70: "late", 71: "late", 72: "late", 100: "step"}
    for i in range(n_frames):
        if 30 <= i < 40 or i >= 130:
            events[i] = "dropout"
        events[i] = special.get(i, events[i])
    return events


def render_scene(boxes: npt.NDArray[np.float64], intrinsics: PinholeIntrinsics) -> npt.NDArray[np.float32]:
    """(H, W) float32 depth of ground + far wall (50 m) + boxes ``(K, 4)``: depth, x_left, x_right, height (m)."""
    h, w = intrinsics.height, intrinsics.width
    v = np.arange(h, dtype=np.float64)[:, None]
    u = np.arange(w, dtype=np.float64)[None, :]
    below = v > intrinsics.cy + 1e-6
    ground = np.where(below, CAMERA_HEIGHT_M * intrinsics.fy / np.maximum(v - intrinsics.cy, 1e-6), np.inf)
    depth: npt.NDArray[np.float64] = np.minimum(np.broadcast_to(ground, (h, w)), 50.0)
    for z, x0, x1, height in boxes:
        u0, u1 = intrinsics.cx + intrinsics.fx * x0 / z, intrinsics.cx + intrinsics.fx * x1 / z
        v0 = intrinsics.cy + intrinsics.fy * (CAMERA_HEIGHT_M - height) / z
        v1 = intrinsics.cy + intrinsics.fy * CAMERA_HEIGHT_M / z
        inside = (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1)
        depth = np.where(inside, np.minimum(depth, z), depth)
    return depth.astype(np.float32)


def _random_boxes(rng: np.random.Generator, count: int = 4, near_m: float = 6.0) -> npt.NDArray[np.float64]:
    z = rng.uniform(near_m, 35.0, count)
    x0 = rng.uniform(-8.0, 6.0, count)
    return np.stack([z, x0, x0 + rng.uniform(1.5, 3.0, count), rng.uniform(1.0, 2.5, count)], axis=1)


def _scan(depth_m: npt.NDArray[np.float32], rng: np.random.Generator, scale_ranges: float) -> npt.NDArray[np.float32]:
    """16-beam scan of the true depth (every 2nd column of 16 rows), 1 % range noise, in the LiDAR frame."""
    points = backproject_depth(depth_m, SEQUENCE_INTRINSICS)
    rows = np.linspace(SEQUENCE_INTRINSICS.cy - 20, SEQUENCE_INTRINSICS.height - 4, 16).astype(int)
    sampled = points[rows, ::2].reshape(-1, 3).astype(np.float64)
    sampled *= (1.0 + rng.normal(0.0, 0.01, size=(sampled.shape[0], 1))) * scale_ranges
    points_in_lidar: npt.NDArray[np.float32] = CAM_FROM_LIDAR.inverse().apply(sampled).astype(np.float32)
    return points_in_lidar


def synthetic_sequence(
    kind: OutputKind,
    events: Sequence[str],
    seed: int = 0,
    perturbation: PerturbationConfig | None = None,
) -> Iterator[SequenceFrame]:
    """Yield the frames of a sequence with the given per-frame events (see :func:`default_schedule`)."""
    rng = np.random.default_rng(seed)
    perturbation = perturbation or PerturbationConfig(
        low_freq_sigma=0.1, outlier_fraction=0.01, frame_scale_jitter=0.0, metric_scale_error=0.0
    )
    boxes = _random_boxes(rng)
    base_scale = 1.1 if OutputKind(kind) is OutputKind.METRIC else 3.0  # metric: a constant 10 % error
    for index, event in enumerate(events):
        stamp_ns = index * FRAME_PERIOD_NS
        if event == "step":
            if OutputKind(kind) is not OutputKind.METRIC:  # a metric model keeps its (10 % wrong) scale
                base_scale *= 1.3
            boxes = _random_boxes(rng)
        boxes[:, 0] -= 0.5  # driving towards the boxes at 5 m/s; passed boxes reappear far ahead
        passed = boxes[:, 0] < 5.0
        boxes[passed] = _random_boxes(rng, int(passed.sum()), near_m=25.0)
        depth = render_scene(boxes, SEQUENCE_INTRINSICS)
        prediction, _ = perturb_prediction(depth, kind, rng, perturbation, base_scale=base_scale)
        lidar = None
        if event != "dropout":
            points = _scan(depth, rng, 1.5 if event == "outlier" else 1.0)
            scan_stamp = stamp_ns - (500_000_000 if event == "late" else 0)
            lidar = LidarScan(points, CAM_FROM_LIDAR, scan_stamp)
        yield SequenceFrame(index, stamp_ns, event, depth, prediction, lidar)


def run_sequence(recovery: ScaleRecovery, frames: Iterator[SequenceFrame], kind: OutputKind) -> list[FrameRecord]:
    """Feed frames to ``recovery`` and record mode, health and the metric error of each output."""
    records = []
    for frame in frames:
        result = recovery.update(frame.prediction, kind, frame.stamp_ns, SEQUENCE_INTRINSICS, frame.lidar)
        ok = np.isfinite(result.depth_m) & (frame.depth_m < 49.0)  # the far wall is beyond any useful range
        ratio = result.depth_m[ok] / frame.depth_m[ok]
        error = float(np.median(ratio) - 1.0) if ratio.size else math.nan
        records.append(FrameRecord(frame.index, frame.event, result.mode, result.health, error, result.age_ns))
    return records
