"""Training logs: CSV files (always), TensorBoard events (when installed), a progress bar (when tqdm is installed).

Only rank 0 logs. ``train.csv`` has one row per ``log_every`` steps (step, epoch, lr, loss parts, images/s);
``val.csv`` one row per validation (step, epoch and the standard metrics). Appending keeps earlier rows, so a
resumed run continues the same files; the rows past the step it resumes from (logged before a kill, which the run
now repeats) and a row a kill cut short are removed first, so each step has one row. A row averages the steps since
the row before (:class:`LossWindow`); a checkpoint saves the steps not yet in a row, so the first row after a resume
averages the same steps as the run that never stopped (a row written at a stop off the ``log_every`` grid is then
removed: the resumed run writes those steps into its next row).
"""

from __future__ import annotations

import csv
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # the CSV logger imports without torch (scripts/jazzy_python_tier.sh runs its tests on Jazzy)
    from mono_depth_ros.training.trainer.distributed import DistContext

_LOG = logging.getLogger(__name__)


class _CsvFile:
    """Append rows to a CSV file, writing the header when the file is new (columns fixed by the first row)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] | None = None
        if path.is_file():
            with path.open(newline="") as handle:
                self.columns = next(csv.reader(handle), None)

    def drop_rows_from(self, first_step: int) -> None:
        """Remove the rows whose ``step`` (first column) is ``first_step`` or later, and a last line without its end
        (cut by a kill); the file is replaced at once (a kill now leaves the old or the new file)."""
        if self.columns is None:
            return
        text = self.path.read_text()
        complete = text[: text.rfind("\n") + 1]
        lines = complete.splitlines(keepends=True)
        kept = lines[:1] + [line for line in lines[1:] if _step_of(line) < first_step]
        if "".join(kept) != text:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(kept))
            tmp.replace(self.path)

    def write(self, row: dict[str, float | int | str]) -> None:
        new = self.columns is None
        if self.columns is None:
            self.columns = list(row)
        with self.path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


def _step_of(line: str) -> float:
    """The step (first column) of a CSV row; +inf when it is not an integer (a damaged row: dropped)."""
    first = line.split(",", 1)[0].strip()
    return int(first) if first.isdigit() else math.inf


@dataclass
class LossWindow:
    """The steps since the last ``train.csv`` row: each one's loss and loss parts, which the next row averages.

    Attributes:
        losses: each step's total loss (this process's; restored from a checkpoint: the mean over the processes).
        parts: each step's loss parts by name (rank 0's, which logs them).
        here: steps added by this process since :meth:`start` (the throughput counts only those).
        started: ``time.perf_counter()`` at :meth:`start` or the last :meth:`clear`, in seconds.
    """

    losses: list[float] = field(default_factory=list)
    parts: list[dict[str, float]] = field(default_factory=list)
    here: int = 0
    started: float = field(default_factory=time.perf_counter)

    def __len__(self) -> int:
        return len(self.losses)

    def start(self) -> None:
        """Start timing this process's steps (the steps already in the window stay: a resumed row averages them)."""
        self.here, self.started = 0, time.perf_counter()

    def add(self, loss: float, parts: dict[str, float]) -> None:
        """One step's total loss and parts."""
        self.losses.append(loss)
        self.parts.append(parts)
        self.here += 1

    def clear(self) -> None:
        """Empty the window after its row (and restart the timing)."""
        self.losses, self.parts = [], []
        self.start()

    def images_per_s(self, images_per_step: int) -> float:
        """Throughput of this process's steps in the window (``images_per_step``: over all processes)."""
        return self.here * images_per_step / max(time.perf_counter() - self.started, 1e-9)

    def means(self, context: DistContext) -> tuple[float, dict[str, float]]:
        """(the mean loss over the window's steps and all processes, rank 0's mean of each part of the last step over
        the steps that have it: a run resumed with a term now on, e.g. distill's ``lidar``) for the row. Every process
        calls it (an all-reduce)."""
        from mono_depth_ros.training.trainer.distributed import mean_across  # torch: a training process has it

        loss = mean_across(float(np.mean(self.losses)), context)
        return loss, {name: float(np.mean([p[name] for p in self.parts if name in p])) for name in self.parts[-1]}

    def saved(self, context: DistContext) -> dict[str, Any]:
        """The window as a checkpoint's training state keeps it: each step's loss averaged over the processes (every
        process calls it: an all-reduce) and the parts. Restored on every process, the resumed row's mean over the
        processes is the uninterrupted run's (bit for bit in a single process)."""
        from mono_depth_ros.training.trainer.distributed import means_across  # torch: a training process has it

        return {"losses": means_across(self.losses, context), "parts": [dict(p) for p in self.parts]}

    @classmethod
    def restored(cls, saved: object) -> LossWindow:
        """The window of :meth:`saved`; an empty one for a state written before it was saved (None) or one that is not
        its layout (logged: the first row then averages the steps since the resume only)."""
        if saved is None:
            return cls()
        losses = saved.get("losses") if isinstance(saved, dict) else None
        parts = saved.get("parts") if isinstance(saved, dict) else None
        if (
            isinstance(losses, list)
            and isinstance(parts, list)
            and len(losses) == len(parts)
            and all(isinstance(value, float) for value in losses)
            and all(isinstance(p, dict) and all(isinstance(v, float) for v in p.values()) for p in parts)
        ):
            return cls(list(losses), [dict(p) for p in parts])
        _LOG.warning(
            "the training state's log_window is not a list of losses and parts: the first train.csv row after the "
            "resume averages the steps since the resume only"
        )
        return cls()


