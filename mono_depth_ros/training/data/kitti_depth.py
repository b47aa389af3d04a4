"""KITTI depth prediction / completion benchmark: annotated (accumulated, cleaned) ground truth as 16-bit PNG.

Depth PNGs are uint16 with ``metres = value / 256`` and 0 = no data (converted once, at load). Three layouts:

1. **Official** (``data_depth_annotated`` + KITTI raw images; :meth:`KittiDepthDataset.from_official`)::

       ANNOTATED/{train,val}/2011_09_26_drive_0001_sync/proj_depth/groundtruth/image_02/0000000005.png
       SPARSE/{train,val}/2011_09_26_drive_0001_sync/proj_depth/velodyne_raw/image_02/0000000005.png   (optional)
       RAW/2011_09_26/2011_09_26_drive_0001_sync/image_02/data/0000000005.png   (or .jpg) + RAW/2011_09_26/calib_*.txt

2. **Selected validation** (``depth_selection/val_selection_cropped``; :meth:`KittiDepthDataset.from_val_selection`):
   ``image/D_sync_image_F_image_0X.png``, ``groundtruth_depth/D_sync_groundtruth_depth_F_image_0X.png``,
   ``velodyne_raw/D_sync_velodyne_raw_F_image_0X.png``, ``intrinsics/D_sync_image_F_image_0X.txt`` (9 values of K).

3. **Annotation list** (Metric3D's ``test_annotations.json``, as in ``metric3d_kitti_demo``;
   :meth:`KittiDepthDataset.from_annotations`): ``{"files": [{"rgb", "depth", "cam_in": [fx, fy, cx, cy],
   "depth_scale": 256}]}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.data.kitti_files import KITTI_DEPTH_SCALE, raw_image_extension, raw_image_message
from mono_depth_ros.training.data.kitti_raw import RawCameraCalibration, load_raw_calibration
from mono_depth_ros.training.data.records import (
    DepthFile,
    FrameRecord,
    RecordDataset,
    SourceFrame,
    Transform,
    annotated_records,
    check_files_exist,
)


class KittiDepthDataset(RecordDataset):
    """Frames with KITTI annotated depth (``depth``) and, where available, raw Velodyne depth (``sparse_depth``).

    Build it with one of the class methods; the constructor takes ready records.
    """

    @classmethod
    def from_annotations(
        cls, root: Path, json_name: str = "test_annotations.json", transform: Transform | None = None
    ) -> KittiDepthDataset:
        """Frames listed in a Metric3D-style annotation file under ``root`` (layout 3 of the module docstring)."""
        return cls(annotated_records(Path(root), json_name, KITTI_DEPTH_SCALE, "KITTI depth annotations"), transform)

    @classmethod
    def from_official(
        cls,
        annotated_root: Path,
        raw_root: Path,
        split: str = "train",
        cameras: Sequence[int] = (2, 3),
        sparse_root: Path | None = None,
        frame_offsets: Sequence[int] = (),
        transform: Transform | None = None,
    ) -> KittiDepthDataset:
        """Every annotated frame of ``split`` (layout 1); images and intrinsics come from the raw dataset.

        Args:
            annotated_root: folder holding ``train/`` and ``val/`` of ``data_depth_annotated``.
            raw_root: KITTI raw root (date folders with calibration and ``image_0X/data``: ``.png`` as downloaded or
                monodepth2's ``.jpg`` copies, whichever holds each drive camera's first annotated frame).
            split: ``train`` or ``val``.
            cameras: colour cameras to use (2 = left, 3 = right).
            sparse_root: folder holding ``data_depth_velodyne``'s ``train/`` and ``val/`` (None = no sparse depth).
            frame_offsets: temporal source frames from the raw sequence (e.g. ``(-1, 1)``).
            transform: applied to every sample.

        Raises:
            ConfigError: no annotated frame found, or a listed file is missing.
            CalibrationError: a date's raw calibration is missing.
        """
        annotated_root, raw_root = Path(annotated_root), Path(raw_root)
        records = []
        calibrations: dict[tuple[str, int], RawCameraCalibration] = {}
        extensions: dict[tuple[str, int], str] = {}
        for camera in cameras:
            pattern = f"*_sync/proj_depth/groundtruth/image_{camera:02d}/*.png"
            for depth_path in sorted((annotated_root / split).glob(pattern)):
                drive = depth_path.parents[3].name
                date = drive[:10]
                frame = int(depth_path.stem)
                if (date, camera) not in calibrations:
                    calibrations[(date, camera)] = load_raw_calibration(raw_root / date, camera)
                calib = calibrations[(date, camera)]

                images = raw_root / date / drive / f"image_{camera:02d}" / "data"
                if (drive, camera) not in extensions:  # .png as downloaded, .jpg as monodepth2 converts a drive
                    extensions[(drive, camera)] = raw_image_extension(images / f"{frame:010d}")

                def raw_image(index: int, images: Path = images, ext: str = extensions[(drive, camera)]) -> Path:
                    return images / f"{index:010d}{ext}"

                sparse = None
                if sparse_root is not None:
                    sparse_path = Path(sparse_root) / split / drive / "proj_depth" / "velodyne_raw"
                    sparse = DepthFile(sparse_path / f"image_{camera:02d}" / depth_path.name, KITTI_DEPTH_SCALE)
                i = calib.intrinsics
                records.append(
                    FrameRecord(
                        name=f"{split}/{drive}/image_{camera:02d}/{depth_path.stem}",
                        rgb_path=raw_image(frame),
                        camera=(i.fx, i.fy, i.cx, i.cy),
                        depth=DepthFile(depth_path, KITTI_DEPTH_SCALE),  # uint16 / 256 metres
                        sparse_depth=sparse,
                        sources=tuple(SourceFrame(raw_image(frame + o), o) for o in frame_offsets),
                    )
                )
        if not records:
            msg = f"no annotated depth PNGs under {annotated_root / split} (expected *_sync/proj_depth/groundtruth/...)"
            raise ConfigError(msg)
        try:
            check_files_exist(records, f"KITTI depth {split} under {annotated_root} with raw images in {raw_root}")
        except ConfigError as err:
            raise ConfigError(raw_image_message(str(err))) from None
        return cls(records, transform)

    @classmethod
    def from_val_selection(cls, root: Path, transform: Transform | None = None) -> KittiDepthDataset:
        """The 1000 frames of ``depth_selection/val_selection_cropped`` (layout 2); ``root`` is that folder.

        Raises:
            ConfigError: no images found, or an intrinsics file without 9 numbers.
        """
        root = Path(root)
        records = []
        for image_path in sorted((root / "image").glob("*_sync_image_*.png")):
            prefix, suffix = image_path.name.split("_sync_image_", 1)  # DRIVE, FRAME_image_0X.png
            k_path = root / "intrinsics" / image_path.with_suffix(".txt").name
            try:
                k = np.array(k_path.read_text().split(), dtype=np.float64)
            except (OSError, ValueError) as err:
                msg = f"{k_path}: cannot read the 9 values of K ({err}); is val_selection_cropped complete?"
                raise ConfigError(msg) from None
            if k.size != 9:
                msg = f"{k_path}: expected 9 values of K (row-major 3×3), got {k.size}"
                raise ConfigError(msg)
            gt_path = root / "groundtruth_depth" / f"{prefix}_sync_groundtruth_depth_{suffix}"
            sparse_path = root / "velodyne_raw" / f"{prefix}_sync_velodyne_raw_{suffix}"
            records.append(
                FrameRecord(
                    name=image_path.stem,
                    rgb_path=image_path,
                    camera=(float(k[0]), float(k[4]), float(k[2]), float(k[5])),
                    depth=DepthFile(gt_path, KITTI_DEPTH_SCALE),  # uint16 / 256 metres
                    sparse_depth=DepthFile(sparse_path, KITTI_DEPTH_SCALE),
                )
            )
        if not records:
            msg = f"no images under {root / 'image'}; give the val_selection_cropped folder of depth_selection"
            raise ConfigError(msg)
        check_files_exist(records, f"KITTI val_selection_cropped {root}")
        return cls(records, transform)
