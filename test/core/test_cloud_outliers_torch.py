"""core.cloud_outliers_torch: the speckle mask in torch is the numpy mask (core.cloud_outliers), pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mono_depth_ros.core.cloud_outliers import OutlierFilter, outlier_mask, speckle_mask
from mono_depth_ros.core.cloud_outliers_torch import outlier_mask_torch, speckle_mask_torch
from mono_depth_ros.core.errors import ShapeError
from test.core.test_cloud_outliers import PUBLISHED, inject_speckles, render_scenes

# a float32 subnormal (about 1e-39), invalid as zero is: exactly a float32, so hypothesis finds it unchanged in the
# float32 array on numpy 1.x too (1e-39 itself compared unequal to its float32 there: InvalidArgument, numpy 1.26)
SUBNORMAL = float(np.float32(1e-39))
SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -2.0, SUBNORMAL)
LEVELS = (2.0, 3.0, 4.0, 10.0, 20.0)


@pytest.fixture(scope="module")
def speckled() -> dict[str, np.ndarray]:
    """The speckle tests' scenes (exact depth at 414x125) with speckles and a few invalid pixels."""
    rng = np.random.default_rng(5)
    scenes = {}
    for name, truth in render_scenes(PUBLISHED).items():
        depth, _, _ = inject_speckles(truth, rng)
        holes = rng.random(depth.shape) < 0.02
        depth[holes] = rng.choice(np.array(SPECIALS, dtype=np.float32), size=int(holes.sum()))
        scenes[name] = depth
    return scenes


@pytest.mark.parametrize(
    "config", [OutlierFilter(), OutlierFilter(0.01), OutlierFilter(0.3, 3), OutlierFilter(0.05, 8)], ids=str
)
def test_torch_mask_equals_the_numpy_mask_on_speckled_scenes(
    speckled: dict[str, np.ndarray], config: OutlierFilter
) -> None:
    flagged = 0
    for name, depth in speckled.items():
        expected = outlier_mask(depth, config)
        got = outlier_mask_torch(torch.from_numpy(depth), config)
        assert got.dtype == torch.bool and tuple(got.shape) == depth.shape
        np.testing.assert_array_equal(got.numpy(), expected, err_msg=name)
        flagged += int(expected.sum())
    assert flagged > 100  # scenes with speckles to agree on


@pytest.mark.parametrize("source_hw", [None, (42, 138), (96, 320), (125, 414), (200, 100)])
def test_torch_speckle_mask_at_the_network_size_equals_the_numpy_one(
    speckled: dict[str, np.ndarray], source_hw: tuple[int, int] | None
) -> None:
    flagged = 0
    for name, depth in speckled.items():
        expected = speckle_mask(depth, OutlierFilter(), source_hw)
        got = speckle_mask_torch(torch.from_numpy(depth), OutlierFilter(), source_hw)
        np.testing.assert_array_equal(got.numpy(), expected, err_msg=name)
        flagged += int(expected.sum())
    assert flagged > 0


@given(
    depth=hnp.arrays(
        np.float32, (6, 7), elements=st.one_of(st.floats(0.0625, 300, width=32), st.sampled_from(LEVELS + SPECIALS))
    ),
    tolerance=st.floats(0.001, 0.9),
    min_support=st.integers(1, 8),
)
@settings(max_examples=80, deadline=None)
def test_torch_mask_equals_numpy_for_any_depth(depth: np.ndarray, tolerance: float, min_support: int) -> None:
    config = OutlierFilter(tolerance, min_support)
    np.testing.assert_array_equal(
        outlier_mask_torch(torch.from_numpy(depth), config).numpy(), outlier_mask(depth, config)
    )


def test_float64_input_is_tested_in_float32_and_not_modified(speckled: dict[str, np.ndarray]) -> None:
    depth = speckled["street, near"].astype(np.float64)
    tensor = torch.from_numpy(depth.copy())
    np.testing.assert_array_equal(outlier_mask_torch(tensor, OutlierFilter()).numpy(), outlier_mask(depth))
    np.testing.assert_array_equal(tensor.numpy(), depth)


def test_tiny_images_and_bad_shapes() -> None:
    for shape in ((1, 1), (1, 5), (5, 1), (2, 2)):
        depth = np.full(shape, 4.0, dtype=np.float32)
        np.testing.assert_array_equal(
            outlier_mask_torch(torch.from_numpy(depth), OutlierFilter()).numpy(), outlier_mask(depth)
        )
    with pytest.raises(ShapeError, match=r"\(H, W\)"):
        outlier_mask_torch(torch.ones(2, 3, 4), OutlierFilter())
    with pytest.raises(ShapeError, match="floating"):
        outlier_mask_torch(torch.ones(3, 4, dtype=torch.int32), OutlierFilter())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_mask_equals_the_numpy_mask(speckled: dict[str, np.ndarray]) -> None:
    for name, depth in speckled.items():
        got = outlier_mask_torch(torch.from_numpy(depth).cuda(), OutlierFilter())
        assert got.device.type == "cuda"
        np.testing.assert_array_equal(got.cpu().numpy(), outlier_mask(depth), err_msg=name)
