"""Turn a trained checkpoint into the shipped default model (mono_depth_ros/assets/default_model.safetensors).

The weights are stored as fp16 (half the size; the loader casts them back to fp32), the golden reference is
recomputed from the fp16-rounded weights (in fp32), and the training config travels in the metadata so that
``mono-depth train --config config/train_demo.yaml`` can be checked against it. Usage::

    python scripts/ship_default_model.py runs/train_demo/model.safetensors --config config/train_demo.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from mono_depth_ros.models.backend import TorchBackend
from mono_depth_ros.models.checkpoint import load_checkpoint, load_state_strict, save_checkpoint
from mono_depth_ros.models.inference import make_golden
from mono_depth_ros.models.registry import build_model

ASSETS = Path(__file__).resolve().parents[1] / "mono_depth_ros" / "assets"


def ship(checkpoint: Path, config: Path, out: Path, accuracy: str) -> Path:
    """Write the fp16 default model; returns its path."""
    loaded = load_checkpoint(checkpoint)
    half_state = {
        name: t.to(torch.float16) if t.is_floating_point() else t for name, t in loaded.state_dict.items()
    }  # BatchNorm counters stay integer
    network = build_model(loaded.spec)
    load_state_strict(
        network, {n: t.float() if t.is_floating_point() else t for n, t in half_state.items()}, loaded.spec
    )
    golden = make_golden(TorchBackend(network, loaded.spec, torch.device("cpu")))
    metadata = {
        **{k: v for k, v in loaded.metadata.items() if k != "mono_depth_spec"},
        "training_config": config.read_text(),
        "trained_from": checkpoint.name,
        "weights_dtype": "float16",
        "held_out_accuracy": accuracy,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(out, half_state, loaded.spec, metadata, (golden.image_rgb, golden.output))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--config", type=Path, required=True, help="the training config that produced it")
    parser.add_argument("--out", type=Path, default=ASSETS / "default_model.safetensors")
    parser.add_argument("--accuracy", default="", help="held-out accuracy line to store in the metadata")
    args = parser.parse_args()
    path = ship(args.checkpoint, args.config, args.out, args.accuracy)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
