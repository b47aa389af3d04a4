"""Tests for models/registry.py: the unet entry, registration rules, lazy imports, parameter counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models import registry
from mono_depth_ros.models.registry import (
    available_architectures,
    build_model,
    get_architecture,
    parameter_counts,
    register,
    register_lazy,
)
from mono_depth_ros.models.spec import ModelSpec, OutputKind
from mono_depth_ros.models.unet import UNet, make_unet_spec


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test disappear after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_LAZY_MODULES", dict(registry._LAZY_MODULES))


def test_unet_is_registered_and_builds() -> None:
    entry = get_architecture("unet")
    assert entry.mean == (0.485, 0.456, 0.406)
    assert entry.output_kind is OutputKind.DEPTH_UP_TO_SCALE
    model = build_model(make_unet_spec("resnet18", "tiny", encoder_width=8))
    assert isinstance(model, UNet)
    assert {"unet", "depth_anything_v2"} <= set(available_architectures())


def test_unknown_architecture_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown model architecture 'midas'; known: .*unet"):
        build_model(ModelSpec("midas"))


@pytest.mark.usefixtures("isolated")
def test_register_rejects_duplicates_unless_replacing() -> None:
    def builder(spec: ModelSpec) -> nn.Module:
        return nn.Linear(1, 1)

    with pytest.raises(ConfigError, match="'unet' is already registered"):
        register("unet", builder)
    register("unet", builder, replace=True, output_kind=OutputKind.METRIC)
    assert isinstance(build_model(ModelSpec("unet")), nn.Linear)
    assert get_architecture("unet").output_kind is OutputKind.METRIC


@pytest.mark.usefixtures("isolated")
def test_lazy_module_is_imported_on_first_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "h4a_lazy_arch.py").write_text(
        "from torch import nn\n"
        "from mono_depth_ros.models.registry import register\n"
        "register('lazy_arch', lambda spec: nn.Identity(), description='test')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    register_lazy("lazy_arch", "h4a_lazy_arch")
    assert "lazy_arch" in available_architectures()
    assert "h4a_lazy_arch" not in sys.modules
    assert isinstance(build_model(ModelSpec("lazy_arch")), nn.Identity)
    assert "h4a_lazy_arch" in sys.modules
    monkeypatch.delitem(sys.modules, "h4a_lazy_arch")


@pytest.mark.usefixtures("isolated")
def test_lazy_module_that_fails_to_import_names_the_remedy() -> None:
    register_lazy("ghost", "mono_depth_ros.models.no_such_module_h4a")
    with pytest.raises(ConfigError, match=r"'ghost' needs mono_depth_ros\.models\.no_such_module_h4a.*pip install"):
        get_architecture("ghost")


def test_importing_the_registry_does_not_import_transformers() -> None:
    code = "import sys, mono_depth_ros.models.registry; print('transformers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "False"


def test_parameter_counts_per_top_level_part() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Linear(3, 4)  # 16
            self.heads = nn.ModuleList([nn.Linear(4, 1), nn.Linear(4, 1)])  # 10
            self.scale = nn.Parameter(torch.ones(2))  # held directly: "other"
            self.tied = self.encoder  # shared: counted once

    assert parameter_counts(Net()) == {"encoder": 16, "heads": 10, "other": 2, "total": 28}
