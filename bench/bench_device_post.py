"""The steps after the network on the host (numpy) against the same steps on the network's device (torch).

Run: ``.venv/bin/python -m bench.bench_device_post [--device cpu|cuda] [--runs N]``. Two tables:

1. **Steps**: a prediction already on ``--device`` (what the network leaves there), per published size: the shipped
   96×320 model's KITTI output (125×414, ``output.downscale`` auto), a 1080p camera's (180×320) and a KITTI camera at
   full resolution (375×1242). Both roads start from that tensor and end with host arrays (depth, 16UC1 wire, XYZRGB
   organized cloud), with the same steps as ``DepthPipeline`` (scale fit applied, flying-pixel mask at the network's
   96×320, range limits, encoding, cloud). The host road copies the prediction to the host (on CUDA: a pinned copy
   and a wait, as the engine does; on the CPU: nothing) and runs numpy; the device road runs torch there and copies the
   final bytes back once. Both also keep a host copy of the prediction for the scale fit, so that copy is in both.
   The outputs are compared byte for byte before timing.
2. **Pipeline**: ``DepthPipeline.process_frame`` with the shipped model on a KITTI-size image, ``output.
   device_postprocess`` on and off, alone, with the temporal filter (the camera moving 0.1 m per frame) and with
   the speckle filter (``output.outlier_filter``): the stage times the frame reports (milliseconds).

Every case runs once per round, rounds interleaved (machine load drifts hit all alike); medians over the rounds of
wall and process CPU time. torch runs ``--threads`` intra-op threads (default 1, as numpy), restored at the end.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.cloud import CloudBuilder, PointCloud
from mono_depth_ros.core.depth_codec import apply_range_limits, decode_depth, encode_depth
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.edges import flying_pixel_mask
from mono_depth_ros.core.postprocess_torch import DevicePostprocess, apply_fit_torch, postprocess_on_device
from mono_depth_ros.core.scale.fit import apply_fit

KITTI = PinholeIntrinsics(707.0493, 707.0493, 604.0814, 180.5066, width=1242, height=375)
NETWORK_HW = (96, 320)
SIZES = {"KITTI auto 125x414": (125, 414), "1080p auto 180x320": (180, 320), "KITTI full 375x1242": (375, 1242)}
SCALE, MIN_RANGE, MAX_RANGE, EDGE = 0.83, 0.1, 80.0, 0.1
KIND = OutputKind.DEPTH_UP_TO_SCALE


@dataclass(frozen=True)
class Outputs:
    """What both roads hand on: depth, wire depth and cloud on the host."""

    depth: npt.NDArray[np.float32]
    wire: npt.NDArray[np.generic]
    cloud: PointCloud

    def bytes(self) -> tuple[bytes, bytes, bytes]:
        """The three as bytes, to compare the roads."""
        return self.depth.tobytes(), self.wire.tobytes(), self.cloud.tobytes()


def network_like_prediction(height: int, width: int, seed: int = 0) -> npt.NDArray[np.float32]:
    """A road scene (ground, walls, boxes) made at the network's 96×320 and upsampled bilinearly to ``height`` ×
    ``width`` (blends at every edge, as a network's upsampled output), sky +Inf, 1 % NaN."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = NETWORK_HW
    v = np.arange(h, dtype=np.float64)[:, None] - h * 0.48
    u = np.arange(w, dtype=np.float64)[None, :] - w * 0.5
    ground = np.where(v > 0.5, 1.65 * 90.0 / np.maximum(v, 0.5), np.inf)
    walls = np.where(np.abs(u) > 0.5, 8.0 * 90.0 / np.maximum(np.abs(u), 0.5), np.inf)
    small = np.minimum(ground, walls).astype(np.float32)
    for _ in range(10):
        r, c = int(rng.integers(30, 70)), int(rng.integers(0, 300))
        small[r : r + int(rng.integers(5, 20)), c : c + int(rng.integers(5, 25))] = rng.uniform(4.0, 40.0)
    small[small > 200.0] = np.inf
    out = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    out[rng.random(out.shape) < 0.01] = np.nan
    return np.asarray(out, dtype=np.float32)


Road = Callable[[torch.Tensor], Outputs]


def host_road(builder: CloudBuilder, intrinsics: PinholeIntrinsics, rgb: npt.NDArray[np.uint8]) -> Road:
    """DepthPipeline's host steps from a device tensor (downloaded as the engine does)."""

    def run(prediction: torch.Tensor) -> Outputs:
        host = _download(prediction)
        depth = apply_fit(host, KIND, SCALE)  # scale recovery's own step
        depth = depth.copy()  # pipeline.py: the scale stage's map may be its own state
        depth[flying_pixel_mask(depth, EDGE, NETWORK_HW)] = np.nan
        depth = apply_range_limits(depth, MIN_RANGE, MAX_RANGE)
        wire = encode_depth(depth, "16UC1")
        return Outputs(depth, wire, builder.organized(decode_depth(wire, "16UC1"), intrinsics, rgb))

    return run


def device_road(intrinsics: PinholeIntrinsics, rgb: npt.NDArray[np.uint8]) -> Road:
    """The same steps with torch on the prediction's device, one copy of the final bytes back."""
    settings = DevicePostprocess(MIN_RANGE, MAX_RANGE, "16UC1", EDGE, NETWORK_HW)

    def run(prediction: torch.Tensor) -> Outputs:
        _download(prediction)  # the host copy the scale fit reads (both roads make it)
        out = postprocess_on_device(apply_fit_torch(prediction, KIND, SCALE), intrinsics, settings, rgb)
        assert out.cloud is not None
        return Outputs(out.depth_m, out.depth_wire, out.cloud)

    return run


_PINNED: dict[tuple[int, ...], torch.Tensor] = {}


def _download(values: torch.Tensor) -> npt.NDArray[np.float32]:
    """The engine's copy of the published map: pinned non-blocking + wait on CUDA, the tensor's memory on the CPU."""
    if values.device.type != "cuda":
        return values.numpy()
    pinned = _PINNED.get(tuple(values.shape))
    if pinned is None:  # once per shape (setdefault would allocate a pinned tensor on every call)
        pinned = _PINNED[tuple(values.shape)] = torch.empty(tuple(values.shape)).pin_memory()
    pinned.copy_(values, non_blocking=True)
    torch.cuda.current_stream(values.device).synchronize()
    return pinned.numpy().copy()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps_table(device: torch.device, runs: int) -> None:
    rows = []
    for label, (height, width) in SIZES.items():
        intrinsics = KITTI.resized(width, height)
        rgb = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
        prediction = torch.from_numpy(network_like_prediction(height, width)).to(device)
        cases = {"host": host_road(CloudBuilder(), intrinsics, rgb), "device": device_road(intrinsics, rgb)}
        same = cases["host"](prediction).bytes() == cases["device"](prediction).bytes()
        for run in cases.values():  # warm-up (allocator caches, index tensors, kernels)
            run(prediction)
        wall: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, run in cases.items():
                _sync(device)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                run(prediction)
                wall[name].append((time.perf_counter() - wall0) * 1e3)
                cpu[name].append((time.process_time() - cpu0) * 1e3)
        med = {f"{k}_{n}": float(np.median(v)) for k, d in (("wall", wall), ("cpu", cpu)) for n, v in d.items()}
        rows.append((label, med, same))
    print(f"# steps after the network, from a prediction on {device} to host arrays; median of {runs} rounds, ms")
    print("| published map | host wall | device wall | device / host | host CPU | device CPU | same bytes |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for label, med, same in rows:
        ratio = med["wall_device"] / med["wall_host"]
        print(
            f"| {label} | {med['wall_host']:.2f} | {med['wall_device']:.2f} | {ratio:.2f} | {med['cpu_host']:.2f} | "
            f"{med['cpu_device']:.2f} | {'yes' if same else 'NO'} |"
        )


def pipeline_table(device: torch.device, runs: int) -> None:
    from mono_depth_ros.config import defaults
    from mono_depth_ros.core.camera import CameraModel
    from mono_depth_ros.core.geometry import RigidTransform
    from mono_depth_ros.models.depth_source import build_depth_source
    from mono_depth_ros.pipeline import DepthPipeline, FrameInput

    config = {**defaults(), "device": str(device), "scale.mode": "fixed", "cloud.rgb": True, "model.threads": 0}
    source = build_depth_source(config)
    rgb = np.random.default_rng(2).integers(0, 256, (KITTI.height, KITTI.width, 3), dtype=np.uint8)
    camera = CameraModel.from_intrinsics(KITTI)

    def frame(index: int) -> FrameInput:  # the camera moves 0.1 m per frame along its optical axis (temporal filter)
        pose = RigidTransform(np.eye(3), np.array([0.0, 0.0, 0.1 * index]))
        return FrameInput(index, "camera", rgb, camera, True, world_from_cam=pose)

    extras = {"": {}, " + temporal": {"temporal.enabled": True}, " + speckle": {"output.outlier_filter": True}}
    roads = {
        f"{road}{name}": {**config, "output.device_postprocess": road, **extra}
        for name, extra in extras.items()
        for road in ("off", "on")
    }
    pipelines = {name: DepthPipeline(params, source=source) for name, params in roads.items()}
    same = []
    for index in range(3):  # the filter's first frames: started, then filtered twice
        outputs = {name: pipeline.process_frame(frame(index)) for name, pipeline in pipelines.items()}
        for name in extras:
            on, off = outputs[f"on{name}"], outputs[f"off{name}"]
            assert on.cloud is not None and off.cloud is not None
            same.append(
                (on.depth_m.tobytes(), on.depth_wire.tobytes(), on.cloud.tobytes())
                == (off.depth_m.tobytes(), off.depth_wire.tobytes(), off.cloud.tobytes())
            )
    stages = ("model", "scale", "temporal", "postprocess", "cloud", "total")
    times: dict[str, dict[str, list[float]]] = {name: {s: [] for s in stages} for name in pipelines}
    for run in range(runs):
        for name, pipeline in pipelines.items():
            out = pipeline.process_frame(frame(3 + run))
            for stage in stages:
                times[name][stage].append(out.timings_ms.get(stage, 0.0))
    print(f"\n# DepthPipeline, shipped model on {device}, 1242x375 camera (published 125x414), median of {runs}, ms")
    print("(postprocess includes the temporal filter's time when it is on)")
    print("| device_postprocess | " + " | ".join(stages) + " | postprocess + cloud |")
    print("|---|" + "---:|" * (len(stages) + 1))
    for name in pipelines:
        med = {s: float(np.median(times[name][s])) for s in stages}
        cells = " | ".join(f"{med[s]:.2f}" for s in stages)
        print(f"| {name} | {cells} | {med['postprocess'] + med['cloud']:.2f} |")
    print(f"same FrameOutput bytes on both roads (depth, wire, cloud; 3 frames each): {'yes' if all(same) else 'NO'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (where the prediction is)")
    parser.add_argument("--runs", type=int, default=30, help="rounds (each case once per round); median reported")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads during the benchmark")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the shipped-model pipeline table")
    args = parser.parse_args()
    device = torch.device(args.device)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        steps_table(device, args.runs)
        if not args.no_pipeline:
            pipeline_table(device, args.runs)
    finally:
        torch.set_num_threads(threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
