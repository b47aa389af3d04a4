"""Per-point times from the drivers' time fields (core/point_times.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mono_depth_ros.core.point_fields import FLOAT32, FLOAT64, UINT8, UINT16, UINT32, PointField
from mono_depth_ros.core.point_times import (
    ABSOLUTE,
    MAX_SPAN_NS,
    RELATIVE_NS,
    RELATIVE_S,
    offsets_ns,
    sweep_span_ns,
    time_field,
)

STAMP_NS = 1_700_000_123_456_789_012


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([PointField("x", 0, FLOAT32), PointField("t", 20, UINT32)], ("t", RELATIVE_NS)),  # ouster-ros
        ([PointField("ring", 16, UINT16), PointField("time", 18, FLOAT32)], ("time", RELATIVE_S)),  # velodyne
        ([PointField("timestamp", 18, FLOAT64)], ("timestamp", ABSOLUTE)),  # hesai, rslidar, livox
        ([PointField("offset_time", 20, UINT32)], ("offset_time", RELATIVE_NS)),  # livox CustomMsg converted
        ([PointField("x", 0, FLOAT32), PointField("ring", 16, UINT16)], None),  # no time
        ([PointField("t", 20, UINT8)], None),  # a `t` of another meaning
        ([PointField("timestamp", 20, FLOAT32)], None),  # float32 absolute seconds cannot hold a sweep's times
    ],
)
def test_time_field_by_driver(fields: list[PointField], expected: tuple[str, str] | None) -> None:
    found = time_field(fields)
    assert (None if found is None else (found[0].name, found[1])) == expected


def test_offsets_in_every_meaning_give_the_same_ns() -> None:
    truth = np.array([-100_000_000, -51_234_567, 0, 3_000, 99_999_999], dtype=np.int64)
    absolute_ns = STAMP_NS + truth
    seconds = absolute_ns // 1_000_000_000 + (absolute_ns % 1_000_000_000) * 1e-9
    relative_ns = (truth + 100_000_000).astype(np.uint32)  # ouster: all after a stamp at the sweep start
    np.testing.assert_array_equal(offsets_ns(relative_ns, RELATIVE_NS, STAMP_NS - 100_000_000), truth + 100_000_000)
    got = offsets_ns((truth * 1e-9).astype(np.float32), RELATIVE_S, STAMP_NS)
    assert got is not None and np.abs(got - truth).max() < 10  # float32 seconds: ns-level rounding
    for values in (seconds, absolute_ns.astype(np.float64)):  # hesai / rslidar, livox
        got = offsets_ns(values, ABSOLUTE, STAMP_NS)
        assert got is not None and np.abs(got - truth).max() < 1_000  # float64 at 1.7e9 s: sub-microsecond


def test_times_that_are_no_sweep_around_the_stamp_are_not_used() -> None:
    an_hour = 3600.0
    stamp_s = STAMP_NS * 1e-9
    assert offsets_ns(np.array([stamp_s + an_hour]), ABSOLUTE, STAMP_NS) is None  # another clock
    assert offsets_ns(np.array([0.0, 2.0]), RELATIVE_S, STAMP_NS) is None  # a 2 s "sweep"
    assert offsets_ns(np.array([MAX_SPAN_NS + 1], dtype=np.uint32), RELATIVE_NS, STAMP_NS) is None
    assert offsets_ns(np.array([np.nan, np.nan]), RELATIVE_S, STAMP_NS) is None
    assert offsets_ns(np.zeros(0, dtype=np.uint32), RELATIVE_NS, STAMP_NS) is None
    for corrupt_s in (1e20, -3e10, 1e300):  # past int64 ns: the cast gave -2**63, whose abs() passed the check
        assert offsets_ns(np.array([0.01, corrupt_s, -0.02]), RELATIVE_S, STAMP_NS) is None
        assert offsets_ns(np.array([0.01, corrupt_s, -0.02, 0.0]), ABSOLUTE, STAMP_NS) is None
        assert sweep_span_ns(np.array([0.01, corrupt_s, -0.02]), RELATIVE_S, STAMP_NS) is None


def test_a_non_finite_time_counts_as_the_stamp() -> None:
    got = offsets_ns(np.array([0.01, np.nan, np.inf, -0.02]), RELATIVE_S, STAMP_NS)
    assert got is not None
    np.testing.assert_array_equal(got, [10_000_000, 0, 0, -20_000_000])


def test_a_float_field_whose_values_do_not_fit_its_name_is_read_the_other_way() -> None:
    """A ``time`` of absolute seconds (as some drivers publish it), a ``timestamp`` of seconds after the stamp."""
    absolute_s = STAMP_NS // 1_000_000_000 + (STAMP_NS % 1_000_000_000) * 1e-9 + np.array([-0.05, 0.0, 0.05])
    got = offsets_ns(absolute_s, RELATIVE_S, STAMP_NS)
    assert got is not None and np.abs(got - [-50_000_000, 0, 50_000_000]).max() < 1_000
    got = offsets_ns(np.array([0.01, 0.02]), ABSOLUTE, STAMP_NS)
    assert got is not None and got.tolist() == [10_000_000, 20_000_000]


@pytest.mark.parametrize("meaning", [RELATIVE_NS, RELATIVE_S, ABSOLUTE])
def test_the_sweep_span_is_the_first_and_last_offset_of_every_point(meaning: str) -> None:
    # the node's executor takes a scan's sweep middle from the span alone (three values converted, not every point)
    rng = np.random.default_rng(0)
    stamp_ns = 1_700_000_000_123_456_789
    for case in range(40):
        n = int(rng.integers(1, 500))
        relative_s = rng.uniform(-0.12, 0.12, n)
        if meaning == RELATIVE_NS:
            values = rng.integers(0, 120_000_000, n).astype(np.uint32)
        elif meaning == RELATIVE_S:
            values = relative_s.astype(np.float32 if case % 2 else np.float64)
        else:  # absolute seconds or nanoseconds, and (last cases) another clock: no sweep
            base = stamp_ns * 1e-9 if case % 2 else float(stamp_ns)
            unit = 1.0 if case % 2 else 1e9
            values = base + relative_s * unit + (0.0 if case < 36 else 5.0 * unit)
        if meaning != RELATIVE_NS and case % 5 == 0:
            values[rng.integers(0, n)] = np.nan  # a non-finite time counts as the stamp
        full = offsets_ns(values, meaning, stamp_ns)
        span = sweep_span_ns(values, meaning, stamp_ns)
        assert span == (None if full is None else (int(full.min()), int(full.max()))), (meaning, case)
    assert sweep_span_ns(np.array([], np.float32), RELATIVE_S, stamp_ns) is None
    assert sweep_span_ns(np.array([np.nan], np.float32), RELATIVE_S, stamp_ns) is None
