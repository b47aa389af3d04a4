"""A transformers depth model's input preparation, read from its directory's ``preprocessor_config.json`` (or
the ``image_processor`` entry of its ``processor_config.json``, which transformers 5 reads first:
:func:`processor_settings`).

transformers' image processors resize and normalise on the CPU (and some, Depth Pro's and ZoeDepth's, need
torchvision, which a robot's Python may lack). The project does the same work on the device with its own code
(:mod:`.preprocess`), so this module only translates the processor's settings into an :class:`InputPolicy` and a
normalisation. What a file leaves out is its processor class's default, as transformers reads it
(:data:`PROCESSOR_CLASS_DEFAULTS`: DPTImageProcessor for DPT and Depth Anything, PromptDepthAnythingImageProcessor:
no keep-aspect, multiple of 1, bicubic, mean / std 0.5), else the family's:

==========================  ===================================================================================
processor setting           meaning here
==========================  ===================================================================================
``size`` {height, width}    the network input; with ``keep_aspect_ratio`` transformers' "scale as little as
                            possible" (the scale nearer 1 of height / H and width / W: the short side for a camera
                            larger than the box, a smaller camera fits inside it), the long side capped at 1.7 ×
                            the size (518 → 882: KITTI runs at 266×882, not 518×1722)
``size`` N (older files)    N × N, as transformers reads it (Intel/dpt-large); ``keep_aspect_ratio`` as above
``keep_aspect_ratio``       when absent, the processor class's (DPT's does not keep aspect) or the family's default
                            (ZoeDepth's processor keeps aspect)
``size`` {shortest_edge}    the short side, keeping aspect (whatever ``keep_aspect_ratio`` says: no processor
                            reads it as a square), the long side capped at 1.7 × it; with
                            ``longest_edge`` the long side capped at that instead, as transformers' generic resize
                            does (the short side scaled to shortest_edge unless the long side would pass
                            longest_edge, then the long side to it: KITTI under {256, 512} at 155×512; one below the
                            input's multiple is refused); DPT's, ZoeDepth's and Prompt Depth Anything's processors
                            refuse a size without height and width, TIPS v2 DPT's and Depth Pro's use that resize
``ensure_multiple_of``      both sides rounded to a multiple (14 for ViT patches, 32 for convolutional decoders),
                            a fixed size too (100x200 with 32: 96x192, as transformers rounds it); below 1
                            (ZoeDepth's saved default 1/32: no rounding) the family's multiple; one that is no
                            multiple of the network's patch gives way to the patch unless the size is fixed and
                            whole patches already (:func:`~.hf_spec.network_multiple`: a ViT maps whole patches);
                            one of a pixel or more that is no whole number (14.5) is refused naming it
``size_divisor``            GLPN rounds to it, DPT pads to it (``do_pad``): a multiple of it too; with ``do_resize:
                            false`` (GLPN, DINOv2 DPT) the short side of the family default; refused as
                            ``ensure_multiple_of`` when no whole number
``image_mean/std``          per-channel normalisation of RGB in [0, 1]; ``do_normalize: false`` → mean 0, std 1
``do_rescale: false``       the network wants 0..255: mean and std / 255
``rescale_factor`` r        the network sees 255 r × RGB in [0, 1] before normalisation: mean and std / (255 r)
``do_pad`` (ZoeDepth)       ``InputPolicy.reflect_pad``: the engine pads the camera image as the processor does
                            (:func:`~.preprocess.reflect_pads`) and reads the output where the image lies, at
                            the fractional place the processor's align_corners resize puts it
                            (:func:`~.preprocess.reflect_pad_window`; a crop of whole pixels read NYU 0.55 px
                            off at its sides; transformers' post_process_depth_estimation is 0.13-0.14 input px off)
``do_pad`` (DPT, no resize) ``InputPolicy.native_pad``: the camera image at its own size, centre-padded with the
                            mean colour to ``size_divisor`` (DINOv2's depth heads: NYU 480x640 at 490x644), the
                            padding cropped off the output (transformers' post_process_depth_estimation resizes
                            the padded map, padding and all: up to 5 px off at NYU's borders); a camera beyond the
                            family's bounds is resized first
(antialiasing)              the family's: Depth Pro's processor resizes without it, the others shrink with it
``resample``                3 (PIL's BICUBIC: Depth Anything, DPT, Prompt Depth Anything files) → bicubic; another
                            PIL filter number (2 BILINEAR) → bilinear; anything else (a name such as "bicubic": the
                            torchvision processors refuse it, the PIL ones resize bilinear) is refused naming the
                            value; unsaid → the processor class's default, the family's (bicubic
                            for DPT, Depth Anything, Prompt Depth Anything; bilinear for the others); ZoeDepth stays
                            bilinear (its padded image is resized as its processor does: align_corners, no
                            antialiasing)
==========================  ===================================================================================
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.hub_id import broken_link
from mono_depth_ros.models.spec import InputPolicy

PREPROCESSOR_FILE = "preprocessor_config.json"
PROCESSOR_FILE = "processor_config.json"
"""transformers 5's processor file: its ``image_processor`` entry, when it has one, is read instead of
:data:`PREPROCESSOR_FILE` (:func:`processor_settings`)."""
BICUBIC = 3
"""PIL's ``Resampling.BICUBIC``, as processor files write ``resample``."""
LONG_SIDE_CAP = 1.7
"""Long side cap as a multiple of the processor's size, for keep-aspect families (bounded cost on wide cameras)."""


