"""Training configuration: frozen dataclasses, one per section, loaded from YAML that overrides only what changes.

A YAML file has up to five sections (``model``, ``data``, ``loss``, ``optim``, ``run``); every key is optional and
defaults to the value below. Unknown sections or keys are refused with :class:`ConfigError` (a typo never passes
silently). ``--set section.key=value`` overrides parse ``value`` as YAML (``run.steps=10``, ``data.train_seeds=[1,2]``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_args, get_type_hints

import yaml

from mono_depth_ros.config import read_yaml_file
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.names import did_you_mean_each
from mono_depth_ros.models.spec import OutputKind

OBJECTIVES = ("supervised", "selfsup", "lidar_semi")
SUPERVISED_LOSSES = ("silog", "l1", "l2", "inverse_l2", "berhu", "densedepth")
LIDAR_LOSSES = ("reprojected", "l1", "berhu")
SCHEDULES = ("poly", "cosine", "constant")
SCHEDULE_SETTINGS: dict[str, tuple[tuple[str, ...], str]] = {  # optim settings only some schedules read (setup.py)
    "poly_power": (("poly",), "the exponent of the poly decay"),
    "min_lr_ratio": (
        ("poly", "cosine"),
        "the lr the decay ends at, × optim.lr; constant keeps optim.lr after warm-up",
    ),
}
AMP_MODES = ("none", "bf16", "fp16")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


@dataclass(frozen=True)
class ModelConfig:
    """The depth network: the project's ``unet`` (see :mod:`mono_depth_ros.models.unet`), or a pretrained foundation
    model fine-tuned from a local directory (``pretrained``: see :mod:`.pretrained`)."""

    encoder: str = "resnet18"  # resnet18 | resnet34 | resnet50
    preset: str = "tiny"  # width preset: tiny | small | base
    encoder_width: int = 0  # ResNet base width; 0 = the preset's
    decoder_channels: tuple[int, ...] = ()  # 5 decoder widths (levels 0..4); empty = the preset's
    input_height: int = 96  # network input height (pixels, multiple of 32); training images are this size
    input_width: int = 320  # network input width (pixels, multiple of 32)
    min_depth_m: float = 0.1  # output depth range (metres; scaled units for self-supervised models)
    max_depth_m: float = 100.0
    pretrained: str = ""  # local Hugging Face directory (Depth Anything V2) to fine-tune instead of the unet
    freeze_encoder: bool = False  # pretrained: train the neck and head only (the encoder keeps its weights)

    def __post_init__(self) -> None:
        _check(
            bool(self.pretrained) or (self.input_height % 32 == 0 and self.input_width % 32 == 0),
            f"model.input_height/input_width must be multiples of 32, got {self.input_height}x{self.input_width}",
        )
        _check(not self.freeze_encoder or bool(self.pretrained), "model.freeze_encoder needs model.pretrained")
        _check(  # an infinite cap has no depth bound and is no JSON number in the exported spec
            0 < self.min_depth_m < self.max_depth_m < math.inf,
            f"model.min_depth_m {self.min_depth_m} and model.max_depth_m {self.max_depth_m} must satisfy "
            "0 < min < max, both finite (the network's output range in metres: e.g. 0.1 and 100 outdoors, "
            "0.1 and 10 indoors)",
        )


DATA_KINDS = ("synthetic", "kitti_raw", "kitti_depth", "nyu", "folder", "rosbag")
RENDERING_SETTINGS = (  # data settings of the rendered drives (kind synthetic)
    "train_seeds",
    "val_seeds",
    "frames_per_clip",
    "val_frames_per_clip",
    "beams",
    "speed_mps",
    "rate_hz",
    "stereo_baseline_m",
)
READ_BY_KINDS: dict[str, tuple[tuple[str, ...], str]] = {  # data settings only some kinds read, and what they are
    "root": (DATA_KINDS[1:], "the recorded data's folder or bag; synthetic renders its drives"),
    "val_root": (DATA_KINDS[1:], "the recorded validation folder or bag; synthetic renders data.val_seeds"),
    "split": (("kitti_raw", "nyu"), "a split file of KITTI raw or NYU"),
    "val_split": (("kitti_raw", "nyu"), "a validation split file of KITTI raw or NYU"),
    "hue": (DATA_KINDS[1:], "recorded frames' augmentation; rendered drives take flip and colour jitter only"),
    "noise_std": (DATA_KINDS[1:], "recorded frames' augmentation; rendered drives take flip and colour jitter only"),
    "scale_range": (DATA_KINDS[1:], "recorded frames' zoom; rendered drives are rendered at the input size"),
    **dict.fromkeys(
        RENDERING_SETTINGS, (("synthetic",), "what the procedural world renders; recorded frames are what they are")
    ),
    "stereo": (("kitti_raw",), "KITTI raw's other colour camera (image_02 / image_03) as a source frame"),
    "png_scale": (("folder",), "depth PNG values per metre of its depth/; the other kinds' depth unit is fixed"),
    "gap_steps": (("folder",), "where its one image sequence splits; the other kinds know their sequences"),
    "image_topic": (("rosbag",), "the camera topic of a bag"),
    "camera_info_topic": (("rosbag",), "the CameraInfo topic of a bag"),
    "image_is_rectified": (("rosbag",), "whether a bag's image topic is rectified"),
    "image_significant_bits": (("rosbag",), "how a bag's 16-bit images scale to 8 bit"),
    "lidar_max_age_s": (("rosbag",), "how a bag's scans pair with its images"),
    "lidar_motion_frame": (("rosbag",), "how a bag's scans are moved to the image stamp"),
    "cache_dir": (
        ("synthetic", "rosbag"),
        "where the rendered drives and a bag's frames with their LiDAR are cached; the other kinds read their files "
        "in place",
    ),
}


def shown(value: Any) -> str:
    """A setting's value as YAML would give it (``256``, ``[1, 2]``, ``'/camera/image_raw'``, ``true``)."""
    if isinstance(value, (tuple, list)):  # a list: as TrainConfig.to_dict (a checkpoint's config) gives a tuple
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, bool):  # as the written config.yaml holds it, not Python's True / False
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _refuse_unread(
    section: Any, kind: str, read_by: Mapping[str, tuple[tuple[str, ...], str]], choice: str = "data.kind"
) -> None:
    """Refuse a setting of ``section`` that ``choice`` (``data.kind``, ``loss.objective``, ``optim.schedule``) ``kind``
    does not read and that differs from its default (a default written out, as a config shared between runs carries
    it, is no setting given). The setting is named ``<section>.<name>``, the section being ``choice``'s.

    Raises:
        ConfigError: naming the setting, its value, the kinds that read it and the default.
    """
    prefix = choice.partition(".")[0]
    defaults = {f.name: f.default for f in fields(section)}
    for name, (kinds, what) in read_by.items():
        value = getattr(section, name)
        if kind not in kinds and value != defaults[name]:
            msg = (
                f"{prefix}.{name} {shown(value)} is not read by {choice} {kind}: it is read by {choice} "
                f"{' / '.join(kinds)} only ({what}); leave it out (or at its default {shown(defaults[name])})"
            )
            raise ConfigError(msg)


