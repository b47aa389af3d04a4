"""Tests for training/train_state.py: checkpoint pairs, latest-checkpoint search, RNG round trip, refusals."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError, ConfigError
from mono_depth_ros.models.checkpoint import read_checkpoint_spec
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.unet import make_unet_spec
from mono_depth_ros.training.trainer import state as train_state

SPEC = make_unet_spec("resnet18", "tiny", encoder_width=4, decoder_channels=[4, 4, 4, 4, 4])


def _state(step: int) -> train_state.TrainState:
    return train_state.TrainState(
        step,
        {"objective": {"w": torch.ones(2)}},
        {"state": {}, "param_groups": []},
        {"last_epoch": step},
        None,
        train_state.rng_state(),
        {"run": {"steps": 9}},
    )


def test_round_trip_and_latest(tmp_path: Path) -> None:
    model = build_model(SPEC)
    assert train_state.latest_checkpoint(tmp_path) is None
    for step in (5, 20, 10):
        train_state.save_training_checkpoint(tmp_path, model, SPEC, _state(step), {"objective": "selfsup"})
    latest = train_state.latest_checkpoint(tmp_path)
    assert latest == tmp_path / "checkpoints" / "step_0000020.safetensors"
    assert read_checkpoint_spec(latest) == SPEC  # the node can read it directly
    fresh = build_model(SPEC)
    state = train_state.load_training_checkpoint(latest, fresh, SPEC)
    assert state.step == 20 and state.scheduler == {"last_epoch": 20} and state.config["run"]["steps"] == 9
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True))
    latest.with_suffix(".state.pt").unlink()  # a model file without its state is never resumed from
    assert train_state.latest_checkpoint(tmp_path) == tmp_path / "checkpoints" / "step_0000010.safetensors"


def test_prune_keeps_the_newest_complete_checkpoints(tmp_path: Path) -> None:
    """``run.keep_checkpoints``: after step 40 is written, 2 kept = 40 and 30; an incomplete 35 (no state) is no
    resume point and does not count; a later step of an earlier run (50, resumed from before it) is left; 0 keeps
    everything."""
    model = build_model(SPEC)
    for step in (10, 20, 30, 35, 40, 50):
        train_state.save_training_checkpoint(tmp_path, model, SPEC, _state(step), {"objective": "selfsup"})
    train_state.checkpoint_paths(tmp_path, 35)[1].unlink()
    folder = tmp_path / "checkpoints"
    before = sorted(p.name for p in folder.iterdir())
    assert train_state.prune_checkpoints(tmp_path, 40, 0) == []
    assert sorted(p.name for p in folder.iterdir()) == before
    deleted = train_state.prune_checkpoints(tmp_path, 40, 2)
    assert deleted == [train_state.checkpoint_paths(tmp_path, s)[0] for s in (20, 10)]
    left = sorted(p.name for p in folder.iterdir())
    kept = [f"step_{s:07d}{ext}" for s in (30, 40, 50) for ext in (".safetensors", ".state.pt")]
    assert left == sorted([*kept, "step_0000035.safetensors"])
    assert train_state.latest_checkpoint(tmp_path) == train_state.checkpoint_paths(tmp_path, 50)[0]
    assert train_state.prune_checkpoints(tmp_path, 40, 1) == [train_state.checkpoint_paths(tmp_path, 30)[0]]


def test_rng_round_trip() -> None:
    saved = train_state.rng_state()
    first = (random.random(), float(np.random.rand()), float(torch.rand(())))  # noqa: NPY002
    train_state.set_rng_state(saved)
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == first  # noqa: NPY002


def test_refusals(tmp_path: Path) -> None:
    model = build_model(SPEC)
    path = train_state.save_training_checkpoint(tmp_path, model, SPEC, _state(1), {})
    other = make_unet_spec("resnet18", "tiny", encoder_width=8, decoder_channels=[4, 4, 4, 4, 4])
    with pytest.raises(CheckpointError, match="spec differs"):
        train_state.load_training_checkpoint(path, build_model(other), other)
    path.with_suffix(".state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="training state"):
        train_state.load_training_checkpoint(path, model, SPEC)


def test_another_network_names_the_settings_that_differ(tmp_path: Path) -> None:
    """``--resume auto`` with another ``model.encoder_width`` printed both whole specs (two ~500-character JSONs)
    for the user to compare; it names the fields that differ, with both values, and the run's own config.yaml."""
    (tmp_path / "config.yaml").write_text("model: {encoder_width: 4}\n")
    path = train_state.save_training_checkpoint(tmp_path, build_model(SPEC), SPEC, _state(1), {})
    other = make_unet_spec("resnet18", "tiny", encoder_width=8, decoder_channels=[4, 4, 4, 4, 4])
    with pytest.raises(CheckpointError) as refused:
        train_state.load_training_checkpoint(path, build_model(other), other)
    message = str(refused.value)
    assert "its model spec differs from this run's: params.encoder_width 4 in it, 8 in this run;" in message, message
    assert '"mean"' not in message and f"--config {tmp_path / 'config.yaml'}" in message, message


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda raw: raw.update(format=2), r"format 2"),
        (lambda raw: raw.pop("scaler"), r"lacks 'scaler'"),
        (lambda raw: raw["rng"].pop("numpy"), r"lacks 'rng\.numpy'"),
        (lambda raw: raw.clear(), r"lacks 'step'"),
    ],
)
def test_a_training_state_of_another_layout_is_a_checkpoint_error_naming_the_file(
    tmp_path: Path, change: Callable[[dict[str, Any]], object], named: str
) -> None:
    """A ``.state.pt`` of another layout (a newer version's, another tool's dict) raised KeyError out of the
    resume: a traceback, exit 1, from ``mono-depth train --resume auto``; one without the NumPy generator state was
    blamed on ``loss.objective`` (the KeyError of restoring it fell in the objective-mismatch handler). It is refused
    on load, naming the state file, what it lacks or its format, and the remedy."""
    model = build_model(SPEC)
    path = train_state.save_training_checkpoint(tmp_path, model, SPEC, _state(1), {})
    state_path = path.with_suffix(".state.pt")
    raw = torch.load(state_path, weights_only=True)
    assert raw["format"] == train_state.STATE_FORMAT
    change(raw)
    torch.save(raw, state_path)
    with pytest.raises(CheckpointError, match=rf"step_0000001\.state\.pt: .*{named}.*--resume"):
        train_state.load_training_checkpoint(path, model, SPEC)