_DPT_PROCESSOR = {
    "do_resize": True,
    "size": {"height": 384, "width": 384},
    "resample": BICUBIC,
    "keep_aspect_ratio": False,
    "ensure_multiple_of": 1,
    "do_pad": False,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "do_normalize": True,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
}
PROCESSOR_CLASS_DEFAULTS: dict[str, dict[str, Any]] = {
    "dpt": _DPT_PROCESSOR,
    "depth_anything": _DPT_PROCESSOR,
    "prompt_depth_anything": _DPT_PROCESSOR,
}
"""The settings transformers' processor class of a family (DPTImageProcessor: DPT and Depth Anything;
PromptDepthAnythingImageProcessor) uses where its ``preprocessor_config.json`` is silent, for the families whose
defaults here (the published files') differ from them (a test checks them against the installed classes)."""


def long_side_cap(size: int, multiple: int) -> int:
    """The long-side cap of a keep-aspect input of processor size ``size``: :data:`LONG_SIDE_CAP` × it, a multiple."""
    return max(multiple, round(size * LONG_SIDE_CAP / multiple) * multiple)


@dataclass(frozen=True)
class HfPreprocessing:
    """How camera images are prepared for one transformers depth model.

    Attributes:
        input: resize policy (see :class:`InputPolicy`).
        mean, std: per-channel normalisation of RGB in [0, 1].
        reflect_pad: ZoeDepth's reflect padding of the input (removed from the output).
        source: where the settings came from (the processor file or the family defaults), for logs and errors.
    """

    input: InputPolicy
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    reflect_pad: bool = False
    source: str = "family defaults"


def _triple(value: Any, name: str, path: Path) -> tuple[float, float, float]:
    if isinstance(value, int | float):
        value = [value] * 3
    try:
        first, second, third = (float(v) for v in value)
    except (TypeError, ValueError):
        msg = f"{path}: {name} must be three numbers, got {value!r}; fix the file or delete it to use the defaults"
        raise CheckpointError(msg) from None
    return first, second, third


def _pixels(value: Any, name: str, path: Path) -> int:
    """A ``size`` entry as a whole, positive number of pixels (518 or 518.0).

    Raises:
        CheckpointError: anything else (None, a string, a list, a bool, 0, -518, 518.5), named with its value.
    """
    whole = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not whole or value < 1 or value != int(value):
        msg = (
            f"{path}: {name} {value!r} is not a whole number of pixels; write it as one (e.g. "
            f'"size": {{"height": 518, "width": 518}}), or delete the file to use the family defaults'
        )
        raise CheckpointError(msg)
    return int(value)


