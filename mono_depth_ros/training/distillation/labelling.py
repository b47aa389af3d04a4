"""Labelling: the teacher predicts every frame of the sources that the cache lacks, and the cache keeps it.

Labels are computed on the full-resolution image and then area-averaged to the label size over valid pixels (a label
pixel needs half of its footprint valid); LiDAR points are z-buffered straight at the label size (nearest return per
pixel); features are average-pooled onto a ``label size / feature_stride`` grid. Where an undistorted raw image is
black fill (:attr:`UnlabelledFrame.seen`; at the label size, any label pixel whose footprint has fill) label and
LiDAR are NaN, as the node's depth is there. Frames already in the cache are
skipped without being decoded (see :mod:`.pseudo_labels` for the layout).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from mono_depth_ros.core.camera import PinholeIntrinsics, seen_at
from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.geometry import zbuffer_depth
from mono_depth_ros.models.preprocess import preprocess
from mono_depth_ros.training.distillation.label_sources import FrameSource, UnlabelledFrame
from mono_depth_ros.training.distillation.pseudo_labels import (
    CacheManifest,
    PseudoLabel,
    open_cache,
    write_pseudo_label,
)
from mono_depth_ros.training.distillation.teacher import Teacher, TeacherOutput

_LOG = logging.getLogger(__name__)


def feature_grid(label_hw: tuple[int, int], feature_stride: int) -> tuple[int, int]:
    """(fh, fw) = label size / ``feature_stride``, at least 1 × 1."""
    return max(1, label_hw[0] // feature_stride), max(1, label_hw[1] // feature_stride)


def resize_rgb(rgb: npt.NDArray[np.uint8], hw: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 -> (h, w, 3) uint8 as the node resizes the model's input (:func:`preprocess`: bilinear,
    antialiased when shrinking), so the student learns on the image it is given on line."""
    if rgb.shape[:2] == hw:
        return np.ascontiguousarray(rgb)
    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None]
    resized = preprocess(image, hw, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))[0]
    return resized.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def resize_values(values: npt.NDArray[np.floating], hw: tuple[int, int]) -> npt.NDArray[np.float32]:
    """(H, W) float map with NaN invalid -> (h, w) float32: area average over the valid part of each footprint.

    A pixel stays valid when at least half of its footprint is; its value is the mean of the valid values there.
    """
    if values.ndim != 2:
        msg = f"label map must be (H, W), got {values.shape}"
        raise ShapeError(msg)
    valid = np.isfinite(values)
    if values.shape == hw:
        return np.where(valid, values, np.nan).astype(np.float32)
    size = (hw[1], hw[0])
    weight = cv2.resize(valid.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    total = cv2.resize(np.where(valid, values, 0.0).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    out = np.full(hw, np.nan, dtype=np.float32)
    keep = weight >= 0.5
    out[keep] = total[keep] / weight[keep]
    return out


def pool_features(features: npt.NDArray[np.floating], grid_hw: tuple[int, int]) -> npt.NDArray[np.float16]:
    """(C, h, w) features -> (C, fh, fw) float16, adaptive average pooling (repeats cells when enlarging)."""
    tensor = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))[None]
    pooled = F.adaptive_avg_pool2d(tensor, grid_hw)[0]
    return pooled.numpy().astype(np.float16)


def lidar_depth_at(
    points_in_camera: npt.NDArray[np.float64] | None, intrinsics: PinholeIntrinsics | None, hw: tuple[int, int]
) -> npt.NDArray[np.float32]:
    """Z-buffer of LiDAR points (camera optical frame, metres) at the label size; all NaN without points."""
    if points_in_camera is None or intrinsics is None or points_in_camera.shape[0] == 0:
        return np.full(hw, np.nan, dtype=np.float32)
    depth_m, _ = zbuffer_depth(points_in_camera, intrinsics.resized(hw[1], hw[0]))
    return depth_m


def make_pseudo_label(
    frame: UnlabelledFrame, output: TeacherOutput, label_hw: tuple[int, int], grid_hw: tuple[int, int]
) -> PseudoLabel:
    """Resize one frame and its teacher output to the cache's sizes."""
    if output.values.shape != frame.rgb.shape[:2]:
        msg = f"teacher output {output.values.shape} does not match image {frame.rgb.shape[:2]} of {frame.key}"
        raise ShapeError(msg)
    k = np.full((3, 3), np.nan)
    if frame.intrinsics is not None:
        k = frame.intrinsics.resized(label_hw[1], label_hw[0]).matrix
    features = pool_features(output.features, grid_hw) if output.features is not None else None
    values = output.values if frame.seen is None else np.where(frame.seen, output.values, np.nan)
    label = resize_values(values, label_hw)
    lidar_depth_m = lidar_depth_at(frame.points_in_camera, frame.intrinsics, label_hw)
    if frame.seen is not None:
        unseen = ~seen_at(frame.seen, label_hw)
        label[unseen] = np.nan
        lidar_depth_m[unseen] = np.nan
    return PseudoLabel(
        rgb=resize_rgb(frame.rgb, label_hw), label=label, lidar_depth_m=lidar_depth_m, k=k, features=features
    )


