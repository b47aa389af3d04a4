"""adapters.malloc_policy: a frame's freed working set stays for the next frame (no fresh pages every frame)."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A worker thread running a small convolution stack at the shipped model's input size (torch's CPU allocator takes
# the activations from malloc), as the node's worker runs the network frame after frame; prints the thread's minor
# page faults over the last 8 of 10 frames and the bytes of the last output, with glibc's own thresholds, then again
# after keep_freed_memory().
FRAMES = """
import resource, threading
import torch
from mono_depth_ros.adapters.malloc_policy import keep_freed_memory
torch.set_num_threads(1)
conv = lambda c_in, c_out: torch.nn.Conv2d(c_in, c_out, 3, padding=1)
net = torch.nn.Sequential(conv(3, 32), torch.nn.ELU(), conv(32, 32), torch.nn.ELU(), conv(32, 1)).eval()
image = torch.rand(1, 3, 96, 320)
def frames():
    with torch.inference_mode():
        for index in range(10):
            if index == 2:
                start = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
            out = net(image)
    print(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - start, out.numpy().tobytes().hex())
for policy in ("glibc's", "kept"):
    if policy == "kept":
        assert keep_freed_memory() and keep_freed_memory()
    thread = threading.Thread(target=frames)
    thread.start()
    thread.join()
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt thresholds are glibc's")
def test_a_frames_freed_buffers_are_not_faulted_in_again_every_frame_and_the_output_is_the_same() -> None:
    activations_pages = 32 * 96 * 320 * 4 // 4096  # one 32-channel float32 activation: 960 pages
    result = subprocess.run([sys.executable, "-c", FRAMES], cwd=REPO, capture_output=True, text=True, check=True)
    (default, default_out), (kept, kept_out) = (line.split() for line in result.stdout.splitlines())
    assert int(default) > 8 * 2 * activations_pages, default  # glibc's own thresholds: faulted in again every frame
    assert int(kept) < int(default) / 10, (kept, default)
    assert kept_out == default_out  # bit for bit


def test_building_a_pipeline_keeps_freed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node and the bag runner build their pipeline with adapters.model.build_pipeline: the policy comes with it."""
    from mono_depth_ros.adapters import model

    calls: list[bool] = []
    monkeypatch.setattr(model, "keep_freed_memory", lambda: calls.append(True) or True)
    pipeline = model.build_pipeline({"model.backend": "external"}, lambda text: None)
    assert calls == [True] and pipeline.config.model.backend == "external"