def _size(settings: dict[str, Any], path: Path) -> tuple[int, int, bool, int | None] | None:
    """(height, width, short-side-only, longest edge) from a processor's ``size`` (None when it has none); the
    longest edge is ``size``'s ``longest_edge`` beside a ``shortest_edge`` (None when it names none).

    Raises:
        CheckpointError: a size of another shape, or whose sides are no whole, positive numbers of pixels.
    """
    size = settings.get("size")
    if size is None:
        return None
    if isinstance(size, int | float):  # transformers' depth processors read a bare number as a square
        side = _pixels(size, "size", path)
        return side, side, False, None
    if isinstance(size, dict):
        if "height" in size and "width" in size:
            height, width = (_pixels(size[key], f"size {key}", path) for key in ("height", "width"))
            return height, width, False, None
        if "shortest_edge" in size:
            short = _pixels(size["shortest_edge"], "size shortest_edge", path)
            said = size.get("longest_edge")  # null: unsaid, as transformers' SizeDict reads it
            longest = None if said is None else _pixels(said, "size longest_edge", path)
            return short, short, True, longest
    msg = (
        f"{path}: size {size!r} is not {{height, width}}, {{shortest_edge}} (with or without longest_edge) or a "
        f'number; fix it (e.g. "size": {{"height": 518, "width": 518}}), or delete the file to use the family defaults'
    )
    raise CheckpointError(msg)


def _longest(longest: int, multiple: int, path: Path) -> int:
    """A ``size`` ``longest_edge`` as the long-side cap, as transformers' resize takes it (the short side scaled to
    ``shortest_edge`` unless the long side would pass ``longest_edge``, then the long side to it).

    Raises:
        CheckpointError: one below the input's multiple (no input of whole multiples fits under it).
    """
    if longest < multiple:
        msg = (
            f"{path}: size longest_edge {longest} is below the input's multiple of {multiple} px (ensure_multiple_of "
            f"/ size_divisor, or the network's patch): no input fits under it; raise longest_edge to {multiple} or "
            f"more, or delete it for a long side of {LONG_SIDE_CAP} x shortest_edge"
        )
        raise CheckpointError(msg)
    return longest


def _rescale_factor(settings: dict[str, Any], path: Path) -> float:
    """What the processor multiplies 0..255 pixels by (1 without ``do_rescale``; 1/255 when it names no factor)."""
    if settings.get("do_rescale") is False:
        return 1.0
    factor = settings.get("rescale_factor", 1.0 / 255.0)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor < math.inf:
        msg = f"{path}: rescale_factor {factor!r} must be a positive number (1/255 for images in 0..1)"
        raise CheckpointError(msg)
    return float(factor)


def _multiple(settings: dict[str, Any], path: Path) -> int | None:
    """What both input sides are a multiple of, in pixels: ``ensure_multiple_of`` where the processor resizes and
    ``size_divisor`` (the processor pads or rounds to it: a DINOv2 DPT's file says no resize, pad to 14, ensure 1),
    the least common multiple of both; None when neither says (a value below one pixel, as ZoeDepth's saved class
    default 1/32, rounds nothing).

    Raises:
        CheckpointError: a value that is no number, or one of a pixel or more that is no whole number (14.5).
    """
    names = ["ensure_multiple_of"] if settings.get("do_resize", True) else []
    if settings.get("do_pad") or settings.get("ensure_multiple_of") is None:  # DPT pads to it, GLPN rounds to it
        names.append("size_divisor")
    multiples = []
    for name in names:
        value = settings.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            msg = f"{path}: {name} {value!r} must be a number of pixels (32 for a convolutional decoder)"
            raise CheckpointError(msg)
        if value >= 1 and value != int(value):
            msg = (
                f"{path}: {name} {value!r} is not a whole number of pixels; write one (14 for a DINOv2 / ViT patch, "
                f"32 for a convolutional decoder), or delete the file to use the family defaults"
            )
            raise CheckpointError(msg)
        if value >= 1:
            multiples.append(int(value))
    return math.lcm(*multiples) if multiples else None


