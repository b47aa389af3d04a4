"""A robot's rosbag2 with its LiDAR as training data: the frames exported once into the :mod:`.folder` layout.

``data.kind: rosbag`` with ``data.lidar_topic`` set: every usable image of ``data.image_topic`` is decoded with the
scan nearest to it (within ``data.lidar_max_age_s``), moved into the camera's optical frame through the bag's TF at
the scan stamp (and with ``data.lidar_motion_frame``, e.g. ``odom``, on to the image stamp, as the node's
``lidar.motion_frame``), exactly as the distillation labeller reads bags
(:class:`~mono_depth_ros.training.distillation.label_sources.BagSource`), and projected with a z-buffer (nearest
return per pixel); points on an undistorted raw image's black fill (``CameraModel.seen_mask``) are dropped. The
result is written under ``data.cache_dir``::

    <cache>/rgb/<ordinal>.png              the (undistorted) image
    <cache>/intrinsics/<ordinal>.json      fx, fy, cx, cy of that image (pixels)
    <cache>/sparse_depth/<ordinal>.npy     projected LiDAR, float32 metres, NaN = no return
    <cache>/depth/<ordinal>.npy            the same: the target of ``loss.objective: supervised``
    <cache>/seen/<ordinal>.png             raw images: 255 where the undistorted image sees the raw one, 0 on fill
    <cache>/bag_frames.json                what was exported from which bag (a matching one is reused)

and read back as a :class:`~.folder.FolderDataset` (:func:`bag_frames_dataset`). Its temporal neighbours for
``lidar_semi`` are the image's neighbours in the recording, as :class:`~.rosbag_sequence.RosbagSequenceDataset`
takes them: a target whose window holds an image that was not exported (undecodable, no camera_info) or a stamp gap
over ``max_gap_s`` or ``GAP_PERIODS`` frame periods (a paused recording, dropped frames:
:func:`~.rosbag_sequence.gap_limit_ns`) is no target. Frames without a scan in time keep an all-NaN depth
(self-supervision still uses them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.geometry import zbuffer_depth
from mono_depth_ros.core.msg_image import SIXTEEN_BITS
from mono_depth_ros.training.data.folder import FolderDataset, frames_needed
from mono_depth_ros.training.data.folder_check import sized, source_of_another_size
from mono_depth_ros.training.data.records import FrameRecord
from mono_depth_ros.training.data.rosbag_sequence import GAP_PERIODS, MAX_GAP_S, gap_limit_ns

MANIFEST = "bag_frames.json"
EXPORT_LAYOUT = 2  # 2: each frame's stamp in the manifest, seen/ masks (an older export is exported again)


def export_bag_frames(
    bag: Path,
    out_dir: Path,
    image_topic: str,
    camera_info_topic: str,
    lidar_topic: str,
    lidar_max_age_s: float = 0.2,
    image_is_rectified: bool = True,
    lidar_motion_frame: str = "",
    image_significant_bits: int = SIXTEEN_BITS,
) -> dict[str, Any]:
    """Export a bag's images with their projected LiDAR into ``out_dir`` (see the module docstring).

    Returns:
        The manifest: the bag, topics, ``frames`` written, ``with_lidar`` of them, and the problems counted.

    Raises:
        BagError: unreadable bag or missing / mistyped topics. ConfigError: no usable image.
    """
    from mono_depth_ros.training.distillation.label_sources import BagSource

    wanted = {
        "bag": str(Path(bag).resolve()),
        "image_topic": image_topic,
        "camera_info_topic": camera_info_topic,
        "lidar_topic": lidar_topic,
        "lidar_max_age_s": lidar_max_age_s,
        "image_is_rectified": image_is_rectified,
        "lidar_motion_frame": lidar_motion_frame,
        "layout": EXPORT_LAYOUT,
    }
    if image_significant_bits != SIXTEEN_BITS:  # a 12-bit camera's export (16: the manifests written before)
        wanted["image_significant_bits"] = image_significant_bits
    manifest_path = out_dir / MANIFEST
    if manifest_path.is_file():
        done: dict[str, Any] = json.loads(manifest_path.read_text())
        if {k: done.get(k) for k in wanted} == wanted:
            return done
    import cv2

    source = BagSource(
        Path(bag),
        image_topic,
        camera_info_topic,
        lidar_topic,
        lidar_max_age_s,
        image_is_rectified,
        lidar_motion_frame=lidar_motion_frame,
        image_significant_bits=image_significant_bits,
    )
    for sub in ("rgb", "intrinsics", "sparse_depth", "depth", "seen"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    frames = with_lidar = 0
    stamps_ns: dict[str, int] = {}
    for frame in source.frames():
        if frame.intrinsics is None:
            continue
        k = frame.intrinsics
        cv2.imwrite(str(out_dir / "rgb" / f"{frame.key}.png"), np.ascontiguousarray(frame.rgb[..., ::-1]))
        camera = {"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy}
        (out_dir / "intrinsics" / f"{frame.key}.json").write_text(json.dumps(camera))
        depth = np.full((k.height, k.width), np.nan, dtype=np.float32)
        if frame.points_in_camera is not None and len(frame.points_in_camera):
            depth, _ = zbuffer_depth(frame.points_in_camera, k)
            if frame.seen is not None:  # no target on a raw camera's black fill (the node publishes NaN there)
                depth[~frame.seen] = np.nan
            with_lidar += int(np.isfinite(depth).any())
        np.save(out_dir / "sparse_depth" / f"{frame.key}.npy", depth)
        np.save(out_dir / "depth" / f"{frame.key}.npy", depth)
        if frame.seen is not None:
            cv2.imwrite(str(out_dir / "seen" / f"{frame.key}.png"), frame.seen.astype(np.uint8) * 255)
        stamps_ns[frame.key] = source.stamp_ns(frame.key)
        frames += 1
    if frames == 0:
        msg = f"no usable image on {image_topic} in {bag} ({dict(source.problems.counts)}); check the topics"
        raise ConfigError(msg)
    manifest = {
        **wanted,
        "frames": frames,
        "with_lidar": with_lidar,
        "problems": dict(source.problems.counts),
        "stamps_ns": stamps_ns,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return manifest


def _refuse_camera_change(records: Sequence[FrameRecord], manifest: dict[str, Any], folder: Path) -> None:
    """Refuse a target whose sources the camera recorded at another size (the bag's camera changed within it), as
    :class:`~.rosbag_sequence.RosbagSequenceDataset` refuses a bag whose camera_info changes; only the image headers
    are read.

    Raises:
        ConfigError: naming the bag, the image topic, both sizes and the remedies.
    """
    size_of = sized({})
    for record in records:
        if (changed := source_of_another_size(record, size_of)) is not None:
            size, other = size_of(record.rgb_path), changed[1]
            msg = (
                f"{manifest.get('bag', folder)}: the images on {manifest.get('image_topic', 'the image topic')} change "
                f"size within the bag ({size[0]}x{size[1]} and {other[0]}x{other[1]} among the neighbours of "
                f"{record.rgb_path.name} in {folder}): a target and its sources (data.frame_offsets) are one camera at "
                f"one size; split the bag where the camera changes, or use loss.objective=supervised, which takes no "
                f"neighbours"
            )
            raise ConfigError(msg)


def bag_frames_dataset(folder: Path, frame_offsets: Sequence[int] = (), max_gap_s: float = MAX_GAP_S) -> FolderDataset:
    """The exported frames of :func:`export_bag_frames` in ``folder``; with ``frame_offsets`` only the targets whose
    sources are their neighbours in the recording (see the module docstring).

    Raises:
        ConfigError: no exported frame has a LiDAR return (the depth target and the metric term would be empty: the
            message names why, e.g. no TF from the LiDAR to the camera), no target has all its sources in one
            stretch of the recording (or too few frames for one), or the camera changes size between a target and its
            sources.
    """
    manifest = json.loads((folder / MANIFEST).read_text())
    if int(manifest["with_lidar"]) == 0:
        problems = ", ".join(f"{reason}: {count}" for reason, count in sorted(manifest["problems"].items()))
        msg = (
            f"none of the {manifest['frames']} exported frames has a LiDAR return on {manifest['lidar_topic']} in "
            f"{manifest['bag']} ({problems or 'every scan projects outside the image'}); training would learn "
            f"nothing from it: record the LiDAR's TF to the camera (/tf_static), check data.lidar_max_age_s"
        )
        raise ConfigError(msg)
    exported, needed = len(manifest["stamps_ns"]), frames_needed(frame_offsets)
    if exported < needed:  # FolderDataset would send the user to the cache's rgb/ and a depth/ of their own
        msg = (
            f"{manifest.get('bag', folder)}: its {exported} frames on {manifest.get('image_topic', 'the image topic')} "
            f"are too few for source offsets {tuple(frame_offsets)}: a target needs a frame at each offset, {needed} "
            f"consecutive frames; record a longer bag, set data.frame_offsets to fewer offsets (e.g. [1]), or use "
            f"loss.objective=supervised (its LiDAR as the depth target, no neighbours)"
        )
        raise ConfigError(msg)
    dataset = FolderDataset(folder, frame_offsets=frame_offsets)
    if not frame_offsets:
        return dataset
    stamps = {int(key): int(ns) for key, ns in manifest["stamps_ns"].items()}
    max_gap_ns = gap_limit_ns([stamps[o] for o in sorted(stamps)], max_gap_s)  # the recording's own frame rate

    def one_stretch(record: FrameRecord) -> bool:
        ordinals = [int(Path(record.name).stem), *(int(s.path.stem) for s in record.sources)]
        window = range(min(ordinals), max(ordinals) + 1)
        if any(o not in stamps for o in window):
            return False
        gaps = np.diff([stamps[o] for o in window])
        return bool(np.all((gaps >= 0) & (gaps <= max_gap_ns)))

    dataset.records = [r for r in dataset.records if one_stretch(r)]
    _refuse_camera_change(dataset.records, manifest, folder)
    if not dataset.records:
        msg = (
            f"{folder}: no exported bag frame has all sources {tuple(frame_offsets)} among its neighbours in the "
            f"recording (a skipped image or a pause over {max_gap_s} s or {GAP_PERIODS:g} frame periods splits it); "
            f"record longer"
        )
        raise ConfigError(msg)
    return dataset
