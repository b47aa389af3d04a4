"""Tests for evaluation/samples.py: units and sparsity of the real ground truth, synthetic samples, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.evaluation.samples import (
    annotated_samples,
    kitti_velodyne_samples,
    load_samples,
    synthetic_samples,
)
from mono_depth_ros.training.data.synthetic import ClipSpec, render_clip


def test_velodyne_ground_truth_is_sparse_and_in_range(kitti_object_dir: Path) -> None:
    samples = kitti_velodyne_samples(kitti_object_dir)
    assert [s.name for s in samples] == ["000000", "000001", "000002"]
    valid = np.isfinite(samples[0].gt_depth_m)
    assert 10_000 < valid.sum() < 25_000  # ~18-20k of ~120k points land in the image
    assert np.nanmin(samples[0].gt_depth_m) > 1.0 and np.nanmax(samples[0].gt_depth_m) < 120.0
    assert samples[0].intrinsics.width == samples[0].rgb.shape[1]


def test_annotated_units(kitti_depth_dir: Path, nyu_dir: Path) -> None:
    kitti = annotated_samples(kitti_depth_dir)[0]
    assert kitti.rgb.shape == (375, 1242, 3) and kitti.intrinsics.fx == pytest.approx(707.0493)
    assert 1.0 < np.nanmedian(kitti.gt_depth_m) < 80.0  # value / 256
    nyu = annotated_samples(nyu_dir)[0]
    assert nyu.rgb.shape == (480, 640, 3) and 0.3 < np.nanmedian(nyu.gt_depth_m) < 10.0  # value / 1000


def test_synthetic_samples(tmp_path: Path) -> None:
    clip = render_clip(ClipSpec(seed=4, n_frames=2, width=64, height=32, beams=0), tmp_path)
    samples = synthetic_samples([clip])
    assert [s.name for s in samples] == ["4/0", "4/1"]
    assert np.isnan(samples[0].gt_depth_m).any() and not np.isinf(samples[0].gt_depth_m).any()


def test_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="image_2"):
        kitti_velodyne_samples(tmp_path)
    with pytest.raises(ConfigError, match="test_annotations"):
        annotated_samples(tmp_path)
    with pytest.raises(ConfigError, match="unknown evaluation dataset"):
        load_samples("cityscapes", tmp_path)
