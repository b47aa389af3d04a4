"""Any transformers depth model (``AutoModelForDepthEstimation``) from a LOCAL directory, run the project's way.

``model.backend: transformers`` (alias ``depth_anything_v2``) with ``model.weights: DIR``: ``config.json`` +
safetensors (``model.safetensors`` or a sharded index; pickle files are refused), optionally
``preprocessor_config.json`` or ``processor_config.json`` (:mod:`.hf_preprocessing`). Loading never goes online
(``local_files_only``), never runs code the folder brings (``trust_remote_code=False``: an ``auto_map`` in
config.json is ignored with a warning), and ``transformers`` is imported only when such a model is loaded
(:func:`~.hf_spec.transformers_module`).

This module checks the folder, loads its weights and builds the registry's ``transformers`` architecture; the
spec it runs with is :func:`~.hf_spec.transformers_spec`'s, the network (each family's forward pass in the
project's tensor contract) :class:`~.hf_network.HfDepthNetwork`.
"""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import CheckpointError, ConfigError, first_line
from mono_depth_ros.models.hf_declared_size import check_declared_size, check_layer_counts
from mono_depth_ros.models.hf_families import FAMILIES, NOT_DEPTH, Family, other_family
from mono_depth_ros.models.hf_folder_checks import (
    FETCH_AGAIN,
    check_shard_index,
    config_object,
    hub_kernel,
    other_task,
    remote_backbone,
)
from mono_depth_ros.models.hf_network import HfBackend, HfDepthNetwork
from mono_depth_ros.models.hf_spec import ARCHITECTURE, transformers_module, transformers_spec
from mono_depth_ros.models.hub_id import broken_link, hub_cache_hint
from mono_depth_ros.models.registry import register
from mono_depth_ros.models.spec import ModelSpec

REMEDY = FETCH_AGAIN
_LOG = logging.getLogger(__name__)


def depth_model_types() -> tuple[str, ...]:
    """Every ``model_type`` the installed transformers maps to ``AutoModelForDepthEstimation``."""
    return tuple(depth_model_classes())


def depth_model_classes() -> dict[str, str]:
    """``model_type`` → the class ``AutoModelForDepthEstimation`` builds for it, in the installed transformers."""
    transformers_module()
    from transformers.models.auto.modeling_auto import MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES

    return dict(MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES)


def check_model_directory(directory: Path) -> dict[str, Any]:
    """Check a local transformers depth-model directory and return its parsed ``config.json``
    (:func:`checked_model_config`, its transformers config object left out).

    Raises:
        CheckpointError: missing directory / config.json (a Hugging Face cache folder: naming its snapshot,
            :func:`~.hub_id.hub_cache_hint`; a link to nothing, :func:`~.hub_id.broken_link`) / safetensors
            (pickle-only weights are refused), unreadable
            JSON, or a ``model_type`` that is not a depth model of the installed transformers (the message lists them)
            or whose output is not depth (:data:`~.hf_families.NOT_DEPTH`, CHMv2's canopy height),
            or a folder of that type for another task (:func:`~.hf_folder_checks.other_task`);
            a shard index naming files outside the folder (:func:`check_shard_index`); a config that would build
            thousands of layers (:func:`~.hf_declared_size.check_layer_counts`), load a Hub attention kernel
            (:func:`hub_kernel`) or look a backbone up on the Hub (:func:`remote_backbone`).
    """
    return checked_model_config(directory)[0]


