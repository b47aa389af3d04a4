"""DepthPipeline: one frame in → depth image, its camera_info, point cloud, scale health, timings out.

The one function the ROS 2 node and the bag runner both call (:meth:`DepthPipeline.process_frame`). It is
transport-free: adapters convert messages to a :class:`FrameInput` (see ros_msgs) and a :class:`FrameOutput` back.
Data flows one way: image → depth source (network or external prediction) → metric scale → temporal filter (when
``temporal.enabled``) → range limits / edge filter → cloud.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol, overload, runtime_checkable

import numpy as np
import numpy.ma  # imported by numpy 2 at a process's first np.median / np.quantile (18-50 ms): here, at start-up,
import numpy.typing as npt  # not inside the first frame that calls one (the LiDAR scale check, ground, the fits)

from mono_depth_ros.config import ParamValue
from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.clearing import clearing_cloud
from mono_depth_ros.core.cloud import CloudBuilder, PointCloud, strided_cloud, voxel_cloud
from mono_depth_ros.core.cloud_outliers import OutlierFilter, speckle_mask
from mono_depth_ros.core.depth_codec import apply_range_limits, decode_depth, encode_depth
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.edges import SourceShape, flying_pixel_mask
from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.core.frame_hints import PROMPT_DEPTH, FrameHints
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.laser_scan import ScanData, scan_frame_id, scan_from_depth
from mono_depth_ros.core.model_output import (
    check_external_prediction,
    check_network_output,
    out_of_memory,
    producer_marks,
)
from mono_depth_ros.core.scale import RecoveryConfig, ScaleRecovery
from mono_depth_ros.core.scale.ground import GroundPose
from mono_depth_ros.core.scale.lidar import LidarScan
from mono_depth_ros.core.scale.recovery import TIME_JUMP_BACK_NS  # the one 'time went back' threshold
from mono_depth_ros.core.training_camera import training_camera_mismatch
from mono_depth_ros.depth_config import DepthConfig

if TYPE_CHECKING:
    import torch

    from mono_depth_ros.core.temporal_filter import TemporalFilter, TemporalFilterConfig

# One LiDAR scan for scale recovery: points in the LiDAR frame, cam_from_lidar, scan stamp (and optional twist).
LidarInput = LidarScan


@dataclass(frozen=True)
class FrameInput:
    """Everything one frame needs.

    Attributes:
        stamp_ns: capture stamp of the image (int ns); every output carries it.
        frame_id: the camera's optical frame id (from the image header); every output carries it.
        rgb: (H, W, 3) uint8 RGB image.
        camera: calibration from the camera_info paired with the image.
        image_is_rectified: True for image_rect (geometry from P); False for raw images (undistorted with K + D).
        lidar: optional scan for metric scale.
        prediction: optional external (H, W) float32 prediction (``model.backend: external``); its meaning is
            ``model.output_kind``.
        world_from_cam: the camera pose (optical frame → ``temporal.fixed_frame``) at ``stamp_ns``, from TF, for
            the temporal filter; None = unknown (the filter then passes the frame through and counts it).
        ground_pose: the camera above the ground from TF (``scale.ground_frame`` <- the optical frame at
            ``stamp_ns``, :mod:`mono_depth_ros.adapters.ground_tf`) for the ground-plane scale; None = the
            parameters' (``scale.camera_height_m``, ``scale.camera_pitch_rad``).
        ground_pose_missing: why ``scale.ground_frame``, set, gave this frame no ``ground_pose`` (the TF missing, or
            putting the camera at or below the ground frame); its ground-plane scale, from the parameters, is then
            ``degraded``. Empty: TF gave one, or ``scale.ground_frame`` is not set.
    """

    stamp_ns: int
    frame_id: str
    rgb: npt.NDArray[np.uint8]
    camera: CameraModel
    image_is_rectified: bool = True
    lidar: LidarInput | None = None
    prediction: npt.NDArray[np.float32] | None = None
    world_from_cam: RigidTransform | None = None
    ground_pose: GroundPose | None = None
    ground_pose_missing: str = ""


@dataclass(frozen=True)
class TemporalStatus:
    """What the temporal filter did (``temporal.enabled``): this frame's state and the counts since start-up.

    ``state``: ``filtered`` | ``started`` | ``no_motion`` (no camera pose from TF: passed through);
    ``kept_share``: share of valid pixels blended with their history in this frame.
    """

    state: str
    kept_share: float
    filtered_frames: int
    no_motion_frames: int

    def key_values(self) -> list[tuple[str, str]]:
        """The /diagnostics key/values of the filter (node and bag runner alike)."""
        return [
            ("temporal_state", self.state),
            ("temporal_kept_share", f"{self.kept_share:.3f}"),
            ("temporal_filtered_frames", str(self.filtered_frames)),
            ("temporal_no_motion_frames", str(self.no_motion_frames)),
        ]


@dataclass(frozen=True)
class ScaleStatus:
    """How the metric scale was obtained for this frame (published in /diagnostics)."""

    mode: str
    health: str
    scale: float
    shift: float = 0.0
    inliers: int = 0
    inlier_ratio: float = 0.0
    residual: float = float("nan")
    age_ns: int = 0
    reason: str = ""
    output_kind: str = ""  # what the model's prediction meant this frame (empty: not recorded)
    model_map: str = ""  # the network's map when much coarser than its input (EstimatorSource.coarse_map), upsampled
    lidar_points_in_image: int | None = None  # the paired scan's points inside the image (None: no scan this frame)
    lidar_points_used: int | None = None  # of those, kept for the fit (in range, not occluded)
    lidar_lag_ns: int | None = None  # image stamp - scan stamp (its sweep's middle; ns; negative: scan after image)
    lidar_extrinsic: str = ""  # LiDAR -> camera transform looks wrong: the likely mistake (core.scale.extrinsic_check)
    lidar_extrinsic_text: str = ""  # ... what the scans show, the mistake and the remedy (warned once by the adapters)

    def key_values(self, silence_ns: int = 0) -> list[tuple[str, str]]:
        """The /diagnostics key/values of the scale (node and bag runner alike); ``age_s`` = age of its source in
        seconds now: its age at the frame plus ``silence_ns`` (ns since that frame was published, read on the node
        clock; negative, the clock went back, counts 0), so that it grows while no frame comes."""
        age_ns = self.age_ns + max(int(silence_ns), 0)
        values = [
            ("scale", f"{float(self.scale):.6g}"),
            ("shift", f"{float(self.shift):.6g}"),
            ("scale_mode", _text(self.mode)),
            ("scale_health", _text(self.health)),
            ("inliers", str(int(self.inliers))),
            ("inlier_ratio", f"{float(self.inlier_ratio):.3f}"),
            ("residual", f"{float(self.residual):.4f}"),
            ("age_s", f"{age_ns * 1e-9:.3f}"),
        ]
        if self.output_kind:
            values.append(("output_kind", self.output_kind))
        if self.model_map:
            values.append(("model_map", self.model_map))
        if self.lidar_points_in_image is not None:  # a scan was paired with this frame
            values += [("lidar_points_in_image", str(self.lidar_points_in_image))]
            values += [("lidar_points_used", str(self.lidar_points_used))]
        if self.lidar_lag_ns is not None:
            values.append(("lidar_lag_s", f"{self.lidar_lag_ns * 1e-9:.3f}"))
        if self.lidar_extrinsic:
            values.append(("lidar_extrinsic", self.lidar_extrinsic))
        return [*values, ("scale_reason", self.reason)] if self.reason else values


def _text(value: object) -> str:
    """An enum's value, or the string itself (mode and health come as either)."""
    return str(getattr(value, "value", value))


