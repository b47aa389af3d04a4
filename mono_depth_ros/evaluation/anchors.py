"""The evaluation protocols side by side with the published figures ("anchors") each one is comparable with.

:func:`protocol_section` renders the Markdown section of ``docs/training_results.md`` from :data:`PROTOCOLS` and
:data:`ANCHORS`, so that the page states exactly what the code does (a test checks that the page holds it). A number
is comparable with an anchor only under the same protocol row: same ground truth, crop, range and scaling.
"""

from __future__ import annotations

from dataclasses import dataclass

from mono_depth_ros.evaluation.depth import PROTOCOLS, Protocol


@dataclass(frozen=True)
class Anchor:
    """One published result.

    Attributes:
        protocol: key of :data:`PROTOCOLS` it was measured under.
        method: model and training (as the source names it).
        source: paper / page the figures come from.
        abs_rel, rmse, a1: AbsRel, RMSE (metres), δ<1.25. sq_rel, rmse_log: NaN where the source gives none.
        scaling: how the source scaled its predictions when that differs from the protocol's (None: the same), e.g.
            monodepth2's stereo models: ``--eval_stereo``, no median scaling, depth × 5.4 (the rig's baseline).
    """

    protocol: str
    method: str
    source: str
    abs_rel: float
    rmse: float
    a1: float
    sq_rel: float = float("nan")
    rmse_log: float = float("nan")
    scaling: str | None = None


ANCHORS: tuple[Anchor, ...] = (
    Anchor("kitti_eigen_velodyne", "Monodepth2 M, ResNet-18, 640×192", "Godard et al., ICCV 2019, Table 1",
           0.115, 4.863, 0.877, 0.903, 0.193),
    Anchor("kitti_eigen_velodyne", "Monodepth2 M, ResNet-18, 1024×320", "Godard et al., ICCV 2019, Table 1",
           0.115, 4.701, 0.879, 0.882, 0.190),
    Anchor("kitti_eigen_velodyne", "Monodepth2 S (stereo), ResNet-18, 640×192", "Godard et al., ICCV 2019, Table 1",
           0.109, 4.960, 0.864, 0.873, 0.209,
           "none (`--eval_stereo`: depth × 5.4, the rig's baseline; compare with `--scaling none`)"),
    Anchor("kitti_improved_kb_input", "BTS DenseNet-161 (bts_eigen_v2_pytorch_densenet161)",
           "BTS pytorch/README.md, Model Zoo, KITTI Eigen split", 0.060, 2.798, 0.955, 0.249, 0.096),
    Anchor("kitti_improved_kb_input", "BTS ResNeXt-101 (bts_eigen_v2_pytorch_resnext101)",
           "BTS pytorch/README.md, Model Zoo, KITTI Eigen split", 0.059, 2.756, 0.956, 0.241, 0.096),
    Anchor("kitti_improved_kb", "ZoeDepth (metric, KITTI)", "Depth Anything metric_depth README (ZoeDepth protocol)",
           0.054, 2.281, 0.971),
    Anchor("kitti_improved_kb", "Depth Anything V1 ViT-L, metric fine-tune on KITTI",
           "Depth Anything metric_depth README (ZoeDepth protocol)", 0.046, 1.896, 0.982),
    Anchor("nyu", "ZoeDepth (metric, NYU)", "Depth Anything metric_depth README (ZoeDepth protocol)",
           0.077, 0.282, 0.951),
    Anchor("nyu", "Depth Anything V1 ViT-L, metric fine-tune on NYU",
           "Depth Anything metric_depth README (ZoeDepth protocol)", 0.056, 0.206, 0.984),
)  # fmt: skip

