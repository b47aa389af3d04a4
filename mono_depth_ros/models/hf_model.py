"""Any transformers depth model (``AutoModelForDepthEstimation``) from a LOCAL directory, run the project's way.

``model.backend: transformers`` (alias ``depth_anything_v2``) with ``model.weights: DIR``: ``config.json`` +
safetensors (``model.safetensors`` or a sharded index; pickle files are refused), optionally
``preprocessor_config.json`` (:mod:`.hf_preprocessing`). Loading never goes online (``local_files_only``), never
runs code the folder brings (``trust_remote_code=False``: an ``auto_map`` in config.json is ignored with a warning),
and ``transformers`` is imported only here, only when such a model is loaded.

:class:`HfDepthNetwork` turns each family's forward pass into the project's contract, (B, 3, H, W) normalised RGB
→ (B, 1, H, W) prediction of the spec's output kind, and takes the per-frame inputs some families need
(:mod:`.hf_families`): Depth Pro's canonical inverse depth becomes metres with the camera's fx / width (its own
field-of-view head when no camera focal is given, as transformers' post-processing does); Prompt Depth Anything
gets the LiDAR prompt; ZoeDepth's input is reflect-padded as its image processor does and its output read where the
image lies (:func:`~.preprocess.reflect_pad_window`). Everything else (resizing, normalisation, upsampling) is the
same device code as for every model.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from torch import Tensor, nn
from torch.nn import functional

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import CheckpointError, ConfigError, ShapeError, first_line
from mono_depth_ros.core.frame_hints import FOCAL_RATIO, PROMPT_DEPTH
from mono_depth_ros.models.backend import TorchBackend, prediction_tensor
from mono_depth_ros.models.hf_declared_size import check_declared_size, check_layer_counts
from mono_depth_ros.models.hf_families import FAMILIES, NOT_DEPTH, Family, config_kind, other_family
from mono_depth_ros.models.hf_folder_checks import (
    FETCH_AGAIN,
    check_shard_index,
    config_object,
    hub_kernel,
    other_task,
    remote_backbone,
)
from mono_depth_ros.models.hf_preprocessing import PROCESSOR_CLASS_DEFAULTS, HfPreprocessing, read_preprocessing
from mono_depth_ros.models.hub_id import hub_cache_hint
from mono_depth_ros.models.registry import register
from mono_depth_ros.models.spec import InputPolicy, ModelSpec

ARCHITECTURE = "transformers"
REMEDY = FETCH_AGAIN
_LOG = logging.getLogger(__name__)


def transformers_module() -> Any:
    """The ``transformers`` package (progress bars off), or a ConfigError naming the extra to install."""
    try:
        import transformers
    except ImportError:
        msg = "transformers depth models need the `transformers` package: pip install 'mono_depth_ros[hf]'"
        raise ConfigError(msg) from None
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    return transformers


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
            :func:`~.hub_id.hub_cache_hint`) / safetensors (pickle-only weights are refused), unreadable
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
    from it (once per load: :func:`transformers_spec` reads the patch and the depth range from it).

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
        msg = hub_cache_hint(directory) or f"{directory} has no config.json (Hugging Face layout expected); {REMEDY}"
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
    if not any((directory / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json")):
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


class HfDepthNetwork(nn.Module):
    """A transformers depth model behind the project's tensor contract (exportable when it needs no frame inputs).

    Args:
        hf_model: the ``*ForDepthEstimation`` model (its weights are this module's, under ``model.``).
        model_type: its ``config.json`` model type (selects the family's conversions).
        reflect_pad: ZoeDepth's reflect padding made by the network at its input size (specs written before the
            engine padded as ZoeDepthImageProcessor does, :attr:`InputPolicy.reflect_pad`; kept so that they load
            as they were made and exported).
    """

    def __init__(self, hf_model: nn.Module, model_type: str, reflect_pad: bool = False) -> None:
        super().__init__()
        self.model = hf_model
        self.model_type = model_type
        self.reflect_pad = reflect_pad

    def forward(self, x: Tensor, focal_ratio: Tensor | None = None, prompt_depth: Tensor | None = None) -> Tensor:
        """Predict.

        Args:
            x: (B, 3, H, W) float32 normalised RGB at the family's input size.
            focal_ratio: (B,) camera fx / image width (Depth Pro; None: its field-of-view head estimates it).
            prompt_depth: (B, 1, h, w) metric depth prompt in metres, any resolution (Prompt Depth Anything; None:
                unprompted, depth up to scale and shift: ``affine_depth``).

        Returns:
            (B, 1, H, W) float32 prediction of the spec's output kind.

        Raises:
            ShapeError: Depth Pro without a focal length or a field-of-view head.
        """
        height, width = int(x.shape[-2]), int(x.shape[-1])
        pads = _reflect_pads(height, width) if self.reflect_pad else None
        if pads is not None:
            top, bottom, left, right = pads
            inner = functional.interpolate(x, size=(height - top - bottom, width - left - right), mode="bilinear")
            x = functional.pad(inner, (left, right, top, bottom), mode="reflect")
        extra = {"prompt_depth": prompt_depth} if prompt_depth is not None and self.model_type != "depth_pro" else {}
        output = self.model(pixel_values=x, **extra)
        depth = prediction_tensor(output)
        if self.model_type == "depth_pro":
            depth = _depth_pro_metres(depth, focal_ratio, getattr(output, "field_of_view", None))
        if pads is not None:
            rows, cols = depth.shape[-2], depth.shape[-1]  # integer arithmetic: traceable for export
            top, bottom, left, right = pads
            top, bottom = top * rows // height, bottom * rows // height
            left, right = left * cols // width, right * cols // width
            depth = depth[..., top : rows - bottom, left : cols - right]
        if tuple(depth.shape[-2:]) != (height, width):
            depth = functional.interpolate(depth, size=(height, width), mode="bilinear", align_corners=False)
        return depth


def _reflect_pads(height: int, width: int) -> tuple[int, int, int, int] | None:
    """ZoeDepth's reflect padding (top, bottom, left, right) at a (height, width) input, or None when too small.

    ZoeDepthImageProcessor pads ``int(3·sqrt(side / 2))`` px each side, then resizes the padded image keeping its
    aspect: here the image shrinks by the factor that fits the padded short side into the input (one factor for both
    axes, so the image keeps its aspect) and the rest of the input is reflect padding.
    """
    pad_h, pad_w = int(math.sqrt(height / 2) * 3), int(math.sqrt(width / 2) * 3)
    shrink = min(height / (height + 2 * pad_h), width / (width + 2 * pad_w))
    inner_h, inner_w = round(height * shrink), round(width * shrink)
    top, left = (height - inner_h) // 2, (width - inner_w) // 2
    bottom, right = height - inner_h - top, width - inner_w - left
    if max(top, bottom) >= inner_h or max(left, right) >= inner_w or not (top or left):  # reflection needs more
        return None
    return top, bottom, left, right


def _depth_pro_metres(inverse: Tensor, focal_ratio: Tensor | None, field_of_view: Tensor | None) -> Tensor:
    """Depth Pro's canonical inverse depth → metres: ``1 / (inverse · W / f)`` (clamped as transformers does)."""
    if focal_ratio is None:
        if field_of_view is None:
            msg = "this Depth Pro model has no field-of-view head (use_fov_model: false): it needs the camera focal"
            raise ShapeError(msg)
        focal_ratio = 0.5 / torch.tan(field_of_view.float() * (math.pi / 360.0))  # half the FoV in radians
    ratio = focal_ratio.to(inverse.dtype).reshape(-1, 1, 1, 1)
    return 1.0 / torch.clamp(inverse / ratio, min=1e-4, max=1e4)


class HfBackend(TorchBackend):
    """A :class:`HfDepthNetwork` on a device, with the per-frame inputs its family takes.

    Attributes:
        frame_inputs: per-frame inputs the network takes (:data:`~.hf_families.FOCAL_RATIO`, ``PROMPT_DEPTH``).
        fixed_input_hw: the only (height, width) it runs at (Depth Pro), else None.
    """

    def __init__(self, network: HfDepthNetwork, spec: ModelSpec, device: torch.device, family: Family) -> None:
        super().__init__(network, spec, device, name=ARCHITECTURE)
        self.frame_inputs = family.frame_inputs
        self.fixed_input_hw = (spec.input.height, spec.input.width) if family.fixed_input else None

    def infer_with(self, batch: Tensor, inputs: dict[str, Tensor]) -> Tensor:
        """Like :meth:`infer`, with per-frame inputs (``focal_ratio``, ``prompt_depth``) passed to the network."""
        network = self.module.network
        assert isinstance(network, nn.Module)
        with torch.no_grad():
            return prediction_tensor(network(batch, **inputs))


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


def _dpt_input(preprocessing: HfPreprocessing, config: dict[str, Any], directory: Path) -> HfPreprocessing:
    """The input a DPT runs at: any size with a backbone that reports its patch grid (DINOv2), else transformers
    rebuilds the grid as a square: a plain ViT (Intel/dpt-large) runs square inputs, a hybrid (dpt-hybrid-midas)
    only its config's ``image_size`` square, whatever the processor file asks for."""
    policy = preprocessing.input
    hybrid = bool(config.get("is_hybrid"))
    if config.get("backbone_config") is not None and not hybrid:
        return preprocessing
    side = int(config.get("image_size", policy.height)) if hybrid else policy.height
    if (policy.height, policy.width, policy.keep_aspect) == (side, side, False):
        return preprocessing
    _LOG.warning("%s: this DPT only runs %dx%d inputs; its processor asks for %s", directory, side, side, policy)
    square = InputPolicy(side, side, keep_aspect=False, multiple_of=policy.multiple_of, max_long_side=side)
    return replace(preprocessing, input=replace(square, interpolation=policy.interpolation))  # the file's filter


def network_multiple(hf_config: Any, model_type: str) -> int:
    """The multiple of pixels a family's network maps whole: its ViT's patch (DINOv2: 14, DPT's ViT and BEiT: 16,
    from its backbone's config first), GLPN's total stride (32); 1 when its config names neither. A ViT floors its
    input to whole patches, and its map is then of the top-left part only (Depth Anything's head upsamples to
    ``patches × 14``): a 50x167 input gives a 42x154 map. ``hf_config``: its transformers config object.
    """
    strides = getattr(hf_config, "strides", None) if model_type == "glpn" else None
    if strides:
        return math.prod(int(stride) for stride in strides)
    for part in (getattr(hf_config, "backbone_config", None), getattr(hf_config, "vision_config", None), hf_config):
        patch = getattr(part, "patch_size", None)
        if isinstance(patch, int) and patch > 1:
            return patch
    return 1


def _whole_patches(preprocessing: HfPreprocessing, multiple: int, directory: Path) -> HfPreprocessing:
    """The input made whole ``multiple`` px patches (:func:`network_multiple`), so that the network maps all of it:
    a processor file that leaves ``ensure_multiple_of`` at its class default (1) or names a size off the patch grid
    would have the network crop the frame's bottom and right and its map stretched over the camera (transformers'
    own pipeline does so). The file's multiple stays when it is one of patches (BEiT's 16 in ZoeDepth's 32) or its
    fixed size is whole patches already (Intel/dpt-large: 384, multiple 1), else the patch is the multiple; a fixed
    size is rounded to the nearest one, as ``ensure_multiple_of`` rounds it (Depth Anything at 384x384: 378x378, the
    part of it the network would have mapped)."""
    policy = preprocessing.input
    merged = policy.multiple_of if policy.multiple_of % multiple == 0 else multiple  # the file's, else the patch
    if policy.keep_aspect and merged == policy.multiple_of:
        return preprocessing
    if not policy.keep_aspect and not (policy.height % merged or policy.width % merged):
        return preprocessing  # a fixed size already on the grid (Intel/dpt-large's 384, multiple 1): as written
    if policy.keep_aspect:
        whole = replace(policy, multiple_of=merged, max_long_side=max(policy.max_long_side, merged))
    else:
        height, width = (max(merged, round(side / merged) * merged) for side in (policy.height, policy.width))
        whole = replace(policy, height=height, width=width, multiple_of=merged, max_long_side=max(height, width))
    _LOG.warning(
        "%s: its network maps whole %d px patches only (it would crop the frame and the map would be stretched); "
        "input %s instead of %s (set ensure_multiple_of: %d in preprocessor_config.json to say so)",
        directory,
        multiple,
        whole,
        policy,
        merged,
    )
    return replace(preprocessing, input=whole)


def _check_fixed_input(preprocessing: HfPreprocessing, expected: HfPreprocessing, family: Family) -> None:
    """Refuse a fixed-input model (Depth Pro: patch_size / min(scaled_images_ratios) square) whose processor file
    asks for another size: transformers would fail at the first frame."""
    asked, fixed = preprocessing.input, expected.input
    if (asked.height, asked.width, asked.keep_aspect) == (fixed.height, fixed.width, False):
        return
    aspect = " keeping aspect" if asked.keep_aspect else ""
    msg = (
        f"{preprocessing.source} asks for {asked.height}x{asked.width}{aspect} input, but its "
        f"config.json makes this {family.title} model run only {fixed.height}x{fixed.width} "
        f"(patch_size / min(scaled_images_ratios)); set size to {{height: {fixed.height}, width: {fixed.width}}} "
        f"and keep_aspect_ratio false in preprocessor_config.json (or delete it), or fetch the model again"
    )
    raise CheckpointError(msg)


def _bin_max_depth(entry: Any, index: int, directory: Path) -> float:
    """The ``max_depth`` (metres) of ZoeDepth's bin configuration ``index``.

    Raises:
        CheckpointError: an entry without one, or whose value is no positive number, named with it.
    """
    value = entry.get("max_depth") if isinstance(entry, dict) else None
    if not (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0):
        shown = f"max_depth {value!r}" if isinstance(entry, dict) and "max_depth" in entry else "no max_depth"
        msg = (
            f"{directory}/config.json: bin_configurations[{index}] has {shown}: each ZoeDepth head needs its "
            f"max_depth in metres (e.g. 10.0 for NYU, 80.0 for KITTI); fix the entry or fetch the model again"
        )
        raise CheckpointError(msg)
    return float(value)


def _metric_range(hf_config: Any, directory: Path) -> float:
    """The depth range (metres) transformers gives a metric model: its config's ``max_depth``, else the config
    class's default (``save_pretrained`` leaves defaults out of config.json: GLPN 10 m, Depth Anything 1 m), else
    ZoeDepth's widest bin configuration (10 m by default); 100 m for a family with neither (Depth Pro).
    ``hf_config``: its transformers config object."""
    max_depth = getattr(hf_config, "max_depth", None)
    bins = getattr(hf_config, "bin_configurations", None)
    if max_depth is None and bins:
        max_depth = max(_bin_max_depth(entry, index, directory) for index, entry in enumerate(bins))
    return float(max_depth) if max_depth is not None and float(max_depth) > 0 else 100.0


def transformers_spec(
    config: dict[str, Any], family: Family, directory: Path, output_kind: str = "", hf_config: Any = None
) -> ModelSpec:
    """The :class:`ModelSpec` of a transformers depth model (ZoeDepth's reflect padding: its ``input.reflect_pad``,
    done by the engine as ZoeDepthImageProcessor does it, not by the network).

    Args:
        config: its ``config.json``.
        family: its family entry.
        directory: where its ``preprocessor_config.json`` may be.
        output_kind: ``model.output_kind`` (empty: the family's; for a family whose kind is known, only that kind
            or, for a metric one, ``depth_up_to_scale``).
        hf_config: its transformers config object (:func:`checked_model_config`); None: built here from ``config``.

    Raises:
        CheckpointError: the output kind cannot be inferred and ``model.output_kind`` is empty, or it contradicts
            the family's (a metric model read as inverse depth would publish nonsense); a metric config.json that
            transformers cannot read; a fixed-input model (Depth Pro) whose processor file asks for another size.
    """
    known = config_kind(family, config)
    kind = OutputKind.parse(output_kind) if output_kind else known
    if known is not None and kind is not known and (known, kind) != (OutputKind.METRIC, OutputKind.DEPTH_UP_TO_SCALE):
        msg = (
            f"{directory}: model.output_kind={output_kind} contradicts its config.json: a {family.title} model "
            f"{'with these settings ' if family.model_type == 'depth_anything' else ''}predicts {known.value}; "
            f"leave model.output_kind empty"
            + (
                " (or depth_up_to_scale, to let scale recovery rescale its metres)"
                if known is OutputKind.METRIC
                else ""
            )
        )
        raise CheckpointError(msg)
    if kind is None:
        msg = (
            f"{directory}: cannot tell what a {family.model_type!r} model predicts; state it with "
            f"--param model.output_kind=metric | relative_inverse | depth_up_to_scale | affine_depth"
        )
        raise CheckpointError(msg)
    if hf_config is None:
        typed = {**config, "model_type": family.model_type}
        hf_config = config_object(typed, transformers_module(), f"{directory}/config.json")
    class_defaults = PROCESSOR_CLASS_DEFAULTS.get(family.model_type)
    preprocessing = read_preprocessing(directory, family.preprocessing(config), class_defaults)
    if family.model_type == "dpt":
        preprocessing = _dpt_input(preprocessing, config, directory)
    if family.fixed_input:
        _check_fixed_input(preprocessing, family.preprocessing(config), family)
    else:
        preprocessing = _whole_patches(preprocessing, network_multiple(hf_config, family.model_type), directory)
    # Prompt Depth Anything rescales its output to the LiDAR prompt's range: its max_depth (1) bounds nothing
    ranged = kind is OutputKind.METRIC and PROMPT_DEPTH not in family.frame_inputs
    metric_range = _metric_range(hf_config, directory) if ranged else 100.0
    params = {"model_type": family.model_type, "config": config}
    return ModelSpec(
        architecture=ARCHITECTURE,
        params=params,
        input=replace(preprocessing.input, reflect_pad=preprocessing.reflect_pad),
        mean=preprocessing.mean,
        std=preprocessing.std,
        output_kind=kind,
        min_depth_m=min(0.1, metric_range / 10),
        max_depth_m=metric_range,
    )


def load_transformers_model(
    directory: str | Path, device: torch.device, output_kind: str = ""
) -> tuple[HfBackend, ModelSpec]:
    """Load a transformers depth model from a local directory (never from the network) onto ``device``.

    Args:
        directory: folder with config.json and safetensors weights (and optionally preprocessor_config.json).
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

__all__ = ["FOCAL_RATIO", "PROMPT_DEPTH", "HfBackend", "HfDepthNetwork", "load_transformers_model"]
