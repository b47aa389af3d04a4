"""Files stored BESIDE an exported model: its ModelSpec and its golden reference.

An exported model ``model.onnx`` (or ``model.pt`` for TorchScript) travels with:

* ``model.onnx.spec.json``: ``ModelSpec.to_json()`` with ``backend`` set to ``onnx`` / ``torchscript``. The exporter
  also embeds the same JSON inside the model (ONNX ``metadata_props``, TorchScript extra file) so that a model copied
  alone still loads; the file beside wins when both exist (a user may edit it), with a warning if they differ.
* ``model.onnx.golden.safetensors`` (optional): the golden reference input image and fp32 output
  (:class:`~mono_depth_ros.models.checkpoint.GoldenReference`) for the start-up self-test, with the spec it was made
  under in its metadata: a reference made under another spec (the file beside edited, or rewritten by
  ``mono-depth spec``) is left out with a warning, since the self-test would refuse the model for it.

Each file is written whole beside its place and renamed in; an export swaps the model and both files in together
(:func:`replace_model_files`), so that no step leaves a model beside another model's spec or golden reference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.checkpoint import GoldenReference, mode_as_umask_allows
from mono_depth_ros.models.frozen_input import served_aspects
from mono_depth_ros.models.onnx_external import data_read_by_other_graphs, external_data_files, rename_external_data
from mono_depth_ros.models.spec import ModelSpec

SPEC_SUFFIX = ".spec.json"
GOLDEN_SUFFIX = ".golden.safetensors"
EMBEDDED_SPEC_KEY = "mono_depth_spec"
_GOLDEN_INPUT, _GOLDEN_OUTPUT = "input", "output"
_GOLDEN_SPEC = "made_under_spec"

_LOG = logging.getLogger(__name__)


def spec_path_for(model_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.spec.json``."""
    path = Path(model_path)
    return path.with_name(path.name + SPEC_SUFFIX)