_USE = {
    "kitti_eigen_velodyne": "`--dataset kitti_eigen` + monodepth2 `splits/eigen/test_files.txt` (697 frames; KITTI "
    "raw images .png as downloaded or monodepth2's .jpg copies); "
    "`--dataset kitti_velodyne` (object layout image_2/, velodyne/, calib/: the same projection)",
    "kitti_eigen_benchmark": "`--dataset kitti_eigen_benchmark` + `splits/eigen_benchmark/test_files.txt` (652)",
    "kitti_devkit": "`--dataset kitti_depth_selection` (val_selection_cropped, as the KITTI depth devkit's "
    "`evaluate_depth.cpp` scores it; see the units below)",
    "kitti_improved": "`--dataset kitti_eigen_benchmark --protocol kitti_improved` (652), or `kitti_annotated`",
    "kitti_improved_kb": "`--dataset kitti_eigen_benchmark --protocol kitti_improved_kb` (652), or `kitti_annotated "
    "--protocol kitti_improved_kb`",
    "kitti_improved_kb_input": "`--dataset kitti_eigen_benchmark --protocol kitti_improved_kb_input` (652), or "
    "`kitti_annotated --protocol kitti_improved_kb_input`",
    "nyu": "`--dataset nyu` (654 test frames, 480×640)",
    "synthetic": "`--dataset synthetic` (the procedural world)",
    "folder": "`--dataset folder` (rgb/, depth/ mm PNG or .npy, intrinsics.yaml: the training folder layout)",
}
_CROPS = {
    "garg": "Garg: rows 40.8-99.2 %, cols 3.6-96.4 % (153:371, 44:1197 of 375×1242)",
    "garg_kb": "KB crop (bottom 352 rows, centre 1216 columns: image and GT), then Garg of that (166:372, 56:1185 "
    "of 375×1242)",
    "garg_kb_input": "Garg of the full frame (153:371, 44:1197 of 375×1242), the network fed the KB crop and its "
    "prediction put back into the frame",
    "eigen_kitti": "Eigen KITTI: rows 33.2-91.4 %, cols 3.6-96.4 % (124:342, 44:1197 of 375×1242)",
    "eigen_kitti_kb": "KB crop (image and GT), then Eigen KITTI of that (140:344, 56:1185 of 375×1242)",
    "eigen_kitti_kb_input": "Eigen KITTI of the full frame (124:342, 44:1197 of 375×1242), the network fed the KB "
    "crop and its prediction put back into the frame",
    "eigen_nyu": "Eigen NYU: rows 45:471, cols 41:601 of 480×640",
    "none": "none",
}


def _gt_rule(p: Protocol) -> str:
    low, high = p.gt_range
    return "GT > 0 (no cap)" if p.gt_range_m is not None and high == float("inf") else f"{low:g} < GT < {high:g} m"


def _num(value: float, digits: int = 3) -> str:
    return "–" if value != value else f"{value:.{digits}f}"


