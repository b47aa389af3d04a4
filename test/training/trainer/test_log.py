"""Tests for training/train_log.py: CSV rows appended across runs, disabled loggers write nothing."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mono_depth_ros.training.trainer.log import LossWindow, TrainLogger

if TYPE_CHECKING:
    from mono_depth_ros.training.trainer.distributed import DistContext


def test_csv_rows_append_and_keep_columns(tmp_path: Path) -> None:
    with TrainLogger(tmp_path, True, 10, 0, progress=True, tensorboard=False) as log:
        log.step(0.5, 12.0)
        log.train_row(1, {"loss": 0.5, "lr": 1e-3})
        log.val_row(1, {"abs_rel": 0.2})
    with TrainLogger(tmp_path, True, 10, 1, progress=False, tensorboard=False) as log:
        log.train_row(2, {"loss": 0.4, "lr": 9e-4, "extra": 1.0})  # columns fixed by the first row
    rows = list(csv.DictReader((tmp_path / "train.csv").open()))
    assert [(r["step"], r["loss"]) for r in rows] == [("1", "0.5"), ("2", "0.4")] and "extra" not in rows[0]
    assert next(csv.DictReader((tmp_path / "val.csv").open()))["abs_rel"] == "0.2"


def test_disabled_logger_writes_nothing(tmp_path: Path) -> None:
    with TrainLogger(tmp_path / "rank1", False, 10, 0, progress=True, tensorboard=True) as log:
        log.step(0.1, 1.0)
        log.train_row(1, {"loss": 0.1})
        log.val_row(1, {"abs_rel": 0.1})
    assert not (tmp_path / "rank1").exists()


def test_a_resumed_loss_window_removes_the_stop_row_its_steps_go_into(tmp_path: Path) -> None:
    """A run stopped at step 4 (log_every 3) wrote row 4 from step 4 alone and saved that step with its checkpoint:
    the resumed logger (pending 1) removes row 4, whose step the next row averages; pending 0 keeps it."""
    with TrainLogger(tmp_path, True, 6, 0, progress=False, tensorboard=False) as log:
        log.train_row(3, {"loss": 0.5})
        log.train_row(4, {"loss": 0.4})
    with TrainLogger(tmp_path, True, 6, 4, progress=False, tensorboard=False, pending=0):
        pass
    assert [r["step"] for r in csv.DictReader((tmp_path / "train.csv").open())] == ["3", "4"]
    with TrainLogger(tmp_path, True, 6, 4, progress=False, tensorboard=False, pending=1):
        pass
    assert [r["step"] for r in csv.DictReader((tmp_path / "train.csv").open())] == ["3"]


@dataclass(frozen=True)
class _Run:
    """The logger's part of a ``run`` section (RunConfig, DistillRunConfig)."""

    steps: int = 6
    progress: bool = False
    tensorboard: bool = False


def test_the_logger_for_a_run_removes_the_rows_the_resumed_loop_repeats(tmp_path: Path) -> None:
    """``TrainLogger.for_run`` (the train and distill loops' one call): resumed at step 4 with one step pending it
    removes train.csv's row 4 and val.csv's rows after 4; revalidating, val.csv's row 4 too."""
    with TrainLogger.for_run(tmp_path, True, _Run(), 0, 0) as log:
        for step in (3, 4, 5):
            log.train_row(step, {"loss": 0.5})
            log.val_row(step, {"abs_rel": 0.2})
    with TrainLogger.for_run(tmp_path, True, _Run(), 4, 1):
        pass
    assert [r["step"] for r in csv.DictReader((tmp_path / "train.csv").open())] == ["3"]
    assert [r["step"] for r in csv.DictReader((tmp_path / "val.csv").open())] == ["3", "4"]
    with TrainLogger.for_run(tmp_path, True, _Run(), 4, 0, revalidate=True):
        pass
    assert [r["step"] for r in csv.DictReader((tmp_path / "val.csv").open())] == ["3"]
    with TrainLogger.for_run(tmp_path / "rank1", False, _Run(), 4, 1):
        pass
    assert not (tmp_path / "rank1").exists()


def single_process() -> DistContext:
    """A one-process context (its module needs torch: these tests are skipped without, as in the Jazzy tier)."""
    torch = pytest.importorskip("torch")
    from mono_depth_ros.training.trainer.distributed import DistContext

    return DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"), initialised=False)


def test_a_loss_window_round_trips_and_a_foreign_one_starts_empty(caplog: pytest.LogCaptureFixture) -> None:
    context = single_process()
    window = LossWindow()
    window.add(0.5, {"depth": 0.5})
    window.add(0.25, {"depth": 0.25})
    restored = LossWindow.restored(window.saved(context))
    restored.add(0.75, {"depth": 0.75})
    assert restored.means(context) == (0.5, {"depth": 0.5})
    assert len(LossWindow.restored(None)) == 0
    assert len(LossWindow.restored({"losses": [1.0], "parts": []})) == 0
    assert "log_window" in caplog.text


def test_a_resumed_loss_window_averages_a_part_over_the_steps_that_have_it() -> None:
    """A distillation resumed with LiDAR now on (``loss.lidar_weight`` 0 -> 0.5 with a metric teacher resumes) logs a
    ``lidar`` part its saved steps lack: the row averaged ``p["lidar"]`` over every step and raised KeyError."""
    context = single_process()
    window = LossWindow.restored({"losses": [1.0, 3.0], "parts": [{"ssi": 1.0}, {"ssi": 3.0}]})
    window.add(2.0, {"ssi": 2.0, "lidar": 4.0})
    assert window.means(context) == (2.0, {"ssi": 2.0, "lidar": 4.0})
