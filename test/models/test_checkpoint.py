"""Tests for models/checkpoint.py: bit-exact round trips, the golden reference, and every bad-checkpoint error."""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from mono_depth_ros.core.errors import CheckpointError, DepthError
from mono_depth_ros.models.checkpoint import (
    FORMAT_KEY,
    GOLDEN_INPUT_KEY,
    SPEC_KEY,
    load_checkpoint,
    load_state_strict,
    read_checkpoint_spec,
    save_checkpoint,
)
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.spec import ModelSpec, OutputKind
from mono_depth_ros.models.unet import make_unet_spec

MICRO: dict[str, Any] = {"encoder_width": 8, "decoder_channels": [4, 4, 8, 8, 16]}


@pytest.fixture(scope="module")
def micro_spec() -> ModelSpec:
    return make_unet_spec("resnet18", "tiny", **MICRO)


@pytest.fixture(scope="module")
def micro_model(micro_spec: ModelSpec) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(micro_spec)
    for buffer_name, buffer in model.named_buffers():  # non-trivial BN statistics, so the round trip means something
        if buffer_name.endswith("running_mean"):
            buffer.normal_()
        elif buffer_name.endswith("num_batches_tracked"):
            buffer.fill_(7)
    return model


def _saved(tmp_path: Path, model: torch.nn.Module, spec: ModelSpec) -> Path:
    return save_checkpoint(tmp_path / "model.safetensors", model.state_dict(), spec)


def test_round_trip_is_bit_exact_with_spec_metadata_and_golden(
    tmp_path: Path, micro_model: torch.nn.Module, micro_spec: ModelSpec
) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)
    output = rng.random((32, 64)).astype(np.float32)
    output[0, 0] = np.nan  # invalid pixels survive
    path = save_checkpoint(
        tmp_path / "m.safetensors", micro_model.state_dict(), micro_spec, {"run": "abc"}, reference=(image, output)
    )
    loaded = load_checkpoint(path)
    assert loaded.spec == micro_spec
    assert loaded.metadata == {"run": "abc"}
    assert loaded.path == path
    original = micro_model.state_dict()
    assert set(loaded.state_dict) == set(original)  # golden tensors are not in the state dict
    for name, tensor in original.items():
        assert loaded.state_dict[name].dtype == tensor.dtype, name
        assert torch.equal(loaded.state_dict[name], tensor), name
    assert loaded.golden is not None
    np.testing.assert_array_equal(loaded.golden.image_rgb, image)
    np.testing.assert_array_equal(loaded.golden.output, output)
    assert loaded.golden.output.dtype == np.float32
    assert read_checkpoint_spec(path) == micro_spec
    rebuilt = build_model(loaded.spec)
    load_state_strict(rebuilt, loaded.state_dict, loaded.spec)
    for name, tensor in rebuilt.state_dict().items():
        assert torch.equal(tensor, original[name]), name


def test_without_reference_golden_is_none_and_torch_reference_accepted(
    tmp_path: Path, micro_model: torch.nn.Module, micro_spec: ModelSpec
) -> None:
    assert load_checkpoint(_saved(tmp_path, micro_model, micro_spec)).golden is None
    reference = (torch.zeros(4, 4, 3, dtype=torch.uint8), torch.ones(1, 1, 4, 4, dtype=torch.float64))
    path = save_checkpoint(tmp_path / "r.safetensors", micro_model.state_dict(), micro_spec, reference=reference)
    golden = load_checkpoint(path).golden
    assert golden is not None
    assert golden.output.dtype == np.float32
    assert golden.output.shape == (1, 1, 4, 4)


_DTYPES = st.sampled_from([torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.uint8])


