"""Tests for training/distill_config.py: defaults, YAML round trip, typed sections, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.training.distillation.config import (
    DistillConfig,
    distill_config_from_mapping,
    load_distill_config,
)
from mono_depth_ros.training.trainer.config import apply_overrides

REPO = Path(__file__).resolve().parents[3]


def test_defaults_and_label_size() -> None:
    config = DistillConfig()
    assert config.label_hw == (96, 320)  # the student's input size
    sized = distill_config_from_mapping({"data": {"label_height": 64, "label_width": 128}})
    assert sized.label_hw == (64, 128)


def test_yaml_round_trip(tmp_path: Path) -> None:
    config = distill_config_from_mapping(
        {
            "teacher": {"weights": "/w/da", "features": True},
            "data": {"bags": ["/a", "/b"], "lidar_topic": "/lidar/points"},
            "student": {"decoder_channels": [4, 4, 8, 8, 16]},
            "loss": {"cutmix_area": [0.2, 0.3], "feature_weight": 0.5},
            "optim": {"lr": 1e-4},
        }
    )
    path = tmp_path / "c.yaml"
    path.write_text(config.to_yaml())
    again = load_distill_config(path)
    assert again == config
    assert again.data.bags == ("/a", "/b") and again.loss.cutmix_area == (0.2, 0.3)
    assert again.student.decoder_channels == (4, 4, 8, 8, 16)


def test_shipped_config_loads_and_overrides_apply() -> None:
    config = load_distill_config(REPO / "config" / "distill_synthetic.yaml", ["run.steps=7", "data.bags=/x"])
    assert config.run.steps == 7 and config.data.bags == ("/x",)  # a single value becomes a one-item tuple
    assert config.teacher.features and config.student.encoder_width == 16


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        ({"teacher": {"wieghts": "x"}}, r"unknown keys \['wieghts'\] in section 'teacher'; did you mean weights\?"),
        ({"data": {"lidar": {"max_age": 1}}}, r"unknown keys \['max_age'\] in data.lidar; did you mean max_age_s\?"),
        ({"students": {}}, "unknown distillation config sections"),
        ({"run": {"steps": "many"}}, "run.steps"),
        ({"run": {"steps": 2.5}}, "run.steps"),
        ({"teacher": {"features": "yes"}}, "true or false"),
        ({"teacher": {"backend": "tensorrt"}}, "teacher.backend"),
        ({"student": {"input_height": 100}}, "multiples of 32"),
        ({"student": {"output_kind": "relative_inverse"}}, "output_kind"),
        ({"loss": {"cutmix_area": [0.5, 0.1]}}, "cutmix_area"),
        ({"loss": {"feature_margin": 2.0}}, "feature_margin"),
        ({"data": {"label_height": 64}}, "give both"),
        ({"run": {"amp": "fp8"}}, "run.amp"),
        # named both settings and dumped the whole RunConfig, or named neither value
        ({"run": {"batch_size": 0}}, r"run\.batch_size must be >= 1, got 0$"),
        ({"run": {"log_every": 0}}, r"run\.log_every must be >= 1, got 0$"),
        ({"run": {"keep_checkpoints": -1}}, r"run\.keep_checkpoints must be >= 0"),
        ({"loss": "none"}, "must be a mapping"),
        (  # as train's model.max_depth_m: no depth bound, "Infinity" (no JSON) in the exported spec
            {"student": {"max_depth_m": float("inf")}},
            r"student\.min_depth_m 0\.5 and student\.max_depth_m inf must satisfy 0 < min < max, both finite",
        ),
    ],
)
def test_bad_values_are_refused(mapping: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        distill_config_from_mapping(mapping)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_distill_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_distill_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping of sections"):
        load_distill_config(listed)


def test_lidar_settings_are_the_nodes_spelled_the_same_and_the_old_keys_still_read() -> None:
    from mono_depth_ros.depth_config import DepthConfig

    node = DepthConfig.from_params({"lidar.max_age_s": 0.3, "lidar.motion_frame": "odom"}).lidar
    nested = distill_config_from_mapping({"data": {"lidar": {"max_age_s": 0.3, "motion_frame": "odom"}}}).data.lidar
    dotted = distill_config_from_mapping(
        apply_overrides({}, ["data.lidar.max_age_s=0.3", "data.lidar.motion_frame=odom"])
    )
    old = distill_config_from_mapping({"data": {"lidar_max_age_s": 0.3, "lidar_motion_frame": "odom"}}).data.lidar
    assert nested == dotted.data.lidar == old == node  # the same type and values as the node's
    with pytest.raises(ConfigError, match="finite"):  # validated by the node's parameter table
        distill_config_from_mapping({"data": {"lidar": {"max_age_s": float("nan")}}})
    with pytest.raises(ConfigError, match="unknown keys"):
        distill_config_from_mapping({"data": {"lidar": {"max_age": 0.3}}})
