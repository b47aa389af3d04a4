"""The one parameter table shared by the ROS 2 node, the bag runner and the CLI.

Every parameter has a dotted name, a typed default, a description, an optional range or set of choices and a
flag saying whether it may change at run time. The node declares exactly these (with descriptors), the bag runner
reads the same ``config/depth.yaml`` (ROS params format: ``<node or /**>: ros__parameters: {...}``) and applies
``--param name=value`` overrides. Values are validated once, here, into a frozen :class:`DepthConfig`.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.names import did_you_mean, section_matches, topic_name_problem
from mono_depth_ros.core.scale.result import REQUESTABLE_MODES

NODE_NAME = "mono_depth_node"
SHARED_CONFIG = Path(sys.prefix) / "share" / "mono_depth_ros" / "config"
"""Where pip installs config/*.yaml (setup.py's data_files) into ``sys.prefix``; colcon: ``$(ros2 pkg prefix
mono_depth_ros)/share/...``, found from the module's own place (:func:`missing_config_hint`)."""
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")  # what models.backend.resolve_device opens (any case)
ParamValue = bool | int | float | str


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, default (its type is the parameter's type), description, constraints."""

    name: str
    default: ParamValue
    description: str
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    dynamic: bool = False

    @property
    def type(self) -> type:
        """Python type of the parameter (bool, int, float or str)."""
        return type(self.default)


# fmt: off
PARAMS: tuple[ParamSpec, ...] = (
    # Topics and inputs
    ParamSpec("image_topic", "/camera/image_raw", "input image (sensor_msgs/Image, or CompressedImage with image_transport=compressed)"),
    ParamSpec("camera_info_topic", "/camera/camera_info", "input sensor_msgs/CameraInfo"),
    ParamSpec("lidar_topic", "", "input sensor_msgs/PointCloud2 or LaserScan (2D LiDAR; lidar.message_type) for metric scale; empty = no LiDAR"),
    ParamSpec("prediction_topic", "/depth_model/prediction", "external prediction: 32FC1 metres, or 16UC1 / mono16 millimetres (model.backend=external)"),
    ParamSpec("image_transport", "raw", "raw Image or compressed (jpeg/png/tiff) CompressedImage", choices=("raw", "compressed")),
    ParamSpec("image_is_rectified", True, "true: image_rect (geometry from P); false: raw image (and an external prediction, nearest) undistorted with K+D"),
    ParamSpec("image_significant_bits", 16, "bits a 16-bit image's pixels use (mono16, rgb16, bayer_*16): 16-bit values scale to 8 bit by 255 / (2^bits - 1); 12 for a 12-bit sensor whose driver right-aligns its values (0..4095); 16 (cv_bridge's 255 / 65535) for 16-bit and left-aligned sensors", min_value=8, max_value=16, dynamic=True),
    ParamSpec("sync.mode", "approximate", "pair image and camera_info by ApproximateTime, or use the latest camera_info", choices=("approximate", "latest")),
    ParamSpec("sync.slop_s", 0.05, "ApproximateTime slop in seconds", min_value=0.0, max_value=5.0),
    ParamSpec("sync.queue_size", 10, "ApproximateTime queue size per input", min_value=1, max_value=1000),
    ParamSpec("input_qos", "sensor_data", "QoS of the input subscriptions", choices=("sensor_data", "reliable")),
    ParamSpec("output_qos", "reliable", "QoS of the outputs (rviz2 and depth_image_proc subscribe reliable)", choices=("reliable", "sensor_data")),
    ParamSpec("lidar.max_age_s", 0.2, "LiDAR scans older than this (vs the image stamp; a scan with per-point or per-beam times: its sweep's middle) are not used", min_value=0.0, max_value=10.0),
    ParamSpec("lidar.wait_s", 0.2, "longest an image waits for its LiDAR scan (scans arrive after their image); 0 = never wait", min_value=0.0, max_value=5.0, dynamic=True),
    ParamSpec("lidar.message_type", "auto", "type of lidar_topic: auto = the type its publishers have (PointCloud2 until a publisher shows the type, then re-subscribed), PointCloud2, or LaserScan (a 2D LiDAR: beams projected as laser_geometry does)", choices=("auto", "PointCloud2", "LaserScan")),
    ParamSpec("lidar.motion_frame", "", "fixed frame (e.g. odom) in which the world is static: scans are moved from their stamp to the image stamp through TF; empty = no motion compensation"),
    # Model
    ParamSpec("device", "auto", "inference device: auto | cpu | cuda | cuda:N"),
    ParamSpec("model.backend", "unet", "depth source", choices=("unet", "transformers", "depth_anything_v2", "onnx", "torchscript", "external")),
    ParamSpec("model.weights", "", "checkpoint file or model directory; empty = the shipped default model (model.backend unet; the other backends need one)"),
    ParamSpec("model.output_kind", "", "metric | depth_up_to_scale | relative_inverse | affine_depth (depth up to scale and shift: Marigold) | metric_focal (metres = output x focal px / 300, Depth Anything 3); empty = read from the checkpoint / model directory", choices=("", "metric", "depth_up_to_scale", "relative_inverse", "affine_depth", "metric_focal")),
    ParamSpec("model.precision", "auto", "inference precision; auto = fp16 + CUDA graphs on a CUDA device with a torch backend when the golden self-test passes at fp16, else fp32 (reason logged); fp32 on the CPU and for exported ONNX models; bf16 needs a GPU with native bf16 (Ampere or newer)", choices=("auto", "fp32", "fp16", "bf16")),
    ParamSpec("model.compile", False, "torch.compile the model at start-up"),
    ParamSpec("model.cuda_graphs", False, "capture a CUDA graph for the fixed input shape (cuda only; model.precision=auto tries them by itself)"),
    ParamSpec("model.threads", 0, "CPU threads for inference (with model.backend external: for the temporal filter); 0 = auto: half the cores, at most 4 (one on a 2-core computer), which holds up when other nodes load the CPU", min_value=0, max_value=256),
    ParamSpec("model.channels_last", False, "channels-last memory format for weights and input (torch backends; faster convolutions on GPUs)"),
    ParamSpec("model.warmup_height", 0, "camera image height to warm up at (compile / CUDA graph at start-up, not on the first frame); 0 = model input size", min_value=0, max_value=16384),
    ParamSpec("model.warmup_width", 0, "camera image width to warm up at; 0 = model input size", min_value=0, max_value=16384),
    ParamSpec("model.max_invalid_share", 0.5, "a frame whose network output is NaN / Inf (or <= 0 for a depth kind) over more than this share of pixels is an error (skipped, counted, /diagnostics ERROR); an external prediction, which may be sparse, only when no pixel holds depth (a depth kind's only with values below 0: NaN / 0 / Inf alone are a sensor's frame with no return, published)", min_value=0.0, max_value=1.0),
    ParamSpec("model.onnx_providers", "", "ONNX Runtime execution providers in order of preference, comma-separated: tensorrt, cuda, cpu; empty = cuda on a GPU device, then cpu; one that is missing or fails to start is left out with a logged reason"),
    ParamSpec("model.trt_fp16", False, "TensorRT provider: build fp16 engines"),
    ParamSpec("model.trt_cache_dir", "", "TensorRT provider: engine cache directory (only the first start builds the engines); empty = no cache"),
    ParamSpec("model.golden_check", "warn", "start-up self-test against the checkpoint's reference output", choices=("off", "warn", "refuse")),
    # Scale recovery
    ParamSpec("scale.mode", "lidar", "metric scale source (falls back lidar -> last good -> ground_plane -> fixed)", choices=REQUESTABLE_MODES, dynamic=True),
    ParamSpec("scale.fixed_scale", 1.0, "scale for scale.mode=fixed and the last fallback", min_value=1e-6, max_value=1e6, dynamic=True),
    ParamSpec("scale.camera_height_m", 1.5, "camera height above the ground plane (ground_plane fallback)", min_value=0.0, max_value=100.0, dynamic=True),
    ParamSpec("scale.camera_pitch_rad", 0.0, "camera pitch, positive looking down (ground_plane fallback)", min_value=-1.6, max_value=1.6, dynamic=True),
    ParamSpec("scale.ground_frame", "", "frame on the ground, z up (e.g. base_footprint): the ground-plane prior's camera height, pitch and roll from TF ground_frame <- camera optical frame at the image stamp, instead of scale.camera_height_m / scale.camera_pitch_rad; empty = those parameters"),
    ParamSpec("scale.min_points", 30, "fewest LiDAR points for a fit", min_value=3, max_value=8192, dynamic=True),  # at most FitConfig.max_points (8192); the scale-only fit samples at most max(4096, this) pairs, at least this
    # Outputs
    ParamSpec("output.encoding", "32FC1", "depth image encoding: 32FC1 metres or 16UC1 millimetres", choices=("32FC1", "16UC1")),
    ParamSpec("output.min_range", 0.1, "closer depths are -Inf (REP 117) and dropped from the cloud", min_value=0.0, max_value=1000.0, dynamic=True),
    ParamSpec("output.max_range", 80.0, "farther depths are +Inf (REP 117) and dropped from the cloud", min_value=0.0, max_value=10000.0, dynamic=True),
    ParamSpec("output.downscale", 0, "publish depth, camera_info and cloud at 1/N resolution; 0 = auto: the largest N that keeps them at least as large as the network's input (1 for external predictions)", min_value=0, max_value=16),
    ParamSpec("output.outlier_filter", False, "remove speckles (blobs up to 2 px of the network's map whose depth continues no neighbouring surface) before the edge filter: phantom obstacles in a costmap", dynamic=True),
    ParamSpec("output.outlier_tolerance", 0.05, "a pixel is a speckle when its depth misses the surface of its neighbours in every direction by more than this fraction", min_value=0.001, max_value=0.9, dynamic=True),
    ParamSpec("output.edge_filter", True, "flying pixels (a depth between two surfaces: a network's blend at an object's edge) are NaN in /depth/image and absent from /depth/points; slanted surfaces (far road, walls) stay", dynamic=True),
    ParamSpec("output.edge_threshold", 0.1, "smallest relative depth step between a pixel's left and right (or upper and lower) neighbours that makes it flying when its depth lies between theirs and continues neither side's surface (0 would mark nearly every pixel of a smooth map: output.edge_filter false turns the filter off)", min_value=0.01, max_value=10.0, dynamic=True),
    ParamSpec("output.device_postprocess", "auto", "where the steps after the network run (scale applied, temporal filter, speckle and flying-pixel masks, range limits, encoding, organized cloud): auto = on the network's device when it is CUDA, with one pinned copy of the final bytes to the host, else on the host; on = on the network's device, the CPU too (about 2 x slower there than the host's numpy: bench/bench_device_post.py); off = on the host. Strided / voxel clouds, clearing and scan are built on the host from the returned depth", choices=("auto", "on", "off"), dynamic=True),
    ParamSpec("temporal.enabled", False, "temporal filter: the previous metric depth, moved with the camera motion (TF), blended per pixel with the new one where they agree (static surfaces settle, moving objects and disocclusions restart at once); off = each frame on its own"),
    ParamSpec("temporal.fixed_frame", "odom", "frame in which the world is static; the camera motion between two images is TF fixed_frame <- camera optical frame at the two image stamps"),
    ParamSpec("temporal.agreement", 0.08, "relative depth difference (mean over a 5 px window) up to which the moved previous depth and the new one are one static surface; larger = reset to the new depth", min_value=0.001, max_value=0.9, dynamic=True),
    ParamSpec("temporal.max_weight", 8.0, "most frames a pixel's average holds (the new frame keeps at least 1/max_weight); 1 = no filtering", min_value=1.0, max_value=1000.0, dynamic=True),
    ParamSpec("temporal.max_extrapolation_s", 0.5, "when TF lags behind the image, the camera pose is extrapolated at constant velocity from the last two looked-up poses up to this far; beyond it the frame passes through unfiltered (the ground-plane prior's pose from scale.ground_frame as far, at most 0.2 s, then TF's last one held)", min_value=0.0, max_value=10.0),
    ParamSpec("cloud.enabled", True, "publish /depth/points", dynamic=True),
    ParamSpec("cloud.mode", "organized", "organized (H x W, NaN invalid), strided or voxel (unorganized)", choices=("organized", "strided", "voxel"), dynamic=True),
    ParamSpec("cloud.stride", 4, "pixel stride for cloud.mode=strided", min_value=1, max_value=64, dynamic=True),
    ParamSpec("cloud.voxel_size", 0.1, "voxel edge in metres for cloud.mode=voxel", min_value=0.001, max_value=10.0, dynamic=True),
    ParamSpec("cloud.clearing", False, "also publish /depth/points_clearing: every pixel's ray (every cloud.clearing_stride-th) to its depth, or cloud.clearing_range metres along it when beyond output.max_range, for a costmap source with marking: false, clearing: true and a height band that keeps the floor", dynamic=True),
    ParamSpec("cloud.clearing_range", 5.0, "distance of the clearing points in metres; at or beyond the costmap's raytrace_max_range", min_value=0.1, max_value=1000.0, dynamic=True),
    ParamSpec("cloud.clearing_stride", 2, "pixel stride of /depth/points_clearing in both directions (whatever cloud.mode); a voxel layer clears a voxel only where a ray's line crosses it, so the rays must lie closer than the marking cloud's: at most about 2/3 of the costmap resolution apart at its obstacle_max_range, clearing_stride <= 0.67 * resolution * fx / obstacle_max_range (fx of the published depth; 2 for 414x125 KITTI, 0.05 m cells, 4 m)", min_value=1, max_value=64, dynamic=True),
    ParamSpec("scan.enabled", False, "also publish /depth/scan (sensor_msgs/LaserScan): the nearest return per image column over a band of rows at the principal point; +Inf where everything is beyond output.max_range", dynamic=True),
    ParamSpec("scan.band_rows", 8, "rows of the published depth image in the scan band, centred on the principal point's row", min_value=1, max_value=4096, dynamic=True),
    ParamSpec("scan.frame_id", "", "frame of /depth/scan (x forward, y left, z up, at the camera's optical centre); empty = the image frame without its _optical suffix (camera_optical -> camera, camera_color_optical_frame -> camera_color_frame); an image frame without that suffix (camera, camera_color_left) is used as it is, with a warning once per frame_id (its axes may be the optical frame's): set this then, and publish its TF", dynamic=True),
    ParamSpec("cloud.rgb", False, "XYZRGB (rgb packed 0x00RRGGBB at offset 16) instead of XYZ", dynamic=True),
    ParamSpec("diagnostics.period_s", 1.0, "period of /diagnostics", min_value=0.05, max_value=60.0),
)
# fmt: on

PARAMS_BY_NAME: dict[str, ParamSpec] = {p.name: p for p in PARAMS}
# the words YAML 1.1 reads unquoted as booleans (PyYAML: ros2 param set, the bag runner; rcl: params files, -p)
YAML_BOOLEANS: dict[bool, tuple[str, ...]] = {True: ("true", "yes", "on"), False: ("false", "no", "off")}


def yaml_bool_choices(spec: ParamSpec) -> dict[bool, str]:
    """The choices of ``spec`` that YAML reads unquoted as a boolean, by that boolean (``output.device_postprocess``:
    ``{True: 'on', False: 'off'}``); empty for most parameters."""
    return {flag: c for c in spec.choices for flag, words in YAML_BOOLEANS.items() if c.lower() in words}


def _unquoted_hint(kind: type, value: Any) -> str:
    """The remedy for a number or bool given quoted (``max_range: "30"``, ``rgb: 'yes'``): the value to write
    unquoted, where unquoted it would be taken; else ``""``."""
    if not isinstance(value, str):
        return ""
    if kind is bool:
        words = {word for spelled in YAML_BOOLEANS.values() for word in spelled}
        return "; write true or false unquoted" if value.strip().lower() in words else ""
    try:
        number = float(value) if kind is float else int(value.strip())
    except ValueError:
        return ""
    if not math.isfinite(number):
        return ""
    read = yaml.safe_load(value.strip())
    if isinstance(read, int | float) and not isinstance(read, bool):
        return f"; write it unquoted: {value.strip()}"
    # 1e9, 5e-2: a float to rcl (params files, -p) and to Python, text to YAML 1.1 even unquoted
    return (
        f"; write it unquoted as {yaml11_float(number)}: YAML 1.1 (ros2 param set) reads {value.strip()} as text even "
        "unquoted (its floats need a decimal point and a signed exponent)"
    )


def yaml11_float(number: float) -> str:
    """``number`` written so that YAML 1.1 (PyYAML: ``ros2 param set``, the bag runner's ``--param``) and rcl (params
    files, ``-p``) both read a float: a decimal point and a signed exponent (5e-2 -> 0.05, 1e9 -> 1000000000.0,
    1e-5 -> 1.0e-05); YAML's ``.inf``, ``-.inf``, ``.nan`` for the others (Python's ``inf`` is text to both)."""
    if not math.isfinite(number):
        return ".nan" if math.isnan(number) else ("-.inf" if number < 0 else ".inf")
    mantissa, e, exponent = repr(float(number)).partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    if e and exponent[:1] not in ("+", "-"):
        exponent = "+" + exponent
    return mantissa + e + exponent


def coerce(spec: ParamSpec, value: Any) -> ParamValue:
    """Convert ``value`` to the parameter's type and check its constraints.

    rclpy's type rules, except that an int is accepted for a float (the node declares floats that way). ``--param``
    values reach it already parsed as YAML scalars (:func:`load_config`), so ``--param cloud.rgb=true`` is a bool.

    Raises:
        ConfigError: naming the parameter, the value and what is allowed.
    """
    kind = spec.type
    # rclpy's rules (a parameter's type is its default's): no string for a number or a bool, no number for a string,
    # no bool for a number, no fraction for an int. One exception, as the node declares floats: an int for a float.
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        hint = "; quote strings in YAML" if kind is str else _unquoted_hint(kind, value)
        if isinstance(value, bool) and (word := yaml_bool_choices(spec).get(value)) is not None:
            hint += f": YAML reads an unquoted {word} as a boolean (params file: '{word}'; ros2 param set NODE "
            hint += f"{spec.name} \"'{word}'\")"
        msg = (
            f"parameter {spec.name}={value!r} is not a valid {kind.__name__}: got {type(value).__name__} "
            f"({spec.description}){hint}"
        )
        raise ConfigError(msg)
    result: ParamValue = kind(value)
    if spec.choices and result not in spec.choices:
        choices, hint = ", ".join(map(repr, spec.choices)), _choice_hint(spec, str(result))
        msg = f"parameter {spec.name}={result!r} must be one of {choices}{hint}"
        raise ConfigError(msg)
    if isinstance(result, float) and not math.isfinite(result):  # NaN slips through every range comparison
        msg = f"parameter {spec.name}={result} must be a finite number ({spec.description})"
        raise ConfigError(msg)
    if isinstance(result, int | float) and not isinstance(result, bool):
        if spec.min_value is not None and result < spec.min_value:
            msg = f"parameter {spec.name}={result} is below its minimum {spec.min_value}{unit_hint(spec, result)}"
            raise ConfigError(msg)
        if spec.max_value is not None and result > spec.max_value:
            msg = f"parameter {spec.name}={result} is above its maximum {spec.max_value}{unit_hint(spec, result)}"
            raise ConfigError(msg)
    return result


def _choice_hint(spec: ParamSpec, value: str) -> str:
    """The message suffix for ``value``, no choice of ``spec``: for ``model.output_kind``, an output kind only a
    model's spec declares (``canonical_inverse``: Depth Pro's raw output, which the model runner turns into metres)
    says so and what to set instead; else the closest choices (:func:`did_you_mean`)."""
    if spec.name == "model.output_kind" and value in {kind.value for kind in OutputKind}:
        return (
            f"; {value} is a raw model output that a model's spec declares (`mono-depth spec MODEL --kind "
            f"{value}`), not this parameter: the model runner turns it into metres before anything reads it; leave "
            f"model.output_kind empty to use the spec's kind, or set metric (taken for a canonical_inverse or "
            f"metric_focal spec)"
        )
    return did_you_mean(value, spec.choices)


def unit_hint(spec: ParamSpec, value: float | None = None) -> str:
    """For an angle parameter (``*_rad``) out of range: its unit and the radians meant if ``value`` was degrees
    (without a value: the factor from degrees); empty for other parameters."""
    if not spec.name.endswith("_rad"):
        return ""
    if value is None:
        return f"; it is in radians: a value in degrees times {math.radians(1.0):.4g}"
    return f"; it is in radians: {value:g}° is {math.radians(value):.4g}"


def defaults() -> dict[str, ParamValue]:
    """Every parameter at its default value."""
    return {p.name: p.default for p in PARAMS}


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def missing_config_hint(path: Path) -> str:
    """Where a missing relative ``path`` was looked for, and the package's own config file of its name if there is
    one: the source checkout's ``config/``, else ``share/mono_depth_ros/config`` of the prefix the package is
    installed in (colcon: ``install/lib/python3.X/site-packages/mono_depth_ros`` beside ``install/share``; pip: the
    environment's), nearest first, else ``sys.prefix``'s."""
    cwd = Path.cwd()
    hint = f" (a relative path is read relative to the working directory {cwd}: {cwd / path})"
    module = Path(__file__).resolve()
    prefixes = [folder / "share" / "mono_depth_ros" / "config" for folder in module.parents[1:]]
    shipped = [folder / path.name for folder in (module.parents[1] / "config", *prefixes, SHARED_CONFIG)]
    own = next((file for file in shipped if file.is_file()), None)
    return hint + (f"; the package's {path.name} is {own}" if own is not None else "")


class _KeyGivenTwice(yaml.YAMLError):
    """A mapping that names one key twice: ``key`` dotted from the document's top (``loss.weight``, a list item by its
    index: ``data.folders[0].root``); lines 1-based; ``sections``: both of its values are mappings."""

    def __init__(self, key: str, first_line: int, second_line: int, sections: bool) -> None:
        super().__init__(f"{key!r} given twice")
        self.key, self.first_line, self.second_line, self.sections = key, first_line, second_line, sections

    def remedy(self) -> str:
        """What YAML does with it, and what to write instead."""
        if self.sections:
            return f"YAML keeps only the last, dropping every setting of the first: write one {self.key!r} with both"
        return f"YAML keeps only the last, the one on line {self.second_line}, silently: keep one, the value you mean"


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (YAML keeps the last one silently), naming it
    by its dotted path from the document's top."""

    def construct_document(self, node: yaml.Node) -> Any:
        self._refuse_keys_given_twice(node, "", set())
        return super().construct_document(node)  # type: ignore[no-untyped-call]

    def _refuse_keys_given_twice(self, node: yaml.Node, path: str, visited: set[int]) -> None:
        """Walk the composed ``node`` (``path``: its dotted name; an aliased node once) in document order.

        Raises:
            _KeyGivenTwice: the first key given twice in one mapping.
        """
        if id(node) in visited:
            return
        visited.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._refuse_keys_given_twice(item, f"{path}[{index}]", visited)
            return
        if not isinstance(node, yaml.MappingNode):
            return
        seen: dict[object, tuple[int, bool]] = {}  # the line of each key, and whether its value is a mapping
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:  # '<<: *anchor': its keys may be overridden after it (checked where made)
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            name = f"{path}.{key}" if path else str(key)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base constructor names it
                continue
            section = isinstance(value_node, yaml.MappingNode)
            if first is not None:
                raise _KeyGivenTwice(name, first[0] + 1, key_node.start_mark.line + 1, first[1] and section)
            seen[key] = key_node.start_mark.line, section
            self._refuse_keys_given_twice(value_node, name, visited)


def read_yaml_file(path: str | Path, what: str, unique_keys: bool = False) -> Any:
    """The YAML document in ``path`` (None when empty); ``what`` names the file in error messages.

    ``unique_keys``: refuse a key given twice in one mapping (a section pasted twice would drop the first one's
    settings); the node's parameters files are read as rclpy reads them, without it.

    Raises:
        ConfigError: missing / unreadable file, invalid YAML, or (``unique_keys``) a key given twice.
    """
    try:
        text = Path(path).read_text()
        return yaml.load(text, Loader=_UniqueKeyLoader) if unique_keys else yaml.safe_load(text)  # a SafeLoader
    except _KeyGivenTwice as err:
        msg = (
            f"{what} {path}: {err.key!r} is given twice (lines {err.first_line} and {err.second_line}) in one mapping; "
            f"{err.remedy()}"
        )
        raise ConfigError(msg) from None
    except OSError as err:
        msg = f"cannot read {what} {path}: {err.strerror}"
        if isinstance(err, FileNotFoundError) and not Path(path).is_absolute():
            msg += missing_config_hint(Path(path))
        raise ConfigError(msg) from None
    except yaml.YAMLError as err:
        msg = f"{what} {path} is not valid YAML: {err}"
        raise ConfigError(msg) from None


def load_params_file(path: Path, node: str = "/" + NODE_NAME) -> dict[str, Any]:
    """Read a ROS 2 params YAML (``<key>: ros__parameters: {...}``) into flat dotted names.

    The sections that apply to the node named ``node`` (fully qualified, ``/front/mono_depth_node``; a missing
    leading ``/`` is added) apply in file order, a later one over an earlier one, as rclpy applies them (seen on
    real Humble): ``/**``, ``/**/mono_depth_node``, ``mono_depth_node`` for the default node. Nested mappings and
    dotted keys are both accepted.

    Raises:
        ConfigError: no section applies; or, for the default node, the file has sections for a namespaced
            ``mono_depth_node`` (one per camera of a robot), which would be left out silently: name the node.
    """
    document = read_yaml_file(path, "parameters file")
    if not isinstance(document, Mapping):
        msg = f"parameters file {path} must map node names to {{ros__parameters: ...}}"
        raise ConfigError(msg)
    node = "/" + node.strip().lstrip("/")
    keys = [str(key) for key in document]
    if node == "/" + NODE_NAME and (cameras := [k for k in keys if _names_a_namespaced_node(k)]):
        msg = (
            f"parameters file {path} has sections for {NODE_NAME} in a namespace ({', '.join(cameras)}), which apply "
            f"to that node only: one run takes one camera; name its node, e.g. --node {'/' + cameras[0].lstrip('/')}"
        )
        raise ConfigError(msg)
    matching = [key for key in keys if section_matches(key, node)]
    if not matching:
        expected = ("/**", NODE_NAME, node) if node == "/" + NODE_NAME else ("/**", f"/**/{NODE_NAME}", node)
        msg = (
            f"parameters file {path} has no section for {node}: expected one of {', '.join(expected)} "
            f"(each with ros__parameters), found {', '.join(keys) or 'none'}"
        )
        raise ConfigError(msg)
    flat: dict[str, Any] = {}
    for key in matching:
        section = document[key]
        if not isinstance(section, Mapping) or "ros__parameters" not in section:
            msg = f"parameters file {path}: section {key!r} needs a 'ros__parameters' mapping"
            raise ConfigError(msg)
        flat.update(_flatten(section["ros__parameters"] or {}))
    return flat


def _names_a_namespaced_node(key: str) -> bool:
    """Whether a section ``key`` names ``mono_depth_node`` in a namespace, without wildcards (``/front/mono_depth_node``)."""
    parts = key.strip("/").split("/")
    return len(parts) > 1 and parts[-1] == NODE_NAME and "*" not in key


def parse_override(text: str) -> tuple[str, str]:
    """Split one ``--param name=value`` override."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        msg = f"--param {text!r} must look like name=value (e.g. scale.mode=lidar)"
        raise ConfigError(msg)
    return name.strip(), value.strip()


