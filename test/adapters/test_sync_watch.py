"""Images ApproximateTime never pairs: evicted from its queue or waited too long, with the missing input named."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from mono_depth_ros.adapters.sync_watch import SYNC_GIVE_UP_S, MissingImages, SyncWatch
from mono_depth_ros.core.msg_factory import stamp_to_ns
from mono_depth_ros.depth_config import DepthConfig

from .support import FakeTimer

S = 1_000_000_000
STAMP = 1_700_000_000 * S


class FakeClock:
    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns


class Source:
    """A message_filters source: callbacks in registration order, as ``SimpleFilter.signalMessage`` calls them."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[Any, tuple[Any, ...]]] = []

    def registerCallback(self, cb: Any, *args: Any) -> int:
        self.callbacks.append((cb, args))
        return len(self.callbacks) - 1

    def signal(self, msg: Any) -> None:
        for cb, args in self.callbacks:
            cb(msg, *args)


def msg(stamp_ns: int) -> Any:
    sec, nanosec = divmod(stamp_ns, S)
    return SimpleNamespace(header=SimpleNamespace(stamp=SimpleNamespace(sec=sec, nanosec=nanosec)))


def watch(clock: FakeClock, lost: list[tuple[str, str]], queue_size: int = 3) -> SyncWatch:
    return SyncWatch({"camera_info": "/cam/info"}, 0.05, queue_size, lambda *a: lost.append(a), clock_ns=clock)


def test_an_image_that_waits_past_give_up_is_reported_once_with_the_stamps_and_remedy() -> None:
    clock, lost = FakeClock(), []
    sync = watch(clock, lost)
    sync.partner("camera_info", 0)  # a driver that leaves camera_info's stamp unset
    assert sync.image(STAMP) == []
    clock.now_ns = S - 1
    sync.poll()
    assert lost == [] and sync.waiting == 1
    clock.now_ns = S
    sync.poll()
    sync.poll()
    assert len(lost) == 1 and sync.waiting == 0
    reason, text = lost[0]
    assert reason == "no_camera_info"
    assert "image stamped 1700000000.000 s" in text and "latest camera_info stamped 0.000 s" in text
    assert "sync.slop_s=0.05" in text and "sync.mode: latest" in text


def test_a_camera_info_topic_nothing_arrived_on_is_named_with_the_parameter_that_sets_it() -> None:
    """No camera_info ever arrived (a driver publishing it in another namespace, /cam2/camera_info, a typo): the
    remedy is the topic parameter and its launch argument. "publish it with the image's stamp, or use sync.mode:
    latest" (the remedy for a camera_info of another stamp) sent the user to settings that change nothing."""
    clock, lost = FakeClock(), []
    sync = watch(clock, lost)
    sync.image(STAMP)
    clock.now_ns = S
    sync.poll()
    ((reason, text),) = lost
    assert reason == "no_camera_info" and "latest camera_info stamped never: none on /cam/info" in text
    assert "nothing has arrived on /cam/info" in text and "camera_info_topic (launch: camera_info:=)" in text
    assert "sync.mode" not in text and "with the image's stamp" not in text


