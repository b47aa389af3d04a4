"""Tests for training/distributed.py in one process (two processes under torchrun: test/training/test_torchrun.py)."""

from __future__ import annotations

import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.trainer.distributed import (
    ProcessGroupPlan,
    barrier,
    mean_across,
    process_group_plan,
    setup_distributed,
    span_across,
    teardown_distributed,
)


def test_single_process_context(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    context = setup_distributed("cpu")
    assert context.is_main and not context.distributed and context.device == torch.device("cpu")
    assert mean_across(2.5, context) == 2.5
    assert span_across(7, context) == (7, 7)  # two processes: test_torchrun.py (a resume on uneven steps)
    barrier(context)
    teardown_distributed(context)
    assert not context.initialised


def test_bad_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ConfigError, match="WORLD_SIZE"):
        setup_distributed("cpu")


def test_process_group_plan_one_gpu_each_or_shared_over_gloo() -> None:
    assert process_group_plan("cpu", 1, 2, 0) == ProcessGroupPlan(None, "gloo")
    assert process_group_plan("cuda", 1, 2, 2) == ProcessGroupPlan(1, "nccl")
    # two processes on one GPU: both take GPU 0 and NCCL (which refuses two ranks on one device) gives way to gloo
    plans = [process_group_plan("cuda", rank, 2, 1) for rank in (0, 1)]
    assert plans == [ProcessGroupPlan(0, "gloo", shared=True)] * 2
    assert [process_group_plan("cuda", rank, 4, 2).device_index for rank in range(4)] == [0, 1, 0, 1]
    assert process_group_plan("cuda", 1, 0, 1) == ProcessGroupPlan(1, "nccl")  # not launched by torchrun: as before
    with pytest.raises(ConfigError, match="no CUDA device"):
        process_group_plan("cuda", 0, 2, 0)
