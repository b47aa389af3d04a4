"""Tests for training/trainer_config.py: YAML loading, overrides, refusal of unknown keys and bad values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import yaml

from mono_depth_ros.config import read_yaml_file
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.evaluation.depth import PROTOCOLS
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.training.data.augment import AugmentConfig
from mono_depth_ros.training.data.kitti_depth import KittiDepthDataset
from mono_depth_ros.training.data.kitti_files import load_depth_png
from mono_depth_ros.training.data.real import RecordedDepthDataset, fit_to_input
from mono_depth_ros.training.objectives.losses import silog_loss
from mono_depth_ros.training.trainer.config import LossConfig, TrainConfig, config_from_mapping, load_train_config
from mono_depth_ros.training.trainer.setup import build_spec

REPO = Path(__file__).resolve().parents[3]


def test_defaults_and_round_trip(tmp_path: Path) -> None:
    config = load_train_config(None)
    assert config == TrainConfig()
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml())
    assert load_train_config(path) == config


@pytest.mark.parametrize("name", ["supervised", "selfsup", "lidar_semi"])
def test_shipped_configs_load(name: str) -> None:
    config = load_train_config(REPO / "config" / f"train_{name}_synthetic.yaml")
    assert config.loss.objective == name
    assert config.output_kind is (OutputKind.DEPTH_UP_TO_SCALE if name == "selfsup" else OutputKind.METRIC)
    assert not set(config.data.train_seeds) & set(config.data.val_seeds)


def test_overrides_parse_yaml_values(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("run:\n  steps: 5\noptim:\n  lr: 1e-3\n")
    config = load_train_config(path, ["run.steps=7", "data.train_seeds=[4, 5]", "run.progress=false", "optim.lr=2e-4"])
    assert config.run.steps == 7 and config.data.train_seeds == (4, 5) and config.run.progress is False
    assert config.optim.lr == pytest.approx(2e-4)
    assert load_train_config(path).optim.lr == pytest.approx(1e-3)  # YAML 1.1 reads 1e-3 as a string: converted


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"trainer": {}}, "unknown config sections"),
        ({"rnu": {"steps": 1}}, r"unknown config sections \['rnu'\]; did you mean run\?"),
        ({"/**": {"ros__parameters": {}}}, r"this is a ROS params file for mono_depth_node"),
        ({"run": {"stepz": 1}}, r"unknown keys \['stepz'\] in section 'run'; did you mean steps\?"),
        ({"run": {"steps": "many"}}, "run.steps='many' is not a valid int"),
        ({"run": {"progress": "yes"}}, "true or false"),
        ({"run": {"amp": "fp8"}}, "run.amp"),
        # named both settings and dumped the whole RunConfig, or named neither value
        ({"run": {"batch_size": 0}}, r"run\.batch_size must be >= 1, got 0$"),
        ({"run": {"log_every": 0}}, r"run\.log_every must be >= 1, got 0$"),
        (
            {"run": {"keep_checkpoints": -1}},
            r"run\.keep_checkpoints must be >= 0 \(0 = keep every checkpoint\), got -1",
        ),
        ({"model": {"input_height": 100}}, "multiples of 32"),
        ({"data": {"val_seeds": [1]}}, "held out"),
        ({"loss": {"scales": 5}}, "loss.scales"),
        ({"optim": {"schedule": "step"}}, "optim.schedule"),
        ({"data": {"kind": "kitti"}}, "data.kind"),
        ({"run": []}, "must be a mapping"),
        ({"data": {"scale_range": [1.2, 0.8]}}, r"data\.scale_range \(1\.2, 0\.8\) must satisfy 0 < low <= high"),
        ({"data": {"flip_probability": 2}}, r"data\.flip_probability=2\.0 must be in \[0, 1\]"),
        ({"data": {"brightness": -1}}, r"data\.brightness=-1\.0 must be >= 0"),
        ({"data": {"noise_std": -0.1}}, r"data\.noise_std=-0\.1 must be >= 0"),
        ({"data": {"hue": 0.8}}, r"data\.hue=0\.8 must be in \[0, 0\.5\] \(turns"),
        # AdamW raised ValueError with a traceback after the set-up; NaN clipping was silently off
        ({"optim": {"weight_decay": -0.01}}, r"optim\.weight_decay -0\.01 must be >= 0 \(0 = no decay\)"),
        ({"optim": {"grad_clip_norm": float("nan")}}, r"optim\.grad_clip_norm nan must be >= 0 \(0 = no clipping\)"),
        ({"optim": {"grad_clip_norm": -1}}, r"optim\.grad_clip_norm -1\.0 must be >= 0"),
        ({"optim": {"lr": float("nan")}}, r"optim\.lr nan must be > 0"),
        ({"optim": {"lr": 0}}, r"optim\.lr 0\.0 must be > 0"),
        ({"optim": {"min_lr_ratio": 2}}, r"optim\.min_lr_ratio 2\.0 must be in \[0, 1\]"),
        ({"optim": {"warmup_steps": -1}}, r"optim\.warmup_steps -1 must be >= 0"),
        # an infinite cap trained a metric network with no depth bound and wrote "max_depth_m": Infinity (no JSON) into
        # the exported spec sidecar
        (
            {"model": {"max_depth_m": float("inf")}},
            r"model\.min_depth_m 0\.1 and model\.max_depth_m inf must satisfy 0 < min < max, both finite",
        ),
        ({"model": {"min_depth_m": 200.0}}, r"model\.min_depth_m 200\.0 and model\.max_depth_m 100\.0 must satisfy"),
        # the poly decay's (1 - progress) ** -1 divided by zero at the last step
        ({"optim": {"schedule": "poly", "poly_power": -1}}, r"optim\.poly_power -1\.0 must be >= 0"),
        # null (an empty 'key:' too; Lightning's gradient_clip_val: None = off) said only "=None is not a valid float"
        (
            {"optim": {"grad_clip_norm": None}},
            r"optim\.grad_clip_norm is null .*: give a float \(0 = no clipping\), or leave the key out for its "
            r"default \(1\.0\)$",
        ),
        ({"run": {"steps": None}}, r"run\.steps is null .*give an int, or leave the key out for its default \(1000\)$"),
    ],
)
def test_bad_values_are_refused(data: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        config_from_mapping(data)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_train_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_train_config(bad)
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        load_train_config(None, ["steps=3"])
    bad.write_text("model: 3\n")  # a section that is not a mapping: a ConfigError, not a TypeError from the overrides
    with pytest.raises(ConfigError, match=r"config section 'model' must be a mapping, got 3"):
        load_train_config(bad, ["run.steps=2"])


def test_a_key_given_twice_is_named_by_its_dotted_path(tmp_path: Path) -> None:
    """``weight`` twice under ``loss`` was named ``'weight'``: which of the sections' ``weight`` was left to the
    user; the error names ``'loss.weight'`` (and a key inside a list by its index), with both lines."""
    twice = tmp_path / "twice.yaml"
    twice.write_text("run:\n  steps: 2\nloss:\n  weight: 1\n  objective: supervised\n  weight: 2\n")
    with pytest.raises(ConfigError, match=r"'loss\.weight' is given twice \(lines 4 and 6\).*line 6"):
        load_train_config(twice)
    twice.write_text("data:\n  folders:\n    - {root: a, root: b}\n")
    with pytest.raises(ConfigError, match=r"'data\.folders\[0\]\.root' is given twice \(lines 3 and 3\)"):
        load_train_config(twice)
    twice.write_text("model: {a: 1}\nrun: {steps: 1}\nmodel: {b: 2}\n")  # a section: its name alone, as before
    with pytest.raises(ConfigError, match=r"'model' is given twice \(lines 1 and 3\).*write one 'model' with both"):
        load_train_config(twice)


def test_a_section_or_key_given_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    """YAML keeps the last of two equal keys: a second ``model:`` section (a recipe pasted below another) dropped the
    first one's input size, and the run trained at the default 96x320 without a word; so did ``steps`` twice."""
    twice = tmp_path / "twice.yaml"
    twice.write_text("model:\n  input_height: 64\n  input_width: 192\nrun:\n  steps: 2\nmodel:\n  encoder: resnet34\n")
    with pytest.raises(
        ConfigError,
        match=r"twice\.yaml: 'model' is given twice \(lines 1 and 6\).*every setting of the first: write one 'model' "
        r"with both",
    ):
        load_train_config(twice)
    twice.write_text("run:\n  steps: 2\n  batch_size: 1\n  steps: 3\n")
    with pytest.raises(
        ConfigError, match=r"'run\.steps' is given twice \(lines 2 and 4\).*line 4.*keep one, the value"
    ):
        load_train_config(twice)  # "write one 'steps' with both" was no remedy for a number
    twice.write_text("run: {steps: 2, steps: 3}\n")  # both on one line
    with pytest.raises(ConfigError, match=r"'run\.steps' is given twice \(lines 1 and 1\)"):
        load_train_config(twice)
    # a merge key ('<<: *anchor') and the keys after it that override its own are one mapping's keys, as YAML means
    merged = "base: &b {steps: 2, batch_size: 1}\nrun:\n  <<: *b\n  steps: 3\nval:\n  <<: [*b, {lr: 1}]\n  <<: {x: 1}\n"
    twice.write_text(merged)
    assert read_yaml_file(twice, "training config", unique_keys=True) == yaml.safe_load(merged)
    twice.write_text(merged + "  x: 2\n  lr: 3\n  lr: 4\n")  # a key given twice after a merge is still refused
    with pytest.raises(ConfigError, match=r"'val\.lr' is given twice \(lines 9 and 10\)"):
        load_train_config(twice)
    twice.write_text("run:\n  steps: 2\nmodel:\n  input_height: 64\n")  # each key once: read as before
    assert (load_train_config(twice).run.steps, load_train_config(twice).model.input_height) == (2, 64)


