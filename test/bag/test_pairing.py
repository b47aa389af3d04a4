"""Pairing rules: exact / approximate / latest camera_info, nearest LiDAR within max age, exact prediction."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mono_depth_ros.adapters.lidar import DIFFERENT_CLOCKS, Paired, ScanPairing, UnpairedLog, no_scan_text
from mono_depth_ros.bag.pairing import PairingRules, StampIndex, scan_after_wait, seconds_to_ns
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.depth_config import DepthConfig
from test.adapters.support import FakeClock

MS = 1_000_000
S = 1_000_000_000


def test_stamp_index_sorts_and_keeps_recording_order_within_a_stamp() -> None:
    index = StampIndex.build([30, 10, 20, 10], keys=[100, 101, 102, 103])
    assert index.stamps_ns == (10, 10, 20, 30)
    assert index.keys == (101, 103, 102, 100)
    assert index.exact(10) == 103  # the last recorded of equal stamps
    assert index.exact(15) is None
    assert index.latest_at_or_before(25) == 102
    assert index.latest_at_or_before(9) is None
    assert len(index) == 4
    with pytest.raises(ValueError, match="2 stamps but 1 keys"):
        StampIndex.build([1, 2], keys=[0])


def test_nearest_prefers_the_closer_then_the_earlier() -> None:
    index = StampIndex.build([100, 200, 300])
    assert index.nearest(240, 1000) == 1
    assert index.nearest(260, 1000) == 2
    assert index.nearest(250, 1000) == 1  # tie: the earlier one
    assert index.nearest(250, 49) is None
    assert index.nearest(250, 50) == 1
    assert index.nearest(250, 50, strict=True) is None
    assert StampIndex.build([]).nearest(5, 10**9) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10_000), max_size=30), st.integers(-100, 10_100), st.integers(0, 3_000))
def test_nearest_matches_brute_force(stamps: list[int], query: int, max_distance: int) -> None:
    index = StampIndex.build(stamps)
    key = index.nearest(query, max_distance)
    distances = [abs(s - query) for s in stamps]
    if not stamps or min(distances) > max_distance:
        assert key is None
    else:
        assert key is not None
        assert abs(stamps[key] - query) == min(distances)

    candidates = index.within(query, max_distance)  # every one within, nearer before farther
    assert sorted(candidates) == [k for k, d in enumerate(distances) if d <= max_distance]
    if candidates:  # nearest's stamp first, of equal stamps the first recorded (nearest: the last)
        assert key is not None and stamps[candidates[0]] == stamps[key]
        assert candidates[0] == min(k for k in candidates if stamps[k] == stamps[key])
    assert [abs(stamps[k] - query) for k in candidates] == sorted(abs(stamps[k] - query) for k in candidates)


def test_lidar_candidates_are_the_scans_within_max_age_in_the_order_a_cut_one_gives_way() -> None:
    """The bag runner's fallback order for a scan that is no message: nearer first, the earlier as far, the first
    recorded of equal stamps first (the node takes the first scan it received); nothing beyond ``lidar.max_age_s``."""
    scans = StampIndex.build([70 * MS, 130 * MS, 170 * MS, 170 * MS, 400 * MS])
    rules = PairingRules(lidar_max_age_ns=100 * MS)
    assert rules.lidar_candidates(100 * MS, scans) == (0, 1, 2, 3)  # 30, 30 later, then 70 ms: the first recorded
    assert rules.lidar_for(170 * MS, scans) == 2  # equal stamps: the first recorded (was the last, 3)
    assert rules.lidar_candidates(290 * MS, scans) == ()
    assert rules.lidar_candidates(100 * MS, scans)[0] == rules.lidar_for(100 * MS, scans)


def test_camera_info_exact_then_approximate_then_latest() -> None:
    infos = StampIndex.build([100 * MS, 200 * MS, 230 * MS])
    approximate = PairingRules("approximate", slop_ns=50 * MS)
    latest = PairingRules("latest", slop_ns=50 * MS)
    assert approximate.camera_info_for(200 * MS, infos) == 1  # exact
    assert approximate.camera_info_for(225 * MS, infos) == 2  # nearest within the slop, even if later
    assert latest.camera_info_for(225 * MS, infos) == 1  # latest at or before
    assert approximate.camera_info_for(60 * MS, infos) == 0  # 40 ms before the first one: within the slop
    assert approximate.camera_info_for(40 * MS, infos) is None  # nothing at or before, nothing close enough
    assert approximate.camera_info_for(10_000 * MS, infos) == 2  # long after: the latest


def test_lidar_nearest_within_max_age_on_either_side() -> None:
    scans = StampIndex.build([70 * MS, 170 * MS, 400 * MS])
    rules = PairingRules(lidar_max_age_ns=100 * MS)
    assert rules.lidar_for(100 * MS, scans) == 0  # 30 ms after the scan (the one 70 ms later loses)
    assert rules.lidar_for(140 * MS, scans) == 1  # a scan 30 ms after the image
    assert rules.lidar_for(290 * MS, scans) is None  # 120 ms and 110 ms away
    assert PairingRules.prediction_for(170 * MS, scans) == 1
    assert PairingRules.prediction_for(171 * MS, scans) is None


def test_rules_from_params_and_validation() -> None:
    config = DepthConfig.from_params({"sync.mode": "latest", "sync.slop_s": 0.02, "lidar.max_age_s": 0.5})
    rules = PairingRules.from_config(config)
    assert rules == PairingRules("latest", 20 * MS, 500 * MS, 200 * MS)  # lidar.wait_s: 0.2 s by default
    assert seconds_to_ns(0.1) == 100 * MS
    with pytest.raises(ConfigError, match=r"sync\.mode"):
        PairingRules("nearest")
    with pytest.raises(ConfigError, match=">= 0"):
        PairingRules(slop_ns=-1)


def test_the_slop_is_held_in_nanoseconds_as_the_nodes_synchroniser_holds_it() -> None:
    """message_filters' ApproximateTimeSynchronizer holds ``sync.slop_s`` as ``rclpy.duration.Duration(seconds=...)``,
    which truncates: 2.01 s is 2_009_999_999 ns (checked on real Humble rclpy), and it pairs stamps closer than that,
    strictly. The bag runner rounded (2_010_000_000 ns), so a camera_info 2_009_999_999 ns from its image paired
    offline and not in the node."""
    rules = PairingRules.from_config(DepthConfig.from_params({"sync.slop_s": 2.01}))
    assert rules.slop_ns == 2_009_999_999
    infos = StampIndex.build([0])
    assert rules.camera_info_for(2_009_999_999, infos) == 0  # the latest before it, warned: the node drops it
    assert rules.camera_info_unsynced(2_009_999_999, infos) is not None
    assert rules.camera_info_unsynced(2_009_999_998, infos) is None
    assert PairingRules.from_config(DepthConfig.from_params({"sync.slop_s": 0.0})).slop_ns == 0  # equal stamps only


def test_camera_info_unsynced_says_when_the_node_would_not_pair_the_image() -> None:
    infos = StampIndex.build([0, 200 * MS])
    approximate = PairingRules("approximate", slop_ns=50 * MS)
    assert approximate.camera_info_unsynced(200 * MS, infos) is None  # exact
    assert approximate.camera_info_unsynced(230 * MS, infos) is None  # within the slop
    text = approximate.camera_info_unsynced(500 * MS, infos)
    assert text is not None and "nearest camera_info is stamped 0.200 s" in text and "sync.mode: latest" in text
    assert PairingRules("latest").camera_info_unsynced(500 * MS, infos) is None
    assert PairingRules("approximate", slop_ns=0).camera_info_unsynced(200 * MS, infos) is None  # exact, slop 0


def test_of_equal_stamps_the_camera_info_and_prediction_the_synchroniser_hands_over() -> None:
    """The node's ApproximateTimeSynchronizer keeps one message per topic and stamp (a later one replacing it) until
    the set is complete: of two camera_infos (predictions) stamped 100, the last recorded by then; the first when it
    completed the set; with ``sync.mode: latest`` (camera_info outside the synchroniser) the last recorded by the
    time image and prediction are in (it took the last recorded, after the image), none when all came later (it
    took the first: the node drops the image, ``no_camera_info``)."""
    infos = StampIndex.build([100, 100, 200], logs_ns=[10, 30, 40])  # keys 0, 1, 2
    predictions = StampIndex.build([100, 100], keys=[5, 6], logs_ns=[12, 35])
    rules = PairingRules()
    assert rules.as_synchronised(100, 20, 1, infos, 6, predictions) == (0, 5)  # both seconds after the image at 20
    assert rules.as_synchronised(100, 50, 1, infos, 6, predictions) == (1, 6)  # both before the image at 50
    assert rules.as_synchronised(100, 32, 1, infos, 6, predictions) == (1, 5)  # camera_info 1 came before it
    assert rules.as_synchronised(100, 5, 1, infos, 6, predictions) == (0, 5)  # set complete at 12, by prediction 5
    late = StampIndex.build([100, 100], keys=[5, 6], logs_ns=[31, 35])
    assert rules.as_synchronised(100, 5, 1, infos, 6, late) == (1, 5)  # complete at 31: camera_info 1 was in by then
    latest = PairingRules(sync_mode="latest")  # no synchroniser for camera_info: the last received by the set
    assert latest.as_synchronised(100, 20, 1, infos, None, predictions) == (0, None)  # 1 came after the image
    assert latest.as_synchronised(100, 50, 1, infos, None, predictions) == (1, None)
    assert latest.as_synchronised(100, 20, 1, infos, 6, late) == (1, 5)  # the prediction completed it at 31
    assert latest.as_synchronised(100, 5, 1, infos, None, predictions) == (None, None)  # all later: none (dropped)
    unsynced = PairingRules(slop_ns=10)  # an image stamped 150: the node would not pair camera_info 1 (stamp 100)
    assert unsynced.as_synchronised(150, 20, 1, infos, None, predictions) == (1, None)  # the fallback stays


def test_latest_camera_info_is_chosen_among_those_recorded_when_the_node_looks() -> None:
    """``sync.mode: latest``: the node chooses among the last 16 camera_infos it received when the image is in; the
    bag runner among all it indexed, so an image's own camera_info recorded after it (image_transport's order) was
    taken where the node had the previous frame's."""
    latest = PairingRules(sync_mode="latest")
    stamps = [k * 100 * MS for k in range(20)]
    infos = StampIndex.build(stamps, logs_ns=[s + 5 for s in stamps])  # each recorded just after its image
    for k in (1, 19):  # image k recorded at its stamp: camera_info k is not in yet
        info = latest.camera_info_for(stamps[k], infos, 0, stamps[k])
        assert latest.as_synchronised(stamps[k], stamps[k], info, infos, None, infos) == (k - 1, None)
    before = StampIndex.build([0, 100 * MS], logs_ns=[1, 2])
    assert latest.as_synchronised(50 * MS, 0, 0, before, None, before) == (None, None)  # none in yet: dropped
    late = StampIndex.build([5 * MS, *stamps[1:18]], keys=list(range(18)), logs_ns=list(range(18)))  # 18 in
    assert latest.as_synchronised(10 * MS, 100, 16, late, None, late)[0] == 17  # 0 fell out of the 16: the last


