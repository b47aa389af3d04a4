"""Tests for models/cuda_graphs.py (the capture itself runs only where CUDA is available)."""

from __future__ import annotations

import pytest
import torch

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.models.cuda_graphs import CudaGraphRunner


def test_refuses_cpu_tensors() -> None:
    with pytest.raises(ConfigError, match="CUDA graphs need a CUDA tensor"):
        CudaGraphRunner(lambda x: x * 2, torch.ones(1, 3, 4, 4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_replay_matches_eager_and_checks_shape() -> None:
    conv = torch.nn.Conv2d(3, 1, 3, padding=1).cuda().eval()

    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return conv(x)

    runner = CudaGraphRunner(forward, torch.randn(1, 3, 16, 16, device="cuda"))
    for _ in range(3):
        x = torch.randn(1, 3, 16, 16, device="cuda")
        torch.testing.assert_close(runner(x), forward(x))
    first = runner(x)
    runner(torch.zeros_like(x))
    torch.testing.assert_close(first, forward(x))  # outputs are copies, not the static buffer
    with pytest.raises(ShapeError, match="captured for"):
        runner(torch.randn(1, 3, 8, 8, device="cuda"))
