"""The Sample record: shape checks, batching, tensor conversions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.training.data.sample import (
    Sample,
    collate_samples,
    depth_tensor,
    intrinsics_from_k,
    k_tensor,
    rgb_tensor,
    unknown_poses,
)

INTRINSICS = PinholeIntrinsics(50.0, 52.0, 10.5, 6.25, width=20, height=12)


def sample(sources: int = 0, height: int = 12, width: int = 20, name: str = "x") -> Sample:
    poses, known = unknown_poses(sources)
    return Sample(
        rgb=torch.rand(3, height, width),
        depth=torch.full((1, height, width), 2.0),
        sparse_depth=torch.full((1, height, width), math.nan),
        k=k_tensor(INTRINSICS),
        sources=torch.rand(sources, 3, height, width),
        source_offsets=tuple(range(1, sources + 1)),
        source_from_target=poses,
        pose_known=known,
        name=name,
    )


def test_sample_without_sources_gets_empty_source_tensors() -> None:
    s = Sample(torch.rand(3, 4, 5), torch.ones(1, 4, 5), torch.ones(1, 4, 5), torch.eye(3))
    assert s.sources.shape == (0, 3, 4, 5)
    assert s.source_from_target.shape == (0, 4, 4) and s.pose_known.shape == (0,)
    assert (s.height, s.width) == (4, 5)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("rgb", torch.rand(1, 12, 20), "rgb"),
        ("depth", torch.rand(1, 12, 21), "depth"),
        ("sparse_depth", torch.rand(12, 20), "sparse_depth"),
        ("k", torch.eye(4), "k"),
        ("sources", torch.rand(1, 3, 12, 20), "sources"),
        ("pose_known", torch.zeros(3, dtype=torch.bool), "pose_known"),
    ],
)
def test_sample_rejects_mismatched_shapes(field: str, value: torch.Tensor, match: str) -> None:
    names = ("rgb", "depth", "sparse_depth", "k", "sources", "source_offsets", "source_from_target", "pose_known")
    fields = {name: getattr(sample(sources=2), name) for name in names}
    fields[field] = value
    with pytest.raises(ShapeError, match=match):
        Sample(**fields)  # type: ignore[arg-type]


def test_collate_stacks_every_field() -> None:
    batch = collate_samples([sample(2, name="a"), sample(2, name="b"), sample(2, name="c")])
    assert batch.rgb.shape == (3, 3, 12, 20)
    assert batch.depth.shape == batch.sparse_depth.shape == (3, 1, 12, 20)
    assert batch.k.shape == (3, 3, 3)
    assert batch.sources.shape == (3, 2, 3, 12, 20)
    assert batch.source_from_target.shape == (3, 2, 4, 4) and batch.pose_known.shape == (3, 2)
    assert batch.source_offsets == (1, 2) and batch.names == ("a", "b", "c")
    moved = batch.to("cpu")
    assert torch.equal(moved.rgb, batch.rgb)


def test_collate_rejects_mixed_batches() -> None:
    with pytest.raises(ShapeError, match="sizes"):
        collate_samples([sample(), sample(height=10)])
    with pytest.raises(ShapeError, match="offsets"):
        collate_samples([sample(1), sample(2)])
    with pytest.raises(ShapeError, match="empty"):
        collate_samples([])


def test_dataloader_with_collate_samples() -> None:
    loader = torch.utils.data.DataLoader([sample(1) for _ in range(5)], batch_size=2, collate_fn=collate_samples)
    sizes = [b.rgb.shape[0] for b in loader]
    assert sizes == [2, 2, 1]


def test_conversions() -> None:
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 1] = (255, 0, 51)
    t = rgb_tensor(rgb)
    assert t.shape == (3, 2, 3) and t.dtype == torch.float32
    assert t[:, 0, 1].tolist() == pytest.approx([1.0, 0.0, 0.2])
    with pytest.raises(ShapeError):
        rgb_tensor(np.zeros((2, 3), dtype=np.uint8))
    depth = depth_tensor(np.array([[1.5, 0.0], [np.inf, -2.0]]), 2, 2)
    assert depth.dtype == torch.float32 and depth.shape == (1, 2, 2)
    assert depth[0, 0, 0] == 1.5 and torch.isnan(depth[0].reshape(-1)[1:]).all()
    assert torch.isnan(depth_tensor(None, 2, 3)).all()
    with pytest.raises(ShapeError):
        depth_tensor(np.ones((3, 2)), 2, 3)
    back = intrinsics_from_k(k_tensor(INTRINSICS), 20, 12)
    assert back == INTRINSICS
