"""Tests for `mono-depth export`: checkpoint -> ONNX + TorchScript with specs beside, loadable by the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.cli import main
from mono_depth_ros.commands.export import export_weights, parse_hw
from mono_depth_ros.config import resolve
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.depth_source import build_depth_source
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig

from ..models.tiny_models import write_unet_checkpoint


def test_cli_exports_both_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checkpoint = write_unet_checkpoint(tmp_path / "tiny.safetensors")
    out = tmp_path / "out"
    code = main(["export", str(checkpoint), "--out", str(out), "--exporter", "legacy", "--camera", "375x1242"])
    assert code == 0
    text = capsys.readouterr().out
    assert "max abs diff vs torch" in text and "--param model.backend=onnx" in text
    for backend, name in (("onnx", "tiny.onnx"), ("torchscript", "tiny.pt")):
        assert (out / name).is_file() and (out / f"{name}.spec.json").is_file()
        estimator = DepthEstimator.open(backend, out / name, EstimatorConfig(device="cpu", warmup_runs=0))
        assert estimator.golden_report is not None and estimator.golden_report.passed  # the checkpoint's golden


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_hw("266X882") == (266, 882)
    for bad in ("266", "0x5", "axb"):
        with pytest.raises(ConfigError):
            parse_hw(bad)
    assert main(["export", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err  # export writes .onnx / .pt: it cannot have written the missing .safetensors
    assert "does not exist" in err and "`mono-depth export`" not in err
    for name in ("made.onnx", "made.pt"):  # was "set model.backend to 'onnx' for it": export has no model.backend
        (tmp_path / name).write_bytes(b"\x08\x07")
        assert main(["export", str(tmp_path / name), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert "is already an exported model" in err and f"--param model.weights={tmp_path / name}" in err
    with pytest.raises(ConfigError, match="format"):
        export_weights(tmp_path / "x.safetensors", tmp_path, formats="tflite")


def test_a_pickle_is_no_exported_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ``.pt`` that torch.save wrote was called "already an exported model (torchscript); run this one with
    --param model.backend=torchscript", which the node refuses ("export the model with `mono-depth export`"): a loop.
    A training run's ``.state.pt`` names its model; any other pickle is named as one."""
    state = tmp_path / "step_0000019.state.pt"
    torch.save({"optimizer": {}, "step": 19}, state)
    assert main(["export", str(state), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "already an exported model" not in err and f"model, {tmp_path / 'step_0000019.safetensors'}" in err, err
    pickled = tmp_path / "model.pth"
    torch.save(torch.nn.Linear(2, 2).state_dict(), pickled)
    assert main(["export", str(pickled), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "already an exported model" not in err and "is a torch.save pickle" in err, err


def test_an_input_size_off_the_models_multiple_names_the_option_and_a_size_that_fits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--input-size 65x190`` on a unet said "UNet input 65x190 (HxW) is not a multiple of 32; resize it with the
    spec's InputPolicy (multiple_of=32)": a library remedy, no option of the command. It names the option and the
    nearest size that fits."""
    checkpoint = write_unet_checkpoint(tmp_path / "tiny.safetensors")
    args = ["export", str(checkpoint), "--out", str(tmp_path / "out"), "-f", "torchscript", "--input-size", "65x190"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--input-size 65x190 is not a multiple of 32" in err and "e.g. --input-size 64x192" in err, err
    assert not list((tmp_path / "out").glob("tiny.*"))


@pytest.mark.parametrize("family", ["glpn", "zoedepth", "depth_anything"])
def test_a_transformers_directory_exports_to_onnx_for_tensorrt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], family: str
) -> None:
    """Hugging Face directory -> ONNX with its spec -> ONNX Runtime (TensorRT asked for: here it falls back to the
    CPU with a reason), the same depth as the directory itself."""
    import numpy as np

    from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
    from mono_depth_ros.models.onnx_model import OnnxBackend
    from test.models.hf_tiny import write_tiny_family

    directory = write_tiny_family(family, tmp_path / family)
    args = ["export", str(directory), "--out", str(tmp_path / "out"), "-f", "onnx", "--camera", "375x1242"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "--param model.backend=onnx" in printed
    # torch's dynamo exporter turns a dimension it cannot keep symbolic into a constant without a word
    # (refine_dynamic_shapes_from_suggested_fixes): ZoeDepth came out fixed at 64x224, where the legacy exporter
    # gives a graph that runs any camera; the ViT of Depth Anything is fixed-size with either
    assert ("any size" in printed) is (family != "depth_anything")
    options = EstimatorConfig(device="cpu", warmup_runs=0, onnx_providers=("tensorrt", "cuda", "cpu"))
    exported = DepthEstimator.open("onnx", tmp_path / "out" / f"{family}.onnx", options)
    assert isinstance(exported.backend, OnnxBackend) and exported.backend.fallbacks[0].startswith("tensorrt")
    original = DepthEstimator.open("transformers", directory, EstimatorConfig(device="cpu", warmup_runs=0))
    assert exported.output_kind is original.output_kind
    image = np.random.default_rng(0).integers(0, 255, (375, 1242, 3), dtype=np.uint8)
    np.testing.assert_allclose(exported.predict(image).values, original.predict(image).values, rtol=1e-3, atol=1e-6)
    if family != "depth_anything":  # a 640x480 camera (aspect 1.33, not the export's 3.3) runs as the directory does
        nyu = np.random.default_rng(1).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        np.testing.assert_allclose(exported.predict(nyu).values, original.predict(nyu).values, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("family", ["depth_pro", "prompt_depth_anything"])
def test_families_that_take_more_than_the_image_are_not_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], family: str
) -> None:
    from test.models.hf_tiny import write_tiny_family

    directory = write_tiny_family(family, tmp_path / family)
    assert main(["export", str(directory), "--out", str(tmp_path / "out"), "-f", "onnx"]) == 2
    remedy = f"run it with --param model.backend=transformers --param model.weights={directory}"
    assert remedy in capsys.readouterr().err  # the backend alone: "model.backend=transformers needs model.weights"
    params = dict(item.split("=", 1) for item in remedy.split(" --param ")[1:])
    assert build_depth_source(resolve({**params, "device": "cpu", "model.golden_check": "off"})) is not None


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_an_input_size_the_model_cannot_run_is_refused_with_its_own_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    """A ViT DPT rebuilds its patch grid as a square: --input-size 64x128 failed inside the exporter with a
    traceback (shape '[1, 4, 4, 32]' is invalid ...); the error names the size and the model's own."""
    from test.models.hf_tiny import write_tiny_family

    directory = write_tiny_family("dpt", tmp_path / "dpt")
    args = ["export", str(directory), "--out", str(tmp_path / "out"), "-f", fmt, "--input-size", "64x128"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "does not run at 64x128" in err and "its own input is 64x64" in err
    assert not list((tmp_path / "out").glob("dpt.*"))


def test_a_fixed_size_export_of_a_keep_aspect_model_refuses_a_camera_of_another_aspect(
    tmp_path: Path, kitti_depth_dir: Path, nyu_dir: Path
) -> None:
    """Depth Anything keeps the camera's aspect, but its ViT exports at one fixed size: exported for KITTI
    (375x1242 -> 56x168) it gave the torch model's depth on KITTI, and stretched NYU's 480x640 (aspect 1.33, which
    the torch model runs at 98x126) to 56x168 (aspect 3) without a word: a depth map of a squashed scene. Now a
    camera whose aspect differs from the export's is refused per frame (ShapeError, which the node logs and counts)
    with the export that fits it; the export's own camera still gets the torch model's depth."""
    from mono_depth_ros.core.errors import ShapeError
    from mono_depth_ros.training.data.kitti_files import load_rgb
    from test.models.hf_tiny import write_tiny_family

    directory = write_tiny_family("depth_anything", tmp_path / "da")
    results = export_weights(directory, tmp_path / "out", camera_hw=(375, 1242), exporter="legacy")
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    original = DepthEstimator.open("transformers", directory, options)
    kitti = load_rgb(kitti_depth_dir / "rgb" / "0000000005.png")
    nyu = load_rgb(nyu_dir / "rgb" / "rgb_00000.jpg")
    assert kitti.shape[:2] == (375, 1242) and nyu.shape[:2] == (480, 640)
    for result in results:
        assert not result.dynamic and "cameras of aspect 3.0" in result.describe()
        exported = DepthEstimator.open(result.spec.backend, result.path, options)
        expected = original.predict(kitti).values  # relative inverse depth: 1e-4 of its largest value
        np.testing.assert_allclose(exported.predict(kitti).values, expected, atol=1e-4 * np.nanmax(expected), rtol=0)
        with pytest.raises(ShapeError, match=r"480x640 .*--camera 480x640"):
            exported.predict(nyu)


def test_an_op_the_legacy_exporter_lacks_is_an_error_with_the_exporter_that_has_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """TIPSv2's DPT head upsamples with antialiasing (aten::_upsample_bilinear2d_aa), which the legacy (TorchScript-
    based) exporter has no ONNX op for: `--exporter legacy` ended in torch's traceback, its message the whole traced
    graph. Now one line naming the op and the exporter that has it (dynamo, the default); nothing is left behind."""
    from test.models.hf_tiny import write_tiny_family

    directory = write_tiny_family("tipsv2_dpt", tmp_path / "tips")
    capsys.readouterr()  # save_pretrained's progress bar
    args = ["export", str(directory), "--out", str(tmp_path / "out"), "-f", "onnx", "--exporter", "legacy"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "aten::_upsample_bilinear2d_aa" in err and "--exporter dynamo" in err and "-f torchscript" in err
    assert len(err.splitlines()) == 1 and "%" not in err
    assert not list((tmp_path / "out").glob("tips.onnx*"))


def test_an_output_folder_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--out`` naming a file: FileExistsError out of the exporter's mkdir, a traceback and exit 1. Now exit 2,
    naming it."""
    checkpoint = write_unet_checkpoint(tmp_path / "tiny.safetensors")
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    assert main(["export", str(checkpoint), "--out", str(taken), "-f", "torchscript"]) == 2
    err = capsys.readouterr().err
    assert f"--out {taken}: {taken} is a file, not a folder" in err and taken.read_text() == "mine"


def test_the_input_size_asked_for_is_the_size_the_node_serves(
    tmp_path: Path, kitti_depth_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A unet runs any size, and `mono-depth export --input-size 64x192` of one trained at 32x96 (a few steps on
    real KITTI frames) traced it at 64x192 but wrote the training size into the spec: the node's pipeline (built from
    a DepthConfig) fed both the ONNX and the TorchScript export 32x96, the size asked for silently ignored. The spec
    now records 64x192, the node runs it there, and the golden self-test passes at that size."""
    from mono_depth_ros.adapters.model import build_pipeline
    from mono_depth_ros.models.sidecar import read_golden, spec_path_for
    from mono_depth_ros.models.spec import ModelSpec
    from mono_depth_ros.training.trainer.config import load_train_config
    from mono_depth_ros.training.trainer.loop import train
    from test.training.tiny import tiny_overrides

    overrides = ["data.kind=kitti_depth", f"data.root={kitti_depth_dir}"]
    tiny = tiny_overrides(tmp_path / "run", tmp_path / "clips", run__steps=2, run__batch_size=1, run__validate=False)
    overrides += [item for item in tiny if not item.startswith(("data.", "model.input_"))]
    overrides += ["model.input_height=32", "model.input_width=96"]
    model = train(load_train_config(None, overrides)).model_path
    assert model is not None
    out = tmp_path / "out"
    assert main(["export", str(model), "--out", str(out), "--input-size", "64x192"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("any size, run at 64x192 by its spec") == 2, printed
    for backend, name in (("onnx", "model.onnx"), ("torchscript", "model.pt")):
        params = {"model.backend": backend, "model.weights": str(out / name), "scale.mode": "none", "device": "cpu"}
        pipeline = build_pipeline(params, lambda text: None)
        source = pipeline._source  # the node's network, as the pipeline sizes its input
        assert source is not None and hasattr(source, "network_hw")
        assert source.network_hw((375, 1242)) == (64, 192), backend
        spec = ModelSpec.from_json(spec_path_for(out / name).read_text())
        assert (spec.input.height, spec.input.width) == (64, 192), backend
        assert read_golden(out / name, spec) is not None, backend  # made under the spec served, not the training one
        estimator = DepthEstimator.open(backend, out / name, EstimatorConfig(device="cpu", warmup_runs=0))
        assert estimator.golden_report is not None and estimator.golden_report.passed, backend


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["-f", "torchscript", "--opset", "17"], "--opset 17 is not read by --format torchscript"),
        (["-f", "torchscript", "--exporter", "legacy"], "--exporter legacy is not read by --format torchscript"),
        (["--camera", "375x1242", "--input-size", "96x320"], "--camera 375x1242 is not read with --input-size"),
    ],
)
def test_an_option_the_export_does_not_read_is_refused(
    tmp_path: Path, options: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--opset`` / ``--exporter`` set the ONNX export; ``-f torchscript`` writes none, and they were dropped without
    a word (exit 0). ``--input-size`` overrides ``--camera``: both given, the camera's size was dropped. Refused
    naming the option, before anything is loaded or written; the ONNX ones are taken with an ONNX format."""
    checkpoint = write_unet_checkpoint(tmp_path / "tiny.safetensors")
    out = tmp_path / "out"
    assert main(["export", str(checkpoint), "--out", str(out), *options]) == 2
    assert named in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_without_camera_or_input_size_it_exports_at_the_specs_own_size_as_its_help_says(tmp_path: Path) -> None:
    """``--help`` named ``--camera`` and ``--input-size`` but not the size taken with neither: the spec's own."""
    import argparse

    from mono_depth_ros.commands.export import add_arguments
    from mono_depth_ros.models.checkpoint import read_checkpoint_spec

    checkpoint = write_unet_checkpoint(tmp_path / "tiny.safetensors")
    (result,) = export_weights(checkpoint, tmp_path / "out", formats="torchscript")
    spec = read_checkpoint_spec(checkpoint)
    assert result.input_hw == (spec.input.height, spec.input.width)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    (size,) = [action for action in parser._actions if action.dest == "input_size"]
    assert "neither: the spec's own input size" in str(size.help), size.help
