"""core.edges_torch: the flying-pixel mask in torch is the numpy mask (core.edges), pixel for pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mono_depth_ros.core.edges import depth_edge_mask, flying_pixel_mask
from mono_depth_ros.core.edges_torch import depth_edge_mask_torch, flying_pixel_mask_torch
from mono_depth_ros.core.errors import ShapeError

SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -2.0)
LEVELS = (2.0, 3.0, 4.0, 10.0, 20.0)  # flat runs and steps between them: blends and surfaces to tell apart


def _blended_scene(seed: int) -> np.ndarray:
    """(125, 414) float32 ramp and boxes made at a 42x138 'network' size and bilinearly upsampled (blends at every
    box edge), with NaN, ±Inf, 0 and negative pixels sprinkled in."""
    import cv2

    rng = np.random.default_rng(seed)
    small = np.repeat(np.linspace(80.0, 4.0, 42, dtype=np.float32)[:, None], 138, axis=1)  # ground-like ramp
    for _ in range(12):
        v, u = int(rng.integers(0, 36)), int(rng.integers(0, 130))
        small[v : v + int(rng.integers(2, 8)), u : u + int(rng.integers(2, 10))] = rng.uniform(3.0, 40.0)
    small[:5] = np.inf  # sky
    depth = cv2.resize(small, (414, 125), interpolation=cv2.INTER_LINEAR)
    holes = rng.random(depth.shape) < 0.03
    depth[holes] = rng.choice(np.array(SPECIALS, dtype=np.float32), size=int(holes.sum()))
    return depth.astype(np.float32)


@pytest.mark.parametrize("threshold", [0.02, 0.1, 0.5])
@pytest.mark.parametrize("source_hw", [None, (42, 138), (96, 320), (125, 414), (200, 100)])
def test_torch_mask_equals_the_numpy_mask(threshold: float, source_hw: tuple[int, int] | None) -> None:
    depth = _blended_scene(int(threshold * 100))
    expected = flying_pixel_mask(depth, threshold, source_hw)
    got = flying_pixel_mask_torch(torch.from_numpy(depth), threshold, source_hw)
    assert got.dtype == torch.bool and tuple(got.shape) == depth.shape
    np.testing.assert_array_equal(got.numpy(), expected)
    assert expected.any() and not expected.all()  # a scene with marks to agree on


@given(
    depth=hnp.arrays(
        np.float32, (5, 7), elements=st.one_of(st.floats(0.5, 300, width=32), st.sampled_from(LEVELS + SPECIALS))
    ),
    threshold=st.floats(0.0, 2.0),
)
@settings(max_examples=60, deadline=None)
def test_torch_mask_equals_numpy_for_any_depth(depth: np.ndarray, threshold: float) -> None:
    np.testing.assert_array_equal(
        depth_edge_mask_torch(torch.from_numpy(depth), threshold).numpy(), depth_edge_mask(depth, threshold)
    )


def test_float64_input_is_tested_in_float32_as_numpy_does() -> None:
    depth = _blended_scene(3).astype(np.float64)
    np.testing.assert_array_equal(
        flying_pixel_mask_torch(torch.from_numpy(depth), 0.1, (42, 138)).numpy(),
        flying_pixel_mask(depth, 0.1, (42, 138)),
    )


def test_real_kitti_depth_upsampled_from_a_network_size(kitti_object_dir: Path) -> None:
    """Real edges: a KITTI frame's LiDAR depth filled in, shrunk to 42x138 and enlarged bilinearly to 125x414."""
    import cv2

    from mono_depth_ros.core.densify import densify_nearest
    from test.kitti_bag import load_kitti_frames

    frame = load_kitti_frames(kitti_object_dir, ("000002",))[0]
    dense = densify_nearest(frame.lidar_depth_m)
    small = cv2.resize(dense, (138, 42), interpolation=cv2.INTER_NEAREST)
    depth = cv2.resize(small, (414, 125), interpolation=cv2.INTER_LINEAR)
    for source_hw in (None, (42, 138)):
        expected = flying_pixel_mask(depth, 0.1, source_hw)
        assert expected.sum() > 50
        np.testing.assert_array_equal(
            flying_pixel_mask_torch(torch.from_numpy(depth), 0.1, source_hw).numpy(), expected
        )


def test_shape_errors() -> None:
    with pytest.raises(ShapeError, match="depth"):
        depth_edge_mask_torch(torch.ones(1, 4, 6), 0.1)
    with pytest.raises(ShapeError, match="depth"):
        depth_edge_mask_torch(torch.ones(4, 6, dtype=torch.int32), 0.1)
    with pytest.raises(ShapeError, match="depth"):
        flying_pixel_mask_torch(torch.ones(4), 0.1, (2, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_mask_equals_the_numpy_mask() -> None:
    depth = _blended_scene(7)
    got = flying_pixel_mask_torch(torch.from_numpy(depth).cuda(), 0.1, (42, 138))
    assert got.device.type == "cuda"
    np.testing.assert_array_equal(got.cpu().numpy(), flying_pixel_mask(depth, 0.1, (42, 138)))
