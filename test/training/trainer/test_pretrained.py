"""Fine-tuning a foundation model: a tiny random-weight Depth Anything V2 learns real KITTI frames with LiDAR.

The tiny DA-V2 (DINOv2 backbone of 4 layers × 32 channels, DPT neck 8-32) is written with ``save_pretrained`` as a
relative model, as a downloaded DA-V2 Small would be; ``model.pretrained`` fine-tunes it with LiDAR supervision on a
KITTI raw tree built from ../shared/data, and the result loads through the inference side in metres.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError, ConfigError
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.data.kitti_files import load_rgb
from mono_depth_ros.training.trainer.config import load_train_config
from mono_depth_ros.training.trainer.loop import Trainer
from mono_depth_ros.training.trainer.pretrained import PretrainedDepthNet, open_pretrained, record_trained_kind
from test.conftest import REPO_ROOT
from test.kitti_bag import LIDAR_TOPIC, load_kitti_frames, write_kitti_bag
from test.kitti_raw_tree import DRIVE, build_raw_tree
from test.training.tiny import fit_unvalidated, tiny_config

pytest.importorskip("transformers")

HEIGHT, WIDTH = 56, 182  # multiples of the 14 px ViT patch, KITTI's aspect


def write_tiny_depth_anything(directory: Path) -> Path:
    """A random-weight relative DA-V2 with a tiny DINOv2 backbone, saved in the Hugging Face layout."""
    import transformers

    from mono_depth_ros.models.depth_anything import DepthAnythingArch, hf_config

    arch = DepthAnythingArch(32, 2, 4, (1, 2, 3, 4), (8, 16, 32, 32), 16, head_hidden_size=8)
    torch.manual_seed(0)
    transformers.DepthAnythingForDepthEstimation(hf_config(arch)).save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="module")
def tiny_da(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_depth_anything(tmp_path_factory.mktemp("da") / "tiny_da_v2")


def finetune_config(tmp_path: Path, kitti_object_dir: Path, tiny_da: Path, **extra: object) -> object:
    root = build_raw_tree(kitti_object_dir, tmp_path / "raw")
    split = tmp_path / "train_files.txt"
    split.write_text(f"{DRIVE} 0 l\n{DRIVE} 1 l\n")
    values: dict[str, object] = {
        "data__kind": "kitti_raw",
        "data__root": str(root),
        "data__split": str(split),
        "data__scale_range": "[1.0, 1.0]",
        "data__flip_probability": 0.0,
        "model__pretrained": str(tiny_da),
        "model__input_height": HEIGHT,
        "model__input_width": WIDTH,
        "model__max_depth_m": 80.0,
        "loss__supervised_loss": "l1",
        "loss__scales": 1,
        "optim__lr": 4e-3,
        "optim__encoder_lr_scale": 0.1,
        "run__steps": 20,
        "run__checkpoint_every": 20,
        "run__log_every": 20,
    }
    values.update(extra)
    return tiny_config(tmp_path / "run", tmp_path / "cache", **values)


def test_tiny_depth_anything_learns_kitti_lidar_and_loads_in_metres(
    tiny_da: Path, kitti_object_dir: Path, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    trainer = Trainer(finetune_config(tmp_path, kitti_object_dir, tiny_da))  # type: ignore[arg-type]
    assert isinstance(trainer.depth_net, PretrainedDepthNet)
    assert trainer.spec.architecture == "depth_anything_v2" and trainer.spec.output_kind is OutputKind.METRIC
    lrs = {group["name"]: group["lr"] for group in trainer.optimizer.param_groups}
    assert lrs["encoder"] == pytest.approx(0.1 * lrs["head"])
    before = trainer.validate()
    result = fit_unvalidated(trainer)  # 20 epochs of a step: fit's own validation after each is unread
    after = trainer.validate()
    assert before is not None and after is not None and result.model_path is not None
    # random weights: 40 m everywhere (metric AbsRel 2.7); 20 steps on two frames' Velodyne depth: 0.53
    assert after.abs_rel < 0.3 * before.abs_rel, (before.abs_rel, after.abs_rel)
    assert after.rmse < 0.6 * before.rmse, (before.rmse, after.rmse)  # 27.1 m -> 11.2 m

    rgb = load_rgb(tmp_path / "raw" / DRIVE / "image_02" / "data" / "0000000000.png")
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    checkpoint = DepthEstimator.open("torch", result.model_path, options)
    assert checkpoint.output_kind is OutputKind.METRIC and checkpoint.spec.input.height == HEIGHT
    assert checkpoint.golden_report is not None and checkpoint.golden_report.passed
    metres = checkpoint.predict(rgb).values
    assert metres.shape == rgb.shape[:2]
    assert 3.0 < float(np.nanmedian(metres)) < 40.0  # KITTI scene depth in metres, not relative units
    directory = DepthEstimator.open("depth_anything_v2", result.model_path.parent / "pretrained", options)
    assert directory.output_kind is OutputKind.METRIC and directory.spec.max_depth_m == 80.0
    assert np.isfinite(directory.predict(rgb).values).all()


def test_frozen_encoder_keeps_its_weights(tiny_da: Path, kitti_object_dir: Path, tmp_path: Path) -> None:
    config = finetune_config(
        tmp_path,
        kitti_object_dir,
        tiny_da,
        model__freeze_encoder=True,
        optim__encoder_lr_scale=1.0,
        run__steps=2,
        run__validate=False,
    )
    trainer = Trainer(config)  # type: ignore[arg-type]
    named = dict(trainer.saved_net.named_parameters())
    encoder = {k: v.detach().clone() for k, v in named.items() if k.startswith("model.backbone.")}
    head = {k: v.detach().clone() for k, v in named.items() if k.startswith("model.head.")}
    assert encoder and head and [g["name"] for g in trainer.optimizer.param_groups] == ["head"]
    trainer.fit()
    assert all(torch.equal(named[k], v) for k, v in encoder.items())
    assert any(not torch.equal(named[k], v) for k, v in head.items())
    resumed = Trainer(config)  # type: ignore[arg-type]
    resumed.resume()  # the step-2 checkpoint: the fine-tuned weights and the optimiser of the head group
    assert resumed.step == 2
    assert all(torch.equal(p, named[k]) for k, p in resumed.saved_net.named_parameters())


def test_open_pretrained_errors(tiny_da: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="multiples of 14"):
        open_pretrained(tiny_da, OutputKind.METRIC, 80.0, (64, 192))
    with pytest.raises(ConfigError, match="relative inverse"):
        open_pretrained(tiny_da, OutputKind.RELATIVE_INVERSE, 80.0, (56, 182))
    (tmp_path / "config.json").write_text('{"model_type": "dpt"}')
    with pytest.raises(ConfigError, match="supports"):
        open_pretrained(tmp_path, OutputKind.METRIC, 80.0, (56, 182))
    monkeypatch.setenv("HOME", str(tmp_path))  # "~" in a YAML or --set model.pretrained=~/m: no shell expands it
    with pytest.raises(ConfigError, match="supports"):  # read: the dpt config.json above
        open_pretrained("~", OutputKind.METRIC, 80.0, (56, 182))


def test_a_pretrained_folder_whose_config_links_to_nothing_names_the_link(tmp_path: Path) -> None:
    """model.pretrained = a Hugging Face cache snapshot copied with `cp -r` (its links kept, the blobs left behind):
    the refusal said "cannot read config.json ([Errno 2] No such file or directory)"; it now names the link, its
    target and the copy that keeps the files, as model.weights does (docs/reliability.md)."""
    import os

    copied = tmp_path / "robot" / "model"
    copied.mkdir(parents=True)
    os.symlink("../../blobs/0123", copied / "config.json")
    with pytest.raises(CheckpointError, match=r"config\.json is a symbolic link to \.\./\.\./blobs/0123") as refused:
        open_pretrained(copied, OutputKind.METRIC, 80.0, (56, 182))
    assert "cp -rL" in str(refused.value) and "model.pretrained" in str(refused.value), refused.value


def test_shipped_finetune_config_reads() -> None:
    config = load_train_config(REPO_ROOT / "config" / "train_finetune_depth_anything_kitti.yaml")
    assert config.model.pretrained and config.optim.encoder_lr_scale == 0.1
    assert config.model.input_height % 14 == 0 and config.model.input_width % 14 == 0
    assert config.output_kind is OutputKind.METRIC
    with pytest.raises(ConfigError, match=r"freeze_encoder needs model\.pretrained"):
        load_train_config(None, ["model.freeze_encoder=true"])
    with pytest.raises(ConfigError, match="encoder_lr_scale"):
        load_train_config(None, ["optim.encoder_lr_scale=0"])


@pytest.mark.parametrize(
    "overrides",
    [
        ["data.kind=rosbag", "data.root=BAG", "data.lidar_topic=/lidar/points", "data.cache_dir=DIR"],
        ["data.kind=kitti_depth", "data.root=KITTI_DEPTH"],
        ["data.kind=folder", "data.root=FOLDER"],
        ["data.kind=nyu", "data.root=NYU"],
    ],
)
def test_shipped_finetune_config_takes_the_data_kinds_its_header_names(overrides: list[str]) -> None:
    """The header of the shipped fine-tuning config gives the other kinds with --set: none may be refused for a
    setting of the KITTI raw run that the YAML itself carries (a split file: read by kitti_raw / nyu only)."""
    config = load_train_config(REPO_ROOT / "config" / "train_finetune_depth_anything_kitti.yaml", overrides)
    assert config.data.kind == overrides[0].split("=")[1] and config.data.split == ""


def test_tiny_depth_anything_learns_a_rosbag_lidar(tiny_da: Path, kitti_object_dir: Path, tmp_path: Path) -> None:
    """The same fine-tuning on a robot's recording: a rosbag2 with camera, camera_info, Velodyne and TF."""
    bag = tmp_path / "bag"
    write_kitti_bag(bag, load_kitti_frames(kitti_object_dir, ("000001", "000002")))
    config = finetune_config(
        tmp_path,
        kitti_object_dir,
        tiny_da,
        data__kind="rosbag",
        data__root=str(bag),
        data__split="''",
        data__lidar_topic=LIDAR_TOPIC,
        data__cache_dir=str(tmp_path / "bag_frames"),
    )
    torch.manual_seed(0)
    trainer = Trainer(config)  # type: ignore[arg-type]
    before = trainer.validate()
    fit_unvalidated(trainer)  # 20 epochs of a step: fit's own validation after each is unread
    after = trainer.validate()
    assert before is not None and after is not None and after.count == 2
    assert after.abs_rel < 0.3 * before.abs_rel, (before.abs_rel, after.abs_rel)


