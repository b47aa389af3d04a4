"""Augmentation: intrinsics follow every crop / resize / flip, targets stay aligned, CutMix boxes agree."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.geometry import project_points
from mono_depth_ros.training.data.augment import (
    AugmentConfig,
    TrainAugment,
    colour_jitter,
    crop,
    gaussian_noise,
    hflip,
    random_resized_crop,
    resize,
    resize_sparse_depth,
)
from mono_depth_ros.training.data.sample import Sample, collate_samples, k_tensor

HEIGHT, WIDTH = 24, 40
INTRINSICS = PinholeIntrinsics(fx=30.0, fy=28.0, cx=23.3, cy=9.7, width=WIDTH, height=HEIGHT)  # off-centre


def make_sample(seed: int = 0, sources: int = 2, height: int = HEIGHT, width: int = WIDTH) -> Sample:
    """Random colours; depth = a unique id per pixel; sparse depth on ~20 % of pixels; known stereo-like poses."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.arange(1, height * width + 1, dtype=torch.float32).reshape(1, height, width)
    sparse = torch.where(torch.rand(1, height, width, generator=gen) < 0.2, ids, torch.tensor(math.nan))
    poses = torch.eye(4).repeat(sources, 1, 1)
    poses[:, 0, 3] = -0.5
    poses[:, 1, 3] = 0.1
    intrinsics = INTRINSICS.resized(width, height) if (width, height) != (WIDTH, HEIGHT) else INTRINSICS
    return Sample(
        rgb=torch.rand(3, height, width, generator=gen),
        depth=ids.clone(),
        sparse_depth=sparse,
        k=k_tensor(intrinsics),
        sources=torch.rand(sources, 3, height, width, generator=gen),
        source_offsets=tuple(range(-1, -1 - sources, -1)),
        source_from_target=poses,
        pose_known=torch.ones(sources, dtype=torch.bool),
        name=f"s{seed}",
    )


def marker_sample(u: int, v: int, depth_m: float) -> tuple[Sample, np.ndarray]:
    """A sample whose sparse depth holds one return at pixel (u, v), and the 3-D point (optical frame) behind it."""
    sparse = torch.full((1, HEIGHT, WIDTH), math.nan)
    sparse[0, v, u] = depth_m
    point = np.array([[(u - INTRINSICS.cx) / INTRINSICS.fx * depth_m, (v - INTRINSICS.cy) / INTRINSICS.fy * depth_m,
                       depth_m]])  # fmt: skip
    rgb = torch.zeros(3, HEIGHT, WIDTH)
    rgb[:, v, u] = 1.0
    sample = Sample(rgb=rgb, depth=sparse.clone(), sparse_depth=sparse, k=k_tensor(INTRINSICS), name="marker")
    return sample, point


def marker_pixel(depth: torch.Tensor) -> tuple[int, int] | None:
    valid = torch.nonzero(torch.isfinite(depth[0]))
    if valid.shape[0] == 0:
        return None
    assert valid.shape[0] == 1, "one LiDAR return must stay one return"
    return int(valid[0, 1]), int(valid[0, 0])


def projected_pixel(point: np.ndarray, sample: Sample) -> tuple[int, int] | None:
    uv, _, in_image = project_points(point, sample.intrinsics)
    if not in_image[0]:
        return None
    return int(np.rint(uv[0, 0])), int(np.rint(uv[0, 1]))


pixels = st.tuples(st.integers(0, WIDTH - 1), st.integers(0, HEIGHT - 1))


@settings(max_examples=40, deadline=None)
@given(pixels, st.integers(0, 20), st.integers(0, 10), st.integers(1, 20), st.integers(1, 14))
def test_crop_moves_the_point_and_k_together(pixel: tuple[int, int], x0: int, y0: int, w: int, h: int) -> None:
    w, h = min(w, WIDTH - x0), min(h, HEIGHT - y0)
    sample, point = marker_sample(*pixel, depth_m=7.5)
    out = crop(sample, x0, y0, w, h)
    assert (out.width, out.height) == (w, h)
    expected = projected_pixel(point, out)
    assert marker_pixel(out.sparse_depth) == expected
    assert marker_pixel(out.depth) == expected
    if expected is not None:
        assert expected == (pixel[0] - x0, pixel[1] - y0)
        assert out.rgb[:, expected[1], expected[0]].tolist() == [1.0, 1.0, 1.0]
        assert float(out.sparse_depth[0, expected[1], expected[0]]) == 7.5  # depth in metres unchanged


