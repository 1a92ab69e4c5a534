"""PKU spike-camera `.dat` files, laid out exactly as SpikeCV's `load_vidar_dat` reads them.

Layout of one frame (H x W binary pixels):
  * rows are stored upside down (the last image row first), each row left to right;
  * the H*W bits are packed 8 pixels a byte, least-significant bit first;
  * frames follow each other with nothing in between.

Frames whose H*W is not a multiple of 8 (e.g. 250x250) are padded with zero bits up to the next
whole byte, so every frame starts on a byte boundary and takes ceil(H*W/8) bytes. This is what the
upstream writers (SpikeCV `SpikeToRaw`, Spike-Zoo `save_vidar_dat`) try to do, and it keeps random
access to a frame a single seek. For byte-aligned sizes the layout is identical to SpikeCV's.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikesci.errors import SpikeFileError
from spikesci.io.frames import dat_frame_bytes
from spikesci.io.frames import frame_range as _frame_range

DEFAULT_HEIGHT = 250
DEFAULT_WIDTH = 400
# Resolutions of spike cameras and data sets in use, offered when a file does not fit the given size.
COMMON_SIZES = ((250, 400), (250, 250), (400, 250), (500, 800), (1000, 1000), (224, 224), (256, 256))


def _fit_hint(size: int, height: int, width: int) -> str:
    fb = dat_frame_bytes(height, width)
    lo, hi = size // fb, size // fb + 1
    hints = [f"{lo} frames = {lo * fb} bytes or {hi} frames = {hi * fb} bytes at {height}x{width}"]
    others = [
        f"{h}x{w} ({size // dat_frame_bytes(h, w)} frames)"
        for h, w in COMMON_SIZES
        if (h, w) != (height, width) and size > 0 and size % dat_frame_bytes(h, w) == 0
    ]
    if others:
        hints.append("sizes that divide this file: " + ", ".join(others) + " (use --height/--width)")
    return "; ".join(hints)


def dat_num_frames(path: str | os.PathLike, height: int = DEFAULT_HEIGHT, width: int = DEFAULT_WIDTH) -> int:
    """Number of frames in a `.dat` file; refuses a size that is not a whole number of frames."""
    path = Path(path)
    if not path.is_file():
        raise SpikeFileError(f"{path}: no such file")
    size = path.stat().st_size
    fb = dat_frame_bytes(height, width)
    if size % fb != 0:
        raise SpikeFileError(
            f"{path}: {size} bytes is not a whole number of {height}x{width} frames "
            f"({fb} bytes each); would fit: {_fit_hint(size, height, width)}"
        )
    return size // fb


def unpack_frames(packed: np.ndarray, height: int, width: int) -> np.ndarray:
    """(T, frame_bytes) uint8 in `.dat` order -> (T, H, W) uint8 0/1, upright."""
    bits = np.unpackbits(packed, axis=1, count=height * width, bitorder="little")
    return np.ascontiguousarray(bits.reshape(-1, height, width)[:, ::-1, :])


def pack_frames(spikes: np.ndarray) -> np.ndarray:
    """(T, H, W) 0/1 -> (T, frame_bytes) uint8 in `.dat` order (rows flipped, LSB first, zero padded)."""
    t, h, w = spikes.shape
    flipped = np.ascontiguousarray(spikes[:, ::-1, :]).reshape(t, h * w)
    return np.packbits(flipped.astype(bool), axis=1, bitorder="little")


def read_dat(
    path: str | os.PathLike,
    height: int = DEFAULT_HEIGHT,
    width: int = DEFAULT_WIDTH,
    frames=None,
) -> np.ndarray:
    """Read spike frames as a (T, H, W) uint8 array of 0/1, unpacked in memory (one byte per spike-pixel:
    8x the bytes on disk).

    `frames` selects a range: None for all, an int N >= 0 for the first N, or (start, stop) / slice / range
    (negative ends count from the end, as in Python). Only the bytes of that range are read from disk (the
    file is memory-mapped and the range unpacked), so a short range of a long file is cheap; the whole file
    is never loaded for it. For a lazily read clip, use `open_dat`.
    """
    total = dat_num_frames(path, height, width)
    start, stop = _frame_range(frames, total)
    fb = dat_frame_bytes(height, width)
    if stop == start:
        return np.zeros((0, height, width), dtype=np.uint8)
    mm = np.memmap(path, dtype=np.uint8, mode="r", offset=start * fb, shape=(stop - start, fb))
    try:
        return unpack_frames(np.asarray(mm), height, width)
    finally:
        del mm


def _found(spikes: np.ndarray) -> str:
    """What a bad spike array holds, in a few words (for the error message)."""
    if spikes.size == 0:
        return f"an empty {spikes.dtype} array"
    if np.issubdtype(spikes.dtype, np.number):
        bad = spikes[~np.isin(spikes, (0, 1))]
        return f"{spikes.dtype} values such as {bad.flat[0]!r} (from {spikes.min()!r} to {spikes.max()!r})"
    return f"an array of {spikes.dtype}"


def check_spikes(spikes: np.ndarray, source: str | os.PathLike | None = None) -> np.ndarray:
    """Validate a spike array: 3-D (T, H, W), values 0/1. Returns it as uint8. `source` (a file name) starts
    the error message, so the user knows which file holds what."""
    where = f"{source}: " if source is not None else ""
    spikes = np.asarray(spikes)
    if spikes.ndim != 3:
        raise SpikeFileError(f"{where}spikes must be a (T, H, W) array, found shape {spikes.shape}")
    if spikes.dtype != np.uint8 and spikes.dtype != bool:
        if not np.issubdtype(spikes.dtype, np.number) or not np.isin(spikes, (0, 1)).all():
            raise SpikeFileError(f"{where}spikes must hold only 0 and 1, found {_found(spikes)}")
        spikes = spikes.astype(np.uint8)
    elif spikes.dtype == np.uint8 and spikes.size and spikes.max() > 1:
        raise SpikeFileError(f"{where}spikes must hold only 0 and 1, found {_found(spikes)}")
    return spikes.astype(np.uint8, copy=False)


def write_dat(path: str | os.PathLike, spikes: np.ndarray) -> None:
    """Write (T, H, W) 0/1 spikes in the `.dat` layout (atomically: a temp file renamed into place)."""
    spikes = check_spikes(spikes)
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        step = max(1, (64 << 20) // max(1, spikes.shape[1] * spikes.shape[2]))  # ~64 MB of pixels a go
        for s in range(0, spikes.shape[0], step):
            fh.write(pack_frames(spikes[s : s + step]).tobytes())
    os.replace(tmp, path)


class DatClip:
    """A `.dat` file as a lazy (T, H, W) array: `clip[a:b]` (or `clip[t]`) reads and unpacks only those
    frames from the memory-mapped file, so a clip larger than memory can be walked through in pieces."""

    def __init__(self, path: str | os.PathLike, height: int = DEFAULT_HEIGHT, width: int = DEFAULT_WIDTH):
        self.path, self.height, self.width = Path(path), height, width
        self.frames = dat_num_frames(path, height, width)
        self.shape = (self.frames, height, width)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 3

    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            t = int(key) + (self.frames if key < 0 else 0)
            if not 0 <= t < self.frames:
                raise IndexError(f"frame {key} is outside the file's {self.frames} frames")
            return read_dat(self.path, self.height, self.width, frames=(t, t + 1))[0]
        if isinstance(key, slice) and key.step in (None, 1):
            start, stop, _ = key.indices(self.frames)
            return read_dat(self.path, self.height, self.width, frames=(start, max(start, stop)))
        raise TypeError("a DatClip takes a frame index or a contiguous slice of frames")

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = read_dat(self.path, self.height, self.width)
        return out if dtype is None else out.astype(dtype)


def open_dat(path: str | os.PathLike, height: int = DEFAULT_HEIGHT, width: int = DEFAULT_WIDTH) -> DatClip:
    """A `.dat` file opened lazily (memory-mapped; frames unpacked only when sliced)."""
    return DatClip(path, height, width)
