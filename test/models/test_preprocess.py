"""Tests for models/preprocess.py: input size policy, normalisation, edge-aware upsampling on a step edge."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.core.errors import ConfigError, ShapeError
from mono_depth_ros.models.preprocess import (
    crop_to_box,
    image_to_device,
    input_box,
    letterbox_box,
    native_pad_box,
    network_input_size,
    preprocess,
    reflect_pad_box,
    reflect_pad_window,
    reflect_pads,
    upsample_edge_aware,
)
from mono_depth_ros.models.spec import InputPolicy

DA_POLICY = InputPolicy(height=518, width=518, keep_aspect=True, multiple_of=14, max_long_side=882)


def flying_fraction(depth: torch.Tensor, near: float, far: float, tolerance: float = 0.02) -> float:
    """Fraction of pixels strictly between the two levels of a step edge."""
    between = (depth > near * (1 + tolerance)) & (depth < far * (1 - tolerance))
    return float(between.sum()) / depth.numel()


def test_kitti_image_under_depth_anything_policy_is_capped() -> None:
    assert network_input_size((375, 1242), DA_POLICY) == (266, 882)
    uncapped = InputPolicy(height=518, width=518, keep_aspect=True, multiple_of=14, max_long_side=4096)
    assert network_input_size((375, 1242), uncapped) == (518, 1722)  # the accident the cap prevents


def test_square_and_fixed_policies() -> None:
    assert network_input_size((518, 518), DA_POLICY) == (518, 518)
    assert network_input_size((480, 640), DA_POLICY) == (518, 686)
    fixed = InputPolicy(height=192, width=640, keep_aspect=False)
    assert network_input_size((375, 1242), fixed) == (192, 640)


def test_bad_sizes_raise() -> None:
    with pytest.raises(ShapeError, match="positive"):
        network_input_size((0, 10), DA_POLICY)
    with pytest.raises(ConfigError, match="max_long_side"):
        network_input_size((100, 100), InputPolicy(keep_aspect=True, multiple_of=32, max_long_side=16))


@settings(max_examples=200, deadline=None)
@given(
    height=st.integers(1, 4000),
    width=st.integers(1, 4000),
    short=st.integers(14, 1024),
    multiple=st.sampled_from([8, 14, 32]),
    cap=st.integers(32, 2048),
)
def test_keep_aspect_properties(height: int, width: int, short: int, multiple: int, cap: int) -> None:
    policy = InputPolicy(height=short, width=short, keep_aspect=True, multiple_of=multiple, max_long_side=cap)
    out_h, out_w = network_input_size((height, width), policy)
    assert out_h % multiple == 0 and out_w % multiple == 0
    assert out_h >= multiple and out_w >= multiple
    assert max(out_h, out_w) <= cap
    # Aspect is kept up to the rounding of each side to one multiple.
    scale = min(short / min(height, width), cap / max(height, width))
    assert abs(out_h - height * scale) <= multiple or out_h == multiple or out_h == (cap // multiple) * multiple
    assert abs(out_w - width * scale) <= multiple or out_w == multiple or out_w == (cap // multiple) * multiple


def test_preprocess_normalises_and_resizes() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(30, 50, 3), dtype=np.uint8)
    batch = image_to_device(image, torch.device("cpu"))
    assert batch.shape == (1, 3, 30, 50) and batch.dtype == torch.uint8
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    same = preprocess(batch, (30, 50), mean, std)
    expected = (image.astype(np.float32) / 255.0 - np.array(mean)) / np.array(std)
    np.testing.assert_allclose(same[0].permute(1, 2, 0).numpy(), expected, atol=1e-5)
    resized = preprocess(batch, (14, 28), mean, std, channels_last=True)
    assert resized.shape == (1, 3, 14, 28) and resized.dtype == torch.float32
    assert resized.is_contiguous(memory_format=torch.channels_last)
    flat = np.full((30, 50, 3), 128, dtype=np.uint8)  # a flat image stays flat through the antialiased resize
    out = preprocess(image_to_device(flat, torch.device("cpu")), (14, 28), mean, std)
    np.testing.assert_allclose(out[0, 0].numpy(), (128 / 255 - 0.5) / 0.2, atol=1e-5)


def test_image_to_device_rejects_wrong_layout() -> None:
    with pytest.raises(ShapeError, match="uint8 RGB"):
        image_to_device(np.zeros((4, 4), dtype=np.uint8), torch.device("cpu"))
    with pytest.raises(ShapeError, match="uint8 RGB"):
        image_to_device(np.zeros((4, 4, 3), dtype=np.float32), torch.device("cpu"))


def test_step_edge_has_no_flying_pixels() -> None:
    near, far = 2.0, 10.0
    low_res = torch.full((12, 20), far)
    low_res[:, :9] = near
    low_res[:4, 14:] = near  # a second, horizontal edge
    plain = F.interpolate(low_res[None, None], size=(48, 80), mode="bilinear", align_corners=False)[0, 0]
    ours = upsample_edge_aware(low_res, (48, 80))
    assert flying_fraction(plain, near, far) > 0.02  # bilinear really does create them
    assert flying_fraction(ours, near, far) == 0.0
    assert set(torch.unique(ours).tolist()) == {near, far}
    # The same holds in inverse depth (relative_inverse outputs).
    inverse = upsample_edge_aware(1.0 / low_res, (48, 80))
    assert flying_fraction(1.0 / inverse, near, far) == 0.0


def test_smooth_surface_matches_bilinear() -> None:
    rows = torch.linspace(5.0, 6.0, 16)[:, None]
    cols = torch.linspace(0.0, 0.3, 24)[None, :]
    smooth = (rows + cols).to(torch.float32)
    ours = upsample_edge_aware(smooth[None, None], (37, 61))
    plain = F.interpolate(smooth[None, None], size=(37, 61), mode="bilinear", align_corners=False)[0, 0]
    torch.testing.assert_close(ours, plain, atol=1e-5, rtol=0)
    assert upsample_edge_aware(smooth, (16, 24)).shape == (16, 24)


def test_invalid_values_are_not_blended() -> None:
    source = torch.full((6, 6), 4.0)
    source[2:4, 2:4] = float("nan")
    out = upsample_edge_aware(source, (24, 24))
    finite = out[torch.isfinite(out)]
    assert torch.all(finite == 4.0)
    assert torch.isnan(out).sum() == 4 * 4 * 4  # the NaN block keeps its footprint, no more, no less


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), out_h=st.integers(1, 40), out_w=st.integers(1, 40), ratio=st.floats(1.01, 3.0))
def test_upsample_stays_within_source_range(seed: int, out_h: int, out_w: int, ratio: float) -> None:
    generator = torch.Generator().manual_seed(seed)
    source = torch.rand(7, 9, generator=generator) * 20 + 0.5
    out = upsample_edge_aware(source, (out_h, out_w), edge_ratio=ratio)
    assert out.shape == (out_h, out_w)
    assert float(out.min()) >= float(source.min()) - 1e-5
    assert float(out.max()) <= float(source.max()) + 1e-5


def test_upsample_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="edge_ratio"):
        upsample_edge_aware(torch.ones(4, 4), (8, 8), edge_ratio=1.0)
    with pytest.raises(ShapeError, match="map"):
        upsample_edge_aware(torch.ones(2, 4, 4), (8, 8))


def test_staging_buffer_is_filled_and_wrong_shapes_are_ignored() -> None:
    image = np.random.default_rng(3).integers(0, 256, size=(30, 50, 3), dtype=np.uint8)
    staging = torch.zeros((30, 50, 3), dtype=torch.uint8)
    batch = image_to_device(image, torch.device("cpu"), staging)
    np.testing.assert_array_equal(staging.numpy(), image)
    np.testing.assert_array_equal(batch[0].permute(1, 2, 0).numpy(), image)
    other = torch.zeros((10, 10, 3), dtype=torch.uint8)
    np.testing.assert_array_equal(image_to_device(image, torch.device("cpu"), other)[0].permute(1, 2, 0), image)
    assert int(other.sum()) == 0


@pytest.mark.parametrize(("shape", "out_hw"), [((96, 320), (375, 1242)), ((96, 320), (125, 414)), ((7, 9), (20, 33)),
                                               ((10, 10), (10, 25)), ((12, 16), (12, 16))])  # fmt: skip
def test_host_upsampling_gives_the_device_values(shape: tuple[int, int], out_hw: tuple[int, int]) -> None:
    from mono_depth_ros.models.preprocess import upsample_edge_aware_host

    rng = np.random.default_rng(shape[0])
    rough = rng.uniform(1.0, 50.0, shape).astype(np.float32)  # edges everywhere
    rough[rng.random(shape) < 0.05] = np.nan
    smooth = np.linspace(2.0, 3.0, shape[0] * shape[1], dtype=np.float32).reshape(shape)
    mixed = np.where(rng.random(shape) < 0.5, smooth, rough).astype(np.float32)
    mixed[0, 0] = -1.0  # non-positive: an edge
    for source in (rough, smooth, mixed):
        device = upsample_edge_aware(torch.from_numpy(source), out_hw).numpy()
        host = upsample_edge_aware_host(source, out_hw)
        assert host is not None and host.dtype == np.float32 and host.shape == out_hw
        np.testing.assert_array_equal(np.isnan(host), np.isnan(device))
        np.testing.assert_allclose(host, device, rtol=1e-5, equal_nan=True)  # same choices, float rounding only


def test_a_uint8_shrink_on_the_cpu_is_the_float_resize_to_a_grey_level(kitti_object_dir: Path) -> None:
    from mono_depth_ros.training.data.kitti_files import load_rgb

    image = torch.from_numpy(load_rgb(kitti_object_dir / "image_2" / "000000.png")).permute(2, 0, 1)[None]
    fast = preprocess(image, (96, 320), (0.0,) * 3, (1 / 255,) * 3)  # a real 375x1242 camera image, shrunk as uint8
    as_float = image.to(torch.float32).div(255.0)
    reference = F.interpolate(as_float, size=(96, 320), mode="bilinear", align_corners=False, antialias=True) * 255
    assert fast.shape == (1, 3, 96, 320) and fast.dtype == torch.float32
    assert float((fast - reference).abs().max()) <= 1.0  # the same kernel, rounded to whole grey levels


def test_letterbox_fits_the_image_centred_and_the_crop_takes_it_back() -> None:
    """A KITTI frame in Metric3D's 616x1064: 1064 wide, 321 tall, 147 rows of padding above and 148 below."""
    assert letterbox_box((375, 1242), (616, 1064)) == (147, 0, 321, 1064)
    assert letterbox_box((480, 640), (616, 1064)) == (0, 121, 616, 821)  # NYU: padded left and right
    assert letterbox_box((64, 128), (64, 128)) == (0, 0, 64, 128)
    image = torch.full((1, 3, 4, 8), 200, dtype=torch.uint8)
    box = letterbox_box((4, 8), (8, 8))
    batch = preprocess(image, (8, 8), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), pad_box=box)
    assert batch.shape == (1, 3, 8, 8) and box == (2, 0, 4, 8)
    assert torch.all(batch[:, :, :2] == 0) and torch.all(batch[:, :, 6:] == 0)  # the mean colour
    torch.testing.assert_close(batch[:, :, 2:6], torch.full((1, 3, 4, 8), (200 / 255 - 0.5) / 0.25))
    output = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8)
    torch.testing.assert_close(crop_to_box(output, box, (8, 8)), output[..., 2:6, :])
    half = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4)  # an output at half the input's resolution
    torch.testing.assert_close(crop_to_box(half, box, (8, 8)), half[..., 1:3, :])


