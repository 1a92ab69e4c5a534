"""Stopping a long run cleanly from outside: SIGINT (Ctrl-C) and SIGTERM (`kill`) both end the loop at the
current step, after which the run saves its checkpoint and weights as on a normal finish.

Why: runs are started in the background (`nohup ... &`), where the shell sets SIGINT to be ignored, and
a plain `kill` would otherwise drop every step since the last periodic checkpoint. A signal sent to the
whole process group (`kill -- -PGID`, a job manager stopping the run) also reaches the data workers: they
exit quietly (`exit_quietly_on_sigterm`) so that the DataLoader does not report a crash before the main
process has saved.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable


def _raise_interrupt(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def catch_stop_signals() -> Callable[[], None]:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt (the training loop's `except` ends it cleanly);
    returns the function that puts the previous handlers back. A no-op off the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    saved = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for s, handler in saved.items():
            signal.signal(s, handler)

    return restore


def exit_quietly_on_sigterm(worker_id: int = 0) -> None:  # noqa: ARG001 - DataLoader worker_init_fn
    """DataLoader `worker_init_fn`: on SIGTERM a data worker exits with status 0 instead of dying by the
    signal, which the DataLoader reports as a crash (measured: a group `kill` lost the steps since the last
    checkpoint). The worker holds nothing to flush; Ctrl-C (SIGINT) already ends workers quietly."""
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))