@dataclass
class SourceReport:
    """Labelling of one source: frames labelled now, found in the cache, with LiDAR, and problems by reason."""

    name: str
    labelled: int = 0
    cached: int = 0
    with_lidar: int = 0
    problems: dict[str, int] = field(default_factory=dict)


@dataclass
class LabelReport:
    """What :func:`label_sources` did.

    Attributes:
        cache_dir: the cache. sources: per source. wall_s: seconds spent. teacher_ms: mean teacher time per frame.
    """

    cache_dir: Path
    sources: list[SourceReport] = field(default_factory=list)
    wall_s: float = 0.0
    teacher_ms: float = 0.0

    @property
    def labelled(self) -> int:
        """Frames labelled in this run."""
        return sum(s.labelled for s in self.sources)

    @property
    def cached(self) -> int:
        """Frames already in the cache (skipped without decoding)."""
        return sum(s.cached for s in self.sources)

    def format(self) -> str:
        """A few lines for the terminal."""
        lines = [f"pseudo-labels in {self.cache_dir}: {self.labelled} labelled, {self.cached} already cached"]
        for source in self.sources:
            text = f"  {source.name}: {source.labelled} new ({source.with_lidar} with LiDAR), {source.cached} cached"
            if source.problems:
                text += "; " + ", ".join(f"{reason}: {n}" for reason, n in sorted(source.problems.items()))
            lines.append(text)
        return "\n".join(lines) + "\n"


def _progress(total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit="frame", desc="labelling", dynamic_ncols=True)


def _no_focal_message(teacher: Teacher, source: str, key: str) -> str:
    what = teacher.weights or teacher.spec.architecture
    return (
        f"teacher {what} gives metres only with the camera's focal length ({teacher.spec.output_kind.value}), and "
        f"frame {key} of {source} "
        f"has no camera (an image folder without intrinsics.yaml): add ROOT/intrinsics.yaml beside rgb/ (fx, fy, cx, "
        f"cy in pixels of rgb/; docs/training_data.md), or label it with a teacher that needs no focal length"
    )


def label_sources(
    teacher: Teacher,
    sources: Sequence[FrameSource],
    cache_dir: str | Path,
    label_hw: tuple[int, int],
    feature_stride: int = 16,
    progress: bool = True,
) -> LabelReport:
    """Label every frame of ``sources`` that the cache lacks (see the module docstring).

    Raises:
        ConfigError: the cache belongs to another teacher / size (see :func:`open_cache`); a frame without a camera
            for a teacher that needs its focal length (``metric_focal``).
    """
    started = time.perf_counter()
    grid_hw = feature_grid(label_hw, feature_stride)
    channels = 0
    if teacher.has_features:  # one probe to learn C (the cache records it)
        height, width = label_hw  # any camera will do for the probe (a metric_focal teacher needs one)
        camera = PinholeIntrinsics(width, width, (width - 1) / 2, (height - 1) / 2, width=width, height=height)
        probe = teacher.label(np.zeros((height, width, 3), dtype=np.uint8), camera).features
        channels = int(probe.shape[0]) if probe is not None else 0
    manifest = CacheManifest(
        teacher.identity(), teacher.kind.value, label_hw[0], label_hw[1], channels, *(grid_hw if channels else (0, 0))
    )
    root = open_cache(cache_dir, manifest)
    report = LabelReport(root)
    cached_by_source = [{k for k in s.keys if (root / s.name / f"{k}.npz").is_file()} for s in sources]
    total = sum(len(s.keys) for s in sources)
    bar = _progress(total, sum(len(c) for c in cached_by_source), progress)
    teacher_s = 0.0
    try:
        for source, cached in zip(sources, cached_by_source, strict=True):
            entry = SourceReport(source.name, cached=len(cached))
            report.sources.append(entry)
            for frame in source.frames(skip=cached):
                if frame.intrinsics is None and teacher.needs_focal:
                    raise ConfigError(_no_focal_message(teacher, source.name, frame.key))
                tick = time.perf_counter()
                output = teacher.label(frame.rgb, frame.intrinsics)
                teacher_s += time.perf_counter() - tick
                label = make_pseudo_label(frame, output, label_hw, grid_hw)
                write_pseudo_label(root / source.name / f"{frame.key}.npz", label)
                entry.labelled += 1
                entry.with_lidar += int(label.lidar_points > 0)
                if bar is not None:
                    bar.update(1)
            entry.problems = dict(source.problems.counts)
            _LOG.info("%s: %d labelled, %d cached", source.name, entry.labelled, entry.cached)
    finally:
        if bar is not None:
            bar.close()
    report.wall_s = time.perf_counter() - started
    report.teacher_ms = 1000.0 * teacher_s / max(report.labelled, 1)
    return report
