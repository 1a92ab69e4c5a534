"""Spike file I/O: PKU `.dat` (SpikeCV layout; a range is read through a memory map, `open_dat` slices
lazily), `.npz`, container framing."""

from spikesci.io.dat import DatClip, dat_frame_bytes, dat_num_frames, open_dat, read_dat, write_dat
from spikesci.io.npz import read_npz, write_npz
from spikesci.io.spikes import read_spikes, write_spikes

__all__ = [
    "DatClip",
    "open_dat",
    "dat_frame_bytes",
    "dat_num_frames",
    "read_dat",
    "write_dat",
    "read_npz",
    "write_npz",
    "read_spikes",
    "write_spikes",
]
