"""Shared by the distillation tests: one torch thread, and a teacher with an unlabelled folder per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from test.training.distill_support import one_thread, synthetic_clip, write_folder, write_teacher


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(root, metric teacher checkpoint, unlabelled folder with sparse LiDAR)."""
    root = tmp_path_factory.mktemp("distill")
    teacher = write_teacher(root / "teacher.safetensors")
    folder = write_folder(root / "frames", synthetic_clip(frames=6), sparse=True)
    return root, teacher, folder
