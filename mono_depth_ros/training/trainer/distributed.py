"""Process-group set-up for one script on one CPU, one GPU or many (torchrun / DistributedDataParallel).

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the default process group is created with NCCL when the
run uses CUDA and gloo otherwise; each process then uses ``cuda:LOCAL_RANK`` (or the CPU). When a machine starts more
processes than it has GPUs (``LOCAL_WORLD_SIZE`` > GPUs: e.g. two on one GPU, to check a multi-process run), they
share the GPUs round-robin and talk over gloo, since NCCL refuses two ranks on one device (see
:func:`process_group_plan`). Without torchrun the run is a single process and no process group is created.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.backend import resolve_device

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits.

    Attributes:
        rank: global rank (0 = the one that logs and writes checkpoints).
        world_size: number of processes.
        local_rank: rank on this machine (GPU index under torchrun).
        device: the device this process trains on.
        initialised: whether this module created the process group (and must destroy it).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    initialised: bool

    @property
    def is_main(self) -> bool:
        """True on rank 0."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one process trains."""
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        msg = f"environment variable {name}={value!r} is not an integer (set by torchrun)"
        raise ConfigError(msg) from None


def launched_rank() -> int:
    """This process's global rank as torchrun set it (``RANK``; 0 without torchrun), known before any process group
    exists: what a command checks before writing files that only rank 0 may write."""
    return _env_int("RANK", 0)


@dataclass(frozen=True)
class ProcessGroupPlan:
    """Which device index one process takes and which backend the process group uses.

    Attributes:
        device_index: the CUDA device of this process (None on the CPU).
        backend: ``nccl`` (one GPU per process) or ``gloo`` (the CPU, or processes sharing GPUs).
        shared: True when this machine runs more processes than it has GPUs.
    """

    device_index: int | None
    backend: str
    shared: bool = False


def process_group_plan(device_type: str, local_rank: int, local_world_size: int, device_count: int) -> ProcessGroupPlan:
    """The device and backend of one torchrun process: ``cuda:LOCAL_RANK`` and NCCL when every process on the machine
    has a GPU of its own (or ``local_world_size`` is 0: not known); otherwise GPU ``LOCAL_RANK mod GPUs`` and gloo
    (NCCL refuses two ranks on one GPU, and every process decides the same way since they all see the same counts).

    Raises:
        ConfigError: CUDA asked for on a machine without a GPU.
    """
    if device_type != "cuda":
        return ProcessGroupPlan(None, "gloo")
    if device_count < 1:
        msg = "run.device is cuda but no CUDA device is visible; set run.device: cpu (or auto)"
        raise ConfigError(msg)
    if 0 < device_count < local_world_size:
        return ProcessGroupPlan(local_rank % device_count, "gloo", shared=True)
    return ProcessGroupPlan(local_rank, "nccl")


def setup_distributed(device: str) -> DistContext:
    """Read the torchrun environment, pick this process's device and create the process group if needed.

    Args:
        device: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` (under torchrun, ``cuda`` means ``cuda:LOCAL_RANK``).
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    resolved = resolve_device(device)
    if world_size <= 1:
        return DistContext(rank, world_size, local_rank, resolved, False)
    device_count = torch.cuda.device_count() if resolved.type == "cuda" else 0
    # LOCAL_WORLD_SIZE: set by torchrun; without it (other launchers) every process is taken to have its own GPU
    plan = process_group_plan(resolved.type, local_rank, _env_int("LOCAL_WORLD_SIZE", 0), device_count)
    if plan.device_index is not None:
        resolved = torch.device("cuda", plan.device_index)
        torch.cuda.set_device(resolved)
    if plan.shared and rank == 0:
        _LOG.warning("more processes than GPUs on this machine: they share the GPUs and use gloo (NCCL needs one each)")
    initialised = False
    if not dist.is_initialized():
        dist.init_process_group(plan.backend, rank=rank, world_size=world_size)
        initialised = True
    return DistContext(rank, world_size, local_rank, resolved, initialised)


def teardown_distributed(context: DistContext) -> None:
    """Destroy the process group if :func:`setup_distributed` created it."""
    if context.initialised and dist.is_initialized():
        dist.destroy_process_group()


def rank0_first(work: Callable[[], object]) -> None:
    """Run ``work`` (e.g. writing a shared cache) on rank 0 only, the other processes waiting for it; in a single
    process (no process group) simply run it."""
    if not dist.is_initialized():
        work()
        return
    if dist.get_rank() == 0:
        work()
    dist.barrier()


def barrier(context: DistContext) -> None:
    """Wait for every process (no-op in a single process)."""
    if context.distributed:
        dist.barrier()


def mean_across(value: float, context: DistContext) -> float:
    """Average a float over all processes (identity in a single process)."""
    if not context.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / context.world_size


def means_across(values: list[float], context: DistContext) -> list[float]:
    """Average each of ``values`` over all processes, element by element (every process passes as many; the same
    list in a single process)."""
    if not context.distributed or not values:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)
    return [float(value) / context.world_size for value in tensor.tolist()]


def span_across(value: int, context: DistContext) -> tuple[int, int]:
    """(smallest, largest) of an integer over all processes (``(value, value)`` in a single process)."""
    if not context.distributed:
        return value, value
    tensor = torch.tensor([value, -value], dtype=torch.int64, device=context.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return -int(tensor[1].item()), int(tensor[0].item())