@dataclass(frozen=True)
class DataConfig:
    """Training / validation data: ``kind: synthetic`` renders drives through the procedural world; the recorded kinds
    (``kitti_raw``, ``kitti_depth``, ``nyu``, ``folder``, ``rosbag``: see :mod:`.real_data`) read ``root``."""

    kind: str = "synthetic"  # synthetic | kitti_raw | kitti_depth | nyu | folder | rosbag
    root: str = ""  # recorded kinds: dataset folder (or rosbag2) for training
    split: str = ""  # kitti_raw: split file (required); nyu: BTS split file ('' = test_annotations.json)
    val_root: str = ""  # validation folder / bag ('' = root: then validation is NOT held out)
    val_split: str = ""  # validation split file ('' = split)
    png_scale: float = 1000.0  # folder: depth PNG values per metre (1000 = millimetres, 256 = KITTI-style PNGs)
    gap_steps: float = 3.0  # folder: a frame-number step over this many median steps splits the sequence (0 = never)
    image_topic: str = "/camera/image_raw"  # rosbag: camera topic (Image or CompressedImage)
    camera_info_topic: str = "/camera/camera_info"  # rosbag: its CameraInfo
    image_is_rectified: bool = True  # rosbag: False for a raw image (undistorted with K + D, as the node's parameter)
    image_significant_bits: int = 16  # rosbag: bits a 16-bit image's pixels use, 8..16, as the node's parameter
    lidar_topic: str = ""  # rosbag: PointCloud2 / LaserScan (TF to the camera in the bag): LiDAR target, sparse term
    lidar_max_age_s: float = 0.2  # rosbag: largest |scan stamp - image stamp| for a scan to pair with an image
    lidar_motion_frame: str = ""  # rosbag: fixed frame (odom): scans moved to the image stamp through TF ('' = off)
    train_seeds: tuple[int, ...] = (1, 2, 3, 4)  # one street (drive) per seed
    val_seeds: tuple[int, ...] = (1001,)  # held-out streets for validation
    frames_per_clip: int = 40  # frames per drive
    val_frames_per_clip: int = 20  # frames per validation drive
    beams: int = 32  # LiDAR beams rendered (0 = none)
    speed_mps: float = 8.0  # vehicle speed (m/s)
    rate_hz: float = 10.0  # frame rate: neighbours are speed / rate metres apart
    frame_offsets: tuple[int, ...] = (-1, 1)  # temporal sources of self-supervision (supervised: [] or this default)
    stereo_baseline_m: float = 0.0  # > 0: render a right camera too and use it as a known-pose source
    stereo: bool = False  # kitti_raw: the other colour camera of the same instant as a source (monodepth2's S / MS)
    cache_dir: str = ""  # synthetic: rendered-drive caches ('' = render every time); rosbag with lidar_topic: exports
    flip_probability: float = 0.5  # horizontal flip augmentation
    brightness: float = 0.2  # colour jitter amplitudes (factor in [1 - a, 1 + a])
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.0  # recorded kinds: hue jitter (turns: fractions of a full circle, 0..0.5)
    scale_range: tuple[float, float] = (1.0, 1.15)  # recorded kinds: random zoom before the crop to the input size
    noise_std: float = 0.0  # recorded kinds: Gaussian noise on colours in [0, 1]
    num_workers: int = 0  # DataLoader workers (0 = load in the training process)

    def __post_init__(self) -> None:
        _check(self.kind in DATA_KINDS, f"data.kind {self.kind!r} is not supported; use one of {DATA_KINDS}")
        _check(len(self.scale_range) == 2, f"data.scale_range needs two values (low, high), got {self.scale_range}")
        _check(
            0.0 < self.scale_range[0] <= self.scale_range[1],
            f"data.scale_range {self.scale_range} must satisfy 0 < low <= high",
        )
        _check(  # a frame is fit to the input size first: a zoom below 1 is raised to cover the crop, i.e. to 1
            self.scale_range[0] >= 1.0,
            f"data.scale_range {self.scale_range}: a frame is fit to the input size before the zoom, which cannot "
            "zoom out (it is raised to 1 to cover the crop, so the range did not do what it says); use low >= 1, "
            "e.g. [1.0, 1.15]",
        )
        _check(0.0 <= self.flip_probability <= 1.0, f"data.flip_probability={self.flip_probability} must be in [0, 1]")
        for name in ("brightness", "contrast", "saturation", "noise_std"):
            _check(getattr(self, name) >= 0.0, f"data.{name}={getattr(self, name)} must be >= 0")
        _check(0.0 <= self.hue <= 0.5, f"data.hue={self.hue} must be in [0, 0.5] (turns of the colour circle)")
        if self.kind == "synthetic":  # data.val_seeds: checked with run.validate (TrainConfig), which reads them
            _check(bool(self.train_seeds), "data.train_seeds must be set")
        else:
            _check(bool(self.root), f"data.kind={self.kind} needs data.root (the dataset folder or rosbag2)")
        twice = sorted({o for o in self.frame_offsets if self.frame_offsets.count(o) > 1})
        _check(
            not twice,
            f"data.frame_offsets {shown(self.frame_offsets)} names source frame {' and '.join(map(str, twice))} "
            f"twice (each offset is one source frame, e.g. [-1, 1]); give each offset once",
        )
        _check(self.num_workers >= 0, f"data.num_workers must be >= 0, got {self.num_workers}")
        _check(0 < self.png_scale < float("inf"), f"data.png_scale must be > 0 (per metre), got {self.png_scale}")
        _check(
            8 <= self.image_significant_bits <= 16,
            f"data.image_significant_bits must be in [8, 16] (the bits a 16-bit image's pixels use, as the node's "
            f"image_significant_bits: 12 for a 12-bit camera whose values are right-aligned), got "
            f"{self.image_significant_bits}",
        )
        if self.lidar_topic:  # before the settings it makes read: a folder's data.cache_dir is a bag's LiDAR cache
            _check(self.kind == "rosbag", f"data.lidar_topic is for data.kind rosbag, not {self.kind}")
        _refuse_unread(self, self.kind, READ_BY_KINDS)
        _check(
            self.gap_steps >= 0,
            f"data.gap_steps must be >= 0 (median frame-number steps; 0 = no gap rule), got {self.gap_steps}",
        )
        if self.kind == "rosbag" and not self.lidar_topic:
            defaults = {f.name: f.default for f in fields(self)}
            for name, what in (
                ("lidar_max_age_s", "it pairs the bag's scans with its images"),
                ("lidar_motion_frame", "it pairs the bag's scans with its images"),
                ("cache_dir", "the bag's frames are exported there with their LiDAR"),
            ):
                _check(
                    getattr(self, name) == defaults[name],
                    f"data.{name} {shown(getattr(self, name))} needs data.lidar_topic ({what}; without a LiDAR "
                    "topic no scan is read): set data.lidar_topic, or leave it out",
                )
        if self.lidar_topic:
            _check(bool(self.cache_dir), "data.lidar_topic needs data.cache_dir (where the bag's frames are exported)")
            _check(self.lidar_max_age_s > 0, f"data.lidar_max_age_s must be > 0, got {self.lidar_max_age_s}")


