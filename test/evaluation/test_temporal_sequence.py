"""The goal of the temporal filter on small synthetic drives (320×96, 12 frames, a car that starts moving).

With ``temporal.enabled`` against without, for an oracle of each output kind through the real pipeline (LiDAR scale
recovery), on drives 0-4 (world and oracle seed): the temporal error on static surfaces at least halves, AbsRel is not
worse, and the moving car's error in the frames it moves does not grow. Drive 3 misses the goal (a strict xfail, so
that it fails once the filter meets it and the marker must go): see docs/ros2_node.md, "Temporal filter". Drive 1
with ``affine_depth`` missed it too (0.537) until the filter took the frame's change of an affine fit as a scale and
shift (its near field had restarted): docs/ros2_node.md, "affine_depth on drive 1".
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import replace

import numpy as np
import pytest

from mono_depth_ros.core.depth_kind import SCALE_KINDS, OutputKind
from mono_depth_ros.core.synthetic import kitti_like_intrinsics
from mono_depth_ros.evaluation.temporal_sequence import (
    NETWORK_LIKE,
    ImageNoise,
    MovingCar,
    OracleNoise,
    SequenceScore,
    TemporalFrame,
    TemporalOracle,
    oracle_params,
    render_sequence,
    run_sequence,
)
from mono_depth_ros.pipeline import DepthPipeline

CAR = MovingCar()
SEEDS = (0, 1, 2, 3, 4)
MISSED = pytest.mark.xfail(
    strict=True,
    reason="drive 3 misses the goal: temporal error 0.52-0.57 of unfiltered, where its scene-bound error alone (no "
    "flicker) already gives 0.30-0.39 unfiltered (other drives 0.14-0.31; see the floor test below): halving would "
    "need the flicker cut to 0.34-0.42, the filter reaches 0.40-0.50 there; car error +0.8-1.9 % (lag: the car's side "
    "moves 4.6-4.9 % per frame in depth as it passes, below temporal.agreement); docs/ros2_node.md",
)
SCENE_BOUND = OracleNoise(flicker_sigma=0.0, pixel_sigma=0.0, scale_jitter=0.0)  # the oracle's error bound to the world


@functools.cache
def drive(seed: int) -> list[TemporalFrame]:
    return list(render_sequence(seed, 12, kitti_like_intrinsics(320, 96), CAR, azimuth_step_deg=1.0))


@pytest.fixture(scope="module")
def frames() -> list[TemporalFrame]:
    return drive(0)


def score(
    frames: list[TemporalFrame], kind: OutputKind, temporal: bool, seed: int = 0, noise: OracleNoise | None = None
) -> SequenceScore:
    oracle = TemporalOracle(kind, seed=seed, noise=noise)
    pipeline = DepthPipeline(oracle_params(kind, temporal))
    predict = lambda f: oracle.predict(f.depth_m, f.intrinsics, f.world_from_cam)  # noqa: E731
    return SequenceScore.of(run_sequence(frames, pipeline, predict, CAR.start_frame))


def test_the_drive_has_a_car_that_moves_and_exact_poses(frames: list[TemporalFrame]) -> None:
    assert all(f.car_mask.any() for f in frames[: CAR.start_frame + 4])
    sizes = [int(f.car_mask.sum()) for f in frames[CAR.start_frame : CAR.start_frame + 4]]
    assert sizes == sorted(sizes)  # coming closer
    positions = [f.world_from_cam.translation for f in frames]
    steps = [np.linalg.norm(b - a) for a, b in itertools.pairwise(positions)]
    np.testing.assert_allclose(steps, 0.8, rtol=0.02)  # 8 m/s at 10 Hz


def marks(seed: int) -> pytest.MarkDecorator | tuple[()]:
    return MISSED if seed == 3 else ()


@pytest.mark.parametrize(
    ("seed", "kind"), [pytest.param(seed, kind, marks=marks(seed)) for seed in SEEDS for kind in SCALE_KINDS]
)
def test_filter_halves_flicker_without_losing_accuracy_or_lagging_the_car(seed: int, kind: OutputKind) -> None:
    frames = drive(seed)
    off = score(frames, kind, temporal=False, seed=seed)
    on = score(frames, kind, temporal=True, seed=seed)
    assert on.temporal <= 0.5 * off.temporal, (on, off)
    assert on.abs_rel <= off.abs_rel, (on, off)
    assert on.car_abs_rel <= off.car_abs_rel, (on, off)
    assert np.isfinite(on.filter_ms) and np.isnan(off.filter_ms)


def test_drive_3s_error_bound_to_the_scene_alone_leaves_a_floor_the_filter_does_not_go_below() -> None:
    # an error bound to the world point (a network's error following the image content) still moves the published
    # cloud by the error times the camera's step (test/evaluation/test_temporal.py): not flicker. A filter gets below
    # it only by holding an older view's error (lag), which AbsRel shows: an EMA of truth-matched pixels fed this error
    # alone takes it to 0.59-0.93 with AbsRel 10-36 % worse (docs/ros2_node.md); the shipped filter does not go below
    # it. Drive 3's floor is the largest share of its unfiltered temporal error (0.35 of it for this oracle; 0.17-0.21
    # on the other drives): the reason its xfail above stands.
    kind = OutputKind.METRIC
    floor = {s: score(drive(s), kind, temporal=False, seed=s, noise=SCENE_BOUND).temporal for s in (0, 3)}
    share = {s: floor[s] / score(drive(s), kind, temporal=False, seed=s).temporal for s in (0, 3)}
    assert share[3] > 0.33 and share[0] < 0.25, share
    filtered = score(drive(3), kind, temporal=True, seed=3, noise=SCENE_BOUND).temporal
    assert filtered >= 0.95 * floor[3], (filtered, floor[3])  # the shipped filter does not get below it


def test_oracle_kinds_hide_the_same_depth(frames: list[TemporalFrame]) -> None:
    frame = frames[0]
    finite = np.isfinite(frame.depth_m)
    metric = TemporalOracle(OutputKind.METRIC, seed=3).predict(frame.depth_m, frame.intrinsics, frame.world_from_cam)
    ratio = metric[finite] / frame.depth_m[finite]
    assert 0.9 < float(np.median(ratio)) < 1.1
    assert np.all(np.isinf(metric[~finite]))
    inverse = TemporalOracle(OutputKind.RELATIVE_INVERSE, 3).predict(
        frame.depth_m, frame.intrinsics, frame.world_from_cam
    )
    assert float(np.corrcoef(inverse[finite], 1.0 / frame.depth_m[finite])[0, 1]) > 0.9


def test_the_drifting_error_leaves_the_other_terms_draws_as_they_were(frames: list[TemporalFrame]) -> None:
    plain = TemporalOracle(OutputKind.METRIC, seed=2)
    drifting = TemporalOracle(OutputKind.METRIC, seed=2, noise=OracleNoise(drift_sigma=0.1, drift_step=0.5))
    # the default oracle draws as before the drifting term came (the goal test's numbers rest on it): log error
    # mean / std over the truth within 80 m of the first three frames, as the code before it gave them
    before = ((-0.0329449400305748, 0.09485592693090439), (-0.022950666025280952, 0.10343930125236511),
              (-0.021731317043304443, 0.10651959478855133))  # fmt: skip
    for frame, expected in zip(frames[:3], before, strict=True):
        finite = np.isfinite(frame.depth_m) & (frame.depth_m < 80.0)
        plain_depth = plain.predict(frame.depth_m, frame.intrinsics, frame.world_from_cam)
        error = np.log(plain_depth[finite] / frame.depth_m[finite])
        np.testing.assert_allclose([np.mean(error), np.std(error)], expected, rtol=1e-5)
        with np.errstate(invalid="ignore"):  # sky: inf / inf
            added = np.log(drifting.predict(frame.depth_m, frame.intrinsics, frame.world_from_cam) / plain_depth)
        assert 0.04 < float(np.std(added[finite])) < 0.2  # the drifting term is there
        # and it is all there is, in every frame: the per-pixel noise (3 %) cancels, so neighbours differ by its
        # smooth steps across depth edges only (0.023 here), where two independent draws of the pixel noise differ by
        # 0.067
        both = finite[:, 1:] & finite[:, :-1]
        assert float(np.std(np.diff(added, axis=1)[both])) < 0.04


def test_the_drifting_error_decorrelates_over_frames_as_the_shipped_networks_does(
    frames: list[TemporalFrame],
) -> None:
    # bench/bench_flicker_structure.py: the shipped network's error at one world point correlates 0.90-0.95 with the
    # next frame's, 0.59-0.72 with the one 8 frames on; the oracle's scene-bound error alone never changes
    frame = frames[0]
    finite = np.isfinite(frame.depth_m) & (frame.depth_m < 80.0)
    only_drift = OracleNoise(persistent_sigma=0.0, flicker_sigma=0.0, pixel_sigma=0.0, scale_jitter=0.0)
    for noise, lag1, lag8 in (
        (replace(NETWORK_LIKE, flicker_sigma=0.0, pixel_sigma=0.0), (0.9, 0.98), (0.55, 0.8)),
        (replace(only_drift, drift_sigma=0.1, drift_step=0.5), (0.8, 0.95), (0.0, 0.6)),
        (replace(only_drift, persistent_sigma=0.1), (0.999, 1.0), (0.999, 1.0)),
    ):
        oracle = TemporalOracle(OutputKind.METRIC, seed=1, noise=noise)
        errors = [
            np.log(
                oracle.predict(frame.depth_m, frame.intrinsics, frame.world_from_cam)[finite] / frame.depth_m[finite]
            )
            for _ in range(9)
        ]
        corr = [float(np.corrcoef(errors[0], errors[k])[0, 1]) for k in (1, 8)]
        assert lag1[0] < corr[0] <= lag1[1] and lag8[0] < corr[1] <= lag8[1], (noise, corr)


def test_the_images_are_a_cameras_with_a_car_that_looks_like_one() -> None:
    k = kitti_like_intrinsics(160, 48)
    exact = list(render_sequence(0, 8, k, CAR, azimuth_step_deg=2.0, image_noise=ImageNoise(0.0, 0.0)))
    noisy = list(render_sequence(0, 8, k, CAR, azimuth_step_deg=2.0))
    gains = [float(np.median(n.rgb[e.rgb > 40] / e.rgb[e.rgb > 40])) for e, n in zip(exact, noisy, strict=True)]
    assert np.std(gains) > 0.02  # auto exposure changes from frame to frame
    residual = [n.rgb.astype(float) - g * e.rgb for e, n, g in zip(exact, noisy, gains, strict=True)]
    assert 1.0 < float(np.std(residual[0][exact[0].rgb < 200])) < 4.0  # about 2 counts of pixel noise
    near = exact[7]  # the car about 6 m away: windows, wheels and lights on its red body
    grey = near.rgb.astype(float).mean(axis=2)[near.car_mask]
    assert near.car_mask.sum() > 200 and np.percentile(grey, 95) - np.percentile(grey, 5) > 25
