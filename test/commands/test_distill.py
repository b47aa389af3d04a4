"""Tests for commands/distill.py through the `mono-depth` entry point (and the student in `mono-depth bag`)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml

from mono_depth_ros.cli import main
from mono_depth_ros.models.checkpoint import load_checkpoint
from mono_depth_ros.models.export import export_onnx
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.distillation.trainer import DistillTrainer
from mono_depth_ros.training.trainer.state import checkpoint_paths, latest_checkpoint
from test.kitti_bag import load_kitti_frames, write_kitti_bag
from test.models.tiny_models import tiny_unet
from test.training.distill_support import one_thread, synthetic_clip, tiny_mapping, write_folder, write_teacher


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


def _student_yaml(root: Path) -> Path:
    """The tiny config as a YAML file, without teacher / data / out (the command line gives them)."""
    mapping = tiny_mapping(root / "ignored", Path("ignored"))
    del mapping["teacher"], mapping["data"]
    path = root / "student.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


def _folder_args(tmp_path: Path, *more: str) -> list[str]:
    """``mono-depth distill`` of a tiny teacher on a folder of 4 synthetic frames into the tiny student, quiet."""
    teacher = write_teacher(tmp_path / "teacher.safetensors")
    folder = write_folder(tmp_path / "frames", synthetic_clip(frames=4))
    args = ["distill", "--teacher", str(teacher), "--folders", str(folder), "--student", str(_student_yaml(tmp_path))]
    return [*args, "--cache", str(tmp_path / "labels"), *more, "-q"]


def test_distill_on_folders_then_resume_the_labels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _folder_args(tmp_path, "--out", str(tmp_path / "run"), "--set", "run.steps=2")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "4 labelled, 0 already cached" in out and "student:" in out and "(output metric)" in out
    assert (tmp_path / "run" / "model.safetensors").is_file()
    written = yaml.safe_load((tmp_path / "run" / "distill_config.yaml").read_text())
    assert written["teacher"]["weights"] == str(tmp_path / "teacher.safetensors") and written["data"]["folders"] == [
        str(tmp_path / "frames")
    ]
    assert main([*args, "--label-only"]) == 0
    assert "0 labelled, 4 already cached" in capsys.readouterr().out


def test_bag_labels_and_student_runs_in_mono_depth_bag(
    kitti_object_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = tmp_path / "kitti"
    write_kitti_bag(bag, load_kitti_frames(kitti_object_dir))
    teacher = write_teacher(tmp_path / "teacher.safetensors")
    args = ["distill", "--teacher", str(teacher), "--bags", str(bag), "--student", str(_student_yaml(tmp_path))]
    args += ["--lidar-topic", "/lidar/points", "--set", "loss.lidar_weight=0.1", "--set", "run.batch_size=3"]
    args += ["--cache", str(tmp_path / "labels"), "--out", str(tmp_path / "run"), "--set", "run.steps=2", "-q"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "3 new (3 with LiDAR), 0 cached" in out and "calibration against the lidar" in out
    student = tmp_path / "run" / "model.safetensors"
    bag_args = ["bag", str(bag), str(tmp_path / "out"), "--param", f"model.weights={student}", "-q"]
    assert main([*bag_args, "--param", "device=cpu", "--strict"]) == 0
    assert "3" in capsys.readouterr().out


def test_onnx_teacher_cannot_give_features(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    network, spec = tiny_unet(0, OutputKind.METRIC)
    export_onnx(network, spec, tmp_path / "t.onnx", exporter="legacy")
    folder = write_folder(tmp_path / "frames", synthetic_clip(frames=2))
    args = ["distill", "--teacher", str(tmp_path / "t.onnx"), "--folders", str(folder), "-q"]
    args += ["--set", "teacher.features=true", "--cache", str(tmp_path / "labels"), "--out", str(tmp_path / "run")]
    assert main(args) == 2
    assert "onnx model does not expose" in capsys.readouterr().err
    assert main(["distill", "--teacher", str(tmp_path / "t.onnx"), "--out", str(tmp_path / "run"), "-q"]) == 2
    assert "nothing to label" in capsys.readouterr().err


def test_feature_alignment_on_labels_without_features_names_a_remedy_that_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``loss.feature_weight > 0`` without ``teacher.features``: the labels are cached without features, then
    refused. The remedy was "label with teacher.features: true", which into the same cache stopped at "made with
    another teacher or label setting"; it names another cache now, and that run trains."""
    args = _folder_args(tmp_path, "--out", str(tmp_path / "run"), "--set", "run.steps=1")
    assert main([*args, "--set", "loss.feature_weight=0.1"]) == 2
    err = capsys.readouterr().err
    assert "label into another data.cache_dir (or delete this one) with teacher.features: true" in err
    again = [*args, "--set", "loss.feature_weight=0.1", "--set", "teacher.features=true"]
    assert main([*again, "--cache", str(tmp_path / "labels_with_features")]) == 0, capsys.readouterr().err


