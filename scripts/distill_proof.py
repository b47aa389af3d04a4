"""The distillation proof: a student learns only from a teacher's pseudo-labels; writes ``docs/distillation.md``.

1. Render the procedural synthetic world once (cached): the teacher's labelled streets, the student's UNLABELLED
   streets (written as image folders: rgb/*.png + intrinsics.yaml, no depth), and held-out test streets.
2. Teacher: the project's trainer, supervised on exact depth (ResNet-18 ``tiny`` unet, 96×320) — or ``--teacher``.
3. ``distill`` (config/distill_synthetic.yaml): the teacher labels the unlabelled folders (cached), the student
   (quarter-width ResNet-18 unet) learns them (SSI + gradient matching, colour perturbation, CutMix, feature
   alignment), is calibrated against the labels and written as a checkpoint.
4. Both checkpoints are evaluated through the node's inference path on the test streets (exact depth), and timed on
   the CPU at the network size (interleaved runs, median latency, same thread count).

Goal: student AbsRel within 15 % of the teacher's. Missed goals are reported as missed, with the number.
Run: ``.venv/bin/python scripts/distill_proof.py [--out /tmp/mono_depth_distill] [--teacher-steps 900]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

from mono_depth_ros.evaluation.depth import EvalReport, evaluate_checkpoint
from mono_depth_ros.evaluation.samples import synthetic_samples
from mono_depth_ros.models.checkpoint import read_checkpoint_spec
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.registry import build_model, parameter_counts
from mono_depth_ros.training.data.synthetic import ClipSpec, SyntheticClip, render_clip
from mono_depth_ros.training.distillation.config import load_distill_config
from mono_depth_ros.training.distillation.run import DistillResult, distill
from mono_depth_ros.training.trainer.config import config_from_mapping
from mono_depth_ros.training.trainer.loop import Trainer

REPO = Path(__file__).resolve().parents[1]
TEACHER_SEEDS = tuple(range(1, 9))  # labelled streets (teacher only)
STUDENT_SEEDS = tuple(range(101, 117))  # unlabelled streets (student only, through the teacher)
TEST_SEEDS = (2001, 2002, 2003)  # held out from both
FRAMES, TEST_FRAMES = 40, 20
HEIGHT, WIDTH = 96, 320
GOAL = 1.15  # student AbsRel <= 1.15 x teacher AbsRel


def render(seeds: tuple[int, ...], frames: int, cache: Path) -> list[SyntheticClip]:
    """Rendered (or cached) drives."""
    return [render_clip(ClipSpec(seed, frames, WIDTH, HEIGHT, beams=0), cache) for seed in seeds]


def write_folders(clips: list[SyntheticClip], root: Path) -> list[Path]:
    """One unlabelled image folder per drive (rgb/*.png + intrinsics.yaml; no depth)."""
    folders = []
    for clip in clips:
        folder = root / f"street_{clip.spec.seed}"
        (folder / "rgb").mkdir(parents=True, exist_ok=True)
        for index, rgb in enumerate(clip.rgb):
            path = folder / "rgb" / f"{index:05d}.png"
            if not path.is_file():
                cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))
        k = clip.intrinsics
        (folder / "intrinsics.yaml").write_text(yaml.safe_dump({"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy}))
        folders.append(folder)
    return folders


def train_teacher(out: Path, steps: int, threads: int) -> Path:
    """Supervised ResNet-18 ``tiny`` unet on the labelled streets (the project's trainer)."""
    config = config_from_mapping(
        {
            "model": {"encoder": "resnet18", "preset": "tiny", "input_height": HEIGHT, "input_width": WIDTH,
                      "min_depth_m": 0.5, "max_depth_m": 100.0},
            "data": {"train_seeds": list(TEACHER_SEEDS), "frames_per_clip": FRAMES, "beams": 0,
                     "cache_dir": str(out / "render")},
            "loss": {"objective": "supervised", "supervised_loss": "silog"},
            "optim": {"lr": 2e-3, "schedule": "cosine", "warmup_steps": 50},
            "run": {"steps": steps, "batch_size": 8, "device": "cpu", "threads": threads, "validate": False,
                    "out_dir": str(out / "teacher"), "checkpoint_every": steps, "log_every": 25,
                    "tensorboard": False},
        }
    )  # fmt: skip
    result = Trainer(config).fit()
    if result.model_path is None:
        msg = "teacher training stopped before its last step"
        raise RuntimeError(msg)
    return result.model_path


def latency_ms(paths: list[Path], threads: int, runs: int = 40) -> list[float]:
    """Median ``DepthEstimator.predict`` latency of each checkpoint on the CPU, runs interleaved."""
    config = EstimatorConfig(device="cpu", warmup_runs=3, cpu_threads=threads, golden_check="off")
    estimators = [DepthEstimator.open("torch", p, config) for p in paths]
    image = np.random.default_rng(0).integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    times: list[list[float]] = [[] for _ in paths]
    for _ in range(runs):
        for estimator, bucket in zip(estimators, times, strict=True):
            start = time.perf_counter()
            estimator.predict(image)
            bucket.append((time.perf_counter() - start) * 1000.0)
    return [float(np.median(t)) for t in times]


def _row(name: str, path: Path, report: EvalReport, median: EvalReport, latency: float) -> str:
    spec = read_checkpoint_spec(path)
    params = parameter_counts(build_model(spec))["total"]
    m, s = report.mean, median.mean
    ratio = float(np.nanmedian(report.gt_over_pred_median))
    return (
        f"| {name} | {params / 1e6:.2f} M | {spec.output_kind.value} | {m.abs_rel:.4f} | {m.rmse:.3f} | {m.a1:.3f} "
        f"| {s.abs_rel:.4f} | {ratio:.3f} | {latency:.1f} |"
    )


def markdown(
    result: DistillResult,
    teacher: Path,
    reports: dict[str, tuple[EvalReport, EvalReport]],
    latencies: list[float],
    walls: dict[str, float],
    threads: int,
    config_text: str,
) -> str:
    """The results page (also the user documentation of ``mono-depth distill``)."""
    assert result.model_path is not None and result.labels is not None and result.calibration is not None
    teacher_abs, student_abs = reports["teacher"][0].mean.abs_rel, reports["student"][0].mean.abs_rel
    ratio = student_abs / teacher_abs
    met = "**met**" if ratio <= GOAL else f"**missed** (student {ratio:.3f}× the teacher's AbsRel, goal ≤ {GOAL:.2f}×)"
    c = result.calibration
    total = sum(walls.values())
    lines = [
        "# Distillation: a big teacher labels the robot's own recordings, a fast student learns them",
        "",
        "`mono-depth distill --teacher DIR_OR_CKPT --bags BAG... --student CONFIG` (and/or `--folders DIR...`):",
        "",
        "1. **Label.** The teacher — any model the project loads: a Depth Anything V2 directory (HF layout), an ONNX",
        "   or TorchScript export, a project checkpoint — predicts every image of the bags (`data.image_topic`, Image",
        "   or CompressedImage, raw images undistorted with K + D: their black fill gets no label and no LiDAR, as the"
        " node",
        "   publishes no depth there; a folder's `seen/` masks do the same) or folders, through the node's own"
        " inference",
        "   path; images are cached at the student's input size as the node's preprocess resizes them.",
        "   Labels are cached in the **teacher's output kind** under `data.cache_dir` (`manifest.json` + one `.npz`",
        "   per frame: image and label at the student's input size, LiDAR z-buffer, teacher features); a second run",
        "   labels only what is missing (progress bar; frames of a bag are skipped without being decoded). A cache",
        "   never mixes teachers or sizes: another teacher (path, content of its weights, an ONNX graph's external",
        "   data included, spec) in the same folder is refused. A bag's labels sit in a folder per bag and labelling",
        "   settings (image topic; LiDAR topic, `lidar.max_age_s`, `lidar.motion_frame`; raw images), so adding",
        "   `--lidar-topic` after a run without it labels the bag again with its LiDAR instead of reusing labels that",
        "   have none (the summary line says how many new labels have LiDAR).",
        "2. **Train.** The student (the project's unet) learns the labels with the scale-and-shift-invariant loss +",
        "   multi-scale gradient matching in inverse depth (labels normalised per image), on strongly perturbed inputs",
        "   (colour jitter, noise, flips) and CutMix (each label normalised over its own frame, loss fitted inside",
        "   and outside the box apart), optionally with feature alignment (1 − cosine between the student's deepest",
        "   encoder feature, through a small projection",
        "   head, and the teacher's encoder feature; cells above `feature_margin` ignored, as in Depth Anything) and a",
        "   sparse metric LiDAR term. AdamW, warm-up + cosine, optional autocast, exactly resumable (`--resume auto`);",
        "   SIGTERM / Ctrl-C checkpoints the step in hand and exits 143 / 130 (while labelling: stops at once,",
        "   finished labels stay cached).",
        "3. **Calibrate and write.** One global scale and shift in inverse depth against the labels (or the LiDAR) are",
        "   folded into the student's depth range; `<out>/model.safetensors` is an ordinary project checkpoint",
        "   (ModelSpec, golden reference): `mono-depth bag IN OUT --param model.weights=<out>/model.safetensors`.",
        "",
        "Teacher features: project unet checkpoints (deepest ResNet feature, by a forward hook) and Depth Anything V2",
        "(DINOv2 patch tokens of the last tapped layer). **Not available for ONNX and TorchScript teachers** (they",
        "expose only their output): `teacher.features: true` with one is refused; label them with `features: false`,",
        "`loss.feature_weight: 0`.",
        "",
        "Student output kind (`student.output_kind: auto`): `metric` with a metric teacher or with LiDAR",
        "(`--lidar-topic`, `loss.lidar_weight > 0`: scans projected with the bag's TF, nearest scan within",
        "`data.lidar.max_age_s`, moved to the image stamp through `data.lidar.motion_frame` such as `odom` when set);",
        "otherwise `depth_up_to_scale`. A `relative_inverse` teacher (DA-V2 relative) gives",
        "a student whose inverse depth is the teacher's disparity up to one global shift: treat it as depth up to",
        "scale only if that shift is small, or record LiDAR to make the student metric.",
        "A teacher of depth up to scale and shift (`affine_depth`; also Prompt Depth Anything, metric only with a",
        "LiDAR prompt, which labelling does not give it) is refused: its labels make no inverse-depth target.",
        "",
        "## Proof on the synthetic world (CPU only)",
        "",
        f"Written by `scripts/distill_proof.py`. Teacher: ResNet-18 `tiny` unet trained by the project's trainer on "
        f"exact depth of {len(TEACHER_SEEDS)} streets × {FRAMES} frames. Student: the quarter-width ResNet-18 unet of "
        f"`config/distill_synthetic.yaml`, which sees **only** the teacher's pseudo-labels on {len(STUDENT_SEEDS)} "
        f"other, unlabelled streets × {FRAMES} frames (image folders, no depth). Test: {len(TEST_SEEDS)} held-out "
        f"streets × {TEST_FRAMES} frames (seeds {', '.join(map(str, TEST_SEEDS))}), exact rendered depth, no crop, "
        "1e-3–80 m, through the node's inference path on the written checkpoints.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores shared with other jobs, "
        f"torch {torch.__version__}, {threads} intra-op thread(s). **No GPU here**: the speed ratio is CPU only.",
        "",
        "| model | params | output | AbsRel | RMSE (m) | δ<1.25 | AbsRel, median-scaled | GT/pred | CPU ms (96×320) |",
        "|---|---|---|---|---|---|---|---|---|",
        _row("teacher", teacher, *reports["teacher"], latencies[0]),
        _row("student", result.model_path, *reports["student"], latencies[1]),
        "",
        f"- Student AbsRel / teacher AbsRel = **{ratio:.3f}** (goal ≤ {GOAL:.2f}: {met}).",
        f"- Student speed: **{latencies[0] / latencies[1]:.2f}×** the teacher's on this CPU (median latency of "
        "`DepthEstimator.predict`, interleaved runs, preprocessing and upsampling included).",
        f"- Calibration against the {c.target}: inverse depth × {c.scale:.4g} {'+' if c.shift >= 0 else '−'} "
        f"{abs(c.shift):.4g} 1/m ({c.pixels} pixels{', scale only' if c.scale_only else ''}), folded into the "
        "student's depth range.",
        f"- Labelling: {result.labels.labelled} frames labelled, {result.labels.cached} found cached, "
        f"{result.labels.teacher_ms:.1f} ms of teacher per frame.",
        "- Wall time: "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in walls.items())
        + f"; total {total / 60:.1f} min.",
        "",
        "AbsRel is metric (no scaling: both checkpoints declare `metric`). The median-scaled column rescales each",
        "image by median(GT) / median(prediction) first (the self-supervised protocol), for comparison only. GT/pred",
        "is the median over test images of that ratio before any scaling (1 = metric scale right).",
        "",
        "Pseudo-labelling on real data: `test/training/distillation/test_pseudo_labels.py` writes the KITTI frames of",
        "`../shared/data` into a rosbag2 (`test/kitti_bag.py`: images, camera_info, Velodyne scans, `/tf_static`),",
        "labels it with a tiny random teacher (with features), and checks that one cache file per frame exists with",
        "the scan projected through the bag's TF, that a second run decodes and rewrites nothing, and that a deleted",
        "frame is relabelled alone; `test/commands/test_distill.py` then distils on that bag with its LiDAR and runs",
        "`mono-depth bag` with `--param model.weights=<student>`.",
        "",
        "Reproduce: `.venv/bin/python scripts/distill_proof.py` (the student alone: `mono-depth distill --teacher",
        "TEACHER.safetensors --folders DIR... --student config/distill_synthetic.yaml`).",
        "",
        "Configuration: `config/distill_synthetic.yaml`, with `teacher.weights`, `data.folders` (one folder per",
        "unlabelled street), `data.cache_dir`, `run.out_dir`, `run.device: cpu` and `run.threads` set by the script:",
        "",
        "```yaml",
        config_text.rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/mono_depth_distill"), help="runs, renders, caches")
    parser.add_argument("--teacher", type=Path, help="use this teacher checkpoint instead of training one")
    parser.add_argument("--teacher-steps", type=int, default=900, help="teacher training steps (batch 8)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="distill config override")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "distillation.md", help="results page")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    walls: dict[str, float] = {}

    tick = time.perf_counter()
    render(TEACHER_SEEDS, FRAMES, args.out / "render")
    folders = write_folders(render(STUDENT_SEEDS, FRAMES, args.out / "render"), args.out / "unlabelled")
    test_clips = render(TEST_SEEDS, TEST_FRAMES, args.out / "render")
    walls["render"] = time.perf_counter() - tick

    tick = time.perf_counter()
    teacher = args.teacher or train_teacher(args.out, args.teacher_steps, args.threads)
    walls["teacher training"] = time.perf_counter() - tick

    tick = time.perf_counter()
    overrides = [f"run.threads={args.threads}", "run.device=cpu", *args.overrides]
    config = load_distill_config(REPO / "config" / "distill_synthetic.yaml", overrides)
    config = dataclasses.replace(
        config,
        teacher=dataclasses.replace(config.teacher, weights=str(teacher)),
        data=dataclasses.replace(config.data, folders=tuple(map(str, folders)), cache_dir=str(args.out / "labels")),
        run=dataclasses.replace(config.run, out_dir=str(args.out / "student")),
    )
    shutil.rmtree(args.out / "student", ignore_errors=True)  # a fresh student (distill refuses an earlier run's folder)
    result = distill(config)
    walls["labelling + student training"] = time.perf_counter() - tick
    if result.model_path is None:
        msg = "distillation stopped before its last step"
        raise RuntimeError(msg)

    tick = time.perf_counter()
    samples = synthetic_samples(test_clips)
    reports = {
        name: (
            evaluate_checkpoint(path, samples, "synthetic"),
            evaluate_checkpoint(path, samples, "synthetic", scaling="median"),
        )
        for name, path in (("teacher", teacher), ("student", result.model_path))
    }
    latencies = latency_ms([teacher, result.model_path], args.threads)
    walls["evaluation"] = time.perf_counter() - tick

    config_text = (REPO / "config" / "distill_synthetic.yaml").read_text()
    text = markdown(result, teacher, reports, latencies, walls, args.threads, config_text)
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
