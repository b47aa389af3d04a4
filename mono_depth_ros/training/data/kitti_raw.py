"""KITTI raw sequences (Eigen / Zhou split file lists) with neighbouring frames, stereo partner and Velodyne depth.

Layout (as downloaded from cvlibs.net and unzipped into one root)::

    ROOT/2011_09_26/calib_cam_to_cam.txt        P_rect_0X (3×4), R_rect_00, S_rect_0X (image size)
    ROOT/2011_09_26/calib_velo_to_cam.txt       R (3×3), T (3): Velodyne → unrectified camera 0
    ROOT/2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png    left colour (image_03: right)
    ROOT/2011_09_26/2011_09_26_drive_0002_sync/velodyne_points/data/0000000069.bin

Split files (monodepth2 ``splits/eigen*/{train,val,test}_files.txt``) hold one frame per line:
``2011_09_26/2011_09_26_drive_0002_sync 0000000069 l`` (folder, frame index with or without zero padding, side
``l`` = image_02 or ``r`` = image_03).

Geometry: ``point_in_cam = T(K⁻¹ P_rect_0X[:, 3]) · R_rect_00 · [R | T] · point_in_velo`` (the rectified camera X,
its stereo baseline offset included); pixels from ``P_rect_0X``'s left 3×3, the calibrated principal point, per date.
The Velodyne scan is projected with a z-buffer (nearest return per pixel) into ``sparse_depth``; with
``depth_from_lidar`` it is also the ground truth ``depth`` (the Eigen raw-Velodyne evaluation protocol).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import CalibrationError, ConfigError
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.training.data.kitti_files import raw_image_extension, raw_image_message, read_calib_file
from mono_depth_ros.training.data.records import (
    FrameRecord,
    LidarFile,
    RecordDataset,
    SourceFrame,
    Transform,
    check_files_exist,
)

Side = Literal["l", "r"]
SIDE_TO_CAMERA: dict[str, int] = {"l": 2, "r": 3}
STEREO_PARTNER = {2: 3, 3: 2}
CAM_TO_CAM = "calib_cam_to_cam.txt"
VELO_TO_CAM = "calib_velo_to_cam.txt"


@dataclass(frozen=True)
class SplitEntry:
    """One line of a KITTI raw split file.

    Attributes:
        folder: ``date/drive`` relative to the dataset root (``2011_09_26/2011_09_26_drive_0002_sync``).
        frame_index: frame number (file ``%010d``).
        side: ``l`` (image_02, left colour camera) or ``r`` (image_03, right).
    """

    folder: str
    frame_index: int
    side: Side

    @property
    def camera(self) -> int:
        """KITTI camera number: 2 (left colour) or 3 (right colour)."""
        return SIDE_TO_CAMERA[self.side]

    @property
    def date(self) -> str:
        """The calibration date folder (first component of ``folder``)."""
        return Path(self.folder).parts[0]


def parse_split_line(line: str) -> SplitEntry:
    """Parse ``"2011_09_26/2011_09_26_drive_0002_sync 0000000069 l"``.

    Raises:
        ConfigError: not three fields, a non-integer frame index, a side other than ``l`` / ``r``, or a folder
            without a date component.
    """
    fields = line.split()
    if len(fields) != 3 or fields[2] not in SIDE_TO_CAMERA or len(Path(fields[0]).parts) < 2:
        msg = f"KITTI split line {line!r} is not 'DATE/DRIVE FRAME l|r' (e.g. '2011_09_26/..._sync 0000000069 l')"
        raise ConfigError(msg)
    try:
        frame_index = int(fields[1])
    except ValueError:
        msg = f"KITTI split line {line!r}: frame {fields[1]!r} is not an integer"
        raise ConfigError(msg) from None
    side: Side = "l" if fields[2] == "l" else "r"
    return SplitEntry(fields[0], frame_index, side)


def read_split_file(path: Path) -> list[SplitEntry]:
    """Every non-empty line of a split file, in order.

    Raises:
        ConfigError: the file cannot be read, or a line is malformed (the message names the line number).
    """
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        msg = f"cannot read KITTI split file {path}: {err.strerror}; give a monodepth2-style *_files.txt"
        raise ConfigError(msg) from None
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append(parse_split_line(line))
        except ConfigError as err:
            msg = f"{path}:{number}: {err}"
            raise ConfigError(msg) from None
    return entries


@dataclass(frozen=True)
class RawCameraCalibration:
    """One rectified colour camera of a KITTI raw date.

    Attributes:
        intrinsics: pinhole intrinsics from ``P_rect_0X`` at the rectified image size ``S_rect_0X``.
        cam_from_velo: Velodyne → this camera's rectified optical frame (metres).
        cam_from_rect0: rectified camera 0 → this camera (a pure translation: the stereo baseline).
    """

    intrinsics: PinholeIntrinsics
    cam_from_velo: RigidTransform
    cam_from_rect0: RigidTransform


def read_raw_calibration_files(
    date_dir: Path,
) -> tuple[dict[str, npt.NDArray[np.float64]], dict[str, npt.NDArray[np.float64]]]:
    """The parsed ``calib_cam_to_cam.txt`` and ``calib_velo_to_cam.txt`` of a KITTI raw date directory.

    Raises:
        CalibrationError: a file is missing or unreadable (the message names the zip to download).
    """
    try:
        return read_calib_file(Path(date_dir) / CAM_TO_CAM), read_calib_file(Path(date_dir) / VELO_TO_CAM)
    except OSError as err:
        msg = f"cannot read KITTI raw calibration in {date_dir} ({err.strerror}: {err.filename}); download the "
        msg += "date's calibration zip (e.g. 2011_09_26_calib.zip) into the dataset root"
        raise CalibrationError(msg) from None


def load_raw_calibration(date_dir: Path, camera: int = 2) -> RawCameraCalibration:
    """Read ``calib_cam_to_cam.txt`` and ``calib_velo_to_cam.txt`` of one date folder for camera 2 or 3.

    Raises:
        CalibrationError: a file is missing or lacks ``P_rect_0X`` / ``R_rect_00`` / ``S_rect_0X`` / ``R`` / ``T``.
    """
    cam_to_cam, velo_to_cam = read_raw_calibration_files(date_dir)
    try:
        projection = cam_to_cam[f"P_rect_{camera:02d}"].reshape(3, 4)
        r_rect = cam_to_cam["R_rect_00"].reshape(3, 3)
        width, height = (round(float(v)) for v in cam_to_cam[f"S_rect_{camera:02d}"][:2])
        rotation = velo_to_cam["R"].reshape(3, 3)
        translation = velo_to_cam["T"].reshape(3)
    except (KeyError, ValueError) as err:
        msg = f"{date_dir}: KITTI raw calibration lacks or mangles {err}; re-extract {CAM_TO_CAM} / {VELO_TO_CAM}"
        raise CalibrationError(msg) from None
    k = projection[:, :3]
    intrinsics = PinholeIntrinsics(k[0, 0], k[1, 1], k[0, 2], k[1, 2], width=width, height=height)
    frame = f"camera_{camera:02d}"
    baseline_offset = np.linalg.solve(k, projection[:, 3]).astype(np.float64)  # metres, rectified camera-0 frame
    cam_from_rect0 = RigidTransform(np.eye(3), baseline_offset, frame, "rect_00")
    rect0_from_cam0 = RigidTransform(r_rect, np.zeros(3), "rect_00", "camera_00")
    cam0_from_velo = RigidTransform(rotation, translation, "camera_00", "velodyne")
    return RawCameraCalibration(intrinsics, cam_from_rect0 @ rect0_from_cam0 @ cam0_from_velo, cam_from_rect0)


class KittiRawDataset(RecordDataset):
    """KITTI raw frames of a split, each with neighbouring frames, optional stereo partner and Velodyne depth.

    Args:
        root: the raw dataset root (holding the date folders).
        entries: split entries, or the path of a split file.
        frame_offsets: temporal source frames, e.g. ``(-1, 1)`` for monodepth2-style self-supervision; ``()`` none.
        stereo: add the other colour camera of the same instant as a source (offset 0, pose known from the calib).
        lidar: project the Velodyne scan into ``sparse_depth``.
        depth_from_lidar: also use that projection as ``depth`` (raw-Velodyne ground truth of the Eigen protocol).
        image_ext: ``.png`` as downloaded, ``.jpg`` for monodepth2's converted copies; None: whichever of the two
            holds each drive camera's first listed image (``.png`` where both do).
        transform: applied to every sample (augmentation).
        check_files: verify at construction that every listed file exists (raises ConfigError naming them).

    Raises:
        ConfigError: an entry whose temporal neighbour lies outside its drive (frame -1 of the first frame, or past
            the last one): the message names the split line. Such entries are refused, not skipped, as monodepth2's
            split files already leave them out.
    """

    def __init__(
        self,
        root: Path,
        entries: Sequence[SplitEntry] | Path,
        frame_offsets: Sequence[int] = (-1, 1),
        stereo: bool = False,
        lidar: bool = True,
        depth_from_lidar: bool = False,
        image_ext: str | None = None,
        transform: Transform | None = None,
        check_files: bool = True,
    ) -> None:
        self.root = Path(root)
        split = read_split_file(entries) if isinstance(entries, Path) else list(entries)
        if any(offset == 0 for offset in frame_offsets):
            msg = f"frame_offsets {tuple(frame_offsets)} must not contain 0 (use stereo=True for the other camera)"
            raise ConfigError(msg)
        calibrations: dict[tuple[str, int], RawCameraCalibration] = {}

        def calibration(date: str, camera: int) -> RawCameraCalibration:
            if (date, camera) not in calibrations:
                calibrations[(date, camera)] = load_raw_calibration(self.root / date, camera)
            return calibrations[(date, camera)]

        extensions: dict[tuple[str, int], str] = {}

        def image_path(entry: SplitEntry, camera: int, frame_index: int) -> Path:
            stem = self.root / entry.folder / f"image_{camera:02d}" / "data" / f"{frame_index:010d}"
            if image_ext is not None:
                return stem.with_suffix(image_ext)
            if (entry.folder, camera) not in extensions:  # one stat per drive camera: a drive is converted whole
                # probed on the listed frame, not on the path asked for first (a neighbour, which may be missing)
                extensions[(entry.folder, camera)] = raw_image_extension(stem.with_name(f"{entry.frame_index:010d}"))
            return stem.with_suffix(extensions[(entry.folder, camera)])

        records = []
        for entry in split:
            before_start = [offset for offset in frame_offsets if entry.frame_index + offset < 0]
            if before_start:
                msg = (
                    f"KITTI split line '{_line(entry)}': its neighbour at offset {before_start[0]} would be frame "
                    f"{entry.frame_index + before_start[0]}, before the first frame of the drive; remove the line "
                    f"(monodepth2's splits leave out each drive's first and last frames) or use frame_offsets ()"
                )
                raise ConfigError(msg)
            calib = calibration(entry.date, entry.camera)
            sources = [
                SourceFrame(image_path(entry, entry.camera, entry.frame_index + offset), offset)
                for offset in frame_offsets
            ]
            if stereo:
                partner = STEREO_PARTNER[entry.camera]
                partner_from_target = calibration(entry.date, partner).cam_from_rect0 @ calib.cam_from_rect0.inverse()
                partner_path = image_path(entry, partner, entry.frame_index)
                sources.append(SourceFrame(partner_path, 0, partner_from_target.matrix))
            scan = None
            if lidar or depth_from_lidar:
                scan_path = self.root / entry.folder / "velodyne_points" / "data" / f"{entry.frame_index:010d}.bin"
                scan = LidarFile(scan_path, calib.cam_from_velo)
            i = calib.intrinsics
            records.append(
                FrameRecord(
                    name=f"{entry.folder} {entry.frame_index:010d} {entry.side}",
                    rgb_path=image_path(entry, entry.camera, entry.frame_index),
                    camera=(i.fx, i.fy, i.cx, i.cy),
                    lidar=scan,
                    lidar_as_sparse=lidar,
                    lidar_as_depth=depth_from_lidar,
                    sources=tuple(sources),
                )
            )
        if check_files:
            try:
                check_files_exist(records, f"KITTI raw under {self.root}")
            except ConfigError as err:  # missing: name the split line when it is a neighbour at a drive's end
                _check_neighbours_exist(split, records)
                if stereo:
                    _check_partners_exist(split, records)
                if image_ext is None:
                    raise ConfigError(raw_image_message(str(err))) from None
                raise
        super().__init__(records, transform)


def _line(entry: SplitEntry) -> str:
    """``entry`` as a split file line (``DATE/DRIVE FRAME l|r``)."""
    return f"{entry.folder} {entry.frame_index:010d} {entry.side}"


def _check_neighbours_exist(split: Sequence[SplitEntry], records: Sequence[FrameRecord]) -> None:
    """Raise :class:`ConfigError` for the first entry whose own image exists but a temporal neighbour does not (an
    entry at the end of its drive), naming the split line; other missing files are left to ``check_files_exist``
    (which runs first: this second pass over the files runs only when it found something missing).

    Entries are refused, not skipped: a split that silently loses frames would train and compare on other data
    than it names.
    """
    for entry, record in zip(split, records, strict=True):
        if not record.rgb_path.is_file():
            continue
        for source in record.sources:
            if source.offset != 0 and not source.path.is_file():
                msg = (
                    f"KITTI split line '{_line(entry)}': its neighbour at offset {source.offset} ({source.path}) "
                    f"does not exist (the end of the drive, or an incomplete extraction); remove the line "
                    f"(monodepth2's splits leave out each drive's first and last frames) or use frame_offsets ()"
                )
                raise ConfigError(msg)


def _check_partners_exist(split: Sequence[SplitEntry], records: Sequence[FrameRecord]) -> None:
    """Raise :class:`ConfigError` for the first entry whose own image exists but its stereo partner (the other colour
    camera, offset 0) does not, naming the split line, the file and the setting that asked for it."""
    for entry, record in zip(split, records, strict=True):
        partner = next((s.path for s in record.sources if s.offset == 0), None)
        if record.rgb_path.is_file() and partner is not None and not partner.is_file():
            msg = (
                f"KITTI split line '{_line(entry)}': the stereo source {partner} (the other colour camera, "
                f"image_0{STEREO_PARTNER[entry.camera]}) does not exist; extract both image_02 and image_03 of the "
                f"drive, or train without the stereo source (data.stereo: false)"
            )
            raise ConfigError(msg)
