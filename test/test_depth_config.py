"""DepthConfig: every parameter is one typed field of one slice, validated once, frozen, changed by copy."""

from __future__ import annotations

import dataclasses
import math

import pytest

from mono_depth_ros.config import PARAMS, defaults
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.depth_config import FIELD_OF_PARAM, SLICE_FIELDS, DepthConfig


def test_every_parameter_is_exactly_one_typed_field() -> None:
    config = DepthConfig.from_params()
    assert set(FIELD_OF_PARAM) == {spec.name for spec in PARAMS}
    targets = list(FIELD_OF_PARAM.values())
    assert len(targets) == len(set(targets))  # no two parameters share a field
    assert sorted(targets) == sorted((s, f) for s, names in SLICE_FIELDS.items() for f in names)  # no spare field
    for spec in PARAMS:
        slice_name, field_name = FIELD_OF_PARAM[spec.name]
        value = getattr(getattr(config, slice_name), field_name)
        assert type(value) is spec.type and value == spec.default, spec.name
    assert dict(config.params) == defaults()


def test_values_are_validated_once_on_the_way_in() -> None:
    config = DepthConfig.from_params({"output.max_range": 40, "lidar_topic": "/velodyne_points", "device": "cpu"})
    assert config.output.max_range == 40.0 and type(config.output.max_range) is float
    assert (config.topics.lidar, config.model.device) == ("/velodyne_points", "cpu")
    for bad, reason in [({"output.max_range": math.nan}, "finite"), ({"cloud.mode": "sparse"}, "one of"),
                        ({"output.min_range": 50.0, "output.max_range": 40.0}, "below"),
                        ({"scale.mod": "lidar"}, "did you mean scale.mode")]:  # fmt: skip
        with pytest.raises(ConfigError, match=reason):
            DepthConfig.from_params(bad)


def test_changes_build_a_new_frozen_config() -> None:
    config = DepthConfig.from_params()
    changed = config.with_changes({"scale.mode": "ground_plane", "cloud.stride": 2})
    assert (changed.scale.mode, changed.cloud.stride) == ("ground_plane", 2)
    assert (config.scale.mode, config.cloud.stride) == ("lidar", 4)
    assert changed.output == config.output  # untouched slices compare equal
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.scale.mode = "fixed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.params["scale.mode"] = "fixed"  # type: ignore[index]
    assert config.with_changes({"device": "cpu"}).model.device == "cpu" and config.model.device == "auto"
    assert DepthConfig.of(config) is config and DepthConfig.of({"device": "cpu"}).model.device == "cpu"


def test_training_and_distillation_spell_the_common_fields_as_the_node() -> None:
    """A field that means the same thing has the node parameter's name (its last dotted part) everywhere."""
    from mono_depth_ros.depth_config import LidarConfig
    from mono_depth_ros.training.distillation import config as distill
    from mono_depth_ros.training.trainer import config as train

    common: dict[str, list[tuple[type, str]]] = {
        "image_topic": [(train.DataConfig, "image_topic"), (distill.DataConfig, "image_topic")],
        "camera_info_topic": [(train.DataConfig, "camera_info_topic"), (distill.DataConfig, "camera_info_topic")],
        "lidar_topic": [(distill.DataConfig, "lidar_topic")],
        "image_is_rectified": [(train.DataConfig, "image_is_rectified"), (distill.DataConfig, "image_is_rectified")],
        "image_significant_bits": [
            (train.DataConfig, "image_significant_bits"),
            (distill.DataConfig, "image_significant_bits"),
        ],
        "model.weights": [(distill.TeacherConfig, "weights")],
        "model.backend": [(distill.TeacherConfig, "backend")],
        "device": [
            (distill.TeacherConfig, "device"),
            (train.RunConfig, "device"),
            (distill.DistillRunConfig, "device"),
        ],
        "model.threads": [(train.RunConfig, "threads"), (distill.DistillRunConfig, "threads")],
        "model.output_kind": [(distill.StudentConfig, "output_kind")],
    }
    for parameter, places in common.items():
        leaf = parameter.rsplit(".", 1)[-1]
        for cls, field_name in places:
            assert field_name == leaf and field_name in {f.name for f in dataclasses.fields(cls)}, (parameter, cls)
    lidar_field = {f.name: f for f in dataclasses.fields(distill.DataConfig)}["lidar"]
    assert lidar_field.type in (LidarConfig, "LidarConfig")  # the node's own slice: lidar.max_age_s, lidar.motion_frame


def test_an_edge_threshold_of_zero_is_refused_with_the_switch_that_turns_the_filter_off() -> None:
    # At 0 the flying-pixel test marks nearly every pixel of a smooth map (51220 of 51750 on a KITTI frame with the
    # shipped model: bench/bench_costmap_real.py's finding): a near-empty cloud, i.e. missing obstacles.
    with pytest.raises(ConfigError, match=r"output\.edge_threshold"):
        DepthConfig.from_params({"output.edge_threshold": 0.0})
    assert DepthConfig.from_params({"output.edge_threshold": 0.01}).output.edge_threshold == 0.01
    (spec,) = (p for p in PARAMS if p.name == "output.edge_threshold")
    assert "output.edge_filter false" in spec.description
