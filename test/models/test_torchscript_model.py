"""Tests for models/torchscript_model.py: loading a traced model with its spec, autocast, clear errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.backend import DepthBackend, TensorOutput
from mono_depth_ros.models.export import export_torchscript
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.sidecar import spec_path_for
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.models.torchscript_model import TorchScriptBackend

from .tiny_models import tiny_unet, write_unet_checkpoint

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
    with pytest.raises(CheckpointError, match="is for backend 'onnx', not 'torchscript'"):
        TorchScriptBackend(copy, CPU)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(script_path.read_bytes()[:-200])
    with pytest.raises(CheckpointError, match="TorchScript"):
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
