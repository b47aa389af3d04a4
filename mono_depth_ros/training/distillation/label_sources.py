"""Where unlabelled training images come from: a robot's rosbag2 recordings, or folders of images.

Each source lists its frames by a stable key first (cheap: no image is decoded), then decodes only the frames it is
asked for, so a resumed labelling run skips cached frames without decoding them. A frame carries:

* the image as (H, W, 3) uint8 RGB (raw bag images undistorted with K + D first, as image_proc would);
* the pinhole intrinsics of that image (None for a bare folder of images without intrinsics);
* optional LiDAR points already in the camera optical frame, (N, 3) float64 metres: a bag scan (the scan nearest to
  the image within ``lidar_max_age_s``, or where its bytes are no message the next nearest, as the node and
  ``mono-depth bag`` pair; moved with the bag's TF at the scan stamp), or a folder's ``sparse_depth/``
  map back-projected. Points are re-projected with a z-buffer at whatever size the labels are cached;
* for an undistorted raw image, which of its pixels see the raw image (:meth:`CameraModel.seen_mask`): the rest is
  the undistortion's black fill, where the node publishes no depth, so it gets no label and no LiDAR target.

Frames that cannot be used (no camera_info, undecodable image) are counted per reason in :attr:`problems`; a frame
whose LiDAR cannot be used (no scan in time, no TF) is still labelled, without LiDAR, and the reason is counted.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from mono_depth_ros.adapters.camera_cache import distortion_ignored, undistorted_twice
from mono_depth_ros.adapters.cdr_input import BAD_CDR
from mono_depth_ros.adapters.messages import Scan, decode_image, decode_scan
from mono_depth_ros.bag.index import BagIndex, TfLookupError, TopicPlan, index_bag, resolve_topics
from mono_depth_ros.bag.pairing import PairingRules, seconds_to_ns
from mono_depth_ros.bag.plan import FramePlan, plan_frames
from mono_depth_ros.bag.reader import BagMessage, InputBag, typestore_for
from mono_depth_ros.bag.summary import BagSummary, ReasonLog
from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError, DataFileError, DepthError
from mono_depth_ros.core.geometry import backproject_depth
from mono_depth_ros.core.msg_image import SIXTEEN_BITS
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.training.data.folder import IMAGE_SUFFIXES, FolderDataset, list_images
from mono_depth_ros.training.data.folder_check import check_folder
from mono_depth_ros.training.data.kitti_files import load_rgb


@dataclass(frozen=True)
class UnlabelledFrame:
    """One image to label (see the module docstring).

    Attributes:
        key: identifier, unique and stable within its source (the cache file name).
        rgb: (H, W, 3) uint8 RGB.
        intrinsics: pinhole intrinsics of ``rgb`` in pixels, or None when the source has none.
        points_in_camera: (N, 3) float64 LiDAR points in the camera optical frame (metres), or None.
        seen: (H, W) bool, False where ``rgb`` is the undistortion's black fill (no raw pixel); None = all seen.
    """

    key: str
    rgb: npt.NDArray[np.uint8]
    intrinsics: PinholeIntrinsics | None
    points_in_camera: npt.NDArray[np.float64] | None = None
    seen: npt.NDArray[np.bool_] | None = None


class FrameSource(Protocol):
    """A labellable source: ``name`` names its cache folder, ``keys`` its frames, ``frames`` decodes them."""

    name: str
    problems: ReasonLog

    @property
    def keys(self) -> list[str]:
        """Keys of every frame the source will yield (after stride and max_frames)."""
        ...

    def frames(self, skip: Container[str] = ()) -> Iterator[UnlabelledFrame]:
        """Decode the frames whose key is not in ``skip``, in key order."""
        ...


def source_name(path: Path, qualifier: str = "") -> str:
    """Cache folder name of a source: its file stem plus a short hash of the absolute path and ``qualifier``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.resolve().name or "root").strip("_.") or "source"
    digest = hashlib.sha256(f"{path.resolve()}|{qualifier}".encode()).hexdigest()[:10]
    return f"{stem[:40]}-{digest}"


