"""Shared by the demo tests: a tiny random checkpoint (the shipped model's stand-in)."""

from __future__ import annotations

from pathlib import Path

import torch

from mono_depth_ros.models.checkpoint import save_checkpoint
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.spec import InputPolicy
from mono_depth_ros.models.unet import make_unet_spec


def write_tiny_checkpoint(path: Path) -> Path:
    """A ~20 k parameter unet with random weights at a 64x96 input (milliseconds per frame)."""
    spec = make_unet_spec(
        "resnet18", "tiny", encoder_width=8, decoder_channels=[4, 4, 8, 8, 16], input_policy=InputPolicy(64, 96)
    )
    torch.manual_seed(0)
    return save_checkpoint(path, build_model(spec).state_dict(), spec)
