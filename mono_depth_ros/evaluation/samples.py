"""Evaluation frames with ground truth: KITTI (Velodyne or annotated GT), NYU Depth V2, one's own folder of frames,
the synthetic world.

Every loader returns :class:`EvalSample` records with ground truth as float32 metres, NaN = no measurement, at the
resolution its file holds (the camera image's, or a resize of it). Units are converted here, once: KITTI annotated
PNGs metres = value / 256, NYU PNGs metres = value / 1000 (the ``depth_scale`` of ``test_annotations.json`` where it
is given), ``.npy`` float metres; Velodyne points are projected with the calibration exactly as monodepth2's
``generate_depth_map(..., vel_depth=True)`` projects them (:mod:`.kitti_eigen`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.depth_codec import MILLIMETRES_PER_METRE
from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.evaluation.metrics import KB_CROP_HW, KB_CROP_WHOLE_FRAME, kb_crop_offsets
from mono_depth_ros.training.data.kitti_files import (
    KITTI_DEPTH_SCALE,
    load_depth_png,
    load_object_calibration,
    load_rgb,
    load_velodyne,
)
from mono_depth_ros.training.data.records import FrameRecord, load_depth_file
from mono_depth_ros.training.data.synthetic import SyntheticClip

DATASETS = (
    "kitti_velodyne",
    "kitti_annotated",
    "kitti_depth_selection",
    "kitti_eigen",
    "kitti_eigen_benchmark",
    "nyu",
    "folder",
    "synthetic",
)
DATASET_ALIASES = {"kitti_depth": "kitti_annotated"}
"""``mono-depth train``'s ``data.kind`` names of evaluation datasets that read the same folder the same way:
``kitti_depth`` (a Metric3D-style ``test_annotations.json``, validated under ``kitti_improved``) is
``kitti_annotated`` (``kitti_depth_selection`` is val_selection_cropped, which train reads no other way)."""
SPLIT_DATASETS = {"kitti_eigen": "velodyne", "kitti_eigen_benchmark": "improved"}
"""Datasets read from a KITTI raw root through a split file, and the ground truth each uses."""


@dataclass(frozen=True)
class EvalSample:
    """One image with ground truth.

    Attributes:
        name: identifier for per-image reports (file stem or ``seed/frame``).
        rgb: (H, W, 3) uint8 RGB.
        gt_depth_m: (h, w) float32 metres along the optical axis (raw Velodyne GT: the scan's forward distance, as
            monodepth2 scores it); NaN = no ground truth. (h, w) is the image's
            (H, W) or a resize of it: predictions are scored at (h, w).
        intrinsics: the camera of ``rgb``.
    """

    name: str
    rgb: npt.NDArray[np.uint8]
    gt_depth_m: npt.NDArray[np.float32]
    intrinsics: PinholeIntrinsics


def kb_cropped(sample: EvalSample, crop: str = "garg_kb") -> EvalSample:
    """``sample`` cut to the KITTI benchmark crop (bottom 352 rows, centred 1216 columns: image, GT, intrinsics), as
    ZoeDepth / AdaBins / BTS feed a KITTI frame to their network (``do_kb_crop``); a 352×1216 frame is returned as is.
    ``crop`` (``garg_kb`` | ``eigen_kitti_kb``) is the evaluation crop the errors name, with its whole-frame remedy.

    Raises:
        ShapeError: image smaller than 352×1216, or GT of another size than its image (a resize has no KB crop).
    """
    if sample.gt_depth_m.shape != sample.rgb.shape[:2]:
        name, whole = KB_CROP_WHOLE_FRAME[crop]
        msg = (
            f"{sample.name!r}: the KITTI benchmark crop (crop {crop}) needs GT at its image's size "
            f"{sample.rgb.shape[:2]}, got {sample.gt_depth_m.shape}; evaluate a resized GT with the {name} crop of the "
            f"whole frame (--crop {whole}, protocol kitti_improved)"
        )
        raise ShapeError(msg)
    height, width = sample.gt_depth_m.shape
    top, left = kb_crop_offsets(height, width, crop)
    rows, cols = slice(top, top + KB_CROP_HW[0]), slice(left, left + KB_CROP_HW[1])
    intrinsics = sample.intrinsics.cropped(left, top, KB_CROP_HW[1], KB_CROP_HW[0])
    return EvalSample(sample.name, sample.rgb[rows, cols], sample.gt_depth_m[rows, cols], intrinsics)


def kitti_velodyne_samples(root: str | Path) -> list[EvalSample]:
    """KITTI object-style folder (``image_2/``, ``velodyne/``, ``calib/``): raw Velodyne scans as sparse GT, projected
    as ``--dataset kitti_eigen`` projects them (monodepth2's ``generate_depth_map(..., vel_depth=True)``:
    :func:`~.kitti_eigen.monodepth2_velodyne_depth` with ``P2 · R0_rect · Tr_velo_to_cam``), so that its default
    protocol ``kitti_eigen_velodyne`` scores the GT monodepth2 scores: the Velodyne forward distance (~0.3 m more
    than the camera's z), the devkit's -1 pixel offset, the nearest point per pixel.

    Raises:
        ConfigError: no ``image_2/*.png`` under ``root``. CalibrationError: a calib file that is not the object
            benchmark's.
    """
    from mono_depth_ros.evaluation.kitti_eigen import monodepth2_velodyne_depth, object_velodyne_to_image_matrix

    root = Path(root)
    images = sorted((root / "image_2").glob("*.png"))
    if not images:
        msg = f"no KITTI images in {root / 'image_2'}; pass the folder holding image_2/, velodyne/, calib/"
        raise ConfigError(msg)
    samples = []
    for image_path in images:
        rgb = load_rgb(image_path)
        height, width = rgb.shape[:2]
        calib = load_object_calibration(root / "calib" / f"{image_path.stem}.txt", width, height)
        velo_to_image = object_velodyne_to_image_matrix(root / "calib" / f"{image_path.stem}.txt")
        scan = load_velodyne(root / "velodyne" / f"{image_path.stem}.bin")
        gt = monodepth2_velodyne_depth(scan, velo_to_image, (height, width))
        samples.append(EvalSample(image_path.stem, rgb, gt, calib.intrinsics))
    return samples


def annotated_samples(
    root: str | Path, default_png_scale: float = KITTI_DEPTH_SCALE, given_png_scale: bool = False
) -> list[EvalSample]:
    """Folder with a Metric3D-style ``test_annotations.json`` (``cam_in`` [fx, fy, cx, cy], ``rgb``, ``depth``,
    optional ``depth_scale``): KITTI annotated depth or NYU Kinect depth, read as ``mono-depth train`` reads it
    (:func:`~mono_depth_ros.training.data.records.annotated_records`: listed paths such as Metric3D's
    ``data/kitti_demo/rgb/x.png`` found under ``root``; depth ``.png`` as value / ``depth_scale``, else /
    ``default_png_scale``; ``.npy`` float metres). An entry without ``depth`` has no ground truth (all NaN).

    Raises:
        ConfigError: missing or malformed ``test_annotations.json``, listed files that do not exist, or (with
            ``given_png_scale``: ``default_png_scale`` is the user's ``--png-scale``) PNG entries whose
            ``depth_scale`` contradicts it (the file's value would silently win).
    """
    from mono_depth_ros.training.data.records import annotated_records

    root = Path(root)
    if not (root / "test_annotations.json").is_file():
        msg = f"no {root / 'test_annotations.json'}; pass a Metric3D-style demo folder"
        raise ConfigError(msg)
    records = annotated_records(root, "test_annotations.json", default_png_scale, "eval")
    overruled = sorted(
        {r.depth.png_scale for r in records if r.depth is not None and r.depth.path.suffix.lower() == ".png"}
        - {default_png_scale}
    )
    if given_png_scale and overruled:
        count = sum(r.depth is not None and r.depth.png_scale in overruled for r in records)
        scales = " / ".join(f"{v:g}" for v in overruled)
        entries = json.loads((root / "test_annotations.json").read_text())["files"]  # read by annotated_records
        reading = sum("depth_scale" not in entry and "depth" in entry for entry in entries)
        given, remedy = "not read", "leave --png-scale out, or correct depth_scale in the file if it is wrong"
        if reading:  # the entries without depth_scale read it: left out, they would read the default unit
            given = f"read by {reading} of {len(records)} entries only (those without depth_scale)"
            remedy = "give every entry its depth_scale in the file (then leave --png-scale out)"
        msg = (
            f"--png-scale {default_png_scale:g} is {given}: {root / 'test_annotations.json'} gives depth_scale "
            f"{scales} (PNG values per metre) in {count} entries, and an entry's depth_scale wins; {remedy}"
        )
        raise ConfigError(msg)
    return [record_sample(r) for r in records]


def record_sample(record: FrameRecord, name: str | None = None) -> EvalSample:
    """Load one :class:`FrameRecord` at its image's resolution (no resize): its ``depth`` file is the ground truth
    (all NaN without one); ``name`` defaults to the image's file stem."""
    rgb = load_rgb(record.rgb_path)
    fx, fy, cx, cy = record.camera
    intrinsics = PinholeIntrinsics(fx, fy, cx, cy, width=rgb.shape[1], height=rgb.shape[0])
    if record.depth is None:
        gt = np.full(rgb.shape[:2], np.nan, np.float32)
    elif record.depth.path.suffix.lower() == ".png":  # value / scale in float32, as BTS / ZoeDepth (not × 1/scale)
        gt = load_depth_png(record.depth.path, record.depth.png_scale)
    else:
        gt = load_depth_file(record.depth)
    return EvalSample(name or record.rgb_path.stem, rgb, gt, intrinsics)


def folder_samples(root: str | Path, png_scale: float = MILLIMETRES_PER_METRE) -> list[EvalSample]:
    """One's own frames in the folder layout ``mono-depth train`` reads (``data.kind: folder``,
    :mod:`~mono_depth_ros.training.data.folder`): ``rgb/<stem>.png|.jpg``, ground truth ``depth/<stem>.png`` (uint16,
    metres = value / ``png_scale``: 1000 = millimetres as RealSense / NYU, 256 = KITTI; 0 = no data) or
    ``depth/<stem>.npy`` / ``.npz`` (float metres; NaN, ±Inf, <= 0 = no data), ``intrinsics.yaml`` or
    ``intrinsics/<stem>.json``.
    An image without a depth file of its stem is kept with no ground truth (an unscored row).

    Raises:
        ConfigError: no images or intrinsics (as for training), or no image has a depth file of its name (the
            first files of ``depth/`` are named).
    """
    from mono_depth_ros.training.data.folder import FolderDataset

    root = Path(root)
    records = FolderDataset(root, png_scale).records
    if not any(r.depth is not None for r in records):
        found = sorted(p.name for p in (root / "depth").glob("*"))
        msg = (
            f"no image of {root / 'rgb'} has ground truth: depth/<stem>.png or .npy must share its image's stem "
            f"(rgb/{records[0].rgb_path.name} -> depth/{records[0].rgb_path.stem}.png); depth/ holds {len(found)} "
            f"files {found[:3]}"
        )
        raise ConfigError(msg)
    return [record_sample(r) for r in records]


def nyu_split_samples(root: str | Path, split: str | Path) -> list[EvalSample]:
    """NYU Depth V2 frames of a BTS-style split file (``nyudepthv2_test_files_with_gt.txt``: ``SCENE/rgb_N.jpg
    SCENE/sync_depth_N.png FOCAL`` relative to ``root``; lines whose depth is ``None`` skipped), read as ``mono-depth
    train`` reads it (:meth:`~mono_depth_ros.training.data.nyu.NyuDataset.from_split_file`; NYU's intrinsics);
    named ``SCENE/rgb_N``.

    Raises:
        ConfigError: unreadable split file, or listed files missing.
    """
    from mono_depth_ros.training.data.nyu import NyuDataset

    records = NyuDataset.from_split_file(Path(root), Path(split)).records
    return [record_sample(r, str(Path(r.name).with_suffix(""))) for r in records]


def kitti_depth_selection_samples(root: str | Path) -> list[EvalSample]:
    """KITTI depth completion's ``depth_selection/val_selection_cropped`` (352×1216 frames: ``image/``,
    ``groundtruth_depth/`` uint16 metres × 256, ``intrinsics/`` K), read as ``mono-depth train`` reads it
    (:meth:`~mono_depth_ros.training.data.kitti_depth.KittiDepthDataset.from_val_selection`).

    Raises:
        ConfigError: no images, unreadable intrinsics, or listed files missing.
    """
    from mono_depth_ros.training.data.kitti_depth import KittiDepthDataset

    return [record_sample(r) for r in KittiDepthDataset.from_val_selection(Path(root)).records]


def synthetic_samples(clips: Sequence[SyntheticClip]) -> list[EvalSample]:
    """Every frame of rendered drives, exact depth as GT (sky / beyond range -> NaN)."""
    samples = []
    for clip in clips:
        for frame in range(clip.spec.n_frames):
            gt = np.where(np.isfinite(clip.depth_m[frame]), clip.depth_m[frame], np.nan).astype(np.float32)
            samples.append(EvalSample(f"{clip.spec.seed}/{frame}", clip.rgb[frame], gt, clip.intrinsics))
    return samples


def dataset_shown(dataset: str) -> str:
    """``--dataset``'s value as the user typed it for messages: an alias of :data:`DATASET_ALIASES` with the dataset
    it is read as (``kitti_depth (read as kitti_annotated)``), any other name as it is."""
    resolved = DATASET_ALIASES.get(dataset)
    return dataset if resolved is None else f"{dataset} (read as {resolved})"


def load_samples(
    dataset: str, root: str | Path, split: str | Path | None = None, png_scale: float | None = None
) -> list[EvalSample]:
    """Dispatch on ``dataset`` (or a train name of :data:`DATASET_ALIASES`): ``kitti_velodyne`` | ``kitti_annotated``
    | ``kitti_depth_selection`` | ``nyu`` |
    ``folder`` (a folder; ``nyu`` with ``split``: a BTS split file under ``root``), ``kitti_eigen`` |
    ``kitti_eigen_benchmark`` (a KITTI raw root and a split file: :mod:`.kitti_eigen`); ``synthetic`` has no folder.
    ``png_scale`` (depth PNG values per metre) replaces the default of ``folder`` (1000) and of annotation entries
    without ``depth_scale`` (KITTI 256, NYU 1000).

    Raises:
        ConfigError: unknown dataset name, a split dataset without ``split``, a ``split`` for a dataset that
            has none, or a ``png_scale`` for a dataset whose depth unit is fixed or that annotation entries'
            ``depth_scale`` contradicts.
    """
    shown = dataset_shown(dataset)  # errors name the user's word, an alias with what it is read as
    dataset = DATASET_ALIASES.get(dataset, dataset)
    reads_scale = dataset == "folder" or (dataset in ("kitti_annotated", "nyu") and split is None)
    if png_scale is not None and dataset in DATASETS and not reads_scale:
        msg = (
            f"--png-scale is not read by --dataset {shown}{' with --split' if split is not None else ''} (its "
            f"depth unit is fixed); it is read by folder, and by kitti_annotated / nyu annotation entries without "
            f"depth_scale: leave it out"
        )
        raise ConfigError(msg)
    if dataset in SPLIT_DATASETS:
        from mono_depth_ros.evaluation.kitti_eigen import kitti_eigen_samples

        if split is None:
            msg = f"--dataset {dataset} needs --split FILE (monodepth2's splits/{dataset[6:]}/test_files.txt)"
            raise ConfigError(msg)
        return kitti_eigen_samples(root, split, SPLIT_DATASETS[dataset])
    if dataset == "kitti_velodyne":
        return kitti_velodyne_samples(root)
    if dataset == "nyu" and split is not None:
        return nyu_split_samples(root, split)
    if split is not None and dataset in DATASETS:
        msg = f"--dataset {shown} has no split file (given {split}); --split is read by kitti_eigen* and nyu"
        raise ConfigError(msg)
    if dataset in ("kitti_annotated", "nyu"):
        default = KITTI_DEPTH_SCALE if dataset == "kitti_annotated" else MILLIMETRES_PER_METRE
        return annotated_samples(root, png_scale or default, given_png_scale=png_scale is not None)
    if dataset == "folder":
        return folder_samples(root, png_scale or MILLIMETRES_PER_METRE)
    if dataset == "kitti_depth_selection":
        return kitti_depth_selection_samples(root)
    msg = f"unknown evaluation dataset {shown!r}; expected one of {DATASETS[:-1]}"
    raise ConfigError(msg)
