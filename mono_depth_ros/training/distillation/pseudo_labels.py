"""The pseudo-label cache: a teacher's predictions on unlabelled images, written once, resumable, read by training.

Layout under ``cache_dir`` (written by :func:`~mono_depth_ros.training.distillation.labelling.label_sources`)::

    manifest.json        the teacher (backend, weights path + fingerprint + content digest, ModelSpec), its output
                         kind, the label size and the feature grid; a cache never mixes two teachers or two sizes
    <source>/<key>.npz   one frame (one folder per bag / image folder, see label_sources.source_name):
                         rgb (h, w, 3) uint8 RGB at the label size
                         label (h, w) float32 in the TEACHER's output kind (metres, depth × unknown scale, or relative
                             inverse depth), NaN = no label
                         lidar_depth_m (h, w) float32 metres along z (z-buffer of the frame's LiDAR), NaN = no return
                         lidar_points () int64 pixels with a LiDAR return
                         k (3, 3) float64 intrinsics at the label size (all NaN when the source has none)
                         features (C, fh, fw) float16 teacher encoder features (only with teacher features)

Each file is written to a temporary name and renamed, so an interrupted run leaves no half-written frame, and a
resumed run labels only the frames whose file is missing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from torch.utils.data import Dataset

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.training_camera import median_focal
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.data.sample import evenly_spread

MANIFEST_NAME = "manifest.json"
CACHE_VERSION = 2
"""2: images resized as the node resizes its input (antialiased), no label or LiDAR on a raw camera's black fill."""