def test_least_scale_fits_a_small_camera_inside_the_box_and_a_large_one_by_its_short_side() -> None:
    """transformers' "scale as little as possible": the scale nearer 1 of box height / H and box width / W."""
    box = InputPolicy(756, 756, keep_aspect=True, multiple_of=14, max_long_side=1288, least_scale=True)
    assert network_input_size((480, 640), box) == (560, 756)  # enlarged by 756 / 640 (not 756 / 480)
    assert network_input_size((1440, 1920), box) == (756, 1008)  # shrunk by 756 / 1440 (not 756 / 1920)
    assert network_input_size((375, 1242), box) == (224, 756)  # 756 / 1242 is nearer 1 than 756 / 375
    zoe = InputPolicy(384, 512, keep_aspect=True, max_long_side=864, least_scale=True)  # a non-square box
    assert network_input_size((1242, 375), zoe) == (864, 256)  # portrait: 512 / 375 nearer 1, then the cap
    short_side = InputPolicy(756, 756, keep_aspect=True, multiple_of=14, max_long_side=1288)
    assert network_input_size((480, 640), short_side) == (756, 1008)


def test_bicubic_on_the_device_path_agrees_with_the_cpu_uint8_kernel(kitti_object_dir: Path) -> None:
    """``mode="bicubic"``: the CPU resizes the uint8 image with PIL's filter (torch's uint8 kernel); a CUDA image
    goes the float path (here: a float image), across then down, each pass clipped to [0, 1] as PIL clips (one
    pass clipped once was 19 grey levels off at high-contrast corners). Both directions: KITTI shrunk and
    enlarged."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    image = torch.from_numpy(load_rgb(kitti_object_dir / "image_2" / "000000.png")).permute(2, 0, 1)[None]
    zero, one = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    for size in ((266, 882), (518, 1708)):
        on_cpu = preprocess(image, size, zero, one, mode="bicubic")
        float_path = preprocess(image.float(), size, zero, one, mode="bicubic")
        assert float(float_path.min()) >= 0.0 and float(float_path.max()) <= 1.0
        grey = (on_cpu - float_path).abs() * 255
        assert float(grey.mean()) < 0.5 and float(grey.max()) <= 1.5  # PIL rounds each pass to a grey level
        bilinear = preprocess(image, size, zero, one)
        assert float(((bilinear - on_cpu).abs() * 255).max()) > 10.0  # another filter: sharper edges
    with pytest.raises(ConfigError, match="interpolation 'area' is not one of bilinear, bicubic"):
        preprocess(image, (64, 64), zero, one, mode="area")


def test_the_in_place_normalisation_is_the_written_out_formula_bit_for_bit(kitti_object_dir: Path) -> None:
    """On a real camera image: the network input of a uint8 shrink (the shipped model's 96x320), of a float enlarge
    and of a letterboxed resize is ``(x / 255 - mean) / std`` computed out of place, to the bit; the caller's image
    is left as it was."""
    from mono_depth_ros.training.data.kitti_files import load_rgb

    image = torch.from_numpy(load_rgb(kitti_object_dir / "image_2" / "000001.png")).permute(2, 0, 1)[None]
    kept = image.clone()
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    mean_t, std_t = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    small = F.interpolate(image, size=(96, 320), mode="bilinear", align_corners=False, antialias=True)
    assert torch.equal(preprocess(image, (96, 320), mean, std), (small.to(torch.float32).div(255.0) - mean_t) / std_t)
    crop = image[..., :60, :100]
    large = F.interpolate(crop.to(torch.float32).div(255.0), size=(120, 200), mode="bilinear", align_corners=False)
    assert torch.equal(preprocess(crop, (120, 200), mean, std), (large - mean_t) / std_t)
    boxed = preprocess(image, (128, 320), mean, std, pad_box=(16, 0, 96, 320))
    assert torch.equal(boxed[..., 16:112, :], (small.to(torch.float32).div(255.0) - mean_t) / std_t)
    assert torch.equal(image, kept)


def test_the_reflect_padded_input_is_normalised_in_place_and_is_the_written_out_formula(nyu_dir: Path) -> None:
    """ZoeDepth's path on a real NYU frame (480x640, reflected by 46 and 53 px, to 384x512): ``(x - mean) / std`` of
    the padded and resized image, to the bit, computed in place (no out-of-place ``sub`` / ``div``: two fresh
    network-size tensors); the caller's image is left as it was."""
    from torch.profiler import ProfilerActivity, profile

    from mono_depth_ros.training.data.kitti_files import load_rgb

    image = torch.from_numpy(load_rgb(nyu_dir / "rgb" / "rgb_00000.jpg")).permute(2, 0, 1)[None]
    kept = image.clone()
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    mean_t, std_t = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    padded = F.pad(image.to(torch.float32).div(255.0), (53, 53, 46, 46), mode="reflect")
    written = (F.interpolate(padded, size=(384, 512), mode="bilinear", align_corners=True) - mean_t) / std_t
    with profile(activities=[ProfilerActivity.CPU]) as run:
        result = preprocess(image, (384, 512), mean, std, reflect_pad=True)
    assert torch.equal(result, written)
    assert torch.equal(image, kept)
    ops = {event.name for event in run.events()}
    assert {"aten::sub_", "aten::div_"} <= ops and not {"aten::sub", "aten::div"} & ops


def test_the_reflect_pad_window_is_where_the_align_corners_resize_puts_the_image() -> None:
    """NYU's 480x640 padded by 46 / 53 px to 572x746 and resized (align_corners) to 384x512: image pixel centre y
    lands at (y + 46) · 383 / 571, the window's top + (y + 0.5) · height / 480 - 0.5 for every row (and the same
    for the columns); a map at another resolution spanning the input (pixel centres) has its edges scaled; the box
    is the window in whole pixels."""
    window = reflect_pad_window((480, 640), (384, 512))
    assert window is not None
    top, left, height, width = window
    rows, cols = np.arange(480), np.arange(640)
    np.testing.assert_allclose(top + (rows + 0.5) * height / 480 - 0.5, (rows + 46) * 383 / 571, atol=1e-9)
    np.testing.assert_allclose(left + (cols + 0.5) * width / 640 - 0.5, (cols + 53) * 511 / 745, atol=1e-9)
    half = reflect_pad_window((480, 640), (384, 512), (192, 256))
    assert half == pytest.approx((top / 2, left / 2, height / 2, width / 2))
    assert reflect_pad_box((480, 640), (384, 512)) == (31, 37, 322, 438)
    assert reflect_pad_window((3, 640), (32, 64)) is None


@pytest.mark.parametrize("out_hw", [(480, 640), (240, 320), (1080, 1920)])
def test_a_window_is_upsampled_alike_on_the_host_and_the_device(out_hw: tuple[int, int]) -> None:
    """A fractional window (ZoeDepth's image in its 384x512 map) gives the same cell choices and values on the host
    (numpy gathers) as on the device; the whole map as a window is the plain upsampling."""
    from mono_depth_ros.models.preprocess import upsample_edge_aware_host

    rng = np.random.default_rng(7)
    smooth = np.linspace(2.0, 3.0, 384 * 512, dtype=np.float32).reshape(384, 512)
    source = np.where(rng.random((384, 512)) < 0.3, rng.uniform(1.0, 50.0, (384, 512)), smooth).astype(np.float32)
    source[rng.random((384, 512)) < 0.02] = np.nan
    window = reflect_pad_window((480, 640), (384, 512))
    device = upsample_edge_aware(torch.from_numpy(source), out_hw, window=window).numpy()
    host = upsample_edge_aware_host(source, out_hw, window=window)
    assert host is not None and host.shape == out_hw and host.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(host), np.isnan(device))
    np.testing.assert_allclose(host, device, rtol=1e-5, equal_nan=True)
    whole = upsample_edge_aware(torch.from_numpy(source), out_hw, window=(0.0, 0.0, 384.0, 512.0)).numpy()
    np.testing.assert_allclose(whole, upsample_edge_aware(torch.from_numpy(source), out_hw).numpy(), rtol=1e-6)
    whole_host = upsample_edge_aware_host(source, out_hw, window=(0.0, 0.0, 384.0, 512.0))
    plain_host = upsample_edge_aware_host(source, out_hw)
    assert whole_host is not None and plain_host is not None
    np.testing.assert_allclose(whole_host, plain_host, rtol=1e-5, equal_nan=True)


