"""The shared test fixtures of test/conftest.py that keep one test's process-wide settings from the next."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from test.conftest import REPO_ROOT

INNER = """
import torch  # imported before the tests: the count before each test is known


def test_1_a_pipeline_sets_threads():  # as an engine or the temporal filter with model.threads 3
    torch.set_num_threads(3)


def test_2_starts_from_the_workers_count():
    assert torch.get_num_threads() == 1
"""

INNER_LATE = """
def test_1_imports_torch_and_sets_threads():  # torch imported first by the test
    import torch

    torch.set_num_threads(3)


def test_2_starts_from_omp_num_threads():
    import torch

    assert torch.get_num_threads() == 1
"""


def test_a_test_that_raises_torch_threads_leaves_the_next_one_the_workers_count(tmp_path: Path) -> None:
    # a pipeline with external predictions and the temporal filter, like an engine, sets torch's threads for the
    # process (auto: up to 4 on a bigger machine): the worker's later tests ran on them, not on conftest's one
    (tmp_path / "test").mkdir()
    shutil.copy(REPO_ROOT / "test" / "conftest.py", tmp_path / "test" / "conftest.py")
    (tmp_path / "test" / "test_early.py").write_text(INNER)
    (tmp_path / "test" / "test_late.py").write_text(INNER_LATE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "test"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "4 passed" in done.stdout, done.stdout + done.stderr