def checked_model_config(directory: Path) -> tuple[dict[str, Any], Any]:
    """:func:`check_model_directory`'s checks; its parsed ``config.json`` and the transformers config object built
    from it (once per load: :func:`~.hf_spec.transformers_spec` reads the patch and the depth range from it).

    Raises:
        CheckpointError: see :func:`check_model_directory`.
    """
    if not directory.exists():
        msg = f"model directory {directory} does not exist; {REMEDY}"
        raise CheckpointError(msg)
    if not directory.is_dir():
        msg = f"{directory} is a file; model.weights for model.backend=transformers is the directory with config.json"
        raise CheckpointError(msg)
    config_path = directory / "config.json"
    if not config_path.is_file():
        msg = (
            broken_link(config_path)
            or hub_cache_hint(directory)
            or f"{directory} has no config.json (Hugging Face layout expected); {REMEDY}"
        )
        raise CheckpointError(msg)
    try:
        config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        msg = f"{config_path} is not readable JSON ({str(err)[:200]}); re-download the weights"
        raise CheckpointError(msg) from None
    model_type = config.get("model_type")
    classes = depth_model_classes()
    depth_types = ", ".join(t for t in classes if t not in NOT_DEPTH)  # offered instead: no canopy height
    if model_type not in classes and config.get("auto_map"):
        msg = (
            f"{config_path} is a model_type {model_type!r} model that runs only on its own code (auto_map: "
            f"{_own_code(config['auto_map'])}), Python files in the folder: the node never runs a model folder's "
            f"code (trust_remote_code stays off); export it to ONNX where that code may run and load it with "
            f"model.backend: onnx, or fetch a transformers depth model (depth models: {depth_types})"
        )
        raise CheckpointError(msg)
    if model_type not in classes:
        msg = (
            f"{config_path} is for model_type {model_type!r}, which is not a depth model of transformers "
            f"{transformers_module().__version__} (depth models: {depth_types})"
        )
        raise CheckpointError(msg)
    if model_type in NOT_DEPTH:
        msg = (
            f"{config_path} is a model_type {model_type!r} model: {NOT_DEPTH[model_type]}; the node publishes "
            f"distance from the camera and does not run it, whatever model.output_kind says (depth models: "
            f"{depth_types})"
        )
        raise CheckpointError(msg)
    task = other_task(config, classes.values(), transformers_module())
    if task is not None:
        msg = (
            f"{config_path} is a {task} (its architectures): a model_type {model_type!r} model for another task, "
            f"not a depth model (transformers would give it a random depth head); a {model_type} depth checkpoint "
            f"is a {classes[model_type]} (depth models: {depth_types})"
        )
        family = FAMILIES.get(str(model_type))
        if family is not None and family.example:
            msg += (
                f"; fetch a {family.title} depth checkpoint instead, e.g. `mono-depth weights fetch "
                f"{family.example} --to DIR`"
            )
        raise CheckpointError(msg)
    check_layer_counts(config, str(config_path))
    kernel = hub_kernel(config)
    if kernel is not None:
        msg = (
            f"{config_path} asks for the attention kernel {kernel!r} from the Hub: transformers would download it "
            f"and load its native code (online, whatever local_files_only says); delete the attn_implementation "
            f"entries from config.json (transformers then picks its own attention), or fetch the model again"
        )
        raise CheckpointError(msg)
    backbone = remote_backbone(config)
    if backbone is not None:
        msg = (
            f"{config_path} names the backbone {backbone!r} without its backbone_config: transformers would look "
            f"it up on the Hub and build it from there (online, whatever local_files_only says); a published model "
            f"carries its backbone_config, {REMEDY}"
        )
        raise CheckpointError(msg)
    hf_config = config_object(config, transformers_module(), str(config_path))  # offline: after the Hub check
    _check_weights(directory)  # after the config: the pickle remedy runs transformers on it
    auto_map = config.get("auto_map")
    if auto_map:  # Hub "remote code": loading passes trust_remote_code=False and uses transformers' own class
        entry = auto_map.get("AutoModelForDepthEstimation", auto_map) if isinstance(auto_map, dict) else auto_map
        _LOG.warning(
            "%s: its custom code (auto_map: %s) is never run; the model loads as transformers' own %s",
            config_path,
            entry,
            model_type,
        )
    return config, hf_config


