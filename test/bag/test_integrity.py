"""Input integrity on real KITTI bags: a damaged MCAP chunk or a truncated file costs only what it held, said aloud.

The console summary names the damage, the images it cost are skipped inputs (so ``--max-skipped`` and the exit code
see them), and every frame the storage can give back is processed.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from rosbags.rosbag2.storage_mcap import McapReader

from mono_depth_ros.bag import BagRunOptions, run_bag
from mono_depth_ros.bag.integrity import StorageIntegrity
from mono_depth_ros.bag.summary import DAMAGED_INPUT
from test.kitti_bag import IMAGE_TOPIC, load_kitti_frames, write_kitti_bag

EXTERNAL_METRIC = {"model.backend": "external", "model.output_kind": "metric", "scale.mode": "none"}


def test_lines_of_an_intact_a_damaged_and_a_truncated_file() -> None:
    intact = StorageIntegrity(Path("a.mcap"))
    assert not intact.damaged and intact.lines() == []
    damaged = StorageIntegrity(Path("b.mcap"), problems=["chunk at byte 9 is damaged"])
    damaged.skip("/camera", 2)
    damaged.skip("/camera", 1)
    damaged.skip("/tf", 0)
    assert damaged.skipped == {"/camera": 3}
    assert damaged.lines() == [
        "b.mcap: skipped messages in damaged regions: /camera 3",
        "b.mcap: chunk at byte 9 is damaged",
    ]
    cut = StorageIntegrity(Path("c.db3"), truncated=True, recovered=5)
    assert cut.lines() == ["c.db3 is truncated: recovered 5 of an unknown number (the file's index is lost) messages"]
    cut.expected = 9
    assert cut.lines()[0] == "c.db3 is truncated: recovered 5 of 9 messages"


def _image_chunks(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of the MCAP chunks that hold an image."""
    reader = McapReader(path)
    reader.open()
    (image_channel,) = [c.id for c in reader.connections if c.topic == IMAGE_TOPIC]
    chunks = [(c.chunk_start_offset, c.chunk_length) for c in reader.chunks if c.channel_count.get(image_channel)]
    reader.close()
    return chunks


def test_random_bytes_in_an_mcap_cost_one_frame_and_are_reported(tmp_path: Path, kitti_object_dir: Path) -> None:
    write_kitti_bag(tmp_path / "in", load_kitti_frames(kitti_object_dir), storage="mcap", prediction="metric")
    (mcap,) = (tmp_path / "in").glob("*.mcap")
    offset, length = _image_chunks(mcap)[1]
    data = bytearray(mcap.read_bytes())
    at = offset + length // 2
    data[at : at + 4096] = random.Random(5).randbytes(4096)
    mcap.write_bytes(bytes(data))

    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, BagRunOptions(progress=False))
    assert (summary.frames_in, summary.frames_out) == (3, 2)
    assert summary.skipped.counts == {DAMAGED_INPUT: 1}
    assert summary.accounted
    text = summary.format()
    assert f"chunk at byte {offset}" in text and "Chunk checksum mismatch" in text
    assert f"1 of 3 images on {IMAGE_TOPIC} could not be read back" in text

    result = subprocess.run(
        [sys.executable, "-m", "mono_depth_ros.cli", "bag", str(tmp_path / "in"), str(tmp_path / "strict"),
         *(f"--param={k}={v}" for k, v in EXTERNAL_METRIC.items()), "--strict"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert DAMAGED_INPUT in result.stderr


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_truncated_bag_gives_back_every_complete_frame(tmp_path: Path, kitti_object_dir: Path, storage: str) -> None:
    write_kitti_bag(tmp_path / "in", load_kitti_frames(kitti_object_dir), storage=storage, prediction="metric")
    (file,) = [p for p in (tmp_path / "in").iterdir() if p.suffix in {".mcap", ".db3"}]
    file.write_bytes(file.read_bytes()[: int(file.stat().st_size * 0.8)])

    summary = run_bag(tmp_path / "in", tmp_path / "out", EXTERNAL_METRIC, BagRunOptions(progress=False))
    assert summary.frames_in == 3  # metadata.yaml still lists all three
    assert summary.frames_out >= 1
    assert summary.skipped.counts.get(DAMAGED_INPUT, 0) == 3 - summary.frames_out
    assert summary.accounted
    (line, *_) = summary.input_damage
    assert f"{file.name} is truncated: recovered " in line and " of " in line


def test_a_truncated_db3_copied_without_its_metadata_yaml_counts_the_images_it_lost(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """A .db3 copied alone (no metadata.yaml beside it) and cut short: its own ``metadata`` table (written by rosbags
    and by rosbag2 >= Jazzy when the recorder closed the file) says how many images each topic held, so the images
    the cut lost are skipped inputs, not images that never were."""
    write_kitti_bag(tmp_path / "in", load_kitti_frames(kitti_object_dir), prediction="metric")
    (db3,) = (tmp_path / "in").glob("*.db3")
    alone = tmp_path / "copied.db3"
    alone.write_bytes(db3.read_bytes()[: int(db3.stat().st_size * 0.8)])

    summary = run_bag(alone, tmp_path / "out", EXTERNAL_METRIC, BagRunOptions(progress=False))
    assert 1 <= summary.frames_out < 3
    assert summary.frames_in == 3
    assert summary.skipped.counts == {DAMAGED_INPUT: 3 - summary.frames_out}
    assert summary.accounted
    assert f"{3 - summary.frames_out} of 3 images on {IMAGE_TOPIC} could not be read back" in summary.format()


def test_a_cut_inside_an_mcap_chunk_gives_back_the_frames_whole_before_it(
    tmp_path: Path, kitti_object_dir: Path
) -> None:
    """A copy of a real KITTI MCAP (png CompressedImage, two frames per 1 MiB chunk) that stopped inside the last
    chunk, after its first image (the shipped model, no LiDAR): that image is whole in the file and is processed (the
    chunk was dropped whole: 4 of 6 frames out, 'every complete message recovered' was not so); the cut one is a
    skipped input."""
    frames = load_kitti_frames(kitti_object_dir)
    write_kitti_bag(tmp_path / "in", frames * 2, storage="mcap", compressed=True, lidar=False)
    (mcap,) = (tmp_path / "in").glob("*.mcap")
    reader = McapReader(mcap)
    reader.open()
    (image_channel,) = [c.id for c in reader.connections if c.topic == IMAGE_TOPIC + "/compressed"]
    last = reader.chunks[-1]
    reader.close()
    assert last.channel_count[image_channel] == 2 and last.compression == ""
    mcap.write_bytes(mcap.read_bytes()[: last.chunk_start_offset + last.chunk_length * 3 // 4])

    summary = run_bag(tmp_path / "in", tmp_path / "out", {}, BagRunOptions(progress=False))  # the shipped model
    assert (summary.frames_in, summary.frames_out) == (6, 5)
    assert summary.skipped.counts == {DAMAGED_INPUT: 1}
    assert summary.accounted
    assert any("from the chunk cut off" in line for line in summary.input_damage), summary.input_damage
