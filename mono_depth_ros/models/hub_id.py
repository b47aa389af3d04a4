"""A Hugging Face model id given where a local path is needed: the message says how to get the directory.

Nothing is downloaded at run time (the node, ``bag``, ``eval``, ``export``, ``train``, ``distill``, ``demo``): a model
comes from a local directory that ``mono-depth weights fetch OWNER/REPO --to DIR`` filled once on a machine with
internet. A user who copies ``depth-anything/Depth-Anything-V2-Small-hf`` from a model card gets this hint beside
"does not exist". Torch-free.
"""

from __future__ import annotations

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