_PHOTOMETRIC = (("selfsup", "lidar_semi"), "the photometric self-supervision; supervised trains on depth alone")
READ_BY_OBJECTIVES: dict[str, tuple[tuple[str, ...], str]] = {  # loss settings only some objectives read
    **dict.fromkeys(
        ("supervised_loss", "silog_lambda", "gradient_weight"),
        (("supervised",), "the depth loss against exact depth; selfsup / lidar_semi minimise the photometric error"),
    ),
    **dict.fromkeys(
        ("photometric_resolution", "automask", "smoothness_weight", "pose_source", "pose_width"), _PHOTOMETRIC
    ),
    **dict.fromkeys(("lidar_loss", "lidar_weight"), (("lidar_semi",), "the sparse LiDAR term of lidar_semi")),
}
READ_BY_SUPERVISED_LOSSES: dict[str, tuple[tuple[str, ...], str]] = {  # supervised settings only some losses read
    "silog_lambda": (("silog",), "SILog's variance focus; the other losses have none"),
}


@dataclass(frozen=True)
class LossConfig:
    """What is minimised."""

    objective: str = "supervised"  # supervised (exact depth) | selfsup (photometric) | lidar_semi (photometric + LiDAR)
    supervised_loss: str = "silog"  # silog | l1 | l2 | inverse_l2 | berhu | densedepth (objective: supervised)
    silog_lambda: float = 0.85  # SILog variance focus λ (0 = L2 in log space, 1 = fully scale-invariant)
    gradient_weight: float = 0.0  # + this x MiDaS multi-scale gradient matching (sharper edges; 0 = off)
    scales: int = 4  # disparity scales in the loss (1..4)
    photometric_resolution: str = "full"  # full: disparities upsampled to full size (monodepth2) | pyramid: each
    # scale's loss on images downsampled to its size (SfMLearner, monodepth1: wider basin for larger motions)
    automask: bool = True  # monodepth2 auto-masking of pixels that do not move
    smoothness_weight: float = 1e-3  # edge-aware disparity smoothness (divided by 2^scale)
    lidar_loss: str = "reprojected"  # reprojected (Guizilini et al. 2019) | l1 | berhu (objective: lidar_semi)
    lidar_weight: float = 0.1  # weight of the LiDAR term (per pixel of reprojected distance, or per metre)
    pose_source: str = "predicted"  # predicted (pose network) | ground_truth (true poses: synthetic drives only)
    pose_width: int = 16  # first-layer width of the pose network

    def __post_init__(self) -> None:
        _check(self.objective in OBJECTIVES, f"loss.objective {self.objective!r} not in {OBJECTIVES}")
        _check(self.supervised_loss in SUPERVISED_LOSSES, f"loss.supervised_loss not in {SUPERVISED_LOSSES}")
        _check(0.0 <= self.silog_lambda <= 1.0, f"loss.silog_lambda must be in [0, 1], got {self.silog_lambda}")
        _check(self.gradient_weight >= 0.0, f"loss.gradient_weight must be >= 0, got {self.gradient_weight}")
        _check(self.lidar_loss in LIDAR_LOSSES, f"loss.lidar_loss {self.lidar_loss!r} not in {LIDAR_LOSSES}")
        _check(1 <= self.scales <= 4, f"loss.scales must be 1..4, got {self.scales}")
        _check(self.photometric_resolution in ("full", "pyramid"), "loss.photometric_resolution: full | pyramid")
        _check(self.pose_source in ("predicted", "ground_truth"), "loss.pose_source: predicted | ground_truth")
        _refuse_unread(self, self.objective, READ_BY_OBJECTIVES, "loss.objective")
        _refuse_unread(self, self.supervised_loss, READ_BY_SUPERVISED_LOSSES, "loss.supervised_loss")

    @property
    def scale_free_silog(self) -> bool:
        """Supervised with a fully scale-invariant SILog (``silog_lambda`` 1): depth up to scale, which a checkpoint
        written before that was recognised declared metric."""
        return self.objective == "supervised" and self.supervised_loss == "silog" and self.silog_lambda >= 1.0


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and learning-rate schedule."""

    NULL_HINTS: ClassVar[dict[str, str]] = {  # what a key set to null (an "off" elsewhere) is told to give instead
        "grad_clip_norm": "0 = no clipping",
        "weight_decay": "0 = no decay",
        "warmup_steps": "0 = no warm-up",
    }

    lr: float = 1e-3  # peak learning rate (AdamW) of the depth network
    pose_lr_scale: float = 1.0  # the pose network's learning rate is lr × this
    encoder_lr_scale: float = 1.0  # model.pretrained: the encoder's learning rate is lr × this (e.g. 0.1)
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    schedule: str = "cosine"  # poly | cosine | constant, after warm-up
    poly_power: float = 0.9  # exponent of the poly schedule
    warmup_steps: int = 50  # linear warm-up from 0
    min_lr_ratio: float = 0.05  # final lr / peak lr (poly, cosine)
    grad_clip_norm: float = 1.0  # clip the global gradient norm (0 = off)

    def __post_init__(self) -> None:
        _check(self.schedule in SCHEDULES, f"optim.schedule {self.schedule!r} not in {SCHEDULES}")
        # each setting named with its value (NaN fails every comparison, so is refused too)
        for name in ("lr", "pose_lr_scale", "encoder_lr_scale"):
            value = getattr(self, name)
            _check(0 < value < math.inf, f"optim.{name} {value} must be > 0 (and finite)")
        _check(self.warmup_steps >= 0, f"optim.warmup_steps {self.warmup_steps} must be >= 0 (0 = no warm-up)")
        _check(0 <= self.min_lr_ratio <= 1, f"optim.min_lr_ratio {self.min_lr_ratio} must be in [0, 1] (× optim.lr)")
        _check(0 <= self.poly_power < math.inf, f"optim.poly_power {self.poly_power} must be >= 0 (and finite)")
        # AdamW itself refuses a negative decay, with a traceback after the whole set-up
        _check(0 <= self.weight_decay < math.inf, f"optim.weight_decay {self.weight_decay} must be >= 0 (0 = no decay)")
        _check(  # NaN > 0 is false: NaN turned clipping off, silently
            0 <= self.grad_clip_norm < math.inf,
            f"optim.grad_clip_norm {self.grad_clip_norm} must be >= 0 (0 = no clipping)",
        )
        _refuse_unread(self, self.schedule, SCHEDULE_SETTINGS, choice="optim.schedule")


@dataclass(frozen=True)
class RunConfig:
    """Length, precision, devices, outputs."""

    steps: int = 1000  # optimiser steps in total (the schedule spans them)
    batch_size: int = 8  # per process
    seed: int = 0  # weights init, data order, augmentation
    device: str = "auto"  # auto | cpu | cuda | cuda:N (under torchrun: cuda:LOCAL_RANK when CUDA is used)
    amp: str = "none"  # autocast precision: none | bf16 | fp16 (fp16 adds a gradient scaler)
    threads: int = 0  # torch intra-op threads on the CPU (0 = library default)
    out_dir: str = "runs/train"  # checkpoints, CSV / TensorBoard logs, the final model.safetensors
    checkpoint_every: int = 500  # steps between checkpoints (the last step always writes one)
    keep_checkpoints: int = 3  # step checkpoints kept in out_dir/checkpoints, the newest (0 = keep all)
    log_every: int = 10  # steps between CSV / TensorBoard rows
    validate: bool = True  # validate at the end of every epoch and of the run
    val_max_images: int = 0  # cap on validation images (0 = all)
    eval_max_depth_m: float = 0.0  # validation cap on ground truth / predictions (metres); 0 = the dataset
    # protocol's (80 m KITTI / synthetic, 10 m NYU)
    progress: bool = True  # progress bar (rank 0, when tqdm is installed)
    tensorboard: bool = True  # TensorBoard events (when the tensorboard package is installed)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):  # each named with its value
            _check(getattr(self, name) >= 1, f"run.{name} must be >= 1, got {getattr(self, name)}")
        _check(self.amp in AMP_MODES, f"run.amp {self.amp!r} not in {AMP_MODES}")
        _check(
            self.keep_checkpoints >= 0,
            f"run.keep_checkpoints must be >= 0 (0 = keep every checkpoint), got {self.keep_checkpoints}",
        )
        _check(
            self.eval_max_depth_m >= 0.0,
            f"run.eval_max_depth_m must be >= 0 (0 = the dataset protocol's cap), got {self.eval_max_depth_m}",
        )


@dataclass(frozen=True)
class TrainConfig:
    """The whole configuration of one training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if self.loss.objective != "supervised":
            self._refuse_pose_settings_without_temporal_sources()
        else:
            default_offsets = next(f.default for f in fields(DataConfig) if f.name == "frame_offsets")
            unread = [
                ("frame_offsets", self.data.frame_offsets, self.data.frame_offsets not in ((), default_offsets)),
                ("stereo_baseline_m", self.data.stereo_baseline_m, self.data.stereo_baseline_m != 0.0),
                ("stereo", self.data.stereo, self.data.stereo),
            ]
            for name, value, given in unread:
                _check(
                    not given,
                    f"data.{name} {shown(value)} is not read by loss.objective supervised: source frames are read by "
                    "selfsup / lidar_semi only (supervised trains on depth alone); leave it out, or set "
                    "loss.objective",
                )
        self._refuse_pose_network_settings_without_one()
        self._refuse_encoder_lr_scale_without_a_trained_encoder()
        if not self.run.validate:
            self._refuse_validation_settings_without_validation()
        elif self.data.kind == "synthetic":
            _check(bool(self.data.val_seeds), "data.val_seeds must be set (or run.validate false)")
            _check(
                not set(self.data.train_seeds) & set(self.data.val_seeds),
                f"data.val_seeds {self.data.val_seeds} overlap data.train_seeds: validation must be held out",
            )

    @property
    def metric_sources(self) -> str:
        """What fixes a ``selfsup`` run's depth in metres ('' = nothing: depth up to scale): a stereo source whose
        pose is the rig's metric baseline (``data.stereo`` on KITTI raw, ``data.stereo_baseline_m`` of the rendered
        drives), or true temporal poses in metres (``loss.pose_source: ground_truth`` on drives that move:
        ``data.speed_mps`` 0 leaves every true pose the identity, which fixes no scale). The photometric term warps
        by that pose, so only depth in metres reprojects right (monodepth2's S / MS models: ``--eval_stereo``,
        no median scaling)."""
        d, loss = self.data, self.loss
        if loss.objective != "selfsup":
            return ""
        if d.kind == "kitti_raw" and d.stereo:
            return "data.stereo (the rig's calibrated baseline in metres)"
        if d.kind == "synthetic" and d.stereo_baseline_m > 0:
            return f"data.stereo_baseline_m {shown(d.stereo_baseline_m)} (a stereo source at a metric baseline)"
        if loss.pose_source == "ground_truth" and d.frame_offsets and d.kind == "synthetic" and d.speed_mps != 0:
            return "loss.pose_source ground_truth (true poses in metres)"  # at speed 0 every pose is the identity
        return ""

    @property
    def output_kind(self) -> OutputKind:
        """What the trained network outputs: metres, unless self-supervised without a metric pose
        (:attr:`metric_sources`: monocular video, whose photometric error is the same for depth and translation
        times any factor) or supervised with a fully scale-invariant SILog (``silog_lambda`` 1: one loss for a
        prediction and any multiple of it). Then the scale it learns is arbitrary and the node must recover it."""
        loss = self.loss
        scale_free = (loss.objective == "selfsup" and not self.metric_sources) or loss.scale_free_silog
        return OutputKind.DEPTH_UP_TO_SCALE if scale_free else OutputKind.METRIC

    def _refuse_validation_settings_without_validation(self) -> None:
        """Refuse, with ``run.validate: false``, the settings only :meth:`~.loop.Trainer.validate` reads
        (``run.val_max_images``, ``run.eval_max_depth_m``; ``data.val_root`` / ``data.val_split``, ``data.val_seeds``
        / ``data.val_frames_per_clip``: the data only it evaluates, not built without it) off their defaults.

        Raises:
            ConfigError: naming the setting, its value and the remedy.
        """
        for section, names in (
            (self.run, ("val_max_images", "eval_max_depth_m")),
            (self.data, ("val_root", "val_split", "val_seeds", "val_frames_per_clip")),
        ):
            defaults = {f.name: f.default for f in fields(section)}
            prefix = "run" if section is self.run else "data"
            for name in names:
                value = getattr(section, name)
                _check(
                    value == defaults[name],
                    f"{prefix}.{name} {shown(value)} is not read with run.validate false: only the trainer's "
                    f"validation reads it; leave it out (or at its default {shown(defaults[name])}), or set "
                    "run.validate true",
                )

    def _refuse_encoder_lr_scale_without_a_trained_encoder(self) -> None:
        """Refuse ``optim.encoder_lr_scale`` off its default without a pretrained encoder that trains (no
        ``model.pretrained``: the unet has one learning rate; ``model.freeze_encoder``: the encoder is left out of
        the optimiser, :func:`.pretrained.encoder_parameter_groups`).

        Raises:
            ConfigError: naming the value, why it is not read and the remedy.
        """
        default = next(f.default for f in fields(OptimConfig) if f.name == "encoder_lr_scale")
        scale, model = self.optim.encoder_lr_scale, self.model
        if scale == default or (model.pretrained and not model.freeze_encoder):
            return
        why = (
            "model.freeze_encoder true leaves the encoder out of the optimiser"
            if model.pretrained
            else "no model.pretrained: the unet trains at optim.lr throughout"
        )
        msg = (
            f"optim.encoder_lr_scale {shown(scale)} is not read: {why}; leave it out (or at its default "
            f"{shown(default)})"
        )
        raise ConfigError(msg)

    def _refuse_pose_settings_without_temporal_sources(self) -> None:
        """Refuse ``loss.pose_source`` / ``loss.pose_width`` off their defaults with ``data.frame_offsets: []``
        (monodepth2's S mode: the stereo source takes the rig's calibrated pose, no pose network is built).

        Raises:
            ConfigError: naming the setting, its value and the remedy.
        """
        if self.data.frame_offsets:
            return
        defaults = {f.name: f.default for f in fields(LossConfig)}
        for name in ("pose_source", "pose_width"):
            value = getattr(self.loss, name)
            _check(
                value == defaults[name],
                f"loss.{name} {shown(value)} is not read with data.frame_offsets []: without a temporal source "
                f"frame no pose is predicted or looked up (a stereo source takes the rig's calibrated pose); leave it "
                f"out (or at its default {shown(defaults[name])}), or give data.frame_offsets (e.g. [-1, 1]: "
                f"monodepth2's MS)",
            )

    def _refuse_pose_network_settings_without_one(self) -> None:
        """Refuse ``optim.pose_lr_scale`` (and, under true poses, ``loss.pose_width``) off its default where no pose
        network is built (:class:`~..objectives.assemble.Objective`: supervised, no temporal source, or
        ``loss.pose_source: ground_truth``): its parameter group is empty.

        Raises:
            ConfigError: naming the setting, its value and why no pose network is built.
        """
        loss = self.loss
        why = (
            "loss.objective supervised trains on depth alone"
            if loss.objective == "supervised"
            else "data.frame_offsets []: a stereo source takes the rig's calibrated pose"
            if not self.data.frame_offsets
            else f"loss.pose_source {shown(loss.pose_source)}: the true poses are used"
            if loss.pose_source == "ground_truth"
            else ""
        )
        if not why:
            return
        default_scale = next(f.default for f in fields(OptimConfig) if f.name == "pose_lr_scale")
        _check(
            self.optim.pose_lr_scale == default_scale,
            f"optim.pose_lr_scale {shown(self.optim.pose_lr_scale)} is not read: no pose network is built ({why}); "
            f"leave it out (or at its default {shown(default_scale)})",
        )
        default_width = next(f.default for f in fields(LossConfig) if f.name == "pose_width")
        _check(
            loss.pose_width == default_width or loss.pose_source != "ground_truth",  # the others: refused before
            f"loss.pose_width {shown(loss.pose_width)} is not read: no pose network is built ({why}); leave it out "
            f"(or at its default {shown(default_width)}), or use loss.pose_source predicted (the pose network)",
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists for tuples) that :func:`config_from_mapping` reads back."""
        plain: dict[str, Any] = _plain(dataclasses.asdict(self))
        return plain

    def to_yaml(self) -> str:
        """YAML text of :meth:`to_dict`."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


