"""The :class:`ModelSpec` of a transformers depth model folder: output kind, input policy, depth range.

:func:`transformers_spec` reads a folder's ``config.json`` (and its transformers config object) and
``preprocessor_config.json`` (:mod:`.hf_preprocessing`) into the spec the engine runs: the family's output kind
(``model.output_kind`` only where it agrees), the input the network maps whole (a DPT's square, whole ViT patches
:func:`network_multiple`, Depth Pro's fixed size) and the depth range transformers gives a metric model.
``transformers`` is imported only by :func:`transformers_module`, only when it is called. Loading: :mod:`.hf_model`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import CheckpointError, ConfigError
from mono_depth_ros.core.frame_hints import PROMPT_DEPTH
from mono_depth_ros.models.hf_families import Family, config_kind
from mono_depth_ros.models.hf_folder_checks import config_object
from mono_depth_ros.models.hf_preprocessing import (
    PROCESSOR_CLASS_DEFAULTS,
    HfPreprocessing,
    read_preprocessing,
    settings_place,
)
from mono_depth_ros.models.spec import InputPolicy, ModelSpec

ARCHITECTURE = "transformers"
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
        "input %s instead of %s (set ensure_multiple_of: %d in %s to say so)",
        directory,
        multiple,
        whole,
        policy,
        merged,
        settings_place(preprocessing.source),
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
        f"and keep_aspect_ratio false in {settings_place(preprocessing.source)} (or delete it), or fetch the model "
        f"again"
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
        hf_config: its transformers config object (:func:`~.hf_model.checked_model_config`); None: built here
            from ``config``.

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


__all__ = ["ARCHITECTURE", "network_multiple", "transformers_module", "transformers_spec"]
