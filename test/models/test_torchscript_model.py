"""Tests for models/torchscript_model.py: loading a traced model with its spec, autocast, clear errors."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError, ShapeError
from mono_depth_ros.models.backend import DepthBackend, TensorOutput
from mono_depth_ros.models.export import export_torchscript
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.sidecar import spec_path_for
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.models.torchscript_model import TorchScriptBackend

from .tiny_models import MapsOnLoad, SavesOnLoad, WritesOnLoad, tiny_unet, write_unet_checkpoint

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def script_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    network, spec = tiny_unet(output_kind=OutputKind.RELATIVE_INVERSE)
    path = tmp_path_factory.mktemp("ts") / "tiny.pt"
    export_torchscript(network, spec, path)
    return path


def test_loads_and_runs(script_path: Path) -> None:
    backend = TorchScriptBackend(script_path, CPU)
    assert isinstance(backend, DepthBackend) and backend.torch_native
    assert backend.spec.backend == "torchscript" and backend.spec.output_kind is OutputKind.RELATIVE_INVERSE
    assert backend.golden is not None
    out = backend.infer(torch.randn(1, 3, 64, 96))
    assert out.shape == (1, 1, 64, 96) and out.dtype == torch.float32


def test_estimator_with_torchscript_fp32_and_bf16(script_path: Path) -> None:
    image = np.random.default_rng(2).integers(0, 256, size=(60, 200, 3), dtype=np.uint8)
    fp32 = DepthEstimator.open("torchscript", script_path, EstimatorConfig(device="cpu"))
    assert fp32.golden_report is not None and fp32.golden_report.passed
    result = fp32.predict(image)
    assert result.values.shape == (60, 200) and result.output_kind is OutputKind.RELATIVE_INVERSE
    bf16 = DepthEstimator.open("torchscript", script_path, EstimatorConfig(device="cpu", precision="bf16"))
    assert bf16.golden_report is not None and bf16.golden_report.passed  # autocast reaches traced graphs
    assert bf16.golden_report.rel_l1 > 0.0


def test_spec_embedded_in_the_archive(script_path: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone.pt"
    alone.write_bytes(script_path.read_bytes())
    assert TorchScriptBackend(alone, CPU).spec.backend == "torchscript"


def test_archive_without_spec_is_refused(tmp_path: Path) -> None:
    network, _ = tiny_unet()
    bare = tmp_path / "bare.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(TensorOutput(network), torch.randn(1, 3, 64, 96)), str(bare))
    with pytest.raises(CheckpointError, match=r"no ModelSpec .*bare\.pt\.spec\.json"):
        TorchScriptBackend(bare, CPU)


def test_wrong_files_are_refused(script_path: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        TorchScriptBackend(tmp_path / "missing.pt", CPU)
    safetensors = write_unet_checkpoint(tmp_path / "weights.safetensors", golden=False)
    with pytest.raises(CheckpointError, match="not a TorchScript archive"):
        TorchScriptBackend(safetensors, CPU)
    copy = tmp_path / "copy.pt"
    copy.write_bytes(script_path.read_bytes())
    data = json.loads(spec_path_for(script_path).read_text())
    spec_path_for(copy).write_text(json.dumps({**data, "backend": "onnx"}))
    remedy = r'is for backend \'onnx\', but .*copy\.pt is a TorchScript model; write "backend": "torchscript" in it'
    with pytest.raises(CheckpointError, match=remedy):  # was "set model.backend: onnx": then "is an ONNX model"?
        TorchScriptBackend(copy, CPU)
    spec_path_for(copy).write_text(json.dumps({**data, "backend": "torchscript"}))  # the remedy, as written
    assert TorchScriptBackend(copy, CPU).spec.backend == "torchscript"
    truncated = tmp_path / "truncated.pt"  # was "not a TorchScript archive (not a zip); pass the .pt written by ..."
    for keep in (0.5, 0.99):
        data = script_path.read_bytes()
        truncated.write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(CheckpointError, match=r"truncated\.pt is a zip archive cut short .*copy it again"):
            TorchScriptBackend(truncated, CPU)


class _DictOutput(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"confidence": x[:, 1], "predicted_depth": x[:, 0].abs() + 1.0}


class _TupleOutput(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, :1].abs() + 1.0, x


class _SqueezedOutput(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0].abs() + 1.0


@pytest.mark.parametrize("module", [_DictOutput(), _TupleOutput(), _SqueezedOutput()], ids=["dict", "tuple", "bhw"])
@pytest.mark.parametrize("how", ["script", "trace"])
def test_modules_made_elsewhere_return_a_dict_a_tuple_or_b_h_w(
    script_path: Path, tmp_path: Path, module: torch.nn.Module, how: str
) -> None:
    """TorchScript from other projects returns transformers-like dicts, tuples or (B, H, W): the depth is found."""
    example = torch.randn(1, 3, 64, 96)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        made = torch.jit.script(module) if how == "script" else torch.jit.trace(module, example, strict=False)
        torch.jit.save(made, str(path := tmp_path / "made.pt"))  # type: ignore[no-untyped-call]
    spec_path_for(path).write_text(spec_path_for(script_path).read_text())
    backend = TorchScriptBackend(path, CPU)
    torch.testing.assert_close(backend.infer(example), example[:, :1].abs() + 1.0)


def test_pickles_and_directories_are_refused_with_what_to_pass(script_path: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)  # a pickled module: never unpickled
    with pytest.raises(CheckpointError, match=r"torch\.save pickle .* never loaded"):
        TorchScriptBackend(pickled, CPU)
    (tmp_path / "copy.pt").write_bytes(script_path.read_bytes())
    with pytest.raises(CheckpointError, match=r"is a directory \(holding \['copy\.pt', 'model\.pt'\]\)"):
        TorchScriptBackend(tmp_path, CPU)


class _TracedAtOneSize(torch.nn.Module):
    """A module whose trace bakes its input size in (a reshape to 48 * 48), as a ViT's patch grid often is."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.mean(1).reshape(1, 48 * 48)
        return flat.reshape(1, 1, 48, 48) * 0.0 + 2.0


