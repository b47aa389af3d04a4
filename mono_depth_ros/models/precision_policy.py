"""``model.precision: auto``: the fastest precision the golden self-test vouches for on this device.

On a CUDA device with a torch-native backend (torch modules, TorchScript), fp16 autocast with CUDA-graph replay is
tried first and kept when the golden self-test passes at fp16's tolerance (:data:`.golden.DEFAULT_TOLERANCE`);
otherwise, and everywhere else, the model runs in fp32 eager mode. Each outcome carries the reason, which the engine
logs. The choice is a pure function of the device type, the backend's capability and a trial callable, so that the
decision is tested without a GPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

AUTO = "auto"

Trial = Callable[[str, bool], tuple[bool, str]]
"""``(precision, cuda_graphs) -> (passed, description)``: run the golden self-test in that configuration."""


@dataclass(frozen=True)
class PrecisionChoice:
    """What the engine runs: ``precision`` (fp32 | fp16 | bf16), whether to replay CUDA graphs, and why;
    ``fell_back``: the fp16 trial failed (worth a warning)."""

    precision: str
    cuda_graphs: bool
    reason: str
    fell_back: bool = False


def choose_precision(
    requested: str,
    cuda_graphs: bool,
    device_type: str,
    torch_native: bool,
    golden_check: str,
    trial: Trial,
) -> PrecisionChoice:
    """Resolve ``model.precision`` / ``model.cuda_graphs`` for a device and backend.

    Args:
        requested: ``model.precision`` (``auto``, or an explicit precision, returned as asked).
        cuda_graphs: ``model.cuda_graphs`` (under ``auto``: the fallback's setting; the fp16 trial uses graphs).
        device_type: the model's ``torch.device.type`` (``cuda``, ``cpu``, ...).
        torch_native: whether the backend runs torch kernels (autocast and graph capture apply).
        golden_check: ``off`` leaves nothing to vouch for fp16: fp32.
        trial: runs the golden self-test at a precision; an exception it raises counts as a failed trial.

    Returns:
        The :class:`PrecisionChoice`; under ``auto`` fp16 + CUDA graphs only when the trial passed.
    """
    if requested != AUTO:
        return PrecisionChoice(requested, cuda_graphs, f"precision {requested} asked for")
    if device_type != "cuda":
        return PrecisionChoice("fp32", cuda_graphs, f"auto on {device_type}: fp32 (fp16 needs a CUDA device)")
    if not torch_native:
        return PrecisionChoice("fp32", cuda_graphs, "auto: fp32, the model runs in the precision it was exported in")
    if golden_check == "off":
        return PrecisionChoice(
            "fp32", cuda_graphs, "auto: fp32, golden_check off leaves no self-test to vouch for fp16"
        )
    try:
        passed, description = trial("fp16", True)
    except Exception as err:  # a capture or kernel failure of the faster path: run the model as it was trained
        passed, description = False, f"the fp16 / CUDA-graph trial failed: {type(err).__name__}: {err}"
    if passed:
        return PrecisionChoice("fp16", True, f"auto: fp16 + CUDA graphs, the self-test passed ({description})")
    reason = f"auto: fp32, fp16 did not pass the self-test ({description})"
    return PrecisionChoice("fp32", cuda_graphs, reason, fell_back=True)
