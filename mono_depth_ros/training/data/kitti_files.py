"""KITTI file readers: object/raw calibration, Velodyne scans, annotated depth PNGs.

Units are converted here, once: Velodyne ``.bin`` is float32 x, y, z (metres, Velodyne frame) + reflectance;
annotated depth PNGs are uint16 with metres = value / 256 and 0 = no data (returned as float32 metres, NaN).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import CalibrationError, DataFileError, ShapeError
from mono_depth_ros.core.geometry import RigidTransform

KITTI_DEPTH_SCALE = 256.0  # annotated depth PNG: metres = value / 256
RAW_IMAGE_EXTENSIONS = (".png", ".jpg")  # KITTI raw as downloaded; monodepth2's converted copies (its default)


@dataclass(frozen=True)
class KittiCalibration:
    """Calibration of one KITTI colour camera (``image_2`` by default) and the Velodyne.

    Attributes:
        intrinsics: pinhole intrinsics of the rectified camera image (from P2's left 3×3).
        cam_from_velo: Velodyne frame → the camera's own optical frame (includes P2's baseline offset).
    """

    intrinsics: PinholeIntrinsics
    cam_from_velo: RigidTransform


def read_calib_file(path: Path) -> dict[str, npt.NDArray[np.float64]]:
    """Parse a KITTI ``key: v1 v2 ...`` calibration text file into float64 arrays."""
    values: dict[str, npt.NDArray[np.float64]] = {}
    for line in Path(path).read_text().splitlines():
        if ":" not in line:
            continue
        key, _, rest = line.partition(":")
        try:
            values[key.strip()] = np.array([float(x) for x in rest.split()], dtype=np.float64)
        except ValueError:
            continue  # non-numeric entries (e.g. calib_time) are not needed
    return values


def read_object_calibration(
    path: Path, camera: int = 2
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The three matrices of a KITTI 3D-object calib file: ``P<camera>`` (3×4, rectified camera ← rect0, pixels),
    ``R0_rect`` (3×3, rect0 ← cam0) and ``Tr_velo_to_cam`` (3×4, cam0 ← Velodyne, metres).

    Raises:
        CalibrationError: the file lacks one of them or holds the wrong number of values.
    """
    calib = read_calib_file(path)
    try:
        projection = calib[f"P{camera}"].reshape(3, 4)
        r0_rect = calib["R0_rect"].reshape(3, 3)
        velo_to_cam = calib["Tr_velo_to_cam"].reshape(3, 4)
    except (KeyError, ValueError) as err:
        msg = f"{path}: not a KITTI object calibration file (lacks or mangles {err}); use the benchmark's calib/*.txt"
        raise CalibrationError(msg) from None
    return projection, r0_rect, velo_to_cam


def load_object_calibration(path: Path, image_width: int, image_height: int, camera: int = 2) -> KittiCalibration:
    """Camera ``camera`` (2 = left colour) of a KITTI 3D-object calib file.

    ``point_in_cam = T(t_cam) · R0_rect · Tr_velo_to_cam · point_in_velo`` where ``t_cam = K⁻¹ P[:, 3]``.
    """
    projection, r0_rect, velo_to_cam = read_object_calibration(path, camera)
    k = projection[:, :3]
    intrinsics = PinholeIntrinsics(k[0, 0], k[1, 1], k[0, 2], k[1, 2], width=image_width, height=image_height)
    baseline = np.linalg.solve(k, projection[:, 3]).astype(np.float64)
    cam_from_rect0 = RigidTransform(np.eye(3), baseline, "camera", "rect0")
    rect0_from_cam0 = RigidTransform(r0_rect, np.zeros(3), "rect0", "cam0")
    cam0_from_velo = RigidTransform.from_matrix(velo_to_cam, "cam0", "velodyne")
    return KittiCalibration(intrinsics, cam_from_rect0 @ rect0_from_cam0 @ cam0_from_velo)


def load_velodyne(path: Path) -> npt.NDArray[np.float32]:
    """(N, 4) float32 ``x, y, z`` (metres, Velodyne frame) and reflectance."""
    raw = np.fromfile(path, dtype=np.float32)
    if raw.size % 4:
        msg = f"{path}: {raw.size} floats is not a multiple of 4 (x, y, z, reflectance); truncated scan?"
        raise ShapeError(msg)
    return raw.reshape(-1, 4)


