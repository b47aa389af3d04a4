"""Tests for models/onnx_model.py: loading an exported model with its spec, running it, clear errors."""

from __future__ import annotations

import json
import re
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional

from mono_depth_ros.core.errors import CheckpointError, ConfigError, ShapeError
from mono_depth_ros.models.backend import DepthBackend, TensorOutput
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.onnx_model import OnnxBackend
from mono_depth_ros.models.sidecar import golden_path_for, spec_path_for
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.models.torchscript_model import TorchScriptBackend

from .tiny_models import legacy_onnx, tiny_unet, write_unet_checkpoint

CPU = torch.device("cpu")


def _bare_onnx(path: Path) -> None:
    """An ONNX export with no spec anywhere (fixed 64x96 input)."""
    network, _ = tiny_unet()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(TensorOutput(network), (torch.randn(1, 3, 64, 96),), str(path), dynamo=False)


def test_loads_and_runs(onnx_path: Path) -> None:
    backend = OnnxBackend(onnx_path, CPU, cpu_threads=1)
    assert isinstance(backend, DepthBackend) and not backend.torch_native
    assert backend.spec.backend == "onnx" and backend.spec.output_kind is OutputKind.METRIC
    assert backend.fixed_input_hw is None  # the unet exports with free height / width
    assert backend.golden is not None and not backend.uses_cuda
    out = backend.infer(torch.randn(1, 3, 64, 96))
    assert out.shape == (1, 1, 64, 96) and out.dtype == torch.float32 and out.device == CPU
    assert backend.infer(torch.randn(1, 3, 96, 160)).shape == (1, 1, 96, 160)


def test_estimator_with_onnx(onnx_path: Path) -> None:
    estimator = DepthEstimator.open("onnx", onnx_path, EstimatorConfig(device="cpu", cpu_threads=1))
    assert estimator.golden_report is not None and estimator.golden_report.passed
    image = np.random.default_rng(1).integers(0, 256, size=(75, 248, 3), dtype=np.uint8)
    result = estimator.predict(image)
    assert result.values.shape == (75, 248) and result.values.dtype == np.float32
    assert result.output_kind is OutputKind.METRIC and np.all(np.isfinite(result.values))
    with pytest.raises(ConfigError, match=r"model\.precision=bf16 is not applied to the onnx model"):
        DepthEstimator.open("onnx", onnx_path, EstimatorConfig(device="cpu", precision="bf16"))


