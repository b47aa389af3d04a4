"""TorchScript backend: a traced ``.pt`` model with its ModelSpec beside it (see :mod:`.sidecar`).

TorchScript is deprecated upstream in favour of ``torch.export``, but it is still what C++ / older deployments load
(libtorch, Torch-TensorRT), so the project exports and reads it. A traced model runs under ``torch.autocast`` like an
eager one. The archive holds TorchScript code and tensors, never Python pickles of arbitrary objects; the spec is
also embedded as the extra file ``mono_depth_spec.json``.

TorchScript code is a program, and ``torch.jit.load`` runs part of it (a class's ``__setstate__``) before any frame:
TorchScript's own ops can write files (``torch.save``, ``torch.from_file(..., shared=True)``) or talk to other
processes (``c10d`` / ``rpc``). :func:`check_script_code` reads the archive's code first and refuses such a module;
a trace of a depth network never calls them.
"""

from __future__ import annotations

import logging
import re
import warnings
import zipfile
from pathlib import Path

import torch
from torch import Tensor

from mono_depth_ros.core.errors import CheckpointError, ShapeError, first_line
from mono_depth_ros.core.model_output import is_out_of_memory
from mono_depth_ros.models.checkpoint import (
    PICKLE_REMEDY,
    GoldenReference,
    checkpoint_given_for,
    is_torch_save_archive,
    training_state_remedy,
)
from mono_depth_ros.models.graph_layout import depth_map, failed_run
from mono_depth_ros.models.onnx_model import DEPTH_OUTPUT_NAMES, integer_depth_problem
from mono_depth_ros.models.sidecar import EMBEDDED_SPEC_KEY, check_unreplaced, file_stamp, read_golden, read_spec
from mono_depth_ros.models.spec import ModelSpec

EMBEDDED_SPEC_FILE = EMBEDDED_SPEC_KEY + ".json"
_LOG = logging.getLogger(__name__)

_OUTSIDE_EFFECTS = re.compile(
    r"\b(save|from_file|read_file|write_file|torchaudio|c10d|_c10d_functional|rpc_sync|rpc_async|rpc_remote)\b"
)
"""TorchScript ops that reach outside the process: aten::save writes a file, aten::from_file creates and maps one
(writable when shared), torchvision.io's image::read_file / write_file and torchaudio's ops read and write files
when those libraries are imported, c10d / rpc ops talk to other processes. Serialised TorchScript code names every
op it calls (``torch.save(...)``, ``ops.image.write_file(...)``), so a word match over its code files finds them."""
_MAX_CODE_BYTES = 256 * 2**20
"""Largest TorchScript code file read (a large ViT's is a few MB): more is refused, not decompressed."""


