"""Scenario lookups by stamp."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.demo.scenario import FrameTruth, Scenario, no_progress


def test_truth_is_found_by_the_image_stamp() -> None:
    intrinsics = PinholeIntrinsics(1.0, 1.0, 0.5, 0.5, width=2, height=2)
    frames = [
        FrameTruth(stamp, intrinsics, np.ones((2, 2), np.float32), np.zeros((0, 3), np.float32)) for stamp in (5, 9)
    ]
    scenario = Scenario("synthetic", "two frames", Path("bag"), frames, {}, "truth")
    assert scenario.truth_at(9) is frames[1] and scenario.truth_at(7) is None
    no_progress("render", 1, 2)  # the silent reporter accepts every call
