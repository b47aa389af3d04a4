"""adapters.model: the inference engine's import holds SIGINT / SIGTERM (a signal inside torch's native init
aborted the process); building the pipeline itself is covered by test/test_pipeline.py and the node's tests."""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import signal
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from mono_depth_ros.adapters import model


class _SignalledDuringImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """A meta-path finder whose module sends this process SIGTERM in the middle of its body, as a signal arriving
    while torch's init runs, and records whether the body ran to its end."""

    def __init__(self, name: str) -> None:
        self.name, self.finished = name, False

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        return importlib.util.spec_from_loader(fullname, self) if fullname == self.name else None

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs at the next bytecode: inside native code, in torch
        for _ in range(1000):
            pass
        self.finished = True


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
        signal.signal(signal.SIGTERM, previous)
        sys.modules.pop(finder.name, None)


def test_a_signal_during_the_engine_import_is_raised_after_it(signalled_engine: _SignalledDuringImport) -> None:
    with pytest.raises(KeyboardInterrupt):
        model.import_engine()
    assert signalled_engine.finished  # the KeyboardInterrupt came after the import, not inside it


def test_a_missing_engine_is_left_for_build_depth_source_to_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "ENGINE_MODULE", "mono_depth_ros_test_no_such_engine")
    model.import_engine()  # no ImportError here: build_depth_source says which backend needs it, with the remedy


def test_the_model_load_imports_the_engine_with_the_signals_held(signalled_engine: _SignalledDuringImport) -> None:
    """build_pipeline (the node's start-up, the managed node's configure) is where the signal came: through it."""
    with pytest.raises(KeyboardInterrupt):
        model.build_pipeline({"model.backend": "unet", "model.weights": "/no/such/weights"}, lambda text: None)
    assert signalled_engine.finished
