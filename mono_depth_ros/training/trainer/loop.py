"""The trainer: one loop for one CPU, one GPU or many processes (``torchrun``, DistributedDataParallel).

Per step: a batch from a :class:`~torch.utils.data.distributed.DistributedSampler` (seeded, so every process and
every resume sees the same order), forward + loss under optional autocast (bf16 / fp16 with a gradient scaler),
backward, gradient-norm clipping, AdamW step, warm-up + poly / cosine learning rate. Every ``checkpoint_every``
steps (and at the last step) rank 0 writes the model as a safetensors checkpoint with its ModelSpec plus a separate
training-state file (:mod:`.train_state`); resuming restores model, optimiser, scheduler, scaler, RNG states and
step, and skips the batches of the current epoch already seen, so N straight steps and N/2 + resume + N/2 give the
same weights. Validation (standard metrics on held-out data) runs at the end of every epoch and of the run. The
final model is ``<out_dir>/model.safetensors`` (with a golden reference for the node's start-up self-test).
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.amp import GradScaler
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler
from torch.utils.data.distributed import DistributedSampler

from mono_depth_ros.adapters.signals import StopSignals
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.evaluation.depth import PROTOCOLS, Protocol, evaluate_samples
from mono_depth_ros.evaluation.metrics import DepthMetrics
from mono_depth_ros.evaluation.samples import synthetic_samples
from mono_depth_ros.models.backend import TorchBackend
from mono_depth_ros.models.checkpoint import save_checkpoint
from mono_depth_ros.models.inference import make_golden
from mono_depth_ros.models.registry import build_model
from mono_depth_ros.models.unet import UNet
from mono_depth_ros.training.data.real import RecordedDepthDataset
from mono_depth_ros.training.objectives.assemble import LossResult, Objective, normalise
from mono_depth_ros.training.trainer import state as train_state
from mono_depth_ros.training.trainer.config import RunConfig, TrainConfig, shown
from mono_depth_ros.training.trainer.distributed import DistContext, barrier, setup_distributed, span_across
from mono_depth_ros.training.trainer.distributed import teardown_distributed as _teardown
from mono_depth_ros.training.trainer.log import LossWindow, TrainLogger
from mono_depth_ros.training.trainer.pretrained import (
    PretrainedDepthNet,
    PretrainedModel,
    encoder_parameter_groups,
    open_pretrained,
    record_trained_kind,
)
from mono_depth_ros.training.trainer.setup import (
    TrainModule,
    build_datasets,
    build_spec,
    lr_schedule,
    measured_training_focal,
    scaled_step,
)

_LOG = logging.getLogger(__name__)

__all__ = ["TrainResult", "Trainer", "build_datasets", "build_spec", "lr_schedule", "train"]  # lr_schedule & co: moved


class _EpochSampler(Sampler[int]):
    """The indices of one epoch of a DistributedSampler, from batch ``start_batch`` on (exact mid-epoch resume)."""

    def __init__(self, sampler: DistributedSampler[int], start_index: int) -> None:
        self.indices = list(sampler)[start_index:]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def quiet_data_worker(worker_id: int) -> None:
    """``worker_init_fn`` of the training DataLoader: the worker ignores SIGINT and SIGTERM, which a scheduler (the
    whole process group) or a terminal's Ctrl-C sends it too. Torch's own handler made it die of one sent by any
    process but the trainer, and the trainer then failed ("DataLoader worker ... is killed by signal") instead of
    writing the checkpoint of the step in hand; the trainer shuts its workers down (and they exit when it dies)."""
    del worker_id
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def validation_protocol(protocol: Protocol, run: RunConfig) -> Protocol:
    """The protocol the trainer validates with: the dataset's crop and cap, scaling ``auto`` (by output kind: a metric
    model is validated in metres), and the cap ``run.eval_max_depth_m`` instead of the protocol's when it is set."""
    protocol = replace(protocol, scaling="auto")
    if run.eval_max_depth_m > 0:
        protocol = replace(protocol, max_depth_m=run.eval_max_depth_m)
    return protocol


