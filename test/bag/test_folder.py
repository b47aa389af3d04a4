"""Inputs as users hand them over: a folder without its metadata.yaml, a bare (or .zstd) storage file, one file of a
split bag, a bare file of a --compression-mode message bag; and clear errors for paths that hold no bag."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mono_depth_ros.bag.folder import storage_suffix
from mono_depth_ros.bag.reader import InputBag, typestore_for
from mono_depth_ros.core.errors import BagError

from .support import compress_files_whole, recompress, split_bag, write_tiny_bag

HUMBLE = typestore_for("humble")


def _read(path: Path) -> tuple[list[tuple[str, int]], dict[str, int], list[str], bool]:
    """(topic, log time) of every message in order, the counts, the notes, message_compressed."""
    with InputBag(path, HUMBLE) as bag:
        got = [(m.topic, m.log_ns) for m in bag.messages()]
        for message in bag.messages({"/camera/image_raw"}):
            assert bag.deserialize(message).width == 64  # whole payloads decode
        return got, bag.message_counts, bag.notes, bag.message_compressed


def test_storage_suffix_names_storage_files_only() -> None:
    assert [storage_suffix(Path(n)) for n in ("a_0.db3", "a_0.mcap.zstd", "a.db3.zstd", "metadata.yaml", ".db3")] == [
        ".db3",
        ".mcap",
        ".db3",
        None,
        None,
    ]


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_split_bag_without_its_metadata_yaml_is_read_whole_in_order(tmp_path: Path, storage: str) -> None:
    write_tiny_bag(tmp_path / "in", 4, storage=storage)
    files = split_bag(tmp_path / "in", tmp_path / "split", 3)
    expected, counts, notes, _ = _read(tmp_path / "split")
    assert not notes
    (tmp_path / "split" / "metadata.yaml").unlink()  # copied without it
    got, got_counts, notes, _ = _read(tmp_path / "split")
    assert got == expected and got_counts == counts and len(got) == 17
    assert len(notes) == 1 and "has no metadata.yaml: read its 3 storage files one after another" in notes[0]
    assert ", ".join(f.name for f in files) in notes[0]


def test_files_of_a_split_bag_are_ordered_by_time_not_by_name(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 4)
    split_bag(tmp_path / "in", tmp_path / "split", 2)
    (tmp_path / "split" / "metadata.yaml").unlink()
    (tmp_path / "split" / "split_0.db3").rename(tmp_path / "split" / "z.db3")  # renamed: sorts after split_1.db3
    got, _, _, _ = _read(tmp_path / "split")
    assert [t for _, t in got] == sorted(t for _, t in got)


def test_one_file_of_a_split_bag_says_what_it_misses(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 4)
    files = split_bag(tmp_path / "in", tmp_path / "split", 2)
    got, _, notes, _ = _read(files[1])
    assert "/tf_static" not in {topic for topic, _ in got}  # recorded once, in the first file
    assert len(notes) == 1 and "is one of the 2 files of the bag" in notes[0] and "/tf_static" in notes[0]
    assert f"give the folder {tmp_path / 'split'}" in notes[0]
    _, _, notes, _ = _read(tmp_path / "in" / "in_0.db3")  # a one-file bag: nothing to say
    assert not notes


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_file_compressed_whole_is_read_bare(tmp_path: Path, storage: str) -> None:
    write_tiny_bag(tmp_path / "in", 3, storage=storage)
    expected, counts, _, _ = _read(tmp_path / "in")
    bag = recompress(tmp_path / "in", tmp_path / "file", "file")  # ros2 bag record --compression-mode file
    (packed,) = [p for p in bag.iterdir() if p.suffix == ".zstd"]
    got, got_counts, notes, _ = _read(packed)
    assert got == expected and got_counts == counts
    assert len(notes) == 1 and "compressed whole" in notes[0]
    (bag / "metadata.yaml").unlink()
    got, _, notes, _ = _read(bag)
    assert got == expected
    assert [note.split(":")[0] for note in notes] == [packed.name, f"{bag} has no metadata.yaml"]


def test_a_bare_file_of_a_message_compressed_bag_is_decompressed(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 3)
    expected, counts, _, _ = _read(tmp_path / "in")
    bag = recompress(tmp_path / "in", tmp_path / "message", "message")
    assert _read(bag)[3]  # the metadata.yaml says so
    (db3,) = bag.glob("*.db3")
    got, got_counts, notes, compressed = _read(db3)  # no metadata.yaml: told from the payloads
    assert compressed and got == expected and got_counts == counts
    assert len(notes) == 1 and "each payload is a zstd frame" in notes[0]


def test_paths_holding_no_bag_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(BagError, match=r"empty has no metadata.yaml and no storage file") as err:
        InputBag(tmp_path / "empty", HUMBLE)
    assert "truncated or corrupt" not in str(err.value)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BagError, match=r"notes.txt is not a rosbag2 storage file; give a rosbag2 folder"):
        InputBag(tmp_path / "notes.txt", HUMBLE)
    write_tiny_bag(tmp_path / "a", 1)
    write_tiny_bag(tmp_path / "b", 1, storage="mcap")
    (tmp_path / "mixed").mkdir()
    for path in (tmp_path / "a" / "a_0.db3", tmp_path / "b" / "b_0.mcap"):
        shutil.copy(path, tmp_path / "mixed")
    with pytest.raises(BagError, match=r"mixes .db3 and .mcap files \(a_0.db3, b_0.mcap\)"):
        InputBag(tmp_path / "mixed", HUMBLE)


def test_a_file_compressed_whole_and_cut_short_gives_what_decompressed(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 40)  # ~1 MB: zstd gives back data block by block (128 KiB)
    bag = recompress(tmp_path / "in", tmp_path / "file", "file")
    (packed,) = bag.glob("*.zstd")
    data = packed.read_bytes()
    packed.write_bytes(data[: len(data) * 2 // 3])  # a copy that stopped
    with InputBag(packed, HUMBLE) as reader:  # was: the whole input refused
        images = list(reader.messages({"/camera/image_raw"}))
        (report,) = reader.integrity
        notes = reader.notes
    assert 0 < len(images) < 40 and report.truncated
    assert any("does not decompress to its end" in note for note in notes)


def test_a_file_whose_compression_was_interrupted_is_read_once(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 4)
    files = split_bag(tmp_path / "in", tmp_path / "split", 2)
    expected, counts, _, _ = _read(tmp_path / "split")
    kept = [tmp_path / f.name for f in files]
    for file, copy in zip(files, kept, strict=True):
        shutil.copy(file, copy)
    packed = compress_files_whole(tmp_path / "split")
    (tmp_path / "split" / "metadata.yaml").unlink()  # the recorder was killed while compressing the last file:
    shutil.copy(kept[-1], tmp_path / "split")  # the file is still there, its .zstd cut short
    packed[-1].write_bytes(packed[-1].read_bytes()[:100])
    got, got_counts, notes, _ = _read(tmp_path / "split")
    assert got == expected and got_counts == counts  # each message once (the cut .zstd was read as well)
    assert any(note.startswith(f"{packed[-1].name} not read: {files[-1].name} beside it") for note in notes), notes


def test_a_zstd_file_that_gives_nothing_is_left_out_or_named(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 4)
    split_bag(tmp_path / "in", tmp_path / "split", 2)
    packed = compress_files_whole(tmp_path / "split")
    (tmp_path / "split" / "metadata.yaml").unlink()
    packed[-1].write_bytes(packed[-1].read_bytes()[:100])  # cut before its first block: nothing decompresses
    got, _, notes, _ = _read(tmp_path / "split")  # was: the temporary copy's path "is no SQLite database"
    assert got and all(log_ns <= got[-1][1] for _, log_ns in got)
    assert any(note.startswith(f"{packed[-1].name} does not decompress to its end") for note in notes), notes
    assert any(note.endswith("nothing in it is read") for note in notes), notes
    with pytest.raises(BagError, match=rf"{packed[-1]}: nothing decompresses from it"):
        InputBag(packed[-1], HUMBLE)


def _unlist_last_file(folder: Path) -> str:
    """Drop the last file from the folder's metadata.yaml, with its messages: a metadata.yaml copied (or rebuilt)
    before the recording had its last file. Returns the file's name."""
    import yaml

    info = yaml.safe_load((folder / "metadata.yaml").read_text())
    meta = info["rosbag2_bagfile_information"]
    name = meta["relative_file_paths"].pop()
    entry = meta["files"].pop()
    meta["message_count"] -= entry["message_count"]
    (folder / "metadata.yaml").write_text(yaml.safe_dump(info))
    return str(name)


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_split_bag_missing_one_of_its_files_reads_the_others_and_names_what_is_lost(
    tmp_path: Path, storage: str
) -> None:
    """Was: the whole bag refused ("Some database files are missing ...; the bag is truncated or corrupt: ... `ros2
    bag reindex` rebuilds a missing metadata.yaml"), though the other files are whole."""
    write_tiny_bag(tmp_path / "in", 4, storage=storage)
    files = split_bag(tmp_path / "in", tmp_path / "split", 3)
    expected, counts, _, _ = _read(tmp_path / "split")
    files[1].unlink()  # a copy that left one file out
    with InputBag(tmp_path / "split", HUMBLE) as bag:
        got = [(m.topic, m.log_ns) for m in bag.messages()]
        got_counts = bag.message_counts
        notes = bag.notes
        lines = [line for report in bag.integrity for line in report.lines()]
    assert 0 < len(got) < len(expected) and got == [m for m in expected if m in set(got)]  # the others, in order
    assert got_counts == counts  # what metadata.yaml promises: the missing file's images are counted as lost
    assert any(f"lists {files[1].name}, which is not there" in note for note in notes), notes
    lost = len(expected) - len(got)
    assert lines == [
        f"{files[1].name} is missing: none of its {lost} messages is read (the bag's metadata.yaml lists it); "
        "re-copy it from the recording"
    ]


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_split_file_the_metadata_yaml_does_not_list_yet_is_read_too(tmp_path: Path, storage: str) -> None:
    """Was: its messages silently not read, and the images the topic counts promised reported as "damaged or
    truncated bag: ... the storage ended early"."""
    write_tiny_bag(tmp_path / "in", 4, storage=storage)
    split_bag(tmp_path / "in", tmp_path / "split", 3)
    expected, counts, _, _ = _read(tmp_path / "split")
    name = _unlist_last_file(tmp_path / "split")
    got, got_counts, notes, _ = _read(tmp_path / "split")
    assert got == expected and got_counts == counts
    assert any(f"does not list {name}" in note for note in notes), notes


