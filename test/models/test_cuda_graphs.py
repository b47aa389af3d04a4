"""Tests for models/cuda_graphs.py (the capture itself runs only where CUDA is available)."""

from __future__ import annotations

import contextlib

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


class _FakeStream:
    def __init__(self, device: torch.device | None) -> None:
        self.device = device

    def wait_stream(self, other: _FakeStream) -> None:
        assert other.device == self.device, f"a {self.device} stream waits for a {other.device} stream"


class _OnSecondGpu:
    """What the runner reads of a CUDA example tensor on cuda:1 (no GPU here)."""

    device = torch.device("cuda", 1)
    shape = torch.Size([1, 3, 4, 4])

    def clone(self) -> torch.Tensor:
        return torch.ones(1, 3, 4, 4)


def test_capture_and_replay_use_the_examples_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model on cuda:1 (the thread's current device is cuda:0): the warm-up stream, the capture stream and the
    replay belong to cuda:1. torch.cuda.Stream() and torch.cuda.graph's default capture stream are made on the
    current device: a capture there records none of cuda:1's kernels and every replay returns the warm-up output."""
    made: list[torch.device | None] = []
    captured_on: list[_FakeStream | None] = []
    entered: list[torch.device] = []

    def stream(device: torch.device | None = None) -> _FakeStream:
        made.append(device)
        return _FakeStream(device)

    def current_stream(device: torch.device | None = None) -> _FakeStream:
        return _FakeStream(device if device is not None else torch.device("cuda", 0))

    class Graph:
        def replay(self) -> None: ...

    def graph(graph: Graph, pool: object = None, stream: _FakeStream | None = None) -> contextlib.nullcontext[None]:
        captured_on.append(stream)
        return contextlib.nullcontext()

    def device(where: torch.device) -> contextlib.nullcontext[None]:
        entered.append(where)
        return contextlib.nullcontext()

    monkeypatch.setattr(torch.cuda, "Stream", stream)
    monkeypatch.setattr(torch.cuda, "current_stream", current_stream)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "CUDAGraph", Graph)
    monkeypatch.setattr(torch.cuda, "graph", graph)
    monkeypatch.setattr(torch.cuda, "device", device)
    second = torch.device("cuda", 1)
    runner = CudaGraphRunner(lambda x: x * 2, _OnSecondGpu())  # type: ignore[arg-type]
    assert made and all(where == second for where in made), made
    assert len(captured_on) == 1 and captured_on[0] is not None and captured_on[0].device == second
    entered.clear()
    out = runner(torch.full((1, 3, 4, 4), 3.0))
    assert entered == [second]
    assert out.shape == (1, 3, 4, 4)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices (a model on cuda:1)")
def test_replay_on_the_second_gpu_follows_its_input() -> None:
    conv = torch.nn.Conv2d(3, 1, 3, padding=1).to("cuda:1").eval()

    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return conv(x)

    with torch.cuda.device(0):  # the worker thread's current device
        runner = CudaGraphRunner(forward, torch.zeros(1, 3, 16, 16, device="cuda:1"))
        x = torch.randn(1, 3, 16, 16, device="cuda:1")
        out = runner(x)
    assert out.device == torch.device("cuda", 1)
    torch.testing.assert_close(out, forward(x))