@settings(max_examples=25, deadline=None)
@given(
    entries=st.dictionaries(
        st.text("abcdefgh.", min_size=1, max_size=8),
        st.tuples(st.lists(st.integers(1, 4), min_size=0, max_size=3), _DTYPES, st.integers(0, 2**31)),
        min_size=1,
        max_size=5,
    ),
    kind=st.sampled_from(list(OutputKind)),
)
def test_any_state_dict_round_trips_bit_exact(
    entries: dict[str, tuple[list[int], torch.dtype, int]], kind: OutputKind
) -> None:
    state = {}
    for name, (shape, dtype, seed) in entries.items():
        generator = torch.Generator().manual_seed(seed)
        state[name] = (torch.randn(shape, generator=generator, dtype=torch.float64) * 100).to(dtype)
    spec = ModelSpec("unet", params={"width": "tiny"}, output_kind=kind, min_depth_m=0.5, max_depth_m=80.0)
    with tempfile.TemporaryDirectory() as folder:
        loaded = load_checkpoint(save_checkpoint(Path(folder) / "x.safetensors", state, spec))
    assert loaded.spec == spec
    assert set(loaded.state_dict) == set(state)
    for name, tensor in state.items():
        assert loaded.state_dict[name].dtype == tensor.dtype
        assert torch.equal(loaded.state_dict[name], tensor)


# --- bad files --------------------------------------------------------------------------------------------------


def test_a_hugging_face_directory_given_as_a_checkpoint_names_the_transformers_backend(tmp_path: Path) -> None:
    hf_dir, other = tmp_path / "hf", tmp_path / "other"
    hf_dir.mkdir(), other.mkdir()
    (hf_dir / "config.json").write_text('{"model_type": "depth_anything"}')
    with pytest.raises(CheckpointError, match=r"Hugging Face model directory .* model\.backend: transformers"):
        load_checkpoint(hf_dir)
    with pytest.raises(CheckpointError, match=r"other is a directory holding no \.safetensors file; pass the checkpo"):
        load_checkpoint(other)  # (it said "pass the .safetensors file inside it", of which there was none)


