"""A tiny KITTI raw tree in a temporary folder, built from the real frames in ../shared/data (linked, not copied).

* :func:`build_raw_tree`: date ``2011_09_26`` with its calibration rewritten in the raw format from the KITTI object
  calib of frame 000001 (``calib_cam_to_cam.txt``: ``P_rect_0X``, ``R_rect_00``, ``S_rect_0X``;
  ``calib_velo_to_cam.txt``: ``R``, ``T``), drive ``..._drive_0002_sync`` with ``image_02`` / ``image_03`` and
  ``velodyne_points`` of the object frames 000001 / 000002; its ``image_03`` is the left image linked again (the data
  has no right images), or, with ``render_right=True``, :func:`render_right_image`: the real left image as the right
  camera sees the surface the real scan describes (a stereo pair whose disparity is the rig's metric baseline).
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


def render_right_image(left_rgb: np.ndarray, points_in_velo: np.ndarray, date_dir: Path) -> np.ndarray:
    """(H, W, 3) uint8: the rectified left colour image (camera 2) as the right one (camera 3) of ``date_dir``'s
    calibration sees it, over the surface a real KITTI scan describes (:func:`test.kitti_rigs.surface_depth`): each
    right pixel looks up the left image where its point lands there (bilinear). Pixels the scan does not describe
    take the depth of the nearest described pixel of their column (a wall or a tree goes on above the top beam),
    columns without any surface are at infinity (no disparity)."""
    import cv2

    from mono_depth_ros.training.data.kitti_raw import load_raw_calibration
    from test.kitti_rigs import scanned_surface, surface_depth

    left, right = load_raw_calibration(date_dir, 2), load_raw_calibration(date_dir, 3)
    depth = surface_depth(scanned_surface(points_in_velo), right.cam_from_velo, right.intrinsics).astype(np.float64)
    height, width = depth.shape
    rows = np.arange(height)[:, None].repeat(width, axis=1)
    valid = np.isfinite(depth)
    above = np.maximum.accumulate(np.where(valid, rows, -1), axis=0)  # nearest described row at or above
    below = np.flip(np.minimum.accumulate(np.flip(np.where(valid, rows, height), axis=0), axis=0), axis=0)
    nearest = np.where((above < 0) | ((below < height) & (below - rows < rows - above)), below, above)
    cols = np.arange(width)[None, :].repeat(height, axis=0)
    filled = np.where(nearest < height, depth[np.clip(nearest, 0, height - 1), cols], np.inf)
    filled = np.where(valid, depth, filled)
    offset = left.cam_from_rect0.translation - right.cam_from_rect0.translation  # right optical -> left, metres
    x_right = (cols - right.intrinsics.cx) / right.intrinsics.fx  # x / z in the right camera
    map_u = left.intrinsics.fx * (x_right + offset[0] / filled) + left.intrinsics.cx
    map_v = np.full_like(map_u, 0.0) + (rows - right.intrinsics.cy) / right.intrinsics.fy * left.intrinsics.fy
    map_v += left.intrinsics.cy
    return np.ascontiguousarray(
        cv2.remap(
            left_rgb,
            map_u.astype(np.float32),
            map_v.astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
    )


def build_raw_tree(
    kitti_object_dir: Path, root: Path, frames: dict[int, str] = RAW_FRAMES, render_right: bool = False
) -> Path:
    """KITTI raw layout under ``root`` with one date, one drive and ``frames``; returns root. ``render_right``:
    ``image_03`` holds :func:`render_right_image` of each frame (PNG files), not the left image linked again."""
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
        left = kitti_object_dir / "image_2" / f"{name}.png"
        for camera in ("image_02",) if render_right else ("image_02", "image_03"):
            _link(left, root / DRIVE / camera / "data" / f"{index:010d}.png")
        if render_right:
            import cv2

            points = np.fromfile(kitti_object_dir / "velodyne" / f"{name}.bin", dtype=np.float32).reshape(-1, 4)
            image = cv2.imread(str(left))
            assert image is not None, left
            right = render_right_image(image, points[:, :3], date_dir)
            path = root / DRIVE / "image_03" / "data" / f"{index:010d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), right)
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
