"""SIGINT / SIGTERM as a flag."""

from __future__ import annotations

from mono_depth_ros.adapters.signals import StopSignals

MS = 1_000_000


def test_stop_signals_set_a_flag_instead_of_raising() -> None:
    import os
    import signal as signal_module

    previous = {s: signal_module.getsignal(s) for s in (signal_module.SIGINT, signal_module.SIGTERM)}
    try:
        stop = StopSignals.install()
        assert not stop.received
        os.kill(os.getpid(), signal_module.SIGTERM)  # would end the process with the default handler
        for _ in range(100):
            if stop.received:
                break
        assert stop.received
        os.kill(os.getpid(), signal_module.SIGINT)  # no KeyboardInterrupt
        stop.ignore_further()
        assert signal_module.getsignal(signal_module.SIGINT) == signal_module.SIG_IGN
    finally:
        for signum, handler in previous.items():
            signal_module.signal(signum, handler)
