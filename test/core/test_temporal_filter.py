from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.temporal_filter import FrameChange, TemporalFilter, TemporalFilterConfig, TemporalState

K = PinholeIntrinsics(60.0, 60.0, 39.5, 23.5, width=80, height=48)
WALL_M = 10.0  # a wall across the view at world z = 10 m (the camera looks along +z, moving forward)


def pose(z_m: float) -> RigidTransform:
    """world_from_cam of a camera at (0, 0, z_m), optical axes = world axes."""
    return RigidTransform(np.eye(3), np.array([0.0, 0.0, z_m]), "odom", "camera")


def wall_depth(z_m: float) -> npt.NDArray[np.float32]:
    return np.full((K.height, K.width), WALL_M - z_m, dtype=np.float32)


def noisy(depth: npt.NDArray[np.float32], rng: np.random.Generator, sigma: float = 0.03) -> npt.NDArray[np.float32]:
    return (depth * np.exp(rng.normal(0.0, sigma, depth.shape))).astype(np.float32)


def test_first_frame_and_frames_without_pose_pass_through() -> None:
    temporal = TemporalFilter()
    depth = wall_depth(0.0)
    first = temporal.update(depth, K, pose(0.0))
    assert first.state is TemporalState.STARTED
    np.testing.assert_array_equal(first.depth_m, depth)
    blind = temporal.update(depth * 1.01, K, None)
    assert blind.state is TemporalState.NO_MOTION
    np.testing.assert_array_equal(blind.depth_m, depth * 1.01)
    assert temporal.update(depth, K, pose(0.0)).state is TemporalState.STARTED  # the history restarted


@pytest.mark.parametrize("change", list(FrameChange))
def test_static_wall_settles_towards_the_truth_as_the_camera_moves(change: FrameChange) -> None:
    # a shift's change: the pixels of a wall at one depth all lie on one line r = 1 - p / d (p their prior): against
    # x = 1 / p (SHIFT_IN_DEPTH) or x = p (SHIFT_IN_INVERSE) the resistant line was fitted along the noise (slope p or
    # -1 / d), took it all out as a refit and the wall was published unfiltered (3.6 % error for 3 % noise, 0.6 %
    # with a scale alone): no slope without a spread of depth
    rng = np.random.default_rng(0)
    temporal = TemporalFilter(TemporalFilterConfig(agreement=0.06, max_weight=8.0))
    raw_errors, filtered_errors = [], []
    for i in range(12):
        z = 0.3 * i
        truth = wall_depth(z)
        measured = noisy(truth, rng)
        step = temporal.update(measured, K, pose(z), change)
        raw_errors.append(float(np.std(measured / truth - 1.0)))
        filtered_errors.append(float(np.std(step.depth_m / truth - 1.0)))
    assert step.state is TemporalState.FILTERED
    assert step.kept_share > 0.9
    # 3 % per-pixel noise, averaged over up to 8 frames: well under half of it left once settled
    assert np.mean(filtered_errors[6:]) < 0.5 * np.mean(raw_errors[6:])


@pytest.mark.parametrize("change", [FrameChange.SHIFT_IN_DEPTH, FrameChange.SHIFT_IN_INVERSE])
def test_a_wall_without_depth_spread_fits_no_slope_and_keeps_up_with_the_camera(change: FrameChange) -> None:
    # a wall at one depth, approached 0.3 m a frame: its prior's noise lies along a refit's line (r = 1 - p / d
    # against 1 / p or p), so a line fitted there has the wall's own depth as its slope (b ≈ p, or -1 / p); followed
    # at its running mean, which lags the wall's depth as the camera moves, it moved every prior away from the camera:
    # median error up to 4.2-4.4 % with no spread rule (LINE_SPREAD_FACTOR 0), 0.6-0.7 % with a tenth of it (0.4: in
    # the first frames, while the prior holds its noise), 0.15 % with the shipped 4
    temporal = TemporalFilter(TemporalFilterConfig(agreement=0.06, max_weight=8.0))
    rng = np.random.default_rng(0)
    offsets = []
    for i in range(12):
        truth = wall_depth(0.3 * i)
        step = temporal.update(noisy(truth, rng), K, pose(0.3 * i), change)
        offsets.append(float(np.median(step.depth_m / truth - 1.0)))
    assert step.kept_share > 0.9
    assert max(np.abs(offsets)) < 0.004, offsets