def gathered_window(
    source: np.ndarray, smooth_cell: np.ndarray, out_hw: tuple[int, int], window: tuple[float, float, float, float]
) -> np.ndarray:
    """The window's resampling through plain separable gathers and temporaries (the host road before its indices
    were cached flat): the reference the cached road must equal byte for byte."""
    from mono_depth_ros.models.preprocess import _window_index

    top, left, height, width = window
    y0, y1, wy, nearest_y = _window_index(out_hw[0], source.shape[0], top, height)
    x0, x1, wx, nearest_x = _window_index(out_hw[1], source.shape[1], left, width)
    out: np.ndarray = source.take(nearest_y, axis=0).take(nearest_x, axis=1)
    rows0, rows1 = source.take(y0, axis=0), source.take(y1, axis=0)
    rows = rows0 + wy[:, None] * (rows1 - rows0)
    left_values, right_values = rows.take(x0, axis=1), rows.take(x1, axis=1)
    bilinear = left_values + wx[None, :] * (right_values - left_values)
    np.copyto(out, bilinear, where=smooth_cell.take(y0, axis=0).take(x0, axis=1))
    return out


@pytest.mark.parametrize("out_hw", [(480, 640), (241, 333), (1080, 1920)])
@pytest.mark.parametrize("map_hw", [(384, 512), (192, 256)])
def test_a_window_resampled_in_reused_arrays_is_the_same_bytes(
    out_hw: tuple[int, int], map_hw: tuple[int, int]
) -> None:
    """The window road blends in place in arrays this thread reuses frame after frame: the same bytes as the gathers
    through temporaries it replaced (NaN included), a fresh output each frame (a second frame does not overwrite
    the first's), and another thread gets arrays of its own. Its speed: bench/bench_window_upsample.py."""
    from mono_depth_ros.models import preprocess

    rng = np.random.default_rng(11)
    sources = [rng.uniform(0.5, 40.0, map_hw).astype(np.float32) for _ in range(2)]
    for source in sources:
        source[rng.random(map_hw) < 0.02] = np.nan
    smooth_cell = rng.random(map_hw) < 0.8
    window = reflect_pad_window((480, 640), (384, 512), map_hw)
    assert window is not None
    expected = [gathered_window(source, smooth_cell, out_hw, window).tobytes() for source in sources]
    first, second = (preprocess._window_host(source, smooth_cell, out_hw, window) for source in sources)
    assert first.shape == out_hw and first.dtype == np.float32
    assert [first.tobytes(), second.tobytes()] == expected  # the first frame's output intact after the second
    bilinear = preprocess._scratch("bilinear", out_hw, np.float32)
    assert preprocess._scratch("bilinear", out_hw, np.float32).__array_interface__ == bilinear.__array_interface__
    other: list[np.ndarray] = []
    thread = threading.Thread(target=lambda: other.append(preprocess._scratch("bilinear", out_hw, np.float32)))
    thread.start()
    thread.join()
    assert not np.shares_memory(other[0], bilinear)