def test_a_fully_scale_invariant_silog_trains_depth_up_to_scale(kitti_depth_dir: Path) -> None:
    """``loss.silog_lambda: 1`` ("fully scale-invariant", as documented) gives one loss for a prediction and any
    multiple of it (real KITTI annotated depth below): the run learns depth at an arbitrary scale, but its checkpoint
    declared metres (every supervised run did), and the node published that scale as metres without asking for a
    scale source. Such a run is depth up to scale; any λ below 1 keeps the scale and stays metric."""
    depth = torch.from_numpy(load_depth_png(kitti_depth_dir / "depth" / "0000000005.png"))[None, None].double()
    mask = torch.isfinite(depth) & (depth > 0)
    ramp = torch.linspace(0.8, 1.3, depth.shape[-1], dtype=torch.float64)  # a prediction off by more than a scale
    prediction = torch.where(mask, depth, torch.ones_like(depth)) * ramp
    for factor in (0.1, 3.0, 40.0):
        assert torch.isclose(
            silog_loss(prediction * factor, depth, mask, 1.0), silog_loss(prediction, depth, mask, 1.0)
        )
    assert not torch.isclose(silog_loss(prediction * 3.0, depth, mask, 0.99), silog_loss(prediction, depth, mask, 0.99))
    config = load_train_config(None, ["loss.silog_lambda=1.0"])
    assert config.output_kind is OutputKind.DEPTH_UP_TO_SCALE
    assert build_spec(config).output_kind is OutputKind.DEPTH_UP_TO_SCALE
    assert load_train_config(None, ["loss.silog_lambda=0.99"]).output_kind is OutputKind.METRIC
    assert load_train_config(None, ["loss.supervised_loss=l1"]).output_kind is OutputKind.METRIC  # no λ: metric


