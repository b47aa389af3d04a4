"""Tests for core/densify.py: nearest-valid-depth fill of sparse depth images."""

from __future__ import annotations

import numpy as np
import pytest

from mono_depth_ros.core.densify import densify_nearest
from mono_depth_ros.core.errors import ShapeError


def test_densify_fills_with_the_nearest_value() -> None:
    sparse = np.full((5, 7), np.nan, dtype=np.float32)
    sparse[0, 0], sparse[4, 6] = 1.0, 9.0
    dense = densify_nearest(sparse)
    assert dense[1, 1] == 1.0 and dense[3, 5] == 9.0 and np.isfinite(dense).all()
    with pytest.raises(ShapeError):
        densify_nearest(np.full((3, 3), np.nan))
