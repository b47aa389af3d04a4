"""Export any torch depth network to ONNX or TorchScript, with its ModelSpec (and golden reference) beside it.

Both exporters take the network as trained (its output goes through
:func:`~mono_depth_ros.models.backend.prediction_tensor`, so the exported graph returns a bare (B, 1, H, W)
tensor), trace it at one network input size and then check the result against eager torch:

* parity at the export size on random inputs (max abs diff reported);
* whether the exported model still works at another size. Networks with data-dependent sizes (the ViT of Depth
  Anything computes its patch grid with Python ints) come out fixed-size; the spec written beside the model then
  says so (``keep_aspect: false`` at the exported size), and a camera with another aspect ratio needs its own
  export (``mono-depth export --camera HxW``).

ONNX goes through ``torch.onnx.export(dynamo=True)`` (the exporter torch maintains, fully offline), falling back to
the TorchScript-based exporter when dynamo cannot handle a model, or when dynamo's graph is fixed-size (it makes a
size it cannot keep symbolic a constant: GLPN, ZoeDepth) and the TorchScript-based one runs any size. A graph is
written in a folder of its own beside the output path, and TorchScript beside it (``<path>.tmp``); either is swapped in
with its spec and golden reference only once checked, with its spec in it, and the sidecars written whole
(:func:`~.sidecar.replace_model_files`): an export interrupted (Ctrl-C after the dynamo exporter wrote its opset-18
graph for an ``--opset`` it does not write, SIGTERM while a file is saved) or refused leaves every earlier file at the
path as it was (or none), never a model beside another model's spec or golden.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import warnings
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from mono_depth_ros.core.errors import CheckpointError, ConfigError, first_line
from mono_depth_ros.models.backend import TensorOutput, TorchBackend
from mono_depth_ros.models.checkpoint import GoldenReference, write_failed
from mono_depth_ros.models.frozen_input import aspect_problem, source_input, with_source_input
from mono_depth_ros.models.golden import reference_image
from mono_depth_ros.models.inference import make_golden
from mono_depth_ros.models.onnx_model import require_onnxruntime
from mono_depth_ros.models.preprocess import network_input_size
from mono_depth_ros.models.sidecar import EMBEDDED_SPEC_KEY, replace_model_files, staging_path
from mono_depth_ros.models.spec import ModelSpec
from mono_depth_ros.models.staging import lock_staging, remove_staging, remove_stale_staging
from mono_depth_ros.models.torchscript_model import EMBEDDED_SPEC_FILE

DEFAULT_OPSET = 18
EXPORTERS = ("dynamo", "legacy")
PARITY_TOLERANCE = 1e-3
"""Max abs diff (output units) above which an export is reported as not matching eager torch, at an output up to
:data:`PARITY_RELATIVE_FROM` in size; a larger one (metres up to ``max_depth_m``) gets :data:`PARITY_RELATIVE` of
itself (see :func:`parity_tolerance`)."""
PARITY_RELATIVE = 1e-4
PARITY_RELATIVE_FROM = PARITY_TOLERANCE / PARITY_RELATIVE  # 10 output units


def parity_tolerance(expected: Tensor) -> Tensor:
    """The max abs diff allowed between an export and eager torch at each output, whose eager value is ``expected``:
    :data:`PARITY_TOLERANCE`, or :data:`PARITY_RELATIVE` × ``|expected|`` past 10 units. float32's rounding grows with
    the values (a metric unet's 34 m took 1.1e-3 m, 3.3e-5 of it, in ONNX Runtime's other summation order), so an
    absolute bound alone refused sound exports of models that predict tens of metres. Each output has its own bound:
    a far sky (10 km) does not widen the bound of the near pixels."""
    return (PARITY_RELATIVE * expected.abs()).clamp(min=PARITY_TOLERANCE)


class Parity(NamedTuple):
    """An export's outputs against eager torch's over the parity inputs, in output units."""

    max_abs_diff: float
    """Largest |exported - eager| (inf: an output of another shape, or NaN / Inf where eager torch has a number)."""
    diff: float
    """|exported - eager| at the output farthest past its bound (relative to :func:`parity_tolerance`)."""
    expected: float
    """Eager torch's value there (NaN with ``got`` NaN: an output of another shape)."""
    got: float
    """The export's value there."""

    @property
    def tolerance(self) -> float:
        """:func:`parity_tolerance` at that output."""
        return float(parity_tolerance(torch.tensor(self.expected)))

    @property
    def matches(self) -> bool:
        """Whether every output is within its bound."""
        return self.diff <= self.tolerance

    def describe(self) -> str:
        """How far off it is, for an error message."""
        if math.isnan(self.expected) and math.isnan(self.got):  # only an output of another shape
            return "in its output's shape"
        if not (math.isfinite(self.got) and math.isfinite(self.expected)):  # NaN / Inf on either side
            return f"by giving {self.got:.4g} where torch gives {self.expected:.4g}"
        return (
            f"by {self.max_abs_diff:.3g} (by {self.diff:.3g} where torch gives {self.expected:.4g}: tolerance "
            f"{self.tolerance:.3g} there, max({PARITY_TOLERANCE:g}, {PARITY_RELATIVE:g} x the output))"
        )