SectionT = TypeVar("SectionT")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _convert(value: Any, kind: Any, where: str, default: Any = MISSING, hint: str = "") -> Any:
    """``value`` as the annotated type ``kind`` (bool, int, float, str or ``tuple[T, ...]``); null (YAML's empty
    value) is refused naming ``default`` and ``hint`` (what turns the setting off, where something does)."""
    if value is None:  # 'key:' or 'key: null', often meant as "off": no setting takes it
        name = getattr(kind, "__name__", "value") if not get_args(kind) else "list"
        article = "an" if name[0] in "aeiou" else "a"
        given = f"{article} {name}" + (f" ({hint})" if hint else "")
        default_text = "" if default is MISSING else f" ({default!r})"
        msg = f"{where} is null (YAML's empty value), no {name}: give {given}, or leave the key out for its default"
        raise ConfigError(msg + default_text)
    args = get_args(kind)
    if args:  # tuple[T, ...]
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(_convert(v, args[0], where) for v in items)
    if kind is bool:
        _check(isinstance(value, bool), f"{where} must be true or false, got {value!r}")
        return value
    if kind is str:
        _check(isinstance(value, str | int | float), f"{where} must be a string, got {value!r}")
        return str(value)
    if kind is int and (isinstance(value, bool) or (isinstance(value, float) and not value.is_integer())):
        msg = f"{where}={value!r} is not a valid int"
        raise ConfigError(msg)
    try:
        return kind(value)
    except (TypeError, ValueError):
        msg = f"{where}={value!r} is not a valid {kind.__name__}"
        raise ConfigError(msg) from None


