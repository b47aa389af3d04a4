"""Tests for models/unet_config.py: presets, explicit overrides, validation, params round trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.unet_config import WIDTH_PRESETS, UNetConfig


def test_defaults_are_the_small_preset() -> None:
    config = UNetConfig.from_params({})
    assert config == UNetConfig()
    assert config.encoder_width == WIDTH_PRESETS["small"].encoder_width
    assert config.decoder_channels == WIDTH_PRESETS["small"].decoder_channels
    assert config.resolved_aspp_channels == config.decoder_channels[4]


def test_explicit_values_override_the_preset() -> None:
    config = UNetConfig.from_params({"width": "tiny", "encoder_width": 16, "aspp_channels": 24})
    assert config.encoder_width == 16
    assert config.decoder_channels == WIDTH_PRESETS["tiny"].decoder_channels
    assert config.resolved_aspp_channels == 24


@settings(max_examples=40, deadline=None)
@given(
    encoder=st.sampled_from(["resnet18", "resnet34", "resnet50"]),
    width=st.sampled_from(sorted(WIDTH_PRESETS)),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    channels=st.none() | st.lists(st.integers(1, 64), min_size=5, max_size=5),
)
def test_to_params_round_trips_through_json(
    encoder: str, width: str, flags: tuple[bool, bool, bool, bool], channels: list[int] | None
) -> None:
    params: dict[str, object] = {"encoder": encoder, "width": width}
    params.update(zip(("aspp", "difference", "pixel_shuffle", "preact"), flags, strict=True))
    if channels is not None:
        params["decoder_channels"] = channels
    config = UNetConfig.from_params(params)
    again = UNetConfig.from_params(json.loads(json.dumps(config.to_params())))
    assert again == config


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"layers": 3}, r"unknown unet params \['layers'\]"),
        ({"width": "huge"}, "width='huge' is not a preset"),
        ({"encoder": "vgg16"}, "encoder='vgg16' is unknown"),
        ({"decoder_channels": [1, 2, 3]}, "5 positive ints"),
        ({"decoder_channels": [1, 2, 3, 4, 0]}, "5 positive ints"),
        ({"encoder_width": 10}, "multiple of 4, got 10"),
        ({"aspp": "yes"}, "aspp must be true or false"),
        ({"aspp_channels": -1}, "aspp_channels must be >= 0"),
        ({"encoder_width": "wide"}, "encoder_width='wide' is not a whole number"),
    ],
)
def test_invalid_params(params: dict[str, object], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        UNetConfig.from_params(params)
