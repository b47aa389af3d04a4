"""Multi-process training through ``torchrun --standalone --nproc_per_node=2`` itself (gloo on the CPU).

Each test launches the real command line (``mono-depth train`` / ``mono-depth distill``) in two processes through
:mod:`test.training.torchrun_entry`, which gives each rank its own output folder (``{rank}`` in the arguments) and
records a SHA-256 of the trained parameters per rank. The ranks must end with identical parameters (gradients
averaged, same updates) and only rank 0's folder may hold files. A few steps on tiny images: ~10-20 s each.
``MONO_DEPTH_TORCHRUN_DEVICE=cuda`` trains the unet run on the GPU (on a one-GPU machine both ranks share it over
gloo: ``bench/gpu.sh``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.trainer.loop import train
from test.conftest import REPO_ROOT
from test.kitti_raw_tree import DRIVE, build_raw_tree
from test.training.distill_support import synthetic_clip, tiny_mapping, write_folder, write_teacher
from test.training.tiny import tiny_config, tiny_overrides
from test.training.trainer.test_pretrained import HEIGHT, WIDTH, write_tiny_depth_anything

pytestmark = pytest.mark.slow
ENTRY = Path(__file__).with_name("torchrun_entry.py")
DEVICE = os.environ.get("MONO_DEPTH_TORCHRUN_DEVICE", "cpu")  # the unet run's run.device


def run_torchrun(checksums: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``torchrun --standalone --nproc_per_node=2 torchrun_entry.py`` with mono-depth ``args`` (output captured)."""
    path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}  # this checkout's package in every rank
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(ENTRY)]
    return run_stopping([*command, str(checksums), *args], env=env, cwd=REPO_ROOT, timeout_s=240)


