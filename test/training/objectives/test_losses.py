from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from mono_depth_ros.training.data.kitti_files import load_depth_png
from mono_depth_ros.training.objectives import losses as L


def t(values: list[list[float]]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)[None, None]


PRED = t([[1.0, 3.0], [2.0, 9.0]])
TARGET = t([[2.0, 3.0], [4.0, float("nan")]])
MASK = L.valid_depth_mask(TARGET)


def test_l1_l2_inverse_weighted() -> None:
    # errors on valid pixels: -1, 0, -2
    assert L.l1_loss(PRED, TARGET, MASK).item() == pytest.approx(1.0)
    assert L.l2_loss(PRED, TARGET, MASK).item() == pytest.approx(5 / 3)
    # relative errors: -1/2, 0, -2/4 -> squares 0.25, 0, 0.25
    assert L.inverse_depth_weighted_l2(PRED, TARGET, MASK).item() == pytest.approx(0.5 / 3)


def test_silog() -> None:
    g = [math.log(0.5), 0.0, math.log(0.5)]
    mean, mean2 = sum(g) / 3, sum(x * x for x in g) / 3
    assert L.silog_loss(PRED, TARGET, MASK, 0.85).item() == pytest.approx(math.sqrt(mean2 - 0.85 * mean**2))
    # fully scale invariant: a global scale costs nothing
    assert L.silog_loss(TARGET.nan_to_num(1.0) * 3, TARGET, MASK, 1.0).item() == pytest.approx(0.0, abs=1e-5)


def _bts_silog(depth_est: torch.Tensor, depth_gt: torch.Tensor, mask: torch.Tensor, variance_focus: float) -> float:
    """cleinc/bts ``pytorch/bts.py`` ``silog_loss.forward`` transcribed (AdaBins' ``SILogLoss`` is the same ×10)."""
    d = torch.log(depth_est[mask]) - torch.log(depth_gt[mask])
    return float(torch.sqrt((d**2).mean() - variance_focus * (d.mean() ** 2)) * 10.0)


def test_silog_is_the_bts_loss_over_10_on_real_kitti_depth(kitti_depth_dir: Path) -> None:
    """Real annotated KITTI depth (a 2-image batch of crops) against a perturbed prediction: BTS / AdaBins' value
    divided by their constant 10 (left out on purpose: ``losses.silog_loss`` and docs/training_data.md say why)."""
    files = sorted((kitti_depth_dir / "depth").glob("*.png"))[:2]
    gt = torch.stack([torch.from_numpy(load_depth_png(f)[200:328, 400:656].copy()) for f in files])[:, None].double()
    torch.manual_seed(0)
    pred = (gt.nan_to_num(20.0) * torch.exp(0.2 * torch.randn_like(gt)) * 1.3).clamp_min(0.5)
    mask = L.valid_depth_mask(gt)
    assert int(mask.sum()) > 1000
    for focus in (0.85, 0.5, 1.0):
        ours = L.silog_loss(pred, gt, mask, focus).item()
        assert ours == pytest.approx(_bts_silog(pred, gt, mask, focus) / 10.0, rel=1e-9)


def test_berhu() -> None:
    # |e| = 1, 0, 2 ; c = 0.2 * 2 = 0.4 -> 1 > c: (1 + .16)/.8 = 1.45 ; 0 ; 2 > c: (4 + .16)/.8 = 5.2
    assert L.berhu_loss(PRED, TARGET, MASK).item() == pytest.approx((1.45 + 0 + 5.2) / 3)


def test_sparse_lidar_uses_hit_pixels_only() -> None:
    lidar = t([[2.0, 0.0], [float("nan"), 9.5]])
    assert L.sparse_lidar_loss(PRED, lidar, "l1").item() == pytest.approx(0.75)
    with pytest.raises(ValueError, match="unknown"):
        L.sparse_lidar_loss(PRED, lidar, "l3")


def test_all_invalid_gives_zero_not_nan() -> None:
    target = torch.full_like(PRED, float("nan"))
    for fn in (L.l1_loss, L.l2_loss, L.berhu_loss):
        assert fn(PRED, target, L.valid_depth_mask(target)).item() == 0.0