def _made_elsewhere(module: torch.nn.Module, example: torch.Tensor, path: Path, spec: dict[str, object]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(module, example), str(path))  # type: ignore[no-untyped-call]
    base = {"architecture": "torchscript_module", "backend": "torchscript", "output_kind": "metric"}
    spec_path_for(path).write_text(json.dumps({**base, **spec}))
    return path


def test_a_module_that_fails_at_start_up_is_refused_with_the_size_and_the_remedy(tmp_path: Path) -> None:
    """A module traced at 48x48 under a keep-aspect spec: a CheckpointError (the CLI's one-line error, exit 2)
    naming the input it failed on and the spec to write, not the TorchScript interpreter's traceback."""
    keep_aspect = {"input": {"height": 48, "width": 48, "keep_aspect": True, "multiple_of": 16, "max_long_side": 96}}
    path = _made_elsewhere(_TracedAtOneSize(), torch.zeros(1, 3, 48, 48), tmp_path / "one_size.pt", keep_aspect)
    config = EstimatorConfig(device="cpu", warmup_runs=1, warmup_hw=(120, 240), golden_check="off")
    with pytest.raises(CheckpointError, match=r"failed on a \(1, 3, 48, 96\) input \(.*is invalid for input of size"):
        DepthEstimator.open("torchscript", path, config)
    with pytest.raises(CheckpointError, match=r"--input-size HxW"):
        DepthEstimator.open("torchscript", path, config)
    fixed = {"input": {"height": 48, "width": 48}}
    _made_elsewhere(_TracedAtOneSize(), torch.zeros(1, 3, 48, 48), path, fixed)
    assert np.all(
        DepthEstimator.open("torchscript", path, config).predict(np.zeros((90, 160, 3), np.uint8)).values == 2
    )


