"""Tests for models/hf_preprocessing.py: processor settings → input policy and normalisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.hf_preprocessing import HfPreprocessing, read_preprocessing
from mono_depth_ros.models.preprocess import network_input_size
from mono_depth_ros.models.spec import InputPolicy

DEFAULTS = HfPreprocessing(
    InputPolicy(384, 384, keep_aspect=True, multiple_of=32, max_long_side=640), (0.1,) * 3, (0.2,) * 3
)
KITTI = (375, 1242)


def _read(tmp_path: Path, settings: object) -> HfPreprocessing:
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    return read_preprocessing(tmp_path, DEFAULTS)


def test_no_file_keeps_the_family_defaults(tmp_path: Path) -> None:
    assert read_preprocessing(tmp_path, DEFAULTS) == DEFAULTS


def test_depth_anything_processor_runs_kitti_at_266_by_882(tmp_path: Path) -> None:
    settings = {
        "size": {"height": 518, "width": 518}, "keep_aspect_ratio": True, "ensure_multiple_of": 14,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "do_normalize": True,
    }  # fmt: skip
    read = _read(tmp_path, settings)
    assert read.input == InputPolicy(518, 518, keep_aspect=True, multiple_of=14, max_long_side=882)
    assert network_input_size(KITTI, read.input) == (266, 882)
    assert read.mean == (0.485, 0.456, 0.406) and read.source.endswith("preprocessor_config.json")


def test_fixed_size_dpt_and_unnormalised_glpn(tmp_path: Path) -> None:
    dpt = _read(tmp_path, {"size": {"height": 384, "width": 384}, "keep_aspect_ratio": False, "image_mean": 0.5})
    assert network_input_size(KITTI, dpt.input) == (384, 384) and dpt.mean == (0.5, 0.5, 0.5)
    glpn = _read(tmp_path, {"do_resize": True, "size_divisor": 32, "do_rescale": True})  # no size: family's short side
    assert glpn.input.multiple_of == 32 and glpn.input.height == 384
    raw = _read(tmp_path, {"do_normalize": False, "do_rescale": False})
    assert raw.mean == (0.0, 0.0, 0.0) and raw.std == pytest.approx((1 / 255,) * 3)


def test_shortest_edge_and_zoedepth_padding(tmp_path: Path) -> None:
    read = _read(tmp_path, {"size": {"shortest_edge": 256}, "ensure_multiple_of": 32, "do_pad": True})
    assert read.input.keep_aspect and read.input.height == 256 and not read.reflect_pad  # only ZoeDepth pads
    padded_family = HfPreprocessing(DEFAULTS.input, DEFAULTS.mean, DEFAULTS.std, reflect_pad=True)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_pad": False}))
    assert not read_preprocessing(tmp_path, padded_family).reflect_pad


@pytest.mark.parametrize(
    ("text", "match"),
    [("{not json", "not readable JSON"), ('{"size": [1, 2]}', "size"), ('{"image_std": [1, 2]}', "three numbers")],
)
def test_malformed_files_name_the_setting(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "preprocessor_config.json").write_text(text)
    with pytest.raises(CheckpointError, match=match):
        read_preprocessing(tmp_path, DEFAULTS)
