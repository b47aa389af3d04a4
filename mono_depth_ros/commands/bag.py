"""`mono-depth bag IN OUT`: run the depth pipeline over a rosbag2 and write depth, camera_info and clouds to a new one.

A thin layer over :func:`mono_depth_ros.bag.run_bag`. Parameters are the node's: ``--config FILE`` (ROS params
YAML, e.g. config/depth.yaml; ``--node /front/mono_depth_node`` picks a camera's sections in a robot's file) and
repeatable ``--param name=value`` overrides. The summary goes to stdout, the
progress bar and warnings to stderr. Errors (a corrupt bag, a missing topic, unusable weights) exit with code 2.
SIGTERM / SIGINT: the frame in hand is finished, the output bag closed with everything written so far, the summary
printed, and the exit code is 143 / 130; before the output bag exists (the first pass, the model load) the run stops
at once and writes nothing.
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
from pathlib import Path

from mono_depth_ros.adapters.signals import StopSignals
from mono_depth_ros.bag import BagRunOptions, BagSummary, run_bag
from mono_depth_ros.bag.reader import DISTROS
from mono_depth_ros.bag.writer import STORAGES
from mono_depth_ros.config import NODE_NAME, load_config
from mono_depth_ros.core.errors import ConfigError

HELP = (
    "run the depth pipeline on every image of a rosbag2 (sqlite3 or MCAP) and write /depth/image, "
    "/depth/camera_info, /depth/points and /diagnostics to a new rosbag2 (metadata v8: plays on Humble and Jazzy)"
)

MAX_SKIPPED = 0.5  # --max-skipped default: the share of skipped images over which the run exits 1


def user_path(text: str) -> Path:
    """A path argument with ``~`` expanded: no shell expands it after ``--config=``, nor in a quoted or scripted path
    (``OUT="~/bags/out"``), where it made a folder named ``~`` in the working directory."""
    return Path(text).expanduser()


def node_name(text: str) -> str:
    """A ``--node`` value: the fully qualified name of a mono_depth_node (``/front/mono_depth_node``; the leading
    ``/`` may be left out). A namespace alone (``front``, ``/front``) is refused naming the name meant."""
    parts = [part for part in text.strip().split("/") if part]
    if not parts or parts[-1] != NODE_NAME:
        namespace = "/".join(parts[:-1] if parts and parts[-1] == NODE_NAME else parts)
        example = f"/{namespace}/{NODE_NAME}" if namespace else f"/{NODE_NAME}"
        msg = f"{text!r} is not a node name ending in /{NODE_NAME}; the camera's node, e.g. {example}"
        raise argparse.ArgumentTypeError(msg)
    return "/" + "/".join(parts)


def share(text: str) -> float:
    """A ``--max-skipped`` share, 0 to 1 (``50`` read as per cent, or ``nan``, let any number of skipped images
    pass)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        msg = f"{text} is not a share between 0 and 1 (0.1 = 10 %)"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``mono-depth bag``."""
    parser.add_argument("input", type=user_path, metavar="IN", help="input rosbag2 folder, or a .mcap / .db3 file")
    parser.add_argument("output", type=user_path, metavar="OUT", help="output rosbag2 folder (must not exist)")
    parser.add_argument("--config", type=user_path, default=None, help="ROS params YAML (same file as the node's)")
    parser.add_argument(
        "--node",
        type=node_name,
        default="/" + NODE_NAME,
        metavar="NAME",
        help="the node this run stands for, e.g. /front/mono_depth_node: its --config sections apply (a robot's file "
        "with a section per camera's namespace; one camera per run), and its outputs are written as it publishes them "
        "(/front/depth/image, status front/mono_depth_node: depth); default: /mono_depth_node",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one parameter, e.g. --param lidar_topic=/lidar/points (repeatable)",
    )
    parser.add_argument("--storage", choices=sorted(STORAGES), default="sqlite3", help="output storage")
    parser.add_argument(
        "--distro", choices=sorted(DISTROS), default="humble", help="message definitions of the output bag"
    )
    parser.add_argument(
        "--copy-inputs",
        action="store_true",
        help="also copy every input topic into OUT, but those this run writes (on /diagnostics: other nodes' statuses) "
        "and a /clock that is the bag's time (play OUT with `ros2 bag play OUT --clock`)",
    )
    parser.add_argument("--no-diagnostics", action="store_true", help="do not write /diagnostics")
    parser.add_argument("--strict", action="store_true", help="exit with code 1 when any image was skipped")
    parser.add_argument(
        "--max-skipped",
        type=share,
        default=MAX_SKIPPED,
        metavar="SHARE",
        help="exit with code 1 when more than this share of the images was skipped (default 0.5; --strict = 0)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no warnings on stderr")


def run(args: argparse.Namespace) -> int:
    """Run the command; returns 0 when the run completed (1 with ``--strict`` when any image was skipped)."""
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING, format="%(levelname)s %(message)s")
    if args.strict and args.max_skipped != MAX_SKIPPED:
        msg = f"--max-skipped {args.max_skipped:g} is not read with --strict (which allows no skipped image); give one"
        raise ConfigError(msg + " of them")
    params = load_config(args.config, args.param, args.node)
    options = BagRunOptions(
        storage=args.storage,
        distro=args.distro,
        copy_inputs=args.copy_inputs,
        diagnostics=not args.no_diagnostics,
        progress=not args.quiet,
        node=args.node,
    )

    def notify(reason: str) -> None:
        if args.output.exists():
            sys.stderr.write(f"{reason}: finishing the frame in hand and closing {args.output}\n")
        else:  # the first pass or the model load: run_bag stops at once
            sys.stderr.write(f"{reason}: stopping before anything is written\n")

    stop = StopSignals.install(escalate=True, notify=notify)  # a second Ctrl-C stops at once (bag still closed)
    try:
        summary = run_bag(args.input, args.output, params, options, stop=stop)
    except KeyboardInterrupt:  # before the output bag existed, or a second signal while writing
        reason = stop.reason or "SIGINT"
        done = (
            f"{args.output} closed with the frames written before"
            if args.output.exists()
            else f"nothing written ({args.output} not created)"
        )
        sys.stderr.write(f"mono-depth bag: interrupted by {reason}: {done}\n")
        return 128 + int(signal.Signals[reason])
    finally:
        stop.restore()
    sys.stdout.write(summary.format())
    if summary.interrupted:
        return 128 + int(signal.Signals[summary.interrupted])  # 130 for SIGINT, 143 for SIGTERM, as a shell reports
    failure = run_failure(summary, 0.0 if args.strict else args.max_skipped)
    if failure:
        sys.stderr.write(f"mono-depth bag: {failure}\n")
        return 1
    return 0


def run_failure(summary: BagSummary, max_skipped_share: float) -> str:
    """Why a finished run failed for a script (empty when it did not): nothing written, or too much skipped."""
    reasons = "; ".join(f"{count} x {reason}" for reason, count in summary.skipped.counts.most_common(3))
    if summary.frames_in == 0:
        return "no image in the input bag on the image topic; nothing was written"
    if summary.frames_out == 0:
        return f"no frame was written: all {summary.frames_in} image(s) were skipped ({reasons})"
    skipped_share = summary.skipped.total / summary.frames_in
    if skipped_share > max_skipped_share:
        return (
            f"{summary.skipped.total} of {summary.frames_in} image(s) skipped ({skipped_share:.0%} > "
            f"--max-skipped {max_skipped_share:g}): {reasons}"
        )
    return ""
