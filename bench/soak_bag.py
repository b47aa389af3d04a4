"""Soak: resident memory of a `mono-depth bag` run over a long raw (distorted, unrectified) camera bag.

Writes a bag of ``--frames`` KITTI image_2 frames (../shared/data, repeated, resized to ``--width`` × ``--height``)
as JPEG CompressedImages on ``/camera/image_raw/compressed`` (``--image raw``: sensor_msgs/Image rgb8), each with
its own CameraInfo: plumb_bob ``d = (-0.3, 0.1, 0.001, -0.001, 0.0)``, K from the KITTI intrinsics, R = I,
P = [K | 0]; the same calibration in every message. No LiDAR. It is then run with ``image_is_rectified: false`` (every
frame is undistorted), ``scale.mode: fixed`` and the shipped default model on the CPU, while a background thread
samples the RSS (/proc/self/statm) every 0.25 s together with the runner's frame counter.

Prints the RSS before the run, once 10 % of the frames are done, its peak, at the end of the run, the growth per
frame between 10 % and the end (KiB/frame), frames/s, the summary's frames in / out / skipped, and how many distinct
CameraModel objects (and undistortion maps) the bag index held: with one model per calibration the RSS stays flat; a
model per camera_info message (the old runner) costs a set of maps per frame, about 2.8 MB at 1242x375.
``--tf-links N`` adds a robot's /tf: ``odom`` <- ``base_link`` and ``base_link`` <- N - 1 links at 100 Hz (the index
holds every sample: a RigidTransform each took about 600 B, the compact store about 114 B). The index
is observed by wrapping ``mono_depth_ros.bag.runner.index_bag`` in this process (no library change). Usage::

    .venv/bin/python bench/soak_bag.py [--frames 1000] [--width 1242] [--height 375] [--image jpeg|raw]
        [--storage sqlite3|mcap] [--tf-links 0] [--param output.downscale=1 ...]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import resource
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mono_depth_ros.bag import BagRunOptions, BagSummary, run_bag  # noqa: E402
from mono_depth_ros.config import load_config  # noqa: E402
from mono_depth_ros.core.camera import CameraModel  # noqa: E402
from mono_depth_ros.core.ros_msgs import (  # noqa: E402
    camera_info_from_model,
    compressed_image_from_array,
    image_from_array,
    make_header,
)
from mono_depth_ros.demo.bag_builder import BagBuilder  # noqa: E402
from test.conftest import shared_data_dir  # noqa: E402
from test.kitti_bag import load_kitti_frames  # noqa: E402

IMAGE_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
CAMERA_FRAME = "camera_optical"
START_NS = 1_700_000_000_000_000_000
PERIOD_NS = 100_000_000
DISTORTION = (-0.3, 0.1, 0.001, -0.001, 0.0)
SAMPLE_S = 0.25
RUNNER: Any = importlib.import_module("mono_depth_ros.bag.runner")  # its index_bag is wrapped to observe the index


def rss_mib() -> float:
    """Current resident set size (MiB) from /proc/self/statm."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


@dataclass(frozen=True)
class Sample:
    """One RSS sample: seconds since the run started, RSS (MiB), frames done (written + skipped)."""

    t_s: float
    rss: float
    done: int


class Watch:
    """Captures the run's index and summary (wraps the runner's ``index_bag``) and samples RSS in a thread."""

    def __init__(self) -> None:
        self.index: Any = None
        self.summary: BagSummary | None = None
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._started = 0.0
        self._original = RUNNER.index_bag

    def _index_bag(self, bag: Any, topics: Any, summary: BagSummary, *rest: Any) -> Any:
        self.summary = summary
        self.index = self._original(bag, topics, summary, *rest)
        return self.index

    def done(self) -> int:
        summary = self.summary
        return 0 if summary is None else summary.frames_out + summary.skipped.total

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.samples.append(Sample(time.perf_counter() - self._started, rss_mib(), self.done()))

    def __enter__(self) -> Watch:
        RUNNER.index_bag = self._index_bag
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        RUNNER.index_bag = self._original