def test_a_surface_that_moves_is_published_as_measured_in_the_same_frame() -> None:
    temporal = TemporalFilter()
    for i in range(5):
        temporal.update(wall_depth(0.2 * i), K, pose(0.2 * i))
    moved = wall_depth(1.0)
    moved[10:30, 20:50] = 6.0  # an object 3 m in front of the wall (9 m) appears: 33 % nearer
    step = temporal.update(moved, K, pose(1.0))
    np.testing.assert_allclose(step.depth_m[12:28, 22:48], 6.0, rtol=1e-6)  # no lag inside the object
    np.testing.assert_allclose(step.depth_m[40:, :], 9.0, rtol=1e-4)  # the wall stays as it was


def test_a_surface_creeping_below_the_agreement_lags_less_than_one_frames_motion() -> None:
    temporal = TemporalFilter(TemporalFilterConfig(agreement=0.08))
    lags = []
    for i in range(12):
        depth = wall_depth(0.0)
        depth[10:40, 20:60] = 8.0 * 0.97**i  # a box creeping closer by 3 % a frame (each frame alone agrees)
        step = temporal.update(depth, K, pose(0.0))
        lags.append(float(np.max(np.abs(step.depth_m[15:35, 25:55] / depth[15:35, 25:55] - 1.0))))
    assert max(lags) < 0.02  # averaging with the history alone would lag by up to the agreement (8 %)
    assert max(lags[6:]) < 0.01  # once its drift has built up, the box is hardly averaged any more


def test_a_steady_scale_trend_of_the_whole_frame_is_followed() -> None:
    temporal = TemporalFilter()
    errors = []
    for i in range(10):
        depth = wall_depth(0.0) * 1.01**i  # scale recovery's scale rising by 1 % a frame
        step = temporal.update(depth, K, pose(0.0))
        assert i == 0 or step.kept_share == 1.0  # blended, not restarted
        errors.append(float(np.max(np.abs(step.depth_m / depth - 1.0))))
    assert max(errors) < 0.005 and errors[-1] < 0.001


def test_a_shift_refitted_every_frame_is_averaged_near_the_camera_as_a_scale_is() -> None:
    # affine_depth: scale recovery fits depth = s · prediction + t per frame; the scene-bound error at the LiDAR
    # points trades scale for shift from frame to frame, a change of a + b / d (b = 0.4 m here) that the frame's
    # median alone takes out only at the median depth: 3 m away the depth jumps by ±9 % a frame and was restarted
    inverse = np.linspace(1.0 / 3.0, 1.0 / 30.0, K.width, dtype=np.float32)  # a plane 3-30 m away (1/d linear in u)
    truth = np.broadcast_to(1.0 / inverse, (K.height, K.width)).astype(np.float32)
    near = truth < 5.0
    rng = np.random.default_rng(1)
    changes: dict[FrameChange, list[float]] = {FrameChange.SCALE: [], FrameChange.SHIFT_IN_DEPTH: []}
    for change in changes:
        temporal = TemporalFilter()
        previous = None
        for i in range(12):
            shift_m = 0.4 * (-1) ** i  # the refit's shift; its scale keeps the 10 m depth where it was
            measured = noisy((1.0 - shift_m / 10.0) * truth + shift_m, rng, 0.01)
            step = temporal.update(measured, K, pose(0.0), change)
            if previous is not None and i >= 4:
                changes[change].append(float(np.mean(np.abs(step.depth_m[near] / previous[near] - 1.0))))
            previous = step.depth_m
        if change is FrameChange.SHIFT_IN_DEPTH:
            assert step.kept_share > 0.95
    raw = 2.0 * 0.4 * float(np.mean(np.abs(1.0 / truth[near] - 0.1)))  # the input's own change there: 8-19 %
    # a scale alone: the near field restarts, its jumps published (0.75)
    assert np.mean(changes[FrameChange.SCALE]) > 0.6 * raw
    # averaged as scale jitter is: the prior follows a third of it (0.28)
    assert np.mean(changes[FrameChange.SHIFT_IN_DEPTH]) < 0.4 * raw


