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
    [
        ("{not json", "not readable JSON"),
        ('{"size": [1, 2]}', "size .* fix it .* or delete the file to use the family defaults"),
        ('{"image_std": [1, 2]}', "three numbers"),
        ('{"ensure_multiple_of": "14"}', "ensure_multiple_of '14' must be a number"),
    ],
)
def test_malformed_files_name_the_setting(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "preprocessor_config.json").write_text(text)
    with pytest.raises(CheckpointError, match=match):
        read_preprocessing(tmp_path, DEFAULTS)


def test_a_bare_number_size_is_square_as_transformers_reads_it(tmp_path: Path) -> None:
    """Older processor files (Intel/dpt-large) say ``"size": 384``: transformers feeds 384×384, not a short side."""
    dpt = HfPreprocessing(InputPolicy(384, 384), DEFAULTS.mean, DEFAULTS.std)  # DPT's defaults: no keep-aspect
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"size": 384, "image_mean": [0.5] * 3}))
    read = read_preprocessing(tmp_path, dpt)
    assert not read.input.keep_aspect and network_input_size(KITTI, read.input) == (384, 384)
    kept = _read(tmp_path, {"size": 384, "keep_aspect_ratio": True, "ensure_multiple_of": 32})
    assert kept.input == InputPolicy(384, 384, keep_aspect=True, multiple_of=32, max_long_side=640)


def test_keep_aspect_ratio_unsaid_follows_the_family(tmp_path: Path) -> None:
    """ZoeDepth's processor keeps aspect unless told otherwise; DPT's does not (the family defaults say which)."""
    settings = {"size": {"height": 384, "width": 512}, "ensure_multiple_of": 32}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    assert read_preprocessing(tmp_path, DEFAULTS).input.keep_aspect  # DEFAULTS keep aspect
    square = HfPreprocessing(InputPolicy(384, 384), DEFAULTS.mean, DEFAULTS.std)
    fixed = read_preprocessing(tmp_path, square)
    assert not fixed.input.keep_aspect and network_input_size(KITTI, fixed.input) == (384, 512)


def test_rescale_factor_other_than_1_over_255_scales_the_normalisation(tmp_path: Path) -> None:
    """``rescale_factor`` 2/255 means the network sees 2·x (x in [0, 1]) before (· - m)/s: mean and std halve."""
    read = _read(tmp_path, {"do_rescale": True, "rescale_factor": 2 / 255, "image_mean": 0.5, "image_std": 0.25})
    assert read.mean == pytest.approx((0.25,) * 3) and read.std == pytest.approx((0.125,) * 3)
    usual = _read(tmp_path, {"rescale_factor": 0.00392156862745098, "image_mean": 0.5, "image_std": 0.25})
    assert usual.mean == (0.5,) * 3 and usual.std == (0.25,) * 3
    with pytest.raises(CheckpointError, match="rescale_factor"):
        _read(tmp_path, {"rescale_factor": 0})
