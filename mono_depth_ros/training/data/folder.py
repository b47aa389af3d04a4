"""A generic folder of frames: bring your own RGB-D (or RGB-only) data without writing a dataset class.

Layout (only ``rgb/`` and the intrinsics are required)::

    ROOT/rgb/<stem>.png | .jpg | .jpeg     colour images, 8-bit; name order (numbers by value) = sequence order
    ROOT/depth/<stem>.png                  ground truth, uint16 millimetres (0 = no data)  [or png_scale per metre]
    ROOT/depth/<stem>.npy | .npz           ground truth, float metres (NaN / ±Inf / <= 0 = no data)
    ROOT/sparse_depth/<stem>.png | .npy    sparse depth (e.g. projected LiDAR), same units as depth/
    ROOT/intrinsics.yaml                   one camera for every frame
    ROOT/intrinsics/<stem>.json            or per frame (overrides intrinsics.yaml for that frame)
    ROOT/seen/<stem>.png                   optional 8-bit mask, 0 where the image is no view of the scene (the black
                                           fill of an undistorted raw camera): no photometric error nor smoothness there

An image whose EXIF orientation tag turns it (a phone's portrait or upside-down shot) is refused: OpenCV would read it
turned, its depth and intrinsics as stored. Intrinsics are in pixels of the images in ``rgb/`` (no distortion:
rectify first), either as ``fx: 525.0  fy: 525.0  cx: 319.5  cy: 239.5``, as
``K: [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]`` or as a calibration tool writes them (YAML or JSON, same keys): ROS
``camera_calibration``'s camera_info YAML (its ``projection_matrix``, the rectified camera) or OpenCV FileStorage
YAML (``camera_matrix``, refused with non-zero distortion).
A frame without a depth file gets an all-NaN ``depth``; stems are matched exactly (``0001.jpg`` ↔ ``0001.png``);
hidden files (names starting with ``.``, as macOS's ``._<name>``) are no frames; an image in another format
(``.heic``, ``.webp``, ``.tiff``, ...) is refused naming it, not skipped (a gap in a sequence), and so are two
images of one stem (``0001.jpg`` and ``0001.png``: one frame twice).
Suffixes match in any case; a ``depth/`` or ``sparse_depth/`` file of a stem in another format (float TIFF, EXR,
PFM) is refused naming it, not read as a frame without that data, and so are two files of one stem there.
With ``frame_offsets`` the folder is one image sequence: frame ``i``'s sources are frames ``i + o`` in name order,
and only frames whose sources all exist, in the same run of frame numbers (:func:`sequence_splits`: no gap of
dropped frames, no other scene between them), are targets; the splits and the frames they leave without
neighbours are logged (:attr:`FolderDataset.sequence_report`).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

from mono_depth_ros.core.depth_codec import MILLIMETRES_PER_METRE
from mono_depth_ros.core.errors import ConfigError, DataFileError
from mono_depth_ros.training.data.exif import TURNS, UPRIGHT, exif_orientation
from mono_depth_ros.training.data.records import DepthFile, FrameRecord, RecordDataset, SourceFrame, Transform

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
UNREAD_IMAGE_SUFFIXES = (".heic", ".heif", ".avif", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".dng", ".jp2")
"""Image formats a phone or an export writes that :func:`list_images` does not list: refused in ``rgb/``."""
GAP_STEPS = Decimal(3)  # a frame-number step over this many median steps is a gap (rosbag_sequence.GAP_PERIODS)
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")  # a frame number or a stamp in seconds (exact: Decimal, not float)
DEPTH_SUFFIXES = (".png", ".npy", ".npz")
SHOWN_SPLITS = 5  # splits named in the report; the others counted
_LOG = logging.getLogger(__name__)
Camera = tuple[float, float, float, float]


def _numbers(value: Any) -> list[float]:
    """The numbers of a calibration matrix: a list (flat or of rows) or a ``{rows, cols, data}`` mapping (ROS
    camera_info YAML, OpenCV ``!!opencv-matrix``)."""
    data = value["data"] if isinstance(value, Mapping) else value
    if not data:  # an empty matrix (a camera_info's distortion_coefficients of a camera without distortion)
        return []
    return [float(v) for row in data for v in row] if isinstance(data[0], list) else [float(v) for v in data]


def _matrix(value: Any, rows: int, cols: int, source: str, key: str) -> list[float]:
    """:func:`_numbers` of a ``rows`` × ``cols`` matrix, row by row.

    Raises:
        ConfigError: another number of values.
    """
    flat = _numbers(value)
    if len(flat) != rows * cols:
        msg = f"{source}: {key} must be {rows}×{cols} ({rows * cols} values), got {len(flat)}"
        raise ConfigError(msg)
    return flat


def _calibration_camera(values: Mapping[str, Any], source: str) -> Camera:
    """A calibration tool's file: ROS ``camera_calibration`` (``camera_matrix``, ``distortion_coefficients``,
    ``projection_matrix`` as ``{rows, cols, data}``) or OpenCV FileStorage (``camera_matrix``,
    ``distortion_coefficients``). The projection matrix is the camera of the rectified image (image_proc's
    ``image_rect``); without one (or an all-zero one) the camera matrix, only when there is no distortion."""
    if "projection_matrix" in values:
        p = _matrix(values["projection_matrix"], 3, 4, source, "projection_matrix")
        if p[0] > 0 and p[5] > 0:  # an all-zero P (written by hand, or an uncalibrated camera_info): not given
            return p[0], p[5], p[2], p[6]
    k = _matrix(values["camera_matrix"], 3, 3, source, "camera_matrix")
    distortion = values.get("distortion_coefficients")
    coefficients = _numbers(distortion) if distortion else []
    if any(c != 0.0 for c in coefficients):
        msg = (
            f"{source}: distortion_coefficients {coefficients} are not zero and there is no projection_matrix: the "
            f"images in rgb/ must be rectified; undistort them (cv2.undistort, image_proc) and give the camera of "
            f"the undistorted images (fx, fy, cx, cy, or the calibration's projection_matrix)"
        )
        raise ConfigError(msg)
    return k[0], k[4], k[2], k[5]


def camera_from_mapping(values: Mapping[str, Any], source: str) -> Camera:
    """``{fx, fy, cx, cy}``, ``{K: 3×3}`` or a calibration tool's file (ROS camera_info YAML, OpenCV FileStorage:
    :func:`_calibration_camera`) → ``(fx, fy, cx, cy)`` in pixels.

    Raises:
        ConfigError: no form is present, the values are not numbers, or a distorted camera without a rectified one.
    """
    try:
        if "camera_matrix" in values or "projection_matrix" in values:
            return _calibration_camera(values, source)
        if "K" in values:
            k = _matrix(values["K"], 3, 3, source, "K")
            return k[0], k[4], k[2], k[5]
        return float(values["fx"]), float(values["fy"]), float(values["cx"]), float(values["cy"])
    except (KeyError, TypeError, ValueError, IndexError) as err:
        msg = (
            f"{source}: intrinsics need fx, fy, cx, cy (pixels), K (3×3) or a calibration file's camera_matrix / "
            f"projection_matrix ({type(err).__name__}: {err})"
        )
        raise ConfigError(msg) from None


def calibrated_size(values: Mapping[str, Any]) -> tuple[int, int] | None:
    """``(image_width, image_height)`` of a calibration file that states them (ROS camera_info YAML, OpenCV's
    calibration sample), the size its camera matrix is in pixels of; None when not stated."""
    try:
        return int(values["image_width"]), int(values["image_height"])
    except (KeyError, TypeError, ValueError):
        return None


def _read_mapping(path: Path) -> Mapping[str, Any]:
    import yaml

    class CalibrationLoader(yaml.SafeLoader):
        """Safe YAML that also reads OpenCV FileStorage's ``!!opencv-matrix`` (a ``{rows, cols, dt, data}`` map)."""

    def opencv_matrix(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        return loader.construct_mapping(node, deep=True)

    CalibrationLoader.add_constructor("tag:yaml.org,2002:opencv-matrix", opencv_matrix)
    try:
        text = path.read_text()
        if path.suffix != ".json" and text.startswith("%YAML"):
            text = text.split("\n", 1)[-1]  # OpenCV's "%YAML:1.0" (or 1.2) header: no directive PyYAML takes
        values = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=CalibrationLoader)
    except (OSError, ValueError, yaml.YAMLError) as err:
        msg = f"cannot read intrinsics file {path}: {err}"
        raise ConfigError(msg) from None
    if not isinstance(values, Mapping):
        msg = f"{path}: intrinsics must be a mapping (fx, fy, cx, cy or K), got {type(values).__name__}"
        raise ConfigError(msg)
    return values


