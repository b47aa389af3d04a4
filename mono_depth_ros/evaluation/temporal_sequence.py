"""Synthetic drives with a moving car, for the temporal error of the published depth with and without the filter.

The ego camera drives along a generated street (:mod:`mono_depth_ros.core.synthetic`). One car (a box) stands in
the oncoming lane ahead and, from ``MovingCar.start_frame`` on, drives towards the camera. Every frame has exact
depth, the car's truth mask, the camera pose (what TF would give in a fixed frame) and a LiDAR scan. Predictions
come from :class:`TemporalOracle`, an oracle of any output kind whose error has a persistent smooth part (slowly
changing, as a network's errors follow the image content) and a per-frame part (flicker: pixel noise and, for
models without metric scale, a per-frame scale). :func:`run_sequence` runs them through the real
:class:`~mono_depth_ros.pipeline.DepthPipeline` (LiDAR scale recovery, then the temporal filter when
``temporal.enabled``) and measures AbsRel, the temporal error on static surfaces and the car's AbsRel while it
moves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from mono_depth_ros.config import ParamValue
from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.geometry import RigidTransform, backproject_depth
from mono_depth_ros.core.raycast import Boxes
from mono_depth_ros.core.scale.lidar import LidarScan
from mono_depth_ros.core.synthetic import SensorRig, drive_poses
from mono_depth_ros.core.synthetic_scene import Scene
from mono_depth_ros.core.synthetic_world import SyntheticWorld
from mono_depth_ros.evaluation.temporal import abs_rel, static_correspondences, temporal_error
from mono_depth_ros.pipeline import DepthPipeline, FrameInput

F32 = npt.NDArray[np.float32]
G = TypeVar("G", bound=np.generic)
FRAME_PERIOD_NS = 100_000_000  # 10 Hz
CAR_SIZE_M = (4.0, 1.8, 1.5)  # length (along the road), width, height
# the car's parts: (low xyz, high xyz) from its centre on the ground (x along the road, its front at -x) and albedo:
# a red body, a band of windows, wheels, headlights and a grille (1 cm proud of the body): what a camera sees of a car
CAR_PARTS = (
    ((-2.0, -0.9, 0.0), (2.0, 0.9, 1.5), (0.7, 0.1, 0.1)),
    ((-1.3, -0.91, 0.95), (1.1, 0.91, 1.4), (0.16, 0.2, 0.25)),
    ((-1.65, -0.92, 0.0), (-0.95, 0.92, 0.6), (0.04, 0.04, 0.04)),
    ((0.95, -0.92, 0.0), (1.65, 0.92, 0.6), (0.04, 0.04, 0.04)),
    ((-2.01, -0.8, 0.6), (-1.9, -0.5, 0.8), (0.9, 0.9, 0.8)),
    ((-2.01, 0.5, 0.6), (-1.9, 0.8, 0.8), (0.9, 0.9, 0.8)),
    ((-2.01, -0.4, 0.45), (-1.9, 0.4, 0.65), (0.08, 0.08, 0.08)),
)
SUPERSAMPLE = 2  # rays per pixel side for the images (depth is exact at the pixel centres)


@dataclass(frozen=True)
class MovingCar:
    """The car: ``ahead_m`` in front of the ego start in the oncoming lane, still until ``start_frame``, then
    driving towards the camera at ``speed_mps``."""

    ahead_m: float = 20.0
    lateral_m: float = 1.9
    start_frame: int = 3
    speed_mps: float = 12.0


@dataclass(frozen=True)
class ImageNoise:
    """What a real camera adds to the rendered images (the renderer's are exact and evenly exposed).

    Attributes:
        exposure_sigma: std of the per-frame log gain (auto exposure: a few % from frame to frame).
        read_sigma: std of the per-pixel noise, in 8-bit counts.
    """

    exposure_sigma: float = 0.05
    read_sigma: float = 2.0


class _Camera:
    """Applies :class:`ImageNoise` frame by frame (deterministic from the seed)."""

    def __init__(self, seed: int, noise: ImageNoise) -> None:
        self.noise = noise
        self._rng = np.random.default_rng([seed, 0xE7])

    def expose(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        gain = math.exp(self._rng.normal(0.0, self.noise.exposure_sigma))
        noisy = rgb.astype(np.float32) * gain + self._rng.normal(0.0, self.noise.read_sigma, rgb.shape)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class TemporalFrame:
    """One frame with its truth.

    Attributes:
        index, stamp_ns: frame number and stamp (int ns).
        rgb: (H, W, 3) uint8, with the camera's noise. depth_m: (H, W) float32 true depth, metres, +inf sky.
        car_mask: (H, W) bool, pixels that see the moving car.
        world_from_cam: camera optical frame → world (the fixed frame).
        lidar: the scan for scale recovery.
        intrinsics: the camera's pinhole intrinsics.
    """

    index: int
    stamp_ns: int
    rgb: npt.NDArray[np.uint8]
    depth_m: F32
    car_mask: npt.NDArray[np.bool_]
    world_from_cam: RigidTransform
    lidar: LidarScan
    intrinsics: PinholeIntrinsics


def render_sequence(
    seed: int,
    n_frames: int,
    intrinsics: PinholeIntrinsics,
    car: MovingCar | None = None,
    *,
    speed_mps: float = 8.0,
    azimuth_step_deg: float = 0.5,
    image_noise: ImageNoise | None = None,
) -> Iterator[TemporalFrame]:
    """Render the drive frame by frame (deterministic from ``seed``).

    The car's paint moves with it, and the images get a camera's per-frame exposure change and pixel noise
    (``image_noise``, default :class:`ImageNoise`; ``ImageNoise(0, 0)`` for the exact rendering): an image-based
    motion cue must not be scored on images a real camera would never give.
    """
    car = car or MovingCar()
    rig = SensorRig()
    world = SyntheticWorld(seed, length_m=max(100.0, n_frames * speed_mps / 10.0 + 60.0))
    assert world.road is not None  # a generated world has a road
    static_scene = world.scene
    car_only = SyntheticWorld(seed, scene=Scene(ground=False))  # renders the car alone: its truth mask
    poses = drive_poses(world.road, n_frames, speed_mps, 10.0)
    start_x = float(poses[0].translation[0])
    rest_centre = world.road.point_at(start_x + car.ahead_m, car.lateral_m)
    camera = _Camera(seed, image_noise or ImageNoise())
    part_low, part_high, part_albedo = (np.array([part[i] for part in CAR_PARTS]) for i in range(3))
    for index, world_from_base in enumerate(poses):
        travelled = car.speed_mps * max(0, index - car.start_frame + 1) / 10.0 if index >= car.start_frame else 0.0
        x = start_x + car.ahead_m - travelled
        centre = world.road.point_at(x, car.lateral_m)
        low = np.array([centre[0], centre[1], 0.0]) + part_low
        high = np.array([centre[0], centre[1], 0.0]) + part_high
        world_from_cam = world_from_base @ rig.base_from_cam
        # the car alone, seen from the camera moved back by the car's travel: the same image of the car, but its
        # paint (a function of world coordinates) is that of its parking place, so it moves with the car
        travel = np.array([*(centre - rest_centre), 0.0])
        car_only.scene = Scene(boxes=Boxes(low - travel, high - travel), box_albedo=part_albedo, ground=False)
        moved_back = RigidTransform(world_from_cam.rotation, world_from_cam.translation - travel)
        car_depth = car_only.render(moved_back, intrinsics).depth_m
        boxes = Boxes(np.vstack([static_scene.boxes.min_xyz, low]), np.vstack([static_scene.boxes.max_xyz, high]))
        albedo = np.vstack([static_scene.box_albedo, part_albedo])
        world.scene = replace(static_scene, boxes=boxes, box_albedo=albedo)
        frame = world.render(world_from_cam, intrinsics)
        scan = world.lidar_scan(world_from_base @ rig.base_from_lidar, beams=16, azimuth_step_deg=azimuth_step_deg)
        car_mask = np.isfinite(car_depth) & (car_depth <= frame.depth_m + 1e-3)
        rgb = camera.expose(_integrated_rgb(world, car_only, world_from_cam, moved_back, intrinsics))
        lidar = LidarScan(scan.points_in_lidar, rig.cam_from_lidar, index * FRAME_PERIOD_NS)
        yield TemporalFrame(
            index, index * FRAME_PERIOD_NS, rgb, frame.depth_m, car_mask, world_from_cam, lidar, intrinsics
        )
    world.scene = static_scene


def _integrated_rgb(
    world: SyntheticWorld,
    car_only: SyntheticWorld,
    world_from_cam: RigidTransform,
    car_from_cam: RigidTransform,
    intrinsics: PinholeIntrinsics,
) -> npt.NDArray[np.uint8]:
    """(H, W, 3) image as a camera's pixels integrate light: rendered at ``SUPERSAMPLE``× and averaged (the renderer
    samples one ray per pixel, whose fine texture would alias differently in every frame), the car painted from
    ``car_only`` seen from ``car_from_cam``."""
    import cv2

    fine = intrinsics.resized(intrinsics.width * SUPERSAMPLE, intrinsics.height * SUPERSAMPLE)
    scene = world.render(world_from_cam, fine)
    car = car_only.render(car_from_cam, fine)
    on_car = np.isfinite(car.depth_m) & (car.depth_m <= scene.depth_m + 1e-3)
    rgb = np.where(on_car[..., None], car.rgb, scene.rgb)
    return np.asarray(cv2.resize(rgb, (intrinsics.width, intrinsics.height), interpolation=cv2.INTER_AREA), np.uint8)


@dataclass(frozen=True)
class OracleNoise:
    """The oracle's error model (errors of log depth).

    Attributes:
        persistent_sigma: std of the smooth error that belongs to the scene (a sum of random sinusoids of the world
            point, wavelengths ``wavelengths_m``): the same surface gets the same error in every frame, as a
            network's error follows the image content.
        flicker_sigma: std of a smooth image-space error drawn anew every frame (coarse grid ``cells``).
        pixel_sigma: per-frame per-pixel noise.
        scale_jitter: per-frame log-scale jitter of ``depth_up_to_scale`` / ``relative_inverse`` models (scale
            recovery refits it every frame).
        drift_sigma: std of a second scene-bound error (its own random sinusoids of the world point, wavelengths
            in ``drift_wavelengths_m``) whose phases take a random walk of ``drift_step`` rad per call of
            ``predict``, whether the camera moved or not: a stand-in for a network's error at a world point changing
            as the view changes, decorrelating over frames (bench/bench_flicker_structure.py) on drives that move
            every frame.
            0 (the default) leaves the draws of the other terms as they were.
        drift_step: std of the per-frame phase step of the drifting error, rad.
        drift_wavelengths_m: range of the drifting error's wavelengths, metres.
    """

    persistent_sigma: float = 0.1
    wavelengths_m: tuple[float, float] = (4.0, 20.0)
    flicker_sigma: float = 0.015
    cells: tuple[int, int] = (3, 8)
    pixel_sigma: float = 0.03
    scale_jitter: float = 0.03
    drift_sigma: float = 0.0
    drift_step: float = 0.0
    drift_wavelengths_m: tuple[float, float] = (4.0, 20.0)


# the shipped network's error structure on the demo's drives (bench/bench_flicker_structure.py, explore71 in
# bench/RESULTS-session-notes.md): per-frame noise smooth (correlation length about 20 px at 320 px) with almost no
# per-pixel part, and a scene-bound error that changes as the view changes (its correlation at one world point 0.90-0.95
# from one frame to the next, 0.59-0.72 eight frames on), smooth over about 20-30 px
NETWORK_LIKE = OracleNoise(
    flicker_sigma=0.012, pixel_sigma=0.001, drift_sigma=0.1, drift_step=0.5, drift_wavelengths_m=(2.0, 8.0)
)


class TemporalOracle:
    """Predictions of ``kind`` from exact depth with the errors of :class:`OracleNoise` (deterministic from seed).

    **Not a network**: it stands in for one of each output kind so that the filter is measured on each.
    """

    WAVES = 6

    def __init__(self, kind: OutputKind, seed: int, noise: OracleNoise | None = None) -> None:
        self.kind = OutputKind(kind)
        self.noise = noise or OracleNoise()
        self._rng = np.random.default_rng([seed, 0x7E4])
        directions = self._rng.standard_normal((self.WAVES, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        wavelengths = self._rng.uniform(*self.noise.wavelengths_m, self.WAVES)
        self._waves = directions * (2.0 * math.pi / wavelengths)[:, None]  # (K, 3) rad / m
        self._phases = self._rng.uniform(0.0, 2.0 * math.pi, self.WAVES)
        drift_rng = np.random.default_rng([seed, 0xD71])  # its own stream: the other terms' draws do not change
        drift_directions = drift_rng.standard_normal((self.WAVES, 3))
        drift_directions /= np.linalg.norm(drift_directions, axis=1, keepdims=True)
        drift_wavelengths = drift_rng.uniform(*self.noise.drift_wavelengths_m, self.WAVES)
        self._drift_waves = drift_directions * (2.0 * math.pi / drift_wavelengths)[:, None]
        self._drift_phases = drift_rng.uniform(0.0, 2.0 * math.pi, self.WAVES)
        self._drift_rng = drift_rng

    def predict(self, depth_m: F32, intrinsics: PinholeIntrinsics, world_from_cam: RigidTransform) -> F32:
        """(H, W) prediction of :attr:`kind` for the true depth (+inf sky: +inf depth, 0 disparity)."""
        import cv2

        n = self.noise
        height, width = depth_m.shape
        points = backproject_depth(np.where(np.isfinite(depth_m), depth_m, 0.0), intrinsics).reshape(-1, 3)
        in_world = world_from_cam.apply(np.nan_to_num(points.astype(np.float64)))
        persistent = np.sin(in_world @ self._waves.T + self._phases).sum(axis=1) * math.sqrt(2.0 / self.WAVES)
        coarse = self._rng.standard_normal((n.cells[0] + 1, n.cells[1] + 1)).astype(np.float32)
        flicker = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
        log_error = n.persistent_sigma * persistent.reshape(height, width) + n.flicker_sigma * flicker
        log_error = log_error + self._rng.normal(0.0, n.pixel_sigma, (height, width))
        if n.drift_sigma > 0.0:
            drift = np.sin(in_world @ self._drift_waves.T + self._drift_phases).sum(axis=1)
            log_error = log_error + n.drift_sigma * math.sqrt(2.0 / self.WAVES) * drift.reshape(height, width)
            self._drift_phases = self._drift_phases + self._drift_rng.normal(0.0, n.drift_step, self.WAVES)
        depth: npt.NDArray[np.float64] = depth_m.astype(np.float64) * np.exp(np.asarray(log_error, np.float64))
        if self.kind is OutputKind.METRIC:
            return depth.astype(np.float32)
        scale = math.exp(self._rng.normal(0.0, n.scale_jitter)) * 3.0
        if self.kind is OutputKind.DEPTH_UP_TO_SCALE:
            return (depth / scale).astype(np.float32)
        if self.kind is OutputKind.AFFINE_DEPTH:  # a normalised depth (Marigold): scale and shift to undo
            return ((depth - 2.0) / (20.0 * scale)).astype(np.float32)
        with np.errstate(divide="ignore"):
            inverse = np.where(np.isfinite(depth), 1.0 / depth, 0.0)
        return (inverse * 10.0 * scale + 0.05).astype(np.float32)


@dataclass(frozen=True)
class FrameScore:
    """One published frame against its truth (NaN where not measurable, e.g. the first frame's temporal error).

    ``car_abs_rel``: AbsRel on the car's pixels, only in frames where it moves. ``filter_ms``: the pipeline's
    ``temporal`` stage.
    """

    index: int
    abs_rel: float
    temporal: float
    car_abs_rel: float
    filter_ms: float
    depth_m: F32


@dataclass(frozen=True)
class SequenceScore:
    """Means over a run (NaN-aware)."""

    abs_rel: float
    temporal: float
    car_abs_rel: float
    filter_ms: float

    @classmethod
    def of(cls, frames: list[FrameScore]) -> SequenceScore:
        """The means of ``frames``."""

        def mean(values: list[float]) -> float:
            finite = [v for v in values if math.isfinite(v)]
            return float(np.mean(finite)) if finite else float("nan")

        return cls(
            mean([f.abs_rel for f in frames]),
            mean([f.temporal for f in frames]),
            mean([f.car_abs_rel for f in frames]),
            mean([f.filter_ms for f in frames]),
        )


Predict = Callable[[TemporalFrame], F32 | None]


def run_sequence(
    frames: list[TemporalFrame],
    pipeline: DepthPipeline,
    predict: Predict,
    car_start_frame: int,
) -> list[FrameScore]:
    """Run ``frames`` through ``pipeline`` (``predict`` gives an external prediction, or None for a network).

    The published depth may be smaller than the truth (``output.downscale``); the truth is then subsampled at the
    published pixel centres, as the pipeline subsamples its own depth.
    """
    scores: list[FrameScore] = []
    previous: tuple[F32, F32, RigidTransform] | None = None
    for frame in frames:
        camera = CameraModel.from_intrinsics(frame.intrinsics)
        out = pipeline.process_frame(
            FrameInput(
                stamp_ns=frame.stamp_ns,
                frame_id="camera_optical_frame",
                rgb=frame.rgb,
                camera=camera,
                lidar=frame.lidar,
                prediction=predict(frame),
                world_from_cam=frame.world_from_cam,
            )
        )
        truth = subsample(frame.depth_m, out.depth_m.shape)
        car = subsample(frame.car_mask, out.depth_m.shape)
        published = out.depth_m
        temporal = float("nan")
        if previous is not None:
            truth_prev, published_prev, world_from_prev = previous
            cur_from_prev = frame.world_from_cam.inverse() @ world_from_prev
            pairs = static_correspondences(truth_prev, truth, out.intrinsics, cur_from_prev)
            temporal = temporal_error(published_prev, published, pairs, out.intrinsics, cur_from_prev, car).mean
        moving = frame.index >= car_start_frame and bool(np.any(car))
        scores.append(
            FrameScore(
                frame.index,
                abs_rel(published, truth, ~car),
                temporal,
                abs_rel(published, truth, car) if moving else float("nan"),
                out.timings_ms.get("temporal", float("nan")),
                published,
            )
        )
        previous = (truth, published, frame.world_from_cam)
    return scores


def oracle_params(
    kind: OutputKind, temporal: bool, extra: Mapping[str, ParamValue] | None = None
) -> dict[str, ParamValue]:
    """Parameters for an oracle run: external predictions of ``kind``, LiDAR scale, the filter on or off.

    The edge filter is off: it drops pixels by the noise of their neighbours, so it would score a smoother (filtered)
    depth on more pixels than a noisy one; with it off both runs are scored on the same pixels.
    """
    return {
        "output.edge_filter": False,
        "model.backend": "external",
        "model.output_kind": OutputKind(kind).value,
        "lidar_topic": "/lidar/points",
        "temporal.enabled": temporal,
        **(extra or {}),
    }


def subsample(image: npt.NDArray[G], out_hw: tuple[int, ...]) -> npt.NDArray[G]:
    """Pixel-centre nearest subsampling to ``out_hw`` (the pipeline's rule for ``output.downscale``)."""
    height, width = image.shape[:2]
    if (height, width) == tuple(out_hw):
        return image
    factor = round(width / out_hw[1])
    rows = np.clip(np.rint((np.arange(out_hw[0]) + 0.5) * factor - 0.5), 0, height - 1).astype(np.intp)
    cols = np.clip(np.rint((np.arange(out_hw[1]) + 0.5) * factor - 0.5), 0, width - 1).astype(np.intp)
    return np.ascontiguousarray(image[np.ix_(rows, cols)])
