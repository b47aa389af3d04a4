"""Tests for frozen_input: which cameras a fixed-size export of a keep-aspect network serves."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.checkpoint import GoldenReference
from mono_depth_ros.models.depth_anything import build_depth_anything, depth_anything_spec
from mono_depth_ros.models.export import export_onnx
from mono_depth_ros.models.frozen_input import (
    SOURCE_INPUT_KEY,
    aspect_problem,
    served_aspects,
    source_input,
    with_source_input,
)
from mono_depth_ros.models.golden import reference_image
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.sidecar import read_spec, spec_path_for
from mono_depth_ros.models.spec import InputPolicy, ModelSpec

from .tiny_models import TINY_DA

KEEP = InputPolicy(height=518, width=518, keep_aspect=True, multiple_of=14, max_long_side=882)


def _frozen(height: int, width: int) -> ModelSpec:
    """A Depth Anything spec exported at a fixed ``height`` x ``width``."""
    spec = ModelSpec("depth_anything_v2", params={"kind": "relative"}, input=KEEP, backend="onnx")
    fixed = replace(KEEP, height=height, width=width, keep_aspect=False)
    return replace(spec, input=fixed, params=with_source_input(spec.params, KEEP))


def test_kitti_sizes_are_served_and_other_aspects_refused_with_the_export_for_them() -> None:
    """Exported for KITTI (375x1242 -> 266x882 under Depth Anything's policy): every KITTI raw size runs, a 4:3 or a
    16:9 camera is refused with the command that exports for it."""
    spec = _frozen(266, 882)
    low, high = served_aspects(spec) or (0.0, 0.0)
    assert low < 1242 / 375 < high and high / low < 1.3  # 14 pixels of rounding and 5 % either side
    for camera in ((375, 1242), (370, 1224), (374, 1238), (376, 1241)):
        assert aspect_problem(spec, camera) is None
    for camera in ((480, 640), (1080, 1920)):
        problem = aspect_problem(spec, camera)
        assert problem is not None and f"--camera {camera[0]}x{camera[1]}" in problem and "266x882" in problem


def test_specs_that_are_not_fixed_exports_of_keep_aspect_networks_serve_every_camera() -> None:
    stretched = ModelSpec("onnx_graph", input=InputPolicy(height=384, width=384), backend="onnx")  # DPT's own stretch
    keeps = replace(_frozen(266, 882), input=KEEP)  # a dynamic export keeps the network's policy
    for spec in (stretched, keeps):
        assert served_aspects(spec) is None and aspect_problem(spec, (480, 640)) is None


@pytest.mark.parametrize("recorded", [{"height": 518, "colour": "rgb"}, {"height": -1}, {"height": "tall"}, "518x518"])
def test_a_recorded_policy_that_is_not_one_is_refused(recorded: object) -> None:
    spec = replace(_frozen(266, 882), params={SOURCE_INPUT_KEY: recorded})
    with pytest.raises(CheckpointError, match=SOURCE_INPUT_KEY):
        served_aspects(spec)


@pytest.mark.parametrize("embedded", [False, True])
def test_a_malformed_recorded_policy_is_refused_when_the_spec_loads_naming_its_file(
    tmp_path: Path, embedded: bool
) -> None:
    """It was found at the first frame only (network_hw: aspect_problem), once per frame with warmup_runs 0 and no
    golden file; the spec's reader refuses it, naming the file and the remedy."""
    spec = replace(_frozen(266, 882), params={SOURCE_INPUT_KEY: {"height": "tall"}})
    model = tmp_path / "model.onnx"
    if not embedded:
        spec_path_for(model).write_text(spec.to_json(), encoding="utf-8")
    with pytest.raises(CheckpointError, match=SOURCE_INPUT_KEY) as raised:
        read_spec(model, "onnx", spec.to_json() if embedded else None)
    named = f"{model} (embedded)" if embedded else str(spec_path_for(model))
    assert named in str(raised.value) and "re-export" in str(raised.value)


def test_a_checkpoint_golden_of_another_aspect_is_remade_at_the_exports_own(tmp_path: Path) -> None:
    """A checkpoint's golden image (here square) run through a KITTI-shaped fixed export would be refused by the
    start-up self-test: the export stores a reference image of its own size instead."""
    torch.manual_seed(0)
    spec = depth_anything_spec(TINY_DA)
    network = build_depth_anything(spec).eval()
    square = GoldenReference(image_rgb=reference_image(98, 98), output=np.zeros((98, 98), np.float32))
    result = export_onnx(network, spec, tmp_path / "da.onnx", input_hw=(56, 182), golden=square, exporter="legacy")
    estimator = DepthEstimator.open("onnx", result.path, EstimatorConfig(device="cpu", warmup_runs=0))
    assert estimator.golden_report is not None and estimator.golden_report.passed


def test_a_dinov2_dpt_export_serves_the_cameras_its_processor_pads_to_the_same_size(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """DINOv2's DPT runs a camera at its own size padded to a multiple of 14: exported for KITTI's 375x1242 (padded to
    378x1246), a 370x1224 KITTI camera (which the torch model pads to 378x1232) passed the aspect check (3.31 against
    3.30) and was stretched 2 % to 378x1246 instead: not the torch model's depth (median 0.82 x on the real frame at
    full size). Here on crops of the real frame: a camera padded to the export's own size gets the torch model's
    depth, one padded to another size is refused with the export it needs."""
    from mono_depth_ros.commands.export import export_weights
    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.training.data.kitti_files import load_rgb

    from .hf_tiny import write_tiny_family

    directory = write_tiny_family("dpt_dinov2", tmp_path / "dino", fusion_hidden_size=16, add_projection=False)
    (result,) = export_weights(directory, tmp_path / "out", formats="torchscript", camera_hw=(50, 166))
    assert result.input_hw == (56, 168)
    assert "cameras padded to 56x168 (or resized to it: aspect 3.00) only" in result.describe()
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    original = DepthEstimator.open("transformers", directory, options)
    exported = DepthEstimator.open("torchscript", result.path, options)
    frame = load_rgb(kitti_object_dir / "image_2" / "000000.png")
    same = np.ascontiguousarray(frame[200:254, 500:664])  # 54x164: padded to 56x168 as the export's camera
    np.testing.assert_allclose(exported.predict(same).values, original.predict(same).values, rtol=1e-5)
    other = np.ascontiguousarray(frame[200:250, 500:650])  # 50x150 (aspect 3.0, the export's): padded to 56x154
    assert original.network_hw((50, 150)) == (56, 154)
    with pytest.raises(ShapeError, match=r"50x150 .*pads it to 56x154.*--camera 50x150"):
        exported.predict(other)


def test_kitti_sizes_under_the_published_dinov2_dpt_policy() -> None:
    """Exported for 375x1242 (padded to 378x1246): 376x1241 pads to the same size and runs; 370x1224 pads to
    378x1232 and is refused; a 1080p camera, which the network resizes, is refused for its aspect."""
    source = InputPolicy(480, 480, keep_aspect=True, multiple_of=14, max_long_side=1246, native_pad=True)
    fixed = replace(source, height=378, width=1246, keep_aspect=False)
    spec = ModelSpec("dpt", input=fixed, params=with_source_input({}, source), backend="onnx")
    assert aspect_problem(spec, (375, 1242)) is None and aspect_problem(spec, (376, 1241)) is None
    assert "pads it to 378x1232" in (aspect_problem(spec, (370, 1224)) or "")
    assert "aspect 1.78" in (aspect_problem(spec, (1080, 1920)) or "")


def test_the_cli_line_of_a_dinov2_dpt_export_names_the_resized_cameras_it_serves_too(tmp_path: Path) -> None:
    """Exported for 1080x1920, which the network resizes to 476x854 (beyond the size it pads a camera to): the
    export's own camera and a 720p one run, but the CLI line said 'cameras padded to 476x854 only'."""
    from mono_depth_ros.models.export import ExportResult

    source = InputPolicy(480, 480, keep_aspect=True, multiple_of=14, max_long_side=1246, native_pad=True)
    fixed = replace(source, height=476, width=854, keep_aspect=False)
    spec = ModelSpec("dpt", input=fixed, params=with_source_input({}, source), backend="onnx")
    assert aspect_problem(spec, (1080, 1920)) is None and aspect_problem(spec, (720, 1280)) is None
    line = ExportResult(tmp_path / "dpt.onnx", spec, (476, 854), False, 0.0, "legacy").describe()
    assert "cameras padded to 476x854 (or resized to it: aspect 1.79) only" in line


ZOE = InputPolicy(384, 512, keep_aspect=True, multiple_of=32, max_long_side=864, least_scale=True, reflect_pad=True)
"""ZoeDepth's policy under Intel/zoedepth-nyu-kitti's processor file: its 384x512 box, the image reflect-padded."""


def test_a_zoedepth_export_frozen_for_a_camera_serves_that_camera() -> None:
    """ZoeDepth's input size follows the reflect-padded image's aspect (``network_input_size``), which is what its
    fixed size was scaled from; the served aspects were compared with the camera's own: a 16x49 camera (padded
    34x79, input 224x512) was refused by the export made for it. The padded aspect is compared now, and an export
    for KITTI still refuses NYU's 4:3."""
    from mono_depth_ros.models.preprocess import network_input_size

    small = [(height, width) for height in range(16, 40) for width in range(16, 400, 3)]  # where padding is large
    large = [(height, width) for height in range(40, 1200, 9) for width in range(40, 2000, 31)]
    for height, width in small + large:
        fixed = network_input_size((height, width), ZOE)
        frozen = replace(ZOE, height=fixed[0], width=fixed[1], keep_aspect=False, least_scale=False)
        spec = ModelSpec("transformers", params=with_source_input({}, ZOE), input=frozen)
        assert aspect_problem(spec, (height, width)) is None, ((height, width), fixed)
    kitti = replace(ZOE, height=288, width=864, keep_aspect=False, least_scale=False)
    spec = ModelSpec("transformers", params=with_source_input({}, ZOE), input=kitti)
    assert aspect_problem(spec, (375, 1242)) is None
    assert "--camera 480x640" in (aspect_problem(spec, (480, 640)) or "")


FIRST_FORMAT_KEYS = {"height", "width", "keep_aspect", "multiple_of", "max_long_side"}
"""The input policy's fields before any optional one (an older reader refuses a recorded key it does not know)."""


def test_the_recorded_source_policy_leaves_out_unused_fields_as_a_spec_does() -> None:
    """A fixed-size export of a keep-aspect network recorded every field of its policy (``pad_colour: []`` too), so a
    reader older than a field refused every such export at load ('re-export'), though the field was unused; the spec's
    own ``input`` leaves such fields out. Now the record does too, and a used field still round-trips."""
    recorded = with_source_input({}, KEEP)[SOURCE_INPUT_KEY]
    assert set(recorded) == FIRST_FORMAT_KEYS  # readable by every version
    assert recorded == json.loads(ModelSpec("depth_anything_v2", input=KEEP).to_json())["input"]
    assert source_input(ModelSpec.from_json(_frozen(266, 882).to_json())) == KEEP
    source = InputPolicy(480, 480, keep_aspect=True, multiple_of=14, native_pad=True, pad_colour=(0.5, 0.5, 0.5))
    fixed = replace(source, height=378, width=1246, keep_aspect=False)
    spec = ModelSpec("dpt", input=fixed, params=with_source_input({}, source), backend="onnx")
    assert source_input(ModelSpec.from_json(spec.to_json())) == source
