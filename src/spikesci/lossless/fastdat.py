"""Unpack a "mix" archive to `.dat` bytes (a file or a pipe) without importing numpy.

Python and numpy take 0.15-0.2 s to start here, about what `xz -d` takes to restore a whole clip, so the
common case (an archive back to its `.dat`) runs on the standard library and the compiled coder alone:
chunks read in order, bands decoded in threads (the coder releases the GIL), bits put in the `.dat`
layout by the same extension. Anything else (an `.npz` output, a "ctx" archive, no compiled coder)
returns None and `archive.unpack` does it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from spikesci.errors import ContainerError
from spikesci.io.frames import dat_frame_bytes, frame_range
from spikesci.lossless import payload
from spikesci.lossless.format import Archive, pad_mask
from spikesci.lossless.parallel import ordered_map, pick_workers
from spikesci.lossless.progress import Bar, Progress, unpack_stats


def write_atomically(dst: Path, write) -> None:
    """write(fh) into DST.part, renamed to DST only when it finished: a failed unpack leaves no file."""
    tmp = dst.with_name(dst.name + ".part")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _decode_band(job: tuple) -> tuple[bytearray, bytes | None]:
    from spikesci.lossless import _mixcoder

    data, rows, width, n, stop, where = job
    _, body, padding = payload.split(data, 1, n, where)
    out = bytearray(stop * rows * width)
    _mixcoder.decode(body, stop, rows, width, out)
    return out, padding


def _write_range(arc: Archive, start: int, stop: int, fh, bar: Bar, workers: int | None) -> None:
    from spikesci.lossless import _mixcoder

    h, w, cf, nb = arc.height, arc.width, arc.chunk_frames, arc.bands
    fb, mask = dat_frame_bytes(h, w), pad_mask(h, w)
    chunks = range(start // cf, -(-stop // cf))

    def jobs():
        for i in chunks:
            n = min(cf, arc.frames - i * cf)
            for b, (r0, r1) in enumerate(arc.rows):
                k = i * nb + b
                where = f"{arc.path.name}: chunk {k} of {arc.reader.num_chunks}"
                yield arc.reader.read_chunk(k), r1 - r0, w, n, min(stop - i * cf, n), where

    nworkers = pick_workers(workers, (stop - start) * h * w, threads=True)
    results = ordered_map(_decode_band, jobs(), nworkers, len(chunks) * nb, threads=True)
    for i in chunks:
        c0 = i * cf
        a, b = max(start, c0) - c0, min(stop, c0 + cf) - c0
        out = bytearray((b - a) * fb)
        padding = None
        for band, (r0, r1) in enumerate(arc.rows):
            bits, pad = next(results)
            rows = r1 - r0
            _mixcoder.to_dat(out, memoryview(bits)[a * rows * w :], b - a, h, w, r0, rows)
            padding = pad if band == 0 else padding
        if padding is not None:
            if any(p & ~mask & 0xFF for p in padding):
                raise ContainerError(f"{arc.path.name}: chunk {i * nb} of {arc.reader.num_chunks} is damaged "
                                     "(padding)")
            for j in range(b - a):
                out[j * fb + fb - 1] |= padding[a + j]
        fh.write(out)
        bar(b - a)


def unpack_dat(src, dst, frames=None, progress: Progress = False, workers: int | None = None) -> dict | None:
    """Decode frames `frames` of a "mix" archive into `dst` (a `.dat` path, or a binary pipe with a
    `write` method); stats as `archive.unpack`, or None when this path does not apply."""
    from spikesci.lossless.mix import COMPILED

    is_pipe = hasattr(dst, "write")
    if not COMPILED or not (is_pipe or Path(dst).suffix.lower() == ".dat"):
        return None
    t0 = time.perf_counter()
    with Archive(src) as arc:
        if arc.spec.name != "mix":
            return None
        start, stop = frame_range(frames, arc.frames)
        bar = Bar(progress, stop - start, "unpack")
        try:
            if is_pipe:
                _write_range(arc, start, stop, dst, bar, workers)
                dst.flush()
            else:
                write_atomically(Path(dst), lambda fh: _write_range(arc, start, stop, fh, bar, workers))
        finally:
            bar.close()
        return unpack_stats(arc, src, start, stop, t0, path="-" if is_pipe else str(dst))
