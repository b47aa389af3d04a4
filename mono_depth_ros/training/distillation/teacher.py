"""The teacher of a distillation: any model the project loads, as a labeller of camera images (and of features).

Labels come through the node's own inference path (:class:`~mono_depth_ros.models.inference.DepthEstimator`:
resize, normalise, network, edge-aware upsampling, golden self-test), so a teacher labels exactly what it would
publish, in its own output kind (``metric`` metres, ``depth_up_to_scale``, or ``relative_inverse`` disparity). An
``affine_depth`` teacher (depth up to scale and shift: Marigold-like) is refused: its labels make no inverse-depth
target. So is Prompt Depth Anything: metric only with a LiDAR prompt, which labelling does not give it.

Encoder features for feature alignment (Depth Anything's semantic-preservation loss) are taken by a forward hook,
which needs the network as a torch module:

* project checkpoints of the ``unet``: the deepest ResNet encoder feature (stride 32);
* Depth Anything V2 (local HF directory or project checkpoint): the DINOv2 backbone's last tapped layer, patch tokens
  laid out on the 14-px grid (the class token dropped).

ONNX and TorchScript teachers expose only their output: asking them for features is a :class:`ConfigError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import CheckpointError, ConfigError, ShapeError
from mono_depth_ros.core.frame_hints import PROMPT_DEPTH, FrameHints
from mono_depth_ros.models.backend import TorchBackend
from mono_depth_ros.models.inference import DepthEstimator, EstimatorConfig
from mono_depth_ros.models.onnx_external import external_data_files
from mono_depth_ros.models.spec import ModelSpec, OutputKind
from mono_depth_ros.models.unet import UNet
from mono_depth_ros.training.distillation.config import TeacherConfig

_TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".jit")
FeatureReader = Callable[[Any, tuple[int, int]], Tensor]


def infer_backend(weights: Path) -> str:
    """``model.backend`` for a teacher path: a directory is a transformers depth model (HF layout; backend
    ``depth_anything_v2``, the node's alias of ``transformers``), ``.onnx`` ONNX,
    ``.pt`` / ``.pth`` / ``.ts`` / ``.jit`` TorchScript, anything else a project checkpoint (``torch``)."""
    if weights.is_dir():
        return "depth_anything_v2"
    suffix = weights.suffix.lower()
    if suffix == ".onnx":
        return "onnx"
    if suffix in _TORCHSCRIPT_SUFFIXES:
        return "torchscript"
    return "torch"


def _unet_features(output: Any, network_hw: tuple[int, int]) -> Tensor:
    """The deepest of the 5 encoder features: (B, C, H / 32, W / 32)."""
    deepest: Tensor = output[-1]
    return deepest


def _dinov2_features(output: Any, network_hw: tuple[int, int]) -> Tensor:
    """The last tapped backbone layer (B, 1 + N, C) -> patch tokens on the grid (B, C, H / 14, W / 14)."""
    from mono_depth_ros.models.depth_anything import PATCH_SIZE

    tokens: Tensor = output.feature_maps[-1]
    grid_h, grid_w = network_hw[0] // PATCH_SIZE, network_hw[1] // PATCH_SIZE
    if tokens.ndim != 3 or tokens.shape[1] < grid_h * grid_w:
        msg = f"Depth Anything backbone returned {tuple(tokens.shape)}; expected (B, 1 + {grid_h * grid_w}, C)"
        raise ShapeError(msg)
    patches = tokens[:, tokens.shape[1] - grid_h * grid_w :]
    return patches.reshape(tokens.shape[0], grid_h, grid_w, tokens.shape[2]).permute(0, 3, 1, 2)


def feature_tap(network: nn.Module) -> tuple[nn.Module, FeatureReader]:
    """The submodule whose output holds the encoder features of a teacher network, and how to read them.

    Raises:
        ConfigError: the architecture has no known encoder accessor.
    """
    if isinstance(network, UNet):
        return network.encoder, _unet_features
    from mono_depth_ros.models.depth_anything import DepthAnythingV2
    from mono_depth_ros.models.hf_network import HfDepthNetwork

    dinov2 = isinstance(network, HfDepthNetwork) and network.model_type in ("depth_anything", "prompt_depth_anything")
    if isinstance(network, DepthAnythingV2) or dinov2:
        backbone: nn.Module = network.model.backbone  # type: ignore[assignment,union-attr]
        return backbone, _dinov2_features
    msg = f"no encoder accessor for a {type(network).__name__} teacher; feature alignment supports unet and DA-V1/V2"
    raise ConfigError(msg)


@dataclass(frozen=True)
class TeacherOutput:
    """What the teacher says about one image.

    Attributes:
        values: (H, W) float32 at the image's resolution in the teacher's output kind (metres, depth × unknown
            scale, or relative inverse depth); NaN invalid.
        features: (C, h, w) float32 encoder features on the network's feature grid, or None.
    """

    values: npt.NDArray[np.float32]
    features: npt.NDArray[np.float32] | None


def _weight_files(path: Path) -> list[Path]:
    """A weights directory's files, or the weights file."""
    return sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]