def test_reflect_padding_is_zoedepths_and_left_out_where_the_image_cannot_reflect_it() -> None:
    """int(3 sqrt(side / 2)) px each side (NYU 480x640: 46, 53); an image smaller than its padding is not padded
    (torch cannot reflect it), and its box is then None: nothing is cropped off the output."""
    assert reflect_pads((480, 640)) == (46, 53) and reflect_pads((3, 640)) is None
    assert reflect_pad_box((3, 640), (32, 64)) is None
    tiny = torch.randint(0, 256, (1, 3, 3, 64), dtype=torch.uint8)
    plain = preprocess(tiny, (32, 64), (0.5,) * 3, (0.5,) * 3)
    torch.testing.assert_close(preprocess(tiny, (32, 64), (0.5,) * 3, (0.5,) * 3, reflect_pad=True), plain)


def test_native_floor_runs_a_camera_of_the_training_resolution_at_its_own_size_floored() -> None:
    """GLPN-KITTI (short side 352, cap 1216): KITTI's cameras at 352x1216 as its processor; others keep aspect."""
    glpn = InputPolicy(352, 352, keep_aspect=True, multiple_of=32, max_long_side=1216, native_floor=True)
    assert network_input_size((375, 1242), glpn) == network_input_size((370, 1224), glpn) == (352, 1216)
    assert network_input_size((720, 1280), glpn) == (352, 640)  # another camera: aspect kept at the short side
    assert network_input_size((375, 1242), InputPolicy(352, 352, keep_aspect=True, max_long_side=1216)) == (352, 1152)


