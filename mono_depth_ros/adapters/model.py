"""Model construction and the device policy, one for the node and the bag runner."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from contextlib import suppress

from mono_depth_ros.adapters.malloc_policy import keep_freed_memory
from mono_depth_ros.adapters.parameters import device_fallback
from mono_depth_ros.config import ParamValue
from mono_depth_ros.core.deferred_signals import signals_deferred
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.pipeline import DepthPipeline

ENGINE_MODULE = "mono_depth_ros.models.inference"  # the inference engine: imports torch


def import_engine() -> None:
    """Import the inference engine (and torch) with SIGINT / SIGTERM held until it is in.

    torch's native init runs Python modules from C++: the load guard's ``KeyboardInterrupt`` (``main``'s
    ``StopSignals.interrupting``: a signal ends the model load at once) raised in one of them went through pybind11,
    "terminate called after throwing an instance of 'pybind11::error_already_set'", and the process died of SIGABRT
    (exit -6; real Humble, a SIGTERM during a managed node's configure). Raised after the import, it ends the load as
    anywhere else: exit 0. A missing engine is :func:`build_depth_source`'s to report, with the remedy.
    """
    with signals_deferred(), suppress(ImportError):
        importlib.import_module(ENGINE_MODULE)


def build_pipeline(config: DepthConfig | Mapping[str, ParamValue], warn: Callable[[str], object]) -> DepthPipeline:
    """The pipeline with the network that ``model.*`` and ``device`` describe (none for ``external``).

    An explicit ``cuda`` / ``cuda:N`` without CUDA falls back to the CPU with a warning (``auto`` does so inside
    the loader). Missing weights raise CheckpointError (``main`` logs it and exits with code 1). The process keeps
    the memory a frame frees for the next frame (:func:`~.malloc_policy.keep_freed_memory`: no fresh pages every frame).
    """
    keep_freed_memory()
    config = DepthConfig.of(config)
    if config.model.backend == "external":
        return DepthPipeline(config, None)

    import_engine()  # a signal meanwhile is raised after it, not inside torch's native init

    def cuda_available() -> bool:
        import torch  # only for a CUDA request

        return bool(torch.cuda.is_available())

    device, warning = device_fallback(config.model.device, cuda_available)
    if warning:
        warn(warning)
    from mono_depth_ros.models.depth_source import build_depth_source  # torch only when a network runs

    return DepthPipeline(config, build_depth_source(config.with_changes({"device": device})))
