"""Tests for models/inference.py (DepthEstimator), models/backend.py and models/golden.py."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mono_depth_ros.core.errors import CheckpointError, ConfigError, ShapeError
from mono_depth_ros.core.frame_hints import FrameHints
from mono_depth_ros.models.backend import DepthBackend, TorchBackend, open_backend, prediction_tensor, resolve_device
from mono_depth_ros.models.checkpoint import LoadedCheckpoint, load_checkpoint, save_checkpoint
from mono_depth_ros.models.depth_anything import build_depth_anything, depth_anything_spec, save_depth_anything
from mono_depth_ros.models.golden import compare_golden, reference_image
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig, inf_as_nan, make_golden
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind

from .tiny_models import TINY_DA, StepDepth, tiny_unet, write_unet_checkpoint

CPU = torch.device("cpu")
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without CUDA")


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def test_checkpoint_estimator_returns_camera_size_depth(checkpoint: Path) -> None:
    estimator = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cpu"))
    assert isinstance(estimator.backend, DepthBackend)
    assert estimator.golden_report is not None and estimator.golden_report.passed
    assert estimator.golden_report.rel_l1 == 0.0  # same path, same numbers
    for height, width in ((50, 120), (375, 1242), (64, 96)):
        result = estimator.predict(_image(height, width))
        assert result.values.shape == (height, width) and result.values.dtype == np.float32
        assert result.output_kind is OutputKind.DEPTH_UP_TO_SCALE and result.network_hw == (64, 96)
        assert np.all(np.isfinite(result.values))
        assert float(result.values.min()) >= 0.5 and float(result.values.max()) <= 50.0
        assert result.timings.total_ms >= result.timings.inference_ms >= 0.0


def test_tampered_golden_is_refused(checkpoint: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    loaded = load_checkpoint(checkpoint)
    assert loaded.golden is not None
    tampered = tmp_path / "tampered.safetensors"
    reference = (loaded.golden.image_rgb, loaded.golden.output * 1.05)
    save_checkpoint(tampered, loaded.state_dict, loaded.spec, reference=reference)
    with pytest.raises(CheckpointError, match=r"golden self-test FAILED: relative L1 [0-9.e-]+ \(tolerance"):
        DepthEstimator.open("unet", tampered, EstimatorConfig(device="cpu"))
    with caplog.at_level(logging.WARNING):
        warned = DepthEstimator.open("unet", tampered, EstimatorConfig(device="cpu", golden_check="warn"))
    assert warned.golden_report is not None and not warned.golden_report.passed
    assert "golden self-test FAILED" in caplog.text
    silent = DepthEstimator.open("unet", tampered, EstimatorConfig(device="cpu", golden_check="off"))
    assert silent.golden_report is None
    loose = EstimatorConfig(device="cpu", golden_tolerance=0.1)
    assert DepthEstimator.open("unet", tampered, loose).golden_report is not None


def test_bf16_on_cpu_checks_against_an_fp32_reference(tmp_path: Path) -> None:
    no_golden = write_unet_checkpoint(tmp_path / "plain.safetensors", golden=False)
    estimator = DepthEstimator.open("unet", no_golden, EstimatorConfig(device="cpu", precision="bf16"))
    assert estimator.precision == "bf16"
    report = estimator.golden_report  # made on the spot: no reference was stored
    assert report is not None and report.passed and 0.0 < report.rel_l1 < report.tolerance
    fp32 = DepthEstimator.open("unet", no_golden, EstimatorConfig(device="cpu"))
    assert fp32.golden_report is None  # nothing to compare with, nothing changed


def test_fp16_on_cpu(checkpoint: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match="fp16 is not supported on the CPU"):
        DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cpu", precision="fp16"))
    if torch.cuda.is_available():
        return
    with caplog.at_level(logging.WARNING):
        estimator = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="auto", precision="fp16"))
    assert estimator.precision == "fp32" and estimator.device == CPU
    assert "CUDA is not available" in caplog.text and "running fp32" in caplog.text


@NO_CUDA
def test_device_resolution_without_cuda(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert resolve_device("auto") == CPU
    assert "running on the CPU" in caplog.text
    assert resolve_device("CPU") == CPU
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")


@NO_CUDA
def test_cuda_graphs_are_guarded_on_cpu(checkpoint: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        estimator = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cpu", cuda_graphs=True))
    assert "cuda_graphs needs a CUDA device" in caplog.text
    assert estimator.predict(_image(40, 60)).values.shape == (40, 60)


def test_channels_last_compile_and_threads(checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[nn.Module] = []

    def fake_compile(module: nn.Module, **kwargs: object) -> nn.Module:
        compiled.append(module)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)  # real inductor compiles take minutes on 2 CPU cores
    image = _image(48, 100)
    reference = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cpu")).predict(image).values
    config = EstimatorConfig(device="cpu", channels_last=True, compile=True, cpu_threads=1, warmup_runs=1)
    estimator = DepthEstimator.open("unet", checkpoint, config)
    assert len(compiled) == 1 and torch.get_num_threads() == 1
    assert estimator.golden_report is not None and estimator.golden_report.passed
    np.testing.assert_allclose(estimator.predict(image).values, reference, rtol=1e-4)


def test_step_edge_through_the_engine_has_no_flying_pixels() -> None:
    spec = ModelSpec("step", input=InputPolicy(height=24, width=40), output_kind=OutputKind.METRIC)
    backend = TorchBackend(StepDepth(2.0, 10.0), spec, CPU)
    values = DepthEstimator(backend, EstimatorConfig(device="cpu")).predict(_image(96, 160)).values
    assert set(np.unique(values).tolist()) == {2.0, 10.0}
    assert np.all(values[:, :70] == 2.0) and np.all(values[:, 90:] == 10.0)


def test_depth_kinds_mark_non_positive_values_invalid() -> None:
    class Signed(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.linspace(-1.0, 1.0, x.shape[3]).expand(x.shape[0], 1, x.shape[2], x.shape[3])

    image = _image(8, 16)
    kinds = ((OutputKind.METRIC, True), (OutputKind.RELATIVE_INVERSE, False), (OutputKind.AFFINE_DEPTH, False))
    for kind, expect_nan in kinds:  # affine_depth: a normalised depth is <= 0 at the nearest pixels
        spec = ModelSpec("signed", input=InputPolicy(height=8, width=16), output_kind=kind)
        values = DepthEstimator(TorchBackend(Signed(), spec, CPU), EstimatorConfig(device="cpu")).predict(image).values
        assert bool(np.isnan(values[:, 0]).all()) is expect_nan
        assert np.all(np.isfinite(values[:, -1]))


@pytest.mark.parametrize("host_upsampling", [True, False])
def test_an_inverse_networks_infinities_are_no_depth_and_its_sky_output_still_far(
    host_upsampling: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative_inverse network that overflows (+Inf: 1/0, a depth of 0 m) left +Inf in its map, which scale
    recovery reads as the sky mark and publishes beyond range (a clearing ray). Its own +/-Inf are NaN now, on both
    roads (host, device); a sky output still marks +Inf, and a depth kind's +Inf (beyond range) is kept."""

    class Overflowing(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = torch.ones(x.shape[0], 1, x.shape[2], x.shape[3])
            out[..., :, 12:] = torch.inf  # the right quarter
            out[..., :, 8:12] = -torch.inf
            return out

    if not host_upsampling:
        monkeypatch.setattr("mono_depth_ros.models.inference.upsample_edge_aware_host", lambda *args: None)
    sky = torch.zeros(1, 1, 8, 16, dtype=torch.bool)
    sky[..., :2, :] = True  # the top quarter
    kinds = (OutputKind.RELATIVE_INVERSE, np.nan), (OutputKind.CANONICAL_INVERSE, np.nan)
    for kind, right in (*kinds, (OutputKind.DEPTH_UP_TO_SCALE, np.inf)):  # canonical: were 1e-4 m and 1e4 m (far)
        spec = ModelSpec("overflowing", input=InputPolicy(height=8, width=16), output_kind=kind)
        backend = TorchBackend(Overflowing(), spec, CPU)
        estimator = DepthEstimator(backend, EstimatorConfig(device="cpu"))
        backend.last_sky = sky  # type: ignore[attr-defined]
        values = estimator.predict(_image(8, 16), None, FrameHints((16.0, 16.0), None)).values  # f = w: v = 1 is 1 m
        assert np.isposinf(values[:2]).all(), kind  # the sky output's mark
        np.testing.assert_array_equal(values[2:, 12:], right)
        assert np.isnan(values[2:, 8:12]).all() and (values[2:, :8] == 1.0).all(), kind


def test_depth_anything_directory_on_a_kitti_sized_image(tmp_path: Path) -> None:
    torch.manual_seed(0)
    save_depth_anything(build_depth_anything(depth_anything_spec(TINY_DA)), tmp_path / "da")
    estimator = DepthEstimator.open("depth_anything_v2", tmp_path / "da", EstimatorConfig(device="cpu"))
    result = estimator.predict(_image(375, 1242))
    assert result.network_hw == (266, 882)  # capped, not 518x1722
    assert result.values.shape == (375, 1242) and result.values.dtype == np.float32
    assert result.output_kind is OutputKind.RELATIVE_INVERSE
    assert float(np.nanmin(result.values)) >= 0.0


def test_open_backend_errors(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown model\.backend 'tensorrt'"):
        open_backend("tensorrt", checkpoint, CPU)
    with pytest.raises(CheckpointError, match="holds a 'unet' checkpoint"):
        open_backend("depth_anything_v2", checkpoint, CPU)
    with pytest.raises(CheckpointError, match="does not exist"):
        open_backend("unet", tmp_path / "missing.safetensors", CPU)
    backend, golden = open_backend("torch", checkpoint, CPU)
    assert backend.name == "torch" and golden is not None


def test_bad_inputs_and_options(checkpoint: Path) -> None:
    estimator = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cpu", warmup_runs=0))
    with pytest.raises(ShapeError, match="uint8 RGB"):
        estimator.predict(np.zeros((10, 10, 3), dtype=np.float32))
    for bad in ({"precision": "fp8"}, {"golden_check": "maybe"}, {"warmup_runs": -1}, {"golden_tolerance": 0.0}):
        with pytest.raises(ConfigError):
            EstimatorConfig(**bad)  # type: ignore[arg-type]


def test_prediction_tensor_accepts_known_outputs() -> None:
    class WithDepth:
        depth = torch.ones(1, 1, 4, 4)

    class HF:
        predicted_depth = torch.ones(1, 4, 4)

    assert prediction_tensor(WithDepth()).shape == (1, 1, 4, 4)
    assert prediction_tensor(HF()).shape == (1, 1, 4, 4)
    with pytest.raises(ShapeError, match="expected a tensor"):
        prediction_tensor({"depth": 1})
    with pytest.raises(ShapeError, match="expected"):
        prediction_tensor(torch.ones(1, 2, 4, 4))


def test_golden_comparison_and_reference_image() -> None:
    reference = np.linspace(1.0, 5.0, 200, dtype=np.float32).reshape(10, 20)
    assert compare_golden(reference.copy(), reference, 1e-3).passed
    noisy = reference * 1.01
    report = compare_golden(noisy, reference, 1e-3)
    assert not report.passed and report.rel_l1 == pytest.approx(0.01, rel=1e-3)
    holes = reference.copy()
    holes[:2] = np.nan  # 10 % of pixels lose validity
    assert not compare_golden(holes, reference, 1.0).passed
    with pytest.raises(CheckpointError, match="shape"):
        compare_golden(reference[:5], reference, 1e-3)
    image = reference_image(30, 40)
    assert image.shape == (30, 40, 3) and image.dtype == np.uint8 and image.std() > 10
    np.testing.assert_array_equal(image, reference_image(30, 40))


def test_make_golden_matches_predict() -> None:
    network, spec = tiny_unet()
    backend = TorchBackend(network, spec, CPU)
    golden = make_golden(backend, _image(30, 50))
    values = DepthEstimator(backend, EstimatorConfig(device="cpu")).predict(golden.image_rgb).values
    np.testing.assert_array_equal(values, golden.output)


def nan_weights_copy(source: Path, destination: Path) -> Path:
    """``source`` with every floating-point weight NaN (its spec and golden reference kept)."""
    loaded = load_checkpoint(source)
    state = {
        k: (torch.full_like(v, float("nan")) if v.is_floating_point() else v) for k, v in loaded.state_dict.items()
    }
    assert loaded.golden is not None
    save_checkpoint(destination, state, loaded.spec, reference=(loaded.golden.image_rgb, loaded.golden.output))
    return destination


def test_nan_weights_are_named_all_nan_and_refused_even_with_warn(checkpoint: Path, tmp_path: Path) -> None:
    broken = nan_weights_copy(checkpoint, tmp_path / "nan.safetensors")
    for action in ("refuse", "warn"):  # warn tolerates inexact numerics, not a model that outputs nothing
        with pytest.raises(CheckpointError, match="the model output is all-NaN of the reference pixels"):
            DepthEstimator.open("unet", broken, EstimatorConfig(device="cpu", golden_check=action))
    assert DepthEstimator.open("unet", broken, EstimatorConfig(device="cpu", golden_check="off")).golden_report is None


def test_a_model_saved_with_its_own_all_nan_reference_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    # a trainer saving NaN weights (e.g. NaN BatchNorm statistics after an fp16 overflow) makes its golden reference
    # from them: output and reference were NaN alike, so the self-test passed and the node dropped every frame
    nan_copy = nan_weights_copy(checkpoint, tmp_path / "nan_weights.safetensors")
    loaded = load_checkpoint(nan_copy)
    nan_golden = make_golden(TorchBackend(_network(loaded), loaded.spec, torch.device("cpu")))
    assert not np.isfinite(nan_golden.output).any()
    broken = tmp_path / "nan_golden.safetensors"
    save_checkpoint(broken, loaded.state_dict, loaded.spec, reference=(nan_golden.image_rgb, nan_golden.output))
    with pytest.raises(CheckpointError, match="all-NaN"):
        DepthEstimator.open("unet", broken, EstimatorConfig(device="cpu", golden_check="warn"))


def _network(loaded: LoadedCheckpoint) -> nn.Module:
    network = build_model(loaded.spec)
    network.load_state_dict(loaded.state_dict)
    return network


def test_predict_at_the_published_size_and_stage_timings(checkpoint: Path) -> None:
    from mono_depth_ros.models.inference import StageClock

    estimator = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cpu"))
    image = _image(375, 1242)
    full = estimator.predict(image).values
    small = estimator.predict(image, (125, 414))
    assert small.values.shape == (125, 414) and small.network_hw == (64, 96)
    assert np.nanmin(full) <= np.nanmin(small.values) and np.nanmax(small.values) <= np.nanmax(full)  # no new depths
    t = small.timings
    assert min(t.preprocess_ms, t.inference_ms, t.postprocess_ms) >= 0.0
    assert t.preprocess_ms + t.inference_ms + t.postprocess_ms <= t.total_ms + 1e-6
    with pytest.raises(ShapeError, match="out_hw must be positive"):
        estimator.predict(image, (0, 10))
    clock = StageClock(torch.device("cpu"))
    clock.mark()
    clock.mark()
    assert len(clock.intervals_ms()) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: the event timings and pinned download")
def test_the_cuda_path_gives_the_cpu_values_with_event_timings(checkpoint: Path) -> None:
    image = _image(375, 1242)
    cpu = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cpu")).predict(image, (125, 414))
    cuda = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cuda")).predict(image, (125, 414))
    # the CPU shrinks in uint8 (within a grey level of the float resize the GPU does): close, not bit-equal
    np.testing.assert_allclose(cuda.values, cpu.values, rtol=2e-2)
    assert cuda.timings.inference_ms > 0.0 and cuda.timings.postprocess_ms > 0.0


@pytest.mark.parametrize("host_upsampling", [True, False])
def test_on_device_values_are_the_returned_values_marked_the_same(
    host_upsampling: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``predict(on_device=True)`` also returns the values on the model's device (output.device_postprocess): on the
    CPU the host map itself; where the map is made on the device (here: without the OpenCV upsampler, the road a GPU
    takes) non-positive depth and sky are marked there and the host values are its copy."""

    class Signed(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.linspace(-1.0, 1.0, x.shape[3]).expand(x.shape[0], 1, x.shape[2], x.shape[3])

    if not host_upsampling:
        monkeypatch.setattr("mono_depth_ros.models.inference.upsample_edge_aware_host", lambda *args: None)
    spec = ModelSpec("signed", input=InputPolicy(height=8, width=16), output_kind=OutputKind.METRIC)
    backend = TorchBackend(Signed(), spec, CPU)
    estimator = DepthEstimator(backend, EstimatorConfig(device="cpu"))
    sky = torch.zeros(1, 1, 8, 16, dtype=torch.bool)
    sky[..., :2, :] = True
    backend.last_sky = sky  # type: ignore[attr-defined]  # a model with a sky output (the top quarter)
    plain = estimator.predict(_image(16, 32), (12, 24))
    result = estimator.predict(_image(16, 32), (12, 24), on_device=True)
    assert plain.device_values is None and result.device_values is not None
    assert result.device_values.device == CPU and result.device_values.dtype == torch.float32
    assert result.device_values.numpy().tobytes() == result.values.tobytes() == plain.values.tobytes()
    assert np.isposinf(result.values[:3]).all() and np.isnan(result.values[3:, 0]).all()
    assert np.isfinite(result.values[3:, -1]).all()
    if host_upsampling:  # the CPU: one map, two views
        assert np.shares_memory(result.device_values.numpy(), result.values)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: values kept on the device")
def test_on_cuda_the_device_values_stay_there(checkpoint: Path) -> None:
    estimator = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cuda"))
    result = estimator.predict(_image(375, 1242), (125, 414), on_device=True)
    assert result.device_values is not None and result.device_values.device.type == "cuda"
    assert result.device_values.cpu().numpy().tobytes() == result.values.tobytes()


def test_cuda_graphs_of_start_up_sizes_go_once_the_camera_size_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under CUDA graphs the warm-up and the golden self-test (at the spec's nominal size when no warm-up size is
    set) capture a graph for their input; a camera of another size never replays it, and its private pool holds a
    whole forward pass's activations on the GPU: it goes at the first camera frame. A model whose input size does
    not follow the camera's keeps it (that frame replays it). A stand-in runner: no GPU here."""
    from mono_depth_ros.models import inference

    captured: list[tuple[int, ...]] = []

    class Runner:
        def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], example: torch.Tensor) -> None:
            captured.append(tuple(example.shape))
            self.forward = forward

        def __call__(self, batch: torch.Tensor) -> torch.Tensor:
            return self.forward(batch)

    monkeypatch.setattr(inference, "CudaGraphRunner", Runner)
    for keep_aspect, camera_input in ((True, (1, 3, 32, 96)), (False, (1, 3, 32, 32))):
        captured.clear()
        policy = InputPolicy(32, 32, keep_aspect=keep_aspect, multiple_of=8)
        spec = ModelSpec("step", input=policy, output_kind=OutputKind.METRIC)
        backend = TorchBackend(StepDepth(2.0, 10.0), spec, CPU)
        golden = make_golden(backend)  # at the spec's 32 x 32
        estimator = DepthEstimator(backend, EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off"))
        estimator._graphs = {}  # what cuda_graphs gives on a CUDA device
        estimator.warmup()
        assert estimator.self_test(golden).passed
        assert captured == [(1, 3, 32, 32)]  # the self-test replayed the warm-up's graph
        for _ in range(2):
            estimator.predict(_image(32, 96))  # the camera
        assert list(estimator._graphs) == [camera_input]
        assert captured == list(dict.fromkeys([(1, 3, 32, 32), camera_input]))  # captured once each


def test_out_of_memory_while_starting_is_a_start_up_error_with_a_remedy() -> None:
    """A GPU that is present but full at warm-up (another process holds its memory): the node logs "cannot start:"
    with what to do (a DepthError), not an unhandled torch.OutOfMemoryError traceback. Other errors pass as raised."""

    class Hungry(nn.Module):
        def __init__(self, error: Exception) -> None:
            super().__init__()
            self.error = error

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise self.error

    spec = ModelSpec("hungry", input=InputPolicy(height=8, width=16), output_kind=OutputKind.METRIC)
    full = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.6 GiB in use)")
    with pytest.raises(ConfigError, match=r"out of memory on cpu while starting the model at 24x16.*Tried to alloc"):
        DepthEstimator(TorchBackend(Hungry(full), spec, CPU), EstimatorConfig(device="cpu", warmup_hw=(16, 24)))
    with pytest.raises(RuntimeError, match="a kernel bug"):
        DepthEstimator(TorchBackend(Hungry(RuntimeError("a kernel bug")), spec, CPU), EstimatorConfig(device="cpu"))


def test_bf16_on_a_gpu_without_native_bf16_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.cuda.is_bf16_supported() is True on pre-Ampere GPUs (V100, T4, Xavier) too: bf16 is emulated there
    (no bf16 tensor cores, slower than fp32). The check is of the model's GPU (cuda:1 here), not the current one."""
    entered: list[torch.device] = []

    def device(where: torch.device) -> contextlib.nullcontext[None]:
        entered.append(where)
        return contextlib.nullcontext()

    monkeypatch.setattr(torch.cuda, "device", device)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100-SXM2-16GB")
    spec = ModelSpec("step", input=InputPolicy(height=8, width=16), output_kind=OutputKind.METRIC)
    backend = TorchBackend(StepDepth(), spec, CPU)
    backend.device = torch.device("cuda", 1)  # as loaded there (no GPU here: nothing runs before the check)
    with pytest.raises(ConfigError, match="bf16 is not supported by Tesla V100-SXM2-16GB; use fp16 or fp32"):
        DepthEstimator(backend, EstimatorConfig(device="cuda:1", precision="bf16"))
    assert entered == [torch.device("cuda", 1)]


class _PatchGrid(nn.Module):
    """A ViT's token map as its depth output: one value per 14x14 patch (a linear head at the patch grid)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(x.abs().sum(1, keepdim=True), 14) + 1.0


def test_the_coarse_map_note_follows_the_camera_size(kitti_object_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A real KITTI frame (266x882 input), then the same camera cropped to 375x600 (a new camera_info's size: the
    engine runs it at 266x420): model_map (/diagnostics) kept saying '19x63 for a 266x882 input' for every later
    frame, the state of the first frame only. It says the current input's; the log still warns once."""
    from test.kitti_bag import load_kitti_frames

    rgb = load_kitti_frames(kitti_object_dir, ("000001",))[0].rgb
    policy = InputPolicy(266, 266, keep_aspect=True, multiple_of=14, max_long_side=882)
    spec = ModelSpec("patch_grid", {}, policy, output_kind=OutputKind.METRIC)
    config = EstimatorConfig(device="cpu", warmup_runs=1, golden_check="off")
    with caplog.at_level(logging.WARNING):
        estimator = DepthEstimator(TorchBackend(_PatchGrid(), spec, CPU), config)
        estimator.predict(rgb)
        assert estimator.coarse_map == "19x63 for a 266x882 input, one value per 14x14 pixels"
        narrow = np.ascontiguousarray(rgb[:, :600])
        assert np.isfinite(estimator.predict(narrow).values).all()
        assert estimator.coarse_map == "19x30 for a 266x420 input, one value per 14x14 pixels"
        estimator.predict(rgb)
        assert estimator.coarse_map == "19x63 for a 266x882 input, one value per 14x14 pixels"
    said = [r.getMessage() for r in caplog.records if "upsampled to the published size" in r.getMessage()]
    assert len(said) == 1, said


def test_inf_as_nan_gives_torch_wheres_values_and_a_finite_prediction_back_uncopied() -> None:
    """An inverse kind's +/-Inf (1/0) is NaN, as ``torch.where(isinf)`` gave; a finite CPU prediction (nearly every
    frame) is returned as it is, not copied through an isinf mask (0.63 ms of a 308x1036 map)."""
    finite = torch.rand(1, 1, 6, 8) + 0.1
    assert inf_as_nan(finite) is finite
    big = torch.full((1, 1, 4, 4), 3e38)  # finite values whose float32 sum overflows: the mask still runs
    assert torch.equal(inf_as_nan(big), big)
    marked = finite.clone()
    marked[0, 0, 1, 2], marked[0, 0, 3, 4], marked[0, 0, 5, 7] = torch.inf, -torch.inf, torch.nan
    expected = torch.where(torch.isinf(marked), torch.nan, marked)
    assert torch.equal(inf_as_nan(marked).isnan(), expected.isnan())
    assert torch.equal(inf_as_nan(marked).nan_to_num(-1.0), expected.nan_to_num(-1.0))
