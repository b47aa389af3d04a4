"""Checks on what a depth network hands back for one frame: a fault of the model is named as one.

Each check raises :class:`~mono_depth_ros.core.errors.ModelOutputError` (the frame is skipped and counted; the node's
``/diagnostics`` goes to ERROR, the bag runner skips the image), never a message that blames the input.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ModelOutputError, first_line

OUT_OF_MEMORY_MARKERS = ("out of memory", "not enough memory", "failed to allocate memory", "outofmemory")
"""Lower-case texts of an allocation failure: torch (CUDA, MPS, CPU ``DefaultCPUAllocator``), ONNX Runtime."""


def is_out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation failure: ``MemoryError``, or a text of :data:`OUT_OF_MEMORY_MARKERS`
    (``torch.OutOfMemoryError`` and the RuntimeErrors of CUDA, MPS, the CPU allocator, ONNX Runtime)."""
    return isinstance(err, MemoryError) or any(m in str(err).lower() for m in OUT_OF_MEMORY_MARKERS)


def _hw(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in reversed(shape)) if len(shape) == 2 else str(shape)


def producer_marks(prediction: npt.NDArray[np.float32], kind: OutputKind) -> npt.NDArray[np.float32]:
    """A producer's (H, W) map (an external prediction) with its marks as the pipeline reads them
    (:attr:`~mono_depth_ros.core.depth_kind.OutputKind.infinity_is_invalid`): for an inverse kind +/-Inf become NaN
    (1/0 is a depth of 0 m, no depth: never beyond range, never a clearing ray); else ``prediction`` itself.

    Returns:
        ``prediction`` (no copy) when nothing changes; else a float32 copy with those pixels NaN.
    """
    if not kind.infinity_is_invalid:
        return prediction
    infinite = np.isinf(prediction)
    if not infinite.any():
        return prediction
    marked = np.array(prediction, dtype=np.float32, copy=True)
    marked[infinite] = np.nan
    return marked


def check_network_output(
    prediction: npt.NDArray[np.floating],
    kind: OutputKind,
    max_invalid_share: float,
    sizes_hw: tuple[tuple[int, int], ...],
    cause: Callable[[], str | None] | None = None,
) -> None:
    """Raise when the network's (H, W) map cannot be a depth map for this frame.

    Args:
        prediction: the network's map (depth, depth up to scale or disparity; see ``kind``).
        kind: what it means; for depth kinds (metres, up to scale) a value <= 0 is no depth, as NaN and -Inf are;
            for the kinds up to scale and shift (``relative_inverse``, ``affine_depth``) any finite value is one.
        max_invalid_share: ``model.max_invalid_share``: the largest share of invalid pixels (+Inf, sky, is valid).
        sizes_hw: the sizes the pipeline can use, (height, width) in pixels (the published size, the image's).
        cause: asked only when too many pixels are invalid: why, as the model runner knows it (a Depth Pro graph's
            field of view out of range: ``DepthEstimator.invalid_output_cause``), or None (broken weights or numerics
            is said).

    Raises:
        ModelOutputError: another size than ``sizes_hw``, or too many invalid pixels.
    """
    if tuple(prediction.shape) not in sizes_hw:
        expected = " or ".join(_hw(size) for size in dict.fromkeys(sizes_hw))
        msg = (
            f"model output is {_hw(tuple(prediction.shape))} but the image is {expected}: the model or its spec does "
            "not match this image size (the exported model's output shape, its spec's input size); frame skipped"
        )
        raise ModelOutputError(msg)
    usable = np.isfinite(prediction)
    if not kind.has_shift:
        usable &= prediction > 0
    valid = np.count_nonzero(usable) + np.count_nonzero(np.isposinf(prediction))  # +Inf: sky
    invalid_share = 1.0 - float(valid) / max(prediction.size, 1)
    if invalid_share > max_invalid_share:
        what = "NaN / Inf" if kind.has_shift else "NaN / Inf or <= 0"
        msg = (
            f"model output is {what} at {100 * invalid_share:.0f} % of the pixels (model.max_invalid_share "
            f"{max_invalid_share:g}): {(cause() if cause is not None else None) or 'broken weights or numerics'}; "
            "frame skipped"
        )
        raise ModelOutputError(msg)


_MARKS = (("NaN", np.isnan), ("+Inf", np.isposinf), ("-Inf", np.isneginf))
"""The marks of no value a map may hold, named as an error message names them."""


