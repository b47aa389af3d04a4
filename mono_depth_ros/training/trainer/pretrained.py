"""Fine-tuning a foundation depth model (``model.pretrained``: a local Hugging Face directory) with the trainer.

The trainer needs little from a pretrained family, gathered in :class:`PretrainedModel`: a torch module that maps
normalised images to depth, its :class:`ModelSpec` (preprocessing, output kind, depth range), which parameters are
the encoder (for ``optim.encoder_lr_scale`` and ``model.freeze_encoder``) and how to write the fine-tuned weights
back as a directory the inference side loads. A family is one entry of :data:`FAMILIES`, keyed by the
``model_type`` of its ``config.json``: Depth Anything V1 / V2, and GLPN (a metric family that takes the image
alone), loaded exactly as the node loads it (:mod:`mono_depth_ros.models.hf_model`). ZoeDepth would open the same
way, but a tiny random-weight ZoeDepth's bin head gives no gradient to learn from, so it is not offered untested.

Plain fine-tuning (no LoRA): every parameter trains unless the encoder is frozen. The objectives train depth, not
relative inverse depth: metres for a metric objective (``supervised`` on LiDAR / annotated depth, ``lidar_semi``),
depth up to scale for ``selfsup`` and for ``supervised`` with a fully scale-invariant SILog (``loss.silog_lambda`` 1:
one loss for a prediction and any multiple of it, so the spec says ``depth_up_to_scale`` and the node recovers the
scale). Either way a relative Depth Anything head is turned into the metric head of the DA-V2 metric models
(``max_depth · sigmoid(·)``, same tensors: the relative head's weights load unchanged), with
``max_depth = model.max_depth_m``; a metric directory keeps its own ``max_depth``.

:class:`PretrainedDepthNet` adapts the module to the objectives, which read a :class:`UNetOutput`: the depth and one
"disparity" scale ``(1/d - 1/max) / (1/min - 1/max)``, which :func:`~mono_depth_ros.models.unet.disp_to_depth`
maps back to the same depth.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from torch import Tensor, nn

from mono_depth_ros.core.errors import CheckpointError, ConfigError
from mono_depth_ros.models.hf_preprocessing import write_fixed_size_processor
from mono_depth_ros.models.hub_id import broken_link, hub_id_hint
from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind
from mono_depth_ros.models.unet import UNetOutput

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class PretrainedModel:
    """What the trainer needs from a pretrained family.

    Attributes:
        network: (B, 3, H, W) normalised RGB -> (B, 1, H, W) depth (metres for a metric output kind); its
            ``state_dict`` is what ``build_model(spec)`` accepts (the project checkpoint).
        spec: the fine-tuned model's spec (input policy = the training size, output kind of the objective).
        is_encoder: parameter name of ``network`` -> whether it belongs to the image encoder (backbone).
        save_directory: writes ``network`` as a directory the family's loader reads (``save_pretrained``).
    """

    network: nn.Module
    spec: ModelSpec
    is_encoder: Callable[[str], bool]
    save_directory: Callable[[nn.Module, Path], Path]


def _open_depth_anything(
    directory: Path, config: dict[str, Any], output_kind: OutputKind, max_depth_m: float, input_hw: tuple[int, int]
) -> PretrainedModel:
    from mono_depth_ros.models import depth_anything as da

    transformers = da._transformers()
    arch, kind, max_depth = da._arch_from_hf(config, directory)
    height, width = input_hw
    if height % da.PATCH_SIZE or width % da.PATCH_SIZE:
        msg = (
            f"model.input_height/input_width {height}x{width} must be multiples of {da.PATCH_SIZE} (the ViT patch) "
            f"to fine-tune Depth Anything, e.g. 266x882 for KITTI"
        )
        raise ConfigError(msg)
    head_range = max_depth if kind == "metric" and max_depth else max_depth_m
    hf_config = transformers.AutoConfig.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
    hf_config.depth_estimation_type = "metric"
    hf_config.max_depth = da._int_if_integral(head_range)
    import torch

    from mono_depth_ros.models.hf_declared_size import check_declared_size
    from mono_depth_ros.models.hf_model import dtype_argument

    try:  # float32 whatever config.json's dtype says: fp16 weights would swallow the optimiser's small steps
        check_declared_size(directory, transformers.DepthAnythingForDepthEstimation, hf_config)
        hf_model = transformers.DepthAnythingForDepthEstimation.from_pretrained(
            str(directory),
            config=hf_config,
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True,
            **{dtype_argument(transformers): torch.float32},
        )
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as err:
        msg = f"cannot load Depth Anything weights from {directory} for fine-tuning: {str(err).strip()[:200]}"
        raise CheckpointError(msg) from None
    base = da.depth_anything_spec(arch, "metric", float(head_range))
    spec = replace(
        base, input=InputPolicy(height=height, width=width, multiple_of=da.PATCH_SIZE), output_kind=output_kind
    )
    _LOG.info("fine-tuning Depth Anything V2 (%s head -> metric, max %g m) from %s", kind, head_range, directory)

    def save(network: nn.Module, out: Path) -> Path:
        if not isinstance(network, da.DepthAnythingV2):
            msg = f"expected a DepthAnythingV2 network, got {type(network).__name__}"
            raise CheckpointError(msg)
        saved = da.save_depth_anything(network, out)
        # the node feeds the directory as this file says: training's fixed size and bilinear resize, not the
        # published 518 keep-aspect bicubic (KITTI at 266x882) the family defaults to
        write_fixed_size_processor(saved, spec.input, spec.mean, spec.std)
        return saved

    return PretrainedModel(da.DepthAnythingV2(hf_model), spec, lambda name: name.startswith("model.backbone."), save)


ENCODER_PREFIXES = ("model.backbone.", "model.glpn.encoder.")
"""Parameter name prefixes of the image encoder in a transformers family (DINOv2 / BEiT backbones, GLPN's MiT)."""


def _open_metric_transformers(
    directory: Path, config: dict[str, Any], output_kind: OutputKind, max_depth_m: float, input_hw: tuple[int, int]
) -> PretrainedModel:
    """A metric transformers family that takes the image alone (GLPN), loaded as the node loads it."""
    from mono_depth_ros.models.hf_model import family_of, load_hf_weights
    from mono_depth_ros.models.hf_network import HfDepthNetwork
    from mono_depth_ros.models.hf_spec import transformers_spec

    family = family_of(str(config["model_type"]))
    spec = transformers_spec(config, family, directory)
    multiple = spec.input.multiple_of
    if input_hw[0] % multiple or input_hw[1] % multiple:
        size = f"{input_hw[0]}x{input_hw[1]}"
        msg = f"model.input_height/input_width {size} must be multiples of {multiple} for {family.title}"
        raise ConfigError(msg)
    network = HfDepthNetwork(load_hf_weights(directory, family.title), family.model_type)
    policy = InputPolicy(height=input_hw[0], width=input_hw[1], multiple_of=multiple)
    spec = replace(spec, input=policy, output_kind=output_kind)
    _LOG.info("fine-tuning %s (metric, max %g m) from %s", family.title, spec.max_depth_m, directory)

    def save(trained: nn.Module, out: Path) -> Path:
        if not isinstance(trained, HfDepthNetwork):
            msg = f"expected a transformers depth network, got {type(trained).__name__}"
            raise CheckpointError(msg)
        out.mkdir(parents=True, exist_ok=True)
        trained.model.save_pretrained(str(out), safe_serialization=True)  # type: ignore[operator]
        # the input training fed it (fixed size, bilinear), not the original processor's (GLPN's: no resize, sides
        # floored to 32, KITTI at 352x1216)
        write_fixed_size_processor(out, spec.input, spec.mean, spec.std)
        return out

    return PretrainedModel(network, spec, lambda name: name.startswith(ENCODER_PREFIXES), save)


Opener = Callable[[Path, dict[str, Any], OutputKind, float, tuple[int, int]], PretrainedModel]
FAMILIES: dict[str, Opener] = {
    "depth_anything": _open_depth_anything,
    "glpn": _open_metric_transformers,
}
"""``config.json`` ``model_type`` -> opener ``(directory, config, output_kind, max_depth_m, (H, W))``."""


def open_pretrained(
    directory: str | Path, output_kind: OutputKind, max_depth_m: float, input_hw: tuple[int, int]
) -> PretrainedModel:
    """Open a local Hugging Face directory for fine-tuning (never the network).

    Args:
        directory: ``config.json`` + ``model.safetensors`` of a supported family (:data:`FAMILIES`).
        output_kind: what the objective makes of the output (``metric`` or ``depth_up_to_scale``).
        max_depth_m: the metric head's range for a relative model.
        input_hw: the training input size (height, width).

    Raises:
        CheckpointError: missing directory / files, or weights that do not load. ConfigError: an unsupported
            family, a relative-inverse objective, an input size the family cannot take, or an architecture the
            project checkpoint cannot rebuild (the trained model could not be saved).
    """
    path = Path(directory).expanduser()  # "~" in a YAML or --set is no shell's to expand
    config_path = path / "config.json"
    try:
        config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        msg = f"model.pretrained={path}: cannot read {config_path} ({err}); give a local Hugging Face directory"
        msg += hub_id_hint(directory)
        broken = broken_link(config_path)  # a cache snapshot copied with its links, without the blobs
        raise CheckpointError(f"model.pretrained={path}: {broken}" if broken else msg) from None
    family = str(config.get("model_type", ""))
    if family not in FAMILIES:
        msg = f"model.pretrained={path} is a {family!r} model; fine-tuning supports {sorted(FAMILIES)}"
        raise ConfigError(msg)
    if output_kind is OutputKind.RELATIVE_INVERSE:
        msg = "fine-tuning trains depth (metric or up to scale), not relative inverse depth"
        raise ConfigError(msg)
    if family == "depth_anything":
        from mono_depth_ros.models.depth_anything import check_hf_directory

        check_hf_directory(path)
    else:
        from mono_depth_ros.models.hf_model import check_model_directory

        check_model_directory(path)
    model = FAMILIES[family](path, config, output_kind, max_depth_m, input_hw)
    _check_rebuildable(model, path)
    return model


def _check_rebuildable(model: PretrainedModel, directory: Path) -> None:
    """The trained weights are saved as a project checkpoint that ``build_model(spec)`` reloads: refuse, before any
    training, a directory whose architecture the spec does not carry (e.g. a DINOv2 backbone whose ``image_size``
    is not 518), which would otherwise fail only when the fine-tuned model is written."""
    import torch

    from mono_depth_ros.models.registry import build_model

    with torch.device("meta"):  # shapes only: no memory, no initialisation
        rebuilt = build_model(model.spec)
    here = {name: tuple(t.shape) for name, t in model.network.state_dict().items()}
    there = {name: tuple(t.shape) for name, t in rebuilt.state_dict().items()}
    differing = sorted(name for name in here.keys() | there.keys() if here.get(name) != there.get(name))
    if differing:
        first = differing[0]
        msg = (
            f"model.pretrained={directory}: its architecture does not fit the project checkpoint the fine-tuned "
            f"model is saved as ({len(differing)} tensor(s) differ, e.g. {first}: {here.get(first)} here, "
            f"{there.get(first)} in the checkpoint); use a published model's directory (DINOv2 image_size 518)"
        )
        raise ConfigError(msg)


def encoder_parameter_groups(
    model: PretrainedModel, lr: float, encoder_lr_scale: float, freeze_encoder: bool
) -> list[dict[str, Any]]:
    """AdamW parameter groups: the encoder at ``lr · encoder_lr_scale`` (or frozen: ``requires_grad`` off and left
    out of the optimiser), the rest (neck, head) at ``lr``."""
    encoder, head = [], []
    for name, parameter in model.network.named_parameters():
        if model.is_encoder(name):
            parameter.requires_grad_(not freeze_encoder)
            if not freeze_encoder:
                encoder.append(parameter)
        else:
            head.append(parameter)
    groups: list[dict[str, Any]] = [{"params": head, "lr": lr, "name": "head"}]
    if encoder:
        groups.append({"params": encoder, "lr": lr * encoder_lr_scale, "name": "encoder"})
    return groups


class PretrainedDepthNet(nn.Module):
    """A pretrained network as the objectives' depth network (see the module docstring).

    Args:
        network: the :attr:`PretrainedModel.network`.
        min_depth_m, max_depth_m: the spec's depth range (the disparity normalisation).
    """

    def __init__(self, network: nn.Module, min_depth_m: float, max_depth_m: float) -> None:
        super().__init__()
        self.network = network
        self.min_depth_m, self.max_depth_m = min_depth_m, max_depth_m

    def forward(self, x: Tensor) -> UNetOutput:
        """(B, 3, H, W) normalised RGB -> depth (B, 1, H, W), clamped to ``min_depth_m``, and one disparity scale."""
        depth = self.network(x).clamp(min=self.min_depth_m)
        low, high = 1.0 / self.max_depth_m, 1.0 / self.min_depth_m
        return UNetOutput(depth, ((1.0 / depth - low) / (high - low),))


def record_trained_kind(directory: Path, kind: OutputKind) -> None:
    """Record in a saved directory's ``config.json`` that it was fine-tuned to depth up to scale
    (:data:`~mono_depth_ros.models.hf_families.TRAINED_KIND_KEY`): its head is the metric one, so the node read it as
    metres (a ``loss.silog_lambda`` 1 run's depth of arbitrary scale published as metres). Other kinds: the key is
    removed where the saved config carries it (transformers keeps it as a config attribute, so a metric fine-tune
    of an up-to-scale directory wrote it again and its metres loaded up to scale).

    Raises:
        CheckpointError: its config.json cannot be read or written.
    """
    from mono_depth_ros.models.hf_families import TRAINED_KIND_KEY

    config_path = directory / "config.json"
    partial = config_path.with_name(config_path.name + ".tmp")  # Ctrl-C or a full disk mid-write: the config stays
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if kind is OutputKind.DEPTH_UP_TO_SCALE:
            config[TRAINED_KIND_KEY] = kind.value
        elif config.pop(TRAINED_KIND_KEY, None) is None:
            return
        partial.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        partial.replace(config_path)
    except (OSError, ValueError) as err:
        msg = f"cannot record the output kind in {config_path} ({err}); the directory would not load as {kind.value}"
        raise CheckpointError(msg) from None
    finally:
        partial.unlink(missing_ok=True)
