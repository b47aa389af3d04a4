"""The network behind a transformers depth model: each family's forward pass in the project's tensor contract.

:class:`HfDepthNetwork` turns each family's forward pass into the project's contract, (B, 3, H, W) normalised RGB
→ (B, 1, H, W) prediction of the spec's output kind, and takes the per-frame inputs some families need
(:mod:`.hf_families`): Depth Pro's canonical inverse depth becomes metres with the camera's fx / width (its own
field-of-view head when no camera focal is given, as transformers' post-processing does); Prompt Depth Anything
gets the LiDAR prompt; ZoeDepth's input is reflect-padded as its image processor does and its output read where the
image lies (:func:`~.preprocess.reflect_pad_window`). Everything else (resizing, normalisation, upsampling) is the
same device code as for every model. :class:`HfBackend` runs it on a device. Loading and building:
:mod:`.hf_model`; its spec: :mod:`.hf_spec`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional

from mono_depth_ros.core.errors import ShapeError
from mono_depth_ros.models.backend import TorchBackend, prediction_tensor
from mono_depth_ros.models.frame_inputs import metres_from_canonical_inverse
from mono_depth_ros.models.hf_families import Family
from mono_depth_ros.models.hf_spec import ARCHITECTURE
from mono_depth_ros.models.spec import ModelSpec


class HfDepthNetwork(nn.Module):
    """A transformers depth model behind the project's tensor contract (exportable when it needs no frame inputs).

    Args:
        hf_model: the ``*ForDepthEstimation`` model (its weights are this module's, under ``model.``).
        model_type: its ``config.json`` model type (selects the family's conversions).
        reflect_pad: ZoeDepth's reflect padding made by the network at its input size (specs written before the
            engine padded as ZoeDepthImageProcessor does, :attr:`~.spec.InputPolicy.reflect_pad`; kept so that they load
            as they were made and exported).
    """

    def __init__(self, hf_model: nn.Module, model_type: str, reflect_pad: bool = False) -> None:
        super().__init__()
        self.model = hf_model
        self.model_type = model_type
        self.reflect_pad = reflect_pad

    def forward(self, x: Tensor, focal_ratio: Tensor | None = None, prompt_depth: Tensor | None = None) -> Tensor:
        """Predict.

        Args:
            x: (B, 3, H, W) float32 normalised RGB at the family's input size.
            focal_ratio: (B,) camera fx / image width (Depth Pro; None: its field-of-view head estimates it).
            prompt_depth: (B, 1, h, w) metric depth prompt in metres, any resolution (Prompt Depth Anything; None:
                unprompted, depth up to scale and shift: ``affine_depth``).

        Returns:
            (B, 1, H, W) float32 prediction of the spec's output kind.

        Raises:
            ShapeError: Depth Pro without a focal length or a field-of-view head.
        """
        height, width = int(x.shape[-2]), int(x.shape[-1])
        pads = _reflect_pads(height, width) if self.reflect_pad else None
        if pads is not None:
            top, bottom, left, right = pads
            inner = functional.interpolate(x, size=(height - top - bottom, width - left - right), mode="bilinear")
            x = functional.pad(inner, (left, right, top, bottom), mode="reflect")
        extra = {"prompt_depth": prompt_depth} if prompt_depth is not None and self.model_type != "depth_pro" else {}
        output = self.model(pixel_values=x, **extra)
        depth = prediction_tensor(output)
        if self.model_type == "depth_pro":
            depth = _depth_pro_metres(depth, focal_ratio, getattr(output, "field_of_view", None))
        if pads is not None:
            rows, cols = depth.shape[-2], depth.shape[-1]  # integer arithmetic: traceable for export
            top, bottom, left, right = pads
            top, bottom = top * rows // height, bottom * rows // height
            left, right = left * cols // width, right * cols // width
            depth = depth[..., top : rows - bottom, left : cols - right]
        if tuple(depth.shape[-2:]) != (height, width):
            depth = functional.interpolate(depth, size=(height, width), mode="bilinear", align_corners=False)
        return depth


def _reflect_pads(height: int, width: int) -> tuple[int, int, int, int] | None:
    """ZoeDepth's reflect padding (top, bottom, left, right) at a (height, width) input, or None when too small.

    ZoeDepthImageProcessor pads ``int(3·sqrt(side / 2))`` px each side, then resizes the padded image keeping its
    aspect: here the image shrinks by the factor that fits the padded short side into the input (one factor for both
    axes, so the image keeps its aspect) and the rest of the input is reflect padding.
    """
    pad_h, pad_w = int(math.sqrt(height / 2) * 3), int(math.sqrt(width / 2) * 3)
    shrink = min(height / (height + 2 * pad_h), width / (width + 2 * pad_w))
    inner_h, inner_w = round(height * shrink), round(width * shrink)
    top, left = (height - inner_h) // 2, (width - inner_w) // 2
    bottom, right = height - inner_h - top, width - inner_w - left
    if max(top, bottom) >= inner_h or max(left, right) >= inner_w or not (top or left):  # reflection needs more
        return None
    return top, bottom, left, right


def _depth_pro_metres(inverse: Tensor, focal_ratio: Tensor | None, field_of_view: Tensor | None) -> Tensor:
    """Depth Pro's canonical inverse depth → metres with the camera's fx / W, else its field-of-view head's
    (:func:`~.frame_inputs.metres_from_canonical_inverse`, the formula a ``canonical_inverse`` export runs with)."""
    if focal_ratio is None:
        if field_of_view is None:
            msg = "this Depth Pro model has no field-of-view head (use_fov_model: false): it needs the camera focal"
            raise ShapeError(msg)
        focal_ratio = 0.5 / torch.tan(field_of_view.float() * (math.pi / 360.0))  # half the FoV in radians
    return metres_from_canonical_inverse(inverse, focal_ratio, warming=False)


class HfBackend(TorchBackend):
    """A :class:`HfDepthNetwork` on a device, with the per-frame inputs its family takes.

    Attributes:
        frame_inputs: per-frame inputs the network takes (:data:`~.hf_families.FOCAL_RATIO`, ``PROMPT_DEPTH``).
        fixed_input_hw: the only (height, width) it runs at (Depth Pro), else None.
    """

    def __init__(self, network: HfDepthNetwork, spec: ModelSpec, device: torch.device, family: Family) -> None:
        super().__init__(network, spec, device, name=ARCHITECTURE)
        self.frame_inputs = family.frame_inputs
        self.fixed_input_hw = (spec.input.height, spec.input.width) if family.fixed_input else None

    def infer_with(self, batch: Tensor, inputs: dict[str, Tensor]) -> Tensor:
        """Like :meth:`infer`, with per-frame inputs (``focal_ratio``, ``prompt_depth``) passed to the network."""
        network = self.module.network
        assert isinstance(network, nn.Module)
        with torch.no_grad():
            return prediction_tensor(network(batch, **inputs))


__all__ = ["HfBackend", "HfDepthNetwork"]
