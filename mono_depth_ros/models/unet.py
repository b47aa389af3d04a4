"""The project's own encoder-decoder (U-Net on a ResNet encoder), configured by ``ModelSpec.params``.

Decoder (monodepth2-style, coarse to fine over levels 4..0, level i at stride 2^i of the input):
3×3 conv -> ×2 upsampling (bilinear, or pixel shuffle) -> concatenate the same-scale encoder feature -> 3×3 conv.
Disparity heads (3×3 conv + sigmoid) on levels 3..0 give (B, 1, H / 2^s, W / 2^s) for s = 3..0; the full-resolution
disparity maps to depth by ``1 / (a·disp + b)`` with ``b = 1 / max_depth``, ``a = 1 / min_depth - 1 / max_depth``
(monodepth2 ``disp_to_depth``). Options: ASPP on the deepest feature, "difference" features (each encoder feature
concatenated with itself minus its down-up-sampled copy: a band-pass of that level), pixel-shuffle upsampling,
pre-activation encoder. Widths come from a preset (``tiny`` ~3.5 M parameters with resnet18, ``small`` =
monodepth2's 14.3 M, ``base``) or explicit values. Input normalisation (``ModelSpec.mean/std``) happens outside.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.models.aspp import ASPP
from mono_depth_ros.models.resnet import ResNetEncoder
from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind
from mono_depth_ros.models.unet_config import NUM_SCALES, UNetConfig

INPUT_MULTIPLE = 32


class UNetOutput(NamedTuple):
    """What :meth:`UNet.forward` returns (a fresh value per call).

    Attributes:
        depth: (B, 1, H, W) float32 depth in ``[min_depth_m, max_depth_m]``, in the unit of the spec's output kind
            (metres for ``metric``, scaled units for ``depth_up_to_scale``); never NaN.
        disparities: sigmoid disparities in [0, 1], scale s = 0..3, each (B, 1, H / 2^s, W / 2^s).
    """

    depth: Tensor
    disparities: tuple[Tensor, ...]


def disp_to_depth(disp: Tensor, min_depth_m: float, max_depth_m: float) -> tuple[Tensor, Tensor]:
    """Map sigmoid disparity to (scaled disparity, depth), as monodepth2's ``disp_to_depth``.

    Args:
        disp: sigmoid output in [0, 1], any shape.
        min_depth_m, max_depth_m: depth range (0 < min < max).

    Returns:
        scaled disparity ``a·disp + b`` in [1/max, 1/min] and depth ``1 / scaled`` clamped to [min, max].
    """
    min_disp = 1.0 / max_depth_m
    max_disp = 1.0 / min_depth_m
    scaled = min_disp + (max_disp - min_disp) * disp
    return scaled, (1.0 / scaled).clamp(min_depth_m, max_depth_m)


def difference_feature(feature: Tensor) -> Tensor:
    """The feature minus its 2× down-then-up-sampled copy (same shape; the detail lost at the next scale)."""
    coarse = F.avg_pool2d(feature, kernel_size=2, stride=2, ceil_mode=True)
    return feature - F.interpolate(coarse, size=feature.shape[-2:], mode="bilinear", align_corners=False)


def _conv_elu(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1, padding_mode="replicate"), nn.ELU(inplace=True))


class _UpBlock(nn.Module):
    """Level i of the decoder: conv, ×2 upsampling, skip concatenation, fusing conv."""

    def __init__(self, in_ch: int, out_ch: int, skip_ch: int, pixel_shuffle: bool) -> None:
        super().__init__()
        self.pixel_shuffle = pixel_shuffle
        self.reduce = _conv_elu(in_ch, out_ch * 4 if pixel_shuffle else out_ch)
        self.shuffle: nn.Module = nn.PixelShuffle(2) if pixel_shuffle else nn.Identity()
        self.fuse = _conv_elu(out_ch + skip_ch, out_ch)

    def forward(self, x: Tensor, skip: Tensor | None) -> Tensor:
        x = self.reduce(x)
        x = self.shuffle(x) if self.pixel_shuffle else F.interpolate(x, scale_factor=2.0, mode="bilinear")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        out: Tensor = self.fuse(x)
        return out


class UNetDecoder(nn.Module):
    """Optional ASPP on the deepest feature, then 5 up-blocks (level 4 -> 0)."""

    def __init__(self, encoder_channels: tuple[int, ...], config: UNetConfig) -> None:
        super().__init__()
        factor = 2 if config.difference else 1
        self.difference = config.difference
        deepest = encoder_channels[4] * factor
        self.aspp: nn.Module | None = None
        if config.aspp:
            self.aspp = ASPP(deepest, config.resolved_aspp_channels)
            deepest = config.resolved_aspp_channels
        blocks = []
        in_ch = deepest
        for level in range(4, -1, -1):
            skip_ch = encoder_channels[level - 1] * factor if level > 0 else 0
            out_ch = config.decoder_channels[level]
            blocks.append(_UpBlock(in_ch, out_ch, skip_ch, config.pixel_shuffle))
            in_ch = out_ch
        self.blocks = nn.ModuleList(blocks)  # blocks[k] is level 4 - k

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        """Encoder features (levels 0..4) -> decoder features of levels 4..0 (level i at stride 2^i)."""
        if self.difference:
            features = [torch.cat([f, difference_feature(f)], dim=1) for f in features]
        x = features[4] if self.aspp is None else self.aspp(features[4])
        outputs: list[Tensor] = []
        for k, block in enumerate(self.blocks):
            level = 4 - k
            x = block(x, features[level - 1] if level > 0 else None)
            outputs.append(x)
        return outputs


class UNet(nn.Module):
    """ResNet encoder + U-Net decoder + 4 disparity heads.

    Args:
        config: architecture hyper-parameters (see :class:`UNetConfig`).
        min_depth_m, max_depth_m: output depth range (the spec's ``min_depth_m`` / ``max_depth_m``).
    """

    def __init__(self, config: UNetConfig, min_depth_m: float = 0.1, max_depth_m: float = 100.0) -> None:
        super().__init__()
        self.config = config
        self.min_depth_m = float(min_depth_m)
        self.max_depth_m = float(max_depth_m)
        self.encoder = ResNetEncoder(config.encoder, config.encoder_width, config.preact)
        self.decoder = UNetDecoder(self.encoder.channels, config)
        self.heads = nn.ModuleList(
            nn.Conv2d(config.decoder_channels[scale], 1, 3, padding=1, padding_mode="replicate")
            for scale in range(NUM_SCALES)
        )

    def forward(self, x: Tensor) -> UNetOutput:
        """Predict depth.

        Args:
            x: (B, 3, H, W) float32 normalised RGB (``(rgb01 - mean) / std``); H, W multiples of 32.

        Returns:
            A fresh :class:`UNetOutput` (full-resolution depth and the 4 per-scale disparities).

        Raises:
            ShapeError: when ``x`` is not (B, 3, H, W) or H, W are not multiples of 32.
        """
        if x.dim() != 4 or x.shape[1] != 3:
            msg = f"UNet expects (B, 3, H, W) normalised RGB, got {tuple(x.shape)}"
            raise ShapeError(msg)
        height, width = x.shape[-2], x.shape[-1]  # no int(): keeps torch.export's symbolic sizes symbolic
        if height % INPUT_MULTIPLE != 0 or width % INPUT_MULTIPLE != 0:
            msg = (
                f"UNet input {height}x{width} (HxW) is not a multiple of {INPUT_MULTIPLE}; resize it with the "
                f"spec's InputPolicy (multiple_of={INPUT_MULTIPLE})"
            )
            raise ShapeError(msg)
        decoded = self.decoder(self.encoder(x))  # levels 4..0
        disparities = tuple(torch.sigmoid(self.heads[scale](decoded[4 - scale])) for scale in range(NUM_SCALES))
        _, depth = disp_to_depth(disparities[0], self.min_depth_m, self.max_depth_m)
        return UNetOutput(depth=depth, disparities=disparities)


def build_unet(spec: ModelSpec) -> UNet:
    """Build an untrained :class:`UNet` from a spec (``architecture == "unet"``).

    Raises:
        ConfigError: bad ``spec.params`` or an input policy whose sizes are not multiples of 32.
    """
    if spec.input.multiple_of % INPUT_MULTIPLE:
        msg = f"unet needs spec.input.multiple_of to be a multiple of {INPUT_MULTIPLE}, got {spec.input.multiple_of}"
        raise ConfigError(msg)
    if not spec.input.keep_aspect and (spec.input.height % INPUT_MULTIPLE or spec.input.width % INPUT_MULTIPLE):
        msg = (
            f"unet needs a fixed input size that is a multiple of {INPUT_MULTIPLE}, got "
            f"{spec.input.height}x{spec.input.width} (HxW) in spec.input"
        )
        raise ConfigError(msg)
    return UNet(UNetConfig.from_params(spec.params), spec.min_depth_m, spec.max_depth_m)


def make_unet_spec(
    encoder: str = "resnet18",
    width: str = "tiny",
    *,
    output_kind: OutputKind = OutputKind.DEPTH_UP_TO_SCALE,
    input_policy: InputPolicy | None = None,
    min_depth_m: float = 0.1,
    max_depth_m: float = 100.0,
    **options: Any,
) -> ModelSpec:
    """A :class:`ModelSpec` for the unet with every parameter written out (preset resolved).

    Args:
        encoder: ``resnet18`` | ``resnet34`` | ``resnet50``.
        width: ``tiny`` | ``small`` | ``base``.
        output_kind: what the trained network will output.
        input_policy: resize policy (default: 192×640 fixed).
        min_depth_m, max_depth_m: output depth range.
        **options: further unet params (``aspp``, ``difference``, ``pixel_shuffle``, ``preact``, widths).

    Raises:
        ConfigError: unknown or malformed params.
    """
    config = UNetConfig.from_params({"encoder": encoder, "width": width, **options})
    return ModelSpec(
        architecture="unet",
        params=config.to_params(),
        input=input_policy or InputPolicy(),
        output_kind=output_kind,
        min_depth_m=min_depth_m,
        max_depth_m=max_depth_m,
    )
