"""bench/bench_temporal_cues.py's variant filter is a copy of ``TemporalFilter.update_tensor`` with hooks: with no cue
it must stay the shipped method, or the bench's rows stop measuring the shipped filter plus a cue."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.bench_temporal_cues import Cue, CueFilter
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.synthetic import kitti_like_intrinsics
from mono_depth_ros.core.temporal_filter import TemporalFilter, TemporalFilterConfig
from mono_depth_ros.evaluation.temporal_sequence import NETWORK_LIKE, MovingCar, TemporalOracle, render_sequence


@pytest.mark.parametrize("shift_in_depth", [False, True])
@pytest.mark.parametrize("noise", [None, NETWORK_LIKE], ids=["default", "network_like"])
def test_the_copy_without_a_cue_is_the_shipped_filter(shift_in_depth: bool, noise: object) -> None:
    car = MovingCar()
    frames = list(render_sequence(1, car.start_frame + 3, kitti_like_intrinsics(160, 48), car, azimuth_step_deg=2.0))
    oracle = TemporalOracle(OutputKind.METRIC, seed=1, noise=noise)
    config = TemporalFilterConfig()
    shipped, copy = TemporalFilter(config), CueFilter(config, "cpu", Cue("copy", "copy"))
    shares = []
    for frame in frames:
        depth = torch.from_numpy(oracle.predict(frame.depth_m, frame.intrinsics, frame.world_from_cam))
        expected = shipped.update_tensor(depth, frame.intrinsics, frame.world_from_cam, shift_in_depth)
        got = copy.update_tensor(depth, frame.intrinsics, frame.world_from_cam, shift_in_depth)
        assert got[1] is expected[1] and got[2] == expected[2]
        np.testing.assert_array_equal(got[0].numpy(), expected[0].numpy())  # bit for bit (NaN where NaN)
        shares.append(expected[2])
    assert min(shares[1:]) > 0.3  # the filter averaged (the comparison is not of pass-through frames)