def _own_code(auto_map: Any) -> str:
    """The class a config.json's ``auto_map`` names for the model (its depth class, else its model class, else its
    first entry), for messages."""
    if not isinstance(auto_map, dict):
        return str(auto_map)
    for key in ("AutoModelForDepthEstimation", "AutoModel"):
        if key in auto_map:
            return str(auto_map[key])
    return str(next(iter(auto_map.values()), auto_map))


def _check_weights(directory: Path) -> None:
    """Refuse a folder without safetensors weights (a pickle-only one with the command that converts it), and a
    shard index naming files outside it. Called once config.json passed :func:`check_model_directory`'s checks: the
    conversion command runs transformers' ``from_pretrained`` on that config."""
    weights = ("model.safetensors", "model.safetensors.index.json")
    if not any((directory / name).is_file() for name in weights):
        broken = next((text for name in weights if (text := broken_link(directory / name))), "")
        if broken:
            raise CheckpointError(broken)
        found = sorted(p.name for p in directory.iterdir())
        pickles = [name for name in found if name.endswith((".bin", ".pt", ".pth", ".ckpt"))]
        remedy = REMEDY
        if pickles:  # `weights fetch` takes safetensors only: a repository without them needs converting
            convert = (
                f"import transformers as t; t.AutoModelForDepthEstimation.from_pretrained({str(directory)!r})"
                f".save_pretrained({str(directory)!r})"
            )
            remedy = (
                "convert it once, on a machine that may read pickle files from this source: "
                f"python3 -c {shlex.quote(convert)} "
                f"(writes model.safetensors beside it), or fetch a revision of the model with safetensors "
                f"(mono-depth weights fetch REPO_ID --revision REV --to DIR)"
            )
        msg = (
            f"{directory} has no model.safetensors (found {found}); only safetensors weights are loaded "
            f"(pickle files such as {pickles[0] if pickles else 'pytorch_model.bin'} never are); {remedy}"
        )
        raise CheckpointError(msg)
    if not (directory / "model.safetensors").is_file():
        check_shard_index(directory)


def family_of(model_type: str) -> Family:
    """The family entry of a model type (:data:`~.hf_families.FAMILIES`, or a generic one)."""
    return FAMILIES.get(model_type) or other_family(model_type)


def _describe_key(entry: Any) -> str:
    if isinstance(entry, tuple) and len(entry) == 3:
        name, in_file, in_model = entry
        return f"{name} (shape {tuple(in_file)} in the file, {tuple(in_model)} per config.json)"
    return str(entry)


