"""`mono-depth demo [--out DIR]`: the embedded default end to end (synthetic drive → rosbag2 → pipeline → pictures).

A thin layer over :func:`mono_depth_ros.demo.run_demo`. The report (accuracy and timing tables) goes to stdout and
``DIR/report.txt``; progress and warnings go to stderr. ``--kitti DIR`` runs on real KITTI object frames instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from mono_depth_ros.demo import run_demo
from mono_depth_ros.demo.run import DEFAULT_FRAMES, DEFAULT_HEIGHT, DEFAULT_WIDTH

HELP = (
    "render a short synthetic drive (camera, 16-beam LiDAR, TF) into a rosbag2, run the full pipeline on it through "
    "the bag runner, and write the output bag, PNG pictures and an accuracy + timing report"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mono-depth demo``."""
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)")
    parser.add_argument("--seed", type=int, default=0, help="world, noise and oracle seed (default: 0)")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help=f"frames at 10 Hz ({DEFAULT_FRAMES})")
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH, help=f"image width ({DEFAULT_WIDTH})")
    parser.add_argument("--height", type=int, default=DEFAULT_HEIGHT, help=f"image height ({DEFAULT_HEIGHT})")
    parser.add_argument("--weights", type=Path, default=None, help="checkpoint to run instead of the shipped model")
    parser.add_argument(
        "--kitti",
        type=Path,
        default=None,
        metavar="DIR",
        help="run on KITTI object frames (DIR/image_2, velodyne, calib) instead of the synthetic drive",
    )
    parser.add_argument("--oracle", action="store_true", help="use the oracle prediction even when a model ships")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a pipeline parameter, e.g. --param cloud.rgb=true (repeatable)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress and no warnings on stderr")


class StderrProgress:
    """``progress(stage, done, total)`` on stderr: one line rewritten in place on a terminal, else every ~20 %."""

    def __init__(self) -> None:
        self._started = time.perf_counter()
        self._tty = sys.stderr.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        """Report ``done`` of ``total`` for ``stage``."""
        line = f"[demo {time.perf_counter() - self._started:6.1f} s] {stage}: {done}/{total}"
        finished = done >= total
        if self._tty:
            sys.stderr.write("\r" + line + ("\n" if finished else ""))
        elif finished or done == 0 or done % max(1, total // 5) == 0:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0 when at least one frame went through the pipeline, else 1."""
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING, format="%(levelname)s %(message)s")
    report = run_demo(
        args.out,
        args.seed,
        args.frames,
        args.weights,
        args.kitti,
        None if args.quiet else StderrProgress(),
        width=args.width,
        height=args.height,
        oracle=args.oracle,
        overrides=args.param,
    )
    sys.stdout.write(report.format())
    return 0 if report.frames_out > 0 else 1