def read_depth_png(path: Path, units: str | None = None) -> npt.NDArray[np.uint16]:
    """The (H, W) uint16 values of a depth PNG as stored; ``units`` (e.g. ``millimetres``) is named in its errors.

    Raises:
        DataFileError: missing or undecodable file. ShapeError: not single-channel uint16.
    """
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DataFileError(unreadable_file_message(path, "depth PNG"))
    if raw.dtype != np.uint16 or raw.ndim != 2:
        expected = "uint16" if units is None else f"uint16 {units}"
        msg = f"{path}: depth PNG must be single-channel {expected}, got {raw.dtype} {raw.shape}"
        raise ShapeError(msg)
    return np.asarray(raw, dtype=np.uint16)  # already uint16: the same array, typed


def load_depth_png(path: Path, scale: float = KITTI_DEPTH_SCALE) -> npt.NDArray[np.float32]:
    """uint16 depth PNG → (H, W) float32 metres (``value / scale``), NaN where the PNG holds 0."""
    raw = read_depth_png(path)
    depth_m = raw.astype(np.float32) / np.float32(scale)
    depth_m[raw == 0] = np.nan
    return depth_m


def raw_image_extension(stem: Path) -> str:
    """The image extension of a KITTI raw drive camera: whichever of :data:`RAW_IMAGE_EXTENSIONS` holds ``stem`` (a
    frame path without its suffix, e.g. ``<drive>/image_02/data/0000000000``), ``.png`` where both or neither do (a
    missing frame is then reported as ``.png``, with :func:`raw_image_message` naming both). A drive is converted
    whole (monodepth2's ``find ... -name '*.png' | parallel convert``): ask once per drive camera, with its first
    listed frame."""
    found = [ext for ext in RAW_IMAGE_EXTENSIONS if stem.with_suffix(ext).is_file()]
    return found[0] if found else RAW_IMAGE_EXTENSIONS[0]


def raw_image_message(message: str) -> str:
    """``message`` about missing KITTI raw images, with the extensions :func:`raw_image_extension` looked for."""
    return f"{message} (images are read as {' or '.join(RAW_IMAGE_EXTENSIONS)}, whichever the drive holds)"


def load_rgb(path: Path) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 RGB image (colour order RGB, not OpenCV's BGR).

    Raises:
        DataFileError: missing or undecodable file, or a JPEG cut short (:func:`jpeg_is_truncated`: libjpeg would
            return it with the missing part grey).
    """
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataFileError(unreadable_file_message(path, "image"))
    if jpeg_is_truncated(path):
        msg = (
            f"{path}: the JPEG is truncated (no end-of-image marker after its first scan, or headers cut short: an "
            f"interrupted copy or download; it would read with its lower part grey); replace or remove it"
        )
        raise DataFileError(msg)
    return np.ascontiguousarray(bgr[..., ::-1])


def jpeg_is_truncated(path: Path) -> bool:
    """True for a JPEG file (``FF D8`` first, any suffix) cut short before its end-of-image marker, or whose segment
    headers cannot be walked to its first scan (:func:`~mono_depth_ros.core.msg_compressed.jpeg_cut_short`); bytes
    after the end marker (a phone's trailer, a motion photo's video) are allowed whatever they hold. The file is read
    in full only when it does not end with the marker. False for other files."""
    from mono_depth_ros.core.msg_compressed import jpeg_cut_short

    with Path(path).open("rb") as handle:
        if handle.read(2) != b"\xff\xd8":
            return False
        if handle.seek(0, 2) >= 4:
            handle.seek(-2, 2)
            if handle.read(2) == b"\xff\xd9":
                return False
        handle.seek(0)
        return jpeg_cut_short(np.frombuffer(handle.read(), dtype=np.uint8))


def unreadable_file_message(path: Path, what: str) -> str:
    """Why OpenCV returned nothing for ``path``: missing, or there but not a decodable ``what``."""
    if not Path(path).is_file():
        return f"{path}: no such {what} file; check the dataset folder"
    return f"{path}: the file exists but is not a decodable {what} (truncated or corrupt); replace or remove it"
