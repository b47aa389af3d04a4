"""Tests for models/hf_preprocessing.py: processor settings → input policy and normalisation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mono_depth_ros.core.errors import CheckpointError
from mono_depth_ros.models.hf_preprocessing import (
    PROCESSOR_CLASS_DEFAULTS,
    HfPreprocessing,
    read_preprocessing,
    write_fixed_size_processor,
)
from mono_depth_ros.models.preprocess import network_input_size
from mono_depth_ros.models.spec import InputPolicy

DEFAULTS = HfPreprocessing(
    InputPolicy(384, 384, keep_aspect=True, multiple_of=32, max_long_side=640), (0.1,) * 3, (0.2,) * 3
)
KITTI = (375, 1242)


def _read(tmp_path: Path, settings: object) -> HfPreprocessing:
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    return read_preprocessing(tmp_path, DEFAULTS)


def test_no_file_keeps_the_family_defaults(tmp_path: Path) -> None:
    assert read_preprocessing(tmp_path, DEFAULTS) == DEFAULTS


def test_depth_anything_processor_runs_kitti_at_266_by_882(tmp_path: Path) -> None:
    settings = {
        "size": {"height": 518, "width": 518}, "keep_aspect_ratio": True, "ensure_multiple_of": 14,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], "do_normalize": True,
    }  # fmt: skip
    read = _read(tmp_path, settings)
    assert read.input == InputPolicy(518, 518, keep_aspect=True, multiple_of=14, max_long_side=882, least_scale=True)
    assert network_input_size(KITTI, read.input) == (266, 882)
    assert read.mean == (0.485, 0.456, 0.406) and read.source.endswith("preprocessor_config.json")


def test_fixed_size_dpt_and_unnormalised_glpn(tmp_path: Path) -> None:
    dpt = _read(tmp_path, {"size": {"height": 384, "width": 384}, "keep_aspect_ratio": False, "image_mean": 0.5})
    assert network_input_size(KITTI, dpt.input) == (384, 384) and dpt.mean == (0.5, 0.5, 0.5)
    glpn = _read(tmp_path, {"do_resize": True, "size_divisor": 32, "do_rescale": True})  # no size: family's short side
    assert glpn.input.multiple_of == 32 and glpn.input.height == 384
    raw = _read(tmp_path, {"do_normalize": False, "do_rescale": False})
    assert raw.mean == (0.0, 0.0, 0.0) and raw.std == pytest.approx((1 / 255,) * 3)


def test_shortest_edge_and_zoedepth_padding(tmp_path: Path) -> None:
    read = _read(tmp_path, {"size": {"shortest_edge": 256}, "ensure_multiple_of": 32, "do_pad": True})
    assert read.input.keep_aspect and read.input.height == 256 and not read.reflect_pad  # only ZoeDepth pads
    padded_family = HfPreprocessing(DEFAULTS.input, DEFAULTS.mean, DEFAULTS.std, reflect_pad=True)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_pad": False}))
    assert not read_preprocessing(tmp_path, padded_family).reflect_pad


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not readable JSON"),
        ('{"size": [1, 2]}', "size .* fix it .* or delete the file to use the family defaults"),
        ('{"image_std": [1, 2]}', "three numbers"),
        ('{"ensure_multiple_of": "14"}', "ensure_multiple_of '14' must be a number"),
        ("[1, 2]", "holds list, not a JSON object"),  # was an AttributeError's traceback
    ],
)
def test_malformed_files_name_the_setting(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "preprocessor_config.json").write_text(text)
    with pytest.raises(CheckpointError, match=match):
        read_preprocessing(tmp_path, DEFAULTS)


def test_a_bare_number_size_is_square_as_transformers_reads_it(tmp_path: Path) -> None:
    """Older processor files (Intel/dpt-large) say ``"size": 384``: transformers feeds 384×384, not a short side."""
    dpt = HfPreprocessing(InputPolicy(384, 384), DEFAULTS.mean, DEFAULTS.std)  # DPT's defaults: no keep-aspect
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"size": 384, "image_mean": [0.5] * 3}))
    read = read_preprocessing(tmp_path, dpt)
    assert not read.input.keep_aspect and network_input_size(KITTI, read.input) == (384, 384)
    kept = _read(tmp_path, {"size": 384, "keep_aspect_ratio": True, "ensure_multiple_of": 32})
    assert kept.input == InputPolicy(384, 384, keep_aspect=True, multiple_of=32, max_long_side=640, least_scale=True)


def test_keep_aspect_ratio_unsaid_follows_the_family(tmp_path: Path) -> None:
    """ZoeDepth's processor keeps aspect unless told otherwise; DPT's does not (the family defaults say which)."""
    settings = {"size": {"height": 384, "width": 512}, "ensure_multiple_of": 32}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    assert read_preprocessing(tmp_path, DEFAULTS).input.keep_aspect  # DEFAULTS keep aspect
    square = HfPreprocessing(InputPolicy(384, 384), DEFAULTS.mean, DEFAULTS.std)
    fixed = read_preprocessing(tmp_path, square)
    assert not fixed.input.keep_aspect and network_input_size(KITTI, fixed.input) == (384, 512)


def test_rescale_factor_other_than_1_over_255_scales_the_normalisation(tmp_path: Path) -> None:
    """``rescale_factor`` 2/255 means the network sees 2·x (x in [0, 1]) before (· - m)/s: mean and std halve."""
    read = _read(tmp_path, {"do_rescale": True, "rescale_factor": 2 / 255, "image_mean": 0.5, "image_std": 0.25})
    assert read.mean == pytest.approx((0.25,) * 3) and read.std == pytest.approx((0.125,) * 3)
    usual = _read(tmp_path, {"rescale_factor": 0.00392156862745098, "image_mean": 0.5, "image_std": 0.25})
    assert usual.mean == (0.5,) * 3 and usual.std == (0.25,) * 3
    with pytest.raises(CheckpointError, match="rescale_factor"):
        _read(tmp_path, {"rescale_factor": 0})


DA_PROCESSOR = {"size": {"height": 518, "width": 518}, "keep_aspect_ratio": True, "ensure_multiple_of": 14}
PDA_PROCESSOR = {"size": {"height": 756, "width": 756}, "keep_aspect_ratio": True, "ensure_multiple_of": 14}


@pytest.mark.parametrize("processor", [DA_PROCESSOR, PDA_PROCESSOR], ids=["depth_anything_518", "prompt_da_756"])
@pytest.mark.parametrize("camera_hw", [(375, 1242), (480, 640), (360, 640), (240, 424), (240, 320), (640, 480)])
def test_keep_aspect_scales_as_little_as_transformers(
    tmp_path: Path, processor: dict[str, object], camera_hw: tuple[int, int]
) -> None:
    """DPTImageProcessor (Depth Anything, Prompt Depth Anything, DPT-BEiT) keeps aspect with the scale nearer 1 of
    size / height and size / width ("scale as little as possible"): a camera smaller than the box fits inside it.
    The short side was always enlarged to the size: Prompt Depth Anything's 756 ran NYU's 480x640 at 756x1008 (1.8 x
    the pixels of transformers' 560x756) and KITTI at 392x1288 (224x756); Depth Anything a 640x360 camera at
    504x882 (294x518). Only the documented long-side cap (1.7 x the size) may make ours smaller."""
    from transformers.models.dpt.image_processing_pil_dpt import get_resize_output_image_size

    read = _read(tmp_path, processor)
    theirs = get_resize_output_image_size(np.zeros((3, *camera_hw)), (read.input.height, read.input.width), True, 14)
    ours = network_input_size(camera_hw, read.input)
    if max(theirs.height, theirs.width) <= read.input.max_long_side:
        assert ours == (theirs.height, theirs.width)
    else:  # the cap: the same aspect, the long side at the cap
        assert max(ours) == read.input.max_long_side // 14 * 14
        assert ours[0] / ours[1] == pytest.approx(theirs.height / theirs.width, rel=0.05)


def test_prompt_depth_anything_runs_nyu_at_its_processors_size(tmp_path: Path, nyu_dir: Path) -> None:
    """The published processor (756 box, keep aspect, ×14) on a real NYU frame: our network input is its size."""
    import transformers

    from mono_depth_ros.training.data.kitti_files import load_rgb

    rgb = load_rgb(nyu_dir / "rgb" / "rgb_00000.jpg")
    settings = {**PDA_PROCESSOR, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
    pixel_values = transformers.PromptDepthAnythingImageProcessorPil(**settings)(rgb, return_tensors="np").pixel_values
    assert network_input_size(rgb.shape[:2], _read(tmp_path, settings).input) == pixel_values.shape[-2:] == (560, 756)


@pytest.mark.parametrize(("resample", "interpolation"), [(3, "bicubic"), (2, "bilinear"), (None, "bilinear")])
def test_the_processors_resample_filter_is_kept(tmp_path: Path, resample: int | None, interpolation: str) -> None:
    """PIL's BICUBIC (3, the Depth Anything / DPT / Prompt Depth Anything files) or BILINEAR (2; unsaid: bilinear)."""
    assert _read(tmp_path, {**DA_PROCESSOR, "resample": resample}).input.interpolation == interpolation


def test_depth_anything_input_is_its_processors_on_a_real_nyu_frame(tmp_path: Path, nyu_dir: Path) -> None:
    """The published Depth Anything V2 processor (518 box, keep aspect, ×14, ImageNet, resample 3: bicubic) on a
    real NYU frame gives the network input our preprocessing gives, within rounding: the bicubic filter was read
    as bilinear (22 grey levels off at edges, 0.75 on average)."""
    import transformers

    from mono_depth_ros.models.preprocess import image_to_device, preprocess
    from mono_depth_ros.training.data.kitti_files import load_rgb

    settings = {**DA_PROCESSOR, "resample": 3, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
    read = _read(tmp_path, settings)
    for name in ("rgb_00000.jpg", "rgb_00050.jpg"):
        rgb = load_rgb(nyu_dir / "rgb" / name)
        theirs = transformers.DPTImageProcessorPil(**settings)(rgb, return_tensors="pt").pixel_values
        hw = network_input_size(rgb.shape[:2], read.input)
        ours = preprocess(
            image_to_device(rgb, torch.device("cpu")), hw, read.mean, read.std, mode=read.input.interpolation
        )
        assert ours.shape == theirs.shape
        grey = (ours - theirs).abs() * torch.tensor(read.std).view(1, 3, 1, 1) * 255  # in grey levels
        assert float(grey.max()) <= 2.5 and float(grey.mean()) < 0.05  # two passes, each rounded


def test_dpt_padding_without_resize_runs_the_camera_at_its_own_size(tmp_path: Path) -> None:
    """DPTImageProcessor with do_pad and size_divisor and no resize (DINOv2's depth heads) centre-pads the camera
    image: native_pad, to the divisor; a file that resizes, or pads nothing, resizes; ZoeDepth's do_pad is its
    reflection, not this."""
    dino = {"do_resize": False, "do_pad": True, "size_divisor": 14, "ensure_multiple_of": 1}
    read = _read(tmp_path, dino)
    assert read.input.native_pad and read.input.multiple_of == 14
    assert network_input_size((370, 500), read.input) == (378, 504)  # within the family's 384 (392) x 640
    assert not _read(tmp_path, {**dino, "do_pad": False}).input.native_pad
    assert not _read(tmp_path, {**dino, "do_resize": True, "size": {"height": 98, "width": 98}}).input.native_pad
    family = HfPreprocessing(InputPolicy(480, 480, keep_aspect=True, native_pad=True), (0.0,) * 3, (1.0,) * 3)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"do_resize": False}))
    assert read_preprocessing(tmp_path, family).input.native_pad  # unsaid: the family's
    zoe = HfPreprocessing(DEFAULTS.input, DEFAULTS.mean, DEFAULTS.std, reflect_pad=True)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(dino))
    assert not read_preprocessing(tmp_path, zoe).input.native_pad


