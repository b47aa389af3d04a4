from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mono_depth_ros.evaluation.scale import PerturbationConfig
from mono_depth_ros.evaluation.scale_protocol import (
    ALL_TRUTH_LEAST_SQUARES,
    ProtocolConfig,
    evaluate_frames,
    method_labels,
)
from mono_depth_ros.models.spec import OutputKind

REPO_ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_scale", REPO_ROOT / "scripts" / "eval_scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def object_frame(kitti_object_dir: Path) -> list:  # type: ignore[type-arg]
    return _script().object_frames(kitti_object_dir.parents[1], beams=(64, 4), limit=1)  # type: ignore[no-any-return]


def test_object_frame_split_and_simulated_beams(object_frame: list) -> None:  # type: ignore[type-arg]
    frame = object_frame[0]
    held, dense, four = frame.held_out, frame.dense_depth_m, frame.fit_sets[4]
    assert dense.shape == (frame.intrinsics.height, frame.intrinsics.width) and np.isfinite(dense).all()
    assert 0.4 < held.depth_m.size / frame.projection.n_kept < 0.6
    assert frame.fit_sets[64].depth_m.size > 5 * four.depth_m.size > 0
    assert len(np.unique(four.v)) < len(np.unique(frame.fit_sets[64].v))
    # Fit and eval points never share a pixel-depth sample.
    held_keys = set(zip(held.v.tolist(), held.u.tolist(), held.depth_m.round(4).tolist(), strict=True))
    fit_keys = set(zip(four.v.tolist(), four.u.tolist(), four.depth_m.round(4).tolist(), strict=True))
    assert not held_keys & fit_keys


@pytest.mark.parametrize("kind", [OutputKind.DEPTH_UP_TO_SCALE, OutputKind.RELATIVE_INVERSE, OutputKind.AFFINE_DEPTH])
def test_lidar_fit_is_near_all_truth_least_squares_on_a_real_frame(object_frame: list, kind: OutputKind) -> None:  # type: ignore[type-arg]
    config = ProtocolConfig(seeds=2, beams=(64, 4))
    scores = evaluate_frames(object_frame, kind, config)
    assert list(scores) == method_labels(kind, (64, 4))
    assert ("ground plane, estimated normal" in scores) is not kind.has_shift  # its normal: depth kinds only
    upper = scores[ALL_TRUTH_LEAST_SQUARES].mean().abs_rel
    # least squares minimises the squared error, not AbsRel: the robust fit beats it (it is no "upper bound")
    assert scores["oracle fit"].mean().abs_rel < upper
    for beams in (64, 4):
        ours = scores[f"lidar {beams}"].mean()
        assert ours.count == 2  # samples with truth: 1 frame x 2 seeds
        assert ours.abs_rel <= 1.1 * upper  # the full evaluation (30 samples) meets 1.05; 2 samples are noisier
        assert ours.abs_rel < scores["no alignment"].mean().abs_rel
    if kind.has_shift:  # median scaling cannot undo a shift
        assert scores["lidar 4"].mean().abs_rel < 0.7 * scores["median"].mean().abs_rel


def test_annotated_frames_and_report_tables(kitti_depth_dir: Path) -> None:
    script = _script()
    frames = script.annotated_frames(kitti_depth_dir.parent, beams=(8,), limit=1)
    assert frames[0].fit_sets[8].v.size > 100 and frames[0].projection is None
    config = ProtocolConfig(seeds=1, beams=(8,), perturbation=PerturbationConfig(outlier_fraction=0.0))
    scores = evaluate_frames(frames, OutputKind.METRIC, config)
    table, verdict = script.accuracy_table(scores, 1)
    assert table.count("\n") == len(scores) + 1 and "| lidar 8 |" in table
    assert verdict.startswith("Goal check")
    assert "| depth_up_to_scale | normal | lidar |" in script.temporal_section(12)
