"""The image input of a model made elsewhere, read from its declared shape, and its output as (B, 1, H, W).

Community ONNX exports take the image as ``(B, 3, H, W)`` (PyTorch), ``(B, H, W, 3)`` (TensorFlow / tf2onnx), or
either without the batch axis; any of H, W (and the batch) may be fixed integers or free (a name, or None).
:func:`image_input` tells the layout from the position of the 3, and :meth:`ImageInput.arrange` puts the engine's
(B, 3, H, W) batch into it. The depth output comes back as (B, 1, H, W), (B, H, W), (B, H, W, 1), or, for a batch of
one, (H, W) / (H, W, 1): :func:`as_b1hw` lifts each to (B, 1, H, W), and :func:`depth_map` refuses an output that
is not one map per image (depth and confidence stacked in one output: (2, H, W) for one image is no batch of two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from mono_depth_ros.core.errors import CheckpointError, ShapeError

LAYOUTS = ("NCHW", "NHWC", "CHW", "HWC")
"""Image input layouts a graph may take (N: batch, C: the three RGB channels)."""

HW_AXES: dict[str, tuple[int, int]] = {"NCHW": (2, 3), "NHWC": (1, 2), "CHW": (1, 2), "HWC": (0, 1)}
"""The positions of the height and width axes in each of :data:`LAYOUTS`."""


def declared_hw(layout: str, dims: list[Any]) -> tuple[Any, Any] | None:
    """The declared (height, width) sizes of an input of ``layout`` declared with ``dims`` (ONNX Runtime's
    ``NodeArg.shape``: ints, symbolic names or None, as declared), or None for a layout not in :data:`LAYOUTS` or
    ``dims`` too short for it."""
    axes = HW_AXES.get(layout)
    if axes is None or len(dims) <= max(axes):
        return None
    return dims[axes[0]], dims[axes[1]]


def _is_three(size: Any) -> bool:
    return size in (3, "3") and not isinstance(size, bool)


def _fixed(size: Any) -> int | None:
    """A declared axis size: an int when fixed, None when free (a symbolic name, None, or a non-positive int)."""
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None


@dataclass(frozen=True)
class ImageInput:
    """An image input: its name, layout and fixed sizes.

    Attributes:
        name: the graph input's name.
        layout: one of :data:`LAYOUTS`.
        height, width: fixed size in pixels, or None when the graph takes any.
        batch: fixed batch size, or None (free, or no batch axis).
    """

    name: str
    layout: str
    height: int | None = None
    width: int | None = None
    batch: int | None = None

    @property
    def fixed_hw(self) -> tuple[int, int] | None:
        """(height, width) when both are fixed, else None."""
        return (self.height, self.width) if self.height is not None and self.width is not None else None

    def arrange(self, batch: Tensor) -> Tensor:
        """The engine's (B, 3, H, W) batch in this layout (a view; a layout without a batch axis takes B = 1)."""
        if self.layout == "NHWC":
            return batch.permute(0, 2, 3, 1)
        if self.layout == "CHW":
            return batch[0]
        if self.layout == "HWC":
            return batch[0].permute(1, 2, 0)
        return batch

    def size_problem(self, height: int, width: int, keep_aspect: bool) -> str | None:
        """Why a spec resizing to ``height`` x ``width`` (``keep_aspect``: short side ``height``, any long side)
        cannot feed this input, with the remedy; None when it can (a fully fixed input always can: the engine
        then runs at the graph's size)."""
        if self.fixed_hw is not None:
            return None
        sides = (("height", self.height, height), ("width", self.width, width))
        fixed = [(name, size, asked) for name, size, asked in sides if size is not None]
        if not fixed:
            return None
        name, size, asked = fixed[0]
        if not keep_aspect and asked == size:
            return None
        example = f"{size}xW" if name == "height" else f"Hx{size}"
        resize = "resizing keeping aspect" if keep_aspect else f"at {height}x{width}"
        return (
            f"the graph takes a fixed {name} {size} and any {'width' if name == 'height' else 'height'}, but the "
            f"spec runs it {resize}; write the spec with --input-size {example} and without --keep-aspect"
        )