def check_external_prediction(prediction: npt.NDArray[np.floating], kind: OutputKind) -> None:
    """Raise when an external prediction (``model.backend: external``) cannot be a frame of depth at all.

    A sparse prediction passes (a LiDAR scan projected into the image: a few % of the pixels), so
    ``model.max_invalid_share`` is not applied to it. For the depth kinds (``metric``, ``depth_up_to_scale``: what a
    depth sensor, a projected LiDAR or SLAM map gives) a frame with no depth anywhere, only the marks of no data (NaN,
    0: a 16UC1 map of zeros decodes to NaN) and of out of range (+/-Inf, REP 117), passes too: a lens blocked, open
    sky, no return in view is a scene, published as a depth camera's driver publishes it (depth_image_proc makes a
    cloud of it, whose header keeps a costmap's observation current); values below 0 and none above are no scene
    (metres of the wrong sign, values up to scale and shift). For the kinds up to scale and shift
    (``relative_inverse``, ``affine_depth``: a network's dense output) any finite value is a prediction and a map
    with none is a fault of its publisher (NaN from a failed model).

    Args:
        prediction: the (H, W) prediction as decoded (32FC1 as sent; 16UC1 / mono16 millimetres in metres, 0 as
            NaN), before any undistortion.
        kind: what it means (``model.output_kind``); usable: finite, or +Inf where it means far (not for
            ``relative_inverse``: 1/0, no depth; :attr:`~.OutputKind.infinity_is_invalid`); for depth kinds also > 0.

    Raises:
        ModelOutputError: no pixel usable (depth kinds: and some below 0 m); the text names the size, what the pixels
            hold and where to look.
    """
    if kind.has_shift:  # +Inf: far for affine_depth; 1/0, no depth, for relative_inverse (infinity_is_invalid)
        far = np.inf if not kind.infinity_is_invalid else np.nan  # NaN matches nothing
        usable = bool(np.any(np.isfinite(prediction) | (prediction == far)))
    else:  # NaN compares False, +Inf (sky) True; with none above 0, only values below 0 make it no scene
        usable = bool(np.any(prediction > 0)) or not bool(np.any(np.isfinite(prediction) & (prediction < 0)))
    if usable:
        return
    size = prediction.size
    if kind.has_shift:
        counts = [(name, np.count_nonzero(mark(prediction))) for name, mark in _MARKS]
        parts = [(name, count) for name, count in counts if count]
        shares = [f"{100 * count / max(size, 1):.0f} % {name}" for name, count in parts[:-1]]
        held = f"all {parts[-1][0]}" if len(parts) == 1 else ", ".join(shares) + f", the rest {parts[-1][0]}"
        hint = "; +Inf inverse depth is 1/0, a depth of 0 m: no depth (the sky is 0)" if counts[1][1] else ""
    else:
        below = np.count_nonzero(np.isfinite(prediction) & (prediction < 0))
        held = f"{below} of them below 0, none above"
        hint = "; inverse depth or disparity is model.output_kind relative_inverse, depth up to a shift affine_depth"
    msg = (
        f"external prediction has no depth at any of its {_hw(tuple(prediction.shape))} pixels ({held}; "
        f"model.output_kind {kind.value}): check the node publishing prediction_topic and its encoding (32FC1 in "
        f"metres; 16UC1 / mono16 in millimetres, 0 = no depth){hint}; frame skipped"
    )
    raise ModelOutputError(msg)


def out_of_memory(err: BaseException, device: str, image_hw: tuple[int, int]) -> ModelOutputError | None:
    """The :class:`ModelOutputError` for a frame that ran out of memory (``err``, from the model or the steps after
    it on its device), else None.

    Args:
        err: what was raised (``torch.OutOfMemoryError`` and ``MemoryError`` too, or a RuntimeError whose text
            says so: CUDA, MPS, ONNX Runtime).
        device: where the model runs (the source's device, else the ``device`` parameter), for the message.
        image_hw: the camera image's (height, width) in pixels, for the message.
    """
    if not is_out_of_memory(err):
        return None
    msg = (
        f"out of memory on {device} for this {image_hw[1]}x{image_hw[0]} image in the model or the steps after it "
        f"({first_line(err)}); frame skipped; free the device's memory (another process?), use a smaller model "
        "(or input size), or device:=cpu"
    )
    return ModelOutputError(msg)
