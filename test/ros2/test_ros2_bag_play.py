"""The live node fed by ``ros2 bag play`` (how users debug with recorded data): ``--clock`` with ``use_sim_time``,
``--loop``, ``--rate``, KITTI bags written by :func:`test.kitti_bag.write_kitti_bag`; and a simulator's slow /clock."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.time import Time
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image

from mono_depth_ros.core import ros_msgs
from mono_depth_ros.evaluation.scale_rigs import START_NS
from test.bag.support import read_bag
from test.kitti_bag import KittiFrame, write_kitti_bag, write_static_correction_bag

from .harness import (
    BEST_EFFORT,
    RELIABLE,
    KittiFeeder,
    Launched,
    Probe,
    depth_array,
    node_statuses,
    running,
    started,
    wait_until,
    write_params,
)

FAST = {"output.downscale": 4}  # a quarter of KITTI's size: inference keeps up with the bag's 10 Hz on a CPU


@contextmanager
def playing(bag: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``ros2 bag play BAG ARGS`` in its own process group, stopped with Ctrl-C on leaving."""
    command = ["ros2", "bag", "play", str(bag), *args]
    player = started(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True), command)  # fmt: skip
    try:
        yield player
    finally:
        if player.poll() is None:
            os.killpg(player.pid, signal.SIGINT)
        player.wait(20)


def launch(probe: Probe, logs: Path, name: str, params: dict[str, object], **args: str) -> Launched:
    arguments = {"device": "cpu", "params_file": str(write_params(logs / f"{name}.yaml", {**FAST, **params})), **args}
    launched = Launched(arguments, logs / f"{name}.log")
    launched.wait_ready(probe)
    return launched