def image_input(name: str, shape: list[Any] | None, what: str) -> ImageInput:
    """The layout and fixed sizes of an image input declared with ``shape`` (ONNX Runtime's ``NodeArg.shape``).

    Rank 4: ``(B, 3, H, W)``, else ``(B, H, W, 3)``, else ``(B, C, H, W)`` with a free C. Rank 3: ``(3, H, W)`` or
    ``(H, W, 3)``.

    Raises:
        CheckpointError: another rank, no axis of three channels, or a fixed batch other than 1; ``what`` names
            the model in the message.
    """
    dims = list(shape or [])
    if len(dims) == 4:
        if _is_three(dims[1]) or (_fixed(dims[1]) is None and not _is_three(dims[3])):
            layout = "NCHW"
        elif _is_three(dims[3]):
            layout = "NHWC"
        else:
            layout = ""
    elif len(dims) == 3 and (_is_three(dims[0]) or _is_three(dims[2])):
        layout = "CHW" if _is_three(dims[0]) else "HWC"
    else:
        layout = ""
    sides = declared_hw(layout, dims)
    if sides is None:
        msg = (
            f"{what} input {name!r} of shape {dims} is not an RGB image: expected (B, 3, H, W), (B, H, W, 3), "
            f"(3, H, W) or (H, W, 3); re-export the model with one RGB image input"
        )
        raise CheckpointError(msg)
    batch = _fixed(dims[0]) if len(dims) == 4 else None
    if batch is not None and batch != 1:
        msg = f"{what} input {name!r} has a fixed batch of {batch} ({dims}); re-export it with batch 1 or a free batch"
        raise CheckpointError(msg)
    return ImageInput(name, layout, _fixed(sides[0]), _fixed(sides[1]), batch)


def as_b1hw(output: Tensor, batch_size: int) -> Tensor:
    """A depth output as float32 (B, 1, H, W): (B, H, W) and (B, H, W, 1) are lifted, and for a batch of one also
    (H, W) and (H, W, 1) (graphs that squeeze the unit axes, or take no batch axis). A view when it already is
    float32 (B, 1, H, W) or (B, H, W); other shapes are returned as they are, for the caller to refuse."""
    result = output.float()
    if result.ndim == 2 and batch_size == 1:
        return result[None, None]
    if result.ndim == 3 and batch_size == 1 and result.shape[0] != 1 and result.shape[2] == 1:  # (H, W, 1)
        return result.permute(2, 0, 1)[None].contiguous()
    if result.ndim == 3:
        return result.unsqueeze(1)
    if result.ndim == 4 and result.shape[1] != 1 and result.shape[3] == 1:  # (B, H, W, 1)
        return result.permute(0, 3, 1, 2).contiguous()
    return result


MAX_MAPS = 16
"""Most maps a declared channel axis holds (normals: 3; depth, confidence, sky: 3); a fixed axis longer than this
with a free last axis may be a height."""
STRIDE_REMEDY = (
    "a network that pads or crops its input to a multiple of its strides (14 for ViT patches, 32 for most CNNs) and "
    "returns the map of that size runs right only at sides that are such a multiple: write its spec with them "
    "(`--input-size HxW`, or `--keep-aspect --multiple-of M`)"
)
"""What to do about a map of the input padded or cropped to the network's stride (a side off its multiple)."""
MAP_SHAPES = "(B, 1, H, W), (B, H, W), (B, H, W, 1), or for one image (H, W) / (H, W, 1)"
"""The output shapes read as one depth map per image."""


def declared_map(shape: list[Any] | None) -> bool:
    """Whether an output declared with ``shape`` (ONNX Runtime's ``NodeArg.shape``) can be one map per image
    (:data:`MAP_SHAPES`): rank 2 to 4, and not several maps: a fixed count of 2 to :data:`MAX_MAPS` on the channel
    axis ((B, C, H, W), or (C, H, W) without a batch axis), or a fixed one over 1 with a fixed last axis other than 1
    (that axis is then the width, or the channels of (B, H, W, C)). Free axes (names, None) are checked on the first
    run (:func:`depth_map`)."""
    dims = list(shape or [])
    if len(dims) in (3, 4):
        channels, last = _fixed(dims[-3]), _fixed(dims[-1])
        if channels is None or channels == 1 or last == 1:
            return True
        return channels > MAX_MAPS and last is None
    return len(dims) == 2 or shape is None


