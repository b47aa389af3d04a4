"""What a downloaded transformers folder may make transformers do beyond reading its own files, checked first.

transformers follows what a folder says: a shard index's names (opened with ``os.path.join``: ``../`` and absolute
names leave the folder), an ``owner/repo`` attention implementation (a kernel downloaded from the Hub and loaded as
native code) and a ``backbone`` named without its ``backbone_config`` (looked up on the Hub while the config is
parsed), whatever ``local_files_only`` says. These functions find them in ``config.json`` (or a project
checkpoint's copy of it) and in the index, so that :func:`~.hf_model.check_model_directory` refuses the folder;
and a depth model type's folder for another task (:func:`other_task`), which transformers would run with a random
depth head.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from pathlib import Path, PurePosixPath
from typing import Any

from mono_depth_ros.core.errors import CheckpointError, first_line
from mono_depth_ros.models.hub_id import broken_link

FETCH_AGAIN = "fetch it with `mono-depth weights fetch REPO_ID --to DIR` on a machine with internet and copy DIR here"

_IMPLEMENTATION_KEYS = frozenset(
    {"attn_implementation", "_attn_implementation", "_attn_implementation_internal", "experts_implementation"}
)


def hub_kernel(config: Any) -> str | None:
    """The first Hub kernel (an ``owner/repo`` value) a config.json names as an attention or experts implementation,
    at any depth (sub-configs, per-config dicts), or None."""
    if isinstance(config, dict):
        for key, value in config.items():
            values = value.values() if isinstance(value, dict) else [value]
            if key in _IMPLEMENTATION_KEYS and any(isinstance(v, str) and "/" in v for v in values):
                return next(v for v in values if isinstance(v, str) and "/" in v)
            found = hub_kernel(value)
            if found is not None:
                return found
    elif isinstance(config, list):
        for item in config:
            found = hub_kernel(item)
            if found is not None:
                return found
    return None


def remote_backbone(config: Any) -> str | None:
    """The first ``backbone`` a config names (at any depth) without a ``backbone_config`` beside it: transformers
    resolves such a name on the Hub (or as a timm model) when it parses the config. None when there is none."""
    if isinstance(config, dict):
        named = config.get("backbone")
        if isinstance(named, str) and named and not config.get("backbone_config"):
            return named
    children = list(config.values()) if isinstance(config, dict) else config if isinstance(config, list) else []
    return next((found for child in children if (found := remote_backbone(child)) is not None), None)


WITH_DEPTH_HEAD = frozenset({"Tipsv2DptForDensePrediction"})
"""transformers classes for several tasks whose checkpoint holds the trained head ``AutoModelForDepthEstimation``
loads (google/tipsv2-*-dpt: depth, normals and segmentation heads in one checkpoint; the others are ignored)."""


def other_task(config: Any, depth_classes: Collection[str], library: Any) -> str | None:
    """The architecture a config.json names when it is a transformers class for another task than depth estimation
    (``DPTForSemanticSegmentation``: Intel/dpt-large-ade; a headless ``DPTModel``): its model type is a depth one,
    but ``AutoModelForDepthEstimation`` would build the depth class around its weights with a random depth head.
    None when it names none, names a depth class (``depth_classes``: of any family) or a class with a depth head
    (:data:`WITH_DEPTH_HEAD`), or names a class transformers does not have (a folder's own code, ignored: it loads
    as transformers' class)."""
    named = config.get("architectures") if isinstance(config, dict) else None
    if not isinstance(named, list) or not named or not all(isinstance(name, str) for name in named):
        return None
    if any(name in depth_classes or name in WITH_DEPTH_HEAD for name in named):
        return None
    if not all(hasattr(library, name) for name in named):
        return None
    return str(named[0])


def check_shard_index(directory: Path) -> None:
    """Check that every shard ``model.safetensors.index.json`` names is a file in ``directory``.

    transformers opens ``os.path.join(directory, name)`` for each name of its ``weight_map``: a ``../`` name climbs
    out of the folder and an absolute one replaces it, so a downloaded folder could make the node open any file
    (or block on a FIFO). A name that stays inside may still be a symbolic link, as in the Hugging Face cache.

    Raises:
        CheckpointError: unreadable index, a name outside the folder, or a shard that is not a regular file (a link to
            nothing named as :func:`~.hub_id.broken_link` names it).
    """
    index_path = directory / "model.safetensors.index.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        names = sorted(set(index["weight_map"].values()))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as err:
        msg = f"{index_path} is not a readable shard index ({type(err).__name__}: {err}); fetch the model again"
        raise CheckpointError(msg) from None
    for name in names:
        parts = PurePosixPath(str(name)).parts
        if not isinstance(name, str) or not parts or name.startswith(("/", "\\")) or ".." in parts or "\\" in name:
            msg = (
                f"{index_path} names the shard {name!r}, outside {directory}: shards are files in the model folder; "
                f"do not use this folder, {FETCH_AGAIN}"
            )
            raise CheckpointError(msg)
        if not (directory / name).is_file():
            msg = broken_link(directory / name) or (
                f"{index_path} names the shard {name!r}, which is not a file in {directory}; fetch the model again"
            )
            raise CheckpointError(msg)


def _config_errors() -> tuple[type[Exception], ...]:
    """What building a config object raises on a field it refuses: ValueError / TypeError / KeyError, and (transformers
    5) huggingface_hub's strict-dataclass validation error, which is none of them."""
    try:
        from huggingface_hub.errors import StrictDataclassError
    except ImportError:  # an older huggingface_hub: transformers validates nothing by type
        return (ValueError, TypeError, KeyError)
    return (ValueError, TypeError, KeyError, StrictDataclassError)


def config_object(
    config: dict[str, Any], library: Any, source: str, remedy: str = "fetch the model again", editable: bool = True
) -> Any:
    """The transformers config object of a parsed ``config.json`` (``model_type`` included), built offline.

    Args:
        config: the parsed file (or a checkpoint's copy of it).
        library: the ``transformers`` module.
        source: what to name in the error (``DIR/config.json``).
        remedy: the other way out the error names.
        editable: whether a user can write the field (a config.json: the error says how); False for a checkpoint's
            spec, which is inside the file (the error gives ``remedy`` alone).

    Raises:
        CheckpointError: a field the installed transformers refuses (transformers 5 checks types: a ``max_depth``
            of 20.0 or "20" where it expects an int), named with its value.
    """
    fields = {key: value for key, value in config.items() if key != "model_type"}
    try:
        return library.AutoConfig.for_model(str(config.get("model_type")), **fields)
    except _config_errors() as err:
        cause = err.__cause__ if err.__cause__ is not None else err
        detail = " ".join(f"{first_line(err)} {cause}".split()) if cause is not err else " ".join(str(err).split())
        detail = re.sub(r"<class '(\w+)'>", r"\1", detail)[:300]
        detail += "".join(f"; it has {key}: {value!r}" for key, value in _unshown(fields, detail))
        fix = (
            "write that field as one of the values it lists"  # a value of the right type that transformers refuses
            if "one of" in detail
            else "write that field as the type it names (a whole number such as 20 where it expects int)"
        )
        msg = (
            f"{source} is not a {config.get('model_type')} config transformers {library.__version__} accepts "
            f"({detail}); {f'{fix}, or ' if editable else ''}{remedy}"
        )
        raise CheckpointError(msg) from None


def _unshown(fields: dict[str, Any], detail: str) -> list[tuple[str, Any]]:
    """The plain (str, number, bool) fields a refusal's ``detail`` names without their value (a class validator's
    ``depth_estimation_type must be one of [...]``, or ``got bogus`` unquoted), to name it."""
    return [
        (key, value)
        for key, value in fields.items()
        if isinstance(value, str | int | float | bool)
        and re.search(rf"\b{re.escape(key)}\b", detail)
        and repr(value) not in detail
    ]
