"""Tests for models/graph_layout.py: the image input layouts of models made elsewhere, and their outputs."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError, ShapeError
from mono_depth_ros.models.graph_layout import (
    ImageInput,
    as_b1hw,
    coarse_map,
    cropped_multiple,
    declared_hw,
    declared_map,
    depth_map,
    failed_run,
    image_input,
    padded_multiple,
    same_aspect,
)


@pytest.mark.parametrize(
    ("shape", "layout", "hw", "batch"),
    [
        ([1, 3, 518, 518], "NCHW", (518, 518), 1),  # Depth Anything (fabio-sim), MiDaS small
        (["batch", 3, "height", "width"], "NCHW", None, None),
        ([None, "C", "H", "W"], "NCHW", None, None),  # every axis free: PyTorch's layout
        ([1, 256, 256, 3], "NHWC", (256, 256), 1),  # tf2onnx
        (["unk__1", "unk__2", 640, 3], "NHWC", None, None),  # free height, fixed width
        ([3, 384, 384], "CHW", (384, 384), None),
        (["h", "w", 3], "HWC", None, None),
    ],
)
def test_the_layout_and_fixed_sizes_come_from_the_declared_shape(
    shape: list[object], layout: str, hw: tuple[int, int] | None, batch: int | None
) -> None:
    found = image_input("image", shape, "model.onnx")
    assert (found.layout, found.fixed_hw, found.batch) == (layout, hw, batch)


@pytest.mark.parametrize(
    ("shape", "sides"),
    [
        ([1, 3, "s", 640], ("s", 640)),
        (["b", "h", "w", 3], ("h", "w")),
        ([3, 384, "w"], (384, "w")),
        (["s", "s", 3], ("s", "s")),
    ],
)
def test_declared_hw_reads_the_sides_image_input_reads(shape: list[object], sides: tuple[object, object]) -> None:
    """One table of axes for image_input and the spec's shared-symbol check (square-only exports)."""
    layout = image_input("x", shape, "m").layout
    assert declared_hw(layout, shape) == sides
    assert declared_hw("NCHW", [1, 3, 4]) is None  # too short for its layout
    assert declared_hw("", shape) is None


def test_partly_fixed_sizes_are_kept_per_side() -> None:
    found = image_input("x", ["unk__1", "unk__2", 640, 3], "m")
    assert (found.height, found.width) == (None, 640)


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ([1, 1, 64, 64], r"not an RGB image: expected \(B, 3, H, W\)"),  # grey
        ([1, 3, 64], r"not an RGB image"),
        ([2, 3, 64, 64], r"fixed batch of 2 .* re-export it with batch 1"),
        (None, r"shape \[\] is not an RGB image"),
    ],
)
def test_other_inputs_are_refused_with_what_to_re_export(shape: list[object] | None, match: str) -> None:
    with pytest.raises(CheckpointError, match=match):
        image_input("x", shape, "model.onnx")


@pytest.mark.parametrize(
    ("layout", "to_graph"),
    [
        ("NCHW", lambda b: b),
        ("NHWC", lambda b: b.permute(0, 2, 3, 1)),
        ("CHW", lambda b: b[0]),
        ("HWC", lambda b: b[0].permute(1, 2, 0)),
    ],
)
def test_arrange_puts_the_engines_batch_in_the_graphs_layout(layout: str, to_graph: Any) -> None:
    batch = torch.arange(3 * 4 * 5, dtype=torch.float32).reshape(1, 3, 4, 5)
    arranged = ImageInput("x", layout).arrange(batch)
    assert arranged.shape == to_graph(batch).shape and arranged.ndim == (4 if layout.startswith("N") else 3)
    torch.testing.assert_close(arranged, to_graph(batch))


