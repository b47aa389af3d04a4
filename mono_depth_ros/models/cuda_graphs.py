"""CUDA-graph replay of one network forward pass for a fixed input shape.

Launching the few hundred kernels of a ViT one by one costs more CPU time than the GPU needs to run them at small
batch sizes; a captured graph replays them with one launch. The graph owns static input / output buffers: each call
copies the batch in, replays, and returns a copy of the output (the buffer is overwritten by the next replay).
Only for CUDA devices and torch kernels (not ONNX Runtime); the engine keeps one runner per input shape.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from mono_depth_ros.core.errors import ConfigError, ShapeError

WARMUP_RUNS = 3
"""Forward passes on a side stream before capture (cuDNN autotuning and allocations must happen outside it)."""


class CudaGraphRunner:
    """A captured ``forward`` for inputs shaped like ``example``.

    Args:
        forward: batch -> prediction; must only launch CUDA work (no host synchronisation, no data-dependent
            control flow), as the engine's autocast-wrapped backend call does.
        example: a batch with the shape, dtype and device of every later input (CUDA).

    Raises:
        ConfigError: ``example`` is not on a CUDA device.
    """

    def __init__(self, forward: Callable[[Tensor], Tensor], example: Tensor) -> None:
        if example.device.type != "cuda":
            msg = f"CUDA graphs need a CUDA tensor, got one on {example.device}"
            raise ConfigError(msg)
        self.device = example.device
        # Everything on the example's device: torch.cuda.Stream() and torch.cuda.graph's shared default capture
        # stream belong to the *current* device (cuda:0 in a fresh thread): a model on cuda:1 would be captured on a
        # cuda:0 stream, which records none of its kernels (they go to cuda:1's stream, eagerly, or fail the capture
        # where they allocate): replays would return the warm-up frame's output.
        with torch.cuda.device(self.device):
            self.static_input = example.clone()
            stream = torch.cuda.Stream(device=self.device)  # type: ignore[no-untyped-call]
            stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(stream):
                for _ in range(WARMUP_RUNS):
                    forward(self.static_input)
            torch.cuda.current_stream(self.device).wait_stream(stream)
            self.graph = torch.cuda.CUDAGraph()
            capture = torch.cuda.Stream(device=self.device)  # type: ignore[no-untyped-call]
            with torch.cuda.graph(self.graph, stream=capture):
                self.static_output = forward(self.static_input)

    def __call__(self, batch: Tensor) -> Tensor:
        """Replay on ``batch`` (same shape as the example); returns a fresh output tensor.

        Raises:
            ShapeError: another shape than the captured one.
        """
        if batch.shape != self.static_input.shape:
            msg = f"CUDA graph captured for {tuple(self.static_input.shape)}, got {tuple(batch.shape)}"
            raise ShapeError(msg)
        with torch.cuda.device(self.device):
            self.static_input.copy_(batch)
            self.graph.replay()
            return self.static_output.clone()
