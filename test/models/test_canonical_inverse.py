"""Depth Pro's canonical inverse depth exported to ONNX: published in metres with the camera's focal length, or the
graph's own (a focal length in its input's pixels, or a field of view in degrees), as Apple's ``DepthPro.infer`` and
transformers' post-processing do.

The reference is Apple's (and transformers' ``post_process_depth_estimation``): ``W / f_px`` from the camera image's
width and focal length in its pixels (or the field of view: ``f_px = 0.5 W / tan(fov / 2)``), then
``depth = 1 / clamp(canonical · W / f_px, 1e-4, 1e4)``. The tiny graphs here emit a known canonical inverse map
(``predicted_depth``) and either a focal length in their input's pixels (``focallength_px``, the name only borrowed:
onnx-community/DepthPro-ONNX's ``predicted_depth`` is, by its model card, metres already, not canonical) or
transformers' ``field_of_view`` in degrees (``DepthProForDepthEstimation`` exported).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from mono_depth_ros.cli import main
from mono_depth_ros.core.errors import CheckpointError, ShapeError
from mono_depth_ros.core.frame_hints import FrameHints
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.onnx_model import OnnxBackend
from mono_depth_ros.models.sidecar import spec_path_for, write_sidecars
from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind
from mono_depth_ros.training.data.kitti_files import load_rgb, read_object_calibration

from .tiny_models import legacy_onnx

CPU = torch.device("cpu")
SIDE = 48
"""The tiny graph's fixed square input (Depth Pro's is 1536²)."""
GRAPH_FOCAL = 30.0
"""focallength_px of the tiny graph: pixels of its 48-wide input (a 77° horizontal field of view)."""


def _ramp(side: int) -> Tensor:
    """(1, 1, side, side) canonical inverse depth from 0 (clamped to 1e-4: 10 km) to 0.5, row-major."""
    return torch.linspace(0.0, 0.5, side * side).reshape(1, 1, side, side)


class _DepthProLike(nn.Module):
    """A Depth Pro export with a focal output: ``predicted_depth`` (a fixed canonical inverse map) and
    ``focallength_px`` (1,) in the input's pixels: the image only fixes their shapes."""

    def __init__(self, canonical: Tensor, focal_px: float) -> None:
        super().__init__()
        self.canonical = nn.Parameter(canonical, requires_grad=False)
        self.focal = nn.Parameter(torch.tensor([focal_px]), requires_grad=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.canonical + x[:, :1, :1, :1] * 0.0, self.focal + x.mean() * 0.0


def _graph(tmp_path: Path, canonical: Tensor, name: str = "depth_pro.onnx") -> Path:
    example = torch.zeros(1, 3, SIDE, SIDE)
    outputs = ["predicted_depth", "focallength_px"]
    return legacy_onnx(_DepthProLike(canonical, GRAPH_FOCAL), example, tmp_path / name, ["pixel_values"], outputs)


def _spec(policy: InputPolicy | None = None, focal_output: str = "focallength_px") -> ModelSpec:
    return ModelSpec(
        "onnx_graph",
        {},
        policy or InputPolicy(SIDE, SIDE),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        output_kind=OutputKind.CANONICAL_INVERSE,
        max_depth_m=1e4,
        backend="onnx",
        output_name="predicted_depth",
        focal_output=focal_output,
    )


def _estimator(path: Path, io_binding: bool = True) -> DepthEstimator:
    backend = OnnxBackend(path, CPU, cpu_threads=1, io_binding=io_binding)
    return DepthEstimator(backend, EstimatorConfig(device="cpu", warmup_runs=1))


def _apple(canonical: np.ndarray, width: int, f_px: float) -> np.ndarray:
    """Apple's ``infer`` (and transformers' post-processing): metres from the canonical inverse depth, the image
    width ``W`` and the focal ``f_px`` in its pixels."""
    return 1.0 / np.clip(canonical * (width / f_px), 1e-4, 1e4)


@pytest.fixture
def kitti(kitti_object_dir: Path) -> tuple[np.ndarray, float, float]:
    """A KITTI frame (375×1242) and its camera 2's (fx, fy) from P2, pixels."""
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    projection, _, _ = read_object_calibration(kitti_object_dir / "calib" / "000001.txt")
    return image, float(projection[0, 0]), float(projection[1, 1])


@pytest.mark.parametrize("io_binding", [True, False])
def test_depth_pro_onnx_is_published_in_metres_with_the_kitti_cameras_focal(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float], io_binding: bool
) -> None:
    """The KITTI frame stretched to the square input (as Depth Pro's processor does): metres are Apple's formula
    with the camera image's width (1242) and fx (721.5 px), not the graph's focal nor the input's width; the
    zero of the map is clamped to 10 km as Apple clamps."""
    image, fx, fy = kitti
    canonical = _ramp(SIDE)
    path = _graph(tmp_path, canonical)
    write_sidecars(path, _spec())
    estimator = _estimator(path, io_binding)
    assert estimator.output_kind is OutputKind.METRIC
    result = estimator.predict(image, out_hw=(SIDE, SIDE), hints=FrameHints(focal_px=(fx, fy)))
    expected = _apple(canonical[0, 0].numpy(), image.shape[1], fx)
    np.testing.assert_allclose(result.values, expected, rtol=1e-5)
    assert result.values[0, 0] == pytest.approx(1e4) and result.values[-1, -1] == pytest.approx(fx / (1242 * 0.5))


