"""`.spkz` lossless spike archives: pack a file, an array or a pipe; unpack to a file, an array or a pipe.

Chunks are coded independently (in up to two processes, same bytes as one); outputs are written to a
temporary file and renamed only once every chunk coded or decoded cleanly (a pipe is written as it goes).
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np

from spikesci.errors import SpikeFileError
from spikesci.io.container import ContainerWriter
from spikesci.io.dat import DEFAULT_HEIGHT, DEFAULT_WIDTH, _frame_range, pack_frames
from spikesci.lossless.coder import encode_chunk
from spikesci.lossless.fastdat import unpack_dat, write_atomically
from spikesci.lossless.format import (
    DEFAULT_CHUNK_FRAMES,
    MAGIC,
    MAX_BANDS,
    MAX_CHUNK_PIXELS,
    MAX_PIXELS,
    VERSION,
    Archive,
    band_rows,
    default_bands,
    make_header,
)
from spikesci.lossless.parallel import default_workers, ordered_map, pick_workers
from spikesci.lossless.progress import Bar as _Bar
from spikesci.lossless.progress import Progress
from spikesci.lossless.progress import stats as _stats
from spikesci.lossless.progress import unpack_stats as _unpack_stats
from spikesci.lossless.source import ArraySource, Source, StreamSource, open_source
from spikesci.lossless.spec import ModelSpec, default_model, in_threads


def _encode_job(job: tuple) -> bytes:
    spikes, spec, padding = job
    return encode_chunk(spikes, spec, padding)


def _check_sizes(height: int, width: int, chunk_frames: int) -> None:
    if height < 1 or width < 1:
        raise SpikeFileError(f"frames must be at least 1x1, got {height}x{width}")
    if height * width > MAX_PIXELS:
        raise SpikeFileError(f"{height}x{width} frames are too large (max {MAX_PIXELS} pixels)")
    most = MAX_CHUNK_PIXELS // (height * width)
    if not 1 <= chunk_frames <= most:
        raise SpikeFileError(f"chunk_frames must be between 1 and {most} at {height}x{width}")


def _pack(
    source: Source,
    dst,
    chunk_frames: int,
    model: str | None,
    progress: Progress,
    workers: int | None,
    bands: int | None = None,
) -> dict:
    _check_sizes(source.height, source.width, chunk_frames)
    spec = ModelSpec(default_model() if model is None else model)
    threads = in_threads(spec)
    bands = default_bands(source.height, source.width) if bands is None else bands
    if not 1 <= bands <= min(MAX_BANDS, source.height):
        raise SpikeFileError(f"bands must be between 1 and {min(MAX_BANDS, source.height)}")
    rows = band_rows(source.height, bands)
    header = make_header(
        source.height, source.width, source.frames, chunk_frames, source.kind, spec, bands, source.label
    )
    pixels_per_frame = source.height * source.width
    if source.frames is None:  # a pipe: as long as it is, use both cores
        nworkers = default_workers() if workers is None else pick_workers(workers, 0)
    else:
        nworkers = pick_workers(workers, source.frames * pixels_per_frame, threads)
    counts = {"spikes": 0, "frames": 0, "chunks": 0}

    def jobs():
        for spikes, padding in source.chunks(chunk_frames):
            counts["spikes"] += int(np.count_nonzero(spikes))
            counts["frames"] += spikes.shape[0]
            counts["chunks"] += 1
            for b, (r0, r1) in enumerate(rows):
                yield np.ascontiguousarray(spikes[:, r0:r1]), spec, (padding if b == 0 else None)

    bar = _Bar(progress, source.frames, "pack")
    t0 = time.perf_counter()
    writer = ContainerWriter(dst, MAGIC, VERSION, header)
    try:
        nchunks = None if source.frames is None else -(-source.frames // chunk_frames) * bands
        for k, payload in enumerate(ordered_map(_encode_job, jobs(), nworkers, nchunks, threads)):
            writer.write_chunk(payload)
            if k % bands == bands - 1:
                bar(struct.unpack_from("<I", payload)[0])
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
    return _stats(
        writer.bytes_written,
        counts["frames"],
        source.height,
        source.width,
        time.perf_counter() - t0,
        counts["spikes"],
        model=spec.name,
        chunks=counts["chunks"],
        chunk_frames=chunk_frames,
        bands=bands,
        workers=nworkers,
        path=str(dst),
    )


def pack(
    src,
    dst_path,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    model: str | None = None,
    progress: Progress = False,
    workers: int | None = None,
    bands: int | None = None,
) -> dict:
    """Archive a `.dat` (read chunk by chunk) or `.npz` file, or raw `.dat` frames from a binary pipe
    (`src` with a `read` method, e.g. sys.stdin.buffer: read one chunk at a time until it ends, so a
    camera pipe or a growing recording packs in bounded memory); returns size and speed stats.

    `model`: "mix" (the default where its compiled coder is built), "ctx" (otherwise) or "simple".
    `workers`: threads (model "mix") or processes coding chunks in parallel (default: 2 cores; for
    processes only for clips of 8 M spike-pixels or more, and for pipes); the bytes do not depend on it.
    `bands`: row bands a chunk is split into (default: one per 65536 pixels, at most 8)."""
    if hasattr(src, "read"):
        source: Source = StreamSource(src, height, width, getattr(src, "name", "standard input"))
    else:
        source = open_source(src, height, width)
    return _pack(source, dst_path, chunk_frames, model, progress, workers, bands)


def pack_spikes(
    spikes: np.ndarray,
    path,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    model: str | None = None,
    progress: Progress = False,
    workers: int | None = None,
    bands: int | None = None,
) -> dict:
    """Archive a (T, H, W) 0/1 array; returns size and speed stats (see `pack`)."""
    return _pack(ArraySource(spikes), path, chunk_frames, model, progress, workers, bands)


def _write_dat(arc: Archive, start: int, stop: int, fh: BinaryIO, bar: _Bar, workers: int | None) -> None:
    for spikes, padding in arc.iter_range(start, stop, bar, workers):
        packed = pack_frames(spikes)
        if padding is not None:
            packed[:, -1] |= padding
        fh.write(packed.tobytes())


def unpack(src, dst=None, frames=None, progress: Progress = False, workers: int | None = None):
    """Decode an archive. Without `dst` return the (T, H, W) array; with a `.dat`/`.npz` path write it
    (a `.dat` comes back byte for byte) and return stats; with a binary pipe (`dst` with a `write`
    method, e.g. sys.stdout.buffer) write the raw `.dat` bytes into it chunk by chunk and return stats.
    `frames`: None, N, (start, stop) or slice."""
    if dst is not None:  # a "mix" archive to .dat bytes: the numpy-free path
        fast = unpack_dat(src, dst, frames, progress, workers)
        if fast is not None:
            return fast
    return unpack_general(src, dst, frames, progress, workers)


def unpack_general(src, dst=None, frames=None, progress: Progress = False, workers: int | None = None):
    """`unpack` through the numpy decoder, for every model and output (the CLI calls it after the
    numpy-free path declined, so the archive is not opened a third time)."""
    t0 = time.perf_counter()
    with Archive(src) as arc:
        start, stop = _frame_range(frames, arc.frames)
        bar = _Bar(progress, stop - start, "unpack")
        try:
            if dst is None:
                parts = [s for s, _ in arc.iter_range(start, stop, bar, workers)]
                return np.concatenate(parts) if parts else np.zeros((0, arc.height, arc.width), np.uint8)
            if hasattr(dst, "write"):
                _write_dat(arc, start, stop, dst, bar, workers)
                dst.flush()
                return _unpack_stats(arc, src, start, stop, t0, path="-")
            dst = Path(dst)
            suffix = dst.suffix.lower()
            if suffix == ".npz":
                from spikesci.io.npz import write_npz

                parts = [s for s, _ in arc.iter_range(start, stop, bar, workers)]
                spikes = np.concatenate(parts) if parts else np.zeros((0, arc.height, arc.width), np.uint8)
                write_npz(dst, spikes, label=arc.label)
            elif suffix == ".dat":
                write_atomically(dst, lambda fh: _write_dat(arc, start, stop, fh, bar, workers))
            else:
                raise SpikeFileError(f"{dst}: unknown spike file type '{suffix}' (expected .dat or .npz)")
        finally:
            bar.close()
        return _unpack_stats(arc, src, start, stop, t0, path=str(dst))


def unpack_spikes(path, frames=None, workers: int | None = None) -> np.ndarray:
    """(T, H, W) uint8 0/1 spikes of an archive, or of the frame range `frames` only."""
    return unpack(path, None, frames, workers=workers)


def archive_info(path) -> dict:
    """Header facts of an archive without decoding it."""
    with Archive(path) as arc:
        return {
            "frames": arc.frames,
            "height": arc.height,
            "width": arc.width,
            "chunk_frames": arc.chunk_frames,
            "chunks": arc.reader.num_chunks,
            "bands": arc.bands,
            "model": arc.spec.name,
            "source": arc.source,
            "format_version": arc.reader.version,
            "bytes": Path(path).stat().st_size,
        }
