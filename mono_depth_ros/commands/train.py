"""`mono-depth train`: train a depth network from a YAML config (supervised, self-supervised, LiDAR semi-supervised).

One script for every placement:

* one CPU or GPU: ``mono-depth train --config config/train_supervised_synthetic.yaml``
* several GPUs (or CPU processes, gloo): ``torchrun --nproc_per_node=4 -m mono_depth_ros.cli train --config ...``

``--set section.key=value`` overrides any config field (repeatable); ``--resume auto`` continues from the latest
checkpoint in ``run.out_dir`` (exactly: same weights as an uninterrupted run). SIGTERM (a cluster scheduler's
pre-emption) or Ctrl-C ends the step in hand, writes its checkpoint and exits 143 / 130; a second one stops at
once. The result is
``<run.out_dir>/model.safetensors``, loadable by the node (``model.backend: unet``, ``model.weights: <file>``).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from mono_depth_ros.adapters.signals import StopSignals
from mono_depth_ros.training.trainer.config import TrainConfig, load_train_config
from mono_depth_ros.training.trainer.distributed import launched_rank
from mono_depth_ros.training.trainer.loop import train
from mono_depth_ros.training.trainer.state import TRAIN_CONFIG_NAME

HELP = "train a depth network from a YAML config (one CPU / GPU, or many processes under torchrun)"


def add_overrides_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--set SECTION.KEY=VALUE`` (repeatable, into ``overrides``): the config overrides of ``train`` and
    ``distill``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config field, value parsed as YAML (repeatable), e.g. --set run.steps=100",
    )


def resume_help(written: str, option: str) -> str:
    """``--resume``'s help: what ``auto`` and a file are, and the configuration the run wrote (``written``, read back
    by ``option``)."""
    return (
        "continue a run: auto = the latest checkpoint in run.out_dir (--out), or FILE = one of its "
        f"checkpoints/step_N.safetensors (its .state.pt beside it); with the run's settings ({option} "
        f"<out>/{written})"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` options."""
    parser.add_argument("--config", type=Path, help="YAML training config (default: all defaults)")
    add_overrides_argument(parser)
    parser.add_argument("--out", type=Path, help="output folder (same as --set run.out_dir=...)")
    parser.add_argument("--resume", metavar="auto|FILE", help=resume_help(TRAIN_CONFIG_NAME, "--config"))


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The configuration the arguments describe (config file, then ``--set``, then ``--out``)."""
    overrides = list(args.overrides)
    if args.out is not None:
        overrides.append(f"run.out_dir={args.out}")
    return load_train_config(args.config, overrides)


def config_writer(out_dir: str, name: str, text: str) -> Callable[[], None]:
    """A run's ``on_start``: write ``text`` to ``out_dir/name`` (rank 0 only under torchrun) once the run is accepted,
    so that a refused run leaves the folder's config as it was."""

    def write() -> None:
        if launched_rank() == 0:
            folder = Path(out_dir)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)

    return write


def stopped(command: str, reason: str, step: int, steps: int, resume_with: str) -> int:
    """Say (rank 0) that ``mono-depth COMMAND`` stopped on signal ``reason`` after its checkpoint, and how to go on:
    the same command with ``--resume auto``, or ``resume_with`` (the option and the configuration the run wrote into
    its folder, ``--config runs/x/config.yaml``: ``--resume auto`` alone resumes from the default ``run.out_dir``);
    the exit code a shell reports for that signal (143 for SIGTERM, 130 for SIGINT)."""
    if launched_rank() == 0:
        sys.stderr.write(
            f"mono-depth {command}: stopped by {reason} at step {step} of {steps}, after its checkpoint; continue "
            f"with the same command and --resume auto, or: mono-depth {command} {resume_with} --resume auto\n"
        )
    return 128 + int(signal.Signals[reason])


def _notify(reason: str) -> None:
    if launched_rank() == 0:
        sys.stderr.write(
            f"mono-depth train: {reason}: finishing the step and writing its checkpoint (again: stop now)\n"
        )


def run(args: argparse.Namespace) -> int:
    """Train; prints a summary on rank 0. Returns 0, or 143 / 130 when SIGTERM / Ctrl-C stopped it after a
    checkpoint (errors are raised as DepthError)."""
    config = build_config(args)

    stop = StopSignals.install(escalate=True, notify=_notify)  # SIGTERM / Ctrl-C: checkpoint this step, then stop
    try:
        on_start = config_writer(config.run.out_dir, TRAIN_CONFIG_NAME, config.to_yaml())
        result = train(config, resume=args.resume, on_start=on_start, stop=stop)
    finally:
        stop.restore()
    if stop.received and result.model_path is None:
        written = Path(config.run.out_dir) / TRAIN_CONFIG_NAME
        return stopped("train", stop.reason, result.step, config.run.steps, f"--config {written}")
    if result.model_path is not None:
        lines = [
            f"trained {result.step} steps in {result.wall_s:.1f} s ({result.images_per_s:.1f} images/s)",
            f"model: {result.model_path} (output {config.output_kind.value})",
        ]
        if result.val is not None and result.val.count == 0:  # e.g. self-supervised on a bag without LiDAR
            lines.append("validation: no image with ground truth (0 scored)")
        elif result.val is not None:
            v = result.val
            lines.append(f"validation: abs_rel {v.abs_rel:.4f}  rmse {v.rmse:.3f} m  a1 {v.a1:.4f}  ({v.count} images)")
        sys.stdout.write("\n".join(lines) + "\n")
    return 0