@pytest.mark.parametrize("family", ["glpn"])
def test_a_tiny_metric_transformers_family_learns_kitti_lidar(
    family: str, kitti_object_dir: Path, tmp_path: Path
) -> None:
    """A GLPN directory fine-tunes like Depth Anything; the result loads as a checkpoint and as a directory."""
    from test.models.hf_tiny import write_tiny_family

    directory = write_tiny_family(family, tmp_path / family)
    config = finetune_config(
        tmp_path, kitti_object_dir, directory, model__input_height=64, model__input_width=224, run__steps=20
    )
    torch.manual_seed(0)
    trainer = Trainer(config)  # type: ignore[arg-type]
    assert trainer.spec.architecture == "transformers" and trainer.spec.output_kind is OutputKind.METRIC
    assert {group["name"] for group in trainer.optimizer.param_groups} == {"encoder", "head"}
    before = trainer.validate()
    result = fit_unvalidated(trainer)  # 20 epochs of a step: fit's own validation after each is unread
    after = trainer.validate()
    assert before is not None and after is not None and result.model_path is not None
    assert after.abs_rel < 0.8 * before.abs_rel, (before.abs_rel, after.abs_rel)
    rgb = load_rgb(tmp_path / "raw" / DRIVE / "image_02" / "data" / "0000000000.png")
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    checkpoint = DepthEstimator.open("torch", result.model_path, options)
    assert checkpoint.output_kind is OutputKind.METRIC
    assert 1.0 < float(np.nanmedian(checkpoint.predict(rgb).values)) < 80.0
    # the node's model.backend for this file: 'transformers' (the name its architecture check asks for); it used to
    # want a directory, while 'unet' sent the user back to 'transformers'
    node = DepthEstimator.open("transformers", result.model_path, options)
    np.testing.assert_array_equal(node.predict(rgb).values, checkpoint.predict(rgb).values)
    saved = DepthEstimator.open("transformers", result.model_path.parent / "pretrained", options)
    assert saved.output_kind is OutputKind.METRIC  # the same weights, fed as training fed them (see below)
    trained = checkpoint.backend.module.network.state_dict()  # type: ignore[attr-defined]
    for name, tensor in saved.backend.module.network.state_dict().items():  # type: ignore[attr-defined]
        torch.testing.assert_close(tensor, trained[name])


