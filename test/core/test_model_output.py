"""mono_depth_ros.core.model_output: a network's unusable output or failed run is named as the model's fault."""

from __future__ import annotations

import numpy as np
import pytest

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import ModelOutputError
from mono_depth_ros.core.model_output import (
    check_external_prediction,
    check_network_output,
    out_of_memory,
    producer_marks,
)

HW = (6, 8)


def test_depth_kinds_count_values_at_or_below_zero_as_invalid_and_disparity_does_not() -> None:
    depth = np.full(HW, 3.0, np.float32)
    depth[:4] = 0.0  # 4 of 6 rows: 67 %
    for kind in (OutputKind.METRIC, OutputKind.DEPTH_UP_TO_SCALE, OutputKind.METRIC_FOCAL):
        with pytest.raises(ModelOutputError, match=r"NaN / Inf or <= 0 at 67 % of the pixels"):
            check_network_output(depth, kind, 0.5, (HW,))
        check_network_output(depth, kind, 0.7, (HW,))  # a share the user allows
    check_network_output(-depth, OutputKind.RELATIVE_INVERSE, 0.0, (HW,))  # disparity up to scale and shift
    check_network_output(depth - 1.0, OutputKind.AFFINE_DEPTH, 0.0, (HW,))  # normalised depth: 0 and below = nearest
    sky = np.full(HW, np.inf, np.float32)  # +Inf is a valid "no return" (REP 117)
    check_network_output(sky, OutputKind.METRIC, 0.0, (HW,))
    with pytest.raises(ModelOutputError, match=r"NaN / Inf at 100 %"):
        check_network_output(np.full(HW, np.nan, np.float32), OutputKind.RELATIVE_INVERSE, 0.5, (HW,))


def test_an_external_prediction_without_one_usable_pixel_is_refused_and_a_sparse_one_passes() -> None:
    """An external prediction may be sparse (a projected LiDAR scan), so model.max_invalid_share is not applied to it;
    one of a kind up to scale and shift (a network's dense output) with no usable pixel at all (all NaN, all -Inf)
    was published as a depth image of nothing, /diagnostics OK; so was a depth kind's of metres of the wrong sign."""
    sparse = np.full(HW, np.nan, np.float32)
    sparse[2, 3] = 4.0  # one pixel of 48
    for kind in OutputKind:
        check_external_prediction(sparse, kind)
    check_external_prediction(np.full(HW, np.inf, np.float32), OutputKind.METRIC)  # all sky (REP 117)
    check_external_prediction(np.full(HW, -2.0, np.float32), OutputKind.RELATIVE_INVERSE)  # any finite value
    negative = np.full(HW, -3.0, np.float32)
    negative[0] = np.nan  # 8 of 48
    with pytest.raises(
        ModelOutputError,
        match=r"no depth at any of its 8x6 pixels \(40 of them below 0, none above; model.output_kind metric\)"
        r".*relative_inverse",
    ):
        check_external_prediction(negative, OutputKind.METRIC)
    with pytest.raises(ModelOutputError, match=r"\(all NaN; model.output_kind affine_depth\)"):
        check_external_prediction(np.full(HW, np.nan, np.float32), OutputKind.AFFINE_DEPTH)
    with pytest.raises(ModelOutputError, match=r"\(all -Inf; model.output_kind relative_inverse\)"):
        check_external_prediction(np.full(HW, -np.inf, np.float32), OutputKind.RELATIVE_INVERSE)
    half = np.full(HW, -np.inf, np.float32)
    half[:3] = np.nan
    with pytest.raises(ModelOutputError, match=r"\(50 % NaN, the rest -Inf; model.output_kind relative_inverse"):
        check_external_prediction(half, OutputKind.RELATIVE_INVERSE)


