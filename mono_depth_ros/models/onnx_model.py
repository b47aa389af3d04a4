"""ONNX Runtime backend: an exported ``.onnx`` model with its ModelSpec beside it (see :mod:`.sidecar`).

Execution providers (``model.onnx_providers``, in order of preference): ``tensorrt`` (TensorRT, optionally fp16,
engines cached in ``model.trt_cache_dir`` so that only the first start builds them), ``cuda``, ``cpu``. Empty:
CUDA when the device is a GPU, then the CPU. A provider the installed ``onnxruntime`` lacks (TensorRT needs the
``onnxruntime-gpu`` wheel and TensorRT's libraries) is left out with a logged reason, and so is one the session
could not start; the CPU always remains. Inputs and outputs are bound to torch memory (:mod:`.onnx_binding`): on
CUDA the batch is read on the GPU and the outputs stay there, with no host round trip; ``io_binding=False`` goes
through host numpy arrays (``session.run``) instead. The model runs in the precision it was exported in (fp32 from
:mod:`.export`, or TensorRT's fp16): autocast does not apply.

Graphs with several outputs (Depth Anything 3: depth, confidence, sky): the depth output is the spec's
``output_name``, else the one named ``depth`` / ``predicted_depth``; a ``sky_output`` marks sky pixels, which the
engine publishes as +Inf; a ``focal_output`` (a focal length in the input's pixels) or a ``fov_output`` (a horizontal
field of view in degrees: transformers' Depth Pro exported, ``field_of_view``) gives the focal length that makes a
``canonical_inverse`` output metres when the camera's is not known.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mono_depth_ros.core.errors import CheckpointError, ConfigError, ShapeError
from mono_depth_ros.core.model_output import is_out_of_memory
from mono_depth_ros.models.checkpoint import (
    GoldenReference,
    checkpoint_given_for,
    is_torch_save_archive,
    training_state_remedy,
)
from mono_depth_ros.models.graph_layout import depth_map, failed_run, image_input
from mono_depth_ros.models.onnx_binding import IoBinder, as_input, binding_device, torch_dtype
from mono_depth_ros.models.onnx_external import check_external_data
from mono_depth_ros.models.sidecar import EMBEDDED_SPEC_KEY, check_unreplaced, model_stamp, read_golden, read_spec
from mono_depth_ros.models.spec import ModelSpec, OutputKind, gives_pixels

_LOG = logging.getLogger(__name__)


def require_onnxruntime() -> Any:
    """The onnxruntime module, or a ConfigError naming the package to install: onnxruntime itself first, as a node
    built with colcon has no pip distribution whose extra would bring it (``pip install 'mono_depth_ros[onnx]'``
    there fetched another copy of the package, or nothing)."""
    try:
        import onnxruntime
    except ImportError:
        msg = (
            "the onnx backend needs onnxruntime, which is not installed: pip install onnxruntime (onnxruntime-gpu for "
            "CUDA; beside ROS 2's Python as the README installs torch; where mono_depth_ros itself was installed with "
            "pip: pip install 'mono_depth_ros[onnx]')"
        )
        raise ConfigError(msg) from None
    return onnxruntime


PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
DEPTH_OUTPUT_NAMES = ("depth", "predicted_depth")
"""Output names read as the depth of a graph with several outputs whose spec names none, the first found first."""
INTEGER_TYPE = re.compile(r"tensor\(u?int(8|16|32|64)\)")
"""ONNX integer tensor types (``NodeArg.type``): a depth output of one is counts of a unit the spec does not hold."""
ABSOLUTE_KINDS = frozenset({OutputKind.METRIC, OutputKind.METRIC_FOCAL, OutputKind.CANONICAL_INVERSE})
"""Output kinds whose values are read in metres (``metric_focal``, ``canonical_inverse``: after the focal
scaling)."""
_ASPECT = (
    "a graph whose map has a size fixed at export (a resize to the export's size) runs at that size only: write its "
    "spec for it (`mono-depth spec MODEL --kind KIND --input-size HxW` at the export's size, without --keep-aspect); "
    "else re-export it returning the map of its input as (B, 1, H, W) or (B, H, W), its axes not swapped"
)


@dataclass(frozen=True)
class ProviderChoice:
    """Execution providers asked for (``model.onnx_providers``, ``model.trt_fp16``, ``model.trt_cache_dir``)."""

    order: tuple[str, ...] = ()
    trt_fp16: bool = False
    trt_cache_dir: str = ""

    def __post_init__(self) -> None:
        unknown = [name for name in self.order if name not in PROVIDER_NAMES]
        if unknown:
            msg = f"unknown ONNX execution provider(s) {unknown}; list {', '.join(PROVIDER_NAMES)} by preference"
            raise ConfigError(msg)


def depth_output_name(names: list[str]) -> str | None:
    """The depth output of a graph whose spec names none (``output_name`` empty): its only output, else the first
    of :data:`DEPTH_OUTPUT_NAMES` among ``names``; None when neither (the spec must name it: ``mono-depth spec
    --output NAME``). The loader and ``mono-depth spec`` both choose with this."""
    if len(names) == 1:
        return names[0]
    return next((candidate for candidate in DEPTH_OUTPUT_NAMES if candidate in names), None)


def provider_list(choice: ProviderChoice, available: list[str], device: torch.device) -> tuple[list[Any], list[str]]:
    """The providers to open a session with, and a reason for each one asked for but left out.

    Args:
        choice: the order asked for (empty: ``cuda`` on a GPU device, then ``cpu``).
        available: ``onnxruntime.get_available_providers()``.
        device: the model's device (its index is the providers' ``device_id``).

    Returns:
        ``(providers, reasons)``: provider names or ``(name, options)`` pairs ending with the CPU provider.
    """
    order = choice.order or (("cuda", "cpu") if device.type == "cuda" else ("cpu",))
    device_id = device.index or 0
    providers: list[Any] = []
    reasons: list[str] = []
    for short in dict.fromkeys(order):
        name = PROVIDER_NAMES[short]
        if short == "cpu":
            continue
        if name not in available:
            wheel = "TensorRT's libraries and onnxruntime-gpu" if short == "tensorrt" else "onnxruntime-gpu"
            reasons.append(f"{short}: not in this onnxruntime (has {', '.join(available)}); install {wheel}")
            continue
        options: dict[str, Any] = {"device_id": device_id}
        if short == "tensorrt":
            options["trt_fp16_enable"] = choice.trt_fp16
            if choice.trt_cache_dir:
                options["trt_engine_cache_enable"] = True
                options["trt_engine_cache_path"] = choice.trt_cache_dir
        providers.append((name, options))
    providers.append("CPUExecutionProvider")
    return providers, reasons


_MISSING_DATA = re.compile(r'External data path does not exist: "([^"]+)"')
_OUTSIDE_DATA = re.compile(r'External data path: "([^"]+)" resolved path: "[^"]*" allowed directory: "([^"]+)"')
"""ONNX Runtime 1.24 and later: external data is read only from the folder of the graph's real file (a graph linked
alone into another folder, or a data file linking out of it)."""
_NEWER_OPSET = re.compile(r"Opset (\d+) is under development.*?support for domain (\S+) is till opset (\d+)", re.DOTALL)
_NEWER_IR = re.compile(r"Unsupported model IR version: (\d+), max supported IR version: (\d+)")
"""ONNX Runtime's words for a graph newer than it reads: an opset past the last it supports, an IR version past its
own (a model exported with a newer torch / onnx, run with an older onnxruntime: a Jetson's)."""


def directory_given(path: Path, what: str) -> str:
    """The refusal of a directory ``path`` given as ``what`` where an ``.onnx`` file is wanted, naming the graphs in
    it and in its ``onnx/`` folder (a Hugging Face repository of ONNX exports, onnx-community's: ``onnx/model.onnx``,
    ``model_fp16.onnx``, ``model_quantized.onnx``, ...) and the one to pass (``model.onnx`` where there is one)."""
    found = sorted(str(graph.relative_to(path)) for graph in [*path.glob("*.onnx"), *path.glob("onnx/*.onnx")])
    msg = f"{what} {path} is a directory (holding {found}); pass the .onnx file itself"
    if found:
        plain = [name for name in found if Path(name).name == "model.onnx"]
        msg += f": {path / (plain or found)[0]}" + (", or another of them" if len(found) > 1 else "")
    return msg


def load_error(path: Path, err: Exception) -> CheckpointError:
    """Why ONNX Runtime could not open ``path`` (its exception ``err``), with the remedy: a PyTorch file given for
    ONNX, the external data file (weights kept beside large graphs) missing, or outside the folder of the graph's real
    file (a graph linked alone into another folder), a file cut short (to copy again), or a graph to re-export."""
    if path.is_file() and is_torch_save_archive(path) and (remedy := training_state_remedy(path)):
        return CheckpointError(remedy)
    if given := checkpoint_given_for(path, "onnx"):
        return CheckpointError(given)
    with path.open("rb") as handle:
        prefix = handle.read(4)
    if prefix.startswith(b"PK\x03\x04") or prefix[:1] == b"\x80":  # torch.save zip / TorchScript / pickle
        msg = f"{path} is a PyTorch file (torch.save or TorchScript), not ONNX; "
        msg += "export it with `mono-depth export WEIGHTS --out DIR -f onnx`, or use model.backend: torchscript for "
        msg += "TorchScript"
        return CheckpointError(msg)
    missing = _MISSING_DATA.search(str(err))
    if missing is not None:
        data = Path(missing.group(1))
        msg = (
            f"{path} keeps its weights in the external data file {data.name}, which is not beside it ({data} does "
            f"not exist); put the file it was published with beside {path.name} (same folder, same name)"
        )
        return CheckpointError(msg)
    outside = _OUTSIDE_DATA.search(str(err))
    if outside is not None:
        location, allowed = outside.groups()
        msg = (
            f"{path} keeps its weights in the external data file {location}, which ONNX Runtime reads only from "
            f"{allowed}, the folder of the graph's real file {path.resolve()}; give model.weights that path, or link "
            f"the whole folder rather than the graph alone (the data file, or a link to it, in that folder)"
        )
        return CheckpointError(msg)
    newer = _newer_than_onnxruntime(path, str(err))
    if newer is not None:
        return CheckpointError(newer)
    if "INVALID_PROTOBUF" in str(err):  # onnxruntime's code for a file protobuf cannot parse to its end
        msg = (
            f"ONNX Runtime cannot load {path}: not a whole ONNX model (protobuf parsing failed: cut short in a copy "
            f"or download, or not ONNX at all); copy it again from where it was exported, or re-export the model"
        )
        return CheckpointError(msg)
    return CheckpointError(f"ONNX Runtime cannot load {path}: {type(err).__name__}: {err}; re-export the model")


def _newer_than_onnxruntime(path: Path, message: str) -> str | None:
    """What to do about a graph stamped with an opset or IR version newer than the installed onnxruntime reads (its
    error ``message``), naming both; None for another error."""
    import onnxruntime

    version = getattr(onnxruntime, "__version__", "?")
    opset = _NEWER_OPSET.search(message)
    if opset is not None:
        stamped, domain, supported = opset.groups()
        domain = domain.rstrip(".")
        # torch.onnx.export's opset_version stamps the default domain only; another's (ai.onnx.ml, com.microsoft)
        # comes from the tool that wrote its operators
        export = (
            f"at opset {supported} or lower (torch.onnx.export(..., opset_version={supported}))"
            if domain in ("ai.onnx", "")
            else f"with that domain's operators at opset {supported} or lower (by the tool that wrote them)"
        )
        return (
            f"ONNX Runtime {version} cannot load {path}: the graph is stamped opset {stamped} of {domain}, and this "
            f"onnxruntime supports up to opset {supported}; upgrade onnxruntime (pip install -U onnxruntime, or "
            f"onnxruntime-gpu), or re-export the model {export}"
        )
    ir_version = _NEWER_IR.search(message)
    if ir_version is not None:
        stamped, supported = ir_version.groups()
        return (
            f"ONNX Runtime {version} cannot load {path}: the graph is of ONNX IR version {stamped}, and this "
            f"onnxruntime reads up to IR version {supported} (a model saved by a newer onnx / torch); upgrade "
            f"onnxruntime (pip install -U onnxruntime, or onnxruntime-gpu), or re-export the model with the onnx "
            f"and torch versions beside this onnxruntime"
        )
    return None


class OnnxBackend:
    """An ONNX model in an ONNX Runtime session.

    Args:
        path: the ``.onnx`` file (its ``.spec.json`` beside it, or the spec in its metadata).
        device: ``cpu`` or ``cuda[:N]`` (CUDA needs the CUDA execution provider).
        cpu_threads: intra-op threads (None: ONNX Runtime's default, one per core).
        providers: execution providers asked for (see :class:`ProviderChoice`).
        io_binding: bind the input and outputs to torch memory (:class:`~.onnx_binding.IoBinder`); False:
            ``session.run`` on host numpy arrays.

    Attributes:
        image_input: the graph's image input (:mod:`.graph_layout`: NCHW, NHWC or without the batch axis; fixed
            sizes).
        fallbacks: why each provider asked for is not in use (empty when all are).
        last_sky: (B, 1, h, w) bool sky mask of the last :meth:`infer` (None without a sky output).
        last_focal: (B,) float32 focal length of the last :meth:`infer`'s input along its width, in its pixels (the
            spec's ``focal_output``, or ``0.5 w / tan(fov / 2)`` from its ``fov_output``; None without either).
        last_focal_output: (B,) float32 values of that output as the graph gave them (pixels, or degrees of field
            of view), for :meth:`focal_problem`; None without either.
        binder: the I/O binding in use (None with ``io_binding=False``).

    Raises:
        CheckpointError: missing or unreadable model, external data outside its folder
            (:func:`~.onnx_external.check_external_data`), no spec, spec for another backend, a model without one RGB
            image input (:func:`~.graph_layout.image_input`), a spec whose input size the graph does not take, or
            an integer depth output under a metric / metric_focal spec (:func:`integer_depth_problem`), a spec's
            ``focal_output`` / ``fov_output`` that the graph lacks.
        ConfigError: onnxruntime missing.
    """

    name = "onnx"
    torch_native = False

    def __init__(
        self,
        path: str | Path,
        device: torch.device,
        cpu_threads: int | None = None,
        providers: ProviderChoice | tuple[str, ...] = (),
        io_binding: bool = True,
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise CheckpointError(directory_given(self.path, "model.weights"))
        if not self.path.is_file():
            msg = f"ONNX model {self.path} does not exist; export one with "
            msg += "`mono-depth export WEIGHTS --out DIR -f onnx`"
            raise CheckpointError(msg)
        ort = require_onnxruntime()
        check_external_data(self.path)
        options = ort.SessionOptions()
        if cpu_threads is not None:
            options.intra_op_num_threads = int(cpu_threads)
        # Idle ONNX Runtime workers spin by default and starve torch's pre/post-processing threads (measured: the
        # edge-aware upsampling went from 0.5 ms to 40-130 ms); let them sleep between runs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        choice = providers if isinstance(providers, ProviderChoice) else ProviderChoice(tuple(providers))
        self.fallbacks: list[str] = []
        stamp = model_stamp(self.path)  # the spec and golden read below are this model's (check_unreplaced)
        self.session = self._open(ort, options, device, choice)
        self.device = device  # outputs go where the caller works, whichever provider ran the model
        embedded = self.session.get_modelmeta().custom_metadata_map.get(EMBEDDED_SPEC_KEY)
        self.spec: ModelSpec = read_spec(self.path, "onnx", embedded)
        self.golden: GoldenReference | None = read_golden(self.path, self.spec)
        check_unreplaced(self.path, stamp, model_stamp)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            shapes = [(i.name, i.shape) for i in inputs]
            msg = (
                f"ONNX model {self.path} must take one RGB image input, it takes {shapes}; re-export it with the "
                f"other inputs fixed inside the graph"
            )
            raise CheckpointError(msg)
        self.image_input = image_input(str(inputs[0].name), list(inputs[0].shape or []), f"ONNX model {self.path}")
        policy = self.spec.input
        problem = self.image_input.size_problem(policy.height, policy.width, policy.keep_aspect)
        if problem is not None:
            msg = f"ONNX model {self.path}: {problem}"
            raise CheckpointError(msg)
        self._input_name = self.image_input.name
        self._input_dtype = torch_dtype(str(inputs[0].type), f"input {self._input_name!r}")
        self.input_type = str(self._input_dtype).removeprefix("torch.")  # for messages: the graph's own precision
        if not self._input_dtype.is_floating_point and not gives_pixels(self.spec.mean, self.spec.std):
            msg = (
                f"ONNX model {self.path} takes {inputs[0].type} pixels, but its spec normalises to mean "
                f"{self.spec.mean}, std {self.spec.std}; write it with `mono-depth spec` --mean 0,0,0 --std "
                f"{1 / 255},{1 / 255},{1 / 255} so that the graph gets 0..255"
            )
            raise CheckpointError(msg)
        names = [str(output.name) for output in outputs]
        self._output_name = self._choose_output(names)
        self._check_unit(str(outputs[names.index(self._output_name)].type))
        self._sky_name = self.spec.sky_output or None
        if self._sky_name is not None and self._sky_name not in names:
            msg = f"ONNX model {self.path} has no output {self._sky_name!r} (sky_output of its spec); outputs: {names}"
            raise CheckpointError(msg)
        self._focal_field = "fov_output" if self.spec.fov_output else "focal_output"
        self._focal_name = self.spec.fov_output or self.spec.focal_output or None
        if self._focal_name is not None and self._focal_name not in names:
            msg = (
                f"ONNX model {self.path} has no output {self._focal_name!r} ({self._focal_field} of its spec); "
                f"outputs: {names}; name the output of the focal length in pixels (`mono-depth spec {self.path} --kind "
                f"canonical_inverse --focal-output NAME`) or of the field of view in degrees (--fov-output NAME: "
                f"transformers' Depth Pro exported, field_of_view), or leave it out to use the camera's"
            )
            raise CheckpointError(msg)
        self.last_sky: Tensor | None = None
        self.last_focal: Tensor | None = None
        self.last_focal_output: Tensor | None = None
        self.fixed_input_hw: tuple[int, int] | None = self.image_input.fixed_hw
        self._wanted = [self._output_name]
        self._wanted += [name for name in (self._sky_name, self._focal_name) if name is not None]
        self._what = f"ONNX model {self.path.name} output {self._output_name!r}"  # depth_map's error messages
        self._sky_what = f"ONNX model {self.path.name} output {self._sky_name!r}"
        self._remedy = (
            f"name the output that holds the depth alone in its spec (`mono-depth spec {self.path} --kind KIND "
            f"--output NAME`; outputs: {names}), or re-export the graph returning the depth channel alone"
        )
        self._sky_remedy = (
            f"name the output that holds the sky alone in its spec (`mono-depth spec {self.path} --kind KIND "
            f"--output {self._output_name} --sky-output NAME`; outputs: {names}), or re-export the graph returning "
            f"the sky channel alone"
        )
        self.binder: IoBinder | None = None
        if io_binding:
            where = binding_device(list(self.session.get_providers()), device)
            self.binder = IoBinder(self.session, self._input_name, self._wanted, where)

    @property
    def uses_cuda(self) -> bool:
        """Whether the session runs on the CUDA execution provider."""
        return "CUDAExecutionProvider" in self.session.get_providers()

    def _choose_output(self, names: list[str]) -> str:
        """The depth output: the spec's ``output_name``, the only output, or one named like a depth output."""
        wanted = self.spec.output_name
        if wanted:
            if wanted not in names:
                msg = f"ONNX model {self.path} has no output {wanted!r} (output_name of its spec); outputs: {names}"
                raise CheckpointError(msg)
            return wanted
        chosen = depth_output_name(names)
        if chosen is not None:
            return chosen
        msg = (
            f"ONNX model {self.path} has outputs {names}; say which holds the depth: "
            f"`mono-depth spec {self.path} --kind KIND --output NAME ...`"
        )
        raise CheckpointError(msg)

    def _check_unit(self, output_type: str) -> None:
        """Refuse an integer depth output under a spec of an absolute kind (:func:`integer_depth_problem`)."""
        fix = f"write its spec with `mono-depth spec {self.path} --kind depth_up_to_scale` (and its other options)"
        problem = integer_depth_problem(output_type, self.spec.output_kind, "its spec says", fix)
        if problem is not None:
            msg = f"ONNX model {self.path} output {self._output_name!r} is {problem}"
            raise CheckpointError(msg)

    def _open(self, ort: Any, options: Any, device: torch.device, choice: ProviderChoice) -> Any:
        providers, self.fallbacks = provider_list(choice, list(ort.get_available_providers()), device)
        try:
            session = ort.InferenceSession(str(self.path), sess_options=options, providers=providers)
        except Exception as err:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) derive from Exception only
            raise load_error(self.path, err) from None
        active = set(session.get_providers())
        for provider in providers[:-1]:  # asked for and available, but the session could not start it
            if provider[0] not in active:
                self.fallbacks.append(f"{provider[0]}: failed to start (see onnxruntime's log above)")
        for reason in self.fallbacks:
            _LOG.warning("ONNX Runtime provider left out for %s, %s; running on %s", self.path.name, reason, active)
        return session

    def infer(self, batch: Tensor) -> Tensor:
        """(B, 3, h, w) float32 normalised RGB -> (B, 1, h, w) float32 prediction on ``self.device``.

        The batch goes in the graph's layout (:attr:`image_input`: NHWC, or without the batch axis for B = 1).
        With I/O binding a float32 output on ``self.device`` is returned in its reused buffer: it is overwritten by
        the next call (copy it to keep it).

        Raises:
            ShapeError: the input size differs from a fixed-size model's, or an output is not one map per image
                (:func:`~.graph_layout.depth_map`, naming the output and the spec to write).
            CheckpointError: ONNX Runtime failed to run the graph (:func:`~.graph_layout.failed_run`; out of
                memory is re-raised as it came).
        """
        if self.fixed_input_hw is not None and tuple(batch.shape[-2:]) != self.fixed_input_hw:
            msg = f"ONNX model {self.path.name} was exported for {self.fixed_input_hw}, got {tuple(batch.shape[-2:])}"
            raise ShapeError(msg)
        if self.image_input.layout in ("CHW", "HWC") and batch.shape[0] != 1:
            layout = self.image_input.layout
            msg = f"ONNX model {self.path.name} takes one image ({layout}), got a batch of {batch.shape[0]}"
            raise ShapeError(msg)
        try:
            outputs = self._run(self.image_input.arrange(batch))
        except Exception as err:
            if is_out_of_memory(err) or not _onnxruntime_error(err):
                raise
            raise failed_run(f"ONNX model {self.path.name}", tuple(batch.shape), err) from err
        batch_size = int(batch.shape[0])
        input_hw = (int(batch.shape[-2]), int(batch.shape[-1]))
        result = depth_map(outputs[0], batch_size, self._what, self._remedy, input_hw, _ASPECT)
        if self._sky_name is not None:
            sky = depth_map(outputs[1], batch_size, self._sky_what, self._sky_remedy, input_hw, _ASPECT)
            self.last_sky = (sky > self.spec.sky_threshold).to(self.device)
        if self._focal_name is not None:
            self.last_focal_output, self.last_focal = self._focal(outputs[-1], batch_size, input_hw[1])
        return result.to(self.device)

    def focal_problem(self) -> str | None:
        """What is wrong with the last :meth:`infer`'s focal or field-of-view output, naming it and its value (the
        first image's out of range), or None when every image's is a focal length (or there is none). Reads the
        values on the host: a failed frame's cost, not every frame's."""
        if self.last_focal is None or self.last_focal_output is None:
            return None
        bad = ~torch.isfinite(self.last_focal)
        if not bool(bad.any()):
            return None
        value = float(self.last_focal_output[bad][0])
        fov = self._focal_field == "fov_output"
        given = f"{value:g}°" if fov else f"{value:g} px"
        wanted = "a field of view in degrees (0 < fov < 180)" if fov else "a focal length in pixels (finite, > 0)"
        return (
            f"ONNX model {self.path.name} output {self._focal_name!r} ({self._focal_field} of its spec) is {given} "
            f"for this frame, not {wanted}"
        )

    def _focal(self, output: Tensor, batch_size: int, width: int) -> tuple[Tensor, Tensor]:
        """(B,) float32 values of the focal or field-of-view output (a scalar, (B,), (B, 1): one per image) as
        given, and (B,) float32 focal lengths in pixels of the ``width``-wide input from them, both on
        ``self.device``. A field of view ``fov`` (degrees, horizontal: of the whole input) is the focal
        ``0.5 width / tan(fov / 2)``, as transformers' post-processing takes it. A focal that is not a positive
        finite length, or a field of view off 0 < fov < 180, is NaN, so its image's depth is invalid rather than the
        clamp's bounds of :func:`~.frame_inputs.metres_from_canonical_inverse` everywhere (0.1 mm or 10 km).

        Raises:
            ShapeError: another number of values than one (for all) or one per image.
        """
        values = output.reshape(-1)
        fov = self._focal_field == "fov_output"
        if values.numel() not in (1, batch_size):
            what = "field of view" if fov else "focal length"
            remedy = (
                f"`mono-depth spec {self.path} --kind canonical_inverse --fov-output NAME`"
                if fov
                else f"`mono-depth spec {self.path} --kind canonical_inverse --focal-output NAME`"
            )
            msg = (
                f"ONNX model {self.path.name} output {self._focal_name!r} ({self._focal_field} of its spec) holds "
                f"{values.numel()} values for {batch_size} image(s): not one {what} per image; name the output "
                f"of the {what} in its spec ({remedy})"
            )
            raise ShapeError(msg)
        given = values.to(device=self.device, dtype=torch.float32).expand(batch_size)
        value = given
        if fov:  # degrees of the whole input's width; tan of a half angle in (0, 90) is positive and finite
            valid = torch.isfinite(value) & (value > 0) & (value < 180)
            value = 0.5 * width / torch.tan(torch.deg2rad(value) * 0.5)
            valid &= torch.isfinite(value)  # a field of view of 1e-38 degrees: an infinite focal
        else:
            valid = torch.isfinite(value) & (value > 0)
        return given, torch.where(valid, value, torch.nan)  # on the device: no wait

    def _run(self, batch: Tensor) -> list[Tensor]:
        """The wanted outputs (depth, then sky and focal or field of view if any) for ``batch`` (in the graph's
        layout), bound or through host arrays."""
        if self.binder is not None:
            return self.binder.run(batch)
        host = as_input(batch, self._input_dtype, torch.device("cpu")).numpy()  # an fp16 graph takes fp16
        return [torch.from_numpy(np.asarray(out)) for out in self.session.run(self._wanted, {self._input_name: host})]


def integer_depth_problem(output_type: str, kind: OutputKind, stated: str, spec_fix: str) -> str | None:
    """What is wrong with a depth output of ONNX type ``output_type`` (``tensor(int32)``, ``tensor(uint16)``:
    millimetres, as some exports for embedded targets give) read as ``kind``, or None when nothing is: integer
    counts carry no unit the spec could hold, and read as metres (``metric``, ``metric_focal``) they would be
    published 1000x off; a relative kind's unknown scale absorbs the unit.

    Args:
        output_type: the output's ``NodeArg.type``.
        kind: the output kind declared for it.
        stated: who declared it, for the message (``its spec says``, ``--kind says``).
        spec_fix: how to declare it depth up to scale where the caller is (the spec command, or the spec to write).
    """
    if not INTEGER_TYPE.fullmatch(output_type) or kind not in ABSOLUTE_KINDS:
        return None
    return (
        f"{output_type}, and {stated} {kind.value}: integer counts carry no unit (millimetres would be published as "
        f"metres, 1000x off); re-export the graph with a float output in metres (a Cast to float and, for "
        f"millimetres, a Div by 1000 at its end), or {spec_fix} for scale recovery to fit the unit"
    )


def _onnxruntime_error(err: Exception) -> bool:
    """Whether ONNX Runtime raised ``err`` running a graph: a RuntimeError from an I/O-bound run, one of its own
    types (``onnxruntime...Fail``, ``InvalidArgument``: Exception subclasses) from ``session.run``."""
    return isinstance(err, RuntimeError) or type(err).__module__.startswith("onnxruntime")
