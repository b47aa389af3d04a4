"""Shared fixtures: the real frames in ../shared/data (override with MONO_DEPTH_DATA)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Run across pytest-xdist workers (``make unit``: ``-n 2``), each worker and every process a test starts uses one
    torch intra-op thread: OMP_NUM_THREADS=1 (unless set already) is in the environment before the workers start.
    torch's waiting intra-op threads spin, so two workers with a machine-wide pool each would spin against each other
    on a 2-core machine. Without ``-n`` (and in the workers themselves) nothing changes."""
    if getattr(config.option, "numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _torch_threads_kept() -> Iterator[None]:
    """Each test starts from the worker's torch intra-op thread count (one under ``-n``): an engine or a pipeline with
    the temporal filter sets it for the whole process (``model.threads``, auto: half the cores, at most 4), which
    left the worker's later tests four spinning threads on a bigger machine. torch is not imported for this; where a
    test imports it first, the count is put back to ``OMP_NUM_THREADS`` (torch's own start value) when that is set."""
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    yield
    torch = sys.modules.get("torch")
    if threads is None and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        threads = int(os.environ["OMP_NUM_THREADS"]) or None
    if torch is not None and threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def shared_data_dir() -> Path:
    """Folder of real test frames: $MONO_DEPTH_DATA, else ../shared/data beside the checkout."""
    env = os.environ.get("MONO_DEPTH_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real test data not found at {path} (set MONO_DEPTH_DATA)")
    return path


def _folder_or_skip(path: Path, what: str) -> Path:
    """``path`` when it is a folder; otherwise the test that asked for it is skipped (``what`` names the data)."""
    if not path.is_dir():
        pytest.skip(f"{what} not found at {path}")
    return path


@pytest.fixture(scope="session")
def kitti_object_dir(data_dir: Path) -> Path:
    return _folder_or_skip(data_dir / "kitti_object_3frames" / "training", "KITTI object frames")


@pytest.fixture(scope="session")
def kitti_depth_dir(data_dir: Path) -> Path:
    return _folder_or_skip(data_dir / "metric3d_kitti_demo", "KITTI annotated depth frames")


@pytest.fixture(scope="session")
def nyu_dir(data_dir: Path) -> Path:
    return _folder_or_skip(data_dir / "metric3d_nyu_demo", "NYU frames")
