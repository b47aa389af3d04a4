"""`mono-depth export WEIGHTS --out DIR`: a checkpoint or transformers model directory -> ONNX and/or TorchScript.

A transformers directory that takes the image alone (DPT, Depth Anything, ZoeDepth, GLPN) exports like a checkpoint,
then runs on ONNX Runtime's TensorRT / CUDA providers (``model.onnx_providers``); Depth Pro and Prompt Depth Anything
take the camera focal / LiDAR per frame and are refused (run them with ``model.backend=transformers``).

Each exported model gets its ModelSpec (``<model>.spec.json``) and a golden reference (``<model>.golden.safetensors``)
beside it; the command prints the max abs difference against eager torch and the parameters that load the result.
Pass ``--camera HxW`` to export at the network size the spec's policy gives for your camera (models with a ViT
backbone export at one fixed size), or ``--input-size HxW`` for the network size itself: the written spec serves that
size (a unet trained at 32x96 and exported at 64x192 runs at 64x192 in the node).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.backend import TorchBackend, open_backend
from mono_depth_ros.models.checkpoint import is_torch_save_archive, starts_like_pickle
from mono_depth_ros.models.export import DEFAULT_OPSET, EXPORTERS, ExportResult, export_onnx, export_torchscript
from mono_depth_ros.models.preprocess import network_input_size
from mono_depth_ros.training.trainer.state import require_out_folder

HELP = "export a checkpoint (or a transformers depth-model directory) to ONNX / TorchScript with its spec beside it"
FORMATS = ("onnx", "torchscript", "both")


def parse_hw(text: str) -> tuple[int, int]:
    """``"375x1242"`` -> (375, 1242).

    Raises:
        ConfigError: not two positive integers separated by ``x``.
    """
    parts = text.lower().split("x")
    try:
        height, width = (int(p) for p in parts)
    except ValueError:
        msg = f"size {text!r} must be HEIGHTxWIDTH in pixels, e.g. 375x1242"
        raise ConfigError(msg) from None
    if height <= 0 or width <= 0:
        msg = f"size {text!r} must be positive"
        raise ConfigError(msg)
    return height, width


def refuse_unread_options(
    formats: str,
    camera_hw: tuple[int, int] | None,
    input_hw: tuple[int, int] | None,
    opset: int,
    exporter: str,
) -> None:
    """Refuse an option this export would not read (it would be dropped without a word).

    Raises:
        ConfigError: ``--opset`` / ``--exporter`` other than their defaults with ``--format torchscript`` (ONNX
            options), or ``--camera`` and ``--input-size`` both (the network size comes from one).
    """
    if formats == "torchscript":
        for option, value, default in (("--opset", opset, DEFAULT_OPSET), ("--exporter", exporter, "dynamo")):
            if value != default:
                msg = (
                    f"{option} {value} is not read by --format torchscript (it sets the ONNX export); leave it out, "
                    "or use --format onnx / both"
                )
                raise ConfigError(msg)
    if camera_hw is not None and input_hw is not None:
        msg = (
            f"--camera {camera_hw[0]}x{camera_hw[1]} is not read with --input-size {input_hw[0]}x{input_hw[1]} (the "
            "network input is given directly); give one of them"
        )
        raise ConfigError(msg)


def export_weights(
    weights: Path,
    out_dir: Path,
    *,
    formats: str = "both",
    camera_hw: tuple[int, int] | None = None,
    input_hw: tuple[int, int] | None = None,
    opset: int = DEFAULT_OPSET,
    exporter: str = "dynamo",
) -> list[ExportResult]:
    """Load ``weights`` on the CPU and export them.

    Args:
        weights: project ``.safetensors`` checkpoint, or a transformers depth-model directory (DPT, Depth Anything,
            ZoeDepth, GLPN).
        out_dir: destination directory (files named after ``weights``).
        formats: ``onnx`` | ``torchscript`` | ``both``.
        camera_hw: camera (height, width); the network size follows the spec's input policy.
        input_hw: network (height, width) directly (instead of ``camera_hw``): the size the written spec serves, also
            for a model that runs any size (a keep-aspect one is then fixed at it, serving cameras of its aspect).
        opset, exporter: ONNX options (see :func:`~mono_depth_ros.models.export.export_onnx`).

    Returns:
        One :class:`ExportResult` per written model.

    Raises:
        ConfigError: an unknown format, an option the export would not read (see :func:`refuse_unread_options`),
            an output folder that cannot be written, or a model that cannot be exported.
    """
    if formats not in FORMATS:
        msg = f"format {formats!r} is not one of {', '.join(FORMATS)}"
        raise ConfigError(msg)
    refuse_unread_options(formats, camera_hw, input_hw, opset, exporter)
    require_out_folder(out_dir, "--out")
    from mono_depth_ros.training.distillation.teacher import infer_backend  # the suffix rule of the other commands

    backend_name = infer_backend(weights)
    pickled = weights.is_file() and (is_torch_save_archive(weights) or starts_like_pickle(weights))
    # an exported model: load_checkpoint would say "set model.backend", not export's; a pickle: it refuses it below
    if backend_name in ("onnx", "torchscript") and not pickled:
        msg = (
            f"{weights} is already an exported model ({backend_name}); export converts a .safetensors checkpoint or a "
            f"Hugging Face directory; run this one with --param model.backend={backend_name} "
            f"--param model.weights={weights}"
        )
        raise ConfigError(msg)
    kind = "depth_anything_v2" if weights.is_dir() else "torch"
    backend, golden = open_backend(kind, weights, torch.device("cpu"))
    if not isinstance(backend, TorchBackend):  # open_backend returns torch backends for these kinds
        msg = f"{weights} did not load as a torch model"
        raise ConfigError(msg)
    frame_inputs = sorted(getattr(backend, "frame_inputs", ()))
    if frame_inputs:  # an exported graph takes the image alone: it would silently drop the camera focal / LiDAR
        msg = (
            f"{weights} takes {', '.join(frame_inputs)} per frame besides the image, which an exported graph cannot; "
            f"run it with --param model.backend=transformers --param model.weights={weights}"
        )
        raise ConfigError(msg)
    spec = backend.spec
    policy_size = input_hw is None  # --input-size is the size served; --camera's is the policy's for that camera
    multiple = spec.input.multiple_of
    if input_hw is not None and multiple > 1 and (input_hw[0] % multiple or input_hw[1] % multiple):
        fit = [max(multiple, round(side / multiple) * multiple) for side in input_hw]
        msg = (
            f"--input-size {input_hw[0]}x{input_hw[1]} is not a multiple of {multiple} (the model's input multiple, "
            f"its spec's input.multiple_of); pass one, e.g. --input-size {fit[0]}x{fit[1]}, or --camera HxW for the "
            f"size the node would feed it"
        )
        raise ConfigError(msg)
    if input_hw is None:
        input_hw = network_input_size(camera_hw, spec.input) if camera_hw else (spec.input.height, spec.input.width)
    stem = weights.name if weights.is_dir() else weights.stem
    results = []
    if formats in ("onnx", "both"):
        path = out_dir / f"{stem}.onnx"
        onnx = export_onnx(
            backend.module, spec, path, input_hw, golden=golden, opset=opset, exporter=exporter, policy_size=policy_size
        )
        results.append(onnx)
    if formats in ("torchscript", "both"):
        script = out_dir / f"{stem}.pt"
        traced = export_torchscript(backend.module, spec, script, input_hw, golden=golden, policy_size=policy_size)
        results.append(traced)
    return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``export`` options."""
    parser.add_argument(
        "weights",
        type=Path,
        help=".safetensors checkpoint, or a transformers depth-model directory that takes the image alone (DPT, "
        "Depth Anything, ZoeDepth, GLPN)",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("-f", "--format", choices=FORMATS, default="both", help="what to write (default: both)")
    parser.add_argument("--camera", type=parse_hw, help="camera size HxW: export at its network input size")
    parser.add_argument(
        "--input-size",
        type=parse_hw,
        help="network input size HxW (instead of --camera; neither: the spec's own input size)",
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--exporter", choices=EXPORTERS, default="dynamo", help="ONNX exporter (default dynamo)")


def run(args: argparse.Namespace) -> int:
    """Export and print one line per model plus the parameters that load it; returns 0."""
    results = export_weights(
        args.weights,
        args.out,
        formats=args.format,
        camera_hw=args.camera,
        input_hw=args.input_size,
        opset=args.opset,
        exporter=args.exporter,
    )
    lines = []
    for result in results:
        lines.append(result.describe())
        lines.append(f"  use: --param model.backend={result.spec.backend} --param model.weights={result.path}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