def test_a_scan_recorded_after_lidar_wait_s_is_explained_and_one_in_time_is_not() -> None:
    """The bag times decide (the node's wait counts from the image's arrival), not the stamps; exactly the wait is in
    time (the node times out only after it)."""
    ms = 1_000_000
    assert scan_after_wait(5 * ms, 200 * ms, 0, 0, 200 * ms) is None
    text = scan_after_wait(5 * ms, 700 * ms, 0, 100 * ms, 200 * ms)
    assert text is not None and "recorded 0.600 s after" in text and "lidar.wait_s=0.2 s" in text, text
    assert "set lidar.wait_s to 0.8 s" in text and "inputs_unused.lidar.after_wait" in text, text
    index = StampIndex.build([30, 10], keys=[7, 8], logs_ns=[300, 100])
    assert (index.log_of(7), index.log_of(8), StampIndex.build([1]).log_of(0)) == (300, 100, 0)


def test_a_scan_recorded_later_than_the_node_can_wait_names_the_latency_not_a_wait() -> None:
    """A scan recorded 7 s after its image: "set lidar.wait_s to 5 s or more" cannot work (5 s is the most): the
    text says the LiDAR is later than the node can wait and that its driver / network latency is what to fix."""
    text = scan_after_wait(5 * MS, 7_100 * MS, 0, 100 * MS, 200 * MS)
    assert text is not None and "set lidar.wait_s to" not in text, text
    assert "later than the node can wait (lidar.wait_s is 5 s at most)" in text, text
    assert "the LiDAR driver's or the network's latency" in text, text


