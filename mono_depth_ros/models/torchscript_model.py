"""TorchScript backend: a traced ``.pt`` model with its ModelSpec beside it (see :mod:`.sidecar`).

TorchScript is deprecated upstream in favour of ``torch.export``, but it is still what C++ / older deployments load
(libtorch, Torch-TensorRT), so the project exports and reads it. A traced model runs under ``torch.autocast`` like an
eager one. The archive holds TorchScript code and tensors, never Python pickles of arbitrary objects; the spec is
also embedded as the extra file ``mono_depth_spec.json``.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import torch
from torch import Tensor

from mono_depth_ros.core.errors import CheckpointError, ShapeError
from mono_depth_ros.models.checkpoint import GoldenReference
from mono_depth_ros.models.sidecar import EMBEDDED_SPEC_KEY, read_golden, read_spec
from mono_depth_ros.models.spec import ModelSpec

EMBEDDED_SPEC_FILE = EMBEDDED_SPEC_KEY + ".json"


class TorchScriptBackend:
    """A TorchScript module on a device.

    Args:
        path: the ``.pt`` file written by :func:`~mono_depth_ros.models.export.export_torchscript`.
        device: where it runs.

    Raises:
        CheckpointError: missing file, not a TorchScript archive (e.g. a safetensors or pickle file), no spec, or a
            spec for another backend.
    """

    name = "torchscript"
    torch_native = True
    fixed_input_hw: tuple[int, int] | None = None

    def __init__(self, path: str | Path, device: torch.device) -> None:
        self.path = Path(path)
        self.device = device
        if not self.path.is_file():
            msg = f"TorchScript model {self.path} does not exist; export one with `mono-depth export -f torchscript`"
            raise CheckpointError(msg)
        if not zipfile.is_zipfile(self.path):
            msg = f"{self.path} is not a TorchScript archive (not a zip); pass the .pt written by mono-depth export"
            raise CheckpointError(msg)
        extra = {EMBEDDED_SPEC_FILE: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.module = torch.jit.load(  # type: ignore[no-untyped-call]
                    str(self.path), map_location=device, _extra_files=extra
                )
        except (RuntimeError, ValueError, OSError) as err:
            msg = f"torch.jit.load cannot read {self.path} ({str(err).splitlines()[0]}); re-export the model"
            raise CheckpointError(msg) from None
        self.module.eval()
        raw = extra.get(EMBEDDED_SPEC_FILE) or b""
        embedded = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        self.spec: ModelSpec = read_spec(self.path, "torchscript", embedded or None)
        self.golden: GoldenReference | None = read_golden(self.path)

    def infer(self, batch: Tensor) -> Tensor:
        """(B, 3, h, w) float32 normalised RGB -> (B, 1, h, w) prediction on ``self.device``.

        Raises:
            ShapeError: the module returned something other than a (B, 1, H, W) tensor.
        """
        with torch.no_grad():
            out = self.module(batch)
        if not isinstance(out, Tensor) or out.ndim != 4 or out.shape[1] != 1:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            msg = f"TorchScript model {self.path.name} returned {shape}; expected a (B, 1, H, W) tensor"
            raise ShapeError(msg)
        return out