def frames_needed(frame_offsets: Sequence[int]) -> int:
    """How many consecutive frames one target with sources at ``frame_offsets`` spans (itself and its farthest
    sources on both sides)."""
    return max((*frame_offsets, 0)) - min((*frame_offsets, 0)) + 1


def _name_key(name: str) -> tuple[str | Decimal, ...]:
    return tuple(Decimal(part) if i % 2 else part for i, part in enumerate(_NUMBER.split(name)))


def frame_order(path: Path) -> tuple[tuple[str | Decimal, ...], str]:
    """Sort key of a frame file: its name with each number (digits, with a decimal fraction if one follows)
    compared by value, so that unpadded frame numbers and float stamps keep the recording order (``frame_2`` before
    ``frame_10``, ``1317384507.123`` before ``1317384507.5``; zero-padded names sort as before); names of equal
    value (``frame_01``, ``frame_1``) by the name itself, not in the directory's listing order."""
    return _name_key(path.name), path.name


def _joined_step(a: Sequence[str], b: Sequence[str], position: int) -> Decimal | None:
    """The step of the frame number at ``position`` of two names' :data:`_NUMBER` splits when it and the number
    before it both change, read as one number (seconds and nanoseconds: ``1700000000_990000000`` →
    ``1700000001_023000000``) where one ``_`` / ``-`` joins them and the frame number has one width in both names
    (zero-padded); None otherwise (another scene: ``scene2_frame450`` → ``scene3_frame001``)."""
    width = len(a[position])
    if (
        position < 3
        or a[position - 1] not in ("_", "-")
        or len(b[position]) != width
        or "." in a[position] + b[position]
    ):
        return None
    scale = Decimal(10) ** width
    joined = [Decimal(n[position - 2]) * scale + Decimal(n[position]) for n in (a, b)]
    return joined[1] - joined[0]


