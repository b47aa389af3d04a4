"""ModelSpec and its input policy: sizes are bounded before anything is allocated; the training camera record."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.spec import LEFT_OUT_DEFAULTS, InputPolicy, ModelSpec


@pytest.mark.parametrize("sides", [{"height": 100_000, "width": 100_000}, {"height": 0}, {"max_long_side": 10**6}])
def test_a_spec_declaring_an_absurd_input_is_refused_before_allocating(sides: dict[str, int]) -> None:
    with pytest.raises(CheckpointError, match=r"must be in 1\.\.8192 pixels"):
        InputPolicy(**sides)


def test_training_focal_round_trips_and_is_left_out_of_the_json_when_unknown() -> None:
    spec = ModelSpec("unet", training_focal=(0.58, 1.93))
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert json.loads(spec.to_json())["training_focal"] == [0.58, 1.93]
    unknown = ModelSpec("unet")
    assert "training_focal" not in json.loads(unknown.to_json())  # readable by a version without the field
    assert ModelSpec.from_json(unknown.to_json()).training_focal == ()


@pytest.mark.parametrize("focal", [[0.58], [0.58, 1.9, 1.0], [0.58, -1.0], [0.0, 1.9], [math.nan, 1.9], "ab", 5])
def test_a_malformed_training_focal_is_refused_naming_what_it_must_be(focal: Any) -> None:
    text = json.dumps({"architecture": "unet", "training_focal": focal})
    with pytest.raises(CheckpointError, match=r"training_focal=.* must be \[fx / width, fy / height\]"):
        ModelSpec.from_json(text)


def test_a_normalisation_in_0_to_255_units_is_refused_with_the_values_divided_by_255() -> None:
    """MiDaS / Metric3D configs list mean 123.675, 116.28, 103.53 and std 58.395, 57.12, 57.375 for 0..255 pixels;
    copied into a spec (for RGB in [0, 1]) every input became about -2.1 and the model saw a flat grey image."""
    with pytest.raises(CheckpointError, match=r"not for RGB in \[0, 1\].*mean 0\.485,0\.456,0\.406 and std 0\.229,"):
        ModelSpec("onnx_graph", mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))
    with pytest.raises(CheckpointError, match=r"std \(0\.0, 0\.2, 0\.2\)"):
        ModelSpec("onnx_graph", std=(0.0, 0.2, 0.2))  # a division by zero
    with pytest.raises(CheckpointError, match=r"three numbers"):
        ModelSpec.from_json(json.dumps({"architecture": "onnx_graph", "mean": [0.5, 0.5]}))
    assert ModelSpec("onnx_graph", mean=(0.0,) * 3, std=(1 / 255,) * 3).std[0] == 1 / 255  # a graph taking 0..255
    assert ModelSpec("onnx_graph", mean=(0.5,) * 3, std=(0.5,) * 3).mean == (0.5, 0.5, 0.5)  # [-1, 1]


def test_pad_round_trips_is_left_out_when_unused_and_needs_a_fixed_size() -> None:
    padded = ModelSpec("onnx_graph", input=InputPolicy(616, 1064, pad=True))
    assert ModelSpec.from_json(padded.to_json()) == padded
    assert "pad" not in json.loads(ModelSpec("onnx_graph").to_json())["input"]  # readable by a version without it
    with pytest.raises(CheckpointError, match=r"pad .* needs keep_aspect false"):
        InputPolicy(518, 518, keep_aspect=True, pad=True)


def test_reflect_pad_round_trips_is_left_out_when_unused_and_excludes_the_mean_colour_pad() -> None:
    """ZoeDepth's padding, done by the engine: a spec saved with it (an export sidecar) keeps it."""
    padded = ModelSpec("onnx_graph", input=InputPolicy(384, 512, keep_aspect=True, reflect_pad=True))
    assert ModelSpec.from_json(padded.to_json()) == padded
    assert "reflect_pad" not in json.loads(ModelSpec("onnx_graph").to_json())["input"]
    with pytest.raises(CheckpointError, match=r"pad .* and reflect_pad .* exclude each other"):
        InputPolicy(616, 1064, pad=True, reflect_pad=True)


def test_native_floor_round_trips_is_left_out_when_unused_and_needs_keep_aspect() -> None:
    """GLPN's processor rule (a camera of the training resolution at its own size floored to 32): kept in a spec."""
    glpn = ModelSpec("onnx_graph", input=InputPolicy(352, 352, keep_aspect=True, max_long_side=1216, native_floor=True))
    assert ModelSpec.from_json(glpn.to_json()) == glpn
    assert "native_floor" not in json.loads(ModelSpec("onnx_graph").to_json())["input"]
    with pytest.raises(CheckpointError, match=r"native_floor .* needs keep_aspect true"):
        InputPolicy(352, 1216, native_floor=True)


