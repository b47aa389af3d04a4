"""The transformers depth families the node runs: what each one's output means and what it needs per frame.

=========================  =====================  ===============================  ================================
``model_type``             output kind            per-frame input                  default input (no processor file)
=========================  =====================  ===============================  ================================
``dpt`` (DPT, MiDaS 3.x)   relative_inverse       image                            384×384, mean/std 0.5
``dpt`` + DINOv2 backbone  metric                 image                            own size centre-padded to ×14
                                                                                   (its processor: NYU 490×644);
                                                                                   beyond 490 / 1246 short side
                                                                                   480, ×14, long side ≤ 1246
``depth_anything`` V1/V2   relative_inverse, or   image                            short side 518, ×14, ImageNet
                           metric (``depth_estim
                           ation_type: metric``)
``zoedepth``               metric                 image (reflect-padded)           short side 384 (of the padded
                                                                                   image), ×32, mean/std 0.5
``glpn``                   metric (max_depth)     image                            short side 352 (KITTI, max_depth
                                                                                   > 20; long side ≤ 1216) / 480
                                                                                   (NYU), ×32, no norm.; a camera
                                                                                   of that resolution: each side
                                                                                   floored to 32 (its processor)
``depth_pro``              metric                 image + focal length (from       fixed patch / min ratio (1536²),
                                                  camera_info; its FoV head else)  mean/std 0.5
``prompt_depth_anything``  metric with a LiDAR    image + projected sparse LiDAR   short side 518, ×14, ImageNet
                           prompt; affine_depth   (metres), when a scan is paired
                           (up to scale and
                           shift) without one
``tipsv2_dpt`` (TIPS v2)   metric (bins from      image                            448×448 (its processor resizes
                           min_ to max_depth)                                      to the box), ×14, no norm.
=========================  =====================  ===============================  ================================

Another model type that transformers maps to ``AutoModelForDepthEstimation`` loads when ``model.output_kind`` says
what it predicts (and its ``preprocessor_config.json`` how to feed it); without those the error says so. A type
whose output is no distance from the camera (:data:`NOT_DEPTH`: CHMv2's canopy height) is refused, whatever
``model.output_kind`` says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.frame_hints import FOCAL_RATIO, PROMPT_DEPTH
from mono_depth_ros.models.hf_preprocessing import HfPreprocessing, long_side_cap
from mono_depth_ros.models.registry import IMAGENET_MEAN, IMAGENET_STD
from mono_depth_ros.models.spec import InputPolicy

TRAINED_KIND_KEY = "mono_depth_output_kind"
"""``config.json`` key of a directory fine-tuned by ``mono-depth train`` (``model.pretrained``) to depth up to scale
(a fully scale-invariant SILog): its head is the metric one, but its values are depth × an unknown scale."""
HALF = (0.5, 0.5, 0.5)
BICUBIC = "bicubic"
"""DPTImageProcessor's and PromptDepthAnythingImageProcessor's ``resample`` where their file does not say."""


@dataclass(frozen=True)
class Family:
    """One transformers depth family.

    Attributes:
        model_type: ``config.json``'s ``model_type``.
        title: name for logs, errors and the README table.
        kind: config.json → output kind (None: not inferable: ``model.output_kind`` must say).
        preprocessing: config.json → the defaults used where ``preprocessor_config.json`` is silent or absent.
        frame_inputs: per-frame inputs besides the image (:data:`FOCAL_RATIO`, :data:`PROMPT_DEPTH`).
        fixed_input: the network only runs at the policy's (height, width) (Depth Pro's patch pyramid).
        example: a Hugging Face Hub id of a depth checkpoint of the family (README's model table lists it), for
            messages that send the user to one.
    """

    model_type: str
    title: str
    kind: Callable[[dict[str, Any]], OutputKind | None]
    preprocessing: Callable[[dict[str, Any]], HfPreprocessing]
    frame_inputs: frozenset[str] = frozenset()
    fixed_input: bool = False
    example: str = ""


def _keep_aspect(
    short: int,
    multiple: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    interpolation: str = "bilinear",
) -> HfPreprocessing:
    """Short side ``short`` keeping aspect, ×``multiple``, the long side capped; ``interpolation``: the processor
    class's default filter (DPTImageProcessor's and PromptDepthAnythingImageProcessor's: bicubic), used where the
    processor file does not say ``resample``."""
    cap = long_side_cap(short, multiple)
    policy = InputPolicy(short, short, keep_aspect=True, multiple_of=multiple, max_long_side=cap)
    return HfPreprocessing(replace(policy, interpolation=interpolation), mean, std)


def _dinov2_dpt(config: dict[str, Any]) -> bool:
    """A DPT with a DINOv2 backbone: DINOv2's own depth heads (facebook/dpt-dinov2-*-kitti / -nyu)."""
    backbone = config.get("backbone_config")
    return isinstance(backbone, dict) and backbone.get("model_type") == "dinov2" and not config.get("is_hybrid")


def _dpt_kind(config: dict[str, Any]) -> OutputKind:
    """MiDaS 3.x (ViT, hybrid, BEiT, Swin backbones) predicts relative inverse depth; DINOv2's depth heads were
    trained on metric depth (NYU / KITTI metres: the conversion script checks 3.36 m on its NYU example)."""
    return OutputKind.METRIC if _dinov2_dpt(config) else OutputKind.RELATIVE_INVERSE


def _dpt_input(config: dict[str, Any]) -> HfPreprocessing:
    """MiDaS' 384 square, resampled with DPTImageProcessor's bicubic; a DINOv2 DPT runs any multiple of its 14 px
    patch and its processor does not resize, it centre-pads to 14 (its metres were learnt at NYU's 480x640 or
    KITTI's 375x1242): a camera up to 490 x 1246 padded runs at its own size, padded (NYU 490x644, KITTI
    378x1246), a larger one keeping aspect at short side 480."""
    if _dinov2_dpt(config):
        policy = InputPolicy(480, 480, keep_aspect=True, multiple_of=14, max_long_side=1246, native_pad=True)
        return HfPreprocessing(replace(policy, interpolation=BICUBIC), IMAGENET_MEAN, IMAGENET_STD)
    policy = InputPolicy(384, 384, multiple_of=32, max_long_side=384, interpolation=BICUBIC)
    return HfPreprocessing(policy, HALF, HALF)


def _depth_anything_kind(config: dict[str, Any]) -> OutputKind | None:
    kind = config.get("depth_estimation_type", "relative")
    return {"relative": OutputKind.RELATIVE_INVERSE, "metric": OutputKind.METRIC}.get(str(kind))


def _depth_pro_input(config: dict[str, Any]) -> HfPreprocessing:
    ratios = config.get("scaled_images_ratios") or [0.25, 0.5, 1.0]
    side = round(int(config.get("patch_size", 384)) / min(float(r) for r in ratios))
    policy = InputPolicy(height=side, width=side, multiple_of=1, max_long_side=side, antialias=False)
    return HfPreprocessing(policy, HALF, HALF)  # its processor resizes without antialiasing


KITTI_WIDTH = 1216
"""KITTI's image width rounded down to 32 px: what GLPN's processor (no resize) gives a KITTI frame."""


def _glpn_input(config: dict[str, Any]) -> HfPreprocessing:
    """GLPN's processor does not resize (it rounds each side down to 32 px): its metres were learnt at the dataset's
    own resolution, KITTI's 352x1216 or NYU's 480x640; a camera of that resolution runs as the processor runs it
    (``native_floor``; the long-side cap admits KITTI's width), another one keeping aspect at that short side."""
    kitti = float(config.get("max_depth", 10)) > 20
    short = 352 if kitti else 480
    zero, one = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    keep = _keep_aspect(short, 32, zero, one)
    base = HfPreprocessing(replace(keep.input, native_floor=True), zero, one)
    if not kitti:
        return base
    return HfPreprocessing(replace(base.input, max_long_side=KITTI_WIDTH), zero, one)


def _zoedepth_input(_: dict[str, Any]) -> HfPreprocessing:
    base = _keep_aspect(384, 32, HALF, HALF)
    return HfPreprocessing(base.input, base.mean, base.std, reflect_pad=True)


def _tipsv2_input(_: dict[str, Any]) -> HfPreprocessing:
    """Tipsv2DptImageProcessor resizes to its size box (448x448, no keep_aspect_ratio) and does not normalise; its
    ViT takes any multiple of its 14 px patch."""
    policy = InputPolicy(448, 448, keep_aspect=False, multiple_of=14, max_long_side=448)
    return HfPreprocessing(policy, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))


