"""Tests for models/precision_policy.py (``model.precision: auto``): the decision with injected device / backend /
self-test outcomes, then through DepthEstimator on the CPU (the trial itself, the fallback when it fails, the
runtime fallback when a CUDA-graph capture chosen by auto fails)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models import inference
from mono_depth_ros.models.golden import DEFAULT_TOLERANCE
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.precision_policy import PrecisionChoice, Trial, choose_precision

from .tiny_models import write_unet_checkpoint


class Recorder:
    """A trial that records its calls and returns (or raises) what it was told."""

    def __init__(self, passed: bool = True, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.passed, self.error = passed, error

    def __call__(self, precision: str, graphs: bool) -> tuple[bool, str]:
        self.calls.append((precision, graphs))
        if self.error is not None:
            raise self.error
        return self.passed, f"relative L1 {0.004 if self.passed else 0.3} (tolerance 0.02)"


@pytest.mark.parametrize(
    ("requested", "device", "native", "check", "expected", "why"),
    [
        ("fp16", "cuda", True, "warn", "fp16", "asked for"),
        ("bf16", "cpu", True, "warn", "bf16", "asked for"),
        ("auto", "cpu", True, "warn", "fp32", "fp16 needs a CUDA device"),
        ("auto", "cuda", False, "warn", "fp32", "precision it was exported in"),
        ("auto", "cuda", True, "off", "fp32", "golden_check off"),
    ],
)
def test_no_trial_where_there_is_nothing_to_try(
    requested: str, device: str, native: bool, check: str, expected: str, why: str
) -> None:
    trial = Recorder()
    choice = choose_precision(requested, False, device, native, check, trial)
    assert choice.precision == expected and not choice.cuda_graphs and why in choice.reason
    assert trial.calls == [] and not choice.fell_back


def test_cuda_keeps_fp16_and_graphs_when_the_self_test_passes() -> None:
    trial = Recorder(passed=True)
    choice = choose_precision("auto", False, "cuda", True, "warn", trial)
    assert trial.calls == [("fp16", True)]
    assert choice == PrecisionChoice("fp16", True, choice.reason) and "relative L1 0.004" in choice.reason


@pytest.mark.parametrize("graphs_asked", [False, True])
def test_cuda_falls_back_to_fp32_with_the_reason_when_the_self_test_fails(graphs_asked: bool) -> None:
    choice = choose_precision("auto", graphs_asked, "cuda", True, "refuse", Recorder(passed=False))
    assert choice.precision == "fp32" and choice.cuda_graphs is graphs_asked and choice.fell_back
    assert "did not pass the self-test (relative L1 0.3" in choice.reason


def test_a_trial_that_raises_counts_as_failed() -> None:
    trial: Trial = Recorder(error=RuntimeError("operation not permitted when stream is capturing"))
    choice = choose_precision("auto", False, "cuda", True, "warn", trial)
    assert choice.precision == "fp32" and not choice.cuda_graphs and choice.fell_back
    assert "RuntimeError: operation not permitted when stream is capturing" in choice.reason


# Through the engine, on the CPU.


@pytest.fixture(scope="module")
def no_golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_unet_checkpoint(tmp_path_factory.mktemp("bare") / "bare.safetensors", golden=False)


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(50, 120, 3), dtype=np.uint8)


def test_auto_on_the_cpu_is_fp32_and_changes_nothing(checkpoint: Path) -> None:
    auto = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cpu", precision="auto", cpu_threads=1))
    fp32 = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cpu", cpu_threads=1))
    assert auto.precision == "fp32" and auto.config.precision == "fp32" and not auto.config.cuda_graphs
    assert "auto on cpu" in auto.precision_choice.reason
    assert auto.golden_report is not None and auto.golden_report.passed
    np.testing.assert_array_equal(auto.predict(_image()).values, fp32.predict(_image()).values)


def _pretend_cuda(monkeypatch: pytest.MonkeyPatch, seen: list[tuple[bool, str]] | None = None) -> None:
    """The engine's decision as on a CUDA device (the model still runs on the CPU); ``seen`` also gets what the
    engine's own trial returns for bf16 without graphs (a precision the CPU can run)."""
    real = choose_precision

    def on_cuda(requested: str, graphs: bool, _device: str, native: bool, check: str, trial: Trial) -> PrecisionChoice:
        if seen is not None:
            seen.append(trial("bf16", False))
        return real(requested, graphs, "cuda", native, check, trial)

    monkeypatch.setattr(inference, "choose_precision", on_cuda)


