"""The size a transformers model folder declares, against the numbers its weights hold, before anything is built.

transformers builds the network ``config.json`` declares and initialises every tensor the weights lack or do not
fit (``ignore_mismatched_sizes``, missing keys) at the declared size, before the project refuses the mismatch: a
folder of a few kilobytes whose ``config.json`` declares wide layers made the node allocate tens of gigabytes.
:func:`check_declared_size` sizes the network on the meta device (no memory) and compares its parameter count with
the elements stored in the folder's safetensors files (headers only): a model that loads has every parameter in
the file at its declared shape, so it never declares more.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from mono_depth_ros.core.errors import CheckpointError

_SLACK = 1.01
"""Declared parameters may exceed the stored elements by 1 % (plus :data:`_SLACK_ELEMENTS`) before a refusal:
room for a parameter transformers initialises by design rather than loads, far from any memory exhaustion."""
_SLACK_ELEMENTS = 1 << 20
MAX_LAYERS = 1000
"""Most layers or blocks one count of a config may ask for (published depth models have a few dozen): sizing the
network on the meta device still builds Python objects for each (2000 GLPN blocks: 4 s, 120 MB)."""
_COUNT_KEY = re.compile(r"^(depths|num_\w*(layers|blocks))$")


def check_layer_counts(config: Any, source: str) -> None:
    """Refuse a config (any depth: sub-configs) whose layer or block counts (``num_hidden_layers``, ``depths``,
    ``num_encoder_blocks``, ...) exceed :data:`MAX_LAYERS`, read from the JSON before anything is built.

    Raises:
        CheckpointError: naming ``source``, the key and the count.
    """
    if isinstance(config, list):
        for item in config:
            check_layer_counts(item, source)
        return
    if not isinstance(config, dict):
        return
    for key, value in config.items():
        if _COUNT_KEY.match(str(key)):
            counts = value if isinstance(value, list) else [value]
            total = sum(int(count) for count in counts if isinstance(count, int | float) and math.isfinite(count))
            if total > MAX_LAYERS:
                what = "blocks" if "block" in str(key) else "layers"
                msg = (
                    f"{source} asks for {total} {what} in {key!r} (at most {MAX_LAYERS}; published depth models have "
                    f"a few dozen): not a depth model to build; fetch the model again"
                )
                raise CheckpointError(msg)
        check_layer_counts(value, source)


def stored_elements(directory: Path) -> int:
    """The number of tensor elements in the folder's ``model.safetensors`` (or the shards its index names, checked
    by :func:`~.hf_model.check_shard_index`), read from the headers only.

    Raises:
        SafetensorError, OSError: a weights file whose header cannot be read (the loader names the model).
    """
    single = directory / "model.safetensors"
    if single.is_file():
        files = [single]
    else:
        index = json.loads((directory / "model.safetensors.index.json").read_text(encoding="utf-8"))
        files = [directory / name for name in sorted(set(index["weight_map"].values()))]
    total = 0
    for path in files:
        with safe_open(str(path), framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118 - safe_open handles are not iterable
                total += math.prod(handle.get_slice(name).get_shape())
    return total


def check_declared_size(directory: Path, model_class: Any, hf_config: Any) -> None:
    """Refuse a folder whose ``config.json`` declares more parameters than its weights hold.

    Args:
        directory: the checked model folder.
        model_class: the transformers class that would be loaded (``AutoModelForDepthEstimation``,
            ``DepthAnythingForDepthEstimation``, ...).
        hf_config: its configuration as it would be loaded.

    Raises:
        CheckpointError: naming both counts and the remedy. SafetensorError, OSError: unreadable weights (the caller
            words it with the model's name, as for the load itself).
    """
    build = getattr(model_class, "from_config", model_class)  # an Auto class, or the model class itself
    with torch.device("meta"):
        skeleton = build(hf_config)
    declared = sum(parameter.numel() for parameter in skeleton.parameters())
    stored = stored_elements(directory)
    if declared > stored * _SLACK + _SLACK_ELEMENTS:
        msg = (
            f"{directory / 'config.json'} declares a network of {declared:,} parameters, its weights hold "
            f"{stored:,} numbers: the config and the weights are not of one model (building it would take "
            f"{4 * declared / 2**30:.1f} GiB for nothing); fetch the model again"
        )
        raise CheckpointError(msg)
