"""Where a `.sci` stream's feature maps lie in time: the spike frames the encoder centres them on (stored
in the header as `map_frames`, so a decoder needs no rule to find them).
"""

from __future__ import annotations

import numpy as np

from spikesci.errors import SpikeSciError

COVERS = ("windows", "clip")


def map_frames(length: int, stride: int) -> np.ndarray:
    """Map times that cover a whole clip of `length` frames: one every `stride` frames from stride // 2, so
    each spike frame lies within stride / 2 of a map (the windows at the ends are mirrored in time)."""
    if length <= stride:
        return np.array([length // 2])
    return np.arange(stride // 2, length, stride)


def aligned_frames(length: int, stride: int, at: int, first: int, last: int) -> np.ndarray:
    """Map times every `stride` frames within first..last that pass through spike frame `at` (a frame the
    user wants a picture of exactly, e.g. a ground-truth frame: elsewhere the nearest map is up to
    stride / 2 frames away, which moving scenes pay for in PSNR)."""
    if first > last:
        raise SpikeSciError(f"--at {at}: this clip of {length} frames is shorter than one map's window "
                            f"(use --cover clip)")
    if not first <= at <= last:
        raise SpikeSciError(f"--at {at}: maps can lie on spike frames {first}..{last} of this clip "
                            f"(0..{length - 1}; --cover clip allows every frame)")
    return np.arange(first + (at - first) % stride, last + 1, stride)
