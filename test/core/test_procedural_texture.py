from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.procedural_texture import (
    NoiseTile,
    box_albedo,
    cylinder_albedo,
    ground_albedo,
    sky_colour,
    wall_albedo,
)
from mono_depth_ros.core.synthetic_scene import RoadCurve

NOISE = NoiseTile.from_rng(np.random.default_rng(7), size=64)
STRAIGHT = RoadCurve()  # straight road along +x: lateral offset == y


def test_noise_tile_is_deterministic_normalised_and_rejects_bad_sizes() -> None:
    again = NoiseTile.from_rng(np.random.default_rng(7), size=64)
    np.testing.assert_array_equal(again.smooth, NOISE.smooth)
    assert NOISE.smooth.dtype == np.float32 and NOISE.smooth.shape == (64, 64)
    assert NOISE.smooth.min() == 0.0 and NOISE.smooth.max() == pytest.approx(1.0)
    assert not np.array_equal(NoiseTile.from_rng(np.random.default_rng(8), size=64).smooth, NOISE.smooth)
    with pytest.raises(ConfigError, match="power of two"):
        NoiseTile.from_rng(np.random.default_rng(0), size=100)


@given(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3))
def test_sample_wraps_and_interpolates_between_texels(u: float, v: float) -> None:
    uv = np.array([u, u + 64.0, u - 128.0]), np.array([v, v - 64.0, v + 192.0])
    values = NOISE.sample(*uv)
    np.testing.assert_allclose(values, values[0], atol=2e-4)  # period 64 texels (float32 fractions)
    assert 0.0 <= values[0] <= 1.0
    fbm = NOISE.fbm(np.array([u]), np.array([v]))
    assert 0.0 <= fbm[0] <= 1.0


def test_sample_hits_texel_values_at_integer_coordinates() -> None:
    i, j = np.array([0, 5, 63]), np.array([0, 9, 2])
    np.testing.assert_allclose(NOISE.sample(i.astype(float), j.astype(float)), NOISE.smooth[j, i])
    np.testing.assert_array_equal(NOISE.cell(i + 64, j), NOISE.white[j, i])


def test_road_has_lane_marks_asphalt_sidewalk_and_grass() -> None:
    # Straight road: centre dash at x in [0, 3) mod 9, edge line at |y| = 3.5, sidewalk from 5.7 m, grass beyond 8.7 m.
    points = np.array([[1.0, 0.0, 0], [5.0, 0.0, 0], [1.0, -3.5, 0], [1.0, -1.7, 0], [1.0, 7.0, 0], [1.0, 20.0, 0]])
    rgb = ground_albedo(points.astype(np.float32), NOISE, STRAIGHT)
    assert rgb.shape == (6, 3) and rgb.dtype == np.float32
    paint, gap, edge, asphalt, _sidewalk, grass = rgb
    assert paint.mean() > 0.6 and edge.mean() > 0.6  # white paint
    assert gap.mean() < 0.5 and asphalt.mean() < 0.5  # grey asphalt between the dashes
    assert grass[1] > grass[0] and grass[1] > grass[2]  # green
    assert np.all((rgb >= 0) & (rgb <= 1))


def test_plain_ground_is_a_checkerboard() -> None:
    grid = np.stack(np.meshgrid(np.arange(0.5, 8), np.arange(0.5, 8)), -1).reshape(-1, 2)
    points = np.column_stack([grid, np.zeros(len(grid))]).astype(np.float32)
    brightness = ground_albedo(points, NOISE, None).mean(axis=1)
    parity = (np.floor(grid[:, 0]) + np.floor(grid[:, 1])) % 2 == 1
    assert brightness[parity].mean() > brightness[~parity].mean() + 0.1


def test_facade_windows_are_darker_than_bricks() -> None:
    along = np.array([1.8, 0.2, 1.8], dtype=np.float32)  # inside a window column, between columns
    z = np.array([5.0, 5.0, 0.5], dtype=np.float32)  # window row, same row, ground floor (no windows)
    base = np.full((3, 3), 0.7, dtype=np.float32)
    rgb = wall_albedo(along, z, base, np.zeros(3, dtype=np.int64), NOISE)
    assert rgb[0].mean() < 0.4 < min(rgb[1].mean(), rgb[2].mean())


def test_box_and_cylinder_albedo_stay_near_their_base_colour() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(-5, 5, (200, 3)).astype(np.float32)
    normals = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 200)]
    base = np.tile(np.array([0.8, 0.2, 0.1], dtype=np.float32), (200, 1))
    boxes = box_albedo(points, normals, base, NOISE)
    poles = cylinder_albedo(points, np.zeros((200, 2), dtype=np.float32), base, NOISE)
    for rgb in (boxes, poles):
        assert rgb.shape == (200, 3) and np.all((rgb >= 0) & (rgb <= 1))
        assert np.all(rgb[:, 0] > rgb[:, 1])  # hue kept
        assert rgb[:, 0].std() > 0.01  # textured, not flat


def test_sky_is_bluer_at_the_zenith() -> None:
    rgb = sky_colour(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 5.0], [1.0, 0.0, -1.0]], dtype=np.float32))
    horizon, zenith, below = rgb
    assert zenith[2] - zenith[0] > horizon[2] - horizon[0]
    np.testing.assert_allclose(below, horizon)


def test_baked_fractal_equals_the_sum_of_octaves_on_its_grid() -> None:
    u = np.arange(0, 64, 0.25, dtype=np.float32)
    v = np.full_like(u, 7.5)
    octaves = [0.5**k * NOISE.sample(u * 2**k + 37 * k, v * 2**k + 71 * k) for k in range(4)]
    np.testing.assert_allclose(NOISE.fbm(u, v), sum(octaves) / 1.875, atol=1e-6)
    assert NOISE.fractal.shape == (256, 256)