def test_ssi_is_invariant_to_scale_and_shift() -> None:
    torch.manual_seed(0)
    target = torch.rand(2, 1, 16, 16, dtype=torch.float64) + 0.5
    mask = torch.ones_like(target, dtype=torch.bool)
    assert L.ssi_loss(3.0 * target - 0.7, target, mask).item() == pytest.approx(0.0, abs=1e-10)
    assert L.ssi_loss(torch.rand_like(target), target, mask).item() > 1e-3
    aligned = L.align_scale_shift(2 * target + 1, target, mask)
    torch.testing.assert_close(aligned, target)


def test_gradient_matching_hand_case() -> None:
    # residual [[0, 1], [0, 1]]: x-gradients |1| twice, y-gradients 0; one scale; 4 valid pixels -> 2 / 4
    pred = t([[0.0, 1.0], [0.0, 1.0]])
    target = torch.zeros_like(pred)
    mask = torch.ones_like(pred, dtype=torch.bool)
    assert L.gradient_matching_loss(pred, target, mask, scales=1).item() == pytest.approx(0.5)


def test_ssim_and_photometric() -> None:
    torch.manual_seed(0)
    img = torch.rand(1, 3, 12, 12)
    assert L.ssim(img, img).max().item() == pytest.approx(0.0, abs=1e-5)
    assert L.photometric_error(img, img).max().item() == pytest.approx(0.0, abs=1e-5)
    # L1 part alone: constant offset 0.1 on every channel, SSIM weight 0
    assert L.photometric_error(img + 0.1, img, ssim_weight=0.0).mean().item() == pytest.approx(0.1, abs=1e-6)


def test_min_reprojection_and_automask() -> None:
    torch.manual_seed(0)
    target = torch.rand(1, 3, 10, 10)
    good = target.clone()
    bad = torch.rand(1, 3, 10, 10)
    loss, keep = L.min_reprojection_loss([bad, good], target, automask=False)
    assert loss.item() == pytest.approx(0.0, abs=1e-5)
    assert keep.all()
    # a source identical to the target (static camera) explains everything without warping -> masked out
    loss, keep = L.min_reprojection_loss([bad], target, sources=[target.clone()])
    assert not keep.any()


def test_edge_aware_smoothness() -> None:
    flat = torch.ones(1, 1, 8, 8)
    img = torch.rand(1, 3, 8, 8)
    assert L.edge_aware_smoothness(flat, img).item() == 0.0
    ramp = torch.arange(8.0).repeat(8, 1)[None, None] + 1
    uniform_img = torch.zeros(1, 3, 8, 8)
    # mean-normalised disparity step 1/4.5 in x, 0 in y, weight exp(0) = 1 -> 1/4.5
    assert L.edge_aware_smoothness(ramp, uniform_img).item() == pytest.approx(1 / 4.5)
    assert L.edge_aware_smoothness(ramp, torch.rand(1, 3, 8, 8) * 5).item() < 1 / 4.5


def test_edge_aware_smoothness_leaves_out_unseen_pixels() -> None:
    """A raw camera's black fill (``seen`` False) gives no smoothness gradient and does not move the value: a
    ramp over the seen columns with arbitrary fill beside it is the ramp's own smoothness."""
    ramp = torch.arange(8.0).repeat(8, 1)[None, None] + 1
    uniform_img = torch.zeros(1, 3, 8, 12)
    seen = torch.zeros(1, 1, 8, 12, dtype=torch.bool)
    seen[..., 4:] = True
    disparity = torch.cat([torch.rand(1, 1, 8, 4) * 50, ramp], dim=-1).requires_grad_()
    value = L.edge_aware_smoothness(disparity, uniform_img, seen)
    assert value.item() == pytest.approx(L.edge_aware_smoothness(ramp, uniform_img[..., 4:]).item())
    (grad,) = torch.autograd.grad(value, disparity)
    assert float(grad[..., :4].abs().max()) == 0.0
    assert float(grad[..., 4:].abs().max()) > 0.0
    torch.testing.assert_close(
        L.edge_aware_smoothness(ramp, uniform_img[..., 4:], torch.ones(1, 1, 8, 8, dtype=torch.bool)),
        L.edge_aware_smoothness(ramp, uniform_img[..., 4:]),
    )