def _camera(width: int, height: int, k: np.ndarray) -> CameraModel:
    """The unrectified camera of every message: plumb_bob DISTORTION, R = I, P = [K | 0]."""
    p = np.hstack([k, np.zeros((3, 1))])
    return CameraModel(width=width, height=height, distortion_model="plumb_bob", d=DISTORTION, k=k, r=np.eye(3), p=p)


def _tf_edge(j: int) -> tuple[str, str]:
    """Parent and child of the ``j``-th /tf link: odom <- base_link, then base_link <- link_j."""
    return ("odom", "base_link") if j == 0 else ("base_link", f"link_{j}")


def write_raw_bag(
    path: Path, frames: int, width: int, height: int, image: str, storage: str, tf_links: int = 0
) -> None:
    """``frames`` KITTI images (repeated, resized) with a distorted CameraInfo each, and /tf of ``tf_links`` links
    at 100 Hz (see the module docstring)."""
    import cv2

    from mono_depth_ros.core.geometry import RigidTransform
    from mono_depth_ros.core.ros_msgs import tf_message_from

    kitti = load_kitti_frames(shared_data_dir() / "kitti_object_3frames" / "training")
    rgbs = [cv2.resize(f.rgb, (width, height), interpolation=cv2.INTER_AREA) for f in kitti]
    k = kitti[1].intrinsics.resized(width, height).matrix  # one calibration for all (000001: 1242x375 natively)
    camera = _camera(width, height, k)
    with BagBuilder(path, "humble", storage) as bag:
        factory = bag.factory
        for i in range(frames):
            stamp_ns = START_NS + i * PERIOD_NS
            for tf_ns in range(stamp_ns, stamp_ns + PERIOD_NS, 10_000_000) if tf_links else ():
                links = [
                    RigidTransform(np.eye(3), np.array([tf_ns * 1e-12, 0.0, 0.1 * j]), *_tf_edge(j))
                    for j in range(tf_links)
                ]
                bag.add("/tf", tf_message_from(factory, links, tf_ns), tf_ns)
            header = make_header(factory, stamp_ns, CAMERA_FRAME)
            bag.add(CAMERA_INFO_TOPIC, camera_info_from_model(factory, camera, header), stamp_ns + 1_000_000)
            rgb = rgbs[i % len(rgbs)]
            if image == "jpeg":
                msg = compressed_image_from_array(factory, rgb, header, codec="jpeg")
                bag.add(IMAGE_TOPIC + "/compressed", msg, stamp_ns + 2_000_000)
            else:
                bag.add(IMAGE_TOPIC, image_from_array(factory, rgb, "rgb8", header), stamp_ns + 2_000_000)


def _weights() -> str:
    from mono_depth_ros.models.depth_source import default_weights

    return str(default_weights())


def _index_models(index: Any) -> tuple[int, int, int, float]:
    """camera_info entries, distinct CameraModels, those holding undistortion maps, MiB of maps they hold."""
    if index is None:
        return 0, 0, 0, float("nan")
    models = {id(e.model): e.model for e in index.camera_infos if e.model is not None}
    with_maps, nbytes = 0, 0
    for model in models.values():
        maps = getattr(model, "_undistort_maps", {}) or {}
        with_maps += bool(maps)
        nbytes += sum(int(getattr(a, "nbytes", 0)) for pair in maps.values() for a in pair)
    return len(index.camera_infos), len(models), with_maps, nbytes / 2**20