def _default(field_: dataclasses.Field[Any]) -> Any:
    """A dataclass field's default (MISSING where it has none)."""
    return field_.default_factory() if field_.default_factory is not MISSING else field_.default


def _section(cls: type[SectionT], name: str, values: Mapping[str, Any]) -> SectionT:
    """``cls`` from ``values``; nested sections as mappings or dotted keys (``lidar.max_age_s``); a class's
    ``ALIASES`` map older spellings to current ones (``lidar_max_age_s`` → ``lidar.max_age_s``)."""
    hints = get_type_hints(cls)
    by_name = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    aliases: Mapping[str, str] = getattr(cls, "ALIASES", {})
    flat: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for raw_key, value in values.items():
        key = aliases.get(raw_key, raw_key)
        head, dot, rest = key.partition(".")
        if dot:
            nested.setdefault(head, {})[rest] = value
        elif isinstance(value, Mapping) and is_dataclass(hints.get(key)):
            nested.setdefault(key, {}).update(value)
        else:
            flat[key] = value
    unknown = sorted((set(flat) | set(nested)) - set(by_name))
    hint = did_you_mean_each(unknown, by_name)
    _check(not unknown, f"unknown keys {unknown} in section {name!r}{hint}; valid: {sorted(by_name)}")
    null_hints: Mapping[str, str] = getattr(cls, "NULL_HINTS", {})
    converted = {
        key: _convert(value, hints[key], f"{name}.{key}", _default(by_name[key]), null_hints.get(key, ""))
        for key, value in flat.items()
    }
    for key, sub in nested.items():
        kind = hints[key]
        _check(is_dataclass(kind), f"{name}.{key} is a value, not a section: give it as {key}: <value>")
        field_ = by_name[key]
        default: Any = field_.default_factory() if field_.default_factory is not MISSING else field_.default
        sub_hints = get_type_hints(kind)
        sub_known = {f.name for f in fields(kind)}
        extra = sorted(set(sub) - sub_known)
        hint = did_you_mean_each(extra, sub_known)
        _check(not extra, f"unknown keys {extra} in {name}.{key}{hint}; valid: {sorted(sub_known)}")
        sub_fields = {f.name: f for f in fields(kind)}
        sub_values = {
            k: _convert(v, sub_hints[k], f"{name}.{key}.{k}", _default(sub_fields[k])) for k, v in sub.items()
        }
        converted[key] = replace(default, **sub_values)
    return cls(**converted)