def test_a_directory_the_project_checkpoint_cannot_rebuild_is_refused_before_training(tmp_path: Path) -> None:
    # a DINOv2 backbone with image_size 56 (17 position embeddings, not 518's 1370) fine-tuned to the end and then
    # crashed in save_final: build_model(spec) rebuilt a 518 backbone and the trained tensors did not load
    from test.models.hf_tiny import write_tiny_family

    directory = write_tiny_family("depth_anything", tmp_path / "da_56")
    with pytest.raises(
        ConfigError, match=r"position_embeddings: \(1, 17, 32\) here, \(1, 1370, 32\) in the checkpoint"
    ):
        open_pretrained(directory, OutputKind.METRIC, 10.0, (70, 98))


def test_an_fp16_hub_directory_fine_tunes_in_float32(tmp_path: Path) -> None:
    """A Depth Anything directory saved in fp16 (config.json dtype float16) loaded as fp16 (transformers 5 follows
    config.json): AdamW then stepped fp16 weights, whose resolution swallows fine-tuning's small updates."""
    import transformers

    directory = write_tiny_depth_anything(tmp_path / "da")
    transformers.AutoModelForDepthEstimation.from_pretrained(str(directory)).half().save_pretrained(str(directory))
    model = open_pretrained(directory, OutputKind.METRIC, 80.0, (HEIGHT, WIDTH))
    assert {parameter.dtype for parameter in model.network.parameters()} == {torch.float32}