@dataclass(frozen=True)
class FrameOutput:
    """Everything the adapters publish for one frame.

    Attributes:
        stamp_ns, frame_id: copied from the input image header.
        depth_m: (h, w) float32 metres at the published resolution; NaN invalid, +Inf beyond ``output.max_range``,
            -Inf closer than ``output.min_range`` (REP 117).
        depth_wire: ``depth_m`` encoded as ``encoding`` (float32 metres or uint16 millimetres, 0 invalid).
        encoding: ``32FC1`` or ``16UC1``.
        intrinsics: pinhole intrinsics of the published depth image (for its camera_info).
        cloud: the point cloud (see core.cloud) or None when ``cloud.enabled`` is false.
        clearing: ``cloud.clearing``: a ray per ``cloud.clearing_stride``-th pixel, ``cloud.clearing_range`` metres
            along it when beyond range (None off).
        scan: ``scan.enabled``: the LaserScan of a band of rows (None off); ``scan_frame_id`` its header frame.
        scale: scale recovery status.
        timings_ms: per-stage wall time in milliseconds (``preprocess``, ``model``, ``network`` = the network's own
            share of ``model`` when the source reports it, ``scale``, ``temporal`` when the filter is on,
            ``postprocess`` (on the device road, ``output.device_postprocess``: with the organized cloud and the copy
            to the host), ``cloud``, ``total``).
        temporal: the temporal filter's status (None when ``temporal.enabled`` is false).
    """

    stamp_ns: int
    frame_id: str
    depth_m: npt.NDArray[np.float32]
    depth_wire: npt.NDArray[Any]
    encoding: str
    intrinsics: PinholeIntrinsics
    cloud: PointCloud | None
    scale: ScaleStatus
    timings_ms: dict[str, float] = field(default_factory=dict)
    clearing: PointCloud | None = None
    scan: ScanData | None = None
    scan_frame_id: str = ""
    temporal: TemporalStatus | None = None


