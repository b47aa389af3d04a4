"""`mono-depth bag` end to end on real KITTI frames: the acceptance checks, input variants, and failures.

Input bags come from test/kitti_bag.py (Image / CompressedImage, CameraInfo with P2, Velodyne PointCloud2, /tf_static
from the calib, optional external prediction); outputs are read back with rosbags and checked for topics, stamps,
frame ids, encodings, cloud layout, NaN semantics and metric accuracy against the LiDAR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mono_depth_ros.cli import main
from mono_depth_ros.core.point_fields import FLOAT32
from mono_depth_ros.core.ros_msgs import depth_image_to_metres, pointcloud2_to_structured, stamp_to_ns
from test.bag.support import VENDOR_TOPIC, VENDOR_TYPE, read_bag, record_on_jazzy
from test.kitti_bag import (
    CAMERA_FRAME,
    BagFrame,
    KittiFrame,
    load_kitti_frames,
    write_depth_gt_bag,
    write_kitti_bag,
)

ACCEPT_EXTERNAL = [
    "--param", "model.backend=external", "--param", "model.output_kind=relative_inverse",
    "--param", "prediction_topic=/depth_model/prediction", "--param", "lidar_topic=/lidar/points",
    "--param", "scale.mode=lidar",
]  # fmt: skip
OUTPUTS = {"/depth/image", "/depth/camera_info", "/depth/points", "/diagnostics"}


@pytest.fixture(scope="module")
def kitti_frames(kitti_object_dir: Path) -> list[KittiFrame]:
    return load_kitti_frames(kitti_object_dir)


def _check_outputs(
    out: dict[str, list[tuple[int, Any]]], written: list[BagFrame], encoding: str = "32FC1", downscale: int = 1
) -> None:
    """Topics, stamps, frame ids, encodings, camera_info size, cloud layout and NaN semantics of every frame
    (published at 1/``downscale`` of the camera resolution)."""
    assert OUTPUTS - {"/diagnostics"} <= set(out)
    assert len(out["/depth/image"]) == len(out["/depth/camera_info"]) == len(out["/depth/points"]) == len(written)
    for bag_frame, (_, image), (_, info), (_, cloud) in zip(
        written, out["/depth/image"], out["/depth/camera_info"], out["/depth/points"], strict=True
    ):
        for message in (image, info, cloud):
            assert stamp_to_ns(message.header.stamp) == bag_frame.stamp_ns
            assert message.header.frame_id == CAMERA_FRAME
        height, width = (side // downscale for side in bag_frame.frame.rgb.shape[:2])
        assert (image.encoding, image.width, image.height) == (encoding, width, height)
        assert (info.width, info.height) == (image.width, image.height)
        intrinsics = bag_frame.frame.intrinsics.resized(width, height) if downscale > 1 else bag_frame.frame.intrinsics
        np.testing.assert_allclose(info.p.reshape(3, 4)[:, :3], intrinsics.matrix)
        fields = {f.name: (f.offset, f.datatype, f.count) for f in cloud.fields}
        assert fields == {"x": (0, FLOAT32, 1), "y": (4, FLOAT32, 1), "z": (8, FLOAT32, 1)}
        assert (cloud.height, cloud.width, cloud.is_dense, cloud.is_bigendian) == (height, width, False, False)
        depth_m = depth_image_to_metres(image)
        points = pointcloud2_to_structured(cloud)
        finite = np.isfinite(depth_m)
        # the cloud is NaN exactly where the depth image is invalid (16UC1: 0, also past 65.535 m) and holds its
        # values (16UC1: whole millimetres), as depth_image_proc's cloud from our image would
        assert np.array_equal(np.isnan(points["z"]), ~finite)
        np.testing.assert_array_equal(points["z"][finite], depth_m[finite].astype(np.float32))
        assert np.array_equal(np.isnan(points["x"]), np.isnan(points["z"]))


def _abs_rel_to_lidar(depth_m: np.ndarray, frame: KittiFrame) -> float:
    valid = np.isfinite(depth_m) & np.isfinite(frame.lidar_depth_m)
    assert valid.sum() > 10_000
    return float(np.median(np.abs(depth_m[valid] - frame.lidar_depth_m[valid]) / frame.lidar_depth_m[valid]))


def test_external_relative_inverse_with_lidar_gives_metric_depth(
    tmp_path: Path, kitti_frames: list[KittiFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    written = write_kitti_bag(tmp_path / "in", kitti_frames, prediction="relative_inverse")
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet", *ACCEPT_EXTERNAL]) == 0
    report = capsys.readouterr().out
    assert "frames in 3, out 3, skipped 0" in report
    assert "transform looks wrong" not in report  # KITTI's own calibration is quiet
    metadata = yaml.safe_load((tmp_path / "out" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert metadata["version"] == 8 and metadata["storage_identifier"] == "sqlite3"
    out = read_bag(tmp_path / "out")
    assert set(out) == OUTPUTS
    _check_outputs(out, written)
    for bag_frame, (_, image) in zip(written, out["/depth/image"], strict=True):
        depth_m = depth_image_to_metres(image)
        assert not np.isneginf(depth_m).any()
        assert _abs_rel_to_lidar(depth_m, bag_frame.frame) < 0.005  # scale + shift from the LiDAR, every frame


def test_the_ground_plane_scale_takes_the_cameras_height_and_pitch_from_tf_static(
    tmp_path: Path, kitti_frames: list[KittiFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    """Real KITTI frame 000000 (external depth_up_to_scale prediction: its Velodyne depth, densified; true scale 1),
    ``scale.mode=ground_plane`` with KITTI's nominal 1.65 m and 0° as parameters, and /tf_static holding
    base_footprint <- camera_optical at the height and pitch of the frame's scanned road (1.69 m, 1.4° down). The
    parameters alone give depth 10 % long; with ``scale.ground_frame=base_footprint`` the bag runner reads TF's
    pose (within 1 %) and warns once that the parameters disagree, naming both."""
    import math

    from mono_depth_ros.core.geometry import RigidTransform
    from mono_depth_ros.core.synthetic import SensorRig

    rig = SensorRig(camera_height_m=1.69, camera_pitch_rad=math.radians(1.4))
    footprint = RigidTransform(
        rig.base_from_cam.rotation, rig.base_from_cam.translation, "base_footprint", CAMERA_FRAME
    )
    bag_kwargs: dict[str, Any] = {"prediction": "metric", "lidar": False, "static_extra": [footprint]}
    written = write_kitti_bag(tmp_path / "in", kitti_frames[:1], **bag_kwargs)
    params = [
        "model.backend=external",
        "model.output_kind=depth_up_to_scale",
        "lidar_topic=",
        "scale.mode=ground_plane",
    ]
    params += ["prediction_topic=/depth_model/prediction", "scale.camera_height_m=1.65", "scale.camera_pitch_rad=0.0"]
    ratios = {}
    for name, extra in (("parameters", []), ("tf", ["scale.ground_frame=base_footprint"])):
        cli = [arg for p in (*params, *extra) for arg in ("--param", p)]
        assert main(["bag", str(tmp_path / "in"), str(tmp_path / name), "--quiet", *cli]) == 0
        report = capsys.readouterr()
        ((_, image),) = read_bag(tmp_path / name)["/depth/image"]
        depth_m, truth = depth_image_to_metres(image), written[0].frame.lidar_depth_m
        valid = np.isfinite(depth_m) & np.isfinite(truth)
        ratios[name] = float(np.median(depth_m[valid] / truth[valid])) - 1.0
        warned = "TF base_footprint <- camera_optical puts the camera 1.690 m above the ground" in report.out
        assert warned == (name == "tf"), report.out
        assert "scale health: ok 1" in report.out  # a wrong height or pitch is no less 'ok'
    assert "warning     1 x ground_frame.disagrees: TF base_footprint <- camera_optical" in report.out
    assert "scale.camera_height_m=1.65 m and scale.camera_pitch_rad=0 (+0.00°)" in report.out
    assert ratios["parameters"] > 0.08 and abs(ratios["tf"]) < 0.01, ratios


def test_a_ground_frame_tf_does_not_hold_is_an_unused_input_not_a_lost_image(
    tmp_path: Path, kitti_frames: list[KittiFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    """``scale.ground_frame`` naming a frame the bag's TF does not hold (real KITTI frame 000000): the frame takes
    the parameters' prior and is written; the output's /diagnostics counts it in
    ``inputs_unused.ground_frame.no_transform`` (as the node does), not among the image outcomes: received ==
    published + bad_messages, as every status of the node promises."""
    write_kitti_bag(tmp_path / "in", kitti_frames[:1], prediction="metric", lidar=False)
    params = ["model.backend=external", "model.output_kind=depth_up_to_scale", "lidar_topic="]
    params += ["scale.mode=ground_plane", "scale.ground_frame=base_footprint"]
    params += ["prediction_topic=/depth_model/prediction"]
    cli = [arg for p in params for arg in ("--param", p)]
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet", *cli]) == 0
    report = capsys.readouterr()
    assert "1 x ground_frame.no_transform: no TF base_footprint <- camera_optical" in report.out, report.out
    output = read_bag(tmp_path / "out")
    assert len(output["/depth/image"]) == 1
    values = {kv.key: kv.value for kv in output["/diagnostics"][-1][1].status[0].values}
    assert values["frames_received"] == values["frames_published"] == "1" and values["bad_messages"] == "0", values
    assert values["inputs_unused.ground_frame.no_transform"] == values["inputs_unused"] == "1", values


def test_the_output_bags_last_status_counts_every_frame_of_the_run(
    tmp_path: Path, kitti_frames: list[KittiFrame]
) -> None:
    """Two real KITTI frames 0.1 s apart, ``diagnostics.period_s`` 1: a status at the first frame, and the last one
    (at the last frame's stamp) counts both; a status per period only said 1 received of 2, for good."""
    written = write_kitti_bag(tmp_path / "in", kitti_frames[:2], prediction="metric", lidar=False)
    params = ["model.backend=external", "model.output_kind=metric", "scale.mode=none", "lidar_topic="]
    params += ["prediction_topic=/depth_model/prediction"]
    cli = [arg for p in params for arg in ("--param", p)]
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet", *cli]) == 0
    statuses = read_bag(tmp_path / "out")["/diagnostics"]
    assert [stamp_to_ns(m.header.stamp) for _, m in statuses] == [f.stamp_ns for f in written], statuses
    values = {kv.key: kv.value for kv in statuses[-1][1].status[0].values}
    assert values["frames_received"] == values["frames_published"] == str(len(written)), values
    assert int(values["frames_received"]) == int(values["frames_published"]) + int(values["bad_messages"]), values


@pytest.mark.parametrize(
    ("variant", "bag_kwargs", "cli"),
    [
        ("bgr8-mcap-jazzy", {"image_encoding": "bgr8", "storage": "mcap", "distro": "jazzy"},
         ["--storage", "mcap", "--distro", "jazzy", "--copy-inputs"]),
        ("compressed-16UC1", {"compressed": True, "prediction_encoding": "16UC1"},
         ["--param", "output.encoding=16UC1"]),
    ],
)  # fmt: skip
def test_input_variants(
    tmp_path: Path, kitti_frames: list[KittiFrame], variant: str, bag_kwargs: dict[str, Any], cli: list[str]
) -> None:
    written = write_kitti_bag(tmp_path / "in", kitti_frames[1:], prediction="relative_inverse", **bag_kwargs)
    source = tmp_path / "in"
    if bag_kwargs.get("storage") == "mcap":
        (source,) = (tmp_path / "in").glob("*.mcap")  # a bare .mcap file is accepted too
    assert main(["bag", str(source), str(tmp_path / "out"), "--quiet", *ACCEPT_EXTERNAL, *cli]) == 0
    out = read_bag(tmp_path / "out", bag_kwargs.get("distro", "humble"))
    encoding = "16UC1" if "16UC1" in variant else "32FC1"
    _check_outputs(out, written, encoding)
    if "--copy-inputs" in cli:
        assert {"/camera/image_raw", "/camera/camera_info", "/lidar/points", "/tf_static"} <= set(out)
    for bag_frame, (_, image) in zip(written, out["/depth/image"], strict=True):
        assert _abs_rel_to_lidar(depth_image_to_metres(image), bag_frame.frame) < 0.05


@pytest.mark.parametrize(("storage", "undefined_encoding"), [("sqlite3", ""), ("mcap", "unknown")])
def test_a_bag_recorded_on_jazzy(
    tmp_path: Path,
    kitti_frames: list[KittiFrame],
    storage: str,
    undefined_encoding: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Metadata version 9, a vendor topic recorded without its definition, and (MCAP) the fastwrite preset's unchunked
    messages out of log-time order: before, the whole bag was refused as "truncated or corrupt" (exit code 2)."""
    written = write_kitti_bag(tmp_path / "in", kitti_frames[:2], prediction="relative_inverse", distro="jazzy")
    source = record_on_jazzy(tmp_path / "in", tmp_path / "jazzy", storage, undefined_encoding)
    cli = ["--quiet", "--distro", "jazzy", "--copy-inputs", *ACCEPT_EXTERNAL]
    assert main(["bag", str(source), str(tmp_path / "out"), *cli]) == 0
    printed = capsys.readouterr().out
    assert "frames in 2, out 2, skipped 0" in printed
    assert f"{VENDOR_TOPIC} ({VENDOR_TYPE}) has no message definition in the typestore, nor one in the bag" in printed
    out = read_bag(tmp_path / "out", "jazzy")
    _check_outputs(out, written)
    assert {"/camera/image_raw", "/camera/camera_info", "/lidar/points", "/tf_static"} <= set(out)
    for bag_frame, (_, image) in zip(written, out["/depth/image"], strict=True):
        assert _abs_rel_to_lidar(depth_image_to_metres(image), bag_frame.frame) < 0.005


def test_network_backend_with_lidar(tmp_path: Path, kitti_frames: list[KittiFrame]) -> None:
    """The first acceptance command (network + LiDAR); a random-weight tiny unet stands in for the shipped model."""
    import torch

    from mono_depth_ros.core.errors import CheckpointError
    from mono_depth_ros.models.checkpoint import save_checkpoint
    from mono_depth_ros.models.depth_source import default_weights
    from mono_depth_ros.models.registry import build_model
    from mono_depth_ros.models.unet import make_unet_spec

    torch.manual_seed(0)
    spec = make_unet_spec("resnet18", "tiny")
    weights = save_checkpoint(tmp_path / "tiny.safetensors", build_model(spec).state_dict(), spec)
    written = write_kitti_bag(tmp_path / "in", kitti_frames[1:2])
    try:
        default_weights()
        model_args: list[str] = []  # the shipped default model exists: run the acceptance command as it is
    except CheckpointError:
        model_args = ["--param", f"model.weights={weights}", "--param", "model.golden_check=warn"]
    command = ["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet", "--param", "lidar_topic=/lidar/points"]
    assert main([*command, "--param", "device=cpu", *model_args]) == 0
    # output.downscale auto: a 96x320 network on a 375x1242 camera publishes at 1/3 (125x414)
    _check_outputs(read_bag(tmp_path / "out"), written, downscale=3)


def test_external_metric_prediction_is_passed_through(tmp_path: Path, kitti_depth_dir: Path) -> None:
    truth = write_depth_gt_bag(tmp_path / "in", kitti_depth_dir)
    params = ["--param", "model.backend=external", "--param", "model.output_kind=metric", "--param", "scale.mode=none"]
    params += ["--param", "output.edge_filter=false"]
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet", *params]) == 0
    out = read_bag(tmp_path / "out")
    for (stamp_ns, gt_m), (_, image) in zip(truth, out["/depth/image"], strict=True):
        assert stamp_to_ns(image.header.stamp) == stamp_ns
        depth_m = depth_image_to_metres(image)
        has_gt = np.isfinite(gt_m)
        near = has_gt & (gt_m < 65.5)  # the prediction travels as 16UC1 mm: past 65.535 m it reads 0 (invalid)
        np.testing.assert_allclose(depth_m[near], gt_m[near], atol=1e-3)
        assert np.isnan(depth_m[~has_gt | (gt_m > 65.54)]).all()  # no prediction: NaN, never 0


def test_corrupt_bag_and_wrong_weights_exit_2_without_traceback(
    tmp_path: Path, kitti_frames: list[KittiFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    write_kitti_bag(tmp_path / "in", kitti_frames[:1])
    (db3,) = (tmp_path / "in").glob("*.db3")
    db3.write_bytes(b"not a database, not a bag" * 4000)  # nothing to salvage (a truncated one is: test_integrity)
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"error: cannot read bag {tmp_path / 'in'}" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()

    db3.write_bytes(b"")  # cut before anything
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet"]) == 2
    assert "Traceback" not in capsys.readouterr().err

    write_kitti_bag(tmp_path / "in2", kitti_frames[:1])
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    for weights in (tmp_path / "missing.safetensors", bad):
        command = ["bag", str(tmp_path / "in2"), str(tmp_path / "out"), "-q", "--param", f"model.weights={weights}"]
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "mono-depth bag: error: " in err and str(weights) in err and "Traceback" not in err
        assert not (tmp_path / "out").exists()


def test_strict_exit_code_and_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test.bag.support import write_tiny_bag

    write_tiny_bag(
        tmp_path / "in",
        2,
        mutate=lambda topic, index, msg: None if (topic, index) == ("/depth_model/prediction", 1) else msg,
    )
    config = tmp_path / "depth.yaml"
    parameters = {"model": {"backend": "external", "output_kind": "metric"}, "scale": {"mode": "none"}}
    config.write_text(yaml.safe_dump({"/**": {"ros__parameters": parameters}}))
    common = ["bag", str(tmp_path / "in"), "--config", str(config), "-q"]
    assert main([*common, str(tmp_path / "out1")]) == 0
    assert "frames in 2, out 1, skipped 1" in capsys.readouterr().out
    assert main([*common, str(tmp_path / "out2"), "--strict"]) == 1
    assert "skipped     1 x no prediction" in capsys.readouterr().out


def test_a_lidar_transform_rolled_180_is_named_once_in_the_summary_and_diagnostics(
    tmp_path: Path, kitti_frames: list[KittiFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    """/tf_static camera_optical <- velodyne rolled 180° about the optical axis (a camera or LiDAR upside down in TF):
    the LiDAR scale of the first scans, the only ones before the check's verdict, is all the bag runner uses."""
    from dataclasses import replace

    from mono_depth_ros.core.geometry import RigidTransform

    roll = RigidTransform(np.diag([-1.0, -1.0, 1.0]), np.zeros(3), CAMERA_FRAME, CAMERA_FRAME)
    rolled = [replace(f, cam_from_velo=roll @ f.cam_from_velo) for f in kitti_frames]
    write_kitti_bag(tmp_path / "in", [*rolled, *rolled], prediction="relative_inverse")
    every_frame = ["--param", "diagnostics.period_s=0.1"]
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet", *ACCEPT_EXTERNAL, *every_frame]) == 0
    report = capsys.readouterr().out
    assert report.count("lidar: transform looks wrong") == 1, report
    assert "rolled 180° about the optical axis" in report or "upside down" in report
    assert "Remedy:" in report
    _, last = read_bag(tmp_path / "out")["/diagnostics"][-1]
    status = last.status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert values["lidar_extrinsic"] in ("roll_180", "lidar_upside_down") and values["scale_health"] != "ok"
    assert status.level == 1 and "transform looks wrong" in status.message


def test_a_static_transform_given_in_degrees_is_named_in_the_summary(
    tmp_path: Path, kitti_frames: list[KittiFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    """camera_optical <- velodyne published as --roll 90 --pitch -90 (KITTI's rotation in degrees, read as radians):
    a rotation of -116.6° / 116.6° that nothing else flagged."""
    from dataclasses import replace

    import transforms3d.euler as te

    from mono_depth_ros.core.geometry import RigidTransform

    def in_degrees(frame: KittiFrame) -> KittiFrame:
        t = frame.cam_from_velo
        return replace(frame, cam_from_velo=RigidTransform(te.euler2mat(90, -90, 0), t.translation, *_frames(t)))

    write_kitti_bag(tmp_path / "in", [in_degrees(f) for f in kitti_frames[:1]], prediction="relative_inverse")
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet", *ACCEPT_EXTERNAL]) == 0
    report = capsys.readouterr().out
    assert report.count("tf: angles in degrees?") == 1, report
    assert "roll 90, pitch -90 given in degrees" in report and "--roll 1.5708 --pitch -1.5708" in report


def _frames(t: Any) -> tuple[str, str]:
    return t.dst_frame, t.src_frame


@pytest.mark.parametrize("motion_frame", ["", "camera_optical"])
def test_a_lidar_recalibrated_on_tf_static_mid_bag_gets_its_new_scale_at_once(
    tmp_path: Path, kitti_frames: list[KittiFrame], motion_frame: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """KITTI 000001 six times with /tf_static placing the LiDAR 30 cm too low, then three times recalibrated (the
    true transform republished on /tf_static); the prediction is the scan's own depth declared depth_up_to_scale.
    The scale filter held the wrong transform's scale (13.7 % long) and gated the new one out: two frames published
    ``last_good`` 13.7 % long. Now the first recalibrated frame has the new transform's scale, with and without
    ``lidar.motion_frame`` (whose extrinsic is looked up through the motion frame)."""
    import dataclasses

    from mono_depth_ros.core.geometry import RigidTransform

    true = kitti_frames[1]
    low = RigidTransform(np.eye(3), np.array([0.0, 0.3, 0.0]), true.cam_from_velo.dst_frame, "camera_optical")
    wrong = dataclasses.replace(true, cam_from_velo=low @ true.cam_from_velo)
    write_kitti_bag(tmp_path / "in", [wrong] * 6 + [true] * 3, prediction="metric")
    params = ["model.backend=external", "model.output_kind=depth_up_to_scale", f"lidar.motion_frame={motion_frame}"]
    params += ["prediction_topic=/depth_model/prediction", "lidar_topic=/lidar/points"]
    cli = [arg for p in params for arg in ("--param", p)]
    assert main(["bag", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet", *cli]) == 0
    capsys.readouterr()
    truth = true.lidar_depth_m
    seen = np.isfinite(truth)
    errors = [
        float(np.nanmedian(depth_image_to_metres(image)[seen] / truth[seen])) - 1.0
        for _, image in read_bag(tmp_path / "out")["/depth/image"]
    ]
    assert len(errors) == 9 and errors[5] > 0.1, errors  # the wrong transform's scale (13.7 % long)
    assert max(abs(e) for e in errors[6:]) < 0.01, [f"{e:+.4f}" for e in errors]


def test_a_portrait_camera_for_a_landscape_only_graph_is_refused_once_by_name_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A keep-aspect spec of a graph that runs landscape only (`spec --keep-aspect` records params.served_aspects):
    the bag runner skips each frame of a portrait camera under its own reason, ``pipeline: AspectError``, with the
    camera's size and the spec to write, before the graph runs (the graph's own broadcast error, with a --multiple-of
    hint, on every frame otherwise); the same bag with its landscape camera is written whole."""
    import dataclasses

    pytest.importorskip("torch")  # the graph is built with torch and run by ONNX Runtime (neither in the Jazzy step)
    pytest.importorskip("onnxruntime")
    from test.bag.support import write_tiny_bag
    from test.commands.test_spec import _landscape_only_graph

    path = _landscape_only_graph(tmp_path)
    assert main(["spec", str(path), "--kind", "metric", "--input-size", "28x28", "--keep-aspect"]) == 0

    def portrait(topic: str, index: int, msg: Any) -> Any:  # the camera turned a quarter: image and calibration
        if topic == "/camera/image_raw":
            rgb = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3).transpose(1, 0, 2)
            data = np.ascontiguousarray(rgb).reshape(-1)
            return dataclasses.replace(msg, height=msg.width, width=msg.height, step=msg.height * 3, data=data)
        if topic == "/camera/camera_info":
            k, p = np.asarray(msg.k).copy(), np.asarray(msg.p).copy()
            k[[0, 4, 2, 5]], p[[0, 5, 2, 6]] = k[[4, 0, 5, 2]], p[[5, 0, 6, 2]]
            return dataclasses.replace(msg, height=msg.width, width=msg.height, k=k, p=p)
        return msg

    params = ["--param", "model.backend=onnx", "--param", f"model.weights={path}", "--param", "scale.mode=none"]
    params += ["--param", "device=cpu", "--param", "model.output_kind=metric"]
    for name, mutate in (("landscape", None), ("portrait", portrait)):
        write_tiny_bag(tmp_path / name, 3, prediction="none", lidar=False, mutate=mutate)
        capsys.readouterr()
        caplog.clear()
        code = main(["bag", str(tmp_path / name), str(tmp_path / f"{name}_out"), *params])
        out = capsys.readouterr()
        if mutate is None:
            assert code == 0 and "frames in 3, out 3, skipped 0" in out.out, out
            continue
        assert code == 1 and "frames in 3, out 0, skipped 3" in out.out, out
        assert "skipped     3 x pipeline: AspectError: a portrait 64x48 camera image" in out.out, out
        assert "--pad --input-size" in out.out and "failed on a" not in out.out + out.err, out
        warned = [record.getMessage() for record in caplog.records if "AspectError" in record.getMessage()]
        assert len(warned) == 1 and "a portrait 64x48 camera image" in warned[0], warned  # once for its 3 frames
