"""SIGINT / SIGTERM held while native code that clears Python errors runs, then raised."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

# A stand-in for OpenCV's module init: the Ctrl-C arrives while it runs and its native code clears the Python
# error (PyErr_Clear), here a bare except. Seen on real Humble: `ros2 run mono_depth_ros mono_depth_node` given a
# Ctrl-C 0.83-0.97 s after the node started (in `import cv2`, core/cloud.py) ignored it and started the node.
SWALLOWING_CV2 = """
import os, signal, time
try:
    os.kill(os.getpid(), signal.{sig})
    for _ in range(50):
        time.sleep(0.01)
except BaseException:
    pass
"""


def _run(code: str, tmp_path: Path, sig: str = "SIGINT") -> subprocess.CompletedProcess[str]:
    (tmp_path / "cv2.py").write_text(SWALLOWING_CV2.format(sig=sig))
    env = {"PYTHONPATH": f"{tmp_path}:{REPO_ROOT}", "PATH": "/usr/bin:/bin"}
    # the dispositions a process started from a terminal has (a test before may have left SIGINT ignored here, which
    # the child would inherit: an ignored signal is rightly still ignored after the block)
    reset = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    reset += "signal.signal(signal.SIGTERM, signal.SIG_DFL)\n"
    return subprocess.run(
        [sys.executable, "-c", reset + code], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def test_a_ctrl_c_while_cv2_loads_is_raised_after_the_import_not_lost(tmp_path: Path) -> None:
    done = _run("import mono_depth_ros.core.cloud as c; print('imported', c._CV2 is not None)", tmp_path)
    assert "imported" not in done.stdout, done.stdout  # was: imported True, the Ctrl-C gone
    assert "KeyboardInterrupt" in done.stderr, done.stderr


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signals_deferred_holds_the_signal_and_raises_it_once_after_the_block(tmp_path: Path, sig: str) -> None:
    code = (
        "import signal\n"
        "from mono_depth_ros.core.deferred_signals import signals_deferred\n"
        "with signals_deferred():\n"
        "    import cv2\n"
        "print('after the block')\n"
    )
    done = _run(code, tmp_path, sig)
    assert "after the block" not in done.stdout
    if sig == "SIGINT":
        assert "KeyboardInterrupt" in done.stderr, done.stderr
    else:
        assert done.returncode == -15, (done.returncode, done.stderr)  # the default action: terminated


def test_signals_deferred_changes_nothing_without_a_signal_and_restores_the_handlers() -> None:
    import signal

    from mono_depth_ros.core.deferred_signals import signals_deferred

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with signals_deferred():
        value = 42
    assert value == 42
    assert {s: signal.getsignal(s) for s in before} == before


def test_signals_deferred_keeps_a_handler_installed_from_c(tmp_path: Path) -> None:
    # rclpy.init installs its SIGINT / SIGTERM handlers from C (sigaction), which Python's signal.getsignal does not
    # see; signals_deferred put back Python's record (SIG_DFL) with signal.signal, removing rclpy's handler: a
    # program that imported mono_depth_ros.core.cloud (the node, the pipeline) after rclpy.init died of the next
    # SIGTERM without its clean-up (real Humble: rc 143, "spin ended by ExternalShutdownException" without it).
    # Here libc's signal() stands for rclpy's C handler: SIG_IGN, which Python's record does not show
    code = (
        "import ctypes, os, signal\n"
        "from mono_depth_ros.core.deferred_signals import signals_deferred\n"
        "ctypes.CDLL(None).signal(int(signal.SIGTERM), ctypes.c_void_p(1))  # SIG_IGN, set from C\n"
        "with signals_deferred():\n"
        "    pass\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "print('the handler from C still handles SIGTERM')\n"
    )
    done = _run(code, tmp_path, "SIGTERM")
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert "the handler from C still handles SIGTERM" in done.stdout


def test_signals_deferred_puts_back_a_c_handlers_flags_and_mask(tmp_path: Path) -> None:
    # The saved struct sigaction (glibc x86_64 / aarch64: handler, sa_mask 128 bytes, int sa_flags, sa_restorer) is
    # put back whole: handler, flags and blocked mask as libc reads them before and after the block
    code = (
        "import ctypes, signal\n"
        "from mono_depth_ros.core.deferred_signals import signals_deferred\n"
        "class Act(ctypes.Structure):\n"
        "    _fields_ = [('handler', ctypes.c_void_p), ('mask', ctypes.c_ulong * 16), ('flags', ctypes.c_int),\n"
        "                ('restorer', ctypes.c_void_p)]\n"
        "libc = ctypes.CDLL(None)\n"
        "def read():\n"
        "    act = Act()\n"
        "    assert libc.sigaction(int(signal.SIGTERM), None, ctypes.byref(act)) == 0\n"
        "    return act.handler, act.mask[0], act.flags & ~0x04000000  # the kernel's 64 signals; SA_RESTORER: libc's\n"
        "act = Act(handler=1, flags=0x10000000 | 0x40000000 | 0x08000000)  # SIG_IGN; SA_RESTART, SA_NODEFER, ONSTACK\n"
        "act.mask[0] = (1 << (int(signal.SIGUSR1) - 1)) | (1 << (int(signal.SIGHUP) - 1))\n"
        "assert libc.sigaction(int(signal.SIGTERM), ctypes.byref(act), None) == 0\n"
        "before = read()\n"
        "assert before == (1, act.mask[0], 0x10000000 | 0x40000000 | 0x08000000), before\n"
        "with signals_deferred():\n"
        "    assert read()[0] != 1  # the block's holding handler\n"
        "after = read()\n"
        "print('same' if after == before else f'differs: {before} {after}')\n"
    )
    done = _run(code, tmp_path, "SIGTERM")
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.strip() == "same", done.stdout