def node_and_bag_runner(
    probe: Probe, logs: Path, bag: Path, name: str, frames: int, timeout_s: float
) -> tuple[dict[int, Image], dict[int, Image]]:
    """/depth/image by stamp of the node (``ros2 bag play --clock --rate 0.1`` with ``use_sim_time``, the LiDAR on
    /lidar/points) and of ``mono-depth bag`` (run first, into ``bag``'s sibling ``out``), both at :data:`FAST`."""
    params = {**FAST, "lidar_topic": "/lidar/points", "device": "cpu"}
    run = subprocess.run(
        ["ros2", "run", "mono_depth_ros", "mono-depth", "bag", str(bag), str(bag.parent / "out"), "-q",
         *(arg for name, value in params.items() for arg in ("--param", f"{name}={value}"))],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    offline = {ros_msgs.stamp_to_ns(m.header.stamp): m for _, m in read_bag(bag.parent / "out")["/depth/image"]}
    depth = probe.collect(Image, "/depth/image", RELIABLE)
    launched = launch(probe, logs, name, {}, use_sim_time="true", lidar="/lidar/points")
    with running(launched, probe, depth), playing(bag, "--clock", "--rate", "0.1"):
        depth.wait_for(frames, timeout_s=timeout_s)
    return depth.by_stamp(), offline


def test_a_looped_bag_shorter_than_the_diagnostics_period_still_gets_diagnostics(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, tmp_path: Path
) -> None:
    """``ros2 bag play --clock --loop`` of a 0.2 s recording into a node with ``use_sim_time``: rcl restarts a
    ROS-time timer whenever the clock goes back before its last call, so a diagnostics period longer than the bag
    never ended (seen: depth at 10 Hz, not one ``/diagnostics`` message in 4 s)."""
    write_kitti_bag(tmp_path / "in", [kitti_frames[0]] * 3, lidar=False)
    depth = probe.collect(Image, "/depth/image", RELIABLE)
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
    params = {"diagnostics.period_s": 0.5}
    launched = launch(probe, ros_logs, "short_loop", params, use_sim_time="true", use_lidar="false")
    with running(launched, probe, depth, diagnostics):
        with playing(tmp_path / "in", "--clock", "--loop"):
            depth.wait_for(6, timeout_s=20)  # two passes
            diagnostics.clear()
            time.sleep(3.0)  # 6 periods of played time
        statuses = node_statuses(diagnostics.messages)
        assert len(statuses) >= 3, f"{len(statuses)} /diagnostics in 3 s of a looped bag, {depth.count()} depth images"
        assert int(statuses[-1]["frames_published"]) >= 6
        latencies = [float(v[key]) for v in statuses for key in ("latency_p50_ms", "latency_p95_ms")]
        assert all(not latency < 0.0 for latency in latencies), latencies  # frames of a pass before: no latency


def test_the_diagnostics_after_a_bag_played_with_clock_count_every_frame(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, tmp_path: Path
) -> None:
    """``ros2 bag play --clock`` of a 0.9 s bag into a node with ``use_sim_time``: /diagnostics went once per period of
    ROS time, and the ROS clock stops with the bag: the last status, from before the last frames were published,
    stayed the node's word for good (seen: frames_published 5 of 10). Once the clock stands still, the period counts
    steady time."""
    write_kitti_bag(tmp_path / "in", [kitti_frames[1]] * 10, lidar=False)
    depth = probe.collect(Image, "/depth/image", RELIABLE)
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
    params = {"diagnostics.period_s": 0.5}
    launched = launch(probe, ros_logs, "bag_end", params, use_sim_time="true", use_lidar="false")
    with running(launched, probe, depth, diagnostics):
        with playing(tmp_path / "in", "--clock") as player:
            player.wait(20)
        depth.wait_for(1, timeout_s=10)

        def settled() -> bool:  # the last status counts the 10 frames and the depth the probe got
            last = (node_statuses(diagnostics.messages) or [{}])[-1]
            return (int(last.get("frames_received", -1)), int(last.get("frames_published", -1))) == (10, depth.count())

        # steady time after the bag ended: the statuses go on (the worker may still be on its last frames, and their
        # depth in flight: a fixed 3 s was no bound on a loaded machine); the clock's last status stayed for good
        with suppress(AssertionError):
            wait_until(settled, 15, "a status counting the 10 frames and the depth published")
        statuses = node_statuses(diagnostics.messages)
        assert statuses, "no /diagnostics"
        last = statuses[-1]
        assert (int(last["frames_received"]), int(last["frames_published"])) == (10, depth.count()), last


def test_images_captured_between_the_steps_of_a_slow_clock_are_not_counted_unstamped(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path
) -> None:
    """A simulator publishing /clock every 2 s (0.5 Hz) and its camera at 10 Hz, stamped with the simulation's time,
    into a node with ``use_sim_time``: the node clock is the last /clock, so the images captured since are stamped
    after it by up to 2 s. Those more than 1 s after were counted frames_unstamped and warned as a camera clock ahead,
    'synchronise ... (chrony or PTP)'."""
    depth = probe.collect(Image, "/depth/image", RELIABLE)
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
    clock = probe.publisher(Clock, "/clock", RELIABLE)
    launched = launch(
        probe, ros_logs, "slow_clock", {"diagnostics.period_s": 0.5}, use_sim_time="true", use_lidar="false"
    )
    with running(launched, probe, depth, diagnostics):
        feeder = KittiFeeder(probe, kitti_frames[1:2])
        probe.wait_matched(feeder.pub_image, feeder.pub_info, clock)  # one settle: the node's readers are best effort
        for _ in range(3):  # the first /clock (thrice: the node's subscription is best effort) before any image
            clock.publish(Clock(clock=Time(nanoseconds=START_NS).to_msg()))
            time.sleep(0.1)
        for k in range(50):  # 5 s of simulation, in step with the wall time
            if k % 20 == 0:
                clock.publish(Clock(clock=Time(nanoseconds=START_NS + k * 100_000_000).to_msg()))
                time.sleep(0.05)  # the /clock before the image captured at its time
            feeder.publish_image(k, START_NS + k * 100_000_000)
            time.sleep(0.1)
        clock.publish(Clock(clock=Time(nanoseconds=START_NS + 50 * 100_000_000).to_msg()))  # diagnostics go on
        depth.wait_for(1, timeout_s=10)

        def settled() -> dict[str, str]:  # the last status counts the depth the probe got
            last = (node_statuses(diagnostics.messages) or [{}])[-1]
            return last if int(last.get("frames_published", -1)) == depth.count() else {}

        wait_until(lambda: bool(settled()), 15, "a status counting the depth published")
        last = settled()
        warned = [line for line in launched.log.splitlines() if "frames_unstamped" in line]
        assert int(last["frames_published"]) >= 20, last  # (before the fix: 18 of them unstamped)
        assert last["frames_unstamped"] == "0" and not warned, (last, warned)


@pytest.mark.parametrize("extrinsic_on", ["tf_static", "tf"])
def test_each_pass_of_a_short_looped_bag_gives_the_depth_of_the_first(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, tmp_path: Path, extrinsic_on: str
) -> None:
    """``ros2 bag play --clock --loop`` of a 0.4 s recording (two KITTI scenes, one calibration, LiDAR) into a node
    with ``use_sim_time``: the clock goes back 0.4 s at every pass, less than the 1 s that stamps alone must go back
    to be a jump, and the scale filter carried the last pass's state into the next (seen: the second pass's first
    depth image 4 % off the first pass's, and off the bag runner's). tf2_ros' C++ buffer takes any jump back of the
    ROS clock as a reset; the node too. Played at a quarter of the recorded rate, so that no frame is dropped. With
    the LiDAR extrinsic on ``/tf`` (10 Hz, from 0.2 s before the first image), the node's TF buffer is cleared at the
    new pass's first frame (the old pass's kept under 1 s back): the new pass's own transforms that came before that
    frame are kept, and its depth is still the first pass's."""
    frames = [kitti_frames[1], kitti_frames[2]] * 2 + [kitti_frames[1]]  # 1 and 2: one calib
    write_kitti_bag(tmp_path / "in", frames, tf_around=None if extrinsic_on == "tf_static" else range(len(frames)))
    depth = probe.collect(Image, "/depth/image", RELIABLE)
    launched = launch(probe, ros_logs, f"loop_passes_{extrinsic_on}", {}, use_sim_time="true", lidar="/lidar/points")
    with running(launched, probe, depth), playing(tmp_path / "in", "--clock", "--loop", "--rate", "0.25"):
        depth.wait_for(10, timeout_s=30)  # two passes
    passes: list[dict[int, Image]] = [{}]
    for message in depth.messages:
        stamp = ros_msgs.stamp_to_ns(message.header.stamp)
        if stamp in passes[-1]:
            passes.append({})
        passes[-1][stamp] = message
    first, second = passes[0], passes[1]
    assert len(first) == 5 and set(second) <= set(first), (len(first), len(second))  # none dropped in the first
    assert len(second) >= 3
    for stamp, message in second.items():
        np.testing.assert_array_equal(depth_array(message), depth_array(first[stamp]), err_msg=f"stamp {stamp}")
    told = [line for line in launched.log.splitlines() if "ROS time went back" in line]  # the restart said, once a jump
    back_s = (max(first) - min(second)) / 1e9  # 0.4 s; less where the second pass's first frame was dropped
    assert told and f"({back_s:.3f} s back; the ROS clock went back too" in told[0], (back_s, told)
    assert all("s back; the ROS clock went back too" in line for line in told), told


def test_scans_after_their_images_pair_as_in_the_bag_runner_at_a_tenth_of_the_rate(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, tmp_path: Path
) -> None:
    """``ros2 bag play --clock --rate 0.1`` into the node with ``use_sim_time``: each scan is stamped and recorded
    30 ms after its image (a LiDAR publishes its sweep after the camera's frame), 0.3 s of wall time at a tenth of
    the rate, past ``lidar.wait_s`` (0.2 s): the frames waited in wall time, went on without their scan and took the
    one before (70 ms off; seen: depth 12-29 % off the bag runner's, which pairs by stamp). Waits now count played
    time while the ROS clock moves."""
    frames = [kitti_frames[1], kitti_frames[2]] * 2  # one calibration
    written = write_kitti_bag(tmp_path / "in", frames, lidar_offset_ns=30_000_000)
    live, offline = node_and_bag_runner(probe, ros_logs, tmp_path / "in", "slow_play", len(written), 30)
    assert set(live) == set(offline) == {frame.stamp_ns for frame in written}
    for stamp, message in live.items():
        np.testing.assert_allclose(depth_array(message), depth_array(offline[stamp]), rtol=1e-5, err_msg=f"{stamp}")


def test_frames_10_s_apart_played_without_clock_pair_each_scan_as_the_bag_runner(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, tmp_path: Path
) -> None:
    """``mono-depth demo --kitti``'s input bag's layout (frames 10 s apart, each scan stamped as its image and
    recorded 3 ms after it) played with plain ``ros2 bag play``: with one scan at hand (the scan period unknown) the
    node took the first scan, 10 s behind the second image, as a LiDAR on another clock and sent that image at once
    without its scan, which the bag runner pairs (its depth off the bag runner's; warned 'the LiDAR stopped, or ...
    different clocks'). Every frame now matches the bag runner's, and nothing is warned."""
    frames = [kitti_frames[1], kitti_frames[2], kitti_frames[1]]  # one calibration
    written = write_kitti_bag(tmp_path / "in", frames, period_ns=10_000_000_000, lidar_offset_ns=0)
    params = {**FAST, "lidar_topic": "/lidar/points", "device": "cpu"}
    run = subprocess.run(
        ["ros2", "run", "mono_depth_ros", "mono-depth", "bag", str(tmp_path / "in"), str(tmp_path / "out"), "-q",
         *(arg for name, value in params.items() for arg in ("--param", f"{name}={value}"))],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    offline = {ros_msgs.stamp_to_ns(m.header.stamp): m for _, m in read_bag(tmp_path / "out")["/depth/image"]}
    depth = probe.collect(Image, "/depth/image", RELIABLE)
    launched = launch(probe, ros_logs, "ten_s_apart", {}, lidar="/lidar/points")
    with running(launched, probe, depth), playing(tmp_path / "in"):
        depth.wait_for(len(written), timeout_s=60)
    live = depth.by_stamp()
    assert set(live) == set(offline) == {frame.stamp_ns for frame in written}
    for stamp, message in live.items():
        np.testing.assert_allclose(depth_array(message), depth_array(offline[stamp]), rtol=1e-5, err_msg=f"{stamp}")
    assert "LiDAR scan not used" not in launched.log, launched.log[-3000:]


def recorded_without_qos(bag: Path, topic: str) -> None:
    """Leave ``topic``'s offered QoS out of a sqlite3 bag (its table and metadata.yaml), as a bag converted from ROS 1
    or written by a tool that records no QoS."""
    import sqlite3

    import yaml

    (storage,) = bag.glob("*.db3")
    with sqlite3.connect(storage) as db:
        db.execute("UPDATE topics SET offered_qos_profiles = '' WHERE name = ?", (topic,))
    metadata = yaml.safe_load((bag / "metadata.yaml").read_text())
    for entry in metadata["rosbag2_bagfile_information"]["topics_with_message_count"]:
        if entry["topic_metadata"]["name"] == topic:
            entry["topic_metadata"]["offered_qos_profiles"] = ""
    (bag / "metadata.yaml").write_text(yaml.safe_dump(metadata))


def test_a_bag_whose_tf_static_was_recorded_without_qos_is_named_with_the_override_that_plays_it(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, tmp_path: Path
) -> None:
    """``ros2 bag play`` offers a topic recorded without QoS as volatile: tf2's TransformListener subscribes
    /tf_static transient local and gets nothing from it; every frame lost its LiDAR scale to 'frame does not exist'
    (rclpy's 'incompatible QoS' named no topic's remedy). The node names the publisher and the override; played with
    it, the LiDAR scale is back."""
    write_kitti_bag(tmp_path / "in", [kitti_frames[1], kitti_frames[2]] * 5)  # one calibration
    recorded_without_qos(tmp_path / "in", "/tf_static")
    override = tmp_path / "qos.yaml"
    override.write_text("/tf_static:\n  durability: transient_local\n  history: keep_all\n")
    diagnostics = probe.collect(DiagnosticArray, "/diagnostics", RELIABLE)
    launched = launch(probe, ros_logs, "volatile_tf_static", {}, lidar="/lidar/points")
    with running(launched, probe, diagnostics):
        with playing(tmp_path / "in", "--rate", "0.5") as player:
            player.wait(20)
        wait_until(lambda: "--qos-profile-overrides-path" in launched.log, 10, "the warning about /tf_static")
        (warning,) = [line for line in launched.log.splitlines() if "--qos-profile-overrides-path" in line]
        assert "/tf_static" in warning and "volatile" in warning and "transient_local" in warning, warning
        diagnostics.clear()
        with playing(tmp_path / "in", "--rate", "0.5", "--qos-profile-overrides-path", str(override)) as player:
            player.wait(20)
        modes = {v.get("scale_mode") for v in node_statuses(diagnostics.messages)}
        assert "lidar" in modes, modes


def test_the_temporal_filter_starts_each_pass_of_a_looped_bag_anew_without_clock(
    probe: Probe, ros_logs: Path, tmp_path: Path
) -> None:
    """``ros2 bag play --loop`` (no ``--clock``) of the demo's synthetic drive (1.1 s: camera, LiDAR, odometry /tf)
    into the node with ``temporal.enabled``: the stamps go back 1.1 s at each pass; the scale restarted, the temporal
    filter kept the last pass's history (seen: the second pass's first depth image 8 % off the first pass's)."""
    from mono_depth_ros.core.synthetic import kitti_like_intrinsics
    from mono_depth_ros.demo.synthetic_bag import write_synthetic_bag

    write_synthetic_bag(tmp_path / "in", 0, 12, kitti_like_intrinsics(320, 96))
    depth = probe.collect(Image, "/depth/image", RELIABLE)
    params = {"temporal.enabled": True, "temporal.fixed_frame": "map", "output.downscale": 1}
    launched = launch(probe, ros_logs, "temporal_loop", params, lidar="/lidar/points")
    with running(launched, probe, depth), playing(tmp_path / "in", "--loop", "--rate", "0.25"):
        depth.wait_for(15, timeout_s=40)
    passes: list[dict[int, Image]] = [{}]
    for message in depth.messages:
        stamp = ros_msgs.stamp_to_ns(message.header.stamp)
        if stamp in passes[-1]:
            passes.append({})
        passes[-1][stamp] = message
    assert len(passes[0]) == 12 and len(passes[1]) >= 3, [len(p) for p in passes]
    for stamp, message in passes[1].items():
        np.testing.assert_array_equal(depth_array(message), depth_array(passes[0][stamp]), err_msg=f"stamp {stamp}")
    told = [line for line in launched.log.splitlines() if "ROS time went back" in line]  # the restart said, once a jump
    assert 1 <= len(told) <= len(passes) - 1, told
    back_s = (max(passes[0]) - min(passes[1])) / 1e9  # 1.1 s; less where the second pass's first frame was dropped
    assert f"({back_s:.3f} s back; a bag played with --loop or again without --clock" in told[0], (back_s, told)
    assert all("s back; a bag played with --loop or again without --clock" in line for line in told), told


@pytest.mark.parametrize("after_s", [-0.2, -0.1, 100.0], ids=["older", "same", "after_every_image"])
def test_a_tf_static_correction_stamped_before_the_first_value_applies_from_its_arrival_as_in_the_bag_runner(
    probe: Probe, kitti_frames: list[KittiFrame], ros_logs: Path, tmp_path: Path, after_s: float
) -> None:
    """A /tf_static extrinsic 3 m off, corrected by a value recorded before the fourth image but stamped before the
    first value, with its stamp, or after every image (``after_s`` from the first image; the first value is stamped
    0.1 s before it; :func:`test.kitti_bag.write_static_correction_bag`): tf2 keeps the static value received last,
    whatever its stamp, so the node places the first three scans with the wrong extrinsic and the last three with the
    right one. The bag runner ordered static values by stamp and kept the wrong one for every frame (seen offline:
    AbsRel 0.12 against the LiDAR on the last three); then it let one with the first value's stamp replace it for
    every frame and never applied one stamped after every image. Played at a tenth of the rate (the correction
    arrives 0.5 s of wall time before the fourth image), the node's depth equals the bag runner's on every frame."""
    stamps = write_static_correction_bag(
        tmp_path / "in",
        kitti_frames[1],
        n_frames=6,
        corrected_at=3,
        correction_stamp_ns=START_NS + round(after_s * 1e9),
    )
    live, offline = node_and_bag_runner(
        probe, ros_logs, tmp_path / "in", f"static_correction{after_s:+g}", len(stamps), 40
    )
    assert set(live) == set(offline) == set(stamps)
    for stamp, message in live.items():
        np.testing.assert_allclose(depth_array(message), depth_array(offline[stamp]), rtol=1e-5, err_msg=f"{stamp}")


def test_the_runners_copy_of_a_bag_with_a_recorded_clock_plays_with_one_clock(probe: Probe, tmp_path: Path) -> None:
    """``mono-depth bag IN OUT --copy-inputs`` of a bag with a recorded /clock. One that is the bag's time (here 0.9 s
    behind it, within CLOCK_AGREES_NS): played with ``ros2 bag play --clock``, Humble's player publishes its own
    /clock and the recorded one (two publishers, the time jumping between them: what IN shows, and what OUT showed
    while /clock was copied); OUT plays with the player's clock alone. One that is a simulator's time (1000 s
    behind): OUT keeps it and plays as IN, without --clock, with that one timeline (left out, OUT had no /clock)."""
    from test.bag.support import add_recorded_clock, write_tiny_bag

    write_tiny_bag(tmp_path / "plain", 30, lidar=False)
    params = {"model.backend": "external", "model.output_kind": "metric", "scale.mode": "none"}

    def copied(name: str, behind_ns: int) -> Path:
        """IN (``plain`` with a /clock ``behind_ns`` behind its bag time) and the runner's --copy-inputs OUT of it."""
        bag = tmp_path / f"{name}_in"
        add_recorded_clock(tmp_path / "plain", bag, behind_ns)
        run = subprocess.run(
            ["ros2", "run", "mono_depth_ros", "mono-depth", "bag", str(bag), str(tmp_path / f"{name}_out"), "-q",
             "--copy-inputs", *(arg for name, value in params.items() for arg in ("--param", f"{name}={value}"))],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        return bag

    def played(bag: Path, behind_ns: int, *args: str) -> tuple[int, set[bool]]:
        """Publishers on /clock the player adds while ``bag`` plays (those there before it not counted: the probe's
        own /clock publisher, made by an earlier test of this module, stays in the graph), and whether each /clock
        heard was behind the bag's time."""
        before = probe.node.get_publishers_info_by_topic("/clock")
        clocks = probe.collect(Clock, "/clock", BEST_EFFORT)
        try:
            with playing(bag, *args, "--rate", "0.1"):  # 3 s of bag: 30 s of play, the first 0.45 s in 4.5 s
                clocks.wait_for(20, timeout_s=15)
                during = probe.node.get_publishers_info_by_topic("/clock")
                publishers = len(during) - len(before)
                print(
                    f"/clock publishers before {[i.node_name for i in before]}, during {[i.node_name for i in during]}"
                )
                time.sleep(2)
        finally:
            probe.drop(clocks)
        return publishers, {Time.from_msg(m.clock).nanoseconds < START_NS - behind_ns / 2 for m in clocks.messages}

    agrees = copied("agrees", 900 * 10**6)
    # the player's clock and the recorded one, 0.9 s apart
    assert played(agrees, 900 * 10**6, "--clock") == (2, {False, True})
    assert played(tmp_path / "agrees_out", 900 * 10**6, "--clock") == (1, {False})
    simulator = copied("simulator", 1000 * 10**9)
    assert played(simulator, 1000 * 10**9, "--clock") == (2, {False, True})
    assert played(tmp_path / "simulator_out", 1000 * 10**9) == (1, {True})  # the simulator's clock alone