_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how well it matches eager torch.

    Attributes:
        path: the model file (its ``.spec.json`` and optional ``.golden.safetensors`` are beside it).
        spec: the spec written beside it (``backend`` onnx / torchscript; fixed input size when not dynamic).
        input_hw: the network input (height, width) it was traced at.
        dynamic: whether it also runs (and matches) at another input size.
        max_abs_diff: largest |exported - eager| over the parity inputs, in output units.
        exporter: ``dynamo`` | ``legacy`` (ONNX) | ``jit-trace`` (TorchScript).
    """

    path: Path
    spec: ModelSpec
    input_hw: tuple[int, int]
    dynamic: bool
    max_abs_diff: float
    exporter: str

    def describe(self) -> str:
        """One line for the CLI."""
        size = "any size" if self.dynamic else f"fixed {self.input_hw[0]}x{self.input_hw[1]}"
        if self.dynamic and not self.spec.input.keep_aspect:  # the spec's size is the one the node runs it at
            size += f", run at {self.spec.input.height}x{self.spec.input.width} by its spec"
        source = source_input(self.spec)
        if source is not None:  # a keep-aspect network frozen at one size (frozen_input; also one that runs any size)
            height, width = self.input_hw
            served = f"of aspect {width / height:.2f}"  # native_pad: a camera beyond its own bounds is resized too
            if source.native_pad:
                served = f"padded to {height}x{width} (or resized to it: aspect {width / height:.2f})"
            size += f", cameras {served} only: --camera HxW for others"
        return f"{self.path} ({self.exporter}, {size}): max abs diff vs torch {self.max_abs_diff:.3g}"


def _parity_inputs(input_hw: tuple[int, int], count: int = 2, seed: int = 0) -> list[Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 3, *input_hw, generator=generator) for _ in range(count)]


def _other_size(input_hw: tuple[int, int], spec: ModelSpec) -> tuple[int, int]:
    step = spec.input.multiple_of
    return input_hw[0] + step, input_hw[1] + 2 * step


def _max_diff(run: Callable[[Tensor], Tensor], reference: nn.Module, inputs: list[Tensor]) -> Parity:
    """``run``'s outputs against ``reference``'s over ``inputs`` (see :class:`Parity`); a NaN or Inf where the
    reference has one too counts as equal."""
    worst = Parity(0.0, 0.0, 0.0, 0.0)
    excess = 0.0  # worst.diff / worst.tolerance
    with torch.no_grad():
        for x in inputs:
            expected = reference(x).float()
            got = run(x).float()
            if got.shape != expected.shape:
                return Parity(float("inf"), float("inf"), float("nan"), float("nan"))
            same = (got == expected) | (got.isnan() & expected.isnan())
            diff = torch.where(same, 0.0, (got - expected).abs().nan_to_num(nan=float("inf")))
            ratio = (diff / parity_tolerance(expected)).nan_to_num(nan=float("inf")).flatten()  # Inf vs another Inf
            at = int(ratio.argmax())
            max_abs_diff = max(worst.max_abs_diff, float(diff.max()))
            if float(ratio[at]) > excess:
                excess = float(ratio[at])
                value, exported = float(expected.flatten()[at]), float(got.flatten()[at])
                worst = Parity(max_abs_diff, float(diff.flatten()[at]), value, exported)
            else:
                worst = worst._replace(max_abs_diff=max_abs_diff)
    return worst


def _runs_at(run: Callable[[Tensor], Tensor], reference: nn.Module, size: tuple[int, int]) -> bool:
    """Whether the exported model runs at ``size`` and matches eager torch there."""
    try:
        return _max_diff(run, reference, _parity_inputs(size, count=1, seed=1)).matches
    except Exception:  # any runtime failure at the other size means "fixed-size model"
        return False


def _exported_spec(
    spec: ModelSpec, backend: str, input_hw: tuple[int, int], dynamic: bool, policy_size: bool = False
) -> ModelSpec:
    """The spec of an export traced at ``input_hw``: the size served is the size asked for.

    A model that runs any size keeps its input policy when ``input_hw`` is the policy's own (``policy_size``: the
    size it gives a camera, ``--camera``; or the policy runs ``input_hw`` itself, the training size); otherwise a
    fixed-size policy takes ``input_hw`` as its size (the spec kept the training size, and the node ran a unet
    exported with ``--input-size 64x192`` at the 32x96 it was trained at), and a keep-aspect policy is frozen at
    ``input_hw`` as a fixed-size export is.
    """
    height, width = input_hw
    if dynamic and (policy_size or network_input_size(input_hw, spec.input) == input_hw):
        return replace(spec, backend=backend)
    if dynamic and not spec.input.keep_aspect:
        return replace(spec, backend=backend, input=replace(spec.input, height=height, width=width))
    fixed = replace(spec.input, height=height, width=width, keep_aspect=False, least_scale=False, native_floor=False)
    params = with_source_input(spec.params, spec.input) if spec.input.keep_aspect else spec.params
    return replace(spec, backend=backend, input=fixed, params=params)


def _prepare(network: nn.Module, input_hw: tuple[int, int]) -> nn.Module:
    if min(input_hw) <= 0:
        msg = f"export input size must be positive, got {input_hw}"
        raise ConfigError(msg)
    copy = deepcopy(network).to("cpu")  # the caller's network (maybe mid-training) is left as it was
    module = copy if isinstance(copy, TensorOutput) else TensorOutput(copy)
    return module.eval().requires_grad_(False)


def _check_runs(module: nn.Module, input_hw: tuple[int, int], spec: ModelSpec) -> None:
    """Refuse an input size the eager network cannot run (a ViT DPT runs square inputs only), before any exporter
    fails at it with a traceback.

    Raises:
        ConfigError: naming the size, the network's error and the spec's own input.
    """
    try:
        with torch.no_grad():
            module(torch.zeros(1, 3, *input_hw))
    except (RuntimeError, ValueError, IndexError) as err:
        detail = first_line(err)
        own = f"{spec.input.height}x{spec.input.width}" + (" keeping aspect" if spec.input.keep_aspect else "")
        msg = (
            f"the network does not run at {input_hw[0]}x{input_hw[1]} ({detail}); its own input is {own}: "
            f"export at a size it takes (leave out --input-size, or give --camera)"
        )
        raise ConfigError(msg) from None


def _export_dynamo(module: nn.Module, example: Tensor, path: Path, opset: int) -> None:
    height, width = torch.export.Dim("height", min=1), torch.export.Dim("width", min=1)
    _torch_onnx_export(
        module,
        example,
        path,
        opset,
        dynamo=True,
        external_data=False,
        dynamic_shapes={"x": {2: height, 3: width}},
        verbose=False,
    )


def _export_legacy(module: nn.Module, example: Tensor, path: Path, opset: int) -> None:
    """The TorchScript-based exporter, its error raised as it came; what it wrote at ``path`` when it fails is the
    caller's to remove (it may have written nothing there, and the file there be an earlier export)."""
    dynamic_axes = {"image": {2: "height", 3: "width"}, "prediction": {2: "height", 3: "width"}}
    _torch_onnx_export(module, example, path, opset, dynamo=False, dynamic_axes=dynamic_axes)


