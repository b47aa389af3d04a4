"""`mono-depth spec MODEL.onnx --kind KIND ...`: the spec of an ONNX (or TorchScript) depth model made elsewhere.

Writes ``MODEL.onnx.spec.json`` beside the model (see :mod:`mono_depth_ros.models.sidecar`; a golden reference left
there by ``mono-depth export`` under another spec is removed; written beside and renamed once whole, the golden
removed just before: a failure midway leaves the earlier spec and golden), after checking it against the graph:
one RGB image input ((B, 3, H, W), (B, H, W, 3), or either without the batch axis), the named depth output (and sky
output) present and declared as one map per image (not normals, nor depth and confidence stacked in one output), a fixed
input size taken from the graph when it has one (a graph with one fixed side runs at that side, never keeping
aspect), and with ``--keep-aspect`` a graph declared free that runs square only refused (run once at a 2:1 camera's
size: a map size traced as a constant, height and width one symbol; then at 16:9, 4:3 and 3:4 portrait cameras'
sizes: a graph that runs for the landscape ones only gets a spec recording the aspects it serves,
``params.served_aspects``, and the node refuses a portrait camera by name).
The node and the bag runner then load it with ``--param model.backend=onnx --param model.weights=MODEL.onnx``.
Depth Anything 3 metric, for example::

    mono-depth spec da3_metric.onnx --kind metric_focal --input-size 504x504 --output depth --sky-output sky

A graph that takes any size and keeps the camera's aspect gets the short side and the multiple its strides need
(a short side off that multiple is refused: it would run at another size), and the normalisation it was trained
with (ImageNet's by default, as Depth Anything and MiDaS v2.1; MiDaS v3's DPTs take mean and std 0.5, as its
``model_loader.py`` and transformers' DPT processor normalise)::

    mono-depth spec depth_anything_v2_vits.onnx --kind relative_inverse --input-size 518x518 --keep-aspect \
        --interpolation bicubic --no-antialias
    mono-depth spec midas_v3_hybrid.onnx --kind relative_inverse --input-size 384x384 --keep-aspect --multiple-of 32 \
        --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 --interpolation bicubic --no-antialias

(``--interpolation bicubic --no-antialias``: their own inference code resizes the image with ``cv2.INTER_CUBIC``,
which these give exactly; the default is bilinear, antialiased when shrinking.)

A graph that takes uint8 pixels (its normalisation inside, as TensorFlow exports often have) gets 0..255 without
``--mean`` / ``--std``; other values are refused for it. Metric3D's ONNX (fixed 616x1064: the image fitted inside
keeping its aspect and padded; float pixels 0..255; canonical focal 1000 px)::

    mono-depth spec metric3d_vit_small.onnx --kind metric_focal --focal-divisor 1000 --pad --mean 0,0,0 \
        --std 0.00392156862745098,0.00392156862745098,0.00392156862745098 --pad-colour 0.485,0.456,0.406 \
        --no-antialias

(``--pad-colour``: its own code pads with ImageNet's mean colour, which its graph normalises to 0; the default pads
with the spec's mean, here 0: black. ``--no-antialias``: it shrinks the image with ``cv2.INTER_LINEAR``.)

Apple's Depth Pro exported to ONNX from transformers' ``DepthProForDepthEstimation`` (fixed 1536x1536, the image
stretched to it without antialiasing, mean and std 0.5, as its processor does; ``predicted_depth`` its canonical
inverse depth, ``field_of_view`` its field-of-view head's horizontal field of view in degrees) is metric with the
camera's focal length, or its own field of view when camera_info gives none (metres = 1 / clamp(v · 2 tan(fov / 2),
1e-4, 1e4), transformers' post-processing)::

    mono-depth spec depth_pro.onnx --kind canonical_inverse --output predicted_depth --fov-output field_of_view \
        --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 --no-antialias

(``--focal-output NAME`` instead for a graph whose output is a focal length in its input's pixels.) The
onnx-community/DepthPro-ONNX export (outputs ``predicted_depth``, ``focallength_px``) is another matter: by its model
card's example its ``predicted_depth`` is depth in metres already, as Apple's ``infer`` returns (not checked on its
real weights here), so it is ``--kind metric --output predicted_depth`` with the same normalisation; with
``--focal-output focallength_px`` too, its metres (made with its own focal) are rescaled to the camera's focal when
camera_info gives one (depth x f_camera / f_graph, what Apple's ``infer`` returns with the camera's ``f_px``; this
takes ``focallength_px`` to be in its input's pixels, also unchecked on the real weights)::

    mono-depth spec model.onnx --kind metric --output predicted_depth --focal-output focallength_px \
        --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 --no-antialias

A TorchScript ``.pt`` (scripted or traced elsewhere) gets its spec the same way, with ``--input-size`` (a TorchScript
module does not state its input size) and, for a module returning a dict, ``--output KEY`` (a tuple: ``--output
N``, the depth's position; the first item without it); it then runs with
``model.backend=torchscript``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any, NamedTuple

from mono_depth_ros.core.depth_kind import OutputKind
from mono_depth_ros.core.errors import CheckpointError, ConfigError, ShapeError, first_line
from mono_depth_ros.models.frozen_input import SERVED_ASPECTS_KEY
from mono_depth_ros.models.graph_layout import MAP_SHAPES, ImageInput, declared_hw, declared_map, image_input
from mono_depth_ros.models.preprocess import INTERPOLATIONS
from mono_depth_ros.models.sidecar import golden_path_for, spec_path_for, write_whole
from mono_depth_ros.models.spec import (
    METRIC_FOCAL_DIVISOR,
    PIXEL_MEAN,
    PIXEL_STD,
    InputPolicy,
    ModelSpec,
    gives_pixels,
)

HELP = "write the spec of an ONNX / TorchScript model made elsewhere (output kind, input size, normalisation, outputs)"
TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".ts", ".jit")
IMAGENET_MEAN = "0.485,0.456,0.406"
IMAGENET_STD = "0.229,0.224,0.225"
FLOAT_INPUTS = ("tensor(float)", "tensor(float16)", "tensor(double)", "tensor(bfloat16)")
MULTIPLE_OF = 14  # --multiple-of default: ViT patches (Depth Anything)
SKY_THRESHOLD = 0.5  # --sky-threshold default: the ModelSpec default


def _triple(text: str, name: str) -> tuple[float, float, float]:
    try:
        first, second, third = (float(part) for part in text.split(","))
    except ValueError:
        msg = f"--{name} must be three comma-separated numbers (RGB, for values in [0, 1]), got {text!r}"
        raise ConfigError(msg) from None
    return first, second, third


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        msg = f"--input-size must be HEIGHTxWIDTH in pixels (e.g. 518x518), got {text!r}"
        raise ConfigError(msg) from None
    return height, width


class GraphSignature(NamedTuple):
    """What an ONNX graph declares: its image input, that input's element type (``tensor(uint8)``), its outputs
    and their shapes (``NodeArg.shape``; empty for a TorchScript module, which declares none)."""

    image: ImageInput
    input_type: str
    outputs: list[str]
    output_shapes: dict[str, list[Any] | None]
    output_types: dict[str, str]
    session: Any = None
    """The ``onnxruntime.InferenceSession`` on the CPU it was read with (None for a TorchScript module)."""


def graph_signature(model: Path) -> GraphSignature:
    """The image input, its type and the output names of an ONNX model, read with ONNX Runtime.

    Raises:
        CheckpointError: not a loadable ONNX model, external data outside its folder, or not one RGB image input
            (see :func:`image_input`).
    """
    from mono_depth_ros.models.hub_id import broken_link
    from mono_depth_ros.models.onnx_external import check_external_data
    from mono_depth_ros.models.onnx_model import directory_given, load_error, require_onnxruntime

    if model.is_dir():
        raise CheckpointError(directory_given(model, "ONNX model"))
    if not model.is_file():
        msg = broken_link(model) or f"ONNX model {model} does not exist"
        raise CheckpointError(msg)
    ort = require_onnxruntime()
    check_external_data(model)
    try:
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime's errors derive from Exception only
        raise load_error(model, err) from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        msg = (
            f"{model} must take one RGB image input, it takes {[(i.name, i.shape) for i in inputs]}; re-export it "
            f"with the other inputs fixed inside the graph"
        )
        raise CheckpointError(msg)
    image = image_input(str(inputs[0].name), list(inputs[0].shape or []), str(model))
    shapes = {str(output.name): output.shape for output in session.get_outputs()}
    types = {str(output.name): str(output.type) for output in session.get_outputs()}
    return GraphSignature(image, str(inputs[0].type), list(shapes), shapes, types, session)


TRIAL_ASPECT = 2
"""Width over height of the first camera that :func:`check_keep_aspect_run` runs a keep-aspect spec's graph for (a
wide camera within the spec command's default cap of twice the short side; KITTI's is 3.3)."""

TRIAL_CAMERAS: tuple[tuple[str, tuple[int, int] | None], ...] = (
    (f"{TRIAL_ASPECT}:1", None),
    ("16:9", (720, 1280)),
    ("4:3", (480, 640)),
    ("3:4 portrait", (640, 480)),
)
"""The cameras (a name, and (height, width) in pixels; None: ``policy.height`` by :data:`TRIAL_ASPECT` times it)
whose keep-aspect network input sizes :func:`check_keep_aspect_run` tries, each distinct size once: the aspects users'
cameras have. A graph that ran for a 2:1 camera but not for a 640x480 one was given its spec, and every frame of that
camera was refused. (A square camera's size is the spec's square input, which the engine's warm-up runs at load.)
Each size is a forward pass: the spec of a graph of 518 short side at --multiple-of 14 runs 518x1036, 518x924,
518x686, 686x518 (3.2x the pixels of the 2:1 run alone; bench/RESULTS-session-notes.md, explore134)."""


def check_keep_aspect_run(
    model: Path, signature: GraphSignature, policy: InputPolicy, output: str
) -> tuple[float, float] | None:
    """Run a graph declared with free height and width once at each size a keep-aspect ``policy`` gives the cameras
    of :data:`TRIAL_CAMERAS` (zeros; each distinct size once, a 2:1 camera's first), and refuse it when it cannot run
    at one or returns a map that is not of that input (:func:`~.graph_layout.depth_map`): an export whose output size
    was traced as a constant (transformers' Depth Anything through the legacy exporter: its last upsampling to the
    export's 518x518), whose height and width share one symbol (torch.export from a square example: square inputs
    only), or that runs at one aspect only (exported from 2:1 crops). The engine's warm-up runs at the spec's square
    input size and would pass; the first camera frame would be refused, and every one after it.

    A graph that ran for every landscape camera and fails for the portrait one only (many exports run only when
    their width is at least their height) is run at the spec's square size too, and its spec serves the network input
    aspects from the least that ran (1 when the square one did) up: returned, for the spec's
    ``params.served_aspects`` (:data:`~.frozen_input.SERVED_ASPECTS_KEY`), with a note on stderr saying that portrait
    cameras are refused and why; the node refuses such a camera by name (:func:`~.frozen_input.aspect_problem`).

    Out of memory on this machine, the trial is left out with a note on stderr (the spec is still written).

    Returns:
        ``(least, inf)``: the network input aspects (width / height) served when the portrait trial failed alone;
        None: any (every trial ran, or not tried).

    Raises:
        CheckpointError: naming the camera and size tried, the cameras it ran for, what the graph did, and the spec to
            write instead.
    """
    from mono_depth_ros.models.preprocess import network_input_size

    image = signature.image
    if signature.session is None or image.height is not None or image.width is not None or not policy.keep_aspect:
        return None
    tried: dict[tuple[int, int], list[str]] = {}  # sizes that ran -> the cameras run at them
    for name, camera in TRIAL_CAMERAS:
        input_hw = network_input_size(camera or (policy.height, policy.height * TRIAL_ASPECT), policy)
        words = f"a {name} camera" + (f" ({camera[1]}x{camera[0]})" if camera else "")
        if input_hw in tried:
            tried[input_hw].append(words)
            continue
        portrait = camera is not None and camera[0] > camera[1]
        try:
            if not _trial_run(model, signature, output, words, input_hw, tried):
                return None  # out of memory on this machine: the rest left untried too
        except CheckpointError as err:
            if not portrait or not tried:
                raise
            return _landscape_only(model, signature, output, policy, tried, words, err)
        tried[input_hw] = [words]
    return None


def _landscape_only(
    model: Path,
    signature: GraphSignature,
    output: str,
    policy: InputPolicy,
    tried: dict[tuple[int, int], list[str]],
    camera: str,
    failure: CheckpointError,
) -> tuple[float, float]:
    """The aspects served by a graph that ran for every landscape camera of ``tried`` and failed for the portrait
    ``camera`` (``failure``): from the square one when it runs at the spec's square size, else from the least that
    ran; a note on stderr says portrait cameras will be refused, why, and the spec to write for one.

    Raises:
        CheckpointError: the spec's own input size (the engine's warm-up at load) is of an aspect below those served
            (the square failed too): naming the --input-size of a landscape size it ran at."""
    from mono_depth_ros.models.preprocess import network_input_size

    square_hw = network_input_size((policy.height, policy.height), policy)
    least = min(width / height for height, width in tried)
    square = f"a square camera ({square_hw[0]}x{square_hw[1]})"
    try:
        if square_hw in tried or _trial_run(model, signature, output, square, square_hw, tried):
            least = min(least, square_hw[1] / square_hw[0])
            tried.setdefault(square_hw, [square])
            square = f", {square} too"
        else:
            square = f", untried at {square} (out of memory on this machine)"
    except CheckpointError:
        square = f", not {square}"
    warm_hw = network_input_size((policy.height, policy.width), policy)  # the engine's warm-up at load
    if warm_hw[1] / warm_hw[0] < least:
        ran_h, ran_w = min(tried, key=lambda hw: hw[1] / hw[0])
        msg = (
            f"{failure}; it ran for landscape cameras only{square}: network input aspects (width / height) "
            f"{least:.2f} and wider, and the engine warms up at the spec's input size {policy.height}x{policy.width} "
            f"(network input {warm_hw[0]}x{warm_hw[1]}) when it loads, which that spec would refuse; give "
            f"--input-size {ran_h}x{ran_w} --keep-aspect (a size it ran at), or --pad --input-size HxW in place of "
            f"--keep-aspect"
        )
        raise CheckpointError(msg)
    sys.stderr.write(
        f"note: {failure}; the spec keeps aspect for the cameras it ran for{square}: network input aspects (width / "
        f"height) {least:.2f} and wider (params.{SERVED_ASPECTS_KEY}); the node and the bag runner refuse a portrait "
        f"camera, naming it, and count each of its frames; for a portrait camera write a spec with --pad --input-size "
        f"HxW in place of --keep-aspect (the image fitted inside a size it runs at)\n"
    )
    return least, math.inf


def _ran_words(tried: dict[tuple[int, int], list[str]]) -> str:
    """The cameras the trial ran the graph for, in words (``a 2:1 camera and a 16:9 camera (1280x720)``)."""
    names = [name for names in tried.values() for name in names]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _trial_run(
    model: Path,
    signature: GraphSignature,
    output: str,
    camera: str,
    input_hw: tuple[int, int],
    tried: dict[tuple[int, int], list[str]],
) -> bool:
    """:func:`check_keep_aspect_run`'s run at ``input_hw`` (the network input (height, width) in pixels of
    ``camera``, its words; ``tried``: the sizes that ran before it, and their cameras: none for the first, a 2:1
    camera's); False when it ran out of this machine's memory (a note on stderr), True when it ran.

    Raises:
        CheckpointError: the graph failed there (naming the cameras it ran for; by aspect, when it ran at the same
            sides the other way round), or returned a map not of that input."""
    import numpy as np
    import torch

    from mono_depth_ros.core.model_output import is_out_of_memory
    from mono_depth_ros.models.graph_layout import depth_map, failed_run
    from mono_depth_ros.models.onnx_binding import numpy_dtype, torch_dtype

    image = signature.image
    dtype = torch_dtype(signature.input_type, f"input {image.name!r}")
    batch = image.arrange(torch.zeros((1, 3, *input_hw), dtype=dtype)).contiguous().numpy()
    what = f"{model} output {output!r}"
    symbol = _shared_symbol(signature)
    square = (
        f"; its input declares height and width as one symbol {symbol!r}: square inputs only (an export from a square "
        f"example)"
        if symbol
        else ""
    )
    remedy = (
        f"--keep-aspect runs {camera} at {input_hw[0]}x{input_hw[1]}{square}; "
        f"write the spec without --keep-aspect at the size it was exported for (--input-size HxW: the image "
        f"stretched to it) or with --pad (fitted inside it), or re-export it with its map's size taken from its input"
    )
    try:
        (result,) = signature.session.run([output], {image.name: batch.astype(numpy_dtype(dtype), copy=False)})
    except Exception as err:  # onnxruntime's errors derive from Exception only
        if is_out_of_memory(err):  # the size is not what is wrong: this machine's memory (the robot's GPU may hold it)
            sys.stderr.write(
                f"note: {model} not tried at {input_hw[0]}x{input_hw[1]} ({camera} under "
                f"--keep-aspect): out of memory on this machine's CPU; the spec is written untried, and a graph that "
                f"runs square only is refused at the first camera frame\n"
            )
            return False
        transposed = input_hw[::-1] in tried
        failed = failed_run(str(model), (1, 3, *input_hw), err, transposed_ran=transposed)
        where = f" ({camera} under --keep-aspect; it ran for {_ran_words(tried)})" if tried else ""
        raise CheckpointError(f"{failed}{square}{where}") from None
    try:
        depth_map(torch.from_numpy(np.asarray(result)), 1, what, remedy, input_hw, remedy)
    except ShapeError as err:
        raise CheckpointError(str(err)) from None
    return True


def _shared_symbol(signature: GraphSignature) -> str:
    """The symbolic name the image input gives both its height and width (ONNX: one name, one size), else ``""``."""
    session = signature.session
    dims = list(session.get_inputs()[0].shape or []) if session is not None else []
    sides = declared_hw(signature.image.layout, dims)
    if sides is None:
        return ""
    height, width = sides
    return height if isinstance(height, str) and height and height == width else ""


def check_torchscript(model: Path) -> None:
    """Check that ``model`` is a TorchScript archive that torch.jit loads (never a torch.save pickle).

    Raises:
        CheckpointError: missing file, a pickle, code that writes files (:func:`~.torchscript_model.check_script_code`),
            or an archive torch.jit cannot read.
    """
    import warnings
    import zipfile

    import torch

    from mono_depth_ros.models.checkpoint import is_torch_save_archive
    from mono_depth_ros.models.torchscript_model import check_script_code

    if not model.is_file() or not zipfile.is_zipfile(model) or is_torch_save_archive(model):
        msg = (
            f"{model} is not a TorchScript archive (missing, not a zip, or a torch.save pickle, which is never loaded)"
        )
        raise CheckpointError(msg)
    check_script_code(model)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.jit.load(str(model), map_location="cpu")  # type: ignore[no-untyped-call]
    except (RuntimeError, ValueError, OSError) as err:
        msg = f"torch.jit.load cannot read {model} ({first_line(err)})"
        raise CheckpointError(msg) from None


def _normalisation(
    args: argparse.Namespace, signature: GraphSignature
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(mean, std) of the spec: ``--mean`` / ``--std``, by default ImageNet's; for a graph that takes integer pixels
    (``tensor(uint8)``: its normalisation is inside), 0..255 unless given, and only that.

    Raises:
        ConfigError: a mean / std that is not three numbers, or not 0..255 for an integer input (naming it).
    """
    integer = signature.input_type not in FLOAT_INPUTS
    mean = _triple(args.mean, "mean") if args.mean else PIXEL_MEAN if integer else _triple(IMAGENET_MEAN, "mean")
    std = _triple(args.std, "std") if args.std else PIXEL_STD if integer else _triple(IMAGENET_STD, "std")
    if integer and not gives_pixels(mean, std):
        name = signature.image.name
        msg = (
            f"{args.model} input {name!r} takes {signature.input_type} pixels 0..255 (its normalisation is inside the "
            f"graph), which --mean {args.mean or IMAGENET_MEAN} / --std {args.std or IMAGENET_STD} cannot give; "
            f"leave out --mean and --std (or give --mean 0,0,0 --std {1 / 255},{1 / 255},{1 / 255})"
        )
        raise ConfigError(msg)
    return mean, std


def _check_maps(model: Path, signature: GraphSignature, named: list[tuple[str, str, str]]) -> None:
    """Refuse an output among ``named`` ((flag, output, map) of the depth and the sky; an empty output: none) whose
    declared shape is not one map per image (:func:`~.graph_layout.declared_map`: normals, or depth and confidence
    stacked in one output).

    Raises:
        CheckpointError: naming the output, its declared shape, and the other outputs that are one map per image
            with the flag that names one.
    """
    shapes = signature.output_shapes
    taken = {name for _, name, _ in named}
    for flag, name, what in named:
        if name not in shapes or declared_map(shapes[name]):
            continue
        maps = [other for other in signature.outputs if other not in taken and declared_map(shapes[other])]
        remedy = f"the outputs that are one map per image: {maps}; give {flag} NAME" if maps else ""
        remedy = remedy or f"re-export the graph returning the {what} channel alone (e.g. output[:, :1])"
        msg = (
            f"{model} output {name!r} is declared {shapes[name]}: not one {what} map per image ({MAP_SHAPES}); {remedy}"
        )
        raise CheckpointError(msg)


def make_spec(args: argparse.Namespace) -> ModelSpec:
    """The spec the arguments describe, checked against the graph."""
    output_kind = OutputKind.parse(args.kind)  # first: a misspelt kind is reported before what the graph lacks
    torchscript = args.model.suffix.lower() in TORCHSCRIPT_SUFFIXES
    if torchscript:  # no declared input size or output names to check against
        check_torchscript(args.model)
        if args.sky_output or args.focal_output or args.fov_output:
            flag = "--sky-output" if args.sky_output else "--focal-output" if args.focal_output else "--fov-output"
            msg = f"{flag} is for ONNX graphs; a TorchScript model returns its depth only"
            raise ConfigError(msg)
        named = [args.output] if args.output else []
        signature = GraphSignature(ImageInput("", "NCHW"), "tensor(float)", named, {}, {})
    else:
        signature = graph_signature(args.model)
    image, outputs = signature.image, signature.outputs
    mean, std = _normalisation(args, signature)
    flags = (
        ("--output", args.output),
        ("--sky-output", args.sky_output),
        ("--focal-output", args.focal_output),
        ("--fov-output", args.fov_output),
    )
    for flag, name in flags:
        if name and name not in outputs:
            msg = f"{args.model} has no output {name!r} ({flag}); its outputs are {outputs}"
            raise CheckpointError(msg)
    from mono_depth_ros.models.onnx_model import depth_output_name, integer_depth_problem

    # the output the loader reads when the spec names none (the only one, else one named depth / predicted_depth)
    depth = args.output or depth_output_name(outputs) or ""
    if not depth and outputs:
        msg = f"{args.model} has outputs {outputs}; say which one holds the depth with --output NAME"
        raise ConfigError(msg)
    if args.sky_output and args.sky_output == depth:  # every pixel past the sky threshold would be +Inf
        others = [name for name in outputs if name != depth]
        msg = (
            f"--sky-output {args.sky_output} is the depth output{'' if args.output else ' (picked by its name)'}: "
            f"give the output of sky mask / probability (one of {others}), or --output NAME for the depth"
        )
        raise ConfigError(msg)
    _check_maps(args.model, signature, [("--output", depth, "depth"), ("--sky-output", args.sky_output, "sky")])

    fix = "give --kind depth_up_to_scale"
    problem = integer_depth_problem(signature.output_types.get(depth, ""), output_kind, "--kind says", fix)
    if problem is not None:
        msg = f"{args.model} output {depth!r} is {problem}"
        raise CheckpointError(msg)
    graph_hw = image.fixed_hw
    if args.input_size:
        height, width = _size(args.input_size)
        if graph_hw is not None and (height, width) != graph_hw:
            msg = f"--input-size {height}x{width} differs from the graph's fixed input {graph_hw[0]}x{graph_hw[1]}"
            raise ConfigError(msg)
    elif graph_hw is not None:
        height, width = graph_hw
    else:
        msg = f"{args.model} takes any input size: give --input-size HxW (with --keep-aspect, H is the short side)"
        raise ConfigError(msg)
    if args.pad and args.keep_aspect:
        msg = (
            "--pad fits the image inside the graph's fixed size (or --input-size) keeping its aspect; "
            "--keep-aspect resizes a free-size graph to the image's aspect instead: give one of them"
        )
        raise ConfigError(msg)
    if args.keep_aspect and graph_hw is not None:
        msg = (
            f"{args.model} takes a fixed {graph_hw[0]}x{graph_hw[1]}: it cannot keep the camera's aspect; leave out "
            f"--keep-aspect (the image is stretched to that size) or give --pad (fitted inside it, the rest padded)"
        )
        raise ConfigError(msg)
    keep_aspect = bool(args.keep_aspect)
    multiple = int(args.multiple_of)
    if keep_aspect and multiple > 0 and height % multiple:
        rounded = max(round(height / multiple), 1) * multiple
        below, above = height // multiple * multiple, -(-height // multiple) * multiple
        msg = (
            f"--input-size {height}x{width} --keep-aspect: the short side {height} is not a multiple of --multiple-of "
            f"{multiple}{' (the default, for ViT patches)' if multiple == MULTIPLE_OF else ''}, so the network would "
            f"run at {rounded}; give the --multiple-of the network needs (32 for MiDaS and most CNNs) or a short side "
            f"that is one ({', '.join(str(side) for side in dict.fromkeys((below, above)) if side > 0)})"
        )
        raise ConfigError(msg)
    problem = image.size_problem(height, width, keep_aspect)
    if problem is not None:
        msg = f"{args.model}: {problem}"
        raise ConfigError(msg)
    if args.pad_colour and not args.pad:
        msg = f"--pad-colour {args.pad_colour} colours the padding of --pad: give --pad too, or leave it out"
        raise ConfigError(msg)
    pad_colour = _triple(args.pad_colour, "pad-colour") if args.pad_colour else ()
    if any(value > 1.0 for value in pad_colour) and all(0.0 <= value <= 255.0 for value in pad_colour):
        in_unit = ",".join(f"{value / 255.0:.4g}" for value in pad_colour)
        msg = (
            f"--pad-colour {args.pad_colour} is RGB in [0, 1], as --mean is, whatever the graph takes: pixels 0..255 "
            f"divided by 255, here --pad-colour {in_unit}"
        )
        raise ConfigError(msg)
    if not all(0.0 <= value <= 1.0 for value in pad_colour):  # negative, NaN: InputPolicy's words are a stored spec's
        msg = (
            f"--pad-colour {args.pad_colour} must be RGB in [0, 1], as --mean is: three numbers from 0 to 1 (Metric3D: "
            f"ImageNet's mean, --pad-colour 0.485,0.456,0.406)"
        )
        raise ConfigError(msg)
    policy = InputPolicy(
        height=height,
        width=width,
        keep_aspect=keep_aspect,
        multiple_of=args.multiple_of,
        max_long_side=args.max_long_side or max(height, width) * (2 if keep_aspect else 1),
        pad=bool(args.pad),
        interpolation=args.interpolation,
        antialias=bool(args.antialias),
        pad_colour=pad_colour,
    )
    if args.sky_threshold != SKY_THRESHOLD and not args.sky_output:
        msg = f"--sky-threshold {args.sky_threshold:g} is not read without --sky-output (the output it thresholds)"
        raise ConfigError(msg + "; give --sky-output NAME, or leave it out")
    if args.focal_output and output_kind not in (OutputKind.CANONICAL_INVERSE, OutputKind.METRIC):
        msg = (
            f"--focal-output {args.focal_output} is read for --kind canonical_inverse (Depth Pro's canonical inverse "
            f"depth, made metres with a focal length) or metric (Depth Pro's metres made with that focal, rescaled to "
            f"the camera's), not {output_kind.value}"
        )
        raise ConfigError(msg)
    if args.fov_output and output_kind is not OutputKind.CANONICAL_INVERSE:
        msg = (
            f"--fov-output {args.fov_output} is read for --kind canonical_inverse (Depth Pro's canonical inverse "
            f"depth, made metres with a focal length), not {output_kind.value}"
        )
        raise ConfigError(msg)
    if args.focal_output and args.fov_output:
        msg = (
            f"--focal-output {args.focal_output} (a focal length in pixels) and --fov-output {args.fov_output} (a "
            f"field of view in degrees) both give the graph's focal: keep one"
        )
        raise ConfigError(msg)
    if args.focal_divisor != METRIC_FOCAL_DIVISOR and output_kind is not OutputKind.METRIC_FOCAL:
        msg = f"--focal-divisor is for --kind metric_focal (metres = output x focal / divisor), not {output_kind.value}"
        raise ConfigError(msg)
    served = check_keep_aspect_run(args.model, signature, policy, depth)  # last: a forward pass, after flag checks
    least = None if served is None else math.floor(served[0] * 1e4) / 1e4  # 4 decimals, never above one that ran
    aspects = {} if least is None else {SERVED_ASPECTS_KEY: [least, None]}  # most: null, no bound
    return ModelSpec(
        architecture="torchscript_module" if torchscript else "onnx_graph",
        params={"source": args.model.name, **aspects},
        input=policy,
        mean=mean,
        std=std,
        output_kind=output_kind,
        min_depth_m=args.min_depth,
        max_depth_m=args.max_depth,
        backend="torchscript" if torchscript else "onnx",
        output_name=args.output,
        sky_output=args.sky_output,
        sky_threshold=args.sky_threshold,
        metric_focal_divisor=args.focal_divisor,
        focal_output=args.focal_output,
        fov_output=args.fov_output,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``spec`` options."""
    kinds = ", ".join(kind.value for kind in OutputKind)
    parser.add_argument("model", type=Path, help="the .onnx (or TorchScript .pt) file; the spec is written beside it")
    parser.add_argument("--kind", required=True, help=f"what the depth output means: {kinds}")
    parser.add_argument("--input-size", default="", help="HEIGHTxWIDTH input (default: the graph's fixed size)")
    parser.add_argument("--keep-aspect", action="store_true", help="resize keeping aspect: HEIGHT is the short side")
    parser.add_argument(
        "--pad", action="store_true", help="fit the image inside the input size keeping aspect, pad the rest (Metric3D)"
    )
    pad_colour = "RGB in [0, 1] of the --pad padding (default: --mean; Metric3D: 0.485,0.456,0.406, ImageNet's mean)"
    parser.add_argument("--pad-colour", default="", help=pad_colour)
    interpolation = (
        "resampling filter of the camera image: bicubic for Depth Anything / MiDaS exports, whose own code resizes "
        "with cv2.INTER_CUBIC (PIL's bicubic here: antialiased when shrinking, as transformers' processors)"
    )
    parser.add_argument("--interpolation", choices=INTERPOLATIONS, default="bilinear", help=interpolation)
    no_antialias = (
        "shrink the camera image without an antialiasing filter, as cv2.resize does (with --interpolation bicubic: "
        "exactly cv2.INTER_CUBIC; bilinear: cv2.INTER_LINEAR)"
    )
    parser.add_argument("--no-antialias", dest="antialias", action="store_false", help=no_antialias)
    multiple = "round both sides to a multiple (keep-aspect; 14: ViT patches, 32: MiDaS and most CNNs)"
    parser.add_argument("--multiple-of", type=int, default=MULTIPLE_OF, help=multiple)
    parser.add_argument("--max-long-side", type=int, default=0, help="cap on the long side (keep-aspect)")
    mean_help = "RGB mean for values in [0, 1] (default ImageNet; 0,0,0 for a graph taking uint8 pixels)"
    parser.add_argument("--mean", default="", help=mean_help)
    std_help = "RGB std for values in [0, 1] (default ImageNet; 1/255 each for a graph taking uint8 pixels)"
    parser.add_argument("--std", default="", help=std_help)
    parser.add_argument(
        "--output",
        default="",
        help=(
            "the output that holds the depth (graphs with several: by default the one named depth, else "
            "predicted_depth, as loading picks it; a TorchScript tuple: 0, 1, ...)"
        ),
    )
    parser.add_argument("--sky-output", default="", help="an output of sky mask / probability: sky becomes +Inf")
    sky = "sky where the sky output exceeds this (with --sky-output)"
    parser.add_argument("--sky-threshold", type=float, default=SKY_THRESHOLD, help=sky)
    parser.add_argument(
        "--focal-divisor",
        type=float,
        default=METRIC_FOCAL_DIVISOR,
        help="metric_focal: metres = output x focal px / this (300 Depth Anything 3, 1000 Metric3D)",
    )
    focal_output = (
        "canonical_inverse: the output of the focal length in pixels of the network input along its width, used "
        "when camera_info gives none (not with --fov-output); metric: the focal the graph's metres were made with, "
        "rescaled to the camera's (depth x f_camera / f_graph) when camera_info gives one"
    )
    parser.add_argument("--focal-output", default="", help=focal_output)
    fov_output = (
        "canonical_inverse: the output of the network input's horizontal field of view in degrees (transformers' "
        "Depth Pro exported: field_of_view), used when camera_info gives none (not with --focal-output)"
    )
    parser.add_argument("--fov-output", default="", help=fov_output)
    parser.add_argument("--min-depth", type=float, default=0.1, help="nearest depth the model predicts (metres)")
    parser.add_argument("--max-depth", type=float, default=100.0, help="farthest depth the model predicts (metres)")


def run(args: argparse.Namespace) -> int:
    """Write the spec; returns 0 (errors are raised as DepthError and reported in one line by the CLI)."""
    spec = make_spec(args)
    path = spec_path_for(args.model)
    text = spec.to_json() + "\n"
    pixels = ", pixels 0..255" if gives_pixels(spec.mean, spec.std) else ""
    resample = f", resized {spec.input.interpolation}" if spec.input.interpolation != "bilinear" else ""
    before = path.read_text(encoding="utf-8") if path.is_file() else None
    golden = golden_path_for(args.model)
    stale = golden.is_file() and before != text  # made under another spec: the self-test would refuse the model
    # the new spec whole beside first, then the stale golden goes, then the spec is renamed in: a failure midway
    # (a full disk, Ctrl-C) leaves the earlier spec and its golden, never a spec cut short or beside another's golden
    write_whole(path, lambda partial: partial.write_text(text, encoding="utf-8"), golden.unlink if stale else None)
    sys.stdout.write(
        f"wrote {path}\nuse it with: --param model.backend={spec.backend} --param model.weights={args.model}\n"
        f"output {spec.output_kind.value}, input {spec.input.height}x{spec.input.width}"
        f"{' keeping aspect' if spec.input.keep_aspect else ''}{resample}{pixels}\n"
    )
    if stale:
        sys.stdout.write(f"removed {golden.name}: its reference output was made under the previous spec\n")
    return 0
