"""The node's outputs in a costmap: a box is marked, the floor is not, and the box's cells clear once it is gone.

A synthetic sequence with exact depth (a level camera 1 m above a floor, at the preset's published resolution for
a KITTI camera, 414x125; a box 3.6 m ahead for three frames, near the marking range where the rays are farthest
apart, then open space) goes through ``mono-depth bag`` (the node's pipeline and messages) with the Nav2 preset;
the output bag's ``/depth/points``, ``/depth/points_clearing`` and ``/depth/scan`` feed models of Nav2's layers
(:mod:`test.nav2_costmap`, ported from navigation2 humble / jazzy): the voxel layer configured as
``config/nav2_costmap_example.yaml`` says (on a 12 m window: the example's 6 m one ends at the box), and a 2-D obstacle
layer fed the scan alone. The preset and the example are also checked against each other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mono_depth_ros.bag import BagRunOptions, run_bag
from mono_depth_ros.config import load_config
from mono_depth_ros.core.camera import CameraModel, PinholeIntrinsics
from mono_depth_ros.core.cloud import strided_cloud
from mono_depth_ros.core.laser_scan import scan_from_depth
from mono_depth_ros.core.msg_pointcloud2 import pointcloud2_to_structured
from mono_depth_ros.core.ros_msgs import camera_info_from_model, depth_image_from_metres, image_from_array, make_header
from mono_depth_ros.demo.bag_builder import BagBuilder
from test.bag.support import read_bag
from test.nav2_costmap import ObstacleLayer, Source, VoxelLayer, points_from_optical, points_from_scan

REPO = Path(__file__).resolve().parents[1]
PRESET = REPO / "config" / "depth_nav2.yaml"
EXAMPLE = REPO / "config" / "nav2_costmap_example.yaml"
INTR = PinholeIntrinsics(240.5, 240.5, 203.2, 57.6, width=414, height=125)  # KITTI P2 / 3: the shipped model
CAMERA_HEIGHT_M = 1.0
BOX_X_M = (3.6, 4.0)  # robot frame: ahead
BOX_Y_M = (-0.4, 0.4)  # robot frame: left / right
BOX_FRAMES, FRAMES = 3, 8


def render(box: bool, box_x_m: float = BOX_X_M[0], far_m: float = 200.0) -> np.ndarray:
    """Exact depth (metres, optical z) of the floor, the box (its front face ``box_x_m`` ahead) when present, and a
    far wall at ``far_m`` (+Inf: sky, as a model with a sky output marks it)."""
    ray_x = ((np.arange(INTR.width) - INTR.cx) / INTR.fx)[None, :]
    ray_y = ((np.arange(INTR.height) - INTR.cy) / INTR.fy)[:, None]
    depth = np.full((INTR.height, INTR.width), far_m)
    floor = np.where(ray_y > 0, CAMERA_HEIGHT_M / np.maximum(ray_y, 1e-9), np.inf)
    depth = np.minimum(depth, np.broadcast_to(floor, depth.shape))
    if box:
        z = box_x_m
        x_right, height = ray_x * z, CAMERA_HEIGHT_M - ray_y * z
        hit = (-x_right >= BOX_Y_M[0]) & (-x_right <= BOX_Y_M[1]) & (height >= 0.0) & (height <= 1.5)
        depth = np.where(hit, np.minimum(depth, z), depth)
    return depth.astype(np.float32)


def write_scene_bag(path: Path, box_x_m: float = BOX_X_M[0], far_m: float = 200.0) -> None:
    with BagBuilder(path) as bag:
        factory = bag.factory
        for index in range(FRAMES):
            stamp_ns = 1_700_000_000_000_000_000 + index * 100_000_000
            header = make_header(factory, stamp_ns, "camera_optical")
            rgb = np.full((INTR.height, INTR.width, 3), 128, np.uint8)
            info = camera_info_from_model(factory, CameraModel.from_intrinsics(INTR), header)
            bag.add("/camera/camera_info", info, stamp_ns)
            bag.add("/camera/image_raw", image_from_array(factory, rgb, "rgb8", header), stamp_ns + 1)
            prediction = depth_image_from_metres(factory, render(index < BOX_FRAMES, box_x_m, far_m), "32FC1", header)
            bag.add("/depth_model/prediction", prediction, stamp_ns + 2)


def _example_layer() -> dict[str, Any]:
    layer: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())["local_costmap"]["local_costmap"]["ros__parameters"][
        "voxel_layer"
    ]
    return layer


def costmap_sources() -> dict[str, Source]:
    """The observation sources of the example's voxel layer, by the topic they read."""
    layer = _example_layer()
    sources = {}
    for name in layer["observation_sources"].split():
        spec = layer[name]
        sources[spec["topic"]] = Source(
            marking=spec["marking"],
            clearing=spec["clearing"],
            min_obstacle_height=spec["min_obstacle_height"],
            max_obstacle_height=spec["max_obstacle_height"],
            obstacle_min_range=spec["obstacle_min_range"],
            obstacle_max_range=spec["obstacle_max_range"],
            raytrace_min_range=spec["raytrace_min_range"],
            raytrace_max_range=spec["raytrace_max_range"],
            inf_is_valid=spec.get("inf_is_valid", False),
        )
    return sources


