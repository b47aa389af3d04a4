"""`mono-depth spec` and foreign ONNX models: a graph with Depth Anything 3's signature, built here.

The graph takes ``image`` (1, 3, 56, 56) and returns ``conf``, ``depth`` (1, 56, 56) in DA3's metric convention
(depth × 300 / focal px of the network input) and ``sky`` (1 in the top quarter): a sidecar written by the command lets
the engine pick the depth output by name, turn it into metres with the camera's focal length, and publish sky as +Inf.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from mono_depth_ros.cli import main
from mono_depth_ros.commands.spec import IMAGENET_MEAN, IMAGENET_STD
from mono_depth_ros.core.frame_hints import FrameHints
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.sidecar import spec_path_for
from test.models.tiny_models import legacy_onnx

pytest.importorskip("onnxruntime")

DEPTH_M = 12.0  # what the graph "sees" everywhere below the sky
SIDE = 56


class Da3Like(nn.Module):
    """DA3's signature: image -> confidence, depth (metric_focal at a fixed focal), sky (top quarter)."""

    def __init__(self, focal_px: float) -> None:
        super().__init__()
        self.raw = DEPTH_M * 300.0 / focal_px

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        base = image[:, 0] * 0.0  # (B, H, W), tied to the input
        rows = torch.arange(image.shape[2], dtype=image.dtype).view(1, -1, 1).expand_as(base)
        sky = (rows < image.shape[2] // 4).to(image.dtype) + base
        return base + 0.9, base + self.raw, sky  # depth is not the first output: it is chosen by name


def _export(path: Path, focal_px: float, names: tuple[str, str, str] = ("conf", "depth", "sky")) -> Path:
    """Export :class:`Da3Like` to ``path`` with output names ``names`` (confidence, depth, sky)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Da3Like(focal_px), (torch.zeros(1, 3, SIDE, SIDE),), str(path), dynamo=False,
            input_names=["image"], output_names=list(names),
        )  # fmt: skip
    return path


@pytest.fixture
def da3_graph(tmp_path: Path) -> Path:
    return _export(tmp_path / "da3.onnx", focal_px=50.0)


def test_spec_then_engine_gives_metres_and_sky(da3_graph: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["spec", str(da3_graph), "--kind", "metric_focal", "--output", "depth", "--sky-output", "sky"]
    assert main(args) == 0
    assert "--param model.backend=onnx" in capsys.readouterr().out
    written = json.loads(spec_path_for(da3_graph).read_text())
    assert written["output_kind"] == "metric_focal" and written["input"]["height"] == SIDE  # size from the graph
    estimator = DepthEstimator.open("onnx", da3_graph, EstimatorConfig(device="cpu", warmup_runs=1))
    assert estimator.output_kind.value == "metric"
    image = np.full((120, 160, 3), 90, dtype=np.uint8)
    # the graph's raw value means 12 m at a 50 px network focal: a camera of fx = fy = 50 · 160 / 56 px
    focal = 50.0 * 160 / SIDE
    result = estimator.predict(image, hints=FrameHints((focal, 50.0 * 120 / SIDE)))
    sky_rows = 120 // 4
    assert np.isposinf(result.values[: sky_rows - 3]).all()  # REP 117: sky is beyond range
    np.testing.assert_allclose(result.values[sky_rows + 3 :], DEPTH_M, rtol=1e-4)
    twice = estimator.predict(image, hints=FrameHints((2 * focal, 2 * 50.0 * 120 / SIDE)))
    np.testing.assert_allclose(twice.values[sky_rows + 3 :], 2 * DEPTH_M, rtol=1e-4)  # metres scale with the focal
    with pytest.raises(Exception, match="needs the camera's focal length"):
        estimator.predict(image)


def test_several_outputs_need_a_name(da3_graph: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Several outputs, none named depth / predicted_depth: the command refuses, listing them (as loading would)."""
    unnamed = _export(da3_graph.with_name("unnamed.onnx"), focal_px=50.0, names=("conf", "disparity", "sky"))
    assert main(["spec", str(unnamed), "--kind", "metric"]) == 2
    refusal = f"{unnamed} has outputs ['conf', 'disparity', 'sky']; say which one holds the depth with --output NAME"
    assert refusal in capsys.readouterr().err
    assert main(["spec", str(da3_graph), "--kind", "metric", "--output", "disparity"]) == 2
    assert "has no output 'disparity'" in capsys.readouterr().err
    assert main(["spec", str(da3_graph), "--kind", "metric", "--output", "depth", "--input-size", "64x64"]) == 2
    assert "differs from the graph's fixed input" in capsys.readouterr().err
    assert main(["spec", str(da3_graph), "--kind", "inverse", "--output", "depth"]) == 2
    assert "unknown output kind 'inverse'" in capsys.readouterr().err
    assert main(["spec", str(da3_graph), "--kind", "metrc"]) == 2  # reported before the missing --output
    assert "unknown output kind 'metrc'" in capsys.readouterr().err


@pytest.mark.parametrize("depth_name", ["depth", "predicted_depth"])
def test_several_outputs_one_named_depth_need_no_name_as_loading_needs_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], depth_name: str
) -> None:
    """Loading picks the output named depth (else predicted_depth) of a graph with several when the spec names
    none; the command refused such a graph without --output. Now it picks the same output by the same rule
    (onnx_model.depth_output_name), and the engine runs its metres, not the confidence before it."""
    graph = _export(tmp_path / "da3.onnx", focal_px=50.0, names=("conf", depth_name, "sky"))
    assert main(["spec", str(graph), "--kind", "metric_focal", "--sky-output", "sky"]) == 0, capsys.readouterr().err
    estimator = DepthEstimator.open("onnx", graph, EstimatorConfig(device="cpu", warmup_runs=0))
    image = np.full((120, 160, 3), 90, dtype=np.uint8)
    result = estimator.predict(image, hints=FrameHints((50.0 * 160 / SIDE, 50.0 * 120 / SIDE)))
    np.testing.assert_allclose(result.values[120 // 4 + 3 :], DEPTH_M, rtol=1e-4)  # not the confidence (0.9)


@pytest.mark.parametrize("output", [[], ["--output", "depth"]])
def test_a_sky_output_that_is_the_depth_output_is_refused(
    da3_graph: Path, capsys: pytest.CaptureFixture[str], output: list[str]
) -> None:
    """``--sky-output depth`` on a graph whose depth output is ``depth`` (named, or picked without --output since
    3aabcc2) wrote a spec that marks every pixel whose metres pass the sky threshold as sky (+Inf): refused, naming
    the output, before a spec is written."""
    assert main(["spec", str(da3_graph), "--kind", "metric_focal", *output, "--sky-output", "depth"]) == 2
    assert "--sky-output depth is the depth output" in capsys.readouterr().err
    assert not spec_path_for(da3_graph).exists()


def test_a_hand_edited_spec_naming_a_missing_output_is_refused(da3_graph: Path) -> None:
    from mono_depth_ros.core.errors import CheckpointError

    assert main(["spec", str(da3_graph), "--kind", "metric", "--output", "depth"]) == 0
    spec = json.loads(spec_path_for(da3_graph).read_text())
    spec_path_for(da3_graph).write_text(json.dumps({**spec, "sky_output": "mask"}))
    with pytest.raises(CheckpointError, match="no output 'mask'"):
        DepthEstimator.open("onnx", da3_graph, EstimatorConfig(device="cpu", warmup_runs=0))


class _DictDepth(nn.Module):
    """A module made elsewhere: a transformers-like dict with the depth under ``predicted_depth``."""

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return {"predicted_depth": x[:, 0].abs() + 2.0}


def test_spec_of_a_torchscript_module_made_elsewhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module_path = tmp_path / "made.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        torch.jit.save(torch.jit.script(_DictDepth()), str(module_path))  # type: ignore[no-untyped-call]
    assert main(["spec", str(module_path), "--kind", "depth_up_to_scale"]) == 2  # no size: a module does not say
    assert "give --input-size" in capsys.readouterr().err
    args = [
        "spec",
        str(module_path),
        "--kind",
        "depth_up_to_scale",
        "--input-size",
        "32x48",
        "--output",
        "predicted_depth",
    ]
    assert main(args) == 0
    assert "--param model.backend=torchscript" in capsys.readouterr().out
    config = EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off")
    estimator = DepthEstimator.open("torchscript", module_path, config)
    assert estimator.network_hw((120, 160)) == (32, 48) and estimator.output_kind.value == "depth_up_to_scale"
    assert np.all(estimator.predict(np.zeros((120, 160, 3), dtype=np.uint8)).values > 2.0)
    pickled = tmp_path / "state.pt"
    torch.save(_DictDepth().state_dict(), pickled)
    assert main(["spec", str(pickled), "--kind", "metric", "--input-size", "32x48"]) == 2
    assert "torch.save pickle" in capsys.readouterr().err


def test_spec_refuses_a_torchscript_module_whose_code_writes_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mono-depth spec` loads a TorchScript module to check it: its ``__setstate__`` would run there too."""
    from test.models.tiny_models import SavesOnLoad

    marker, module_path = tmp_path / "written_by_the_model", tmp_path / "evil.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(SavesOnLoad(str(marker))), str(module_path))  # type: ignore[no-untyped-call]
    assert main(["spec", str(module_path), "--kind", "metric", "--input-size", "32x48"]) == 2
    assert "calls save" in capsys.readouterr().err
    assert not marker.exists() and not spec_path_for(module_path).exists()


class _Layouts(nn.Module):
    """One network in the layouts community exports use: NCHW, NHWC, and either without the batch axis (the
    output then lacks it too). The map depends on the channels (R minus B) and on the row, so a swapped channel
    order or a transposed image gives other values."""

    def __init__(self, layout: str) -> None:
        super().__init__()
        self.layout = layout

    def forward(self, x: Tensor) -> Tensor:
        image = x if self.layout == "NCHW" else x.permute(0, 3, 1, 2) if self.layout == "NHWC" else x
        if self.layout in ("CHW", "HWC"):
            image = (x if self.layout == "CHW" else x.permute(2, 0, 1))[None]
        rows = torch.arange(image.shape[2], dtype=image.dtype).view(1, 1, -1, 1) / image.shape[2]
        out = 3.0 + image[:, :1] - 0.5 * image[:, 2:] + 4.0 * rows  # (B, 1, H, W)
        if self.layout == "NHWC":
            return out.permute(0, 2, 3, 1)
        if self.layout in ("CHW", "HWC"):
            return out[0] if self.layout == "CHW" else out[0].permute(1, 2, 0)
        return out


_EXAMPLE = {"NCHW": (1, 3, 28, 42), "NHWC": (1, 28, 42, 3), "CHW": (3, 28, 42), "HWC": (28, 42, 3)}


def test_nhwc_and_batchless_graphs_give_the_nchw_graphs_depth_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """TF-converted and hand-exported graphs take (1, H, W, 3) or (3, H, W): they run with the same geometry and
    channel order as the (1, 3, H, W) graph, instead of being refused."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    results = {}
    for layout, shape in _EXAMPLE.items():
        path = legacy_onnx(_Layouts(layout), torch.zeros(shape), tmp_path / f"{layout}.onnx", ["input"], ["output"])
        assert main(["spec", str(path), "--kind", "relative_inverse"]) == 0, capsys.readouterr().err
        assert json.loads(spec_path_for(path).read_text())["input"]["height"] == 28  # the graph's H, not its W or C
        estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1, cpu_threads=1))
        assert estimator.network_hw(image.shape[:2]) == (28, 42)
        results[layout] = estimator.predict(image).values
    reference = results.pop("NCHW")
    assert reference.shape == image.shape[:2] and np.ptp(reference[:, 600]) > 2.0  # the row ramp survives
    for layout, values in results.items():
        np.testing.assert_allclose(values, reference, rtol=1e-5, atol=1e-5, err_msg=layout)


def test_a_graph_with_one_fixed_side_gets_that_side_or_is_refused_with_the_remedy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Height fixed at 28, any width: a keep-aspect spec would feed it other heights (ONNX Runtime's 'invalid
    dimensions' traceback at start-up); the command and the loader refuse it and say which size to give."""
    from mono_depth_ros.core.errors import CheckpointError

    path = legacy_onnx(
        _Layouts("NCHW"),
        torch.zeros(1, 3, 28, 42),
        tmp_path / "fixed_height.onnx",
        ["image"],
        ["depth"],
        {"image": {3: "width"}, "depth": {3: "width"}},
    )
    assert main(["spec", str(path), "--kind", "metric", "--input-size", "28x42", "--keep-aspect"]) == 2
    assert "fixed height 28" in capsys.readouterr().err
    assert main(["spec", str(path), "--kind", "metric", "--input-size", "32x42"]) == 2
    assert "fixed height 28" in capsys.readouterr().err
    assert main(["spec", str(path), "--kind", "metric", "--input-size", "28x84"]) == 0
    estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1))
    assert estimator.predict(np.full((90, 270, 3), 80, dtype=np.uint8)).values.shape == (90, 270)
    spec = json.loads(spec_path_for(path).read_text())
    spec_path_for(path).write_text(json.dumps({**spec, "input": {**spec["input"], "keep_aspect": True}}))
    with pytest.raises(CheckpointError, match=r"fixed height 28.*--input-size 28xW"):
        DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1))


def test_a_mean_and_std_copied_in_0_to_255_units_are_refused_with_the_right_values(
    da3_graph: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["spec", str(da3_graph), "--kind", "metric", "--output", "depth"]
    assert main([*args, "--mean", "123.675,116.28,103.53", "--std", "58.395,57.12,57.375"]) == 2
    assert "mean 0.485,0.456,0.406 and std 0.229,0.224,0.225" in capsys.readouterr().err
    assert not spec_path_for(da3_graph).exists()


class _Metric3dLike(nn.Module):
    """Metric3D's official ONNX signature: ``image`` (1, 3, H, W) float pixels 0..255 (normalised inside), one output
    ``pred_depth`` (1, 1, H, W) in its canonical camera: depth × 1000 / focal px of the network input."""

    def __init__(self, focal_px: float) -> None:
        super().__init__()
        self.raw = DEPTH_M * 1000.0 / focal_px

    def forward(self, image: Tensor) -> Tensor:
        return image[:, :1] * 0.0 + self.raw


def test_metric3d_canonical_depth_becomes_metres_with_its_focal_divisor(
    tmp_path: Path, kitti_object_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Metric3D's output is metric at a 1000 px canonical focal, not Depth Anything 3's 300: declared as
    metric_focal it came out at 0.3 x the distance (and as metric at focal / 1000 x), with no way to say 1000."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    image = load_rgb(kitti_object_dir / "image_2" / "000002.png")
    height, width = image.shape[:2]
    path = legacy_onnx(
        _Metric3dLike(focal_px=50.0),
        torch.zeros(1, 3, SIDE, SIDE),
        tmp_path / "metric3d.onnx",
        ["image"],
        ["pred_depth"],
    )
    pixels = ["--mean", "0,0,0", "--std", ",".join([str(1 / 255)] * 3)]
    assert main(["spec", str(path), "--kind", "metric", "--focal-divisor", "1000", *pixels]) == 2
    assert "--focal-divisor is for --kind metric_focal" in capsys.readouterr().err
    assert main(["spec", str(path), "--kind", "metric_focal", "--focal-divisor", "1000", *pixels]) == 0
    assert json.loads(spec_path_for(path).read_text())["metric_focal_divisor"] == 1000.0
    estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1, cpu_threads=1))
    hints = FrameHints((50.0 * width / SIDE, 50.0 * height / SIDE))  # a 50 px focal at the network's 56x56
    np.testing.assert_allclose(estimator.predict(image, hints=hints).values, DEPTH_M, rtol=1e-4)


class _PerPixel(nn.Module):
    """A per-pixel map of the image (R minus B, in the normalised units): the same at any size, so a fixed-size
    and a free-size export agree wherever they see the same pixels."""

    def forward(self, image: Tensor) -> Tensor:
        return 6.0 + image[:, :1] - image[:, 2:]


def test_a_fixed_size_graph_with_pad_sees_the_camera_undistorted_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Metric3D's official ONNX is fixed at 616x1064 and expects the image fitted keeping its aspect and padded;
    a 375x1242 KITTI frame was stretched to the graph's size instead (about twice as tall), and a metric_focal
    output took the mean of two different focal lengths. With --pad the image keeps its aspect, the padding is
    cropped off the output, and the focal length is the one of the scaled image."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    image = load_rgb(kitti_object_dir / "image_2" / "000000.png")
    height, width = image.shape[:2]
    fixed, free = tmp_path / "fixed.onnx", tmp_path / "free.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_PerPixel(), (torch.zeros(1, 3, 64, 128),), str(fixed), dynamo=False)
        torch.onnx.export(_PerPixel(), (torch.zeros(1, 3, 64, 128),), str(free), dynamo=False,
                          input_names=["image"], dynamic_axes={"image": {2: "h", 3: "w"}})  # fmt: skip
    scale = min(64 / height, 128 / width)  # the image fitted inside 64x128: 128 wide, about 39 tall
    content = (round(height * scale), round(width * scale))
    assert main(["spec", str(fixed), "--kind", "relative_inverse", "--pad", "--keep-aspect"]) == 2
    assert "--pad fits the image inside the graph's fixed size" in capsys.readouterr().err
    assert main(["spec", str(fixed), "--kind", "relative_inverse", "--keep-aspect"]) == 2  # was dropped silently
    assert "takes a fixed 64x128: it cannot keep the camera's aspect" in capsys.readouterr().err
    assert main(["spec", str(fixed), "--kind", "relative_inverse", "--pad"]) == 0
    assert main(["spec", str(free), "--kind", "relative_inverse", "--input-size", f"{content[0]}x{content[1]}"]) == 0
    config = EstimatorConfig(device="cpu", warmup_runs=1, cpu_threads=1)
    padded = DepthEstimator.open("onnx", fixed, config).predict(image).values
    reference = DepthEstimator.open("onnx", free, config).predict(image).values  # the same pixels, unpadded
    assert padded.shape == image.shape[:2]
    np.testing.assert_allclose(padded, reference, rtol=1e-4, atol=1e-4)

    metric3d = tmp_path / "metric3d.onnx"
    focal_px = 721.5  # KITTI's fx = fy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Metric3dLike(focal_px=focal_px * scale), (torch.zeros(1, 3, 64, 128),), str(metric3d),
                          dynamo=False)  # fmt: skip
    assert main(["spec", str(metric3d), "--kind", "metric_focal", "--focal-divisor", "1000", "--pad"]) == 0
    estimator = DepthEstimator.open("onnx", metric3d, config)
    metres = estimator.predict(image, hints=FrameHints((focal_px, focal_px))).values
    # within the rounding of the fitted image to whole pixels (39 rows for 370: 0.4 %); stretched, it was 15.9 m
    np.testing.assert_allclose(metres, DEPTH_M, rtol=1e-2)


def test_a_new_spec_drops_the_golden_reference_made_under_the_old_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mono-depth export` leaves a golden reference beside the model, made under its spec; re-describing the model
    (here: pixels 0..255) kept it, and the start-up self-test then refused the model as not reproducing it."""
    from mono_depth_ros.models.export import export_onnx
    from mono_depth_ros.models.sidecar import golden_path_for
    from mono_depth_ros.models.spec import OutputKind
    from test.models.tiny_models import tiny_unet

    network, spec = tiny_unet(output_kind=OutputKind.METRIC)
    path = tmp_path / "tiny.onnx"
    export_onnx(network, spec, path, exporter="legacy")
    assert golden_path_for(path).is_file()
    pixels = ["--mean", "0,0,0", "--std", ",".join([str(1 / 255)] * 3)]
    assert main(["spec", str(path), "--kind", "metric", "--input-size", "64x96", *pixels]) == 0
    assert f"removed {golden_path_for(path).name}" in capsys.readouterr().out
    assert not golden_path_for(path).exists()
    config = EstimatorConfig(device="cpu", warmup_runs=1, precision="fp32", cuda_graphs=False)
    estimator = DepthEstimator.open("onnx", path, config)
    assert estimator.golden_report is None and estimator.spec.std[0] == pytest.approx(1 / 255)


def test_a_spec_whose_write_fails_midway_leaves_the_earlier_spec_and_golden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mono-depth spec` wrote the .spec.json in place: a full disk (or Ctrl-C) midway left it cut short, and the
    model was refused at start-up as of a malformed spec. It is written beside and renamed once whole: the earlier
    spec and the golden made under it stay, the model loads and passes its self-test, no temporary file is left."""
    from mono_depth_ros.models.export import export_onnx
    from mono_depth_ros.models.sidecar import golden_path_for
    from mono_depth_ros.models.spec import OutputKind
    from test.models.tiny_models import tiny_unet

    network, spec = tiny_unet(output_kind=OutputKind.METRIC)
    path = tmp_path / "tiny.onnx"
    export_onnx(network, spec, path, exporter="legacy")
    files = sorted(tmp_path.iterdir())
    before = {file: file.read_bytes() for file in files}
    write_text = Path.write_text

    def disk_full(self: Path, data: str, *args: object, **kwargs: object) -> int:
        write_text(self, data[: len(data) // 2], encoding="utf-8")  # what fitted on the disk
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    pixels = ["--mean", "0,0,0", "--std", ",".join([str(1 / 255)] * 3)]
    with pytest.raises(OSError, match="No space left"):
        main(["spec", str(path), "--kind", "metric", "--input-size", "64x96", *pixels])
    monkeypatch.undo()
    assert sorted(tmp_path.iterdir()) == files
    assert {file: file.read_bytes() for file in files} == before and golden_path_for(path).is_file()
    config = EstimatorConfig(device="cpu", warmup_runs=1, precision="fp32", cuda_graphs=False, golden_check="refuse")
    estimator = DepthEstimator.open("onnx", path, config)
    assert estimator.golden_report is not None and estimator.golden_report.passed


def test_a_sky_threshold_without_a_sky_output_is_refused(da3_graph: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--sky-threshold`` is where the ``--sky-output`` marks sky; without a sky output nothing reads it, and it was
    written into the spec and dropped without a word (exit 0). Refused naming it; with the sky output it is taken."""
    args = ["spec", str(da3_graph), "--kind", "metric_focal", "--output", "depth", "--sky-threshold", "0.8"]
    assert main(args) == 2
    assert "--sky-threshold 0.8 is not read without --sky-output" in capsys.readouterr().err
    assert not spec_path_for(da3_graph).exists()
    assert main([*args, "--sky-output", "sky"]) == 0
    assert json.loads(spec_path_for(da3_graph).read_text())["sky_threshold"] == pytest.approx(0.8)


class _BytesNhwc(nn.Module):
    """A TensorFlow-style export with its normalisation inside: (1, H, W, 3) uint8 pixels in, a per-pixel map of
    R minus B (in 0..255 units) out as (1, H, W)."""

    def forward(self, image: Tensor) -> Tensor:
        pixels = image.float()
        return 6.0 + (pixels[..., 0] - pixels[..., 2]) / 64.0


def test_a_uint8_graph_gets_a_0_to_255_spec_and_runs_as_onnx_runtime_does_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command wrote ImageNet's mean / std for a graph that takes uint8 pixels, a spec the loader then refused
    ('takes tensor(uint8) pixels, but its spec normalises ...'). Without --mean / --std it now writes 0..255 (the
    only normalisation a uint8 input takes) and says so; others are refused naming the input and its type. The
    depth equals a direct onnxruntime run of the same file on the resized frame."""
    import onnxruntime
    import torch.nn.functional as F

    from mono_depth_ros.training.data.kitti_files import load_rgb

    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    path = legacy_onnx(
        _BytesNhwc(), torch.zeros(1, 32, 48, 3, dtype=torch.uint8), tmp_path / "bytes.onnx", ["input_image"], ["depth"]
    )
    assert main(["spec", str(path), "--kind", "metric", "--mean", IMAGENET_MEAN, "--std", IMAGENET_STD]) == 2
    assert "input 'input_image' takes tensor(uint8) pixels 0..255" in capsys.readouterr().err
    assert not spec_path_for(path).exists()
    assert main(["spec", str(path), "--kind", "metric"]) == 0
    assert "output metric, input 32x48, pixels 0..255" in capsys.readouterr().out
    written = json.loads(spec_path_for(path).read_text())
    assert written["mean"] == [0.0, 0.0, 0.0] and written["std"] == pytest.approx([1 / 255] * 3)
    estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1, cpu_threads=1))
    got = estimator.predict(image, out_hw=(32, 48)).values
    frame = torch.from_numpy(image).permute(2, 0, 1)[None]
    resized = F.interpolate(frame, size=(32, 48), mode="bilinear", align_corners=False, antialias=True)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"input_image": resized.permute(0, 2, 3, 1).contiguous().numpy()})
    assert np.ptp(expected) > 1.0  # the frame's colours reach the map
    np.testing.assert_allclose(got, expected[0], atol=1e-5)


class _Metric3dOutputs(nn.Module):
    """Metric3D-style outputs: surface normals (1, 3, H, W), depth (1, 1, H, W), and a second graph's single output
    of depth and confidence stacked (1, 2, H, W)."""

    def __init__(self, stacked: bool) -> None:
        super().__init__()
        self.stacked = stacked

    def forward(self, image: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        depth = image[:, :1].abs() + 1.0
        if self.stacked:
            return torch.cat([depth, torch.sigmoid(image[:, 1:2])], 1)
        return torch.nn.functional.normalize(image, dim=1), depth


def test_an_output_that_is_not_one_map_per_image_is_refused_by_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command wrote a spec naming the normals (1, 3, H, W), or a graph's only output of depth and confidence
    stacked (1, 2, H, W), as the depth, which the model then failed on at start-up; it reads the declared shapes and
    names the output, its shape and the outputs that are one map per image."""
    paths = {}
    for stacked in (False, True):
        paths[stacked] = tmp_path / f"stacked_{stacked}.onnx"
        names = ["depth_and_confidence"] if stacked else ["pred_normal", "pred_depth"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Metric3dOutputs(stacked), (torch.zeros(1, 3, 32, 48),), str(paths[stacked]),
                              dynamo=False, input_names=["image"], output_names=names)  # fmt: skip
    assert main(["spec", str(paths[False]), "--kind", "metric", "--output", "pred_normal"]) == 2
    err = capsys.readouterr().err
    assert "output 'pred_normal' is declared [1, 3, 32, 48]: not one depth map per image" in err
    assert "one map per image: ['pred_depth']; give --output NAME" in err
    assert not spec_path_for(paths[False]).exists()
    assert main(["spec", str(paths[True]), "--kind", "metric"]) == 2
    err = capsys.readouterr().err
    assert "output 'depth_and_confidence' is declared [1, 2, 32, 48]" in err and "re-export the graph" in err
    assert main(["spec", str(paths[False]), "--kind", "metric", "--output", "pred_depth"]) == 0


class _Strided32(nn.Module):
    """A CNN whose strides need both sides a multiple of 32 (MiDaS, most encoder-decoders): a per-pixel map of the
    image put through a 32x32 space-to-depth and back (an ONNX Reshape that fails on other sizes)."""

    def forward(self, image: Tensor) -> Tensor:
        per_pixel = 6.0 + image[:, :1] - image[:, 2:]
        return nn.functional.pixel_shuffle(nn.functional.pixel_unshuffle(per_pixel, 32), 32)


def test_a_keep_aspect_short_side_off_the_multiple_is_refused_and_the_right_one_runs_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """MiDaS's convention (short side 384, multiple of 32) written without --multiple-of: the command printed
    'input 384x384 keeping aspect' and the spec ran the short side at 378 (the default multiple of 14), on which the
    network then failed at start-up. The command says so; with --multiple-of 32 a KITTI frame runs at 384 x 1280
    and gives what onnxruntime gives on the frame resized to that size."""
    import onnxruntime

    from mono_depth_ros.models.depth_source import build_depth_source
    from mono_depth_ros.training.data.kitti_files import load_rgb

    path = legacy_onnx(
        _Strided32(),
        torch.zeros(1, 3, 384, 384),
        tmp_path / "midas_like.onnx",
        ["input"],
        ["output"],
        {"input": {2: "h", 3: "w"}, "output": {2: "h", 3: "w"}},
    )
    args = ["spec", str(path), "--kind", "relative_inverse", "--input-size", "384x384", "--keep-aspect"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "short side 384 is not a multiple of --multiple-of 14" in err and "run at 378" in err
    assert not spec_path_for(path).exists()
    assert main([*args, "--multiple-of", "32", "--max-long-side", "1280"]) == 0
    assert "input 384x384 keeping aspect" in capsys.readouterr().out
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    params: dict[str, str | int] = {
        "model.backend": "onnx",
        "model.weights": str(path),
        "device": "cpu",
        "model.threads": 1,
    }
    source = build_depth_source(params)
    assert source is not None
    got = source.predict(image, out_hw=(384, 1280))
    assert source.last_network_hw == (384, 1280)
    frame = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    resized = nn.functional.interpolate(frame, size=(384, 1280), mode="bilinear", align_corners=False, antialias=True)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    normalised = ((resized - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (expected,) = session.run(["output"], {"input": normalised})
    np.testing.assert_allclose(got, expected[0, 0], rtol=0, atol=2e-2)  # the uint8 resize rounds to 1/255


class _SkyOfTwoMaps(nn.Module):
    """Depth (1, 1, H, W), a sky output of sky and not-sky probabilities (1, 2, H, W), and a sky mask (1, 1, H, W)."""

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        depth = image[:, :1].abs() + 1.0
        sky = torch.softmax(image[:, :2], 1)
        return depth, sky, sky[:, :1]


def test_a_sky_output_of_two_maps_is_refused_naming_sky_output_not_output(
    tmp_path: Path, kitti_object_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sky output of two maps per image was refused with '--output NAME' (the depth's flag) as the remedy, by the
    command and by the loader (given a spec written by hand): both now name --sky-output and the outputs that fit."""
    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.training.data.kitti_files import load_rgb

    names = ["depth", "sky_probabilities", "sky_mask"]
    path = legacy_onnx(_SkyOfTwoMaps(), torch.zeros(1, 3, 32, 48), tmp_path / "sky.onnx", ["image"], names)
    base = ["spec", str(path), "--kind", "metric", "--output", "depth"]
    assert main([*base, "--sky-output", "sky_probabilities"]) == 2
    err = capsys.readouterr().err
    assert "output 'sky_probabilities' is declared [1, 2, 32, 48]" in err
    assert "one map per image: ['sky_mask']; give --sky-output NAME" in err
    assert main([*base, "--sky-output", "sky_mask"]) == 0
    written = json.loads(spec_path_for(path).read_text())
    spec_path_for(path).write_text(json.dumps({**written, "sky_output": "sky_probabilities"}))
    estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=0))
    with pytest.raises(ShapeError, match=r"'sky_probabilities' is \(1, 2, 32, 48\) for 1 image: .*--sky-output NAME"):
        estimator.predict(load_rgb(kitti_object_dir / "image_2" / "000001.png"))


