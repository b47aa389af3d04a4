"""ModelSpec: everything needed to run a checkpoint, stored inside it (no other configuration needed).

Output kinds (what the network's raw output means):

* ``metric``             depth in metres.
* ``depth_up_to_scale``  depth × unknown scale s (self-supervised, monodepth2-style).
* ``relative_inverse``   inverse depth up to unknown scale and shift (MiDaS / Depth Anything "relative").
* ``affine_depth``       depth up to unknown scale and shift (Marigold; Prompt Depth Anything without its prompt).
* ``metric_focal``       depth × D / focal px of the network input, D the spec's ``metric_focal_divisor`` (300:
                         Depth Anything 3 metric; 1000: Metric3D's canonical camera); made metres by the model
                         runner with the camera's focal length.
* ``canonical_inverse``  Depth Pro's canonical inverse depth f / (w · depth), f the focal length in pixels of the
                         network input along its width w; made metres by the model runner, 1 / clamp(v · w / f,
                         1e-4, 1e4) as Apple's ``infer`` and transformers' post-processing do, with the camera's
                         focal length, else the graph's own (its ``focal_output`` in pixels, or ``fov_output``:
                         a horizontal field of view in degrees, w / f = 2 tan(fov / 2)).
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import CheckpointError

__all__ = ["OutputKind"]  # re-exported: the kinds live in core.depth_kind


SPEC_REMEDY = (
    "the spec inside the checkpoint (or its sidecar) is wrong: re-save the checkpoint with save_checkpoint from the "
    "network that made it, or write the sidecar again (mono-depth spec MODEL)"
)


def _whole_field(owner: str, name: str, value: Any) -> int:
    """A spec field that is a whole number (an int, or a float without a fraction: 64.0), as an int.

    Raises:
        CheckpointError: a bool, a string, a fraction (64.5), naming ``owner name=value`` and the remedy.
    """
    whole = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not whole or value != int(value):
        msg = f"{owner} {name}={value!r} is not a whole number; {SPEC_REMEDY}"
        raise CheckpointError(msg)
    return int(value)


def _bool_field(owner: str, name: str, value: Any) -> None:
    """Refuse a spec field that should be true or false but is not a bool (1, "no": truthy or not, no one meaning).

    Raises:
        CheckpointError: naming ``owner name=value`` and the remedy.
    """
    if not isinstance(value, bool):
        msg = f"{owner} {name}={value!r} is not true or false; {SPEC_REMEDY}"
        raise CheckpointError(msg)


def _number_field(owner: str, name: str, value: Any) -> float:
    """A spec field that is a finite number (not a bool, not a string), as a float.

    Raises:
        CheckpointError: naming ``owner name=value`` and the remedy.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        msg = f"{owner} {name}={value!r} is not a finite number; {SPEC_REMEDY}"
        raise CheckpointError(msg)
    return float(value)