def test_size_problem_names_the_fixed_side_and_the_size_to_give() -> None:
    fixed_height = ImageInput("x", "NCHW", height=28)
    assert fixed_height.size_problem(28, 84, keep_aspect=False) is None
    assert "--input-size 28xW and without --keep-aspect" in str(fixed_height.size_problem(28, 84, keep_aspect=True))
    assert "fixed height 28" in str(fixed_height.size_problem(32, 84, keep_aspect=False))
    fixed_width = ImageInput("x", "NCHW", width=640)
    assert "--input-size Hx640" in str(fixed_width.size_problem(192, 600, keep_aspect=False))
    assert ImageInput("x", "NCHW", 56, 56).size_problem(10, 10, keep_aspect=True) is None  # runs at its own size
    assert ImageInput("x", "NCHW").size_problem(10, 10, keep_aspect=True) is None


@pytest.mark.parametrize("shape", [(1, 1, 4, 5), (1, 4, 5), (4, 5), (1, 4, 5, 1), (4, 5, 1)])
def test_outputs_are_lifted_to_b1hw(shape: tuple[int, ...]) -> None:
    values = torch.arange(20, dtype=torch.float16).reshape(shape)
    lifted = as_b1hw(values, batch_size=1)
    assert lifted.shape == (1, 1, 4, 5) and lifted.dtype == torch.float32
    torch.testing.assert_close(lifted.flatten(), torch.arange(20, dtype=torch.float32))


def test_a_batch_keeps_its_axis_and_other_shapes_are_left_for_the_caller() -> None:
    assert as_b1hw(torch.zeros(2, 4, 5), batch_size=2).shape == (2, 1, 4, 5)
    assert as_b1hw(torch.zeros(2, 4, 5, 1), batch_size=2).shape == (2, 1, 4, 5)
    assert as_b1hw(torch.zeros(1, 2, 4, 5), batch_size=1).shape == (1, 2, 4, 5)  # two channels: refused upstream


def test_failed_run_keeps_the_line_that_says_what_went_wrong() -> None:
    script = RuntimeError(
        "The following operation failed in the TorchScript interpreter.\nTraceback of TorchScript, serialized code:\n"
        "  File ..., line 8\n\nRuntimeError: shape '[1, 2304]' is invalid for input of size 1764\n"
    )
    error = failed_run("TorchScript model m.pt", (1, 3, 42, 42), script)
    assert "failed on a (1, 3, 42, 42) input (RuntimeError: shape '[1, 2304]' is invalid" in str(error)
    assert "interpreter" not in str(error) and "--multiple-of" in str(error)
    ort = RuntimeError("Non-zero status code returned while running Reshape node.\n Input shape:{1,48,96}")
    assert "(Non-zero status code returned while running Reshape node. Input shape:{1,48,96})" in str(
        failed_run("ONNX model m.onnx", (1, 3, 48, 96), ort)
    )


def test_failed_run_by_aspect_names_the_sides_that_ran_and_no_multiple() -> None:
    """A portrait input whose sides ran the other way round (spec --keep-aspect's portrait trial) failed with the
    --multiple-of hint, which no multiple answers: the failure is by aspect."""
    ort = RuntimeError("Non-zero status code returned while running Add node. broadcast")
    error = str(failed_run("ONNX model m.onnx", (1, 3, 42, 28), ort, transposed_ran=True))
    assert "failed on a (1, 3, 42, 28) input (Non-zero status code" in error, error
    assert "it ran at 28x42, the same sides the other way round" in error and "--multiple-of" not in error, error


def test_depth_map_takes_one_map_per_image_and_names_any_other_output() -> None:
    """Two maps stacked for one image ((2, H, W), (1, 2, H, W)) are no batch of two: refused with the output's name
    and the remedy; a batch of two keeps its two maps."""
    assert depth_map(torch.zeros(2, 4, 5), 2, "o", "r").shape == (2, 1, 4, 5)
    assert depth_map(torch.zeros(4, 5), 1, "o", "r").shape == (1, 1, 4, 5)
    for shape in ((2, 4, 5), (1, 2, 4, 5), (1, 1, 1, 4, 5)):
        with pytest.raises(ShapeError, match=rf"^model output 'x' is {re.escape(str(shape))} for 1 image: .*; fix$"):
            depth_map(torch.zeros(shape), 1, "model output 'x'", "fix")