class _Millimetres(nn.Module):
    """An export for an embedded target: the depth as uint8 / int32 counts (here 5000 + the first channel)."""

    def forward(self, image: Tensor) -> Tensor:
        return (image[:, :1].abs() * 1000.0 + 5000.0).to(torch.int32)


def test_an_integer_depth_output_cannot_be_declared_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`mono-depth spec mm.onnx --kind metric` wrote a spec for an int32 millimetre output, and the node published
    its counts as metres (1000x off): the spec has no unit. The command refuses an absolute kind for an integer
    output naming the type and the two remedies, and writes depth_up_to_scale (scale recovery fits the unit)."""
    path = legacy_onnx(_Millimetres(), torch.zeros(1, 3, 32, 48), tmp_path / "mm.onnx", ["image"], ["depth"])
    for kind in ("metric", "metric_focal"):
        assert main(["spec", str(path), "--kind", kind]) == 2
        err = capsys.readouterr().err
        assert f"output 'depth' is tensor(int32), and --kind says {kind}: integer counts carry no unit" in err
        assert "float output in metres" in err and "give --kind depth_up_to_scale" in err
        assert not spec_path_for(path).exists()
    assert main(["spec", str(path), "--kind", "depth_up_to_scale"]) == 0
    assert json.loads(spec_path_for(path).read_text())["output_kind"] == "depth_up_to_scale"


MIDAS_NORMALISATION = {"midas_v3": ((0.5,) * 3, (0.5,) * 3)}
"""MiDaS' own ``model_loader.py``: ``NormalizeImage(mean=[0.5] * 3, std=[0.5] * 3)`` for every v3 DPT
(``dpt_large_384``, ``dpt_hybrid_384``, the BEiT and Swin ones), ImageNet's for v2.1 (``midas_v21_384``)."""


