"""Tests for training/trainer.py (with train_state.py, train_log.py, distributed.py): exact resume, every objective,
AMP, logs, checkpoints the node loads, and DistributedDataParallel on the CPU (gloo, two processes)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from mono_depth_ros.core.errors import CheckpointError, ConfigError
from mono_depth_ros.models.checkpoint import load_checkpoint
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.data.synthetic import SyntheticDepthDataset
from mono_depth_ros.training.trainer import state as train_state
from mono_depth_ros.training.trainer.config import load_train_config
from mono_depth_ros.training.trainer.loop import Trainer, train
from test.training.tiny import fit_unvalidated, tiny_config, tiny_overrides


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).state_dict


def test_resume_gives_identical_weights(tmp_path: Path, cache: Path) -> None:
    """6 straight steps == 3 steps, "crash", resume, 3 more (mid-epoch: 4 steps per epoch), bit for bit."""
    straight = train(tiny_config(tmp_path / "a", cache, "lidar_semi", run__steps=6, run__checkpoint_every=3))
    config = tiny_config(tmp_path / "b", cache, "lidar_semi", run__steps=6, run__checkpoint_every=3)
    interrupted = train(config, stop_at_step=3)
    assert interrupted.step == 3 and interrupted.model_path is None
    assert train_state.latest_checkpoint(tmp_path / "b") == train_state.checkpoint_paths(tmp_path / "b", 3)[0]
    resumed = train(config, resume="auto")
    assert straight.model_path is not None and resumed.model_path is not None and resumed.step == 6
    a, b = _weights(straight.model_path), _weights(resumed.model_path)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[name], b[name]) for name in a)  # includes BatchNorm running statistics
    state_a = torch.load(train_state.checkpoint_paths(tmp_path / "a", 6)[1], weights_only=True)
    state_b = torch.load(train_state.checkpoint_paths(tmp_path / "b", 6)[1], weights_only=True)
    pose_a, pose_b = state_a["modules"]["objective"], state_b["modules"]["objective"]
    assert any("pose_net" in name for name in pose_a)
    assert all(torch.equal(pose_a[name], pose_b[name]) for name in pose_a)
    rows = list(csv.DictReader((tmp_path / "b" / "train.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]  # the resumed run appends to the same log
    straight_rows = list(csv.DictReader((tmp_path / "a" / "train.csv").open()))
    lrs = [float(r["lr"]) for r in straight_rows]
    assert len(set(lrs)) == 5  # warm-up 2, cosine (steps 2, 3 at the peak)
    assert [float(r["lr"]) for r in rows] == lrs
    assert {"loss", "lr", "photometric", "smoothness", "lidar", "images_per_s"} <= set(rows[0])
    other = Trainer(tiny_config(tmp_path / "c", cache, "lidar_semi", model__encoder_width=8))
    with pytest.raises(CheckpointError, match="spec differs"):  # another architecture cannot resume from it
        other.resume(straight.model_path)


def test_a_run_keeps_its_newest_checkpoints_and_resumes_from_them(tmp_path: Path, cache: Path) -> None:
    """``run.keep_checkpoints: 2``: of steps 2, 4, 6, 8 only 6 and 8 stay (model + state); a run resumed from step 4
    (killed after it) goes on from there and prunes as it goes."""
    config = tiny_config(tmp_path, cache, "supervised", run__steps=8, run__checkpoint_every=2, run__keep_checkpoints=2)
    assert train(config, stop_at_step=4).model_path is None
    folder = tmp_path / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"step_{s:07d}{ext}" for s in (2, 4) for ext in (".safetensors", ".state.pt")
    ]
    assert train(config, resume="auto").step == 8
    assert sorted(p.name for p in folder.iterdir()) == [
        f"step_{s:07d}{ext}" for s in (6, 8) for ext in (".safetensors", ".state.pt")
    ]


def test_a_checkpoint_saved_before_training_focal_existed_resumes(tmp_path: Path, cache: Path) -> None:
    config = tiny_config(tmp_path, cache, "supervised", run__steps=4, run__checkpoint_every=2)
    assert train(config, stop_at_step=2).model_path is None
    saved = train_state.checkpoint_paths(tmp_path, 2)[0]
    with safe_open(str(saved), "pt") as handle:
        metadata = handle.metadata()
    spec = json.loads(metadata["mono_depth_spec"])
    del spec["training_focal"]  # as an earlier version wrote it
    save_file(load_file(saved), saved, metadata={**metadata, "mono_depth_spec": json.dumps(spec)})
    resumed = train(config, resume="auto")
    assert resumed.step == 4 and resumed.model_path is not None
    assert load_checkpoint(resumed.model_path).spec.training_focal == pytest.approx((0.58, 0.58 * 64 / 32))


@pytest.mark.parametrize("objective", ["supervised", "selfsup", "lidar_semi"])
def test_objectives_train_and_the_node_loads_the_result(tmp_path: Path, cache: Path, objective: str) -> None:
    result = train(tiny_config(tmp_path, cache, objective, run__steps=4))
    assert result.model_path == tmp_path / "model.safetensors" and result.step == 4
    assert result.val is not None and result.val.count == 2 and np.isfinite(result.val.abs_rel)
    loaded = load_checkpoint(result.model_path)
    expected = OutputKind.DEPTH_UP_TO_SCALE if objective == "selfsup" else OutputKind.METRIC  # LiDAR makes metres
    assert loaded.spec.output_kind is expected and loaded.golden is not None
    assert loaded.spec.training_focal == pytest.approx((0.58, 0.58 * 64 / 32))  # the camera the metres belong to
    assert loaded.metadata["objective"] == objective
    estimator = DepthEstimator.open("unet", result.model_path, EstimatorConfig(device="cpu", warmup_runs=0))
    assert estimator.golden_report is not None and estimator.golden_report.passed
    depth = estimator.predict(np.zeros((40, 70, 3), np.uint8)).values
    assert depth.shape == (40, 70) and np.isfinite(depth).all()
    val_rows = list(csv.DictReader((tmp_path / "val.csv").open()))
    assert [int(r["step"]) for r in val_rows] == [4]  # end of the run (an epoch has 6 or 4 steps here)
    assert {"abs_rel", "rmse", "a1", "gt_over_pred"} <= set(val_rows[0])


def test_bf16_autocast_and_tensorboard(tmp_path: Path, cache: Path) -> None:
    pytest.importorskip("tensorboard")
    config = tiny_config(tmp_path, cache, "selfsup", run__steps=2, run__amp="bf16", run__tensorboard=True)
    result = train(config)
    assert result.step == 2 and result.val is not None and np.isfinite(result.val.abs_rel)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_fit_unvalidated_trains_as_fit_and_reports_no_validation_of_its_own(tmp_path: Path, cache: Path) -> None:
    """test.training.tiny.fit_unvalidated (tests that validate before and after the run themselves): the same weights
    as fit, its result's ``val`` None (the run validated nothing; it was the metrics of the validation before the run,
    the untrained weights', as if the run's), and ``validate`` works again after it."""
    checksums = []
    for name, unvalidated in (("fit", False), ("unvalidated", True)):
        torch.manual_seed(0)
        trainer = Trainer(tiny_config(tmp_path / name, cache, "supervised", run__steps=2))
        before = trainer.validate()
        result = fit_unvalidated(trainer) if unvalidated else trainer.fit()
        assert before is not None and (result.val is None) == unvalidated, (before, result.val)
        checksums.append([p.detach().clone() for p in trainer.module.parameters()])
        assert trainer.validate() is not None
    for fitted, unvalidated_param in zip(*checksums, strict=True):
        torch.testing.assert_close(unvalidated_param, fitted, rtol=0, atol=0)


def test_too_little_data_is_a_config_error(tmp_path: Path, cache: Path) -> None:
    with pytest.raises(ConfigError, match="batch"):
        Trainer(tiny_config(tmp_path, cache, "supervised", run__batch_size=64))


def test_diverged_weights_stop_the_run_before_a_checkpoint_is_written(tmp_path: Path, cache: Path) -> None:
    # a NaN loss (here: one NaN weight, as after a diverged step) used to be trained through: every checkpoint and
    # model.safetensors held NaN weights, found only when the node skipped every frame
    trainer = Trainer(tiny_config(tmp_path, cache, "supervised"))
    with torch.no_grad():
        next(trainer.depth_net.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(ConfigError, match=r"weights are not finite at step 2 .*optim\.lr"):
        trainer.fit()
    assert not list(tmp_path.glob("**/*.safetensors"))


def test_a_fresh_run_refuses_a_folder_holding_an_earlier_run(tmp_path: Path, cache: Path) -> None:
    # before, it appended its rows to the earlier run's train.csv / val.csv and left that run's later checkpoints,
    # which a following --resume auto then picked up
    train(tiny_config(tmp_path, cache, "supervised", run__steps=4))
    with pytest.raises(ConfigError, match=r"already holds a training run.*--resume auto.*another run\.out_dir"):
        train(tiny_config(tmp_path, cache, "supervised", run__steps=2, optim__lr=1e-4))
    assert [int(r["step"]) for r in csv.DictReader((tmp_path / "train.csv").open())] == [1, 2, 3, 4]
    assert train(tiny_config(tmp_path, cache, "supervised", run__steps=6), resume="auto").step == 6


def test_resume_with_another_objective_is_a_checkpoint_error(tmp_path: Path, cache: Path) -> None:
    # same network (both metric), but lidar_semi has a pose network the supervised run never had: it raised
    # torch's RuntimeError 'Missing key(s) in state_dict: "pose_net.features.0.weight", ...' with a traceback
    supervised = train(tiny_config(tmp_path / "a", cache, "supervised", run__steps=2))
    assert supervised.model_path is not None
    trainer = Trainer(tiny_config(tmp_path / "b", cache, "lidar_semi"))
    with pytest.raises(CheckpointError, match=r"trained with loss\.objective=supervised, this run has lidar_semi"):
        trainer.resume(train_state.checkpoint_paths(tmp_path / "a", 2)[0])


def test_resume_with_another_pose_network_width_names_that_setting(tmp_path: Path, cache: Path) -> None:
    """The same objective with another ``loss.pose_width`` (seen on a real-KITTI folder run, 4 then 8): the pose
    network's tensors do not fit, and the error said "it was trained with loss.objective=selfsup, this run has
    selfsup", the one setting that had not changed. It names the loss setting that did."""
    first = tiny_config(tmp_path / "a", cache, "selfsup", run__steps=2, loss__pose_width=4)
    assert train(first).model_path is not None
    trainer = Trainer(tiny_config(tmp_path / "b", cache, "selfsup", loss__pose_width=8))
    with pytest.raises(CheckpointError, match=r"trained with loss\.pose_width=4, this run has loss\.pose_width=8"):
        trainer.resume(train_state.checkpoint_paths(tmp_path / "a", 2)[0])