@dataclass(frozen=True)
class TrainResult:
    """What :meth:`Trainer.fit` returns (meaningful on rank 0).

    Attributes:
        step: optimiser steps done.
        model_path: final ``model.safetensors`` (None when stopped early by ``stop_at_step``).
        val: last validation metrics (None if validation never ran).
        wall_s: wall-clock seconds of this call; images_per_s: training throughput over all processes.
    """

    step: int
    model_path: Path | None
    val: DepthMetrics | None
    wall_s: float
    images_per_s: float


class Trainer:
    """Builds everything from a :class:`TrainConfig` and runs the loop (see the module docstring).

    Args:
        config: the run configuration.
        context: process placement (default: :func:`setup_distributed` with ``config.run.device``).
    """

    def __init__(self, config: TrainConfig, context: DistContext | None = None) -> None:
        self.config = config
        run = config.run
        self.context = context or setup_distributed(run.device)
        if run.threads > 0:
            torch.set_num_threads(run.threads)
        torch.manual_seed(run.seed)
        np.random.seed(run.seed)  # noqa: NPY002 - seeds third-party code that draws from the global generator
        self.pretrained: PretrainedModel | None = None
        depth_net: UNet | PretrainedDepthNet
        if config.model.pretrained:  # fine-tune a foundation model (see .pretrained)
            m = config.model
            hw = (m.input_height, m.input_width)
            self.pretrained = open_pretrained(m.pretrained, config.output_kind, m.max_depth_m, hw)
            self.spec = self.pretrained.spec
            depth_net = PretrainedDepthNet(self.pretrained.network, self.spec.min_depth_m, self.spec.max_depth_m)
        else:
            self.spec = build_spec(config)
            built = build_model(self.spec)
            if not isinstance(built, UNet):
                msg = f"the trainer trains the unet architecture, got {type(built).__name__}"
                raise ConfigError(msg)
            depth_net = built
        self.train_data, self.val_data = build_datasets(config)
        self.spec = replace(self.spec, training_focal=measured_training_focal(self.train_data))
        objective = Objective(
            config.loss,
            self.spec.min_depth_m,
            self.spec.max_depth_m,
            self.spec.mean,
            self.spec.std,
            temporal_sources=bool(config.data.frame_offsets),
        )
        self.module = TrainModule(depth_net, objective, self.spec, run.amp).to(self.context.device)
        device_ids = [self.context.device] if self.context.device.type == "cuda" else None
        # parameters without gradient: the unet's coarser heads beyond loss.scales; a transformers model's unused
        # tensors (DINOv2's mask token)
        unused = not isinstance(depth_net, UNet) or config.loss.scales < len(depth_net.heads)
        self.wrapped: nn.Module = (
            DistributedDataParallel(self.module, device_ids=device_ids, find_unused_parameters=unused)
            if self.context.distributed
            else self.module
        )
        o = config.optim
        groups: list[dict[str, Any]] = (
            encoder_parameter_groups(self.pretrained, o.lr, o.encoder_lr_scale, config.model.freeze_encoder)
            if self.pretrained is not None
            else [{"params": list(depth_net.parameters()), "lr": o.lr}]
        )
        if list(objective.parameters()):
            groups.append({"params": list(objective.parameters()), "lr": config.optim.lr * config.optim.pose_lr_scale})
        self.optimizer = torch.optim.AdamW(groups, lr=config.optim.lr, weight_decay=config.optim.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_schedule(config.optim, run.steps, warn=self.context.is_main)
        )
        self.scaler = GradScaler(self.context.device.type, enabled=run.amp == "fp16")
        self.step_lr = float("nan")  # the depth network's lr of the last step (NaN: skipped by fp16; train.csv's lr)
        self.sampler: DistributedSampler[int] = DistributedSampler(
            self.train_data,
            num_replicas=self.context.world_size,
            rank=self.context.rank,
            shuffle=True,
            seed=run.seed,
            drop_last=True,
        )
        self.steps_per_epoch = len(self.sampler) // run.batch_size
        if self.steps_per_epoch < 1:
            more = (
                "data.train_seeds / data.frames_per_clip"
                if config.data.kind == "synthetic"
                else "frames to data.root (with data.frame_offsets only frames with all their neighbours are targets)"
            )
            msg = (
                f"{len(self.train_data)} training items over {self.context.world_size} process(es) do not fill one "
                f"batch of {run.batch_size}; add {more} or lower run.batch_size"
            )
            raise ConfigError(msg)
        self.step = 0
        self.log_window = LossWindow()  # the steps since the last train.csv row (saved with a checkpoint)
        self.validate_on_start = False  # set by resume() at a step whose validation a kill may have cut short
        self.last_val: DepthMetrics | None = None
        self.out_dir = Path(run.out_dir)

    @property
    def depth_net(self) -> UNet | PretrainedDepthNet:
        """The depth network (unwrapped)."""
        return cast("UNet | PretrainedDepthNet", self.module.depth_net)

    @property
    def saved_net(self) -> nn.Module:
        """The network whose ``state_dict`` checkpoints hold (``build_model(spec)`` loads it)."""
        net = self.module.depth_net
        return net.network if isinstance(net, PretrainedDepthNet) else net

    def _loader(self, epoch: int, start_batch: int) -> DataLoader[dict[str, Tensor]]:
        self.sampler.set_epoch(epoch)
        self.train_data.set_epoch(epoch)
        run = self.config.run
        generator = torch.Generator().manual_seed(run.seed * 100_003 + epoch)  # never the global RNG
        return DataLoader(
            self.train_data,
            batch_size=run.batch_size,
            drop_last=True,
            generator=generator,
            sampler=_EpochSampler(self.sampler, start_batch * run.batch_size),
            num_workers=self.config.data.num_workers,
            worker_init_fn=quiet_data_worker,
        )

    def _train_step(self, batch: dict[str, Tensor]) -> LossResult:
        batch = {k: v.to(self.context.device, non_blocking=True) for k, v in batch.items()}
        result: LossResult = self.wrapped(batch)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(result.total).backward()  # type: ignore[no-untyped-call]
        if self.config.optim.grad_clip_norm > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.module.parameters(), self.config.optim.grad_clip_norm)
        stepped = scaled_step(self.scaler, self.optimizer)  # fp16 skips a step of Inf / NaN gradients
        # the lr this step trained at (step() moves it on); a skipped step trained at none: NaN, not the last one's
        self.step_lr = float(self.scheduler.get_last_lr()[0]) if stepped else float("nan")
        self.scheduler.step()
        return result

    def fit(self, stop_at_step: int | None = None, stop_requested: Callable[[], bool] | None = None) -> TrainResult:
        """Train up to ``run.steps`` (or stop after ``stop_at_step``, as if interrupted, after its checkpoint).

        ``stop_requested`` (e.g. a SIGTERM from a cluster scheduler, see :mod:`mono_depth_ros.adapters.signals`) is
        asked after every step (by every process, which then agree): once true, the run logs and checkpoints that
        step and returns without validating (a resume validates it when it ends an epoch).
        """
        run = self.config.run
        stop = min(run.steps, stop_at_step) if stop_at_step is not None else run.steps
        stopped = False
        start_step, start = self.step, time.perf_counter()
        window = self.log_window  # the steps since the last row: a resumed row averages them with its own
        if self.step >= stop:  # nothing to train: its rows stay as they are
            window.clear()
        window.start()
        self.module.train()
        revalidate, self.validate_on_start = self.validate_on_start, False
        with TrainLogger.for_run(self.out_dir, self.context.is_main, run, self.step, len(window), revalidate) as log:
            if revalidate:  # resumed from the checkpoint an epoch's validation follows: a kill may have cut it short
                self.validate(log, self.step // self.steps_per_epoch - (self.step % self.steps_per_epoch == 0))
            while self.step < stop:
                epoch, offset = divmod(self.step, self.steps_per_epoch)
                for batch in self._loader(epoch, offset):
                    result = self._train_step(batch)
                    window.add(float(result.total.detach()), result.parts)
                    self.step += 1
                    if stop_requested is not None and span_across(int(stop_requested()), self.context)[1]:
                        stop, stopped = self.step, True  # this step is logged and checkpointed as the last
                    rate = window.images_per_s(run.batch_size * self.context.world_size)
                    log.step(window.losses[-1], rate)
                    on_grid = self.step % run.log_every == 0
                    if on_grid or self.step == stop:
                        self._log_window(log, window, rate, epoch)
                    if on_grid:  # a stop's row off the grid keeps its steps: the checkpoint saves them for a resume
                        window.clear()
                    if self.step % run.checkpoint_every == 0 or self.step == stop:
                        self.save_checkpoint()
                    if self.step >= stop:
                        break
                if run.validate and not stopped and (self.step % self.steps_per_epoch == 0 or self.step == run.steps):
                    self.validate(log, epoch)
        model_path = self.save_final() if self.step >= run.steps and not stopped else None
        wall = time.perf_counter() - start
        images = (self.step - start_step) * run.batch_size * self.context.world_size
        return TrainResult(self.step, model_path, self.last_val, wall, images / max(wall, 1e-9))

    def _log_window(self, log: TrainLogger, window: LossWindow, rate: float, epoch: int) -> None:
        loss, parts = window.means(self.context)
        row = {
            "epoch": float(epoch),
            "lr": self.step_lr,
            "loss": loss,
            **parts,
            "images_per_s": rate,
        }
        log.train_row(self.step, row)

    def validate(self, log: TrainLogger | None = None, epoch: int = 0) -> DepthMetrics | None:
        """Standard metrics of the depth network on the validation drives (rank 0; others wait).

        Raises:
            ConfigError: ``run.validate: false``: no validation data was built.
        """
        if self.val_data is None:
            msg = (
                "run.validate false: no validation data was built (its drives are not rendered, its frames not read); "
                "set run.validate true to validate"
            )
            raise ConfigError(msg)
        if self.context.is_main:
            run = self.config.run
            if isinstance(self.val_data, RecordedDepthDataset):
                samples, protocol = self.val_data.eval_samples(), self.val_data.protocol
            else:
                samples, protocol = synthetic_samples(self.val_data.clips), PROTOCOLS["synthetic"]
            samples = samples[: run.val_max_images] if run.val_max_images else samples
            protocol = validation_protocol(protocol, run)
            report = evaluate_samples(self.predict, self.spec.output_kind, samples, protocol)
            self.last_val = report.mean
            if log is not None:
                ratios = np.asarray(report.gt_over_pred_median, dtype=np.float64)
                scale = float(np.nanmedian(ratios)) if np.isfinite(ratios).any() else float("nan")  # nan: no GT
                log.val_row(self.step, {"epoch": float(epoch), **report.mean.as_dict(), "gt_over_pred": scale})
        barrier(self.context)
        return self.last_val

    @torch.no_grad()
    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 at the network size -> (H, W) float32 depth (eval mode; restores the training mode)."""
        was_training = self.depth_net.training
        self.depth_net.eval()
        image = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(255.0).to(self.context.device)
        depth = self.depth_net(normalise(image, self.spec.mean, self.spec.std)).depth[0, 0]
        self.depth_net.train(was_training)
        out: np.ndarray = depth.float().cpu().numpy()
        return out

    def _metadata(self) -> dict[str, str]:
        return {"objective": self.config.loss.objective, "train_config": json.dumps(self.config.to_dict())}

    def save_checkpoint(self) -> Path | None:
        """Write the checkpoint of the current step (rank 0); returns its model file there, None elsewhere.

        Raises:
            ConfigError: the weights are NaN / Inf (see :func:`.state.refuse_non_finite_weights`).
        """
        train_state.refuse_non_finite_weights(self.module, self.step, self.out_dir, self.context)
        window = self.log_window.saved(self.context)  # every process: an all-reduce
        path = None
        if self.context.is_main:
            modules = {"objective": self.module.objective.state_dict()}
            state = train_state.TrainState.capture(
                self.step, modules, self.optimizer, self.scheduler, self.scaler, self.config.to_dict(), window
            )
            path = train_state.save_training_checkpoint(
                self.out_dir, self.saved_net, self.spec, state, self._metadata()
            )
            train_state.prune_checkpoints(self.out_dir, self.step, self.config.run.keep_checkpoints)
        barrier(self.context)
        return path

    def resume(self, model_path: str | Path | None = None) -> None:
        """Restore a checkpoint (default: the latest under ``out_dir``); a no-op when there is none.

        Raises:
            CheckpointError: missing files, another network, or another objective / optimiser layout.
            ConfigError: the checkpoint's step is past ``run.steps``.
        """
        path = Path(model_path) if model_path is not None else train_state.latest_checkpoint(self.out_dir)
        if path is None:  # --resume auto's first launch, or a mistyped --out: say which
            if self.context.is_main:
                where = Path(self.out_dir) / train_state.CHECKPOINT_DIR
                _LOG.warning("--resume auto: no checkpoint in %s: starting at step 0", where)
            return
        state = train_state.load_training_checkpoint(
            path,
            self.saved_net,
            self.spec,
            scale_free_silog=self.config.loss.scale_free_silog,
            metric_sources=self.config.metric_sources,
        )
        train_state.refuse_resume_past_end(path, state.step, self.config.run.steps, self.out_dir)
        try:  # the same network, but another objective (a pose network or not) or optimiser groups
            self.module.objective.load_state_dict(state.modules["objective"])
            self.step = state.restore(self.optimizer, self.scheduler, self.scaler)
        except (RuntimeError, ValueError, KeyError) as err:
            trained_with, current = self._resume_difference(state.config)
            raise train_state.resume_mismatch(path, err, trained_with, current) from None
        self.log_window = LossWindow.restored(state.log_window)
        changes = train_state.order_changes(state.config, self.config.to_dict())
        if changes:
            _LOG.warning(
                "resumed from %s with %s: the batches from here on are not the order of the run that never stopped "
                "(another data order or other augmentation draws)",
                path,
                ", ".join(changes),
            )
        run = self.config.run  # the checkpoint is written before the validation that follows it: run that again
        self.validate_on_start = run.validate and (self.step % self.steps_per_epoch == 0 or self.step == run.steps)

    def _resume_difference(self, saved: dict[str, Any]) -> tuple[str, str]:
        """(the checkpoint's, this run's) settings that differ among those that shape the objective's modules or the
        optimiser's parameter groups (``loss.*``, ``model.freeze_encoder``), from a checkpoint's config (``saved``,
        as :meth:`TrainConfig.to_dict` gives it): the objective when it differs (the checkpoint's
        ``loss.objective=...``, this run's value), else ``section.key=value`` lists (values as YAML gives them, as the
        config errors do: ``model.freeze_encoder=true``), the pose network's width first (the objective's when nothing
        differs)."""
        now = self.config.to_dict()
        current = {f"loss.{key}": value for key, value in now["loss"].items()}
        current["model.freeze_encoder"] = now["model"].get("freeze_encoder")
        before = {
            f"{section}.{key}": value for section in ("loss", "model") for key, value in saved.get(section, {}).items()
        }
        keys = [key for key in current if key in before and before[key] != current[key]]
        keys.sort(key=lambda key: key != "loss.pose_width")
        if not keys or "loss.objective" in keys:
            return f"loss.objective={before.get('loss.objective', '?')}", self.config.loss.objective
        named = keys[:3]
        return (
            ", ".join(f"{key}={shown(before[key])}" for key in named),
            ", ".join(f"{key}={shown(current[key])}" for key in named),
        )

    def save_final(self) -> Path | None:
        """``<out_dir>/model.safetensors``: the trained depth network, its spec and a golden reference (rank 0).

        A fine-tuned pretrained model is also written as ``<out_dir>/pretrained/`` in its family's own layout
        (``save_pretrained``: config.json with the metric head + model.safetensors), which the node loads as a
        weights directory (``model.backend: depth_anything_v2``).
        """
        if not self.context.is_main:
            return None
        state = self.saved_net.state_dict()
        network = build_model(self.spec)
        network.load_state_dict(state)
        golden = make_golden(TorchBackend(network, self.spec, torch.device("cpu")))
        path = self.out_dir / "model.safetensors"
        if self.pretrained is not None:
            directory = self.pretrained.save_directory(self.saved_net, self.out_dir / "pretrained")
            record_trained_kind(directory, self.spec.output_kind)
        return save_checkpoint(path, state, self.spec, self._metadata(), reference=(golden.image_rgb, golden.output))


def check_resume(config: TrainConfig, resume: str | Path | None) -> None:
    """Refuse, before anything is written, to resume from a checkpoint whose step (in its file name) is past
    ``run.steps`` (:meth:`Trainer.resume` checks the loaded step of any other name).

    Raises:
        ConfigError: see :func:`.state.check_resume_value` and :func:`.state.refuse_resume_past_end`.
    """
    if resume is not None:
        train_state.check_resume_value(resume)
    path = train_state.resume_path(config.run.out_dir, resume) if resume is not None else None
    step = train_state.step_of(path) if path is not None else None
    if path is not None and step is not None:
        train_state.refuse_resume_past_end(path, step, config.run.steps, config.run.out_dir)


def train(
    config: TrainConfig,
    resume: str | Path | None = None,
    stop_at_step: int | None = None,
    on_start: Callable[[], object] | None = None,
    stop: StopSignals | None = None,
) -> TrainResult:
    """Set up processes, optionally resume (``"auto"`` = latest checkpoint in ``run.out_dir``), train, tear down.

    ``on_start`` (e.g. the command's writing of ``config.yaml``) runs in every process once the run is accepted: the
    folder refused or not, the checkpoint resumed, just before the first step. ``stop`` (SIGTERM / Ctrl-C): during
    the set-up (data, model, resume) a signal interrupts at once; while training, the step in hand is checkpointed
    and the run returns (:meth:`Trainer.fit`).

    Raises:
        ConfigError: a ``run.out_dir`` that is (or is under) a file, or cannot be written; a fresh run (``resume``
            None) into a ``run.out_dir`` that holds an earlier run's checkpoints or logs (its rows would be appended
            to them, and ``--resume auto`` would later pick its checkpoints); a resumed checkpoint past
            ``run.steps``; processes that resumed from different steps.
    """
    train_state.require_out_folder(config.run.out_dir)
    if resume is None:
        train_state.refuse_earlier_run(config.run.out_dir)
    check_resume(config, resume)
    context = setup_distributed(config.run.device)
    try:
        with stop.interrupting() if stop is not None else contextlib.nullcontext():
            trainer = Trainer(config, context)
            if resume is not None:
                trainer.resume(None if str(resume) == "auto" else resume)
                train_state.refuse_uneven_resume(span_across(trainer.step, context), config.run.out_dir)
        if on_start is not None:
            on_start()
        return trainer.fit(stop_at_step, stop)
    finally:
        _teardown(context)