def test_native_pad_round_trips_is_left_out_when_unused_and_excludes_the_other_paddings() -> None:
    """DPT's centre padding to 14 (DINOv2's depth heads): kept in a spec (an export sidecar), absent by default."""
    dino = ModelSpec("onnx_graph", input=InputPolicy(480, 480, keep_aspect=True, multiple_of=14, native_pad=True))
    assert ModelSpec.from_json(dino.to_json()) == dino
    assert "native_pad" not in json.loads(ModelSpec("onnx_graph").to_json())["input"]
    for other in ({"pad": True}, {"reflect_pad": True}):
        with pytest.raises(CheckpointError, match=r"native_pad .* excludes pad .* and reflect_pad"):
            InputPolicy(378, 1246, native_pad=True, **other)


def test_antialias_off_round_trips_and_is_left_out_when_on() -> None:
    """Depth Pro's resize without antialiasing: kept in a saved spec (an export sidecar), absent by default."""
    sharp = ModelSpec("onnx_graph", input=InputPolicy(1536, 1536, antialias=False))
    assert ModelSpec.from_json(sharp.to_json()) == sharp
    assert "antialias" not in json.loads(ModelSpec("onnx_graph").to_json())["input"]


def test_least_scale_round_trips_is_left_out_when_unused_and_needs_keep_aspect() -> None:
    """A transformers model's spec (saved in a fine-tuned checkpoint or an export sidecar) keeps its processor's
    "scale as little as possible" rule."""
    boxed = ModelSpec("transformers", input=InputPolicy(756, 756, keep_aspect=True, multiple_of=14, least_scale=True))
    assert ModelSpec.from_json(boxed.to_json()) == boxed
    assert "least_scale" not in json.loads(ModelSpec("unet").to_json())["input"]  # readable by a version without it
    with pytest.raises(CheckpointError, match=r"least_scale .* needs keep_aspect true"):
        InputPolicy(518, 518, least_scale=True)


def test_interpolation_round_trips_is_left_out_when_bilinear_and_is_checked() -> None:
    bicubic = ModelSpec("transformers", input=InputPolicy(518, 518, keep_aspect=True, interpolation="bicubic"))
    assert ModelSpec.from_json(bicubic.to_json()) == bicubic
    assert "interpolation" not in json.loads(ModelSpec("unet").to_json())["input"]  # readable by older versions
    with pytest.raises(CheckpointError, match="interpolation 'lanczos' must be bilinear or bicubic"):
        InputPolicy(interpolation="lanczos")


def test_pad_colour_round_trips_is_left_out_when_unused_and_is_checked() -> None:
    padded = ModelSpec("onnx_graph", input=InputPolicy(616, 1064, pad=True, pad_colour=[0.485, 0.456, 0.406]))
    assert padded.input.pad_colour == (0.485, 0.456, 0.406)  # a tuple, as JSON's list is stored
    assert ModelSpec.from_json(padded.to_json()) == padded
    assert "pad_colour" not in json.loads(ModelSpec("onnx_graph", input=InputPolicy(pad=True)).to_json())["input"]
    for colour in ([0.5, 0.5], [123.675, 116.28, 103.53], "grey", [math.nan, 0.5, 0.5]):
        with pytest.raises(CheckpointError, match=r"pad_colour=.*must be three numbers R, G, B in \[0, 1\]"):
            InputPolicy(616, 1064, pad=True, pad_colour=colour)
    with pytest.raises(CheckpointError, match=r"pad_colour=.*needs pad or native_pad"):
        InputPolicy(616, 1064, pad_colour=(0.5, 0.5, 0.5))


def test_each_field_a_spec_json_leaves_out_reads_back_as_the_default_its_diff_names() -> None:
    """``LEFT_OUT_DEFAULTS`` (the ``(the default)`` of a --resume spec diff, and the values ``to_json`` leaves out) is
    what a JSON without the field loads as: the dataclass defaults, one copy (a default changed in the class alone
    left the diff naming the old value, and a spec holding it lost the field through to_json / from_json)."""
    data = json.loads(ModelSpec("unet").to_json())
    for dotted in LEFT_OUT_DEFAULTS:
        assert dotted.split(".")[-1] not in (data["input"] if dotted.startswith("input.") else data), dotted
    loaded = ModelSpec.from_json(json.dumps(data))
    for dotted, value in LEFT_OUT_DEFAULTS.items():
        owner = loaded.input if dotted.startswith("input.") else loaded
        assert getattr(owner, dotted.split(".")[-1]) == value, dotted