def example_voxel_layer(distro: str = "humble") -> VoxelLayer:
    """The example's voxel layer (its grid heights and thresholds) on a 12 m window centred on the camera."""
    layer = _example_layer()
    assert layer["mark_threshold"] == 0 and layer["unknown_threshold"] >= layer["z_voxels"] - 1  # what the model has
    return VoxelLayer(
        CAMERA_HEIGHT_M,
        min_obstacle_height=layer["min_obstacle_height"],
        max_obstacle_height=layer["max_obstacle_height"],
        origin_z=layer["origin_z"],
        z_resolution=layer["z_resolution"],
        z_voxels=layer["z_voxels"],
        distro=distro,
    )


def _xyz(cloud: Any) -> np.ndarray:
    points = pointcloud2_to_structured(cloud).reshape(-1)
    xyz = np.stack([points["x"], points["y"], points["z"]], axis=-1).astype(np.float64)
    return xyz[np.isfinite(xyz).all(axis=1)]


def _bag_outputs(folder: Path, box_x_m: float, far_m: float = 200.0) -> dict[str, list[Any]]:
    write_scene_bag(folder / "in", box_x_m, far_m)
    params = {**load_config(PRESET), "model.backend": "external", "model.output_kind": "metric", "scale.mode": "none"}
    summary = run_bag(folder / "in", folder / "out", params, BagRunOptions(progress=False))
    assert summary.frames_out == FRAMES
    return {topic: [message for _, message in messages] for topic, messages in read_bag(folder / "out").items()}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Any]]:
    return _bag_outputs(tmp_path_factory.mktemp("nav2"), BOX_X_M[0])


def _run_costmap(
    outputs: dict[str, list[Any]], topics: set[str], layer: ObstacleLayer | None = None
) -> list[np.ndarray]:
    """The marked cells after each frame, fed by the example's sources that read ``topics`` (into the example's
    voxel layer unless ``layer`` is given)."""
    sources = {topic: source for topic, source in costmap_sources().items() if topic in topics}
    layer = example_voxel_layer() if layer is None else layer
    history = []
    for index in range(FRAMES):
        observations = []
        for topic, source in sources.items():
            message = outputs[topic][index]
            if topic.endswith("scan"):
                points = points_from_scan(message, CAMERA_HEIGHT_M, source.inf_is_valid)
            else:
                points = points_from_optical(_xyz(message), CAMERA_HEIGHT_M)
            observations.append((source, points))
        layer.update(observations)
        history.append(layer.marked.copy())
    return history


def _box(marked: np.ndarray, box_x_m: float = BOX_X_M[0]) -> int:
    """Marked cells in the box's footprint (its front face and what lies just before it)."""
    layer = ObstacleLayer(CAMERA_HEIGHT_M)
    layer.marked = marked
    return layer.marked_in((box_x_m - 0.1, box_x_m + BOX_X_M[1] - BOX_X_M[0]), BOX_Y_M)


