"""Per-frame model inputs besides the image, made from :class:`~mono_depth_ros.core.frame_hints.FrameHints`.

* ``focal_ratio``: the camera's fx / image width, (1,) tensor (Depth Pro's metric conversion, resolution-free).
* ``focal_net``: the mean focal length in pixels of the network input, ``(fx · w / W + fy · h / H) / 2``, for
  ``metric_focal`` outputs (Depth Anything 3: metres = output × focal / 300). Not a network input.
* ``canonical_inverse`` outputs (Depth Pro) become metres with the network input's width over its focal length
  (:func:`metres_from_canonical_inverse`), from the camera or from the graph's own focal output.
* ``prompt_depth``: (1, 1, h/4, w/4) metric depth prompt (Prompt Depth Anything). The LiDAR depth arrives sparse
  (NaN between rings); each empty pixel takes its nearest LiDAR depth (L2), then the map is area-averaged to a
  quarter of the network size, the ratio of the published model (a 192×256 prompt for a 756×1008 image).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor
from torch.nn import functional

from mono_depth_ros.core.densify import densify_nearest
from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.core.frame_hints import FOCAL_RATIO, PROMPT_DEPTH, FrameHints
from mono_depth_ros.models.spec import METRIC_FOCAL_DIVISOR

FOCAL_NET = "focal_net"
PROMPT_REDUCTION = 4
NOMINAL_FOCAL_RATIO = 1.0
"""fx / image width assumed by the start-up runs (warm-up, precision trial, self-test), which have no camera: a
model that cannot do without the focal (Depth Pro without its field-of-view head) runs as behind a 53° lens."""

CANONICAL_CLAMP = (1e-4, 1e4)
"""Bounds of Depth Pro's inverse depth (1/m) before it is inverted: Apple's ``infer`` and transformers'
``post_process_depth_estimation`` clamp to these (depth 0.1 mm .. 10 km)."""

__all__ = [
    "CANONICAL_CLAMP",
    "FOCAL_NET",
    "FOCAL_RATIO",
    "NOMINAL_FOCAL_RATIO",
    "PROMPT_DEPTH",
    "frame_inputs",
    "metres_from_canonical_inverse",
    "metres_from_metric_focal",
    "sky_mask",
    "sky_mask_tensor",
]


def frame_inputs(
    wanted: frozenset[str],
    hints: FrameHints | None,
    image_hw: tuple[int, int],
    network_hw: tuple[int, int],
    device: torch.device,
) -> dict[str, Tensor]:
    """The per-frame inputs a model takes (``wanted``) that ``hints`` can provide, as tensors on ``device``.

    Args:
        wanted: input names the model takes (:data:`FOCAL_RATIO` also yields :data:`FOCAL_NET`).
        hints: this frame's focal length and LiDAR depth (None: nothing known).
        image_hw: (H, W) of the camera image the focal length belongs to.
        network_hw: (h, w) the network runs at.
        device: where the network runs.

    Returns:
        Name → tensor for each input known this frame (a missing one is left out: the model falls back).
    """
    inputs: dict[str, Tensor] = {}
    if hints is None:
        return inputs
    if FOCAL_RATIO in wanted and hints.focal_px is not None:
        fx, fy = hints.focal_px
        # fills on the device: a tensor made from host values would wait for the GPU every frame
        inputs[FOCAL_RATIO] = torch.full((1,), fx / image_hw[1], dtype=torch.float32, device=device)
        focal = 0.5 * (fx * network_hw[1] / image_hw[1] + fy * network_hw[0] / image_hw[0])
        inputs[FOCAL_NET] = torch.full((), focal, dtype=torch.float32, device=device)
    if PROMPT_DEPTH in wanted and hints.sparse_depth_m is not None:
        prompt = prompt_depth(hints.sparse_depth_m, network_hw)
        if prompt is not None:
            inputs[PROMPT_DEPTH] = prompt.to(device)
    return inputs


def prompt_depth(sparse_depth_m: npt.NDArray[np.float32], network_hw: tuple[int, int]) -> Tensor | None:
    """(1, 1, h/4, w/4) dense metric prompt from sparse LiDAR depth (NaN = no point); None without any point, or
    when all points have one depth (the model normalises the prompt to (d - min) / (max - min): 0 / 0 everywhere)."""
    sparse = np.asarray(sparse_depth_m, dtype=np.float32)
    valid = np.isfinite(sparse) & (sparse > 0)
    if not np.any(valid) or np.ptp(sparse[valid]) == 0:
        return None
    dense = torch.from_numpy(densify_nearest(sparse))[None, None]
    size = (max(1, network_hw[0] // PROMPT_REDUCTION), max(1, network_hw[1] // PROMPT_REDUCTION))
    prompt = functional.interpolate(dense, size=size, mode="area")
    return prompt if bool(prompt.max() > prompt.min()) else None  # distinct depths averaged into one cell


def metres_from_metric_focal(
    prediction: Tensor, focal_net: Tensor | None, warming: bool, divisor: float = METRIC_FOCAL_DIVISOR
) -> Tensor:
    """``metric_focal`` output → metres (× focal / ``divisor``: the spec's ``metric_focal_divisor``, 300 for Depth
    Anything 3, 1000 for Metric3D). Start-up passes (warm-up, self-test) have no camera and keep the raw values.

    Raises:
        ShapeError: no focal length on a real frame.
    """
    if focal_net is None:
        if warming:
            return prediction
        msg = "a metric_focal model needs the camera's focal length (camera_info K / P) for every frame"
        raise ShapeError(msg)
    return prediction * (focal_net / divisor)


def metres_from_canonical_inverse(prediction: Tensor, focal_over_width: Tensor | None, warming: bool) -> Tensor:
    """Depth Pro's canonical inverse depth → metres: ``1 / clamp(v / (f / w), 1e-4, 1e4)``, as Apple's ``infer`` and
    transformers' post-processing do (``W / f_px`` there: the camera image's width over its focal, which equals the
    network input's ``w / f`` when the image is stretched to it; padded, only the network input's is right). The one
    formula of both Depth Pro roads: transformers' model (:mod:`.hf_network`, inside its exported graph) and a
    ``canonical_inverse`` ONNX / TorchScript model (the model runner).

    Args:
        prediction: (B, 1, h, w) canonical inverse depth, any resolution (the value has no pixel unit).
        focal_over_width: (B,) or (1,) the network input's focal length along its width over that width, both in
            the network input's pixels (the camera's fx / W when the image is stretched to it; None: none known).
        warming: a start-up pass (warm-up, self-test) without a camera: a 53° lens (:data:`NOMINAL_FOCAL_RATIO`).

    Raises:
        ShapeError: no focal length on a real frame.
    """
    if focal_over_width is None:
        if not warming:
            msg = (
                "a canonical_inverse model (Depth Pro) needs a focal length for every frame: the camera's (camera_info "
                "K / P), or the graph's own field of view or focal output named in its spec (`mono-depth spec MODEL "
                "--kind canonical_inverse --output predicted_depth --fov-output field_of_view`: transformers' Depth "
                "Pro exported, degrees; `--focal-output NAME` for a focal length in pixels)"
            )
            raise ShapeError(msg)
        focal_over_width = torch.full((1,), NOMINAL_FOCAL_RATIO, device=prediction.device)
    ratio = focal_over_width.to(prediction.dtype).reshape(-1, 1, 1, 1)
    return 1.0 / torch.clamp(prediction / ratio, min=CANONICAL_CLAMP[0], max=CANONICAL_CLAMP[1])


def sky_mask(sky: Tensor, out_hw: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """(B, 1, h, w) bool sky mask → (H, W) host mask at ``out_hw`` (nearest neighbour)."""
    mask: npt.NDArray[np.bool_] = sky_mask_tensor(sky, out_hw).to("cpu").numpy()
    return mask


def sky_mask_tensor(sky: Tensor, out_hw: tuple[int, int]) -> Tensor:
    """(B, 1, h, w) bool sky mask → (H, W) bool mask at ``out_hw`` (nearest neighbour) on the mask's device."""
    resized = functional.interpolate(sky[:1].float(), size=out_hw, mode="nearest")
    return resized[0, 0] > 0.5
