from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.cloud import cloud_from_packed, organized_cloud
from mono_depth_ros.core.cloud_torch import organized_cloud_torch
from mono_depth_ros.core.errors import ConfigError, EncodingError, ShapeError

INTR = PinholeIntrinsics(707.0493, 707.0493, 604.0814, 180.5066, width=1242, height=375)
SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -1.0)


def _frame(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.3, 90.0, (INTR.height, INTR.width)).astype(np.float32)
    holes = rng.random(depth.shape) < 0.2
    depth[holes] = rng.choice(np.array(SPECIALS, dtype=np.float32), size=int(holes.sum()))
    return depth, rng.integers(0, 256, (INTR.height, INTR.width, 3), dtype=np.uint8)


@pytest.mark.parametrize("limits", [(0.0, math.inf), (1.0, 40.0)])
def test_torch_bytes_equal_the_numpy_cloud_on_cpu(limits: tuple[float, float]) -> None:
    depth, rgb = _frame(0)
    k = torch.from_numpy(INTR.matrix)
    packed = organized_cloud_torch(torch.from_numpy(depth), k, torch.from_numpy(rgb), *limits)
    assert packed.shape == (INTR.height * INTR.width, 8) and packed.dtype == torch.float32
    reference = organized_cloud(depth, INTR, rgb, *limits)
    assert packed.numpy().tobytes() == reference.tobytes()
    xyz_only = organized_cloud_torch(torch.from_numpy(depth), k, None, *limits)
    assert xyz_only.shape == (INTR.height * INTR.width, 4)
    assert xyz_only.numpy().tobytes() == organized_cloud(depth, INTR, None, *limits).tobytes()
    wrapped = cloud_from_packed(packed.numpy(), INTR.height, INTR.width, is_dense=False)
    assert wrapped.tobytes() == reference.tobytes() and wrapped.point_step == 32


@given(
    depth=hnp.arrays(np.float32, (4, 6), elements=st.one_of(st.floats(-3, 300, width=32), st.sampled_from(SPECIALS))),
    cx=st.floats(-5, 10),
    cy=st.floats(-5, 10),
)
@settings(max_examples=40, deadline=None)
def test_torch_matches_numpy_for_any_depth(depth: np.ndarray, cx: float, cy: float) -> None:
    intr = PinholeIntrinsics(7.5, 9.25, cx, cy, width=6, height=4)
    rgb = np.arange(72, dtype=np.uint8).reshape(4, 6, 3) * np.uint8(7)
    packed = organized_cloud_torch(torch.from_numpy(depth), torch.from_numpy(intr.matrix), torch.from_numpy(rgb))
    assert packed.numpy().tobytes() == organized_cloud(depth, intr, rgb).tobytes()


def test_torch_input_errors() -> None:
    k = torch.eye(3, dtype=torch.float64)
    with pytest.raises(ShapeError, match="depth"):
        organized_cloud_torch(torch.ones(1, 4, 6), k)
    with pytest.raises(ShapeError, match="depth"):
        organized_cloud_torch(torch.ones(4, 6, dtype=torch.int32), k)
    with pytest.raises(ShapeError, match="k_matrix"):
        organized_cloud_torch(torch.ones(4, 6), torch.eye(4))
    with pytest.raises(EncodingError, match="uint8"):
        organized_cloud_torch(torch.ones(4, 6), k, torch.zeros(4, 6, 3))
    with pytest.raises(ShapeError, match="colour"):
        organized_cloud_torch(torch.ones(4, 6), k, torch.zeros(4, 5, 3, dtype=torch.uint8))
    with pytest.raises(ConfigError, match="min_range"):
        organized_cloud_torch(torch.ones(4, 6), k, None, 5.0, 1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bytes_equal_the_numpy_cloud() -> None:
    depth, rgb = _frame(1)
    packed = organized_cloud_torch(
        torch.from_numpy(depth).cuda(), torch.from_numpy(INTR.matrix).cuda(), torch.from_numpy(rgb).cuda(), 0.5, 60.0
    )
    assert packed.device.type == "cuda"
    assert packed.cpu().numpy().tobytes() == organized_cloud(depth, INTR, rgb, 0.5, 60.0).tobytes()


def test_points_written_into_a_view_of_a_larger_buffer() -> None:
    depth, rgb = _frame(2)
    buffer = torch.full((INTR.height * INTR.width * 8 + 16,), 3.0)  # not zeroed: the padding slots are written
    out = buffer[16:].view(INTR.height * INTR.width, 8)
    got = organized_cloud_torch(torch.from_numpy(depth), torch.from_numpy(INTR.matrix), torch.from_numpy(rgb), out=out)
    assert got is out and buffer[:16].eq(3.0).all()
    assert out.numpy().tobytes() == organized_cloud(depth, INTR, rgb).tobytes()
    with pytest.raises(ShapeError, match="out"):
        organized_cloud_torch(torch.from_numpy(depth), torch.from_numpy(INTR.matrix), None, out=out)  # XYZ: 4 slots
    with pytest.raises(ShapeError, match="contiguous"):
        organized_cloud_torch(torch.ones(4, 6), torch.eye(3), None, out=torch.zeros(24, 8)[:, ::2])
