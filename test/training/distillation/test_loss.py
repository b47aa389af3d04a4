"""Tests for training/distill_loss.py: targets, normalisation, regional SSI, feature alignment, perturbation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.distillation.config import DistillLossConfig
from mono_depth_ros.training.distillation.loss import (
    ProjectionHead,
    feature_alignment_loss,
    inverse_target,
    normalise_per_image,
    normalised_target,
    perturb_batch,
    regional_ssi_loss,
)
from test.training.distill_support import one_thread


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


QUIET = DistillLossConfig(
    cutmix_probability=0.0, flip_probability=0.0, jitter_probability=0.0, noise_std=0.0
)  # no perturbation at all


def _batch(size: int = 4, height: int = 16, width: int = 24, channels: int = 3) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    label = torch.rand(size, 1, height, width, generator=generator) * 20 + 1
    label[:, :, 0, 0] = float("nan")
    return {
        "rgb": torch.rand(size, 3, height, width, generator=generator),
        "label": label,
        "lidar_depth": torch.where(label > 15, label, torch.full_like(label, float("nan"))),
        "k": torch.eye(3).expand(size, 3, 3).clone(),
        "features": torch.rand(size, channels, 2, 3, generator=generator),
    }


def test_inverse_target_per_kind() -> None:
    label = torch.tensor([[[[2.0, 0.0, float("nan"), -1.0]]]])
    target, mask = inverse_target(label, OutputKind.METRIC)
    assert mask.tolist() == [[[[True, False, False, False]]]] and target[0, 0, 0, 0] == 0.5
    target, mask = inverse_target(label, OutputKind.RELATIVE_INVERSE)  # disparities: any finite value
    assert mask.tolist() == [[[[True, True, False, True]]]] and target[0, 0, 0, 3] == -1.0
    assert float(target[0, 0, 0, 2]) == 0.0


def test_per_image_normalisation() -> None:
    batch = _batch()
    target, mask = inverse_target(batch["label"], OutputKind.METRIC)
    normalised = normalise_per_image(target * torch.tensor([1.0, 10.0, 0.1, 3.0]).view(-1, 1, 1, 1) + 5, mask)
    for i in range(4):
        values = normalised[i][mask[i]]
        assert float(values.median()) == pytest.approx(0.0, abs=1e-5)
        assert float(values.abs().mean()) == pytest.approx(1.0, rel=1e-4)
        assert float(normalised[i][~mask[i]].abs().sum()) == 0.0


def _midas_normalize_prediction_robust(target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """normalize_prediction_robust of the MiDaS v3 trimmed loss (the MiDaS authors' gist,
    https://gist.github.com/ranftlr/1d6194db2e1dffa0a50c9b0a9549cbd2): (B, H, W); shift = torch.median over the
    mask, scale = mean |target - shift| over the mask."""
    flat, keep = target.flatten(start_dim=1), mask.flatten(start_dim=1)
    shift = torch.zeros((flat.shape[0], 1), dtype=flat.dtype)
    for i, (t, m) in enumerate(zip(flat, keep, strict=True)):
        shift[i] = torch.median(t[m])
    scale = ((flat - shift).abs() * keep).sum(dim=1) / keep.sum(dim=1)
    return ((flat - shift) / scale.unsqueeze(1)).reshape(target.shape)


def test_per_image_normalisation_is_midas_robust_normalisation_on_real_kitti(kitti_depth_dir: Path) -> None:
    """Real annotated KITTI depth (sparse mask, even and odd valid counts) made an inverse-depth target: the same
    median / mean-absolute-deviation normalisation as MiDaS v3 (lower median for an even count, as torch.median)."""
    from mono_depth_ros.training.data.kitti_files import load_depth_png

    files = sorted((kitti_depth_dir / "depth").glob("*.png"))[:3]
    depth = torch.stack([torch.from_numpy(load_depth_png(f)[150:340:2, 200:900:2].copy()) for f in files])[:, None]
    target, mask = inverse_target(depth.double(), OutputKind.METRIC)
    ours = normalise_per_image(target, mask)
    reference = _midas_normalize_prediction_robust(target[:, 0], mask[:, 0])[:, None]
    assert int(mask.sum()) > 5000
    torch.testing.assert_close(ours[mask], reference[mask], rtol=1e-9, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(scale=st.floats(0.1, 10.0), shift=st.floats(-2.0, 2.0), other=st.floats(0.1, 10.0))
def test_ssi_is_zero_for_affine_images_and_regions(scale: float, shift: float, other: float) -> None:
    target = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mask = torch.ones_like(target, dtype=torch.bool)
    pred = scale * target + shift
    assert float(regional_ssi_loss(pred, target, mask, None, 0.5, 3)) == pytest.approx(0.0, abs=1e-6)
    region = torch.zeros_like(mask)
    region[..., 4:12, 4:12] = True
    two_scenes = torch.where(region, other * target - 1.0, pred)  # another affine map inside the box
    assert float(regional_ssi_loss(two_scenes, target, mask, region, 0.5, 3)) == pytest.approx(0.0, abs=1e-6)
    if abs(other - scale) > 0.5:
        assert float(regional_ssi_loss(two_scenes, target, mask, None, 0.5, 3)) > 1e-4


def test_feature_alignment() -> None:
    teacher = torch.randn(2, 8, 3, 5)
    assert float(feature_alignment_loss(teacher, teacher, margin=1.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(feature_alignment_loss(-teacher, teacher, margin=1.0)) == pytest.approx(2.0, abs=1e-5)
    assert float(feature_alignment_loss(teacher.clone(), teacher, margin=0.85)) == 0.0  # all above the margin
    coarse = torch.randn(2, 8, 1, 2, requires_grad=True)  # resized to the teacher grid
    loss = feature_alignment_loss(coarse, teacher, margin=0.85)
    loss.backward()  # type: ignore[no-untyped-call]
    assert coarse.grad is not None and float(coarse.grad.abs().sum()) > 0
    assert ProjectionHead(4, 8)(torch.zeros(1, 4, 2, 2)).shape == (1, 8, 2, 2)


def test_no_perturbation_is_the_identity() -> None:
    batch = _batch()
    out = perturb_batch(batch, QUIET, torch.Generator().manual_seed(0))
    assert out.region is None
    for name in ("rgb", "label", "lidar_depth", "features"):
        torch.testing.assert_close(getattr(out, name), batch[name], equal_nan=True)


def test_flip_moves_image_labels_and_features_together() -> None:
    batch = _batch()
    config = DistillLossConfig(cutmix_probability=0.0, flip_probability=1.0, jitter_probability=0.0, noise_std=0.0)
    out = perturb_batch(batch, config, torch.Generator().manual_seed(0))
    for name in ("rgb", "label", "lidar_depth", "features"):
        torch.testing.assert_close(getattr(out, name), batch[name].flip(-1), equal_nan=True)


def test_cutmix_pastes_one_box_into_everything() -> None:
    batch = _batch()
    config = DistillLossConfig(cutmix_probability=1.0, flip_probability=0.0, jitter_probability=0.0, noise_std=0.0)
    out = perturb_batch(batch, config, torch.Generator().manual_seed(3))
    assert out.region is not None and bool(out.region.any()) and not bool(out.region.all())
    inside = out.region.expand_as(out.rgb)
    changed = (out.rgb != batch["rgb"]).any(1, keepdim=True)
    assert bool((changed <= out.region).all())  # only the box changed
    moved_label = torch.isclose(out.label, batch["label"], equal_nan=True)
    assert bool(((~moved_label) <= out.region).all())
    assert bool(inside.any())


def test_jitter_and_noise_touch_the_image_only_and_repeat_with_the_seed() -> None:
    batch = _batch()
    config = DistillLossConfig(cutmix_probability=0.0, flip_probability=0.0, jitter_probability=1.0, noise_std=0.05)
    first = perturb_batch(batch, config, torch.Generator().manual_seed(5))
    second = perturb_batch(batch, config, torch.Generator().manual_seed(5))
    torch.testing.assert_close(first.rgb, second.rgb)
    assert float((first.rgb - batch["rgb"]).abs().mean()) > 0.01
    assert float(first.rgb.min()) >= 0.0 and float(first.rgb.max()) <= 1.0
    torch.testing.assert_close(first.label, batch["label"], equal_nan=True)


def test_cutmix_of_labels_with_invalid_pixels_keeps_each_frames_normalisation_and_validity() -> None:
    """Depth labels with invalid pixels (0, negative, NaN, +Inf: a teacher's sky, a crop's border) normalised per
    frame before CutMix: the box carries its frame's validity (NaN where that frame was invalid) and its frame's
    normalisation over its own valid pixels only; the loss is the same whatever the partner frame's unit."""
    batch = _batch(size=2, height=24, width=32)
    label = batch["label"]
    label[0, :, :6] = 0.0  # a band of frame 0 invalid
    label[1, :, :, -8:] = float("inf")  # and a band of frame 1
    label[1, :, 5, 5], label[0, :, 20, 7] = -3.0, float("nan")
    config = DistillLossConfig(cutmix_probability=1.0, flip_probability=0.0, jitter_probability=0.0, noise_std=0.0)
    normalised = normalised_target(label, OutputKind.METRIC)
    target, valid = inverse_target(label, OutputKind.METRIC)
    expected = torch.where(valid, normalise_per_image(target, valid), torch.nan)
    torch.testing.assert_close(normalised, expected, equal_nan=True)
    out = perturb_batch({**batch, "label": normalised}, config, torch.Generator().manual_seed(3))
    assert out.region is not None and bool(out.region.any())
    partner = torch.tensor([1, 0])
    torch.testing.assert_close(out.label, torch.where(out.region, expected[partner], expected), equal_nan=True)
    losses = []
    for unit in (1.0, 10.0):
        scaled = normalised_target(label * torch.tensor([1.0, unit]).view(-1, 1, 1, 1), OutputKind.METRIC)
        mixed = perturb_batch({**batch, "label": scaled}, config, torch.Generator().manual_seed(3)).label
        mask = torch.isfinite(mixed)
        pred = torch.rand(2, 1, 24, 32, generator=torch.Generator().manual_seed(1))
        losses.append(float(regional_ssi_loss(pred, mixed.nan_to_num(0.0), mask, out.region, 0.5, 2)))
    assert bool(torch.isfinite(torch.tensor(losses)).all()) and losses[0] > 0
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