def test_a_zoom_out_range_the_recorded_data_cannot_take_is_refused(kitti_depth_dir: Path) -> None:
    """``data.scale_range`` below 1 was taken and did nothing: a recorded frame is first fit to the input size, and
    the zoom is raised to cover the crop window, so [0.5, 1.0] trained on the frames as they are (real KITTI frames
    below: every augmented item the unzoomed view) and [0.8, 1.3] zoomed less often than asked. It is refused, naming
    the value and the range that works."""
    frames = KittiDepthDataset.from_annotations(kitti_depth_dir)
    asked = AugmentConfig(scale_range=(0.5, 1.0), flip_probability=0.0, jitter_probability=0.0)
    dataset = RecordedDepthDataset(frames, 96, 32, asked, PROTOCOLS["kitti_improved"])
    for index in range(len(dataset)):
        assert torch.equal(dataset.sample(index).rgb, fit_to_input(frames[index], 96, 32).rgb)
    for low, high in ((0.5, 1.0), (0.8, 1.3)):
        with pytest.raises(ConfigError, match=rf"data\.scale_range \({low}, {high}\): .*zoom out.*low >= 1"):
            load_train_config(None, [f"data.scale_range=[{low}, {high}]"])
    recorded = ["data.kind=kitti_depth", f"data.root={kitti_depth_dir}"]
    assert load_train_config(None, [*recorded, "data.scale_range=[1.0, 1.3]"]).data.scale_range == (1.0, 1.3)


@pytest.mark.parametrize("kind", ["nyu", "kitti_depth", "kitti_raw", "rosbag"])
def test_a_png_scale_for_a_kind_that_reads_none_is_refused(nyu_dir: Path, kind: str) -> None:
    """``data.png_scale`` is read by ``data.kind folder`` only (the other kinds' depth unit is fixed: NYU / KITTI
    PNGs, LiDAR); ``kind: nyu`` on the real NYU frames with ``png_scale: 256`` trained on their millimetres without a
    word. Refused naming the value and the kind that reads it; the default written out, as a config shared between
    kinds may carry it, is taken."""
    given = [f"data.kind={kind}", f"data.root={nyu_dir}"]
    with pytest.raises(ConfigError, match=rf"data\.png_scale 256 is not read by data\.kind {kind}: .*folder"):
        load_train_config(None, [*given, "data.png_scale=256"])
    assert load_train_config(None, [*given, "data.png_scale=1000"]).data.png_scale == 1000.0
    assert load_train_config(None, ["data.kind=folder", f"data.root={nyu_dir}", "data.png_scale=256"]).data.kind


@pytest.mark.parametrize("kind", ["synthetic", "folder", "kitti_raw", "rosbag"])
@pytest.mark.parametrize("offsets", ["[-1, -1]", "[1, -1, 1]"])
def test_a_source_frame_named_twice_in_frame_offsets_is_refused(kind: str, offsets: str) -> None:
    """``data.frame_offsets: [-1, -1]`` was taken: every target got the same source frame twice (a second copy of
    one photometric term, the next frame never used), which a typo of ``[-1, 1]`` gives without a word. Refused
    naming the offset given twice, for every kind; distinct offsets are taken."""
    given = [f"data.kind={kind}", "loss.objective=selfsup"] + ([] if kind == "synthetic" else ["data.root=somewhere"])
    with pytest.raises(ConfigError, match=r"data\.frame_offsets \[.*\] names source frame -?1 twice"):
        load_train_config(None, [*given, f"data.frame_offsets={offsets}"])
    assert load_train_config(None, [*given, "data.frame_offsets=[-2, -1, 1]"]).data.frame_offsets == (-2, -1, 1)


