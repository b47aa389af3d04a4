from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from mono_depth_ros.config import (
    PARAMS,
    PARAMS_BY_NAME,
    coerce,
    defaults,
    load_config,
    load_params_file,
    parse_override,
    read_yaml_file,
    resolve,
    yaml11_float,
    yaml_bool_choices,
)
from mono_depth_ros.core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_shipped_depth_yaml_holds_every_parameter_at_its_default() -> None:
    values = load_params_file(REPO_ROOT / "config" / "depth.yaml")
    assert set(values) == {p.name for p in PARAMS}
    for spec in PARAMS:
        # rclpy is strict about types: a float parameter must be written as a float in YAML
        assert type(values[spec.name]) is spec.type, spec.name
    assert resolve(values) == defaults()


def depth_yaml_comments() -> dict[str, str]:
    """config/depth.yaml's comment after each parameter, by dotted name (nesting from the indentation)."""
    comments: dict[str, str] = {}
    path: list[str] = []
    text = (REPO_ROOT / "config" / "depth.yaml").read_text(encoding="utf-8")
    for line in text.split("ros__parameters:\n", 1)[1].splitlines():
        key = re.match(r"^( *)(\w+):(.*?)(?:  # (.*))?$", line)
        if key is None:
            continue
        path = [*path[: (len(key.group(1)) - 4) // 2], key.group(2)]
        if key.group(3).strip():  # a value: a parameter (a section has none)
            comments[".".join(path)] = key.group(4) or ""
    return comments


def test_the_shipped_depth_yaml_comments_each_parameter_with_its_description() -> None:
    """The file users copy explains each parameter with what ``ros2 param describe`` says (``PARAMS``'
    description): its hand-kept comments had drifted from 7 of them (``model.threads`` left out that it sets the
    temporal filter's threads with an external backend, ``output.device_postprocess`` the strided / voxel clouds on
    the host). A comment may add the choices after the description (``model.backend``)."""
    comments = depth_yaml_comments()
    assert set(comments) == set(PARAMS_BY_NAME)
    wrong = {
        name: (comment, spec.description)
        for name, comment in comments.items()
        if comment != (spec := PARAMS_BY_NAME[name]).description
        and not (spec.choices and comment == f"{spec.description}: {' | '.join(spec.choices)}")
    }
    assert not wrong, wrong


def test_contract_names_exist() -> None:
    names = {p.name for p in PARAMS}
    contract = ("image_topic", "camera_info_topic", "lidar_topic", "prediction_topic", "model.backend")
    contract += ("model.weights", "model.output_kind", "scale.mode", "device", "output.max_range", "cloud.stride")
    for name in contract:
        assert name in names


def test_float_parameters_accept_yaml_ints_and_strings() -> None:
    assert resolve({"output.max_range": 40})["output.max_range"] == 40.0
    assert isinstance(resolve({"output.max_range": 40})["output.max_range"], float)
    assert load_config(overrides=["cloud.rgb=true", "output.max_range=12", "lidar_topic=/velodyne_points"]) == {
        **defaults(),
        "cloud.rgb": True,
        "output.max_range": 12.0,
        "lidar_topic": "/velodyne_points",
    }


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("scale.mode", "magic", "must be one of"),
        ("cloud.stride", 0, "below its minimum"),
        ("cloud.stride", 2.5, "not a valid int"),
        ("cloud.rgb", "maybe", "not a valid bool"),
        ("output.max_range", True, "not a valid float"),
    ],
)
def test_bad_values_name_parameter_and_value(name: str, value: object, match: str) -> None:
    spec = next(p for p in PARAMS if p.name == name)
    with pytest.raises(ConfigError, match=match):
        coerce(spec, value)