class _Squeezed(torch.nn.Module):
    """A traced ``.squeeze()`` wrapper (MiDaS hub scripts): (H, W) out for a batch of one."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).squeeze().abs() + 1.0


def test_fp16_and_squeezed_modules_made_elsewhere_run(tmp_path: Path) -> None:
    """A module traced in half precision gets its input in half (it failed with 'Input type (float) and bias type
    (c10::Half) should be the same'); one returning (H, W) is lifted like an ONNX graph's (it was refused)."""
    torch.manual_seed(0)
    module, example = _Squeezed().eval(), torch.rand(1, 3, 24, 32)
    expected = module(example)[None, None]
    spec = {"input": {"height": 24, "width": 32}}
    squeezed = TorchScriptBackend(_made_elsewhere(module, example, tmp_path / "squeezed.pt", spec), CPU)
    torch.testing.assert_close(squeezed.infer(example), expected)
    half = _made_elsewhere(module.half(), example.half(), tmp_path / "half.pt", spec)
    got = TorchScriptBackend(half, CPU).infer(example)
    assert got.shape == (1, 1, 24, 32)
    torch.testing.assert_close(got.float(), expected, rtol=1e-2, atol=1e-2)


class _ConfidenceFirst(torch.nn.Module):
    """A module returning (confidence, depth): the depth is not the tuple's first item."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.sigmoid(x[:, :1]), x[:, :1].abs() + 5.0


def test_the_depth_of_a_tuple_is_chosen_by_position_and_a_name_is_refused(tmp_path: Path) -> None:
    """``--output`` on a module returning a tuple was ignored: its first item (here the confidence, 0..1) was
    published as depth. A position selects the item; a name, which a tuple has none of, is refused."""
    example = torch.randn(1, 3, 16, 24)
    spec = {"input": {"height": 16, "width": 24}}
    path = _made_elsewhere(_ConfidenceFirst(), example, tmp_path / "conf_first.pt", {**spec, "output_name": "1"})
    torch.testing.assert_close(TorchScriptBackend(path, CPU).infer(example), example[:, :1].abs() + 5.0)
    _made_elsewhere(_ConfidenceFirst(), example, path, {**spec, "output_name": "depth"})
    with pytest.raises(ShapeError, match=r"returns a tuple of 2, .* --output 0\.\.1"):
        TorchScriptBackend(path, CPU).infer(example)
    _made_elsewhere(_ConfidenceFirst(), example, path, {**spec, "output_name": "2"})
    with pytest.raises(ShapeError, match=r"returns a tuple of 2, .* --output 0\.\.1"):
        TorchScriptBackend(path, CPU).infer(example)


def test_an_onnx_file_given_to_the_torchscript_backend_names_the_onnx_backend(
    script_path: Path, tmp_path: Path
) -> None:
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Conv2d(3, 1, 1), (torch.zeros(1, 3, 8, 8),), str(path), dynamo=False)
    with pytest.raises(CheckpointError, match=r"is an ONNX model, not TorchScript; set model\.backend: onnx"):
        TorchScriptBackend(path, CPU)


