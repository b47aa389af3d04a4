"""Standard monocular-depth metrics, the KITTI / NYU evaluation crops, and median scaling.

One named record, averaged over samples that have valid pixels only (packnet-sfm divides by the batch size even
when a sample has none; monodepth2 returns an anonymous 7-tuple — neither here).

Protocols (kept apart on purpose):

* KITTI Eigen, self-supervised: raw Velodyne GT, Garg crop, cap 80 m, **per-image median scaling**.
* KITTI improved GT (652 frames), metric models: Garg crop, cap 80 m, **no scaling** (BTS ``bts_eval.py``: Garg
  fractions of the full frame; ZoeDepth / AdaBins / Depth Anything V1: of the 352×1216 KB crop,
  :func:`garg_kb_crop_mask`).
* KITTI Eigen crop (BTS ``--eigen_crop``; Marigold of the KB crop): :func:`eigen_crop_mask_kitti`,
  :func:`eigen_kb_crop_mask` (a ``--crop`` option, no protocol of its own).
* NYU Depth V2: Eigen crop, cap 10 m, no scaling for metric models.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import ShapeError

FloatImage = npt.NDArray[np.floating]


@dataclass(frozen=True)
class DepthMetrics:
    """Error metrics of one image or a mean over images (depths in metres; ratios unitless).

    Attributes:
        abs_rel: mean |d - d*| / d*.  sq_rel: mean (d - d*)² / d*.  rmse: sqrt(mean (d - d*)²) metres.
        rmse_log: sqrt(mean (ln d - ln d*)²).  log10: mean |log10 d - log10 d*|.
        a1, a2, a3: fraction of pixels with max(d/d*, d*/d) < 1.25, 1.25², 1.25³.
        silog: 100·sqrt(mean g² - (mean g)²), g = ln d - ln d* (the KITTI depth benchmark's SILog, as BTS / ZoeDepth
            compute it; unchanged by a global scale).
        irmse: sqrt(mean (1/d - 1/d*)²) with depths in kilometres, i.e. in 1/km (the KITTI devkit's iRMSE).
        count: number of images averaged (0 = no valid pixel anywhere; all metrics NaN then).
    """

    abs_rel: float
    sq_rel: float
    rmse: float
    rmse_log: float
    log10: float
    a1: float
    a2: float
    a3: float
    silog: float = float("nan")
    irmse: float = float("nan")
    count: int = 1

    def as_dict(self) -> dict[str, float]:
        """Plain dict (for CSV / logs)."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


METRIC_NAMES = ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "a1", "a2", "a3", "silog", "irmse")
NAN_METRICS = DepthMetrics(*(float("nan"),) * 8, silog=float("nan"), irmse=float("nan"), count=0)


