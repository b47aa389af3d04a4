"""The depth network of a run (a pipeline ``DepthSource``), built from the parameters (``model.*``, ``device``).

``model.backend: external`` needs no network (predictions come from ``prediction_topic``). Every other backend loads
``model.weights`` through :class:`~mono_depth_ros.models.inference.DepthEstimator`; empty weights mean the default
model shipped in ``mono_depth_ros/assets`` (the single ``*.safetensors`` file there).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from mono_depth_ros.config import ParamValue
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.edges import SourceShape, SourceWindow
from mono_depth_ros.core.errors import CheckpointError, ConfigError
from mono_depth_ros.depth_config import DepthConfig, ModelConfig
from mono_depth_ros.models.hub_id import broken_link, hub_id_hint

if TYPE_CHECKING:
    import torch

    from mono_depth_ros.core.frame_hints import FrameHints
    from mono_depth_ros.models.inference import DepthEstimator, DepthResult

_LOG = logging.getLogger(__name__)

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"


def inference_threads(setting: int, cores: int | None = None) -> int:
    """CPU threads for inference from ``model.threads``: the setting itself when > 0, else the auto policy.

    Auto is half the cores this process may run on, at most 4 and at least 1 (one on a 2-core computer). torch's
    intra-op workers spin while they wait for each other; on a robot's computer, where other nodes hold cores, a pool
    as wide as the machine spends its time waiting for a busy core (on a loaded 2-core machine the whole bag ran
    4.6 × slower with 2 threads than with 1). ``bench/bench_threads.py`` measures the policy against fixed settings
    under load.

    Args:
        setting: ``model.threads`` (0 = auto).
        cores: usable cores (default: this process's CPU affinity).
    """
    if setting > 0:
        return setting
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores // 2))


_WEIGHTS_OF = {"onnx": "MODEL.onnx (its spec beside it)", "torchscript": "MODEL.pt (its spec beside it)"}
"""What ``model.weights`` names for a backend other than a Hugging Face directory (in the missing-weights error)."""


def default_weights(assets_dir: Path = ASSETS_DIR) -> Path:
    """The shipped default checkpoint (the one ``*.safetensors`` in ``assets_dir``).

    Raises:
        CheckpointError: none (or several) ship with this install.
    """
    found = sorted(assets_dir.glob("*.safetensors")) if assets_dir.is_dir() else []
    if len(found) != 1:
        what = "no default model" if not found else f"{len(found)} candidate default models"
        msg = (
            f"model.weights is empty and {what} ship(s) in {assets_dir}; pass --param model.weights=FILE, or use "
            f"--param model.backend=external with a prediction_topic"
        )
        raise CheckpointError(msg)
    return found[0]


class EstimatorSource:
    """Adapts a :class:`DepthEstimator` to the pipeline's ``ResizingDepthSource`` protocol (image in, values out at
    the size asked for).

    Attributes:
        last_network_hw: the (height, width) the network ran at for the last frame.
        last_network_ms: the network's own time for the last frame (no pre- / post-processing), milliseconds.
        last_output_kind: what the last prediction meant (a LiDAR-prompted model without a scan: up to scale).
    """

    def __init__(self, estimator: DepthEstimator) -> None:
        self.estimator = estimator
        self.last_network_hw: tuple[int, int] | None = None
        self.last_network_ms = 0.0
        self.last_output_kind = estimator.output_kind

    @property
    def frame_inputs(self) -> frozenset[str]:
        """Per-frame inputs the model takes besides the image (``focal_ratio``, ``prompt_depth``)."""
        return self.estimator.frame_inputs

    @property
    def output_kind(self) -> OutputKind:
        """What the predictions mean (from the checkpoint's ModelSpec)."""
        return self.estimator.output_kind

    def invalid_output_cause(self) -> str | None:
        """Why the last frame's map is invalid, where the engine can tell (:meth:`DepthEstimator.invalid_output_cause`:
        a graph's focal or field of view out of range), else None."""
        return self.estimator.invalid_output_cause()

    @property
    def device(self) -> torch.device:
        """Where the network runs (and where its prediction is, before the copy to the host)."""
        return self.estimator.device

    @property
    def coarse_map(self) -> str:
        """The network's map when much coarser than its input (:attr:`DepthEstimator.coarse_map`), else empty."""
        return self.estimator.coarse_map

    @property
    def training_focal(self) -> tuple[float, ...]:
        """``(fx / width, fy / height)`` of the network's training images (ModelSpec); empty when unknown."""
        return self.estimator.spec.training_focal

    def network_hw(self, image_hw: tuple[int, int]) -> tuple[int, int]:
        """(height, width) the network sees a camera image of ``image_hw`` at: its input size, or for a spec that
        pads (``InputPolicy.pad``, ``reflect_pad``) the part of the input the image fills (the rest is no view of
        the scene)."""
        hw = self.estimator.network_hw(image_hw)
        from mono_depth_ros.models.preprocess import input_box

        box = input_box(self.estimator.spec.input, image_hw, hw)
        return hw if box is None else (box[2], box[3])

    def source_shape(self, image_hw: tuple[int, int]) -> SourceShape:
        """What the published map is upsampled from, for the speckle and flying-pixel tests: :meth:`network_hw`, or
        for ZoeDepth's reflect padding the window of the network's map the engine reads the image at
        (:func:`~.preprocess.reflect_pad_window`: the image's part of the input is no whole number of pixels)."""
        from mono_depth_ros.models.preprocess import reflect_pad_window

        if self.estimator.spec.input.reflect_pad:
            hw = self.estimator.network_hw(image_hw)
            window = reflect_pad_window(image_hw, hw)
            if window is not None:
                return SourceWindow(hw, window)
        return self.network_hw(image_hw)

    def predict(
        self, rgb: npt.NDArray[np.uint8], out_hw: tuple[int, int] | None = None, hints: FrameHints | None = None
    ) -> npt.NDArray[np.float32]:
        """(H, W, 3) uint8 RGB → ``out_hw`` (default (H, W)) float32 prediction of :attr:`last_output_kind` (NaN
        invalid), with the focal length / LiDAR depth in ``hints`` for models that take them."""
        return np.asarray(self._predict(rgb, out_hw, hints, on_device=False).values, dtype=np.float32)

    def predict_on_device(
        self, rgb: npt.NDArray[np.uint8], out_hw: tuple[int, int] | None = None, hints: FrameHints | None = None
    ) -> tuple[torch.Tensor, npt.NDArray[np.float32]]:
        """Like :meth:`predict`, with the prediction also as a tensor on :attr:`device` (``output.device_postprocess``):
        ``(device values, host values)``, the same float32 values (on the CPU, the same memory)."""
        result = self._predict(rgb, out_hw, hints, on_device=True)
        assert result.device_values is not None  # asked for
        return result.device_values, np.asarray(result.values, dtype=np.float32)

    def _predict(
        self, rgb: npt.NDArray[np.uint8], out_hw: tuple[int, int] | None, hints: FrameHints | None, on_device: bool
    ) -> DepthResult:
        result = self.estimator.predict(rgb, out_hw, hints, on_device=on_device)
        self.last_network_hw = result.network_hw
        self.last_network_ms = result.timings.inference_ms
        self.last_output_kind = result.output_kind
        return result


def build_depth_source(config: DepthConfig | Mapping[str, ParamValue]) -> EstimatorSource | None:
    """The network named by the model slice (``model.backend`` / ``model.weights`` / ``device`` / ...); None for
    ``external``. ``config`` is a :class:`~mono_depth_ros.depth_config.DepthConfig` (or flat values, validated).

    Raises:
        CheckpointError: missing or unusable weights (wrong architecture, mismatched tensors, failed self-test).
        ConfigError: an unknown backend, a backend other than unet without ``model.weights``, an option the device
            cannot honour, or a ``model.output_kind`` that contradicts a ``metric_focal`` spec (or states
            ``metric_focal`` for a model whose spec does not), or an exported model's spec
            (:func:`_check_stated_kind`).
    """
    model = DepthConfig.of(config).model
    if model.backend == "external":
        return None
    try:
        from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
    except ImportError as err:
        msg = (
            f"model.backend={model.backend!r} needs the inference engine, which cannot be imported here ({err}); "
            f"install the torch extra, or use model.backend=external"
        )
        raise ConfigError(msg) from None
    if not model.weights and model.backend != "unet":  # the shipped default is a unet checkpoint
        what = _WEIGHTS_OF.get(model.backend, "DIR (a local Hugging Face depth model, see mono-depth weights)")
        msg = (
            f"model.backend={model.backend} needs model.weights (the shipped default model is a unet checkpoint); "
            f"set model.weights to {what} (launch: weights:={what.split()[0]}; params file: model: {{weights: "
            f"{what.split()[0]}}}; mono-depth: --param model.weights={what.split()[0]}), or leave model.backend at "
            f"unet for the shipped model"
        )
        raise ConfigError(msg)
    # "~" is the user's home: a shell expands it in `--weights ~/m` but not in `--param model.weights=~/m`,
    # `weights:=~/m` (launch) or a params file
    weights = os.path.expanduser(model.weights) if model.weights else str(default_weights())
    if not Path(weights).exists():
        if broken := broken_link(Path(weights)):  # a cache snapshot copied with its links (an onnx/model.onnx)
            raise CheckpointError(f"model.weights {broken}")
        msg = f"model.weights {weights} does not exist; pass an existing checkpoint file or model directory"
        msg += hub_id_hint(weights) + relative_path_hint(weights)
        raise CheckpointError(msg)
    estimator_config = EstimatorConfig(
        device=model.device,
        precision=model.precision,
        compile=model.compile,
        cuda_graphs=model.cuda_graphs,
        cpu_threads=inference_threads(model.threads),
        golden_check=model.golden_check,
        channels_last=model.channels_last,
        warmup_hw=_warmup_hw(model),
        output_kind=model.output_kind,
        onnx_providers=tuple(name.strip() for name in model.onnx_providers.split(",") if name.strip()),
        trt_fp16=model.trt_fp16,
        trt_cache_dir=model.trt_cache_dir,
    )
    estimator = DepthEstimator.open(model.backend, weights, estimator_config)
    _check_metric_focal(model.output_kind, estimator.spec.output_kind, weights, model.backend)
    if model.backend in SPEC_BACKENDS:
        _check_stated_kind(model.output_kind, estimator.spec.output_kind, weights, model.backend)
    return EstimatorSource(estimator)


def relative_path_hint(path: str) -> str:
    """A message suffix for a missing relative ``path``: where it was looked for, else ``""``. The node reads it from
    its working directory, the shell's that ran ``ros2 launch`` / ``ros2 run`` (not the package's share folder)."""
    if Path(path).is_absolute():
        return ""
    cwd = Path.cwd()
    return (
        f"; a relative path is read relative to the working directory {cwd}: {cwd / path} (the directory ros2 "
        f"launch / ros2 run / mono-depth was started in); give an absolute path"
    )


def _check_metric_focal(stated: str, spec_kind: OutputKind, weights: str, backend: str) -> None:
    """Refuse ``model.output_kind`` where ``metric_focal`` is involved and the two disagree: nothing after the model
    loader applies a stated ``metric_focal`` (the engine converts per the spec), and a ``metric_focal`` spec
    delivers metres, which a relative kind would have scale recovery fit as if they were not.

    Raises:
        ConfigError: naming both kinds and what to write.
    """
    focal = OutputKind.METRIC_FOCAL
    if stated == focal.value and spec_kind is not focal:
        respec = (  # a model made elsewhere is described by mono-depth spec; a checkpoint's spec is its training's
            f"write the spec with `mono-depth spec {weights} --kind metric_focal` (and --focal-divisor for a model "
            f"other than Depth Anything 3), or "
            if backend in ("onnx", "torchscript")
            else ""
        )
        msg = (
            f"model.output_kind=metric_focal is not applied to {weights}: its spec says {spec_kind.value}; {respec}"
            f"leave model.output_kind empty"
        )
        raise ConfigError(msg)
    relative = (OutputKind.DEPTH_UP_TO_SCALE.value, OutputKind.RELATIVE_INVERSE.value, OutputKind.AFFINE_DEPTH.value)
    if spec_kind is focal and stated in relative:
        msg = (
            f"{weights} is a metric_focal model: the engine delivers metres with the camera's focal length, not "
            f"{stated}; leave model.output_kind empty (or metric)"
        )
        raise ConfigError(msg)


FOREIGN_SPEC_BACKENDS = ("onnx", "torchscript")
"""Backends whose output kind a spec beside the model declares (`mono-depth export`, or `mono-depth spec` for a
model made elsewhere)."""
SPEC_BACKENDS = ("unet", *FOREIGN_SPEC_BACKENDS)
"""Backends whose output kind a spec declares: the project's checkpoints (their training's spec inside) and
:data:`FOREIGN_SPEC_BACKENDS` (a Hugging Face folder's kind is its family's, compared by the loader)."""


STATED_KINDS_TAKEN: frozenset[tuple[OutputKind, str]] = frozenset(
    {
        (OutputKind.METRIC, OutputKind.DEPTH_UP_TO_SCALE.value),  # scale recovery rescales its metres
        (OutputKind.METRIC_FOCAL, OutputKind.METRIC.value),  # the engine delivers metres
        (OutputKind.CANONICAL_INVERSE, OutputKind.METRIC.value),
    }
)
"""(kind a spec declares, ``model.output_kind`` stated) pairs :func:`_check_stated_kind` takes (logged), other than
the spec's own kind (README's parameter table names each)."""


def _check_stated_kind(stated: str, spec_kind: OutputKind, weights: str, backend: str) -> None:
    """Compare ``model.output_kind`` with the kind a checkpoint's or an exported model's spec declares, as a Hugging
    Face folder's family kind is compared (:func:`~.hf_spec.transformers_spec`): the pipeline takes the stated
    kind, so another one would have scale recovery read the output as what it is not. ``depth_up_to_scale`` for a
    metric spec (scale recovery rescales its metres) and ``metric`` for a ``metric_focal`` one (the engine delivers
    metres) are taken, logged with both kinds; ``metric_focal`` itself is :func:`_check_metric_focal`'s.

    Raises:
        ConfigError: another kind, naming both, the spec to write (a checkpoint: its training) and the setting to
            clear.
    """
    if not stated or stated == spec_kind.value or stated == OutputKind.METRIC_FOCAL.value:
        return
    if (spec_kind, stated) in STATED_KINDS_TAKEN:
        _LOG.info(
            "model.output_kind=%s for %s, whose spec says %s: the pipeline reads its output as %s",
            stated,
            weights,
            spec_kind.value,
            stated,
        )
        return
    if spec_kind is OutputKind.METRIC_FOCAL:
        return  # a relative kind for a metric_focal spec: refused by _check_metric_focal
    respec = (  # a checkpoint's spec is its training's: mono-depth spec reads exported models only
        f"write it again: `mono-depth spec {weights} --kind {stated}` (with its other options)"
        if backend in FOREIGN_SPEC_BACKENDS
        else "train the model with that kind (its checkpoint's spec is written by its training)"
    )
    msg = (
        f"model.output_kind={stated} contradicts the spec of {weights}, which says {spec_kind.value} (the pipeline "
        f"would read its output as {stated}); leave model.output_kind empty to use the spec's kind, or, if the spec "
        f"is wrong, {respec}"
    )
    raise ConfigError(msg)


def _warmup_hw(model: ModelConfig) -> tuple[int, int] | None:
    """``(model.warmup_height, model.warmup_width)``, or None when either is 0 (warm up at the model input size)."""
    height, width = model.warmup_height, model.warmup_width
    if (height == 0) != (width == 0):
        msg = f"model.warmup_height and model.warmup_width go together (both 0 or both set), got {height}x{width}"
        raise ConfigError(msg)
    return (height, width) if height else None
