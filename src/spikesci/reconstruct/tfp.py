"""TFP, texture from playback: luminance from the spike count in a window (SpikeCV's TFP).

Each pixel's luminance is its mean spike count per frame over `window` frames around the centre, divided by
the white rate (simulate/camera.py). A long window averages out the quantisation of the integrate-and-fire
camera on static parts and blurs moving ones: the baseline every learned reconstruction must beat.
"""

from __future__ import annotations

import numpy as np

from spikesci.reconstruct._common import (
    CHUNK_FRAMES,
    check_center,
    check_spikes,
    check_white_rate,
    check_window,
    to_luminance,
    window_starts,
)
from spikesci.simulate.camera import DEFAULT_WHITE_RATE

DEFAULT_WINDOW = 41


def tfp(
    spikes: np.ndarray, center: int | None = None, window: int = DEFAULT_WINDOW,
    white_rate: float = DEFAULT_WHITE_RATE,
) -> np.ndarray:
    """Luminance (H, W) float32 in [0, 1] at frame `center` (default T // 2) from `window` frames of spikes.

    The window is shifted inside the clip near its edges (see `window_starts`); only its frames are read,
    so a memory-mapped file is not loaded whole.
    """
    spikes = check_spikes(spikes)
    frames = spikes.shape[0]
    center = check_center(center, frames)
    window = min(check_window(window), frames)
    white_rate = check_white_rate(white_rate)
    return tfp_frames(spikes, center, center + 1, window, white_rate)[0]


def tfp_sequence(
    spikes: np.ndarray, window: int = DEFAULT_WINDOW, white_rate: float = DEFAULT_WHITE_RATE
) -> np.ndarray:
    """TFP at every frame: (T, H, W) float32, equal to `tfp(spikes, t, window, white_rate)` for each t.

    Window sums come from a running (cumulative) count, in chunks of frames so the temporaries stay small.
    """
    spikes = check_spikes(spikes)
    frames = spikes.shape[0]
    window = min(check_window(window), frames)
    white_rate = check_white_rate(white_rate)
    out = np.empty(spikes.shape, dtype=np.float32)
    for a in range(0, frames, CHUNK_FRAMES):
        b = min(a + CHUNK_FRAMES, frames)
        out[a:b] = tfp_frames(spikes, a, b, window, white_rate)
    return out


def tfp_frames(spikes: np.ndarray, a: int, b: int, window: int, white_rate: float) -> np.ndarray:
    """TFP of frames [a, b) of the clip (windows placed as for the whole clip), from one running count."""
    frames = spikes.shape[0]
    window = min(window, frames)
    starts = window_starts(np.arange(a, b), window, frames)
    lo, hi = int(starts[0]), int(starts[-1]) + window  # the frames these windows cover
    block = np.asarray(spikes[lo:hi])
    csum = np.zeros((hi - lo + 1,) + block.shape[1:], dtype=np.int32)
    np.cumsum(block, axis=0, dtype=np.int32, out=csum[1:])
    s = starts - lo
    counts = csum[s + window] - csum[s]
    return to_luminance(counts * np.float32(1.0 / window), white_rate)
