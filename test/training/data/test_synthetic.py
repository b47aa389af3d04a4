"""Tests for training/synthetic_data.py: rendered drives, item layout, true relative poses, flip / jitter
augmentation (deterministic per seed, epoch and index) and the LiDAR depth image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.synthetic import (
    Augmentation,
    ClipSpec,
    SyntheticClip,
    SyntheticDepthDataset,
    colour_jitter,
    render_clip,
)
from mono_depth_ros.training.objectives.selfsup import warp_to_target


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> SyntheticClip:
    return render_clip(
        ClipSpec(seed=7, n_frames=4, width=128, height=64, beams=32, stereo_baseline_m=0.4),
        tmp_path_factory.mktemp("clips"),
    )


def test_clip_arrays(clip: SyntheticClip) -> None:
    assert clip.rgb.shape == (4, 64, 128, 3) and clip.rgb.dtype == np.uint8
    assert clip.depth_m.shape == (4, 64, 128) and clip.depth_m.dtype == np.float32
    assert np.isposinf(clip.depth_m).any() and (clip.depth_m[np.isfinite(clip.depth_m)] > 0).all()  # sky = +inf
    assert clip.stereo_rgb is not None and clip.stereo_rgb.shape == clip.rgb.shape
    forward = np.linalg.norm(clip.world_from_cam[1, :3, 3] - clip.world_from_cam[0, :3, 3])
    assert forward == pytest.approx(0.8, abs=0.01)  # 8 m/s at 10 Hz
    with pytest.raises(ConfigError, match="n_frames"):
        ClipSpec(seed=0, n_frames=0)


def test_lidar_depth_agrees_with_exact_depth(clip: SyntheticClip) -> None:
    lidar, exact = clip.lidar_depth_m[1], clip.depth_m[1]
    hit = np.isfinite(lidar) & np.isfinite(exact)
    assert 50 < hit.sum() < 0.5 * lidar.size  # sparse rows, but plenty of them
    relative = np.abs(lidar[hit] - exact[hit]) / exact[hit]
    assert np.median(relative) < 0.03  # same surfaces (pixel rounding on slanted ground; parallax at edges)


def test_item_layout_and_true_poses(clip: SyntheticClip) -> None:
    dataset = SyntheticDepthDataset([clip], (-1, 1), use_stereo=True)
    assert len(dataset) == 2  # frames 1 and 2 have both neighbours
    item = dataset[0]
    assert item["rgb"].shape == (3, 64, 128) and 0 <= float(item["rgb"].min()) <= float(item["rgb"].max()) <= 1
    assert item["depth"].shape == item["lidar_depth"].shape == (1, 64, 128)
    assert item["sources"].shape == (3, 3, 64, 128) and item["source_from_target"].shape == (3, 4, 4)
    assert item["pose_known"].tolist() == [False, False, True]
    np.testing.assert_allclose(item["k"].numpy(), clip.intrinsics.matrix, rtol=1e-6)
    world_from_cam = clip.world_from_cam
    expected = np.linalg.inv(world_from_cam[0]) @ world_from_cam[1]  # previous frame <- target frame
    np.testing.assert_allclose(item["source_from_target"][0].numpy(), expected, atol=1e-5)
    assert float(item["source_from_target"][1, 2, 3]) < -0.7  # the next camera is ~0.8 m ahead: points come closer
    np.testing.assert_allclose(item["source_from_target"][2, :3, 3].numpy(), [-0.4, 0.0, 0.0], atol=1e-6)
    assert torch.isnan(item["depth"]).any() and not torch.isinf(item["depth"]).any()  # sky becomes NaN


def test_no_offsets_gives_every_frame(clip: SyntheticClip) -> None:
    dataset = SyntheticDepthDataset([clip])
    assert len(dataset) == 4 and dataset[3]["sources"].shape == (0, 3, 64, 128)


def test_flip_is_consistent_with_geometry(clip: SyntheticClip) -> None:
    plain = SyntheticDepthDataset([clip], (-1, 1), use_stereo=True)[0]
    flipped = SyntheticDepthDataset([clip], (-1, 1), True, Augmentation(flip_probability=1.0))[0]
    torch.testing.assert_close(flipped["rgb"], plain["rgb"].flip(-1))
    torch.testing.assert_close(flipped["depth"], plain["depth"].flip(-1), equal_nan=True)
    assert float(flipped["k"][0, 2]) == pytest.approx(127 - float(plain["k"][0, 2]))
    assert float(flipped["source_from_target"][2, 0, 3]) == pytest.approx(0.4)  # the right camera is now on the left
    # warping the flipped stereo partner with the flipped pose reproduces the flipped target as well as unflipped
    errors = []
    for item in (plain, flipped):
        depth = torch.nan_to_num(item["depth"], nan=1e4)[None]
        warp = warp_to_target(item["sources"][2][None], depth, item["k"][None], item["source_from_target"][2][None])
        errors.append(float((warp.image - item["rgb"][None]).abs().mean(1, keepdim=True)[warp.valid].median()))
    assert errors[1] == pytest.approx(errors[0], abs=2e-3) and errors[1] < 0.02


def test_augmentation_draws_depend_on_seed_epoch_index_only(clip: SyntheticClip) -> None:
    augmentation = Augmentation(flip_probability=0.5, brightness=0.3, contrast=0.3, saturation=0.3)
    a = SyntheticDepthDataset([clip], (-1, 1), augmentation=augmentation, seed=3)
    b = SyntheticDepthDataset([clip], (-1, 1), augmentation=augmentation, seed=3)
    torch.testing.assert_close(a[1]["rgb"], b[1]["rgb"])
    epochs = []
    for epoch in range(4):
        a.set_epoch(epoch)
        epochs.append(a[1]["rgb"])
    assert any(not torch.equal(epochs[0], other) for other in epochs[1:])
    plain = SyntheticDepthDataset([clip], (-1, 1))[1]
    jittered = a[1]
    if torch.equal(jittered["k"], plain["k"]):  # not flipped: the jitter is the same on target and sources
        ratio_target = jittered["rgb"].mean() / plain["rgb"].mean()
        ratio_source = jittered["sources"][0].mean() / plain["sources"][0].mean()
        assert float(ratio_target) == pytest.approx(float(ratio_source), rel=0.05)


def test_the_loss_frames_are_the_frames_before_the_jitter(clip: SyntheticClip) -> None:
    """monodepth2: the networks see the jittered frames, the photometric loss compares the frames without it."""
    jitter = Augmentation(brightness=0.3, contrast=0.3, saturation=0.3)
    item = SyntheticDepthDataset([clip], (-1, 1), augmentation=jitter, seed=3)[1]
    plain = SyntheticDepthDataset([clip], (-1, 1))[1]
    assert not torch.allclose(item["rgb"], plain["rgb"], atol=1e-3)
    torch.testing.assert_close(item["loss_rgb"], plain["rgb"])
    torch.testing.assert_close(item["loss_sources"], plain["sources"])
    assert "loss_rgb" not in SyntheticDepthDataset([clip], augmentation=jitter)[1]  # no sources: no photometric loss


def test_colour_jitter_identity_and_range() -> None:
    images = torch.rand(3, 3, 8, 8)
    torch.testing.assert_close(colour_jitter(images, 1.0, 1.0, 1.0), images)
    out = colour_jitter(images, 1.5, 2.0, 0.0)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    torch.testing.assert_close(out[:, 0], out[:, 1])  # saturation 0: grey


def test_dataset_errors(clip: SyntheticClip, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least one clip"):
        SyntheticDepthDataset([])
    small = render_clip(ClipSpec(seed=1, n_frames=2, width=64, height=32, beams=0), tmp_path)
    with pytest.raises(ConfigError, match="one image size"):
        SyntheticDepthDataset([clip, small])
    with pytest.raises(ConfigError, match="stereo"):
        SyntheticDepthDataset([small], use_stereo=True)
    with pytest.raises(ConfigError, match="neighbours"):
        SyntheticDepthDataset([small], (-2, 2))
    with pytest.raises(ConfigError, match="augmentation"):
        Augmentation(flip_probability=2.0)
