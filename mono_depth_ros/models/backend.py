"""One small Protocol for model runtimes (torch, ONNX Runtime, TorchScript), the torch one, and device choice.

A backend turns a normalised image batch into the network's raw prediction; everything around it (resizing,
normalisation, precision, CUDA graphs, upsampling, the golden self-test) lives in
:class:`~mono_depth_ros.models.inference.DepthEstimator`, so every runtime gets the same treatment.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from mono_depth_ros.core.errors import CheckpointError, ConfigError, ShapeError
from mono_depth_ros.models.checkpoint import GoldenReference, check_state_fits, load_checkpoint, load_state_strict
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.spec import ModelSpec

if TYPE_CHECKING:
    from mono_depth_ros.models.onnx_model import ProviderChoice

BACKENDS = ("torch", "unet", "transformers", "depth_anything_v2", "onnx", "torchscript")
"""``model.backend`` values that load weights (``external`` has no model)."""

_LOG = logging.getLogger(__name__)


@runtime_checkable
class DepthBackend(Protocol):
    """A loaded model: normalised image batch in, raw prediction out, both on ``device``.

    Attributes:
        name: ``torch`` | ``onnx`` | ``torchscript`` (for logs and diagnostics).
        spec: the model spec (preprocessing and output kind).
        device: where inputs are expected and outputs returned.
        fixed_input_hw: (height, width) the model only accepts, or None when any valid size works.
        torch_native: whether it runs torch kernels on ``device`` (then autocast fp16 / bf16 and CUDA-graph capture
            apply; ONNX Runtime runs its own kernels).
    """

    name: str
    spec: ModelSpec
    device: torch.device
    fixed_input_hw: tuple[int, int] | None
    torch_native: bool

    def infer(self, batch: Tensor) -> Tensor:
        """(B, 3, h, w) float32 normalised RGB -> (B, 1, h', w') float prediction (kind: ``spec.output_kind``); it may
        be a buffer the backend reuses (ONNX I/O binding), valid until the next call."""
        ...


def prediction_tensor(output: object) -> Tensor:
    """The (B, 1, H, W) prediction inside whatever a depth network returns.

    Accepts a tensor ((B, 1, H, W) or (B, H, W)), an object with ``depth`` (the project's UNet output) or with
    ``predicted_depth`` (transformers' ``DepthEstimatorOutput``).

    Raises:
        ShapeError: nothing usable found, or a tensor of another rank.
    """
    tensor = output
    for attribute in ("depth", "predicted_depth"):
        if not isinstance(tensor, Tensor) and hasattr(output, attribute):
            tensor = getattr(output, attribute)
    if not isinstance(tensor, Tensor):
        msg = f"model returned {type(output).__name__}; expected a tensor or an object with .depth"
        raise ShapeError(msg)
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(1)
    if tensor.ndim != 4 or tensor.shape[1] != 1:
        msg = f"model prediction has shape {tuple(tensor.shape)}; expected (B, 1, H, W) or (B, H, W)"
        raise ShapeError(msg)
    return tensor


class TensorOutput(nn.Module):
    """Wraps a network so that ``forward`` returns the bare (B, 1, H, W) prediction (for export and CUDA graphs)."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) normalised RGB -> (B, 1, H, W) prediction."""
        return prediction_tensor(self.network(x))


def resolve_device(device: str) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> a torch device.

    ``auto`` picks CUDA when available and otherwise falls back to the CPU with a warning (a robot that silently
    runs a ViT on its CPU is hard to debug). An explicit ``cuda`` without CUDA is an error.

    Raises:
        ConfigError: unknown device string, or CUDA requested but not available.
    """
    name = device.strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        _LOG.warning("device 'auto': CUDA is not available, running on the CPU (expect much higher latency)")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            msg = f"device {device!r} requested but CUDA is not available (no GPU or a CPU-only torch); use cpu or auto"
            raise ConfigError(msg)
        resolved = torch.device(name)
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            msg = f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) present"
            raise ConfigError(msg)
        return resolved
    msg = f"unknown device {device!r}; expected auto, cpu, cuda or cuda:N"
    raise ConfigError(msg)


class TorchBackend:
    """An ``nn.Module`` in eval mode on a device.

    The backend takes ownership of ``network``: it is moved to ``device``, put in eval mode and its parameters stop
    requiring gradients (pass a copy to keep training the original).

    Args:
        network: any depth network (its output goes through :func:`prediction_tensor`).
        spec: its spec.
        device: where it runs.
    """

    torch_native = True
    fixed_input_hw: tuple[int, int] | None = None

    def __init__(self, network: nn.Module, spec: ModelSpec, device: torch.device, name: str = "torch") -> None:
        self.name = name
        self.spec = spec
        self.device = device
        self.module: nn.Module = TensorOutput(network).to(device).eval().requires_grad_(False)
        self._compiled: nn.Module | None = None

    def use_channels_last(self) -> None:
        """Convert the weights to channels-last memory format (faster convolutions on tensor cores)."""
        self.module = self.module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def compile(self, mode: str | None = None) -> None:
        """Wrap the module in ``torch.compile`` (compiled lazily, on the first call for each input shape)."""
        self._compiled = torch.compile(self.module, mode=mode, dynamic=False)  # type: ignore[assignment]

    def infer(self, batch: Tensor) -> Tensor:
        """(B, 3, h, w) float32 normalised RGB -> (B, 1, h, w) prediction."""
        module = self._compiled if self._compiled is not None else self.module
        with torch.no_grad():
            out: Tensor = module(batch)
        return out


def build_fitting(spec: ModelSpec, state_dict: dict[str, Tensor]) -> nn.Module:
    """The network ``spec`` describes, with ``state_dict`` loaded, once its tensors are known to fit it.

    The spec inside a checkpoint decides the network's size: a file of a few hundred bytes may declare a network
    of any width. It is first built on the meta device (no memory) and the tensors are compared with it there, so
    a checkpoint that does not fit is refused before its declared size is allocated; what is then built is exactly
    as large as the tensors the file holds.

    Raises:
        CheckpointError: the first tensor that does not fit (:func:`~.checkpoint.check_state_fits`).
        ConfigError: unknown architecture or bad ``spec.params``.
    """
    with torch.device("meta"):
        skeleton = build_model(spec)
    check_state_fits(skeleton, state_dict, spec)
    network = build_model(spec)
    load_state_strict(network, state_dict, spec)
    return network


def open_backend(
    backend: str,
    weights: str | Path,
    device: torch.device,
    cpu_threads: int | None = None,
    output_kind: str = "",
    onnx_providers: ProviderChoice | tuple[str, ...] = (),
) -> tuple[DepthBackend, GoldenReference | None]:
    """Load weights for ``model.backend``.

    Args:
        backend: ``torch`` / ``unet`` (a project safetensors checkpoint, any registered architecture),
            ``transformers`` (any local ``AutoModelForDepthEstimation`` directory; ``depth_anything_v2`` is its alias;
            both also read a project checkpoint of their architecture, e.g. written by fine-tuning), ``onnx`` or
            ``torchscript`` (exported model with its spec beside it).
        weights: file or directory.
        device: resolved device (see :func:`resolve_device`).
        cpu_threads: intra-op threads for ONNX Runtime (torch threads are set by the caller).
        output_kind: ``model.output_kind``: what a transformers model predicts when its family does not say.
        onnx_providers: ONNX Runtime execution providers in order of preference (empty: from the device).

    Returns:
        The backend and the golden reference stored with the weights (None when there is none).

    Raises:
        ConfigError: unknown backend, or a project checkpoint whose spec names an unknown architecture or parameter
            (the message names the file). CheckpointError: unusable weights (see each loader; a project checkpoint
            whose tensors do not fit its own spec names the file).
    """
    path = Path(weights)
    if backend == "onnx":
        from mono_depth_ros.models.onnx_model import OnnxBackend

        onnx_backend = OnnxBackend(path, device, cpu_threads=cpu_threads, providers=onnx_providers)
        return onnx_backend, onnx_backend.golden
    if backend == "torchscript":
        from mono_depth_ros.models.torchscript_model import TorchScriptBackend

        script_backend = TorchScriptBackend(path, device)
        return script_backend, script_backend.golden
    # a directory: the Hugging Face layout; a file: the project checkpoint of that architecture (e.g. fine-tuned)
    if (backend == "transformers" and not path.is_file()) or (backend == "depth_anything_v2" and path.is_dir()):
        from mono_depth_ros.models.hf_model import load_transformers_model

        hf_backend, _ = load_transformers_model(path, device, output_kind)
        return hf_backend, None
    if backend in ("torch", "unet", "depth_anything_v2", "transformers"):
        try:
            checkpoint = load_checkpoint(path, device="cpu")
        except CheckpointError as err:
            if backend != "transformers":
                raise
            msg = (
                f"model.weights={path} for model.backend=transformers is neither a Hugging Face directory (with "
                f"config.json) nor a checkpoint written by mono-depth train: {err}"
            )
            raise CheckpointError(msg) from None
        if backend != "torch" and checkpoint.spec.architecture != backend:
            msg = (
                f"model.backend is {backend!r} but {path} holds a {checkpoint.spec.architecture!r} checkpoint; "
                f"set model.backend: {checkpoint.spec.architecture}"
            )
            raise CheckpointError(msg)
        try:
            network = build_fitting(checkpoint.spec, checkpoint.state_dict)
        except (ConfigError, CheckpointError) as err:  # the spec or tensors in the file: name the file
            raise type(err)(f"checkpoint {path}: {err}") from None
        return TorchBackend(network, checkpoint.spec, device), checkpoint.golden
    msg = f"unknown model.backend {backend!r}; expected one of {', '.join(BACKENDS)} (or external, without a model)"
    raise ConfigError(msg)