@pytest.mark.parametrize(("op", "module"), [("save", SavesOnLoad), ("from_file", MapsOnLoad)])
def test_a_module_whose_code_writes_files_is_refused_before_torch_jit_runs_it(
    script_path: Path, tmp_path: Path, op: str, module: type[WritesOnLoad]
) -> None:
    """torch.jit.load runs a module's TorchScript ``__setstate__``: code there (or in forward) that writes files
    would run with the node's rights. The archive's code is read first and the load refused, naming the op and
    the remedy; no file is written. The project's own traces still load (test_loads_and_runs)."""
    marker = tmp_path / "written_by_the_model"
    path = tmp_path / "evil.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(module(str(marker))), str(path))  # type: ignore[no-untyped-call]
    marker.unlink(missing_ok=True)  # scripting does not run __setstate__; saving does not either
    spec_path_for(path).write_text(spec_path_for(script_path).read_text())
    with pytest.raises(CheckpointError, match=rf"evil\.pt .*calls {op} .*export .*ONNX"):
        TorchScriptBackend(path, CPU)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("code", "op"),
    [
        ("    _0 = ops.image.write_file(self.path, data)\n", "write_file"),  # torchvision.io, when imported
        ("    data = ops.image.read_file('/etc/shadow')\n", "read_file"),
        ("    _1 = ops.torchaudio.sox_io_save_audio_file(p, x, 16000)\n", "torchaudio"),
    ],
    ids=["torchvision-write", "torchvision-read", "torchaudio"],
)
def test_file_ops_of_other_libraries_are_refused_too(tmp_path: Path, code: str, op: str) -> None:
    """Libraries imported into the process register TorchScript ops of their own: torchvision.io's
    image::read_file / write_file and torchaudio's file I/O read and write any path. The code of an archive is read
    as text, so a hand-made zip with such code is enough to check (it need not load)."""
    import zipfile

    from mono_depth_ros.models.torchscript_model import check_script_code

    path = tmp_path / "foreign.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("foreign/code/__torch__.py", f"def forward(self, x: Tensor) -> Tensor:\n{code}    return x\n")
        archive.writestr("foreign/constants.pkl", b"")
    with pytest.raises(CheckpointError, match=rf"calls {op} \(foreign/code/__torch__\.py\)"):
        check_script_code(path)


class _StackedSqueezed(torch.nn.Module):
    """Confidence and depth concatenated, then ``[0]`` (the batch of one dropped): (2, H, W) for one image."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        confidence = torch.sigmoid(x[:, :1]) * 0.0 + 0.25
        return torch.cat([confidence, x[:, 1:2].abs() * 0.0 + 7.0], 1)[0]


def test_a_module_returning_two_maps_for_one_image_is_refused_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """(2, H, W) for one image was read as a batch of two maps and the first (the confidence: 0.25 m on a whole
    KITTI frame) published as depth; it is refused naming the shape and what to return."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    spec: dict[str, object] = {"input": {"height": 32, "width": 48}}
    path = _made_elsewhere(_StackedSqueezed(), torch.zeros(1, 3, 32, 48), tmp_path / "stacked.pt", spec)
    estimator = DepthEstimator.open("torchscript", path, EstimatorConfig(device="cpu", warmup_runs=0))
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    with pytest.raises(
        ShapeError, match=r"stacked.pt's depth is \(2, 32, 48\) for 1 image: not one depth map per image.*--output N"
    ):
        estimator.predict(image)


def test_the_first_of_several_tensors_is_taken_with_a_warning_naming_the_others_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A module returning (confidence, depth) under a spec that names no item: its first item (the confidence) was
    published as depth without a word. It still is (the documented default), with one warning that names the items
    and the --output that picks another."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    spec: dict[str, object] = {"input": {"height": 16, "width": 24}}
    path = _made_elsewhere(_ConfidenceFirst(), torch.randn(1, 3, 16, 24), tmp_path / "conf_first.pt", spec)
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    with caplog.at_level("WARNING", logger="mono_depth_ros.models.torchscript_model"):
        estimator = DepthEstimator.open("torchscript", path, EstimatorConfig(device="cpu", warmup_runs=1))
        first = estimator.predict(image).values
        estimator.predict(image)
    warnings_ = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings_) == 1, warnings_
    assert "conf_first.pt returns a tuple of 2 items, tensors [(1, 1, 16, 24), (1, 1, 16, 24)]" in warnings_[0]
    assert "item 0 is taken as the depth" in warnings_[0] and "--output N` (N in 0..1)" in warnings_[0]
    assert np.nanmax(first) <= 1.0  # the confidence, as documented without --output