def test_resume_with_the_encoder_frozen_otherwise_names_that_setting(
    tiny_da: Path, kitti_object_dir: Path, tmp_path: Path
) -> None:
    """A fine-tune on real KITTI frames with ``model.freeze_encoder`` true, resumed with it false: the optimiser has
    another number of parameter groups, and the error said "it was trained with loss.objective=supervised, this run
    has supervised", the one setting that had not changed (2a35d6f named the loss settings only). It names the
    setting that differs, its value as YAML and the config errors give it (``true``: it said Python's ``True``)."""
    frozen = finetune_config(
        tmp_path / "a",
        kitti_object_dir,
        tiny_da,
        model__freeze_encoder=True,
        optim__encoder_lr_scale=1.0,
        run__steps=2,
        run__validate=False,
    )
    Trainer(frozen).fit()  # type: ignore[arg-type]
    thawed = finetune_config(
        tmp_path / "b", kitti_object_dir, tiny_da, model__freeze_encoder=False, run__steps=4, run__validate=False
    )
    checkpoint = tmp_path / "a" / "run" / "checkpoints" / "step_0000002.safetensors"
    with pytest.raises(CheckpointError, match=r"trained with model\.freeze_encoder=true, this run has .*=false"):
        Trainer(thawed).resume(checkpoint)  # type: ignore[arg-type]


