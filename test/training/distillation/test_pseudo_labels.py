"""Tests for training/pseudo_labels.py: file round trip, cache manifest, labelling real KITTI bags and resuming."""

from __future__ import annotations

import json
import os
from collections.abc import Container, Iterator
from pathlib import Path

import numpy as np
import pytest

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.distillation.config import TeacherConfig
from mono_depth_ros.training.distillation.label_sources import BagSource, UnlabelledFrame
from mono_depth_ros.training.distillation.labelling import LabelReport, label_sources
from mono_depth_ros.training.distillation.pseudo_labels import (
    MANIFEST_NAME,
    CacheManifest,
    PseudoLabel,
    PseudoLabelDataset,
    open_cache,
    read_pseudo_label,
    write_pseudo_label,
)
from mono_depth_ros.training.distillation.teacher import Teacher, teacher_from_network
from test.kitti_bag import CAMERA_INFO_TOPIC, IMAGE_TOPIC, LIDAR_TOPIC, load_kitti_frames, write_kitti_bag
from test.models.tiny_models import tiny_unet
from test.training.distill_support import one_thread, write_teacher


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


def test_write_read_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    label = PseudoLabel(
        rgb=rng.integers(0, 255, (4, 6, 3), dtype=np.uint8),
        label=rng.random((4, 6)).astype(np.float32),
        lidar_depth_m=np.full((4, 6), np.nan, dtype=np.float32),
        k=np.eye(3),
        features=rng.random((3, 1, 2)).astype(np.float16),
    )
    path = tmp_path / "src" / "0001.npz"
    write_pseudo_label(path, label)
    assert sorted(p.name for p in path.parent.iterdir()) == ["0001.npz"]  # no temporary file left
    again = read_pseudo_label(path)
    for name in ("rgb", "label", "lidar_depth_m", "k", "features"):
        np.testing.assert_array_equal(getattr(again, name), getattr(label, name))
    path.write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="delete it and label again"):
        read_pseudo_label(path)


def test_cache_refuses_another_teacher(tmp_path: Path) -> None:
    manifest = CacheManifest({"weights": "/a"}, "metric", 32, 64)
    open_cache(tmp_path / "c", manifest)
    open_cache(tmp_path / "c", manifest)  # the same teacher: resume
    with pytest.raises(ConfigError, match="differs in teacher"):
        open_cache(tmp_path / "c", CacheManifest({"weights": "/b"}, "metric", 32, 64))
    with pytest.raises(ConfigError, match="label_height"):
        open_cache(tmp_path / "c", CacheManifest({"weights": "/a"}, "metric", 64, 64))
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / MANIFEST_NAME).write_text("{}")
    with pytest.raises(ConfigError, match="not a pseudo-label manifest"):
        PseudoLabelDataset(tmp_path / "x")
    with pytest.raises(ConfigError, match="label images first"):
        PseudoLabelDataset(tmp_path / "none")


def test_a_cache_labelled_before_images_were_resized_as_the_node_resizes_them_is_not_resumed(tmp_path: Path) -> None:
    """Version 1 caches hold images shrunk by cv2's area average (not the node's antialiased resize) and labels on a
    raw camera's black fill: a resumed run would mix them with frames made the new way."""
    old = CacheManifest({"weights": "/a"}, "metric", 32, 64, version=1)
    open_cache(tmp_path / "c", old)
    with pytest.raises(ConfigError, match=r"older labeller \(cache version 1, this one writes 2:.*delete"):
        open_cache(tmp_path / "c", CacheManifest({"weights": "/a"}, "metric", 32, 64))


def test_the_training_camera_is_the_median_of_the_cached_frames_with_intrinsics(tmp_path: Path) -> None:
    open_cache(tmp_path / "c", CacheManifest({"weights": "/a"}, "metric", 4, 6))

    def write(name: str, k: np.ndarray) -> None:
        blank = np.zeros((4, 6), dtype=np.float32)
        write_pseudo_label(tmp_path / "c" / "src" / f"{name}.npz", PseudoLabel(np.zeros((4, 6, 3), np.uint8), blank,
                                                                              blank, k))  # fmt: skip

    write("0", np.full((3, 3), np.nan))  # a bare image: no intrinsics
    assert PseudoLabelDataset(tmp_path / "c").training_focal() == ()  # unknown: never warned about
    for name, focal in (("1", 3.0), ("2", 3.6), ("3", 6.0)):
        write(name, np.array([[focal, 0.0, 3.0], [0.0, 2.0 * focal, 2.0], [0.0, 0.0, 1.0]]))
    assert PseudoLabelDataset(tmp_path / "c").training_focal() == pytest.approx((3.6 / 6, 7.2 / 4))


