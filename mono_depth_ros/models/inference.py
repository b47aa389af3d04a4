"""DepthEstimator: HxWx3 uint8 RGB in, (H, W) depth or disparity at camera resolution out, with its output kind.

One engine for every runtime (torch modules, ONNX Runtime, TorchScript: see :class:`~.backend.DepthBackend`):
upload uint8 -> resize + normalise on the device (:mod:`.preprocess`) -> network (optionally autocast fp16/bf16,
channels-last, ``torch.compile``, CUDA-graph replay) -> edge-aware upsampling back to the camera size -> host.

Start-up, in order: resolve device and precision (``auto``: fp16 + CUDA graphs on CUDA when the golden self-test
passes at fp16, else fp32, see :mod:`.precision_policy`; fp16 on a CPU: error, or fp32 with a warning under ``device:
auto``), compute an on-the-fly fp32 reference when none is stored and the fast path changes numerics, apply
channels-last / compile, warm up (this also compiles and captures CUDA graphs), then the golden self-test
(:mod:`.golden`): refuse with :class:`CheckpointError` or warn beyond tolerance.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mono_depth_ros.core.errors import AspectError, CheckpointError, ConfigError, ShapeError, first_line
from mono_depth_ros.core.frame_hints import FrameHints
from mono_depth_ros.core.model_output import is_out_of_memory
from mono_depth_ros.models.backend import DepthBackend, TorchBackend, open_backend, resolve_device
from mono_depth_ros.models.checkpoint import GoldenReference
from mono_depth_ros.models.cuda_graphs import CudaGraphRunner
from mono_depth_ros.models.frame_inputs import (
    CANONICAL_CLAMP,
    FOCAL_NET,
    FOCAL_RATIO,
    NOMINAL_FOCAL_RATIO,
    PROMPT_DEPTH,
    frame_inputs,
    metres_from_canonical_inverse,
    metres_from_metric_focal,
    sky_mask,
    sky_mask_tensor,
)
from mono_depth_ros.models.frozen_input import aspect_problem
from mono_depth_ros.models.golden import DEFAULT_TOLERANCE, GoldenReport, compare_golden, reference_image
from mono_depth_ros.models.graph_layout import coarse_map
from mono_depth_ros.models.precision_policy import AUTO, PrecisionChoice, choose_precision
from mono_depth_ros.models.preprocess import (
    DEFAULT_EDGE_RATIO,
    check_rgb_image,
    crop_to_box,
    image_to_device,
    input_box,
    network_input_size,
    preprocess,
    reflect_pad_window,
    upsample_edge_aware,
    upsample_edge_aware_host,
)
from mono_depth_ros.models.spec import ModelSpec, OutputKind

PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
GOLDEN_ACTIONS = ("refuse", "warn", "off")

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class EstimatorConfig:
    """How to run a model (node parameters ``device``, ``model.precision``, ... map onto these fields).

    Attributes:
        device: ``auto`` (CUDA if available, else CPU with a warning) | ``cpu`` | ``cuda`` | ``cuda:N``.
            :meth:`DepthEstimator.open` loads the model there; a backend passed to the constructor keeps its own
            device (``device`` then only decides whether fp16 on a CPU falls back to fp32: under ``auto``).
        precision: ``fp32`` | ``fp16`` | ``bf16`` (autocast; torch and TorchScript backends only) | ``auto`` (fp16 +
            CUDA graphs on CUDA when the golden self-test passes at fp16, else fp32: :mod:`.precision_policy`).
        channels_last: channels-last weights and input (torch backend only).
        compile: wrap the model in ``torch.compile`` (torch backend only; compiled at warm-up).
        cuda_graphs: capture the network in a CUDA graph per input shape (CUDA and torch kernels only).
        warmup_runs: forward passes at start-up (and after each new input shape under CUDA graphs).
        warmup_hw: camera (height, width) to warm up at; None: the spec's nominal input size.
        cpu_threads: torch / ONNX Runtime intra-op threads (None: library default).
        edge_ratio: depth-edge threshold of the upsampling (see :mod:`.preprocess`).
        golden_check: ``refuse`` | ``warn`` | ``off`` when the self-test exceeds the tolerance.
        golden_tolerance: relative L1 limit; None: per-precision default (:data:`.golden.DEFAULT_TOLERANCE`).
        output_kind: ``model.output_kind``: what a transformers model predicts when its family does not say.
        onnx_providers: ONNX Runtime execution providers in order (``tensorrt``, ``cuda``, ``cpu``; empty: from
            the device); ``trt_fp16`` and ``trt_cache_dir`` configure TensorRT.
    """

    device: str = "auto"
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    cuda_graphs: bool = False
    warmup_runs: int = 2
    warmup_hw: tuple[int, int] | None = None
    cpu_threads: int | None = None
    edge_ratio: float = DEFAULT_EDGE_RATIO
    golden_check: str = "refuse"
    golden_tolerance: float | None = None
    output_kind: str = ""
    onnx_providers: tuple[str, ...] = ()
    trt_fp16: bool = False
    trt_cache_dir: str = ""

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS and self.precision != AUTO:
            msg = f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}, {AUTO}"
            raise ConfigError(msg)
        if self.golden_check not in GOLDEN_ACTIONS:
            msg = f"golden_check {self.golden_check!r} is not one of {', '.join(GOLDEN_ACTIONS)}"
            raise ConfigError(msg)
        if self.warmup_runs < 0 or (self.cpu_threads is not None and self.cpu_threads < 1):
            msg = f"warmup_runs must be >= 0 and cpu_threads >= 1, got {self.warmup_runs}, {self.cpu_threads}"
            raise ConfigError(msg)
        if self.golden_tolerance is not None and not self.golden_tolerance > 0:
            msg = f"golden_tolerance must be > 0, got {self.golden_tolerance}"
            raise ConfigError(msg)


@dataclass(frozen=True)
class Timings:
    """Wall-clock milliseconds of one :meth:`DepthEstimator.predict` (GPU work synchronised per stage)."""

    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    total_ms: float


@dataclass(frozen=True)
class DepthResult:
    """One prediction.

    Attributes:
        values: (H, W) float32 at camera resolution. ``metric``: metres; ``depth_up_to_scale``: depth × unknown
            scale; ``relative_inverse``: inverse depth up to scale and shift (0 = infinitely far); ``affine_depth``:
            depth up to scale and shift (any finite value). Invalid: NaN (depth kinds: non-positive predictions).
        output_kind: what ``values`` means.
        network_hw: (height, width) the network ran at.
        timings: stage latencies.
        device_values: the same values as a tensor on the model's device (on the CPU sharing ``values``' memory), for
            post-processing there (``predict(..., on_device=True)``); None otherwise.
    """

    values: np.ndarray
    output_kind: OutputKind
    network_hw: tuple[int, int]
    timings: Timings
    device_values: Tensor | None = None


class StageClock:
    """Marks between the stages of one prediction: CUDA events on a GPU (recorded on the stream, no host stall; read
    once the frame's work has finished), ``perf_counter`` on the CPU. The clock starts when it is made."""

    def __init__(self, device: torch.device) -> None:
        self._device = device
        self._cuda = device.type == "cuda"
        self._marks: list[Any] = []
        self.mark()

    def mark(self) -> None:
        """End the current stage."""
        if self._cuda:
            event = torch.cuda.Event(enable_timing=True)  # type: ignore[no-untyped-call]
            event.record(torch.cuda.current_stream(self._device))
            self._marks.append(event)
        else:
            self._marks.append(time.perf_counter_ns())

    def intervals_ms(self) -> list[float]:
        """Milliseconds between consecutive marks (on CUDA this waits for the last mark's work)."""
        if self._cuda:
            self._marks[-1].synchronize()
            return [float(a.elapsed_time(b)) for a, b in zip(self._marks, self._marks[1:], strict=False)]
        return [(b - a) / 1e6 for a, b in zip(self._marks, self._marks[1:], strict=False)]


class DepthEstimator:
    """Runs a :class:`DepthBackend` on camera images.

    Args:
        backend: a loaded model (see :meth:`open` to load one from ``model.backend`` + ``model.weights``).
        config: run options.
        golden: reference stored with the weights (None: none stored).

    Attributes:
        precision: the precision in use (``auto`` resolved).
        precision_choice: how precision and CUDA graphs were chosen, with the reason.
        coarse_map: the network's map when it holds one value per 8 or more input pixels on both sides
            (:func:`~.graph_layout.coarse_map`: ``26x88 for a 375x1242 input, one value per 14x14 pixels``),
            warned about once (at the first camera frame, naming its input size: a start-up run's is not logged)
            and upsampled as any map; empty until one is seen; of the latest camera frame's input size (a camera
            whose size changes has it follow).

    Raises:
        ConfigError: an option the backend or device cannot honour (fp16 on an explicit CPU, fp16/bf16 on ONNX), or
            the device ran out of memory while starting (warm-up, precision trial, self-test).
        CheckpointError: the golden self-test failed and ``golden_check`` is ``refuse``.
    """

    def __init__(
        self, backend: DepthBackend, config: EstimatorConfig | None = None, golden: GoldenReference | None = None
    ) -> None:
        self.config = config or EstimatorConfig()
        self.backend = backend
        self.device = backend.device
        if self.config.cpu_threads is not None and self.device.type == "cpu":
            torch.set_num_threads(self.config.cpu_threads)
        self._graphs: dict[tuple[int, ...], CudaGraphRunner] | None = None
        self._graphs_optional = False  # chosen by precision auto: a failed capture falls back to eager
        self._start_up_graphs: set[tuple[int, ...]] = set()  # captured for warm-up / self-test inputs
        self._staging: Tensor | None = None
        self._served_hw: set[tuple[int, int]] = set()  # camera sizes the model serves (frozen_input.aspect_problem)
        self._pinned: Tensor | None = None
        self.golden_report: GoldenReport | None = None
        self.coarse_map = ""
        self._coarse_sizes: tuple[int, ...] | None = None  # the camera frame's (map, input) sizes coarse_map is of
        self._coarse_warned = False  # the log says a coarse map once
        self._graph_focal_kind: OutputKind | None = None  # the spec kind whose metres the graph's focal last made
        self.precision = "fp32"
        try:
            self._start(golden)
        except (RuntimeError, MemoryError) as err:  # torch.OutOfMemoryError is a RuntimeError
            if (fault := self._out_of_memory_at_start(err)) is not None:
                raise fault from err
            raise

    def _start(self, golden: GoldenReference | None) -> None:
        """Precision, fast path, warm-up and golden self-test (see the module docstring)."""
        self.precision_choice, golden = self._choose_precision(golden)
        self.precision = self._resolve_precision()
        fast_path = self.precision != "fp32" or self.config.compile or self.config.cuda_graphs
        if golden is None and fast_path and self.config.golden_check != "off":
            golden = self._fp32_reference()
        self._apply_fast_path()
        self.warmup(self.config.warmup_hw)
        if golden is not None and self.config.golden_check != "off":
            self.golden_report = self.self_test(golden)

    def _out_of_memory_at_start(self, err: BaseException) -> ConfigError | None:
        """The start-up error for an allocation failure (a GPU present but full), else None."""
        if not is_out_of_memory(err):
            return None
        height, width = self.config.warmup_hw or (self.spec.input.height, self.spec.input.width)
        msg = (
            f"out of memory on {self.device} while starting the model at {width}x{height} (warm-up, precision "
            f"trial, golden self-test: {first_line(err)}); free the device's memory (another process?), use a smaller "
            f"model or model.warmup_width / model.warmup_height, or device:=cpu"
        )
        return ConfigError(msg)

    @classmethod
    def open(cls, backend: str, weights: str | Path, config: EstimatorConfig | None = None) -> DepthEstimator:
        """Load ``weights`` for ``model.backend`` (see :func:`~.backend.open_backend`) and start the engine."""
        config = config or EstimatorConfig()
        device = resolve_device(config.device)
        if config.cpu_threads is not None:
            torch.set_num_threads(config.cpu_threads)
        from mono_depth_ros.models.onnx_model import ProviderChoice

        providers = ProviderChoice(config.onnx_providers, config.trt_fp16, config.trt_cache_dir)
        loaded, golden = open_backend(
            backend, weights, device, config.cpu_threads, output_kind=config.output_kind, onnx_providers=providers
        )
        return cls(loaded, config, golden)

    @property
    def spec(self) -> ModelSpec:
        """The model spec."""
        return self.backend.spec

    @property
    def output_kind(self) -> OutputKind:
        """What :attr:`DepthResult.values` means (``metric_focal`` models deliver metres)."""
        kind = self.backend.spec.output_kind
        return OutputKind.METRIC if kind.needs_focal else kind

    @property
    def frame_inputs(self) -> frozenset[str]:
        """Per-frame inputs the model takes besides the image (``focal_ratio``, ``prompt_depth``; see
        :mod:`.hf_families`); ``metric_focal`` and ``canonical_inverse`` models, and ``metric`` ones with a focal
        output (rescaled to the camera's focal), count as taking the focal length."""
        inputs: frozenset[str] = getattr(self.backend, "frame_inputs", frozenset())
        spec = self.backend.spec
        metric_own_focal = spec.output_kind is OutputKind.METRIC and bool(spec.focal_output)
        return inputs | {"focal_ratio"} if spec.output_kind.needs_focal or metric_own_focal else inputs

    def _choose_precision(self, golden: GoldenReference | None) -> tuple[PrecisionChoice, GoldenReference | None]:
        """Resolve ``precision: auto`` (trying fp16 + CUDA graphs against ``golden``, or an fp32 reference made on
        the spot); the config then holds the choice, as if it had been asked for. Returns the choice and the
        reference (the one made for the trial, if any)."""
        asked = self.config
        reference = [golden]

        def trial(precision: str, graphs: bool) -> tuple[bool, str]:
            made = reference[0] = reference[0] or self._fp32_reference()
            self.precision, self._graphs = precision, ({} if graphs else None)
            try:
                output = self._predict(made.image_rgb, None, None, warming=True).values
            finally:
                self.precision, self._graphs = "fp32", None
            tolerance = asked.golden_tolerance or DEFAULT_TOLERANCE[precision]
            report = compare_golden(output, made.output.astype(np.float32), tolerance)
            return report.passed, report.describe()

        choice = choose_precision(
            asked.precision, asked.cuda_graphs, self.device.type, self.backend.torch_native, asked.golden_check, trial
        )
        if asked.precision == AUTO:
            log = _LOG.warning if choice.fell_back else _LOG.info
            log("%s (%s backend, %s)", choice.reason, self.backend.name, self.device)
            self._graphs_optional = choice.cuda_graphs and not asked.cuda_graphs
            self.config = replace(asked, precision=choice.precision, cuda_graphs=choice.cuda_graphs)
        return choice, reference[0]

    def _resolve_precision(self) -> str:
        precision = self.config.precision
        if precision == "fp32":
            return precision
        if not self.backend.torch_native:  # nothing casts an ONNX graph: fp32 here means "as the graph is"
            own = getattr(self.backend, "input_type", "")
            msg = (
                f"model.precision={precision} is not applied to the {self.backend.name} model: it runs in its "
                f"graph's own precision{f' (its input is {own})' if own else ''} whatever model.precision says, "
                f"which casts only the models run in torch (torch, transformers, TorchScript backends); set "
                f"model.precision to auto or fp32, which casts nothing"
            )
            raise ConfigError(msg)
        if self.device.type == "cpu" and precision == "fp16":
            if self.config.device.strip().lower() == "auto":
                _LOG.warning("precision fp16 is not supported on the CPU: running fp32 (use bf16 on CPUs)")
                return "fp32"
            msg = "precision fp16 is not supported on the CPU (slow, inexact kernels); use fp32 or bf16, or a GPU"
            raise ConfigError(msg)
        if self.device.type == "cuda" and precision == "bf16" and not _native_bf16(self.device):
            msg = f"precision bf16 is not supported by {torch.cuda.get_device_name(self.device)}; use fp16 or fp32"
            raise ConfigError(msg)
        return precision

    def _apply_fast_path(self) -> None:
        torch_module = isinstance(self.backend, TorchBackend)
        for option in ("channels_last", "compile"):
            if getattr(self.config, option) and not torch_module:
                _LOG.warning("%s applies to torch modules only; ignored for the %s backend", option, self.backend.name)
        if isinstance(self.backend, TorchBackend):
            if self.config.channels_last:
                self.backend.use_channels_last()
            if self.config.compile:
                self.backend.compile()
        if self.config.cuda_graphs:
            if self.device.type != "cuda" or not self.backend.torch_native:
                _LOG.warning("cuda_graphs needs a CUDA device and a torch backend; disabled")
            else:
                self._graphs = {}

    def _fp32_reference(self) -> GoldenReference:
        """Reference made on the spot with fp32 eager execution (no stored golden reference)."""
        height, width = self.spec.input.height, self.spec.input.width
        image = reference_image(height, width)
        chosen, self.precision = self.precision, "fp32"
        try:
            output = self._predict(image, None, None, warming=True).values
        finally:
            self.precision = chosen
        return GoldenReference(image_rgb=image, output=output)

    def network_hw(self, image_hw: tuple[int, int]) -> tuple[int, int]:
        """(height, width) the network runs at for a camera image of ``image_hw`` (fixed or from the spec's policy).

        Raises:
            ShapeError: a fixed-size export of a keep-aspect network given a camera of another aspect
                (:func:`~.frozen_input.aspect_problem`: naming the export for that camera).
            AspectError: a keep-aspect spec that records the aspects its graph runs at given a camera of another
                (a portrait camera for a landscape-only graph: naming the spec to write for it).
        """
        fixed = self.backend.fixed_input_hw
        if image_hw not in self._served_hw:  # a fixed-size export of a keep-aspect network: its camera's aspect only
            if (problem := aspect_problem(self.spec, image_hw)) is not None:  # keeping aspect: its recorded ones
                raise (AspectError if self.spec.input.keep_aspect else ShapeError)(problem)
            self._served_hw.add(image_hw)
        return fixed if fixed is not None else network_input_size(image_hw, self.spec.input)

    def _forward(self, batch: Tensor, inputs: dict[str, Tensor] | None = None) -> Tensor:
        enabled = self.precision != "fp32"
        context = (
            torch.autocast(device_type=self.device.type, dtype=PRECISIONS[self.precision]) if enabled else nullcontext()
        )
        with context:
            if inputs:
                conditioned: Tensor = self.backend.infer_with(batch, inputs)  # type: ignore[attr-defined]
                return conditioned.float()
            return self.backend.infer(batch).float()

    def _run_network(self, batch: Tensor, inputs: dict[str, Tensor] | None = None, warming: bool = False) -> Tensor:
        if self._graphs is None or inputs:  # per-frame inputs change every frame: no graph replay
            return self._forward(batch, inputs)
        key = tuple(batch.shape)
        if not warming and self._start_up_graphs:  # the camera's input size is known now
            for other in self._start_up_graphs - {key}:  # a start-up size alone: its pool holds GPU memory for good
                self._graphs.pop(other, None)
            self._start_up_graphs.clear()
        if key not in self._graphs:
            if warming:
                self._start_up_graphs.add(key)
            _LOG.info("capturing a CUDA graph for input %s", key)
            try:
                self._graphs[key] = CudaGraphRunner(self._forward, batch)
            except Exception as err:  # graphs chosen by precision auto, not asked for: run on without them
                if not self._graphs_optional:
                    raise
                _LOG.warning(
                    "CUDA graph capture for input %s failed (%s: %s); running eagerly", key, type(err).__name__, err
                )
                self._graphs = None
                return self._forward(batch)
        return self._graphs[key](batch)

    def _note_coarse(self, prediction: Tensor, batch: Tensor, warming: bool) -> None:
        """Say once (the log; :attr:`coarse_map` for ``/diagnostics``) that the network's map is much coarser than
        its input: a ViT's patch grid, a stride-8 head or an export without its final upsampling is still a depth
        map, published upsampled (its edges spread over blocks of that size), not refused frame after frame. A
        start-up run's note (its nominal size) is kept unsaid and replaced by the first camera frame's (a keep-aspect
        spec runs the camera at another size), which is the one logged; a camera whose size changes later has the
        note follow its input (the log says it once)."""
        sizes = (*prediction.shape[-2:], *batch.shape[-2:])  # the note's state: map and input sizes
        if sizes == self._coarse_sizes or (warming and self._coarse_sizes is not None):  # a camera's note stays
            return
        if not warming:
            self._coarse_sizes = sizes
        map_hw = (int(prediction.shape[-2]), int(prediction.shape[-1]))
        self.coarse_map = coarse_map(map_hw, (int(batch.shape[-2]), int(batch.shape[-1]))) or ""
        if warming or not self.coarse_map or self._coarse_warned:
            return
        self._coarse_warned = True
        _LOG.warning(
            "the %s model's depth map is %s: it is upsampled to the published size, so its depth edges spread over "
            "blocks of that size; if the model has a finer output, name it in its spec (`mono-depth spec MODEL "
            "--kind KIND --input-size HxW --output NAME`) or re-export it with its final upsampling",
            self.backend.name,
            self.coarse_map,
        )

    def _staging_buffer(self, shape: tuple[int, ...]) -> Tensor | None:
        """A pinned host buffer for asynchronous uploads to CUDA, reused while the camera size stays the same."""
        if self.device.type != "cuda" or len(shape) != 3:
            return None
        if self._staging is None or tuple(self._staging.shape) != shape:
            self._staging = torch.empty(shape, dtype=torch.uint8).pin_memory()
        return self._staging

    def predict(
        self,
        image_rgb: np.ndarray,
        out_hw: tuple[int, int] | None = None,
        hints: FrameHints | None = None,
        on_device: bool = False,
    ) -> DepthResult:
        """Estimate depth (or disparity, see :attr:`DepthResult.output_kind`) for one camera image.

        On the CPU the prediction is enlarged on the host with OpenCV when it is installed
        (:func:`~.preprocess.upsample_edge_aware_host`); elsewhere on the device.

        Args:
            image_rgb: (H, W, 3) uint8 RGB.
            out_hw: (height, width) of the returned map; None for the camera's (H, W). A smaller size (the
                published resolution, ``output.downscale``) spares every later stage the camera-size work.
            hints: the camera's focal length and the paired LiDAR depth, for models that take them
                (:attr:`frame_inputs`); others ignore them.
            on_device: also return the values as a tensor on the model's device (:attr:`DepthResult.device_values`).

        Returns:
            A :class:`DepthResult` with ``out_hw`` float32 values (sky of a model with a sky output: +Inf).

        Raises:
            ShapeError: not an (H, W, 3) uint8 image, a non-positive ``out_hw``, or a ``metric_focal`` model
                without a focal length in ``hints``.
        """
        return self._predict(image_rgb, out_hw, hints, warming=False, on_device=on_device)

    def _predict(
        self,
        image_rgb: np.ndarray,
        out_hw: tuple[int, int] | None,
        hints: FrameHints | None,
        warming: bool,
        on_device: bool = False,
    ) -> DepthResult:
        start = time.perf_counter_ns()
        check_rgb_image(image_rgb)
        image_hw = (int(image_rgb.shape[0]), int(image_rgb.shape[1]))
        out_hw = image_hw if out_hw is None else (int(out_hw[0]), int(out_hw[1]))
        if min(out_hw) <= 0:
            msg = f"out_hw must be positive, got {out_hw}"
            raise ShapeError(msg)
        network_hw = self.network_hw(image_hw)
        box = input_box(self.spec.input, image_hw, network_hw)  # where the image lies in a padded input
        clock = StageClock(self.device)
        image = image_to_device(image_rgb, self.device, self._staging_buffer(image_rgb.shape))
        batch = preprocess(
            image,
            network_hw,
            self.spec.mean,
            self.spec.std,
            channels_last=self.config.channels_last,
            pad_box=None if self.spec.input.reflect_pad else box,  # reflect_pad: preprocess places it
            mode=self.spec.input.interpolation,
            reflect_pad=self.spec.input.reflect_pad,
            antialias=self.spec.input.antialias,
            pad_colour=self.spec.input.pad_colour,
        )
        seen_hw = network_hw if box is None else (box[2], box[3])  # the image's size as the network sees it
        inputs = frame_inputs(self.frame_inputs, hints, image_hw, seen_hw, self.device)
        clock.mark()
        takes: frozenset[str] = getattr(self.backend, "frame_inputs", frozenset())
        if warming and FOCAL_RATIO in takes and FOCAL_RATIO not in inputs:  # start-up runs have no camera
            inputs[FOCAL_RATIO] = torch.full((1,), NOMINAL_FOCAL_RATIO, device=self.device)
        prediction = self._run_network(batch, {name: v for name, v in inputs.items() if name in takes}, warming)
        self._note_coarse(prediction, batch, warming)
        if self.spec.output_kind.infinity_is_invalid:  # an inverse kind's +/-Inf (1/0): no depth, not the sky mark
            prediction = inf_as_nan(prediction)
        kind = self.output_kind
        self._graph_focal_kind = None
        if self.spec.output_kind is OutputKind.CANONICAL_INVERSE:
            focal_over_width = self._focal_over_width(inputs.get(FOCAL_RATIO), seen_hw, network_hw)
            prediction = metres_from_canonical_inverse(prediction, focal_over_width, warming)
            if FOCAL_RATIO not in inputs and focal_over_width is not None:  # no camera focal: the graph's made them
                self._graph_focal_kind = OutputKind.CANONICAL_INVERSE
        elif self.spec.output_kind.needs_focal:
            divisor = self.spec.metric_focal_divisor
            prediction = metres_from_metric_focal(prediction, inputs.get(FOCAL_NET), warming, divisor)
        elif self.spec.output_kind is OutputKind.METRIC and self.spec.focal_output:
            prediction = self._camera_metres(prediction, inputs.get(FOCAL_RATIO), seen_hw, network_hw)
            if FOCAL_RATIO in inputs:  # the graph's metres rescaled by camera / graph focal
                self._graph_focal_kind = OutputKind.METRIC
        elif PROMPT_DEPTH in self.frame_inputs and PROMPT_DEPTH not in inputs:
            kind = OutputKind.AFFINE_DEPTH  # unprompted: the prompt's (min, max) map is missing (up to scale, shift)
        sky = getattr(self.backend, "last_sky", None)
        window = None
        if box is not None:  # the padding is no part of the image
            sky = None if sky is None else crop_to_box(sky, box, network_hw)
            if self.spec.input.reflect_pad:  # ZoeDepth's image lies at a fractional place: read it there
                window = reflect_pad_window(image_hw, network_hw, (prediction.shape[-2], prediction.shape[-1]))
            else:
                prediction = crop_to_box(prediction, box, network_hw)
        clock.mark()
        host = None
        device_values = None
        ratio = self.config.edge_ratio
        if self.device.type == "cpu":
            host = upsample_edge_aware_host(prediction[0, 0].detach().numpy(), out_hw, ratio, window)
        if host is None:  # on the device: invalid and sky marked there, then one copy (the device path keeps both)
            device_values = upsample_edge_aware(prediction[0, 0], out_hw, ratio, window)
            if not kind.has_shift:
                device_values = torch.where(device_values > 0, device_values, torch.nan)  # non-positive depth: invalid
            if sky is not None:
                device_values = device_values.masked_fill(sky_mask_tensor(sky, out_hw), torch.inf)
            host = self._download(device_values)
        else:
            if not kind.has_shift:
                host[~(host > 0)] = np.nan  # a depth kind: non-positive is invalid
            if sky is not None:
                host[sky_mask(sky, out_hw)] = np.inf
            device_values = torch.from_numpy(host)  # the CPU: the host values are the device values
        clock.mark()
        preprocess_ms, inference_ms, postprocess_ms = clock.intervals_ms()
        timings = Timings(preprocess_ms, inference_ms, postprocess_ms, (time.perf_counter_ns() - start) / 1e6)
        return DepthResult(host, kind, network_hw, timings, device_values if on_device else None)

    def invalid_output_cause(self) -> str | None:
        """Why the last frame's map is invalid where the model runner can tell, else None: its metres were made with
        the graph's own focal length or field of view, out of range (:meth:`.OnnxBackend.focal_problem`), named with
        its value and what to check. Reads the device: for a refused frame, not every frame."""
        if self._graph_focal_kind is None:
            return None
        problem = getattr(self.backend, "focal_problem", lambda: None)()
        if problem is None:
            return None
        model = getattr(self.backend, "path", "MODEL")
        if self._graph_focal_kind is OutputKind.CANONICAL_INVERSE:
            return (
                f"{problem}: the frame has no metres; give the camera's focal length (camera_info K / P: used instead "
                f"of the graph's), or check the export and the output its spec names (`mono-depth spec {model} --kind "
                f"canonical_inverse --fov-output NAME` for a field of view in degrees, --focal-output NAME for a focal "
                f"length in pixels)"
            )
        return (
            f"{problem}, to rescale its metres to the camera's focal length by; check the export and the output its "
            f"spec names (`mono-depth spec {model} --kind metric --focal-output NAME`), or write the spec without "
            f"--focal-output to publish the graph's own metres"
        )

    def _focal_over_width(
        self, camera_ratio: Tensor | None, seen_hw: tuple[int, int], network_hw: tuple[int, int]
    ) -> Tensor | None:
        """Network input focal length along its width / that width (both in its pixels) for a ``canonical_inverse``
        output: from the camera's fx / W when known (its image spans ``seen_hw[1]`` of the ``network_hw[1]`` columns:
        less when padded; stretched, exactly the camera's ratio, as transformers' Depth Pro gets it), else from the
        graph's focal or field-of-view output (:attr:`~.onnx_model.OnnxBackend.last_focal`, in the input's pixels),
        else None."""
        if camera_ratio is not None:
            return camera_ratio if seen_hw[1] == network_hw[1] else camera_ratio * (seen_hw[1] / network_hw[1])
        graph_focal: Tensor | None = getattr(self.backend, "last_focal", None)
        return None if graph_focal is None else graph_focal / network_hw[1]

    def _camera_metres(
        self, prediction: Tensor, camera_ratio: Tensor | None, seen_hw: tuple[int, int], network_hw: tuple[int, int]
    ) -> Tensor:
        """A ``metric`` graph's metres made with its own focal (its ``focal_output``, in the input's pixels: Depth
        Pro's ``infer`` without ``f_px``) → with the camera's: ``depth · f_cam / f_graph``, both focals in the network
        input's pixels (the camera's rescaled as :meth:`_focal_over_width` does, padding included), clamped to
        Apple's 1e-4 .. 1e4 m: what ``infer(f_px=camera)`` gives. Unchanged without a camera focal (the graph's own
        metres); NaN where the graph's focal is not a positive finite length (:meth:`.OnnxBackend._focal`)."""
        graph_focal: Tensor | None = getattr(self.backend, "last_focal", None)
        camera = None if camera_ratio is None else self._focal_over_width(camera_ratio, seen_hw, network_hw)
        if camera is None or graph_focal is None:
            return prediction
        scale = (camera * network_hw[1] / graph_focal).to(prediction.dtype).reshape(-1, 1, 1, 1)
        return torch.clamp(prediction * scale, min=CANONICAL_CLAMP[0], max=CANONICAL_CLAMP[1])

    def _download(self, values: Tensor) -> np.ndarray:
        """The map on the host as a new float32 array. From CUDA: one non-blocking copy into a reused pinned buffer
        (the only wait of the frame), then a host copy of the published-size map that the caller may keep."""
        if self.device.type != "cuda":
            return values.to("cpu").numpy().astype(np.float32, copy=True)
        if self._pinned is None or tuple(self._pinned.shape) != tuple(values.shape):
            self._pinned = torch.empty(tuple(values.shape), dtype=torch.float32).pin_memory()
        self._pinned.copy_(values, non_blocking=True)
        torch.cuda.current_stream(self.device).synchronize()
        return self._pinned.numpy().copy()

    def warmup(self, image_hw: tuple[int, int] | None = None) -> None:
        """Run ``config.warmup_runs`` predictions on a blank image (compiles, autotunes, captures CUDA graphs)."""
        height, width = image_hw or (self.spec.input.height, self.spec.input.width)
        blank = np.zeros((height, width, 3), dtype=np.uint8)
        for _ in range(self.config.warmup_runs):
            self._predict(blank, None, None, warming=True)

    def self_test(self, golden: GoldenReference) -> GoldenReport:
        """Run the golden input through the chosen path and compare with the stored fp32 output.

        Raises:
            CheckpointError: beyond tolerance with ``golden_check: refuse`` (or the shapes do not match).
        """
        tolerance = self.config.golden_tolerance or DEFAULT_TOLERANCE[self.precision]
        output = self._predict(golden.image_rgb, None, None, warming=True).values
        report = compare_golden(output, golden.output.astype(np.float32), tolerance)
        where = f"{self.backend.name} backend, {self.precision}, {self.device}"
        if report.passed:
            _LOG.info("%s (%s)", report.describe(), where)
        elif self.config.golden_check == "refuse" or report.broken:  # a broken model is refused even with warn
            msg = (
                f"{report.describe()} ({where}): this backend / precision does not reproduce the reference; use "
                f"precision fp32, another backend, or golden_check: warn to run anyway"
            )
            raise CheckpointError(msg)
        else:
            _LOG.warning("%s (%s)", report.describe(), where)
        return report


def inf_as_nan(prediction: Tensor) -> Tensor:
    """``prediction`` with +/-Inf as NaN (an inverse kind's 1/0: no depth). On the CPU, ``prediction`` itself when its
    sum is finite (then no value is Inf or NaN): one reduction, 0.21 ms a 308x1036 map in ``predict`` where
    ``torch.where`` and its ``isinf`` mask took 0.63 ms (bench/RESULTS-session-notes.md, explore134); on another device
    always the ``torch.where`` (a test of the sum would wait for the device)."""
    if prediction.device.type == "cpu" and bool(torch.isfinite(prediction.sum())):
        return prediction
    return torch.where(torch.isinf(prediction), torch.nan, prediction)


def _native_bf16(device: torch.device) -> bool:
    """Whether the CUDA ``device`` computes in bf16 (Ampere and newer). ``torch.cuda.is_bf16_supported()`` alone also
    says yes where bf16 is only emulated (V100, T4, Xavier: slower than fp32), and asks about the current device."""
    with torch.cuda.device(device):
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))


def make_golden(backend: DepthBackend, image_rgb: np.ndarray | None = None) -> GoldenReference:
    """The fp32 golden reference for a backend (to store with a checkpoint or an exported model).

    Args:
        backend: the model (normally the fp32 torch backend the weights were trained in).
        image_rgb: (H, W, 3) uint8 RGB input; None: :func:`~.golden.reference_image` at the spec's nominal size.
    """
    spec = backend.spec
    image = image_rgb if image_rgb is not None else reference_image(spec.input.height, spec.input.width)
    config = EstimatorConfig(device=str(backend.device), warmup_runs=0, golden_check="off")
    estimator = DepthEstimator(backend, config)
    return GoldenReference(image_rgb=image, output=estimator._predict(image, None, None, warming=True).values)
