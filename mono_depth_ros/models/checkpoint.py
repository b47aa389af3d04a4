"""Checkpoints: safetensors weights with the :class:`ModelSpec` inside (never pickle).

File layout (one ``.safetensors`` file):

* tensors: the model's ``state_dict`` under its own names;
* optional golden reference under the reserved prefix ``__golden__.``: ``__golden__.input`` (a small RGB image,
  uint8, (H, W, 3)) and ``__golden__.output`` (what the model produced for it, float32, any shape) so that an
  inference engine can self-test at start-up;
* metadata (str -> str): ``mono_depth_spec`` (``ModelSpec.to_json()``), ``mono_depth_format`` (layout version) and
  any extra strings the writer adds (training run, dataset, git hash...).

Loading checks everything cheaply before touching tensors and raises :class:`CheckpointError` naming the file and a
remedy: missing file, ONNX / TorchScript / pickle file given, truncated or foreign file, a newer
``mono_depth_format`` (a file without the key is format 1), no spec, spec for another backend, unknown output kind.
:func:`load_state_strict` names the first tensor that does not fit a model.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from mono_depth_ros.core.errors import CheckpointError, first_line
from mono_depth_ros.models.hub_id import hub_id_hint
from mono_depth_ros.models.spec import ModelSpec

if TYPE_CHECKING:
    from torch import Tensor, nn

SPEC_KEY = "mono_depth_spec"
FORMAT_KEY = "mono_depth_format"
FORMAT_VERSION = "1"
REDO = "re-export or re-download it"
"""The remedy of a model file that cannot be read (cut short, damaged): where it came from, another copy."""
GOLDEN_PREFIX = "__golden__."
GOLDEN_INPUT_KEY = GOLDEN_PREFIX + "input"
GOLDEN_OUTPUT_KEY = GOLDEN_PREFIX + "output"

# Suffixes of weights this loader must refuse, with the backend that reads them.
_OTHER_BACKEND_SUFFIXES = {
    ".onnx": "onnx",
    ".pt": "torchscript",
    ".pth": "torchscript",
    ".ts": "torchscript",
    ".jit": "torchscript",
    ".ckpt": "a pickle checkpoint (never loaded: convert it to safetensors)",
    ".bin": "a pickle checkpoint (never loaded: convert it to safetensors)",
    ".pkl": "a pickle checkpoint (never loaded: convert it to safetensors)",
}
_MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit


@dataclass(frozen=True)
class GoldenReference:
    """A reference input and the output the model produced for it when the checkpoint was written.

    Attributes:
        image_rgb: (H, W, 3) uint8 RGB image.
        output: float32 array, whatever the model's inference path returns for ``image_rgb`` (e.g. (H, W) depth in
            the unit of ``spec.output_kind``; NaN invalid).
    """

    image_rgb: np.ndarray
    output: np.ndarray


@dataclass(frozen=True)
class LoadedCheckpoint:
    """What :func:`load_checkpoint` returns.

    Attributes:
        spec: the model spec stored in the file.
        state_dict: parameter / buffer name -> tensor (on the requested device, dtype as written).
        golden: the reference input / output pair, or None when the file has none.
        metadata: the extra metadata strings (without the spec and format keys).
        path: the file it came from.
    """

    spec: ModelSpec
    state_dict: dict[str, Tensor]
    golden: GoldenReference | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    path: Path | None = None


def save_checkpoint(
    path: str | Path,
    model_state: dict[str, Tensor],
    spec: ModelSpec,
    extra_metadata: dict[str, str] | None = None,
    reference: tuple[np.ndarray | Tensor, np.ndarray | Tensor] | None = None,
) -> Path:
    """Write ``model_state`` + ``spec`` (+ golden reference) to a safetensors file.

    Args:
        path: destination file; ``.safetensors`` is expected (other suffixes are refused to avoid confusion with
            ONNX / TorchScript files).
        model_state: ``model.state_dict()``; tensors are copied to CPU, contiguous, dtype kept.
        spec: the model spec (``backend`` must be ``torch``).
        extra_metadata: additional str -> str metadata (must not use the reserved keys).
        reference: optional (image_rgb (H, W, 3) uint8, output float) pair for the start-up self-test.

    Returns:
        The path written (whole or not at all: written beside it, then renamed over it).

    Raises:
        CheckpointError: on a reserved name, a bad reference, a spec for another backend, or a file that could not
            be written (e.g. the disk is full; :func:`write_failed`: an earlier file at ``path`` is left as it was).
    """
    path = Path(path)
    if path.suffix.lower() in _OTHER_BACKEND_SUFFIXES:
        msg = f"refusing to write a safetensors checkpoint to {path}: use the suffix .safetensors"
        raise CheckpointError(msg)
    if spec.backend != "torch":
        msg = f"save_checkpoint writes torch weights but spec.backend is {spec.backend!r}; set backend='torch'"
        raise CheckpointError(msg)
    tensors: dict[str, Tensor] = {}
    for name, tensor in model_state.items():
        if name.startswith(GOLDEN_PREFIX):
            msg = f"state dict key {name!r} uses the reserved prefix {GOLDEN_PREFIX!r}; rename the parameter"
            raise CheckpointError(msg)
        tensors[name] = tensor.detach().to("cpu").contiguous().clone()
    if reference is not None:
        image_rgb, output = _check_reference(reference)
        tensors[GOLDEN_INPUT_KEY] = torch.from_numpy(image_rgb)
        tensors[GOLDEN_OUTPUT_KEY] = torch.from_numpy(output)
    metadata = dict(extra_metadata or {})
    reserved = {SPEC_KEY, FORMAT_KEY} & set(metadata)
    if reserved:
        msg = f"extra_metadata uses reserved keys {sorted(reserved)}; choose other names"
        raise CheckpointError(msg)
    metadata[SPEC_KEY] = spec.to_json()
    metadata[FORMAT_KEY] = FORMAT_VERSION
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")  # a kill or a full disk mid-write leaves the earlier file whole
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        mode_as_umask_allows(tmp)
        tmp.replace(path)
    except (SafetensorError, OSError) as err:
        raise write_failed(path, err) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def process_umask() -> int:
    """The process's file-mode creation mask (``/proc/self/status``; elsewhere set and put back at once)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def mode_as_umask_allows(path: Path) -> None:
    """Give ``path`` the mode ``open()`` gives a new file (0o666 less the umask: 0o644 under the usual 0o022).
    safetensors (0.8) writes its files 0o600 whatever the umask: a checkpoint or an exported model's golden
    reference written by one user (``sudo mono-depth export ... --out /opt/models``) could not be read by the node's
    own user, while the ``.onnx`` and ``.spec.json`` beside it could. Where chmod is refused (a FAT or SMB mount
    whose files belong to a fixed ``uid=``: EPERM) the file keeps the mode it was written with: it is whole."""
    with contextlib.suppress(OSError):
        os.chmod(path, 0o666 & ~process_umask())


