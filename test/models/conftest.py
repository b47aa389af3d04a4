"""Fixtures shared by the model tests: torch's thread count restored after each test, a tiny unet checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from .tiny_models import write_unet_checkpoint


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
