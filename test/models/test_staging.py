"""Tests for models/staging.py: which staging folders of ONNX exports the next export removes."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from pathlib import Path

import pytest

from mono_depth_ros.models.staging import STAGING_LOCK, lock_staging, remove_stale_staging


def _staging(folder: Path, age_s: float, locked: bool | None) -> int | None:
    """A staging folder holding a graph, its lock file ``age_s`` old (None: no lock file), held when ``locked``;
    returns the holding descriptor."""
    folder.mkdir()
    (folder / "tiny.onnx").write_bytes(b"graph")
    if locked is None:
        return None
    lock = os.open(folder / STAGING_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    os.write(lock, f"{socket.gethostname()} 1234\n".encode())  # made on this host, as lock_staging records
    then = time.time() - age_s
    os.utime(folder / STAGING_LOCK, (then, then))
    if locked:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return lock
    os.close(lock)
    return None


def test_only_old_unlocked_staging_folders_of_the_same_path_are_removed(tmp_path: Path) -> None:
    """Removed: an exporter's folder whose lock nobody holds, an hour old. Left: one whose lock is held (a live
    export), one just made (its exporter may not have locked it yet), one without a lock file (not ours), and the
    staging folder of another output in the same folder."""
    target = tmp_path / "tiny.onnx"
    _staging(tmp_path / ".tiny.onnx.dead0000", 3600.0, False)
    held = _staging(tmp_path / ".tiny.onnx.live0000", 3600.0, True)
    _staging(tmp_path / ".tiny.onnx.new00000", 1.0, False)
    _staging(tmp_path / ".tiny.onnx.other000", 3600.0, None)
    _staging(tmp_path / ".big.onnx.dead0000", 3600.0, False)
    try:
        assert remove_stale_staging(target) == [tmp_path / ".tiny.onnx.dead0000"]
    finally:
        assert held is not None
        os.close(held)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [".big.onnx.dead0000", ".tiny.onnx.live0000", ".tiny.onnx.new00000", ".tiny.onnx.other000"]
    assert remove_stale_staging(target) == [tmp_path / ".tiny.onnx.live0000"]  # its exporter gone


def test_an_export_to_a_filesystem_without_flock_completes_and_its_folders_are_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a filesystem that refuses ``flock`` (Lustre mounted without ``flock``: ENOSYS; NFS without its lock daemon:
    ENOLCK; a FUSE mount: EOPNOTSUPP) the export failed with that raw OSError, though the lock only guards the
    clean-up; it completes, and no staging folder whose lock cannot be tested is removed (it may be a live one)."""
    from mono_depth_ros.models.export import export_onnx
    from mono_depth_ros.models.spec import OutputKind

    from .tiny_models import tiny_unet

    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    _staging(tmp_path / ".tiny.onnx.dead0000", 3600.0, False)
    monkeypatch.setattr(fcntl, "flock", no_flock)
    network, spec = tiny_unet(output_kind=OutputKind.METRIC)
    result = export_onnx(network, spec, tmp_path / "tiny.onnx", exporter="legacy")
    assert result.path.is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [".tiny.onnx.dead0000"]


def test_the_staging_folder_of_an_export_on_another_host_is_left(tmp_path: Path) -> None:
    """A folder shared between machines whose ``flock`` is local to each (NFS mounted ``nolock`` or
    ``local_lock=flock``, Lustre ``localflock``): an export running on another host holds its lock there only, so from
    here it looked unlocked and, past the grace, its folder was removed under it. Each lock file names the host that
    made it; a folder made on another host is left (whether its exporter lives cannot be told from here), one made on
    this host whose lock is free goes."""
    target = tmp_path / "tiny.onnx"
    ours = lock_staging(_made(tmp_path / ".tiny.onnx.ours0000"))
    os.close(ours)  # its exporter gone
    theirs = tmp_path / ".tiny.onnx.them0000"
    _staging(theirs, 3600.0, False)
    (theirs / STAGING_LOCK).write_text(f"{socket.gethostname()}-elsewhere 4242\n", encoding="utf-8")
    then = time.time() - 3600.0
    for folder in (tmp_path / ".tiny.onnx.ours0000", theirs):
        os.utime(folder / STAGING_LOCK, (then, then))
    assert remove_stale_staging(target) == [tmp_path / ".tiny.onnx.ours0000"]
    assert theirs.is_dir()


def _made(folder: Path) -> Path:
    folder.mkdir()
    (folder / "tiny.onnx").write_bytes(b"graph")
    return folder


