"""Fixtures shared by the model tests: a tiny unet checkpoint and its ONNX export, a cap on the memory a test may
reserve (torch's thread count, which an engine sets, is restored after each test by ../conftest.py)."""

from __future__ import annotations

import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from mono_depth_ros.models.spec import OutputKind

from .tiny_models import tiny_unet, write_unet_checkpoint


@pytest.fixture
def memory_cap() -> Iterator[int]:
    """While the test runs, this process may reserve at most 4 GiB more address space than it holds: a loader that
    allocates what a malicious file declares fails at once (MemoryError / the allocator's RuntimeError) instead of
    swapping or being killed. Yields the cap in bytes above the current size."""
    extra = 4 * 2**30
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status", encoding="ascii") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    cap = size + extra if hard == resource.RLIM_INFINITY else min(size + extra, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield extra
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny unet checkpoint with its fp32 golden reference."""
    return write_unet_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny metric unet exported to ONNX (legacy exporter, any input size) with its spec beside it."""
    from mono_depth_ros.models.export import export_onnx

    network, spec = tiny_unet(output_kind=OutputKind.METRIC)
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(network, spec, path, exporter="legacy")
    return path