def label_settings(
    topics: TopicPlan,
    lidar_max_age_s: float,
    motion_frame: str,
    image_is_rectified: bool,
    image_significant_bits: int = SIXTEEN_BITS,
) -> str:
    """What a bag's labels depend on besides the bag: the cache folder's qualifier. A LiDAR topic (and its pairing
    and motion settings), raw-image undistortion or another 16-bit scaling (``image_significant_bits``) changes the
    labels, so labels cached without them are not reused when they are added (they were, silently: a LiDAR term then
    had no target). The image topic alone, as before, when all are off, so existing caches stay valid."""
    qualifier = topics.image
    if image_significant_bits != SIXTEEN_BITS:
        qualifier += f"|bits={image_significant_bits}"
    if topics.lidar:
        qualifier += f"|lidar={topics.lidar}|max_age_s={lidar_max_age_s:g}|motion_frame={motion_frame}"
        qualifier += "|deskew" if motion_frame else ""  # sweeps de-skewed by their point times: not the older labels
    if not image_is_rectified:
        qualifier += "|raw|fill=nan"  # '|raw' alone: caches whose black fill was labelled (relabelled, not reused)
    return qualifier


def _select(items: Sequence[str], stride: int, max_frames: int) -> list[str]:
    chosen = list(items[::stride])
    return chosen[:max_frames] if max_frames else chosen