@pytest.mark.parametrize("kind", ["synthetic", "kitti_raw", "nyu", "rosbag"])
def test_a_gap_steps_for_a_kind_without_a_folder_sequence_is_refused(kind: str) -> None:
    """``data.gap_steps`` splits a ``folder`` sequence at a jump in the frame numbers; no other kind reads it (a
    rosbag splits at its own time gaps, kitti_raw at its drives), and ``gap_steps: 0`` there was taken without a
    word. Refused naming the kind that reads it; the default written out is taken."""
    given = [f"data.kind={kind}"] + ([] if kind == "synthetic" else ["data.root=somewhere"])
    with pytest.raises(ConfigError, match=rf"data\.gap_steps 0 is not read by data\.kind {kind}: .* folder only"):
        load_train_config(None, [*given, "data.gap_steps=0"])
    assert load_train_config(None, [*given, "data.gap_steps=3"]).data.gap_steps == 3.0
    assert load_train_config(None, ["data.kind=folder", "data.root=somewhere", "data.gap_steps=0"]).data.gap_steps == 0


@pytest.mark.parametrize(
    ("setting", "shown"),
    [
        ("image_topic=/cam/image", "'/cam/image'"),
        ("camera_info_topic=/cam/info", "'/cam/info'"),
        ("image_is_rectified=false", "false"),
        ("lidar_max_age_s=0.05", "0.05"),
        ("lidar_motion_frame=odom", "'odom'"),
    ],
)
@pytest.mark.parametrize("kind", ["folder", "kitti_raw", "synthetic"])
def test_a_rosbag_setting_for_another_kind_is_refused(setting: str, shown: str, kind: str) -> None:
    """The topics, ``image_is_rectified`` and the LiDAR pairing settings are read from a ``rosbag`` only; on a folder
    (``image_is_rectified: false`` for a folder of raw camera images) they were taken and did nothing. Refused naming
    the setting, its value and ``rosbag``; a rosbag takes them (the LiDAR pairing ones with ``data.lidar_topic``)."""
    name = setting.partition("=")[0]
    given = [f"data.kind={kind}"] + ([] if kind == "synthetic" else ["data.root=somewhere"])
    match = rf"data\.{name} {re.escape(shown)} is not read by data\.kind {kind}: .*rosbag"
    with pytest.raises(ConfigError, match=match):
        load_train_config(None, [*given, f"data.{setting}"])
    bag = ["data.kind=rosbag", "data.root=bag", "data.lidar_topic=/velodyne_points", "data.cache_dir=c"]
    assert load_train_config(None, [*bag, f"data.{setting}"]).data.kind == "rosbag"


@pytest.mark.parametrize("setting", ["lidar_max_age_s=0.05", "lidar_motion_frame=odom"])
def test_a_lidar_pairing_setting_without_a_lidar_topic_is_refused(setting: str) -> None:
    """``data.lidar_max_age_s`` / ``data.lidar_motion_frame`` pair the bag's scans with its images: without
    ``data.lidar_topic`` no scan is read and they were taken without a word. Refused naming the setting and the
    remedy."""
    name = setting.partition("=")[0]
    with pytest.raises(ConfigError, match=rf"data\.{name} .* needs data\.lidar_topic"):
        load_train_config(None, ["data.kind=rosbag", "data.root=bag", f"data.{setting}"])


@pytest.mark.parametrize(
    ("kind", "setting"),
    [
        ("synthetic", "root"),
        ("synthetic", "val_root"),
        ("synthetic", "split"),
        ("kitti_depth", "split"),
        ("folder", "split"),
        ("rosbag", "val_split"),
    ],
)
def test_a_folder_or_split_file_the_kind_does_not_read_is_refused(kind: str, setting: str) -> None:
    """``synthetic`` renders its drives and reads no ``data.root`` / ``val_root``; only ``kitti_raw`` and ``nyu`` read a
    split file. ``data.kind=folder`` with ``data.split=train.txt`` trained on every frame of the folder, and
    ``kind: synthetic`` with a KITTI root trained on rendered streets, without a word. Refused naming the setting."""
    given = [f"data.kind={kind}"] + ([] if kind == "synthetic" else ["data.root=somewhere"])
    with pytest.raises(ConfigError, match=rf"data\.{setting} 'x' is not read by data\.kind {kind}: "):
        load_train_config(None, [*given, f"data.{setting}=x"])
    reader = "nyu" if "split" in setting else "folder"
    assert load_train_config(None, [f"data.kind={reader}", "data.root=somewhere", f"data.{setting}=x"]).data.kind


@pytest.mark.parametrize(
    ("setting", "shown"), [("hue=0.1", "0.1"), ("noise_std=0.02", "0.02"), ("scale_range=[1, 1]", "[1, 1]")]
)
def test_an_augmentation_the_rendered_drives_do_not_take_is_refused(setting: str, shown: str) -> None:
    """Rendered drives are augmented by flip and brightness / contrast / saturation only (``Augmentation`` of
    ``setup.py``); ``data.hue``, ``noise_std`` and ``scale_range`` are the recorded kinds' and were taken by
    ``kind: synthetic`` without a word (``scale_range: [1, 1]`` to switch the zoom off did nothing to switch off).
    Refused naming the setting; a recorded kind takes them."""
    name = setting.partition("=")[0]
    with pytest.raises(ConfigError, match=rf"data\.{name} {re.escape(shown)} is not read by data\.kind synthetic: "):
        load_train_config(None, [f"data.{setting}"])
    assert load_train_config(None, ["data.kind=nyu", "data.root=somewhere", f"data.{setting}"]).data.kind == "nyu"


