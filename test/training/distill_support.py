"""Tiny distillation settings shared by the distillation tests (a second or two of CPU per run)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import yaml

from mono_depth_ros.models.backend import TorchBackend
from mono_depth_ros.models.checkpoint import save_checkpoint
from mono_depth_ros.models.inference import make_golden
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.data.synthetic import ClipSpec, SyntheticClip, render_clip
from mono_depth_ros.training.distillation.config import DistillConfig, distill_config_from_mapping
from test.models.tiny_models import tiny_unet


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread (tiny networks on a shared CPU: more threads only wait on each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


STUDENT = {"encoder_width": 4, "decoder_channels": [4, 4, 4, 4, 4], "input_height": 32, "input_width": 64}


def write_teacher(path: Path, kind: OutputKind = OutputKind.METRIC, seed: int = 0) -> Path:
    """A tiny random unet checkpoint (64×96 input) with a golden reference."""
    network, spec = tiny_unet(seed, kind)
    golden = make_golden(TorchBackend(network, spec, torch.device("cpu")))
    return save_checkpoint(path, network.state_dict(), spec, reference=(golden.image_rgb, golden.output))


def synthetic_clip(seed: int = 5, frames: int = 8, width: int = 96, height: int = 48) -> SyntheticClip:
    """A small rendered drive with LiDAR."""
    return render_clip(ClipSpec(seed, frames, width, height, beams=8))


def write_folder(root: Path, clip: SyntheticClip, sparse: bool = False, intrinsics: bool = True) -> Path:
    """An unlabelled image folder of a drive: rgb/*.png (+ intrinsics.yaml, + sparse_depth/*.npy = its LiDAR)."""
    (root / "rgb").mkdir(parents=True, exist_ok=True)
    for index, rgb in enumerate(clip.rgb):
        cv2.imwrite(str(root / "rgb" / f"{index:04d}.png"), np.ascontiguousarray(rgb[..., ::-1]))
        if sparse:
            (root / "sparse_depth").mkdir(exist_ok=True)
            np.save(root / "sparse_depth" / f"{index:04d}.npy", clip.lidar_depth_m[index])
    if intrinsics:
        k = clip.intrinsics
        (root / "intrinsics.yaml").write_text(yaml.safe_dump({"fx": k.fx, "fy": k.fy, "cx": k.cx, "cy": k.cy}))
    return root


def tiny_mapping(root: Path, teacher_path: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    """Nested config values for a 32×64, width-4 student, 4 steps of batch 2 (sections update the defaults)."""
    mapping: dict[str, Any] = {
        "teacher": {"weights": str(teacher_path)},
        "data": {"cache_dir": str(root / "labels")},
        "student": dict(STUDENT),
        "loss": {"gradient_scales": 2},
        "optim": {"warmup_steps": 2},
        "run": {
            "steps": 4,
            "batch_size": 2,
            "device": "cpu",
            "threads": 1,
            "out_dir": str(root / "run"),
            "checkpoint_every": 2,
            "log_every": 1,
            "calibration_frames": 4,
            "progress": False,
        },
    }
    for name, values in sections.items():
        mapping[name] = {**mapping.get(name, {}), **values}
    return mapping


def tiny_config(root: Path, teacher_path: Path, **sections: dict[str, Any]) -> DistillConfig:
    """A :class:`DistillConfig` of :func:`tiny_mapping`."""
    return distill_config_from_mapping(tiny_mapping(root, teacher_path, **sections))
