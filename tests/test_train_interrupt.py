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


def _worker(ready, quiet: bool) -> None:
    from spikesci.train.interrupt import exit_quietly_on_sigterm

    if quiet:
        exit_quietly_on_sigterm(0)
    ready.set()
    threading.Event().wait(30)


@pytest.mark.parametrize("quiet", [True, False])
def test_data_workers_stopped_with_their_group_exit_quietly(quiet):
    """A group `kill` reaches the data workers too: with the worker_init_fn they exit 0, which the DataLoader
    does not report as a crash (without it: killed by the signal, -15, and the run did not save)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_worker, args=(ready, quiet))
    proc.start()
    assert ready.wait(20)
    os.kill(proc.pid, signal.SIGTERM)
    proc.join(20)
    assert proc.exitcode == (0 if quiet else -signal.SIGTERM)
