"""A Hugging Face model id given where a local path is needed: the message says how to get the directory.

Nothing is downloaded at run time (the node, ``bag``, ``eval``, ``export``, ``train``, ``distill``, ``demo``): a model
comes from a local directory that ``mono-depth weights fetch OWNER/REPO --to DIR`` filled once on a machine with
internet. A user who copies ``depth-anything/Depth-Anything-V2-Small-hf`` from a model card gets this hint beside
"does not exist"; one who gives huggingface_hub's cache folder of a model (``models--org--name``, or the cache above
it) gets the snapshot folder to give instead (:func:`hub_cache_hint`); one who copied a snapshot folder with its links
(``cp -r``, ``rsync -a``) and not the blobs they point to gets the copy that keeps the files (:func:`broken_link`).
Torch-free.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# owner/name as the Hub spells them: one slash, no leading "/", "." or "~", no file suffix of a model file
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_FILE_SUFFIXES = (".safetensors", ".onnx", ".pt", ".pth", ".bin", ".ckpt", ".json", ".yaml")


def looks_like_hub_id(path: str | Path) -> bool:
    """Whether ``path`` does not exist and reads as a Hub id ``owner/name`` (not a model file's name)."""
    text = str(path)
    return (
        _HUB_ID.fullmatch(text) is not None
        and not text.lower().endswith(_FILE_SUFFIXES)
        and not text.startswith(".")
        and not Path(text).exists()
    )


def hub_id_hint(path: str | Path) -> str:
    """A message suffix for a missing ``path`` that reads as a Hub id, else ``""``."""
    if not looks_like_hub_id(path):
        return ""
    return (
        f"; {path} looks like a Hugging Face model id, and nothing is downloaded at run time: fetch it once on a "
        f"machine with internet (`mono-depth weights fetch {path} --to DIR`) and give DIR"
    )


def _snapshot(repo: Path) -> str:
    """The snapshot folder of a cached model (``models--org--name``): the one ``refs/main`` names, else those there."""
    main = repo / "refs" / "main"
    try:
        revision = main.read_text(encoding="ascii").strip() if main.is_file() else ""
    except (OSError, UnicodeDecodeError):
        revision = ""
    if revision and (repo / "snapshots" / revision).is_dir():
        return f"{repo / 'snapshots' / revision} (refs/main)"
    found = sorted(str(path) for path in (repo / "snapshots").glob("*") if path.is_dir())
    return " or ".join(found) + " (refs/main names none)" if found else f"{repo}/snapshots/<revision> (it has none)"


_CACHE_PARTS = ("snapshots", "blobs", "refs")
"""The folders of huggingface_hub's cache of one model (``models--org--name``) besides the snapshots themselves."""


def hub_cache_hint(directory: Path) -> str:
    """For a folder without config.json that is huggingface_hub's cache of a model (``models--org--name``, with
    ``snapshots/`` and ``refs/``), one of its :data:`_CACHE_PARTS`, or the cache above such folders: the sentence
    naming the snapshot folder to give (the one ``refs/main`` names), else ``""``."""
    if directory.name.startswith("models--") and (directory / "snapshots").is_dir():
        return (
            f"{directory} is a model's Hugging Face cache folder, not the model folder: give its snapshot, "
            f"{_snapshot(directory)}, as model.weights"
        )
    repo = directory.parent
    if directory.name in _CACHE_PARTS and repo.name.startswith("models--") and (repo / "snapshots").is_dir():
        return (
            f"{directory} is inside a model's Hugging Face cache folder, not the model folder: give its snapshot, "
            f"{_snapshot(repo)}, as model.weights"
        )
    try:
        repos = sorted(path for path in directory.glob("models--*") if (path / "snapshots").is_dir())
    except OSError:
        return ""
    if not repos:
        return ""
    shown = "; ".join(_snapshot(repo) for repo in repos[:3]) + ("; ..." if len(repos) > 3 else "")
    return (
        f"{directory} is a Hugging Face cache folder holding {len(repos)} model(s), not a model folder: give one "
        f"model's snapshot as model.weights: {shown}"
    )


def broken_link(path: Path) -> str:
    """For a ``path`` that is a symbolic link to nothing, the sentence naming it, its target and the remedy; else
    ``""``. A file of huggingface_hub's cache snapshot is a relative link into ``../../blobs``: a snapshot folder
    copied as ``cp -r`` and ``rsync -a`` copy it keeps the links and leaves the blobs behind (remedy: the copy that
    keeps the files, ``cp -rL``). A link inside the cache itself (``models--org--name/snapshots/<revision>/``, or a
    folder of it: ``onnx/``) whose blob was deleted (``huggingface-cli delete-cache``, a cleaned disk) cannot be
    copied either: the remedy there is fetching ``org/name`` again. (huggingface_hub makes the link only once the
    blob is complete, so an unfinished download leaves no link.)"""
    if not path.is_symlink() or path.exists():
        return ""
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    # the snapshot folder holding it (a file in a folder of it too: onnx-community's onnx/model.onnx)
    snapshot = next((folder for folder in path.parents if folder.parent.name == "snapshots"), path)
    repo = snapshot.parent.parent
    if snapshot is not path and repo.name.startswith("models--"):
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        return (
            f"{path} is a symbolic link to {target}, which does not exist: the Hugging Face cache {repo} lacks that "
            f"file (a blob deleted from it); fetch the model again on a machine with internet "
            f"(`mono-depth weights fetch {repo_id} --to DIR`) and give DIR"
        )
    return (
        f"{path} is a symbolic link to {target}, which does not exist (a Hugging Face cache snapshot copied with its "
        f"links and without the blobs they point to, as `cp -r` and `rsync -a` copy): copy the snapshot with its "
        f"files, `cp -rL SNAPSHOT DIR` or `rsync -aL SNAPSHOT/ DIR/`, or give the snapshot folder inside the cache"
    )