def depth_map(
    output: Tensor,
    batch_size: int,
    what: str,
    remedy: str,
    input_hw: tuple[int, int] | None = None,
    aspect_remedy: str = "",
) -> Tensor:
    """``output`` as float32 (B, 1, H, W) (:func:`as_b1hw`), checked to hold one map per image of the batch, of the
    input's aspect.

    Args:
        output: what the model returned for the depth (or sky) map.
        batch_size: images in the batch it ran on.
        what: the model and its output, for the message (``ONNX model m.onnx output 'depth'``).
        remedy: what to do about another shape (name another output, re-export).
        input_hw: the (height, width) of the batch it ran on; None: the aspect is not checked.
        aspect_remedy: what to do about a map of another aspect (default: ``remedy``).

    Raises:
        ShapeError: not one single-channel map per image: (2, H, W) for one image (two maps stacked, without a
            batch axis) is not read as a batch of two whose first map would be published; or a map whose aspect
            is not the input's (:func:`same_aspect`: its axes swapped, a module that read the image in another
            layout, or a map of the input padded or cropped to the network's stride: :data:`STRIDE_REMEDY`), which
            would be stretched over the camera image; or a map of the input padded up (:func:`padded_multiple`) or
            cropped down (:func:`cropped_multiple`) to a multiple of the network's stride, whose padding or crop
            would be spread over the camera image, naming the size at which it pads or crops nothing. A map of
            :data:`COARSEST` or more input pixels per value (:func:`coarse_map`) is returned: a coarse depth map is
            still one (DORN's is 1/8 of its input), which the engine upsamples and says so once.
    """
    result = as_b1hw(output, batch_size)
    if result.ndim != 4 or result.shape[0] != batch_size or result.shape[1] != 1:
        images = f"{batch_size} image" + ("s" if batch_size != 1 else "")
        msg = f"{what} is {tuple(output.shape)} for {images}: not one depth map per image ({MAP_SHAPES}); {remedy}"
        raise ShapeError(msg)
    map_hw = (int(result.shape[2]), int(result.shape[3]))
    if input_hw is not None and not same_aspect(map_hw, input_hw):
        msg = (
            f"{what} is {tuple(output.shape)} for a {input_hw[0]}x{input_hw[1]} input: a {map_hw[0]}x{map_hw[1]} "
            f"map, not of its input's aspect (stretched over the camera image it would be the depth of no scene); "
            f"{aspect_remedy or remedy}; {STRIDE_REMEDY}"
        )
        raise ShapeError(msg)
    multiple = None if input_hw is None else padded_multiple(map_hw, input_hw)
    if input_hw is not None and multiple is not None:
        msg = (
            f"{what} is {tuple(output.shape)} for a {input_hw[0]}x{input_hw[1]} input: a {map_hw[0]}x{map_hw[1]} "
            f"map, its input padded to a multiple of {multiple} (where the padding lies the graph does not say: "
            f"stretched over the camera image, its rows and columns would be up to {map_hw[0] - input_hw[0]} and "
            f"{map_hw[1] - input_hw[1]} pixels off); run it at sides that are that multiple, where it pads nothing: "
            f"write its spec with `--input-size {map_hw[0]}x{map_hw[1]}`, or `--keep-aspect --multiple-of "
            f"{multiple}`, or re-export it with its crop back to the input's size"
        )
        raise ShapeError(msg)
    cropped = None if input_hw is None else cropped_multiple(map_hw, input_hw)
    if input_hw is not None and cropped is not None:
        msg = (
            f"{what} is {tuple(output.shape)} for a {input_hw[0]}x{input_hw[1]} input: a {map_hw[0]}x{map_hw[1]} "
            f"map, its input cropped to a multiple of {cropped} (which rows and columns the crop dropped the graph "
            f"does not say: stretched over the camera image, its rows and columns would be up to "
            f"{input_hw[0] - map_hw[0]} and {input_hw[1] - map_hw[1]} pixels off); run it at sides that are that "
            f"multiple, where it crops nothing: write its spec with `--input-size {map_hw[0]}x{map_hw[1]}`, or "
            f"`--keep-aspect --multiple-of {cropped}`"
        )
        raise ShapeError(msg)
    return result


COARSEST = 8
"""Input pixels per map value, on both sides, from which a model's map is worth a word: the patch grid of a ViT
(14, 16) with a linear depth head, a stride-8 CNN head (DORN), a multi-scale decoder's coarsest output (monodepth2's
scale 3, first in its outputs dict) or an export without its final upsampling. Most depth networks return their
input's resolution, or a half or a quarter of it."""


def too_coarse(map_hw: tuple[int, int], input_hw: tuple[int, int]) -> bool:
    """Whether a ``map_hw`` map of an ``input_hw`` input holds one value per :data:`COARSEST` or more input pixels
    on both sides (26x88 for 375x1242: DINOv2's patch grid)."""
    return all(side * COARSEST <= seen for side, seen in zip(map_hw, input_hw, strict=True))


def coarse_map(map_hw: tuple[int, int], input_hw: tuple[int, int]) -> str | None:
    """What a :func:`too_coarse` map is, for the log and ``/diagnostics`` (``26x88 for a 375x1242 input, one value
    per 14x14 pixels``); None for a finer one."""
    if not too_coarse(map_hw, input_hw):
        return None
    rows, cols = input_hw[0] / map_hw[0], input_hw[1] / map_hw[1]
    return (
        f"{map_hw[0]}x{map_hw[1]} for a {input_hw[0]}x{input_hw[1]} input, one value per {rows:.0f}x{cols:.0f} pixels"
    )