@dataclass(frozen=True)
class CacheManifest:
    """What every label in a cache was made with.

    Attributes:
        teacher: :meth:`Teacher.identity` (backend, weights, fingerprint, spec JSON).
        output_kind: the teacher's output kind (the unit of ``label``).
        label_height, label_width: size of the cached images and labels (pixels).
        feature_channels: C of the cached features (0 = no features); feature_height, feature_width: their grid.
        version: cache layout version.
    """

    teacher: dict[str, str]
    output_kind: str
    label_height: int
    label_width: int
    feature_channels: int = 0
    feature_height: int = 0
    feature_width: int = 0
    version: int = CACHE_VERSION

    @property
    def kind(self) -> OutputKind:
        """:attr:`output_kind` as an enum."""
        return OutputKind.parse(self.output_kind)

    def to_json(self) -> str:
        """Pretty JSON (what ``manifest.json`` holds)."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def read_manifest(cache_dir: str | Path) -> CacheManifest:
    """The manifest of an existing cache.

    Raises:
        ConfigError: no cache there, or an unreadable / foreign manifest.
    """
    path = Path(cache_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
        return CacheManifest(**data)
    except FileNotFoundError:
        msg = f"no pseudo-label cache in {cache_dir} ({MANIFEST_NAME} missing); label images first"
        raise ConfigError(msg) from None
    except (OSError, ValueError, TypeError) as err:
        msg = f"{path} is not a pseudo-label manifest ({err}); delete the folder or choose another cache_dir"
        raise ConfigError(msg) from None


def _legacy_match(existing: CacheManifest, manifest: CacheManifest) -> bool:
    """Whether a cache written before teachers had a content digest matches ``manifest`` on all else (kept, as it
    was then: known by the weights' sizes and times)."""
    if "content" in existing.teacher:
        return False
    teacher = {k: v for k, v in manifest.teacher.items() if k != "content"}
    return existing == replace(manifest, teacher=teacher)


def open_cache(cache_dir: str | Path, manifest: CacheManifest) -> Path:
    """Create a cache for ``manifest``, or reopen the cache made with the same one (resume).

    Raises:
        ConfigError: ``cache_dir`` holds labels of another teacher, kind, size or feature setting.
    """
    root = Path(cache_dir)
    if (root / MANIFEST_NAME).is_file():
        existing = read_manifest(root)
        if existing.version != manifest.version:
            msg = (
                f"pseudo-label cache {root} was made by an older labeller (cache version {existing.version}, this one "
                f"writes {manifest.version}: images resized otherwise than the student's input); delete {root} to "
                f"label again, or choose another data.cache_dir"
            )
            raise ConfigError(msg)
        if existing != manifest and not _legacy_match(existing, manifest):
            differs = [k for k, v in asdict(manifest).items() if asdict(existing).get(k) != v]
            msg = (
                f"pseudo-label cache {root} was made with another teacher or label setting (differs in "
                f"{', '.join(differs)}); choose another data.cache_dir or delete {root} to label again"
            )
            raise ConfigError(msg)
        return root
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / (MANIFEST_NAME + ".tmp")
    tmp.write_text(manifest.to_json())
    tmp.replace(root / MANIFEST_NAME)
    return root


@dataclass(frozen=True)
class PseudoLabel:
    """One cached frame (shapes, dtypes and units in the module docstring)."""

    rgb: npt.NDArray[np.uint8]
    label: npt.NDArray[np.float32]
    lidar_depth_m: npt.NDArray[np.float32]
    k: npt.NDArray[np.float64]
    features: npt.NDArray[np.float16] | None = None

    @property
    def lidar_points(self) -> int:
        """Pixels with a LiDAR return."""
        return int(np.isfinite(self.lidar_depth_m).sum())


def write_pseudo_label(path: Path, label: PseudoLabel) -> None:
    """Write one frame atomically (temporary file, then rename)."""
    arrays: dict[str, Any] = {
        "rgb": label.rgb,
        "label": label.label,
        "lidar_depth_m": label.lidar_depth_m,
        "lidar_points": np.int64(label.lidar_points),
        "k": label.k,
    }
    if label.features is not None:
        arrays["features"] = label.features
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as handle:
        np.savez(handle, **arrays)
    tmp.replace(path)


def read_pseudo_label(path: Path) -> PseudoLabel:
    """Read one frame written by :func:`write_pseudo_label`.

    Raises:
        ConfigError: the file is missing or damaged (naming it, so that it can be deleted and relabelled).
    """
    try:
        with np.load(path) as data:
            features = data["features"] if "features" in data.files else None
            return PseudoLabel(data["rgb"], data["label"], data["lidar_depth_m"], data["k"], features)
    except (OSError, ValueError, KeyError, EOFError) as err:
        msg = f"pseudo-label {path} is unreadable ({err}); delete it and label again (resume relabels it)"
        raise ConfigError(msg) from None


class PseudoLabelDataset(Dataset[dict[str, Tensor]]):
    """Training items from a cache. Each item is a dict of tensors:

    * ``rgb`` (3, h, w) float32 RGB in [0, 1]; ``label`` (1, h, w) float32 in the teacher's kind, NaN invalid;
    * ``lidar_depth`` (1, h, w) float32 metres, NaN = none; ``k`` (3, 3) float32 (NaN when unknown);
    * ``features`` (C, fh, fw) float32 teacher features ((0, 1, 1) when the cache has none).

    Args:
        cache_dir: the cache.
        source_names: which sources to read (None: every source folder in the cache).

    Raises:
        ConfigError: no cache, or no cached frame in the chosen sources.
    """

    def __init__(self, cache_dir: str | Path, source_names: Sequence[str] | None = None) -> None:
        self.root = Path(cache_dir)
        self.manifest = read_manifest(self.root)
        names = source_names if source_names is not None else sorted(p.name for p in self.root.iterdir() if p.is_dir())
        self.paths = [p for name in names for p in sorted((self.root / name).glob("*.npz"))]
        if not self.paths:
            msg = f"no pseudo-labels in {self.root} for sources {list(names)}; label them first"
            raise ConfigError(msg)

    def __len__(self) -> int:
        return len(self.paths)

    def training_focal(self, frames: int = 8) -> tuple[float, ...]:
        """The camera the student's metres belong to: median ``(fx / width, fy / height)`` of up to ``frames``
        cached frames evenly spread (the label size is a resize of the whole image, which keeps both ratios);
        empty when none of them has intrinsics (bare image folders). For :attr:`ModelSpec.training_focal`."""
        cameras = []
        for index in evenly_spread(len(self.paths), frames):
            with np.load(self.paths[index]) as data:
                cameras.append((data["k"], int(data["label"].shape[1]), int(data["label"].shape[0])))
        return median_focal(cameras)

    def lidar_frames(self) -> int:
        """Cached frames that have at least one LiDAR pixel (reads one scalar per file)."""
        count = 0
        for path in self.paths:
            with np.load(path) as data:
                count += int(data["lidar_points"] > 0)
        return count

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        label = read_pseudo_label(self.paths[index])
        features = (
            torch.from_numpy(label.features.astype(np.float32))
            if label.features is not None
            else torch.zeros((0, 1, 1), dtype=torch.float32)
        )
        return {
            "rgb": torch.from_numpy(np.ascontiguousarray(label.rgb.transpose(2, 0, 1))).float().div_(255.0),
            "label": torch.from_numpy(label.label)[None],
            "lidar_depth": torch.from_numpy(label.lidar_depth_m)[None],
            "k": torch.from_numpy(label.k.astype(np.float32)),
            "features": features,
        }
