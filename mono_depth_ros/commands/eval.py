"""`mono-depth eval`: standard depth metrics of a checkpoint on KITTI, NYU, one's own or synthetic frames.

Each dataset has its protocol (see :mod:`mono_depth_ros.evaluation.depth`); the KITTI protocols stay apart:
``--dataset kitti_eigen`` (a KITTI raw root + the Eigen split file: raw Velodyne GT as monodepth2 projects it, Garg
crop, 1e-3..80 m, per-image median scaling; ``--scaling none`` for metric models: a metric model scaled by default
is warned about on stderr), ``--dataset
kitti_eigen_benchmark`` (the 652-frame split with improved GT, no crop: monodepth2's ``eigen_benchmark``), and the
folder layouts ``kitti_velodyne`` / ``kitti_annotated`` (Garg crop, the network fed the full frame; ``--protocol
kitti_improved_kb_input`` for BTS's figures, which feed the network the 352×1216 KB crop and score the Garg crop of
the full frame; ``--protocol kitti_improved_kb`` for those of ZoeDepth / AdaBins / Depth Anything V1, which cut image
and GT to 352×1216 first). The printed table names the protocol and the scaling used. Examples::

    mono-depth eval --checkpoint runs/x/model.safetensors --dataset kitti_eigen --data KITTI_RAW \
        --split monodepth2/splits/eigen/test_files.txt
    mono-depth eval --checkpoint runs/x/model.safetensors --dataset kitti_eigen_benchmark --data KITTI_RAW \
        --split monodepth2/splits/eigen_benchmark/test_files.txt

    mono-depth eval --checkpoint runs/x/model.safetensors --dataset kitti_annotated \
        --data ../shared/data/metric3d_kitti_demo
    mono-depth eval --checkpoint runs/x/model.safetensors --dataset folder --data MY_FRAMES --csv per_frame.csv
    mono-depth eval --checkpoint runs/x/model.safetensors --dataset synthetic --seeds 1001 1002

``--dataset kitti_depth_selection`` reads KITTI depth completion's ``val_selection_cropped`` (scored as the devkit
does: every pixel with GT, no crop, no 80 m cap: protocol ``kitti_devkit``). ``--dataset kitti_depth``, the
``data.kind`` name ``mono-depth train`` gives a Metric3D-style annotation folder, reads it as ``kitti_annotated``.
``--dataset folder`` reads the layout ``mono-depth train`` reads (``rgb/``, ``depth/`` uint16 millimetres or float
``.npy`` / ``.npz``, ``intrinsics.yaml``; ``--png-scale 256`` for KITTI-style PNGs; ``--crop garg`` / ``eigen_nyu``
for the KITTI / NYU crops).

``--checkpoint`` also takes a Hugging Face depth model directory (config.json + weights), loaded like the node's
``model.backend: transformers``, and an ONNX / TorchScript model made elsewhere with its spec beside it (``mono-depth
spec``), loaded by the ``onnx`` / ``torchscript`` backend.

An option the chosen ``--dataset`` does not read is refused naming it: ``--seeds`` / ``--frames`` (synthetic only),
``--data`` / ``--split`` / ``--png-scale`` with ``synthetic``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from dataclasses import replace
from pathlib import Path

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.evaluation.depth import (
    CROPS,
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    SCALINGS,
    EvalReport,
    Protocol,
    checkpoint_backend,
    evaluate_checkpoint,
)
from mono_depth_ros.evaluation.samples import (
    DATASET_ALIASES,
    DATASETS,
    EvalSample,
    dataset_shown,
    load_samples,
    synthetic_samples,
)
from mono_depth_ros.models.checkpoint import read_checkpoint_spec
from mono_depth_ros.models.sidecar import read_spec
from mono_depth_ros.models.spec import InputPolicy, OutputKind
from mono_depth_ros.training.data.synthetic import ClipSpec, render_clip

SYNTHETIC_SEEDS = (1001, 1002)  # --dataset synthetic: the streets rendered when --seeds is not given
SYNTHETIC_FRAMES = 20  # frames per street when --frames is not given
HELP = "evaluate a checkpoint (standard metrics) on KITTI / NYU / own / synthetic frames under a named protocol"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``eval`` options."""
    what = ".safetensors checkpoint with its ModelSpec, a Hugging Face depth model directory, or .onnx / .pt + spec"
    parser.add_argument("--checkpoint", type=Path, required=True, help=what)
    dataset = "which ground truth (kitti_depth, mono-depth train's data.kind name of the annotation folder: "
    dataset += "kitti_annotated)"
    choices = (*DATASETS, *DATASET_ALIASES)  # the word typed kept: errors name it (dataset_shown)
    parser.add_argument("--dataset", choices=choices, required=True, help=dataset)
    parser.add_argument("--data", type=Path, help="dataset folder, or the KITTI raw root (kitti_eigen*)")
    split = "kitti_eigen*: split file, lines 'DATE/DRIVE FRAME l|r'; nyu: BTS nyudepthv2_test_files_with_gt.txt"
    parser.add_argument("--split", type=Path, help=split)
    parser.add_argument("--protocol", choices=sorted(PROTOCOLS), help="default: the dataset's own protocol")
    parser.add_argument("--scaling", choices=SCALINGS, help="force a scaling (default: the protocol's)")
    crop = "override the protocol's crop (garg, garg_kb, garg_kb_input, eigen_kitti, eigen_kitti_kb, "
    crop += "eigen_kitti_kb_input: KITTI; "
    crop += "eigen_nyu: NYU)"
    parser.add_argument("--crop", choices=CROPS, help=crop)
    parser.add_argument("--min-depth", type=float, help="override the protocol's minimum GT depth (metres, > 0)")
    parser.add_argument("--max-depth", type=float, help="override the protocol's depth cap (metres)")
    scale = "depth PNG values per metre: folder (default 1000 = mm; 256 = KITTI), annotations without depth_scale "
    scale += "(one their depth_scale contradicts is refused)"
    parser.add_argument("--png-scale", type=float, help=scale)
    seeds = f"synthetic: streets to render (default {' '.join(map(str, SYNTHETIC_SEEDS))})"
    parser.add_argument("--seeds", type=int, nargs="+", help=seeds)
    parser.add_argument("--frames", type=int, help=f"synthetic: frames per street (default {SYNTHETIC_FRAMES})")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    parser.add_argument("--csv", type=Path, help="also write per-image metrics to this CSV file")


