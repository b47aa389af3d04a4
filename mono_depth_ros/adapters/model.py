"""Model construction and the device policy, one for the node and the bag runner."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping

from mono_depth_ros.adapters.malloc_policy import keep_freed_memory
from mono_depth_ros.adapters.parameters import device_fallback
from mono_depth_ros.config import ParamValue
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.pipeline import DepthPipeline

ENGINE_MODULE = "mono_depth_ros.models.inference"  # the inference engine: imports torch
IMPORT_POLL_S = 0.05  # s, how often import_engine's caller looks for a signal while the engine is imported


def import_engine() -> None:
    """Import the inference engine (and torch) in a thread of its own while the caller waits, interruptibly.

    torch's native init runs Python modules from C++: the load guard's ``KeyboardInterrupt`` (``main``'s
    ``StopSignals.interrupting``: a signal ends the model load at once) raised in one of them went through pybind11,
    "terminate called after throwing an instance of 'pybind11::error_already_set'", and the process died of SIGABRT
    (exit -6; real Humble, a SIGTERM during a managed node's configure). Holding the signals until the import was in
    made the stop wait for it: 15-18 s on a loaded 2-core computer (load 11; 2 s idle), and the node outlived
    ``ros2 launch``'s 5 s before SIGTERM / SIGKILL (real Humble). Here the import runs where no signal is raised
    (Python raises them in the main thread only) and the caller polls it every :data:`IMPORT_POLL_S`: a signal
    ends the wait at once; the import, left to finish in its daemon thread, ends with the process. A missing
    engine is :func:`build_depth_source`'s to report, with the remedy; any other error of the import is raised here.
    """
    failed: list[BaseException] = []

    def run() -> None:
        try:
            importlib.import_module(ENGINE_MODULE)
        except ImportError:
            pass
        except BaseException as err:  # re-raised in the caller's thread
            failed.append(err)

    importer = threading.Thread(target=run, name="engine-import", daemon=True)
    importer.start()
    while importer.is_alive():  # a short timeout: a signal that Linux gave to another thread is raised here too
        importer.join(IMPORT_POLL_S)
    if failed:
        raise failed[0]


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

    import_engine()  # a signal meanwhile is raised at once, in this thread, not inside torch's native init

    def cuda_available() -> bool:
        import torch  # only for a CUDA request

        return bool(torch.cuda.is_available())

    device, warning = device_fallback(config.model.device, cuda_available)
    if warning:
        warn(warning)
    from mono_depth_ros.models.depth_source import build_depth_source  # torch only when a network runs

    return DepthPipeline(config, build_depth_source(config.with_changes({"device": device})))
