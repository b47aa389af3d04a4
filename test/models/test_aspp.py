"""Tests for models/aspp.py: shapes at any size (even 1×1), image pooling, gradient flow."""

from __future__ import annotations

import pytest
import torch

from mono_depth_ros.models.aspp import ASPP


@pytest.mark.parametrize(("height", "width"), [(1, 1), (3, 10), (6, 20)])
def test_keeps_spatial_size(height: int, width: int) -> None:
    module = ASPP(16, 8).eval()
    with torch.no_grad():
        out = module(torch.randn(2, 16, height, width))
    assert out.shape == (2, 8, height, width)
    assert torch.isfinite(out).all()


def test_one_branch_per_dilation_plus_image_pooling() -> None:
    module = ASPP(4, 6, dilations=(1, 2, 3))
    assert len(module.branches) == 3
    assert module.branches[0][0].kernel_size == (1, 1)
    assert module.branches[2][0].dilation == (3, 3)
    assert module.project[0].in_channels == 6 * 4


def test_image_pooling_sees_the_whole_map() -> None:
    torch.manual_seed(0)
    module = ASPP(2, 3, dilations=(1,)).eval()
    x = torch.zeros(1, 2, 8, 8)
    y = x.clone()
    y[..., 7, 7] = 50.0  # far from (0, 0): only the pooled branch carries it there
    with torch.no_grad():
        assert not torch.equal(module(x)[..., 0, 0], module(y)[..., 0, 0])


def test_batch_one_trains() -> None:
    module = ASPP(8, 4).train()
    module(torch.randn(1, 8, 3, 10)).sum().backward()
    assert all(p.grad is not None for p in module.parameters())
