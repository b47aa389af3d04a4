from __future__ import annotations

import numpy as np
import pytest

from mono_depth_ros.core.depth_codec import apply_range_limits, decode_depth, encode_depth
from mono_depth_ros.core.errors import EncodingError, ShapeError


def test_32fc1_round_trip_keeps_nan_and_inf() -> None:
    depth = np.array([[1.5, np.nan], [np.inf, -np.inf]], dtype=np.float32)
    wire = encode_depth(depth, "32FC1")
    assert wire.dtype == np.float32
    np.testing.assert_array_equal(decode_depth(wire, "32FC1"), depth)


def test_16uc1_is_millimetres_with_zero_invalid() -> None:
    depth = np.array([[1.2344, np.nan, np.inf], [0.0004, 70.0, 2.0]], dtype=np.float32)
    wire = encode_depth(depth, "16UC1")
    assert wire.dtype == np.uint16
    assert wire.tolist() == [[1234, 0, 0], [0, 0, 2000]]
    back = decode_depth(wire, "16UC1")
    assert back[0, 0] == pytest.approx(1.234)
    assert np.isnan(back[0, 1]) and np.isnan(back[1, 0]) and np.isnan(back[1, 1])
    assert back[1, 2] == pytest.approx(2.0)


def test_mono16_reads_as_millimetres() -> None:
    assert decode_depth(np.array([[500]], dtype=np.uint16), "mono16")[0, 0] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("raw", "encoding"), [(np.zeros((2, 2), np.float64), "32FC1"), (np.zeros((2, 2), np.int16), "16UC1")]
)
def test_wrong_dtype_is_rejected(raw: np.ndarray, encoding: str) -> None:
    with pytest.raises(EncodingError, match=encoding):
        decode_depth(raw, encoding)


def test_unsupported_encodings_name_the_value() -> None:
    with pytest.raises(EncodingError, match="'rgb8'"):
        decode_depth(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(EncodingError, match="'64FC1'"):
        encode_depth(np.zeros((2, 2), np.float32), "64FC1")
    with pytest.raises(ShapeError):
        encode_depth(np.zeros((2, 2, 1), np.float32), "32FC1")


def test_range_limits_follow_rep117() -> None:
    depth = np.array([0.05, 1.0, 50.0, np.nan], dtype=np.float32)[None]
    out = apply_range_limits(depth, 0.1, 20.0)
    assert out[0, 0] == -np.inf and out[0, 1] == 1.0 and out[0, 2] == np.inf and np.isnan(out[0, 3])
    assert depth[0, 2] == 50.0  # input untouched
    with pytest.raises(ValueError, match="min_range"):
        apply_range_limits(depth, 5.0, 1.0)