def protocol_section() -> str:
    """Markdown: the protocol table, then the anchors, then how to read them."""
    lines = [
        "## Evaluation protocols and the published figures they compare with",
        "",
        "`mono-depth eval` protocols (from `mono_depth_ros.evaluation.depth.PROTOCOLS`). Evaluated pixels: the GT",
        "rule inside the crop; predictions are clipped to the range before the metrics (as BTS / ZoeDepth: NaN and",
        "-Inf to the minimum, +Inf to the maximum); scaling is per image; the mean is over images, as in every",
        "reference (monodepth2, BTS, ZoeDepth, Metric3D). `--min-depth` / `--max-depth` replace their side of both the",
        "GT range and the clip (`kitti_eigen_benchmark --max-depth 50`: 0 < GT < 50 m, predictions 0.001-50 m).",
        "",
        "| protocol | ground truth | crop | GT evaluated | predictions clipped | scaling | use |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, p in PROTOCOLS.items():
        lines.append(
            f"| `{key}` | {p.ground_truth} | {_CROPS[p.crop]} | {_gt_rule(p)} | {p.min_depth_m:g}-{p.max_depth_m:g} m "
            f"| {p.scaling} | {_USE.get(key, '')} |"
        )
    lines += [
        "",
        "Published figures (as printed by their sources; δ = δ<1.25):",
        "",
        "| protocol | method | AbsRel | SqRel | RMSE (m) | RMSE log | δ | source |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in ANCHORS:
        method = a.method if a.scaling is None else f"{a.method}; scaling {a.scaling}"
        lines.append(
            f"| `{a.protocol}` | {method} | {a.abs_rel:.3f} | {_num(a.sq_rel)} | {a.rmse:.3f} "
            f"| {_num(a.rmse_log)} | {a.a1:.3f} | {a.source} |"
        )
    lines += [
        "",
        "Reading them:",
        "",
        "- `kitti_eigen_velodyne` is monodepth2's `--eval_split eigen`: GT = the raw scan projected by its",
        "  `generate_depth_map(..., vel_depth=True)` (Velodyne forward distance, devkit -1 pixel offset, nearest",
        "  point), median scaling on by default (`--scaling none` = its `--disable_median_scaling`, metric models).",
        "- `mono-depth eval` runs the node's inference path, but brings the network output to the GT size by",
        "  bilinear interpolation as monodepth2 (`cv2.resize`) and ZoeDepth (`F.interpolate(mode='bilinear')`) do,",
        "  not by the node's nearest value across depth edges. It interpolates the output's own unit (depth, or",
        "  inverse depth for `relative_inverse`), where monodepth2 resizes the predicted *disparity* and ZoeDepth",
        "  uses `align_corners=True`: on real KITTI truth with 10 % pixel noise at 640×192 (`kitti_eigen_velodyne`),",
        "  AbsRel 0.0561 against monodepth2's 0.0560 and RMSE 1.40 m against 1.44 m (the node's edge-aware resize:",
        "  0.082 and 1.86 m).",
        "- `kitti_eigen_benchmark` is monodepth2's `--eval_split eigen_benchmark`: every pixel with improved GT,",
        "  no crop, no GT cap. `kitti_improved` is the same 652 frames with the Garg crop of the full frame and the",
        "  80 m GT cap: the pixels BTS's `bts_eval.py` scores, but the network sees the full frame, so a model",
        "  whose output depends on the image's extent (a metric model resized to a fixed input, a field-of-view",
        "  prior) scores other numbers than BTS' procedure gives it. `kitti_improved_kb_input` is BTS's procedure",
        "  (`bts_eval.py` / `eval_with_pngs.py --do_kb_crop --garg_crop`, the protocol of its published figures):",
        "  the network is fed the 352×1216 KB crop (bottom 352 rows, columns from (width - 1216) // 2) at that",
        "  size, its prediction is put back into the full frame, and the Garg crop of the full frame is scored",
        "  (inside the KB crop at every KITTI raw size; frames smaller than 352×1216 or whose Garg crop leaves the",
        "  KB crop are refused: `--crop garg` for a resize). ZoeDepth, AdaBins and",
        "  Depth Anything V1 (`metric_depth`) cut the GT to 352×1216 too (`do_kb_crop` in their loaders) and take",
        "  the Garg fractions of that: other pixels (rows 166:372, cols 56:1185 of 375×1242 against 153:371,",
        "  44:1197), so their figures compare with `kitti_improved_kb`, which cuts image and GT as they do (through",
        "  `evaluate_checkpoint` and `evaluate_samples` alike: the predictor is fed the 352×1216 cut).",
        "- `--crop eigen_kitti` is BTS's `--eigen_crop`: Eigen et al.'s KITTI fractions 0.3324324-0.91351351 of",
        "  the height and 0.0359477-0.96405229 of the width, truncated (rows 124:342, cols 44:1197 of 375×1242).",
        "  `--crop eigen_kitti_kb` takes them of the 352×1216 KB crop, the network fed the cut image, as Marigold's",
        "  KITTI evaluation (`kitti_bm_crop: true`, `valid_mask_crop: eigen`; rows 140:344, cols 56:1185): its",
        "  pixels with `--protocol kitti_improved_kb --crop eigen_kitti_kb` (GT < 80 m; `--scaling affine`: its",
        "  `least_square`). `--crop eigen_kitti_kb_input` is BTS's `bts_eval.py --do_kb_crop --eigen_crop`: the",
        "  network fed the 352×1216 KB crop and its prediction put back into the frame, as `kitti_improved_kb_input`,",
        "  the Eigen fractions of the full frame scored (`--protocol kitti_improved_kb_input --crop",
        "  eigen_kitti_kb_input`). None of these crops has a protocol row: no anchor above was measured with it.",
        "- The KITTI crops are refused on frames that are not KITTI-wide (width / height outside 3.0-3.8: NYU's",
        "  480×640 names `--crop eigen_nyu`, another camera `--crop none`), and `eigen_nyu` on frames that are not",
        "  NYU's 3:4: ZoeDepth and BTS score KITTI with the Garg crop and NYU with the Eigen NYU crop, never across.",
        "  NYU copies already cut to the Eigen crop (427×561, MATLAB's rows 45-471, cols 41-601, or a resize of them)",
        "  are scored whole: the frame is the crop (training validation of `data.kind nyu` scores them the same way;",
        "  a set mixing them with whole frames keeps the crop and refuses the cut copies, naming the way out: score",
        "  them apart or pass `--crop none`,",
        "  `test_depth.py::test_a_cut_nyu_copy_among_whole_frames_is_refused_naming_the_mix`); a small resize of",
        "  whole frames (192×256, 96×128), within a pixel of both aspects, is taken as whole frames (3:4, nearer).",
        "  KITTI-360's 376×1408 takes the fractions of its own size; a GT resized to 2:1 (256×512) is refused:",
        "  monodepth2 and BTS score the GT at the size it was recorded, the prediction resized to it.",
        "- Scalings (`--scaling`, per image over the evaluated pixels): `median` (monodepth2), `affine_inverse`",
        "  (least-squares scale and shift in inverse depth: MiDaS / Depth Anything; a depth model is fitted as",
        "  1 / depth), `affine` (least-squares scale and shift of depth: Marigold's `least_square`); `auto` picks",
        "  none / median / affine_inverse / affine for metric / depth_up_to_scale / relative_inverse / affine_depth",
        "  outputs. Ground truth at a resize of the image size is scored with the prediction made at its size",
        "  (monodepth2 and ZoeDepth resize the prediction to the GT).",
        "- Non-finite predictions in the scalings: `median` takes both medians over the evaluated pixels whose",
        "  prediction is finite and positive (monodepth2's pairing; a sky head's +Inf, NaN and values <= 0 leave the",
        "  GT median too, so that a model marking more than half the pixels +Inf still gets a ratio), `affine` fits",
        "  the pixels with a finite prediction, `affine_inverse` those with a finite inverse (a depth's +Inf is",
        "  inverse 0 and counts). Every evaluated pixel is still scored: +Inf at the far cap, NaN and -Inf at the",
        "  near cap.",
        "- Metric formulas are the Eigen / monodepth2 ones (`sq_rel` = mean (d - d*)² / d*; `rmse_log` in ln;",
        "  `silog` × 100 as BTS / ZoeDepth; `irmse` in 1/km). The KITTI devkit's `sqErrorRel` is mean ((d - d*) /",
        "  d*)², and it fills missing predictions from their neighbours instead of capping them:",
        "  `kitti_devkit` (`--dataset kitti_depth_selection`) scores the devkit's pixels and its uncapped",
        "  predictions (a GT of 84.9 m, which real KITTI frames hold, is not met by an 80 m clip there), not its",
        "  squared relative error. Units: `evaluate_depth.cpp`'s `stats_depth.txt` is in m and 1/m, its SILog",
        "  and relative errors fractions; KITTI's leaderboards give SILog × 100 and iRMSE in 1/km (ours),",
        "  absErrorRel / sqErrorRel in % (ours: fractions), RMSE / MAE in mm (depth completion; ours: m). Metric3D's",
        "  `rmse_log` / `silog` use log10, Depth Anything V2's `silog` is sqrt(mean g² - 0.5 (mean g)²) without",
        "  × 100: those columns are not comparable with ours.",
        "- No pretrained weights of these methods are available here, so none of the anchors is reproduced in this",
        "  repository; the protocols are checked against transcriptions of monodepth2's code on real KITTI frames",
        "  (`test/evaluation/test_kitti_eigen.py`) and of BTS', ZoeDepth's, MiDaS' and Marigold's on the real KITTI /",
        "  NYU frames (`test/evaluation/test_depth.py`).",
        "",
    ]
    return "\n".join(lines)
