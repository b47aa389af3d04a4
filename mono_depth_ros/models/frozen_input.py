"""A network that keeps the camera's aspect, exported at one fixed size: which cameras it still serves.

A ViT traces its patch grid as constants, so :mod:`.export` writes Depth Anything, DINOv2 DPT and the like at the
one network size it traced (``keep_aspect: false`` in the exported spec). The exported model is the torch model
for cameras of the aspect it was exported for; any other camera would be stretched to that size (NYU's 480x640
squashed into KITTI's 56x168: the depth of a scene that does not exist). The exported spec keeps the network's own
input policy under :data:`SOURCE_INPUT_KEY` in its ``params``, and :func:`aspect_problem` says when a camera's image
is not one the export serves.

A keep-aspect spec of a graph made elsewhere that runs for landscape cameras only (``mono-depth spec --keep-aspect``:
its portrait trial failed) records the aspects it serves under :data:`SERVED_ASPECTS_KEY` in its ``params``, and
:func:`aspect_problem` refuses a camera whose network input is of another aspect, naming it and the spec to write.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.preprocess import network_input_size, padded_size, reflect_pads
from mono_depth_ros.models.spec import InputPolicy, ModelSpec

SOURCE_INPUT_KEY = "source_input"
"""``params`` key of an exported spec: the input policy of the network it was exported from (keeping aspect)."""
SERVED_ASPECTS_KEY = "served_aspects"
"""``params`` key of a keep-aspect spec: ``[least, most]``, the network input aspects (width / height) its graph ran
at when its spec was written (``most`` null: no bound); absent (older specs, graphs that ran at every trial): any."""
ASPECT_TOLERANCE = 0.05
"""Largest relative difference between a camera's aspect (width / height) and the aspects the fixed size can have
come from: more is a visible stretch, and a metric model's metres are learnt at the undistorted scale."""


def with_source_input(params: dict[str, Any], source: InputPolicy) -> dict[str, Any]:
    """``params`` with the source network's input policy recorded (for a fixed-size export of a keep-aspect
    network), its fields left out where unused as in a spec's ``input`` (:meth:`~.spec.InputPolicy.record`): an older
    reader refuses a recorded key it does not know."""
    return {**params, SOURCE_INPUT_KEY: source.record()}


def source_input(spec: ModelSpec) -> InputPolicy | None:
    """The input policy recorded in a fixed-size export's spec, or None (not recorded, or the spec keeps aspect).

    Raises:
        CheckpointError: a recorded policy that is not one (unknown keys, invalid sizes).
    """
    recorded = spec.params.get(SOURCE_INPUT_KEY)
    if recorded is None or spec.input.keep_aspect:
        return None
    known = {f.name for f in fields(InputPolicy)}
    if not isinstance(recorded, dict) or not set(recorded) <= known:
        msg = f"spec params.{SOURCE_INPUT_KEY} must be an input policy with keys among {sorted(known)}; re-export"
        raise CheckpointError(msg)
    try:
        return InputPolicy(**recorded)
    except (TypeError, ValueError, CheckpointError) as err:  # ValueError: a size that is no number ("tall")
        msg = f"spec params.{SOURCE_INPUT_KEY} is not an input policy ({err}); re-export the model"
        raise CheckpointError(msg) from None


def recorded_aspects(spec: ModelSpec) -> tuple[float, float] | None:
    """The network input aspects (width / height) a keep-aspect spec records under :data:`SERVED_ASPECTS_KEY`
    (``most`` null read as infinity), or None (not recorded: any, as before the key; or the spec does not keep aspect).

    Raises:
        CheckpointError: a recorded value that is not ``[least, most]`` with ``0 < least <= most`` (``most`` null).
    """
    recorded = spec.params.get(SERVED_ASPECTS_KEY)
    if recorded is None or not spec.input.keep_aspect:
        return None
    bounds: list[Any] = recorded if isinstance(recorded, list) and len(recorded) == 2 else [None, None]
    values = [bounds[0], math.inf if bounds[1] is None else bounds[1]]
    numbers = [float(value) for value in values if isinstance(value, int | float) and not isinstance(value, bool)]
    if len(numbers) != 2 or not 0.0 < numbers[0] <= numbers[1]:
        msg = (
            f"spec params.{SERVED_ASPECTS_KEY}={recorded!r} must be [least, most]: the network input aspects (width / "
            f"height, 0 < least <= most, most null for no bound) its graph runs at; rewrite it with `mono-depth spec "
            f"MODEL --kind KIND --input-size HxW --keep-aspect`"
        )
        raise CheckpointError(msg)
    return numbers[0], numbers[1]