class DepthSource(Protocol):
    """A depth network (or anything else) that maps an RGB image to a prediction at the image resolution."""

    @property
    def output_kind(self) -> OutputKind:
        """What the returned values mean."""
        ...

    def predict(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """(H, W, 3) uint8 RGB → (H, W) float32 prediction of :attr:`output_kind`."""
        ...


@runtime_checkable
class ResizingDepthSource(Protocol):
    """A depth network that can return its prediction at any output size (the published one), not only the camera's.

    The pipeline then asks for the published resolution directly (see ``output.downscale``), so that nothing after
    the network works on more pixels than it publishes.
    """

    @property
    def output_kind(self) -> OutputKind:
        """What the returned values mean."""
        ...

    @property
    def last_network_ms(self) -> float:
        """The network's own time in the last :meth:`predict` (no pre- / post-processing), milliseconds."""
        ...

    def network_hw(self, image_hw: tuple[int, int]) -> tuple[int, int]:
        """(height, width) the network runs at for a camera image of ``image_hw`` (of a padded input: the image's
        part)."""
        ...

    def predict(self, rgb: npt.NDArray[np.uint8], out_hw: tuple[int, int] | None = None) -> npt.NDArray[np.float32]:
        """(H, W, 3) uint8 RGB → ``out_hw`` (default (H, W)) float32 prediction of :attr:`output_kind`."""
        ...


@runtime_checkable
class HintedDepthSource(Protocol):
    """A resizing depth source whose model may take the camera's focal length and the paired LiDAR depth
    (:class:`~mono_depth_ros.core.frame_hints.FrameHints`), and whose output kind may change per frame (a
    LiDAR-prompted model without a scan predicts depth up to scale)."""

    @property
    def frame_inputs(self) -> frozenset[str]:
        """Per-frame inputs the model takes (``focal_ratio``, ``prompt_depth``)."""
        ...

    @property
    def last_output_kind(self) -> OutputKind:
        """What the last prediction meant."""
        ...

    def predict(
        self, rgb: npt.NDArray[np.uint8], out_hw: tuple[int, int] | None = None, hints: FrameHints | None = None
    ) -> npt.NDArray[np.float32]:
        """Like :meth:`ResizingDepthSource.predict`, with this frame's hints."""
        ...


@runtime_checkable
class DeviceDepthSource(Protocol):
    """A hinted depth source that can also hand over its prediction where it made it (``output.device_postprocess``):
    the steps after the network then run there, and only the final bytes come to the host."""

    @property
    def device(self) -> torch.device:
        """Where the network runs."""
        ...

    def predict_on_device(
        self, rgb: npt.NDArray[np.uint8], out_hw: tuple[int, int] | None = None, hints: FrameHints | None = None
    ) -> tuple[torch.Tensor, npt.NDArray[np.float32]]:
        """Like :meth:`HintedDepthSource.predict`: ``(values on`` :attr:`device` ``, the same values on the host)``."""
        ...


MAX_DOWNSCALE = 16


def output_downscale(setting: int, image_hw: tuple[int, int], network_hw: tuple[int, int] | None) -> int:
    """The publishing factor N of ``output.downscale`` for one camera size.

    ``setting`` > 0 is used as given. 0 (auto) is the largest N for which the published image (camera size // N)
    is still at least the network's input size on both sides: a 96×320 network on a 375×1242 KITTI camera publishes
    125×414 (N = 3), on a 1080×1920 camera 180×320 (N = 6). Without a network (external predictions, which arrive at
    camera resolution) N is 1.
    """
    if setting > 0:
        return setting
    if network_hw is None:
        return 1
    factor = min(image_hw[0] // max(network_hw[0], 1), image_hw[1] // max(network_hw[1], 1))
    return max(1, min(MAX_DOWNSCALE, factor))


class DepthPipeline:
    """Runs frames through depth source → scale → range/edge handling → cloud, with per-stage timings.

    Args:
        config: the validated :class:`~mono_depth_ros.depth_config.DepthConfig` (a flat mapping of parameter values
            is validated into one; missing names take their defaults).
        source: the depth network; required unless ``model.backend`` is ``external``.
    """

    def __init__(self, config: DepthConfig | Mapping[str, Any], source: DepthSource | None = None) -> None:
        self._config = DepthConfig.of(config)
        backend = self._config.model.backend
        if backend != "external" and source is None:
            msg = (
                f"model.backend={backend!r} needs a depth model; build one with mono_depth_ros.models (or use external)"
            )
            raise ConfigError(msg)
        self._source = source
        # the source's roles, checked once: a runtime-checkable Protocol's isinstance inspects each of its members
        # (~12 us a check, four a frame)
        self._as_resizing = source if isinstance(source, ResizingDepthSource) else None
        self._as_hinted = source if isinstance(source, HintedDepthSource) else None
        self._as_device = source if isinstance(source, DeviceDepthSource) else None
        self._scale = _scale_recovery(self._config)
        self._temporal = self._make_temporal_filter()
        self._temporal_counts = {"filtered": 0, "no_motion": 0}
        self._last_stamp_ns: int | None = None  # the previous frame's (time went back: a new start)
        self._cloud_builder = CloudBuilder()  # reuses its buffers frame to frame (never one the caller still holds)

    @property
    def config(self) -> DepthConfig:
        """The configuration in force."""
        return self._config

    @property
    def params(self) -> dict[str, ParamValue]:
        """The parameters in force, flat (a copy)."""
        return dict(self._config.params)

    def update_params(self, changes: Mapping[str, Any]) -> None:
        """Apply run-time parameter changes (validated as a whole; nothing changes if one is bad)."""
        self.set_config(self._config.with_changes(changes))

    def set_config(self, config: DepthConfig) -> None:
        """Use an already validated config from now on (the node builds it in its parameter callback).

        Scale recovery keeps its temporal state unless a ``scale.*`` / ``lidar.*`` setting changed (not
        ``lidar.wait_s``: the node's pairing wait, which the recovery does not read); the temporal filter keeps its
        history (new ``temporal.agreement`` / ``temporal.max_weight`` apply from the next frame).
        """
        lidar, before = replace(config.lidar, wait_s=0.0), replace(self._config.lidar, wait_s=0.0)
        scale_changed = (config.scale, lidar) != (self._config.scale, before)
        temporal_changed = config.temporal != self._config.temporal
        scale = _scale_recovery(config) if scale_changed else self._scale
        self._config, self._scale = config, scale  # (a config the scale stage refuses changes nothing)
        if temporal_changed:
            if self._temporal is None or not config.temporal.enabled:
                self._temporal = self._make_temporal_filter()
            else:
                self._temporal.config = self._temporal_filter_config()

    def time_went_back(self) -> None:
        """Forget the state kept from frame to frame (scale recovery, the temporal filter's history): the next frame
        starts again, as the first did. The node calls it when the ROS clock went back (a looped bag); a frame
        stamped more than ``TIME_JUMP_BACK_NS`` (1 s) before the previous one does it too (a loop without
        ``/clock``: the temporal filter kept the last pass's history, the next pass's depth 8 % off)."""
        self._scale.reset()
        if self._temporal is not None:
            self._temporal.reset()

    def training_camera_warning(self, camera: PinholeIntrinsics) -> str | None:
        """The warning for a metric model whose metres rest on its own scale on a camera unlike its training
        camera (:func:`~mono_depth_ros.core.training_camera.training_camera_mismatch`), else None; ``camera`` is
        the intrinsics of the image the model sees."""
        if self._source is None or self._config.model.backend == "external":
            return None
        scale = self._config.scale
        # scale.mode lidar without a lidar_topic has no scan to measure with: the model's own metres are published
        mode = "none" if scale.mode == "lidar" and not self._config.topics.lidar else scale.mode
        training_focal: tuple[float, ...] = getattr(self._source, "training_focal", ())
        return training_camera_mismatch(training_focal, self._output_kind(), mode, scale.fixed_scale, camera)

    def _temporal_filter_config(self) -> TemporalFilterConfig:
        from mono_depth_ros.core.temporal_filter import TemporalFilterConfig

        return TemporalFilterConfig(self._config.temporal.agreement, self._config.temporal.max_weight)

    def _make_temporal_filter(self) -> TemporalFilter | None:
        """The filter on the network's device (the CPU for external predictions), or None when off.

        With external predictions no engine set torch's CPU threads (``model.threads``), and the filter is this
        process's torch work: they are set here by the engine's policy (:func:`inference_threads`), as a pool as wide
        as the machine spins on cores other processes hold (the real node, external ``relative_inverse`` on a loaded
        2-core machine, 640×192, 4 runs each: latency p95 339-934 ms in 3 of 4, p50 28-276 ms; 27-39 / 24-31 ms with
        the threads set)."""
        if not self._config.temporal.enabled:
            return None
        import torch

        from mono_depth_ros.core.temporal_filter import TemporalFilter  # torch only when the filter is on
        from mono_depth_ros.models.depth_source import inference_threads

        if self._source is None:
            torch.set_num_threads(inference_threads(self._config.model.threads))
        return TemporalFilter(self._temporal_filter_config(), getattr(self._source, "device", "cpu"))

    def _check_network_output(self, prediction: npt.NDArray[np.float32], kind: OutputKind, sizes_hw: Any) -> None:
        """Raise :class:`ModelOutputError` for a network map of another size than ``sizes_hw`` ((H, W) options) or
        one NaN / Inf (or <= 0 for a depth kind) beyond ``model.max_invalid_share``."""
        cause = getattr(self._source, "invalid_output_cause", None)  # a map of NaN: a graph's focal out of range
        check_network_output(prediction, kind, self._config.model.max_invalid_share, tuple(sizes_hw), cause)

    def _kind_override(self) -> str:
        """``model.output_kind`` as far as the pipeline is concerned: ``metric_focal`` is the model runner's business
        (it delivers metres), so it overrides nothing here."""
        override = self._config.model.output_kind
        return "" if override == OutputKind.METRIC_FOCAL.value else override

    def _output_kind(self) -> OutputKind:
        override = self._config.model.output_kind
        if self._source is not None and self._config.model.backend != "external":
            return OutputKind.parse(self._kind_override()) if self._kind_override() else self._source.output_kind
        if override == OutputKind.METRIC_FOCAL.value:
            msg = "model.output_kind=metric_focal is for a model the node runs; send an external prediction in metres"
            raise ConfigError(msg)
        return OutputKind.parse(override) if override else OutputKind.METRIC

    def _hints(self, frame: FrameInput, intrinsics: PinholeIntrinsics, out_intrinsics: PinholeIntrinsics) -> FrameHints:
        """The camera's focal length (of the image the model sees) and, for a LiDAR-prompted model, the paired scan
        projected at the published resolution the way scale recovery projects it (None without a recent scan)."""
        source = self._as_hinted
        assert source is not None
        sparse = None
        lidar = frame.lidar
        recent = lidar is not None and abs(frame.stamp_ns - lidar.sweep_ns) <= self._scale.config.max_lidar_age_ns
        if PROMPT_DEPTH in source.frame_inputs and lidar is not None and recent:
            sparse = self._scale.project(lidar, out_intrinsics, frame.stamp_ns).to_image(out_intrinsics)
        return FrameHints(focal_px=(intrinsics.fx, intrinsics.fy), sparse_depth_m=sparse)

    def process_frame(self, frame: FrameInput) -> FrameOutput:
        """Process one frame. Raises a :class:`~mono_depth_ros.core.errors.DepthError` on bad input, a
        :class:`~mono_depth_ros.core.errors.ModelOutputError` when the network's output is unusable or the network
        or the steps after it on its device ran out of memory (the next frame may fit)."""
        try:
            return self._process_frame(frame)
        except (RuntimeError, MemoryError) as err:
            device = str(getattr(self._source, "device", self._config.model.device))
            if (fault := out_of_memory(err, device, frame.rgb.shape[:2])) is not None:
                raise fault from err
            raise

    def _process_frame(self, frame: FrameInput) -> FrameOutput:
        if self._last_stamp_ns is not None and frame.stamp_ns < self._last_stamp_ns - TIME_JUMP_BACK_NS:
            self.time_went_back()
        self._last_stamp_ns = frame.stamp_ns
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if frame.rgb.ndim != 3 or frame.rgb.shape[2] != 3 or frame.rgb.dtype != np.uint8:
            msg = f"image must be (H, W, 3) uint8 RGB, got {frame.rgb.dtype} {frame.rgb.shape}"
            raise ShapeError(msg)
        camera = frame.camera.for_image(int(frame.rgb.shape[1]), int(frame.rgb.shape[0]))  # image_proc's resize
        intrinsics = camera.intrinsics(frame.image_is_rectified)
        rgb = frame.rgb
        if not frame.image_is_rectified:
            rgb = camera.undistort(rgb)
        intrinsics.check_image_size(rgb.shape[1], rgb.shape[0])
        timings["preprocess"] = _ms(t0)

        t = time.perf_counter()
        kind = self._output_kind()
        device_values = None
        image_hw = (int(rgb.shape[0]), int(rgb.shape[1]))
        resizing = self._as_resizing
        if self._config.model.backend == "external":
            resizing = None
        network_hw = resizing.network_hw(image_hw) if resizing else None
        factor = output_downscale(self._config.output.downscale, image_hw, network_hw)
        source_shape = _source_shape(resizing, image_hw, network_hw)  # what the filters read the map at
        out_intrinsics = intrinsics
        if factor > 1:
            out_intrinsics = intrinsics.resized(max(1, intrinsics.width // factor), max(1, intrinsics.height // factor))
        out_hw = (out_intrinsics.height, out_intrinsics.width)
        if self._config.model.backend == "external":
            if frame.prediction is None:
                msg = "model.backend=external but no prediction arrived with this image (prediction_topic)"
                raise ShapeError(msg)
            prediction = np.asarray(frame.prediction, dtype=np.float32)
            if prediction.shape != rgb.shape[:2]:
                got = f"{prediction.shape[1]}x{prediction.shape[0]}"
                msg = f"external prediction is {got} but the image is {rgb.shape[1]}x{rgb.shape[0]}; resize it"
                raise ShapeError(msg)
            check_external_prediction(prediction, kind)  # sparse passes, none at all is its publisher's fault
            prediction = producer_marks(prediction, kind)  # an inverse kind's +/-Inf (1/0): no depth, not far
            if not frame.image_is_rectified:
                prediction = _undistort_prediction(prediction, camera)
        elif resizing is not None:  # straight at the published size: the network's pixels, no camera-size detour
            if (hinted := self._as_hinted) is not None:  # a model that may take the focal length / LiDAR prompt
                hints = self._hints(frame, intrinsics, out_intrinsics)
                if (on_device := self._device_source()) is not None:  # keeps its map there for the device road
                    device_values, prediction = on_device.predict_on_device(rgb, out_hw, hints)
                else:
                    prediction = hinted.predict(rgb, out_hw, hints)
                stated = OutputKind.parse(self._kind_override()) if self._kind_override() else None
                # stating the model's own kind keeps its per-frame one (Prompt Depth Anything without a scan)
                kind = hinted.last_output_kind if stated in (None, resizing.output_kind) else stated
            else:
                prediction = resizing.predict(rgb, out_hw)
            timings["network"] = resizing.last_network_ms
            self._check_network_output(prediction, kind, (out_hw, image_hw))
        else:
            assert self._source is not None  # checked in __init__
            prediction = self._source.predict(rgb)
            self._check_network_output(prediction, kind, (image_hw,))  # an external prediction may be sparse
        if not frame.image_is_rectified:  # no depth, no LiDAR pair where the undistorted image shows the black fill
            prediction, device_values = _drop_unseen(prediction, device_values, camera)
        at_output_size = prediction.shape == out_hw
        timings["model"] = _ms(t)

        t = time.perf_counter()
        scale_intrinsics = out_intrinsics if at_output_size else intrinsics
        result = self._scale.update(
            prediction,
            kind,
            frame.stamp_ns,
            scale_intrinsics,
            frame.lidar,
            frame.ground_pose,
            frame.ground_pose_missing,
        )
        depth_m = np.asarray(result.depth_m, dtype=np.float32)
        scale = ScaleStatus(
            mode=str(getattr(result.mode, "value", result.mode)),
            health=str(getattr(result.health, "value", result.health)),
            scale=float(result.scale),
            shift=float(result.shift),
            inliers=int(result.inliers),
            inlier_ratio=float(result.inlier_ratio),
            residual=float(result.residual),
            age_ns=int(result.age_ns),
            reason=str(result.reason),
            output_kind=kind.value,
            model_map=str(getattr(resizing, "coarse_map", "")),
            lidar_points_in_image=None if result.projection is None else int(result.projection.n_in_image),
            lidar_points_used=None if result.projection is None else int(result.projection.n_kept),
            lidar_lag_ns=None if result.lidar_lag_ns is None else int(result.lidar_lag_ns),
            lidar_extrinsic=result.extrinsic.mistake if result.extrinsic is not None else "",
            lidar_extrinsic_text=result.extrinsic.text if result.extrinsic is not None else "",
        )
        timings["scale"] = _ms(t)

        if device_values is not None and at_output_size:  # output.device_postprocess: the same steps on the device
            return self._on_device(frame, device_values, kind, scale, out_intrinsics, source_shape, rgb, timings, t0)
        t = time.perf_counter()
        if factor > 1 and not at_output_size:  # every factor-th camera pixel; camera_info and cloud say which
            depth_m = _downscale_depth(depth_m, factor, out_intrinsics.width, out_intrinsics.height)
            out_intrinsics = _subsampled_intrinsics(intrinsics, factor, out_intrinsics.width, out_intrinsics.height)
            rgb = rgb[: out_intrinsics.height * factor, : out_intrinsics.width * factor]  # cloud colours: whole blocks
        temporal = None
        if self._temporal is not None:  # metric depth at the published size, before range limits and filters
            t_filter = time.perf_counter()
            depth_m, temporal = self._filter_in_time(depth_m, out_intrinsics, frame.world_from_cam, kind)
            timings["temporal"] = _ms(t_filter)
        output_config = self._config.output
        if output_config.outlier_filter or output_config.edge_filter:
            depth_m = depth_m.copy()  # the scale stage's map may be its own state
        # both filters at the network's resolution where the network's map was upsampled to ours
        source_hw = source_shape if resizing is not None and at_output_size else None
        if output_config.outlier_filter:  # speckles (the edge filter takes only pixels between two surfaces)
            depth_m[speckle_mask(depth_m, OutlierFilter(output_config.outlier_tolerance), source_hw)] = np.nan
        if output_config.edge_filter:
            depth_m[flying_pixel_mask(depth_m, output_config.edge_threshold, source_hw)] = np.nan
        min_range = self._config.output.min_range
        max_range = self._config.output.max_range
        depth_m = apply_range_limits(depth_m, min_range, max_range)
        encoding = self._config.output.encoding
        depth_wire = encode_depth(depth_m, encoding)
        timings["postprocess"] = _ms(t)

        t = time.perf_counter()
        cloud = None
        if self._config.cloud.enabled:
            cloud = self._build_cloud(depth_m, depth_wire, out_intrinsics, self._cloud_rgb(rgb, out_intrinsics))
        return self._frame_output(frame, depth_m, depth_wire, out_intrinsics, cloud, scale, timings, temporal, t, t0)

    def _frame_output(
        self,
        frame: FrameInput,
        depth_m: npt.NDArray[np.float32],
        depth_wire: npt.NDArray[Any],
        intrinsics: PinholeIntrinsics,
        cloud: PointCloud | None,
        scale: ScaleStatus,
        timings: dict[str, float],
        temporal: TemporalStatus | None,
        t_cloud: float,
        t0: float,
    ) -> FrameOutput:
        """The host's last steps (clearing cloud, scan: from the final depth) and the frame's output."""
        clearing = None
        if self._config.cloud.clearing:
            spec = self._config.cloud
            clearing = clearing_cloud(depth_m, intrinsics, spec.clearing_range, spec.clearing_stride)
        scan = None
        if self._config.scan.enabled:
            output = self._config.output
            scan = scan_from_depth(depth_m, intrinsics, self._config.scan.band_rows, output.min_range, output.max_range)
        timings["cloud"] = _ms(t_cloud)
        timings["total"] = _ms(t0)
        return FrameOutput(
            stamp_ns=frame.stamp_ns,
            frame_id=frame.frame_id,
            depth_m=depth_m,
            depth_wire=depth_wire,
            encoding=self._config.output.encoding,
            intrinsics=intrinsics,
            cloud=cloud,
            scale=scale,
            timings_ms=timings,
            clearing=clearing,
            scan=scan,
            scan_frame_id=scan_frame_id(frame.frame_id, self._config.scan.frame_id),
            temporal=temporal,
        )

    def _cloud_rgb(self, rgb: npt.NDArray[np.uint8], intrinsics: PinholeIntrinsics) -> npt.NDArray[np.uint8] | None:
        """The image registered to the published depth for an XYZRGB cloud (``cloud.rgb``), else None."""
        if not self._config.cloud.rgb:
            return None
        same_size = rgb.shape[:2] == (intrinsics.height, intrinsics.width)
        return rgb if same_size else _downscale_rgb(rgb, intrinsics.width, intrinsics.height)

    def _device_source(self) -> DeviceDepthSource | None:
        """The source when this frame's steps after the network run on its device (``output.device_postprocess``).

        ``auto``: when the network runs on CUDA; ``on``: on any device. The temporal and speckle filters run on
        the road's map.
        """
        setting = self._config.output.device_postprocess
        source = self._as_device
        if setting == "off" or self._config.model.backend == "external" or source is None:
            return None
        if setting == "auto" and _device_type(source.device) != "cuda":
            return None
        return source

    def _on_device(
        self,
        frame: FrameInput,
        prediction: torch.Tensor,
        kind: OutputKind,
        scale: ScaleStatus,
        intrinsics: PinholeIntrinsics,
        network_hw: SourceShape | None,
        rgb: npt.NDArray[np.uint8],
        timings: dict[str, float],
        t0: float,
    ) -> FrameOutput:
        """The host road's steps on the prediction's device: the fit applied (as scale recovery applied it to the
        host copy), the temporal filter, speckles, flying pixels, range limits, encoding and organized cloud; one
        copy of the final bytes back."""
        from mono_depth_ros.core.postprocess_torch import DevicePostprocess, apply_fit_torch, postprocess_on_device

        t = time.perf_counter()
        output, cloud = self._config.output, self._config.cloud
        settings = DevicePostprocess(
            min_range_m=output.min_range,
            max_range_m=output.max_range,
            encoding=output.encoding,
            edge_threshold=output.edge_threshold if output.edge_filter else None,
            source_hw=network_hw,  # the map came from the network upsampled to the published size: both tests there
            cloud=cloud.enabled and cloud.mode == "organized",
            outlier=OutlierFilter(output.outlier_tolerance) if output.outlier_filter else None,
        )
        depth = apply_fit_torch(prediction, kind, scale.scale, scale.shift)
        temporal = None
        if self._temporal is not None:
            t_filter = time.perf_counter()
            depth, temporal = self._filter_in_time(depth, intrinsics, frame.world_from_cam, kind)
            timings["temporal"] = _ms(t_filter)
        rgb_for_cloud = self._cloud_rgb(rgb, intrinsics) if settings.cloud else None
        host = postprocess_on_device(depth, intrinsics, settings, rgb_for_cloud)
        timings["postprocess"] = _ms(t)
        t = time.perf_counter()
        points = host.cloud
        if cloud.enabled and points is None:  # strided / voxel: on the host from the published image
            points = self._build_cloud(host.depth_m, host.depth_wire, intrinsics, self._cloud_rgb(rgb, intrinsics))
        return self._frame_output(
            frame, host.depth_m, host.depth_wire, intrinsics, points, scale, timings, temporal, t, t0
        )

    @overload
    def _filter_in_time(
        self,
        depth_m: npt.NDArray[np.float32],
        intrinsics: PinholeIntrinsics,
        world_from_cam: RigidTransform | None,
        kind: OutputKind,
    ) -> tuple[npt.NDArray[np.float32], TemporalStatus]: ...

    @overload
    def _filter_in_time(
        self,
        depth_m: torch.Tensor,
        intrinsics: PinholeIntrinsics,
        world_from_cam: RigidTransform | None,
        kind: OutputKind,
    ) -> tuple[torch.Tensor, TemporalStatus]: ...

    def _filter_in_time(
        self,
        depth_m: npt.NDArray[np.float32] | torch.Tensor,
        intrinsics: PinholeIntrinsics,
        world_from_cam: RigidTransform | None,
        kind: OutputKind,
    ) -> tuple[npt.NDArray[np.float32] | torch.Tensor, TemporalStatus]:
        """The temporal filter on a host map (host road) or a device tensor (device road) and its status; an
        ``affine_depth`` / ``relative_inverse`` map (scale and shift in depth / inverse depth refitted every frame)
        changes by a scale and a shift (:meth:`FrameChange.of`)."""
        from mono_depth_ros.core.temporal_filter import FrameChange  # loaded with the filter

        assert self._temporal is not None
        filtered: npt.NDArray[np.float32] | torch.Tensor
        change = FrameChange.of(kind)
        if isinstance(depth_m, np.ndarray):
            step = self._temporal.update(depth_m, intrinsics, world_from_cam, change)
            filtered, state, share = step.depth_m, step.state, step.kept_share
        else:
            filtered, state, share = self._temporal.update_tensor(depth_m, intrinsics, world_from_cam, change)
        if state.value in self._temporal_counts:
            self._temporal_counts[state.value] += 1
        counts = self._temporal_counts
        return filtered, TemporalStatus(state.value, share, counts["filtered"], counts["no_motion"])

    def _build_cloud(
        self,
        depth_m: npt.NDArray[np.float32],
        depth_wire: npt.NDArray[Any],
        intrinsics: PinholeIntrinsics,
        rgb: npt.NDArray[np.uint8] | None,
    ) -> PointCloud:
        # The depth image already carries ±Inf outside the range; the cloud drops every non-finite depth,
        # exactly as depth_image_proc does with our published image.
        encoding = self._config.output.encoding
        # the cloud says what the published image says (16UC1: whole mm, 0 = invalid, nothing past 65.535 m)
        depth_m = decode_depth(depth_wire, encoding) if encoding == "16UC1" else depth_m
        mode = self._config.cloud.mode
        if mode == "organized":
            return self._cloud_builder.organized(depth_m, intrinsics, rgb)
        if mode == "strided":
            return strided_cloud(depth_m, intrinsics, rgb=rgb, stride=self._config.cloud.stride)
        return voxel_cloud(depth_m, intrinsics, rgb=rgb, voxel_size_m=self._config.cloud.voxel_size)


def _device_type(device: object) -> str:
    """``cuda`` for ``torch.device("cuda:1")`` and for the string ``"cuda:1"`` alike."""
    return str(getattr(device, "type", str(device))).split(":", 1)[0]


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _source_shape(
    source: ResizingDepthSource | None, image_hw: tuple[int, int], network_hw: tuple[int, int] | None
) -> SourceShape | None:
    """What the published map is upsampled from, for the speckle and flying-pixel tests: the source's
    ``source_shape`` where it has one (a ZoeDepth model's window of its padded map), else ``network_hw``."""
    shape = getattr(source, "source_shape", None)
    return network_hw if shape is None else shape(image_hw)


def _downscale_depth(depth_m: npt.NDArray[np.float32], factor: int, width: int, height: int) -> npt.NDArray[np.float32]:
    """Nearest-neighbour (pixel-centre) subsampling: never invents depths between two surfaces."""
    rows = np.clip(np.rint((np.arange(height) + 0.5) * factor - 0.5), 0, depth_m.shape[0] - 1).astype(np.intp)
    cols = np.clip(np.rint((np.arange(width) + 0.5) * factor - 0.5), 0, depth_m.shape[1] - 1).astype(np.intp)
    return np.ascontiguousarray(depth_m[np.ix_(rows, cols)])


def _subsampled_intrinsics(intrinsics: PinholeIntrinsics, factor: int, width: int, height: int) -> PinholeIntrinsics:
    """Intrinsics of the grid :func:`_downscale_depth` keeps: camera pixel ``first + factor * i`` is pixel ``i``.

    Not :meth:`PinholeIntrinsics.resized`: a subsampled pixel is a camera pixel, not the centre of a block (half a
    camera pixel apart for even factors), and a size the factor does not divide loses its last columns / rows
    instead of stretching (up to ``factor - 1`` camera pixels at the far edge).
    """
    first = float(np.rint(0.5 * factor - 0.5))  # _downscale_depth's first row / column
    return PinholeIntrinsics(
        intrinsics.fx / factor,
        intrinsics.fy / factor,
        (intrinsics.cx - first) / factor,
        (intrinsics.cy - first) / factor,
        width=width,
        height=height,
    )


def _undistort_prediction(prediction: npt.NDArray[np.float32], camera: CameraModel) -> npt.NDArray[np.float32]:
    """An external prediction of a raw image (the model saw the distorted pixels) in P's pinhole image, as the rgb.

    Nearest neighbour: no values invented between two surfaces; NaN where no raw pixel is seen.
    """
    import cv2

    return np.asarray(camera.undistort(prediction, cv2.INTER_NEAREST, border_value=np.nan), dtype=np.float32)


def _scale_recovery(config: DepthConfig) -> ScaleRecovery:
    """The scale stage of ``config`` (raises ConfigError for settings it refuses)."""
    return ScaleRecovery(RecoveryConfig.from_params(config.params))


def _drop_unseen(
    prediction: npt.NDArray[np.float32], on_device: torch.Tensor | None, camera: CameraModel
) -> tuple[npt.NDArray[np.float32], torch.Tensor | None]:
    """NaN where the undistorted raw image saw no raw pixel (:meth:`CameraModel.seen_mask`): the model's depth of
    the black fill is no depth of the scene (REP 117 invalid). The host map and its device copy alike."""
    seen = camera.seen_mask((int(prediction.shape[0]), int(prediction.shape[1])))
    if seen is None:
        return prediction, on_device
    prediction = np.where(seen, prediction, np.float32(np.nan)).astype(np.float32, copy=False)
    if on_device is not None:
        import torch

        seen_there = camera.seen_mask((int(on_device.shape[-2]), int(on_device.shape[-1])))
        if seen_there is not None:
            on_device = on_device.masked_fill(torch.from_numpy(~seen_there).to(on_device.device), float("nan"))
    return prediction, on_device


def _downscale_rgb(rgb: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    import cv2

    return np.asarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8)
