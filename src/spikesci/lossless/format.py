"""The `.spkz` header and reader: which chunks hold which frames, random access through the index.

Header (JSON, CRC-checked by the container): format, height, width, frames, chunk_frames, source
(".dat"/".npz"/"stream"), the `.dat` layout, model name and version, and the `.npz` label if any.
Time chunk i holds frames [i*chunk_frames, (i+1)*chunk_frames), split into `bands` horizontal bands
of rows, each its own container chunk (number i*bands + b) coded from a fresh model state. Bands let
the cores share even a short clip without cutting it in time (a cut in time costs each pixel its ISI
history, ~3 bits; a cut between bands costs nothing measurable). The container's index gives each
chunk's offset, so a frame range reads and decodes only its chunks, and in them only the frames up to
the range's end.

Version 2 (this spikesci writes it) adds to version 1: `bands` (version 1: one band), `frames` may be
null when the archive was packed from a stream of unknown length (the reader then takes the count from
the last chunk), and model version 2 (contexts for pixels without an ISI of their own yet). Version 1
archives read exactly as before (model version 1, same payloads).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path

from spikesci.errors import ContainerError
from spikesci.io.container import ContainerReader
from spikesci.lossless.parallel import ordered_map, pick_workers
from spikesci.lossless.spec import ModelSpec, in_threads, known

TYPE_CHECKING = False  # not typing's: importing typing costs the fast unpack path ~9 ms
if TYPE_CHECKING:  # numpy is imported where chunks are decoded, so the fast unpack path starts without it
    import numpy as np

MAGIC = b"SPKZ"
VERSION = 3  # 3: the same layout, model "mix" (model version 3) by default
READ_VERSIONS = (1, 2, 3)
DEFAULT_CHUNK_FRAMES = 100  # 5 ms at 20 kHz: see docs/lossless.md for the size / random-access trade-off
MAX_PIXELS = 1 << 26
MAX_CHUNK_PIXELS = 1 << 31  # a decoded chunk is held in memory: refuse headers asking for more
LAYOUT = {
    "bits": "8 pixels a byte, least-significant bit first",
    "rows": "stored bottom-up",
    "frame_bytes": "ceil(H*W/8), zero padding bits kept as found",
}


BAND_PIXELS = 1 << 16  # about this many pixels a band (250x400: 2 bands)
MAX_BANDS = 8


def default_bands(height: int, width: int) -> int:
    """Bands for a frame size: fixed by the size alone, so the bytes never depend on the machine."""
    return max(1, min(MAX_BANDS, height, -(-height * width // BAND_PIXELS)))


def band_rows(height: int, bands: int) -> list[tuple[int, int]]:
    """[start, stop) rows of each band, as even as whole rows allow."""
    edges = [height * b // bands for b in range(bands + 1)]
    return list(zip(edges[:-1], edges[1:]))


def pad_mask(height: int, width: int) -> int:
    """Bits of a frame's last `.dat` byte that are padding (not pixels)."""
    used = (height * width) % 8
    return 0 if used == 0 else (0xFF << used) & 0xFF


def make_header(
    height: int,
    width: int,
    frames: int | None,
    chunk_frames: int,
    source: str,
    model: ModelSpec,
    bands: int = 1,
    label=None,
) -> dict:
    header = {
        "format": "spkz",
        "height": height,
        "width": width,
        "frames": frames,
        "chunk_frames": chunk_frames,
        "bands": bands,
        "source": source,
        "layout": LAYOUT,
        "model": model.name,
        "model_version": model.version,
    }
    if label is not None:
        header["label"] = label
    return header


def _decode_job(job: tuple) -> tuple[np.ndarray, np.ndarray | None]:
    from spikesci.lossless.coder import decode_chunk

    payload, height, width, spec, n, where, stop = job
    return decode_chunk(payload, height, width, spec, n, where, stop=stop)