@pytest.mark.parametrize("degrees", [5.0, -10.0, 90.0])
def test_an_angle_in_degrees_for_a_radian_parameter_names_the_radians(degrees: float) -> None:
    """scale.camera_pitch_rad: 5 (a camera tilted 5° down, written in degrees) was refused as 'above its maximum 1.6'
    without saying the unit; the message now says the parameter is in radians and gives the value meant."""
    spec = next(p for p in PARAMS if p.name == "scale.camera_pitch_rad")
    radians = f"{math.radians(degrees):.4g}"
    with pytest.raises(ConfigError, match=rf"in radians: {degrees:g}° is {radians}$"):
        coerce(spec, degrees)
    assert coerce(spec, float(radians)) == float(radians)  # the value the message gives is taken


def test_a_quoted_number_or_bool_names_the_value_to_write_unquoted() -> None:
    """``max_range: "30"`` in a params file (a number quoted, as a newcomer copies strings): refused naming the
    value and the type, but not the remedy, where a number for a string says "quote strings in YAML"."""
    with pytest.raises(ConfigError, match=r"max_range='30' is not a valid float: .*; write it unquoted: 30$"):
        coerce(PARAMS_BY_NAME["output.max_range"], "30")
    with pytest.raises(ConfigError, match=r"stride='2' is not a valid int: .*; write it unquoted: 2$"):
        coerce(PARAMS_BY_NAME["cloud.stride"], "2")
    with pytest.raises(ConfigError, match=r"rgb='yes' is not a valid bool: .*; write true or false unquoted$"):
        coerce(PARAMS_BY_NAME["cloud.rgb"], "yes")
    with pytest.raises(ConfigError) as err:  # a string that is no number: no such remedy
        coerce(PARAMS_BY_NAME["output.max_range"], "far")
    assert "unquoted" not in str(err.value)
    with pytest.raises(ConfigError) as err:  # '2.5' for an int: unquoted it is still refused (no fraction)
        coerce(PARAMS_BY_NAME["cloud.stride"], "2.5")
    assert "unquoted" not in str(err.value)


def test_a_float_in_e_notation_that_yaml_reads_as_text_names_a_spelling_yaml_reads_as_a_float() -> None:
    """``ros2 param set NODE lidar.wait_s 5e-2`` was refused "got str ...; write it unquoted: 5e-2", which is what the
    user wrote: YAML 1.1 (PyYAML, which ros2 param set parses with) reads 5e-2 and 1e9 as text, unquoted or not. The
    remedy names a spelling it reads as that float, and that spelling is taken."""
    spec = PARAMS_BY_NAME["lidar.wait_s"]
    for written, spelled in [("5e-2", "0.05"), ("1e-5", "1.0e-05"), ("2E0", "2.0"), ("25e-2", "0.25")]:
        with pytest.raises(ConfigError) as err:
            coerce(spec, written)
        assert str(err.value).endswith(
            f"; write it unquoted as {spelled}: YAML 1.1 (ros2 param set) reads {written} as text even unquoted (its "
            "floats need a decimal point and a signed exponent)"
        ), str(err.value)
        assert yaml.safe_load(spelled) == float(written) == coerce(spec, yaml.safe_load(spelled))
    assert yaml11_float(1e16) == "1.0e+16" and yaml.safe_load(yaml11_float(1e16)) == 1e16
    with pytest.raises(ConfigError, match=r"; write it unquoted: 0.05$"):  # quoted in a params file: as before
        coerce(spec, "0.05")
    with pytest.raises(ConfigError, match=r"; write it unquoted: 2.5e-1$"):  # YAML 1.1 reads this one as a float
        coerce(spec, "2.5e-1")