def test_a_directory_given_as_a_checkpoint_names_the_safetensors_files_inside(tmp_path: Path) -> None:
    """``weights:=models`` (the folder, not the file): the message names the checkpoint to give instead of sending
    the user to look for "the .safetensors file inside it"."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "depth.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=rf"is a directory; pass the checkpoint inside it: {folder}/depth\.safe"):
        load_checkpoint(folder)
    (folder / "other.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"is a directory holding depth\.safetensors, other\.safetensors; pass"):
        load_checkpoint(folder)


def test_missing_file_names_path_and_remedy(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"nowhere\.safetensors does not exist; pass the \.safetensors file"):
        load_checkpoint(tmp_path / "nowhere.safetensors")


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("keep_fraction", [0.5, 0.01])
def test_truncated_file(
    tmp_path: Path, micro_model: torch.nn.Module, micro_spec: ModelSpec, keep_fraction: float
) -> None:
    data = _saved(tmp_path, micro_model, micro_spec).read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: max(9, int(len(data) * keep_fraction))])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(cut)
    with pytest.raises(CheckpointError, match="truncated"):
        read_checkpoint_spec(cut)


def test_tiny_and_garbage_files_are_not_safetensors(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.safetensors"
    tiny.write_bytes(b"abc")
    with pytest.raises(CheckpointError, match=r"truncated or not a safetensors file \(only 3 bytes\)"):
        load_checkpoint(tiny)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(struct.pack("<Q", 10) + b"not json!!" + b"\0" * 32)
    with pytest.raises(CheckpointError, match=r"not a safetensors file \(its header is not valid JSON\)"):
        load_checkpoint(garbage)


def test_plain_safetensors_without_spec(tmp_path: Path) -> None:
    path = tmp_path / "hf.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match=r"has no 'mono_depth_spec' metadata .*save_checkpoint"):
        load_checkpoint(path)


def _write_with_spec_json(path: Path, spec_json: str) -> Path:
    save_file({"w": torch.zeros(2)}, str(path), metadata={SPEC_KEY: spec_json})
    return path


def test_unknown_output_kind(tmp_path: Path) -> None:
    data = json.loads(ModelSpec("unet").to_json())
    data["output_kind"] = "disparity_of_doom"
    path = _write_with_spec_json(tmp_path / "k.safetensors", json.dumps(data))
    with pytest.raises(CheckpointError, match=r"k\.safetensors: unknown output kind 'disparity_of_doom'; expected one"):
        load_checkpoint(path)


def test_spec_for_another_backend(tmp_path: Path) -> None:
    """A safetensors file is torch weights whatever its spec says: the remedy was "set model.backend: onnx", and ONNX
    Runtime then could not load the file ("re-export the model")."""
    path = _write_with_spec_json(tmp_path / "b.safetensors", ModelSpec("unet", backend="onnx").to_json())
    remedy = r"backend 'onnx', but a safetensors checkpoint holds torch weights; re-save it with save_checkpoint"
    with pytest.raises(CheckpointError, match=remedy):
        load_checkpoint(path)


def test_malformed_spec_json(tmp_path: Path) -> None:
    path = _write_with_spec_json(tmp_path / "j.safetensors", "{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(path)
    path = _write_with_spec_json(tmp_path / "t.safetensors", json.dumps({"architecture": "unet", "input": {"h": 1}}))
    with pytest.raises(CheckpointError, match="malformed"):
        load_checkpoint(path)


@pytest.mark.parametrize("written", ["2", "1.1", "two"])
def test_a_checkpoint_of_a_newer_format_is_refused_naming_the_file_and_the_remedy(
    tmp_path: Path, micro_model: torch.nn.Module, micro_spec: ModelSpec, written: str
) -> None:
    """The format version was written and never read: a checkpoint whose layout a newer mono_depth_ros changed
    (``mono_depth_format`` 2, spec keys unchanged) loaded as if it were format 1, in training's resume and in the
    node alike. It is refused before any tensor is read; a file without the key (written before it) still loads."""
    path = _saved(tmp_path, micro_model, micro_spec)
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    save_file(tensors, str(path), metadata={**metadata, FORMAT_KEY: written})
    remedy = rf"model\.safetensors is checkpoint format {written!r}, this mono_depth_ros reads format '1'.*update"
    for load in (load_checkpoint, read_checkpoint_spec):
        with pytest.raises(CheckpointError, match=remedy):
            load(path)
    del metadata[FORMAT_KEY]
    save_file(tensors, str(path), metadata=metadata)
    assert load_checkpoint(path).spec == micro_spec


def _tiny_onnx_bytes() -> bytes:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    return bytes(onnx.helper.make_model(graph).SerializeToString())


def test_onnx_file_given(tmp_path: Path) -> None:
    by_suffix = tmp_path / "model.onnx"
    by_suffix.write_bytes(_tiny_onnx_bytes())
    with pytest.raises(CheckpointError, match=r"model\.onnx looks like onnx weights.*set model\.backend to 'onnx'"):
        load_checkpoint(by_suffix)
    renamed = tmp_path / "model.safetensors"
    renamed.write_bytes(_tiny_onnx_bytes())
    with pytest.raises(CheckpointError, match=r"looks like an ONNX model.*model\.backend: onnx"):
        load_checkpoint(renamed)


def test_torchscript_and_pickle_files_given(tmp_path: Path) -> None:
    pt_path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), pt_path)  # a zip archive, as TorchScript files are
    with pytest.raises(CheckpointError, match=r"is a torch\.save pickle"):  # not "set model.backend: torchscript"
        load_checkpoint(pt_path)
    for name in ("pytorch_model.bin", "state.safetensors"):  # whatever its name says
        (tmp_path / name).write_bytes(pt_path.read_bytes())
        with pytest.raises(CheckpointError, match=r"is a torch\.save pickle"):
            load_checkpoint(tmp_path / name)
    script_path = tmp_path / "script.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notices
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(script_path))  # type: ignore[no-untyped-call]
    with pytest.raises(CheckpointError, match="looks like torchscript weights"):
        load_checkpoint(script_path)
    zip_renamed = tmp_path / "zip.safetensors"
    zip_renamed.write_bytes(script_path.read_bytes())
    with pytest.raises(CheckpointError, match="is a zip archive"):
        load_checkpoint(zip_renamed)
    pickled = tmp_path / "pickle.safetensors"
    pickled.write_bytes(b"\x80\x04\x95" + b"\0" * 64)
    with pytest.raises(CheckpointError, match="is a Python pickle"):
        load_checkpoint(pickled)
    ckpt = tmp_path / "weights.ckpt"
    ckpt.write_bytes(pickled.read_bytes())
    with pytest.raises(CheckpointError, match="pickle checkpoint"):
        load_checkpoint(ckpt)


# --- save-side validation ---------------------------------------------------------------------------------------


def test_save_refuses_reserved_names_bad_reference_and_other_backends(tmp_path: Path) -> None:
    spec = ModelSpec("unet")
    target = tmp_path / "m.safetensors"
    with pytest.raises(CheckpointError, match="reserved prefix"):
        save_checkpoint(target, {GOLDEN_INPUT_KEY: torch.zeros(1)}, spec)
    with pytest.raises(CheckpointError, match="reserved keys"):
        save_checkpoint(target, {"w": torch.zeros(1)}, spec, {SPEC_KEY: "x"})
    with pytest.raises(CheckpointError, match=r"golden input must be a uint8 \(H, W, 3\)"):
        save_checkpoint(target, {"w": torch.zeros(1)}, spec, reference=(np.zeros((4, 4, 3)), np.zeros(2)))
    with pytest.raises(CheckpointError, match="golden output must be floating"):
        save_checkpoint(
            target, {"w": torch.zeros(1)}, spec, reference=(np.zeros((4, 4, 3), np.uint8), np.zeros(2, int))
        )
    with pytest.raises(CheckpointError, match=r"spec\.backend is 'onnx'"):
        save_checkpoint(target, {"w": torch.zeros(1)}, ModelSpec("unet", backend="onnx"))
    with pytest.raises(CheckpointError, match=r"use the suffix \.safetensors"):
        save_checkpoint(tmp_path / "m.onnx", {"w": torch.zeros(1)}, spec)
    assert not target.exists()


# --- load_state_strict ------------------------------------------------------------------------------------------


def test_wrong_architecture_names_first_missing_tensor(micro_model: torch.nn.Module, micro_spec: ModelSpec) -> None:
    deeper = build_model(make_unet_spec("resnet34", "tiny", **MICRO))  # resnet34 has a third block in layer1
    with pytest.raises(
        CheckpointError,
        match=r"architecture 'unet' .*first mismatching tensor 'encoder\.layer1\.2\.conv1\.weight' is missing",
    ):
        load_state_strict(deeper, micro_model.state_dict(), micro_spec)


def test_shape_mismatch_names_tensor_and_both_shapes(micro_model: torch.nn.Module, micro_spec: ModelSpec) -> None:
    wider = build_model(make_unet_spec("resnet18", "tiny"))
    with pytest.raises(
        CheckpointError, match=r"'encoder\.conv1\.weight' has shape \(8, 3, 7, 7\) in the checkpoint vs \(32, 3, 7, 7\)"
    ):
        load_state_strict(wider, micro_model.state_dict(), micro_spec)


def test_unexpected_tensor_named(micro_model: torch.nn.Module, micro_spec: ModelSpec) -> None:
    state = dict(micro_model.state_dict())
    state["decoder.extra.weight"] = torch.zeros(1)
    target = build_model(micro_spec)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"'decoder\.extra\.weight' is unexpected"):
        load_state_strict(target, state, micro_spec)
    for name, tensor in target.state_dict().items():  # nothing was loaded
        assert torch.equal(tensor, before[name])


def test_a_legacy_torch_save_pickle_named_pt_is_refused_as_a_pickle(tmp_path: Path) -> None:
    """torch.save before torch 1.6 (no zip) starts 0x80 0x02: a pickle, not TorchScript, whatever its suffix."""
    from mono_depth_ros.models.backend import open_backend
    from mono_depth_ros.models.checkpoint import starts_like_pickle

    legacy = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2).state_dict(), legacy, _use_new_zipfile_serialization=False)
    assert legacy.read_bytes()[:2] == b"\x80\x02"
    with pytest.raises(CheckpointError, match="is a Python pickle") as caught:
        open_backend("unet", legacy, torch.device("cpu"))
    assert "torchscript" not in str(caught.value)
    # a safetensors file whose header length (640 = 0x0280) starts with the same two bytes is not a pickle
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode().ljust(640)
    lookalike = tmp_path / "w.safetensors"
    lookalike.write_bytes(struct.pack("<Q", 640) + header + b"\0" * 4)
    assert lookalike.read_bytes()[:2] == b"\x80\x02" and not starts_like_pickle(lookalike)
    assert starts_like_pickle(legacy)


def test_a_community_state_dict_says_how_to_bring_the_model_in(tmp_path: Path) -> None:
    """depth_anything_v2_vits.pth / MiDaS .pt: torch.save state dicts, never unpickled. The message said 'convert it';
    it now names the ways in: a trace or export made where the model's code lives, or its Hugging Face directory."""
    path = tmp_path / "depth_anything_v2_vits.pth"
    torch.save({"pretrained.cls_token": torch.zeros(1, 1, 4)}, path)
    with pytest.raises(CheckpointError, match=r"torch\.jit\.trace.*torchscript.*torch\.onnx\.export.*mono-depth spec"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"Hugging Face directory .*model\.backend: transformers"):
        load_checkpoint(path)


