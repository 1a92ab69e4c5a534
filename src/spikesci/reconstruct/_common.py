"""Input checks and the rate -> luminance step shared by the classic reconstructions."""

from __future__ import annotations

import numpy as np

from spikesci.errors import SpikeSciError

# Frames handled at once by the sequence reconstructions: bounds the temporaries on long memory-mapped clips.
CHUNK_FRAMES = 128


def check_spikes(spikes) -> np.ndarray:
    """A (T, H, W) array of 0/1 spikes (a memmap stays a memmap: nothing is loaded here)."""
    if not isinstance(spikes, np.ndarray):
        spikes = np.asarray(spikes)
    if spikes.ndim != 3:
        raise SpikeSciError(f"spikes must be a (frames, height, width) array, got shape {spikes.shape}")
    if spikes.shape[0] < 1:
        raise SpikeSciError("spikes has no frames")
    return spikes


def check_center(center: int | None, frames: int) -> int:
    """Default centre is the middle frame T // 2 (frame 150 of a 301-frame spike-REDS clip)."""
    if center is None:
        return frames // 2
    center = int(center)
    if not 0 <= center < frames:
        raise SpikeSciError(f"frame {center} is outside the clip (0..{frames - 1})")
    return center


def check_white_rate(white_rate: float) -> float:
    white_rate = float(white_rate)
    if not 0 < white_rate <= 1:
        raise SpikeSciError(f"white rate must be in (0, 1] spikes per frame, got {white_rate}")
    return white_rate


def check_window(window: int) -> int:
    window = int(window)
    if window < 1:
        raise SpikeSciError(f"window must be at least 1 frame, got {window}")
    return window


def window_starts(centers: np.ndarray, window: int, frames: int) -> np.ndarray:
    """First frame of the window for each centre, shifted (not shortened) to stay inside the clip.

    The window covers [c - window // 2, c - window // 2 + window), so an odd window is centred exactly
    and an even one has one more frame before the centre than after. Near an edge the whole window moves
    inward so every estimate averages the same number of frames (a clip shorter than the window uses it
    all).
    """
    window = min(window, frames)
    return np.clip(centers - window // 2, 0, frames - window)


def to_luminance(rate: np.ndarray, white_rate: float) -> np.ndarray:
    """Firing rate (spikes/frame) -> luminance in [0, 1], float32 (the convention of simulate/camera.py)."""
    out = np.asarray(rate, dtype=np.float32) / np.float32(white_rate)
    return np.clip(out, 0.0, 1.0, out=out)