_TORCH_ONNX_REGISTRATION = "torch.onnx._internal.exporter._registration"
"""The logger of the dynamo exporter's op registry: without torchvision it logs one WARNING per torchvision op it
skips (``torchvision is not installed. Skipping torchvision::nms``, four lines on the first export of a process),
which read as a missing dependency; no network of this project uses a torchvision op."""


def _no_torchvision_notice(record: logging.LogRecord) -> bool:
    """False for the registry's "torchvision is not installed" lines (:data:`_TORCH_ONNX_REGISTRATION`)."""
    return not record.getMessage().startswith("torchvision is not installed")


def _torch_onnx_export(module: nn.Module, example: Tensor, path: Path, opset: int, **exporter: Any) -> None:
    """``torch.onnx.export`` with input ``image`` and output ``prediction``, its warnings silenced (and the dynamo
    exporter's torchvision notices, :data:`_TORCH_ONNX_REGISTRATION`); ``exporter``: the options of one exporter
    (dynamo or legacy)."""
    registration = logging.getLogger(_TORCH_ONNX_REGISTRATION)
    registration.addFilter(_no_torchvision_notice)
    try:
        _export_silenced(module, example, path, opset, **exporter)
    finally:
        registration.removeFilter(_no_torchvision_notice)


def _export_silenced(module: nn.Module, example: Tensor, path: Path, opset: int, **exporter: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            opset_version=opset,
            input_names=["image"],
            output_names=["prediction"],
            **exporter,
        )


