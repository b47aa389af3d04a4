"""`mono-depth weights fetch REPO_ID --to DIR` (or `weights NAME --out DIR`): fetch pretrained weights once.

This is the only place the project downloads anything, and only when a user runs it: the safetensors weights,
config.json and preprocessor_config.json / processor_config.json of any transformers depth model (never pickle
files). The download is then checked as the node would load it, and the exact parameters to use are printed
(``--param model.backend=transformers --param model.weights=DIR``, plus what the family needs per frame). Without
network, without ``huggingface_hub``, or with ``HF_HUB_OFFLINE`` set, the command says so in one line and exits with
a non-zero code; on a robot without internet, run it elsewhere and copy DIR.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mono_depth_ros.core.errors import CheckpointError, ConfigError

HELP = "download a transformers depth model (safetensors only) into a local directory; needs internet, once"
ALLOW_PATTERNS = [
    "config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-*.safetensors",
    "*.md",
]


@dataclass(frozen=True)
class KnownWeights:
    """A downloadable model: Hugging Face repository and licence."""

    repo_id: str
    licence: str


_DA = "depth-anything/Depth-Anything-V2-"
_NC = "CC-BY-NC-4.0 (non-commercial)"
KNOWN_WEIGHTS: dict[str, KnownWeights] = {
    "depth-anything-v2-small": KnownWeights(_DA + "Small-hf", "Apache-2.0"),
    "depth-anything-v2-base": KnownWeights(_DA + "Base-hf", _NC),
    "depth-anything-v2-large": KnownWeights(_DA + "Large-hf", _NC),
    "depth-anything-v2-metric-indoor-small": KnownWeights(_DA + "Metric-Indoor-Small-hf", "Apache-2.0"),
    "depth-anything-v2-metric-indoor-base": KnownWeights(_DA + "Metric-Indoor-Base-hf", _NC),
    "depth-anything-v2-metric-indoor-large": KnownWeights(_DA + "Metric-Indoor-Large-hf", _NC),
    "depth-anything-v2-metric-outdoor-small": KnownWeights(_DA + "Metric-Outdoor-Small-hf", "Apache-2.0"),
    "depth-anything-v2-metric-outdoor-base": KnownWeights(_DA + "Metric-Outdoor-Base-hf", _NC),
    "depth-anything-v2-metric-outdoor-large": KnownWeights(_DA + "Metric-Outdoor-Large-hf", _NC),
}


def resolve_repo(name: str) -> str:
    """A known short name or an ``owner/repo`` Hugging Face id -> repository id.

    Raises:
        ConfigError: neither (the message lists the known names).
    """
    if name in KNOWN_WEIGHTS:
        return KNOWN_WEIGHTS[name].repo_id
    if name.count("/") == 1 and all(name.split("/")):
        return name
    msg = f"unknown weights {name!r}; use one of {', '.join(KNOWN_WEIGHTS)} or a Hugging Face id owner/repo"
    raise ConfigError(msg)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _snapshot_download() -> Any:
    try:
        from huggingface_hub import snapshot_download  # optional: only this command downloads
    except ImportError:
        msg = "downloading needs huggingface_hub: pip install 'mono_depth_ros[hf]' (or copy a weights directory here)"
        raise ConfigError(msg) from None
    return snapshot_download


def _explain(err: Exception, repo_id: str) -> str:
    kind = type(err).__name__
    first_line = (str(err).strip().splitlines() or [""])[0][:200]
    if kind in ("RepositoryNotFoundError", "GatedRepoError", "RevisionNotFoundError"):
        return (
            f"cannot download {repo_id}: {kind} ({first_line}); check the name, or accept the licence on "
            f"huggingface.co and log in with `hf auth login`"
        )
    return (
        f"cannot download {repo_id}: the Hugging Face Hub is unreachable (no network? {kind}: {first_line}); "
        f"run `mono-depth weights fetch {repo_id} --to DIR` on a machine with internet and copy DIR here"
    )


def download_weights(
    name: str, out_dir: str | Path, *, revision: str | None = None, endpoint: str | None = None
) -> Path:
    """Download weights into ``out_dir`` (Hugging Face layout: config.json + model.safetensors) and check them.

    Args:
        name: a key of :data:`KNOWN_WEIGHTS` or a Hugging Face id ``owner/repo``.
        out_dir: destination directory (created).
        revision: branch, tag or commit (None: the default branch).
        endpoint: Hub URL (None: huggingface_hub's default or ``HF_ENDPOINT``; e.g. a mirror).

    Returns:
        The directory, ready for ``model.weights``.

    Raises:
        ConfigError: unknown name or huggingface_hub missing.
        CheckpointError: offline (``HF_HUB_OFFLINE``), unreachable Hub, unknown / gated repository, or a download
            that is not a transformers depth model.
    """
    repo_id = resolve_repo(name)
    if _offline():
        msg = f"HF_HUB_OFFLINE is set, so {repo_id} cannot be downloaded; unset it, or copy a weights directory here"
        raise CheckpointError(msg)
    snapshot_download = _snapshot_download()
    target = Path(out_dir)
    try:
        snapshot_download(
            repo_id=repo_id, revision=revision, local_dir=str(target), allow_patterns=ALLOW_PATTERNS, endpoint=endpoint
        )
    except Exception as err:  # huggingface_hub / httpx raise many types; all become one clear line here
        raise CheckpointError(_explain(err, repo_id)) from None
    from mono_depth_ros.models.hf_model import check_model_directory

    check_model_directory(target)
    return target


def usage_lines(directory: Path) -> list[str]:
    """What the downloaded model is and the parameters to run it (its output kind, what it needs per frame).

    Raises:
        CheckpointError: the directory is not a loadable transformers depth model.
    """
    from mono_depth_ros.core.frame_hints import FOCAL_RATIO, PROMPT_DEPTH
    from mono_depth_ros.models.hf_model import checked_model_config, family_of
    from mono_depth_ros.models.hf_spec import transformers_spec

    config, hf_config = checked_model_config(directory)  # its transformers config built once, handed to the spec
    family = family_of(str(config["model_type"]))
    try:
        kind = transformers_spec(config, family, directory, hf_config=hf_config).output_kind.value
        kind_param = ""
    except CheckpointError:
        kind, kind_param = "unknown (state it)", " --param model.output_kind=KIND"
    needs = {FOCAL_RATIO: "the camera's focal length (camera_info)", PROMPT_DEPTH: "a LiDAR (lidar_topic) prompt"}
    lines = [
        f"{family.title}: output {kind}" + "".join(f"; takes {needs[name]}" for name in sorted(family.frame_inputs)),
        f"use it with: --param model.backend=transformers --param model.weights={directory}{kind_param}",
    ]
    if kind_param:
        lines.append(
            "KIND: metric (metres), affine_depth (depth up to scale and shift, Marigold-like) or relative_inverse "
            "(disparity, MiDaS-like), as the model's card says"
        )
    if kind in ("relative_inverse", "affine_depth"):
        lines.append("relative depth: add --param lidar_topic=... (scale.mode=lidar) or scale.mode=ground_plane")
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``weights`` options."""
    parser.add_argument(
        "name", nargs="?", help=f"`fetch` then a Hugging Face id owner/repo, or one of {', '.join(KNOWN_WEIGHTS)}"
    )
    parser.add_argument("repo", nargs="?", help="after `fetch`: the Hugging Face id owner/repo")
    parser.add_argument("--out", "--to", dest="out", type=Path, help="destination directory (model.weights)")
    parser.add_argument("--revision", help="branch, tag or commit (default: the repository's default branch)")
    parser.add_argument("--endpoint", help="Hugging Face Hub URL or mirror (default: HF_ENDPOINT or huggingface.co)")
    parser.add_argument("--list", action="store_true", help="list the known weights and their licences")


def refuse_download_options(args: argparse.Namespace) -> None:
    """Refuse what only a download reads (a name, ``--out``, ``--revision``, ``--endpoint``) where the list is printed
    instead (``--list``, or no name): it would be dropped without a word.

    Raises:
        ConfigError: naming the options given and the form that downloads.
    """
    given = [str(args.name)] if args.name is not None else []
    given += [str(args.repo)] if args.repo is not None else []
    given += [
        f"{flag} {value}"
        for flag, value in (("--out", args.out), ("--revision", args.revision), ("--endpoint", args.endpoint))
        if value is not None
    ]
    if given:
        where = "--list" if args.list else "a run without a NAME"
        msg = (
            f"{', '.join(given)} is not read by {where} (it prints the known weights and stops); to download: "
            "`mono-depth weights NAME --out DIR` (or `weights fetch OWNER/REPO --to DIR`)"
        )
        raise ConfigError(msg)


def run(args: argparse.Namespace) -> int:
    """Download (or list); returns 0. Failures are raised as DepthError and reported in one line by the CLI."""
    if args.list or args.name is None:
        refuse_download_options(args)
        width = max(len(name) for name in KNOWN_WEIGHTS)
        lines = [f"{name:<{width}}  {known.repo_id}  ({known.licence})" for name, known in KNOWN_WEIGHTS.items()]
        sys.stdout.write("\n".join(lines) + "\n")
        return 0
    name = args.repo if args.name == "fetch" else args.name
    if name is None or (args.repo is not None and args.name != "fetch"):
        msg = "weights: use `mono-depth weights fetch OWNER/REPO --to DIR` (or `weights NAME --out DIR`)"
        raise ConfigError(msg)
    if args.out is None:
        msg = "weights: --to DIR is required (the directory to pass as model.weights)"
        raise ConfigError(msg)
    path = download_weights(name, args.out, revision=args.revision, endpoint=args.endpoint)
    licence = KNOWN_WEIGHTS[name].licence if name in KNOWN_WEIGHTS else "see the model card"
    lines = [f"downloaded {resolve_repo(name)} to {path} (licence: {licence})", *usage_lines(path)]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
