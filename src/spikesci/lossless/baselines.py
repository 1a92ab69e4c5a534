"""General-purpose compressors on bit-packed `.dat` bytes: the yardstick the spike archive must beat.

They see bytes, not pixels firing in time, so they land near the order-0 entropy of the spikes; the
numbers here are what users get today with gzip/zstd/xz on their recordings.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import time
from collections.abc import Callable

import numpy as np
import zstandard

from spikesci.io.dat import check_spikes, pack_frames

_XZ_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


def _zstd(level: int) -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
    def compress(data: bytes) -> bytes:
        return zstandard.ZstdCompressor(level=level).compress(data)

    def decompress(data: bytes) -> bytes:
        return zstandard.ZstdDecompressor().decompress(data)

    return compress, decompress


# name -> (compress, decompress); each works on any bytes.
GENERAL_CODECS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "gzip": (lambda b: gzip.compress(b, compresslevel=9, mtime=0), gzip.decompress),
    "bz2": (lambda b: bz2.compress(b, compresslevel=9), bz2.decompress),
    "xz": (
        lambda b: lzma.compress(b, format=lzma.FORMAT_XZ, filters=_XZ_FILTERS),
        lzma.decompress,
    ),
    "zstd-19": _zstd(19),
    "zstd-22": _zstd(22),
}
# Short aliases used in tables and on the command line.
GENERAL_CODECS["zstd"] = GENERAL_CODECS["zstd-19"]


def order0_entropy(spikes: np.ndarray) -> float:
    """Binary entropy of the firing rate, in bits per spike-pixel: what a memoryless coder could reach."""
    spikes = check_spikes(spikes)
    n = spikes.size
    if n == 0:
        return 0.0
    p = float(np.count_nonzero(spikes)) / n
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return float(-(p * np.log2(p) + (1 - p) * np.log2(1 - p)))


def measure_general(spikes: np.ndarray, name: str) -> dict:
    """Compress the `.dat` bytes of `spikes` with codec `name`, check the round trip, report size and speed.

    bpp is bits per spike-pixel (compressed bits / (T*H*W)); MB/s counts raw `.dat` bytes per second of
    wall time; the *_cpu_* rates count per second of this process's CPU time.
    """
    if name not in GENERAL_CODECS:
        raise KeyError(f"unknown codec {name!r}; known: {', '.join(GENERAL_CODECS)}")
    spikes = check_spikes(spikes)
    compress, decompress = GENERAL_CODECS[name]
    raw = pack_frames(spikes).tobytes()
    t0, c0 = time.perf_counter(), time.process_time()
    blob = compress(raw)
    t1, c1 = time.perf_counter(), time.process_time()
    back = decompress(blob)
    t2, c2 = time.perf_counter(), time.process_time()
    if back != raw:
        raise RuntimeError(f"{name}: round trip is not exact")
    pixels = max(1, spikes.size)
    mb = len(raw) / 1e6
    return {
        "codec": name,
        "bytes": len(blob),
        "raw_bytes": len(raw),
        "bpp": 8.0 * len(blob) / pixels,
        "encode_mbps": mb / max(t1 - t0, 1e-9),
        "decode_mbps": mb / max(t2 - t1, 1e-9),
        "encode_mpix_s": pixels / 1e6 / max(t1 - t0, 1e-9),
        "decode_mpix_s": pixels / 1e6 / max(t2 - t1, 1e-9),
        # per CPU-second of this process: what one free core gives, whatever else runs on the machine
        "encode_cpu_mpix_s": pixels / 1e6 / max(c1 - c0, 1e-9),
        "decode_cpu_mpix_s": pixels / 1e6 / max(c2 - c1, 1e-9),
    }