def test_the_midas_v3_example_of_the_command_gives_midas_own_normalisation(tmp_path: Path) -> None:
    """The command's documented example for a MiDaS v3 (DPT-hybrid) export left out ``--mean`` / ``--std``, so its
    spec normalised with ImageNet's mean and std (the default), not MiDaS v3's 0.5 / 0.5: every input value off by
    up to 0.9 of its range. Every ``mono-depth spec midas_v3...`` line of the docstring, run on a graph MiDaS' strides
    accept, now writes MiDaS' normalisation."""
    from mono_depth_ros.commands import spec as spec_command
    from mono_depth_ros.models.sidecar import read_spec

    doc = spec_command.__doc__ or ""  # a line ending in a backslash is joined to the next one in the docstring
    examples = [line.split()[2:] for line in doc.splitlines() if "spec midas_v3" in line]
    assert examples
    for words in examples:
        path = legacy_onnx(
            _Strided32(),
            torch.zeros(1, 3, 384, 384),
            tmp_path / words[0],
            ["input"],
            ["output"],
            {"input": {2: "h", 3: "w"}, "output": {2: "h", 3: "w"}},
        )
        assert main(["spec", str(path), *words[1:]]) == 0
        spec = read_spec(path, "onnx", None)
        mean, std = MIDAS_NORMALISATION["midas_v3"]
        assert (*spec.mean, *spec.std) == pytest.approx((*mean, *std))


