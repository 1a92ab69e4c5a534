"""`.npz` spike files in the SpiReco / UHSR layout: key `spk` (T, H, W) 0/1, optional `label`."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from spikesci.errors import SpikeFileError
from spikesci.io.dat import check_spikes

SPIKE_KEYS = ("spk", "spikes", "spike")


def read_npz(path: str | os.PathLike, frames=None, with_label: bool = False):
    """Read spikes from `.npz` (key `spk`); with `with_label` also return the `label` (or None)."""
    path = Path(path)
    if not path.is_file():
        raise SpikeFileError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):  # random bytes, a .npy, a pickle: np.load would suggest unsafe loading
        raise SpikeFileError(f"{path}: not a readable .npz file (a .npz is a zip archive of arrays; "
                             "this is not one)")
    try:
        with np.load(path, allow_pickle=False) as data:
            key = next((k for k in SPIKE_KEYS if k in data.files), None)
            if key is None:
                raise SpikeFileError(f"{path}: no spike array (expected key 'spk'; found {data.files})")
            spikes = data[key]
            label = data["label"] if "label" in data.files else None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        why = "it holds Python objects, which spikesci never loads" if "pickle" in str(exc) else str(exc)
        raise SpikeFileError(f"{path}: not a readable .npz spike file ({why})") from None
    spikes = check_spikes(spikes, path)
    if frames is not None:
        from spikesci.io.dat import _frame_range

        start, stop = _frame_range(frames, spikes.shape[0])
        spikes = spikes[start:stop]
    if with_label:
        return spikes, (None if label is None else int(np.asarray(label).reshape(-1)[0]))
    return spikes


def write_npz(path: str | os.PathLike, spikes: np.ndarray, label: int | None = None) -> None:
    """Write spikes (and an optional label) as a compressed `.npz` with key `spk`."""
    spikes = check_spikes(spikes)
    path = Path(path)
    tmp = path.with_name(path.name + ".part.npz")
    extra = {} if label is None else {"label": np.int64(label)}
    np.savez_compressed(tmp, spk=spikes, **extra)
    os.replace(tmp, path)
