"""Bit rate in bits per spike-pixel: raw binary spikes cost exactly 1 bpp, so bpp < 1 means compression."""

from __future__ import annotations

from spikesci.errors import SpikeSciError


def bpp(num_bytes: int, height: int, width: int, frames: int) -> float:
    """Bits per pixel per spike frame: 8 * num_bytes / (height * width * frames)."""
    pixels = int(height) * int(width) * int(frames)
    if pixels <= 0:
        raise SpikeSciError(f"bpp needs a positive size, got {height}x{width}x{frames} frames")
    if num_bytes < 0:
        raise SpikeSciError(f"byte count must not be negative, got {num_bytes}")
    return 8.0 * num_bytes / pixels
