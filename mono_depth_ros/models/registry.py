"""The one table of model architectures: name -> builder(spec) -> nn.Module, with default normalisation.

Architectures that need heavy optional packages register lazily: the table holds the module path, and that module
is imported (and must call :func:`register`) only when the architecture is first looked up, so e.g. transformers is
imported only when ``depth_anything_v2`` is built. Adding an architecture is one :func:`register` call in its own
module plus, when it should load lazily, one entry in ``_LAZY_MODULES`` (or a :func:`register_lazy` call).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.spec import ModelSpec, OutputKind
from mono_depth_ros.models.unet import build_unet

Builder = Callable[[ModelSpec], nn.Module]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Architecture:
    """One registry entry.

    Attributes:
        name: registry key (``ModelSpec.architecture``).
        builder: spec -> untrained (or pretrained, for wrappers that load their own weights) ``nn.Module``.
        mean, std: default per-channel normalisation of RGB in [0, 1] for new specs of this architecture.
        output_kind: default output kind for new specs.
        description: one line for ``mono-depth params`` and error messages.
    """

    name: str
    builder: Builder
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    output_kind: OutputKind = OutputKind.DEPTH_UP_TO_SCALE
    description: str = ""


_REGISTRY: dict[str, Architecture] = {}
# name -> module whose import registers it (imported on first lookup only).
_LAZY_MODULES: dict[str, str] = {
    "depth_anything_v2": "mono_depth_ros.models.depth_anything",
    "transformers": "mono_depth_ros.models.hf_model",
}


def register(
    name: str,
    builder: Builder,
    *,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    output_kind: OutputKind = OutputKind.DEPTH_UP_TO_SCALE,
    description: str = "",
    replace: bool = False,
) -> Architecture:
    """Add an architecture to the table.

    Args:
        name: registry key.
        builder: spec -> nn.Module.
        mean, std: default normalisation of RGB in [0, 1].
        output_kind: default output kind of new specs.
        description: one line of help.
        replace: allow replacing an existing entry (tests, plug-ins); otherwise a second registration is an error.

    Returns:
        The new entry.

    Raises:
        ConfigError: the name is taken (and ``replace`` is False).
    """
    if name in _REGISTRY and not replace:
        msg = f"architecture {name!r} is already registered; pass replace=True to override it"
        raise ConfigError(msg)
    entry = Architecture(name, builder, mean, std, OutputKind(output_kind), description)
    _REGISTRY[name] = entry
    return entry


def register_lazy(name: str, module: str) -> None:
    """Declare that importing ``module`` registers architecture ``name`` (imported on first lookup)."""
    _LAZY_MODULES[name] = module


def available_architectures() -> list[str]:
    """Every architecture name, registered or lazily importable, sorted."""
    return sorted(set(_REGISTRY) | set(_LAZY_MODULES))


def get_architecture(name: str) -> Architecture:
    """Look an architecture up, importing its module first when it registers lazily.

    Raises:
        ConfigError: unknown name (the message lists the known ones), or its module cannot be imported (the
            message names the missing package and the pip extra to install).
    """
    if name not in _REGISTRY and name in _LAZY_MODULES:
        module = _LAZY_MODULES[name]
        try:
            importlib.import_module(module)
        except ImportError as err:
            msg = (
                f"architecture {name!r} needs {module}, which failed to import ({err}); install the optional "
                f"dependencies (e.g. pip install 'mono_depth_ros[hf]')"
            )
            raise ConfigError(msg) from None
    if name not in _REGISTRY:
        msg = f"unknown model architecture {name!r}; known: {', '.join(available_architectures())}"
        raise ConfigError(msg)
    return _REGISTRY[name]


def build_model(spec: ModelSpec) -> nn.Module:
    """Build the network a spec describes (weights as the builder leaves them: load a checkpoint afterwards).

    Raises:
        ConfigError: unknown architecture or bad ``spec.params``.
    """
    return get_architecture(spec.architecture).builder(spec)


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameter counts per top-level child (e.g. encoder / decoder / heads) plus ``total``.

    Parameters shared between children are counted once (``named_parameters`` drops duplicates); parameters held
    directly by ``model`` count as ``other``.
    """
    counts: dict[str, int] = {}
    for name, param in model.named_parameters():
        part = name.split(".", 1)[0] if "." in name else "other"
        counts[part] = counts.get(part, 0) + param.numel()
    counts["total"] = sum(counts.values())
    return counts


register("unet", build_unet, description="ResNet encoder + U-Net decoder (the project's own, trainable on CPU)")
