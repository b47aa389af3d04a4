"""Script that ``torchrun`` starts in every process of the multi-process tests (not a test module).

``torchrun ... torchrun_entry.py CHECKSUM_DIR mono-depth-args...``: runs ``mono_depth_ros.cli.main`` with the
arguments, ``{rank}`` in them replaced by this process's ``RANK`` (so each rank can be given its own output folder),
and after training writes ``CHECKSUM_DIR/rank<RANK>.json``: the SHA-256 of every trained parameter's bytes and the
number of steps, taken from the trainer (:class:`Trainer` or :class:`DistillTrainer`) by wrapping its ``fit``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import torch


def parameter_digest(named: list[tuple[str, torch.Tensor]]) -> str:
    """SHA-256 over names and float32 bytes of parameters (in the given order)."""
    digest = hashlib.sha256()
    for name, tensor in named:
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def main() -> int:
    checksum_dir, argv = Path(sys.argv[1]), sys.argv[2:]
    rank = os.environ["RANK"]
    torch.set_num_threads(1)

    from mono_depth_ros.cli import main as cli_main
    from mono_depth_ros.training.distillation.trainer import DistillTrainer
    from mono_depth_ros.training.trainer.loop import Trainer

    def record(named: list[tuple[str, torch.Tensor]], step: int) -> None:
        checksum_dir.mkdir(parents=True, exist_ok=True)
        payload = {"rank": int(rank), "world_size": int(os.environ["WORLD_SIZE"]), "step": step}
        payload["sha256"] = parameter_digest(named)
        (checksum_dir / f"rank{rank}.json").write_text(json.dumps(payload))

    train_fit, distill_fit = Trainer.fit, DistillTrainer.fit

    def fit_train(self: Trainer, *args: Any, **kwargs: Any) -> Any:
        result = train_fit(self, *args, **kwargs)
        record(list(self.module.named_parameters()), self.step)
        return result

    def fit_distill(self: DistillTrainer, *args: Any, **kwargs: Any) -> Any:
        result = distill_fit(self, *args, **kwargs)
        projection = list(self.projection.named_parameters()) if self.projection is not None else []
        record(list(self.student.named_parameters()) + projection, self.step)
        return result

    Trainer.fit = fit_train  # type: ignore[method-assign]
    DistillTrainer.fit = fit_distill  # type: ignore[method-assign]
    return cli_main([arg.replace("{rank}", rank) for arg in argv])


if __name__ == "__main__":
    sys.exit(main())
