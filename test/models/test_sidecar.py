"""Tests of the files beside an exported model (mono_depth_ros.models.sidecar): written whole, swapped with it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.checkpoint import GoldenReference
from mono_depth_ros.models.sidecar import golden_path_for, replace_model_files, spec_path_for, staging_path
from mono_depth_ros.models.spec import InputPolicy, ModelSpec

State = tuple[str, str | None, str | None]


def _spec(name: str) -> ModelSpec:
    return ModelSpec(name, {}, InputPolicy(8, 8), backend="onnx")


def _golden(value: float) -> GoldenReference:
    return GoldenReference(np.zeros((8, 8, 3), np.uint8), np.full((8, 8), value, np.float32))


def _state(model: Path) -> State:
    """(the model's name, the architecture of the spec beside it, that of the spec its golden was made under)."""
    spec_file, golden_file = spec_path_for(model), golden_path_for(model)
    spec = json.loads(spec_file.read_text())["architecture"] if spec_file.exists() else None
    golden = None
    if golden_file.exists():
        with safe_open(str(golden_file), framework="numpy") as handle:
            golden = json.loads(handle.metadata()["made_under_spec"])["architecture"]
    return model.read_text(), spec, golden


def test_every_step_of_a_swap_leaves_a_model_with_its_own_sidecars_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model stands for its embedded spec by its name ("a" / "b"). Seen after every rename and removal of the swap,
    the files beside the model at the path are its own or absent, never the other model's; at the end all are the new
    model's, and no staged file is left."""
    model = tmp_path / "m.onnx"
    model.write_text("a")
    replace_model_files(model, None, _spec("a"), _golden(1.0))
    assert _state(model) == ("a", "a", "a")
    staged = staging_path(model)
    staged.write_text("b")
    seen: list[State] = []
    rename, remove = Path.replace, Path.unlink

    def replace(self: Path, target: Path) -> Path:
        result = rename(self, target)
        seen.append(_state(model))
        return result

    def unlink(self: Path, missing_ok: bool = False) -> None:
        remove(self, missing_ok=missing_ok)
        seen.append(_state(model))

    monkeypatch.setattr(Path, "replace", replace)
    monkeypatch.setattr(Path, "unlink", unlink)
    replace_model_files(model, staged, _spec("b"), _golden(2.0))
    monkeypatch.undo()
    assert ("b", None, None) in seen and seen[-1] == ("b", "b", "b")
    for name, spec, golden in seen:
        assert spec in (None, name) and golden in (None, name), seen
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.golden.safetensors", "m.onnx.spec.json"]


def test_a_swap_cut_short_after_the_model_leaves_it_with_its_embedded_spec_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure once the new model is renamed in (here: renaming its spec in) leaves the new model without the
    earlier model's spec and golden beside it: its embedded spec is in force; staged files are removed."""
    model = tmp_path / "m.pt"
    model.write_text("a")
    replace_model_files(model, None, _spec("a"), _golden(1.0))
    staged = staging_path(model)
    staged.write_text("b")
    rename = Path.replace

    def replace(self: Path, target: Path) -> Path:
        if target == spec_path_for(model):
            raise KeyboardInterrupt
        return rename(self, target)

    monkeypatch.setattr(Path, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        replace_model_files(model, staged, _spec("b"), _golden(2.0))
    monkeypatch.undo()
    assert _state(model) == ("b", None, None)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_new_sidecars_for_the_same_model_without_a_golden_leave_none(tmp_path: Path) -> None:
    """New sidecars without a golden reference (`write_sidecars` for a model made elsewhere) remove the earlier one,
    which was made under another spec."""
    model = tmp_path / "m.onnx"
    model.write_text("a")
    replace_model_files(model, None, _spec("a"), _golden(1.0))
    replace_model_files(model, None, _spec("a"))
    assert _state(model) == ("a", "a", None)


@pytest.mark.parametrize("backend", ["torchscript", "onnx"])
def test_a_model_replaced_while_it_is_loaded_is_refused_not_paired_with_the_new_sidecars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """The model is read first, its spec and golden after: an export of another network finishing in between paired
    the module read with the new spec and golden (the self-test then compared the earlier network with the new
    network's output, or with golden_check off ran it under the other spec), without a word. The model file's stamp
    is compared before and after: refused, naming the file; loaded again, it is the new model with its own files."""
    from mono_depth_ros.models import onnx_model, torchscript_model
    from mono_depth_ros.models.export import export_onnx, export_torchscript
    from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
    from mono_depth_ros.models.onnx_model import OnnxBackend
    from mono_depth_ros.models.torchscript_model import TorchScriptBackend

    from .tiny_models import tiny_unet

    def export(network: torch.nn.Module, spec: ModelSpec, target: Path) -> object:
        if backend == "torchscript":
            return export_torchscript(network, spec, target)
        return export_onnx(network, spec, target, exporter="legacy")  # the faster exporter: any graph will do

    module = torchscript_model if backend == "torchscript" else onnx_model
    make = TorchScriptBackend if backend == "torchscript" else OnnxBackend
    network, spec = tiny_unet(seed=0)
    target = tmp_path / f"unet.{'pt' if backend == 'torchscript' else 'onnx'}"
    export(network, spec, target)
    other, _ = tiny_unet(seed=1)
    read_spec = module.read_spec
    replaced: list[bool] = []

    def export_finishes(*args: object) -> object:
        if not replaced:
            replaced.append(True)
            export(other, spec, target)
        return read_spec(*args)

    monkeypatch.setattr(module, "read_spec", export_finishes)
    with pytest.raises(CheckpointError, match=rf"{target.name} was replaced while it and its spec were read"):
        make(target, torch.device("cpu"))
    estimator = DepthEstimator.open(backend, target, EstimatorConfig(device="cpu", golden_check="refuse"))
    assert estimator.golden_report is not None and estimator.golden_report.passed


def test_external_data_replaced_while_the_model_is_loaded_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large ONNX model is a graph and its external data file (``model.onnx.data``). A copy of another export over
    the folder (``cp new/* models/``, the graph already the same, its data, spec and golden written while the node
    reads them) gave the earlier weights with the new spec and golden: only the graph file's stamp was compared. The
    data files' stamps are compared too: refused, naming the model; loaded again, the new weights pass their
    self-test."""
    import shutil

    onnx = pytest.importorskip("onnx")
    from mono_depth_ros.models import onnx_model
    from mono_depth_ros.models.export import export_onnx
    from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
    from mono_depth_ros.models.onnx_model import OnnxBackend
    from mono_depth_ros.models.sidecar import read_spec

    from .tiny_models import tiny_unet

    folders = []
    for seed in (0, 1):
        network, spec = tiny_unet(seed=seed)
        target = tmp_path / f"seed{seed}" / "unet.onnx"
        export_onnx(network, spec, target, exporter="legacy")  # the same graph, other weights
        graph = onnx.load(str(target))
        onnx.save_model(graph, str(target), save_as_external_data=True, location="unet.onnx.data", size_threshold=0)
        folders.append(target.parent)
    target = folders[0] / "unet.onnx"
    assert (folders[0] / "unet.onnx.data").is_file()
    copied: list[bool] = []

    def copy_finishes(model_path: str | Path, backend: str, embedded_json: str | None) -> ModelSpec:
        if not copied:
            copied.append(True)
            for name in ("unet.onnx.data", "unet.onnx.golden.safetensors", "unet.onnx.spec.json"):
                shutil.copyfile(folders[1] / name, folders[0] / name)
        return read_spec(model_path, backend, embedded_json)

    monkeypatch.setattr(onnx_model, "read_spec", copy_finishes)
    with pytest.raises(CheckpointError, match=rf"{target.name} was replaced while it and its spec were read"):
        OnnxBackend(target, torch.device("cpu"))
    estimator = DepthEstimator.open("onnx", target, EstimatorConfig(device="cpu", golden_check="refuse"))
    assert estimator.golden_report is not None and estimator.golden_report.passed


def _add_graph(path: Path, value: float, location: str) -> Path:
    """An ONNX graph at ``path``: output = input (1, 4) + ``value``, the added tensor kept in the external data file
    ``location`` beside it."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    path.parent.mkdir(parents=True, exist_ok=True)
    weight = numpy_helper.from_array(np.full((1, 4), value, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save_model(model, str(path), save_as_external_data=True, location=location, size_threshold=0)
    return path


def _added(path: Path) -> float:
    """What the graph at ``path`` adds to its input (run by ONNX Runtime, its external data read)."""
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": np.zeros((1, 4), np.float32)})
    return float(np.asarray(out)[0, 0])


def test_a_swap_keeps_the_earlier_graphs_data_when_another_graph_in_the_folder_reads_it(tmp_path: Path) -> None:
    """The earlier graph's external data files were removed after the swap whatever else read them: a graph copied
    under another name in the same folder (``cp model.onnx da.onnx``: ONNX Runtime reads data only from the graph's
    folder) lost its weights, a download of gigabytes, when an export replaced the copy. Files another graph in the
    folder names stay; one only the earlier graph named goes."""
    folder = tmp_path / "models"
    _add_graph(folder / "model.onnx", 1.0, "model.onnx_data")
    (folder / "da.onnx").write_bytes((folder / "model.onnx").read_bytes())
    _add_graph(folder / "solo.onnx", 3.0, "solo.onnx_data")
    staged = _add_graph(tmp_path / "stage1" / "da.onnx", 2.0, "da.onnx.data")
    replace_model_files(folder / "da.onnx", staged, _spec("a"))
    assert (folder / "model.onnx_data").is_file(), "another graph's data removed"
    assert (_added(folder / "model.onnx"), _added(folder / "da.onnx")) == (1.0, 2.0)
    replace_model_files(folder / "solo.onnx", _add_graph(tmp_path / "stage2" / "solo.onnx", 4.0, "s.data"), _spec("b"))
    assert not (folder / "solo.onnx_data").exists() and _added(folder / "solo.onnx") == 4.0


def test_a_swap_interrupted_just_after_the_graph_is_renamed_in_keeps_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data files moved in were removed on an interruption unless a flag set after the graph's rename said it was
    swapped: Ctrl-C arriving as that rename returns (Python raises it at the next bytecode) left the new graph at
    the path without its weights. They are kept once the graph is in place, removed while it is not."""
    folder = tmp_path / "models"
    _add_graph(folder / "model.onnx", 1.0, "model.onnx.data")
    replace = Path.replace
    target = folder / "model.onnx"

    def interrupted_after(self: Path, to: Path) -> Path:
        moved = replace(self, to)
        if Path(to) == target:
            raise KeyboardInterrupt
        return moved

    monkeypatch.setattr(Path, "replace", interrupted_after)
    with pytest.raises(KeyboardInterrupt):
        replace_model_files(target, _add_graph(tmp_path / "stage" / "model.onnx", 2.0, "model.onnx.data"), _spec("a"))
    monkeypatch.undo()
    assert _added(target) == 2.0


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_the_golden_reference_gets_the_mode_the_umask_gives_as_the_spec_beside_it_does(
    tmp_path: Path, umask: int
) -> None:
    """safetensors writes its files 0o600 whatever the umask: ``mono-depth export`` left ``model.onnx.golden
    .safetensors`` unreadable to other users (a node run as its own user) beside a 0o644 graph and spec."""
    model = tmp_path / "m.onnx"
    model.write_text("a")
    before = os.umask(umask)
    try:
        replace_model_files(model, None, _spec("a"), _golden(1.0))
    finally:
        os.umask(before)
    modes = {path.name: path.stat().st_mode & 0o777 for path in (spec_path_for(model), golden_path_for(model))}
    assert modes == {"m.onnx.spec.json": 0o666 & ~umask, "m.onnx.golden.safetensors": 0o666 & ~umask}, modes
