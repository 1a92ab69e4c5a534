"""Automatic exposure: the white rate (spikes per frame at full white) read off the clip itself.

A fixed white rate of 0.6 suits spike-REDS and our simulator, but a real recording made in dim light (the
UHSR helicopter fires 0.03 spikes per pixel per frame) comes out almost black under it (issue 16). As a
camera's auto-exposure does, `auto_white_rate` maps a robust high percentile of the firing rate to white:

* rates are measured over blocks of frames: long enough to hold ~`SPIKES_PER_BLOCK` spikes per pixel at the
  clip's mean rate (a dark clip is not judged on a handful of spikes), at least `MIN_BLOCK` frames, at most
  `MAX_BLOCK` (a longer average smears moving bright objects and under-exposes);
* each block's rate map is smoothed over 5x5 pixels (the integrate-and-fire quantisation and sensor noise
  would otherwise push a high percentile up) and its `PERCENTILE`-th percentile taken;
* the median over up to `MAX_BLOCKS` blocks spread over the clip is the answer, so one odd block (a flash,
  a glitch) does not set the exposure.

Measured (tests/test_exposure.py and the tuning behind these constants): on simulated clips whose scene holds
true white, panning at 0.1 and 0.33 px/frame, the white rate is recovered within 3 % at 0.03, 0.1 and 0.6
spikes per frame on a clean camera; a noisy camera's dark current adds up to ~11 % at 0.03 (its white pixels
do fire that much more). Natural scenes whose brightest parts are not white come out brighter than under
the spike-REDS convention (`--white-rate 0.6` reproduces it): that is what auto-exposure is.
"""

from __future__ import annotations

import numpy as np

from spikesci.errors import SpikeSciError

PERCENTILE = 99.0
SPIKES_PER_BLOCK = 40.0
MIN_BLOCK = 41
MAX_BLOCK = 100
MAX_BLOCKS = 16
SMOOTH = 5  # pixels of the square the rate map is averaged over
LOWEST = 1e-4  # a clip with (almost) no spikes: this rate, so the picture stays defined (and black)


def _box(image: np.ndarray, k: int = SMOOTH) -> np.ndarray:
    """k x k mean with edge replication (numpy only: no scipy, which would pull in torch)."""
    p = np.pad(image, k // 2, mode="edge")
    h, w = image.shape
    return sum(p[dy:dy + h, dx:dx + w] for dy in range(k) for dx in range(k)) / float(k * k)


def block_length(mean_rate: float, frames: int) -> int:
    """Frames per measuring block: ~SPIKES_PER_BLOCK spikes per pixel at the mean rate, within the clip."""
    want = SPIKES_PER_BLOCK / max(mean_rate, 1e-6)
    return int(min(frames, MAX_BLOCK, max(MIN_BLOCK, np.ceil(want))))


def auto_white_rate(spikes, percentile: float = PERCENTILE) -> float:
    """The white rate (spikes per frame) that maps the clip's robust brightest pixels to luminance 1.

    `spikes` is (T, H, W) 0/1, a memmap or an array; it is read block by block (bounded memory)."""
    if not hasattr(spikes, "shape") or len(spikes.shape) != 3 or spikes.shape[0] < 1:
        raise SpikeSciError(f"auto exposure needs a (frames, height, width) clip, got "
                            f"{getattr(spikes, 'shape', None)}")
    t = spikes.shape[0]
    probe = np.asarray(spikes[: min(t, 4 * MIN_BLOCK)], dtype=np.float32)  # the mean rate, roughly
    block = block_length(float(probe.mean()), t)
    starts = np.unique(np.linspace(0, t - block, num=min(MAX_BLOCKS, max(1, t // block))).astype(int))
    levels = []
    for a in starts:
        rate = np.asarray(spikes[a:a + block]).mean(axis=0, dtype=np.float64)
        levels.append(float(np.percentile(_box(rate), percentile)))
    return float(min(1.0, max(LOWEST, np.median(levels))))


def auto_white_rate_from_image(image: np.ndarray, trained_white_rate: float,
                               percentile: float = PERCENTILE) -> float:
    """The white rate implied by a picture made at `trained_white_rate` (e.g. a decoded FAM output of an old
    stream that did not record its clip's exposure): its robust brightest level times that rate."""
    level = float(np.percentile(_box(np.asarray(image, dtype=np.float64)), percentile))
    return float(min(1.0, max(LOWEST, level * trained_white_rate)))


def apply_gain(images: np.ndarray, trained_white_rate: float, white_rate: float) -> np.ndarray:
    """Pictures made as if white fired `trained_white_rate`, re-exposed for `white_rate` (clipped to 1)."""
    if white_rate == trained_white_rate:
        return images
    return np.clip(images * np.float32(trained_white_rate / white_rate), 0.0, 1.0).astype(np.float32)