class Archive:
    """An open `.spkz` file: validated header, random access by frame range."""

    def __init__(self, path):
        self.path = Path(path)
        self.reader = ContainerReader(path, MAGIC, READ_VERSIONS, kind="spike archive (.spkz)")
        try:
            self._read_header()
        except BaseException:
            self.reader.close()  # a refused archive must not leak its handle
            raise

    def _read_header(self) -> None:
        h = self.reader.header
        name = self.path.name
        try:
            self.height, self.width = int(h["height"]), int(h["width"])
            frames = h["frames"]
            self.chunk_frames = int(h["chunk_frames"])
            model, model_version = str(h["model"]), int(h["model_version"])
            self.source = str(h.get("source", ".dat"))
            self.label = h.get("label")
            self.bands = int(h.get("bands", 1))
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
            and 1 <= self.bands <= min(MAX_BANDS, self.height)
        ):
            raise ContainerError(f"{name}: archive header has impossible sizes")
        if not known(model, model_version):
            raise ContainerError(
                f"{name}: coded with model '{model}' v{model_version}, which this spikesci cannot decode"
            )
        self.spec = ModelSpec(model, model_version)
        chunks = self.reader.num_chunks
        self.rows = band_rows(self.height, self.bands)
        self.frames = self._streamed_frames(chunks) if streamed else frames
        expected = -(-self.frames // self.chunk_frames) * self.bands
        if chunks != expected:
            raise ContainerError(f"{name}: has {chunks} chunks, header says {expected}")

    def _streamed_frames(self, chunks: int) -> int:
        """Frames of an archive packed from a stream: whole chunks, then the last chunk's own count."""
        if chunks == 0:
            return 0
        payload = self.reader.read_chunk(chunks - 1)
        last = struct.unpack_from("<I", payload)[0] if len(payload) >= 4 else 0
        if not 1 <= last <= self.chunk_frames or chunks % self.bands:
            raise ContainerError(f"{self.path.name}: chunk {chunks - 1} of {chunks} is damaged (frame count)")
        return (chunks // self.bands - 1) * self.chunk_frames + last

    def _job(self, i: int, band: int, stop: int | None = None) -> tuple:
        n = min(self.chunk_frames, self.frames - i * self.chunk_frames)
        k = i * self.bands + band
        where = f"{self.path.name}: chunk {k} of {self.reader.num_chunks}"
        r0, r1 = self.rows[band]
        return self.reader.read_chunk(k), r1 - r0, self.width, self.spec, n, where, stop

    def _checked(self, i: int, bands: list[tuple]) -> tuple[np.ndarray, np.ndarray | None]:
        """One time chunk from its decoded bands: frames stacked, padding from band 0."""
        import numpy as np

        spikes = bands[0][0] if len(bands) == 1 else np.concatenate([s for s, _ in bands], axis=1)
        padding = bands[0][1]
        if padding is not None and np.any(padding & ~np.uint8(pad_mask(self.height, self.width))):
            where = f"{self.path.name}: chunk {i * self.bands} of {self.reader.num_chunks}"
            raise ContainerError(f"{where} is damaged (padding)")
        return spikes, padding

    def chunk(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Frames of time chunk i and their `.dat` padding bytes (None when all zero)."""
        return self._checked(i, [_decode_job(self._job(i, b)) for b in range(self.bands)])

    def iter_range(
        self, start: int, stop: int, progress: Callable | None = None, workers: int | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """Yield (spikes, padding) pieces covering frames [start, stop), decoding only the chunks needed
        and in each only the frames up to `stop` (in up to `workers` processes). `progress(frames)` is
        called after each piece."""
        cf, nb = self.chunk_frames, self.bands
        chunks = range(start // cf, -(-stop // cf))
        threads = in_threads(self.spec)
        nworkers = pick_workers(workers, (stop - start) * self.height * self.width, threads)
        jobs = (self._job(i, b, min(stop - i * cf, cf)) for i in chunks for b in range(nb))
        results = ordered_map(_decode_job, jobs, nworkers, len(chunks) * nb, threads)
        for i in chunks:
            c0 = i * cf
            spikes, padding = self._checked(i, [next(results) for _ in range(nb)])
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
