"""Where `pack` reads frames from: a memory-mapped `.dat`, a `.npz` / array, or a pipe of `.dat` bytes.

Each gives chunks of (t, H, W) 0/1 frames plus, for `.dat` bytes, each frame's last byte when its
padding bits are set (so unpack gives the file back byte for byte). A pipe is read one chunk at a time:
memory stays bounded however long the recording is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from spikesci.errors import SpikeFileError
from spikesci.io.dat import check_spikes, dat_frame_bytes, dat_num_frames, unpack_frames
from spikesci.lossless.format import pad_mask

Chunk = tuple[np.ndarray, "np.ndarray | None"]


def _from_bytes(raw: np.ndarray, height: int, width: int) -> Chunk:
    """(t, frame_bytes) `.dat` bytes -> frames and, when any padding bit is set, the last bytes."""
    mask = pad_mask(height, width)
    padding = (raw[:, -1] & mask) if mask else None
    if padding is not None and not padding.any():
        padding = None
    return unpack_frames(raw, height, width), padding


class Source:
    """Frames to pack: `kind` (".dat", ".npz", "array", "stream"), size, `frames` (None: unknown until
    a pipe ends), `label` (of a `.npz`)."""

    kind = "array"
    label = None
    frames: int | None = 0
    height = width = 0

    def chunks(self, chunk_frames: int) -> Iterator[Chunk]:
        raise NotImplementedError


class ArraySource(Source):
    def __init__(self, spikes: np.ndarray, kind: str = "array", label=None):
        self.spikes = check_spikes(spikes)
        self.kind, self.label = kind, label
        self.frames, self.height, self.width = self.spikes.shape

    def chunks(self, chunk_frames: int) -> Iterator[Chunk]:
        for start in range(0, self.frames, chunk_frames):
            yield self.spikes[start : start + chunk_frames], None


class DatSource(Source):
    kind = ".dat"

    def __init__(self, path: Path, height: int, width: int):
        self.path, self.height, self.width = path, height, width
        self.frames = dat_num_frames(path, height, width)
        self.fb = dat_frame_bytes(height, width)

    def chunks(self, chunk_frames: int) -> Iterator[Chunk]:
        if not self.frames:
            return
        mm = np.memmap(self.path, dtype=np.uint8, mode="r", shape=(self.frames, self.fb))
        for start in range(0, self.frames, chunk_frames):
            yield _from_bytes(np.asarray(mm[start : start + chunk_frames]), self.height, self.width)


class StreamSource(Source):
    """Raw `.dat` frames from a pipe (standard input), length unknown until it ends."""

    kind = "stream"

    def __init__(self, fh: BinaryIO, height: int, width: int, name: str = "standard input"):
        self.fh, self.height, self.width, self.name = fh, height, width, name
        self.fb = dat_frame_bytes(height, width)
        self.frames = None

    def _read(self, n: int) -> bytes:
        parts, got = [], 0
        while got < n:
            block = self.fh.read(n - got)
            if not block:
                break
            parts.append(block)
            got += len(block)
        return b"".join(parts)

    def chunks(self, chunk_frames: int) -> Iterator[Chunk]:
        total = 0
        while True:
            blob = self._read(chunk_frames * self.fb)
            whole = len(blob) // self.fb
            if whole:
                raw = np.frombuffer(blob, dtype=np.uint8, count=whole * self.fb).reshape(whole, self.fb)
                total += whole
                yield _from_bytes(raw, self.height, self.width)
            if len(blob) % self.fb:
                raise SpikeFileError(
                    f"{self.name}: ended {len(blob) % self.fb} bytes into a frame (after {total} whole "
                    f"{self.height}x{self.width} frames of {self.fb} bytes): wrong --height/--width?"
                )
            if whole < chunk_frames:
                self.frames = total
                return


def open_source(path, height: int, width: int) -> Source:
    """A `.dat` or `.npz` file as a Source."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".dat":
        return DatSource(path, height, width)
    if suffix == ".npz":
        from spikesci.io.npz import read_npz

        spikes, label = read_npz(path, with_label=True)
        return ArraySource(spikes, ".npz", label)
    if not path.exists():
        raise SpikeFileError(f"{path}: no such file")
    raise SpikeFileError(f"{path}: unknown spike file type '{suffix}' (expected .dat or .npz)")
