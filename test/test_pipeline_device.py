"""``output.device_postprocess``: the steps after the network on the network's device give the host road's outputs.

Run with ``device=cpu`` here (the device road's torch maths on the CPU, the buffer then being host memory); the
CUDA-only part (pinned memory, the non-blocking copy) runs only where a GPU is (skipped otherwise, with the reason).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch

from mono_depth_ros.config import defaults
from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.frame_hints import FrameHints
from mono_depth_ros.core.geometry import RigidTransform
from mono_depth_ros.core.temporal_filter import FrameChange, TemporalFilter
from mono_depth_ros.models.spec import OutputKind
from mono_depth_ros.pipeline import DepthPipeline, DeviceDepthSource, FrameInput, FrameOutput, LidarInput

INTR = PinholeIntrinsics(200.0, 200.0, 81.3, 47.9, width=160, height=96)
CAMERA = CameraModel.from_intrinsics(INTR)


class _DeviceNet:
    """A resizing, hinted source with a device road: a box in front of a ramp (beyond 80 m at the top, nearer than
    0.1 m at the bottom, once scaled), blended at the box's edge, a one-pixel speckle at a quarter of the ramp's
    depth (``SPECKLE``), sky (+Inf) in the top rows, a few NaN; any kind."""

    def __init__(self, kind: OutputKind = OutputKind.DEPTH_UP_TO_SCALE, device: str = "cpu") -> None:
        self.output_kind = self.last_output_kind = kind
        self.device = self._tensors_on = torch.device(device)
        self.frame_inputs: frozenset[str] = frozenset()
        self.last_network_ms = 1.0
        self.device_calls = 0

    def network_hw(self, image_hw: tuple[int, int]) -> tuple[int, int]:
        return (24, 40)

    def predict(
        self, rgb: npt.NDArray[np.uint8], out_hw: tuple[int, int] | None = None, hints: FrameHints | None = None
    ) -> npt.NDArray[np.float32]:
        height, width = out_hw or rgb.shape[:2]
        depth = np.repeat(np.linspace(60.0, 0.05, height, dtype=np.float32)[:, None], width, axis=1)
        depth[height // 3 : 2 * height // 3, width // 3 : width // 2] = 6.0
        depth[height // 3 : 2 * height // 3, width // 2] = 15.0  # a blend between the box and the ramp
        depth[: height // 8] = np.inf
        depth[height - 2, ::7] = np.nan
        depth[_speckle(height, width)] /= 4.0
        if self.output_kind is OutputKind.RELATIVE_INVERSE:
            return (np.float32(2.0) / depth + np.float32(0.01)).astype(np.float32)
        return depth

    def predict_on_device(
        self, rgb: npt.NDArray[np.uint8], out_hw: tuple[int, int] | None = None, hints: FrameHints | None = None
    ) -> tuple[torch.Tensor, npt.NDArray[np.float32]]:
        self.device_calls += 1
        host = self.predict(rgb, out_hw, hints)
        return torch.from_numpy(host).to(self._tensors_on), host


def _speckle(height: int, width: int) -> tuple[int, int]:
    """Where :class:`_DeviceNet` puts its speckle in an (height, width) map."""
    return (3 * height // 4, width // 5)


def _frame(stamp_ns: int = 1_000, lidar: LidarInput | None = None) -> FrameInput:
    rgb = (np.arange(INTR.height * INTR.width * 3, dtype=np.int64).reshape(INTR.height, INTR.width, 3) % 251).astype(
        np.uint8
    )
    return FrameInput(stamp_ns, "camera_optical", rgb, CAMERA, True, lidar)


def _assert_same(device: FrameOutput, host: FrameOutput) -> None:
    """Same depth, wire bytes, cloud bytes and layout, scale status, clearing / scan."""
    assert device.depth_m.dtype == host.depth_m.dtype and device.depth_m.shape == host.depth_m.shape
    assert device.depth_m.tobytes() == host.depth_m.tobytes()
    assert device.encoding == host.encoding and device.depth_wire.dtype == host.depth_wire.dtype
    assert device.depth_wire.tobytes() == host.depth_wire.tobytes()
    assert device.intrinsics == host.intrinsics and device.scale == host.scale and device.temporal == host.temporal
    assert (device.cloud is None) == (host.cloud is None)
    if device.cloud is not None and host.cloud is not None:
        assert (device.cloud.height, device.cloud.width, device.cloud.point_step) == (
            host.cloud.height,
            host.cloud.width,
            host.cloud.point_step,
        )
        assert device.cloud.fields == host.cloud.fields and device.cloud.is_dense == host.cloud.is_dense
        assert device.cloud.tobytes() == host.cloud.tobytes()
    for name in ("clearing", "scan"):
        assert (getattr(device, name) is None) == (getattr(host, name) is None)
    if device.clearing is not None and host.clearing is not None:
        assert device.clearing.tobytes() == host.clearing.tobytes()
    if device.scan is not None and host.scan is not None:
        assert np.array_equal(device.scan.ranges, host.scan.ranges, equal_nan=True)


def _both(source: Any, **params: Any) -> tuple[FrameOutput, FrameOutput]:
    config = {**defaults(), "scale.mode": "fixed", "scale.fixed_scale": 1.7, **params}
    on = DepthPipeline({**config, "output.device_postprocess": "on"}, source=source)
    off = DepthPipeline({**config, "output.device_postprocess": "off"}, source=source)
    return on.process_frame(_frame()), off.process_frame(_frame())


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"output.encoding": "16UC1", "cloud.rgb": True},
        {"cloud.rgb": True, "output.edge_filter": False, "output.min_range": 4.0, "output.max_range": 20.0},
        {"output.downscale": 1, "output.edge_threshold": 0.05},
        {"cloud.mode": "strided", "cloud.stride": 2, "cloud.clearing": True, "scan.enabled": True},
        {"cloud.enabled": False, "output.encoding": "16UC1"},
        {"output.outlier_filter": True},
        {"output.outlier_filter": True, "output.outlier_tolerance": 0.01, "output.encoding": "16UC1"},
        {"output.outlier_filter": True, "output.edge_filter": False, "temporal.enabled": True},
    ],
)
def test_the_device_road_gives_the_host_outputs(params: dict[str, Any]) -> None:
    source = _DeviceNet()
    device, host = _both(source, **params)
    assert source.device_calls == 1  # the "on" pipeline took the device road, the "off" one not
    _assert_same(device, host)
    assert np.isnan(host.depth_m).any() and np.isinf(host.depth_m).any()  # the maps hold what is worth comparing
    if "output.edge_filter" not in params and host.depth_m.shape == (24, 40):  # the blend went, the box stayed
        assert np.isnan(host.depth_m[12, 20]) and host.depth_m[12, 19] == np.float32(6.0) * np.float32(1.7)
    speckle = host.depth_m[_speckle(*host.depth_m.shape)]
    if params.get("output.outlier_filter"):
        assert np.isnan(speckle)  # the speckle filter ran
    elif not params:
        assert np.isfinite(speckle)  # and only it takes the speckle


@pytest.mark.parametrize("kind", [OutputKind.RELATIVE_INVERSE, OutputKind.METRIC])
def test_every_output_kind_and_scale_mode(kind: OutputKind) -> None:
    for mode in ("fixed", "none", "ground_plane"):
        source = _DeviceNet(kind)
        device, host = _both(source, **{"scale.mode": mode, "scale.camera_height_m": 1.5})
        _assert_same(device, host)


def test_auto_runs_on_the_host_for_a_cpu_network_and_a_change_applies_from_the_next_frame() -> None:
    source = _DeviceNet()
    config = {**defaults(), "scale.mode": "fixed"}
    DepthPipeline(config, source=source).process_frame(_frame())  # auto, network on the CPU
    assert source.device_calls == 0
    pipeline = DepthPipeline({**config, "output.device_postprocess": "on"}, source=source)
    pipeline.process_frame(_frame())
    pipeline.update_params({"output.device_postprocess": "off"})  # a run-time change applies from the next frame
    pipeline.process_frame(_frame())
    assert source.device_calls == 1


class _FlickeringNet(_DeviceNet):
    """:class:`_DeviceNet` with a per-frame flicker (1 % per pixel, seeded by the call count): history to blend."""

    def __init__(self, device: str = "cpu", kind: OutputKind = OutputKind.METRIC) -> None:
        super().__init__(kind, device)
        self.calls = 0

    def predict(
        self, rgb: npt.NDArray[np.uint8], out_hw: tuple[int, int] | None = None, hints: FrameHints | None = None
    ) -> npt.NDArray[np.float32]:
        depth = super().predict(rgb, out_hw, hints)
        self.calls += 1
        flicker = np.random.default_rng(self.calls).normal(1.0, 0.01, depth.shape).astype(np.float32)
        return depth * flicker


TEMPORAL_STATES = ["started", "filtered", "filtered", "no_motion", "started", "filtered", "started", "filtered"]
"""The filter's state per frame of :func:`_temporal_run`: the pose missing in frame 3, new intrinsics in frame 6."""


