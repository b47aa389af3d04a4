"""Tests for `mono-depth export`: checkpoint -> ONNX + TorchScript with specs beside, loadable by the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from mono_depth_ros.cli import main
from mono_depth_ros.commands.export import export_weights, parse_hw
from mono_depth_ros.core.errors import ConfigError
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
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="format"):
        export_weights(tmp_path / "x.safetensors", tmp_path, formats="tflite")
