from __future__ import annotations

import numpy as np
import pytest

from mono_depth_ros.core.scale.ground import GroundPlaneConfig
from mono_depth_ros.core.scale.recovery import RecoveryConfig, ScaleRecovery
from mono_depth_ros.core.scale.result import Health, ScaleMode
from mono_depth_ros.evaluation.scale_sequence import (
    CAMERA_HEIGHT_M,
    SEQUENCE_INTRINSICS,
    default_schedule,
    render_scene,
    run_sequence,
    synthetic_sequence,
)
from mono_depth_ros.models.spec import OutputKind

N_FRAMES = 160  # dropout from frame 130; with a 2 s hold the ground plane takes over at frame 150


@pytest.mark.parametrize("kind", [OutputKind.DEPTH_UP_TO_SCALE, OutputKind.RELATIVE_INVERSE, OutputKind.AFFINE_DEPTH])
def test_scale_stays_steady_through_dropouts_outliers_and_follows_a_step(kind: OutputKind) -> None:
    config = RecoveryConfig(
        ground=GroundPlaneConfig(camera_height_m=CAMERA_HEIGHT_M, stride_px=4), max_hold_ns=2_000_000_000
    )
    records = run_sequence(ScaleRecovery(config), synthetic_sequence(kind, default_schedule(N_FRAMES)), kind)
    assert [r.index for r in records] == list(range(N_FRAMES))
    errors = np.array([r.error for r in records])
    events = [r.event for r in records]
    normal = [i for i, e in enumerate(events) if e == "normal" and not 100 <= i < 104]
    assert np.all(np.abs(errors[normal]) < 0.06)
    for i, event in enumerate(events):
        if event in ("outlier", "late"):  # a bad or late scan never moves the metric depth
            assert records[i].mode is ScaleMode.LAST_GOOD and records[i].health is Health.DEGRADED
            assert abs(errors[i]) < 0.1
    if kind is OutputKind.DEPTH_UP_TO_SCALE:
        # A real change of the model's scale (×1.3 at frame 100) is followed within three frames.
        assert abs(errors[100]) > 0.08
        assert records[103].mode is ScaleMode.LIDAR
    else:
        # Models with a shift are fitted per frame: a re-normalised output is followed at once.
        assert records[100].mode is ScaleMode.LIDAR and abs(errors[100]) < 0.06
    assert np.all(np.abs(errors[103:110]) < 0.06)
    # Dropouts: last good while it lasts (with its age), then the ground plane.
    hold_until = 150 if kind is OutputKind.DEPTH_UP_TO_SCALE else 135  # with a shift: the anchor lasts 0.5 s
    assert all(r.mode is ScaleMode.LAST_GOOD for r in records[130:hold_until])
    assert records[132].age_ns == 300_000_000
    assert all(r.mode is ScaleMode.GROUND_PLANE for r in records[151:])
    assert np.all(np.abs(errors[151:]) < 0.1)


def test_schedule_and_scene() -> None:
    events = default_schedule(200)
    assert events[30:40] == ["dropout"] * 10 and events[45] == "outlier" and events[100] == "step"
    assert events[129] == "normal" and set(events[130:]) == {"dropout"}
    assert default_schedule(20) == ["normal"] * 20
    depth = render_scene(np.array([[10.0, -1.0, 1.0, 1.0]]), SEQUENCE_INTRINSICS)
    assert depth[0, 0] == 50.0  # far wall above the horizon
    centre_bottom = round(SEQUENCE_INTRINSICS.cy + SEQUENCE_INTRINSICS.fy * CAMERA_HEIGHT_M / 10.0) - 1
    assert depth[centre_bottom, round(SEQUENCE_INTRINSICS.cx)] == pytest.approx(10.0)
    frames = list(synthetic_sequence(OutputKind.METRIC, ["normal", "dropout", "late"], seed=1))
    assert frames[1].lidar is None and frames[2].lidar is not None
    assert frames[2].stamp_ns - frames[2].lidar.stamp_ns == 500_000_000
