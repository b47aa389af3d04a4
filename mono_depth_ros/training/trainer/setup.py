"""What a training run is made of, built from its config: the ModelSpec, the datasets, the learning-rate schedule
and the module that DistributedDataParallel wraps (depth network + objective, with AMP on the network only)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.training_camera import median_focal
from mono_depth_ros.models.spec import InputPolicy, ModelSpec
from mono_depth_ros.models.unet import UNetOutput, make_unet_spec
from mono_depth_ros.training.data.real import RecordedDepthDataset, build_recorded_datasets, fit_to_input
from mono_depth_ros.training.data.sample import evenly_spread
from mono_depth_ros.training.data.synthetic import Augmentation, ClipSpec, SyntheticDepthDataset, render_clip
from mono_depth_ros.training.objectives.assemble import LossResult, Objective, normalise
from mono_depth_ros.training.trainer.config import DataConfig, OptimConfig, TrainConfig

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_LOG = logging.getLogger(__name__)


def build_spec(config: TrainConfig) -> ModelSpec:
    """The ModelSpec of the network a config trains (output kind from the objective)."""
    m = config.model
    options: dict[str, object] = {}
    if m.encoder_width:
        options["encoder_width"] = m.encoder_width
    if m.decoder_channels:
        options["decoder_channels"] = list(m.decoder_channels)
    return make_unet_spec(
        m.encoder,
        m.preset,
        output_kind=config.output_kind,
        input_policy=InputPolicy(height=m.input_height, width=m.input_width),
        min_depth_m=m.min_depth_m,
        max_depth_m=m.max_depth_m,
        **options,
    )


TrainData = SyntheticDepthDataset | RecordedDepthDataset

FOCAL_SAMPLES = 8
"""Training items (evenly spread) whose intrinsics make :attr:`ModelSpec.training_focal`."""


def measured_training_focal(dataset: TrainData, samples: int = FOCAL_SAMPLES) -> tuple[float, ...]:
    """The training camera as the network sees it: median ``(fx / width, fy / height)`` over up to ``samples``
    frames evenly spread over ``dataset``, at the input size before the random zoom (which divides the depth by
    the zoom, so the metres stay those of this view). For :attr:`ModelSpec.training_focal`."""
    cameras = []
    for index in evenly_spread(len(dataset), samples):
        if isinstance(dataset, RecordedDepthDataset):  # the view before augmentation
            view = fit_to_input(dataset.samples[index], dataset.width, dataset.height)
            cameras.append((view.k, view.width, view.height))
        else:  # rendered at the input size, not zoomed (a flip keeps both ratios)
            item = dataset[index]
            cameras.append((item["k"], int(item["rgb"].shape[-1]), int(item["rgb"].shape[-2])))
    return median_focal(cameras)


def require_lidar(config: TrainConfig) -> None:
    """Refuse ``loss.objective=lidar_semi`` on data without LiDAR: its checkpoint declares metres, but with no LiDAR
    return the term is 0 and the network learns photometric depth at an arbitrary scale, which the node would then
    publish as metres (a folder is checked for ``sparse_depth/`` files by :func:`require_folder_lidar`).

    Raises:
        ConfigError: a rosbag without ``data.lidar_topic``, synthetic drives with ``data.beams: 0``.
    """
    d = config.data
    if config.loss.objective != "lidar_semi":
        return
    missing = ""
    if d.kind == "rosbag" and not d.lidar_topic:
        missing = "set data.lidar_topic (and data.cache_dir) to the bag's PointCloud2"
    elif d.kind == "synthetic" and d.beams == 0:
        missing = "set data.beams > 0"
    if missing:
        msg = (
            f"loss.objective=lidar_semi on data.kind={d.kind} with no LiDAR: the run would learn depth at an arbitrary "
            f"scale and save it as metres; {missing}, or use loss.objective=selfsup"
        )
        raise ConfigError(msg)


def require_folder_lidar(config: TrainConfig, train: RecordedDepthDataset) -> None:
    """:func:`require_lidar` for a folder: at least one training frame has a ``sparse_depth/`` file.

    Raises:
        ConfigError: none has.
    """
    records = getattr(train.samples, "records", None)
    if config.loss.objective != "lidar_semi" or config.data.kind != "folder" or records is None:
        return
    if not any(record.sparse_depth is not None for record in records):
        msg = (
            f"loss.objective=lidar_semi on data.kind=folder with no LiDAR: {config.data.root} has no "
            f"sparse_depth/<stem>.png | .npy for any training frame; add them, or use loss.objective=selfsup"
        )
        raise ConfigError(msg)


def build_datasets(config: TrainConfig) -> tuple[TrainData, TrainData | None]:
    """(train, validation) datasets: rendered (or cached) drives, or a recorded dataset (see :mod:`.real_data`); no
    validation data (None) with ``run.validate: false`` (its drives are not rendered, its frames not read).

    Raises:
        ConfigError: see :func:`require_lidar`, and the recorded datasets' own refusals.
    """
    d: DataConfig = config.data
    m = config.model
    if d.kind != "synthetic":
        offsets = d.frame_offsets if config.loss.objective != "supervised" else ()
        if config.loss.objective != "supervised" and not offsets and not d.stereo:  # no source frame at all
            msg = (
                f"loss.objective={config.loss.objective} needs data.frame_offsets (source frames, e.g. [-1, 1]) "
                f"for data.kind={d.kind}" + (" (or data.stereo: true)" if d.kind == "kitti_raw" else "") + "; got []"
            )
            raise ConfigError(msg)
        if offsets and config.loss.pose_source == "ground_truth":  # recorded frames carry no temporal poses
            msg = (
                f"loss.pose_source=ground_truth needs the true pose of each source frame; data.kind={d.kind} has none "
                "(its temporal poses are unknown): use loss.pose_source=predicted (the pose network)"
            )
            raise ConfigError(msg)
        require_lidar(config)
        recorded = build_recorded_datasets(
            d, m.input_width, m.input_height, offsets, config.run.seed, validate=config.run.validate
        )
        require_folder_lidar(config, recorded[0])
        return recorded
    require_lidar(config)
    cache = d.cache_dir or None

    def clip(seed: int, frames: int, stereo: float) -> ClipSpec:
        return ClipSpec(seed, frames, m.input_width, m.input_height, d.beams, d.speed_mps, d.rate_hz, stereo)

    stereo = d.stereo_baseline_m if config.loss.objective != "supervised" else 0.0
    train_clips = [render_clip(clip(s, d.frames_per_clip, stereo), cache) for s in d.train_seeds]
    offsets = d.frame_offsets if config.loss.objective != "supervised" else ()
    augmentation = Augmentation(d.flip_probability, d.brightness, d.contrast, d.saturation)
    train = SyntheticDepthDataset(train_clips, offsets, stereo > 0, augmentation, seed=config.run.seed)
    if not config.run.validate:
        return train, None
    return train, SyntheticDepthDataset([render_clip(clip(s, d.val_frames_per_clip, 0.0), cache) for s in d.val_seeds])


def lr_schedule(optim: OptimConfig, total_steps: int, warn: bool = True) -> Callable[[int], float]:
    """Learning-rate factor of a step: linear warm-up, then poly / cosine decay to ``min_lr_ratio`` (or constant).

    A warm-up longer than the run (``optim.warmup_steps`` > ``total_steps``: a short trial of a recipe, e.g.
    ``--set run.steps=20``) is taken, with a warning when ``warn`` (the main process of a multi-process run: the
    others build the same schedule): the run ends still warming up, at ``total_steps / warmup_steps`` × ``optim.lr``,
    and never decays.
    """
    if optim.warmup_steps > total_steps and warn:
        _LOG.warning(
            "optim.warmup_steps %d is longer than the run (run.steps %d): its lr rises to %.3g x optim.lr at the "
            "last step and never reaches optim.lr nor decays; set optim.warmup_steps below run.steps (e.g. %d) for "
            "the full schedule",
            optim.warmup_steps,
            total_steps,
            total_steps / optim.warmup_steps,
            max(0, total_steps // 10),
        )

    def factor(step: int) -> float:
        if step < optim.warmup_steps:
            return (step + 1) / optim.warmup_steps
        if optim.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - optim.warmup_steps) / max(1, total_steps - optim.warmup_steps))
        decay = (
            (1 - progress) ** optim.poly_power if optim.schedule == "poly" else 0.5 * (1 + math.cos(math.pi * progress))
        )
        return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * decay

    return factor


def scaled_step(scaler: torch.amp.GradScaler, optimizer: torch.optim.Optimizer) -> bool:
    """``scaler.step(optimizer)`` then ``scaler.update()``; whether the optimiser stepped. Under fp16 the scaler
    skips a step whose gradients hold Inf / NaN (and halves its scale): nothing trained at that step's lr, so a
    trainer logs no lr for it (``train.csv``'s ``lr`` is NaN on that step's row)."""
    before = scaler.get_scale() if scaler.is_enabled() else 0.0
    scaler.step(optimizer)
    scaler.update()
    return not scaler.is_enabled() or scaler.get_scale() >= before  # only a skipped step lowers the scale


class TrainModule(nn.Module):
    """The depth network (a :class:`UNet`, or any module returning a :class:`UNetOutput`) and the objective (with its
    pose network) as one module, so DDP wraps both.

    Under AMP only the depth network runs in reduced precision; its outputs are cast to float32 and the loss
    (warping, SSIM, pose network) runs in float32, where bf16's 8-bit mantissa would make the photometric terms noise.
    """

    def __init__(self, depth_net: nn.Module, objective: Objective, spec: ModelSpec, amp: str = "none") -> None:
        super().__init__()
        self.depth_net = depth_net
        self.objective = objective
        self.spec = spec
        self.amp = amp

    def forward(self, batch: dict[str, Tensor]) -> LossResult:
        """Loss of one batch."""
        device_type = batch["rgb"].device.type
        with torch.autocast(device_type, dtype=_AMP_DTYPES.get(self.amp), enabled=self.amp != "none"):
            output: UNetOutput = self.depth_net(normalise(batch["rgb"], self.spec.mean, self.spec.std))
        output = UNetOutput(output.depth.float(), tuple(d.float() for d in output.disparities))
        with torch.autocast(device_type, enabled=False):
            result: LossResult = self.objective(output, batch)
        return result
