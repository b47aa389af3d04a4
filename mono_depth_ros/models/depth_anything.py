"""Depth Anything V2 (Small / Base / Large, relative and metric) through ``transformers``, from a LOCAL directory.

Weights come from a Hugging Face layout directory (``config.json`` + ``model.safetensors``) that the user fetched
once (``mono-depth weights NAME --out DIR``) or copied in. Loading never touches the network: ``local_files_only``
is always set, and pickle weights (``pytorch_model.bin``) are refused. ``transformers`` is imported inside the
functions only, so the package imports without it.

Output kinds: the relative variants predict inverse depth up to an unknown scale and shift (``relative_inverse``),
the metric variants (``depth_estimation_type: metric``) depth in metres, ``max_depth · sigmoid(·)``
(``max_depth`` 20 m indoor, 80 m outdoor).

Input size: Depth Anything was trained at 518 px on the short side (multiple of the 14 px ViT patch). A KITTI frame
(375×1242) would run at 518×1722, ~3.3× the tokens and ~10× the attention cost of 266×882, for no gain in a robot's
depth: :data:`DA_V2_INPUT` caps the long side at 882 px.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mono_depth_ros.core.errors import CheckpointError, ConfigError, ShapeError
from mono_depth_ros.models.hf_declared_size import check_layer_counts
from mono_depth_ros.models.registry import IMAGENET_MEAN, IMAGENET_STD, register
from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind

ARCHITECTURE = "depth_anything_v2"
PATCH_SIZE = 14
DA_V2_INPUT = InputPolicy(height=518, width=518, keep_aspect=True, multiple_of=PATCH_SIZE, max_long_side=882)
"""Short side 518 px (the training size), long side capped at 882 px (KITTI runs at 266×882)."""

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class DepthAnythingArch:
    """Architecture of a Depth Anything V2 network (DINOv2 ViT backbone + DPT head).

    Attributes:
        hidden_size, num_attention_heads, num_hidden_layers, mlp_ratio: ViT backbone.
        out_indices: backbone layers (1-based) fed to the DPT head.
        neck_hidden_sizes: DPT reassemble widths (the last equals ``hidden_size`` except for Large).
        fusion_hidden_size, head_hidden_size: DPT fusion / head widths.
    """

    hidden_size: int
    num_attention_heads: int
    num_hidden_layers: int
    out_indices: tuple[int, ...]
    neck_hidden_sizes: tuple[int, ...]
    fusion_hidden_size: int
    head_hidden_size: int = 32
    mlp_ratio: int = 4


# The upstream DA-V2 configurations (intermediate layers vits/vitb [2,5,8,11], vitl [4,11,17,23], 0-based).
VARIANTS: dict[str, DepthAnythingArch] = {
    "small": DepthAnythingArch(384, 6, 12, (3, 6, 9, 12), (48, 96, 192, 384), 64),
    "base": DepthAnythingArch(768, 12, 12, (3, 6, 9, 12), (96, 192, 384, 768), 128),
    "large": DepthAnythingArch(1024, 16, 24, (5, 12, 18, 24), (256, 512, 1024, 1024), 256),
}


class DepthAnythingV2(nn.Module):
    """Tensor in, tensor out wrapper around ``transformers.DepthAnythingForDepthEstimation`` (exportable).

    Args:
        hf_model: the transformers model (its weights are this module's, under the ``model.`` prefix).
    """

    def __init__(self, hf_model: nn.Module) -> None:
        super().__init__()
        self.model = hf_model

    def forward(self, x: Tensor) -> Tensor:
        """Predict.

        Args:
            x: (B, 3, H, W) float32 normalised RGB, H and W multiples of 14.

        Returns:
            (B, 1, H, W) float32: relative inverse depth (>= 0) or metric depth in metres, per the config.

        Raises:
            ShapeError: H or W not a multiple of 14.
        """
        if x.shape[-2] % PATCH_SIZE or x.shape[-1] % PATCH_SIZE:
            msg = f"Depth Anything input {tuple(x.shape[-2:])} must be multiples of {PATCH_SIZE}; resize it first"
            raise ShapeError(msg)
        depth: Tensor = self.model(pixel_values=x).predicted_depth
        return depth.unsqueeze(1)


def _transformers() -> Any:
    from mono_depth_ros.models.hf_spec import transformers_module

    return transformers_module()


def hf_config(arch: DepthAnythingArch, kind: str = "relative", max_depth: float | None = None) -> Any:
    """A ``transformers.DepthAnythingConfig`` for an architecture.

    Args:
        arch: backbone + head sizes (e.g. ``VARIANTS["small"]``).
        kind: ``relative`` or ``metric``.
        max_depth: metric head range in metres (required for ``metric``; 20 indoor, 80 outdoor).
    """
    if kind not in ("relative", "metric") or (kind == "metric" and not (max_depth and max_depth > 0)):
        msg = f"Depth Anything kind must be 'relative' or 'metric' (with max_depth > 0), got {kind!r}, {max_depth}"
        raise ConfigError(msg)
    backbone = {
        "model_type": "dinov2",
        "hidden_size": arch.hidden_size,
        "num_attention_heads": arch.num_attention_heads,
        "num_hidden_layers": arch.num_hidden_layers,
        "mlp_ratio": arch.mlp_ratio,
        "image_size": 518,
        "patch_size": PATCH_SIZE,
        "out_indices": list(arch.out_indices),
        "reshape_hidden_states": False,
    }
    # The relative head multiplies by max_depth too (default 1: keep it); transformers types it as int (the
    # published metric configs hold 20 and 80).
    head_range = {"max_depth": _int_if_integral(max_depth)} if kind == "metric" and max_depth else {}
    return _transformers().DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=PATCH_SIZE,
        reassemble_hidden_size=arch.hidden_size,
        neck_hidden_sizes=list(arch.neck_hidden_sizes),
        fusion_hidden_size=arch.fusion_hidden_size,
        head_hidden_size=arch.head_hidden_size,
        depth_estimation_type=kind,
        **head_range,
    )


def _int_if_integral(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def depth_anything_spec(arch: DepthAnythingArch, kind: str = "relative", max_depth: float | None = None) -> ModelSpec:
    """The :class:`ModelSpec` of a Depth Anything V2 network (params hold the architecture, kind and range)."""
    params: dict[str, Any] = {**asdict(arch), "kind": kind, "max_depth": max_depth}
    params["out_indices"] = list(arch.out_indices)
    params["neck_hidden_sizes"] = list(arch.neck_hidden_sizes)
    metric = kind == "metric"
    return ModelSpec(
        architecture=ARCHITECTURE,
        params=params,
        input=DA_V2_INPUT,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        output_kind=OutputKind.METRIC if metric else OutputKind.RELATIVE_INVERSE,
        min_depth_m=0.1 if not metric or max_depth is None else min(0.1, float(max_depth) / 10),
        max_depth_m=float(max_depth) if metric and max_depth else 100.0,
    )


def arch_from_params(params: dict[str, Any]) -> tuple[DepthAnythingArch, str, float | None]:
    """Inverse of :func:`depth_anything_spec`'s params: (architecture, kind, max_depth)."""
    try:
        arch = DepthAnythingArch(
            hidden_size=int(params["hidden_size"]),
            num_attention_heads=int(params["num_attention_heads"]),
            num_hidden_layers=int(params["num_hidden_layers"]),
            out_indices=tuple(int(i) for i in params["out_indices"]),
            neck_hidden_sizes=tuple(int(i) for i in params["neck_hidden_sizes"]),
            fusion_hidden_size=int(params["fusion_hidden_size"]),
            head_hidden_size=int(params.get("head_hidden_size", 32)),
            mlp_ratio=int(params.get("mlp_ratio", 4)),
        )
    except (KeyError, TypeError, ValueError) as err:
        msg = f"depth_anything_v2 spec params are incomplete or malformed ({err!r}): {params}"
        raise ConfigError(msg) from None
    max_depth = params.get("max_depth")
    return arch, str(params.get("kind", "relative")), None if max_depth is None else float(max_depth)


def build_depth_anything(spec: ModelSpec) -> DepthAnythingV2:
    """Registry builder: the network a spec describes, with random weights (load a checkpoint afterwards).

    Raises:
        ConfigError: incomplete params. CheckpointError: thousands of layers (a spec read from a file).
    """
    check_layer_counts(spec.params, "a depth_anything_v2 spec")
    arch, kind, max_depth = arch_from_params(spec.params)
    model_class = _transformers().DepthAnythingForDepthEstimation
    return DepthAnythingV2(model_class(hf_config(arch, kind, max_depth)))


def _arch_from_hf(config: dict[str, Any], path: Path) -> tuple[DepthAnythingArch, str, float | None]:
    backbone = config.get("backbone_config") or {}
    try:
        arch = DepthAnythingArch(
            hidden_size=int(backbone.get("hidden_size", 384)),
            num_attention_heads=int(backbone.get("num_attention_heads", 6)),
            num_hidden_layers=int(backbone.get("num_hidden_layers", 12)),
            out_indices=tuple(int(i) for i in backbone.get("out_indices", (9, 10, 11, 12))),
            neck_hidden_sizes=tuple(int(i) for i in config.get("neck_hidden_sizes", (48, 96, 192, 384))),
            fusion_hidden_size=int(config.get("fusion_hidden_size", 64)),
            head_hidden_size=int(config.get("head_hidden_size", 32)),
            mlp_ratio=int(backbone.get("mlp_ratio", 4)),
        )
    except (TypeError, ValueError) as err:
        msg = f"{path} has malformed Depth Anything sizes ({err}); re-download the weights"
        raise CheckpointError(msg) from None
    kind = str(config.get("depth_estimation_type", "relative"))
    max_depth = config.get("max_depth")
    return arch, kind, None if max_depth is None else float(max_depth)


def check_hf_directory(directory: Path) -> dict[str, Any]:
    """Check a Hugging Face layout directory of Depth Anything weights and return its parsed config.json.

    Raises:
        CheckpointError: see :func:`~.hf_model.check_model_directory`, or a depth model of another type.
    """
    from mono_depth_ros.models.hf_model import check_model_directory

    config = check_model_directory(directory)
    if config.get("model_type") != "depth_anything":
        msg = f"{directory / 'config.json'} is for model_type {config.get('model_type')!r}, not 'depth_anything'"
        raise CheckpointError(msg)
    return config


def load_depth_anything(directory: str | Path, device: str | torch.device = "cpu") -> tuple[DepthAnythingV2, ModelSpec]:
    """Load Depth Anything V2 from a local Hugging Face layout directory (never from the network).

    Args:
        directory: folder with ``config.json`` and ``model.safetensors``.
        device: where to put the weights.

    Returns:
        The model in eval mode and its :class:`ModelSpec` (output kind from ``depth_estimation_type``).

    Raises:
        CheckpointError: missing directory / files, another model type, pickle-only weights, or tensors that do
            not fit the config (the first one is named).
        ConfigError: transformers is not installed.
    """
    path = Path(directory)
    config = check_hf_directory(path)
    arch, kind, max_depth = _arch_from_hf(config, path)
    if kind not in ("relative", "metric"):
        msg = f"{path}/config.json has depth_estimation_type {kind!r}; expected 'relative' or 'metric'"
        raise CheckpointError(msg)
    from mono_depth_ros.models.hf_model import load_hf_weights

    hf_model = load_hf_weights(path, "Depth Anything")
    model = DepthAnythingV2(hf_model).to(device).eval()
    spec = depth_anything_spec(arch, kind, max_depth if kind == "metric" else None)
    _LOG.info("loaded Depth Anything V2 (%s, hidden %d) from %s", kind, arch.hidden_size, path)
    return model, spec


def save_depth_anything(model: DepthAnythingV2, directory: str | Path) -> Path:
    """Write a Depth Anything V2 model as a Hugging Face layout directory (config.json + model.safetensors)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    hf_model: Any = model.model
    hf_model.save_pretrained(str(path), safe_serialization=True)
    return path


register(
    ARCHITECTURE,
    build_depth_anything,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    output_kind=OutputKind.RELATIVE_INVERSE,
    description="Depth Anything V2 (DINOv2 ViT + DPT) via transformers; weights from a local HF directory",
)
