"""Tests for commands/train.py and commands/eval.py through the `mono-depth` entry point."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from mono_depth_ros.cli import main
from mono_depth_ros.evaluation.samples import load_samples
from mono_depth_ros.models.checkpoint import load_checkpoint
from mono_depth_ros.training.trainer import state as train_state
from mono_depth_ros.training.trainer.config import load_train_config
from mono_depth_ros.training.trainer.loop import Trainer, train
from test.kitti_raw_tree import DRIVE, IMPROVED_DRIVE, add_improved_drive, build_raw_tree
from test.training.tiny import tiny_overrides


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`mono-depth train` on a tiny supervised config; returns the run folder."""
    root = tmp_path_factory.mktemp("train")
    config = root / "tiny.yaml"
    config.write_text("loss:\n  objective: supervised\nrun:\n  steps: 100\n")
    args = ["train", "--config", str(config), "--out", str(root / "run")]
    for item in tiny_overrides(root / "ignored", root / "clips"):
        args += ["--set", item]
    args += ["--set", "run.steps=3"]
    assert main(args) == 0
    return root / "run"


def test_train_writes_model_config_and_logs(trained: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (trained / "model.safetensors").is_file()
    written = yaml.safe_load((trained / "config.yaml").read_text())
    assert written["run"]["steps"] == 3 and written["run"]["out_dir"] == str(trained)  # --out wins over --set
    assert written["model"]["input_width"] == 64
    assert [row["step"] for row in csv.DictReader((trained / "train.csv").open())] == ["1", "2", "3"]


def test_train_summary_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train"] + [a for item in tiny_overrides(tmp_path, tmp_path / "clips") for a in ("--set", item)]
    assert main([*args, "--set", "run.steps=2"]) == 0
    out = capsys.readouterr().out
    assert "trained 2 steps" in out and "output metric" in out and "validation: abs_rel" in out
    assert main([*args, "--set", "run.steps=2"]) == 2  # a fresh run into that folder: refused, not appended to it
    assert "already holds a training run" in capsys.readouterr().err
    assert main([*args, "--set", "run.steps=2", "--resume", "auto"]) == 0  # already done: nothing to train
    assert "trained 2 steps" in capsys.readouterr().out


def test_train_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("run:\n  stepz: 3\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert "unknown keys ['stepz']" in capsys.readouterr().err
    assert main(["train", "--set", "loss.objective=magic"]) == 2
    assert "loss.objective" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read training config" in capsys.readouterr().err


def test_eval_synthetic_and_csv(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_csv = tmp_path / "metrics.csv"
    args = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--dataset", "synthetic", "--seeds", "21"]
    assert main([*args, "--frames", "2", "--csv", str(out_csv)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("protocol synthetic") and "scaling none" in lines[0]  # metric model: no scaling
    assert lines[1].split()[:3] == ["image", "abs_rel", "sq_rel"] and lines[-1].startswith("mean")
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["image"] for r in rows] == ["21/0", "21/1", "mean"] and rows[0]["protocol"] == "synthetic"
    # the mean row's gt/pred is the table's (median over images); the CSV wrote nan there
    ratios = [float(r["gt_over_pred"]) for r in rows]
    assert ratios[2] == pytest.approx((ratios[0] + ratios[1]) / 2) and f"{ratios[2]:.3f}" == lines[-1].split()[-1]


def test_eval_kitti_protocols_stay_apart(
    trained: Path, kitti_depth_dir: Path, kitti_object_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = str(trained / "model.safetensors")
    assert (
        main(["eval", "--checkpoint", checkpoint, "--dataset", "kitti_annotated", "--data", str(kitti_depth_dir)]) == 0
    )
    improved = capsys.readouterr().out.splitlines()[0]
    assert (
        main(["eval", "--checkpoint", checkpoint, "--dataset", "kitti_velodyne", "--data", str(kitti_object_dir)]) == 0
    )
    velodyne = capsys.readouterr().out.splitlines()[0]
    assert "kitti_improved" in improved and "scaling none" in improved and "annotated" in improved
    assert "kitti_eigen_velodyne" in velodyne and "scaling median" in velodyne and "Velodyne" in velodyne


def test_eval_takes_trains_kitti_depth_name_for_the_same_folder(
    trained: Path, kitti_depth_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``mono-depth train`` reads a Metric3D-style annotation folder as ``data.kind=kitti_depth``
    (:meth:`KittiDepthDataset.from_annotations`) and validates it under ``kitti_improved``; eval reads that folder
    the same way as ``kitti_annotated`` and refused the train name (argparse: invalid choice). The same folder under
    either name now gives the same table."""
    base = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--data", str(kitti_depth_dir)]
    assert main([*base, "--dataset", "kitti_annotated"]) == 0
    annotated = capsys.readouterr().out
    assert main([*base, "--dataset", "kitti_depth"]) == 0
    assert capsys.readouterr().out == annotated and "protocol kitti_improved " in annotated
    via_alias, direct = load_samples("kitti_depth", kitti_depth_dir), load_samples("kitti_annotated", kitti_depth_dir)
    assert [s.name for s in via_alias] == [s.name for s in direct]


def test_eval_errors_name_the_dataset_alias_the_user_typed(
    trained: Path, kitti_depth_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--dataset kitti_depth`` (an alias of kitti_annotated) was resolved by argparse, and the errors named the
    dataset the user never typed (``--dataset kitti_annotated needs --data FOLDER``). They name the user's word and
    what it is read as, from the eval command and from load_samples alike."""
    base = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--dataset", "kitti_depth"]
    said = "--dataset kitti_depth (read as kitti_annotated)"
    assert main(base) == 2
    assert f"{said} needs --data FOLDER" in capsys.readouterr().err
    assert main([*base, "--data", str(kitti_depth_dir), "--seeds", "1"]) == 2
    assert f"--seeds 1 is not read by {said} (" in capsys.readouterr().err
    split = tmp_path / "split.txt"
    split.write_text("x\n")
    assert main([*base, "--data", str(kitti_depth_dir), "--split", str(split)]) == 2
    assert f"{said} has no split file (given {split})" in capsys.readouterr().err
    assert main([*base[:-1], "kitti_annotated"]) == 2  # the dataset's own name: as before
    assert "--dataset kitti_annotated needs --data FOLDER" in capsys.readouterr().err


def test_eval_errors_exit_2(trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--checkpoint", str(trained / "model.safetensors"), "--dataset", "nyu"]) == 2
    assert "needs --data" in capsys.readouterr().err
    assert main(["eval", "--checkpoint", str(tmp_path / "none.safetensors"), "--dataset", "synthetic"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_eval_kitti_eigen_split_both_protocols(
    trained: Path, kitti_object_dir: Path, kitti_depth_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--dataset kitti_eigen --data RAW --split FILE` (raw Velodyne, Garg crop, median scaling; `--scaling none`
    for metric models) and `kitti_eigen_benchmark` (improved GT, no crop) on a tiny raw tree."""
    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    indices = add_improved_drive(kitti_depth_dir, root)
    eigen, bench = tmp_path / "eigen.txt", tmp_path / "bench.txt"
    eigen.write_text(f"{DRIVE} 0 l\n{DRIVE} 1 l\n")
    bench.write_text("".join(f"{IMPROVED_DRIVE} {i} l\n" for i in indices))
    base = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--data", str(root)]
    csv_path = tmp_path / "eigen.csv"
    assert main([*base, "--dataset", "kitti_eigen", "--split", str(eigen), "--csv", str(csv_path)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "kitti_eigen_velodyne" in header and "crop garg" in header and "scaling median" in header
    assert "2 images, 2 scored" in header
    rows = list(csv.DictReader(csv_path.open()))
    assert [r["image"] for r in rows][-1] == "mean" and len(rows) == 3
    assert main([*base, "--dataset", "kitti_eigen", "--split", str(eigen), "--scaling", "none"]) == 0
    assert "scaling none" in capsys.readouterr().out.splitlines()[0]
    assert main([*base, "--dataset", "kitti_eigen_benchmark", "--split", str(bench)]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "kitti_eigen_benchmark" in header and "crop none" in header and "GT in (0, inf) m" in header
    assert "3 images, 3 scored" in header
    assert main([*base, "--dataset", "kitti_eigen"]) == 2
    assert "--split" in capsys.readouterr().err


def test_train_without_ground_truth_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    # self-supervised on a bag without LiDAR: validation scores nothing; it printed 'abs_rel nan ... (0 images)' after
    # numpy's 'All-NaN slice encountered' RuntimeWarning
    from test.bag.support import write_moving_bag

    write_moving_bag(tmp_path / "bag", speed_mps=2.0, n_frames=4)
    bag = {"data__kind": "rosbag", "data__root": tmp_path / "bag"}
    overrides = tiny_overrides(tmp_path / "run", tmp_path / "clips", "selfsup", run__steps=1, run__batch_size=1, **bag)
    assert main(["train", *(a for item in overrides for a in ("--set", item))]) == 0
    out = capsys.readouterr().out
    assert "validation: no image with ground truth (0 scored)" in out and "nan" not in out
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_eval_takes_a_hugging_face_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a transformers depth directory is evaluated through the node's `transformers` backend; it was refused with
    # "pass the .safetensors inside it", whose own error then pointed to a backend eval has no option for
    from test.models.hf_tiny import write_tiny_family

    directory = write_tiny_family("depth_anything", tmp_path / "hf")
    args = ["eval", "--checkpoint", str(directory), "--dataset", "synthetic", "--seeds", "21", "--frames", "1"]
    assert main(args) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("protocol synthetic") and "output relative_inverse" in header
    assert main(["eval", "--checkpoint", str(directory / "model.safetensors"), "--dataset", "synthetic"]) == 2
    assert f"`--checkpoint {directory}` (mono-depth eval)" in capsys.readouterr().err


def test_resume_with_fewer_steps_than_done_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # it rewrote model.safetensors from the step-2 weights and printed "trained 2 steps ... (0.0 images/s)"
    args = ["train"] + [a for item in tiny_overrides(tmp_path, tmp_path / "clips") for a in ("--set", item)]
    unvalidated = tiny_overrides(tmp_path, tmp_path / "clips", run__steps=2, run__validate=False)
    assert main(["train"] + [a for item in unvalidated for a in ("--set", item)]) == 0
    capsys.readouterr()
    written = {name: (tmp_path / name).read_bytes() for name in ("model.safetensors", "config.yaml")}
    assert main([*args, "--set", "run.steps=1", "--resume", "auto"]) == 2
    err = capsys.readouterr().err
    assert "step 2" in err and "run.steps=1" in err and "nothing was written" in err
    assert {name: (tmp_path / name).read_bytes() for name in written} == written
    saved = tmp_path / "saved.safetensors"  # a name without its step: refused once loaded
    saved.write_bytes((tmp_path / "checkpoints" / "step_0000002.safetensors").read_bytes())
    saved.with_suffix(".state.pt").write_bytes((tmp_path / "checkpoints" / "step_0000002.state.pt").read_bytes())
    assert main([*args, "--set", "run.steps=1", "--resume", str(saved)]) == 2
    assert "step 2, past run.steps=1" in capsys.readouterr().err
    assert (tmp_path / "model.safetensors").read_bytes() == written["model.safetensors"]


def test_eval_on_a_folder_of_ones_own_frames(tmp_path: Path, nyu_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--dataset folder` (the layout `mono-depth train` reads: rgb/, depth/ uint16 millimetres or float .npy,
    intrinsics.yaml) scores the real NYU frames as `--dataset nyu` does under the same protocol; an image without a
    depth file is listed unscored, a depth file named unlike every image is not matched, and a folder where no name
    matches is refused (eval had no way to read this layout)."""
    import json
    import shutil

    import numpy as np

    from test.models.hf_tiny import write_tiny_family

    model = str(write_tiny_family("depth_anything", tmp_path / "hf"))
    annotations = json.loads((nyu_dir / "test_annotations.json").read_text())["files"]
    folder = tmp_path / "own"
    (folder / "rgb").mkdir(parents=True)
    (folder / "depth").mkdir()
    fx, fy, cx, cy = annotations[0]["cam_in"]
    (folder / "intrinsics.yaml").write_text(f"fx: {fx}\nfy: {fy}\ncx: {cx}\ncy: {cy}\n")
    for entry, suffix in zip(annotations, (".png", ".npy", None), strict=True):
        stem = Path(entry["rgb"]).stem
        shutil.copy(nyu_dir / "rgb" / Path(entry["rgb"]).name, folder / "rgb")
        depth_png = nyu_dir / "depth" / Path(entry["depth"]).name
        if suffix == ".png":  # RealSense / NYU style: uint16 millimetres
            shutil.copy(depth_png, folder / "depth" / f"{stem}.png")
        elif suffix == ".npy":  # float metres, NaN = no data
            from mono_depth_ros.training.data.kitti_files import load_depth_png

            np.save(folder / "depth" / f"{stem}.npy", load_depth_png(depth_png, 1000.0))
        else:
            shutil.copy(depth_png, folder / "depth" / f"{stem}_depth.png")  # not its image's name
    base = ["eval", "--checkpoint", model, "--protocol", "nyu"]
    assert main([*base, "--dataset", "nyu", "--data", str(nyu_dir)]) == 0
    reference = capsys.readouterr().out.splitlines()
    out_csv = tmp_path / "own.csv"
    assert main([*base, "--dataset", "folder", "--data", str(folder), "--csv", str(out_csv)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "3 images, 2 scored" in table[0] and "scaling affine_inverse" in table[0]
    assert table[2:4] == reference[2:4]  # the same numbers from mm PNG and from float .npy
    assert table[4].split()[0] == "rgb_00100" and table[4].split()[1] == "nan"
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["image"] for r in rows] == ["rgb_00000", "rgb_00050", "rgb_00100", "mean"] and rows[3]["count"] == "2.0"
    for name in ("rgb_00000", "rgb_00050"):
        (folder / "depth" / f"{name}.png").unlink(missing_ok=True)
        (folder / "depth" / f"{name}.npy").unlink(missing_ok=True)
    assert main([*base, "--dataset", "folder", "--data", str(folder)]) == 2
    assert "rgb_00100_depth.png" in capsys.readouterr().err


def test_eval_csv_in_a_new_folder_or_an_unwritable_place(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--csv in a folder that does not exist yet is written there; one that cannot be written (a file as its folder)
    is refused before any frame is evaluated. Both raised a bare OSError traceback after the whole evaluation."""
    args = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--dataset", "synthetic", "--seeds", "21"]
    nested = tmp_path / "results" / "run1" / "metrics.csv"
    assert main([*args, "--frames", "1", "--csv", str(nested)]) == 0
    assert nested.read_text().startswith("protocol,scaling,image")
    capsys.readouterr()
    (tmp_path / "plain").write_text("")
    assert main([*args, "--frames", "1", "--csv", str(tmp_path / "plain" / "metrics.csv")]) == 2
    captured = capsys.readouterr()
    assert "--csv" in captured.err and "plain" in captured.err and captured.out == ""


def test_eval_crop_override_on_ones_own_kitti_frames(
    trained: Path, tmp_path: Path, kitti_depth_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--crop garg on a folder of KITTI frames (PNG × 256) scores them as kitti_annotated's kitti_improved protocol
    does (Garg crop, 1e-3-80 m, no scaling): a crop could only be had by borrowing another dataset's protocol."""
    import shutil

    for sub in ("rgb", "depth"):
        shutil.copytree(kitti_depth_dir / sub, tmp_path / sub)
    (tmp_path / "intrinsics.yaml").write_text("fx: 707.0493\nfy: 707.0493\ncx: 604.0814\ncy: 180.5066\n")
    checkpoint = str(trained / "model.safetensors")
    annotated = ["eval", "--checkpoint", checkpoint, "--dataset", "kitti_annotated", "--data", str(kitti_depth_dir)]
    assert main(annotated) == 0
    reference = capsys.readouterr().out.splitlines()
    own = ["eval", "--checkpoint", checkpoint, "--dataset", "folder", "--data", str(tmp_path), "--png-scale", "256"]
    assert main([*own, "--crop", "garg"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert "protocol folder" in table[0] and "crop garg" in table[0]
    assert table[2:] == reference[2:]
    assert main(own) == 0
    assert capsys.readouterr().out.splitlines()[2:] != reference[2:]  # no crop: other pixels, other numbers


def test_a_depth_range_from_both_options_is_taken_and_a_reversed_one_names_them(
    trained: Path, tmp_path: Path, kitti_depth_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """KITTI PNGs read as whole metres (--png-scale 1): no GT pixel in 1e-3-80 m, and the remedy says "pass
    --max-depth / --min-depth". Passed together they were applied one at a time, so --min-depth 100 met the default
    80 m cap first: "bad protocol Protocol(...)". A range reversed for good names the two options."""
    for sub in ("rgb", "depth"):
        (tmp_path / sub).symlink_to(kitti_depth_dir / sub)
    (tmp_path / "intrinsics.yaml").write_text("fx: 707.0493\nfy: 707.0493\ncx: 604.0814\ncy: 180.5066\n")
    own = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--dataset", "folder", "--data", str(tmp_path)]
    assert main([*own, "--png-scale", "1"]) == 2
    assert "pass --max-depth / --min-depth" in capsys.readouterr().err
    assert main([*own, "--png-scale", "1", "--min-depth", "100", "--max-depth", "30000"]) == 0
    assert "100-30000 m" in capsys.readouterr().out.splitlines()[0]
    assert main([*own, "--png-scale", "1", "--min-depth", "100"]) == 2
    assert "--min-depth 100 must be below --max-depth 80 (the protocol's); pass both" in capsys.readouterr().err


def test_eval_takes_an_onnx_model_made_elsewhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`mono-depth eval --checkpoint model.onnx --dataset synthetic` read the network input from the file as a
    safetensors checkpoint and was refused with "set model.backend to 'onnx'" (no such eval option); the spec beside
    the model gives it."""
    import warnings

    from mono_depth_ros.models.export import export_onnx
    from mono_depth_ros.models.spec import OutputKind
    from test.models.tiny_models import tiny_unet

    network, spec = tiny_unet(output_kind=OutputKind.METRIC)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx(network, spec, tmp_path / "tiny.onnx", exporter="legacy")
    args = ["eval", "--checkpoint", str(tmp_path / "tiny.onnx"), "--dataset", "synthetic", "--seeds", "21"]
    assert main([*args, "--frames", "1"]) == 0, capsys.readouterr().err
    assert "protocol synthetic" in capsys.readouterr().out


def test_a_refused_fresh_run_leaves_the_earlier_runs_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the refusal ("already holds a training run") came after config.yaml was rewritten with the refused run's
    # settings: the folder's record of how its model was trained was lost
    args = ["train"] + [a for item in tiny_overrides(tmp_path, tmp_path / "clips") for a in ("--set", item)]
    unvalidated = tiny_overrides(tmp_path, tmp_path / "clips", run__steps=2, run__validate=False)
    assert main(["train"] + [a for item in unvalidated for a in ("--set", item)]) == 0
    written = (tmp_path / "config.yaml").read_bytes()
    assert main([*args, "--set", "run.steps=2", "--set", "optim.lr=0.5"]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert (tmp_path / "config.yaml").read_bytes() == written


def test_a_refused_resume_leaves_the_runs_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # config.yaml was rewritten before the checkpoint was loaded: a resume refused for another network or objective
    # left the folder describing a configuration that never trained there
    args = ["train"] + [a for item in tiny_overrides(tmp_path, tmp_path / "clips") for a in ("--set", item)]
    unvalidated = tiny_overrides(tmp_path, tmp_path / "clips", run__steps=2, run__validate=False)
    assert main(["train"] + [a for item in unvalidated for a in ("--set", item)]) == 0
    written = (tmp_path / "config.yaml").read_bytes()
    for change in ("model.encoder_width=8", "loss.objective=lidar_semi"):
        assert main([*args, "--set", change, "--resume", "auto"]) == 2
        assert "cannot resume from" in capsys.readouterr().err
        assert (tmp_path / "config.yaml").read_bytes() == written
    assert main([*args, "--set", "run.steps=3", "--resume", "auto"]) == 0  # an accepted resume records its config
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["run"]["steps"] == 3


def test_sigterm_checkpoints_the_step_in_hand_and_resume_gives_the_straight_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a cluster scheduler's SIGTERM (pre-emption) ended the process at once: everything since the last checkpoint
    # (run.checkpoint_every: 500 steps by default) was lost
    def args(out: Path, *more: str) -> list[str]:
        values = tiny_overrides(out, tmp_path / "clips", run__steps=6, run__checkpoint_every=100)
        return ["train", *(a for item in values for a in ("--set", item)), *more]

    assert main(args(tmp_path / "straight")) == 0
    original = Trainer._train_step

    def scheduler_signals(self: Trainer, batch: dict[str, torch.Tensor]) -> object:
        if self.step == 2:  # during step 3
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, batch)

    with monkeypatch.context() as patch:
        patch.setattr(Trainer, "_train_step", scheduler_signals)
        assert main(args(tmp_path / "run")) == 143
    err = capsys.readouterr().err
    assert "SIGTERM: finishing the step" in err
    assert "stopped by SIGTERM at step 3 of 6" in err and "--resume auto" in err
    # "continue with --resume auto": alone, it resumed runs/train (the default run.out_dir), and trained afresh
    # there; the run's own config.yaml holds every setting of the command
    suggested = f"mono-depth train --config {tmp_path / 'run' / 'config.yaml'} --resume auto"
    assert suggested in err, err
    assert train_state.latest_checkpoint(tmp_path / "run") == train_state.checkpoint_paths(tmp_path / "run", 3)[0]
    assert not (tmp_path / "run" / "model.safetensors").exists()
    assert main(suggested.split()[1:]) == 0
    a = load_checkpoint(tmp_path / "straight" / "model.safetensors").state_dict
    b = load_checkpoint(tmp_path / "run" / "model.safetensors").state_dict
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert [r["step"] for r in csv.DictReader((tmp_path / "run" / "train.csv").open())] == [str(i) for i in range(1, 7)]


def _children() -> list[int]:
    """This process's child processes (the DataLoader workers here)."""
    found: list[int] = []
    for task in Path("/proc/self/task").iterdir():
        found += [int(pid) for pid in (task / "children").read_text().split()]
    return found


def test_sigterm_to_the_process_group_with_data_workers_still_checkpoints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a scheduler (SLURM) signals the whole process group, and a terminal's Ctrl-C reaches it all: the DataLoader
    # workers died of the SIGTERM and the trainer failed with "DataLoader worker (pid ...) is killed by signal:
    # Terminated", a traceback and no checkpoint
    values = tiny_overrides(tmp_path, tmp_path / "clips", run__steps=6, run__checkpoint_every=100, data__num_workers=2)
    original = Trainer._train_step

    def scheduler_signals(self: Trainer, batch: dict[str, torch.Tensor]) -> object:
        if self.step == 2:
            workers = _children()
            assert len(workers) == 2
            # from another process, as a scheduler's (from the trainer, its parent, torch's workers exit quietly)
            subprocess.run(["kill", "-s", "TERM", *map(str, [*workers, os.getpid()])], check=True)
        return original(self, batch)

    monkeypatch.setattr(Trainer, "_train_step", scheduler_signals)
    assert main(["train", *(a for item in values for a in ("--set", item))]) == 143
    assert "stopped by SIGTERM at step 3 of 6" in capsys.readouterr().err
    assert train_state.latest_checkpoint(tmp_path) == train_state.checkpoint_paths(tmp_path, 3)[0]


def test_a_signal_during_the_set_up_stops_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the stop request is looked at after each step: during the set-up (data caches, a pretrained model) a Ctrl-C
    # has no step to wait for, so it interrupts there
    original = Trainer.__init__

    def signalled(self: Trainer, *args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Trainer, "__init__", signalled)
    values = tiny_overrides(tmp_path, tmp_path / "clips", run__steps=6)
    assert main(["train", *(a for item in values for a in ("--set", item))]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not (tmp_path / "train.csv").exists() and not (tmp_path / "checkpoints").exists()


def test_a_depth_range_option_bounds_the_ground_truth_of_a_protocol_without_a_cap(
    trained: Path, kitti_depth_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--min-depth / --max-depth say they set the minimum GT depth and the cap; under kitti_eigen_benchmark (GT > 0,
    no cap) they only moved the prediction clip, so --max-depth 20 scored the real KITTI GT up to 85 m against
    predictions clipped to 20 m ("GT in (0, inf) m, 0.001-20 m"), and --min-depth 10 kept the GT under 10 m. Given,
    each bounds its side of the GT as in every other protocol (the other side stays the protocol's)."""
    base = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--dataset", "kitti_annotated"]
    base += ["--data", str(kitti_depth_dir)]
    for option in (["--max-depth", "20"], ["--min-depth", "10", "--max-depth", "20"]):
        assert main([*base, "--protocol", "kitti_eigen_benchmark", *option]) == 0
        table = capsys.readouterr().out.splitlines()
        assert "GT in (0, inf)" not in table[0], option
        assert main([*base, "--protocol", "kitti_improved", "--crop", "none", *option]) == 0  # GT in (1e-3 | 10, 20)
        assert table[2:] == capsys.readouterr().out.splitlines()[2:], option
    assert main([*base, "--protocol", "kitti_eigen_benchmark", "--min-depth", "10"]) == 0
    near = capsys.readouterr().out.splitlines()
    assert "GT in (10, inf) m, 10-80 m" in near[0]
    assert main([*base, "--protocol", "kitti_eigen_benchmark"]) == 0  # the protocol's own range: GT > 0, no cap
    table = capsys.readouterr().out.splitlines()
    assert "GT in (0, inf) m, 0.001-80 m" in table[0] and table[2:] != near[2:]  # real GT under 10 m dropped


def test_the_nyu_crop_on_frames_that_are_no_nyu_frames_is_refused(
    trained: Path, kitti_depth_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Eigen NYU crop (rows 45:471, cols 41:601) is defined on NYU's 480×640 frames; it was scaled to any size, so
    `--dataset nyu` pointed at the real KITTI folder (375×1242) scored it under the nyu protocol with a crop no
    reference takes (rows 35:367, cols 79:1166) and exit 0. Refused naming the size and the way out, before the
    model runs, as the KITTI benchmark crop refuses a frame that is no KITTI frame."""
    args = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--data", str(kitti_depth_dir)]
    assert main([*args, "--dataset", "nyu"]) == 2
    err = capsys.readouterr().err
    assert "eigen_nyu" in err and "480x640" in err and "375x1242" in err and "--crop" in err
    assert main([*args, "--dataset", "kitti_annotated", "--crop", "eigen_nyu"]) == 2
    assert "375x1242" in capsys.readouterr().err


def _nyu_eigen_cut(nyu_dir: Path, out: Path, resize_hw: tuple[int, int] | None = None) -> Path:
    """The real NYU frames cut to the Eigen crop as BTS-style copies ship them (MATLAB rows 45-471, cols 41-601:
    427x561, intrinsics shifted), in the annotated layout under ``out``; with ``resize_hw`` the whole 480x640 frames
    resized to it instead (nearest for the depth, intrinsics scaled)."""
    import json

    import cv2

    entries = json.loads((nyu_dir / "test_annotations.json").read_text())["files"]
    for entry in entries:
        for key, flags in (("rgb", cv2.IMREAD_COLOR), ("depth", cv2.IMREAD_UNCHANGED)):
            name = Path(entry[key]).name
            image = cv2.imread(str(nyu_dir / key / name), flags)
            assert image is not None
            if resize_hw is None:
                image = image[44:471, 40:601]
            else:
                size, nearest = (resize_hw[1], resize_hw[0]), cv2.INTER_NEAREST
                image = cv2.resize(image, size, interpolation=nearest if key == "depth" else cv2.INTER_AREA)
            (out / key).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / key / name), image, [cv2.IMWRITE_JPEG_QUALITY, 100])
        fx, fy, cx, cy = entry["cam_in"]
        if resize_hw is None:
            entry["cam_in"] = [fx, fy, cx - 40, cy - 44]
        else:
            sy, sx = resize_hw[0] / 480, resize_hw[1] / 640
            entry["cam_in"] = [fx * sx, fy * sy, (cx + 0.5) * sx - 0.5, (cy + 0.5) * sy - 0.5]
    (out / "test_annotations.json").write_text(json.dumps({"files": entries}))
    return out


@pytest.mark.parametrize("hw", [(192, 256), (96, 128)])
def test_small_resizes_of_whole_nyu_frames_keep_the_eigen_crop(
    trained: Path, nyu_dir: Path, tmp_path: Path, hw: tuple[int, int]
) -> None:
    """A whole NYU frame resized to 192x256 or 96x128 (exactly 3:4) is within a pixel of the 427x561 cut's aspect
    too (the two differ by 1.5 %), and was taken for a copy already cut: eval and training validation scored it whole,
    the Kinect border the Eigen crop exists to drop included. The nearer aspect decides: 3:4 keeps the crop."""
    from mono_depth_ros.evaluation.depth import evaluate_checkpoint, nyu_crop_of
    from mono_depth_ros.evaluation.samples import load_samples
    from mono_depth_ros.training.data.real import build_recorded_datasets
    from mono_depth_ros.training.trainer.config import DataConfig

    small = _nyu_eigen_cut(nyu_dir, tmp_path / "nyu_small", resize_hw=hw)
    report = evaluate_checkpoint(trained / "model.safetensors", load_samples("nyu", small), "nyu")
    assert report.protocol.crop == "eigen_nyu"
    _, val = build_recorded_datasets(DataConfig(kind="nyu", root=str(small)), 64, 48, (), seed=0)
    assert val is not None and val.protocol.crop == "eigen_nyu"
    assert nyu_crop_of([(427, 561), (214, 281), (107, 140)]) == "none"  # the cut and its resizes stay whole


def test_nyu_frames_already_cut_to_the_eigen_crop_are_scored_whole_by_eval_and_validation(
    trained: Path, nyu_dir: Path, kitti_depth_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Training takes NYU's Eigen-cropped 427x561 copies (data.kind nyu) and validated them with the Eigen fractions
    cut once more (rows 40:419, cols 35:526 of the cut: another 10 % of the border gone); `mono-depth eval --dataset
    nyu` refused the same frames as no NYU frames. Both now score such a copy whole (it is the crop), and full frames
    with the crop; the refusal named protocol nyu whatever the protocol was (kitti_annotated's kitti_improved)."""
    from mono_depth_ros.training.data.real import build_recorded_datasets
    from mono_depth_ros.training.trainer.config import DataConfig

    cut = _nyu_eigen_cut(nyu_dir, tmp_path / "nyu_cut")
    args = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--dataset", "nyu"]
    assert main([*args, "--data", str(cut)]) == 0
    out = capsys.readouterr().out
    assert "nyu" in out and "rgb_00050" in out
    for root, crop in ((cut, "none"), (nyu_dir, "eigen_nyu")):
        data = DataConfig(kind="nyu", root=str(root))
        _, val = build_recorded_datasets(data, 64, 48, (), seed=0)
        assert val is not None and val.protocol.crop == crop
    kitti = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--data", str(kitti_depth_dir)]
    assert main([*kitti, "--dataset", "kitti_annotated", "--crop", "eigen_nyu"]) == 2
    err = capsys.readouterr().err
    assert "protocol kitti_improved" in err and "protocol nyu" not in err


def test_a_kitti_crop_on_nyu_frames_is_refused(
    trained: Path, nyu_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--dataset nyu --crop garg` (or eigen_kitti) on the real NYU frames scored the room under KITTI's Garg
    fractions (its upper 41 % cut away) and exit 0: numbers under no reference's protocol. Refused, exit 2, naming
    the crop, the frame size and the NYU crop that fits; the NYU frames keep their own crop."""
    args = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--data", str(nyu_dir), "--dataset", "nyu"]
    for crop in ("garg", "eigen_kitti"):
        assert main([*args, "--crop", crop]) == 2
        err = capsys.readouterr().err
        assert f"crop {crop}" in err and "480x640" in err and "--crop eigen_nyu" in err
    assert main([*args, "--crop", "eigen_nyu"]) == 0


@pytest.mark.parametrize("under", ["", "sub"])
def test_an_output_folder_that_is_a_file_is_refused_before_the_set_up(
    tmp_path: Path, kitti_depth_dir: Path, capsys: pytest.CaptureFixture[str], under: str
) -> None:
    """``--out`` naming a file (or a folder under one) ran the whole set-up (real KITTI frames read, network built),
    then died in the writing of config.yaml: FileExistsError / NotADirectoryError, a traceback and exit 1. It is
    refused first, exit 2, naming the file."""
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    out = taken / under if under else taken
    args = ["train", "--out", str(out), "--set", "data.kind=kitti_depth", "--set", f"data.root={kitti_depth_dir}"]
    for item in tiny_overrides(tmp_path / "ignored", tmp_path / "clips", run__steps=1):
        if not item.startswith(("run.out_dir", "data.")):
            args += ["--set", item]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"run.out_dir {out}: {taken} is a file, not a folder" in err and "--out" in err
    assert "Traceback" not in err and taken.read_text() == "mine"


def test_a_resume_value_that_is_no_checkpoint_names_what_to_pass(
    tmp_path: Path, kitti_depth_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--resume`` given what a user has at hand after a crash, on a real-KITTI run stopped at step 2 of 4: the run
    folder, its final-model name, the ``.state.pt`` of the pair, or a word other than ``auto``. They were answered
    with the node's remedies: "pass the .safetensors file inside it", "fetch weights with `mono-depth weights`", or a
    paragraph on bringing a pickle in with torch.jit.trace for the state file. Each now names the value and what to
    pass instead (its model file, ``--resume auto``), exit 2, before the set-up; the remedy given works."""
    run = tmp_path / "run"
    overrides = ["data.kind=kitti_depth", f"data.root={kitti_depth_dir}"]
    for item in tiny_overrides(run, tmp_path / "clips", run__steps=4, run__batch_size=1, run__validate=False):
        overrides += [] if item.startswith("data.") else [item]
    assert train(load_train_config(None, overrides), stop_at_step=2).step == 2
    args = ["train", *(part for item in overrides for part in ("--set", item))]
    model, state = train_state.checkpoint_paths(run, 2)
    (run / "model.safetensors").write_bytes(model.read_bytes())  # as a finished run leaves its final model
    cases = {
        str(run): f"--resume {run} is a run folder: continue it with --resume auto --out {run}",
        str(run / "model.safetensors"): "has no training state beside it (model.state.pt)",
        str(state): f"--resume {state} is the training state of a checkpoint pair; pass its model file {model}",
        "latest": "--resume latest does not exist: pass auto",
    }
    for value, named in cases.items():
        assert main([*args, "--resume", value]) == 2, value
        err = capsys.readouterr().err
        assert named in err and "mono-depth weights" not in err and "torch.jit" not in err, err
    assert main([*args, "--resume", str(model)]) == 0  # the file the state file's message names


@pytest.mark.parametrize("option", [["--seeds", "7", "8"], ["--frames", "5"]])
def test_synthetic_options_on_a_recorded_dataset_are_refused(
    trained: Path, nyu_dir: Path, option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--seeds`` / ``--frames`` choose the synthetic streets; on the real NYU frames they were dropped without a
    word (exit 0, the table of the NYU frames), so a user could believe they had scored other frames. Refused naming
    the option and the dataset that reads it, before the model runs; synthetic still takes them."""
    args = ["eval", "--checkpoint", str(trained / "model.safetensors")]
    assert main([*args, "--dataset", "nyu", "--data", str(nyu_dir), *option]) == 2
    err = capsys.readouterr().err
    assert f"{option[0]} {' '.join(option[1:])} is not read by --dataset nyu" in err and "synthetic" in err
    assert main([*args, "--dataset", "synthetic", *option]) == 0
    assert "synthetic" in capsys.readouterr().out


@pytest.mark.parametrize("option", [["--data", "NYU"], ["--split", "split.txt"], ["--png-scale", "256"]])
def test_recorded_data_options_on_the_synthetic_dataset_are_refused(
    trained: Path, nyu_dir: Path, option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--dataset synthetic`` renders its streets and reads no folder, split file or PNG unit: ``--data`` (the real
    NYU frames here), ``--split`` and ``--png-scale`` were dropped without a word (exit 0, the synthetic table), so a
    user who meant ``--dataset nyu`` got synthetic metrics. Refused naming the option, before anything renders."""
    value = str(nyu_dir) if option[1] == "NYU" else option[1]
    args = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--dataset", "synthetic"]
    assert main([*args, option[0], value]) == 2
    err = capsys.readouterr().err
    assert f"{option[0]} {value} is not read by --dataset synthetic" in err and "renders" in err


def test_a_validation_set_mixing_cut_nyu_copies_with_whole_frames_is_refused_as_eval_refuses_it(
    nyu_dir: Path, tmp_path: Path
) -> None:
    """NYU validation frames, one a whole 480x640 frame among copies already cut to the Eigen crop (427x561): the set
    keeps the crop (:func:`nyu_crop_of`), and training validation cut the copies a second time (another 10 % of their
    border gone) without a word, where ``mono-depth eval`` refuses the same set naming the mix. Refused alike, naming
    a cut copy and the way out."""
    import json
    import shutil

    from mono_depth_ros.core.errors import ConfigError
    from mono_depth_ros.training.data.real import build_recorded_datasets
    from mono_depth_ros.training.trainer.config import DataConfig

    mixed = _nyu_eigen_cut(nyu_dir, tmp_path / "nyu_mixed")
    whole = json.loads((nyu_dir / "test_annotations.json").read_text())["files"][0]
    for key in ("rgb", "depth"):
        shutil.copy(nyu_dir / key / Path(whole[key]).name, mixed / key / Path(whole[key]).name)
    entries = json.loads((mixed / "test_annotations.json").read_text())["files"]
    entries[0]["cam_in"] = whole["cam_in"]
    (mixed / "test_annotations.json").write_text(json.dumps({"files": entries}))
    with pytest.raises(ConfigError) as refused:
        build_recorded_datasets(DataConfig(kind="nyu", root=str(mixed)), 64, 48, (), seed=0)
    text = str(refused.value)
    assert "427x561" in text and "already cut to the Eigen crop" in text and "apart" in text, text


def test_eval_warns_when_the_protocol_scales_a_metric_model(
    trained: Path, kitti_object_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A metric checkpoint under the Velodyne protocol is median-scaled by default (monodepth2's figures): the scaled
    table is not its metric accuracy, so stderr says so and names `--scaling none`; a scaling given on purpose is not
    warned about, and the table and CSV keep recording the scaling used."""
    base = ["eval", "--checkpoint", str(trained / "model.safetensors"), "--dataset", "kitti_velodyne"]
    base += ["--data", str(kitti_object_dir)]
    assert main(base) == 0
    captured = capsys.readouterr()
    assert "scaling median; output metric" in captured.out.splitlines()[0]  # the protocol's default figures kept
    assert "output metric" in captured.err and "median" in captured.err and "--scaling none" in captured.err
    for forced in ("none", "median"):
        assert main([*base, "--scaling", forced]) == 0
        captured = capsys.readouterr()
        assert f"scaling {forced}; output metric" in captured.out.splitlines()[0] and "--scaling" not in captured.err


def test_the_input_of_a_hugging_face_directory_builds_its_transformers_config_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`eval --checkpoint DIR` read the directory's network input building config.json's transformers config object
    twice (the folder check, then the spec): once now, handed on as the node's load does."""
    from mono_depth_ros.commands.eval import checkpoint_input
    from test.models.hf_tiny import count_config_builds, write_tiny_family

    directory = write_tiny_family("zoedepth", tmp_path / "zoe")
    built = count_config_builds(monkeypatch)
    policy = checkpoint_input(directory)
    assert built == ["zoedepth"] and policy.height > 0, (built, policy)