def test_the_staging_folder_of_an_export_to_a_longer_name_is_left(tmp_path: Path) -> None:
    """An export to ``tiny.onnx`` took the staging folders of exports to ``tiny.onnx.v2`` (``.tiny.onnx.v2.XXXXXXXX``)
    as its own: its pattern ``.tiny.onnx.*`` matched them. Only ``.<name>.`` and the eight characters ``mkdtemp``
    adds are its own."""
    target = tmp_path / "tiny.onnx"
    _staging(tmp_path / ".tiny.onnx.v2.dead0000", 3600.0, False)
    _staging(tmp_path / ".tiny.onnx.dead0000", 3600.0, False)
    assert remove_stale_staging(target) == [tmp_path / ".tiny.onnx.dead0000"]
    assert (tmp_path / ".tiny.onnx.v2.dead0000").is_dir()
    assert remove_stale_staging(tmp_path / "tiny.onnx.v2") == [tmp_path / ".tiny.onnx.v2.dead0000"]


def test_a_staging_folder_that_cannot_be_removed_whole_is_not_reported_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A stale folder that ``rmtree`` could not delete (NFS keeps a ``.nfsXXXX`` file while another process still
    has the deleted data open: the folder's ``rmdir`` fails, ENOTEMPTY) was logged and returned as removed, its
    gigabytes still there; it is reported as left, with the reason."""
    import logging

    target = tmp_path / "tiny.onnx"
    folder = tmp_path / ".tiny.onnx.dead0000"
    _staging(folder, 3600.0, False)
    real_rmdir = os.rmdir

    def busy_rmdir(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        if Path(path) == folder:
            raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), str(path))
        real_rmdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rmdir", busy_rmdir)
    with caplog.at_level(logging.INFO, logger="mono_depth_ros.models.staging"):
        assert remove_stale_staging(target) == []
    assert folder.is_dir()
    records = [r for r in caplog.records if str(folder) in r.getMessage()]
    assert [r.levelno for r in records] == [logging.WARNING]
    assert "could not be removed" in records[0].getMessage()
    assert "Directory not empty" in records[0].getMessage()


def test_a_stale_staging_folder_on_nfs_is_removed_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An NFS client does not delete a file that a process of its own still has open: it renames it ``.nfsXXXX``
    (removed at the last close), so the folder's ``rmdir`` fails ENOTEMPTY. The clean-up removed the folder while
    it held the folder's own lock file open, so on NFS every stale folder was left (and, since 7336ce5, warned
    about 'could not be removed whole ... remove it by hand'), then left for good with no lock file in it. The
    lock file is unlinked only once closed: the folder is removed on NFS too. NFS's rename is simulated here."""
    target = tmp_path / "tiny.onnx"
    folder = tmp_path / ".tiny.onnx.dead0000"
    _staging(folder, 3600.0, False)
    _simulate_nfs_unlink(monkeypatch)
    assert remove_stale_staging(target) == [folder]
    assert not folder.exists()


def test_the_staging_folder_of_a_successful_export_on_nfs_is_removed_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The exporter removed its own staging folder while it still held the folder's lock file open: on NFS the lock
    file was renamed ``.nfsXXXX``, the folder's ``rmdir`` failed (silently), and once the lock was closed the client
    removed the ``.nfsXXXX`` file and left the folder, empty and with no lock file, which
    :func:`remove_stale_staging` never removes: one hidden folder per export. It closes the lock before removing the
    lock file, as the clean-up of killed exports does. NFS's rename is simulated here."""
    from mono_depth_ros.models.export import export_onnx

    from .tiny_models import tiny_unet

    target = tmp_path / "tiny.onnx"
    _simulate_nfs_unlink(monkeypatch)
    network, spec = tiny_unet()
    export_onnx(network, spec, target, exporter="legacy")
    assert target.is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def _simulate_nfs_unlink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``os.unlink`` of a file this process has open rename it ``.nfs0000000000000001`` beside, as an NFS client
    does (it removes that file at the last close, which is not simulated: a folder with one in it stays)."""
    real_unlink = os.unlink

    def nfs_unlink(path: str, *args: object, dir_fd: int | None = None, **kwargs: object) -> None:
        full = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path) if dir_fd is not None else str(path)
        open_here = {os.path.realpath(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
        if os.path.realpath(full) in open_here:  # open in this process: NFS silly-renames it
            os.rename(full, os.path.join(os.path.dirname(full), ".nfs0000000000000001"))
            return
        real_unlink(path, *args, dir_fd=dir_fd, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", nfs_unlink)