def test_native_pad_runs_a_camera_within_the_bounds_at_its_own_size_centre_padded() -> None:
    """DINOv2's DPT heads (no resize, padded to 14, the odd pixel below and right as DPTImageProcessor): a camera
    up to 490 x 1246 padded at its own size; a larger one resized keeping aspect (nothing to crop); a fixed-size
    (exported) policy pads the camera whose padded size it is and resizes the others."""
    dino = InputPolicy(480, 480, keep_aspect=True, multiple_of=14, max_long_side=1246, native_pad=True)
    assert network_input_size((480, 640), dino) == (490, 644) and input_box(dino, (480, 640), (490, 644)) == (
        5, 2, 480, 640,
    )  # fmt: skip
    assert network_input_size((375, 1242), dino) == (378, 1246)
    assert input_box(dino, (375, 1242), (378, 1246)) == (1, 2, 375, 1242)
    assert network_input_size((720, 1280), dino) == (476, 854)  # beyond the cap: aspect kept at short side 480
    assert input_box(dino, (720, 1280), (476, 854)) is None
    assert native_pad_box((476, 644), (476, 644), 14) is None  # a multiple already: nothing padded
    fixed = InputPolicy(378, 1246, multiple_of=14, native_pad=True)
    assert network_input_size((375, 1242), fixed) == (378, 1246) and input_box(fixed, (375, 1242), (378, 1246))
    assert input_box(fixed, (370, 1224), (378, 1246)) is None  # another camera: stretched to the fixed size
    image = torch.full((1, 3, 3, 5), 200, dtype=torch.uint8)  # padded to 7: one row above, three below...
    box = native_pad_box((3, 5), (7, 7), 7)
    assert box == (2, 1, 3, 5)
    batch = preprocess(image, (7, 7), (0.5,) * 3, (0.25,) * 3, pad_box=box)
    inside = torch.zeros(7, 7, dtype=torch.bool)
    inside[2:5, 1:6] = True
    assert torch.all(batch[..., ~inside] == 0)  # the mean colour
    torch.testing.assert_close(batch[..., inside], torch.full((1, 3, 15), (200 / 255 - 0.5) / 0.25))


