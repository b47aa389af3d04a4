"""`mono-depth` entry point: a thin argparse layer over typed functions (one module per sub-command).

Each sub-command module in :mod:`mono_depth_ros.commands` defines ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their command runs, so heavy optional dependencies
(transformers, onnxruntime) are loaded only where used. Library errors (:class:`DepthError`) become a
one-line message and exit code 2, and so does a missing optional dependency (naming the pip extra to install);
anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mono_depth_ros.core.errors import DepthError

# name -> (module, one-line help). Keep in the order users meet them.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("mono_depth_ros.commands.demo", "run the embedded default end to end and write pictures"),
    "bag": ("mono_depth_ros.commands.bag", "run the depth pipeline over a rosbag2 and write the outputs to a new one"),
    "params": ("mono_depth_ros.commands.params", "parameter counts per part of the model presets or a checkpoint"),
    "train": ("mono_depth_ros.commands.train", "train a depth network from a YAML config (CPU, GPU or torchrun)"),
    "eval": ("mono_depth_ros.commands.eval", "depth metrics of a checkpoint on KITTI / NYU / own / synthetic frames"),
    "distill": ("mono_depth_ros.commands.distill", "distil a teacher into a fast student on unlabelled bags / folders"),
    "export": ("mono_depth_ros.commands.export", "export a model to ONNX / TorchScript with its spec beside it"),
    "spec": ("mono_depth_ros.commands.spec", "write the spec of an ONNX model made elsewhere (kind, input, outputs)"),
    "weights": ("mono_depth_ros.commands.weights", "download a transformers depth model once (needs internet)"),
}


# optional top-level module -> the pip extra that brings it (setup.py extras_require; tqdm is a core requirement)
EXTRA_OF_MODULE: dict[str, str] = {
    "cv2": "cv",
    "torch": "torch",
    "transformers": "hf",
    "huggingface_hub": "hf",
    "PIL": "train",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "onnxscript": "onnx",
}


def missing_extra_message(command: str, err: ModuleNotFoundError) -> str | None:
    """One line naming the extra to install when ``err`` is an optional dependency; None for anything else."""
    module = (err.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    return (
        f"mono-depth {command}: needs {module}, which is not installed; install it with: "
        f"pip install 'mono_depth_ros[{extra}]' (on ROS 2, its python3-* package where one exists)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; sub-command arguments are added lazily by :func:`main`."""
    parser = argparse.ArgumentParser(prog="mono-depth", description="Monocular depth for ROS 2, offline tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mono-depth``; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not args or args[0] in ("-h", "--help") or args[0] not in COMMANDS:
        if args and args[0] not in ("-h", "--help"):
            parser.print_usage(sys.stderr)
            print(f"mono-depth: unknown command {args[0]!r}", file=sys.stderr)
            return 2
        parser.print_help()
        return 0
    name = args[0]
    try:
        module = importlib.import_module(COMMANDS[name][0])
        sub_parser = argparse.ArgumentParser(prog=f"mono-depth {name}", description=module.HELP)
        module.add_arguments(sub_parser)
        parsed = sub_parser.parse_args(args[1:])
        return int(module.run(parsed))
    except ModuleNotFoundError as err:
        message = missing_extra_message(name, err)
        if message is None:
            raise  # not an optional dependency: a bug
        print(message, file=sys.stderr)
        return 2
    except DepthError as err:
        print(f"mono-depth {name}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mono-depth {name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