def test_the_box_is_marked_the_floor_is_not_and_only_the_clearing_outputs_clear_it(
    outputs: dict[str, list[Any]],
) -> None:
    marking_only = _run_costmap(outputs, {"/depth/points"})
    assert _box(marking_only[BOX_FRAMES - 1]) >= 5  # the front face, 0.8 m wide; stride 4 = a point per 0.06 m
    assert marking_only[BOX_FRAMES - 1].sum() == _box(marking_only[BOX_FRAMES - 1])  # nothing else: no floor
    # the defect: once the box is gone its rays end on the far wall (beyond output.max_range: no point) or on the
    # floor (below min_obstacle_height: dropped by the marking source), so nothing clears its cells
    assert _box(marking_only[-1]) == _box(marking_only[BOX_FRAMES - 1])

    # the voxel layer: the scan's rays lie at the camera's height and clear only the voxels there; the box's
    # voxels below and above it keep its cells marked
    with_scan = _run_costmap(outputs, {"/depth/points", "/depth/scan"})
    assert _box(with_scan[BOX_FRAMES - 1]) >= 5
    assert _box(with_scan[-1]) >= 5
    # a 2-D obstacle layer fed the scan alone: marked, then cleared along the +Inf ranges (inf_is_valid)
    scan_alone = _run_costmap(outputs, {"/depth/scan"}, ObstacleLayer(CAMERA_HEIGHT_M))
    assert _box(scan_alone[BOX_FRAMES - 1]) >= 5 and scan_alone[-1].sum() == 0


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_the_clearing_cloud_clears_the_box_in_the_voxel_layer(outputs: dict[str, list[Any]], distro: str) -> None:
    history = _run_costmap(outputs, {"/depth/points", "/depth/points_clearing"}, example_voxel_layer(distro))
    assert _box(history[BOX_FRAMES - 1]) >= 5
    assert _box(history[BOX_FRAMES]) == 0  # cleared by the first frame without it
    assert history[-1].sum() == 0


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_a_near_box_clears_up_to_the_voxel_grid_top(tmp_path: Path, distro: str) -> None:
    """1.8 m ahead the box's upper voxels lie on rays that rise past 2 m before their clearing point (5.5 m along,
    or the surface behind): the clearing source must keep those points, the voxel layer cuts the rays at its top."""
    near = 1.8
    history = _run_costmap(
        _bag_outputs(tmp_path, near), {"/depth/points", "/depth/points_clearing"}, example_voxel_layer(distro)
    )
    assert _box(history[BOX_FRAMES - 1], near) >= 5
    assert _box(history[BOX_FRAMES], near) == 0 and history[-1].sum() == 0


def test_sky_clears_the_box_as_a_far_wall_does(tmp_path: Path) -> None:
    """Sky (+Inf from the depth source, a sky output's mark) instead of the far wall: its rays rise above the
    camera and clear the box's upper voxels, as the far wall's do. Before, the scale stage made the sky NaN (no
    measurement): no clearing ray, and the box stayed marked."""
    outputs = _bag_outputs(tmp_path, BOX_X_M[0], far_m=np.inf)
    history = _run_costmap(outputs, {"/depth/points", "/depth/points_clearing"})
    assert _box(history[BOX_FRAMES - 1]) >= 5
    assert _box(history[BOX_FRAMES]) == 0 and history[-1].sum() == 0


