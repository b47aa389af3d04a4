"""Tests for models/hf_folder_checks.py: what a downloaded folder may make transformers do is refused first."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.hf_model import load_transformers_model

from .hf_tiny import write_tiny_family

pytest.importorskip("transformers")
CPU = torch.device("cpu")


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_a_shard_index_that_points_outside_the_model_folder_is_refused(tmp_path: Path, where: str) -> None:
    """transformers opens whatever file model.safetensors.index.json names (``os.path.join(folder, name)``: a
    ``../`` name climbs out, an absolute one replaces the folder): a downloaded folder made the node open files
    elsewhere on the robot (here the weights moved beside it, which loaded). Refused, naming the entry."""
    from safetensors import safe_open

    model = write_tiny_family("glpn", tmp_path / "model")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = (model / "model.safetensors").rename(elsewhere / "w.safetensors")
    with safe_open(str(outside), framework="pt") as handle:
        names = list(handle.keys())
    shard = "../elsewhere/w.safetensors" if where == "relative" else str(outside)
    index = {"metadata": {}, "weight_map": dict.fromkeys(names, shard)}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=re.escape(f"index.json names the shard {shard!r}, outside {model}")):
        load_transformers_model(model, CPU)


@pytest.mark.parametrize(
    "setting",
    [
        {"attn_implementation": "kernels-community/flash-attn"},
        {"backbone_config": {"attn_implementation": "someone/kernel"}},
        {"attn_implementation": {"": "sdpa", "backbone_config": "kernels-community/flash-attn"}},
    ],
    ids=["top", "backbone", "per-config"],
)
def test_a_config_asking_for_a_hub_kernel_is_refused(tmp_path: Path, setting: dict[str, object]) -> None:
    """transformers reads attn_implementation from config.json; an 'owner/repo' value is a kernel it downloads from
    the Hub with the `kernels` package and loads as native code (online, whatever local_files_only says); without
    the package the load died with an ImportError traceback. Refused, naming the setting."""
    model = write_tiny_family("depth_anything", tmp_path / "model")
    config = json.loads((model / "config.json").read_text())
    for key, value in setting.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) and key in config else value
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config\.json asks for the attention kernel '.*/.*' from the Hub"):
        load_transformers_model(model, CPU)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every attempt to open a network connection during the test, refused and recorded."""
    import socket

    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network refused by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: attempts.append(args) or [])
    return attempts


@pytest.mark.parametrize("family", ["depth_anything", "dpt"])
def test_a_backbone_named_without_its_config_is_refused_offline(
    tmp_path: Path, family: str, no_network: list[object]
) -> None:
    """config.json "backbone": "owner/repo" with no backbone_config: transformers asked the Hub whether that repo
    exists and downloaded its config.json (a network call while parsing the config, whatever local_files_only
    says; offline, an httpx ConnectError traceback). Refused before transformers sees it; a published folder
    still loads without a single connection attempt."""
    model = write_tiny_family(family, tmp_path / "model")
    load_transformers_model(model, CPU)
    assert no_network == []
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "backbone": "someone/backbone", "backbone_config": None}))
    with pytest.raises(CheckpointError, match=r"names the backbone 'someone/backbone' without its backbone_config"):
        load_transformers_model(model, CPU)
    assert no_network == []