@pytest.mark.parametrize("cut", [".safetensors", ".state.pt"])
def test_a_checkpoint_cut_short_names_the_earlier_checkpoint_as_the_way_on(tmp_path: Path, cut: str) -> None:
    """A training checkpoint cut short (a copy of the run folder that stopped, a disk fault) said "re-export or
    re-download it" (the model file: the node's remedy, not a run's) or "resume needs the .state.pt next to the
    model file" (the state file, which was there). The error names the file and the way on: resume from the
    checkpoint before it, which deleting the pair makes ``--resume auto`` take."""
    model = build_model(SPEC)
    for step in (1, 2):
        train_state.save_training_checkpoint(tmp_path, model, SPEC, _state(step), {})
    latest = train_state.latest_checkpoint(tmp_path)
    assert latest is not None
    damaged = latest.with_suffix(cut)
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    with pytest.raises(CheckpointError) as caught:
        train_state.load_training_checkpoint(latest, model, SPEC)
    text = str(caught.value)
    assert str(damaged) in text and "re-download" not in text and "resume needs" not in text
    assert "cut short" in text and "--resume FILE" in text
    assert "delete the pair step_0000002.safetensors / step_0000002.state.pt" in text
    latest.with_suffix(".state.pt").unlink()  # the remedy, as the message gives it
    latest.unlink()
    earlier = train_state.latest_checkpoint(tmp_path)
    assert earlier == tmp_path / "checkpoints" / "step_0000001.safetensors"
    assert train_state.load_training_checkpoint(earlier, model, SPEC).step == 1


