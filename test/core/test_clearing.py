"""clearing_cloud: a point per ray: at the surface, or at the clearing distance when beyond range; none if invalid."""

from __future__ import annotations

import numpy as np
import pytest

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.clearing import clearing_cloud
from mono_depth_ros.core.errors import ConfigError, ShapeError

INTR = PinholeIntrinsics(100.0, 100.0, 39.5, 29.5, width=80, height=60)


def _xyz(cloud: object) -> np.ndarray:
    points = cloud.points  # type: ignore[attr-defined]
    return np.stack([points["x"], points["y"], points["z"]], axis=-1)


def test_points_lie_on_the_beyond_range_rays_at_the_clearing_distance() -> None:
    depth = np.full((60, 80), 3.0, np.float32)
    depth[:20] = np.inf  # beyond output.max_range: sky / open space
    depth[25, 10] = np.nan  # invalid: no clearing
    depth[26, 10] = -np.inf  # too close: no clearing
    cloud = clearing_cloud(depth, INTR, 5.0)
    xyz = _xyz(cloud)
    assert cloud.height == 1 and cloud.width == 60 * 80 - 2 and cloud.is_dense  # every ray but the two invalid
    beyond = xyz[: 20 * 80]  # image row order: the open-space rows first
    np.testing.assert_allclose(np.linalg.norm(beyond, axis=1), 5.0, rtol=1e-5)
    v, u = np.divmod(np.arange(20 * 80), 80)
    np.testing.assert_allclose(beyond[:, 0] / beyond[:, 2], (u - INTR.cx) / INTR.fx, atol=1e-6)  # on each ray
    np.testing.assert_allclose(beyond[:, 1] / beyond[:, 2], (v - INTR.cy) / INTR.fy, atol=1e-6)
    np.testing.assert_allclose(xyz[20 * 80 :, 2], 3.0)  # a surface: the ray ends there


def test_stride_and_an_image_without_open_space() -> None:
    depth = np.full((60, 80), np.inf, np.float32)
    assert clearing_cloud(depth, INTR, 5.0, stride=4).width == 15 * 20
    assert clearing_cloud(np.full((60, 80), np.nan, np.float32), INTR, 5.0).width == 0


def test_bad_arguments() -> None:
    depth = np.full((60, 80), np.inf, np.float32)
    with pytest.raises(ConfigError, match=r"cloud\.clearing_range"):
        clearing_cloud(depth, INTR, 0.0)
    with pytest.raises(ConfigError, match="stride"):
        clearing_cloud(depth, INTR, 5.0, stride=0)
    with pytest.raises(ShapeError):
        clearing_cloud(depth[:10], INTR, 5.0)
