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


def _thread_map(fn: Callable, items: Iterable, workers: int) -> Iterator:
    """fn(item) in threads, at most `workers` at once and 2 x `workers` results pending, in order. Plain
    threads rather than concurrent.futures, whose import (logging with it) costs the fast unpack ~15 ms."""
    import threading

    slots = threading.Semaphore(workers)

    def run(item, box: list) -> None:
        with slots:
            try:
                box.append((True, fn(item)))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller, in order
                box.append((False, exc))

    pending: deque = deque()

    def take():
        thread, box = pending.popleft()
        thread.join()
        ok, value = box[0]
        if not ok:
            raise value
        return value

    for item in items:
        box: list = []
        thread = threading.Thread(target=run, args=(item, box), daemon=True)
        thread.start()
        pending.append((thread, box))
        if len(pending) >= 2 * workers:
            yield take()
    while pending:
        yield take()


def _pool(workers: int):
    """Forked processes; None where fork is not available."""
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
    if threads and workers > 1 and not few:
        yield from _thread_map(fn, items, most)
        return
    pool = None if workers <= 1 or few or threads else _pool(most)
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
