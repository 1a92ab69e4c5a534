"""Chunks are independent, so they can be coded on several cores; results come back in order.

A bounded number of chunks is in flight at a time, so a long recording still streams in bounded
memory. Workers are forked processes (numpy and the range coder hold the GIL too often for threads).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from spikesci.errors import ConfigError


def default_workers() -> int:
    """Two cores (the machine this targets), fewer when fewer are available."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        available = os.cpu_count() or 1
    return max(1, min(2, available))


PARALLEL_MIN_PIXELS = 1 << 23  # below ~8 M spike-pixels forking costs more than a second core saves


def pick_workers(workers: int | None, pixels: int) -> int:
    """Processes to use for `pixels` of work: `workers` if given, else 2 cores for large work only."""
    if workers is not None:
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        return workers
    return default_workers() if pixels >= PARALLEL_MIN_PIXELS else 1


def ordered_map(fn: Callable, items: Iterable, workers: int, total: int | None) -> Iterator:
    """fn(item) for each item, in order; in `workers` processes when there may be more than one item
    (`total` None: not known, e.g. a pipe)."""
    few = total is not None and total <= 1
    if workers > 1 and not few:  # imported only here: a one-core decode starts ~30 ms sooner without them
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
    if workers <= 1 or few or "fork" not in multiprocessing.get_all_start_methods():
        for item in items:
            yield fn(item)
        return
    ctx = multiprocessing.get_context("fork")
    most = workers if total is None else min(workers, total)
    with ProcessPoolExecutor(max_workers=most, mp_context=ctx) as pool:
        pending: deque = deque()
        it = iter(items)
        try:
            for item in it:
                pending.append(pool.submit(fn, item))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()