@pytest.mark.parametrize(
    ("setting", "shown"),
    [
        ("train_seeds=[5, 6]", "[5, 6]"),
        ("val_seeds=[2001]", "[2001]"),
        ("frames_per_clip=10", "10"),
        ("val_frames_per_clip=5", "5"),
        ("beams=0", "0"),
        ("speed_mps=3", "3"),
        ("rate_hz=30", "30"),
        ("stereo_baseline_m=0.54", "0.54"),
    ],
)
@pytest.mark.parametrize("kind", ["folder", "rosbag"])
def test_a_rendering_setting_for_a_recorded_kind_is_refused(setting: str, shown: str, kind: str) -> None:
    """The streets, clip lengths, beams, speed, rate and stereo baseline are what ``synthetic`` renders; a recorded
    kind reads none of them (``data.stereo_baseline_m: 0.54`` on a folder gave no stereo source, ``beams: 0`` left a
    rosbag's LiDAR in use), and they were taken without a word. Refused naming the setting; the defaults written
    out are taken, and synthetic takes them."""
    name = setting.partition("=")[0]
    given = [f"data.kind={kind}", "data.root=somewhere"]
    with pytest.raises(ConfigError, match=rf"data\.{name} {re.escape(shown)} is not read by data\.kind {kind}: "):
        load_train_config(None, [*given, f"data.{setting}"])
    assert load_train_config(None, [*given, "data.train_seeds=[1, 2, 3, 4]", "data.beams=32"]).data.kind == kind
    assert load_train_config(None, ["loss.objective=selfsup", f"data.{setting}"]).data.kind == "synthetic"


@pytest.mark.parametrize(
    ("setting", "named"),
    [("data.frame_offsets=[-2, 2]", r"data\.frame_offsets \[-2, 2\]"), ("data.stereo_baseline_m=0.54", "0.54")],
)
def test_a_source_frame_setting_with_a_supervised_objective_is_refused(setting: str, named: str) -> None:
    """``loss.objective: supervised`` trains on depth alone and takes no source frame: ``data.frame_offsets`` and
    ``data.stereo_baseline_m`` are read by ``selfsup`` / ``lidar_semi`` only (setup.py uses none when supervised),
    and ``[-2, 2]`` or a stereo baseline was taken without a word. Refused naming the setting and the objectives that
    read it; the default offsets and an empty list (what supervised uses) are taken."""
    with pytest.raises(ConfigError, match=rf"{named} is not read by loss\.objective supervised: .*selfsup"):
        load_train_config(None, ["loss.objective=supervised", setting])
    assert load_train_config(None, ["loss.objective=selfsup", setting]).loss.objective == "selfsup"
    for taken in ("[-1, 1]", "[]"):
        assert load_train_config(None, ["loss.objective=supervised", f"data.frame_offsets={taken}"]).loss.objective


@pytest.mark.parametrize(
    "mode",
    [
        ["data.kind=kitti_raw", "data.root=/data/kitti_raw", "data.split=/data/files.txt", "data.stereo=true"],
        ["data.stereo_baseline_m=0.5"],  # the rendered drives' right camera
    ],
    ids=["kitti_raw", "synthetic"],
)
@pytest.mark.parametrize(("setting", "shown"), [("pose_source=ground_truth", "'ground_truth'"), ("pose_width=8", "8")])
def test_a_pose_setting_without_temporal_source_frames_is_refused(mode: list[str], setting: str, shown: str) -> None:
    """monodepth2's S mode (``data.frame_offsets: []``, the stereo pair as the only source) builds no pose network
    (assemble.py: only temporal sources need a pose; the stereo source takes the rig's calibrated pose), and
    ``loss.pose_source`` / ``loss.pose_width`` were taken without a word and did nothing. Refused naming the setting,
    its value, why and the remedy, as a loss setting the objective does not read; MS (``[-1, 1]``) takes them, and the
    default written out (a config shared between modes) is taken in S."""
    base = ["loss.objective=selfsup", *mode]
    name = setting.partition("=")[0]
    match = rf"loss\.{name} {re.escape(shown)} is not read with data\.frame_offsets \[\]: .*pose.*data\.frame_offsets"
    with pytest.raises(ConfigError, match=match):
        load_train_config(None, [*base, "data.frame_offsets=[]", f"loss.{setting}"])
    assert load_train_config(None, [*base, "data.frame_offsets=[-1, 1]", f"loss.{setting}"]).data.frame_offsets
    written = LossConfig()
    defaults = [f"loss.pose_source={written.pose_source}", f"loss.pose_width={written.pose_width}"]
    assert load_train_config(None, [*base, "data.frame_offsets=[]", *defaults]).data.frame_offsets == ()


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        (["loss.objective=supervised"], "loss.objective supervised"),
        (["loss.objective=selfsup", "data.stereo_baseline_m=0.5", "data.frame_offsets=[]"], "data.frame_offsets []"),
        (["loss.objective=lidar_semi", "loss.pose_source=ground_truth"], "loss.pose_source 'ground_truth'"),
    ],
    ids=["supervised", "S", "ground_truth"],
)
def test_a_pose_network_setting_where_no_pose_network_is_built_is_refused(mode: list[str], why: str) -> None:
    """``optim.pose_lr_scale`` is the pose network's learning rate (loop.py: the objective's parameters' group), and
    ``loss.pose_width`` its width; with no pose network (supervised, S mode, or true poses: ``loss.pose_source:
    ground_truth``, assemble.py) the group is empty and both were taken without a word. Refused naming the setting,
    its value and why no pose network is built; with one (selfsup on [-1, 1], predicted) they are taken."""
    with pytest.raises(ConfigError, match=rf"optim\.pose_lr_scale 0\.1 is not read: .*{re.escape(why)}.*default 1\)"):
        load_train_config(None, [*mode, "optim.pose_lr_scale=0.1"])
    assert load_train_config(None, ["loss.objective=selfsup", "optim.pose_lr_scale=0.1"]).optim.pose_lr_scale == 0.1
    assert load_train_config(None, [*mode, "optim.pose_lr_scale=1.0"]).optim.pose_lr_scale == 1.0  # the default
    if "ground_truth" in why:
        with pytest.raises(ConfigError, match=r"loss\.pose_width 8 is not read: .*ground_truth.*loss\.pose_source"):
            load_train_config(None, [*mode, "loss.pose_width=8"])
        assert load_train_config(None, ["loss.objective=lidar_semi", "loss.pose_width=8"]).loss.pose_width == 8


