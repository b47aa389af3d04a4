"""A tiny KITTI raw tree in a temporary folder, built from the real frames in ../shared/data (linked, not copied).

* :func:`build_raw_tree`: date ``2011_09_26`` with its calibration rewritten in the raw format from the KITTI object
  calib of frame 000001 (``calib_cam_to_cam.txt``: ``P_rect_0X``, ``R_rect_00``, ``S_rect_0X``;
  ``calib_velo_to_cam.txt``: ``R``, ``T``), drive ``..._drive_0002_sync`` with ``image_02`` / ``image_03`` and
  ``velodyne_points`` of the object frames 000001 / 000002.
* :func:`add_improved_drive`: date ``2011_09_30`` holding the Metric3D KITTI demo frames (raw frames 5, 50, 100 of
  one drive) with their annotated depth as ``proj_depth/groundtruth/image_02`` and a calibration from their
  intrinsics: the layout of monodepth2's ``eigen_benchmark``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from mono_depth_ros.training.data.kitti_files import read_calib_file

DATE = "2011_09_26"
DRIVE = f"{DATE}/{DATE}_drive_0002_sync"
RAW_FRAMES = {0: "000001", 1: "000002", 2: "000001"}  # raw frame index -> object frame it links
IMPROVED_DATE = "2011_09_30"
IMPROVED_DRIVE = f"{IMPROVED_DATE}/{IMPROVED_DATE}_drive_0016_sync"


def _row(values: np.ndarray) -> str:
    return " ".join(f"{v:.12e}" for v in np.asarray(values).reshape(-1))


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(source.resolve(), target)


def _write_velo_to_cam(date_dir: Path, rotation: np.ndarray, translation: np.ndarray) -> None:
    (date_dir / "calib_velo_to_cam.txt").write_text(
        f"calib_time: 15-Mar-2012 11:37:16\nR: {_row(rotation)}\nT: {_row(translation)}\n"
        "delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n"
    )


def build_raw_tree(kitti_object_dir: Path, root: Path, frames: dict[int, str] = RAW_FRAMES) -> Path:
    """KITTI raw layout under ``root`` with one date, one drive and ``frames``; returns root."""
    calib = read_calib_file(kitti_object_dir / "calib" / "000001.txt")
    width, height = 1242, 375
    tr = calib["Tr_velo_to_cam"].reshape(3, 4)
    date_dir = root / DATE
    date_dir.mkdir(parents=True)
    (date_dir / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n"
        + f"S_rect_00: {width} {height}\nR_rect_00: {_row(calib['R0_rect'])}\nP_rect_00: {_row(calib['P0'])}\n"
        + "".join(f"S_rect_0{c}: {width}.0 {height}.0\nP_rect_0{c}: {_row(calib[f'P{c}'])}\n" for c in (2, 3))
    )
    _write_velo_to_cam(date_dir, tr[:, :3], tr[:, 3])
    for index, name in frames.items():
        for camera in ("image_02", "image_03"):
            _link(kitti_object_dir / "image_2" / f"{name}.png", root / DRIVE / camera / "data" / f"{index:010d}.png")
        _link(
            kitti_object_dir / "velodyne" / f"{name}.bin",
            root / DRIVE / "velodyne_points" / "data" / f"{index:010d}.bin",
        )
    return root


def add_improved_drive(kitti_depth_dir: Path, root: Path) -> list[int]:
    """Link the annotated-depth demo frames into ``root`` as an ``eigen_benchmark`` drive; returns their indices."""
    entries = json.loads((kitti_depth_dir / "test_annotations.json").read_text())["files"]
    fx, fy, cx, cy = (float(v) for v in entries[0]["cam_in"])
    projection = np.array([[fx, 0, cx, 0], [0, fy, cy, 0], [0, 0, 1, 0]])
    date_dir = root / IMPROVED_DATE
    date_dir.mkdir(parents=True)
    (date_dir / "calib_cam_to_cam.txt").write_text(
        f"R_rect_00: {_row(np.eye(3))}\nS_rect_02: 1242 375\nP_rect_02: {_row(projection)}\n"
    )
    _write_velo_to_cam(date_dir, np.eye(3), np.zeros(3))
    indices = []
    for entry in entries:
        name = Path(entry["rgb"]).name
        index = int(Path(name).stem)
        _link(kitti_depth_dir / "rgb" / name, root / IMPROVED_DRIVE / "image_02" / "data" / f"{index:010d}.png")
        gt = root / IMPROVED_DRIVE / "proj_depth" / "groundtruth" / "image_02" / f"{index:010d}.png"
        _link(kitti_depth_dir / "depth" / Path(entry["depth"]).name, gt)
        indices.append(index)
    return sorted(indices)