class BagSource:
    """Images of one camera topic in a rosbag2 (optionally with LiDAR and TF); keys are image ordinals.

    Args:
        path: rosbag2 folder, or a ``.mcap`` / ``.db3`` file.
        image_topic, camera_info_topic: the camera (Image or CompressedImage; ``/compressed`` is found by itself).
        lidar_topic: PointCloud2 topic ('' = none).
        lidar_max_age_s: largest |scan stamp - image stamp|.
        image_is_rectified: False: undistort raw images with K + D.
        distro: message definitions (``humble`` | ``jazzy``).
        stride, max_frames: label every ``stride``-th usable image, at most ``max_frames`` (0 = all).
        image_significant_bits: bits a 16-bit image's pixels use, as the node's parameter (validated by its table):
            12 for a 12-bit camera's right-aligned values; the images are labelled as the node will see them.
        lidar_motion_frame: fixed frame (``odom``) in which the world is static: scans are moved from their stamp to
            the image stamp through the bag's TF ('' = the extrinsic at the scan stamp only).

    Raises:
        BagError: unreadable bag, or the image / camera_info / LiDAR topic is missing or of the wrong type.
    """

    def __init__(
        self,
        path: Path,
        image_topic: str = "/camera/image_raw",
        camera_info_topic: str = "/camera/camera_info",
        lidar_topic: str = "",
        lidar_max_age_s: float = 0.2,
        image_is_rectified: bool = True,
        distro: str = "humble",
        stride: int = 1,
        max_frames: int = 0,
        *,
        lidar_motion_frame: str = "",
        image_significant_bits: int = SIXTEEN_BITS,
    ) -> None:
        self.path = Path(path)
        self.lidar_motion_frame = lidar_motion_frame
        self.typestore = typestore_for(distro)
        self.image_is_rectified = image_is_rectified
        params = {
            "image_topic": image_topic,
            "image_transport": "raw",
            "camera_info_topic": camera_info_topic,
            "lidar_topic": lidar_topic,
            "model.backend": "unet",
            "prediction_topic": "",
            "image_significant_bits": image_significant_bits,  # 8..16, refused as the node refuses it
        }
        config = DepthConfig.from_params(params)
        self.image_significant_bits = config.topics.image_significant_bits
        summary = BagSummary(self.path, self.path)
        self.problems: ReasonLog = summary.warnings
        with InputBag(self.path, self.typestore) as bag:
            topics = resolve_topics(config, bag, summary)
            if topics.lidar and topics.lidar not in bag.topics:
                self.problems.add("lidar: topic missing", summary.notes[-1])
                topics = replace(topics, lidar="")
            self.topics: TopicPlan = topics
            self.index: BagIndex = index_bag(bag, topics, summary, topics.all)
        self._check_distortion()
        rules = PairingRules(lidar_max_age_ns=seconds_to_ns(lidar_max_age_s))
        plans = plan_frames(self.index, rules)
        for plan in plans:
            if plan.skip is not None:
                self.problems.add(plan.skip.reason, plan.skip.text)
        usable = [f"{p.ordinal:06d}" for p in plans if p.skip is None]
        self._keys = _select(usable, stride, max_frames)
        self._plans = {f"{p.ordinal:06d}": p for p in plans}
        self.name = source_name(
            self.path,
            label_settings(
                self.topics, lidar_max_age_s, lidar_motion_frame, image_is_rectified, self.image_significant_bits
            ),
        )

    def _check_distortion(self) -> None:
        """Count, once, a raw-looking topic whose camera_info has distortion read as rectified, or a rectified topic
        whose camera_info has distortion undistorted again (as the node warns)."""
        models = [entry.model for entry in self.index.calibrations.values() if entry.model is not None]
        for model in models[:1]:
            if (text := distortion_ignored(self.topics.image, model, self.image_is_rectified)) is not None:
                self.problems.add("camera: distortion ignored", f"{text} (mono-depth: data.image_is_rectified: false)")
            if (text := undistorted_twice(self.topics.image, model, self.image_is_rectified)) is not None:
                self.problems.add("camera: undistorted twice", f"{text} (mono-depth: data.image_is_rectified: true)")

    @property
    def keys(self) -> list[str]:
        """Image ordinals (zero-padded) of the frames to label."""
        return list(self._keys)

    def stamp_ns(self, key: str) -> int:
        """Capture stamp (header.stamp, int ns) of the image ``key`` (its bag time if the header was unreadable, which
        no usable image has)."""
        entry = self._plans[key].entry
        return int(entry.stamp_ns if entry.stamp_ns is not None else entry.log_ns)

    def frames(self, skip: Container[str] = ()) -> Iterator[UnlabelledFrame]:
        """Second pass over the bag: decode the wanted images (and the scans they pair with), in recording order.

        A frame's scan is the first of its :attr:`~mono_depth_ros.bag.plan.FramePlan.lidar_candidates` whose bytes
        are a message (the nearest within ``lidar_max_age_s``, else the next nearest), as the node pairs the nearest
        scan its subscription passed on and ``mono-depth bag`` does; each scan is decoded once, when a frame needs
        it, and one that is no message counted once (``lidar.bad_cdr``)."""
        wanted = {self._plans[k].ordinal: self._plans[k] for k in self._keys if k not in skip}
        if not wanted:
            return
        scan_refs: dict[int, int] = {}
        for plan in wanted.values():
            for candidate in plan.lidar_candidates:
                scan_refs[candidate] = scan_refs.get(candidate, 0) + 1
        scans: dict[int, Scan | tuple[str, str]] = {}  # decoded, or why not usable
        unread: dict[int, BagMessage] = {}  # read, decoded only when a frame comes to it
        pending: deque[tuple[FramePlan, BagMessage]] = deque()

        def chosen(plan: FramePlan, final: bool) -> tuple[bool, int | None]:
            """Whether the frame's scan is known (``final``: the bag is read to its end), and which (None: none)."""
            for ordinal in plan.lidar_candidates:
                if ordinal not in scans and ordinal in unread:
                    decoded = scans[ordinal] = self._decode_scan(bag, unread.pop(ordinal))
                    if isinstance(decoded, tuple) and decoded[0] == f"lidar.{BAD_CDR}":
                        self.problems.add(*decoded)  # once, as the node's subscription counts it
                scan = scans.get(ordinal)
                if scan is None and not final:
                    return False, None
                if scan is None or (isinstance(scan, tuple) and scan[0] == f"lidar.{BAD_CDR}"):
                    continue
                return True, ordinal
            return True, None

        def flush(final: bool) -> Iterator[UnlabelledFrame]:
            while pending:
                known, ordinal = chosen(pending[0][0], final)
                if not known:
                    return
                plan, image_message = pending.popleft()
                frame = self._frame(bag, plan, image_message, None if ordinal is None else scans[ordinal])
                for candidate in plan.lidar_candidates:
                    scan_refs[candidate] -= 1
                    if scan_refs[candidate] <= 0:
                        scans.pop(candidate, None)
                        unread.pop(candidate, None)
                if frame is not None:
                    yield frame

        with InputBag(self.path, self.typestore) as bag:
            self.topics.read_types(bag)  # as the first pass read them: the plans' ordinals are of those types
            for message in bag.messages(self.topics.all):
                if message.topic == self.topics.image and message.ordinal in wanted:
                    pending.append((wanted[message.ordinal], message))
                elif message.topic == self.topics.lidar and scan_refs.get(message.ordinal, 0) > 0:
                    unread[message.ordinal] = message
                yield from flush(final=False)
            yield from flush(final=True)

    @staticmethod
    def _decode_scan(bag: InputBag, message: BagMessage) -> Scan | tuple[str, str]:
        """The scan, or ``(reason, text)`` under the node's / ``mono-depth bag``'s ``inputs_unused`` key:
        ``lidar.bad_cdr`` (bytes that are no message), ``lidar.<DepthError>`` (a cloud the decoder refuses)."""
        try:
            msg = bag.deserialize(message)
        except DepthError as err:
            return f"lidar.{BAD_CDR}", f"{type(err).__name__}: {err}"
        try:
            return decode_scan(msg, message.msgtype)  # PointCloud2 or LaserScan
        except DepthError as err:
            return f"lidar.{type(err).__name__}", str(err)

    def _frame(
        self, bag: InputBag, plan: FramePlan, message: BagMessage, scan: Scan | tuple[str, str] | None
    ) -> UnlabelledFrame | None:
        camera = self.index.camera_infos[plan.camera_info] if plan.camera_info is not None else None
        if camera is None or camera.model is None:
            self.problems.add(camera.error_reason if camera else "no camera_info", camera.error if camera else "")
            return None
        try:
            bits = self.image_significant_bits  # 16-bit pixels scaled as the node scales them
            rgb = decode_image(bag.deserialize(message), message.msgtype, significant_bits=bits)
            model = camera.model.for_image(rgb.shape[1], rgb.shape[0])  # image_proc's resize: 1 pixel off, as the node
            seen = None
            if not self.image_is_rectified:
                rgb = model.undistort(rgb)
                seen = model.seen_mask()  # the black fill: no depth there on line (pipeline._drop_unseen)
            intrinsics = model.intrinsics(self.image_is_rectified)
            intrinsics.check_image_size(rgb.shape[1], rgb.shape[0], what=f"image on {self.topics.image}")
        except DepthError as err:
            self.problems.add(f"image: {type(err).__name__}", str(err))
            return None
        return UnlabelledFrame(f"{plan.ordinal:06d}", rgb, intrinsics, self._points(plan, scan), seen)

    def _points(self, plan: FramePlan, scan: Scan | tuple[str, str] | None) -> npt.NDArray[np.float64] | None:
        """The frame's points in the camera frame from its chosen ``scan`` (None: no readable one within
        ``lidar_max_age_s``; a tuple: a cloud the decoder refused, counted per frame as the node's worker does)."""
        if not self.topics.lidar:
            return None
        if scan is None:
            near = "near" if plan.lidar is None else "readable near"
            self.problems.add("lidar: no scan in time", f"no scan on {self.topics.lidar} {near} image #{plan.ordinal}")
            return None
        if isinstance(scan, tuple):
            self.problems.add(*scan)
            return None
        try:  # de-skewed by the points' own times with a motion frame, as mono-depth bag does
            placed, _ = self.index.lidar_scan(
                plan.entry.frame_id, plan.entry.stamp_ns, scan, self.lidar_motion_frame, plan.entry.bag_pass
            )
        except TfLookupError as err:  # TF cannot place the scan: the node's tf2 TransformException
            self.problems.add("lidar.TransformException", str(err))
            return None
        except DepthError as err:
            self.problems.add(f"lidar.{type(err).__name__}", str(err))
            return None
        points = np.asarray(placed.points_in_lidar, dtype=np.float64)
        return np.asarray(placed.cam_from_lidar.apply(points), dtype=np.float64)