def _fingerprint(path: Path) -> str:
    """Cheap identity of a weights file or directory: size and modification time of what it holds."""
    text = json.dumps([[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in _weight_files(path)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _content_digest(path: Path) -> str:
    """sha256 of the names and bytes of a weights file or directory (read in 1 MiB blocks): two weights of one
    architecture written with the same size and time (a copy that keeps times, a build that sets one epoch) differ."""
    digest = hashlib.sha256()
    external = external_data_files(path) if path.is_file() and path.suffix == ".onnx" else []
    for file in [*_weight_files(path), *external]:  # an ONNX graph's weights may all be in its external data
        digest.update(file.name.encode() + b"\0")
        with file.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()[:16]


class Teacher:
    """A loaded teacher (see the module docstring).

    Args:
        estimator: the inference engine holding the model.
        with_features: capture encoder features too (torch backends only).
        weights: where the model came from (for the cache's record).

    Raises:
        ConfigError: labels up to scale and shift (``affine_depth``); features asked of an ONNX / TorchScript model
            or of an architecture without an accessor.
    """

    def __init__(self, estimator: DepthEstimator, with_features: bool = False, weights: Path | None = None) -> None:
        self.estimator = estimator
        self.weights = weights
        if self.kind is OutputKind.AFFINE_DEPTH:  # inverse_target would invert a shifted depth
            prompt = " (metric only with a LiDAR prompt, which labelling does not give)" if self._prompted else ""
            msg = (
                f"teacher {weights or estimator.spec.architecture} labels depth up to scale and shift "
                f"(affine_depth){prompt}, which makes no inverse-depth target (the shift is unknown); use a "
                "metric, depth_up_to_scale or relative_inverse teacher"
            )
            raise ConfigError(msg)
        self._captured: list[Any] = []
        self._reader: FeatureReader | None = None
        if with_features:
            backend = estimator.backend
            if not isinstance(backend, TorchBackend):
                msg = (
                    f"feature alignment needs the teacher's encoder features, which a {backend.name} model does not "
                    f"expose; use a project checkpoint or a Depth Anything V2 directory as the teacher, or set "
                    f"teacher.features: false and loss.feature_weight: 0"
                )
                raise ConfigError(msg)
            network: nn.Module = backend.module.network  # type: ignore[assignment]
            module, self._reader = feature_tap(network)
            module.register_forward_hook(lambda _module, _args, output: self._captured.append(output))

    @classmethod
    def open(cls, config: TeacherConfig) -> Teacher:
        """Load the teacher a config names (``backend: auto`` guesses from the path, see :func:`infer_backend`).

        Raises:
            ConfigError: no weights given, or features asked of a model that cannot give them.
            CheckpointError: unusable weights.
        """
        if not config.weights:
            msg = "no teacher given: set teacher.weights (or pass --teacher PATH)"
            raise ConfigError(msg)
        weights = Path(config.weights).expanduser()  # "~" in a YAML or --set is no shell's to expand
        backend = infer_backend(weights) if config.backend == "auto" else config.backend
        try:
            estimator = DepthEstimator.open(backend, weights, EstimatorConfig(device=config.device, warmup_runs=0))
        except CheckpointError as err:
            guessed = infer_backend(weights)
            if config.backend == "auto" or guessed in (backend, "torch"):
                raise
            # the loader's remedy names model.backend, the node's parameter: distill's is teacher.backend
            why = str(err).split("; ")[0]
            msg = f"teacher {weights} does not load as backend {backend} ({why}); "
            msg += f"use --teacher-backend {guessed} (or auto)"
            raise CheckpointError(msg) from None
        return cls(estimator, config.features, weights)

    @property
    def spec(self) -> ModelSpec:
        """The teacher's model spec."""
        return self.estimator.spec

    @property
    def _prompted(self) -> bool:
        """Whether the model takes a LiDAR prompt (Prompt Depth Anything), which :meth:`label` never gives it."""
        return PROMPT_DEPTH in self.estimator.frame_inputs

    @property
    def kind(self) -> OutputKind:
        """What :attr:`TeacherOutput.values` means: the estimator's kind, but ``affine_depth`` for a model that is
        metric only with a LiDAR prompt (unprompted, its depth is up to scale and shift, as the estimator says)."""
        return OutputKind.AFFINE_DEPTH if self._prompted else self.estimator.output_kind

    @property
    def needs_focal(self) -> bool:
        """Whether :meth:`label` needs the frame's intrinsics (``metric_focal``: metres = output × focal / divisor;
        ``canonical_inverse`` without the graph's own focal or field-of-view output, ``focal_output`` /
        ``fov_output``)."""
        spec = self.spec
        own_focal = spec.output_kind is OutputKind.CANONICAL_INVERSE and bool(spec.focal_output or spec.fov_output)
        return spec.output_kind.needs_focal and not own_focal

    @property
    def has_features(self) -> bool:
        """Whether :meth:`label` returns features."""
        return self._reader is not None

    def identity(self) -> dict[str, str]:
        """What makes labels of this teacher: backend, weights path, fingerprint (sizes and times) and content digest,
        spec (for the cache manifest)."""
        weights = self.weights.resolve() if self.weights is not None else None
        exists = weights is not None and weights.exists()
        return {
            "backend": self.estimator.backend.name,
            "weights": str(weights) if weights is not None else "",
            "fingerprint": _fingerprint(weights) if weights is not None and exists else "",
            "content": _content_digest(weights) if weights is not None and exists else "",
            "spec": self.spec.to_json(),
        }

    def label(self, image_rgb: npt.NDArray[np.uint8], intrinsics: PinholeIntrinsics | None = None) -> TeacherOutput:
        """Predict one image.

        Args:
            image_rgb: (H, W, 3) uint8 RGB at any resolution (the teacher's spec decides its network size).
            intrinsics: the camera of ``image_rgb``; its focal length goes to teachers that take it, as the node
                gives them camera_info (``metric_focal``: metres = output × focal / 300).

        Returns:
            The prediction at the image's resolution and, when enabled, the encoder features.

        Raises:
            ShapeError: a ``metric_focal`` teacher without ``intrinsics``.
        """
        self._captured.clear()
        hints = None if intrinsics is None else FrameHints(focal_px=(intrinsics.fx, intrinsics.fy))
        result = self.estimator.predict(image_rgb, hints=hints)
        features = None
        if self._reader is not None and self._captured:
            tensor = self._reader(self._captured[-1], result.network_hw)[0]
            features = tensor.detach().float().cpu().numpy()
        self._captured.clear()
        return TeacherOutput(result.values.astype(np.float32, copy=False), features)


def teacher_from_network(network: nn.Module, spec: ModelSpec, with_features: bool = False) -> Teacher:
    """A CPU teacher from an in-memory network (tests, scripts); the network is owned by the teacher afterwards."""
    config = EstimatorConfig(device="cpu", warmup_runs=0, golden_check="off")
    return Teacher(DepthEstimator(TorchBackend(network, spec, torch.device("cpu")), config), with_features)