def served_aspects(spec: ModelSpec) -> tuple[float, float] | None:
    """The camera aspects (width / height) a fixed-size export of a keep-aspect network serves, or None (any: not
    such an export). For a keep-aspect spec, the network input aspects it records (:func:`recorded_aspects`).

    The fixed size is a camera's size scaled and rounded (or padded) to ``multiple_of`` on each side, so it came
    from a camera whose aspect lies between ``(W - m) / (H + m)`` and ``(W + m) / (H - m)``; that range, widened by
    :data:`ASPECT_TOLERANCE`, is served.
    """
    if spec.input.keep_aspect:
        return recorded_aspects(spec)
    if source_input(spec) is None:
        return None
    height, width, multiple = spec.input.height, spec.input.width, spec.input.multiple_of
    low = max(width - multiple, 1) / (height + multiple) / (1 + ASPECT_TOLERANCE)
    high = math.inf if height <= multiple else (width + multiple) / (height - multiple) * (1 + ASPECT_TOLERANCE)
    return low, high


def aspect_problem(spec: ModelSpec, image_hw: tuple[int, int]) -> str | None:
    """Why a fixed-size export does not serve a camera image of ``image_hw`` (pixels, both > 0), or None when it
    does: its aspect is within :func:`served_aspects`, or the spec is not such an export (a model made elsewhere
    declares its own stretch). A network that pads a camera at its own size (``native_pad``: DINOv2's DPT) serves
    only the cameras it pads to the export's size, for the others whose padded size it runs at. One that reflect-pads
    the image before it resizes it (``reflect_pad``: ZoeDepth) is judged by the padded image's aspect, which is what
    its size was scaled from and what is stretched to the export's size. A keep-aspect spec that records the aspects
    its graph runs at (:func:`recorded_aspects`) serves the cameras whose network input is of one of them."""
    served = served_aspects(spec)
    if served is not None and spec.input.keep_aspect:
        return _recorded_problem(spec, image_hw, served)
    source = source_input(spec)
    if served is None or source is None:
        return None
    height, width = image_hw
    fixed_h, fixed_w = spec.input.height, spec.input.width
    remedy = (
        f"export it for this camera: `mono-depth export WEIGHTS --out DIR --camera HxW` with --camera {height}x{width}"
    )
    padded = padded_size(image_hw, source.multiple_of)
    if source.native_pad and network_input_size(image_hw, source) == padded:
        if padded == (fixed_h, fixed_w):
            return None
        return (
            f"a {height}x{width} image is not for this model: it was exported at a fixed {fixed_h}x{fixed_w} from a "
            f"network that runs a camera at its own size padded to a multiple of {source.multiple_of}, which pads it "
            f"to {padded[0]}x{padded[1]}; resized to the export's size, its depth would be at another scale; {remedy}"
        )
    pads = reflect_pads(image_hw) if source.reflect_pad else None
    aspect = width / height if pads is None else (width + 2 * pads[1]) / (height + 2 * pads[0])
    if served[0] <= aspect <= served[1]:
        return None
    note = "" if pads is None else ", reflect-padded as the network pads it"
    return (
        f"a {height}x{width} image (aspect {aspect:.2f}{note}) is not for this model: it was exported at a fixed "
        f"{fixed_h}x{fixed_w} (aspect {fixed_w / fixed_h:.2f}) from a network that keeps the camera's aspect, and "
        f"stretched to that size its depth would be of a distorted scene; {remedy}"
    )


def _recorded_problem(spec: ModelSpec, image_hw: tuple[int, int], served: tuple[float, float]) -> str | None:
    """:func:`aspect_problem` for a keep-aspect spec whose graph runs at the network input aspects ``served`` only."""
    input_h, input_w = network_input_size(image_hw, spec.input)
    aspect = input_w / input_h
    if served[0] <= aspect <= served[1]:
        return None
    height, width = image_hw
    bounds = f"at least {served[0]:.2f}" if math.isinf(served[1]) else f"{served[0]:.2f} to {served[1]:.2f}"
    shape = "portrait " if height > width else ""
    return (
        f"a {shape}{height}x{width} camera image is not for this model: kept in aspect it runs at "
        f"{input_h}x{input_w} (aspect {aspect:.2f}), and its graph runs at network input aspects (width / height) "
        f"{bounds} only (its spec's params.{SERVED_ASPECTS_KEY}: mono-depth spec --keep-aspect found it failing at "
        f"others); for this camera "
        f"write a spec with --pad --input-size HxW in place of --keep-aspect (the image fitted inside a size it runs "
        f"at, the rest padded), or re-export the graph so that it runs at this aspect"
    )
