"""Stopping a long run cleanly from outside: SIGINT (Ctrl-C) and SIGTERM (`kill`) both end the loop at the
current step, after which the run saves its checkpoint and weights as on a normal finish.

Why: runs are started in the background (`nohup ... &`), where the shell sets SIGINT to be ignored, and
a plain `kill` would otherwise drop every step since the last periodic checkpoint.
"""

from __future__ import annotations

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
