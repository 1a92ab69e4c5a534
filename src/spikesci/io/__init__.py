"""Spike file I/O: PKU `.dat` (SpikeCV layout, memory-mapped), `.npz`, images, container framing."""

from spikesci.io.dat import dat_frame_bytes, dat_num_frames, read_dat, write_dat
from spikesci.io.npz import read_npz, write_npz
from spikesci.io.spikes import read_spikes, write_spikes

__all__ = [
    "dat_frame_bytes",
    "dat_num_frames",
    "read_dat",
    "write_dat",
    "read_npz",
    "write_npz",
    "read_spikes",
    "write_spikes",
]
