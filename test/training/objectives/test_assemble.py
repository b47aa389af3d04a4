"""Tests for training/objectives.py: each objective's value and gradients, the shared identity term, pose sources."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.unet import UNetOutput
from mono_depth_ros.training.data.kitti_files import load_rgb
from mono_depth_ros.training.objectives import losses
from mono_depth_ros.training.objectives.assemble import (
    Objective,
    downsample,
    min_reprojection,
    normalise,
    scale_depths,
    scale_intrinsics,
)
from mono_depth_ros.training.trainer.config import LossConfig

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _batch(sources: int = 2) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    depth = torch.full((2, 1, 32, 64), 10.0)
    lidar = torch.full_like(depth, float("nan"))
    lidar[:, :, ::4] = 10.0
    pose = torch.eye(4).expand(2, sources, 4, 4).clone()
    pose[..., 2, 3] = -0.5
    return {
        "rgb": torch.rand(2, 3, 32, 64),
        "depth": depth,
        "lidar_depth": lidar,
        "k": torch.tensor([[40.0, 0, 32], [0, 40.0, 16], [0, 0, 1]]).expand(2, 3, 3),
        "sources": torch.rand(2, sources, 3, 32, 64),
        "source_from_target": pose,
        "pose_known": torch.zeros(2, sources, dtype=torch.bool),
        "source_offset": torch.tensor([-1, 1])[:sources].expand(2, sources),
    }


def _output(disp: float = 0.3) -> UNetOutput:
    disparities = tuple(torch.full((2, 1, 32 // 2**s, 64 // 2**s), disp, requires_grad=True) for s in range(4))
    return UNetOutput(torch.ones(2, 1, 32, 64), disparities)


def test_scale_depths_upsample_every_scale() -> None:
    depths = scale_depths(_output(0.5), (32, 64), 1.0, 100.0)
    assert len(depths) == 4 and all(d.shape == (2, 1, 32, 64) for d in depths)
    torch.testing.assert_close(depths[3], torch.full((2, 1, 32, 64), 1 / (0.01 + 0.99 * 0.5)))


def test_supervised_value_and_gradient() -> None:
    objective = Objective(LossConfig(objective="supervised", supervised_loss="l1", scales=1), 1.0, 100.0, MEAN, STD)
    assert objective.pose_net is None
    output = _output(0.5)
    result = objective(output, _batch())
    expected = abs(1 / (0.01 + 0.99 * 0.5) - 10.0)
    assert float(result.total.detach()) == pytest.approx(expected, rel=1e-5)
    assert result.parts["depth"] == pytest.approx(expected, rel=1e-5)
    result.total.backward()
    assert output.disparities[0].grad is not None and output.disparities[1].grad is None  # scales=1


@pytest.mark.parametrize("name", ["silog", "l2", "inverse_l2", "berhu", "densedepth"])
def test_every_supervised_loss_is_selectable_and_matches_the_losses_module(name: str) -> None:
    focus = {"silog_lambda": 0.5} if name == "silog" else {}  # read by silog alone (refused for the others)
    config = LossConfig(objective="supervised", supervised_loss=name, scales=1, **focus)
    result = Objective(config, 1.0, 100.0, MEAN, STD)(_output(0.5), _batch())
    batch = _batch()
    depth = torch.full((2, 1, 32, 64), 1 / (0.01 + 0.99 * 0.5))
    mask = losses.valid_depth_mask(batch["depth"])
    expected = {
        "silog": lambda: losses.silog_loss(depth, batch["depth"], mask, variance_focus=0.5),
        "l2": lambda: losses.l2_loss(depth, batch["depth"], mask),
        "inverse_l2": lambda: losses.inverse_depth_weighted_l2(depth, batch["depth"], mask),
        "berhu": lambda: losses.berhu_loss(depth, batch["depth"], mask),
        "densedepth": lambda: losses.densedepth_loss(depth, batch["depth"], mask, max_depth=100.0),
    }[name]()
    assert float(result.total.detach()) == pytest.approx(float(expected), rel=1e-5)
    with_gradients = LossConfig(objective="supervised", supervised_loss="l1", scales=1, gradient_weight=0.5)
    step = torch.where(torch.arange(64) < 32, 1.0, 0.0).expand(2, 1, 32, 64)  # an edge the target lacks
    output = UNetOutput(torch.ones(2, 1, 32, 64), (torch.full((2, 1, 32, 64), 0.5) + 0.1 * step,))
    plain = Objective(LossConfig(objective="supervised", supervised_loss="l1", scales=1), 1.0, 100.0, MEAN, STD)
    sharpened = Objective(with_gradients, 1.0, 100.0, MEAN, STD)(output, batch).total
    assert float(sharpened) > float(plain(output, batch).total)
    with pytest.raises(ConfigError, match="silog_lambda"):
        LossConfig(silog_lambda=1.5)


@pytest.mark.parametrize("resolution", ["full", "pyramid"])
@pytest.mark.parametrize("objective_name", ["selfsup", "lidar_semi"])
def test_selfsup_parts_and_pose_network(objective_name: str, resolution: str) -> None:
    config = LossConfig(objective=objective_name, scales=2, pose_width=4, photometric_resolution=resolution)
    objective = Objective(config, 1.0, 100.0, MEAN, STD)
    assert objective.pose_net is not None
    result = objective(_output(), _batch())
    expected_parts = {"photometric", "smoothness"} | ({"lidar"} if objective_name == "lidar_semi" else set())
    assert set(result.parts) == expected_parts and all(v >= 0 for v in result.parts.values())
    result.total.backward()
    assert all(p.grad is not None for p in objective.pose_net.parameters())
    no_pose = Objective(LossConfig(objective=objective_name, pose_source="ground_truth"), 1.0, 100.0, MEAN, STD)
    assert no_pose.pose_net is None


def test_known_poses_skip_the_pose_network() -> None:
    objective = Objective(LossConfig(objective="selfsup", pose_width=4), 1.0, 100.0, MEAN, STD)
    batch = _batch()
    batch["pose_known"][:, 1] = True
    poses = objective.source_poses(batch)
    assert torch.equal(poses[1], batch["source_from_target"][:, 1]) and not torch.equal(poses[0], poses[1])
    stereo_only = Objective(LossConfig(objective="selfsup"), 1.0, 100.0, MEAN, STD, temporal_sources=False)
    assert stereo_only.pose_net is None


def test_ground_truth_poses_that_the_data_does_not_know_are_a_config_error() -> None:
    """``pose_source: ground_truth`` on frames whose temporal poses are unknown (NaN: every recorded kind) gave a
    finite loss but NaN gradients, and the run stopped at its first checkpoint as 'diverged: lower optim.lr'."""
    objective = Objective(LossConfig(objective="selfsup", pose_source="ground_truth"), 1.0, 100.0, MEAN, STD)
    batch = _batch()
    batch["source_from_target"][:, 0] = float("nan")  # the previous frame's pose unknown, as recorded data has it
    with pytest.raises(ConfigError, match="pose_source=predicted"):
        objective(_output(), batch)
    batch["source_from_target"][:, 0] = batch["source_from_target"][:, 1]  # known: the loss and its gradient
    output = _output()
    objective(output, batch).total.backward()
    assert all(d.grad is not None and torch.isfinite(d.grad).all() for d in output.disparities)


def test_the_photometric_loss_compares_the_frames_before_colour_augmentation(kitti_depth_dir: Path) -> None:
    """monodepth2 (trainer.py: the networks get ``color_aug``, ``compute_losses`` compares ``color``): the batch's
    ``loss_rgb`` / ``loss_sources`` are what the loss compares. A real KITTI frame seen twice by a camera at rest,
    with independent noise on the networks' copies (``data.noise_std``): the loss of the true (identity) warp is 0,
    where the noisy copies gave 0.09 and put the minimum a quarter pixel off the true motion."""
    rgb = torch.from_numpy(load_rgb(sorted((kitti_depth_dir / "rgb").glob("*.png"))[0]).copy())
    clean = F.interpolate(rgb.permute(2, 0, 1)[None].float() / 255.0, size=(32, 64), mode="area").expand(2, 3, 32, 64)
    generator = torch.Generator().manual_seed(0)
    noisy = [(clean + 0.05 * torch.randn(clean.shape, generator=generator)).clamp(0, 1) for _ in range(3)]
    batch = _batch()
    batch |= {
        "rgb": noisy[0],
        "sources": torch.stack(noisy[1:], dim=1),
        "pose_known": torch.ones(2, 2, dtype=torch.bool),
    }
    batch["source_from_target"] = torch.eye(4).expand(2, 2, 4, 4).clone()
    batch |= {"loss_rgb": clean.clone(), "loss_sources": torch.stack([clean, clean], dim=1)}
    objective = Objective(LossConfig(objective="selfsup", scales=1, automask=False), 1.0, 100.0, MEAN, STD)
    assert objective(_output(), batch).parts["photometric"] < 1e-4
    del batch["loss_rgb"], batch["loss_sources"]  # without them: the networks' frames
    assert objective(_output(), batch).parts["photometric"] > 0.05


def test_min_reprojection_matches_the_losses_module() -> None:
    torch.manual_seed(1)
    target, warped, sources = torch.rand(1, 3, 16, 16), [torch.rand(1, 3, 16, 16)], [torch.rand(1, 3, 16, 16)]
    identity = torch.cat([losses.photometric_error(s, target) for s in sources], dim=1)
    torch.manual_seed(2)
    ours = min_reprojection(warped, target, identity)
    torch.manual_seed(2)
    reference, _ = losses.min_reprojection_loss(warped, target, sources, automask=True)
    torch.testing.assert_close(ours, reference)
    plain, _ = losses.min_reprojection_loss(warped, target, None, automask=False)
    torch.testing.assert_close(min_reprojection(warped, target, None), plain)


def test_selfsup_without_sources_is_a_config_error() -> None:
    objective = Objective(LossConfig(objective="selfsup", pose_width=4), 1.0, 100.0, MEAN, STD)
    with pytest.raises(ConfigError, match="source frames"):
        objective(_output(), _batch(sources=0))


def test_pyramid_helpers() -> None:
    images = torch.arange(16.0).reshape(1, 1, 4, 4)
    torch.testing.assert_close(downsample(images, (2, 2)), torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    k = torch.tensor([[[100.0, 0, 63.5], [0, 100.0, 31.5], [0, 0, 1]]])
    half = scale_intrinsics(k, (64, 128), (32, 64))
    torch.testing.assert_close(half, torch.tensor([[[50.0, 0, 31.5], [0, 50.0, 15.5], [0, 0, 1]]]))


def test_normalise() -> None:
    torch.testing.assert_close(normalise(torch.full((3, 2, 2), 0.75), MEAN, STD), torch.ones(3, 2, 2))


def _monodepth2_selfsup_loss(batch: dict[str, torch.Tensor], disparities: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """monodepth2 ``trainer.py`` transcribed (``compute_losses`` without auto-masking, ``generate_images_pred`` with
    every disparity upsampled, ``layers.py`` SSIM / BackprojectDepth / Project3D / get_smooth_loss), min 0.1, max
    100 m, smoothness 1e-3; its ``grid_sample`` with ``align_corners=True`` to match its ``(W - 1)`` normalisation."""
    import torch.nn.functional as F

    target, sources, poses, k = batch["rgb"], batch["sources"], batch["source_from_target"], batch["k"]
    b, _, h, w = target.shape
    pool = torch.nn.AvgPool2d(3, 1)

    def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = F.pad(x, (1, 1, 1, 1), mode="reflect"), F.pad(y, (1, 1, 1, 1), mode="reflect")
        mu_x, mu_y = pool(x), pool(y)
        sigma_x, sigma_y, sigma_xy = pool(x**2) - mu_x**2, pool(y**2) - mu_y**2, pool(x * y) - mu_x * mu_y
        n = (2 * mu_x * mu_y + 0.01**2) * (2 * sigma_xy + 0.03**2)
        d = (mu_x**2 + mu_y**2 + 0.01**2) * (sigma_x + sigma_y + 0.03**2)
        return torch.clamp((1 - n / d) / 2, 0, 1)

    def reprojection(pred: torch.Tensor) -> torch.Tensor:
        return 0.85 * ssim(pred, target).mean(1, True) + 0.15 * torch.abs(target - pred).mean(1, True)

    v, u = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    pix = torch.stack([u.flatten(), v.flatten(), torch.ones(h * w)])[None].expand(b, 3, h * w)
    total = torch.zeros(())
    for scale, disp in enumerate(disparities):
        up = F.interpolate(disp, [h, w], mode="bilinear", align_corners=False)
        depth = 1 / (1 / 100 + (1 / 0.1 - 1 / 100) * up)
        cam = torch.cat([torch.linalg.inv(k) @ pix * depth.view(b, 1, -1), torch.ones(b, 1, h * w)], 1)
        errors = []
        for j in range(sources.shape[1]):
            projected = (k @ poses[:, j, :3, :]) @ cam
            xy = (projected[:, :2] / (projected[:, 2:3] + 1e-7)).view(b, 2, h, w).permute(0, 2, 3, 1)
            grid = (torch.stack([xy[..., 0] / (w - 1), xy[..., 1] / (h - 1)], -1) - 0.5) * 2
            warped = F.grid_sample(sources[:, j], grid, padding_mode="border", align_corners=True)
            errors.append(reprojection(warped))
        loss = torch.cat(errors, 1).min(1)[0].mean()
        norm = disp / (disp.mean(2, True).mean(3, True) + 1e-7)
        color = F.interpolate(target, size=disp.shape[-2:], mode="area")
        grad_x, grad_y = torch.abs(norm[..., :-1] - norm[..., 1:]), torch.abs(norm[..., :-1, :] - norm[..., 1:, :])
        img_x = torch.abs(color[..., :-1] - color[..., 1:]).mean(1, True)
        img_y = torch.abs(color[..., :-1, :] - color[..., 1:, :]).mean(1, True)
        smooth = (grad_x * torch.exp(-img_x)).mean() + (grad_y * torch.exp(-img_y)).mean()
        total = total + loss + 1e-3 * smooth / 2**scale
    return total / len(disparities)


def test_selfsup_loss_equals_a_transcription_of_monodepth2() -> None:
    batch = _batch()  # sideways motion: every point stays in front of both cameras (behind them the two differ)
    batch["source_from_target"][..., 2, 3] = 0.0
    batch["source_from_target"][:, 0, 0, 3], batch["source_from_target"][:, 1, 0, 3] = 0.03, -0.03
    torch.manual_seed(1)
    disparities = tuple(torch.rand(2, 1, 32 // 2**s, 64 // 2**s) * 0.5 + 0.2 for s in range(4))
    config = LossConfig(objective="selfsup", automask=False, pose_source="ground_truth")
    ours = Objective(config, 0.1, 100.0, MEAN, STD)(UNetOutput(torch.ones(2, 1, 32, 64), disparities), batch).total
    assert float(ours) == pytest.approx(float(_monodepth2_selfsup_loss(batch, disparities)), rel=1e-5)


@pytest.mark.parametrize("resolution", ["full", "pyramid"])
def test_the_photometric_loss_ignores_a_raw_cameras_black_fill(resolution: str) -> None:
    """``seen`` (a raw camera's undistortion: False on its black fill, where the node publishes no depth): no
    photometric error there, and none where the warp samples the source's fill (the same pixels of every frame of
    one camera); an all-True ``seen`` is the plain loss."""
    config = LossConfig(
        objective="selfsup",
        scales=2,
        pose_source="ground_truth",
        photometric_resolution=resolution,
        smoothness_weight=0.0,  # the photometric term alone (smoothness is not masked)
    )
    objective = Objective(config, 1.0, 100.0, MEAN, STD)
    batch = _batch()
    batch["pose_known"][:] = True
    plain_output = _output()
    plain = objective(plain_output, batch)
    batch["seen"] = torch.ones(2, 1, 32, 64, dtype=torch.bool)
    torch.testing.assert_close(objective(_output(), batch).total, plain.total)
    seen = torch.ones(2, 1, 32, 64, dtype=torch.bool)
    seen[..., :, :12] = False  # a fill band at the left, as a rectification turn leaves it
    batch["seen"] = seen
    output = _output()
    masked = objective(output, batch)
    (grad,) = torch.autograd.grad(masked.total, output.disparities[0])
    assert float(grad[..., :, :10].abs().max()) == 0.0  # the fill teaches nothing (col 11 is in seen pixels' SSIM)
    assert float(grad[..., :, 20:].abs().mean()) > 0.0
    assert masked.parts["photometric"] != pytest.approx(plain.parts["photometric"])


@pytest.mark.parametrize("resolution", ["full", "pyramid"])
def test_the_smoothness_term_ignores_a_raw_cameras_black_fill(resolution: str) -> None:
    """The edge-aware smoothness, like the photometric loss, leaves the fill (``seen`` False) out at every scale:
    the fill's disparities neither move the term nor get a smoothness gradient."""
    config = LossConfig(objective="selfsup", scales=3, pose_source="ground_truth", photometric_resolution=resolution)
    batch = _batch()
    batch["pose_known"][:] = True
    seen = torch.ones(2, 1, 32, 64, dtype=torch.bool)
    seen[..., :, :12] = False
    batch["seen"] = seen

    def output(fill: float) -> UNetOutput:
        torch.manual_seed(3)
        disparities = []
        for s in range(3):
            disp = torch.rand(2, 1, 32 // 2**s, 64 // 2**s) * 0.5 + 0.2
            disp[..., :, : 12 // 2**s] = fill  # the fill's columns at this scale
            disparities.append(disp.requires_grad_())
        return UNetOutput(torch.ones(2, 1, 32, 64), tuple(disparities))

    objective = Objective(config, 1.0, 100.0, MEAN, STD)
    low, high = objective(output(0.05), batch), objective(output(0.9), batch)
    assert low.parts["smoothness"] == pytest.approx(high.parts["smoothness"], rel=1e-6)
    assert low.parts["smoothness"] > 0.0
    batch_all_seen = {**batch, "seen": torch.ones_like(seen)}
    assert objective(output(0.05), batch_all_seen).parts["smoothness"] != pytest.approx(low.parts["smoothness"])
    grads = []
    for weight in (1.0, 0.0):  # the total's gradient with and without smoothness: their difference is its own
        out = output(0.05)
        weighted = Objective(replace(config, smoothness_weight=weight), 1.0, 100.0, MEAN, STD)
        grads.append(torch.autograd.grad(weighted(out, batch).total, out.disparities[0])[0])
    smoothness_grad = grads[0] - grads[1]
    assert float(smoothness_grad[..., :, :12].abs().max()) == 0.0
    assert float(smoothness_grad[..., :, 12:].abs().max()) > 0.0


@pytest.mark.parametrize("lidar_loss", ["l1", "berhu", "reprojected"])
def test_the_lidar_term_ignores_returns_at_or_beyond_the_depth_range(kitti_object_dir: Path, lidar_loss: str) -> None:
    """lidar_semi with ``max_depth_m`` 20 m and KITTI's Velodyne (7 % of its returns beyond 40 m): as the supervised
    objective does, returns the network cannot reach are no target; a depth exact within range and at the range's end
    beyond it (the best the network can do) has no LiDAR loss, so nothing pulls it to saturation or sets berHu's c."""
    from test.kitti_bag import load_kitti_frames

    frame = load_kitti_frames(kitti_object_dir, ("000001",))[0]
    max_depth, min_depth = 20.0, 0.1
    top, left, width = 120, 306, 612  # the half of the frame around the road (where the far returns are): less CPU
    lidar = torch.from_numpy(frame.lidar_depth_m)[None, None, top:, left : left + width]
    assert int((lidar >= max_depth).sum()) > 1000 and int((lidar < max_depth).sum()) > 1000  # both kinds of return
    best = torch.nan_to_num(lidar, nan=10.0).clamp(min_depth, max_depth)
    disp = (1.0 / best - 1.0 / max_depth) / (1.0 / min_depth - 1.0 / max_depth)
    output = UNetOutput(best, (disp.requires_grad_(),))
    intr = frame.intrinsics
    pose = torch.eye(4)[None, None].clone()
    pose[..., 0, 3] = -0.54  # KITTI's stereo baseline: far and near returns reproject differently
    rgb = torch.from_numpy(frame.rgb[top:, left : left + width]).permute(2, 0, 1)[None].float() / 255.0
    batch = {
        "rgb": rgb,
        "depth": lidar,
        "lidar_depth": lidar,
        "k": torch.tensor([[intr.fx, 0, intr.cx - left], [0, intr.fy, intr.cy - top], [0, 0, 1]])[None].float(),
        "sources": rgb[:, None],
        "source_from_target": pose,
        "pose_known": torch.ones(1, 1, dtype=torch.bool),
        "source_offset": torch.zeros(1, 1, dtype=torch.int64),
    }
    config = LossConfig(objective="lidar_semi", lidar_loss=lidar_loss, scales=1)
    result = Objective(config, min_depth, max_depth, MEAN, STD, temporal_sources=False)(output, batch)
    assert result.parts["lidar"] < 1e-3, result.parts  # metres (l1, berHu) or pixels (reprojected)
    nearer = 0.8 * best  # 20 % short everywhere: the returns within range still teach
    near_disp = (1.0 / nearer - 1.0 / max_depth) / (1.0 / min_depth - 1.0 / max_depth)
    wrong = Objective(config, min_depth, max_depth, MEAN, STD, temporal_sources=False)
    assert wrong(UNetOutput(nearer, (near_disp,)), batch).parts["lidar"] > 0.3
    supervised_config = LossConfig(objective="supervised", supervised_loss="l1", scales=1)
    supervised = Objective(supervised_config, min_depth, max_depth, MEAN, STD)
    assert supervised(output, batch).parts["depth"] < 1e-3  # the supervised objective's rule, for comparison
