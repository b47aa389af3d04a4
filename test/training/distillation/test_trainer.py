"""Tests for training/distill_trainer.py: the student kind, exact resume, refusals."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError, ConfigError
from mono_depth_ros.models.checkpoint import load_checkpoint
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.distillation.pseudo_labels import PseudoLabelDataset
from mono_depth_ros.training.distillation.run import distill
from mono_depth_ros.training.distillation.trainer import DistillTrainer, resolve_student_kind
from test.training.distill_support import tiny_config


def test_student_kind_rules() -> None:
    assert resolve_student_kind("auto", OutputKind.METRIC, False) is OutputKind.METRIC
    assert resolve_student_kind("auto", OutputKind.RELATIVE_INVERSE, True) is OutputKind.METRIC
    assert resolve_student_kind("auto", OutputKind.RELATIVE_INVERSE, False) is OutputKind.DEPTH_UP_TO_SCALE
    assert resolve_student_kind("depth_up_to_scale", OutputKind.METRIC, False) is OutputKind.DEPTH_UP_TO_SCALE
    with pytest.raises(ConfigError, match="needs a metric teacher or LiDAR"):
        resolve_student_kind("metric", OutputKind.DEPTH_UP_TO_SCALE, False)


def test_resume_gives_the_same_weights(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    root, teacher, folder = setup
    cache = {"folders": [str(folder)], "cache_dir": str(root / "shared_labels")}
    straight = tiny_config(tmp_path / "a", teacher, data=cache)
    distill(straight)
    with pytest.raises(ConfigError, match=r"already holds a training run \(checkpoints, train\.csv\).*--resume auto"):
        distill(straight)  # a fresh run into that folder would append to its log and leave its checkpoints
    split = tiny_config(tmp_path / "b", teacher, data=cache)
    assert distill(split, stop_at_step=2).model_path is None
    resumed = distill(split, resume="auto")
    assert resumed.step == 4 and resumed.labels is not None and resumed.labels.cached == 6
    first = load_checkpoint(tmp_path / "a" / "run" / "model.safetensors").state_dict
    second = load_checkpoint(tmp_path / "b" / "run" / "model.safetensors").state_dict
    for name, tensor in first.items():
        torch.testing.assert_close(second[name], tensor, rtol=0, atol=0, msg=name)
    lrs = [[float(r["lr"]) for r in csv.DictReader((tmp_path / run / "run" / "train.csv").open())] for run in "ab"]
    assert len(set(lrs[0])) == 3 and lrs[1] == lrs[0]  # warm-up 2, cosine; resumed: restored scheduler


def test_a_resumed_distillation_logs_the_rows_of_the_run_that_never_stopped(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    # as train's: the first row after --resume averaged only the steps since the resume, and the stop's own row
    # (off the log_every grid) stayed, a row the run that never stopped does not have
    root, teacher, folder = setup
    data = {"folders": [str(folder)], "cache_dir": str(root / "shared_labels")}
    run = {"log_every": 3, "checkpoint_every": 2}

    def rows(name: str) -> list[dict[str, str]]:
        return list(csv.DictReader((tmp_path / name / "run" / "train.csv").open()))

    distill(tiny_config(tmp_path / "a", teacher, data=data, run=run))
    assert [int(r["step"]) for r in rows("a")] == [3, 4]  # 4 steps: the last row is the run's end
    split = tiny_config(tmp_path / "b", teacher, data=data, run=run)
    distill(split, stop_at_step=2)
    assert [int(r["step"]) for r in rows("b")] == [2]
    distill(split, resume="auto")
    assert rows("b") == rows("a")


def test_train_csv_logs_the_lr_each_step_trained_at(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    # as train's: the lr column was read after the scheduler's step, one step ahead of the lr trained at
    root, teacher, folder = setup
    data = {"folders": [str(folder)], "cache_dir": str(root / "shared_labels")}
    distill(tiny_config(tmp_path, teacher, data=data, optim={"lr": 1e-3, "warmup_steps": 2, "schedule": "cosine"}))
    rows = list(csv.DictReader((tmp_path / "run" / "train.csv").open()))
    # 4 steps: warm-up 1/2, 2/2; cosine from the end of the warm-up: progress 0, 1/2 -> 1, 0.05 + 0.95 * 0.5
    assert [float(r["lr"]) for r in rows] == pytest.approx([5e-4, 1e-3, 1e-3, 5.25e-4])


def test_resume_auto_without_a_checkpoint_says_it_starts_afresh(
    setup: tuple[Path, Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # as train's: a mistyped --out with --resume auto distilled from step 0 without a word
    root, teacher, folder = setup
    data = {"folders": [str(folder)], "cache_dir": str(root / "shared_labels")}
    with caplog.at_level("WARNING"):
        assert distill(tiny_config(tmp_path, teacher, data=data, run={"steps": 2}), resume="auto").step == 2
    expected = f"--resume auto: no checkpoint in {tmp_path / 'run' / 'checkpoints'}: starting at step 0"
    assert any(expected in record.getMessage() for record in caplog.records), caplog.records


def test_a_distillation_keeps_its_newest_checkpoints(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    """``run.keep_checkpoints: 1``: of steps 2 and 4 only 4 stays (model + state), as in ``train``."""
    root, teacher, folder = setup
    data = {"folders": [str(folder)], "cache_dir": str(root / "shared_labels")}
    distill(tiny_config(tmp_path, teacher, data=data, run={"keep_checkpoints": 1}))
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert names == ["step_0000004.safetensors", "step_0000004.state.pt"]


def test_feature_alignment_needs_cached_features(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    _, teacher, folder = setup
    config = tiny_config(tmp_path, teacher, data={"folders": [str(folder)]}, loss={"feature_weight": 0.1})
    distill(config, label_only=True)
    with pytest.raises(ConfigError, match="holds no teacher features"):
        DistillTrainer(config, PseudoLabelDataset(config.data.cache_dir))
    with pytest.raises(ConfigError, match="do not fill one batch"):
        small = tiny_config(tmp_path, teacher, data={"folders": [str(folder)]}, run={"batch_size": 7})
        DistillTrainer(small, PseudoLabelDataset(config.data.cache_dir))
    with pytest.raises(ConfigError, match="nothing to label"):
        distill(tiny_config(tmp_path, teacher))


def test_diverged_weights_stop_the_run_before_a_checkpoint_is_written(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    _, teacher, folder = setup
    config = tiny_config(tmp_path, teacher, data={"folders": [str(folder)]})
    distill(config, label_only=True)
    trainer = DistillTrainer(config, PseudoLabelDataset(config.data.cache_dir))
    with torch.no_grad():  # as after a step whose loss was NaN
        next(trainer.student.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(ConfigError, match=r"weights are not finite at step \d+ .*optim\.lr"):
        trainer.fit()
    assert not list(tmp_path.glob("**/checkpoints/*.safetensors"))


def test_resume_with_another_feature_setting_is_a_checkpoint_error(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    # the projection head exists only with feature alignment: resuming across that setting raised torch's
    # ValueError (optimiser groups) or RuntimeError (missing projection keys) with a traceback
    _, teacher, folder = setup
    sections = {"data": {"folders": [str(folder)]}, "teacher": {"features": True}}
    with_features = tiny_config(tmp_path, teacher, loss={"feature_weight": 0.5}, run={"steps": 2}, **sections)
    distill(with_features)
    without = tiny_config(tmp_path, teacher, loss={"feature_weight": 0.0}, **sections)
    trainer = DistillTrainer(without, PseudoLabelDataset(without.data.cache_dir))
    with pytest.raises(CheckpointError, match=r"loss\.feature_weight 0\.5, this run has 0\.0"):
        trainer.resume()


def test_resume_past_run_steps_is_refused_and_writes_nothing(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    # as train: it trained nothing, calibrated and rewrote model.safetensors from the later step's weights
    _, teacher, folder = setup
    sections = {"data": {"folders": [str(folder)]}}
    distill(tiny_config(tmp_path, teacher, run={"steps": 2}, **sections))
    written = (tmp_path / "run" / "model.safetensors").read_bytes()
    fewer = tiny_config(tmp_path, teacher, run={"steps": 1}, **sections)
    with pytest.raises(ConfigError, match=r"step 2, past run\.steps=1"):
        DistillTrainer(fewer, PseudoLabelDataset(fewer.data.cache_dir)).resume()
    with pytest.raises(ConfigError, match=r"past run\.steps=1"):
        distill(fewer, resume="auto")
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == written


def test_labels_cached_larger_than_the_input_reach_the_student_as_the_node_resizes(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """``data.label_height`` / ``label_width`` above the student's input: each batch is shrunk to the input as the
    node's preprocess shrinks a camera image (antialiased), not by plain bilinear sampling (aliased)."""
    from mono_depth_ros.models.preprocess import preprocess

    _, teacher, folder = setup
    data = {"folders": [str(folder)], "label_height": 96, "label_width": 192}
    config = tiny_config(tmp_path, teacher, data=data)
    distill(config, label_only=True)
    trainer = DistillTrainer(config, PseudoLabelDataset(config.data.cache_dir))
    item = trainer.dataset[0]
    batch = {key: value[None] for key, value in item.items()}
    fed = trainer._to_input_size(batch)["rgb"]
    hw = (trainer.spec.input.height, trainer.spec.input.width)
    assert hw[0] < 96 and hw[1] < 192
    rgb_u8 = (item["rgb"] * 255).round().to(torch.uint8)[None]
    node = preprocess(rgb_u8, hw, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    torch.testing.assert_close(fed, node, atol=1.0 / 255, rtol=0)
    lidar = torch.full((1, 1, 96, 192), float("nan"))
    lidar[0, 0, 0::3, 0::3] = 7.0  # a return in every 3 x 3 block, never on the pixel nearest-exact samples
    shrunk = trainer._to_input_size({**batch, "lidar_depth": lidar})["lidar_depth"]
    assert bool(torch.isfinite(shrunk).all())  # every return kept (sampling one pixel per block kept none)


def test_a_pasted_label_weighs_the_same_whatever_the_teachers_unit_for_its_frame(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """After CutMix the box holds another frame's label, in the teacher's unit for that frame (a relative teacher's
    disparity has a scale of its own per image). Each label is normalised over its own frame (median / mean absolute
    deviation) before the mix, so that unit is gone: the loss of a batch whose second label is 10x (or 0.1x) is the
    same. The mixed label was normalised as one image, and the pasted box weighed by the square of its unit."""
    _, teacher, folder = setup
    quiet = {"flip_probability": 0.0, "jitter_probability": 0.0, "noise_std": 0.0, "feature_weight": 0.0}
    for cutmix in (1.0, 0.0):
        loss = {**quiet, "cutmix_probability": cutmix, "lidar_weight": 0.0}
        config = tiny_config(tmp_path, teacher, data={"folders": [str(folder)]}, loss=loss, run={"batch_size": 2})
        distill(config, label_only=True)
        trainer = DistillTrainer(config, PseudoLabelDataset(config.data.cache_dir))
        items = [trainer.dataset[i] for i in (0, 3)]
        batch = {k: torch.stack([item[k] for item in items]) for k in items[0]}
        with torch.no_grad():
            reference, _ = trainer.loss(batch, torch.Generator().manual_seed(5))
            for unit in (10.0, 0.1):
                scaled = dict(batch, label=batch["label"] * torch.tensor([1.0, unit]).view(-1, 1, 1, 1))
                value, _ = trainer.loss(scaled, torch.Generator().manual_seed(5))
                assert float(value) == pytest.approx(float(reference), rel=1e-5), (cutmix, unit)


@pytest.mark.parametrize("lidar_loss", ["l1", "berhu"])
def test_the_lidar_term_ignores_returns_beyond_the_students_depth_range(
    setup: tuple[Path, Path, Path], tmp_path: Path, lidar_loss: str
) -> None:
    """As the trainer's lidar_semi and supervised objectives: a return at or beyond ``student.max_depth_m`` is no
    target (the student's depth cannot exceed it; such returns pulled those pixels to saturation and, for berHu, set
    its threshold). The loss of a batch is the same whether its returns beyond the range are there or not, while a
    return moved within the range changes it."""
    _, teacher, folder = setup
    quiet = {"flip_probability": 0.0, "jitter_probability": 0.0, "noise_std": 0.0, "cutmix_probability": 0.0}
    loss = {**quiet, "feature_weight": 0.0, "lidar_weight": 1.0, "lidar_loss": lidar_loss}
    config = tiny_config(tmp_path, teacher, data={"folders": [str(folder)]}, loss=loss)
    distill(config, label_only=True)
    trainer = DistillTrainer(config, PseudoLabelDataset(config.data.cache_dir))
    assert trainer.uses_lidar
    items = [trainer.dataset[i] for i in (0, 1)]
    batch = {k: torch.stack([item[k] for item in items]) for k in items[0]}
    lidar = batch["lidar_depth"]
    returns = torch.isfinite(lidar) & (lidar > 0)
    assert int(returns.sum()) > 20
    beyond = returns & (torch.rand(lidar.shape, generator=torch.Generator().manual_seed(0)) < 0.5)
    limit = trainer.spec.max_depth_m
    with torch.no_grad():
        without = trainer.loss({**batch, "lidar_depth": torch.where(beyond, torch.nan, lidar)}, torch.Generator())
        at_limit = trainer.loss({**batch, "lidar_depth": torch.where(beyond, limit, lidar)}, torch.Generator())
        far = trainer.loss({**batch, "lidar_depth": torch.where(beyond, 3 * limit, lidar)}, torch.Generator())
        within = trainer.loss({**batch, "lidar_depth": torch.where(beyond, 0.5 * limit, lidar)}, torch.Generator())
    assert far[1]["lidar"] == pytest.approx(without[1]["lidar"], rel=1e-6), (far[1], without[1])
    assert at_limit[1]["lidar"] == pytest.approx(without[1]["lidar"], rel=1e-6)
    assert within[1]["lidar"] != pytest.approx(without[1]["lidar"], rel=1e-3)


def test_the_lidar_calibration_ignores_returns_beyond_the_students_depth_range(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """The calibration against LiDAR fits the student's inverse depth to the returns it was trained on: a return at
    or beyond ``student.max_depth_m`` (where the student saturates at 1 / max_depth_m, and which its LiDAR term
    ignores) does not move the fitted map, while one moved within the range does."""
    _, teacher, folder = setup
    loss = {"feature_weight": 0.0, "lidar_weight": 1.0}
    config = tiny_config(tmp_path, teacher, data={"folders": [str(folder)]}, loss=loss)
    distill(config, label_only=True)
    trainer = DistillTrainer(config, PseudoLabelDataset(config.data.cache_dir))
    assert trainer.uses_lidar
    cached = trainer.dataset
    limit = trainer.spec.max_depth_m

    class Moved:
        def __init__(self, value: float) -> None:
            self.value = value

        def __len__(self) -> int:
            return len(cached)

        def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
            item = dict(cached[index])
            lidar = item["lidar_depth"]
            returns = torch.isfinite(lidar) & (lidar > 0)
            beyond = returns & (torch.rand(lidar.shape, generator=torch.Generator().manual_seed(index)) < 0.5)
            item["lidar_depth"] = torch.where(beyond, self.value, lidar)
            return item

    fits = {}
    for name, value in (("without", float("nan")), ("at_limit", limit), ("far", 3 * limit), ("within", 0.5 * limit)):
        trainer.dataset = Moved(value)  # type: ignore[assignment]
        fits[name] = trainer.calibrate()
    for name in ("at_limit", "far"):
        assert (fits[name].scale, fits[name].shift) == pytest.approx((fits["without"].scale, fits["without"].shift))
        assert fits[name].pixels == fits["without"].pixels
    assert fits["within"].pixels > fits["without"].pixels


def test_a_distillation_resumed_with_its_lidar_term_now_on_logs_its_first_row(
    setup: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A run stopped off the log grid keeps its steps for the resumed row; resumed with ``loss.lidar_weight`` 0 -> 1
    (a metric teacher: the same student, a resume the checkpoint takes) its steps log a ``lidar`` part the saved ones
    lack: the first row raised KeyError; it averages the part over the steps that have it."""
    root, teacher, folder = setup
    data = {"folders": [str(folder)], "cache_dir": str(root / "shared_labels")}
    run = {"log_every": 3, "checkpoint_every": 2}
    distill(tiny_config(tmp_path, teacher, data=data, run=run, loss={"lidar_weight": 0.0}), stop_at_step=2)
    distill(tiny_config(tmp_path, teacher, data=data, run=run, loss={"lidar_weight": 1.0}), resume="auto")
    rows = list(csv.DictReader((tmp_path / "run" / "train.csv").open()))
    assert [int(row["step"]) for row in rows] == [3, 4]
