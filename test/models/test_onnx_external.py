"""Tests for models/onnx_external.py: external data of a downloaded ONNX model is read from its folder only."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.onnx_external import check_external_data, external_data_files
from mono_depth_ros.models.onnx_model import OnnxBackend
from mono_depth_ros.models.sidecar import write_sidecars
from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
CPU = torch.device("cpu")


def _conv_with_external_data(folder: Path, location: str, data: Path | None = None) -> Path:
    """A 3 -> 1 conv graph in ``folder`` whose weights are external data named ``location``; the bytes are written
    to ``data`` (default: ``folder / location``), e.g. a file outside the folder that the location points at."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Conv2d(3, 1, 3, padding=1), (torch.zeros(1, 3, 16, 24),), str(path), dynamo=False)
    model = onnx.load(str(path))
    onnx.save_model(model, str(path), save_as_external_data=True, location="weights.bin", size_threshold=0)
    written = folder / "weights.bin"
    target = data or folder / location
    if target != written:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(written.read_bytes())
        written.unlink()
    model = onnx.load(str(path), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save_model(model, str(path))
    spec = ModelSpec("onnx_graph", {}, InputPolicy(16, 24), output_kind=OutputKind.METRIC, backend="onnx")
    write_sidecars(path, spec)
    return path


def test_external_data_in_the_folder_loads(tmp_path: Path) -> None:
    path = _conv_with_external_data(tmp_path / "model", "weights.bin")
    check_external_data(path)
    assert OnnxBackend(path, CPU).infer(torch.zeros(1, 3, 16, 24)).shape == (1, 1, 16, 24)
    nested = _conv_with_external_data(tmp_path / "nested", "data/weights.bin")  # a sub-folder stays inside
    assert OnnxBackend(nested, CPU).infer(torch.zeros(1, 3, 16, 24)).shape == (1, 1, 16, 24)


@pytest.mark.parametrize("how", ["parent", "absolute", "climbing"])
def test_external_data_outside_the_folder_is_refused_before_onnx_runtime_opens_it(tmp_path: Path, how: str) -> None:
    """A location of ``../outside.bin``, an absolute path, or one that climbs out through a sub-folder: ONNX Runtime
    before 1.24 read that file into the weights (any file on the robot); 1.24 and later refuse it saying 're-export
    the model'. Refused here, whatever the version, naming the tensor, the location and the folder."""
    outside = tmp_path / "outside.bin"
    location = {"parent": "../outside.bin", "absolute": str(outside), "climbing": "data/../../outside.bin"}[how]
    path = _conv_with_external_data(tmp_path / "model", location, data=outside)
    expected = re.escape(f"keeps its data in {location!r}, not a file in {path.parent}") + ".*external data is read"
    with pytest.raises(CheckpointError, match=expected):
        OnnxBackend(path, CPU)


def test_mono_depth_spec_refuses_it_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mono_depth_ros.cli import main

    path = _conv_with_external_data(tmp_path / "model", "../outside.bin", data=tmp_path / "outside.bin")
    (path.parent / "model.onnx.spec.json").unlink()
    assert main(["spec", str(path), "--kind", "metric"]) == 2
    assert "not a file in" in capsys.readouterr().err and not (path.parent / "model.onnx.spec.json").exists()


def test_onnx_runtimes_in_memory_address_marker_is_refused(tmp_path: Path) -> None:
    """ONNX Runtime reads the location ``*/_ORT_MEM_ADDR_/*`` as "the offset is a memory address" (initializers it
    moved into memory itself); in a model file it would read the process's own memory into the weights. 1.31
    refuses it in a protobuf; it is refused here whatever the version."""
    path = _conv_with_external_data(tmp_path / "model", "weights.bin")
    model = onnx.load(str(path), load_external_data=False)
    for entry in model.graph.initializer[0].external_data:
        entry.value = (
            "*/_ORT_MEM_ADDR_/*" if entry.key == "location" else "4096" if entry.key == "offset" else entry.value
        )
    onnx.save_model(model, str(path))
    with pytest.raises(CheckpointError, match=r"'\*/_ORT_MEM_ADDR_/\*', ONNX Runtime's in-memory address marker"):
        check_external_data(path)


def test_a_fifo_named_as_external_data_is_refused_without_opening_it(tmp_path: Path) -> None:
    """A FIFO in the folder would block the reader (the node's start-up) until something writes to it."""
    path = _conv_with_external_data(tmp_path / "model", "weights.bin")
    (path.parent / "weights.bin").unlink()
    os.mkfifo(path.parent / "weights.bin")
    with pytest.raises(CheckpointError, match=r"'weights\.bin', which is not a regular file"):
        check_external_data(path)


def test_a_graph_without_external_data_is_not_parsed_again(onnx_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The project's own exports keep their weights inside: their bytes hold no location key, so onnx is not
    even imported for them (a large graph is not parsed twice at start-up)."""
    monkeypatch.setattr(onnx, "load", lambda *args, **kwargs: pytest.fail("parsed again"))
    check_external_data(onnx_path)
    assert np.isfinite(OnnxBackend(onnx_path, CPU).infer(torch.zeros(1, 3, 64, 96)).numpy()).all()


def test_external_data_files_are_the_files_beside_the_graph_that_hold_its_weights(
    tmp_path: Path, onnx_path: Path
) -> None:
    """What a teacher's content digest reads besides the graph: its external data files in the folder (a sub-folder
    too); none for a graph that holds its weights, nor for a location outside the folder."""
    assert external_data_files(_conv_with_external_data(tmp_path / "a", "weights.bin")) == [tmp_path / "a/weights.bin"]
    nested = _conv_with_external_data(tmp_path / "b", "data/weights.bin")
    assert external_data_files(nested) == [tmp_path / "b/data/weights.bin"]
    outside = _conv_with_external_data(tmp_path / "c", "../c_weights.bin", data=tmp_path / "c_weights.bin")
    assert external_data_files(outside) == []
    assert external_data_files(onnx_path) == []


def test_a_graph_linked_alone_into_another_folder_is_told_where_its_data_is_read(tmp_path: Path) -> None:
    """``ln -s /models/da_large/model.onnx ws/da.onnx``: ONNX Runtime (1.24 and later) reads external data only from
    the folder of the graph's real file and refused it as 'External data path escapes model directory', to which the
    message added 're-export the model' (a graph that is fine). The error names the data file, the folder it is read
    from and the remedy (the graph's own path, or a link to the folder); the folder link loads."""
    path = _conv_with_external_data(tmp_path / "models", "model.onnx.data")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "da.onnx").symlink_to(path)
    (workspace / "da.onnx.spec.json").symlink_to(path.with_name(path.name + ".spec.json"))
    try:
        OnnxBackend(workspace / "da.onnx", CPU)
    except CheckpointError as err:
        message = str(err)
    else:  # an ONNX Runtime that reads the data beside the link finds none there either
        pytest.fail("a graph linked without its data loaded")
    assert "re-export" not in message, message
    assert "model.onnx.data" in message and str(path.parent) in message and str(path) in message, message
    (workspace / "linked").symlink_to(path.parent)
    assert OnnxBackend(workspace / "linked" / "model.onnx", CPU).infer(torch.zeros(1, 3, 16, 24)).shape == (
        1,
        1,
        16,
        24,
    )


def test_rename_external_data_gives_names_the_other_folder_does_not_hold(tmp_path: Path) -> None:
    """A staged graph's data file named as a file in the folder it goes to is renamed (``model.onnx.1.data``, the
    ``.1`` taken too: ``.2``) and the graph names it; its output is the same. Nothing taken: nothing renamed."""
    from mono_depth_ros.models.onnx_external import rename_external_data

    path = _conv_with_external_data(tmp_path / "staged", "model.onnx.data")
    x = torch.randn(1, 3, 16, 24)
    before = OnnxBackend(path, CPU).infer(x)
    target = tmp_path / "target"
    target.mkdir()
    assert rename_external_data(path, target) == {}
    (target / "model.onnx.data").write_bytes(b"earlier")
    (target / "model.onnx.1.data").write_bytes(b"earlier still")
    assert rename_external_data(path, target) == {"model.onnx.data": "model.onnx.2.data"}
    assert external_data_files(path) == [path.parent / "model.onnx.2.data"]
    assert not (path.parent / "model.onnx.data").exists()
    assert torch.equal(OnnxBackend(path, CPU).infer(x), before)