FAMILIES: dict[str, Family] = {
    family.model_type: family
    for family in (
        Family("dpt", "DPT / MiDaS 3.x", _dpt_kind, _dpt_input, example="Intel/dpt-large"),
        Family(
            "depth_anything",
            "Depth Anything V1 / V2",
            _depth_anything_kind,
            lambda _: _keep_aspect(518, 14, IMAGENET_MEAN, IMAGENET_STD, BICUBIC),
            example="depth-anything/Depth-Anything-V2-Small-hf",
        ),
        Family(
            "zoedepth", "ZoeDepth", lambda _: OutputKind.METRIC, _zoedepth_input, example="Intel/zoedepth-nyu-kitti"
        ),
        Family("glpn", "GLPN", lambda _: OutputKind.METRIC, _glpn_input, example="vinvino02/glpn-kitti"),
        Family(
            "depth_pro",
            "Depth Pro",
            lambda _: OutputKind.METRIC,
            _depth_pro_input,
            frame_inputs=frozenset({FOCAL_RATIO}),
            fixed_input=True,
            example="apple/DepthPro-hf",
        ),
        Family(
            "prompt_depth_anything",
            "Prompt Depth Anything",
            lambda _: OutputKind.METRIC,
            lambda _: _keep_aspect(518, 14, IMAGENET_MEAN, IMAGENET_STD, BICUBIC),
            frame_inputs=frozenset({PROMPT_DEPTH}),
            example="depth-anything/prompt-depth-anything-vits-hf",
        ),
        # depth in metres: a softmax over bins from the config's min_depth to max_depth (0.001..10 m by default)
        Family(
            "tipsv2_dpt", "TIPS v2 DPT", lambda _: OutputKind.METRIC, _tipsv2_input, example="google/tipsv2-b14-dpt"
        ),
    )
}


