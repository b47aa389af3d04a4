"""Tests for models/onnx_binding.py: the bound path gives what ``session.run`` gives, reuses its output buffers,
follows shape changes, and handles several outputs (depth + sky, of other dtypes)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from mono_depth_ros.cli import main
from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.onnx_binding import KEPT_SHAPES, binding_device, numpy_dtype, torch_dtype
from mono_depth_ros.models.onnx_model import OnnxBackend

ort = pytest.importorskip("onnxruntime")

CPU = torch.device("cpu")


class SkyGraph(nn.Module):
    """Depth Anything 3's signature with free H, W: image -> conf, depth (varies with the image), sky (bool)."""

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        depth = image.abs().sum(1) + 1.0  # (B, H, W)
        rows = torch.arange(image.shape[2], dtype=image.dtype).view(1, 1, -1, 1)
        sky = (rows < image.shape[2] // 4) & (image[:, :1] > -10.0)  # (B, 1, H, W) bool
        return depth * 0.5, depth, sky


@pytest.fixture(scope="module")
def sky_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sky") / "sky.onnx"
    free = {2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            SkyGraph(), (torch.zeros(1, 3, 56, 56),), str(path), dynamo=False,
            input_names=["image"], output_names=["conf", "depth", "sky"],
            dynamic_axes={"image": free, "conf": {1: "height", 2: "width"}, "depth": {1: "height", 2: "width"},
                          "sky": free},
        )  # fmt: skip
    args = ["spec", str(path), "--kind", "metric", "--input-size", "56x56", "--output", "depth", "--sky-output", "sky"]
    assert main(args) == 0
    return path


def _refuse_run(*_: Any, **__: Any) -> None:
    msg = "session.run called: the bound path was not used"
    raise AssertionError(msg)


SHAPES = [(1, 3, 64, 96), (1, 3, 96, 160), (1, 3, 64, 96), (1, 3, 32, 64), (1, 3, 96, 160)]


def test_bound_path_matches_session_run_across_shape_changes(onnx_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bound = OnnxBackend(onnx_path, CPU, cpu_threads=1)
    plain = OnnxBackend(onnx_path, CPU, cpu_threads=1, io_binding=False)
    assert bound.binder is not None and plain.binder is None
    assert bound.binder.device == CPU
    monkeypatch.setattr(bound.session, "run", _refuse_run)
    generator = torch.Generator().manual_seed(3)
    for shape in SHAPES:
        batch = torch.randn(shape, generator=generator)
        expected = plain.infer(batch)
        got = bound.infer(batch)
        assert got.shape == (1, 1, *shape[2:]) and got.dtype == torch.float32 and got.device == CPU
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    # three distinct shapes: one discovery run each, then one bound run per frame
    assert bound.binder.discoveries == 3 and bound.binder.runs == len(SHAPES) + 3


def test_output_buffers_are_reused_for_frames_of_the_same_shape(onnx_path: Path) -> None:
    backend = OnnxBackend(onnx_path, CPU, cpu_threads=1)
    first = backend.infer(torch.randn(1, 3, 64, 96))
    kept = first.clone()
    second = backend.infer(torch.randn(1, 3, 64, 96))
    assert second.data_ptr() == first.data_ptr()  # written in place: no allocation per frame
    assert not torch.equal(second, kept)  # ... and really rewritten by the second frame


def test_only_the_last_shapes_keep_buffers(onnx_path: Path) -> None:
    backend = OnnxBackend(onnx_path, CPU, cpu_threads=1)
    assert backend.binder is not None
    for step in range(KEPT_SHAPES + 1):
        backend.infer(torch.zeros(1, 3, 32, 32 + 32 * step))
    backend.infer(torch.zeros(1, 3, 32, 32 + 32 * KEPT_SHAPES))  # kept: no discovery
    assert backend.binder.discoveries == KEPT_SHAPES + 1
    backend.infer(torch.zeros(1, 3, 32, 32))  # the oldest was dropped: discovered again
    assert backend.binder.discoveries == KEPT_SHAPES + 2


def test_depth_and_sky_outputs_match_session_run(sky_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bound = OnnxBackend(sky_onnx, CPU, cpu_threads=1)
    plain = OnnxBackend(sky_onnx, CPU, cpu_threads=1, io_binding=False)
    monkeypatch.setattr(bound.session, "run", _refuse_run)
    generator = torch.Generator().manual_seed(5)
    for height, width in [(56, 56), (40, 72), (56, 56)]:
        batch = torch.randn(1, 3, height, width, generator=generator)
        expected = plain.infer(batch)
        got = bound.infer(batch)
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
        assert bound.last_sky is not None and plain.last_sky is not None
        assert bound.last_sky.dtype == torch.bool and torch.equal(bound.last_sky, plain.last_sky)
        assert bound.last_sky[0, 0, : height // 4].all() and not bound.last_sky[0, 0, height // 4 :].any()
    # the depth output was chosen by name (not the first output, conf = depth / 2)
    torch.testing.assert_close(got, batch.abs().sum(1, keepdim=True) + 1.0)


def test_the_maps_are_checked_under_the_model_and_output_names(sky_onnx: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """depth_map names each map in its errors as ``ONNX model <file> output '<name>'``: the words built per frame
    before are built once at start-up, the same for every frame, bound or not."""
    from mono_depth_ros.models import onnx_model
    from mono_depth_ros.models.graph_layout import depth_map

    seen: list[str] = []

    def recording(output: Tensor, batch_size: int, what: str, *args: Any) -> Tensor:
        seen.append(what)
        return depth_map(output, batch_size, what, *args)

    monkeypatch.setattr(onnx_model, "depth_map", recording)
    for io_binding in (True, False):
        backend = OnnxBackend(sky_onnx, CPU, cpu_threads=1, io_binding=io_binding)
        for height, width in [(56, 56), (40, 72)]:
            backend.infer(torch.zeros(1, 3, height, width))
    assert seen == ["ONNX model sky.onnx output 'depth'", "ONNX model sky.onnx output 'sky'"] * 4


def test_binding_device_follows_the_providers_that_run() -> None:
    gpu = torch.device("cuda:1")
    assert binding_device(["CUDAExecutionProvider", "CPUExecutionProvider"], gpu) == gpu
    assert binding_device(["TensorrtExecutionProvider", "CPUExecutionProvider"], torch.device("cuda")) == torch.device(
        "cuda", 0
    )
    assert binding_device(["CPUExecutionProvider"], gpu) == CPU  # the GPU provider failed to start
    assert binding_device(["CUDAExecutionProvider", "CPUExecutionProvider"], CPU) == CPU


def test_types() -> None:
    assert torch_dtype("tensor(float16)", "output 'depth'") == torch.float16
    assert numpy_dtype(torch.float32) is np.float32 and numpy_dtype(torch.bool) is np.bool_
    with pytest.raises(CheckpointError, match=r"output 'names' has type tensor\(string\).*re-export"):
        torch_dtype("tensor(string)", "output 'names'")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)")
def test_cuda_session_reads_and_writes_device_memory(sky_onnx: Path) -> None:
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("needs onnxruntime-gpu (no CUDAExecutionProvider in this onnxruntime)")
    gpu = torch.device("cuda", 0)
    bound = OnnxBackend(sky_onnx, gpu, providers=("cuda",))
    plain = OnnxBackend(sky_onnx, CPU, io_binding=False)
    assert bound.uses_cuda and bound.binder is not None and bound.binder.device == gpu
    batch = torch.randn(1, 3, 56, 56)
    got = bound.infer(batch.to(gpu))
    assert got.device == gpu and bound.last_sky is not None and bound.last_sky.device == gpu
    torch.testing.assert_close(got.cpu(), plain.infer(batch), rtol=1e-5, atol=1e-5)
