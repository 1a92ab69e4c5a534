"""Chunks are independent, so they can be coded on several cores; results come back in order.

A bounded number of chunks is in flight at a time, so a long recording still streams in bounded
memory. Workers are threads for the compiled "mix" coder (it releases the GIL), forked processes for
the numpy model (numpy and constriction hold the GIL too often for threads).
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


def pick_workers(workers: int | None, pixels: int, threads: bool = False) -> int:
    """Workers for `pixels` of work: `workers` if given, else 2 cores (for processes: large work only)."""
    if workers is not None:
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, got {workers}")
        return workers
    return default_workers() if threads or pixels >= PARALLEL_MIN_PIXELS else 1


def _pool(workers: int, threads: bool):
    """A thread pool when `fn` releases the GIL (the compiled coder), else forked processes; None when
    neither is possible."""
    if threads:
        from concurrent.futures import ThreadPoolExecutor

        return ThreadPoolExecutor(max_workers=workers)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))


def ordered_map(
    fn: Callable, items: Iterable, workers: int, total: int | None, threads: bool = False
) -> Iterator:
    """fn(item) for each item, in order; in `workers` processes (threads with `threads`: for work that
    releases the GIL) when there may be more than one item (`total` None: not known, e.g. a pipe)."""
    few = total is not None and total <= 1
    most = workers if total is None else min(workers, total)
    pool = None if workers <= 1 or few else _pool(most, threads)
    if pool is None:  # pools are imported only when used: a one-core decode starts ~30 ms sooner
        for item in items:
            yield fn(item)
        return
    with pool:
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
