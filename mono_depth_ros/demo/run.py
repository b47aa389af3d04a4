"""``run_demo``: record a scenario into a rosbag2, run it through the bag runner, score it, draw it, report it.

The depth source, in order: ``oracle=True`` → the oracle; ``--weights FILE`` → that checkpoint; explicit
``model.*`` overrides → as configured (``model.backend=external`` means the oracle); otherwise the model shipped in
``mono_depth_ros/assets`` — and when none ships, the oracle, said loudly everywhere (see :mod:`.oracle`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from mono_depth_ros.bag import BagRunOptions, BagSummary, run_bag
from mono_depth_ros.config import ParamValue, load_config, parse_override
from mono_depth_ros.core.errors import CheckpointError, ConfigError, DepthError
from mono_depth_ros.demo.evaluate import AccuracyRow, lidar_only_depth, mean_row, score_frame
from mono_depth_ros.demo.kitti import kitti_frame_names, record_kitti
from mono_depth_ros.demo.oracle import ORACLE_LABEL, OracleConfig
from mono_depth_ros.demo.outputs import OutputBagContents, read_output_bag
from mono_depth_ros.demo.pictures import PictureStyle, write_pictures
from mono_depth_ros.demo.report import REAL_WEIGHTS_HINT, DemoReport
from mono_depth_ros.demo.scenario import ProgressFn, Scenario, no_progress
from mono_depth_ros.demo.synthetic_bag import record_synthetic
from mono_depth_ros.demo.temporal_strip import write_temporal_strip
from mono_depth_ros.depth_config import DepthConfig
from mono_depth_ros.models.depth_source import ASSETS_DIR, build_depth_source, default_weights
from mono_depth_ros.models.hub_id import hub_id_hint

DEFAULT_FRAMES = 24
DEFAULT_WIDTH, DEFAULT_HEIGHT = 640, 192
INPUT_BAG, OUTPUT_BAG = "input_bag", "output_bag"


@dataclass(frozen=True)
class DepthChoice:
    """Where the depth comes from.

    Attributes:
        oracle: use the oracle through ``model.backend=external``.
        params: the ``model.*`` parameters that select it.
        label: what the outputs say predicted the depth.
        note: why this source was chosen (empty when the user chose it).
        shipped: the model shipped in the assets folder (trained on the synthetic world only).
    """

    oracle: bool
    params: dict[str, ParamValue]
    label: str
    note: str = ""
    shipped: bool = False


def describe_weights(path: Path) -> str:
    """``file (architecture, output kind)`` for a checkpoint whose spec is readable, else the path."""
    if Path(path).suffix != ".safetensors":
        return str(path)
    try:
        from mono_depth_ros.models.checkpoint import read_checkpoint_spec

        spec = read_checkpoint_spec(path)
    except (DepthError, ImportError, OSError):
        return str(path)
    return f"{path} ({spec.architecture}, {spec.output_kind.value})"


def choose_depth_source(
    oracle: bool, weights: Path | None, user: dict[str, ParamValue], assets_dir: Path = ASSETS_DIR
) -> DepthChoice:
    """Pick the depth source (order in the module docstring); ``user`` holds only the explicit overrides."""
    oracle_params: dict[str, ParamValue] = {"model.backend": "external", "model.output_kind": "relative_inverse"}
    if oracle or user.get("model.backend") == "external":
        return DepthChoice(True, oracle_params, ORACLE_LABEL)
    if weights is not None:
        if not Path(weights).exists():
            msg = f"--weights {weights} does not exist; give a checkpoint file (.safetensors) or a model folder"
            msg += hub_id_hint(weights)
            raise CheckpointError(msg)
        return DepthChoice(False, {"model.weights": str(weights)}, f"network: {describe_weights(weights)}")
    if "model.weights" in user or "model.backend" in user:
        backend = user.get("model.backend", "unet")
        return DepthChoice(False, {}, f"network: {backend} {user.get('model.weights', '') or '(default weights)'}")
    try:
        shipped = default_weights(assets_dir)
    except CheckpointError:
        note = (
            f"no trained model ships in {assets_dir} yet, so the depth comes from an ORACLE: the exact depth turned "
            f"into a relative inverse map with an unknown, drifting scale and shift, smooth errors and noise, fed "
            f"through model.backend=external. Everything after the model (LiDAR scale recovery, REP 117 outputs, "
            f"clouds, the bag runner) is the real pipeline. Pass --weights FILE to run a checkpoint instead."
        )
        return DepthChoice(True, oracle_params, ORACLE_LABEL, note)
    label = f"network: shipped model {describe_weights(shipped)}"
    return DepthChoice(False, {"model.weights": str(shipped)}, label, shipped=True)


def _prepare(out_dir: Path) -> tuple[Path, Path]:
    """Create ``out_dir``; remove the bags a previous demo left there (only folders that look like bags)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / INPUT_BAG, out_dir / OUTPUT_BAG)
    for path in paths:
        if not path.exists():
            continue
        if path.is_dir() and ((path / "metadata.yaml").is_file() or not any(path.iterdir())):
            shutil.rmtree(path)
        else:
            msg = f"{path} exists and is not a rosbag2 from an earlier demo; remove it or choose another --out"
            raise ConfigError(msg)
    return paths


