"""Tests for models/depth_anything.py: configs, HF-layout round trip through the user's loader, errors."""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError, ConfigError, ShapeError
from mono_depth_ros.models import registry
from mono_depth_ros.models.depth_anything import (
    ARCHITECTURE,
    DA_V2_INPUT,
    VARIANTS,
    DepthAnythingV2,
    build_depth_anything,
    depth_anything_spec,
    hf_config,
    load_depth_anything,
    save_depth_anything,
)
from mono_depth_ros.models.spec import OutputKind

from .tiny_models import TINY_DA


def _save_tiny(directory: Path, kind: str = "relative", max_depth: float | None = None) -> DepthAnythingV2:
    torch.manual_seed(0)
    model = build_depth_anything(depth_anything_spec(TINY_DA, kind, max_depth)).eval()
    save_depth_anything(model, directory)
    return model


def test_real_small_config_builds_with_the_published_size() -> None:
    spec = depth_anything_spec(VARIANTS["small"])
    model = registry.build_model(spec)
    assert isinstance(model, DepthAnythingV2)
    count = sum(p.numel() for p in model.parameters())
    assert 24_000_000 < count < 25_500_000  # DA-V2-S is published as 24.8 M parameters
    config = model.model.config
    assert list(config.backbone_config.out_indices) == [3, 6, 9, 12]
    assert config.depth_estimation_type == "relative"


def test_base_and_large_configs_match_upstream() -> None:
    base, large = hf_config(VARIANTS["base"]), hf_config(VARIANTS["large"], "metric", 80.0)
    assert base.backbone_config.hidden_size == 768 and list(base.neck_hidden_sizes) == [96, 192, 384, 768]
    assert large.backbone_config.num_hidden_layers == 24
    assert list(large.backbone_config.out_indices) == [5, 12, 18, 24]
    assert large.depth_estimation_type == "metric" and large.max_depth == 80.0


def test_relative_round_trip_through_hf_directory(tmp_path: Path) -> None:
    original = _save_tiny(tmp_path / "da")
    assert (tmp_path / "da" / "config.json").is_file() and (tmp_path / "da" / "model.safetensors").is_file()
    loaded, spec = load_depth_anything(tmp_path / "da")
    assert spec.architecture == ARCHITECTURE and spec.output_kind is OutputKind.RELATIVE_INVERSE
    assert spec.input == DA_V2_INPUT and spec.input.multiple_of == 14
    x = torch.randn(1, 3, 42, 70)
    with torch.no_grad():
        expected, got = original(x), loaded(x)
    assert got.shape == (1, 1, 42, 70) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected)
    assert float(got.min()) >= 0.0  # relative head ends in ReLU: disparity >= 0
    rebuilt = registry.build_model(spec)  # the spec alone rebuilds the same architecture
    rebuilt.load_state_dict(loaded.state_dict())


def test_metric_variant_reads_max_depth(tmp_path: Path) -> None:
    _save_tiny(tmp_path / "metric", "metric", 20.0)
    model, spec = load_depth_anything(tmp_path / "metric")
    assert spec.output_kind is OutputKind.METRIC and spec.max_depth_m == 20.0
    with torch.no_grad():
        depth = model(torch.randn(1, 3, 28, 28))
    assert float(depth.min()) >= 0.0 and float(depth.max()) <= 20.0


def test_loading_never_goes_online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _save_tiny(tmp_path / "da")

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    model, _ = load_depth_anything(tmp_path / "da")
    assert isinstance(model, DepthAnythingV2)


def test_input_must_be_multiple_of_patch(tmp_path: Path) -> None:
    model = build_depth_anything(depth_anything_spec(TINY_DA))
    with pytest.raises(ShapeError, match="multiples of 14"):
        model(torch.randn(1, 3, 30, 28))


def test_missing_directory_and_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"does not exist.*mono-depth weights"):
        load_depth_anything(tmp_path / "nope")
    (tmp_path / "file.safetensors").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="is a file"):
        load_depth_anything(tmp_path / "file.safetensors")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match=r"no config\.json"):
        load_depth_anything(empty)


def test_pickle_only_and_foreign_directories_are_refused(tmp_path: Path) -> None:
    _save_tiny(tmp_path / "da")
    (tmp_path / "da" / "model.safetensors").rename(tmp_path / "da" / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"no model\.safetensors.*pickle"):
        load_depth_anything(tmp_path / "da")
    other = tmp_path / "other"
    _save_tiny(other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "dpt"}))
    with pytest.raises(CheckpointError, match="model_type 'dpt'"):
        load_depth_anything(other)


def test_weights_that_do_not_fit_the_config_name_a_tensor(tmp_path: Path) -> None:
    _save_tiny(tmp_path / "da")
    config = json.loads((tmp_path / "da" / "config.json").read_text())
    config["fusion_hidden_size"] = 24
    (tmp_path / "da" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"does not fit its config\.json: mismatched tensor .*head\.conv1"):
        load_depth_anything(tmp_path / "da")


def test_bad_kind_and_missing_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="max_depth"):
        hf_config(TINY_DA, "metric", None)
    bad = replace(depth_anything_spec(TINY_DA), params={"hidden_size": 32})
    with pytest.raises(ConfigError, match="incomplete"):
        build_depth_anything(bad)
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ConfigError, match=r"pip install 'mono_depth_ros\[hf\]'"):
        build_depth_anything(depth_anything_spec(TINY_DA))


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_safetensors_file_is_a_checkpoint_error(tmp_path: Path, damage: str) -> None:
    directory = tmp_path / "da"
    model = build_depth_anything(depth_anything_spec(TINY_DA)).eval()
    save_depth_anything(model, directory)
    weights = directory / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"\x00" * 64 + data[64:])
    with pytest.raises(CheckpointError, match=f"cannot load Depth Anything weights from {directory}"):
        load_depth_anything(directory)