def test_yaml11_float_is_read_back_as_that_float_for_every_sign_and_magnitude() -> None:
    """Every spelling yaml11_float gives is read by YAML 1.1 (PyYAML: ros2 param set) as the same float, sign included:
    negative, zero, subnormal, the largest, and inf / nan (it wrote 'inf.0', 'nan.0': text)."""
    rng = np.random.default_rng(100)
    finite = rng.integers(0, 2**64, size=20000, dtype=np.uint64).view(np.float64)
    numbers = [float(x) for x in finite[np.isfinite(finite)]]
    numbers += [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, -1e16, 1e22, -0.05]
    for number in numbers:
        spelled = yaml11_float(number)
        read = yaml.safe_load(spelled)
        assert isinstance(read, float) and read == number, (number, spelled, read)
        assert math.copysign(1.0, read) == math.copysign(1.0, number), (number, spelled)
    assert [yaml.safe_load(yaml11_float(x)) for x in (math.inf, -math.inf)] == [math.inf, -math.inf]
    assert math.isnan(yaml.safe_load(yaml11_float(math.nan)))


def test_an_unquoted_on_or_off_read_by_yaml_as_a_bool_names_the_quoted_choice() -> None:
    # YAML (ros2 param set, params files, -p) reads an unquoted off / on as a bool: the documented values of
    # output.device_postprocess and model.golden_check were refused as "not a valid str" with no word of quoting
    post = PARAMS_BY_NAME["output.device_postprocess"]
    with pytest.raises(ConfigError, match=r"unquoted off as a boolean.*\"'off'\""):
        coerce(post, False)
    with pytest.raises(ConfigError, match=r"unquoted on as a boolean.*\"'on'\""):
        coerce(post, True)
    with pytest.raises(ConfigError, match=r"unquoted off as a boolean"):
        coerce(PARAMS_BY_NAME["model.golden_check"], False)
    with pytest.raises(ConfigError, match=r"quote strings in YAML$"):  # no choice YAML reads as true: the plain hint
        coerce(PARAMS_BY_NAME["model.golden_check"], True)
    assert coerce(post, "off") == "off"
    assert yaml_bool_choices(post) == {True: "on", False: "off"}
    assert yaml_bool_choices(PARAMS_BY_NAME["cloud.mode"]) == {}


def test_a_misspelt_choice_suggests_the_closest() -> None:
    mode = next(p for p in PARAMS if p.name == "scale.mode")
    with pytest.raises(ConfigError, match=r"must be one of .*; did you mean lidar\?"):
        coerce(mode, "lidr")
    encoding = next(p for p in PARAMS if p.name == "output.encoding")
    with pytest.raises(ConfigError, match=r"did you mean 32FC1\?"):
        coerce(encoding, "32fc1")


def test_an_output_kind_only_a_spec_declares_is_refused_naming_what_to_set_instead() -> None:
    """``model.output_kind: canonical_inverse`` (Depth Pro's raw output, which the model runner turns into metres)
    was refused with the bare list of choices; the refusal says the spec declares it and to leave the parameter
    empty or set metric. Each kind no choice of the parameter gets it; a misspelt one still its closest choices."""
    from mono_depth_ros.core.depth_kind import OutputKind

    spec = PARAMS_BY_NAME["model.output_kind"]
    spec_only = [kind.value for kind in OutputKind if kind.value not in spec.choices]
    assert spec_only == ["canonical_inverse"]
    for kind in spec_only:
        with pytest.raises(ConfigError, match=r"must be one of") as refused:
            resolve({"model.output_kind": kind})
        text = str(refused.value)
        assert f"a model's spec declares (`mono-depth spec MODEL --kind {kind}`)" in text, text
        assert "leave model.output_kind empty" in text and "set metric (taken for a canonical_inverse" in text, text
    with pytest.raises(ConfigError, match=r"did you mean metric\?$"):
        resolve({"model.output_kind": "metrc"})


def test_unknown_names_suggest_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"did you mean scale\.mode"):
        resolve({"scale.mod": "lidar"})
    with pytest.raises(ConfigError, match="name=value"):
        parse_override("scale.mode")
    with pytest.raises(ConfigError, match="min_range") as refused:
        resolve({"output.min_range": 5.0, "output.max_range": 2.0})
    # one at a time, the other order passes through a refused state: the message says how to get there
    assert "(5.0) must be below output.max_range (2.0): set both at once" in str(refused.value)
    assert "raise max_range first, lower min_range first" in str(refused.value)


