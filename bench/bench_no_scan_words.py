"""How often the bag runner's words for a frame without a LiDAR scan differ from the node's log line.

The node (:class:`~mono_depth_ros.adapters.lidar.ScanPairing` + :class:`~mono_depth_ros.adapters.lidar.UnpairedLog`)
words a frame when it lets it go; the bag runner (:meth:`~mono_depth_ros.bag.pairing.PairingRules.scans_at_hand` +
:func:`~mono_depth_ros.adapters.lidar.no_scan_text`) from the bag times. Both are fed the same arrivals (scans and
images at their arrival times, ms steps, the pairing polled every 20 ms) over a grid of scenarios: ``lidar.wait_s``,
camera period, LiDAR period, the LiDAR's stamp offset from the camera's clock, the scans' delivery lag; 8 s each,
``lidar.max_age_s`` 0.2 s. Prints, per grid, the scenarios and frames (of those the node logs) whose words differ,
and the scenarios with a difference. No timing: the counts are deterministic. Usage::

    PYTHONPATH=. python bench/bench_no_scan_words.py            # the summary
    PYTHONPATH=. python bench/bench_no_scan_words.py --list     # and every scenario with a difference

explore99 (2026-12-07): main e3318833 274 of 864 scenarios, 2,558 of 86,520 frames; b10a63b9 194, 1,825.
"""

from __future__ import annotations

import argparse
import itertools

from mono_depth_ros.adapters.lidar import Paired, ScanPairing, UnpairedLog, no_scan_text
from mono_depth_ros.bag.pairing import PairingRules, StampIndex

MS = 1_000_000
MAX_AGE_MS = 200
WAITS_MS = (200, 0, 1000)
CAMERA_MS = (33, 100)
LIDAR_MS = (20, 50, 100, 200, 250, 500, 1000, 2000, 5000)
OFFSETS_MS = (0, -300, -1500, -3000, -10_000, -3_600_000, 1500, 3_600_000)
LAGS_MS = (10, 60)
DURATION_MS = 8000


class _Clock:
    """The pairing's clock: ``now_ns`` set by the loop."""

    now_ns = 0

    def __call__(self) -> int:
        return self.now_ns


def differing(wait_ms: int, camera_ms: int, lidar_ms: int, offset_ms: int, lag_ms: int) -> tuple[int, int]:
    """``(differing, logged)``: the frames the node logs without a scan, and those of them the bag runner words
    otherwise (or not at all: no scan at hand by its bag times)."""
    clock, unpaired = _Clock(), list[Paired[int]]()
    node: ScanPairing[int] = ScanPairing(MAX_AGE_MS * MS, wait_ms * MS, clock_ns=clock, on_unpaired=unpaired.append)
    rules = PairingRules(lidar_max_age_ns=MAX_AGE_MS * MS, lidar_wait_ns=wait_ms * MS)
    scan_stamps: list[int] = []
    scan_logs: list[int] = []
    taken_in: dict[int, int] = {}
    for now in range(DURATION_MS):
        clock.now_ns = now * MS
        if now % lidar_ms == lag_ms:  # a scan arrives lag_ms after its stamp on the LiDAR's clock
            node.add_scan((now - lag_ms + offset_ms) * MS, now)
            scan_stamps.append((now - lag_ms + offset_ms) * MS)
            scan_logs.append(now * MS)
        if now % camera_ms == 10:  # an image arrives 10 ms after its stamp
            node.add_frame((now - 10) * MS, now)
            taken_in[(now - 10) * MS] = now * MS
        if now % 20 == 0:
            node.poll()
    scans = StampIndex.build(scan_stamps, logs_ns=scan_logs)
    count = 0
    for paired in unpaired:
        logged: list[str] = []
        UnpairedLog(logged.append, "/lidar", MAX_AGE_MS / 1000)(paired)
        at_hand = rules.scans_at_hand(paired.stamp_ns, taken_in[paired.stamp_ns], scans)
        if at_hand is None:
            count += 1
            continue
        nearest, period, one_scan, behind, arrivals = at_hand
        words = no_scan_text(
            "/lidar", paired.stamp_ns, nearest, MAX_AGE_MS / 1000, period_ns=period, one_scan=one_scan, behind=behind,
            arrivals=arrivals,
        )  # fmt: skip
        count += logged != [f"LiDAR scan not used: {words}; this frame's scale falls back"]
    return count, len(unpaired)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every scenario with a difference")
    args = parser.parse_args()
    scenarios = differ = frames = logged = 0
    for key in itertools.product(WAITS_MS, CAMERA_MS, LIDAR_MS, OFFSETS_MS, LAGS_MS):
        count, total = differing(*key)
        scenarios, differ, frames, logged = scenarios + 1, differ + (count > 0), frames + count, logged + total
        if args.list and count:
            wait_ms, camera_ms, lidar_ms, offset_ms, lag_ms = key
            print(f"wait {wait_ms} ms, camera {camera_ms} ms, lidar {lidar_ms} ms, offset {offset_ms} ms, "
                  f"lag {lag_ms} ms: {count} of {total}")  # fmt: skip
    print(f"{differ} of {scenarios} scenarios differ; {frames} of {logged} frames logged without a scan")


if __name__ == "__main__":
    main()
