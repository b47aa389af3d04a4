"""ONNX Runtime I/O binding on torch memory: the input is read from the batch tensor where it lies and the outputs
are written into torch tensors that are reused from frame to frame.

On CUDA this spares the host round trip of ``session.run`` (device -> host numpy -> device inside ONNX Runtime,
then host -> device again for the engine's post-processing); on the CPU it spares the output copies. The output
shapes of a dynamic-size model are only known after a run: the first frame of each input shape runs once with
outputs allocated by ONNX Runtime to learn them (shape discovery), then again into the new torch buffers. The
buffers of the last :data:`KEPT_SHAPES` input shapes are kept.

The tensors :meth:`IoBinder.run` returns are overwritten by the next run (as a CUDA-graph replay's static outputs
are): copy them to keep them.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mono_depth_ros.core.errors import CheckpointError

KEPT_SHAPES = 4
"""Input shapes whose output buffers are kept (camera size, golden self-test size, a resize or two)."""

ORT_DTYPES: dict[str, torch.dtype] = {
    "tensor(float)": torch.float32,
    "tensor(float16)": torch.float16,
    "tensor(double)": torch.float64,
    "tensor(bool)": torch.bool,
    "tensor(uint8)": torch.uint8,
    "tensor(int32)": torch.int32,
    "tensor(int64)": torch.int64,
}
"""ONNX tensor types (``NodeArg.type``) that can be bound to torch tensors, with their torch dtype."""

GPU_PROVIDERS = frozenset({"CUDAExecutionProvider", "TensorrtExecutionProvider"})


def torch_dtype(ort_type: str, what: str) -> torch.dtype:
    """The torch dtype of an ONNX tensor type string such as ``tensor(float)``.

    Raises:
        CheckpointError: a type that cannot be bound (strings, sequences, maps); ``what`` names the input / output.
    """
    dtype = ORT_DTYPES.get(ort_type)
    if dtype is None:
        msg = f"{what} has type {ort_type}; only {', '.join(ORT_DTYPES)} can be bound: re-export the model"
        raise CheckpointError(msg)
    return dtype


def as_input(batch: Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``batch`` as the graph's input dtype on ``device``, contiguous; an integer input (pixels 0..255 of a graph
    whose spec normalises to 0..255) is rounded, not truncated (254.99998 is 255)."""
    image = batch.detach().to(device)
    if not dtype.is_floating_point and dtype != torch.bool:
        image = image.round()
    return image.to(dtype).contiguous()


def numpy_dtype(dtype: torch.dtype) -> type[np.generic]:
    """The numpy scalar type ONNX Runtime's ``bind_input`` / ``bind_output`` expect for a torch dtype."""
    scalar: type[np.generic] = torch.empty(0, dtype=dtype).numpy().dtype.type
    return scalar


def binding_device(active_providers: list[str], device: torch.device) -> torch.device:
    """Where the session reads its input and writes its outputs: the model's CUDA device when a GPU provider runs
    the session, else the CPU (also for a CUDA model whose session fell back to the CPU provider)."""
    if device.type == "cuda" and GPU_PROVIDERS.intersection(active_providers):
        return torch.device("cuda", device.index or 0)
    return torch.device("cpu")


class IoBinder:
    """Runs a session through one reused ``IOBinding`` on torch tensors (from one thread at a time, as the engine
    does: the binding and the output buffers are shared by all calls).

    Args:
        session: an ``onnxruntime.InferenceSession``.
        input_name: the image input.
        output_names: outputs to fetch, in the order :meth:`run` returns them.
        device: where the input and outputs live (:func:`binding_device`).

    Attributes:
        runs: bound runs so far (shape discovery runs included).
        discoveries: shape discovery runs (one per new input shape, or one more after a kept shape was dropped).

    Raises:
        CheckpointError: an input or output of a type that cannot be bound.
    """

    def __init__(self, session: Any, input_name: str, output_names: list[str], device: torch.device) -> None:
        self.session = session
        self.device = device
        self._binding = session.io_binding()
        self._input_name = input_name
        self._output_names = list(output_names)
        inputs = {str(arg.name): str(arg.type) for arg in session.get_inputs()}
        outputs = {str(arg.name): str(arg.type) for arg in session.get_outputs()}
        self._input_dtype = torch_dtype(inputs[input_name], f"input {input_name!r}")
        self._output_dtypes = [torch_dtype(outputs[name], f"output {name!r}") for name in self._output_names]
        self._buffers: OrderedDict[tuple[int, ...], list[Tensor]] = OrderedDict()
        self.runs = 0
        self.discoveries = 0

    def run(self, batch: Tensor) -> list[Tensor]:
        """Run on ``batch`` (any float dtype / device; converted to the input's dtype on :attr:`device`).

        Returns:
            The outputs as tensors on :attr:`device`, in ``output_names`` order; overwritten by the next run.
        """
        image = as_input(batch, self._input_dtype, self.device)
        self._bind(self._input_name, image, is_input=True)
        key = tuple(image.shape)
        buffers = self._buffers.get(key)
        if buffers is None:
            buffers = self._discover(key)
        else:
            self._buffers.move_to_end(key)
        self._binding.clear_binding_outputs()
        for name, buffer in zip(self._output_names, buffers, strict=True):
            self._bind(name, buffer, is_input=False)
        if self.device.type == "cuda":
            # ONNX Runtime runs on its own stream: the preprocessing queued on torch's must have finished. The run
            # itself returns once its outputs are written (ONNX Runtime synchronises the provider at the end).
            torch.cuda.current_stream(self.device).synchronize()
        self.session.run_with_iobinding(self._binding)
        self.runs += 1
        return buffers

    def _bind(self, name: str, tensor: Tensor, is_input: bool) -> None:
        args = (
            name,
            self.device.type,
            self.device.index or 0,
            numpy_dtype(tensor.dtype),
            list(tensor.shape),
            tensor.data_ptr(),
        )
        if is_input:
            self._binding.bind_input(*args)
        else:
            self._binding.bind_output(*args)

    def _discover(self, key: tuple[int, ...]) -> list[Tensor]:
        """Output buffers for input shape ``key``: one run with outputs allocated by ONNX Runtime gives their shapes."""
        self._binding.clear_binding_outputs()
        for name in self._output_names:
            self._binding.bind_output(name, self.device.type, self.device.index or 0)
        if self.device.type == "cuda":
            torch.cuda.current_stream(self.device).synchronize()
        self.session.run_with_iobinding(self._binding)
        self.runs += 1
        self.discoveries += 1
        shapes = [tuple(int(size) for size in value.shape()) for value in self._binding.get_outputs()]
        buffers = [
            torch.empty(shape, dtype=dtype, device=self.device)
            for shape, dtype in zip(shapes, self._output_dtypes, strict=True)
        ]
        self._buffers[key] = buffers
        while len(self._buffers) > KEPT_SHAPES:
            self._buffers.popitem(last=False)
        return buffers
