"""adapters.model: the inference engine is imported in a thread of its own (a signal inside torch's native init
aborted the process; one held until the import was in kept a loaded node running up to 12.8 s after it), and the
signal is raised at once in the caller; building the pipeline itself is covered by test/test_pipeline.py and the
node's tests."""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import signal
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest

from mono_depth_ros.adapters import model


class _SignalledDuringImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A meta-path finder whose module sends this process SIGTERM in the middle of its body, as a signal arriving
    while torch's init runs, then goes on only once ``release`` is set (a slow import: a loaded computer), and records
    whether the body ran to its end (``finished``, ``done`` set then)."""

    def __init__(self, name: str) -> None:
        self.name, self.finished = name, False
        self.release, self.done = threading.Event(), threading.Event()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        return importlib.util.spec_from_loader(fullname, self) if fullname == self.name else None

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs at the next bytecode: inside native code, in torch
        self.release.wait(10.0)  # held: an import that raised the signal's KeyboardInterrupt would not get here
        self.finished = True
        self.done.set()


@pytest.fixture
def signalled_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[_SignalledDuringImport]:
    finder = _SignalledDuringImport("mono_depth_ros_test_fake_engine")
    monkeypatch.setattr(model, "ENGINE_MODULE", finder.name)
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])

    def load_guard(signum: int, frame: Any) -> None:  # main's StopSignals.interrupting: raise at once
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, load_guard)
    try:
        yield finder
    finally:
        finder.release.set()
        finder.done.wait(10.0)
        signal.signal(signal.SIGTERM, previous)
        sys.modules.pop(finder.name, None)


def test_a_signal_during_the_engine_import_is_raised_at_once_and_the_import_goes_on(
    signalled_engine: _SignalledDuringImport,
) -> None:
    """The KeyboardInterrupt comes while the import is still in its body (it used to wait for the import's end),
    and the import is not interrupted: it runs to its end after."""
    with pytest.raises(KeyboardInterrupt):
        model.import_engine()
    assert not signalled_engine.finished  # raised while the import was in its body
    signalled_engine.release.set()
    assert signalled_engine.done.wait(10.0) and signalled_engine.finished  # not inside the import


def test_an_error_of_the_engine_import_other_than_a_missing_module_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    class _Broken(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
            return importlib.util.spec_from_loader(fullname, self) if fullname == "mono_depth_ros_test_broken" else None

        def create_module(self, spec: Any) -> None:
            return None

        def exec_module(self, module: types.ModuleType) -> None:
            raise RuntimeError("engine init failed")

    monkeypatch.setattr(model, "ENGINE_MODULE", "mono_depth_ros_test_broken")
    monkeypatch.setattr(sys, "meta_path", [_Broken(), *sys.meta_path])
    with pytest.raises(RuntimeError, match="engine init failed"):
        model.import_engine()


def test_a_missing_engine_is_left_for_build_depth_source_to_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "ENGINE_MODULE", "mono_depth_ros_test_no_such_engine")
    model.import_engine()  # no ImportError here: build_depth_source says which backend needs it, with the remedy


def test_the_model_load_is_interrupted_at_once_during_the_engine_import(
    signalled_engine: _SignalledDuringImport,
) -> None:
    """build_pipeline (the node's start-up, the managed node's configure) is where the signal came: through it."""
    with pytest.raises(KeyboardInterrupt):
        model.build_pipeline({"model.backend": "unet", "model.weights": "/no/such/weights"}, lambda text: None)
    assert not signalled_engine.finished