def dtype_argument(library: Any) -> str:
    """The name of transformers' dtype argument (``from_pretrained`` / ``from_config``): < 4.56 calls it torch_dtype."""
    major, minor = (int(part) for part in str(library.__version__).split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def load_hf_weights(path: Path, title: str = "depth model") -> Any:
    """The transformers ``*ForDepthEstimation`` model of a checked directory, from its safetensors, offline.

    Raises:
        CheckpointError: truncated / corrupt weights, a config.json declaring more parameters than the weights hold
            (:func:`~.hf_declared_size.check_declared_size`), or tensors that do not fit config.json (the first is
            named).
    """
    library = transformers_module()
    model_class = library.AutoModelForDepthEstimation
    # float32 whatever config.json's dtype says (transformers 5 loads fp16 checkpoints as fp16): model.precision and
    # its autocast decide the precision, on every device (fp16 weights on a CPU are slow, and bf16 autocast over
    # them fails)
    float32 = {dtype_argument(library): torch.float32}
    try:
        hf_config = library.AutoConfig.from_pretrained(str(path), local_files_only=True, trust_remote_code=False)
        check_declared_size(path, model_class, hf_config)  # before transformers builds what config.json declares
        hf_model, info = model_class.from_pretrained(
            str(path),
            local_files_only=True,
            trust_remote_code=False,  # never import Python files a downloaded folder brings (config.json auto_map)
            use_safetensors=True,
            output_loading_info=True,
            ignore_mismatched_sizes=True,  # mismatches are reported through the info below, then refused
            **float32,
        )
    except (OSError, ValueError, RuntimeError, KeyError, ImportError, SafetensorError) as err:
        detail = first_line(err)
        msg = f"cannot load {title} weights from {path}: {detail}; its safetensors file is truncated or corrupt"
        raise CheckpointError(msg) from None
    for key in ("mismatched_keys", "missing_keys", "unexpected_keys"):
        bad = sorted(_describe_key(k) for k in info.get(key) or ())
        if bad:
            what = key.replace("_keys", " tensor")
            msg = f"{path}/model.safetensors does not fit its config.json: {what} {bad[0]} (+{len(bad) - 1} more)"
            raise CheckpointError(msg)
    return hf_model


def load_transformers_model(
    directory: str | Path, device: torch.device, output_kind: str = ""
) -> tuple[HfBackend, ModelSpec]:
    """Load a transformers depth model from a local directory (never from the network) onto ``device``.

    Args:
        directory: folder with config.json and safetensors weights (and optionally preprocessor_config.json or a
            processor_config.json with an image_processor entry, which wins as in transformers 5).
        device: where it runs.
        output_kind: ``model.output_kind`` override (needed for families whose output kind is not known).

    Raises:
        CheckpointError: see :func:`check_model_directory`, unknown output kind, weights that do not fit.
        ConfigError: transformers is not installed.
    """
    path = Path(directory)
    config, hf_config = checked_model_config(path)
    family = family_of(str(config["model_type"]))
    spec = transformers_spec(config, family, path, output_kind, hf_config)
    network = HfDepthNetwork(load_hf_weights(path, family.title), family.model_type)
    _LOG.info("loaded %s (%s) from %s; input %s", family.title, spec.output_kind.value, path, "from " + str(spec.input))
    return HfBackend(network, spec, device, family), spec


def build_transformers(spec: ModelSpec) -> HfDepthNetwork:
    """Registry builder: the network a ``transformers`` spec describes, with random weights.

    Raises:
        ConfigError: params without model_type / config. CheckpointError: a config naming a Hub backbone or kernel,
            or a field the installed transformers refuses (:func:`~.hf_folder_checks.config_object`).
    """
    try:
        model_type = str(spec.params["model_type"])
        config = dict(spec.params["config"])
    except (KeyError, TypeError):
        msg = f"a transformers spec needs params model_type and config, got {sorted(spec.params)}"
        raise ConfigError(msg) from None
    config.pop("model_type", None)
    check_layer_counts(config, "a transformers spec's config")
    online = remote_backbone(config) or hub_kernel(config)
    if online is not None:  # the checks check_model_directory makes on a folder's config.json
        msg = (
            f"a transformers spec's config names {online!r}, a Hub backbone or attention kernel: building it would "
            f"go online (and load a kernel's native code); save the checkpoint again from a published model"
        )
        raise CheckpointError(msg)
    library = transformers_module()
    typed = {**config, "model_type": model_type}
    saved = config.get("transformers_version")  # config.json's, kept in the spec
    version = f"transformers {saved}" if saved else "the transformers version"
    later = f"run it under {version} that saved it"
    source = "a transformers spec's config (its checkpoint's)"
    hf_config = config_object(typed, library, source, later, editable=False)  # the spec is inside the file
    # float32 as load_hf_weights: from_config builds in config.json's dtype (an fp16 Hub model's spec says float16),
    # and a half-precision network fails on the float32 input (model.precision decides the precision)
    hf_model = library.AutoModelForDepthEstimation.from_config(hf_config, **{dtype_argument(library): torch.float32})
    return HfDepthNetwork(hf_model, model_type, bool(spec.params.get("reflect_pad", False)))


register(
    ARCHITECTURE,
    build_transformers,
    output_kind=OutputKind.RELATIVE_INVERSE,
    description="any transformers AutoModelForDepthEstimation (DPT, Depth Anything, ZoeDepth, GLPN, Depth Pro, ...)",
)

__all__ = ["build_transformers", "check_model_directory", "load_hf_weights", "load_transformers_model"]