class Split(NamedTuple):
    """Why two images in name order are not consecutive frames of one recording (:func:`sequence_splits`)."""

    kind: (
        str  # "scene" (the name differs elsewhere), "back" (the frame number goes back), "gap" (a step over the limit)
    )
    why: str  # in words, with the numbers


def sequence_splits(images: Sequence[Path], gap_steps: Decimal = GAP_STEPS) -> list[Split | None]:
    """``splits[i]``: why images ``i`` and ``i + 1`` (in :func:`frame_order`) are not consecutive frames of one
    recording, or None when they are.

    The frame number is the number of the names (stems) that changes from one image to the next; a pair is split
    where the names differ elsewhere (another scene or camera: ``scene2_frame450`` → ``scene3_frame001``), or the
    number goes back, or it steps over ``gap_steps`` × the folder's median step (dropped frames, as a bag's sequence
    is split at 3 median frame periods; a regular step such as every 50th frame kept is no gap; 0: no gap rule, for a
    folder sampled unevenly). A number joined to the frame number by ``_`` / ``-`` that changes with it (seconds
    beside zero-padded nanoseconds, ``1700000000_990000000`` → ``1700000001_023000000``) is read with it as one
    stamp. Names without numbers give no splits.
    """
    splits = [_NUMBER.split(p.stem) for p in images]
    pairs = list(pairwise(tuple(Decimal(part) if i % 2 else part for i, part in enumerate(n)) for n in splits))
    differing: list[list[int] | None] = []  # per pair: the positions of the numbers that differ (None: other text)
    for a, b in pairs:
        same_text = len(a) == len(b) and all(a[i] == b[i] for i in range(0, len(a), 2))
        differing.append([i for i in range(1, len(a), 2) if a[i] != b[i]] if same_text else None)
    scene = Split("scene", "the name changes beside the frame number: another scene or camera")
    single = [d[0] for d in differing if d is not None and len(d) == 1]
    if not single:
        return [None] * len(pairs)
    position = max(set(single), key=single.count)  # the frame number: what most consecutive pairs differ in
    steps = [
        Decimal(b[position]) - Decimal(a[position])
        if d == [position]
        else _joined_step(splits[k], splits[k + 1], position)
        if d == [position - 2, position]
        else None
        for k, ((a, b), d) in enumerate(zip(pairs, differing, strict=True))
    ]
    forward = sorted(step for step in steps if step is not None and step > 0)
    if not forward:
        return [None if d == [] else scene for d in differing]
    median = forward[len(forward) // 2]
    limit = gap_steps * median if gap_steps > 0 else None
    return [
        scene
        if step is None
        else Split("back", f"the frame number steps {step}: back, or the same")
        if step <= 0
        else Split("gap", f"step {step} over {float(gap_steps):g} × the median step {median}")
        if limit is not None and step > limit
        else None
        for step in steps
    ]


def list_images(folder: Path) -> list[Path]:
    """The images of ``folder`` (:data:`IMAGE_SUFFIXES`, any case) in recording order (:func:`frame_order`), hidden
    files left out (names starting with ``.``: macOS writes ``._<name>`` beside each file it copies)."""
    found = (p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.name[0] != ".")
    return sorted(found, key=frame_order)


def refuse_unread_images(folder: Path) -> None:
    """Refuse an image of ``folder`` in a format the loader does not read (:data:`UNREAD_IMAGE_SUFFIXES`): skipped,
    it would be a missing frame, and in a sequence its neighbours each other's sources across the gap.

    Raises:
        ConfigError: naming the first such file and the remedy.
    """
    for path in sorted(folder.glob("*")):
        if path.suffix.lower() in UNREAD_IMAGE_SUFFIXES and path.name[0] != ".":
            msg = (
                f"{path}: {path.suffix.lower()} images are not read ({', '.join(IMAGE_SUFFIXES)} are); convert it "
                f"to PNG or JPEG (e.g. heif-convert, ImageMagick's magick) or move it out of {folder.name}/"
            )
            raise ConfigError(msg)


def require_upright(image: Path) -> None:
    """Refuse an image whose EXIF orientation tag turns it: OpenCV reads it turned, its depth map and intrinsics
    (written for one orientation, most often the stored pixels) are read as stored.

    Raises:
        ConfigError: naming the file, its tag and the remedy. DataFileError: the file cannot be read.
    """
    try:
        orientation = exif_orientation(image)
    except OSError as err:
        msg = f"cannot read {image}: {err}"
        raise DataFileError(msg) from None
    if orientation != UPRIGHT:
        msg = (
            f"{image}: EXIF orientation {orientation} ({TURNS.get(orientation, 'unknown')}): OpenCV reads the image "
            f"turned so, its depth map and the intrinsics are read as stored; write the pixels upright without the "
            f"tag (PIL.ImageOps.exif_transpose, then save) and turn its depth and intrinsics the same way, or, when "
            f"they are of the stored pixels, drop the tag (exiftool -Orientation=1 -n FILE)"
        )
        raise ConfigError(msg)


class _Files:
    """The files of one folder (``depth/``, ``sparse_depth/``, ``seen/``) by stem, hidden files left out, suffixes
    matched in any case (a camera's ``.PNG``); a stem whose only files have another suffix is refused, not taken for
    a frame without that data."""

    def __init__(self, folder: Path, suffixes: Sequence[str], remedy: str) -> None:
        self.suffixes, self.remedy, self.what = suffixes, remedy, folder.name
        self.by_stem: dict[str, list[Path]] = {}
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.name[0] != "." and path.is_file():
                    self.by_stem.setdefault(path.stem, []).append(path)

    def find(self, image: Path) -> Path | None:
        """The file of ``image``'s stem, or None when it has none.

        Raises:
            ConfigError: the stem has files, none of them with a suffix read here, or two that are.
        """
        files = self.by_stem.get(image.stem, [])
        read = [path for path in files if path.suffix.lower() in self.suffixes]
        if len(read) > 1:
            msg = (
                f"{read[0]} and {read[1]} are both {self.what} of {image.name}: which one holds it is not known "
                f"(a picture of depth beside the depth?); keep one"
            )
            raise ConfigError(msg)
        if read:
            return read[0]
        if files:
            msg = (
                f"{files[0]}: {files[0].suffix} files are not read here ({', '.join(self.suffixes)} are); {self.remedy}"
            )
            raise ConfigError(msg)
        return None


def _segments(splits: Sequence[Split | None]) -> list[int]:
    """Per image: the number of splits before it (images of one number are one sequence)."""
    segment = [0]
    for split in splits:
        segment.append(segment[-1] + (split is not None))
    return segment


def _sequence_report(images: Sequence[Path], splits: Sequence[Split | None], targets: int, inside: int) -> str:
    """The sequences of ``images`` in words: how many, where and why split (the first :data:`SHOWN_SPLITS`), and
    how many frames are no target (``inside``: frames whose sources' indices exist; ``targets``: those of them
    whose sources are in their own sequence)."""
    at = [(k, split) for k, split in enumerate(splits) if split is not None]
    count = len(at) + 1
    text = f"{count} sequence{'s' if count > 1 else ''} of {len(images)} frames, "
    if at:
        kinds = Counter(split.kind for _, split in at)
        named = {"gap": "gap", "scene": "change of scene", "back": "step back"}
        counts = ", ".join(f"{n} {named[kind]}{'s' if n > 1 else ''}" for kind, n in kinds.items())
        text += f"split at {len(at)} ({counts})"
        text += ": " + "; ".join(
            f"{images[k].name} → {images[k + 1].name} ({split.why})" for k, split in at[:SHOWN_SPLITS]
        )
        text += f"; and {len(at) - SHOWN_SPLITS} more" if len(at) > SHOWN_SPLITS else ""
    else:
        text += "not split"
    lost = len(images) - targets
    return text + f"; {lost} frames are no target for want of neighbours ({inside - targets} at the splits)"


class FolderDataset(RecordDataset):
    """Frames of a folder in the layout of the module docstring.

    Args:
        root: the folder holding ``rgb/``.
        png_scale: depth PNG values per metre (1000 = millimetres; 256 for KITTI-style PNGs).
        frame_offsets: treat the folder as one sequence and add these source frames (e.g. ``(-1, 1)``).
        gap_steps: a frame-number step over this many median steps splits the sequence (:func:`sequence_splits`);
            0: no gap rule (a folder sampled unevenly: every frame, then every 10th; irregular keyframes).
        transform: applied to every sample.

    Raises:
        ConfigError: no images in ``rgb/``, an image with an EXIF orientation tag that turns it
            (:func:`require_upright`), no intrinsics for a frame, an offset 0, no frame with all its sources, or
            the gap rule leaving most frames with neighbours no target (naming ``gap_steps``).
    """

    def __init__(
        self,
        root: Path,
        png_scale: float = MILLIMETRES_PER_METRE,
        frame_offsets: Sequence[int] = (),
        gap_steps: float = float(GAP_STEPS),
        transform: Transform | None = None,
    ) -> None:
        self.root = Path(root)
        refuse_unread_images(self.root / "rgb")
        images = list_images(self.root / "rgb")
        by_stem: dict[str, Path] = {}
        for image in images:
            twin = by_stem.setdefault(image.stem, image)
            if twin != image:  # depth/, intrinsics/ and seen/ match by stem: one stem is one frame
                msg = (
                    f"{twin} and {image} are one frame (stem {image.stem}) twice: in a sequence each would be the "
                    f"other's source, and both take depth/{image.stem}.*; keep one of them in rgb/"
                )
                raise ConfigError(msg)
        if not images:
            msg = f"no images ({', '.join(IMAGE_SUFFIXES)}) in {self.root / 'rgb'}; see the folder layout in the docs"
            if not self.root.is_dir():
                msg = f"data.root {self.root} is not a directory; give the folder that holds rgb/ (folder layout)"
            elif any(p.suffix.lower() in IMAGE_SUFFIXES for p in self.root.glob("*")):
                msg += f" (the images in {self.root} itself belong in {self.root / 'rgb'}, with their intrinsics)"
            raise ConfigError(msg)
        shared_file = self.root / "intrinsics.yaml"
        shared = None
        self.calibrated_sizes: dict[Path, tuple[int, int]] = {}
        """Intrinsics file → the image size it states (``image_width``, ``image_height``), where it does."""
        self.camera_files: list[Path] = []
        """Per record: the intrinsics file its camera came from (one camera is in pixels of one image size)."""
        if shared_file.is_file():
            shared = self._read_camera(shared_file)
        offsets = tuple(int(o) for o in frame_offsets)
        if 0 in offsets:
            msg = f"frame_offsets {offsets} must not contain 0: a frame would be its own source (nothing to learn)"
            raise ConfigError(msg)
        if not gap_steps >= 0:
            msg = f"gap_steps must be >= 0 (median frame-number steps; 0 = no gap rule), got {gap_steps}"
            raise ConfigError(msg)
        for image_path in images:
            require_upright(image_path)
        convert = (
            f"convert it to uint16 PNG ({png_scale:g} per metre, 0 = no data) or to .npy float32 metres "
            f"(np.save(STEM.npy, cv2.imread(FILE, cv2.IMREAD_UNCHANGED)) for a float32 TIFF / EXR / PFM)"
        )
        depth_files = _Files(self.root / "depth", DEPTH_SUFFIXES, convert)
        sparse_files = _Files(self.root / "sparse_depth", DEPTH_SUFFIXES, convert)
        seen_files = _Files(self.root / "seen", (".png",), "write the mask as an 8-bit PNG (0 = no view)")
        splits = sequence_splits(images, Decimal(str(gap_steps))) if offsets else []
        segment = _segments(splits)  # images of one segment are consecutive frames of one recording
        inside = [i for i in range(len(images)) if all(0 <= i + o < len(images) for o in offsets)]
        targets = [i for i in inside if all(segment[i + o] == segment[i] for o in offsets)]  # no source across a split
        self.sequence_report = _sequence_report(images, splits, len(targets), len(inside))
        """How many sequences the folder is, where it is split and why, and how many frames are no target."""
        self._refuse_gap_losses(splits, len(targets), inside, offsets, gap_steps)
        if targets and len(targets) < len(inside):
            _LOG.warning("%s: %s", self.root, self.sequence_report)
        records = []
        for index in targets:
            image_path = images[index]
            stem = image_path.stem
            frame_file = self.root / "intrinsics" / f"{stem}.json"
            if frame_file.is_file():
                camera = self._read_camera(frame_file)
                self.camera_files.append(frame_file)
            elif shared is not None:
                camera = shared
                self.camera_files.append(shared_file)
            else:
                msg = f"no intrinsics for {image_path.name}: add {shared_file} or {frame_file}"
                raise ConfigError(msg)
            depth, sparse, seen = (files.find(image_path) for files in (depth_files, sparse_files, seen_files))
            records.append(
                FrameRecord(
                    name=f"rgb/{image_path.name}",
                    rgb_path=image_path,
                    camera=camera,
                    depth=DepthFile(depth, png_scale) if depth is not None else None,
                    sparse_depth=DepthFile(sparse, png_scale) if sparse is not None else None,
                    sources=tuple(SourceFrame(images[index + o], o) for o in offsets),
                    seen=seen,
                )
            )
        if not records:
            needed = frames_needed(offsets)
            msg = f"{self.root}: {len(images)} frames are too few for source offsets {offsets}"
            if segment[-1]:
                msg += f" ({self.sequence_report})"
            msg += (
                f": a target needs a frame at each offset, {needed} consecutive frames; add frames to "
                f"{self.root / 'rgb'}, set data.frame_offsets to fewer offsets (e.g. [1]), or use "
                f"loss.objective=supervised with depth/ (no neighbours)"
            )
            raise ConfigError(msg)
        super().__init__(records, transform)

    def _refuse_gap_losses(
        self,
        splits: Sequence[Split | None],
        kept: int,
        inside: Sequence[int],
        offsets: Sequence[int],
        gap_steps: float,
    ) -> None:
        """Refuse a sequence where the gap rule alone leaves most frames with neighbours no target.

        Raises:
            ConfigError: naming the gaps, the frames lost and the remedy (``gap_steps``).
        """
        gaps = [split for split in splits if split is not None and split.kind == "gap"]
        if not gaps:
            return
        without = _segments([None if split is None or split.kind == "gap" else split for split in splits])
        would = sum(all(without[i + o] == without[i] for o in offsets) for i in inside)
        if 2 * (would - kept) <= would:
            return
        msg = (
            f"{self.root}: {len(gaps)} frame-number steps over {gap_steps:g} median steps (first: {gaps[0].why}) split "
            f"the sequence so that {would - kept} of the {would} frames with neighbours are no target "
            f"({self.sequence_report}); if the folder is one recording sampled unevenly (every frame, then every "
            f"10th; keyframes), set data.gap_steps: 0 (FolderDataset(gap_steps=0)) to split only where the name "
            f"changes or the number goes back, or a larger data.gap_steps; where frames were dropped the split is "
            f"right: record again"
        )
        raise ConfigError(msg)

    def _read_camera(self, path: Path) -> Camera:
        """The camera of intrinsics file ``path``, the image size it states (if any) kept in ``calibrated_sizes``.

        Raises:
            ConfigError: the file cannot be read or holds no camera (:func:`camera_from_mapping`).
        """
        values = _read_mapping(path)
        camera = camera_from_mapping(values, str(path))
        stated = calibrated_size(values)
        if stated is not None:
            self.calibrated_sizes[path] = stated
        return camera