def test_a_shift_in_inverse_depth_refitted_every_frame_is_averaged_in_the_far_field() -> None:
    # relative_inverse: scale recovery fits 1 / depth = s · prediction + t per frame; a refit that moves t by δ moves
    # every pixel's 1 / d by δ, a change r ≈ c - δ p growing with depth that the frame's median alone takes out only
    # at the median depth: 20-30 m away the depth jumps by 6-11 % a frame (δ = ±0.003 / m) and was restarted
    inverse = np.linspace(1.0 / 3.0, 1.0 / 30.0, K.width, dtype=np.float32)  # a plane 3-30 m away (1/d linear in u)
    truth = np.broadcast_to(1.0 / inverse, (K.height, K.width)).astype(np.float32)
    far = truth > 20.0

    def refitted(shift: float) -> npt.NDArray[np.float32]:  # shift in 1 / m; its scale keeps 10 m where it was
        return (1.0 / ((1.0 - 10.0 * shift) / truth + shift)).astype(np.float32)

    rng = np.random.default_rng(1)
    changes: dict[FrameChange, float] = {}
    errors: dict[FrameChange, float] = {}
    for change in (FrameChange.SCALE, FrameChange.SHIFT_IN_INVERSE):
        temporal = TemporalFilter()
        previous, frame_changes, frame_errors = None, [], []
        for i in range(12):
            step = temporal.update(noisy(refitted(0.003 * (-1) ** i), rng, 0.01), K, pose(0.0), change)
            if previous is not None and i >= 4:
                frame_changes.append(float(np.mean(np.abs(step.depth_m[far] / previous[far] - 1.0))))
                frame_errors.append(float(np.mean(np.abs(step.depth_m[far] / truth[far] - 1.0))))
            previous = step.depth_m
        changes[change], errors[change] = float(np.mean(frame_changes)), float(np.mean(frame_errors))
        if change is FrameChange.SHIFT_IN_INVERSE:
            assert step.kept_share > 0.95
    raw = float(np.mean(np.abs(refitted(0.003)[far] / refitted(-0.003)[far] - 1.0)))  # the input's own change: 8.5 %
    assert changes[FrameChange.SCALE] > 0.6 * raw  # a scale alone: the far field restarts, its jumps published (1.0)
    assert changes[FrameChange.SHIFT_IN_INVERSE] < 0.4 * raw  # averaged as scale jitter is (0.31)
    assert errors[FrameChange.SHIFT_IN_INVERSE] < 0.02 < errors[FrameChange.SCALE]  # from the truth: 1.2 % / 4.3 %


@pytest.mark.parametrize("change", [FrameChange.SHIFT_IN_DEPTH, FrameChange.SHIFT_IN_INVERSE])
def test_a_steady_trend_of_the_refitted_shift_is_followed(change: FrameChange) -> None:
    # the refit's shift grows by the same step every frame (0.1 m in depth, 0.001 / m in inverse depth; its scale
    # keeps 10 m where it was): the prior follows p / (1 - (C + B x)); following the scale part C alone left the
    # history behind where the shift moves the depth most: in depth, the near field restarted (kept share 0.47, not
    # 1.0); in inverse depth, the far field 9.6 % off instead of 0.5 % (0.3 % near, in depth)
    inverse = np.linspace(1.0 / 3.0, 1.0 / 30.0, K.width, dtype=np.float32)
    truth = np.broadcast_to(1.0 / inverse, (K.height, K.width)).astype(np.float32)
    in_depth = change is FrameChange.SHIFT_IN_DEPTH
    moved = truth < 5.0 if in_depth else truth > 20.0
    rng = np.random.default_rng(1)
    temporal = TemporalFilter()
    errors = []
    for i in range(12):
        if in_depth:
            clean = ((1.0 - 0.01 * i) * truth + 0.1 * i).astype(np.float32)
        else:
            clean = (1.0 / ((1.0 - 0.01 * i) / truth + 0.001 * i)).astype(np.float32)
        step = temporal.update(noisy(clean, rng, 0.01), K, pose(0.0), change)
        if i >= 4:
            errors.append(float(np.mean(np.abs(step.depth_m[moved] / clean[moved] - 1.0))))
    assert step.kept_share > 0.95
    assert np.mean(errors) < 0.01, errors


