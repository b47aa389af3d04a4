"""The KITTI Eigen test split on a KITTI raw tree, with the ground truth of monodepth2's two protocols.

``--dataset kitti_eigen`` (monodepth2 ``--eval_split eigen``, 697 frames): ground truth is the raw Velodyne scan
projected as monodepth2's ``kitti_utils.generate_depth_map(calib_dir, velo, cam=2, vel_depth=True)`` does it, step
for step (:func:`monodepth2_velodyne_depth`):

1. ``P_velo2im = P_rect_0X · R_rect_00 · [R | T]`` (``calib_cam_to_cam.txt``, ``calib_velo_to_cam.txt``);
2. points with Velodyne ``x < 0`` (behind the sensor) are dropped — no other visibility test;
3. pixel = ``round(u / w) - 1``, ``round(v / w) - 1`` (the KITTI devkit's 1-based offset; numpy round-half-even),
   inside the ``S_rect_0X`` image;
4. depth = the Velodyne **forward distance** ``x`` (``vel_depth=True``), not the camera z; the nearest point wins a
   pixel; no point = no ground truth (monodepth2's 0, NaN here).

monodepth2's duplicate search uses ``sub2ind = row·(W-1) + col - 1``, which makes the last column of one row collide
with the first column of the next; those two columns lie outside the Garg crop, so the evaluated pixels are the same
as with the per-pixel minimum used here.

``--dataset kitti_eigen_benchmark`` (``--eval_split eigen_benchmark``, the 652 frames that have improved ground
truth): ground truth is ``<drive>/proj_depth/groundtruth/image_0X/<frame>.png`` (uint16, metres = value / 256) inside
the raw tree, as monodepth2's ``export_gt_depth.py`` reads it (copy or link the KITTI depth ``data_depth_annotated``
drives into the raw drive folders).

Split files are read as published (``date/drive frame side``: see :func:`.kitti_raw.read_split_file`); the side picks
the camera (``l`` = image_02, as every line of the published splits). Images are ``image_0X/data/<frame>.png`` as
downloaded or ``.jpg`` as monodepth2's preparation converts them: whichever holds each drive camera's first listed
frame (:func:`image_paths`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.errors import CalibrationError, ConfigError, ShapeError
from mono_depth_ros.evaluation.samples import EvalSample
from mono_depth_ros.training.data.kitti_files import (
    load_depth_png,
    load_rgb,
    load_velodyne,
    raw_image_extension,
    raw_image_message,
    read_object_calibration,
)
from mono_depth_ros.training.data.kitti_raw import (
    CAM_TO_CAM,
    VELO_TO_CAM,
    SplitEntry,
    load_raw_calibration,
    read_raw_calibration_files,
    read_split_file,
)

GROUND_TRUTHS = ("velodyne", "improved")


def velodyne_to_image_matrix(date_dir: Path, camera: int = 2) -> tuple[npt.NDArray[np.float64], tuple[int, int]]:
    """monodepth2's ``P_velo2im`` (3×4) and the rectified image size ``(height, width)`` of camera 2 or 3.

    Raises:
        CalibrationError: a calibration file is missing or lacks ``P_rect_0X`` / ``R_rect_00`` / ``S_rect_0X`` /
            ``R`` / ``T``.
    """
    cam_to_cam, velo_to_cam = read_raw_calibration_files(date_dir)
    try:
        projection = cam_to_cam[f"P_rect_{camera:02d}"].reshape(3, 4)
        rect = np.eye(4)
        rect[:3, :3] = cam_to_cam["R_rect_00"].reshape(3, 3)
        velo = np.eye(4)
        velo[:3, :3] = velo_to_cam["R"].reshape(3, 3)
        velo[:3, 3] = velo_to_cam["T"].reshape(3)
        width, height = (int(float(v)) for v in cam_to_cam[f"S_rect_{camera:02d}"][:2])
    except (KeyError, ValueError) as err:
        msg = f"{date_dir}: KITTI raw calibration lacks or mangles {err}; re-extract {CAM_TO_CAM} / {VELO_TO_CAM}"
        raise CalibrationError(msg) from None
    matrix: npt.NDArray[np.float64] = projection @ rect @ velo
    return matrix, (height, width)


def object_velodyne_to_image_matrix(calib_path: Path, camera: int = 2) -> npt.NDArray[np.float64]:
    """:func:`velodyne_to_image_matrix` of a KITTI 3D-object calib file: ``P2 · R0_rect · Tr_velo_to_cam`` (3×4; the
    raw tree's ``P_rect_02``, ``R_rect_00``, ``[R | T]`` under the object benchmark's names).

    Raises:
        CalibrationError: the file lacks ``P<camera>`` / ``R0_rect`` / ``Tr_velo_to_cam`` or mangles them.
    """
    projection, r0_rect, velo_to_cam = read_object_calibration(calib_path, camera)
    rect, velo = np.eye(4), np.eye(4)
    rect[:3, :3] = r0_rect
    velo[:3] = velo_to_cam
    matrix: npt.NDArray[np.float64] = projection @ rect @ velo
    return matrix


def monodepth2_velodyne_depth(
    points_in_velo: npt.NDArray[np.floating], velo_to_image: npt.NDArray[np.float64], image_hw: tuple[int, int]
) -> npt.NDArray[np.float32]:
    """Raw Velodyne ground truth exactly as monodepth2's ``generate_depth_map(..., vel_depth=True)``.

    Args:
        points_in_velo: (N, >=3) Velodyne points ``x`` (forward), ``y``, ``z`` in metres (extra columns ignored).
        velo_to_image: (3, 4) ``P_rect · R_rect · [R | T]`` (:func:`velodyne_to_image_matrix`).
        image_hw: (height, width) of the rectified image.

    Returns:
        (H, W) float32 forward distance in metres of the nearest point per pixel; NaN where no point landed.
    """
    height, width = image_hw
    xyz = np.asarray(points_in_velo, dtype=np.float64)[:, :3]
    xyz = xyz[xyz[:, 0] >= 0]
    projected = np.hstack([xyz, np.ones((len(xyz), 1))]) @ velo_to_image.T
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.round(projected[:, 0] / projected[:, 2]) - 1
        v = np.round(projected[:, 1] / projected[:, 2]) - 1
    inside = (u >= 0) & (v >= 0) & (u < width) & (v < height)
    depth = np.full(height * width, np.inf)
    flat = v[inside].astype(np.intp) * width + u[inside].astype(np.intp)
    np.minimum.at(depth, flat, xyz[inside, 0])
    depth[depth < 0] = 0.0  # monodepth2's last step (x >= 0 already, so a no-op kept for fidelity)
    depth[~np.isfinite(depth) | (depth == 0)] = np.nan
    return depth.reshape(height, width).astype(np.float32)


def image_paths(root: Path, entries: list[SplitEntry]) -> list[Path]:
    """Each entry's ``<root>/<drive>/image_0X/data/<frame:010d>`` ``.png`` as downloaded or ``.jpg`` as monodepth2
    converts them: the extension is the one of each drive camera's first listed frame
    (:func:`~mono_depth_ros.training.data.kitti_files.raw_image_extension`)."""
    extensions: dict[tuple[str, int], str] = {}
    paths = []
    for entry in entries:
        stem = root / entry.folder / f"image_{entry.camera:02d}" / "data" / f"{entry.frame_index:010d}"
        if (entry.folder, entry.camera) not in extensions:
            extensions[(entry.folder, entry.camera)] = raw_image_extension(stem)
        paths.append(stem.with_suffix(extensions[(entry.folder, entry.camera)]))
    return paths


def improved_gt_path(root: Path, entry: SplitEntry) -> Path:
    """``<root>/<date>/<drive>/proj_depth/groundtruth/image_0X/<frame:010d>.png`` (monodepth2's layout)."""
    camera = f"image_{entry.camera:02d}"
    return root / entry.folder / "proj_depth" / "groundtruth" / camera / f"{entry.frame_index:010d}.png"


def kitti_eigen_samples(root: str | Path, split: str | Path, ground_truth: str = "velodyne") -> list[EvalSample]:
    """Every frame of a split file with its ground truth (see the module docstring).

    Args:
        root: the KITTI raw root (date folders with their calibration, drive folders).
        split: a monodepth2-style split file (``splits/eigen/test_files.txt`` or ``eigen_benchmark``'s).
        ground_truth: ``velodyne`` (raw scan, ``eigen``) or ``improved`` (``proj_depth/groundtruth``).

    Raises:
        ConfigError: unknown ground truth, an unreadable or malformed split file, or listed files that are missing
            (the first few are named). CalibrationError: missing or incomplete calibration.
    """
    if ground_truth not in GROUND_TRUTHS:
        msg = f"KITTI Eigen ground truth {ground_truth!r} is not one of {GROUND_TRUTHS}"
        raise ConfigError(msg)
    root = Path(root)
    entries = read_split_file(Path(split))
    if not entries:
        msg = f"split file {split} lists no frames; give monodepth2's splits/eigen/test_files.txt or the like"
        raise ConfigError(msg)
    gt_files = [
        improved_gt_path(root, e)
        if ground_truth == "improved"
        else root / e.folder / "velodyne_points" / "data" / f"{e.frame_index:010d}.bin"
        for e in entries
    ]
    images = image_paths(root, entries)
    missing = [str(p) for pair in zip(images, gt_files, strict=True) for p in pair if not p.is_file()]
    if missing:
        what = "proj_depth/groundtruth PNGs (KITTI depth annotated)" if ground_truth == "improved" else "raw files"
        msg = f"{len(missing)} files of {split} missing under {root} (e.g. {missing[:3]}); check the {what}"
        raise ConfigError(raw_image_message(msg) if any(not p.is_file() for p in images) else msg)
    projections: dict[tuple[str, int], tuple[npt.NDArray[np.float64], tuple[int, int]]] = {}
    samples = []
    for entry, image, gt_file in zip(entries, images, gt_files, strict=True):
        rgb = load_rgb(image)
        intrinsics = load_raw_calibration(root / entry.date, entry.camera).intrinsics
        if ground_truth == "improved":
            gt = load_depth_png(gt_file)
        else:
            key = (entry.date, entry.camera)
            if key not in projections:
                projections[key] = velodyne_to_image_matrix(root / entry.date, entry.camera)
            matrix, image_hw = projections[key]
            gt = monodepth2_velodyne_depth(load_velodyne(gt_file), matrix, image_hw)
        if gt.shape != rgb.shape[:2]:
            msg = f"{gt_file}: ground truth {gt.shape} differs from its image {rgb.shape[:2]}; check the calibration"
            raise ShapeError(msg)
        name = f"{Path(entry.folder).name}/{entry.frame_index:010d}"
        samples.append(EvalSample(name, rgb, gt, intrinsics))
    return samples