def test_resume_auto_without_a_checkpoint_says_it_starts_afresh(
    tmp_path: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``--resume auto`` into a folder without checkpoints (a mistyped ``--out``) started at step 0 without a word;
    it still does (a scheduler's first launch of a pre-emptible job passes it too), saying so and naming the folder."""
    with caplog.at_level("WARNING"):
        result = train(tiny_config(tmp_path / "typo", cache, run__steps=1, run__validate=False), resume="auto")
    assert result.step == 1
    messages = [record.getMessage() for record in caplog.records]
    assert any(
        f"--resume auto: no checkpoint in {tmp_path / 'typo' / 'checkpoints'}: starting at step 0" in m
        for m in messages
    ), messages


def test_a_resume_that_changes_the_data_order_says_so(
    tmp_path: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A resume with another ``run.batch_size`` / ``run.seed`` / ``data.*`` setting (seen: a real-KITTI folder run
    resumed at batch 2 instead of 1) went on silently with another data order and other augmentation draws than the
    run that never stopped, which is what --resume promises. It goes on (a deliberate change), with a warning naming
    each such setting; the same configuration warns of nothing."""
    first = tiny_config(tmp_path / "a", cache, run__steps=4, run__batch_size=2)
    assert train(first, stop_at_step=2).step == 2
    path = train_state.checkpoint_paths(tmp_path / "a", 2)[0]
    with caplog.at_level("WARNING", logger="mono_depth_ros.training.trainer.loop"):
        Trainer(first).resume(path)
        assert not caplog.records
        changed = tiny_config(
            tmp_path / "a", cache, run__steps=4, run__batch_size=1, run__seed=3, data__flip_probability=0
        )
        Trainer(changed).resume(path)
    (record,) = caplog.records
    text = record.getMessage()
    assert "run.batch_size 2 -> 1" in text and "run.seed 0 -> 3" in text and "data.flip_probability 0.5 -> 0" in text
    assert "not the order of the run that never stopped" in text


def test_validation_keeps_the_dataset_protocols_depth_cap() -> None:
    """NYU is validated under its 10 m cap (predictions clipped to 10 m) unless run.eval_max_depth_m names another;
    the former default of 80 m replaced every protocol's cap, so NYU validation was not the NYU protocol."""
    from mono_depth_ros.evaluation.depth import PROTOCOLS
    from mono_depth_ros.training.trainer.config import RunConfig
    from mono_depth_ros.training.trainer.loop import validation_protocol

    nyu = validation_protocol(PROTOCOLS["nyu"], RunConfig())
    assert nyu.max_depth_m == 10.0 and nyu.crop == "eigen_nyu" and nyu.scaling == "auto"
    assert validation_protocol(PROTOCOLS["kitti_improved"], RunConfig()).max_depth_m == 80.0
    assert validation_protocol(PROTOCOLS["nyu"], RunConfig(eval_max_depth_m=5.0)).max_depth_m == 5.0
    with pytest.raises(ConfigError, match="eval_max_depth_m"):
        RunConfig(eval_max_depth_m=-1.0)


def test_a_resume_with_a_lowered_lr_trains_at_that_lr(tmp_path: Path, cache: Path) -> None:
    # the divergence error says "lower optim.lr ... and restart from the last checkpoint", but the restored optimiser
    # and scheduler states put the checkpoint's lr back: the resumed run trained on at the old lr, silently
    constant = {"optim__warmup_steps": 0, "optim__schedule": "constant", "run__steps": 4}
    train(tiny_config(tmp_path, cache, "supervised", **constant), stop_at_step=2)
    lowered = Trainer(tiny_config(tmp_path, cache, "supervised", optim__lr=1e-5, optim__weight_decay=0.5, **constant))
    lowered.resume()
    assert lowered.step == 2
    assert [g["lr"] for g in lowered.optimizer.param_groups] == [1e-5]
    assert lowered.scheduler.get_last_lr() == [1e-5]
    assert [g["weight_decay"] for g in lowered.optimizer.param_groups] == [0.5]
    lowered.fit()
    rows = list(csv.DictReader((tmp_path / "train.csv").open()))
    assert [float(r["lr"]) for r in rows] == pytest.approx([1e-3, 1e-3, 1e-5, 1e-5])


def test_train_csv_logs_the_lr_each_step_trained_at(tmp_path: Path, cache: Path) -> None:
    # the lr column was read after the scheduler's step: each row held the next step's lr (step 1 of a 2-step warm-up
    # read the full lr it had not trained at, the last step the decay's floor it never reached)
    warm_cosine = {"optim__lr": 1e-3, "optim__warmup_steps": 2, "optim__schedule": "cosine", "run__steps": 4}
    trainer = Trainer(tiny_config(tmp_path, cache, "supervised", **warm_cosine))
    seen: list[float] = []  # the lr of each optimiser step, as it steps
    trainer.optimizer.register_step_pre_hook(lambda opt, *_: seen.append(float(opt.param_groups[0]["lr"])))
    trainer.fit()
    rows = list(csv.DictReader((tmp_path / "train.csv").open()))
    # warm-up 1/2, 2/2; cosine from the end of the warm-up: progress 0, 1/2 -> 1, 0.05 + 0.95 * 0.5
    assert seen == pytest.approx([5e-4, 1e-3, 1e-3, 5.25e-4])
    assert [float(r["lr"]) for r in rows] == pytest.approx(seen)


def test_train_csv_logs_no_lr_for_a_step_the_fp16_scaler_skipped(tmp_path: Path, cache: Path) -> None:
    """Under fp16 the gradient scaler skips a step whose gradients overflow (the usual first steps at its initial
    scale): the optimiser does not step, yet train.csv logged that step's lr as trained at. A skipped step now leaves
    the lr column empty (NaN) on its row."""
    warm_cosine = {"optim__lr": 1e-3, "optim__warmup_steps": 2, "optim__schedule": "cosine", "run__steps": 4}
    trainer = Trainer(tiny_config(tmp_path, cache, "supervised", run__amp="fp16", **warm_cosine))
    seen: list[float] = []  # the lr of each optimiser step, as it steps
    trainer.optimizer.register_step_pre_hook(lambda opt, *_: seen.append(float(opt.param_groups[0]["lr"])))
    first = next(p for p in trainer.depth_net.parameters() if p.requires_grad)
    overflow = lambda grad: grad * torch.inf if trainer.step < 2 else grad  # noqa: E731 - steps 1 and 2 overflow
    first.register_hook(overflow)  # type: ignore[no-untyped-call]
    with pytest.warns(UserWarning, match="lr_scheduler.step"):  # torch's: the schedule moves on over the skip
        trainer.fit()
    logged = [float(r["lr"]) for r in csv.DictReader((tmp_path / "train.csv").open())]
    assert seen == pytest.approx([1e-3, 5.25e-4])  # steps 3 and 4 trained
    assert np.isnan(logged[:2]).all() and logged[2:] == pytest.approx(seen)


def test_train_csv_logs_no_lr_for_a_step_the_fp16_scaler_skipped_mid_run(tmp_path: Path, cache: Path) -> None:
    """A step skipped after others trained (an overflow mid-run) logged the previous step's lr, a learning rate for
    a step that trained at none, as a trained row reads; it logs none (NaN) as a skip before the first does."""
    warm_cosine = {"optim__lr": 1e-3, "optim__warmup_steps": 2, "optim__schedule": "cosine", "run__steps": 4}
    trainer = Trainer(tiny_config(tmp_path, cache, "supervised", run__amp="fp16", **warm_cosine))
    seen: list[float] = []  # the lr of each optimiser step, as it steps
    trainer.optimizer.register_step_pre_hook(lambda opt, *_: seen.append(float(opt.param_groups[0]["lr"])))
    first = next(p for p in trainer.depth_net.parameters() if p.requires_grad)
    overflow = lambda grad: grad * torch.inf if trainer.step == 2 else grad  # noqa: E731 - step 3 overflows
    first.register_hook(overflow)  # type: ignore[no-untyped-call]
    trainer.fit()
    logged = [float(r["lr"]) for r in csv.DictReader((tmp_path / "train.csv").open())]
    assert len(seen) == 3 and len(logged) == 4  # steps 1, 2 and 4 trained
    assert np.isnan(logged[2]), logged
    assert [logged[0], logged[1], logged[3]] == pytest.approx(seen)


def _interrupt(monkeypatch: pytest.MonkeyPatch, method: str, at_step: int) -> None:
    """Make ``Trainer.<method>`` raise KeyboardInterrupt (Ctrl-C) when the trainer reaches ``at_step``."""
    original = getattr(Trainer, method)

    def interrupted(self: Trainer, *args: object, **kwargs: object) -> object:
        if self.step == at_step:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, method, interrupted)


def test_a_run_killed_past_its_checkpoint_logs_each_step_once(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # killed at step 3 (checkpoint at 2, row 3 logged, row 4 cut mid-write), the resumed run appended its rows 3..6
    # after them: train.csv read 1, 2, 3, 3, 4, ... (and a broken line), so a plot of the loss doubled back
    config = tiny_config(tmp_path, cache, "supervised", run__steps=6, run__checkpoint_every=2)
    with monkeypatch.context() as patch:
        _interrupt(patch, "_train_step", 3)
        with pytest.raises(KeyboardInterrupt):
            train(config)
    with (tmp_path / "train.csv").open("a") as handle:
        handle.write("4,0.0,0.00")  # a row the kill cut short
    assert train(config, resume="auto").step == 6
    rows = list(csv.DictReader((tmp_path / "train.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(np.isfinite(float(r["loss"])) for r in rows)


def test_a_run_killed_in_validation_validates_that_epoch_on_resume(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the checkpoint at the epoch's end (step 4) is written before its validation: killed there, the resumed run
    # went on to the next epoch and val.csv never got the row of step 4
    config = tiny_config(tmp_path, cache, "lidar_semi", run__steps=8, run__checkpoint_every=2)
    assert Trainer(config).steps_per_epoch == 4
    with monkeypatch.context() as patch:
        _interrupt(patch, "validate", 4)
        with pytest.raises(KeyboardInterrupt):
            train(config)
    assert not (tmp_path / "val.csv").exists()
    assert train(config, resume="auto").step == 8
    assert [int(r["step"]) for r in csv.DictReader((tmp_path / "val.csv").open())] == [4, 8]
    with monkeypatch.context() as patch:  # killed in the next epoch after that validation: its row is not repeated
        _interrupt(patch, "_train_step", 5)
        with pytest.raises(KeyboardInterrupt):
            train(tiny_config(tmp_path / "b", cache, "lidar_semi", run__steps=8, run__checkpoint_every=2))
    assert train(tiny_config(tmp_path / "b", cache, "lidar_semi", run__steps=8), resume="auto").step == 8
    assert [int(r["step"]) for r in csv.DictReader((tmp_path / "b" / "val.csv").open())] == [4, 8]


def test_a_nan_sample_under_fp16_stops_the_run_instead_of_saving_nan_batchnorm_statistics(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the gradient scaler skipped the NaN step, so every parameter stayed finite and the run "succeeded"; but the
    # forward pass had already put NaN into the BatchNorm running statistics: model.safetensors predicted NaN
    # everywhere (the node dropped every frame) while validation printed a finite abs_rel
    original = SyntheticDepthDataset.__getitem__

    def one_bad_pixel(self: SyntheticDepthDataset, index: int) -> dict[str, torch.Tensor]:
        item = original(self, index)
        if index == 3 and self.augmentation is not None:  # a training item
            item["rgb"] = item["rgb"].clone()
            item["rgb"][:, 0, 0] = float("nan")
        return item

    monkeypatch.setattr(SyntheticDepthDataset, "__getitem__", one_bad_pixel)
    config = tiny_config(tmp_path, cache, "supervised", run__amp="fp16", run__steps=6, run__checkpoint_every=2)
    with pytest.raises(ConfigError, match=r"not finite at step 6 .*BatchNorm"):
        train(config)
    assert not (tmp_path / "model.safetensors").exists()
    assert not train_state.checkpoint_paths(tmp_path, 6)[0].exists()
    assert train_state.latest_checkpoint(tmp_path) == train_state.checkpoint_paths(tmp_path, 4)[0]


def test_sigkill_mid_run_with_data_workers_then_resume_gives_the_uninterrupted_weights(
    tmp_path: Path, cache: Path
) -> None:
    """A real ``mono-depth train`` (2 data workers) killed with SIGKILL, at whatever it was doing past step 5
    (a step, a checkpoint write, the epoch's validation), then ``--resume auto``: the weights of a straight run."""
    extra = {"run__steps": 8, "run__checkpoint_every": 2, "data__num_workers": 2}
    straight = train(tiny_config(tmp_path / "straight", cache, "selfsup", **extra))
    run = tmp_path / "killed"
    args = [a for item in tiny_overrides(run, cache, "selfsup", **extra) for a in ("--set", item)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[3])}
    process = subprocess.Popen(
        [sys.executable, "-m", "mono_depth_ros.cli", "train", *args], env=environment, start_new_session=True
    )
    log, deadline = run / "train.csv", time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if log.is_file() and len(log.read_text().splitlines()) > 5:  # header + 5 steps
            break
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the trainer and its data workers
    process.wait()
    assert process.returncode == -signal.SIGKILL and not (run / "model.safetensors").exists()
    resumed = train(tiny_config(run, cache, "selfsup", **extra), resume="auto")
    assert straight.model_path is not None and resumed.model_path is not None
    a, b = _weights(straight.model_path), _weights(resumed.model_path)
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert [int(r["step"]) for r in csv.DictReader(log.open())] == list(range(1, 9))
    val_steps = [int(r["step"]) for r in csv.DictReader((tmp_path / "straight" / "val.csv").open())]
    assert [int(r["step"]) for r in csv.DictReader((run / "val.csv").open())] == val_steps


@pytest.mark.parametrize(("before", "after"), [("none", "fp16"), ("fp16", "bf16")])
def test_a_resume_may_change_the_autocast_precision(tmp_path: Path, cache: Path, before: str, after: str) -> None:
    # a run saved without a gradient scaler (amp none / bf16) resumed with amp fp16 was refused as "trained with
    # loss.objective=supervised, this run has supervised (The source state dict is empty ...)": the scaler's empty
    # state was blamed on the objective
    train(tiny_config(tmp_path, cache, "supervised", run__amp=before), stop_at_step=2)
    resumed = Trainer(tiny_config(tmp_path, cache, "supervised", run__amp=after))
    resumed.resume()
    assert resumed.step == 2 and resumed.scaler.is_enabled() == (after == "fp16")
    assert resumed.fit().step == 4


def test_a_scale_invariant_silog_run_saved_as_metric_before_resumes_as_depth_up_to_scale(
    tmp_path: Path, kitti_depth_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A ``loss.silog_lambda: 1`` run checkpointed before 319db85 declared ``metric``; this version builds its spec as
    ``depth_up_to_scale``, so ``--resume auto`` of that run (real KITTI frames, the same configuration) was refused
    with "its model spec differs from this run's ... resume with the configuration it was trained with": the one it
    was given, and no configuration gives the old spec. The weights are the same network: it resumes, says the kind
    changed, and what it saves from there on is depth up to scale."""
    overrides = ["data.kind=kitti_depth", f"data.root={kitti_depth_dir}", "loss.silog_lambda=1.0"]
    for item in tiny_overrides(tmp_path, tmp_path / "clips", run__steps=4, run__batch_size=1, run__validate=False):
        overrides += [] if item.startswith("data.") else [item]
    config = load_train_config(None, overrides)
    assert train(config, stop_at_step=2).step == 2
    path = train_state.checkpoint_paths(tmp_path, 2)[0]
    with safe_open(str(path), framework="pt") as handle:  # as the version before 319db85 wrote it
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    spec = json.loads(metadata["mono_depth_spec"])
    assert spec["output_kind"] == "depth_up_to_scale"
    metadata["mono_depth_spec"] = json.dumps({**spec, "output_kind": "metric"})
    save_file(tensors, str(path), metadata=metadata)
    with caplog.at_level("WARNING", logger="mono_depth_ros.training.trainer.state"):
        result = train(config, resume="auto")
    assert result.step == 4 and result.model_path is not None
    assert load_checkpoint(result.model_path).spec.output_kind is OutputKind.DEPTH_UP_TO_SCALE
    assert any("silog_lambda" in r.getMessage() and "depth_up_to_scale" in r.getMessage() for r in caplog.records)


def test_a_stereo_run_saved_as_depth_up_to_scale_before_resumes_as_metric(
    tmp_path: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A self-supervised run with a stereo source at a metric baseline checkpointed before it was recognised as metric
    declared ``depth_up_to_scale``; this version builds its spec as ``metric``, and ``--resume auto`` would refuse
    "its model spec differs" with no configuration to give it. The weights are the same network: it resumes, says
    the kind changed, and saves metres from there on."""
    config = tiny_config(tmp_path, cache, "selfsup", data__stereo_baseline_m=0.5, run__validate=False)
    assert config.output_kind is OutputKind.METRIC
    assert train(config, stop_at_step=2).step == 2
    path = train_state.checkpoint_paths(tmp_path, 2)[0]
    with safe_open(str(path), framework="pt") as handle:  # as the version before wrote it
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    spec = json.loads(metadata["mono_depth_spec"])
    metadata["mono_depth_spec"] = json.dumps({**spec, "output_kind": "depth_up_to_scale"})
    save_file(tensors, str(path), metadata=metadata)
    with caplog.at_level("WARNING", logger="mono_depth_ros.training.trainer.state"):
        result = train(config, resume="auto")
    assert result.step == 4 and result.model_path is not None
    assert load_checkpoint(result.model_path).spec.output_kind is OutputKind.METRIC
    assert any("stereo_baseline_m 0.5" in r.getMessage() and "metric" in r.getMessage() for r in caplog.records)


def _loss_columns(path: Path) -> list[dict[str, str]]:
    """train.csv's rows without images_per_s (a wall-clock rate, never the same twice)."""
    return [{k: v for k, v in row.items() if k != "images_per_s"} for row in csv.DictReader(path.open())]


def test_a_resumed_run_logs_the_rows_of_the_run_that_never_stopped(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a row averages the steps since the row before; the steps between that row and the checkpoint were not saved,
    # so the first row after --resume averaged only the steps since the resume (weights identical, loss not), and a
    # run stopped off the log grid kept its stop row, which the run that never stopped does not have
    settings = {"run__steps": 6, "run__log_every": 3, "run__checkpoint_every": 2, "run__validate": False}
    straight = tmp_path / "straight"
    train(tiny_config(straight, cache, **settings))
    expected = _loss_columns(straight / "train.csv")
    assert [int(r["step"]) for r in expected] == [3, 6]
    stopped = tiny_config(tmp_path / "stopped", cache, **settings)
    train(stopped, stop_at_step=4)  # SIGTERM at step 4: row 4 (steps 4) logged, checkpoint 4
    assert [int(r["step"]) for r in _loss_columns(tmp_path / "stopped" / "train.csv")] == [3, 4]
    train(stopped, resume="auto")
    assert _loss_columns(tmp_path / "stopped" / "train.csv") == expected
    killed = tiny_config(tmp_path / "killed", cache, **settings)
    with monkeypatch.context() as patch:
        _interrupt(patch, "_train_step", 5)  # killed in step 5: checkpoint 4, no row since 3
        with pytest.raises(KeyboardInterrupt):
            train(killed)
    train(killed, resume="auto")
    assert _loss_columns(tmp_path / "killed" / "train.csv") == expected
