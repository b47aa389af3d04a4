"""File-based frames → :class:`~mono_depth_ros.training.data.sample.Sample`: the loader the on-disk datasets share.

Each dataset module (KITTI raw, KITTI depth, NYU, generic folder) only lists :class:`FrameRecord` entries: which
files hold the image, its depth, its LiDAR scan and its source frames, and what units they are in. Loading, unit
conversion (once, here) and the Sample layout live in :class:`RecordDataset`.

Depth file units: ``.png`` is uint16 with ``metres = value / png_scale`` and 0 = no data (``png_scale`` 1000 =
millimetres, decoded by :mod:`mono_depth_ros.core.depth_codec`; 256 = KITTI); ``.npy`` / ``.npz`` (one array, or
the one named ``depth``) is float metres with NaN, ±Inf or <= 0 = no data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from torch.utils.data import Dataset

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.depth_codec import MILLIMETRES_PER_METRE, decode_depth
from mono_depth_ros.core.errors import ConfigError, DataFileError, ShapeError
from mono_depth_ros.core.geometry import RigidTransform, zbuffer_depth
from mono_depth_ros.training.data.kitti_files import load_depth_png, load_rgb, load_velodyne, read_depth_png
from mono_depth_ros.training.data.sample import Sample, depth_tensor, k_tensor, rgb_tensor

Transform = Callable[[Sample], Sample]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DepthFile:
    """A depth map on disk.

    Attributes:
        path: ``.png`` (uint16) or ``.npy`` / ``.npz`` (float metres).
        png_scale: PNG values per metre (1000 = millimetres, 256 = KITTI); ignored for ``.npy``.
    """

    path: Path
    png_scale: float = MILLIMETRES_PER_METRE


@dataclass(frozen=True)
class LidarFile:
    """A LiDAR scan in KITTI ``.bin`` layout (float32 x, y, z, reflectance; metres, LiDAR frame) and its extrinsics.

    Attributes:
        path: the ``.bin`` file.
        cam_from_lidar: LiDAR frame → the image's optical frame.
    """

    path: Path
    cam_from_lidar: RigidTransform


@dataclass(frozen=True)
class SourceFrame:
    """A source image of a target frame.

    Attributes:
        path: the image file (same camera model and size as the target).
        offset: frame offset from the target (-1, +1, ...; 0 = stereo partner).
        source_from_target: (4, 4) float64 rigid transform target → source optical frame in metres, None = unknown.
    """

    path: Path
    offset: int
    source_from_target: FloatArray | None = None


@dataclass(frozen=True)
class FrameRecord:
    """Where one frame's data lives.

    Attributes:
        name: identifier (dataset-relative path).
        rgb_path: colour image (any format OpenCV reads; 8-bit).
        camera: ``(fx, fy, cx, cy)`` in pixels of that image.
        depth: ground-truth depth map, None = none.
        sparse_depth: sparse depth map (e.g. KITTI ``velodyne_raw``), None = none.
        lidar: LiDAR scan projected into the image (z-buffer, nearest return per pixel).
        lidar_as_sparse: the projected scan becomes ``sparse_depth`` (when no ``sparse_depth`` file is given).
        lidar_as_depth: the projected scan becomes ``depth`` (when no ``depth`` file is given), as in KITTI's Eigen
            raw-Velodyne evaluation.
        sources: source frames, in the order the Sample lists them.
        seen: 8-bit mask image of the pixels that view the scene (0 = an undistorted raw camera's black fill), the
            same for the sources; None = all.
    """

    name: str
    rgb_path: Path
    camera: tuple[float, float, float, float]
    depth: DepthFile | None = None
    sparse_depth: DepthFile | None = None
    lidar: LidarFile | None = None
    lidar_as_sparse: bool = True
    lidar_as_depth: bool = False
    sources: tuple[SourceFrame, ...] = ()
    seen: Path | None = None

    def paths(self) -> list[Path]:
        """Every file this record reads."""
        found = [self.rgb_path, *(s.path for s in self.sources)]
        found += [f.path for f in (self.depth, self.sparse_depth, self.lidar) if f is not None]
        return found + ([self.seen] if self.seen is not None else [])


def _load_array(path: Path) -> npt.NDArray[np.generic]:
    """The array of an ``.npy``, or of an ``.npz`` (its only array, else the one named ``depth``), singleton axes
    dropped ((1, H, W) and (H, W, 1) as networks save them)."""
    if path.suffix.lower() != ".npz":
        return np.squeeze(np.asarray(np.load(path, allow_pickle=False)))
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if len(names) != 1 and "depth" not in names:
            msg = f"{path}: .npz holds arrays {names}; keep one, or name the depth array 'depth'"
            raise ShapeError(msg)
        return np.squeeze(np.asarray(archive[names[0] if len(names) == 1 else "depth"]))


def load_depth_file(depth_file: DepthFile) -> npt.NDArray[np.float32]:
    """Read a depth map → (H, W) float32 metres, NaN = no data (see the module docstring for units)."""
    path = depth_file.path
    if path.suffix.lower() in (".npy", ".npz"):
        values = _load_array(path)  # float metres
        if values.ndim != 2 or not np.issubdtype(values.dtype, np.floating):
            msg = f"{path}: depth {path.suffix} must be a 2-D float array of metres, got {values.dtype} {values.shape}"
            raise ShapeError(msg)
        depth_m: npt.NDArray[np.float32] = values.astype(np.float32)
        with np.errstate(invalid="ignore"):
            depth_m[~(np.isfinite(depth_m) & (depth_m > 0))] = np.nan
        return depth_m
    if depth_file.png_scale == MILLIMETRES_PER_METRE:
        return decode_depth(read_depth_png(path, "millimetres"), "16UC1")  # uint16 millimetres, 0 = no data
    return load_depth_png(path, scale=depth_file.png_scale)  # uint16 value / png_scale metres, 0 = no data


def project_lidar(lidar: LidarFile, intrinsics: PinholeIntrinsics) -> npt.NDArray[np.float32]:
    """Project a scan into the image: (H, W) float32 metres along z, nearest return per pixel, NaN where none."""
    points_in_lidar = load_velodyne(lidar.path)[:, :3].astype(np.float64)
    depth_m, _ = zbuffer_depth(lidar.cam_from_lidar.apply(points_in_lidar), intrinsics)
    return depth_m


def check_files_exist(records: Sequence[FrameRecord], what: str) -> None:
    """Raise :class:`ConfigError` naming the first missing files of ``records`` (a wrong root or split file)."""
    missing = [p for record in records for p in record.paths() if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:3])
        msg = (
            f"{what}: {len(missing)} file(s) listed do not exist (first: {shown}); check the dataset root, the "
            f"split file and that the data was extracted completely"
        )
        raise ConfigError(msg)


class RecordDataset(Dataset[Sample]):
    """A map-style dataset of :class:`FrameRecord` entries, each loaded into a :class:`Sample`.

    Args:
        records: the frames.
        transform: applied to every loaded sample (e.g. :class:`~mono_depth_ros.training.data.augment.TrainAugment`).
    """

    def __init__(self, records: Sequence[FrameRecord], transform: Transform | None = None) -> None:
        if not records:
            msg = f"{type(self).__name__} has no frames; check the dataset root and the split / file list"
            raise ConfigError(msg)
        self.records = list(records)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Sample:
        sample = self.load(self.records[index])
        return self.transform(sample) if self.transform is not None else sample

    def load(self, record: FrameRecord) -> Sample:
        """Read one record (no transform)."""
        rgb = load_rgb(record.rgb_path)
        height, width = rgb.shape[:2]
        fx, fy, cx, cy = record.camera
        intrinsics = PinholeIntrinsics(fx, fy, cx, cy, width=width, height=height)
        lidar_m = project_lidar(record.lidar, intrinsics) if record.lidar is not None else None
        depth_m = load_depth_file(record.depth) if record.depth is not None else None
        if depth_m is None and record.lidar_as_depth:
            depth_m = lidar_m
        sparse_m = load_depth_file(record.sparse_depth) if record.sparse_depth is not None else None
        if sparse_m is None and record.lidar_as_sparse:
            sparse_m = lidar_m
        sources = []
        for source in record.sources:
            source_rgb = load_rgb(source.path)
            if source_rgb.shape != rgb.shape:
                msg = f"{source.path}: source image is {source_rgb.shape}, the target {record.rgb_path} {rgb.shape}"
                raise ShapeError(msg)
            sources.append(rgb_tensor(source_rgb))
        poses = torch.full((len(sources), 4, 4), float("nan"), dtype=torch.float32)
        for i, source in enumerate(record.sources):
            if source.source_from_target is not None:
                poses[i] = torch.from_numpy(np.asarray(source.source_from_target, dtype=np.float32))
        return Sample(
            rgb=rgb_tensor(rgb),
            depth=depth_tensor(depth_m, height, width, _source("depth", record.depth, record.rgb_path)),
            sparse_depth=depth_tensor(
                sparse_m, height, width, _source("sparse_depth", record.sparse_depth, record.rgb_path)
            ),
            k=k_tensor(intrinsics),
            sources=torch.stack(sources) if sources else torch.zeros((0, 3, height, width)),
            source_offsets=tuple(s.offset for s in record.sources),
            source_from_target=poses,
            pose_known=torch.tensor([s.source_from_target is not None for s in record.sources], dtype=torch.bool),
            name=record.name,
            seen=load_seen(record.seen, height, width) if record.seen is not None else _no_mask(),
        )


def _source(field: str, depth: DepthFile | None, image: Path) -> str:
    """How a depth size error names the map: the field and its file (the LiDAR projection has the image's size)."""
    return f"{field}: {depth.path if depth is not None else 'the projected scan'} (of {image.name})"


def _no_mask() -> Tensor:
    return torch.zeros((1, 0, 0), dtype=torch.bool)  # Sample makes it all seen


def load_seen(path: Path, height: int, width: int) -> Tensor:
    """(1, H, W) bool mask of an 8-bit image, True where non-zero.

    Raises:
        DataFileError: unreadable, or not of the image's size.
    """
    import cv2

    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None or mask.shape != (height, width):
        got = "unreadable" if mask is None else f"{mask.shape[1]}x{mask.shape[0]}"
        msg = f"seen mask {path} is {got}, the image is {width}x{height}; write an 8-bit mask of the image's size"
        raise DataFileError(msg)
    return torch.from_numpy(mask > 0)[None]


def resolve_listed_path(root: Path, listed: str) -> Path:
    """A path from a file list, relative to ``root``; leading components that ``root`` lacks are dropped.

    Metric3D's ``test_annotations.json`` lists ``data/kitti_demo/rgb/x.png`` relative to its repository, so under a
    root that is the ``kitti_demo`` folder itself the file is ``root / "rgb/x.png"``. Returns ``root / listed`` when
    no suffix exists (the caller reports it missing).
    """
    parts = Path(listed.lstrip("/")).parts
    for start in range(len(parts)):
        candidate = root.joinpath(*parts[start:])
        if candidate.is_file():
            return candidate
    return root.joinpath(*parts)


def records_from_annotation_json(root: Path, json_path: Path, default_png_scale: float) -> list[FrameRecord]:
    """Frames of a Metric3D-style ``test_annotations.json``.

    Format: ``{"files": [{"rgb": PATH, "depth": PATH, "cam_in": [fx, fy, cx, cy], "depth_scale": S}, ...]}`` with
    depth PNGs in uint16, ``metres = value / S`` (``default_png_scale`` where ``depth_scale`` is absent).

    Raises:
        ConfigError: the file is missing, not JSON, or an entry lacks ``rgb`` / ``cam_in``.
    """
    import json

    try:
        entries = json.loads(Path(json_path).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = f"{json_path}: not a readable annotation file with a 'files' list ({err}); check the dataset root"
        raise ConfigError(msg) from None
    records = []
    for i, entry in enumerate(entries):
        try:
            fx, fy, cx, cy = (float(v) for v in entry["cam_in"][:4])
            rgb_path = resolve_listed_path(root, str(entry["rgb"]))
        except (KeyError, TypeError, ValueError) as err:
            msg = f"{json_path}: entry {i} needs 'rgb' and 'cam_in' [fx, fy, cx, cy] ({err})"
            raise ConfigError(msg) from None
        depth = None
        if entry.get("depth"):
            scale = float(entry.get("depth_scale", default_png_scale))
            depth = DepthFile(resolve_listed_path(root, str(entry["depth"])), png_scale=scale)
        name = str(rgb_path.relative_to(root)) if rgb_path.is_relative_to(root) else str(rgb_path)
        records.append(FrameRecord(name, rgb_path, (fx, fy, cx, cy), depth=depth))
    return records


def annotated_records(root: Path, json_name: str, default_png_scale: float, label: str) -> list[FrameRecord]:
    """The frames of a Metric3D-style annotation file under ``root``, sorted by name, every file checked.

    Raises:
        ConfigError: the file cannot be read, or listed files are missing (``label`` names the dataset).
    """
    records = records_from_annotation_json(root, root / json_name, default_png_scale=default_png_scale)
    check_files_exist(records, f"{label} {root / json_name}")
    return sorted(records, key=lambda r: r.name)