PIL_FILTERS = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
"""PIL's ``Resampling`` numbers, the ``resample`` values transformers' processors take."""


def _resample(settings: dict[str, Any], path: Path) -> int | None:
    """The processor's ``resample``, one of :data:`PIL_FILTERS` (None when unsaid).

    Raises:
        CheckpointError: anything else, named with its value: a name such as ``"bicubic"`` (transformers'
            torchvision processors refuse a string, its PIL ones resize bilinear whatever it names), a bool, 3.5.
    """
    value = settings.get("resample")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value not in PIL_FILTERS:
        numbers = ", ".join(f"{number} {name}" for number, name in PIL_FILTERS.items())
        msg = (
            f"{path}: resample {value!r} is not one of PIL's filter numbers ({numbers}), which transformers' "
            f"processors take; write the number (3 for bicubic, 2 for bilinear), or delete the entry for the "
            f"processor's default"
        )
        raise CheckpointError(msg)
    return int(value)


def _native_pad(settings: dict[str, Any], defaults: HfPreprocessing) -> bool:
    """Whether the processor runs the camera image at its own size, centre-padded to ``size_divisor``: DPT's
    ``do_pad`` without ``do_resize`` (DINOv2's depth heads; the family's default where the file does not say).
    A processor that resizes gives a multiple of ``size_divisor`` already (:func:`_multiple`); ZoeDepth's ``do_pad``
    is its reflection (``reflect_pad``)."""
    if defaults.reflect_pad or settings.get("do_resize", True):
        return False
    said = "do_pad" in settings and "size_divisor" in settings
    return bool(settings["do_pad"]) if said else defaults.input.native_pad


BILINEAR = 2
"""PIL's ``Resampling.BILINEAR``."""


