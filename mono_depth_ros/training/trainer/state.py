"""Training checkpoints: the model as a safetensors checkpoint (with its ModelSpec, loadable by the node) plus a
separate training-state file (optimiser, scheduler, gradient scaler, pose network, RNG states, step).

Layout under ``<out_dir>/checkpoints/``: ``step_0000500.safetensors`` and ``step_0000500.state.pt``. The state
file is ours and written with ``torch.save`` of plain containers and tensors only, so it loads with
``weights_only=True`` (a TorchScript archive in its place is refused first: torch.load before 2.6 ran those even
so); nothing on the inference path ever reads it.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mono_depth_ros.core.errors import CheckpointError, ConfigError, first_line
from mono_depth_ros.models.checkpoint import (
    REDO,
    is_torchscript_archive,
    load_checkpoint,
    load_state_strict,
    save_checkpoint,
    write_failed,
)
from mono_depth_ros.models.spec import LEFT_OUT_DEFAULTS, ModelSpec, OutputKind
from mono_depth_ros.training.trainer.distributed import DistContext, span_across

_LOG = logging.getLogger(__name__)
CHECKPOINT_DIR = "checkpoints"
STATE_FORMAT = 1
"""Layout version of a ``.state.pt`` (its ``format``; a file without it is format 1). Keys added since (read when
present, ignored by an older version): ``log_window``."""
_STATE_KEYS = ("step", "modules", "optimizer", "scheduler", "scaler", "rng", "config")
_RNG_KEYS = ("python", "numpy", "torch")
_NAME = re.compile(r"^step_(\d{7,})\.safetensors$")
TRAIN_CONFIG_NAME = "config.yaml"
"""The configuration ``mono-depth train`` writes into ``run.out_dir`` (read back with ``--config``)."""
DISTILL_CONFIG_NAME = "distill_config.yaml"
"""The configuration ``mono-depth distill`` writes into ``run.out_dir`` (read back with ``--student``)."""


def checkpoint_paths(out_dir: str | Path, step: int) -> tuple[Path, Path]:
    """(model ``.safetensors``, training-state ``.state.pt``) paths of ``step``."""
    base = Path(out_dir) / CHECKPOINT_DIR / f"step_{step:07d}"
    return base.with_suffix(".safetensors"), base.with_suffix(".state.pt")


def require_out_folder(out_dir: str | Path, option: str = "run.out_dir") -> None:
    """Check that ``out_dir`` is, or can be made, a folder to write in: its nearest existing part is a writable
    folder (``option`` names the setting in the error). Nothing is created.

    Raises:
        ConfigError: a file there (or above), or a folder that cannot be written.
    """
    folder = Path(out_dir)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        msg = f"{option} {folder}: {existing} is a file, not a folder; choose another folder (--out) or move that file"
        raise ConfigError(msg)
    if not os.access(existing, os.W_OK | os.X_OK):
        msg = f"{option} {folder}: {existing} is a folder this user cannot write in; choose another folder (--out)"
        raise ConfigError(msg)


def refuse_earlier_run(out_dir: str | Path) -> None:
    """Check that a fresh run (not resumed) may write into ``out_dir``.

    Raises:
        ConfigError: ``out_dir`` holds an earlier run's checkpoints or logs: a fresh run would append its rows to
            them and leave that run's later checkpoints, which ``--resume auto`` would then pick.
    """
    folder = Path(out_dir)
    earlier = [name for name in (CHECKPOINT_DIR, "train.csv", "val.csv") if (folder / name).exists()]
    if earlier:
        msg = (
            f"run.out_dir {folder} already holds a training run ({', '.join(earlier)}): continue it with "
            "--resume auto, or choose another run.out_dir (--out), or delete that folder"
        )
        raise ConfigError(msg)


def refuse_non_finite_weights(
    module: nn.Module, step: int, out_dir: str | Path, context: DistContext | None = None
) -> None:
    """Stop a run (before it writes) once a weight of ``module`` or a normalisation layer's running statistics
    (BatchNorm ``running_mean`` / ``running_var``) is NaN / Inf. A diverged step (NaN loss) spreads through the
    gradient to every parameter, identically on every process, so all ranks raise together; a NaN input (one bad
    sample, an fp16 overflow) reaches the BatchNorm statistics in the forward pass even when the gradient scaler then
    skips the step. Under DistributedDataParallel each process has its own statistics and rank 0's are the ones
    saved (and given to the others at the next step), so only rank 0 looks at them and ``context`` makes every
    process take its verdict.

    Raises:
        ConfigError: naming the step, the log and the remedies.
    """
    statistics = [  # normalisation layers' running statistics (other buffers may hold -inf on purpose: masks)
        stat
        for layer in module.modules()
        for stat in (getattr(layer, "running_mean", None), getattr(layer, "running_var", None))
        if isinstance(stat, torch.Tensor) and (context is None or context.is_main)
    ]
    broken = not bool(torch.stack([torch.isfinite(t).all() for t in [*module.parameters(), *statistics]]).all())
    if context is not None and span_across(int(broken), context)[1]:
        broken = True
    if broken:
        msg = (
            f"training diverged: the weights are not finite at step {step} (parameters or BatchNorm statistics; see "
            f"the loss in {Path(out_dir) / 'train.csv'}); nothing more is written. Lower optim.lr, keep "
            "optim.grad_clip_norm > 0, check the data for NaN, and restart from the last checkpoint (--resume FILE) "
            "or from scratch"
        )
        raise ConfigError(msg)


def refuse_resume_past_end(model_path: str | Path, step: int, steps: int, out_dir: str | Path) -> None:
    """Check that a checkpoint of ``step`` can be continued to ``run.steps`` = ``steps``.

    Raises:
        ConfigError: ``step`` > ``steps``: the run would train nothing and rewrite ``model.safetensors`` from the
            later step's weights (and report 0 images/s).
    """
    if step > steps:
        msg = (
            f"cannot resume from {model_path}: it is at step {step}, past run.steps={steps}; nothing was written. "
            f"Set run.steps above {step} to train on, or use {Path(out_dir) / 'model.safetensors'} as it is"
        )
        raise ConfigError(msg)


def refuse_uneven_resume(steps: tuple[int, int], out_dir: str | Path) -> None:
    """Check that every process resumed from the same step (``steps``: the smallest and largest over them).

    Raises:
        ConfigError: they differ: ``run.out_dir`` is not the same folder for every process (a node's own disk),
            so some found no checkpoint and would train from their random weights, for more steps than the others
            (then hang in an all-reduce once those had finished).
    """
    low, high = steps
    if low != high:
        msg = (
            f"the processes resumed from different steps ({low} to {high}): every process must see the "
            f"checkpoints of run.out_dir {out_dir}; put it on storage shared by every node, or give --resume a "
            "checkpoint file they all can read"
        )
        raise ConfigError(msg)


ORDER_SETTINGS = ("run.seed", "run.batch_size")
"""Settings outside ``data`` that fix which items a step gets and their augmentation draws."""
_NOT_ORDER = ("num_workers", "cache_dir", "val_root", "val_split", "val_seeds", "val_frames_per_clip")


def order_changes(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``"section.key old -> new"`` for each setting that fixes the data order or the augmentation draws
    (:data:`ORDER_SETTINGS` and ``data.*`` but the workers, the cache and the validation data) and differs between a
    checkpoint's config (``saved``) and this run's (``current``), both as :meth:`TrainConfig.to_dict` gives them."""
    names = [*ORDER_SETTINGS, *(f"data.{key}" for key in current.get("data", {}) if key not in _NOT_ORDER)]
    changes = []
    for name in names:
        section, key = name.split(".")
        old, new = saved.get(section, {}).get(key), current.get(section, {}).get(key)
        if old is not None and old != new:
            changes.append(f"{name} {old} -> {new}")
    return changes


def resume_mismatch(path: str | Path, err: Exception, trained_with: str, current: object) -> CheckpointError:
    """The error for a checkpoint whose saved state does not fit this run: ``trained_with`` names the checkpoint's
    setting (``"loss.objective=supervised"``), ``current`` this run's value; ``err`` is what loading raised (its
    first line is quoted)."""
    reason = first_line(err)[:160]
    return CheckpointError(
        f"cannot resume from {path}: it was trained with {trained_with}, this run has {current} ({reason}); "
        f"resume with the configuration it was trained with"
    )


def check_resume_value(resume: str | Path) -> None:
    """Check that ``--resume`` is ``auto`` or the model file of a checkpoint pair (``.state.pt`` beside it), naming
    what to pass instead of what a user has at hand after a crash: the run folder, its final ``model.safetensors``
    (no training state), the ``.state.pt`` of the pair, another word.

    Raises:
        ConfigError: naming the value and what to pass.
    """
    if str(resume) == "auto":
        return
    path = Path(resume)
    pairs = "a checkpoints/step_N.safetensors of its run (the .state.pt beside it)"
    if path.is_dir():
        msg = (
            f"--resume {path} is a run folder: continue it with --resume auto --out {path}, or pass one of its "
            f"{CHECKPOINT_DIR}/step_N.safetensors"
            if (path / CHECKPOINT_DIR).is_dir()
            else f"--resume {path} is a folder, not a checkpoint; pass {pairs}, or --resume auto with the run's --out"
        )
    elif path.name.endswith(".state.pt"):
        model_path = path.with_suffix("").with_suffix(".safetensors")
        msg = f"--resume {path} is the training state of a checkpoint pair; pass its model file {model_path}"
    elif not path.exists():
        msg = f"--resume {resume} does not exist: pass auto (the latest checkpoint in run.out_dir, --out) or {pairs}"
    elif path.suffix == ".safetensors" and not path.with_suffix(".state.pt").is_file():
        msg = (
            f"--resume {path} has no training state beside it ({path.with_suffix('.state.pt').name}): a run's final "
            f"model or an exported one cannot be continued; pass {pairs}, or --resume auto with the run's --out"
        )
    else:
        return  # a model file with its state, or another file the loader names
    raise ConfigError(msg)


def resume_path(out_dir: str | Path, resume: str | Path) -> Path | None:
    """The checkpoint ``--resume`` names: the latest under ``out_dir`` for ``auto`` (None when there is none)."""
    return latest_checkpoint(out_dir) if str(resume) == "auto" else Path(resume)


def step_of(model_path: Path) -> int | None:
    """The step in a checkpoint's file name (``step_0000500.safetensors``), None for another name."""
    match = _NAME.match(model_path.name)
    return int(match.group(1)) if match else None


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The model file of the highest step under ``out_dir/checkpoints`` that has its state file, or None."""
    folder = Path(out_dir) / CHECKPOINT_DIR
    found = []
    for path in folder.glob("step_*.safetensors") if folder.is_dir() else ():
        match = _NAME.match(path.name)
        if match and path.with_suffix(".state.pt").is_file():
            found.append((int(match.group(1)), path))
    return max(found)[1] if found else None


def prune_checkpoints(out_dir: str | Path, newest_step: int, keep: int) -> list[Path]:
    """Delete the older step checkpoints under ``out_dir/checkpoints`` once the one of ``newest_step`` is written
    (``run.keep_checkpoints``): ``keep`` complete checkpoints (model + state) are left, that one and the ``keep - 1``
    latest below it; ``keep`` 0 deletes nothing. Checkpoints of a higher step (an earlier run resumed from an older
    step) are left alone, so the one ``--resume auto`` picks is never deleted. The state file goes first: a pair
    half deleted is a model without its state, which is never resumed from. Returns the model files deleted; a
    file that cannot be deleted is logged and left (the run goes on).
    """
    if keep == 0:
        return []
    folder = Path(out_dir) / CHECKPOINT_DIR
    older = []
    for path in folder.glob("step_*.safetensors") if folder.is_dir() else ():
        step = step_of(path)
        if step is not None and step < newest_step and path.with_suffix(".state.pt").is_file():
            older.append((step, path))
    deleted = []
    for _, model_path in sorted(older, reverse=True)[keep - 1 :]:
        try:
            model_path.with_suffix(".state.pt").unlink(missing_ok=True)
            model_path.unlink(missing_ok=True)
        except OSError as err:
            _LOG.warning("could not delete the old checkpoint %s (run.keep_checkpoints): %s", model_path, err)
            continue
        deleted.append(model_path)
    return deleted


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch (and CUDA) generator states as plain containers / tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]  # noqa: NPY002 - the legacy global generator's state
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(np.asarray(keys).copy()), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass(frozen=True)
class TrainState:
    """Everything besides the depth network's weights that an exact resume needs.

    Attributes:
        step: optimiser steps done.
        modules: state dicts of the other trained modules (e.g. ``pose_net``), by name.
        optimizer, scheduler, scaler: their ``state_dict()`` (scaler None without fp16).
        rng: :func:`rng_state` at the checkpoint.
        config: the run's configuration as a plain dict (for the record).
        log_window: the steps since the last train.csv row (:meth:`.log.LossWindow.saved`); None in a state written
            before it was saved.
    """

    step: int
    modules: dict[str, dict[str, torch.Tensor]]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any] | None
    rng: dict[str, Any]
    config: dict[str, Any]
    log_window: dict[str, Any] | None = None

    @classmethod
    def capture(
        cls,
        step: int,
        modules: Mapping[str, Mapping[str, torch.Tensor]],
        optimizer: Any,
        scheduler: Any,
        scaler: Any,
        config: dict[str, Any],
        log_window: dict[str, Any] | None = None,
    ) -> TrainState:
        """The state to save at ``step``: ``modules``' state dicts detached onto the CPU, the optimiser, scheduler and
        scaler ``state_dict()`` and :func:`rng_state` (what :meth:`restore` loads back), and ``log_window``."""
        detached = {name: {k: v.detach().cpu() for k, v in sd.items()} for name, sd in modules.items()}
        return cls(
            step,
            detached,
            optimizer.state_dict(),
            scheduler.state_dict(),
            scaler.state_dict(),
            rng_state(),
            config,
            log_window,
        )

    def restore(self, optimizer: Any, scheduler: Any, scaler: Any) -> int:
        """Load the optimiser, scheduler, scaler (when saved) and RNG states back; returns the step to go on from.

        The gradient scaler's state is loaded when the checkpoint has one (a changed ``run.amp`` is taken). The
        learning rates and weight decay stay this run's (:func:`keep_configured_rates`): a resume with a lowered
        ``optim.lr`` (the remedy for a diverged run) trains at that lr; with the same config nothing changes.
        """
        configured = [(group["initial_lr"], group.get("weight_decay", 0.0)) for group in optimizer.param_groups]
        optimizer.load_state_dict(self.optimizer)
        scheduler.load_state_dict(self.scheduler)
        if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):  # the trainers' schedule (another keeps its own)
            keep_configured_rates(optimizer, scheduler, configured)
        if self.scaler:  # {}: saved without fp16 (a run resumed with amp fp16 starts its scaler afresh)
            scaler.load_state_dict(self.scaler)
        set_rng_state(self.rng)
        return self.step


def keep_configured_rates(
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    configured: list[tuple[float, float]],
) -> None:
    """Put this run's (base lr, weight decay) of each parameter group back after loading a checkpoint's optimiser
    and LambdaLR states (which carry the lr and weight decay the checkpoint was trained with), and set each group's
    lr to base × the schedule's factor at the restored step, as the scheduler itself computes it."""
    for group, (base, decay) in zip(optimizer.param_groups, configured, strict=True):
        group["initial_lr"], group["weight_decay"] = base, decay
    scheduler.base_lrs = [base for base, _ in configured]
    for group, factor, (base, _) in zip(optimizer.param_groups, scheduler.lr_lambdas, configured, strict=True):
        group["lr"] = base * factor(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]  # what get_last_lr() reads


def save_training_checkpoint(
    out_dir: str | Path, model: nn.Module, spec: ModelSpec, state: TrainState, metadata: dict[str, str]
) -> Path:
    """Write the model checkpoint (safetensors + spec) and the training state of ``state.step``; returns the model
    file. The state file is written last (an earlier one of this step removed first), so a model file without its
    own state (interrupted write, full disk) is never resumed from.

    Raises:
        CheckpointError: a file could not be written (e.g. the disk is full); no partial file is left.
    """
    model_path, state_path = checkpoint_paths(out_dir, state.step)
    state_path.unlink(missing_ok=True)  # rewriting a step: never pair the new weights with an earlier run's state
    save_checkpoint(model_path, model.state_dict(), spec, {**metadata, "step": str(state.step)})
    tmp = state_path.with_suffix(".tmp")
    try:
        torch.save(
            {
                "format": STATE_FORMAT,
                "step": state.step,
                "modules": state.modules,
                "optimizer": state.optimizer,
                "scheduler": state.scheduler,
                "scaler": state.scaler,
                "rng": state.rng,
                "config": state.config,
                "log_window": state.log_window,
            },
            tmp,
        )
        tmp.replace(state_path)
    except (RuntimeError, OSError) as err:  # a full disk: torch.save says "unexpected pos 576 vs 534"
        raise write_failed(state_path, err) from None
    finally:
        tmp.unlink(missing_ok=True)
    return model_path


_ABSENT = object()


def _spec_value(fields: dict[str, Any], key: str, dotted: str) -> str:
    """A spec field's value as its JSON writes it; a field the JSON leaves out (:data:`LEFT_OUT_DEFAULTS`) is its
    default, ``false (the default)``, and another one it lacks (a ``params`` key of one network only) is
    ``(not set)``."""
    value = fields.get(key, _ABSENT)
    if value is not _ABSENT:
        return json.dumps(value)
    if dotted in LEFT_OUT_DEFAULTS:
        return f"{json.dumps(LEFT_OUT_DEFAULTS[dotted])} (the default)"
    return "(not set)"


def _spec_differences(saved: dict[str, Any], now: dict[str, Any], prefix: str = "") -> str:
    """The fields of two specs (as JSON objects) that differ, dotted, with both values: ``params.encoder_width 4 in
    it, 8 in this run``; a field one side leaves out is named by its default or ``(not set)`` (:func:`_spec_value`);
    ``training_focal`` left out: a run saved before it resumes."""
    parts = []
    for key in sorted(set(saved) | set(now)):
        dotted = f"{prefix}{key}"
        # a left-out field is its default, as its JSON would hold it (() -> []); another absent key is absent, not
        # null: a params key null on one side only (an HF config.json's) is a difference
        default = json.loads(json.dumps(LEFT_OUT_DEFAULTS[dotted])) if dotted in LEFT_OUT_DEFAULTS else _ABSENT
        a, b = saved.get(key, default), now.get(key, default)
        if (key == "training_focal" and not prefix) or a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            parts.append(_spec_differences(a, b, f"{dotted}."))
        else:
            parts.append(
                f"{dotted} {_spec_value(saved, key, dotted)} in it, {_spec_value(now, key, dotted)} in this run"
            )
    return ", ".join(parts)


def _written_config(model_path: Path, objective: str | None) -> str:
    """`` (--config <run>/config.yaml)`` / `` (--student <run>/distill_config.yaml)`` for a distillation's checkpoint
    (``objective`` "distill" in its metadata): the configuration the run wrote beside ``checkpoints/``, and the option
    that reads it; empty when the file is not there."""
    name, option = (DISTILL_CONFIG_NAME, "--student") if objective == "distill" else (TRAIN_CONFIG_NAME, "--config")
    config = model_path.parent.parent / name
    return f" ({option} {config})" if config.is_file() else ""


def load_training_checkpoint(
    model_path: str | Path,
    model: nn.Module,
    spec: ModelSpec,
    scale_free_silog: bool = False,
    metric_sources: str = "",
) -> TrainState:
    """Load weights into ``model`` (refusing a checkpoint of another spec) and return the training state.

    ``scale_free_silog``: this run trains with a fully scale-invariant SILog (``loss.silog_lambda`` 1), whose spec is
    ``depth_up_to_scale``; a checkpoint of it that declares ``metric`` (written before that was recognised, the
    same network) is taken, with a warning, and saved from there on as depth up to scale. ``metric_sources``
    (:attr:`.config.TrainConfig.metric_sources`): what makes this self-supervised run metric (a stereo baseline,
    true poses); a checkpoint of it that declares ``depth_up_to_scale`` (written before that was recognised) is
    taken the same way and saved from there on as metric.

    Raises:
        CheckpointError: missing files, another architecture / parameters, or a state file that does not load.
    """
    model_path = Path(model_path)
    try:
        loaded = load_checkpoint(model_path)
    except CheckpointError as err:  # cut short or damaged: a run's way on is its checkpoint before, not a download
        text = str(err)
        if not text.endswith(REDO):
            raise
        msg = f"cannot resume: {text.removesuffix(REDO)}cut short or damaged; {earlier_checkpoint_remedy(model_path)}"
        raise CheckpointError(msg) from None
    saved_kind = loaded.spec.output_kind
    relabel = scale_free_silog and (saved_kind, spec.output_kind) == (OutputKind.METRIC, OutputKind.DEPTH_UP_TO_SCALE)
    to_metric = bool(metric_sources) and (saved_kind, spec.output_kind) == (
        OutputKind.DEPTH_UP_TO_SCALE,
        OutputKind.METRIC,
    )
    relabel = relabel or to_metric
    as_now = replace(loaded.spec, output_kind=spec.output_kind) if relabel else loaded.spec
    if replace(as_now, training_focal=spec.training_focal) != spec:  # a run saved before training_focal resumes
        differ = _spec_differences(json.loads(as_now.to_json()), json.loads(spec.to_json()))
        msg = (
            f"cannot resume from {model_path}: its model spec differs from this run's: {differ}; resume with the "
            f"configuration it was trained with{_written_config(model_path, loaded.metadata.get('objective'))}"
        )
        raise CheckpointError(msg)
    if to_metric:
        _LOG.warning(
            "%s declares depth_up_to_scale, but this self-supervised run is metric through %s: resumed, and saved "
            "from here on as %s (evaluated and published in metres, no scale source needed)",
            model_path,
            metric_sources,
            OutputKind.METRIC.value,
        )
    elif relabel:
        _LOG.warning(
            "%s declares metric depth, but loss.silog_lambda 1 (fully scale-invariant SILog) learns depth at an "
            "arbitrary scale: resumed, and saved from here on as %s (the node recovers the scale)",
            model_path,
            OutputKind.DEPTH_UP_TO_SCALE.value,
        )
    load_state_strict(model, loaded.state_dict, spec)
    state_path = model_path.with_suffix(".state.pt")
    if is_torchscript_archive(state_path):  # torch.load < 2.6 would run its code despite weights_only
        msg = (
            f"{state_path} is a TorchScript archive, not a training state written by mono-depth train (loading it "
            f"could run its code); delete the pair {model_path.name} / {state_path.name} to resume from the "
            f"checkpoint before it, or start the run again"
        )
        raise CheckpointError(msg)
    try:
        raw = torch.load(state_path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        msg = (
            f"cannot read training state {state_path}: there is none; resume needs the .state.pt next to the model file"
        )
        raise CheckpointError(msg) from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        msg = (
            f"cannot read training state {state_path} ({first_line(err).split('. ')[0][:120]}): cut short or damaged; "
            f"{earlier_checkpoint_remedy(model_path)}"
        )
        raise CheckpointError(msg) from None
    check_state_layout(state_path, raw)
    return TrainState(
        raw["step"],
        raw["modules"],
        raw["optimizer"],
        raw["scheduler"],
        raw["scaler"],
        raw["rng"],
        raw["config"],
        raw.get("log_window"),  # absent from a state written before it was saved
    )


def check_state_layout(state_path: Path, raw: object) -> None:
    """Check that a loaded ``.state.pt`` is one this version restores: format :data:`STATE_FORMAT` with every key
    (a newer version's, or another tool's dict, raised KeyError out of the resume).

    Raises:
        CheckpointError: naming the file, its format or the first key it lacks, and the remedy.
    """
    problem = ""
    if not isinstance(raw, dict):
        problem = f"holds a {type(raw).__name__}, not a training state"
    elif raw.get("format", STATE_FORMAT) != STATE_FORMAT:
        problem = f"is training-state format {str(raw['format'])[:20]}, this version reads format {STATE_FORMAT}"
    else:
        missing = [key for key in _STATE_KEYS if key not in raw]
        rng = raw.get("rng")
        missing += [
            f"rng.{key}" for key in _RNG_KEYS if rng is not None and (not isinstance(rng, dict) or key not in rng)
        ]
        problem = f"lacks {missing[0]!r}" if missing else ""
    if problem:
        model_path = state_path.with_suffix("").with_suffix(".safetensors")
        msg = (
            f"cannot resume from {state_path}: it {problem} (written by another version?); resume with the version "
            f"that wrote it, or {earlier_checkpoint_remedy(model_path)}"
        )
        raise CheckpointError(msg)


def earlier_checkpoint_remedy(model_path: Path) -> str:
    """The way on from a checkpoint pair that cannot be resumed: the one before it."""
    state_path = model_path.with_suffix(".state.pt")
    return (
        f"resume from an earlier checkpoint (--resume FILE; delete the pair {model_path.name} / {state_path.name} "
        f"and --resume auto takes the one before), or start the run again"
    )
