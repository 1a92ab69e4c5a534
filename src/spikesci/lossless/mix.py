"""Code one band of one chunk with the "mix" model: the compiled coder when it was built, else the
plain-Python specification (`mixref`, the same bytes, ~17 us a spike-pixel instead of ~0.05).

The compiled coder releases the GIL, so chunks run on all cores in threads (no process start-up,
nothing pickled); `THREADS_OK` tells `parallel.ordered_map` so.
"""

from __future__ import annotations

import sys

try:  # built by `pip install` from _mixcoder.c; optional so that a machine without a compiler installs
    from spikesci.lossless import _mixcoder as _impl

    COMPILED = True
except ImportError:  # pragma: no cover - exercised only where the extension was not built
    from spikesci.lossless import mixref as _impl

    COMPILED = False

THREADS_OK = COMPILED
_warned = False


def _warn_slow() -> None:
    global _warned
    if not COMPILED and not _warned:
        _warned = True
        print(
            "spikesci: the compiled archive coder is not built (reinstall with a C compiler: "
            "pip install -e .); decoding this 'mix' archive in pure Python, about 300x slower",
            file=sys.stderr,
        )


def encode(bits, frames: int, height: int, width: int) -> bytes:
    """frames x height x width bytes of 0/1 (any C-contiguous buffer) -> the band's stream."""
    return _impl.encode(bits, frames, height, width)


def decode_into(data: bytes, frames: int, height: int, width: int, out) -> None:
    """Decode the first `frames` frames of a band's stream into `out` (frames x height x width bytes)."""
    _warn_slow()
    _impl.decode(data, frames, height, width, out)
