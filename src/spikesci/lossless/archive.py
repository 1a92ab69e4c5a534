"""`.spkz` lossless spike archives: independent chunks of frames in the shared container framing.

Header (JSON, CRC-checked by the container): format, height, width, frames, chunk_frames, source
(".dat"/".npz"), the `.dat` layout, model name and version, and the `.npz` label if there was one.
Chunk i holds frames [i*chunk_frames, (i+1)*chunk_frames), coded from a fresh model state, so a frame
range decodes only the chunks it covers and a long `.dat` streams through in bounded memory.
Outputs are written to a temporary file and renamed only once every chunk decoded cleanly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from spikesci.errors import ContainerError, SpikeFileError
from spikesci.io.container import ContainerReader, ContainerWriter
from spikesci.io.dat import (
    DEFAULT_HEIGHT,
    DEFAULT_WIDTH,
    _frame_range,
    check_spikes,
    dat_frame_bytes,
    dat_num_frames,
    pack_frames,
    unpack_frames,
)
from spikesci.io.npz import read_npz, write_npz
from spikesci.lossless.coder import decode_chunk, encode_chunk
from spikesci.lossless.model import MODEL_IDS, ModelSpec
from spikesci.lossless.parallel import default_workers, ordered_map

MAGIC = b"SPKZ"
VERSION = 1
MODEL_VERSION = 1
DEFAULT_CHUNK_FRAMES = 512  # 25 ms at 20 kHz; shorter chunks pay more for re-learning each pixel
MAX_PIXELS = 1 << 26
PARALLEL_MIN_PIXELS = 1 << 23
MAX_CHUNK_PIXELS = 1 << 31  # a decoded chunk is held in memory: refuse headers asking for more
LAYOUT = {
    "bits": "8 pixels a byte, least-significant bit first",
    "rows": "stored bottom-up",
    "frame_bytes": "ceil(H*W/8), zero padding bits kept as found",
}


def _progress(progress, total: int, desc: str):
    """tqdm bar on stderr when `progress` is True; a callable gets (done, total) instead."""
    if progress is True:
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="frame", leave=False)
    return None


def _pad_mask(height: int, width: int) -> int:
    used = (height * width) % 8
    return 0 if used == 0 else (0xFF << used) & 0xFF


class _Source:
    """Frames of a `.dat` (memory-mapped, raw bytes kept for its padding bits) or `.npz` / array."""

    def __init__(self, path=None, spikes=None, height=DEFAULT_HEIGHT, width=DEFAULT_WIDTH):
        self.label = None
        self.mm = None
        if spikes is not None:
            self.spikes = check_spikes(spikes)
            self.kind = "array"
            self.frames, self.height, self.width = self.spikes.shape
            return
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".dat":
            self.kind = ".dat"
            self.height, self.width = height, width
            self.frames = dat_num_frames(path, height, width)
            fb = dat_frame_bytes(height, width)
            if self.frames:
                self.mm = np.memmap(path, dtype=np.uint8, mode="r", shape=(self.frames, fb))
        elif suffix == ".npz":
            self.kind = ".npz"
            self.spikes, self.label = read_npz(path, with_label=True)
            self.frames, self.height, self.width = self.spikes.shape
        else:
            raise SpikeFileError(f"{path}: unknown spike file type '{suffix}' (expected .dat or .npz)")

    def chunk(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        if self.mm is None:
            return self.spikes[start:stop], None
        raw = np.asarray(self.mm[start:stop])
        mask = _pad_mask(self.height, self.width)
        padding = (raw[:, -1] & mask) if mask else None
        return unpack_frames(raw, self.height, self.width), padding


def _workers(workers: int | None, pixels: int) -> int:
    """Processes to use: forking only pays off beyond a few million pixels."""
    if workers is not None:
        return workers
    return default_workers() if pixels >= PARALLEL_MIN_PIXELS else 1


def _encode_job(job: tuple) -> bytes:
    spikes, name, padding = job
    return encode_chunk(spikes, ModelSpec(name), padding)


def _decode_job(job: tuple) -> tuple[np.ndarray, np.ndarray | None]:
    payload, height, width, name, n, where = job
    return decode_chunk(payload, height, width, ModelSpec(name), n, where)


def _pack(source: _Source, dst, chunk_frames: int, model: str, progress, workers: int | None = None) -> dict:
    if source.height < 1 or source.width < 1:
        raise SpikeFileError(f"frames must be at least 1x1, got {source.height}x{source.width}")
    if source.height * source.width > MAX_PIXELS:
        raise SpikeFileError(f"{source.height}x{source.width} frames are too large (max {MAX_PIXELS} pixels)")
    most = MAX_CHUNK_PIXELS // (source.height * source.width)
    if not 1 <= chunk_frames <= most:
        raise SpikeFileError(f"chunk_frames must be between 1 and {most} at {source.height}x{source.width}")
    spec = ModelSpec(model)
    header = {
        "format": "spkz",
        "height": source.height,
        "width": source.width,
        "frames": source.frames,
        "chunk_frames": chunk_frames,
        "source": source.kind,
        "layout": LAYOUT,
        "model": spec.name,
        "model_version": MODEL_VERSION,
    }
    if source.label is not None:
        header["label"] = source.label
    bar = _progress(progress, source.frames, "pack")
    t0 = time.perf_counter()
    writer = ContainerWriter(dst, MAGIC, VERSION, header)
    try:
        starts = range(0, source.frames, chunk_frames)
        counts = {"spikes": 0}

        def jobs():
            for start in starts:
                spikes, padding = source.chunk(start, min(start + chunk_frames, source.frames))
                counts["spikes"] += int(np.count_nonzero(spikes))
                yield spikes, spec.name, padding

        done = 0
        nworkers = _workers(workers, source.frames * source.height * source.width)
        for payload in ordered_map(_encode_job, jobs(), nworkers, len(starts)):
            writer.write_chunk(payload)
            done = min(done + chunk_frames, source.frames)
            if bar is not None:
                bar.update(done - bar.n)
            elif callable(progress):
                progress(done, source.frames)
        spikes_total = counts["spikes"]
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    return _stats(
        writer.bytes_written,
        source.frames,
        source.height,
        source.width,
        seconds,
        spikes_total,
        model=spec.name,
        chunks=-(-source.frames // chunk_frames),
        path=str(dst),
    )


def _stats(nbytes, frames, height, width, seconds, spikes=None, **extra) -> dict:
    pixels = frames * height * width
    raw = frames * dat_frame_bytes(height, width)
    bpp = 8.0 * nbytes / pixels if pixels else 0.0
    out = {
        "bytes": int(nbytes),
        "raw_bytes": int(raw),
        "frames": int(frames),
        "height": int(height),
        "width": int(width),
        "bpp": bpp,
        "bits_per_spike_pixel": bpp,
        "ratio": raw / nbytes if nbytes else 0.0,
        "seconds": seconds,
        "mbps": raw / 1e6 / max(seconds, 1e-9),
        "mpix_s": pixels / 1e6 / max(seconds, 1e-9),
    }
    if spikes is not None:
        out["firing_rate"] = spikes / pixels if pixels else 0.0
    out.update(extra)
    return out


def pack(
    src_path,
    dst_path,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    model: str = "ctx",
    progress: bool | Callable = False,
    workers: int | None = None,
) -> dict:
    """Archive a `.dat` (streamed chunk by chunk) or `.npz` file; returns size and speed stats.

    `workers`: processes coding chunks in parallel (default: up to 2 cores)."""
    source = _Source(path=src_path, height=height, width=width)
    return _pack(source, dst_path, chunk_frames, model, progress, workers)


def pack_spikes(
    spikes: np.ndarray,
    path,
    chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    model: str = "ctx",
    progress: bool | Callable = False,
    workers: int | None = None,
) -> dict:
    """Archive a (T, H, W) 0/1 array; returns size and speed stats (see `pack`)."""
    return _pack(_Source(spikes=spikes), path, chunk_frames, model, progress, workers)


class Archive:
    """An open `.spkz` file: validated header, random access by frame range."""

    def __init__(self, path):
        self.path = Path(path)
        self.reader = ContainerReader(path, MAGIC, (VERSION,), kind="spike archive (.spkz)")
        h = self.reader.header
        name = self.path.name
        try:
            self.height, self.width = int(h["height"]), int(h["width"])
            self.frames, self.chunk_frames = int(h["frames"]), int(h["chunk_frames"])
            model, model_version = str(h["model"]), int(h["model_version"])
            self.source = str(h.get("source", ".dat"))
            self.label = h.get("label")
        except (KeyError, TypeError, ValueError):
            raise ContainerError(f"{name}: archive header is missing fields") from None
        if not (
            0 < self.height
            and 0 < self.width
            and self.height * self.width <= MAX_PIXELS
            and self.frames >= 0
            and 1 <= self.chunk_frames <= MAX_CHUNK_PIXELS // (self.height * self.width)
        ):
            raise ContainerError(f"{name}: archive header has impossible sizes")
        if model not in MODEL_IDS or model_version != MODEL_VERSION:
            raise ContainerError(
                f"{name}: coded with model '{model}' v{model_version}, which this spikesci cannot decode"
            )
        self.spec = ModelSpec(model)
        expected = -(-self.frames // self.chunk_frames)
        if self.reader.num_chunks != expected:
            raise ContainerError(f"{name}: has {self.reader.num_chunks} chunks, header says {expected}")

    def _job(self, i: int) -> tuple:
        n = min(self.chunk_frames, self.frames - i * self.chunk_frames)
        where = f"{self.path.name}: chunk {i} of {self.reader.num_chunks}"
        return self.reader.read_chunk(i), self.height, self.width, self.spec.name, n, where

    def _checked(self, i: int, result: tuple) -> tuple[np.ndarray, np.ndarray | None]:
        spikes, padding = result
        if padding is not None and np.any(padding & ~np.uint8(_pad_mask(self.height, self.width))):
            raise ContainerError(
                f"{self.path.name}: chunk {i} of {self.reader.num_chunks}  is damaged (padding)"
            )
        return spikes, padding

    def chunk(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Frames of chunk i and their `.dat` padding bytes (None when all zero)."""
        return self._checked(i, _decode_job(self._job(i)))

    def iter_range(self, start: int, stop: int, progress=False, workers: int | None = None):
        """Yield (spikes, padding) pieces covering frames [start, stop), decoding only the chunks needed
        (in up to `workers` processes, default 2)."""
        bar = _progress(progress, stop - start, "unpack")
        chunks = range(start // self.chunk_frames, -(-stop // self.chunk_frames))
        nworkers = _workers(workers, (stop - start) * self.height * self.width)
        try:
            results = ordered_map(_decode_job, (self._job(i) for i in chunks), nworkers, len(chunks))
            for i, result in zip(chunks, results):
                c0 = i * self.chunk_frames
                spikes, padding = self._checked(i, result)
                a, b = max(start, c0) - c0, min(stop, c0 + spikes.shape[0]) - c0
                yield spikes[a:b], (None if padding is None else padding[a:b])
                if bar is not None:
                    bar.update(b - a)
                elif callable(progress):
                    progress(c0 + b - start, stop - start)
        finally:
            if bar is not None:
                bar.close()

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def unpack(src, dst=None, frames=None, progress: bool | Callable = False, workers: int | None = None):
    """Decode an archive. Without `dst` return the (T, H, W) array; with a `.dat`/`.npz` path write it
    (a `.dat` comes back byte for byte) and return stats. `frames`: None, N, (start, stop) or slice."""
    t0 = time.perf_counter()
    with Archive(src) as arc:
        start, stop = _frame_range(frames, arc.frames)
        if dst is None:
            parts = [s for s, _ in arc.iter_range(start, stop, progress, workers)]
            return np.concatenate(parts) if parts else np.zeros((0, arc.height, arc.width), np.uint8)
        dst = Path(dst)
        suffix = dst.suffix.lower()
        if suffix == ".npz":
            parts = [s for s, _ in arc.iter_range(start, stop, progress, workers)]
            spikes = np.concatenate(parts) if parts else np.zeros((0, arc.height, arc.width), np.uint8)
            write_npz(dst, spikes, label=arc.label)
        elif suffix == ".dat":
            tmp = dst.with_name(dst.name + ".part")
            try:
                with open(tmp, "wb") as fh:
                    for spikes, padding in arc.iter_range(start, stop, progress, workers):
                        packed = pack_frames(spikes)
                        if padding is not None:
                            packed[:, -1] |= padding
                        fh.write(packed.tobytes())
                os.replace(tmp, dst)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        else:
            raise SpikeFileError(f"{dst}: unknown spike file type '{suffix}' (expected .dat or .npz)")
        seconds = time.perf_counter() - t0
        size = Path(src).stat().st_size
        return _stats(
            size,
            stop - start,
            arc.height,
            arc.width,
            seconds,
            path=str(dst),
            frame_range=[start, stop],
            archive_frames=arc.frames,
        )


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
            "model": arc.spec.name,
            "source": arc.source,
            "bytes": Path(path).stat().st_size,
        }
