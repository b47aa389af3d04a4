from __future__ import annotations

import array
import json
import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mono_depth_ros.core import cloud
from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.cloud import (
    CloudBuilder,
    PointCloud,
    organized_cloud,
    pack_rgb,
    range_bounds,
    strided_cloud,
    unpack_rgb,
    valid_depth_mask,
    voxel_cloud,
)
from mono_depth_ros.core.errors import CalibrationError, ConfigError, EncodingError, ShapeError
from mono_depth_ros.core.geometry import backproject_depth, project_points
from mono_depth_ros.core.point_fields import XYZ_FIELDS, XYZRGB_FIELDS, dtype_from_fields
from mono_depth_ros.training.data.kitti_files import load_depth_png, load_rgb

# Calibrated principal point deliberately far from the image centre (40, 25).
SMALL = PinholeIntrinsics(fx=500.0, fy=400.0, cx=37.3, cy=21.7, width=80, height=50)
SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -1.0)


def _rng_depth_rgb(intr: PinholeIntrinsics, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.3, 90.0, (intr.height, intr.width)).astype(np.float32)
    holes = rng.random(depth.shape) < 0.2
    depth[holes] = rng.choice(np.array(SPECIALS, dtype=np.float32), size=int(holes.sum()))
    rgb = rng.integers(0, 256, (intr.height, intr.width, 3), dtype=np.uint8)
    return depth, rgb


def _without_cv2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cloud, "_CV2", None)


# ---------------------------------------------------------------- independent reader (struct over raw bytes)


def _read_point(buf: bytes, point_step: int, row_step: int, u: int, v: int) -> tuple[float, float, float, int, bytes]:
    """x, y, z (float32 at 0/4/8), rgb bits (uint32 at 16) and the padding bytes of pixel (u, v)."""
    base = v * row_step + u * point_step
    x, y, z = struct.unpack_from("<3f", buf, base)
    if point_step == 16:
        return x, y, z, -1, buf[base + 12 : base + 16]
    (rgb_bits,) = struct.unpack_from("<I", buf, base + 16)
    padding = buf[base + 12 : base + 16] + buf[base + 20 : base + 32]
    return x, y, z, rgb_bits, padding


def _check_decoded(
    c: PointCloud, depth: np.ndarray, rgb: np.ndarray, intr: PinholeIntrinsics, pixels: list[tuple[int, int]]
) -> None:
    buf = c.tobytes()
    assert len(buf) == c.row_step * c.height == intr.width * intr.height * 32
    for u, v in pixels:
        x, y, z, rgb_bits, padding = _read_point(buf, 32, c.row_step, u, v)
        assert padding == bytes(len(padding))
        r, g, b = (int(ch) for ch in rgb[v, u])
        assert rgb_bits == (r << 16) | (g << 8) | b  # alpha byte 0
        assert not math.isnan(struct.unpack("<f", struct.pack("<I", rgb_bits))[0])
        d = float(depth[v, u])
        if math.isfinite(d) and d > 0:
            assert z == pytest.approx(d, rel=1e-7)
            assert x == pytest.approx((u - intr.cx) * d / intr.fx, rel=1e-5, abs=1e-6)
            assert y == pytest.approx((v - intr.cy) * d / intr.fy, rel=1e-5, abs=1e-6)
        else:
            assert math.isnan(x) and math.isnan(y) and math.isnan(z)


def _sample_pixels(depth: np.ndarray, rgb: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int]]:
    valid = np.isfinite(depth) & (depth > 0)
    pick: list[tuple[int, int]] = []
    for mask in (valid & (rgb[..., 0] >= 128), valid & (rgb[..., 0] < 128), ~valid & (rgb[..., 0] >= 128)):
        v_idx, u_idx = np.nonzero(mask)
        assert v_idx.size > 0
        for i in rng.choice(v_idx.size, size=min(40, v_idx.size), replace=False):
            pick.append((int(u_idx[i]), int(v_idx[i])))
    h, w = depth.shape
    return [*pick, (0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)]