def dataset_name(value: str) -> str:
    """``--dataset``'s value, a ``mono-depth train`` ``data.kind`` name of :data:`DATASET_ALIASES` read as the
    evaluation dataset that reads that folder the same way (``kitti_depth`` -> ``kitti_annotated``)."""
    return DATASET_ALIASES.get(value, value)


def checkpoint_input(checkpoint: Path) -> InputPolicy:
    """The network input of a project checkpoint, of a model made elsewhere (its spec beside it) or of a Hugging Face
    depth directory (no weights are loaded)."""
    backend = checkpoint_backend(checkpoint)
    if backend in ("onnx", "torchscript"):
        return read_spec(checkpoint, backend, None).input
    if not checkpoint.is_dir():
        return read_checkpoint_spec(checkpoint).input
    from mono_depth_ros.models.hf_model import checked_model_config, family_of
    from mono_depth_ros.models.hf_spec import transformers_spec

    config, hf_config = checked_model_config(checkpoint)  # its transformers config built once, handed to the spec
    return transformers_spec(config, family_of(str(config["model_type"])), checkpoint, hf_config=hf_config).input


def refuse_unread_options(args: argparse.Namespace) -> None:
    """Refuse an option given that ``--dataset`` does not read (it would be dropped without a word).

    Raises:
        ConfigError: ``--seeds`` / ``--frames`` for a dataset other than ``synthetic``; ``--data`` / ``--split`` /
            ``--png-scale`` for ``synthetic``.
    """
    if dataset_name(args.dataset) == "synthetic":
        unread = {"--data": args.data, "--split": args.split, "--png-scale": args.png_scale}
        why = "it renders its streets: --seeds, --frames"
    else:
        unread = {"--seeds": args.seeds, "--frames": args.frames}
        why = "it reads its frames; these choose the rendered streets of --dataset synthetic only"
    for option, value in unread.items():
        if value is not None:
            shown = (
                " ".join(map(str, value))
                if isinstance(value, list)
                else format(value, "g" if isinstance(value, float) else "")
            )
            msg = f"{option} {shown} is not read by --dataset {dataset_shown(args.dataset)} ({why}); leave it out"
            raise ConfigError(msg)


def gather_samples(args: argparse.Namespace) -> list[EvalSample]:
    """Load the frames the arguments name (synthetic drives are rendered at the checkpoint's input size)."""
    if dataset_name(args.dataset) == "synthetic":
        policy = checkpoint_input(args.checkpoint)
        frames = SYNTHETIC_FRAMES if args.frames is None else args.frames
        seeds = SYNTHETIC_SEEDS if args.seeds is None else args.seeds
        clips = [render_clip(ClipSpec(seed, frames, policy.width, policy.height, beams=0)) for seed in seeds]
        return synthetic_samples(clips)
    if args.data is None:
        msg = f"--dataset {dataset_shown(args.dataset)} needs --data FOLDER"
        raise ConfigError(msg)
    if args.png_scale is not None and not args.png_scale > 0:
        msg = f"--png-scale must be > 0 (depth PNG values per metre), got {args.png_scale}"
        raise ConfigError(msg)
    return load_samples(args.dataset, args.data, args.split, args.png_scale)


