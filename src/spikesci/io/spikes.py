"""Read or write spikes by file extension, so every command takes `.dat` and `.npz` alike."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikesci.errors import SpikeFileError
from spikesci.io.dat import DEFAULT_HEIGHT, DEFAULT_WIDTH, read_dat, write_dat
from spikesci.io.npz import read_npz, write_npz


def read_spikes(
    path: str | os.PathLike, height: int = DEFAULT_HEIGHT, width: int = DEFAULT_WIDTH, frames=None
) -> np.ndarray:
    """(T, H, W) uint8 0/1 from a `.dat` (size given by height/width) or `.npz` (size stored)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return read_npz(path, frames=frames)
    if suffix == ".dat":
        return read_dat(path, height, width, frames=frames)
    raise SpikeFileError(f"{path}: unknown spike file type '{suffix}' (expected .dat or .npz)")


def write_spikes(path: str | os.PathLike, spikes: np.ndarray) -> None:
    """Write spikes as `.dat` or `.npz` by extension."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        write_npz(path, spikes)
    elif suffix == ".dat":
        write_dat(path, spikes)
    else:
        raise SpikeFileError(f"{path}: unknown spike file type '{suffix}' (expected .dat or .npz)")
