"""ResNet-18/34/50 feature encoders (no torchvision), returning 5 feature levels at strides 2, 4, 8, 16, 32.

Parameter names follow torchvision's ``resnet18/34/50`` (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layer2.0.downsample.0``) without the classifier (``fc``), so ImageNet weights can be mapped by name later when
``base_width`` is 64 and ``preact`` is False. ``base_width`` scales every stage (64 -> torchvision sizes) so a tiny
encoder is possible. ``preact=True`` builds the pre-activation variant (He et al. 2016, "Identity mappings"): the
stem is unchanged, each block computes BN-ReLU-conv and ends in a bare sum, and a final ``post_bn`` + ReLU
normalises the deepest feature; its BN shapes differ from torchvision's, so it starts from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from mono_depth_ros.core.errors import ConfigError, ShapeError

EncoderName = Literal["resnet18", "resnet34", "resnet50"]


@dataclass(frozen=True)
class ResNetLayout:
    """Blocks per stage and block type of one ResNet depth."""

    blocks: tuple[int, int, int, int]
    bottleneck: bool


RESNET_LAYOUTS: dict[str, ResNetLayout] = {
    "resnet18": ResNetLayout((2, 2, 2, 2), bottleneck=False),
    "resnet34": ResNetLayout((3, 4, 6, 3), bottleneck=False),
    "resnet50": ResNetLayout((3, 4, 6, 3), bottleneck=True),
}
FEATURE_STRIDES: tuple[int, ...] = (2, 4, 8, 16, 32)


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with an identity (or 1×1 projection) shortcut; torchvision names."""

    expansion = 1

    def __init__(self, in_ch: int, width: int, stride: int = 1, preact: bool = False) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.preact = preact
        self.conv1 = _conv3x3(in_ch, width, stride)
        self.bn1 = nn.BatchNorm2d(in_ch if preact else width)
        self.conv2 = _conv3x3(width, out_ch)
        self.bn2 = nn.BatchNorm2d(width if preact else out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_ch, out_ch, stride, preact)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, C_out, H / stride, W / stride)."""
        if self.preact:
            pre = self.relu(self.bn1(x))
            identity: Tensor = x if self.downsample is None else self.downsample(pre)
            out: Tensor = self.conv1(pre)
            out = self.conv2(self.relu(self.bn2(out)))
            return out + identity
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn1(self.conv1(x)).relu()
        out = self.bn2(self.conv2(out))
        return torch.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 reduce, 3×3 (stride here, as torchvision v1.5), 1×1 expand ×4; torchvision names."""

    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int = 1, preact: bool = False) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.preact = preact
        self.conv1 = _conv1x1(in_ch, width)
        self.bn1 = nn.BatchNorm2d(in_ch if preact else width)
        self.conv2 = _conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, out_ch)
        self.bn3 = nn.BatchNorm2d(width if preact else out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_ch, out_ch, stride, preact)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C_in, H, W) -> (B, 4·width, H / stride, W / stride)."""
        if self.preact:
            pre = self.relu(self.bn1(x))
            identity: Tensor = x if self.downsample is None else self.downsample(pre)
            out: Tensor = self.conv1(pre)
            out = self.conv2(self.relu(self.bn2(out)))
            out = self.conv3(self.relu(self.bn3(out)))
            return out + identity
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn1(self.conv1(x)).relu()
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + identity)


def _shortcut(in_ch: int, out_ch: int, stride: int, preact: bool) -> nn.Sequential | None:
    if stride == 1 and in_ch == out_ch:
        return None
    if preact:  # the input is already normalised by the block's bn1
        return nn.Sequential(_conv1x1(in_ch, out_ch, stride))
    return nn.Sequential(_conv1x1(in_ch, out_ch, stride), nn.BatchNorm2d(out_ch))


class ResNetEncoder(nn.Module):
    """ResNet trunk returning 5 feature maps.

    Args:
        name: ``resnet18`` | ``resnet34`` | ``resnet50``.
        base_width: channels of the stem and of the first stage (64 = torchvision); stages use 1, 2, 4, 8 × it.
        preact: pre-activation blocks (names no longer match torchvision weights).

    Attributes:
        channels: channels of the 5 levels, e.g. (64, 64, 128, 256, 512) for resnet18 at width 64.
        strides: (2, 4, 8, 16, 32).
    """

    def __init__(self, name: str = "resnet18", base_width: int = 64, preact: bool = False) -> None:
        super().__init__()
        if name not in RESNET_LAYOUTS:
            msg = f"unknown encoder {name!r}; expected one of {sorted(RESNET_LAYOUTS)}"
            raise ConfigError(msg)
        if base_width < 4 or base_width % 4:
            msg = f"encoder base_width must be a positive multiple of 4, got {base_width}"
            raise ConfigError(msg)
        layout = RESNET_LAYOUTS[name]
        block: type[BasicBlock] | type[Bottleneck] = Bottleneck if layout.bottleneck else BasicBlock
        self.name = name
        self.preact = preact
        self.conv1 = nn.Conv2d(3, base_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_ch = base_width
        stages: list[nn.Sequential] = []
        for index, num_blocks in enumerate(layout.blocks):
            width = base_width * 2**index
            stride = 1 if index == 0 else 2
            blocks: list[nn.Module] = []
            for block_index in range(num_blocks):
                blocks.append(block(in_ch, width, stride if block_index == 0 else 1, preact))
                in_ch = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.post_bn: nn.Module = nn.BatchNorm2d(in_ch) if preact else nn.Identity()
        self.channels: tuple[int, ...] = (base_width, *(base_width * 2**i * block.expansion for i in range(4)))
        self.strides = FEATURE_STRIDES
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> list[Tensor]:
        """Extract features.

        Args:
            x: (B, 3, H, W) float, normalised RGB; H and W multiples of 32 for exact strides.

        Returns:
            5 tensors (B, channels[i], H / strides[i], W / strides[i]) (sizes rounded up when not divisible).
        """
        if x.dim() != 4 or x.shape[1] != 3:
            msg = f"ResNet encoder expects (B, 3, H, W), got {tuple(x.shape)}"
            raise ShapeError(msg)
        f0 = self.relu(self.bn1(self.conv1(x)))
        f1 = self.layer1(self.maxpool(f0))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        f4 = self.layer4(f3)
        if self.preact:  # blocks end in a bare sum: normalise and activate the deepest feature once
            f4 = torch.relu(self.post_bn(f4))
        return [f0, f1, f2, f3, f4]