def write_csv(report: EvalReport, path: Path) -> None:
    """Per-image metrics (and the mean; its gt_over_pred is the median over images, as in the table) with the protocol
    and scaling in every row."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        names = list(report.mean.as_dict())
        writer.writerow(["protocol", "scaling", "image", *names, "gt_over_pred"])
        rows = [*report.per_image, ("mean", report.mean)]
        ratios = [*report.gt_over_pred_median, report.median_gt_over_pred]
        for (name, metrics), ratio in zip(rows, ratios, strict=True):
            values = list(metrics.as_dict().values())
            writer.writerow([report.protocol.name, report.protocol.scaling, name, *values, ratio])


def prepare_csv(path: Path) -> None:
    """Create the folder of ``path`` and check it can be written, before any frame is evaluated.

    Raises:
        ConfigError: the folder cannot be created or written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        msg = f"--csv {path}: cannot create its folder ({err.strerror}); give a path in a writable folder"
        raise ConfigError(msg) from None
    if path.is_dir() or not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        msg = f"--csv {path}: not a writable file path; give a path in a writable folder"
        raise ConfigError(msg)


def scaled_metric_warning(report: EvalReport, forced: str | None) -> str | None:
    """The warning for a metric model whose protocol scaled it by default (the KITTI Velodyne / Eigen protocols'
    per-image median, monodepth2's figures): those figures say nothing of its metric accuracy. None where the model
    is not metric, its predictions were scored unscaled, or ``--scaling`` was given (``forced``)."""
    scaling = report.protocol.scaling
    if forced is not None or report.output_kind is not OutputKind.METRIC or scaling == "none":
        return None
    return (
        f"mono-depth eval: warning: the model predicts metres (output metric), and protocol {report.protocol.name} "
        f"scaled them by its default scaling {scaling} (each image rescaled to its ground truth): these are not its "
        f"metric figures; pass --scaling none to score its metres as they are\n"
    )


def ground_truth_range(protocol: Protocol, args: argparse.Namespace) -> tuple[float, float] | None:
    """The protocol's own GT range (``kitti_eigen_benchmark``: GT > 0, no cap), each side that ``--min-depth`` /
    ``--max-depth`` gives replaced by it: they bound the ground truth as well as the prediction clip, as in every
    other protocol (None: the GT range is the clip range)."""
    if protocol.gt_range_m is None:
        return None
    low, high = protocol.gt_range_m
    bounds = (low if args.min_depth is None else args.min_depth, high if args.max_depth is None else args.max_depth)
    return None if None not in (args.min_depth, args.max_depth) else bounds


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the table. Returns 0 (errors are raised as DepthError)."""
    refuse_unread_options(args)
    if args.csv is not None:
        prepare_csv(args.csv)
    protocol = PROTOCOLS[args.protocol or DEFAULT_PROTOCOL.get(dataset_name(args.dataset), "synthetic")]
    low = protocol.min_depth_m if args.min_depth is None else args.min_depth
    high = protocol.max_depth_m if args.max_depth is None else args.max_depth
    if not low < high:  # both applied at once: --min-depth 100 --max-depth 30000 must not meet the default cap first
        sides = [
            f"{option} {used:g}" + ("" if given is not None else " (the protocol's)")
            for option, used, given in (("--min-depth", low, args.min_depth), ("--max-depth", high, args.max_depth))
        ]
        msg = f"{sides[0]} must be below {sides[1]}"
        msg += "; pass both" if None in (args.min_depth, args.max_depth) else ""
        raise ConfigError(msg)
    protocol = replace(protocol, min_depth_m=low, max_depth_m=high, gt_range_m=ground_truth_range(protocol, args))
    if args.crop is not None:
        protocol = replace(protocol, crop=args.crop)
    samples = gather_samples(args)
    report = evaluate_checkpoint(args.checkpoint, samples, protocol, device=args.device, scaling=args.scaling)
    sys.stdout.write(report.format_table())
    warning = scaled_metric_warning(report, args.scaling)
    if warning is not None:
        sys.stderr.write(warning)
    if args.csv is not None:
        write_csv(report, args.csv)
    return 0
