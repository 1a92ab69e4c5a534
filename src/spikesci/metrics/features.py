"""Smoothness of a feature map: L1/L2 norms of its discrete Laplacian (paper Sec. IV, Table II).

A smoother feature (less high-frequency noise) is cheaper to code; the paper reports both norms to show
its Laplacian constraint works. We use the 4-neighbour Laplacian
    lap(x)[i, j] = x[i-1, j] + x[i+1, j] + x[i, j-1] + x[i, j+1] - 4 x[i, j]
on interior pixels only (no padding, so borders add no artificial edges), per channel, and report
    L1 = mean |lap|,   L2 = mean lap^2
over all batch items, channels and interior pixels (means, so maps of any size compare).
"""

from __future__ import annotations

import numpy as np

from spikesci.errors import SpikeSciError
from spikesci.metrics._arrays import as_numpy


def laplacian(feature) -> np.ndarray:
    """Interior 4-neighbour Laplacian of (..., H, W) maps: shape (..., H-2, W-2)."""
    x = as_numpy(feature)
    if x.ndim < 2 or x.shape[-2] < 3 or x.shape[-1] < 3:
        raise SpikeSciError(f"Laplacian needs maps of shape (..., H, W) with H, W >= 3, got {x.shape}")
    c = x[..., 1:-1, 1:-1]
    return x[..., :-2, 1:-1] + x[..., 2:, 1:-1] + x[..., 1:-1, :-2] + x[..., 1:-1, 2:] - 4.0 * c


def laplacian_norms(feature) -> tuple[float, float]:
    """(L1, L2) = (mean |Laplacian|, mean Laplacian^2) of a (H, W), (C, H, W) or (B, C, H, W) map,
    numpy array or torch tensor."""
    lap = laplacian(feature)
    return float(np.mean(np.abs(lap))), float(np.mean(lap**2))