def golden_path_for(model_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.golden.safetensors``."""
    path = Path(model_path)
    return path.with_name(path.name + GOLDEN_SUFFIX)


def sidecar_home(model_path: str | Path) -> Path:
    """The model path whose sidecars (spec, golden) are read: ``model_path`` as given when one of them lies beside it
    or it is no symbolic link, else the file it links to when one lies beside that, else ``model_path``. A Hugging
    Face snapshot links each file of its repo side by side (the blobs they point at are named by their hash), so its
    sidecars are beside the link; a model linked alone into a workspace (``ln -s /models/da.onnx ws/``) has them
    beside its target, where ONNX Runtime reads its external data too. Both come from the one place, never a spec
    from one and a golden from the other."""
    path = Path(model_path)
    if not path.is_symlink() or _has_sidecar(path):
        return path
    target = path.resolve()
    return target if _has_sidecar(target) else path


def _has_sidecar(model_path: Path) -> bool:
    return spec_path_for(model_path).is_file() or golden_path_for(model_path).is_file()


def staging_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed over ``path`` (same directory: the rename is atomic)."""
    return path.with_name(path.name + ".tmp")


def write_whole(
    path: Path, write: Callable[[Path], object], before_replace: Callable[[], object] | None = None
) -> None:
    """``write(temporary)`` beside ``path``, then renamed over it: Ctrl-C, SIGTERM or a full disk mid-write leaves
    the earlier file whole (or none), never one cut short; the temporary file is removed on any failure.
    ``before_replace`` runs once the temporary file is whole, before the rename (to remove a file made stale by it)."""
    partial = staging_path(path)
    try:
        write(partial)
        if before_replace is not None:
            before_replace()
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_sidecars(model_path: str | Path, spec: ModelSpec, golden: GoldenReference | None = None) -> None:
    """Write the spec (and the golden reference, when given; else none is left) beside ``model_path``, each whole or
    not at all (:func:`replace_model_files` without a new model)."""
    replace_model_files(model_path, None, spec, golden)


def replace_model_files(
    model_path: str | Path, staged_model: Path | None, spec: ModelSpec, golden: GoldenReference | None = None
) -> None:
    """Put a model and its sidecars in place so that neither a reader nor a failure midway sees a model beside
    another model's spec or golden reference.

    Every new file is first written whole beside its place (a failure there, Ctrl-C or a full disk, leaves every
    earlier file as it was). Then the earlier golden goes, then, with a new model, the earlier spec file (the earlier
    model's embedded spec holds for it meanwhile), then the model is renamed in (its own embedded spec holds for it),
    then its spec and golden: each step leaves a model with its own spec, or its embedded one, and a golden made
    under it, or none.

    Args:
        model_path: the model's path.
        staged_model: the new model, written whole (with its spec embedded) in the same directory; None: the model
            at ``model_path`` stays and gets new sidecars.
        spec: the spec to write beside it.
        golden: its golden reference; None: none is left beside it.

    An ONNX graph staged in a folder of its own (:func:`~.export.export_onnx`) may keep its weights in files beside
    it (``model.onnx.data``, a graph past 1.5 GB): they are moved beside ``model_path`` just before the graph, under
    names no file there has (:func:`~.onnx_external.rename_external_data`: the earlier graph keeps its own weights
    until it is replaced, by a reader or an interruption in between), and the earlier graph's data files that
    neither the new one nor another ``.onnx`` graph in the folder names are removed after it (the new data files
    moved in are removed when the graph is not).
    """
    target = Path(model_path)
    moved: list[tuple[Path, Path]] = []
    earlier: list[Path] = []
    if staged_model is not None and staged_model.parent.resolve() != target.parent.resolve():
        rename_external_data(staged_model, target.parent)  # the earlier graph's data stays until it is replaced
        moved = [
            (data, target.parent / data.relative_to(staged_model.parent)) for data in external_data_files(staged_model)
        ]
        earlier = external_data_files(target)
        if earlier:  # another graph in the folder naming them keeps them (the folder's graphs read only then)
            read_elsewhere = data_read_by_other_graphs(target)
            earlier = [data for data in earlier if data not in read_elsewhere]
    spec_file, golden_file = spec_path_for(target), golden_path_for(target)
    staged: list[tuple[Path, Path]] = [(staging_path(spec_file), spec_file)]
    try:
        staged[0][0].write_text(spec.to_json() + "\n", encoding="utf-8")
        if golden is not None:
            tensors: dict[str, np.ndarray] = {
                _GOLDEN_INPUT: np.ascontiguousarray(golden.image_rgb, dtype=np.uint8),
                _GOLDEN_OUTPUT: np.ascontiguousarray(golden.output, dtype=np.float32),
            }
            staged.append((staging_path(golden_file), golden_file))
            save_file(tensors, str(staged[1][0]), metadata={_GOLDEN_SPEC: spec.to_json()})
            mode_as_umask_allows(staged[1][0])
        golden_file.unlink(missing_ok=True)
        if staged_model is not None:
            spec_file.unlink(missing_ok=True)
            for data, beside in moved:
                beside.parent.mkdir(parents=True, exist_ok=True)
                data.replace(beside)
            staged_model.replace(target)
            for stale in set(earlier) - {beside for _, beside in moved}:
                stale.unlink(missing_ok=True)
        for partial, final in staged:
            partial.replace(final)
    finally:
        for partial, _ in staged:
            partial.unlink(missing_ok=True)
        # named by no graph at model_path while the staged graph is not renamed in (whether or not an interruption
        # came as that rename returned)
        for _, beside in moved if staged_model is not None and staged_model.exists() else ():
            beside.unlink(missing_ok=True)
        if staged_model is not None:
            staged_model.unlink(missing_ok=True)


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """(inode, mtime ns, bytes) of the file at ``path``, or None when there is none: whether it was replaced."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def check_unreplaced(model_path: Path, stamp: object, stamp_of: Callable[[Path], object] = file_stamp) -> None:
    """Refuse a model whose file was replaced (an export or copy finishing) while it and its sidecars were read: the
    model read and the spec or golden read may be of two models.

    Args:
        model_path: the model file.
        stamp: ``stamp_of(model_path)`` before the model was opened.
        stamp_of: the model's stamp (:func:`file_stamp`; an ONNX graph's adds its external data files':
            :func:`model_stamp`).

    Raises:
        CheckpointError: naming the file and what to do (start again once the export or copy is done).
    """
    if stamp_of(model_path) != stamp:
        msg = (
            f"{model_path} was replaced while it and its spec were read (an export or a copy writing it or its "
            f"external data); start again once that is done"
        )
        raise CheckpointError(msg)


def model_stamp(model_path: Path) -> object:
    """:func:`file_stamp` of an ONNX graph and of each of its external data files (a copy that replaces the weights
    in ``model.onnx.data`` and not the graph is a replaced model too)."""
    return file_stamp(model_path), [(data.name, file_stamp(data)) for data in external_data_files(model_path)]


def read_spec(model_path: str | Path, backend: str, embedded_json: str | None) -> ModelSpec:
    """The :class:`ModelSpec` of an exported model: the file beside it (beside the file a link points to, when the
    link has none: :func:`sidecar_home`), else the copy embedded in it.

    Args:
        model_path: the exported model file.
        backend: the backend reading it (``onnx`` | ``torchscript``); the spec must say the same.
        embedded_json: the spec JSON found inside the model, or None.

    Raises:
        CheckpointError: no spec anywhere, malformed spec (a fixed-size export's recorded input policy included), or
            a spec for another backend.
    """
    path = Path(model_path)
    beside = spec_path_for(sidecar_home(path))
    if beside.is_file():
        try:
            text = beside.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            msg = f"cannot read the model spec {beside} ({err}); re-export the model"
            raise CheckpointError(msg) from None
        source = str(beside)
    elif embedded_json is not None:
        text, source = embedded_json, f"{path} (embedded)"
    else:
        msg = (
            f"no ModelSpec for {path}: expected {beside.name} beside it (written by `mono-depth export`); "
            f"re-export the model, or for a model made elsewhere: `mono-depth spec {path} --kind KIND`"
        )
        raise CheckpointError(msg)
    try:
        spec = ModelSpec.from_json(text)
        served_aspects(spec)  # a fixed-size export's recorded policy, a keep-aspect spec's aspects: checked here
    except (CheckpointError, TypeError, ValueError) as err:
        problem = str(err) if isinstance(err, CheckpointError) else f"malformed ({err})"
        msg = f"model spec {source}: {problem}; {_spec_remedy(path, source == str(beside), embedded_json)}"
        raise CheckpointError(msg) from None
    if source == str(beside) and embedded_json is not None and embedded_json.strip() != text.strip():
        _LOG.warning("%s differs from the spec embedded in %s; using the file beside the model", beside, path)
    if spec.backend != backend:  # the file opened as ``backend`` already: the spec is what is wrong
        kind = {"onnx": "an ONNX", "torchscript": "a TorchScript"}.get(backend, f"a {backend}")
        fix = f"write one with `mono-depth spec {path} --kind KIND`"  # only a file beside it overrides an embedded one
        if source == str(beside):
            fix = f'write "backend": "{backend}" in it'
        msg = f"model spec {source} is for backend {spec.backend!r}, but {path} is {kind} model; {fix}"
        raise CheckpointError(msg)
    return spec


def _spec_remedy(path: Path, beside: bool, embedded_json: str | None) -> str:
    """What to do about an unreadable spec of the model at ``path``: the file beside it (``beside``; cut short in a
    copy, or mistyped) gives way to the spec embedded in the model when there is one; otherwise a new one is written
    (`mono-depth spec`) or the model re-exported."""
    if beside and embedded_json is not None:
        return f"delete it to use the spec embedded in {path.name}, or re-export the model"
    return f"write it again with `mono-depth spec {path} --kind KIND`, or re-export the model"


def read_golden(model_path: str | Path, spec: ModelSpec | None = None) -> GoldenReference | None:
    """The golden reference beside an exported model (:func:`sidecar_home`: beside the file a link points to, when
    the link has no sidecar), or None when there is none, or when it records that it was made under a spec other than
    ``spec`` (the one in force; logged as a warning).

    Raises:
        CheckpointError: the file exists but is not a valid golden reference.
    """
    golden_file = golden_path_for(sidecar_home(model_path))
    if not golden_file.is_file():
        return None
    try:
        tensors = load_file(str(golden_file))
        with safe_open(str(golden_file), framework="numpy") as handle:
            made_under = (handle.metadata() or {}).get(_GOLDEN_SPEC)
    except (SafetensorError, OSError, ValueError) as err:
        msg = f"golden reference {golden_file} is not a readable safetensors file ({err}); re-export the model"
        raise CheckpointError(msg) from None
    if spec is not None and made_under is not None and made_under != spec.to_json():
        _LOG.warning(
            "golden reference %s was made under another spec than %s's: no start-up self-test (re-export the model "
            "for one)",
            golden_file.name,
            Path(model_path).name,
        )
        return None
    image_rgb, output = tensors.get(_GOLDEN_INPUT), tensors.get(_GOLDEN_OUTPUT)
    if image_rgb is None or output is None or image_rgb.dtype != np.uint8 or image_rgb.ndim != 3:
        msg = f"golden reference {golden_file} lacks a uint8 'input' image or an 'output' array; re-export the model"
        raise CheckpointError(msg)
    return GoldenReference(image_rgb=image_rgb, output=output.astype(np.float32, copy=False))