def test_densedepth_and_multiscale() -> None:
    target = torch.full((1, 1, 8, 8), 5.0)
    mask = torch.ones_like(target, dtype=torch.bool)
    assert L.densedepth_loss(target.clone(), target, mask, max_depth=10.0).item() == pytest.approx(0.0, abs=1e-6)
    # constant 6 m vs 5 m, normalised by 10 m: L1 0.1 x 0.1; SSIM of two constants (sigmas 0) is
    # (2 mu_x mu_y + c1) / (mu_x^2 + mu_y^2 + c1) = 0.6001 / 0.6101, dissimilarity (1 - that) / 2; no edges
    off = L.densedepth_loss(target + 1.0, target, mask, max_depth=10.0).item()
    assert off == pytest.approx(0.1 * 0.1 + (1 - 0.6001 / 0.6101) / 2, abs=1e-4)  # float32 variance cancellation
    coarse = torch.full((1, 1, 4, 4), 6.0)
    assert L.multiscale(L.l1_loss, [target + 1, coarse], target, mask).item() == pytest.approx(1.0)


def _midas_ssi(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, alpha: float, scales: int) -> float:
    """ScaleAndShiftInvariantLoss of the MiDaS authors' training-loss gist (batch-based reduction, the default),
    https://gist.github.com/dvdhfnr/732c26b61a0e63a0abc8a5d769dbebd0 ("copy from MiDaS" in many repositories);
    (B, H, W) tensors, mask float, target 0 where invalid."""
    a_00 = torch.sum(mask * prediction * prediction, (1, 2))
    a_01 = torch.sum(mask * prediction, (1, 2))
    a_11 = torch.sum(mask, (1, 2))
    b_0 = torch.sum(mask * prediction * target, (1, 2))
    b_1 = torch.sum(mask * target, (1, 2))
    x_0, x_1 = torch.zeros_like(b_0), torch.zeros_like(b_1)
    det = a_00 * a_11 - a_01 * a_01
    valid = det.nonzero()
    x_0[valid] = (a_11[valid] * b_0[valid] - a_01[valid] * b_1[valid]) / det[valid]
    x_1[valid] = (-a_01[valid] * b_0[valid] + a_00[valid] * b_1[valid]) / det[valid]
    ssi = x_0.view(-1, 1, 1) * prediction + x_1.view(-1, 1, 1)
    res = ssi - target
    total = torch.sum(mask * res * res) / (2 * torch.sum(mask))
    for scale in range(scales):
        step = 2**scale
        p, g, m = ssi[:, ::step, ::step], target[:, ::step, ::step], mask[:, ::step, ::step]
        diff = m * (p - g)
        grad_x = (diff[:, :, 1:] - diff[:, :, :-1]).abs() * m[:, :, 1:] * m[:, :, :-1]
        grad_y = (diff[:, 1:, :] - diff[:, :-1, :]).abs() * m[:, 1:, :] * m[:, :-1, :]
        total = total + alpha * (grad_x.sum() + grad_y.sum()) / m.sum()
    return float(total)


def test_ssi_is_the_midas_loss_on_real_kitti_inverse_depth(kitti_depth_dir: Path) -> None:
    """Real annotated KITTI depth (sparse: ~20 % of pixels) as inverse-depth target, a perturbed prediction: the
    value of the MiDaS authors' ScaleAndShiftInvariantLoss (MSE data term, 4-scale gradient matching, batch-based)."""
    files = sorted((kitti_depth_dir / "depth").glob("*.png"))[:3]
    gt = torch.stack([torch.from_numpy(load_depth_png(f)[180:330, 300:700].copy()) for f in files])[:, None].double()
    mask = L.valid_depth_mask(gt)
    target = torch.where(mask, 1.0 / gt, torch.zeros_like(gt))
    torch.manual_seed(0)
    pred = 0.7 * target.nan_to_num(0.05) * torch.exp(0.3 * torch.randn_like(gt)) + 0.02
    assert int(mask.sum()) > 5000
    for alpha, scales in ((0.5, 4), (0.0, 1), (2.0, 3)):
        ours = L.ssi_loss(pred, target, mask, alpha, scales).item()
        assert ours == pytest.approx(_midas_ssi(pred[:, 0], target[:, 0], mask[:, 0].double(), alpha, scales), rel=1e-9)