def write_fixed_size_processor(
    directory: Path, policy: InputPolicy, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> Path:
    """Write ``directory/preprocessor_config.json`` (DPTImageProcessor's keys) for a fixed-size input: the camera
    image stretched to ``policy.height`` × ``policy.width`` with ``policy.interpolation`` (no keep-aspect, no
    padding), then normalised with ``mean`` / ``std`` (RGB in [0, 1]). :func:`read_preprocessing` reads it back as
    that policy: what a fine-tune writes so that its directory is fed as training fed the network. A
    ``processor_config.json`` with an ``image_processor`` entry (read first) gets the same settings in that entry.

    Raises:
        CheckpointError: a keep-aspect or padded policy (this file describes a fixed size only), or the file cannot
            be written; a ``processor_config.json`` there is a link to nothing, no readable JSON object, or cannot be
            written.
    """
    if policy.keep_aspect or policy.pad or policy.native_pad or policy.reflect_pad:
        msg = f"a fixed-size preprocessor_config.json cannot describe {policy}; give a fixed-size input policy"
        raise CheckpointError(msg)
    settings = {
        "image_processor_type": "DPTImageProcessor",
        "do_resize": True,
        "size": {"height": int(policy.height), "width": int(policy.width)},
        "keep_aspect_ratio": False,
        "ensure_multiple_of": int(policy.multiple_of),
        "resample": BICUBIC if policy.interpolation == "bicubic" else BILINEAR,
        "do_rescale": True,
        "rescale_factor": 1.0 / 255.0,
        "do_normalize": True,
        "image_mean": [float(v) for v in mean],
        "image_std": [float(v) for v in std],
        "do_pad": False,
    }
    path = directory / PREPROCESSOR_FILE
    try:
        path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as err:
        msg = f"cannot write {path} ({err}); the directory would be fed another input than training's"
        raise CheckpointError(msg) from None
    _replace_nested_settings(directory, settings)
    return path


def _replace_nested_settings(directory: Path, settings: dict[str, Any]) -> None:
    """Make ``directory/processor_config.json``'s ``image_processor`` entry, where there is one, ``settings``: it is
    read before preprocessor_config.json (:func:`processor_settings`, as transformers 5 reads it), so a fine-tune
    saved into the folder it started from (a transformers 5 ``Processor.save_pretrained`` folder) kept the published
    input over training's. The file's other entries are kept; it is written beside and renamed once whole.

    Raises:
        CheckpointError: the file is a link to nothing, is not a readable JSON object, or cannot be written.
    """
    nested = directory / PROCESSOR_FILE
    processor = _json_object(nested)
    if processor is None or "image_processor" not in processor:
        return
    from mono_depth_ros.models.sidecar import write_whole

    text = json.dumps({**processor, "image_processor": settings}, indent=2) + "\n"
    try:
        write_whole(nested, lambda partial: partial.write_text(text, encoding="utf-8"))
    except OSError as err:
        msg = (
            f"cannot write {nested} ({err}); its image_processor entry, read before {PREPROCESSOR_FILE}, would feed "
            f"another input than training's: delete that entry"
        )
        raise CheckpointError(msg) from None


def read_preprocessing(
    directory: Path, defaults: HfPreprocessing, class_defaults: dict[str, Any] | None = None
) -> HfPreprocessing:
    """The preprocessing of the model in ``directory``: its processor settings (:func:`processor_settings`:
    ``processor_config.json``'s ``image_processor`` entry, else ``preprocessor_config.json``) over its processor
    class's defaults (as transformers builds the processor from them) over the family defaults.

    Args:
        directory: the model directory.
        defaults: the family's settings, used when there is no file, and for what neither the file nor
            ``class_defaults`` says.
        class_defaults: the processor class's settings for what the file does not say
            (:data:`PROCESSOR_CLASS_DEFAULTS`); None: the family's.

    Raises:
        CheckpointError: the file exists but is not JSON, or holds sizes / normalisation of the wrong shape; it is a
            symbolic link to nothing (:func:`~.hub_id.broken_link`: a cache snapshot copied without its blobs);
            ``processor_config.json`` is such a link, or unreadable (transformers reads it first).
    """
    found = processor_settings(directory)
    if found is None:
        return defaults
    path, settings = found
    settings = {**(class_defaults or {}), **settings}
    policy = defaults.input
    multiple = _multiple(settings, path) or policy.multiple_of
    size = _size(settings, path)
    if size is not None and settings.get("do_resize", True):
        height, width, short_side_only, longest = size
        # a short side keeps the aspect whatever keep_aspect_ratio says (transformers' generic resize does not read
        # it; DPT's processors refuse such a size): never a square of shortest_edge
        keep_aspect = short_side_only or bool(settings.get("keep_aspect_ratio", defaults.input.keep_aspect))
        rounding = settings.get("ensure_multiple_of")  # a number (_multiple checked it) or None
        if not keep_aspect and rounding is not None and rounding >= 1:  # transformers rounds a fixed size too
            step = int(rounding)
            height, width = (max(step, round(side / step) * step) for side in (height, width))
        short = min(height, width)
        cap = long_side_cap(max(height, width), multiple) if longest is None else _longest(longest, multiple, path)
        box = keep_aspect and not short_side_only  # transformers' "scale as little as possible" in the size box
        policy = InputPolicy(
            height=short if keep_aspect and not box else height,
            width=short if keep_aspect and not box else width,
            keep_aspect=keep_aspect,
            multiple_of=multiple,
            max_long_side=cap if keep_aspect else max(height, width),
            least_scale=box,
        )
    else:
        policy = replace(policy, multiple_of=multiple)
    mean, std = defaults.mean, defaults.std
    if "image_mean" in settings:
        mean = _triple(settings["image_mean"], "image_mean", path)
    if "image_std" in settings:
        std = _triple(settings["image_std"], "image_std", path)
    if settings.get("do_normalize") is False:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    gain = 255.0 * _rescale_factor(settings, path)  # the network sees gain·x for x in [0, 1]: (gain·x - m)/s
    if not math.isclose(gain, 1.0, rel_tol=1e-9):  # == (x - m/gain)/(s/gain)
        mean = (mean[0] / gain, mean[1] / gain, mean[2] / gain)
        std = (std[0] / gain, std[1] / gain, std[2] / gain)
    if min(std) <= 0:
        msg = f"{path}: image_std {std} must be positive"
        raise CheckpointError(msg)
    reflect_pad = bool(settings.get("do_pad", defaults.reflect_pad)) and defaults.reflect_pad
    resample = _resample(settings, path)
    if resample is not None and not defaults.reflect_pad:  # ZoeDepth: see the table
        policy = replace(policy, interpolation="bicubic" if resample == BICUBIC else "bilinear")
    else:  # unsaid: the processor class's default (the family's)
        policy = replace(policy, interpolation=defaults.input.interpolation)
    # the family's processor class decides these (GLPN's native_floor needs the keep_aspect its default has)
    policy = replace(
        policy,
        antialias=defaults.input.antialias,
        native_floor=defaults.input.native_floor and policy.keep_aspect,  # a fixed size (a fine-tune's) has no floor
        native_pad=_native_pad(settings, defaults),
    )
    return HfPreprocessing(policy, mean, std, reflect_pad, source=str(path))


def _json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path`` (None when there is no such file). An error's remedy names what deleting the file
    leaves to be read: ``preprocessor_config.json`` beside a ``processor_config.json``, else the family defaults.

    Raises:
        CheckpointError: the file is a symbolic link to nothing (:func:`~.hub_id.broken_link`), is not readable
            JSON, or holds something other than an object.
    """
    if not path.is_file():
        broken = broken_link(path)  # not "no file": the model's settings are there, out of reach
        if broken:
            raise CheckpointError(broken)
        return None
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        msg = f"{path} is not readable JSON ({str(err)[:200]}); fix it, or delete it to use {_instead(path)}"
        raise CheckpointError(msg) from None
    if not isinstance(settings, dict):
        msg = f"{path} holds {type(settings).__name__}, not a JSON object of settings; fix it or delete it"
        raise CheckpointError(msg)
    return settings


def _instead(path: Path) -> str:
    """What is read once ``path`` (a processor file) is deleted."""
    fallback = path.with_name(PREPROCESSOR_FILE)
    return PREPROCESSOR_FILE if path.name == PROCESSOR_FILE and fallback.is_file() else "the family defaults"


def settings_place(source: str) -> str:
    """Where to edit the settings of an :class:`HfPreprocessing` whose ``source`` is ``source``: the
    ``image_processor`` entry of ``processor_config.json`` when they were read from there (an edit of
    ``preprocessor_config.json`` would change nothing: the entry is read first), else ``preprocessor_config.json``."""
    return f"{PROCESSOR_FILE}'s image_processor entry" if Path(source).name == PROCESSOR_FILE else PREPROCESSOR_FILE


def processor_settings(directory: Path) -> tuple[Path, dict[str, Any]] | None:
    """The image processor's settings in ``directory`` and the file they came from, by transformers' rule
    (``ImageProcessingMixin.get_image_processor_dict``, transformers 5): the ``image_processor`` entry of
    ``processor_config.json`` (what a ``Processor.save_pretrained`` writes) when it has one, else
    ``preprocessor_config.json``; None when neither holds them (the family's defaults apply).

    Raises:
        CheckpointError: a file read is a symbolic link to nothing, is not readable JSON or no JSON object, or its
            ``image_processor`` entry is no object.
    """
    nested = directory / PROCESSOR_FILE
    processor = _json_object(nested)
    if processor is not None and "image_processor" in processor:
        settings = processor["image_processor"]
        if not isinstance(settings, dict):
            msg = (
                f"{nested}: image_processor holds {type(settings).__name__}, not a JSON object of settings; fix it, "
                f"or delete the entry to use {PREPROCESSOR_FILE} (or the family defaults)"
            )
            raise CheckpointError(msg)
        return nested, settings
    path = directory / PREPROCESSOR_FILE
    found = _json_object(path)
    return None if found is None else (path, found)