@pytest.mark.parametrize(("short", "marked"), [(0.08, False), (0.15, True)])
def test_floor_depth_short_by_more_than_min_height_over_camera_height_marks(short: float, marked: bool) -> None:
    """A floor point with depth short by ``short`` lies ``CAMERA_HEIGHT_M * short`` above the floor: the example's
    marking band (from 0.1 m) keeps it out only while that stays below 0.1 m (the example's comment)."""
    preset = load_config(PRESET)
    depth = render(False) * np.float32(1.0 - short)
    cloud = strided_cloud(depth, INTR, preset["cloud.stride"], max_range_m=preset["output.max_range"])
    xyz = np.stack([cloud.points["x"], cloud.points["y"], cloud.points["z"]], axis=-1).astype(np.float64)
    layer = example_voxel_layer()
    layer.update([(costmap_sources()["/depth/points"], points_from_optical(xyz, CAMERA_HEIGHT_M))])
    assert (layer.marked.sum() > 0) == marked


def test_a_pitched_camera_s_scan_does_not_mark_the_floor() -> None:
    """Pitched 15 degrees down, the scan's plane meets the floor 3.7 m ahead, within obstacle_max_range: the band's
    lower rows put floor returns just above the floor in that plane (5 cm here), which the scan source's band must
    keep out as the cloud's does."""
    pitch = np.radians(15.0)
    preset = load_config(PRESET)
    down = ((np.arange(INTR.height) - INTR.cy) / INTR.fy)[:, None]  # per metre forward, body frame
    towards_floor = np.sin(pitch) + np.cos(pitch) * down
    floor = np.where(towards_floor > 0, CAMERA_HEIGHT_M / np.where(towards_floor > 0, towards_floor, 1.0), np.inf)
    depth = np.broadcast_to(floor, (INTR.height, INTR.width)).astype(np.float32)
    depth = np.where(depth > preset["output.max_range"], np.float32(np.inf), depth)
    ranges = preset["output.min_range"], preset["output.max_range"]
    scan = scan_from_depth(depth, INTR, preset["scan.band_rows"], *ranges)
    source = costmap_sources()["/depth/scan"]
    points = points_from_scan(scan, CAMERA_HEIGHT_M, source.inf_is_valid, pitch)
    assert np.isfinite(scan.ranges).sum() > INTR.width // 2 and np.all(points[:, 2] < 0.1)  # floor, below 0.1 m
    layer = ObstacleLayer(CAMERA_HEIGHT_M)
    layer.update([(source, points)])
    assert layer.marked.sum() == 0
    # the same band drops every return of that scan (floor, or +Inf at range_max below the floor): it clears
    # nothing, and what it marked before stays (the example's comment: the scan alone needs a level camera)
    layer.update([(source, np.array([[2.0, 0.0, 0.5]]))])
    layer.update([(source, points)])
    assert layer.marked.sum() == 1


def test_the_preset_and_the_costmap_example_agree() -> None:
    preset = load_config(PRESET)
    sources = costmap_sources()
    assert set(sources) == {"/depth/points", "/depth/points_clearing", "/depth/scan"}
    assert preset["cloud.clearing"] and preset["scan.enabled"] and preset["output.outlier_filter"]
    assert preset["cloud.mode"] in {"strided", "voxel"}  # a cloud Nav2 can take at camera rate
    for topic, source in sources.items():
        assert source.obstacle_max_range <= preset["output.max_range"], topic  # marks only what the node publishes
        assert source.raytrace_max_range <= preset["output.max_range"], topic
    assert sources["/depth/points_clearing"].raytrace_max_range <= preset["cloud.clearing_range"]
    assert not sources["/depth/points_clearing"].marking and sources["/depth/points_clearing"].clearing
    assert sources["/depth/points_clearing"].min_obstacle_height < 0.0  # keeps the floor's rays
    grid = _example_layer()
    grid_top = grid["origin_z"] + grid["z_voxels"] * grid["z_resolution"]  # the camera lies below it
    assert sources["/depth/points_clearing"].max_obstacle_height >= grid_top + preset["output.max_range"]  # rising
    assert sources["/depth/scan"].inf_is_valid  # +Inf = no return within range: clears
    assert sources["/depth/points"].min_obstacle_height >= 0.05  # the floor does not mark
    # clearing rays at most ~2/3 of a cell apart where marking ends (the parameter's rule), for the shipped model
    resolution = yaml.safe_load(EXAMPLE.read_text())["local_costmap"]["local_costmap"]["ros__parameters"]["resolution"]
    reach = sources["/depth/points"].obstacle_max_range
    assert preset["cloud.clearing_stride"] <= 0.67 * resolution * INTR.fx / reach < preset["cloud.stride"]


