"""`mono-depth distill`: a big teacher labels a robot's recordings, a fast student learns the labels.

``mono-depth distill --teacher DIR_OR_CKPT --bags BAG... --student CONFIG``

* ``--teacher``: a transformers depth-model directory (HF layout: Depth Anything V2, DPT, ...), an ONNX /
  TorchScript model or a project checkpoint (backend guessed from the path; ``--teacher-backend`` to force one);
* ``--bags`` rosbag2 recordings and / or ``--folders`` image folders (unlabelled);
* ``--student`` the distillation YAML (student network, loss, optimiser, run; see config/distill_synthetic.yaml);
  ``--set section.key=value`` overrides any field.

Pseudo-labels go to ``data.cache_dir`` (``--cache``), resumable: a second run labels only what is missing. The
student is ``<run.out_dir>/model.safetensors`` (``--out``), loadable by the node and the bag runner
(``--param model.weights=<file>``). ``--resume auto`` continues training from the latest checkpoint;
``--label-only`` stops after labelling. SIGTERM / Ctrl-C while labelling stops at once (finished labels stay
cached); while training it writes the step in hand's checkpoint and exits 143 / 130 (a second signal: at once).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from mono_depth_ros.adapters.signals import StopSignals
from mono_depth_ros.commands.train import add_overrides_argument, config_writer, resume_help, stopped
from mono_depth_ros.training.distillation.config import TEACHER_BACKENDS, DistillConfig, load_distill_config
from mono_depth_ros.training.distillation.run import distill
from mono_depth_ros.training.trainer.distributed import launched_rank
from mono_depth_ros.training.trainer.state import DISTILL_CONFIG_NAME

HELP = "distil a teacher (transformers / ONNX / checkpoint) into a fast student on unlabelled bags or image folders"
STUDENT_HELP = (
    "distillation YAML: sections teacher, data, student, loss, optim, run (e.g. config/distill_synthetic.yaml; "
    "a run's own distill_config.yaml to resume it); --set and the other options override it"
)
TEACHER_HELP = (
    "teacher weights: a transformers depth-model directory (Depth Anything V2, DPT, GLPN, ...; of these only "
    "Depth Anything gives teacher features), .onnx, TorchScript .pt, or a project .safetensors checkpoint"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``distill`` options."""
    parser.add_argument("--teacher", type=Path, help=TEACHER_HELP)
    parser.add_argument("--teacher-backend", choices=TEACHER_BACKENDS, help="force the teacher's backend")
    parser.add_argument("--bags", type=Path, nargs="+", default=[], metavar="BAG", help="rosbag2 recordings")
    parser.add_argument("--folders", type=Path, nargs="+", default=[], metavar="DIR", help="image folders")
    parser.add_argument("--student", type=Path, metavar="CONFIG", help=STUDENT_HELP)
    add_overrides_argument(parser)
    parser.add_argument(
        "--lidar-topic",
        help="the bags' PointCloud2 or LaserScan topic (TF to the camera in the bag) for metric supervision "
        "(same as data.lidar_topic)",
    )
    parser.add_argument("--cache", type=Path, help="pseudo-label cache folder (same as data.cache_dir)")
    parser.add_argument("--out", type=Path, help="output folder (same as run.out_dir)")
    parser.add_argument("--resume", metavar="auto|FILE", help=resume_help(DISTILL_CONFIG_NAME, "--student"))
    parser.add_argument("--label-only", action="store_true", help="fill the pseudo-label cache and stop")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars, and errors only (no warnings)")


def build_config(args: argparse.Namespace) -> DistillConfig:
    """The configuration the arguments describe (YAML, then ``--set``, then the named options)."""
    config = load_distill_config(args.student, args.overrides)
    teacher, data, run = config.teacher, config.data, config.run
    if args.teacher is not None:
        teacher = dataclasses.replace(teacher, weights=str(args.teacher))
    if args.teacher_backend is not None:
        teacher = dataclasses.replace(teacher, backend=args.teacher_backend)
    if args.bags:
        data = dataclasses.replace(data, bags=tuple(str(p) for p in args.bags))
    if args.folders:
        data = dataclasses.replace(data, folders=tuple(str(p) for p in args.folders))
    if args.lidar_topic is not None:
        data = dataclasses.replace(data, lidar_topic=args.lidar_topic)
    if args.cache is not None:
        data = dataclasses.replace(data, cache_dir=str(args.cache))
    if args.out is not None:
        run = dataclasses.replace(run, out_dir=str(args.out))
    if args.quiet:
        run = dataclasses.replace(run, progress=False)
    return dataclasses.replace(config, teacher=teacher, data=data, run=run)


def _notify(reason: str) -> None:
    if launched_rank() == 0:
        sys.stderr.write(f"mono-depth distill: {reason}: stopping after the step in hand (again: stop now)\n")


def run(args: argparse.Namespace) -> int:
    """Label, train and write the student; prints a summary. Returns 0 (errors are raised as DepthError)."""
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING, format="%(levelname)s %(message)s")
    config = build_config(args)

    stop = StopSignals.install(escalate=True, notify=_notify)  # SIGTERM / Ctrl-C: checkpoint this step, then stop
    try:
        on_start = config_writer(config.run.out_dir, DISTILL_CONFIG_NAME, config.to_yaml())
        result = distill(config, resume=args.resume, label_only=args.label_only, on_start=on_start, stop=stop)
    finally:
        stop.restore()
    if stop.received and result.model_path is None and not args.label_only:
        written = Path(config.run.out_dir) / DISTILL_CONFIG_NAME
        return stopped("distill", stop.reason, result.step, config.run.steps, f"--student {written}")
    lines = [result.labels.format().rstrip()] if result.labels is not None else []
    if result.model_path is not None:
        lines.append(f"trained {result.step} steps ({result.images_per_s:.1f} images/s), {result.wall_s:.1f} s in all")
        if result.calibration is not None:
            c = result.calibration
            lines.append(
                f"calibration against the {c.target}: inverse depth x {c.scale:.4g} + {c.shift:.4g} "
                f"({c.pixels} pixels{', scale only' if c.scale_only else ''})"
            )
        lines.append(f"student: {result.model_path} (output {result.output_kind.value})")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
