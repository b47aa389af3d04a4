"""`mono-depth params`: parameter counts per part (encoder / decoder / heads / total) of model presets or a checkpoint.

Models are built on PyTorch's ``meta`` device, so counting even the largest preset allocates no weights.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.checkpoint import read_checkpoint_spec
from mono_depth_ros.models.registry import build_model, parameter_counts
from mono_depth_ros.models.resnet import RESNET_LAYOUTS
from mono_depth_ros.models.spec import ModelSpec
from mono_depth_ros.models.unet import make_unet_spec
from mono_depth_ros.models.unet_config import WIDTH_PRESETS

HELP = "print parameter counts (encoder / decoder / heads / total) of the unet presets or of a checkpoint"
PARTS = ("encoder", "decoder", "heads")


@dataclass(frozen=True)
class ParamRow:
    """Parameter counts of one model (``counts`` holds every top-level part plus ``total``)."""

    label: str
    counts: dict[str, int]


def count_spec(spec: ModelSpec, label: str) -> ParamRow:
    """Build ``spec``'s model on the meta device (no memory) and count its parameters per top-level part."""
    with torch.device("meta"):
        model = build_model(spec)
    return ParamRow(label, parameter_counts(model))


def preset_rows(
    encoders: list[str], widths: list[str], *, aspp: bool, difference: bool, pixel_shuffle: bool, preact: bool
) -> list[ParamRow]:
    """One row per (encoder, width preset) unet with the given options."""
    rows = []
    for encoder in encoders:
        for width in widths:
            spec = make_unet_spec(
                encoder, width, aspp=aspp, difference=difference, pixel_shuffle=pixel_shuffle, preact=preact
            )
            rows.append(count_spec(spec, f"unet {encoder} {width}"))
    return rows


def format_table(rows: list[ParamRow]) -> str:
    """A fixed-width table: one column per part (encoder, decoder, heads, any other part) and total."""
    extra = sorted({part for row in rows for part in row.counts} - {*PARTS, "total"})
    columns = [*PARTS, *extra, "total"]
    label_width = max([len("model"), *(len(row.label) for row in rows)])
    lines = [f"{'model':<{label_width}}" + "".join(f"{c:>14}" for c in columns)]
    for row in rows:
        cells = "".join(f"{row.counts.get(c, 0):>14,}" for c in columns)
        lines.append(f"{row.label:<{label_width}}{cells}")
    return "\n".join(lines) + "\n"


def checkpoint_row(path: Path) -> ParamRow:
    """The counts of a project checkpoint, or of a Hugging Face depth directory as transformers builds it.

    Raises:
        ConfigError: an exported graph (ONNX, TorchScript), whose parameters are not counted.
        CheckpointError: a missing or unusable checkpoint or directory.
    """
    if path.is_dir():
        from mono_depth_ros.models.hf_model import checked_model_config, family_of
        from mono_depth_ros.models.hf_spec import transformers_spec

        config, hf_config = checked_model_config(path)  # its transformers config built once, handed to the spec
        spec = transformers_spec(config, family_of(str(config["model_type"])), path, hf_config=hf_config)
        return count_spec(spec, f"{spec.architecture} {config['model_type']} ({path.name})")
    if path.suffix.lower() in (".onnx", ".pt", ".pth", ".ts", ".jit"):
        msg = (
            f"{path}: mono-depth params counts a project checkpoint (.safetensors) or a Hugging Face directory, "
            f"not an exported graph; count the checkpoint or directory it was exported from"
        )
        raise ConfigError(msg)
    spec = read_checkpoint_spec(path)
    return count_spec(spec, f"{spec.architecture} ({path.name})")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``params`` options."""
    parser.add_argument(
        "--checkpoint", type=Path, help="count the model of this .safetensors checkpoint (or Hugging Face directory)"
    )
    parser.add_argument(
        "--encoder", nargs="+", choices=sorted(RESNET_LAYOUTS), default=sorted(RESNET_LAYOUTS), help="encoders"
    )
    parser.add_argument(
        "--width", nargs="+", choices=list(WIDTH_PRESETS), default=list(WIDTH_PRESETS), help="width presets"
    )
    parser.add_argument("--aspp", action="store_true", help="with ASPP on the deepest feature")
    parser.add_argument("--difference", action="store_true", help="with difference features")
    parser.add_argument("--pixel-shuffle", action="store_true", help="with pixel-shuffle upsampling")
    parser.add_argument("--preact", action="store_true", help="with a pre-activation encoder")


def refuse_preset_options(args: argparse.Namespace) -> None:
    """Refuse the preset-table options beside ``--checkpoint`` (its model is counted, no preset row is printed).

    Raises:
        ConfigError: naming the options given (``--encoder`` / ``--width`` other than all, or a feature switch).
    """
    given = [
        f"{flag} {' '.join(values)}"
        for flag, values, every in (
            ("--encoder", args.encoder, sorted(RESNET_LAYOUTS)),
            ("--width", args.width, list(WIDTH_PRESETS)),
        )
        if values != every
    ]
    given += [
        f"--{name.replace('_', '-')}"
        for name in ("aspp", "difference", "pixel_shuffle", "preact")
        if getattr(args, name)
    ]
    if given:
        msg = (
            f"{', '.join(given)} is not read with --checkpoint (it chooses rows of the preset table; the checkpoint's "
            "model is counted as it is); leave it out, or leave out --checkpoint for the table"
        )
        raise ConfigError(msg)


def run(args: argparse.Namespace) -> int:
    """Print the table; returns 0 (errors are raised as DepthError and reported by the CLI)."""
    if args.checkpoint is not None:
        refuse_preset_options(args)
        rows = [checkpoint_row(args.checkpoint)]
    else:
        rows = preset_rows(
            args.encoder,
            args.width,
            aspp=args.aspp,
            difference=args.difference,
            pixel_shuffle=args.pixel_shuffle,
            preact=args.preact,
        )
    sys.stdout.write(format_table(rows))
    return 0