# Parameters Nav2 declares, with their types (navigation2, humble and jazzy branches: nav2_costmap_2d
# src/costmap_2d_ros.cpp declare_parameter, plugins/obstacle_layer.cpp, voxel_layer.cpp and inflation_layer.cpp
# declareParameter; "plugin" is read by the plugin loader). Both branches declare every name below with these types;
# Jazzy adds costmap keys the example does not use. A misspelt key is ignored without a word, and a value of another
# type (an int for a double) makes rclcpp refuse the parameter and the costmap fail to configure.
NAV2_COSTMAP_PARAMS: dict[str, type] = {
    "update_frequency": float, "publish_frequency": float, "global_frame": str, "robot_base_frame": str,
    "rolling_window": bool, "width": int, "height": int, "resolution": float, "plugins": list,
    "transform_tolerance": float, "track_unknown_space": bool, "robot_radius": float, "footprint": str,
}  # fmt: skip
NAV2_VOXEL_LAYER_PARAMS: dict[str, type] = {
    "plugin": str, "enabled": bool, "footprint_clearing_enabled": bool, "min_obstacle_height": float,
    "max_obstacle_height": float, "combination_method": int, "observation_sources": str, "z_voxels": int,
    "origin_z": float, "z_resolution": float, "unknown_threshold": int, "mark_threshold": int,
    "publish_voxel_map": bool,
}  # fmt: skip
NAV2_SOURCE_PARAMS: dict[str, type] = {
    "topic": str, "sensor_frame": str, "observation_persistence": float, "expected_update_rate": float,
    "data_type": str, "min_obstacle_height": float, "max_obstacle_height": float, "inf_is_valid": bool,
    "marking": bool, "clearing": bool, "obstacle_max_range": float, "obstacle_min_range": float,
    "raytrace_max_range": float, "raytrace_min_range": float,
}  # fmt: skip
NAV2_INFLATION_PARAMS: dict[str, type] = {
    "plugin": str, "enabled": bool, "inflation_radius": float, "cost_scaling_factor": float,
    "inflate_unknown": bool, "inflate_around_unknown": bool,
}  # fmt: skip


def _wrong_keys(values: dict[str, Any], declared: dict[str, type], where: str) -> list[str]:
    return [
        f"{where}.{key}: {type(value).__name__}" if key in declared else f"{where}.{key}: not a Nav2 parameter"
        for key, value in values.items()
        if key not in declared or type(value) is not declared[key]  # bool is not int, int is not float
    ]


def test_every_example_key_is_a_nav2_parameter_of_its_type() -> None:
    params = yaml.safe_load(EXAMPLE.read_text())["local_costmap"]["local_costmap"]["ros__parameters"]
    plugins = {name: params[name] for name in params["plugins"]}
    costmap = {key: value for key, value in params.items() if key not in plugins}
    wrong = _wrong_keys(costmap, NAV2_COSTMAP_PARAMS, "local_costmap")
    voxel = plugins.pop("voxel_layer")
    sources = voxel["observation_sources"].split()
    layer = {key: value for key, value in voxel.items() if key not in sources}
    wrong += _wrong_keys(layer, NAV2_VOXEL_LAYER_PARAMS, "voxel_layer")
    for name in sources:
        wrong += _wrong_keys(voxel[name], NAV2_SOURCE_PARAMS, f"voxel_layer.{name}")
    wrong += _wrong_keys(plugins.pop("inflation_layer"), NAV2_INFLATION_PARAMS, "inflation_layer")
    assert not plugins and not wrong
    assert _wrong_keys({"expected_update_rate": 1, "clearing_rate": 1.0}, NAV2_SOURCE_PARAMS, "s") == [
        "s.expected_update_rate: int",
        "s.clearing_rate: not a Nav2 parameter",
    ]