def test_a_fully_scale_invariant_silog_fine_tunes_depth_up_to_scale_as_the_module_says(
    tiny_da: Path, kitti_object_dir: Path, tmp_path: Path
) -> None:
    """``supervised`` with ``loss.silog_lambda: 1`` (one loss for a prediction and any multiple of it) fine-tunes a
    Depth Anything directory to depth up to scale, which the node must scale; the module's docstring said every
    ``supervised`` objective needs (and makes) metres. The spec is ``depth_up_to_scale``, and the docstring says so."""
    from mono_depth_ros.training.trainer import pretrained

    config = finetune_config(tmp_path, kitti_object_dir, tiny_da, loss__supervised_loss="silog", loss__silog_lambda=1.0)
    trainer = Trainer(config)  # type: ignore[arg-type]
    assert isinstance(trainer.depth_net, PretrainedDepthNet)
    assert trainer.spec.output_kind is OutputKind.DEPTH_UP_TO_SCALE
    doc = " ".join((pretrained.__doc__ or "").split())
    assert "``loss.silog_lambda`` 1" in doc and "depth up to scale" in doc, doc


def test_the_directory_of_a_depth_up_to_scale_fine_tune_loads_up_to_scale(
    tiny_da: Path, kitti_object_dir: Path, tmp_path: Path
) -> None:
    """A ``loss.silog_lambda: 1`` fine-tune (2 steps on real KITTI frames) saves a ``depth_up_to_scale`` checkpoint
    and ``<out>/pretrained/``, whose config.json says ``depth_estimation_type: metric`` (the head it trained): the
    node (``model.backend: depth_anything_v2`` on that directory) published its depth of arbitrary scale as metres
    (seen: OutputKind.METRIC). The directory now records the kind it was trained to, and loads up to scale, so the
    node recovers the scale; stating ``model.output_kind=metric`` for it is refused."""
    steps = {"run__steps": 2, "run__checkpoint_every": 2, "run__log_every": 1}
    silog = {"loss__supervised_loss": "silog", "loss__silog_lambda": 1.0}
    result = Trainer(finetune_config(tmp_path, kitti_object_dir, tiny_da, **steps, **silog)).fit()  # type: ignore[arg-type]
    assert result.model_path is not None
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    assert DepthEstimator.open("torch", result.model_path, options).output_kind is OutputKind.DEPTH_UP_TO_SCALE
    directory = result.model_path.parent / "pretrained"
    assert DepthEstimator.open("depth_anything_v2", directory, options).output_kind is OutputKind.DEPTH_UP_TO_SCALE
    with pytest.raises(CheckpointError, match="predicts depth_up_to_scale"):
        DepthEstimator.open("depth_anything_v2", directory, replace(options, output_kind="metric"))


def test_a_metric_fine_tune_of_an_up_to_scale_directory_loads_as_metres(
    tiny_da: Path, kitti_object_dir: Path, tmp_path: Path
) -> None:
    """A metric fine-tune (L1 on LiDAR, 2 steps on real KITTI frames) started from the ``pretrained/`` directory of
    a ``loss.silog_lambda: 1`` run: transformers keeps ``mono_depth_output_kind`` as a config attribute and
    ``save_pretrained`` wrote it again, so the metric run's directory still said depth up to scale and the node
    threw its metres away (rescaled them by scale recovery)."""
    steps = {"run__steps": 2, "run__checkpoint_every": 2, "run__log_every": 1}
    silog = {"loss__supervised_loss": "silog", "loss__silog_lambda": 1.0}
    first = Trainer(finetune_config(tmp_path / "a", kitti_object_dir, tiny_da, **steps, **silog)).fit()  # type: ignore[arg-type]
    assert first.model_path is not None
    up_to_scale = first.model_path.parent / "pretrained"
    second = Trainer(finetune_config(tmp_path / "b", kitti_object_dir, up_to_scale, **steps)).fit()  # type: ignore[arg-type]
    assert second.model_path is not None
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    assert DepthEstimator.open("torch", second.model_path, options).output_kind is OutputKind.METRIC
    directory = second.model_path.parent / "pretrained"
    assert DepthEstimator.open("depth_anything_v2", directory, options).output_kind is OutputKind.METRIC