@pytest.mark.parametrize(
    "setting",
    [
        {"backbone": "someone/backbone", "backbone_config": None},
        {"attn_implementation": "kernels-community/flash-attn"},
    ],
    ids=["backbone", "kernel"],
)
def test_a_project_checkpoint_whose_spec_config_goes_online_is_refused(
    tmp_path: Path, setting: dict[str, object], no_network: list[object]
) -> None:
    """A fine-tuned transformers model saved as a project checkpoint carries its config.json inside its spec
    (params.config), which build_transformers hands to transformers: the same Hub backbone lookup and Hub kernel
    load happened from a .safetensors file. Refused with the same checks, before any connection."""
    from mono_depth_ros.models.backend import open_backend
    from mono_depth_ros.models.checkpoint import save_checkpoint

    backend, spec = load_transformers_model(write_tiny_family("depth_anything", tmp_path / "model"), CPU)
    config = {**spec.params["config"], **setting}
    edited = replace(spec, params={**spec.params, "config": config})
    path = save_checkpoint(tmp_path / "fine_tuned.safetensors", backend.module.network.state_dict(), edited)
    with pytest.raises(CheckpointError, match=r"someone/backbone|kernels-community/flash-attn"):
        open_backend("transformers", path, CPU)
    assert no_network == []


def test_only_a_transformers_class_for_another_task_counts_as_another_task() -> None:
    """A depth class (its family's, or another family's: then refused as weights that do not fit), a class whose
    checkpoint holds a depth head, a folder's own code (a class transformers does not have: it loads as
    transformers' class) and a config without architectures pass; a transformers class for another task is named."""
    import transformers

    from mono_depth_ros.models.hf_folder_checks import other_task

    depth = ("DPTForDepthEstimation", "GLPNForDepthEstimation")
    with_head = "Tipsv2DptForDensePrediction"  # google/tipsv2-*-dpt: its depth head loads
    passing: list[dict[str, list[str]]] = [{"architectures": [name]} for name in (*depth, with_head, "MyDepthNet")]
    for config in [*passing, {}, {"architectures": []}]:
        assert other_task(config, depth, transformers) is None
    named = other_task({"architectures": ["DPTForSemanticSegmentation"]}, depth, transformers)
    assert named == "DPTForSemanticSegmentation"


@pytest.mark.parametrize(
    ("family", "where", "field", "value"),
    [
        ("depth_anything_metric", (), "max_depth", 20.0),  # a hand-edited metric range (transformers 5: int)
        ("depth_anything_metric", (), "max_depth", "20"),
        ("glpn", (), "max_depth", 80.0),
        ("depth_anything", ("backbone_config",), "patch_size", 14.0),  # a relative model: no metric range read
    ],
)
def test_a_config_field_transformers_refuses_is_a_checkpoint_error_naming_it(
    tmp_path: Path, family: str, where: tuple[str, ...], field: str, value: object
) -> None:
    """transformers 5 validates config fields by type (huggingface_hub's strict dataclasses): a float max_depth gave
    a StrictDataclassFieldValidationError traceback from transformers_spec instead of the loader's error."""
    model = write_tiny_family(family, tmp_path / "model")
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    part = config
    for key in where:
        part = part[key]
    part[field] = value
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    expected = rf"config\.json.*{field}.*{re.escape(repr(value))}.*(expects|expected) int.*fetch the model again"
    with pytest.raises(CheckpointError, match=expected):
        load_transformers_model(model, torch.device("cpu"))


@pytest.mark.parametrize(
    ("family", "field", "value", "shown"),
    [
        ("dpt", "readout_type", "bogus", "readout_type: 'bogus'"),  # a field validator: one of its values
        ("depth_anything", "depth_estimation_type", "absolute", "depth_estimation_type: 'absolute'"),  # the class's
    ],
)
def test_a_config_value_transformers_refuses_is_named_with_the_values_to_write(
    tmp_path: Path, family: str, field: str, value: str, shown: str
) -> None:
    """A field of the right type but a value transformers 5 refuses (a readout_type it does not know) was told to
    'write that field as the type it names (a whole number such as 20 where it expects int)': no type was wrong, and
    a class validator's message did not name the value at all."""
    model = write_tiny_family(family, tmp_path / "model")
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config[field] = value
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(CheckpointError) as refused:
        load_transformers_model(model, torch.device("cpu"))
    message = str(refused.value)
    assert shown in message and "one of" in message, message
    assert "write that field as one of the values it lists, or fetch the model again" in message, message
    assert "whole number" not in message, message