def test_kitti_frame_decodes_with_an_independent_reader(kitti_depth_dir: Path) -> None:
    depth = load_depth_png(kitti_depth_dir / "depth" / "0000000005.png")
    rgb = load_rgb(kitti_depth_dir / "rgb" / "0000000005.png")
    entry = next(
        f for f in json.loads((kitti_depth_dir / "test_annotations.json").read_text())["files"] if "05.png" in f["rgb"]
    )
    fx, fy, cx, cy = entry["cam_in"]
    intr = PinholeIntrinsics(fx, fy, cx, cy, width=depth.shape[1], height=depth.shape[0])
    assert (intr.width, intr.height) == (1242, 375)
    c = CloudBuilder().organized(depth, intr, rgb)
    assert (c.height, c.width, c.point_step, c.row_step, c.is_dense) == (375, 1242, 32, 1242 * 32, False)
    _check_decoded(c, depth, rgb, intr, _sample_pixels(depth, rgb, np.random.default_rng(5)))


def test_synthetic_full_size_frame_decodes_with_an_independent_reader() -> None:
    intr = PinholeIntrinsics(707.0493, 707.0493, 604.0814, 180.5066, width=1242, height=375)
    depth, rgb = _rng_depth_rgb(intr, seed=3)
    rgb[::2, ::3, 0] = 255  # plenty of red >= 128: NaN-looking if alpha were 0xFF
    c = organized_cloud(depth, intr, rgb)
    _check_decoded(c, depth, rgb, intr, _sample_pixels(depth, rgb, np.random.default_rng(9)))


# ---------------------------------------------------------------- organized geometry and layout