def test_an_infinite_edge_ratio_blends_every_finite_cell_zeros_and_negatives_included() -> None:
    """``edge_ratio=inf`` (evaluation's resize, :data:`~mono_depth_ros.evaluation.depth.EVAL_EDGE_RATIO`): every
    2×2 cell of finite values is bilinear, zeros and negatives too (a relative head's ReLU zeros, an affine output's
    negatives), on the host (OpenCV) and the device road alike; a NaN or ±Inf cell keeps the nearest value."""
    from mono_depth_ros.models.preprocess import upsample_edge_aware_host

    rng = np.random.default_rng(0)
    source = rng.normal(0.0, 1.0, (12, 20)).astype(np.float32)  # about half the values <= 0
    source[rng.random((12, 20)) < 0.2] = 0.0
    plain = F.interpolate(torch.from_numpy(source)[None, None], size=(37, 61), mode="bilinear")[0, 0].numpy()
    device = upsample_edge_aware(torch.from_numpy(source), (37, 61), edge_ratio=float("inf")).numpy()
    host = upsample_edge_aware_host(source, (37, 61), edge_ratio=float("inf"))
    assert host is not None
    np.testing.assert_allclose(device, plain, atol=1e-5, rtol=0)
    np.testing.assert_allclose(host, plain, atol=1e-5, rtol=0)  # OpenCV blends in its own float order
    holes = source.copy()
    holes[3, 4], holes[8, 15] = np.nan, np.inf
    nearest = upsample_edge_aware(torch.from_numpy(holes), (36, 60), edge_ratio=float("inf")).numpy()
    host = upsample_edge_aware_host(holes, (36, 60), edge_ratio=float("inf"))
    assert host is not None
    np.testing.assert_array_equal(np.isnan(nearest), np.isnan(host))
    assert np.isnan(nearest).sum() == 9 and np.isposinf(nearest).sum() == 9  # each keeps its 3x3 footprint, no blend
    finite = np.isfinite(nearest)
    np.testing.assert_allclose(nearest[finite], host[finite], atol=1e-5, rtol=0)