def check_script_code(path: Path) -> None:
    """Refuse a TorchScript archive whose code calls an op with effects outside the process, before loading it.

    Every ``.py`` entry of the zip (the TorchScript source ``torch.jit.load`` compiles, ``__setstate__`` included)
    is read and searched for :data:`_OUTSIDE_EFFECTS`; nothing is compiled or run.

    Raises:
        CheckpointError: naming the archive, the op, the code file and the remedy (an ONNX export, or a trace made
            from the model's source).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            for entry in archive.infolist():
                if not entry.filename.endswith(".py"):
                    continue
                if entry.file_size > _MAX_CODE_BYTES:
                    msg = f"{path}: TorchScript code {entry.filename} is {entry.file_size} bytes; re-export the model"
                    raise CheckpointError(msg)
                text = archive.read(entry).decode("utf-8", errors="replace")
                found = _OUTSIDE_EFFECTS.search(text)
                if found is not None:
                    msg = (
                        f"{path} holds TorchScript code that calls {found.group(1)} ({entry.filename}): loading it "
                        f"would run that code with this process's rights (writing files or talking to other "
                        f"processes), so it is refused; export the model to ONNX where its source lives "
                        f"(torch.onnx.export, or `mono-depth export WEIGHTS --out DIR -f onnx`) and run it with "
                        f"model.backend: onnx, or re-trace it with torch.jit.trace from its source"
                    )
                    raise CheckpointError(msg)
    except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as err:
        msg = f"{path} is not a readable TorchScript archive ({err}); re-export the model"
        raise CheckpointError(msg) from None


class TorchScriptBackend:
    """A TorchScript module on a device.

    Args:
        path: the ``.pt`` file written by :func:`~mono_depth_ros.models.export.export_torchscript`.
        device: where it runs.

    Attributes:
        input_dtype: the dtype of the module's first floating parameter (float32 without any): what it is fed.

    Raises:
        CheckpointError: missing file, not a TorchScript archive (e.g. a safetensors or pickle file), no spec, or a
            spec for another backend.
    """

    name = "torchscript"
    torch_native = True
    fixed_input_hw: tuple[int, int] | None = None

    def __init__(self, path: str | Path, device: torch.device) -> None:
        self.path = Path(path)
        self.device = device
        if self.path.is_dir():
            found = sorted(p.name for p in self.path.iterdir() if p.suffix in (".pt", ".pth", ".ts", ".jit"))
            msg = f"model.weights {self.path} is a directory (holding {found}); pass the TorchScript .pt file itself"
            raise CheckpointError(msg)
        if not self.path.is_file():
            msg = f"TorchScript model {self.path} does not exist; export one with "
            msg += "`mono-depth export WEIGHTS --out DIR -f torchscript`"
            raise CheckpointError(msg)
        if not zipfile.is_zipfile(self.path):
            if given := checkpoint_given_for(self.path, "torchscript"):
                raise CheckpointError(given)
            if self.path.suffix.lower() == ".onnx" or _starts_like_onnx(self.path):
                msg = f"{self.path} is an ONNX model, not TorchScript; set model.backend: onnx for it"
                raise CheckpointError(msg)
            if _starts_like_zip(self.path):  # a zip's first entry, without the directory at its end
                msg = (
                    f"{self.path} is a zip archive cut short (its directory at the end is missing: truncated in a "
                    f"copy or download); copy it again from where it was exported, or re-export the model"
                )
                raise CheckpointError(msg)
            msg = f"{self.path} is not a TorchScript archive (not a zip); pass the .pt written by mono-depth export"
            raise CheckpointError(msg)
        if is_torch_save_archive(self.path) and (remedy := training_state_remedy(self.path)):
            msg = f"{remedy}, or exported to TorchScript by mono-depth export"
            raise CheckpointError(msg)
        if is_torch_save_archive(self.path):
            msg = (
                f"{self.path} is a torch.save pickle (a state dict or pickled model), not TorchScript: pickles are "
                f"never loaded; export the model with `mono-depth export WEIGHTS --out DIR -f torchscript`, or "
                f"{PICKLE_REMEDY}"
            )
            raise CheckpointError(msg)
        stamp = file_stamp(self.path)  # the spec and golden read below are this module's (check_unreplaced)
        check_script_code(self.path)
        extra = {EMBEDDED_SPEC_FILE: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.module = torch.jit.load(  # type: ignore[no-untyped-call]
                    str(self.path), map_location=device, _extra_files=extra
                )
        except (RuntimeError, ValueError, OSError) as err:
            msg = f"torch.jit.load cannot read {self.path} ({first_line(err)}); re-export the model"
            raise CheckpointError(msg) from None
        self.module.eval()
        floating = [t.dtype for t in (*self.module.parameters(), *self.module.buffers()) if t.is_floating_point()]
        self.input_dtype: torch.dtype = floating[0] if floating else torch.float32
        raw = extra.get(EMBEDDED_SPEC_FILE) or b""
        embedded = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        self.spec: ModelSpec = read_spec(self.path, "torchscript", embedded or None)
        self.golden: GoldenReference | None = read_golden(self.path, self.spec)
        check_unreplaced(self.path, stamp)
        self._warned_first = False

    def infer(self, batch: Tensor) -> Tensor:
        """(B, 3, h, w) float32 normalised RGB -> (B, 1, h, w) float32 prediction on ``self.device``.

        The batch goes in as :attr:`input_dtype` outside autocast (a module traced in half precision takes half).
        The module may return the prediction as (B, 1, h, w), (B, h, w), (B, h, w, 1) or, for a batch of one,
        (h, w) (:func:`~.graph_layout.depth_map`), in a tuple (at the position the spec's ``output_name`` gives, else
        first, said once in a warning), or in a dict under ``output_name`` (else ``depth`` / ``predicted_depth``, or
        its only entry).

        Raises:
            ShapeError: the module returned no depth tensor, or one that is not one map per image
                (:func:`~.graph_layout.depth_map`: two maps stacked for one image are no batch of two).
            CheckpointError: the module failed to run (:func:`~.graph_layout.failed_run`; out of memory is
                re-raised as it came), or returned an integer depth under a metric / metric_focal spec
                (:meth:`_check_unit`).
        """
        if batch.dtype != self.input_dtype and not torch.is_autocast_enabled(batch.device.type):
            batch = batch.to(self.input_dtype)  # a module traced in half precision takes half
        try:
            with torch.no_grad():
                returned = self.module(batch)
        except RuntimeError as err:
            if is_out_of_memory(err):
                raise
            raise failed_run(f"TorchScript model {self.path.name}", tuple(batch.shape), err) from err
        out = self._depth_of(returned)
        remedy = (
            "expected a (B, 1, H, W) or (B, H, W) tensor, a tuple with one (at the spec's output_name position, else "
            "first), or a dict with it under the spec's output_name or 'depth' / 'predicted_depth': trace a module "
            f"that returns the depth alone or beside the other maps (`mono-depth spec {self.path} --kind KIND "
            "--input-size HxW --output N|KEY`)"
        )
        if out is None:
            msg = f"TorchScript model {self.path.name} returned {type(returned).__name__}; {remedy}"
            raise ShapeError(msg)
        self._check_unit(out)
        input_hw = (int(batch.shape[-2]), int(batch.shape[-1]))
        aspect = (
            "the engine gives the module (B, 3, H, W) float RGB normalised as its spec says (a module traced for "
            "(B, H, W, 3) reads it permuted): trace one that takes that and returns the map of its "
            "input, its axes not swapped"
        )
        name = f"TorchScript model {self.path.name}'s depth"
        return depth_map(out, int(batch.shape[0]), name, remedy, input_hw, aspect)

    def _check_unit(self, depth: Tensor) -> None:
        """Refuse an integer depth tensor under a spec of an absolute kind (:func:`~.onnx_model.integer_depth_problem`:
        millimetres read as metres). A module's output type is known only when it runs: the start-up run (warm-up)
        finds it, else the first frame.

        Raises:
            CheckpointError: naming the dtype, the spec's kind and the remedies.
        """
        if depth.dtype.is_floating_point:
            return
        dtype = f"tensor({str(depth.dtype).removeprefix('torch.')})"
        fix = f"write its spec with `mono-depth spec {self.path} --kind depth_up_to_scale` (and its other options)"
        problem = integer_depth_problem(dtype, self.spec.output_kind, "its spec says", fix)
        if problem is not None:
            msg = f"TorchScript model {self.path}'s depth is {problem}"
            raise CheckpointError(msg)

    def _depth_of(self, returned: object) -> Tensor | None:
        """The depth tensor in what the module returned: itself, a tuple's item at the spec's ``output_name`` when
        that is a position (else its first item), a dict's depth entry.

        Raises:
            ShapeError: a tuple of tensors with an ``output_name`` that is not one of its positions.
        """
        name = self.spec.output_name
        if isinstance(returned, tuple | list) and returned:
            items = len(returned)
            if name.isdigit() and int(name) < items:
                return returned[int(name)] if isinstance(returned[int(name)], Tensor) else None
            if name and not isinstance(returned[0], dict):
                msg = (
                    f"TorchScript model {self.path.name} returns a tuple of {items}, which has no item "
                    f"{name!r} (the spec's output_name): say where the depth is with --output 0..{items - 1}"
                )
                raise ShapeError(msg)
            self._warn_first_of(returned)
            returned = returned[0]
        if isinstance(returned, dict):
            names = [self.spec.output_name] if self.spec.output_name else list(DEPTH_OUTPUT_NAMES)
            found = [returned[name] for name in names if name in returned]
            returned = found[0] if found else (next(iter(returned.values())) if len(returned) == 1 else None)
        return returned if isinstance(returned, Tensor) else None

    def _warn_first_of(self, returned: tuple[object, ...] | list[object]) -> None:
        """Say once that the first of several tensors is taken as the depth (no ``output_name`` in the spec): the
        module's items have no names, and a confidence or normals first would be published as depth."""
        tensors = [item for item in returned if isinstance(item, Tensor)]
        if self._warned_first or len(tensors) < 2 or not isinstance(returned[0], Tensor):
            return
        self._warned_first = True
        shapes = ", ".join(str(tuple(item.shape)) for item in tensors)
        _LOG.warning(
            "TorchScript model %s returns a tuple of %d items, tensors [%s]: item 0 is taken as the depth (its "
            "spec names no output); if another holds it: `mono-depth spec %s --kind KIND --input-size HxW "
            "--output N` (N in 0..%d)",
            self.path.name,
            len(returned),
            shapes,
            self.path,
            len(returned) - 1,
        )


def _starts_with(path: Path, prefix: bytes) -> bool:
    """Whether ``path`` opens with ``prefix`` (False when it cannot be read)."""
    try:
        with path.open("rb") as handle:
            return handle.read(len(prefix)) == prefix
    except OSError:
        return False


def _starts_like_zip(path: Path) -> bool:
    """Whether ``path`` opens with a zip local file header (``PK\\x03\\x04``), as TorchScript archives do."""
    return _starts_with(path, b"PK\x03\x04")


def _starts_like_onnx(path: Path) -> bool:
    """Whether ``path`` opens like an ONNX protobuf: field 1 (``ir_version``, a varint) first, byte 0x08."""
    return _starts_with(path, b"\x08")
