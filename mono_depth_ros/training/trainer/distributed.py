"""Process-group set-up for one script on one CPU, one GPU or many (torchrun / DistributedDataParallel).

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the default process group is created with NCCL when the
run uses CUDA and gloo otherwise; each process then uses ``cuda:LOCAL_RANK`` (or the CPU). Without torchrun the run
is a single process and no process group is created.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.backend import resolve_device


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


def setup_distributed(device: str) -> DistContext:
    """Read the torchrun environment, pick this process's device and create the process group if needed.

    Args:
        device: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` (under torchrun, ``cuda`` means ``cuda:LOCAL_RANK``).
    """
    world_size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", 0)
    resolved = resolve_device(device)
    if world_size > 1 and resolved.type == "cuda":
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    initialised = False
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo", rank=rank, world_size=world_size)
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
