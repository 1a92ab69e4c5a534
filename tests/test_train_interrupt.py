"""Long runs stop cleanly on Ctrl-C or kill, even when started in the background (SIGINT ignored)."""

import os
import signal
import threading

import pytest

from spikesci.train.interrupt import catch_stop_signals


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals: main thread")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signals_raise_keyboard_interrupt_then_handlers_come_back(sig):
    before = signal.getsignal(sig)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as for a job started with `&` by a script
    try:
        restore = catch_stop_signals()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig)  # the handler runs at the next bytecode
        restore()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(sig, before)
