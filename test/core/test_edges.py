from __future__ import annotations

import numpy as np

from mono_depth_ros.core.edges import depth_edge_mask, remove_flying_pixels


def test_step_edge_marks_both_sides_and_nothing_else() -> None:
    depth = np.full((6, 8), 10.0, dtype=np.float32)
    depth[:, :4] = 2.0
    mask = depth_edge_mask(depth, 0.1)
    assert mask[:, 3].all() and mask[:, 4].all()
    assert mask.sum() == 12


def test_smooth_ramp_and_invalid_neighbours_are_not_edges() -> None:
    depth = np.tile(np.linspace(5.0, 6.0, 50, dtype=np.float32), (10, 1))  # 2 % per column at most
    depth[0, 0] = np.nan
    assert not depth_edge_mask(depth, 0.1).any()


def test_remove_flying_pixels_copies() -> None:
    depth = np.array([[1.0, 1.0, 5.0, 5.0]], dtype=np.float32)
    out = remove_flying_pixels(depth, 0.5)
    assert np.isnan(out[0, 1]) and np.isnan(out[0, 2]) and out[0, 0] == 1.0
    assert depth[0, 1] == 1.0