def test_kitti_bag_is_labelled_cached_and_resumed(kitti_object_dir: Path, tmp_path: Path) -> None:
    bag = tmp_path / "kitti"
    write_kitti_bag(bag, load_kitti_frames(kitti_object_dir))
    teacher = Teacher.open(TeacherConfig(weights=str(write_teacher(tmp_path / "t.safetensors")), features=True))
    source = BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC)
    cache = tmp_path / "labels"
    report = label_sources(teacher, [source], cache, (48, 160), feature_stride=16, progress=False)
    files = sorted((cache / source.name).glob("*.npz"))
    assert [p.stem for p in files] == ["000000", "000001", "000002"]
    assert report.labelled == 3 and report.cached == 0 and report.sources[0].with_lidar == 3
    manifest = json.loads((cache / MANIFEST_NAME).read_text())
    assert manifest["output_kind"] == "metric" and manifest["feature_channels"] == 64
    assert (manifest["feature_height"], manifest["feature_width"]) == (3, 10)
    stamps = [p.stat().st_mtime_ns for p in files]

    decoded: list[str] = []
    again = BagSource(bag, IMAGE_TOPIC, CAMERA_INFO_TOPIC, LIDAR_TOPIC)
    original = again.frames

    def recording(skip: Container[str] = ()) -> Iterator[UnlabelledFrame]:
        for frame in original(skip):
            decoded.append(frame.key)
            yield frame

    again.frames = recording  # type: ignore[method-assign]
    resumed = label_sources(teacher, [again], cache, (48, 160), feature_stride=16, progress=False)
    assert resumed.labelled == 0 and resumed.cached == 3 and decoded == []  # nothing decoded, nothing rewritten
    assert [p.stat().st_mtime_ns for p in files] == stamps
    assert "3 already cached" in resumed.format()

    files[1].unlink()  # an interrupted run: one frame missing
    assert label_sources(teacher, [again], cache, (48, 160), feature_stride=16, progress=False).labelled == 1
    assert decoded == ["000001"]

    dataset = PseudoLabelDataset(cache, [source.name])
    item = dataset[0]
    assert len(dataset) == 3 and dataset.lidar_frames() == 3
    assert item["rgb"].shape == (3, 48, 160) and 0.0 <= float(item["rgb"].min()) <= float(item["rgb"].max()) <= 1.0
    assert item["label"].shape == (1, 48, 160) and bool((item["label"] > 0).all())
    assert item["features"].shape == (64, 3, 10) and item["k"].shape == (3, 3)
    assert int(item["lidar_depth"].isfinite().sum()) > 100

    other = teacher_from_network(tiny_unet(1, OutputKind.METRIC)[0], tiny_unet(1)[1])
    with pytest.raises(ConfigError, match="another teacher"):
        label_sources(other, [again], cache, (48, 160), progress=False)


def test_a_retrained_teacher_with_the_same_size_and_time_does_not_reuse_its_predecessors_labels(
    tmp_path: Path,
) -> None:
    """Another teacher written to the same path with the same size and modification time (a copy that keeps times, a
    build that sets every file's time to one epoch, as Nix and Bazel do) was the same teacher to the cache, whose key
    was the path, the spec and (name, size, mtime): its predecessor's labels were reused. A digest of the content
    tells them apart; the same file keeps its cache."""
    from mono_depth_ros.training.distillation.label_sources import FolderSource
    from test.training.distill_support import synthetic_clip, write_folder

    folder = write_folder(tmp_path / "frames", synthetic_clip(frames=2))
    path = write_teacher(tmp_path / "t.safetensors", seed=0)
    stamp, size = path.stat().st_mtime_ns, path.stat().st_size
    cache = tmp_path / "labels"

    def label() -> LabelReport:
        teacher = Teacher.open(TeacherConfig(weights=str(path)))
        return label_sources(teacher, [FolderSource(folder)], cache, (48, 96), progress=False)

    first = label()
    assert first.labelled == 2
    again = label()
    assert again.cached == 2 and again.labelled == 0
    write_teacher(path, seed=1)
    os.utime(path, ns=(stamp, stamp))
    assert path.stat().st_size == size and path.stat().st_mtime_ns == stamp
    with pytest.raises(ConfigError, match="differs in teacher"):
        label()


def test_a_cache_from_before_content_digests_stays_its_teachers(tmp_path: Path) -> None:
    """A manifest written before teachers had a content digest is reopened by the same teacher (path, sizes and
    times, spec) as it was then; another fingerprint is still another teacher."""
    before = CacheManifest({"weights": "/a", "fingerprint": "f"}, "metric", 32, 64)
    open_cache(tmp_path / "c", before)
    assert open_cache(tmp_path / "c", CacheManifest({**before.teacher, "content": "d"}, "metric", 32, 64)).is_dir()
    with pytest.raises(ConfigError, match="differs in teacher"):
        other = {"weights": "/a", "fingerprint": "g", "content": "d"}
        open_cache(tmp_path / "c", CacheManifest(other, "metric", 32, 64))
    with pytest.raises(ConfigError, match="label_height"):
        open_cache(tmp_path / "c", CacheManifest({**before.teacher, "content": "d"}, "metric", 64, 64))
