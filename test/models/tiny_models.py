"""Tiny models shared by the backend / export / inference tests (random weights, milliseconds per forward)."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from mono_depth_ros.models.backend import TorchBackend
from mono_depth_ros.models.checkpoint import save_checkpoint
from mono_depth_ros.models.depth_anything import DepthAnythingArch
from mono_depth_ros.models.inference import make_golden
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind
from mono_depth_ros.models.unet import make_unet_spec

# Same structure as Small (4 tapped layers, 4-level DPT neck) with tiny widths: builds and runs in milliseconds.
TINY_DA = DepthAnythingArch(
    hidden_size=32,
    num_attention_heads=2,
    num_hidden_layers=4,
    out_indices=(1, 2, 3, 4),
    neck_hidden_sizes=(8, 16, 32, 32),
    fusion_hidden_size=16,
    head_hidden_size=8,
    mlp_ratio=2,
)


def tiny_unet_spec(output_kind: OutputKind = OutputKind.DEPTH_UP_TO_SCALE) -> ModelSpec:
    """A ~20 k parameter unet at a fixed 64x96 input."""
    return make_unet_spec(
        "resnet18",
        "tiny",
        encoder_width=8,
        decoder_channels=[4, 4, 8, 8, 16],
        input_policy=InputPolicy(height=64, width=96),
        output_kind=output_kind,
        min_depth_m=0.5,
        max_depth_m=50.0,
    )


def tiny_unet(seed: int = 0, output_kind: OutputKind = OutputKind.DEPTH_UP_TO_SCALE) -> tuple[nn.Module, ModelSpec]:
    """A tiny unet with random weights and its spec."""
    spec = tiny_unet_spec(output_kind)
    torch.manual_seed(seed)
    return build_model(spec).eval(), spec


def write_unet_checkpoint(path: Path, golden: bool = True) -> Path:
    """A tiny unet checkpoint (with an fp32 golden reference unless told otherwise)."""
    network, spec = tiny_unet()
    reference = None
    if golden:
        made = make_golden(TorchBackend(network, spec, torch.device("cpu")))
        reference = (made.image_rgb, made.output)
    return save_checkpoint(path, network.state_dict(), spec, reference=reference)


class StepDepth(nn.Module):
    """Predicts a vertical step edge: ``near`` metres on the left half, ``far`` on the right (ignores the image)."""

    def __init__(self, near: float = 2.0, far: float = 10.0) -> None:
        super().__init__()
        self.near, self.far = near, far

    def forward(self, x: Tensor) -> Tensor:
        depth = torch.full((x.shape[0], 1, x.shape[2], x.shape[3]), self.far, device=x.device)
        depth[..., : x.shape[3] // 2 + 1] = self.near
        return depth


class WritesOnLoad(torch.nn.Module):
    """A scripted module whose ``__setstate__`` (run by ``torch.jit.load`` itself, before any frame) writes a file,
    here a marker beside the model, through TorchScript's own ops (the subclasses)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.marker = marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1].abs() * self.w + 1.0

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, bool, str]:
        return self.w, self.training, self.marker


class SavesOnLoad(WritesOnLoad):
    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool, str]) -> None:
        self.w, self.training, self.marker = state[0], state[1], state[2]
        torch.save("written by the model", self.marker)  # aten::save


class MapsOnLoad(WritesOnLoad):
    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool, str]) -> None:
        self.w, self.training, self.marker = state[0], state[1], state[2]
        mapped = torch.from_file(self.marker, True, 4, dtype=torch.uint8)  # aten::from_file: creates it, writable
        mapped.fill_(65)
        self.w = self.w + mapped[:1].float() * 0.0


def legacy_onnx(
    module: nn.Module,
    example: Tensor,
    path: Path,
    inputs: list[str],
    outputs: list[str],
    dynamic_axes: dict[str, dict[int, str]] | None = None,
) -> Path:
    """``module`` exported to ``path`` by torch's legacy (tracing) ONNX exporter, its warnings silenced: a graph
    made elsewhere, with the input / output names and free axes given."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), str(path), dynamo=False, input_names=inputs, output_names=outputs,
                          dynamic_axes=dynamic_axes)  # fmt: skip
    return path