def test_with_lidar_wait_s_0_no_scan_recorded_after_its_image_is_explained() -> None:
    """lidar.wait_s 0 ("never wait"): the runner warned for every scan recorded after its image (each one, with a
    prompt LiDAR), advising a wait the user chose not to have; with no wait no scan is late."""
    ms = 1_000_000
    assert scan_after_wait(5 * ms, 110 * ms, 0, 100 * ms, 0) is None
    assert scan_after_wait(5 * ms, 700 * ms, 0, 100 * ms, 0) is None


class _CountedReads(tuple[int, ...]):
    """Bag times that count how many of them are read (an index read counts 1, a slice its length)."""

    reads = 0

    def __getitem__(self, at: object) -> object:  # type: ignore[override]
        got = super().__getitem__(at)  # type: ignore[call-overload]
        type(self).reads += len(got) if isinstance(at, slice) else 1
        return got


def _received_by_reference(stamps: list[int], logs: list[int], key: int, fired: int) -> tuple[int, int]:
    """``received_by`` by its definition, on the messages in recording order (keys 0, 1, ...)."""
    alike = [i for i in range(len(stamps)) if stamps[i] == stamps[key]]
    by_then = [i for i in alike if logs[i] <= fired]
    return (by_then[-1] if by_then else alike[0]), logs[alike[0]]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=12),
    st.integers(-1, 7),
    st.booleans(),
    st.data(),
)
def test_received_by_matches_its_definition(
    messages: list[tuple[int, int]], fired: int, as_read: bool, data: st.DataObject
) -> None:
    """Stamps in any order, bag times ascending in recording order (``as_read``: as a bag is read) or not (an index
    built otherwise): the last of the key's stamp recorded by ``fired``, else the first, and the first's bag time;
    unknown bag times read as 0."""
    stamps = [stamp for stamp, _ in messages]
    logs = sorted(log for _, log in messages) if as_read else [log for _, log in messages]
    key = data.draw(st.integers(0, len(stamps) - 1))
    index = StampIndex.build(stamps, logs_ns=logs)
    assert index.received_by(key, fired) == _received_by_reference(stamps, logs, key, fired)
    assert StampIndex.build(stamps).received_by(key, fired) == _received_by_reference(
        stamps, [0] * len(stamps), key, fired
    )
    alike = [logs[i] for i in range(len(stamps)) if stamps[i] == stamps[key]]
    assert index.logs_stamped_as(key) == tuple(alike)