@dataclass(frozen=True)
class InputPolicy:
    """How a camera image is resized before the network.

    Attributes:
        height, width: fixed network input size (pixels) when ``keep_aspect`` is False.
        keep_aspect: resize keeping the aspect ratio so that the short side is ``height`` (or the long side is
            capped at ``max_long_side``), then round both sides to a multiple of ``multiple_of``.
        multiple_of: 32 for the encoder-decoder, 14 for ViT (Depth Anything) patches.
        max_long_side: cap on the long side (pixels) so that a wide camera never runs at e.g. 518×1722.
        pad: with ``keep_aspect`` False, fit the image inside ``height`` × ``width`` keeping its aspect, centred,
            and fill the rest with the mean colour (0 after normalisation; Metric3D's fixed-size ONNX), instead of
            stretching it to that size; the engine crops the padding off the output.
        least_scale: with ``keep_aspect``, scale by whichever of ``height`` / image height and ``width`` / image
            width is nearer 1 (transformers' DPT, Depth Anything, ZoeDepth and Prompt Depth Anything processors:
            "scale as little as possible"), then cap and round as above: a camera larger than the box has its
            short side fitted, a smaller one fits inside the box instead of being enlarged to its short side.
        interpolation: resampling filter of the camera image, ``bilinear`` or ``bicubic`` (PIL's, as transformers'
            processors with ``resample: 3``: Depth Anything, DPT, Prompt Depth Anything).
        reflect_pad: ZoeDepth's ``do_pad``: the image lies in the input where ZoeDepthImageProcessor puts it (the
            camera image padded by ``int(3·sqrt(side / 2))`` px each side, the padded image resized to the input),
            the rest is its reflection; the engine reads the output at the image's fractional window of it
            (:func:`~.preprocess.reflect_pad_window`), not at a crop of whole pixels.
        antialias: shrink the camera image with an antialiasing filter (PIL's, as most processors); False: sample
            it without one, as Depth Pro's processor (and Apple's code) does.
        native_floor: with ``keep_aspect``, GLPN's processor (no resize, each side floored to ``multiple_of``): a
            camera whose short side floors to ``height`` runs at its own size floored on each side (KITTI's
            375×1242 at 352×1216 under GLPN-KITTI, not 352×1152), within ``max_long_side``; others keep aspect.
        native_pad: DPT's ``do_pad`` with ``size_divisor`` and no resize (DINOv2's depth heads): a camera runs at its
            own size, centre-padded to a multiple of ``multiple_of`` with the mean colour (KITTI's 370×1224 at
            378×1232, NYU's 480×640 at 490×644), when that fits ``height`` (rounded up to the multiple) on the short
            side and ``max_long_side`` on the long one (with ``keep_aspect``; without it, when it is ``height`` ×
            ``width``); a larger camera is resized as the other settings say. The engine crops the padding off the
            output.
        pad_colour: RGB in [0, 1] of the padding of ``pad`` / ``native_pad`` (empty: the spec's mean, 0 after
            normalisation). A graph that normalises inside and takes pixels (mean 0, std 1/255) needs its own
            mean colour here: Metric3D's ONNX pads with ImageNet's mean (0.485, 0.456, 0.406), not black.
    """

    height: int = 192
    width: int = 640
    keep_aspect: bool = False
    multiple_of: int = 32
    max_long_side: int = 1280
    pad: bool = False
    least_scale: bool = False
    interpolation: str = "bilinear"
    reflect_pad: bool = False
    antialias: bool = True
    native_floor: bool = False
    native_pad: bool = False
    pad_colour: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name in ("height", "width", "multiple_of", "max_long_side"):
            object.__setattr__(self, name, _whole_field("input", name, getattr(self, name)))
        for name in ("keep_aspect", "pad", "least_scale", "reflect_pad", "antialias", "native_floor", "native_pad"):
            _bool_field("input", name, getattr(self, name))
        sides = {"height": self.height, "width": self.width, "max_long_side": self.max_long_side}
        for name, value in sides.items():  # bound memory from the declared sizes before anything is allocated
            if not 0 < int(value) <= MAX_INPUT_SIDE:
                msg = (
                    f"model input {name}={value} must be in 1..{MAX_INPUT_SIDE} pixels; the spec (or its sidecar) "
                    f"is wrong, or the model is not made for on-line use"
                )
                raise CheckpointError(msg)
        if not 0 < int(self.multiple_of) <= 512:
            msg = f"model input multiple_of={self.multiple_of} must be in 1..512"
            raise CheckpointError(msg)
        if self.pad and self.keep_aspect:
            msg = "model input pad fits the image inside a fixed size: it needs keep_aspect false"
            raise CheckpointError(msg)
        if self.pad and self.reflect_pad:
            msg = "model input pad (mean colour) and reflect_pad (ZoeDepth's reflection) exclude each other"
            raise CheckpointError(msg)
        if self.native_pad and (self.pad or self.reflect_pad):
            msg = "model input native_pad (DPT's centre padding) excludes pad (a letterbox) and reflect_pad (ZoeDepth)"
            raise CheckpointError(msg)
        if self.native_floor and not self.keep_aspect:
            msg = "model input native_floor rounds a camera's own size: it needs keep_aspect true"
            raise CheckpointError(msg)
        if self.least_scale and not self.keep_aspect:
            msg = "model input least_scale chooses how to keep the aspect: it needs keep_aspect true"
            raise CheckpointError(msg)
        if self.interpolation not in ("bilinear", "bicubic"):
            msg = f"model input interpolation {self.interpolation!r} must be bilinear or bicubic"
            raise CheckpointError(msg)
        self._check_pad_colour()

    def record(self) -> dict[str, Any]:
        """The policy as a plain dict (a spec's ``input``, an export's recorded source policy), each field that has
        its unused value left out: older readers, which know fewer fields, still load what uses none of theirs."""
        data = asdict(self)
        for key, unused in _UNUSED_INPUT_VALUES.items():
            if data[key] == unused:
                del data[key]
        return data

    def _check_pad_colour(self) -> None:
        """Store ``pad_colour`` as a tuple; refuse one that is not three numbers in [0, 1], or one without padding."""
        colour = self.pad_colour
        try:
            values = tuple(float(value) for value in colour) if not isinstance(colour, str | bytes) else (math.nan,)
        except (TypeError, ValueError):
            values = (math.nan,)
        if values and (len(values) != 3 or not all(0.0 <= value <= 1.0 for value in values)):
            msg = (
                f"model input pad_colour={colour!r} must be three numbers R, G, B in [0, 1] (Metric3D: ImageNet's mean "
                f"0.485, 0.456, 0.406), or empty for the spec's mean; {SPEC_REMEDY}"
            )
            raise CheckpointError(msg)
        if values and not (self.pad or self.native_pad):
            msg = f"model input pad_colour={list(values)} colours the padding: it needs pad or native_pad true"
            raise CheckpointError(msg)
        object.__setattr__(self, "pad_colour", values)


