"""models/hub_id.py: a Hugging Face id given for a local path gets the `mono-depth weights fetch` hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from mono_depth_ros.models.hub_id import broken_link, hub_cache_hint, hub_id_hint, looks_like_hub_id

HF_ID = "depth-anything/Depth-Anything-V2-Small-hf"


@pytest.mark.parametrize("text", [HF_ID, "Intel/dpt-large", "apple/DepthPro-hf", "vinvino02/glpn-kitti"])
def test_hub_ids_are_recognised(text: str) -> None:
    assert looks_like_hub_id(text)
    assert hub_id_hint(text) == (
        f"; {text} looks like a Hugging Face model id, and nothing is downloaded at run time: fetch it once on a "
        f"machine with internet (`mono-depth weights fetch {text} --to DIR`) and give DIR"
    )


@pytest.mark.parametrize(
    "text", ["/models/da2", "./models/da2", "models/model.safetensors", "out/model.onnx", "da2", "a/b/c", "~/m/x"]
)
def test_paths_and_model_files_are_not_taken_for_hub_ids(text: str) -> None:
    assert not looks_like_hub_id(text) and hub_id_hint(text) == ""


def test_an_existing_directory_is_not_a_hub_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "owner" / "model").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert not looks_like_hub_id("owner/model")


@pytest.mark.parametrize(
    "argv",
    [
        ["bag", "IN", "OUT", "--param", f"model.weights={HF_ID}"],  # the node's road: build_depth_source
        ["export", HF_ID, "--out", "OUT"],  # checkpoint reading: eval, export, params, distill's teacher
        ["demo", "--weights", HF_ID, "--out", "OUT", "-q"],
        ["train", "--set", f"model.pretrained={HF_ID}", "--set", "run.steps=1", "--out", "OUT"],
    ],
)
def test_each_command_given_a_hub_id_says_how_to_fetch_it(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mono_depth_ros.cli import main

    monkeypatch.chdir(tmp_path)
    if argv[0] == "bag":
        assert main(["demo", "--frames", "1", "--width", "64", "--height", "32", "--out", "d", "--oracle", "-q"]) == 0
        argv = ["bag", "d/input_bag", "out", *argv[3:]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"`mono-depth weights fetch {HF_ID} --to DIR`" in err, err


def test_a_cache_folder_names_its_snapshots(tmp_path: Path) -> None:
    """refs/main's snapshot when it has one, else the snapshots there; a cache root lists its models; any other
    folder gets no hint."""
    repo = tmp_path / "hub" / "models--org--name"
    (repo / "snapshots" / "aaa").mkdir(parents=True)
    (repo / "snapshots" / "bbb").mkdir()
    assert hub_cache_hint(repo).endswith(f"give its snapshot, {repo}/snapshots/aaa or {repo}/snapshots/bbb "
                                         f"(refs/main names none), as model.weights")  # fmt: skip
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("bbb\n", encoding="ascii")
    assert f"{repo}/snapshots/bbb (refs/main)" in hub_cache_hint(repo)
    assert (
        f"holding 1 model(s), not a model folder: give one model's snapshot as model.weights: {repo}/snapshots/bbb"
        in (hub_cache_hint(tmp_path / "hub"))
    )
    assert hub_cache_hint(tmp_path) == "" and hub_cache_hint(repo / "snapshots" / "aaa") == ""


def test_a_folder_inside_a_models_cache_folder_names_its_snapshot(tmp_path: Path) -> None:
    """A user who stops one level too deep or too shallow inside ``models--org--name`` (its ``snapshots`` folder,
    ``blobs`` or ``refs``) got no hint: "no config.json, fetch the model", though the model is there. Now the
    snapshot ``refs/main`` names, as for the cache folder itself."""
    repo = tmp_path / "hub" / "models--org--name"
    (repo / "snapshots" / "bbb").mkdir(parents=True)
    (repo / "blobs").mkdir()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("bbb\n", encoding="ascii")
    for inside in ("snapshots", "blobs", "refs"):
        hint = hub_cache_hint(repo / inside)
        assert hint.startswith(f"{repo / inside} is inside a model's Hugging Face cache folder"), hint
        assert f"{repo}/snapshots/bbb (refs/main)" in hint, hint
    assert hub_cache_hint(tmp_path / "other" / "snapshots") == ""


def test_a_link_to_a_blob_gone_from_the_cache_itself_says_fetch_again_not_copy(tmp_path: Path) -> None:
    """A snapshot inside huggingface_hub's cache whose blob was deleted (`huggingface-cli delete-cache`, a cleaned
    disk): copying it with `cp -rL`, the remedy for a snapshot copied without its blobs, fails on the same link
    ("cannot stat"); the remedy there is fetching the model again, with its Hub id read from ``models--org--name``.
    A copy outside the cache keeps the `cp -rL` remedy; a link that resolves, or no link, gets ``""``."""
    import os

    snapshot = tmp_path / "hub" / "models--org--some-name" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    os.symlink("../../blobs/0123", snapshot / "config.json")
    in_cache = broken_link(snapshot / "config.json")
    assert in_cache.startswith(f"{snapshot / 'config.json'} is a symbolic link to ../../blobs/0123"), in_cache
    assert "`mono-depth weights fetch org/some-name --to DIR`" in in_cache and "cp -rL" not in in_cache, in_cache
    copied = tmp_path / "robot" / "model"
    copied.mkdir(parents=True)
    os.symlink("../../blobs/0123", copied / "config.json")
    outside = broken_link(copied / "config.json")
    assert "cp -rL" in outside and "weights fetch" not in outside, outside
    (copied / "real.json").write_text("{}", encoding="utf-8")
    os.symlink("real.json", copied / "preprocessor_config.json")
    assert broken_link(copied / "preprocessor_config.json") == "" and broken_link(copied / "real.json") == ""
    assert broken_link(copied / "absent.json") == ""
