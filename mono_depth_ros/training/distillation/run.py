"""Distillation: a big teacher labels a robot's own recordings, a fast student learns the labels.

1. **Label** (:mod:`.labelling` into the cache of :mod:`.pseudo_labels`): the teacher (a project checkpoint, a Depth
   Anything V2 directory, an ONNX or TorchScript model) predicts every image of the rosbag2 files / image folders
   (:mod:`.label_sources`); the predictions are cached on disk in the teacher's output kind, with the frame's LiDAR
   projected through the bag's TF when there is one, and the teacher's encoder features when feature alignment is
   on. Resumable: cached frames are skipped undecoded.
2. **Train** (:mod:`.distill_trainer`): the student (the project's unet) learns the labels with the scale-and-shift-
   invariant loss + gradient matching on strongly perturbed inputs and CutMix (:mod:`.distill_loss`), optionally
   feature alignment and a sparse metric LiDAR term. AdamW, warm-up + cosine / poly learning rate, optional autocast,
   gradient clipping, and exactly resumable checkpoints (:mod:`.train_state`), as the trainer.
3. **Calibrate** (:mod:`.distill_calibration`): one global scale and shift in inverse depth against the teacher (or
   the LiDAR) are folded into the student's depth range, and ``<out_dir>/model.safetensors`` is written: an ordinary
   project checkpoint (ModelSpec, golden reference) that the node and the bag runner load.

The student's output kind (``student.output_kind: auto``): ``metric`` when it trained on LiDAR or its teacher is
metric; otherwise ``depth_up_to_scale``. A ``relative_inverse`` teacher's labels are inverse depth up to scale *and*
shift: the calibrated student reproduces the teacher's disparity with one global shift, so calling its output depth
up to scale assumes that shift is constant across images (Depth Anything's disparity is ~0 at the horizon); record
LiDAR with the images to make the student metric instead.

Under ``torchrun`` rank 0 labels while the other processes wait, all processes train (gradients averaged), and rank
0 calibrates and writes the student.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mono_depth_ros.adapters.signals import StopSignals
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.distillation.calibration import Calibration
from mono_depth_ros.training.distillation.config import DistillConfig
from mono_depth_ros.training.distillation.label_sources import BagSource, FolderSource, FrameSource
from mono_depth_ros.training.distillation.labelling import LabelReport, label_sources
from mono_depth_ros.training.distillation.pseudo_labels import PseudoLabelDataset
from mono_depth_ros.training.distillation.teacher import Teacher
from mono_depth_ros.training.distillation.trainer import DistillTrainer, resolve_student_kind
from mono_depth_ros.training.trainer.distributed import barrier, setup_distributed, span_across, teardown_distributed
from mono_depth_ros.training.trainer.state import (
    check_resume_value,
    refuse_earlier_run,
    refuse_uneven_resume,
    require_out_folder,
)


def open_sources(config: DistillConfig) -> list[FrameSource]:
    """The bags and folders a config names, indexed (bags: first pass over each).

    Raises:
        ConfigError: neither bags nor folders. BagError: an unreadable bag or a missing topic.
    """
    d = config.data
    if not d.bags and not d.folders:
        msg = "nothing to label: give data.bags (--bags) and / or data.folders (--folders)"
        raise ConfigError(msg)
    sources: list[FrameSource] = []
    for bag in d.bags:
        sources.append(
            BagSource(
                Path(bag),
                d.image_topic,
                d.camera_info_topic,
                d.lidar_topic,
                d.lidar.max_age_s,
                d.image_is_rectified,
                d.distro,
                d.stride,
                d.max_frames,
                lidar_motion_frame=d.lidar.motion_frame,
                image_significant_bits=d.image_significant_bits,
            )
        )
    sources.extend(FolderSource(Path(folder), d.stride, d.max_frames) for folder in d.folders)
    return sources


@dataclass(frozen=True)
class DistillResult:
    """What :func:`distill` returns.

    Attributes:
        step: optimiser steps done. model_path: the calibrated student (None when stopped early or label-only).
        output_kind: the student's. calibration: the fitted map (None before the end).
        labels: the labelling report (None when training only). wall_s: this call. images_per_s: training speed.
    """

    step: int
    model_path: Path | None
    output_kind: OutputKind
    calibration: Calibration | None
    labels: LabelReport | None
    wall_s: float
    images_per_s: float


def distill(
    config: DistillConfig,
    resume: str | Path | None = None,
    stop_at_step: int | None = None,
    label_only: bool = False,
    on_start: Callable[[], object] | None = None,
    stop: StopSignals | None = None,
) -> DistillResult:
    """Label (resuming the cache), then train, calibrate and write the student (see the module docstring).

    Args:
        config: the run.
        resume: ``"auto"`` (latest checkpoint under ``run.out_dir``) or a checkpoint file; None starts afresh.
        stop_at_step: stop early, as if interrupted (after writing that step's checkpoint).
        label_only: fill the pseudo-label cache and stop.
        on_start: run in every process once the run is accepted (e.g. the command's writing of
            ``distill_config.yaml``): before labelling, or when resuming once the checkpoint is restored.
        stop: SIGTERM / Ctrl-C: labelling is interrupted at once (the cache keeps every finished label), training
            checkpoints the step in hand and returns (see :meth:`DistillTrainer.fit`).

    Raises:
        ConfigError: a fresh run into a ``run.out_dir`` holding an earlier run (see
            :func:`~mono_depth_ros.training.trainer.state.refuse_earlier_run`), a ``run.out_dir`` that is a file, a
            ``resume`` that is no checkpoint pair (:func:`~mono_depth_ros.training.trainer.state.check_resume_value`),
            a ``resume`` beside ``label_only`` (nothing trains to resume), or the config's own errors.
    """
    started = time.perf_counter()
    if label_only and resume is not None:  # labelling stops before any training step: nothing would resume
        msg = f"--resume {resume} is not read with --label-only (it fills the label cache and stops); give one of them"
        raise ConfigError(msg)
    if not label_only:
        require_out_folder(config.run.out_dir)
    if resume is not None and not label_only:
        check_resume_value(resume)
    if resume is None and not label_only:
        refuse_earlier_run(config.run.out_dir)
    context = setup_distributed(config.run.device)
    try:
        if on_start is not None and (resume is None or label_only):
            on_start()
        sources = open_sources(config)
        report = None
        labelling = stop.interrupting() if stop is not None else contextlib.nullcontext()
        if context.is_main:  # one labeller fills the shared cache; the other processes wait for it
            with labelling:  # a signal stops at once: every finished label is in the cache
                teacher = Teacher.open(config.teacher)
                report = label_sources(
                    teacher,
                    sources,
                    config.data.cache_dir,
                    config.label_hw,
                    config.data.feature_stride,
                    config.run.progress,
                )
            del teacher
        barrier(context)
        dataset = PseudoLabelDataset(config.data.cache_dir, [s.name for s in sources])
        if label_only:
            lidar = config.loss.lidar_weight > 0 and dataset.lidar_frames() > 0
            kind = resolve_student_kind(config.student.output_kind, dataset.manifest.kind, lidar)
            return DistillResult(0, None, kind, None, report, time.perf_counter() - started, 0.0)
        with stop.interrupting() if stop is not None else contextlib.nullcontext():  # set-up: a signal stops at once
            trainer = DistillTrainer(config, dataset, context)
            if resume is not None:
                trainer.resume(None if str(resume) == "auto" else resume)
                refuse_uneven_resume(span_across(trainer.step, context), config.run.out_dir)
        if resume is not None and on_start is not None:  # the resume accepted
            on_start()
        _, images_per_s = trainer.fit(stop_at_step, stop)
        calibration, model_path = None, None
        if trainer.step >= config.run.steps and context.is_main and not (stop is not None and stop.received):
            calibration = trainer.calibrate()
            model_path = trainer.save_final(calibration)
        barrier(context)
    finally:
        teardown_distributed(context)
    wall = time.perf_counter() - started
    return DistillResult(trainer.step, model_path, trainer.spec.output_kind, calibration, report, wall, images_per_s)