def write_failed(path: Path, err: Exception, left: str = "") -> CheckpointError:
    """The error for a file that could not be written (a full disk, no permission): the file, the reason (first
    line) and the free space there, since a full disk is the usual cause and torch.save does not say so; ``left``:
    what is left at ``path`` (default: a checkpoint's earlier file, as it was)."""
    reason = first_line(err)[:200]
    try:
        free = f"{shutil.disk_usage(path.parent).free / 2**20:.0f} MB free there"
    except OSError:
        free = "free space unknown"
    left = left or (
        "an earlier file there is left as it was (a training run continues with --resume auto from its last complete "
        "checkpoint)"
    )
    return CheckpointError(f"cannot write {path} ({reason}; {free}): free disk space or choose another folder; {left}")


def read_checkpoint_spec(path: str | Path) -> ModelSpec:
    """Read only the :class:`ModelSpec` of a checkpoint (no tensor is loaded).

    Raises:
        CheckpointError: for the same reasons as :func:`load_checkpoint`.
    """
    path = Path(path)
    metadata = _read_header_metadata(path)
    return _spec_from_metadata(path, metadata)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the ``.safetensors`` file.
        device: where to put the tensors.

    Returns:
        The spec, the state dict (reference tensors removed), the golden reference (or None) and extra metadata.

    Raises:
        CheckpointError: missing file, ONNX / TorchScript / pickle file, not a safetensors file (or truncated), no
            ``mono_depth_spec`` metadata, spec for another backend, unknown output kind or bad golden tensors.
    """
    path = Path(path)
    metadata = _read_header_metadata(path)
    spec = _spec_from_metadata(path, metadata)
    state: dict[str, Tensor] = {}
    golden_tensors: dict[str, Tensor] = {}
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open handles are not iterable
                target = golden_tensors if name.startswith(GOLDEN_PREFIX) else state
                target[name] = handle.get_tensor(name)
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        msg = f"checkpoint {path} is not a readable safetensors file ({err}); {REDO}"
        raise CheckpointError(msg) from None
    golden = _golden_from_tensors(path, golden_tensors)
    extra = {k: v for k, v in metadata.items() if k not in (SPEC_KEY, FORMAT_KEY)}
    return LoadedCheckpoint(spec=spec, state_dict=state, golden=golden, metadata=extra, path=path)


def load_state_strict(model: nn.Module, state_dict: dict[str, Tensor], spec: ModelSpec) -> None:
    """Load ``state_dict`` into ``model`` after checking that every tensor fits (:func:`check_state_fits`).

    Raises:
        CheckpointError: naming the tensor, both shapes and the architecture in the spec.
    """
    check_state_fits(model, state_dict, spec)
    model.load_state_dict(state_dict, strict=True)


def check_state_fits(model: nn.Module, state_dict: dict[str, Tensor], spec: ModelSpec) -> None:
    """Check that every tensor of ``state_dict`` fits ``model`` (which may live on the meta device: only names and
    shapes are compared, nothing is copied).

    Checks run in the model's own parameter order, so the error names the FIRST tensor that does not fit: missing
    from the checkpoint, present in the checkpoint but not in the model, or of another shape.

    Raises:
        CheckpointError: naming the tensor, both shapes and the architecture in the spec.
    """
    expected = model.state_dict()
    where = f"checkpoint for architecture {spec.architecture!r} (params {json.dumps(spec.params, sort_keys=True)})"
    remedy = "build the model from the checkpoint's own spec (registry.build_model(spec)) or use matching weights"
    for name, tensor in expected.items():
        if name not in state_dict:
            msg = (
                f"{where} does not fit {type(model).__name__}: first mismatching tensor {name!r} is missing from "
                f"the checkpoint ({len(state_dict)} tensors there, {len(expected)} expected); {remedy}"
            )
            raise CheckpointError(msg)
        if tuple(state_dict[name].shape) != tuple(tensor.shape):
            msg = (
                f"{where} does not fit {type(model).__name__}: first mismatching tensor {name!r} has shape "
                f"{tuple(state_dict[name].shape)} in the checkpoint vs {tuple(tensor.shape)} in the model; {remedy}"
            )
            raise CheckpointError(msg)
    for name in state_dict:
        if name not in expected:
            msg = (
                f"{where} does not fit {type(model).__name__}: first mismatching tensor {name!r} is unexpected "
                f"(in the checkpoint, not in the model); {remedy}"
            )
            raise CheckpointError(msg)


def _check_reference(reference: tuple[np.ndarray | Tensor, np.ndarray | Tensor]) -> tuple[np.ndarray, np.ndarray]:
    image_rgb, output = (_to_numpy(item) for item in reference)
    if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        msg = f"golden input must be a uint8 (H, W, 3) RGB image, got {image_rgb.dtype} {image_rgb.shape}"
        raise CheckpointError(msg)
    if not np.issubdtype(output.dtype, np.floating):
        msg = f"golden output must be floating point, got {output.dtype}"
        raise CheckpointError(msg)
    return np.ascontiguousarray(image_rgb), np.ascontiguousarray(output, dtype=np.float32)


def _to_numpy(item: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(item, torch.Tensor):
        return item.detach().to("cpu").numpy()
    return np.asarray(item)


def _golden_from_tensors(path: Path, tensors: dict[str, Tensor]) -> GoldenReference | None:
    if not tensors:
        return None
    unknown = set(tensors) - {GOLDEN_INPUT_KEY, GOLDEN_OUTPUT_KEY}
    if unknown or len(tensors) != 2:
        msg = (
            f"checkpoint {path} has an incomplete or unknown golden reference {sorted(tensors)}; "
            f"expected {GOLDEN_INPUT_KEY!r} and {GOLDEN_OUTPUT_KEY!r}: re-save it with save_checkpoint"
        )
        raise CheckpointError(msg)
    image_rgb, output = _check_reference((tensors[GOLDEN_INPUT_KEY], tensors[GOLDEN_OUTPUT_KEY]))
    return GoldenReference(image_rgb=image_rgb, output=output)


def _zip_names(path: Path) -> list[str] | None:
    """The entry names of the zip at ``path`` (only its directory is read), or None: not a readable zip file."""
    if not path.is_file() or not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return None


def is_torch_save_archive(path: Path) -> bool:
    """Whether ``path`` is a zip written by ``torch.save`` (a pickle inside), not a TorchScript archive (which also
    holds ``code/`` and ``constants.pkl``). Nothing is unpickled: only the zip's directory is read."""
    names = _zip_names(path)
    if names is None:
        return False
    pickled = any(name.endswith("/data.pkl") for name in names)
    return pickled and not any("/code/" in name or name.endswith("/constants.pkl") for name in names)