def _temporal_run(
    params: dict[str, Any], device: str = "cpu", kind: OutputKind = OutputKind.METRIC
) -> tuple[dict[str, _FlickeringNet], FrameOutput]:
    """Eight frames of a camera moving 0.2 m per frame along its optical axis through both roads, with the pose
    missing in frame 3, ``temporal.agreement`` and ``output.outlier_tolerance`` changed at run time before frame 5
    and the focal length changed in frame 6; asserts that every frame's outputs and filter status are the same on
    both roads. Returns the sources by road and the device road's last frame."""
    config = {**defaults(), "scale.mode": "fixed", "scale.fixed_scale": 1.0, "temporal.enabled": True, **params}
    sources = {road: _FlickeringNet(device, kind) for road in ("on", "off")}
    pipelines = {
        road: DepthPipeline({**config, "output.device_postprocess": road}, source=source)
        for road, source in sources.items()
    }
    rgb = _frame().rgb
    for index, state in enumerate(TEMPORAL_STATES):
        if index == 5:
            for pipeline in pipelines.values():
                pipeline.update_params({"temporal.agreement": 0.05, "output.outlier_tolerance": 0.02})
        intrinsics = INTR if index < 6 else PinholeIntrinsics(210.0, 210.0, 81.3, 47.9, width=160, height=96)
        pose = None if index == 3 else RigidTransform(np.eye(3), np.array([0.0, 0.0, 0.2 * index]))
        camera = CameraModel.from_intrinsics(intrinsics)
        frame = FrameInput(1_000 + index, "camera_optical", rgb, camera, True, None, world_from_cam=pose)
        device_road, host_road = (pipelines[road].process_frame(frame) for road in ("on", "off"))
        _assert_same(device_road, host_road)
        assert device_road.temporal is not None and device_road.temporal.state == state, index
        assert "temporal" in device_road.timings_ms
    return sources, device_road


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"output.encoding": "16UC1", "output.outlier_filter": True},
        {"cloud.mode": "strided", "cloud.stride": 2, "cloud.clearing": True, "scan.enabled": True},
        {"cloud.mode": "voxel", "cloud.rgb": True, "output.edge_filter": False},
    ],
)
def test_the_temporal_filter_runs_on_the_device_road_with_the_host_roads_outputs(params: dict[str, Any]) -> None:
    sources, last = _temporal_run(params)
    assert sources["on"].device_calls == len(TEMPORAL_STATES) and sources["off"].device_calls == 0
    assert last.temporal is not None and last.temporal.kept_share > 0.5  # the ramp and box blended with history
    config = {**defaults(), "scale.mode": "fixed", "scale.fixed_scale": 1.0, **params}
    unfiltered = DepthPipeline(config, source=_FlickeringNet())
    for index in range(len(TEMPORAL_STATES)):
        raw = unfiltered.process_frame(_frame(1_000 + index))
    changed = np.isfinite(raw.depth_m) & (raw.depth_m != last.depth_m)
    assert changed.mean() > 0.5  # the last frame is the filtered one, not the prediction as it came


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        (OutputKind.METRIC, FrameChange.SCALE),
        (OutputKind.AFFINE_DEPTH, FrameChange.SHIFT_IN_DEPTH),
        (OutputKind.RELATIVE_INVERSE, FrameChange.SHIFT_IN_INVERSE),
    ],
)
def test_both_roads_filter_a_kinds_map_with_the_change_its_refit_makes(
    monkeypatch: pytest.MonkeyPatch, kind: OutputKind, change: FrameChange
) -> None:
    # affine_depth / relative_inverse: the filter takes each frame's change as a refitted scale and shift in depth /
    # inverse depth, on either road (the host road's update reaches update_tensor too)
    passed: list[object] = []
    shipped = TemporalFilter.update_tensor

    def spy(self: TemporalFilter, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, Any, float]:
        passed.append(args[3] if len(args) > 3 else kwargs.get("change", FrameChange.SCALE))
        return shipped(self, *args, **kwargs)

    monkeypatch.setattr(TemporalFilter, "update_tensor", spy)
    _, last = _temporal_run({}, kind=kind)
    assert last.temporal is not None and last.temporal.kept_share > 0.5
    assert passed == [change] * (2 * len(TEMPORAL_STATES))  # every frame, on both roads