STRIDE_MULTIPLES = (64, 32, 16, 14, 8)
"""Multiples a network pads its input to (largest first): CNN strides (8 to 64), ViT patches (14)."""


def padded_multiple(map_hw: tuple[int, int], input_hw: tuple[int, int]) -> int | None:
    """The multiple of :data:`STRIDE_MULTIPLES` that ``input_hw`` was padded up to for the map to be ``map_hw``
    pixels (each side the input's rounded up to it, at least one larger: a graph that pads internally and returns
    the padded map), or None: the map is the input's size, smaller (strides; a crop to whole patches:
    :func:`cropped_multiple`), an integer enlargement of it, or larger by another amount."""
    if map_hw == input_hw or any(m < i for m, i in zip(map_hw, input_hw, strict=True)):
        return None
    if (
        all(m % i == 0 for m, i in zip(map_hw, input_hw, strict=True))
        and len({m // i for m, i in zip(map_hw, input_hw, strict=True)}) == 1
    ):
        return None  # an integer enlargement (a decoder that upsamples past its input)
    for multiple in STRIDE_MULTIPLES:
        if all(m == -(-i // multiple) * multiple for m, i in zip(map_hw, input_hw, strict=True)):
            return multiple
    return None


def cropped_multiple(map_hw: tuple[int, int], input_hw: tuple[int, int]) -> int | None:
    """The multiple of :data:`STRIDE_MULTIPLES` that ``input_hw`` was cropped down to for the map to be ``map_hw``
    pixels (each side the input's rounded down to it, at least one smaller: a ViT whose patch embedding drops the
    pixels past its last whole patch and returns the map of what is left, 375x1242 -> 364x1232 at 14), or None: the
    map is the input's size, larger, or smaller by another amount (a network's strides: a map at a lower
    resolution of the whole input)."""
    if map_hw == input_hw or any(m > i for m, i in zip(map_hw, input_hw, strict=True)):
        return None
    for multiple in STRIDE_MULTIPLES:
        if all(m == i // multiple * multiple for m, i in zip(map_hw, input_hw, strict=True)):
            return multiple
    return None


ASPECT_TOLERANCE = 0.1
"""Relative difference of aspect (width / height) beyond a map's rounding to whole pixels that is refused."""


def same_aspect(map_hw: tuple[int, int], input_hw: tuple[int, int]) -> bool:
    """Whether a map of ``map_hw`` pixels can be the depth of an input of ``input_hw`` at another resolution (a
    network's strides, ViT patches): the input's aspect lies within the aspects of maps one pixel larger or smaller
    per side, widened by :data:`ASPECT_TOLERANCE`."""
    height, width = map_hw
    low = max(width - 1, 1) / (height + 1) / (1 + ASPECT_TOLERANCE)
    high = math.inf if height <= 1 else (width + 1) / (height - 1) * (1 + ASPECT_TOLERANCE)
    return low <= input_hw[1] / input_hw[0] <= high


def _error_detail(err: BaseException) -> str:
    """The line that says what went wrong: the last one of a TorchScript interpreter traceback (the original
    error), else the whole message on one line (ONNX Runtime's name the node and the shapes), at most 400 chars."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    detail = lines[-1] if "Traceback of TorchScript" in str(err) else " ".join(lines)
    return detail if len(detail) <= 400 else detail[:397] + "..."


def failed_run(what: str, shape: tuple[int, ...], err: BaseException, transposed_ran: bool = False) -> CheckpointError:
    """The error for a model made elsewhere that failed to run on an input of ``shape`` (the engine's (B, 3, H, W)):
    most often a graph exported or traced at one size run at another, or a side its strides do not divide.
    ``transposed_ran``: it ran at the same sides the other way round (``spec --keep-aspect``'s portrait trial), so the
    failure is by aspect and no --multiple-of is named (its sides are ones its strides divide)."""
    if transposed_ran:
        height, width = shape[-2:]
        msg = (
            f"{what} failed on a {tuple(shape)} input ({_error_detail(err)}); it ran at {width}x{height}, the same "
            f"sides the other way round: its network does not run at this aspect, whatever multiple its strides need"
        )
        return CheckpointError(msg)
    msg = (
        f"{what} failed on a {tuple(shape)} input ({_error_detail(err)}); write its spec for the input it takes: "
        f"`mono-depth spec MODEL --kind KIND --input-size HxW` at the size it was made for, without --keep-aspect (a "
        f"model exported or traced at one size often runs at that size only), or with --keep-aspect the --multiple-of "
        f"its network needs (14 for ViT patches, 32 for most CNNs)"
    )
    return CheckpointError(msg)