class RunLogSettings(Protocol):
    """What a run's ``run`` section tells its logger (:class:`~.config.RunConfig`,
    :class:`~mono_depth_ros.training.distillation.config.DistillRunConfig`)."""

    @property
    def steps(self) -> int:
        """Optimiser steps of the whole run (the progress bar's range)."""
        ...

    @property
    def progress(self) -> bool:
        """Show a progress bar."""
        ...

    @property
    def tensorboard(self) -> bool:
        """Write TensorBoard events."""
        ...


class TrainLogger:
    """CSV + TensorBoard + progress bar for one run (every method is a no-op when ``enabled`` is False).

    Args:
        out_dir: run folder (created).
        enabled: False on ranks other than 0.
        total_steps, initial_step: progress-bar range; the logs' rows past ``initial_step`` are removed.
        progress: show a progress bar (tqdm on stderr).
        tensorboard: write TensorBoard events to ``out_dir/tb``.
        revalidate: the run validates ``initial_step`` again (its val.csv row, if any, is removed too).
        pending: steps up to ``initial_step`` not yet averaged into a row (a resumed :class:`LossWindow`): train.csv's
            rows from the first of them on (a row written at a stop off the ``log_every`` grid) are removed too.
    """

    def __init__(
        self,
        out_dir: Path,
        enabled: bool,
        total_steps: int,
        initial_step: int,
        progress: bool,
        tensorboard: bool,
        revalidate: bool = False,
        pending: int = 0,
    ) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._writer: Any = None
        if not enabled:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self._train = _CsvFile(out_dir / "train.csv")
        self._val = _CsvFile(out_dir / "val.csv")
        self._train.drop_rows_from(initial_step - pending + 1)
        self._val.drop_rows_from(initial_step if revalidate else initial_step + 1)
        if progress:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total_steps, initial=initial_step, unit="step", dynamic_ncols=True)
            except ImportError:
                _LOG.info("tqdm is not installed: no progress bar")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(out_dir / "tb"))
            except ImportError:
                _LOG.info("tensorboard is not installed: CSV logs only")

    @classmethod
    def for_run(
        cls, out_dir: Path, enabled: bool, run: RunLogSettings, step: int, pending: int, revalidate: bool = False
    ) -> TrainLogger:
        """The logger of a training or distillation loop resuming at ``step`` of ``run`` (its ``steps``,
        ``progress``, ``tensorboard``); the other arguments as the class's."""
        return cls(out_dir, enabled, run.steps, step, run.progress, run.tensorboard, revalidate, pending=pending)

    def step(self, loss: float, images_per_s: float) -> None:
        """Advance the progress bar by one step, showing the loss and throughput."""
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{images_per_s:.1f}", refresh=False)

    def train_row(self, step: int, row: dict[str, float]) -> None:
        """Append a training row (``step`` first) to train.csv and TensorBoard ``train/<name>``."""
        if not self.enabled:
            return
        self._train.write({"step": step, **row})
        if self._writer is not None:
            for name, value in row.items():
                self._writer.add_scalar(f"train/{name}", value, step)

    def val_row(self, step: int, row: dict[str, float]) -> None:
        """Append a validation row to val.csv and TensorBoard ``val/<name>``."""
        if not self.enabled:
            return
        self._val.write({"step": step, **row})
        if self._writer is not None:
            for name, value in row.items():
                self._writer.add_scalar(f"val/{name}", value, step)
        if self._bar is not None:
            self._bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()))

    def close(self) -> None:
        """Close the progress bar and flush TensorBoard."""
        if self._bar is not None:
            self._bar.close()
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> TrainLogger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
