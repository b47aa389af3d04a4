"""Distillation configuration: frozen dataclasses, one per section, loaded from YAML that overrides only what changes.

Sections: ``teacher`` (the model that labels), ``data`` (what it labels and where the labels are cached),
``student`` (the network that learns), ``loss``, ``optim`` (shared with the trainer:
:class:`~mono_depth_ros.training.trainer.config.OptimConfig`) and ``run``. Every key is optional; unknown sections
or keys are refused with :class:`ConfigError`. ``section.key=value`` overrides parse ``value`` as YAML.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from mono_depth_ros.depth_config import DepthConfig, LidarConfig
from mono_depth_ros.training.trainer.config import (
    AMP_MODES,
    OptimConfig,
    _check,
    _plain,
    apply_overrides,
    read_config_yaml,
    sections_from_mapping,
)

TEACHER_BACKENDS = ("auto", "torch", "unet", "depth_anything_v2", "onnx", "torchscript")
STUDENT_KINDS = ("auto", "metric", "depth_up_to_scale")
LIDAR_LOSSES = ("l1", "berhu")


@dataclass(frozen=True)
class TeacherConfig:
    """The model whose predictions become the labels."""

    weights: str = ""  # project checkpoint (.safetensors), transformers depth-model directory, .onnx or TorchScript
    backend: str = "auto"  # auto (from the path) | torch | unet | depth_anything_v2 | onnx | torchscript
    device: str = "cpu"  # auto | cpu | cuda | cuda:N
    features: bool = False  # also cache encoder features (feature alignment; torch teachers only)

    def __post_init__(self) -> None:
        _check(self.backend in TEACHER_BACKENDS, f"teacher.backend {self.backend!r} not in {TEACHER_BACKENDS}")


@dataclass(frozen=True)
class DataConfig:
    """Unlabelled recordings and the pseudo-label cache."""

    ALIASES: ClassVar[dict[str, str]] = {  # earlier spellings, still read
        "lidar_max_age_s": "lidar.max_age_s",
        "lidar_motion_frame": "lidar.motion_frame",
    }

    bags: tuple[str, ...] = ()  # rosbag2 folders or .mcap / .db3 files
    folders: tuple[str, ...] = ()  # image folders (rgb/ + intrinsics.yaml, or bare images)
    image_topic: str = "/camera/image_raw"  # Image or CompressedImage
    camera_info_topic: str = "/camera/camera_info"
    lidar_topic: str = ""  # PointCloud2 or LaserScan with TF to the camera in the bag ('' = no LiDAR)
    # The node's own LiDAR settings, spelled and validated as its parameters: lidar.max_age_s (largest |scan stamp -
    # image stamp| for a scan to label an image), lidar.motion_frame (fixed frame, e.g. odom, to move scans to the
    # image stamp through TF; '' = off). lidar.wait_s has no meaning offline.
    lidar: LidarConfig = field(default_factory=lambda: DepthConfig.from_params().lidar)
    image_is_rectified: bool = True  # False: raw images, undistorted with K + D before labelling
    image_significant_bits: int = 16  # bits a 16-bit image's pixels use, 8..16, as the node's parameter
    distro: str = "humble"  # message definitions of the bags: humble | jazzy
    stride: int = 1  # label every stride-th image of each source
    max_frames: int = 0  # at most this many labelled images per source (0 = all)
    cache_dir: str = "runs/distill/labels"  # pseudo-label cache (resumable; one folder per teacher and size)
    label_height: int = 0  # size images and labels are cached at (0 = the student's input size)
    label_width: int = 0
    feature_stride: int = 16  # cached teacher features are pooled to (label size / this) cells

    def __post_init__(self) -> None:
        _check(self.stride >= 1 and self.max_frames >= 0, f"data.stride >= 1 and data.max_frames >= 0: {self}")
        lidar = DepthConfig.from_params({f"lidar.{k}": v for k, v in asdict(self.lidar).items()}).lidar
        object.__setattr__(self, "lidar", lidar)  # validated by the node's parameter table (range, finite)
        _check(
            (self.label_height == 0) == (self.label_width == 0) and min(self.label_height, self.label_width) >= 0,
            f"data.label_height/label_width: give both (positive) or neither (0), got "
            f"{self.label_height}x{self.label_width}",
        )
        _check(self.feature_stride >= 1, f"data.feature_stride must be >= 1, got {self.feature_stride}")
        _check(
            8 <= self.image_significant_bits <= 16,
            f"data.image_significant_bits must be in [8, 16] (the bits a 16-bit image's pixels use, as the node's "
            f"image_significant_bits: 12 for a 12-bit camera whose values are right-aligned), got "
            f"{self.image_significant_bits}",
        )


@dataclass(frozen=True)
class StudentConfig:
    """The student network (a ``unet``; see :mod:`mono_depth_ros.models.unet`)."""

    encoder: str = "resnet18"  # resnet18 | resnet34 | resnet50
    preset: str = "tiny"  # width preset: tiny | small | base
    encoder_width: int = 0  # ResNet base width; 0 = the preset's
    decoder_channels: tuple[int, ...] = ()  # 5 decoder widths (levels 0..4); empty = the preset's
    input_height: int = 96  # network input size (pixels, multiples of 32)
    input_width: int = 320
    min_depth_m: float = 0.5  # output range before calibration (folded with the calibration afterwards)
    max_depth_m: float = 100.0
    output_kind: str = "auto"  # auto (from the teacher and LiDAR) | metric | depth_up_to_scale

    def __post_init__(self) -> None:
        _check(
            self.input_height % 32 == 0 and self.input_width % 32 == 0 and min(self.input_height, self.input_width) > 0,
            f"student.input_height/input_width must be positive multiples of 32, got "
            f"{self.input_height}x{self.input_width}",
        )
        _check(  # an infinite cap has no depth bound and is no JSON number in the exported spec
            0 < self.min_depth_m < self.max_depth_m < math.inf,
            f"student.min_depth_m {self.min_depth_m} and student.max_depth_m {self.max_depth_m} must satisfy "
            "0 < min < max, both finite (metres, or the teacher's units before calibration)",
        )
        _check(self.output_kind in STUDENT_KINDS, f"student.output_kind {self.output_kind!r} not in {STUDENT_KINDS}")


@dataclass(frozen=True)
class DistillLossConfig:
    """What the student minimises, and the perturbations of its input (the labels come from clean images)."""

    gradient_weight: float = 0.5  # weight of multi-scale gradient matching in the SSI loss (MiDaS alpha)
    gradient_scales: int = 4  # halvings of the gradient-matching term
    feature_weight: float = 0.0  # feature alignment (cosine) with the teacher's encoder; needs teacher.features
    feature_margin: float = 0.85  # pixels already more similar than this are not pushed further (Depth Anything)
    lidar_weight: float = 0.0  # sparse metric LiDAR term (per metre); > 0 with LiDAR in the data: a metric student
    lidar_loss: str = "l1"  # l1 | berhu
    cutmix_probability: float = 0.5  # chance that a batch is CutMixed (SSI fitted inside / outside the box apart)
    cutmix_area: tuple[float, ...] = (0.1, 0.5)  # pasted box area fraction range
    flip_probability: float = 0.5  # horizontal flip (image, labels, features together)
    jitter_probability: float = 0.8  # strong colour perturbation of the student's input
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1  # turns
    noise_std: float = 0.02  # Gaussian noise on RGB in [0, 1]

    def __post_init__(self) -> None:
        _check(self.gradient_weight >= 0 and self.gradient_scales >= 1, f"bad gradient matching settings: {self}")
        _check(min(self.feature_weight, self.lidar_weight) >= 0, "loss.feature_weight and lidar_weight must be >= 0")
        _check(-1.0 <= self.feature_margin <= 1.0, f"loss.feature_margin must be in [-1, 1], got {self.feature_margin}")
        _check(self.lidar_loss in LIDAR_LOSSES, f"loss.lidar_loss {self.lidar_loss!r} not in {LIDAR_LOSSES}")
        _check(
            len(self.cutmix_area) == 2 and 0 < self.cutmix_area[0] <= self.cutmix_area[1] <= 1,
            f"loss.cutmix_area must be [low, high] with 0 < low <= high <= 1, got {list(self.cutmix_area)}",
        )
        for name in ("cutmix_probability", "flip_probability", "jitter_probability"):
            _check(0.0 <= getattr(self, name) <= 1.0, f"loss.{name}={getattr(self, name)} must be in [0, 1]")
        _check(
            min(self.brightness, self.contrast, self.saturation, self.noise_std) >= 0 and 0 <= self.hue <= 0.5,
            f"colour perturbation strengths must be >= 0 and hue in [0, 0.5]: {self}",
        )


@dataclass(frozen=True)
class DistillRunConfig:
    """Length, precision, outputs."""

    steps: int = 2000  # optimiser steps (the learning-rate schedule spans them)
    batch_size: int = 8
    seed: int = 0  # weights init, data order, augmentation draws
    device: str = "auto"  # student device: auto | cpu | cuda | cuda:N
    amp: str = "none"  # autocast of the student: none | bf16 | fp16 (fp16 adds a gradient scaler)
    threads: int = 0  # torch intra-op threads on the CPU (0 = library default)
    out_dir: str = "runs/distill"  # checkpoints, train.csv, the final model.safetensors
    checkpoint_every: int = 500  # steps between resumable checkpoints (the last step always writes one)
    keep_checkpoints: int = 3  # step checkpoints kept in out_dir/checkpoints, the newest (0 = keep all)
    log_every: int = 25  # steps between train.csv rows
    calibration_frames: int = 64  # cached frames used to fit the output calibration (0 = all)
    progress: bool = True  # progress bars (when tqdm is installed)
    tensorboard: bool = False  # TensorBoard events (when installed)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):  # each named with its value
            _check(getattr(self, name) >= 1, f"run.{name} must be >= 1, got {getattr(self, name)}")
        _check(self.amp in AMP_MODES, f"run.amp {self.amp!r} not in {AMP_MODES}")
        _check(self.calibration_frames >= 0, f"run.calibration_frames must be >= 0, got {self.calibration_frames}")
        _check(
            self.keep_checkpoints >= 0,
            f"run.keep_checkpoints must be >= 0 (0 = keep every checkpoint), got {self.keep_checkpoints}",
        )


@dataclass(frozen=True)
class DistillConfig:
    """The whole configuration of one distillation run."""

    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    data: DataConfig = field(default_factory=DataConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    loss: DistillLossConfig = field(default_factory=DistillLossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: DistillRunConfig = field(default_factory=DistillRunConfig)

    @property
    def label_hw(self) -> tuple[int, int]:
        """(height, width) images and labels are cached at."""
        if self.data.label_height:
            return self.data.label_height, self.data.label_width
        return self.student.input_height, self.student.input_width

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists for tuples) that :func:`distill_config_from_mapping` reads back."""
        return {k: _plain(v) for k, v in dataclasses.asdict(self).items()}

    def to_yaml(self) -> str:
        """YAML text of :meth:`to_dict`."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


_SECTIONS: dict[str, type[Any]] = {
    "teacher": TeacherConfig,
    "data": DataConfig,
    "student": StudentConfig,
    "loss": DistillLossConfig,
    "optim": OptimConfig,
    "run": DistillRunConfig,
}


def distill_config_from_mapping(data: Mapping[str, Any]) -> DistillConfig:
    """Build a :class:`DistillConfig` from nested mappings (missing keys take their defaults).

    Raises:
        ConfigError: unknown section or key, or a value of the wrong type / out of range.
    """
    return DistillConfig(**sections_from_mapping(data, _SECTIONS, "distillation config"))


def load_distill_config(path: str | Path | None, overrides: Iterable[str] = ()) -> DistillConfig:
    """Read a YAML config (None = all defaults) and apply ``section.key=value`` overrides.

    Raises:
        ConfigError: missing / unreadable file, invalid YAML, or any error of :func:`distill_config_from_mapping`.
    """
    data = {} if path is None else read_config_yaml(path, "distillation config")
    return distill_config_from_mapping(apply_overrides(data, overrides))