@pytest.mark.parametrize(
    ("shape", "one_map"),
    [
        ([1, 1, 518, 518], True),
        (["batch", 518, 518], True),  # Depth Anything (fabio-sim)
        ([518, 518], True),
        ([1, 518, 518, 1], True),
        (["b", "c", "h", "w"], True),  # free: checked on the first run
        (None, True),
        ([1, 3, 616, 1064], False),  # Metric3D's normals
        ([1, 2, "h", "w"], False),  # depth and confidence stacked
        ([2, 64, 96], False),  # the same without the batch axis
        ([64, 96, 2], False),
        ([1, 1, 1, 64, 96], False),
        ([4096], False),
        ([1, 518, 518, "c"], True),  # a fixed height, the rest free: checked on the first run
        ([1, 518, 518, 2], False),
    ],
)
def test_declared_output_shapes_that_are_one_map_per_image(shape: list[object] | None, one_map: bool) -> None:
    assert declared_map(shape) is one_map


@pytest.mark.parametrize(
    ("map_hw", "input_hw", "same"),
    [
        ((518, 518), (518, 518), True),
        ((27, 91), (378, 1274), True),  # ViT patches of a KITTI-shaped input
        ((12, 39), (375, 1242), True),  # five stride-2 convolutions, floored
        ((2, 3), (40, 40), True),  # a tiny map: its rounding is within one pixel per side
        ((1, 4), (14, 56), True),
        ((48, 32), (32, 48), False),  # axes swapped
        ((3, 32), (32, 48), False),  # an NHWC module given NCHW
        ((64, 64), (375, 1242), False),
    ],
)
def test_a_map_has_its_inputs_aspect_within_its_rounding(
    map_hw: tuple[int, int], input_hw: tuple[int, int], same: bool
) -> None:
    assert same_aspect(map_hw, input_hw) is same
    if not same:
        with pytest.raises(ShapeError, match=rf"for a {input_hw[0]}x{input_hw[1]} input: a {map_hw[0]}x{map_hw[1]}"):
            depth_map(torch.zeros(1, 1, *map_hw), 1, "o", "r", input_hw)


@pytest.mark.parametrize(
    ("map_hw", "input_hw", "multiple"),
    [
        ((384, 1248), (375, 1242), 32),  # a KITTI frame padded to a multiple of 32 by the graph
        ((384, 1280), (375, 1242), 64),
        ((378, 1246), (375, 1242), 14),  # to whole ViT patches
        ((480, 640), (470, 630), 32),
        ((375, 1242), (375, 1242), None),  # the project's own exports, any fixed-size spec
        ((364, 1232), (364, 1232), None),  # Depth Anything at whole patches
        ((616, 1064), (616, 1064), None),  # Metric3D's letterbox
        ((364, 1232), (375, 1242), None),  # a crop to whole patches: smaller (cropped_multiple's)
        ((188, 621), (375, 1242), None),  # 1/2 .. 1/32 of the input (from 1/8: coarse_map's warning)
        ((94, 311), (375, 1242), None),
        ((12, 39), (375, 1242), None),
        ((750, 2484), (375, 1242), None),  # a decoder that upsamples past its input
        ((64, 64), (32, 32), None),
        ((380, 1250), (375, 1242), None),  # larger, but not to a multiple: the aspect check's to judge
    ],
)
def test_a_map_of_its_input_padded_to_a_stride_multiple_is_told_from_the_sizes_accepted(
    map_hw: tuple[int, int], input_hw: tuple[int, int], multiple: int | None
) -> None:
    """A 384x1248 map for a 375x1242 input is of the same aspect within its rounding, but its 9 padded rows would
    be stretched over the frame: refused naming the size to run at; the maps of equal, smaller, integer-enlarged
    size are taken."""
    assert padded_multiple(map_hw, input_hw) == multiple
    output = torch.ones(1, 1, *map_hw)
    if multiple is None and cropped_multiple(map_hw, input_hw) is None:
        assert depth_map(output, 1, "o", "r", input_hw).shape == (1, 1, *map_hw)
        return
    if multiple is None:
        return
    pattern = rf"for a {input_hw[0]}x{input_hw[1]} input: .*padded to a multiple of {multiple} .*--input-size "
    with pytest.raises(ShapeError, match=pattern + rf"{map_hw[0]}x{map_hw[1]}`, or `--keep-aspect --multiple-of"):
        depth_map(output, 1, "o", "r", input_hw)