def test_a_stretched_input_gives_the_transformers_depth_pro_metres_bit_for_bit(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float]
) -> None:
    """One formula for both Depth Pro roads: the engine's metres of a canonical_inverse graph fed the KITTI frame
    stretched to its input are, bit for bit, what transformers' Depth Pro road (:mod:`.hf_network`, the camera's
    fx / W) makes of the same canonical map (the engine multiplied by W / fx, a last-bit rounding apart)."""
    from mono_depth_ros.models.hf_network import _depth_pro_metres

    image, fx, fy = kitti
    canonical = _ramp(SIDE)
    path = _graph(tmp_path, canonical)
    write_sidecars(path, _spec())
    values = _estimator(path).predict(image, out_hw=(SIDE, SIDE), hints=FrameHints(focal_px=(fx, fy))).values
    transformers_road = _depth_pro_metres(canonical, torch.full((1,), fx / image.shape[1]), None)
    np.testing.assert_array_equal(values, transformers_road[0, 0].numpy())


def test_without_camera_info_the_graphs_focal_output_makes_the_metres(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float]
) -> None:
    """No camera focal: the graph's focallength_px (its field-of-view head's, in its input's pixels) is the focal,
    as Apple's ``infer(f_px=None)`` takes ``0.5 W / tan(fov / 2)``: the same field of view over the camera image."""
    image, _, _ = kitti
    canonical = _ramp(SIDE)
    path = _graph(tmp_path, canonical)
    write_sidecars(path, _spec())
    values = _estimator(path).predict(image, out_hw=(SIDE, SIDE)).values
    fov = 2.0 * math.atan(0.5 * SIDE / GRAPH_FOCAL)  # the field of view the graph's focal stands for
    f_px = 0.5 * image.shape[1] / math.tan(0.5 * fov)  # Apple: in the camera image's pixels
    np.testing.assert_allclose(values, _apple(canonical[0, 0].numpy(), image.shape[1], f_px), rtol=1e-5)


@pytest.mark.parametrize("focal", [0.0, -GRAPH_FOCAL, math.inf])
def test_a_graph_focal_that_is_not_a_positive_length_leaves_the_map_invalid_not_made_up(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float], focal: float
) -> None:
    """No camera, and the graph's focal output is 0, negative or infinite (a field-of-view head off its range): the
    frame's depth is NaN (invalid), not the clamp's bounds everywhere (0 px gave 0.1 mm over the whole frame, an
    obstacle at the lens; a negative focal or an infinite one 10 km, free space); a camera focal still makes metres."""
    image, fx, fy = kitti
    canonical = torch.full((1, 1, SIDE, SIDE), 0.1)
    path = legacy_onnx(
        _DepthProLike(canonical, focal), torch.zeros(1, 3, SIDE, SIDE), tmp_path / "odd.onnx", ["pixel_values"],
        ["predicted_depth", "focallength_px"],
    )  # fmt: skip
    write_sidecars(path, _spec())
    estimator = _estimator(path)
    assert np.isnan(estimator.predict(image, out_hw=(SIDE, SIDE)).values).all()
    with_camera = estimator.predict(image, out_hw=(SIDE, SIDE), hints=FrameHints(focal_px=(fx, fy))).values
    np.testing.assert_allclose(with_camera, _apple(np.float32(0.1), image.shape[1], fx), rtol=1e-5)


def test_a_padded_input_takes_the_focal_of_the_image_in_it_not_of_the_whole_input(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float]
) -> None:
    """A 375×250 crop of the KITTI frame (fx unchanged) fitted inside the 48² input keeping its aspect (pad): it
    spans 32 of the 48 columns, so the input's width over its focal is 48 / (fx · 32 / 250), 1.5× the camera's
    250 / fx that a stretched input would have. A constant map: the published camera-size map is one value."""
    image, fx, fy = kitti
    crop = np.ascontiguousarray(image[:, 500:750])
    path = _graph(tmp_path, torch.full((1, 1, SIDE, SIDE), 0.1))
    write_sidecars(path, _spec(InputPolicy(SIDE, SIDE, pad=True)))
    values = _estimator(path).predict(crop, hints=FrameHints(focal_px=(fx, fy))).values
    assert values.shape == crop.shape[:2]
    np.testing.assert_allclose(values, 1.0 / (0.1 * SIDE / (fx * 32 / 250)), rtol=1e-5)