@pytest.mark.parametrize("out_hw", [(36, 60), (37, 61)])
def test_an_infinite_region_keeps_its_nearest_value_alike_on_the_host_and_the_device(out_hw: tuple[int, int]) -> None:
    """A 2×2 block of +Inf in the network output (a half-precision overflow) passes the edge test (Inf <= ratio ·
    Inf): its cells are not blended, on either road, so each output pixel there is the nearest value, +Inf. Seen:
    the host wrote 0 there (its resize takes non-finite values as 0 since OpenCV 4's weight-0 blend) and the device
    NaN (0 · Inf where a weight is 0), neither a value of the source."""
    from mono_depth_ros.models.preprocess import _host_index, upsample_edge_aware_host

    source = np.linspace(2.0, 3.0, 12 * 20, dtype=np.float32).reshape(12, 20)  # smooth: bilinear elsewhere
    source[4:6, 6:8] = np.inf
    nearest = source.take(_host_index(out_hw[0], 12)[1], axis=0).take(_host_index(out_hw[1], 20)[1], axis=1)
    device = upsample_edge_aware(torch.from_numpy(source), out_hw).numpy()
    host = upsample_edge_aware_host(source, out_hw)
    assert host is not None
    assert not np.isnan(device).any() and not np.isnan(host).any()  # no NaN in the source, none made
    np.testing.assert_array_equal(np.isposinf(host), np.isposinf(device))
    np.testing.assert_array_equal(np.isposinf(device), np.isposinf(nearest))  # the block's own footprint
    np.testing.assert_allclose(host, device, rtol=1e-5)
