"""The node's worker: one thread (compute, then publish) against the two-stage worker (publish frame N while frame
N+1 is computed), with a slow publisher.

Frames arrive at ``--period-ms`` (faster than either stage: the latest-frame slot drops the stale ones, as in the
node). The compute stage stands for inference on a device (a sleep: CUDA kernels and ONNX Runtime release the
GIL) and builds a real organized cloud; the publish stage builds the real messages (``adapters.messages``, the rclpy
node's message factory, its reused cloud buffer) and then waits ``publish_ms`` more (a slow subscriber / DDS write).
Both workers run the same stages on the same arrivals in the same run; prints published frames per second, stale
drops and the two-stage / one-thread throughput ratio. Usage::

    .venv/bin/python -m bench.bench_worker [--frames 300] [--period-ms 5] [--size 375x1242]
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import numpy as np

from mono_depth_ros.adapters import messages
from mono_depth_ros.adapters.worker import FrameWorker, LatestSlot, TwoStageWorker
from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.cloud import CloudBuilder
from mono_depth_ros.core.depth_codec import encode_depth
from mono_depth_ros.pipeline import FrameOutput, ScaleStatus
from test.core.ros_msg_support import rclpy_style_factory

CASES_MS = ((30.0, 10.0), (30.0, 30.0), (10.0, 30.0))
"""(compute, extra publish) milliseconds per frame."""


class Stages:
    """The two stages of one worker run, counting what they publish."""

    def __init__(self, height: int, width: int, compute_ms: float, publish_ms: float) -> None:
        self.compute_ms, self.publish_ms = compute_ms, publish_ms
        self.depth = np.random.default_rng(0).uniform(1.0, 40.0, (height, width)).astype(np.float32)
        self.intrinsics = PinholeIntrinsics(fx=720.0, fy=720.0, cx=width / 2, cy=height / 2, width=width, height=height)
        self.builder = CloudBuilder()
        self.factory = rclpy_style_factory()
        self.buffer = self.factory.field_buffer()
        self.published: list[int] = []
        self.done = threading.Event()
        self.expected_last = -1

    def compute(self, stamp: int) -> FrameOutput:
        time.sleep(self.compute_ms / 1000)  # the network on a device
        return FrameOutput(
            stamp_ns=stamp,
            frame_id="camera_optical",
            depth_m=self.depth,
            depth_wire=encode_depth(self.depth, "32FC1"),
            encoding="32FC1",
            intrinsics=self.intrinsics,
            cloud=self.builder.organized(self.depth, self.intrinsics),
            scale=ScaleStatus(mode="none", health="ok", scale=1.0, inliers=0, inlier_ratio=0.0),
        )

    def publish(self, output: FrameOutput) -> None:
        built = messages.output_messages(self.factory, output, self.buffer)
        time.sleep(self.publish_ms / 1000)  # a slow subscriber
        assert len(built) == 3
        self.published.append(output.stamp_ns)
        if output.stamp_ns == self.expected_last:
            self.done.set()


def run(two_stage: bool, stages: Stages, frames: int, period_ms: float) -> dict[str, Any]:
    """Feed ``frames`` arrivals; wall time until the last arrival's output is published."""
    slot: LatestSlot[int] = LatestSlot()
    errors: list[Exception] = []
    worker: Any
    if two_stage:
        worker = TwoStageWorker(slot, stages.compute, stages.publish, errors.append)
    else:
        worker = FrameWorker(slot, lambda stamp: stages.publish(stages.compute(stamp)), errors.append)
    worker.start()
    stages.expected_last = frames - 1
    dropped = 0
    start = time.perf_counter()
    for stamp in range(frames):
        dropped += slot.put(stamp)
        time.sleep(period_ms / 1000)
    assert stages.done.wait(60), "the last frame was never published"
    wall_s = time.perf_counter() - start
    assert worker.stop(timeout_s=30) and not errors, errors
    assert stages.published == sorted(stages.published)  # in order
    return {"fps": len(stages.published) / wall_s, "published": len(stages.published), "dropped": dropped}


def main() -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300, help="arrivals per run")
    parser.add_argument("--period-ms", type=float, default=5.0, help="time between arrivals (ms)")
    parser.add_argument("--size", default="375x1242", help="HEIGHTxWIDTH of the published depth / cloud")
    args = parser.parse_args()
    height, width = (int(side) for side in args.size.split("x"))
    print(f"{args.frames} arrivals every {args.period_ms} ms, {height}x{width} depth + organized cloud, rclpy messages")
    print(f"{'compute ms':>10} {'publish+ ms':>11} | {'1 thread fps':>12} {'drops':>5} | {'2 stages fps':>12} "
          f"{'drops':>5} | {'ratio':>5}")  # fmt: skip
    for compute_ms, publish_ms in CASES_MS:
        single = run(False, Stages(height, width, compute_ms, publish_ms), args.frames, args.period_ms)
        double = run(True, Stages(height, width, compute_ms, publish_ms), args.frames, args.period_ms)
        print(
            f"{compute_ms:>10.0f} {publish_ms:>11.0f} | {single['fps']:>12.1f} {single['dropped']:>5} | "
            f"{double['fps']:>12.1f} {double['dropped']:>5} | {double['fps'] / single['fps']:>5.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