def test_fronto_parallel_plane_gives_exact_depth_and_linear_xy() -> None:
    depth = np.full((SMALL.height, SMALL.width), 2.0, dtype=np.float32)
    c = organized_cloud(depth, SMALL)
    assert (c.height, c.width, c.point_step, c.is_dense, c.fields) == (50, 80, 16, False, XYZ_FIELDS)
    pts = c.points.reshape(50, 80)
    assert np.all(pts["z"] == 2.0)
    u = np.arange(80, dtype=np.float64)
    v = np.arange(50, dtype=np.float64)
    np.testing.assert_allclose(pts["x"], np.broadcast_to((u - 37.3) * 2.0 / 500.0, (50, 80)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(pts["y"], np.broadcast_to(((v - 21.7) * 2.0 / 400.0)[:, None], (50, 80)), rtol=1e-6)
    assert pts["x"][0, 37] < 0 < pts["x"][0, 38]  # x changes sign at the calibrated cx, not at the centre
    assert pts["y"][21, 0] < 0 < pts["y"][22, 0]
    raw = np.frombuffer(c.tobytes(), dtype=np.uint8).reshape(-1, 16)
    assert not raw[:, 12:].any()  # padding is zero


def test_rgb_is_packed_0x00rrggbb_at_offset_16() -> None:
    depth = np.full((SMALL.height, SMALL.width), 1.5, dtype=np.float32)
    rgb = np.random.default_rng(1).integers(0, 256, (50, 80, 3), dtype=np.uint8)
    c = organized_cloud(depth, SMALL, rgb)
    assert (c.point_step, c.fields, c.has_rgb) == (32, XYZRGB_FIELDS, True)
    assert c.points.dtype == dtype_from_fields(XYZRGB_FIELDS, 32)
    bits = c.points["rgb"].view(np.uint32).reshape(50, 80)
    expected = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    np.testing.assert_array_equal(bits, expected)
    assert not np.isnan(c.points["rgb"]).any()
    np.testing.assert_array_equal(c.rgb().reshape(50, 80, 3), rgb)


@pytest.mark.parametrize("use_cv2", [True, False])
def test_mono_and_rgba_colour_inputs(monkeypatch: pytest.MonkeyPatch, use_cv2: bool) -> None:
    if not use_cv2:
        _without_cv2(monkeypatch)
    rng = np.random.default_rng(2)
    gray = rng.integers(0, 256, (50, 80), dtype=np.uint8)
    rgba = rng.integers(0, 256, (50, 80, 4), dtype=np.uint8)
    np.testing.assert_array_equal(unpack_rgb(pack_rgb(gray)), np.repeat(gray[..., None], 3, axis=-1))
    np.testing.assert_array_equal(unpack_rgb(pack_rgb(gray[..., None])), np.repeat(gray[..., None], 3, axis=-1))
    np.testing.assert_array_equal(unpack_rgb(pack_rgb(rgba)), rgba[..., :3])
    assert not (pack_rgb(rgba) >> 24).any()


def test_invalid_depth_gives_nan_points_and_keeps_colour() -> None:
    depth = np.full((SMALL.height, SMALL.width), 3.0, dtype=np.float32)
    for i, value in enumerate(SPECIALS):
        depth[5, 10 + i] = value
    rgb = np.full((50, 80, 3), 200, dtype=np.uint8)
    pts = organized_cloud(depth, SMALL, rgb).points.reshape(50, 80)
    bad = np.zeros((50, 80), dtype=bool)
    bad[5, 10:15] = True
    for axis in "xyz":
        assert np.isnan(pts[axis][bad]).all()
        assert np.isfinite(pts[axis][~bad]).all()
    assert np.all(pts["z"].view(np.uint32)[bad] == cloud.NAN_BITS)
    assert np.all(pts["rgb"].view(np.uint32) == 0xC8C8C8)


def test_range_clipping_is_inclusive_and_gives_nan() -> None:
    depth = np.tile(np.linspace(0.5, 4.5, SMALL.width, dtype=np.float32), (SMALL.height, 1))
    depth[:, 0] = 1.0
    depth[:, 1] = 3.0
    pts = organized_cloud(depth, SMALL, min_range_m=1.0, max_range_m=3.0).points.reshape(50, 80)
    inside = (depth >= 1.0) & (depth <= 3.0)
    np.testing.assert_array_equal(np.isfinite(pts["z"]), inside)
    np.testing.assert_array_equal(pts["z"][inside], depth[inside])
    assert inside[:, :2].all()
    with pytest.raises(ConfigError, match="min_range"):
        organized_cloud(depth, SMALL, min_range_m=3.0, max_range_m=1.0)
    with pytest.raises(ConfigError):
        range_bounds(-1.0, 5.0)


def test_equals_geometry_backprojection_bit_for_bit() -> None:
    depth, _ = _rng_depth_rgb(SMALL, seed=4)
    xyz = organized_cloud(depth, SMALL).xyz().reshape(50, 80, 3)
    reference = backproject_depth(depth, SMALL)
    np.testing.assert_array_equal(xyz, reference)  # NaN positions equal too


@given(
    fx=st.floats(50, 2000),
    fy=st.floats(50, 2000),
    cx=st.floats(-20, 60),
    cy=st.floats(-20, 40),
    depth=hnp.arrays(np.float32, (12, 17), elements=st.floats(0.0625, 500.0, width=32)),
)
@settings(max_examples=60, deadline=None)
def test_reprojection_gives_back_the_pixel_grid(fx: float, fy: float, cx: float, cy: float, depth: np.ndarray) -> None:
    intr = PinholeIntrinsics(fx, fy, cx, cy, width=17, height=12)
    c = organized_cloud(depth, intr)
    uv, z, _ = project_points(c.xyz().astype(np.float64), intr)
    v_grid, u_grid = np.mgrid[0:12, 0:17]
    np.testing.assert_allclose(uv[:, 0], u_grid.reshape(-1), atol=1e-3)
    np.testing.assert_allclose(uv[:, 1], v_grid.reshape(-1), atol=1e-3)
    np.testing.assert_array_equal(z, depth.reshape(-1).astype(np.float64))


depth_with_specials = hnp.arrays(
    np.float32,
    st.tuples(st.integers(1, 9), st.integers(1, 11)),
    elements=st.one_of(st.floats(-5, 200, width=32), st.sampled_from(SPECIALS)),
)


@given(depth=depth_with_specials, limits=st.sampled_from([(0.0, math.inf), (0.5, 50.0), (1e-45, 3e38), (2.0, 2.5)]))
@settings(max_examples=80, deadline=None)
def test_opencv_and_numpy_paths_write_identical_bytes(depth: np.ndarray, limits: tuple[float, float]) -> None:
    h, w = depth.shape
    intr = PinholeIntrinsics(3.0, 4.0, 1.5, -0.5, width=w, height=h)
    rgb = np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3) * np.uint8(37)
    with pytest.MonkeyPatch.context() as mp:
        fast = [CloudBuilder(band_pixels=2 * w).organized(depth, intr, colour, *limits) for colour in (None, rgb)]
        mp.setattr(cloud, "_CV2", None)
        slow = [CloudBuilder().organized(depth, intr, colour, *limits) for colour in (None, rgb)]
    for a, b in zip(fast, slow, strict=True):
        assert a.tobytes() == b.tobytes()
    expected_valid = valid_depth_mask(depth, *limits)
    np.testing.assert_array_equal(np.isfinite(fast[1].points["z"]).reshape(h, w), expected_valid)


def test_bands_and_builder_reuse_keep_results_safe() -> None:
    depth_a, rgb_a = _rng_depth_rgb(SMALL, seed=5)
    depth_b, rgb_b = _rng_depth_rgb(SMALL, seed=6)
    reference = organized_cloud(depth_a, SMALL, rgb_a).tobytes()
    builder = CloudBuilder(band_pixels=3 * SMALL.width + 7)  # 3 rows per band, last band partial (50 = 16*3 + 2)
    first = builder.organized(depth_a, SMALL, rgb_a)
    second = builder.organized(depth_b, SMALL, rgb_b)
    assert first.tobytes() == reference  # not overwritten by the second frame
    assert second.tobytes() == organized_cloud(depth_b, SMALL, rgb_b).tobytes()
    other = PinholeIntrinsics(100.0, 100.0, 3.0, 2.0, width=7, height=5)
    small = builder.organized(np.ones((5, 7), np.float32), other)  # shape change reallocates scratch
    assert (small.height, small.width, small.point_step) == (5, 7, 16)
    assert builder.organized(depth_a, SMALL, rgb_a).tobytes() == reference  # padding rows still zero
    xyz_only = builder.organized(depth_a, SMALL)  # alternating layouts share the scratch
    assert xyz_only.tobytes() == organized_cloud(depth_a, SMALL).tobytes()
    assert builder.organized(depth_a, SMALL, rgb_a).tobytes() == reference
    with pytest.raises(ValueError, match="read-only"):
        first.points["x"][0] = 1.0


def test_buffer_access_for_message_data() -> None:
    depth, rgb = _rng_depth_rgb(SMALL, seed=7)
    c = organized_cloud(depth, SMALL, rgb)
    assert c.data.nbytes == len(c.tobytes()) == 50 * 80 * 32
    assert c.data.readonly
    msg_data = array.array("B")
    msg_data.frombytes(c.data)  # how a rclpy uint8[] field is filled
    assert msg_data.tobytes() == c.tobytes()


def test_input_errors_name_the_problem() -> None:
    depth = np.ones((50, 80), np.float32)
    with pytest.raises(ShapeError, match="depth must be"):
        organized_cloud(np.ones((50, 80, 1), np.float32), SMALL)
    with pytest.raises(CalibrationError, match="81x50"):
        organized_cloud(np.ones((50, 81), np.float32), SMALL)
    with pytest.raises(EncodingError, match="uint8"):
        organized_cloud(depth, SMALL, np.zeros((50, 80, 3), np.float32))
    with pytest.raises(ShapeError, match="colour image"):
        organized_cloud(depth, SMALL, np.zeros((50, 79, 3), np.uint8))
    with pytest.raises(ShapeError, match="colour image"):
        organized_cloud(depth, SMALL, np.zeros((50, 80, 2), np.uint8))


# ---------------------------------------------------------------- strided and voxel clouds


def test_strided_cloud_keeps_every_stride_th_valid_pixel_in_row_order() -> None:
    intr = PinholeIntrinsics(10.0, 20.0, 2.5, 1.5, width=7, height=6)
    depth = np.arange(1, 43, dtype=np.float32).reshape(6, 7)
    depth[0, 2] = np.nan
    depth[2, 4] = 0.0
    depth[4, 6] = np.inf
    rgb = np.random.default_rng(8).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    c = strided_cloud(depth, intr, 2, rgb)
    kept = [(u, v) for v in (0, 2, 4) for u in (0, 2, 4, 6) if (u, v) not in {(2, 0), (4, 2), (6, 4)}]
    assert (c.height, c.width, c.is_dense, c.point_step) == (1, len(kept), True, 32)
    expected = np.array([[(u - 2.5) * depth[v, u] / 10, (v - 1.5) * depth[v, u] / 20, depth[v, u]] for u, v in kept])
    np.testing.assert_allclose(c.xyz(), expected, rtol=1e-6)
    np.testing.assert_array_equal(c.rgb(), np.array([rgb[v, u] for u, v in kept]))
    everything = strided_cloud(depth, intr, 1, min_range_m=10.0, max_range_m=20.0)
    assert everything.width == 10 and everything.point_step == 16  # 10..20 m, less the 19 m set to 0
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="stride"):
            strided_cloud(depth, intr, bad)  # type: ignore[arg-type]


