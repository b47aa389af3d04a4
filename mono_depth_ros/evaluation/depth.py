"""Evaluate depth predictions or a checkpoint under a named protocol (the two KITTI protocols are kept apart).

Protocols (:data:`PROTOCOLS`), each fixing ground truth, crop, range and scaling so that numbers from different
protocols never share a table row:

* ``kitti_eigen_velodyne``: raw Velodyne GT, Garg crop, 1e-3..80 m, **per-image median scaling** — the protocol of
  self-supervised papers (monodepth2 ``evaluate_depth.py``).
* ``kitti_improved``: annotated (accumulated, cleaned) GT, Garg crop, 1e-3..80 m, **no scaling** — metric models
  (the pixels of BTS ``bts_eval.py`` on the 652 frames: the Garg crop of the full frame; the network is fed the full
  frame, where BTS feeds the 352×1216 KB crop and pads its prediction back: ``kitti_improved_kb_input``).
* ``kitti_improved_kb_input``: BTS ``bts_eval.py --do_kb_crop --garg_crop``, the protocol of its published KITTI
  figures: the network fed the 352×1216 KB crop, its prediction put back into the full frame, scored on the Garg crop
  of the full frame (inside the KB crop at KITTI's raw sizes; :func:`kb_input_samples`).
* ``kitti_improved_kb``: the same with ZoeDepth / AdaBins / Depth Anything V1's crop: image and GT cut to the
  352×1216 KITTI benchmark crop (the network sees the cut image), then the Garg crop of that
  (:func:`~.metrics.garg_kb_crop_mask`): the protocol of their published KITTI figures.
* ``kitti_eigen_benchmark``: annotated GT, **no crop**, every pixel with GT > 0, predictions clipped to 1e-3..80 m,
  no scaling — monodepth2 ``evaluate_depth.py --eval_split eigen_benchmark`` (add ``--scaling median`` for the
  self-supervised rows of its table).
* ``kitti_devkit``: annotated GT as the KITTI depth devkit scores ``depth_selection/val_selection_cropped``
  (``evaluate_depth.cpp``): every pixel with GT > 0, no crop, **no 80 m cap** (predictions clipped only to what its
  uint16 PNG holds, 1/256..65535/256 m: 0.0039..255.996 m), no scaling.
* ``nyu``: Kinect GT, Eigen crop, 1e-3..10 m; scaling ``auto``.
* ``synthetic``: exact rendered depth, no crop, 1e-3..80 m; scaling ``auto``.
* ``folder``: the folder's depth/ (``--dataset folder``), no crop, 1e-3..80 m (``--max-depth`` for another cap);
  scaling ``auto``.

Scaling ``auto`` follows the model's output kind: ``metric`` none, ``depth_up_to_scale`` per-image median,
``relative_inverse`` per-image least-squares scale and shift in inverse depth (MiDaS / Depth Anything),
``affine_depth`` per-image least-squares scale and shift in depth (``affine``: Marigold, Prompt Depth Anything
without its prompt); those two take no other scaling. A scaling can be forced on the depth kinds (under
``affine_inverse`` a depth is fitted as ``1 / depth``; ``affine`` fits scale and shift of the depth itself,
Marigold's ``least_square``), and the report always states the one used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.frame_hints import PROMPT_DEPTH, FrameHints
from mono_depth_ros.evaluation.metrics import (
    KB_CROP_HW,
    KB_CROP_WHOLE_FRAME,
    METRIC_NAMES,
    DepthMetrics,
    compute_metrics,
    eigen_crop_mask_kitti,
    eigen_crop_mask_nyu,
    eigen_kb_crop_mask,
    garg_crop_mask,
    garg_kb_crop_mask,
    kb_crop_offsets,
    mean_metrics,
    median_scale,
    valid_mask,
)
from mono_depth_ros.evaluation.samples import EvalSample, kb_cropped
from mono_depth_ros.models.spec import OutputKind

SCALINGS = ("none", "median", "affine", "affine_inverse", "auto")
CROPS = (
    "none",
    "garg",
    "garg_kb",
    "garg_kb_input",
    "eigen_kitti",
    "eigen_kitti_kb",
    "eigen_kitti_kb_input",
    "eigen_nyu",
)
KB_CROPS = ("garg_kb", "eigen_kitti_kb")
"""Crops of the 352×1216 KB crop: the network sees the cut image (:func:`.samples.kb_cropped`)."""
KB_INPUT_CROPS = {"garg_kb_input": "garg", "eigen_kitti_kb_input": "eigen_kitti"}
"""Crops of the whole frame whose network is fed the 352×1216 KB crop, its prediction put back into the frame (BTS
``bts_eval.py --do_kb_crop`` with ``--garg_crop`` / ``--eigen_crop``, :func:`kb_input_samples`): each with the
whole-frame crop it scores (whose ``<crop>_kb`` takes the same fractions of the cut)."""
Predictor = Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.float32]]
CameraPredictor = Callable[
    [npt.NDArray[np.uint8], PinholeIntrinsics | None, tuple[int, int] | None], npt.NDArray[np.float32]
]


@dataclass(frozen=True)
class Protocol:
    """How predictions are compared with ground truth.

    Attributes:
        name: table label.
        ground_truth: which ground truth it expects (documentation; the dataset loader provides it).
        min_depth_m, max_depth_m: evaluated GT range; predictions are clipped to it (``0 < min < max``).
        crop: ``none`` | ``garg`` (KITTI) | ``garg_kb`` (KITTI, ZoeDepth's: the frame cut to 352×1216 first) |
            ``garg_kb_input`` (KITTI, BTS's: ``garg`` of the frame, the network fed the 352×1216 cut) |
            ``eigen_kitti`` (BTS ``--eigen_crop``) | ``eigen_kitti_kb`` (Marigold's: of the 352×1216 cut) |
            ``eigen_kitti_kb_input`` (BTS ``--eigen_crop --do_kb_crop``: ``eigen_kitti`` of the frame, the network
            fed the 352×1216 cut) | ``eigen_nyu``.
        scaling: ``none`` | ``median`` | ``affine`` | ``affine_inverse`` | ``auto`` (by output kind).
        gt_range_m: open range of evaluated ground truth when it is not ``(min_depth_m, max_depth_m)``
            (``(0, inf)``: monodepth2's ``eigen_benchmark`` mask ``gt > 0``).
    """

    name: str
    ground_truth: str
    min_depth_m: float
    max_depth_m: float
    crop: str
    scaling: str
    gt_range_m: tuple[float, float] | None = None

    @property
    def gt_range(self) -> tuple[float, float]:
        """The open range of ground truth that is evaluated."""
        return self.gt_range_m or (self.min_depth_m, self.max_depth_m)

    def __post_init__(self) -> None:
        if self.crop not in CROPS or self.scaling not in SCALINGS or not self.min_depth_m < self.max_depth_m:
            msg = f"bad protocol {self}: crop in {CROPS}, scaling in {SCALINGS}, min < max"
            raise ConfigError(msg)
        if self.min_depth_m <= 0:
            msg = (
                f"protocol {self.name}: min depth {self.min_depth_m:g} m must be > 0 (predictions are clipped to it, "
                f"and a 0 m prediction has an infinite log and inverse error); use 1e-3, the published protocols' value"
            )
            raise ConfigError(msg)


KITTI_PNG_MIN_M = 1.0 / 256.0
"""The smallest depth a KITTI uint16 depth PNG holds (value 1; 0 marks a missing pixel, which the devkit fills from
its neighbours): its ``writeDepthMap`` writes ``max(d * 256, 1)``, so a prediction below it is scored as it."""
KITTI_PNG_MAX_M = 65535.0 / 256.0
"""The largest depth a KITTI uint16 depth PNG holds (metres = value / 256): the devkit reads predictions from such
files, so it scores none beyond it and caps none below it."""
PROTOCOLS: dict[str, Protocol] = {
    "kitti_eigen_velodyne": Protocol("kitti_eigen_velodyne", "raw Velodyne", 1e-3, 80.0, "garg", "median"),
    "kitti_improved": Protocol("kitti_improved", "annotated (improved) KITTI depth", 1e-3, 80.0, "garg", "none"),
    "kitti_improved_kb": Protocol(
        "kitti_improved_kb", "annotated (improved) KITTI depth", 1e-3, 80.0, "garg_kb", "none"
    ),
    "kitti_improved_kb_input": Protocol(
        "kitti_improved_kb_input", "annotated (improved) KITTI depth", 1e-3, 80.0, "garg_kb_input", "none"
    ),
    "kitti_eigen_benchmark": Protocol(
        "kitti_eigen_benchmark", "annotated (improved) KITTI depth", 1e-3, 80.0, "none", "none", (0.0, float("inf"))
    ),
    "kitti_devkit": Protocol(
        "kitti_devkit",
        "annotated KITTI depth (devkit)",
        KITTI_PNG_MIN_M,
        KITTI_PNG_MAX_M,
        "none",
        "none",
        (0.0, float("inf")),
    ),
    "nyu": Protocol("nyu", "NYU Depth V2 Kinect", 1e-3, 10.0, "eigen_nyu", "auto"),
    "synthetic": Protocol("synthetic", "exact rendered depth", 1e-3, 80.0, "none", "auto"),
    "folder": Protocol("folder", "the folder's depth/", 1e-3, 80.0, "none", "auto"),
}
DEFAULT_PROTOCOL = {
    "kitti_velodyne": "kitti_eigen_velodyne",
    "kitti_annotated": "kitti_improved",
    "kitti_depth_selection": "kitti_devkit",
    "kitti_eigen": "kitti_eigen_velodyne",
    "kitti_eigen_benchmark": "kitti_eigen_benchmark",
    "nyu": "nyu",
    "folder": "folder",
}


@dataclass(frozen=True)
class EvalReport:
    """Result of one evaluation.

    Attributes:
        protocol: the protocol used (``scaling`` resolved: never ``auto``).
        output_kind: the model's output kind.
        mean: metrics averaged over images with valid GT.
        per_image: (sample name, metrics) in input order.
        gt_over_pred_median: per image median(gt) / median(pred) over evaluated pixels before scaling (1 = metric
            scale right; relative_inverse, affine_depth: after their alignment); NaN where undefined.
    """

    protocol: Protocol
    output_kind: OutputKind
    mean: DepthMetrics
    per_image: tuple[tuple[str, DepthMetrics], ...]
    gt_over_pred_median: tuple[float, ...]

    @property
    def median_gt_over_pred(self) -> float:
        """The median over images of :attr:`gt_over_pred_median` (NaN where no image has one): the mean row's."""
        finite = [r for r in self.gt_over_pred_median if np.isfinite(r)]
        return float(np.median(finite)) if finite else float("nan")

    @property
    def gt_over_pred_std(self) -> float:
        """monodepth2's ``std(ratios / median)`` over the images' :attr:`gt_over_pred_median` (0 = the same scale
        error in every image; NaN where no image has a ratio)."""
        finite = np.array([r for r in self.gt_over_pred_median if np.isfinite(r)])
        return float(np.std(finite / np.median(finite))) if finite.size else float("nan")

    def format_table(self) -> str:
        """Fixed-width text: a header naming protocol, scaling, how many images the mean scored (the others: no
        valid pixel) and monodepth2's scaling-ratio stats, then one metrics row per image (NaN: no valid pixel) and
        the mean."""
        p = self.protocol
        width = max([16, *(len(name) + 1 for name, _ in self.per_image)])  # the names' column
        gt_range = "" if p.gt_range_m is None else f"GT in ({p.gt_range[0]:g}, {p.gt_range[1]:g}) m, "
        lines = [
            f"protocol {p.name} (GT: {p.ground_truth}; crop {p.crop}; {gt_range}{p.min_depth_m:g}-{p.max_depth_m:g} m; "
            f"scaling {p.scaling}; output {self.output_kind.value}; {len(self.per_image)} images, "
            f"{self.mean.count} scored; gt/pred median {self.median_gt_over_pred:.3f}, std(ratio / median) "
            f"{self.gt_over_pred_std:.3f})",
            f"{'image':<{width}}" + "".join(f"{n:>10}" for n in METRIC_NAMES) + f"{'gt/pred':>10}",
        ]
        rows = [*self.per_image, ("mean", self.mean)]
        ratios = [*self.gt_over_pred_median, self.median_gt_over_pred]
        for (name, m), ratio in zip(rows, ratios, strict=True):
            values = "".join(f"{getattr(m, n):>10.4f}" for n in METRIC_NAMES)
            lines.append(f"{name:<{width}}" + values + f"{ratio:>10.3f}")
        return "\n".join(lines) + "\n"


def resolve_scaling(scaling: str, output_kind: OutputKind) -> str:
    """``auto`` -> the scaling an output kind needs; refuses any other scaling of the kinds up to scale and shift
    (relative inverse depth: ``affine_inverse`` only; affine depth: ``affine`` only)."""
    needed = {
        OutputKind.METRIC: "none",
        OutputKind.DEPTH_UP_TO_SCALE: "median",
        OutputKind.AFFINE_DEPTH: "affine",
    }.get(output_kind, "affine_inverse")
    if scaling == "auto":
        return needed
    if output_kind.has_shift and scaling != needed:
        msg = (
            f"a model of output kind {output_kind.value} has no depth scale or shift: evaluate it with --scaling "
            f"{needed}, not {scaling}"
        )
        raise ConfigError(msg)
    return scaling


def crop_mask(crop: str, height: int, width: int) -> npt.NDArray[np.bool_] | None:
    """The (H, W) evaluation crop of a protocol (None for ``none``)."""
    if crop in KB_INPUT_CROPS:  # the frame's crop, scored on the prediction of the KB crop put back
        crop = KB_INPUT_CROPS[crop]
    if crop == "garg":
        return garg_crop_mask(height, width)
    if crop == "garg_kb":
        return garg_kb_crop_mask(height, width)
    if crop == "eigen_kitti":
        return eigen_crop_mask_kitti(height, width)
    if crop == "eigen_kitti_kb":
        return eigen_kb_crop_mask(height, width)
    if crop == "eigen_nyu":
        return eigen_crop_mask_nyu(height, width)
    return None


def align_inverse_depth(
    pred_inverse: npt.NDArray[np.floating], gt_m: npt.NDArray[np.floating], mask: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """Least-squares ``s·pred + t ≈ 1 / gt`` over the ``mask`` pixels where the prediction is finite (MiDaS / Depth
    Anything: alignment in inverse depth); returns depth ``1 / (s·pred + t)``, +Inf where the aligned inverse depth
    is <= 0 (beyond infinity: the far cap, as MiDaS' ``1 / max(aligned, 1 / max_depth)`` and Marigold's disparity
    clip score it), NaN where the prediction is NaN / ±Inf (no depth: scored as the references score NaN, the near
    cap), all NaN when no pixel can be fitted."""
    x = np.asarray(pred_inverse, dtype=np.float64)
    fit = mask & np.isfinite(x)
    if not fit.any():
        return np.full(x.shape, np.nan)
    a = np.stack([x[fit], np.ones(int(fit.sum()))], axis=1)
    (s, t), *_ = np.linalg.lstsq(a, 1.0 / np.asarray(gt_m, dtype=np.float64)[fit], rcond=None)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = s * x + t
        return np.where(np.isfinite(inverse), np.where(inverse > 0, 1.0 / inverse, np.inf), np.nan)


def align_depth(
    pred_m: npt.NDArray[np.floating], gt_m: npt.NDArray[np.floating], mask: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """Least-squares ``s·pred + t ≈ gt`` in depth over the ``mask`` pixels where the prediction is finite (Marigold's
    ``least_square`` alignment); returns ``s·pred + t`` where the prediction is finite, its NaN / ±Inf marks as they
    are (REP 117: +Inf too far, -Inf too close, NaN none), unchanged when no pixel can be fitted."""
    x = np.asarray(pred_m, dtype=np.float64)
    fit = mask & np.isfinite(x)
    if not fit.any():
        return x
    a = np.stack([x[fit], np.ones(int(fit.sum()))], axis=1)
    (s, t), *_ = np.linalg.lstsq(a, np.asarray(gt_m, dtype=np.float64)[fit], rcond=None)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(x), s * x + t, x)


def inverse_prediction(pred: npt.NDArray[np.float64], output_kind: OutputKind) -> npt.NDArray[np.float64]:
    """What :func:`align_inverse_depth` fits: a relative inverse prediction as it is, a depth kind's ``1 / depth``
    (+Inf depth -> 0; NaN where the depth is NaN or not positive)."""
    if output_kind is OutputKind.RELATIVE_INVERSE:
        return pred
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pred > 0, 1.0 / pred, np.nan)


def evaluate_predictions(
    pairs: Iterable[tuple[str, npt.NDArray[np.floating], npt.NDArray[np.floating]]],
    protocol: Protocol,
    output_kind: OutputKind,
) -> EvalReport:
    """Metrics of (name, prediction, ground truth) triples under ``protocol``.

    Raises:
        ShapeError: a prediction of another size than its GT; under a crop of :data:`KB_INPUT_CROPS` one that is not of
            the 352×1216 KB crop (a prediction of the whole frame: ``--crop garg``), or a frame without that KB crop
            (:func:`kb_input_offset`).

    Args:
        pairs: (name, (H, W) prediction in the unit of ``output_kind``, (H, W) GT metres with NaN invalid); under a
            crop of :data:`KB_INPUT_CROPS` (BTS's) the prediction is of the 352×1216 KB crop the network was fed, put
            back into the frame here (:func:`kb_input_prediction`).
        protocol: crop, range and scaling (``auto`` is resolved with ``output_kind``).
        output_kind: what the predictions mean.
    """
    scaling = resolve_scaling(protocol.scaling, output_kind)
    resolved = replace(protocol, scaling=scaling)
    per_image: list[tuple[str, DepthMetrics]] = []
    ratios: list[float] = []
    for name, pred, gt in pairs:
        if protocol.crop in KB_INPUT_CROPS:  # BTS: a prediction of the KB crop, put back into the frame
            if pred.shape != KB_CROP_HW:
                msg = (
                    f"{name!r}: --crop {protocol.crop} (protocol {protocol.name}) scores a prediction of the "
                    f"{KB_CROP_HW[0]}x{KB_CROP_HW[1]} KB crop put back into the frame, as BTS feeds its network; "
                    f"got a {pred.shape} prediction for a {gt.shape} ground truth: predict the KB crop "
                    f"(evaluate_samples / evaluate_checkpoint feed it), or take --crop {KB_INPUT_CROPS[protocol.crop]} "
                    f"(protocol kitti_improved) for a prediction of the whole frame"
                )
                raise ShapeError(msg)
            height, width = gt.shape
            pred = kb_input_prediction(pred, kb_input_offset(name, height, width, protocol.crop), (height, width))
        if pred.shape != gt.shape:
            msg = f"{name!r}: prediction {pred.shape} and ground truth {gt.shape} differ in size; predict at the GT's"
            raise ShapeError(msg)
        crop = crop_mask(protocol.crop, *gt.shape)
        mask = valid_mask(gt, *protocol.gt_range) & (True if crop is None else crop)
        depth = np.asarray(pred, dtype=np.float64)
        # gt/pred before any scaling; a prediction up to scale and shift has no depth before its alignment
        ratios.append(median_scale(depth, gt, mask) if not output_kind.has_shift else np.nan)
        if scaling == "affine_inverse" and mask.any():
            depth = align_inverse_depth(inverse_prediction(depth, output_kind), gt, mask)
        elif scaling == "affine" and mask.any():
            depth = align_depth(depth, gt, mask)
        if output_kind.has_shift:
            ratios[-1] = median_scale(depth, gt, mask)
        metrics = compute_metrics(
            depth, gt, protocol.min_depth_m, protocol.max_depth_m, crop, scaling == "median", protocol.gt_range_m
        )
        per_image.append((name, metrics))
    return EvalReport(resolved, output_kind, mean_metrics(m for _, m in per_image), tuple(per_image), tuple(ratios))


def checkpoint_backend(checkpoint: str | Path) -> str:
    """The backend that opens ``checkpoint``: ``transformers`` for a directory, else by its suffix as a distillation
    teacher's (:func:`~mono_depth_ros.training.distillation.teacher.infer_backend`: onnx, torchscript, torch)."""
    if Path(checkpoint).is_dir():
        return "transformers"
    from mono_depth_ros.training.distillation.teacher import infer_backend

    return infer_backend(Path(checkpoint))


EVAL_EDGE_RATIO = math.inf
"""The upsampling edge threshold of :func:`checkpoint_predictor`: none (``inf``), every 2×2 cell of finite output
values is interpolated bilinearly, zeros and negative values included (a relative head's ReLU zeros in the sky, an
affine output's negatives: valid values the references blend), as monodepth2 (``cv2.resize``), ZoeDepth
(``F.interpolate(mode='bilinear')``) and MiDaS / Depth Anything / Marigold resize a prediction to the GT; the node's
1.1 takes the nearest value across depth edges (no flying pixels in its cloud), which scores another map. Cells with
a NaN or an infinite value (a sky head's +Inf) keep the nearest value, as in the node; a depth kind's blended value
<= 0 is then NaN (scored at the near cap, as ZoeDepth clips it)."""


def checkpoint_predictor(checkpoint: str | Path, device: str = "cpu") -> tuple[CameraPredictor, OutputKind]:
    """The node's inference path (:class:`~mono_depth_ros.models.inference.DepthEstimator`) for a checkpoint: a
    project ``.safetensors`` file (backend ``torch``), a Hugging Face depth directory (backend ``transformers``), or
    a model made elsewhere with its spec beside it (``.onnx``: ``onnx``; ``.pt`` / ``.pth`` / ``.ts`` / ``.jit``:
    ``torchscript``, see ``mono-depth spec``), except the resize to the GT size: bilinear (:data:`EVAL_EDGE_RATIO`),
    as the references resize, not the node's nearest value across depth edges.

    Models that take the camera get the sample's focal length, as the node hands them camera_info (Depth Pro's
    metres, ``metric_focal``); none gets a LiDAR prompt (on KITTI the LiDAR is the ground truth), so a Prompt Depth
    Anything is evaluated as the relative model it is without one (``affine_depth``: transformers maps its output to
    metres with the prompt's minimum and maximum, so without a prompt it is depth up to scale and shift).

    Returns:
        ``(predict, output_kind)``: ``predict(rgb (H, W, 3) uint8, intrinsics of rgb or None, out_hw or None) ->
        float32`` at ``out_hw`` (None: the camera resolution), resized bilinearly from the network's output (in the
        output's own unit: depth, or inverse depth for ``relative_inverse``).
    """
    from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig

    backend = checkpoint_backend(checkpoint)
    config = EstimatorConfig(device=device, warmup_runs=0, edge_ratio=EVAL_EDGE_RATIO)
    estimator = DepthEstimator.open(backend, checkpoint, config)

    def predict(
        rgb: npt.NDArray[np.uint8], intrinsics: PinholeIntrinsics | None = None, out_hw: tuple[int, int] | None = None
    ) -> npt.NDArray[np.float32]:
        hints = None if intrinsics is None else FrameHints(focal_px=(intrinsics.fx, intrinsics.fy))
        return estimator.predict(rgb, out_hw, hints=hints).values

    unprompted = PROMPT_DEPTH in estimator.frame_inputs
    return predict, OutputKind.AFFINE_DEPTH if unprompted else estimator.output_kind


def ground_truth_hw(sample: EvalSample) -> tuple[int, int]:
    """The (height, width) a prediction of ``sample`` is scored at: its ground truth's, which may be the image's
    resized (monodepth2 and ZoeDepth resize the prediction to the GT), never another aspect ratio (a crop).

    Raises:
        ShapeError: the GT's aspect ratio differs from the image's by more than one pixel of rounding.
    """
    (height, width), (image_h, image_w) = sample.gt_depth_m.shape, sample.rgb.shape[:2]
    if abs(height / image_h - width / image_w) > 1.0 / height + 1.0 / width:
        msg = (
            f"{sample.name!r}: ground truth {(height, width)} is not a resize of its image {(image_h, image_w)} "
            f"(another aspect ratio: a crop, or depth not registered to the colour camera); crop the image as the "
            f"ground truth was cropped, or register the depth to the image (e.g. RealSense depth aligned to colour)"
        )
        raise ShapeError(msg)
    return height, width


NYU_EIGEN_CUT_HW = (427, 561)
"""NYU frames already cut to the Eigen crop (MATLAB's inclusive rows 45-471, cols 41-601 of 480×640), as the
Eigen-cropped copies users train on ship them: the whole frame is the crop."""


def is_nyu_eigen_cut(height: int, width: int) -> bool:
    """Whether an image of ``height`` × ``width`` is :data:`NYU_EIGEN_CUT_HW` or a resize of it (within a pixel),
    and nearer its aspect than a whole frame's 3:4: the two differ by 1.5 %, less than a pixel below ~230 rows, so a
    whole frame resized to 192×256 or 96×128 is within a pixel of both and keeps the crop."""
    cut_h, cut_w = NYU_EIGEN_CUT_HW
    aspect = height / width
    nearer_cut = abs(aspect - cut_h / cut_w) < abs(aspect - 480.0 / 640.0)
    return nearer_cut and abs(height / cut_h - width / cut_w) <= 1.0 / height + 1.0 / width


def nyu_crop_of(sizes: Iterable[tuple[int, int]]) -> str:
    """The crop that scores NYU's Eigen pixels on images of ``sizes`` ((height, width) each): ``none`` when every one
    is already cut to it (:func:`is_nyu_eigen_cut`: cutting it again would drop another 10 % of the border), else
    ``eigen_nyu`` (whose fractions :func:`check_nyu_frames` checks where a protocol names them)."""
    listed = list(sizes)
    return "none" if listed and all(is_nyu_eigen_cut(h, w) for h, w in listed) else "eigen_nyu"


def check_nyu_frames(samples: Sequence[EvalSample], protocol: str = "nyu") -> None:
    """Refuse the NYU Eigen crop (rows 45:471, cols 41:601 of 480×640, :func:`~.metrics.eigen_crop_mask_nyu`) on
    frames whose image is not NYU's 480×640 or a resize of it keeping its 3:4 aspect: the crop cuts NYU's Kinect
    border, and scaled to another camera's frame (a KITTI 375×1242: rows 35:367, cols 79:1166) it is no reference's.
    Frames already cut to it (427×561, :func:`nyu_crop_of`) are scored whole instead, by evaluation and training
    validation alike. (Training validation scores other frames declared ``nyu`` with the crop's fractions.)

    Args:
        samples: the frames to score; protocol: the protocol whose crop it is (named in the error).

    Raises:
        ShapeError: the first such sample, named with its size and the way out.
    """
    for sample in samples:
        height, width = sample.rgb.shape[:2]
        if abs(height / 480.0 - width / 640.0) > 1.0 / height + 1.0 / width:  # more than a pixel of rounding
            cut_h, cut_w = NYU_EIGEN_CUT_HW
            if is_nyu_eigen_cut(height, width):  # among frames that are not (nyu_crop_of kept the crop for all)
                msg = (
                    f"{sample.name!r}: {height}x{width} is NYU already cut to the Eigen crop ({cut_h}x{cut_w}, scored "
                    f"whole when every frame is), among frames not cut (NYU's 480x640, which the crop eigen_nyu of "
                    f"protocol {protocol} cuts): score the cut copies and the others apart (two --data folders), or "
                    f"pass --crop none to score every frame whole"
                )
                raise ShapeError(msg)
            msg = (
                f"{sample.name!r}: the NYU Eigen crop (crop eigen_nyu, protocol {protocol}) is defined on NYU's "
                f"480x640 frames (or a resize of them; copies already cut to it, {cut_h}x{cut_w}, are scored whole), "
                f"got {height}x{width}; check that --data holds NYU frames, or pass --crop none (another camera) or "
                f"--crop garg (KITTI frames: --dataset kitti_annotated)"
            )
            raise ShapeError(msg)


KITTI_CROPS = ("garg", "garg_kb", "garg_kb_input", "eigen_kitti", "eigen_kitti_kb", "eigen_kitti_kb_input")
"""The crops defined on KITTI's frames (the rest: ``none``, and ``eigen_nyu`` on NYU's, :func:`check_nyu_frames`)."""
KITTI_ASPECT = (3.0, 3.8)
"""Width / height of KITTI frames: 3.30-3.31 raw (375×1242, 370×1224, ...), 3.45 KB-cut (352×1216), 3.74 KITTI-360
(376×1408), 3.2-3.33 the resizes networks are fed (320×1024, 192×640). monodepth2 and BTS score the GT at the size
it was recorded (the prediction resized to it), never a GT resized to 256×512; 2:1 and narrower (NYU's 1.33, a
16:9 camera's 1.78, Cityscapes' 2.0, DrivingStereo's 2.2) are no KITTI frames."""


def check_kitti_frames(samples: Sequence[EvalSample], crop: str) -> None:
    """Refuse a KITTI crop (:data:`KITTI_CROPS`: Garg's rows 40.8-99.2 %, Eigen's 33.2-91.4 %, cols 3.6-96.4 %) on
    frames whose image is not KITTI-wide (width / height outside :data:`KITTI_ASPECT`): the fractions were taken of
    KITTI's road frames, and on an NYU 480×640 room they cut away its upper 41 % (Garg: rows 195:476), no
    reference's protocol (ZoeDepth / BTS score NYU with the Eigen NYU crop, KITTI with Garg's). KITTI-360's frames
    are taken; a KITTI GT resized to 2:1 is not (the references score the GT at the size it was recorded).

    Raises:
        ShapeError: the first such sample, named with its size, the crop and the one that fits.
    """
    low, high = KITTI_ASPECT
    for sample in samples:
        height, width = sample.rgb.shape[:2]
        if not low <= width / height <= high:
            nyu = abs(height / 480.0 - width / 640.0) <= 1.0 / height + 1.0 / width  # NYU's 3:4 (a resize of it)
            other = "--crop none (another camera)"
            fits = "--crop eigen_nyu (NYU frames: --dataset nyu, protocol nyu)" if nyu else other
            msg = (
                f"{sample.name!r}: the KITTI crop {crop} (--crop {crop}) is defined on KITTI's frames (375x1242, the "
                f"352x1216 KB cut, KITTI-360's 376x1408, or a resize of them: width / height {low:g}-{high:g}), got "
                f"{height}x{width}; check that --data holds KITTI frames at the size it was recorded (monodepth2 and "
                f"BTS score the GT there, the prediction resized to it), or pass {fits}"
            )
            raise ShapeError(msg)


def kb_input_offset(name: str, height: int, width: int, crop: str) -> tuple[int, int]:
    """``(top, left)`` of the 352×1216 KB crop the network is fed in a (height, width) frame under a crop of
    :data:`KB_INPUT_CROPS` (BTS ``bts_eval.py --do_kb_crop``), checked to hold every pixel the crop scores.

    Raises:
        ShapeError: a frame smaller than 352×1216 (:func:`.metrics.kb_crop_offsets`, naming ``--crop garg``), or one
            whose scored crop (the Garg / Eigen crop of the whole frame) reaches outside the KB crop: for Garg's
            taller than about 594 or wider than about 1310 pixels, where BTS scores the zeros it pads (KITTI's raw
            frames, 370-376 × 1224-1242, are not).
    """
    top, left = kb_crop_offsets(height, width, crop)
    whole = KB_INPUT_CROPS[crop]
    scored = crop_mask(whole, height, width)
    window = np.zeros((height, width), dtype=bool)
    window[top : top + KB_CROP_HW[0], left : left + KB_CROP_HW[1]] = True
    if scored is not None and (scored & ~window).any():
        rows, cols = np.flatnonzero(scored.any(axis=1)), np.flatnonzero(scored.any(axis=0))
        msg = (
            f"{name!r}: --crop {crop} scores the {KB_INPUT_CROPS[crop]} crop of the whole {height}x{width} "
            f"frame (rows {rows[0]}:{rows[-1] + 1}, cols {cols[0]}:{cols[-1] + 1}), which reaches outside the "
            f"{KB_CROP_HW[0]}x{KB_CROP_HW[1]} KB crop the network is fed (rows {top}:{top + KB_CROP_HW[0]}, cols "
            f"{left}:{left + KB_CROP_HW[1]}): not a raw KITTI frame (375x1242); pass --crop {whole}_kb (the "
            f"{KB_CROP_WHOLE_FRAME[crop][0]} crop of the KB crop) or --crop {whole} (the network fed the whole frame)"
        )
        raise ShapeError(msg)
    return top, left


def kb_input_samples(samples: Sequence[EvalSample], crop: str) -> list[tuple[EvalSample, tuple[int, int]]]:
    """What the network is fed under a crop of :data:`KB_INPUT_CROPS` (BTS ``bts_eval.py --do_kb_crop``): each sample
    cut to the 352×1216 KB crop (:func:`.samples.kb_cropped`: image, GT and camera), with the cut's ``(top, left)``
    in the frame; checked once, before the model runs.

    Raises:
        ShapeError: GT of another size than its image (:func:`.samples.kb_cropped`, naming ``--crop garg``), or a
            frame without the KB crop BTS feeds (:func:`kb_input_offset`).
    """
    fed = []
    for sample in samples:
        cut = kb_cropped(sample, crop)
        height, width = sample.gt_depth_m.shape
        fed.append((cut, kb_input_offset(sample.name, height, width, crop)))
    return fed


def kb_input_prediction(
    prediction: npt.NDArray[np.floating], offset: tuple[int, int], frame_hw: tuple[int, int]
) -> npt.NDArray[np.float64]:
    """A prediction of the KB crop put back at ``offset`` (top, left) into a ``frame_hw`` frame, NaN elsewhere (no
    prediction: scored at the near cap, as BTS scores the zeros it pads; :func:`kb_input_offset` keeps every scored
    pixel inside the crop)."""
    frame = np.full(frame_hw, np.nan, dtype=np.float64)
    top, left = offset
    frame[top : top + prediction.shape[0], left : left + prediction.shape[1]] = prediction
    return frame


def check_ground_truth_in_range(samples: Sequence[EvalSample], protocol: Protocol) -> None:
    """Refuse samples none of which has a ground-truth pixel ``protocol`` scores (its GT range inside its crop),
    saying what the ground truth holds: usually a unit error (millimetres read as metres, a wrong PNG scale).

    Raises:
        ConfigError: no scorable pixel in any sample (nothing is checked for an empty list).
    """
    for sample in samples:
        crop = crop_mask(protocol.crop, *sample.gt_depth_m.shape)
        if (valid_mask(sample.gt_depth_m, *protocol.gt_range) & (True if crop is None else crop)).any():
            return
    if not samples:
        return
    with np.errstate(invalid="ignore"):
        held = np.concatenate([s.gt_depth_m[np.isfinite(s.gt_depth_m) & (s.gt_depth_m > 0)] for s in samples])
    low, high = protocol.gt_range
    if held.size == 0:
        msg = (
            f"no ground truth at all in {len(samples)} image(s): every GT pixel is 0, NaN, Inf or negative; check "
            f"that the depth files are the right ones"
        )
    else:
        msg = (
            f"no ground-truth pixel of {len(samples)} image(s) is scored by protocol {protocol.name} "
            f"({low:g} < GT < {high:g} m, crop {protocol.crop}): the GT holds {held.size} positive values, median "
            f"{float(np.median(held)):g} m ({float(held.min()):g}-{float(held.max()):g} m); check their unit "
            f"(--png-scale: PNG values per metre; .npy / .npz hold metres) or pass --max-depth / --min-depth"
        )
    raise ConfigError(msg)


def evaluate_samples(
    predict: Predictor, output_kind: OutputKind, samples: Sequence[EvalSample], protocol: Protocol
) -> EvalReport:
    """Run ``predict`` on every sample and evaluate under ``protocol``; under a crop of :data:`KB_CROPS` (ZoeDepth's,
    Marigold's) ``predict`` is fed the 352×1216 KB crop of each frame and scored on it (:func:`.samples.kb_cropped`,
    as :func:`evaluate_checkpoint`), under one of :data:`KB_INPUT_CROPS` (BTS's) it is fed that crop
    (:func:`kb_input_samples`, checked before it runs) and must return its depth at that size, put back into the
    frame.

    Raises:
        ShapeError: a KB crop of a frame smaller than 352×1216 or of GT of another size than its image (naming the
            whole-frame crop to take).
    """
    if protocol.crop in KB_CROPS:
        samples = [kb_cropped(s, protocol.crop) for s in samples]
    if protocol.crop in KB_INPUT_CROPS:
        fed = kb_input_samples(samples, protocol.crop)
        pairs = ((s.name, predict(cut.rgb), s.gt_depth_m) for s, (cut, _) in zip(samples, fed, strict=True))
        return evaluate_predictions(pairs, protocol, output_kind)
    return evaluate_predictions(((s.name, predict(s.rgb), s.gt_depth_m) for s in samples), protocol, output_kind)


def evaluate_checkpoint(
    checkpoint: str | Path,
    samples: Sequence[EvalSample],
    protocol: Protocol | str,
    device: str = "cpu",
    scaling: str | None = None,
) -> EvalReport:
    """Evaluate a ``.safetensors`` checkpoint (or a Hugging Face depth directory) on samples.

    Args:
        checkpoint: file written by the trainer (its ModelSpec decides preprocessing and output kind), or a
            transformers depth directory (config.json + weights).
        samples: frames with ground truth (see :mod:`.samples`); each prediction is made at its GT's size
            (:func:`ground_truth_hw`), of the KB-cropped frame under the crops ``garg_kb`` / ``eigen_kitti_kb``
            (:func:`.samples.kb_cropped`, as ZoeDepth / Marigold feed their network); under ``garg_kb_input`` /
            ``eigen_kitti_kb_input`` of the KB-cropped frame at 352×1216, put back into the full frame
            (:func:`kb_input_prediction`, as BTS).
        protocol: a :class:`Protocol` or a key of :data:`PROTOCOLS`.
        device: ``cpu`` | ``cuda`` | ``auto``.
        scaling: force a scaling (None = the protocol's).

    Raises:
        ConfigError: unknown protocol or scaling, no GT pixel the protocol scores (:func:`check_ground_truth_in_range`),
            or a depth_up_to_scale model under a protocol without scaling (``none``) that ``scaling`` does not
            confirm. CheckpointError: unusable checkpoint.
        ShapeError: GT that is not a resize of its image; the NYU crop on frames that are no NYU frames
            (:func:`check_nyu_frames`), a KITTI crop on frames that are no KITTI frames (:func:`check_kitti_frames`),
            ``garg_kb_input`` / ``eigen_kitti_kb_input`` on frames without BTS's KB crop (:func:`kb_input_samples`).
    """
    if isinstance(protocol, str):
        if protocol not in PROTOCOLS:
            msg = f"unknown protocol {protocol!r}; expected one of {sorted(PROTOCOLS)}"
            raise ConfigError(msg)
        protocol = PROTOCOLS[protocol]
    if scaling is not None:
        protocol = replace(protocol, scaling=scaling)
    if protocol.crop in KITTI_CROPS:
        check_kitti_frames(samples, protocol.crop)
    if protocol.crop in KB_CROPS:
        samples = [kb_cropped(s, protocol.crop) for s in samples]
    fed = kb_input_samples(samples, protocol.crop) if protocol.crop in KB_INPUT_CROPS else None
    if protocol.crop == "eigen_nyu":  # frames already cut to it are scored whole, as training validates them
        protocol = replace(protocol, crop=nyu_crop_of((s.rgb.shape[0], s.rgb.shape[1]) for s in samples))
    if protocol.crop == "eigen_nyu":
        check_nyu_frames(samples, protocol.name)
    check_ground_truth_in_range(samples, protocol)
    sizes = [ground_truth_hw(s) for s in samples]  # every frame checked before the model runs
    predict, output_kind = checkpoint_predictor(checkpoint, device)
    if scaling is None and protocol.scaling == "none" and output_kind is OutputKind.DEPTH_UP_TO_SCALE:
        msg = (
            f"protocol {protocol.name} scores metric depth without scaling, and {checkpoint} predicts "
            f"depth_up_to_scale (no metric scale): pass --scaling median (monodepth2's per-image median), or "
            f"--scaling none to score its output as metres anyway"
        )
        raise ConfigError(msg)
    if fed is not None:  # BTS: the network fed the KB crop at its 352×1216, its prediction put back into the frame
        pairs = (  # the prediction of the cut: evaluate_predictions puts it back into the frame
            (s.name, predict(cut.rgb, cut.intrinsics, KB_CROP_HW), s.gt_depth_m)
            for s, (cut, _) in zip(samples, fed, strict=True)
        )
    else:
        pairs = ((s.name, predict(s.rgb, s.intrinsics, hw), s.gt_depth_m) for s, hw in zip(samples, sizes, strict=True))
    return evaluate_predictions(pairs, protocol, output_kind)
