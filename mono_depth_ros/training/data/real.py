"""Recorded data for ``mono-depth train`` (``data.kind`` other than ``synthetic``): the :mod:`.data` datasets,
fitted to the network input and augmented, as the batch dictionaries the objectives read.

=============  =========================================================================================
``data.kind``  ``data.root`` (and ``data.split``)
=============  =========================================================================================
kitti_raw      KITTI raw root; ``split``: Eigen / Zhou split file (required); Velodyne → LiDAR (supervised: target)
kitti_depth    folder with a Metric3D-style ``test_annotations.json`` (annotated depth, metres)
nyu            folder with ``test_annotations.json``, or the BTS root with ``split`` = its split file
folder         the folder layout of :mod:`.data.folder` (``rgb/`` + intrinsics, optional depth / sparse depth)
rosbag         a rosbag2 (``data.image_topic``, ``data.camera_info_topic``, ``data.image_is_rectified``: false
               for a raw image, undistorted with K + D as the node does): self-supervised; with
               ``data.lidar_topic`` its LiDAR is the depth target / sparse term (:mod:`.data.bag_lidar`)
=============  =========================================================================================

Training frames are resized to the input size as the node resizes them (whole frame, each axis on its own), then
augmented by :class:`.augment.TrainAugment` (random zoom and crop back to the input size, which divides the depth
by the zoom; flip, colour jitter, noise; intrinsics, depth and poses follow). Validation frames are only resized.
Depth is never interpolated (nearest / splat).
Every sample becomes the batch dictionary of :mod:`.objectives` (``sparse_depth`` is its ``lidar_depth``); a
training item with sources also holds ``loss_rgb`` / ``loss_sources``, its frames before colour jitter and noise,
which the photometric loss compares (monodepth2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.evaluation.depth import KITTI_ASPECT, PROTOCOLS, Protocol, is_nyu_eigen_cut, nyu_crop_of
from mono_depth_ros.evaluation.samples import EvalSample
from mono_depth_ros.training.data.augment import AugmentConfig, TrainAugment, resize
from mono_depth_ros.training.data.bag_lidar import bag_frames_dataset, export_bag_frames
from mono_depth_ros.training.data.folder import FolderDataset
from mono_depth_ros.training.data.folder_check import check_folder, check_frame_files
from mono_depth_ros.training.data.kitti_depth import KittiDepthDataset
from mono_depth_ros.training.data.kitti_raw import KittiRawDataset
from mono_depth_ros.training.data.nyu import NyuDataset
from mono_depth_ros.training.data.records import RecordDataset, load_depth_file
from mono_depth_ros.training.data.rosbag_sequence import RosbagSequenceDataset
from mono_depth_ros.training.data.sample import Sample, evenly_spread
from mono_depth_ros.training.trainer.config import DATA_KINDS, DataConfig
from mono_depth_ros.training.trainer.distributed import rank0_first

REAL_KINDS = tuple(kind for kind in DATA_KINDS if kind != "synthetic")
_PROTOCOLS = {
    "kitti_raw": PROTOCOLS["kitti_eigen_velodyne"],
    "kitti_depth": PROTOCOLS["kitti_improved"],
    "nyu": PROTOCOLS["nyu"],
    "folder": PROTOCOLS["folder"],
    "rosbag": replace(PROTOCOLS["synthetic"], name="rosbag", ground_truth="none (LiDAR if any)"),
}


def fit_to_input(sample: Sample, width: int, height: int) -> Sample:
    """The network-size view the node gives the model: the whole frame resized to ``width`` × ``height`` (aspect
    not kept when the camera's differs, as the node's fixed-size input resize does; the intrinsics follow per
    axis). Training on crops of another aspect instead would teach the network a geometry it never meets on line
    (a 4:3 camera at a 10:3 input: 40 % of the rows in training, all of them squeezed 2.5x on line)."""
    return resize(sample, width, height)


def batch_item(sample: Sample, index: int) -> dict[str, Tensor]:
    """One sample as the objectives' batch dictionary (the keys :class:`.SyntheticDepthDataset` yields)."""
    return {
        "rgb": sample.rgb,
        "depth": sample.depth,
        "lidar_depth": sample.sparse_depth,
        "k": sample.k,
        "sources": sample.sources,
        "source_from_target": sample.source_from_target,
        "pose_known": sample.pose_known,
        "source_offset": torch.tensor(sample.source_offsets, dtype=torch.int64),
        "index": torch.tensor(index, dtype=torch.int64),
        "seen": sample.seen,
    }