def test_an_encoder_learning_rate_scale_without_a_trained_encoder_is_refused(tmp_path: Path) -> None:
    """``optim.encoder_lr_scale`` scales the learning rate of a pretrained network's encoder (loop.py: the
    ``encoder_parameter_groups`` of ``model.pretrained`` only); on the unet, or with ``model.freeze_encoder`` (the
    encoder left out of the optimiser), it was taken without a word and did nothing. Refused naming the value, why
    and the remedy; a pretrained, trained encoder takes it, and the default written out is taken everywhere."""
    with pytest.raises(
        ConfigError, match=r"optim\.encoder_lr_scale 0\.1 is not read: .*no model\.pretrained.*default 1\)"
    ):
        load_train_config(None, ["optim.encoder_lr_scale=0.1"])
    pretrained = [f"model.pretrained={tmp_path}"]
    frozen = [*pretrained, "model.freeze_encoder=true"]
    with pytest.raises(ConfigError, match=r"optim\.encoder_lr_scale 0\.1 is not read: .*model\.freeze_encoder true"):
        load_train_config(None, [*frozen, "optim.encoder_lr_scale=0.1"])
    assert load_train_config(None, [*pretrained, "optim.encoder_lr_scale=0.1"]).optim.encoder_lr_scale == 0.1
    assert load_train_config(None, [*frozen, "optim.encoder_lr_scale=1.0"]).model.freeze_encoder
    assert load_train_config(None, ["optim.encoder_lr_scale=1"]).optim.encoder_lr_scale == 1.0


def test_a_config_error_shows_a_boolean_as_yaml_writes_it() -> None:
    """The messages show a setting's value as YAML writes it (``_shown``'s docstring), as the run's config.yaml and
    the docs hold it; a boolean came out as Python's: ``loss.automask False ... (or at its default True)``, a
    spelling found in neither. Now ``false`` / ``true`` (yaml.safe_dump's), and the default shown is taken back."""
    with pytest.raises(ConfigError, match=r"loss\.automask false is not read .*default true\)") as raised:
        load_train_config(None, ["loss.objective=supervised", "loss.automask=false"])
    assert "False" not in str(raised.value) and "True" not in str(raised.value)
    default = re.search(r"default (\S+)\)", str(raised.value))
    assert default is not None
    assert load_train_config(None, ["loss.objective=supervised", f"loss.automask={default[1]}"]).loss.automask


@pytest.mark.parametrize(
    ("setting", "shown", "objective", "reader"),
    [
        ("smoothness_weight=0.01", "0.01", "supervised", "selfsup / lidar_semi"),
        ("automask=false", "false", "supervised", "selfsup / lidar_semi"),
        ("photometric_resolution=pyramid", "'pyramid'", "supervised", "selfsup / lidar_semi"),
        ("pose_source=ground_truth", "'ground_truth'", "supervised", "selfsup / lidar_semi"),
        ("pose_width=8", "8", "supervised", "selfsup / lidar_semi"),
        ("supervised_loss=berhu", "'berhu'", "selfsup", "supervised"),
        ("silog_lambda=0.5", "0.5", "lidar_semi", "supervised"),
        ("gradient_weight=0.5", "0.5", "selfsup", "supervised"),
        ("lidar_weight=0.5", "0.5", "selfsup", "lidar_semi"),
        ("lidar_loss=l1", "'l1'", "supervised", "lidar_semi"),
    ],
)
def test_a_loss_setting_the_objective_does_not_read_is_refused(
    setting: str, shown: str, objective: str, reader: str
) -> None:
    """Each objective reads its own loss settings (assemble.py): supervised the depth loss, selfsup / lidar_semi the
    photometric terms and the pose network, lidar_semi the LiDAR term. A self-supervised smoothness weight on a
    supervised run, or a supervised loss on a selfsup run, was taken without a word and did nothing. Refused naming
    the setting, its value and the objectives that read it; an objective that reads it takes it, and a default
    written out (a config shared between runs) is taken by every objective."""
    name = setting.partition("=")[0]
    match = rf"loss\.{name} {re.escape(shown)} is not read by loss\.objective {objective}: .*{reader} only"
    with pytest.raises(ConfigError, match=match):
        load_train_config(None, [f"loss.objective={objective}", f"loss.{setting}"])
    taker = reader.partition(" ")[0]
    assert load_train_config(None, [f"loss.objective={taker}", f"loss.{setting}"]).loss.objective == taker
    written_out = {key: value for key, value in TrainConfig().to_dict()["loss"].items() if key != "objective"}
    for every in ("supervised", "selfsup", "lidar_semi"):
        assert config_from_mapping({"loss": {**written_out, "objective": every}}).loss.objective == every