def test_a_teacher_forced_to_the_wrong_backend_names_the_distill_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--teacher-backend torch on an ONNX teacher said "set model.backend to 'onnx'", a node parameter distill does
    not read; the remedy names --teacher-backend, and with it the teacher labels."""
    network, spec = tiny_unet(0, OutputKind.METRIC)
    export_onnx(network, spec, tmp_path / "t.onnx", exporter="legacy")
    folder = write_folder(tmp_path / "frames", synthetic_clip(frames=2))
    args = ["distill", "--teacher", str(tmp_path / "t.onnx"), "--folders", str(folder), "-q", "--label-only"]
    args += ["--cache", str(tmp_path / "labels"), "--out", str(tmp_path / "run")]
    assert main([*args, "--teacher-backend", "torch"]) == 2
    err = capsys.readouterr().err
    assert "model.backend" not in err and "--teacher-backend onnx (or auto)" in err
    assert main([*args, "--teacher-backend", "onnx"]) == 0


def test_a_refused_fresh_distill_leaves_the_earlier_runs_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # distill_config.yaml was rewritten with the refused run's settings before the refusal
    args = _folder_args(tmp_path, "--out", str(tmp_path / "run"), "--set", "run.steps=2")
    assert main(args) == 0
    written = (tmp_path / "run" / "distill_config.yaml").read_bytes()
    assert main([*args, "--set", "optim.lr=0.5"]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert (tmp_path / "run" / "distill_config.yaml").read_bytes() == written


def test_a_refused_distill_resume_leaves_the_runs_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # distill_config.yaml was rewritten before the checkpoint was loaded: a resume refused for another student
    # left the folder describing a student that never trained there
    args = _folder_args(tmp_path, "--out", str(tmp_path / "run"), "--set", "run.steps=2")
    assert main(args) == 0
    written = (tmp_path / "run" / "distill_config.yaml").read_bytes()
    assert main([*args, "--set", "student.encoder_width=8", "--resume", "auto"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume from" in err
    assert f"(--student {tmp_path / 'run' / 'distill_config.yaml'})" in err, err  # the file distill wrote, its option
    assert (tmp_path / "run" / "distill_config.yaml").read_bytes() == written


def test_sigterm_while_distilling_checkpoints_the_step_in_hand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a cluster scheduler's SIGTERM ended the run at once, losing every step since the last checkpoint
    args = _folder_args(tmp_path, "--set", "run.steps=4", "--set", "run.checkpoint_every=10")
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    original = DistillTrainer._train_step

    def scheduler_signals(self: DistillTrainer, batch: dict[str, torch.Tensor]) -> object:
        if self.step == 0:  # during step 1
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, batch)

    with monkeypatch.context() as patch:
        patch.setattr(DistillTrainer, "_train_step", scheduler_signals)
        assert main([*args, "--out", str(tmp_path / "run")]) == 143
    err = capsys.readouterr().err
    assert "stopped by SIGTERM at step 1 of 4" in err
    assert f"mono-depth distill --student {tmp_path / 'run' / 'distill_config.yaml'} --resume auto" in err, err
    assert latest_checkpoint(tmp_path / "run") == checkpoint_paths(tmp_path / "run", 1)[0]
    assert not (tmp_path / "run" / "model.safetensors").exists()
    assert main([*args, "--out", str(tmp_path / "run"), "--resume", "auto"]) == 0
    a = load_checkpoint(tmp_path / "straight" / "model.safetensors").state_dict
    b = load_checkpoint(tmp_path / "run" / "model.safetensors").state_dict
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_a_resume_value_that_is_no_checkpoint_names_what_to_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``distill --resume`` with the run folder, or a word other than ``auto``: the teacher labelled every frame first,
    then the answer was the node's ("is a directory; pass the .safetensors file inside it", "fetch weights with
    `mono-depth weights`"). Refused before the labelling, as ``train`` does, naming what to pass."""
    run = tmp_path / "run"
    args = _folder_args(tmp_path, "--out", str(run), "--set", "run.steps=2")
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--resume", str(run)]) == 2
    assert f"--resume {run} is a run folder: continue it with --resume auto --out {run}" in capsys.readouterr().err
    assert main([*args, "--resume", "latest"]) == 2
    err = capsys.readouterr().err
    assert "--resume latest does not exist: pass auto" in err and "mono-depth weights" not in err


