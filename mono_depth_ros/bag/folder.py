"""The storage files behind an input path: a rosbag2 folder with its metadata.yaml, or storage files without one.

:class:`BagFolderReader` reads a rosbag2 folder as rosbags does, over the verifying / salvaging storages.
:class:`StorageFilesReader` reads what real users hand over without a metadata.yaml: a bare ``.db3`` / ``.mcap``, one
compressed whole by ``--compression-mode file`` (``.db3.zstd`` / ``.mcap.zstd``: decompressed into a temporary
folder, as rosbags does for a folder), or a folder whose metadata.yaml was not copied (the split files of one
recording: ``name_0.db3``, ``name_1.db3``, ...). Its files are read one after another in the order of their first
message; what metadata.yaml would say comes from the files: topics, types and counts from each file's own index,
whether each payload is a zstd frame (``--compression-mode message``) from the first payload.

Both yield compressed payloads as stored and say so in ``message_compressed``: the bag reader decompresses each one
(:mod:`.compression`), so that a damaged one costs that message, not the run. ``notes`` says what was assumed,
and that a bare file is one of the files of a split bag (its folder's metadata.yaml lists others): a /tf_static
recorded once at the start is then in another file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path, PurePath
from tempfile import TemporaryDirectory
from types import MappingProxyType
from typing import Any

import yaml
from rosbags.interfaces import Connection, MessageDefinitionFormat
from rosbags.rosbag2 import ReaderError
from rosbags.rosbag2.metadata import ReaderMetadata
from rosbags.rosbag2.reader import DirectoryReader

from mono_depth_ros.bag.compression import ZSTD_ERROR, decompress_file, is_zstd_frame
from mono_depth_ros.bag.mcap_storage import VerifyingMcapReader
from mono_depth_ros.bag.sqlite_storage import SalvagingSqlite3Reader

STORAGES: dict[str, type[VerifyingMcapReader | SalvagingSqlite3Reader]] = {
    ".db3": SalvagingSqlite3Reader,
    ".mcap": VerifyingMcapReader,
}
_NO_METADATA = ReaderMetadata(0, 2**63 - 1, 0, 0, None, None, None, None)
NO_METADATA = "has no metadata.yaml"
_WANT = "give a rosbag2 folder, a .db3 / .mcap file, or one compressed whole (.db3.zstd / .mcap.zstd)"


class NotABagError(ReaderError):
    """The path holds no rosbag2 storage file to read (not damage: the message names what to give instead)."""


def storage_suffix(path: Path) -> str | None:
    """``.db3`` or ``.mcap`` for a storage file (also when it ends in ``.zstd``), else None."""
    name = path.name.removesuffix(".zstd")
    return next((suffix for suffix in STORAGES if name.endswith(suffix) and len(name) > len(suffix)), None)


def _split_order(path: Path) -> tuple[str, int, str]:
    """Sort key putting ``name_2.db3`` before ``name_10.db3`` (rosbag2 numbers the files of a split recording)."""
    stem = path.name.removesuffix(".zstd").rsplit(".", 1)[0]
    found = re.fullmatch(r"(.*)_(\d+)", stem)
    return (found[1], int(found[2]), path.name) if found else (stem, -1, path.name)


@dataclass(frozen=True)
class Listing:
    """How a bag folder's storage files differ from those its metadata.yaml lists (file names).

    Attributes:
        missing: files it lists that are not in the folder (a copy that left them out).
        unlisted: storage files named as the recording's (``<name>_<n>``, the same storage) that it does not list
            (a metadata.yaml copied, or rebuilt, before the recording had its last files): read.
        foreign: other storage files in the folder that it does not list (not read).
        swapped: (listed, there) for files it lists that are there compressed or decompressed since
            (``x_1.db3.zstd`` listed, ``x_1.db3`` there, or the other way round): read as they are.
        pattern: how the files it lists are named (``name_<n>.db3``), for the note on :attr:`foreign` files.
    """

    missing: tuple[str, ...] = ()
    unlisted: tuple[str, ...] = ()
    foreign: tuple[str, ...] = ()
    swapped: tuple[tuple[str, str], ...] = ()
    pattern: str = ""

    @classmethod
    def of(cls, folder: Path) -> Listing:
        """The folder's listing; an empty one when its metadata.yaml does not parse (reading it says why)."""
        try:
            info = yaml.safe_load((folder / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
            listed = [PurePath(str(name)).name for name in info["relative_file_paths"]]
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            return cls()
        present = sorted(
            (p.name for p in folder.iterdir() if p.is_file() and storage_suffix(p)), key=lambda n: _split_order(Path(n))
        )
        twins = {name.removesuffix(".zstd") for name in listed}  # x_0.db3 beside a listed x_0.db3.zstd: the same
        extra = [name for name in present if name not in listed and name.removesuffix(".zstd") not in twins]
        recordings = {(_split_order(Path(name))[0], storage_suffix(Path(name))) for name in listed}
        unlisted = [n for n in extra if (_split_order(Path(n))[0], storage_suffix(Path(n))) in recordings]
        foreign = [n for n in extra if n not in unlisted]
        first = listed[0] if listed else "bag_0.db3"
        stem = first.removesuffix(".zstd").rsplit(".", 1)[0]
        pattern = f"{_split_order(Path(first))[0]}_<n>{first.removeprefix(stem)}"
        there = set(present)
        swapped = [(n, _twin(n)) for n in listed if n not in there and _twin(n) in there]
        missing = tuple(n for n in listed if n not in there and _twin(n) not in there)
        return cls(missing, tuple(unlisted), tuple(foreign), tuple(swapped), pattern)

    def why(self) -> str:
        """Why the folder is read as its storage files ("" when its metadata.yaml lists them all)."""
        said = []
        if self.missing:
            names = ", ".join(self.missing)
            said.append(f"lists {names}, which {'is' if len(self.missing) == 1 else 'are'} not there")
        if self.unlisted:
            names = ", ".join(self.unlisted)
            said.append(f"does not list {names}, named as the files it lists are")
        said += [f"lists {listed}, which is there as {there}" for listed, there in self.swapped]
        return f"has a metadata.yaml that {' and '.join(said)}" if said else ""

    def notes(self, folder: Path) -> list[str]:
        """The note on :attr:`foreign` files (none when there are none)."""
        if not self.foreign:
            return []
        names = ", ".join(self.foreign)
        return [
            f"{folder} also holds {names}, which its metadata.yaml does not list and whose name is not the "
            f"recording's ({self.pattern}): not read; give it on its own to read it"
        ]


def _span(meta: ReaderMetadata) -> int:
    """The bag time a storage file covers (ns; rosbags' end time is one past its last message)."""
    return max(meta.end_time - meta.start_time, 1)


def _shared(one: ReaderMetadata, other: ReaderMetadata) -> int:
    """The bag time two storage files both cover (ns, 0 when they do not overlap)."""
    return max(min(one.end_time, other.end_time) - max(one.start_time, other.start_time), 0)


def _twin(name: str) -> str:
    """The name of a storage file compressed whole (``x.db3`` → ``x.db3.zstd``) or decompressed (the other way)."""
    return name.removesuffix(".zstd") if name.endswith(".zstd") else f"{name}.zstd"


class BagFolderReader(DirectoryReader):
    """A rosbag2 folder (with its metadata.yaml) whose storage files are verified and salvaged.

    Attributes:
        message_compressed: ``compression_mode: message``; payloads are yielded compressed, as stored.
        notes: what the reader assumed (none for a folder with its metadata.yaml).
    """

    STORAGE_PLUGINS = MappingProxyType({"mcap": VerifyingMcapReader, "sqlite3": SalvagingSqlite3Reader})
    message_compressed = False
    notes: Sequence[str] = ()
    missing: Sequence[str] = ()

    def open(self) -> None:
        """Open the folder (see rosbags' ``DirectoryReader.open``)."""
        super().open()
        self._take_recorded_qos()
        self.message_compressed = self.metadata.compression_mode == "message"
        if self.message_compressed:  # rosbags would decompress in its message loop
            self.metadata = self.metadata._replace(compression_mode=None)

    def _take_recorded_qos(self) -> None:
        """Give a topic whose metadata.yaml names no QoS the QoS its storage files recorded.

        A metadata.yaml of version 1-3 (rosbag2's yaml.hpp reads ``offered_qos_profiles`` from version 4 on) names
        none. Beside a pre-Foxy ``.db3`` (no QoS column, rosbag2#1090) that agrees; beside a Foxy-or-later storage (a
        metadata.yaml written or edited by hand or by another tool) the storage holds the recorded profiles, as
        rosbag2's player reads them.
        rosbags pairs a storage's topic with the metadata's only when their QoS agree, so every topic recorded with
        a QoS (``/tf_static``: transient local) was read as empty without a word. The first file's profiles are
        taken for the topic, and the other files' connections of that topic are given the same (the metadata has
        one entry per topic): none is left out."""
        for index, conn in enumerate(self.connections):
            if conn.ext.offered_qos_profiles:  # type: ignore[union-attr]  # a folder's topics: rosbag2 connections
                continue
            recorded = [
                (storage, position, other)
                for storage in self.storages
                for position, other in enumerate(storage.connections)
                if other.topic == conn.topic and other.msgtype == conn.msgtype and other.ext != conn.ext
            ]
            if not recorded:
                continue
            ext = recorded[0][2].ext
            self.connections[index] = conn._replace(ext=ext)
            for storage, position, other in recorded:
                storage.connections[position] = other._replace(ext=ext)


class StorageFilesReader(BagFolderReader):
    """Storage files read without a metadata.yaml: a bare (possibly ``.zstd``) file, or a folder of them.

    Args:
        path: the file, or the folder (without metadata.yaml) holding the files.
        why: why a folder's metadata.yaml is not used (for the note), when it has one.
        listing: how the folder's files differ from those its metadata.yaml lists: its foreign files are not read,
            its missing ones are reported (:attr:`missing`).

    Attributes:
        missing: files the folder's metadata.yaml lists that are not there.

    Raises:
        NotABagError: no storage file, or a folder that mixes ``.db3`` and ``.mcap`` files (nothing is opened).
    """

    def __init__(self, path: Path, why: str = "", listing: Listing | None = None) -> None:
        """Find the files (rosbags' ``__init__`` would require a metadata.yaml); ``why``: why a folder's metadata.yaml
        is not used (the start of its note), by default that it has none."""
        self.listing = listing or Listing()
        self.missing: Sequence[str] = self.listing.missing
        self.path = self.source = Path(path)
        self.why = why or NO_METADATA
        self.connections: list[Connection] = []
        self.metadata = _NO_METADATA
        self.files: list[Any] = []
        self.storages: list[Any] = []
        self.stack: ExitStack | None = None
        self.notes: list[str] = self.listing.notes(self.source)
        self._unpacked: Path | None = None  # the temporary folder of decompressed .zstd files
        self._unpacked_files: list[tuple[str, int]] = []  # name, decompressed bytes
        self.sources = self._sources()

    def _sources(self) -> list[Path]:
        if not self.source.is_dir():
            if storage_suffix(self.source) is None:
                msg = f"{self.source} is not a rosbag2 storage file; {_WANT}"
                raise NotABagError(msg)
            return [self.source]
        foreign = set(self.listing.foreign)
        files = sorted(
            (p for p in self.source.iterdir() if p.is_file() and storage_suffix(p) and p.name not in foreign),
            key=_split_order,
        )
        if not files and self.listing.missing:  # a metadata.yaml with nothing of what it lists
            remedy = "re-copy the bag's files from the recording"
            msg = f"{self.source} {self.why}, and holds no other storage file: {remedy}"
            raise NotABagError(msg)
        if not files:
            msg = f"{self.source} has no metadata.yaml and no storage file (.db3, .mcap, or .zstd of them); {_WANT}"
            raise NotABagError(msg)
        kinds = sorted({str(storage_suffix(p)) for p in files})
        if len(kinds) > 1:
            names = ", ".join(p.name for p in files)
            msg = (
                f"{self.source} has no metadata.yaml and mixes {' and '.join(kinds)} files ({names}): not one "
                "recording; give one of the files, or a folder holding one recording"
            )
            raise NotABagError(msg)
        present = {p.name for p in files}
        unfinished = [p for p in files if p.suffix == ".zstd" and p.name.removesuffix(".zstd") in present]
        for packed in unfinished:  # rosbag2 deletes a file once compressed: both there = compression interrupted
            self.notes.append(
                f"{packed.name} not read: {packed.name.removesuffix('.zstd')} beside it is the same file uncompressed "
                "(the recorder stopped while compressing it)"
            )
        return [p for p in files if p not in unfinished]

    def open(self) -> None:
        """Open every file (decompressing ``.zstd`` ones first), merge their topics, tell the compression mode."""
        self.stack = ExitStack()
        try:
            storages = []
            for source in self.sources:
                path = self._decompressed(source) if source.suffix == ".zstd" else source
                if path is None:
                    continue
                storage = STORAGES[str(storage_suffix(source))](path)
                storage.open()
                self.stack.callback(storage.close)
                storages.append(storage)
            # a split recording's files follow one another in time; files without messages go last
            storages.sort(key=lambda storage: storage.metadata.start_time)
            self.storages = self._without_overlapping_unlisted(storages)
            storages = self.storages
            self._merge(storages)
            if self.why != NO_METADATA:
                self._expect(self.source / "metadata.yaml")
            self.message_compressed = is_zstd_frame(_first_payload(storages))
            self._note()
        except BaseException:
            with suppress(Exception):
                self.close()
            raise

    def _without_overlapping_unlisted(self, storages: list[Any]) -> list[Any]:
        """``storages`` less the files the metadata.yaml does not list whose messages lie within the time of a file it
        lists (more than half the time of either; named in a note, closed with the others): the next file of a split
        recording starts where the one before ends (a few messages recorded out of order may overlap); one whose time
        is a listed file's is a copy, or another recording's file: reading it gave its frames twice, out of order."""
        unlisted = {name.removesuffix(".zstd") for name in self.listing.unlisted}
        listed = [s.metadata for s in storages if s.integrity.path.name not in unlisted and s.metadata.message_count]
        kept = []
        for storage in storages:
            meta = storage.metadata
            inside = [m for m in listed if _shared(meta, m) * 2 > min(_span(meta), _span(m))]
            if storage.integrity.path.name in unlisted and meta.message_count and inside:
                self.sources = [p for p in self.sources if p.name.removesuffix(".zstd") != storage.integrity.path.name]
                self.notes.append(
                    f"{storage.integrity.path.name} not read: the metadata.yaml does not list it and its messages lie "
                    f"within the time of the files it lists (bag time {meta.start_time} to {meta.end_time} ns): a copy "
                    "of one of them, or another recording's file; give it on its own to read it"
                )
                continue
            kept.append(storage)
        return kept

    def _decompressed(self, source: Path) -> Path | None:
        """``name.db3.zstd`` decompressed into a temporary folder (removed on close) as ``name.db3``.

        A file that ends early (a copy cut short) gives what decompressed: the storage reader then salvages it as a
        truncated file and reports what was lost. One that gives nothing is left out (None) when other files remain.

        Raises:
            ReaderError: the only file of the input gives nothing.
        """
        assert self.stack is not None
        if self._unpacked is None:
            self._unpacked = Path(self.stack.enter_context(TemporaryDirectory(prefix="mono_depth_bag_")))
        target = self._unpacked / source.name.removesuffix(".zstd")
        problem = ""
        try:
            decompress_file(source, target)
        except (ZSTD_ERROR, EOFError) as err:  # EOFError: the stream ends inside a frame
            problem = f"{source.name} does not decompress to its end ({err})"
        if target.stat().st_size == 0:
            if len(self.sources) == 1:
                msg = f"{source}: nothing decompresses from it ({problem or 'empty'}); re-copy it from its source"
                raise ReaderError(msg)
            self.notes.append(f"{problem or source.name + ' is empty'}: nothing in it is read")
            return None
        if problem:
            self.notes.append(f"{problem}: read what did")
        self._unpacked_files.append((source.name, target.stat().st_size))
        return target

    def _merge(self, storages: Sequence[Any]) -> None:
        """One connection per topic, type and QoS over all files; counts summed, definitions from any file."""
        merged: list[Connection] = []
        for storage in storages:
            for connection in storage.connections:
                at = next(
                    (
                        i
                        for i, m in enumerate(merged)
                        if (m.topic, m.msgtype, m.ext) == (connection.topic, connection.msgtype, connection.ext)
                    ),
                    None,
                )
                if at is None:
                    merged.append(connection._replace(id=len(merged) + 1, owner=self))
                    continue
                known = merged[at]
                merged[at] = known._replace(
                    msgcount=known.msgcount + connection.msgcount,
                    digest=known.digest or connection.digest,
                    msgdef=known.msgdef if known.msgdef.format != MessageDefinitionFormat.NONE else connection.msgdef,
                )
        self.connections = merged
        counted = [storage.metadata for storage in storages if storage.metadata.message_count]
        if counted:
            start = min(m.start_time for m in counted)
            end = max(m.end_time for m in counted)
            total = sum(m.message_count for m in counted)
            self.metadata = ReaderMetadata(end - start, start, end, total, None, None, None, None)

    def _expect(self, metadata_yaml: Path) -> None:
        """Counts the folder's metadata.yaml promises (it is not used to read, but it says what should be there): a
        topic's count is the larger of its files' and the metadata's (plus what the files it does not list hold, which
        it never counted), so that messages lost are counted as lost."""
        try:
            info = yaml.safe_load(metadata_yaml.read_text())["rosbag2_bagfile_information"]
            promised = {t["topic_metadata"]["name"]: int(t["message_count"]) for t in info["topics_with_message_count"]}
            self.files = [dict(entry) for entry in info.get("files") or []]
        except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
            return
        with suppress(KeyError, TypeError, ValueError):  # its counts are of the files it lists: add the others'
            if sum(promised.values()) <= sum(int(entry["message_count"]) for entry in self.files):
                unlisted = {name.removesuffix(".zstd") for name in self.listing.unlisted}
                for storage in self.storages:
                    if storage.integrity.path.name in unlisted:
                        for connection in storage.connections:
                            promised[connection.topic] = promised.get(connection.topic, 0) + connection.msgcount
        topics = [c.topic for c in self.connections]
        self.connections = [
            c._replace(msgcount=max(c.msgcount, promised.get(c.topic, 0))) if topics.count(c.topic) == 1 else c
            for c in self.connections
        ]

    def _note(self) -> None:
        if self._unpacked_files:
            names = ", ".join(name for name, _ in self._unpacked_files)
            mib = sum(size for _, size in self._unpacked_files) / 2**20
            self.notes.append(
                f"{names}: compressed whole (ros2 bag record --compression-mode file), decompressed into a temporary "
                f"folder ({mib:.0f} MiB)"
            )
        if self.message_compressed:
            self.notes.append(
                "each payload is a zstd frame (ros2 bag record --compression-mode message) and no metadata.yaml says "
                "so: decompressed as read"
            )
        if self.source.is_dir():
            names = ", ".join(source.name for source in self.sources)
            reindex = " (`ros2 bag reindex` rebuilds the metadata.yaml)" if self.why == NO_METADATA else ""
            what = f"its storage file {names}" if len(self.sources) == 1 else f"its {len(self.sources)} storage files"
            order = "" if len(self.sources) == 1 else f" one after another ({names})"
            self.notes.append(
                f"{self.source} {self.why}: read {what}{order}; topics and counts come from the files{reindex}"
            )
            return
        siblings = _listed_beside(self.source)
        if len(siblings) > 1:
            self.notes.append(
                f"{self.source.name} is one of the {len(siblings)} files of the bag {self.source.parent} (its "
                f"metadata.yaml lists {', '.join(siblings)}): the other files are not read, nor what only they hold (a "
                f"/tf_static or camera_info recorded once at the start); give the folder {self.source.parent} to read "
                "them all"
            )


def _first_payload(storages: Sequence[Any]) -> bytes:
    """The first bytes of the first message stored (b"" when there is none)."""
    for storage in storages:
        if not storage.connections:
            continue
        messages = storage.messages(storage.connections)
        try:
            first = next(messages, None)
        finally:
            messages.close()
        if first is not None:
            return bytes(first[2][:4])
    return b""


def _listed_beside(path: Path) -> list[str]:
    """Files listed by a metadata.yaml in the same folder as ``path`` when it lists ``path`` too (else [])."""
    try:
        info = yaml.safe_load((path.parent / "metadata.yaml").read_text())
        names = [Path(str(p)).name for p in info["rosbag2_bagfile_information"]["relative_file_paths"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return []
    return names if path.name in names else []