def _explicit_overrides(overrides: Sequence[str]) -> dict[str, ParamValue]:
    """The ``--param`` values, validated and typed, for the names given only."""
    resolved = load_config(None, list(overrides))
    return {name: resolved[name] for name in (parse_override(text)[0] for text in overrides)}


def describe_scale(config: DepthConfig) -> str:
    """How the run makes depth metric, in a few words (``LiDAR scale``, ``ground_plane scale (no LiDAR)``, ...)."""
    mode = config.scale.mode
    if mode == "lidar":
        return "LiDAR scale" if config.topics.lidar else "fallback scale (no LiDAR)"
    return f"{mode} scale"


def score_run(
    scenario: Scenario, outputs: OutputBagContents, pipeline_name: str, min_m: float, max_m: float
) -> list[AccuracyRow]:
    """The pipeline's row (published depth vs truth) and the LiDAR-only baseline, over the frames written."""
    written = [(f, outputs.depth_by_stamp[f.stamp_ns]) for f in scenario.frames if f.stamp_ns in outputs.depth_by_stamp]
    pipeline = (score_frame(depth, f.gt_depth_m, min_m, max_m) for f, depth in written)
    baseline = (
        score_frame(lidar_only_depth(f.lidar_in_camera, f.intrinsics), f.gt_depth_m, min_m, max_m) for f, _ in written
    )
    return [
        mean_row(f"{pipeline_name} (/depth/image)", pipeline),
        mean_row("LiDAR only (nearest fill of the recorded scan)", baseline),
    ]


def run_notes(choice: DepthChoice, kitti: bool, backend: str, summary: BagSummary) -> list[str]:
    """What the report must say besides the tables: the oracle, KITTI caveats, skipped frames, warnings."""
    notes = [choice.note] if choice.note else []
    if kitti:
        if choice.oracle:
            notes.append("on KITTI the oracle is made from the recorded LiDAR half itself: its accuracy means nothing")
        if choice.shipped:
            notes.append("the shipped model was trained on the synthetic world only: it is not a real-world model")
        if backend != "depth_anything_v2":
            notes.append(REAL_WEIGHTS_HINT)
    for reason, count in summary.skipped.counts.items():
        notes.append(f"{count} frame(s) skipped: {reason}: {summary.skipped.examples[reason]}")
    for reason, count in summary.warnings.counts.items():
        notes.append(f"warning x{count}: {reason}: {summary.warnings.examples[reason]}")
    return notes


def _refuse_unread(
    kitti_dir: Path | None, width: int, height: int, weights: Path | None, oracle_runs: bool, oracle_flag: bool
) -> None:
    """Refuse an option the chosen run would not read: ``--width`` / ``--height`` (other than their defaults) with
    ``--kitti``, whose frames keep their size; ``--weights`` when the oracle runs (``--oracle`` or
    ``model.backend=external``), which opens no network.

    Raises:
        ConfigError: naming the option and what makes it unread.
    """
    if kitti_dir is not None:
        for option, value, default in (("--width", width, DEFAULT_WIDTH), ("--height", height, DEFAULT_HEIGHT)):
            if value != default:
                msg = (
                    f"{option} {value} is not read with --kitti (it sizes the synthetic drive; the KITTI frames keep "
                    "their own size); leave it out"
                )
                raise ConfigError(msg)
    if weights is not None and oracle_runs:
        why = "--oracle" if oracle_flag else "--param model.backend=external"
        msg = f"--weights {weights} is not read with the oracle ({why}: no network runs); leave out one of them"
        raise ConfigError(msg)


