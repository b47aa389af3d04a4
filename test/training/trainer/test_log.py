"""Tests for training/train_log.py: CSV rows appended across runs, disabled loggers write nothing."""

from __future__ import annotations

import csv
from pathlib import Path

from mono_depth_ros.training.trainer.log import TrainLogger


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
