"""Tests for models/unet.py: shapes at KITTI-like resolutions, every option combination, depth range, presets."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.models.registry import parameter_counts
from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind
from mono_depth_ros.models.unet import UNet, UNetOutput, build_unet, difference_feature, disp_to_depth, make_unet_spec
from mono_depth_ros.models.unet_config import UNetConfig

MICRO: dict[str, Any] = {"encoder_width": 8, "decoder_channels": [4, 4, 8, 8, 16]}
OPTIONS = ("aspp", "difference", "pixel_shuffle", "preact")


@pytest.fixture(scope="module")
def tiny_model() -> UNet:
    torch.manual_seed(0)
    return build_unet(make_unet_spec("resnet18", "tiny", min_depth_m=0.5, max_depth_m=80.0)).eval()


def _check_output(out: UNetOutput, batch: int, height: int, width: int, min_m: float, max_m: float) -> None:
    assert out.depth.shape == (batch, 1, height, width)
    assert out.depth.dtype == torch.float32
    assert torch.isfinite(out.depth).all()
    assert out.depth.min() >= min_m
    assert out.depth.max() <= max_m
    assert len(out.disparities) == 4
    for scale, disp in enumerate(out.disparities):
        assert disp.shape == (batch, 1, height // 2**scale, width // 2**scale)
        assert torch.isfinite(disp).all()
        assert ((disp >= 0) & (disp <= 1)).all()
    _, expected = disp_to_depth(out.disparities[0], min_m, max_m)
    torch.testing.assert_close(out.depth, expected)


@pytest.mark.parametrize(("height", "width"), [(192, 640), (128, 416), (96, 320)])
def test_forward_at_kitti_resolutions(tiny_model: UNet, height: int, width: int) -> None:
    with torch.no_grad():
        out = tiny_model(torch.randn(1, 3, height, width))
    _check_output(out, 1, height, width, 0.5, 80.0)


@pytest.mark.parametrize("flags", list(itertools.product([False, True], repeat=len(OPTIONS))))
def test_every_option_combination_builds_and_runs(flags: tuple[bool, ...]) -> None:
    options: dict[str, Any] = dict(zip(OPTIONS, flags, strict=True))
    model = build_unet(make_unet_spec("resnet18", "tiny", **MICRO, **options)).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 96))
    _check_output(out, 2, 64, 96, 0.1, 100.0)


@pytest.mark.parametrize("encoder", ["resnet34", "resnet50"])
def test_other_encoders_with_all_options(encoder: str) -> None:
    options: dict[str, Any] = dict.fromkeys(OPTIONS, True)
    model = build_unet(make_unet_spec(encoder, "tiny", **MICRO, **options)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    _check_output(out, 1, 64, 64, 0.1, 100.0)


def test_training_step_reaches_every_parameter() -> None:
    model = build_unet(make_unet_spec("resnet18", "tiny", **MICRO, **dict.fromkeys(OPTIONS, True))).train()
    out = model(torch.randn(2, 3, 64, 64))
    loss = sum(d.mean() for d in out.disparities) + out.depth.mean()
    loss.backward()  # type: ignore[union-attr]
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert missing == []


def test_forward_keeps_no_state(tiny_model: UNet) -> None:
    before = dict(vars(tiny_model))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        first = tiny_model(x)
        second = tiny_model(x)
    assert vars(tiny_model).keys() == before.keys()
    assert all(vars(tiny_model)[k] is before[k] for k in before)
    assert first is not second
    torch.testing.assert_close(first.depth, second.depth, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(1, 3, 100, 320), (1, 3, 96, 300), (1, 1, 96, 320), (3, 96, 320)])
def test_bad_input_shape(tiny_model: UNet, shape: tuple[int, ...]) -> None:
    with pytest.raises(ShapeError, match=r"multiple of 32|expects \(B, 3, H, W\)"):
        tiny_model(torch.zeros(shape))


def test_preset_parameter_counts() -> None:
    with torch.device("meta"):
        tiny = parameter_counts(build_unet(make_unet_spec("resnet18", "tiny")))
        small = parameter_counts(build_unet(make_unet_spec("resnet18", "small")))
    assert 1_000_000 <= tiny["total"] <= 5_000_000
    assert tiny == {"encoder": 2_798_880, "decoder": 790_784, "heads": 1_156, "total": 3_590_820}
    # "small" is monodepth2's ResNet-18 depth network: 11.18 M encoder + 3.15 M decoder (incl. its 4 heads).
    assert small["encoder"] == 11_176_512
    assert small["decoder"] + small["heads"] == 3_152_724
    assert small["total"] == sum(v for k, v in small.items() if k != "total")


def test_options_add_parameters_where_expected() -> None:
    with torch.device("meta"):
        base = parameter_counts(build_unet(make_unet_spec("resnet18", "tiny")))
        aspp = parameter_counts(build_unet(make_unet_spec("resnet18", "tiny", aspp=True)))
        diff = parameter_counts(build_unet(make_unet_spec("resnet18", "tiny", difference=True)))
    assert aspp["encoder"] == base["encoder"] and aspp["decoder"] > base["decoder"]
    assert diff["encoder"] == base["encoder"] and diff["decoder"] > base["decoder"]  # wider skip inputs only


@settings(max_examples=50, deadline=None)
@given(
    min_m=st.floats(0.01, 10.0),
    ratio=st.floats(1.5, 1000.0),
    disp=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=20),
)
def test_disp_to_depth_range_and_monotonicity(min_m: float, ratio: float, disp: list[float]) -> None:
    max_m = min_m * ratio
    values = torch.tensor(sorted(disp), dtype=torch.float64)
    scaled, depth = disp_to_depth(values, min_m, max_m)
    assert (depth >= min_m).all() and (depth <= max_m).all()
    assert (depth[1:] <= depth[:-1]).all()  # more disparity, less depth
    torch.testing.assert_close(scaled * depth, torch.ones_like(depth))
    ends = torch.tensor([0.0, 1.0], dtype=torch.float64)
    _, end_depth = disp_to_depth(ends, min_m, max_m)
    torch.testing.assert_close(end_depth, torch.tensor([max_m, min_m], dtype=torch.float64))


def test_difference_feature_is_zero_on_constants_and_keeps_odd_shapes() -> None:
    constant = torch.full((1, 2, 5, 7), 3.0)
    assert difference_feature(constant).shape == (1, 2, 5, 7)
    torch.testing.assert_close(difference_feature(constant), torch.zeros_like(constant))
    checker = (torch.arange(8).view(1, 1, 1, 8) % 2).float().expand(1, 1, 4, 8)
    assert difference_feature(checker).abs().max() > 0.4  # the finest detail is what it keeps


def test_build_unet_checks_spec() -> None:
    with pytest.raises(ConfigError, match=r"multiple_of to be a multiple of 32, got 14"):
        build_unet(ModelSpec("unet", input=InputPolicy(height=518, width=518, keep_aspect=True, multiple_of=14)))
    with pytest.raises(ConfigError, match=r"fixed input size that is a multiple of 32, got 200x640"):
        build_unet(ModelSpec("unet", input=InputPolicy(height=200, width=640)))
    with pytest.raises(ConfigError, match="unknown unet params"):
        build_unet(ModelSpec("unet", params={"depth": 3}))


def test_make_unet_spec_writes_resolved_params_and_round_trips() -> None:
    spec = make_unet_spec("resnet34", "tiny", aspp=True, output_kind=OutputKind.METRIC, max_depth_m=80.0)
    assert spec.params["encoder_width"] == 32
    assert spec.params["decoder_channels"] == [16, 16, 32, 64, 128]
    assert spec.params["aspp"] is True
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec
    assert UNetConfig.from_params(again.params) == UNetConfig.from_params(spec.params)
    model = build_unet(again)
    assert model.max_depth_m == 80.0
    assert model.encoder.name == "resnet34"


def test_torch_export_keeps_height_and_width_dynamic() -> None:
    model = build_unet(make_unet_spec("resnet18", "tiny", **MICRO, **dict.fromkeys(OPTIONS, True))).eval()
    # Sizes of 1 are specialised by torch.export: keep the deepest pooled level (H / 64) above 1 in the example.
    rows, cols = torch.export.Dim("rows", min=3, max=64), torch.export.Dim("cols", min=3, max=64)
    example = torch.randn(1, 3, 96, 128)
    program = torch.export.export(model, (example,), dynamic_shapes={"x": {2: 32 * rows, 3: 32 * cols}})
    other = torch.randn(1, 3, 128, 160)  # a size the export never saw
    with torch.no_grad():
        expected = model(other)
    exported = program.module()(other)
    torch.testing.assert_close(exported.depth, expected.depth)
    for got, want in zip(exported.disparities, expected.disparities, strict=True):
        torch.testing.assert_close(got, want)