@pytest.mark.parametrize("device", [torch.device("cuda"), torch.device("cuda", 1), "cuda:1"])
def test_auto_takes_the_device_road_for_a_cuda_network(monkeypatch: pytest.MonkeyPatch, device: object) -> None:
    """The choice only (the source claims CUDA, as a torch device or its name; its tensors stay on the CPU here)."""
    source = _DeviceNet()
    monkeypatch.setattr(source, "device", device)
    assert isinstance(source, DeviceDepthSource)
    DepthPipeline({**defaults(), "scale.mode": "fixed"}, source=source).process_frame(_frame())
    assert source.device_calls == 1
    DepthPipeline({**defaults(), "scale.mode": "fixed", "output.outlier_filter": True}, source=source).process_frame(
        _frame()
    )
    assert source.device_calls == 2  # the speckle filter runs there too


def test_the_shipped_model_on_real_kitti_gives_the_same_frame_on_both_roads(kitti_object_dir: Path) -> None:
    """The shipped 96x320 model with LiDAR scale on a real KITTI frame (125x414 published), device=cpu."""
    from mono_depth_ros.models.depth_source import build_depth_source
    from test.kitti_bag import load_kitti_frames

    frame = load_kitti_frames(kitti_object_dir, ("000001",))[0]
    config = {**defaults(), "device": "cpu", "cloud.rgb": True}
    source = build_depth_source(config)
    assert source is not None and isinstance(source, DeviceDepthSource)
    lidar = LidarInput(frame.scan[:, :3].astype(np.float32), frame.cam_from_velo, 0)
    image = FrameInput(0, "camera", frame.rgb, CameraModel.from_intrinsics(frame.intrinsics), True, lidar)
    for encoding in ("32FC1", "16UC1"):
        outputs = [
            DepthPipeline(
                {**config, "output.encoding": encoding, "output.device_postprocess": road}, source=source
            ).process_frame(image)
            for road in ("on", "off")
        ]
        assert outputs[0].scale.mode == "lidar" and outputs[0].depth_m.shape == (125, 414)
        _assert_same(*outputs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (pinned memory, non-blocking copy)")
def test_on_cuda_the_temporal_and_speckle_filters_give_the_host_outputs() -> None:
    sources, _ = _temporal_run({"output.outlier_filter": True, "output.encoding": "16UC1"}, device="cuda")
    assert sources["on"].device_calls == len(TEMPORAL_STATES)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (pinned memory, non-blocking copy)")
def test_on_cuda_the_device_road_gives_the_host_outputs() -> None:
    for params in ({}, {"output.encoding": "16UC1", "cloud.rgb": True}, {"output.outlier_filter": True}):
        source = _DeviceNet(device="cuda")
        device, host = _both(source, **params)
        assert source.device_calls == 1
        _assert_same(device, host)


def test_the_device_road_drops_the_pixels_a_raw_camera_does_not_see_as_the_host_road() -> None:
    """A raw camera whose undistorted view (P wider than K, a 3 degree rectification R) reaches past the raw image:
    both roads publish NaN there, not the network's depth of the black fill."""
    import cv2

    k = np.array([[200.0, 0.0, 79.5], [0.0, 200.0, 47.5], [0.0, 0.0, 1.0]])
    p = np.hstack([k * [[0.9], [0.9], [1.0]], np.zeros((3, 1))])
    r = cv2.Rodrigues(np.array([0.0, np.deg2rad(3.0), 0.0]))[0]
    raw_camera = CameraModel(160, 96, "plumb_bob", (-0.2, 0.05, 0.0, 0.0, 0.0), k, r, p)
    config = {**defaults(), "scale.mode": "fixed", "scale.fixed_scale": 1.7, "image_is_rectified": False}
    outputs = []
    for road in ("on", "off"):
        pipeline = DepthPipeline({**config, "output.device_postprocess": road}, source=_DeviceNet())
        outputs.append(pipeline.process_frame(FrameInput(1_000, "camera_optical", _frame().rgb, raw_camera, False)))
    _assert_same(*outputs)
    seen = raw_camera.seen_mask(outputs[0].depth_m.shape)
    assert seen is not None and 0 < np.count_nonzero(~seen) < seen.size // 4
    assert np.isnan(outputs[0].depth_m[~seen]).all()