def test_ground_plane_scale_without_a_camera_height_is_refused_naming_both_values() -> None:
    # was accepted here and refused by scale recovery only when the pipeline got it (a run-time change dropped)
    with pytest.raises(ConfigError, match=r"scale\.mode=ground_plane needs scale\.camera_height_m > 0 \(got 0\.0\)"):
        resolve({"scale.mode": "ground_plane", "scale.camera_height_m": 0.0})
    assert resolve({"scale.mode": "fixed", "scale.camera_height_m": 0.0})["scale.camera_height_m"] == 0.0  # no prior


def test_a_scan_frame_id_tf2_cannot_look_up_is_refused_with_the_remedy() -> None:
    # tf2 refuses a frame id that starts with '/' in every lookup: a costmap would never use the scan
    reason = r"scan\.frame_id='/base_scan': tf2 frame ids cannot start with '/'; use 'base_scan'"
    with pytest.raises(ConfigError, match=reason):
        resolve({"scan.frame_id": "/base_scan"})
    assert resolve({"scan.frame_id": "base_scan"})["scan.frame_id"] == "base_scan"


@pytest.mark.parametrize("name", ["lidar.motion_frame", "temporal.fixed_frame", "scale.ground_frame"])
def test_a_fixed_frame_tf2_cannot_look_up_is_refused_with_the_remedy(name: str) -> None:
    """``/odom`` was taken: the node's tf2 refused every lookup through it (every scan unused, every frame
    unfiltered, counted as TransformException) while the bag runner's TF buffer stripped the slash and used it."""
    with pytest.raises(ConfigError, match=rf"{name}='/odom': tf2 frame ids cannot start with '/'; use 'odom'"):
        resolve({name: "/odom"})
    assert resolve({name: "odom"})[name] == "odom"


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda1", "cuda:", "mps", ""])
def test_a_device_the_model_loader_cannot_open_is_refused_with_the_parameter(device: str) -> None:
    # "cuda:x" used to pass to the loader, which fell back to the CPU on a machine without CUDA and failed with one
    with pytest.raises(ConfigError, match=r"parameter device=.* must be auto, cpu, cuda or cuda:N"):
        resolve({"device": device})


def test_a_gpu_index_alone_quoted_as_the_type_error_asks_names_its_cuda_device() -> None:
    """``device: 0`` is refused with "quote strings in YAML"; quoted, ``'0'`` was refused naming no GPU spelling."""
    with pytest.raises(ConfigError, match="quote strings in YAML"):
        resolve({"device": 0})
    with pytest.raises(ConfigError, match=r"device='0' .*GPU 0 is 'cuda:0'"):
        resolve({"device": "0"})
    assert resolve({"device": "cuda:0"})["device"] == "cuda:0"


@pytest.mark.parametrize("device", ["auto", "cpu", "CPU", "cuda", "cuda:0", "cuda:12", " cuda:1 "])
def test_the_devices_the_model_loader_opens_are_accepted(device: str) -> None:
    assert resolve({"device": device})["device"] == device