def run_stopping(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float,
    grace_s: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)``, but past the timeout the
    process is asked to stop (SIGTERM: torchrun stops its ranks, which run in sessions of their own; subprocess.run's
    SIGKILL took torchrun alone and left two ranks hung in an all-reduce spinning for good), and killed when it still
    runs ``grace_s`` later (torchrun's own shutdown sends the ranks SIGKILL 30 s after SIGTERM)."""
    with subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.communicate(timeout=grace_s)
            except subprocess.TimeoutExpired:  # still running: killed, as subprocess.run does (Popen's exit waits)
                process.kill()
                process.communicate()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def torchrun(checksums: Path, args: list[str]) -> list[dict[str, object]]:
    """:func:`run_torchrun`, which must succeed; the ranks' records."""
    done = run_torchrun(checksums, args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return [json.loads((checksums / f"rank{rank}.json").read_text()) for rank in (0, 1)]


@pytest.mark.parametrize("ignores_sigterm", [False, True], ids=["stops at SIGTERM", "ignores SIGTERM"])
def test_a_command_past_its_timeout_is_stopped_and_its_output_kept(ignores_sigterm: bool) -> None:
    """run_torchrun's timeout: the command gets SIGTERM (torchrun stops its ranks so), and one that is still running
    after the grace time is killed, as subprocess.run kills it: it hung the test in Popen's exit, which waits for
    good. The TimeoutExpired carries the output read before the timeout, as subprocess.run's does."""
    ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN); " if ignores_sigterm else ""
    child = f"import signal, sys, time; {ignore}print('started', file=sys.stderr, flush=True); time.sleep(30)"
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as error:
        run_stopping([sys.executable, "-c", child], timeout_s=2, grace_s=1)
    assert time.monotonic() - start < 15  # not the child's 30 s
    assert b"started" in (error.value.stderr or b""), error.value.stderr  # bytes, as subprocess.run's


def assert_in_sync_and_rank0_writes(records: list[dict[str, object]], runs: Path, steps: int) -> None:
    assert [r["world_size"] for r in records] == [2, 2] and [r["step"] for r in records] == [steps, steps]
    assert records[0]["sha256"] == records[1]["sha256"]  # identical parameters on both ranks
    assert (runs / "rank0" / "model.safetensors").is_file()
    rank1 = runs / "rank1"
    assert not rank1.exists() or not any(rank1.rglob("*")), sorted(rank1.rglob("*"))  # rank 1 wrote nothing


def test_torchrun_train_tiny_unet(tmp_path: Path) -> None:
    cache = tmp_path / "clips"
    train(tiny_config(tmp_path / "warm", cache, "selfsup", run__steps=1))  # renders the drives once (shared cache)
    args = ["train"] + [
        a
        for item in tiny_overrides(
            tmp_path / "runs" / "rank{rank}", cache, "selfsup", run__steps=3, run__device=DEVICE, optim__warmup_steps=5
        )
        for a in ("--set", item)
    ]
    done = run_torchrun(tmp_path / "sums", args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    records = [json.loads((tmp_path / "sums" / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert_in_sync_and_rank0_writes(records, tmp_path / "runs", 3)
    assert (tmp_path / "runs" / "rank0" / "config.yaml").is_file()
    # both ranks build the same lr schedule: the warm-up outlasting the run is said once, by rank 0
    assert (done.stdout + done.stderr).count("optim.warmup_steps 5 is longer than the run (run.steps 3)") == 1


def test_torchrun_resume_refuses_ranks_that_found_different_checkpoints(tmp_path: Path) -> None:
    # run.out_dir on each node's own disk: rank 0 found its step-2 checkpoint, rank 1 (nothing there) started from
    # step 0 with its random weights; the ranks then ran different numbers of steps with different weights, and the
    # one with more steps hung in its all-reduce once the other had finished
    cache = tmp_path / "clips"
    # the first run as rank 0 left it: its checkpoints (step 2) in rank 0's folder, none in rank 1's. One process
    # writes them (a checkpoint records no process count) where a torchrun of its own took ~15 s more
    train(tiny_config(tmp_path / "runs" / "rank0", cache, "supervised", run__steps=2))
    assert (tmp_path / "runs" / "rank0" / "checkpoints" / "step_0000002.safetensors").is_file()
    runs = tmp_path / "runs" / "rank{rank}"
    args = ["train"] + [a for item in tiny_overrides(runs, cache, "supervised", run__steps=2) for a in ("--set", item)]
    done = run_torchrun(tmp_path / "sums", [*args, "--set", "run.steps=4", "--resume", "auto"])
    assert done.returncode != 0
    assert "resumed from different steps (0 to 2)" in done.stderr and "every process" in done.stderr
    assert not (tmp_path / "runs" / "rank0" / "checkpoints" / "step_0000004.safetensors").exists()


def test_torchrun_finetune_tiny_depth_anything(kitti_object_dir: Path, tmp_path: Path) -> None:
    model = write_tiny_depth_anything(tmp_path / "tiny_da")
    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    split = tmp_path / "split.txt"
    split.write_text(f"{DRIVE} 0 l\n{DRIVE} 1 l\n")
    extra = {
        "data__kind": "kitti_raw",
        "data__root": str(root),
        "data__split": str(split),
        "model__pretrained": str(model),
        "model__input_height": HEIGHT,
        "model__input_width": WIDTH,
        "model__max_depth_m": 80.0,
        "optim__encoder_lr_scale": 0.1,
        "loss__scales": 1,
        "run__batch_size": 1,
        "run__steps": 2,
    }
    overrides = tiny_overrides(tmp_path / "runs" / "rank{rank}", tmp_path / "clips", "supervised", **extra)
    records = torchrun(tmp_path / "sums", ["train"] + [a for item in overrides for a in ("--set", item)])
    assert_in_sync_and_rank0_writes(records, tmp_path / "runs", 2)
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    loaded = DepthEstimator.open("depth_anything_v2", tmp_path / "runs" / "rank0" / "pretrained", options)
    assert loaded.output_kind is OutputKind.METRIC


def test_torchrun_distill_tiny_student(tmp_path: Path) -> None:
    teacher = write_teacher(tmp_path / "teacher.safetensors")
    folder = write_folder(tmp_path / "frames", synthetic_clip(frames=8))
    mapping = tiny_mapping(tmp_path / "ignored", teacher)
    del mapping["teacher"], mapping["data"]
    student = tmp_path / "student.yaml"
    student.write_text(yaml.safe_dump(mapping))
    args = ["distill", "--teacher", str(teacher), "--folders", str(folder), "--student", str(student), "-q"]
    args += [
        "--cache",
        str(tmp_path / "labels"),
        "--out",
        str(tmp_path / "runs" / "rank{rank}"),
        "--set",
        "run.steps=3",
    ]
    records = torchrun(tmp_path / "sums", args)
    assert_in_sync_and_rank0_writes(records, tmp_path / "runs", 3)
    assert len(list((tmp_path / "labels").rglob("*.npz"))) == 8  # rank 0 labelled every frame once