def test_a_prediction_topic_whose_publisher_sends_nothing_is_not_called_the_wrong_topic() -> None:
    """An external model whose node is up on /depth_model/prediction (a publisher of sensor_msgs/msg/Image) but sends
    nothing: the line said "nothing has arrived on /depth_model/prediction since the node started: set
    prediction_topic", a remedy that changes nothing. With publishers on the topic it says what the input watch says
    of a silent image topic (how many publishers, of which type, QoS or a publisher that sends nothing); with none, or
    of another type, the topic setting stays the remedy. The graph is asked once a second at most."""
    clock, lost, graph = FakeClock(), list[tuple[str, str]](), dict[str, list[Any]]()
    asked: list[str] = []

    def publishers(name: str) -> list[Any]:
        asked.append(name)
        return graph.get(name, [])

    topic = "/depth_model/prediction"
    sync = SyncWatch({"prediction": topic}, 0.05, 3, lambda *a: lost.append(a), clock_ns=clock, publishers=publishers)
    reliable = SimpleNamespace(reliability=SimpleNamespace(name="RELIABLE"))
    graph["prediction"] = [SimpleNamespace(topic_type="sensor_msgs/msg/Image", qos_profile=reliable)]
    sync.image(STAMP)
    sync.image(STAMP + S // 10)
    clock.now_ns = 5 * S
    sync.poll()
    assert [reason for reason, _ in lost] == ["no_prediction"] * 2 and asked == ["prediction"], (lost, asked)
    text = lost[0][1]
    assert f"nothing has arrived on {topic} since the node started: 1 publisher(s) of sensor_msgs/msg/Image" in text
    assert "set prediction_topic" not in text and "set input_qos: reliable" in text, text
    assert f"`ros2 topic hz {topic}`" in text and "the external depth model must publish one prediction per" in text, (
        text
    )
    best_effort = SimpleNamespace(reliability=SimpleNamespace(name="BEST_EFFORT"))
    graph["prediction"] = [SimpleNamespace(topic_type="sensor_msgs/msg/Image", qos_profile=best_effort)]
    clock.now_ns += S
    sync.image(STAMP + 15 * S // 100)
    clock.now_ns += 5 * S
    sync.poll()
    text = lost[-1][1]  # the image's remedies less "publish it compressed": the node reads no compressed prediction
    assert "make the publisher reliable and set input_qos: reliable, or raise the socket" in text, text
    graph["prediction"] = [SimpleNamespace(topic_type="sensor_msgs/msg/CompressedImage", qos_profile=reliable)]
    clock.now_ns += S
    sync.image(STAMP + 2 * S // 10)
    clock.now_ns += 5 * S
    sync.poll()
    text = lost[-1][1]
    assert "it is published as sensor_msgs/msg/CompressedImage, this node subscribes sensor_msgs/msg/Image" in text
    assert "set prediction_topic to the topic the driver publishes" in text and "topic hz" not in text, text
    del graph["prediction"]
    clock.now_ns += S
    sync.image(STAMP + 3 * S // 10)
    clock.now_ns += 5 * S
    sync.poll()
    assert lost[-1][1].endswith(
        f"nothing has arrived on {topic} since the node started: set prediction_topic to the "
        "topic the driver publishes (`ros2 topic list -t` lists the topics and their types)"
    )
    assert asked == ["prediction"] * 4 and len(lost) == 5, (asked, lost)


def test_an_image_evicted_before_a_merely_late_camera_info_does_not_call_the_topic_wrong() -> None:
    """A healthy start: the camera_info subscription matched a little after the image's (discovery), so the first
    images leave the synchroniser's queue (``sync.queue_size`` newer ones, 30 Hz: 0.1 s here) before any camera_info
    came. The line said "nothing has arrived on /cam/info since the node started: set camera_info_topic", though the
    topic is right and the camera_infos pair from the next image on; within the give-up time since the first image
    it says none has come yet, and names the parameter only if none ever does."""
    clock, lost = FakeClock(), list[tuple[str, str]]()
    sync = watch(clock, lost)
    for k in range(4):  # the fourth evicts the first, 0.1 s after it
        clock.now_ns = k * S // 30
        sync.report(sync.image(STAMP + k * S // 30))
    ((reason, text),) = lost
    assert reason == "no_camera_info" and "latest camera_info stamped never: none on /cam/info" in text, text
    assert "nothing has arrived on /cam/info yet, 0.10 s after the first image" in text, text
    assert "since the node started" not in text, text
    assert "if none ever does, set camera_info_topic (launch: camera_info:=)" in text, text
    clock.now_ns = 2 * S  # the others wait past the give-up time: by then the topic is the suspect
    sync.poll()
    assert len(lost) == 4 and "nothing has arrived on /cam/info since the node started: set" in lost[-1][1], lost


def test_a_paired_image_is_never_reported() -> None:
    clock, lost = FakeClock(), []
    sync = watch(clock, lost)
    sync.partner("camera_info", STAMP + 10)
    sync.image(STAMP)
    sync.paired(msg(STAMP))
    clock.now_ns = 10 * S
    sync.poll()
    assert lost == [] and sync.waiting == 0


def test_the_queue_evicts_the_oldest_stamp_and_a_repeated_stamp_replaces_the_waiting_image() -> None:
    clock, lost = FakeClock(), []
    sync = watch(clock, lost, queue_size=2)
    assert sync.image(STAMP + 2 * S) == []
    assert sync.image(STAMP + 1 * S) == []
    (evicted,) = sync.image(STAMP + 3 * S)  # a bag played again: stamps need not rise
    assert evicted.stamp_ns == STAMP + 1 * S and evicted.missing == ("camera_info",)
    assert evicted.latest_ns == {"camera_info": None}
    (replaced,) = sync.image(STAMP + 3 * S)
    assert replaced.stamp_ns == STAMP + 3 * S and sync.waiting == 2


def test_an_image_whose_partner_was_there_is_unsynced() -> None:
    sync = watch(FakeClock(), [], queue_size=1)
    sync.partner("camera_info", STAMP + 40_000_000)  # within the slop: the synchroniser's short queue lost it
    sync.image(STAMP)
    (evicted,) = sync.image(STAMP + S)
    reason, text = sync.explain(evicted)
    assert evicted.missing == () and reason == "unsynced" and "sync.queue_size (1)" in text


def test_an_image_that_came_more_partners_late_than_the_queue_holds_names_the_size_needed() -> None:
    """A 3840x2160 rgb8 image (25 MB) reached the node 0.6-1.4 s after its camera_info on Humble + Cyclone: more
    than sync.queue_size (10) camera_infos later at 30 Hz, so the synchroniser had evicted its camera_info (10% of
    the images were counted unsynced): the message says how far to raise the queue."""
    clock = FakeClock()
    sync = watch(clock, [], queue_size=10)
    period = S // 30
    for k in range(25):
        sync.partner("camera_info", STAMP + k * period)
    sync.image(STAMP + 5 * period)  # 19 camera_infos after its own
    sync.image(STAMP + 20 * period)  # 4 after its own: within the queue
    clock.now_ns = S
    far, near = sync.expired()
    reason, text = sync.explain(far)
    assert reason == "unsynced" and far.behind == {"camera_info": 19}
    assert text.endswith("raise sync.queue_size (10) above 19: the image came 19 messages after its partner's (a "
                         "large image lags its camera_info in transport)")  # fmt: skip
    assert near.behind == {"camera_info": 4} and sync.explain(near)[1].endswith("raise sync.queue_size (10)")


def test_attach_relays_to_the_synchroniser_counts_images_and_names_a_missing_prediction() -> None:
    config = DepthConfig.from_params({"model.backend": "external"})
    sources = [Source(), Source(), Source()]  # image, camera_info, prediction
    received, lost = [], []
    sync = SyncWatch.attach(sources, config, lambda: received.append(1), lambda *a: lost.append(a))
    relayed: list[tuple[int, Any]] = []
    for index, output in enumerate(sync.outputs):  # what ApproximateTimeSynchronizer registers on
        output.registerCallback(lambda m, i: relayed.append((i, m)), index)
    assert [len(s.callbacks) for s in sources] == [1, 1, 1]
    for stamp in range(config.sync.queue_size + 1):
        sources[1].signal(msg(STAMP + stamp * S))  # camera_info in step, no prediction ever
        sources[0].signal(msg(STAMP + stamp * S))
    assert len(received) == config.sync.queue_size + 1
    assert [i for i, _ in relayed] == [1, 0] * (config.sync.queue_size + 1)
    ((reason, text),) = lost
    assert reason == "no_prediction" and "latest prediction stamped never: none on /depth_model/prediction" in text
    assert "sync.mode" not in text and sync.waiting == config.sync.queue_size
    assert sync._give_up_ns == 5 * S  # another model's prediction may take seconds; a camera_info does not


def test_a_remapped_partner_is_named_as_its_subscription_resolved_it() -> None:
    """message_filters' Subscriber keeps its rclpy subscription in ``sub``, whose ``topic_name`` is the name rcl
    resolved (``-r /depth_model/prediction:=/robot1/prediction``): the messages name that one."""
    config = DepthConfig.from_params({"model.backend": "external"})
    sources = [Source(), Source(), Source()]
    sources[2].sub = SimpleNamespace(topic_name="/robot1/prediction")  # type: ignore[attr-defined]
    lost: list[Any] = []
    SyncWatch.attach(sources, config, lambda: None, lambda *a: lost.append(a))
    for stamp in range(config.sync.queue_size + 1):
        sources[1].signal(msg(STAMP + stamp * S))
        sources[0].signal(msg(STAMP + stamp * S))
    ((reason, text),) = lost
    assert reason == "no_prediction" and "none on /robot1/prediction (from /depth_model/prediction)" in text


def test_the_poll_timer_runs_only_while_an_image_or_a_camera_info_waits() -> None:
    """The 10 Hz poll woke the node's executor every frame with nothing to do (camera_info and image paired within
    milliseconds; each wake-up ~0.6 ms CPU in rclpy). It runs while an image waits for its partners or a camera_info
    for its image, and still finds the image that never came."""
    clock, missing = FakeClock(), []
    sources = [Source(), Source()]  # image, camera_info
    config = DepthConfig.from_params({})
    sync = SyncWatch.attach(sources, config, lambda: None, lambda *a: None, on_missing=lambda *a: missing.append(a))
    sync._clock_ns = clock
    timer = FakeTimer()
    assert sync.polled_by(timer) is timer and timer.canceled  # nothing held
    sources[1].signal(msg(STAMP))  # camera_info first: waits for its image
    assert not timer.canceled and timer.resets == 1
    sources[0].signal(msg(STAMP))
    sync.paired(msg(STAMP))  # the synchroniser's callback (the node's _on_synced)
    assert timer.canceled and timer.resets == 1
    sources[1].signal(msg(STAMP + S // 10))  # its image is lost in transport
    sources[1].signal(msg(STAMP + 2 * S // 10))
    sources[0].signal(msg(STAMP + 2 * S // 10))
    sync.paired(msg(STAMP + 2 * S // 10))
    assert not timer.canceled and timer.resets == 2  # the lone camera_info is held
    clock.now_ns = S
    sync.poll()
    assert [count for count, _ in missing] == [1] and timer.canceled


def test_a_message_stamped_before_zero_is_counted_and_not_relayed() -> None:
    """message_filters raises ValueError on a negative stamp, in the executor: it ended the node on real Humble. The
    image is an image outcome (``on_lost``); its camera_info is no image (``on_unused``): counted in ``on_lost`` too,
    one image made two bad messages, and the node's received != published + dropped + bad."""
    sources = [Source(), Source()]
    received, lost, unused, relayed = [], [], [], []
    report = lambda *a: lost.append(a)  # noqa: E731
    sync = SyncWatch.attach(sources, DepthConfig.from_params({}), lambda: received.append(1), report,
                            on_unused=lambda *a: unused.append(a))  # fmt: skip
    for output in sync.outputs:
        output.registerCallback(relayed.append)
    sources[1].signal(msg(-5 * S))
    sources[0].signal(msg(-5 * S))
    assert received == [1] and relayed == [] and sync.waiting == 0
    assert [reason for reason, _ in lost] == ["TransformError"] and lost[0][1].startswith("image stamped")
    assert [reason for reason, _ in unused] == ["camera_info.TransformError"]
    assert "camera_info stamped -5.000 s: a stamp before 0" in unused[0][1]


def test_an_image_paired_after_it_was_reported_lost_takes_its_count_back() -> None:
    """A camera_info later than the give-up time: the image is published after all, so it was not lost."""
    clock, lost, late = FakeClock(), [], []
    sync = SyncWatch({"camera_info": "/cam/info"}, 0.05, 3, lambda *a: lost.append(a), clock_ns=clock,
                     on_late=lambda *a: late.append(a))  # fmt: skip
    sync.image(STAMP)
    sync.image(STAMP + S)
    clock.now_ns = 2 * S
    sync.poll()
    assert [reason for reason, _ in lost] == ["no_camera_info"] * 2
    sync.paired(msg(STAMP))  # its camera_info came 2 s late
    sync.paired(msg(STAMP))  # (a second emission of the same stamp takes nothing back twice)
    assert late == [("no_camera_info",)]
    sync.paired(msg(STAMP + 5 * S))  # never reported: nothing to take back
    assert len(late) == 1


def test_attach_takes_back_the_count_of_an_image_paired_late() -> None:
    sources = [Source(), Source()]  # image, camera_info
    lost: list[tuple[str, str]] = []
    late: list[tuple[str, ...]] = []
    clock = FakeClock()
    config = DepthConfig.from_params({})
    sync = SyncWatch.attach(sources, config, lambda: None, lambda *a: lost.append(a), lambda *a: late.append(a))
    sync._clock_ns = clock
    sources[0].signal(msg(STAMP))
    clock.now_ns = 10 * S
    sync.poll()
    sync.paired(msg(STAMP))
    assert [r for r, _ in lost] == [r for (r,) in late] == ["no_camera_info"]


class Synchroniser:
    """What SyncWatch.follow touches of message_filters' ApproximateTimeSynchronizer: ``queues`` (one dict per input,
    stamp ns -> message) under ``lock``."""

    def __init__(self, inputs: int) -> None:
        self.queues: list[dict[int, Any]] = [{} for _ in range(inputs)]
        self.lock = threading.Lock()


def test_a_jump_back_in_time_drops_what_the_synchroniser_held_from_before_it() -> None:
    """A bag played with ``--loop``: camera_infos left unpaired at the end of the first pass (their images dropped)
    fill message_filters' queue; as its oldest, each new camera_info was evicted on arrival: every frame of every
    later pass stamped before them was lost. Only messages stamped more than 1 s after the one that went back go."""
    sources = [Source(), Source()]  # image, camera_info
    lost: list[tuple[str, str]] = []
    watch = SyncWatch.attach(sources, DepthConfig.from_params({}), lambda: None, lambda *a: lost.append(a))
    synchroniser = watch.follow(Synchroniser(2))
    for index, output in enumerate(watch.outputs):
        output.registerCallback(lambda m, i: synchroniser.queues[i].__setitem__(stamp_to_ns(m.header.stamp), m), index)
    for second in range(20, 30):
        sources[1].signal(msg(STAMP + second * S))  # unpaired camera_infos of the first pass
    sources[0].signal(msg(STAMP + 29 * S + S // 2))  # an image still waiting (no jump on the image input yet)
    sources[1].signal(msg(STAMP + 29 * S + S // 2))
    assert [len(q) for q in synchroniser.queues] == [1, 11]
    sources[0].signal(msg(STAMP + 28 * S + S // 2))  # 1 s back on the image input: no jump yet
    assert [len(q) for q in synchroniser.queues] == [2, 11]
    assert lost == [] and watch.waiting == 2
    sources[0].signal(msg(STAMP))  # the loop starts again: everything after STAMP + 1 s is from before the jump
    assert [sorted(q) for q in synchroniser.queues] == [[STAMP], []]
    assert watch.waiting == 1  # the two images left from before the jump are reported lost, the new one waits
    assert [(reason, text[:30]) for reason, text in lost] == [
        ("no_camera_info", "image stamped 1700000028.500 s"),
        ("unsynced", "image stamped 1700000029.500 s"),
    ]
    sources[1].signal(msg(STAMP))  # its camera_info goes back too: the image waiting for it stays
    assert [sorted(q) for q in synchroniser.queues] == [[STAMP], [STAMP]]


def test_a_late_partner_is_no_jump_back() -> None:
    """An external prediction seconds behind its image (another model on a CPU) must not drop the newer images."""
    sources = [Source(), Source(), Source()]  # image, camera_info, prediction
    config = DepthConfig.from_params({"model.backend": "external"})
    watch = SyncWatch.attach(sources, config, lambda: None, lambda *a: None)
    synchroniser = watch.follow(Synchroniser(3))
    for index, output in enumerate(watch.outputs):
        output.registerCallback(lambda m, i: synchroniser.queues[i].__setitem__(stamp_to_ns(m.header.stamp), m), index)
    for second in range(5):
        sources[0].signal(msg(STAMP + second * S))
        sources[1].signal(msg(STAMP + second * S))
    sources[2].signal(msg(STAMP))  # the prediction of the first image, 4 s behind the newest image
    sources[2].signal(msg(STAMP + S))
    assert [len(q) for q in synchroniser.queues] == [5, 5, 2]


def test_synchroniser_slop_zero_means_equal_stamps() -> None:
    from mono_depth_ros.adapters.sync_watch import synchroniser_slop_s

    assert synchroniser_slop_s(0.0) == 1e-9  # message_filters pairs stamps closer than this: equal ones
    assert synchroniser_slop_s(0.05) == 0.05


def test_drain_forgets_the_waiting_images_without_reporting_them() -> None:
    clock, lost = FakeClock(), []
    sync = watch(clock, lost)
    sync.image(STAMP)
    sync.image(STAMP + S // 10)
    assert sync.drain() == 2 and sync.waiting == 0 and sync.drain() == 0
    clock.now_ns = 10 * S
    sync.poll()
    assert lost == []  # counted dropped by the node, not lost a second time


def missing_watch(clock: FakeClock, missing: list[tuple[int, str]]) -> SyncWatch:
    return SyncWatch(
        {"camera_info": "/cam/info"}, 0.05, 10, None, clock_ns=clock, on_missing=lambda *a: missing.append(a)
    )


def test_camera_infos_whose_images_never_came_are_reported_missing_once_the_stream_passed_them() -> None:
    """A best-effort reader of a 1920x1200 rgb8 camera at 30 Hz got 35% of the images (Humble + Cyclone): the others
    vanished uncounted, while their small camera_infos all arrived. Each such camera_info is an image missing."""
    clock, missing = FakeClock(), []
    sync = missing_watch(clock, missing)
    period = S // 30
    for k in range(6):  # images 1, 2 and 4 lost in transport; image 3's camera_info comes after the image
        stamp = STAMP + k * period
        if k != 3:
            sync.partner("camera_info", stamp)
        if k not in (1, 2, 4):
            sync.image(stamp)
        if k == 3:
            sync.partner("camera_info", stamp)
    clock.now_ns = S - 1
    sync.poll()
    assert missing == []  # not before give_up_s: an image may still be on its way
    clock.now_ns = S
    sync.poll()
    assert [count for count, _ in missing] == [3]
    assert f"stamped {(STAMP + period) / S:.3f} .. {(STAMP + 4 * period) / S:.3f} s" in missing[0][1]
    sync.poll()
    assert len(missing) == 1  # each reported once


@pytest.mark.parametrize("infos_pause", [True, False], ids=["camera restarted", "images lost"])
def test_images_lost_as_a_restarted_camera_matches_again_are_counted_missing_naming_the_restart(
    infos_pause: bool,
) -> None:
    """A 10 Hz camera driver restarted: nothing on either topic for 1.5 s, then its new camera_info publisher matches
    the node's subscription before its new image publisher, so the first two images never reach the node (real
    Humble: a publisher process restarted beside the node, images_missing +3 a restart). They are counted
    images_missing, and were warned with the transport's remedies only (best effort, the socket buffers, the history
    depth), which change nothing for a restart: the text now names the pause of the whole camera and the restart.
    Two images lost while the camera_infos went on (no pause of the camera) are counted without it."""
    clock, missing = FakeClock(), list[tuple[int, str]]()
    sync = missing_watch(clock, missing)
    for k in range(30):
        paused = 15 if k >= 10 and infos_pause else 0
        clock.now_ns = (k + paused) * S // 10
        stamp = STAMP + (k + paused) * S // 10
        sync.partner("camera_info", stamp)
        if not 10 <= k < 12:
            sync.image(stamp)
        sync.poll()
    clock.now_ns = 10 * S
    sync.poll()
    assert sum(count for count, _ in missing) == 2, missing
    texts = " ".join(text for _, text in missing)
    named = "after a pause of the whole camera of 1.6 s" in texts and "a camera driver that restarted" in texts
    assert named == infos_pause, texts


@pytest.mark.parametrize(("rate", "give_up_s"), [(30, 5.0), (100, 1.0)], ids=["30 Hz external", "100 Hz"])
def test_a_restart_of_a_fast_camera_is_named_though_its_last_image_before_is_long_forgotten(
    rate: int, give_up_s: float
) -> None:
    """The restart's lost images are reported once their camera_infos waited the give-up time (5 s with
    ``model.backend: external``), by when a 30 Hz camera has sent 150 images: the last image before the pause had
    left the 64 remembered, and the restart was not named (the transport's remedies only). The pause is taken as
    each camera_info arrives."""
    clock, missing = FakeClock(), list[tuple[int, str]]()
    sync = SyncWatch(
        {"camera_info": "/cam/info"}, 0.005, 10, None, clock_ns=clock, on_missing=lambda *a: missing.append(a),
        give_up_s=give_up_s,
    )  # fmt: skip
    for k in range(20 * rate):
        paused = 6 * rate if k >= 5 * rate else 0  # 6 s with nothing, then the image publisher matches 2 frames late
        clock.now_ns = (k + paused) * S // rate
        stamp = STAMP + (k + paused) * S // rate
        sync.partner("camera_info", stamp)
        if not 5 * rate <= k < 5 * rate + 2:
            sync.image(stamp)
        sync.poll()
    clock.now_ns = 60 * S
    sync.poll()
    assert sum(count for count, _ in missing) == 2, missing
    assert all("after a pause of the whole camera of 6.0 s" in text for _, text in missing), missing


def test_an_image_lost_from_a_slow_camera_is_not_called_a_restart() -> None:
    """A 0.5 Hz camera (2 s between frames, more than the 1 s give-up time) loses one image in transport while its
    camera_infos go on: the gap before its camera_info is the camera's own period, no pause of the whole camera, and
    a restart is not named (it was: 'after a pause of the whole camera of 2.0 s ... a camera driver that
    restarted'); a pause of three periods (a restart of that camera) still is."""
    for lost, paused in ((5, 0), (5, 6)):
        clock, missing = FakeClock(), list[tuple[int, str]]()
        sync = missing_watch(clock, missing)
        for k in range(12):
            at = 2 * k + (paused if k >= lost else 0)
            clock.now_ns = at * S
            sync.partner("camera_info", STAMP + at * S)
            if k != lost:
                sync.image(STAMP + at * S)
            sync.poll()
        clock.now_ns = 60 * S
        sync.poll()
        assert sum(count for count, _ in missing) == 1, missing
        texts = " ".join(text for _, text in missing)
        assert ("a camera driver that restarted" in texts) == bool(paused), texts


def test_a_camera_info_no_image_can_match_is_not_an_image_missing() -> None:
    clock, missing = FakeClock(), []
    sync = missing_watch(clock, missing)
    sync.partner("camera_info", 0)  # a driver that leaves camera_info's stamp unset: reported as no_camera_info
    sync.partner("camera_info", STAMP - S)  # before the first image
    sync.image(STAMP)
    sync.image(STAMP + S // 30)
    sync.partner("camera_info", STAMP + S)  # after the newest image: its image may come
    clock.now_ns = 2 * S
    sync.poll()
    assert missing == []
    clock.now_ns = 12 * S  # MISSING_WAIT_S: forgotten
    sync.poll()
    sync.image(STAMP + 2 * S)  # the stream passes the one after the newest image only now
    sync.poll()
    assert missing == []


def test_a_camera_info_whose_image_lags_beyond_the_give_up_time_is_counted_once_later_images_pass_it() -> None:
    """A 3840x2160 image reached the node up to 1.4 s after its camera_info: the camera_infos of the images lost
    meanwhile were forgotten uncounted at give_up_s (1 s), before any later image had passed them."""
    clock, missing = FakeClock(), []
    sync = missing_watch(clock, missing)
    sync.image(STAMP)
    for k in (1, 2, 3):
        sync.partner("camera_info", STAMP + k * S // 10)
    clock.now_ns = 2 * S
    sync.poll()
    assert missing == []  # no image after them yet: theirs may be on the way
    sync.image(STAMP + 3 * S // 10)  # image 3 came 2 s late; 1 and 2 never will
    sync.poll()
    assert [count for count, _ in missing] == [2]


def test_attach_passes_on_missing_and_the_reporter_counts_each_image_and_warns_throttled() -> None:
    counted, warnings = [], []
    clock = FakeClock()
    report = MissingImages(counted.append, warnings.append, "sensor_data", period_s=10.0, clock_ns=clock)
    sources = [Source(), Source()]
    sync = SyncWatch.attach(sources, DepthConfig.from_params({}), lambda: None, lambda *a: None, on_missing=report)
    for k in (0, 1, 2):
        sources[1].signal(msg(STAMP + k * S // 10))
    sources[0].signal(msg(STAMP))
    sources[0].signal(msg(STAMP + 2 * S // 10))
    time.sleep(SYNC_GIVE_UP_S + 0.05)  # attach's watch runs on the monotonic clock
    sync.poll()
    assert counted == [1] and len(warnings) == 1
    head = "1 image(s) never arrived (images_missing in /diagnostics), the latest: 1 camera_info(s)"
    assert warnings[0].startswith(head) and "(keep last 5) or the camera's overflowed" in warnings[0]
    assert "set input_qos: reliable" in warnings[0] and "UDP fragments" in warnings[0]
    report(2, "two more")
    assert counted == [1, 2] and len(warnings) == 1  # held until period_s has passed
    clock.now_ns = 10 * S
    report(1, "one more")
    assert warnings[-1].startswith("3 image(s) never arrived") and "one more" in warnings[-1]
    strict = MissingImages(counted.append, warnings.append, "reliable", clock_ns=clock)
    strict(1, "x")
    assert "publishes camera_info more often than images" in warnings[-1] and "(keep last 10)" in warnings[-1]


def streamed(
    sync: SyncWatch, clock: FakeClock, frames: int, with_info: Any, arrive_every_ns: int = S // 10, poll: bool = True
) -> None:
    """``frames`` images stamped 10 Hz apart, arriving ``arrive_every_ns`` apart; frame ``k`` with its camera_info
    (arriving just before it, paired at once by the synchroniser) where ``with_info(k)``; polled after each image
    (unless not ``poll``) and once more at 10 s."""
    for k in range(frames):
        clock.now_ns = k * arrive_every_ns
        stamp = STAMP + k * S // 10
        if with_info(k):
            sync.partner("camera_info", stamp)
        sync.report(sync.image(stamp))
        if poll:
            sync.poll()
        if with_info(k):
            sync.paired(msg(stamp))
    clock.now_ns = 10 * S
    sync.poll()


def test_a_camera_info_that_stops_while_images_go_on_is_named_stopped_until_and_after_it_is_back() -> None:
    """10 Hz images; camera_info with each for 1 s, then none for 3 s (its publisher died), then again. Every image
    of the gap is reported ``no_camera_info`` saying the camera_info stopped and for how long, those given up after
    it came back too (their report said 'publish it with the image's stamp, or use sync.mode: latest': no stamp was
    wrong, and latest would run on with a dead publisher's calibration); the images after it pair."""
    clock, lost = FakeClock(), list[tuple[str, str]]()
    sync = watch(clock, lost, queue_size=10)
    gap = range(10, 40)
    streamed(sync, clock, 60, lambda k: k not in gap)
    assert [reason for reason, _ in lost] == ["no_camera_info"] * len(gap)
    texts = [text for _, text in lost]
    assert all("camera_info stopped: nothing arrived on /cam/info for" in text for text in texts), texts[-1]
    assert all("ros2 topic info -v /cam/info" in text and "image's stamp" not in text for text in texts)
    assert "for 1.1 s" in texts[0] and "for 3.1 s" in texts[-1], (texts[0], texts[-1])


def restart_camera(
    sync: SyncWatch, clock: FakeClock, rate: int, frames: int, restart: int, pause: int, lost_after_restart: int
) -> None:
    """A camera at ``rate`` Hz (image and camera_info alike stamped, arriving at their stamps) restarted: frame
    ``restart`` and the ones after come ``pause`` periods late, nothing in between, and the camera_infos of the first
    ``lost_after_restart`` images after the restart never arrive (the new image publisher matched first)."""
    for k in range(frames):
        paused = pause if k >= restart else 0
        clock.now_ns = (k + paused) * S // rate
        stamp = STAMP + (k + paused) * S // rate
        paired = not restart <= k < restart + lost_after_restart
        if paired:
            sync.partner("camera_info", stamp)
        sync.report(sync.image(stamp))
        sync.poll()
        if paired:
            sync.paired(msg(stamp))


@pytest.mark.parametrize(("pause", "lost_after_restart"), [(15, 1), (15, 3), (8, 1), (8, 3)])
def test_images_whose_camera_info_is_lost_as_the_restarted_camera_matches_again_are_not_called_stopped(
    pause: int, lost_after_restart: int
) -> None:
    """A 10 Hz camera driver restarted (a respawn, a replug): nothing on either topic for 1.5 s (or 0.8 s: the images'
    gap, 0.9 s, shorter than the give-up time, the camera_info's with the lost ones not), then its new image
    publisher matches the node's subscription before its new camera_info publisher, so the camera_info of the first
    image(s) after the restart never reaches the node (seen on real Humble, a publisher process restarted beside the
    node). Those images were warned 'camera_info stopped: nothing arrived on /cam/info for 1.6 s while images came',
    but no image came in that time either; they now say the camera_info started after them (its publisher matched
    after the image's) and that the images since pair."""
    clock, lost = FakeClock(), list[tuple[str, str]]()
    sync = watch(clock, lost, queue_size=10)
    restart_camera(sync, clock, rate=10, frames=30, restart=10, pause=pause, lost_after_restart=lost_after_restart)
    clock.now_ns = 10 * S
    sync.poll()
    assert [reason for reason, _ in lost] == ["no_camera_info"] * lost_after_restart, lost
    texts = [text for _, text in lost]
    assert not any("stopped" in text for text in texts), texts[0]
    assert all("camera_info started after the images" in text for text in texts), texts
    first = f"the first camera_info on /cam/info is stamped {lost_after_restart / 10:.3f} s after it"
    assert first in texts[0], texts[0]


@pytest.mark.parametrize(
    ("rate", "give_up_s", "pause_s"), [(30, 5.0, 6.0), (100, 1.0, 1.5)], ids=["30 Hz external", "100 Hz"]
)
def test_images_of_a_fast_restarted_camera_whose_camera_info_is_lost_say_it_started_after_them(
    rate: int, give_up_s: float, pause_s: float
) -> None:
    """The restart of a 30 Hz camera with ``model.backend: external`` (images wait 5 s) or of a 100 Hz one: by the
    time the first images after it give up, 150 / 100 images and camera_infos have come since, and the messages
    before the pause (6 s / 1.5 s: a pause is the give-up time or longer) had left the 64 remembered: the images
    were told 'publish it with the image's stamp, or use sync.mode: latest', though every stamp was right. They say
    the camera_info started after them, as at 10 Hz."""
    clock, lost = FakeClock(), list[tuple[str, str]]()
    sync = SyncWatch(
        {"camera_info": "/cam/info"}, 0.005, 4 * rate, lambda *a: lost.append(a), clock_ns=clock, give_up_s=give_up_s
    )
    # nothing for pause_s at 5 s; then 2 camera_infos lost
    restart_camera(
        sync, clock, rate, frames=12 * rate, restart=5 * rate, pause=int(pause_s * rate), lost_after_restart=2
    )
    clock.now_ns = 100 * S
    sync.poll()
    assert [reason for reason, _ in lost] == ["no_camera_info"] * 2, lost
    assert all("camera_info started after the images" in text for _, text in lost), lost[0]


def test_a_slow_camera_whose_camera_info_is_stamped_otherwise_is_not_called_stopped() -> None:
    """A 0.5 Hz camera whose camera_info carries another stamp than its image (its own clock, 0.3 s off): each image
    waits past the give-up time with camera_infos still coming, so the stamp is the matter, not a stop."""
    clock, lost = FakeClock(), list[tuple[str, str]]()
    sync = watch(clock, lost, queue_size=10)
    for k in range(6):
        clock.now_ns = 2 * k * S
        sync.partner("camera_info", STAMP + 2 * k * S + 300_000_000)
        sync.report(sync.image(STAMP + 2 * k * S))
        clock.now_ns += S
        sync.poll()
    assert len(lost) == 6 and all("publish it with the image's stamp" in text for _, text in lost), lost[-1]
    assert not any("stopped" in text for _, text in lost)


def test_images_before_the_first_camera_info_are_said_to_come_before_it_started() -> None:
    """10 Hz images; the camera_info of the first three never reaches the node (its subscription matched after the
    image's, at a lifecycle activate; seen on real Humble), the next ones pair. The three were reported with
    'publish it with the image's stamp, or use sync.mode: latest', though every stamp was right: they now say the
    camera_info started after them, and that the images since pair."""
    clock, lost = FakeClock(), list[tuple[str, str]]()
    sync = watch(clock, lost, queue_size=10)
    streamed(sync, clock, 20, lambda k: k >= 3)
    assert [reason for reason, _ in lost] == ["no_camera_info"] * 3
    texts = [text for _, text in lost]
    assert all("camera_info started after the images" in text and "sync.mode" not in text for text in texts), texts
    assert "the first camera_info on /cam/info is stamped 0.300 s after it" in texts[0], texts[0]


def test_camera_infos_lost_in_a_burst_after_a_network_stall_are_not_called_stopped() -> None:
    """A network stall, then 4 s of frames delivered within 0.8 s; the subscription's history lost the camera_infos
    of 15 frames in a row (seen on real Humble with a burst of 100 frames): their gap in stamps is 1.6 s, but their
    neighbours arrived together, so the publisher did not stop; those images keep the stamp remedy."""
    clock, lost = FakeClock(), list[tuple[str, str]]()
    sync = watch(clock, lost, queue_size=100)
    gap = range(10, 26)
    streamed(sync, clock, 40, lambda k: k not in gap, arrive_every_ns=S // 50, poll=False)
    assert [reason for reason, _ in lost] == ["no_camera_info"] * len(gap)
    assert not any("stopped" in text for _, text in lost), lost[0]


def test_an_unstamped_image_amid_the_stream_keeps_the_stamp_remedy() -> None:
    """A driver that leaves one image's stamp 0 amid a 10 Hz stream whose camera_infos are stamped: that image is
    counted ``no_camera_info`` with the stamps and the stamp remedy. Its stamp made a jump back, after which the next
    camera_info was the 'first', and the image was said to come before the camera_info started (stamped 1.7e9 s
    after it)."""
    clock, lost = FakeClock(), list[tuple[str, str]]()
    sync = watch(clock, lost, queue_size=10)
    for k in range(20):
        clock.now_ns = k * S // 10
        stamp = 0 if k == 10 else STAMP + k * S // 10
        sync.partner("camera_info", STAMP + k * S // 10)
        sync.report(sync.forget_after_a_jump_back("image", stamp))
        sync.report(sync.image(stamp))
        sync.poll()
        if k != 10:
            sync.paired(msg(stamp))
    clock.now_ns = 10 * S
    sync.poll()
    assert len(lost) == 1 and lost[0][0] == "no_camera_info", lost
    assert "image stamped 0.000 s" in lost[0][1] and "publish it with the image's stamp" in lost[0][1], lost[0][1]


@pytest.mark.parametrize(
    ("stamp_period_ns", "arrive_every_ns", "info_first"),
    [(5 * S // 4, 5 * S // 4, True), (S // 10, S, False)],
    ids=["0.8 Hz camera, camera_info first", "10 Hz bag at --rate 0.1, image first"],
)
def test_one_camera_info_lost_from_a_slow_camera_is_not_called_stopped(
    stamp_period_ns: int, arrive_every_ns: int, info_first: bool
) -> None:
    """A 0.8 Hz camera whose camera_info arrives just before its image, or a 10 Hz bag played with ``--rate 0.1``
    (frames 1 s apart, each camera_info just after its image, as image_transport's CameraPublisher sends them); the
    camera_info of one frame is lost (a best-effort subscription). When its image is given up (1 s after it), nothing
    came on camera_info for 2 s or more and two images came since the last one (that camera_info's own image, or the
    next frame's image, before its camera_info): one usual period (in arrival) missing, no stop. It was warned
    'camera_info stopped: nothing arrived on /cam/info for 2.2 s'; it keeps the stamps and the stamp remedy, and the
    camera_info of the next frames pairs."""
    clock, lost = FakeClock(), list[tuple[str, str]]()
    sync = watch(clock, lost, queue_size=10)
    for k in range(8):
        stamp = STAMP + k * stamp_period_ns
        clock.now_ns = k * arrive_every_ns
        if info_first and k != 4:
            sync.partner("camera_info", stamp)
        sync.report(sync.image(stamp))
        sync.poll()  # the node's poll may come between an image and its camera_info
        if not info_first and k != 4:
            clock.now_ns += 1_000_000
            sync.partner("camera_info", stamp)
        if k != 4:
            sync.paired(msg(stamp))
        for tick in range(1, arrive_every_ns // (S // 10)):  # the node's poll every 0.1 s until the next frame
            clock.now_ns = k * arrive_every_ns + tick * S // 10
            sync.poll()
    assert [reason for reason, _ in lost] == ["no_camera_info"], lost
    assert "stopped" not in lost[0][1] and "publish it with the image's stamp" in lost[0][1], lost[0][1]


@pytest.mark.parametrize("info_every", [1000, 10])
def test_a_camera_info_published_once_or_at_1_hz_is_not_called_stopped(info_every: int) -> None:
    """10 Hz images with a camera_info published once (a driver that sends it once, latched, the node already
    subscribed) or once a second (a driver that sends it on a timer): the images without one keep the remedy that
    fits, sync.mode: latest. Called 'camera_info stopped ... ended, stalled or was restarted', the once-published
    camera_info was sent to look for a dead publisher, and the 1 Hz one was stopped every second."""
    clock, lost = FakeClock(), list[tuple[str, str]]()
    sync = watch(clock, lost, queue_size=10)
    streamed(sync, clock, 60, lambda k: k % info_every == 0)
    assert len(lost) == (59 if info_every == 1000 else 54), len(lost)
    assert all("stopped" not in text and "sync.mode: latest" in text for _, text in lost), lost[-1][1]


def test_the_slop_in_nanoseconds_truncates_as_rclpys_duration_does() -> None:
    """``Duration(seconds=2.01).nanoseconds`` is 2_009_999_999 on real Humble rclpy (the synchroniser's slop)."""
    from mono_depth_ros.adapters.sync_watch import synchroniser_slop_ns

    assert [synchroniser_slop_ns(s) for s in (2.01, 1.001, 0.05, 0.0)] == [2_009_999_999, 1_000_999_999, 50_000_000, 0]