@pytest.mark.parametrize(
    ("map_hw", "input_hw", "multiple"),
    [
        ((364, 1232), (375, 1242), 14),  # a KITTI frame cropped to whole ViT patches by the graph (DINOv2 floors)
        ((352, 1216), (375, 1242), 32),
        ((368, 1240), (375, 1242), 8),
        ((476, 630), (480, 640), 14),  # NYU
        ((375, 1232), (375, 1242), None),  # 375 is no multiple of 14 (nor of any other): not a stride crop
        ((364, 1232), (364, 1232), None),  # whole patches: nothing cropped
        ((188, 621), (375, 1242), None),  # strides: a map of the whole input at a lower resolution
        ((94, 310), (375, 1242), None),
        ((12, 39), (375, 1242), None),
        ((26, 88), (375, 1242), None),  # the patch grid itself (its resolution, not a crop at the input's)
        ((384, 1248), (375, 1242), None),  # padded: padded_multiple's
    ],
)
def test_a_map_of_its_input_cropped_to_a_stride_multiple_is_refused_with_the_size_to_run_at(
    map_hw: tuple[int, int], input_hw: tuple[int, int], multiple: int | None
) -> None:
    """A 364x1232 map for a 375x1242 input (a graph that floors to whole 14-pixel patches) was taken and stretched
    over the frame: the crop's 11 rows spread through it. Refused as the padded case, naming the size and the
    multiple at which it crops nothing; lower-resolution maps of the whole input are taken."""
    assert cropped_multiple(map_hw, input_hw) == multiple
    output = torch.ones(1, 1, *map_hw)
    if multiple is None:
        if padded_multiple(map_hw, input_hw) is None:
            assert depth_map(output, 1, "o", "r", input_hw).shape == (1, 1, *map_hw)
        return
    pattern = rf"for a {input_hw[0]}x{input_hw[1]} input: .*cropped to a multiple of {multiple} .*--input-size "
    with pytest.raises(ShapeError, match=pattern + rf"{map_hw[0]}x{map_hw[1]}`, or `--keep-aspect --multiple-of"):
        depth_map(output, 1, "o", "r", input_hw)


@pytest.mark.parametrize(
    ("map_hw", "input_hw", "per"),
    [
        ((26, 88), (375, 1242), "14x14"),  # DINOv2's patch grid of a KITTI frame: a linear depth head's map
        ((24, 77), (384, 1232), "16x16"),  # a 16 px ViT's
        ((12, 39), (375, 1242), "31x32"),  # a CNN's 1/32 bottleneck
        ((24, 80), (192, 640), "8x8"),  # monodepth2's coarsest disparity (scale 3, 1/8), DORN's 1/8 map
        ((48, 160), (192, 640), None),  # its scale 2 (1/4): no word
        ((188, 621), (375, 1242), None),  # 1/2
        ((1, 1), (1, 1), None),
    ],
)
def test_a_map_at_a_patch_grid_resolution_is_taken_and_named_for_the_warning(
    map_hw: tuple[int, int], input_hw: tuple[int, int], per: str | None
) -> None:
    """A 26x88 map for a 375x1242 input (a ViT's linear depth head at its patch grid, DORN's 1/8 map, an export
    without its final upsampling) is still a depth map: depth_map returns it for the engine to upsample (refusing it
    published nothing, frame after frame, for a model that has no finer output), and coarse_map describes it for the
    one warning and /diagnostics; 1/2 and 1/4 maps are not remarked on."""
    output = torch.ones(1, 1, *map_hw)
    assert depth_map(output, 1, "o", "name the depth output", input_hw).shape == (1, 1, *map_hw)
    expected = None
    if per is not None:
        expected = f"{map_hw[0]}x{map_hw[1]} for a {input_hw[0]}x{input_hw[1]} input, one value per {per} pixels"
    assert coarse_map(map_hw, input_hw) == expected
