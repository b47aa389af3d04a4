"""Tests for models/resnet.py: feature strides and channels, torchvision names and sizes, pre-activation variant."""

from __future__ import annotations

import pytest
import torch

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.models.resnet import FEATURE_STRIDES, ResNetEncoder

# torchvision resnet{18,34,50}: parameter count and state-dict size without the classifier (fc.weight, fc.bias).
TORCHVISION_SIZES = {
    "resnet18": (11_689_512 - 513_000, 122 - 2),
    "resnet34": (21_797_672 - 513_000, 218 - 2),
    "resnet50": (25_557_032 - 2_049_000, 320 - 2),
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_SIZES))
def test_matches_torchvision_sizes_and_names(name: str) -> None:
    with torch.device("meta"):
        encoder = ResNetEncoder(name)
    params, state_entries = TORCHVISION_SIZES[name]
    assert sum(p.numel() for p in encoder.parameters()) == params
    state = encoder.state_dict()
    assert len(state) == state_entries
    for key in ("conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer4.1.bn2.bias"):
        assert key in state
    assert "layer2.0.downsample.0.weight" in state
    assert "layer2.0.downsample.1.running_mean" in state
    assert not any(k.startswith("fc.") for k in state)
    assert ("layer1.0.conv3.weight" in state) == (name == "resnet50")
    expansion = 4 if name == "resnet50" else 1
    kernel = 1 if expansion == 4 else 3
    assert tuple(state["layer3.0.conv1.weight"].shape) == (256, 128 * expansion, kernel, kernel)
    assert encoder.channels == (64, 64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
@pytest.mark.parametrize("preact", [False, True])
def test_five_levels_at_strides_2_to_32(name: str, preact: bool) -> None:
    encoder = ResNetEncoder(name, base_width=8, preact=preact).eval()
    height, width = 64, 96
    with torch.no_grad():
        features = encoder(torch.randn(2, 3, height, width))
    assert encoder.strides == FEATURE_STRIDES == (2, 4, 8, 16, 32)
    assert len(features) == 5
    for feature, stride, channels in zip(features, encoder.strides, encoder.channels, strict=True):
        assert feature.shape == (2, channels, height // stride, width // stride)
        assert torch.isfinite(feature).all()


def test_sizes_round_up_when_not_divisible() -> None:
    encoder = ResNetEncoder("resnet18", base_width=8).eval()
    with torch.no_grad():
        features = encoder(torch.randn(1, 3, 50, 70))
    assert [tuple(f.shape[-2:]) for f in features] == [(25, 35), (13, 18), (7, 9), (4, 5), (2, 3)]


def test_base_width_scales_every_stage() -> None:
    encoder = ResNetEncoder("resnet50", base_width=16)
    assert encoder.channels == (16, 64, 128, 256, 512)
    assert encoder.state_dict()["layer1.0.conv1.weight"].shape == (16, 16, 1, 1)


def test_preact_variant_has_preactivation_layout() -> None:
    plain = ResNetEncoder("resnet18", base_width=8).state_dict()
    preact = ResNetEncoder("resnet18", base_width=8, preact=True).state_dict()
    assert "post_bn.running_mean" in preact and "post_bn.running_mean" not in plain
    # bn1 normalises the block's input (C_in) instead of conv1's output; the shortcut has no BN.
    assert preact["layer2.0.bn1.weight"].shape == (8,)
    assert plain["layer2.0.bn1.weight"].shape == (16,)
    assert "layer2.0.downsample.1.weight" not in preact


def test_gradients_reach_the_stem() -> None:
    encoder = ResNetEncoder("resnet18", base_width=8, preact=True)
    features = encoder(torch.randn(2, 3, 64, 64))
    sum(f.mean() for f in features).backward()  # type: ignore[union-attr]
    assert encoder.conv1.weight.grad is not None
    assert encoder.conv1.weight.grad.abs().sum() > 0


def test_errors() -> None:
    with pytest.raises(ConfigError, match="unknown encoder 'resnet101'"):
        ResNetEncoder("resnet101")
    with pytest.raises(ConfigError, match="multiple of 4, got 6"):
        ResNetEncoder("resnet18", base_width=6)
    with pytest.raises(ShapeError, match=r"expects \(B, 3, H, W\), got \(1, 1, 64, 64\)"):
        ResNetEncoder("resnet18", base_width=8)(torch.zeros(1, 1, 64, 64))