@settings(max_examples=40, deadline=None)
@given(pixels)
def test_flip_moves_the_point_and_k_together(pixel: tuple[int, int]) -> None:
    sample, point = marker_sample(*pixel, depth_m=3.0)
    out = hflip(sample)
    expected = (WIDTH - 1 - pixel[0], pixel[1])
    assert projected_pixel(point * np.array([[-1.0, 1.0, 1.0]]), out) == expected  # the mirrored world
    assert marker_pixel(out.sparse_depth) == expected
    assert out.rgb[:, expected[1], expected[0]].tolist() == [1.0, 1.0, 1.0]
    assert out.intrinsics.cx == pytest.approx(WIDTH - 1 - INTRINSICS.cx, abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(pixels, st.integers(8, 90), st.integers(6, 60))
def test_resize_moves_the_point_and_k_together(pixel: tuple[int, int], new_w: int, new_h: int) -> None:
    sample, point = marker_sample(*pixel, depth_m=12.0)
    out = resize(sample, new_w, new_h)
    k = out.intrinsics
    assert (k.width, k.height) == (new_w, new_h)
    expected_uv = ((pixel[0] + 0.5) * new_w / WIDTH - 0.5, (pixel[1] + 0.5) * new_h / HEIGHT - 0.5)
    uv, _, _ = project_points(point, k)
    np.testing.assert_allclose(uv[0], expected_uv, atol=1e-4)  # K follows the pixel-centre resize model
    found = marker_pixel(out.sparse_depth)
    assert found is not None
    assert abs(found[0] - expected_uv[0]) <= 0.5 + 1e-4 and abs(found[1] - expected_uv[1]) <= 0.5 + 1e-4
    assert float(out.sparse_depth[0, found[1], found[0]]) == 12.0


def test_depth_is_resized_without_mixing_values() -> None:
    sample = make_sample()
    for size in ((17, 11), (80, 48), (33, 29)):
        out = resize(sample, *size)
        values = out.depth[torch.isfinite(out.depth)]
        assert torch.all(values == values.round())  # every value is one of the original ids: nearest, no blending
        assert set(values.unique().tolist()) <= set(sample.depth.unique().tolist())


def test_upscaled_sparse_and_dense_depth_stay_aligned() -> None:
    sample = make_sample()
    dense_as_sparse = Sample(sample.rgb, sample.depth, sample.depth.clone(), sample.k)
    out = resize(dense_as_sparse, WIDTH * 2, HEIGHT * 2)
    landed = torch.isfinite(out.sparse_depth)
    assert int(landed.sum()) == HEIGHT * WIDTH  # no point invented, none lost
    torch.testing.assert_close(out.sparse_depth[landed], out.depth[landed])


def test_downscaled_sparse_depth_keeps_the_nearest_return() -> None:
    depth = torch.tensor([[[4.0, 2.0, 9.0, math.nan], [5.0, 3.0, 8.0, 7.0]]])
    out = resize_sparse_depth(depth, 2, 1)
    torch.testing.assert_close(out, torch.tensor([[[2.0, 7.0]]]))


def test_crop_and_flip_keep_image_depth_and_sources_aligned() -> None:
    sample = make_sample()
    ids = sample.depth.clone()
    tagged = Sample(
        rgb=ids.expand(3, -1, -1) / ids.max(),
        depth=ids,
        sparse_depth=sample.sparse_depth,
        k=sample.k,
        sources=(ids.expand(3, -1, -1) / ids.max())[None].repeat(2, 1, 1, 1),
        source_offsets=sample.source_offsets,
        source_from_target=sample.source_from_target,
        pose_known=sample.pose_known,
    )
    out = hflip(crop(tagged, 5, 3, 20, 15))
    torch.testing.assert_close(out.rgb[0] * ids.max(), out.depth[0])
    torch.testing.assert_close(out.sources[1, 2] * ids.max(), out.depth[0])
    sparse_valid = torch.isfinite(out.sparse_depth)
    torch.testing.assert_close(out.sparse_depth[sparse_valid], out.depth[sparse_valid])


def test_flip_twice_is_the_identity() -> None:
    sample = make_sample(seed=3)
    twice = hflip(hflip(sample))
    for name in ("rgb", "depth", "sparse_depth", "sources", "source_from_target"):
        torch.testing.assert_close(getattr(twice, name), getattr(sample, name), equal_nan=True, rtol=0, atol=0)
    torch.testing.assert_close(twice.k, sample.k, atol=1e-5, rtol=0)
    once = hflip(sample)
    assert float(once.source_from_target[0, 0, 3]) == 0.5  # stereo baseline along x changes sign
    assert float(once.source_from_target[0, 1, 3]) == pytest.approx(0.1)


def test_random_resized_crop_output_and_geometry() -> None:
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        sample, point = marker_sample(17, 11, depth_m=4.0)
        out = random_resized_crop(sample, 24, 16, scale_range=(0.5, 1.5), generator=gen)
        assert (out.width, out.height) == (24, 16)
        expected = projected_pixel(point, out)
        found = marker_pixel(out.sparse_depth)
        if expected is not None and found is not None:
            assert abs(found[0] - expected[0]) <= 1 and abs(found[1] - expected[1]) <= 1
    with pytest.raises(ConfigError, match="scale_range"):
        random_resized_crop(make_sample(), 10, 10, scale_range=(2.0, 1.0))


def test_a_zoom_divides_depth_and_known_translations_by_itself_so_the_apparent_size_keeps_its_metres() -> None:
    """A frame zoomed by s looks like the scene s times closer: with zoom_scales_depth the marker's depth and the
    known baseline are divided by s (s from the focal lengths), so depth x focal / size stays what the un-zoomed
    camera teaches; without it the metres stay and the network would learn one depth for s different sizes."""
    gen = torch.Generator().manual_seed(3)
    for _ in range(10):
        sample = replace(make_sample(), sparse_depth=marker_sample(17, 11, depth_m=4.0)[0].sparse_depth)
        state = gen.get_state()
        kept = random_resized_crop(sample, 24, 16, scale_range=(0.8, 1.6), generator=gen)
        gen.set_state(state)
        out = random_resized_crop(sample, 24, 16, scale_range=(0.8, 1.6), generator=gen, zoom_scales_depth=True)
        zoom = math.sqrt(float(out.k[0, 0]) / INTRINSICS.fx * float(out.k[1, 1]) / INTRINSICS.fy)
        torch.testing.assert_close(out.rgb, kept.rgb)  # the same draw, the same pixels
        torch.testing.assert_close(out.depth, kept.depth / zoom)
        torch.testing.assert_close(out.sparse_depth, kept.sparse_depth / zoom, equal_nan=True)
        torch.testing.assert_close(out.source_from_target[:, :3, 3], kept.source_from_target[:, :3, 3] / zoom)
        torch.testing.assert_close(out.source_from_target[:, :3, :3], kept.source_from_target[:, :3, :3])
        if (found := marker_pixel(out.sparse_depth)) is not None:  # depth x focal: the un-zoomed camera's
            marker = float(out.sparse_depth[0, found[1], found[0]])
            assert marker * math.sqrt(float(out.k[0, 0] * out.k[1, 1])) == pytest.approx(
                4.0 * math.sqrt(INTRINSICS.fx * INTRINSICS.fy), rel=1e-5
            )
    unknown = replace(make_sample(), source_from_target=torch.full((2, 4, 4), math.nan))
    out = random_resized_crop(unknown, 24, 16, (1.2, 1.2), torch.Generator().manual_seed(0), zoom_scales_depth=True)
    assert torch.isnan(out.source_from_target).all()  # unknown poses stay unknown


def test_colour_jitter_is_one_mapping_for_target_and_sources() -> None:
    sample = make_sample()
    same = Sample(
        rgb=sample.rgb,
        depth=sample.depth,
        sparse_depth=sample.sparse_depth,
        k=sample.k,
        sources=sample.rgb[None].repeat(2, 1, 1, 1),
        source_offsets=(-1, 1),
        source_from_target=sample.source_from_target,
        pose_known=sample.pose_known,
    )
    out = colour_jitter(same, 0.4, 0.4, 0.4, 0.1, generator=torch.Generator().manual_seed(1))
    assert not torch.allclose(out.rgb, same.rgb)
    torch.testing.assert_close(out.sources[0], out.rgb)
    torch.testing.assert_close(out.sources[1], out.rgb)
    assert float(out.rgb.min()) >= 0.0 and float(out.rgb.max()) <= 1.0
    assert out.depth is same.depth and out.k is same.k  # geometry untouched
    neutral = colour_jitter(sample, 0.0, 0.0, 0.0, 0.0)
    torch.testing.assert_close(neutral.rgb, sample.rgb, atol=1e-5, rtol=0)


def test_hue_rotation_keeps_grey_pixels_grey() -> None:
    grey = make_sample()
    grey = Sample(grey.rgb[:1].repeat(3, 1, 1), grey.depth, grey.sparse_depth, grey.k)
    out = colour_jitter(grey, 0.0, 0.0, 0.0, 0.5, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(out.rgb, grey.rgb, atol=1e-5, rtol=0)


def test_gaussian_noise() -> None:
    sample = make_sample()
    assert gaussian_noise(sample, 0.0) is sample
    noisy = gaussian_noise(sample, 0.05, generator=torch.Generator().manual_seed(0))
    diff = (noisy.rgb - sample.rgb).abs()
    assert 0.0 < float(diff.mean()) < 0.06
    assert float(noisy.rgb.min()) >= 0.0 and float(noisy.rgb.max()) <= 1.0
    assert not torch.equal(noisy.sources, sample.sources)
    assert noisy.depth is sample.depth
    with pytest.raises(ConfigError):
        gaussian_noise(sample, -1.0)


def test_train_augment_is_reproducible_and_sized() -> None:
    config = AugmentConfig(crop_width=32, crop_height=16, scale_range=(0.8, 1.3), jitter_probability=1.0,
                           noise_std=0.01)  # fmt: skip
    a = TrainAugment(config, torch.Generator().manual_seed(9))(make_sample())
    b = TrainAugment(config, torch.Generator().manual_seed(9))(make_sample())
    assert (a.width, a.height) == (32, 16) and a.sources.shape == (2, 3, 16, 32)
    torch.testing.assert_close(a.rgb, b.rgb)
    torch.testing.assert_close(a.k, b.k)
    batch = collate_samples([a, b])
    assert batch.rgb.shape == (2, 3, 16, 32)
    augment = TrainAugment(config)
    c = augment(make_sample(), torch.Generator().manual_seed(9))  # a per-item generator overrides
    torch.testing.assert_close(c.rgb, a.rgb)


@pytest.mark.parametrize(
    "kwargs",
    [{"crop_width": 10}, {"scale_range": (0.0, 1.0)}, {"flip_probability": 1.5}, {"noise_std": -0.1}],
)
def test_augment_config_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        AugmentConfig(**kwargs)  # type: ignore[arg-type]


def test_crop_outside_the_image_is_rejected() -> None:
    with pytest.raises(ShapeError, match="does not fit"):
        crop(make_sample(), 30, 0, 20, 10)
    with pytest.raises(ShapeError):
        resize(make_sample(), 0, 10)


def test_the_seen_mask_follows_crop_resize_and_flip() -> None:
    """``seen`` (False on a raw camera's black fill) moves with the image; after a resize a pixel is seen only where
    its whole footprint was (a pixel blended with fill is not), and a batch stacks it."""
    seen = torch.ones(1, HEIGHT, WIDTH, dtype=torch.bool)
    seen[0, :, :7] = False
    sample = replace(make_sample(), seen=seen)
    assert torch.equal(make_sample().seen, torch.ones(1, HEIGHT, WIDTH, dtype=torch.bool))  # default: all seen
    assert torch.equal(crop(sample, 3, 2, 20, 10).seen, seen[:, 2:12, 3:23])
    assert torch.equal(hflip(sample).seen, seen.flip(-1))
    half = resize(sample, WIDTH // 2, HEIGHT // 2).seen
    assert half.dtype == torch.bool and half.shape == (1, HEIGHT // 2, WIDTH // 2)
    assert not half[0, :, :4].any() and half[0, :, 4:].all()  # column 3 blends fill column 6 with seen column 7
    double = resize(sample, WIDTH * 2, HEIGHT * 2).seen
    assert not double[0, :, :14].any() and double[0, :, 14:].all()
    config = AugmentConfig(crop_width=32, crop_height=16, scale_range=(0.8, 1.3), jitter_probability=1.0)
    augmented = TrainAugment(config, torch.Generator().manual_seed(9))(sample)
    assert augmented.seen.shape == (1, 16, 32) and not augmented.seen.all()
    batch = collate_samples([augmented, augmented])
    assert batch.seen is not None and batch.seen.shape == (2, 1, 16, 32)
    with pytest.raises(ShapeError, match="seen"):
        replace(sample, seen=torch.ones(1, 3, 3, dtype=torch.bool))


def test_a_lidar_depth_target_keeps_its_returns_when_shrunk() -> None:
    """A depth target made of LiDAR returns (the bag export's depth/, kitti_raw's Velodyne ground truth): shrinking
    it by sampling one pixel per block kept about one return in ten at 320 × 96; a block whose sampled pixel has no
    return takes the nearest return in it, as the sparse depth does. A dense map shrinks as before."""
    sample = make_sample(height=48, width=80)
    lidar_target = replace(sample, depth=sample.sparse_depth.clone())
    out = resize(lidar_target, 20, 12)
    splat = resize_sparse_depth(sample.sparse_depth, 20, 12)
    torch.testing.assert_close(torch.isfinite(out.depth), torch.isfinite(splat))
    sampled = F.interpolate(lidar_target.depth[None], size=(12, 20), mode="nearest-exact")[0]
    kept = torch.isfinite(sampled)
    torch.testing.assert_close(out.depth[kept], sampled[kept])  # a sampled return stays what it was
    dense = resize(sample, 20, 12).depth
    torch.testing.assert_close(dense, F.interpolate(sample.depth[None], size=(12, 20), mode="nearest-exact")[0])
