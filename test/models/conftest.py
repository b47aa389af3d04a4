"""Fixtures shared by the model tests: torch's thread count restored after each test, a tiny unet checkpoint and
its ONNX export."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from mono_depth_ros.models.spec import OutputKind

from .tiny_models import tiny_unet, write_unet_checkpoint


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    """An engine sets torch's intra-op threads (model.threads); the next test starts from the same count."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


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