class _PerPixelMap(nn.Module):
    """(B, H, W) per-pixel map of the image (R minus B, normalised), as Depth Anything's exports return it."""

    def forward(self, image: Tensor) -> Tensor:
        return 6.0 + image[:, 0] - image[:, 2]


def test_interpolation_bicubic_resizes_as_depth_anythings_own_onnx_code_does_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """fabio-sim/Depth-Anything-ONNX (image -> depth (B, H, W), free height and width) and MiDaS's ONNX scripts resize
    the image with cv2.INTER_CUBIC; the spec command had no way to say bicubic, so such a graph always ran on a
    bilinear image. With --interpolation bicubic the spec says so, and the map of a KITTI frame at the network's size
    is nearer what onnxruntime gives on the frame resized as their code does (half the mean error of bilinear); with
    --no-antialias as well it is that map (cv2's cubic is torch's, without PIL's antialiasing)."""
    import cv2
    import onnxruntime

    from mono_depth_ros.models.depth_source import build_depth_source
    from mono_depth_ros.training.data.kitti_files import load_rgb

    path = legacy_onnx(
        _PerPixelMap(),
        torch.zeros(1, 3, 56, 56),
        tmp_path / "depth_anything_v2_vits.onnx",
        ["image"],
        ["depth"],
        {"image": {2: "height", 3: "width"}, "depth": {1: "height", 2: "width"}},
    )
    image = load_rgb(kitti_object_dir / "image_2" / "000000.png")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    params: dict[str, str | int] = {"model.backend": "onnx", "model.weights": str(path), "device": "cpu"}
    recipe = ["spec", str(path), "--kind", "relative_inverse", "--input-size", "518x518", "--keep-aspect"]
    errors = {}
    for mode in ("bilinear", "bicubic", "bicubic --no-antialias"):
        assert main([*recipe, "--max-long-side", "1722", "--interpolation", *mode.split()]) == 0
        out = capsys.readouterr().out
        assert ("resized bicubic" in out) == mode.startswith("bicubic")
        policy = json.loads(spec_path_for(path).read_text())["input"]
        assert (policy.get("interpolation", "bilinear"), policy.get("antialias", True)) == (
            mode.split()[0],
            "--no-antialias" not in mode,
        )
        source = build_depth_source({**params, "model.threads": 1})
        assert source is not None
        source.predict(image, out_hw=(518, 1708))  # learns the network's size
        height, width = source.last_network_hw
        got = source.predict(image, out_hw=(height, width))
        resized = cv2.resize(image.astype(np.float64) / 255.0, (width, height), interpolation=cv2.INTER_CUBIC)
        normalised = ((resized - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
        (expected,) = session.run(["depth"], {"image": normalised})
        errors[mode] = float(np.abs(got - expected[0]).mean())
    assert errors["bicubic --no-antialias"] < 1e-3 < 0.6 * errors["bilinear"], errors  # cv2.INTER_CUBIC's image
    assert errors["bicubic"] < 0.6 * errors["bilinear"], errors


class _Metric3dOfficial(nn.Module):
    """Metric3D's official ONNX export: pixels 0..255 normalised inside with ImageNet's mean / std in pixel units,
    and (as a ViT's attention does) every output pixel depending on the whole input, the padding included: here
    the mean of the normalised input, plus a per-pixel term."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1))

    def forward(self, image: Tensor) -> Tensor:
        normalised = (image - self.mean) / self.std
        return 20.0 + normalised.mean() + 0.1 * normalised[:, :1]


def test_pad_colour_gives_metric3ds_graph_the_padding_its_own_code_gives_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Metric3D's ONNX takes pixels 0..255 and pads the fitted image with ImageNet's mean colour (its test.onnx.py:
    cv2.copyMakeBorder value [123.675, 116.28, 103.53], 0 once normalised inside the graph). Under the spec its README
    recipe writes (mean 0, std 1/255) the padding was 0: black, 2.1 standard deviations off in the graph, over 48 % of
    a KITTI frame's input. With --pad-colour 0.485,0.456,0.406 (and --no-antialias: it shrinks with cv2.INTER_LINEAR)
    the graph sees what Metric3D's own code gives it, and its map of the image is onnxruntime's on that input."""
    import cv2
    import onnxruntime

    from mono_depth_ros.models.depth_source import build_depth_source
    from mono_depth_ros.training.data.kitti_files import load_rgb

    example = torch.zeros(1, 3, 616, 1064)
    path = legacy_onnx(_Metric3dOfficial(), example, tmp_path / "m3d.onnx", ["image"], ["pred_depth"])
    image = load_rgb(kitti_object_dir / "image_2" / "000000.png")
    scale = min(616 / image.shape[0], 1064 / image.shape[1])  # Metric3D's prepare_input
    fitted_wh = (int(image.shape[1] * scale), int(image.shape[0] * scale))
    fitted = cv2.resize(image, fitted_wh, interpolation=cv2.INTER_LINEAR)
    pad_h, pad_w = 616 - fitted.shape[0], 1064 - fitted.shape[1]
    border = (pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2)
    padded = cv2.copyMakeBorder(fitted, *border, cv2.BORDER_CONSTANT, value=[123.675, 116.28, 103.53])
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (expected,) = session.run(["pred_depth"], {"image": padded.transpose(2, 0, 1)[None].astype(np.float32)})
    crop = expected[0, 0, border[0] : 616 - border[1], border[2] : 1064 - border[3]]
    pixels = ["--mean", "0,0,0", "--std", ",".join([str(1 / 255)] * 3)]
    recipe = ["spec", str(path), "--kind", "relative_inverse", "--pad", *pixels]  # the raw map: no focal needed
    assert main([*recipe[:-5], "--pad-colour", "0.485,0.456,0.406"]) == 2  # without --pad
    assert "--pad-colour 0.485,0.456,0.406 colours the padding of --pad" in capsys.readouterr().err
    assert main([*recipe, "--pad-colour", "123.675,116.28,103.53"]) == 2  # Metric3D's code's own numbers: 0..255
    assert "pixels 0..255 divided by 255, here --pad-colour 0.485,0.456,0.406" in capsys.readouterr().err
    params: dict[str, str | int] = {"model.backend": "onnx", "model.weights": str(path), "device": "cpu"}
    errors = {}
    for extra in ("", "--pad-colour 0.485,0.456,0.406", "--pad-colour 0.485,0.456,0.406 --no-antialias"):
        assert main([*recipe, *extra.split()]) == 0
        source = build_depth_source({**params, "model.threads": 1})
        assert source is not None
        got = source.predict(image, out_hw=crop.shape)
        errors[extra] = float(np.abs(got - crop).mean())
    recipe_error = errors["--pad-colour 0.485,0.456,0.406 --no-antialias"]  # cv2 rounds its resize to uint8
    assert recipe_error < errors["--pad-colour 0.485,0.456,0.406"] < 0.01 < 0.5 < errors[""], errors  # black: ~1 off


@pytest.mark.parametrize("colour", ["-0.1,0,0", "nan,0,0", "0.5,1.5,-1"])
def test_a_pad_colour_outside_0_to_1_is_refused_with_the_commands_remedy(
    da3_graph: Path, colour: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A --pad-colour out of [0, 1] that is no 0..255 triple (negative, NaN) was refused with a stored spec's remedy
    ('the spec inside the checkpoint (or its sidecar) is wrong: re-save the checkpoint ...'), which the user of this
    command writing the sidecar cannot follow; it names the value, the range and Metric3D's colour, writes nothing."""
    args = ["spec", str(da3_graph), "--kind", "metric_focal", "--output", "depth", "--pad", f"--pad-colour={colour}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--pad-colour {colour} must be RGB in [0, 1], as --mean is" in err, err
    assert "0.485,0.456,0.406" in err and "checkpoint" not in err, err
    assert not spec_path_for(da3_graph).exists()


class _ResizedToItsExportSize(nn.Module):
    """transformers' Depth Anything through the legacy exporter with free height / width: its last upsampling's size
    (``int(patch_height * patch_size)``) is traced as a constant, so the graph returns the export's map whatever it
    is fed (here 28x28 of the first channel)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.nn.functional.interpolate(x[:, :1] + 3.0, size=(28, 28), mode="bilinear")


class _SquareOnly(nn.Module):
    """torch.export from a square example: height and width one symbol, and a node that adds the map to its own
    transpose (an ONNX Runtime broadcast error on any other shape); ``square=False``: any shape (one symbol given to
    both axes by a careless ``dynamic_axes``, the graph itself free)."""

    def __init__(self, square: bool) -> None:
        super().__init__()
        self.square = square

    def forward(self, x: Tensor) -> Tensor:
        first = x[:, :1] + 3.0
        return first + first.transpose(2, 3) * 0.0 if self.square else first


def test_a_keep_aspect_spec_of_a_graph_that_is_free_in_name_only_is_refused_by_the_command_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Graphs declared with free height and width that only run square: a legacy export whose map size was traced
    as a constant (transformers' Depth Anything exported with dynamic_axes) and a torch.export graph whose height and
    width are one symbol. The command wrote their keep-aspect spec, the warm-up at its square 28x28 passed, and every
    camera frame was refused (ShapeError / ONNX Runtime's broadcast error). The command runs them once at the size a
    2:1 camera gets and refuses them naming it, the symbol and the spec to write; that spec then runs a KITTI frame,
    and a graph that runs at any size under one shared symbol is still taken."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    image = load_rgb(kitti_object_dir / "image_2" / "000000.png")
    free = {"image": {2: "height", 3: "width"}}
    shared = {"image": {2: "side", 3: "side"}, "depth": {2: "side", 3: "side"}}
    cases = {
        "traced_size": (_ResizedToItsExportSize(), free, r"is \(1, 1, 28, 28\) for a 28x56 input: a 28x28 map"),
        "square_only": (_SquareOnly(square=True), shared, r"failed on a \(1, 3, 28, 56\) input.*one symbol 'side'"),
    }
    recipe = ["--kind", "relative_inverse", "--input-size", "28x28"]
    for name, (module, axes, refusal) in cases.items():
        path = legacy_onnx(module, torch.zeros(1, 3, 28, 28), tmp_path / f"{name}.onnx", ["image"], ["depth"], axes)
        assert main(["spec", str(path), *recipe, "--keep-aspect"]) == 2, name
        err = capsys.readouterr().err
        assert re.search(refusal, err) and "without --keep-aspect" in err, err
        assert not spec_path_for(path).exists()
        assert main(["spec", str(path), *recipe]) == 0, capsys.readouterr().err  # the remedy: stretched to 28x28
        estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1, cpu_threads=1))
        values = estimator.predict(image).values
        assert values.shape == image.shape[:2] and np.isfinite(values).all(), name
    careless = legacy_onnx(_SquareOnly(square=False), torch.zeros(1, 3, 28, 28), tmp_path / "c.onnx", ["image"],
                           ["depth"], shared)  # fmt: skip
    assert main(["spec", str(careless), *recipe, "--keep-aspect"]) == 0, capsys.readouterr().err
    estimator = DepthEstimator.open("onnx", careless, EstimatorConfig(device="cpu", warmup_runs=1, cpu_threads=1))
    assert estimator.predict(image).network_hw == (14, 56)  # 1224 wide capped at 56


class _WideOnly(nn.Module):
    """A graph exported from 2:1 crops that adds the left half of its map to the right (its width split at its
    height): runs at any height and twice that width, fails at any other aspect (ONNX Runtime's broadcast error)."""

    def forward(self, x: Tensor) -> Tensor:
        first = x[:, :1] + 3.0
        side = first.shape[2]
        halves = first[..., :side] + first[..., side:]
        return torch.cat([halves, halves], dim=3)


def test_a_keep_aspect_spec_of_a_graph_that_runs_at_2_to_1_only_is_refused_naming_the_camera_it_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A free-size graph that runs for a 2:1 camera but not for the aspects users' cameras have (4:3 640x480, 16:9
    1280x720, square, portrait): the trial ran it at the 2:1 camera's size only, the spec was written, and every frame
    of a 640x480 camera was refused. The command tries each of those cameras' sizes and refuses the graph naming the
    camera and the size it failed at; the remedy (the size it was exported for, stretched) is written and runs. A
    graph that runs at any size is run once at each distinct size, the portrait one too (the square one is the spec's
    input size, which the engine's warm-up runs at load)."""
    import onnxruntime

    path = legacy_onnx(_WideOnly(), torch.zeros(1, 3, 28, 56), tmp_path / "wide.onnx", ["image"], ["depth"],
                       {"image": {2: "height", 3: "width"}, "depth": {2: "height", 3: "width"}})  # fmt: skip
    recipe = ["spec", str(path), "--kind", "relative_inverse", "--input-size", "28x28"]
    assert main([*recipe, "--keep-aspect"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"failed on a \(1, 3, 28, 42\) input", err), err  # 16:9: 28x56 at --multiple-of 14, as 2:1's
    ran = "it ran for a 2:1 camera and a 16:9 camera (1280x720))"  # 16:9's size is 2:1's: it ran too
    assert f"(a 4:3 camera (640x480) under --keep-aspect; {ran}" in err, err
    assert "--multiple-of" in err, err  # 28x42's 42 ran on no side: a stride may not divide it
    assert "without --keep-aspect" in err and not spec_path_for(path).exists(), err
    assert main(["spec", str(path), "--kind", "relative_inverse", "--input-size", "28x56"]) == 0  # the remedy
    free = legacy_onnx(_SquareOnly(square=False), torch.zeros(1, 3, 28, 28), tmp_path / "free.onnx", ["image"],
                       ["depth"], {"image": {2: "height", 3: "width"}})  # fmt: skip
    tried: list[tuple[int, ...]] = []
    run = onnxruntime.InferenceSession.run

    def recorded(self: onnxruntime.InferenceSession, names: list[str], feed: dict[str, np.ndarray]) -> object:
        tried.append(feed["image"].shape)
        return run(self, names, feed)

    monkeypatch.setattr(onnxruntime.InferenceSession, "run", recorded)
    assert main(["spec", str(free), "--kind", "relative_inverse", "--input-size", "28x28", "--keep-aspect"]) == 0
    assert [shape[2:] for shape in tried] == [(28, 56), (28, 42), (42, 28)], tried  # 16:9's is 2:1's
    estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1, cpu_threads=1))
    assert estimator.predict(np.zeros((480, 640, 3), dtype=np.uint8)).values.shape == (480, 640)


class _LandscapeOnly(nn.Module):
    """An export that runs only when its input is at least as wide as high (many exported landscape models): it adds
    its map's left square to its transpose (ONNX Runtime's broadcast error when the width is below the height)."""

    def forward(self, x: Tensor) -> Tensor:
        first = x[:, :1] + 3.0
        left = first[..., : first.shape[2]]
        return first + (left + left.transpose(2, 3)).mean() * 0.0


def _landscape_only_graph(tmp_path: Path) -> Path:
    return legacy_onnx(_LandscapeOnly(), torch.zeros(1, 3, 28, 56), tmp_path / "landscape.onnx", ["image"], ["depth"],
                       {"image": {2: "height", 3: "width"}, "depth": {2: "height", 3: "width"}})  # fmt: skip


def test_a_keep_aspect_spec_of_a_landscape_only_graph_serves_landscape_cameras_and_refuses_portrait_ones_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A graph that runs only when width >= height was refused whole at the portrait trial, with the --multiple-of
    hint (wrong: 42x28's sides ran as 28x42) and "it ran for a 2:1 camera" (16:9 and 4:3 ran too); the only way out was
    a stretched fixed-size spec for every camera. Its keep-aspect spec is written now, recording the aspects that ran
    (square too: 1.00 and wider), with a note that portrait cameras are refused and why; the engine runs a 4:3 camera
    keeping its aspect and refuses a portrait one naming it and the spec to write, before the graph runs."""
    from mono_depth_ros.core.errors import AspectError

    path = _landscape_only_graph(tmp_path)
    assert main(["spec", str(path), "--kind", "relative_inverse", "--input-size", "28x28", "--keep-aspect"]) == 0
    err = capsys.readouterr().err
    assert "failed on a (1, 3, 42, 28) input" in err and "it ran at 28x42, the same sides the other way round" in err
    ran = "it ran for a 2:1 camera, a 16:9 camera (1280x720) and a 4:3 camera (640x480))"
    assert f"(a 3:4 portrait camera (480x640) under --keep-aspect; {ran}" in err, err
    assert "--multiple-of" not in err and "a square camera (28x28) too" in err and "1.00 and wider" in err, err
    assert "refuse a portrait camera" in err and "--pad --input-size" in err, err
    recorded = json.loads(spec_path_for(path).read_text(encoding="utf-8"))
    assert recorded["input"]["keep_aspect"] is True and recorded["params"]["served_aspects"] == [1.0, None]
    estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1, cpu_threads=1))
    result = estimator.predict(np.zeros((480, 640, 3), dtype=np.uint8))
    assert result.network_hw == (28, 42) and result.values.shape == (480, 640)
    assert estimator.predict(np.zeros((480, 480, 3), dtype=np.uint8)).network_hw == (28, 28)
    with pytest.raises(AspectError, match=r"a portrait 640x480 camera image .* runs at 42x28 .*at least 1\.00 only"):
        estimator.predict(np.zeros((640, 480, 3), dtype=np.uint8))


def test_a_landscape_only_graph_that_fails_at_the_specs_own_square_size_gets_no_spec_the_engine_cannot_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A graph that runs for the landscape trials only and fails at the square one too got its keep-aspect spec at
    --input-size 28x28, serving aspects from 1.5: the engine warms up at the spec's 28x28 when it loads, and refused
    its own warm-up (AspectError, "a 28x28 camera image is not for this model") on every load. It is refused now,
    naming the --input-size of a landscape size it ran at; that spec is written and loads."""
    from mono_depth_ros.commands import spec as spec_command
    from mono_depth_ros.core.errors import CheckpointError

    trial_run = spec_command._trial_run

    def no_square(*args: object) -> bool:  # the graph fails at its square size (its input_hw)
        if args[4] == (28, 28):
            raise CheckpointError("landscape.onnx failed on a (1, 3, 28, 28) input (broadcast)")
        return trial_run(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(spec_command, "_trial_run", no_square)
    path = _landscape_only_graph(tmp_path)
    assert main(["spec", str(path), "--kind", "relative_inverse", "--input-size", "28x28", "--keep-aspect"]) == 2
    err = capsys.readouterr().err
    assert "not a square camera (28x28)" in err and "warms up at" in err and not spec_path_for(path).exists(), err
    assert "--input-size 28x42 --keep-aspect" in err, err
    assert main(["spec", str(path), "--kind", "relative_inverse", "--input-size", "28x42", "--keep-aspect"]) == 0
    capsys.readouterr()
    assert json.loads(spec_path_for(path).read_text(encoding="utf-8"))["params"]["served_aspects"] == [1.5, None]
    estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1, cpu_threads=1))
    assert estimator.predict(np.zeros((480, 640, 3), dtype=np.uint8)).network_hw == (28, 42)


def test_an_older_keep_aspect_spec_without_served_aspects_loads_and_runs_the_graph_at_any_aspect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A keep-aspect spec written before params.served_aspects (or of a graph that ran at every trial) serves any
    aspect as before: a portrait frame reaches the graph (here the landscape-only one, which fails there as it did),
    a landscape one runs. A malformed record is refused when the spec loads, naming the file and the remedy."""
    from mono_depth_ros.core.errors import CheckpointError

    path = _landscape_only_graph(tmp_path)
    assert main(["spec", str(path), "--kind", "relative_inverse", "--input-size", "28x28", "--keep-aspect"]) == 0
    capsys.readouterr()
    beside = spec_path_for(path)
    written = json.loads(beside.read_text(encoding="utf-8"))
    del written["params"]["served_aspects"]
    beside.write_text(json.dumps(written), encoding="utf-8")
    estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1, cpu_threads=1))
    assert estimator.predict(np.zeros((480, 640, 3), dtype=np.uint8)).network_hw == (28, 42)
    with pytest.raises(CheckpointError, match=r"failed on a \(1, 3, 42, 28\) input"):
        estimator.predict(np.zeros((640, 480, 3), dtype=np.uint8))
    for malformed in ([0.0, None], [2.0, 1.0], "1:1", [True, None], [1.0]):
        beside.write_text(json.dumps({**written, "params": {"served_aspects": malformed}}), encoding="utf-8")
        with pytest.raises(CheckpointError, match=r"served_aspects.*must be \[least, most\]") as raised:
            DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=0, cpu_threads=1))
        assert str(beside) in str(raised.value) and "--keep-aspect" in str(raised.value), malformed


def test_out_of_memory_in_the_keep_aspect_trial_writes_the_spec_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A large free-size graph whose 2:1 trial run does not fit this machine's memory (ONNX Runtime's 'Failed to
    allocate memory' on the CPU; the robot's GPU may hold it) ended the command in onnxruntime's traceback with no
    spec written, where the command wrote it before the trial; the spec is written and a note says it is untried."""
    import onnxruntime

    path = legacy_onnx(_SquareOnly(square=False), torch.zeros(1, 3, 28, 28), tmp_path / "big.onnx", ["image"],
                       ["depth"], {"image": {2: "height", 3: "width"}})  # fmt: skip

    def no_memory(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for buffer")

    monkeypatch.setattr(onnxruntime.InferenceSession, "run", no_memory)
    assert main(["spec", str(path), "--kind", "relative_inverse", "--input-size", "28x28", "--keep-aspect"]) == 0
    err = capsys.readouterr().err
    assert "not tried at 28x56" in err and "out of memory" in err and "untried" in err, err
    assert json.loads(spec_path_for(path).read_text())["input"]["keep_aspect"] is True


def test_a_flag_error_is_reported_before_the_keep_aspect_trial_runs_the_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The keep-aspect trial (a forward pass: seconds for a ViT-L on the CPU) ran before the checks of the flags
    read after it (--focal-divisor without metric_focal, --sky-threshold without --sky-output, ...): a mistyped
    command waited for it, and of a square-only graph was told only of the trial. The flag is named, the graph not
    run."""
    import onnxruntime

    path = legacy_onnx(_SquareOnly(square=True), torch.zeros(1, 3, 28, 28), tmp_path / "square.onnx", ["image"],
                       ["depth"], {"image": {2: "side", 3: "side"}, "depth": {2: "side", 3: "side"}})  # fmt: skip
    runs: list[object] = []
    monkeypatch.setattr(onnxruntime.InferenceSession, "run", lambda *args, **kwargs: runs.append(args))
    recipe = ["--kind", "relative_inverse", "--input-size", "28x28", "--keep-aspect", "--focal-divisor", "1000"]
    assert main(["spec", str(path), *recipe]) == 2
    err = capsys.readouterr().err
    assert "--focal-divisor is for --kind metric_focal" in err and not runs, err
