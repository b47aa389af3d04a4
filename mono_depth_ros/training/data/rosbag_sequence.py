"""Image sequences from a rosbag2 recording: self-supervised training on a robot's own camera.

The bag is read with rosbags (no ROS install needed): ``sensor_msgs/Image`` or ``CompressedImage`` on
``image_topic`` (or on ``<image_topic>/compressed`` when the bag has only that, as ``mono-depth bag`` reads it) and
``sensor_msgs/CameraInfo`` on ``camera_info_topic``. Frames are ordered by their capture stamp
(``header.stamp``, int ns); each target gets the frames ``offset × stride`` away as sources. A gap longer than
``max_gap_s``, or than ``GAP_PERIODS`` of the recording's median frame period (whichever is smaller: a 30 Hz
camera that dropped 0.5 s of frames), between consecutive frames (a paused recording, dropped frames) splits the
sequence: no target takes sources across it (:func:`gap_limit_ns`). Intrinsics come from camera_info (P for
rectified images; for raw images K + D are used to undistort every frame into P's pinhole image, as image_proc
would) and must not change within the bag.

Samples have ``depth`` and ``sparse_depth`` all NaN and unknown poses (``pose_known`` False); ``seen`` is False on
an undistorted raw image's black fill (:meth:`CameraModel.seen_mask`), which the photometric and smoothness losses
ignore. Messages are read on demand, one window of frames per item; each DataLoader worker opens its own reader.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from mono_depth_ros.adapters.camera_cache import distortion_ignored, undistorted_twice
from mono_depth_ros.bag.reader import InputBag, typestore_for
from mono_depth_ros.core.camera import CameraModel
from mono_depth_ros.core.errors import BagError, CalibrationError, ConfigError, EncodingError
from mono_depth_ros.core.msg_image import SIXTEEN_BITS
from mono_depth_ros.core.ros_msgs import (
    camera_model_from_camera_info,
    compressed_image_to_rgb8,
    image_to_rgb8,
    stamp_to_ns,
)
from mono_depth_ros.training.data.records import Transform
from mono_depth_ros.training.data.sample import Sample, depth_tensor, k_tensor, rgb_tensor, unknown_poses

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

_LOG = logging.getLogger(__name__)
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
MAX_GAP_S = 1.0  # a longer stamp gap between consecutive frames splits the sequence
GAP_PERIODS = 3.0  # ... and so does one longer than this many of the recording's median frame periods
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"


@dataclass(frozen=True)
class BagFrame:
    """Where one image message sits in the bag.

    Attributes:
        stamp_ns: capture stamp (header.stamp, int ns).
        log_ns: bag (receive) time, int ns: the key for reading it back.
        rank: how many earlier messages of the topic share ``log_ns`` (0 almost always).
        ordinal: position among the topic's messages in recording order.
    """

    stamp_ns: int
    log_ns: int
    rank: int
    ordinal: int


def gap_limit_ns(stamps_ns: Sequence[int] | np.ndarray, max_gap_s: float = MAX_GAP_S) -> int:
    """The longest stamp gap (int ns) between consecutive frames of one recording that keeps them neighbours:
    ``max_gap_s``, or ``GAP_PERIODS`` × the median period of ``stamps_ns`` (capture stamps in order) when that is
    smaller, so that dropped frames split a fast camera's sequence as a pause splits a slow one's. Fewer than two
    distinct stamps: ``max_gap_s`` alone."""
    periods = np.diff(np.asarray(stamps_ns, dtype=np.int64))
    periods = periods[periods > 0]
    limit_ns = int(max_gap_s * 1e9)
    if periods.size == 0:
        return limit_ns
    return min(limit_ns, int(GAP_PERIODS * float(np.median(periods))))


def _camera_info_fields(camera: CameraModel) -> tuple[Any, ...]:
    """Every CameraInfo field a :class:`CameraModel` keeps, comparable with ``==``."""
    matrices = tuple(m.tobytes() for m in (camera.k, camera.r, camera.p))
    return (
        camera.width,
        camera.height,
        camera.distortion_model,
        camera.d,
        camera.binning_x,
        camera.binning_y,
        camera.roi,
        *matrices,
    )


class RosbagSequenceDataset(Dataset[Sample]):
    """Consecutive camera frames of one image topic in a rosbag2, as :class:`Sample` targets with sources.

    Args:
        bag_path: rosbag2 folder, or a ``.mcap`` / ``.db3`` file.
        image_topic: ``sensor_msgs/Image`` or ``CompressedImage`` topic.
        camera_info_topic: its ``sensor_msgs/CameraInfo`` topic.
        frame_offsets: source frames in units of ``stride`` (``(-1, 1)``: previous and next).
        stride: frames between neighbours (raise it when the robot moves little between frames).
        max_gap_s: a larger stamp gap between consecutive frames splits the sequence (as does one over
            ``GAP_PERIODS`` median frame periods, see :func:`gap_limit_ns`).
        image_is_rectified: True for ``image_rect`` (geometry from P); False for raw images (undistorted with K + D).
        distro: message definitions (``humble`` or ``jazzy``).
        transform: applied to every sample.
        image_significant_bits: bits a 16-bit image's pixels use, 8..16, as the node's parameter (12: a 12-bit
            camera's right-aligned 0..4095 scale to 0..255; 16: cv_bridge's 255 / 65535), so that a model trains on
            the pixels the node will feed it.

    Raises:
        BagError: the bag cannot be read, or lacks the image or camera_info topic.
        CalibrationError: camera_info changes within the bag, or does not match the image size.
        ConfigError: no frame has all its sources (too short, or split by gaps), or bad offsets / stride.
    """

    def __init__(
        self,
        bag_path: Path,
        image_topic: str = "/camera/image_raw",
        camera_info_topic: str = "/camera/camera_info",
        frame_offsets: Sequence[int] = (-1, 1),
        stride: int = 1,
        max_gap_s: float = MAX_GAP_S,
        image_is_rectified: bool = True,
        distro: str = "humble",
        transform: Transform | None = None,
        *,
        image_significant_bits: int = SIXTEEN_BITS,
    ) -> None:
        if stride < 1 or max_gap_s <= 0 or any(o == 0 for o in frame_offsets):
            got = f"stride={stride}, max_gap_s={max_gap_s}, frame_offsets={tuple(frame_offsets)}"
            msg = f"need stride >= 1, max_gap_s > 0 and non-zero frame_offsets, got {got}"
            raise ConfigError(msg)
        if not 8 <= image_significant_bits <= SIXTEEN_BITS:
            msg = f"image_significant_bits must be in [8, 16] (the node's parameter), got {image_significant_bits}"
            raise ConfigError(msg)
        self.image_significant_bits = int(image_significant_bits)
        self.bag_path = Path(bag_path)
        self.image_topic = image_topic
        self.frame_offsets = tuple(int(o) for o in frame_offsets)
        self.stride = int(stride)
        self.image_is_rectified = image_is_rectified
        self.transform = transform
        self.distro = distro
        self._typestore: Typestore | None = typestore_for(distro)
        self._image_type = IMAGE_TYPES[0]  # the type read of image_topic (set by _index)
        self.frames, self.camera = self._index(camera_info_topic)
        self.intrinsics = self.camera.intrinsics(image_is_rectified)
        self.targets = self._targets(max_gap_s)
        if not self.targets:
            msg = (
                f"{self.bag_path}: none of the {len(self.frames)} frames on {image_topic} has all sources "
                f"{self.frame_offsets} × stride {self.stride} without a gap over {max_gap_s} s or "
                f"{GAP_PERIODS:g} frame periods; record longer or "
                f"lower the stride"
            )
            raise ConfigError(msg)
        self._reader: InputBag | None = None
        self._reader_pid = -1

    def _index(self, camera_info_topic: str) -> tuple[list[BagFrame], CameraModel]:
        """First pass: every image's stamp and bag position, and the (single) camera calibration."""
        frames: list[BagFrame] = []
        cameras: list[CameraModel] = []
        first_image: Any = None
        last_log_ns, rank = -1, 0
        with InputBag(self.bag_path, self.typestore) as bag:
            types = bag.topic_types
            compressed = self.image_topic + "/compressed"
            image_types = IMAGE_TYPES  # the node's first (image_transport raw), as bag/index.resolve_topics reads
            if self.image_topic not in types and IMAGE_TYPES[1] in types.get(compressed, {}):
                self.image_topic = compressed  # as bag/index.resolve_topics: a robot that records only compressed
                image_types = IMAGE_TYPES[::-1]
            for topic, allowed in ((self.image_topic, image_types), (camera_info_topic, (CAMERA_INFO_TYPE,))):
                usable = [msgtype for msgtype in allowed if msgtype in types.get(topic, {})]
                if not usable:
                    recorded = " and ".join(types.get(topic, {})) or "missing"
                    msg = (
                        f"{self.bag_path}: topic {topic} is {recorded}, expected "
                        f"{' or '.join(allowed)}; topics in the bag: {', '.join(sorted(types)) or 'none'}"
                    )
                    raise BagError(msg)
                for note in bag.read_as(topic, usable[0]):  # a topic recorded with several types: the node's
                    _LOG.warning("%s: %s", self.bag_path, note)
                if topic == self.image_topic:
                    self._image_type = usable[0]
            for message in bag.messages({self.image_topic, camera_info_topic}):
                decoded = bag.deserialize(message)
                if message.topic == camera_info_topic:
                    camera = camera_model_from_camera_info(decoded)
                    if cameras:
                        self._check_same_camera(cameras[0], camera, camera_info_topic)
                    else:
                        cameras.append(camera)
                    continue
                first_image = decoded if first_image is None else first_image
                rank = rank + 1 if message.log_ns == last_log_ns else 0
                last_log_ns = message.log_ns
                frames.append(BagFrame(stamp_to_ns(decoded.header.stamp), message.log_ns, rank, message.ordinal))
        if not cameras:
            msg = f"{self.bag_path}: no message on {camera_info_topic}; intrinsics are needed for self-supervision"
            raise BagError(msg)
        frames.sort(key=lambda f: (f.stamp_ns, f.ordinal))
        if cameras[0].width == 0 and first_image is not None:  # no calibrated size: the image's, as the node
            if hasattr(first_image, "format"):
                height, width = compressed_image_to_rgb8(first_image).shape[:2]
            else:
                height, width = int(first_image.height), int(first_image.width)
            cameras[0] = cameras[0].for_image(width, height)
        if (text := distortion_ignored(self.image_topic, cameras[0], self.image_is_rectified)) is not None:
            _LOG.warning("%s (mono-depth train: data.image_is_rectified: false)", text)  # as the node warns
        if (text := undistorted_twice(self.image_topic, cameras[0], self.image_is_rectified)) is not None:
            _LOG.warning("%s (mono-depth train: data.image_is_rectified: true)", text)  # and the converse
        return frames, cameras[0]

    def _check_same_camera(self, first: CameraModel, other: CameraModel, topic: str) -> None:
        if first.width == 0 or other.width == 0:  # a camera_info without a size: the same message, field by field
            if _camera_info_fields(first) != _camera_info_fields(other):
                changed = " vs ".join(f"{c.width}x{c.height} K={c.k.reshape(-1).tolist()}" for c in (first, other))
                msg = f"{self.bag_path}: camera_info on {topic} changes within the bag ({changed}); split the bag there"
                raise CalibrationError(msg)
            return
        a, b = first.intrinsics(self.image_is_rectified), other.intrinsics(self.image_is_rectified)
        values_a = np.array([a.fx, a.fy, a.cx, a.cy, a.width, a.height])
        values_b = np.array([b.fx, b.fy, b.cx, b.cy, b.width, b.height])
        same = np.allclose(values_a, values_b, rtol=1e-9, atol=1e-9)
        described: tuple[str, ...] = (str(a), str(b))
        if same and not self.image_is_rectified:  # every frame is undistorted with the first K, D, R
            same = (first.distortion_model, first.d) == (other.distortion_model, other.d) and all(
                np.allclose(x, y, rtol=1e-9, atol=1e-9) for x, y in ((first.k, other.k), (first.r, other.r))
            )
            described = tuple(
                f"{c.distortion_model} D={list(c.d)} K={c.k.reshape(-1).tolist()}" for c in (first, other)
            )
        if not same:
            changed = f"{described[0]} vs {described[1]}"
            msg = f"{self.bag_path}: camera_info on {topic} changes within the bag ({changed}); split the bag there"
            raise CalibrationError(msg)

    def _targets(self, max_gap_s: float) -> list[int]:
        """Indices of frames whose sources all exist within one gap-free segment (see :func:`gap_limit_ns`)."""
        stamps = np.array([f.stamp_ns for f in self.frames], dtype=np.int64)
        segment = np.concatenate([[0], np.cumsum(np.diff(stamps) > gap_limit_ns(stamps, max_gap_s))])
        lo = min(0, *self.frame_offsets) * self.stride
        hi = max(0, *self.frame_offsets) * self.stride
        index = np.arange(max(-lo, 0), len(self.frames) - max(hi, 0))
        if index.size == 0:
            return []
        same_segment = segment[index + lo] == segment[index + hi]
        return [int(i) for i in index[same_segment]]

    def __len__(self) -> int:
        return len(self.targets)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_reader"], state["_reader_pid"] = None, -1  # readers do not cross process boundaries
        state["_typestore"] = None  # generated (de)serialisers do not pickle; rebuilt from the distro
        return state

    @property
    def typestore(self) -> Typestore:
        """Message definitions of the bag's distro."""
        if self._typestore is None:
            self._typestore = typestore_for(self.distro)
        return self._typestore

    def _open_reader(self) -> InputBag:
        """This process's reader: the bag reader that indexed the bag (a bag without metadata.yaml, a compressed
        one, read the same way)."""
        if self._reader is None or self._reader_pid != os.getpid():
            try:
                reader = InputBag(self.bag_path, self.typestore)
            except BagError as err:
                msg = f"cannot reopen bag {self.bag_path}: {err}; was it moved or truncated after indexing?"
                raise BagError(msg) from None
            reader.read_as(self.image_topic, self._image_type)  # as indexed (its notes were logged then)
            self._reader, self._reader_pid = reader, os.getpid()
        return self._reader

    def _read_images(
        self, frames: Sequence[BagFrame]
    ) -> tuple[list[npt.NDArray[np.uint8]], npt.NDArray[np.bool_] | None]:
        """(H, W, 3) uint8 RGB of each frame, read in one window of bag time, and which pixels of the first one see
        the raw image (None: all; one camera, so the sources' are the same)."""
        reader = self._open_reader()
        wanted = {(f.log_ns, f.rank) for f in frames}
        found: dict[tuple[int, int], Any] = {}
        last_log_ns, rank = -1, 0
        try:
            start, stop = min(f.log_ns for f in frames), max(f.log_ns for f in frames) + 1
            for stored in reader.messages({self.image_topic}, start_ns=start, stop_ns=stop):
                rank = rank + 1 if stored.log_ns == last_log_ns else 0
                last_log_ns = stored.log_ns
                if (stored.log_ns, rank) in wanted:
                    found[(stored.log_ns, rank)] = reader.deserialize(stored)
        except (BagError, EncodingError) as err:
            msg = f"reading {self.image_topic} from {self.bag_path} failed: {err}; the bag is truncated or corrupt"
            raise BagError(msg) from None
        images: list[npt.NDArray[np.uint8]] = []
        seen: npt.NDArray[np.bool_] | None = None
        for frame in frames:
            message = found.get((frame.log_ns, frame.rank))
            if message is None:
                msg = f"{self.bag_path}: image #{frame.ordinal} on {self.image_topic} vanished since indexing"
                raise BagError(msg)
            is_compressed = hasattr(message, "format")
            bits = self.image_significant_bits  # 16-bit pixels scaled as the node scales them
            rgb = (
                compressed_image_to_rgb8(message, bits)
                if is_compressed
                else image_to_rgb8(message, significant_bits=bits)
            )
            camera = self.camera.for_image(rgb.shape[1], rgb.shape[0])  # image_proc's resize: 1 pixel off, as the node
            if not self.image_is_rectified:
                rgb = camera.undistort(rgb)
                if not images:
                    seen = camera.seen_mask()
            intrinsics = camera.intrinsics(self.image_is_rectified)
            intrinsics.check_image_size(rgb.shape[1], rgb.shape[0], what=f"image on {self.image_topic}")
            images.append(rgb)
        return images, seen

    def __getitem__(self, index: int) -> Sample:
        target = self.targets[index]
        frames = [self.frames[target + o * self.stride] for o in (0, *self.frame_offsets)]
        images, seen = self._read_images(frames)
        height, width = images[0].shape[:2]
        poses, known = unknown_poses(len(self.frame_offsets))
        sample = Sample(
            rgb=rgb_tensor(images[0]),
            depth=depth_tensor(None, height, width),
            sparse_depth=depth_tensor(None, height, width),
            k=k_tensor(self.intrinsics),
            sources=torch.stack([rgb_tensor(image) for image in images[1:]]),
            source_offsets=self.frame_offsets,
            source_from_target=poses,
            pose_known=known,
            name=f"{self.image_topic}#{frames[0].ordinal}",
            seen=torch.from_numpy(seen)[None] if seen is not None else torch.ones((1, height, width), dtype=torch.bool),
        )
        return self.transform(sample) if self.transform is not None else sample

    def close(self) -> None:
        """Close this process's reader (idempotent)."""
        if self._reader is not None and self._reader_pid == os.getpid():
            self._reader.close()
        self._reader = None
