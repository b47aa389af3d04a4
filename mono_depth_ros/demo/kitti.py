"""``mono-depth demo --kitti DIR``: the same pipeline on real KITTI frames (3D-object layout), LiDAR scale recovery.

``DIR`` is a KITTI object ``training`` folder (``image_2/*.png``, ``velodyne/*.bin``, ``calib/*.txt``; e.g.
``../shared/data/kitti_object_3frames/training``). Each frame's Velodyne scan is split at random (seeded) into two
halves: one is recorded in the bag and feeds scale recovery, the other is **held out** as the reference the
accuracy is measured against (projected with a z-buffer; sparse, about 2 % of the pixels).

Bag layout: /camera/image_raw (rgb8, frame ``camera_optical_frame``), /camera/camera_info (P2's 3×3, no distortion,
P = [K | 0]: the baseline is in the extrinsic), /lidar/points (x, y, z, intensity, frame ``velodyne``, same stamp),
/tf_static ``camera_frame`` → ``camera_optical_frame`` (the body frame /depth/scan is stamped in, REP 103 rotation)
and ``camera_optical_frame`` → ``velodyne`` (re-published when the next frame's calibration differs) and,
with an oracle, /depth_model/prediction. KITTI object frames are unrelated snapshots, so they are stamped
``KITTI_PERIOD_NS`` apart: no temporal filter carries a scale from one to the next.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.geometry import RigidTransform, zbuffer_depth
from mono_depth_ros.core.ros_msgs import tf_message_from
from mono_depth_ros.core.synthetic import FRAME_CAMERA, cam_body_from_optical
from mono_depth_ros.demo.bag_builder import BagBuilder, add_camera, add_oracle, lidar_cloud
from mono_depth_ros.demo.evaluate import lidar_only_depth
from mono_depth_ros.demo.oracle import ORACLE_LABEL, OracleConfig, OracleStream
from mono_depth_ros.demo.scenario import (
    BASE_PARAMS,
    LIDAR_TOPIC,
    PREDICTION_TOPIC,
    FrameTruth,
    ProgressFn,
    Scenario,
    no_progress,
)
from mono_depth_ros.training.data.kitti_files import load_object_calibration, load_rgb, load_velodyne

FRAME_VELODYNE = "velodyne"
KITTI_START_NS = 1_700_000_000 * 10**9
KITTI_PERIOD_NS = 10 * 10**9  # unrelated snapshots: beyond every hold time of the scale filters
HELD_OUT_FRACTION = 0.5
_MS = 1_000_000


def kitti_frame_names(kitti_dir: Path) -> list[str]:
    """Stems of the frames that have an image, a scan and a calibration, sorted.

    Raises:
        ConfigError: the folder has none (with the layout expected).
    """
    root = Path(kitti_dir)
    names = [
        p.stem
        for p in sorted((root / "image_2").glob("*.png"))
        if (root / "velodyne" / f"{p.stem}.bin").is_file() and (root / "calib" / f"{p.stem}.txt").is_file()
    ]
    if not names:
        msg = (
            f"--kitti {root}: no frame with image_2/NAME.png, velodyne/NAME.bin and calib/NAME.txt; give a KITTI "
            f"3D-object 'training' folder (e.g. ../shared/data/kitti_object_3frames/training)"
        )
        raise ConfigError(msg)
    return names


def write_kitti_bag(
    path: Path,
    kitti_dir: Path,
    seed: int,
    *,
    max_frames: int | None = None,
    oracle: OracleConfig | None = None,
    progress: ProgressFn = no_progress,
) -> list[FrameTruth]:
    """Record the KITTI frames (layout in the module docstring); returns the held-out truth per frame.

    Args:
        path: bag folder to create (must not exist).
        kitti_dir: KITTI object ``training`` folder.
        seed: the LiDAR split and the oracle's errors.
        max_frames: record at most this many frames (None: all).
        oracle: record an oracle prediction made from the recorded half of the scan (None: no prediction).
        progress: called once per recorded frame (stage ``kitti``).
    """
    names = kitti_frame_names(kitti_dir)[:max_frames]
    root = Path(kitti_dir)
    rng = np.random.default_rng([seed, 0x4B17])
    stream = OracleStream(seed, oracle) if oracle is not None else None
    custom = {"mono_depth_ros.demo": f"KITTI object frames {', '.join(names)} from {root}"}
    if stream is not None:
        custom["mono_depth_ros.demo.prediction"] = f"{PREDICTION_TOPIC}: {ORACLE_LABEL} (from the LiDAR itself)"
    truths: list[FrameTruth] = []
    last_extrinsic: RigidTransform | None = None
    with BagBuilder(path, custom_data=custom) as bag:
        factory = bag.factory
        for index, name in enumerate(names):
            stamp_ns = KITTI_START_NS + index * KITTI_PERIOD_NS
            rgb = load_rgb(root / "image_2" / f"{name}.png")
            height, width = rgb.shape[:2]
            calib = load_object_calibration(root / "calib" / f"{name}.txt", width, height)
            cam_from_velo = RigidTransform(
                calib.cam_from_velo.rotation, calib.cam_from_velo.translation, FRAME_CAMERA, FRAME_VELODYNE
            )
            scan = load_velodyne(root / "velodyne" / f"{name}.bin")
            held_out = rng.random(scan.shape[0]) < HELD_OUT_FRACTION
            recorded = scan[~held_out]
            if last_extrinsic is None or not np.allclose(last_extrinsic.matrix, cam_from_velo.matrix):
                static_ns = stamp_ns - 50 * _MS
                statics = [cam_body_from_optical(), cam_from_velo]
                bag.add("/tf_static", tf_message_from(factory, statics, static_ns), static_ns)
                last_extrinsic = cam_from_velo
            cloud = lidar_cloud(factory, recorded[:, :3], stamp_ns, FRAME_VELODYNE, intensity=recorded[:, 3])
            bag.add(LIDAR_TOPIC, cloud, stamp_ns + 5 * _MS)
            header = add_camera(bag, stamp_ns, rgb, calib.intrinsics)
            lidar_in_camera = cam_from_velo.apply(recorded[:, :3].astype(np.float64)).astype(np.float32)
            truth = _held_out_depth(cam_from_velo, scan[held_out], calib.intrinsics)
            true_scale = true_shift = None
            if stream is not None:
                oracle_input = lidar_only_depth(lidar_in_camera, calib.intrinsics)
                true_scale, true_shift = add_oracle(bag, stream, oracle_input, header, stamp_ns)
            truths.append(FrameTruth(stamp_ns, calib.intrinsics, truth, lidar_in_camera, true_scale, true_shift))
            progress("kitti", index + 1, len(names))
    return truths


def record_kitti(
    input_bag: Path,
    kitti_dir: Path,
    seed: int,
    max_frames: int | None = None,
    oracle: OracleConfig | None = None,
    progress: ProgressFn = no_progress,
) -> Scenario:
    """:func:`write_kitti_bag` as a :class:`Scenario` (truth: the held-out half of each scan)."""
    names = kitti_frame_names(kitti_dir)[:max_frames]
    truths = write_kitti_bag(input_bag, kitti_dir, seed, max_frames=max_frames, oracle=oracle, progress=progress)
    return Scenario(
        "kitti",
        f"KITTI object frames {', '.join(names)} from {kitti_dir} (real images and Velodyne scans)",
        input_bag, truths, dict(BASE_PARAMS), "the held-out half of each KITTI Velodyne scan",
    )  # fmt: skip


def _held_out_depth(
    cam_from_velo: RigidTransform, held_out_scan: npt.NDArray[np.float32], intrinsics: PinholeIntrinsics
) -> npt.NDArray[np.float32]:
    """(H, W) float32 metres of the held-out points (nearest wins), NaN where none projects."""
    if held_out_scan.shape[0] == 0:
        msg = "the held-out half of a KITTI scan is empty; the scan file is too small"
        raise ConfigError(msg)
    depth, _ = zbuffer_depth(cam_from_velo.apply(held_out_scan[:, :3].astype(np.float64)), intrinsics)
    return np.asarray(depth, dtype=np.float32)
