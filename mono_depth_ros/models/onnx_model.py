"""ONNX Runtime backend: an exported ``.onnx`` model with its ModelSpec beside it (see :mod:`.sidecar`).

Execution providers: CUDA when the device is a GPU and the installed ``onnxruntime`` offers it (the
``onnxruntime-gpu`` wheel), otherwise the CPU with ``cpu_threads`` intra-op threads. Inputs go through host memory
(``session.run`` on numpy arrays); ONNX Runtime uploads them to the GPU itself when the CUDA provider is active.
The model runs in the precision it was exported in (fp32 from :mod:`.export`): autocast does not apply.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mono_depth_ros.core.errors import CheckpointError, ConfigError, ShapeError
from mono_depth_ros.models.checkpoint import GoldenReference
from mono_depth_ros.models.sidecar import EMBEDDED_SPEC_KEY, read_golden, read_spec
from mono_depth_ros.models.spec import ModelSpec

_LOG = logging.getLogger(__name__)


def require_onnxruntime() -> Any:
    """The onnxruntime module, or a ConfigError naming the package to install."""
    try:
        import onnxruntime
    except ImportError:
        msg = "the onnx backend needs onnxruntime: pip install 'mono_depth_ros[onnx]' (onnxruntime-gpu for CUDA)"
        raise ConfigError(msg) from None
    return onnxruntime


def _static_hw(shape: list[Any]) -> tuple[int, int] | None:
    """(H, W) of an input declared as (B, 3, H, W) with fixed integer H and W, else None."""
    if len(shape) != 4:
        return None
    height, width = shape[2], shape[3]
    return (height, width) if isinstance(height, int) and isinstance(width, int) else None


class OnnxBackend:
    """An ONNX model in an ONNX Runtime session.

    Args:
        path: the ``.onnx`` file (its ``.spec.json`` beside it, or the spec in its metadata).
        device: ``cpu`` or ``cuda[:N]`` (CUDA needs the CUDA execution provider).
        cpu_threads: intra-op threads (None: ONNX Runtime's default, one per core).

    Raises:
        CheckpointError: missing or unreadable model, no spec, spec for another backend, or a model whose input is
            not (B, 3, H, W).
        ConfigError: onnxruntime missing.
    """

    name = "onnx"
    torch_native = False

    def __init__(self, path: str | Path, device: torch.device, cpu_threads: int | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            msg = f"ONNX model {self.path} does not exist; export one with `mono-depth export WEIGHTS --format onnx`"
            raise CheckpointError(msg)
        ort = require_onnxruntime()
        options = ort.SessionOptions()
        if cpu_threads is not None:
            options.intra_op_num_threads = int(cpu_threads)
        # Idle ONNX Runtime workers spin by default and starve torch's pre/post-processing threads (measured: the
        # edge-aware upsampling went from 0.5 ms to 40-130 ms); let them sleep between runs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = self._open(ort, options, device)
        self.device = device  # outputs go where the caller works, whichever provider ran the model
        embedded = self.session.get_modelmeta().custom_metadata_map.get(EMBEDDED_SPEC_KEY)
        self.spec: ModelSpec = read_spec(self.path, "onnx", embedded)
        self.golden: GoldenReference | None = read_golden(self.path)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] not in (3, "3"):
            shapes = [(i.name, i.shape) for i in inputs]
            msg = f"ONNX model {self.path} must take one (B, 3, H, W) image input, it takes {shapes}"
            raise CheckpointError(msg)
        self._input_name = str(inputs[0].name)
        self._output_name = str(outputs[0].name)
        self.fixed_input_hw: tuple[int, int] | None = _static_hw(list(inputs[0].shape))

    @property
    def uses_cuda(self) -> bool:
        """Whether the session runs on the CUDA execution provider."""
        return "CUDAExecutionProvider" in self.session.get_providers()

    def _open(self, ort: Any, options: Any, device: torch.device) -> Any:
        providers: list[Any] = ["CPUExecutionProvider"]
        if device.type == "cuda":
            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
            else:
                _LOG.warning(
                    "ONNX Runtime has no CUDA execution provider (install onnxruntime-gpu); %s runs on the CPU",
                    self.path,
                )
        try:
            return ort.InferenceSession(str(self.path), sess_options=options, providers=providers)
        except Exception as err:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) derive from Exception only
            msg = f"ONNX Runtime cannot load {self.path}: {type(err).__name__}: {err}; re-export the model"
            raise CheckpointError(msg) from None

    def infer(self, batch: Tensor) -> Tensor:
        """(B, 3, h, w) float32 normalised RGB -> (B, 1, h, w) float32 prediction on ``self.device``.

        Raises:
            ShapeError: the input size differs from a fixed-size model's, or the output is not (B, 1, h, w).
        """
        if self.fixed_input_hw is not None and tuple(batch.shape[-2:]) != self.fixed_input_hw:
            msg = f"ONNX model {self.path.name} was exported for {self.fixed_input_hw}, got {tuple(batch.shape[-2:])}"
            raise ShapeError(msg)
        host = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        (out,) = self.session.run([self._output_name], {self._input_name: host})
        result = torch.from_numpy(np.asarray(out, dtype=np.float32))
        if result.ndim == 3:
            result = result.unsqueeze(1)
        if result.ndim != 4 or result.shape[1] != 1:
            msg = f"ONNX model {self.path.name} returned {tuple(result.shape)}; expected (B, 1, H, W)"
            raise ShapeError(msg)
        return result.to(self.device)