def written_opset(path: Path) -> int:
    """The default-domain (``ai.onnx``) opset an ONNX file declares (0 when it declares none)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((int(entry.version) for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 0)


def _check_exporter(exporter: str) -> None:
    """Refuse an unknown exporter before anything at the output path is written or removed."""
    if exporter not in EXPORTERS:
        msg = f"unknown ONNX exporter {exporter!r}; expected one of {', '.join(EXPORTERS)}"
        raise ConfigError(msg)


def _onnx_export(
    module: nn.Module, example: Tensor, path: Path, opset: int, exporter: str, target: Path | None = None
) -> str:
    """Write the graph at ``path`` (``target``: the output path it is staged for, named in a write failure)."""
    _check_exporter(exporter)
    dynamo_error = ""
    if exporter == "dynamo":
        try:
            _export_dynamo(module, example, path, opset)
            written = written_opset(path)
        except Exception as err:  # the dynamo exporter fails in many ways: fall back, and say why
            dynamo_error = f"{type(err).__name__}: {first_line(err)}"
            _LOG.warning("dynamo ONNX export failed (%s); using the legacy exporter", dynamo_error)
        else:
            if written == opset:
                return "dynamo"
            # it writes its own opset (18) and keeps it when its down-conversion fails (a unet's Pad: 18 -> 17)
            dynamo_error = f"wrote opset {written}, not the opset {opset} asked for"
            _LOG.warning("the dynamo ONNX exporter %s; using the legacy exporter", dynamo_error)
    try:  # export_onnx removes what was written at path (the dynamo graph of another opset, a partial file)
        _export_legacy(module, example, path, opset)
    except OSError as err:  # a full disk, no permission: no other exporter writes elsewhere
        raise write_failed(target or path, err, "an earlier export there is left as it was") from None
    except Exception as err:  # torch.onnx's errors (UnsupportedOperatorError, ...): an op it has no ONNX form for
        legacy_error = f"{type(err).__name__}: {first_line(err)}"
        if dynamo_error:
            msg = f"neither ONNX exporter can export {path.name}: dynamo ({dynamo_error}), legacy ({legacy_error})"
            other = (
                f", or ask for another --opset (the dynamo exporter writes {DEFAULT_OPSET})"
                if opset != DEFAULT_OPSET
                else ""
            )
            raise CheckpointError(f"{msg}; export it with -f torchscript{other}") from None
        msg = (
            f"the legacy ONNX exporter cannot export {path.name} ({legacy_error}); use --exporter dynamo (the "
            f"default), or -f torchscript"
        )
        raise CheckpointError(msg) from None
    return "legacy"


def _golden_for(
    network: nn.Module, exported: ModelSpec, original: ModelSpec, golden: GoldenReference | None
) -> GoldenReference:
    """The golden reference to store beside an export (fp32 eager torch under the exported spec).

    A given reference is kept when the exported preprocessing treats its image as the original did; otherwise
    (a fixed-size export of a keep-aspect model) its image is re-run through the exported spec, or a reference image
    at the export's size when the export does not serve that image's aspect (:func:`.frozen_input.aspect_problem`).
    """
    torch_spec = replace(exported, backend="torch")
    if golden is None:
        image = reference_image(exported.input.height, exported.input.width)
        return make_golden(TorchBackend(network, torch_spec, torch.device("cpu")), image)
    image_hw = (int(golden.image_rgb.shape[0]), int(golden.image_rgb.shape[1]))
    if network_input_size(image_hw, exported.input) == network_input_size(image_hw, original.input):
        return golden
    image = golden.image_rgb  # the export's own aspect when the export serves no other (frozen_input)
    if aspect_problem(exported, image_hw) is not None:
        image = reference_image(exported.input.height, exported.input.width)
    return make_golden(TorchBackend(network, torch_spec, torch.device("cpu")), image)


def _embed_onnx_spec(path: Path, spec: ModelSpec) -> None:
    """Put ``spec`` in the graph's ``metadata_props``. The graph is read and saved without its external data: the
    tensors kept in ``<path>.data`` (a graph past 1.5 GB) keep their references, where loading and saving the weights
    would write them into the graph, which protobuf refuses past 2 GB."""
    try:
        import onnx
    except ImportError:
        msg = "ONNX export needs the onnx package: pip install 'mono_depth_ros[onnx]'"
        raise ConfigError(msg) from None

    model = onnx.load(str(path), load_external_data=False)
    kept = [p for p in model.metadata_props if p.key != EMBEDDED_SPEC_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = EMBEDDED_SPEC_KEY, spec.to_json()
    onnx.save(model, str(path))


def _onnx_parity(
    ort: Any, path: Path, module: nn.Module, inputs: list[Tensor], other_hw: tuple[int, int]
) -> tuple[float, bool]:
    """Max abs diff of the ONNX model at ``path`` against eager torch on ``inputs``, and whether it also runs (and
    matches) at ``other_hw``.

    Raises:
        CheckpointError: a diff exceeds :func:`parity_tolerance`.
    """
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(x: Tensor) -> Tensor:
        (out,) = session.run(None, {"image": x.numpy()})
        return torch.from_numpy(np.asarray(out))

    parity = _max_diff(run, module, inputs)
    if not parity.matches:
        msg = f"ONNX export {path} differs from torch {parity.describe()}; not usable"
        raise CheckpointError(msg)
    return parity.max_abs_diff, _runs_at(run, module, other_hw)


def _legacy_if_dynamic(
    ort: Any,
    target: Path,
    module: nn.Module,
    inputs: list[Tensor],
    other_hw: tuple[int, int],
    opset: int,
    dynamo_diff: float,
) -> tuple[float, bool, str]:
    """The legacy exporter's graph in place of the dynamo one at ``target`` when it runs at any size.

    torch's dynamo exporter makes a dimension it cannot keep symbolic a constant without a word
    (``refine_dynamic_shapes_from_suggested_fixes``): GLPN and ZoeDepth come out fixed-size, where the TorchScript-based
    exporter traces them with symbolic sizes. Returns ``(max_diff, dynamic, exporter)`` of the graph kept.
    """
    retry = target.with_name(target.name + ".legacy.tmp")
    try:
        _export_legacy(module, inputs[0], retry, opset)
        max_diff, dynamic = _onnx_parity(ort, retry, module, inputs, other_hw)
    except Exception as err:  # the legacy exporter fails in its own ways: keep the dynamo graph
        _LOG.info("legacy ONNX export for any input size failed (%s: %s)", type(err).__name__, first_line(err))
        retry.unlink(missing_ok=True)
        return dynamo_diff, False, "dynamo"
    except BaseException:  # Ctrl-C: no model-sized file left behind
        retry.unlink(missing_ok=True)
        raise
    if not dynamic:
        retry.unlink(missing_ok=True)
        return dynamo_diff, False, "dynamo"
    retry.replace(target)
    _LOG.info(
        "the dynamo ONNX export of %s is fixed-size; kept the legacy exporter's, which runs any size", target.name
    )
    return max_diff, True, "legacy"


def export_onnx(
    network: nn.Module,
    spec: ModelSpec,
    path: str | Path,
    input_hw: tuple[int, int] | None = None,
    *,
    golden: GoldenReference | None = None,
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
    policy_size: bool = False,
) -> ExportResult:
    """Export to ONNX; write ``<path>.spec.json`` (and ``<path>.golden.safetensors``) beside it.

    Args:
        network: the torch network (fp32, any device; exported from the CPU).
        spec: its spec (the copy written beside gets ``backend: onnx``).
        path: destination ``.onnx`` file.
        input_hw: network input (height, width) to trace at, and the size the written spec serves (see
            :func:`_exported_spec`); None: ``(spec.input.height, spec.input.width)``.
        policy_size: ``input_hw`` is the size the spec's input policy gives a camera (``export --camera``), not one
            asked for: an export that runs any size keeps the policy (each camera at its own size).
        golden: reference to store beside the model (e.g. the checkpoint's); None: one is made with the fp32
            network on :func:`~.golden.reference_image`.
        opset: ONNX opset.
        exporter: ``dynamo`` (``torch.onnx.export(dynamo=True)``, falling back to the legacy exporter when it
            fails, or when its graph is fixed-size and the legacy one runs any size) or ``legacy`` (the
            TorchScript-based exporter: much faster to run, deprecated upstream).

    Returns:
        The :class:`ExportResult` (parity with eager torch on random inputs).

    Raises:
        ConfigError: onnx / onnxruntime not installed, or the network does not run at ``input_hw``.
        CheckpointError: the export does not match eager torch, or cannot be written in the output folder (a
            full disk, a read-only folder: :func:`~.checkpoint.write_failed`, naming ``path``).
    """
    ort = require_onnxruntime()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    hw = input_hw or (spec.input.height, spec.input.width)
    module = _prepare(network, hw)
    _check_runs(module, hw, spec)
    inputs = _parity_inputs(hw)
    _check_exporter(exporter)  # a refused argument leaves what was at target
    # the graph is written, checked and given its spec in a folder of its own beside target (its name kept for the
    # exporters' messages), then swapped in with its sidecars (replace_model_files): Ctrl-C, a parity failure or a
    # full disk leaves every earlier file at target as it was
    remove_stale_staging(target)
    staging: Path | None = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        lock = lock_staging(staging)
    except OSError as err:  # a read-only folder, no permission: named as a graph that cannot be written there
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise write_failed(target, err, "an earlier export there is left as it was") from None
    try:
        partial = staging / target.name
        used = _onnx_export(module, inputs[0], partial, opset, exporter, target)
        max_diff, dynamic = _onnx_parity(ort, partial, module, inputs, _other_size(hw, spec))
        if used == "dynamo" and not dynamic:
            max_diff, dynamic, used = _legacy_if_dynamic(
                ort, partial, module, inputs, _other_size(hw, spec), opset, max_diff
            )
        exported = _exported_spec(spec, "onnx", hw, dynamic, policy_size or input_hw is None)
        _embed_onnx_spec(partial, exported)
        replace_model_files(target, partial, exported, _golden_for(module, exported, spec, golden))
    finally:
        failure = remove_staging(staging, lock)  # the lock file last, once closed (NFS: see remove_staging)
        if failure is not None:
            _LOG.warning("%s, this export's staging folder, could not be removed whole (%s)", staging, failure)
    return ExportResult(target, exported, hw, dynamic, max_diff, used)


def export_torchscript(
    network: nn.Module,
    spec: ModelSpec,
    path: str | Path,
    input_hw: tuple[int, int] | None = None,
    *,
    golden: GoldenReference | None = None,
    policy_size: bool = False,
) -> ExportResult:
    """Trace to TorchScript; embed the spec and write ``<path>.spec.json`` (and the golden reference) beside it.

    Args and Returns: as :func:`export_onnx` (the spec gets ``backend: torchscript``).

    Raises:
        CheckpointError: the traced model does not match eager torch. ConfigError: the network does not run at
            ``input_hw``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    hw = input_hw or (spec.input.height, spec.input.width)
    module = _prepare(network, hw)
    _check_runs(module, hw, spec)
    inputs = _parity_inputs(hw)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # trace is deprecated upstream, and traces warn about Python-int sizes
        traced = torch.jit.trace(module, (inputs[0],), check_trace=False)  # type: ignore[no-untyped-call]

    def run(x: Tensor) -> Tensor:
        out: Tensor = traced(x)
        return out

    parity = _max_diff(run, module, inputs)
    if not parity.matches:
        msg = f"TorchScript trace {target} differs from torch {parity.describe()}; not usable"
        raise CheckpointError(msg)
    dynamic = _runs_at(run, module, _other_size(hw, spec))
    exported = _exported_spec(spec, "torchscript", hw, dynamic, policy_size or input_hw is None)
    partial = staging_path(target)  # Ctrl-C / SIGTERM mid-save: every earlier file stays whole
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.save(traced, str(partial), _extra_files={EMBEDDED_SPEC_FILE: exported.to_json()})
        replace_model_files(target, partial, exported, _golden_for(module, exported, spec, golden))
    finally:
        partial.unlink(missing_ok=True)
    return ExportResult(target, exported, hw, dynamic, parity.max_abs_diff, "jit-trace")
