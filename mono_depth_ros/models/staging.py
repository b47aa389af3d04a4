"""Staging folders of ONNX exports: a graph is written and checked in a hidden folder of its own beside the output
(``.<name>.XXXXXXXX``, :func:`~.export.export_onnx`) and swapped in from there; an exporter killed with no
``finally`` run (SIGKILL, the OOM killer, a power loss) leaves its folder, with the graph and, for a large model,
gigabytes of external data. The next export to that path removes such folders, never one another export still
writes: each exporter holds a lock on its folder while it runs.
"""

from __future__ import annotations

import fcntl
import glob
import logging
import os
import re
import shutil
import socket
import time
from pathlib import Path

_LOG = logging.getLogger(__name__)

STAGING_LOCK = ".export.lock"
"""The file in an ONNX export's staging folder that its exporter holds locked (``flock``) while it runs: the lock
goes with the process, whatever ends it (SIGKILL, the OOM killer), so a folder whose lock can be taken is stale."""
STAGING_SUFFIX = "[a-z0-9_]{8}"
"""What ``tempfile.mkdtemp`` adds after a staging folder's prefix ``.<name>.``: eight of its name characters (a
folder of an export to a longer name, ``.<name>.v2.XXXXXXXX``, is not one of ``<name>``'s)."""
STAGING_GRACE_S = 60.0
"""Age below which a staging folder's unlocked lock file is left: its exporter may have made it and not yet locked
it."""


def lock_staging(folder: Path) -> int:
    """Create ``folder``'s :data:`STAGING_LOCK` and hold it (``flock``) for the exporter writing in ``folder``.

    A filesystem that refuses ``flock`` (Lustre mounted without ``flock``: ENOSYS, NFS without its lock daemon:
    ENOLCK, some FUSE mounts: EOPNOTSUPP) leaves the file unlocked and the export goes on: the lock only guards the
    clean-up, and :func:`remove_stale_staging` cannot lock such a folder either, so it is never taken as stale.

    Returns:
        The lock file's descriptor, for the exporter to close once it has removed ``folder``.

    Raises:
        OSError: the lock file cannot be created (a read-only folder, no permission).
    """
    lock = os.open(folder / STAGING_LOCK, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.write(lock, _holder().encode())  # whose lock: another host's cannot be tested here (remove_stale_staging)
    except OSError:
        os.close(lock)
        raise
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held until the folder is removed
    except OSError as err:
        _LOG.debug("no lock on %s (%s): a later export will leave it if this one is killed", folder, err)
    return lock


def _holder() -> str:
    """What a lock file records of its exporter: this host's name (the line :func:`remove_stale_staging` compares)
    and, for a person looking, the process id."""
    return f"{socket.gethostname()} {os.getpid()}\n"


def _made_here(lock: int) -> bool:
    """Whether the lock file open at ``lock`` was made by an exporter on this host (its first word): a lock held on
    another host is not seen here where ``flock`` is local to each host (NFS ``nolock`` / ``local_lock=flock``,
    Lustre ``localflock``), so only this host's folders can be told stale."""
    head = os.pread(lock, 512, 0).decode("utf-8", errors="replace").split()
    return bool(head) and head[0] == socket.gethostname()


def _remove(folder: Path, keep: str = "") -> str | None:
    """``rmtree`` all of ``folder`` (with ``keep``: all in it but that entry): None when that is gone, else the first
    error (or that the folder is still there). What another clean-up removed meanwhile is no error."""
    errors: list[str] = []

    def record(_func: object, path: str, exc: tuple[object, BaseException, object]) -> None:
        if not isinstance(exc[1], FileNotFoundError):
            errors.append(f"{path}: {exc[1]}")

    if not keep:
        shutil.rmtree(folder, onerror=record)
        return errors[0] if errors else ("still there" if os.path.lexists(folder) else None)
    try:
        entries = [entry for entry in os.scandir(folder) if entry.name != keep]
    except OSError as err:
        return f"{folder}: {err}"
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, onerror=record)
        else:
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass
            except OSError as err:
                errors.append(f"{entry.path}: {err}")
    return errors[0] if errors else None


def remove_staging(folder: Path, lock: int) -> str | None:
    """Remove the staging folder ``folder`` whose :data:`STAGING_LOCK` is open (and held) at ``lock``, and close
    ``lock``: its data while the lock is held (no other clean-up takes the folder as stale meanwhile), then the lock
    file and the folder once the lock is closed (NFS renames a file its client still has open to ``.nfsXXXX``
    instead of deleting it: the folder's ``rmdir`` would fail, and the folder would stay with no lock file, never
    removed by :func:`remove_stale_staging`). The one rule for the exporter's own folder and for stale ones.

    Returns:
        None when ``folder`` is gone, else the first error (``lock`` is closed either way).
    """
    try:
        failure = _remove(folder, keep=STAGING_LOCK)
    finally:
        os.close(lock)
    return failure or _remove(folder)


def remove_stale_staging(target: Path) -> list[Path]:
    """Remove the staging folders (``.<name>.`` + :data:`STAGING_SUFFIX` beside ``target``) of earlier ONNX exports
    to ``target`` whose exporter is gone: killed with no ``finally`` run (SIGKILL, the OOM killer, a power loss), they
    held the graph (and a large model's external data) for good. A folder is stale when its :data:`STAGING_LOCK`
    names this host, can be locked (its exporter's lock died with it) and is older than :data:`STAGING_GRACE_S`; one
    whose lock is held (an export to the same path still running), made on another host (a lock local to that host
    is not seen here), that has no lock file (not one of ours) or that is an export's to a longer name is left.

    Returns:
        The folders removed (each logged); one that ``rmtree`` could not remove whole is logged as a warning with
        the first error (NFS keeps a ``.nfsXXXX`` file while a process still has a deleted file open) and left out.
    """
    removed = []
    own = re.compile(rf"\.{re.escape(target.name)}\.{STAGING_SUFFIX}")
    for folder in sorted(target.parent.glob(f".{glob.escape(target.name)}.*")):
        if not own.fullmatch(folder.name) or folder.is_symlink() or not folder.is_dir():
            continue
        try:
            lock = os.open(folder / STAGING_LOCK, os.O_RDWR)  # never created here: no lock file, not ours
        except OSError:
            continue
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # not another host's export (alive or not, its lock is not seen from here), and not one just made (its
            # exporter may not have locked it yet)
            stale = _made_here(lock) and time.time() - os.fstat(lock).st_mtime >= STAGING_GRACE_S
        except OSError:  # held: a live export
            stale = False
        if not stale:
            os.close(lock)
            continue
        failure = remove_staging(folder, lock)
        if failure is not None:
            _LOG.warning(
                "%s, the staging folder of an export to %s that was killed, could not be removed whole (%s); "
                "remove it by hand",
                folder,
                target,
                failure,
            )
            continue
        removed.append(folder)
        _LOG.info("removed %s, the staging folder of an export to %s that was killed", folder, target)
    return removed
