"""Tiny training settings shared by the training and command tests (a few seconds of CPU per run)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from mono_depth_ros.training.trainer.config import TrainConfig, load_train_config

if TYPE_CHECKING:
    from mono_depth_ros.training.trainer.loop import Trainer, TrainResult

RENDERING = ("data.train_seeds", "data.val_seeds", "data.frames_per_clip", "data.val_frames_per_clip", "data.beams")
VALIDATION = ("data.val_seeds", "data.val_frames_per_clip")
"""The rendering settings only the trainer's validation reads (refused with ``run.validate: false``)."""


def tiny_overrides(out_dir: Path, cache_dir: Path, objective: str = "supervised", **extra: object) -> list[str]:
    """``section.key=value`` overrides for a 32×64, width-4 network on two 6-frame drives (batch 2)."""
    values: dict[str, object] = {
        "model.encoder_width": 4,
        "model.decoder_channels": "[4, 4, 4, 4, 4]",
        "model.input_height": 32,
        "model.input_width": 64,
        "data.train_seeds": "[11, 12]",
        "data.val_seeds": "[13]",
        "data.frames_per_clip": 6,
        "data.val_frames_per_clip": 2,
        "data.beams": 16,
        "data.cache_dir": str(cache_dir),
        "loss.objective": objective,
        "loss.pose_width": 4,
        "loss.scales": 2,
        "optim.warmup_steps": 2,
        "run.steps": 4,
        "run.batch_size": 2,
        "run.device": "cpu",
        "run.threads": 1,
        "run.checkpoint_every": 2,
        "run.log_every": 1,
        "run.progress": False,
        "run.tensorboard": False,
        "run.out_dir": str(out_dir),
    }
    given = {k.replace("__", "."): v for k, v in extra.items()}
    if given.get("run.validate") is False:  # without validation its drives are not read (and refused)
        values = {k: v for k, v in values.items() if k not in VALIDATION or k in given}
    if given.get("data.kind", "synthetic") != "synthetic":  # a recorded kind refuses the rendering settings
        values = {k: v for k, v in values.items() if k not in RENDERING or k in given}
        if not given.get("data.lidar_topic"):  # only a bag's LiDAR frames are cached (exported)
            values.pop("data.cache_dir")
    no_sources = str(given.get("data.frame_offsets", "")).replace(" ", "") in ("[]", "()")
    no_pose_net = no_sources or given.get("loss.pose_source") == "ground_truth"
    if (given.get("loss.objective", objective) == "supervised" or no_pose_net) and "loss.pose_width" not in given:
        del values["loss.pose_width"]  # supervised, S mode and true poses build no pose network
    values.update(given)
    return [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items()]


def tiny_config(out_dir: Path, cache_dir: Path, objective: str = "supervised", **extra: object) -> TrainConfig:
    """A :class:`TrainConfig` from :func:`tiny_overrides` (``extra`` keys use ``__`` for the dot: run__steps=6)."""
    return load_train_config(None, tiny_overrides(out_dir, cache_dir, objective, **extra))


def fit_unvalidated(trainer: Trainer) -> TrainResult:
    """``trainer.fit()`` without its validation after every epoch, for a test that validates before and after the
    run itself and reads none of those: on two or three frames an epoch is a step, and each validation rereads and
    resizes the validation frames (half such a test's time). The weights come out the same: validation predicts
    without gradients and restores the training mode. The result's ``val`` is None: the run validated nothing (fit's
    would be the metrics of the test's validation before the run, the untrained weights')."""
    trainer.validate = lambda *_: None  # type: ignore[method-assign]
    try:
        return replace(trainer.fit(), val=None)
    finally:
        del trainer.validate
