"""Tests for training/distributed.py in one process (two processes under torchrun: test/training/test_torchrun.py)."""

from __future__ import annotations

import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.trainer.distributed import barrier, mean_across, setup_distributed, teardown_distributed


def test_single_process_context(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = setup_distributed("cpu")
    assert context.is_main and not context.distributed and context.device == torch.device("cpu")
    assert mean_across(2.5, context) == 2.5
    barrier(context)
    teardown_distributed(context)
    assert not context.initialised


def test_bad_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ConfigError, match="WORLD_SIZE"):
        setup_distributed("cpu")