def resolve(values: Mapping[str, Any]) -> dict[str, ParamValue]:
    """Defaults updated with ``values`` (flat dotted names), every value coerced and checked.

    Raises:
        ConfigError: for an unknown name (with the closest known names) or a bad value.
    """
    resolved = defaults()
    for name, value in values.items():
        spec = PARAMS_BY_NAME.get(name)
        if spec is None:
            msg = f"unknown parameter {name!r}{did_you_mean(name, PARAMS_BY_NAME)}"
            raise ConfigError(msg)
        resolved[name] = coerce(spec, value)
    if float(resolved["output.min_range"]) >= float(resolved["output.max_range"]):
        msg = (
            f"output.min_range ({resolved['output.min_range']}) must be below "
            f"output.max_range ({resolved['output.max_range']}): set both at once (one params file, or the node's "
            f"set_parameters_atomically service), or one by one in an order that keeps min below max (raise "
            f"max_range first, lower min_range first)"
        )
        raise ConfigError(msg)
    if resolved["scale.mode"] == "ground_plane" and float(resolved["scale.camera_height_m"]) <= 0.0:
        msg = (  # scale recovery has no ground-plane prior then (core.scale.recovery.RecoveryConfig)
            f"scale.mode=ground_plane needs scale.camera_height_m > 0 (got {resolved['scale.camera_height_m']}): "
            "set the camera's height above the ground, or another scale.mode"
        )
        raise ConfigError(msg)
    topic_names = ["image_topic", "camera_info_topic", "lidar_topic"]
    topic_names += ["prediction_topic"] if resolved["model.backend"] == "external" else []  # else never subscribed
    for name in topic_names:  # rcl: a traceback at start
        topic = str(resolved[name])
        if (topic or name != "lidar_topic") and (problem := topic_name_problem(topic)) is not None:
            raise ConfigError(f"parameter {name}={topic!r} is not a valid ROS topic name: {problem}")
    frame_names = ("scan.frame_id", "lidar.motion_frame", "temporal.fixed_frame", "scale.ground_frame")
    for name in frame_names:  # tf2 refuses them in every lookup
        frame = str(resolved[name])  # (the bag runner's TF buffer would strip the slash: node and bag would differ)
        if frame.startswith("/"):
            msg = f"parameter {name}={frame!r}: tf2 frame ids cannot start with '/'; use {frame.lstrip('/')!r}"
            raise ConfigError(msg)
    device = str(resolved["device"]).strip().lower()
    if not DEVICE_PATTERN.fullmatch(device):  # "gpu", "cuda:x", "cuda1", "0"
        msg = f"parameter device={resolved['device']!r} must be auto, cpu, cuda or cuda:N (N: the GPU's index)"
        msg += f"; GPU {device} is 'cuda:{device}'" if device.isdigit() else ""
        raise ConfigError(msg)
    return resolved


def load_config(
    params_file: Path | None = None, overrides: list[str] | tuple[str, ...] = (), node: str = "/" + NODE_NAME
) -> dict[str, ParamValue]:
    """Parameters for the bag runner / CLI: defaults ← params file (its sections for ``node``, see
    :func:`load_params_file`) ← ``--param`` overrides."""
    values: dict[str, Any] = {}
    if params_file is not None:
        values.update(load_params_file(params_file, node))
    for text in overrides:
        name, value = parse_override(text)
        spec = PARAMS_BY_NAME.get(name)
        # Text parameters keep the raw string ("off" must not become False); others are parsed as YAML scalars.
        values[name] = value if spec is None or spec.type is str or not value else yaml.safe_load(value)
    return resolve(values)