def test_an_output_folder_that_is_a_file_is_refused_before_the_labelling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``distill --out FILE`` (the check of f80b7df, in distill's run too): refused before the teacher labels a
    frame, exit 2 naming the file (it died writing distill_config.yaml: FileExistsError, a traceback, exit 1)."""
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    args = _folder_args(tmp_path, "--out", str(taken), "--set", "run.steps=2")
    assert main(args) == 2
    assert f"run.out_dir {taken}: {taken} is a file, not a folder" in capsys.readouterr().err
    assert not (tmp_path / "labels").exists() and taken.read_text() == "mine"


def test_a_resume_beside_label_only_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--label-only`` fills the pseudo-label cache and stops: ``--resume`` beside it (continue the student's
    training) was dropped without a word, exit 0 with no step trained. Refused naming both, before the teacher
    labels anything; ``--label-only`` alone labels as before."""
    args = _folder_args(tmp_path, "--label-only")
    assert main([*args, "--resume", "auto"]) == 2
    assert "--resume auto is not read with --label-only" in capsys.readouterr().err
    assert not (tmp_path / "labels").exists()
    assert main(args) == 0
    assert "4 labelled" in capsys.readouterr().out


def test_the_help_says_what_distill_reads() -> None:
    """``mono-depth distill --help`` as a new user reads it, against what the command does: ``--lidar-topic`` said
    "PointCloud2 topic", yet a LaserScan labels too (test_label_sources.py::
    test_a_2d_lidars_laser_scan_in_the_bag_labels_frames_too); ``--teacher`` said "DA-V2 directory", yet any
    transformers depth directory teaches (test_teacher.py::
    test_any_transformers_depth_directory_is_a_teacher_and_only_depth_anything_gives_features); ``--student`` listed
    three of the YAML's six sections; ``-q`` said "no progress bars" and hid the warnings too."""
    import argparse
    import dataclasses

    from mono_depth_ros.commands import distill as command
    from mono_depth_ros.training.distillation.config import DistillConfig

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    helps = {action.dest: " ".join(str(action.help).split()) for action in parser._actions}
    assert "PointCloud2 or LaserScan" in helps["lidar_topic"], helps["lidar_topic"]
    assert "transformers depth-model directory" in helps["teacher"], helps["teacher"]
    sections = [field.name for field in dataclasses.fields(DistillConfig)]
    assert ", ".join(sections) in helps["student"], (sections, helps["student"])
    assert "no warnings" in helps["quiet"], helps["quiet"]
