"""bench/bench_temporal_cues.py's variant filter is a copy of ``TemporalFilter.update_tensor`` with hooks: with no cue
it must stay the shipped method, or the bench's rows stop measuring the shipped filter plus a cue."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.bench_temporal_cues import NOW, Cue, CueFilter, drive
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.synthetic import kitti_like_intrinsics
from mono_depth_ros.core.temporal_filter import FrameChange, TemporalFilter, TemporalFilterConfig
from mono_depth_ros.evaluation.temporal_sequence import NETWORK_LIKE, MovingCar, TemporalOracle, render_sequence


@pytest.mark.parametrize("change", list(FrameChange))
@pytest.mark.parametrize("noise", [None, NETWORK_LIKE], ids=["default", "network_like"])
def test_the_copy_without_a_cue_is_the_shipped_filter(change: FrameChange, noise: object) -> None:
    car = MovingCar()
    frames = list(render_sequence(1, car.start_frame + 3, kitti_like_intrinsics(160, 48), car, azimuth_step_deg=2.0))
    oracle = TemporalOracle(OutputKind.METRIC, seed=1, noise=noise)
    config = TemporalFilterConfig()
    shipped, copy = TemporalFilter(config), CueFilter(config, "cpu", Cue("copy", "copy"))
    shares = []
    for frame in frames:
        depth = torch.from_numpy(oracle.predict(frame.depth_m, frame.intrinsics, frame.world_from_cam))
        expected = shipped.update_tensor(depth, frame.intrinsics, frame.world_from_cam, change)
        got = copy.update_tensor(depth, frame.intrinsics, frame.world_from_cam, change)
        assert got[1] is expected[1] and got[2] == expected[2]
        np.testing.assert_array_equal(got[0].numpy(), expected[0].numpy())  # bit for bit (NaN where NaN)
        shares.append(expected[2])
    assert min(shares[1:]) > 0.3  # the filter averaged (the comparison is not of pass-through frames)


def test_the_flow_cue_flags_the_near_moving_car_more_than_the_static_world() -> None:
    # explore85: DIS flow against the warp's flow, across the epipolar line (the depth error moves a pixel along it),
    # on the goal test's drive 0 at 320×96. The car, 12-20 m away in its first moving frames, is hardly flagged there
    # (0-15 % of its pixels: a fraction of a pixel off the line); near (frames 8-10) it is (50-83 %), the static world
    # 5-10 %. A wrong epipolar direction (or the flow taken the wrong way round) flags the world as much as the car.
    frames = drive(0)
    oracle = TemporalOracle(OutputKind.METRIC, seed=0, noise=NETWORK_LIKE)
    cue = CueFilter(TemporalFilterConfig(), "cpu", Cue("flow", "flow", 0.30, 16.0, static_drift=False, flow_px=1.0))
    NOW.counts = []
    try:
        for frame in frames:
            NOW.grey, NOW.car = frame.rgb.astype(np.float32).mean(axis=2), frame.car_mask
            depth = torch.from_numpy(oracle.predict(frame.depth_m, frame.intrinsics, frame.world_from_cam))
            cue.update_tensor(depth, frame.intrinsics, frame.world_from_cam)
        near = np.sum(NOW.counts[7:10], axis=0)  # counts start at frame 1: frames 8-10
    finally:
        NOW.grey = NOW.car = None
        NOW.counts = []
    car_moved, rest_moved = near[0] / near[2], near[3] / near[5]
    assert car_moved > 0.4 and rest_moved < 0.15, (car_moved, rest_moved)


@pytest.mark.parametrize(("kind", "follow"), [("flow", "None"), ("flow", "full"), ("optical-flow", "half")])
def test_a_cue_with_an_unknown_kind_or_follow_is_refused_by_name(kind: str, follow: str) -> None:
    # any follow but "half" used to act as "none" and any unknown kind as the shipped method: a typo gave a wrong row
    with pytest.raises(ValueError, match=r"(kind|follow)=") as error:
        Cue("typo", kind, follow=follow)
    assert repr(kind if kind == "optical-flow" else follow) in str(error.value)