class _BytesNhwc(torch.nn.Module):
    """A module traced for (1, H, W, 3) uint8 pixels (its normalisation inside), a layout TorchScript never declares
    to the loader."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2).float().mean(1, keepdim=True) / 255.0 + 1.0


def test_a_module_taking_another_layout_is_refused_at_start_up_not_run_on_the_permuted_image(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """Given the engine's (1, 3, 32, 48) float batch, the NHWC module permuted it to (1, 48, 3, 32) and returned a
    (1, 1, 3, 32) map, which was stretched over a KITTI frame as its depth. The map's aspect is not its input's:
    refused on the frame, and at start-up, naming the sizes and the input the engine gives."""
    from mono_depth_ros.models.depth_source import build_depth_source
    from mono_depth_ros.training.data.kitti_files import load_rgb

    spec: dict[str, object] = {"input": {"height": 32, "width": 48}}
    path = _made_elsewhere(_BytesNhwc(), torch.zeros(1, 32, 48, 3, dtype=torch.uint8), tmp_path / "nhwc.pt", spec)
    refused = r"nhwc.pt's depth is \(1, 1, 3, 32\) for a 32x48 input: a 3x32 map.*\(B, 3, H, W\) float"
    estimator = DepthEstimator.open("torchscript", path, EstimatorConfig(device="cpu", warmup_runs=0))
    with pytest.raises(ShapeError, match=refused):
        estimator.predict(load_rgb(kitti_object_dir / "image_2" / "000001.png"))
    params: dict[str, str | int] = {
        "model.backend": "torchscript",
        "model.weights": str(path),
        "device": "cpu",
        "model.threads": 1,
    }
    with pytest.raises(ShapeError, match=refused):
        build_depth_source(params)


class _CroppedToPatches(torch.nn.Module):
    """A ViT-style module that crops its input to whole 14-pixel patches and returns the map of the crop (its
    resize back to the input left out of the trace)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1, : x.shape[2] // 14 * 14, : x.shape[3] // 14 * 14].abs() + 1.0