@pytest.mark.parametrize("far_m", [310.0, 320.0])
def test_a_far_prior_the_followed_line_would_flip_or_blow_up_restarts(far_m: float) -> None:
    # relative_inverse before the range limits: sky-adjacent rows at 300+ m; a refit moves 1 / d by -0.003 / m once
    # (those rows jump to 2-8 km, restarted) and then holds; the running mean B of the line's slope, half of it a
    # frame later, against p = 3-8 km gives 1 - (C + B p) <= 0: the followed prior flipped its sign and was blended
    # in (-19 m published at 310 m, 366 m for a 4.5 km input at 320 m)
    inverse = np.linspace(1.0 / 3.0, 1.0 / 30.0, K.width, dtype=np.float32)
    truth = np.broadcast_to(1.0 / inverse, (K.height, K.width)).astype(np.float32).copy()
    truth[:8] = far_m

    def refitted(depth: npt.NDArray[np.float32], shift: float) -> npt.NDArray[np.float32]:  # 1 / m; keeps 10 m
        inv = (1.0 - 10.0 * shift) / depth + shift
        return np.where(inv > 0, 1.0 / np.where(inv > 0, inv, 1.0), np.inf).astype(np.float32)  # as apply_fit

    rng = np.random.default_rng(0)
    temporal = TemporalFilter()
    for shift in (0.0, 0.0, 0.0, -0.003, -0.003, -0.003, -0.003):
        measured = refitted(noisy(truth, rng, 0.01), shift)
        step = temporal.update(measured, K, pose(0.0), FrameChange.SHIFT_IN_INVERSE)
        ratio = step.depth_m[:8] / measured[:8]
        assert np.all(ratio > 0.5) and np.all(ratio < 2.0), (float(ratio.min()), float(ratio.max()))


def test_a_followed_shift_is_forgotten_when_the_model_of_the_change_changes() -> None:
    # b is metres against 1 / p (affine_depth) and metres⁻¹ against p (relative_inverse): a followed 0.4 m applied as
    # 0.4 m⁻¹ would move a 10 m prior by a factor 1 / (1 - 4) and restart every pixel
    inverse = np.linspace(1.0 / 3.0, 1.0 / 30.0, K.width, dtype=np.float32)
    truth = np.broadcast_to(1.0 / inverse, (K.height, K.width)).astype(np.float32)
    rng = np.random.default_rng(2)
    temporal = TemporalFilter()
    for i in range(6):  # a shift in depth growing by 0.4 m a frame: followed
        temporal.update(noisy((1.0 - 0.04 * i) * truth + 0.4 * i, rng, 0.01), K, pose(0.0), FrameChange.SHIFT_IN_DEPTH)
    last = (1.0 - 0.2) * truth + 2.0  # the depth of frame 5 again, now from a relative_inverse model
    step = temporal.update(noisy(last, rng, 0.01), K, pose(0.0), FrameChange.SHIFT_IN_INVERSE)
    assert float(np.mean(np.abs(step.depth_m / last - 1.0))) < 0.05  # 2 % (a trend followed at half); 440 % before


def test_the_refit_line_is_not_tilted_by_the_frames_own_noise() -> None:
    # r = 1 - p / d and 1 / d hold the same noise of d: fitted against 1 / d, the line leant along the noise (a plane
    # 5-7.5 m away, 3 % noise: 1.3 % error after filtering against 1.0 % with a scale alone); against the prior's 1 / p
    # (this frame's noise not in it) it is the refit's change alone
    inverse = np.linspace(1.0 / 5.0, 1.0 / 7.5, K.width, dtype=np.float32)
    truth = np.broadcast_to(1.0 / inverse, (K.height, K.width)).astype(np.float32)
    errors: dict[FrameChange, float] = {}
    for change in (FrameChange.SCALE, FrameChange.SHIFT_IN_DEPTH):
        rng = np.random.default_rng(0)
        temporal = TemporalFilter(TemporalFilterConfig(agreement=0.06))
        settled = []
        for i in range(12):
            step = temporal.update(noisy(truth, rng), K, pose(0.0), change)
            if i >= 6:
                settled.append(float(np.std(step.depth_m / truth - 1.0)))
        errors[change] = float(np.mean(settled))
    assert errors[FrameChange.SHIFT_IN_DEPTH] < 1.05 * errors[FrameChange.SCALE]


def test_an_object_filling_the_near_field_is_not_taken_for_a_refitted_shift() -> None:
    # the resistant line's near third is the nearest third of the pixels: an object approaching there (25 % a frame,
    # 60 % of that third) tilted the line, was blended as if it were the refit's change, and biased the static rest
    inverse = np.linspace(1.0 / 3.0, 1.0 / 30.0, K.width, dtype=np.float32)
    truth = np.broadcast_to(1.0 / inverse, (K.height, K.width)).astype(np.float32)
    rng = np.random.default_rng(0)
    temporal = TemporalFilter()
    static_errors = []
    for i in range(10):
        depth = truth.copy()
        depth[:, :16] *= 0.75 ** max(i - 4, 0)
        measured = noisy(depth, rng, 0.01)
        step = temporal.update(measured, K, pose(0.0), FrameChange.SHIFT_IN_DEPTH)
        if i >= 5:
            np.testing.assert_array_equal(step.depth_m[:, :16], measured[:, :16])  # published as measured
            static_errors.append(float(np.mean(np.abs(step.depth_m[:, 16:] / truth[:, 16:] - 1.0))))
    assert max(static_errors) < 0.006  # 1 % noise averaged (0.3 %); the line tilted by the object: 1.0-1.5 %