def test_a_map_at_a_quarter_of_the_input_gives_the_same_metres(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float]
) -> None:
    """The canonical inverse depth has no pixel unit: a graph whose map is 12² for its 48² input is published at
    the camera size with the same metres (the focal belongs to the input, not to the map)."""
    image, fx, fy = kitti
    path = _graph(tmp_path, torch.full((1, 1, SIDE // 4, SIDE // 4), 0.25))
    write_sidecars(path, _spec())
    values = _estimator(path).predict(image, hints=FrameHints(focal_px=(fx, fy))).values
    assert values.shape == image.shape[:2]
    np.testing.assert_allclose(values, _apple(np.float32(0.25), image.shape[1], fx), rtol=1e-5)


def test_the_spec_command_writes_it_and_the_spec_stays_readable_where_it_is_unused(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float]
) -> None:
    """`mono-depth spec --kind canonical_inverse --focal-output focallength_px` writes a spec the engine runs; a spec
    without a focal output leaves the field out (older readers refuse unknown keys: they still load it)."""
    image, fx, fy = kitti
    path = _graph(tmp_path, _ramp(SIDE))
    args = ["spec", str(path), "--kind", "canonical_inverse", "--output", "predicted_depth"]
    assert main([*args, "--focal-output", "focallength_px", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"]) == 0
    written = json.loads(spec_path_for(path).read_text())
    assert written["output_kind"] == "canonical_inverse" and written["focal_output"] == "focallength_px"
    values = _estimator(path).predict(image, out_hw=(SIDE, SIDE), hints=FrameHints(focal_px=(fx, fy))).values
    np.testing.assert_allclose(values, _apple(_ramp(SIDE)[0, 0].numpy(), image.shape[1], fx), rtol=1e-5)
    assert "focal_output" not in json.loads(_spec(focal_output="").to_json())
    metric = ModelSpec("onnx_graph", backend="onnx")
    assert "focal_output" not in json.loads(metric.to_json())
    assert ModelSpec.from_json(_spec().to_json()) == _spec()


def test_without_a_focal_output_a_frame_without_camera_is_refused_naming_both_remedies(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float]
) -> None:
    """A canonical_inverse spec without focal_output starts (the warm-up has no camera: a nominal lens) and runs
    with camera_info; a frame without a focal length is refused, naming camera_info and the graph's field-of-view
    and focal outputs."""
    image, fx, fy = kitti
    path = _graph(tmp_path, _ramp(SIDE))
    write_sidecars(path, _spec(focal_output=""))
    estimator = _estimator(path)
    assert estimator.predict(image, hints=FrameHints(focal_px=(fx, fy))).values.shape == image.shape[:2]
    with pytest.raises(ShapeError, match=r"canonical_inverse model \(Depth Pro\) needs a focal length.*camera_info.*"
                       r"--fov-output field_of_view.*--focal-output NAME"):  # fmt: skip
        estimator.predict(image)


def test_a_focal_output_the_graph_lacks_or_for_another_kind_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spec naming a focal output the graph does not have is refused at load naming its outputs; focal_output
    with a kind other than canonical_inverse or metric is refused by the spec and by the spec command."""
    path = _graph(tmp_path, _ramp(SIDE))
    write_sidecars(path, _spec(focal_output="field_of_view"))
    lacks = r"no output 'field_of_view' \(focal_output of its spec\).*focallength_px"
    with pytest.raises(CheckpointError, match=lacks):
        OnnxBackend(path, CPU, cpu_threads=1)
    with pytest.raises(
        CheckpointError, match=r"focal_output='focallength_px' is read for a canonical_inverse or metric"
    ):
        ModelSpec("onnx_graph", backend="onnx", output_kind=OutputKind.RELATIVE_INVERSE, focal_output="focallength_px")
    capsys.readouterr()
    kind = ["--kind", "relative_inverse"]
    args = ["spec", str(path), *kind, "--output", "predicted_depth", "--focal-output", "focallength_px"]
    assert main(args) != 0
    assert "--focal-output focallength_px is read for --kind canonical_inverse" in capsys.readouterr().err
    args = ["spec", str(path), "--kind", "canonical_inverse", "--output", "predicted_depth", "--focal-output", "fov"]
    assert main(args) != 0
    assert "has no output 'fov' (--focal-output)" in capsys.readouterr().err


def test_the_node_takes_metric_stated_for_it_and_refuses_a_relative_kind(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float]
) -> None:
    """The engine delivers metres: model.output_kind=metric for a canonical_inverse spec is taken (it was refused as
    contradicting the spec), and the source publishes the same metres; relative_inverse (what a canonical Depth Pro
    export had to run as before) contradicts it and is refused."""
    from mono_depth_ros.config import resolve
    from mono_depth_ros.core.errors import ConfigError
    from mono_depth_ros.models.depth_source import build_depth_source

    image, _, _ = kitti
    path = _graph(tmp_path, _ramp(SIDE))
    write_sidecars(path, _spec())
    params = {"model.backend": "onnx", "model.weights": str(path), "device": "cpu", "model.threads": 1}
    stated = build_depth_source(resolve({**params, "model.output_kind": "metric"}))
    own = build_depth_source(resolve(params))
    assert stated is not None and own is not None and stated.output_kind is OutputKind.METRIC
    np.testing.assert_array_equal(stated.predict(image), own.predict(image))
    with pytest.raises(ConfigError, match=r"model\.output_kind=relative_inverse contradicts .* says canonical_inverse"):
        build_depth_source(resolve({**params, "model.output_kind": "relative_inverse"}))


class _ThreeFocals(_DepthProLike):
    """A focal output of three values for one image (a principal point and a focal stacked, say)."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        depth, focal = super().forward(x)
        return depth, focal.expand(3) * torch.tensor([1.0, 0.5, 0.5])


def test_a_focal_output_of_other_than_one_value_per_image_is_refused_naming_it(tmp_path: Path) -> None:
    """Three values for one image are not one focal length: refused naming the output, not its first value taken."""
    outputs = ["predicted_depth", "focallength_px"]
    path = legacy_onnx(
        _ThreeFocals(_ramp(SIDE), GRAPH_FOCAL), torch.zeros(1, 3, SIDE, SIDE), tmp_path / "three.onnx", ["x"], outputs
    )
    write_sidecars(path, _spec())
    with pytest.raises(ShapeError, match=r"output 'focallength_px' \(focal_output of its spec\) holds 3 values for 1"):
        _estimator(path)


def test_a_depth_pro_teacher_labels_a_folder_without_camera_with_its_own_focal_and_without_it_names_the_kind(
    tmp_path: Path,
) -> None:
    """Distillation from Depth Pro ONNX: a bare image folder (no intrinsics.yaml) is labelled in metres with the
    graph's focal output; a spec without one stops before any frame, naming canonical_inverse (the message named
    metric_focal, a kind the teacher is not)."""
    from mono_depth_ros.core.errors import ConfigError
    from mono_depth_ros.training.distillation.label_sources import FolderSource
    from mono_depth_ros.training.distillation.labelling import label_sources
    from mono_depth_ros.training.distillation.teacher import Teacher
    from test.training.distill_support import synthetic_clip, write_folder

    bare = write_folder(tmp_path / "bare", synthetic_clip(frames=2), intrinsics=False)
    path = _graph(tmp_path, _ramp(SIDE))
    write_sidecars(path, _spec())
    report = label_sources(Teacher(_estimator(path)), [FolderSource(bare)], tmp_path / "own", (48, 96), progress=False)
    assert report.labelled == 2
    write_sidecars(path, _spec(focal_output=""))
    with pytest.raises(ConfigError, match=r"focal length \(canonical_inverse\).*intrinsics\.yaml"):
        label_sources(Teacher(_estimator(path)), [FolderSource(bare)], tmp_path / "none", (48, 96), progress=False)


class _CanonicalOnly(nn.Module):
    """Depth Pro traced to TorchScript without its focal: the canonical inverse map alone."""

    def __init__(self, canonical: Tensor) -> None:
        super().__init__()
        self.canonical = nn.Parameter(canonical, requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.canonical + x[:, :1, :1, :1] * 0.0


def test_a_torchscript_depth_pro_is_metric_with_the_camera_focal_and_refuses_a_focal_output(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float], capsys: pytest.CaptureFixture[str]
) -> None:
    """The same kind for a TorchScript module: `mono-depth spec --kind canonical_inverse` runs it in metres with the
    KITTI camera's focal (Apple's formula); --focal-output, read from ONNX graphs only, is refused for it."""
    from mono_depth_ros.models.torchscript_model import TorchScriptBackend

    image, fx, fy = kitti
    path = tmp_path / "depth_pro.pt"
    with warnings.catch_warnings():  # torch.jit's deprecation: a module traced elsewhere
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(_CanonicalOnly(_ramp(SIDE)), torch.zeros(1, 3, SIDE, SIDE)), str(path))
    args = ["spec", str(path), "--kind", "canonical_inverse", "--input-size", f"{SIDE}x{SIDE}"]
    assert main([*args, "--focal-output", "focallength_px"]) != 0
    assert "--focal-output is for ONNX graphs" in capsys.readouterr().err
    assert main(args) == 0
    estimator = DepthEstimator(TorchScriptBackend(path, CPU), EstimatorConfig(device="cpu", warmup_runs=1))
    values = estimator.predict(image, out_hw=(SIDE, SIDE), hints=FrameHints(focal_px=(fx, fy))).values
    np.testing.assert_allclose(values, _apple(_ramp(SIDE)[0, 0].numpy(), image.shape[1], fx), rtol=1e-5)


GRAPH_FOV = 70.0
"""field_of_view of the tiny transformers-like graph: horizontal, degrees."""


class _TransformersDepthPro(nn.Module):
    """transformers' ``DepthProForDepthEstimation`` exported: ``predicted_depth`` (a fixed canonical inverse map) and
    ``field_of_view`` (B,) in degrees, not a focal length."""

    def __init__(self, canonical: Tensor, fov_degrees: float) -> None:
        super().__init__()
        self.canonical = nn.Parameter(canonical, requires_grad=False)
        self.fov = nn.Parameter(torch.tensor([fov_degrees]), requires_grad=False)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.canonical + x[:, :1, :1, :1] * 0.0, self.fov + x.mean() * 0.0


def _fov_graph(tmp_path: Path, canonical: Tensor, fov: float = GRAPH_FOV, name: str = "hf_depth_pro.onnx") -> Path:
    module = _TransformersDepthPro(canonical, fov)
    outputs = ["predicted_depth", "field_of_view"]
    return legacy_onnx(module, torch.zeros(1, 3, SIDE, SIDE), tmp_path / name, ["pixel_values"], outputs)


def _fov_spec(policy: InputPolicy | None = None) -> ModelSpec:
    return replace(_spec(policy, focal_output=""), fov_output="field_of_view")


def _transformers(canonical: np.ndarray, width: int, fov_degrees: float) -> np.ndarray:
    """transformers' ``DepthProImageProcessor.post_process_depth_estimation`` (5.x), transcribed (its module needs
    torchvision): ``focal = 0.5 width / tan(0.5 deg2rad(fov))``, ``depth = 1 / clamp(v · width / focal, 1e-4, 1e4)``
    with ``width`` the target (camera image) width."""
    focal = 0.5 * width / math.tan(0.5 * math.radians(fov_degrees))
    return 1.0 / np.clip(canonical * (width / focal), 1e-4, 1e4)


@pytest.mark.parametrize("io_binding", [True, False])
def test_a_transformers_export_without_camera_gives_its_post_processing_metres_from_the_field_of_view(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float], io_binding: bool
) -> None:
    """The KITTI frame (1242 wide) through a graph emitting canonical inverse depth and a 70° field of view, no
    camera_info: the metres are transformers' post-processing of the same outputs at the camera image's width (not
    the 70 read as a focal length of 70 px of the 48-px input, 2.04x farther here; for the real 1536-px input and a
    60° field of view 22x nearer); with KITTI's camera (fx 721.5 px) the camera's focal wins: Apple's formula with
    fx, not the graph's field of view."""
    image, fx, fy = kitti
    canonical = _ramp(SIDE)
    path = _fov_graph(tmp_path, canonical)
    write_sidecars(path, _fov_spec())
    estimator = _estimator(path, io_binding)
    values = estimator.predict(image, out_hw=(SIDE, SIDE)).values
    expected = _transformers(canonical[0, 0].numpy(), image.shape[1], GRAPH_FOV)
    np.testing.assert_allclose(values, expected, rtol=1e-5)
    as_pixels = _apple(canonical[0, 0].numpy(), SIDE, GRAPH_FOV)  # the degrees misread as a focal in pixels
    np.testing.assert_allclose(as_pixels[1:] / expected[1:], 2.0 * math.tan(math.radians(35.0)) * 70 / 48, rtol=1e-4)
    with_camera = estimator.predict(image, out_hw=(SIDE, SIDE), hints=FrameHints(focal_px=(fx, fy))).values
    np.testing.assert_allclose(with_camera, _apple(canonical[0, 0].numpy(), image.shape[1], fx), rtol=1e-5)
    assert not np.allclose(with_camera, expected, rtol=1e-2)  # the two focals differ: the test tells them apart


def test_a_field_of_view_holds_for_the_whole_padded_input_whatever_the_image_in_it(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float]
) -> None:
    """A 375×250 crop fitted in the 48² input keeping its aspect (pad), no camera: the graph's field of view is the
    whole input's, so w / f = 2 tan(fov / 2) of the input, whatever columns the crop spans (a camera focal is
    rescaled for the padding; the graph's field of view is not)."""
    image, _, _ = kitti
    crop = np.ascontiguousarray(image[:, 500:750])
    path = _fov_graph(tmp_path, torch.full((1, 1, SIDE, SIDE), 0.1))
    write_sidecars(path, _fov_spec(InputPolicy(SIDE, SIDE, pad=True)))
    values = _estimator(path).predict(crop).values
    assert values.shape == crop.shape[:2]
    np.testing.assert_allclose(values, 1.0 / (0.1 * 2.0 * math.tan(math.radians(GRAPH_FOV) / 2)), rtol=1e-5)