def test_spec_embedded_in_the_model_is_used_when_the_file_beside_is_gone(onnx_path: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone.onnx"
    alone.write_bytes(onnx_path.read_bytes())
    backend = OnnxBackend(alone, CPU)
    assert backend.spec.backend == "onnx" and backend.golden is None


def test_model_without_any_spec_is_refused(tmp_path: Path) -> None:
    bare = tmp_path / "bare.onnx"
    _bare_onnx(bare)
    with pytest.raises(CheckpointError, match=r"no ModelSpec for .*bare\.onnx: expected bare\.onnx\.spec\.json"):
        OnnxBackend(bare, CPU)
    # a model made elsewhere has no network of this project to "write the spec of": the tool is mono-depth spec
    with pytest.raises(CheckpointError, match=rf"made elsewhere: `mono-depth spec {re.escape(str(bare))} --kind KIND`"):
        OnnxBackend(bare, CPU)


def test_spec_for_another_backend_is_refused(onnx_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(onnx_path.read_bytes())
    data = json.loads(spec_path_for(onnx_path).read_text())
    spec_path_for(copy).write_text(json.dumps({**data, "backend": "torch"}))
    # the file is ONNX whatever its spec says: the remedy is the spec's "backend" (it was "set model.backend: torch",
    # a value model.backend does not take, and no backend reads an .onnx file as torch weights)
    remedy = r'is for backend \'torch\', but .*copy\.onnx is an ONNX model; write "backend": "onnx" in it'
    with pytest.raises(CheckpointError, match=remedy):
        OnnxBackend(copy, CPU)
    spec_path_for(copy).write_text(json.dumps({**data, "backend": "onnx"}))  # the remedy, as written
    assert OnnxBackend(copy, CPU).spec.backend == "onnx"
    spec_path_for(copy).write_text(json.dumps({**data, "output_kind": "disparity"}))
    with pytest.raises(CheckpointError, match="unknown output kind 'disparity'"):
        OnnxBackend(copy, CPU)


def test_missing_and_corrupt_files(onnx_path: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist; export one"):
        OnnxBackend(tmp_path / "missing.onnx", CPU)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(CheckpointError, match="ONNX Runtime cannot load"):
        OnnxBackend(garbage, CPU)
    truncated = tmp_path / "truncated.onnx"  # was "ONNX Runtime cannot load ...: INVALID_PROTOBUF ...; re-export"
    for keep in (0.5, 0.99):
        data = onnx_path.read_bytes()
        truncated.write_bytes(data[: int(len(data) * keep)])
        with pytest.raises(
            CheckpointError, match=r"cannot load .*truncated\.onnx: not a whole ONNX model .*copy it again"
        ):
            OnnxBackend(truncated, CPU)
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(onnx_path.read_bytes())
    golden_path_for(copy).write_bytes(b"broken")
    with pytest.raises(CheckpointError, match="golden reference"):
        OnnxBackend(copy, CPU)


@pytest.mark.parametrize(
    ("stamp", "refusal"),
    [
        ({"opset": 30}, r"stamped opset 30 of ai\.onnx, and .* supports up to opset \d+;.*opset_version="),
        ({"ir_version": 20}, r"of ONNX IR version 20, and this onnxruntime reads up to IR version \d+"),
    ],
)
def test_a_graph_newer_than_onnxruntime_names_its_version_and_the_upgrade(
    onnx_path: Path, tmp_path: Path, stamp: dict[str, int], refusal: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model exported with a newer torch / onnx than the robot's onnxruntime (a Jetson's wheel; here stamped past
    what onnxruntime 1.31 reads) was refused with ONNX Runtime's C++ message and 're-export the model'; it names the
    opset or IR version, the most this onnxruntime reads and the upgrade, at load and in `mono-depth spec`."""
    import onnx

    from mono_depth_ros.cli import main

    model = onnx.load(str(onnx_path))
    if "opset" in stamp:
        model.opset_import[0].version = stamp["opset"]
    else:
        model.ir_version = stamp["ir_version"]
    newer = tmp_path / "newer.onnx"
    onnx.save(model, str(newer))
    spec_path_for(newer).write_text(spec_path_for(onnx_path).read_text())
    with pytest.raises(CheckpointError, match=rf"ONNX Runtime [\d.]+ cannot load .*newer\.onnx: .*{refusal}") as caught:
        OnnxBackend(newer, CPU)
    assert "upgrade onnxruntime" in str(caught.value) and "onnxruntime_src" not in str(caught.value)
    assert main(["spec", str(newer), "--kind", "metric", "--input-size", "64x96"]) == 2
    assert re.search(refusal, capsys.readouterr().err)


def test_a_newer_opset_of_another_domain_is_not_given_torchs_opset_version_to_re_export_at(
    onnx_path: Path, tmp_path: Path
) -> None:
    """ONNX Runtime words an opset of another domain past its own (com.microsoft, ai.onnx.ml: a newer onnxruntime's
    optimizer wrote it) as it does the default domain's; the refusal named torch.onnx.export(..., opset_version=1),
    which stamps the default domain only (and 1 is no opset a model can be exported at). It names the domain and the
    upgrade, and no opset_version."""
    import onnx
    from onnx import helper

    model = onnx.load(str(onnx_path))
    model.opset_import.append(helper.make_opsetid("com.microsoft", 99))
    newer = tmp_path / "newer.onnx"
    onnx.save(model, str(newer))
    with pytest.raises(CheckpointError, match=r"stamped opset 99 of com\.microsoft, .*upgrade onnxruntime") as caught:
        OnnxBackend(newer, CPU)
    assert "opset_version" not in str(caught.value), caught.value


def test_a_truncated_spec_beside_the_model_names_the_file_and_the_remedy(
    onnx_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A spec file cut short in a copy said "model spec X: ModelSpec metadata is not valid JSON: ..." with no remedy,
    after a warning that it "differs from the spec embedded" in the model: now the error says to delete it (the
    model embeds its own) or, for a model without one, to write it again with `mono-depth spec`."""
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(onnx_path.read_bytes())
    text = spec_path_for(onnx_path).read_text()
    spec_path_for(copy).write_text(text[: len(text) // 2])
    remedy = r"copy\.onnx\.spec\.json: .*not valid JSON.*; delete it to use the spec embedded in copy\.onnx"
    with pytest.raises(CheckpointError, match=remedy):
        OnnxBackend(copy, CPU)
    assert "differs from the spec embedded" not in caplog.text
    spec_path_for(copy).unlink()  # the remedy, as written
    assert OnnxBackend(copy, CPU).spec.to_json() == json.dumps(json.loads(text), sort_keys=True)

    import onnx

    bare = tmp_path / "bare.onnx"
    model = onnx.load(str(onnx_path))
    del model.metadata_props[:]
    onnx.save(model, str(bare))
    spec_path_for(bare).write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match=r"not valid JSON.*; write it again with `mono-depth spec .*bare\.onnx"):
        OnnxBackend(bare, CPU)


def test_fixed_size_model_rejects_other_sizes(tmp_path: Path) -> None:
    _, spec = tiny_unet()
    fixed = tmp_path / "fixed.onnx"
    _bare_onnx(fixed)
    spec_path_for(fixed).write_text(replace(spec, backend="onnx").to_json())
    backend = OnnxBackend(fixed, CPU)
    assert backend.fixed_input_hw == (64, 96)
    with pytest.raises(ShapeError, match=r"exported for \(64, 96\)"):
        backend.infer(torch.randn(1, 3, 32, 32))


def test_onnxruntime_missing(onnx_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ConfigError, match=r"pip install 'mono_depth_ros\[onnx\]'"):
        OnnxBackend(onnx_path, CPU)


def test_provider_list_keeps_the_order_asked_for_and_says_why_one_is_left_out() -> None:
    from mono_depth_ros.models.onnx_model import ProviderChoice, provider_list

    gpu = torch.device("cuda:1")
    everything = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    choice = ProviderChoice(("tensorrt", "cuda", "cpu"), trt_fp16=True, trt_cache_dir="/var/cache/trt")
    providers, reasons = provider_list(choice, everything, gpu)
    assert [p[0] if isinstance(p, tuple) else p for p in providers] == everything and reasons == []
    trt_options = providers[0][1]
    assert trt_options == {
        "device_id": 1,
        "trt_fp16_enable": True,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": "/var/cache/trt",
    }
    providers, reasons = provider_list(choice, ["CPUExecutionProvider"], gpu)
    assert providers == ["CPUExecutionProvider"]
    assert len(reasons) == 2 and "tensorrt" in reasons[0] and "TensorRT's libraries" in reasons[0]
    # empty: CUDA on a GPU device, the CPU only on a CPU device
    assert provider_list(ProviderChoice(), everything, gpu)[0][0] == ("CUDAExecutionProvider", {"device_id": 1})
    assert provider_list(ProviderChoice(), everything, CPU) == (["CPUExecutionProvider"], [])
    with pytest.raises(ConfigError, match="unknown ONNX execution provider"):
        ProviderChoice(("openvino",))


def test_tensorrt_asked_for_on_this_machine_falls_back_to_the_cpu_with_a_reason(
    onnx_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = OnnxBackend(onnx_path, CPU, providers=("tensorrt", "cuda", "cpu"))
    assert backend.session.get_providers() == ["CPUExecutionProvider"]
    assert [reason.split(":")[0] for reason in backend.fallbacks] == ["tensorrt", "cuda"]
    assert "provider left out" in caplog.text
    assert backend.infer(torch.zeros(1, 3, 64, 96)).shape == (1, 1, 64, 96)


def test_the_node_parameters_reach_onnx_runtime(onnx_path: Path) -> None:
    from mono_depth_ros.models.depth_source import build_depth_source

    source = build_depth_source(
        {
            "model.backend": "onnx",
            "model.weights": str(onnx_path),
            "device": "cpu",
            "model.onnx_providers": "tensorrt, cpu",
        }
    )
    assert source is not None
    backend = source.estimator.backend
    assert isinstance(backend, OnnxBackend) and backend.fallbacks[0].startswith("tensorrt")


class _HalfSqueezed(torch.nn.Module):
    """fp16 in, fp16 (H, W) out: a graph exported in half precision that squeezes the batch and channel axes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[0].abs().sum(0) + 1.0


@pytest.mark.parametrize("io_binding", [True, False])
def test_an_fp16_graph_with_an_hw_output_runs(tmp_path: Path, io_binding: bool) -> None:
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec

    path = tmp_path / "half.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _HalfSqueezed(), (torch.zeros(1, 3, 32, 48, dtype=torch.float16),), str(path), dynamo=False,
            input_names=["pixel_values"], output_names=["depth"],
        )  # fmt: skip
    spec = ModelSpec("onnx_graph", {}, InputPolicy(32, 48), output_kind=OutputKind.METRIC, backend="onnx")
    write_sidecars(path, spec)
    backend = OnnxBackend(path, CPU, cpu_threads=1, io_binding=io_binding)
    batch = torch.rand(1, 3, 32, 48)
    got = backend.infer(batch)
    assert got.shape == (1, 1, 32, 48) and got.dtype == torch.float32
    torch.testing.assert_close(got, batch.abs().sum(1, keepdim=True) + 1.0, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_precision_asked_of_an_fp16_graph_says_the_graph_runs_in_its_own_precision(
    tmp_path: Path, precision: str
) -> None:
    """``model.precision=fp16`` for an fp16 graph was refused with 'use precision fp32', as if fp32 would make the
    graph run in fp32: the graph runs in its own precision whatever the setting (nothing is cast). The refusal says
    so, naming the graph's input type and the settings that cast nothing."""
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec

    path = legacy_onnx(_HalfSqueezed(), torch.zeros(1, 3, 32, 48, dtype=torch.float16), tmp_path / "half.onnx",
                       ["pixel_values"], ["depth"])  # fmt: skip
    spec = ModelSpec("onnx_graph", {}, InputPolicy(32, 48), output_kind=OutputKind.METRIC, backend="onnx")
    write_sidecars(path, spec)
    with pytest.raises(ConfigError) as refused:
        DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", precision=precision, warmup_runs=0))
    message = str(refused.value)
    assert f"model.precision={precision}" in message
    assert "runs in its graph's own precision (its input is float16)" in message
    assert "casts nothing" in message and "auto or fp32" in message and "use precision fp32" not in message
    assert DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=0)).precision == "fp32"


def test_pytorch_files_and_directories_are_refused_with_what_to_pass(onnx_path: Path, tmp_path: Path) -> None:
    pickled = tmp_path / "model.onnx"
    torch.save({"weight": torch.zeros(2)}, pickled)
    with pytest.raises(CheckpointError, match=r"is a PyTorch file .* not ONNX"):
        OnnxBackend(pickled, CPU)
    (tmp_path / "other.onnx").write_bytes(onnx_path.read_bytes())
    with pytest.raises(CheckpointError, match=r"is a directory \(holding \['model\.onnx', 'other\.onnx'\]\)"):
        OnnxBackend(tmp_path, CPU)


def test_a_hugging_face_folder_of_onnx_exports_names_the_graph_to_pass(
    onnx_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """onnx-community's repositories keep their graphs in an onnx/ folder (onnx/model.onnx, model_fp16.onnx, ...)
    beside config.json: the folder given as model.weights was 'a directory (holding [])', and to `mono-depth spec`
    'ONNX model ... does not exist'. Both name the graphs in onnx/ and the one to pass, which then loads."""
    from mono_depth_ros.cli import main

    repo = tmp_path / "depth-anything-v2-small"
    (repo / "onnx").mkdir(parents=True)
    (repo / "config.json").write_text('{"model_type": "depth_anything"}')
    for name in ("model.onnx", "model_fp16.onnx"):
        (repo / "onnx" / name).write_bytes(onnx_path.read_bytes())
    named = r"holding \['onnx/model\.onnx', 'onnx/model_fp16\.onnx'\]\); pass the \.onnx file itself: .*/model\.onnx"
    with pytest.raises(CheckpointError, match=rf"model\.weights .*depth-anything-v2-small is a directory \({named}"):
        OnnxBackend(repo, CPU)
    assert main(["spec", str(repo), "--kind", "metric", "--input-size", "64x96"]) == 2
    err = capsys.readouterr().err
    assert re.search(named, err) and "does not exist" not in err, err
    graph = repo / "onnx" / "model.onnx"
    assert main(["spec", str(graph), "--kind", "metric", "--input-size", "64x96"]) == 0  # the remedy, as written
    assert OnnxBackend(graph, CPU).infer(torch.zeros(1, 3, 64, 96)).shape == (1, 1, 64, 96)


def test_an_onnx_graph_that_links_to_nothing_names_the_link_for_the_node_and_the_spec_command(
    onnx_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An onnx-community snapshot (onnx/model.onnx, the graph the directory refusal names) copied out of the Hugging
    Face cache with cp -r keeps a relative link to a blob left behind: model.weights said 'does not exist; pass an
    existing checkpoint file' and `mono-depth spec` 'ONNX model ... does not exist', of a file `ls` lists. Both name
    the link, its target and cp -rL now, as a transformers folder's files do; the link inside the cache itself (its
    blob deleted) says fetch the model again, not copy it (a graph one folder below the snapshot, onnx/)."""
    import os

    from mono_depth_ros.cli import main
    from mono_depth_ros.models.depth_source import build_depth_source

    snapshot = tmp_path / "hub" / "models--onnx-community--tiny" / "snapshots" / "0123abcd"
    blobs = tmp_path / "hub" / "models--onnx-community--tiny" / "blobs"
    (snapshot / "onnx").mkdir(parents=True)
    blobs.mkdir()
    (blobs / "abc").write_bytes(onnx_path.read_bytes())
    os.symlink(os.path.relpath(blobs / "abc", snapshot / "onnx"), snapshot / "onnx" / "model.onnx")
    copied = tmp_path / "robot" / "onnx"
    copied.mkdir(parents=True)
    os.symlink(os.readlink(snapshot / "onnx" / "model.onnx"), copied / "model.onnx")  # cp -r: the link as it was
    graph = copied / "model.onnx"
    named = f"{graph} is a symbolic link to {os.readlink(graph)}, which does not exist"
    params = {"model.backend": "onnx", "model.weights": str(graph), "device": "cpu"}
    with pytest.raises(CheckpointError) as refused:
        build_depth_source(params)
    assert named in str(refused.value) and "cp -rL" in str(refused.value), refused.value
    assert main(["spec", str(graph), "--kind", "metric", "--input-size", "64x96"]) == 2
    err = capsys.readouterr().err
    assert named in err and "cp -rL" in err, err
    (blobs / "abc").unlink()  # the blob deleted from the cache itself: copying the snapshot cannot help
    inside = snapshot / "onnx" / "model.onnx"
    with pytest.raises(CheckpointError) as refused:
        build_depth_source({**params, "model.weights": str(inside)})
    assert "mono-depth weights fetch onnx-community/tiny" in str(refused.value), refused.value
    assert "cp -rL" not in str(refused.value), refused.value


class _BytePixels(torch.nn.Module):
    """A graph with its normalisation baked in: uint8 pixels 0..255 in, their mean / 255 out."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().mean(1, keepdim=True) / 255.0 + 1.0


@pytest.mark.parametrize("io_binding", [True, False])
def test_a_uint8_graph_gets_rounded_pixels_and_needs_a_0_to_255_spec(tmp_path: Path, io_binding: bool) -> None:
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec

    path = tmp_path / "bytes.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_BytePixels(), (torch.zeros(1, 3, 8, 12, dtype=torch.uint8),), str(path), dynamo=False)
    imagenet = ModelSpec("onnx_graph", {}, InputPolicy(8, 12), output_kind=OutputKind.METRIC, backend="onnx")
    write_sidecars(path, imagenet)
    with pytest.raises(CheckpointError, match=r"takes tensor\(uint8\) pixels.*--mean 0,0,0"):
        OnnxBackend(path, CPU, io_binding=io_binding)
    raw = ModelSpec("onnx_graph", {}, InputPolicy(8, 12), (0.0,) * 3, (1 / 255,) * 3, OutputKind.METRIC, backend="onnx")
    write_sidecars(path, raw)
    backend = OnnxBackend(path, CPU, io_binding=io_binding)
    pixels = torch.full((1, 3, 8, 12), 254.99998)  # what (x / 255) / (1 / 255) gives for x = 255 in float32
    torch.testing.assert_close(backend.infer(pixels), torch.full((1, 1, 8, 12), 2.0))


class _ExportedAtOneSize(torch.nn.Module):
    """Declared with free height and width, but a reshape to 48 * 48 inside (a ViT's position grid, baked in)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(1).reshape(1, 48 * 48).reshape(1, 1, 48, 48) + 2.0


@pytest.mark.parametrize("io_binding", [True, False])
def test_a_graph_that_fails_on_its_first_run_is_refused_with_the_size_and_the_remedy(
    tmp_path: Path, io_binding: bool
) -> None:
    """The start-up run fails inside ONNX Runtime: a CheckpointError (the CLI's one-line error, exit 2) naming the
    input and the spec to write, not onnxruntime's exception (a RuntimeError bound, ONNX Runtime's own otherwise)."""
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec

    path = legacy_onnx(
        _ExportedAtOneSize(),
        torch.zeros(1, 3, 48, 48),
        tmp_path / "one_size.onnx",
        ["image"],
        ["depth"],
        {"image": {2: "height", 3: "width"}},
    )
    policy = InputPolicy(48, 48, keep_aspect=True, multiple_of=16, max_long_side=96)
    write_sidecars(path, ModelSpec("onnx_graph", {}, policy, output_kind=OutputKind.METRIC, backend="onnx"))
    backend = OnnxBackend(path, CPU, io_binding=io_binding)
    with pytest.raises(CheckpointError, match=r"failed on a \(1, 3, 48, 96\) input \(.*Reshape.*--input-size HxW"):
        DepthEstimator(backend, EstimatorConfig(device="cpu", warmup_runs=1, warmup_hw=(120, 240)))
    torch.testing.assert_close(backend.infer(torch.zeros(1, 3, 48, 48)), torch.full((1, 1, 48, 48), 2.0))


def test_an_external_data_model_runs_and_copied_alone_says_which_file_to_bring(tmp_path: Path) -> None:
    """Large exports (onnx-community's model.onnx + model.onnx_data) keep their weights in a file beside the graph:
    the model runs from its folder; copied without it, the error names the data file to put beside it (it said
    're-export the model')."""
    onnx = pytest.importorskip("onnx")
    from mono_depth_ros.cli import main
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec

    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Conv2d(3, 1, 3, padding=1), (torch.zeros(1, 3, 16, 24),), str(path), dynamo=False)
    onnx.save_model(onnx.load(str(path)), str(path), save_as_external_data=True, location="model.onnx_data",
                    size_threshold=0)  # fmt: skip
    write_sidecars(
        path, ModelSpec("onnx_graph", {}, InputPolicy(16, 24), output_kind=OutputKind.METRIC, backend="onnx")
    )
    assert OnnxBackend(path, CPU).infer(torch.zeros(1, 3, 16, 24)).shape == (1, 1, 16, 24)
    alone = tmp_path / "alone"
    alone.mkdir()
    for name in ("model.onnx", "model.onnx.spec.json"):
        (alone / name).write_bytes((tmp_path / name).read_bytes())
    with pytest.raises(CheckpointError, match=r"external data .*model\.onnx_data.* beside .*model\.onnx"):
        OnnxBackend(alone / "model.onnx", CPU)
    assert main(["spec", str(alone / "model.onnx"), "--kind", "metric"]) == 2


def test_a_golden_reference_made_under_another_spec_is_set_aside_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The spec beside an exported model may be edited (sidecar's docstring says so); its golden reference, made
    under the exported spec, then no longer applies: the self-test refused the model ('use precision fp32' on an
    fp32 run). The golden records its spec now, and one made under another is left out, with a warning."""
    import logging

    from mono_depth_ros.models.export import export_onnx

    network, spec = tiny_unet(output_kind=OutputKind.METRIC)
    path = tmp_path / "tiny.onnx"
    export_onnx(network, spec, path, exporter="legacy")
    assert OnnxBackend(path, CPU).golden is not None  # its own spec: kept
    edited = json.loads(spec_path_for(path).read_text())
    spec_path_for(path).write_text(json.dumps({**edited, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}))
    with caplog.at_level(logging.WARNING):
        backend = OnnxBackend(path, CPU)
    assert backend.golden is None and "made under another spec" in caplog.text
    estimator = DepthEstimator(backend, EstimatorConfig(device="cpu", warmup_runs=1))
    assert estimator.golden_report is None


class _StackedWithoutBatch(torch.nn.Module):
    """A graph without a batch axis (3, H, W) -> (2, H, W): confidence and depth stacked in one output, as a
    hand-written export of a network with a confidence head may return them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        confidence = torch.sigmoid(x[0]) * 0.0 + 0.25
        return torch.stack([confidence, x[1].abs() * 0.0 + 7.0])


@pytest.mark.parametrize("io_binding", [True, False])
def test_an_output_of_two_maps_for_one_image_is_refused_naming_it_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path, io_binding: bool
) -> None:
    """(2, H, W) for one image was read as a batch of two maps and the first published as depth: the confidence
    (0.25 m everywhere on a KITTI frame). It is refused naming the output, its shape and what to do."""
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec
    from mono_depth_ros.training.data.kitti_files import load_rgb

    path = legacy_onnx(
        _StackedWithoutBatch(),
        torch.zeros(3, 32, 48),
        tmp_path / "stacked.onnx",
        ["image"],
        ["confidence_and_depth"],
        {"image": {1: "h", 2: "w"}, "confidence_and_depth": {1: "h", 2: "w"}},
    )
    write_sidecars(
        path, ModelSpec("onnx_graph", {}, InputPolicy(32, 48), output_kind=OutputKind.METRIC, backend="onnx")
    )
    backend = OnnxBackend(path, CPU, cpu_threads=1, io_binding=io_binding)
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    with pytest.raises(ShapeError, match=r"output 'confidence_and_depth' is \(2, 32, 48\) for 1 image.*--output NAME"):
        DepthEstimator(backend, EstimatorConfig(device="cpu", warmup_runs=0)).predict(image)


class _Millimetres(torch.nn.Module):
    """An export for an embedded target: the depth as int32 millimetres (5 m + the image's first channel)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, :1].abs() * 1000.0 + 5000.0).to(torch.int32)


@pytest.mark.parametrize("io_binding", [True, False])
def test_an_integer_depth_output_declared_metric_is_refused_naming_the_unit_it_lacks_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path, io_binding: bool
) -> None:
    """An int32 millimetre output with a spec that says metric ran, and a KITTI frame came out at 5000+ 'metres'
    (1000x off): an integer count has no unit in the spec. A metric (or metric_focal) spec for it is refused at
    start-up naming the output, its type and the two remedies; as depth up to scale (scale recovery fits the
    unit) it runs."""
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec
    from mono_depth_ros.training.data.kitti_files import load_rgb

    dynamic = {"image": {2: "h", 3: "w"}, "depth": {2: "h", 3: "w"}}
    path = legacy_onnx(_Millimetres(), torch.zeros(1, 3, 32, 48), tmp_path / "mm.onnx", ["image"], ["depth"], dynamic)
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    for kind in (OutputKind.METRIC, OutputKind.METRIC_FOCAL):
        write_sidecars(path, ModelSpec("onnx_graph", {}, InputPolicy(32, 48), output_kind=kind, backend="onnx"))
        with pytest.raises(CheckpointError) as refused:
            OnnxBackend(path, CPU, cpu_threads=1, io_binding=io_binding)
        message = str(refused.value)
        assert f"output 'depth' is tensor(int32), and its spec says {kind.value}" in message
        assert "float output in metres" in message and "--kind depth_up_to_scale" in message
    spec = ModelSpec("onnx_graph", {}, InputPolicy(32, 48), output_kind=OutputKind.DEPTH_UP_TO_SCALE, backend="onnx")
    write_sidecars(path, spec)
    backend = OnnxBackend(path, CPU, cpu_threads=1, io_binding=io_binding)
    values = DepthEstimator(backend, EstimatorConfig(device="cpu", warmup_runs=0)).predict(image).values
    # 5000 + |red| x 1000, the red channel ImageNet-normalised (|(v - 0.485) / 0.229| <= 2.25): the counts as they came
    assert values.shape == image.shape[:2] and float(values.min()) >= 5000.0 and float(values.max()) <= 7250.0


class _Transposed(torch.nn.Module):
    """A graph returning its map transposed, (1, W, H) for an (1, 3, H, W) input (an export that swapped the axes)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(x.shape[2], dtype=x.dtype).view(1, -1, 1) + x[:, 0] * 0.0  # (1, H, W): the row index
        return rows.transpose(1, 2) + 1.0


def test_an_output_of_another_aspect_than_its_input_is_refused_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """A (1, 48, 32) map for a 32x48 input was stretched over the camera image (its rows become columns): a depth
    map of no scene. A map whose aspect is not its input's is refused naming the output, both sizes and the remedy."""
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec
    from mono_depth_ros.training.data.kitti_files import load_rgb

    path = legacy_onnx(_Transposed(), torch.zeros(1, 3, 32, 48), tmp_path / "transposed.onnx", ["image"], ["depth"])
    write_sidecars(
        path, ModelSpec("onnx_graph", {}, InputPolicy(32, 48), output_kind=OutputKind.METRIC, backend="onnx")
    )
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=0))
    with pytest.raises(
        ShapeError, match=r"output 'depth' is \(1, 48, 32\) for a 32x48 input: a 48x32 map.*\(B, 1, H, W\)"
    ):
        estimator.predict(image)


class _ResizedToItsExportSize(torch.nn.Module):
    """Declared with free height and width, but its map resized to the size it was exported at (an interpolate
    whose size the export wrote as a constant: a Depth Anything export's last upsampling)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (32, 32)  # a constant in the graph, as a traced x.shape[-2:] of the export's example becomes
        return torch.nn.functional.interpolate(x[:, :1].abs() + 1.0, size=size, mode="bilinear")


def test_a_map_resized_to_the_export_size_is_refused_with_the_spec_to_write_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """A keep-aspect spec ran a KITTI frame at 32x112 and the graph returned its 32x32 map, which was stretched over
    the frame; it is refused naming both sizes and the fixed-size spec to write."""
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec
    from mono_depth_ros.training.data.kitti_files import load_rgb

    path = legacy_onnx(
        _ResizedToItsExportSize(),
        torch.zeros(1, 3, 32, 32),
        tmp_path / "resized.onnx",
        ["image"],
        ["depth"],
        {"image": {2: "h", 3: "w"}},
    )
    policy = InputPolicy(32, 32, keep_aspect=True, multiple_of=16, max_long_side=128)
    write_sidecars(path, ModelSpec("onnx_graph", {}, policy, output_kind=OutputKind.METRIC, backend="onnx"))
    estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1))
    with pytest.raises(ShapeError, match=r"is \(1, 1, 32, 32\) for a 32x112 input: a 32x32 map.*--input-size HxW"):
        estimator.predict(load_rgb(kitti_object_dir / "image_2" / "000001.png"))


class _PaddedToItsStride(torch.nn.Module):
    """A CNN-style graph that pads its input at the bottom and right to a multiple of 32 and returns the map of the
    padded image (its crop back left out of the export): the row index plus one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = torch.nn.functional.pad(x[:, :1], (0, (-x.shape[3]) % 32, 0, (-x.shape[2]) % 32))
        return torch.arange(padded.shape[2], dtype=x.dtype).view(1, 1, -1, 1) + padded * 0.0 + 1.0


def test_a_map_padded_to_the_networks_stride_is_refused_with_the_multiple_to_run_at_on_a_kitti_frame(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """A spec of 40x72 for a graph that pads to a multiple of 32: its 64x96 map (the padding's rows below the image)
    is refused, and the message said only 'a size fixed at export' or 'axes swapped'; it names the multiple its
    strides need. At 64x96 (both sides multiples of 32) the map is the image's: rows 1..64 on a KITTI frame."""
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec
    from mono_depth_ros.training.data.kitti_files import load_rgb

    path = legacy_onnx(
        _PaddedToItsStride(),
        torch.zeros(1, 3, 40, 72),
        tmp_path / "padded.onnx",
        ["image"],
        ["depth"],
        {"image": {2: "h", 3: "w"}, "depth": {2: "ph", 3: "pw"}},
    )
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    for height, width in ((40, 72), (64, 96)):
        policy = InputPolicy(height, width)
        write_sidecars(path, ModelSpec("onnx_graph", {}, policy, output_kind=OutputKind.METRIC, backend="onnx"))
        estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off"))
        if height == 40:
            with pytest.raises(ShapeError, match=r"\(1, 1, 64, 96\) for a 40x72 input.*a multiple of its strides"):
                estimator.predict(image)
    got = estimator.predict(image, out_hw=(64, 96)).values
    np.testing.assert_array_equal(got[:, 0], np.arange(1, 65, dtype=np.float32))


def test_a_kitti_frame_padded_by_the_graph_to_a_multiple_of_32_is_refused_and_runs_at_the_size_named(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """At 375x1242 the padding graph returns 384x1248, of the frame's aspect within the 10 % tolerance: it was
    stretched over the frame (its 9 padding rows spread through it: the map's row 375 published at the last
    row). It is refused naming 384x1248; at that size the map is the image's, rows 1..384."""
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec
    from mono_depth_ros.training.data.kitti_files import load_rgb

    path = legacy_onnx(
        _PaddedToItsStride(),
        torch.zeros(1, 3, 40, 72),
        tmp_path / "padded.onnx",
        ["image"],
        ["depth"],
        {"image": {2: "h", 3: "w"}, "depth": {2: "ph", 3: "pw"}},
    )
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    assert image.shape[:2] == (375, 1242)
    config = EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off")
    spec = ModelSpec("onnx_graph", {}, InputPolicy(375, 1242), output_kind=OutputKind.METRIC, backend="onnx")
    write_sidecars(path, spec)
    with pytest.raises(ShapeError, match=r"\(1, 1, 384, 1248\) for a 375x1242 input.*--input-size 384x1248`"):
        DepthEstimator.open("onnx", path, config).predict(image)
    write_sidecars(
        path, ModelSpec("onnx_graph", {}, InputPolicy(384, 1248), output_kind=OutputKind.METRIC, backend="onnx")
    )
    got = DepthEstimator.open("onnx", path, config).predict(image, out_hw=(384, 1248)).values
    np.testing.assert_array_equal(got[:, 0], np.arange(1, 385, dtype=np.float32))


class _CroppedToWholePatches(torch.nn.Module):
    """A ViT-style graph whose patch embedding floors: the rows and columns past the last whole 14-pixel patch are
    dropped (bottom and right), and the map is of the cropped image: the row index plus one."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, cols = x.shape[2] // 14 * 14, x.shape[3] // 14 * 14
        cropped = x[:, :1, :rows, :cols]
        return torch.arange(cropped.shape[2], dtype=x.dtype).view(1, 1, -1, 1) + cropped * 0.0 + 1.0


def test_a_kitti_frame_cropped_by_the_graph_to_whole_patches_is_refused_and_runs_at_the_size_named(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """At 375x1242 a graph that floors to whole 14-pixel patches returns 364x1232, within the aspect tolerance: it
    was stretched over the frame (the map's row 364, the image's row 363, published at the last row 374: ~11 rows
    off at the bottom, what the crop dropped never seen). Refused as the padded case is, naming 364x1232 and
    --multiple-of 14; at that size the graph crops nothing and the map is the image's, rows 1..364."""
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec
    from mono_depth_ros.training.data.kitti_files import load_rgb

    path = legacy_onnx(
        _CroppedToWholePatches(),
        torch.zeros(1, 3, 42, 70),
        tmp_path / "patches.onnx",
        ["image"],
        ["depth"],
        {"image": {2: "h", 3: "w"}, "depth": {2: "ph", 3: "pw"}},
    )
    image = load_rgb(kitti_object_dir / "image_2" / "000001.png")
    assert image.shape[:2] == (375, 1242)
    config = EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off")
    spec = ModelSpec("onnx_graph", {}, InputPolicy(375, 1242), output_kind=OutputKind.METRIC, backend="onnx")
    write_sidecars(path, spec)
    pattern = r"\(1, 1, 364, 1232\) for a 375x1242 input.*cropped to a multiple of 14.*--input-size 364x1232`.*of 14"
    with pytest.raises(ShapeError, match=pattern):
        DepthEstimator.open("onnx", path, config).predict(image)
    write_sidecars(
        path, ModelSpec("onnx_graph", {}, InputPolicy(364, 1232), output_kind=OutputKind.METRIC, backend="onnx")
    )
    got = DepthEstimator.open("onnx", path, config).predict(image, out_hw=(364, 1232)).values
    np.testing.assert_array_equal(got[:, 0], np.arange(1, 365, dtype=np.float32))


def test_a_model_linked_alone_reads_the_sidecars_beside_its_target_and_a_snapshots_beside_the_link(
    onnx_path: Path, tmp_path: Path
) -> None:
    """``ln -s /models/tiny.onnx ws/da.onnx``: the spec and golden were looked for beside the link only, so the
    export's golden was not read (no start-up self-test, without a word) and a spec rewritten beside the model (here
    depth_up_to_scale) gave way to the one embedded at export (metric: published as metres). Beside the link first
    (a Hugging Face snapshot links every file of the repo side by side, its blobs are named by hash), else beside
    the link's target, both files from the same place; ONNX Runtime reads external data beside the target too."""
    import shutil

    models = tmp_path / "models"
    models.mkdir()
    for file in (onnx_path, spec_path_for(onnx_path), golden_path_for(onnx_path)):
        shutil.copy(file, models / file.name)
    target = models / onnx_path.name
    workspace = tmp_path / "ws"
    workspace.mkdir()
    link = workspace / "da.onnx"
    link.symlink_to(target)
    linked = OnnxBackend(link, CPU)
    assert linked.golden is not None and linked.spec == OnnxBackend(target, CPU).spec
    spec = json.loads(spec_path_for(target).read_text())
    spec["output_kind"] = "depth_up_to_scale"
    spec_path_for(target).write_text(json.dumps(spec))
    golden_path_for(target).unlink()  # as `mono-depth spec` leaves it: made under the earlier spec
    linked = OnnxBackend(link, CPU)
    assert linked.spec.output_kind is OutputKind.DEPTH_UP_TO_SCALE and linked.golden is None
    spec["output_kind"] = "relative_inverse"  # a spec beside the link (a snapshot's own file) wins
    spec_path_for(link).write_text(json.dumps(spec))
    assert OnnxBackend(link, CPU).spec.output_kind is OutputKind.RELATIVE_INVERSE


class _PatchGrid(torch.nn.Module):
    """A ViT graph's token map as its output: one value per 14x14 patch (DINOv2's patch embedding, floored)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.avg_pool2d(x.abs().sum(1, keepdim=True), 14) + 1.0


def test_a_graph_whose_output_is_its_patch_grid_is_published_upsampled_and_said_once(
    tmp_path: Path, kitti_object_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real KITTI frame through a graph whose depth output is its 26x88 patch grid (a ViT's linear depth head;
    DORN's map is 1/8 too): a coarse depth map is still one. Refusing it (a ShapeError every frame) published nothing
    with such a model; it is upsampled and published, said once in the log and kept in /diagnostics (model_map)."""
    import logging

    from mono_depth_ros.adapters.diagnostics import diagnostic_report
    from mono_depth_ros.adapters.stats import RuntimeStats
    from mono_depth_ros.config import defaults
    from mono_depth_ros.core.camera import CameraModel
    from mono_depth_ros.models.depth_source import EstimatorSource
    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec
    from mono_depth_ros.pipeline import DepthPipeline, FrameInput
    from test.kitti_bag import load_kitti_frames

    kitti = load_kitti_frames(kitti_object_dir, ("000001",))[0]
    path = legacy_onnx(_PatchGrid(), torch.zeros(1, 3, 375, 1242), tmp_path / "grid.onnx", ["pixel_values"],
                       ["depth"])  # fmt: skip
    spec = ModelSpec("onnx_graph", {}, InputPolicy(375, 1242), output_kind=OutputKind.METRIC, backend="onnx")
    write_sidecars(path, spec)
    estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off"))
    config = {**defaults(), "scale.mode": "none", "output.downscale": 1, "output.max_range": 1e4}
    pipeline = DepthPipeline(config, source=EstimatorSource(estimator))
    frame = FrameInput(0, "camera_optical", kitti.rgb, CameraModel.from_intrinsics(kitti.intrinsics))
    with caplog.at_level(logging.WARNING):
        outputs = [pipeline.process_frame(replace(frame, stamp_ns=stamp)) for stamp in (1_000, 2_000)]
    note = "26x88 for a 375x1242 input, one value per 14x14 pixels"
    assert [record.getMessage().count(note) for record in caplog.records] == [1]  # once, not per frame
    assert "upsampled to the published size" in caplog.text and "--output NAME" in caplog.text
    for out in outputs:
        assert out.depth_m.shape == kitti.rgb.shape[:2] and np.isfinite(out.depth_m).mean() > 0.9
        values = dict(diagnostic_report(RuntimeStats().snapshot(), out.scale).values)
        assert values["model_map"] == note


def test_the_coarse_map_note_names_the_camera_frames_input_not_the_warm_up_one(
    tmp_path: Path, kitti_object_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A keep-aspect graph whose output is its patch grid, warmed up at its nominal 266x266 and run on a real KITTI
    frame (266x882): the log and /diagnostics' model_map named the warm-up's '19x19 for a 266x266 input' for every
    camera frame; they name the camera frames' input, and the log says it once: not the warm-up's note first, a size
    no camera frame runs at, then the camera's."""
    import logging

    from mono_depth_ros.models.sidecar import write_sidecars
    from mono_depth_ros.models.spec import InputPolicy, ModelSpec
    from test.kitti_bag import load_kitti_frames

    kitti = load_kitti_frames(kitti_object_dir, ("000001",))[0]
    free = {"pixel_values": {2: "h", 3: "w"}, "depth": {2: "mh", 3: "mw"}}
    path = legacy_onnx(_PatchGrid(), torch.zeros(1, 3, 266, 266), tmp_path / "grid.onnx", ["pixel_values"],
                       ["depth"], free)  # fmt: skip
    policy = InputPolicy(266, 266, keep_aspect=True, multiple_of=14, max_long_side=882)
    write_sidecars(path, ModelSpec("onnx_graph", {}, policy, output_kind=OutputKind.METRIC, backend="onnx"))
    with caplog.at_level(logging.WARNING):
        estimator = DepthEstimator.open("onnx", path, EstimatorConfig(device="cpu", warmup_runs=1, golden_check="off"))
        for _ in range(2):
            assert np.isfinite(estimator.predict(kitti.rgb).values).mean() > 0.9
    camera = "19x63 for a 266x882 input, one value per 14x14 pixels"
    assert estimator.network_hw(kitti.rgb.shape[:2]) == (266, 882) and estimator.coarse_map == camera
    said = [r.getMessage() for r in caplog.records if "upsampled to the published size" in r.getMessage()]
    assert len(said) == 1 and said[0].count(camera) == 1, said


@pytest.mark.parametrize(
    ("backend", "not_it", "export_format"),
    [(OnnxBackend, "not ONNX", "onnx"), (TorchScriptBackend, "not a TorchScript archive", "torchscript")],
)
def test_a_checkpoint_given_for_an_exported_backend_names_its_backend_and_the_export(
    tmp_path: Path, backend: type[OnnxBackend] | type[TorchScriptBackend], not_it: str, export_format: str
) -> None:
    """A trained ``.safetensors`` with model.backend onnx was "not a whole ONNX model (protobuf parsing failed: cut
    short in a copy or download, or not ONNX at all); copy it again ..., or re-export the model", with torchscript
    "not a TorchScript archive (not a zip); pass the .pt written by mono-depth export": each names what the file is,
    the backend that runs it as it is and the export that makes it that format; a run's ``.state.pt`` names its
    model."""
    checkpoint = write_unet_checkpoint(tmp_path / "model.safetensors")
    with pytest.raises(
        CheckpointError,
        match=rf"model\.safetensors is a mono-depth checkpoint \(safetensors\), {not_it}; run it with model\.backend: "
        rf"unet, or export it: `mono-depth export .*model\.safetensors --out DIR -f {export_format}`",
    ):
        backend(checkpoint, CPU)
    state = tmp_path / "step_0000003.state.pt"
    torch.save({"step": 3}, state)
    with pytest.raises(CheckpointError, match=r"optimiser state .* pass .*model, .*step_0000003\.safetensors"):
        backend(state, CPU)


def test_without_onnxruntime_the_error_names_the_package_to_install_not_only_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The node built with colcon on ROS 2 (real Humble, ``model:=onnx``) said only ``pip install
    'mono_depth_ros[onnx]'``: there is no pip distribution of the package there to add an extra to."""
    from mono_depth_ros.models.onnx_model import require_onnxruntime

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime raises ImportError
    with pytest.raises(ConfigError, match=r"needs onnxruntime, which is not installed: pip install onnxruntime \("):
        require_onnxruntime()