@pytest.mark.parametrize(
    ("model_type", "processor"),
    [("depth_anything", "DPTImageProcessorPil"), ("prompt_depth_anything", "PromptDepthAnythingImageProcessorPil")],
)
def test_a_file_silent_on_resample_gets_its_processor_classs_filter(
    tmp_path: Path, nyu_dir: Path, model_type: str, processor: str
) -> None:
    """DPTImageProcessor and PromptDepthAnythingImageProcessor resample with PIL's bicubic unless the file says
    otherwise (their class default; transformers refuses ``"resample": null``). A file without ``resample`` (written
    by hand, or by an older transformers) was read as bilinear: 22 grey levels off at edges on a real NYU frame.
    Now the family's default is its processor class's: the same input within rounding."""
    import transformers

    from mono_depth_ros.models.hf_model import family_of
    from mono_depth_ros.models.hf_spec import transformers_spec
    from mono_depth_ros.models.preprocess import image_to_device, preprocess
    from mono_depth_ros.training.data.kitti_files import load_rgb

    settings = {**DA_PROCESSOR, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    spec = transformers_spec({"model_type": model_type}, family_of(model_type), tmp_path)
    rgb = load_rgb(nyu_dir / "rgb" / "rgb_00000.jpg")
    theirs = getattr(transformers, processor)(**settings)(rgb, return_tensors="pt").pixel_values
    hw = network_input_size(rgb.shape[:2], spec.input)
    ours = preprocess(image_to_device(rgb, torch.device("cpu")), hw, spec.mean, spec.std, mode=spec.input.interpolation)
    assert ours.shape == theirs.shape == (1, 3, 518, 686)
    grey = (ours - theirs).abs() * torch.tensor(spec.std).view(1, 3, 1, 1) * 255  # in grey levels
    assert float(grey.max()) <= 2.5 and float(grey.mean()) < 0.05
    for family in ("dpt", "depth_anything", "prompt_depth_anything"):  # no file: the processor class's filter too
        assert family_of(family).preprocessing({"model_type": family}).input.interpolation == "bicubic"
    for family in ("zoedepth", "glpn", "depth_pro", "tipsv2_dpt"):  # bilinear processors
        assert family_of(family).preprocessing({"model_type": family}).input.interpolation == "bilinear"


@pytest.mark.parametrize(
    ("model_type", "processor"),
    [
        ("depth_anything", "DPTImageProcessorPil"),
        ("prompt_depth_anything", "PromptDepthAnythingImageProcessorPil"),
        ("dpt", "DPTImageProcessorPil"),
    ],
)
def test_settings_a_file_leaves_out_are_its_processor_classs_defaults(
    tmp_path: Path, nyu_dir: Path, model_type: str, processor: str
) -> None:
    """transformers builds the processor from the file over its class's defaults: DPTImageProcessor (Depth Anything,
    DPT) and PromptDepthAnythingImageProcessor do not keep aspect, normalise with 0.5 / 0.5 and round to a multiple
    of 1 unless told. A file giving only its size and multiple was read with the family's published settings
    instead (Depth Anything on a real NYU frame: 384x512 with ImageNet normalisation where transformers feeds
    384x384 with 0.5 / 0.5). Now the same input within rounding (at 448, whole patches for every family: off them
    the engine runs the patch multiple, see test_hf_spec.py), and the table is the installed classes'."""
    import transformers

    from mono_depth_ros.models.hf_model import family_of
    from mono_depth_ros.models.hf_preprocessing import PROCESSOR_CLASS_DEFAULTS
    from mono_depth_ros.models.hf_spec import transformers_spec
    from mono_depth_ros.models.preprocess import image_to_device, preprocess
    from mono_depth_ros.training.data.kitti_files import load_rgb

    for key, value in PROCESSOR_CLASS_DEFAULTS[model_type].items():
        assert getattr(getattr(transformers, processor), key) == value, key
    settings = {"size": {"height": 448, "width": 448}, "ensure_multiple_of": 32}  # whole 14 and 16 px patches
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    spec = transformers_spec({"model_type": model_type}, family_of(model_type), tmp_path)
    rgb = load_rgb(nyu_dir / "rgb" / "rgb_00000.jpg")
    theirs = getattr(transformers, processor)(**settings)(rgb, return_tensors="pt").pixel_values
    hw = network_input_size(rgb.shape[:2], spec.input)
    ours = preprocess(image_to_device(rgb, torch.device("cpu")), hw, spec.mean, spec.std, mode=spec.input.interpolation)
    assert ours.shape == theirs.shape == (1, 3, 448, 448)
    grey = (ours - theirs).abs() * torch.tensor(spec.std).view(1, 3, 1, 1) * 255  # in grey levels
    assert float(grey.max()) <= 2.5 and float(grey.mean()) < 0.05


def test_a_fixed_size_is_rounded_to_ensure_multiple_of_as_transformers_does(tmp_path: Path, nyu_dir: Path) -> None:
    """DPTImageProcessor rounds even a fixed (keep_aspect_ratio false) size to ``ensure_multiple_of``: a 100x200
    box with multiple 28 feeds 112x196. The box was run as written, 100x200 (a ViT then drops the partial patches).
    Now the same size and input within rounding on a real NYU frame."""
    import transformers

    from mono_depth_ros.models.hf_model import family_of
    from mono_depth_ros.models.hf_spec import transformers_spec
    from mono_depth_ros.models.preprocess import image_to_device, preprocess
    from mono_depth_ros.training.data.kitti_files import load_rgb

    settings = {"size": {"height": 100, "width": 200}, "keep_aspect_ratio": False, "ensure_multiple_of": 28}
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    spec = transformers_spec({"model_type": "depth_anything"}, family_of("depth_anything"), tmp_path)
    rgb = load_rgb(nyu_dir / "rgb" / "rgb_00000.jpg")
    theirs = transformers.DPTImageProcessorPil(**settings)(rgb, return_tensors="pt").pixel_values
    hw = network_input_size(rgb.shape[:2], spec.input)
    ours = preprocess(image_to_device(rgb, torch.device("cpu")), hw, spec.mean, spec.std, mode=spec.input.interpolation)
    assert ours.shape == theirs.shape == (1, 3, 112, 196)
    grey = (ours - theirs).abs() * torch.tensor(spec.std).view(1, 3, 1, 1) * 255  # in grey levels
    assert float(grey.max()) <= 2.5 and float(grey.mean()) < 0.05


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
def test_a_written_fixed_size_processor_reads_back_as_its_policy(tmp_path: Path, interpolation: str) -> None:
    """What a Depth Anything fine-tune writes: the training size, stretched (no keep-aspect), its filter and
    normalisation, read through Depth Anything's processor class defaults (bicubic, keep-aspect off)."""
    trained = InputPolicy(56, 182, multiple_of=14, interpolation=interpolation)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    write_fixed_size_processor(tmp_path, trained, mean, std)
    read = read_preprocessing(tmp_path, DEFAULTS, PROCESSOR_CLASS_DEFAULTS["depth_anything"])
    assert network_input_size(KITTI, read.input) == (56, 182)
    assert (read.input.keep_aspect, read.input.interpolation) == (False, interpolation)
    assert np.allclose(read.mean, mean) and np.allclose(read.std, std)


def test_a_keep_aspect_policy_is_not_written_as_a_fixed_size(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="fixed-size"):
        write_fixed_size_processor(tmp_path, DEFAULTS.input, DEFAULTS.mean, DEFAULTS.std)
    assert not (tmp_path / "preprocessor_config.json").exists()


@pytest.mark.parametrize(
    ("model_type", "policy", "mean", "std"),
    [
        ("depth_anything", InputPolicy(56, 182, multiple_of=14), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ("depth_anything", InputPolicy(56, 182, multiple_of=14, interpolation="bicubic"), (0.5,) * 3, (0.5,) * 3),
        ("glpn", InputPolicy(64, 224, multiple_of=32), (0.0,) * 3, (1.0,) * 3),
    ],
    ids=["depth_anything", "bicubic", "glpn"],
)
def test_a_written_fixed_size_processor_feeds_transformers_as_it_feeds_the_node(
    tmp_path: Path,
    nyu_dir: Path,
    model_type: str,
    policy: InputPolicy,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> None:
    """A fine-tune's ``pretrained/`` may be run in transformers too: its processor file, loaded by transformers'
    own AutoImageProcessor, gives the network the size, filter and normalisation the node gives it (a real NYU
    frame, within a grey level of PIL's resize against the node's)."""
    import transformers

    from mono_depth_ros.models.hf_model import family_of
    from mono_depth_ros.models.hf_spec import transformers_spec
    from mono_depth_ros.models.preprocess import image_to_device, preprocess
    from mono_depth_ros.training.data.kitti_files import load_rgb

    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    write_fixed_size_processor(tmp_path, policy, mean, std)
    processor = transformers.AutoImageProcessor.from_pretrained(str(tmp_path), local_files_only=True)
    spec = transformers_spec({"model_type": model_type}, family_of(model_type), tmp_path)
    rgb = load_rgb(nyu_dir / "rgb" / "rgb_00000.jpg")
    theirs = processor(rgb, return_tensors="pt").pixel_values
    hw = network_input_size(rgb.shape[:2], spec.input)
    ours = preprocess(image_to_device(rgb, torch.device("cpu")), hw, spec.mean, spec.std, mode=spec.input.interpolation)
    assert hw == (policy.height, policy.width) and spec.input.interpolation == policy.interpolation
    assert ours.shape == theirs.shape == (1, 3, policy.height, policy.width)
    assert np.allclose(spec.mean, mean) and np.allclose(spec.std, std)
    grey = (ours - theirs).abs() * torch.tensor(spec.std).view(1, 3, 1, 1) * 255  # in grey levels
    assert float(grey.max()) <= 2.5 and float(grey.mean()) < 0.05


@pytest.mark.parametrize(
    ("size", "bad"),
    [
        ({"height": None, "width": 518}, "height None"),  # was int(None)'s TypeError traceback
        ({"height": "large", "width": 518}, "height 'large'"),  # int('large')'s ValueError
        ({"shortest_edge": [518]}, r"shortest_edge \[518\]"),
        ({"height": 0, "width": 518}, "height 0"),  # InputPolicy's 'the spec (or its sidecar) is wrong'
        ({"height": -518, "width": 518}, "height -518"),
        ({"height": 518.5, "width": 518}, "height 518.5"),  # int() floored it to 518 without a word
        (True, "True"),  # a bool is an int to Python: a 1x1 input
    ],
)
def test_a_size_that_is_no_whole_number_of_pixels_names_the_file_and_the_value(
    tmp_path: Path, size: object, bad: str
) -> None:
    """A size side that was None, a word or a list crashed the load with int()'s TypeError / ValueError; 0 or -518
    was refused as 'the spec (or its sidecar) is wrong' (the file the user has to fix unnamed); 518.5 and true were
    floored to 518 and 1 without a word."""
    pattern = rf"preprocessor_config\.json: size {bad} is not a whole number of pixels"
    with pytest.raises(CheckpointError, match=pattern):
        _read(tmp_path, {"size": size})


@pytest.mark.parametrize("resample", ["bicubic", "BICUBIC", "bilinear", 3.5, True, 7, -1])
def test_a_resample_that_is_no_pil_filter_number_names_the_file_and_the_value(tmp_path: Path, resample: object) -> None:
    """``"resample": "bicubic"`` (a string) was read as bilinear without a word, as were 3.5, true and 7. transformers
    takes PIL's filter numbers only: its torchvision processors refuse a string, its PIL ones resize it bilinear
    whatever it names, so the file means no one filter."""
    pattern = rf"preprocessor_config\.json: resample {resample!r} is not one of PIL's filter numbers.*3 .*bicubic"
    with pytest.raises(CheckpointError, match=pattern):
        _read(tmp_path, {**DA_PROCESSOR, "resample": resample})


@pytest.mark.parametrize(("name", "value"), [("ensure_multiple_of", 14.5), ("size_divisor", 32.5)])
def test_a_multiple_that_is_no_whole_number_of_pixels_names_the_file_and_the_value(
    tmp_path: Path, name: str, value: float
) -> None:
    """``ensure_multiple_of: 14.5`` was floored to 14 without a word (transformers would round sides to multiples of
    14.5, no whole pixels); a whole float (14.0) and ZoeDepth's saved class default 1/32 (below a pixel: rounds
    nothing) still read."""
    settings = {"do_pad": True} if name == "size_divisor" else {}
    pattern = rf"preprocessor_config\.json: {name} {value} is not a whole number of pixels"
    with pytest.raises(CheckpointError, match=pattern):
        _read(tmp_path, {**settings, name: value})
    assert _read(tmp_path, {"ensure_multiple_of": 14.0}).input.multiple_of == 14
    assert _read(tmp_path, {"do_pad": True, "size_divisor": 1 / 32}).input.multiple_of == DEFAULTS.input.multiple_of


@pytest.mark.parametrize(("camera", "size"), [(KITTI, (256, 512)), ((480, 640), (480, 600)), (KITTI, (256, 300))])
def test_a_longest_edge_caps_the_long_side_as_transformers_resize_does(
    tmp_path: Path, camera: tuple[int, int], size: tuple[int, int]
) -> None:
    """``size: {shortest_edge: 256, longest_edge: 512}`` ran KITTI at 131x435: the long side was capped at 1.7 x the
    short side and longest_edge was ignored. transformers' generic resize (the one a processor without its own, such
    as TIPS v2 DPT's and Depth Pro's, runs; DPT's, ZoeDepth's and Prompt Depth Anything's refuse such a size) scales
    the short side to shortest_edge unless the long side would pass longest_edge, then the long side to it."""
    from transformers.image_transforms import get_size_with_aspect_ratio

    shortest, longest = size
    read = _read(tmp_path, {"size": {"shortest_edge": shortest, "longest_edge": longest}, "ensure_multiple_of": 1})
    assert network_input_size(camera, read.input) == get_size_with_aspect_ratio(camera, shortest, longest)
    assert read.input.max_long_side == longest


@pytest.mark.parametrize(
    ("size", "bad"),
    [
        ({"shortest_edge": 256, "longest_edge": 0}, "longest_edge 0"),
        ({"shortest_edge": 256, "longest_edge": 512.5}, "longest_edge 512.5"),
    ],
)
def test_a_longest_edge_that_is_no_whole_number_of_pixels_names_the_file_and_the_value(
    tmp_path: Path, size: object, bad: str
) -> None:
    pattern = rf"preprocessor_config\.json: size {bad} is not a whole number of pixels"
    with pytest.raises(CheckpointError, match=pattern):
        _read(tmp_path, {"size": size})


def test_a_longest_edge_below_the_multiple_is_refused_at_load(tmp_path: Path) -> None:
    """A cap below one multiple failed at the first frame (network_input_size's ConfigError): refused here, naming
    both numbers."""
    with pytest.raises(CheckpointError, match=r"longest_edge 20 is below .*multiple of 32"):
        _read(tmp_path, {"size": {"shortest_edge": 256, "longest_edge": 20}, "ensure_multiple_of": 32})


@pytest.mark.parametrize("model_type", ["depth_anything", "prompt_depth_anything", "tipsv2_dpt"])
@pytest.mark.parametrize("keep_aspect", [None, False])
def test_a_shortest_edge_size_keeps_the_aspect_whatever_keep_aspect_ratio_says(
    tmp_path: Path, model_type: str, keep_aspect: bool | None
) -> None:
    """``size: {shortest_edge: 256, longest_edge: 512}`` in a Depth Anything or Prompt Depth Anything folder that
    leaves keep_aspect_ratio to its processor class (DPTImageProcessor's default: false), or a file that says false,
    ran KITTI stretched to a 256x256 square, longest_edge ignored. No transformers processor reads shortest_edge as a
    square: the generic resize (TIPS v2 DPT's) keeps the aspect whatever keep_aspect_ratio says, DPT's and Prompt
    Depth Anything's refuse such a size. Kept the aspect, as get_size_with_aspect_ratio: 155x512."""
    from transformers.image_transforms import get_size_with_aspect_ratio

    from mono_depth_ros.models.hf_model import family_of

    settings: dict[str, object] = {"size": {"shortest_edge": 256, "longest_edge": 512}, "ensure_multiple_of": 1}
    if keep_aspect is not None:
        settings["keep_aspect_ratio"] = keep_aspect
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(settings))
    family = family_of(model_type)
    read = read_preprocessing(tmp_path, family.preprocessing({}), PROCESSOR_CLASS_DEFAULTS.get(model_type))
    assert network_input_size(KITTI, read.input) == get_size_with_aspect_ratio(KITTI, 256, 512) == (155, 512)
