"""UNetConfig: the ``ModelSpec.params`` of the ``unet`` architecture, validated, with width presets.

``params`` keys (all optional; unknown keys are refused):

* ``encoder``: ``resnet18`` | ``resnet34`` | ``resnet50`` (default ``resnet18``).
* ``width``: preset ``tiny`` | ``small`` | ``base`` (default ``small``) giving the two widths below.
* ``encoder_width``: ResNet base width (64 = torchvision sizes).
* ``decoder_channels``: 5 ints, decoder output channels of levels 0..4 (level i at stride 2^i).
* ``aspp`` (bool), ``aspp_channels`` (int, default ``decoder_channels[4]``), ``difference`` (bool),
  ``pixel_shuffle`` (bool), ``preact`` (bool).

:meth:`UNetConfig.to_params` writes every value explicitly, so a checkpoint never depends on today's presets.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.resnet import RESNET_LAYOUTS

NUM_SCALES = 4  # disparity heads at scales 0..3 (full, 1/2, 1/4, 1/8 resolution)


@dataclass(frozen=True)
class WidthPreset:
    """Encoder base width and decoder channels (levels 0..4) of one size preset."""

    encoder_width: int
    decoder_channels: tuple[int, int, int, int, int]


WIDTH_PRESETS: dict[str, WidthPreset] = {
    # ~3.5 M parameters with resnet18: a half-width encoder and a half-width monodepth2 decoder.
    "tiny": WidthPreset(32, (16, 16, 32, 64, 128)),
    # monodepth2's ResNet-18 depth network (14.3 M parameters with resnet18).
    "small": WidthPreset(64, (16, 32, 64, 128, 256)),
    # a wider decoder for resnet34 / resnet50.
    "base": WidthPreset(64, (32, 64, 128, 256, 512)),
}


@dataclass(frozen=True)
class UNetConfig:
    """Resolved hyper-parameters of :class:`~mono_depth_ros.models.unet.UNet` (see the module docstring)."""

    encoder: str = "resnet18"
    width: str = "small"
    encoder_width: int = 64
    decoder_channels: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)
    aspp: bool = False
    aspp_channels: int = 0  # 0 = decoder_channels[4]
    difference: bool = False
    pixel_shuffle: bool = False
    preact: bool = False

    def __post_init__(self) -> None:
        if self.encoder not in RESNET_LAYOUTS:
            msg = f"unet param encoder={self.encoder!r} is unknown; expected one of {sorted(RESNET_LAYOUTS)}"
            raise ConfigError(msg)
        if len(self.decoder_channels) != 5 or any(int(c) < 1 for c in self.decoder_channels):
            msg = f"unet param decoder_channels must be 5 positive ints (levels 0..4), got {self.decoder_channels}"
            raise ConfigError(msg)
        if self.encoder_width < 4 or self.encoder_width % 4:
            msg = f"unet param encoder_width must be a positive multiple of 4, got {self.encoder_width}"
            raise ConfigError(msg)
        if self.aspp_channels < 0:
            msg = f"unet param aspp_channels must be >= 0 (0 = decoder_channels[4]), got {self.aspp_channels}"
            raise ConfigError(msg)

    @property
    def resolved_aspp_channels(self) -> int:
        """ASPP output channels (``aspp_channels`` or, when 0, the deepest decoder width)."""
        return self.aspp_channels or self.decoder_channels[4]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> UNetConfig:
        """Build from ``ModelSpec.params``: the ``width`` preset first, explicit keys override it.

        Raises:
            ConfigError: unknown key, unknown preset, or a value of the wrong type / range.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            msg = f"unknown unet params {unknown}; valid keys: {sorted(known)}"
            raise ConfigError(msg)
        width = str(params.get("width", "small"))
        if width not in WIDTH_PRESETS:
            msg = f"unet param width={width!r} is not a preset; expected one of {sorted(WIDTH_PRESETS)}"
            raise ConfigError(msg)
        preset = WIDTH_PRESETS[width]
        channels = _as_wholes(params, "decoder_channels", preset.decoder_channels)
        return cls(
            encoder=str(params.get("encoder", "resnet18")),
            width=width,
            encoder_width=_as_whole(params, "encoder_width", preset.encoder_width),
            decoder_channels=channels,  # type: ignore[arg-type]  # length checked in __post_init__
            aspp=_as_bool(params, "aspp"),
            aspp_channels=_as_whole(params, "aspp_channels", 0),
            difference=_as_bool(params, "difference"),
            pixel_shuffle=_as_bool(params, "pixel_shuffle"),
            preact=_as_bool(params, "preact"),
        )

    def to_params(self) -> dict[str, Any]:
        """JSON-serialisable ``ModelSpec.params`` with every value explicit."""
        data = asdict(self)
        data["decoder_channels"] = list(self.decoder_channels)
        return data


def _is_whole(value: Any) -> bool:
    """Whether ``value`` is a whole number (an int, or a float without a fraction: 64.0), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer()


def _wrong_number(key: str, value: Any, what: str) -> ConfigError:
    """The error for a unet param that is not ``what``, naming it, its value and the remedy."""
    msg = (
        f"unet param {key}={value!r} is not {what}; the spec (a checkpoint's: re-save it with save_checkpoint from the "
        f"network that made it) or the training configuration is wrong"
    )
    return ConfigError(msg)


def _as_whole(params: Mapping[str, Any], key: str, default: int) -> int:
    """``params[key]`` (or ``default``) as an int.

    Raises:
        ConfigError: a bool, a string, a list, a fraction (8.5: int() floored it and built another network than the
            spec says), naming the param, its value and the remedy.
    """
    value = params.get(key, default)
    if not _is_whole(value):
        raise _wrong_number(key, value, "a whole number")
    return int(value)


def _as_wholes(params: Mapping[str, Any], key: str, default: Sequence[int]) -> tuple[int, ...]:
    """``params[key]`` (or ``default``), a list of whole numbers, as a tuple of ints.

    Raises:
        ConfigError: anything else (a fraction or a bool among them), named as :func:`_as_whole` does.
    """
    value = params.get(key, default)
    if not isinstance(value, list | tuple) or not all(_is_whole(v) for v in value):
        raise _wrong_number(key, value, "a list of whole numbers")
    return tuple(int(v) for v in value)


def _as_bool(params: Mapping[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        msg = f"unet param {key} must be true or false, got {value!r}"
        raise ConfigError(msg)
    return value
