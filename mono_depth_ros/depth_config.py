"""The node's configuration as one frozen, typed value: :class:`DepthConfig`, built once from the parameter table.

``DepthConfig.from_params(values)`` validates everything once (:func:`mono_depth_ros.config.resolve`: types,
ranges, choices, finite numbers, ``min_range < max_range``) and hands down typed slices: ``topics``, ``sync``,
``lidar``, ``model``, ``scale``, ``output``, ``cloud``, ``scan``, ``diagnostics``. A run-time parameter change builds
a new value (:meth:`DepthConfig.with_changes`); nothing downstream re-validates. Every parameter of
:data:`~mono_depth_ros.config.PARAMS` is exactly one field of one slice (:data:`FIELD_OF_PARAM`; a test checks
it); field names are the parameter names without the slice prefix (``output.max_range`` → ``output.max_range``),
except the topic names (``image_topic`` → ``topics.image``) and ``device`` (→ ``model.device``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from mono_depth_ros.config import ParamValue, resolve


@dataclass(frozen=True)
class TopicsConfig:
    """Input topics and how they are read; QoS choices ``sensor_data`` | ``reliable``."""

    image: str
    camera_info: str
    lidar: str  # empty = no LiDAR
    prediction: str
    image_transport: str  # raw | compressed
    image_is_rectified: bool
    image_significant_bits: int  # 8..16: 16-bit pixels scale to 8 bit by 255 / (2**bits - 1)
    input_qos: str
    output_qos: str


@dataclass(frozen=True)
class SyncConfig:
    """Image ↔ camera_info pairing: ``approximate`` (ApproximateTime, ``slop_s`` seconds) or ``latest``."""

    mode: str
    slop_s: float
    queue_size: int


@dataclass(frozen=True)
class LidarConfig:
    """LiDAR scan pairing (seconds), the type of ``lidar_topic`` (``auto`` | ``PointCloud2`` | ``LaserScan``) and the
    fixed frame for motion compensation (empty = none)."""

    max_age_s: float
    wait_s: float
    message_type: str
    motion_frame: str


@dataclass(frozen=True)
class ModelConfig:
    """The depth source: backend, weights, device and inference settings."""

    device: str
    backend: str
    weights: str
    output_kind: str
    precision: str
    compile: bool
    cuda_graphs: bool
    threads: int
    channels_last: bool
    warmup_height: int
    warmup_width: int
    max_invalid_share: float
    golden_check: str
    onnx_providers: str
    trt_fp16: bool
    trt_cache_dir: str


@dataclass(frozen=True)
class ScaleConfig:
    """Metric scale recovery: requested mode and fallbacks (metres, radians)."""

    mode: str
    fixed_scale: float
    camera_height_m: float
    camera_pitch_rad: float
    ground_frame: str
    min_points: int


@dataclass(frozen=True)
class OutputConfig:
    """The published depth: encoding, range limits (metres), resolution, speckle and flying-pixel filters, and where
    those steps run (``device_postprocess``: auto | on | off)."""

    encoding: str
    min_range: float
    max_range: float
    downscale: int
    outlier_filter: bool
    outlier_tolerance: float
    edge_filter: bool
    edge_threshold: float
    device_postprocess: str


@dataclass(frozen=True)
class CloudConfig:
    """``/depth/points``: layout and density."""

    enabled: bool
    mode: str
    stride: int
    voxel_size: float
    rgb: bool
    clearing: bool
    clearing_range: float
    clearing_stride: int


@dataclass(frozen=True)
class ScanConfig:
    """``/depth/scan``: on or off, the band of rows, its frame (empty = derived from the image frame)."""

    enabled: bool
    band_rows: int
    frame_id: str


@dataclass(frozen=True)
class TemporalConfig:
    """The temporal filter (core.temporal_filter): on / off, TF fixed frame, agreement, weight, TF extrapolation."""

    enabled: bool
    fixed_frame: str
    agreement: float
    max_weight: float
    max_extrapolation_s: float


@dataclass(frozen=True)
class DiagnosticsConfig:
    """``/diagnostics`` period in seconds."""

    period_s: float


_SLICES: dict[str, type] = {
    "topics": TopicsConfig,
    "sync": SyncConfig,
    "lidar": LidarConfig,
    "model": ModelConfig,
    "scale": ScaleConfig,
    "output": OutputConfig,
    "cloud": CloudConfig,
    "scan": ScanConfig,
    "temporal": TemporalConfig,
    "diagnostics": DiagnosticsConfig,
}
_RENAMED = {
    "image_topic": ("topics", "image"),
    "camera_info_topic": ("topics", "camera_info"),
    "lidar_topic": ("topics", "lidar"),
    "prediction_topic": ("topics", "prediction"),
    "image_transport": ("topics", "image_transport"),
    "image_is_rectified": ("topics", "image_is_rectified"),
    "image_significant_bits": ("topics", "image_significant_bits"),
    "input_qos": ("topics", "input_qos"),
    "output_qos": ("topics", "output_qos"),
    "device": ("model", "device"),
}


def _field_of(name: str) -> tuple[str, str]:
    if name in _RENAMED:
        return _RENAMED[name]
    slice_name, _, field_name = name.partition(".")
    return slice_name, field_name


@dataclass(frozen=True)
class DepthConfig:
    """Every parameter of the node and the bag runner, validated, as typed slices (see the module docstring).

    ``params`` keeps the flat dotted view (read-only) for ``/diagnostics``, logs and the few places that print
    the table.
    """

    topics: TopicsConfig
    sync: SyncConfig
    lidar: LidarConfig
    model: ModelConfig
    scale: ScaleConfig
    output: OutputConfig
    cloud: CloudConfig
    scan: ScanConfig
    temporal: TemporalConfig
    diagnostics: DiagnosticsConfig
    params: Mapping[str, ParamValue]

    @classmethod
    def from_params(cls, values: Mapping[str, Any] | None = None) -> DepthConfig:
        """Defaults updated with ``values`` (flat dotted names), validated once.

        Raises:
            ConfigError: an unknown name (with the closest known ones) or a bad value, naming it.
        """
        flat = resolve(dict(values or {}))
        grouped: dict[str, dict[str, Any]] = {name: {} for name in _SLICES}
        for name, value in flat.items():
            slice_name, field_name = _field_of(name)
            grouped[slice_name][field_name] = value
        slices = {name: kind(**grouped[name]) for name, kind in _SLICES.items()}
        return cls(**slices, params=MappingProxyType(flat))

    @classmethod
    def of(cls, config: DepthConfig | Mapping[str, Any] | None) -> DepthConfig:
        """``config`` itself, or one built from a flat mapping (for callers that hold parameter values)."""
        return config if isinstance(config, DepthConfig) else cls.from_params(config)

    def with_changes(self, changes: Mapping[str, Any]) -> DepthConfig:
        """A new config with ``changes`` (flat dotted names) applied and validated; this one is unchanged."""
        return DepthConfig.from_params({**self.params, **changes})


FIELD_OF_PARAM: dict[str, tuple[str, str]] = {name: _field_of(name) for name in resolve({})}
"""Parameter name → (slice, field) of :class:`DepthConfig`."""
SLICE_FIELDS: dict[str, tuple[str, ...]] = {name: tuple(f.name for f in fields(kind)) for name, kind in _SLICES.items()}
