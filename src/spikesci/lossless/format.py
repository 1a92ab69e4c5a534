"""The `.spkz` header and reader: which chunks hold which frames, random access through the index.

Header (JSON, CRC-checked by the container): format, height, width, frames, chunk_frames, source
(".dat"/".npz"/"stream"), the `.dat` layout, model name and version, and the `.npz` label if any.
Chunk i holds frames [i*chunk_frames, (i+1)*chunk_frames), coded from a fresh model state; the
container's index gives each chunk's offset, so a frame range reads and decodes only its chunks, and
inside the first one only the frames up to the range's end.

Version 2 (this spikesci writes it) differs from version 1 in one field: `frames` is null when the
archive was packed from a stream of unknown length; the reader then takes the count from the last
chunk. Version 1 archives read exactly as before (same model, same chunk payloads).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from spikesci.errors import ContainerError
from spikesci.io.container import ContainerReader
from spikesci.lossless.coder import decode_chunk
from spikesci.lossless.model import MODEL_IDS, ModelSpec
from spikesci.lossless.parallel import ordered_map, pick_workers

MAGIC = b"SPKZ"
VERSION = 2
READ_VERSIONS = (1, 2)
MODEL_VERSION = 1
DEFAULT_CHUNK_FRAMES = 100  # 5 ms at 20 kHz: see docs/lossless.md for the size / random-access trade-off
MAX_PIXELS = 1 << 26
MAX_CHUNK_PIXELS = 1 << 31  # a decoded chunk is held in memory: refuse headers asking for more
LAYOUT = {
    "bits": "8 pixels a byte, least-significant bit first",
    "rows": "stored bottom-up",
    "frame_bytes": "ceil(H*W/8), zero padding bits kept as found",
}


def pad_mask(height: int, width: int) -> int:
    """Bits of a frame's last `.dat` byte that are padding (not pixels)."""
    used = (height * width) % 8
    return 0 if used == 0 else (0xFF << used) & 0xFF


def make_header(
    height: int, width: int, frames: int | None, chunk_frames: int, source: str, model: str, label=None
) -> dict:
    header = {
        "format": "spkz",
        "height": height,
        "width": width,
        "frames": frames,
        "chunk_frames": chunk_frames,
        "source": source,
        "layout": LAYOUT,
        "model": model,
        "model_version": MODEL_VERSION,
    }
    if label is not None:
        header["label"] = label
    return header


def _decode_job(job: tuple) -> tuple[np.ndarray, np.ndarray | None]:
    payload, height, width, name, n, where, stop = job
    return decode_chunk(payload, height, width, ModelSpec(name), n, where, stop=stop)


class Archive:
    """An open `.spkz` file: validated header, random access by frame range."""

    def __init__(self, path):
        self.path = Path(path)
        self.reader = ContainerReader(path, MAGIC, READ_VERSIONS, kind="spike archive (.spkz)")
        h = self.reader.header
        name = self.path.name
        try:
            self.height, self.width = int(h["height"]), int(h["width"])
            frames = h["frames"]
            self.chunk_frames = int(h["chunk_frames"])
            model, model_version = str(h["model"]), int(h["model_version"])
            self.source = str(h.get("source", ".dat"))
            self.label = h.get("label")
            if frames is None and self.reader.version < 2:
                raise ValueError
            streamed = frames is None
            frames = 0 if streamed else int(frames)
        except (KeyError, TypeError, ValueError):
            raise ContainerError(f"{name}: archive header is missing fields") from None
        if not (
            0 < self.height
            and 0 < self.width
            and self.height * self.width <= MAX_PIXELS
            and frames >= 0
            and 1 <= self.chunk_frames <= MAX_CHUNK_PIXELS // (self.height * self.width)
        ):
            raise ContainerError(f"{name}: archive header has impossible sizes")
        if model not in MODEL_IDS or model_version != MODEL_VERSION:
            raise ContainerError(
                f"{name}: coded with model '{model}' v{model_version}, which this spikesci cannot decode"
            )
        self.spec = ModelSpec(model)
        chunks = self.reader.num_chunks
        self.frames = self._streamed_frames(chunks) if streamed else frames
        expected = -(-self.frames // self.chunk_frames)
        if chunks != expected:
            raise ContainerError(f"{name}: has {chunks} chunks, header says {expected}")

    def _streamed_frames(self, chunks: int) -> int:
        """Frames of an archive packed from a stream: whole chunks, then the last chunk's own count."""
        if chunks == 0:
            return 0
        payload = self.reader.read_chunk(chunks - 1)
        last = struct.unpack_from("<I", payload)[0] if len(payload) >= 4 else 0
        if not 1 <= last <= self.chunk_frames:
            raise ContainerError(f"{self.path.name}: chunk {chunks - 1} of {chunks} is damaged (frame count)")
        return (chunks - 1) * self.chunk_frames + last

    def _job(self, i: int, stop: int | None = None) -> tuple:
        n = min(self.chunk_frames, self.frames - i * self.chunk_frames)
        where = f"{self.path.name}: chunk {i} of {self.reader.num_chunks}"
        return self.reader.read_chunk(i), self.height, self.width, self.spec.name, n, where, stop

    def _checked(self, i: int, result: tuple) -> tuple[np.ndarray, np.ndarray | None]:
        spikes, padding = result
        if padding is not None and np.any(padding & ~np.uint8(pad_mask(self.height, self.width))):
            where = f"{self.path.name}: chunk {i} of {self.reader.num_chunks}"
            raise ContainerError(f"{where} is damaged (padding)")
        return spikes, padding

    def chunk(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Frames of chunk i and their `.dat` padding bytes (None when all zero)."""
        return self._checked(i, _decode_job(self._job(i)))

    def iter_range(
        self, start: int, stop: int, progress: Callable | None = None, workers: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield (spikes, padding) pieces covering frames [start, stop), decoding only the chunks needed
        and in each only the frames up to `stop` (in up to `workers` processes). `progress(frames)` is
        called after each piece."""
        cf = self.chunk_frames
        chunks = range(start // cf, -(-stop // cf))
        nworkers = pick_workers(workers, (stop - start) * self.height * self.width)
        jobs = (self._job(i, min(stop - i * cf, cf)) for i in chunks)
        for i, result in zip(chunks, ordered_map(_decode_job, jobs, nworkers, len(chunks))):
            c0 = i * cf
            spikes, padding = self._checked(i, result)
            a, b = max(start, c0) - c0, min(stop, c0 + spikes.shape[0]) - c0
            yield spikes[a:b], (None if padding is None else padding[a:b])
            if progress is not None:
                progress(b - a)

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