def test_a_kind_record_interrupted_while_it_writes_leaves_the_directory_loadable(
    tiny_da: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``record_trained_kind`` rewrote ``pretrained/config.json`` in place (``write_text`` truncates first): Ctrl-C
    (or a full disk) in the write left the JSON cut short, and the fine-tuned directory no longer loaded at all. It is
    written beside and renamed once whole: the directory keeps its config and loads as it did, and no temporary file
    is left."""
    directory = Path(shutil.copytree(tiny_da, tmp_path / "pretrained"))
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    kind = DepthEstimator.open("depth_anything_v2", directory, options).output_kind
    before = sorted(directory.iterdir())
    config = (directory / "config.json").read_text(encoding="utf-8")
    write_text = Path.write_text

    def cut_short(path: Path, text: str, *args: object, **kwargs: object) -> int:
        write_text(path, text[: len(text) // 2], *args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", cut_short)
    with pytest.raises(KeyboardInterrupt):
        record_trained_kind(directory, OutputKind.DEPTH_UP_TO_SCALE)
    monkeypatch.undo()
    assert sorted(directory.iterdir()) == before
    assert (directory / "config.json").read_text(encoding="utf-8") == config
    assert DepthEstimator.open("depth_anything_v2", directory, options).output_kind is kind


def test_the_fine_tuned_directory_feeds_the_network_as_training_did(
    tiny_da: Path, kitti_object_dir: Path, tmp_path: Path
) -> None:
    """The node serves ``<out_dir>/pretrained/`` at the training input (fixed 56x182, bilinear), not at Depth Anything's
    published 518 keep-aspect bicubic (266x882 on KITTI), and its output is training's ``predict`` of the frame."""
    import torch.nn.functional as F

    config = finetune_config(
        tmp_path, kitti_object_dir, tiny_da, run__steps=2, run__checkpoint_every=2, run__validate=False
    )
    torch.manual_seed(0)
    trainer = Trainer(config)  # type: ignore[arg-type]
    result = trainer.fit()
    assert result.model_path is not None
    rgb = load_rgb(kitti_object_dir / "image_2" / "000000.png")
    assert rgb.shape[:2] == (370, 1224)
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    served = DepthEstimator.open("depth_anything_v2", result.model_path.parent / "pretrained", options)
    assert served.network_hw(rgb.shape[:2]) == (HEIGHT, WIDTH)
    assert served.spec.input.interpolation == trainer.spec.input.interpolation == "bilinear"
    assert served.spec.mean == trainer.spec.mean and served.spec.std == trainer.spec.std
    # training's view of the frame (the whole frame resized, bilinear, antialiased) at 8 bits, as the node resizes it
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(255.0)
    view = F.interpolate(image, size=(HEIGHT, WIDTH), mode="bilinear", align_corners=False, antialias=True)
    view_u8 = view[0].permute(1, 2, 0).mul(255.0).round().clamp(0, 255).to(torch.uint8).numpy()
    trained = trainer.predict(view_u8)
    seen = served.predict(rgb, out_hw=(HEIGHT, WIDTH)).values
    assert seen.shape == trained.shape == (HEIGHT, WIDTH)
    # two steps from random weights vary little across the frame (~2 mm): equal within 5 % of that variation
    assert float(np.ptp(trained)) > 0.0
    assert float(np.abs(seen - trained).max()) < 0.05 * float(np.ptp(trained))


def test_a_fine_tuned_glpn_directory_feeds_the_network_as_training_did(kitti_object_dir: Path, tmp_path: Path) -> None:
    """GLPN's ``pretrained/`` carried the original processor file (no resize, sides floored to 32: KITTI at
    352x1216 under its defaults) while training fed 64x224: served at the training input now, with training's
    output (the project checkpoint of the same run, which the node feeds as training did)."""
    from test.models.hf_tiny import write_tiny_family

    directory = write_tiny_family("glpn", tmp_path / "glpn")
    config = finetune_config(
        tmp_path, kitti_object_dir, directory, model__input_height=64, model__input_width=224, run__steps=2,
        run__checkpoint_every=2, run__validate=False,
    )  # fmt: skip
    torch.manual_seed(0)
    result = Trainer(config).fit()  # type: ignore[arg-type]
    assert result.model_path is not None
    rgb = load_rgb(kitti_object_dir / "image_2" / "000000.png")
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    checkpoint = DepthEstimator.open("torch", result.model_path, options)
    served = DepthEstimator.open("transformers", result.model_path.parent / "pretrained", options)
    assert served.network_hw(rgb.shape[:2]) == checkpoint.network_hw(rgb.shape[:2]) == (64, 224)
    assert served.spec.input.interpolation == "bilinear" and not served.spec.input.keep_aspect
    expected = checkpoint.predict(rgb, out_hw=(64, 224)).values
    assert float(np.ptp(expected)) > 0.0
    assert float(np.abs(served.predict(rgb, out_hw=(64, 224)).values - expected).max()) < 0.05 * float(np.ptp(expected))


def test_a_fine_tune_saved_over_a_folder_with_a_processor_config_is_fed_as_training_did(
    tiny_da: Path, tmp_path: Path
) -> None:
    """A fine-tune saved into the folder it started from (``model.pretrained: OUT/pretrained``, ``run.out_dir: OUT``)
    that holds transformers 5's ``processor_config.json``: the save wrote the training input into
    preprocessor_config.json only, and the nested ``image_processor`` entry, which the node and transformers read
    first, still said 518 keep-aspect bicubic, so the directory was served at 266x882 instead of training's 56x182.
    The entry now says what preprocessor_config.json says; the file's other entries are kept."""
    import transformers

    directory = Path(shutil.copytree(tiny_da, tmp_path / "run" / "pretrained"))
    published = {
        "image_processor_type": "DPTImageProcessor", "do_resize": True, "size": {"height": 518, "width": 518},
        "keep_aspect_ratio": True, "ensure_multiple_of": 14, "resample": 3, "do_rescale": True,
        "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225], "do_pad": False,
    }  # fmt: skip
    nested = {"image_processor": published, "processor_class": "DepthProcessor"}
    (directory / "processor_config.json").write_text(json.dumps(nested), encoding="utf-8")
    options = EstimatorConfig(device="cpu", warmup_runs=0)
    assert DepthEstimator.open("depth_anything_v2", directory, options).network_hw((370, 1224)) == (266, 882)
    model = open_pretrained(directory, OutputKind.METRIC, 80.0, (HEIGHT, WIDTH))
    model.save_directory(model.network, directory)
    served = DepthEstimator.open("depth_anything_v2", directory, options)
    assert served.network_hw((370, 1224)) == (HEIGHT, WIDTH)
    assert served.spec.input.interpolation == "bilinear" and not served.spec.input.keep_aspect
    read = transformers.AutoImageProcessor.from_pretrained(str(directory), local_files_only=True)
    assert (read.size.height, read.size.width, read.keep_aspect_ratio) == (HEIGHT, WIDTH, False)
    saved = json.loads((directory / "processor_config.json").read_text(encoding="utf-8"))
    assert saved["processor_class"] == "DepthProcessor"
    assert saved["image_processor"] == json.loads((directory / "preprocessor_config.json").read_text(encoding="utf-8"))