def test_the_engine_trial_compares_with_an_fp32_reference_made_on_the_spot(
    no_golden: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[bool, str]] = []
    _pretend_cuda(monkeypatch, seen)
    config = EstimatorConfig(device="cpu", precision="auto", cpu_threads=1, golden_check="warn")
    with caplog.at_level(logging.WARNING):
        estimator = DepthEstimator.open("unet", no_golden, config)
    # the bf16 trial ran against the reference made on the spot, and passed at bf16's tolerance
    assert len(seen) == 1 and seen[0][0] and "relative L1" in seen[0][1]
    # the fp16 + graphs trial cannot capture a CUDA graph on the CPU: fp32 eager, with the reason as a warning
    choice = estimator.precision_choice
    assert choice.precision == "fp32" and choice.fell_back and "CUDA graphs need a CUDA tensor" in choice.reason
    assert "auto: fp32" in caplog.text
    # the trials left the engine as it was: fp32 eager, self-tested against the same reference
    assert estimator.precision == "fp32" and estimator._graphs is None
    assert estimator.golden_report is not None and estimator.golden_report.rel_l1 == 0.0
    plain = DepthEstimator.open("unet", no_golden, EstimatorConfig(device="cpu", cpu_threads=1))
    np.testing.assert_array_equal(estimator.predict(_image(1)).values, plain.predict(_image(1)).values)


def test_a_failed_capture_of_graphs_chosen_by_auto_falls_back_to_eager(
    checkpoint: Path, caplog: pytest.LogCaptureFixture
) -> None:
    estimator = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cpu", cpu_threads=1))
    expected = estimator.predict(_image(2)).values
    estimator._graphs = {}  # graphs asked for by the user: a capture failure is an error
    with pytest.raises(ConfigError, match="CUDA graphs need a CUDA tensor"):
        estimator.predict(_image(2))
    estimator._graphs, estimator._graphs_optional = {}, True  # chosen by auto: run on eagerly, with a warning
    with caplog.at_level(logging.WARNING):
        np.testing.assert_array_equal(estimator.predict(_image(2)).values, expected)
    assert estimator._graphs is None and "running eagerly" in caplog.text


def test_the_node_default_is_auto(checkpoint: Path) -> None:
    from mono_depth_ros.config import PARAMS_BY_NAME
    from mono_depth_ros.models.depth_source import build_depth_source

    assert PARAMS_BY_NAME["model.precision"].default == "auto"
    source = build_depth_source({"model.weights": str(checkpoint), "device": "cpu", "model.threads": 1})
    assert source is not None and source.estimator.precision == "fp32"
    assert "auto on cpu" in source.estimator.precision_choice.reason


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: the fp16 + CUDA-graph trial itself")
def test_auto_on_cuda_keeps_fp16_and_graphs_only_with_a_passing_self_test(checkpoint: Path) -> None:
    estimator = DepthEstimator.open("unet", checkpoint, EstimatorConfig(device="cuda", precision="auto"))
    choice = estimator.precision_choice
    assert (choice.precision, choice.cuda_graphs) in {("fp16", True), ("fp32", False)}, choice.reason
    assert estimator.precision == choice.precision and estimator.golden_report is not None
    report = estimator.golden_report
    assert report.passed and report.tolerance == DEFAULT_TOLERANCE[choice.precision]
    assert np.all(np.isfinite(estimator.predict(_image(3)).values))