def test_a_write_cut_short_leaves_the_earlier_file_whole(
    micro_spec: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # save_file wrote straight into the destination: a full disk (or a kill) mid-write left a truncated
    # model.safetensors in place of the good one, which the node then refused to start from
    path = tmp_path / "model.safetensors"
    state = build_model(micro_spec).state_dict()
    save_checkpoint(path, state, micro_spec)
    before = path.read_bytes()

    def disk_full(tensors: dict[str, torch.Tensor], filename: str, metadata: dict[str, str]) -> None:
        Path(filename).write_bytes(before[: len(before) // 2])  # what safetensors raises on a full tmpfs:
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr("mono_depth_ros.models.checkpoint.save_file", disk_full)
    with pytest.raises(CheckpointError, match=r"cannot write .*model\.safetensors .*No space left.* MB free there"):
        save_checkpoint(path, state, micro_spec)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]  # no partial file left beside it


@pytest.mark.parametrize("params", [{"encoder_width": 1 << 17}, {"decoder_channels": [16, 32, 64, 128, 1 << 20]}])
def test_a_tiny_checkpoint_declaring_a_huge_network_is_refused_before_any_memory_is_taken(
    tmp_path: Path, params: dict[str, Any], memory_cap: int
) -> None:
    """The spec inside a checkpoint decides the network built before its tensors are compared: a 500-byte file
    whose spec declares a wide unet made the loader allocate and initialise that network (encoder_width 1024:
    4 GB resident and 14 s before the allocator gave up under a 6 GB limit; the whole memory of a robot
    without one), and fail with the allocator's RuntimeError. The tensors are compared with the network built
    on the meta device first: a CheckpointError names the first one that does not fit, nothing is allocated."""
    from mono_depth_ros.models.backend import open_backend

    path = save_checkpoint(tmp_path / "huge.safetensors", {"w": torch.zeros(2)}, ModelSpec("unet", params))
    assert path.stat().st_size < 1000
    with pytest.raises(CheckpointError, match=r"architecture 'unet' .* is missing from the checkpoint"):
        open_backend("torch", path, torch.device("cpu"))


def test_a_fifo_given_as_the_checkpoint_is_refused_without_blocking(tmp_path: Path) -> None:
    """A FIFO (or a device) named model.safetensors, e.g. from an unpacked archive: opening it for reading blocks
    until something writes, so the node hung at start-up with no message. Refused as not a regular file."""
    import os
    import threading

    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def read() -> None:
        try:
            read_checkpoint_spec(fifo)
            outcome.append(None)
        except BaseException as err:  # handed to the test thread
            outcome.append(err)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=3.0)
    if reader.is_alive():
        with fifo.open("wb"):  # let the blocked reader go
            pass
        reader.join(timeout=3.0)
        pytest.fail("reading the checkpoint blocked on the FIFO")
    assert isinstance(outcome[0], CheckpointError) and "not a regular file" in str(outcome[0])


def test_deeply_nested_json_in_a_model_file_is_a_checkpoint_error(tmp_path: Path) -> None:
    """JSON nested 100 000 deep (a few hundred kB) made json.loads raise RecursionError, which no loader caught:
    the CLI printed a traceback and the node's configure failed with one. A CheckpointError names the file."""
    nested = "[" * 100_000 + "]" * 100_000
    path = _write_with_spec_json(tmp_path / "n.safetensors", nested)
    with pytest.raises(CheckpointError, match=r"n\.safetensors: ModelSpec metadata is not valid JSON"):
        load_checkpoint(path)
    header = json.dumps({"__metadata__": {"x": "y"}}).encode()[:-1] + b', "t": ' + nested.encode() + b"}"
    raw = tmp_path / "h.safetensors"
    raw.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(CheckpointError, match=r"h\.safetensors is truncated or not a safetensors file"):
        load_checkpoint(raw)


@pytest.mark.parametrize(
    ("change", "error", "reason"),
    [
        ({"architecture": "nonexistent"}, "ConfigError", r"unknown model architecture 'nonexistent'"),
        ({"params": {"encoder": "resnet99"}}, "ConfigError", r"encoder='resnet99' is unknown"),
        ({"params": {"encoder_width": 16}}, "CheckpointError", r"'encoder\.conv1\.weight' has shape \(8, 3, 7, 7\)"),
    ],
)
def test_a_checkpoint_that_cannot_be_rebuilt_is_named_in_the_error(
    tmp_path: Path, change: dict[str, Any], error: str, reason: str
) -> None:
    """A checkpoint whose spec names an unknown architecture or parameter, or whose tensors do not fit its own spec:
    the error raised while rebuilding it (registry.build_model, the fit check) said what was wrong but not in which
    file (model.weights may be one of several on a robot); it names the file first."""
    from dataclasses import replace

    from mono_depth_ros.models.backend import open_backend
    from test.models.tiny_models import tiny_unet

    network, spec = tiny_unet()
    params = {**spec.params, **change.get("params", {})}
    changed = replace(spec, architecture=change.get("architecture", spec.architecture), params=params)
    path = save_checkpoint(tmp_path / "robot_a.safetensors", network.state_dict(), changed)
    with pytest.raises(DepthError, match=rf"^checkpoint {re.escape(str(path))}: .*{reason}") as raised:
        open_backend("torch", path, torch.device("cpu"))
    assert type(raised.value).__name__ == error


def _tampered(tmp_path: Path, where: str, key: str, value: object) -> Path:
    """A tiny unet checkpoint (its own fitting tensors) whose spec JSON has ``where``'s ``key`` set to ``value``."""
    from test.models.tiny_models import tiny_unet

    network, spec = tiny_unet()
    data = json.loads(spec.to_json())
    (data[where] if where else data)[key] = value
    path = tmp_path / "robot_a.safetensors"
    save_file(network.state_dict(), str(path), metadata={SPEC_KEY: json.dumps(data)})
    return path


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("input", "height", 64.5),  # refused as "unet needs a multiple of 32, got 64.5x96": the field unnamed
        ("input", "height", True),
        ("input", "width", "96"),  # a TypeError's traceback ("not all arguments converted")
        ("input", "multiple_of", 32.5),
        ("input", "keep_aspect", 1),  # loaded, a keep-aspect policy of 1
        ("input", "keep_aspect", "no"),  # loaded as keep_aspect 'no' (truthy: kept the aspect)
        ("input", "pad", "false"),  # loaded as pad 'false' (truthy)
        ("", "min_depth_m", True),  # loaded: a 1 m floor on every depth
        ("", "max_depth_m", "50"),  # "spec metadata is malformed ('<' not supported ...)": the field unnamed
        ("", "sky_threshold", True),  # loaded
    ],
)
def test_a_spec_field_of_the_wrong_type_is_refused_naming_the_field_the_value_and_the_remedy(
    tmp_path: Path, where: str, key: str, value: object
) -> None:
    """A checkpoint's spec fields were read with int() / truthiness or not at all: a bool, a string or a fraction
    where a whole number, a bool or a number belongs loaded as something else, or failed with a message (or a
    traceback) that did not name the field."""
    from mono_depth_ros.models.backend import open_backend

    path = _tampered(tmp_path, where, key, value)
    field = f"{where + ' ' if where else 'ModelSpec '}{key}={value!r}"
    pattern = rf"^checkpoint {re.escape(str(path))}: .*{re.escape(field)} .*save_checkpoint"
    with pytest.raises(CheckpointError, match=pattern):
        open_backend("torch", path, torch.device("cpu"))


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("encoder_width", 8.5, "encoder_width=8.5"),  # loaded: int() floored it to 8
        ("encoder_width", "8", "encoder_width='8'"),  # loaded: int() parsed it
        ("encoder_width", True, "encoder_width=True"),  # "must be a positive multiple of 4, got 1"
        ("aspp_channels", 2.5, "aspp_channels=2.5"),  # loaded
        ("decoder_channels", [4.5, 4, 8, 8, 16], "decoder_channels=[4.5, 4, 8, 8, 16]"),  # loaded: floored
        ("decoder_channels", [True, 4, 8, 8, 16], "decoder_channels=[True, 4, 8, 8, 16]"),  # "does not fit"
    ],
)
def test_a_unet_param_that_is_no_whole_number_is_refused_naming_it(
    tmp_path: Path, key: str, value: object, shown: str
) -> None:
    """``encoder_width: 8.5`` in a checkpoint's spec loaded as 8 (int() floors), ``"8"`` as 8, a fraction among the
    decoder channels likewise: the spec said one network and another was built. Refused like the other unet param
    checks (ConfigError: the params of the unet architecture), naming the file, the param, its value and the
    remedy."""
    from mono_depth_ros.core.errors import ConfigError
    from mono_depth_ros.models.backend import open_backend

    path = _tampered(tmp_path, "params", key, value)
    pattern = rf"^checkpoint {re.escape(str(path))}: unet param {re.escape(shown)} .*whole number.*save_checkpoint"
    with pytest.raises(ConfigError, match=pattern):
        open_backend("torch", path, torch.device("cpu"))