@pytest.mark.parametrize("fov", [0.0, -GRAPH_FOV, 180.0, 200.0, math.inf, math.nan])
def test_a_field_of_view_off_zero_to_180_degrees_leaves_the_map_invalid_not_made_up(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float], fov: float
) -> None:
    """No camera and a field of view of 0, negative, 180 or more, or not finite (a head off its range): the frame's
    depth is NaN (invalid), not the clamp's bounds or a depth mirrored through tan's sign; a camera focal still
    makes metres."""
    image, fx, fy = kitti
    path = _fov_graph(tmp_path, torch.full((1, 1, SIDE, SIDE), 0.1), fov, "odd_fov.onnx")
    write_sidecars(path, _fov_spec())
    estimator = _estimator(path)
    assert np.isnan(estimator.predict(image, out_hw=(SIDE, SIDE)).values).all()
    with_camera = estimator.predict(image, out_hw=(SIDE, SIDE), hints=FrameHints(focal_px=(fx, fy))).values
    np.testing.assert_allclose(with_camera, _apple(np.float32(0.1), image.shape[1], fx), rtol=1e-5)


def test_the_spec_command_writes_a_fov_output_and_refuses_it_with_a_focal_output_or_another_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mono-depth spec --kind canonical_inverse --fov-output field_of_view` writes ``fov_output`` (left out of a
    spec that does not use it: older readers still load it); with --focal-output too, with --kind metric, naming an
    output the graph lacks, or for TorchScript it is refused naming the flag; a ModelSpec with both is refused."""
    path = _fov_graph(tmp_path, _ramp(SIDE))
    args = ["spec", str(path), "--kind", "canonical_inverse", "--output", "predicted_depth"]
    assert main([*args, "--fov-output", "field_of_view"]) == 0
    written = json.loads(spec_path_for(path).read_text())
    assert written["fov_output"] == "field_of_view" and "focal_output" not in written
    assert "fov_output" not in json.loads(_spec().to_json())
    assert ModelSpec.from_json(_fov_spec().to_json()) == _fov_spec()
    capsys.readouterr()
    assert main([*args, "--fov-output", "field_of_view", "--focal-output", "field_of_view"]) != 0
    assert "--focal-output field_of_view (a focal length in pixels) and --fov-output" in capsys.readouterr().err
    metric = ["spec", str(path), "--kind", "metric", "--output", "predicted_depth", "--fov-output", "field_of_view"]
    assert main(metric) != 0
    assert "--fov-output field_of_view is read for --kind canonical_inverse" in capsys.readouterr().err
    assert main([*args, "--fov-output", "fov"]) != 0
    assert "has no output 'fov' (--fov-output)" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match=r"both focal_output='f' .* and fov_output='field_of_view'"):
        replace(_fov_spec(), focal_output="f")
    with pytest.raises(CheckpointError, match=r"fov_output='field_of_view' is read for a canonical_inverse"):
        ModelSpec("onnx_graph", backend="onnx", output_kind=OutputKind.METRIC, fov_output="field_of_view")
    write_sidecars(path, replace(_fov_spec(), fov_output="fov"))
    with pytest.raises(CheckpointError, match=r"no output 'fov' \(fov_output of its spec\).*--fov-output"):
        OnnxBackend(path, CPU, cpu_threads=1)


def test_a_torchscript_module_refuses_a_fov_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--fov-output is read from ONNX graphs only: refused for a TorchScript module, naming the flag."""
    path = tmp_path / "depth_pro.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(_CanonicalOnly(_ramp(SIDE)), torch.zeros(1, 3, SIDE, SIDE)), str(path))
    args = ["spec", str(path), "--kind", "canonical_inverse", "--input-size", f"{SIDE}x{SIDE}"]
    assert main([*args, "--fov-output", "field_of_view"]) != 0
    assert "--fov-output is for ONNX graphs" in capsys.readouterr().err


def test_a_transformers_depth_pro_teacher_labels_a_folder_without_camera_with_its_field_of_view(
    tmp_path: Path,
) -> None:
    """Distillation from transformers' Depth Pro exported: a bare image folder (no intrinsics.yaml) is labelled in
    metres with the graph's field of view (the teacher asked for the frames' intrinsics before)."""
    from mono_depth_ros.training.distillation.label_sources import FolderSource
    from mono_depth_ros.training.distillation.labelling import label_sources
    from mono_depth_ros.training.distillation.teacher import Teacher
    from test.training.distill_support import synthetic_clip, write_folder

    bare = write_folder(tmp_path / "bare", synthetic_clip(frames=2), intrinsics=False)
    path = _fov_graph(tmp_path, _ramp(SIDE))
    write_sidecars(path, _fov_spec())
    report = label_sources(Teacher(_estimator(path)), [FolderSource(bare)], tmp_path / "own", (48, 96), progress=False)
    assert report.labelled == 2


def _metric_graph(tmp_path: Path, canonical: Tensor) -> Path:
    """A Depth Pro export publishing metres made with its own focal (Apple's ``infer`` without ``f_px``, the graph's
    input width): ``predicted_depth`` = 1 / clamp(canonical · SIDE / f), ``focallength_px`` = f = GRAPH_FOCAL."""
    metres = 1.0 / torch.clamp(canonical * (SIDE / GRAPH_FOCAL), 1e-4, 1e4)
    module = _DepthProLike(metres, GRAPH_FOCAL)
    outputs = ["predicted_depth", "focallength_px"]
    return legacy_onnx(module, torch.zeros(1, 3, SIDE, SIDE), tmp_path / "metric.onnx", ["pixel_values"], outputs)


def _metric_spec(policy: InputPolicy | None = None) -> ModelSpec:
    return replace(_spec(policy), output_kind=OutputKind.METRIC)


def test_a_metric_depth_pro_export_is_rescaled_to_the_kitti_cameras_focal_and_kept_without_one(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float]
) -> None:
    """`--kind metric --focal-output focallength_px`: the graph's metres were made with its own focal (30 px of its
    48-px input); with KITTI's camera (fx 721.5 px of 1242) they become Apple's ``infer(f_px=fx)`` metres of the same
    canonical map (depth · f_camera / f_graph, both in the input's pixels); without a camera they are the graph's."""
    image, fx, fy = kitti
    canonical = torch.linspace(0.01, 0.5, SIDE * SIDE).reshape(1, 1, SIDE, SIDE)  # off the clamp's bounds
    path = _metric_graph(tmp_path, canonical)
    write_sidecars(path, _metric_spec())
    estimator = _estimator(path)
    assert estimator.output_kind is OutputKind.METRIC
    with_camera = estimator.predict(image, out_hw=(SIDE, SIDE), hints=FrameHints(focal_px=(fx, fy))).values
    np.testing.assert_allclose(with_camera, _apple(canonical[0, 0].numpy(), image.shape[1], fx), rtol=1e-5)
    own = estimator.predict(image, out_hw=(SIDE, SIDE)).values
    np.testing.assert_allclose(own, _apple(canonical[0, 0].numpy(), SIDE, GRAPH_FOCAL), rtol=1e-5)
    assert not np.allclose(own, with_camera, rtol=1e-2)


def test_a_metric_depth_pro_export_padded_takes_the_focal_of_the_image_in_it_and_a_bad_graph_focal_is_invalid(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float]
) -> None:
    """A 375×250 crop fitted in the 48² input (pad: it spans 32 columns): the camera's focal in the input's pixels is
    fx · 32 / 250, so metres = 1 / (0.1 · 48 / (fx · 32 / 250)); a graph focal of 0 with a camera leaves the frame
    NaN (no ratio to rescale by), and `mono-depth spec --kind metric --focal-output` writes the spec."""
    image, fx, fy = kitti
    crop = np.ascontiguousarray(image[:, 500:750])
    path = _metric_graph(tmp_path, torch.full((1, 1, SIDE, SIDE), 0.1))
    args = ["spec", str(path), "--kind", "metric", "--output", "predicted_depth", "--focal-output", "focallength_px"]
    assert main([*args, "--pad", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5"]) == 0
    assert json.loads(spec_path_for(path).read_text())["focal_output"] == "focallength_px"
    values = _estimator(path).predict(crop, hints=FrameHints(focal_px=(fx, fy))).values
    assert values.shape == crop.shape[:2]
    np.testing.assert_allclose(values, 1.0 / (0.1 * SIDE / (fx * 32 / 250)), rtol=1e-5)
    outputs = ["predicted_depth", "focallength_px"]
    module = _DepthProLike(torch.full((1, 1, SIDE, SIDE), 5.0), 0.0)  # 5 m, and a focal of 0 px
    zero = legacy_onnx(module, torch.zeros(1, 3, SIDE, SIDE), tmp_path / "zero.onnx", ["pixel_values"], outputs)
    write_sidecars(zero, _metric_spec())
    assert np.isnan(_estimator(zero).predict(image, hints=FrameHints(focal_px=(fx, fy))).values).all()


class _ThreeFields(_TransformersDepthPro):
    """A field-of-view output of three values for one image."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        depth, fov = super().forward(x)
        return depth, fov.expand(3) * torch.tensor([1.0, 0.5, 0.5])


def test_a_fov_output_of_other_than_one_value_per_image_is_refused_naming_it_and_the_flag(tmp_path: Path) -> None:
    """Three fields of view for one image: refused naming the output and --fov-output, not its first value taken."""
    outputs = ["predicted_depth", "field_of_view"]
    module = _ThreeFields(_ramp(SIDE), GRAPH_FOV)
    path = legacy_onnx(module, torch.zeros(1, 3, SIDE, SIDE), tmp_path / "three.onnx", ["x"], outputs)
    write_sidecars(path, _fov_spec())
    with pytest.raises(
        ShapeError, match=r"'field_of_view' \(fov_output of its spec\) holds 3 values.*--fov-output NAME"
    ):
        _estimator(path)


def test_a_metric_depth_pro_export_without_camera_publishes_the_graphs_metres_bit_for_bit(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float]
) -> None:
    """No camera: a `metric` spec with `focal_output` publishes exactly the map of the same graph under a `metric`
    spec without it (no rescale, no clamp, no dtype round trip), at the network's size and at the frame's."""
    image, _, _ = kitti
    canonical = torch.linspace(1e-6, 2e4, SIDE * SIDE).reshape(1, 1, SIDE, SIDE)  # both clamp bounds reached
    path = _metric_graph(tmp_path, canonical)
    for out_hw in ((SIDE, SIDE), None):
        write_sidecars(path, _metric_spec())
        with_focal = _estimator(path).predict(image, out_hw=out_hw).values
        write_sidecars(path, replace(_metric_spec(), focal_output=""))
        plain = _estimator(path).predict(image, out_hw=out_hw).values
        np.testing.assert_array_equal(with_focal, plain)


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        (OutputKind.METRIC, "focal_output"),
        (OutputKind.CANONICAL_INVERSE, "focal_output"),
        (OutputKind.CANONICAL_INVERSE, "fov_output"),
    ],
)
def test_a_graph_focal_or_fov_output_in_a_spec_of_another_backend_is_refused_not_ignored(
    kind: OutputKind, field: str
) -> None:
    """A hand-written TorchScript / torch spec naming a focal or field-of-view output: nothing but OnnxBackend reads
    it, so it is refused naming the field and the backend (a TorchScript `metric` spec with focal_output ran with the
    camera's focal silently ignored)."""
    for backend in ("torchscript", "torch"):
        with pytest.raises(CheckpointError, match=rf"{field}='out' names an ONNX graph output.*'{backend}'"):
            ModelSpec("net", backend=backend, output_kind=kind, **{field: "out"})
    assert getattr(ModelSpec("net", backend="onnx", output_kind=kind, **{field: "out"}), field) == "out"


@pytest.mark.parametrize("post", ["off", "on"])
def test_a_graph_focal_out_of_range_is_named_with_its_value_in_the_frames_refusal(
    tmp_path: Path, kitti: tuple[np.ndarray, float, float], post: str
) -> None:
    """The all-NaN map a graph's focal or field of view out of range leaves was refused as "broken weights or
    numerics": the node's frame (a metric export whose focal_output is 0 px, rescaled to the KITTI camera's focal)
    is still a ModelOutputError, naming the output, its value and the spec to check; a canonical_inverse frame
    without camera (a 200° field of view) names camera_info; a frame whose metres are fine, or made with the camera's
    focal, has no cause to name. The same on the host road and the device road (``output.device_postprocess``)."""
    from mono_depth_ros.config import defaults
    from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
    from mono_depth_ros.core.errors import ModelOutputError
    from mono_depth_ros.core.model_output import check_network_output
    from mono_depth_ros.models.depth_source import EstimatorSource
    from mono_depth_ros.pipeline import DepthPipeline, FrameInput

    image, fx, fy = kitti
    outputs = ["predicted_depth", "focallength_px"]
    module = _DepthProLike(torch.full((1, 1, SIDE, SIDE), 5.0), 0.0)  # 5 m, and a focal of 0 px
    zero = legacy_onnx(module, torch.zeros(1, 3, SIDE, SIDE), tmp_path / "zero.onnx", ["pixel_values"], outputs)
    write_sidecars(zero, _metric_spec())
    camera = CameraModel.from_intrinsics(PinholeIntrinsics(fx, fy, 620.0, 187.0, width=1242, height=375))
    frame = FrameInput(1_000, "camera_optical", image, camera, True)
    settings = {**defaults(), "scale.mode": "none", "output.device_postprocess": post}  # post on: the device road
    pipeline = DepthPipeline(settings, EstimatorSource(_estimator(zero)))
    with pytest.raises(ModelOutputError, match=r"at 100 % of the pixels") as refused:
        pipeline.process_frame(frame)
    text = str(refused.value)
    assert "broken weights" not in text, text
    assert "output 'focallength_px' (focal_output of its spec) is 0 px for this frame" in text, text
    assert f"`mono-depth spec {zero} --kind metric --focal-output NAME`" in text and text.endswith("frame skipped")

    wide_path = _fov_graph(tmp_path, torch.full((1, 1, SIDE, SIDE), 0.1), 200.0, "wide.onnx")
    write_sidecars(wide_path, _fov_spec())
    wide = _estimator(wide_path)
    values = wide.predict(image, out_hw=(SIDE, SIDE)).values
    with pytest.raises(ModelOutputError) as refused:
        check_network_output(values, OutputKind.METRIC, 0.5, ((SIDE, SIDE),), wide.invalid_output_cause)
    text = str(refused.value)
    assert "output 'field_of_view' (fov_output of its spec) is 200° for this frame, not a field of view" in text
    assert "camera_info K / P" in text and "--kind canonical_inverse --fov-output NAME" in text, text
    wide.predict(image, out_hw=(SIDE, SIDE), hints=FrameHints(focal_px=(fx, fy)))  # the camera's focal is used
    assert wide.invalid_output_cause() is None
    fine_path = _fov_graph(tmp_path, torch.full((1, 1, SIDE, SIDE), 0.1))
    write_sidecars(fine_path, _fov_spec())
    fine = _estimator(fine_path)
    assert np.isfinite(fine.predict(image, out_hw=(SIDE, SIDE)).values).all()
    assert fine.invalid_output_cause() is None