NOT_DEPTH: dict[str, str] = {
    "chmv2": "Meta's canopy height model (CHMv2): its output is canopy height above ground in metres (from aerial "
    "or satellite images), not a distance from the camera",
}
"""``model_type`` → why: types transformers maps to ``AutoModelForDepthEstimation`` whose output is not depth along
the optical axis (every other type of transformers 5.23's list is: ``depth_anything``, ``depth_pro``, ``dpt``,
``glpn``, ``prompt_depth_anything``, ``tipsv2_dpt``, ``zoedepth``); published as depth, their values would be read as
ranges by every consumer."""


def other_family(model_type: str) -> Family:
    """A depth model type without an entry in :data:`FAMILIES`: kind from ``model.output_kind`` only, ImageNet
    normalisation and a 384 px short side unless its ``preprocessor_config.json`` says otherwise."""
    return Family(model_type, model_type, lambda _: None, lambda _: _keep_aspect(384, 32, IMAGENET_MEAN, IMAGENET_STD))


def config_kind(family: Family, config: dict[str, Any]) -> OutputKind | None:
    """What a directory's ``config.json`` says it predicts: its family's kind, or depth up to scale for a metric
    head fine-tuned to it (:data:`TRAINED_KIND_KEY`)."""
    known = family.kind(config)
    if known is OutputKind.METRIC and config.get(TRAINED_KIND_KEY) == OutputKind.DEPTH_UP_TO_SCALE.value:
        return OutputKind.DEPTH_UP_TO_SCALE
    return known