def test_capture_detaches_the_modules_and_restore_loads_it_back() -> None:
    net = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    net(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    scheduler.step()
    grads = {"w": net.weight * 2}  # a tensor in the autograd graph
    state = train_state.TrainState.capture(3, {"head": grads}, optimizer, scheduler, scaler, {"run": {}})
    assert state.step == 3 and state.config == {"run": {}}
    assert not state.modules["head"]["w"].requires_grad and torch.equal(state.modules["head"]["w"], grads["w"])
    first = float(torch.rand(()))
    fresh_optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    fresh_scheduler = torch.optim.lr_scheduler.StepLR(fresh_optimizer, step_size=1, gamma=0.5)
    assert state.restore(fresh_optimizer, fresh_scheduler, scaler) == 3
    assert fresh_scheduler.last_epoch == 1 and fresh_optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    assert "momentum_buffer" in fresh_optimizer.state[net.weight]
    assert float(torch.rand(())) == first  # the RNG state of the capture


def test_a_state_write_cut_short_never_pairs_the_new_model_with_an_old_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rewriting a step (a run resumed from an earlier checkpoint, e.g. with a lowered lr) replaced the model file,
    # then a full disk stopped the state file: the new weights sat beside the old run's optimiser state and
    # --resume auto took the pair
    model = build_model(SPEC)
    train_state.save_training_checkpoint(tmp_path, model, SPEC, _state(4), {})
    with torch.no_grad():
        next(model.parameters()).add_(1.0)

    def disk_full(obj: object, path: Path) -> None:
        Path(path).write_bytes(b"partial")  # what torch.save raises on a full tmpfs (it names no disk):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointError, match=r"cannot write .*step_0000004\.state\.pt .* MB free there.*--resume"):
        train_state.save_training_checkpoint(tmp_path, model, SPEC, _state(4), {})
    assert train_state.latest_checkpoint(tmp_path) is None  # the step-4 pair is gone, not mixed
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_0000004.safetensors"]


def test_processes_resumed_from_different_steps_are_refused(tmp_path: Path) -> None:
    train_state.refuse_uneven_resume((4, 4), tmp_path)
    with pytest.raises(ConfigError, match=r"resumed from different steps \(0 to 4\).*shared by every node"):
        train_state.refuse_uneven_resume((0, 4), tmp_path)


def test_a_torchscript_archive_as_the_training_state_is_refused_unloaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.load before 2.6 handed a TorchScript archive to torch.jit.load even with weights_only=True
    (CVE-2025-32434), which runs its __setstate__: a .state.pt swapped into a run folder wrote files when the run
    was resumed. setup.py admits torch 2.0, so torch.load is made to dispatch as those versions did; the state file
    is refused before torch.load sees it."""
    import warnings

    from test.models.tiny_models import SavesOnLoad

    real_load = torch.load

    def load_as_before_2_6(path: Path, *args: object, **kwargs: object) -> object:
        import zipfile

        with zipfile.ZipFile(path) as archive:
            if any("/code/" in name for name in archive.namelist()):
                return torch.jit.load(str(path))  # type: ignore[no-untyped-call]
        return real_load(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "load", load_as_before_2_6)
    model = build_model(SPEC)
    path = train_state.save_training_checkpoint(tmp_path, model, SPEC, _state(1), {})
    marker = tmp_path / "written_by_the_state_file"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(SavesOnLoad(str(marker))), str(path.with_suffix(".state.pt")))  # type: ignore[no-untyped-call]
    marker.unlink(missing_ok=True)
    with pytest.raises(
        CheckpointError, match=r"step_0000001\.state\.pt is a TorchScript archive, not a training state"
    ):
        train_state.load_training_checkpoint(path, model, SPEC)
    assert not marker.exists()


def test_the_log_window_is_saved_and_a_state_written_before_it_still_resumes(tmp_path: Path) -> None:
    """The steps since the last train.csv row (``log_window``) go into the state file; a state written before it
    was saved (no such key) loads, with None (the resumed row then averages the steps since the resume only)."""
    model = build_model(SPEC)
    window = {"losses": [0.5, 0.25], "parts": [{"depth": 0.5}, {"depth": 0.25}]}
    path = train_state.save_training_checkpoint(
        tmp_path, model, SPEC, dataclasses.replace(_state(3), log_window=window), {}
    )
    assert train_state.load_training_checkpoint(path, model, SPEC).log_window == window
    state_path = path.with_suffix(".state.pt")
    raw = torch.load(state_path, weights_only=True)
    del raw["log_window"]
    torch.save(raw, state_path)
    assert train_state.load_training_checkpoint(path, model, SPEC).log_window is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda spec: {"input": dataclasses.replace(spec.input, antialias=False)},
            "input.antialias true (the default)",
        ),
        (lambda spec: {"sky_threshold": 0.7}, "sky_threshold 0.5 (the default) in it, 0.7 in this run"),
        (lambda spec: {"params": {**spec.params, "extra": 3}}, "params.extra (not set) in it, 3 in this run"),
        # a params key null on one side (an HF config.json's "backbone": null) and absent on the other: the two
        # compared equal (None both) and the refusal named no difference at all ("differs from this run's: ;")
        (lambda spec: {"params": {**spec.params, "extra": None}}, "params.extra (not set) in it, null in this run"),
    ],
)
def test_a_spec_field_left_out_on_one_side_is_named_by_its_default_or_not_set(
    tmp_path: Path, change: Callable[[Any], dict[str, Any]], named: str
) -> None:
    """The spec JSON leaves out a field at its default (and a network's params may lack a key): the --resume diff
    said ``sky_threshold null in it, 0.7 in this run``; it says the default, or (not set)."""
    path = train_state.save_training_checkpoint(tmp_path, build_model(SPEC), SPEC, _state(1), {})
    other = dataclasses.replace(SPEC, **change(SPEC))
    with pytest.raises(CheckpointError) as refused:
        train_state.load_training_checkpoint(path, build_model(SPEC), other)
    assert named in str(refused.value) and str(refused.value).count("null") == named.count("null"), str(refused.value)


def test_a_distillation_s_spec_difference_names_its_distill_config_and_student_option(tmp_path: Path) -> None:
    """distill writes ``distill_config.yaml`` (read back with ``--student``), not train's ``config.yaml``
    (``--config``): the hint looked for config.yaml only, so a distillation's refusal named no file to resume with."""
    (tmp_path / "distill_config.yaml").write_text("student: {encoder_width: 4}\n")
    metadata = {"objective": "distill"}
    path = train_state.save_training_checkpoint(tmp_path, build_model(SPEC), SPEC, _state(1), metadata)
    other = make_unet_spec("resnet18", "tiny", encoder_width=8, decoder_channels=[4, 4, 4, 4, 4])
    with pytest.raises(CheckpointError) as refused:
        train_state.load_training_checkpoint(path, build_model(other), other)
    assert f"(--student {tmp_path / 'distill_config.yaml'})" in str(refused.value), str(refused.value)