def is_torchscript_archive(path: Path) -> bool:
    """Whether ``path`` is a TorchScript zip (``code/`` or ``constants.pkl`` entries): a program that
    ``torch.jit.load`` runs part of, which ``torch.load`` before torch 2.6 handed to it even with ``weights_only``.
    Only the zip's directory is read."""
    names = _zip_names(path)
    if names is None:
        return False
    return any("/code/" in name or name.endswith("/constants.pkl") for name in names)


def starts_like_pickle(path: Path) -> bool:
    """Whether ``path`` starts as a Python pickle of protocol 2 to 5 (``torch.save`` before torch 1.6, without a
    zip; ``pickle.dump``): 0x80, the protocol. A safetensors file may start with the same two bytes (its header
    length, little-endian), but its 9th byte opens its JSON header, ``{``; a pickle's never is. Nothing is read
    past those 9 bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[0] == 0x80 and 2 <= head[1] <= 5 and head[8:9] != b"{"


PICKLE_REMEDY = (
    "bring the model in as a trace or export made where its code lives: torch.jit.trace(model, example).save(...) "
    "for model.backend: torchscript, or torch.onnx.export(...) for model.backend: onnx, then `mono-depth spec MODEL "
    "--kind KIND` beside it; or, for a Hugging Face model, its Hugging Face directory (mono-depth weights) with "
    "model.backend: transformers"
)
"""How a model saved as a pickle (a torch.save state dict, e.g. a community ``.pth``) can be run instead."""


TRAINING_STATE_SUFFIX = ".state.pt"
"""What ``mono-depth train`` / ``distill`` name the optimiser state they write beside each step checkpoint."""


def training_state_remedy(path: Path) -> str:
    """For a training run's ``step_N.state.pt`` (optimiser, LR schedule and step: a torch.save pickle, no network):
    what it is and the model to pass instead, ``step_N.safetensors`` beside it, with the ``model.backend`` its spec
    names when it is there; ``""`` for any other file."""
    if not path.name.endswith(TRAINING_STATE_SUFFIX):
        return ""
    model = path.with_name(path.name[: -len(TRAINING_STATE_SUFFIX)] + ".safetensors")
    try:  # the backend that runs it: unet for train's own network, depth_anything_v2 for a fine-tune of it
        backend = f" (model.backend: {read_checkpoint_spec(model).architecture})"
    except CheckpointError:  # not beside it, or unreadable: its loader will say why
        backend = ""
    return (
        f"{path} is the optimiser state that mono-depth train writes beside a step checkpoint (no network in it; "
        f"only --resume reads it); pass that checkpoint's model, {model}{backend}"
    )


def checkpoint_given_for(path: Path, backend: str) -> str:
    """For a checkpoint of this project (safetensors with its spec) given to ``model.backend`` ``onnx`` /
    ``torchscript``: what it is, the backend that runs it and the export to that format; ``""`` for any other file.
    Only the header is read."""
    try:
        spec = read_checkpoint_spec(path)
    except CheckpointError:
        return ""
    export = (
        f"`mono-depth export {path} --out DIR -f onnx`"
        if backend == "onnx"
        else f"`mono-depth export {path} --out DIR -f torchscript`"
    )
    shown = "ONNX" if backend == "onnx" else "a TorchScript archive"
    return (
        f"{path} is a mono-depth checkpoint (safetensors), not {shown}; run it with model.backend: "
        f"{spec.architecture}, or export it: {export}"
    )


def _refuse_other_backends(path: Path) -> None:
    suffix = path.suffix.lower()
    if is_torch_save_archive(path) and (remedy := training_state_remedy(path)):
        raise CheckpointError(remedy)
    if is_torch_save_archive(path):
        msg = f"{path} is a torch.save pickle, not a safetensors checkpoint (pickles are never loaded); {PICKLE_REMEDY}"
        raise CheckpointError(msg)
    if starts_like_pickle(path):
        msg = (
            f"{path} is a Python pickle checkpoint (torch.save before torch 1.6, or pickle.dump), not a safetensors "
            f"checkpoint nor TorchScript (pickles are never loaded); convert the weights with save_checkpoint"
        )
        raise CheckpointError(msg)
    if suffix in _OTHER_BACKEND_SUFFIXES:
        backend = _OTHER_BACKEND_SUFFIXES[suffix]
        msg = (
            f"{path} looks like {backend} weights, not a mono_depth safetensors checkpoint; "
            f"set model.backend to {backend!r} for it, or pass the .safetensors file"
            if suffix in (".onnx", ".pt", ".pth", ".ts", ".jit")
            else f"{path} looks like {backend}; pass a .safetensors file written by save_checkpoint"
        )
        raise CheckpointError(msg)


def _not_safetensors(path: Path, prefix: bytes, reason: str) -> CheckpointError:
    """The error for a file whose safetensors header is invalid, naming its real format when recognisable.

    Sniffing happens only after the header failed to parse: a valid safetensors header length can start with any
    byte, so first bytes alone never reject a file.
    """
    if prefix.startswith(b"PK\x03\x04"):
        msg = f"{path} is a zip archive (torch.save / TorchScript), not a safetensors checkpoint; set model.backend: "
        msg += "torchscript for a TorchScript file, or convert the weights with save_checkpoint"
    elif prefix[:1] == b"\x80":
        msg = f"{path} is a Python pickle, not a safetensors checkpoint (pickles are never loaded); convert it"
    elif prefix[:1] == b"\x08":
        msg = f"{path} looks like an ONNX model, not a safetensors checkpoint; set model.backend: onnx for it"
    else:
        msg = f"checkpoint {path} is truncated or not a safetensors file ({reason}); {REDO}"
    return CheckpointError(msg)


def _read_header_metadata(path: Path) -> dict[str, str]:
    """Validate the safetensors header by hand (clear messages) and return its ``__metadata__``."""
    if not path.exists():
        msg = (
            f"checkpoint {path} does not exist; pass the .safetensors file written by `mono-depth train` / "
            f"`mono-depth distill`, or fetch weights with `mono-depth weights`{hub_id_hint(path)}"
        )
        raise CheckpointError(msg)
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.safetensors"))
        msg = (
            f"checkpoint {path} is a directory; pass the checkpoint inside it: {path / inside[0]}"
            if len(inside) == 1
            else f"checkpoint {path} is a directory holding {', '.join(inside) or 'no .safetensors file'}; pass the "
            f"checkpoint file itself (written by `mono-depth train` / `mono-depth distill`)"
        )
        if (path / "config.json").is_file():  # what `mono-depth weights fetch` writes
            msg = (
                f"{path} is a Hugging Face model directory (config.json), not a checkpoint file; run it with "
                f"model.backend: transformers (launch: model:=transformers)"
            )
        raise CheckpointError(msg)
    if not path.is_file():  # a FIFO would block the reader until something writes to it
        msg = f"checkpoint {path} is not a regular file (a FIFO, socket or device); pass the .safetensors file itself"
        raise CheckpointError(msg)
    _refuse_other_backends(path)
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise _not_safetensors(path, prefix, f"only {size} bytes")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > min(size - 8, _MAX_HEADER_BYTES):
            raise _not_safetensors(path, prefix, f"header claims {header_len} bytes, the file has {size}")
        raw = handle.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (UnicodeDecodeError, AttributeError, KeyError, TypeError, IndexError, ValueError, RecursionError):
        raise _not_safetensors(path, prefix, "its header is not valid JSON") from None
    if 8 + header_len + end > size:
        msg = f"checkpoint {path} is truncated: tensors need {8 + header_len + end} bytes, the file has {size}; {REDO}"
        raise CheckpointError(msg)
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        msg = f"checkpoint {path} has a malformed __metadata__ entry; re-save it with save_checkpoint"
        raise CheckpointError(msg)
    return {str(k): str(v) for k, v in metadata.items()}


def _check_format(path: Path, metadata: dict[str, str]) -> None:
    """Refuse a layout this version does not read (``mono_depth_format`` other than :data:`FORMAT_VERSION`; a file
    without the key is taken as format 1)."""
    written = metadata.get(FORMAT_KEY, FORMAT_VERSION)
    if written != FORMAT_VERSION:
        msg = (
            f"checkpoint {path} is checkpoint format {written[:40]!r}, this mono_depth_ros reads format "
            f"{FORMAT_VERSION!r} (it was written by a newer version): update mono_depth_ros to the version that wrote "
            f"it, or train / save the model again with this one"
        )
        raise CheckpointError(msg)


def _spec_from_metadata(path: Path, metadata: dict[str, str]) -> ModelSpec:
    _check_format(path, metadata)
    if SPEC_KEY not in metadata:
        msg = (
            f"checkpoint {path} has no {SPEC_KEY!r} metadata (a plain safetensors file, e.g. from Hugging Face): "
            f"the model cannot be rebuilt from it; write it with mono_depth_ros.models.checkpoint.save_checkpoint, "
            f"or, for Hugging Face weights, pass their directory: model.weights={path.parent} with model.backend: "
            f"transformers (node, bag), `--checkpoint {path.parent}` (mono-depth eval)"
        )
        raise CheckpointError(msg)
    try:
        spec = ModelSpec.from_json(metadata[SPEC_KEY])
    except CheckpointError as err:
        msg = f"checkpoint {path}: {err}"
        raise CheckpointError(msg) from None
    except (TypeError, ValueError) as err:
        msg = f"checkpoint {path}: spec metadata is malformed ({err}); re-save it with save_checkpoint"
        raise CheckpointError(msg) from None
    if spec.backend != "torch":
        msg = (
            f"checkpoint {path}: its spec says backend {spec.backend!r}, but a safetensors checkpoint holds torch "
            f"weights; re-save it with save_checkpoint (an exported {spec.backend} model is its own file, "
            f"`mono-depth export`)"
        )
        raise CheckpointError(msg)
    return spec