@pytest.mark.parametrize("loss", ["l1", "l2", "inverse_l2", "berhu", "densedepth"])
def test_a_silog_lambda_with_another_supervised_loss_is_refused(loss: str) -> None:
    """``loss.silog_lambda`` is SILog's variance focus (assemble.py reads it for ``supervised_loss: silog`` only): with
    another supervised loss, ``silog_lambda: 1`` (which asks for depth up to scale) or any other value was taken
    without a word and the run trained a metric l1 / berhu ... loss. Refused naming the value, the loss and the one
    that reads it; silog takes it, and the default written out (a config shared between runs) is taken by every
    supervised loss."""
    match = rf"loss\.silog_lambda 0\.5 is not read by loss\.supervised_loss {loss}: .*silog only"
    with pytest.raises(ConfigError, match=match):
        load_train_config(None, [f"loss.supervised_loss={loss}", "loss.silog_lambda=0.5"])
    assert load_train_config(None, ["loss.supervised_loss=silog", "loss.silog_lambda=0.5"]).loss.silog_lambda == 0.5
    taken = load_train_config(None, [f"loss.supervised_loss={loss}", f"loss.silog_lambda={LossConfig().silog_lambda}"])
    assert taken.loss.supervised_loss == loss


@pytest.mark.parametrize(
    ("name", "comment", "overrides"),
    [
        (
            "train_finetune_depth_anything_kitti.yaml",
            "--set loss.objective=lidar_semi --set loss.silog_lambda=0.85",
            ["loss.objective=lidar_semi", "loss.silog_lambda=0.85"],
        ),
        (
            "train_finetune_depth_anything_kitti.yaml",
            "--set model.freeze_encoder=true --set optim.encoder_lr_scale=1",
            ["model.freeze_encoder=true", "optim.encoder_lr_scale=1"],
        ),
        ("train_lidar_semi_synthetic.yaml", "lidar_loss: reprojected selects", ["loss.lidar_loss=reprojected"]),
        ("train_supervised_synthetic.yaml", "[--set run.steps=100 ...]", ["run.steps=100"]),
    ],
)
def test_each_shipped_training_config_takes_the_switch_its_comments_suggest(
    name: str, comment: str, overrides: list[str]
) -> None:
    """The comments of the shipped training configs suggest switches (the fine-tune config: lidar_semi for the
    photometric self-supervision on top of the LiDAR). Its comment said only ``lidar_semi``, and ``--set
    loss.objective=lidar_semi`` was refused: the YAML's ``silog_lambda: 0.5`` is read by supervised only. Each comment
    names what to set, and the config loads with it, the switch taken. The fine-tune config's encoder freeze
    (``model.freeze_encoder=true``, docs/training_data.md) was refused for the YAML's ``encoder_lr_scale: 0.1``,
    which a frozen encoder does not read, and no comment said so."""
    text = (REPO / "config" / name).read_text()
    comments = " ".join(line.partition("#")[2].strip() for line in text.splitlines() if "#" in line)
    assert comment in comments, comments
    config = load_train_config(REPO / "config" / name, overrides)
    for override in overrides:
        key, _, value = override.partition("=")
        section, _, field = key.partition(".")
        assert getattr(getattr(config, section), field) == yaml.safe_load(value), (override, config)


@pytest.mark.parametrize("kind", ["kitti_raw", "kitti_depth", "nyu", "folder", "rosbag"])
def test_a_cache_dir_for_data_that_is_never_cached_is_refused(kind: str) -> None:
    """``data.cache_dir`` holds the rendered drives (synthetic) and a bag's frames exported with their LiDAR (rosbag
    with ``data.lidar_topic``); the other kinds, and a bag without a LiDAR topic, read their files in place, and a
    cache folder given for them was taken without a word (nothing written there, a user waiting for a cache).
    Refused naming the setting and what reads it; synthetic and a bag with its LiDAR take it, and an empty one (the
    default written out) is taken by every kind."""
    given = [f"data.kind={kind}", "data.root=somewhere", "data.cache_dir=cache"]
    unread = r"data\.cache_dir 'cache' (is not read by data\.kind|needs data\.lidar_topic)"
    with pytest.raises(ConfigError, match=unread):
        load_train_config(None, given)
    written_out = [f"data.kind={kind}", "data.root=somewhere", "data.cache_dir=''"]
    assert load_train_config(None, written_out).data.kind == kind
    assert load_train_config(None, ["data.cache_dir=cache"]).data.cache_dir == "cache"
    bag = ["data.kind=rosbag", "data.root=bag", "data.lidar_topic=/velodyne_points", "data.cache_dir=cache"]
    assert load_train_config(None, bag).data.cache_dir == "cache"


