"""Tests for models/hf_declared_size.py: a config.json declaring more than its weights hold is refused unbuilt."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.hf_declared_size import stored_elements
from mono_depth_ros.models.hf_model import load_transformers_model

from .hf_tiny import write_tiny_family

pytest.importorskip("transformers")
CPU = torch.device("cpu")


def _declare(model: Path, **fields: Any) -> Path:
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, **fields}))
    return model


def test_a_config_declaring_a_network_larger_than_its_weights_is_refused_before_it_is_built(
    tmp_path: Path, memory_cap: int
) -> None:
    """transformers builds what config.json declares and initialises every tensor the weights lack or do not fit
    (ignore_mismatched_sizes) at the declared size: a tiny GLPN folder whose config.json says decoder_hidden_size
    65536 asked for 309 GB (then 'truncated or corrupt'); moderate sizes are allocated and initialised before the
    mismatch is refused. The network is sized on the meta device first and refused when it needs more numbers than
    the weights hold (under a cap of 4 GiB more address space)."""
    model = _declare(write_tiny_family("glpn", tmp_path / "model"), decoder_hidden_size=1 << 16)
    with pytest.raises(
        CheckpointError, match=r"config\.json declares a network of [\d,]+ parameters, its weights hold"
    ):
        load_transformers_model(model, CPU)


def test_the_stored_elements_are_the_loaded_model_s_and_a_real_folder_loads(tmp_path: Path) -> None:
    model = write_tiny_family("glpn", tmp_path / "model")
    backend, _ = load_transformers_model(model, CPU)
    loaded = sum(tensor.numel() for tensor in backend.module.network.model.state_dict().values())
    assert stored_elements(model) == loaded


@pytest.mark.parametrize("fields", [{"depths": [100_000, 1, 1, 1]}, {"num_encoder_blocks": 5000}])
def test_a_config_with_thousands_of_layers_is_refused_before_any_is_built(
    tmp_path: Path, fields: dict[str, Any]
) -> None:
    """Even on the meta device every layer is Python objects: 2000 GLPN blocks took 4 s and 120 MB to build, so a
    config.json asking for 100 000 took minutes and gigabytes before any weight was compared. Layer and block
    counts above 1000 (published models have a few dozen) are refused from the JSON alone."""
    model = _declare(write_tiny_family("glpn", tmp_path / "model"), **fields)
    with pytest.raises(CheckpointError, match=r"config\.json asks for \d+ (layers|blocks) in '\w+'"):
        load_transformers_model(model, CPU)


def test_a_depth_anything_checkpoint_spec_with_thousands_of_layers_is_refused(tmp_path: Path) -> None:
    """A project checkpoint of architecture depth_anything_v2 declares its ViT depth in spec.params: the same
    count check runs before the network is built (meta or not)."""
    from mono_depth_ros.models.backend import open_backend
    from mono_depth_ros.models.checkpoint import save_checkpoint
    from mono_depth_ros.models.depth_anything import VARIANTS, depth_anything_spec

    spec = depth_anything_spec(VARIANTS["small"])
    deep = replace(spec, params={**spec.params, "num_hidden_layers": 100_000})
    path = save_checkpoint(tmp_path / "deep.safetensors", {"w": torch.zeros(2)}, deep)
    with pytest.raises(CheckpointError, match=r"asks for 100000 layers in 'num_hidden_layers'"):
        open_backend("depth_anything_v2", path, CPU)