class RecordedDepthDataset(Dataset[dict[str, Tensor]]):
    """A dataset of :class:`Sample` as fixed-size training (or validation) batch items.

    Args:
        samples: the underlying dataset (no transform of its own).
        width, height: network input size in pixels.
        augment: random augmentation (training), or None (validation: :func:`fit_to_input` only).
        protocol: how :meth:`eval_samples` are evaluated.
        seed: augmentation seed; item ``i`` of epoch ``e`` draws from ``(seed, e, i)`` (exact resume).
    """

    def __init__(
        self,
        samples: Dataset[Sample],
        width: int,
        height: int,
        augment: AugmentConfig | None,
        protocol: Protocol,
        seed: int = 0,
    ) -> None:
        self.samples = samples
        self.width, self.height = width, height
        self.augment = TrainAugment(replace(augment, crop_width=width, crop_height=height)) if augment else None
        self.protocol = protocol
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        """Draw other augmentations in the next epoch."""
        self.epoch = int(epoch)

    def sample(self, index: int) -> Sample:
        """Item ``index`` as a :class:`Sample` at the input size (augmented when training)."""
        return self._views(index)[1]

    def _views(self, index: int) -> tuple[Sample, Sample]:
        """Item ``index`` at the input size: (before colour jitter and noise, augmented); the same when validating."""
        view = fit_to_input(self.samples[index], self.width, self.height)
        if self.augment is None:
            return view, view
        seed = int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0])
        return self.augment.both(view, torch.Generator().manual_seed(seed))

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        """The batch item; with sources and augmentation also ``loss_rgb`` / ``loss_sources``: the frames before
        colour jitter and noise, which the photometric loss compares (monodepth2's ``color``)."""
        geometric, augmented = self._views(index)
        item = batch_item(augmented, index)
        if self.augment is not None and augmented.sources.shape[0] > 0:
            item |= {"loss_rgb": geometric.rgb, "loss_sources": geometric.sources}
        return item

    def eval_samples(self) -> list[EvalSample]:
        """Every item with its ground truth (annotated depth, else LiDAR; NaN = none) for validation metrics."""
        out = []
        for index in range(len(self)):
            sample = self.sample(index)
            depth = sample.depth[0].numpy()
            gt = depth if np.isfinite(depth).any() else sample.sparse_depth[0].numpy()
            rgb = (sample.rgb.permute(1, 2, 0).clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
            out.append(EvalSample(sample.name or str(index), rgb, gt.astype(np.float32), sample.intrinsics))
        return out


DEPTH_CHECKS = 8
"""Depth maps (evenly spread over the frames) read once before supervised training to see that some hold data."""


def require_depth_data(frames: RecordDataset, checks: int = DEPTH_CHECKS) -> None:
    """Refuse supervised targets with no valid pixel in any of ``checks`` depth maps evenly spread over ``frames``
    (e.g. every PNG all zeros, 0 = no data): the loss mask would be empty and the run would learn nothing.

    Raises:
        ConfigError: naming the depth folder and the remedy.
    """
    files = [record.depth for record in frames.records if record.depth is not None]
    if not files:
        return  # no depth files at all: the caller's own message
    picked = [files[i] for i in evenly_spread(len(files), checks)]
    if any(np.isfinite(load_depth_file(depth)).any() for depth in picked):
        return
    folder = picked[0].path.parent
    msg = (
        f"{folder}: none of the {len(picked)} depth maps read (evenly spread over {len(files)}) has a valid pixel "
        f"(all 0 = no data, or NaN / <= 0): supervised training would learn nothing; write the depth there (uint16 "
        f"at png_scale units per metre, 0 = no data, or float metres in .npy), or use loss.objective=selfsup with "
        f"data.frame_offsets"
    )
    raise ConfigError(msg)


def check_benchmark_frames(kind: str, sizes: Mapping[Path, tuple[int, int]]) -> None:
    """Refuse frames clearly of the other benchmark: ``kitti_depth`` frames that are not KITTI-wide (width / height
    outside :data:`~mono_depth_ros.evaluation.depth.KITTI_ASPECT`, as ``mono-depth eval`` refuses the Garg crop,
    :func:`~mono_depth_ros.evaluation.depth.check_kitti_frames`) and ``nyu`` frames that are (validation would score
    a road with the Eigen NYU crop and its 10 m cap). Validation resizes the frames to the network input and takes
    the crops' fractions, so every variant users train on is taken: KITTI's 352x1216 KB cut, pre-resized copies,
    KITTI-360's 376x1408; NYU's 480x640, its Eigen-cropped 427x561 / 448x608 copies, and another indoor camera's
    frames of any aspect declared ``nyu``.

    Args:
        kind: ``kitti_depth`` or ``nyu``.
        sizes: ``(width, height)`` of each image, as :func:`.folder_check.check_frame_files` read them.

    Raises:
        ConfigError: the first such image, named with its size and the kind that fits.
    """
    low, high = KITTI_ASPECT
    for path, (width, height) in sizes.items():
        kitti = low <= width / height <= high
        if kitti == (kind == "kitti_depth"):
            continue
        if kitti:
            fits = "kitti_depth (KITTI frames: Garg crop, 80 m cap)"
            what = f"KITTI-wide (width / height {width / height:.2f}, KITTI's {low:g}-{high:g})"
        else:
            fits = "nyu (NYU's or another indoor camera's frames: 10 m cap), or folder (no benchmark protocol)"
            what = f"no KITTI frame (width / height {width / height:.2f}, KITTI's {low:g}-{high:g})"
        protocol = "Garg crop, 80 m cap" if kind == "kitti_depth" else "Eigen NYU crop, 10 m cap"
        msg = (
            f"data.kind {kind} validates with its benchmark's protocol ({protocol}), but {path} is {width}x{height}, "
            f"{what}; set data.kind {fits}"
        )
        raise ConfigError(msg)


def _samples(kind: str, root: str, split: str, data: DataConfig, offsets: tuple[int, ...]) -> Dataset[Sample]:
    path = Path(root)
    if kind == "kitti_raw":
        if not split:
            msg = "data.kind=kitti_raw needs data.split (and data.val_split): an Eigen / Zhou split file"
            raise ConfigError(msg)
        # supervised (no source frame): the Velodyne projection is the target depth too (LiDAR supervision)
        supervised = not offsets and not data.stereo
        return KittiRawDataset(path, Path(split), offsets, stereo=data.stereo, lidar=True, depth_from_lidar=supervised)
    if offsets and kind not in ("folder", "rosbag"):
        msg = f"data.kind={kind} has no temporal neighbours: use objective supervised, or kitti_raw / folder / rosbag"
        raise ConfigError(msg)
    if kind in ("kitti_depth", "nyu"):
        annotated = (
            KittiDepthDataset.from_annotations(path)
            if kind == "kitti_depth"
            else NyuDataset.from_split_file(path, Path(split))
            if split
            else NyuDataset.from_annotations(path)
        )
        sizes = check_frame_files(annotated.records)  # a JPEG cut short, a depth map of another size: not in a worker
        check_benchmark_frames(kind, sizes)
        require_depth_data(annotated)
        return annotated
    if kind == "folder":
        frames = FolderDataset(path, frame_offsets=offsets, png_scale=data.png_scale, gap_steps=data.gap_steps)
        check_folder(frames)  # a file the loader would refuse or a camera of another size: here, before training
        if not offsets and all(record.depth is None for record in frames.records):
            msg = (
                f"{path} has no depth target for loss.objective=supervised: no depth/<stem>.png | .npy for any "
                "of its images; add depth/, or use loss.objective=selfsup with data.frame_offsets"
            )
            raise ConfigError(msg)
        if not offsets:
            require_depth_data(frames)
        return frames
    if data.lidar_topic:  # the bag's frames with their LiDAR, exported once (rank 0) into the folder layout
        key = f"{path.resolve()}|{data.image_topic}|{data.camera_info_topic}|{data.lidar_topic}|{data.lidar_max_age_s}"
        key += "" if data.image_is_rectified else "|raw"  # exports of rectified images keep their folder
        key += f"|motion_frame={data.lidar_motion_frame}" if data.lidar_motion_frame else ""
        key += f"|bits={data.image_significant_bits}" if data.image_significant_bits != 16 else ""
        folder = Path(data.cache_dir) / f"bag_{hashlib.sha1(key.encode()).hexdigest()[:12]}"
        topics = (data.image_topic, data.camera_info_topic, data.lidar_topic, data.lidar_max_age_s)
        rank0_first(
            lambda: export_bag_frames(
                path,
                folder,
                *topics,
                image_is_rectified=data.image_is_rectified,
                lidar_motion_frame=data.lidar_motion_frame,
                image_significant_bits=data.image_significant_bits,
            )
        )
        return bag_frames_dataset(folder, offsets)
    if not offsets:
        msg = (
            f"data.kind=rosbag without data.lidar_topic has no depth target for loss.objective=supervised ({path}): "
            "set data.lidar_topic (and data.cache_dir), or use loss.objective=selfsup"
        )
        raise ConfigError(msg)
    return RosbagSequenceDataset(
        path,
        data.image_topic,
        data.camera_info_topic,
        offsets,
        image_is_rectified=data.image_is_rectified,
        image_significant_bits=data.image_significant_bits,
    )


def _refuse_cut_nyu_copies(sizes: Mapping[Path, tuple[int, int]]) -> None:
    """Refuse NYU validation frames already cut to the Eigen crop among others (:func:`nyu_crop_of` keeps the crop
    for the set, which would cut them again), as ``mono-depth eval`` refuses the set.

    Raises:
        ConfigError: naming a cut copy, a frame that is not one, and the way out.
    """
    cut = [path for path, (width, height) in sizes.items() if is_nyu_eigen_cut(height, width)]
    if not cut:
        return
    other = next(path for path, (width, height) in sizes.items() if not is_nyu_eigen_cut(height, width))
    (width, height), (other_w, other_h) = sizes[cut[0]], sizes[other]
    msg = (
        f"{cut[0]}: {height}x{width} is NYU already cut to the Eigen crop ({len(cut)} such files), among validation "
        f"frames that are not ({other}: {other_h}x{other_w}), which the crop eigen_nyu cuts: it would cut the copies a "
        f"second time; validate on the cut copies or the whole frames apart (data.val_root / data.val_split)"
    )
    raise ConfigError(msg)


def build_recorded_datasets(
    data: DataConfig, width: int, height: int, offsets: tuple[int, ...], seed: int, validate: bool = True
) -> tuple[RecordedDepthDataset, RecordedDepthDataset | None]:
    """(train, validation) datasets of ``data.kind`` at the network input size (no validation one without
    ``validate``: ``run.validate: false`` reads no validation frames).

    Args:
        data: the data section (``kind``, ``root``, ``split``, ``val_root``, ``val_split``, augmentation).
        width, height: network input size.
        offsets: temporal source frames (``()`` for supervised objectives).
        seed: augmentation seed.
        validate: build the validation dataset (``run.validate``).

    Raises:
        ConfigError: a missing root / split, a kind without the neighbours the objective needs, supervised data
            without a depth target (a folder without ``depth/``, a rosbag without ``data.lidar_topic``), or the
            dataset's own errors (missing files are named).
    """
    if data.kind not in REAL_KINDS:
        msg = f"data.kind {data.kind!r} is not a recorded dataset; use one of {REAL_KINDS}"
        raise ConfigError(msg)
    if not data.root:
        msg = f"data.kind={data.kind} needs data.root (the dataset folder or bag)"
        raise ConfigError(msg)
    augment = AugmentConfig(
        scale_range=data.scale_range,
        flip_probability=data.flip_probability,
        brightness=data.brightness,
        contrast=data.contrast,
        saturation=data.saturation,
        hue=data.hue,
        noise_std=data.noise_std,
    )
    protocol = _PROTOCOLS[data.kind]
    train: Any = _samples(data.kind, data.root, data.split, data, offsets)
    if not validate:
        return RecordedDepthDataset(train, width, height, augment, protocol, seed), None
    val: Any = _samples(data.kind, data.val_root or data.root, data.val_split or data.split, data, offsets)
    val_protocol = protocol
    if data.kind == "nyu":  # copies already cut to the Eigen crop are scored whole, as mono-depth eval scores them
        sizes = check_frame_files(val.records)  # (width, height) of each image, from its header
        val_protocol = replace(protocol, crop=nyu_crop_of((height, width) for width, height in sizes.values()))
        if val_protocol.crop == "eigen_nyu":
            _refuse_cut_nyu_copies(sizes)
    return (
        RecordedDepthDataset(train, width, height, augment, protocol, seed),
        RecordedDepthDataset(val, width, height, None, val_protocol, seed),
    )
