"""core.postprocess_torch: each torch step gives the host step's bits, and the packed result is the host frame.

Bit equality, not a tolerance: every step repeats the numpy step's float32 (or float64) operations in the same
order, and IEEE-754 rounds each of them the same on any device (CUDA's division and reciprocal are correctly rounded
unless compiled with fast-math, which torch is not).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.cloud import organized_cloud
from mono_depth_ros.core.cloud_outliers import OutlierFilter, speckle_mask
from mono_depth_ros.core.depth_codec import apply_range_limits, decode_depth, encode_depth
from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.edges import flying_pixel_mask
from mono_depth_ros.core.errors import ConfigError, EncodingError, ShapeError
from mono_depth_ros.core.postprocess_torch import (
    DevicePostprocess,
    apply_fit_torch,
    apply_range_limits_torch,
    encode_depth_torch,
    postprocess_on_device,
)
from mono_depth_ros.core.scale.fit import apply_fit

INTR = PinholeIntrinsics(353.0, 353.0, 206.8, 60.2, width=414, height=125)  # KITTI at the shipped model's size
SPECIALS = (np.nan, np.inf, -np.inf, 0.0, -1.0)
ANY_DEPTH = st.one_of(st.floats(-5, 100_000, width=32), st.sampled_from(SPECIALS))


def _depth(seed: int = 0) -> np.ndarray:
    """(125, 414) float32: a far-to-near ramp (0.05 to 120 m) with boxes, a blend column, sky, NaN, 0, -1."""
    rng = np.random.default_rng(seed)
    depth = np.repeat(np.geomspace(120.0, 0.05, INTR.height, dtype=np.float32)[:, None], INTR.width, axis=1)
    depth *= rng.uniform(0.98, 1.02, depth.shape).astype(np.float32)
    depth[40:80, 100:160] = 7.5
    depth[40:80, 160] = 20.0  # between the box and the ramp behind it
    depth[:6] = np.inf
    holes = rng.random(depth.shape) < 0.03
    depth[holes] = rng.choice(np.array(SPECIALS, dtype=np.float32), size=int(holes.sum()))
    return depth


@pytest.mark.parametrize("kind", list(OutputKind))
@pytest.mark.parametrize(("scale", "shift"), [(1.0, 0.0), (0.37, 0.02), (12.5, -0.003)])
def test_apply_fit_torch_is_apply_fit(kind: OutputKind, scale: float, shift: float) -> None:
    prediction = _depth(1)
    if kind is OutputKind.RELATIVE_INVERSE:
        with np.errstate(divide="ignore"):
            prediction = np.float32(1.0) / prediction
    expected = apply_fit(prediction, kind, scale, shift)
    got = apply_fit_torch(torch.from_numpy(prediction), kind, scale, shift)
    assert got.dtype == torch.float32
    assert got.numpy().tobytes() == expected.tobytes()


@given(
    prediction=hnp.arrays(np.float32, (3, 5), elements=ANY_DEPTH), scale=st.floats(1e-3, 1e3), shift=st.floats(-1, 1)
)
@settings(max_examples=60, deadline=None)
def test_apply_fit_torch_for_any_prediction(prediction: np.ndarray, scale: float, shift: float) -> None:
    for kind in (OutputKind.RELATIVE_INVERSE, OutputKind.DEPTH_UP_TO_SCALE):
        with np.errstate(over="ignore"):  # 1 / a subnormal: +Inf, then NaN (both sides)
            expected = apply_fit(prediction, kind, scale, shift)
        assert apply_fit_torch(torch.from_numpy(prediction), kind, scale, shift).numpy().tobytes() == expected.tobytes()


@given(depth=hnp.arrays(np.float32, (4, 6), elements=ANY_DEPTH), low=st.floats(0, 50), span=st.floats(1e-3, 500))
@settings(max_examples=60, deadline=None)
def test_range_limits_and_16uc1_for_any_depth(depth: np.ndarray, low: float, span: float) -> None:
    limited = apply_range_limits(depth, low, low + span)
    got = apply_range_limits_torch(torch.from_numpy(depth), low, low + span)
    assert got.numpy().tobytes() == limited.tobytes()
    wire = encode_depth_torch(got, "16UC1")
    assert wire.dtype == torch.int16
    assert wire.numpy().view(np.uint16).tobytes() == encode_depth(limited, "16UC1").tobytes()


def test_16uc1_rounds_half_millimetres_as_numpy_and_caps_at_65535() -> None:
    depth = np.array([[0.0005, 0.0015, 0.0025, 1.2345, 32.767, 32.768, 65.535, 65.5355, 70.0]], np.float32)
    wire = encode_depth_torch(torch.from_numpy(depth), "16UC1").numpy().view(np.uint16)
    np.testing.assert_array_equal(wire, encode_depth(depth, "16UC1"))
    assert wire[0, 5] == 32768 and wire[0, 6] == 65535 and wire[0, -1] == 0  # the int16 bits hold the uint16 range
    assert encode_depth_torch(torch.from_numpy(depth), "32FC1").numpy().tobytes() == depth.tobytes()


@pytest.mark.parametrize("encoding", ["32FC1", "16UC1"])
@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize(
    ("edge", "source_hw", "limits", "outlier"),
    [
        (0.1, (42, 138), (0.1, 80.0), None),
        (None, None, (0.5, 30.0), OutlierFilter()),
        (0.05, None, (0, 1e4), OutlierFilter(0.02, 2)),
    ],
)
def test_the_packed_frame_is_the_host_frame(
    encoding: str,
    colour: bool,
    edge: float | None,
    source_hw: tuple[int, int] | None,
    limits: tuple[float, float],
    outlier: OutlierFilter | None,
) -> None:
    depth = _depth(2)
    depth[7::9, 5::11] *= np.float32(0.3)  # speckles: single pixels far nearer than the surface around them
    rgb = np.random.default_rng(3).integers(0, 256, (INTR.height, INTR.width, 3), dtype=np.uint8) if colour else None
    settings_ = DevicePostprocess(*limits, encoding, edge, source_hw, cloud=True, outlier=outlier)
    got = postprocess_on_device(torch.from_numpy(depth), INTR, settings_, rgb)
    # the host road (pipeline.py): speckle mask, edge mask, range limits, encoding, the cloud of what the image says
    host = depth.copy()
    if outlier is not None:
        speckles = speckle_mask(host, outlier, source_hw)
        assert speckles.any()  # a map with speckles to remove
        host[speckles] = np.nan
    if edge is not None:
        host[flying_pixel_mask(host, edge, source_hw)] = np.nan
    host = apply_range_limits(host, *limits)
    wire = encode_depth(host, encoding)
    cloud = organized_cloud(decode_depth(wire, encoding) if encoding == "16UC1" else host, INTR, rgb)
    assert got.depth_m.dtype == np.float32 and got.depth_m.tobytes() == host.tobytes()
    assert got.depth_wire.dtype == wire.dtype and got.depth_wire.tobytes() == wire.tobytes()
    assert got.cloud is not None and got.cloud.tobytes() == cloud.tobytes()
    assert got.cloud.fields == cloud.fields and (got.cloud.height, got.cloud.width) == (INTR.height, INTR.width)
    assert (got.depth_wire is got.depth_m) == (encoding == "32FC1")  # a 32FC1 image is the depth itself
    assert np.isposinf(host).any() and np.isneginf(host).any() and np.isnan(host).any()  # REP 117 values compared


def test_on_the_cpu_the_results_are_views_of_one_buffer_kept_alive_by_them() -> None:
    depth = _depth(4)
    got = postprocess_on_device(torch.from_numpy(depth), INTR, DevicePostprocess(0.1, 80.0, "16UC1"))
    assert got.cloud is not None
    bases = {id(_owner(got.depth_m)), id(_owner(got.depth_wire)), id(_owner(got.cloud.points))}
    assert len(bases) == 1  # one buffer: no copy per output
    depth_m, expected = got.depth_m, got.depth_m.copy()
    del got, bases
    _ = [torch.full((1 << 20,), 7.0) for _ in range(4)]  # allocations that could take a freed buffer's memory
    assert depth_m.tobytes() == expected.tobytes()


def _owner(array: np.ndarray) -> object:
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array.base


def test_no_cloud_and_no_edge_filter() -> None:
    depth = _depth(5)
    got = postprocess_on_device(torch.from_numpy(depth), INTR, DevicePostprocess(0.1, 80.0, cloud=False))
    assert got.cloud is None and got.depth_m.tobytes() == apply_range_limits(depth, 0.1, 80.0).tobytes()


def test_errors_name_the_value() -> None:
    with pytest.raises(ConfigError, match="min_range"):
        DevicePostprocess(5.0, 1.0)
    with pytest.raises(EncodingError, match="8UC1"):
        DevicePostprocess(0.1, 80.0, "8UC1")
    with pytest.raises(EncodingError, match="8UC1"):
        encode_depth_torch(torch.ones(2, 2), "8UC1")
    with pytest.raises(ShapeError, match="depth"):
        postprocess_on_device(torch.ones(2, 2, 2), INTR, DevicePostprocess(0.1, 80.0))
    with pytest.raises(ShapeError, match="prediction"):
        apply_fit_torch(torch.ones(3), OutputKind.METRIC, 1.0)
    with pytest.raises(ValueError, match="min_range"):
        apply_range_limits_torch(torch.ones(2, 2), 2.0, 1.0)
    with pytest.raises(Exception, match="depth image"):
        postprocess_on_device(torch.ones(4, 4), INTR, DevicePostprocess(0.1, math.inf))


def test_real_kitti_lidar_depth(kitti_object_dir: Path) -> None:
    """Real depth (a KITTI frame's Velodyne, filled in, at the shipped model's 125x414), 16UC1, colour."""
    import cv2

    from mono_depth_ros.core.densify import densify_nearest
    from test.kitti_bag import load_kitti_frames

    frame = load_kitti_frames(kitti_object_dir, ("000000",))[0]
    depth = cv2.resize(densify_nearest(frame.lidar_depth_m), (414, 125), interpolation=cv2.INTER_LINEAR)
    rgb = cv2.resize(frame.rgb, (414, 125), interpolation=cv2.INTER_AREA)
    intrinsics = frame.intrinsics.resized(414, 125)
    got = postprocess_on_device(torch.from_numpy(depth), intrinsics, DevicePostprocess(1.0, 40.0, "16UC1", 0.1), rgb)
    host = depth.copy()
    host[flying_pixel_mask(host, 0.1)] = np.nan
    host = apply_range_limits(host, 1.0, 40.0)
    wire = encode_depth(host, "16UC1")
    assert got.depth_m.tobytes() == host.tobytes() and got.depth_wire.tobytes() == wire.tobytes()
    assert got.cloud is not None
    assert got.cloud.tobytes() == organized_cloud(decode_depth(wire, "16UC1"), intrinsics, rgb).tobytes()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (pinned memory, non-blocking copy)")
def test_cuda_packed_frame_is_the_host_frame_in_pinned_memory() -> None:
    depth = _depth(6)
    depth[7::9, 5::11] *= np.float32(0.3)  # speckles
    rgb = np.random.default_rng(7).integers(0, 256, (INTR.height, INTR.width, 3), dtype=np.uint8)
    settings_ = DevicePostprocess(0.1, 80.0, "16UC1", 0.1, (42, 138), outlier=OutlierFilter())
    got = postprocess_on_device(torch.from_numpy(depth).cuda(), INTR, settings_, rgb)
    host = depth.copy()
    host[speckle_mask(host, OutlierFilter(), (42, 138))] = np.nan
    host[flying_pixel_mask(host, 0.1, (42, 138))] = np.nan
    host = apply_range_limits(host, 0.1, 80.0)
    wire = encode_depth(host, "16UC1")
    assert got.depth_m.tobytes() == host.tobytes() and got.depth_wire.tobytes() == wire.tobytes()
    assert got.cloud is not None
    assert got.cloud.tobytes() == organized_cloud(decode_depth(wire, "16UC1"), INTR, rgb).tobytes()
    owner = _owner(got.depth_m)
    assert isinstance(owner, torch.Tensor) and owner.is_pinned()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (stream synchronisation)")
def test_cuda_frame_waits_for_the_device_once() -> None:
    """After the first frame of a size (indices, camera matrix uploaded once), nothing but the final copy waits for
    the stream: torch's sync debug mode reports every synchronising call."""
    import warnings

    depth = torch.from_numpy(_depth(8)).cuda()
    rgb = np.zeros((INTR.height, INTR.width, 3), dtype=np.uint8)
    settings_ = DevicePostprocess(0.1, 80.0, "16UC1", 0.1, (42, 138), outlier=OutlierFilter())
    postprocess_on_device(depth, INTR, settings_, rgb)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            postprocess_on_device(apply_fit_torch(depth, OutputKind.DEPTH_UP_TO_SCALE, 0.9), INTR, settings_, rgb)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    syncs = [str(w.message) for w in caught if "synchroniz" in str(w.message).lower()]
    assert len(syncs) <= 1, syncs
