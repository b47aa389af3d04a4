"""Where an ONNX model's external data may live: files in the model's own folder, nothing else.

Large graphs keep their weights in files beside the ``.onnx`` (``model.onnx_data``), named by each tensor's
``external_data`` ``location``. ONNX Runtime before 1.24 opened whatever that names: ``../../etc/...`` or an
absolute path made loading a downloaded model read any file on the robot into the graph's weights (1.24 and later
refuse, with a message that said "re-export the model"). :func:`check_external_data` checks the locations itself,
whatever the installed version, before the session is opened: no absolute path, no ``..``, not ONNX Runtime's
in-memory address marker (``*/_ORT_MEM_ADDR_/*``: the offset read as an address), and a regular file (not a FIFO
or a device). A location that stays in the folder may be a symbolic link (the Hugging Face cache).
"""

from __future__ import annotations

import logging
import mmap
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from mono_depth_ros.core.errors import CheckpointError

_LOG = logging.getLogger(__name__)
_MEMORY_MARKER = "_ORT_MEM_ADDR_"
"""ONNX Runtime's location for initializers it holds in memory (``*/_ORT_MEM_ADDR_/*``: the offset is an address)."""
_LOCATION_KEY = b"location"
"""The ``external_data`` key naming the file; protobuf stores strings as they are, so a graph without it in its
bytes has no external data (the graph is then not parsed a second time)."""


def check_external_data(path: Path) -> None:
    """Refuse an ONNX model whose external data is not a file in its own folder.

    Args:
        path: the ``.onnx`` file (the graph is parsed without its external data; only when its bytes hold an
            ``external_data`` location key at all).

    Raises:
        CheckpointError: naming the tensor, its location and the remedy.
    """
    if not _mentions_location(path):
        return
    try:
        import onnx
    except ImportError:
        _LOG.warning("cannot check where %s keeps its external data: pip install 'mono_depth_ros[onnx]'", path)
        return
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf's DecodeError, onnx's own errors: ONNX Runtime reports them next
        _LOG.debug("onnx could not parse %s (%s); ONNX Runtime reports it", path, err)
        return
    folder = path.parent
    for tensor in _tensors(model.graph, model.functions):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        location = entries.get("location", "")
        if _MEMORY_MARKER in location:
            msg = (
                f"{path}: tensor {tensor.name!r} keeps its data at {location!r}, ONNX Runtime's in-memory address "
                f"marker (its offset would be read as a memory address), never valid in a model file; do not use it"
            )
            raise CheckpointError(msg)
        parts = PurePosixPath(location).parts
        if not parts or location.startswith(("/", "\\")) or ".." in parts or "\\" in location:
            msg = (
                f"{path}: tensor {tensor.name!r} keeps its data in {location!r}, not a file in {folder}: external "
                f"data is read only from files in the model's folder; do not use this model, or export it again "
                f"(onnx.save_model(..., save_as_external_data=True, location='{path.name}_data'))"
            )
            raise CheckpointError(msg)
        if (folder / location).exists() and not (folder / location).is_file():
            msg = f"{path}: tensor {tensor.name!r} keeps its data in {location!r}, which is not a regular file"
            raise CheckpointError(msg)


def external_data_files(path: Path) -> list[Path]:
    """The files beside the ``.onnx`` at ``path`` that hold its external data (sorted, each once; empty for a graph
    that holds its weights, or where ``onnx`` is not installed or cannot parse it). Locations outside the model's
    folder are left out (:func:`check_external_data` refuses them)."""
    if not _mentions_location(path):
        return []
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # ImportError, protobuf's DecodeError, onnx's own errors: no files known
        return []
    locations: set[str] = set()
    for tensor in _tensors(model.graph, model.functions):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            locations.update(entry.value for entry in tensor.external_data if entry.key == "location")
    inside = (x for x in locations if x and not x.startswith(("/", "\\")) and ".." not in PurePosixPath(x).parts)
    return sorted(f for f in (path.parent / location for location in inside) if f.is_file())


def data_read_by_other_graphs(path: Path) -> set[Path]:
    """The external data files that the other ``.onnx`` graphs in ``path``'s folder name (a graph copied there under
    another name reads the same ``model.onnx_data``): files not to remove with the graph at ``path``."""
    others = (other for other in path.parent.glob("*.onnx") if other.name != path.name)
    return {data for other in others for data in external_data_files(other)}


def rename_external_data(path: Path, taken: Path) -> dict[str, str]:
    """Give the external data files of the graph at ``path`` names that no file in the folder ``taken`` has: each
    such location becomes ``<stem>.<n><suffix>`` (``model.onnx.data`` -> ``model.onnx.1.data``), its file beside
    the graph renamed and the graph saved (without loading its weights) naming it.

    An export swaps its data files in beside an earlier graph before its own graph: under names the earlier graph
    does not use, the earlier graph keeps its own weights until the new graph replaces it.

    Returns:
        The locations renamed, old -> new (empty when none was taken).
    """
    files = external_data_files(path)
    renames: dict[str, str] = {}
    for data in files:
        location = data.relative_to(path.parent)
        if not (taken / location).exists():
            continue
        number = 1
        while any(
            (folder / location.with_name(f"{location.stem}.{number}{location.suffix}")).exists()
            for folder in (taken, path.parent)
        ):
            number += 1
        new = location.with_name(f"{location.stem}.{number}{location.suffix}")
        data.rename(path.parent / new)
        renames[location.as_posix()] = new.as_posix()
    if not renames:
        return renames
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for tensor in _tensors(model.graph, model.functions):
        for entry in tensor.external_data:
            if entry.key == "location" and PurePosixPath(entry.value).as_posix() in renames:
                entry.value = renames[PurePosixPath(entry.value).as_posix()]
    onnx.save_model(model, str(path))
    return renames


def _mentions_location(path: Path) -> bool:
    """Whether the file's bytes contain the ``location`` key at all (memory-mapped: no copy of a large graph)."""
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return data.find(_LOCATION_KEY) >= 0
    except (OSError, ValueError):  # an empty file cannot be mapped: ONNX Runtime says what is wrong with it
        return False


def _tensors(graph: Any, functions: Any = ()) -> Iterator[Any]:
    """Every TensorProto of a graph: initializers (sparse ones too), node attributes, subgraphs, functions."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    nodes = [*graph.node, *(node for function in functions for node in function.node)]
    for node in nodes:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("sparse_tensor"):
                yield from (attribute.sparse_tensor.values, attribute.sparse_tensor.indices)
            for sparse in attribute.sparse_tensors:
                yield from (sparse.values, sparse.indices)
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)
