"""Progress that tells the truth (issue 16): counted in the unit a person waits for (feature maps, frames),
with an ETA, on stderr, so stdout stays clean for --json and pipes.

`progress_bar(total, what, unit)` is a tqdm bar (or a do-nothing stand-in when disabled);
`map_ticks(codec, motion, tick)` calls `tick(1)` after each feature map the learned codec codes, although
the codec codes a whole group of pictures per call: it wraps, for the duration, the per-map steps of that
one codec object (its intra coder and its predicted-map coder), leaving the class and other objects alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class _Quiet:
    """What a disabled bar offers: update() and close() that do nothing."""

    def update(self, n: float = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


@contextmanager
def progress_bar(total: int | None, what: str, unit: str = "map", enabled: bool = True) -> Iterator:
    """A bar over `total` units with rate and ETA on stderr (shown from the first update on)."""
    if not enabled:
        yield _Quiet()
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=what, unit=unit, file=sys.stderr, dynamic_ncols=True, mininterval=0.5,
               bar_format="{desc}: {n_fmt}/{total_fmt} {unit}s [{elapsed}<{remaining}, {rate_fmt}]{postfix}")
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def map_ticks(codec, motion: str, tick: Callable[[int], object]) -> Iterator[None]:
    """Call `tick(1)` after every map `codec.compress` codes (first map: intra; the others: predicted)."""
    steps = [(getattr(codec, "intra", None), "compress"),
             (codec, "_rdo_predicted" if motion == "rdo" else "_predicted")]
    wrapped = []
    for owner, name in steps:
        original = getattr(owner, name, None)
        if original is None:  # a codec without this step: no ticks from it, never an error
            continue

        def step(*args, _original=original, **kwargs):
            out = _original(*args, **kwargs)
            tick(1)
            return out

        object.__setattr__(owner, name, step)
        wrapped.append((owner, name))
    try:
        yield
    finally:
        for owner, name in wrapped:
            object.__delattr__(owner, name)
