"""Global-translation motion mode: one quarter-pixel vector for a whole predicted map, sent as 19 bits.

The learned motion-vector codec (inter.py) spends its bits per latent. On spike-REDS a camera pan coded
through it still cost 10-13 k bits per map at quality 1: its hyperprior was trained on the scattered fields
block matching finds in noisy features, and gives a constant field about a bit per latent. A pan, or no
motion at all, is the common case in real clips, so streams of format 2 (GOP tag `GOP2`) carry one mode
symbol per predicted map: 0 = the learned vectors follow as before, 1 = a translation (dx, dy) follows as
two integers in quarter pixels, 2 = a translation and nothing else: the map is the motion-compensated
reference ("skip", for still or slowly panning scenes at low rates, where the contextual latents would
mostly code the features' own temporal noise). The decoder builds the constant field from integers (exact
on any machine) and continues exactly as for decoded vectors; the encoder decides per map by rate and
distortion.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from spikesci.models.codec.entropy import uniform_model
from spikesci.models.codec.exact import FLOW_BITS, FLOW_MAX

MODES = 3  # 0: learned motion-vector latents, 1: global translation, 2: global translation + skip
_UNITS = 1 << FLOW_BITS  # quarter pixels
_RANGE = int(FLOW_MAX) * _UNITS  # |component| <= FLOW_MAX px
MODE_BITS = math.log2(MODES)
VECTOR_BITS = 2 * math.log2(2 * _RANGE + 1)


def quantize_vector(flow: torch.Tensor) -> tuple[int, int]:
    """(dx, dy) in quarter pixels of a constant field (B=1, 2, h, w), clamped to the coded range."""
    v = flow[0, :, 0, 0].double()
    q = torch.clamp(torch.round(v * _UNITS), -_RANGE, _RANGE).long()
    return int(q[0]), int(q[1])


def constant_field(vector: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """The exact float64 field (1, 2, h, w) of a quarter-pixel vector, shaped like `like` (1, C, h, w)."""
    v = torch.tensor(vector, dtype=torch.float64) / _UNITS
    return v.view(1, 2, 1, 1).expand(1, 2, *like.shape[-2:]).contiguous()


def encode_mode(encoder, vector: tuple[int, int] | None, skip: bool = False) -> float:
    """Append the mode symbol (and the vector for modes 1 and 2); returns the bits spent."""
    if vector is None:
        if skip:
            raise ValueError("skip needs a global vector")
        encoder.encode(np.zeros(1, np.int32), uniform_model(MODES))
        return MODE_BITS
    encoder.encode(np.full(1, 2 if skip else 1, np.int32), uniform_model(MODES))
    encoder.encode(np.asarray(vector, np.int32) + _RANGE, uniform_model(2 * _RANGE + 1))
    return MODE_BITS + VECTOR_BITS


def decode_mode(decoder) -> tuple[tuple[int, int] | None, bool]:
    """Inverse of `encode_mode`: (None or the quarter-pixel vector, skip)."""
    mode = int(np.asarray(decoder.decode(uniform_model(MODES), 1))[0])
    if mode == 0:
        return None, False
    v = np.asarray(decoder.decode(uniform_model(2 * _RANGE + 1), 2), dtype=np.int64) - _RANGE
    return (int(v[0]), int(v[1])), mode == 2