def test_a_storage_file_of_another_recording_in_a_bag_folder_is_named_not_read(tmp_path: Path) -> None:
    write_tiny_bag(tmp_path / "in", 4)
    write_tiny_bag(tmp_path / "other", 2)
    expected, counts, _, _ = _read(tmp_path / "in")
    shutil.copy(tmp_path / "other" / "other_0.db3", tmp_path / "in")
    got, got_counts, notes, _ = _read(tmp_path / "in")
    assert got == expected and got_counts == counts
    assert notes == [
        f"{tmp_path / 'in'} also holds other_0.db3, which its metadata.yaml does not list and whose name is not "
        "the recording's (in_<n>.db3): not read; give it on its own to read it"
    ]


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
@pytest.mark.parametrize("listed_packed", [True, False])
def test_a_listed_file_there_compressed_or_decompressed_is_read_not_called_missing(
    tmp_path: Path, storage: str, listed_packed: bool
) -> None:
    """A file the metadata.yaml lists as ``x_1.db3.zstd`` that the user decompressed (``zstd -d --rm``), or lists as
    ``x_1.db3`` and the user compressed: its messages are all read, and the summary said "x_1.db3.zstd is missing:
    none of its 8 messages is read" (and before the branch the whole bag was refused as truncated or corrupt)."""
    from mono_depth_ros.bag.compression import zstd

    write_tiny_bag(tmp_path / "in", 4, storage=storage)
    files = split_bag(tmp_path / "in", tmp_path / "split", 3)
    expected, counts, _, _ = _read(tmp_path / "split")
    if listed_packed:
        files = compress_files_whole(tmp_path / "split")
        (tmp_path / "split" / files[1].name.removesuffix(".zstd")).write_bytes(zstd.decompress(files[1].read_bytes()))
        there = files[1].name.removesuffix(".zstd")
    else:
        (tmp_path / "split" / f"{files[1].name}.zstd").write_bytes(zstd.compress(files[1].read_bytes()))
        there = f"{files[1].name}.zstd"
    files[1].unlink()
    with InputBag(tmp_path / "split", HUMBLE) as bag:
        got = [(m.topic, m.log_ns) for m in bag.messages()]
        lines = [line for report in bag.integrity for line in report.lines()]
        got_counts, notes = bag.message_counts, bag.notes
    assert got == expected and got_counts == counts
    assert lines == []
    assert any(f"lists {files[1].name}, which is there as {there}" in note for note in notes), notes