def sections_from_mapping(data: Mapping[str, Any], sections: Mapping[str, type[Any]], what: str) -> dict[str, Any]:
    """Each section dataclass of ``sections`` built from ``data[name]`` (missing sections and keys: defaults).

    Values are converted to the annotated field types (bool strict, int refuses fractions, tuples from lists).

    Raises:
        ConfigError: unknown section or key, or a value of the wrong type (the message names ``what`` config).
    """
    unknown = sorted(set(data) - set(sections))
    hint = did_you_mean_each(unknown, sections)
    if any(isinstance(data[name], Mapping) and "ros__parameters" in data[name] for name in unknown):
        hint += " (this is a ROS params file for mono_depth_node / `mono-depth bag IN OUT --config FILE`, not a "
        hint += "training config)"
    _check(not unknown, f"unknown {what} sections {unknown}{hint}; valid: {list(sections)}")
    built = {}
    for name, cls in sections.items():
        values = data.get(name)
        values = {} if values is None else values
        _check(isinstance(values, Mapping), f"config section {name!r} must be a mapping, got {values!r}")
        built[name] = _section(cls, name, values)
    return built


_SECTIONS: dict[str, type[Any]] = {
    "model": ModelConfig,
    "data": DataConfig,
    "loss": LossConfig,
    "optim": OptimConfig,
    "run": RunConfig,
}