def valid_mask(gt_m: FloatImage, min_depth_m: float, max_depth_m: float) -> npt.NDArray[np.bool_]:
    """Pixels whose ground truth is finite and inside ``(min_depth_m, max_depth_m)``."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(gt_m) & (gt_m > min_depth_m) & (gt_m < max_depth_m)


def garg_crop_mask(height: int, width: int) -> npt.NDArray[np.bool_]:
    """Garg et al. ECCV 2016 crop used for KITTI Eigen evaluation (rows 40.8 %-99.2 %, cols 3.6 %-96.4 %: the
    fractions 0.40810811, 0.99189189, 0.03594771, 0.96405229 of the height and width, truncated to whole pixels as
    monodepth2 and BTS do)."""
    mask = np.zeros((height, width), dtype=bool)
    top, bottom = int(0.40810811 * height), int(0.99189189 * height)
    left, right = int(0.03594771 * width), int(0.96405229 * width)
    mask[top:bottom, left:right] = True
    return mask


KB_CROP_HW = (352, 1216)
"""The KITTI benchmark crop (``do_kb_crop``): the bottom 352 rows and the centred 1216 columns of a raw frame."""


KB_CROP_WHOLE_FRAME = {
    "garg_kb": ("Garg", "garg"),
    "eigen_kitti_kb": ("Eigen", "eigen_kitti"),
    "garg_kb_input": ("Garg", "garg"),
    "eigen_kitti_kb_input": ("Eigen", "eigen_kitti"),
}
"""Each crop whose network is fed the KB crop (of the KB crop; ``garg_kb_input`` / ``eigen_kitti_kb_input``: of the
whole frame, BTS's): its name and the ``--crop`` taking the same fractions of the whole frame, the network fed the
whole frame."""


def kb_crop_offsets(height: int, width: int, crop: str = "garg_kb") -> tuple[int, int]:
    """``(top, left)`` of the KB crop in a (height, width) KITTI frame, as BTS / AdaBins / ZoeDepth compute them
    (``top = height - 352``, ``left = int((width - 1216) / 2)``); ``crop`` (a key of :data:`KB_CROP_WHOLE_FRAME`)
    names the evaluation crop in the error.

    Raises:
        ShapeError: a frame smaller than 352×1216 (not a raw KITTI frame: a resize of one has no KB crop).
    """
    crop_h, crop_w = KB_CROP_HW
    if height < crop_h or width < crop_w:
        name, whole = KB_CROP_WHOLE_FRAME[crop]
        msg = (
            f"the KITTI benchmark crop (--crop {crop}) needs a frame of at least "
            f"{crop_h}x{crop_w} (a raw KITTI frame), got {height}x{width}; for a resized KITTI frame take the {name} "
            f"crop of the whole frame (--crop {whole}, protocol kitti_improved), for another camera leave --crop "
            f"{crop} out (the dataset's own crop)"
        )
        raise ShapeError(msg)
    return height - crop_h, int((width - crop_w) / 2)


def garg_kb_crop_mask(height: int, width: int) -> npt.NDArray[np.bool_]:
    """The Garg crop of the KB-cropped frame, as ZoeDepth / AdaBins / Depth Anything V1 evaluate KITTI: their loaders
    crop the GT to 352×1216 (:func:`kb_crop_offsets`) and :func:`garg_crop_mask` is taken of that (rows 166:372,
    cols 56:1185 of 375×1242, against 153:371, 44:1197 of the full frame). A 352×1216 GT (already cropped) gets the
    plain Garg crop."""
    top, left = kb_crop_offsets(height, width)
    mask = np.zeros((height, width), dtype=bool)
    mask[top : top + KB_CROP_HW[0], left : left + KB_CROP_HW[1]] = garg_crop_mask(*KB_CROP_HW)
    return mask


def eigen_crop_mask_kitti(height: int, width: int) -> npt.NDArray[np.bool_]:
    """Eigen et al. NIPS 2014 KITTI crop as BTS (``bts_eval.py --eigen_crop``) and Marigold (``valid_mask_crop:
    eigen``) take it: rows 33.2 %-91.4 %, cols 3.6 %-96.4 % (the fractions 0.3324324, 0.91351351, 0.0359477,
    0.96405229 of the height and width, truncated by ``int()``; rows 124:342, cols 44:1197 of 375×1242)."""
    mask = np.zeros((height, width), dtype=bool)
    top, bottom = int(0.3324324 * height), int(0.91351351 * height)
    left, right = int(0.0359477 * width), int(0.96405229 * width)
    mask[top:bottom, left:right] = True
    return mask


def eigen_kb_crop_mask(height: int, width: int) -> npt.NDArray[np.bool_]:
    """:func:`eigen_crop_mask_kitti` of the KB-cropped frame, as Marigold evaluates KITTI (``kitti_bm_crop: true``,
    ``valid_mask_crop: eigen``: image and GT cut to 352×1216, the Eigen fractions of that; rows 140:344, cols 56:1185
    of 375×1242). A 352×1216 GT gets the plain Eigen crop.

    Raises:
        ShapeError: a frame smaller than 352×1216 (:func:`kb_crop_offsets`).
    """
    top, left = kb_crop_offsets(height, width, "eigen_kitti_kb")
    mask = np.zeros((height, width), dtype=bool)
    mask[top : top + KB_CROP_HW[0], left : left + KB_CROP_HW[1]] = eigen_crop_mask_kitti(*KB_CROP_HW)
    return mask


def eigen_crop_mask_nyu(height: int, width: int) -> npt.NDArray[np.bool_]:
    """Eigen et al. NYU crop (rows 45:471, cols 41:601 of 480×640), scaled to other sizes."""
    mask = np.zeros((height, width), dtype=bool)
    sy, sx = height / 480.0, width / 640.0
    mask[int(45 * sy) : int(471 * sy), int(41 * sx) : int(601 * sx)] = True
    return mask


def median_scale(pred: FloatImage, gt_m: FloatImage, mask: npt.NDArray[np.bool_]) -> float:
    """monodepth2's per-image ratio median(gt) / median(pred) (valid only for depth up to scale), both medians over
    the same pixels: those of ``mask`` where the prediction is finite and positive (NaN when there are none)."""
    with np.errstate(invalid="ignore"):
        paired = mask & np.isfinite(pred) & (pred > 0)
    if not paired.any():
        return float("nan")
    return float(np.median(gt_m[paired]) / np.median(pred[paired]))


def compute_metrics(
    pred_m: FloatImage,
    gt_m: FloatImage,
    min_depth_m: float = 1e-3,
    max_depth_m: float = 80.0,
    crop: npt.NDArray[np.bool_] | None = None,
    median_scaling: bool = False,
    gt_range_m: tuple[float, float] | None = None,
) -> DepthMetrics:
    """Metrics of one prediction against ground truth.

    Args:
        pred_m: (H, W) predicted depth in metres (or up to scale with ``median_scaling``).
        gt_m: (H, W) ground truth metres; NaN / 0 / out-of-range pixels are not evaluated.
        min_depth_m, max_depth_m: evaluation range; predictions are clipped to it (the standard protocol), non-finite
            ones as BTS / AdaBins / ZoeDepth score them: -Inf (REP 117: too close to measure) and NaN (no
            prediction) as ``min_depth_m``, +Inf (too far) as ``max_depth_m``.
        crop: optional (H, W) bool evaluation crop (:func:`garg_crop_mask`, :func:`eigen_crop_mask_nyu`).
        median_scaling: multiply the prediction by :func:`median_scale` first.
        gt_range_m: open range of ground truth evaluated when it differs from the prediction clip range, e.g.
            ``(0, inf)`` for monodepth2's ``eigen_benchmark`` (``gt > 0``, predictions still clipped to 1e-3..80 m).

    Returns:
        :class:`DepthMetrics` with ``count=1``, or ``NAN_METRICS`` (count 0) when no pixel is valid.
    """
    if pred_m.shape != gt_m.shape:
        msg = f"prediction {pred_m.shape} and ground truth {gt_m.shape} differ in shape"
        raise ShapeError(msg)
    mask = valid_mask(gt_m, *(gt_range_m or (min_depth_m, max_depth_m)))
    if crop is not None:
        mask &= crop
    if not mask.any():
        return NAN_METRICS
    pred = np.asarray(pred_m, dtype=np.float64)
    if median_scaling:
        pred = pred * median_scale(pred, np.asarray(gt_m, dtype=np.float64), mask)
    p = pred[mask]
    p = np.clip(np.where(np.isnan(p), min_depth_m, p), min_depth_m, max_depth_m)  # ±Inf: clipped to the caps
    g = np.asarray(gt_m, dtype=np.float64)[mask]
    ratio = np.maximum(p / g, g / p)
    diff = p - g
    log_diff = np.log(p) - np.log(g)
    return DepthMetrics(
        abs_rel=float(np.mean(np.abs(diff) / g)),
        sq_rel=float(np.mean(diff**2 / g)),
        rmse=float(np.sqrt(np.mean(diff**2))),
        rmse_log=float(np.sqrt(np.mean(log_diff**2))),
        log10=float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        a1=float(np.mean(ratio < 1.25)),
        a2=float(np.mean(ratio < 1.25**2)),
        a3=float(np.mean(ratio < 1.25**3)),
        silog=100.0 * float(np.sqrt(max(np.mean(log_diff**2) - np.mean(log_diff) ** 2, 0.0))),
        irmse=float(np.sqrt(np.mean((1000.0 / p - 1000.0 / g) ** 2))),
    )


def mean_metrics(per_image: Iterable[DepthMetrics]) -> DepthMetrics:
    """Mean over images that had valid pixels (``count > 0``); ``NAN_METRICS`` if none had."""
    valid = [m for m in per_image if m.count > 0]
    if not valid:
        return NAN_METRICS
    values = {name: float(np.mean([getattr(m, name) for m in valid])) for name in METRIC_NAMES}
    return DepthMetrics(**values, count=len(valid))