def test_a_camera_info_of_constant_stamp_is_looked_up_without_reading_every_bag_time() -> None:
    """A camera_info stamped 0 throughout (what sync.mode latest is for), 30 Hz for 10 minutes: ``received_by`` sliced
    and looped over all its messages once per image, a plan quadratic in the bag's length (8000 frames: 2.25 s, an
    hour at 30 Hz ~7 min before the first frame). Results checked at both ends and between; reads counted, not
    timed."""
    count = 18_000
    logs = [i * 33 * MS for i in range(count)]
    built = StampIndex.build([0] * count, logs_ns=logs)
    index = StampIndex(built.stamps_ns, built.keys, {}, _CountedReads(built.logs_ns))
    for fired, expected in [(-1, 0), (0, 0), (33 * MS - 1, 0), (33 * MS, 1), (9_000 * 33 * MS + 5, 9_000)]:
        assert index.received_by(count // 2, fired) == (expected, 0)
    assert index.received_by(0, logs[-1] + 1) == (count - 1, 0)
    _CountedReads.reads = 0
    for image in range(1000):
        index.received_by(image, image * 33 * MS + 5 * MS)
    assert _CountedReads.reads < 1000 * 40, f"{_CountedReads.reads} bag times read for 1000 images"
    latest = PairingRules(sync_mode="latest")
    empty = StampIndex.build([])
    assert latest.as_synchronised(10**9, 100 * 33 * MS + 5, 0, built, None, empty) == (100, None)


def test_one_stamp_recorded_out_of_order_leaves_the_other_stamps_lookups_bisected() -> None:
    """The camera_info of constant stamp above, and two messages of another stamp whose bag times do not ascend (an
    index built otherwise than by reading a bag): one flag for the whole index sent every stamp's ``received_by``
    through the loop over all its messages, the plan quadratic again. Only that stamp's lookups loop now; results
    checked against the definition; reads counted, not timed."""
    count = 18_000
    stamps = [0] * count + [5 * MS, 5 * MS]
    logs = [i * 33 * MS for i in range(count)] + [7 * MS, 3 * MS]  # the last two out of order
    built = StampIndex.build(stamps, logs_ns=logs)
    index = StampIndex(built.stamps_ns, built.keys, {}, _CountedReads(built.logs_ns))
    for key, fired in [(count, 5 * MS), (count + 1, 2 * MS), (count, 8 * MS), (count // 2, 9_000 * 33 * MS + 5)]:
        assert index.received_by(key, fired) == _received_by_reference(stamps, logs, key, fired), (key, fired)
    _CountedReads.reads = 0
    for image in range(1000):
        index.received_by(image, image * 33 * MS + 5 * MS)
    assert _CountedReads.reads < 1000 * 40, f"{_CountedReads.reads} bag times read for 1000 images"


def test_latest_mode_falls_back_to_the_camera_info_recorded_last_by_the_image_when_all_are_stamped_after_it() -> None:
    """``sync.mode: latest``, camera_infos stamped 100 s after the images (another clock): none at or before the
    image, so the one recorded last by the image's bag time, as the node takes the last received; none recorded by
    then: None (the node has none either); ``approximate`` keeps None (the node's synchroniser drops the image)."""
    infos = StampIndex.build([100 * S, 101 * S, 102 * S], logs_ns=[1 * MS, 5 * MS, 9 * MS])
    latest = PairingRules("latest", 0, 0)
    assert latest.camera_info_for(0, infos, 0, 6 * MS) == 1
    assert latest.camera_info_for(0, infos, 0, 5 * MS) == 1 and latest.camera_info_for(0, infos, 0, 0) is None
    assert latest.camera_info_for(0, infos, 0, None) is None
    assert latest.camera_info_for(101 * S + 1, infos, 0, 10 * MS) == 1  # at or before the image (not the last, 2)
    assert latest.camera_info_for(101 * S + 1, infos, 0, 0) is None  # none recorded by then: the node has none
    assert PairingRules("approximate", 0, 0).camera_info_for(0, infos, 0, 6 * MS) is None


def test_a_frame_the_node_sends_on_at_the_scan_rate_takes_the_scans_recorded_by_then() -> None:
    """A 10 Hz LiDAR (scans stamped 760, 860, 960 ms, each recorded at its stamp) and an image stamped 1000 ms,
    recorded at 1000 ms, lidar.wait_s 0.5 s: the node sends it on at once with the scan at 960 (the next expected at
    1060 cannot be nearer). The scan stamped 1010 ms (the LiDAR's phase jumped), recorded 1100 ms, was the runner's
    choice: now the candidates are those recorded by 1000 ms and the nearer one is counted ``lidar.nearer_later``. A
    scan stamped at 1060 as expected is no nearer: nothing counted. With the image stamped 1030 (the next scan, due
    at 1060, is nearer than 960) the node waits for it: None (the nearest stands). With lidar.wait_s 0: None."""
    rules = PairingRules(lidar_max_age_ns=200 * MS, lidar_wait_ns=500 * MS)

    def scans(last_ms: int, recorded_ms: int) -> StampIndex:
        stamps = [760 * MS, 860 * MS, 960 * MS, last_ms * MS]
        return StampIndex.build(stamps, logs_ns=[760 * MS, 860 * MS, 960 * MS, recorded_ms * MS])

    sent = rules.lidar_sent_at_rate(1000 * MS, 1000 * MS, scans(1010, 1100))
    assert sent is not None
    candidates, unused = sent
    assert candidates == (2, 1) and unused is not None and unused[0] == "lidar.nearer_later", sent
    assert "scan stamped 1.010 s came after the image stamped 1.000 s had gone on with the scan 40.0 ms" in unused[1]
    assert rules.lidar_candidates(1000 * MS, scans(1010, 1100))[0] == 3  # the nearest, which the runner took
    assert rules.lidar_sent_at_rate(1000 * MS, 1000 * MS, scans(1060, 1060)) == ((2, 1), None)
    assert rules.lidar_sent_at_rate(1030 * MS, 1030 * MS, scans(1060, 1060)) is None
    assert PairingRules(lidar_max_age_ns=200 * MS).lidar_sent_at_rate(1000 * MS, 1000 * MS, scans(1010, 1100)) is None


def _both_roads(
    scans_ms: list[float], image_ms: float, image_arrives_ms: float
) -> tuple[int | None, int | None, list[str], list[str]]:
    """The scan (stamp, int ns) the node's :class:`ScanPairing` (lidar.max_age_s 0.2, lidar.wait_s 0.2) pairs with an
    image, the scans arriving at their stamps and the image at ``image_arrives_ms``, and the one the bag runner's
    plan pairs from the same bag times (``lidar_candidates`` replaced by ``lidar_sent_at_rate`` where it says so);
    then the ``inputs_unused`` reasons the node counted and the one the bag runner counts (none: [])."""
    from mono_depth_ros.adapters.lidar import ScanPairing
    from test.adapters.support import FakeClock

    clock, went, reports = FakeClock(), [], list[str]()
    pairing: ScanPairing[str] = ScanPairing(
        200 * MS, 200 * MS, clock_ns=clock, on_late=lambda reason, _: reports.append(reason)
    )
    events = sorted([(stamp, "scan") for stamp in scans_ms] + [(image_arrives_ms, "image")])
    for at_ms, kind in events:
        clock.now_ns = round(at_ms * MS)
        if kind == "scan":
            went += pairing.add_scan(round(at_ms * MS), "scan")
        else:
            went += pairing.add_frame(round(image_ms * MS), "image")
    clock.now_ns = round((image_arrives_ms + 300) * MS)
    (paired,) = went + pairing.poll()
    rules = PairingRules(lidar_max_age_ns=200 * MS, lidar_wait_ns=200 * MS)
    stamps = [round(stamp * MS) for stamp in scans_ms]
    index = StampIndex.build(stamps, logs_ns=stamps)
    candidates = rules.lidar_candidates(round(image_ms * MS), index)
    at_rate = rules.lidar_sent_at_rate(round(image_ms * MS), round(image_arrives_ms * MS), index)
    candidates, unused = (candidates, None) if at_rate is None else at_rate
    node_scan = None if paired.scan is None else paired.scan[0]
    return node_scan, (stamps[candidates[0]] if candidates else None), reports, [unused[0]] if unused else []


def test_the_node_judges_the_scan_rate_from_as_many_scans_as_the_bag_runner() -> None:
    """A 50 Hz LiDAR whose last ten scans came 22 ms apart, the thirty before 18 ms apart (its rate changed; at 50 Hz
    a 2 ms stamp jitter moves the median of ten gaps as much): an image stamped 10.5 ms after the newest scan goes
    at once with it where the period is taken as 22 ms (the next, expected 11.5 ms after the image, is no nearer),
    and waits for the next where it is 18 ms. The bag runner judged from the last ten scans recorded, the node from
    every scan it kept (all of the last second before an image came, 20-odd of a 50 Hz LiDAR within lidar.max_age_s):
    the node paired the next scan, 20 ms on (9.5 ms from the image), the bag runner the newest (a simulated 30 Hz
    camera and 50 Hz LiDAR with 2 ms jitter: 8 of 1800 frames a minute paired apart). Both take the last ten now."""
    scans_ms = [18.0 * i for i in range(30)] + [18.0 * 29 + 22.0 * i for i in range(1, 11)]
    newest = scans_ms[-1]
    node, bag, _, _ = _both_roads([*scans_ms, newest + 20.0], newest + 10.5, newest + 11.0)
    assert node == bag == round(newest * MS), (node, bag)


@pytest.mark.parametrize(("next_ms", "counted"), [(997.0, False), (994.0, False), (960.0, True)])
def test_a_scan_nearer_by_its_stamp_jitter_alone_is_no_nearer_later_scan(next_ms: float, counted: bool) -> None:
    """A 10 Hz LiDAR (scans 0-900 ms) and an image stamped 949 ms: sent on at once with the scan at 900 (49 ms away;
    the next, expected at 1000, 51 ms). The next scan stamped 3 or 6 ms early (a healthy driver stamping on arrival:
    a few ms of jitter) is 1-7 ms nearer: both roads counted ``lidar.nearer_later`` and the node warned (a 30 Hz
    camera and a 10 Hz LiDAR with 3 ms stamp jitter, simulated 60 s with a drifting phase: 10 frames a minute, each
    within its jitter of the nearest scan; 22 a minute for a 20 Hz Ouster with 2 ms). Nearer by more than a tenth of
    the period (at least 5 ms), it counts: stamped at 960 (a phase jump, 11 ms from the image), as before. Both roads
    pair the scan at 900 all the same."""
    scans_ms = [100.0 * i for i in range(10)] + [next_ms]
    node, bag, node_counted, bag_counted = _both_roads(scans_ms, 949.0, 955.0)
    assert node == bag == 900 * MS, (node, bag)
    assert node_counted == bag_counted == (["lidar.nearer_later"] if counted else []), (node_counted, bag_counted)


def test_nearest_stamp_passes_over_the_keys_skipped_and_stamp_of_gives_a_keys_stamp() -> None:
    """``nearest_stamp_ns(skip=)``: the nearest stamp of a message not skipped (the bag runner's "no scan in time"
    passes over the scans that are no message, as the node's subscription drops them), on either side."""
    index = StampIndex.build([100, 300, 450, 900], keys=[7, 8, 9, 10])
    assert index.nearest_stamp_ns(420) == 450
    assert index.nearest_stamp_ns(420, skip={9}) == 300
    assert index.nearest_stamp_ns(420, skip={8, 9}) == 100
    assert index.nearest_stamp_ns(420, skip={7, 8, 9}) == 900
    assert index.nearest_stamp_ns(420, skip={7, 8, 9, 10}) is None
    assert [index.stamp_of(key) for key in (10, 7)] == [900, 100]


def test_the_node_pairs_a_frame_10_s_after_the_only_scan_with_its_own_scan_as_the_bag_runner() -> None:
    """`mono-depth demo --kitti`'s input bag: KITTI object frames 10 s apart, each scan stamped as its image and
    arriving just after it. With one scan at hand (the scan period unknown) the node took the scan 10 s behind the
    second image as a LiDAR on another clock and sent the image at once, without the scan that came next and that
    the bag runner pairs (and warned 'the LiDAR stopped'); now it waits for it, as the bag runner's plan pairs it."""
    node, bag, node_reports, bag_reports = _both_roads([0.0, 10_000.0], 10_000.0, 10_000.0)
    assert node == bag == 10_000 * MS, (node, bag)
    assert node_reports == bag_reports == []


@pytest.mark.parametrize(
    ("scans_ms", "image_ms", "arrives_ms", "paired_ms"),
    [
        ([0.0, 10_000.0], 9_900.0, 9_900.0, 10_000.0),  # its scan 100 ms after it, 9.9 s after the only one at hand
        ([0.0], 5_000.0, 5_000.0, None),  # a LiDAR that published once and stopped: goes after lidar.wait_s
        ([0.0, 2_000.0], 3_600_000.0, 1_000.0, None),  # a 0.5 Hz LiDAR an hour behind (another clock), one at hand
        ([0.0, 2_000.0, 4_000.0], 3_602_500.0, 2_500.0, None),  # the same, its period known
    ],
    ids=["own-scan-after-it", "lidar-stopped", "other-clock-one-scan", "other-clock-period-known"],
)
def test_the_node_and_the_bag_runner_agree_when_the_only_scan_at_hand_is_far_behind(
    scans_ms: list[float], image_ms: float, arrives_ms: float, paired_ms: float | None
) -> None:
    """Frames seconds after the only scan at hand (the scan period unknown): the node held the first one for its own
    scan 100 ms on (it sent it at once without it, as to a LiDAR on another clock, where the bag runner paired it),
    and sends the others without a scan, as the bag runner, neither counting anything (no scan came late)."""
    node, bag, node_reports, bag_reports = _both_roads(scans_ms, image_ms, arrives_ms)
    expected = None if paired_ms is None else round(paired_ms * MS)
    assert node == bag == expected, (node, bag)
    assert node_reports == bag_reports == []


def _words_on_both_roads(
    duration_ms: int,
    scan_every_ms: int,
    scan_offset_ms: int,
    frames_from_ms: int = 0,
    readable_scans: int | None = None,
) -> list[str]:
    """A 30 Hz camera and a LiDAR every ``scan_every_ms`` stamped ``scan_offset_ms`` from the camera's clock (negative:
    behind), every message recorded 10 ms after its stamp (lidar.max_age_s and lidar.wait_s 0.2 s; frames from
    ``frames_from_ms``; only the first ``readable_scans`` scans reach the node, the rest are recorded unreadable):
    for each frame the node logs "LiDAR scan not used" for, asserts the bag runner's words (the scans at hand when the
    node takes the image, :meth:`PairingRules.scans_at_hand`) are the node's; returns the bag runner's words."""
    clock, unpaired = FakeClock(), list[Paired[int]]()
    node: ScanPairing[int] = ScanPairing(200 * MS, 200 * MS, clock_ns=clock, on_unpaired=unpaired.append)
    rules = PairingRules(lidar_max_age_ns=200 * MS, lidar_wait_ns=200 * MS)
    scan_stamps: list[int] = []
    scan_logs: list[int] = []
    frame_logs: dict[int, int] = {}
    for now in range(duration_ms):
        clock.now_ns = now * MS
        if now % scan_every_ms == 10:
            if readable_scans is None or len(scan_stamps) < readable_scans:  # readable: the node receives it
                node.add_scan((now - 10 + scan_offset_ms) * MS, now)
            scan_stamps.append((now - 10 + scan_offset_ms) * MS)
            scan_logs.append(now * MS)
        if now >= frames_from_ms and now % 33 == 10:
            node.add_frame((now - 10) * MS, now)
            frame_logs[(now - 10) * MS] = now * MS
        if now % 10 == 0:
            node.poll()
    scans = StampIndex.build(scan_stamps, logs_ns=scan_logs)
    unreadable = set() if readable_scans is None else set(range(readable_scans, len(scan_stamps)))  # recording order
    words = []
    for paired in unpaired:
        node_words: list[str] = []
        UnpairedLog(node_words.append, "/lidar", 0.2)(paired)
        at_hand = rules.scans_at_hand(paired.stamp_ns, frame_logs[paired.stamp_ns], scans, skip=unreadable)
        assert at_hand is not None
        nearest, period, one_scan, behind, arrivals = at_hand
        bag_words = no_scan_text(
            "/lidar", paired.stamp_ns, nearest, 0.2, period_ns=period, one_scan=one_scan, behind=behind,
            arrivals=arrivals,
        )  # fmt: skip
        assert node_words == [f"LiDAR scan not used: {bag_words}; this frame's scale falls back"]
        words.append(bag_words)
    return words


@pytest.mark.parametrize("lidar_behind_s", [0.0, 3600.0])
def test_a_frame_without_a_scan_is_explained_by_the_scans_at_hand_as_the_node_explains_it(
    lidar_behind_s: float,
) -> None:
    """A 30 Hz camera and a 0.2 Hz LiDAR (lidar.max_age_s and lidar.wait_s 0.2 s), every message recorded 10 ms after
    its stamp: each frame the node logs "LiDAR scan not used" for (one scan at hand, its rate not known yet) gets the
    same words in the bag runner's `lidar: no scan in time` (the runner judged by the nearest scan of the whole bag
    and the stamp gap alone: "the LiDAR stopped, or ... different clocks" for a LiDAR on the camera's clock); a LiDAR
    stamped an hour behind is told the clocks on both roads."""
    words = _words_on_both_roads(12_000, 5000, -int(lidar_behind_s * 1000))
    assert len(words) > 100, len(words)
    for bag_words in words:
        if not lidar_behind_s:
            assert "stopped" not in bag_words and DIFFERENT_CLOCKS not in bag_words, bag_words
        else:
            assert DIFFERENT_CLOCKS in bag_words, bag_words


@pytest.mark.parametrize("scan_every_ms", [50, 100, 200, 250, 500])
def test_frames_held_for_the_second_scan_of_a_lidar_an_hour_behind_are_explained_by_the_scans_at_hand_then(
    scan_every_ms: int,
) -> None:
    """A LiDAR stamped an hour behind a 30 Hz camera (lidar.max_age_s and lidar.wait_s 0.2 s): with one scan at hand
    the node cannot tell another clock (``far_behind`` needs the scan period) and holds the frames until the second
    scan, then logs them with the two at hand ("its scans still arrive ... different clocks", the nearest the second
    scan); the bag runner told them of the scans recorded when the node took them in ("the only scan at hand ...",
    the first scan), other words for the first 1-7 frames of a 20-10 Hz LiDAR. It now judges them by the scans
    recorded when the node lets them go. A 4 Hz or 2 Hz LiDAR, its second scan after the first frame's wait: that
    frame times out, the LiDAR is taken as stopped and the next frames go at once with the only scan at hand, on
    both roads (a later scan is no release then)."""
    words = _words_on_both_roads(3000, scan_every_ms, -3_600_000)
    assert len(words) > 80, len(words)
    assert all(DIFFERENT_CLOCKS in bag_words for bag_words in words), words


def test_unreadable_scans_do_not_crowd_the_scans_at_hand_out_of_the_bag_runners_words() -> None:
    """The node keeps the last 10 scans it received; an unreadable scan (cut, corrupt) never reaches it. A 0.2 Hz
    LiDAR whose first two scans are readable and next nine are not: the node, with its two scans, knows the rate and
    logs a frame 45 s on as "the LiDAR stopped, or ..."; the bag runner took the last 10 recorded, less the nine
    unreadable, and said "(the only scan at hand: the LiDAR's rate is not known yet)". It takes the last 10 readable."""
    words = _words_on_both_roads(52_000, 5000, 0, frames_from_ms=50_500, readable_scans=2)
    assert len(words) > 10, len(words)


def test_a_fast_lidar_stamped_ahead_is_explained_by_the_nearest_scan_the_node_keeps() -> None:
    """A 20 Hz LiDAR stamped an hour ahead of a 30 Hz camera: the node, its scans running ahead of the images, keeps
    those stamped within 1 s of the newest (21, not 10), and names the oldest of them as the nearest; the bag runner
    named the oldest of the last 10 (0.5 s nearer): "3599.522 s after it" where the node said 3599.472 s, for 136
    of 152 frames. It takes the nearest among the scans the node keeps."""
    words = _words_on_both_roads(5000, 50, 3_600_000)
    assert len(words) > 100, len(words)
    for bag_words in words:
        assert DIFFERENT_CLOCKS in bag_words, bag_words