@pytest.mark.parametrize(
    ("schedule", "setting", "shown", "readers"),
    [
        ("cosine", "poly_power=2", "2", "poly only"),
        ("constant", "poly_power=2", "2", "poly only"),
        ("constant", "min_lr_ratio=0.2", "0.2", "poly / cosine only"),
    ],
)
def test_a_schedule_setting_the_schedule_does_not_read_is_refused(
    schedule: str, setting: str, shown: str, readers: str
) -> None:
    """``optim.poly_power`` is the poly decay's exponent and ``optim.min_lr_ratio`` where poly / cosine decay to
    (setup.py ``lr_schedule``); ``schedule: constant`` keeps ``optim.lr`` after warm-up and cosine has no exponent,
    yet both were taken without a word (``min_lr_ratio: 0.2`` meant to end the run at a fifth of the lr ended it at
    the full lr). Refused naming the setting, its value and the schedules that read it; the readers take them, and
    the default written out is taken everywhere."""
    name, _, value = setting.partition("=")
    with pytest.raises(
        ConfigError, match=rf"optim\.{name} {re.escape(shown)} is not read by optim\.schedule {schedule}: .*{readers}"
    ):
        load_train_config(None, [f"optim.schedule={schedule}", f"optim.{setting}"])
    reader = "poly" if name == "poly_power" else "cosine"
    taken = load_train_config(None, [f"optim.schedule={reader}", f"optim.{setting}"]).optim
    assert getattr(taken, name) == float(value)
    default = {"poly_power": 0.9, "min_lr_ratio": 0.05}[name]
    written_out = load_train_config(None, [f"optim.schedule={schedule}", f"optim.{name}={default}"]).optim
    assert getattr(written_out, name) == default


@pytest.mark.parametrize(
    ("setting", "shown"),
    [
        ("run.val_max_images=4", "4"),
        ("run.eval_max_depth_m=50", "50"),
        ("data.val_root=elsewhere", "'elsewhere'"),
        ("data.val_split=val.txt", "'val.txt'"),
    ],
)
def test_a_validation_setting_with_validation_off_is_refused(setting: str, shown: str) -> None:
    """``run.val_max_images`` and ``run.eval_max_depth_m`` are read by ``Trainer.validate`` only, and
    ``data.val_root`` / ``data.val_split`` name the data only it evaluates (loop.py; nothing after training reads
    them); with ``run.validate: false`` they were taken without a word. Refused naming the setting, its value and the
    remedy; with validation on they are taken, and the default written out is taken with it off."""
    name, _, value = setting.partition("=")
    nyu = ["data.kind=nyu", "data.root=somewhere"]
    with pytest.raises(
        ConfigError, match=rf"{re.escape(name)} {re.escape(shown)} is not read with run\.validate false: .*default"
    ):
        load_train_config(None, [*nyu, "run.validate=false", setting])
    section, _, key = name.partition(".")
    taken = getattr(load_train_config(None, [*nyu, setting]), section)
    assert getattr(taken, key) == yaml.safe_load(value)
    default = {"val_max_images": "0", "eval_max_depth_m": "0.0", "val_root": "''", "val_split": "''"}[key]
    assert not load_train_config(None, [*nyu, "run.validate=false", f"{name}={default}"]).run.validate


@pytest.mark.parametrize(("setting", "shown"), [("data.val_seeds=[7]", "[7]"), ("data.val_frames_per_clip=5", "5")])
def test_a_rendered_validation_setting_with_validation_off_is_refused(setting: str, shown: str) -> None:
    """``data.val_seeds`` / ``data.val_frames_per_clip`` say which drives ``Trainer.validate`` renders and scores;
    with ``run.validate: false`` they were taken without a word (and the drives rendered for nothing). Refused as the
    other validation settings are; the default written out is taken, and with validation off the training streets
    may include the default validation street (nothing is held out for a validation that does not run)."""
    name, _, _ = setting.partition("=")
    with pytest.raises(
        ConfigError, match=rf"{re.escape(name)} {re.escape(shown)} is not read with run\.validate false: .*default"
    ):
        load_train_config(None, ["run.validate=false", setting])
    assert load_train_config(None, [setting]).run.validate
    default = {"data.val_seeds": "[1001]", "data.val_frames_per_clip": "20"}[name]
    assert not load_train_config(None, ["run.validate=false", f"{name}={default}"]).run.validate
    assert load_train_config(None, ["run.validate=false", "data.train_seeds=[1, 1001]"]).data.train_seeds == (1, 1001)
    with pytest.raises(ConfigError, match=r"overlap data\.train_seeds"):
        load_train_config(None, ["data.train_seeds=[1, 1001]"])