def _at_fraction(samples: list[Sample], total: int, fraction: float) -> Sample | None:
    """The first sample with at least ``fraction`` of ``total`` frames done."""
    return next((s for s in samples if total and s.done >= fraction * total), None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=1000, help="frames in the raw camera bag (KITTI repeated)")
    parser.add_argument("--width", type=int, default=1242, help="image width (KITTI frames resized)")
    parser.add_argument("--height", type=int, default=375, help="image height")
    parser.add_argument("--image", choices=("jpeg", "raw"), default="jpeg", help="CompressedImage jpeg or raw Image")
    parser.add_argument("--storage", default="sqlite3", choices=("sqlite3", "mcap"), help="input and output storage")
    parser.add_argument("--tf-links", type=int, default=0, help="links on /tf at 100 Hz (a robot's TF tree)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="extra parameter (repeat)")
    args = parser.parse_args()
    kitti = shared_data_dir() / "kitti_object_3frames" / "training"
    if not kitti.is_dir():
        print(f"KITTI frames not found at {kitti} (set MONO_DEPTH_DATA)", file=sys.stderr)
        return 1
    base = [
        "image_is_rectified=false",
        f"image_transport={'compressed' if args.image == 'jpeg' else 'raw'}",
        "scale.mode=fixed",
        f"model.weights={_weights()}",
        "device=cpu",
    ]
    params = load_config(None, [*base, *args.param])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        write_raw_bag(folder / "raw", args.frames, args.width, args.height, args.image, args.storage, args.tf_links)
        size_mib = sum(f.stat().st_size for f in (folder / "raw").rglob("*") if f.is_file()) / 2**20
        written_s = time.perf_counter() - started
        print(f"input bag: {args.frames} raw {args.width}x{args.height} frames ({args.image}) + a distorted "
              f"CameraInfo each, /tf of {args.tf_links} links at 100 Hz, {size_mib:.1f} MiB {args.storage}, "
              f"written in {written_s:.1f} s")  # fmt: skip
        shown = [*base[:3], *base[4:], *args.param]
        if not any(p.startswith("output.downscale=") for p in args.param):
            shown.append(f"output.downscale={params['output.downscale']} (default)")
        print(f"params: {', '.join(shown)}; package {Path(RUNNER.__file__).parents[1]}")
        gc.collect()
        before = rss_mib()
        with Watch() as watch:
            run_started = time.perf_counter()
            options = BagRunOptions(storage=args.storage, progress=False)
            summary = run_bag(folder / "raw", folder / "out", params, options)
            run_s = time.perf_counter() - run_started
            in_run = list(watch.samples)
            entries, models, with_maps, maps_mib = _index_models(watch.index)
            tf_samples = len(watch.index.tf) if watch.index is not None else 0
        watch.index = None
        gc.collect()
        returned = rss_mib()
    _print(args.frames, before, in_run, returned, run_s, summary)
    print(f"bag index: {entries} camera_info entries, {models} distinct CameraModel(s), {with_maps} with "
          f"undistortion maps ({maps_mib:.1f} MiB of maps held), {tf_samples} TF samples")  # fmt: skip
    return 0


def _print(frames: int, before: float, samples: list[Sample], returned: float, run_s: float, s: BagSummary) -> None:
    total = s.frames_in or frames
    ten, last = _at_fraction(samples, total, 0.1), samples[-1] if samples else None
    peak = max([before, returned, *(x.rss for x in samples)])
    print("| point | t (s) | frames done | RSS MiB |\n|---|---:|---:|---:|")
    print(f"| before the run | 0.0 | 0 | {before:.1f} |")
    for name, sample in (("10 % of the frames", ten), ("end of the run (last sample)", last)):
        if sample is not None:
            print(f"| {name} | {sample.t_s:.1f} | {sample.done} | {sample.rss:.1f} |")
        else:
            print(f"| {name} | - | - | (no sample: run too short) |")
    print(f"| peak | | | {peak:.1f} |")
    done = s.frames_out + s.skipped.total
    print(f"| after run_bag returned (gc.collect) | {run_s:.1f} | {done} | {returned:.1f} |")
    if ten is not None and last is not None and last.done > ten.done:
        growth = 1024.0 * (last.rss - ten.rss) / (last.done - ten.done)
        print(f"\nRSS growth from 10 % to the end: {last.rss - ten.rss:+.1f} MiB over {last.done - ten.done} frames "
              f"= {growth:+.1f} KiB/frame")  # fmt: skip
    else:
        print("\nRSS growth per frame: n/a (too few samples; use more --frames)")
    print(f"{s.frames_in} frames in, {s.frames_out} out, {s.skipped.total} skipped; "
          f"{run_s:.1f} s ({s.fps:.2f} frames/s); {len(samples)} RSS samples every {SAMPLE_S} s")  # fmt: skip
    if s.skipped.total:
        print(f"skipped: {s.skipped}")


if __name__ == "__main__":
    sys.exit(main())
