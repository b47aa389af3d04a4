"""Tests for models/hf_network.py: each family's forward pass in the project's contract (Depth Pro's metres, the
LiDAR prompt, ZoeDepth's reflect padding)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.frame_hints import FrameHints
from mono_depth_ros.models.hf_model import load_transformers_model

from .hf_tiny import TINY_IMAGE, open_tiny, write_tiny_family

pytest.importorskip("transformers")
CPU = torch.device("cpu")


def test_depth_pro_metres_follow_the_camera_focal_length(tmp_path: Path) -> None:
    estimator = open_tiny(write_tiny_family("depth_pro", tmp_path / "dp"))
    assert estimator.frame_inputs == frozenset({"focal_ratio"}) and estimator.network_hw((120, 200)) == (256, 256)
    near = estimator.predict(TINY_IMAGE, hints=FrameHints((100.0, 100.0))).values
    far = estimator.predict(TINY_IMAGE, hints=FrameHints((200.0, 200.0))).values
    both = np.isfinite(near) & np.isfinite(far) & (near > 1e-3) & (near < 1e3)
    assert both.any()
    np.testing.assert_allclose(far[both], 2 * near[both], rtol=1e-4)  # depth = (fx / W) / canonical inverse depth
    assert np.isfinite(estimator.predict(TINY_IMAGE).values).any()  # no camera: its field-of-view head


def test_prompt_depth_anything_without_a_scan_is_depth_up_to_scale_and_shift(tmp_path: Path) -> None:
    """transformers' PromptDepthAnythingForDepthEstimation predicts the depth normalised by the prompt's range,
    (depth - min) / (max - min), and maps it back with the prompt's min and max; unprompted that map is missing, so
    the output is depth up to scale *and* shift (affine_depth). As depth_up_to_scale its shift was dropped."""
    estimator = open_tiny(write_tiny_family("prompt_depth_anything", tmp_path / "pda"))
    sparse = np.full((60, 100), np.nan, dtype=np.float32)
    sparse[30::6, ::4] = np.linspace(4.0, 30.0, sparse[30::6, ::4].size).reshape(sparse[30::6, ::4].shape)
    prompted = estimator.predict(TINY_IMAGE, hints=FrameHints((150.0, 150.0), sparse))
    assert prompted.output_kind is OutputKind.METRIC
    assert np.nanmin(prompted.values) >= 4.0 and np.nanmax(prompted.values) <= 30.0  # the prompt's metric range
    unprompted = estimator.predict(TINY_IMAGE, hints=FrameHints((150.0, 150.0)))
    assert unprompted.output_kind is OutputKind.AFFINE_DEPTH


def test_zoedepth_padding_keeps_the_network_size(tmp_path: Path) -> None:
    backend, spec = load_transformers_model(write_tiny_family("zoedepth", tmp_path / "zoe"), CPU)
    assert spec.output_kind is OutputKind.METRIC and spec.input.reflect_pad  # the engine pads, as the processor
    assert not backend.module.network.reflect_pad  # not the network a second time
    assert backend.infer(torch.zeros(1, 3, 64, 224)).shape == (1, 1, 64, 224)
    backend.module.network.reflect_pad = True  # a spec written before the engine padded
    assert backend.infer(torch.zeros(1, 3, 64, 224)).shape == (1, 1, 64, 224)


@pytest.mark.parametrize("network_hw", [(64, 224), (32, 224), (224, 64)])  # KITTI, a 8:1 camera, portrait
def test_zoedepth_padding_keeps_the_image_aspect(tmp_path: Path, network_hw: tuple[int, int]) -> None:
    """The image shrinks by one factor inside its reflect padding (as ZoeDepthImageProcessor pads, then resizes
    keeping aspect): the sqrt(side) padding of each side stretched KITTI's image 45 % wider at 64x224, and left a
    32-row input 8 rows, fewer than the 12-row padding (a wide camera failed on its first frame). (The network's
    own padding: specs written before the engine padded as the processor does.)"""
    backend, _ = load_transformers_model(write_tiny_family("zoedepth", tmp_path / "zoe"), CPU)
    backend.module.network.reflect_pad = True
    height, width = network_hw
    x = torch.zeros(1, 3, height, width)
    x[:, 0] = torch.arange(width, dtype=torch.float32)  # a column ramp: its extremes are the content's side edges
    x[:, 1] = torch.arange(height, dtype=torch.float32)[:, None]  # a row ramp: top and bottom edges
    seen: list[torch.Tensor] = []
    backend.module.network.model.register_forward_pre_hook(
        lambda _, args, kwargs: seen.append(kwargs["pixel_values"]), with_kwargs=True
    )
    assert backend.infer(x).shape == (1, 1, height, width)
    padded = seen[0][0]
    assert padded.shape[-2:] == (height, width)
    cols = padded[0].max(dim=0).values
    rows = padded[1].max(dim=1).values
    content_w = int(cols.argmax()) - int(cols.argmin()) + 1
    content_h = int(rows.argmax()) - int(rows.argmin()) + 1
    assert 0.5 * width < content_w < width and 0.5 * height < content_h < height
    assert content_w / content_h == pytest.approx(width / height, rel=0.05)