def config_from_mapping(data: Mapping[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from nested mappings (missing keys take their defaults).

    Raises:
        ConfigError: unknown section or key, or a value of the wrong type / out of range.
    """
    return TrainConfig(**sections_from_mapping(data, _SECTIONS, "config"))


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings (value parsed as YAML) to a nested dict; returns a new dict."""
    for section, values in data.items():
        _check(isinstance(values, Mapping | None), f"config section {section!r} must be a mapping, got {values!r}")
    merged = {k: dict(v or {}) for k, v in data.items()}
    for item in overrides:
        key, sep, text = item.partition("=")
        section, dot, name = key.strip().partition(".")
        _check(bool(sep and dot and name), f"override {item!r} must look like section.key=value")
        merged.setdefault(section, {})[name] = yaml.safe_load(text)
    return merged


def read_config_yaml(path: str | Path, what: str) -> dict[str, Any]:
    """Read a YAML file of config sections (empty file = {}); ``what`` names the config in error messages.

    Raises:
        ConfigError: missing / unreadable file, invalid YAML, a key given twice in one mapping, or not a mapping.
    """
    loaded = read_yaml_file(path, what, unique_keys=True)
    _check(isinstance(loaded, dict | None), f"{what} {path} must be a mapping of sections")
    return loaded or {}


def load_train_config(path: str | Path | None, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read a YAML config (None = all defaults) and apply ``section.key=value`` overrides.

    Raises:
        ConfigError: missing / unreadable file, invalid YAML, or any error of :func:`config_from_mapping`.
    """
    data = {} if path is None else read_config_yaml(path, "training config")
    return config_from_mapping(apply_overrides(data, overrides))
