from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

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


def test_every_16uc1_value_decodes_and_encodes_back_to_itself() -> None:
    """All 65536 wire values: v mm -> float32 metres -> v mm (0 stays the invalid 0, as NaN between)."""
    wire = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    metres = decode_depth(wire, "16UC1")
    assert np.isnan(metres.reshape(-1)[0]) and np.isfinite(metres.reshape(-1)[1:]).all()
    np.testing.assert_array_equal(encode_depth(metres, "16UC1"), wire)


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.tuples(st.integers(1, 8), st.integers(1, 8)),
        elements=st.one_of(st.floats(-1.0, 80.0, width=32), st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0])),
    )
)
def test_16uc1_round_trips_within_half_a_millimetre_and_marks_the_rest_invalid(depth: np.ndarray) -> None:
    """REP 118: millimetres, 0 = invalid. A depth that rounds to 1..65535 mm comes back within 0.5 mm (plus half a
    float32 step of the decoded metres: 4 µm at 65 m); NaN, ±Inf, <= 0.5 mm and past 65.5355 m come back NaN."""
    back = decode_depth(encode_depth(depth, "16UC1"), "16UC1")
    with np.errstate(invalid="ignore"):
        representable = np.isfinite(depth) & (depth >= 0.0005) & (depth < 65.5355)
    exact = depth.astype(np.float64)
    tolerance_m = 0.0005 + np.spacing(np.abs(depth)).astype(np.float64)  # half a mm, and a float32 ulp at most
    with np.errstate(invalid="ignore"):  # away from a rounding tie at the ends
        inside = representable & ~np.isclose(exact * 1000.0 % 1.0, 0.5, atol=1e-3)
    assert np.all(np.abs(back[inside].astype(np.float64) - exact[inside]) <= tolerance_m[inside])
    with np.errstate(invalid="ignore"):
        clearly_out = ~np.isfinite(depth) | (depth < 0.0004) | (depth > 65.5356)
    assert np.isnan(back[clearly_out]).all()
    assert np.isfinite(back[inside]).all()


@given(hnp.arrays(np.float32, (3, 5), elements=st.floats(width=32, allow_nan=True, allow_infinity=True)))
def test_32fc1_round_trips_bit_for_bit(depth: np.ndarray) -> None:
    """32FC1 carries the core's float32 metres as they are: NaN, ±Inf (REP 117) and every finite value."""
    back = decode_depth(encode_depth(depth, "32FC1"), "32FC1")
    np.testing.assert_array_equal(back.view(np.uint32), depth.view(np.uint32))