def test_a_map_cropped_to_whole_patches_is_refused_naming_the_multiple_not_a_permuted_layout(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """At 27x40 the module returns a 14x28 map: refused (it would be stretched over the frame), and the message
    said the module read the image permuted; it names the multiple of its strides to run at."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    spec: dict[str, object] = {"input": {"height": 27, "width": 40}}
    path = _made_elsewhere(_CroppedToPatches(), torch.zeros(1, 3, 27, 40), tmp_path / "patches.pt", spec)
    estimator = DepthEstimator.open("torchscript", path, EstimatorConfig(device="cpu", warmup_runs=0))
    with pytest.raises(ShapeError, match=r"\(1, 1, 14, 28\) for a 27x40 input.*a multiple of its strides") as err:
        estimator.predict(load_rgb(kitti_object_dir / "image_2" / "000001.png"))
    assert "uint8" not in str(err.value)


class _BytesNchw(torch.nn.Module):
    """A module traced for (1, 3, H, W) uint8 pixels, its normalisation inside: the red channel in 0..1, plus one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()[:, :1] / 255.0 + 1.0


def test_a_module_traced_for_uint8_pixels_runs_right_with_the_pixel_spec_the_readme_names_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """Nothing in a TorchScript file says it takes uint8 pixels, so it is not refused (README): under ImageNet's
    mean / std its map is of values near 0; with `mono-depth spec --mean 0,0,0 --std 1/255` it is the module's own
    map of the resized KITTI frame."""
    import torch.nn.functional as F

    from mono_depth_ros.cli import main
    from mono_depth_ros.training.data.kitti_files import load_rgb

    path = tmp_path / "bytes.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        example = torch.zeros(1, 3, 32, 96, dtype=torch.uint8)
        torch.jit.save(torch.jit.trace(_BytesNchw(), example), str(path))  # type: ignore[no-untyped-call]
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    resized = F.interpolate(torch.from_numpy(image).permute(2, 0, 1)[None].float(), size=(32, 96), mode="bilinear",
                            align_corners=False, antialias=True)  # fmt: skip
    expected = _BytesNchw()(resized)[0, 0].numpy()
    assert np.ptp(expected) > 0.1  # the frame's colours reach the map
    std = ",".join([str(1 / 255)] * 3)
    for mean_std, close in ((["--mean", "0,0,0", "--std", std], True), ([], False)):
        assert main(["spec", str(path), "--kind", "metric", "--input-size", "32x96", *mean_std]) == 0
        estimator = DepthEstimator.open("torchscript", path, EstimatorConfig(device="cpu", warmup_runs=1))
        got = estimator.predict(image, out_hw=(32, 96)).values
        assert np.allclose(got, expected, atol=1e-2) is close  # the engine resizes in uint8: 1/255 steps


class _Millimetres(torch.nn.Module):
    """An export for an embedded target: int32 millimetres of the red channel's 0..1, plus 1 m."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x[:, :1] + 1.0) * 1000.0).to(torch.int32)


def test_an_integer_depth_output_under_a_metric_spec_is_refused_at_start_up_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """An ONNX graph's integer output is refused from its declared type; a TorchScript module's type is known only
    when it runs, and its int32 millimetres were cast to float and published as metres, 1000x off (values >= 1000 on
    a KITTI frame). The start-up run refuses it under a metric spec, naming the dtype and the two remedies; under
    depth_up_to_scale (scale recovery fits the unit) it runs."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    spec: dict[str, object] = {"input": {"height": 32, "width": 96}, "mean": [0, 0, 0], "std": [1, 1, 1]}
    path = _made_elsewhere(_Millimetres(), torch.zeros(1, 3, 32, 96), tmp_path / "mm.pt", spec)
    config = EstimatorConfig(device="cpu", warmup_runs=1, golden_check="off")
    with pytest.raises(CheckpointError, match=r"mm\.pt.* is tensor\(int32\), and its spec says metric.*1000x off"):
        DepthEstimator.open("torchscript", path, config)
    with pytest.raises(CheckpointError, match=r"--kind depth_up_to_scale"):
        DepthEstimator.open("torchscript", path, EstimatorConfig(device="cpu", warmup_runs=0)).predict(image)
    _made_elsewhere(_Millimetres(), torch.zeros(1, 3, 32, 96), path, {**spec, "output_kind": "depth_up_to_scale"})
    values = DepthEstimator.open("torchscript", path, config).predict(image, out_hw=(32, 96)).values
    assert values.min() >= 1000.0 and values.max() <= 2000.0


def test_a_training_state_file_is_no_torchscript_and_names_its_model(tmp_path: Path) -> None:
    """A ``.pt`` by its suffix, so the node, eval and export guess TorchScript for it; the node said "export the
    model with `mono-depth export WEIGHTS`", and export said it was an exported model already: a loop."""
    state = tmp_path / "step_0000019.state.pt"
    torch.save({"optimizer": {}, "step": 19}, state)
    model = tmp_path / "step_0000019.safetensors"
    with pytest.raises(CheckpointError, match=rf"optimiser state .* pass .*model, {re.escape(str(model))}"):
        TorchScriptBackend(state, CPU)


def test_a_training_state_file_of_a_fine_tuned_depth_anything_names_its_backend(tmp_path: Path) -> None:
    """The state file of a Depth Anything fine-tune (``model.pretrained``: its step_N.safetensors holds a
    ``depth_anything_v2`` network) named ``model.backend: unet``, which cannot load that checkpoint; it names the
    backend its model's spec gives."""
    from mono_depth_ros.models.checkpoint import save_checkpoint
    from mono_depth_ros.models.depth_anything import VARIANTS, depth_anything_spec

    state = tmp_path / "step_0000019.state.pt"
    torch.save({"optimizer": {}, "step": 19}, state)
    model = tmp_path / "step_0000019.safetensors"
    save_checkpoint(model, {"w": torch.zeros(1)}, depth_anything_spec(VARIANTS["small"], "metric", 80.0))
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(model))} \(model.backend: depth_anything_v2\)") as err:
        TorchScriptBackend(state, CPU)
    assert "unet" not in str(err.value)