def test_a_training_state_file_names_the_model_beside_it(tmp_path: Path) -> None:
    """``step_N.state.pt`` (optimiser, schedule, step: what mono-depth train writes beside ``step_N.safetensors``)
    given as the model: every loader names that model, the file to pass instead."""
    state = tmp_path / "step_0000019.state.pt"
    torch.save({"optimizer": {}, "step": 19}, state)
    model = tmp_path / "step_0000019.safetensors"
    with pytest.raises(CheckpointError, match=rf"optimiser state .* pass .*model, {re.escape(str(model))}"):
        load_checkpoint(state)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_checkpoint_gets_the_mode_the_umask_gives(
    tmp_path: Path, micro_model: torch.nn.Module, micro_spec: ModelSpec, umask: int
) -> None:
    """safetensors writes its files 0o600 whatever the umask: a checkpoint ``mono-depth train`` wrote could not be
    read by another user (the node's service user) where any other file written beside it could."""
    before = os.umask(umask)
    try:
        path = _saved(tmp_path, micro_model, micro_spec)
    finally:
        os.umask(before)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_checkpoint_is_saved_where_its_mode_cannot_be_changed(
    tmp_path: Path, micro_model: torch.nn.Module, micro_spec: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder whose files belong to another user (a FAT or SMB mount with a fixed ``uid=``, world-writable) takes
    the write but refuses chmod (EPERM): the mode is a nicety, the checkpoint, written whole, is kept."""

    def refused(path: Any, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted", str(path))

    monkeypatch.setattr(os, "chmod", refused)
    path = _saved(tmp_path, micro_model, micro_spec)
    monkeypatch.undo()
    assert load_checkpoint(path).spec == micro_spec
