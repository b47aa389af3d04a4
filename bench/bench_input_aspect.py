"""The shipped model on cameras of another aspect ratio than its training camera: which network input serves it best.

The shipped 96×320 model was trained on one synthetic camera (``kitti_like_intrinsics``: horizontal FOV ~82°, 10:3).
A user's camera is often 16:9 or 4:3. Three ways to feed it, on held-out synthetic streets (seeds 2001-2003, 6 frames
each, exact depth, 1e-3-80 m) rendered at 640×192 (the training aspect), 640×360 and 640×480, same horizontal FOV:

* ``squash 96x320``: the model's fixed input (what its spec says; today's behaviour);
* ``keep aspect, short side 96``: the short side at 96 px, the long side at the aspect ratio (multiple of 32);
* ``keep aspect, training focal``: the image resized so that its focal length in pixels is the training camera's at
  the 320-px input (the angular resolution the network learned), both sides multiples of 32.

Prints AbsRel of the metric output as it comes and after median scaling (what LiDAR scale recovery leaves: the
structure), and the network input size. No assertions. Run: ``.venv/bin/python -m bench.bench_input_aspect``.
"""

from __future__ import annotations

import argparse

import numpy as np
import numpy.typing as npt
import torch

SEEDS = (2001, 2002, 2003)
CAMERAS = {"640x192 (training 10:3)": (192, 640), "640x360 (16:9)": (360, 640), "640x480 (4:3)": (480, 640)}
TRAINING_FOCAL_PX = 0.58 * 320  # kitti_like_intrinsics' focal at the shipped model's 320-px input


def abs_rel(pred: npt.NDArray[np.float32], truth: npt.NDArray[np.float32], median_scaled: bool) -> float:
    """Mean |pred - truth| / truth over the valid truth (1e-3-80 m) where the prediction is valid."""
    ok = np.isfinite(truth) & (truth > 1e-3) & (truth < 80.0) & np.isfinite(pred) & (pred > 0)
    p, t = pred[ok].astype(np.float64), truth[ok].astype(np.float64)
    if median_scaled:
        p *= np.median(t) / np.median(p)
    return float(np.mean(np.abs(p - t) / t))


def _snap(side: float) -> int:
    return max(32, round(side / 32) * 32)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=6, help="frames per street")
    args = parser.parse_args()
    from mono_depth_ros.core.synthetic import kitti_like_intrinsics
    from mono_depth_ros.models.depth_source import default_weights
    from mono_depth_ros.models.inference import DepthEstimator
    from mono_depth_ros.training.data.synthetic import ClipSpec, render_clip

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        estimator = DepthEstimator.open("unet", default_weights())
        print(f"shipped model ({estimator.output_kind.value}), streets {SEEDS} x {args.frames} frames, one thread")
        print("| camera | network input | input size | AbsRel metric | AbsRel median-scaled |")
        print("|---|---|---|---:|---:|")
        for camera, (height, width) in CAMERAS.items():
            clips = [render_clip(ClipSpec(seed, args.frames, width, height, beams=0)) for seed in SEEDS]
            to_training_focal = TRAINING_FOCAL_PX / kitti_like_intrinsics(width, height).fx
            inputs = {
                "squash 96x320": (96, 320),
                "keep aspect, short side 96": (96, _snap(96 * width / height)),
                "keep aspect, training focal": (_snap(height * to_training_focal), _snap(width * to_training_focal)),
            }
            for name, network_hw in inputs.items():
                estimator.network_hw = lambda _image_hw, hw=network_hw: hw  # type: ignore[method-assign]
                scores = [
                    (abs_rel(values, truth, False), abs_rel(values, truth, True))
                    for clip in clips
                    for rgb, truth in zip(clip.rgb, clip.depth_m, strict=True)
                    for values in [estimator.predict(rgb, (height, width)).values]
                ]
                metric, scaled = np.mean(scores, axis=0)
                size = f"{network_hw[0]}x{network_hw[1]}"
                print(f"| {camera} | {name} | {size} | {metric:.3f} | {scaled:.3f} |", flush=True)
    finally:
        torch.set_num_threads(threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