def run_demo(
    out_dir: Path,
    seed: int = 0,
    frames: int = DEFAULT_FRAMES,
    weights: Path | None = None,
    kitti_dir: Path | None = None,
    progress: ProgressFn | None = None,
    *,
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    beams: int = 16,
    oracle: bool = False,
    overrides: Sequence[str] = (),
    assets_dir: Path = ASSETS_DIR,
) -> DemoReport:
    """Run the embedded default end to end and write bags, pictures and a report into ``out_dir``.

    Args:
        out_dir: output folder (``input_bag/``, ``output_bag/``, ``*.png``, ``report.txt``, ``report.json``);
            bags of an earlier demo there are replaced.
        seed: synthetic world, LiDAR noise, oracle errors, KITTI LiDAR split. Same seed, same bags and numbers.
        frames: synthetic frames (10 Hz); with ``kitti_dir``, the most KITTI frames to use.
        weights: a checkpoint to run instead of the shipped model.
        kitti_dir: run on real KITTI object frames instead of the synthetic drive (see :mod:`.kitti`).
        progress: ``progress(stage, done, total)`` as work advances, per frame while the model runs (None: silent).
        width, height: synthetic image size (pixels).
        beams: synthetic LiDAR beams.
        oracle: use the oracle even when a model ships.
        overrides: ``name=value`` parameters applied last (the node's names, e.g. ``cloud.rgb=true``).
        assets_dir: where the shipped model is looked for.

    Raises:
        ConfigError: bad sizes, parameters or KITTI folder. CheckpointError: unusable weights. BagError: bag I/O.
    """
    if frames < 1 or width < 32 or height < 32 or beams < 1:
        msg = f"demo needs frames >= 1, width and height >= 32 and beams >= 1; got {frames}, {width}x{height}, {beams}"
        raise ConfigError(msg)
    report_progress = progress or no_progress
    started = time.perf_counter()
    user = _explicit_overrides(overrides)
    _refuse_unread(kitti_dir, width, height, weights, oracle or user.get("model.backend") == "external", oracle)
    choice = choose_depth_source(oracle, weights, user, assets_dir)
    if kitti_dir is not None:
        kitti_frame_names(kitti_dir)  # a wrong folder fails before anything is written
    out_dir = Path(out_dir)
    input_bag, output_bag = _prepare(out_dir)
    timings: dict[str, float] = {}

    t = time.perf_counter()
    oracle_config = OracleConfig() if choice.oracle else None
    if kitti_dir is None:
        scenario = record_synthetic(input_bag, seed, frames, width, height, beams, oracle_config, report_progress)
        timings["render + record input bag"] = time.perf_counter() - t
    else:
        scenario = record_kitti(input_bag, kitti_dir, seed, frames, oracle_config, report_progress)
        timings["record input bag (KITTI)"] = time.perf_counter() - t
    truths = scenario.frames
    config = DepthConfig.from_params({**scenario.params, **choice.params, **user})

    t = time.perf_counter()
    report_progress("bag runner", 0, len(truths))
    source = build_depth_source(config)  # loaded here to time it, and to reuse it for the temporal strip
    startup_s = time.perf_counter() - t
    # the source goes to the runner as it is (a wrapper would hide its protocols: the output size, hints, device)
    options = BagRunOptions(progress=False, on_frame=partial(report_progress, "bag runner"), status_per_frame=True)
    summary = run_bag(input_bag, output_bag, config, options, source)
    timings["bag runner (pipeline, all stages)"] = time.perf_counter() - t
    timings["  of which model start-up"] = startup_s

    t = time.perf_counter()
    outputs = read_output_bag(output_bag) if output_bag.exists() else OutputBagContents()  # none written: none kept
    max_m, min_m = config.output.max_range, config.output.min_range
    scale_text = describe_scale(config)
    source_name = "oracle prediction" if choice.oracle else "network"
    accuracy = score_run(scenario, outputs, f"{source_name} + {scale_text}", min_m, max_m)
    written = [f for f in scenario.frames if f.stamp_ns in outputs.depth_by_stamp]
    report_progress("evaluate", len(written), len(truths))
    timings["read output bag + score"] = time.perf_counter() - t

    notes = run_notes(choice, scenario.name == "kitti", config.model.backend, summary)

    t = time.perf_counter()
    pictures = {}
    if written:
        middle = written[len(written) // 2].stamp_ns
        kind = config.model.output_kind
        style = PictureStyle(
            choice.label, choice.oracle, min_m=max(min_m, 1.0), max_m=max_m, scale_text=scale_text,
            scale_label="s (1/m per unit)" if kind == "relative_inverse" else "scale",
        )  # fmt: skip
        pictures = write_pictures(out_dir, scenario, outputs, output_bag, middle, style)
        report_progress("pictures", len(pictures), len(pictures))
    else:
        notes.append("no depth image was written, so there are no pictures (see the skipped reasons above)")
    timings["pictures"] = time.perf_counter() - t
    if kitti_dir is None and written:  # the temporal filter on a short drive with a moving car, same depth source
        t = time.perf_counter()
        strip_size = (max(64, width // 2), max(32, height // 2))
        strip_source = None if choice.oracle else source
        pictures["temporal"], note = write_temporal_strip(out_dir, seed, strip_source, choice.label, choice.oracle,
                                                          *strip_size)  # fmt: skip
        notes.append(note)
        timings["temporal strip"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - started

    truth_by_stamp = {f.stamp_ns: f.true_scale for f in scenario.frames}
    report = DemoReport(
        scenario=scenario.name,
        description=scenario.description,
        out_dir=out_dir,
        input_bag=input_bag,
        output_bag=output_bag,
        source_label=choice.label,
        is_oracle=choice.oracle,
        truth_label=scenario.truth_label,
        frames_in=summary.frames_in,
        frames_out=summary.frames_out,
        accuracy=accuracy,
        scale_track=outputs.scale_track,
        true_scales=[_or_nan(truth_by_stamp.get(s.stamp_ns)) for s in outputs.scale_track],
        timings_s=timings,
        stage_ms=dict(summary.stage_ms),
        pictures=pictures,
        notes=notes,
    )
    report.save()
    return report


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