def test_voxel_cloud_centroids_and_mean_colour_on_hand_made_points() -> None:
    # fx = fy = 1, cx = cy = 0, depth 1: pixel (u, 0) -> point (u, 0, 1). Voxel 2.5 m: u = 0, 1, 2 share voxel 0.
    intr = PinholeIntrinsics(1.0, 1.0, 0.0, 0.0, width=5, height=1)
    depth = np.array([[1.0, 1.0, 1.0, 1.0, np.nan]], dtype=np.float32)
    rgb = np.array([[[10, 0, 255], [20, 0, 254], [31, 1, 254], [200, 100, 50], [9, 9, 9]]], dtype=np.uint8)
    c = voxel_cloud(depth, intr, 2.5, rgb)
    assert (c.height, c.width, c.is_dense) == (1, 2, True)
    np.testing.assert_allclose(c.xyz(), [[1.0, 0.0, 1.0], [3.0, 0.0, 1.0]], atol=1e-6)
    np.testing.assert_array_equal(c.rgb(), [[20, 0, 254], [200, 100, 50]])  # per-channel mean, rounded
    assert voxel_cloud(depth, intr, 2.5).point_step == 16
    empty = voxel_cloud(np.full((1, 5), np.nan, np.float32), intr, 2.5, rgb)
    assert (empty.width, empty.point_step) == (0, 32)
    for bad in (0.0, -0.1, math.inf, math.nan):
        with pytest.raises(ConfigError, match="voxel size"):
            voxel_cloud(depth, intr, bad)


