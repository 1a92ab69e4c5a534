"""TFI, texture from inter-spike interval: luminance from the interval around a frame (SpikeCV's TFI).

An integrate-and-fire pixel under luminance L fires every 1 / (L * white_rate) frames, so the interval
between the last spike at or before frame t and the first spike after t gives L = 1 / (interval * white_rate)
(clipped to [0, 1]). It reacts to motion within a few frames, unlike TFP, but is quantised to 1/n and noisy.

Where no such interval exists inside the clip (no spike at or before t, or none after t) SpikeCV falls back
to a fixed 1/40; we fall back to the pixel's TFP estimate over the default 41-frame window instead, which is
0 for a pixel that never fires nearby and keeps dark pixels at the clip edges dark.
"""

from __future__ import annotations

import numpy as np

from spikesci.reconstruct._common import (
    CHUNK_FRAMES,
    check_center,
    check_spikes,
    check_white_rate,
    to_luminance,
)
from spikesci.reconstruct.tfp import DEFAULT_WINDOW, tfp_frames
from spikesci.simulate.camera import DEFAULT_WHITE_RATE

_FIRST_SEARCH = 64  # frames searched each way before the search doubles (single-frame TFI)


def _interval_luminance(prev, nxt, frames: int, white_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Luminance from spike indices around t (prev = -1 / nxt = frames when missing) and the missing mask."""
    missing = (prev < 0) | (nxt >= frames)
    interval = np.where(missing, 1, nxt - prev).astype(np.float32)
    return to_luminance(1.0 / (interval * np.float32(white_rate)), white_rate=1.0), missing


def _last_spike(spikes: np.ndarray, center: int) -> np.ndarray:
    """Index of the last spike at or before `center` per pixel (-1 if none), searching backwards in doubling
    blocks so a long memory-mapped clip is only read as far back as the dimmest pixel needs."""
    span = _FIRST_SEARCH
    while True:
        lo = max(0, center + 1 - span)
        block = np.asarray(spikes[lo : center + 1])[::-1]
        found = block.any(axis=0)
        if found.all() or lo == 0:
            return np.where(found, center - block.argmax(axis=0), -1)
        span *= 2


def _next_spike(spikes: np.ndarray, center: int) -> np.ndarray:
    """Index of the first spike after `center` per pixel (T if none), searching forwards likewise."""
    frames = spikes.shape[0]
    span = _FIRST_SEARCH
    while True:
        hi = min(frames, center + 1 + span)
        block = np.asarray(spikes[center + 1 : hi])
        if block.shape[0] == 0:
            return np.full(spikes.shape[1:], frames)
        found = block.any(axis=0)
        if found.all() or hi == frames:
            return np.where(found, center + 1 + block.argmax(axis=0), frames)
        span *= 2


def tfi(spikes: np.ndarray, center: int | None = None, white_rate: float = DEFAULT_WHITE_RATE) -> np.ndarray:
    """Luminance (H, W) float32 in [0, 1] at frame `center` (default T // 2) from the inter-spike interval."""
    spikes = check_spikes(spikes)
    frames = spikes.shape[0]
    center = check_center(center, frames)
    white_rate = check_white_rate(white_rate)
    lum, missing = _interval_luminance(
        _last_spike(spikes, center), _next_spike(spikes, center), frames, white_rate
    )
    if missing.any():
        fallback = tfp_frames(spikes, center, center + 1, DEFAULT_WINDOW, white_rate)[0]
        lum[missing] = fallback[missing]
    return lum


def tfi_sequence(spikes: np.ndarray, white_rate: float = DEFAULT_WHITE_RATE) -> np.ndarray:
    """TFI at every frame: (T, H, W) float32, equal to `tfi(spikes, t, white_rate)` for each t.

    Two passes over chunks of frames: forwards, a running maximum of spike indices gives the last spike at or
    before each frame; backwards, a running minimum gives the first spike after it.
    """
    spikes = check_spikes(spikes)
    frames = spikes.shape[0]
    white_rate = check_white_rate(white_rate)
    prev = np.empty(spikes.shape, dtype=np.int32)
    carry = np.full(spikes.shape[1:], -1, dtype=np.int32)
    for a in range(0, frames, CHUNK_FRAMES):
        b = min(a + CHUNK_FRAMES, frames)
        t = np.arange(a, b, dtype=np.int32)[:, None, None]
        idx = np.where(np.asarray(spikes[a:b]) != 0, t, carry)
        np.maximum.accumulate(idx, axis=0, out=prev[a:b])
        carry = prev[b - 1]
    out = np.empty(spikes.shape, dtype=np.float32)
    carry = np.full(spikes.shape[1:], frames, dtype=np.int32)  # first spike after the chunk
    for b in range(frames, 0, -CHUNK_FRAMES):
        a = max(0, b - CHUNK_FRAMES)
        t = np.arange(a, b, dtype=np.int32)[:, None, None]
        idx = np.where(np.asarray(spikes[a:b]) != 0, t, carry)
        first_at_or_after = np.minimum.accumulate(idx[::-1], axis=0)[::-1]
        nxt = np.concatenate([first_at_or_after[1:], carry[None]], axis=0)
        carry = first_at_or_after[0]
        lum, missing = _interval_luminance(prev[a:b], nxt, frames, white_rate)
        if missing.any():
            fallback = tfp_frames(spikes, a, b, DEFAULT_WINDOW, white_rate)
            lum[missing] = fallback[missing]
        out[a:b] = lum
    return out