def test_params_file_sections_and_nesting(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "/**:\n  ros__parameters:\n    scale: {mode: fixed}\n    cloud.stride: 2\n"
        "mono_depth_node:\n  ros__parameters:\n    cloud.stride: 8\n"
    )
    values = load_config(path)
    assert values["scale.mode"] == "fixed" and values["cloud.stride"] == 8
    path.write_text("mono_depth_node:\n  scale.mode: fixed\n")
    with pytest.raises(ConfigError, match="ros__parameters"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_read_yaml_file_names_the_file_in_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("")
    assert read_yaml_file(path, "parameters file") is None
    path.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"^parameters file .*p\.yaml is not valid YAML"):
        read_yaml_file(path, "parameters file")
    with pytest.raises(ConfigError, match=r"^cannot read training config .*missing\.yaml: No such file"):
        read_yaml_file(tmp_path / "missing.yaml", "training config")


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("cloud.rgb: 'yes'", "cloud.rgb='yes' is not a valid bool"),  # a quoted string for a bool
        ("cloud.rgb: 0", "cloud.rgb=0 is not a valid bool"),
        ("device: 42", "quote strings in YAML"),  # a number for a string
        ("cloud.stride: '2'", "cloud.stride='2' is not a valid int"),
        ("cloud.stride: 2.0", "not a valid int"),  # rclpy refuses a DOUBLE for an INTEGER too
        ("output.max_range: .nan", "finite"),
        ("output.max_range: .inf", "finite"),
        ("output.max_range: true", "not a valid float"),
    ],
)
def test_params_file_follows_rclpy_type_rules(tmp_path: Path, line: str, match: str) -> None:
    """What works with mono-depth bag works on the robot: the file is read with the node's (rclpy's) type rules."""
    path = tmp_path / "p.yaml"
    path.write_text(f"/**:\n  ros__parameters:\n    {line}\n")
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_a_relative_config_not_there_names_the_working_directory_and_the_packages_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README's ``mono-depth bag IN OUT --config config/depth.yaml`` run outside the repository: "cannot read
    parameters file config/depth.yaml: No such file or directory" only. Now also where it was read from and the
    package's own file of that name (the source checkout's config/, or share/mono_depth_ros/config installed)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config(Path("config/depth.yaml"))
    said = str(err.value)
    assert said.startswith("cannot read parameters file config/depth.yaml: No such file or directory"), said
    assert f"relative to the working directory {tmp_path}: {tmp_path}/config/depth.yaml" in said, said
    assert f"the package's depth.yaml is {REPO_ROOT}/config/depth.yaml" in said, said
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "depth.yaml")  # absolute: as before
    assert str(err.value) == f"cannot read parameters file {tmp_path}/depth.yaml: No such file or directory"


