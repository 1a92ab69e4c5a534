"""Spike file I/O: PKU `.dat` (SpikeCV layout; a range is read through a memory map, `open_dat` slices
lazily), `.npz`, container framing.

Names load on first use, so `spikesci.io.container` and `spikesci.io.frames` (no numpy) stay light for
the archive's fast unpack path.
"""

from __future__ import annotations

from spikesci._lazy import lazy_getattr

_NAMES = {
    "DatClip": "dat",
    "open_dat": "dat",
    "dat_frame_bytes": "frames",
    "dat_num_frames": "dat",
    "read_dat": "dat",
    "write_dat": "dat",
    "read_npz": "npz",
    "write_npz": "npz",
    "read_spikes": "spikes",
    "write_spikes": "spikes",
}
__all__ = sorted(_NAMES)


__getattr__ = lazy_getattr("spikesci.io", _NAMES)
