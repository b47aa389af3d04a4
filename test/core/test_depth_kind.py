"""Output kinds: parsing, and the one definition shared by models and scale recovery."""

from __future__ import annotations

import pytest

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import CheckpointError


def test_every_kind_parses_from_its_value() -> None:
    for kind in OutputKind:
        assert OutputKind.parse(kind.value) is kind
    assert OutputKind("metric") == "metric"  # a str enum: YAML / JSON values compare directly


def test_an_unknown_kind_names_the_valid_ones() -> None:
    with pytest.raises(CheckpointError, match="metric, depth_up_to_scale, relative_inverse"):
        OutputKind.parse("disparity")


def test_models_spec_re_exports_the_core_kind() -> None:
    from mono_depth_ros.models.spec import OutputKind as SpecKind

    assert SpecKind is OutputKind