def test_a_relative_config_not_there_names_the_installed_packages_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same mistake with the package installed (colcon: install/lib/python3.X/site-packages/mono_depth_ros,
    its config files in install/share/mono_depth_ros/config; ``ros2 run mono_depth_ros mono-depth bag ... --config
    config/depth.yaml``): the package's file was looked for beside the source checkout and under ``sys.prefix``
    (/usr for ROS's Python), never in the install's share folder, and went unnamed."""
    import mono_depth_ros.config as config_module

    prefix = tmp_path / "install"
    module = prefix / "lib" / "python3.11" / "site-packages" / "mono_depth_ros" / "config.py"
    module.parent.mkdir(parents=True)
    module.write_text("")
    shipped = prefix / "share" / "mono_depth_ros" / "config" / "depth_nav2.yaml"
    shipped.parent.mkdir(parents=True)
    shipped.write_text("/**:\n  ros__parameters: {}\n")
    monkeypatch.setattr(config_module, "__file__", str(module))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config(Path("config/depth_nav2.yaml"))
    said = str(err.value)
    assert f"relative to the working directory {tmp_path}: {tmp_path}/config/depth_nav2.yaml" in said, said
    assert said.endswith(f"; the package's depth_nav2.yaml is {shipped}"), said
    with pytest.raises(ConfigError) as err:
        load_config(Path("config/nothing_of_the_package.yaml"))  # no file of that name ships: no package file named
    assert "the package's" not in str(err.value), str(err.value)


def test_params_file_for_another_node_is_an_error_naming_the_expected_keys(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("camera_driver:\n  ros__parameters:\n    scale.mode: fixed\n")
    with pytest.raises(ConfigError, match=r"expected one of /\*\*, mono_depth_node, /mono_depth_node.*camera_driver"):
        load_config(path)
    path.write_text("/**:\n  ros__parameters:\n    output.max_range: 40\n")  # an int for a float stays accepted
    assert load_config(path)["output.max_range"] == 40.0


ROBOT_PARAMS = """
/**:
  ros__parameters:
    scale.mode: fixed
    output.max_range: 30.0
/front/mono_depth_node:
  ros__parameters:
    image_topic: /front/image_raw
/left/mono_depth_node:
  ros__parameters:
    image_topic: /left/image_raw
    output.max_range: 20.0
"""


def test_a_params_file_with_a_section_per_camera_needs_the_node_named(tmp_path: Path) -> None:
    """A robot's file for two cameras (``/**`` + one section per namespace): the bag runner applied ``/**`` alone, so
    a run on the left camera (``--param image_topic=/left/image_raw``) used the shared max_range, silently."""
    path = tmp_path / "robot.yaml"
    path.write_text(ROBOT_PARAMS)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert str(refused.value) == (
        f"parameters file {path} has sections for mono_depth_node in a namespace (/front/mono_depth_node, "
        "/left/mono_depth_node), which apply to that node only: one run takes one camera; name its node, e.g. "
        "--node /front/mono_depth_node"
    )
    left = load_config(path, node="/left/mono_depth_node")
    assert (left["image_topic"], left["output.max_range"], left["scale.mode"]) == ("/left/image_raw", 20.0, "fixed")
    front = load_config(path, ["output.max_range=10"], node="front/mono_depth_node")  # as rclpy: "/" added
    assert (front["image_topic"], front["output.max_range"]) == ("/front/image_raw", 10.0)
    rear = load_config(path, node="/rear/mono_depth_node")  # a third camera on the shared values (and --param)
    assert (rear["image_topic"], rear["output.max_range"]) == ("/camera/image_raw", 30.0)
    only_front = tmp_path / "front.yaml"
    only_front.write_text("/front/mono_depth_node:\n  ros__parameters: {}\n")
    with pytest.raises(ConfigError, match=r"no section for /left/mono_depth_node: expected one of /\*\*, "):
        load_config(only_front, node="/left/mono_depth_node")


def test_params_file_sections_apply_in_file_order_as_rclpy_applies_them(tmp_path: Path) -> None:
    """Real Humble: ``/left/mono_depth_node`` then ``/**`` gives the node /**'s value (the later section wins)."""
    path = tmp_path / "order.yaml"
    path.write_text(
        "/left/mono_depth_node:\n  ros__parameters:\n    image_topic: /from_section\n"
        "/**:\n  ros__parameters:\n    image_topic: /from_wildcard\n"
        "/**/mono_depth_node:\n  ros__parameters:\n    cloud.stride: 3\n"
    )
    values = load_config(path, node="/left/mono_depth_node")
    assert (values["image_topic"], values["cloud.stride"]) == ("/from_wildcard", 3)


@pytest.mark.parametrize("name", ["image_topic", "camera_info_topic", "lidar_topic", "prediction_topic"])
def test_a_topic_rcl_refuses_is_refused_with_the_parameters_name(name: str) -> None:
    """``/front-cam/image`` (a dash) passed here and ended the node in rclpy's InvalidTopicNameException traceback."""
    backend = {"model.backend": "external"} if name == "prediction_topic" else {}  # the one that subscribes it
    with pytest.raises(ConfigError, match=rf"^parameter {name}='/front-cam/x' is not a valid ROS topic name: it "):
        resolve({name: "/front-cam/x", **backend})
    assert resolve({name: "front_cam/x"})[name] == "front_cam/x"  # relative: the node's namespace
    assert resolve({"lidar_topic": ""})["lidar_topic"] == ""  # empty: no LiDAR


@pytest.mark.parametrize("value", ["", "/unused-topic"])
def test_an_unused_prediction_topic_does_not_stop_the_node(value: str) -> None:
    """prediction_topic is subscribed with model.backend external only; a params file that blanks it for another
    backend ran before the topic-name check and stopped at 'prediction_topic='' is not a valid ROS topic name'."""
    assert resolve({"prediction_topic": value})["prediction_topic"] == value
    with pytest.raises(ConfigError, match=r"^parameter prediction_topic=.* is not a valid ROS topic name"):
        resolve({"prediction_topic": value, "model.backend": "external"})