def test_without_the_motion_the_static_wall_would_be_taken_as_moving() -> None:
    temporal = TemporalFilter()
    temporal.update(wall_depth(0.0), K, pose(0.0))
    step = temporal.update(wall_depth(2.0), K, pose(0.0))  # camera moved 2 m but the pose says it did not
    assert step.kept_share == 0.0
    np.testing.assert_array_equal(step.depth_m, wall_depth(2.0))


def test_a_small_change_of_the_whole_frame_is_blended_a_large_one_restarts() -> None:
    temporal = TemporalFilter(TemporalFilterConfig(agreement=0.06))
    temporal.update(wall_depth(0.0), K, pose(0.0))
    small = temporal.update(wall_depth(0.0) * 1.03, K, pose(0.0))  # the scale fit moved by 3 %
    assert small.kept_share > 0.9
    assert float(np.median(small.depth_m)) < 10.0 * 1.03
    large = temporal.update(wall_depth(0.0) * 1.3, K, pose(0.0))
    assert large.kept_share == 0.0
    np.testing.assert_array_equal(large.depth_m, wall_depth(0.0) * 1.3)


def test_invalid_pixels_pass_through_and_hold_no_history() -> None:
    temporal = TemporalFilter()
    depth = wall_depth(0.0)
    depth[0, :5] = [np.nan, np.inf, -np.inf, 0.0, -1.0]
    temporal.update(depth, K, pose(0.0))
    step = temporal.update(depth, K, pose(0.0))
    np.testing.assert_array_equal(step.depth_m[0, :5], depth[0, :5])
    clean = temporal.update(wall_depth(0.0), K, pose(0.0))
    assert clean.depth_m[0, 0] == pytest.approx(10.0)  # no NaN leaked from the history


def test_new_intrinsics_restart_the_history() -> None:
    temporal = TemporalFilter()
    temporal.update(wall_depth(0.0), K, pose(0.0))
    other = PinholeIntrinsics(30.0, 30.0, 19.5, 11.5, width=40, height=24)
    step = temporal.update(np.full((24, 40), 10.0, np.float32), other, pose(0.0))
    assert step.state is TemporalState.STARTED


def test_a_zoom_restarts_the_history_and_refinements_of_k_keep_it_until_they_add_up() -> None:
    """At one image size: a zoom (fx, fy 25 % longer) restarts the history (its pixels see other rays); an online
    calibration refining K by 1e-6 a frame keeps filtering (compared exactly, every frame restarted: never filtered),
    until the refinements since the history started move a corner's ray by more than SAME_GEOMETRY_PX (once)."""
    from dataclasses import replace

    from mono_depth_ros.core.temporal_filter import SAME_GEOMETRY_PX

    temporal, rng = TemporalFilter(), np.random.default_rng(3)
    temporal.update(noisy(wall_depth(0.0), rng), K, pose(0.0))
    zoomed = replace(K, fx=K.fx * 1.25, fy=K.fy * 1.25)
    assert temporal.update(noisy(wall_depth(0.0), rng), zoomed, pose(0.0)).state is TemporalState.STARTED
    states = []
    for frame in range(1, 7):
        refined = replace(zoomed, fx=zoomed.fx * (1 + 1e-6 * frame), fy=zoomed.fy * (1 - 1e-6 * frame))
        states.append(temporal.update(noisy(wall_depth(0.0), rng), refined, pose(0.0)).state)
    assert states == [TemporalState.FILTERED] * 6, states
    step_px = 0.3 * SAME_GEOMETRY_PX  # the principal point moving 30 % of the limit a frame: the 4th passes it
    states = [
        temporal.update(noisy(wall_depth(0.0), rng), replace(zoomed, cx=zoomed.cx + step_px * n), pose(0.0)).state
        for n in range(1, 7)
    ]
    started = TemporalState.STARTED
    assert [s is started for s in states] == [False, False, False, True, False, False], states


def test_bad_settings_and_shapes_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"temporal\.agreement"):
        TemporalFilterConfig(agreement=0.0)
    with pytest.raises(ConfigError, match="max_weight"):
        TemporalFilterConfig(max_weight=0.5)
    with pytest.raises(ShapeError, match="depth must be"):
        TemporalFilter().update(np.zeros((2, 3, 4), np.float32), K, pose(0.0))
