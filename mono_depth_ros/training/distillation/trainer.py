"""The distillation training loop: the student, its projection head, optimiser, schedule, checkpoints, calibration.

Per step: a batch of cached pseudo-labels (a seeded permutation per epoch, so a resumed run sees the same order),
perturbed with draws from a generator seeded by the step (:func:`~.distill_loss.perturb_batch`), the student forward
under optional autocast (its deepest encoder feature taken by a temporary forward hook when feature alignment is on),
the loss in float32 (:mod:`.distill_loss`), backward, gradient clipping, AdamW, warm-up + cosine / poly learning rate
(:func:`~.trainer.lr_schedule`). Checkpoints are the trainer's (:mod:`.train_state`): the student as a safetensors
checkpoint with its spec plus the training state (projection head, optimiser, scheduler, scaler, RNG, step), so N
straight steps and N/2 + resume + N/2 give the same weights.

Under ``torchrun`` (see :mod:`~mono_depth_ros.training.trainer.distributed`) every process takes its own share of
each epoch's permutation and the gradients are averaged over the processes (one all-reduce per step, before
clipping), so all processes hold the same weights; only rank 0 logs and writes checkpoints.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.amp import GradScaler
from torch.utils.data import DataLoader

from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.models.backend import TorchBackend, resolve_device
from mono_depth_ros.models.checkpoint import save_checkpoint
from mono_depth_ros.models.inference import make_golden
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.spec import InputPolicy, ModelSpec, OutputKind
from mono_depth_ros.models.unet import UNet, disp_to_depth, make_unet_spec
from mono_depth_ros.training.data.augment import resize_sparse_depth
from mono_depth_ros.training.data.sample import evenly_spread
from mono_depth_ros.training.distillation.calibration import Calibration, fit_calibration, fold_calibration
from mono_depth_ros.training.distillation.config import DistillConfig
from mono_depth_ros.training.distillation.loss import (
    ProjectionHead,
    feature_alignment_loss,
    inverse_target,
    normalised_target,
    perturb_batch,
    regional_ssi_loss,
)
from mono_depth_ros.training.distillation.pseudo_labels import PseudoLabelDataset
from mono_depth_ros.training.objectives.assemble import normalise
from mono_depth_ros.training.objectives.losses import sparse_lidar_loss
from mono_depth_ros.training.trainer import state as train_state
from mono_depth_ros.training.trainer.distributed import DistContext, barrier, span_across
from mono_depth_ros.training.trainer.log import LossWindow, TrainLogger
from mono_depth_ros.training.trainer.loop import lr_schedule
from mono_depth_ros.training.trainer.setup import scaled_step

_AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_LOG = logging.getLogger(__name__)


def resolve_student_kind(requested: str, teacher_kind: OutputKind, uses_lidar: bool) -> OutputKind:
    """The student's output kind (see the module docstring).

    Raises:
        ConfigError: ``metric`` asked of a student that sees neither a metric teacher nor LiDAR.
    """
    metric_possible = uses_lidar or teacher_kind is OutputKind.METRIC
    if requested == "auto":
        return OutputKind.METRIC if metric_possible else OutputKind.DEPTH_UP_TO_SCALE
    kind = OutputKind.parse(requested)
    if kind is OutputKind.METRIC and not metric_possible:
        msg = (
            f"student.output_kind metric needs a metric teacher or LiDAR (loss.lidar_weight > 0 and LiDAR in the "
            f"data); the teacher is {teacher_kind.value}: record LiDAR, or use output_kind depth_up_to_scale"
        )
        raise ConfigError(msg)
    return kind


def build_student_spec(config: DistillConfig, kind: OutputKind) -> ModelSpec:
    """The (uncalibrated) ModelSpec of the student network."""
    s = config.student
    options: dict[str, object] = {}
    if s.encoder_width:
        options["encoder_width"] = s.encoder_width
    if s.decoder_channels:
        options["decoder_channels"] = list(s.decoder_channels)
    return make_unet_spec(
        s.encoder,
        s.preset,
        output_kind=kind,
        input_policy=InputPolicy(height=s.input_height, width=s.input_width),
        min_depth_m=s.min_depth_m,
        max_depth_m=s.max_depth_m,
        **options,
    )


class DistillTrainer:
    """The student, its projection head, optimiser, schedule and checkpoints (see the module docstring).

    Args:
        config: the run configuration.
        dataset: the cached pseudo-labels to learn.
        context: process placement (default: one process on ``run.device``; see
            :func:`~mono_depth_ros.training.trainer.distributed.setup_distributed` for torchrun).
    """

    def __init__(self, config: DistillConfig, dataset: PseudoLabelDataset, context: DistContext | None = None) -> None:
        self.config = config
        run = config.run
        self.context = context or DistContext(0, 1, 0, resolve_device(run.device), initialised=False)
        self.device = self.context.device
        if run.threads > 0:
            torch.set_num_threads(run.threads)
        torch.manual_seed(run.seed)
        self.dataset = dataset
        self.teacher_kind = dataset.manifest.kind
        self.uses_lidar = config.loss.lidar_weight > 0 and dataset.lidar_frames() > 0
        if config.loss.lidar_weight > 0 and not self.uses_lidar:
            _LOG.warning("loss.lidar_weight > 0 but no cached frame has LiDAR: training without the LiDAR term")
        kind = resolve_student_kind(config.student.output_kind, self.teacher_kind, self.uses_lidar)
        self.spec = replace(build_student_spec(config, kind), training_focal=dataset.training_focal())
        network = build_model(self.spec)
        if not isinstance(network, UNet):  # pragma: no cover - build_student_spec always makes a unet
            msg = f"the student must be a unet, got {type(network).__name__}"
            raise ConfigError(msg)
        self.student: UNet = network.to(self.device)
        channels = dataset.manifest.feature_channels
        if config.loss.feature_weight > 0 and not channels:
            msg = (
                f"loss.feature_weight > 0 but the cache {dataset.root} holds no teacher features; label into another "
                f"data.cache_dir (or delete this one) with teacher.features: true (torch teachers only), or set "
                f"loss.feature_weight: 0"
            )
            raise ConfigError(msg)
        self.projection: ProjectionHead | None = None
        if config.loss.feature_weight > 0:
            self.projection = ProjectionHead(self.student.encoder.channels[-1], channels).to(self.device)
        params = list(self.student.parameters()) + (list(self.projection.parameters()) if self.projection else [])
        self.optimizer = torch.optim.AdamW(params, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_schedule(config.optim, run.steps, warn=self.context.is_main)
        )
        self.step_lr = float("nan")  # the student's lr of the last step (NaN: skipped by fp16; train.csv's lr)
        self.scaler = GradScaler(self.device.type, enabled=run.amp == "fp16")
        self.steps_per_epoch = len(dataset) // (run.batch_size * self.context.world_size)
        if self.steps_per_epoch < 1:
            msg = (
                f"{len(dataset)} cached frames do not fill one batch of {run.batch_size} on each of "
                f"{self.context.world_size} process(es); label more or lower run.batch_size"
            )
            raise ConfigError(msg)
        self.step = 0
        self.log_window = LossWindow()  # the steps since the last train.csv row (saved with a checkpoint)
        self.out_dir = Path(run.out_dir)

    def _loader(self, epoch: int, offset: int) -> DataLoader[dict[str, Tensor]]:
        generator = torch.Generator().manual_seed(self.config.run.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.dataset), generator=generator).tolist()
        batch, world = self.config.run.batch_size, self.context.world_size
        mine = order[: self.steps_per_epoch * batch * world][self.context.rank :: world]  # this process's share
        indices = mine[offset * batch :]
        return DataLoader(self.dataset, batch_size=batch, sampler=indices, drop_last=True)

    def _to_input_size(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        hw = (self.spec.input.height, self.spec.input.width)
        if tuple(batch["rgb"].shape[-2:]) == hw:
            return batch
        resized = dict(batch)
        shrinking = hw[0] < batch["rgb"].shape[-2] or hw[1] < batch["rgb"].shape[-1]  # as the node's preprocess
        resized["rgb"] = F.interpolate(batch["rgb"], size=hw, mode="bilinear", align_corners=False, antialias=shrinking)
        resized["label"] = F.interpolate(batch["label"], size=hw, mode="nearest-exact")
        lidar = batch["lidar_depth"]  # re-splatted: sampling one pixel per block would drop most returns
        resized["lidar_depth"] = torch.stack([resize_sparse_depth(one.cpu(), hw[1], hw[0]) for one in lidar]).to(
            lidar.device
        )
        return resized

    def _forward(self, rgb: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """(inverse depth, depth, deepest encoder feature or None) of the student, each (B, ·, H, W) float32."""
        captured: list[Tensor] = []
        hook = None
        if self.projection is not None:
            hook = self.student.encoder.register_forward_hook(lambda _m, _a, out: captured.append(out[-1]))
        amp = self.config.run.amp
        try:
            with torch.autocast(self.device.type, dtype=_AMP_DTYPES.get(amp), enabled=amp != "none"):
                output = self.student(normalise(rgb, self.spec.mean, self.spec.std))
        finally:
            if hook is not None:
                hook.remove()
        inverse, depth = disp_to_depth(output.disparities[0].float(), self.spec.min_depth_m, self.spec.max_depth_m)
        return inverse, depth, captured[0].float() if captured else None

    def loss(self, batch: dict[str, Tensor], generator: torch.Generator) -> tuple[Tensor, dict[str, float]]:
        """The distillation loss of one (unperturbed) batch, perturbed here with ``generator``'s draws."""
        cfg = self.config.loss
        resized = self._to_input_size(batch)
        resized = {**resized, "label": normalised_target(resized["label"], self.teacher_kind)}  # before CutMix
        perturbed = perturb_batch(resized, cfg, generator)
        rgb = perturbed.rgb.to(self.device)
        label = perturbed.label.to(self.device)
        mask = torch.isfinite(label)
        target = torch.where(mask, label, torch.zeros_like(label))
        region = perturbed.region.to(self.device) if perturbed.region is not None else None
        inverse, depth, feature = self._forward(rgb)
        ssi = regional_ssi_loss(inverse, target, mask, region, cfg.gradient_weight, cfg.gradient_scales)
        total, parts = ssi, {"ssi": float(ssi.detach())}
        if self.projection is not None and feature is not None:
            align = feature_alignment_loss(
                self.projection(feature), perturbed.features.to(self.device), cfg.feature_margin
            )
            total = total + cfg.feature_weight * align
            parts["features"] = float(align.detach())
        if self.uses_lidar:
            # returns the student cannot reach (at or beyond its max_depth_m) are no target, as in the trainer's
            # objectives: they would pull those pixels to saturation and, for berHu, set its threshold
            returns = perturbed.lidar_depth.to(self.device)
            returns = torch.where(returns < self.spec.max_depth_m, returns, torch.nan)
            lidar = sparse_lidar_loss(depth, returns, cfg.lidar_loss)
            total = total + cfg.lidar_weight * lidar
            parts["lidar"] = float(lidar.detach())
        return total, parts

    def _train_step(self, batch: dict[str, Tensor]) -> tuple[float, dict[str, float]]:
        generator = torch.Generator().manual_seed(self.config.run.seed * 1_000_003 + 7919 * self.step + 1)
        total, parts = self.loss(batch, generator)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()  # type: ignore[no-untyped-call]
        self._average_gradients()
        if self.config.optim.grad_clip_norm > 0:
            self.scaler.unscale_(self.optimizer)
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            nn.utils.clip_grad_norm_(params, self.config.optim.grad_clip_norm)
        stepped = scaled_step(self.scaler, self.optimizer)  # fp16 skips a step of Inf / NaN gradients
        # the lr this step trained at (step() moves it on); a skipped step trained at none: NaN, not the last one's
        self.step_lr = float(self.scheduler.get_last_lr()[0]) if stepped else float("nan")
        self.scheduler.step()
        return float(total.detach()), parts

    def _average_gradients(self) -> None:
        """Mean of every gradient over the processes (no-op in one process): one all-reduce of them all, flat."""
        if not self.context.distributed:
            return
        grads = [p.grad for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.context.world_size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def fit(
        self, stop_at_step: int | None = None, stop_requested: Callable[[], bool] | None = None
    ) -> tuple[int, float]:
        """Train up to ``run.steps`` (or stop after ``stop_at_step`` as if interrupted, after its checkpoint).

        ``stop_requested`` (SIGTERM / Ctrl-C) is asked after every step by every process, which agree: once true,
        that step is logged and checkpointed as the last.

        Returns:
            (steps done in this call, images per second).
        """
        run = self.config.run
        stop = min(run.steps, stop_at_step) if stop_at_step is not None else run.steps
        start_step, started = self.step, time.perf_counter()
        window = self.log_window  # the steps since the last row: a resumed row averages them with its own
        if self.step >= stop:  # nothing to train: its rows stay as they are
            window.clear()
        self.student.train()
        world = self.context.world_size
        with TrainLogger.for_run(self.out_dir, self.context.is_main, run, self.step, len(window)) as log:
            while self.step < stop:
                epoch, offset = divmod(self.step, self.steps_per_epoch)
                for batch in self._loader(epoch, offset):
                    window.add(*self._train_step(batch))
                    self.step += 1
                    if stop_requested is not None and span_across(int(stop_requested()), self.context)[1]:
                        stop = self.step  # this step is logged and checkpointed as the last
                    images = (self.step - start_step) * run.batch_size * world
                    rate = images / max(time.perf_counter() - started, 1e-9)
                    log.step(window.losses[-1], rate)
                    on_grid = self.step % run.log_every == 0
                    if on_grid or self.step == stop:
                        loss, parts = window.means(self.context)
                        log.train_row(self.step, {"epoch": float(epoch), "lr": self.step_lr, "loss": loss, **parts})
                    if on_grid:  # a stop's row off the grid keeps its steps: the checkpoint saves them for a resume
                        window.clear()
                    if self.step % run.checkpoint_every == 0 or self.step == stop:
                        self.save_checkpoint()
                    if self.step >= stop:
                        break
        done = self.step - start_step
        return done, done * run.batch_size * world / max(time.perf_counter() - started, 1e-9)

    def _metadata(self) -> dict[str, str]:
        return {
            "objective": "distill",
            "teacher": json.dumps(self.dataset.manifest.teacher, sort_keys=True),
            "distill_config": json.dumps(self.config.to_dict()),
        }

    def save_checkpoint(self) -> Path | None:
        """A resumable checkpoint of the current step (student + projection head + optimiser + RNG), written by rank
        0 (the others wait for it and get None).

        Raises:
            ConfigError: the weights are NaN / Inf (a diverged step: nothing is written).
        """
        train_state.refuse_non_finite_weights(self.student, self.step, self.out_dir, self.context)
        if self.projection is not None:
            train_state.refuse_non_finite_weights(self.projection, self.step, self.out_dir, self.context)
        window = self.log_window.saved(self.context)  # every process: an all-reduce
        if not self.context.is_main:
            barrier(self.context)
            return None
        modules = {"projection": self.projection.state_dict() if self.projection is not None else {}}
        state = train_state.TrainState.capture(
            self.step, modules, self.optimizer, self.scheduler, self.scaler, self.config.to_dict(), window
        )
        path = train_state.save_training_checkpoint(self.out_dir, self.student, self.spec, state, self._metadata())
        train_state.prune_checkpoints(self.out_dir, self.step, self.config.run.keep_checkpoints)
        barrier(self.context)
        return path

    def resume(self, model_path: str | Path | None = None) -> None:
        """Restore a checkpoint (default: the latest under ``out_dir``); a no-op when there is none.

        Raises:
            CheckpointError: missing files, another student, or another feature-alignment setting (the projection
                head and its optimiser group exist only with ``loss.feature_weight > 0``).
            ConfigError: the checkpoint's step is past ``run.steps`` (nothing is written).
        """
        path = Path(model_path) if model_path is not None else train_state.latest_checkpoint(self.out_dir)
        if path is None:  # --resume auto's first launch, or a mistyped --out: say which
            if self.context.is_main:
                where = Path(self.out_dir) / train_state.CHECKPOINT_DIR
                _LOG.warning("--resume auto: no checkpoint in %s: starting at step 0", where)
            return
        state = train_state.load_training_checkpoint(path, self.student, self.spec)
        train_state.refuse_resume_past_end(path, state.step, self.config.run.steps, self.out_dir)
        try:
            if self.projection is not None:
                self.projection.load_state_dict(state.modules["projection"])
            self.step = state.restore(self.optimizer, self.scheduler, self.scaler)
        except (RuntimeError, ValueError, KeyError) as err:
            saved = state.config.get("loss", {}).get("feature_weight", "?")
            current = self.config.loss.feature_weight
            raise train_state.resume_mismatch(path, err, f"loss.feature_weight {saved}", current) from None
        self.log_window = LossWindow.restored(state.log_window)

    @torch.no_grad()
    def calibrate(self) -> Calibration:
        """Fit the global inverse-depth map against the LiDAR (when trained on it) or the teacher's labels."""
        frames = self.config.run.calibration_frames or len(self.dataset)
        students, targets = [], []
        self.student.eval()
        for index in evenly_spread(len(self.dataset), frames):
            item = self._to_input_size({k: v[None] for k, v in self.dataset[index].items()})
            inverse, _, _ = self._forward(item["rgb"].to(self.device))
            if self.uses_lidar:
                lidar = item["lidar_depth"]
                # the returns its LiDAR term trained on: beyond max_depth_m the student saturates (see loss)
                reached = torch.isfinite(lidar) & (lidar > 0) & (lidar < self.spec.max_depth_m)
                target = torch.where(reached, 1.0 / lidar, torch.nan)
            else:
                value, mask = inverse_target(item["label"], self.teacher_kind)
                target = torch.where(mask, value, torch.nan)
            students.append(inverse.cpu().numpy().ravel())
            targets.append(target.numpy().ravel())
        self.student.train()
        return fit_calibration(
            np.concatenate(students),
            np.concatenate(targets),
            1.0 / self.spec.max_depth_m,
            "lidar" if self.uses_lidar else "teacher",
        )

    def save_final(self, calibration: Calibration) -> Path:
        """``<out_dir>/model.safetensors``: the student with its calibrated spec and a golden reference."""
        spec = fold_calibration(self.spec, calibration)
        network = build_model(spec)
        network.load_state_dict(self.student.state_dict())
        golden = make_golden(TorchBackend(network, spec, torch.device("cpu")))
        metadata = {**self._metadata(), "calibration": json.dumps(calibration.as_dict())}
        path = self.out_dir / "model.safetensors"
        return save_checkpoint(
            path, self.student.state_dict(), spec, metadata, reference=(golden.image_rgb, golden.output)
        )