class FolderSource:
    """Images of a folder; keys are file stems.

    Layout: the :mod:`~mono_depth_ros.training.data.folder` layout (``rgb/`` + ``intrinsics.yaml`` or
    ``intrinsics/``, optional ``sparse_depth/`` used as LiDAR; ``depth/`` is ignored: the data is unlabelled), or a
    bare folder of images (in ``rgb/`` or at the top), which then has no intrinsics and no LiDAR. ``seen/`` masks
    (0 on an undistorted image's black fill) keep labels and LiDAR off the fill. Frames are taken in recording order
    (digits compared as numbers: ``frame_2`` before ``frame_10``; ``stride`` and ``max_frames`` count in it), hidden
    files (macOS's ``._<name>``) left out, as :func:`~mono_depth_ros.training.data.folder.list_images` lists them.

    Raises:
        ConfigError: no images, or (the folder layout) a file that cannot be read as its frame's
            (:func:`~mono_depth_ros.training.data.folder_check.check_folder`, ``depth/`` left out).
    """

    def __init__(self, root: Path, stride: int = 1, max_frames: int = 0) -> None:
        self.root = Path(root)
        self.problems = ReasonLog()
        self.name = source_name(self.root)
        has_intrinsics = (self.root / "intrinsics.yaml").is_file() or (self.root / "intrinsics").is_dir()
        self._dataset: FolderDataset | None = None
        self._paths: dict[str, Path] = {}
        if (self.root / "rgb").is_dir() and has_intrinsics:
            self._dataset = FolderDataset(self.root)
            # depth/ is not read (unlabelled data; it was, at each frame); the rest checked before the teacher's time
            self._dataset.records = [replace(record, depth=None) for record in self._dataset.records]
            check_folder(self._dataset)
            stems = {Path(r.name).stem: i for i, r in enumerate(self._dataset.records)}
            self._records = stems
            names = list(stems)  # the folder's recording order
        else:
            folder = self.root / "rgb" if (self.root / "rgb").is_dir() else self.root
            images = list_images(folder)  # recording order, hidden files left out
            if not images:
                msg = f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}; give a folder of images"
                raise ConfigError(msg)
            self._paths = {p.stem: p for p in images}
            names = list(self._paths)
        self._keys = _select(names, stride, max_frames)

    @property
    def keys(self) -> list[str]:
        """File stems of the frames to label."""
        return list(self._keys)

    def frames(self, skip: Container[str] = ()) -> Iterator[UnlabelledFrame]:
        """Load the wanted images in name order."""
        for key in self._keys:
            if key in skip:
                continue
            if self._dataset is None:
                try:
                    rgb = load_rgb(self._paths[key])
                except DataFileError as err:  # one garbage file costs its frame, not the run
                    self.problems.add("image: DataFileError", str(err))
                    continue
                yield UnlabelledFrame(key, rgb, None)
                continue
            sample = self._dataset.load(self._dataset.records[self._records[key]])
            rgb = (sample.rgb.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
            intrinsics = sample.intrinsics
            sparse_m = sample.sparse_depth[0].numpy()
            points = None
            if np.isfinite(sparse_m).any():
                cloud = backproject_depth(sparse_m, intrinsics).reshape(-1, 3)
                points = cloud[np.isfinite(cloud).all(axis=1)].astype(np.float64)
            seen = sample.seen[0].numpy()
            yield UnlabelledFrame(key, rgb, intrinsics, points, None if bool(seen.all()) else seen)
