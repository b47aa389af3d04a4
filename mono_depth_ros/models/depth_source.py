"""The depth network of a run (a pipeline ``DepthSource``), built from the parameters (``model.*``, ``device``).

``model.backend: external`` needs no network (predictions come from ``prediction_topic``). Every other backend loads
``model.weights`` through :class:`~mono_depth_ros.models.inference.DepthEstimator`; empty weights mean the default
model shipped in ``mono_depth_ros/assets`` (the single ``*.safetensors`` file there).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from mono_depth_ros.config import ParamValue
from mono_depth_ros.core.errors import CheckpointError, ConfigError
from mono_depth_ros.depth_config import DepthConfig, ModelConfig

if TYPE_CHECKING:
    from mono_depth_ros.models.inference import DepthEstimator
    from mono_depth_ros.models.spec import OutputKind

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"


def default_weights(assets_dir: Path = ASSETS_DIR) -> Path:
    """The shipped default checkpoint (the one ``*.safetensors`` in ``assets_dir``).

    Raises:
        CheckpointError: none (or several) ship with this install.
    """
    found = sorted(assets_dir.glob("*.safetensors")) if assets_dir.is_dir() else []
    if len(found) != 1:
        what = "no default model" if not found else f"{len(found)} candidate default models"
        msg = (
            f"model.weights is empty and {what} ship(s) in {assets_dir}; pass --param model.weights=FILE, or use "
            f"--param model.backend=external with a prediction_topic"
        )
        raise CheckpointError(msg)
    return found[0]


class EstimatorSource:
    """Adapts a :class:`DepthEstimator` to the pipeline's ``DepthSource`` protocol (image in, (H, W) values out)."""

    def __init__(self, estimator: DepthEstimator) -> None:
        self.estimator = estimator
        self.last_network_hw: tuple[int, int] | None = None

    @property
    def output_kind(self) -> OutputKind:
        """What the predictions mean (from the checkpoint's ModelSpec)."""
        return self.estimator.output_kind

    def predict(self, rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """(H, W, 3) uint8 RGB → (H, W) float32 prediction of :attr:`output_kind` (NaN invalid)."""
        result = self.estimator.predict(rgb)
        self.last_network_hw = result.network_hw
        return np.asarray(result.values, dtype=np.float32)


def build_depth_source(config: DepthConfig | Mapping[str, ParamValue]) -> EstimatorSource | None:
    """The network named by the model slice (``model.backend`` / ``model.weights`` / ``device`` / ...); None for
    ``external``. ``config`` is a :class:`~mono_depth_ros.depth_config.DepthConfig` (or flat values, validated).

    Raises:
        CheckpointError: missing or unusable weights (wrong architecture, mismatched tensors, failed self-test).
        ConfigError: an unknown backend or an option the device cannot honour.
    """
    model = DepthConfig.of(config).model
    if model.backend == "external":
        return None
    try:
        from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
    except ImportError as err:
        msg = (
            f"model.backend={model.backend!r} needs the inference engine, which cannot be imported here ({err}); "
            f"install the torch extra, or use model.backend=external"
        )
        raise ConfigError(msg) from None
    weights = model.weights or str(default_weights())
    if not Path(weights).exists():
        msg = f"model.weights {weights} does not exist; pass an existing checkpoint file or model directory"
        raise CheckpointError(msg)
    estimator_config = EstimatorConfig(
        device=model.device,
        precision=model.precision,
        compile=model.compile,
        cuda_graphs=model.cuda_graphs,
        cpu_threads=model.threads if model.threads > 0 else None,
        golden_check=model.golden_check,
        channels_last=model.channels_last,
        warmup_hw=_warmup_hw(model),
    )
    return EstimatorSource(DepthEstimator.open(model.backend, weights, estimator_config))


def _warmup_hw(model: ModelConfig) -> tuple[int, int] | None:
    """``(model.warmup_height, model.warmup_width)``, or None when either is 0 (warm up at the model input size)."""
    height, width = model.warmup_height, model.warmup_width
    if (height == 0) != (width == 0):
        msg = f"model.warmup_height and model.warmup_width go together (both 0 or both set), got {height}x{width}"
        raise ConfigError(msg)
    return (height, width) if height else None