@pytest.mark.parametrize(
    ("kind", "plus", "minus"),
    [
        (OutputKind.METRIC, np.inf, -np.inf),  # REP 117: beyond range, too close
        (OutputKind.DEPTH_UP_TO_SCALE, np.inf, -np.inf),
        (OutputKind.METRIC_FOCAL, np.inf, -np.inf),
        (OutputKind.AFFINE_DEPTH, np.inf, -np.inf),  # farther, nearer than any depth
        (OutputKind.RELATIVE_INVERSE, np.nan, np.nan),  # 1/0: a depth of 0 m, no depth; never the sky (0)
        (OutputKind.CANONICAL_INVERSE, np.nan, np.nan),
    ],
)
def test_a_producers_infinities_mean_far_only_where_its_kind_says_so(
    kind: OutputKind, plus: float, minus: float
) -> None:
    """The one rule (OutputKind.infinity_is_invalid): +Inf from an inverse-depth producer (1/0) is no depth, not
    beyond range; an all +Inf relative_inverse frame was taken as all sky (published +Inf, scale health ok)."""
    marks = np.array([[np.inf, -np.inf, 0.0, -1.0, np.nan, 2.0]], np.float32)
    read = producer_marks(marks, kind)
    np.testing.assert_array_equal(read, [[plus, minus, 0.0, -1.0, np.nan, 2.0]])
    assert (read is marks) is (plus == np.inf)  # a copy only where a mark changes
    unmarked = np.ones(HW, np.float32)
    assert producer_marks(unmarked, kind) is unmarked  # nothing to change: no copy
    every = np.full(HW, np.inf, np.float32)
    if plus == np.inf:
        check_external_prediction(every, kind)  # all far: open sky, no return
    elif kind is OutputKind.RELATIVE_INVERSE:  # canonical_inverse: a network's raw map only (no model.output_kind)
        with pytest.raises(ModelOutputError, match=r"\(all \+Inf; model.output_kind \w+\).*1/0, a depth of 0 m"):
            check_external_prediction(every, kind)
    mixed = np.full(HW, np.inf, np.float32)
    mixed[:3] = np.nan
    if kind is OutputKind.RELATIVE_INVERSE:
        with pytest.raises(ModelOutputError, match=r"\(50 % NaN, the rest \+Inf; model.output_kind relative_inverse"):
            check_external_prediction(mixed, kind)


@pytest.mark.parametrize("kind", [OutputKind.METRIC, OutputKind.DEPTH_UP_TO_SCALE])
def test_a_depth_sensors_frame_with_no_return_anywhere_passes_as_its_driver_publishes_it(kind: OutputKind) -> None:
    """A depth kind's prediction may come from a sensor (a projected LiDAR, a depth camera, SLAM map points): a frame
    with no depth anywhere but only the marks of no data (NaN, 0: a 16UC1 map of zeros decodes to NaN) and out of
    range (+/-Inf, REP 117) is a scene (a blocked lens, open sky, no return in view), published as the sensor's driver
    publishes it, whose header keeps a costmap's observation current; it was a ModelOutputError, the frame dropped and
    /diagnostics ERROR for a whole window."""
    marks = np.full(HW, np.nan, np.float32)
    marks[1] = 0.0
    marks[2] = -np.inf  # too close: a lens blocked
    marks[3] = np.inf  # no return
    for frame in (np.full(HW, np.nan, np.float32), np.zeros(HW, np.float32), np.full(HW, -np.inf, np.float32), marks):
        check_external_prediction(frame, kind)
    wrong = marks.copy()
    wrong[3] = np.nan
    wrong[4, 0] = -0.5  # one value of the wrong sign, none above 0 (+Inf is above): no scene gives that
    with pytest.raises(ModelOutputError, match=r"\(1 of them below 0, none above; model.output_kind"):
        check_external_prediction(wrong, kind)


def test_an_output_of_another_size_names_both_sizes() -> None:
    check_network_output(np.ones((3, 4), np.float32), OutputKind.METRIC, 0.5, ((3, 4), HW))
    with pytest.raises(ModelOutputError, match=r"model output is 6x8 but the image is 4x3 or 8x6"):
        check_network_output(np.ones((8, 6), np.float32), OutputKind.METRIC, 0.5, ((3, 4), HW))
    with pytest.raises(ModelOutputError, match=r"model output is \(1, 6, 8\) but the image is 8x6"):
        check_network_output(np.ones((1, *HW), np.float32), OutputKind.METRIC, 0.5, (HW, HW))


@pytest.mark.parametrize(
    "err",
    [
        RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; 3.82 GiB total capacity)"),
        RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be asynchronously reported"),
        RuntimeError("MPS backend out of memory (MPS allocated: 1.2 GB)"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:114] DefaultCPUAllocator: not enough memory: you tried"),
        RuntimeError("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory for requested buffer"),
        MemoryError(),
    ],
)
def test_out_of_memory_from_torch_or_onnx_runtime_gives_the_remedy(err: BaseException) -> None:
    fault = out_of_memory(err, "cuda:0", (24, 32))
    assert fault is not None
    text = str(fault)
    assert "out of memory on cuda:0 for this 32x24 image in the model or the steps after it" in text
    assert "device:=cpu" in text
    assert "\n" not in text  # one line: the first line of the original


def test_other_exceptions_are_not_taken_for_out_of_memory() -> None:
    assert out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"), "cpu", (1, 1)) is None
    assert out_of_memory(RuntimeError(""), "cpu", (1, 1)) is None