def _field_defaults(cls: type, names: tuple[str, ...]) -> dict[str, Any]:
    """The defaults of the dataclass ``cls``'s fields ``names`` (read from the class: no second copy to drift)."""
    defaults = {item.name: item.default for item in fields(cls)}
    return {name: defaults[name] for name in names}


_UNUSED_INPUT_VALUES: dict[str, Any] = _field_defaults(
    InputPolicy,
    ("pad", "least_scale", "interpolation", "reflect_pad", "antialias", "native_floor", "native_pad", "pad_colour"),
)
"""Input policy fields newer than the first spec format, with the value that leaves them unused, their default (left
out of the JSON: :meth:`InputPolicy.record`)."""

METRIC_FOCAL_DIVISOR = 300.0
"""Depth Anything 3's convention for ``metric_focal`` outputs: metres = output × focal px / 300."""


PIXEL_MEAN = (0.0, 0.0, 0.0)
PIXEL_STD = (1 / 255, 1 / 255, 1 / 255)
"""The normalisation that hands a graph pixels in 0..255 (what an integer image input takes)."""


def gives_pixels(mean: tuple[float, ...], std: tuple[float, ...]) -> bool:
    """Whether ``mean`` / ``std`` (for RGB in [0, 1]) give pixels in 0..255: mean 0 and std 1/255 per channel."""
    return all(m == 0 for m in mean) and all(math.isclose(s * 255.0, 1.0, rel_tol=1e-3) for s in std)


MAX_INPUT_SIDE = 8192
"""Largest network input side a spec may declare (an 8192² RGB float input is already 805 MB)."""


def _check_normalisation(mean: Any, std: Any) -> None:
    """Refuse a mean / std that cannot be for RGB in [0, 1]: not three numbers each, a std <= 0 (a division by zero),
    or a mean or std above 1 (0..255 units: the message gives them divided by 255).

    Raises:
        CheckpointError: naming the values and the remedy.
    """
    try:
        values = [float(v) for v in (*mean, *std)] if len(mean) == 3 and len(std) == 3 else []
    except (TypeError, ValueError):
        values = []
    if len(values) != 6:
        msg = f"ModelSpec mean {mean!r} and std {std!r} must be three numbers each (R, G, B, for RGB in [0, 1])"
        raise CheckpointError(msg)
    means, stds = values[:3], values[3:]
    if all(math.isfinite(v) for v in values) and all(0.0 <= m <= 1.0 for m in means) and all(0 < s <= 1 for s in stds):
        return
    msg = f"ModelSpec mean {tuple(mean)} / std {tuple(std)} are not for RGB in [0, 1] (mean in 0..1, std in (0, 1])"
    if max(values) > 1.0 and all(s > 0 for s in stds):
        scaled = ",".join(f"{m / 255:.3f}" for m in means), ",".join(f"{s / 255:.3f}" for s in stds)
        msg += (
            f"; values in 0..255 units divide by 255: mean {scaled[0]} and std {scaled[1]} (mono-depth spec --mean "
            f"{scaled[0]} --std {scaled[1]})"
        )
    else:
        msg += "; a graph that takes 0..255 pixels has mean 0,0,0 and std 1/255 each"
    raise CheckpointError(msg)