def test_a_bag_folder_whose_listed_files_are_all_missing_says_so(tmp_path: Path) -> None:
    """Was: "... has no metadata.yaml and no storage file", of a folder that has its metadata.yaml."""
    write_tiny_bag(tmp_path / "in", 2)
    files = split_bag(tmp_path / "in", tmp_path / "split", 2)
    for file in files:
        file.unlink()
    names = ", ".join(f.name for f in files)
    with pytest.raises(BagError) as err:
        InputBag(tmp_path / "split", HUMBLE)
    assert str(err.value) == (
        f"cannot read bag {tmp_path / 'split'}: {tmp_path / 'split'} has a metadata.yaml that lists {names}, which are "
        "not there, and holds no other storage file: re-copy the bag's files from the recording"
    )


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_missing_file_beside_an_unlisted_one_counts_the_images_it_held(tmp_path: Path, storage: str) -> None:
    """A metadata.yaml written before the recording's last file (its counts without that file's) and a copy that
    left another file out: the images of the missing file were not counted at all (the unlisted file's images made
    up for them in "the larger of the files' and the metadata's" count): 6 in, 5 out of 8 recorded images."""
    import yaml
    from rosbags.rosbag2 import Reader

    from mono_depth_ros.bag.runner import BagRunOptions, run_bag

    write_tiny_bag(tmp_path / "in", 8, storage=storage)
    files = split_bag(tmp_path / "in", tmp_path / "split", 4)
    with Reader(files[-1]) as reader:
        last = {c.topic: c.msgcount for c in reader.connections}
    with Reader(files[1]) as reader:
        lost = {c.topic: c.msgcount for c in reader.connections}["/camera/image_raw"]
    info = yaml.safe_load((tmp_path / "split" / "metadata.yaml").read_text())
    meta = info["rosbag2_bagfile_information"]
    meta["relative_file_paths"].pop()
    meta["message_count"] -= meta["files"].pop()["message_count"]
    for entry in meta["topics_with_message_count"]:
        entry["message_count"] -= last.get(entry["topic_metadata"]["name"], 0)
    (tmp_path / "split" / "metadata.yaml").write_text(yaml.safe_dump(info))
    files[1].unlink()
    params = {"model.backend": "external", "model.output_kind": "metric", "scale.mode": "none"}
    summary = run_bag(tmp_path / "split", tmp_path / "out", params, BagRunOptions(progress=False))
    assert lost > 0
    assert summary.frames_in == 8
    assert summary.skipped.counts["input: damaged or truncated bag"] == lost


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_an_unlisted_file_whose_times_overlap_the_listed_files_is_named_not_read(tmp_path: Path, storage: str) -> None:
    """A file named as the recording's next one whose messages lie in the time of the files the metadata.yaml lists
    (a copy of one, renamed; another recording's file of the same name): was read after them, its frames twice and
    out of time order ("image: stamp seen before ... give each image its own header stamp", 8 in of 6 images)."""
    write_tiny_bag(tmp_path / "in", 4, storage=storage)
    files = split_bag(tmp_path / "in", tmp_path / "split", 3)
    expected, counts, _, _ = _read(tmp_path / "split")
    copy = tmp_path / "split" / files[1].name.replace("_1.", "_3.")
    shutil.copy(files[1], copy)
    got, got_counts, notes, _ = _read(tmp_path / "split")
    assert got == expected and got_counts == counts
    assert any(
        note.startswith(f"{copy.name} not read: the metadata.yaml does not list it and its messages lie within")
        for note in notes
    ), notes