def test_voxel_cloud_matches_a_brute_force_reference() -> None:
    intr = PinholeIntrinsics(30.0, 25.0, 11.2, 7.9, width=24, height=16)
    depth, rgb = _rng_depth_rgb(intr, seed=10)
    depth = np.where(np.isfinite(depth) & (depth > 0), depth / 30.0, depth).astype(np.float32)
    voxel = 0.2
    points = backproject_depth(depth, intr).reshape(-1, 3).astype(np.float64)
    colours = rgb.reshape(-1, 3).astype(np.int64)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(points):
        if np.isfinite(p).all():
            groups.setdefault(tuple(int(k) for k in np.floor(p / voxel)), []).append(i)
    c = voxel_cloud(depth, intr, voxel, rgb)
    assert c.width == len(groups)
    order = sorted(groups)
    np.testing.assert_allclose(c.xyz(), [points[groups[k]].mean(axis=0) for k in order], rtol=1e-5, atol=1e-6)
    mean_rgb = [np.floor(colours[groups[k]].mean(axis=0) + 0.5) for k in order]
    np.testing.assert_array_equal(c.rgb(), np.array(mean_rgb, dtype=np.uint8))


# ---------------------------------------------------------------- record helpers


@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 5), st.integers(1, 5), st.just(3))))
def test_pack_unpack_rgb_round_trip(rgb: np.ndarray) -> None:
    packed = pack_rgb(rgb)
    assert packed.dtype == np.uint32 and not (packed >> 24).any()
    np.testing.assert_array_equal(unpack_rgb(packed), rgb)


