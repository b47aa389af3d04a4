"""A torch Dataset over the procedural synthetic world: rgb, exact depth, sparse LiDAR depth, intrinsics, neighbours.

Drives are rendered once (:func:`render_clip`, optionally cached on disk as ``.npz``) and held in memory; items are
cut from them. Each item of :class:`SyntheticDepthDataset` is a dict of tensors:

* ``rgb``: (3, H, W) float32 RGB in [0, 1] of the target frame (after colour jitter, if any).
* ``depth``: (1, H, W) float32 exact depth in metres along the optical axis; NaN = sky / beyond range.
* ``lidar_depth``: (1, H, W) float32 metres of the projected LiDAR scan (nearest return per pixel); NaN = none.
* ``k``: (3, 3) float32 intrinsics in pixels (flipped with the image).
* ``sources``: (S, 3, H, W) float32 neighbouring frames (``frame_offsets``, then the stereo partner if rendered).
* ``source_from_target``: (S, 4, 4) float32 true relative poses (target optical frame -> source optical frame).
* ``pose_known``: (S,) bool, True where the pose is fixed by the rig (stereo) rather than to be estimated.
* ``source_offset``: (S,) int64 frame offset of each source (negative = earlier; 0 for the stereo partner).
* ``index``: () int64 item index.

Augmentation (rendered drives are already at the input size, so no crop; recorded data uses
:mod:`.augment` through :mod:`.real_data`): horizontal flip (image,
depth, LiDAR, ``cx -> W - 1 - cx`` and poses conjugated by ``diag(-1, 1, 1)``) and colour jitter (brightness,
contrast, saturation), the same for the target and its sources; items with sources also hold ``loss_rgb`` /
``loss_sources``, the frames before the jitter, which the photometric loss compares (monodepth2). Random draws come
from ``(seed, epoch, index)`` only, so an item is identical however the data is split across workers or processes,
and a resumed run sees the same data as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from torch.utils.data import Dataset

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.geometry import RigidTransform, zbuffer_depth
from mono_depth_ros.core.synthetic import SensorRig, iter_sequence, kitti_like_intrinsics
from mono_depth_ros.core.synthetic_world import SyntheticWorld

_CACHE_VERSION = "1"
_FLIP = np.diag([-1.0, 1.0, 1.0, 1.0])


@dataclass(frozen=True)
class ClipSpec:
    """What to render for one drive (also the disk-cache key).

    Attributes:
        seed: street layout, textures.
        n_frames: frames in the drive.
        width, height: image size (pixels); intrinsics are :func:`~mono_depth_ros.core.synthetic.kitti_like_intrinsics`.
        beams: LiDAR beams (0 = no LiDAR rendered).
        speed_mps: vehicle speed; rate_hz: frame rate.
        stereo_baseline_m: > 0 also renders a right camera that far along the optical x axis.
    """

    seed: int
    n_frames: int
    width: int = 320
    height: int = 96
    beams: int = 16
    speed_mps: float = 8.0
    rate_hz: float = 10.0
    stereo_baseline_m: float = 0.0

    def __post_init__(self) -> None:
        if self.n_frames < 1 or self.width < 8 or self.height < 8 or self.beams < 0 or self.stereo_baseline_m < 0:
            msg = f"bad synthetic clip {self}: need n_frames >= 1, size >= 8 px, beams >= 0, baseline >= 0"
            raise ConfigError(msg)

    def cache_name(self) -> str:
        """File name of this clip in a cache directory (hash of every field and the cache version)."""
        text = json.dumps({**asdict(self), "version": _CACHE_VERSION}, sort_keys=True)
        return f"synthetic_{hashlib.sha256(text.encode()).hexdigest()[:16]}.npz"


@dataclass(frozen=True)
class SyntheticClip:
    """One rendered drive (arrays indexed by frame).

    Attributes:
        spec: what was rendered.
        intrinsics: camera intrinsics of every image.
        rgb: (N, H, W, 3) uint8 RGB.
        depth_m: (N, H, W) float32 metres along the optical axis; +inf = sky / beyond range.
        lidar_depth_m: (N, H, W) float32 metres, NaN = no LiDAR return (all NaN when ``beams == 0``).
        world_from_cam: (N, 4, 4) float64 camera poses (optical frame -> ``map``).
        stereo_rgb: (N, H, W, 3) uint8 right-camera images, or None.
    """

    spec: ClipSpec
    intrinsics: PinholeIntrinsics
    rgb: npt.NDArray[np.uint8]
    depth_m: npt.NDArray[np.float32]
    lidar_depth_m: npt.NDArray[np.float32]
    world_from_cam: npt.NDArray[np.float64]
    stereo_rgb: npt.NDArray[np.uint8] | None = None

    @property
    def right_from_left(self) -> npt.NDArray[np.float64]:
        """(4, 4) pose of the stereo pair: left (target) optical frame -> right optical frame."""
        matrix = np.eye(4)
        matrix[0, 3] = -self.spec.stereo_baseline_m
        return matrix


def clip_intrinsics(spec: ClipSpec) -> PinholeIntrinsics:
    """The intrinsics a clip is rendered with (KITTI-like, principal point off-centre)."""
    return kitti_like_intrinsics(spec.width, spec.height)


def render_clip(spec: ClipSpec, cache_dir: str | Path | None = None) -> SyntheticClip:
    """Render (or load from ``cache_dir``) one drive.

    Args:
        spec: what to render.
        cache_dir: directory of ``.npz`` caches (created if missing); None = always render.
    """
    intrinsics = clip_intrinsics(spec)
    cache = Path(cache_dir) / spec.cache_name() if cache_dir is not None else None
    if cache is not None and cache.is_file():
        with np.load(cache) as data:
            stereo = data["stereo_rgb"] if spec.stereo_baseline_m > 0 else None
            return SyntheticClip(
                spec, intrinsics, data["rgb"], data["depth_m"], data["lidar_depth_m"], data["world_from_cam"], stereo
            )
    world = SyntheticWorld(spec.seed, length_m=max(100.0, spec.n_frames * spec.speed_mps / spec.rate_hz + 50.0))
    frames = list(
        iter_sequence(
            spec.seed,
            spec.n_frames,
            intrinsics,
            max(spec.beams, 1),
            rate_hz=spec.rate_hz,
            speed_mps=spec.speed_mps,
            rig=SensorRig(),
            world=world,
        )
    )
    lidar = np.full((spec.n_frames, spec.height, spec.width), np.nan, dtype=np.float32)
    if spec.beams > 0:
        for i, frame in enumerate(frames):
            lidar[i] = zbuffer_depth(frame.cam_from_lidar.apply(frame.points_in_lidar), intrinsics)[0]
    stereo = None
    if spec.stereo_baseline_m > 0:
        cam_from_right = RigidTransform(
            np.eye(3),
            np.array([spec.stereo_baseline_m, 0.0, 0.0]),
            frames[0].world_from_cam.src_frame,
            "right_optical_frame",
        )
        stereo = np.stack([world.render(f.world_from_cam @ cam_from_right, intrinsics).rgb for f in frames])
    clip = SyntheticClip(
        spec,
        intrinsics,
        np.stack([f.rgb for f in frames]),
        np.stack([f.depth_m for f in frames]),
        lidar,
        np.stack([f.world_from_cam.matrix for f in frames]),
        stereo,
    )
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "rgb": clip.rgb,
            "depth_m": clip.depth_m,
            "lidar_depth_m": clip.lidar_depth_m,
            "world_from_cam": clip.world_from_cam,
        }
        if stereo is not None:
            arrays["stereo_rgb"] = stereo
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(cache)
    return clip


@dataclass(frozen=True)
class Augmentation:
    """Random augmentation of training items (all zero = none).

    Attributes:
        flip_probability: chance of a horizontal flip.
        brightness, contrast, saturation: jitter amplitude: factors drawn uniformly in [1 - a, 1 + a].
    """

    flip_probability: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.flip_probability <= 1 or min(self.brightness, self.contrast, self.saturation) < 0:
            msg = f"bad augmentation {self}: flip_probability in [0, 1], jitter amplitudes >= 0"
            raise ConfigError(msg)


def colour_jitter(images: Tensor, brightness: float, contrast: float, saturation: float) -> Tensor:
    """Apply one brightness / contrast / saturation factor to a stack of images.

    Args:
        images: (N, 3, H, W) float RGB in [0, 1] (the target and its sources: one jitter for all).
        brightness, contrast, saturation: multiplicative factors (1 = unchanged); contrast pivots on the mean grey
            of ``images[0]``, saturation blends with each pixel's grey.

    Returns:
        (N, 3, H, W) clipped to [0, 1].
    """
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype).view(1, 3, 1, 1)
    out = images * brightness
    pivot = (out[:1] * weights).sum(1).mean()
    out = (out - pivot) * contrast + pivot
    grey = (out * weights).sum(1, keepdim=True)
    return ((out - grey) * saturation + grey).clamp(0.0, 1.0)


class SyntheticDepthDataset(Dataset[dict[str, Tensor]]):
    """Items cut from pre-rendered drives (see the module docstring for the item layout).

    Args:
        clips: rendered drives (all of one image size).
        frame_offsets: neighbour offsets in frames (e.g. ``(-1, 1)``); targets are the frames whose neighbours all
            exist. Empty: every frame is a target and ``sources`` is empty (supervised training, validation).
        use_stereo: add the stereo partner as the last source (clips must have ``stereo_rgb``).
        augmentation: random flip / jitter (None = none).
        seed: base seed of the augmentation draws.
    """

    def __init__(
        self,
        clips: Sequence[SyntheticClip],
        frame_offsets: Sequence[int] = (),
        use_stereo: bool = False,
        augmentation: Augmentation | None = None,
        seed: int = 0,
    ) -> None:
        if not clips:
            msg = "SyntheticDepthDataset needs at least one clip; render some with render_clip"
            raise ConfigError(msg)
        sizes = {(c.spec.height, c.spec.width) for c in clips}
        if len(sizes) != 1:
            msg = f"all clips must share one image size, got {sorted(sizes)}"
            raise ConfigError(msg)
        if use_stereo and any(c.stereo_rgb is None for c in clips):
            msg = "use_stereo needs clips rendered with stereo_baseline_m > 0"
            raise ConfigError(msg)
        self.clips = list(clips)
        self.frame_offsets = tuple(int(o) for o in frame_offsets)
        self.use_stereo = use_stereo
        self.augmentation = augmentation or Augmentation()
        self.seed = seed
        self.epoch = 0
        lo, hi = min((0, *self.frame_offsets)), max((0, *self.frame_offsets))
        self._items = [(c, f) for c, clip in enumerate(self.clips) for f in range(-lo, clip.spec.n_frames - hi)]
        if not self._items:
            msg = f"no frame of {len(clips)} clips has all neighbours {self.frame_offsets}; render longer clips"
            raise ConfigError(msg)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (call before iterating, as with DistributedSampler)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        clip_index, frame = self._items[index]
        clip = self.clips[clip_index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        aug = self.augmentation
        flip = bool(rng.random() < aug.flip_probability)
        factors = [float(rng.uniform(1 - a, 1 + a)) for a in (aug.brightness, aug.contrast, aug.saturation)]

        source_rgb = [clip.rgb[frame + o] for o in self.frame_offsets]
        poses = [
            np.linalg.solve(clip.world_from_cam[frame + o], clip.world_from_cam[frame]) for o in self.frame_offsets
        ]
        if self.use_stereo and clip.stereo_rgb is not None:
            source_rgb.append(clip.stereo_rgb[frame])
            poses.append(clip.right_from_left)
        known = [False] * len(self.frame_offsets) + [True] * (len(source_rgb) - len(self.frame_offsets))

        images = torch.from_numpy(np.stack([clip.rgb[frame], *source_rgb])).permute(0, 3, 1, 2).float() / 255.0
        depth = np.where(np.isfinite(clip.depth_m[frame]), clip.depth_m[frame], np.nan).astype(np.float32)
        lidar = clip.lidar_depth_m[frame]
        intrinsics = clip.intrinsics
        pose_array = np.stack(poses) if poses else np.zeros((0, 4, 4))
        if flip:
            images = images.flip(-1)
            depth, lidar = depth[:, ::-1], lidar[:, ::-1]
            intrinsics = intrinsics.flipped_horizontally()
            pose_array = _FLIP @ pose_array @ _FLIP
        loss_frames = images
        if any(f != 1.0 for f in factors):
            images = colour_jitter(images, *factors)
        item = {
            "rgb": images[0],
            "depth": torch.from_numpy(np.ascontiguousarray(depth))[None],
            "lidar_depth": torch.from_numpy(np.ascontiguousarray(lidar))[None],
            "k": torch.from_numpy(intrinsics.matrix.astype(np.float32)),
            "sources": images[1:],
            "source_from_target": torch.from_numpy(pose_array.astype(np.float32)),
            "pose_known": torch.tensor(known, dtype=torch.bool),
            "source_offset": torch.tensor([*self.frame_offsets, *[0] * (len(known) - len(self.frame_offsets))]),
            "index": torch.tensor(index, dtype=torch.int64),
        }
        if self.frame_offsets or self.use_stereo:  # what the photometric loss compares: the frames before the jitter
            item |= {"loss_rgb": loss_frames[0], "loss_sources": loss_frames[1:]}
        return item
