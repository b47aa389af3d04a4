"""Depth training losses. Tensors are (B, 1, H, W) unless stated; ``mask`` is a bool tensor of the same shape
(True = supervised pixel). Every reduction is a mean over valid pixels; an all-invalid batch gives 0 (with a graph),
never NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    weight = mask.to(values.dtype)
    return (values * weight).sum() / weight.sum().clamp_min(1.0)


def valid_depth_mask(target: Tensor) -> Tensor:
    """Finite, positive target depths."""
    return torch.isfinite(target) & (target > 0)


def _safe_target(target: Tensor, mask: Tensor) -> Tensor:
    return torch.where(mask, target, torch.ones_like(target))


def l1_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean |pred - target|."""
    return _masked_mean((pred - _safe_target(target, mask)).abs(), mask)


def l2_loss(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean (pred - target)²."""
    return _masked_mean((pred - _safe_target(target, mask)) ** 2, mask)


def inverse_depth_weighted_l2(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean ((pred - target) / target)²: far pixels weigh less, as in inverse-depth regression."""
    t = _safe_target(target, mask)
    return _masked_mean(((pred - t) / t) ** 2, mask)


def silog_loss(pred: Tensor, target: Tensor, mask: Tensor, variance_focus: float = 0.85) -> Tensor:
    """Scale-invariant log loss (Eigen et al. 2014): sqrt(E[g²] - λ E[g]²), g = ln pred - ln target over the batch's
    valid pixels: BTS's / AdaBins' form without their constant ×10 (their logged losses are 10 × these).

    The factor is left out on purpose: under AdamW it changes nothing but how hard ``optim.grad_clip_norm`` clips, and
    the recipes' clip (1.0) is set for this unit (×10 at clip 1.0: real KITTI frames, 60 steps, AbsRel 0.98 -> 0.40
    instead of 0.14; ×10 at clip 10: 0.144, as here).

    ``variance_focus`` λ = 1 is fully scale invariant; λ = 0 is plain RMSE in log space.
    """
    t = _safe_target(target, mask)
    g = torch.log(pred.clamp_min(1e-6)) - torch.log(t)
    mean_g = _masked_mean(g, mask)
    mean_g2 = _masked_mean(g**2, mask)
    return torch.sqrt((mean_g2 - variance_focus * mean_g**2).clamp_min(1e-12))


def berhu_loss(pred: Tensor, target: Tensor, mask: Tensor, threshold_ratio: float = 0.2) -> Tensor:
    """Reverse Huber (Laina et al. 2016): |e| if |e| <= c else (e² + c²) / 2c, c = ratio · max |e| over the batch."""
    err = (pred - _safe_target(target, mask)).abs()
    masked = torch.where(mask, err, torch.zeros_like(err))
    c = (threshold_ratio * masked.max()).clamp_min(1e-6).detach()
    loss = torch.where(err <= c, err, (err**2 + c**2) / (2 * c))
    return _masked_mean(loss, mask)


def sparse_lidar_loss(pred_depth: Tensor, lidar_depth: Tensor, kind: str = "l1") -> Tensor:
    """Supervision on the pixels that a projected LiDAR point hit (NaN / 0 elsewhere): ``l1`` or ``berhu``."""
    mask = valid_depth_mask(lidar_depth)
    if kind == "l1":
        return l1_loss(pred_depth, lidar_depth, mask)
    if kind == "berhu":
        return berhu_loss(pred_depth, lidar_depth, mask)
    msg = f"unknown sparse LiDAR loss {kind!r}; use 'l1' or 'berhu'"
    raise ValueError(msg)


def align_scale_shift(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Per-image least-squares s, t minimising Σ (s·pred + t - target)² over ``mask``; returns s·pred + t (MiDaS)."""
    w = mask.to(pred.dtype)
    t_safe = torch.where(mask, target, torch.zeros_like(target))
    dims = (1, 2, 3)
    a00 = (w * pred * pred).sum(dims)
    a01 = (w * pred).sum(dims)
    a11 = w.sum(dims)
    b0 = (w * pred * t_safe).sum(dims)
    b1 = (w * t_safe).sum(dims)
    det = a00 * a11 - a01 * a01
    ok = det.abs() > 1e-12
    det_safe = torch.where(ok, det, torch.ones_like(det))
    scale = torch.where(ok, (a11 * b0 - a01 * b1) / det_safe, torch.ones_like(det))
    shift = torch.where(ok, (-a01 * b0 + a00 * b1) / det_safe, torch.zeros_like(det))
    return scale.view(-1, 1, 1, 1) * pred + shift.view(-1, 1, 1, 1)


def gradient_matching_loss(pred: Tensor, target: Tensor, mask: Tensor, scales: int = 4) -> Tensor:
    """MiDaS multi-scale gradient matching on the (aligned) residual, over ``scales`` halvings."""
    total = pred.new_zeros(())
    residual = pred - torch.where(mask, target, pred)
    m = mask.to(pred.dtype)
    for _ in range(scales):
        grad_x = (residual[..., :, 1:] - residual[..., :, :-1]).abs() * (m[..., :, 1:] * m[..., :, :-1])
        grad_y = (residual[..., 1:, :] - residual[..., :-1, :]).abs() * (m[..., 1:, :] * m[..., :-1, :])
        total = total + (grad_x.sum() + grad_y.sum()) / m.sum().clamp_min(1.0)
        residual = residual[..., ::2, ::2]
        m = m[..., ::2, ::2]
    return total


def ssi_loss(pred: Tensor, target: Tensor, mask: Tensor, alpha: float = 0.5, scales: int = 4) -> Tensor:
    """Scale-and-shift-invariant MSE + ``alpha`` × multi-scale gradient matching (Ranftl et al., MiDaS).

    ``pred`` and ``target`` are in the same space (inverse depth for relative models).
    """
    aligned = align_scale_shift(pred, target, mask)
    data = 0.5 * _masked_mean((aligned - torch.where(mask, target, aligned)) ** 2, mask)
    return data + alpha * gradient_matching_loss(aligned, target, mask, scales)


def ssim(x: Tensor, y: Tensor) -> Tensor:
    """Per-pixel SSIM dissimilarity (1 - SSIM) / 2, 3×3 windows, reflection padding (monodepth2); (B, C, H, W)."""
    c1, c2 = 0.01**2, 0.03**2
    xp = F.pad(x, (1, 1, 1, 1), mode="reflect")
    yp = F.pad(y, (1, 1, 1, 1), mode="reflect")
    mu_x = F.avg_pool2d(xp, 3, 1)
    mu_y = F.avg_pool2d(yp, 3, 1)
    sigma_x = F.avg_pool2d(xp**2, 3, 1) - mu_x**2
    sigma_y = F.avg_pool2d(yp**2, 3, 1) - mu_y**2
    sigma_xy = F.avg_pool2d(xp * yp, 3, 1) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sigma_xy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sigma_x + sigma_y + c2)
    return ((1 - num / den) / 2).clamp(0, 1)


def photometric_error(pred: Tensor, target: Tensor, ssim_weight: float = 0.85) -> Tensor:
    """Per-pixel 0.85·SSIM + 0.15·L1 over colour channels → (B, 1, H, W)."""
    l1 = (pred - target).abs().mean(1, keepdim=True)
    return ssim_weight * ssim(pred, target).mean(1, keepdim=True) + (1 - ssim_weight) * l1


def min_reprojection_loss(
    warped_sources: list[Tensor], target: Tensor, sources: list[Tensor] | None = None, automask: bool = True
) -> tuple[Tensor, Tensor]:
    """monodepth2 per-pixel minimum reprojection over source frames, with auto-masking of static pixels.

    Args:
        warped_sources: each source image warped into the target view, (B, 3, H, W).
        target: the target image (B, 3, H, W).
        sources: the un-warped source images, needed for auto-masking.
        automask: compare with the identity reprojection error (plus 1e-5 noise to break ties, as monodepth2) and
            ignore pixels where not warping explains the target better (static scene / camera, objects moving with it).

    Returns:
        ``(loss, mask)``: scalar mean of the per-pixel minimum and the (B, 1, H, W) bool mask of pixels kept.
    """
    reprojection = torch.cat([photometric_error(w, target) for w in warped_sources], dim=1)
    if automask and sources is not None:
        identity = torch.cat([photometric_error(s, target) for s in sources], dim=1)
        identity = identity + torch.randn_like(identity) * 1e-5
        combined = torch.cat([identity, reprojection], dim=1)
        best, index = combined.min(dim=1, keepdim=True)
        keep = index >= identity.shape[1]
        return best.mean(), keep
    best = reprojection.min(dim=1, keepdim=True).values
    return best.mean(), torch.ones_like(best, dtype=torch.bool)


def edge_aware_smoothness(disparity: Tensor, image: Tensor, seen: Tensor | None = None) -> Tensor:
    """monodepth2 smoothness on mean-normalised disparity, weighted by exp(-|∂image|).

    ``disparity`` (B, 1, H, W), ``image`` (B, C, H, W). ``seen`` (B, 1, H, W) bool, None for all: a raw camera's
    black fill is left out, so it gives no gradient: the mean is over seen pixels and a difference counts only
    between two seen neighbours.
    """
    if seen is None:
        disp = disparity / disparity.mean(dim=(2, 3), keepdim=True).clamp_min(1e-7)
    else:
        weight = seen.to(disparity.dtype)
        seen_mean = (disparity * weight).sum(dim=(2, 3), keepdim=True) / weight.sum(dim=(2, 3), keepdim=True).clamp_min(
            1.0
        )
        disp = disparity / seen_mean.clamp_min(1e-7)
    grad_disp_x = (disp[..., :, :-1] - disp[..., :, 1:]).abs()
    grad_disp_y = (disp[..., :-1, :] - disp[..., 1:, :]).abs()
    grad_img_x = (image[..., :, :-1] - image[..., :, 1:]).abs().mean(1, keepdim=True)
    grad_img_y = (image[..., :-1, :] - image[..., 1:, :]).abs().mean(1, keepdim=True)
    smooth_x, smooth_y = grad_disp_x * torch.exp(-grad_img_x), grad_disp_y * torch.exp(-grad_img_y)
    if seen is None:
        return smooth_x.mean() + smooth_y.mean()
    pairs_x = seen[..., :, :-1] & seen[..., :, 1:]
    pairs_y = seen[..., :-1, :] & seen[..., 1:, :]
    return _masked_mean(smooth_x, pairs_x) + _masked_mean(smooth_y, pairs_y)


def densedepth_loss(pred: Tensor, target: Tensor, mask: Tensor, max_depth: float, weight_l1: float = 0.1) -> Tensor:
    """DenseDepth (Alhashim & Wonka 2018): 0.1·L1 + SSIM term + image-gradient (edge) term, depths normalised by max."""
    t = torch.where(mask, target, pred.detach()) / max_depth
    p = pred / max_depth
    l1 = _masked_mean((p - t).abs(), mask)
    ssim_term = ssim(p, t).mean()
    dx_p, dy_p = p[..., :, 1:] - p[..., :, :-1], p[..., 1:, :] - p[..., :-1, :]
    dx_t, dy_t = t[..., :, 1:] - t[..., :, :-1], t[..., 1:, :] - t[..., :-1, :]
    edges = (dx_p - dx_t).abs().mean() + (dy_p - dy_t).abs().mean()
    return weight_l1 * l1 + ssim_term + edges


def multiscale(
    loss_fn: Callable[[Tensor, Tensor, Tensor], Tensor],
    predictions: list[Tensor],
    target: Tensor,
    mask: Tensor,
    mode: str = "bilinear",
) -> Tensor:
    """monodepth2-style multi-scale loss: each (coarser) prediction is upsampled to the target size, losses averaged."""
    total = target.new_zeros(())
    for pred in predictions:
        up = (
            pred
            if pred.shape[-2:] == target.shape[-2:]
            else F.interpolate(pred, size=target.shape[-2:], mode=mode, align_corners=False)
        )
        total = total + loss_fn(up, target, mask)
    return total / max(len(predictions), 1)