def test_builder_recycles_an_output_only_when_nothing_refers_to_it() -> None:
    depth_a, rgb_a = _rng_depth_rgb(SMALL, seed=11)
    depth_b, rgb_b = _rng_depth_rgb(SMALL, seed=12)
    expected_a = organized_cloud(depth_a, SMALL, rgb_a).tobytes()
    builder = CloudBuilder()
    first = builder.organized(depth_a, SMALL, rgb_a)
    buffer_id = id(first.points.base)
    del first
    assert id(builder.organized(depth_b, SMALL, rgb_b).points.base) == buffer_id  # nothing held it: recycled
    keepers: list[tuple[Callable[[PointCloud], object], Callable[[Any], bytes], bytes]] = [
        (lambda c: c, lambda c: c.tobytes(), expected_a),
        (lambda c: c.points[3:9], lambda p: p.tobytes(), expected_a[3 * 32 : 9 * 32]),
        (lambda c: c.data, bytes, expected_a),
        (lambda c: np.frombuffer(c.data, np.uint8), lambda a: a.tobytes(), expected_a),
        (lambda c: c.points.reshape(c.height, c.width), lambda p: p.tobytes(), expected_a),
    ]
    for keep, read, expected in keepers:
        held = keep(builder.organized(depth_a, SMALL, rgb_a))  # only `held` survives the statement
        for _ in range(5):  # more frames than the pool has buffers
            builder.organized(depth_b, SMALL, rgb_b)
        assert read(held) == expected


@pytest.mark.parametrize("dataset", ["kitti", "nyu"])
def test_real_ground_truth_clouds_reproject_onto_their_own_pixels_with_opencv(
    dataset: str, request: pytest.FixtureRequest
) -> None:
    """Every pixel of a real ground-truth depth frame (KITTI: 1242 x 375, value / 256 m; NYU: 640 x 480, value / 1000
    m; 0 = no data) with its calibrated principal point: the organized cloud (numpy and torch alike) is row-major
    (point v · W + u is pixel (u, v)), NaN exactly where the ground truth has no data, z the depth, and
    cv2.projectPoints of each valid point with K gives back its own pixel (the optical frame: x right, y down)."""
    import cv2
    import torch

    from mono_depth_ros.core.cloud_torch import organized_cloud_torch

    folder: Path = request.getfixturevalue("kitti_depth_dir" if dataset == "kitti" else "nyu_dir")
    scale = 256.0 if dataset == "kitti" else 1000.0
    entry = json.loads((folder / "test_annotations.json").read_text())["files"][0]
    raw = cv2.imread(str(folder / "depth" / Path(entry["depth"]).name), cv2.IMREAD_UNCHANGED)
    assert raw is not None and raw.dtype == np.uint16
    depth = np.where(raw > 0, raw / scale, np.nan).astype(np.float32)
    fx, fy, cx, cy = entry["cam_in"]
    intr = PinholeIntrinsics(fx, fy, cx, cy, width=raw.shape[1], height=raw.shape[0])
    xyz = organized_cloud(depth, intr).xyz().astype(np.float64)  # (H * W, 3)
    packed = organized_cloud_torch(torch.from_numpy(depth), torch.from_numpy(intr.matrix)).numpy()
    np.testing.assert_array_equal(packed[:, :3].view(np.uint32), xyz.astype(np.float32).view(np.uint32))

    valid = (raw > 0).reshape(-1)
    assert valid.mean() > 0.05 and np.isnan(xyz[~valid]).all() and np.isfinite(xyz[valid]).all()
    np.testing.assert_array_equal(xyz[valid, 2], depth.reshape(-1)[valid])
    pixels, _ = cv2.projectPoints(xyz[valid].reshape(-1, 1, 3), np.zeros(3), np.zeros(3), intr.matrix, None)
    v, u = np.divmod(np.flatnonzero(valid), intr.width)
    np.testing.assert_allclose(pixels.reshape(-1, 2), np.stack([u, v], axis=-1), atol=2e-3)