@dataclass(frozen=True)
class ModelSpec:
    """Architecture + hyper-parameters + preprocessing + output meaning of a checkpoint.

    Attributes:
        architecture: registry name (``unet``, ``depth_anything_v2``, ...).
        params: architecture hyper-parameters (JSON-serialisable).
        input: resize policy.
        mean, std: per-channel normalisation of RGB in [0, 1].
        output_kind: see :class:`OutputKind`.
        min_depth_m, max_depth_m: depth range of the output (metres, or scaled units for relative kinds).
        backend: ``torch`` | ``onnx`` | ``torchscript``: what the weights file holds.
        output_name: the graph output that holds the depth, for exported models with several outputs (empty: the
            only output, or the one named ``depth`` / ``predicted_depth``).
        sky_output: the graph output of a sky mask or sky probability (Depth Anything 3); its pixels above
            ``sky_threshold`` are published as +Inf (REP 117: beyond range). Empty: none.
        sky_threshold: sky when the sky output exceeds this.
        training_focal: ``(fx / width, fy / height)`` of the images the network was trained on, as it saw them
            (focal length over image size per axis, unitless; KITTI ~(0.58, 1.92)); empty when unknown. A metric
            network's scale belongs to that camera (``core.training_camera`` words the warning for another one).
        metric_focal_divisor: D of a ``metric_focal`` output, metres = output × focal px / D: the focal length in
            pixels of the camera the output is metric for (300: Depth Anything 3; 1000: Metric3D's canonical camera).
        focal_output: the graph output of the focal length in pixels of the network input along its width (a Depth
            Pro export's field-of-view head as a focal length), read for a ``canonical_inverse`` output when no
            camera focal length is known; for a ``metric`` output (a Depth Pro export whose depth is metres made with
            this focal, as Apple's ``infer`` without ``f_px``), its metres are rescaled by the camera's focal over
            this one when the camera's is known. Empty: none (a canonical_inverse output needs the camera's).
        fov_output: the graph output of the horizontal field of view of the network input in degrees, one per image
            (transformers' ``DepthProForDepthEstimation`` exported: ``field_of_view``; its input's width over its
            focal is ``2 tan(fov / 2)``), read as ``focal_output`` is; at most one of the two. Empty: none.
    """

    architecture: str
    params: dict[str, Any] = field(default_factory=dict)
    input: InputPolicy = field(default_factory=InputPolicy)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    output_kind: OutputKind = OutputKind.METRIC
    min_depth_m: float = 0.1
    max_depth_m: float = 100.0
    backend: str = "torch"
    output_name: str = ""
    sky_output: str = ""
    sky_threshold: float = 0.5
    training_focal: tuple[float, ...] = ()
    metric_focal_divisor: float = METRIC_FOCAL_DIVISOR
    focal_output: str = ""
    fov_output: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "output_kind", OutputKind.parse(str(getattr(self.output_kind, "value", self.output_kind)))
        )
        try:
            focal = tuple(float(value) for value in self.training_focal)
        except (TypeError, ValueError):
            focal = (math.nan,)
        if focal and (len(focal) != 2 or not all(0.0 < value < 1e3 for value in focal)):
            msg = (
                f"ModelSpec training_focal={self.training_focal!r} must be [fx / width, fy / height] of the "
                f"training images (two positive numbers, KITTI ~[0.58, 1.92]) or empty when unknown"
            )
            raise CheckpointError(msg)
        object.__setattr__(self, "training_focal", focal)
        _check_normalisation(self.mean, self.std)
        divisor = self.metric_focal_divisor
        if isinstance(divisor, bool) or not isinstance(divisor, int | float) or not 0.0 < divisor < 1e6:
            msg = (
                f"ModelSpec metric_focal_divisor={divisor!r} must be a positive focal length in pixels (300: Depth "
                f"Anything 3; 1000: Metric3D)"
            )
            raise CheckpointError(msg)
        object.__setattr__(self, "metric_focal_divisor", float(divisor))
        kinds = {
            "focal_output": (OutputKind.CANONICAL_INVERSE, OutputKind.METRIC),
            "fov_output": (OutputKind.CANONICAL_INVERSE,),
        }
        for name, read_for in kinds.items():
            if getattr(self, name) and self.output_kind not in read_for:
                msg = (
                    f"ModelSpec {name}={getattr(self, name)!r} is read for a "
                    f"{' or '.join(kind.value for kind in read_for)} output (Depth Pro) only, not "
                    f"{self.output_kind.value}; {SPEC_REMEDY}"
                )
                raise CheckpointError(msg)
        graph_output = self.focal_output or self.fov_output
        if graph_output and self.backend != "onnx":  # only OnnxBackend reads it: elsewhere it would pass unread
            name = "focal_output" if self.focal_output else "fov_output"
            msg = (
                f"ModelSpec {name}={graph_output!r} names an ONNX graph output, but its backend is {self.backend!r}, "
                f"which returns its depth only (the output would be ignored: a metric map kept at the graph's focal "
                f"with a camera known); {SPEC_REMEDY}"
            )
            raise CheckpointError(msg)
        if self.focal_output and self.fov_output:
            msg = (
                f"ModelSpec names both focal_output={self.focal_output!r} (a focal length in pixels) and "
                f"fov_output={self.fov_output!r} (a field of view in degrees): keep the one the graph has; "
                f"{SPEC_REMEDY}"
            )
            raise CheckpointError(msg)
        for name in ("min_depth_m", "max_depth_m", "sky_threshold"):
            object.__setattr__(self, name, _number_field("ModelSpec", name, getattr(self, name)))
        if not 0.0 < self.min_depth_m < self.max_depth_m:
            msg = f"ModelSpec needs 0 < min_depth_m ({self.min_depth_m}) < max_depth_m ({self.max_depth_m})"
            raise CheckpointError(msg)

    def to_json(self) -> str:
        """Serialise to a JSON string (stored in the safetensors metadata under ``mono_depth_spec``)."""
        data = asdict(self)
        data["output_kind"] = self.output_kind.value
        for key, default in _OPTIONAL_DEFAULTS.items():  # absent when unused: older readers still load the spec
            if data[key] == default:
                del data[key]
        data["input"] = self.input.record()  # its fields absent when unused, as above
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        """Inverse of :meth:`to_json`; unknown keys raise :class:`CheckpointError`."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as err:  # RecursionError: nested thousands deep
            msg = f"ModelSpec metadata is not valid JSON: {str(err)[:200]}"
            raise CheckpointError(msg) from None
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            msg = f"ModelSpec metadata has unknown keys {sorted(unknown)}; written by a newer version?"
            raise CheckpointError(msg)
        if "input" in data:
            data["input"] = InputPolicy(**data["input"])
        for key in ("mean", "std"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


_OPTIONAL_DEFAULTS: dict[str, Any] = _field_defaults(
    ModelSpec,
    (
        "output_name",
        "sky_output",
        "sky_threshold",
        "training_focal",
        "metric_focal_divisor",
        "focal_output",
        "fov_output",
    ),
)
"""Spec fields newer than the first spec format, left out of the JSON when they hold their default
(:meth:`ModelSpec.to_json`)."""

LEFT_OUT_DEFAULTS: dict[str, Any] = {
    **_OPTIONAL_DEFAULTS,
    **{f"input.{key}": value for key, value in _UNUSED_INPUT_VALUES.items()},
}
"""The fields :meth:`ModelSpec.to_json` leaves out when they hold these values (dotted as in its JSON: ``input.pad``),
so a spec's JSON that lacks one has that value: the dataclasses' defaults."""
